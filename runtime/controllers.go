package runtime

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// niceWeights is the kernel's table of scheduler weights by nice value,
// from -20 to 19 (sched_prio_to_weight in kernel/sched/core.c): each step
// is about 1.25 times the next, and nice 0 is 1024.
var niceWeights = [40]uint64{
	88761, 71755, 56483, 46273, 36291,
	29154, 23254, 18705, 14949, 11916,
	9548, 7620, 6100, 4904, 3906,
	3121, 2501, 1991, 1586, 1277,
	1024, 820, 655, 526, 423,
	335, 272, 215, 172, 137,
	110, 87, 70, 56, 45,
	36, 29, 23, 18, 15,
}

// NiceWeight returns the scheduler weight of nice n (-20 to 19).
func NiceWeight(n int) uint64 { return niceWeights[n+20] }

// controllers finds where the pids, cpu and cpuset controllers live: on
// pure cgroup v2 hosts in the container's own v2 directory, on hybrid
// hosts in v1 hierarchies, in which the supervisor makes a directory per
// container beside the v2 one.
type controllers struct {
	v2   string            // the v2 mount, when it has the controllers
	v1   map[string]string // controller name to its v1 mount
	have map[string]bool   // controllers available in either
}

var controllerNames = []string{"pids", "cpu", "cpuset"}

// findControllers reads the mounts and enables the controllers in the
// supervisor's v2 directories (each level from the mount down to dir).
func findControllers(v2mount, dir string) (*controllers, error) {
	ctl := &controllers{v1: make(map[string]string), have: make(map[string]bool)}
	data, err := os.ReadFile(filepath.Join(v2mount, "cgroup.controllers"))
	if err != nil {
		return nil, fmt.Errorf("read cgroup.controllers: %w", err)
	}
	v2have := strings.Fields(string(data))
	for _, name := range controllerNames {
		if contains(v2have, name) {
			ctl.v2 = v2mount
			ctl.have[name] = true
		}
	}
	if ctl.v2 != "" {
		return ctl, enableV2(v2mount, dir, ctl.have)
	}
	mounts, err := v1Mounts()
	if err != nil {
		return nil, err
	}
	for _, name := range controllerNames {
		if m, ok := mounts[name]; ok {
			ctl.v1[name] = m
			ctl.have[name] = true
		}
	}
	return ctl, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// enableV2 writes +NAME to cgroup.subtree_control at every level above dir,
// so that each container directory gets the controllers' files.
func enableV2(mount, dir string, have map[string]bool) error {
	var words []string
	for _, name := range controllerNames {
		if have[name] {
			words = append(words, "+"+name)
		}
	}
	rel, err := filepath.Rel(mount, dir)
	if err != nil {
		return err
	}
	level := mount
	for _, part := range append([]string{""}, strings.Split(rel, "/")...) {
		level = filepath.Join(level, part)
		f := filepath.Join(level, "cgroup.subtree_control")
		if err := os.WriteFile(f, []byte(strings.Join(words, " ")), 0); err != nil {
			return fmt.Errorf("enable %v in %s: %w", words, f, err)
		}
	}
	return nil
}

// v1Mounts returns the mount point of each v1 controller hierarchy.
func v1Mounts() (map[string]string, error) {
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil, fmt.Errorf("read mountinfo: %w", err)
	}
	mounts := make(map[string]string)
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		fields, after := strings.Fields(pre), strings.Fields(post)
		if !ok || len(fields) < 5 || len(after) < 3 || after[0] != "cgroup" {
			continue
		}
		for _, opt := range strings.Split(after[2], ",") {
			if contains(controllerNames, opt) {
				mounts[opt] = fields[4]
			}
		}
	}
	return mounts, nil
}

// groups is one container's set of v1 directories (on hybrid hosts).
type groups struct {
	ctl *controllers
	v2  string // the container's v2 directory
	rel string // path of the container's directories below each v1 mount
	// dirs maps a v1 controller to the container's directory in it. A
	// directory is created when the container first joins it.
	dirs map[string]string
	// joined records the v1 directories the container's processes were
	// moved into. Moving another process costs the kernel an RCU grace
	// period, a millisecond or more, so a container joins the cpu and
	// cpuset directories only once it needs them.
	joined map[string]bool
}

// createGroups returns the v1 directories of a container at rel below
// each v1 mount. None exists until the container joins it.
func (ctl *controllers) createGroups(v2dir, rel string) *groups {
	return &groups{ctl: ctl, v2: v2dir, rel: rel, dirs: make(map[string]string),
		joined: make(map[string]bool)}
}

// mkdir creates the container's directory of a v1 controller, if the
// controller is v1 and the directory does not exist yet.
func (g *groups) mkdir(controller string) error {
	mount, ok := g.ctl.v1[controller]
	if _, made := g.dirs[controller]; !ok || made {
		return nil
	}
	dir := filepath.Join(mount, g.rel)
	if err := mkdirCgroupV1(mount, dir, controller == "cpuset"); err != nil {
		return err
	}
	g.dirs[controller] = dir
	return nil
}

