// Command ctlfsbench measures ctlfs beside reference tools on the same
// machine in one run, and prints the results as Markdown tables with the
// machine they were measured on and a table of goals.
//
// It starts its own supervisor (`ctlfs serve`) on a mount point in a
// temporary directory and measures:
//
//   - start-to-exit latency of /bin/true: through the control tree, and
//     with fork+exec, unshare, bubblewrap, crun and runc, also under
//     hyperfine when it is installed;
//   - the control round trip: open, read and close of a state file;
//   - 1,000 containers started concurrently, then ls and cat status with
//     all of them running, and the supervisor's memory;
//   - log throughput: a container writing to its log, against dd to a
//     file and one pipe hop;
//   - hard-limit overshoot through the tree, with the supervisor's monitor;
//   - the monitor package's Go benchmarks, read from their output file,
//     which make bench writes before it starts this command.
//
// Reference tools that are not installed, or that fail on this host, are
// reported as such and skipped. Everything the command creates (mount,
// supervisor, OCI bundles, state and log files) is removed at the end, and
// it signals only processes it started, by PID.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
)

type options struct {
	ctlfs          string // ctlfs binary
	rootfs         string // busybox root filesystem directory
	tmpDir         string // parent of the temporary directory
	monitorResults string // file with the monitor benchmarks' output, or empty
	monitorCommand string // command that wrote monitorResults, for the report
	markdown       string // file to write the report to besides stdout, or empty
	revision       string // ctlfs revision shown in the report
	command        string // command shown in the report
	iterations     int    // latency runs per tool
	warmup         int    // latency runs per tool before measuring
	logBytes       int64  // bytes written per throughput run
	logRuns        int    // throughput runs per writer
	limitRuns      int    // hard-limit runs through the tree
	hyperfineRuns  int    // runs of each whole command under hyperfine
	roundTrips     int    // round trips per file
	containers     int    // containers of the concurrent figure
	workers        int    // goroutines that start them
	figures        map[string]bool
}

// figureNames are the parts of the run that --figures selects, in the
// order they run.
var figureNames = []string{"latency", "roundtrip", "concurrent", "throughput", "limit", "monitor"}

func main() {
	opts, err := parseFlags(os.Args[1:])
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "ctlfsbench:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, opts); err != nil {
		fmt.Fprintln(os.Stderr, "ctlfsbench:", err)
		os.Exit(1)
	}
}

func parseFlags(args []string) (options, error) {
	var opts options
	flags := flag.NewFlagSet("ctlfsbench", flag.ContinueOnError)
	flags.StringVar(&opts.ctlfs, "ctlfs", "bin/ctlfs", "ctlfs binary to benchmark")
	flags.StringVar(&opts.rootfs, "rootfs", "build/rootfs", "busybox root filesystem `DIR` for every tool")
	flags.StringVar(&opts.tmpDir, "tmp", os.TempDir(), "`DIR` in which to make the temporary mount, state and log files")
	flags.StringVar(&opts.monitorResults, "monitor-results", "", "`FILE` with the output of the monitor package's benchmarks (go test -bench)")
	flags.StringVar(&opts.monitorCommand, "monitor-command", "", "command line that wrote the --monitor-results file, to name in the report")
	flags.StringVar(&opts.markdown, "markdown", "", "`FILE` to write the Markdown report to, besides stdout")
	flags.StringVar(&opts.revision, "revision", "", "ctlfs revision to name in the report, such as the output of git describe")
	flags.StringVar(&opts.command, "command", "", "command line to name in the report (default: this command's)")
	flags.IntVar(&opts.iterations, "iterations", 500, "measured start-to-exit runs per tool")
	flags.IntVar(&opts.warmup, "warmup", 10, "unmeasured start-to-exit runs per tool before the measured ones")
	flags.Int64Var(&opts.logBytes, "log-bytes", 1<<30, "bytes written per log throughput run, a multiple of 1 MiB")
	flags.IntVar(&opts.logRuns, "log-runs", 5, "log throughput runs per writer")
	flags.IntVar(&opts.limitRuns, "limit-runs", 5, "hard-limit runs through the control tree")
	flags.IntVar(&opts.hyperfineRuns, "hyperfine-runs", 100,
		"measured runs of each whole command under hyperfine, 0 for none")
	flags.IntVar(&opts.roundTrips, "round-trips", 20000, "timed open, read, close round trips per file")
	flags.IntVar(&opts.containers, "containers", 1000, "containers of the concurrent figure")
	flags.IntVar(&opts.workers, "workers", 20, "goroutines that start and remove them, each one container at a time")
	figures := flags.String("figures", strings.Join(figureNames, ","),
		"comma-separated `LIST` of the figures to measure, from "+strings.Join(figureNames, ", "))
	if err := flags.Parse(args); err != nil {
		return opts, err
	}
	opts.figures = map[string]bool{}
	for _, name := range strings.Split(*figures, ",") {
		if !slices.Contains(figureNames, name) {
			return opts, fmt.Errorf("invalid --figures %q: unknown figure %q", *figures, name)
		}
		opts.figures[name] = true
	}
	if flags.NArg() > 0 {
		return opts, fmt.Errorf("unexpected argument %q", flags.Arg(0))
	}
	if opts.command == "" {
		opts.command = "ctlfsbench " + strings.Join(args, " ")
	}
	return opts, validate(&opts)
}

