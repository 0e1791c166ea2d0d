package main

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"

	"golang.org/x/sys/unix"
)

// unifiedMount is the mount point of the cgroup v2 hierarchy beside the
// v1 controllers on hybrid hosts.
const unifiedMount = "/sys/fs/cgroup/unified"

// hybridV2Controllers returns the controllers enabled in the cgroup v2
// hierarchy of a hybrid host, or nil when the host is not hybrid. crun
// 1.8 rejects a hybrid host that has any ("cgroups in hybrid mode not
// supported, drop all controllers from cgroupv2").
func hybridV2Controllers() []string {
	var st unix.Statfs_t
	if unix.Statfs("/sys/fs/cgroup", &st) != nil || st.Type == unix.CGROUP2_SUPER_MAGIC {
		return nil
	}
	if unix.Statfs(unifiedMount, &st) != nil || st.Type != unix.CGROUP2_SUPER_MAGIC {
		return nil
	}
	data, err := os.ReadFile(unifiedMount + "/cgroup.controllers")
	if err != nil {
		return nil
	}
	return strings.Fields(string(data))
}

// v1OnlyThread is an OS thread in a mount namespace of its own in which
// the cgroup v2 hierarchy is unmounted, so that the processes it starts
// see a host with cgroup v1 controllers only. The v1 hierarchies are the
// host's, so cgroups made there are visible, and checked, on the host.
//
// The namespace belongs to the thread alone: unshare(CLONE_NEWNS) on a
// thread of a Go program also unshares its file system attributes, and a
// child started from the thread (fork in os/exec) inherits its namespace.
// Go starts new threads from a clean template thread while a goroutine is
// locked to its thread, so no other thread of the harness ends up inside.
type v1OnlyThread struct {
	calls chan func()
	done  chan struct{}
}

// newV1OnlyThread starts the thread and returns once the namespace is
// ready. The namespace ends with the thread, at close, once the last
// process started in it has exited.
func newV1OnlyThread() (*v1OnlyThread, error) {
	t := &v1OnlyThread{calls: make(chan func()), done: make(chan struct{})}
	ready := make(chan error, 1)
	go func() {
		defer close(t.done)
		// The goroutine never unlocks, so Go ends the thread when it
		// returns instead of handing it to other goroutines.
		runtime.LockOSThread()
		if err := enterV1OnlyNamespace(); err != nil {
			ready <- err
			return
		}
		ready <- nil
		for call := range t.calls {
			call()
		}
	}()
	if err := <-ready; err != nil {
		<-t.done
		return nil, err
	}
	if !cgroup2Mounted(unifiedMount) {
		t.close()
		return nil, fmt.Errorf("%s is gone on the host after unmounting it in a private mount namespace", unifiedMount)
	}
	return t, nil
}

// enterV1OnlyNamespace moves the calling thread to a new mount namespace,
// makes every mount in it private, so that nothing propagates back to
// the host, and unmounts the cgroup v2 hierarchy there.
func enterV1OnlyNamespace() error {
	if err := unix.Unshare(unix.CLONE_NEWNS); err != nil {
		return fmt.Errorf("unshare mount namespace: %w", err)
	}
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("make mounts private: %w", err)
	}
	if err := unix.Unmount(unifiedMount, 0); err != nil {
		return fmt.Errorf("unmount %s in the private namespace: %w", unifiedMount, err)
	}
	if cgroup2Mounted(unifiedMount) {
		return errors.New("cgroup v2 still mounted in the private namespace")
	}
	return nil
}

func cgroup2Mounted(dir string) bool {
	var st unix.Statfs_t
	return unix.Statfs(dir, &st) == nil && st.Type == unix.CGROUP2_SUPER_MAGIC
}

// do runs f on the thread and returns when f has returned.
func (t *v1OnlyThread) do(f func()) {
	finished := make(chan struct{})
	t.calls <- func() {
		defer close(finished)
		f()
	}
	<-finished
}

// close ends the thread and with it the namespace.
func (t *v1OnlyThread) close() {
	close(t.calls)
	<-t.done
}
