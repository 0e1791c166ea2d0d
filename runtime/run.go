package runtime

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"ctlfs/runtime/initproc"
)

// run is one execution of a container's command: its init process, its
// cgroup and the pipes between them and the supervisor.
type run struct {
	c *Container
	*initProc

	// ready is closed when the init holds signals for the command, or has exited.
	ready chan struct{}
	// started is closed when the init reports that the command's exec
	// succeeded, or when its reports end.
	started chan struct{}
	// execOK is set before started is closed when the exec succeeded.
	execOK bool
	// final is the init's last report.
	final initproc.Status
	// result is the state the run ended in, set before c.exited is
	// closed.
	result State
	// hardLimit is closed when the monitor reports the hard limit crossed.
	hardLimit     chan struct{}
	hardLimitOnce sync.Once
	// reports is closed after the init's last report.
	reports chan struct{}
	// released is closed once the run's cgroups are removed, after the
	// container has moved to Exited.
	released chan struct{}
	// autogroup is set when there is no cpu cgroup, so nice must be set
	// on the autogroup of each session instead.
	autogroup bool
	// cpuFinal is the CPU time of the run, in nanoseconds, saved before
	// its cgroup is removed; -1 until then.
	cpuFinal atomic.Int64

	mu           sync.Mutex
	killTimer    *time.Timer // guarded by mu; SIGKILL after the grace time
	killDeadline time.Time   // guarded by mu; when killTimer fires
}

// startLocked starts the container with the command line and its words.
// The caller holds c.mu.
func (c *Container) startLocked(line string, argv []string) error {
	if c.removed {
		return fmt.Errorf("start %s: container was removed: %w", c.name, ErrNotFound)
	}
	if c.state.Running() {
		return fmt.Errorf("start %s: %w; stop it first, or write ctl to signal it", c.name, ErrBusy)
	}
	if c.sup.stopping.Load() {
		return fmt.Errorf("start %s: %w", c.name, ErrClosed)
	}
	begin := time.Now()
	c.awaitReleaseLocked()
	cfg, err := c.initConfigLocked(argv)
	if err != nil {
		return err
	}
	r, err := c.spawn(cfg)
	if err != nil {
		c.sup.log.Error("start container", "container", c.name, "err", err)
		return err
	}

	c.cmdline, c.argv = line, argv
	c.run = r
	c.reason, c.killSignal = "", 0
	c.usage.Starts++
	c.exited = make(chan struct{})
	c.state = State{Phase: Running, PID: r.pid, Started: time.Now()}
	c.persistLocked()
	c.emit("started", "pid="+strconv.Itoa(r.pid))
	c.sup.log.Info("container started", "container", c.name, "pid", r.pid, "cmd", argv,
		"took", time.Since(begin))
	return nil
}

// awaitReleaseLocked waits until the cgroups of the last run are removed,
// so that they can be created again under the same name. The caller holds
// c.mu, which the release does not take.
func (c *Container) awaitReleaseLocked() {
	if c.run != nil {
		<-c.run.released
	}
}

// initConfigLocked checks the rootfs, finds the program in it, prepares
// the writable layer and returns what the init needs. The caller holds
// c.mu.
func (c *Container) initConfigLocked(argv []string) (initproc.Config, error) {
	rootfs := c.effectiveRootfs()
	if rootfs == "" {
		return initproc.Config{}, fmt.Errorf(
			"start %s: no rootfs, write one to rootfs or start the supervisor with --rootfs: %w",
			c.name, ErrNotFound)
	}
	if err := checkRootfs(rootfs); err != nil && c.rootfs == "" {
		return initproc.Config{}, fmt.Errorf(
			"start %s: default %w; write a rootfs or start the supervisor with --rootfs", c.name, err)
	} else if err != nil {
		return initproc.Config{}, err
	}
	env := containerEnv(c.name, c.env)
	prog, err := lookProgram(rootfs, argv[0], envValue(env, "PATH"))
	if err != nil {
		return initproc.Config{}, err
	}
	layer, err := prepareLayer(c.sup.cfg.StateDir, c.name)
	if err != nil {
		return initproc.Config{}, err
	}
	return initproc.Config{
		Name: c.name, Rootfs: rootfs, Layer: layer, Path: prog, Argv: argv,
		Env: env, Nice: c.nice, NewNet: c.net == NetNone, HugePagesOff: c.sup.hugePagesOff,
		LogName: filepath.Base(c.log.path),
	}, nil
}

