package fsys_test

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// startContainer creates a container called name and starts line in it.
func startContainer(t *testing.T, dir, name, line string) string {
	t.Helper()
	path := dir + "/" + name
	if err := os.Mkdir(path, 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, path+"/cmd", line+"\n")
	return path
}

func TestContainerRun(t *testing.T) {
	requireRoot(t)
	dir, _ := mountTree(t, testRootfs(t))
	web := startContainer(t, dir, "web", `/bin/sh -c "echo out; echo err >&2; exit 3"`)
	if got := readFile(t, web+"/wait"); got != "exited 3\n" {
		t.Errorf("wait = %q, want exited 3", got)
	}
	if got := readFile(t, web+"/log"); got != "out\nerr\n" {
		t.Errorf("log = %q", got)
	}
	events := readFile(t, web+"/events")
	for _, event := range []string{" web created\n", " web started pid=", " web exited code=3\n"} {
		if !strings.Contains(events, event) {
			t.Errorf("events %q lack %q", events, event)
		}
	}
	if got := readFile(t, dir+"/events"); got != events {
		t.Errorf("root events %q differ from web's %q", got, events)
	}
	if got := readFile(t, web+"/pid"); got != "" {
		t.Errorf("pid = %q after exit, want empty", got)
	}
	status := readFile(t, web+"/status")
	for _, line := range []string{"state exited 3\n", "pid -\n", `cmd /bin/sh -c "echo out; echo err >&2; exit 3"` + "\n"} {
		if !strings.Contains(status, line) {
			t.Errorf("status %q lacks %q", status, line)
		}
	}
}

func TestContainerRunning(t *testing.T) {
	requireRoot(t)
	dir, _ := mountTree(t, testRootfs(t))
	web := startContainer(t, dir, "web", "sleep 100")
	if got := readFile(t, web+"/state"); got != "running\n" {
		t.Fatalf("state = %q, want running", got)
	}
	pid := strings.TrimSpace(readFile(t, web+"/pid"))
	if pid == "" {
		t.Error("pid is empty while running")
	}
	table := readFile(t, dir+"/status")
	if !strings.Contains(table, "web\trunning\t"+pid+"\t") {
		t.Errorf("status table %q lacks web's running line with pid %s", table, pid)
	}
	if err := os.WriteFile(web+"/cmd", []byte("true"), 0); !errors.Is(err, syscall.EBUSY) {
		t.Errorf("write cmd while running: %v, want EBUSY", err)
	}
	if err := os.Remove(web); !errors.Is(err, syscall.EBUSY) {
		t.Errorf("rmdir while running: %v, want EBUSY", err)
	}
	writeFile(t, web+"/ctl", "stop 0.5\n")
	if got := readFile(t, web+"/wait"); !strings.HasPrefix(got, "exited 143 signal=TERM reason=stop") {
		t.Errorf("wait = %q after stop, want exited 143", got)
	}
}

func TestWaitInterrupted(t *testing.T) {
	requireRoot(t)
	dir, _ := mountTree(t, testRootfs(t))
	web := startContainer(t, dir, "web", "sleep 100")
	cat := exec.Command("cat", web+"/wait")
	if err := cat.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	if err := cat.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cat.Wait() }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		cat.Process.Kill()
		t.Fatal("cat wait still blocked 5 s after SIGINT")
	}
	if got := readFile(t, web+"/state"); got != "running\n" {
		t.Errorf("state = %q after the interrupted wait, want running", got)
	}
	writeFile(t, web+"/ctl", "kill")
}

func TestLargeLogLine(t *testing.T) {
	requireRoot(t)
	dir, _ := mountTree(t, testRootfs(t))
	const size = 1 << 20
	web := startContainer(t, dir, "web", `/bin/sh -c "head -c 1048576 /dev/zero; echo"`)
	readFile(t, web+"/wait")
	want := append(make([]byte, size), '\n')
	got, err := os.ReadFile(web + "/log")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("log has %d bytes, want %d zero bytes and a newline", len(got), size)
	}
}

// TestLogGrows follows the log as tail -f does: fstat the open file
// until its size grows, then read at the old end.
func TestLogGrows(t *testing.T) {
	requireRoot(t)
	dir, _ := mountTree(t, testRootfs(t))
	web := startContainer(t, dir, "web", `/bin/sh -c "echo one; sleep 1; echo two; sleep 100"`)
	f, err := os.Open(web + "/log")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	waitForSize(t, f, 4)
	waitForSize(t, f, 8)
	buf := make([]byte, 16)
	n, err := f.ReadAt(buf, 4)
	if got := string(buf[:n]); got != "two\n" {
		t.Errorf("read at 4 = %q (%v), want two", got, err)
	}
	writeFile(t, web+"/ctl", "kill")
}

func waitForSize(t *testing.T, f *os.File, size int64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		fi, err := f.Stat()
		if err != nil {
			t.Fatal(err)
		}
		if fi.Size() >= size {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("log size %d after 10 s, want %d", fi.Size(), size)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
