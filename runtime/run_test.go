package runtime_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"ctlfs/monitor"
	"ctlfs/runtime"
)

func TestRunExitCodes(t *testing.T) {
	sup := newSupervisor(t)
	tests := []struct {
		name, cmd, state string
	}{
		{"true", "/bin/true", "exited 0"},
		{"false", "/bin/false", "exited 1"},
		{"own137", `sh -c "exit 137"`, "exited 137"},
		{"selfkill", `sh -c 'kill -KILL $$'`, "exited 137 signal=KILL"},
		{"notexec", "/etc/passwd", "exited 126 reason=start-failed"},
		{"directory", "/etc", "exited 126 reason=start-failed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, st := runCommand(t, sup, tt.name, tt.cmd)
			if st.String() != tt.state {
				t.Errorf("state = %q, want %q", st, tt.state)
			}
		})
	}
}

func TestRunIsolation(t *testing.T) {
	sup := newSupervisor(t)
	c, st := runCommand(t, sup, "iso", `sh -c 'hostname; echo pid=$$; ls /proc/self/fd; hostname other; ps -o pid,comm'`)
	if st.String() != "exited 0" {
		t.Fatalf("state = %q, log:\n%s", st, readLog(t, c))
	}
	out := readLog(t, c)
	if !hasLine(out, "iso") {
		t.Errorf("hostname not in log:\n%s", out)
	}
	// ps runs in place of the shell, so it and the init are all there is.
	if !strings.Contains(out, "PID   COMMAND\n    1 ctlfs-init\n") ||
		strings.Count(out[strings.Index(out, "PID "):], "\n") != 3 {
		t.Errorf("ps shows other processes than the init and itself:\n%s", out)
	}
	// ls lists 0-2 and the descriptor of the directory it reads.
	if !strings.Contains(out, "0\n1\n2\n3\n") || strings.Contains(out, "\n4\n") {
		t.Errorf("unexpected descriptors:\n%s", out)
	}
}

func TestRunMissingProgram(t *testing.T) {
	sup := newSupervisor(t)
	c, err := sup.Create("missing")
	if err != nil {
		t.Fatal(err)
	}
	err = c.SetCommand("no-such-program --flag")
	if !errors.Is(err, runtime.ErrNotFound) {
		t.Fatalf("SetCommand err = %v, want ErrNotFound", err)
	}
	if got := c.State().Phase; got != runtime.Created {
		t.Errorf("phase = %s after rejected command, want created", got)
	}
	if c.Command() != "" {
		t.Errorf("command = %q after rejected command, want empty", c.Command())
	}
}

func TestRunKillAndStop(t *testing.T) {
	sup := newSupervisor(t)
	c, err := sup.Create("k")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.SetCommand("sleep 100"); err != nil {
		t.Fatal(err)
	}
	if err := c.Kill(9); err != nil {
		t.Fatal(err)
	}
	if st := waitExit(t, c); st.String() != "exited 137 signal=KILL reason=kill" {
		t.Errorf("after kill: state = %q", st)
	}
	if err := c.Kill(9); !errors.Is(err, runtime.ErrNotRunning) {
		t.Errorf("kill of exited container: err = %v, want ErrNotRunning", err)
	}

	// A command that ignores SIGTERM dies at the end of the grace time.
	if err := c.SetCommand(`sh -c 'trap "" TERM; echo ready; while :; do sleep 1; done'`); err != nil {
		t.Fatal(err)
	}
	waitLog(t, c, "ready\n")
	start := time.Now()
	if err := c.Stop(300 * time.Millisecond); err != nil {
		t.Fatal(err)
	}
	st := waitExit(t, c)
	if st.String() != "exited 137 signal=KILL reason=stop" {
		t.Errorf("after stop: state = %q", st)
	}
	if d := time.Since(start); d < 300*time.Millisecond {
		t.Errorf("killed after %v, before the grace time", d)
	}
}

