package runtime

import (
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sync"

	"golang.org/x/sys/unix"
)

// DefaultLogMax is the default cap on a container's log on disk.
const DefaultLogMax = 64 << 20

// logFile is a container's log on disk: STATE_DIR/logs/NAME.log and, once
// it has rotated, the older NAME.log.1. When NAME.log reaches half the cap
// it replaces NAME.log.1, so together the two contain little more than
// the cap. Offsets are logical: they count every byte ever appended, so
// the size a reader follows never shrinks. The bytes below Start are
// gone. One consumer appends, and any number of readers read.
type logFile struct {
	path string
	max  int64 // cap on disk use in bytes; 0 means no cap

	mu     sync.Mutex
	cur    *os.File // guarded by mu; nil before the first byte, while idle and once closed
	old    *os.File // guarded by mu; NAME.log.1, or nil
	closed bool     // guarded by mu
	start  int64    // guarded by mu; logical offset of the first byte of old, or of cur
	split  int64    // guarded by mu; logical offset of the first byte of cur
	end    int64    // guarded by mu; logical offset after the last byte
}

var _ Stream = (*logFile)(nil)

// openLogFile opens the log files of container name that exist. NAME.log
// is created with the first byte appended: a new file costs an inode
// allocation, which on an ext4 without a journal scans every inode
// deleted in the last minutes, and many containers never write a byte.
func openLogFile(stateDir, name string, max int64) (*logFile, error) {
	l := &logFile{path: filepath.Join(stateDir, "logs", name+".log"), max: max}
	var err error
	if l.cur, err = openLogPart(l.path, 0); err != nil {
		return nil, err
	}
	if l.old, err = openLogPart(l.path+".1", 0); err != nil {
		closeFile(l.cur)
		return nil, err
	}
	l.split = fileSize(l.old)
	l.end = l.split + fileSize(l.cur)
	return l, nil
}

// openLogPart opens one file of a log for reading and writing, with
// flags added, and returns nil for a file that does not exist. Not
// O_APPEND: splice(2) refuses a file in append mode, so the one appender
// writes at the end through explicit offsets instead.
func openLogPart(path string, flags int) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|flags, 0o600)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("open log: %w", err)
	}
	return f, nil
}

func fileSize(f *os.File) int64 {
	if f == nil {
		return 0
	}
	fi, err := f.Stat()
	if err != nil {
		return 0
	}
	return fi.Size()
}

// resync reads the size of the log from its files again. The init of a
// supervisor that died may have appended to them after the log was
// opened (see saveLog in package initproc).
func (l *logFile) resync() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return
	}
	if l.cur == nil {
		// The init may have created it.
		l.cur, _ = openLogPart(l.path, 0)
	}
	l.end = l.split + fileSize(l.cur)
}

// append writes p at the end of the log. A chunk that would take the
// current file past half the cap is split: the first part fills it, and
// the rest starts the file that replaces it.
func (l *logFile) append(p []byte) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.appendLocked(p)
}

// appendLocked is append for a caller that holds l.mu.
func (l *logFile) appendLocked(p []byte) error {
	for len(p) > 0 {
		room, err := l.roomLocked()
		if err != nil {
			return err
		}
		n, err := l.cur.WriteAt(p[:min(int64(len(p)), room)], l.end-l.split)
		l.end += int64(n)
		if err != nil {
			return err
		}
		p = p[n:]
	}
	return nil
}

// spliceFrom moves at most limit bytes from the pipe pipeFD to the end of
// the log with splice(2), without waiting for the pipe: it fails with
// EAGAIN when the pipe is empty, and returns 0 at its end.
//
// The bytes never pass through user space. The first splice moves
// references to the pipe's pages into the empty copy pipe and holds
// pipeFD's lock only briefly. The second copies them into the file
// without that lock, so the container's writes go on meanwhile. Where
// the file system has no splice write, the bytes in the copy pipe are
// read and written instead, and the error is errNoSpliceWrite once they
// are in the log.
func (l *logFile) spliceFrom(pipeFD int, via *copyPipe, limit int64) (int64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.cur == nil && !l.closed {
		// Make the file only for bytes to put in it: the first splice
		// comes before the container has written anything.
		if n, err := pipeState(pipeFD); n <= 0 || err != nil {
			return 0, err
		}
	}
	room, err := l.roomLocked()
	if err != nil {
		return 0, err
	}
	n, err := unix.Splice(pipeFD, nil, via.w, nil, int(min(limit, room, copyPipeSize)), unix.SPLICE_F_NONBLOCK)
	if n <= 0 {
		return 0, err // -1 with an error, or 0 at the pipe's end
	}
	return n, l.drainLocked(via, n)
}

// errNoSpliceWrite reports that the log's file system cannot take a
// splice, after the bytes went in by read and write.
var errNoSpliceWrite = errors.New("log file system has no splice write")

// drainLocked moves the n bytes that the copy pipe holds to the end of
// the log. The caller holds l.mu.
func (l *logFile) drainLocked(via *copyPipe, n int64) error {
	for n > 0 {
		off := l.end - l.split
		m, err := unix.Splice(via.r, nil, int(l.cur.Fd()), &off, int(n), 0)
		switch {
		case m > 0:
			l.end += m
			n -= m
		case err == unix.EINTR:
		case err == unix.EINVAL:
			if err := l.copyLocked(via.r, n); err != nil {
				return err
			}
			return errNoSpliceWrite
		default:
			return fmt.Errorf("write log: %w", err)
		}
	}
	return nil
}

