package main

import (
	"github.com/spf13/cobra"
)

const logsLong = `Print the log of a container: its stdout and stderr, in the order in
which it wrote them, as "cat MOUNT/NAME/log" does. With -f, follow the log
until the container is no longer running, as "tail -f" and a read of
NAME/wait would.`

func newLogsCommand() *cobra.Command {
	var follow bool
	cmd := &cobra.Command{
		Use:   "logs [flags] NAME",
		Short: "Print the output of a container",
		Long:  logsLong,
		Args:  requireName,
	}
	mount := containerCommand(cmd)
	cmd.Flags().BoolVarP(&follow, "follow", "f", false,
		"go on printing what the container writes until it exits")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		tree, err := openTree(*mount)
		if err != nil {
			return err
		}
		return tree.logs(cmd, args[0], follow)
	}
	return cmd
}

// logs copies the log of container name to the command's output. With
// follow, it copies what the container writes until it exits.
func (t *treeClient) logs(cmd *cobra.Command, name string, follow bool) error {
	if err := t.lookup(name); err != nil {
		return err
	}
	log, err := t.open(name, "log")
	if err != nil {
		return err
	}
	defer log.Close()

	exited := make(chan struct{})
	waitErr := make(chan error, 1)
	if follow {
		go func() {
			_, err := t.waitExit(name)
			waitErr <- err
			close(exited)
		}()
	} else {
		waitErr <- nil
		close(exited)
	}
	if err := t.follow(name, log, cmd.OutOrStdout(), exited); err != nil {
		return err
	}
	return <-waitErr
}
