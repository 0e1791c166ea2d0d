package main

import (
	"github.com/spf13/cobra"
)

func newPauseCommand() *cobra.Command {
	return newFreezeCommand("pause", "freeze", "Suspend every task of running containers",
		`Suspend every task of running containers, as
"echo freeze > MOUNT/NAME/ctl" does; their state reads frozen until
"ctlfs unpause". Their memory stays allocated.`)
}

func newUnpauseCommand() *cobra.Command {
	return newFreezeCommand("unpause", "thaw", "Resume the tasks of paused containers",
		`Resume every task of containers that "ctlfs pause" suspended, as
"echo thaw > MOUNT/NAME/ctl" does.`)
}

// newFreezeCommand returns a command that writes verb, freeze or thaw,
// to the ctl file of each container named.
func newFreezeCommand(use, verb, short, long string) *cobra.Command {
	cmd := &cobra.Command{
		Use:   use + " [flags] NAME...",
		Short: short,
		Long:  long,
		Args:  requireNames,
	}
	mount := containerCommand(cmd)
	cmd.RunE = eachContainer(mount, func(tree *treeClient, name string) (string, error) {
		return name, tree.ctlExisting(name, verb)
	})
	return cmd
}
