package fsys

import (
	"bufio"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	goruntime "runtime"
	"strings"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"

	"ctlfs/runtime"
)

// maxWrite is the largest FUSE read or write request, the kernel's limit
// since Linux 4.20.
const maxWrite = 1 << 20

// Options configure Mount.
type Options struct {
	// Logger receives rejected operations and errors; nil means the
	// supervisor's logger.
	Logger *slog.Logger
	// Monitor returns the content of the root's monitor file: "ebpf" or
	// "proc", then why and details. Nil means sup.MonitorStatus.
	Monitor func() string
	// Debug logs every FUSE request to Logger at debug level.
	Debug bool
}

// Mount serves the tree of sup on dir and returns the running server.
// Only the mounting user may access the tree. The caller unmounts it
// with Unmount.
func Mount(dir string, sup *runtime.Supervisor, opts Options) (*fuse.Server, error) {
	t := newTree(sup, opts)
	fsOpts := fsOptions(t.log, opts.Debug)
	raw := fs.NewNodeFS(newRootNode(t), fsOpts)
	server, err := fuse.NewServer(raw, dir, &fsOpts.MountOptions)
	if err != nil {
		return nil, fmt.Errorf("mount %s: %w", dir, err)
	}
	return serve(server, dir, t.log)
}

func fsOptions(log *slog.Logger, debug bool) *fs.Options {
	level := slog.LevelWarn
	if debug {
		level = slog.LevelDebug
	}
	fuseLog := slog.NewLogLogger(log.Handler(), level)
	zero := time.Duration(0)
	return &fs.Options{
		// Every value can change at any time, so the kernel caches no
		// attribute or missing entry. Lookups of names that exist set
		// their own entry timeout (see nameTimeout).
		AttrTimeout:     &zero,
		EntryTimeout:    &zero,
		NegativeTimeout: &zero,
		Logger:          fuseLog,
		MountOptions: fuse.MountOptions{
			FsName:      "ctlfs",
			Name:        "ctlfs",
			DirectMount: true,
			MaxWrite:    maxWrite,
			// Reads return bytes from memory, which splicing cannot
			// speed up; go-fuse v2.12.1 would try it for every read.
			DisableSplice: true,
			// The kernel passes O_TRUNC with OPEN instead of sending a
			// SETATTR after it: `echo x > file` is one request fewer.
			ExtraCapabilities: fuse.CAP_ATOMIC_O_TRUNC,
			Debug:             debug,
			Logger:            fuseLog,
		},
	}
}

// serve starts the server once /dev/fuse is closed on exec, and waits
// until the kernel has initialised the mount.
func serve(server *fuse.Server, dir string, log *slog.Logger) (*fuse.Server, error) {
	if err := closeFUSEOnExec(); err != nil {
		log.Error("set close-on-exec on /dev/fuse", "err", err)
		Unmount(server, dir, log)
		return nil, err
	}
	go server.Serve()
	// go-fuse's WaitMount has, with a direct mount, nothing left to do but
	// its poll probe, and that probe is unsafe: see probePoll.
	if err := probePoll(dir); err != nil {
		Unmount(server, dir, log)
		return nil, fmt.Errorf("wait for mount %s: %w", dir, err)
	}
	return server, nil
}

// closeFUSEOnExec sets close-on-exec on every descriptor of /dev/fuse.
// go-fuse's direct mount opens it without O_CLOEXEC (v2.12.1), so
// containers would inherit a descriptor with which they could reply to
// the kernel in the supervisor's place.
func closeFUSEOnExec() error {
	fds, err := fuseDescriptors()
	if err != nil {
		return err
	}
	for _, fd := range fds {
		unix.CloseOnExec(fd)
	}
	return nil
}

// fuseDescriptors returns the process's descriptors of /dev/fuse.
func fuseDescriptors() ([]int, error) {
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return nil, fmt.Errorf("list descriptors: %w", err)
	}
	var fds []int
	for _, e := range entries {
		target, err := os.Readlink(filepath.Join("/proc/self/fd", e.Name()))
		if err != nil || target != "/dev/fuse" {
			continue
		}
		var fd int
		if _, err := fmt.Sscan(e.Name(), &fd); err == nil {
			fds = append(fds, fd)
		}
	}
	if len(fds) == 0 {
		return nil, errors.New("find /dev/fuse descriptor: none open")
	}
	return fds, nil
}

