package runtime

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Container is one container: its settings, its state machine and, while
// it runs, its processes. Its methods are safe for concurrent use.
type Container struct {
	name   string
	sup    *Supervisor
	events *Journal
	log    *logFile

	mu      sync.Mutex
	rootfs  string   // guarded by mu; "" means the supervisor's default
	cmdline string   // guarded by mu
	argv    []string // guarded by mu; cmdline split into words
	env     []string // guarded by mu; NAME=value additions
	net     string   // guarded by mu
	limits  Limits   // guarded by mu
	nice    int      // guarded by mu
	state   State    // guarded by mu
	reason  string   // guarded by mu; why the supervisor is ending the run
	// killSignal is the last signal that Kill sent in this run; guarded
	// by mu.
	killSignal syscall.Signal
	run        *run  // guarded by mu; the current or last run
	usage      Usage // guarded by mu; all but CPU
	removed    bool  // guarded by mu
	// recordSize is the size of the container's record on disk, 0 before
	// the first write; guarded by mu.
	recordSize int
	// recordPending is set from Create until the record is first
	// written; guarded by mu.
	recordPending bool
	// exited is closed when the current run ends; guarded by mu.
	exited chan struct{}
}

func newContainer(s *Supervisor, name string) (*Container, error) {
	lf, err := openLogFile(s.cfg.StateDir, name, s.cfg.LogMax)
	if err != nil {
		return nil, err
	}
	done := make(chan struct{})
	close(done)
	return &Container{
		name:   name,
		sup:    s,
		events: new(Journal),
		log:    lf,
		net:    NetNone,
		limits: DefaultLimits(),
		state:  State{Phase: Created},
		exited: done,
	}, nil
}

// Network modes accepted by SetNet.
const (
	NetNone = "none"
	NetHost = "host"
)

// Name returns the container's name.
func (c *Container) Name() string { return c.name }

// Log returns the container's stdout and stderr, in arrival order.
func (c *Container) Log() Stream { return c.log }

// Events returns the container's event journal.
func (c *Container) Events() Stream { return c.events }

// State returns the container's current state.
func (c *Container) State() State {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.state
}

// Rootfs returns the rootfs path that was set, or "" when the container
// uses the supervisor's default.
func (c *Container) Rootfs() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.rootfs
}

// EffectiveRootfs returns the rootfs the container starts in.
func (c *Container) EffectiveRootfs() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.effectiveRootfs()
}

func (c *Container) effectiveRootfs() string {
	if c.rootfs != "" {
		return c.rootfs
	}
	return c.sup.cfg.DefaultRootfs
}

// SetRootfs sets the rootfs directory. It fails with ErrInvalid for a
// relative path or one with ',' or ':', ErrNotFound when path does not exist, ErrNotDir when it is
// not a directory, and ErrBusy while the container runs.
func (c *Container) SetRootfs(path string) error {
	if !strings.HasPrefix(path, "/") {
		return fmt.Errorf("rootfs %q is not an absolute path: %w", path, ErrInvalid)
	}
	if err := checkRootfs(path); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state.Running() {
		return fmt.Errorf("set rootfs of %s: %w; stop it first", c.name, ErrBusy)
	}
	c.rootfs = path
	c.persistLocked()
	return nil
}

// checkRootfs reports why path cannot be a rootfs, or nil.
func checkRootfs(path string) error {
	// The rootfs is the lower directory in the overlay's options, which
	// cannot name a path with ',' or ':'.
	if strings.ContainsAny(path, ",:") {
		return fmt.Errorf("rootfs %q: overlayfs cannot use a path with ',' or ':': %w", path, ErrInvalid)
	}
	fi, err := os.Stat(path)
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("rootfs %q does not exist: %w", path, ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("rootfs %q: %w", path, err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("rootfs %q is not a directory: %w", path, ErrNotDir)
	}
	return nil
}

// Command returns the command line that was set.
func (c *Container) Command() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cmdline
}

// SetCommand sets the command line and starts the container. It fails with
// ErrInvalid when the line does not split into words, ErrNotFound when the
// program is not in the rootfs, and ErrBusy while the container runs. A
// failed call changes nothing. It returns once the command runs, or once
// the container has exited because the command could not be executed.
func (c *Container) SetCommand(line string) error {
	argv, err := SplitCommand(line)
	if err != nil {
		return err
	}
	c.mu.Lock()
	if err := c.startLocked(line, argv); err != nil {
		c.mu.Unlock()
		return err
	}
	c.unlockAwaitExec()
	return nil
}

