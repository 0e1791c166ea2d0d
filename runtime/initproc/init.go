package initproc

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	goruntime "runtime"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Run is the container's init: the supervisor starts ctlfs-init, or
// re-executes its own binary with Arg, in new namespaces, and main calls
// Run before anything else. It builds the container's root, starts the command, stays PID 1 to
// reap orphans and forward signals, and reports the command's raw wait
// status to the supervisor. It never returns; when it exits, the kernel
// kills every other process of the PID namespace.
func Run() {
	// The process's first thread, whose cgroups /proc/PID/cgroup shows,
	// joins the container's v1 cgroup before anything else. Main runs on
	// it until it first waits.
	tasks, err := tasksFD()
	if err != nil {
		initFail(127, "%v", err)
	}
	goruntime.LockOSThread()
	if err := joinCgroup(tasks); err != nil {
		initFail(127, "%v", err)
	}
	goruntime.UnlockOSThread()
	// Catch signals before the rest: the Go runtime's default action for
	// SIGTERM re-raises it, which a PID namespace's init ignores, and then
	// exits with status 2. Signals that arrive before the command starts
	// wait in the channel and are forwarded to it.
	//
	// No thread is locked meanwhile. Notify makes a round trip to the
	// runtime's signal mask thread for each signal, and from a locked
	// thread every round trip hands the processor over twice. As an
	// indication, in a test program on a 2-CPU VM, Notify without the lock
	// took the start from 4.7 to 3.3 ms of CPU time and 8 to 6 threads.
	signal.Notify(forwarded, forwardedSignals()...)
	// The cgroups this thread joins, its capabilities, no_new_privs and
	// nice apply to it alone, and the command inherits them only when
	// this thread forks it: keep all the work on it. After Notify it is
	// seldom the first thread, so it joins the v1 cgroup too.
	goruntime.LockOSThread()
	if err := joinCgroup(tasks); err != nil {
		initFail(127, "%v", err)
	}
	if tasks >= 0 {
		unix.Close(tasks)
	}
	// Nothing mounted from here on may propagate back to the host. This
	// needs no configuration, so it is done before it arrives.
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		initFail(127, "make / private: %v", err)
	}
	reportStatus(Status{Ready: true})
	// /proc/self/comm is the name of the first thread, which ps shows.
	os.WriteFile("/proc/self/comm", []byte(initName0), 0)
	cfg, err := readInitConfig()
	if err != nil {
		initFail(127, "read configuration: %v", err)
	}
	go watchSupervisor(cfg.LogName)
	if err := setupRoot(cfg); err != nil {
		initFail(127, "%v", err)
	}
	if err := awaitStart(); err != nil {
		initFail(127, "%v", err)
	}
	pid, code, err := startCommand(cfg)
	if err != nil {
		initFail(code, "%v", err)
	}
	go forwardSignals(pid)
	reapUntil(pid)
}

// init clears the parent-death signal that the supervisor sets on the
// init's main thread, so that at the supervisor's death the init can save
// the unread log before it exits. The death pipe covers that death from
// here on, even one that comes before watchSupervisor runs: its end of
// file stays. Package initialisers run on the main thread, the one that
// carries the signal, which main.main may not.
func init() {
	if len(os.Args) > 0 && os.Args[0] == initName0 {
		unix.Prctl(unix.PR_SET_PDEATHSIG, 0, 0, 0, 0)
	}
}

// initName0 is the init's argv[0], which the supervisor sets, and its
// command name in ps.
const initName0 = "ctlfs-init"

// configPipe reads the pipe from the supervisor: the configuration, then
// end of file once the command may start.
var configPipe = bufio.NewReader(os.NewFile(ConfigFD, "config"))

func readInitConfig() (*Config, error) { return ReadConfig(configPipe) }

// awaitStart waits for the end of the configuration pipe. The supervisor
// closes it once the init is in the container's cgroups and the memory
// monitor accounts it, which it does while the init builds the root.
func awaitStart() error {
	_, err := configPipe.ReadByte()
	switch {
	case err == nil:
		return errors.New("read configuration: unexpected data after the end field")
	case err != io.EOF:
		return fmt.Errorf("read configuration: %w", err)
	}
	return nil
}

