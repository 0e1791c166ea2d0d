package main

import (
	"bytes"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

func TestContainerCommandExitCodes(t *testing.T) {
	noTree := filepath.Join(t.TempDir(), "missing")
	tests := []struct {
		name string
		args []string
		want int
	}{
		{"run help", []string{"run", "--help"}, exitOK},
		{"run without dash", []string{"run", "x", "true"}, exitCLI},
		{"run without command", []string{"run", "x", "--"}, exitCLI},
		{"run two names", []string{"run", "x", "y", "--", "true"}, exitCLI},
		{"run unknown flag", []string{"run", "--bogus", "x", "--", "true"}, exitCLI},
		{"run rm and detach", []string{"run", "--mount", noTree, "--rm", "-d", "x", "--", "true"}, exitCLI},
		{"run no tree", []string{"run", "--mount", noTree, "x", "--", "true"}, exitCLI},
		{"ps extra argument", []string{"ps", "x"}, exitCLI},
		{"ps no tree", []string{"ps", "--mount", noTree}, exitCLI},
		{"stop without name", []string{"stop"}, exitCLI},
		{"stop negative time", []string{"stop", "-t", "-1", "x"}, exitCLI},
		{"logs two names", []string{"logs", "x", "y"}, exitCLI},
		{"events bad since", []string{"events", "--since", "yesterday"}, exitCLI},
		{"stats zero interval", []string{"stats", "--interval", "0s"}, exitCLI},
		{"wait no tree", []string{"wait", "--mount", noTree, "x"}, exitCLI},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stderr bytes.Buffer
			got := run(tt.args, new(bytes.Buffer), &stderr)
			if got != tt.want {
				t.Errorf("run(%q) = %d, want %d; stderr:\n%s", tt.args, got, tt.want, &stderr)
			}
			if tt.want != exitOK && !strings.Contains(stderr.String(), "ctlfs") {
				t.Errorf("run(%q) printed no message: %q", tt.args, &stderr)
			}
		})
	}
}

// TestFlagPlaceholders checks that every flag that takes a value shows an
// uppercase placeholder in the help, such as "--mount DIR", not its Go
// type. A flag of the same name shows the same placeholder everywhere.
func TestFlagPlaceholders(t *testing.T) {
	placeholder := regexp.MustCompile(`^[A-Z][A-Z0-9_]*(=[A-Z][A-Z0-9_]*)?$`)
	seen := map[string]string{} // flag name to placeholder
	var visit func(cmd *cobra.Command)
	visit = func(cmd *cobra.Command) {
		cmd.Flags().VisitAll(func(f *pflag.Flag) {
			name, _ := pflag.UnquoteUsage(f)
			if name == "" {
				return // a bool flag takes no value
			}
			if !placeholder.MatchString(name) {
				t.Errorf("%s --%s shows placeholder %q, want an uppercase word "+
					"in backquotes in its usage", cmd.CommandPath(), f.Name, name)
			}
			if other, ok := seen[f.Name]; ok && other != name {
				t.Errorf("%s --%s shows placeholder %s, but another command shows %s",
					cmd.CommandPath(), f.Name, name, other)
			}
			seen[f.Name] = name
		})
		for _, sub := range cmd.Commands() {
			visit(sub)
		}
	}
	visit(newRootCommand())
	if len(seen) < 10 {
		t.Errorf("found %d flags with values, want every command's: %v", len(seen), seen)
	}
}

func TestNoTreeMessage(t *testing.T) {
	tests := []struct {
		name  string
		mount string
		want  string
	}{
		{"missing directory", filepath.Join(t.TempDir(), "missing"), "directory does not exist"},
		{"plain directory", t.TempDir(), "no status file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stderr bytes.Buffer
			run([]string{"ps", "--mount", tt.mount}, new(bytes.Buffer), &stderr)
			for _, want := range []string{tt.want, "ctlfs serve --mount " + tt.mount} {
				if !strings.Contains(stderr.String(), want) {
					t.Errorf("message %q lacks %q", &stderr, want)
				}
			}
		})
	}
}

func TestMountEnv(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "from-env")
	t.Setenv("CTLFS_MOUNT", dir)
	var stderr bytes.Buffer
	run([]string{"ps"}, new(bytes.Buffer), &stderr)
	if !strings.Contains(stderr.String(), dir) {
		t.Errorf("ps with $CTLFS_MOUNT=%s printed %q", dir, &stderr)
	}
}

func TestParseStatus(t *testing.T) {
	text := "NAME\tSTATE\tPID\tRSS\tNICE\tCOMMAND\n" +
		"a\trunning\t42\t4096\t5\tsh -c 'sleep 1'\n" +
		"b\texited 0\t-\t-\t0\t/bin/true\n"
	rows, err := parseStatus(text)
	if err != nil {
		t.Fatal(err)
	}
	want := []statusRow{
		{"NAME": "a", "STATE": "running", "PID": "42", "RSS": "4096", "NICE": "5",
			"COMMAND": "sh -c 'sleep 1'"},
		{"NAME": "b", "STATE": "exited 0", "NICE": "0", "COMMAND": "/bin/true"},
	}
	if !reflect.DeepEqual(rows, want) {
		t.Errorf("parseStatus = %v, want %v", rows, want)
	}
	if running := runningRows(rows); len(running) != 1 || running[0]["NAME"] != "a" {
		t.Errorf("runningRows = %v, want only a", running)
	}
}

