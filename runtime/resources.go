package runtime

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"

	"ctlfs/runtime/initproc"
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
	if err := r.watchMemory(l); err != nil {
		return err
	}
	ok, err := r.cg.groups.setNice(nice)
	if err != nil {
		return err
	}
	r.autogroup = !ok
	if nice == 0 {
		return nil
	}
	// The init's threads count among the container's tasks, and threads
	// it starts later inherit their creator's nice.
	return r.renice(nice)
}

// applyLimits makes new limits take effect on the running container.
func (r *run) applyLimits(l Limits) error {
	if err := r.cg.groups.apply(l); err != nil {
		return err
	}
	if err := r.c.sup.mon.SetLimits(r.cg.id, monitorLimits(l)); err != nil {
		return fmt.Errorf("set memory limits of %s: %w", r.c.name, err)
	}
	return nil
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
			initproc.SetAutogroupNice(tid, n)
		}
	}
	_, err = r.cg.groups.setNice(n)
	return err
}

// rss returns the container's resident memory as the monitor counts it.
func (r *run) rss() (uint64, error) {
	return r.c.sup.mon.RSS(r.cg.id)
}
