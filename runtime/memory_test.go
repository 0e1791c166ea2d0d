package runtime_test

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
)

func TestHardLimitKills(t *testing.T) {
	sup := newSupervisor(t)
	c, err := sup.Create("hog")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.SetLimits("soft=32M hard=64M"); err != nil {
		t.Fatal(err)
	}
	if err := c.SetCommand("memory_hog --chunk 1M --interval 5ms"); err != nil {
		t.Fatal(err)
	}
	st := waitExit(t, c)
	if st.String() != "exited 137 signal=KILL reason=hard-limit" {
		t.Errorf("state = %q, log:\n%s", st, readLog(t, c))
	}
	events := readStream(t, c.Events())
	if n := strings.Count(events, " soft-limit "); n != 1 {
		t.Errorf("%d soft-limit events, want 1:\n%s", n, events)
	}
	rss := eventField(t, events, "hard-limit", "rss")
	if rss < 64<<20 || rss > 64<<20+64<<10 {
		t.Errorf("killed at RSS %d, want within 64 KiB above %d (monitor %s)",
			rss, 64<<20, sup.MonitorStatus())
	}
}

func TestRSSMatchesProcesses(t *testing.T) {
	sup := newSupervisor(t)
	c, err := sup.Create("family")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.SetCommand(`sh -c 'sleep 300 & sleep 300 & memory_hog --max 16M; sleep 300'`); err != nil {
		t.Fatal(err)
	}
	defer func() { c.Kill(9); waitExit(t, c) }()
	waitFor(t, "memory_hog to reach 16M", func() bool {
		return strings.Contains(readLog(t, c), "reached max=")
	})
	var got, want uint64
	for range 3 { // the processes may still change between the two reads
		got, err = c.RSS()
		if err != nil {
			t.Fatal(err)
		}
		want = sumVmRSS(t, c.PID())
		if diff(got, want) <= want/100 {
			break
		}
	}
	if diff(got, want) > want/100 {
		t.Errorf("RSS %d, sum of VmRSS %d: differ by more than 1%% (monitor %s)",
			got, want, sup.MonitorStatus())
	}
}

func diff(a, b uint64) uint64 {
	if a > b {
		return a - b
	}
	return b - a
}

// sumVmRSS adds up VmRSS of the processes in the cgroup of pid.
func sumVmRSS(t *testing.T, pid int) uint64 {
	t.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		t.Fatal(err)
	}
	var path string
	for _, line := range strings.Split(string(data), "\n") {
		if p, ok := strings.CutPrefix(line, "0::"); ok {
			path = p
		}
	}
	procs, err := os.ReadFile(cgroup2Dir(t) + path + "/cgroup.procs")
	if err != nil {
		t.Fatal(err)
	}
	var total uint64
	for _, p := range strings.Fields(string(procs)) {
		status, err := os.ReadFile("/proc/" + p + "/status")
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(status), "\n") {
			if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
				kb, _ := strconv.ParseUint(strings.Fields(rest)[0], 10, 64)
				total += kb << 10
			}
		}
	}
	return total
}

func cgroup2Dir(t *testing.T) string {
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

func readStream(t *testing.T, s interface {
	Size() int64
	ReadAt([]byte, int64) (int, error)
}) string {
	buf := make([]byte, s.Size())
	n, _ := s.ReadAt(buf, 0)
	return string(buf[:n])
}

// eventField returns the numeric field key of the first event line of
// the given kind.
func eventField(t *testing.T, events, kind, key string) uint64 {
	t.Helper()
	for _, line := range strings.Split(events, "\n") {
		f := strings.Fields(line)
		if len(f) < 3 || f[2] != kind {
			continue
		}
		for _, kv := range f[3:] {
			if v, ok := strings.CutPrefix(kv, key+"="); ok {
				n, _ := strconv.ParseUint(v, 10, 64)
				return n
			}
		}
	}
	t.Fatalf("no %s event with %s in:\n%s", kind, key, events)
	return 0
}
