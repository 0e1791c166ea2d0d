package runtime

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"

	"ctlfs/runtime/initproc"
)

// initProc is a started init that waits for its configuration: its
// process, its cgroup and the supervisor's ends of the pipes to it.
type initProc struct {
	cmd *exec.Cmd
	pid int
	cg  *cgroup

	configW *os.File      // the configuration, then end of file
	statusR *os.File      // the init's reports
	status  *bufio.Reader // reads statusR
	logR    *os.File      // the container's output
	logCopy *copyPipe     // between logR and the log
	// sawReady is set once the init's ready report was read from status,
	// and version is the protocol version it carried.
	sawReady bool
	version  int
	// prestarted is set when the init was started before the container
	// that took it (see prestartPool).
	prestarted bool
}

// startInit starts an init in new PID, UTS, mount and IPC namespaces, and
// a new network namespace when newNet is set, inside the v2 cgroup cg
// from its first instruction. The init, which has one thread, joins the
// v1 pids cgroup before it reports ready, then waits for its configuration.
func (s *Supervisor) startInit(cg *cgroup, newNet bool) (*initProc, error) {
	tasks, err := cg.openTasks()
	if err != nil {
		return nil, err
	}
	p, err := newInitPipes(filepath.Join(s.cfg.StateDir, "logs"))
	if err != nil {
		closeFile(tasks)
		return nil, err
	}
	defer p.closeChildEnds()
	defer closeFile(tasks)

	cmd := exec.Command(s.cfg.InitPath)
	cmd.Args[0] = "ctlfs-init"
	cmd.Stdin = p.devNull
	cmd.Stdout, cmd.Stderr = p.logW, p.logW
	cmd.ExtraFiles = []*os.File{p.configR, p.statusW, s.deathR, p.logRInit, p.logDir, p.logCopy.initEnd}
	cmd.Env = []string{}
	if tasks != nil {
		fd := 3 + len(cmd.ExtraFiles)
		cmd.ExtraFiles = append(cmd.ExtraFiles, tasks)
		cmd.Env = append(cmd.Env, initproc.TasksEnv+"="+strconv.Itoa(fd))
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags:  namespaceFlags(newNet),
		Setsid:      true,
		Pdeathsig:   syscall.SIGKILL,
		UseCgroupFD: true,
		CgroupFD:    cg.fd,
	}
	err = cmd.Start()
	// Only the clone needed it, and each descriptor the supervisor holds
	// makes every later clone and exec slower.
	cg.closeFD()
	if err != nil {
		p.closeParentEnds()
		return nil, fmt.Errorf("start init: %w", err)
	}
	return &initProc{
		cmd: cmd, pid: cmd.Process.Pid, cg: cg,
		configW: p.configW, statusR: p.statusR, status: bufio.NewReader(p.statusR),
		logR: p.logR, logCopy: p.logCopy,
	}, nil
}

// newDeathPipe returns the ends of a new death pipe. Every init shares the
// read end and only polls it, so the pipe stays in blocking mode, as
// os/exec sets every file it passes.
func newDeathPipe() (*os.File, *os.File, error) {
	var fds [2]int
	if err := unix.Pipe2(fds[:], unix.O_CLOEXEC); err != nil {
		return nil, nil, fmt.Errorf("create death pipe: %w", err)
	}
	return os.NewFile(uintptr(fds[0]), "death"), os.NewFile(uintptr(fds[1]), "death"), nil
}

func closeFile(f *os.File) {
	if f != nil {
		f.Close()
	}
}

// discard ends an init that has not started a command, waits for it and
// removes its cgroup.
func (ip *initProc) discard() error {
	ip.cg.kill()
	for _, f := range []*os.File{ip.configW, ip.statusR, ip.logR} {
		f.Close()
	}
	ip.logCopy.close()
	ip.cmd.Wait()
	return ip.cg.destroy()
}

// alive reports whether the init still waits: its status pipe has neither
// data nor end of file to read.
func (ip *initProc) alive() bool {
	if ip.status.Buffered() > 0 {
		return false
	}
	conn, err := ip.statusR.SyscallConn()
	if err != nil {
		return false
	}
	n := -1
	// Control, unlike Fd, leaves the pipe non-blocking for the poller.
	conn.Control(func(fd uintptr) {
		n, err = unix.Poll([]unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}, 0)
	})
	return err == nil && n == 0
}

