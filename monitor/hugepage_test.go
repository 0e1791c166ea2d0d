package monitor

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

const thpDir = "/sys/kernel/mm/transparent_hugepage"

// hugeResiduePages is the number of small pages the huge helper faults in
// on its first CPU after a huge page fault there. A huge page fault flushes
// the per-CPU slot of MM_ANONPAGES into fbc->count, so the slot then holds
// these pages, below percpu_counter_batch (at least 32), and fbc->count
// lags the exact count by as much. Faults of other helper threads on that
// CPU can change the slot.
const hugeResiduePages = 20

// readHugePageSize returns the size of a transparent huge page in bytes.
func readHugePageSize() (int, error) {
	data, err := os.ReadFile(thpDir + "/hpage_pmd_size")
	if err != nil {
		return 0, fmt.Errorf("read huge page size: %w", err)
	}
	size, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil {
		return 0, fmt.Errorf("parse huge page size %q: %w", data, err)
	}
	return size, nil
}

// anonHugePagesKiB returns AnonHugePages of /proc/self/smaps_rollup.
func anonHugePagesKiB() (int, error) {
	f, err := os.Open("/proc/self/smaps_rollup")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		value, ok := strings.CutPrefix(sc.Text(), "AnonHugePages:")
		if !ok {
			continue
		}
		return strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(value), " kB"))
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, fmt.Errorf("no AnonHugePages line in /proc/self/smaps_rollup")
}

// runHugeHelper runs the helperHuge mode. arg is "CPU1,CPU2".
func runHugeHelper(arg string) error {
	var cpus [2]int
	if _, err := fmt.Sscanf(arg, "%d,%d", &cpus[0], &cpus[1]); err != nil {
		return fmt.Errorf("invalid CPU pair %q: %w", arg, err)
	}
	huge, err := readHugePageSize()
	if err != nil {
		return err
	}
	page := os.Getpagesize()
	// TestMain disabled transparent huge pages for the helpers.
	if err := unix.Prctl(unix.PR_SET_THP_DISABLE, 0, 0, 0, 0); err != nil {
		return fmt.Errorf("enable transparent huge pages: %w", err)
	}
	// The affinity set below applies to this thread only.
	runtime.LockOSThread()

	const hugePages = 8
	region, err := unix.Mmap(-1, 0, (hugePages+1)*huge, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_NORESERVE)
	if err != nil {
		return fmt.Errorf("mmap: %w", err)
	}
	if err := unix.Madvise(region, unix.MADV_HUGEPAGE); err != nil {
		return fmt.Errorf("madvise MADV_HUGEPAGE: %w", err)
	}
	// Only a range aligned to the huge page size can be mapped by one huge
	// page.
	addr := int(uintptr(unsafe.Pointer(&region[0])))
	mem := region[(huge-addr%huge)%huge:]
	small, err := unix.Mmap(-1, 0, hugeResiduePages*page, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		return fmt.Errorf("mmap: %w", err)
	}
	if err := unix.Madvise(small, unix.MADV_NOHUGEPAGE); err != nil {
		return fmt.Errorf("madvise MADV_NOHUGEPAGE: %w", err)
	}

	faulted := []byte("faulted\n")
	next := 0
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		command := strings.TrimSpace(sc.Text())
		var cpu int
		switch command {
		case "residue":
			cpu = cpus[0]
		case "huge":
			cpu = cpus[1]
		default:
			return fmt.Errorf("invalid command %q, expected residue or huge", command)
		}
		if next+huge > len(mem) {
			return fmt.Errorf("all %d huge pages used", hugePages)
		}
		var set unix.CPUSet
		set.Set(cpu)
		if err := unix.SchedSetaffinity(0, &set); err != nil {
			return fmt.Errorf("set CPU affinity to %d: %w", cpu, err)
		}
		mem[next] = 1
		next += huge
		// A plain write(2) of a prepared line faults in no page, so a
		// helper killed on the huge page fault never prints it.
		if _, err := unix.Write(1, faulted); err != nil {
			return fmt.Errorf("write: %w", err)
		}
		if command == "residue" {
			for off := 0; off < len(small); off += page {
				small[off] = 1
			}
		}
		hugeKiB, err := anonHugePagesKiB()
		if err != nil {
			return err
		}
		fmt.Println(hugeKiB)
	}
	return sc.Err()
}

// requireHugePages skips the test unless a MADV_HUGEPAGE region can get
// transparent huge pages.
func requireHugePages(t *testing.T) {
	t.Helper()
	data, err := os.ReadFile(thpDir + "/enabled")
	if err != nil {
		t.Skipf("transparent huge pages not available: %v", err)
	}
	if strings.Contains(string(data), "[never]") {
		t.Skipf("transparent huge pages disabled: %s/enabled is %q", thpDir, strings.TrimSpace(string(data)))
	}
}

