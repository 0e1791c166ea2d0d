package runtime_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"ctlfs/internal/testinit"
)

func TestLayerKeepsRootfsClean(t *testing.T) {
	sup := newSupervisor(t)
	marker := fmt.Sprintf("/layer-test-%d", os.Getpid())
	a, st := runCommand(t, sup, "writer", "sh -c 'echo a > "+marker+"; cat "+marker+"'")
	if st.String() != "exited 0" || readLog(t, a) != "a\n" {
		t.Fatalf("writer: state %q, log %q", st, readLog(t, a))
	}
	if _, err := os.Stat(filepath.Join(testRootfs(t), marker)); err == nil {
		t.Errorf("write inside the container reached the rootfs")
	}
	b, _ := runCommand(t, sup, "reader", "sh -c 'cat "+marker+" 2>/dev/null || echo absent'")
	if got := readLog(t, b); got != "absent\n" {
		t.Errorf("second container sees the first one's file: %q", got)
	}
	// The layer survives a restart and goes with the container.
	if err := a.Start(); err != nil {
		t.Fatal(err)
	}
	waitExit(t, a)
	if got := readLog(t, a); got != "a\na\n" {
		t.Errorf("log after restart = %q", got)
	}
	if err := sup.Remove("writer"); err != nil {
		t.Fatal(err)
	}
}

// TestDevices checks the devices of the container's /dev: each has the
// host device's number and mode, and works.
func TestDevices(t *testing.T) {
	sup := newSupervisor(t)
	script := `for d in null zero full random urandom tty; do stat -c "%n %F %t:%T %a" /dev/$d; done;
		echo x > /dev/null && echo null-ok;
		head -c 5 /dev/zero | wc -c; head -c 7 /dev/urandom | wc -c;
		(echo x > /dev/full) 2>/dev/null || echo full-ok`
	c, st := runCommand(t, sup, "devices", "sh -c '"+script+"'")
	log := readLog(t, c)
	if st.String() != "exited 0" {
		t.Fatalf("state %q, log:\n%s", st, log)
	}
	want := []string{
		"/dev/null character special file 1:3 666", "/dev/zero character special file 1:5 666",
		"/dev/full character special file 1:7 666", "/dev/random character special file 1:8 666",
		"/dev/urandom character special file 1:9 666", "/dev/tty character special file 5:0 666",
		"null-ok", "5", "7", "full-ok",
	}
	for _, line := range want {
		if !strings.Contains(log, line+"\n") {
			t.Errorf("no line %q in the container's output:\n%s", line, log)
		}
	}
}

func TestPrivilegesDropped(t *testing.T) {
	sup := newSupervisor(t)
	script := `grep -E "^(CapBnd|NoNewPrivs)" /proc/self/status;
		cat /proc/1/exe >/dev/null 2>&1 && echo exe-readable;
		ls -l /proc/1/exe 2>/dev/null | grep -q ctlfs && echo exe-link;
		test -s /proc/kcore && echo kcore;
		(echo 1 > /proc/sys/kernel/ns_last_pid) 2>/dev/null && echo sys-writable;
		mount -t tmpfs none /mnt 2>/dev/null && echo mounted;
		mknod /tmp/null c 1 3 2>/dev/null && echo mknod;
		echo net:; tail -n +3 /proc/net/dev | cut -d: -f1`
	c, st := runCommand(t, sup, "caps", "sh -c '"+script+"'")
	log := readLog(t, c)
	if st.String() != "exited 0" {
		t.Fatalf("state %q, log:\n%s", st, log)
	}
	// Docker's default set without MKNOD (27) and NET_RAW (13).
	if !strings.Contains(log, "CapBnd:\t00000000a00405fb\n") {
		t.Errorf("bounding set not Docker's default less MKNOD and NET_RAW:\n%s", log)
	}
	if !strings.Contains(log, "NoNewPrivs:\t1\n") {
		t.Errorf("no_new_privs not set:\n%s", log)
	}
	for _, bad := range []string{"exe-readable", "exe-link", "kcore", "sys-writable", "mounted", "mknod"} {
		if strings.Contains(log, bad) {
			t.Errorf("container could do %s:\n%s", bad, log)
		}
	}
	if _, net, _ := strings.Cut(log, "net:\n"); net != "    lo\n" {
		t.Errorf("network namespace has more than lo:\n%s", log)
	}
}

// TestInitNameInPs checks that ps in a container shows the init as
// ctlfs-init, whatever the file name of the program that the supervisor
// runs.
func TestInitNameInPs(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: creates namespaces, mounts and cgroups")
	}
	built, err := testinit.Path()
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile(built)
	if err != nil {
		t.Fatal(err)
	}
	initPath := filepath.Join(t.TempDir(), "init-copy")
	if err := os.WriteFile(initPath, src, 0o755); err != nil {
		t.Fatal(err)
	}
	sup := newSupervisorWithInit(t, initPath)
	c, st := runCommand(t, sup, "names", "ps -o pid,comm")
	log := readLog(t, c)
	if st.String() != "exited 0" {
		t.Fatalf("state %q, log:\n%s", st, log)
	}
	if !strings.Contains(log, "    1 ctlfs-init\n") {
		t.Errorf("ps does not show PID 1 as ctlfs-init:\n%s", log)
	}
}

// TestInheritableCapsCleared runs the init through setpriv with CAP_SYS_ADMIN
// and CAP_SYS_PTRACE in its inheritable set, as a supervisor started with
// them would pass on, and checks that the command has neither.
func TestInheritableCapsCleared(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: creates namespaces, mounts and cgroups")
	}
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		t.Skip("needs setpriv from util-linux")
	}

	built, err := testinit.Path()
	if err != nil {
		t.Fatal(err)
	}
	wrapper := filepath.Join(t.TempDir(), "init-inh")
	script := "#!/bin/sh\nexec " + setpriv + " --inh-caps +sys_admin,+sys_ptrace -- " + built + "\n"
	if err := os.WriteFile(wrapper, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}

	sup := newSupervisorWithInit(t, wrapper)
	c, st := runCommand(t, sup, "inh", "grep -E ^Cap(Inh|Prm|Amb) /proc/self/status")
	log := readLog(t, c)
	if st.String() != "exited 0" {
		t.Fatalf("state %q, log:\n%s", st, log)
	}
	for _, want := range []string{"CapInh:\t0000000000000000\n", "CapPrm:\t00000000a00405fb\n", "CapAmb:\t0000000000000000\n"} {
		if !strings.Contains(log, want) {
			t.Errorf("command's status lacks %q:\n%s", want, log)
		}
	}
}
