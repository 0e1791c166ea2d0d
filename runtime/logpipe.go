package runtime

import (
	"errors"
	"io"
	"os"
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

// produceLog reads the pipe in chunks and sends them to the consumer.
// NOTE: when the supervisor is killed, a chunk that was read but not yet
// appended is lost, because the init saves only what is still in the
// pipe. The log on disk then has a gap.
func produceLog(r *os.File, chunks chan<- []byte, onError func(error)) {
	defer close(chunks)
	defer r.Close()
	buf := make([]byte, logChunk)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			chunks <- append([]byte(nil), buf[:n]...)
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
