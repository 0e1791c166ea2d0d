package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// manyCommand is the command of every container of the concurrent figure.
const manyCommand = "sleep 60"

// concurrentResult holds the figures of the concurrent run that the
// goals compare.
type concurrentResult struct {
	rate    float64 // containers per second until every command ran
	ls      float64 // median ms of ls of the root
	status  float64 // median ms of cat status
	rssMiB  float64 // supervisor's VmRSS with every container running
	running bool    // every container still ran while ls and status were timed
}

func measureConcurrent(ctx context.Context, opts options, sup *supervisor, dir string) (section, concurrentResult) {
	sec := section{title: fmt.Sprintf("%d containers started concurrently", opts.containers)}
	if opts.containers == 0 {
		sec.note("not measured: --containers 0")
		return sec, concurrentResult{math.NaN(), math.NaN(), math.NaN(), math.NaN(), false}
	}
	runner, err := newCommandRunner(dir)
	if err != nil {
		sec.fail(err)
		return sec, concurrentResult{math.NaN(), math.NaN(), math.NaN(), math.NaN(), false}
	}
	defer runner.close()
	names := make([]string, opts.containers)
	for i := range names {
		names[i] = fmt.Sprintf("many-%04d", i)
	}

	t := newTable("step", "value")
	result := runMany(ctx, &sec, t, runner, sup, names, opts.workers)
	teardown := tearDown(&sec, sup, names, opts.workers)
	t.add(fmt.Sprintf("kill, wait and rmdir of every container, %d workers", opts.workers),
		rate(len(names), teardown))
	after := readProcStatus(sup.pid())
	t.add("supervisor VmRSS and threads after removing them",
		fmt.Sprintf("%.1f MiB, %d threads", after.rssMiB, after.threads))
	sec.table = t
	sec.text = []string{fmt.Sprintf("%d workers of the harness each make containers one after another "+
		"(mkdir N, then `echo '%s' > N/cmd`, as system calls). "+
		"Rates are containers per second from the first mkdir; a container counts as started when its "+
		"init has a child called sleep. With all of them running, ls and cat run as processes with "+
		"stdout to /dev/null, as from a shell.", opts.workers, manyCommand)}
	return sec, result
}

// runMany starts a container for each name, waits until every command
// runs, and then times ls and cat status and reads the supervisor's
// memory. It adds a row to t for each step.
func runMany(ctx context.Context, sec *section, t *table, runner *commandRunner, sup *supervisor, names []string, workers int) concurrentResult {
	result := concurrentResult{math.NaN(), math.NaN(), math.NaN(), math.NaN(), false}
	before := readProcStatus(sup.pid())
	cpuBefore, cpuErr := readCPUTimes(sup.pid())
	busyBefore, busyErr := readBusyTime()
	progress("concurrent: starting %d containers of %q with %d workers", len(names), manyCommand, workers)
	begin := time.Now()
	err := forEach(names, workers, func(name string) error {
		if err := sup.create(name); err != nil {
			return err
		}
		return sup.write(name, "cmd", manyCommand)
	})
	if err != nil {
		sec.fail(err)
		return result
	}
	t.add("mkdir and write cmd, until every write returned", rate(len(names), time.Since(begin)))

	ran, counter, err := waitCommands(ctx, sup.pid(), "sleep", len(names), begin, time.Minute)
	if err != nil {
		sec.fail(err)
		return result
	}
	busyAfter, busyErr2 := readBusyTime()
	result.rate = float64(len(names)) / ran.Seconds()
	t.add("until every command runs", rate(len(names), ran))
	perContainer := func(d time.Duration) string {
		return fmt.Sprintf("%.2f s, %.1f ms per container",
			d.Seconds(), float64(d)/float64(len(names))/float64(time.Millisecond))
	}
	if cpuAfter, err := readCPUTimes(sup.pid()); err == nil && cpuErr == nil {
		t.add("supervisor CPU time until then (user and system)", perContainer(cpuAfter.self-cpuBefore.self))
	}
	if inits, threads := childrenCPU(counter.children()); inits > 0 {
		t.add("the inits' own CPU time until then, and threads per init",
			fmt.Sprintf("%s; %.1f threads", perContainer(inits), threads))
	}
	if busyErr == nil && busyErr2 == nil {
		t.add("busy CPU time of the whole machine until then", perContainer(busyAfter-busyBefore))
	}

	during := readProcStatus(sup.pid())
	result.rssMiB = during.rssMiB
	result.ls, result.status, result.running = timeListings(sec, runner, sup, names, begin)
	t.add("ls of the root, median of 20 runs", formatFloat(result.ls, 1)+" ms")
	t.add("cat status, median", formatFloat(result.status, 1)+" ms")
	t.add("supervisor VmRSS (VmHWM), all running",
		fmt.Sprintf("%.1f MiB (%.1f MiB)", during.rssMiB, during.hwmMiB))
	t.add("supervisor threads, all running", fmt.Sprintf("%d (%d before)", during.threads, before.threads))
	t.add("supervisor open files, all running", fmt.Sprintf("%d (%d before)", during.fds, before.fds))
	return result
}

