package main

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"time"
)

// starter is one tool that runs /bin/true. A call of run runs it once and
// returns one duration per row of the tool in the latency table.
type starter struct {
	rows    []string
	command string // command line of the tool, for the notes
	detail  string // further settings of the run for the notes, or empty
	run     func() ([]time.Duration, error)
	done    func() error // cleanup after the last run, or nil
	ctlfs   bool         // ctlfs itself, whose failure fails the run; others are dropped
}

func measureLatency(ctx context.Context, opts options, sup *supervisor, dir string) section {
	sec := section{title: "Start-to-exit latency of /bin/true"}
	runner, err := newCommandRunner(dir)
	if err != nil {
		sec.fail(err)
		return sec
	}
	defer runner.close()

	starters := []starter{ctlfsStarter(sup)}
	sec.note("ctlfs: `%s`, as system calls of the harness with no process per step", starters[0].command)
	for _, newStarter := range []func(*commandRunner, options, string) (starter, string, error){
		forkExecStarter, unshareStarter, unshareProcStarter, unshareNetStarter,
		bwrapStarter, ociStarter("crun"), ociStarter("runc"),
	} {
		st, version, err := newStarter(runner, opts, dir)
		if err == nil {
			st, err = probe(st)
		}
		if err != nil {
			sec.note("not measured: %v", err)
			progress("latency: not measured: %v", err)
			continue
		}
		line := fmt.Sprintf("%s: `%s`", st.rows[0], st.command)
		if version != "" {
			line += " (" + version + ")"
		}
		if st.detail != "" {
			line += "; " + st.detail
		}
		sec.note("%s", line)
		starters = append(starters, st)
	}

	progress("latency: %d+%d runs of %d tools, taking turns", opts.warmup, opts.iterations, len(starters))
	samples := runStarters(ctx, &sec, starters, opts)
	sec.text = []string{fmt.Sprintf("Median and 90th percentile (nearest rank) of %d runs per tool, "+
		"after %d unmeasured runs; the tools take turns run by run. "+
		"The ratio divides each median by the median of ctlfs from writing cmd until wait returns.",
		opts.iterations, opts.warmup)}
	sec.table = latencyTable(samples, starters)
	return sec
}

// runStarters runs every starter warmup+iterations times, in turns, and
// returns the measured times by row. A starter that fails is dropped,
// with a note, or a failure when it is ctlfs.
func runStarters(ctx context.Context, sec *section, starters []starter, opts options) map[string][]float64 {
	samples := map[string][]float64{}
	active := starters
	for i := -opts.warmup; i < opts.iterations && len(active) > 0; i++ {
		if err := ctx.Err(); err != nil {
			sec.fail(err)
			break
		}
		var next []starter
		for _, st := range active {
			times, err := st.run()
			if err != nil {
				dropStarter(sec, st, i+opts.warmup, err)
				continue
			}
			for j, d := range times {
				if i >= 0 {
					samples[st.rows[j]] = append(samples[st.rows[j]], milliseconds(d))
				}
			}
			next = append(next, st)
		}
		active = next
	}
	for _, st := range starters {
		if st.done != nil {
			if err := st.done(); err != nil {
				sec.fail(fmt.Errorf("clean up after %s: %w", st.rows[0], err))
			}
		}
	}
	return samples
}

func dropStarter(sec *section, st starter, run int, err error) {
	err = fmt.Errorf("%s failed at run %d: %w", st.rows[0], run+1, err)
	if st.ctlfs {
		sec.fail(err)
		return
	}
	sec.note("%v; not measured", err)
	progress("%v", err)
}

func latencyTable(samples map[string][]float64, starters []starter) *table {
	t := newTable("tool", "median ms", "p90 ms", "median / ctlfs")
	reference := median(samples[starters[0].rows[0]])
	for _, st := range starters {
		for _, row := range st.rows {
			values := samples[row]
			if len(values) == 0 {
				continue
			}
			m := median(values)
			t.add(row, formatFloat(m, 2), formatFloat(percentile(values, 90), 2), formatRatio(m, reference))
		}
	}
	return t
}

// ctlfsStarter runs /bin/true through the tree. Its rows are the time
// from writing cmd until wait returns, and the whole cycle from mkdir to
// rmdir.
func ctlfsStarter(sup *supervisor) starter {
	seq := 0
	return starter{
		rows:    []string{"ctlfs: write cmd → wait returns", "ctlfs: mkdir → rmdir"},
		command: "mkdir N; echo /bin/true > N/cmd; cat N/wait; rmdir N",
		run: func() ([]time.Duration, error) {
			seq++
			startToExit, whole, err := sup.cycle(fmt.Sprintf("true-%d", seq), "/bin/true")
			return []time.Duration{startToExit, whole}, err
		},
		ctlfs: true,
	}
}

// commandStarter runs argv and measures it from fork to wait.
func commandStarter(runner *commandRunner, row string, argv []string) starter {
	return starter{
		rows:    []string{row},
		command: shellQuote(argv),
		run: func() ([]time.Duration, error) {
			d, err := runner.time(argv, nil)
			return []time.Duration{d}, err
		},
	}
}

func forkExecStarter(runner *commandRunner, opts options, _ string) (starter, string, error) {
	path := filepath.Join(opts.rootfs, "bin", "true")
	return commandStarter(runner, "fork+exec", []string{path}), "", nil
}

// unshareArgs returns the unshare command line with extra options before
// --root.
func unshareArgs(opts options, extra ...string) ([]string, string, error) {
	path, err := lookTool("unshare", "util-linux")
	if err != nil {
		return nil, "", err
	}
	argv := []string{path, "--fork", "--pid", "--mount", "--uts", "--ipc"}
	argv = append(argv, extra...)
	argv = append(argv, "--root", opts.rootfs, "/bin/true")
	return argv, toolVersion(path, "--version"), nil
}

func unshareStarter(runner *commandRunner, opts options, _ string) (starter, string, error) {
	argv, version, err := unshareArgs(opts)
	return commandStarter(runner, "unshare", argv), version, err
}

func unshareProcStarter(runner *commandRunner, opts options, _ string) (starter, string, error) {
	argv, version, err := unshareArgs(opts, "--mount-proc")
	return commandStarter(runner, "unshare --mount-proc", argv), version, err
}

// unshareNetStarter adds a network namespace, which ctlfs containers
// also get by default (net=none).
func unshareNetStarter(runner *commandRunner, opts options, _ string) (starter, string, error) {
	argv, version, err := unshareArgs(opts, "--mount-proc", "--net")
	return commandStarter(runner, "unshare --mount-proc --net", argv), version, err
}

func bwrapStarter(runner *commandRunner, opts options, _ string) (starter, string, error) {
	path, err := lookTool("bwrap", "bubblewrap")
	if err != nil {
		return starter{}, "", err
	}
	argv := []string{path, "--bind", opts.rootfs, "/", "--unshare-pid", "--unshare-uts", "--unshare-ipc",
		"--proc", "/proc", "--dev", "/dev", "/bin/true"}
	return commandStarter(runner, "bwrap", argv), toolVersion(path, "--version"), nil
}

// probe runs st once, so that a tool that cannot work on this host is
// reported before the measurement starts.
func probe(st starter) (starter, error) {
	if _, err := st.run(); err != nil {
		err = fmt.Errorf("%s: %w", st.rows[0], err)
		if st.done != nil {
			err = errors.Join(err, st.done())
		}
		return starter{}, err
	}
	return st, nil
}