// copyLocked reads n bytes from the copy pipe's read end fd and appends
// them to the log. The caller holds l.mu.
func (l *logFile) copyLocked(fd int, n int64) error {
	buf := readBuffers.Get().(*readBuffer)
	defer readBuffers.Put(buf)
	for n > 0 {
		m, err := unix.Read(fd, buf[:min(n, int64(len(buf)))])
		if err == unix.EINTR {
			continue
		}
		if m <= 0 {
			return fmt.Errorf("read copy pipe: %w", err)
		}
		if err := l.appendLocked(buf[:m]); err != nil {
			return err
		}
		n -= int64(m)
	}
	return nil
}

// pipeState returns 1 when the pipe pipeFD has bytes to read, 0 at its
// end, and EAGAIN when it is empty but still open for writing.
func pipeState(pipeFD int) (int, error) {
	fds := []unix.PollFd{{Fd: int32(pipeFD), Events: unix.POLLIN}}
	if _, err := unix.Poll(fds, 0); err != nil {
		return 0, err
	}
	switch {
	case fds[0].Revents&unix.POLLIN != 0:
		return 1, nil
	case fds[0].Revents&unix.POLLHUP != 0:
		return 0, nil
	}
	return 0, unix.EAGAIN
}

// roomLocked returns how many bytes the current file takes before it
// reaches half the cap, after rotating a full file.
func (l *logFile) roomLocked() (int64, error) {
	if l.closed {
		return 0, os.ErrClosed
	}
	if l.cur == nil {
		cur, err := openLogPart(l.path, os.O_CREATE)
		if err != nil {
			return 0, err
		}
		l.cur = cur
	}
	if l.max <= 0 {
		return math.MaxInt64, nil
	}
	half := max(l.max/2, 1)
	if l.end-l.split >= half {
		if err := l.rotateLocked(); err != nil {
			return 0, err
		}
	}
	return half - (l.end - l.split), nil
}

// rotateLocked renames NAME.log to NAME.log.1 and starts a new NAME.log.
// Readers keep reading the renamed file through the open descriptor.
func (l *logFile) rotateLocked() error {
	if err := os.Rename(l.path, l.path+".1"); err != nil {
		return fmt.Errorf("rotate log: %w", err)
	}
	cur, err := os.OpenFile(l.path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("rotate log: %w", err)
	}
	if l.old != nil {
		l.old.Close()
	}
	l.old, l.cur = l.cur, cur
	l.start, l.split = l.split, l.end
	return nil
}

// Size returns the logical offset after the last byte appended.
func (l *logFile) Size() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.end
}

// Start returns the logical offset of the oldest byte still kept.
func (l *logFile) Start() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.start
}

// ReadAt reads the log's bytes at logical offset off. Below Start it
// fails with ErrRotated.
func (l *logFile) ReadAt(p []byte, off int64) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return 0, os.ErrClosed
	}
	if off < l.start {
		return 0, fmt.Errorf("log offset %d below %d: %w", off, l.start, ErrRotated)
	}
	if off >= l.end {
		return 0, io.EOF
	}
	if err := l.reopenLocked(); err != nil {
		return 0, err
	}
	if (off < l.split && l.old == nil) || (off >= l.split && l.cur == nil) {
		return 0, fmt.Errorf("log file of offset %d is gone: %w", off, os.ErrNotExist)
	}
	if int64(len(p)) > l.end-off {
		p = p[:l.end-off]
	}
	if off < l.split {
		n, err := l.old.ReadAt(p[:min(int64(len(p)), l.split-off)], off-l.start)
		if err != nil && !errors.Is(err, io.EOF) {
			return n, err
		}
		if n < len(p) && off+int64(n) == l.split && l.cur != nil {
			m, err := l.cur.ReadAt(p[n:], 0)
			return n + m, ignoreEOF(err)
		}
		return n, nil
	}
	n, err := l.cur.ReadAt(p, off-l.split)
	return n, ignoreEOF(err)
}

// idle closes the log's files until the next read or append, so that a
// container that is not running holds no descriptor.
func (l *logFile) idle() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, f := range []**os.File{&l.cur, &l.old} {
		if *f != nil {
			(*f).Close()
			*f = nil
		}
	}
}

// reopenLocked opens again the files that idle closed and that hold
// bytes of the log.
func (l *logFile) reopenLocked() error {
	var err error
	if l.old == nil && l.split > l.start {
		if l.old, err = openLogPart(l.path+".1", 0); err != nil {
			return err
		}
	}
	if l.cur == nil && l.end > l.split {
		l.cur, err = openLogPart(l.path, 0)
	}
	return err
}

func ignoreEOF(err error) error {
	if errors.Is(err, io.EOF) {
		return nil
	}
	return err
}

func (l *logFile) close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil
	}
	l.closed = true
	var err error
	if l.cur != nil {
		err = l.cur.Close()
	}
	if l.old != nil {
		l.old.Close()
	}
	l.cur, l.old = nil, nil
	return err
}

func (l *logFile) remove() error {
	if err := l.close(); err != nil {
		return err
	}
	for _, path := range []string{l.path + ".1", l.path} {
		if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	return nil
}
