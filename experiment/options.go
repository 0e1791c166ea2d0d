package experiment

import (
	"flag"
	"fmt"
	"math"
	"strconv"
	"time"

	"ctlfs/runtime"
)

// Options configure the experiments. Zero fields take the value of
// DefaultOptions, except NiceA, NiceB and CPU, whose zero is a valid
// choice: start from DefaultOptions to get nice -5 against +5.
type Options struct {
	Mount  string // root of the ctlfs tree
	Out    string // directory for reports and plots, created when missing
	Rootfs string // written to each container's rootfs; empty: the supervisor's default
	Prefix string // prefix of the container names

	NiceA, NiceB int     // nice values of the two cpu_hog containers (nice)
	CPU          int     // the CPU that the containers share (nice, cpu-io)
	Seconds      float64 // CPU seconds that each cpu_hog burns (nice)
	Iterations   int     // io_pulse iterations in each run (cpu-io)

	Soft, Hard int64         // memory limits in bytes (memory)
	Chunk      int64         // bytes that memory_hog adds per step (memory)
	Interval   time.Duration // pause between two steps of memory_hog (memory)
	Sample     time.Duration // period between two reads of rss (memory)
}

// DefaultOptions returns the options that the experiments are designed
// around.
func DefaultOptions() Options {
	return Options{
		Mount:      "/mnt/ctl",
		Out:        ".",
		Prefix:     "exp-",
		NiceA:      -5,
		NiceB:      5,
		Seconds:    10,
		Iterations: 25,
		Soft:       32 << 20,
		Hard:       64 << 20,
		Chunk:      1 << 20,
		Interval:   50 * time.Millisecond,
		Sample:     20 * time.Millisecond,
	}
}

// withDefaults fills the zero fields whose zero is not a valid choice.
func (o Options) withDefaults() Options {
	d := DefaultOptions()
	fill(&o.Mount, d.Mount)
	fill(&o.Out, d.Out)
	fill(&o.Prefix, d.Prefix)
	fill(&o.Seconds, d.Seconds)
	fill(&o.Iterations, d.Iterations)
	fill(&o.Soft, d.Soft)
	fill(&o.Hard, d.Hard)
	fill(&o.Chunk, d.Chunk)
	fill(&o.Interval, d.Interval)
	fill(&o.Sample, d.Sample)
	return o
}

func fill[T comparable](field *T, value T) {
	var zero T
	if *field == zero {
		*field = value
	}
}

func (o Options) validate() error {
	switch {
	case o.NiceA < MinNice || o.NiceA > MaxNice || o.NiceB < MinNice || o.NiceB > MaxNice:
		return fmt.Errorf("invalid nice values %d and %d: expected %d to %d",
			o.NiceA, o.NiceB, MinNice, MaxNice)
	case o.CPU < 0:
		return fmt.Errorf("invalid cpu %d: expected a CPU number, 0 or more", o.CPU)
	case o.Seconds < 0 || o.Iterations < 0:
		return fmt.Errorf("invalid seconds %g or iterations %d: expected more than 0",
			o.Seconds, o.Iterations)
	case o.Soft < 0 || o.Hard < 0 || o.Soft > o.Hard:
		return fmt.Errorf("invalid limits soft=%d hard=%d: expected 0 < soft <= hard",
			o.Soft, o.Hard)
	case o.Chunk < 0 || o.Interval < 0 || o.Sample < 0:
		return fmt.Errorf("invalid chunk %d, interval %s or sample %s: expected more than 0",
			o.Chunk, o.Interval, o.Sample)
	}
	return nil
}

// RegisterFlags defines a flag for each option in fs, with the values
// in opts as defaults, so that parsing fs sets opts.
func RegisterFlags(fs *flag.FlagSet, opts *Options) {
	fs.StringVar(&opts.Mount, "mount", opts.Mount, "directory `DIR` on which the ctlfs tree is mounted")
	fs.StringVar(&opts.Out, "out", opts.Out, "directory `DIR` for the report and plots")
	fs.StringVar(&opts.Rootfs, "rootfs", opts.Rootfs,
		"root filesystem `DIR` of the containers (default: the supervisor's)")
	fs.StringVar(&opts.Prefix, "prefix", opts.Prefix, "`PREFIX` of the container names")
	fs.IntVar(&opts.NiceA, "nice-a", opts.NiceA, "nice value `N` of the first cpu_hog (nice)")
	fs.IntVar(&opts.NiceB, "nice-b", opts.NiceB, "nice value `N` of the second cpu_hog (nice)")
	fs.IntVar(&opts.CPU, "cpu", opts.CPU, "the `CPU`, a CPU number, that the containers share (nice, cpu-io)")
	fs.Float64Var(&opts.Seconds, "seconds", opts.Seconds, "CPU time in `SECONDS` that each cpu_hog burns (nice)")
	fs.IntVar(&opts.Iterations, "iterations", opts.Iterations, "number `N` of io_pulse iterations per run (cpu-io)")
	fs.Var((*sizeFlag)(&opts.Soft), "soft", "soft memory limit, a `SIZE` such as 32M (memory)")
	fs.Var((*sizeFlag)(&opts.Hard), "hard", "hard memory limit, a `SIZE` such as 64M (memory)")
	fs.Var((*sizeFlag)(&opts.Chunk), "chunk", "memory that memory_hog adds per step, a `SIZE` (memory)")
	fs.DurationVar(&opts.Interval, "interval", opts.Interval, "pause, a `DURATION`, between memory_hog steps (memory)")
	fs.DurationVar(&opts.Sample, "sample", opts.Sample, "period, a `DURATION`, between reads of rss (memory)")
}

// sizeFlag is a size in bytes written as a number with an optional K, M,
// G or T suffix (powers of 1024), optionally followed by B or iB.
type sizeFlag int64

func (f *sizeFlag) String() string { return strconv.FormatInt(int64(*f), 10) }

func (f *sizeFlag) Set(text string) error {
	size, err := parseSize(text)
	*f = sizeFlag(size)
	return err
}

// parseSize parses a size in the notation of the limits file, which
// runtime.ParseSize defines, without its "max".
func parseSize(text string) (int64, error) {
	size, err := runtime.ParseSize(text)
	if err != nil || size == runtime.Unlimited || size > math.MaxInt64 {
		return 0, fmt.Errorf("invalid size %q: expected bytes or a number with K, M, G or T", text)
	}
	return int64(size), nil
}