// watchSupervisor exits the init, and so kills the container, when the
// supervisor dies: the death pipe's write end closes with it. Every init
// reads the same pipe, which the supervisor also closes once Shutdown is
// done. This covers what Pdeathsig misses, since Pdeathsig fires when the
// thread that forked exits, not the process.
func watchSupervisor(logName string) {
	// A non-blocking pipe is read through the runtime's poller, which
	// spares the init a thread blocked in read.
	unix.SetNonblock(DeathFD, true)
	f := os.NewFile(DeathFD, "death")
	var b [1]byte
	f.Read(b[:])
	if finished.Load() {
		// The run is over and the init is exiting: its log may be gone
		// already.
		select {}
	}
	supervisorGone.Store(true)
	unix.Kill(-1, unix.SIGKILL)
	saveLog(logName)
	os.Exit(137)
}

// finished is set before the init reports that it is alone, after which
// the supervisor ends the run without waiting for the init's exit.
var finished atomic.Bool

// supervisorGone is set once the supervisor has died; from then on the
// watcher, not the reaper, ends the init, after it has saved the log.
var supervisorGone atomic.Bool

// saveLog appends to the log what the container wrote to its output pipe
// and the dead supervisor never read. It closes the init's own write
// ends, 1 and 2, and reads until the killed processes have closed theirs,
// or for one second at most.
func saveLog(logName string) {
	unix.Close(1)
	unix.Close(2)
	if logName == "" {
		return
	}
	// O_CREAT, because the supervisor creates the log at its first byte.
	// A removed container's log is not made again: a container is removed
	// only once its run is over, and then finished stops the watcher
	// before it gets here.
	out, err := unix.Openat(LogDirFD, logName, unix.O_WRONLY|unix.O_APPEND|unix.O_CREAT|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return
	}
	defer unix.Close(out)
	buf := make([]byte, 64<<10)
	fds := []unix.PollFd{{Fd: LogPipeFD, Events: unix.POLLIN}}
	for deadline := time.Now().Add(time.Second); time.Now().Before(deadline); {
		if n, err := unix.Poll(fds, 100); n <= 0 && err != unix.EINTR {
			continue
		}
		n, err := unix.Read(LogPipeFD, buf)
		if n <= 0 && err != unix.EINTR {
			return // end of file: every writer is gone
		}
		if n > 0 {
			unix.Write(out, buf[:n])
		}
	}
}

// joinCgroup moves the calling thread into the cgroup v1 directory whose
// tasks file is open on descriptor tasks, unless tasks is -1. The command,
// which the thread that joined last forks, and all its descendants start
// there. A thread that moves itself does not make the kernel wait for an
// RCU grace period, as moving a whole process does
// (cgroup_procs_write_start in kernel/cgroup/cgroup.c).
func joinCgroup(tasks int) error {
	if tasks < 0 {
		return nil
	}
	if _, err := unix.Write(tasks, []byte("0")); err != nil {
		return fmt.Errorf("join pids cgroup: %w", err)
	}
	return nil
}

// tasksFD returns the descriptor that TasksEnv names, or -1 when it is
// not set.
func tasksFD() (int, error) {
	value := os.Getenv(TasksEnv)
	if value == "" {
		return -1, nil
	}
	fd, err := strconv.Atoi(value)
	if err != nil {
		return -1, fmt.Errorf("invalid %s %q", TasksEnv, value)
	}
	return fd, nil
}

// initFail reports a command that could not start and exits.
func initFail(code int, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	fmt.Fprintf(os.Stderr, "ctlfs-init: %s\n", msg)
	reportStatus(Status{Error: msg, Code: code})
	os.Exit(code)
}

// statusPipe carries the init's reports to the supervisor.
var statusPipe = os.NewFile(StatusFD, "status")

func reportStatus(st Status) {
	statusPipe.WriteString(st.Line())
}

// setupRoot makes the rootfs the container's /, with a fresh /proc and a
// minimal /dev, and detaches the host's root.
func setupRoot(cfg *Config) error {
	if err := unix.Sethostname([]byte(cfg.Name)); err != nil {
		return fmt.Errorf("set hostname: %w", err)
	}
	root, err := mountRoot(cfg)
	if err != nil {
		return err
	}
	if err := setupDev(filepath.Join(root, "dev")); err != nil {
		return err
	}
	if err := pivotRoot(root); err != nil {
		return err
	}
	if err := unix.Mount("proc", "/proc", "proc",
		unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		return fmt.Errorf("mount /proc: %w", err)
	}
	if err := restrictProc(); err != nil {
		return err
	}
	if cfg.NewNet {
		if err := bringUpLoopback(); err != nil {
			return err
		}
	}
	return dropPrivileges()
}

