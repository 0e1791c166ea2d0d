package fsys

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"ctlfs/runtime"
	"golang.org/x/sys/unix"
)

// maxValue is the longest value a single write may carry. The kernel
// splits a write(2) of close to maxWrite bytes or more into several FUSE
// writes, depending on how the buffer lies across pages, and the first
// part would then be applied alone. Any value is far shorter than 64 KiB,
// so a longer write fails whole, on its first part, with EINVAL.
const maxValue = 64<<10 - 1

// fileNode is one file of a directory, declared by spec.
type fileNode struct {
	fs.Inode
	spec *fileSpec
	d    *dir
}

// Getattr reports the growing size of a stream and size 0 for a value,
// which is taken at open.
func (n *fileNode) Getattr(ctx context.Context, f fs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	n.fillAttr(&out.Attr)
	return 0
}

func (n *fileNode) fillAttr(a *fuse.Attr) {
	a.Mode = fuse.S_IFREG | n.spec.mode
	a.Nlink = 1
	a.Size = 0
	if n.spec.stream != nil {
		a.Size = uint64(n.spec.stream(n.d).Size())
	}
	t := n.d.tree.mtime
	a.SetTimes(&t, &t, &t)
}

// Open rejects access the file does not allow and takes a value file's
// content. Every file uses direct I/O, so that no page the kernel cached
// hides a newer value or the end of a growing file.
func (n *fileNode) Open(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	if err := n.checkAccess(flags); err != nil {
		return nil, 0, n.d.reject(n.spec.name, err)
	}
	h := &handle{node: n}
	if flags&syscall.O_ACCMODE != syscall.O_WRONLY && !n.spec.blocking {
		if errno := h.fill(ctx); errno != 0 {
			return nil, 0, errno
		}
	}
	return h, fuse.FOPEN_DIRECT_IO, 0
}

func (n *fileNode) checkAccess(flags uint32) error {
	mode := flags & syscall.O_ACCMODE
	if mode != syscall.O_RDONLY && !n.spec.writable() {
		return fmt.Errorf("open %s for writing: file is read-only: %w",
			n.spec.name, syscall.EACCES)
	}
	if mode != syscall.O_WRONLY && !n.spec.readable() {
		return fmt.Errorf("open %s for reading: file is write-only: %w",
			n.spec.name, syscall.EACCES)
	}
	// The mount takes O_TRUNC with the open (CAP_ATOMIC_O_TRUNC), where a
	// SETATTR would have checked it.
	if flags&syscall.O_TRUNC != 0 && !n.spec.writable() {
		return fmt.Errorf("truncate %s: file is read-only: %w", n.spec.name, syscall.EACCES)
	}
	return nil
}

// Access checks access(2) against the file's permission bits, because
// the mount does not use default_permissions.
func (n *fileNode) Access(ctx context.Context, mask uint32) syscall.Errno {
	switch {
	case mask&unix.W_OK != 0 && !n.spec.writable(),
		mask&unix.R_OK != 0 && !n.spec.readable(),
		mask&unix.X_OK != 0:
		return syscall.EACCES
	}
	return 0
}

// Setattr accepts truncation to size 0 on a writable file, as truncate(2)
// sends it, and rejects every other change. The truncation of `echo x >
// file` comes with OPEN instead (CAP_ATOMIC_O_TRUNC; see checkAccess).
func (n *fileNode) Setattr(ctx context.Context, f fs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	if err := n.checkSetattr(in); err != nil {
		return n.d.reject(n.spec.name, err)
	}
	n.fillAttr(&out.Attr)
	return 0
}

func (n *fileNode) checkSetattr(in *fuse.SetAttrIn) error {
	name := n.spec.name
	if in.Valid&(fuse.FATTR_MODE|fuse.FATTR_UID|fuse.FATTR_GID) != 0 {
		return fmt.Errorf("change mode or owner of %s: %w", name, syscall.EPERM)
	}
	if in.Valid&fuse.FATTR_SIZE == 0 {
		if in.Valid&(fuse.FATTR_ATIME|fuse.FATTR_MTIME) != 0 {
			return fmt.Errorf("change times of %s: %w", name, syscall.EPERM)
		}
		return nil
	}
	// A truncation may carry times (truncate(2) does); they are ignored.
	if !n.spec.writable() {
		return fmt.Errorf("truncate %s: file is read-only: %w", name, syscall.EACCES)
	}
	if in.Size != 0 {
		return fmt.Errorf("truncate %s to %d bytes: only size 0 is accepted: %w",
			name, in.Size, syscall.EPERM)
	}
	return nil
}

