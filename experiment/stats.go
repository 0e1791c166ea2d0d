package experiment

import (
	"math"
	"slices"
	"sort"
)

// point is one value of a series at time T, in seconds.
type point struct{ T, V float64 }

// series is a cumulative quantity over time, such as CPU time used or work
// done, with points in increasing T.
type series []point

// at returns the value at time t, interpolated linearly between the two
// points around t. Before the first point it is the first value, and after
// the last point the last value, because a finished task adds nothing.
func (s series) at(t float64) float64 {
	if len(s) == 0 {
		return 0
	}
	i := sort.Search(len(s), func(i int) bool { return s[i].T >= t })
	switch {
	case i == 0:
		return s[0].V
	case i == len(s):
		return s[len(s)-1].V
	}
	before, after := s[i-1], s[i]
	fraction := (t - before.T) / (after.T - before.T)
	return before.V + fraction*(after.V-before.V)
}

// delta returns how much s grew between from and to.
func (s series) delta(from, to float64) float64 {
	return s.at(to) - s.at(from)
}

// end returns the time of the last point, or 0 for an empty series.
func (s series) end() float64 {
	if len(s) == 0 {
		return 0
	}
	return s[len(s)-1].T
}

// cpuSeries turns cpu_hog samples into cumulative CPU seconds over time,
// shifted by start seconds and beginning at (start, 0).
func cpuSeries(samples []cpuSample, start float64) series {
	s := series{{T: start, V: 0}}
	for _, sample := range samples {
		s = append(s, point{T: start + sample.Wall, V: sample.CPU})
	}
	return s
}

// stampedCPUSeries turns cpu_hog samples that all have an at= stamp into
// cumulative CPU seconds over time, in seconds since origin (Unix
// seconds), beginning at (start, 0). The start is the last sample's at
// minus its wall time, because the done line, last when present, gives
// wall to 10 ms where a progress line gives t only to 100 ms.
func stampedCPUSeries(samples []cpuSample, origin float64) series {
	if len(samples) == 0 {
		return nil
	}
	last := samples[len(samples)-1]
	s := series{{T: last.At - last.Wall - origin, V: 0}}
	for _, sample := range samples {
		s = append(s, point{T: sample.At - origin, V: sample.CPU})
	}
	return s
}

// workSeries turns cpu_hog samples into cumulative work over time, shifted
// by start seconds and beginning at (start, 0).
func workSeries(samples []cpuSample, start float64) series {
	s := series{{T: start, V: 0}}
	for _, sample := range samples {
		s = append(s, point{T: start + sample.Wall, V: sample.Work})
	}
	return s
}

// rateWithin returns how fast s grew per second over those of its own
// intervals, between two consecutive points, that lie wholly inside
// [from, to], and the seconds that these intervals cover. Because it
// interpolates nothing, growth outside [from, to] does not count. The
// rate is NaN when no interval fits.
func (s series) rateWithin(from, to float64) (rate, covered float64) {
	var grown float64
	for i := 1; i < len(s); i++ {
		before, after := s[i-1], s[i]
		if before.T < from || after.T > to {
			continue
		}
		grown += after.V - before.V
		covered += after.T - before.T
	}
	if covered <= 0 {
		return math.NaN(), 0
	}
	return grown / covered, covered
}

// interval is the CPU share of two tasks between From and To.
type interval struct {
	From, To       float64
	ShareA, ShareB float64
}

// share returns a's part of the growth of a and b between from and to,
// or NaN when neither grew.
func share(a, b series, from, to float64) float64 {
	da, db := a.delta(from, to), b.delta(from, to)
	if da+db <= 0 {
		return math.NaN()
	}
	return da / (da + db)
}

// intervals splits [from, to] into steps of length step and returns the
// shares of a and b in each. A last step shorter than half a step is
// merged into the one before it, so that no share rests on a sliver.
func intervals(a, b series, from, to, step float64) []interval {
	var out []interval
	for start := from; start < to; start += step {
		end := math.Min(start+step, to)
		if to-end < step/2 {
			end = to
		}
		shareA := share(a, b, start, end)
		out = append(out, interval{From: start, To: end, ShareA: shareA, ShareB: 1 - shareA})
		if end == to {
			break
		}
	}
	return out
}

// median returns the middle value of xs, or the mean of the two middle
// values for an even count, or NaN for no values.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	sorted := slices.Clone(xs)
	slices.Sort(sorted)
	middle := len(sorted) / 2
	if len(sorted)%2 == 1 {
		return sorted[middle]
	}
	return (sorted[middle-1] + sorted[middle]) / 2
}

// maximum returns the largest value of xs, or NaN for no values.
func maximum(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	return slices.Max(xs)
}

// agrees reports whether measured is within tolerance of predicted.
func agrees(measured, predicted, tolerance float64) bool {
	return math.Abs(measured-predicted) <= tolerance
}

// rate returns how fast s grew between from and to, per second, or NaN
// for an empty interval.
func (s series) rate(from, to float64) float64 {
	if to <= from {
		return math.NaN()
	}
	return s.delta(from, to) / (to - from)
}
