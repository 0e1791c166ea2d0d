package main

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// hogCommand maps and touches 1 MiB per step without sleeping. --max
// bounds it at 512 MiB should the limit not be enforced.
const hogCommand = "memory_hog --chunk 1M --interval 0 --max 512M"

// measureLimit returns the section and the largest overshoot in KiB.
func measureLimit(ctx context.Context, opts options, sup *supervisor) (section, float64) {
	sec := section{title: "Hard-limit overshoot through the tree"}
	if opts.limitRuns == 0 {
		sec.note("not measured: --limit-runs 0")
		return sec, math.NaN()
	}
	monitor, err := sup.read("", "monitor")
	if err != nil {
		sec.fail(err)
		return sec, math.NaN()
	}
	progress("limit: %d runs of %s with hard=64M", opts.limitRuns, hogCommand)
	var overshoots []float64
	for i := range opts.limitRuns {
		if err := ctx.Err(); err != nil {
			sec.fail(err)
			break
		}
		over, err := runHog(sup, fmt.Sprintf("limit-%d", i+1))
		if err != nil {
			sec.fail(fmt.Errorf("run %d: %w", i+1, err))
			break
		}
		overshoots = append(overshoots, float64(over)/1024)
	}

	sec.text = []string{fmt.Sprintf("A container with `limits` hard=64M runs `%s`. "+
		"The overshoot is rss minus limit in its hard-limit event, in KiB; "+
		"the process may allocate more before the kill lands.", hogCommand)}
	// The monitor file starts with the monitor's name, then details.
	name, _, _ := strings.Cut(strings.TrimSpace(monitor), " ")
	sec.note("monitor file of the tree: %s", strings.Join(strings.Fields(monitor), " "))
	sec.table = newTable("supervisor's monitor", "runs", "median KiB", "max KiB")
	if len(overshoots) > 0 {
		sec.table.add(strings.TrimSuffix(name, ":"), strconv.Itoa(len(overshoots)),
			formatFloat(median(overshoots), 0), formatFloat(percentile(overshoots, 100), 0))
	}
	return sec, percentile(overshoots, 100)
}

// runHog runs the hog in container name with the hard limit and returns
// the overshoot its hard-limit event reports.
func runHog(sup *supervisor, name string) (int64, error) {
	if err := sup.create(name); err != nil {
		return 0, err
	}
	defer sup.remove(name)
	if err := sup.write(name, "limits", "hard=64M"); err != nil {
		return 0, err
	}
	if err := sup.write(name, "cmd", hogCommand); err != nil {
		return 0, err
	}
	state, err := waitTimeout(sup, name, 30*time.Second)
	if err != nil {
		return 0, err
	}
	if !strings.Contains(state, "reason=hard-limit") {
		return 0, fmt.Errorf("state %q, expected reason=hard-limit", state)
	}
	events, err := sup.read(name, "events")
	if err != nil {
		return 0, err
	}
	return hardLimitOvershoot(events)
}

// waitTimeout reads wait of container name, and kills the container when
// it is still running after timeout.
func waitTimeout(sup *supervisor, name string, timeout time.Duration) (string, error) {
	type result struct {
		state string
		err   error
	}
	done := make(chan result, 1)
	go func() {
		state, err := sup.read(name, "wait")
		done <- result{state, err}
	}()
	select {
	case r := <-done:
		return r.state, r.err
	case <-time.After(timeout):
		sup.kill(name)
		<-done
		return "", fmt.Errorf("container %s still running after %v, so the harness killed it", name, timeout)
	}
}

// hardLimitOvershoot returns rss minus limit of the hard-limit line in
// the events of a container, such as
// "TIME NAME hard-limit rss=85200896 limit=67108864".
func hardLimitOvershoot(events string) (int64, error) {
	for line := range strings.Lines(events) {
		fields := strings.Fields(line)
		if len(fields) < 3 || fields[2] != "hard-limit" {
			continue
		}
		values := map[string]int64{}
		for _, f := range fields[3:] {
			key, value, _ := strings.Cut(f, "=")
			n, err := strconv.ParseInt(value, 10, 64)
			if err != nil {
				return 0, fmt.Errorf("parse event %q: %w", strings.TrimSpace(line), err)
			}
			values[key] = n
		}
		rss, okRSS := values["rss"]
		limit, okLimit := values["limit"]
		if !okRSS || !okLimit {
			return 0, fmt.Errorf("event %q has no rss or limit", strings.TrimSpace(line))
		}
		return rss - limit, nil
	}
	return 0, fmt.Errorf("no hard-limit event in %q", events)
}
