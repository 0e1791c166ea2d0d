// Package initproc is a container's init: the first process in its
// namespaces, started by the supervisor in package runtime. It imports
// nothing heavier than golang.org/x/sys, so that the small ctlfs-init
// binary built from it keeps the init's memory, which counts against the
// container's limits, small.
package initproc

import (
	"bytes"
	"errors"
	"strconv"
	"strings"
	"syscall"
)

// Arg is the first argument with which the supervisor re-executes its
// own binary as a container's init, when no ctlfs-init binary is
// installed beside it. A main that finds it must call Run.
const Arg = "__ctlfs_init"

// Descriptors the init inherits besides 0-2.
const (
	ConfigFD = 3 // read end: the Config (see MarshalConfig), then end of file
	StatusFD = 4 // write end: Status lines (see Status.Line), the last one final
	DeathFD  = 5 // read end: end of file means the supervisor died
	// LogPipeFD is a second read end of the pipe that carries the
	// container's output, and LogDirFD the directory of the logs. The
	// init reads the pipe only once the supervisor has died, so that
	// output the supervisor had not yet read still reaches the log.
	LogPipeFD = 6
	LogDirFD  = 7
)

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
	// Cgroups are the tasks files of the container's cgroup v1
	// directories, host paths. The init's thread, which starts the
	// command, writes 0 to each to join it before the command starts.
	Cgroups []string
}

// Status is a report of the init: first Ready, once it catches
// signals, then Joined, then the end of the command.
type Status struct {
	// Ready reports that the init now catches signals. Before, a signal from the
	// supervisor other than SIGKILL would be lost: the kernel drops it for
	// a PID namespace's init that has no handler for it.
	Ready bool
	// Joined reports that the init's thread joined the cgroups of
	// Config.Cgroups.
	Joined bool
	// WaitStatus is the command's raw wait status, when it ran.
	WaitStatus *syscall.WaitStatus
	// Error is the reason the command could not start; Code is then the exit
	// code to report (126 or 127).
	Error string
	Code  int
}

// Line returns the status as one line of text: "ready", "joined",
// "exited STATUS" with the raw wait status, or "failed CODE REASON".
func (s Status) Line() string {
	switch {
	case s.Ready:
		return "ready\n"
	case s.Joined:
		return "joined\n"
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
		return Status{Ready: true}, nil
	case "joined":
		return Status{Joined: true}, nil
	case "exited":
		n, err := strconv.ParseUint(rest, 10, 32)
		if err != nil {
			return Status{}, errors.New("invalid init status " + strconv.Quote(line))
		}
		ws := syscall.WaitStatus(n)
		return Status{WaitStatus: &ws}, nil
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
// fields of a list repeat its key, in order.
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
		field("merged", cfg.Layer.Merged)
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
	for _, t := range cfg.Cgroups {
		field("cgroup", t)
	}
	return b.Bytes()
}

// UnmarshalConfig decodes what MarshalConfig encoded.
func UnmarshalConfig(data []byte) (*Config, error) {
	cfg := new(Config)
	var layer Layer
	for len(data) > 0 {
		key, value, rest, err := nextField(data)
		if err != nil {
			return nil, err
		}
		data = rest
		if err := cfg.set(key, value, &layer); err != nil {
			return nil, err
		}
	}
	if layer != (Layer{}) {
		cfg.Layer = &layer
	}
	if cfg.Path == "" {
		// The supervisor closed the pipe without writing, or died.
		return nil, errors.New("configuration has no program path")
	}
	return cfg, nil
}

// nextField splits the first field off data.
func nextField(data []byte) (key, value string, rest []byte, err error) {
	k, after, ok := bytes.Cut(data, []byte(" "))
	size, after2, ok2 := bytes.Cut(after, []byte(" "))
	n, nerr := strconv.Atoi(string(size))
	if !ok || !ok2 || nerr != nil || n < 0 || n >= len(after2) || after2[n] != '\n' {
		return "", "", nil, errors.New("invalid configuration field " + strconv.Quote(string(k)))
	}
	return string(k), string(after2[:n]), after2[n+1:], nil
}

func (cfg *Config) set(key, value string, layer *Layer) error {
	var err error
	switch key {
	case "name":
		cfg.Name = value
	case "rootfs":
		cfg.Rootfs = value
	case "upper":
		layer.Upper = value
	case "work":
		layer.Work = value
	case "merged":
		layer.Merged = value
	case "newnet":
		cfg.NewNet, err = strconv.ParseBool(value)
	case "path":
		cfg.Path = value
	case "arg":
		cfg.Argv = append(cfg.Argv, value)
	case "env":
		cfg.Env = append(cfg.Env, value)
	case "nice":
		cfg.Nice, err = strconv.Atoi(value)
	case "log":
		cfg.LogName = value
	case "autogroup":
		cfg.Autogroup, err = strconv.ParseBool(value)
	case "cgroup":
		cfg.Cgroups = append(cfg.Cgroups, value)
	default:
		return errors.New("unknown configuration field " + strconv.Quote(key))
	}
	if err != nil {
		return errors.New("invalid configuration field " + key + ": " + err.Error())
	}
	return nil
}

// Layer is the overlayfs directories of a container's private writable
// layer, as host paths.
type Layer struct {
	Upper, Work, Merged string
}
