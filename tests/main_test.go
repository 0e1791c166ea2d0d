// Package tests drives a mounted ctlfs tree end to end with a real shell:
// a real supervisor binary, real FUSE mount, real namespaced containers.
package tests

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"ctlfs/internal/testinit"
)

// rootListing is what ls prints in a tree without containers.
const rootListing = "ctl\nerr\nevents\nmetrics\nmonitor\nstatus\n"

// bin is the ctlfs binary built for the run.
var bin string

// buildFlags are the flags of go build for bin.
var buildFlags = []string{"build"}

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	if os.Geteuid() != 0 {
		fmt.Println("tests: skipped, needs root: mounts FUSE and creates namespaces and cgroups")
		return 0
	}
	dir, err := os.MkdirTemp("", "ctlfs-tests-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	bin = filepath.Join(dir, "ctlfs")
	build := exec.Command("go", append(buildFlags, "-o", bin, "../cmd/ctlfs")...)
	build.Stdout, build.Stderr = os.Stdout, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintf(os.Stderr, "build ctlfs: %v\n", err)
		return 1
	}
	// ctlfs serve finds the init beside its binary, as make builds it.
	// The variable, which make test sets, would take precedence over an
	// installed init.
	initPath, err := testinit.Path()
	if err == nil {
		err = copyFile(initPath, filepath.Join(dir, "ctlfs-init"))
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	os.Unsetenv(testinit.Env)
	return m.Run()
}

// rootfs returns the default rootfs that make rootfs builds.
func rootfs(t testing.TB) string {
	t.Helper()
	dir, err := filepath.Abs("../build/rootfs")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "bin/busybox")); err != nil {
		t.Fatalf("no rootfs at %s: run make rootfs first (%v)", dir, err)
	}
	return dir
}

// server is a running ctlfs serve process with its mount.
type server struct {
	t        testing.TB
	mnt      string
	stateDir string
	cmd      *exec.Cmd
	log      *syncBuffer
	killed   bool // by kill; stop then checks nothing
	// cgroup is the directory of the containers' cgroups, when not the
	// default that cgroupDir computes.
	cgroup  string
	exited  chan struct{}
	exitErr error
}

// startServer runs ctlfs serve on a fresh mount point and state directory,
// and shuts it down at the end of the test, checking that it leaves no
// mount, cgroup or process behind.
func startServer(t testing.TB, args ...string) *server {
	t.Helper()
	dir := t.TempDir()
	return startServerAt(t, filepath.Join(dir, "mnt"), filepath.Join(dir, "state"), args...)
}

// startServerAt runs ctlfs serve on the given mount point and state
// directory, as a supervisor that restarts does.
func startServerAt(t testing.TB, mnt, stateDir string, args ...string) *server {
	t.Helper()
	s := &server{
		t:        t,
		mnt:      mnt,
		stateDir: stateDir,
		log:      new(syncBuffer),
		exited:   make(chan struct{}),
	}
	args = append([]string{"serve", "--mount", s.mnt, "--state-dir", s.stateDir,
		"--rootfs", rootfs(t), "--grace", "2s"}, args...)
	s.cmd = exec.Command(bin, args...)
	s.start()
	return s
}

// start starts s.cmd, with its output going to s.log, and waits for the
// tree to appear. The test's cleanup shuts it down.
func (s *server) start() {
	t := s.t
	t.Helper()
	s.cmd.Stdout = s.log
	s.cmd.Stderr = s.log
	// A test binary that dies, at a timeout for example, takes its server
	// along.
	if s.cmd.SysProcAttr == nil {
		s.cmd.SysProcAttr = new(syscall.SysProcAttr)
	}
	s.cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		s.exitErr = s.cmd.Wait()
		close(s.exited)
	}()
	t.Cleanup(s.stop)
	s.waitMounted()
}

// waitMounted waits until the tree is mounted and the server has logged
// that it serves. The tree answers a little earlier, while go-fuse still
// holds a probe file of it open; a SIGKILL then leaves the dying server
// waiting on its own mount, and every request to the mount with it.
func (s *server) waitMounted() {
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := os.Stat(filepath.Join(s.mnt, "status"))
		if err == nil && strings.Contains(s.log.String(), "msg=serving") {
			return
		}
		select {
		case <-s.exited:
			s.t.Fatalf("ctlfs serve exited early: %v\n%s", s.exitErr, s.log)
		default:
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("mount %s did not appear:\n%s", s.mnt, s.log)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// kill ends the server with SIGKILL, as a crash would, and waits for it.
func (s *server) kill() {
	s.killed = true
	s.cmd.Process.Kill()
	<-s.exited
	// The mount stays behind, as after a real crash, until a new server
	// takes the mount point or the test ends.
	s.t.Cleanup(func() {
		if isMounted(s.mnt) {
			syscall.Unmount(s.mnt, syscall.MNT_DETACH)
		}
	})
}

// syncBuffer is a bytes.Buffer safe for the server's two output streams
// and the test's reads.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// stop shuts the server down through the tree and checks what it leaves.
func (s *server) stop() {
	if s.killed {
		return
	}
	select {
	case <-s.exited:
	default:
		exec.Command("sh", "-c", "echo shutdown > "+filepath.Join(s.mnt, "ctl")).Run()
	}
	select {
	case <-s.exited:
	case <-time.After(30 * time.Second):
		// SIGQUIT makes the Go runtime print every goroutine's stack.
		s.cmd.Process.Signal(syscall.SIGQUIT)
		select {
		case <-s.exited:
		case <-time.After(5 * time.Second):
			s.cmd.Process.Kill()
			<-s.exited
		}
		s.t.Errorf("ctlfs serve did not exit after shutdown:\n%s", s.log)
	}
	if s.exitErr != nil {
		s.t.Errorf("ctlfs serve: %v\n%s", s.exitErr, s.log)
	}
	if isMounted(s.mnt) {
		s.t.Errorf("%s still mounted after shutdown", s.mnt)
		syscall.Unmount(s.mnt, syscall.MNT_DETACH)
	}
	if dir := s.cgroupDir(); dirExists(dir) {
		s.t.Errorf("cgroup %s left after shutdown", dir)
	}
}

// removeCgroupParentAtEnd removes, at the end of the test, the directory
// rel below the cgroup v2 mount and below each v1 mount, which a server
// given --cgroup-parent rel keeps when it exits.
func removeCgroupParentAtEnd(t testing.TB, rel string) {
	t.Cleanup(func() {
		dirs, _ := filepath.Glob(filepath.Join("/sys/fs/cgroup/*", rel))
		for _, dir := range append(dirs, filepath.Join(cgroup2Mount(t), rel)) {
			os.Remove(dir)
		}
	})
}

func isMounted(dir string) bool {
	data, _ := os.ReadFile("/proc/self/mountinfo")
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) > 4 && f[4] == dir {
			return true
		}
	}
	return false
}

