package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// starter is one tool that runs /bin/true. A call of run runs it once and
// returns one duration per row of the tool in the latency table.
type starter struct {
	rows    []string
	command string // command line of the tool, for the notes
	detail  string // further settings of the run for the notes, or empty
	run     func() ([]time.Duration, error)
	// inspect runs inspectArgv with the tool and returns its output; nil
	// for a row that repeats another tool's isolation.
	inspect func() (string, error)
	// whole is the tool's command line for hyperfine, nil when the tool
	// is not one command. start runs hyperfine where the tool must run,
	// nil for anywhere.
	whole []string
	start func(*exec.Cmd) error
	done  func() error // cleanup after the last run, or nil
	ctlfs bool         // ctlfs itself, whose failure fails the run; others are dropped
	floor bool         // the kernel's floor for the same namespaces
	iso   *isolation   // the result of inspect, nil when not inspected
}

// latencyResult holds the medians of the start-to-exit figure that the
// goals compare.
type latencyResult struct {
	ctlfs, crun, floor float64 // medians in ms, NaN when not measured
}

func measureLatency(ctx context.Context, opts options, sup *supervisor, dir string) (section, latencyResult) {
	sec := section{title: "Start-to-exit latency of /bin/true"}
	result := latencyResult{math.NaN(), math.NaN(), math.NaN()}
	runner, err := newCommandRunner(dir)
	if err != nil {
		sec.fail(err)
		return sec, result
	}
	defer runner.close()

	starters := setUpStarters(&sec, runner, opts, sup, dir)
	progress("latency: %d+%d runs of %d tools, taking turns", opts.warmup, opts.iterations, len(starters))
	cpuBefore, cpuErr := readCPUTimes(sup.pid())
	samples := runStarters(ctx, &sec, starters, opts)
	cpuAfter, err := readCPUTimes(sup.pid())
	if cpuErr == nil && err == nil {
		// Both ctlfs rows run one container per turn, warm-up included.
		cycles := len(samples[starters[0].rows[0]]) + len(samples[ctlfsShellRow]) + 2*opts.warmup
		sec.note("%s", cpuPerCycle(cpuBefore, cpuAfter, cycles))
	}
	hyperfineSamples := runHyperfine(ctx, &sec, starters, opts, dir)
	for _, st := range starters {
		if st.done != nil {
			if err := st.done(); err != nil {
				sec.fail(fmt.Errorf("clean up after %s: %w", st.rows[0], err))
			}
		}
	}

	sec.text = []string{fmt.Sprintf("Median and 90th percentile (nearest rank) of %d runs per tool, "+
		"after %d unmeasured runs; the tools take turns run by run. "+
		"The ratio divides each median by the median of ctlfs from mkdir to rmdir, "+
		"which does what `crun run` does: create, start, wait for the exit, delete. "+
		"The hyperfine column is the median of a separate run of each whole command under hyperfine. "+
		"The namespaces and the root were read inside, once per tool, by a shell that each tool started "+
		"in place of /bin/true.", opts.iterations, opts.warmup)}
	sec.table = latencyTable(samples, hyperfineSamples, starters)
	result.ctlfs = median(samples[starters[0].rows[1]])
	for _, st := range starters {
		switch {
		case st.rows[0] == "crun":
			result.crun = median(samples["crun"])
		case st.floor:
			result.floor = median(samples[st.rows[0]])
		}
	}
	return sec, result
}

