// Command ctlfs is a container supervisor whose control interface is a
// FUSE file tree; see package ctlfs/fsys for the tree. Run "ctlfs help".
package main

import (
	"fmt"
	"io"
	"os"

	"ctlfs/runtime"
)

// Exit codes.
const (
	exitOK    = 0
	exitError = 1
	exitUsage = 2
)

const usage = `usage: ctlfs COMMAND [OPTIONS]

commands:
  serve       mount the control tree and supervise containers until
              SIGINT, SIGTERM or "echo shutdown > MOUNT/ctl"
  experiment  run the nice, cpu-io or memory experiment against a
              running supervisor's tree and write a report with plots
  help        print this text

Run "ctlfs COMMAND -h" for the options of a command.
`

func main() {
	// The supervisor re-executes this binary as each container's init.
	// Dispatch before anything else, so that the init starts cheaply.
	if len(os.Args) > 1 && os.Args[1] == runtime.InitArg {
		runtime.RunInit()
	}
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run executes the command line args and returns the exit code.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	switch args[0] {
	case "serve":
		return serve(args[1:], stderr)
	case "experiment":
		return runExperiment(args[1:], stdout, stderr)
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return exitOK
	}
	fmt.Fprintf(stderr, "ctlfs: unknown command %q\n\n%s", args[0], usage)
	return exitUsage
}
