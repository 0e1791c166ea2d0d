package fsys

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"ctlfs/runtime"
)

// fileSpec declares one file of a directory: its name, its permission
// bits, and what reading and writing it do. A file is readable when read
// or stream is set and writable when write is set.
type fileSpec struct {
	name string
	mode uint32 // permission bits that stat shows
	// read returns the file's content. It runs at open, so that reads in
	// several chunks see one value, or at the first read when blocking.
	read     func(ctx context.Context, d *dir) (string, error)
	blocking bool
	// stream returns the growing content of a file such as log, which
	// reports its current size and is read at offsets.
	stream func(d *dir) runtime.Stream
	// write applies one value or command, with one trailing newline
	// already stripped.
	write func(h *handle, text string) error
}

func (s *fileSpec) readable() bool { return s.read != nil || s.stream != nil }
func (s *fileSpec) writable() bool { return s.write != nil }

// rootFiles are the files of the root directory. Their names are
// reserved: no container may take one.
var rootFiles = []fileSpec{
	{name: "ctl", mode: 0o200, write: writeRootCtl},
	{name: "status", mode: 0o444, read: readRootStatus},
	{name: "events", mode: 0o444, stream: rootEvents},
	{name: "monitor", mode: 0o444, read: readMonitor},
	{name: "metrics", mode: 0o444, read: readMetrics},
	{name: "err", mode: 0o444, read: readErr},
}

// containerFiles are the files of every container directory.
var containerFiles = []fileSpec{
	{name: "rootfs", mode: 0o644, read: value(readRootfs), write: setter((*runtime.Container).SetRootfs)},
	{name: "cmd", mode: 0o644, read: value(readCommand), write: setter((*runtime.Container).SetCommand)},
	{name: "limits", mode: 0o644, read: value(readLimits), write: setter((*runtime.Container).SetLimits)},
	{name: "env", mode: 0o644, read: value(readEnv), write: setter((*runtime.Container).SetEnv)},
	{name: "net", mode: 0o644, read: value(readNet), write: setter((*runtime.Container).SetNet)},
	{name: "ctl", mode: 0o644, read: value(readCtl), write: setter(runCtl)},
	{name: "state", mode: 0o444, read: value(readState)},
	{name: "wait", mode: 0o444, read: readWait, blocking: true},
	{name: "pid", mode: 0o444, read: value(readPID)},
	{name: "rss", mode: 0o444, read: readRSS},
	{name: "nice", mode: 0o444, read: value(readNice)},
	{name: "log", mode: 0o444, stream: containerLog},
	{name: "events", mode: 0o444, stream: containerEvents},
	{name: "err", mode: 0o444, read: readErr},
	{name: "status", mode: 0o444, read: readStatus},
}

// findSpec returns the file called name in specs, or nil.
func findSpec(specs []fileSpec, name string) *fileSpec {
	for i := range specs {
		if specs[i].name == name {
			return &specs[i]
		}
	}
	return nil
}

// tree is the state of one mounted file tree.
type tree struct {
	sup     *runtime.Supervisor
	log     *slog.Logger
	monitor func() string
	mtime   time.Time // the time stat reports for every file
	root    *dir
	metrics *prometheus.Registry

	mu   sync.Mutex
	dirs map[*runtime.Container]*dir // guarded by mu
}

func newTree(sup *runtime.Supervisor, opts Options) *tree {
	t := &tree{
		sup:     sup,
		log:     opts.Logger,
		monitor: opts.Monitor,
		mtime:   time.Now(),
		dirs:    make(map[*runtime.Container]*dir),
	}
	if t.log == nil {
		t.log = sup.Logger()
	}
	if t.monitor == nil {
		t.monitor = sup.MonitorStatus
	}
	t.root = &dir{tree: t}
	t.metrics = newMetricsRegistry(sup, t.log)
	return t
}

// dirOf returns the directory state of c, creating it on first use.
func (t *tree) dirOf(c *runtime.Container) *dir {
	t.mu.Lock()
	defer t.mu.Unlock()
	d, ok := t.dirs[c]
	if !ok {
		d = &dir{tree: t, c: c}
		t.dirs[c] = d
	}
	return d
}

// forget drops the directory state of a removed container.
func (t *tree) forget(c *runtime.Container) {
	t.mu.Lock()
	delete(t.dirs, c)
	t.mu.Unlock()
}

// dir is the state that the files of one directory share.
type dir struct {
	tree *tree
	c    *runtime.Container // nil for the root

	mu      sync.Mutex
	lastErr string // guarded by mu; why the last rejected write failed
}

// reject records why an operation on file failed, in the directory's err
// file and the log, and returns the errno for the operation.
func (d *dir) reject(file string, err error) syscall.Errno {
	container := ""
	if d.c != nil {
		container = d.c.Name()
	}
	return d.rejectFor(container, file, err)
}

