package tests

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// counter prints numbered lines, pausing every 500 lines.
const counter = `sh -c 'i=0; while :; do echo line $i; i=$((i+1)); ` +
	`[ $((i % 500)) = 0 ] && sleep 0.1; done'`

// checkCounted checks that log is "line 0" up to some "line N", in order
// with no gap or repeat, allowing a last line cut short, and returns N.
func checkCounted(t *testing.T, log string, first int) int {
	t.Helper()
	lines := strings.Split(log, "\n")
	next := first
	for i, line := range lines {
		if line == fmt.Sprintf("line %d", next) {
			next++
			continue
		}
		if i == len(lines)-1 && strings.HasPrefix(fmt.Sprintf("line %d", next), line) {
			break // the last line, not yet complete
		}
		t.Fatalf("line %d is %q, want %q", i, line, fmt.Sprintf("line %d", next))
	}
	return next - 1
}

func TestCrashAndRestart(t *testing.T) {
	s := startServer(t)
	s.mustSh("mkdir counter && cat > counter/cmd <<'EOF'\n" + counter + "\nEOF")
	waitFor(t, "2000 lines", func() bool { return strings.Contains(s.read("counter/log"), "line 2000\n") })
	pid := strings.TrimSpace(s.read("counter/pid"))
	seen := s.read("counter/log")
	s.kill()

	waitFor(t, "container processes to die", func() bool {
		_, err := os.Stat("/proc/" + pid)
		return err != nil && len(cgroupProcesses(t, "counter")) == 0
	})
	disk, err := os.ReadFile(filepath.Join(s.stateDir, "logs", "counter.log"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(disk), seen) {
		t.Errorf("log on disk (%d bytes) lacks bytes read before the kill (%d)", len(disk), len(seen))
	}
	checkCounted(t, string(disk), 0)

	s2 := startServerAt(t, s.mnt, s.stateDir)
	if st := s2.read("counter/state"); st != "exited 137 signal=KILL reason=lost\n" {
		t.Errorf("state after restart = %q", st)
	}
	if got := s2.read("counter/log"); got != string(disk) {
		t.Errorf("log after restart differs from the disk (%d and %d bytes)", len(got), len(disk))
	}
	s2.mustSh("echo start > counter/ctl && echo kill > counter/ctl")
	if st := s2.waitState("counter"); st != "exited 137 signal=KILL reason=kill" {
		t.Errorf("restarted container: %q", st)
	}
}

// TestSecondServerOnStateDir starts ctlfs serve on the state directory of
// a running server. The second must exit 1 naming the first one's PID and
// remove the mount point it made. The first one's container must keep
// running: a server that took it for a leftover of a crash would kill it.
func TestSecondServerOnStateDir(t *testing.T) {
	s := startServer(t)
	s.mustSh("mkdir kept && echo 'sleep 300' > kept/cmd")
	mnt := filepath.Join(t.TempDir(), "mnt")
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	second := exec.CommandContext(ctx, bin, "serve", "--mount", mnt, "--state-dir", s.stateDir,
		"--rootfs", rootfs(t))
	second.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out, err := second.CombinedOutput()
	if code := second.ProcessState.ExitCode(); code != 1 {
		t.Errorf("second serve: %v, exit code %d, want 1\n%s", err, code, out)
	}
	want := fmt.Sprintf("state directory in use by another supervisor: %s is locked by PID %d",
		s.stateDir, s.cmd.Process.Pid)
	if !strings.Contains(string(out), want) {
		t.Errorf("second serve printed:\n%s\nwant a line with %q", out, want)
	}
	if _, err := os.Stat(mnt); !os.IsNotExist(err) {
		t.Errorf("mount point of the second serve: %v, want it removed", err)
	}
	// Longer than a supervisor waits for the inits of a dead one.
	time.Sleep(2 * time.Second)
	if st := s.read("kept/state"); st != "running\n" {
		t.Errorf("first server's container is %q, want running", st)
	}
}

// TestCrashedServerCgroupsRemoved kills a supervisor and starts one on
// another state directory, which removes the cgroup directories that the
// first could not remove, in every hierarchy. Both run under a cgroup
// parent of their own, where no supervisor of another test can remove the
// directories first.
func TestCrashedServerCgroupsRemoved(t *testing.T) {
	rel := "ctlfs-test-orphans-" + strconv.Itoa(os.Getpid())
	removeCgroupParentAtEnd(t, rel)
	startUnder := func() *server {
		s := startServer(t, "--cgroup-parent", rel)
		s.cgroup = filepath.Join(cgroup2Mount(t), rel, filepath.Base(s.cgroupDir()))
		return s
	}
	s := startUnder()
	s.mustSh("mkdir c && echo 'sleep 300' > c/cmd")
	s.kill()
	dir := s.cgroupDir()
	waitFor(t, "the killed server's inits to exit", func() bool {
		return !strings.Contains(readFile(t, filepath.Join(dir, "cgroup.events")), "populated 1")
	})
	left, err := filepath.Glob(filepath.Join("/sys/fs/cgroup/*", rel, filepath.Base(dir)))
	if err != nil {
		t.Fatal(err)
	}
	left = append(left, dir)

	s2 := startUnder()
	for _, d := range left {
		if dirExists(d) {
			t.Errorf("cgroup %s of the killed server left after another started", d)
		}
	}
	want := fmt.Sprintf(`msg="removing cgroup of a supervisor that died" cgroup=%s state_dir=%s`, dir, s.stateDir)
	if !strings.Contains(s2.log.String(), want) {
		t.Errorf("the new server's log does not report the removal with %s:\n%s", want, s2.log)
	}
}

// TestRestartAtOnce restarts the supervisor right after it was killed,
// while the inits may still be saving their containers' output. The log
// must keep every byte, and a new run must append to it rather than
// write over what the inits saved.
func TestRestartAtOnce(t *testing.T) {
	s := startServer(t)
	s.mustSh("mkdir counter && cat > counter/cmd <<'EOF'\n" + counter + "\nEOF")
	waitFor(t, "2000 lines", func() bool { return strings.Contains(s.read("counter/log"), "line 2000\n") })
	s.kill()

	s2 := startServerAt(t, s.mnt, s.stateDir)
	disk, err := os.ReadFile(filepath.Join(s.stateDir, "logs", "counter.log"))
	if err != nil {
		t.Fatal(err)
	}
	saved := s2.read("counter/log")
	if saved != string(disk) {
		t.Errorf("log after restart differs from the disk (%d and %d bytes)", len(saved), len(disk))
	}
	checkCounted(t, saved, 0)

	s2.mustSh("echo start > counter/ctl")
	waitFor(t, "the second run's first line", func() bool {
		return len(s2.read("counter/log")) > len(saved)+len("line 0\n")
	})
	s2.mustSh("echo kill > counter/ctl")
	s2.waitState("counter")
	log := s2.read("counter/log")
	if !strings.HasPrefix(log, saved) {
		t.Fatalf("the second run wrote over the first run's log (%d bytes before it)", len(saved))
	}
	// The first run may have ended in the middle of a line.
	second := log[len(saved):]
	if i := strings.Index(second, "line 0\n"); i < 0 {
		t.Errorf("second run's output not after the first's: %.40q", second)
	} else {
		checkCounted(t, second[i:], 0)
	}
}

func TestForkBomb(t *testing.T) {
	s := startServer(t)
	root := bombRootfs(t)
	s.mustSh(`mkdir calm bomb && echo 'sleep 300' > calm/cmd &&
		echo pids=100 > bomb/limits && echo ` + root + ` > bomb/rootfs &&
		echo /forkbomb > bomb/cmd`)
	pid := strings.TrimSpace(s.read("bomb/pid"))
	pidsDir := cgroupDirOf(t, pid, "pids")
	waitFor(t, "the bomb to reach its cap", func() bool {
		return strings.Contains(readFile(t, pidsDir+"/pids.events"), "max ") &&
			!strings.Contains(readFile(t, pidsDir+"/pids.events"), "max 0")
	})
	time.Sleep(time.Second) // keep the bomb pressing against the cap
	if n, _ := strconv.Atoi(strings.TrimSpace(readFile(t, pidsDir+"/pids.current"))); n > 100 {
		t.Errorf("bomb has %d tasks, cap 100", n)
	}
	if st := s.read("calm/state"); st != "running\n" {
		t.Errorf("calm/state = %q during the bomb", st)
	}
	if out := s.mustSh("cat status"); !strings.Contains(out, "bomb\trunning") {
		t.Errorf("status during the bomb:\n%s", out)
	}
	s.mustSh("echo kill > bomb/ctl")
	if st := s.waitState("bomb"); st != "exited 137 signal=KILL reason=kill" {
		t.Errorf("bomb after kill: %q", st)
	}
	if pids := cgroupProcesses(t, "bomb"); len(pids) > 0 {
		t.Errorf("bomb processes left: %v", pids)
	}
	s.mustSh("echo kill > calm/ctl; cat calm/wait")
}

// bombRootfs returns a copy of the default rootfs, on the file system of
// the test's temporary directory, with a fork bomb at /forkbomb.
func bombRootfs(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "rootfs")
	if out, err := exec.Command("cp", "-a", rootfs(t), dir).CombinedOutput(); err != nil {
		t.Fatalf("copy rootfs: %v: %s", err, out)
	}
	build := exec.Command("go", "build", "-o", filepath.Join(dir, "forkbomb"), "./testdata/forkbomb")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build forkbomb: %v: %s", err, out)
	}
	return dir
}

