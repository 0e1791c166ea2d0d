// Command io_pulse measures the latency of small synchronous writes, to test
// I/O limits and to watch a container's I/O pressure.
//
// Usage:
//
//	io_pulse [ITERATIONS] [--dir DIR]
//
// ITERATIONS defaults to 20. The file is created in DIR, by default /tmp or
// the current directory when /tmp does not exist, and is removed at the end
// or on SIGINT or SIGTERM. Each iteration appends one 4 KiB block, calls
// fsync, prints the latency of write plus fsync and sleeps 200 ms:
//
//	io_pulse: iter=1 latency=0.84ms
//	io_pulse: done iterations=20 median=0.91ms max=3.20ms
//
// A usage error exits with status 2, an I/O error or a signal with status 1.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

const (
	usage             = "usage: io_pulse [ITERATIONS] [--dir DIR]  (write+fsync one 4 KiB block per iteration, default 20, in DIR, default /tmp)"
	defaultIterations = 20
	blockSize         = 4096
	pause             = 200 * time.Millisecond
)

type config struct {
	iterations int
	dir        string
}

var errHelp = errors.New("help requested")

func main() {
	cfg, err := parseArgs(os.Args[1:])
	if errors.Is(err, errHelp) {
		fmt.Println(usage)
		return
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "io_pulse: %v\n%s\n", err, usage)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, cfg); err != nil {
		fmt.Fprintf(os.Stderr, "io_pulse: %v\n", err)
		os.Exit(1)
	}
}

// parseArgs reads ITERATIONS and --dir DIR (or --dir=DIR) in any order.
func parseArgs(args []string) (config, error) {
	cfg := config{dir: defaultDir()}
	var positional []string
	for i := 0; i < len(args); i++ {
		switch arg := args[i]; {
		case arg == "-h" || arg == "--help":
			return cfg, errHelp
		case arg == "--dir" && i+1 < len(args):
			i++
			cfg.dir = args[i]
		case arg == "--dir":
			return cfg, errors.New("missing directory after --dir")
		case strings.HasPrefix(arg, "--dir="):
			cfg.dir = strings.TrimPrefix(arg, "--dir=")
		case strings.HasPrefix(arg, "-"):
			return cfg, fmt.Errorf("unknown option %q", arg)
		default:
			positional = append(positional, arg)
		}
	}
	var err error
	cfg.iterations, err = parseIterations(positional)
	return cfg, err
}

func parseIterations(positional []string) (int, error) {
	switch {
	case len(positional) == 0:
		return defaultIterations, nil
	case len(positional) > 1:
		return 0, fmt.Errorf("too many arguments: %q", positional)
	}
	n, err := strconv.Atoi(positional[0])
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("invalid ITERATIONS %q: expected a positive integer", positional[0])
	}
	return n, nil
}

// defaultDir returns /tmp, or the current directory when /tmp is missing.
func defaultDir() string {
	if info, err := os.Stat("/tmp"); err == nil && info.IsDir() {
		return "/tmp"
	}
	return "."
}

// run writes the blocks, prints each latency and the summary, and removes the file.
func run(ctx context.Context, cfg config) error {
	file, err := os.CreateTemp(cfg.dir, "io_pulse-*")
	if err != nil {
		return fmt.Errorf("creating the test file in %s failed: %w", cfg.dir, err)
	}
	defer os.Remove(file.Name())
	defer file.Close()

	latencies, err := pulse(ctx, file, cfg.iterations)
	if err != nil {
		return err
	}
	printSummary(latencies)
	return nil
}

// pulse runs the iterations and returns their latencies.
func pulse(ctx context.Context, file *os.File, iterations int) ([]time.Duration, error) {
	block := make([]byte, blockSize)
	latencies := make([]time.Duration, 0, iterations)
	for i := 1; i <= iterations; i++ {
		latency, err := writeBlock(file, block, byte(i))
		if err != nil {
			return nil, err
		}
		latencies = append(latencies, latency)
		fmt.Printf("io_pulse: iter=%d latency=%s\n", i, formatMs(latency))
		if i < iterations && !sleep(ctx, pause) {
			return nil, fmt.Errorf("interrupted after %d iterations: %w", i, context.Cause(ctx))
		}
	}
	return latencies, nil
}

// writeBlock fills block with value, appends it to file, calls fsync and
// returns the time both took.
func writeBlock(file *os.File, block []byte, value byte) (time.Duration, error) {
	for i := range block {
		block[i] = value
	}
	start := time.Now()
	if _, err := file.Write(block); err != nil {
		return 0, fmt.Errorf("write to %s failed: %w", file.Name(), err)
	}
	if err := file.Sync(); err != nil {
		return 0, fmt.Errorf("fsync of %s failed: %w", file.Name(), err)
	}
	return time.Since(start), nil
}

// sleep waits for d and reports false when ctx ends first.
func sleep(ctx context.Context, d time.Duration) bool {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return true
	case <-ctx.Done():
		return false
	}
}

func printSummary(latencies []time.Duration) {
	fmt.Printf("io_pulse: done iterations=%d median=%s max=%s\n",
		len(latencies), formatMs(median(latencies)), formatMs(slices.Max(latencies)))
}

// median returns the middle value, or the mean of the two middle values for
// an even count. latencies must not be empty.
func median(latencies []time.Duration) time.Duration {
	sorted := slices.Clone(latencies)
	slices.Sort(sorted)
	middle := len(sorted) / 2
	if len(sorted)%2 == 1 {
		return sorted[middle]
	}
	return (sorted[middle-1] + sorted[middle]) / 2
}

func formatMs(d time.Duration) string {
	return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 2, 64) + "ms"
}
