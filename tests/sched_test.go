package tests

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"ctlfs/experiment"
)

// taskNices returns the nice value of every task in container name,
// keyed by thread id.
func taskNices(t *testing.T, s *server, name string) map[string]int {
	t.Helper()
	dir := cgroupDirOf(t, strings.TrimSpace(s.read(name+"/pid")), "")
	nices := make(map[string]int)
	for _, tid := range strings.Fields(readFile(t, dir+"/cgroup.threads")) {
		data, err := os.ReadFile("/proc/" + tid + "/stat")
		if err != nil {
			continue // exited meanwhile
		}
		// Fields after the command name; nice is field 19 of stat.
		f := strings.Fields(string(data[strings.LastIndexByte(string(data), ')')+2:]))
		n, _ := strconv.Atoi(f[16])
		nices[tid] = n
	}
	return nices
}

func checkAllNice(t *testing.T, s *server, name string, want int) {
	t.Helper()
	nices := taskNices(t, s, name)
	if len(nices) == 0 {
		t.Fatalf("%s has no tasks", name)
	}
	for tid, n := range nices {
		if n != want {
			t.Errorf("task %s of %s has nice %d, want %d", tid, name, n, want)
		}
	}
}

func TestRenice(t *testing.T) {
	s := startServer(t)
	// Set before the start: stored, then applied.
	s.mustSh(`mkdir n && echo 'nice 7' > n/ctl`)
	if got := s.read("n/nice"); got != "7\n" {
		t.Errorf("nice before start = %q, want 7", got)
	}
	s.mustSh(`echo "sh -c 'while :; do sleep 0.5 & wait; done'" > n/cmd`)
	defer s.sh("echo kill > n/ctl; cat n/wait")
	waitFor(t, "the command to start", func() bool {
		dir := cgroupDirOf(t, strings.TrimSpace(s.read("n/pid")), "")
		return len(strings.Fields(readFile(t, dir+"/cgroup.procs"))) >= 2
	})
	checkAllNice(t, s, "n", 7)

	s.mustSh("echo -3 > n/ctl")
	if got := s.read("n/nice"); got != "-3\n" {
		t.Errorf("nice = %q, want -3", got)
	}
	events := strings.Count(s.read("n/events"), " nice ")
	s.mustSh("echo 'nice -3' > n/ctl")
	if n := strings.Count(s.read("n/events"), " nice "); n != events {
		t.Errorf("writing the same nice again added %d events", n-events)
	}
	// Processes started after the renice keep it.
	time.Sleep(1500 * time.Millisecond)
	checkAllNice(t, s, "n", -3)

	for _, bad := range []string{"20", "-21", "nice", "nice x", "1.5"} {
		_, errOut, code := s.sh("/bin/echo '" + bad + "' > n/ctl")
		if code == 0 || !strings.Contains(errOut, "Invalid argument") {
			t.Errorf("nice %q: exit %d, %q; want EINVAL", bad, code, errOut)
		}
	}
	if got := s.read("n/nice"); got != "-3\n" {
		t.Errorf("nice after rejected writes = %q, want -3", got)
	}
}

// TestNiceSetsCPUWeight checks that the container's CPU weight follows
// the kernel's weight table.
func TestNiceSetsCPUWeight(t *testing.T) {
	s := startServer(t)
	s.mustSh(`mkdir w && echo 'nice -5' > w/ctl && echo 'sleep 300' > w/cmd`)
	defer s.sh("echo kill > w/ctl; cat w/wait")
	pid := strings.TrimSpace(s.read("w/pid"))
	if dir := cgroupDirOf(t, pid, "cpu"); dirExists(dir) && fileExists(dir+"/cpu.shares") {
		if got := readFile(t, dir+"/cpu.shares"); got != "3121\n" {
			t.Errorf("cpu.shares = %q at nice -5, want 3121", got)
		}
		s.mustSh("echo 5 > w/ctl")
		if got := readFile(t, dir+"/cpu.shares"); got != "335\n" {
			t.Errorf("cpu.shares = %q at nice 5, want 335", got)
		}
	} else if fileExists(dir + "/cpu.weight.nice") {
		if got := readFile(t, dir+"/cpu.weight.nice"); got != "-5\n" {
			t.Errorf("cpu.weight.nice = %q, want -5", got)
		}
		s.mustSh("echo 5 > w/ctl")
		if got := readFile(t, dir+"/cpu.weight.nice"); got != "5\n" {
			t.Errorf("cpu.weight.nice = %q at nice 5, want 5", got)
		}
	} else {
		t.Skip("no cpu controller: the weight goes through autogroup")
	}
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

func TestCPUList(t *testing.T) {
	s := startServer(t)
	s.mustSh(`mkdir p && echo cpus=0 > p/limits && echo 'sleep 300' > p/cmd`)
	defer s.sh("echo kill > p/ctl; cat p/wait")
	pid := strings.TrimSpace(s.read("p/pid"))
	checkAllowed := func(want string) {
		t.Helper()
		dir := cgroupDirOf(t, pid, "")
		for _, tid := range strings.Fields(readFile(t, dir+"/cgroup.threads")) {
			for _, line := range strings.Split(readFile(t, "/proc/"+tid+"/status"), "\n") {
				if v, ok := strings.CutPrefix(line, "Cpus_allowed_list:"); ok && strings.TrimSpace(v) != want {
					t.Errorf("task %s may run on %q, want %s", tid, strings.TrimSpace(v), want)
				}
			}
		}
	}
	checkAllowed("0")
	online := strings.TrimSpace(readFile(t, "/sys/devices/system/cpu/online"))
	if strings.HasPrefix(online, "0-") { // CPUs 0 and 1 are online
		s.mustSh("echo cpus=1 > p/limits")
		checkAllowed("1")
	}
	// all gives the container every CPU of its parent cgroup again.
	s.mustSh("echo cpus=all > p/limits")
	checkAllowed(online)
	_, errOut, code := s.sh("/bin/echo cpus=4095 > p/limits")
	if code == 0 {
		t.Errorf("cpus=4095 accepted: %q", errOut)
	}
	if !strings.Contains(s.read("p/limits"), "cpus=") {
		t.Errorf("limits lacks cpus: %q", s.read("p/limits"))
	}
}

// TestExperiments runs each experiment, shortened, against a live tree
// and checks what it measured against its predictions.
func TestExperiments(t *testing.T) {
	s := startServer(t)
	for _, name := range experiment.Names() {
		t.Run(name, func(t *testing.T) {
			opts := experiment.DefaultOptions()
			opts.Mount, opts.Out = s.mnt, t.TempDir()
			// The nice experiment keeps its full 10 CPU-seconds: over a few
			// seconds the start, when the scheduler has not yet settled on
			// the weights, moves the share by several points.
			opts.Iterations = 10
			res, err := experiment.Execute(context.Background(), name, opts, testWriter{t})
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range res.Checks {
				if !c.OK {
					t.Errorf("%s: %s", c.Name, c.Detail)
				}
			}
			if _, err := os.Stat(res.Report); err != nil {
				t.Errorf("report: %v", err)
			}
			for _, p := range res.Plots {
				if fi, err := os.Stat(p); err != nil || fi.Size() == 0 || filepath.Ext(p) != ".png" {
					t.Errorf("plot %s: %v", p, err)
				}
			}
		})
	}
	if ls := s.mustSh("ls"); ls != rootListing {
		t.Errorf("experiments left containers: %q", ls)
	}
}

// testWriter sends an experiment's progress to the test log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