// spawn starts the container's init, or takes one started ahead of time,
// sends it the configuration, and moves it into the container's cgroups
// while it builds the container's root. It lets the init start the
// command once that is done.
func (c *Container) spawn(cfg initproc.Config) (*run, error) {
	ip, err := c.sup.takeInit(c.name, cfg.NewNet)
	if err != nil {
		return nil, err
	}
	r := &run{c: c, initProc: ip, ready: make(chan struct{}), started: make(chan struct{}),
		reports:  make(chan struct{}),
		released: make(chan struct{}), hardLimit: make(chan struct{})}
	r.autogroup = !r.cg.groups.hasCPU()
	r.cpuFinal.Store(-1)
	cfg.Autogroup = r.autogroup

	// A failed write means the init died, which wait reports.
	if _, err := ip.configW.Write(initproc.MarshalConfig(&cfg)); err != nil {
		c.sup.log.Error("send init configuration", "container", c.name, "err", err)
	}
	if err := r.prepare(); err != nil {
		r.unwatchMemory()
		ip.discard()
		return nil, fmt.Errorf("start %s: %w", c.name, err)
	}
	// The end of the configuration lets the init start the command.
	ip.configW.Close()

	drained := pumpLog(ip.logR, ip.logCopy, c.log, func(err error) {
		c.sup.log.Error("copy log", "container", c.name, "err", err)
		// The log file is made at the first byte, after the write of
		// cmd has returned, so this is where a failure shows.
		c.emit("error", "reason=log")
	})
	c.sup.runs.Add(1)
	go func() {
		r.readReports()
		r.wait(drained)
	}()
	// The init joins its pids cgroup before it reports ready, so a
	// container's processes are in its cgroups once the write that starts
	// it returns.
	<-r.ready
	return r, nil
}

// wait collects the command's status and the init's, waits for the log to
// drain, and moves the container to Exited once every process of the
// container has exited: once the init is reaped, or as soon as it reports
// that it is alone. The init is reaped and the cgroup removed after that,
// so that a reader of wait does not wait for them.
func (r *run) wait(logDrained <-chan struct{}) {
	<-r.reports
	status := r.final
	var initErr error
	if !status.Alone {
		// Other processes may be left, and the init's exit kills them.
		initErr = r.cmd.Wait()
	}
	r.awaitHardLimit(status, initErr)
	<-logDrained
	r.c.log.idle()
	r.stopKillTimer()
	// The CPU time is final: the init, the namespace's PID 1, has exited,
	// and every task with it.
	r.saveCPUTime()
	r.finish(status, initErr)
	r.release(status)
}

// finish records the end of the run in the container's state and events.
func (r *run) finish(status initproc.Status, initErr error) {
	c := r.c
	c.mu.Lock()
	st := r.exitState(status, initErr, c.reason)
	if st.Reason == ReasonKill && c.killSignal != syscall.SIGKILL && st.Signal != c.killSignal {
		st.Reason = "" // the signal from kill did not end the command
	}
	st.Started = c.state.Started
	st.Exited = time.Now()
	c.state = st
	fields := []string{"code=" + strconv.Itoa(st.Code)}
	fields = append(fields, st.exitFields()...)
	c.emit("exited", fields...)
	// Waiters take the state from r.result, without c.mu, so they need
	// not wait for the record to be written.
	r.result = st
	close(c.exited)
	c.persistLocked()
	c.mu.Unlock()
	c.sup.log.Info("container exited", "container", c.name, "state", st.String())
}

