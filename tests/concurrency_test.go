package tests

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"ctlfs/experiment"
)

// TestConcurrentShells has many writers run mkdir, writes, reads and
// rmdir at once on a few shared containers and checks that the tree
// stays consistent and responsive throughout.
func TestConcurrentShells(t *testing.T) {
	s := startServer(t)
	names := []string{"x", "y", "z"}
	ops := []func(name string) error{
		func(n string) error { return os.Mkdir(s.path(n), 0o755) },
		func(n string) error { return os.Remove(s.path(n)) },
		func(n string) error { return writeValue(s, n+"/cmd", "sleep 0.2") },
		func(n string) error { return writeValue(s, n+"/cmd", "sh -c 'echo hi; sleep 0.1'") },
		func(n string) error { return writeValue(s, n+"/limits", "soft=32M pids=64") },
		func(n string) error { return writeValue(s, n+"/ctl", "kill") },
		func(n string) error { return writeValue(s, n+"/ctl", "stop 0.1") },
		func(n string) error { return writeValue(s, n+"/ctl", "nice 3") },
		func(n string) error { return writeValue(s, n+"/env", "A=1") },
		func(n string) error { _, err := os.ReadFile(s.path(n + "/status")); return err },
		func(n string) error { _, err := os.ReadFile(s.path(n + "/log")); return err },
		func(n string) error { _, err := os.ReadFile(s.path("status")); return err },
		func(n string) error {
			return exec.Command("sh", "-c", "cd "+s.mnt+" && ls >/dev/null && cat "+n+"/state").Run()
		},
	}
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 1))
			for range 150 {
				op := ops[rng.IntN(len(ops))]
				op(names[rng.IntN(len(names))]) // most fail: that is the point
			}
		}()
	}
	waitOrDump(t, s, &wg, 3*time.Minute)

	// Every container listed has a valid state and can be ended and removed.
	for _, name := range names {
		if _, err := os.Stat(s.path(name)); err != nil {
			continue
		}
		st := s.read(name + "/state")
		valid := st == "created\n" || st == "running\n" || st == "stopping\n" ||
			strings.HasPrefix(st, "exited ")
		if !valid {
			t.Errorf("%s/state = %q", name, st)
		}
		s.sh("echo kill > " + name + "/ctl")
		s.waitState(name)
		s.mustSh("rmdir " + name)
	}
	if ls := s.mustSh("ls"); ls != rootListing {
		t.Errorf("containers left: %q", ls)
	}
	waitFor(t, "the cgroups to go", func() bool { return len(s.cgroupsLeft()) == 0 })
}

// writeValue writes one value to a file of the tree, as echo does.
func writeValue(s *server, name, value string) error {
	return os.WriteFile(s.path(name), []byte(value+"\n"), 0)
}

func TestExperimentPreflight(t *testing.T) {
	opts := experiment.DefaultOptions()
	opts.Mount, opts.Out = filepath.Join(t.TempDir(), "none"), t.TempDir()
	err := experiment.Run(context.Background(), "nice", opts, testWriter{t})
	if !errors.Is(err, experiment.ErrNoTree) || !strings.Contains(err.Error(), "make serve") {
		t.Errorf("no tree: err = %v, want ErrNoTree saying what to do", err)
	}

	s := startServer(t)
	bare := filepath.Join(t.TempDir(), "rootfs")
	if out, err := exec.Command("cp", "-a", rootfs(t), bare).CombinedOutput(); err != nil {
		t.Fatalf("copy rootfs: %v: %s", err, out)
	}
	for _, w := range []string{"cpu_hog", "io_pulse", "memory_hog"} {
		os.Remove(filepath.Join(bare, "usr/local/bin", w))
	}
	opts.Mount, opts.Rootfs = s.mnt, bare
	for _, name := range experiment.Names() {
		err := experiment.Run(context.Background(), name, opts, testWriter{t})
		if !errors.Is(err, experiment.ErrWorkloadMissing) || !strings.Contains(err.Error(), "make rootfs") {
			t.Errorf("%s without workloads: err = %v, want ErrWorkloadMissing saying what to do", name, err)
		}
	}
	if ls := s.mustSh("ls"); ls != rootListing {
		t.Errorf("failed experiments left containers: %q", ls)
	}
}

// TestThreadsPerContainer checks that running containers do not each
// hold a supervisor thread, as a blocking read of each log pipe would.
func TestThreadsPerContainer(t *testing.T) {
	s := startServer(t)
	const n = 40
	var script strings.Builder
	for i := range n {
		fmt.Fprintf(&script, "mkdir c%d && echo 'sleep 60' > c%d/cmd && ", i, i)
	}
	s.mustSh(script.String() + "true")
	threads := threadCount(t, s.cmd.Process.Pid)
	if threads >= n {
		t.Errorf("supervisor has %d threads with %d containers running, want fewer than %d", threads, n, n)
	}
	for i := range n {
		s.mustSh(fmt.Sprintf("echo kill > c%d/ctl && cat c%d/wait >/dev/null", i, i))
	}
}

// threadCount returns the number of threads of process pid.
func threadCount(t *testing.T, pid int) int {
	t.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "Threads:"); ok {
			n, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil {
				t.Fatalf("bad Threads line %q", line)
			}
			return n
		}
	}
	t.Fatalf("no Threads line in /proc/%d/status", pid)
	return 0
}