// cgroupDir returns the server's cgroup v2 directory: the runtime names it
// after a hash of the state directory.
func (s *server) cgroupDir() string {
	if s.cgroup != "" {
		return s.cgroup
	}
	sum := sha256.Sum256([]byte(s.stateDir))
	return filepath.Join(cgroup2Mount(s.t), "ctlfs", hex.EncodeToString(sum[:6]))
}

// prestartSize is the number of inits that ctlfs serve keeps started
// ahead of time by default (--prestart).
const prestartSize = 2

// cgroupsLeft returns the directories in the server's cgroup v2 directory
// that belong to no waiting init. The inits that the server keeps started
// ahead of time have cgroups named .prestart-N, each with the init in it,
// and there are at most prestartSize of them.
func (s *server) cgroupsLeft() []string {
	entries, _ := os.ReadDir(s.cgroupDir())
	var left, waiting []string
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		procs, _ := os.ReadFile(filepath.Join(s.cgroupDir(), e.Name(), "cgroup.procs"))
		if strings.HasPrefix(e.Name(), ".prestart-") && len(procs) > 0 {
			waiting = append(waiting, e.Name())
			continue
		}
		left = append(left, e.Name())
	}
	if len(waiting) > prestartSize {
		left = append(left, waiting...)
	}
	return left
}

// waitPrestarted has the server start its inits ahead of time, which it
// does once a container is created, and waits until it keeps
// prestartSize of them ready.
func (s *server) waitPrestarted() {
	s.t.Helper()
	s.mustSh("mkdir warm-up && rmdir warm-up")
	waitFor(s.t, "the inits started ahead of time", func() bool {
		n := 0
		entries, _ := os.ReadDir(s.cgroupDir())
		for _, e := range entries {
			if strings.HasPrefix(e.Name(), ".prestart-") {
				n++
			}
		}
		return n == prestartSize && len(s.cgroupsLeft()) == 0
	})
}

func cgroup2Mount(t testing.TB) string {
	data, _ := os.ReadFile("/proc/self/mountinfo")
	for _, line := range strings.Split(string(data), "\n") {
		pre, post, ok := strings.Cut(line, " - ")
		if f := strings.Fields(pre); ok && len(f) > 4 && strings.HasPrefix(post, "cgroup2 ") {
			return f[4]
		}
	}
	t.Fatal("no cgroup2 mount")
	return ""
}

func dirExists(dir string) bool {
	fi, err := os.Stat(dir)
	return err == nil && fi.IsDir()
}

// path returns the path of name inside the mount.
func (s *server) path(name string) string { return filepath.Join(s.mnt, name) }

// sh runs script with sh -c in the mount directory and returns its
// standard output and error and its exit code.
func (s *server) sh(script string) (string, string, int) {
	s.t.Helper()
	cmd := exec.Command("sh", "-c", script)
	cmd.Dir = s.mnt
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	code := 0
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		s.t.Fatalf("sh -c %q: %v", script, err)
	}
	return stdout.String(), stderr.String(), code
}

// mustSh runs script and fails the test unless it exits 0.
func (s *server) mustSh(script string) string {
	s.t.Helper()
	out, errOut, code := s.sh(script)
	if code != 0 {
		s.t.Fatalf("sh -c %q: exit %d: %s\nserver log:\n%s", script, code, errOut, s.log)
	}
	return out
}

// read returns the content of a file of the tree.
func (s *server) read(name string) string {
	s.t.Helper()
	data, err := os.ReadFile(s.path(name))
	if err != nil {
		s.t.Fatalf("read %s: %v", name, err)
	}
	return string(data)
}

// waitState blocks on NAME/wait and returns the state it reads.
func (s *server) waitState(name string) string {
	s.t.Helper()
	out := s.mustSh("timeout 30 cat " + name + "/wait")
	return strings.TrimSuffix(out, "\n")
}

// waitFor polls cond until it holds or ten seconds pass.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// copyFile copies the executable src to dst.
func copyFile(src, dst string) error {
	data, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	return os.WriteFile(dst, data, 0o755)
}
