package runtime

import "errors"

// Sentinel errors returned, wrapped with details, by Supervisor and Container
// methods. Front ends map them to their own error codes with errors.Is.
var (
	// ErrInvalid: the text does not parse or a value is out of range.
	ErrInvalid = errors.New("invalid argument")
	// ErrBusy: the operation needs a container that is not running.
	ErrBusy = errors.New("container is running")
	// ErrNotRunning: the operation needs a running container.
	ErrNotRunning = errors.New("container is not running")
	// ErrNotFound: a path, program or container does not exist.
	ErrNotFound = errors.New("no such file or directory")
	// ErrNotDir: a rootfs path is not a directory.
	ErrNotDir = errors.New("not a directory")
	// ErrExist: a container of that name exists already.
	ErrExist = errors.New("already exists")
	// ErrRotated: a log offset refers to bytes removed by rotation.
	ErrRotated = errors.New("log rotated past that offset")
	// ErrClosed: the supervisor is shutting down.
	ErrClosed = errors.New("supervisor is shutting down")
)