// cgroupDirOf returns the directory of a v1 controller's cgroup of pid,
// or of its v2 cgroup when the controller is not mounted on its own.
func cgroupDirOf(t *testing.T, pid, controller string) string {
	t.Helper()
	data := readFile(t, "/proc/"+pid+"/cgroup")
	var v2 string
	for _, line := range strings.Split(data, "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) < 3 {
			continue
		}
		if parts[1] == controller && controller != "" {
			return "/sys/fs/cgroup/" + controller + parts[2]
		}
		if parts[0] == "0" {
			v2 = cgroup2Mount(t) + parts[2]
		}
	}
	return v2
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func TestDefaultPidsLimit(t *testing.T) {
	s := startServer(t)
	s.mustSh(`mkdir p && echo 'sleep 300' > p/cmd`)
	defer s.sh("echo kill > p/ctl; cat p/wait")
	if !strings.Contains(s.read("p/limits"), "pids=1024\n") {
		t.Errorf("limits = %q, want pids=1024", s.read("p/limits"))
	}
	dir := cgroupDirOf(t, strings.TrimSpace(s.read("p/pid")), "pids")
	if max := readFile(t, dir+"/pids.max"); max != "1024\n" {
		t.Errorf("pids.max = %q, want 1024", max)
	}
}

// TestLogRotationFollowed follows a log across several rotations with
// tail -f and tail -F and checks that neither loses nor repeats a line.
func TestLogRotationFollowed(t *testing.T) {
	s := startServer(t, "--log-max", "128K")
	s.mustSh("mkdir rot")
	var followers []*exec.Cmd
	outputs := make([]*syncBuffer, 2)
	for i, flag := range []string{"-f", "-F"} {
		outputs[i] = new(syncBuffer)
		cmd := exec.Command("tail", "-s", "0.2", flag, "-n", "+1", s.path("rot/log"))
		cmd.Stdout = outputs[i]
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		followers = append(followers, cmd)
	}
	s.mustSh(`echo "sh -c 'i=0; while [ \$i -lt 20000 ]; do echo line \$i; i=\$((i+1)); ` +
		`[ \$((i % 500)) = 0 ] && sleep 0.1; done; echo end'" > rot/cmd`)
	s.waitState("rot")
	for i, cmd := range followers {
		waitFor(t, "tail to reach the end", func() bool {
			return strings.HasSuffix(outputs[i].String(), "line 19999\nend\n")
		})
		cmd.Process.Kill()
		cmd.Wait()
		out := strings.TrimSuffix(outputs[i].String(), "end\n")
		if last := checkCounted(t, out, 0); last != 19999 {
			t.Errorf("tail %d: last line %d", i, last)
		}
	}
	var disk int64
	for _, name := range []string{"rot.log", "rot.log.1"} {
		if fi, err := os.Stat(filepath.Join(s.stateDir, "logs", name)); err == nil {
			disk += fi.Size()
		}
	}
	if disk > 128<<10 {
		t.Errorf("log uses %d bytes on disk, cap 128K", disk)
	}
	// A new reader gets the bytes still kept, from a line boundary on.
	if log := s.read("rot/log"); !strings.HasSuffix(log, "line 19999\nend\n") || len(log) > 128<<10 {
		t.Errorf("cat log after rotation: %d bytes ending %q", len(log), log[max(0, len(log)-20):])
	}
}

