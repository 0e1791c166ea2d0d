package monitor

// Regenerate rss_bpfel.go and rss_bpfel.o after changing bpf/rss.c with
// `go generate ./monitor`. It needs clang and the libbpf headers (Debian
// packages clang, llvm and libbpf-dev); building the package does not.
// -mcpu=v3 enables the atomic fetch-and-add and exchange instructions.
//go:generate go run github.com/cilium/ebpf/cmd/bpf2go -target bpfel -type event -type limits -type mm_entry -type usage -type config rss bpf/rss.c -- -mcpu=v3 -Wall -Werror

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/ringbuf"
	"github.com/cilium/ebpf/rlimit"
	"golang.org/x/sys/unix"
)

// maxCPUs is MAX_CPUS in bpf/rss.c.
const maxCPUs = 4096

// maxWatched is MAX_WATCHED in bpf/rss.c, the number of slots in the
// cgroup_limits and cgroup_usage arrays.
const maxWatched = 4096

// ebpfMonitor is the Monitor built on the kmem/rss_stat tracepoint.
type ebpfMonitor struct {
	objs     rssObjects
	links    []link.Link
	syncIter *link.Iter // sync_mms, also in links
	reader   *ringbuf.Reader
	// ready is a duplicate of the ring buffer's descriptor in Go's
	// network poller, through which readEvents waits for records.
	ready *os.File
	// reason is New's reason for choosing this monitor, shown by
	// Describe. It is empty after NewEBPF.
	reason      string
	pageShift   uint
	marginBytes uint64
	cpus        int

	mu      sync.Mutex // guards watched, the config map and Close
	watched map[uint64]watchedCgroup
	// Slots of the cgroup_limits and cgroup_usage arrays: slotUsed marks
	// the taken ones and nextSlot is where the search for a free one
	// starts.
	slotUsed [maxWatched]bool
	nextSlot uint32
	// gen is the value last written to config_gen. The BPF program drops
	// its per-CPU cache of address spaces when it changes.
	gen    uint64
	closed bool
	// noProcessIter is set once the kernel refused a task iterator
	// limited to one process (before Linux 6.1).
	noProcessIter bool
	// batchKeys and batchEntries are deleteMMs's buffers, guarded by mu.
	batchKeys    []uint64
	batchEntries []rssMmEntry

	events  chan Event
	done    chan struct{}  // closed by Close to stop senders
	sendMu  sync.RWMutex   // held for reading while sending to events
	readerG sync.WaitGroup // the ring buffer reader goroutine
}

type watchedCgroup struct {
	path   string
	level  uint32
	slot   uint32
	limits Limits
}

// NewEBPF loads and attaches the BPF programs. It fails with an error
// wrapping ErrNotSupported when the kernel or the privileges do not allow
// it (needs root or CAP_BPF with CAP_PERFMON, kernel 6.2 or newer with
// BTF).
func NewEBPF() (Monitor, error) {
	if err := rlimit.RemoveMemlock(); err != nil {
		return nil, fmt.Errorf("remove memlock limit: %w: %w", ErrNotSupported, err)
	}
	spec, err := loadRss()
	if err != nil {
		return nil, fmt.Errorf("load BPF spec: %w", err)
	}

	cpus, err := possibleCPUs()
	if err != nil {
		return nil, err
	}
	if cpus > maxCPUs {
		return nil, fmt.Errorf("%w: %d possible CPUs, the BPF program supports %d", ErrNotSupported, cpus, maxCPUs)
	}
	pageShift := uint(0)
	for 1<<pageShift < os.Getpagesize() {
		pageShift++
	}
	marginPages, err := setConstants(spec, cpus, pageShift)
	if err != nil {
		return nil, err
	}

	m := &ebpfMonitor{
		pageShift:   pageShift,
		marginBytes: uint64(marginPages) << pageShift,
		cpus:        cpus,
		watched:     make(map[uint64]watchedCgroup),
		events:      make(chan Event, 128),
		done:        make(chan struct{}),
	}
	if err := spec.LoadAndAssign(&m.objs, nil); err != nil {
		var verr *ebpf.VerifierError
		if errors.As(err, &verr) {
			return nil, fmt.Errorf("load BPF programs: %w: %w", ErrNotSupported, verboseVerifierError{verr})
		}
		return nil, fmt.Errorf("load BPF programs: %w: %w", ErrNotSupported, err)
	}
	if err := m.attach(); err != nil {
		m.closeKernelObjects()
		return nil, err
	}
	m.readerG.Add(1)
	go m.readEvents()
	return m, nil
}

