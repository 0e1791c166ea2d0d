package experiment

import (
	"fmt"
	"strconv"
	"time"
)

// shareTolerance is the largest difference, as a fraction of the CPU,
// between the measured and the predicted share that still agrees.
const shareTolerance = 0.03

// niceTask is one cpu_hog container of the nice experiment.
type niceTask struct {
	name     string
	nice     int
	niceRead string // content of the container's nice file while it ran
	state    string // final state
	run      cpuHogRun
	cpu      series // CPU seconds over time since the first start
}

func runNice(s *session) (*Result, error) {
	tasks := []*niceTask{
		{name: s.containerName("a"), nice: s.opts.NiceA},
		{name: s.containerName("b"), nice: s.opts.NiceB},
	}
	if err := s.startNice(tasks); err != nil {
		return nil, err
	}
	if err := s.waitNice(tasks); err != nil {
		return nil, err
	}
	stamped, err := s.collectNice(tasks)
	if err != nil {
		return nil, err
	}
	analysis, err := analyzeNice(tasks[0].cpu, tasks[1].cpu,
		s.opts.NiceA, s.opts.NiceB, s.opts.Seconds)
	if err != nil {
		return nil, err
	}
	return s.reportNice(tasks, analysis, stamped)
}

// startNice creates both containers on one CPU, writes their nice values
// to ctl before they start, then starts them one right after the other.
func (s *session) startNice(tasks []*niceTask) error {
	for _, task := range tasks {
		if err := s.create(task.name); err != nil {
			return err
		}
		if err := s.tree.write(task.name, "limits", "cpus="+strconv.Itoa(s.opts.CPU)); err != nil {
			return err
		}
		if err := s.tree.write(task.name, "ctl", "nice "+strconv.Itoa(task.nice)); err != nil {
			return err
		}
	}
	cmdline := "cpu_hog " + strconv.FormatFloat(s.opts.Seconds, 'f', -1, 64)
	for _, task := range tasks {
		if err := s.start(task.name, cmdline); err != nil {
			return err
		}
	}
	s.logf("started %s (nice %d) and %s (nice %d) on CPU %d, %g CPU-s each",
		tasks[0].name, tasks[0].nice, tasks[1].name, tasks[1].nice, s.opts.CPU, s.opts.Seconds)
	return nil
}

// waitNice reads each container's nice file while it runs, then prints
// both CPU times every second until both have exited.
func (s *session) waitNice(tasks []*niceTask) error {
	names := make([]string, len(tasks))
	for i, task := range tasks {
		names[i] = task.name
		task.niceRead, _ = s.tree.read(task.name, "nice")
	}
	// The favoured task alone would finish by 2*Seconds on an idle CPU.
	timeout := time.Duration(3*2*s.opts.Seconds*float64(time.Second)) + 30*time.Second
	states, err := s.waitAll(names, timeout, time.Second, func() { s.printNice(tasks) })
	for _, task := range tasks {
		task.state = states[task.name]
	}
	return err
}

func (s *session) printNice(tasks []*niceTask) {
	line := fmt.Sprintf("t=%.0fs", time.Since(s.began).Seconds())
	for _, task := range tasks {
		log, _ := s.tree.read(task.name, "log")
		run, _ := parseCPUHog(log)
		cpu := 0.0
		if n := len(run.Samples); n > 0 {
			cpu = run.Samples[n-1].CPU
		}
		line += fmt.Sprintf("  %s cpu=%.2fs", task.name, cpu)
	}
	s.logf("%s", line)
}

// collectNice saves and parses each log and places each run on a common
// time axis whose zero is the earlier started event. When every line of
// both logs has an at= stamp, each line sits at its own stamp, and it
// returns true. Otherwise each run's t= offsets are added to its started
// event, which misplaces a run by the delay between that event and the
// process's own start.
func (s *session) collectNice(tasks []*niceTask) (bool, error) {
	starts := make([]time.Time, len(tasks))
	stamped := true
	for i, task := range tasks {
		var err error
		task.run, starts[i], err = s.collectCPUHog(task.name)
		if err == nil {
			err = requireDone(task.name, task.run)
		}
		if err != nil {
			return false, err
		}
		stamped = stamped && task.run.stamped()
	}
	origin := starts[0]
	if starts[1].Before(origin) {
		origin = starts[1]
	}
	for i, task := range tasks {
		if stamped {
			task.cpu = stampedCPUSeries(task.run.Samples, float64(origin.UnixNano())/1e9)
		} else {
			task.cpu = cpuSeries(task.run.Samples, starts[i].Sub(origin).Seconds())
		}
	}
	return stamped, nil
}

