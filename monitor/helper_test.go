package monitor

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The test binary doubles as the workload: with helperEnv set, TestMain
// runs one of the helper modes below instead of the tests.
const helperEnv = "CTLFS_MONITOR_HELPER"

const (
	// helperSteps reads lines "SIZE" from stdin, makes SIZE bytes of
	// anonymous memory resident (touching or releasing pages) and prints
	// "ok". The line "exec" makes it exec sleep(1) for an hour instead.
	helperSteps = "steps"
	// helperHog touches anonymous pages at full speed up to the byte
	// count in its first argument, then prints "done" and sleeps.
	helperHog = "hog"
	// helperFaults maps, touches and unmaps a region ROUNDS times and
	// prints the CPU time of its thread per page fault in nanoseconds.
	helperFaults = "faults"
	// helperHuge takes "CPU1,CPU2" and reads the lines "residue" and
	// "huge" from stdin. Each line faults in one transparent huge page,
	// "residue" on CPU1 followed by hugeResiduePages small pages there,
	// "huge" on CPU2. After the huge page fault it prints "faulted", and
	// at the end of the line AnonHugePages of /proc/self/smaps_rollup in
	// KiB.
	helperHuge = "huge"
)

const helperRegion = 1 << 30 // address space reserved by the helpers

func TestMain(m *testing.M) {
	if mode := os.Getenv(helperEnv); mode != "" {
		if err := runHelper(mode, os.Args[len(os.Args)-1]); err != nil {
			fmt.Fprintln(os.Stderr, "helper:", err)
			os.Exit(2)
		}
		os.Exit(0)
	}
	// The checks here count 4 KiB pages, but a test elsewhere may set
	// transparent huge pages to always meanwhile. PR_SET_THP_DISABLE
	// turns them off for this process and for the helpers, which
	// inherit the flag through fork and exec from the start of their Go
	// runtime on. The huge page helper clears the flag again, and
	// hugepage_test.go covers huge pages.
	if err := unix.Prctl(unix.PR_SET_THP_DISABLE, 1, 0, 0, 0); err != nil {
		fmt.Fprintln(os.Stderr, "disable transparent huge pages:", err)
		os.Exit(1)
	}
	os.Exit(m.Run())
}

func runHelper(mode, arg string) error {
	page := os.Getpagesize()
	switch mode {
	case helperSteps:
		mem, err := mapSmallPages(helperRegion)
		if err != nil {
			return err
		}
		resident := 0
		sc := bufio.NewScanner(os.Stdin)
		for sc.Scan() {
			if strings.TrimSpace(sc.Text()) == "exec" {
				path, err := exec.LookPath("sleep")
				if err != nil {
					return err
				}
				return unix.Exec(path, []string{"sleep", "3600"}, os.Environ())
			}
			size, err := strconv.Atoi(strings.TrimSpace(sc.Text()))
			if err != nil || size < 0 || size > helperRegion {
				return fmt.Errorf("invalid size %q", sc.Text())
			}
			size = size / page * page
			for off := resident; off < size; off += page {
				mem[off] = 1
			}
			if size < resident {
				if err := unix.Madvise(mem[size:resident], unix.MADV_DONTNEED); err != nil {
					return fmt.Errorf("madvise: %w", err)
				}
			}
			resident = size
			fmt.Println("ok")
		}
		return sc.Err()
	case helperHog:
		limit, err := strconv.Atoi(arg)
		if err != nil || limit > helperRegion {
			return fmt.Errorf("invalid byte count %q", arg)
		}
		mem, err := mapSmallPages(helperRegion)
		if err != nil {
			return err
		}
		for off := 0; off < limit; off += page {
			mem[off] = 1
		}
		fmt.Println("done")
		time.Sleep(time.Hour)
		return nil
	case helperFaults:
		rounds, err := strconv.Atoi(arg)
		if err != nil {
			return fmt.Errorf("invalid round count %q", arg)
		}
		// Pinning to one CPU keeps migrations out of the measurement.
		// The affinity and the CPU time clock are those of the thread,
		// so the goroutine must stay on it.
		runtime.LockOSThread()
		var cpus unix.CPUSet
		cpus.Set(runtime.NumCPU() - 1)
		if err := unix.SchedSetaffinity(0, &cpus); err != nil {
			return fmt.Errorf("set CPU affinity: %w", err)
		}
		// CPU time rather than wall time: other processes that share
		// the CPU add to the wall time but not to the thread's CPU time.
		cpuTime := func() (time.Duration, error) {
			var ts unix.Timespec
			if err := unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts); err != nil {
				return 0, fmt.Errorf("read thread CPU time: %w", err)
			}
			return time.Duration(ts.Nano()), nil
		}
		const size = 16 << 20
		start, err := cpuTime()
		if err != nil {
			return err
		}
		for range rounds {
			mem, err := unix.Mmap(-1, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
			if err != nil {
				return fmt.Errorf("mmap: %w", err)
			}
			for off := 0; off < size; off += page {
				mem[off] = 1
			}
			if err := unix.Munmap(mem); err != nil {
				return fmt.Errorf("munmap: %w", err)
			}
		}
		end, err := cpuTime()
		if err != nil {
			return err
		}
		pages := rounds * size / page
		fmt.Println(float64((end - start).Nanoseconds()) / float64(pages))
		return nil
	case helperHuge:
		return runHugeHelper(arg)
	default:
		return fmt.Errorf("unknown mode %q", mode)
	}
}