// rejectFor is reject for an operation at the root, such as mkdir, that
// concerns a container.
func (d *dir) rejectFor(container, file string, err error) syscall.Errno {
	text := shorten(err.Error(), maxReason)
	d.mu.Lock()
	d.lastErr = text
	d.mu.Unlock()
	attrs := []any{"file", file, "err", text}
	if container != "" {
		attrs = append([]any{"container", container}, attrs...)
	}
	d.tree.log.Warn("operation rejected", attrs...)
	return toErrno(err)
}

// maxReason is the longest reason kept in err and the log, in bytes: a
// reason quotes the rejected value, which may be long.
const maxReason = 1024

// shorten cuts text to at most max bytes, marking the cut.
func shorten(text string, max int) string {
	if len(text) <= max {
		return text
	}
	return strings.ToValidUTF8(text[:max-len("…")], "") + "…"
}

// readErr returns the reason of the directory's last rejected write.
func readErr(_ context.Context, d *dir) (string, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return lineOf(d.lastErr), nil
}

// value adapts a container getter into a read handler.
func value(get func(c *runtime.Container) string) func(context.Context, *dir) (string, error) {
	return func(_ context.Context, d *dir) (string, error) {
		return get(d.c), nil
	}
}

// setter adapts a container setter into a write handler.
func setter(set func(c *runtime.Container, text string) error) func(*handle, string) error {
	return func(h *handle, text string) error {
		return set(h.dir().c, text)
	}
}

func writeRootCtl(h *handle, text string) error {
	if strings.TrimSpace(text) != "shutdown" {
		return fmt.Errorf("ctl: unknown command %q, expected shutdown: %w",
			text, runtime.ErrInvalid)
	}
	// The shutdown unmounts the tree, so it waits for the writer to
	// close the file: by then the write has returned.
	h.setOnRelease(h.dir().tree.sup.RequestShutdown)
	return nil
}

func readRootStatus(_ context.Context, d *dir) (string, error) {
	var infos []containerInfo
	// One read of the monitor for all containers: the eBPF monitor's
	// read walks every task of the host.
	all, err := d.tree.sup.RSSAll()
	if err != nil {
		d.tree.log.Warn("read status", "err", err)
	}
	for _, c := range d.tree.sup.Containers() {
		info, err := infoOf(c, all)
		if err != nil {
			d.tree.log.Warn("read status", "container", c.Name(), "err", err)
		}
		infos = append(infos, info)
	}
	return formatStatusTable(infos), nil
}

func rootEvents(d *dir) runtime.Stream { return d.tree.sup.Events() }

func readMonitor(_ context.Context, d *dir) (string, error) {
	return lineOf(strings.TrimSuffix(d.tree.monitor(), "\n")), nil
}

func readRootfs(c *runtime.Container) string  { return lineOf(c.EffectiveRootfs()) }
func readCommand(c *runtime.Container) string { return lineOf(c.Command()) }
func readLimits(c *runtime.Container) string  { return c.Limits().String() }
func readNet(c *runtime.Container) string     { return lineOf(c.Net()) }
func readCtl(*runtime.Container) string       { return ctlHelp }
func readState(c *runtime.Container) string   { return lineOf(c.State().String()) }
func readPID(c *runtime.Container) string     { return lineOf(formatPID(c.PID())) }
func readNice(c *runtime.Container) string    { return lineOf(strconv.Itoa(c.Nice())) }

func readEnv(c *runtime.Container) string {
	var b strings.Builder
	for _, kv := range c.Env() {
		b.WriteString(kv + "\n")
	}
	return b.String()
}

func runCtl(c *runtime.Container, text string) error {
	cmd, err := parseCtl(text)
	if err != nil {
		return err
	}
	return cmd.apply(c)
}

// readWait blocks until the container is not running, or the reader is
// interrupted, and returns its state.
func readWait(ctx context.Context, d *dir) (string, error) {
	st, err := d.c.Wait(ctx)
	if err != nil {
		return "", err
	}
	return lineOf(st.String()), nil
}

func readRSS(_ context.Context, d *dir) (string, error) {
	rss, err := d.c.RSS()
	if err != nil {
		return "", fmt.Errorf("read rss of %s: %w", d.c.Name(), err)
	}
	return lineOf(strconv.FormatUint(rss, 10)), nil
}

func containerLog(d *dir) runtime.Stream    { return d.c.Log() }
func containerEvents(d *dir) runtime.Stream { return d.c.Events() }

func readStatus(_ context.Context, d *dir) (string, error) {
	info, err := infoOf(d.c, nil)
	if err != nil {
		d.tree.log.Warn("read status", "container", d.c.Name(), "err", err)
	}
	return formatContainerStatus(info), nil
}