func waitLog(t *testing.T, c *runtime.Container, want string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(readLog(t, c), want) {
		if time.Now().After(deadline) {
			t.Fatalf("log of %s lacks %q:\n%s", c.Name(), want, readLog(t, c))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestRestoreAfterCrash(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: creates namespaces, mounts and cgroups")
	}
	dir := t.TempDir()
	cfg := runtime.Config{StateDir: dir, DefaultRootfs: testRootfs(t), Grace: time.Second}
	first, err := runtime.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c, err := first.Create("survivor")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.SetLimits("soft=32M cpus=0"); err != nil {
		t.Fatal(err)
	}
	if err := c.SetCommand("sleep 300"); err != nil {
		t.Fatal(err)
	}
	pid := c.PID()

	// A second supervisor on the same state directory, once the first's
	// locks are gone, is like one that restarts after the first was
	// killed. It kills the leftover cgroup and lists the container as
	// lost.
	runtime.DropLocks(first)
	second := newSupervisorAt(t, cfg)
	c2, ok := second.Lookup("survivor")
	if !ok {
		t.Fatal("container not restored")
	}
	if st := c2.State().String(); st != "exited 137 signal=KILL reason=lost" {
		t.Errorf("restored state = %q", st)
	}
	if got := c2.Limits(); got.Soft != 32<<20 || got.CPUs.String() != "0" {
		t.Errorf("restored limits = %+v", got)
	}
	if c2.Command() != "sleep 300" {
		t.Errorf("restored command = %q", c2.Command())
	}
	waitFor(t, "the init to die", func() bool {
		_, err := os.Stat(fmt.Sprintf("/proc/%d", pid))
		return err != nil
	})
	waitExit(t, c) // the first supervisor saw its init die
	// The first supervisor writes its record after it releases the
	// waiters, under the container's lock, which State takes: the state
	// directory does not change after this while the test removes it.
	c.State()
}

func newSupervisorAt(t *testing.T, cfg runtime.Config) *runtime.Supervisor {
	t.Helper()
	sup, err := runtime.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := sup.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	return sup
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestLogErrorEvent puts a directory where a container's log file will
// be made, and checks that output that cannot be logged gives an error
// event with reason=log.
func TestLogErrorEvent(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: creates namespaces, mounts and cgroups")
	}
	state := t.TempDir()
	sup := newSupervisorAt(t, runtime.Config{StateDir: state, DefaultRootfs: testRootfs(t), Grace: time.Second})

	c, err := sup.Create("unlogged")
	if err != nil {
		t.Fatal(err)
	}
	// The log file is made at the first byte of output, after Create.
	if err := os.Mkdir(filepath.Join(state, "logs", "unlogged.log"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := c.SetCommand("echo hi"); err != nil {
		t.Fatal(err)
	}

	if st := waitExit(t, c); st.String() != "exited 0" {
		t.Errorf("state %q, want exited 0", st)
	}
	if events := readStream(t, c.Events()); !strings.Contains(events, " unlogged error reason=log\n") {
		t.Errorf("no error event for the lost output:\n%s", events)
	}
}

// TestStateDirWithComma checks that New rejects a state directory that
// overlayfs options cannot name.
func TestStateDirWithComma(t *testing.T) {
	_, err := runtime.New(runtime.Config{StateDir: filepath.Join(t.TempDir(), "a,b")})
	if !errors.Is(err, runtime.ErrInvalid) {
		t.Errorf("New with a ',' in the state directory: err = %v, want ErrInvalid", err)
	}
}

// TestStopAfterHarmlessKill sends a signal that the command survives,
// then stops it, and checks that the stop is the reason recorded.
func TestStopAfterHarmlessKill(t *testing.T) {
	sup := newSupervisor(t)
	c, err := sup.Create("survivor")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.SetCommand(`sh -c 'trap "echo got" USR1; echo ready; while :; do sleep 0.1; done'`); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "ready in the log", func() bool { return strings.Contains(readLog(t, c), "ready\n") })
	if err := c.Kill(syscall.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the trap's output", func() bool { return strings.Contains(readLog(t, c), "got\n") })

	if err := c.Stop(time.Second); err != nil {
		t.Fatal(err)
	}
	if st := waitExit(t, c); st.String() != "exited 143 signal=TERM reason=stop" {
		t.Errorf("state %q, want exited 143 signal=TERM reason=stop", st)
	}
	if events := readStream(t, c.Events()); !strings.Contains(events, " survivor stopping reason=stop\n") {
		t.Errorf("no stopping event with reason=stop:\n%s", events)
	}
}

// TestRunForkFails checks the state of a command that the init cannot
// fork because pids=1 leaves no room beside it: 126, as for a program
// that exists but cannot be executed, with the reason in the log.
func TestRunForkFails(t *testing.T) {
	sup := newSupervisor(t)
	c, err := sup.Create("nofork")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.SetLimits("pids=1"); err != nil {
		t.Fatal(err)
	}
	if err := c.SetCommand("/bin/true"); err != nil {
		t.Fatal(err)
	}
	st := waitExit(t, c)
	if st.String() != "exited 126 reason=start-failed" {
		t.Errorf("state = %q, want exited 126 reason=start-failed", st)
	}
	want := "ctlfs-init: exec /bin/true: resource temporarily unavailable\n"
	if log := readLog(t, c); log != want {
		t.Errorf("log = %q, want %q", log, want)
	}
}

// TestRestoredCPUTime checks that a supervisor restarted on the same state
// directory reports the CPU time of a container's last run.
func TestRestoredCPUTime(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: creates namespaces, mounts and cgroups")
	}
	cfg := runtime.Config{StateDir: t.TempDir(), DefaultRootfs: testRootfs(t), Grace: time.Second}
	first := newSupervisorAt(t, cfg)
	c, st := runCommand(t, first, "busy", `sh -c 'i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done'`)
	if st.String() != "exited 0" {
		t.Fatalf("state %q", st)
	}
	before, err := c.Usage()
	if err != nil || before.CPU <= 0 {
		t.Fatalf("CPU time of the run = %v, %v; want more than 0", before.CPU, err)
	}
	if err := first.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}

	second := newSupervisorAt(t, cfg)
	c2, ok := second.Lookup("busy")
	if !ok {
		t.Fatal("container not restored")
	}
	after, err := c2.Usage()
	if err != nil || after.CPU != before.CPU {
		t.Errorf("restored CPU time = %v, %v; want %v", after.CPU, err, before.CPU)
	}
}

// TestSecondSupervisorOnStateDir checks that a supervisor rejects a state
// directory that another one serves, naming the holder, and leaves that
// one's containers running.
func TestSecondSupervisorOnStateDir(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: creates namespaces, mounts and cgroups")
	}
	cfg := runtime.Config{StateDir: t.TempDir(), DefaultRootfs: testRootfs(t), Grace: time.Second}
	first := newSupervisorAt(t, cfg)
	running := startCommand(t, first, "kept", "sleep 300")

	second, err := runtime.New(cfg)
	if err == nil {
		second.Shutdown(t.Context())
		t.Fatal("a second supervisor started on a state directory in use")
	}
	if !errors.Is(err, runtime.ErrStateInUse) {
		t.Errorf("error %v, want ErrStateInUse", err)
	}
	if want := fmt.Sprintf("locked by PID %d", os.Getpid()); !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not contain %q", err, want)
	}
	time.Sleep(leftoverSettle)
	if st := running.State().String(); st != "running" {
		t.Errorf("first supervisor's container is %q after the rejected start, want running", st)
	}

	// Once the first is shut down, the directory is free again.
	if err := first.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	newSupervisorAt(t, cfg)
}