// mountRoot mounts the container's root on the rootfs's own path, in the
// init's mount namespace: the overlay of the private layer on the rootfs
// or, without a layer, a bind mount of the rootfs. The overlay finds its
// lower directory before its mount covers it, so the layer needs no
// directory to mount on. It returns the host path of the mount.
func mountRoot(cfg *Config) (string, error) {
	root := cfg.Rootfs
	if l := cfg.Layer; l != nil {
		opts := "lowerdir=" + root + ",upperdir=" + l.Upper + ",workdir=" + l.Work
		if err := unix.Mount("overlay", root, "overlay", 0, opts); err != nil {
			return "", fmt.Errorf("mount overlay of %s with layer %s: %w", root, l.Upper, err)
		}
		return root, nil
	}
	if err := unix.Mount(root, root, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return "", fmt.Errorf("bind mount rootfs %s: %w", root, err)
	}
	return root, nil
}

// devNodes are the host devices made again in the container's /dev.
var devNodes = []string{"null", "zero", "full", "random", "urandom", "tty"}

// setupDev mounts a tmpfs on dev with the usual harmless devices, a
// private devpts, /dev/shm and the standard symbolic links.
func setupDev(dev string) error {
	if err := unix.Mount("tmpfs", dev, "tmpfs", unix.MS_NOSUID|unix.MS_NOEXEC,
		"mode=755,size=65536k"); err != nil {
		return fmt.Errorf("mount tmpfs on %s (does the rootfs have /dev?): %w", dev, err)
	}
	for _, name := range devNodes {
		if err := copyDevice("/dev/"+name, filepath.Join(dev, name)); err != nil {
			return err
		}
	}
	for _, dir := range []string{"pts", "shm"} {
		if err := os.Mkdir(filepath.Join(dev, dir), 0o755); err != nil {
			return fmt.Errorf("create %s/%s: %w", dev, dir, err)
		}
	}
	if err := unix.Mount("devpts", filepath.Join(dev, "pts"), "devpts",
		unix.MS_NOSUID|unix.MS_NOEXEC, "newinstance,ptmxmode=0666,mode=620"); err != nil {
		return fmt.Errorf("mount devpts: %w", err)
	}
	if err := unix.Mount("shm", filepath.Join(dev, "shm"), "tmpfs",
		unix.MS_NOSUID|unix.MS_NODEV, "mode=1777,size=65536k"); err != nil {
		return fmt.Errorf("mount /dev/shm: %w", err)
	}
	links := [][2]string{
		{"/proc/self/fd", "fd"}, {"/proc/self/fd/0", "stdin"},
		{"/proc/self/fd/1", "stdout"}, {"/proc/self/fd/2", "stderr"},
		{"pts/ptmx", "ptmx"},
	}
	for _, l := range links {
		if err := os.Symlink(l[0], filepath.Join(dev, l[1])); err != nil {
			return fmt.Errorf("create /dev/%s: %w", l[1], err)
		}
	}
	return nil
}

