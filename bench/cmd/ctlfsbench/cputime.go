package main

import (
	"fmt"
	"os"
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
