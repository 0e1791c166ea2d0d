package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"ctlfs/runtime"
)

// treeClient drives a mounted ctlfs tree through its files alone, as a
// shell script with mkdir, echo, cat and rmdir would. Its errors are
// *statusError values with exit code 125, whose messages name the
// container and give the reason that the tree stored in an err file.
type treeClient struct {
	root string
}

// openTree returns a client of the tree mounted at mount. It fails when
// no supervisor serves a tree there.
func openTree(mount string) (*treeClient, error) {
	fi, err := os.Stat(mount)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, cliError(fmt.Errorf("no ctlfs tree at %s: the directory does "+
			"not exist. Start the supervisor with \"ctlfs serve --mount %s\", "+
			"or set --mount or $%s to its mount point", mount, mount, mountEnv))
	case err != nil:
		return nil, cliError(describeTreeError(mount, err))
	case !fi.IsDir():
		return nil, cliError(fmt.Errorf("no ctlfs tree at %s: not a directory", mount))
	}
	for _, file := range []string{"status", "monitor"} {
		_, err := os.Stat(filepath.Join(mount, file))
		if errors.Is(err, fs.ErrNotExist) {
			return nil, cliError(fmt.Errorf("no ctlfs tree at %s: it has no %s file, "+
				"so no supervisor serves it. Start one with \"ctlfs serve --mount %s --rootfs DIR\" "+
				"(make serve in the repository), or set --mount or $%s to its mount point",
				mount, file, mount, mountEnv))
		}
		if err != nil {
			return nil, cliError(describeTreeError(mount, err))
		}
	}
	return &treeClient{root: mount}, nil
}

// describeTreeError explains an error of a file operation on the tree at
// mount, and what to do when the supervisor has died.
func describeTreeError(mount string, err error) error {
	if supervisorGone(err) {
		return fmt.Errorf("the supervisor of the tree at %s is not running "+
			"(%w). Start it again with \"ctlfs serve --mount %s\"", mount, err, mount)
	}
	return err
}

// supervisorGone reports whether err is what the kernel returns for a
// FUSE mount whose server has died: ENOTCONN for a new operation, and
// ECONNABORTED for one that was waiting for the server's reply.
func supervisorGone(err error) bool {
	return errors.Is(err, syscall.ENOTCONN) || errors.Is(err, syscall.ECONNABORTED)
}

// path returns the path of file in the directory of container name, or
// in the root when name is "".
func (t *treeClient) path(name, file string) string {
	return filepath.Join(t.root, name, file)
}

// checkName fails unless name is a valid container name, so that no name
// such as ../x reaches a path outside the tree.
func checkName(name string) error {
	if err := runtime.ValidateName(name); err != nil {
		return cliError(fmt.Errorf("invalid %w", err))
	}
	return nil
}

// lookup fails unless container name exists.
func (t *treeClient) lookup(name string) error {
	if err := checkName(name); err != nil {
		return err
	}
	fi, err := os.Stat(t.path(name, ""))
	if errors.Is(err, fs.ErrNotExist) || err == nil && !fi.IsDir() {
		return t.noContainer(name)
	}
	if err != nil {
		return cliError(fmt.Errorf("%s: %w", name, describeTreeError(t.root, err)))
	}
	return nil
}

// errNoContainer is returned, wrapped, for a container that does not
// exist.
var errNoContainer = errors.New("no such container")

func (t *treeClient) noContainer(name string) error {
	return cliError(fmt.Errorf("%w: %s (\"ctlfs ps -a\" lists them)", errNoContainer, name))
}

// write writes value to file in the directory of container name, or of
// the root when name is "", in one write(2), as "echo value > file"
// does. When the tree rejects it, the error gives the reason from the
// directory's err file.
func (t *treeClient) write(name, file, value string) error {
	f, err := os.OpenFile(t.path(name, file), os.O_WRONLY, 0)
	if err != nil {
		return t.fileError(name, err)
	}
	_, err = f.Write([]byte(value))
	closeErr := f.Close()
	if err != nil {
		return t.rejected(name, fmt.Sprintf("write %s", file), err)
	}
	if closeErr != nil {
		return t.fileError(name, closeErr)
	}
	return nil
}

// rejected returns the error for an operation op in the directory of
// container name that the tree rejected with err. The tree keeps the
// reason in the directory's err file until the next rejection there.
func (t *treeClient) rejected(name, op string, err error) error {
	var errno syscall.Errno
	if !errors.As(err, &errno) || supervisorGone(errno) {
		return t.fileError(name, err)
	}
	reason, readErr := os.ReadFile(t.path(name, "err"))
	text := strings.TrimSpace(string(reason))
	if readErr != nil || text == "" {
		text = fmt.Sprintf("%s: %v", op, errno)
	}
	return &statusError{code: exitCLI, err: &rejectError{name: name, reason: text, errno: errno}}
}

