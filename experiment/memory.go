package experiment

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// expectedMemoryState is the state of a container killed at its hard limit.
const expectedMemoryState = "exited 137 signal=KILL reason=hard-limit"

// rssReading is one read of a container's rss file.
type rssReading struct {
	At  time.Time
	RSS int64 // bytes
}

// limitEvent is a soft-limit or hard-limit event.
type limitEvent struct {
	T          float64 // seconds since the container started
	RSS, Limit int64   // bytes
}

// overshoot returns how far the RSS in the event was above the limit.
func (e limitEvent) overshoot() int64 { return e.RSS - e.Limit }

// memorySummary is what the memory experiment measured.
type memorySummary struct {
	Samples    series      // RSS in bytes over seconds since the start
	Peak, Last int64       // largest and last sampled RSS
	Soft, Hard *limitEvent // the first event of each kind, nil when missing
}

func runMemory(s *session) (*Result, error) {
	name := s.containerName("hog")
	limits := fmt.Sprintf("soft=%d hard=%d", s.opts.Soft, s.opts.Hard)
	if err := firstError(
		func() error { return s.create(name) },
		func() error { return s.tree.write(name, "limits", limits) },
		func() error { return s.start(name, s.memoryCommand()) },
	); err != nil {
		return nil, err
	}
	s.logf("started %s: %s with %s", name, s.memoryCommand(), limits)
	readings, state, err := s.sampleRSS(name)
	if err != nil {
		return nil, err
	}
	summary, err := s.collectMemory(name, readings)
	if err != nil {
		return nil, err
	}
	return s.reportMemory(summary, state)
}

// memoryCommand runs memory_hog up to twice the hard limit and then makes
// it exit, so that a run whose kill never comes still ends.
func (s *session) memoryCommand() string {
	return fmt.Sprintf("memory_hog --chunk %d --interval %s --max %d --exit",
		s.opts.Chunk, s.opts.Interval, 2*s.opts.Hard)
}

// memoryTimeout allows three times the time memory_hog needs to reach
// twice the hard limit at one chunk per interval.
func (s *session) memoryTimeout() time.Duration {
	steps := time.Duration(2 * s.opts.Hard / s.opts.Chunk)
	return 3*steps*s.opts.Interval + 30*time.Second
}

// sampleRSS reads rss every Options.Sample until the container exits, and
// returns the readings and the final state.
func (s *session) sampleRSS(name string) ([]rssReading, string, error) {
	ticker := time.NewTicker(s.opts.Sample)
	defer ticker.Stop()
	deadline := time.Now().Add(s.memoryTimeout())
	var readings []rssReading
	var printed time.Time
	for {
		if reading, ok := s.readRSS(name); ok {
			readings = append(readings, reading)
		}
		if len(readings) > 0 && time.Since(printed) >= rssPrintPeriod {
			s.printRSS(readings)
			printed = time.Now()
		}
		state, err := s.tree.read(name, "state")
		if err != nil || exited(state) {
			return readings, state, err
		}
		if time.Now().After(deadline) {
			return readings, state, fmt.Errorf("wait for %s: still %s after %s",
				name, state, s.memoryTimeout())
		}
		select {
		case <-ticker.C:
		case <-s.ctx.Done():
			return readings, state, fmt.Errorf("sample rss of %s: %w", name, context.Cause(s.ctx))
		}
	}
}

// readRSS reads the rss file. It reports false when the file is empty,
// cannot be read or reads 0, as when the container is not running: its
// init alone keeps a running container's RSS above 0.
func (s *session) readRSS(name string) (rssReading, bool) {
	text, err := s.tree.read(name, "rss")
	at := time.Now()
	if err != nil {
		return rssReading{}, false
	}
	rss, err := strconv.ParseInt(strings.TrimSpace(text), 10, 64)
	return rssReading{At: at, RSS: rss}, err == nil && rss > 0
}

// rssPrintPeriod is how often the sampled RSS is printed as progress.
const rssPrintPeriod = 500 * time.Millisecond

// printRSS prints the newest reading.
func (s *session) printRSS(readings []rssReading) {
	last := readings[len(readings)-1]
	elapsed := last.At.Sub(readings[0].At).Round(10 * time.Millisecond)
	s.logf("rss=%s after %s", mebibytes(last.RSS), elapsed)
}

func (s *session) collectMemory(name string, readings []rssReading) (memorySummary, error) {
	if _, err := s.saveLog(name); err != nil {
		return memorySummary{}, err
	}
	events, err := s.containerEvents(name)
	if err != nil {
		return memorySummary{}, err
	}
	return summarizeMemory(readings, events, s.began)
}

// summarizeMemory puts the readings on a time axis that starts at the
// container's started event, or at fallback without one, and picks the
// first soft-limit and hard-limit events.
func summarizeMemory(readings []rssReading, events []event, fallback time.Time) (memorySummary, error) {
	var sum memorySummary
	origin := startedAt(events, fallback)
	for _, r := range readings {
		sum.Samples = append(sum.Samples, point{T: r.At.Sub(origin).Seconds(), V: float64(r.RSS)})
		sum.Peak = max(sum.Peak, r.RSS)
		sum.Last = r.RSS
	}
	var err error
	if sum.Soft, err = findLimitEvent(events, "soft-limit", origin); err != nil {
		return sum, err
	}
	sum.Hard, err = findLimitEvent(events, "hard-limit", origin)
	return sum, err
}

// findLimitEvent returns the first event of kind with its rss= and
// limit= fields, or nil when there is none.
func findLimitEvent(events []event, kind string, origin time.Time) (*limitEvent, error) {
	e, ok := firstEvent(events, kind)
	if !ok {
		return nil, nil
	}
	rss, err := integer(e.Fields, "rss")
	if err != nil {
		return nil, fmt.Errorf("read %s event: %w", kind, err)
	}
	limit, err := integer(e.Fields, "limit")
	if err != nil {
		return nil, fmt.Errorf("read %s event: %w", kind, err)
	}
	return &limitEvent{T: e.Time.Sub(origin).Seconds(), RSS: rss, Limit: limit}, nil
}
