package monitor

import (
	"errors"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
)

const (
	mib = 1 << 20
	kib = 1 << 10
)

// kindCase describes how strict the tests are for one monitor kind.
type kindCase struct {
	name string
	open func(tb testing.TB) Monitor
	// settle is how long the monitor needs to notice a change.
	settle time.Duration
	// maxOvershoot bounds Event.RSS minus the hard limit.
	maxOvershoot uint64
	// killsAllocator is true when the monitor itself sends SIGKILL to
	// the allocating process.
	killsAllocator bool
}

var kinds = []kindCase{
	{
		name:           "ebpf",
		open:           openEBPF,
		settle:         50 * time.Millisecond,
		maxOvershoot:   64 * kib,
		killsAllocator: true,
	},
	{
		name:   "proc",
		open:   func(tb testing.TB) Monitor { return openMonitor(tb, NewProc(10*time.Millisecond)) },
		settle: 100 * time.Millisecond,
		// 10ms at a few GiB/s, plus scheduling delays.
		maxOvershoot: 256 * mib,
	},
}

// skipUnsupported skips the test when err reports that this kernel cannot
// run the eBPF monitor. A program that the verifier rejects is a bug in
// the program, not a missing kernel feature, so it fails the test.
func skipUnsupported(tb testing.TB, err error) {
	tb.Helper()
	var verr *ebpf.VerifierError
	if errors.As(err, &verr) {
		tb.Fatalf("the verifier rejected the monitor's program: %v", err)
	}
	if errors.Is(err, ErrNotSupported) {
		tb.Skipf("eBPF monitor not supported here: %v", err)
	}
}

func openEBPF(tb testing.TB) Monitor {
	tb.Helper()
	requireRoot(tb)
	m, err := NewEBPF()
	skipUnsupported(tb, err)
	if err != nil {
		tb.Fatal(err)
	}
	return openMonitor(tb, m)
}

func openMonitor(tb testing.TB, m Monitor) Monitor {
	tb.Cleanup(func() {
		if err := m.Close(); err != nil {
			tb.Errorf("close monitor: %v", err)
		}
	})
	return m
}

func forEachKind(t *testing.T, test func(t *testing.T, k kindCase)) {
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			requireRoot(t)
			test(t, k)
		})
	}
}

var noLimits = Limits{Soft: NoLimit, Hard: NoLimit}

// nextEvent waits up to timeout for an event.
func nextEvent(t *testing.T, m Monitor, timeout time.Duration) (Event, bool) {
	t.Helper()
	select {
	case ev, ok := <-m.Events():
		if !ok {
			t.Fatal("events channel closed")
		}
		return ev, true
	case <-time.After(timeout):
		return Event{}, false
	}
}

// drainEvents collects the events that arrive within d or until the
// channel is closed.
func drainEvents(m Monitor, d time.Duration) []Event {
	var evs []Event
	timeout := time.After(d)
	for {
		select {
		case ev, ok := <-m.Events():
			if !ok {
				return evs
			}
			evs = append(evs, ev)
		case <-timeout:
			return evs
		}
	}
}

func TestRSSMatchesVmRSS(t *testing.T) {
	forEachKind(t, func(t *testing.T, k kindCase) {
		m := k.open(t)
		cg := newCgroup(t)
		h := startHelper(t, cg, helperSteps, "")
		// Memory allocated before Watch must be counted too.
		h.setResident(t, 48*mib)
		if err := m.Watch(cg.id, cg.path, noLimits); err != nil {
			t.Fatal(err)
		}
		checkRSS(t, m, cg)

		h.setResident(t, 96*mib)
		time.Sleep(k.settle)
		checkRSS(t, m, cg)

		h.setResident(t, 8*mib)
		time.Sleep(k.settle)
		checkRSS(t, m, cg)
	})
}