// verboseVerifierError prints the whole log of the verifier error it
// wraps, where VerifierError.Error gives only its last lines.
type verboseVerifierError struct{ err *ebpf.VerifierError }

func (e verboseVerifierError) Error() string { return fmt.Sprintf("%+v", e.err) }
func (e verboseVerifierError) Unwrap() error { return e.err }

// setConstants sets the constants of the BPF object for a machine with
// cpus possible CPUs and pages of 1<<pageShift bytes, and returns the
// exact margin in pages.
func setConstants(spec *ebpf.CollectionSpec, cpus int, pageShift uint) (int64, error) {
	// The kernel's percpu_counter_batch is max(32, 2 * online CPUs), and
	// every per-CPU slot of a counter stays below it in absolute value.
	// Possible CPUs bound online CPUs, so this margin covers hotplug.
	batch := max(32, 2*cpus)
	marginPages := int64(3 * batch * cpus)
	constants := map[string]any{
		"page_shift":         uint32(pageShift),
		"nr_cpus":            uint32(cpus),
		"exact_margin_pages": marginPages,
	}
	for name, value := range constants {
		v, ok := spec.Variables[name]
		if !ok {
			return 0, fmt.Errorf("set BPF constant %s: not found in the object", name)
		}
		if err := v.Set(value); err != nil {
			return 0, fmt.Errorf("set BPF constant %s: %w", name, err)
		}
	}
	return marginPages, nil
}

func (m *ebpfMonitor) attach() error {
	rss, err := link.AttachTracing(link.TracingOptions{Program: m.objs.OnRssStat})
	if err != nil {
		return fmt.Errorf("attach tp_btf/rss_stat: %w: %w", ErrNotSupported, err)
	}
	m.links = append(m.links, rss)
	attach, err := link.AttachTracing(link.TracingOptions{Program: m.objs.OnCgroupAttach})
	if err != nil {
		return fmt.Errorf("attach tp_btf/cgroup_attach_task: %w: %w", ErrNotSupported, err)
	}
	m.links = append(m.links, attach)
	m.syncIter, err = link.AttachIter(link.IterOptions{Program: m.objs.SyncMms})
	if err != nil {
		return fmt.Errorf("attach task iterator: %w: %w", ErrNotSupported, err)
	}
	m.links = append(m.links, m.syncIter)
	m.reader, err = ringbuf.NewReader(m.objs.Events)
	if err != nil {
		return fmt.Errorf("open ring buffer: %w: %w", ErrNotSupported, err)
	}
	// A deadline in the past makes the reader return at once when the
	// ring is empty; readEvents waits in Go's network poller instead.
	m.reader.SetDeadline(time.Unix(1, 0))
	fd, err := unix.FcntlInt(uintptr(m.objs.Events.FD()), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("duplicate ring buffer descriptor: %w", err)
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return fmt.Errorf("set ring buffer descriptor nonblocking: %w", err)
	}
	m.ready = os.NewFile(uintptr(fd), "events ring buffer")
	// Deadlines work only on descriptors in the poller. Ring buffers can
	// be polled since Linux 5.8, and the program needs 6.2.
	if err := m.ready.SetReadDeadline(time.Time{}); err != nil {
		return fmt.Errorf("poll ring buffer: %w: %w", ErrNotSupported, err)
	}
	return nil
}

// possibleCPUs returns nr_cpu_ids, the highest possible CPU number plus
// one, from /sys/devices/system/cpu/possible (for example "0-3").
func possibleCPUs() (int, error) {
	const path = "/sys/devices/system/cpu/possible"
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, fmt.Errorf("read possible CPUs: %w", err)
	}
	highest := -1
	for _, part := range strings.Split(strings.TrimSpace(string(data)), ",") {
		_, last, _ := strings.Cut(part, "-")
		if last == "" {
			last = part
		}
		n, err := strconv.Atoi(last)
		if err != nil {
			return 0, fmt.Errorf("parse %s %q: %w", path, data, err)
		}
		highest = max(highest, n)
	}
	if highest < 0 {
		return 0, fmt.Errorf("parse %s: no CPUs in %q", path, data)
	}
	return highest + 1, nil
}

