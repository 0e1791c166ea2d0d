package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"ctlfs/experiment"
)

// newExperimentCommand returns the experiment command. The name comes
// first, so that "ctlfs experiment nice --out DIR" reads as a sentence.
func newExperimentCommand() *cobra.Command {
	opts := experiment.DefaultOptions()
	opts.Mount = defaultMount()
	cmd := &cobra.Command{
		Use:       "experiment NAME [flags]",
		Short:     "Run the nice, cpu-io or memory experiment against a running supervisor's tree",
		GroupID:   groupSupervisor,
		Args:      experimentArgs,
		ValidArgs: experiment.Names(),
		RunE: func(cmd *cobra.Command, args []string) error {
			// Ctrl-C ends the experiment, which then removes its containers.
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			name := args[0]
			if err := experiment.Run(ctx, name, opts, cmd.OutOrStdout()); err != nil {
				return &statusError{code: exitError, err: fmt.Errorf("experiment %s: %w", name, err)}
			}
			return nil
		},
	}
	// The experiments define their options with the standard flag package.
	goFlags := flag.NewFlagSet("experiment", flag.ContinueOnError)
	experiment.RegisterFlags(goFlags, &opts)
	cmd.Flags().AddGoFlagSet(goFlags)
	cmd.Flags().Lookup("mount").Usage = mountUsage
	cmd.SetHelpFunc(func(cmd *cobra.Command, args []string) {
		fmt.Fprintf(cmd.OutOrStdout(), "%s\nFlags:\n%s", experiment.Usage, cmd.Flags().FlagUsages())
	})
	return cmd
}

// experimentArgs accepts the name of one experiment.
func experimentArgs(cmd *cobra.Command, args []string) error {
	names := strings.Join(experiment.Names(), ", ")
	switch {
	case len(args) == 0:
		return fmt.Errorf("missing experiment name (%s)", names)
	case !slices.Contains(experiment.Names(), args[0]):
		return fmt.Errorf("unknown experiment %q (%s)", args[0], names)
	case len(args) > 1:
		return fmt.Errorf("unexpected argument %q", args[1])
	}
	return nil
}
