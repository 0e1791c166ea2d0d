package runtime

import (
	"errors"
	"fmt"

	"ctlfs/monitor"
)

// monitorLimits converts a container's limits to the monitor's.
func monitorLimits(l Limits) monitor.Limits {
	return monitor.Limits{Soft: l.Soft, Hard: l.Hard}
}

// watchMemoryEvents passes each limit crossing the monitor reports to
// the container it concerns, until the monitor is closed.
func (s *Supervisor) watchMemoryEvents() {
	for ev := range s.mon.Events() {
		s.cgroupMu.Lock()
		c := s.byCgroup[ev.Cgroup]
		s.cgroupMu.Unlock()
		if c == nil {
			s.log.Debug("memory event for no container", "cgroup", ev.Cgroup, "event", ev.Kind)
			continue
		}
		c.limitCrossed(ev)
	}
}

// limitCrossed records a soft or hard limit crossing. At the hard limit
// the container is killed: the monitor may have killed the allocating
// process already, and cgroup.kill ends the rest.
func (c *Container) limitCrossed(ev monitor.Event) {
	c.mu.Lock()
	defer c.mu.Unlock()
	r := c.run
	if r == nil || r.cg.id != ev.Cgroup || !c.state.Running() {
		return
	}
	fields := []string{fmt.Sprintf("rss=%d", ev.RSS), fmt.Sprintf("limit=%d", ev.Limit)}
	switch ev.Kind {
	case monitor.SoftLimit:
		c.usage.SoftLimits++
		c.emit("soft-limit", fields...)
		c.sup.log.Warn("soft memory limit crossed", "container", c.name,
			"rss", ev.RSS, "limit", ev.Limit)
	case monitor.HardLimit:
		c.reason = ReasonHardLimit
		c.usage.HardLimits++
		r.hardLimitOnce.Do(func() { close(r.hardLimit) })
		c.emit("hard-limit", fields...)
		c.sup.log.Warn("hard memory limit crossed, killing", "container", c.name,
			"rss", ev.RSS, "limit", ev.Limit, "pid", ev.PID, "killed_by_monitor", ev.Killed)
		if err := r.killAll(); err != nil {
			c.sup.log.Error("kill at hard limit", "container", c.name, "err", err)
		}
	}
}

// watchMemory starts accounting the run's memory. The caller holds c.mu.
func (r *run) watchMemory(l Limits) error {
	s := r.c.sup
	// The container is found by its cgroup before the watch begins: a
	// limit below the init's own memory is crossed at once, and its
	// event must not arrive for an unknown cgroup.
	s.cgroupMu.Lock()
	s.byCgroup[r.cg.id] = r.c
	s.cgroupMu.Unlock()
	if err := s.mon.Watch(r.cg.id, r.cg.path, monitorLimits(l)); err != nil {
		s.cgroupMu.Lock()
		delete(s.byCgroup, r.cg.id)
		s.cgroupMu.Unlock()
		return fmt.Errorf("watch memory of %s: %w", r.c.name, err)
	}
	return nil
}

// unwatchMemory stops accounting the run's memory.
func (r *run) unwatchMemory() {
	s := r.c.sup
	s.cgroupMu.Lock()
	delete(s.byCgroup, r.cg.id)
	s.cgroupMu.Unlock()
	err := s.mon.Unwatch(r.cg.id)
	if err != nil && !errors.Is(err, monitor.ErrNotWatched) {
		s.log.Error("stop watching memory", "container", r.c.name, "err", err)
	}
}
