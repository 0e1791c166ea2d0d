package main

import (
	"math"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"testing"
	"time"
)

// runMainEnv makes the test binary run main instead of the tests.
const runMainEnv = "CPU_HOG_TEST_RUN_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(runMainEnv) == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func TestParseArgs(t *testing.T) {
	cases := map[string]struct {
		args     []string
		expected float64
	}{
		"default": {nil, defaultSeconds},
		"decimal": {[]string{"2.5"}, 2.5},
	}
	for name, c := range cases {
		seconds, err := parseArgs(c.args)
		if err != nil {
			t.Errorf("%s: parseArgs(%q) returned error %v", name, c.args, err)
		}
		if seconds != c.expected {
			t.Errorf("%s: parseArgs(%q) = %v, expected %v", name, c.args, seconds, c.expected)
		}
	}
	for _, args := range [][]string{{"0"}, {"-1"}, {"x"}, {"NaN"}, {"Inf"}, {"1", "2"}} {
		if _, err := parseArgs(args); err == nil {
			t.Errorf("parseArgs(%q) returned no error", args)
		}
	}
}

var (
	progressLine = regexp.MustCompile(`(?m)^cpu_hog: t=([0-9.]+)s cpu=([0-9.]+)s work=(\d+) rate=\d+/s at=(\d+\.\d{3})$`)
	doneLine     = regexp.MustCompile(`(?m)^cpu_hog: done cpu=([0-9.]+)s wall=([0-9.]+)s work=(\d+) rate=\d+/s cpu_rate=\d+/s at=(\d+\.\d{3})$`)
)

// runCPUHog runs main in a child process with args and returns its output.
func runCPUHog(t *testing.T, args ...string) string {
	t.Helper()
	program, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	command := exec.Command(program, args...)
	command.Env = append(os.Environ(), runMainEnv+"=1")
	output, err := command.CombinedOutput()
	if err != nil {
		t.Fatalf("cpu_hog failed: %v\n%s", err, output)
	}
	return string(output)
}

// TestBurnsOneThread checks that the requested CPU time is used and that no
// more than one CPU burns, since CPU time cannot then exceed wall time.
func TestBurnsOneThread(t *testing.T) {
	output := runCPUHog(t, "0.5")
	match := doneLine.FindStringSubmatch(output)
	if match == nil {
		t.Fatalf("no done line in output:\n%s", output)
	}
	cpu, _ := strconv.ParseFloat(match[1], 64)
	wall, _ := strconv.ParseFloat(match[2], 64)
	if cpu < 0.5 || cpu > 0.6 {
		t.Errorf("cpu=%.2fs, expected 0.50s to 0.60s", cpu)
	}
	// 0.02 s allows for rounding to two decimals and for the runtime's other threads.
	if cpu > wall+0.02 {
		t.Errorf("cpu=%.2fs exceeds wall=%.2fs, so more than one thread burned", cpu, wall)
	}
	if match[3] == "0" {
		t.Errorf("work=0 in %q", match[0])
	}
}

// TestLinesStampedWithAt checks that the at= stamps of the progress and
// done lines lie within the run, and that at minus t and at minus wall
// give the same start.
func TestLinesStampedWithAt(t *testing.T) {
	before := time.Now()
	output := runCPUHog(t, "1.1")
	after := time.Now()

	progress := progressLine.FindStringSubmatch(output)
	if progress == nil {
		t.Fatalf("no progress line with at= in output:\n%s", output)
	}
	done := doneLine.FindStringSubmatch(output)
	if done == nil {
		t.Fatalf("no done line with at= in output:\n%s", output)
	}
	progressT, _ := strconv.ParseFloat(progress[1], 64)
	progressAt, _ := strconv.ParseFloat(progress[4], 64)
	doneWall, _ := strconv.ParseFloat(done[2], 64)
	doneAt, _ := strconv.ParseFloat(done[4], 64)

	// The stamps are truncated to milliseconds, so before is truncated too.
	from := float64(before.UnixMilli()) / 1000
	to := float64(after.UnixNano()) / 1e9
	for name, at := range map[string]float64{"progress": progressAt, "done": doneAt} {
		if at < from || at > to {
			t.Errorf("%s at=%.3f outside the run, %.3f to %.3f", name, at, from, to)
		}
	}
	if doneAt <= progressAt {
		t.Errorf("done at=%.3f not after progress at=%.3f", doneAt, progressAt)
	}
	// t has one decimal and wall two, so the two starts differ by up to
	// 0.055 s, plus 0.001 s for truncating at=.
	startFromProgress := progressAt - progressT
	startFromDone := doneAt - doneWall
	if math.Abs(startFromProgress-startFromDone) > 0.06 {
		t.Errorf("start from progress line %.3f, from done line %.3f: differ by more than 0.06 s",
			startFromProgress, startFromDone)
	}
}

func TestUnixSeconds(t *testing.T) {
	tests := []struct {
		name string
		t    time.Time
		want string
	}{
		{name: "whole second", t: time.Unix(1733331234, 0), want: "1733331234.000"},
		{name: "leading zero", t: time.Unix(1733331234, 7_000_000), want: "1733331234.007"},
		{name: "truncated", t: time.Unix(1733331234, 123_999_999), want: "1733331234.123"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := unixSeconds(tt.t); got != tt.want {
				t.Errorf("unixSeconds = %q, want %q", got, tt.want)
			}
		})
	}
}
