package main

import (
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"testing"
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

var doneLine = regexp.MustCompile(`(?m)^cpu_hog: done cpu=([0-9.]+)s wall=([0-9.]+)s work=(\d+) rate=\d+/s cpu_rate=\d+/s$`)

// TestBurnsOneThread checks that the requested CPU time is used and that no
// more than one CPU burns, since CPU time cannot then exceed wall time.
func TestBurnsOneThread(t *testing.T) {
	program, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	command := exec.Command(program, "0.5")
	command.Env = append(os.Environ(), runMainEnv+"=1")
	output, err := command.CombinedOutput()
	if err != nil {
		t.Fatalf("cpu_hog failed: %v\n%s", err, output)
	}
	match := doneLine.FindStringSubmatch(string(output))
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
