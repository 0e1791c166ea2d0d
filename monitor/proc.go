package monitor

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// procMonitor is the Monitor that polls /proc. Between two polls a
// container can allocate freely, so a hard limit is overshot by up to
// interval times the allocation rate plus the time cgroup.kill takes
// (about 20 MiB at 2 GiB/s and 10ms).
type procMonitor struct {
	interval time.Duration
	reason   string // reason for choosing this kind, shown by Describe

	mu      sync.Mutex
	watched map[uint64]*procWatch
	closed  bool

	events  chan Event
	done    chan struct{}
	stopped sync.WaitGroup
	sendMu  sync.RWMutex
}

type procWatch struct {
	path   string
	limits Limits
	rss    uint64 // at the last poll, bytes
}

// NewProc returns a Monitor that sums VmRSS of the processes in each
// watched cgroup every interval (DefaultInterval when 0). On a hard-limit
// crossing it writes 1 to the cgroup's cgroup.kill and reports
// Killed=false.
func NewProc(interval time.Duration) Monitor {
	return newProc(interval)
}

func newProc(interval time.Duration) *procMonitor {
	if interval <= 0 {
		interval = DefaultInterval
	}
	m := &procMonitor{
		interval: interval,
		watched:  make(map[uint64]*procWatch),
		events:   make(chan Event, 128),
		done:     make(chan struct{}),
	}
	m.stopped.Add(1)
	go m.poll()
	return m
}

func (m *procMonitor) Kind() string { return "proc" }

func (m *procMonitor) Describe() string {
	s := "proc: "
	if m.reason != "" {
		s += m.reason + "; "
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return s + fmt.Sprintf("polling cgroup.procs and /proc/PID/status every %v; watching %d cgroups",
		m.interval, len(m.watched))
}

func (m *procMonitor) Events() <-chan Event { return m.events }

func (m *procMonitor) Watch(cgroup uint64, path string, l Limits) error {
	if _, err := cgroupLevel(cgroup, path); err != nil {
		return fmt.Errorf("watch cgroup %d: %w", cgroup, err)
	}
	rss, err := cgroupRSS(path)
	if err != nil {
		return fmt.Errorf("watch cgroup %d: %w", cgroup, err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return fmt.Errorf("watch cgroup %d: monitor closed", cgroup)
	}
	old := Limits{Soft: NoLimit, Hard: NoLimit}
	if w, ok := m.watched[cgroup]; ok {
		old = w.limits
	}
	m.watched[cgroup] = &procWatch{path: path, limits: l, rss: rss}
	m.handle(cgroup, m.watched[cgroup], limitEvents(cgroup, rss, old, l))
	return nil
}

func (m *procMonitor) SetLimits(cgroup uint64, l Limits) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	w, ok := m.watched[cgroup]
	if !ok {
		return fmt.Errorf("set limits of cgroup %d: %w", cgroup, ErrNotWatched)
	}
	rss, err := cgroupRSS(w.path)
	if err != nil {
		return fmt.Errorf("set limits of cgroup %d: %w", cgroup, err)
	}
	old := w.limits
	w.limits, w.rss = l, rss
	m.handle(cgroup, w, limitEvents(cgroup, rss, old, l))
	return nil
}

func (m *procMonitor) Unwatch(cgroup uint64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.watched[cgroup]; !ok {
		return fmt.Errorf("unwatch cgroup %d: %w", cgroup, ErrNotWatched)
	}
	delete(m.watched, cgroup)
	return nil
}

func (m *procMonitor) RSS(cgroup uint64) (uint64, error) {
	m.mu.Lock()
	w, ok := m.watched[cgroup]
	m.mu.Unlock()
	if !ok {
		return 0, fmt.Errorf("read RSS of cgroup %d: %w", cgroup, ErrNotWatched)
	}
	rss, err := cgroupRSS(w.path)
	if err != nil {
		return 0, fmt.Errorf("read RSS of cgroup %d: %w", cgroup, err)
	}
	return rss, nil
}

func (m *procMonitor) RSSAll() (map[uint64]uint64, error) {
	m.mu.Lock()
	paths := make(map[uint64]string, len(m.watched))
	for cgroup, w := range m.watched {
		paths[cgroup] = w.path
	}
	m.mu.Unlock()
	all := make(map[uint64]uint64, len(paths))
	for cgroup, path := range paths {
		rss, err := cgroupRSS(path)
		if err != nil {
			return nil, fmt.Errorf("read RSS of cgroup %d: %w", cgroup, err)
		}
		all[cgroup] = rss
	}
	return all, nil
}

func (m *procMonitor) Close() error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil
	}
	m.closed = true
	m.mu.Unlock()
	close(m.done)
	m.stopped.Wait()
	m.sendMu.Lock()
	close(m.events)
	m.sendMu.Unlock()
	return nil
}

