package runtime

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"ctlfs/monitor"
)

// DefaultGrace is the default time between SIGTERM and SIGKILL.
const DefaultGrace = 10 * time.Second

// Config configures a Supervisor.
type Config struct {
	// StateDir contains logs/NAME.log and the containers' metadata.
	StateDir string
	// DefaultRootfs is used by containers whose rootfs was not set.
	DefaultRootfs string
	// Grace is the default time between SIGTERM and SIGKILL for Stop and
	// Shutdown; zero means DefaultGrace.
	Grace time.Duration
	// LogMax caps each container's log on disk, in bytes: the log rotates
	// once, keeping about the last LogMax bytes. Zero means DefaultLogMax;
	// negative means no cap.
	LogMax int64
	// InitPath is the container init program, ctlfs-init. Empty means
	// the program that InitEnv names, else ctlfs-init beside the running
	// executable, else InstalledInit.
	InitPath string
	// Prestart is the number of inits kept started ahead of time for
	// containers with a network namespace of their own (see
	// prestartPool). Zero starts every init when its container starts.
	Prestart int
	// Monitor accounts the containers' memory and reports limit
	// crossings; the supervisor closes it at Shutdown. Nil means a /proc
	// poller at the monitor package's default interval.
	Monitor monitor.Monitor
	// CgroupParent is the cgroup v2 directory, relative to the cgroup v2
	// mount, below which the supervisor creates a directory of its own for
	// the containers' cgroups; empty means ctlfs. CgroupSelf means the
	// supervisor's own cgroup, delegated to it by a service manager.
	CgroupParent string
	// Logger receives the supervisor's log; nil discards it.
	Logger *slog.Logger
}

// Supervisor is the registry of containers. Its methods are safe for
// concurrent use.
type Supervisor struct {
	cfg    Config
	log    *slog.Logger
	events *Journal
	cgroup *cgroupRoot
	mon    monitor.Monitor
	// prestart keeps inits ready for the next containers.
	prestart *prestartPool

	mu         sync.Mutex
	containers map[string]*Container // guarded by mu

	// hugePagesOff is set when the process had transparent huge pages
	// disabled before New disabled them, and so the commands keep them
	// disabled.
	hugePagesOff bool
	// stateLock keeps other supervisors off the state directory until
	// Shutdown. It is nil where the file system has no flock.
	stateLock *dirLock
	// stopping is set when Shutdown begins; no run starts after that.
	stopping atomic.Bool
	// runs counts the runs whose cgroups are not released yet. A run is
	// added under its container's lock, which Shutdown takes to stop it
	// before it waits for runs.
	runs sync.WaitGroup
	// discards counts the layers being deleted in the background, and
	// discardSeq numbers their temporary names (see discardLayer).
	discards   sync.WaitGroup
	discardSeq atomic.Uint64
	// discardMu orders the start of a deletion in the background with
	// Shutdown's wait for them: a container can still be removed while
	// the supervisor shuts down.
	discardMu      sync.Mutex
	discardsClosed bool // guarded by discardMu; set once Shutdown waits

	// deathR and deathW are the death pipe, which every init holds the
	// read end of. Its end of file means that the supervisor died. The supervisor holds both ends until Shutdown is done.
	deathR, deathW *os.File

	// records counts the first records of new containers being written
	// (see Create).
	records sync.WaitGroup

	// cgroupMu is taken while a container's lock is held, so it must
	// never be held while taking mu or a container's lock.
	cgroupMu sync.Mutex
	byCgroup map[uint64]*Container // guarded by cgroupMu; running containers by cgroup id
	closed   bool                  // guarded by mu; set by Shutdown

	shutdownOnce sync.Once
	shutdownReq  chan struct{}
}

