package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"ctlfs/runtime"
)

// runOptions are the flags of run.
type runOptions struct {
	mount    *string
	rootfs   string
	env      []string
	net      string
	soft     string
	hard     string
	pids     string
	cpus     string
	nice     int
	detach   bool
	remove   bool
	sigProxy bool
}

const runLong = `Create container NAME and start CMD in it, as these steps on the tree do:

  mkdir MOUNT/NAME
  echo DIR > NAME/rootfs; cat > NAME/env; echo none|host > NAME/net
  echo 'soft=SIZE hard=SIZE pids=N cpus=LIST' > NAME/limits
  echo 'nice N' > NAME/ctl
  echo 'CMD ARGS...' > NAME/cmd          (this starts it)

CMD and its arguments come after "--" and are written to cmd quoted, so
that the container gets exactly these words; nothing is expanded. Without
-d, run copies the container's log (stdout and stderr together) to
stdout until the container exits, and then exits with its exit code.
SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1 and SIGUSR2 sent to run are
passed on to the container (ctl "kill SIGNAL") unless --sig-proxy=false;
run goes on copying the log until the container exits.

When CMD is not in the rootfs, run exits 127 and the container stays in
state created. When CMD cannot be executed, the container exits 126 and
run with it. In both cases, as after any other exit of CMD, the
container is kept until "ctlfs rm NAME", unless --rm removes it. When a
setting is rejected, run prints the tree's reason, removes the container
and exits 125.`

const runExample = `  ctlfs run hello -- /bin/echo hello world
  ctlfs run -d --hard 64M --nice 5 hog -- cpu_hog 20
  ctlfs run --rm -e GREETING=hi greet -- sh -c 'echo $GREETING from $HOSTNAME'`

func newRunCommand() *cobra.Command {
	var opts runOptions
	cmd := &cobra.Command{
		Use:     "run [flags] NAME -- CMD [ARG...]",
		Short:   "Create and start a container",
		Long:    runLong,
		Example: runExample,
		Args:    runArgs,
		// NAME is new, and the command is looked up in the rootfs.
		ValidArgsFunction: cobra.NoFileCompletions,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runContainer(cmd, opts, args[0], args[1:])
		},
	}
	opts.mount = containerCommand(cmd)

	flags := cmd.Flags()
	flags.StringVar(&opts.rootfs, "rootfs", "",
		"root file system directory `DIR`, written to rootfs; a relative path is\n"+
			"taken from the current directory (default: the supervisor's --rootfs)")
	flags.StringArrayVarP(&opts.env, "env", "e", nil,
		"environment variable `NAME=VALUE` of the command, written to env; repeat\n"+
			"it for more, and give NAME alone to copy its value from this environment")
	flags.StringVar(&opts.net, "net", "",
		"network `MODE`, written to net: none (its own namespace with loopback\n"+
			"only) or host (default none)")
	flags.StringVar(&opts.soft, "soft", "",
		"soft memory limit, written to limits: a soft-limit event when the RSS\n"+
			"rises above `SIZE`, in bytes or with K, M, G or T (powers of 1024)")
	flags.StringVar(&opts.hard, "hard", "",
		"hard memory limit, written to limits: the container is killed when its\n"+
			"RSS rises above `SIZE`, in bytes or with K, M, G or T (powers of 1024)")
	flags.StringVar(&opts.pids, "pids", "",
		"maximum number `N` of tasks, threads included, written to limits\n"+
			"(default 1024)")
	flags.StringVar(&opts.cpus, "cpus", "",
		"CPUs that the tasks may run on, written to limits: a `LIST` of CPU numbers\n"+
			"such as 0-1,3, as docker's --cpuset-cpus takes (default all)")
	flags.IntVar(&opts.nice, "nice", 0,
		"nice value `N` of every task, from -20 (most CPU) to 19 (least),\n"+
			"written to ctl as \"nice N\" (default 0)")

	flags.BoolVarP(&opts.detach, "detach", "d", false,
		"print the container's name and return once it has started")
	flags.BoolVar(&opts.remove, "rm", false,
		"remove the container when it exits, or when CMD is not found\n"+
			"(not with -d)")
	flags.BoolVar(&opts.sigProxy, "sig-proxy", true,
		"pass the signals that run receives on to the container (not with -d)")
	return cmd
}