// TestLogFloodIsolated checks that a container writing as fast as it can
// keeps the supervisor's memory bounded and does not hold up another
// container's log.
func TestLogFloodIsolated(t *testing.T) {
	s := startServer(t, "--log-max", "8M")
	s.mustSh(`mkdir flood quiet && echo 'yes flood' > flood/cmd`)
	defer s.sh("echo kill > flood/ctl; cat flood/wait")
	s.mustSh(`echo "sh -c 'i=0; while [ \$i -lt 20 ]; do echo quiet \$i; i=\$((i+1)); sleep 0.1; done'" > quiet/cmd`)
	if st := s.waitState("quiet"); st != "exited 0" {
		t.Errorf("quiet: %q", st)
	}
	if n := strings.Count(s.read("quiet/log"), "\n"); n != 20 {
		t.Errorf("quiet log has %d lines, want 20", n)
	}
	if st := s.read("flood/state"); st != "running\n" {
		t.Errorf("flood/state = %q", st)
	}
	if rss := processRSS(t, s.cmd.Process.Pid); rss > 200<<20 {
		t.Errorf("supervisor RSS %d MiB during the flood", rss>>20)
	}
}

// processRSS returns VmRSS of a process in bytes.
func processRSS(t *testing.T, pid int) int64 {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.Fields(rest)[0], 10, 64)
			return kb << 10
		}
	}
	return 0
}

