package tests

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestInstall installs with make install under a temporary prefix, checks
// the files and the systemd unit, runs the installed supervisor as that
// unit would (in a delegated cgroup, with a service manager's notify
// socket, without --rootfs), and uninstalls.
func TestInstall(t *testing.T) {
	dir := t.TempDir()
	prefix := filepath.Join(dir, "usr")
	unitDir := filepath.Join(dir, "systemd")
	stateDir := filepath.Join(dir, "state")
	vars := []string{"PREFIX=" + prefix, "UNITDIR=" + unitDir, "STATEDIR=" + stateDir}
	if out, err := exec.Command("make", append([]string{"-C", "..", "install"}, vars...)...).CombinedOutput(); err != nil {
		t.Fatalf("make install: %v\n%s", err, out)
	}

	executables := []string{"bin/ctlfs", "libexec/ctlfs/ctlfs-init", "lib/ctlfs/rootfs/bin/busybox"}
	for _, name := range executables {
		fi, err := os.Stat(filepath.Join(prefix, name))
		if err != nil {
			t.Errorf("make install did not install %s: %v", name, err)
		} else if fi.Mode()&0o111 == 0 {
			t.Errorf("%s is not executable: mode %v", name, fi.Mode())
		}
	}
	for _, doc := range []string{"README.md", "docs/MEMORY.md"} {
		if _, err := os.Stat(filepath.Join(prefix, "share/doc/ctlfs", doc)); err != nil {
			t.Errorf("make install did not install %s: %v", doc, err)
		}
	}
	if manual, err := os.ReadFile(filepath.Join(prefix, "share/doc/ctlfs/tree.txt")); err != nil {
		t.Errorf("make install did not install the tree's manual: %v", err)
	} else if !strings.Contains(string(manual), "\tmetrics  r ") {
		t.Errorf("installed tree.txt is not the manual:\n%s", manual)
	}

	unitPath := filepath.Join(unitDir, "ctlfs.service")
	data, err := os.ReadFile(unitPath)
	if err != nil {
		t.Fatalf("make install did not install the unit: %v", err)
	}
	unit := string(data)
	for _, want := range []string{
		"ExecStart=" + prefix + "/bin/ctlfs serve --mount /mnt/ctl --state-dir " + stateDir +
			" --rootfs " + prefix + "/lib/ctlfs/rootfs --cgroup-parent self\n",
		"\nType=notify\n", "\nDelegate=yes\n", "\nKillMode=mixed\n",
	} {
		if !strings.Contains(unit, want) {
			t.Errorf("unit lacks %q:\n%s", want, unit)
		}
	}
	if strings.Contains(unit, "@") {
		t.Errorf("unit has a placeholder left:\n%s", unit)
	}
	verifyUnit(t, unitPath)

	t.Run("serve", func(t *testing.T) { serveInstalled(t, prefix) })

	if out, err := exec.Command("make", append([]string{"-C", "..", "uninstall"}, vars...)...).CombinedOutput(); err != nil {
		t.Fatalf("make uninstall: %v\n%s", err, out)
	}
	for _, name := range []string{"usr/bin/ctlfs", "usr/libexec/ctlfs", "usr/lib/ctlfs", "usr/share/doc/ctlfs", "systemd/ctlfs.service"} {
		if _, err := os.Lstat(filepath.Join(dir, name)); err == nil {
			t.Errorf("make uninstall left %s", name)
		}
	}
}

// verifyUnit checks the unit with systemd-analyze verify, which prints
// unknown keys and bad values.
func verifyUnit(t *testing.T, path string) {
	t.Helper()
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Fatalf("systemd-analyze not found: install Debian's systemd package, as .ci/run does")
	}
	out, err := exec.Command(analyze, "verify", path).CombinedOutput()
	if err != nil || len(out) > 0 {
		t.Errorf("systemd-analyze verify %s: %v\n%s", path, err, out)
	}
}