// rate formats n per d as a rate with its time.
func rate(n int, d time.Duration) string {
	return fmt.Sprintf("%.0f per s (%d in %.2f s)", float64(n)/d.Seconds(), n, d.Seconds())
}

// forEach calls f for each name from workers goroutines and returns the
// first errors, with the count of failures.
func forEach(names []string, workers int, f func(string) error) error {
	work := make(chan string)
	var mu sync.Mutex
	var errs []error
	failed := 0
	var wg sync.WaitGroup
	for range min(workers, len(names)) {
		wg.Go(func() {
			for name := range work {
				if err := f(name); err != nil {
					mu.Lock()
					if failed++; len(errs) < 3 {
						errs = append(errs, fmt.Errorf("%s: %w", name, err))
					}
					mu.Unlock()
				}
			}
		})
	}
	for _, name := range names {
		work <- name
	}
	close(work)
	wg.Wait()
	if failed > 0 {
		return fmt.Errorf("%d of %d failed, first: %w", failed, len(names), errors.Join(errs...))
	}
	return nil
}

// waitCommands waits until n children of children of the supervisor are
// called comm, and returns the time since begin and the counter, which
// holds the last reading of the supervisor's children.
func waitCommands(ctx context.Context, supervisorPID int, comm string, n int, begin time.Time, timeout time.Duration) (time.Duration, *grandchildCounter, error) {
	deadline := begin.Add(timeout)
	counter := newGrandchildCounter(supervisorPID, comm)
	for {
		found, err := counter.count()
		if err != nil {
			return 0, nil, err
		}
		if found >= n {
			return time.Since(begin), counter, nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return 0, nil, fmt.Errorf("%d of %d commands running after %v", found, n, time.Since(begin).Round(time.Millisecond))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// countGrandchildren returns how many processes called comm have a parent
// whose parent is pid.
func countGrandchildren(pid int, comm string) (int, error) {
	return newGrandchildCounter(pid, comm).count()
}

// grandchildCounter counts the processes called comm whose parent is a
// child of pid, over repeated scans of /proc. It reads the stat file of a
// process again only while the process may still become one to count:
// with thousands of processes, reading every file every 20 ms took CPU
// time from the supervisor being measured.
type grandchildCounter struct {
	pid   int
	comm  string
	procs map[int]procEntry
	scans int
}

// fullScanEvery is the number of scans after which a counter reads every
// process again. Otherwise a PID freed and taken by a new process between
// two scans would keep what was read of the old one.
const fullScanEvery = 10

// procEntry is the name and parent of one process, as a scan read them.
type procEntry struct {
	name string
	ppid int
}

func newGrandchildCounter(pid int, comm string) *grandchildCounter {
	return &grandchildCounter{pid: pid, comm: comm, procs: map[int]procEntry{}}
}

// count scans /proc and returns the number of processes to count.
func (g *grandchildCounter) count() (int, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0, err
	}
	alive := make(map[int]bool, len(entries))
	g.scans++
	full := g.scans%fullScanEvery == 0
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		alive[p] = true
		if old, ok := g.procs[p]; ok && !full && !g.pending(old) {
			continue
		}
		name, ppid, ok := readStat(p)
		if !ok {
			delete(alive, p) // it exited meanwhile
			continue
		}
		g.procs[p] = procEntry{name, ppid}
	}
	count := 0
	for p, e := range g.procs {
		switch {
		case !alive[p]:
			delete(g.procs, p)
		case e.name == g.comm && g.procs[e.ppid].ppid == g.pid:
			count++
		}
	}
	return count, nil
}

// pending reports whether a process read earlier must be read again: a
// child of a child of pid that is not yet called comm, which an exec can
// rename. Any other process keeps its place: its parent changes only when
// the parent dies.
func (g *grandchildCounter) pending(e procEntry) bool {
	return e.name != g.comm && (e.ppid == g.pid || g.procs[e.ppid].ppid == g.pid)
}

// children returns the live children of pid in the last scan.
func (g *grandchildCounter) children() []int {
	var pids []int
	for p, e := range g.procs {
		if e.ppid == g.pid {
			pids = append(pids, p)
		}
	}
	return pids
}

// readStat returns the command name and parent PID of a process from
// /proc/PID/stat, whose second field is the name in parentheses.
func readStat(pid int) (string, int, bool) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return "", 0, false
	}
	text := string(data)
	open, closing := strings.IndexByte(text, '('), strings.LastIndexByte(text, ')')
	if open < 0 || closing < open {
		return "", 0, false
	}
	fields := strings.Fields(text[closing+1:])
	if len(fields) < 2 {
		return "", 0, false
	}
	ppid, err := strconv.Atoi(fields[1])
	return text[open+1 : closing], ppid, err == nil
}

