package tests

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// TestRejectedWrites checks that bad input fails with the contract's errno,
// puts a reason in err and changes nothing.
func TestRejectedWrites(t *testing.T) {
	s := startServer(t)
	s.mustSh(`mkdir c && echo 'sleep 300' > c/cmd && mkdir idle`)
	t.Cleanup(func() { s.sh("echo kill > c/ctl; cat c/wait") })
	// An unset rootfs reads as the supervisor's default.
	root := rootfs(t) + "\n"
	file := s.stateDir + "/a-file"
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	// A directory that exists, but that overlayfs options cannot name.
	colon := s.stateDir + "/a:b"
	if err := os.Mkdir(colon, 0o755); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, script, errText, errFile, unchanged, want string
	}{
		{"cmd while running", "/bin/echo 'sleep 1' > c/cmd", "Device or resource busy", "c/err", "c/cmd", "sleep 300\n"},
		{"rootfs while running", "/bin/echo / > c/rootfs", "Device or resource busy", "c/err", "c/state", "running\n"},
		{"unknown ctl", "/bin/echo frobnicate > c/ctl", "Invalid argument", "c/err", "c/state", "running\n"},
		{"stop idle", "/bin/echo stop > idle/ctl", "No such process", "idle/err", "idle/state", "created\n"},
		{"missing rootfs", "/bin/echo /no/such/dir > idle/rootfs", "No such file or directory", "idle/err", "idle/rootfs", root},
		{"file rootfs", "/bin/echo " + file + " > idle/rootfs", "Not a directory", "idle/err", "idle/rootfs", root},
		{"relative rootfs", "/bin/echo rel/dir > idle/rootfs", "Invalid argument", "idle/err", "idle/rootfs", root},
		{"rootfs with a colon", "/bin/echo " + colon + " > idle/rootfs", "Invalid argument", "idle/err", "idle/rootfs", root},
		{"missing program", "/bin/echo no-such-prog > idle/cmd", "No such file or directory", "idle/err", "idle/state", "created\n"},
		{"limits garbage", "/bin/echo garbage > idle/limits", "Invalid argument", "idle/err", "idle/limits", defaultLimits},
		{"limits unknown", "/bin/echo color=red > idle/limits", "Invalid argument", "idle/err", "idle/limits", defaultLimits},
		{"limits negative", "/bin/echo soft=-1 > idle/limits", "Invalid argument", "idle/err", "idle/limits", defaultLimits},
		{"soft above hard", "/bin/echo 'soft=64M hard=32M' > idle/limits", "Invalid argument", "idle/err", "idle/limits", defaultLimits},
		{"hard without a unit", "/bin/echo hard=64 > idle/limits", "Invalid argument", "idle/err", "idle/limits", defaultLimits},
		{"NUL in cmd", "/usr/bin/printf 'echo a\\000b' > idle/cmd", "Invalid argument", "idle/err", "idle/state", "created\n"},
		{"NUL in env", "/usr/bin/printf 'A=x\\000y' > idle/env", "Invalid argument", "idle/err", "idle/env", ""},
		{"root ctl", "/bin/echo reboot > ctl", "Invalid argument", "err", "idle/state", "created\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, errOut, code := s.sh(tt.script)
			if code == 0 || !strings.Contains(errOut, tt.errText) {
				t.Errorf("exit %d, stderr %q; want failure with %q", code, errOut, tt.errText)
			}
			if reason := s.read(tt.errFile); strings.TrimSpace(reason) == "" {
				t.Errorf("%s is empty after the rejected write", tt.errFile)
			}
			if got := s.read(tt.unchanged); got != tt.want {
				t.Errorf("%s = %q after rejected write, want %q", tt.unchanged, got, tt.want)
			}
		})
	}
}

const defaultLimits = "soft=max\nhard=max\npids=1024\ncpus=all\n"

