package tests

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
)

// monitors lists the memory monitors to test, with the overshoot past a
// hard limit each is allowed for an allocator that maps 1 MiB every 2 ms
// (about 500 MiB/s). The eBPF monitor stops it within a few pages; the
// /proc poller, every 10 ms, lets it run on for up to a poll interval.
var monitors = []struct {
	name      string
	overshoot uint64
}{
	{"ebpf", 64 << 10},
	{"proc", 32 << 20},
}

// startMonitorServer starts a server with the given monitor, skipping the
// test when eBPF is asked for but cannot load here.
func startMonitorServer(t *testing.T, kind string) *server {
	t.Helper()
	s := startServer(t, "--monitor", kind)
	if mon := s.read("monitor"); !strings.HasPrefix(mon, kind+": asked for; ") {
		t.Fatalf("monitor file = %q, want it to start with %q", mon, kind+": asked for; ")
	}
	return s
}

func TestHardLimit(t *testing.T) {
	workloads := []struct{ name, cmd string }{
		{"one", "memory_hog --chunk 1M --interval 2ms"},
		{"threads", "memory_hog --chunk 1M --interval 2ms --threads 4"},
		{"processes", "memory_hog --chunk 1M --interval 2ms --fork 3"},
	}
	for _, m := range monitors {
		t.Run(m.name, func(t *testing.T) {
			s := startMonitorServer(t, m.name)
			for _, w := range workloads {
				t.Run(w.name, func(t *testing.T) {
					s.mustSh("mkdir " + w.name + " && echo hard=64M > " + w.name +
						"/limits && echo '" + w.cmd + "' > " + w.name + "/cmd")
					checkHardKill(t, s, w.name, 64<<20, m.overshoot)
				})
			}
		})
	}
}

// checkHardKill waits for container name to be killed at its hard limit
// and checks the RSS its hard-limit event gives.
func checkHardKill(t *testing.T, s *server, name string, limit, overshoot uint64) {
	t.Helper()
	if st := s.waitState(name); st != "exited 137 signal=KILL reason=hard-limit" {
		t.Fatalf("state = %q\nlog:\n%s", st, tail(s.read(name+"/log")))
	}
	events := s.read(name + "/events")
	rss := eventValue(t, events, "hard-limit", "rss")
	if rss < limit || rss > limit+overshoot {
		t.Errorf("killed at RSS %d, want %d to %d", rss, limit, limit+overshoot)
	}
	if got := eventValue(t, events, "hard-limit", "limit"); got != limit {
		t.Errorf("hard-limit event limit=%d, want %d", got, limit)
	}
	// The init may still be ending: the supervisor reports the exit once
	// the init is the only process left, without waiting for it.
	waitFor(t, "the container's processes to go", func() bool { return len(cgroupProcesses(t, name)) == 0 })
}

func tail(s string) string {
	if len(s) > 2000 {
		return "…" + s[len(s)-2000:]
	}
	return s
}

// eventValue returns field key of the first event line of the given kind.
func eventValue(t *testing.T, events, kind, key string) uint64 {
	t.Helper()
	for _, line := range strings.Split(events, "\n") {
		f := strings.Fields(line)
		if len(f) < 3 || f[2] != kind {
			continue
		}
		for _, kv := range f[3:] {
			if v, ok := strings.CutPrefix(kv, key+"="); ok {
				n, err := strconv.ParseUint(v, 10, 64)
				if err != nil {
					t.Fatalf("event %q: %v", line, err)
				}
				return n
			}
		}
	}
	t.Fatalf("no %s event with %s=:\n%s", kind, key, events)
	return 0
}

// TestHardLimitHugePages repeats the kill with transparent huge pages set
// to always, where one fault maps 2 MiB at once: the kill may then come
// up to one huge page past the limit.
func TestHardLimitHugePages(t *testing.T) {
	const thp = "/sys/kernel/mm/transparent_hugepage/enabled"
	old, err := os.ReadFile(thp)
	if err != nil {
		t.Skipf("no transparent huge pages here: %v", err)
	}
	mode := string(old[strings.Index(string(old), "[")+1 : strings.Index(string(old), "]")])
	if err := os.WriteFile(thp, []byte("always"), 0); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.WriteFile(thp, []byte(mode), 0) })
	s := startMonitorServer(t, "ebpf")
	s.mustSh("mkdir huge && echo hard=64M > huge/limits && " +
		"echo 'memory_hog --chunk 4M --interval 2ms' > huge/cmd")
	checkHardKill(t, s, "huge", 64<<20, 2<<20)
}

func TestSoftThenHard(t *testing.T) {
	for _, m := range monitors {
		t.Run(m.name, func(t *testing.T) {
			s := startMonitorServer(t, m.name)
			s.mustSh(`mkdir bystander hog && echo 'sleep 300' > bystander/cmd &&
				echo 'soft=32M hard=64M' > hog/limits &&
				echo 'memory_hog --chunk 1M --interval 5ms' > hog/cmd`)
			checkHardKill(t, s, "hog", 64<<20, m.overshoot)
			events := s.read("hog/events")
			if n := strings.Count(events, " soft-limit "); n != 1 {
				t.Errorf("%d soft-limit events, want 1:\n%s", n, events)
			}
			soft := strings.Index(events, " soft-limit ")
			if hard := strings.Index(events, " hard-limit "); soft < 0 || hard < soft {
				t.Errorf("soft-limit does not come before hard-limit:\n%s", events)
			}
			if rss := eventValue(t, events, "soft-limit", "rss"); rss < 32<<20 {
				t.Errorf("soft-limit at RSS %d, below the limit", rss)
			}
			if st := s.read("bystander/state"); st != "running\n" {
				t.Errorf("bystander state = %q", st)
			}
			if e := s.read("bystander/events"); strings.Contains(e, "limit") {
				t.Errorf("bystander has limit events:\n%s", e)
			}
			s.mustSh("echo kill > bystander/ctl; cat bystander/wait")
		})
	}
}

