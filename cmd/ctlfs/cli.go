package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"
)

// defaultMountDir is the mount point of the tree for serve and for the
// client commands, unless --mount or $CTLFS_MOUNT sets another.
const defaultMountDir = "/mnt/ctl"

// mountEnv names the environment variable that overrides defaultMountDir.
const mountEnv = "CTLFS_MOUNT"

// mountUsage is the help of the --mount flag of the client commands.
const mountUsage = "mount point `DIR` of the supervisor's control tree;\n$" +
	mountEnv + " sets the default"

const rootLong = `ctlfs runs Linux containers and is controlled only through a FUSE file
tree: every container is a directory, every setting a file, and every
action a line of text written to a file. "ctlfs serve" mounts the tree
(at /mnt/ctl unless --mount or $CTLFS_MOUNT says otherwise) and supervises
the containers. The container commands do nothing but the file operations
that a shell would do on that tree (mkdir, echo > FILE, cat, rmdir), so
everything they do can be scripted with those as well. "ctlfs help tree"
documents the tree.

The container commands exit as docker's do: 125 when ctlfs itself fails
(no supervisor, an unknown container, a rejected setting, a usage error),
126 when the container's command cannot be executed, 127 when it is not
found, and otherwise with the container's own exit code. serve, experiment
and an unknown command exit 2 on a usage error and 1 on any other failure.`

// Command groups of the help text.
const (
	groupContainers = "containers"
	groupSupervisor = "supervisor"
)

// containerAnnotation marks the container commands, whose usage errors
// exit with exitCLI.
const containerAnnotation = "ctlfs-container-command"

func newRootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:           "ctlfs",
		Short:         "A container supervisor controlled through a FUSE file tree",
		Long:          rootLong,
		SilenceErrors: true,
		SilenceUsage:  true,
		// Without a command, the help goes to stderr and ctlfs exits 2.
		// Cobra rejects unknown commands before RunE.
		RunE: func(cmd *cobra.Command, args []string) error {
			cmd.SetOut(cmd.ErrOrStderr())
			cmd.Help()
			return &statusError{code: exitUsage}
		},
	}
	root.AddGroup(
		&cobra.Group{ID: groupContainers, Title: "Container commands:"},
		&cobra.Group{ID: groupSupervisor, Title: "Supervisor commands:"},
	)
	root.AddCommand(
		newServeCommand(), newExperimentCommand(),
		newRunCommand(), newPsCommand(), newLogsCommand(),
		newStopCommand(), newKillCommand(), newRmCommand(),
		newPauseCommand(), newUnpauseCommand(), newWaitCommand(),
		newStatsCommand(), newEventsCommand(), newTreeHelpTopic(),
	)
	return root
}

// defaultMount returns the mount point to use when --mount is not given.
func defaultMount() string {
	if dir := os.Getenv(mountEnv); dir != "" {
		return dir
	}
	return defaultMountDir
}

// containerCommand gives cmd what every container command has: its
// place in the help, docker's exit codes, --mount and the completion of
// container names. It returns where the value of --mount goes.
func containerCommand(cmd *cobra.Command) *string {
	cmd.GroupID = groupContainers
	cmd.Annotations = map[string]string{containerAnnotation: "true"}
	if cmd.ValidArgsFunction == nil && cmd.ValidArgs == nil {
		cmd.ValidArgsFunction = completeContainerNames
	}
	mount := new(string)
	cmd.Flags().StringVar(mount, "mount", defaultMount(), mountUsage)
	return mount
}

func isContainerCommand(cmd *cobra.Command) bool {
	return cmd.Annotations[containerAnnotation] != ""
}

// completeContainerNames completes a container name from the tree.
func completeContainerNames(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
	mount, _ := cmd.Flags().GetString("mount")
	entries, err := os.ReadDir(mount)
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	var names []string
	for _, e := range entries {
		if e.IsDir() {
			names = append(names, e.Name())
		}
	}
	return names, cobra.ShellCompDirectiveNoFileComp
}

// requireNames accepts one or more container names.
func requireNames(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return errors.New("missing container NAME")
	}
	return nil
}

// requireName accepts exactly one container name.
func requireName(cmd *cobra.Command, args []string) error {
	if err := requireNames(cmd, args); err != nil {
		return err
	}
	if len(args) > 1 {
		return fmt.Errorf("unexpected argument %q after the container name", args[1])
	}
	return nil
}

// noArgs accepts no positional argument.
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return fmt.Errorf("unexpected argument %q", args[0])
	}
	return nil
}
