package experiment

import (
	"fmt"
	"math"
	"strings"
	"testing"
)

// epoch is the Unix time, in seconds, of the earlier started event in the
// simulated runs.
const epoch = 1733331234.0

// simulatedHog is one cpu_hog process of a simulated nice experiment.
type simulatedHog struct {
	start float64 // when the process starts, seconds after epoch
	stall float64 // seconds after start during which it gets no CPU
	// lateness returns how long after its k-th whole second the process
	// prints its k-th progress line, as under load.
	lateness func(k int) float64
}

// simulateNice runs two cpu_hog processes that each burn cpuSeconds on one
// CPU in 1 ms steps, and returns the logs they print, at= stamps included.
// While both run and neither stalls, a gets shareA of the CPU and b the
// rest, and a process that runs alone gets the whole CPU.
func simulateNice(hogs [2]simulatedHog, shareA, cpuSeconds float64) [2]string {
	const step = 0.001
	var logs [2]strings.Builder
	var cpu [2]float64
	var done [2]bool
	next := [2]int{1, 1} // the whole second of the next progress line
	for i := 0; !done[0] || !done[1]; i++ {
		now := float64(i) * step
		var gets [2]bool
		for h, hog := range hogs {
			gets[h] = !done[h] && now >= hog.start+hog.stall
		}
		switch {
		case gets[0] && gets[1]:
			cpu[0] += shareA * step
			cpu[1] += (1 - shareA) * step
		case gets[0]:
			cpu[0] += step
		case gets[1]:
			cpu[1] += step
		}
		for h, hog := range hogs {
			if done[h] || now < hog.start {
				continue
			}
			wall := now - hog.start
			work := math.Round(cpu[h] * 400000)
			switch {
			case cpu[h] >= cpuSeconds:
				fmt.Fprintf(&logs[h], "cpu_hog: done cpu=%.2fs wall=%.2fs work=%.0f rate=%.0f/s "+
					"cpu_rate=400000/s at=%s\n", cpu[h], wall, work, work/wall, stamp(now))
				done[h] = true
			case wall >= float64(next[h])+hog.lateness(next[h]):
				fmt.Fprintf(&logs[h], "cpu_hog: t=%.1fs cpu=%.2fs work=%.0f rate=%.0f/s at=%s\n",
					wall, cpu[h], work, work/wall, stamp(now))
				next[h] = int(wall) + 1
			}
		}
	}
	return [2]string{logs[0].String(), logs[1].String()}
}

// stamp formats a time in seconds after epoch as cpu_hog prints at=.
func stamp(seconds float64) string {
	ms := int64(math.Round(epoch*1000)) + int64(seconds*1000)
	return fmt.Sprintf("%d.%03d", ms/1000, ms%1000)
}

// stampedSeries parses a simulated log and places it by its at= stamps.
func stampedSeries(t *testing.T, log string) series {
	t.Helper()
	run, err := parseCPUHog(log)
	if err != nil {
		t.Fatal(err)
	}
	if !run.Done || !run.stamped() {
		t.Fatalf("simulated log lacks a done line or at= stamps:\n%s", log)
	}
	return stampedCPUSeries(run.Samples, epoch)
}

// eventSeries parses a simulated log and places it by its t= and wall=
// offsets from a started event at start seconds after epoch, as for logs
// without at= stamps.
func eventSeries(t *testing.T, log string, start float64) series {
	t.Helper()
	run, err := parseCPUHog(log)
	if err != nil {
		t.Fatal(err)
	}
	return cpuSeries(run.Samples, start)
}

// distanceToNearest returns how far t lies from the nearest point of s, in
// seconds.
func distanceToNearest(s series, t float64) float64 {
	nearest := math.Inf(1)
	for _, p := range s {
		nearest = min(nearest, math.Abs(p.T-t))
	}
	return nearest
}

func punctual(int) float64 { return 0.001 }

// late returns lateness of 0 to 80 ms that varies from line to line.
func late(k int) float64 { return 0.02 * float64((k*7)%5) }

// TestAnalyzeNiceSimulated checks the shares measured from simulated logs
// of nice -5 against nice 5. In the loaded cases b's process starts 1 s or
// 1.5 s late or gets no CPU in its first second, and the lines come up to
// 80 ms late.
func TestAnalyzeNiceSimulated(t *testing.T) {
	predictedA, _, err := PredictShares(-5, 5)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		hogs [2]simulatedHog
		// whether a finishes at least 0.3 s from any line of b
		midInterval bool
	}{
		{name: "quiet", hogs: [2]simulatedHog{
			{start: 0.005, lateness: punctual}, {start: 0.015, lateness: punctual}}},
		{name: "b starts 1 s late", hogs: [2]simulatedHog{
			{start: 0.05, lateness: late}, {start: 1.05, lateness: late}}},
		{name: "b starts 1.5 s late", hogs: [2]simulatedHog{
			{start: 0.05, lateness: late}, {start: 1.55, lateness: late}}, midInterval: true},
		{name: "b stalls first second", hogs: [2]simulatedHog{
			{start: 0.05, lateness: late}, {start: 0.55, stall: 1, lateness: late}}, midInterval: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			logs := simulateNice(tt.hogs, predictedA, 10)
			a, b := stampedSeries(t, logs[0]), stampedSeries(t, logs[1])
			an, err := analyzeNice(a, b, -5, 5, 10)
			if err != nil {
				t.Fatal(err)
			}
			if gap := distanceToNearest(b, an.EndA); tt.midInterval && gap < 0.3 {
				t.Errorf("a finished %.2f s from a line of b, want the middle of an interval", gap)
			}
			if math.Abs(an.ShareA-predictedA) > 0.005 {
				t.Errorf("share A = %s, want %s within 0.5 points", percent(an.ShareA), percent(predictedA))
			}
			if math.Abs(an.Busy-1) > 0.01 {
				t.Errorf("busy = %s, want 100%%", percent(an.Busy))
			}
			if an.OverlapTo != an.EndA {
				t.Errorf("overlap ends at %.3f s, want a's end %.3f s", an.OverlapTo, an.EndA)
			}
			if !an.shareCheck().OK {
				t.Errorf("share check failed: %s", an.shareCheck().Detail)
			}
		})
	}
}

// TestAnalyzeNiceByStartedEvents checks that logs placed by their started
// events, as without at= stamps, misplace a late process. It shows why
// collectNice uses at= whenever both logs have it.
func TestAnalyzeNiceByStartedEvents(t *testing.T) {
	predictedA, _, err := PredictShares(-5, 5)
	if err != nil {
		t.Fatal(err)
	}
	hogs := [2]simulatedHog{{start: 0.05, lateness: late}, {start: 1.55, lateness: late}}
	logs := simulateNice(hogs, predictedA, 10)
	a, b := eventSeries(t, logs[0], 0), eventSeries(t, logs[1], 0.01)
	an, err := analyzeNice(a, b, -5, 5, 10)
	if err != nil {
		t.Fatal(err)
	}
	if an.shareCheck().OK {
		t.Errorf("share check OK with b placed 1.54 s early: %s", an.shareCheck().Detail)
	}
}
