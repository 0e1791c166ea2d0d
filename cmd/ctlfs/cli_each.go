package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

// containerAction is the work of a command on one container of tree. On
// success it returns the line to print for the container, such as its
// name.
type containerAction func(tree *treeClient, name string) (string, error)

// eachContainer returns the RunE of a command that opens the tree at
// *mount and runs action on each named container in turn. As docker
// does, it prints the line of each success on stdout, reports each
// failure on stderr and goes on with the next name. The command fails
// with exit code 125 when action failed on any of them.
func eachContainer(mount *string, action containerAction) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, names []string) error {
		tree, err := openTree(*mount)
		if err != nil {
			return err
		}
		failed := false
		for _, name := range names {
			line, err := action(tree, name)
			if err != nil {
				fmt.Fprintf(cmd.ErrOrStderr(), "ctlfs: %v\n", err)
				failed = true
				continue
			}
			fmt.Fprintln(cmd.OutOrStdout(), line)
		}
		if failed {
			return &statusError{code: exitCLI}
		}
		return nil
	}
}

// ctlExisting writes command to the ctl file of container name, after
// checking that the container exists.
func (t *treeClient) ctlExisting(name, command string) error {
	if err := t.lookup(name); err != nil {
		return err
	}
	return t.ctl(name, command)
}
