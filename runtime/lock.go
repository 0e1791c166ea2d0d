package runtime

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// ErrStateInUse is returned by New when another supervisor serves the
// same state directory. Its containers, logs and cgroups are that
// supervisor's, and a second one would take them for leftovers of a crash
// and kill the containers.
var ErrStateInUse = errors.New("state directory in use by another supervisor")

// dirLock is an exclusive flock on a directory, held until unlock or the
// exit of the process. The kernel drops it when the process dies, so a
// crash leaves no stale lock behind.
type dirLock struct {
	fd int
}

// tryLockDir takes an exclusive flock on directory dir without waiting.
// It returns errWouldBlock when another open file description holds one.
func tryLockDir(dir string) (*dirLock, error) {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	if err := unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB); err != nil {
		unix.Close(fd)
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, errWouldBlock
		}
		return nil, err
	}
	return &dirLock{fd: fd}, nil
}

var errWouldBlock = errors.New("locked by another process")

// sameDir reports whether the locked directory is still the one at path:
// one removed after it was opened and made again is another directory.
func (l *dirLock) sameDir(path string) bool {
	var locked, now unix.Stat_t
	if unix.Fstat(l.fd, &locked) != nil || unix.Stat(path, &now) != nil {
		return false
	}
	return locked.Dev == now.Dev && locked.Ino == now.Ino
}

// unlock releases the lock. It is safe on a nil lock.
func (l *dirLock) unlock() {
	if l != nil && l.fd >= 0 {
		unix.Close(l.fd)
		l.fd = -1
	}
}

// lockStateDir takes the state directory for this supervisor. It fails
// with ErrStateInUse, naming the holder's PID when /proc/locks shows it,
// while another supervisor serves dir. On a file system without flock
// support it returns a nil lock and no error, and the caller runs on
// unguarded.
func lockStateDir(dir string) (*dirLock, error) {
	l, err := tryLockDir(dir)
	switch {
	case err == nil:
		return l, nil
	case errors.Is(err, errWouldBlock):
		if pid := flockHolder(dir); pid > 0 {
			return nil, fmt.Errorf("%w: %s is locked by PID %d; stop it or use another state directory",
				ErrStateInUse, dir, pid)
		}
		return nil, fmt.Errorf("%w: %s is locked; stop its supervisor or use another state directory",
			ErrStateInUse, dir)
	case errors.Is(err, unix.ENOLCK), errors.Is(err, unix.EOPNOTSUPP), errors.Is(err, unix.EINVAL):
		return nil, nil
	default:
		return nil, fmt.Errorf("lock state directory %s: %w", dir, err)
	}
}

// flockHolder returns the PID that holds a flock on path according to
// /proc/locks, or 0.
func flockHolder(path string) int {
	var st unix.Stat_t
	if unix.Stat(path, &st) != nil {
		return 0
	}
	f, err := os.Open("/proc/locks")
	if err != nil {
		return 0
	}
	defer f.Close()
	// A line reads "1: FLOCK  ADVISORY  WRITE 4242 00:1f:1234 0 EOF": the
	// PID, then the file as MAJOR:MINOR:INODE with the device numbers in hex.
	want := fmt.Sprintf("%02x:%02x:%d", unix.Major(st.Dev), unix.Minor(st.Dev), st.Ino)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 6 || fields[1] != "FLOCK" || fields[5] != want {
			continue
		}
		if pid, err := strconv.Atoi(fields[4]); err == nil {
			return pid
		}
	}
	return 0
}
