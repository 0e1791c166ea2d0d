package main

import (
	"fmt"
	"math"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// ownNamespaces returns inspection lines for the test's own namespaces.
func ownNamespaces(t *testing.T) map[string]string {
	t.Helper()
	links := map[string]string{}
	for _, n := range namespaceTypes {
		link, err := os.Readlink("/proc/self/ns/" + n)
		if err != nil {
			t.Skipf("cannot read /proc/self/ns/%s: %v", n, err)
		}
		links[n] = link
	}
	return links
}

func TestParseInspection(t *testing.T) {
	own := ownNamespaces(t)
	var b strings.Builder
	for _, n := range namespaceTypes {
		switch n {
		case "pid", "net":
			fmt.Fprintf(&b, "%s %s:[1]\n", n, n)
		case "user":
			fmt.Fprintf(&b, "%s \n", n)
		default:
			fmt.Fprintf(&b, "%s %s\n", n, own[n])
		}
	}
	b.WriteString("root busybox-static\n")

	iso, err := parseInspection(b.String(), "busybox-static")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(iso.namespaces, []string{"pid", "net"}) {
		t.Errorf("namespaces %q, expected pid and net", iso.namespaces)
	}
	if !slices.Equal(iso.unknown, []string{"user"}) {
		t.Errorf("unknown %q, expected user", iso.unknown)
	}
	if !iso.rootfs {
		t.Error("rootfs is false for the expected stamp")
	}
	if got := iso.namespacesCell(); got != "pid net (user unreadable)" {
		t.Errorf("namespacesCell = %q", got)
	}

	other, err := parseInspection(strings.Replace(b.String(), "root busybox-static", "root ", 1), "busybox-static")
	if err != nil {
		t.Fatal(err)
	}
	if other.rootfs {
		t.Error("rootfs is true without a stamp")
	}
	if _, err := parseInspection("pid pid:[1]\n", "busybox-static"); err == nil {
		t.Error("no error for output without most lines")
	}
}

func TestInspectScriptOnHost(t *testing.T) {
	if _, err := exec.LookPath("readlink"); err != nil {
		t.Skip("readlink not installed")
	}
	own := ownNamespaces(t)
	out, err := exec.Command("sh", "-c", inspectScript).Output()
	if err != nil {
		t.Fatal(err)
	}
	iso, err := parseInspection(string(out), "busybox-static")
	if err != nil {
		t.Fatal(err)
	}
	if len(iso.namespaces) != 0 || len(iso.unknown) != 0 {
		t.Errorf("a shell of the test is in new namespaces %q, unknown %q (own %v)", iso.namespaces, iso.unknown, own)
	}
}

func TestCheckGoal(t *testing.T) {
	tests := []struct {
		name   string
		value  float64
		ok     func(float64) bool
		result string
	}{
		{"met", 0.4, atMost(0.5), "pass"},
		{"at the limit", 0.5, atMost(0.5), "pass"},
		{"missed", 0.6, atMost(0.5), "FAIL"},
		{"strictly below", 40, below(40), "FAIL"},
		{"at least", 300, atLeast(300), "pass"},
		{"not measured", math.NaN(), atLeast(300), "not measured"},
		{"no goal", 1.1, nil, "no goal"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := checkGoal("figure", tt.value, ratioUnit, "target", tt.ok)
			if g.result != tt.result {
				t.Errorf("result %q, expected %q", g.result, tt.result)
			}
		})
	}
	if got := ratioOf(1, 0); !math.IsNaN(got) {
		t.Errorf("ratioOf(1, 0) = %v, expected NaN", got)
	}
}

func TestReadStat(t *testing.T) {
	name, ppid, ok := readStat(os.Getpid())
	if !ok {
		t.Fatal("readStat of the test process failed")
	}
	if ppid != os.Getppid() {
		t.Errorf("ppid %d, expected %d", ppid, os.Getppid())
	}
	if exe, _ := os.Executable(); !strings.HasPrefix(exe[strings.LastIndex(exe, "/")+1:], name) {
		t.Errorf("name %q is not the start of the executable's name %q", name, exe)
	}
	if _, _, ok := readStat(-1); ok {
		t.Error("readStat of PID -1 succeeded")
	}
}

func TestCountGrandchildren(t *testing.T) {
	// sh runs sleep as its child, not by exec, because a command follows.
	startShell(t, "sleep 10; :")
	deadline := time.Now().Add(5 * time.Second)
	for {
		n, err := countGrandchildren(os.Getpid(), "sleep")
		if err != nil {
			t.Fatal(err)
		}
		if n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d grandchildren called sleep after 5 s, expected 1", n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	n, err := countGrandchildren(os.Getpid(), "true")
	if err != nil || n != 0 {
		t.Errorf("countGrandchildren for true = %d, %v; expected 0", n, err)
	}
}

// startShell starts sh -c script as a child of the test in a process
// group of its own, which the cleanup kills with all of sh's children,
// and returns the PID of sh.
func startShell(t *testing.T, script string) int {
	t.Helper()
	cmd := exec.Command("sh", "-c", script)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		cmd.Wait()
	})
	return cmd.Process.Pid
}

// TestGrandchildCounterSeesExec checks that a counter that first read a
// grandchild under another name counts it once it has exec'd comm.
func TestGrandchildCounterSeesExec(t *testing.T) {
	// The subshell is a grandchild called sh until it execs sleep.
	shell := startShell(t, "(sleep 0.3; exec sleep 10); :")
	counter := newGrandchildCounter(os.Getpid(), "sleep")
	deadline := time.Now().Add(5 * time.Second)
	scans := 0
	for {
		n, err := counter.count()
		if err != nil {
			t.Fatal(err)
		}
		scans++
		if n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d grandchildren called sleep after 5 s and %d scans, expected 1", n, scans)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if scans < 2 {
		t.Errorf("counted at the first scan, before the exec; the test proves nothing")
	}
	if kids := counter.children(); len(kids) != 1 || kids[0] != shell {
		t.Errorf("children = %v, expected [%d]", kids, shell)
	}
}

func TestV1OnlyThread(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to unshare a mount namespace and unmount in it")
	}
	if len(hybridV2Controllers()) == 0 {
		t.Skip("not a hybrid cgroup host with controllers in cgroup v2")
	}
	thread, err := newV1OnlyThread()
	if err != nil {
		t.Fatal(err)
	}
	fsType := func() string {
		out, err := exec.Command("stat", "-f", "-c", "%T", unifiedMount).Output()
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(string(out))
	}
	var inside string
	thread.do(func() { inside = fsType() })
	if inside == "cgroup2fs" {
		t.Error("a child of the thread still sees cgroup v2 mounted")
	}
	if outside := fsType(); outside != "cgroup2fs" {
		t.Errorf("%s is %s outside the thread, expected cgroup2fs", unifiedMount, outside)
	}
	thread.close()
	if !cgroup2Mounted(unifiedMount) {
		t.Errorf("%s not mounted on the host after close", unifiedMount)
	}
}

func TestReadCPUTimes(t *testing.T) {
	before, err := readCPUTimes(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	// Spin for 200 ms of wall time: 20 ms of CPU time or more unless the
	// thread got under a tenth of a CPU meanwhile.
	for start := time.Now(); time.Since(start) < 200*time.Millisecond; {
	}
	after, err := readCPUTimes(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if got := after.self - before.self; got < 20*time.Millisecond {
		t.Errorf("CPU time grew by %v over 200 ms of spinning, expected 20 ms or more", got)
	}
	if _, err := readCPUTimes(-1); err == nil {
		t.Error("no error for PID -1")
	}
}
