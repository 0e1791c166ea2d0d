package experiment

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// cpuSample is one point of a cpu_hog run: the wall time since its start,
// the CPU time it has used and the units of work it has done by then.
type cpuSample struct {
	Wall, CPU float64 // seconds
	Work      float64
	At        float64 // seconds since the Unix epoch, or 0 when the line has no at=
}

// cpuHogRun is the content of a cpu_hog log.
type cpuHogRun struct {
	Samples []cpuSample // progress lines, then the done line if present
	Done    bool        // whether the done line was found
	Rate    float64     // work per wall second over the whole run (done line)
	CPURate float64     // work per CPU second (done line)
}

// parseCPUHog reads the lines that cpu_hog prints:
//
//	cpu_hog: t=3.0s cpu=1.52s work=1234567 rate=411522/s at=1733331234.123
//	cpu_hog: done cpu=10.00s wall=19.87s work=8123456 rate=408830/s cpu_rate=812345/s at=1733331250.993
//
// at= is optional, because cpu_hog binaries built before it was added do
// not print it. Other lines, such as error messages, are skipped. A
// progress or done line that does not parse is an error, because it means
// that the workload's output format changed.
func parseCPUHog(log string) (cpuHogRun, error) {
	var run cpuHogRun
	for _, line := range strings.Split(log, "\n") {
		rest, ok := cutAnyPrefix(line, "cpu_hog: t=", "cpu_hog: done ")
		if !ok {
			continue
		}
		if err := run.addLine(rest); err != nil {
			return run, fmt.Errorf("parse cpu_hog line %q: %w", line, err)
		}
	}
	return run, nil
}

func (run *cpuHogRun) addLine(rest string) error {
	done := strings.HasPrefix(rest, "done ")
	fields := keyValues(strings.TrimPrefix(rest, "done "))
	wallKey := "t"
	if done {
		wallKey = "wall"
	}
	var s cpuSample
	var err error
	s.Wall, err = number(fields, wallKey, "s")
	if err == nil {
		s.CPU, err = number(fields, "cpu", "s")
	}
	if err == nil {
		s.Work, err = number(fields, "work", "")
	}
	if _, ok := fields["at"]; ok && err == nil {
		s.At, err = number(fields, "at", "")
	}
	if err != nil {
		return err
	}
	run.Samples = append(run.Samples, s)
	if done {
		return run.addDone(fields)
	}
	return nil
}

func (run *cpuHogRun) addDone(fields map[string]string) error {
	var err error
	run.Done = true
	run.Rate, err = number(fields, "rate", "/s")
	if err != nil {
		return err
	}
	run.CPURate, err = number(fields, "cpu_rate", "/s")
	return err
}

// stamped reports whether every sample of run has an at= stamp.
func (run cpuHogRun) stamped() bool {
	for _, s := range run.Samples {
		if s.At == 0 {
			return false
		}
	}
	return len(run.Samples) > 0
}

// ioPulseRun is the content of an io_pulse log.
type ioPulseRun struct {
	Latencies []float64 // milliseconds, one per iteration, in order
	Done      bool      // whether the summary line was found
	Median    float64   // milliseconds, from the summary line
	Max       float64   // milliseconds, from the summary line
}

// parseIOPulse reads the lines that io_pulse prints:
//
//	io_pulse: iter=1 latency=0.84ms
//	io_pulse: done iterations=20 median=0.91ms max=3.20ms
//
// Other lines are skipped, and a line of those two kinds that does not
// parse is an error, as in parseCPUHog.
func parseIOPulse(log string) (ioPulseRun, error) {
	var run ioPulseRun
	for _, line := range strings.Split(log, "\n") {
		rest, ok := cutAnyPrefix(line, "io_pulse: iter=", "io_pulse: done ")
		if !ok {
			continue
		}
		if err := run.addLine(rest); err != nil {
			return run, fmt.Errorf("parse io_pulse line %q: %w", line, err)
		}
	}
	return run, nil
}

func (run *ioPulseRun) addLine(rest string) error {
	fields := keyValues(strings.TrimPrefix(rest, "done "))
	if !strings.HasPrefix(rest, "done ") {
		latency, err := number(fields, "latency", "ms")
		if err == nil {
			run.Latencies = append(run.Latencies, latency)
		}
		return err
	}
	var err error
	run.Done = true
	run.Median, err = number(fields, "median", "ms")
	if err == nil {
		run.Max, err = number(fields, "max", "ms")
	}
	return err
}

// event is one line of an events file: TIME NAME EVENT key=value…
type event struct {
	Time   time.Time
	Name   string
	Kind   string // created, started, soft-limit, hard-limit, exited, …
	Fields map[string]string
}

// eventTimeLayout is RFC 3339 in UTC with microseconds.
const eventTimeLayout = "2006-01-02T15:04:05.000000Z07:00"

// parseEvents reads the lines of an events file. A line that does not
// parse is an error, because the format is part of the tree's contract.
func parseEvents(text string) ([]event, error) {
	var events []event
	for _, line := range strings.Split(text, "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		e, err := parseEvent(line)
		if err != nil {
			return events, err
		}
		events = append(events, e)
	}
	return events, nil
}

func parseEvent(line string) (event, error) {
	words := strings.Fields(line)
	if len(words) < 3 {
		return event{}, fmt.Errorf("parse event %q: expected TIME NAME EVENT", line)
	}
	when, err := time.Parse(eventTimeLayout, words[0])
	if err != nil {
		return event{}, fmt.Errorf("parse time of event %q: %w", line, err)
	}
	fields := keyValues(strings.Join(words[3:], " "))
	return event{Time: when, Name: words[1], Kind: words[2], Fields: fields}, nil
}

// firstEvent returns the first event of the given kind.
func firstEvent(events []event, kind string) (event, bool) {
	for _, e := range events {
		if e.Kind == kind {
			return e, true
		}
	}
	return event{}, false
}

// cutAnyPrefix returns line without its "program: " part when it starts
// with one of prefixes, whose part after ": " is kept.
func cutAnyPrefix(line string, prefixes ...string) (string, bool) {
	for _, prefix := range prefixes {
		if strings.HasPrefix(line, prefix) {
			_, rest, _ := strings.Cut(line, ": ")
			return rest, true
		}
	}
	return "", false
}

// keyValues splits "k=v k2=v2" into a map. Words without '=' are skipped.
func keyValues(text string) map[string]string {
	fields := make(map[string]string)
	for _, word := range strings.Fields(text) {
		if key, value, ok := strings.Cut(word, "="); ok {
			fields[key] = value
		}
	}
	return fields
}

// number returns fields[key] as a number after removing unit from its end.
func number(fields map[string]string, key, unit string) (float64, error) {
	text, ok := fields[key]
	if !ok {
		return 0, fmt.Errorf("missing %s=", key)
	}
	value, err := strconv.ParseFloat(strings.TrimSuffix(text, unit), 64)
	if err != nil {
		return 0, fmt.Errorf("invalid %s=%s: expected a number in %q", key, text, unit)
	}
	return value, nil
}

// integer returns fields[key] as a signed integer, such as rss= or limit=.
func integer(fields map[string]string, key string) (int64, error) {
	text, ok := fields[key]
	if !ok {
		return 0, fmt.Errorf("missing %s=", key)
	}
	value, err := strconv.ParseInt(text, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("invalid %s=%s: expected an integer", key, text)
	}
	return value, nil
}