// Start runs the command again with the current settings. It fails with
// ErrBusy while the container runs and ErrInvalid when no command was set.
// It returns when SetCommand would.
func (c *Container) Start() error {
	c.mu.Lock()
	if c.argv == nil {
		c.mu.Unlock()
		return fmt.Errorf("start %s: no command set, write one to cmd: %w", c.name, ErrInvalid)
	}
	if err := c.startLocked(c.cmdline, c.argv); err != nil {
		c.mu.Unlock()
		return err
	}
	c.unlockAwaitExec()
	return nil
}

// unlockAwaitExec releases c.mu, which the caller took for a start, and
// waits until the init of the new run has executed the command or failed
// to. After a failure it also waits until the state reads exited, so that
// a state read after the start shows the failure, never running.
func (c *Container) unlockAwaitExec() {
	r, exited := c.run, c.exited
	c.mu.Unlock()
	<-r.started
	if !r.execOK {
		<-exited
	}
}

// Limits returns the container's limits.
func (c *Container) Limits() Limits {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.limits
}

// SetLimits applies the key=value pairs of text (see ParseLimits). Limits
// can change while the container runs and take effect at once.
func (c *Container) SetLimits(text string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	l, err := ParseLimits(text, c.limits)
	if err != nil {
		return err
	}
	if err := checkOnline(l.CPUs); err != nil {
		return err
	}
	if c.run != nil && c.state.Running() {
		if err := c.run.applyLimits(l); err != nil {
			return err
		}
	}
	c.limits = l
	c.persistLocked()
	return nil
}

// Env returns the NAME=value lines added to the default environment.
func (c *Container) Env() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.env...)
}

// SetEnv replaces the added environment with the NAME=value lines of text.
// It fails with ErrInvalid on a line without '=' or with an invalid name,
// and ErrBusy while the container runs.
func (c *Container) SetEnv(text string) error {
	env, err := ParseEnv(text)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state.Running() {
		return fmt.Errorf("set env of %s: %w; stop it first", c.name, ErrBusy)
	}
	c.env = env
	c.persistLocked()
	return nil
}

// Net returns the network mode, NetNone or NetHost.
func (c *Container) Net() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.net
}

// SetNet sets the network mode. It fails with ErrInvalid for anything but
// NetNone and NetHost, and ErrBusy while the container runs.
func (c *Container) SetNet(mode string) error {
	if mode != NetNone && mode != NetHost {
		return fmt.Errorf("net %q: expected %s or %s: %w", mode, NetNone, NetHost, ErrInvalid)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state.Running() {
		return fmt.Errorf("set net of %s: %w; stop it first", c.name, ErrBusy)
	}
	c.net = mode
	c.persistLocked()
	return nil
}

// Nice returns the container's nice value.
func (c *Container) Nice() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nice
}

// SetNice sets nice n (-20 to 19) on every task of the container, now and
// for tasks it starts later. On a container that is not running the value
// is stored and applied at its next start.
func (c *Container) SetNice(n int) error {
	if n < -20 || n > 19 {
		return fmt.Errorf("nice %d out of range -20 to 19: %w", n, ErrInvalid)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if n == c.nice {
		return nil
	}
	if c.run != nil && c.state.Running() {
		if err := c.run.renice(n); err != nil {
			return err
		}
	}
	c.nice = n
	c.persistLocked()
	c.emit("nice", fmt.Sprintf("value=%d", n))
	return nil
}

// PID returns the host PID of the container's init, or 0 when it is not
// running.
func (c *Container) PID() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.state.Running() {
		return 0
	}
	return c.state.PID
}

// RSS returns the resident memory of every process of the container, in
// bytes; it is 0 when the container is not running.
func (c *Container) RSS() (uint64, error) {
	c.mu.Lock()
	r := c.run
	running := c.state.Running()
	c.mu.Unlock()
	if r == nil || !running {
		return 0, nil
	}
	return r.rss()
}

// Stop sends SIGTERM to the init, which passes it to the command, and
// SIGKILL to every task after grace (the supervisor's default when grace is
// negative). It fails with ErrNotRunning when the container is not running.
func (c *Container) Stop(grace time.Duration) error {
	if grace < 0 {
		grace = c.sup.cfg.Grace
	}
	return c.stop(grace, ReasonStop)
}

// Kill sends sig to the container: SIGKILL to every task, SIGSTOP to the
// command, once its exec has succeeded or failed, and any other signal to
// the command through the init. It fails with ErrNotRunning when the
// container is not running.
func (c *Container) Kill(sig syscall.Signal) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if sig == syscall.SIGSTOP {
		// A child stopped before its exec keeps the init waiting for the
		// exec, so the init never forwards SIGCONT.
		c.awaitExecLocked()
	}
	if !c.state.Running() {
		return fmt.Errorf("kill %s: %w", c.name, ErrNotRunning)
	}
	if c.reason == "" || c.reason == ReasonKill {
		c.reason, c.killSignal = ReasonKill, sig
	}
	return c.run.signal(sig)
}

