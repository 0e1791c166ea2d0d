package main

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"os"
	"regexp"
	"strconv"
	"strings"
)

// benchResult is one result line of go test -bench.
type benchResult struct {
	name       string // without the GOMAXPROCS suffix
	iterations int
	metrics    map[string]float64 // value by unit, such as "ns/op"
}

// benchOutput is the parsed output of a go test -bench run.
type benchOutput struct {
	results  []benchResult
	problems []string // --- FAIL and --- SKIP lines with their messages
	passed   bool     // the run ended with PASS or ok
}

var gomaxprocsSuffix = regexp.MustCompile(`-[0-9]+$`)

// parseBenchOutput parses the output of go test -bench or of a test
// binary run with -test.bench.
func parseBenchOutput(r io.Reader) (benchOutput, error) {
	var out benchOutput
	sc := bufio.NewScanner(r)
	inProblem := false
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "--- FAIL") || strings.HasPrefix(line, "--- SKIP") ||
			strings.HasPrefix(line, "panic:"):
			out.problems = append(out.problems, strings.TrimSpace(line))
			inProblem = true
		case inProblem && strings.HasPrefix(line, "    "):
			out.problems = append(out.problems, strings.TrimSpace(line))
		case line == "PASS" || strings.HasPrefix(line, "ok "):
			out.passed = true
			inProblem = false
		case strings.HasPrefix(line, "Benchmark"):
			inProblem = false
			if res, ok := parseBenchLine(line); ok {
				out.results = append(out.results, res)
			}
		default:
			inProblem = false
		}
	}
	return out, sc.Err()
}

// parseBenchLine parses a line such as
// "BenchmarkRSS-2   20   37949 ns/op   168.0 tasks".
func parseBenchLine(line string) (benchResult, bool) {
	fields := strings.Fields(line)
	if len(fields) < 4 || len(fields)%2 != 0 {
		return benchResult{}, false
	}
	n, err := strconv.Atoi(fields[1])
	if err != nil {
		return benchResult{}, false
	}
	res := benchResult{
		name:       gomaxprocsSuffix.ReplaceAllString(fields[0], ""),
		iterations: n,
		metrics:    map[string]float64{},
	}
	for i := 2; i+1 < len(fields); i += 2 {
		v, err := strconv.ParseFloat(fields[i], 64)
		if err != nil {
			return benchResult{}, false
		}
		res.metrics[fields[i+1]] = v
	}
	return res, true
}

// find returns the results whose name starts with prefix.
func (o benchOutput) find(prefix string) []benchResult {
	var found []benchResult
	for _, r := range o.results {
		if strings.HasPrefix(r.name, prefix) {
			found = append(found, r)
		}
	}
	return found
}

// monitorFigures are the monitor benchmarks' figures that goals are
// about, NaN when missing.
type monitorFigures struct {
	overshootMax float64 // KiB, the eBPF monitor's largest overshoot
	// Time per page fault over that without a program on the hook: with
	// the monitor far from a limit, near one, near one with an idle
	// second process in the cgroup, and with an empty program.
	approxRatio, exactRatio, exactInitRatio, emptyRatio float64
}

