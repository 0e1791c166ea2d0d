package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fuse"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"ctlfs/fsys"
	"ctlfs/monitor"
	"ctlfs/runtime"
)

// installedRootfs is the path of the default rootfs that make install
// put in place. The install target sets it with the linker's -X flag.
var installedRootfs string

// serveConfig is the parsed command line of serve.
type serveConfig struct {
	mount    string
	stateDir string
	rootfs   string
	grace    time.Duration
	monitor  string
	poll     time.Duration
	logMax   string
	cgroup   string
	prestart int
	debug    bool
}

const serveLong = `Mount the control tree on the mount point and supervise the containers
made in it. On SIGINT, SIGTERM or "echo shutdown > MOUNT/ctl" it stops
every container (SIGTERM, then SIGKILL after the grace time), unmounts the
tree and exits 0. A second signal during the shutdown kills the
containers at once and exits 1.`

func newServeCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "serve [flags]",
		Short:   "Mount the control tree and supervise containers",
		Long:    serveLong,
		GroupID: groupSupervisor,
		Args:    noArgs,
	}
	cfg := addServeFlags(cmd.Flags())
	cmd.ValidArgsFunction = cobra.NoFileCompletions
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if err := cfg.complete(); err != nil {
			return err
		}
		log := newLogger(cmd.ErrOrStderr(), cfg.debug)
		if err := runServe(*cfg, log); err != nil {
			log.Error("serve", "err", err)
			return &statusError{code: exitError}
		}
		return nil
	}
	return cmd
}

// addServeFlags defines the flags of serve in flags and returns the
// configuration that parsing them fills in.
func addServeFlags(flags *pflag.FlagSet) *serveConfig {
	cfg := new(serveConfig)
	flags.StringVar(&cfg.mount, "mount", defaultMount(),
		"directory `DIR` to mount the control tree on, created when missing;\n"+
			"$"+mountEnv+" sets the default")
	flags.StringVar(&cfg.stateDir, "state-dir", "/var/lib/ctlfs",
		"directory `DIR` for container logs (logs/NAME.log) and metadata")
	flags.StringVar(&cfg.rootfs, "rootfs", "",
		"default root filesystem directory `DIR` for containers whose rootfs file\n"+
			"was not written (default $CTLFS_ROOTFS, else the rootfs that make\n"+
			"install installed, else STATE_DIR/rootfs)")
	flags.DurationVar(&cfg.grace, "grace", runtime.DefaultGrace,
		"grace time, a `DURATION` such as 5s, between SIGTERM and SIGKILL when\n"+
			"stopping a container")
	flags.StringVar(&cfg.monitor, "monitor", "auto",
		"memory monitor `KIND`: ebpf, proc (poll /proc), or auto (ebpf, else proc)")
	flags.DurationVar(&cfg.poll, "poll", monitor.DefaultInterval,
		"interval `DURATION` of the /proc memory monitor, when it is used, such as\n"+
			"10ms")
	flags.StringVar(&cfg.logMax, "log-max", "64M",
		"cap on each container's log on disk, a `SIZE` such as 64M or 1G: the\n"+
			"log rotates once to NAME.log.1 and keeps about the last SIZE bytes;\n"+
			"max for no cap")
	flags.StringVar(&cfg.cgroup, "cgroup-parent", "ctlfs",
		"cgroup v2 directory `DIR`, relative to the cgroup v2 mount, below which the\n"+
			"supervisor puts the containers' cgroups; self for the cgroup it runs\n"+
			"in, delegated to it by systemd (Delegate=yes)")
	flags.IntVar(&cfg.prestart, "prestart", 2,
		"number `N` of container inits kept started ahead of time, from the\n"+
			"first mkdir on, each in new namespaces, for containers whose net is\n"+
			"none; 0 starts every init when its cmd is written")
	flags.BoolVar(&cfg.debug, "debug", false,
		"log at debug level, including every FUSE request")
	return cfg
}