// release reaps an init that reported it was alone, stops the memory
// accounting of the finished run and removes its cgroups, then closes
// released.
func (r *run) release(status initproc.Status) {
	defer r.c.sup.runs.Done()
	defer close(r.released)
	defer r.c.sup.prestart.refill()
	begin := time.Now()
	if status.Alone {
		r.cmd.Wait()
	}
	r.unwatchMemory()
	if err := r.cg.destroy(); err != nil {
		r.c.sup.log.Error("remove cgroup", "container", r.c.name, "err", err)
	}
	r.c.sup.log.Debug("container cleaned up", "container", r.c.name, "took", time.Since(begin))
}

// hardLimitWait is the longest time a run that SIGKILL ended, for no
// reason recorded by the supervisor, waits for the monitor's hard-limit
// event.
const hardLimitWait = 100 * time.Millisecond

// awaitHardLimit gives the monitor's hard-limit event time to arrive when
// SIGKILL ended the run for no known reason: the eBPF monitor kills the
// allocating process in the kernel, and the supervisor can see it die
// before it reads the event.
func (r *run) awaitHardLimit(status initproc.Status, initErr error) {
	r.c.mu.Lock()
	known := r.c.reason != ""
	r.c.mu.Unlock()
	if known || !killedBySIGKILL(status, initErr) {
		return
	}
	select {
	case <-r.hardLimit:
	case <-time.After(hardLimitWait):
	}
}

func killedBySIGKILL(status initproc.Status, initErr error) bool {
	if ws := status.WaitStatus; ws != nil {
		return ws.Signaled() && ws.Signal() == syscall.SIGKILL
	}
	var ee *exec.ExitError
	if errors.As(initErr, &ee) {
		ws, ok := ee.Sys().(syscall.WaitStatus)
		return ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL
	}
	return false
}

// readReports reads the init's reports until it closes the pipe, marks
// it ready and the command started, and keeps the last report.
func (r *run) readReports() {
	defer close(r.reports)
	defer r.statusR.Close()
	readyOnce := sync.OnceFunc(func() { close(r.ready) })
	startedOnce := sync.OnceFunc(func() { close(r.started) })
	defer startedOnce()
	defer readyOnce()
	// An init older than the protocol never reports started: its start
	// is taken as done at ready, as it was before.
	ready := func(version int) {
		if version < initproc.Version {
			r.c.sup.log.Warn("container init is older than this supervisor: rebuild it with make",
				"container", r.c.name, "init", r.c.sup.cfg.InitPath,
				"protocol", version, "want", initproc.Version)
			r.execOK = true
			startedOnce()
		}
		readyOnce()
	}
	if r.sawReady {
		ready(r.version) // a prestarted init, whose report the pool read
	}
	for {
		line, err := r.status.ReadString('\n')
		if errors.Is(err, io.EOF) && line == "" {
			return
		}
		if err != nil && !errors.Is(err, io.EOF) {
			r.c.sup.log.Error("read init report", "container", r.c.name, "err", err)
			return
		}
		st, err := initproc.ParseStatus(line)
		if err != nil {
			r.c.sup.log.Error("read init report", "container", r.c.name, "err", err)
			return
		}
		switch {
		case st.Ready:
			ready(st.Version)
		case st.Started:
			r.execOK = true
			startedOnce()
		default:
			r.final = st
		}
	}
}

// exitState derives the container's final state from the init's report
// or, when there is none, from how the init itself ended.
func (r *run) exitState(status initproc.Status, initErr error, reason string) State {
	switch {
	case status.WaitStatus != nil:
		return exitState(*status.WaitStatus, reason)
	case status.Error != "":
		r.c.sup.log.Error("command did not start", "container", r.c.name, "err", status.Error)
		return State{Phase: Exited, Code: status.Code, Reason: ReasonStartFailed}
	}
	var ee *exec.ExitError
	if errors.As(initErr, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok {
			if !ws.Signaled() && reason == "" {
				reason = ReasonStartFailed // the init failed before the command ran
			}
			return exitState(ws, reason)
		}
	}
	if initErr != nil {
		r.c.sup.log.Error("wait for init", "container", r.c.name, "err", initErr)
	}
	return State{Phase: Exited, Code: 127, Reason: ReasonStartFailed}
}

