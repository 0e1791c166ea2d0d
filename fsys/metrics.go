package fsys

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/common/expfmt"

	"ctlfs/runtime"
)

// The metrics of the root's metrics file, in the Prometheus text
// exposition format. Every container metric has the label container.
var (
	descContainers = prometheus.NewDesc("ctlfs_containers",
		"Number of containers in the tree.", nil, nil)
	descInfo = prometheus.NewDesc("ctlfs_container_info",
		"Settings of a container, as labels; the value is always 1.",
		[]string{"container", "rootfs", "command", "net"}, nil)
	descState = prometheus.NewDesc("ctlfs_container_state",
		"1 for the container's current state, 0 for the others.",
		[]string{"container", "state"}, nil)
	descExitCode = prometheus.NewDesc("ctlfs_container_exit_code",
		"Exit code of the last run, in the shell's convention; only for exited containers.",
		[]string{"container"}, nil)
	descStartTime = prometheus.NewDesc("ctlfs_container_start_time_seconds",
		"Start of the current or last run, in seconds since the Unix epoch.",
		[]string{"container"}, nil)
	descRSS = prometheus.NewDesc("ctlfs_container_rss_bytes",
		"Resident memory of all the container's processes; 0 when not running.",
		[]string{"container"}, nil)
	descSoft = prometheus.NewDesc("ctlfs_container_memory_soft_limit_bytes",
		"RSS above which a soft-limit event is emitted; absent when unlimited.",
		[]string{"container"}, nil)
	descHard = prometheus.NewDesc("ctlfs_container_memory_hard_limit_bytes",
		"RSS above which the container is killed; absent when unlimited.",
		[]string{"container"}, nil)
	descPids = prometheus.NewDesc("ctlfs_container_pids_limit",
		"Most tasks the container may have at once; absent when unlimited.",
		[]string{"container"}, nil)
	descNice = prometheus.NewDesc("ctlfs_container_nice",
		"Nice value of the container's tasks.", []string{"container"}, nil)
	descCPU = prometheus.NewDesc("ctlfs_container_cpu_seconds_total",
		"CPU time of the current or last run; starts again from 0 at each start.",
		[]string{"container"}, nil)
	descStarts = prometheus.NewDesc("ctlfs_container_starts_total",
		"Runs started since the supervisor started.", []string{"container"}, nil)
	descCrossings = prometheus.NewDesc("ctlfs_container_memory_limit_crossings_total",
		"Memory limit crossings the monitor reported since the supervisor started.",
		[]string{"container", "limit"}, nil)
	descLogBytes = prometheus.NewDesc("ctlfs_container_log_bytes_total",
		"Bytes the container wrote to its log, including rotated ones.",
		[]string{"container"}, nil)
	descMonitor = prometheus.NewDesc("ctlfs_monitor_info",
		"The memory monitor in use, ebpf or proc; the value is always 1.",
		[]string{"kind"}, nil)
)

// phases are the values of the state label, one series each.
var phases = []runtime.Phase{runtime.Created, runtime.Running, runtime.Frozen,
	runtime.Stopping, runtime.Exited}

// containerCollector collects the container and monitor metrics when the
// metrics file is opened.
type containerCollector struct {
	sup *runtime.Supervisor
	log *slog.Logger
}

func (cc containerCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descContainers, descInfo, descState,
		descExitCode, descStartTime, descRSS, descSoft, descHard, descPids,
		descNice, descCPU, descStarts, descCrossings, descLogBytes, descMonitor} {
		ch <- d
	}
}

func (cc containerCollector) Collect(ch chan<- prometheus.Metric) {
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
	}
	limit := func(d *prometheus.Desc, v uint64, name string) {
		if v != runtime.Unlimited {
			gauge(d, float64(v), name)
		}
	}
	containers := cc.sup.Containers()
	gauge(descContainers, float64(len(containers)))
	gauge(descMonitor, 1, cc.sup.MonitorKind())
	// One read of the monitor for all containers, as in the status file.
	all, err := cc.sup.RSSAll()
	if err != nil {
		cc.log.Warn("read metrics", "err", err)
	}
	for _, c := range containers {
		info, err := infoOf(c, all)
		if err != nil {
			cc.log.Warn("read metrics", "container", c.Name(), "err", err)
		}
		name := info.name
		gauge(descInfo, 1, name, info.rootfs, info.command, c.Net())
		for _, p := range phases {
			v := 0.0
			if info.state.Phase == p {
				v = 1
			}
			gauge(descState, v, name, string(p))
		}
		if info.state.Phase == runtime.Exited {
			gauge(descExitCode, float64(info.state.Code), name)
		}
		if !info.state.Started.IsZero() {
			gauge(descStartTime, float64(info.state.Started.UnixMicro())/1e6, name)
		}
		rss, _ := strconv.ParseUint(info.rss, 10, 64)
		gauge(descRSS, float64(rss), name)
		limit(descSoft, info.limits.Soft, name)
		limit(descHard, info.limits.Hard, name)
		limit(descPids, info.limits.Pids, name)
		gauge(descNice, float64(info.nice), name)
		counter(descCPU, info.usage.CPU.Seconds(), name)
		counter(descStarts, float64(info.usage.Starts), name)
		counter(descCrossings, float64(info.usage.SoftLimits), name, "soft")
		counter(descCrossings, float64(info.usage.HardLimits), name, "hard")
		counter(descLogBytes, float64(c.Log().Size()), name)
	}
}

// newMetricsRegistry returns the registry behind the metrics file: the
// containers, the monitor, and the supervisor process itself.
func newMetricsRegistry(sup *runtime.Supervisor, log *slog.Logger) *prometheus.Registry {
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(containerCollector{sup: sup, log: log})
	reg.MustRegister(withoutNetwork{collectors.NewProcessCollector(collectors.ProcessCollectorOpts{
		Namespace: "ctlfs_supervisor",
	})})
	return reg
}

// withoutNetwork drops the process collector's network byte counters:
// they come from /proc/self/net/dev, so they count the traffic of the
// whole network namespace, not the supervisor's, which has none.
type withoutNetwork struct{ prometheus.Collector }

func isNetwork(d *prometheus.Desc) bool {
	return strings.Contains(d.String(), "_network_")
}

func (w withoutNetwork) Describe(ch chan<- *prometheus.Desc) {
	descs := make(chan *prometheus.Desc)
	go func() {
		w.Collector.Describe(descs)
		close(descs)
	}()
	for d := range descs {
		if !isNetwork(d) {
			ch <- d
		}
	}
}

func (w withoutNetwork) Collect(ch chan<- prometheus.Metric) {
	metrics := make(chan prometheus.Metric)
	go func() {
		w.Collector.Collect(metrics)
		close(metrics)
	}()
	for m := range metrics {
		if !isNetwork(m.Desc()) {
			ch <- m
		}
	}
}

// readMetrics formats every metric in the text exposition format.
func readMetrics(_ context.Context, d *dir) (string, error) {
	families, err := d.tree.metrics.Gather()
	if err != nil {
		return "", fmt.Errorf("gather metrics: %w", err)
	}
	var b bytes.Buffer
	enc := expfmt.NewEncoder(&b, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, f := range families {
		if err := enc.Encode(f); err != nil {
			return "", fmt.Errorf("encode metrics: %w", err)
		}
	}
	return b.String(), nil
}