// parseServeFlags parses the flags of serve in args and completes the
// configuration, as the serve command does before it starts.
func parseServeFlags(args []string, stderr io.Writer) (serveConfig, error) {
	flags := pflag.NewFlagSet("serve", pflag.ContinueOnError)
	flags.SetOutput(stderr)
	cfg := addServeFlags(flags)
	if err := flags.Parse(args); err != nil {
		return *cfg, err
	}
	if err := noArgs(nil, flags.Args()); err != nil {
		return *cfg, err
	}
	return *cfg, cfg.complete()
}

// complete checks the options and fills in the default rootfs.
func (cfg *serveConfig) complete() error {
	switch cfg.monitor {
	case "ebpf", "proc", "auto":
	default:
		return fmt.Errorf("invalid --monitor %q, expected ebpf, proc or auto", cfg.monitor)
	}
	if _, err := parseLogMax(cfg.logMax); err != nil {
		return err
	}
	if cfg.poll <= 0 {
		return fmt.Errorf("invalid --poll %s, expected a positive duration", cfg.poll)
	}
	if cfg.prestart < 0 {
		return fmt.Errorf("invalid --prestart %d, expected 0 or more", cfg.prestart)
	}
	if cfg.grace <= 0 {
		return fmt.Errorf("invalid --grace %s, expected a positive duration", cfg.grace)
	}
	if cfg.rootfs == "" {
		cfg.rootfs = os.Getenv("CTLFS_ROOTFS")
	}
	if cfg.rootfs == "" {
		cfg.rootfs = installedRootfs
	}
	if cfg.rootfs == "" {
		cfg.rootfs = filepath.Join(cfg.stateDir, "rootfs")
	}
	// Containers need an absolute path; the Makefile passes a relative one.
	rootfs, err := filepath.Abs(cfg.rootfs)
	if err != nil {
		return fmt.Errorf("resolve --rootfs %s: %w", cfg.rootfs, err)
	}
	cfg.rootfs = rootfs
	return nil
}