// New creates the state directory, removes the cgroups of containers left
// by an earlier supervisor that died, and returns an empty Supervisor.
func New(cfg Config) (*Supervisor, error) {
	if cfg.Grace == 0 {
		cfg.Grace = DefaultGrace
	}
	switch {
	case cfg.LogMax == 0:
		cfg.LogMax = DefaultLogMax
	case cfg.LogMax < 0:
		cfg.LogMax = 0
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	// The layers' directories go into overlayfs options, which cannot
	// contain ',' or ':', so every start would fail.
	if strings.ContainsAny(cfg.StateDir, ",:") {
		return nil, fmt.Errorf("state directory %q: overlayfs cannot use a path with ',' or ':': %w",
			cfg.StateDir, ErrInvalid)
	}
	if strings.ContainsAny(cfg.DefaultRootfs, ",:") {
		return nil, fmt.Errorf("default rootfs %q: overlayfs cannot use a path with ',' or ':': %w",
			cfg.DefaultRootfs, ErrInvalid)
	}
	initPath, err := findInit(cfg.InitPath)
	if err != nil {
		return nil, err
	}
	cfg.InitPath = initPath
	if err := os.MkdirAll(filepath.Join(cfg.StateDir, "logs"), 0o700); err != nil {
		return nil, fmt.Errorf("create state directory: %w", err)
	}
	lock, err := lockStateDir(cfg.StateDir)
	if err != nil {
		return nil, err
	}
	if lock == nil {
		log.Warn("failed to lock state directory: its file system has no flock, so a second supervisor "+
			"on it would kill this one's containers", "state_dir", cfg.StateDir)
	}
	started := false
	defer func() {
		if !started {
			lock.unlock()
		}
	}()
	log.Info("container init", "path", cfg.InitPath)
	thpOff, err := disableHugePages()
	if err != nil {
		log.Warn("disable transparent huge pages for the inits", "err", err)
	}
	s := &Supervisor{
		cfg:          cfg,
		stateLock:    lock,
		hugePagesOff: thpOff,
		log:          log,
		events:       new(Journal),
		mon:          cfg.Monitor,
		containers:   make(map[string]*Container),
		byCgroup:     make(map[uint64]*Container),
		shutdownReq:  make(chan struct{}),
	}
	if s.mon == nil {
		s.mon = monitor.NewProc(0)
	}
	// Read the records before killing the leftover cgroups, so that what a
	// dying predecessor wrote last cannot change what is restored.
	if err := s.loadRecords(); err != nil {
		return nil, err
	}
	if err := removeDiscardedLayers(cfg.StateDir); err != nil {
		log.Error("remove layers", "err", err)
	}
	cg, err := openCgroupRoot(cfg.StateDir, cfg.CgroupParent, log)
	if err != nil {
		return nil, err
	}
	s.cgroup = cg
	if s.deathR, s.deathW, err = newDeathPipe(); err != nil {
		cg.close()
		return nil, err
	}
	// The inits of the containers restored above are gone now, and with
	// them any writer of their logs but this supervisor. None of them
	// runs, so their log files stay closed until read.
	for _, c := range s.containers {
		c.log.resync()
		c.log.idle()
	}
	s.prestart = newPrestartPool(s, cfg.Prestart)
	go s.watchMemoryEvents()
	started = true
	return s, nil
}

// InstalledInit is the path of the ctlfs-init that make install put in
// place. The install target sets it with the linker's -X flag.
var InstalledInit string

// disableHugePages turns transparent huge pages off for this process and
// reports whether they were off already. The setting passes to each
// init through fork and exec. Without it, the init's first allocation may
// fault in a whole 2 MiB page where the host's THP mode is always:
// zeroing it costs time at every start, and the page counts against the
// container's memory. The init turns the setting back
// to what it was for the command.
func disableHugePages() (bool, error) {
	was, err := unix.PrctlRetInt(unix.PR_GET_THP_DISABLE, 0, 0, 0, 0)
	if err != nil {
		return false, fmt.Errorf("read the THP setting: %w", err)
	}
	if err := unix.Prctl(unix.PR_SET_THP_DISABLE, 1, 0, 0, 0); err != nil {
		return was == 1, fmt.Errorf("disable THP: %w", err)
	}
	return was == 1, nil
}

// InitEnv is the environment variable that names the init program when
// Config.InitPath is empty.
const InitEnv = "CTLFS_INIT"

// findInit returns the init program to start: path when set, else the
// program InitEnv names, else ctlfs-init beside the executable (as make
// builds it), else InstalledInit. It fails with ErrNotFound when there
// is none.
func findInit(path string) (string, error) {
	if path == "" {
		path = os.Getenv(InitEnv)
	}
	if path != "" {
		if err := checkInit(path); err != nil {
			return "", err
		}
		return path, nil
	}
	var candidates []string
	if exe, err := os.Executable(); err == nil {
		candidates = append(candidates, filepath.Join(filepath.Dir(exe), "ctlfs-init"))
	}
	if InstalledInit != "" {
		candidates = append(candidates, InstalledInit)
	}
	for _, p := range candidates {
		if checkInit(p) == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("no container init: ctlfs-init is not at %s (build it with make, or name it in %s): %w",
		strings.Join(candidates, " or "), InitEnv, ErrNotFound)
}

// checkInit reports why path cannot be the init program, or nil.
func checkInit(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("container init: %w", err)
	}
	if !fi.Mode().IsRegular() || fi.Mode()&0o111 == 0 {
		return fmt.Errorf("container init %s is not an executable file: %w", path, ErrInvalid)
	}
	return nil
}

// Create adds a container in state created. It fails with ErrInvalid for a
// bad name and ErrExist when the name is taken.
func (s *Supervisor) Create(name string) (*Container, error) {
	if err := ValidateName(name); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	if _, ok := s.containers[name]; ok {
		return nil, fmt.Errorf("container %q: %w", name, ErrExist)
	}
	// Nothing is written to disk here. The kernel holds the lock of the
	// tree's root for the whole mkdir, so every mkdir waits for the one
	// before it, and creating a file took milliseconds on an ext4 without
	// a journal. The layer is made at the first start, the log file at the
	// first output, and the record just after mkdir returns.
	c, err := newContainer(s, name)
	if err != nil {
		return nil, err
	}
	s.containers[name] = c
	c.recordPending = true
	s.records.Go(c.persistPending)
	c.emit("created")
	s.log.Info("container created", "container", name)
	s.prestart.refill()
	return c, nil
}

// Remove deletes a container that is not running, with its log and cgroup.
// It fails with ErrBusy while the container runs and ErrNotFound when there
// is no such container.
func (s *Supervisor) Remove(name string) error {
	c, ok := s.Lookup(name)
	if !ok {
		return fmt.Errorf("container %q: %w", name, ErrNotFound)
	}
	// The container's files are removed without the supervisor's lock,
	// which every lookup takes. The name stays taken until they are gone.
	if err := c.remove(); err != nil {
		return err
	}
	s.mu.Lock()
	if s.containers[name] == c {
		delete(s.containers, name)
	}
	s.mu.Unlock()
	s.log.Info("container removed", "container", name)
	return nil
}

// Lookup returns the container called name.
func (s *Supervisor) Lookup(name string) (*Container, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.containers[name]
	return c, ok
}

// Containers returns every container, sorted by name.
func (s *Supervisor) Containers() []*Container {
	s.mu.Lock()
	list := make([]*Container, 0, len(s.containers))
	for _, c := range s.containers {
		list = append(list, c)
	}
	s.mu.Unlock()
	slices.SortFunc(list, func(a, b *Container) int {
		return strings.Compare(a.name, b.name)
	})
	return list
}

// Events returns the journal of every container's events.
func (s *Supervisor) Events() Stream { return s.events }

// MonitorStatus describes the memory monitor in one line, starting with
// its kind: ebpf, or proc for the /proc poller.
func (s *Supervisor) MonitorStatus() string { return s.mon.Describe() }

// MonitorKind returns "ebpf" or "proc", the memory monitor in use.
func (s *Supervisor) MonitorKind() string { return s.mon.Kind() }

// RSSAll returns the resident memory of every running container, as
// Container.RSS does, with one read of the monitor for all of them. A
// container that starts meanwhile may be missing.
func (s *Supervisor) RSSAll() (map[*Container]uint64, error) {
	all, err := s.mon.RSSAll()
	if err != nil {
		return nil, err
	}
	s.cgroupMu.Lock()
	defer s.cgroupMu.Unlock()
	rss := make(map[*Container]uint64, len(all))
	for id, v := range all {
		if c := s.byCgroup[id]; c != nil {
			rss[c] = v
		}
	}
	return rss, nil
}

// Logger returns the supervisor's logger.
func (s *Supervisor) Logger() *slog.Logger { return s.log }

// RequestShutdown closes the channel that ShutdownRequested returns, on
// which the owner of the supervisor waits to shut it down.
func (s *Supervisor) RequestShutdown() {
	s.shutdownOnce.Do(func() { close(s.shutdownReq) })
}

// ShutdownRequested returns a channel closed by RequestShutdown.
func (s *Supervisor) ShutdownRequested() <-chan struct{} { return s.shutdownReq }

// Shutdown stops every running container (SIGTERM, then SIGKILL after the
// grace time), waits for each to exit with its log flushed, and releases
// their cgroups. Later calls to Create fail with ErrClosed.
func (s *Supervisor) Shutdown(ctx context.Context) error {
	s.stopping.Store(true)
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.prestart.close()
	list := s.Containers()
	for _, c := range list {
		if err := c.stop(s.cfg.Grace, ReasonShutdown); err != nil && !isNotRunning(err) {
			s.log.Error("stop container at shutdown", "container", c.name, "err", err)
		}
	}
	for _, c := range list {
		if _, err := c.Wait(ctx); err != nil {
			return fmt.Errorf("wait for container %q: %w", c.name, err)
		}
		c.release()
	}
	s.runs.Wait() // those of removed containers too
	s.records.Wait()
	s.deathW.Close()
	s.deathR.Close()
	s.closeDiscards()
	s.cgroup.close()
	if err := s.mon.Close(); err != nil {
		s.log.Error("close memory monitor", "err", err)
	}
	s.stateLock.unlock()
	s.log.Info("supervisor shut down", "containers", len(list))
	return nil
}