func readMonitorResults(file, command string) (section, monitorFigures) {
	sec := section{title: "Memory monitor benchmarks (Go, package monitor)"}
	figures := monitorFigures{math.NaN(), math.NaN(), math.NaN(), math.NaN(), math.NaN()}
	if file == "" {
		sec.note("not measured: no --monitor-results file")
		return sec, figures
	}
	f, err := os.Open(file)
	if err != nil {
		sec.fail(err)
		return sec, figures
	}
	defer f.Close()
	out, err := parseBenchOutput(f)
	if err != nil {
		sec.fail(fmt.Errorf("read %s: %w", file, err))
		return sec, figures
	}
	for _, r := range out.find("BenchmarkOvershoot/ebpf") {
		if v, ok := r.metrics["max-overshoot-KiB"]; ok {
			figures.overshootMax = v
		}
	}
	for _, r := range out.find("BenchmarkPageFaultCost") {
		for name, v := range map[string]*float64{
			"ratio-approx": &figures.approxRatio, "ratio-exact": &figures.exactRatio, "ratio-empty": &figures.emptyRatio,
			"ratio-exact-init": &figures.exactInitRatio,
		} {
			if m, ok := r.metrics[name]; ok {
				*v = m
			}
		}
	}

	sec.text = []string{"BenchmarkOvershoot: a process touching anonymous pages at full speed " +
		"against a 64 MiB hard limit; the overshoot is RSS in the limit event minus the limit. " +
		"BenchmarkPageFaultCost: median CPU time per page fault of an mmap, touch, munmap loop " +
		"without a program on the rss_stat hook (plain), with a program that returns at once (empty, the hook's own cost), " +
		"and with the eBPF monitor watching another cgroup (unwatched), the loop's cgroup far from a limit (approx) " +
		"and the loop's cgroup with a limit that the loop passes (exact), " +
		"also with a second, idle process in the cgroup, as a ctlfs container has its init (exact-init). " +
		"BenchmarkProgramTime: median run time of the program per event from the kernel's BPF statistics. " +
		"Net subtracts the empty program's time, which is a clock read of the statistics and the call of the program."}
	if command != "" {
		sec.text = append(sec.text, fmt.Sprintf("Run by make bench before the other parts: `%s`.", command))
	}
	sec.table = monitorTable(out)
	for _, p := range out.problems {
		sec.note("%s", p)
	}
	if !out.passed {
		sec.fail(fmt.Errorf("monitor benchmarks did not end with PASS, see %s", file))
	}
	return sec, figures
}

// monitorTable puts the overshoot, page-fault and RSS results in one
// table of benchmark, metric, value and ratio.
func monitorTable(out benchOutput) *table {
	t := newTable("benchmark", "runs", "metric", "value", "ratio")
	overshoots := out.find("BenchmarkOvershoot/")
	var ebpf float64
	for _, r := range overshoots {
		if strings.HasSuffix(r.name, "/ebpf") {
			ebpf = r.metrics["overshoot-KiB"]
		}
	}
	for _, r := range overshoots {
		n := strconv.Itoa(r.iterations)
		mean := r.metrics["overshoot-KiB"]
		t.add(r.name, n, "mean overshoot KiB", formatFloat(mean, 0), formatRatio(mean, ebpf)+" of ebpf")
		t.add(r.name, n, "max overshoot KiB", formatFloat(r.metrics["max-overshoot-KiB"], 0), "")
	}
	for _, r := range out.find("BenchmarkPageFaultCost") {
		n := strconv.Itoa(r.iterations)
		for _, setup := range []string{"plain", "empty", "unwatched", "approx", "exact", "exact-init"} {
			if _, ok := r.metrics["ns/fault-"+setup]; !ok {
				continue
			}
			ratio := ""
			if setup != "plain" {
				ratio = formatFloat(r.metrics["ratio-"+setup], 3) + "x of plain"
			}
			t.add(r.name, n, "ns/fault "+setup, formatFloat(r.metrics["ns/fault-"+setup], 0), ratio)
		}
	}
	for _, r := range out.find("BenchmarkProgramTime") {
		n := strconv.Itoa(r.iterations)
		for _, setup := range []string{"empty", "unwatched", "approx", "exact", "exact-init"} {
			if _, ok := r.metrics["ns/event-"+setup]; !ok {
				continue
			}
			net := ""
			if v, ok := r.metrics["net-ns/event-"+setup]; ok {
				net = "net " + formatFloat(v, 1) + " ns"
			}
			t.add(r.name, n, "ns/event "+setup, formatFloat(r.metrics["ns/event-"+setup], 1), net)
		}
	}
	for _, r := range out.find("BenchmarkRSS") {
		n := strconv.Itoa(r.iterations)
		t.add(r.name, n, "ns per RSS read", formatFloat(r.metrics["ns/op"], 0),
			fmt.Sprintf("%s tasks on the host", formatFloat(r.metrics["tasks"], 0)))
	}
	return t
}