// TestManyContainersNoLeaks runs 1000 containers that exit, are stopped
// or are killed, removes them, and checks that nothing stays behind.
func TestManyContainersNoLeaks(t *testing.T) {
	if testing.Short() {
		t.Skip("runs 1000 containers; skipped with -short")
	}
	s := startServer(t)
	pid := s.cmd.Process.Pid
	// Each waiting init holds descriptors of the server.
	s.waitPrestarted()
	fdsBefore := countEntries(t, fmt.Sprintf("/proc/%d/fd", pid))
	mountsBefore := serverMounts(t, s)
	var wg sync.WaitGroup
	errs := make(chan error, 1000)
	for worker := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := worker; i < 1000; i += 8 {
				if err := cycleContainer(s, i); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	waitOrDump(t, s, &wg, 5*time.Minute)
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if ls := s.mustSh("ls"); ls != rootListing {
		t.Errorf("containers left: %q", ls)
	}
	waitFor(t, "descriptors to settle", func() bool {
		return countEntries(t, fmt.Sprintf("/proc/%d/fd", pid)) <= fdsBefore
	})
	if n := serverMounts(t, s); n != mountsBefore {
		t.Errorf("mounts of the server: %d before, %d after", mountsBefore, n)
	}
	if z := zombieChildren(t, pid); len(z) > 0 {
		t.Errorf("zombie children of the supervisor: %v", z)
	}
	waitFor(t, "the cgroups to go", func() bool { return len(s.cgroupsLeft()) == 0 })
	mon := s.read("monitor")
	if !strings.Contains(mon, "watching 0 cgroups") ||
		strings.HasPrefix(mon, "ebpf") && !strings.Contains(mon, " 0 slot entries, 0 address spaces") {
		t.Errorf("monitor keeps entries after every container was removed: %s", mon)
	}
	// Layers are deleted in the background after rmdir.
	waitFor(t, "the layers to go", func() bool { return countEntries(t, filepath.Join(s.stateDir, "layers")) == 0 })
	for _, dir := range []string{"logs", "containers"} {
		if n := countEntries(t, filepath.Join(s.stateDir, dir)); n > 0 {
			t.Errorf("%d entries left in %s", n, dir)
		}
	}
}

// cycleContainer runs container i to its end in one of three ways and
// removes it.
func cycleContainer(s *server, i int) error {
	dir := filepath.Join(s.mnt, fmt.Sprintf("c%d", i))
	if err := os.Mkdir(dir, 0o755); err != nil {
		return err
	}
	cmd, ctl := "/bin/true", ""
	switch i % 3 {
	case 1:
		cmd, ctl = "sleep 300", "stop"
	case 2:
		cmd, ctl = "sleep 300", "kill"
	}
	if err := os.WriteFile(filepath.Join(dir, "cmd"), []byte(cmd), 0); err != nil {
		return fmt.Errorf("start c%d: %w", i, err)
	}
	if ctl != "" {
		if err := os.WriteFile(filepath.Join(dir, "ctl"), []byte(ctl), 0); err != nil {
			return fmt.Errorf("%s c%d: %w", ctl, i, err)
		}
	}
	if _, err := os.ReadFile(filepath.Join(dir, "wait")); err != nil {
		return fmt.Errorf("wait c%d: %w", i, err)
	}
	if err := os.Remove(dir); err != nil {
		return fmt.Errorf("remove c%d: %w", i, err)
	}
	return nil
}

// waitOrDump waits for wg; when that takes longer than limit it makes
// the server print its goroutines and fails with its log.
func waitOrDump(t *testing.T, s *server, wg *sync.WaitGroup, limit time.Duration) {
	t.Helper()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(limit):
		s.cmd.Process.Signal(syscall.SIGQUIT)
		<-s.exited
		s.killed = true
		t.Fatalf("containers did not finish in %v; server log:\n%s", limit, s.log)
	}
}