// awaitExecLocked waits until the exec of the current run's command has
// succeeded or failed, if the container runs. The caller holds c.mu,
// which is released meanwhile, so that a thaw or the run's end proceeds.
func (c *Container) awaitExecLocked() {
	for c.state.Running() && !isClosed(c.run.started) {
		r := c.run
		c.mu.Unlock()
		<-r.started
		c.mu.Lock()
	}
}

// isClosed reports whether ch is closed.
func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// Freeze suspends every task of the container, once the command's exec
// has succeeded or failed.
func (c *Container) Freeze() error { return c.setFrozen(true) }

// Thaw resumes a frozen container.
func (c *Container) Thaw() error { return c.setFrozen(false) }

func (c *Container) setFrozen(frozen bool) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if frozen {
		// A freeze before the exec would hold the write of cmd, which
		// waits for the exec, until a thaw.
		c.awaitExecLocked()
	}
	verb := "freeze"
	if !frozen {
		verb = "thaw"
	}
	if !c.state.Running() {
		return fmt.Errorf("%s %s: %w", verb, c.name, ErrNotRunning)
	}
	if err := c.run.cg.freeze(frozen); err != nil {
		return err
	}
	switch {
	case frozen && c.state.Phase == Running:
		c.state.Phase = Frozen
	case !frozen && c.state.Phase == Frozen:
		c.state.Phase = Running
	}
	return nil
}

// Wait blocks until the container is not running, or ctx is done, and
// returns its state: the state in which its current or last run ended.
func (c *Container) Wait(ctx context.Context) (State, error) {
	c.mu.Lock()
	done, r := c.exited, c.run
	c.mu.Unlock()
	select {
	case <-done:
		if r == nil {
			return c.State(), nil
		}
		return r.result, nil // set before done was closed
	case <-ctx.Done():
		return State{}, ctx.Err()
	}
}

func (c *Container) stop(grace time.Duration, reason string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.state.Running() {
		return fmt.Errorf("stop %s: %w", c.name, ErrNotRunning)
	}
	// A kill's reason holds only if its signal ends the run, so a stop
	// replaces it.
	if c.reason == "" || c.reason == ReasonKill || reason == ReasonShutdown {
		c.reason = reason
	}
	if c.state.Phase == Frozen {
		if err := c.run.cg.freeze(false); err != nil {
			c.sup.log.Error("thaw before stop", "container", c.name, "err", err)
		}
	}
	if c.state.Phase != Stopping {
		c.state.Phase = Stopping
		c.emit("stopping", "reason="+c.reason)
	}
	c.run.terminate(grace)
	return nil
}

// remove releases the container's resources.
func (c *Container) remove() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.removed {
		return fmt.Errorf("remove %s: %w", c.name, ErrNotFound)
	}
	if c.state.Running() {
		return fmt.Errorf("remove %s: %w; stop or kill it first", c.name, ErrBusy)
	}
	// The cgroups of a run are named after the container unless its init
	// was prestarted, and a new container of the same name must not find
	// them. Shutdown waits for every release.
	if c.run != nil && !c.run.prestarted {
		c.awaitReleaseLocked()
	}
	c.removed = true
	c.emit("removed")
	if err := removeRecord(c.sup.cfg.StateDir, c.name); err != nil {
		c.sup.log.Error("remove container metadata", "container", c.name, "err", err)
	}
	if err := c.log.remove(); err != nil {
		c.sup.log.Error("remove log", "container", c.name, "err", err)
	}
	if err := c.sup.discardLayer(c.name); err != nil {
		c.sup.log.Error("remove layer", "container", c.name, "err", err)
	}
	return nil
}

// release waits until the cgroups of the last run are removed and closes
// the log, at shutdown.
func (c *Container) release() {
	c.mu.Lock()
	c.awaitReleaseLocked()
	c.mu.Unlock()
	if err := c.log.close(); err != nil {
		c.sup.log.Error("close log", "container", c.name, "err", err)
	}
}

// emit appends an event to the container's journal and the supervisor's.
func (c *Container) emit(event string, fields ...string) {
	line := fmt.Sprintf("%s %s %s", time.Now().UTC().Format("2006-01-02T15:04:05.000000Z07:00"),
		c.name, event)
	if len(fields) > 0 {
		line += " " + strings.Join(fields, " ")
	}
	line += "\n"
	c.events.Append(line)
	c.sup.events.Append(line)
}

func isNotRunning(err error) bool { return errors.Is(err, ErrNotRunning) }