// mapSmallPages reserves size bytes of anonymous memory that faults in
// 4 KiB pages only. With transparent huge pages set to always, one fault
// could otherwise map 2 MiB and move the RSS past a limit by that much.
func mapSmallPages(size int) ([]byte, error) {
	mem, err := unix.Mmap(-1, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_NORESERVE)
	if err != nil {
		return nil, fmt.Errorf("mmap: %w", err)
	}
	if err := unix.Madvise(mem, unix.MADV_NOHUGEPAGE); err != nil {
		return nil, fmt.Errorf("madvise MADV_NOHUGEPAGE: %w", err)
	}
	return mem, nil
}

func requireRoot(tb testing.TB) {
	tb.Helper()
	if os.Geteuid() != 0 {
		tb.Skip("needs root to create cgroups and load BPF programs")
	}
}

var cgroupSeq atomic.Int64

// testCgroup is a cgroup v2 directory created for one test.
type testCgroup struct {
	path string
	id   uint64
}

// newCgroup creates a cgroup below the cgroup2 mount and removes it at
// the end of the test after killing its processes by PID.
func newCgroup(tb testing.TB) testCgroup {
	tb.Helper()
	requireRoot(tb)
	mount, err := Cgroup2Mount()
	if err != nil {
		tb.Fatal(err)
	}
	path := filepath.Join(mount, fmt.Sprintf("ctlfs-monitor-test-%d-%d", os.Getpid(), cgroupSeq.Add(1)))
	if err := os.Mkdir(path, 0o755); err != nil {
		tb.Fatalf("create cgroup: %v", err)
	}
	tb.Cleanup(func() { removeCgroup(tb, path) })
	id, err := CgroupID(path)
	if err != nil {
		tb.Fatal(err)
	}
	return testCgroup{path: path, id: id}
}