// checkRSS compares the RSS of the cgroup with the sum of VmRSS of its
// processes and returns the RSS.
func checkRSS(t *testing.T, m Monitor, cg testCgroup) uint64 {
	t.Helper()
	got, err := m.RSS(cg.id)
	if err != nil {
		t.Fatal(err)
	}
	want := sumVmRSS(t, cg)
	diff := int64(got) - int64(want)
	if diff < 0 {
		diff = -diff
	}
	if uint64(diff)*100 > want {
		t.Errorf("RSS = %d KiB, sum of VmRSS = %d KiB: more than 1%% apart", got/kib, want/kib)
	}
	return got
}

func TestRSSAllMatchesVmRSS(t *testing.T) {
	forEachKind(t, func(t *testing.T, k kindCase) {
		m := k.open(t)
		sizes := []int{16 * mib, 40 * mib, 0}
		var cgs []testCgroup
		for _, size := range sizes {
			cg := newCgroup(t)
			if err := m.Watch(cg.id, cg.path, noLimits); err != nil {
				t.Fatal(err)
			}
			if size > 0 {
				startHelper(t, cg, helperSteps, "").setResident(t, size)
			}
			cgs = append(cgs, cg)
		}
		time.Sleep(k.settle)
		all, err := m.RSSAll()
		if err != nil {
			t.Fatal(err)
		}
		if len(all) != len(cgs) {
			t.Errorf("RSSAll returned %d cgroups, expected %d", len(all), len(cgs))
		}
		for i, cg := range cgs {
			got, ok := all[cg.id]
			if !ok {
				t.Errorf("RSSAll lacks cgroup %d", cg.id)
				continue
			}
			want := sumVmRSS(t, cg)
			diff := int64(got) - int64(want)
			if diff < 0 {
				diff = -diff
			}
			if uint64(diff)*100 > want {
				t.Errorf("cgroup %d holding %d KiB: RSSAll = %d KiB, sum of VmRSS = %d KiB: more than 1%% apart",
					i, sizes[i]/kib, got/kib, want/kib)
			}
		}
	})
}

func TestRSSSumsProcesses(t *testing.T) {
	if _, err := exec.LookPath("sleep"); err != nil {
		t.Skipf("needs sleep(1): %v", err)
	}
	forEachKind(t, func(t *testing.T, k kindCase) {
		m := k.open(t)
		cg := newCgroup(t)
		if err := m.Watch(cg.id, cg.path, noLimits); err != nil {
			t.Fatal(err)
		}
		// A shell with two idle children and a third that holds memory,
		// like the process tree of a container. Small idle processes are
		// where approximate per-CPU counters are furthest off.
		h := startShell(t, cg, `sleep 3600 & sleep 3600 & "$0" -test.run=^$ steps; sleep 3600`)
		const held = 32 * mib
		h.setResident(t, held)
		waitForCommand(t, cg, "sleep", 2)
		time.Sleep(k.settle)
		before := checkRSS(t, m, cg)

		// exec releases the helper's address space, buffer included, and
		// charges the much smaller one of sleep.
		h.execSleep(t)
		waitForCommand(t, cg, "sleep", 3)
		time.Sleep(k.settle)
		after := checkRSS(t, m, cg)
		if after+held > before {
			t.Errorf("RSS = %d KiB after exec, %d KiB before: expected a drop of at least the %d KiB the helper held",
				after/kib, before/kib, held/kib)
		}
		t.Logf("%s: RSS %d KiB before exec, %d KiB after", k.name, before/kib, after/kib)
	})
}

