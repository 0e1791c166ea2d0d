package main

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// describeMachine returns a table of the facts that the figures depend
// on. dir is the parent of the temporary files.
func describeMachine(dir string) *table {
	t := newTable("machine", "")
	var uts unix.Utsname
	if err := unix.Uname(&uts); err == nil {
		t.add("kernel", unix.ByteSliceToString(uts.Release[:])+" "+unix.ByteSliceToString(uts.Machine[:]))
	}
	t.add("OS", osRelease())
	t.add("CPU", fieldOf("/proc/cpuinfo", "model name"))
	t.add("CPUs (nproc)", strconv.Itoa(runtime.NumCPU()))
	t.add("memory", memTotal())
	t.add("cgroups", cgroupLayout())
	t.add("temporary files", dir+" on "+fileSystem(dir))
	t.add("harness built with", runtime.Version())
	for _, tool := range anchorVersions() {
		t.add(tool[0], tool[1])
	}
	t.add("load average at start", loadAverage())
	return t
}

// loadAverage returns the 1, 5 and 15 minute load averages. Other work on
// the machine during a run shows in them and in the spread of the figures.
func loadAverage() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return err.Error()
	}
	fields := strings.Fields(string(data))
	if len(fields) < 3 {
		return "unknown"
	}
	return strings.Join(fields[:3], ", ")
}

// fieldOf returns the value of the first "key : value" line of file.
func fieldOf(file, key string) string {
	f, err := os.Open(file)
	if err != nil {
		return err.Error()
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == key {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}

func memTotal() string {
	text := fieldOf("/proc/meminfo", "MemTotal")
	kib, err := strconv.ParseInt(strings.TrimSuffix(text, " kB"), 10, 64)
	if err != nil {
		return text
	}
	return fmt.Sprintf("%.1f GiB", float64(kib)/(1<<20))
}

func osRelease() string {
	data, err := os.ReadFile("/etc/os-release")
	if err != nil {
		return "unknown"
	}
	for line := range strings.Lines(string(data)) {
		if value, ok := strings.CutPrefix(strings.TrimSpace(line), "PRETTY_NAME="); ok {
			return strings.Trim(value, `"`)
		}
	}
	return "unknown"
}

// cgroupLayout returns the host's cgroup layout: pure v2, hybrid or v1.
func cgroupLayout() string {
	var st unix.Statfs_t
	if err := unix.Statfs("/sys/fs/cgroup", &st); err != nil {
		return err.Error()
	}
	if st.Type == unix.CGROUP2_SUPER_MAGIC {
		return "v2 (unified) at /sys/fs/cgroup"
	}
	if unix.Statfs("/sys/fs/cgroup/unified", &st) == nil && st.Type == unix.CGROUP2_SUPER_MAGIC {
		return "hybrid: v1 controllers, v2 at /sys/fs/cgroup/unified"
	}
	return "v1"
}

// fileSystem returns the type and source of the mount that contains dir,
// going by the longest mount point in /proc/self/mountinfo that is a
// prefix of dir.
func fileSystem(dir string) string {
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return err.Error()
	}
	best, found := "", "unknown"
	for line := range strings.Lines(string(data)) {
		// Fields: ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS ... - TYPE SOURCE ...
		before, after, ok := strings.Cut(line, " - ")
		fields, tail := strings.Fields(before), strings.Fields(after)
		if !ok || len(fields) < 5 || len(tail) < 2 {
			continue
		}
		mount := fields[4]
		inside := dir == mount || strings.HasPrefix(dir, strings.TrimSuffix(mount, "/")+"/")
		if inside && len(mount) >= len(best) {
			best, found = mount, tail[0]+" ("+tail[1]+")"
		}
	}
	return found
}

// anchorVersions returns the name and version of each reference tool, or
// how to install it when it is missing.
func anchorVersions() [][2]string {
	var rows [][2]string
	for _, tool := range []struct{ name, debianPackage string }{
		{"crun", "crun"}, {"runc", "runc"}, {"bwrap", "bubblewrap"},
		{"unshare", "util-linux"}, {"hyperfine", "hyperfine"},
	} {
		path, err := lookTool(tool.name, tool.debianPackage)
		version := "not installed (apt-get install -y " + tool.debianPackage + ")"
		if err == nil {
			version = toolVersion(path, "--version")
		}
		rows = append(rows, [2]string{tool.name, version})
	}
	return rows
}
