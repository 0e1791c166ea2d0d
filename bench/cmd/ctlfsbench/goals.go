package main

import "math"

// goal is one target of the benchmark and what this run measured for it.
type goal struct {
	figure   string
	measured string // the value with its unit, or "-"
	target   string
	result   string // "pass", "FAIL", "not measured" or "no goal"
}

// checkGoal compares value with a target. ok reports whether a value
// meets it, and is nil for a figure without a goal. A NaN value was not
// measured.
func checkGoal(figure string, value float64, format func(float64) string, target string, ok func(float64) bool) goal {
	g := goal{figure: figure, measured: "-", target: target, result: "not measured"}
	if math.IsNaN(value) {
		return g
	}
	g.measured = format(value)
	g.result = "FAIL"
	switch {
	case ok == nil:
		g.result = "no goal"
	case ok(value):
		g.result = "pass"
	}
	return g
}

func atMost(limit float64) func(float64) bool  { return func(v float64) bool { return v <= limit } }
func below(limit float64) func(float64) bool   { return func(v float64) bool { return v < limit } }
func atLeast(limit float64) func(float64) bool { return func(v float64) bool { return v >= limit } }

func ratioUnit(v float64) string { return formatRatio(v, 1) }

func unit(digits int, suffix string) func(float64) string {
	return func(v float64) string { return formatFloat(v, digits) + " " + suffix }
}

// goalsSection returns the table of every goal, first in the report.
func goalsSection(goals []goal) section {
	sec := section{title: "Goals"}
	sec.text = []string{"Each goal against the figure of this run that it is about; " +
		"the sections below have the details. Ratios do not depend much on the machine, " +
		"absolute times and rates do."}
	sec.table = newTable("figure", "measured", "goal", "result")
	failed := 0
	for _, g := range goals {
		sec.table.add(g.figure, g.measured, g.target, g.result)
		if g.result == "FAIL" {
			failed++
		}
	}
	if failed > 0 {
		sec.note("%d of %d goals not met", failed, len(goals))
	}
	return sec
}

// ratioOf returns a/b, and NaN when b is 0 or either is NaN.
func ratioOf(a, b float64) float64 {
	if b == 0 {
		return math.NaN()
	}
	return a / b
}