// handle is an open file. A value file's content is taken once, at open
// or, for a blocking file, at the first read.
type handle struct {
	node *fileNode

	mu      sync.Mutex
	content []byte // guarded by mu
	filled  bool   // guarded by mu
	// shift is added to the offsets of a stream's reads once they fall
	// below the oldest byte the stream keeps; guarded by mu.
	shift     int64
	onRelease func() // guarded by mu; set by a write handler
}

func (h *handle) dir() *dir { return h.node.d }

func (h *handle) setOnRelease(f func()) {
	h.mu.Lock()
	h.onRelease = f
	h.mu.Unlock()
}

// fill takes the content of a value file unless it was taken already. It
// does not hold mu while a blocking read waits.
func (h *handle) fill(ctx context.Context) syscall.Errno {
	h.mu.Lock()
	filled := h.filled
	h.mu.Unlock()
	if filled || h.node.spec.read == nil {
		return 0
	}
	text, err := h.node.spec.read(ctx, h.dir())
	if err != nil {
		return h.readError(err)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.filled {
		h.content, h.filled = []byte(text), true
	}
	return 0
}

// readError logs a failed read, unless the reader was interrupted, and
// returns its errno.
func (h *handle) readError(err error) syscall.Errno {
	errno := toErrno(err)
	if errno != syscall.EINTR {
		attrs := []any{"file", h.node.spec.name, "err", err}
		if c := h.dir().c; c != nil {
			attrs = append([]any{"container", c.Name()}, attrs...)
		}
		h.dir().tree.log.Error("read", attrs...)
	}
	return errno
}

// Read returns the value taken at open, or the bytes of a stream at off.
func (h *handle) Read(ctx context.Context, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	if stream := h.node.spec.stream; stream != nil {
		return h.readStream(stream(h.dir()), dest, off)
	}
	if errno := h.fill(ctx); errno != 0 {
		return nil, errno
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if off >= int64(len(h.content)) {
		return fuse.ReadResultData(nil), 0
	}
	n := copy(dest, h.content[off:])
	return fuse.ReadResultData(dest[:n]), 0
}

// readStream reads a stream at off. A log drops its oldest bytes when it
// rotates, but keeps counting offsets, so a follower such as tail -f
// never sees it shrink. A reader that asks for bytes already dropped,
// such as cat from offset 0, is moved forward to the oldest byte kept,
// and its later reads keep that distance.
func (h *handle) readStream(s runtime.Stream, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	for range 3 { // a rotation between Start and ReadAt moves Start again
		h.mu.Lock()
		if start := s.Start(); off+h.shift < start {
			h.shift = start - off
		}
		shift := h.shift
		h.mu.Unlock()
		n, err := s.ReadAt(dest, off+shift)
		if errors.Is(err, runtime.ErrRotated) {
			continue
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, h.readError(err)
		}
		return fuse.ReadResultData(dest[:n]), 0
	}
	return nil, syscall.EAGAIN
}

// Write applies one whole value or command; the offset is ignored, so a
// file kept open takes one command per write.
func (h *handle) Write(ctx context.Context, data []byte, off int64) (uint32, syscall.Errno) {
	name := h.node.spec.name
	if len(data) > maxValue {
		err := fmt.Errorf("write %s: %d bytes, longer than the maximum of %d: %w",
			name, len(data), maxValue, syscall.EINVAL)
		return 0, h.dir().reject(name, err)
	}
	if err := h.node.spec.write(h, trimNewline(string(data))); err != nil {
		return 0, h.dir().reject(name, err)
	}
	return uint32(len(data)), 0
}

// Getxattr fails with ENOSYS, as dirNode.Getxattr does.
func (n *fileNode) Getxattr(ctx context.Context, attr string, dest []byte) (uint32, syscall.Errno) {
	return 0, syscall.ENOSYS
}

// Flush fails with ENOSYS, after which the kernel sends no more flushes
// at close. A write is applied before it returns, and the one action
// left for a close, the shutdown, waits for Release.
func (h *handle) Flush(ctx context.Context) syscall.Errno { return syscall.ENOSYS }

// Fsync succeeds: a write is applied before it returns.
func (h *handle) Fsync(ctx context.Context, flags uint32) syscall.Errno { return 0 }

// Release runs the action a write left for the close, if any.
func (h *handle) Release(ctx context.Context) syscall.Errno {
	h.mu.Lock()
	f := h.onRelease
	h.mu.Unlock()
	if f != nil {
		f()
	}
	return 0
}
