// Command ctlfsbench measures ctlfs beside reference tools on the same
// machine in one run, and prints the results as Markdown tables with the
// machine they were measured on.
//
// It starts its own supervisor (`ctlfs serve`) on a mount point in a
// temporary directory and measures:
//
//   - start-to-exit latency of /bin/true: through the control tree, and
//     with fork+exec, unshare, bubblewrap, crun and runc;
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
}

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
	if err := flags.Parse(args); err != nil {
		return opts, err
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

	rep := newReport(opts, describeMachine(opts.tmpDir))
	rep.addSection(measureLatency(ctx, opts, sup, dir))
	rep.addSection(measureThroughput(ctx, opts, sup, dir))
	rep.addSection(measureLimit(ctx, opts, sup))
	rep.addSection(readMonitorResults(opts.monitorResults, opts.monitorCommand))
	rep.machine.add("load average at end", loadAverage())
	return rep.write(opts.markdown)
}

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
