package experiment

import (
	"fmt"
	"strconv"
)

// reportNice draws the plots, writes OUT/nice.md and returns the result.
// stamped reports whether the runs were placed on the time axis by their
// at= stamps, as collectNice returns it.
func (s *session) reportNice(tasks []*niceTask, an niceAnalysis, stamped bool) (*Result, error) {
	res := &Result{Name: s.exp.name, Report: s.outPath(".md")}
	res.Plots = []string{s.outPath("-shares.png"), s.outPath("-cpu.png")}
	labels := shareLabels{A: tasks[0].name, B: tasks[1].name}
	err := firstError(
		func() error {
			return plotShares(res.Plots[0], an.Steps, an.PredictedA, an.PredictedB, labels)
		},
		func() error { return plotCPU(res.Plots[1], tasks[0].cpu, tasks[1].cpu, labels) },
	)
	if err != nil {
		return nil, err
	}
	res.Checks = append([]Check{an.shareCheck()}, niceChecks(tasks)...)
	r := new(report)
	s.writeNiceReport(r, tasks, an, res, stamped)
	return res, r.save(res.Report)
}

// niceChecks checks that each container ran with its nice value and
// exited normally.
func niceChecks(tasks []*niceTask) []Check {
	var checks []Check
	for _, task := range tasks {
		want := strconv.Itoa(task.nice)
		checks = append(checks, Check{
			Name:   task.name + " nice file while running",
			OK:     task.niceRead == want,
			Detail: fmt.Sprintf("read %q, expected %q", task.niceRead, want),
		}, Check{
			Name:   task.name + " final state",
			OK:     task.state == "exited 0",
			Detail: fmt.Sprintf("read %q, expected %q", task.state, "exited 0"),
		})
	}
	return checks
}

func (s *session) writeNiceReport(r *report, tasks []*niceTask, an niceAnalysis, res *Result,
	stamped bool) {
	r.heading(1, fmt.Sprintf("nice: nice %d against nice %d on one CPU",
		tasks[0].nice, tasks[1].nice))
	r.machine(s)
	placement := "Each line sits at its `at=` stamp, the machine's clock when cpu_hog " +
		"printed it, so both runs share one clock."
	if !stamped {
		placement = "The lines have no `at=` stamps, so each line sits at its run's " +
			"`started` event plus its `t=`, which misplaces a run by any delay between " +
			"that event and the process's own start."
	}
	r.paragraph("Two containers, %s and %s, each run `cpu_hog %g` with `limits` "+
		"`cpus=%d`. Each one's nice value was written to its `ctl` file before its "+
		"`cmd`, so that the supervisor applied it at start. Their CPU time comes "+
		"from the `cpu=` lines in each container's `log`. %s The time axis "+
		"starts at the earlier `started` event.",
		tasks[0].name, tasks[1].name, s.opts.Seconds, s.opts.CPU, placement)

	r.heading(2, "Prediction")
	r.paragraph("The kernel weighs a runnable task (or, here, each container's cpu "+
		"cgroup) by its nice value: weight(%d) = %d and weight(%d) = %d. While both "+
		"run, each gets its weight over the sum of both: %s and %s. The favoured one "+
		"finishes its %g CPU-s at %s; the other then runs alone and finishes when "+
		"the CPU has done both runs' work, at %s.",
		tasks[0].nice, weightOf(tasks[0].nice), tasks[1].nice, weightOf(tasks[1].nice),
		percent(an.PredictedA), percent(an.PredictedB), s.opts.Seconds,
		seconds(min(an.PredictedEndA, an.PredictedEndB)),
		seconds(max(an.PredictedEndA, an.PredictedEndB)))

	r.heading(2, "Results")
	r.table([]string{"container", "nice", "share predicted", "share measured",
		"finish predicted", "finish measured", "work per CPU-s"}, niceRows(tasks, an))
	r.paragraph("Measured shares are over the overlap, from the later first line at %s "+
		"to the earlier done line at %s. Each run's rate is its CPU gain over those of "+
		"its own intervals between two lines that lie wholly inside the overlap (%s of "+
		"%s, %s of %s), and a share is one rate over the sum of both. Intervals that "+
		"cross an end of the overlap are left out, because there a run's rate changes "+
		"as the other starts or finishes. Together the two used %s of CPU %d. The "+
		"predicted finish times assume 100%%, so other load on that CPU delays both "+
		"finishes without changing the shares.",
		seconds(an.OverlapFrom), seconds(an.OverlapTo), seconds(an.CoveredA), tasks[0].name,
		seconds(an.CoveredB), tasks[1].name, percent(an.Busy), s.opts.CPU)
	r.checks(res.Checks)
	r.image("CPU share per second", res.Plots[0])
	r.image("CPU time used", res.Plots[1])

	r.heading(2, "Share in each second of the overlap")
	r.table([]string{"from", "to", tasks[0].name, tasks[1].name}, stepRows(an.Steps))
	r.paragraph("Raw data: %s.log and %s.log beside this report.", tasks[0].name, tasks[1].name)
}

func niceRows(tasks []*niceTask, an niceAnalysis) [][]string {
	predicted := []float64{an.PredictedA, an.PredictedB}
	measured := []float64{an.ShareA, an.ShareB}
	predictedEnd := []float64{an.PredictedEndA, an.PredictedEndB}
	end := []float64{an.EndA, an.EndB}
	rows := make([][]string, len(tasks))
	for i, task := range tasks {
		rows[i] = []string{task.name, strconv.Itoa(task.nice),
			percent(predicted[i]), percent(measured[i]),
			seconds(predictedEnd[i]), seconds(end[i]),
			fmt.Sprintf("%.0f", task.run.CPURate)}
	}
	return rows
}

func stepRows(steps []interval) [][]string {
	rows := make([][]string, len(steps))
	for i, step := range steps {
		rows[i] = []string{seconds(step.From), seconds(step.To),
			percent(step.ShareA), percent(step.ShareB)}
	}
	return rows
}

// weightOf returns the weight of a nice value already validated.
func weightOf(nice int) int {
	weight, _ := Weight(nice)
	return weight
}