func newLogger(w io.Writer, debug bool) *slog.Logger {
	level := slog.LevelInfo
	if debug {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
}

// runServe mounts the tree, serves until a shutdown is requested, then
// stops the containers and unmounts. The mount point is checked before
// the supervisor starts, because a new supervisor removes the cgroups of
// containers that a live one could still own.
func runServe(cfg serveConfig, log *slog.Logger) error {
	created, err := prepareMountPoint(cfg.mount, log)
	if err != nil {
		return err
	}
	// A serve that fails to start leaves no mount point it created.
	removeCreated := func() {
		if created {
			os.Remove(cfg.mount)
		}
	}
	if _, err := os.Stat(cfg.rootfs); err != nil {
		log.Warn("default rootfs missing: containers need a rootfs file", "rootfs", cfg.rootfs, "err", err)
	}
	sup, err := newSupervisor(cfg, log)
	if err != nil {
		removeCreated()
		return err
	}
	server, err := fsys.Mount(cfg.mount, sup, fsys.Options{Logger: log, Debug: cfg.debug})
	if err != nil {
		shutdown(sup, cfg.grace, log)
		removeCreated()
		return err
	}
	log.Info("serving", "mount", cfg.mount, "state_dir", cfg.stateDir,
		"rootfs", cfg.rootfs, "monitor", sup.MonitorStatus())
	if err := notifyReady(); err != nil {
		log.Warn("tell the service manager that the tree is ready", "err", err)
	}
	return waitAndShutdown(cfg, sup, server, log)
}

// newSupervisor starts the memory monitor that --monitor selects and a
// supervisor that uses it.
func newSupervisor(cfg serveConfig, log *slog.Logger) (*runtime.Supervisor, error) {
	kind := cfg.monitor
	if kind == "auto" {
		kind = "" // eBPF, else /proc polling
	}
	logMax, _ := parseLogMax(cfg.logMax) // checked by complete
	mon, err := monitor.New(kind, cfg.poll)
	if err != nil {
		return nil, fmt.Errorf("start %s memory monitor: %w", cfg.monitor, err)
	}
	sup, err := runtime.New(runtime.Config{
		StateDir:      cfg.stateDir,
		DefaultRootfs: cfg.rootfs,
		Grace:         cfg.grace,
		LogMax:        logMaxConfig(logMax),
		Prestart:      cfg.prestart,
		Monitor:       mon,
		CgroupParent:  cgroupParentConfig(cfg.cgroup),
		Logger:        log,
	})
	if err != nil {
		mon.Close()
		return nil, fmt.Errorf("start supervisor: %w", err)
	}
	return sup, nil
}

// cgroupParentConfig converts --cgroup-parent to runtime.Config's
// CgroupParent, in which empty means the default.
func cgroupParentConfig(parent string) string {
	if parent == "ctlfs" {
		return ""
	}
	return parent
}

// parseLogMax parses --log-max into bytes, 0 for no cap. The cap must
// leave room for two 64 KiB chunks of output, one per file.
func parseLogMax(text string) (uint64, error) {
	size, err := runtime.ParseSize(text)
	if err != nil {
		return 0, fmt.Errorf("invalid --log-max: %w", err)
	}
	if size == runtime.Unlimited {
		return 0, nil
	}
	if size < 128<<10 {
		return 0, fmt.Errorf("invalid --log-max %s: must be at least 128K, or max", text)
	}
	return size, nil
}

// logMaxConfig converts a --log-max in bytes, 0 for no cap, to
// runtime.Config.LogMax, in which 0 is the default and negative no cap.
func logMaxConfig(bytes uint64) int64 {
	if bytes == 0 {
		return -1
	}
	return int64(bytes)
}

// prepareMountPoint detaches a mount left by a supervisor that died and
// creates the mount point when it is missing. It reports whether it
// created the mount point itself.
func prepareMountPoint(dir string, log *slog.Logger) (bool, error) {
	if err := fsys.CleanStaleMount(dir, log); err != nil {
		return false, err
	}
	if _, err := os.Lstat(dir); err == nil {
		return false, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return false, fmt.Errorf("create mount point: %w", err)
	}
	return true, nil
}

// waitAndShutdown waits for SIGINT, SIGTERM, a shutdown written to ctl,
// or the tree being unmounted by someone else, and then shuts down.
func waitAndShutdown(cfg serveConfig, sup *runtime.Supervisor, server *fuse.Server, log *slog.Logger) error {
	signals := make(chan os.Signal, 2)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM)
	unmounted := make(chan struct{})
	go func() {
		server.Wait()
		close(unmounted)
	}()

	select {
	case sig := <-signals:
		log.Info("shutting down", "signal", sig.String())
	case <-sup.ShutdownRequested():
		log.Info("shutting down", "request", "ctl")
	case <-unmounted:
		log.Warn("tree unmounted from outside, shutting down", "mount", cfg.mount)
	}

	forced := shutdownOrSignal(sup, cfg.grace, signals, log)
	if err := fsys.Unmount(server, cfg.mount, log); err != nil {
		log.Error("unmount", "mount", cfg.mount, "err", err)
	}
	if forced {
		return errors.New("shutdown forced by a second signal")
	}
	log.Info("shut down", "mount", cfg.mount)
	return nil
}

// shutdownOrSignal shuts the supervisor down. A signal that arrives
// meanwhile kills every container at once; it then returns true.
func shutdownOrSignal(sup *runtime.Supervisor, grace time.Duration, signals <-chan os.Signal, log *slog.Logger) bool {
	done := make(chan struct{})
	go func() {
		shutdown(sup, grace, log)
		close(done)
	}()
	select {
	case <-done:
		return false
	case sig := <-signals:
		log.Warn("second signal, killing every container", "signal", sig.String())
		killAll(sup, log)
		return true
	}
}

// shutdown stops every container, waiting at most a minute beyond the
// grace time for them to exit after SIGKILL.
func shutdown(sup *runtime.Supervisor, grace time.Duration, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), grace+time.Minute)
	defer cancel()
	if err := sup.Shutdown(ctx); err != nil {
		log.Error("shut down supervisor", "err", err)
	}
}

func killAll(sup *runtime.Supervisor, log *slog.Logger) {
	for _, c := range sup.Containers() {
		err := c.Kill(syscall.SIGKILL)
		if err != nil && !errors.Is(err, runtime.ErrNotRunning) {
			log.Error("kill container", "container", c.Name(), "err", err)
		}
	}
}
