package experiment

import (
	"fmt"
	"math"

	"ctlfs/runtime"
)

// Range of nice values that setpriority(2) and the ctl file accept.
const (
	MinNice = -20
	MaxNice = 19
)

// Weight returns the kernel's scheduling weight of a task with the given
// nice value.
func Weight(nice int) (int, error) {
	if nice < MinNice || nice > MaxNice {
		return 0, fmt.Errorf("invalid nice %d: expected %d to %d", nice, MinNice, MaxNice)
	}
	return int(runtime.NiceWeight(nice)), nil
}

// PredictShares returns the fractions of one CPU that two always-runnable
// tasks (or task groups) with nice values niceA and niceB receive under
// CFS and EEVDF: each one's weight over the sum of both.
func PredictShares(niceA, niceB int) (shareA, shareB float64, err error) {
	weightA, err := Weight(niceA)
	if err != nil {
		return 0, 0, err
	}
	weightB, err := Weight(niceB)
	if err != nil {
		return 0, 0, err
	}
	total := float64(weightA + weightB)
	return float64(weightA) / total, float64(weightB) / total, nil
}

// PredictFinish returns the wall times, in seconds from a common start,
// at which two tasks that each need cpuSeconds of CPU finish when they
// share one otherwise idle CPU with the given shares. The favoured task
// finishes at cpuSeconds/share. The other then runs alone, so it finishes
// when the CPU has done the work of both, at 2*cpuSeconds.
func PredictFinish(cpuSeconds, shareA, shareB float64) (finishA, finishB float64) {
	first := cpuSeconds / math.Max(shareA, shareB)
	last := 2 * cpuSeconds
	if shareA >= shareB {
		return first, last
	}
	return last, first
}
