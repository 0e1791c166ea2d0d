package runtime

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
)

// logFile is a container's log on disk, STATE_DIR/logs/NAME.log. One
// consumer appends; any number of readers read at offsets below Size.
type logFile struct {
	path string
	size atomic.Int64

	mu sync.Mutex
	f  *os.File // guarded by mu; nil once closed
}

var _ Stream = (*logFile)(nil)

func openLogFile(stateDir, name string) (*logFile, error) {
	path := filepath.Join(stateDir, "logs", name+".log")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open log: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("stat log: %w", err)
	}
	lf := &logFile{path: path, f: f}
	lf.size.Store(fi.Size())
	return lf, nil
}

// append writes p at the end of the log.
func (l *logFile) append(p []byte) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return os.ErrClosed
	}
	n, err := l.f.Write(p)
	l.size.Add(int64(n))
	return err
}

// Size returns the number of bytes written to the log.
func (l *logFile) Size() int64 { return l.size.Load() }

// ReadAt reads the log's bytes at off.
func (l *logFile) ReadAt(p []byte, off int64) (int, error) {
	size := l.size.Load()
	if off >= size {
		return 0, io.EOF
	}
	if int64(len(p)) > size-off {
		p = p[:size-off]
	}
	l.mu.Lock()
	f := l.f
	l.mu.Unlock()
	if f == nil {
		return 0, os.ErrClosed
	}
	return f.ReadAt(p, off)
}

func (l *logFile) close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return nil
	}
	err := l.f.Close()
	l.f = nil
	return err
}

func (l *logFile) remove() error {
	if err := l.close(); err != nil {
		return err
	}
	return os.Remove(l.path)
}
