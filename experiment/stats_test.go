package experiment

import (
	"math"
	"testing"
	"time"
)

func TestSeriesAt(t *testing.T) {
	s := series{{T: 1, V: 0}, {T: 2, V: 10}, {T: 4, V: 20}}
	tests := []struct {
		name string
		t    float64
		want float64
	}{
		{name: "before first point", t: 0, want: 0},
		{name: "on first point", t: 1, want: 0},
		{name: "between points", t: 1.5, want: 5},
		{name: "on inner point", t: 2, want: 10},
		{name: "second segment", t: 3, want: 15},
		{name: "after last point", t: 9, want: 20},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := s.at(tt.t); got != tt.want {
				t.Errorf("at(%g) = %g, want %g", tt.t, got, tt.want)
			}
		})
	}
	if got := (series{}).at(1); got != 0 {
		t.Errorf("empty series at(1) = %g, want 0", got)
	}
}

func TestSeriesRate(t *testing.T) {
	s := series{{T: 0, V: 0}, {T: 10, V: 50}}
	if got := s.rate(2, 4); got != 5 {
		t.Errorf("rate(2, 4) = %g, want 5", got)
	}
	if got := s.rate(4, 4); !math.IsNaN(got) {
		t.Errorf("rate over an empty interval = %g, want NaN", got)
	}
}

func TestCPUSeries(t *testing.T) {
	samples := []cpuSample{{Wall: 1, CPU: 0.5, Work: 5}, {Wall: 2, CPU: 1, Work: 10}}
	got := cpuSeries(samples, 3)
	want := series{{T: 3, V: 0}, {T: 4, V: 0.5}, {T: 5, V: 1}}
	if len(got) != len(want) {
		t.Fatalf("cpuSeries = %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("point %d = %v, want %v", i, got[i], want[i])
		}
	}
}

func TestIntervals(t *testing.T) {
	// a grows 3 times as fast as b until t=2, then as fast as b.
	a := series{{T: 0, V: 0}, {T: 2, V: 3}, {T: 4, V: 4}}
	b := series{{T: 0, V: 0}, {T: 2, V: 1}, {T: 4, V: 2}}
	tests := []struct {
		name       string
		from, to   float64
		wantShares []float64
		wantLastTo float64
	}{
		{name: "whole steps", from: 0, to: 4,
			wantShares: []float64{0.75, 0.75, 0.5, 0.5}, wantLastTo: 4},
		// From 1 to 2.3, a grows by 1.5+0.15 and b by 0.5+0.15.
		{name: "short tail merged", from: 0, to: 2.3,
			wantShares: []float64{0.75, 1.65 / 2.3}, wantLastTo: 2.3},
		{name: "long tail kept", from: 0, to: 2.6,
			wantShares: []float64{0.75, 0.75, 0.5}, wantLastTo: 2.6},
		{name: "empty", from: 2, to: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := intervals(a, b, tt.from, tt.to, 1)
			if len(got) != len(tt.wantShares) {
				t.Fatalf("got %d intervals %+v, want %d", len(got), got, len(tt.wantShares))
			}
			for i, want := range tt.wantShares {
				if math.Abs(got[i].ShareA-want) > 1e-9 {
					t.Errorf("interval %d share A = %.4f, want %.4f", i, got[i].ShareA, want)
				}
				if math.Abs(got[i].ShareA+got[i].ShareB-1) > 1e-9 {
					t.Errorf("interval %d shares do not sum to 1: %+v", i, got[i])
				}
			}
			if n := len(got); n > 0 && got[n-1].To != tt.wantLastTo {
				t.Errorf("last interval ends at %g, want %g", got[n-1].To, tt.wantLastTo)
			}
		})
	}
}

func TestShareNeitherGrew(t *testing.T) {
	flat := series{{T: 0, V: 1}, {T: 5, V: 1}}
	if got := share(flat, flat, 1, 2); !math.IsNaN(got) {
		t.Errorf("share of two idle series = %g, want NaN", got)
	}
}

func TestMedianAndMaximum(t *testing.T) {
	tests := []struct {
		name       string
		xs         []float64
		wantMedian float64
		wantMax    float64
	}{
		{name: "one value", xs: []float64{3}, wantMedian: 3, wantMax: 3},
		{name: "odd count unsorted", xs: []float64{5, 1, 3}, wantMedian: 3, wantMax: 5},
		{name: "even count", xs: []float64{4, 1, 3, 2}, wantMedian: 2.5, wantMax: 4},
		{name: "empty", xs: nil, wantMedian: math.NaN(), wantMax: math.NaN()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := median(tt.xs); !sameFloat(got, tt.wantMedian) {
				t.Errorf("median = %g, want %g", got, tt.wantMedian)
			}
			if got := maximum(tt.xs); !sameFloat(got, tt.wantMax) {
				t.Errorf("maximum = %g, want %g", got, tt.wantMax)
			}
		})
	}
}

