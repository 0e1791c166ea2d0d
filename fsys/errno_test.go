package fsys

import (
	"context"
	"errors"
	"fmt"
	"os"
	"syscall"
	"testing"

	"ctlfs/runtime"
)

func TestToErrno(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want syscall.Errno
	}{
		{"nil", nil, 0},
		{"invalid", fmt.Errorf("limits: %w", runtime.ErrInvalid), syscall.EINVAL},
		{"busy", fmt.Errorf("set net: %w", runtime.ErrBusy), syscall.EBUSY},
		{"not running", fmt.Errorf("stop: %w", runtime.ErrNotRunning), syscall.ESRCH},
		{"not found", fmt.Errorf("rootfs: %w", runtime.ErrNotFound), syscall.ENOENT},
		{"not a directory", fmt.Errorf("rootfs: %w", runtime.ErrNotDir), syscall.ENOTDIR},
		{"exists", fmt.Errorf("mkdir: %w", runtime.ErrExist), syscall.EEXIST},
		{"closed", runtime.ErrClosed, syscall.ESHUTDOWN},
		{"interrupted", fmt.Errorf("wait: %w", context.Canceled), syscall.EINTR},
		{"errno", fmt.Errorf("remove: %w", syscall.EPERM), syscall.EPERM},
		{"path error", &os.PathError{Op: "write", Path: "f", Err: syscall.EBUSY}, syscall.EBUSY},
		{"other", errors.New("disk on fire"), syscall.EIO},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := toErrno(tt.err); got != tt.want {
				t.Errorf("toErrno(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
}
