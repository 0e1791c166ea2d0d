package runtime

import (
	"fmt"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Phase is the coarse lifecycle position of a container.
type Phase string

const (
	Created  Phase = "created"
	Running  Phase = "running"
	Frozen   Phase = "frozen"
	Stopping Phase = "stopping"
	Exited   Phase = "exited"
)

// Exit reasons recorded in State.Reason.
const (
	ReasonHardLimit   = "hard-limit"
	ReasonStop        = "stop"
	ReasonKill        = "kill"
	ReasonShutdown    = "shutdown"
	ReasonStartFailed = "start-failed"
	ReasonLost        = "lost"
)

// State is a snapshot of a container's lifecycle.
type State struct {
	Phase Phase
	// Code is the exit code in the shell's convention (128 + signal number
	// when a signal ended the command); valid when Phase is Exited.
	Code int
	// Signal is the signal that ended the command, or 0.
	Signal syscall.Signal
	// Reason is the supervisor's reason for ending the container, or empty
	// when the command ended by itself.
	Reason string
	// PID is the host PID of the init while it runs, else 0.
	PID     int
	Started time.Time
	Exited  time.Time
}

// Running reports whether the container has live processes: running,
// frozen or stopping.
func (s State) Running() bool {
	return s.Phase == Running || s.Phase == Frozen || s.Phase == Stopping
}

// String formats the state as the tree's state file does:
// "running", or "exited 137 signal=KILL reason=hard-limit".
func (s State) String() string {
	if s.Phase != Exited {
		return string(s.Phase)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "exited %d", s.Code)
	for _, kv := range s.exitFields() {
		b.WriteString(" " + kv)
	}
	return b.String()
}

// exitFields returns the key=value fields after the exit code.
func (s State) exitFields() []string {
	var kv []string
	if s.Signal != 0 {
		kv = append(kv, "signal="+SignalName(s.Signal))
	}
	if s.Reason != "" {
		kv = append(kv, "reason="+s.Reason)
	}
	return kv
}

// exitState converts a raw wait status into an Exited state.
func exitState(ws syscall.WaitStatus, reason string) State {
	st := State{Phase: Exited, Reason: reason}
	switch {
	case ws.Signaled():
		st.Signal = ws.Signal()
		st.Code = 128 + int(st.Signal)
	default:
		st.Code = ws.ExitStatus()
	}
	return st
}

// SignalName returns the name of sig without the SIG prefix ("KILL"), or
// its number when it has no name.
func SignalName(sig syscall.Signal) string {
	name := unix.SignalName(sig)
	if name == "" {
		return fmt.Sprint(int(sig))
	}
	return strings.TrimPrefix(name, "SIG")
}

// ParseSignal accepts a signal name with or without the SIG prefix, in any
// case, or a number from 1 to 64.
func ParseSignal(text string) (syscall.Signal, error) {
	var n int
	if _, err := fmt.Sscanf(text, "%d", &n); err == nil && fmt.Sprint(n) == text {
		if n < 1 || n > 64 {
			return 0, fmt.Errorf("signal %s out of range 1-64: %w", text, ErrInvalid)
		}
		return syscall.Signal(n), nil
	}
	name := strings.ToUpper(text)
	if !strings.HasPrefix(name, "SIG") {
		name = "SIG" + name
	}
	sig := unix.SignalNum(name)
	if sig == 0 {
		return 0, fmt.Errorf("unknown signal %q: %w", text, ErrInvalid)
	}
	return sig, nil
}