func (m *procMonitor) poll() {
	defer m.stopped.Done()
	ticker := time.NewTicker(m.interval)
	defer ticker.Stop()
	for {
		select {
		case <-m.done:
			return
		case <-ticker.C:
		}
		m.mu.Lock()
		for id, w := range m.watched {
			rss, err := cgroupRSS(w.path)
			if err != nil {
				// The cgroup was removed before Unwatch; keep the
				// last value.
				continue
			}
			old := w.rss
			w.rss = rss
			m.handle(id, w, crossingEvents(id, old, rss, w.limits))
		}
		m.mu.Unlock()
	}
}

// crossingEvents returns the events due when the RSS of a cgroup rises
// from old to rss under limits l.
func crossingEvents(cgroup, old, rss uint64, l Limits) []Event {
	var evs []Event
	if l.Soft != NoLimit && old <= l.Soft && rss > l.Soft {
		evs = append(evs, Event{Kind: SoftLimit, Cgroup: cgroup, RSS: rss, Limit: l.Soft})
	}
	if l.Hard != NoLimit && old <= l.Hard && rss > l.Hard {
		evs = append(evs, Event{Kind: HardLimit, Cgroup: cgroup, RSS: rss, Limit: l.Hard})
	}
	return evs
}

// handle kills the cgroup when evs contain a HardLimit event and sends
// evs. Callers hold m.mu.
func (m *procMonitor) handle(cgroup uint64, w *procWatch, evs []Event) {
	for _, ev := range evs {
		if ev.Kind == HardLimit {
			// A failed kill (the cgroup is already gone) leaves the
			// decision to the supervisor, which gets the event anyway.
			_ = killCgroup(w.path)
		}
		m.send(ev)
	}
}

func (m *procMonitor) send(ev Event) {
	m.sendMu.RLock()
	defer m.sendMu.RUnlock()
	select {
	case <-m.done:
	default:
		select {
		case m.events <- ev:
		case <-m.done:
		}
	}
}

// cgroupRSS returns the sum of VmRSS of the processes in the cgroup v2
// directory at path, in bytes. A process that shares the address space
// of a parent outside the cgroup is skipped. Such a process is a
// CLONE_VFORK child (os/exec starts every command that way). It sits in
// the container's cgroup through CLONE_INTO_CGROUP, but it runs on the
// supervisor's memory until it calls exec.
func cgroupRSS(path string) (uint64, error) {
	pids, err := cgroupPIDs(path)
	if err != nil {
		return 0, err
	}
	members := make(map[int]bool, len(pids))
	for _, pid := range pids {
		members[pid] = true
	}
	var total uint64
	for _, pid := range pids {
		rss, ppid, err := processRSS(pid)
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, unix.ESRCH) {
			continue // exited since cgroup.procs was read
		}
		if err != nil {
			return 0, err
		}
		if ppid > 0 && !members[ppid] && sameMM(pid, ppid) {
			continue
		}
		total += rss
	}
	return total, nil
}

// processRSS returns VmRSS in bytes and the parent PID of a process.
// Kernel threads have no VmRSS line and count as 0.
func processRSS(pid int) (rss uint64, ppid int, err error) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, 0, err
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := sc.Bytes()
		switch {
		case bytes.HasPrefix(line, []byte("PPid:")):
			ppid, err = strconv.Atoi(string(bytes.TrimSpace(line[len("PPid:"):])))
			if err != nil {
				return 0, 0, fmt.Errorf("parse PPid of process %d: %w", pid, err)
			}
		case bytes.HasPrefix(line, []byte("VmRSS:")):
			// "VmRSS:	   12345 kB"
			fields := bytes.Fields(line[len("VmRSS:"):])
			if len(fields) != 2 || string(fields[1]) != "kB" {
				return 0, 0, fmt.Errorf("parse VmRSS of process %d: unexpected %q", pid, line)
			}
			kb, err := strconv.ParseUint(string(fields[0]), 10, 64)
			if err != nil {
				return 0, 0, fmt.Errorf("parse VmRSS of process %d: %w", pid, err)
			}
			rss = kb << 10
		}
	}
	return rss, ppid, nil
}

// sameMM reports whether two processes share one address space, using
// kcmp(2) with KCMP_VM (needs CONFIG_KCMP). It returns false when kcmp
// fails.
func sameMM(pid1, pid2 int) bool {
	const kcmpVM = 1 // KCMP_VM in include/uapi/linux/kcmp.h
	r, _, errno := unix.Syscall6(unix.SYS_KCMP, uintptr(pid1), uintptr(pid2), kcmpVM, 0, 0, 0)
	return errno == 0 && r == 0
}