func TestLowerHardLimitWhileRunning(t *testing.T) {
	for _, m := range monitors {
		t.Run(m.name, func(t *testing.T) {
			s := startMonitorServer(t, m.name)
			s.mustSh(`mkdir big && echo 'memory_hog --chunk 8M --interval 1ms --max 40M' > big/cmd`)
			waitFor(t, "memory_hog to reach 40M", func() bool {
				return strings.Contains(s.read("big/log"), "reached max=")
			})
			s.mustSh("echo hard=32M > big/limits")
			if st := s.waitState("big"); st != "exited 137 signal=KILL reason=hard-limit" {
				t.Errorf("state = %q after lowering the hard limit", st)
			}
			if got := eventValue(t, s.read("big/events"), "hard-limit", "limit"); got != 32<<20 {
				t.Errorf("hard-limit event limit=%d, want %d", got, 32<<20)
			}
		})
	}
}

func TestLimitsSizeForms(t *testing.T) {
	s := startServer(t)
	s.mustSh("mkdir l")
	for _, form := range []string{"64M", "64MiB", "64MB", "67108864"} {
		s.mustSh("echo hard=" + form + " > l/limits")
		if got := s.read("l/limits"); !strings.Contains(got, "hard=67108864\n") {
			t.Errorf("hard=%s reads back as\n%s", form, got)
		}
	}
	s.mustSh("echo 'soft=1K hard=max' > l/limits")
	if got := s.read("l/limits"); got != "soft=1024\nhard=max\npids=1024\ncpus=all\n" {
		t.Errorf("limits = %q", got)
	}
}

func TestRSSOfSeveralProcesses(t *testing.T) {
	for _, m := range monitors {
		t.Run(m.name, func(t *testing.T) {
			s := startMonitorServer(t, m.name)
			s.mustSh(`mkdir fam && cat > fam/cmd <<'EOF'
sh -c 'memory_hog --max 24M & memory_hog --max 8M & x=$(head -c 16000000 /dev/zero | tr "\000" a); echo ready; sleep 1; exec sleep 300'
EOF`)
			defer s.sh("echo kill > fam/ctl; cat fam/wait")
			waitFor(t, "all to allocate", func() bool {
				log := s.read("fam/log")
				return strings.Count(log, "reached max=") == 2 && strings.Contains(log, "ready")
			})
			pid := strings.TrimSpace(s.read("fam/pid"))
			before := checkRSSSum(t, s, "fam", pid)
			waitFor(t, "the shell's exec to free its memory", func() bool {
				rss, _ := strconv.ParseUint(strings.TrimSpace(s.read("fam/rss")), 10, 64)
				return rss < before-12<<20
			})
			checkRSSSum(t, s, "fam", pid)
		})
	}
}

// checkRSSSum compares the container's rss with the sum of VmRSS of its
// processes read from the host, within 1%, and returns rss.
func checkRSSSum(t *testing.T, s *server, name, pid string) uint64 {
	t.Helper()
	var rss, sum uint64
	for range 5 { // the processes may change between the two reads
		rss, _ = strconv.ParseUint(strings.TrimSpace(s.read(name+"/rss")), 10, 64)
		sum = 0
		dir := cgroupDirOf(t, pid, "")
		for _, p := range strings.Fields(readFile(t, dir+"/cgroup.procs")) {
			sum += vmRSS(p)
		}
		if diff(rss, sum) <= sum/100 {
			return rss
		}
	}
	t.Errorf("rss %d, sum of VmRSS %d: differ by more than 1%%", rss, sum)
	return rss
}

func vmRSS(pid string) uint64 {
	data, err := os.ReadFile("/proc/" + pid + "/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseUint(strings.Fields(rest)[0], 10, 64)
			return kb << 10
		}
	}
	return 0
}

func diff(a, b uint64) uint64 {
	if a > b {
		return a - b
	}
	return b - a
}

// TestHardLimitBelowInit sets a hard limit below the init's own memory,
// so that the limit is crossed while the container starts: the kill must
// still carry its reason and event.
func TestHardLimitBelowInit(t *testing.T) {
	for _, m := range monitors {
		t.Run(m.name, func(t *testing.T) {
			s := startMonitorServer(t, m.name)
			for i := range 5 {
				name := fmt.Sprintf("tiny%d", i)
				s.mustSh(fmt.Sprintf("mkdir %s && echo hard=1M > %s/limits && echo 'cpu_hog 5' > %s/cmd", name, name, name))
				if st := s.waitState(name); st != "exited 137 signal=KILL reason=hard-limit" {
					t.Errorf("%s: state = %q, want exited 137 signal=KILL reason=hard-limit", name, st)
				}
				if events := s.read(name + "/events"); !strings.Contains(events, " hard-limit ") {
					t.Errorf("%s: no hard-limit event:\n%s", name, events)
				}
			}
		})
	}
}
