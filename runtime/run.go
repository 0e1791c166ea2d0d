package runtime

import (
	"bufio"
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
	c   *Container
	cmd *exec.Cmd
	pid int
	cg  *cgroup

	statusR *os.File // the init's reports
	// ready is closed when the init catches signals, or has exited.
	ready chan struct{}
	// joined is closed when the init is in all its cgroups, or has exited.
	joined chan struct{}
	// final is the init's last report.
	final initproc.Status
	// hardLimit is closed when the monitor reports the hard limit crossed.
	hardLimit     chan struct{}
	hardLimitOnce sync.Once
	// reports is closed after the init's last report.
	reports chan struct{}
	// released is closed once the run's cgroups are removed, after the
	// container has moved to Exited.
	released chan struct{}
	deathW   *os.File // held open while the supervisor lives
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
	if strings.ContainsAny(rootfs, ",:") {
		return initproc.Config{}, fmt.Errorf(
			"rootfs %q: overlayfs cannot use a path with ',' or ':': %w", rootfs, ErrInvalid)
	}
	layer, err := prepareLayer(c.sup.cfg.StateDir, c.name)
	if err != nil {
		return initproc.Config{}, err
	}
	return initproc.Config{
		Name: c.name, Rootfs: rootfs, Layer: layer, Path: prog, Argv: argv,
		Env: env, Nice: c.nice, NewNet: c.net == NetNone,
		LogName: filepath.Base(c.log.path),
	}, nil
}

// spawn creates the cgroups and pipes and starts the init in new PID, UTS,
// mount and IPC namespaces, inside the v2 cgroup from its first
// instruction. The init joins the v1 cgroups itself.
func (c *Container) spawn(cfg initproc.Config) (*run, error) {
	cg, err := c.sup.cgroup.create(c.name)
	if err != nil {
		return nil, err
	}
	r := &run{c: c, cg: cg, ready: make(chan struct{}), joined: make(chan struct{}),
		reports: make(chan struct{}), released: make(chan struct{}),
		hardLimit: make(chan struct{})}
	r.cpuFinal.Store(-1)
	if cfg.Cgroups, err = r.prepareGroups(c.limits, c.nice); err != nil {
		cg.destroy()
		return nil, fmt.Errorf("start %s: %w", c.name, err)
	}
	cfg.Autogroup = r.autogroup
	p, err := newInitPipes(filepath.Dir(c.log.path))
	if err != nil {
		cg.destroy()
		return nil, err
	}
	defer p.closeChildEnds()

	cmd := exec.Command(c.sup.cfg.InitPath)
	if c.sup.cfg.InitPath == selfExe {
		cmd.Args = append(cmd.Args, InitArg)
	}
	cmd.Args[0] = "ctlfs-init"
	cmd.Stdin = p.devNull
	cmd.Stdout, cmd.Stderr = p.logW, p.logW
	cmd.ExtraFiles = []*os.File{p.configR, p.statusW, p.deathR, p.logRInit, p.logDir}
	// One thread runs the init's work; more only cost start time and
	// memory, which counts against the container.
	cmd.Env = []string{"GOMAXPROCS=1"}
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags:  namespaceFlags(cfg.NewNet),
		Setsid:      true,
		Pdeathsig:   syscall.SIGKILL,
		UseCgroupFD: true,
		CgroupFD:    cg.fd,
	}
	// The monitor watches the cgroup while it is still empty, which
	// spares it the search for processes already in it, a walk over
	// every task of the host. The init is charged from the exec of
	// ctlfs-init on: before it, os/exec's child runs on the supervisor's
	// memory (CLONE_VM, no user namespace here), which the monitor
	// charges to the supervisor's cgroup.
	if err := r.watchMemory(c.limits); err != nil {
		p.closeParentEnds()
		cg.destroy()
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		r.unwatchMemory()
		p.closeParentEnds()
		cg.destroy()
		return nil, fmt.Errorf("start init of %s: %w", c.name, err)
	}
	r.cmd, r.pid = cmd, cmd.Process.Pid
	r.statusR, r.deathW = p.statusR, p.deathW
	// The init waits for its configuration, so it has not started the
	// command before it is in all its cgroups.
	if err := r.watchInit(c.limits, c.nice); err != nil {
		r.unwatchMemory()
		cg.kill()
		p.closeParentEnds()
		cmd.Wait()
		cg.destroy()
		return nil, fmt.Errorf("start %s: %w", c.name, err)
	}

	// The init reads its configuration before anything else; a failed
	// write means it died, which wait reports.
	if _, err := p.configW.Write(initproc.MarshalConfig(&cfg)); err != nil {
		c.sup.log.Error("send init configuration", "container", c.name, "err", err)
	}
	p.configW.Close()

	drained := pumpLog(p.logR, c.log, func(err error) {
		c.sup.log.Error("copy log", "container", c.name, "err", err)
	})
	go r.readReports()
	go r.wait(drained)
	// The init's report pipe reaches EOF, which ends the wait below if
	// the init dies before it joins, only once the supervisor's copy of
	// the write end is closed too.
	p.closeChildEnds()
	// A container's processes are in its cgroups once the write that
	// starts it returns.
	<-r.joined
	return r, nil
}

