// Command memory_hog maps and touches anonymous memory step by step, to test
// memory limits with one or several allocating threads or processes.
//
// Usage:
//
//	memory_hog [--chunk SIZE] [--interval DURATION] [--max SIZE] [--threads N] [--fork N] [--exit]
//
// At each step a thread maps one chunk (--chunk, default 8M) with an
// anonymous mmap, writes one byte to every page, prints a line and sleeps
// for --interval (default 500ms, a Go duration such as 200ms or 1s):
//
//	memory_hog: pid=42 thread=0 step=3 touched=24.0MiB rss=26.5MiB
//
// touched is the memory mapped and touched so far by all threads of the
// process, and rss is the process's resident set (VmRSS from
// /proc/self/status, or /proc/self/statm). The memory is never unmapped.
// --max (default 0, no limit) caps the memory mapped by each process, and
// the last chunk is cut to fit. Once every thread has stopped at --max the
// process prints
//
//	memory_hog: pid=42 reached max=32.0MiB rss=33.5MiB
//
// and then keeps its memory until killed, or exits with status 0 if --exit
// is given. --threads N (default 1) runs N allocating threads in one
// process. --fork N (default 0) starts N child processes of this program
// with the other options, so --max applies to each child. The parent
// allocates nothing and prints a line when a child ends, such as
//
//	memory_hog: pid=41 child=42 ended: signal: killed
//
// It exits once all children have ended, with status 1 if any failed.
// Killing the parent kills the children.
//
// SIZE is a whole number of bytes with an optional suffix K, M or G
// (powers of 1024), optionally followed by B or iB: 512K, 8M, 1GiB.
// A usage error exits with status 2, a failed mmap with status 1.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"sync"
	"time"
)

const usage = "usage: memory_hog [--chunk SIZE] [--interval DURATION] [--max SIZE] [--threads N] [--fork N] [--exit]  (map and touch SIZE more memory per step)"

type config struct {
	chunk    int64
	interval time.Duration
	max      int64 // 0 means no limit
	threads  int
	fork     int
	exit     bool
}

func main() {
	cfg, err := parseArgs(os.Args[1:])
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "memory_hog: %v\n%s\n", err, usage)
		os.Exit(2)
	}
	if cfg.fork > 0 {
		os.Exit(runChildren(cfg))
	}
	allocate(cfg)
}

// parseArgs parses the options. For -h it prints the usage to stdout and
// returns flag.ErrHelp.
func parseArgs(args []string) (config, error) {
	cfg := config{chunk: 8 << 20, interval: 500 * time.Millisecond, threads: 1}
	flags := flag.NewFlagSet("memory_hog", flag.ContinueOnError)
	flags.SetOutput(io.Discard)
	flags.Var((*sizeValue)(&cfg.chunk), "chunk", "memory mapped per step and thread, a `SIZE` in bytes with optional K, M or G suffix")
	flags.DurationVar(&cfg.interval, "interval", cfg.interval, "sleep between two steps of a thread")
	flags.Var((*sizeValue)(&cfg.max), "max", "stop when the process has mapped `SIZE` bytes; 0 means no limit")
	flags.IntVar(&cfg.threads, "threads", cfg.threads, "number of threads allocating at once in each process")
	flags.IntVar(&cfg.fork, "fork", 0, "number of child processes allocating at once; 0 allocates in this process")
	flags.BoolVar(&cfg.exit, "exit", false, "exit when --max is reached instead of keeping the memory until killed")
	err := flags.Parse(args)
	if errors.Is(err, flag.ErrHelp) {
		printHelp(flags)
		return cfg, err
	}
	if err != nil {
		return cfg, err
	}
	if flags.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected argument %q", flags.Arg(0))
	}
	return cfg, validate(cfg)
}

func printHelp(flags *flag.FlagSet) {
	fmt.Println(usage)
	flags.SetOutput(os.Stdout)
	flags.PrintDefaults()
}

func validate(cfg config) error {
	switch {
	case cfg.chunk <= 0:
		return errors.New("invalid --chunk: expected a size above 0")
	case cfg.interval < 0:
		return fmt.Errorf("invalid --interval %s: expected 0 or more", cfg.interval)
	case cfg.threads < 1:
		return fmt.Errorf("invalid --threads %d: expected 1 or more", cfg.threads)
	case cfg.fork < 0:
		return fmt.Errorf("invalid --fork %d: expected 0 or more", cfg.fork)
	}
	return nil
}

// allocate runs the allocating threads, then keeps the memory until killed
// or exits once they all reached --max.
func allocate(cfg config) {
	// The chunks live outside the Go heap, which only contains small buffers,
	// so a low GC percent keeps the heap near its minimum at little CPU cost.
	debug.SetGCPercent(20)
	runtime.GOMAXPROCS(max(runtime.GOMAXPROCS(0), cfg.threads))
	budget := &memoryBudget{max: cfg.max}
	var threads sync.WaitGroup
	for thread := range cfg.threads {
		threads.Go(func() { allocateLoop(thread, cfg, budget) })
	}
	threads.Wait()
	fmt.Printf("memory_hog: pid=%d reached max=%s rss=%s\n", os.Getpid(), formatSize(cfg.max), readRSSText())
	if cfg.exit {
		return
	}
	for {
		time.Sleep(time.Hour)
	}
}

// allocateLoop maps and touches one chunk per step on its own OS thread
// until the budget is used up.
func allocateLoop(thread int, cfg config, budget *memoryBudget) {
	runtime.LockOSThread()
	for step := 1; ; step++ {
		size := budget.reserve(cfg.chunk)
		if size == 0 {
			return
		}
		if err := mapAndTouch(size); err != nil {
			fmt.Fprintf(os.Stderr, "memory_hog: pid=%d thread=%d: %v\n", os.Getpid(), thread, err)
			os.Exit(1)
		}
		touched := budget.addTouched(size)
		fmt.Printf("memory_hog: pid=%d thread=%d step=%d touched=%s rss=%s\n",
			os.Getpid(), thread, step, formatSize(touched), readRSSText())
		if budget.full() {
			return
		}
		time.Sleep(cfg.interval)
	}
}
