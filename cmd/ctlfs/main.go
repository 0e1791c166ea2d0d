// Command ctlfs is a container supervisor whose control interface is a
// FUSE file tree; see package ctlfs/fsys for the tree. Run "ctlfs help".
package main

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"
)

// Exit codes. The container commands follow docker run's convention, so
// that their own failures cannot be mistaken for a container's status.
const (
	exitOK    = 0
	exitError = 1
	exitUsage = 2
	// exitCLI is a failure of ctlfs itself: no tree, an unknown
	// container, a rejected write, or a usage error of a container
	// command.
	exitCLI = 125
	// exitNotFound is returned when the program of a command is not in
	// the rootfs. A program that cannot be executed makes the container
	// exit 126, which run passes on.
	exitNotFound = 127
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run executes the command line args and returns the exit code.
func run(args []string, stdout, stderr io.Writer) int {
	root := newRootCommand()
	root.SetOut(stdout)
	root.SetErr(stderr)
	// A nil slice would make cobra parse os.Args instead.
	root.SetArgs(append([]string{}, args...))
	cmd, err := root.ExecuteC()
	return exitCode(cmd, err, stderr)
}

// exitCode prints err and returns the exit code for it. A *statusError
// carries its code. Any other error is a usage error, which ends a
// container command with exitCLI and the other commands with exitUsage.
func exitCode(cmd *cobra.Command, err error, stderr io.Writer) int {
	if err == nil {
		return exitOK
	}
	var exit *statusError
	if errors.As(err, &exit) {
		if exit.err != nil {
			fmt.Fprintf(stderr, "ctlfs: %v\n", exit.err)
		}
		return exit.code
	}
	fmt.Fprintf(stderr, "%s: %v\nRun '%s --help' for usage.\n",
		cmd.CommandPath(), err, cmd.CommandPath())
	if isContainerCommand(cmd) {
		return exitCLI
	}
	return exitUsage
}

// statusError ends a command with an exit code, after printing err when it
// is not nil.
type statusError struct {
	code int
	err  error
}

func (e *statusError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit status %d", e.code)
	}
	return e.err.Error()
}

func (e *statusError) Unwrap() error { return e.err }

// cliError wraps err as a failure of ctlfs itself, exit code 125.
func cliError(err error) error {
	return &statusError{code: exitCLI, err: err}
}
