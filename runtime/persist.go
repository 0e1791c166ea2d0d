package runtime

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// record is a container's metadata as stored in STATE_DIR/containers/
// NAME.json, so that a supervisor that restarts after a crash lists the
// containers it had.
type record struct {
	Name    string
	Rootfs  string   `json:",omitempty"`
	Cmdline string   `json:",omitempty"`
	Argv    []string `json:",omitempty"`
	Env     []string `json:",omitempty"`
	Net     string
	Soft    uint64
	Hard    uint64
	Pids    uint64
	CPUs    string `json:",omitempty"`
	Nice    int
	Phase   Phase
	Code    int            `json:",omitempty"`
	Signal  syscall.Signal `json:",omitempty"`
	Reason  string         `json:",omitempty"`
	PID     int            `json:",omitempty"`
	Started time.Time      `json:",omitzero"`
	Exited  time.Time      `json:",omitzero"`
	// CPU is the CPU time of the last run, once it has ended.
	CPU time.Duration `json:",omitempty"`
}

func recordDir(stateDir string) string { return filepath.Join(stateDir, "containers") }

func recordPath(stateDir, name string) string {
	return filepath.Join(recordDir(stateDir), name+".json")
}

// persistLocked writes the container's record. A crash of the supervisor
// leaves the old record or the new one, never a mix (see writeRecord).
// There is no fsync, because this guards against the supervisor's own
// crash, not against power loss. The caller holds c.mu.
func (c *Container) persistLocked() {
	if c.removed {
		return
	}
	c.recordPending = false
	data, err := json.MarshalIndent(c.recordLocked(), "", "\t")
	if err == nil {
		c.recordSize, err = writeRecord(recordPath(c.sup.cfg.StateDir, c.name), data, c.recordSize)
	}
	if err != nil {
		c.sup.log.Error("save container metadata", "container", c.name, "err", err)
	}
}

// persistPending writes the first record of a new container, unless
// another write or its removal came first.
func (c *Container) persistPending() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.recordPending {
		c.persistLocked()
	}
}

// recordPage is the size up to which writeRecord rewrites a record in
// place: a write of one page at offset 0 is copied into one page of the
// page cache, and a process killed in the write(2) leaves all of it or
// none.
const recordPage = 4096

// writeRecord replaces the record at path, of size bytes, with data and
// returns the file's new size. A record that fits in one page is
// rewritten in place, padded with spaces, which JSON ignores, to the old
// size so that the file never has to shrink. Otherwise it writes a new
// file and renames it over the old one. The rewrite in place spares the
// file system an inode allocation per write, which was the largest
// single cost of starting a container on ext4.
func writeRecord(path string, data []byte, size int) (int, error) {
	if size > 0 && size <= recordPage && len(data) <= recordPage {
		if len(data) < size {
			data = append(data, bytes.Repeat([]byte{' '}, size-len(data))...)
		}
		f, err := os.OpenFile(path, os.O_WRONLY, 0)
		if err == nil {
			_, err = f.WriteAt(data, 0)
			if closeErr := f.Close(); err == nil {
				err = closeErr
			}
			if err == nil {
				return len(data), nil
			}
		}
		if !errors.Is(err, os.ErrNotExist) {
			return size, err
		}
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return 0, err
	}
	if err := os.Rename(tmp, path); err != nil {
		// The old record stays, of a size unknown here: 0 makes the next
		// write rename too, rather than pad to a wrong size in place.
		os.Remove(tmp)
		return 0, err
	}
	return len(data), nil
}

func (c *Container) recordLocked() record {
	return record{
		Name: c.name, Rootfs: c.rootfs, Cmdline: c.cmdline, Argv: c.argv,
		Env: c.env, Net: c.net, Soft: c.limits.Soft, Hard: c.limits.Hard,
		Pids: c.limits.Pids, CPUs: c.limits.CPUs.String(), Nice: c.nice,
		Phase: c.state.Phase, Code: c.state.Code, Signal: c.state.Signal,
		Reason: c.state.Reason, PID: c.state.PID,
		Started: c.state.Started, Exited: c.state.Exited,
		CPU: c.lastCPULocked(),
	}
}

// lastCPULocked returns the CPU time of the last run once it has ended,
// or 0. The caller holds c.mu.
func (c *Container) lastCPULocked() time.Duration {
	if c.state.Running() {
		return 0
	}
	if c.run != nil {
		return time.Duration(max(c.run.cpuFinal.Load(), 0))
	}
	return c.usage.CPU // restored from the record
}

// loadRecords restores the containers of an earlier supervisor. Those that
// were running when it died are reported exited with reason lost: their
// processes were killed with their cgroups.
func (s *Supervisor) loadRecords() error {
	dir := recordDir(s.cfg.StateDir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("read %s: %w", dir, err)
	}
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok {
			os.Remove(filepath.Join(dir, e.Name())) // a temporary file a crash left
			continue
		}
		if err := s.restore(name); err != nil {
			s.log.Error("restore container", "container", name, "err", err)
		}
	}
	return nil
}

func (s *Supervisor) restore(name string) error {
	data, err := os.ReadFile(recordPath(s.cfg.StateDir, name))
	if err != nil {
		return err
	}
	var rec record
	if err := json.Unmarshal(data, &rec); err != nil {
		return fmt.Errorf("decode metadata: %w", err)
	}
	if rec.Name != name || ValidateName(name) != nil {
		return fmt.Errorf("metadata of %q names %q", name, rec.Name)
	}
	c, err := newContainer(s, name)
	if err != nil {
		return err
	}
	c.applyRecord(rec)
	s.containers[name] = c
	c.persistLocked()
	s.log.Info("container restored", "container", name, "state", c.state.String())
	return nil
}

func (c *Container) applyRecord(rec record) {
	cpus, _ := ParseCPUList(orAll(rec.CPUs))
	c.rootfs, c.cmdline, c.argv, c.env = rec.Rootfs, rec.Cmdline, rec.Argv, rec.Env
	c.net, c.nice = rec.Net, rec.Nice
	if c.net == "" {
		c.net = NetNone
	}
	c.limits = Limits{Soft: rec.Soft, Hard: rec.Hard, Pids: rec.Pids, CPUs: cpus}
	c.state = State{Phase: rec.Phase, Code: rec.Code, Signal: rec.Signal,
		Reason: rec.Reason, Started: rec.Started, Exited: rec.Exited}
	c.usage.CPU = rec.CPU
	if c.state.Running() {
		c.state = State{Phase: Exited, Code: 128 + int(syscall.SIGKILL),
			Signal: syscall.SIGKILL, Reason: ReasonLost,
			Started: rec.Started, Exited: time.Now()}
		c.emit("exited", "code=137", "signal=KILL", "reason="+ReasonLost)
	}
}

func orAll(cpus string) string {
	if cpus == "" {
		return "all"
	}
	return cpus
}

// removeRecord deletes the container's metadata.
func removeRecord(stateDir, name string) error {
	err := os.Remove(recordPath(stateDir, name))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return err
}
