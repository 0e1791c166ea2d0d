// Package experiment runs scheduling and memory experiments against a
// mounted ctlfs tree. It drives the supervisor only through the tree, as
// a user with a shell would: mkdir, one value per write to cmd, limits and
// ctl, reads of log, rss, events and state, and rmdir at the end. Each
// experiment writes a Markdown report and PNG plots into an output
// directory and compares what it measured with what theory predicts.
package experiment

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"
)

// Usage describes the experiments for the command line.
const Usage = `usage: ctlfs experiment NAME [--mount DIR] [--out DIR] [OPTIONS]

Runs an experiment against a running supervisor's tree and writes
OUT/NAME.md and PNG plots. Experiments:

  nice    two cpu_hog containers on one CPU with nice -5 and +5: CPU shares
          and finish times against the kernel's weight table
  cpu-io  io_pulse alone and beside a cpu_hog on the same CPU: write+fsync
          latency and cpu_hog throughput in both runs
  memory  memory_hog under soft and hard limits: RSS over time, the
          soft-limit event, the kill and the overshoot past the hard limit

Start a supervisor first, for example with "make serve".
`

// Result is the outcome of an experiment that ran to its end.
type Result struct {
	Name   string
	Report string   // path of the Markdown report
	Plots  []string // paths of the PNG plots
	Checks []Check  // comparisons of measurements with predictions
}

// Check is one comparison of a measurement with what was expected.
type Check struct {
	Name   string
	OK     bool
	Detail string // the measured and expected values
}

// experiment describes one experiment.
type experiment struct {
	name       string
	containers []string // name suffixes of the containers it creates
	workloads  []string // programs it runs, checked before it starts
	run        func(s *session) (*Result, error)
}

var experiments = []experiment{
	{name: "nice", containers: []string{"a", "b"},
		workloads: []string{"cpu_hog"}, run: runNice},
	{name: "cpu-io", containers: []string{"pulse-alone", "hog-alone", "pulse", "hog"},
		workloads: []string{"io_pulse", "cpu_hog"}, run: runCPUIO},
	{name: "memory", containers: []string{"hog"},
		workloads: []string{"memory_hog"}, run: runMemory},
}

// Names returns the names of the experiments, in the order Usage lists them.
func Names() []string {
	names := make([]string, len(experiments))
	for i, e := range experiments {
		names[i] = e.name
	}
	return names
}

func lookup(name string) (experiment, error) {
	i := slices.IndexFunc(experiments, func(e experiment) bool { return e.name == name })
	if i < 0 {
		return experiment{}, fmt.Errorf("unknown experiment %q: expected one of %s",
			name, strings.Join(Names(), ", "))
	}
	return experiments[i], nil
}

// Run runs the experiment called name and writes its report and plots
// into opts.Out, printing progress to progress (which may be nil). It
// returns an error when the experiment could not run to its end, but not
// when a measurement disagrees with theory, which the report marks.
func Run(ctx context.Context, name string, opts Options, progress io.Writer) error {
	_, err := Execute(ctx, name, opts, progress)
	return err
}

// Execute is Run that also returns the result, for tests that check it.
// The containers it created are removed before it returns, also on error
// or when ctx ends.
func Execute(ctx context.Context, name string, opts Options, progress io.Writer) (res *Result, err error) {
	exp, err := lookup(name)
	if err != nil {
		return nil, err
	}
	s, err := newSession(ctx, exp, opts, progress)
	if err != nil {
		return nil, err
	}
	defer func() { err = errors.Join(err, s.cleanup()) }()
	if err := s.preflight(); err != nil {
		return nil, err
	}
	res, err = exp.run(s)
	if err == nil {
		s.printChecks(res)
	}
	return res, err
}

// session is the state of one experiment run.
type session struct {
	ctx      context.Context
	exp      experiment
	opts     Options
	tree     tree
	progress io.Writer
	began    time.Time // when the run began
	created  []string  // containers to remove at the end, in creation order
}

func newSession(ctx context.Context, exp experiment, opts Options, progress io.Writer) (*session, error) {
	opts = opts.withDefaults()
	if err := opts.validate(); err != nil {
		return nil, err
	}
	if progress == nil {
		progress = io.Discard
	}
	s := &session{ctx: ctx, exp: exp, opts: opts, progress: progress}
	s.tree = tree{root: opts.Mount}
	s.began = time.Now()
	return s, nil
}

// containerName returns the name of the container with the given suffix.
func (s *session) containerName(suffix string) string {
	return s.opts.Prefix + s.exp.name + "-" + suffix
}

// logf prints one progress line, prefixed with the experiment's name.
func (s *session) logf(format string, args ...any) {
	fmt.Fprintf(s.progress, s.exp.name+": "+format+"\n", args...)
}

func (s *session) printChecks(res *Result) {
	for _, c := range res.Checks {
		verdict := "agrees"
		if !c.OK {
			verdict = "DIFFERS"
		}
		s.logf("%s: %s: %s", c.Name, verdict, c.Detail)
	}
	s.logf("report: %s", res.Report)
}

// preflight fails at once when the tree is missing, a container name is
// taken, the output directory cannot be made or a workload is missing.
func (s *session) preflight() error {
	if err := s.tree.check(); err != nil {
		return err
	}
	for _, suffix := range append(slices.Clone(s.exp.containers), "probe") {
		if err := s.tree.checkFree(s.containerName(suffix)); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(s.opts.Out, 0o755); err != nil {
		return fmt.Errorf("create output directory: %w", err)
	}
	return s.probeWorkloads()
}