// runArgs accepts NAME, then "--" and the command.
func runArgs(cmd *cobra.Command, args []string) error {
	dash := cmd.ArgsLenAtDash()
	switch {
	case len(args) == 0:
		return errors.New("missing container NAME")
	case dash < 0:
		return fmt.Errorf("missing \"--\" before the command, as in "+
			"\"ctlfs run %s -- CMD [ARG...]\"", args[0])
	case dash != 1:
		return fmt.Errorf("expected one container NAME before \"--\", got %d", dash)
	case len(args) == 1:
		return errors.New("missing the command after \"--\"")
	}
	return nil
}

// runContainer creates container name, starts command in it and, unless
// detached, follows it to its end.
func runContainer(cmd *cobra.Command, opts runOptions, name string, command []string) error {
	if opts.detach && opts.remove {
		return errors.New("--rm and -d exclude each other: a detached container " +
			"outlives run, so nothing would remove it")
	}
	tree, err := openTree(*opts.mount)
	if err != nil {
		return err
	}
	settings, err := opts.settings(cmd)
	if err != nil {
		return err
	}

	if err := tree.create(name); err != nil {
		return err
	}
	if err := tree.start(name, settings, command); err != nil {
		// A command that is not found is the command's failure, as one
		// that cannot be executed is, so the container stays unless
		// --rm, as docker run keeps it. Any other failure is ctlfs's
		// own, so leave no half-made container behind.
		var exit *statusError
		notFound := errors.As(err, &exit) && exit.code == exitNotFound
		if !notFound || opts.remove {
			if rmErr := tree.remove(name); rmErr != nil {
				fmt.Fprintf(cmd.ErrOrStderr(), "ctlfs: %v\n", rmErr)
			}
		}
		return err
	}

	if opts.detach {
		return detached(cmd, tree, name)
	}

	code, err := tree.attach(name, cmd.OutOrStdout(), opts.sigProxy, cmd.ErrOrStderr())
	if err != nil {
		return err
	}
	if opts.remove {
		if err := tree.remove(name); err != nil {
			fmt.Fprintf(cmd.ErrOrStderr(), "ctlfs: %v\n", err)
		}
	}
	if code != exitOK {
		return &statusError{code: code}
	}
	return nil
}

// setting is a value to write to a file of a container before its start.
type setting struct {
	file, value string
}

// settings returns the writes that the flags ask for, in the order in
// which run makes them.
func (opts runOptions) settings(cmd *cobra.Command) ([]setting, error) {
	var list []setting
	if opts.rootfs != "" {
		dir, err := filepath.Abs(opts.rootfs)
		if err != nil {
			return nil, cliError(fmt.Errorf("resolve --rootfs %s: %w", opts.rootfs, err))
		}
		list = append(list, setting{"rootfs", dir})
	}
	if len(opts.env) > 0 {
		list = append(list, setting{"env", envLines(opts.env)})
	}
	if opts.net != "" {
		list = append(list, setting{"net", opts.net})
	}
	var limits []string
	for _, kv := range [][2]string{{"soft", opts.soft}, {"hard", opts.hard},
		{"pids", opts.pids}, {"cpus", opts.cpus}} {
		if kv[1] != "" {
			limits = append(limits, kv[0]+"="+kv[1])
		}
	}
	if len(limits) > 0 {
		list = append(list, setting{"limits", strings.Join(limits, " ")})
	}
	if cmd.Flags().Changed("nice") {
		list = append(list, setting{"ctl", "nice " + strconv.Itoa(opts.nice)})
	}
	return list, nil
}

