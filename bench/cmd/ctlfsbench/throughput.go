package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"
)

// logWriter is one way of writing opts.logBytes of zeros to a file. A
// call of run writes them once and returns the time it took.
type logWriter struct {
	name    string
	command string
	run     func(seq int) (time.Duration, error)
	finding func() string // a fact to report after the runs, or nil
	ctlfs   bool          // ctlfs itself, whose failure fails the run; others are dropped
}

// pipeWriterName is the writer through one pipe, the floor of the goal.
const pipeWriterName = "dd bs=1M | cat → file"

// measureThroughput returns the section and the medians in GiB/s of the
// ctlfs container and of the writer through one pipe.
func measureThroughput(ctx context.Context, opts options, sup *supervisor, dir string) (sec section, ctlfs, pipe float64) {
	sec = section{title: fmt.Sprintf("Log throughput, %s of zeros", formatBytes(opts.logBytes))}
	runner, err := newCommandRunner(dir)
	if err != nil {
		sec.fail(err)
		return sec, math.NaN(), math.NaN()
	}
	defer runner.close()

	writers := []logWriter{ctlfsLogWriter(sup, opts.logBytes)}
	for _, newWriter := range []func(*commandRunner, options, string) (logWriter, error){
		ddWriter, ddPipeWriter, ddPipeOneCPUWriter, ddPipeTwoCPUsWriter, headPipeWriter,
	} {
		w, err := newWriter(runner, opts, dir)
		if err != nil {
			sec.note("not measured: %v", err)
			continue
		}
		writers = append(writers, w)
	}
	for _, w := range writers {
		sec.note("%s: `%s`", w.name, w.command)
	}

	progress("throughput: %d runs of %d writers of %s, taking turns", opts.logRuns, len(writers), formatBytes(opts.logBytes))
	rates := runWriters(ctx, &sec, writers, opts)
	for _, w := range writers {
		if w.finding != nil {
			sec.note("%s", w.finding())
		}
	}
	sec.text = []string{fmt.Sprintf("GiB/s over all %s written, median of %d runs per writer; "+
		"the writers take turns run by run, each after sync(2). "+
		"The ratio divides each median by the median of the ctlfs container.",
		formatBytes(opts.logBytes), opts.logRuns)}
	sec.table = throughputTable(rates, writers)
	return sec, median(rates[writers[0].name]), median(rates[pipeWriterName])
}

// runWriters runs every writer opts.logRuns times, in turns, and returns
// the rates in GiB/s by writer. A writer that fails is dropped, with a
// note, or a failure when it is ctlfs.
func runWriters(ctx context.Context, sec *section, writers []logWriter, opts options) map[string][]float64 {
	rates := map[string][]float64{}
	failed := map[string]bool{}
	for i := range opts.logRuns {
		for _, w := range writers {
			if err := ctx.Err(); err != nil {
				sec.fail(err)
				return rates
			}
			if failed[w.name] {
				continue
			}
			// The previous writer's file, removed but perhaps not yet
			// written back, would slow this run down.
			syscall.Sync()
			d, err := w.run(i + 1)
			if err != nil {
				failed[w.name] = true
				err = fmt.Errorf("%s failed at run %d: %w", w.name, i+1, err)
				if w.ctlfs {
					sec.fail(err)
				} else {
					sec.note("%v; not measured", err)
				}
				continue
			}
			rates[w.name] = append(rates[w.name], float64(opts.logBytes)/float64(1<<30)/d.Seconds())
		}
	}
	return rates
}

func throughputTable(rates map[string][]float64, writers []logWriter) *table {
	t := newTable("writer", "median GiB/s", "min GiB/s", "max GiB/s", "median / ctlfs")
	reference := median(rates[writers[0].name])
	for _, w := range writers {
		values := rates[w.name]
		if len(values) == 0 {
			continue
		}
		m := median(values)
		t.add(w.name, formatFloat(m, 2), formatFloat(percentile(values, 0), 2),
			formatFloat(percentile(values, 100), 2), formatRatio(m, reference))
	}
	return t
}

// ctlfsLogWriter runs busybox dd in a container, whose stdout is the
// pipe to the supervisor's log. It is dd with 1 MiB per write(2), because
// busybox head is a bottleneck of its own: `head -c 1G /dev/zero > file`
// took 1.9 s against 0.25 s for `dd bs=1M count=1024` (busybox 1.35, on a
// 2-CPU Xeon VM). A run is timed from writing cmd until wait returns,
// which is after every byte is in the log. It checks that the size of the
// tree's log file and of the log file on disk are the byte count.
func ctlfsLogWriter(sup *supervisor, bytes int64) logWriter {
	cmdline := fmt.Sprintf("dd if=/dev/zero bs=1M count=%d status=none", bytes>>20)
	run := func(seq int) (time.Duration, error) {
		name := fmt.Sprintf("log-%d", seq)
		if err := sup.create(name); err != nil {
			return 0, err
		}
		d, err := timeLogWrite(sup, name, cmdline, bytes)
		if rmErr := sup.remove(name); err == nil {
			err = rmErr
		}
		return d, err
	}
	return logWriter{
		name:    "ctlfs container → log",
		command: "echo '" + cmdline + "' > N/cmd; cat N/wait",
		run:     run,
		finding: func() string {
			return "ctlfs serve ran with --log-max max, so that the whole log stays on disk, " +
				"and every run checked that the tree's log and STATE/logs/N.log have every byte."
		},
		ctlfs: true,
	}
}