// namespaceFlags returns the namespaces a container's init is cloned in.
func namespaceFlags(newNet bool) uintptr {
	flags := uintptr(unix.CLONE_NEWPID | unix.CLONE_NEWUTS | unix.CLONE_NEWNS | unix.CLONE_NEWIPC)
	if newNet {
		flags |= unix.CLONE_NEWNET
	}
	return flags
}

// initPipes are the descriptors between the supervisor and an init.
type initPipes struct {
	devNull    *os.File
	logR, logW *os.File
	// logRInit is the init's read end of the log pipe, to drain it if the
	// supervisor dies. It is a second open file description of the pipe:
	// os/exec makes the descriptors it passes blocking, and on logR that
	// would cost the supervisor a thread per container, blocked in read.
	logRInit         *os.File
	logDir           *os.File // STATE_DIR/logs, for the init to save the log
	configR, configW *os.File
	statusR, statusW *os.File
	deathR, deathW   *os.File
}

func newInitPipes(logDir string) (*initPipes, error) {
	p := new(initPipes)
	var err error
	if p.devNull, err = os.Open(os.DevNull); err != nil {
		return nil, err
	}
	if p.logDir, err = os.Open(logDir); err != nil {
		p.devNull.Close()
		return nil, err
	}
	pairs := []struct{ r, w **os.File }{
		{&p.logR, &p.logW}, {&p.configR, &p.configW},
		{&p.statusR, &p.statusW}, {&p.deathR, &p.deathW},
	}
	for _, pair := range pairs {
		if *pair.r, *pair.w, err = os.Pipe(); err != nil {
			p.closeChildEnds()
			p.closeParentEnds()
			return nil, fmt.Errorf("create pipe: %w", err)
		}
	}
	if p.logRInit, err = reopen(p.logR); err != nil {
		p.closeChildEnds()
		p.closeParentEnds()
		return nil, fmt.Errorf("reopen log pipe: %w", err)
	}
	return p, nil
}

// reopen opens a second file description of the pipe f, through /proc,
// without calling f.Fd, which would make f blocking.
func reopen(f *os.File) (*os.File, error) {
	conn, err := f.SyscallConn()
	if err != nil {
		return nil, err
	}
	var path string
	conn.Control(func(fd uintptr) { path = "/proc/self/fd/" + strconv.Itoa(int(fd)) })
	return os.OpenFile(path, os.O_RDONLY, 0)
}

// closeChildEnds closes the supervisor's copies of the init's ends.
func (p *initPipes) closeChildEnds() {
	for _, f := range []*os.File{p.devNull, p.logDir, p.logW, p.logRInit, p.configR, p.statusW, p.deathR} {
		if f != nil {
			f.Close()
		}
	}
}

func (p *initPipes) closeParentEnds() {
	for _, f := range []*os.File{p.logR, p.configW, p.statusR, p.deathW} {
		if f != nil {
			f.Close()
		}
	}
}

// wait collects the command's status and the init's, waits for the log to
// drain, and moves the container to Exited. The cgroup is removed after
// that, so that a reader of wait does not wait for it: every process of
// the container has exited once the init is reaped.
func (r *run) wait(logDrained <-chan struct{}) {
	<-r.reports
	status := r.final
	initErr := r.cmd.Wait()
	r.awaitHardLimit(status, initErr)
	<-logDrained
	r.stopKillTimer()
	r.deathW.Close()
	// The CPU time is final: the init, the namespace's PID 1, has exited,
	// and every task with it.
	r.saveCPUTime()
	r.finish(status, initErr)
	r.release()
}

// finish records the end of the run in the container's state and events.
func (r *run) finish(status initproc.Status, initErr error) {
	c := r.c
	c.mu.Lock()
	defer c.mu.Unlock()
	st := r.exitState(status, initErr, c.reason)
	if st.Reason == ReasonKill && c.killSignal != syscall.SIGKILL && st.Signal != c.killSignal {
		st.Reason = "" // the signal from kill did not end the command
	}
	st.Started = c.state.Started
	st.Exited = time.Now()
	c.state = st
	c.persistLocked()
	close(c.exited)
	fields := []string{"code=" + strconv.Itoa(st.Code)}
	fields = append(fields, st.exitFields()...)
	c.emit("exited", fields...)
	c.sup.log.Info("container exited", "container", c.name, "state", st.String())
}

// release stops the memory accounting of a finished run and removes its
// cgroups, then closes released.
func (r *run) release() {
	defer close(r.released)
	begin := time.Now()
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
// it ready and joined, and keeps the last report.
func (r *run) readReports() {
	defer close(r.reports)
	defer r.statusR.Close()
	readyOnce := sync.OnceFunc(func() { close(r.ready) })
	defer readyOnce()
	joinedOnce := sync.OnceFunc(func() { close(r.joined) })
	defer joinedOnce()
	rd := bufio.NewReader(r.statusR)
	for {
		line, err := rd.ReadString('\n')
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
			readyOnce()
		case st.Joined:
			joinedOnce()
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
// cgroup, any other signal to the init, which passes it to the command.
func (r *run) signal(sig syscall.Signal) error {
	if sig == syscall.SIGKILL {
		return r.killAll()
	}
	<-r.ready
	if err := unix.Kill(r.pid, sig); err != nil {
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