// readReady reads the init's first report, which it sends once it blocks
// every signal to forward it to the command.
func (ip *initProc) readReady() error {
	line, err := ip.status.ReadString('\n')
	if err != nil {
		return fmt.Errorf("read init report: %w", err)
	}
	st, err := initproc.ParseStatus(line)
	if err != nil {
		return err
	}
	if !st.Ready {
		return fmt.Errorf("init reported %q before it was ready", line)
	}
	ip.sawReady, ip.version = true, st.Version
	return nil
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
	// logRInit is the init's read end of the log pipe, a separate open
	// file of it (see newInitPipes).
	logRInit         *os.File
	logDir           *os.File // STATE_DIR/logs, for the init to save the log
	logCopy          *copyPipe
	configR, configW *os.File
	statusR, statusW *os.File
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
		{&p.statusR, &p.statusW},
	}
	for _, pair := range pairs {
		if *pair.r, *pair.w, err = os.Pipe(); err != nil {
			p.closeChildEnds()
			p.closeParentEnds()
			return nil, fmt.Errorf("create pipe: %w", err)
		}
	}
	growPipe(p.logR)
	// os/exec puts every file it passes into blocking mode, a flag of
	// the open file that descriptors from dup share. The supervisor's
	// read end must stay non-blocking, or each container's log copy
	// holds a thread blocked in read, so the init gets its own open file.
	if p.logRInit, err = reopen(p.logR); err != nil {
		p.closeChildEnds()
		p.closeParentEnds()
		return nil, fmt.Errorf("open log pipe: %w", err)
	}
	if p.logCopy, err = newCopyPipe(); err != nil {
		p.closeChildEnds()
		p.closeParentEnds()
		return nil, err
	}
	return p, nil
}

// logPipeSize is the capacity requested for a container's output pipe.
// With the default of 64 KiB the writer waited for the supervisor more
// often. As an indication, from a shell loop of seven 1 GiB runs each
// rather than make bench: 0.35 to 0.55 GiB/s against 1.57 to 1.72 with
// 256 KiB, 1.03 to 1.30 with 128 KiB, 0.98 to 1.57 with 1 MiB. The kernel
// allocates a pipe's pages only while they hold data. An idle container's
// larger pipe costs its array of 64 buffer slots, about 2.5 KiB, and
// counts against the user's pipe quota, which binds only users without
// CAP_SYS_RESOURCE or CAP_SYS_ADMIN.
const logPipeSize = 256 << 10

// growPipe sets the capacity of the pipe f to logPipeSize where it can.
// A pipe that cannot grow, past /proc/sys/fs/pipe-max-size or the
// user's pipe quota, keeps its default, which works, only slower.
func growPipe(f *os.File) {
	if conn, err := f.SyscallConn(); err == nil {
		conn.Control(func(fd uintptr) {
			unix.FcntlInt(fd, unix.F_SETPIPE_SZ, logPipeSize)
		})
	}
}

// reopen opens the file that f is open on again, through /proc, as a new
// open file for reading. Unlike f.Fd, SyscallConn leaves f non-blocking.
func reopen(f *os.File) (*os.File, error) {
	conn, err := f.SyscallConn()
	if err != nil {
		return nil, err
	}
	var path string
	conn.Control(func(fd uintptr) { path = fmt.Sprintf("/proc/self/fd/%d", fd) })
	return os.Open(path)
}

// closeChildEnds closes the supervisor's copies of the init's ends.
func (p *initPipes) closeChildEnds() {
	for _, f := range []*os.File{p.devNull, p.logDir, p.logW, p.logRInit, p.configR, p.statusW} {
		if f != nil {
			f.Close()
		}
	}
	if p.logCopy != nil {
		p.logCopy.closeInitEnd()
	}
}

func (p *initPipes) closeParentEnds() {
	for _, f := range []*os.File{p.logR, p.configW, p.statusR} {
		if f != nil {
			f.Close()
		}
	}
	if p.logCopy != nil {
		p.logCopy.close()
	}
}