// leftoverSettle is longer than the runtime waits for the inits of a
// supervisor that died before it kills them.
const leftoverSettle = 2 * time.Second

// TestOrphanCgroupsRemoved checks that a supervisor removes the empty
// cgroup directories of a supervisor on another state directory that
// died, and keeps those of a live one, those with processes and those
// without the mark of a supervisor that locks.
func TestOrphanCgroupsRemoved(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: creates namespaces, mounts and cgroups")
	}
	live := newSupervisor(t)
	running := startCommand(t, live, "kept", "sleep 300")

	// A supervisor that died: its state directory unlocked, its cgroup
	// directories with a container directory in them and no process.
	dead := newSupervisorAt(t, runtime.Config{StateDir: t.TempDir(), DefaultRootfs: testRootfs(t)})
	exited := startCommand(t, dead, "gone", "/bin/true")
	waitExit(t, exited)
	deadDirs := instanceDirs(t, dead)
	for _, dir := range deadDirs {
		if err := os.Mkdir(filepath.Join(dir, "gone"), 0o755); err != nil && !errors.Is(err, os.ErrExist) {
			t.Fatal(err)
		}
	}
	runtime.DropLocks(dead)

	// One marked as a locking supervisor's, unlocked, with a process still
	// in it.
	mount, err := monitor.Cgroup2Mount()
	if err != nil {
		t.Fatal(err)
	}
	busy := filepath.Join(mount, "ctlfs", "0123456789ab")
	if err := os.MkdirAll(busy, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Setxattr(busy, "trusted.ctlfs.state", []byte("/nowhere"), 0); err != nil {
		t.Fatal(err)
	}
	// An empty one without the mark, as a supervisor older than the lock
	// makes: it may still run.
	unmarked := filepath.Join(mount, "ctlfs", "0123456789ac")
	if err := os.Mkdir(unmarked, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(unmarked) })
	sleeper := exec.Command("sleep", "300")
	if err := sleeper.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		sleeper.Process.Kill()
		sleeper.Wait()
		// The cgroup empties a moment after the exit.
		waitFor(t, "the sleeper's cgroup to go", func() bool {
			err := os.Remove(busy)
			return err == nil || errors.Is(err, os.ErrNotExist)
		})
	})
	if err := os.WriteFile(filepath.Join(busy, "cgroup.procs"), []byte(strconv.Itoa(sleeper.Process.Pid)), 0); err != nil {
		t.Fatal(err)
	}

	newSupervisor(t)
	for _, dir := range deadDirs {
		if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("cgroup %s of the supervisor that died: %v, want it removed", dir, err)
		}
	}
	for _, dir := range append(instanceDirs(t, live), busy, unmarked) {
		if _, err := os.Stat(dir); err != nil {
			t.Errorf("cgroup %s: %v, want it kept", dir, err)
		}
	}
	if st := running.State().String(); st != "running" {
		t.Errorf("live supervisor's container is %q, want running", st)
	}
}

// instanceDirs returns the cgroup directories of sup, one per hierarchy.
func instanceDirs(t *testing.T, sup *runtime.Supervisor) []string {
	t.Helper()
	dirs, err := filepath.Glob("/sys/fs/cgroup/*/ctlfs/" + runtime.CgroupInstance(sup))
	if err != nil {
		t.Fatal(err)
	}
	pure, _ := filepath.Glob("/sys/fs/cgroup/ctlfs/" + runtime.CgroupInstance(sup))
	dirs = append(dirs, pure...)
	if len(dirs) == 0 {
		t.Fatal("the supervisor has no cgroup directory")
	}
	return dirs
}
