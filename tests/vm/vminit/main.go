// Command vminit is the init of the virtual machine that tests/vm/run.sh
// boots to run the tests on a pure cgroup v2 host. It runs as PID 1 from
// the initramfs, and:
//
//   - loads the kernel modules listed in /modules/order, in that order;
//   - mounts the host's root file system, shared read-only over 9p, under
//     an overlay whose upper layer is in memory, and switches to it;
//   - mounts cgroup2 alone at /sys/fs/cgroup, as systemd does on pure v2
//     hosts, and the other file systems the tests need;
//   - mounts the host's output directory over its own path, read-write;
//   - runs the command in a cgroup of its own, reaping every orphan meanwhile;
//   - writes the command's exit code to OUT/status and powers off.
//
// Its parameters come from the kernel command line:
//
//	ctlfs.dir=DIR   the working directory of the command
//	ctlfs.out=OUT   the output directory, shared read-write as tag "out"
//	ctlfs.run=PATH  the program to run, with OUT as its argument
//
// Any failure before the command runs is printed to the console and ends
// with a power-off without a status file, which run.sh reports.
package main

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

func main() {
	if os.Getpid() != 1 {
		fmt.Fprintln(os.Stderr, "vminit: must run as PID 1 of a virtual machine")
		os.Exit(2)
	}
	if err := boot(); err != nil {
		fmt.Fprintf(os.Stderr, "vminit: %v\n", err)
	}
	powerOff()
}

// boot prepares the machine, runs the command and records its exit code.
func boot() error {
	if err := mountAll(earlyMounts); err != nil {
		return err
	}
	params, err := kernelParams()
	if err != nil {
		return err
	}

	// The host's files become the root file system.
	if err := loadModules("/modules"); err != nil {
		return err
	}
	if err := switchRoot("/newroot"); err != nil {
		return err
	}
	if err := mountAll(systemMounts); err != nil {
		return err
	}
	out := params["ctlfs.out"]
	if err := mount("out", out, "9p", 0, "trans=virtio,version=9p2000.L,msize=262144"); err != nil {
		return err
	}
	if err := setUpHost(); err != nil {
		return err
	}

	code, err := runReaping(params["ctlfs.run"], out, params["ctlfs.dir"])
	if err != nil {
		return err
	}
	status := filepath.Join(out, "status")
	if err := os.WriteFile(status, []byte(strconv.Itoa(code)+"\n"), 0o644); err != nil {
		return fmt.Errorf("write exit code: %w", err)
	}
	return nil
}

// kernelParams returns the ctlfs.* parameters of the kernel command line
// and checks that each is set.
func kernelParams() (map[string]string, error) {
	data, err := os.ReadFile("/proc/cmdline")
	if err != nil {
		return nil, err
	}
	params := make(map[string]string)
	for _, word := range strings.Fields(string(data)) {
		if key, value, ok := strings.Cut(word, "="); ok && strings.HasPrefix(key, "ctlfs.") {
			params[key] = value
		}
	}
	for _, key := range []string{"ctlfs.dir", "ctlfs.out", "ctlfs.run"} {
		if params[key] == "" {
			return nil, fmt.Errorf("missing %s= in the kernel command line %q", key, data)
		}
	}
	return params, nil
}

// loadModules loads the compressed modules named in dir/order, one file
// name a line, in that order. The kernel decompresses them itself
// (CONFIG_MODULE_DECOMPRESS).
func loadModules(dir string) error {
	f, err := os.Open(filepath.Join(dir, "order"))
	if err != nil {
		return fmt.Errorf("list modules: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name := strings.TrimSpace(sc.Text())
		if name == "" {
			continue
		}
		if err := loadModule(filepath.Join(dir, name)); err != nil {
			return err
		}
	}
	return sc.Err()
}

func loadModule(path string) error {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open module: %w", err)
	}
	defer unix.Close(fd)
	err = unix.FinitModule(fd, "", unix.MODULE_INIT_COMPRESSED_FILE)
	if err != nil && !errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("load module %s: %w", path, err)
	}
	return nil
}

