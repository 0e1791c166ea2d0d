package initproc

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"ctlfs/internal/testinit"
)

// TestInitRejectsConfig runs the built ctlfs-init with configurations
// that it must refuse before it touches anything: it reports ready, then
// a failure that names the problem, and exits 127.
func TestInitRejectsConfig(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: the init runs in a mount namespace of its own")
	}
	initPath, err := testinit.Path()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct{ name, data, reason string }{
		{"empty", "", "configuration ends before its end field"},
		{"no end", "path 1 p\n", "configuration ends before its end field"},
		{"no path", "name 1 a\nrootfs 1 r\nend 0 \n", "configuration has no program path"},
		{"no rootfs", "name 1 a\npath 1 p\nend 0 \n", "configuration has no name or rootfs"},
		{"missing length", "path a\nend 0 \n", `invalid length of configuration field "path"`},
		{"short value", "name 5 abc\n", `invalid configuration field "name"`},
		{"no newline after value", "name 3 abcdend 0 \n", `invalid configuration field "name"`},
		{"NUL in value", "path 3 a\x00b\nend 0 \n", `invalid configuration field "path"`},
		{"negative length", "name -1 \nend 0 \n", `invalid length of configuration field "name"`},
		{"huge length", "name 99999999999 x\n", `invalid length of configuration field "name"`},
		{"overlong length", "name 0000000000000000001 x\n", `invalid length of configuration field "name"`},
		{"NUL in length", "name 1\x00 a\nend 0 \n", `invalid length of configuration field "name"`},
		{"NUL in key", "end\x00x 0 \n", `invalid configuration field "end"`},
		{"unknown key", "path 1 p\ncolour 3 red\nend 0 \n", `unknown configuration field "colour"`},
		{"bad number", "path 1 p\nnice 3 ten\nend 0 \n", "invalid configuration field nice: ten"},
		{"nice out of range", "path 1 p\nnice 2 20\nend 0 \n", "invalid configuration field nice: 20"},
		{"bad bool", "path 1 p\nnewnet 3 yes\nend 0 \n", "invalid configuration field newnet: yes"},
		{"half a layer", "name 1 a\nrootfs 1 r\npath 1 p\nupper 1 u\nend 0 \n", "layer without its upper or work"},
		{"long key", strings.Repeat("k", 100) + " 1 x\n", "invalid configuration field"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status := runInit(t, initPath, tt.data)
			want := "ready 2\nfailed 127 read configuration: "
			if !strings.HasPrefix(status, want) || !strings.Contains(status, tt.reason) {
				t.Errorf("init reported %q, want %q followed by a reason with %q", status, want, tt.reason)
			}
		})
	}
}

// runInit starts the init in new mount and PID namespaces with config on
// its configuration pipe, waits for it to exit 127 and returns its status
// lines.
func runInit(t *testing.T, path, config string) string {
	t.Helper()
	configR, configW := pipe(t)
	statusR, statusW := pipe(t)
	deathR, deathW := pipe(t)
	defer deathW.Close()
	devNull, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer devNull.Close()

	cmd := exec.Command(path)
	cmd.ExtraFiles = []*os.File{configR, statusW, deathR, devNull, devNull}
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNS | syscall.CLONE_NEWPID}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	configR.Close()
	statusW.Close()
	deathR.Close()
	configW.WriteString(config)
	configW.Close()

	var lines strings.Builder
	r := bufio.NewReader(statusR)
	for {
		line, err := r.ReadString('\n')
		lines.WriteString(line)
		if err != nil {
			break
		}
	}
	statusR.Close()

	err = cmd.Wait()
	if exit, ok := err.(*exec.ExitError); !ok || exit.ExitCode() != 127 {
		t.Errorf("init ended with %v, want exit status 127", err)
	}
	return lines.String()
}

func pipe(t *testing.T) (*os.File, *os.File) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	return r, w
}

// TestInitSavesCopyPipeFirst starts a command through the built init, then
// closes the death pipe as a dying supervisor would, with bytes in the
// copy pipe and in the output pipe. The init must append both to the log,
// the copy pipe's, which are older, first.
func TestInitSavesCopyPipeFirst(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: the init runs in namespaces of its own")
	}
	initPath, err := testinit.Path()
	if err != nil {
		t.Fatal(err)
	}
	rootfs, err := filepath.Abs("../../build/rootfs")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(rootfs, "bin/busybox")); err != nil {
		t.Skipf("no rootfs at %s: run make rootfs first (%v)", rootfs, err)
	}
	logDir := t.TempDir()
	dir, err := os.Open(logDir)
	if err != nil {
		t.Fatal(err)
	}
	defer dir.Close()
	configR, configW := pipe(t)
	statusR, statusW := pipe(t)
	deathR, deathW := pipe(t)
	outR, outW := pipe(t)
	copyR, copyW := pipe(t)

	cmd := exec.Command(initPath)
	cmd.Stdout, cmd.Stderr = outW, outW
	cmd.ExtraFiles = []*os.File{configR, statusW, deathR, outR, dir, copyR}
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNS | syscall.CLONE_NEWPID |
		syscall.CLONE_NEWUTS | syscall.CLONE_NEWIPC}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	for _, f := range []*os.File{configR, statusW, deathR, outR, copyR} {
		f.Close()
	}

	configW.Write(MarshalConfig(&Config{
		Name: "saver", Rootfs: rootfs, Path: "/bin/sleep", Argv: []string{"sleep", "100"},
		LogName: "saver.log",
	}))
	configW.Close()
	status := bufio.NewReader(statusR)
	for _, want := range []string{"ready 2\n", "started\n"} {
		if line, err := status.ReadString('\n'); line != want {
			t.Fatalf("init reported %q, %v; want %q", line, err, want)
		}
	}

	copyW.WriteString("older\n")
	outW.WriteString("newer\n")
	copyW.Close()
	outW.Close()
	deathW.Close()

	err = cmd.Wait()
	if exit, ok := err.(*exec.ExitError); !ok || exit.ExitCode() != 137 {
		t.Errorf("init ended with %v, want exit status 137", err)
	}
	log, err := os.ReadFile(filepath.Join(logDir, "saver.log"))
	if string(log) != "older\nnewer\n" {
		t.Errorf("saved log = %q, %v; want %q", log, err, "older\nnewer\n")
	}
}
