package fsys_test

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// readFile returns the content of the file at path, failing the test on
// an error.
func readFile(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	return string(data)
}

func writeFile(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatalf("write %q to %s: %v", text, path, err)
	}
}

// shell runs script with sh in dir and returns its output. The shell
// changes to dir itself, because cmd.Dir makes the child chdir between
// fork and exec: it then waits for this process to reply to a FUSE
// request while the forking thread is suspended in vfork, which deadlocked the
// test under -race.
func shell(t *testing.T, dir, script string) (string, error) {
	t.Helper()
	cmd := exec.Command("sh", "-c", `cd "$0" && eval "$1"`, dir, script)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func listDir(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

func TestRootFiles(t *testing.T) {
	requireRoot(t)
	dir, _ := mountTree(t, "/nonexistent")
	want := []string{"ctl", "err", "events", "metrics", "monitor", "status"}
	if got := listDir(t, dir); !slices.Equal(got, want) {
		t.Errorf("root lists %q, want %q", got, want)
	}
	if got := readFile(t, dir+"/status"); got != "NAME\tSTATE\tPID\tRSS\tNICE\tCOMMAND\n" {
		t.Errorf("status = %q, want the header only", got)
	}
	if got := readFile(t, dir+"/monitor"); got != "proc: test monitor\n" {
		t.Errorf("monitor = %q", got)
	}
	if got := readFile(t, dir+"/err"); got != "" {
		t.Errorf("err = %q before any error, want empty", got)
	}
}

func TestMkdirRmdir(t *testing.T) {
	requireRoot(t)
	dir, _ := mountTree(t, "/nonexistent")
	if out, err := shell(t, dir, "mkdir web && ls web"); err != nil {
		t.Fatalf("mkdir web: %v: %s", err, out)
	}
	names := listDir(t, dir+"/web")
	for _, want := range []string{"rootfs", "cmd", "limits", "env", "net", "ctl", "state",
		"wait", "pid", "rss", "nice", "log", "events", "err", "status"} {
		if !slices.Contains(names, want) {
			t.Errorf("web lists %q, missing %s", names, want)
		}
	}
	if got := readFile(t, dir+"/web/state"); got != "created\n" {
		t.Errorf("state = %q, want created", got)
	}
	if !slices.Contains(listDir(t, dir), "web") {
		t.Errorf("root does not list web")
	}
	if out, err := shell(t, dir, "rmdir web"); err != nil {
		t.Fatalf("rmdir web: %v: %s", err, out)
	}
	if _, err := os.Stat(dir + "/web"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("stat web after rmdir: %v, want not exist", err)
	}
}

func TestMkdirRejected(t *testing.T) {
	requireRoot(t)
	dir, _ := mountTree(t, "/nonexistent")
	if err := os.Mkdir(dir+"/web", 0o755); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		dirName string
		errno   syscall.Errno
		reason  string
	}{
		{"existing", "web", syscall.EEXIST, ""},
		{"root file name", "status", syscall.EEXIST, ""},
		{"space in name", "a b", syscall.EINVAL, `container name "a b"`},
		{"leading dot", ".hidden", syscall.EINVAL, `container name ".hidden"`},
		{"too long", strings.Repeat("x", 65), syscall.EINVAL, "length must be 1 to 64"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := os.Mkdir(filepath.Join(dir, tt.dirName), 0o755)
			if !errors.Is(err, tt.errno) {
				t.Fatalf("mkdir %q: %v, want %v", tt.dirName, err, tt.errno)
			}
			if got := readFile(t, dir+"/err"); !strings.Contains(got, tt.reason) {
				t.Errorf("err = %q, want it to contain %q", got, tt.reason)
			}
		})
	}
}

func TestRmdirMissing(t *testing.T) {
	requireRoot(t)
	dir, _ := mountTree(t, "/nonexistent")
	if err := os.Remove(dir + "/nothere"); !errors.Is(err, syscall.ENOENT) {
		t.Errorf("rmdir nothere: %v, want ENOENT", err)
	}
}

func TestWriteValues(t *testing.T) {
	requireRoot(t)
	dir, _ := mountTree(t, "/nonexistent")
	web := dir + "/web"
	if err := os.Mkdir(web, 0o755); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		file   string
		script string // run in web
		want   string
	}{
		{"limits with units", "limits", "echo 'soft=64MiB hard=1G' > limits",
			"soft=67108864\nhard=1073741824\npids=1024\ncpus=all\n"},
		{"limits sets named keys only", "limits", "echo pids=10 > limits",
			"soft=67108864\nhard=1073741824\npids=10\ncpus=all\n"},
		{"env lines", "env", "printf 'A=1\\nB=two words\\n' > env", "A=1\nB=two words\n"},
		{"env cleared", "env", "echo > env", ""},
		{"net host", "net", "echo host > net", "host\n"},
		{"rootfs", "rootfs", "echo /tmp > rootfs", "/tmp\n"},
		{"nice while created", "nice", "echo 'nice 7' > ctl", "7\n"},
		{"bare nice", "nice", "echo -3 > ctl", "-3\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if out, err := shell(t, web, tt.script); err != nil {
				t.Fatalf("%s: %v: %s", tt.script, err, out)
			}
			if got := readFile(t, filepath.Join(web, tt.file)); got != tt.want {
				t.Errorf("%s = %q, want %q", tt.file, got, tt.want)
			}
		})
	}
}

