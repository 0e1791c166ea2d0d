package experiment

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// cleanupTimeout bounds the removal of the containers at the end, which
// runs even when the experiment's context has ended.
const cleanupTimeout = 15 * time.Second

// probeTimeout bounds each "WORKLOAD --help" run of the preflight check.
const probeTimeout = 10 * time.Second

// create makes a container, remembers it for cleanup and sets its rootfs
// when Options.Rootfs is set.
func (s *session) create(name string) error {
	if err := s.tree.create(name); err != nil {
		return err
	}
	s.created = append(s.created, name)
	if s.opts.Rootfs == "" {
		return nil
	}
	return s.tree.write(name, "rootfs", s.opts.Rootfs)
}

// start writes cmdline to the cmd file of name, which starts it. ENOENT
// from that write means the program is not in the rootfs.
func (s *session) start(name, cmdline string) error {
	err := s.tree.write(name, "cmd", cmdline)
	if errors.Is(err, fs.ErrNotExist) && s.exists(name) {
		program := strings.Fields(cmdline)[0]
		return fmt.Errorf("%s %w: rebuild it with make rootfs, or pass --rootfs DIR (%v)",
			program, ErrWorkloadMissing, err)
	}
	return err
}

func (s *session) exists(name string) bool {
	_, err := os.Stat(filepath.Join(s.tree.root, name))
	return err == nil
}

// probeWorkloads runs "WORKLOAD --help" for each workload of the
// experiment in a scratch container, so that a missing program fails the
// run before anything is measured.
func (s *session) probeWorkloads() error {
	name := s.containerName("probe")
	if err := s.create(name); err != nil {
		return err
	}
	for _, program := range s.exp.workloads {
		if err := s.probe(name, program); err != nil {
			return err
		}
	}
	return s.removeNow(name)
}

func (s *session) probe(name, program string) error {
	if err := s.start(name, program+" --help"); err != nil {
		return err
	}
	state, err := s.tree.waitExited(s.ctx, name, probeTimeout)
	if err != nil {
		return fmt.Errorf("probe %s: %w", program, err)
	}
	if state != "exited 0" {
		log, _ := s.tree.read(name, "log")
		return fmt.Errorf("probe %s --help: state %q, expected exited 0; log:\n%s",
			program, state, log)
	}
	return nil
}

// removeNow removes an exited container and drops it from the cleanup list.
func (s *session) removeNow(name string) error {
	if err := s.tree.remove(name); err != nil {
		return err
	}
	s.created = removeString(s.created, name)
	return nil
}

func removeString(list []string, value string) []string {
	out := list[:0]
	for _, v := range list {
		if v != value {
			out = append(out, v)
		}
	}
	return out
}

// cleanup kills and removes every container the session created. It uses
// its own timeout, because it runs also after the context has ended.
func (s *session) cleanup() error {
	ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
	defer cancel()
	var errs []error
	for i := len(s.created) - 1; i >= 0; i-- {
		errs = append(errs, s.destroy(ctx, s.created[i]))
	}
	s.created = nil
	return errors.Join(errs...)
}

// destroy kills name when it runs, waits until it has exited and removes it.
func (s *session) destroy(ctx context.Context, name string) error {
	state, err := s.tree.read(name, "state")
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if running(state) {
		err = s.kill(name)
		_, waitErr := s.tree.waitExited(ctx, name, cleanupTimeout)
		err = errors.Join(err, waitErr)
	}
	return errors.Join(err, s.tree.remove(name))
}

// kill sends SIGKILL to name. A container that exited meanwhile rejects
// the write with ESRCH, which is not an error here.
func (s *session) kill(name string) error {
	err := s.tree.write(name, "ctl", "kill")
	if errors.Is(err, syscall.ESRCH) {
		return nil
	}
	return err
}

// waitAll waits until every container in names has exited and returns
// their states. While it waits it calls tick about every period.
func (s *session) waitAll(names []string, timeout, period time.Duration,
	tick func()) (map[string]string, error) {
	deadline := time.Now().Add(timeout)
	nextTick := time.Now().Add(period)
	for {
		states, done, err := s.states(names)
		if err != nil || done {
			return states, err
		}
		if time.Now().After(deadline) {
			return states, fmt.Errorf("wait for %s: not all exited after %s: %v",
				strings.Join(names, ", "), timeout, states)
		}
		if now := time.Now(); tick != nil && now.After(nextTick) {
			tick()
			nextTick = now.Add(period)
		}
		if err := sleep(s.ctx, statePoll); err != nil {
			return states, fmt.Errorf("wait for %s: %w", strings.Join(names, ", "), err)
		}
	}
}

// states reads the state of each container and reports whether all exited.
func (s *session) states(names []string) (map[string]string, bool, error) {
	states := make(map[string]string, len(names))
	all := true
	for _, name := range names {
		state, err := s.tree.read(name, "state")
		if err != nil {
			return states, false, err
		}
		states[name] = state
		all = all && exited(state)
	}
	return states, all, nil
}

// containerEvents returns the parsed events of name.
func (s *session) containerEvents(name string) ([]event, error) {
	text, err := s.tree.read(name, "events")
	if err != nil {
		return nil, err
	}
	return parseEvents(text)
}

// startedAt returns when the supervisor started name, from its last
// started event, or fallback when the events have none.
func startedAt(events []event, fallback time.Time) time.Time {
	t := fallback
	for _, e := range events {
		if e.Kind == "started" {
			t = e.Time
		}
	}
	return t
}

// saveLog copies the log of name into the output directory as raw data
// beside the report, and returns its content.
func (s *session) saveLog(name string) (string, error) {
	log, err := s.tree.read(name, "log")
	if err != nil {
		return "", err
	}
	path := filepath.Join(s.opts.Out, name+".log")
	if err := os.WriteFile(path, []byte(log+"\n"), 0o644); err != nil {
		return "", fmt.Errorf("save log of %s: %w", name, err)
	}
	return log, nil
}

// outPath returns the path of an output file of the experiment.
func (s *session) outPath(suffix string) string {
	return filepath.Join(s.opts.Out, s.exp.name+suffix)
}