// copyDevice makes a device node at dst with the type, number and mode
// of the host's src. A node costs the tmpfs an inode, where a bind mount
// of src costs a mount, which every later copy of the mount table walks.
func copyDevice(src, dst string) error {
	var st unix.Stat_t
	if err := unix.Stat(src, &st); err != nil {
		return fmt.Errorf("stat %s: %w", src, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFCHR {
		return fmt.Errorf("%s is not a character device", src)
	}
	if err := unix.Mknod(dst, st.Mode, int(st.Rdev)); err != nil {
		return fmt.Errorf("create %s: %w", dst, err)
	}
	// Mknod's mode is reduced by the umask.
	if err := unix.Chmod(dst, st.Mode&0o7777); err != nil {
		return fmt.Errorf("set the mode of %s: %w", dst, err)
	}
	return nil
}

// pivotRoot makes root the new / and detaches the old one. Stacking the
// old root under the new one (pivot_root(".", ".")) needs no directory for
// it inside the rootfs.
func pivotRoot(root string) error {
	if err := unix.Chdir(root); err != nil {
		return fmt.Errorf("enter rootfs: %w", err)
	}
	if err := unix.PivotRoot(".", "."); err != nil {
		return fmt.Errorf("pivot_root to %s: %w", root, err)
	}
	if err := unix.Unmount(".", unix.MNT_DETACH); err != nil {
		return fmt.Errorf("detach old root: %w", err)
	}
	return unix.Chdir("/")
}

// startCommand starts the command in a session of its own with only
// descriptors 0-2. On failure it returns the exit code to report: 127 when
// the program does not exist, 126 when it cannot be executed.
func startCommand(cfg *Config) (int, int, error) {
	if err := unix.Setpriority(unix.PRIO_PROCESS, 0, cfg.Nice); err != nil {
		return 0, 127, fmt.Errorf("set nice %d: %w", cfg.Nice, err)
	}
	// Every descriptor above 2, inherited or ours, closes at exec.
	if err := unix.CloseRange(3, ^uint(0), unix.CLOSE_RANGE_CLOEXEC); err != nil {
		return 0, 127, fmt.Errorf("mark descriptors close-on-exec: %w", err)
	}
	// The command's address space takes the setting of transparent huge
	// pages from this one at exec, and it gets the host's default.
	if !cfg.HugePagesOff {
		unix.Prctl(unix.PR_SET_THP_DISABLE, 0, 0, 0, 0)
	}
	pid, err := syscall.ForkExec(cfg.Path, cfg.Argv, &syscall.ProcAttr{
		Dir:   "/",
		Env:   cfg.Env,
		Files: []uintptr{0, 1, 2},
		Sys:   &syscall.SysProcAttr{Setsid: true},
	})
	unix.Prctl(unix.PR_SET_THP_DISABLE, 1, 0, 0, 0)
	if err != nil {
		code := 126
		if errors.Is(err, syscall.ENOENT) {
			code = 127
		}
		return 0, code, fmt.Errorf("exec %s: %w", cfg.Path, err)
	}
	if cfg.Autogroup && cfg.Nice != 0 {
		// The command's setsid made it a new autogroup of nice 0.
		SetAutogroupNice(pid, cfg.Nice)
	}
	return pid, 0, nil
}

// forwarded receives the signals that the init passes on to the command.
var forwarded = make(chan os.Signal, 32)

// forwardedSignals returns every signal but those that cannot be caught,
// SIGCHLD, which the reaper learns of from wait4, SIGPIPE and SIGURG, the
// Go runtime's preemption signal.
func forwardedSignals() []os.Signal {
	var sigs []os.Signal
	for sig := syscall.Signal(1); sig <= 64; sig++ {
		switch sig {
		case unix.SIGKILL, unix.SIGSTOP, unix.SIGCHLD, unix.SIGPIPE, unix.SIGURG:
			continue
		}
		sigs = append(sigs, sig)
	}
	return sigs
}

// forwardSignals passes every signal the init receives on to the command.
func forwardSignals(cmdPid int) {
	for sig := range forwarded {
		unix.Kill(cmdPid, sig.(syscall.Signal))
	}
}

// reapUntil reaps every child, the orphans the init inherits among them,
// and when the command has ended reports its wait status and exits. It
// waits in wait4, so a child's exit wakes this thread directly.
func reapUntil(cmdPid int) {
	for {
		var ws syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &ws, unix.WALL, nil)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			initFail(127, "wait for the command: %v", err)
		}
		if pid != cmdPid {
			continue
		}
		if supervisorGone.Load() {
			select {} // watchSupervisor saves the log and exits
		}
		alone := reapRest()
		finished.Store(alone)
		reportStatus(Status{WaitStatus: &ws, Alone: alone})
		if alone {
			// The supervisor need not wait for this process to exit, which
			// takes until each of its threads has run once more: the end
			// of file of the output and the status pipe shows that the
			// container has finished.
			unix.Close(1)
			unix.Close(2)
			statusPipe.Close()
		}
		os.Exit(0)
	}
}

// reapRest reaps the children that have exited and reports whether none
// is left. Every process of the PID namespace descends from the init, and
// one whose parent died becomes its child, so with no child the init is
// the only process of the container.
func reapRest() bool {
	for {
		var ws syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &ws, unix.WALL|unix.WNOHANG, nil)
		switch {
		case err == syscall.EINTR:
		case err == syscall.ECHILD:
			return true
		case err != nil || pid == 0:
			return false
		}
	}
}

// SetAutogroupNice sets the nice of the autogroup of task tid. The kernel
// takes a bare number; it fails harmlessly where autogroup is disabled.
func SetAutogroupNice(tid, n int) error {
	return os.WriteFile("/proc/"+strconv.Itoa(tid)+"/autogroup", []byte(strconv.Itoa(n)), 0)
}