// rejectError is an operation that the tree rejected.
type rejectError struct {
	name   string // container name; "" for the root
	reason string // from the err file
	errno  syscall.Errno
}

// Error returns the reason, after the container's name unless the reason
// names it already.
func (e *rejectError) Error() string {
	if e.name == "" || names(e.reason, e.name) {
		return e.reason
	}
	return e.name + ": " + e.reason
}

// names reports whether reason names the container name as the tree's
// reasons do, as in "freeze NAME: container is not running".
func names(reason, name string) bool {
	return strings.HasPrefix(reason, name+":") || strings.Contains(reason, " "+name+":") ||
		strings.Contains(reason, " "+name+" ")
}

func (e *rejectError) Unwrap() error { return e.errno }

// fileError returns the error for a failed file operation in the
// directory of container name. A missing directory means the container
// was removed.
func (t *treeClient) fileError(name string, err error) error {
	if name != "" && errors.Is(err, fs.ErrNotExist) {
		if _, statErr := os.Stat(t.path(name, "")); errors.Is(statErr, fs.ErrNotExist) {
			return t.noContainer(name)
		}
	}
	err = describeTreeError(t.root, err)
	if name != "" {
		err = fmt.Errorf("%s: %w", name, err)
	}
	return cliError(err)
}

// read returns the content of file in the directory of container name,
// or of the root when name is "".
func (t *treeClient) read(name, file string) (string, error) {
	data, err := os.ReadFile(t.path(name, file))
	if err != nil {
		return "", t.fileError(name, err)
	}
	return string(data), nil
}

// ctl writes a command to the ctl file of container name.
func (t *treeClient) ctl(name, command string) error {
	return t.write(name, "ctl", command)
}

// create makes the directory of container name.
func (t *treeClient) create(name string) error {
	if err := checkName(name); err != nil {
		return err
	}
	err := os.Mkdir(t.path(name, ""), 0o755)
	if errors.Is(err, fs.ErrExist) {
		// The kernel rejects mkdir of an existing name itself, so the
		// tree's err file does not give the reason.
		if fi, statErr := os.Stat(t.path(name, "")); statErr == nil && !fi.IsDir() {
			return cliError(fmt.Errorf("%s: the name of a file of the tree cannot "+
				"name a container", name))
		}
		return cliError(fmt.Errorf("%s: a container of that name exists already. "+
			"Remove it with \"ctlfs rm %s\", or choose another name", name, name))
	}
	if err != nil {
		return t.rejected("", "mkdir "+name, err)
	}
	return nil
}

// remove removes the directory of container name, with its log.
func (t *treeClient) remove(name string) error {
	err := os.Remove(t.path(name, ""))
	if errors.Is(err, fs.ErrNotExist) {
		return t.noContainer(name)
	}
	if err != nil {
		return t.rejected("", "rmdir "+name, err)
	}
	return nil
}

// waitExit blocks until container name is not running and returns its
// state, as its wait file does.
func (t *treeClient) waitExit(name string) (string, error) {
	state, err := t.read(name, "wait")
	return strings.TrimSpace(state), err
}

// exitStatus returns the exit code of an "exited CODE ..." state.
func exitStatus(name, state string) (int, error) {
	fields := strings.Fields(state)
	if len(fields) < 2 || fields[0] != "exited" {
		return 0, cliError(fmt.Errorf("%s: the container has not run: its state is %q", name, state))
	}
	var code int
	if _, err := fmt.Sscanf(fields[1], "%d", &code); err != nil {
		return 0, cliError(fmt.Errorf("%s: invalid state %q: %w", name, state, err))
	}
	return code, nil
}

// Polling intervals of follow. It polls quickly while the file grows and
// backs off while it does not, as tail -f polls a file that inotify
// cannot watch.
const (
	minFollowPoll = 10 * time.Millisecond
	maxFollowPoll = 100 * time.Millisecond
)

// follow copies a growing file of the tree, such as log or events, from
// the current offset of f to w until stop is closed. Then it copies what
// remains up to the file's end and returns. A nil stop never closes.
func (t *treeClient) follow(name string, f *os.File, w io.Writer, stop <-chan struct{}) error {
	buf := make([]byte, 64<<10)
	poll := minFollowPoll
	stopped := false
	for {
		n, err := f.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return werr
			}
			poll = minFollowPoll
			continue
		}
		if err != nil && err != io.EOF {
			return t.fileError(name, err)
		}
		if stopped {
			return nil
		}
		select {
		case <-stop:
			// Everything written before stop closed is in the file now.
			stopped = true
		case <-time.After(poll):
			poll = min(2*poll, maxFollowPoll)
		}
	}
}

// open opens a file of container name, or of the root when name is "",
// for reading.
func (t *treeClient) open(name, file string) (*os.File, error) {
	f, err := os.Open(t.path(name, file))
	if err != nil {
		return nil, t.fileError(name, err)
	}
	return f, nil
}
