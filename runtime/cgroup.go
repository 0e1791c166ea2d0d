package runtime

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// cgroupParent is the directory, under the cgroup v2 mount, that holds one
// directory per supervisor, named after a hash of its state directory, and
// in it one directory per running container. A supervisor that restarts on
// the same state directory finds its predecessor's cgroups; two supervisors
// with different state directories never touch each other's.
const cgroupParent = "ctlfs"

// cgroupRoot is the supervisor's cgroup v2 directory. On hybrid hosts the
// v2 hierarchy has no controllers, but a directory per container still
// gives a unique cgroup id, cgroup.kill and cgroup.freeze.
type cgroupRoot struct {
	path string // the supervisor's v2 directory
	rel  string // path below each cgroup mount: ctlfs/INSTANCE
	ctl  *controllers
	log  *slog.Logger
	// removeParent is set when the parent directory is ctlfs's own, to be
	// removed with the last supervisor's directory.
	removeParent bool
	// lock is held on path while the supervisor lives, except in a
	// delegated cgroup. Another supervisor then never takes path for an
	// orphan (see removeOrphans).
	lock *dirLock
}

// cgroupInstance names a supervisor's cgroup directory after its state
// directory.
func cgroupInstance(stateDir string) string {
	abs, err := filepath.Abs(stateDir)
	if err != nil {
		abs = stateDir
	}
	sum := sha256.Sum256([]byte(abs))
	return hex.EncodeToString(sum[:6])
}

// CgroupSelf, as Config.CgroupParent, puts the containers below the
// cgroup the supervisor runs in, which a service manager delegated to it,
// as systemd does for a unit with Delegate=yes.
const CgroupSelf = "self"

// Leaves of a delegated cgroup: the supervisor moves itself to the first,
// because a cgroup v2 directory with controllers enabled for its children
// may contain no process, and creates the containers' cgroups in the second.
const (
	selfSupervisorLeaf = "supervisor"
	selfContainersDir  = "containers"
)

// openCgroupRoot creates the supervisor's cgroup directory below parent
// and removes containers left in it by a supervisor that died. parent is
// relative to the cgroup v2 mount, or CgroupSelf; empty means ctlfs.
func openCgroupRoot(stateDir, parent string, log *slog.Logger) (*cgroupRoot, error) {
	mnt, err := cgroup2Mount()
	if err != nil {
		return nil, err
	}
	var rel string
	switch parent {
	case "":
		rel = filepath.Join(cgroupParent, cgroupInstance(stateDir))
	case CgroupSelf:
		if rel, err = enterDelegatedCgroup(mnt); err != nil {
			return nil, err
		}
	default:
		rel = filepath.Join(filepath.Clean("/"+parent), cgroupInstance(stateDir))
	}
	root := &cgroupRoot{path: filepath.Join(mnt, rel), rel: rel, log: log,
		removeParent: parent == ""}
	if parent == CgroupSelf {
		err = os.MkdirAll(root.path, 0o755)
	} else {
		root.lock, err = createLocked(root.path)
	}
	if err != nil {
		return nil, fmt.Errorf("create cgroup %s: %w", root.path, err)
	}
	if root.ctl, err = findControllers(mnt, root.path); err != nil {
		root.lock.unlock()
		return nil, err
	}
	leftovers := root.leftovers()
	// A container paused when its supervisor died has a frozen init,
	// which could neither save the log nor exit.
	for _, name := range leftovers {
		os.WriteFile(filepath.Join(root.path, name, "cgroup.freeze"), []byte("0"), 0)
	}
	awaitEmpty(root.path, leftovers, leftoverWait)
	for _, name := range leftovers {
		cg := root.existing(name)
		log.Warn("removing cgroup left by an earlier supervisor", "cgroup", cg.path)
		if err := cg.destroy(); err != nil {
			log.Error("remove leftover cgroup", "cgroup", cg.path, "err", err)
		}
	}
	if root.lock != nil {
		root.markLocked(stateDir)
		root.removeOrphans()
	}
	return root, nil
}

