// Package initproc is the supervisor's side of the protocol with a
// container's init, ctlfs-init: the descriptors the init inherits, the
// configuration the supervisor sends it and the status lines it reports.
// The init itself is a C program, cmd/ctlfs-init/init.c, which parses the
// configuration and writes the status lines this package describes.
package initproc

import (
	"bytes"
	"errors"
	"strconv"
	"strings"
	"syscall"
)

// Descriptors the init inherits besides 0-2.
const (
	// ConfigFD is a read end: the Config (see MarshalConfig), then end
	// of file once the init may start the command.
	ConfigFD = 3
	StatusFD = 4 // write end: Status lines (see Status.Line), the last one final
	DeathFD  = 5 // read end: end of file means the supervisor died
	// LogPipeFD is a second read end of the pipe that carries the
	// container's output, and LogDirFD the directory of the logs. The
	// init reads the pipe only once the supervisor has died, so that
	// output the supervisor had not yet read still reaches the log.
	LogPipeFD = 6
	LogDirFD  = 7
	// LogCopyFD is a read end of the supervisor's copy pipe, through
	// which the output goes from the output pipe to the log. The init
	// saves what it holds before what the output pipe holds.
	LogCopyFD = 8
)

// TasksEnv is the environment variable that contains the number of the
// descriptor of the tasks file of the container's cgroup v1 pids
// directory, where there is one. The init writes 0 to it to join that
// directory before it reports ready, and so before the command starts.
const TasksEnv = "CTLFS_TASKS_FD"

// Config describes a container to its init.
type Config struct {
	Name   string   // hostname
	Rootfs string   // host path of the root filesystem
	Layer  *Layer   // the private writable layer over Rootfs, if any
	NewNet bool     // the init is in a new network namespace
	Path   string   // program to run, as a path inside the container
	Argv   []string // its arguments, Argv[0] as written
	Env    []string
	Nice   int
	// LogName is the log's file name in the directory of LogDirFD.
	LogName string
	// Autogroup makes the init set the nice of the command's autogroup,
	// because the container has no cpu cgroup to carry its weight.
	Autogroup bool
	// HugePagesOff keeps transparent huge pages off for the command. The
	// init inherits them off from the supervisor and otherwise turns them
	// on again for the command.
	HugePagesOff bool
}

// Version is the version of this protocol, which the init sends in its
// ready line. Version 2 added the started line and LogCopyFD; an init
// older than that sends no version, which reads as 0.
const Version = 2

// Status is a report of the init: first Ready, once it holds signals
// for the command, then Started once the command runs, then the end of
// the command, or Error when it could not start.
type Status struct {
	// Ready reports that the init now blocks every signal, to forward
	// it to the command, and is in its cgroups. Before, a signal from
	// the supervisor other than SIGKILL would be lost: the kernel drops
	// it for a PID namespace's init that neither blocks it nor has a
	// handler for it.
	Ready bool
	// Version, with Ready, is the protocol version the init speaks.
	Version int
	// Started reports that the command's exec succeeded.
	Started bool
	// WaitStatus is the command's raw wait status, when it ran.
	WaitStatus *syscall.WaitStatus
	// Alone, with WaitStatus, reports that no other process of the
	// container is left. The init has then closed its output and the
	// status pipe, and it exits without any other work.
	Alone bool
	// Error is the reason the command could not start; Code is then the exit
	// code to report (126 or 127).
	Error string
	Code  int
}

// Line returns the status as one line of text: "ready VERSION",
// "started", "exited STATUS" with the raw wait status, followed by
// " alone" when Alone is set, or "failed CODE REASON".
func (s Status) Line() string {
	switch {
	case s.Ready:
		return "ready " + strconv.Itoa(s.Version) + "\n"
	case s.Started:
		return "started\n"
	case s.WaitStatus != nil && s.Alone:
		return "exited " + strconv.FormatUint(uint64(*s.WaitStatus), 10) + " alone\n"
	case s.WaitStatus != nil:
		return "exited " + strconv.FormatUint(uint64(*s.WaitStatus), 10) + "\n"
	}
	reason := strings.Map(func(r rune) rune {
		if r == '\n' {
			return ' '
		}
		return r
	}, s.Error)
	return "failed " + strconv.Itoa(s.Code) + " " + reason + "\n"
}

// ParseStatus parses a line written by Status.Line, with or without its
// newline.
func ParseStatus(line string) (Status, error) {
	word, rest, _ := strings.Cut(strings.TrimSuffix(line, "\n"), " ")
	switch word {
	case "ready":
		if rest == "" {
			return Status{Ready: true}, nil // an init older than Version 2
		}
		v, err := strconv.Atoi(rest)
		if err != nil || v < 0 {
			return Status{}, errors.New("invalid init status " + strconv.Quote(line))
		}
		return Status{Ready: true, Version: v}, nil
	case "started":
		return Status{Started: true}, nil
	case "exited":
		code, flag, _ := strings.Cut(rest, " ")
		n, err := strconv.ParseUint(code, 10, 32)
		if err != nil || flag != "" && flag != "alone" {
			return Status{}, errors.New("invalid init status " + strconv.Quote(line))
		}
		ws := syscall.WaitStatus(n)
		return Status{WaitStatus: &ws, Alone: flag == "alone"}, nil
	case "failed":
		code, reason, _ := strings.Cut(rest, " ")
		n, err := strconv.Atoi(code)
		if err != nil {
			return Status{}, errors.New("invalid init status " + strconv.Quote(line))
		}
		return Status{Error: reason, Code: n}, nil
	}
	return Status{}, errors.New("invalid init status " + strconv.Quote(line))
}

// MarshalConfig encodes cfg for the init. Each field is its key, the
// length of its value in decimal, the value and a newline, with a space
// after the key and after the length, so a value may hold any byte. The
// fields of a list repeat its key, in order, and a field "end" with an
// empty value ends the configuration.
func MarshalConfig(cfg *Config) []byte {
	var b bytes.Buffer
	field := func(key, value string) {
		b.WriteString(key + " " + strconv.Itoa(len(value)) + " " + value + "\n")
	}
	field("name", cfg.Name)
	field("rootfs", cfg.Rootfs)
	if cfg.Layer != nil {
		field("upper", cfg.Layer.Upper)
		field("work", cfg.Layer.Work)
	}
	field("newnet", strconv.FormatBool(cfg.NewNet))
	field("path", cfg.Path)
	for _, a := range cfg.Argv {
		field("arg", a)
	}
	for _, e := range cfg.Env {
		field("env", e)
	}
	field("nice", strconv.Itoa(cfg.Nice))
	field("log", cfg.LogName)
	field("autogroup", strconv.FormatBool(cfg.Autogroup))
	field("hugepagesoff", strconv.FormatBool(cfg.HugePagesOff))
	field("end", "")
	return b.Bytes()
}

// Layer is the overlayfs directories of a container's private writable
// layer, as host paths.
type Layer struct {
	Upper, Work string
}