func validate(opts *options) error {
	switch {
	case opts.iterations < 1:
		return fmt.Errorf("invalid --iterations %d: expected 1 or more", opts.iterations)
	case opts.warmup < 0:
		return fmt.Errorf("invalid --warmup %d: expected 0 or more", opts.warmup)
	case opts.logBytes < 1<<20 || opts.logBytes%(1<<20) != 0:
		return fmt.Errorf("invalid --log-bytes %d: expected a multiple of 1 MiB", opts.logBytes)
	case opts.logRuns < 1:
		return fmt.Errorf("invalid --log-runs %d: expected 1 or more", opts.logRuns)
	case opts.limitRuns < 0:
		return fmt.Errorf("invalid --limit-runs %d: expected 0 or more", opts.limitRuns)
	case opts.hyperfineRuns < 0 || opts.hyperfineRuns == 1:
		// hyperfine needs two runs or more.
		return fmt.Errorf("invalid --hyperfine-runs %d: expected 0, or 2 or more", opts.hyperfineRuns)
	case opts.roundTrips < 1:
		return fmt.Errorf("invalid --round-trips %d: expected 1 or more", opts.roundTrips)
	case opts.containers < 0 || opts.containers > 10000:
		return fmt.Errorf("invalid --containers %d: expected 0 to 10000", opts.containers)
	case opts.workers < 1:
		return fmt.Errorf("invalid --workers %d: expected 1 or more", opts.workers)
	}
	var err error
	if opts.ctlfs, err = filepath.Abs(opts.ctlfs); err != nil {
		return err
	}
	if opts.rootfs, err = filepath.Abs(opts.rootfs); err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(opts.rootfs, "bin", "true")); err != nil {
		return fmt.Errorf("invalid --rootfs: %w (run make rootfs)", err)
	}
	if _, err := os.Stat(opts.ctlfs); err != nil {
		return fmt.Errorf("invalid --ctlfs: %w (run make ctlfs)", err)
	}
	return nil
}

// run measures everything and prints the report. Parts that fail are
// reported in it, and make run return an error once the report is out.
func run(ctx context.Context, opts options) (err error) {
	dir, err := os.MkdirTemp(opts.tmpDir, "ctlfsbench-")
	if err != nil {
		return err
	}
	sup, err := startSupervisor(opts.ctlfs, opts.rootfs, filepath.Join(dir, "ctlfs"))
	if err != nil {
		return errors.Join(err, removeTemp(dir))
	}
	defer func() {
		err = errors.Join(err, sup.stop(), removeTemp(dir))
	}()

	progress("supervisor PID %d, mounted on %s", sup.pid(), sup.mount)
	rep := newReport(opts, describeMachine(opts.tmpDir))
	goals := measureAll(ctx, opts, sup, dir, rep)
	rep.sections = slices.Insert(rep.sections, 0, goals)
	rep.machine.add("load average at end", loadAverage())
	return rep.write(opts.markdown)
}

