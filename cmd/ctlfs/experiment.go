package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"

	"ctlfs/experiment"
)

// runExperiment runs the experiment command and returns the exit code.
// The name comes first, so that "ctlfs experiment nice --out DIR" reads
// as a sentence.
func runExperiment(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		if len(args) > 0 && isHelp(args[0]) {
			fmt.Fprint(stdout, experiment.Usage)
			return exitOK
		}
		fmt.Fprintf(stderr, "ctlfs experiment: missing experiment name (%s)\n\n%s",
			strings.Join(experiment.Names(), ", "), experiment.Usage)
		return exitUsage
	}
	name := args[0]
	if !slices.Contains(experiment.Names(), name) {
		fmt.Fprintf(stderr, "ctlfs experiment: unknown experiment %q (%s)\n",
			name, strings.Join(experiment.Names(), ", "))
		return exitUsage
	}
	opts := experiment.DefaultOptions()
	flags := flag.NewFlagSet("experiment "+name, flag.ContinueOnError)
	flags.SetOutput(stderr)
	flags.Usage = func() {
		fmt.Fprint(stderr, experiment.Usage+"\noptions:\n")
		flags.PrintDefaults()
	}
	experiment.RegisterFlags(flags, &opts)
	if err := flags.Parse(args[1:]); errors.Is(err, flag.ErrHelp) {
		return exitOK
	} else if err != nil {
		return exitUsage
	}
	if flags.NArg() > 0 {
		fmt.Fprintf(stderr, "ctlfs experiment: unexpected argument %q\n", flags.Arg(0))
		return exitUsage
	}

	// Ctrl-C ends the experiment, which then removes its containers.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := experiment.Run(ctx, name, opts, stdout); err != nil {
		fmt.Fprintf(stderr, "ctlfs experiment %s: %v\n", name, err)
		return exitError
	}
	return exitOK
}

func isHelp(arg string) bool {
	return arg == "-h" || arg == "-help" || arg == "--help"
}