func TestParseStatusExtraColumn(t *testing.T) {
	rows, err := parseStatus("NAME\tSTATE\tCPU\na\trunning\t1.5\n")
	if err != nil {
		t.Fatal(err)
	}
	if rows[0]["CPU"] != "1.5" {
		t.Errorf("CPU column = %q, want 1.5", rows[0]["CPU"])
	}
}

func TestParseStatusInvalid(t *testing.T) {
	for _, text := range []string{"", "PID\tNAME\n", "NAME\tSTATE\na\n"} {
		if _, err := parseStatus(text); err == nil {
			t.Errorf("parseStatus(%q) succeeded, want an error", text)
		}
	}
}

func TestExitStatus(t *testing.T) {
	tests := []struct {
		state string
		want  int
		err   bool
	}{
		{"exited 0", 0, false},
		{"exited 3", 3, false},
		{"exited 137 signal=KILL reason=hard-limit", 137, false},
		{"exited 127 reason=start-failed", 127, false},
		{"created", 0, true},
		{"exited", 0, true},
		{"exited x", 0, true},
	}
	for _, tt := range tests {
		got, err := exitStatus("c", tt.state)
		if tt.err != (err != nil) || got != tt.want {
			t.Errorf("exitStatus(%q) = %d, %v; want %d, error %v", tt.state, got, err, tt.want, tt.err)
		}
	}
}

func TestHumanSize(t *testing.T) {
	tests := []struct{ bytes, want string }{
		{"0", "0B"},
		{"1023", "1023B"},
		{"1024", "1.0KiB"},
		{"1572864", "1.5MiB"},
		{"68719476736", "64.0GiB"},
		{"", ""},
		{"max", "max"},
	}
	for _, tt := range tests {
		if got := humanSize(tt.bytes); got != tt.want {
			t.Errorf("humanSize(%q) = %q, want %q", tt.bytes, got, tt.want)
		}
	}
}

func TestMemPercent(t *testing.T) {
	tests := []struct{ rss, hard, want string }{
		{"33554432", "67108864", "50.00%"},
		{"1", "3", "33.33%"},
		{"33554432", "max", "-"},
		{"", "67108864", "-"},
	}
	for _, tt := range tests {
		if got := memPercent(tt.rss, tt.hard); got != tt.want {
			t.Errorf("memPercent(%q, %q) = %q, want %q", tt.rss, tt.hard, got, tt.want)
		}
	}
}

func TestEnvLines(t *testing.T) {
	t.Setenv("CTLFS_TEST_SET", "from-env")
	got := envLines([]string{"A=1", "B=x=y", "CTLFS_TEST_SET", "CTLFS_TEST_UNSET_VARIABLE"})
	want := "A=1\nB=x=y\nCTLFS_TEST_SET=from-env\n"
	if got != want {
		t.Errorf("envLines = %q, want %q", got, want)
	}
}

func TestParseEventTime(t *testing.T) {
	now := time.Date(2025, 1, 2, 15, 4, 5, 0, time.UTC)
	tests := []struct {
		text string
		want time.Time
	}{
		{"0", time.Unix(0, 0)},
		{"1735830245", time.Unix(1735830245, 0)},
		{"10m", now.Add(-10 * time.Minute)},
		{"0s", now},
		{"2025-01-02T15:00:00Z", time.Date(2025, 1, 2, 15, 0, 0, 0, time.UTC)},
	}
	for _, tt := range tests {
		got, err := parseEventTime("--since", tt.text, now)
		if err != nil || got == nil || !got.Equal(tt.want) {
			t.Errorf("parseEventTime(%q) = %v, %v; want %v", tt.text, got, err, tt.want)
		}
	}
	if got, err := parseEventTime("--since", "", now); got != nil || err != nil {
		t.Errorf("parseEventTime(\"\") = %v, %v; want no bound", got, err)
	}
	if _, err := parseEventTime("--since", "yesterday", now); err == nil {
		t.Error("parseEventTime(\"yesterday\") succeeded, want an error")
	}
}

func TestEventFilter(t *testing.T) {
	since := time.Date(2025, 1, 2, 15, 0, 0, 0, time.UTC)
	until := since.Add(time.Minute)
	var out bytes.Buffer
	f := &eventFilter{w: &out, since: &since, until: &until}
	lines := "2025-01-02T14:59:59.999999Z a created\n" +
		"2025-01-02T15:00:00.000000Z a started pid=1\n" +
		"2025-01-02T15:00:30.5Z a exited code=0\n" +
		"2025-01-02T15:01:00.000000Z a removed\n"
	// Lines split across writes come out whole.
	for _, chunk := range []string{lines[:10], lines[10:50], lines[50:]} {
		if _, err := f.Write([]byte(chunk)); err != nil {
			t.Fatal(err)
		}
	}
	want := "2025-01-02T15:00:00.000000Z a started pid=1\n" +
		"2025-01-02T15:00:30.5Z a exited code=0\n"
	if out.String() != want {
		t.Errorf("filtered events = %q, want %q", &out, want)
	}
}

func TestCPUPercent(t *testing.T) {
	tests := []struct {
		before, after string
		wall          time.Duration
		want          string
	}{
		{"1.000000", "1.500000", time.Second, "50.00%"},
		{"0", "1.000000", 500 * time.Millisecond, "200.00%"},
		{"2.000000", "1.000000", time.Second, ""}, // a new run
		{"", "1.000000", time.Second, ""},
		{"1", "1", 0, ""},
	}
	for _, tt := range tests {
		if got := cpuPercent(tt.before, tt.after, tt.wall); got != tt.want {
			t.Errorf("cpuPercent(%q, %q, %v) = %q, want %q", tt.before, tt.after, tt.wall, got, tt.want)
		}
	}
}
