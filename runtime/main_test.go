package runtime_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"ctlfs/internal/testinit"
	"ctlfs/monitor"
	"ctlfs/runtime"
)

// TestMain gives the supervisors under test a built container init.
func TestMain(m *testing.M) {
	if err := testinit.Setenv(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(m.Run())
}

// testRootfs returns the default rootfs that make rootfs builds.
func testRootfs(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs(rootfsDir())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "bin/busybox")); err != nil {
		t.Fatalf("no rootfs at %s: run make rootfs first (%v)", dir, err)
	}
	return dir
}

func newSupervisor(t *testing.T) *runtime.Supervisor {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: creates namespaces, mounts and cgroups")
	}
	mon, err := monitor.New("", 0)
	if err != nil {
		t.Fatal(err)
	}
	return newSupervisorAt(t, runtime.Config{
		StateDir:      t.TempDir(),
		DefaultRootfs: testRootfs(t),
		Grace:         time.Second,
		Monitor:       mon,
	})
}

// runCommand creates a container, starts line in it and waits for it.
func runCommand(t *testing.T, sup *runtime.Supervisor, name, line string) (*runtime.Container, runtime.State) {
	t.Helper()
	c := startCommand(t, sup, name, line)
	return c, waitExit(t, c)
}

// startCommand creates a container and starts line in it.
func startCommand(t *testing.T, sup *runtime.Supervisor, name, line string) *runtime.Container {
	t.Helper()
	c, err := sup.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.SetCommand(line); err != nil {
		t.Fatal(err)
	}
	return c
}

// newSupervisorWithInit returns a supervisor that starts initPath as
// every container's init.
func newSupervisorWithInit(t *testing.T, initPath string) *runtime.Supervisor {
	t.Helper()
	return newSupervisorAt(t, runtime.Config{
		StateDir:      t.TempDir(),
		DefaultRootfs: testRootfs(t),
		InitPath:      initPath,
	})
}

func waitExit(t *testing.T, c *runtime.Container) runtime.State {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	st, err := c.Wait(ctx)
	if err != nil {
		t.Fatalf("wait for %s: %v (state %s)", c.Name(), err, c.State())
	}
	return st
}

func readLog(t *testing.T, c *runtime.Container) string {
	t.Helper()
	buf := make([]byte, c.Log().Size())
	n, _ := c.Log().ReadAt(buf, 0)
	return string(buf[:n])
}

func hasLine(text, line string) bool {
	for _, l := range strings.Split(text, "\n") {
		if l == line {
			return true
		}
	}
	return false
}

func rootfsDir() string {
	if dir := os.Getenv("CTLFS_TEST_ROOTFS"); dir != "" {
		return dir
	}
	return "../build/rootfs"
}
