package fsys_test

import (
	"strconv"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// readMetrics reads the root's metrics file through sh and parses it as
// the Prometheus text format.
func readMetrics(t *testing.T, dir string) map[string]*dto.MetricFamily {
	t.Helper()
	out, err := shell(t, dir, "cat metrics")
	if err != nil {
		t.Fatalf("cat metrics: %v", err)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(strings.NewReader(out))
	if err != nil {
		t.Fatalf("metrics do not parse: %v\n%s", err, out)
	}
	return families
}

// metricValue returns the value of the series of name whose labels
// include labels (name=value pairs), and whether there is one.
func metricValue(families map[string]*dto.MetricFamily, name string, labels ...string) (float64, bool) {
	f := families[name]
	if f == nil {
		return 0, false
	}
	for _, m := range f.GetMetric() {
		have := map[string]string{}
		for _, lp := range m.GetLabel() {
			have[lp.GetName()] = lp.GetValue()
		}
		match := true
		for i := 0; i+1 < len(labels); i += 2 {
			if have[labels[i]] != labels[i+1] {
				match = false
			}
		}
		if !match {
			continue
		}
		switch {
		case m.Gauge != nil:
			return m.Gauge.GetValue(), true
		case m.Counter != nil:
			return m.Counter.GetValue(), true
		case m.Untyped != nil:
			return m.Untyped.GetValue(), true
		}
	}
	return 0, false
}

func TestMetrics(t *testing.T) {
	requireRoot(t)
	dir, _ := mountTree(t, testRootfs(t))
	if v, ok := metricValue(readMetrics(t, dir), "ctlfs_containers"); !ok || v != 0 {
		t.Errorf("ctlfs_containers = %v (present %v) with no container, want 0", v, ok)
	}

	// busy burns CPU until it has printed its line, then sleeps.
	_, err := shell(t, dir, `mkdir busy && echo hard=64M > busy/limits &&
		echo '/bin/sh -c "i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done; echo done; exec sleep 100"' > busy/cmd`)
	if err != nil {
		t.Fatal(err)
	}
	waitForLog(t, dir+"/busy", "done\n")
	_, err = shell(t, dir, `mkdir quick && echo '/bin/sh -c "exit 3"' > quick/cmd && cat quick/wait`)
	if err != nil {
		t.Fatal(err)
	}
	m := readMetrics(t, dir)

	expect := func(name string, want float64, labels ...string) {
		t.Helper()
		got, ok := metricValue(m, name, labels...)
		if !ok {
			t.Errorf("%s%v missing", name, labels)
		} else if got != want {
			t.Errorf("%s%v = %v, want %v", name, labels, got, want)
		}
	}
	absent := func(name string, labels ...string) {
		t.Helper()
		if got, ok := metricValue(m, name, labels...); ok {
			t.Errorf("%s%v = %v, want no series", name, labels, got)
		}
	}
	expect("ctlfs_containers", 2)
	expect("ctlfs_container_state", 1, "container", "busy", "state", "running")
	expect("ctlfs_container_state", 0, "container", "busy", "state", "exited")
	expect("ctlfs_container_state", 1, "container", "quick", "state", "exited")
	expect("ctlfs_container_exit_code", 3, "container", "quick")
	absent("ctlfs_container_exit_code", "container", "busy")
	expect("ctlfs_container_memory_hard_limit_bytes", 64<<20, "container", "busy")
	absent("ctlfs_container_memory_hard_limit_bytes", "container", "quick")
	expect("ctlfs_container_pids_limit", 1024, "container", "busy")
	expect("ctlfs_container_starts_total", 1, "container", "busy")
	expect("ctlfs_container_log_bytes_total", 5, "container", "busy")
	expect("ctlfs_container_memory_limit_crossings_total", 0, "container", "busy", "limit", "hard")
	expect("ctlfs_container_rss_bytes", 0, "container", "quick")
	expect("ctlfs_container_info", 1, "container", "quick", "command", `/bin/sh -c "exit 3"`, "net", "none")

	rss, _ := metricValue(m, "ctlfs_container_rss_bytes", "container", "busy")
	if rss < 100<<10 {
		t.Errorf("rss of busy = %v bytes, want at least 100 KiB", rss)
	}
	cpu, _ := metricValue(m, "ctlfs_container_cpu_seconds_total", "container", "busy")
	if cpu <= 0 {
		t.Errorf("cpu seconds of busy = %v, want more than 0 after a busy loop", cpu)
	}
	// The status file shows the same CPU time, with microseconds.
	status := readFile(t, dir+"/busy/status")
	line := status[strings.Index(status, "\ncpu ")+len("\ncpu "):]
	line = line[:strings.IndexByte(line, '\n')]
	if v, err := strconv.ParseFloat(line, 64); err != nil || v < cpu {
		t.Errorf("status cpu %q, want a number of seconds of at least %v", line, cpu)
	}
	if v, ok := metricValue(m, "ctlfs_supervisor_process_resident_memory_bytes"); !ok || v <= 0 {
		t.Errorf("supervisor resident memory = %v (present %v), want more than 0", v, ok)
	}
	for name := range m {
		if strings.Contains(name, "_network_") {
			t.Errorf("metrics include %s, the host's network traffic", name)
		}
	}
	if _, ok := metricValue(m, "ctlfs_monitor_info"); !ok {
		t.Errorf("ctlfs_monitor_info missing")
	}

	// The CPU time of an exited run stays readable.
	if _, err := shell(t, dir, "echo kill > busy/ctl && cat busy/wait"); err != nil {
		t.Fatal(err)
	}
	m = readMetrics(t, dir)
	if after, _ := metricValue(m, "ctlfs_container_cpu_seconds_total", "container", "busy"); after < cpu {
		t.Errorf("cpu seconds of busy after exit = %v, want at least %v", after, cpu)
	}
	expect("ctlfs_container_state", 1, "container", "busy", "state", "exited")
	expect("ctlfs_container_rss_bytes", 0, "container", "busy")
}

// waitForLog waits up to 10 s for the log of the container at path to
// read want.
func waitForLog(t *testing.T, path, want string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := readFile(t, path+"/log")
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("log of %s = %q after 10 s, want %q", path, got, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
