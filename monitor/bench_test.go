package monitor

import (
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/rlimit"
	"golang.org/x/sys/unix"
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

// faultRounds is the number of 16 MiB rounds of the fault loop per run.
const faultRounds = 32

// runFaults runs the fault loop of the faults helper in cg and returns
// the CPU time of its thread per page fault in nanoseconds.
func runFaults(b *testing.B, cg testCgroup, rounds int) float64 {
	b.Helper()
	h := startHelper(b, cg, helperFaults, strconv.Itoa(rounds))
	line := h.readLine(b)
	ns, err := strconv.ParseFloat(line, 64)
	if err != nil {
		b.Fatalf("parse helper output %q: %v", line, err)
	}
	h.waitExit(b, time.Minute)
	return ns
}

// faultSetup is one state of the rss_stat hook in which the page fault
// benchmarks run the fault loop.
type faultSetup struct {
	name string
	// attach attaches the program of the setup, if any, and returns it
	// with a function that detaches it.
	attach func(b *testing.B) (*ebpf.Program, func())
}

// faultSetups returns the setups for a fault loop in cgroup cg. other is a
// cgroup without processes.
//   - plain: no program.
//   - empty: a program that returns at once, the cost of the hook itself.
//   - unwatched: the eBPF monitor watching other, so the loop belongs to
//     no watched cgroup.
//   - approx: the monitor watching cg far from any limit.
//   - exact: the monitor watching cg with a soft limit that the loop's
//     RSS passes twice per round.
//   - exact-init: the same with a second, idle process in cg, as a ctlfs
//     container has its init beside its command. Each address space of
//     a cgroup widens the zone around a limit in which events take exact
//     sums, so twice as many events take them.
func faultSetups(cg, other testCgroup) []faultSetup {
	watch := func(watched testCgroup, l Limits) func(b *testing.B) (*ebpf.Program, func()) {
		return func(b *testing.B) (*ebpf.Program, func()) {
			_, prog, detach := watchCgroup(b, watched, l)
			return prog, detach
		}
	}
	return []faultSetup{
		{"plain", func(*testing.B) (*ebpf.Program, func()) { return nil, func() {} }},
		{"empty", attachEmptyProgram},
		{"unwatched", watch(other, noLimits)},
		{"approx", watch(cg, noLimits)},
		// The helper's RSS moves between about 2 and 18 MiB. The events
		// within the exact margin of a soft limit of 8 MiB take the
		// exact path: about one in ten on 2 CPUs, where the margin is
		// 768 KiB. The margin grows with the number of CPUs.
		{"exact", watch(cg, Limits{Soft: 8 << 20, Hard: NoLimit})},
		{"exact-init", func(b *testing.B) (*ebpf.Program, func()) {
			b.Helper()
			// Started before the monitor, whose Watch charges it.
			idle := startProcess(b, cg, exec.Command("sleep", "600"))
			m, prog, detach := watchCgroup(b, cg, noLimits)
			idleRSS, err := m.RSS(cg.id)
			if err != nil {
				b.Fatal(err)
			}
			if err := m.SetLimits(cg.id, Limits{Soft: 8<<20 + idleRSS, Hard: NoLimit}); err != nil {
				b.Fatal(err)
			}
			return prog, func() {
				detach()
				idle.cmd.Process.Kill()
				<-idle.exited
			}
		}},
	}
}

// watchCgroup opens an eBPF monitor that watches cg with limits l, and
// returns it, its rss_stat program and a function that closes it.
func watchCgroup(b *testing.B, cg testCgroup, l Limits) (Monitor, *ebpf.Program, func()) {
	b.Helper()
	m, err := NewEBPF()
	if err != nil {
		b.Fatal(err)
	}
	if err := m.Watch(cg.id, cg.path, l); err != nil {
		b.Fatal(err)
	}
	go drainEvents(m, time.Minute)
	return m, m.(*ebpfMonitor).objs.OnRssStat, func() {
		if err := m.Close(); err != nil {
			b.Fatal(err)
		}
	}
}

// attachEmptyProgram attaches a program that returns 0 at once to
// rss_stat as a tp_btf program, like the monitor's. Its cost is that of
// the hook: the tracepoint call and the kernel's setup around every
// program run.
func attachEmptyProgram(b *testing.B) (*ebpf.Program, func()) {
	b.Helper()
	if err := rlimit.RemoveMemlock(); err != nil {
		b.Fatal(err)
	}
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Name:         "empty_rss_stat",
		Type:         ebpf.Tracing,
		AttachType:   ebpf.AttachTraceRawTp,
		AttachTo:     "rss_stat",
		License:      "GPL",
		Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, 0), asm.Return()},
	})
	if err != nil {
		b.Fatalf("load empty program: %v", err)
	}
	l, err := link.AttachTracing(link.TracingOptions{Program: prog})
	if err != nil {
		prog.Close()
		b.Fatalf("attach empty program: %v", err)
	}
	return prog, func() {
		if err := l.Close(); err != nil {
			b.Fatal(err)
		}
		prog.Close()
	}
}

