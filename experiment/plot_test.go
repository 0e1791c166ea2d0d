package experiment

import (
	"context"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// checkPNG fails unless path is a PNG image of plausible size.
func checkPNG(t *testing.T, path string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("open plot: %v", err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("decode %s: %v", filepath.Base(path), err)
	}
	if b := img.Bounds(); b.Dx() < 200 || b.Dy() < 100 {
		t.Errorf("%s is %dx%d pixels, want at least 200x100", filepath.Base(path), b.Dx(), b.Dy())
	}
}

func TestPlots(t *testing.T) {
	dir := t.TempDir()
	a := series{{T: 0, V: 0}, {T: 1, V: 0.9}, {T: 2, V: 1.8}}
	b := series{{T: 0, V: 0}, {T: 1, V: 0.1}, {T: 2, V: 0.2}, {T: 3, V: 1.2}}
	soft := &point{T: 0.5, V: 33 << 20}
	tests := []struct {
		name string
		draw func(path string) error
	}{
		{"shares", func(path string) error {
			return plotShares(path, intervals(a, b, 0, 2, 1), 0.903, 0.097, shareLabels{"a", "b"})
		}},
		{"shares without data", func(path string) error {
			return plotShares(path, nil, 0.5, 0.5, shareLabels{"a", "b"})
		}},
		{"shares with a NaN step", func(path string) error {
			steps := []interval{{From: 0, To: 1, ShareA: math.NaN(), ShareB: math.NaN()},
				{From: 1, To: 2, ShareA: 0.9, ShareB: 0.1}}
			return plotShares(path, steps, 0.903, 0.097, shareLabels{"a", "b"})
		}},
		{"cpu", func(path string) error { return plotCPU(path, a, b, shareLabels{"a", "b"}) }},
		{"latency", func(path string) error {
			return plotLatencies(path, []float64{0.8, 1.1, 0.9}, []float64{1.5, 4.2})
		}},
		{"latency without data", func(path string) error { return plotLatencies(path, nil, nil) }},
		{"rss", func(path string) error {
			return plotRSS(path, rssPlot{Samples: series{{T: 0, V: 1 << 20}, {T: 1, V: 65 << 20}},
				Soft: 32 << 20, Hard: 64 << 20, SoftEvent: soft,
				HardEvent: &point{T: 1, V: 64 << 20}})
		}},
		{"rss without events", func(path string) error {
			return plotRSS(path, rssPlot{Soft: 32 << 20, Hard: 64 << 20})
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tt.name, " ", "-")+".png")
			if err := tt.draw(path); err != nil {
				t.Fatal(err)
			}
			checkPNG(t, path)
		})
	}
}

// testSession returns a session whose tree is an empty directory, for the
// report writers, which read only the tree's monitor file.
func testSession(t *testing.T, name string) *session {
	t.Helper()
	exp, err := lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	opts := DefaultOptions()
	opts.Mount, opts.Out = t.TempDir(), t.TempDir()
	s, err := newSession(context.Background(), exp, opts, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// checkReport fails unless the result's report exists, contains each of
// want and links every plot, and every plot is a PNG image.
func checkReport(t *testing.T, res *Result, want ...string) {
	t.Helper()
	data, err := os.ReadFile(res.Report)
	if err != nil {
		t.Fatalf("read report: %v", err)
	}
	for _, text := range want {
		if !strings.Contains(string(data), text) {
			t.Errorf("report lacks %q:\n%s", text, data)
		}
	}
	for _, plot := range res.Plots {
		if !strings.Contains(string(data), "("+filepath.Base(plot)+")") {
			t.Errorf("report does not link %s", filepath.Base(plot))
		}
		checkPNG(t, plot)
	}
}

func TestReportNice(t *testing.T) {
	s := testSession(t, "nice")
	// One line per second: a gains 0.91 and b 0.09 per second until a
	// finishes at 11 s, then b gains 1.
	a, b := series{{T: 0, V: 0}}, series{{T: 0, V: 0}}
	for second := 1.0; second <= 20; second++ {
		if second <= 11 {
			a = append(a, point{T: second, V: 0.91 * second})
		}
		b = append(b, point{T: second, V: 0.09*min(second, 11) + max(second-11, 0)})
	}
	an, err := analyzeNice(a, b, -5, 5, 10)
	if err != nil {
		t.Fatal(err)
	}

	tasks := []*niceTask{
		{name: "exp-nice-a", nice: -5, niceRead: "-5", state: "exited 0", cpu: a},
		{name: "exp-nice-b", nice: 5, niceRead: "0", state: "exited 0", cpu: b},
	}
	res, err := s.reportNice(tasks, an, true)
	if err != nil {
		t.Fatal(err)
	}
	checkReport(t, res, "weight(-5) = 3121", "weight(5) = 335", "90.3%", "| exp-nice-b | 5 |",
		"`at=` stamp", "10.00 s of exp-nice-a")
	if len(res.Checks) != 5 || !res.Checks[0].OK {
		t.Errorf("checks = %+v, want 5 with the share check first and OK", res.Checks)
	}
	if res.Checks[3].OK {
		t.Errorf("nice check of exp-nice-b OK although nice read 0: %+v", res.Checks[3])
	}
}

func TestReportCPUIO(t *testing.T) {
	s := testSession(t, "cpu-io")
	s.opts.Iterations = 3
	m := cpuIO{
		pulseAlone:    ioPulseRun{Latencies: []float64{1, 2, 3}, Done: true},
		pulseBeside:   ioPulseRun{Latencies: []float64{2, 4}},
		pulseStates:   [2]string{"exited 0", "exited 1"},
		hogAlone:      cpuHogRun{Samples: []cpuSample{{Wall: 3, CPU: 3}}, Done: true, Rate: 100},
		hogBesideRate: 90,
		hogBesideCPU:  0.9,
		overlap:       1,
	}
	res, err := s.reportCPUIO(m)
	if err != nil {
		t.Fatal(err)
	}
	checkReport(t, res, "| io_pulse median latency | 2.00 ms | 3.00 ms | 1.50× |",
		"| cpu_hog work per wall second | 100 | 90 | 0.90× |")
	if len(res.Checks) != 2 || !res.Checks[0].OK || res.Checks[1].OK {
		t.Errorf("checks = %+v, want the first OK and the second not", res.Checks)
	}
}

func TestReportMemory(t *testing.T) {
	s := testSession(t, "memory")
	sum := memorySummary{
		Samples: series{{T: 0.1, V: 10 << 20}, {T: 2, V: 63 << 20}},
		Peak:    63 << 20, Last: 63 << 20,
		Soft: &limitEvent{T: 1, RSS: 32<<20 + 4096, Limit: 32 << 20},
		Hard: &limitEvent{T: 2.1, RSS: 64<<20 + 8192, Limit: 64 << 20},
	}
	res, err := s.reportMemory(sum, expectedMemoryState)
	if err != nil {
		t.Fatal(err)
	}
	checkReport(t, res, "| overshoot in the hard-limit event (rss - limit) | 8192 bytes",
		"| largest sampled RSS - hard limit | -1048576 bytes",
		"| last sampled RSS | 66060288 bytes")
	for _, c := range res.Checks {
		if !c.OK {
			t.Errorf("check %s failed: %s", c.Name, c.Detail)
		}
	}
}
