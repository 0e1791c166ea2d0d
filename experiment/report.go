package experiment

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"
)

// report builds a Markdown document.
type report struct {
	strings.Builder
}

func (r *report) heading(level int, text string) {
	fmt.Fprintf(r, "%s %s\n\n", strings.Repeat("#", level), text)
}

func (r *report) paragraph(format string, args ...any) {
	fmt.Fprintf(r, format+"\n\n", args...)
}

// table writes a Markdown table with a header row.
func (r *report) table(header []string, rows [][]string) {
	r.row(header)
	separator := make([]string, len(header))
	for i := range separator {
		separator[i] = "---"
	}
	r.row(separator)
	for _, row := range rows {
		r.row(row)
	}
	r.WriteString("\n")
}

func (r *report) row(cells []string) {
	fmt.Fprintf(r, "| %s |\n", strings.Join(cells, " | "))
}

// image links a plot by its file name, which lies beside the report.
func (r *report) image(alt, path string) {
	r.paragraph("![%s](%s)", alt, filepath.Base(path))
}

// checks writes the comparisons as a list with a verdict on each.
func (r *report) checks(checks []Check) {
	for _, c := range checks {
		verdict := "**agrees**"
		if !c.OK {
			verdict = "**DIFFERS**"
		}
		fmt.Fprintf(r, "- %s: %s: %s\n", c.Name, verdict, c.Detail)
	}
	r.WriteString("\n")
}

// machine writes where and when the experiment ran.
func (r *report) machine(s *session) {
	monitor, _ := s.tree.readRoot("monitor")
	monitor, _, _ = strings.Cut(monitor, "\n")
	r.table([]string{"setting", "value"}, [][]string{
		{"date", s.began.UTC().Format(time.RFC3339)},
		{"kernel", procValue("/proc/sys/kernel/osrelease")},
		{"CPUs", fmt.Sprint(runtime.NumCPU())},
		{"kernel.sched_autogroup_enabled", procValue("/proc/sys/kernel/sched_autogroup_enabled")},
		{"load average at start (1, 5, 15 min)", loadAverage()},
		{"tree", s.opts.Mount},
		{"monitor", "`" + monitor + "`"},
	})
}

// procValue returns the first line of a /proc file, or "unknown".
func procValue(path string) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return "unknown"
	}
	line, _, _ := strings.Cut(string(data), "\n")
	return line
}

// loadAverage returns the first three fields of /proc/loadavg.
func loadAverage() string {
	fields := strings.Fields(procValue("/proc/loadavg"))
	if len(fields) < 3 {
		return "unknown"
	}
	return strings.Join(fields[:3], ", ")
}

// save writes the report to path.
func (r *report) save(path string) error {
	if err := os.WriteFile(path, []byte(r.String()), 0o644); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	return nil
}

func percent(fraction float64) string { return fmt.Sprintf("%.1f%%", 100*fraction) }
func seconds(s float64) string        { return fmt.Sprintf("%.2f s", s) }
func millis(ms float64) string        { return fmt.Sprintf("%.2f ms", ms) }
func mebibytes(b int64) string        { return fmt.Sprintf("%.2f MiB", float64(b)/(1<<20)) }