func TestHardLimitKills(t *testing.T) {
	forEachKind(t, func(t *testing.T, k kindCase) {
		m := k.open(t)
		cg := newCgroup(t)
		const limit = 64 * mib
		if err := m.Watch(cg.id, cg.path, Limits{Soft: NoLimit, Hard: limit}); err != nil {
			t.Fatal(err)
		}
		// A process outside the cgroup that holds memory must survive.
		bystander := startHelper(t, testCgroup{}, helperSteps, "")
		bystander.setResident(t, 96*mib)

		hog := startHelper(t, cg, helperHog, "1000000000")
		ev, ok := nextEvent(t, m, 10*time.Second)
		if !ok {
			t.Fatal("no event within 10s")
		}
		if ev.Kind != HardLimit {
			t.Errorf("event kind = %v, expected hard", ev.Kind)
		}
		if ev.Cgroup != cg.id {
			t.Errorf("event cgroup = %d, expected %d", ev.Cgroup, cg.id)
		}
		if ev.Limit != limit {
			t.Errorf("event limit = %d, expected %d", ev.Limit, limit)
		}
		if ev.RSS <= limit {
			t.Errorf("event RSS = %d, expected above the limit %d", ev.RSS, limit)
		}
		if over := ev.RSS - limit; over > k.maxOvershoot {
			t.Errorf("event RSS exceeds the limit by %d KiB, expected at most %d KiB", over/kib, k.maxOvershoot/kib)
		}
		t.Logf("%s: overshoot %d KiB, killed=%v", k.name, (ev.RSS-limit)/kib, ev.Killed)
		if k.killsAllocator {
			if !ev.Killed {
				t.Error("event Killed = false, expected the BPF program to kill the allocator")
			}
			if ev.PID != hog.cmd.Process.Pid {
				t.Errorf("event PID = %d, expected the allocator %d", ev.PID, hog.cmd.Process.Pid)
			}
		} else if ev.Killed {
			t.Error("event Killed = true, expected false from a monitor that kills through cgroup.kill")
		}

		status := hog.waitExit(t, 5*time.Second)
		if !status.Signaled() || status.Signal() != syscall.SIGKILL {
			t.Errorf("allocator exit status = %v, expected killed by SIGKILL", status)
		}
		if !bystander.alive() {
			t.Error("process outside the cgroup was killed")
		}
		bystander.setResident(t, 0)
	})
}

func TestSoftLimitOncePerCrossing(t *testing.T) {
	forEachKind(t, func(t *testing.T, k kindCase) {
		m := k.open(t)
		cg := newCgroup(t)
		const soft = 32 * mib
		if err := m.Watch(cg.id, cg.path, Limits{Soft: soft, Hard: NoLimit}); err != nil {
			t.Fatal(err)
		}
		h := startHelper(t, cg, helperSteps, "")
		// The cgroup's RSS is the size set plus the helper's own, about
		// 8.5 MiB: the test binary and the Go runtime.
		steps := []softStep{
			{40 * mib, 1}, // crosses
			{48 * mib, 0}, // stays above
			{8 * mib, 0},  // falls below, re-arms
			{12 * mib, 0}, // still below
			{40 * mib, 1}, // crosses again
		}
		checkSoftSteps(t, m, h, k.settle, soft, steps)
		if !h.alive() {
			t.Error("soft limit killed the process")
		}
	})
}

// TestSoftLimitSmallSteps moves the RSS of one process a few pages
// across a soft limit and back, inside the zone where the eBPF monitor
// takes exact sums, and expects one event per upward crossing, each with
// the RSS above the limit.
func TestSoftLimitSmallSteps(t *testing.T) {
	forEachKind(t, func(t *testing.T, k kindCase) {
		m := k.open(t)
		cg := newCgroup(t)
		if err := m.Watch(cg.id, cg.path, noLimits); err != nil {
			t.Fatal(err)
		}
		h := startHelper(t, cg, helperSteps, "")
		h.setResident(t, 0)
		base, err := m.RSS(cg.id)
		if err != nil {
			t.Fatal(err)
		}
		// The limit sits in the middle of 16 MiB that the helper maps,
		// and each step moves 256 KiB, less than the zone's 768 KiB on 2
		// CPUs, from the limit.
		const above, below = 16*mib + 256*kib, 16*mib - 256*kib
		soft := base + 16*mib
		if err := m.SetLimits(cg.id, Limits{Soft: soft, Hard: NoLimit}); err != nil {
			t.Fatal(err)
		}
		steps := []softStep{
			{below, 0},
			{above, 1},
			{below, 0},
			{above, 1},
			{above + 256*kib, 0},
			{below, 0},
			{above, 1},
		}
		checkSoftSteps(t, m, h, k.settle, soft, steps)
	})
}

// softStep is a resident size for the steps helper and the number of
// soft-limit events expected once the helper reaches it.
type softStep struct {
	size   int
	events int
}

