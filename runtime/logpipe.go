package runtime

import (
	"os"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// logChunk is the most bytes moved from a container's pipe in one system
// call. A splice holds the pipe's lock while it copies into the file, and
// the container's writes wait for it meanwhile. Short splices let both
// sides run at once and keep the pipe's pages in the CPU caches. In make
// bench, 256 KiB steps from a 1 MiB pipe gave a median of 0.56 GiB/s
// against 0.68 for dd | cat, and 32 KiB steps 1.52 and 1.48 against 0.72
// and 0.79 in two runs (see docs/BENCHMARKS.md).
const logChunk = 32 << 10

// pumpLog moves a container's output from the read end of its pipe into
// its log, until the pipe's end. The returned channel is closed when every
// byte is in the log. It uses splice(2), so the bytes never pass through
// the supervisor's memory, and a supervisor killed during a splice loses
// none of them: what is not yet in the log is still in the pipe, where
// the init saves it. Where the log's file system cannot take a splice, it
// falls back to read and write, and a kill between the two loses what was
// read. After a failed write the rest of the output is read and dropped,
// so the container's writes never block on a log that cannot grow.
func pumpLog(r *os.File, lf *logFile, onError func(error)) <-chan struct{} {
	drained := make(chan struct{})
	go func() {
		defer close(drained)
		defer r.Close()
		conn, err := r.SyscallConn()
		if err != nil {
			onError(err)
			return
		}
		if err := copyLog(conn, lf); err != nil {
			onError(err)
			if err := drainPipe(conn); err != nil {
				onError(err)
			}
		}
	}()
	return drained
}

// copyLog moves the pipe's bytes into the log until the pipe's end.
func copyLog(conn syscall.RawConn, lf *logFile) error {
	canSplice := true
	for {
		var n int64
		var opErr error
		err := conn.Read(func(fd uintptr) bool {
			if canSplice {
				n, opErr = lf.spliceFrom(int(fd), logChunk)
				if opErr == unix.EINVAL && n == 0 {
					// The log's file system has no splice write.
					canSplice = false
				}
			}
			if !canSplice {
				n, opErr = readInto(int(fd), lf)
			}
			return opErr != unix.EAGAIN
		})
		switch {
		case err != nil:
			return err
		case opErr == unix.EINTR:
		case opErr != nil:
			return opErr
		case n == 0:
			return nil
		}
	}
}

// readBuffers are the buffers of the read and write fallback. A
// container's copy takes one only while its pipe has data, so a thousand
// idle containers do not each keep one.
var readBuffers = sync.Pool{New: func() any { return new(readBuffer) }}

// readBuffer is one buffer of readBuffers.
type readBuffer [64 << 10]byte

// readInto reads what the pipe holds, up to one buffer, and appends it to
// the log. Like a splice it returns 0 at the pipe's end and EAGAIN when
// the pipe is empty.
func readInto(fd int, lf *logFile) (int64, error) {
	buf := readBuffers.Get().(*readBuffer)
	defer readBuffers.Put(buf)
	n, err := unix.Read(fd, buf[:])
	if err != nil || n <= 0 {
		return 0, err
	}
	return int64(n), lf.append(buf[:n])
}

// drainPipe reads the pipe to its end and drops what it reads.
func drainPipe(conn syscall.RawConn) error {
	for {
		var n int
		var readErr error
		err := conn.Read(func(fd uintptr) bool {
			buf := readBuffers.Get().(*readBuffer)
			defer readBuffers.Put(buf)
			n, readErr = unix.Read(int(fd), buf[:])
			return readErr != unix.EAGAIN
		})
		switch {
		case err != nil:
			return err
		case readErr == unix.EINTR:
		case readErr != nil:
			return readErr
		case n == 0:
			return nil
		}
	}
}