// pollProbeName is the file that go-fuse serves for poll probes.
const pollProbeName = ".go-fuse-epoll-hack"

// probePoll waits until the kernel has initialised the mount and teaches
// it that the tree does not support poll(2), as go-fuse's WaitMount does.
// Otherwise a Go program that opens a file of its own mount, as the tests
// do, registers it with epoll, and the kernel's poll request can wait for
// a server thread that the runtime's poller holds.
//
// The probe opens and closes a file of the mount. If the process is
// killed in that moment, the flush at exit waits uninterruptibly for the
// process's own answer, and, while the file table with /dev/fuse stays
// open, the connection stays too: the process hangs. So the probe runs on
// a thread with a file table of its own, without /dev/fuse: there, the
// flush ends when the rest of the process exits and closes /dev/fuse,
// which aborts the connection.
func probePoll(dir string) error {
	fds, err := fuseDescriptors()
	if err != nil {
		return err
	}
	return probePollAway(dir, fds)
}

// probePollAway runs the probe on a thread other than the main one. Go
// ends a thread whose goroutine exits locked to it, with its file table,
// but wedges the main thread instead, whose file table must therefore stay
// the process's. When the goroutine lands on the main thread, it keeps it
// locked, so that the next goroutine lands elsewhere.
func probePollAway(dir string, fuseFDs []int) error {
	done := make(chan error, 1)
	go func() {
		goruntime.LockOSThread()
		if unix.Gettid() == unix.Getpid() {
			done <- probePollAway(dir, fuseFDs)
			goruntime.UnlockOSThread()
			return
		}
		// This thread is never unlocked, so it ends with the goroutine.
		done <- probePollOnThread(dir, fuseFDs)
	}()
	return <-done
}

// probePollOnThread runs the probe on the calling thread, which it gives
// a file table of its own without the descriptors fuseFDs. It makes only
// raw system calls there, none through package os and its poller.
func probePollOnThread(dir string, fuseFDs []int) error {
	if err := unix.Unshare(unix.CLONE_FILES); err != nil {
		return fmt.Errorf("unshare file table: %w", err)
	}
	for _, fd := range fuseFDs {
		unix.Close(fd)
	}
	fd, err := unix.Open(filepath.Join(dir, pollProbeName), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open poll probe: %w", err)
	}
	// Only the kernel's poll request matters, not the result.
	unix.Poll([]unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN | unix.POLLOUT}}, 0)
	unix.Close(fd)
	return nil
}

// Unmount unmounts the tree and waits for the server to stop. When the
// mount stays busy, it detaches it instead; the kernel then finishes the
// unmount when the last file in the tree is closed.
func Unmount(server *fuse.Server, dir string, log *slog.Logger) error {
	m, _ := findMount(dir) // before the unmount, for the connection's id
	done := make(chan error, 1)
	go func() { done <- server.Unmount() }()
	var err error
	select {
	case err = <-done:
	case <-time.After(unmountWait):
		// The unmount went through, but go-fuse waits for the kernel to
		// end the connection, which copies of the mount in other mount
		// namespaces keep open: those of any process that called
		// unshare(CLONE_NEWNS) while the tree was mounted.
		if m == nil {
			err = <-done
			break
		}
		log.Warn("copies of the mount in other mount namespaces keep the connection open; aborting it",
			"mount", dir, "waited", unmountWait)
		if aerr := abortConnection(m.minor); aerr != nil {
			log.Error("abort the connection", "mount", dir, "err", aerr)
		}
		err = <-done
	}
	if err == nil {
		return nil
	}
	log.Warn("unmount failed, detaching: a working directory or an open file in the tree "+
		"keeps it busy; the tree goes once they are gone", "mount", dir, "err", err)
	if err := unix.Unmount(dir, unix.MNT_DETACH); err != nil {
		return fmt.Errorf("detach %s: %w", dir, err)
	}
	return nil
}

// unmountWait is how long Unmount lets the kernel end the connection by
// itself before it aborts the connection.
const unmountWait = time.Second