func countEntries(t *testing.T, dir string) int {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return len(entries)
}

// serverMounts counts the mounts in the host's mount namespace below the
// server's mount point or state directory, such as leaked container
// layers. Other mounts on the machine may come and go meanwhile.
func serverMounts(t *testing.T, s *server) int {
	t.Helper()
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, line := range strings.Split(string(data), "\n") {
		if strings.Contains(line, s.mnt) || strings.Contains(line, s.stateDir) {
			n++
		}
	}
	return n
}

// zombieChildren returns the PIDs of zombie children of pid.
func zombieChildren(t *testing.T, pid int) []string {
	t.Helper()
	entries, _ := os.ReadDir("/proc")
	var zombies []string
	for _, e := range entries {
		data, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// Fields after the command name: state, then parent PID.
		rest := string(data[strings.LastIndexByte(string(data), ')')+2:])
		f := strings.Fields(rest)
		if len(f) > 1 && f[0] == "Z" && f[1] == strconv.Itoa(pid) {
			zombies = append(zombies, e.Name())
		}
	}
	return zombies
}

// TestCrashDuringStart kills the supervisor while containers start and
// checks that none of their processes survive it.
func TestCrashDuringStart(t *testing.T) {
	dir := t.TempDir()
	mnt, state := filepath.Join(dir, "mnt"), filepath.Join(dir, "state")
	names := []string{"s0", "s1", "s2", "s3"}
	for round := range 10 {
		s := startServerAt(t, mnt, state)
		for _, name := range names {
			os.Mkdir(s.path(name), 0o755)
		}
		var wg sync.WaitGroup
		for _, name := range names {
			wg.Add(1)
			go func() {
				defer wg.Done()
				os.WriteFile(s.path(name+"/cmd"), []byte("sleep 300"), 0)
			}()
		}
		time.Sleep(time.Duration(round) * 2 * time.Millisecond)
		s.kill()
		wg.Wait()
		for _, name := range names {
			waitFor(t, name+"'s processes to die", func() bool {
				return len(cgroupProcesses(t, name)) == 0
			})
		}
	}
	s := startServerAt(t, mnt, state)
	for _, name := range names {
		st := s.read(name + "/state")
		if st != "created\n" && !strings.HasPrefix(st, "exited ") {
			t.Errorf("%s/state = %q after the crashes", name, st)
		}
	}
}