func TestRejectedWrites(t *testing.T) {
	requireRoot(t)
	dir, _ := mountTree(t, "/nonexistent")
	web := dir + "/web"
	if err := os.Mkdir(web, 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, web+"/limits", "soft=1M hard=2M")
	tests := []struct {
		name   string
		file   string
		text   string
		errno  syscall.Errno
		reason string
	}{
		{"read-only file", "state", "running", syscall.EACCES, "read-only"},
		{"soft above hard", "limits", "soft=3M", syscall.EINVAL, "soft 3145728 above hard 2097152"},
		{"unknown limit", "limits", "speed=9", syscall.EINVAL, `unknown key "speed"`},
		{"bad size", "limits", "hard=12Q", syscall.EINVAL, "12Q"},
		{"unknown ctl command", "ctl", "restart", syscall.EINVAL, `unknown command "restart"`},
		{"nice out of range", "ctl", "nice 20", syscall.EINVAL, "nice"},
		{"stop when not running", "ctl", "stop", syscall.ESRCH, "not running"},
		{"kill when not running", "ctl", "kill TERM", syscall.ESRCH, "not running"},
		{"freeze when not running", "ctl", "freeze", syscall.ESRCH, "not running"},
		{"start without command", "ctl", "start", syscall.EINVAL, "no command"},
		{"bad net", "net", "wifi", syscall.EINVAL, `net "wifi"`},
		{"relative rootfs", "rootfs", "srv/rootfs", syscall.EINVAL, "not an absolute path"},
		{"missing rootfs", "rootfs", "/nonexistent/rootfs", syscall.ENOENT, "does not exist"},
		{"rootfs not a directory", "rootfs", "/etc/passwd", syscall.ENOTDIR, "not a directory"},
		{"bad env name", "env", "1X=2", syscall.EINVAL, `"1X"`},
		{"unterminated quote", "cmd", "echo 'hi", syscall.EINVAL, ""},
		{"missing default rootfs", "cmd", "/bin/true", syscall.ENOENT, "/nonexistent"},
		{"value too long", "env", "A=" + strings.Repeat("x", 1<<20), syscall.EINVAL, "longer than the maximum"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(web, tt.file)
			before := readIfReadable(path)
			err := os.WriteFile(path, []byte(tt.text+"\n"), 0o644)
			if !errors.Is(err, tt.errno) {
				t.Fatalf("write %s: %v, want %v", tt.file, err, tt.errno)
			}
			errText := readFile(t, web+"/err")
			if !strings.Contains(errText, tt.reason) || strings.Count(errText, "\n") != 1 {
				t.Errorf("err = %q, want one line containing %q", errText, tt.reason)
			}
			if after := readIfReadable(path); after != before {
				t.Errorf("%s changed from %q to %q by a rejected write", tt.file, before, after)
			}
		})
	}
}

func readIfReadable(path string) string {
	data, _ := os.ReadFile(path)
	return string(data)
}

func TestRejectedWriteShellStatus(t *testing.T) {
	requireRoot(t)
	dir, _ := mountTree(t, "/nonexistent")
	out, err := shell(t, dir, "mkdir web && echo bogus > web/ctl")
	var exitErr *exec.ExitError
	if !errors.As(err, &exitErr) {
		t.Fatalf("echo bogus > web/ctl: %v, want a nonzero exit: %s", err, out)
	}
	if got := readFile(t, dir+"/web/err"); !strings.Contains(got, `"bogus"`) {
		t.Errorf("err = %q, want the rejected command", got)
	}
}