// serveInstalled runs the installed ctlfs serve in a cgroup of its own,
// as systemd runs a unit with Delegate=yes, and checks that it signals
// readiness, finds its init and rootfs, and keeps its cgroups below its
// own.
func serveInstalled(t *testing.T, prefix string) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "notify")
	notify, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer notify.Close()

	mnt := cgroup2Mount(t)
	rel := "/ctlfs-test-delegated-" + strconv.Itoa(os.Getpid())
	cg := filepath.Join(mnt, rel)
	if err := os.Mkdir(cg, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { removeDelegated(t, rel) })
	fd, err := unix.Open(cg, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)

	s := &server{
		t:        t,
		mnt:      filepath.Join(dir, "mnt"),
		stateDir: filepath.Join(dir, "state"),
		log:      new(syncBuffer),
		exited:   make(chan struct{}),
		cgroup:   filepath.Join(cg, "containers"),
	}
	s.cmd = exec.Command(filepath.Join(prefix, "bin/ctlfs"), "serve", "--mount", s.mnt,
		"--state-dir", s.stateDir, "--grace", "2s", "--cgroup-parent", "self")
	s.cmd.Env = append(os.Environ(), "NOTIFY_SOCKET="+sock)
	s.cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: fd}
	s.start()

	notify.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 4096)
	n, err := notify.Read(buf)
	if err != nil {
		t.Fatalf("no message on the notify socket: %v\n%s", err, s.log)
	}
	if msg := string(buf[:n]); !strings.Contains(msg, "READY=1\n") {
		t.Errorf("notify message %q lacks READY=1", msg)
	}

	if got, want := cgroupOf(t, s.cmd.Process.Pid), rel+"/supervisor"; got != want {
		t.Errorf("supervisor's cgroup = %q, want %q", got, want)
	}
	if got, want := s.read("status"), "NAME\tSTATE\tPID\tRSS\tNICE\tCOMMAND\n"; got != want {
		t.Errorf("status = %q, want the header only", got)
	}
	s.mustSh("mkdir box && echo 'sleep 30' > box/cmd")
	if got, want := strings.TrimSpace(s.read("box/rootfs")), filepath.Join(prefix, "lib/ctlfs/rootfs"); got != want {
		t.Errorf("default rootfs = %q, want the installed %q", got, want)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(s.read("box/pid")))
	if err != nil {
		t.Fatalf("box/pid: %v", err)
	}
	checkContainerCgroup(t, pid, rel+"/containers/", "box")
	if want := "path=" + filepath.Join(prefix, "libexec/ctlfs/ctlfs-init"); !strings.Contains(s.log.String(), want) {
		t.Errorf("server log lacks the installed init, %s:\n%s", want, s.log)
	}
	if got := s.mustSh("echo kill > box/ctl && cat box/wait"); got != "exited 137 signal=KILL reason=kill\n" {
		t.Errorf("wait after kill = %q", got)
	}
}

// checkContainerCgroup checks that process pid is in the cgroup v2
// directory parent+name, or parent+.prestart-N when its init was cloned
// ahead of time and so is named after its place in the pool.
func checkContainerCgroup(t *testing.T, pid int, parent, name string) {
	t.Helper()
	got := cgroupOf(t, pid)
	leaf, ok := strings.CutPrefix(got, parent)
	if !ok || leaf != name && !strings.HasPrefix(leaf, ".prestart-") {
		t.Errorf("container's cgroup = %q, want %s%s or %s.prestart-N", got, parent, name, parent)
	}
}

// cgroupOf returns the cgroup v2 path of process pid.
func cgroupOf(t *testing.T, pid int) string {
	t.Helper()
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cgroup")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if path, ok := strings.CutPrefix(line, "0::"); ok {
			return path
		}
	}
	t.Fatalf("no cgroup v2 line in /proc/%d/cgroup:\n%s", pid, data)
	return ""
}

// removeDelegated removes the test's delegated cgroup, as systemd does
// when the unit stops, and fails the test if the supervisor left
// container cgroups in it.
func removeDelegated(t *testing.T, rel string) {
	dirs := []string{filepath.Join(cgroup2Mount(t), rel)}
	v1, _ := filepath.Glob("/sys/fs/cgroup/*" + rel)
	dirs = append(dirs, v1...)
	for _, dir := range dirs {
		if leftover, _ := filepath.Glob(dir + "/containers/*"); len(leftover) > 0 {
			t.Errorf("container cgroups left: %q", leftover)
		}
		// Deepest first; errors for missing directories do not matter.
		for _, sub := range []string{"containers", "supervisor", ""} {
			os.Remove(filepath.Join(dir, sub))
		}
		if _, err := os.Stat(dir); err == nil {
			t.Errorf("cannot remove cgroup %s", dir)
		}
	}
}

// TestCgroupParentPath checks that --cgroup-parent with a path puts the
// supervisor's directory, and the containers' cgroups, below that path,
// and that the path itself stays when the supervisor exits.
func TestCgroupParentPath(t *testing.T) {
	rel := "/ctlfs-test-parent-" + strconv.Itoa(os.Getpid())
	removeCgroupParentAtEnd(t, rel[1:])
	dir := t.TempDir()
	stateDir := filepath.Join(dir, "state")
	s := &server{
		t:        t,
		mnt:      filepath.Join(dir, "mnt"),
		stateDir: stateDir,
		log:      new(syncBuffer),
		exited:   make(chan struct{}),
	}
	defaultDir := s.cgroupDir() // ctlfs/INSTANCE below the v2 mount
	s.cgroup = filepath.Join(cgroup2Mount(t), rel, filepath.Base(defaultDir))
	s.cmd = exec.Command(bin, "serve", "--mount", s.mnt, "--state-dir", stateDir,
		"--rootfs", rootfs(t), "--grace", "2s", "--cgroup-parent", rel[1:])
	s.start()

	s.mustSh("mkdir box && echo 'sleep 30' > box/cmd")
	pid, err := strconv.Atoi(strings.TrimSpace(s.read("box/pid")))
	if err != nil {
		t.Fatalf("box/pid: %v", err)
	}
	checkContainerCgroup(t, pid, rel+"/"+filepath.Base(defaultDir)+"/", "box")
	if dirExists(defaultDir) {
		t.Errorf("default cgroup directory %s exists, want none", defaultDir)
	}
	s.mustSh("echo kill > box/ctl && cat box/wait")
	s.stop()
	if !dirExists(filepath.Join(cgroup2Mount(t), rel)) {
		t.Errorf("parent %s removed by the supervisor, want it kept", rel)
	}
}
