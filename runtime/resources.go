package runtime

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// applyLimits makes new limits take effect on the running container.
func (r *run) applyLimits(l Limits) error {
	// NOTE: memory limits are enforced by the memory monitor; until it is
	// attached they are only stored.
	return nil
}

// renice sets nice n on every task of the container.
func (r *run) renice(n int) error {
	tids, err := r.cg.threads()
	if err != nil {
		return fmt.Errorf("list tasks of %s: %w", r.c.name, err)
	}
	for _, tid := range tids {
		err := unix.Setpriority(unix.PRIO_PROCESS, tid, n)
		if err != nil && !errors.Is(err, unix.ESRCH) {
			return fmt.Errorf("set nice of task %d in %s: %w", tid, r.c.name, err)
		}
	}
	return nil
}

// rss sums VmRSS over the container's processes.
func (r *run) rss() (uint64, error) {
	pids, err := r.cg.pids()
	if err != nil {
		return 0, fmt.Errorf("list processes of %s: %w", r.c.name, err)
	}
	var total uint64
	for _, pid := range pids {
		kb, err := vmRSS(pid)
		if err != nil {
			continue // the process exited meanwhile
		}
		total += kb << 10
	}
	return total, nil
}

// vmRSS returns VmRSS of a process in KiB; kernel threads have none.
func vmRSS(pid int) (uint64, error) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, err
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			return strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
		}
	}
	return 0, nil
}
