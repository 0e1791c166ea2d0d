package runtime

import (
	"io"
	"sync"
)

// Stream is an append-only byte stream, such as a log or an event journal,
// that readers follow by offset.
type Stream interface {
	// Size returns the offset after the last byte so far.
	Size() int64
	// Start returns the offset of the oldest byte still kept; bytes below
	// it were dropped, for example by log rotation.
	Start() int64
	// ReadAt reads bytes at off; it returns io.EOF at the end and an error
	// wrapping ErrRotated below Start.
	ReadAt(p []byte, off int64) (int, error)
}

// Journal is an in-memory Stream of event lines.
type Journal struct {
	mu   sync.Mutex
	data []byte
}

var _ Stream = (*Journal)(nil)

// Append adds line, which must end with a newline, to the journal.
func (j *Journal) Append(line string) {
	j.mu.Lock()
	j.data = append(j.data, line...)
	j.mu.Unlock()
}

// Size returns the number of bytes in the journal.
func (j *Journal) Size() int64 {
	j.mu.Lock()
	defer j.mu.Unlock()
	return int64(len(j.data))
}

// Start returns 0: a journal keeps every byte.
func (j *Journal) Start() int64 { return 0 }

// ReadAt reads the journal's bytes at off.
func (j *Journal) ReadAt(p []byte, off int64) (int, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if off >= int64(len(j.data)) {
		return 0, io.EOF
	}
	n := copy(p, j.data[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// String returns the whole journal.
func (j *Journal) String() string {
	j.mu.Lock()
	defer j.mu.Unlock()
	return string(j.data)
}