func TestTreeChangesRejected(t *testing.T) {
	requireRoot(t)
	dir, _ := mountTree(t, "/nonexistent")
	web := dir + "/web"
	if err := os.Mkdir(web, 0o755); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		op    func() error
		errno syscall.Errno
	}{
		{"remove file", func() error { return os.Remove(web + "/state") }, syscall.EPERM},
		{"remove root file", func() error { return os.Remove(dir + "/ctl") }, syscall.EPERM},
		{"create file", func() error { return os.WriteFile(web+"/new", nil, 0o644) }, syscall.EPERM},
		{"create root file", func() error { return os.WriteFile(dir+"/new", nil, 0o644) }, syscall.EPERM},
		{"rename file", func() error { return os.Rename(web+"/cmd", web+"/cmd2") }, syscall.EPERM},
		{"rename container", func() error { return os.Rename(web, dir+"/web2") }, syscall.EPERM},
		{"subdirectory", func() error { return os.Mkdir(web+"/sub", 0o755) }, syscall.EPERM},
		{"symlink", func() error { return os.Symlink("state", web+"/link") }, syscall.EPERM},
		{"hard link", func() error { return os.Link(web+"/state", web+"/link") }, syscall.EPERM},
		{"mknod", func() error { return unix.Mkfifo(web+"/fifo", 0o644) }, syscall.EPERM},
		{"chmod file", func() error { return os.Chmod(web+"/cmd", 0o777) }, syscall.EPERM},
		{"chown file", func() error { return os.Chown(web+"/cmd", 1, 1) }, syscall.EPERM},
		{"chmod directory", func() error { return os.Chmod(web, 0o700) }, syscall.EPERM},
		{"change times", func() error {
			now := time.Now()
			return os.Chtimes(web+"/cmd", now, now)
		}, syscall.EPERM},
		{"truncate to nonzero", func() error { return os.Truncate(web+"/cmd", 3) }, syscall.EPERM},
		{"truncate read-only", func() error { return os.Truncate(web+"/state", 0) }, syscall.EACCES},
		{"open read-only with O_TRUNC", func() error {
			f, err := os.OpenFile(web+"/state", os.O_RDONLY|os.O_TRUNC, 0)
			if err == nil {
				f.Close()
			}
			return err
		}, syscall.EACCES},
		{"read write-only", func() error { _, err := os.ReadFile(dir + "/ctl"); return err }, syscall.EACCES},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.op(); !errors.Is(err, tt.errno) {
				t.Errorf("got %v, want %v", err, tt.errno)
			}
		})
	}
	if got := listDir(t, web); len(got) != 15 {
		t.Errorf("web lists %d files after rejected changes: %q", len(got), got)
	}
}

func TestTruncateWritable(t *testing.T) {
	requireRoot(t)
	dir, _ := mountTree(t, "/nonexistent")
	if err := os.Mkdir(dir+"/web", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(dir+"/web/limits", 0); err != nil {
		t.Errorf("truncate limits to 0: %v", err)
	}
}

func TestAccess(t *testing.T) {
	requireRoot(t)
	dir, _ := mountTree(t, "/nonexistent")
	if err := os.Mkdir(dir+"/web", 0o755); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		file  string
		mode  uint32
		errno syscall.Errno
	}{
		{"write read-only", "web/state", unix.W_OK, syscall.EACCES},
		{"write writable", "web/limits", unix.W_OK, 0},
		{"read write-only", "ctl", unix.R_OK, syscall.EACCES},
		{"read readable", "status", unix.R_OK, 0},
		{"execute", "web/cmd", unix.X_OK, syscall.EACCES},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := unix.Access(filepath.Join(dir, tt.file), tt.mode)
			if tt.errno == 0 && err != nil || tt.errno != 0 && !errors.Is(err, tt.errno) {
				t.Errorf("access %s: %v, want %v", tt.file, err, tt.errno)
			}
		})
	}
}

func TestRootCtlShutdown(t *testing.T) {
	requireRoot(t)
	dir, sup := mountTree(t, "/nonexistent")
	err := os.WriteFile(dir+"/ctl", []byte("reboot\n"), 0)
	if !errors.Is(err, syscall.EINVAL) {
		t.Errorf("write reboot: %v, want EINVAL", err)
	}
	if got := readFile(t, dir+"/err"); !strings.Contains(got, `"reboot"`) {
		t.Errorf("err = %q, want the rejected command", got)
	}
	select {
	case <-sup.ShutdownRequested():
		t.Fatal("shutdown requested by a rejected command")
	default:
	}
	writeFile(t, dir+"/ctl", "shutdown\n")
	select {
	case <-sup.ShutdownRequested():
	case <-time.After(5 * time.Second):
		t.Fatal("no shutdown requested 5 s after the write")
	}
}

func TestFUSEDescriptorCloseOnExec(t *testing.T) {
	requireRoot(t)
	mountTree(t, "/nonexistent")
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	found := 0
	for _, e := range entries {
		target, _ := os.Readlink("/proc/self/fd/" + e.Name())
		if target != "/dev/fuse" {
			continue
		}
		found++
		fd, err := strconv.Atoi(e.Name())
		if err != nil {
			t.Fatal(err)
		}
		flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
		if err != nil {
			t.Fatal(err)
		}
		if flags&unix.FD_CLOEXEC == 0 {
			t.Errorf("/dev/fuse descriptor %d lacks FD_CLOEXEC", fd)
		}
	}
	if found == 0 {
		t.Error("no /dev/fuse descriptor open while mounted")
	}
}