// checkSoftSteps moves helper h through steps and checks the events that
// monitor m reports for the soft limit soft after each, waiting three
// times settle for them.
func checkSoftSteps(t *testing.T, m Monitor, h *helper, settle time.Duration, soft uint64, steps []softStep) {
	t.Helper()
	for i, step := range steps {
		h.setResident(t, step.size)
		evs := drainEvents(m, 3*settle)
		if len(evs) != step.events {
			t.Fatalf("step %d, resident %d KiB: %d events %+v, expected %d", i, step.size/kib, len(evs), evs, step.events)
		}
		for _, ev := range evs {
			if ev.Kind != SoftLimit || ev.Limit != soft || ev.RSS <= soft {
				t.Errorf("event %+v, expected a soft-limit event above %d", ev, soft)
			}
		}
	}
}

func TestSetLimitsBelowRSS(t *testing.T) {
	forEachKind(t, func(t *testing.T, k kindCase) {
		m := k.open(t)
		cg := newCgroup(t)
		if err := m.Watch(cg.id, cg.path, noLimits); err != nil {
			t.Fatal(err)
		}
		h := startHelper(t, cg, helperSteps, "")
		h.setResident(t, 48*mib)
		time.Sleep(k.settle)

		const hard = 32 * mib
		if err := m.SetLimits(cg.id, Limits{Soft: NoLimit, Hard: hard}); err != nil {
			t.Fatal(err)
		}
		ev, ok := nextEvent(t, m, time.Second)
		if !ok {
			t.Fatal("no event within 1s of SetLimits")
		}
		if ev.Kind != HardLimit || ev.Limit != hard || ev.Cgroup != cg.id {
			t.Errorf("event %+v, expected a hard-limit event for %d with limit %d", ev, cg.id, hard)
		}
		if ev.Killed {
			t.Error("event Killed = true, expected false: nothing allocated")
		}
		if ev.RSS < 48*mib {
			t.Errorf("event RSS = %d MiB, expected at least 48 MiB", ev.RSS/mib)
		}
	})
}

func TestWatchUnknownCgroupID(t *testing.T) {
	forEachKind(t, func(t *testing.T, k kindCase) {
		m := k.open(t)
		cg := newCgroup(t)
		if err := m.Watch(cg.id+1, cg.path, noLimits); err == nil {
			t.Error("Watch with a wrong cgroup id succeeded")
		}
		if _, err := m.RSS(cg.id); !errors.Is(err, ErrNotWatched) {
			t.Errorf("RSS of an unwatched cgroup: error %v, expected ErrNotWatched", err)
		}
	})
}