// timeListings times ls of the root and cat status with every container
// running, and checks in the last status that every one still runs. It
// returns the medians in ms. begin is the time of the first start.
func timeListings(sec *section, runner *commandRunner, sup *supervisor, names []string, begin time.Time) (ls, status float64, running bool) {
	entries, err := os.ReadDir(sup.mount)
	if err != nil || len(entries) < len(names) {
		sec.fail(fmt.Errorf("read %s: %d entries, expected %d or more (%v)", sup.mount, len(entries), len(names), err))
	}
	var lsTimes []float64
	for range 20 {
		d, err := runner.time([]string{"ls", sup.mount}, nil)
		if err != nil {
			sec.fail(fmt.Errorf("ls: %w", err))
			break
		}
		lsTimes = append(lsTimes, milliseconds(d))
	}

	out, err := os.CreateTemp(sup.state, "status-")
	if err != nil {
		sec.fail(err)
		return median(lsTimes), math.NaN(), false
	}
	defer os.Remove(out.Name())
	defer out.Close()
	statusTimes := timeStatus(sec, runner, sup, out)
	return median(lsTimes), median(statusTimes), checkStatus(sec, out.Name(), names, begin)
}

// timeStatus times cat status into out, which keeps the last output. It
// took seconds with 1,000 containers, so it runs at most 5 times and
// starts no run after 15 s.
func timeStatus(sec *section, runner *commandRunner, sup *supervisor, out *os.File) []float64 {
	var times []float64
	begin := time.Now()
	for len(times) < 5 && time.Since(begin) < 15*time.Second {
		// cat writes at the shared file offset, so rewind it too.
		if _, err := out.Seek(0, io.SeekStart); err != nil {
			sec.fail(err)
			break
		}
		if err := out.Truncate(0); err != nil {
			sec.fail(err)
			break
		}
		d, err := runner.time([]string{"cat", sup.path("status")}, out)
		if err != nil {
			sec.fail(fmt.Errorf("cat status: %w", err))
			break
		}
		times = append(times, milliseconds(d))
	}
	return times
}

// checkStatus reports whether the root status file saved in file lists
// every container as running.
func checkStatus(sec *section, file string, names []string, begin time.Time) bool {
	data, err := os.ReadFile(file)
	if err != nil {
		sec.fail(err)
		return false
	}
	states := map[string]string{}
	for line := range strings.Lines(string(data)) {
		fields := strings.Split(strings.TrimSuffix(line, "\n"), "\t")
		if len(fields) >= 2 {
			states[fields[0]] = fields[1]
		}
	}
	notRunning := 0
	for _, name := range names {
		if states[name] != "running" {
			notRunning++
		}
	}
	if notRunning > 0 {
		sec.fail(fmt.Errorf("status lists %d of %d containers as not running, %.0f s after the first start "+
			"(each container runs %q)", notRunning, len(names), time.Since(begin).Seconds(), manyCommand))
		return false
	}
	return true
}

// tearDown kills, waits for and removes every container, and returns the
// time it took. A container that already exited is only removed.
func tearDown(sec *section, sup *supervisor, names []string, workers int) time.Duration {
	progress("concurrent: stopping and removing %d containers", len(names))
	begin := time.Now()
	err := forEach(names, workers, func(name string) error {
		if _, err := os.Stat(sup.path(name)); errors.Is(err, os.ErrNotExist) {
			return nil // never made
		}
		state, err := sup.read(name, "state")
		if err != nil {
			return err
		}
		if state == "running" {
			// ESRCH when it exited since: wait returns at once then.
			sup.write(name, "ctl", "kill")
		}
		if _, err := sup.read(name, "wait"); err != nil {
			return err
		}
		return sup.remove(name)
	})
	if err != nil {
		sec.fail(fmt.Errorf("tear down: %w", err))
	}
	return time.Since(begin)
}

// procStatus is a process's memory, threads and open files.
type procStatus struct {
	rssMiB, hwmMiB float64
	threads, fds   int
}

func readProcStatus(pid int) procStatus {
	st := procStatus{rssMiB: math.NaN(), hwmMiB: math.NaN()}
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return st
	}
	for line := range strings.Lines(string(data)) {
		key, value, _ := strings.Cut(line, ":")
		fields := strings.Fields(value)
		if len(fields) == 0 {
			continue
		}
		n, err := strconv.ParseFloat(fields[0], 64)
		if err != nil {
			continue
		}
		switch key {
		case "VmRSS":
			st.rssMiB = n / 1024
		case "VmHWM":
			st.hwmMiB = n / 1024
		case "Threads":
			st.threads = int(n)
		}
	}
	if fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid)); err == nil {
		st.fds = len(fds)
	}
	return st
}
