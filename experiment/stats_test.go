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
	// a starts at 0 and burns 0.9 CPU-s per second until it stops at 10 s.
	// b starts at 0.5 s and burns 0.1 per second while a runs, then 1.
	a := series{{T: 0, V: 0}, {T: 10, V: 9}}
	b := series{{T: 0.5, V: 0}, {T: 10, V: 0.95}, {T: 15, V: 5.95}}
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
			if an.OverlapFrom != 0.5 || an.OverlapTo != 10 {
				t.Errorf("overlap = %g to %g, want 0.5 to 10", an.OverlapFrom, an.OverlapTo)
			}
			if math.Abs(an.ShareA-0.9) > 1e-9 {
				t.Errorf("share A = %.4f, want 0.9", an.ShareA)
			}
			if math.Abs(an.Busy-1) > 1e-9 {
				t.Errorf("busy = %.4f, want 1", an.Busy)
			}
			if an.EndA != 10 || an.EndB != 15 {
				t.Errorf("ends = %g, %g, want 10, 15", an.EndA, an.EndB)
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
