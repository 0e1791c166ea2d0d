package fsys_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hanwen/go-fuse/v2/fuse"

	"ctlfs/fsys"
	"ctlfs/internal/testinit"
	"ctlfs/runtime"
)

// TestMain gives the supervisors under test a built container init, and
// runs the helper that leaves a stale mount when a test starts this
// binary as that helper.
func TestMain(m *testing.M) {
	if err := testinit.Setenv(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if dir := os.Getenv(staleMountHelperEnv); dir != "" {
		runStaleMountHelper(dir)
	}
	os.Exit(m.Run())
}

// mountTree mounts a tree on a new temporary directory, served by a new
// supervisor whose default rootfs is rootfs, and unmounts it at cleanup.
func mountTree(t *testing.T, rootfs string) (string, *runtime.Supervisor) {
	t.Helper()
	log := slog.New(slog.NewTextHandler(testWriter{t}, nil))
	sup, err := runtime.New(runtime.Config{
		StateDir:      t.TempDir(),
		DefaultRootfs: rootfs,
		Grace:         time.Second,
		Logger:        log,
	})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	server, err := fsys.Mount(dir, sup, fsys.Options{
		Logger:  log,
		Monitor: func() string { return "proc: test monitor" },
	})
	if err != nil {
		shutdownSupervisor(t, sup)
		t.Fatal(err)
	}
	t.Cleanup(func() { unmountTree(t, server, dir, sup, log) })
	return dir, sup
}

func unmountTree(t *testing.T, server *fuse.Server, dir string, sup *runtime.Supervisor, log *slog.Logger) {
	shutdownSupervisor(t, sup)
	if err := fsys.Unmount(server, dir, log); err != nil {
		t.Errorf("unmount %s: %v", dir, err)
	}
}

func shutdownSupervisor(t *testing.T, sup *runtime.Supervisor) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := sup.Shutdown(ctx); err != nil {
		t.Errorf("shut down supervisor: %v", err)
	}
}

// testWriter sends the supervisor's log to the test's log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(p[:len(p)-1]))
	return len(p), nil
}

// testRootfs returns the rootfs that "make rootfs" builds, or the one
// that CTLFS_TEST_ROOTFS names.
func testRootfs(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("CTLFS_TEST_ROOTFS")
	if dir == "" {
		dir = "../build/rootfs"
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "bin/busybox")); err != nil {
		t.Fatalf("no rootfs at %s: run make rootfs first (%v)", dir, err)
	}
	return dir
}

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: mounts FUSE and creates cgroups")
	}
}
