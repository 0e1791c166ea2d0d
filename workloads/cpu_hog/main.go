// Command cpu_hog burns a given amount of CPU time on one thread, to test CPU
// limits and to compare throughput between runs.
//
// Usage:
//
//	cpu_hog [CPU_SECONDS]
//
// CPU_SECONDS (default 10, decimals allowed) is measured on the process CPU
// clock (CLOCK_PROCESS_CPUTIME_ID), so time spent waiting under a CPU limit
// does not count. Only one thread burns, because GOMAXPROCS is 1 and the
// goroutine is locked to its thread.
//
// Output, one line per wall-clock second and a last line when done:
//
//	cpu_hog: t=3.0s cpu=1.52s work=1234567 rate=411522/s at=1733331234.123
//	cpu_hog: done cpu=10.00s wall=19.87s work=8123456 rate=408830/s cpu_rate=812345/s at=1733331250.993
//
// t and wall are seconds since the start, on the monotonic clock. work
// counts units of a fixed computation (1000 rounds of xorshift64*). rate is
// work per wall-clock second since the start, and cpu_rate is work per CPU
// second. at is when the line's values were read, in seconds since the Unix
// epoch on CLOCK_REALTIME, truncated to milliseconds. It lets a reader put
// the lines of several processes on one clock, and at minus t (or wall) is
// when this process started. A usage error exits with status 2.
package main

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

const (
	usage          = "usage: cpu_hog [CPU_SECONDS]  (burn CPU_SECONDS of CPU time on one thread, default 10)"
	defaultSeconds = 10.0
	unitRounds     = 1000 // xorshift64* rounds in one unit of work
	unitsPerCheck  = 1024 // units between two reads of the clocks
)

// sink keeps the compiler from removing the work.
var sink uint64

func main() {
	seconds, err := parseArgs(os.Args[1:])
	if errors.Is(err, errHelp) {
		fmt.Println(usage)
		return
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "cpu_hog: %v\n%s\n", err, usage)
		os.Exit(2)
	}
	runtime.GOMAXPROCS(1)
	runtime.LockOSThread()
	if err := burn(time.Duration(seconds * float64(time.Second))); err != nil {
		fmt.Fprintf(os.Stderr, "cpu_hog: %v\n", err)
		os.Exit(1)
	}
}

var errHelp = errors.New("help requested")

// parseArgs returns the CPU seconds to burn from the command-line arguments.
func parseArgs(args []string) (float64, error) {
	if len(args) == 0 {
		return defaultSeconds, nil
	}
	if args[0] == "-h" || args[0] == "--help" {
		return 0, errHelp
	}
	if len(args) > 1 {
		return 0, fmt.Errorf("too many arguments: %q", args)
	}
	seconds, err := strconv.ParseFloat(args[0], 64)
	if err != nil || !(seconds > 0 && seconds < 1e9) {
		return 0, fmt.Errorf("invalid CPU_SECONDS %q: expected a positive number", args[0])
	}
	return seconds, nil
}

// burn runs units of work until the process has used target CPU time,
// printing progress every wall-clock second.
func burn(target time.Duration) error {
	start := time.Now()
	nextReport := start.Add(time.Second)
	var work uint64
	for {
		work += doWork(unitsPerCheck)
		used, err := processCPUTime()
		if err != nil {
			return err
		}
		now := time.Now()
		if used >= target {
			printDone(now, now.Sub(start), used, work)
			return nil
		}
		if wall := now.Sub(start); !now.Before(nextReport) {
			printProgress(now, wall, used, work)
			// The next whole second, so that a stopped process prints one late line, not a burst.
			nextReport = start.Add(wall.Truncate(time.Second) + time.Second)
		}
	}
}

// doWork runs the given number of units and returns that number.
func doWork(units int) uint64 {
	x := sink | 1
	for range units * unitRounds {
		x ^= x >> 12
		x ^= x << 25
		x ^= x >> 27
		x *= 2685821657736338717
	}
	sink = x
	return uint64(units)
}

// processCPUTime returns the CPU time used by all threads of the process.
func processCPUTime() (time.Duration, error) {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_PROCESS_CPUTIME_ID, &ts); err != nil {
		return 0, fmt.Errorf("clock_gettime(CLOCK_PROCESS_CPUTIME_ID) failed: %w", err)
	}
	return time.Duration(ts.Nano()), nil
}

func printProgress(now time.Time, wall, cpu time.Duration, work uint64) {
	fmt.Printf("cpu_hog: t=%.1fs cpu=%.2fs work=%d rate=%.0f/s at=%s\n",
		wall.Seconds(), cpu.Seconds(), work, float64(work)/wall.Seconds(), unixSeconds(now))
}

func printDone(now time.Time, wall, cpu time.Duration, work uint64) {
	fmt.Printf("cpu_hog: done cpu=%.2fs wall=%.2fs work=%d rate=%.0f/s cpu_rate=%.0f/s at=%s\n",
		cpu.Seconds(), wall.Seconds(), work,
		float64(work)/wall.Seconds(), float64(work)/cpu.Seconds(), unixSeconds(now))
}

// unixSeconds formats the wall-clock (CLOCK_REALTIME) reading of t as
// seconds since the Unix epoch with three decimals, truncated.
func unixSeconds(t time.Time) string {
	ms := t.UnixMilli()
	return fmt.Sprintf("%d.%03d", ms/1000, ms%1000)
}
