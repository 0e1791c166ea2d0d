package experiment

import "fmt"

// reportCPUIO draws the latency plot, writes OUT/cpu-io.md and returns
// the result.
func (s *session) reportCPUIO(m cpuIO) (*Result, error) {
	res := &Result{Name: s.exp.name, Report: s.outPath(".md")}
	res.Plots = []string{s.outPath("-latency.png")}
	err := plotLatencies(res.Plots[0], m.pulseAlone.Latencies, m.pulseBeside.Latencies)
	if err != nil {
		return nil, err
	}
	res.Checks = s.pulseChecks(m)
	r := new(report)
	s.writeCPUIOReport(r, m, res)
	return res, r.save(res.Report)
}

// pulseChecks checks that both io_pulse runs finished every iteration.
func (s *session) pulseChecks(m cpuIO) []Check {
	var checks []Check
	runs := []ioPulseRun{m.pulseAlone, m.pulseBeside}
	for i, label := range []string{"io_pulse alone", "io_pulse beside cpu_hog"} {
		ok := runs[i].Done && len(runs[i].Latencies) == s.opts.Iterations &&
			m.pulseStates[i] == "exited 0"
		checks = append(checks, Check{
			Name: label + " completed",
			OK:   ok,
			Detail: fmt.Sprintf("%d of %d iterations, state %q",
				len(runs[i].Latencies), s.opts.Iterations, m.pulseStates[i]),
		})
	}
	return checks
}

func (s *session) writeCPUIOReport(r *report, m cpuIO, res *Result) {
	r.heading(1, "cpu-io: an I/O-bound task beside a CPU-bound one")
	r.machine(s)
	r.paragraph("All containers have `limits` `cpus=%d` and nice 0. First `%s` runs "+
		"alone, then `cpu_hog %g` alone for its baseline throughput, then a `cpu_hog` "+
		"starts, `%s` starts %s later beside it, and the `cpu_hog` is killed once "+
		"`io_pulse` is done. Each io_pulse iteration appends 4 KiB, calls fsync and "+
		"sleeps 200 ms, so it needs the CPU only briefly. Its latency is that of "+
		"write plus fsync, which includes any wait for the CPU after the write "+
		"completes.", s.opts.CPU, s.pulseCommand(), baselineSeconds,
		s.pulseCommand(), hogLead)

	r.heading(2, "Results")
	alone, beside := m.pulseAlone.Latencies, m.pulseBeside.Latencies
	r.table([]string{"measure", "alone", "beside the other", "ratio"}, [][]string{
		{"io_pulse median latency", millis(median(alone)), millis(median(beside)),
			ratio(median(beside), median(alone))},
		{"io_pulse max latency", millis(maximum(alone)), millis(maximum(beside)),
			ratio(maximum(beside), maximum(alone))},
		{"cpu_hog work per wall second", fmt.Sprintf("%.0f", m.hogAlone.Rate),
			fmt.Sprintf("%.0f", m.hogBesideRate), ratio(m.hogBesideRate, m.hogAlone.Rate)},
		{"cpu_hog CPU seconds per wall second", percent(cpuFraction(m.hogAlone)),
			percent(m.hogBesideCPU), ratio(m.hogBesideCPU, cpuFraction(m.hogAlone))},
	})
	r.paragraph("The cpu_hog rate beside io_pulse is measured over the %s that "+
		"io_pulse ran, from its `started` to its `exited` event, by interpolating "+
		"the cumulative `work=` of the cpu_hog's progress lines.", seconds(m.overlap))
	r.checks(res.Checks)
	r.image("io_pulse latency per iteration", res.Plots[0])
	r.paragraph("Raw data: the `.log` files of the %s* containers beside this report.",
		s.opts.Prefix+s.exp.name)
}

// cpuFraction returns the CPU time of a finished cpu_hog run over its
// wall time.
func cpuFraction(run cpuHogRun) float64 {
	if len(run.Samples) == 0 {
		return 0
	}
	last := run.Samples[len(run.Samples)-1]
	return last.CPU / last.Wall
}

func ratio(a, b float64) string {
	if b == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f×", a/b)
}
