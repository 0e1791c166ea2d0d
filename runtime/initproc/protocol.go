// Package initproc is a container's init: the first process in its
// namespaces, started by the supervisor in package runtime. It imports
// nothing heavier than golang.org/x/sys, so that the small ctlfs-init
// binary built from it keeps the init's memory, which counts against the
// container's limits, small.
package initproc

import "syscall"

// Arg is the first argument with which the supervisor re-executes its
// own binary as a container's init, when no ctlfs-init binary is
// installed beside it. A main that finds it must call Run.
const Arg = "__ctlfs_init"

// Descriptors the init inherits besides 0-2.
const (
	ConfigFD = 3 // read end: the Config as JSON, then end of file
	StatusFD = 4 // write end: Status messages as JSON, the last one final
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
}

// Status is a report of the init: first Ready, once it catches
// signals, then the end of the command.
type Status struct {
	// Ready reports that the init now catches signals. Before, a signal from the
	// supervisor other than SIGKILL would be lost: the kernel drops it for
	// a PID namespace's init that has no handler for it.
	Ready bool `json:",omitempty"`
	// WaitStatus is the command's raw wait status, when it ran.
	WaitStatus *syscall.WaitStatus `json:",omitempty"`
	// Error is the reason the command could not start; Code is then the exit
	// code to report (126 or 127).
	Error string `json:",omitempty"`
	Code  int    `json:",omitempty"`
}

// Layer is the overlayfs directories of a container's private writable
// layer, as host paths.
type Layer struct {
	Upper, Work, Merged string
}
