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

// prepareGroups moves the init into the container's v1 cgroups and applies
// the limits and CPU weight before the command starts.
func (r *run) prepareGroups(l Limits, nice int) error {
	if err := r.cg.groups.join(r.pid); err != nil {
		return err
	}
	if err := r.cg.groups.apply(l); err != nil {
		return err
	}
	ok, err := r.cg.groups.setNice(nice)
	r.autogroup = !ok
	return err
}

// applyLimits makes new limits take effect on the running container.
func (r *run) applyLimits(l Limits) error {
	return r.cg.groups.apply(l)
}

// renice sets nice n on every task of the container and gives the
// container the CPU weight of nice n: through its cpu cgroup, or, where
// there is none, through the autogroup of each task's session, since
// with autogroup enabled the scheduler weighs sessions of the root cpu
// cgroup as groups and a task's own nice only counts within its session.
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
		if r.autogroup {
			setAutogroupNice(tid, n)
		}
	}
	_, err = r.cg.groups.setNice(n)
	return err
}

// setAutogroupNice sets the nice of the autogroup of task tid. The kernel
// takes a bare number; it fails harmlessly where autogroup is disabled.
func setAutogroupNice(tid, n int) error {
	return os.WriteFile("/proc/"+strconv.Itoa(tid)+"/autogroup", []byte(strconv.Itoa(n)), 0)
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
