package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"
)

const statsLong = `Show the CPU use and resident memory (RSS) of running containers, or
of the containers named, refreshed every --interval until interrupted.
CPU % is the CPU time used since the table before, or over the first
interval (at most 500ms), as a percentage of one CPU, so a container busy
on two CPUs shows 200%. CPU TIME is the run's total, in seconds. MEM % is
RSS against the hard limit. The values come from MOUNT/status and
MOUNT/NAME/status. On a terminal each table replaces the one before;
otherwise the tables follow one another, separated by a blank line.`

// firstSampleMax is the longest wait for the second sample of the CPU
// time, which the first table needs for CPU %.
const firstSampleMax = 500 * time.Millisecond

func newStatsCommand() *cobra.Command {
	var all, noStream bool
	var interval time.Duration
	cmd := &cobra.Command{
		Use:   "stats [flags] [NAME...]",
		Short: "Show the CPU and memory use of containers, refreshed live",
		Long:  statsLong,
	}
	mount := containerCommand(cmd)
	cmd.Flags().BoolVarP(&all, "all", "a", false,
		"show every container, also those created or exited")
	cmd.Flags().BoolVar(&noStream, "no-stream", false,
		"print one table and exit")
	cmd.Flags().DurationVar(&interval, "interval", time.Second,
		"`DURATION` between two tables, such as 1s or 500ms")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if interval <= 0 {
			return fmt.Errorf("invalid --interval %s: must be positive", interval)
		}
		tree, err := openTree(*mount)
		if err != nil {
			return err
		}
		for _, name := range args {
			if err := tree.lookup(name); err != nil {
				return err
			}
		}
		w := cmd.OutOrStdout()
		redraw := isTerminal(w)
		prev, err := tree.statsRows(args, all)
		if err != nil {
			return err
		}
		time.Sleep(min(interval, firstSampleMax))
		for i := 0; ; i++ {
			rows, err := tree.statsRows(args, all)
			if err != nil {
				return err
			}
			setCPUPercent(rows, prev)
			prev = rows
			switch {
			case redraw:
				fmt.Fprint(w, "\x1b[H\x1b[2J") // cursor home, clear screen
			case i > 0:
				fmt.Fprintln(w)
			}
			if err := printStats(w, rows); err != nil {
				return err
			}
			if noStream {
				return nil
			}
			time.Sleep(interval)
		}
	}
	return cmd
}

// statsRow is the CPU and memory use of one container.
type statsRow struct {
	name, state, pid string
	started          string // start of the run, to tell runs apart
	cpu              string // CPU time of the run in seconds; "" when unknown
	rss              string // bytes; "" when not running
	hard             string // bytes, or "max"
	at               time.Time
	cpuPercent       string // "" until computed from two rows
}

// setCPUPercent computes the CPU % of each row from the row of the same
// run in prev.
func setCPUPercent(rows, prev []statsRow) {
	for i := range rows {
		row := &rows[i]
		for _, p := range prev {
			if p.name == row.name && p.started == row.started {
				row.cpuPercent = cpuPercent(p.cpu, row.cpu, row.at.Sub(p.at))
			}
		}
	}
}

// cpuPercent returns the CPU time used between two readings, in seconds,
// as a percentage of the wall time between them, or "" when unknown.
func cpuPercent(before, after string, wall time.Duration) string {
	t0, err1 := strconv.ParseFloat(before, 64)
	t1, err2 := strconv.ParseFloat(after, 64)
	if err1 != nil || err2 != nil || t1 < t0 || wall <= 0 {
		return ""
	}
	return strconv.FormatFloat(100*(t1-t0)/wall.Seconds(), 'f', 2, 64) + "%"
}

// statsRows reads the memory use of the containers named, or of every
// running container when names is empty, or of every container with all.
// A container removed meanwhile is left out.
func (t *treeClient) statsRows(names []string, all bool) ([]statsRow, error) {
	rows, err := t.status()
	if err != nil {
		return nil, err
	}
	var stats []statsRow
	for _, row := range rows {
		name := row["NAME"]
		if !selected(name, row["STATE"], names, all) {
			continue
		}
		info, err := t.containerStatus(name)
		if errors.Is(err, errNoContainer) {
			continue
		}
		if err != nil {
			return nil, err
		}
		stats = append(stats, statsRow{name: name, state: info["state"],
			pid: info["pid"], started: info["started"], cpu: info["cpu"],
			rss: info["rss"], hard: info["hard"], at: time.Now()})
	}
	return stats, nil
}

func selected(name, state string, names []string, all bool) bool {
	if len(names) > 0 {
		for _, n := range names {
			if n == name {
				return true
			}
		}
		return false
	}
	return all || isRunning(state)
}

// containerStatus reads the "key value" lines of NAME/status. An empty
// value, which the file shows as "-", is "".
func (t *treeClient) containerStatus(name string) (map[string]string, error) {
	text, err := t.read(name, "status")
	if err != nil {
		return nil, err
	}
	info := make(map[string]string)
	for _, line := range strings.Split(text, "\n") {
		key, value, _ := strings.Cut(line, " ")
		if key != "" && value != "-" {
			info[key] = value
		}
	}
	return info, nil
}

func printStats(w io.Writer, rows []statsRow) error {
	table := tabwriter.NewWriter(w, 0, 8, 3, ' ', 0)
	fmt.Fprintln(table, "NAME\tSTATE\tPID\tCPU %\tCPU TIME\tRSS\tHARD LIMIT\tMEM %")
	for _, row := range rows {
		fmt.Fprintf(table, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", row.name, dash(row.state),
			dash(row.pid), dash(row.cpuPercent), dash(row.cpu), dash(humanSize(row.rss)),
			dash(limitText(row.hard)), memPercent(row.rss, row.hard))
	}
	return table.Flush()
}

// limitText formats a hard limit in bytes, with "max" for none.
func limitText(hard string) string {
	if hard == "max" {
		return "max"
	}
	return humanSize(hard)
}

// memPercent returns rss as a percentage of the hard limit, or "-" when
// either is unknown or there is no limit.
func memPercent(rss, hard string) string {
	used, err1 := strconv.ParseUint(rss, 10, 64)
	limit, err2 := strconv.ParseUint(hard, 10, 64)
	if err1 != nil || err2 != nil || limit == 0 {
		return "-"
	}
	return strconv.FormatFloat(100*float64(used)/float64(limit), 'f', 2, 64) + "%"
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}