func (m *ebpfMonitor) Kind() string { return "ebpf" }

func (m *ebpfMonitor) Describe() string {
	s := "ebpf: "
	if m.reason != "" {
		s += m.reason + "; "
	}
	s += fmt.Sprintf("limits checked at every change of a process's RSS (tp_btf/rss_stat); "+
		"exact within %d KiB of a limit per process of a container, approximate farther away (%d possible CPUs)",
		m.marginBytes>>10, m.cpus)
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return s + "; closed"
	}
	var lost uint64
	if v := m.objs.LostEvents; v != nil && v.Get(&lost) == nil && lost > 0 {
		s += fmt.Sprintf("; %d events dropped because the ring buffer was full", lost)
	}
	return s + fmt.Sprintf("; watching %d cgroups, %d slot entries, %d address spaces",
		len(m.watched), countEntries(m.objs.CgroupSlots), countEntries(m.objs.Mms))
}

// countEntries returns the number of entries of a hash map, so that a
// leak of map entries shows in Describe.
func countEntries(m *ebpf.Map) int {
	var key, value []byte
	n := 0
	for it := m.Iterate(); it.Next(&key, &value); {
		n++
	}
	return n
}

func (m *ebpfMonitor) Events() <-chan Event { return m.events }

func (m *ebpfMonitor) Watch(cgroup uint64, path string, l Limits) error {
	level, err := cgroupLevel(cgroup, path)
	if err != nil {
		return fmt.Errorf("watch cgroup %d: %w", cgroup, err)
	}

	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return fmt.Errorf("watch cgroup %d: monitor closed", cgroup)
	}
	if w, ok := m.watched[cgroup]; ok {
		// Watching a watched cgroup again replaces its limits and keeps
		// its usage.
		if err := m.objs.CgroupLimits.Put(w.slot, limitsValue(cgroup, l, level)); err != nil {
			return fmt.Errorf("watch cgroup %d: update limits map: %w", cgroup, err)
		}
		m.watched[cgroup] = watchedCgroup{path: path, level: level, slot: w.slot, limits: l}
	} else {
		slot, err := m.claimSlot(cgroup, l, level)
		if err != nil {
			return fmt.Errorf("watch cgroup %d: %w", cgroup, err)
		}
		m.watched[cgroup] = watchedCgroup{path: path, level: level, slot: slot, limits: l}
	}
	if err := m.writeConfig(); err != nil {
		return fmt.Errorf("watch cgroup %d: %w", cgroup, err)
	}
	// The BPF program finds the cgroup in its maps from here on and
	// charges each process that enters it from its next rss_stat event.
	// Only processes already in it need a sync, so an empty cgroup is
	// spared it.
	if populated(path) {
		if err := m.syncCgroup(path); err != nil {
			return fmt.Errorf("watch cgroup %d: %w", cgroup, err)
		}
	}
	return nil
}

// populated reports whether the cgroup v2 directory path or a
// descendant holds a process, from its cgroup.events file. It returns
// true when the file cannot be read.
func populated(path string) bool {
	data, err := os.ReadFile(path + "/cgroup.events")
	if err != nil {
		return true
	}
	for _, line := range strings.Split(string(data), "\n") {
		if value, ok := strings.CutPrefix(line, "populated "); ok {
			return value != "0"
		}
	}
	return true
}

func limitsValue(cgroup uint64, l Limits, level uint32) rssLimits {
	return rssLimits{Cgroup: cgroup, Soft: l.Soft, Hard: l.Hard, Level: level}
}