func TestTreeOperations(t *testing.T) {
	s := startServer(t)
	s.mustSh(`mkdir run && echo 'sleep 300' > run/cmd`)
	t.Cleanup(func() { s.sh("echo kill > run/ctl; cat run/wait") })
	tests := []struct {
		name, script, errText string
	}{
		{"name with dot first", "mkdir .hidden", "Invalid argument"},
		{"name with dash first", "mkdir ./-x", "Invalid argument"},
		{"name with space", "mkdir 'a b'", "Invalid argument"},
		{"name too long", "mkdir " + strings.Repeat("n", 65), "Invalid argument"},
		{"reserved name", "mkdir status", "File exists"},
		{"existing name", "mkdir run", "File exists"},
		{"rmdir running", "rmdir run", "Device or resource busy"},
		{"rm a file", "rm -f run/state", "Operation not permitted"},
		{"touch a new file", "touch run/newfile", "Operation not permitted"},
		{"rename a file", "mv run/state run/state2", "Operation not permitted"},
		{"rmdir missing", "rmdir nosuch", "No such file or directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, errOut, code := s.sh(tt.script)
			if code == 0 || !strings.Contains(errOut, tt.errText) {
				t.Errorf("exit %d, stderr %q; want failure with %q", code, errOut, tt.errText)
			}
		})
	}
	if ls := s.mustSh("ls"); ls != "ctl\nerr\nevents\nmetrics\nmonitor\nrun\nstatus\n" {
		t.Errorf("ls after rejected operations = %q, want the root files and run", ls)
	}
	if st := s.read("run/state"); st != "running\n" {
		t.Errorf("run/state = %q, want running", st)
	}
	s.mustSh("mkdir 64-" + strings.Repeat("n", 61) + " && rmdir 64-" + strings.Repeat("n", 61))
}

func TestConcurrentMkdir(t *testing.T) {
	s := startServer(t)
	for i := range 20 {
		name := fmt.Sprintf("race%d", i)
		var wg sync.WaitGroup
		codes := make([]int, 2)
		for j := range codes {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, _, codes[j] = s.sh("mkdir " + name)
			}()
		}
		wg.Wait()
		if (codes[0] == 0) == (codes[1] == 0) {
			t.Errorf("mkdir %s twice at once: exit codes %v, want exactly one success", name, codes)
		}
	}
}

func TestOtherUserLockedOut(t *testing.T) {
	s := startServer(t)
	s.mustSh("mkdir mine")
	for _, script := range []string{"cat " + s.path("status"), "ls " + s.mnt, "echo x > " + s.path("mine/cmd")} {
		cmd := exec.Command("sh", "-c", script)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		out, err := cmd.CombinedOutput()
		if err == nil {
			t.Errorf("user nobody ran %q: %s", script, out)
		}
	}
}

func TestShutdownEndsContainers(t *testing.T) {
	s := startServer(t)
	s.mustSh(`mkdir one two && echo 'sleep 300' > one/cmd &&
		echo "sh -c 'trap \"\" TERM; while :; do sleep 1; done'" > two/cmd`)
	pid := strings.TrimSpace(s.read("one/pid"))
	if pid == "" {
		t.Fatal("one/pid is empty while running")
	}
	s.mustSh("echo shutdown > ctl")
	<-s.exited
	if s.exitErr != nil {
		t.Errorf("ctlfs serve exit: %v", s.exitErr)
	}
	if _, err := os.Stat("/proc/" + pid); err == nil {
		t.Errorf("init %s still runs after shutdown", pid)
	}
	for _, name := range []string{"one", "two"} {
		if pids := cgroupProcesses(t, name); len(pids) > 0 {
			t.Errorf("processes of %s left: %v", name, pids)
		}
	}
	if isMounted(s.mnt) {
		t.Errorf("%s still mounted", s.mnt)
	}
	if dir := s.cgroupDir(); dirExists(dir) {
		t.Errorf("cgroup %s left after shutdown", dir)
	}
}