func timeLogWrite(sup *supervisor, name, cmdline string, bytes int64) (time.Duration, error) {
	start := time.Now()
	if err := sup.write(name, "cmd", cmdline); err != nil {
		return 0, err
	}
	state, err := sup.read(name, "wait")
	elapsed := time.Since(start)
	if err != nil {
		return 0, err
	}
	if state != "exited 0" {
		return 0, fmt.Errorf("state %q, expected exited 0", state)
	}
	fi, err := os.Stat(sup.path(name, "log"))
	if err != nil {
		return 0, err
	}
	if fi.Size() != bytes {
		return 0, fmt.Errorf("log size %d after exit, expected %d", fi.Size(), bytes)
	}
	if onDisk := logDiskUse(sup, name); onDisk != bytes {
		return 0, fmt.Errorf("%d bytes of the log on disk after exit, expected %d", onDisk, bytes)
	}
	return elapsed, nil
}

// logDiskUse returns the bytes in STATE/logs/NAME.log and its rotated
// NAME.log.1.
func logDiskUse(sup *supervisor, name string) int64 {
	var total int64
	for _, suffix := range []string{".log", ".log.1"} {
		if fi, err := os.Stat(filepath.Join(sup.state, "logs", name+suffix)); err == nil {
			total += fi.Size()
		}
	}
	return total
}

// commandWriter runs argv, checks the size of the output file and
// removes it.
func commandWriter(runner *commandRunner, name string, argv []string, file string, bytes int64) logWriter {
	return logWriter{
		name:    name,
		command: strings.ReplaceAll(shellQuote(argv), file, filepath.Base(file)),
		run: func(int) (time.Duration, error) {
			defer os.Remove(file)
			d, err := runner.time(argv, nil)
			if err != nil {
				return 0, err
			}
			return d, checkSize(file, bytes)
		},
	}
}

func checkSize(file string, bytes int64) error {
	fi, err := os.Stat(file)
	if err != nil {
		return err
	}
	if fi.Size() != bytes {
		return fmt.Errorf("%s has %d bytes, expected %d", file, fi.Size(), bytes)
	}
	return nil
}

// ddWriter writes straight to the file: the rate without any pipe.
func ddWriter(runner *commandRunner, opts options, dir string) (logWriter, error) {
	path, err := lookTool("dd", "coreutils")
	if err != nil {
		return logWriter{}, err
	}
	file := filepath.Join(dir, "dd.out")
	argv := []string{path, "if=/dev/zero", "bs=1M", fmt.Sprintf("count=%d", opts.logBytes>>20), "of=" + file, "status=none"}
	return commandWriter(runner, "dd bs=1M → file", argv, file, opts.logBytes), nil
}

// ddPipeWriter puts one pipe between dd and the file, as the log path of
// a container does before the supervisor writes the file.
func ddPipeWriter(runner *commandRunner, opts options, dir string) (logWriter, error) {
	file := filepath.Join(dir, "dd-pipe.out")
	script := fmt.Sprintf("dd if=/dev/zero bs=1M count=%d status=none | cat > %s", opts.logBytes>>20, file)
	return shellWriter(runner, pipeWriterName, script, file, opts.logBytes)
}

// ddPipeOneCPUWriter is ddPipeWriter with both processes on CPU 0. On a
// 2-CPU VM, `dd | cat` ran at 2.0-2.5 GiB/s on one CPU and 0.6 GiB/s on
// two, so the unpinned rate depends on where the scheduler puts them.
func ddPipeOneCPUWriter(runner *commandRunner, opts options, dir string) (logWriter, error) {
	return ddPipePinnedWriter(runner, opts, dir, "one CPU", 0, 0)
}

// ddPipeTwoCPUsWriter is ddPipeWriter with dd on CPU 0 and cat on CPU 1.
func ddPipeTwoCPUsWriter(runner *commandRunner, opts options, dir string) (logWriter, error) {
	if runtime.NumCPU() < 2 {
		return logWriter{}, errors.New("dd bs=1M | cat on two CPUs: the machine has one CPU")
	}
	return ddPipePinnedWriter(runner, opts, dir, "two CPUs", 0, 1)
}

func ddPipePinnedWriter(runner *commandRunner, opts options, dir, placement string, ddCPU, catCPU int) (logWriter, error) {
	if _, err := lookTool("taskset", "util-linux"); err != nil {
		return logWriter{}, err
	}
	file := filepath.Join(dir, "dd-pipe-pinned.out")
	script := fmt.Sprintf("taskset -c %d dd if=/dev/zero bs=1M count=%d status=none | taskset -c %d cat > %s",
		ddCPU, opts.logBytes>>20, catCPU, file)
	return shellWriter(runner, "dd bs=1M | cat → file, "+placement, script, file, opts.logBytes)
}

// headPipeWriter is ddPipeWriter with head as the writer.
func headPipeWriter(runner *commandRunner, opts options, dir string) (logWriter, error) {
	file := filepath.Join(dir, "head-pipe.out")
	script := fmt.Sprintf("head -c %d /dev/zero | cat > %s", opts.logBytes, file)
	return shellWriter(runner, "head -c | cat → file", script, file, opts.logBytes)
}

// shellWriter runs script with the host's sh and its tools.
func shellWriter(runner *commandRunner, name, script, file string, bytes int64) (logWriter, error) {
	for _, tool := range []string{"sh", "dd", "head", "cat"} {
		if _, err := lookTool(tool, "coreutils"); err != nil {
			return logWriter{}, err
		}
	}
	return commandWriter(runner, name, []string{"sh", "-c", script}, file, bytes), nil
}

// formatBytes formats n as MiB or GiB.
func formatBytes(n int64) string {
	if n >= 1<<30 && n%(1<<30) == 0 {
		return fmt.Sprintf("%d GiB", n>>30)
	}
	return fmt.Sprintf("%d MiB", n>>20)
}
