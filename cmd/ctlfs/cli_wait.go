package main

import (
	"strconv"

	"github.com/spf13/cobra"
)

const waitLong = `Wait until each container has exited and print its exit code, one line
per container, as docker wait does. "cat MOUNT/NAME/wait" blocks the same
way and prints the whole state, such as "exited 143 signal=TERM
reason=stop". A container that was never started is an error.`

func newWaitCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "wait [flags] NAME...",
		Short: "Wait for containers to exit and print their exit codes",
		Long:  waitLong,
		Args:  requireNames,
	}
	mount := containerCommand(cmd)
	cmd.RunE = eachContainer(mount, func(tree *treeClient, name string) (string, error) {
		code, err := tree.wait(name)
		return strconv.Itoa(code), err
	})
	return cmd
}

// wait blocks until container name is not running and returns its exit
// code.
func (t *treeClient) wait(name string) (int, error) {
	if err := t.lookup(name); err != nil {
		return 0, err
	}
	state, err := t.waitExit(name)
	if err != nil {
		return 0, err
	}
	return exitStatus(name, state)
}
