package runtime

import (
	"errors"
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// prepare moves the init into the container's cpu and cpuset cgroups when
// it needs them, applies the limits and CPU weight, and starts the
// monitor's accounting, all before the init starts the command.
func (r *run) prepare() error {
	l, nice := r.c.limits, r.c.nice
	g := r.cg.groups
	if err := g.startGroups(l, nice); err != nil {
		return err
	}
	if err := g.apply(l); err != nil {
		return err
	}
	if _, err := g.setNice(nice); err != nil {
		return err
	}
	if err := g.joinInit(r.pid); err != nil {
		return err
	}
	if err := r.watchMemory(l); err != nil {
		return err
	}
	if nice == 0 {
		return nil
	}
	// The init's threads count among the container's tasks, and threads
	// it starts later inherit their creator's nice.
	return r.reniceTasks(nice)
}

// applyLimits makes new limits take effect on the running container.
func (r *run) applyLimits(l Limits) error {
	if len(l.CPUs) > 0 && r.cg.groups.needs("cpuset") {
		if err := r.joinRunning("cpuset"); err != nil {
			return err
		}
	}
	if err := r.cg.groups.apply(l); err != nil {
		return err
	}
	if err := r.c.sup.mon.SetLimits(r.cg.id, monitorLimits(l)); err != nil {
		return fmt.Errorf("set memory limits of %s: %w", r.c.name, err)
	}
	return nil
}

// renice sets nice n on every task of the container and gives the
// container the CPU weight of nice n through its cpu cgroup. Where there
// is none, it sets the nice of each task's autogroup instead, because
// with autogroup enabled the scheduler weighs the sessions of the root
// cpu cgroup as groups, and a task's own nice counts only within its
// session.
func (r *run) renice(n int) error {
	if err := r.reniceTasks(n); err != nil {
		return err
	}
	if n != 0 && r.cg.groups.needs("cpu") {
		if err := r.joinRunning("cpu"); err != nil {
			return err
		}
	}
	_, err := r.cg.groups.setNice(n)
	return err
}

// reniceTasks sets nice n on every task of the container, and on the
// autogroup of each where the container has no cpu cgroup.
func (r *run) reniceTasks(n int) error {
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
	return nil
}

// joinRunning moves every process of the running container into the v1
// directory of controller. The container is frozen meanwhile, unless it
// is already, so that no process forks a child that stays behind.
func (r *run) joinRunning(controller string) error {
	frozen := r.c.state.Phase == Frozen
	if !frozen {
		if err := r.cg.freeze(true); err != nil {
			return err
		}
		defer func() {
			if err := r.cg.freeze(false); err != nil {
				r.c.sup.log.Error("thaw after joining a cgroup", "container", r.c.name, "err", err)
			}
		}()
	}
	pids, err := r.cg.pids()
	if err != nil {
		return fmt.Errorf("list processes of %s: %w", r.c.name, err)
	}
	return r.cg.groups.join(controller, pids)
}

// rss returns the container's resident memory as the monitor counts it.
func (r *run) rss() (uint64, error) {
	return r.c.sup.mon.RSS(r.cg.id)
}

// setAutogroupNice sets the nice of the autogroup of task tid. The kernel
// takes a bare number; it fails harmlessly where autogroup is disabled.
func setAutogroupNice(tid, n int) error {
	return os.WriteFile("/proc/"+strconv.Itoa(tid)+"/autogroup", []byte(strconv.Itoa(n)), 0)
}