// collectCPUHog saves and parses the log of a cpu_hog container and
// returns the run and when it started.
func (s *session) collectCPUHog(name string) (cpuHogRun, time.Time, error) {
	log, err := s.saveLog(name)
	if err != nil {
		return cpuHogRun{}, time.Time{}, err
	}
	run, err := parseCPUHog(log)
	if err != nil {
		return run, time.Time{}, fmt.Errorf("read log of %s: %w", name, err)
	}
	events, err := s.containerEvents(name)
	if err != nil {
		return run, time.Time{}, err
	}
	return run, startedAt(events, s.began), nil
}

func requireDone(name string, run cpuHogRun) error {
	if !run.Done {
		return fmt.Errorf("read log of %s: no done line, so cpu_hog did not finish", name)
	}
	return nil
}

// niceAnalysis compares the two runs with the weight table.
type niceAnalysis struct {
	PredictedA, PredictedB float64 // CPU shares
	PredictedEndA          float64 // seconds since the first start
	PredictedEndB          float64
	OverlapFrom, OverlapTo float64 // while both ran, seconds since the first start
	CoveredA, CoveredB     float64 // seconds of the overlap that each rate rests on
	ShareA, ShareB         float64 // measured over the overlap
	Busy                   float64 // CPU seconds of both per wall second, over the overlap
	EndA, EndB             float64 // measured, seconds since the first start
	Steps                  []interval
}

// analyzeNice computes the shares of a and b, cumulative CPU seconds over
// time, while both ran, over the whole overlap and in one-second steps.
// Each series begins with its start point (T, 0), as cpuSeries and
// stampedCPUSeries build it, followed by one point per cpu_hog line.
//
// The overlap runs from the later of the two first lines to the earlier of
// the two last (done) lines. So no run's first interval, from its start to
// its first line, counts, because under load it can include a wait for the
// first slice of CPU. Each run's rate is its CPU gain over
// its own intervals between consecutive lines that lie wholly inside the
// overlap, divided by their length, and a's share is rateA / (rateA +
// rateB). An interval that crosses an end of the overlap mixes the rate
// while both ran with the rate while running alone, so it is left out.
// For example, let a finish in the middle of a one-second interval of b,
// in which b gains 0.05 CPU-s before and 0.5 after. Interpolating b at a's
// end would credit b with 0.275 CPU-s where it gained 0.05, which moves
// the shares of 10 CPU-s runs at nice -5 and 5 by about 2 points. The two
// rates rest on windows that can differ by up to one line interval at
// each end, which matters only if the load on the CPU changes there.
//
// The one-second steps interpolate both series and are for the plot and
// the table only. The step at each end of the overlap can show such a
// mixed rate.
func analyzeNice(a, b series, niceA, niceB int, cpuSeconds float64) (niceAnalysis, error) {
	var an niceAnalysis
	var err error
	an.PredictedA, an.PredictedB, err = PredictShares(niceA, niceB)
	if err != nil {
		return an, err
	}
	an.PredictedEndA, an.PredictedEndB = PredictFinish(cpuSeconds, an.PredictedA, an.PredictedB)
	if len(a) < 2 || len(b) < 2 {
		return an, fmt.Errorf("analyze nice: no CPU samples")
	}
	an.EndA, an.EndB = a.end(), b.end()
	an.OverlapFrom, an.OverlapTo = max(a[1].T, b[1].T), min(an.EndA, an.EndB)
	if an.OverlapTo <= an.OverlapFrom {
		return an, fmt.Errorf("analyze nice: the runs did not overlap (%.2f s to %.2f s)",
			an.OverlapFrom, an.OverlapTo)
	}
	var rateA, rateB float64
	rateA, an.CoveredA = a.rateWithin(an.OverlapFrom, an.OverlapTo)
	rateB, an.CoveredB = b.rateWithin(an.OverlapFrom, an.OverlapTo)
	if an.CoveredA == 0 || an.CoveredB == 0 || rateA+rateB <= 0 {
		return an, fmt.Errorf("analyze nice: the overlap from %.2f s to %.2f s contains no "+
			"interval between two lines of each run in which either gained CPU time; "+
			"run with a larger --seconds", an.OverlapFrom, an.OverlapTo)
	}
	an.ShareA = rateA / (rateA + rateB)
	an.ShareB = 1 - an.ShareA
	an.Busy = rateA + rateB
	an.Steps = intervals(a, b, an.OverlapFrom, an.OverlapTo, 1)
	return an, nil
}

// shareCheck compares the measured share of the first task with the
// prediction.
func (an niceAnalysis) shareCheck() Check {
	return Check{
		Name: "CPU share while both ran",
		OK:   agrees(an.ShareA, an.PredictedA, shareTolerance),
		Detail: fmt.Sprintf("measured %s / %s, predicted %s / %s, difference %+.1f points "+
			"(tolerance %.0f points)", percent(an.ShareA), percent(an.ShareB),
			percent(an.PredictedA), percent(an.PredictedB),
			100*(an.ShareA-an.PredictedA), 100*shareTolerance),
	}
}