// BenchmarkPageFaultCost runs an mmap/touch/munmap loop (16 MiB per
// round, 4 KiB pages) in a cgroup and reports the median CPU time of the
// loop's thread per page fault in each setup of faultSetups. Each ratio is
// the median over the iterations of the setup's time divided by the time
// of "plain" in the same iteration. The cost of a page fault on a shared
// machine drifts by tens of percent within minutes, so the setups take
// turns in every iteration, and a ratio of two runs a second apart
// leaves most of that drift out.
func BenchmarkPageFaultCost(b *testing.B) {
	requireRoot(b)
	cg, other := newCgroup(b), newCgroup(b)
	setups := faultSetups(cg, other)
	results := make([][]float64, len(setups))
	for i := 0; i < b.N; i++ {
		for j := range setups {
			k := (i + j) % len(setups)
			_, detach := setups[k].attach(b)
			results[k] = append(results[k], runFaults(b, cg, faultRounds))
			detach()
		}
	}
	b.ReportMetric(median(results[0]), "ns/fault-plain")
	for k, setup := range setups[1:] {
		ratios := make([]float64, b.N)
		for i := range ratios {
			ratios[i] = results[k+1][i] / results[0][i]
		}
		b.ReportMetric(median(results[k+1]), "ns/fault-"+setup.name)
		b.ReportMetric(median(ratios), "ratio-"+setup.name)
	}
}

// BenchmarkProgramTime reports the median run time per event of the
// program on rss_stat, from the kernel's BPF statistics, for the fault
// loop of BenchmarkPageFaultCost in each setup with a program. The time
// of the "empty" setup is that of a clock read of the statistics and of
// the call of the program, which every run pays, so the time of the
// monitor's code is a setup's time minus that of "empty": the net
// metrics. Events of other processes on
// the host count too. The statistics are on for every BPF program of the
// host while the benchmark runs.
func BenchmarkProgramTime(b *testing.B) {
	requireRoot(b)
	cg, other := newCgroup(b), newCgroup(b)
	setups := faultSetups(cg, other)[1:]
	stats, err := ebpf.EnableStats(uint32(unix.BPF_STATS_RUN_TIME))
	if err != nil {
		b.Skipf("BPF run time statistics not available: %v", err)
	}
	defer stats.Close()
	results := make([][]float64, len(setups))
	for i := 0; i < b.N; i++ {
		for j := range setups {
			k := (i + j) % len(setups)
			prog, detach := setups[k].attach(b)
			before, err := prog.Stats()
			if err != nil {
				b.Fatal(err)
			}
			runFaults(b, cg, faultRounds/4)
			after, err := prog.Stats()
			if err != nil {
				b.Fatal(err)
			}
			detach()
			runs := after.RunCount - before.RunCount
			if runs == 0 {
				b.Fatalf("%s: the program did not run", setups[k].name)
			}
			results[k] = append(results[k], float64(after.Runtime-before.Runtime)/float64(runs))
		}
	}
	empty := median(results[0])
	b.ReportMetric(empty, "ns/event-empty")
	for k, setup := range setups[1:] {
		m := median(results[k+1])
		b.ReportMetric(m, "ns/event-"+setup.name)
		b.ReportMetric(m-empty, "net-ns/event-"+setup.name)
	}
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
