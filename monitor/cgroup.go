package monitor

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// Cgroup2Mount returns the mount point of the cgroup v2 hierarchy from
// /proc/self/mountinfo: /sys/fs/cgroup on pure v2 hosts,
// /sys/fs/cgroup/unified on hybrid ones.
func Cgroup2Mount() (string, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return "", fmt.Errorf("find cgroup2 mount: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// Fields: id parent major:minor root mountpoint options
		// [optional...] - fstype source superoptions
		fields := strings.Fields(sc.Text())
		sep := -1
		for i, field := range fields {
			if field == "-" {
				sep = i
				break
			}
		}
		if sep < 5 || sep+1 >= len(fields) || fields[sep+1] != "cgroup2" {
			continue
		}
		return unescapeMountinfo(fields[4]), nil
	}
	if err := sc.Err(); err != nil {
		return "", fmt.Errorf("find cgroup2 mount: read /proc/self/mountinfo: %w", err)
	}
	return "", errors.New("find cgroup2 mount: no cgroup2 file system in /proc/self/mountinfo")
}

// unescapeMountinfo undoes the octal escapes (\040 for a space) that
// mountinfo uses in paths.
func unescapeMountinfo(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// CgroupID returns the id of the cgroup v2 directory at path, the value
// bpf_get_current_cgroup_id() returns for its tasks: the directory's inode
// number.
func CgroupID(path string) (uint64, error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return 0, fmt.Errorf("stat cgroup %s: %w", path, err)
	}
	return st.Ino, nil
}

// cgroupLevel checks that path is the cgroup v2 directory with the given
// id and returns its depth below the root of the hierarchy (the root is
// depth 0), the value of struct cgroup's level field.
func cgroupLevel(id uint64, path string) (uint32, error) {
	ino, err := CgroupID(path)
	if err != nil {
		return 0, err
	}
	if ino != id {
		return 0, fmt.Errorf("cgroup %s has id %d, not %d", path, ino, id)
	}

	var fs unix.Statfs_t
	if err := unix.Statfs(path, &fs); err != nil {
		return 0, fmt.Errorf("statfs cgroup %s: %w", path, err)
	}
	if fs.Type != unix.CGROUP2_SUPER_MAGIC {
		return 0, fmt.Errorf("%s is not in a cgroup v2 file system", path)
	}

	abs, err := filepath.Abs(path)
	if err != nil {
		return 0, fmt.Errorf("resolve cgroup path %s: %w", path, err)
	}
	mount, err := knownCgroup2Mount(false)
	if err != nil {
		return 0, err
	}
	rel, below := relativeTo(mount, abs)
	if !below {
		// The hierarchy may have been mounted elsewhere since.
		if mount, err = knownCgroup2Mount(true); err != nil {
			return 0, err
		}
		if rel, below = relativeTo(mount, abs); !below {
			return 0, fmt.Errorf("cgroup %s is not below the cgroup2 mount %s", path, mount)
		}
	}
	if rel == "." {
		return 0, nil
	}
	return uint32(strings.Count(rel, "/") + 1), nil
}

// relativeTo returns path relative to dir, and whether path is dir or
// below it.
func relativeTo(dir, path string) (string, bool) {
	rel, err := filepath.Rel(dir, filepath.Clean(path))
	return rel, err == nil && rel != ".." && !strings.HasPrefix(rel, "../")
}

// cgroup2MountCache keeps the cgroup v2 mount point that
// knownCgroup2Mount found. cgroupLevel runs at every Watch, and reading
// mountinfo takes the lock of the mount table that every start of a
// container takes too, to copy it for the container's mount namespace.
var cgroup2MountCache struct {
	sync.Mutex
	path string
}

// knownCgroup2Mount returns the cgroup v2 mount point, read from
// mountinfo on the first call and when reread is set.
func knownCgroup2Mount(reread bool) (string, error) {
	c := &cgroup2MountCache
	c.Lock()
	defer c.Unlock()
	if c.path == "" || reread {
		path, err := Cgroup2Mount()
		if err != nil {
			return "", err
		}
		c.path = path
	}
	return c.path, nil
}

// cgroupPIDs returns the processes listed in cgroup.procs of the cgroup
// v2 directory at path.
func cgroupPIDs(path string) ([]int, error) {
	data, err := os.ReadFile(filepath.Join(path, "cgroup.procs"))
	if err != nil {
		return nil, fmt.Errorf("read processes of cgroup: %w", err)
	}
	var pids []int
	for _, line := range bytes.Fields(data) {
		pid, err := strconv.Atoi(string(line))
		if err != nil {
			return nil, fmt.Errorf("parse %s/cgroup.procs: %w", path, err)
		}
		pids = append(pids, pid)
	}
	return pids, nil
}

// killCgroup kills every process in the cgroup through cgroup.kill
// (Linux 5.14 or newer).
func killCgroup(path string) error {
	if err := os.WriteFile(filepath.Join(path, "cgroup.kill"), []byte("1"), 0); err != nil {
		return fmt.Errorf("kill cgroup %s: %w", path, err)
	}
	return nil
}
