package runtime_test

import (
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"ctlfs/runtime"
)

// kernelSigaction is the kernel's struct sigaction on amd64. SIG_DFL and
// SIG_IGN need no restorer, and on arm64 the zero fields line up as well.
type kernelSigaction struct {
	handler, flags, restorer, mask uint64
}

// setRawDisposition sets the action of sig with rt_sigaction and returns
// the previous one. The raw call bypasses os/signal, which does not act on signal 32.
func setRawDisposition(t *testing.T, sig int, handler uint64) kernelSigaction {
	t.Helper()
	var old kernelSigaction
	act := kernelSigaction{handler: handler}
	if _, _, e := unix.RawSyscall6(unix.SYS_RT_SIGACTION, uintptr(sig),
		uintptr(unsafe.Pointer(&act)), uintptr(unsafe.Pointer(&old)), 8, 0, 0); e != 0 {
		t.Fatalf("rt_sigaction %d: %v", sig, e)
	}
	return old
}

// TestCommandSignalState checks that the command starts with no blocked
// signal and every signal at its default action, including those that the
// supervisor ignored. SIGHUP is ignored as under nohup. Signal 32 is
// reserved by glibc, and the Go runtime keeps an inherited SIG_IGN on it,
// so a supervisor started with it ignored passes that on to every init.
func TestCommandSignalState(t *testing.T) {
	sup := newSupervisor(t)
	signal.Ignore(syscall.SIGHUP)
	defer signal.Reset(syscall.SIGHUP)
	old := setRawDisposition(t, 32, 1 /* SIG_IGN */)
	defer setRawDisposition(t, 32, old.handler)
	c, st := runCommand(t, sup, "sigstate", "cat /proc/self/status")
	log := readLog(t, c)
	if st.String() != "exited 0" {
		t.Fatalf("state %q, log:\n%s", st, log)
	}
	for _, want := range []string{"SigBlk:\t0000000000000000\n", "SigIgn:\t0000000000000000\n"} {
		if !strings.Contains(log, want) {
			t.Errorf("command's status lacks %q:\n%s", want, log)
		}
	}
}

// TestKillForwardsFatalSignals sends signals whose default action ends a
// process to a container and checks that the command dies of each. The
// list includes the real-time signals 32 and 33, which glibc reserves for
// itself and which the Go init could not catch, and SIGPIPE, which the
// init also raises for itself.
func TestKillForwardsFatalSignals(t *testing.T) {
	sup := newSupervisor(t)
	for _, sig := range []syscall.Signal{syscall.SIGHUP, syscall.SIGUSR1, syscall.SIGPIPE, syscall.SIGALRM, 32, 33, 34, 64} {
		name := fmt.Sprintf("sig%d", int(sig))
		c := startCommand(t, sup, name, "sleep 100")
		if err := c.Kill(sig); err != nil {
			t.Fatal(err)
		}
		st := waitExit(t, c)
		if st.Signal != sig {
			t.Errorf("after signal %d: state %q", int(sig), st)
		}
	}
}

// TestKillForwardsSIGCHLD checks that a SIGCHLD sent with kill reaches
// the command, although the init also receives SIGCHLD at each child's end.
func TestKillForwardsSIGCHLD(t *testing.T) {
	sup := newSupervisor(t)
	c := startCommand(t, sup, "chld", `sh -c 'trap "exit 3" CHLD; echo ready; while :; do :; done'`)
	waitLog(t, c, "ready\n")
	if err := c.Kill(syscall.SIGCHLD); err != nil {
		t.Fatal(err)
	}
	if st := waitExit(t, c); st.Code != 3 {
		t.Errorf("after SIGCHLD: state %q, want exit code 3 from the trap", st)
	}
}

// TestKillStopStopsCommand checks that kill STOP stops the command, not
// the init, which cannot catch SIGSTOP to pass it on, nor an orphan that
// the init adopted, and that CONT and TERM still reach the command.
func TestKillStopStopsCommand(t *testing.T) {
	sup := newSupervisor(t)
	// The subshell leaves an orphan, sleep 100, which the init adopts.
	c := startCommand(t, sup, "stop", `sh -c '(sleep 100 &); exec sleep 200'`)
	initPID := c.PID()
	var children []string
	waitFor(t, "the init to adopt the orphan", func() bool {
		data, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", initPID, initPID))
		children = strings.Fields(string(data))
		return len(children) == 2
	})
	command, orphan := children[0], children[1]

	if err := c.Kill(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the command to stop", func() bool { return processState(command) == "T" })
	if st := processState(strconv.Itoa(initPID)); st == "T" {
		t.Errorf("init state %s after kill STOP, want it running", st)
	}
	if st := processState(orphan); st == "T" {
		t.Errorf("orphan state %s after kill STOP, want it running", st)
	}

	if err := c.Kill(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the command to continue", func() bool { return processState(command) == "S" })

	if err := c.Kill(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if st := waitExit(t, c); st.Signal != syscall.SIGTERM {
		t.Errorf("after kill TERM: state %q", st)
	}
}

// processState returns the state letter of process pid, field 3 of its
// /proc stat, or "" when it is gone.
func processState(pid string) string {
	data, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return ""
	}
	i := strings.LastIndexByte(string(data), ')')
	if i < 0 || i+3 > len(data) {
		return ""
	}
	return string(data[i+2 : i+3])
}

// TestStopDuringStart sends SIGSTOP as soon as the container runs, when
// the command may not yet be executed, then SIGCONT, and checks that the
// write of cmd returns. A child stopped before its exec would keep the
// init waiting for the exec, which then never forwards SIGCONT.
func TestStopDuringStart(t *testing.T) {
	sup := newSupervisor(t)
	c, err := sup.Create("stopstart")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- c.SetCommand("sleep 30") }()
	for {
		err := c.Kill(syscall.SIGSTOP)
		if err == nil {
			break
		}
		if !errors.Is(err, runtime.ErrNotRunning) {
			t.Fatal(err)
		}
	}
	if err := c.Kill(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("write of cmd: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Errorf("write of cmd still waits 5 s after SIGSTOP and SIGCONT")
		c.Kill(syscall.SIGKILL)
		<-done
	}
	c.Kill(syscall.SIGKILL)
	if st := waitExit(t, c); st.String() != "exited 137 signal=KILL reason=kill" {
		t.Errorf("state %q, want exited 137 signal=KILL reason=kill", st)
	}
}

// TestFreezeDuringStart freezes the container as soon as it runs, when
// the command may not yet be executed, and checks that the write of cmd
// returns while the container is frozen, not only at a thaw.
func TestFreezeDuringStart(t *testing.T) {
	sup := newSupervisor(t)
	c, err := sup.Create("freezestart")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- c.SetCommand("sleep 30") }()
	for {
		err := c.Freeze()
		if err == nil {
			break
		}
		if !errors.Is(err, runtime.ErrNotRunning) {
			t.Fatal(err)
		}
	}
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("write of cmd: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Errorf("write of cmd still waits 5 s after the freeze")
		c.Thaw()
		<-done
	}
	if st := c.State(); st.String() != "frozen" {
		t.Errorf("state %q after the freeze, want frozen", st)
	}
	c.Kill(syscall.SIGKILL)
	waitExit(t, c)
}