// claimSlot takes a free slot for cgroup, fills its limits and usage and
// then adds cgroup to cgroup_slots, so that the BPF program never finds
// a slot that is not set up. The search starts after the last slot
// taken: a slot freed by Unwatch is reused as late as possible, because
// an event that read the old owner of the slot just before Unwatch can
// still add to its usage. Callers hold m.mu.
func (m *ebpfMonitor) claimSlot(cgroup uint64, l Limits, level uint32) (uint32, error) {
	slot, found := uint32(0), false
	for i := range uint32(maxWatched) {
		slot = (m.nextSlot + i) % maxWatched
		if !m.slotUsed[slot] {
			found = true
			break
		}
	}
	if !found {
		return 0, fmt.Errorf("%d cgroups watched already, the maximum", maxWatched)
	}
	if err := m.objs.CgroupUsage.Put(slot, rssUsage{}); err != nil {
		return 0, fmt.Errorf("update usage map: %w", err)
	}
	if err := m.objs.CgroupLimits.Put(slot, limitsValue(cgroup, l, level)); err != nil {
		return 0, fmt.Errorf("update limits map: %w", err)
	}
	if err := m.objs.CgroupSlots.Put(cgroup, slot); err != nil {
		m.objs.CgroupLimits.Put(slot, rssLimits{})
		return 0, fmt.Errorf("update slot map: %w", err)
	}
	m.slotUsed[slot] = true
	m.nextSlot = (slot + 1) % maxWatched
	return slot, nil
}

// writeConfig stores the number of watched cgroups and their depths,
// which the BPF program reads before any other work, with a new
// generation. It is called after every change of the other maps, so that
// the program stops using what it cached about address spaces before the
// change. Callers hold m.mu.
func (m *ebpfMonitor) writeConfig() error {
	var cfg rssConfig
	for _, w := range m.watched {
		cfg.Watched++
		cfg.LevelMask |= 1 << w.level
	}
	if err := m.objs.WatchConfig.Put(uint32(0), cfg); err != nil {
		return fmt.Errorf("update config map: %w", err)
	}
	m.gen++
	if err := m.objs.ConfigGen.Set(m.gen); err != nil {
		return fmt.Errorf("update cache generation: %w", err)
	}
	return nil
}

// syncMMs runs the task iterator sync_mms, which charges the processes
// already in watched cgroups and replaces the charged values of every
// address space of watched cgroups with exact per-CPU sums. It walks all
// tasks of the host. Callers hold m.mu.
func (m *ebpfMonitor) syncMMs() error {
	r, err := m.syncIter.Open()
	if err != nil {
		return fmt.Errorf("open task iterator: %w", err)
	}
	defer r.Close()
	if _, err := io.Copy(io.Discard, r); err != nil {
		return fmt.Errorf("run task iterator: %w", err)
	}
	return nil
}

func (m *ebpfMonitor) SetLimits(cgroup uint64, l Limits) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	w, ok := m.watched[cgroup]
	if !ok {
		return fmt.Errorf("set limits of cgroup %d: %w", cgroup, ErrNotWatched)
	}
	// The exact re-sync runs before the new limits are in place, so a
	// crossing it finds is reported once, against the old limits, and
	// the comparison below starts from exact values.
	if err := m.syncCgroup(w.path); err != nil {
		return fmt.Errorf("set limits of cgroup %d: %w", cgroup, err)
	}
	if err := m.objs.CgroupLimits.Put(w.slot, limitsValue(cgroup, l, w.level)); err != nil {
		return fmt.Errorf("set limits of cgroup %d: update limits map: %w", cgroup, err)
	}
	if err := m.writeConfig(); err != nil {
		return fmt.Errorf("set limits of cgroup %d: %w", cgroup, err)
	}
	old := w.limits
	w.limits = l
	m.watched[cgroup] = w

	rss, err := m.rss(w.slot)
	if err != nil {
		return fmt.Errorf("set limits of cgroup %d: %w", cgroup, err)
	}
	// The BPF program reports a crossing only when the charged RSS rises,
	// on an allocation or in syncMMs. A lowered limit that the RSS
	// already exceeds is reported here.
	// NOTE: an allocation that crosses the new limit between the map
	// update and the read above is reported twice.
	for _, ev := range limitEvents(cgroup, rss, old, l) {
		m.send(ev)
	}
	return nil
}

