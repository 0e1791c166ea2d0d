package runtime

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// Usage is a container's CPU time, run count and limit crossings, for
// status files and metrics.
type Usage struct {
	// CPU is the CPU time of every task of the current run, or of the
	// last run when the container is not running.
	CPU time.Duration
	// Starts counts the runs started since the supervisor started.
	Starts int
	// SoftLimits and HardLimits count the memory limit crossings the
	// monitor reported since the supervisor started.
	SoftLimits, HardLimits int
}

// Usage returns the container's usage. CPU time comes from cgroup v2's
// cpu.stat, which every cgroup v2 directory has, with or without the cpu
// controller.
func (c *Container) Usage() (Usage, error) {
	c.mu.Lock()
	u := c.usage
	r := c.run
	running := c.state.Running()
	c.mu.Unlock()
	if r == nil {
		return u, nil
	}
	if !running {
		u.CPU = time.Duration(max(r.cpuFinal.Load(), 0))
		return u, nil
	}
	cpu, err := r.cg.cpuTime()
	if err != nil {
		// The run may have ended and its cgroup gone since the check.
		if final := r.cpuFinal.Load(); final >= 0 {
			u.CPU = time.Duration(final)
			return u, nil
		}
		return u, err
	}
	u.CPU = cpu
	return u, nil
}

// cpuTime returns usage_usec of the cgroup's cpu.stat.
func (cg *cgroup) cpuTime() (time.Duration, error) {
	data, err := os.ReadFile(filepath.Join(cg.path, "cpu.stat"))
	if err != nil {
		return 0, fmt.Errorf("read cpu time: %w", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		key, value, ok := bytes.Cut(sc.Bytes(), []byte(" "))
		if !ok || string(key) != "usage_usec" {
			continue
		}
		usec, err := strconv.ParseInt(string(value), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("read cpu time: %s: bad usage_usec %q", cg.path, value)
		}
		return time.Duration(usec) * time.Microsecond, nil
	}
	return 0, fmt.Errorf("read cpu time: %s/cpu.stat has no usage_usec", cg.path)
}

// saveCPUTime keeps the run's CPU time before its cgroup is removed.
func (r *run) saveCPUTime() {
	cpu, err := r.cg.cpuTime()
	if err != nil {
		r.c.sup.log.Error("read cpu time", "container", r.c.name, "err", err)
		cpu = 0
	}
	r.cpuFinal.Store(int64(cpu))
}
