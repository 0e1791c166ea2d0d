package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"
)

func newPauseCommand() *cobra.Command {
	return newFreezeCommand("pause", true, "Suspend every task of running containers",
		`Suspend every task of running containers, as
"echo freeze > MOUNT/NAME/ctl" does; their state reads frozen until
"ctlfs unpause". Their memory stays allocated. A container that is
already paused is an error, as in docker pause.`)
}

func newUnpauseCommand() *cobra.Command {
	return newFreezeCommand("unpause", false, "Resume the tasks of paused containers",
		`Resume every task of containers that "ctlfs pause" suspended, as
"echo thaw > MOUNT/NAME/ctl" does. A container that is not paused is an
error, as in docker unpause.`)
}

// newFreezeCommand returns a command that pauses each container named,
// or with pause false resumes it.
func newFreezeCommand(use string, pause bool, short, long string) *cobra.Command {
	cmd := &cobra.Command{
		Use:   use + " [flags] NAME...",
		Short: short,
		Long:  long,
		Args:  requireNames,
	}
	mount := containerCommand(cmd)
	cmd.RunE = eachContainer(mount, func(tree *treeClient, name string) (string, error) {
		return name, tree.setPaused(name, pause)
	})
	return cmd
}

// setPaused writes freeze, or thaw when pause is false, to the ctl file
// of container name. The tree accepts freeze of a frozen container and
// thaw of a running one and changes nothing, so setPaused reads state
// first and rejects these itself. A container that is not running is
// left to the tree to reject.
func (t *treeClient) setPaused(name string, pause bool) error {
	if err := t.lookup(name); err != nil {
		return err
	}
	state, err := t.read(name, "state")
	if err != nil {
		return err
	}
	state = strings.TrimSpace(state)
	switch {
	case pause && state == "frozen":
		return cliError(fmt.Errorf("pause %s: container is already paused "+
			"(\"ctlfs unpause %s\" resumes it)", name, name))
	case !pause && state == "running":
		return cliError(fmt.Errorf("unpause %s: container is not paused", name))
	case pause:
		return t.ctl(name, "freeze")
	}
	return t.ctl(name, "thaw")
}