// switchRoot mounts the host's root file system at dir, read-only over
// 9p under an in-memory overlay, moves /dev, /proc and /sys into it and
// makes it the root. The initramfs stays behind, unused.
func switchRoot(dir string) error {
	for _, d := range []string{"/lower", "/layer", dir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	// cache=loose lets the guest cache what it reads, which is safe
	// because the host changes none of the files the tests use while the
	// machine runs.
	err := mount("hostroot", "/lower", "9p", unix.MS_RDONLY,
		"trans=virtio,version=9p2000.L,msize=262144,cache=loose")
	if err != nil {
		return err
	}

	// Writes go to an upper layer in memory.
	if err := mount("layer", "/layer", "tmpfs", 0, "mode=0755"); err != nil {
		return err
	}
	for _, d := range []string{"/layer/upper", "/layer/work"} {
		if err := os.Mkdir(d, 0o755); err != nil {
			return err
		}
	}
	err = mount("root", dir, "overlay", 0,
		"lowerdir=/lower,upperdir=/layer/upper,workdir=/layer/work")
	if err != nil {
		return err
	}

	// As switch_root(8) does: move the mounts, then the new root onto /.
	for _, d := range []string{"/dev", "/proc", "/sys"} {
		if err := unix.Mount(d, dir+d, "", unix.MS_MOVE, ""); err != nil {
			return fmt.Errorf("move %s: %w", d, err)
		}
	}
	if err := unix.Chdir(dir); err != nil {
		return err
	}
	if err := unix.Mount(".", "/", "", unix.MS_MOVE, ""); err != nil {
		return fmt.Errorf("move %s to /: %w", dir, err)
	}
	if err := unix.Chroot("."); err != nil {
		return fmt.Errorf("chroot: %w", err)
	}
	return unix.Chdir("/")
}

type mountPoint struct {
	source, target, fstype string
	flags                  uintptr
	data                   string
}

// earlyMounts are the file systems the initramfs needs.
var earlyMounts = []mountPoint{
	{"dev", "/dev", "devtmpfs", unix.MS_NOSUID, "mode=0755"},
	{"proc", "/proc", "proc", unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC, ""},
	{"sys", "/sys", "sysfs", unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC, ""},
}

// tmpDir is the command's TMPDIR, a tmpfs, because the tests put
// overlayfs upper directories there, which cannot be on the root overlay.
// It is not /tmp, which stays the host's, because the repository may be
// there.
const tmpDir = "/ctlfs-vm-tmp"

// systemMounts are the file systems a systemd host has and the tests
// use.
var systemMounts = []mountPoint{
	{"cgroup2", "/sys/fs/cgroup", "cgroup2", unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC,
		"nsdelegate,memory_recursiveprot"},
	{"devpts", "/dev/pts", "devpts", unix.MS_NOSUID | unix.MS_NOEXEC, "gid=5,mode=620,ptmxmode=000"},
	{"shm", "/dev/shm", "tmpfs", unix.MS_NOSUID | unix.MS_NODEV, "mode=1777"},
	{"tmp", tmpDir, "tmpfs", unix.MS_NOSUID | unix.MS_NODEV, "mode=1777"},
	{"run", "/run", "tmpfs", unix.MS_NOSUID | unix.MS_NODEV, "mode=0755"},
	{"tracefs", "/sys/kernel/tracing", "tracefs", unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC, ""},
}

func mountAll(points []mountPoint) error {
	for _, p := range points {
		if err := mount(p.source, p.target, p.fstype, p.flags, p.data); err != nil {
			return err
		}
	}
	return nil
}

func mount(source, target, fstype string, flags uintptr, data string) error {
	if err := os.MkdirAll(target, 0o755); err != nil {
		return err
	}
	if err := unix.Mount(source, target, fstype, flags, data); err != nil {
		return fmt.Errorf("mount %s on %s: %w", fstype, target, err)
	}
	return nil
}

// setUpHost names the machine and brings up the loopback interface.
func setUpHost() error {
	if err := unix.Sethostname([]byte("ctlfs-vm")); err != nil {
		return fmt.Errorf("set hostname: %w", err)
	}
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("bring up lo: %w", err)
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return err
	}
	ifr.SetUint16(unix.IFF_UP | unix.IFF_LOOPBACK | unix.IFF_RUNNING)
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr); err != nil {
		return fmt.Errorf("bring up lo: %w", err)
	}
	return nil
}

// runReaping runs program with the argument out in dir and returns its
// exit code. It enables the cpu, io, memory and pids controllers in the
// root cgroup and starts program in the child cgroup /tests, so that, as
// on a host that systemd runs, the tests are not in the root cgroup.
// Meanwhile it reaps every process that ends up its child, as an init
// must.
func runReaping(program, out, dir string) (int, error) {
	if err := os.WriteFile("/sys/fs/cgroup/cgroup.subtree_control",
		[]byte("+cpu +io +memory +pids"), 0); err != nil {
		return 0, fmt.Errorf("enable controllers: %w", err)
	}
	if err := os.Mkdir("/sys/fs/cgroup/tests", 0o755); err != nil {
		return 0, fmt.Errorf("create cgroup: %w", err)
	}
	cgroup, err := unix.Open("/sys/fs/cgroup/tests", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return 0, fmt.Errorf("open cgroup: %w", err)
	}
	defer unix.Close(cgroup)

	env := []string{
		"PATH=/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"HOME=/root",
		"TERM=dumb",
		"TMPDIR=" + tmpDir,
		// The machine has no network, so go must not try to download
		// anything.
		"GOPROXY=off",
		"GOTOOLCHAIN=local",
	}
	attr := &os.ProcAttr{
		Dir:   dir,
		Env:   env,
		Files: []*os.File{os.Stdin, os.Stdout, os.Stderr},
		Sys:   &syscall.SysProcAttr{Setsid: true, UseCgroupFD: true, CgroupFD: cgroup},
	}
	p, err := os.StartProcess(program, []string{program, out}, attr)
	if err != nil {
		return 0, fmt.Errorf("start %s: %w", program, err)
	}
	for {
		var ws unix.WaitStatus
		pid, err := unix.Wait4(-1, &ws, 0, nil)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return 0, fmt.Errorf("wait for %s: %w", program, err)
		}
		if pid != p.Pid {
			continue
		}
		if ws.Signaled() {
			return 128 + int(ws.Signal()), nil
		}
		return ws.ExitStatus(), nil
	}
}

// powerOff flushes the file systems and turns the machine off, after
// which qemu exits.
func powerOff() {
	unix.Sync()
	if err := unix.Reboot(unix.LINUX_REBOOT_CMD_POWER_OFF); err != nil {
		fmt.Fprintf(os.Stderr, "vminit: power off: %v\n", err)
	}
	select {}
}