// envLines returns the -e values as the lines of an env file. A NAME
// without "=" takes its value from this process's environment, and is
// left out when it has none there, as docker run -e does.
func envLines(vars []string) string {
	var lines []string
	for _, v := range vars {
		if !strings.Contains(v, "=") {
			value, ok := os.LookupEnv(v)
			if !ok {
				continue
			}
			v += "=" + value
		}
		lines = append(lines, v)
	}
	return strings.Join(lines, "\n") + "\n"
}

// start applies settings to container name and then writes its command,
// which starts it. A program that is not in the rootfs, which the tree's
// reason names as "program", ends run with exit code 127.
func (t *treeClient) start(name string, settings []setting, command []string) error {
	for _, s := range settings {
		if err := t.write(name, s.file, s.value); err != nil {
			return err
		}
	}
	err := t.write(name, "cmd", runtime.QuoteCommand(command))
	var reject *rejectError
	if errors.As(err, &reject) && reject.errno == syscall.ENOENT && strings.Contains(reject.reason, "program ") {
		return &statusError{code: exitNotFound, err: reject}
	}
	// Any other ENOENT, such as a missing default rootfs, is a failure
	// of ctlfs's set-up, not of the command: exit 125.
	return err
}

// attach copies the log of container name to w until the container
// exits and returns its exit code. With sigProxy, the signals that
// proxySignals lists are passed on to the container meanwhile.
func (t *treeClient) attach(name string, w io.Writer, sigProxy bool, stderr io.Writer) (int, error) {
	log, err := t.open(name, "log")
	if err != nil {
		return 0, err
	}
	defer log.Close()

	if sigProxy {
		signals := make(chan os.Signal, 8)
		signal.Notify(signals, proxySignals...)
		go t.forwardSignals(name, signals, stderr)
		defer func() {
			// No signal arrives on the channel once Stop has returned.
			signal.Stop(signals)
			close(signals)
		}()
	}

	type result struct {
		state string
		err   error
	}
	exited := make(chan struct{})
	waited := make(chan result, 1)
	go func() {
		state, err := t.waitExit(name)
		waited <- result{state, err}
		close(exited)
	}()
	if err := t.follow(name, log, w, exited); err != nil {
		return 0, err
	}
	r := <-waited
	if r.err != nil {
		return 0, r.err
	}
	return exitStatus(name, r.state)
}

// proxySignals are the signals that run passes on to its container.
var proxySignals = []os.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP,
	syscall.SIGQUIT, syscall.SIGUSR1, syscall.SIGUSR2}

// forwardSignals sends each signal from signals to container name until
// signals is closed. A container that has exited meanwhile
// is not an error.
func (t *treeClient) forwardSignals(name string, signals <-chan os.Signal, stderr io.Writer) {
	for sig := range signals {
		sysSig, ok := sig.(syscall.Signal)
		if !ok {
			continue
		}
		err := t.ctl(name, "kill "+runtime.SignalName(sysSig))
		if err != nil && !errors.Is(err, syscall.ESRCH) {
			fmt.Fprintf(stderr, "ctlfs: %v\n", err)
		}
	}
}

// detached ends a run -d: it prints the container's name, or fails with
// the exit code of a command that could not be executed. The write of cmd
// returns once the command runs or its container has exited for that.
func detached(cmd *cobra.Command, tree *treeClient, name string) error {
	state, err := tree.read(name, "state")
	if err != nil {
		return err
	}
	state = strings.TrimSpace(state)
	if strings.Contains(state, "reason=start-failed") {
		code, err := exitStatus(name, state)
		if err != nil {
			return err
		}
		// The init writes the reason as the last line of the log.
		reason := ""
		if log, err := tree.read(name, "log"); err == nil && strings.TrimSpace(log) != "" {
			lines := strings.Split(strings.TrimSpace(log), "\n")
			reason = ": " + strings.TrimPrefix(lines[len(lines)-1], "ctlfs-init: ")
		}
		return &statusError{code: code, err: fmt.Errorf("%s: %s%s", name, state, reason)}
	}
	fmt.Fprintln(cmd.OutOrStdout(), name)
	return nil
}
