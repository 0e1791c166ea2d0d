package experiment

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// ErrNoTree is returned, wrapped, when the mount point holds no ctlfs tree.
var ErrNoTree = errors.New("no ctlfs tree")

// ErrWorkloadMissing is returned, wrapped, when a workload program is not
// in the container's root filesystem.
var ErrWorkloadMissing = errors.New("not found in the rootfs")

// ErrNameTaken is returned, wrapped, when a container that an experiment
// needs exists already.
var ErrNameTaken = errors.New("exists already")

// statePoll is how often state is read while waiting for a container.
const statePoll = 50 * time.Millisecond

// tree is a client of a mounted ctlfs tree. It uses only file operations,
// as a user with a shell would: each write carries one value.
type tree struct {
	root string
}

func (t tree) path(name, file string) string {
	return filepath.Join(t.root, name, file)
}

// check fails with ErrNoTree unless root has the files of a ctlfs root.
func (t tree) check() error {
	for _, file := range []string{"status", "ctl"} {
		if _, err := os.Stat(filepath.Join(t.root, file)); err != nil {
			return fmt.Errorf("%w at %s: start one with `make serve` or "+
				"`ctlfs serve --mount %s` (%v)", ErrNoTree, t.root, t.root, err)
		}
	}
	return nil
}

// checkFree fails with ErrNameTaken when a container called name exists.
func (t tree) checkFree(name string) error {
	_, err := os.Lstat(filepath.Join(t.root, name))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("check container %s: %w", name, err)
	}
	return fmt.Errorf("container %s %w in %s: remove it with rmdir %s, "+
		"or choose another --prefix", name, ErrNameTaken, t.root,
		filepath.Join(t.root, name))
}

// create makes the container directory name.
func (t tree) create(name string) error {
	err := os.Mkdir(filepath.Join(t.root, name), 0o755)
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("container %s %w in %s: another client made it "+
			"meanwhile", name, ErrNameTaken, t.root)
	}
	if err != nil {
		return fmt.Errorf("create container %s: %w", name, err)
	}
	return nil
}

// remove removes the container directory name.
func (t tree) remove(name string) error {
	if err := os.Remove(filepath.Join(t.root, name)); err != nil {
		return fmt.Errorf("remove container %s: %w", name, err)
	}
	return nil
}

// write writes value to a file of a container in one write(2). When the
// tree rejects it, the error includes the reason that the err file holds.
func (t tree) write(name, file, value string) error {
	err := os.WriteFile(t.path(name, file), []byte(value), 0o644)
	if err == nil {
		return nil
	}
	reason, _ := t.read(name, "err")
	if reason != "" {
		return fmt.Errorf("write %q to %s/%s: %w (%s)", value, name, file, err, reason)
	}
	return fmt.Errorf("write %q to %s/%s: %w", value, name, file, err)
}

// read returns the content of a file of a container, without the
// trailing newline.
func (t tree) read(name, file string) (string, error) {
	data, err := os.ReadFile(t.path(name, file))
	if err != nil {
		return "", fmt.Errorf("read %s/%s: %w", name, file, err)
	}
	return strings.TrimSuffix(string(data), "\n"), nil
}

// readRoot returns the content of a file at the root of the tree.
func (t tree) readRoot(file string) (string, error) {
	data, err := os.ReadFile(filepath.Join(t.root, file))
	if err != nil {
		return "", fmt.Errorf("read %s: %w", file, err)
	}
	return strings.TrimSuffix(string(data), "\n"), nil
}

// exited reports whether the content of a state file means that the
// container has exited.
func exited(state string) bool {
	return state == "exited" || strings.HasPrefix(state, "exited ")
}

// running reports whether the content of a state file means that the
// container has tasks.
func running(state string) bool {
	switch strings.Fields(state + " x")[0] {
	case "running", "frozen", "stopping":
		return true
	}
	return false
}

// waitExited polls the state of name until it reads exited and returns
// it. It polls rather than read the blocking wait file, so that ctx and
// the timeout can end the wait at once.
func (t tree) waitExited(ctx context.Context, name string, timeout time.Duration) (string, error) {
	deadline := time.Now().Add(timeout)
	for {
		state, err := t.read(name, "state")
		if err != nil || exited(state) {
			return state, err
		}
		if time.Now().After(deadline) {
			return state, fmt.Errorf("wait for %s: still %s after %s", name, state, timeout)
		}
		if err := sleep(ctx, statePoll); err != nil {
			return state, fmt.Errorf("wait for %s: %w", name, err)
		}
	}
}

// sleep waits for d, or returns the cause when ctx ends first.
func sleep(ctx context.Context, d time.Duration) error {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}