// measureAll adds a section to rep for each figure of opts.figures and
// returns the section of goals.
func measureAll(ctx context.Context, opts options, sup *supervisor, dir string, rep *report) section {
	var goals []goal
	if opts.figures["latency"] {
		sec, lat := measureLatency(ctx, opts, sup, dir)
		rep.addSection(sec)
		goals = append(goals,
			checkGoal("start to exit: ctlfs mkdir → rmdir / crun, medians", ratioOf(lat.ctlfs, lat.crun),
				ratioUnit, "≤ 0.50x", atMost(0.5)),
			checkGoal("start to exit: ctlfs mkdir → rmdir / unshare floor, medians", ratioOf(lat.ctlfs, lat.floor),
				ratioUnit, "≤ 2.00x", atMost(2)))
	}
	if opts.figures["roundtrip"] {
		sec, p50 := measureRoundTrip(ctx, opts, sup, dir)
		rep.addSection(sec)
		goals = append(goals, checkGoal("control round trip of state, p50", p50, unit(1, "µs"), "< 40 µs", below(40)))
	}
	if opts.figures["concurrent"] {
		sec, many := measureConcurrent(ctx, opts, sup, dir)
		rep.addSection(sec)
		goals = append(goals,
			checkGoal(fmt.Sprintf("%d containers started concurrently", opts.containers), many.rate,
				unit(0, "per s"), "≥ 300 per s", atLeast(300)),
			checkGoal("ls of the root with all running, median", many.ls, unit(1, "ms"), "< 20 ms", below(20)),
			checkGoal("supervisor VmRSS with all running", many.rssMiB, unit(1, "MiB"), "< 100 MiB", below(100)))
	}
	if opts.figures["throughput"] {
		sec, ctlfs, pipe := measureThroughput(ctx, opts, sup, dir)
		rep.addSection(sec)
		goals = append(goals, checkGoal("log throughput: ctlfs / "+pipeWriterName+", medians",
			ratioOf(ctlfs, pipe), ratioUnit, "≥ 1.00x, every byte in the log", atLeast(1)))
	}
	if opts.figures["limit"] {
		sec, overshoot := measureLimit(ctx, opts, sup)
		rep.addSection(sec)
		goals = append(goals, checkGoal("hard-limit overshoot through the tree, max", overshoot,
			unit(0, "KiB"), "≤ 4 KiB, one page", atMost(4)))
	}
	if opts.figures["monitor"] {
		sec, mon := readMonitorResults(opts.monitorResults, opts.monitorCommand)
		rep.addSection(sec)
		goals = append(goals,
			checkGoal("monitor benchmark: eBPF overshoot, max", mon.overshootMax, unit(0, "KiB"),
				"≤ 4 KiB, one page", atMost(4)),
			checkGoal("monitor benchmark: page-fault cost far from limits (approx)", mon.approxRatio,
				ofPlain, "≤ 1.10x of plain", atMost(1.10)),
			checkGoal("monitor benchmark: page-fault cost near a limit (exact)", mon.exactRatio,
				ofPlain, "≤ 1.10x of plain", atMost(1.10)),
			checkGoal("monitor benchmark: the same with an idle init beside (exact-init)", mon.exactInitRatio,
				ofPlain, "≤ 1.10x of plain", atMost(1.10)),
			// The floor under both: what the kernel's call of any
			// program on the tracepoint costs.
			checkGoal("monitor benchmark: page-fault cost of an empty program on the hook", mon.emptyRatio,
				ofPlain, "none, the floor of the two above", nil))
	}
	return goalsSection(goals)
}

// ofPlain formats a ratio to the page-fault time without a program.
func ofPlain(v float64) string { return formatFloat(v, 3) + "x of plain" }

// removeTemp removes the temporary directory unless the supervisor's
// mount inside it is still there, because removing files through a
// mounted tree would reach into it.
func removeTemp(dir string) error {
	mount := filepath.Join(dir, "ctlfs", "mnt")
	if fuseMounted(mount) {
		return fmt.Errorf("left %s in place: %s is still mounted", dir, mount)
	}
	return os.RemoveAll(dir)
}
