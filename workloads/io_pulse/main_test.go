package main

import (
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"
)

// runMainEnv makes the test binary run main instead of the tests.
const runMainEnv = "IO_PULSE_TEST_RUN_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(runMainEnv) == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func TestMedian(t *testing.T) {
	cases := []struct {
		latencies []time.Duration
		expected  time.Duration
	}{
		{[]time.Duration{5}, 5},
		{[]time.Duration{9, 1, 5}, 5},
		{[]time.Duration{4, 1, 3, 2}, 2},
		{[]time.Duration{10, 20}, 15},
	}
	for _, c := range cases {
		if got := median(c.latencies); got != c.expected {
			t.Errorf("median(%v) = %v, expected %v", c.latencies, got, c.expected)
		}
	}
}

func TestParseArgs(t *testing.T) {
	cases := []struct {
		args     []string
		expected config
	}{
		{[]string{"--dir", "/data", "5"}, config{iterations: 5, dir: "/data"}},
		{[]string{"7", "--dir", "/data"}, config{iterations: 7, dir: "/data"}},
		{[]string{"--dir=/data"}, config{iterations: defaultIterations, dir: "/data"}},
	}
	for _, c := range cases {
		cfg, err := parseArgs(c.args)
		if err != nil {
			t.Errorf("parseArgs(%q) returned error %v", c.args, err)
		}
		if cfg != c.expected {
			t.Errorf("parseArgs(%q) = %+v, expected %+v", c.args, cfg, c.expected)
		}
	}
	for _, args := range [][]string{{"0"}, {"x"}, {"1", "2"}, {"--dir"}, {"--bogus"}} {
		if _, err := parseArgs(args); err == nil {
			t.Errorf("parseArgs(%q) returned no error", args)
		}
	}
}

func TestRunPrintsLatenciesAndRemovesFile(t *testing.T) {
	dir := t.TempDir()
	program, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	command := exec.Command(program, "3", "--dir", dir)
	command.Env = append(os.Environ(), runMainEnv+"=1")
	output, err := command.CombinedOutput()
	if err != nil {
		t.Fatalf("io_pulse failed: %v\n%s", err, output)
	}
	checkOutput(t, string(output))
	entries, err := os.ReadDir(dir)
	if err != nil || len(entries) != 0 {
		t.Errorf("expected an empty %s after the run, found %v (%v)", dir, entries, err)
	}
}

func checkOutput(t *testing.T, output string) {
	t.Helper()
	expected := []*regexp.Regexp{
		regexp.MustCompile(`^io_pulse: iter=1 latency=\d+\.\d\dms$`),
		regexp.MustCompile(`^io_pulse: iter=2 latency=\d+\.\d\dms$`),
		regexp.MustCompile(`^io_pulse: iter=3 latency=\d+\.\d\dms$`),
		regexp.MustCompile(`^io_pulse: done iterations=3 median=\d+\.\d\dms max=\d+\.\d\dms$`),
	}
	lines := strings.Split(strings.TrimSpace(output), "\n")
	if len(lines) != len(expected) {
		t.Fatalf("expected %d lines, got:\n%s", len(expected), output)
	}
	for i, pattern := range expected {
		if !pattern.MatchString(lines[i]) {
			t.Errorf("line %d is %q, expected a match for %s", i+1, lines[i], pattern)
		}
	}
}
