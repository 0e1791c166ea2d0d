package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

const fuseSuperMagic = 0x65735546 // f_type of a FUSE mount, from linux/magic.h

// supervisor is a `ctlfs serve` process that the harness started on a
// mount point of its own.
type supervisor struct {
	mount   string
	state   string // the state directory, with logs/NAME.log
	logPath string // the supervisor's stdout and stderr
	cmd     *exec.Cmd
	exited  chan struct{} // closed when cmd.Wait returned
	waitErr error         // valid once exited is closed
}

// startSupervisor starts ctlfs serve with its mount point, state directory
// and log in dir, and waits until the tree is mounted.
func startSupervisor(binary, rootfs, dir string) (*supervisor, error) {
	s := &supervisor{
		mount:   filepath.Join(dir, "mnt"),
		state:   filepath.Join(dir, "state"),
		logPath: filepath.Join(dir, "serve.log"),
		exited:  make(chan struct{}),
	}
	for _, d := range []string{s.mount, s.state} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, err
		}
	}
	log, err := os.Create(s.logPath)
	if err != nil {
		return nil, err
	}
	defer log.Close()

	// --log-max max keeps every byte of a log on disk, where the log
	// throughput figure checks it.
	s.cmd = exec.Command(binary, "serve", "--mount", s.mount, "--state-dir", s.state, "--rootfs", rootfs,
		"--log-max", "max")
	s.cmd.Stdout, s.cmd.Stderr = log, log
	// Its own process group keeps a terminal's Ctrl-C away from it, so
	// that the harness shuts it down. Pdeathsig stops it if the harness
	// is killed.
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start supervisor: %w", err)
	}
	go func() {
		s.waitErr = s.cmd.Wait()
		close(s.exited)
	}()
	if err := s.waitMounted(10 * time.Second); err != nil {
		return nil, errors.Join(err, s.stop())
	}
	return s, nil
}

func (s *supervisor) waitMounted(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for !s.mounted() {
		select {
		case <-s.exited:
			return fmt.Errorf("supervisor exited before mounting (%v): %s", s.waitErr, s.logTail())
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("supervisor did not mount %s within %v: %s", s.mount, timeout, s.logTail())
		}
	}
	return nil
}

// pid returns the supervisor's process ID.
func (s *supervisor) pid() int {
	return s.cmd.Process.Pid
}

// mounted reports whether the tree is mounted.
func (s *supervisor) mounted() bool {
	return fuseMounted(s.mount)
}

// fuseMounted reports whether a FUSE file system is mounted on dir.
func fuseMounted(dir string) bool {
	var st unix.Statfs_t
	return unix.Statfs(dir, &st) == nil && st.Type == fuseSuperMagic
}

// logTail returns the last lines of the supervisor's log.
func (s *supervisor) logTail() string {
	data, err := os.ReadFile(s.logPath)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	return strings.Join(lines[max(0, len(lines)-5):], "\n")
}

// path returns the path of a file of the tree.
func (s *supervisor) path(elem ...string) string {
	return filepath.Join(append([]string{s.mount}, elem...)...)
}

// stop shuts the supervisor down through its ctl file. When it does not
// exit within 30 s it gets SIGTERM, then SIGKILL, by PID. A mount left
// behind is detached and reported.
func (s *supervisor) stop() error {
	var errs []error
	select {
	case <-s.exited:
		errs = append(errs, fmt.Errorf("supervisor exited early (%v): %s", s.waitErr, s.logTail()))
	default:
		if err := os.WriteFile(s.path("ctl"), []byte("shutdown\n"), 0); err != nil {
			errs = append(errs, fmt.Errorf("shut down supervisor: %w", err))
		}
		errs = append(errs, s.waitExit(30*time.Second))
	}
	if s.mounted() {
		errs = append(errs, fmt.Errorf("supervisor left %s mounted, so the harness detached it", s.mount))
		if err := unix.Unmount(s.mount, unix.MNT_DETACH); err != nil {
			errs = append(errs, fmt.Errorf("unmount %s: %w", s.mount, err))
		}
	}
	return errors.Join(errs...)
}

// waitExit waits for the supervisor to exit, signalling it by PID when
// it takes longer than timeout.
func (s *supervisor) waitExit(timeout time.Duration) error {
	pid := s.cmd.Process.Pid
	wait := timeout
	var sent []string
	for _, sig := range []syscall.Signal{0, syscall.SIGTERM, syscall.SIGKILL} {
		if sig != 0 {
			s.cmd.Process.Signal(sig)
			sent = append(sent, unix.SignalName(sig))
			wait = 5 * time.Second
		}
		select {
		case <-s.exited:
			if len(sent) > 0 {
				return fmt.Errorf("supervisor %d did not exit within %v of shutdown, so it was sent %s: %s",
					pid, timeout, strings.Join(sent, ", "), s.logTail())
			}
			if s.waitErr != nil {
				return fmt.Errorf("supervisor %d: %w: %s", pid, s.waitErr, s.logTail())
			}
			return nil
		case <-time.After(wait):
		}
	}
	return fmt.Errorf("supervisor %d still running after SIGKILL", pid)
}
