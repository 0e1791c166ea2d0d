package main

import (
	"github.com/spf13/cobra"
)

const killLong = `Send a signal to running containers: SIGKILL, the default, goes to every
task of the container, and any other signal to its init, which passes it
on to the command. The same as "echo 'kill SIGNAL' > MOUNT/NAME/ctl". Kill
prints the name of each container signalled and does not wait for it to
exit ("ctlfs wait" does).`

func newKillCommand() *cobra.Command {
	var signal string
	cmd := &cobra.Command{
		Use:   "kill [flags] NAME...",
		Short: "Send a signal to running containers",
		Long:  killLong,
		Args:  requireNames,
	}
	mount := containerCommand(cmd)
	cmd.Flags().StringVarP(&signal, "signal", "s", "KILL",
		"`SIGNAL` to send: a name with or without SIG, in any case, or a number\n"+
			"from 1 to 64")
	cmd.RunE = eachContainer(mount, func(tree *treeClient, name string) (string, error) {
		return name, tree.ctlExisting(name, "kill "+signal)
	})
	return cmd
}