// limitEvents returns the events due when the limits of a cgroup with
// the given RSS change from old to new: one for each limit that rss
// exceeds now but did not exceed before.
func limitEvents(cgroup, rss uint64, old, new Limits) []Event {
	var evs []Event
	if new.Soft != NoLimit && rss > new.Soft && (old.Soft == NoLimit || rss <= old.Soft) {
		evs = append(evs, Event{Kind: SoftLimit, Cgroup: cgroup, RSS: rss, Limit: new.Soft})
	}
	if new.Hard != NoLimit && rss > new.Hard && (old.Hard == NoLimit || rss <= old.Hard) {
		evs = append(evs, Event{Kind: HardLimit, Cgroup: cgroup, RSS: rss, Limit: new.Hard})
	}
	return evs
}

func (m *ebpfMonitor) Unwatch(cgroup uint64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	w, ok := m.watched[cgroup]
	if !ok {
		return fmt.Errorf("unwatch cgroup %d: %w", cgroup, ErrNotWatched)
	}
	delete(m.watched, cgroup)
	var errs []error
	if err := m.writeConfig(); err != nil {
		errs = append(errs, err)
	}
	if err := m.objs.CgroupSlots.Delete(cgroup); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
		errs = append(errs, fmt.Errorf("delete from slot map: %w", err))
	}
	// A limits value with cgroup 0 marks the slot free, and the program
	// drops the mm entries that still point to it.
	if err := m.objs.CgroupLimits.Put(w.slot, rssLimits{}); err != nil {
		errs = append(errs, fmt.Errorf("clear limits map: %w", err))
	}
	if err := m.objs.CgroupUsage.Put(w.slot, rssUsage{}); err != nil {
		errs = append(errs, fmt.Errorf("clear usage map: %w", err))
	}
	m.slotUsed[w.slot] = false
	// The program stops adding entries for the cgroup once its slot entry
	// is gone, but an event already past that check can still add one,
	// so the sweep runs twice.
	for range 2 {
		if err := m.deleteMMs(cgroup); err != nil {
			errs = append(errs, err)
		}
	}
	// A new generation again now that the slot is free, because the
	// program may have cached the slot for an address space in between.
	if err := m.writeConfig(); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("unwatch cgroup %d: %w", cgroup, err)
	}
	return nil
}

// mmBatch is the number of mm map entries that deleteMMs reads per
// system call.
const mmBatch = 1024

// deleteMMs removes the entries of all address spaces charged to cgroup.
// It reads the map in batches: one lookup and one next-key call per
// entry made each Unwatch cost four system calls per mm of every other
// container, and removing 1,000 containers took seconds. Callers hold
// m.mu, which guards the buffers.
func (m *ebpfMonitor) deleteMMs(cgroup uint64) error {
	if m.batchKeys == nil {
		m.batchKeys = make([]uint64, mmBatch)
		m.batchEntries = make([]rssMmEntry, mmBatch)
	}
	var (
		cursor ebpf.MapBatchCursor
		found  []uint64
	)
	for {
		n, err := m.objs.Mms.BatchLookup(&cursor, m.batchKeys, m.batchEntries, nil)
		for i := range n {
			if m.batchEntries[i].Cgroup == cgroup {
				found = append(found, m.batchKeys[i])
			}
		}
		if errors.Is(err, ebpf.ErrKeyNotExist) {
			break
		}
		if err != nil {
			return fmt.Errorf("read mm map: %w", err)
		}
	}
	for _, k := range found {
		if err := m.objs.Mms.Delete(k); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
			return fmt.Errorf("delete from mm map: %w", err)
		}
	}
	return nil
}

func (m *ebpfMonitor) RSS(cgroup uint64) (uint64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	w, ok := m.watched[cgroup]
	if !ok {
		return 0, fmt.Errorf("read RSS of cgroup %d: %w", cgroup, ErrNotWatched)
	}
	// Away from limits the BPF program charges fbc->count of each mm
	// counter, which lags the exact value by up to percpu_counter_batch
	// pages per CPU and counter (768 KiB per process with 2 possible
	// CPUs), and an idle process keeps that lag. VmRSS has been the exact
	// per-CPU sum since Linux 6.16 (commit 82241a83cd15, also in stable
	// kernels), so a shell with a few children read 2% below the sum of
	// their VmRSS. Exact sums on every page fault would cost each fault
	// O(possible CPUs) reads. syncCgroup re-reads the exact sums of every
	// mm of the cgroup once per call instead, and RSS returns their total.
	if err := m.syncCgroup(w.path); err != nil {
		return 0, fmt.Errorf("read RSS of cgroup %d: %w", cgroup, err)
	}
	rss, err := m.rss(w.slot)
	if err != nil {
		return 0, fmt.Errorf("read RSS of cgroup %d: %w", cgroup, err)
	}
	return rss, nil
}

