package runtime_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"ctlfs/runtime"
)

// newPrestartSupervisor returns a supervisor that keeps n inits started
// ahead of time, and the configuration it was made with.
func newPrestartSupervisor(t *testing.T, n int) (*runtime.Supervisor, runtime.Config) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: creates namespaces, mounts and cgroups")
	}
	cfg := runtime.Config{
		StateDir: t.TempDir(), DefaultRootfs: testRootfs(t),
		Grace: time.Second, Prestart: n,
	}
	return newSupervisorAt(t, cfg), cfg
}

// readyInits returns the prestarted inits that wait for their
// configuration: the thread that runs the init's work, which need not be
// the first, sleeps in a read of a pipe.
func readyInits(t *testing.T) []int {
	t.Helper()
	var ready []int
	for _, pid := range prestartedInits(t) {
		tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/wchan", pid))
		for _, task := range tasks {
			if wchan, _ := os.ReadFile(task); strings.Contains(string(wchan), "pipe") {
				ready = append(ready, pid)
				break
			}
		}
	}
	return ready
}

// prestartedInits returns the PIDs of this process's children that wait
// in the cgroup of a prestarted init.
func prestartedInits(t *testing.T) []int {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		status, err1 := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
		cgroup, err2 := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
		if err1 != nil || err2 != nil ||
			!strings.Contains(string(status), fmt.Sprintf("\nPPid:\t%d\n", os.Getpid())) ||
			!strings.Contains(string(cgroup), "/.prestart-") {
			continue
		}
		pids = append(pids, pid)
	}
	return pids
}

func TestPrestartFreshNamespaces(t *testing.T) {
	sup, _ := newPrestartSupervisor(t, 2)
	if len(prestartedInits(t)) != 0 {
		t.Error("inits started before the first container was created")
	}
	var list []*runtime.Container
	for i := range 4 {
		c, err := sup.Create(fmt.Sprintf("fresh%d", i))
		if err != nil {
			t.Fatal(err)
		}
		list = append(list, c)
	}
	waitFor(t, "two prestarted inits", func() bool { return len(readyInits(t)) == 2 })

	for _, c := range list {
		err := c.SetCommand(`sh -c 'hostname; cat /proc/self/cgroup; echo interfaces=$(grep -c : /proc/net/dev); ps -o pid,comm; echo done; sleep 100'`)
		if err != nil {
			t.Fatal(err)
		}
	}
	// Namespaces are compared while they all exist: the kernel reuses the
	// number of a namespace that was freed.
	seen := make(map[string]string)
	for _, ns := range []string{"net", "pid", "mnt", "uts", "ipc"} {
		own, _ := os.Readlink("/proc/self/ns/" + ns)
		seen[own] = "the test"
		for _, c := range list {
			id, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/%s", c.PID(), ns))
			if err != nil {
				t.Fatal(err)
			}
			if other, ok := seen[id]; ok {
				t.Errorf("%s and %s share namespace %s", other, c.Name(), id)
			}
			seen[id] = c.Name()
		}
	}

	prestarted := 0
	for _, c := range list {
		waitLog(t, c, "done\n")
		out := readLog(t, c)
		if !hasLine(out, c.Name()) {
			t.Errorf("%s: hostname not in log:\n%s", c.Name(), out)
		}
		if !hasLine(out, "interfaces=1") {
			t.Errorf("%s: network namespace has more than loopback:\n%s", c.Name(), out)
		}
		if !strings.Contains(out, "PID   COMMAND\n    1 ctlfs-init\n") {
			t.Errorf("%s: PID 1 is not the init:\n%s", c.Name(), out)
		}
		if strings.Contains(out, "/.prestart-") {
			prestarted++
		}
		if err := c.Kill(syscall.SIGKILL); err != nil {
			t.Error(err)
		}
		waitExit(t, c)
	}
	if prestarted < 2 {
		t.Errorf("%d of 4 containers got a prestarted init, want at least 2", prestarted)
	}
}

func TestPrestartHostNetwork(t *testing.T) {
	sup, _ := newPrestartSupervisor(t, 1)
	c, err := sup.Create("hostnet")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.SetNet(runtime.NetHost); err != nil {
		t.Fatal(err)
	}
	if err := c.SetCommand("cat /proc/self/cgroup"); err != nil {
		t.Fatal(err)
	}
	st := waitExit(t, c)
	out := readLog(t, c)
	if st.String() != "exited 0" {
		t.Fatalf("state = %q, log:\n%s", st, out)
	}
	if !strings.Contains(out, "/hostnet\n") || strings.Contains(out, "/.prestart-") {
		t.Errorf("a host-network container got a prestarted init:\n%s", out)
	}
}

func TestPrestartDeadInitSkipped(t *testing.T) {
	sup, _ := newPrestartSupervisor(t, 2)
	var list []*runtime.Container
	for i := range 3 {
		c, err := sup.Create(fmt.Sprintf("after%d", i))
		if err != nil {
			t.Fatal(err)
		}
		list = append(list, c)
	}
	waitFor(t, "two prestarted inits", func() bool { return len(prestartedInits(t)) == 2 })
	killed := prestartedInits(t)
	for _, pid := range killed {
		syscall.Kill(pid, syscall.SIGKILL)
	}
	// The first thread of a process turns zombie before the others have
	// exited, and only the last one closes the process's descriptors.
	waitFor(t, "the killed inits to die", func() bool {
		for _, pid := range killed {
			stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
			tasks, _ := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
			if err == nil && (!strings.Contains(string(stat), ") Z ") || len(tasks) > 1) {
				return false
			}
		}
		return true
	})
	for _, c := range list {
		if err := c.SetCommand("/bin/true"); err != nil {
			t.Fatal(err)
		}
		if st := waitExit(t, c); st.String() != "exited 0" {
			t.Errorf("%s: state = %q, log:\n%s", c.Name(), st, readLog(t, c))
		}
	}
}

func TestPrestartShutdownEndsInits(t *testing.T) {
	sup, cfg := newPrestartSupervisor(t, 3)
	c, err := sup.Create("one")
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "three prestarted inits", func() bool { return len(prestartedInits(t)) == 3 })
	if err := c.SetCommand("/bin/true"); err != nil {
		t.Fatal(err)
	}
	if st := waitExit(t, c); st.String() != "exited 0" {
		t.Errorf("state = %q", st)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := sup.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if pids := prestartedInits(t); len(pids) > 0 {
		t.Errorf("prestarted inits left after shutdown: %v", pids)
	}
	// The runtime names the supervisor's cgroup directories after a hash
	// of its state directory.
	sum := sha256.Sum256([]byte(cfg.StateDir))
	dirs, _ := filepath.Glob("/sys/fs/cgroup/*/ctlfs/" + hex.EncodeToString(sum[:6]))
	for _, dir := range dirs {
		t.Errorf("cgroup left after shutdown: %s", dir)
	}
}