// twoCPUs returns two CPUs this process may run on, or skips the test.
func twoCPUs(t *testing.T) [2]int {
	t.Helper()
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		t.Fatalf("get CPU affinity: %v", err)
	}
	var cpus []int
	for cpu := 0; cpu < len(set)*64 && len(cpus) < 2; cpu++ {
		if set.IsSet(cpu) {
			cpus = append(cpus, cpu)
		}
	}
	if len(cpus) < 2 {
		t.Skip("needs two CPUs")
	}
	return [2]int{cpus[0], cpus[1]}
}

// hugeStep sends a command to the huge helper and returns the
// AnonHugePages it prints.
func (h *helper) hugeStep(t *testing.T, command string) int {
	t.Helper()
	if _, err := fmt.Fprintln(h.stdin, command); err != nil {
		t.Fatalf("write to helper: %v", err)
	}
	if line := h.readLine(t); line != "faulted" {
		t.Fatalf("helper printed %q after %s, expected faulted", line, command)
	}
	line := h.readLine(t)
	size, err := strconv.Atoi(line)
	if err != nil {
		t.Fatalf("helper printed %q after %s, expected AnonHugePages in KiB", line, command)
	}
	return size
}

// TestEBPFHardLimitHugePage checks that a transparent huge page fault that
// crosses the hard limit is the one killed. A huge page fault adds 512
// pages to MM_ANONPAGES in one event, so the total before it can be
// outside the exact margin while fbc->count after it is still below the
// limit: the helper leaves hugeResiduePages in the per-CPU slot of one
// CPU, then faults a huge page on the other CPU that crosses the limit by
// fewer pages.
func TestEBPFHardLimitHugePage(t *testing.T) {
	requireHugePages(t)
	cpus := twoCPUs(t)
	huge, err := readHugePageSize()
	if err != nil {
		t.Fatal(err)
	}
	page := os.Getpagesize()
	m := openEBPF(t)
	cg := newCgroup(t)
	if err := m.Watch(cg.id, cg.path, noLimits); err != nil {
		t.Fatal(err)
	}
	h := startHelper(t, cg, helperHuge, fmt.Sprintf("%d,%d", cpus[0], cpus[1]))
	if got := h.hugeStep(t, "residue"); got < huge/kib {
		t.Skipf("helper got %d KiB of huge pages, expected at least one huge page of %d KiB", got, huge/kib)
	}

	// RSS re-syncs the exact sums, so the huge page below is the only
	// large change the program charges before the limit.
	rss, err := m.RSS(cg.id)
	if err != nil {
		t.Fatal(err)
	}
	overshoot := uint64(hugeResiduePages / 2 * page)
	limit := rss + uint64(huge) - overshoot
	if err := m.SetLimits(cg.id, Limits{Soft: NoLimit, Hard: limit}); err != nil {
		t.Fatal(err)
	}
	if _, err := fmt.Fprintln(h.stdin, "huge"); err != nil {
		t.Fatalf("write to helper: %v", err)
	}

	// SIGKILL sent during the fault ends the helper before it prints.
	if line, err := h.stdout.ReadString('\n'); err == nil {
		if strings.TrimSpace(line) != "faulted" {
			t.Fatalf("helper printed %q after huge, expected faulted or nothing", line)
		}
		// AnonHugePages follows unless a later fault got the kill.
		if next, err := h.stdout.ReadString('\n'); err == nil && strings.TrimSpace(next) == strconv.Itoa(huge/kib) {
			t.Skip("the second fault got no huge page")
		}
		t.Errorf("helper survived the huge page fault that crossed the hard limit %d (RSS %d before it), expected it killed by that fault",
			limit, rss)
	}
	ev, ok := nextEvent(t, m, 2*time.Second)
	if !ok {
		t.Fatalf("no event within 2s after a huge page fault crossing the hard limit %d (RSS %d before it)", limit, rss)
	}
	if ev.Kind != HardLimit {
		t.Errorf("event kind = %v, expected hard", ev.Kind)
	}
	if ev.RSS <= limit {
		t.Errorf("event RSS = %d, expected above the limit %d", ev.RSS, limit)
	}
	if over := ev.RSS - limit; over > uint64(huge) {
		t.Errorf("event RSS exceeds the limit by %d KiB, expected at most one huge page (%d KiB)", over/kib, huge/kib)
	}
	if !ev.Killed {
		t.Error("event Killed = false, expected the BPF program to kill the allocator")
	}
	if ev.PID != h.cmd.Process.Pid {
		t.Errorf("event PID = %d, expected the helper %d", ev.PID, h.cmd.Process.Pid)
	}
	status := h.waitExit(t, 5*time.Second)
	if !status.Signaled() || status.Signal() != syscall.SIGKILL {
		t.Errorf("helper exit status = %v, expected killed by SIGKILL", status)
	}
	t.Logf("limit %d, event RSS %d (%d KiB over)", limit, ev.RSS, (ev.RSS-limit)/kib)
}