func removeCgroup(tb testing.TB, path string) {
	deadline := time.Now().Add(5 * time.Second)
	for {
		pids, err := cgroupPIDs(path)
		if err != nil {
			tb.Errorf("remove cgroup: %v", err)
			return
		}
		for _, pid := range pids {
			syscall.Kill(pid, syscall.SIGKILL)
		}
		if err := os.Remove(path); err == nil {
			return
		} else if time.Now().After(deadline) {
			tb.Errorf("remove cgroup %s: %v", path, err)
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// helper is a running helper process.
type helper struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stdout *bufio.Reader
	exited chan struct{}
	err    error // Wait result, valid after exited is closed
}

// startHelper starts the test binary in the given helper mode inside the
// cgroup (outside any test cgroup when cg.path is empty). It is started
// with CLONE_INTO_CGROUP, like the supervisor starts container init.
func startHelper(tb testing.TB, cg testCgroup, mode, arg string) *helper {
	tb.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$", arg)
	cmd.Env = append(os.Environ(), helperEnv+"="+mode)
	return startProcess(tb, cg, cmd)
}

// startShell runs script with /bin/sh -c inside the cgroup. In the script
// "$0" is the test binary, and the environment selects the steps helper
// mode, so `"$0" -test.run=^$ steps` starts a steps helper that reads the
// shell's stdin and writes to its stdout.
func startShell(tb testing.TB, cg testCgroup, script string) *helper {
	tb.Helper()
	cmd := exec.Command("/bin/sh", "-c", script, os.Args[0])
	cmd.Env = append(os.Environ(), helperEnv+"="+helperSteps)
	return startProcess(tb, cg, cmd)
}

// startProcess starts cmd inside the cgroup (outside any test cgroup when
// cg.path is empty) with pipes to its stdin and stdout, and kills it at
// the end of the test.
func startProcess(tb testing.TB, cg testCgroup, cmd *exec.Cmd) *helper {
	tb.Helper()
	cmd.Stderr = os.Stderr

	if cg.path != "" {
		dir, err := os.Open(cg.path)
		if err != nil {
			tb.Fatalf("open cgroup: %v", err)
		}
		defer dir.Close()
		cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: int(dir.Fd())}
	}

	stdin, err := cmd.StdinPipe()
	if err != nil {
		tb.Fatal(err)
	}
	// An os.Pipe rather than StdoutPipe, because Wait closes the read end
	// of StdoutPipe and output of a helper that already exited would be
	// lost.
	stdout, stdoutWriter, err := os.Pipe()
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { stdout.Close() })
	cmd.Stdout = stdoutWriter
	err = cmd.Start()
	stdoutWriter.Close()
	if err != nil {
		tb.Fatalf("start helper: %v", err)
	}

	h := &helper{cmd: cmd, stdin: stdin, stdout: bufio.NewReader(stdout), exited: make(chan struct{})}
	go func() {
		h.err = cmd.Wait()
		close(h.exited)
	}()
	tb.Cleanup(func() {
		cmd.Process.Kill()
		<-h.exited
	})
	return h
}

// readLine returns the next output line of the helper.
func (h *helper) readLine(tb testing.TB) string {
	tb.Helper()
	line, err := h.stdout.ReadString('\n')
	if err != nil {
		tb.Fatalf("read helper output: %v", err)
	}
	return strings.TrimSpace(line)
}

// setResident makes the steps helper hold size bytes of anonymous memory.
func (h *helper) setResident(tb testing.TB, size int) {
	tb.Helper()
	if _, err := fmt.Fprintln(h.stdin, size); err != nil {
		tb.Fatalf("write to helper: %v", err)
	}
	if line := h.readLine(tb); line != "ok" {
		tb.Fatalf("helper answered %q, expected ok", line)
	}
}

// execSleep makes the steps helper exec sleep(1).
func (h *helper) execSleep(tb testing.TB) {
	tb.Helper()
	if _, err := fmt.Fprintln(h.stdin, "exec"); err != nil {
		tb.Fatalf("write to helper: %v", err)
	}
}

// waitExit waits for the helper to exit and returns its wait status.
func (h *helper) waitExit(tb testing.TB, timeout time.Duration) syscall.WaitStatus {
	tb.Helper()
	select {
	case <-h.exited:
	case <-time.After(timeout):
		tb.Fatalf("helper %d still running after %v", h.cmd.Process.Pid, timeout)
	}
	var exitErr *exec.ExitError
	if h.err != nil && !errors.As(h.err, &exitErr) {
		tb.Fatalf("wait for helper: %v", h.err)
	}
	return h.cmd.ProcessState.Sys().(syscall.WaitStatus)
}

func (h *helper) alive() bool {
	select {
	case <-h.exited:
		return false
	default:
		return true
	}
}

// waitForCommand waits up to 5 seconds until n processes of the cgroup
// run a program named command, going by /proc/PID/comm.
func waitForCommand(tb testing.TB, cg testCgroup, command string, n int) {
	tb.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		pids, err := cgroupPIDs(cg.path)
		if err != nil {
			tb.Fatal(err)
		}
		found := 0
		for _, pid := range pids {
			comm, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/comm")
			if err == nil && strings.TrimSpace(string(comm)) == command {
				found++
			}
		}
		if found == n {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("%d processes of cgroup %s run %s after 5s, expected %d", found, cg.path, command, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// sumVmRSS returns the sum of VmRSS of the processes in the cgroup.
func sumVmRSS(tb testing.TB, cg testCgroup) uint64 {
	tb.Helper()
	pids, err := cgroupPIDs(cg.path)
	if err != nil {
		tb.Fatal(err)
	}
	var total uint64
	for _, pid := range pids {
		rss, _, err := processRSS(pid)
		if err != nil {
			tb.Fatal(err)
		}
		total += rss
	}
	return total
}