// CleanStaleMount detaches a FUSE mount that a supervisor killed on dir
// left behind. A dead server's mount fails with ENOTCONN, or never
// replies at all: a thread of the dead server can hang in the kernel on a request
// to its own mount, which keeps the connection open and every later
// request waiting. So the mount point is probed with a deadline, and a
// mount that does not answer has its connection aborted through the
// fusectl file system before it is detached. A live FUSE server on dir
// is an error.
func CleanStaleMount(dir string, log *slog.Logger) error {
	m, err := findMount(dir)
	if err != nil || m == nil || !strings.HasPrefix(m.fstype, "fuse") {
		return err
	}
	if answers(dir, 2*time.Second) {
		return fmt.Errorf("mount point %s is served by a live FUSE server (%s): stop it or unmount it first",
			dir, m.fstype)
	}
	if err := abortConnection(m.minor); err != nil {
		log.Warn("abort the connection of a stale mount", "mount", dir, "err", err)
	}
	if err := unix.Unmount(dir, unix.MNT_DETACH); err != nil {
		return fmt.Errorf("detach stale mount %s: %w", dir, err)
	}
	log.Warn("detached stale mount of a dead supervisor", "mount", dir)
	return nil
}

// answers reports whether a stat of dir succeeds within timeout. A stat
// that hangs is left behind, and aborting the connection ends it.
func answers(dir string, timeout time.Duration) bool {
	done := make(chan error, 1)
	go func() {
		var st unix.Stat_t
		done <- unix.Stat(dir, &st)
	}()
	select {
	case err := <-done:
		return err == nil
	case <-time.After(timeout):
		return false
	}
}

// abortConnection aborts the FUSE connection with the given device
// minor number, which ends every request waiting on it, mounting the
// fusectl file system first where it is not mounted.
func abortConnection(minor string) error {
	const ctl = "/sys/fs/fuse/connections"
	abort := filepath.Join(ctl, minor, "abort")
	if _, err := os.Stat(abort); errors.Is(err, os.ErrNotExist) {
		if err := unix.Mount("fusectl", ctl, "fusectl", 0, ""); err != nil && !errors.Is(err, unix.EBUSY) {
			return fmt.Errorf("mount fusectl on %s: %w", ctl, err)
		}
	}
	if err := os.WriteFile(abort, []byte("1"), 0); err != nil {
		return fmt.Errorf("abort FUSE connection %s: %w", minor, err)
	}
	return nil
}

// mount is one line of /proc/self/mountinfo.
type mount struct {
	fstype string
	minor  string // the device's minor number: a FUSE connection's id
}

// findMount returns the mount on dir, or nil when dir is not a mount
// point. A later mount on the same point hides an earlier one.
func findMount(dir string) (*mount, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("resolve mount point %s: %w", dir, err)
	}
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, fmt.Errorf("read mount table: %w", err)
	}
	defer f.Close()
	var found *mount
	scanner := bufio.NewScanner(f)
	for scanner.Scan() {
		point, typ, ok := parseMountInfo(scanner.Text())
		if ok && point == abs {
			dev := strings.Fields(scanner.Text())[2]
			_, minor, _ := strings.Cut(dev, ":")
			found = &mount{fstype: typ, minor: minor}
		}
	}
	if err := scanner.Err(); err != nil {
		return nil, fmt.Errorf("read mount table: %w", err)
	}
	return found, nil
}

// parseMountInfo returns the mount point and file system type of one
// line of /proc/self/mountinfo (see proc(5)).
func parseMountInfo(line string) (point, fstype string, ok bool) {
	fields := strings.Fields(line)
	sep := -1
	for i, f := range fields {
		if f == "-" && i >= 6 {
			sep = i
			break
		}
	}
	if sep < 0 || sep+1 >= len(fields) {
		return "", "", false
	}
	return unescapeOctal(fields[4]), fields[sep+1], true
}

// unescapeOctal decodes the \NNN escapes that the kernel writes for
// space, tab, newline and backslash in mount points.
func unescapeOctal(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) && isOctal(s[i+1:i+4]) {
			b.WriteByte((s[i+1]-'0')<<6 | (s[i+2]-'0')<<3 | (s[i+3] - '0'))
			i += 3
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func isOctal(s string) bool {
	return len(s) == 3 && strings.Trim(s, "01234567") == ""
}
