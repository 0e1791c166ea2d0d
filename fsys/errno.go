package fsys

import (
	"context"
	"errors"
	"syscall"

	"ctlfs/runtime"
)

// errnoTable maps the runtime's sentinel errors to the errno a file
// operation returns. The first match wins.
var errnoTable = []struct {
	err   error
	errno syscall.Errno
}{
	{runtime.ErrInvalid, syscall.EINVAL},
	{runtime.ErrBusy, syscall.EBUSY},
	{runtime.ErrNotRunning, syscall.ESRCH},
	{runtime.ErrNotFound, syscall.ENOENT},
	{runtime.ErrNotDir, syscall.ENOTDIR},
	{runtime.ErrExist, syscall.EEXIST},
	{runtime.ErrClosed, syscall.ESHUTDOWN},
	{context.Canceled, syscall.EINTR},
	{context.DeadlineExceeded, syscall.EINTR},
}

// toErrno converts an error into the errno that a FUSE operation returns:
// a runtime sentinel error by errnoTable, a wrapped syscall.Errno (such as
// this package's EPERM or EBUSY from a cgroup write) as itself, and
// anything else as EIO.
func toErrno(err error) syscall.Errno {
	if err == nil {
		return 0
	}
	for _, e := range errnoTable {
		if errors.Is(err, e.err) {
			return e.errno
		}
	}
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return errno
	}
	return syscall.EIO
}