// countMMs returns the number of mm entries charged to cgroup.
func countMMs(t *testing.T, m *ebpfMonitor, cgroup uint64) int {
	t.Helper()
	var (
		key   uint64
		entry rssMmEntry
		n     int
	)
	it := m.objs.Mms.Iterate()
	for it.Next(&key, &entry) {
		if entry.Cgroup == cgroup {
			n++
		}
	}
	if err := it.Err(); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestEBPFUnwatchAndCloseLeaveNothing(t *testing.T) {
	requireRoot(t)
	mon, err := NewEBPF()
	skipUnsupported(t, err)
	if err != nil {
		t.Fatal(err)
	}
	m := mon.(*ebpfMonitor)
	cg := newCgroup(t)
	if err := m.Watch(cg.id, cg.path, noLimits); err != nil {
		t.Fatal(err)
	}
	h := startHelper(t, cg, helperSteps, "")
	h.setResident(t, 16*mib)
	if n := countMMs(t, m, cg.id); n == 0 {
		t.Error("no mm entry for a cgroup with a running process")
	}

	slot := m.watched[cg.id].slot
	if err := m.Unwatch(cg.id); err != nil {
		t.Fatal(err)
	}
	h.setResident(t, 32*mib)
	if n := countMMs(t, m, cg.id); n != 0 {
		t.Errorf("%d mm entries left after Unwatch", n)
	}
	var freed uint32
	if err := m.objs.CgroupSlots.Lookup(cg.id, &freed); !errors.Is(err, ebpf.ErrKeyNotExist) {
		t.Errorf("slot entry after Unwatch: error %v, expected ErrKeyNotExist", err)
	}
	var lim rssLimits
	if err := m.objs.CgroupLimits.Lookup(slot, &lim); err != nil {
		t.Fatal(err)
	}
	if lim.Cgroup != 0 {
		t.Errorf("limits of slot %d name cgroup %d after Unwatch, expected 0", slot, lim.Cgroup)
	}
	var use rssUsage
	if err := m.objs.CgroupUsage.Lookup(slot, &use); err != nil {
		t.Fatal(err)
	}
	if use.Pages != 0 {
		t.Errorf("usage of slot %d is %d pages after Unwatch, expected 0", slot, use.Pages)
	}

	progInfo, err := m.objs.OnRssStat.Info()
	if err != nil {
		t.Fatal(err)
	}
	progID, ok := progInfo.ID()
	if !ok {
		t.Fatal("kernel did not return the program id")
	}
	// The events ring buffer is checked too: the reader holds a second
	// descriptor of it in Go's poller.
	var mapIDs []ebpf.MapID
	for _, bpfMap := range []*ebpf.Map{m.objs.Mms, m.objs.Events} {
		info, err := bpfMap.Info()
		if err != nil {
			t.Fatal(err)
		}
		id, ok := info.ID()
		if !ok {
			t.Fatal("kernel did not return the map id")
		}
		mapIDs = append(mapIDs, id)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if _, ok := <-m.Events(); ok {
		t.Error("events channel open after Close")
	}
	// The kernel frees programs and maps after an RCU grace period.
	deadline := time.Now().Add(5 * time.Second)
	for {
		prog, progErr := ebpf.NewProgramFromID(progID)
		if progErr == nil {
			prog.Close()
		}
		var mapErrs []error
		for _, id := range mapIDs {
			bpfMap, err := ebpf.NewMapFromID(id)
			if err == nil {
				bpfMap.Close()
			}
			mapErrs = append(mapErrs, err)
		}
		if progErr != nil && !slices.Contains(mapErrs, nil) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after Close: program %d lookup error %v, maps %v lookup errors %v; expected all gone", progID, progErr, mapIDs, mapErrs)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestNewFallsBack(t *testing.T) {
	m, err := New("", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if m.Kind() != "ebpf" && m.Kind() != "proc" {
		t.Errorf("Kind() = %q, expected ebpf or proc", m.Kind())
	}
	// The default: eBPF, or proc with the reason it replaced eBPF.
	want := map[string]string{"ebpf": "ebpf: the default, BPF loaded; ", "proc": "proc: BPF unavailable: "}[m.Kind()]
	if got := m.Describe(); !strings.HasPrefix(got, want) {
		t.Errorf("Describe() = %q, want it to start with %q", got, want)
	}
	p, err := New("proc", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if got, want := p.Describe(), "proc: asked for; polling"; !strings.HasPrefix(got, want) {
		t.Errorf("Describe() = %q, want it to start with %q", got, want)
	}
	if _, err := New("bogus", 0); err == nil {
		t.Error(`New("bogus") succeeded`)
	}
}

func TestEBPFExitDischargesMM(t *testing.T) {
	m := openEBPF(t).(*ebpfMonitor)
	cg := newCgroup(t)
	if err := m.Watch(cg.id, cg.path, noLimits); err != nil {
		t.Fatal(err)
	}
	h := startHelper(t, cg, helperSteps, "")
	h.setResident(t, 32*mib)
	if n := countMMs(t, m, cg.id); n == 0 {
		t.Fatal("no mm entry for a cgroup with a running process")
	}
	h.stdin.Close() // the steps helper exits at the end of its input
	h.waitExit(t, 5*time.Second)

	if n := countMMs(t, m, cg.id); n != 0 {
		t.Errorf("%d mm entries left after the only process exited", n)
	}
	rss, err := m.RSS(cg.id)
	if err != nil {
		t.Fatal(err)
	}
	if rss != 0 {
		t.Errorf("RSS = %d KiB after the only process exited, expected 0", rss/kib)
	}
}

// TestEBPFLoadsAtMaxCPUs loads the BPF programs as for a machine with
// maxCPUs possible CPUs, the most NewEBPF accepts. The verifier walks
// every loop over the CPUs that the programs unroll, up to nr_cpus.
func TestEBPFLoadsAtMaxCPUs(t *testing.T) {
	openEBPF(t) // skips where the programs cannot load at all
	spec, err := loadRss()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := setConstants(spec, maxCPUs, 12); err != nil {
		t.Fatal(err)
	}
	var objs rssObjects
	if err := spec.LoadAndAssign(&objs, nil); err != nil {
		// %v keeps the verifier's log to its first and last lines.
		t.Fatalf("load with %d CPUs: %v", maxCPUs, err)
	}
	if err := objs.Close(); err != nil {
		t.Error(err)
	}
}

// TestEBPFUnmarkedChargesExact checks the invariant behind the exact zone:
// an address space without the inexact mark is charged its exact RSS.
// Two processes of one cgroup move by 64 KiB at once near a soft limit,
// where the zone is entered and left and re-sums run. After each round,
// with both idle, every unmarked entry must equal the VmRSS of one of them.
func TestEBPFUnmarkedChargesExact(t *testing.T) {
	if major, minor := kernelVersion(t); major < 6 || major == 6 && minor < 16 {
		t.Skipf("VmRSS is the exact sum of the RSS counters only since Linux 6.16, this is %d.%d", major, minor)
	}
	m := openEBPF(t).(*ebpfMonitor)
	cg := newCgroup(t)
	if err := m.Watch(cg.id, cg.path, noLimits); err != nil {
		t.Fatal(err)
	}
	helpers := []*helper{startHelper(t, cg, helperSteps, ""), startHelper(t, cg, helperSteps, "")}
	for _, h := range helpers {
		h.setResident(t, 8*mib)
	}

	// A soft limit one and a half error bounds above the exact total
	// keeps the total near the zone's edges.
	base, err := m.RSS(cg.id)
	if err != nil {
		t.Fatal(err)
	}
	soft := base + m.marginBytes*3/2
	if err := m.SetLimits(cg.id, Limits{Soft: soft, Hard: NoLimit}); err != nil {
		t.Fatal(err)
	}
	go drainEvents(m, time.Minute)

	for round := range 400 {
		// Both move at once, so that the events of one come during a
		// re-sum started by the other.
		for i, h := range helpers {
			size := 8 * mib
			if (round+i)%2 == 0 {
				size += 64 * kib
			}
			if _, err := fmt.Fprintln(h.stdin, size); err != nil {
				t.Fatal(err)
			}
		}
		for _, h := range helpers {
			if line := h.readLine(t); line != "ok" {
				t.Fatalf("helper output %q, expected ok", line)
			}
		}

		exact := make(map[int64]bool) // the processes' RSS in pages
		for _, h := range helpers {
			rss, _, err := processRSS(h.cmd.Process.Pid)
			if err != nil {
				t.Fatal(err)
			}
			exact[int64(rss)>>m.pageShift] = true
		}
		var key uint64
		var entry rssMmEntry
		entries := m.objs.Mms.Iterate()
		for entries.Next(&key, &entry) {
			pages := entry.Pages[0] + entry.Pages[1] + entry.Pages[3]
			if entry.Cgroup == cg.id && entry.Inexact == 0 && !exact[pages] {
				t.Errorf("round %d: mm %#x unmarked with %d pages charged, the processes have %v", round, key, pages, exact)
			}
		}
		if err := entries.Err(); err != nil {
			t.Fatal(err)
		}
		if t.Failed() {
			return
		}
	}
}

// kernelVersion returns the major and minor version of the running kernel.
func kernelVersion(t *testing.T) (major, minor int) {
	t.Helper()
	var uts unix.Utsname
	if err := unix.Uname(&uts); err != nil {
		t.Fatal(err)
	}
	release := unix.ByteSliceToString(uts.Release[:])
	if _, err := fmt.Sscanf(release, "%d.%d", &major, &minor); err != nil {
		t.Fatalf("parse kernel release %q: %v", release, err)
	}
	return major, minor
}
