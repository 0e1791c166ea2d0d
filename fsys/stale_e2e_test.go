package fsys_test

import (
	"context"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"

	"ctlfs/fsys"
)

// staleMountHelperEnv names the directory on which the helper process
// mounts an empty FUSE tree and then waits to be killed.
const staleMountHelperEnv = "CTLFS_TEST_STALE_MOUNT"

func runStaleMountHelper(dir string) {
	_, err := fs.Mount(dir, &fs.Inode{}, &fs.Options{
		MountOptions: fuse.MountOptions{DirectMount: true, Name: "ctlfs"},
	})
	if err != nil {
		os.Stderr.WriteString("mount: " + err.Error() + "\n")
		os.Exit(1)
	}
	os.Stdout.WriteString("mounted\n")
	select {}
}

// TestCleanStaleMount kills a process that serves a FUSE mount, as a
// supervisor killed with SIGKILL leaves it, and detaches the mount.
func TestCleanStaleMount(t *testing.T) {
	requireRoot(t)
	dir := t.TempDir()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	killStaleMountHelper(t, dir)
	t.Cleanup(func() { unix.Unmount(dir, unix.MNT_DETACH) })

	var st unix.Stat_t
	if err := unix.Stat(dir, &st); err != unix.ENOTCONN {
		t.Fatalf("stat of the dead mount: %v, want ENOTCONN", err)
	}
	if err := fsys.CleanStaleMount(dir, log); err != nil {
		t.Fatalf("clean stale mount: %v", err)
	}
	if err := unix.Stat(dir, &st); err != nil {
		t.Errorf("stat after cleaning: %v", err)
	}
}

func killStaleMountHelper(t *testing.T, dir string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	helper := exec.CommandContext(ctx, "/proc/self/exe", "-test.run=^$")
	helper.Env = append(os.Environ(), staleMountHelperEnv+"="+dir)
	helper.Stderr = os.Stderr
	stdout, err := helper.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := helper.Start(); err != nil {
		t.Fatal(err)
	}
	line := make([]byte, len("mounted\n"))
	if _, err := io.ReadFull(stdout, line); err != nil {
		helper.Process.Kill()
		helper.Wait()
		t.Fatalf("helper did not mount: %v", err)
	}
	helper.Process.Kill()
	helper.Wait()
}

// TestCleanStaleMountLive checks that a mount whose server is alive stays.
func TestCleanStaleMountLive(t *testing.T) {
	requireRoot(t)
	dir, _ := mountTree(t, "/nonexistent")
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if err := fsys.CleanStaleMount(dir, log); err == nil {
		t.Error("clean stale mount of a live tree succeeded, want an error")
	}
	if _, err := os.Stat(dir + "/ctl"); err != nil {
		t.Errorf("tree gone after the refused clean: %v", err)
	}
}

func TestCleanStaleMountPlainDir(t *testing.T) {
	requireRoot(t)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if err := fsys.CleanStaleMount(t.TempDir(), log); err != nil {
		t.Errorf("clean stale mount of a plain directory: %v", err)
	}
	if err := fsys.CleanStaleMount(t.TempDir()+"/missing", log); err != nil {
		t.Errorf("clean stale mount of a missing directory: %v", err)
	}
}