func TestMedianLeavesInput(t *testing.T) {
	xs := []float64{3, 1, 2}
	median(xs)
	if xs[0] != 3 || xs[1] != 1 || xs[2] != 2 {
		t.Errorf("median reordered its input: %v", xs)
	}
}

func sameFloat(a, b float64) bool {
	return a == b || math.IsNaN(a) && math.IsNaN(b)
}

func TestAnalyzeNice(t *testing.T) {
	// a starts at 0 and prints a line every second, burning 0.9 CPU-s per
	// second until it stops at 10.8 s. b starts at 0.5 s and prints at
	// 1.5 s, 2.5 s and so on, burning 0.1 per second while a runs, then 1.
	a := series{{T: 0, V: 0}}
	for second := 1.0; second <= 10; second++ {
		a = append(a, point{T: second, V: 0.9 * second})
	}
	a = append(a, point{T: 10.8, V: 9.72})
	b := series{{T: 0.5, V: 0}}
	for at := 1.5; at <= 15.5; at++ {
		b = append(b, point{T: at, V: 0.1*(min(at, 10.8)-0.5) + max(at-10.8, 0)})
	}
	tests := []struct {
		name         string
		niceA, niceB int
		wantAgree    bool
		wantErr      bool
	}{
		{name: "matches the table", niceA: -5, niceB: 5, wantAgree: true},
		{name: "differs from equal nice", niceA: 0, niceB: 0, wantAgree: false},
		{name: "invalid nice", niceA: 40, niceB: 0, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			an, err := analyzeNice(a, b, tt.niceA, tt.niceB, 10)
			if (err != nil) != tt.wantErr {
				t.Fatalf("error = %v, want error %v", err, tt.wantErr)
			}
			if tt.wantErr {
				return
			}
			if an.OverlapFrom != 1.5 || an.OverlapTo != 10.8 {
				t.Errorf("overlap = %g to %g, want 1.5 to 10.8", an.OverlapFrom, an.OverlapTo)
			}
			// a's lines from 2 s to 10.8 s, b's from 1.5 s to 10.5 s.
			if math.Abs(an.CoveredA-8.8) > 1e-9 || an.CoveredB != 9 {
				t.Errorf("covered = %g s and %g s, want 8.8 s and 9 s", an.CoveredA, an.CoveredB)
			}
			if math.Abs(an.ShareA-0.9) > 1e-9 {
				t.Errorf("share A = %.4f, want 0.9", an.ShareA)
			}
			if math.Abs(an.Busy-1) > 1e-9 {
				t.Errorf("busy = %.4f, want 1", an.Busy)
			}
			if an.EndA != 10.8 || an.EndB != 15.5 {
				t.Errorf("ends = %g, %g, want 10.8, 15.5", an.EndA, an.EndB)
			}
			if len(an.Steps) != 9 {
				t.Errorf("got %d one-second steps, want 9", len(an.Steps))
			}
			if got := an.shareCheck().OK; got != tt.wantAgree {
				t.Errorf("share check OK = %v, want %v: %s", got, tt.wantAgree, an.shareCheck().Detail)
			}
		})
	}
}

func TestAnalyzeNiceNoOverlap(t *testing.T) {
	a := series{{T: 0, V: 0}, {T: 1, V: 1}}
	b := series{{T: 2, V: 0}, {T: 3, V: 1}}
	if _, err := analyzeNice(a, b, 0, 0, 1); err == nil {
		t.Error("analyzeNice of runs that did not overlap: no error")
	}
}

// TestAnalyzeNiceShortOverlap checks that an overlap in which b has no
// interval between two lines is an error, not a share from a alone.
func TestAnalyzeNiceShortOverlap(t *testing.T) {
	a := series{{T: 0, V: 0}, {T: 1, V: 0.9}, {T: 2, V: 1.8}, {T: 2.5, V: 2.25}}
	b := series{{T: 0.6, V: 0}, {T: 1.6, V: 0.1}, {T: 2.6, V: 0.29}}
	if _, err := analyzeNice(a, b, 0, 0, 1); err == nil {
		t.Error("analyzeNice with no interval of b inside the overlap: no error")
	}
}

func TestRateWithin(t *testing.T) {
	s := series{{T: 0, V: 0}, {T: 1, V: 1}, {T: 2, V: 3}, {T: 4, V: 5}}
	tests := []struct {
		name        string
		from, to    float64
		wantRate    float64
		wantCovered float64
	}{
		{name: "all intervals", from: 0, to: 4, wantRate: 1.25, wantCovered: 4},
		{name: "inner interval only", from: 0.5, to: 3, wantRate: 2, wantCovered: 1},
		{name: "bounds on points", from: 1, to: 4, wantRate: 4.0 / 3, wantCovered: 3},
		{name: "no whole interval", from: 2.5, to: 3.5, wantRate: math.NaN(), wantCovered: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rate, covered := s.rateWithin(tt.from, tt.to)
			if !sameFloat(rate, tt.wantRate) && math.Abs(rate-tt.wantRate) > 1e-9 {
				t.Errorf("rate = %g, want %g", rate, tt.wantRate)
			}
			if covered != tt.wantCovered {
				t.Errorf("covered = %g, want %g", covered, tt.wantCovered)
			}
		})
	}
}

