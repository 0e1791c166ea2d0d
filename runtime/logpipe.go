package runtime

import (
	"errors"
	"io"
	"os"
	"sync"
	"syscall"
)

const (
	// logChunk is the most bytes moved from the pipe in one read.
	logChunk = 64 << 10
	// logBacklog is the number of chunks buffered per container; when it is
	// full the producer stops reading and the container's writes block.
	logBacklog = 16
)

// pumpLog copies the read end of a container's output pipe into its log
// through a bounded buffer: a producer goroutine reads the pipe, a consumer
// goroutine appends to the file. Each container has its own pair, so one
// container's backlog never delays another's lines. The returned channel
// is closed when the pipe reached end of file and every byte is in the log.
func pumpLog(r *os.File, lf *logFile, onError func(error)) <-chan struct{} {
	chunks := make(chan []byte, logBacklog)
	drained := make(chan struct{})
	go produceLog(r, chunks, onError)
	go func() {
		defer close(drained)
		failed := false
		for p := range chunks {
			if failed {
				continue // keep draining so the producer never blocks
			}
			if err := lf.append(p); err != nil {
				onError(err)
				failed = true
			}
		}
	}()
	return drained
}

// readBuffers are the buffers that produceLog reads into. A container's
// producer takes one only while its pipe has data, so a thousand idle
// containers do not each keep 64 KiB.
var readBuffers = sync.Pool{New: func() any { return new([logChunk]byte) }}

// produceLog reads the pipe in chunks and sends them to the consumer.
// NOTE: when the supervisor is killed, a chunk that was read but not yet
// appended is lost, because the init saves only what is still in the
// pipe. The log on disk then has a gap.
func produceLog(r *os.File, chunks chan<- []byte, onError func(error)) {
	defer close(chunks)
	defer r.Close()
	conn, err := r.SyscallConn()
	if err != nil {
		onError(err)
		return
	}
	for {
		chunk, err := readChunk(conn)
		if len(chunk) > 0 {
			chunks <- chunk
		}
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			onError(err)
			return
		}
	}
}

// readChunk waits until the pipe has data and returns a copy of what one
// read returns, or io.EOF at its end.
func readChunk(conn syscall.RawConn) ([]byte, error) {
	var chunk []byte
	var readErr error
	err := conn.Read(func(fd uintptr) bool {
		buf := readBuffers.Get().(*[logChunk]byte)
		defer readBuffers.Put(buf)
		n, err := syscall.Read(int(fd), buf[:])
		for err == syscall.EINTR {
			n, err = syscall.Read(int(fd), buf[:])
		}
		switch {
		case err == syscall.EAGAIN:
			return false // wait for data
		case err != nil:
			readErr = err
		case n == 0:
			readErr = io.EOF
		default:
			chunk = append([]byte(nil), buf[:n]...)
		}
		return true
	})
	if err != nil {
		return nil, err
	}
	return chunk, readErr
}
