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
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		tree, err := openTree(*mount)
		if err != nil {
			return err
		}
		return forEachContainer(cmd, args, func(name string) error {
			if err := tree.lookup(name); err != nil {
				return err
			}
			return tree.ctl(name, verb)
		})
	}
	return cmd
}
