package monitor

import (
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"
)

// BenchmarkOvershoot measures how far a full-speed allocator gets past a
// 64 MiB hard limit before the event: Event.RSS minus the limit, in KiB.
// For the /proc monitor the process keeps allocating until cgroup.kill
// lands, so its real overshoot is somewhat larger than reported.
func BenchmarkOvershoot(b *testing.B) {
	cases := []struct {
		name string
		open func(tb testing.TB) Monitor
	}{
		{"ebpf", openEBPF},
		{"proc-10ms", func(tb testing.TB) Monitor { return openMonitor(tb, NewProc(10*time.Millisecond)) }},
		{"proc-100ms", func(tb testing.TB) Monitor { return openMonitor(tb, NewProc(100*time.Millisecond)) }},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			requireRoot(b)
			m := c.open(b)
			const limit = 64 << 20
			var total, worst uint64
			for i := 0; i < b.N; i++ {
				cg := newCgroup(b)
				if err := m.Watch(cg.id, cg.path, Limits{Soft: NoLimit, Hard: limit}); err != nil {
					b.Fatal(err)
				}
				hog := startHelper(b, cg, helperHog, "1000000000")
				select {
				case ev := <-m.Events():
					over := ev.RSS - limit
					total += over
					worst = max(worst, over)
				case <-time.After(20 * time.Second):
					b.Fatal("no event within 20s")
				}
				hog.cmd.Process.Kill()
				<-hog.exited
				if err := m.Unwatch(cg.id); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(total)/float64(b.N)/1024, "overshoot-KiB")
			b.ReportMetric(float64(worst)/1024, "max-overshoot-KiB")
		})
	}
}

// BenchmarkPageFaultCost runs an mmap/touch/munmap loop (16 MiB per
// round, 4 KiB pages) in a cgroup and reports the median time per page
// fault in three setups. "plain" has no monitor, "approx" has the eBPF
// monitor watching the cgroup far from any limit (approximate counters),
// and "exact" has it near a limit (exact per-CPU sums on every event).
// The ratios compare the medians with "plain". The three setups take turns in every iteration because run
// times on a shared machine drift by tens of percent.
func BenchmarkPageFaultCost(b *testing.B) {
	requireRoot(b)
	const rounds = 32
	cg := newCgroup(b)
	run := func() float64 {
		h := startHelper(b, cg, helperFaults, strconv.Itoa(rounds))
		line := h.readLine(b)
		ns, err := strconv.ParseFloat(line, 64)
		if err != nil {
			b.Fatalf("parse helper output %q: %v", line, err)
		}
		h.waitExit(b, time.Minute)
		return ns
	}
	setups := []struct {
		name   string
		limits *Limits // nil: no monitor
	}{
		{"plain", nil},
		{"approx", &noLimits},
		// The helper's RSS moves between about 2 and 18 MiB, so a soft
		// limit of 8 MiB keeps every event within the exact margin.
		{"exact", &Limits{Soft: 8 << 20, Hard: NoLimit}},
	}
	results := make([][]float64, len(setups))
	for i := 0; i < b.N; i++ {
		for j := range setups {
			k := (i + j) % len(setups)
			setup := setups[k]
			if setup.limits == nil {
				results[k] = append(results[k], run())
				continue
			}
			m, err := NewEBPF()
			if err != nil {
				b.Fatal(err)
			}
			if err := m.Watch(cg.id, cg.path, *setup.limits); err != nil {
				b.Fatal(err)
			}
			go drainEvents(m, time.Minute)
			results[k] = append(results[k], run())
			if err := m.Close(); err != nil {
				b.Fatal(err)
			}
		}
	}
	medians := make([]float64, len(setups))
	for k, setup := range setups {
		medians[k] = median(results[k])
		b.ReportMetric(medians[k], "ns/fault-"+setup.name)
	}
	b.ReportMetric(medians[1]/medians[0], "ratio-approx")
	b.ReportMetric(medians[2]/medians[0], "ratio-exact")
}

func median(values []float64) float64 {
	sorted := slices.Clone(values)
	slices.Sort(sorted)
	return sorted[len(sorted)/2]
}

// BenchmarkRSS measures RSS of the eBPF monitor, which runs the task
// iterator over every task of the host on each call. ns/op grows with the
// number of tasks on the machine, which the tasks metric reports.
func BenchmarkRSS(b *testing.B) {
	m := openEBPF(b)
	cg := newCgroup(b)
	if err := m.Watch(cg.id, cg.path, noLimits); err != nil {
		b.Fatal(err)
	}
	h := startHelper(b, cg, helperSteps, "")
	h.setResident(b, 16<<20)
	tasks, err := filepath.Glob("/proc/[0-9]*/task/[0-9]*")
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := m.RSS(cg.id); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(tasks)), "tasks")
}