// signal sends sig to the container: SIGKILL to every task through the
// cgroup, SIGSTOP to the command, and any other signal to the init, which
// passes it to the command. The init cannot catch SIGSTOP, which would
// stop it and leave the command running.
func (r *run) signal(sig syscall.Signal) error {
	if sig == syscall.SIGKILL {
		return r.killAll()
	}
	<-r.ready
	target := r.pid
	if sig == syscall.SIGSTOP {
		pid, err := commandPID(r.pid)
		if err != nil {
			return fmt.Errorf("send %s to %s: %w", SignalName(sig), r.c.name, err)
		}
		target = pid
	}
	if err := unix.Kill(target, sig); err != nil {
		return fmt.Errorf("send %s to %s: %w", SignalName(sig), r.c.name, err)
	}
	return nil
}

func (r *run) killAll() error {
	if err := r.cg.kill(); err != nil {
		unix.Kill(r.pid, unix.SIGKILL)
		return err
	}
	return nil
}

// terminate sends SIGTERM and arms SIGKILL after grace.
func (r *run) terminate(grace time.Duration) {
	<-r.ready
	if err := unix.Kill(r.pid, unix.SIGTERM); err != nil && !errors.Is(err, unix.ESRCH) {
		r.c.sup.log.Error("send SIGTERM", "container", r.c.name, "err", err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	deadline := time.Now().Add(grace)
	if r.killTimer != nil {
		if !deadline.Before(r.killDeadline) {
			return // an earlier stop's deadline is kept unless this one is sooner
		}
		r.killTimer.Stop()
	}
	r.killDeadline = deadline
	r.killTimer = time.AfterFunc(grace, func() {
		r.c.sup.log.Warn("grace time over, killing", "container", r.c.name, "grace", grace)
		if err := r.killAll(); err != nil {
			r.c.sup.log.Error("kill after grace time", "container", r.c.name, "err", err)
		}
	})
}

func (r *run) stopKillTimer() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.killTimer != nil {
		r.killTimer.Stop()
	}
}

// commandPID returns the host PID of the command of the init initPID: the
// child of the init that started first. Every other child is an orphan
// that descends from the command, so it started later. It fails with
// ErrNotRunning when the init has no child, before the command starts or
// after it was reaped.
func commandPID(initPID int) (int, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", initPID, initPID))
	if err != nil {
		return 0, fmt.Errorf("list the init's children: %w", err)
	}
	first, firstStart := 0, uint64(0)
	for _, field := range strings.Fields(string(data)) {
		pid, err := strconv.Atoi(field)
		if err != nil {
			continue
		}
		start, err := startTime(pid)
		if err != nil {
			continue // it has been reaped meanwhile
		}
		if first == 0 || start < firstStart {
			first, firstStart = pid, start
		}
	}
	if first == 0 {
		return 0, fmt.Errorf("the command is not running: %w", ErrNotRunning)
	}
	return first, nil
}

// startTime returns the start time of process pid in clock ticks after
// boot, field 22 of /proc/PID/stat.
func startTime(pid int) (uint64, error) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	// The command name, field 2, may contain spaces and parentheses, and
	// ends at the last ')'.
	i := strings.LastIndexByte(string(data), ')')
	if i < 0 {
		return 0, fmt.Errorf("invalid /proc/%d/stat", pid)
	}
	fields := strings.Fields(string(data[i+1:]))
	if len(fields) < 20 {
		return 0, fmt.Errorf("invalid /proc/%d/stat", pid)
	}
	return strconv.ParseUint(fields[19], 10, 64)
}
