package main

import (
	"fmt"
	"os"
	"strings"
	"time"
)

// The methods below drive the tree with the same system calls as a
// shell script (mkdir, echo > file, cat file, rmdir), without starting a
// process for each step.

// create makes container name (mkdir).
func (s *supervisor) create(name string) error {
	return os.Mkdir(s.path(name), 0o755)
}

// write writes value to a file of container name, like echo value > file.
// A rejected write returns the reason the supervisor put in err.
func (s *supervisor) write(name, file, value string) error {
	err := os.WriteFile(s.path(name, file), []byte(value+"\n"), 0)
	if err != nil {
		reason, _ := os.ReadFile(s.path(name, "err"))
		return fmt.Errorf("write %q to %s: %w (err: %s)", value, file, err, strings.TrimSpace(string(reason)))
	}
	return nil
}

// read returns the contents of a file of container name without the
// trailing newline. Reading wait blocks until the container exited.
func (s *supervisor) read(name, file string) (string, error) {
	data, err := os.ReadFile(s.path(name, file))
	return strings.TrimSuffix(string(data), "\n"), err
}

// remove removes container name (rmdir).
func (s *supervisor) remove(name string) error {
	return os.Remove(s.path(name))
}

// kill kills container name and waits for it to exit.
func (s *supervisor) kill(name string) {
	if s.write(name, "ctl", "kill") == nil {
		s.read(name, "wait")
	}
}

// cycleTimes are the times of the steps of one container's cycle.
type cycleTimes struct {
	mkdir, write, wait, rmdir time.Duration
}

// cycle runs cmdline in a new container called name, removes it, and
// returns the time of each step.
func (s *supervisor) cycle(name, cmdline string) (cycleTimes, error) {
	var t cycleTimes
	begin := time.Now()
	if err := s.create(name); err != nil {
		return t, fmt.Errorf("container %s: %w", name, err)
	}
	created := time.Now()
	err := s.write(name, "cmd", cmdline)
	written := time.Now()
	var state string
	if err == nil {
		state, err = s.read(name, "wait")
	}
	exited := time.Now()
	if rmErr := s.remove(name); err == nil {
		err = rmErr
	}
	removed := time.Now()

	if err == nil && state != "exited 0" {
		err = fmt.Errorf("state %q, expected exited 0", state)
	}
	if err != nil {
		return t, fmt.Errorf("container %s: %w", name, err)
	}
	return cycleTimes{created.Sub(begin), written.Sub(created), exited.Sub(written), removed.Sub(exited)}, nil
}

// output runs cmdline in a new container called name, removes it, and
// returns what the command wrote to its log.
func (s *supervisor) output(name, cmdline string) (string, error) {
	if err := s.create(name); err != nil {
		return "", fmt.Errorf("container %s: %w", name, err)
	}
	defer s.remove(name)
	if err := s.write(name, "cmd", cmdline); err != nil {
		return "", err
	}
	state, err := s.read(name, "wait")
	if err != nil {
		return "", err
	}
	if state != "exited 0" {
		return "", fmt.Errorf("container %s: state %q, expected exited 0", name, state)
	}
	data, err := os.ReadFile(s.path(name, "log"))
	return string(data), err
}
