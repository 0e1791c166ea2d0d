package main

import (
	"errors"
	"fmt"
	"strconv"
	"syscall"

	"github.com/spf13/cobra"
)

const stopLong = `Stop containers: send SIGTERM to each container's init, which passes it
on to the command, and SIGKILL to all of its tasks when it has not exited
after the grace time. Stop returns once the container has exited, and
prints its name. The same as:

  echo 'stop [SECONDS]' > MOUNT/NAME/ctl; cat MOUNT/NAME/wait

A container that is not running is left as it is and counts as stopped.`

func newStopCommand() *cobra.Command {
	var seconds float64
	cmd := &cobra.Command{
		Use:   "stop [flags] NAME...",
		Short: "Stop running containers",
		Long:  stopLong,
		Args:  requireNames,
	}
	mount := containerCommand(cmd)
	cmd.Flags().Float64VarP(&seconds, "time", "t", 0,
		"grace time in `SECONDS` between SIGTERM and SIGKILL, a decimal number\n"+
			"such as 5 or 0.5 (default: the supervisor's --grace)")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		command := "stop"
		if cmd.Flags().Changed("time") {
			if seconds < 0 {
				return fmt.Errorf("invalid --time %v: must be 0 or more seconds", seconds)
			}
			command += " " + strconv.FormatFloat(seconds, 'f', -1, 64)
		}
		stopEach := eachContainer(mount, func(tree *treeClient, name string) (string, error) {
			return name, tree.stop(name, command)
		})
		return stopEach(cmd, args)
	}
	return cmd
}

// stop writes command, a stop, to the ctl file of container name and
// waits for the container to exit.
func (t *treeClient) stop(name, command string) error {
	if err := t.lookup(name); err != nil {
		return err
	}
	err := t.ctl(name, command)
	if err != nil && !errors.Is(err, syscall.ESRCH) {
		return err
	}
	_, err = t.waitExit(name)
	return err
}
