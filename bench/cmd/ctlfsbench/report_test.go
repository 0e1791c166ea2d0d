package main

import (
	"math"
	"strings"
	"testing"
)

func TestMedianAndPercentile(t *testing.T) {
	tests := []struct {
		name   string
		values []float64
		median float64
		p90    float64
	}{
		{"one value", []float64{3}, 3, 3},
		{"odd count", []float64{5, 1, 3}, 3, 5},
		{"even count", []float64{4, 1, 3, 2}, 2.5, 4},
		{"ten values", []float64{10, 9, 8, 7, 6, 5, 4, 3, 2, 1}, 5.5, 9},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := median(tt.values); got != tt.median {
				t.Errorf("median = %v, expected %v", got, tt.median)
			}
			if got := percentile(tt.values, 90); got != tt.p90 {
				t.Errorf("percentile 90 = %v, expected %v", got, tt.p90)
			}
		})
	}
	if !math.IsNaN(median(nil)) || !math.IsNaN(percentile(nil, 50)) {
		t.Error("median or percentile of no values is not NaN")
	}
	if got := percentile([]float64{2, 1}, 0); got != 1 {
		t.Errorf("percentile 0 = %v, expected the minimum 1", got)
	}
}

func TestTableMarkdown(t *testing.T) {
	tab := newTable("tool", "median ms", "note")
	tab.add("a | b", "1.50", "text")
	tab.add("c", "12.25", "")
	want := "" +
		"| tool   | median ms | note |\n" +
		"|--------|----------:|------|\n" +
		"| a \\| b |      1.50 | text |\n" +
		"| c      |     12.25 |      |\n"
	if got := tab.markdown(); got != want {
		t.Errorf("markdown:\n%s\nexpected:\n%s", got, want)
	}
}

func TestFormatRatio(t *testing.T) {
	tests := []struct {
		a, b float64
		want string
	}{
		{1, 2, "0.50x"},
		{25, 2, "12.5x"},
		{2000, 1, "2000x"},
		{1, 0, "-"},
		{math.NaN(), 1, "-"},
	}
	for _, tt := range tests {
		if got := formatRatio(tt.a, tt.b); got != tt.want {
			t.Errorf("formatRatio(%v, %v) = %q, expected %q", tt.a, tt.b, got, tt.want)
		}
	}
}

func TestShellQuote(t *testing.T) {
	got := shellQuote([]string{"sh", "-c", "head | cat > f", "it's"})
	want := `sh -c 'head | cat > f' 'it'\''s'`
	if got != want {
		t.Errorf("shellQuote = %s, expected %s", got, want)
	}
}

func TestParseBenchOutput(t *testing.T) {
	const output = `goos: linux
BenchmarkOvershoot/ebpf-2  	      20	  28570482 ns/op	         4.000 max-overshoot-KiB	         4.000 overshoot-KiB
BenchmarkOvershoot/proc-10ms-2         	      20	  31180338 ns/op	     27272 max-overshoot-KiB	      7915 overshoot-KiB
--- FAIL: BenchmarkRSS
    bench_test.go:135: read helper output: EOF
BenchmarkPageFaultCost-2   20   549584438 ns/op   1208 ns/fault-approx   1.104 ratio-approx
FAIL
`
	out, err := parseBenchOutput(strings.NewReader(output))
	if err != nil {
		t.Fatal(err)
	}
	if out.passed {
		t.Error("passed is true for an output that ends with FAIL")
	}
	if len(out.results) != 3 {
		t.Fatalf("%d results, expected 3: %+v", len(out.results), out.results)
	}
	proc := out.results[1]
	if proc.name != "BenchmarkOvershoot/proc-10ms" {
		t.Errorf("name %q, expected the GOMAXPROCS suffix removed", proc.name)
	}
	if proc.iterations != 20 {
		t.Errorf("iterations %d, expected 20", proc.iterations)
	}
	if proc.metrics["overshoot-KiB"] != 7915 {
		t.Errorf("overshoot-KiB %v, expected 7915", proc.metrics["overshoot-KiB"])
	}
	wantProblems := []string{"--- FAIL: BenchmarkRSS", "bench_test.go:135: read helper output: EOF"}
	if strings.Join(out.problems, "\n") != strings.Join(wantProblems, "\n") {
		t.Errorf("problems %q, expected %q", out.problems, wantProblems)
	}
	if got := len(out.find("BenchmarkOvershoot/")); got != 2 {
		t.Errorf("find returned %d overshoot results, expected 2", got)
	}
}

func TestHardLimitOvershoot(t *testing.T) {
	events := "2026-12-04T16:45:19.388535Z m created\n" +
		"2026-12-04T16:45:19.449253Z m hard-limit rss=85200896 limit=67108864\n" +
		"2026-12-04T16:45:19.456673Z m exited code=137 signal=KILL reason=hard-limit\n"
	got, err := hardLimitOvershoot(events)
	if err != nil {
		t.Fatal(err)
	}
	if got != 85200896-67108864 {
		t.Errorf("overshoot %d, expected %d", got, 85200896-67108864)
	}
	if _, err := hardLimitOvershoot("2026-12-04T16:45:19Z m created\n"); err == nil {
		t.Error("no error for events without a hard-limit line")
	}
}

func TestMonitorTablePageFaultSetups(t *testing.T) {
	const output = `BenchmarkPageFaultCost-2   20   1954717923 ns/op   2228 ns/fault-approx   2170 ns/fault-empty   2099 ns/fault-plain   1.061 ratio-approx   1.033 ratio-empty
BenchmarkProgramTime-2   20   556321129 ns/op   37.29 net-ns/event-approx   70.77 ns/event-approx   33.49 ns/event-empty
PASS
`
	out, err := parseBenchOutput(strings.NewReader(output))
	if err != nil {
		t.Fatal(err)
	}
	var rows []string
	for _, row := range monitorTable(out).rows {
		rows = append(rows, strings.Join(row[2:], " | "))
	}
	want := []string{
		"ns/fault plain | 2099 | ",
		"ns/fault empty | 2170 | 1.033x of plain",
		"ns/fault approx | 2228 | 1.061x of plain",
		"ns/event empty | 33.5 | ",
		"ns/event approx | 70.8 | net 37.3 ns",
	}
	if strings.Join(rows, "\n") != strings.Join(want, "\n") {
		t.Errorf("rows:\n%s\nexpected (setups without figures left out):\n%s", strings.Join(rows, "\n"), strings.Join(want, "\n"))
	}
}