// TestLogSavedAfterCrash stops the supervisor so that it reads nothing,
// lets a container write, then kills the supervisor: what the container
// wrote meanwhile must still reach the log on disk.
func TestLogSavedAfterCrash(t *testing.T) {
	s := startServer(t)
	s.mustSh(`mkdir ticker && echo "sh -c 'while :; do echo tick; sleep 0.05; done'" > ticker/cmd`)
	waitFor(t, "the first tick", func() bool { return strings.Contains(s.read("ticker/log"), "tick") })
	logPath := filepath.Join(s.stateDir, "logs", "ticker.log")
	s.cmd.Process.Signal(syscall.SIGSTOP)
	before := strings.Count(readFile(t, logPath), "tick\n")
	time.Sleep(500 * time.Millisecond) // the container writes about ten ticks into the pipe
	s.kill()
	waitFor(t, "the container to die", func() bool { return len(cgroupProcesses(t, "ticker")) == 0 })
	after := readFile(t, logPath)
	if n := strings.Count(after, "tick\n"); n <= before {
		t.Errorf("log has %d ticks after the crash, %d before the supervisor stopped: "+
			"what the container wrote meanwhile was lost", n, before)
	}
	if strings.Trim(strings.ReplaceAll(after, "tick\n", ""), "tick") != "" {
		t.Errorf("log holds more than whole ticks: %q", after)
	}
	// A new supervisor on the same state directory removes the cgroups the
	// dead one left, and its shutdown checks that none remain.
	startServerAt(t, s.mnt, s.stateDir)
}

// TestShutdownWithMountCopies shuts the supervisor down while another
// mount namespace holds a copy of the tree's mount: the supervisor must
// not wait for that namespace to end.
func TestShutdownWithMountCopies(t *testing.T) {
	s := startServer(t)
	holder := exec.Command("unshare", "--mount", "--propagation", "private", "sleep", "120")
	holder.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		holder.Process.Kill()
		holder.Wait()
	}()
	waitFor(t, "the holder's mount namespace", func() bool {
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/mountinfo", holder.Process.Pid))
		own, _ := os.Readlink("/proc/self/ns/mnt")
		theirs, _ := os.Readlink(fmt.Sprintf("/proc/%d/ns/mnt", holder.Process.Pid))
		return err == nil && theirs != own && strings.Contains(string(data), " "+s.mnt+" ")
	})
	s.mustSh("echo shutdown > ctl")
	select {
	case <-s.exited:
	case <-time.After(30 * time.Second):
		t.Fatalf("supervisor still running 30 s after shutdown while a mount copy exists:\n%s", s.log)
	}
	if err := holder.Process.Signal(syscall.Signal(0)); err != nil {
		t.Fatalf("the holder ended before the supervisor: %v", err)
	}
	if !strings.Contains(s.log.String(), "aborting it") {
		t.Errorf("supervisor log does not say that it aborted the connection:\n%s", s.log)
	}
}
