package main

import (
	"errors"
	"syscall"

	"github.com/spf13/cobra"
)

const rmLong = `Remove containers that are not running, with their logs, as
"rmdir MOUNT/NAME" does. With -f, kill a running container first
(echo kill > MOUNT/NAME/ctl) and wait for it to exit.`

func newRmCommand() *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:   "rm [flags] NAME...",
		Short: "Remove containers",
		Long:  rmLong,
		Args:  requireNames,
	}
	mount := containerCommand(cmd)
	cmd.Flags().BoolVarP(&force, "force", "f", false,
		"kill a running container with SIGKILL before removing it")
	cmd.RunE = eachContainer(mount, func(tree *treeClient, name string) (string, error) {
		return name, tree.rm(name, force)
	})
	return cmd
}

// rm removes container name. With force, it kills the container first
// and waits for it to exit.
func (t *treeClient) rm(name string, force bool) error {
	if err := t.lookup(name); err != nil {
		return err
	}
	if force {
		err := t.ctl(name, "kill")
		if err != nil && !errors.Is(err, syscall.ESRCH) {
			return err
		}
		if _, err := t.waitExit(name); err != nil {
			return err
		}
	}
	return t.remove(name)
}