// createLocked makes the supervisor's directory dir, with its parents, and
// locks it. Its state directory is locked already, so the only other
// holder can be a supervisor that took dir for an orphan between the
// mkdir and the lock (see removeOrphans). Then dir is made again once
// that one has removed it.
func createLocked(dir string) (*dirLock, error) {
	for deadline := time.Now().Add(5 * time.Second); ; {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			// The last supervisor under the parent removes the parent
			// when it shuts down, which can happen during the MkdirAll.
			if !errors.Is(err, unix.ENOENT) || time.Now().After(deadline) {
				return nil, err
			}
			continue
		}
		l, err := tryLockDir(dir)
		if err == nil && l.sameDir(dir) {
			return l, nil
		}
		l.unlock()
		if err != nil && !errors.Is(err, errWouldBlock) && !errors.Is(err, unix.ENOENT) {
			return nil, err
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("lock cgroup %s: %w after 5 s; is a supervisor with a state directory of the same hash running?",
				dir, errWouldBlock)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// isInstance reports whether name has the form of cgroupInstance's names,
// so that removeOrphans never touches other cgroups under a shared parent.
func isInstance(name string) bool {
	if len(name) != 12 {
		return false
	}
	for _, c := range name {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// stateAttr is the extended attribute in which a supervisor that locks its
// cgroup v2 directory records its state directory. removeOrphans removes
// only directories that have it, because a supervisor built before the
// lock takes none and its directory would look like an orphan. The
// attribute also shows which state directory a cgroup directory belongs
// to (getfattr -n trusted.ctlfs.state DIR).
const stateAttr = "trusted.ctlfs.state"

// markLocked records stateDir in the supervisor's cgroup v2 directory, so
// that another supervisor may remove the directory once this one died.
func (r *cgroupRoot) markLocked(stateDir string) {
	abs, err := filepath.Abs(stateDir)
	if err == nil {
		err = unix.Setxattr(r.path, stateAttr, []byte(abs), 0)
	}
	if err != nil {
		r.log.Warn("failed to mark cgroup with its state directory; if this supervisor is killed, "+
			"its cgroup directories stay until it restarts", "cgroup", r.path, "err", err)
	}
}

// removeOrphans removes the directories that supervisors which died left
// beside this one's. A supervisor killed with SIGKILL cannot remove its
// own, and only a supervisor on the same state directory would otherwise
// find them. It takes a directory for an orphan when it has stateAttr, no
// process holds it locked, and no process is in it. It only removes empty
// directories and kills nothing, so that a process that arrives in one
// meanwhile is safe.
func (r *cgroupRoot) removeOrphans() {
	parent := filepath.Dir(r.path)
	entries, err := os.ReadDir(parent)
	if err != nil {
		r.log.Warn("failed to list cgroups to find those of supervisors that died", "cgroup", parent, "err", err)
		return
	}
	buf := make([]byte, unix.PathMax)
	for _, e := range entries {
		name := e.Name()
		path := filepath.Join(parent, name)
		if !e.IsDir() || !isInstance(name) || path == r.path {
			continue
		}
		n, err := unix.Getxattr(path, stateAttr, buf)
		if err != nil {
			continue // not made by a supervisor that locks
		}
		state := string(buf[:n])
		l, err := tryLockDir(path)
		if err != nil {
			continue // a live supervisor's, or gone meanwhile
		}
		if !l.sameDir(path) {
			// Removed by another supervisor after the open. The path
			// may name a live supervisor's new directory by now.
			l.unlock()
			continue
		}
		if populated(path) {
			r.log.Warn("not removing cgroup of a supervisor that died: it still has processes",
				"cgroup", path, "state_dir", state)
		} else {
			r.log.Warn("removing cgroup of a supervisor that died", "cgroup", path, "state_dir", state)
			orphan := &cgroupRoot{path: path, rel: filepath.Join(filepath.Dir(r.rel), name),
				ctl: r.ctl, log: r.log}
			if err := orphan.removeEmpty(); err != nil {
				r.log.Warn("failed to remove cgroup of a supervisor that died", "cgroup", path, "err", err)
			}
		}
		l.unlock()
	}
}

// removeEmpty removes the container directories in r and then r, in every
// hierarchy, the v1 ones first: the v2 directory is the one that a
// supervisor on the same state directory locks before it makes the
// others again. It fails on the first directory that is not empty.
func (r *cgroupRoot) removeEmpty() error {
	var v1 []string
	for _, mount := range r.ctl.v1 {
		v1 = append(v1, filepath.Join(mount, r.rel))
	}
	for _, name := range r.leftovers() {
		for _, dir := range v1 {
			if err := removeDir(filepath.Join(dir, name)); err != nil {
				return err
			}
		}
		if err := removeDir(filepath.Join(r.path, name)); err != nil {
			return err
		}
	}
	for _, dir := range append(v1, r.path) {
		if err := removeDir(dir); err != nil {
			return err
		}
	}
	return nil
}

// removeDir removes the empty directory dir, if it exists.
func removeDir(dir string) error {
	if err := unix.Rmdir(dir); err != nil && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("remove %s: %w", dir, err)
	}
	return nil
}

// populated reports whether the cgroup v2 directory dir or one below it
// contains a process.
func populated(dir string) bool {
	data, err := os.ReadFile(filepath.Join(dir, "cgroup.events"))
	return err == nil && strings.Contains(string(data), "populated 1")
}

// leftoverWait is how long New lets the inits of a supervisor that died
// finish before it kills them. Each saves to its log what its container
// wrote and the supervisor never read, for one second at most (see
// saveLog in package initproc).
const leftoverWait = 1500 * time.Millisecond

// awaitEmpty waits until none of the cgroups names under dir contains a
// process, or until timeout has passed.
func awaitEmpty(dir string, names []string, timeout time.Duration) {
	for deadline := time.Now().Add(timeout); time.Now().Before(deadline); {
		busy := false
		for _, name := range names {
			if populated(filepath.Join(dir, name)) {
				busy = true
				break
			}
		}
		if !busy {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// enterDelegatedCgroup moves the supervisor from the cgroup it runs in to
// a leaf below it, and returns the directory for the containers, relative
// to the cgroup v2 mount mnt.
func enterDelegatedCgroup(mnt string) (string, error) {
	own, err := ownCgroup()
	if err != nil {
		return "", err
	}
	if filepath.Base(own) == selfSupervisorLeaf {
		own = filepath.Dir(own) // a restart inside the same service
	}
	if own == "/" {
		return "", errors.New("use delegated cgroup: the supervisor runs in the root cgroup, " +
			"which nothing delegated to it; run it as a systemd unit with Delegate=yes, " +
			"or name a cgroup directory")
	}
	leaf := filepath.Join(mnt, own, selfSupervisorLeaf)
	if err := os.MkdirAll(leaf, 0o755); err != nil {
		return "", fmt.Errorf("use delegated cgroup: %w", err)
	}
	pid := []byte(strconv.Itoa(os.Getpid()))
	if err := os.WriteFile(filepath.Join(leaf, "cgroup.procs"), pid, 0); err != nil {
		return "", fmt.Errorf("use delegated cgroup: move the supervisor to %s: %w", leaf, err)
	}
	return filepath.Join(own, selfContainersDir), nil
}

// ownCgroup returns the supervisor's cgroup v2 path, from the "0::" line
// of /proc/self/cgroup.
func ownCgroup() (string, error) {
	data, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return "", fmt.Errorf("read own cgroup: %w", err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if path, ok := strings.CutPrefix(line, "0::"); ok {
			return filepath.Clean(path), nil
		}
	}
	return "", errors.New("read own cgroup: /proc/self/cgroup has no cgroup v2 line")
}

// leftovers returns the names of container cgroups that exist in any of
// the supervisor's hierarchies.
func (r *cgroupRoot) leftovers() []string {
	seen := make(map[string]bool)
	var names []string
	dirs := []string{r.path}
	for _, mount := range r.ctl.v1 {
		dirs = append(dirs, filepath.Join(mount, r.rel))
	}
	for _, dir := range dirs {
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			if e.IsDir() && !seen[e.Name()] {
				seen[e.Name()] = true
				names = append(names, e.Name())
			}
		}
	}
	return names
}

// existing returns a handle on a container's cgroups without creating them.
func (r *cgroupRoot) existing(name string) *cgroup {
	cg := &cgroup{path: filepath.Join(r.path, name), fd: -1}
	cg.groups = r.ctl.createGroups(cg.path, filepath.Join(r.rel, name))
	for controller, mount := range r.ctl.v1 {
		cg.groups.dirs[controller] = filepath.Join(mount, r.rel, name)
	}
	return cg
}

// cgroup2Mount returns the mount point of the cgroup v2 hierarchy:
// /sys/fs/cgroup on pure v2 hosts, /sys/fs/cgroup/unified on hybrid ones.
func cgroup2Mount() (string, error) {
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return "", fmt.Errorf("read mountinfo: %w", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		// Fields: ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [OPTIONAL...] - FSTYPE ...
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		fields := strings.Fields(pre)
		if ok && len(fields) >= 5 && strings.HasPrefix(post, "cgroup2 ") {
			return fields[4], nil
		}
	}
	return "", errors.New("find cgroup v2 mount: none in /proc/self/mountinfo; mount cgroup2 first")
}

// create makes the cgroup of a container, first removing one of the same
// name that an earlier run left.
func (r *cgroupRoot) create(name string) (*cgroup, error) {
	cg := &cgroup{path: filepath.Join(r.path, name), fd: -1}
	err := os.Mkdir(cg.path, 0o755)
	if errors.Is(err, os.ErrExist) {
		r.log.Warn("removing stale cgroup", "container", name, "cgroup", cg.path)
		if err = r.existing(name).destroy(); err == nil {
			err = os.Mkdir(cg.path, 0o755)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("create cgroup %s: %w", cg.path, err)
	}
	cg.groups = r.ctl.createGroups(cg.path, filepath.Join(r.rel, name))
	fd, err := unix.Open(cg.path, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		cg.destroy()
		return nil, fmt.Errorf("open cgroup %s: %w", cg.path, err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		cg.destroy()
		return nil, fmt.Errorf("stat cgroup %s: %w", cg.path, err)
	}
	cg.fd, cg.id = fd, st.Ino
	return cg, nil
}

// openTasks makes the container's v1 pids directory, where there is a v1
// pids hierarchy, and opens its tasks file, through which the init's main
// thread joins it (see initproc.TasksFD). It returns nil where there is
// none: the v2 directory then has the pids controller.
func (cg *cgroup) openTasks() (*os.File, error) {
	g := cg.groups
	if !g.needs("pids") {
		return nil, nil
	}
	if err := g.mkdir("pids"); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(g.file("pids", "tasks"), os.O_WRONLY, 0)
	if err != nil {
		return nil, fmt.Errorf("open pids cgroup: %w", err)
	}
	g.joined["pids"] = true
	return f, nil
}

// close removes the supervisor's cgroup directory, and the parent when no
// other supervisor uses it.
func (r *cgroupRoot) close() {
	dirs := []string{r.path}
	for _, mount := range r.ctl.v1 {
		dirs = append(dirs, filepath.Join(mount, r.rel))
	}
	for _, dir := range dirs {
		if err := os.Remove(dir); err != nil && !errors.Is(err, os.ErrNotExist) {
			r.log.Warn("remove cgroup", "cgroup", dir, "err", err)
		}
		if r.removeParent {
			os.Remove(filepath.Dir(dir)) // fails while another supervisor runs
		}
	}
	r.lock.unlock()
}

// cgroup is one container's cgroup v2 directory.
type cgroup struct {
	path   string
	fd     int    // O_PATH descriptor for CLONE_INTO_CGROUP; -1 once closed
	id     uint64 // the cgroup id, the value of bpf_get_current_cgroup_id for its tasks
	groups *groups
}

// kill sends SIGKILL to every task in the cgroup.
func (cg *cgroup) kill() error {
	err := os.WriteFile(filepath.Join(cg.path, "cgroup.kill"), []byte("1"), 0)
	if err == nil {
		return nil
	}
	// cgroup.kill needs Linux 5.14; before that, signal each process.
	pids, perr := cg.pids()
	if perr != nil {
		return fmt.Errorf("kill cgroup %s: %w", cg.path, err)
	}
	for _, pid := range pids {
		unix.Kill(pid, unix.SIGKILL)
	}
	return nil
}

// pids returns the processes in the cgroup.
func (cg *cgroup) pids() ([]int, error) {
	return readIDs(filepath.Join(cg.path, "cgroup.procs"))
}

// threads returns the tasks (threads) in the cgroup.
func (cg *cgroup) threads() ([]int, error) {
	return readIDs(filepath.Join(cg.path, "cgroup.threads"))
}

func readIDs(path string) ([]int, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var ids []int
	for _, f := range strings.Fields(string(data)) {
		id, err := strconv.Atoi(f)
		if err != nil {
			return nil, fmt.Errorf("parse %s: %w", path, err)
		}
		ids = append(ids, id)
	}
	return ids, nil
}

// freeze suspends or resumes every task and waits until the kernel reports
// the change done.
func (cg *cgroup) freeze(frozen bool) error {
	value := "0"
	if frozen {
		value = "1"
	}
	if err := os.WriteFile(filepath.Join(cg.path, "cgroup.freeze"), []byte(value), 0); err != nil {
		return fmt.Errorf("write cgroup.freeze: %w", err)
	}
	want := "frozen " + value
	for range 200 {
		data, err := os.ReadFile(filepath.Join(cg.path, "cgroup.events"))
		if err != nil {
			return fmt.Errorf("read cgroup.events: %w", err)
		}
		if strings.Contains(string(data), want) {
			return nil
		}
		time.Sleep(5 * time.Millisecond)
	}
	return fmt.Errorf("cgroup %s: %q not reached after 1s", cg.path, want)
}

// closeFD closes the descriptor for CLONE_INTO_CGROUP.
func (cg *cgroup) closeFD() {
	if cg.fd >= 0 {
		unix.Close(cg.fd)
		cg.fd = -1
	}
}

// destroy kills every task in the cgroup, waits for them to exit and
// removes the directory.
func (cg *cgroup) destroy() error {
	cg.closeFD()
	// The last tasks leave the cgroup shortly after their exit is
	// reported, so retry with a growing pause, 2 s in all at most.
	var err error
	pause := 50 * time.Microsecond
	for deadline := time.Now().Add(2 * time.Second); ; {
		err = unix.Rmdir(cg.path)
		if err == nil || errors.Is(err, syscall.ENOENT) {
			return cg.groups.remove()
		}
		if !errors.Is(err, syscall.EBUSY) || time.Now().After(deadline) {
			break
		}
		cg.kill()
		time.Sleep(pause)
		pause = min(2*pause, 10*time.Millisecond)
	}
	return fmt.Errorf("remove cgroup %s: %w", cg.path, err)
}