func (m *ebpfMonitor) RSSAll() (map[uint64]uint64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.syncMMs(); err != nil {
		return nil, fmt.Errorf("read RSS of watched cgroups: %w", err)
	}
	all := make(map[uint64]uint64, len(m.watched))
	for cgroup, w := range m.watched {
		rss, err := m.rss(w.slot)
		if err != nil {
			return nil, fmt.Errorf("read RSS of cgroup %d: %w", cgroup, err)
		}
		all[cgroup] = rss
	}
	return all, nil
}

// rss returns the charged RSS of the cgroup in slot.
func (m *ebpfMonitor) rss(slot uint32) (uint64, error) {
	var use rssUsage
	if err := m.objs.CgroupUsage.Lookup(slot, &use); err != nil {
		return 0, fmt.Errorf("look up usage map: %w", err)
	}
	if use.Pages <= 0 {
		return 0, nil
	}
	return uint64(use.Pages) << m.pageShift, nil
}

// readEvents copies ring buffer records to the events channel until the
// monitor is closed.
//
// It waits for records in Go's network poller, not in the blocking
// epoll_wait of ringbuf.Reader. There a record woke a thread parked in a
// system call, which then had to win a processor back from the
// scheduler: about 14 context switches per event on a 2-CPU VM, against
// 8 here. Part of that cost falls on the process whose page fault
// submitted the record, because the wakeup runs in its context.
func (m *ebpfMonitor) readEvents() {
	defer m.readerG.Done()
	conn, err := m.ready.SyscallConn()
	if err != nil {
		return
	}
	// Read returns once the callback returns true, which it does when
	// the reader fails, or when Close closed the descriptor while it
	// waited.
	conn.Read(func(uintptr) bool {
		err := m.drain()
		// Empty: wait until the descriptor is readable.
		return !errors.Is(err, os.ErrDeadlineExceeded)
	})
}

// drain sends every record in the ring buffer to the events channel and
// returns the reader's error that ended it: os.ErrDeadlineExceeded when
// the ring is empty and the reader does not wait.
func (m *ebpfMonitor) drain() error {
	var rec ringbuf.Record
	var raw rssEvent
	for {
		if err := m.reader.ReadInto(&rec); err != nil {
			return err
		}
		if err := binary.Read(bytes.NewReader(rec.RawSample), binary.NativeEndian, &raw); err != nil {
			continue
		}
		kind := SoftLimit
		if raw.Kind == 1 {
			kind = HardLimit
		}
		m.send(Event{
			Kind:   kind,
			Cgroup: raw.Cgroup,
			RSS:    raw.Rss,
			Limit:  raw.Limit,
			PID:    int(raw.Pid),
			Killed: raw.Killed != 0,
		})
	}
}

func (m *ebpfMonitor) send(ev Event) {
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

func (m *ebpfMonitor) Close() error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil
	}
	m.closed = true
	m.mu.Unlock()

	close(m.done)
	err := m.closeKernelObjects()
	m.readerG.Wait()
	m.sendMu.Lock()
	close(m.events)
	m.sendMu.Unlock()
	return err
}

// closeKernelObjects detaches the programs and closes the ring buffer
// reader and all maps and programs.
func (m *ebpfMonitor) closeKernelObjects() error {
	var errs []error
	for _, l := range m.links {
		if err := l.Close(); err != nil {
			errs = append(errs, fmt.Errorf("detach program: %w", err))
		}
	}
	m.links = nil
	if m.ready != nil {
		if err := m.ready.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close ring buffer descriptor: %w", err))
		}
	}
	if m.reader != nil {
		if err := m.reader.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close ring buffer reader: %w", err))
		}
	}
	if err := m.objs.Close(); err != nil {
		errs = append(errs, fmt.Errorf("close BPF objects: %w", err))
	}
	return errors.Join(errs...)
}