// setUpStarters returns ctlfs and every reference tool that works on this
// host, with its isolation inspected. The others are named in notes.
func setUpStarters(sec *section, runner *commandRunner, opts options, sup *supervisor, dir string) []starter {
	stamp, err := readStamp(opts.rootfs)
	if err != nil {
		sec.fail(fmt.Errorf("read the rootfs stamp: %w", err))
	}
	ctlfs := ctlfsStarter(sup)
	inspectStarter(sec, &ctlfs, stamp)
	starters := []starter{ctlfs}
	sec.note("ctlfs: `%s`, as system calls of the harness with no process per step", ctlfs.command)
	for _, newStarter := range []func(*commandRunner, options, string) (starter, string, error){
		ctlfsShellStarter(sup), forkExecStarter, unshareProcStarter, unshareNetStarter,
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
		inspectStarter(sec, &st, stamp)
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
	return starters
}

// inspectStarter runs the isolation inspection of st once. A failure is
// a note, and the row's isolation cells stay empty.
func inspectStarter(sec *section, st *starter, stamp string) {
	if st.inspect == nil {
		return
	}
	out, err := st.inspect()
	if err == nil {
		var iso isolation
		if iso, err = parseInspection(out, stamp); err == nil {
			st.iso = &iso
			return
		}
	}
	sec.note("%s: isolation not inspected: %v", st.rows[0], err)
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
	return samples
}

// runHyperfine measures every whole command under hyperfine and returns
// the times by row. Without hyperfine, the column stays empty.
func runHyperfine(ctx context.Context, sec *section, starters []starter, opts options, dir string) map[string][]float64 {
	samples := map[string][]float64{}
	if opts.hyperfineRuns == 0 {
		sec.note("hyperfine: not run (--hyperfine-runs 0)")
		return samples
	}
	h, err := findHyperfine(opts.hyperfineRuns, opts.warmup, dir)
	if err != nil {
		sec.note("hyperfine column empty: %v", err)
		progress("latency: hyperfine column empty: %v", err)
		return samples
	}
	progress("latency: %d+%d runs of each whole command under hyperfine", opts.warmup, opts.hyperfineRuns)
	for _, st := range starters {
		if st.whole == nil || ctx.Err() != nil {
			continue
		}
		start := st.start
		if start == nil {
			start = (*exec.Cmd).Run
		}
		times, err := h.measure(st.rows[0], st.whole, start)
		if err != nil {
			sec.note("%v", err)
			progress("latency: %v", err)
			continue
		}
		samples[st.rows[0]] = times
	}
	sec.note("hyperfine: `%s -N --warmup %d --runs %d COMMAND` (%s), one command after another",
		h.path, opts.warmup, opts.hyperfineRuns, h.version)
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

func latencyTable(samples, hyperfineSamples map[string][]float64, starters []starter) *table {
	t := newTable("tool", "median ms", "p90 ms", "median / ctlfs", "hyperfine median ms",
		"new namespaces", "root")
	reference := median(samples[starters[0].rows[1]])
	for _, st := range starters {
		for i, row := range st.rows {
			values := samples[row]
			if len(values) == 0 {
				continue
			}
			m := median(values)
			name, namespaces, root := row, "", ""
			if st.floor {
				name += " (floor)"
			}
			if st.iso != nil && i == 0 {
				namespaces, root = st.iso.namespacesCell(), st.iso.rootCell()
			}
			t.add(name, formatFloat(m, 2), formatFloat(percentile(values, 90), 2),
				formatRatio(m, reference), formatFloat(median(hyperfineSamples[row]), 2),
				namespaces, root)
		}
	}
	return t
}

// ctlfsStarter runs /bin/true through the tree. Its rows are the time
// from writing cmd until wait returns, the whole cycle from mkdir to
// rmdir, and each step of the cycle.
func ctlfsStarter(sup *supervisor) starter {
	seq := 0
	return starter{
		rows: []string{"ctlfs: write cmd → wait returns", "ctlfs: mkdir → rmdir",
			"ctlfs step: mkdir", "ctlfs step: write cmd", "ctlfs step: read wait", "ctlfs step: rmdir"},
		command: "mkdir N; echo /bin/true > N/cmd; cat N/wait; rmdir N",
		run: func() ([]time.Duration, error) {
			seq++
			t, err := sup.cycle(fmt.Sprintf("true-%d", seq), "/bin/true")
			return []time.Duration{t.write + t.wait, t.mkdir + t.write + t.wait + t.rmdir,
				t.mkdir, t.write, t.wait, t.rmdir}, err
		},
		inspect: func() (string, error) {
			return sup.output("inspect", shellQuote(inspectArgv))
		},
		ctlfs: true,
	}
}

const ctlfsShellRow = "ctlfs from sh"

// ctlfsShellStarter runs the steps of ctlfsStarter from the host's sh,
// as a user would: mkdir and rmdir are processes of their own, and read,
// a builtin of sh, blocks on wait.
func ctlfsShellStarter(sup *supervisor) func(*commandRunner, options, string) (starter, string, error) {
	return func(runner *commandRunner, _ options, _ string) (starter, string, error) {
		if _, err := lookTool("sh", "dash"); err != nil {
			return starter{}, "", err
		}
		script := fmt.Sprintf(`d=%s/sh-$$; mkdir "$d" && echo /bin/true > "$d/cmd" && `+
			`read s < "$d/wait" && rmdir "$d" && [ "$s" = "exited 0" ]`, sup.mount)
		argv := []string{"sh", "-c", script}
		st := commandStarter(runner, ctlfsShellRow, argv, nil)
		st.command = strings.ReplaceAll(st.command, sup.mount, "MOUNT")
		st.inspect = nil // the same containers as the row above
		return st, "", nil
	}
}

// commandStarter runs argv and measures it from fork to wait. The
// inspection runs inspect, the same tool with inspectArgv as its command.
func commandStarter(runner *commandRunner, row string, argv, inspect []string) starter {
	return starter{
		rows:    []string{row},
		command: shellQuote(argv),
		run: func() ([]time.Duration, error) {
			d, err := runner.time(argv, nil)
			return []time.Duration{d}, err
		},
		inspect: func() (string, error) { return runner.output(inspect) },
		whole:   argv,
	}
}

// toolStarter is commandStarter for a tool whose command line ends with
// the command to run in the container, /bin/true.
func toolStarter(runner *commandRunner, row string, argv []string) starter {
	inspect := append(slices.Clone(argv[:len(argv)-1]), inspectArgv...)
	return commandStarter(runner, row, argv, inspect)
}

func forkExecStarter(runner *commandRunner, opts options, _ string) (starter, string, error) {
	bin := filepath.Join(opts.rootfs, "bin")
	inspect := append([]string{filepath.Join(bin, "sh")}, inspectArgv[1:]...)
	return commandStarter(runner, "fork+exec", []string{filepath.Join(bin, "true")}, inspect), "", nil
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

func unshareProcStarter(runner *commandRunner, opts options, _ string) (starter, string, error) {
	argv, version, err := unshareArgs(opts, "--mount-proc")
	if err != nil {
		return starter{}, "", err
	}
	return toolStarter(runner, "unshare --mount-proc", argv), version, nil
}

// unshareNetStarter adds a network namespace, so that the command gets
// the namespaces of a ctlfs container (net=none): the kernel's floor for
// the same isolation. unshare leaves the loopback interface down.
func unshareNetStarter(runner *commandRunner, opts options, _ string) (starter, string, error) {
	argv, version, err := unshareArgs(opts, "--mount-proc", "--net")
	if err != nil {
		return starter{}, "", err
	}
	st := toolStarter(runner, "unshare --mount-proc --net", argv)
	st.floor = true
	return st, version, nil
}

func bwrapStarter(runner *commandRunner, opts options, _ string) (starter, string, error) {
	path, err := lookTool("bwrap", "bubblewrap")
	if err != nil {
		return starter{}, "", err
	}
	argv := []string{path, "--bind", opts.rootfs, "/", "--unshare-pid", "--unshare-uts", "--unshare-ipc",
		"--unshare-net", "--proc", "/proc", "--dev", "/dev", "/bin/true"}
	return toolStarter(runner, "bwrap", argv), toolVersion(path, "--version"), nil
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
