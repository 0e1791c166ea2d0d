package experiment

import "fmt"

// reportMemory draws the RSS plot, writes OUT/memory.md and returns the
// result.
func (s *session) reportMemory(sum memorySummary, state string) (*Result, error) {
	res := &Result{Name: s.exp.name, Report: s.outPath(".md")}
	res.Plots = []string{s.outPath("-rss.png")}
	data := rssPlot{Samples: sum.Samples, Soft: s.opts.Soft, Hard: s.opts.Hard,
		SoftEvent: eventPoint(sum.Soft), HardEvent: eventPoint(sum.Hard)}
	if err := plotRSS(res.Plots[0], data); err != nil {
		return nil, err
	}
	res.Checks = memoryChecks(sum, state, s.opts.Soft, s.opts.Hard)
	r := new(report)
	s.writeMemoryReport(r, sum, state, res)
	return res, r.save(res.Report)
}

func eventPoint(e *limitEvent) *point {
	if e == nil {
		return nil
	}
	return &point{T: e.T, V: float64(e.RSS)}
}

// memoryChecks checks the events against the limits that were written
// and the final state against a kill at the hard limit.
func memoryChecks(sum memorySummary, state string, soft, hard int64) []Check {
	return []Check{
		limitCheck("soft-limit event", sum.Soft, soft),
		limitCheck("hard-limit event", sum.Hard, hard),
		{
			Name:   "final state",
			OK:     state == expectedMemoryState,
			Detail: fmt.Sprintf("read %q, expected %q", state, expectedMemoryState),
		},
	}
}

// limitCheck checks that an event came, names the limit that was set,
// and saw an RSS at or above it.
func limitCheck(name string, e *limitEvent, limit int64) Check {
	if e == nil {
		return Check{Name: name, Detail: fmt.Sprintf("none, expected one at %d bytes", limit)}
	}
	return Check{
		Name: name,
		OK:   e.Limit == limit && e.RSS >= limit,
		Detail: fmt.Sprintf("rss=%d limit=%d at %s, expected limit=%d and rss at or above it",
			e.RSS, e.Limit, seconds(e.T), limit),
	}
}

func (s *session) writeMemoryReport(r *report, sum memorySummary, state string, res *Result) {
	r.heading(1, "memory: soft and hard RSS limits")
	r.machine(s)
	r.paragraph("A container runs `%s` with `limits` `soft=%d hard=%d` (%s and %s). "+
		"The experiment read the container's `rss` file every %s (%d readings) "+
		"until `state` read exited, then read its `events`. Times are seconds since "+
		"the `started` event. The first word of `monitor` says which monitor "+
		"enforced the limits: `ebpf` acts on each change of the RSS counters, "+
		"`proc` polls.", s.memoryCommand(), s.opts.Soft, s.opts.Hard,
		mebibytes(s.opts.Soft), mebibytes(s.opts.Hard), s.opts.Sample, len(sum.Samples))

	r.heading(2, "Results")
	r.table([]string{"measure", "value"}, memoryRows(sum, state, s.opts.Hard))
	r.paragraph("A reading taken while the container's processes exit can be " +
		"below the RSS at the kill, so the last sampled RSS may be lower than the " +
		"largest.")
	r.checks(res.Checks)
	r.image("RSS over time with the limits", res.Plots[0])
	r.paragraph("Raw data: %s.log beside this report.", s.containerName("hog"))
}

func memoryRows(sum memorySummary, state string, hard int64) [][]string {
	rows := [][]string{
		{"final state", "`" + state + "`"},
		{"soft-limit event", eventText(sum.Soft)},
		{"hard-limit event", eventText(sum.Hard)},
	}
	if sum.Hard != nil {
		rows = append(rows, []string{"overshoot in the hard-limit event (rss - limit)",
			fmt.Sprintf("%d bytes (%s)", sum.Hard.overshoot(), mebibytes(sum.Hard.overshoot()))})
	}
	return append(rows,
		[]string{"largest sampled RSS - hard limit",
			fmt.Sprintf("%d bytes (%s)", sum.Peak-hard, mebibytes(sum.Peak-hard))},
		[]string{"last sampled RSS", fmt.Sprintf("%d bytes (%s)", sum.Last, mebibytes(sum.Last))},
	)
}

func eventText(e *limitEvent) string {
	if e == nil {
		return "none"
	}
	return fmt.Sprintf("at %s, rss=%d (%s), limit=%d",
		seconds(e.T), e.RSS, mebibytes(e.RSS), e.Limit)
}