// mkdirCgroupV1 creates dir and the levels between mount and dir. In the
// cpuset hierarchy each new level copies its parent's CPUs and memory
// nodes, because v1 requires them before a task may join.
func mkdirCgroupV1(mount, dir string, cpuset bool) error {
	rel, err := filepath.Rel(mount, dir)
	if err != nil {
		return err
	}
	level := mount
	for _, part := range strings.Split(rel, "/") {
		parent := level
		level = filepath.Join(level, part)
		err := os.Mkdir(level, 0o755)
		if errors.Is(err, os.ErrExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("create cgroup %s: %w", level, err)
		}
		if cpuset {
			for _, f := range []string{"cpuset.cpus", "cpuset.mems"} {
				if err := copyCgroupFile(parent, level, f); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

func copyCgroupFile(from, to, name string) error {
	data, err := os.ReadFile(filepath.Join(from, name))
	if err != nil {
		return fmt.Errorf("read %s: %w", name, err)
	}
	if err := os.WriteFile(filepath.Join(to, name), data, 0); err != nil {
		return fmt.Errorf("write %s in %s: %w", name, to, err)
	}
	return nil
}

// file returns the path of a controller's file for the container.
func (g *groups) file(controller, name string) string {
	if dir, ok := g.dirs[controller]; ok {
		return filepath.Join(dir, name)
	}
	return filepath.Join(g.v2, name)
}

// has reports whether the controller's file for the container exists:
// the controller is in the v2 directory, or its v1 directory was made.
func (g *groups) has(controller string) bool {
	if !g.ctl.have[controller] {
		return false
	}
	_, v1 := g.ctl.v1[controller]
	_, made := g.dirs[controller]
	return !v1 || made
}

// join moves processes into the v1 directory of controller, if it is v1
// and they are not there yet. They joined the v2 directory at clone.
// The caller makes sure that none of them forks meanwhile.
func (g *groups) join(controller string, pids []int) error {
	if !g.needs(controller) {
		return nil
	}
	if err := g.mkdir(controller); err != nil {
		return err
	}
	f := g.file(controller, "cgroup.procs")
	for _, pid := range pids {
		err := os.WriteFile(f, []byte(strconv.Itoa(pid)), 0)
		if err != nil && !errors.Is(err, unix.ESRCH) {
			return fmt.Errorf("join %s cgroup %s: %w", controller, g.dirs[controller], err)
		}
	}
	g.joined[controller] = true
	return nil
}

// startGroups makes the cpuset directory of a container that has CPUs
// and the cpu directory of one whose nice is not 0, for joinInit. The
// pids directory exists already (see cgroup.openTasks).
func (g *groups) startGroups(l Limits, nice int) error {
	if len(l.CPUs) > 0 {
		if err := g.mkdir("cpuset"); err != nil {
			return err
		}
	}
	if nice != 0 {
		return g.mkdir("cpu")
	}
	return nil
}

// joinInit moves the init into the v1 directories that startGroups made.
// The cpuset and cpu directories rule every task, so the whole init
// moves, while only its main thread joins the pids directory.
func (g *groups) joinInit(pid int) error {
	for controller := range g.dirs {
		if err := g.join(controller, []int{pid}); err != nil {
			return err
		}
	}
	return nil
}

// needs reports whether controller is a v1 controller whose directory
// the container has not joined.
func (g *groups) needs(controller string) bool {
	_, ok := g.ctl.v1[controller]
	return ok && !g.joined[controller]
}

// apply writes the limits the controllers enforce.
func (g *groups) apply(l Limits) error {
	if g.has("pids") {
		if err := writeCgroup(g.file("pids", "pids.max"), formatCount(l.Pids)); err != nil {
			return err
		}
	}
	if g.has("cpuset") {
		cpus, err := g.cpusetValue(l.CPUs)
		if err != nil {
			return err
		}
		if err := writeCgroup(g.file("cpuset", "cpuset.cpus"), cpus); err != nil {
			return fmt.Errorf("set cpus %q (are they online?): %w", cpus, err)
		}
	}
	return nil
}

// cpusetValue returns what to write to the container's cpuset.cpus for
// list, where an empty list means every CPU of the parent cgroup. Those
// are written out, because neither v1 nor v2 accepts an empty cpuset.cpus
// in a cgroup that has tasks and CPUs. The parent's file is
// cpuset.effective_cpus in v1 and cpuset.cpus.effective in v2.
func (g *groups) cpusetValue(list CPUList) (string, error) {
	if len(list) > 0 {
		return list.String(), nil
	}
	name := "cpuset.cpus.effective"
	if _, v1 := g.dirs["cpuset"]; v1 {
		name = "cpuset.effective_cpus"
	}
	parent := filepath.Dir(filepath.Dir(g.file("cpuset", name)))
	data, err := os.ReadFile(filepath.Join(parent, name))
	if err != nil {
		return "", fmt.Errorf("read parent's cpuset: %w", err)
	}
	return strings.TrimSpace(string(data)), nil
}

// hasCPU reports whether a cpu controller can carry the container's CPU
// weight, in v2 or in a v1 hierarchy.
func (g *groups) hasCPU() bool { return g.ctl.have["cpu"] }

// setNice sets the container's CPU weight to that of nice n. It reports
// false when no cpu controller is available.
func (g *groups) setNice(n int) (bool, error) {
	if !g.ctl.have["cpu"] {
		return false, nil
	}
	if !g.has("cpu") {
		return true, nil // written when the container joins the v1 directory
	}
	if _, v1 := g.dirs["cpu"]; v1 {
		return true, writeCgroup(g.file("cpu", "cpu.shares"), strconv.FormatUint(NiceWeight(n), 10))
	}
	return true, writeCgroup(g.file("cpu", "cpu.weight.nice"), strconv.Itoa(n))
}

func writeCgroup(path, value string) error {
	err := os.WriteFile(path, []byte(value), 0)
	var pathErr *fs.PathError
	if errors.As(err, &pathErr) {
		err = pathErr.Err // the message names the path once
	}
	if err != nil {
		return fmt.Errorf("write %q to %s: %w", value, path, err)
	}
	return nil
}

// remove deletes the v1 directories; their tasks must have exited.
func (g *groups) remove() error {
	var errs []error
	for _, dir := range g.dirs {
		if err := os.Remove(dir); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, fmt.Errorf("remove cgroup %s: %w", dir, err))
		}
	}
	return errors.Join(errs...)
}
