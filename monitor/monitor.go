// Package monitor measures the resident memory (RSS) of containers, one
// cgroup v2 directory each, and reports soft and hard limit crossings.
//
// Two implementations share the Monitor interface. The eBPF monitor
// (NewEBPF) counts every change of the kernel's per-mm RSS counters on the
// kmem/rss_stat tracepoint and kills the allocating process from BPF when
// a hard limit is crossed. The /proc monitor (NewProc) polls cgroup.procs
// and /proc/PID/status and kills through cgroup.kill, so it overshoots by
// what the container allocates in one polling interval.
package monitor

import (
	"errors"
	"fmt"
	"math"
	"time"
)

// ErrNotSupported is wrapped by NewEBPF when BPF programs cannot be loaded
// or attached on this kernel or with these privileges.
var ErrNotSupported = errors.New("eBPF memory monitor not supported")

// NoLimit disables a limit. It is the value the runtime uses for "max".
// Zero is a real limit of zero bytes.
const NoLimit = math.MaxUint64

// Limits are RSS limits in bytes. A field equal to NoLimit disables that
// limit.
type Limits struct {
	Soft, Hard uint64
}

// EventKind is the limit an Event reports.
type EventKind int

const (
	// SoftLimit: the RSS rose above the soft limit. It is reported once
	// per upward crossing and again only after the RSS fell back to or
	// below the limit.
	SoftLimit EventKind = iota
	// HardLimit: the RSS rose above the hard limit, or SetLimits lowered
	// the hard limit below the current RSS.
	HardLimit
)

func (k EventKind) String() string {
	switch k {
	case SoftLimit:
		return "soft"
	case HardLimit:
		return "hard"
	default:
		return fmt.Sprintf("EventKind(%d)", int(k))
	}
}

// Event reports a limit crossing.
type Event struct {
	Kind   EventKind
	Cgroup uint64 // cgroup id (inode number of the cgroup v2 directory)
	RSS    uint64 // bytes, at the crossing
	Limit  uint64 // bytes, the limit that was crossed
	// PID of the process that allocated the page which crossed the
	// limit, or 0 when unknown (remote updates, SetLimits, the /proc
	// monitor).
	PID int
	// Killed reports that the eBPF monitor already sent SIGKILL to PID.
	// Other processes of the container still run.
	Killed bool
}

// Monitor tracks the RSS of watched cgroups.
//
// RSS is the sum over the container's address spaces (mm_struct) of file,
// anonymous and shared-memory resident pages, which is the sum of VmRSS
// of its processes: a page mapped by two processes counts twice, swap
// does not count.
//
// Division of work on a hard limit: the monitor sends one HardLimit event
// per crossing. The eBPF monitor also sends SIGKILL to the allocating
// process when it can (Event.Killed); the /proc monitor writes 1 to the
// cgroup's cgroup.kill itself and reports Killed=false. Either way the
// supervisor is expected to write 1 to cgroup.kill for the rest of the
// container on every HardLimit event. The monitor never signals a process
// outside the watched cgroup.
//
// Methods may be called from several goroutines.
type Monitor interface {
	// Watch starts accounting the cgroup with id cgroup, whose cgroup v2
	// directory is path. Processes already in it are counted. A cgroup
	// already watched gets the new limits.
	Watch(cgroup uint64, path string, l Limits) error
	// SetLimits replaces the limits at once. Afterwards the monitor
	// compares the current RSS with the new limits and sends a SoftLimit
	// or HardLimit event for each limit that is now exceeded but was not
	// before. A hard limit below the current RSS therefore produces a
	// HardLimit event with Killed=false at once.
	SetLimits(cgroup uint64, l Limits) error
	// Unwatch stops accounting the cgroup and removes all its state.
	Unwatch(cgroup uint64) error
	// RSS returns the current RSS of a watched cgroup in bytes.
	RSS(cgroup uint64) (uint64, error)
	// RSSAll returns the current RSS in bytes of every watched cgroup,
	// by cgroup id. The eBPF monitor re-reads the exact counters once for
	// all of them, where RSS re-reads them for each call.
	RSSAll() (map[uint64]uint64, error)
	// Events returns the channel of limit events. It is closed by Close.
	// A slow reader delays later events. The eBPF monitor drops events
	// when its 256 KiB ring buffer fills up, and Describe then shows the
	// count.
	Events() <-chan Event
	// Kind returns "ebpf" or "proc".
	Kind() string
	// Describe returns one line: the kind, then why it was chosen and
	// how it measures.
	Describe() string
	// Close stops the monitor. The eBPF monitor detaches its programs
	// and closes its maps, so nothing of it stays in the kernel.
	Close() error
}

// ErrNotWatched is returned for a cgroup id that Watch has not added.
var ErrNotWatched = errors.New("cgroup not watched")

// DefaultInterval is the polling interval of the /proc monitor when
// none is given.
const DefaultInterval = 10 * time.Millisecond

// New returns a monitor of the given kind: "ebpf", "proc", or "" for
// eBPF with a fallback to /proc polling when BPF cannot be loaded.
// Describe reports which of these chose the monitor, and the reason for
// a fallback. interval is the polling
// interval of the /proc monitor; 0 means DefaultInterval.
func New(kind string, interval time.Duration) (Monitor, error) {
	switch kind {
	case "ebpf":
		m, err := NewEBPF()
		if err != nil {
			return nil, err
		}
		m.(*ebpfMonitor).reason = "asked for"
		return m, nil
	case "proc":
		p := newProc(interval)
		p.reason = "asked for"
		return p, nil
	case "":
		m, err := NewEBPF()
		if err == nil {
			m.(*ebpfMonitor).reason = "the default, BPF loaded"
			return m, nil
		}
		if !errors.Is(err, ErrNotSupported) {
			return nil, err
		}
		p := newProc(interval)
		p.reason = "BPF unavailable: " + err.Error()
		return p, nil
	default:
		return nil, fmt.Errorf("create monitor: invalid kind %q (expected \"ebpf\", \"proc\" or empty)", kind)
	}
}
