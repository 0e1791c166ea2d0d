package fsys

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"ctlfs/runtime"
)

// timeLayout is RFC 3339 with microseconds, as in the events files.
const timeLayout = "2006-01-02T15:04:05.000000Z07:00"

// statusHeader is the first line of the root's status file.
const statusHeader = "NAME\tSTATE\tPID\tRSS\tNICE\tCOMMAND\n"

// containerInfo is a snapshot of one container for the status files.
type containerInfo struct {
	name    string
	state   runtime.State
	pid     int    // 0 when not running
	rss     string // bytes, or "" when unknown or not running
	nice    int
	rootfs  string
	command string
	limits  runtime.Limits
	usage   runtime.Usage
}

// infoOf takes a snapshot of c. The RSS comes from all, the result of
// Supervisor.RSSAll, and is read from c when all lacks c. A failure to
// read the RSS leaves rss empty and is returned for the caller to log.
func infoOf(c *runtime.Container, all map[*runtime.Container]uint64) (containerInfo, error) {
	info := containerInfo{
		name:    c.Name(),
		state:   c.State(),
		pid:     c.PID(),
		nice:    c.Nice(),
		rootfs:  c.EffectiveRootfs(),
		command: c.Command(),
		limits:  c.Limits(),
	}
	usage, err := c.Usage()
	info.usage = usage
	if err != nil {
		return info, fmt.Errorf("read usage of %s: %w", info.name, err)
	}
	if info.pid == 0 {
		return info, nil
	}
	rss, ok := all[c]
	if ok {
		info.rss = strconv.FormatUint(rss, 10)
		return info, nil
	}
	rss, err = c.RSS()
	if err != nil {
		return info, fmt.Errorf("read rss of %s: %w", info.name, err)
	}
	info.rss = strconv.FormatUint(rss, 10)
	return info, nil
}

// formatStatusTable formats the root's status file: a header, then one
// tab-separated line per container.
func formatStatusTable(infos []containerInfo) string {
	var b strings.Builder
	b.WriteString(statusHeader)
	for _, info := range infos {
		fields := []string{
			info.name, info.state.String(), formatPID(info.pid),
			info.rss, strconv.Itoa(info.nice), info.command,
		}
		for i, f := range fields {
			fields[i] = field(f)
		}
		b.WriteString(strings.Join(fields, "\t") + "\n")
	}
	return b.String()
}

// formatContainerStatus formats a container's status file: one
// "key value" line per key, the value running to the end of the line.
func formatContainerStatus(info containerInfo) string {
	var b strings.Builder
	line := func(key, value string) {
		b.WriteString(key + " " + field(value) + "\n")
	}
	line("name", info.name)
	line("state", info.state.String())
	line("pid", formatPID(info.pid))
	line("rss", info.rss)
	line("cpu", formatSeconds(info.usage.CPU))
	line("nice", strconv.Itoa(info.nice))
	line("rootfs", info.rootfs)
	line("cmd", info.command)
	for _, kv := range strings.Split(strings.TrimSpace(info.limits.String()), "\n") {
		key, value, _ := strings.Cut(kv, "=")
		line(key, value)
	}
	line("started", formatTime(info.state.Started))
	line("exited", formatTime(info.state.Exited))
	return b.String()
}

// field makes value fit one field of a line: tabs and newlines become
// spaces, and an empty value becomes "-".
func field(value string) string {
	if value == "" {
		return "-"
	}
	return strings.Map(func(r rune) rune {
		if r == '\t' || r == '\n' {
			return ' '
		}
		return r
	}, value)
}

func formatPID(pid int) string {
	if pid == 0 {
		return ""
	}
	return strconv.Itoa(pid)
}

// formatSeconds formats d in seconds with microseconds, as "1.250000".
func formatSeconds(d time.Duration) string {
	return strconv.FormatFloat(d.Seconds(), 'f', 6, 64)
}

func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(timeLayout)
}

// lineOf returns text with a newline after it, or "" for empty text.
func lineOf(text string) string {
	if text == "" {
		return ""
	}
	return text + "\n"
}

// trimNewline strips one trailing newline from a written value.
func trimNewline(text string) string {
	return strings.TrimSuffix(text, "\n")
}