func TestStampedCPUSeries(t *testing.T) {
	samples := []cpuSample{
		{Wall: 1.0, CPU: 0.5, At: 1000.125},
		{Wall: 1.5, CPU: 0.75, At: 1000.5},
	}
	got := stampedCPUSeries(samples, 998)
	// The start is the last sample's at minus its wall: 1000.5 - 1.5 - 998.
	want := series{{T: 1, V: 0}, {T: 2.125, V: 0.5}, {T: 2.5, V: 0.75}}
	if len(got) != len(want) {
		t.Fatalf("stampedCPUSeries = %v, want %v", got, want)
	}
	for i := range want {
		if math.Abs(got[i].T-want[i].T) > 1e-9 || got[i].V != want[i].V {
			t.Errorf("point %d = %v, want %v", i, got[i], want[i])
		}
	}
	if got := stampedCPUSeries(nil, 998); got != nil {
		t.Errorf("stampedCPUSeries of no samples = %v, want nil", got)
	}
}

func TestSummarizeMemory(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(ms int) time.Time { return start.Add(time.Duration(ms) * time.Millisecond) }
	readings := []rssReading{{At: at(100), RSS: 10 << 20}, {At: at(200), RSS: 40 << 20},
		{At: at(300), RSS: 60 << 20}}
	events := []event{
		{Time: start, Kind: "started"},
		{Time: at(150), Kind: "soft-limit", Fields: map[string]string{
			"rss": "33558528", "limit": "33554432"}},
		{Time: at(350), Kind: "hard-limit", Fields: map[string]string{
			"rss": "67112960", "limit": "67108864"}},
	}
	sum, err := summarizeMemory(readings, events, at(999))
	if err != nil {
		t.Fatal(err)
	}
	if len(sum.Samples) != 3 || sum.Samples[0].T != 0.1 || sum.Samples[2].V != 60<<20 {
		t.Errorf("samples = %v, want 3 from t=0.1 s ending at 60 MiB", sum.Samples)
	}
	if sum.Peak != 60<<20 || sum.Last != 60<<20 {
		t.Errorf("peak, last = %d, %d, want both %d", sum.Peak, sum.Last, 60<<20)
	}
	if sum.Soft == nil || sum.Soft.T != 0.15 || sum.Soft.overshoot() != 4096 {
		t.Errorf("soft event = %+v, want at 0.15 s, 4096 bytes over", sum.Soft)
	}
	if sum.Hard == nil || sum.Hard.T != 0.35 || sum.Hard.overshoot() != 4096 {
		t.Errorf("hard event = %+v, want at 0.35 s, 4096 bytes over", sum.Hard)
	}
}

func TestSummarizeMemoryBadEvent(t *testing.T) {
	events := []event{{Kind: "hard-limit", Fields: map[string]string{"rss": "many"}}}
	if _, err := summarizeMemory(nil, events, time.Time{}); err == nil {
		t.Error("summarizeMemory with rss=many: no error")
	}
}

func TestMemoryChecks(t *testing.T) {
	soft, hard := int64(32<<20), int64(64<<20)
	killed := memorySummary{
		Soft: &limitEvent{RSS: soft + 4096, Limit: soft},
		Hard: &limitEvent{RSS: hard + 4096, Limit: hard},
	}
	tests := []struct {
		name  string
		sum   memorySummary
		state string
		want  []bool // soft event, hard event, final state
	}{
		{name: "killed at hard limit", sum: killed, state: expectedMemoryState,
			want: []bool{true, true, true}},
		{name: "no events", state: "exited 0", want: []bool{false, false, false}},
		{name: "event below its limit", state: expectedMemoryState, sum: memorySummary{
			Soft: &limitEvent{RSS: soft - 1, Limit: soft}, Hard: killed.Hard},
			want: []bool{false, true, true}},
		{name: "other limit in event", state: expectedMemoryState, sum: memorySummary{
			Soft: killed.Soft, Hard: &limitEvent{RSS: 2 * hard, Limit: 2 * hard}},
			want: []bool{true, false, true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checks := memoryChecks(tt.sum, tt.state, soft, hard)
			for i, want := range tt.want {
				if checks[i].OK != want {
					t.Errorf("%s OK = %v, want %v: %s", checks[i].Name, checks[i].OK, want, checks[i].Detail)
				}
			}
		})
	}
}
