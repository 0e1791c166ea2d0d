package runtime

import "syscall"

// InitArg is the first argument with which the supervisor re-executes its
// own binary as a container's init; main must call RunInit when it sees it.
const InitArg = "__ctlfs_init"

// Descriptors the init inherits besides 0-2.
const (
	initConfigFD = 3 // read end: the initConfig as JSON, then end of file
	initStatusFD = 4 // write end: initStatus messages as JSON, the last one final
	initDeathFD  = 5 // read end: end of file means the supervisor died
)

// initConfig is what the supervisor tells the init about its container.
type initConfig struct {
	Name   string   // hostname
	Rootfs string   // host path of the root filesystem
	Layer  *layer   // the private writable layer over Rootfs, if any
	NewNet bool     // the init is in a new network namespace
	Path   string   // program to run, as a path inside the container
	Argv   []string // its arguments, Argv[0] as written
	Env    []string
	Nice   int
	// Autogroup asks the init to set the nice of the command's autogroup,
	// because the container has no cpu cgroup to carry its weight.
	Autogroup bool
}

// initStatus is a report of the init: first Ready, once it catches
// signals, then the end of the command.
type initStatus struct {
	// Ready says the init now catches signals. Before, a signal from the
	// supervisor other than SIGKILL would be lost: the kernel drops it for
	// a PID namespace's init that has no handler for it.
	Ready bool `json:",omitempty"`
	// WaitStatus is the command's raw wait status, when it ran.
	WaitStatus *syscall.WaitStatus `json:",omitempty"`
	// Error says why the command could not start; Code is then the exit
	// code to report (126 or 127).
	Error string `json:",omitempty"`
	Code  int    `json:",omitempty"`
}
