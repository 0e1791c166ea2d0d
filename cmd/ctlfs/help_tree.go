package main

import (
	"github.com/spf13/cobra"

	"ctlfs/fsys"
)

// newTreeHelpTopic returns the help topic "tree": the manual of the file
// tree, the same text as "go doc ctlfs/fsys". A command without Run is a
// help topic for cobra, printed by "ctlfs help tree".
func newTreeHelpTopic() *cobra.Command {
	return &cobra.Command{
		Use:   "tree",
		Short: "The control file tree: every file, its format and its errors",
		Long:  fsys.Manual(),
	}
}
