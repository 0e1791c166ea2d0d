package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// clockTick is the unit of the CPU times in /proc/PID/stat, USER_HZ,
// which is 100 on Linux for every architecture the harness builds for.
const clockTick = 10 * time.Millisecond

// cpuTimes are a process's CPU times, and those of its children that it
// has waited for.
type cpuTimes struct {
	self, children time.Duration
}

// readCPUTimes reads utime, stime, cutime and cstime, fields 14 to 17 of
// /proc/PID/stat.
func readCPUTimes(pid int) (cpuTimes, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return cpuTimes{}, err
	}
	// Fields after the name in parentheses, from field 3 (state) on.
	text := string(data)
	fields := strings.Fields(text[strings.LastIndexByte(text, ')')+1:])
	if len(fields) < 15 {
		return cpuTimes{}, fmt.Errorf("parse /proc/%d/stat: %d fields", pid, len(fields))
	}
	var ticks [4]int64
	for i := range ticks {
		if ticks[i], err = strconv.ParseInt(fields[11+i], 10, 64); err != nil {
			return cpuTimes{}, fmt.Errorf("parse /proc/%d/stat: %w", pid, err)
		}
	}
	return cpuTimes{
		self:     time.Duration(ticks[0]+ticks[1]) * clockTick,
		children: time.Duration(ticks[2]+ticks[3]) * clockTick,
	}, nil
}

// cpuPerCycle describes the supervisor's CPU time per container between
// two readings, for the notes.
func cpuPerCycle(before, after cpuTimes, cycles int) string {
	if cycles <= 0 {
		return "supervisor CPU time per container: no containers"
	}
	per := func(d time.Duration) string {
		return fmt.Sprintf("%.2f ms", float64(d)/float64(cycles)/float64(time.Millisecond))
	}
	return fmt.Sprintf("CPU time per container of the two ctlfs rows (%d containers): "+
		"supervisor %s (user and system time of ctlfs serve), its inits and their commands %s",
		cycles, per(after.self-before.self), per(after.children-before.children))
}

// childrenCPU returns the summed CPU time of the processes pids and their
// mean number of threads. It adds the first field of schedstat, the time
// on a CPU in ns, of each thread: utime and stime in /proc/PID/stat come
// from clock ticks, and a process that ran a few milliseconds in all
// often shows none. Processes that exited meanwhile are left out.
func childrenCPU(pids []int) (time.Duration, float64) {
	var total time.Duration
	threads, n := 0, 0
	for _, pid := range pids {
		files, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/schedstat", pid))
		if err != nil || len(files) == 0 {
			continue
		}
		for _, f := range files {
			data, err := os.ReadFile(f)
			if err != nil {
				continue
			}
			first, _, _ := strings.Cut(string(data), " ")
			if ns, err := strconv.ParseInt(first, 10, 64); err == nil {
				total += time.Duration(ns)
			}
		}
		threads += len(files)
		n++
	}
	if n == 0 {
		return 0, 0
	}
	return total, float64(threads) / float64(n)
}

// readBusyTime returns the time all CPUs of the machine spent on
// anything but idle and I/O wait, from the cpu line of /proc/stat.
func readBusyTime() (time.Duration, error) {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, err
	}
	line, _, _ := strings.Cut(string(data), "\n")
	fields := strings.Fields(line)
	if len(fields) < 8 || fields[0] != "cpu" {
		return 0, fmt.Errorf("parse /proc/stat: first line %q", line)
	}
	var busy int64
	// user nice system idle iowait irq softirq steal ...: skip idle and
	// iowait, and guest times, which user already counts.
	for i, f := range fields[1:min(len(fields), 9)] {
		if i == 3 || i == 4 {
			continue
		}
		v, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("parse /proc/stat: %w", err)
		}
		busy += v
	}
	return time.Duration(busy) * clockTick, nil
}
