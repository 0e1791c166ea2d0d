package main

import (
	"bufio"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// runMainEnv makes the test binary run main instead of the tests, so that
// the tests run the real program and --fork re-executes it as well.
const runMainEnv = "MEMORY_HOG_TEST_RUN_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(runMainEnv) == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func programCommand(t *testing.T, args ...string) *exec.Cmd {
	t.Helper()
	program, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	command := exec.Command(program, args...)
	command.Env = append(os.Environ(), runMainEnv+"=1")
	return command
}

var reachedLine = regexp.MustCompile(`^memory_hog: pid=(\d+) reached max=12\.0MiB rss=([0-9.]+)MiB$`)

func TestForkThreadsReachMax(t *testing.T) {
	command := programCommand(t, "--max", "12M", "--chunk", "4M", "--interval", "10ms", "--threads", "2", "--fork", "2", "--exit")
	output, err := command.CombinedOutput()
	if err != nil {
		t.Fatalf("memory_hog failed: %v\n%s", err, output)
	}
	lines := strings.Split(strings.TrimSpace(string(output)), "\n")
	reached, ended := 0, 0
	for _, line := range lines {
		if match := reachedLine.FindStringSubmatch(line); match != nil {
			reached++
			checkRSSAtLeast(t, line, match[2], 12)
		}
		if strings.Contains(line, " ended: exit status 0") {
			ended++
		}
	}
	if reached != 2 {
		t.Errorf("expected 2 'reached max' lines, got %d:\n%s", reached, output)
	}
	if ended != 2 {
		t.Errorf("expected 2 'ended: exit status 0' lines, got %d:\n%s", ended, output)
	}
}

func checkRSSAtLeast(t *testing.T, line, rssText string, minMiB float64) {
	t.Helper()
	rss, err := strconv.ParseFloat(rssText, 64)
	if err != nil || rss < minMiB {
		t.Errorf("expected rss of at least %.1fMiB in %q", minMiB, line)
	}
}

func TestHoldsMemoryWithoutExit(t *testing.T) {
	command := programCommand(t, "--max", "12M", "--chunk", "12M")
	stdout, err := command.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := command.Start(); err != nil {
		t.Fatal(err)
	}
	defer command.Process.Kill()
	waitForLine(t, bufio.NewScanner(stdout), reachedLine)

	exited := make(chan error, 1)
	go func() { exited <- command.Wait() }()
	select {
	case err := <-exited:
		t.Fatalf("memory_hog exited after reaching --max without --exit: %v", err)
	case <-time.After(300 * time.Millisecond):
	}
}

func waitForLine(t *testing.T, scanner *bufio.Scanner, pattern *regexp.Regexp) {
	t.Helper()
	for scanner.Scan() {
		if pattern.MatchString(scanner.Text()) {
			return
		}
	}
	t.Fatalf("output ended without a line matching %s", pattern)
}

func TestUsageErrorExitStatus(t *testing.T) {
	for _, args := range [][]string{{"--chunk", "0"}, {"--max", "lots"}, {"--threads", "0"}, {"extra"}} {
		err := programCommand(t, args...).Run()
		exitErr, isExit := err.(*exec.ExitError)
		if !isExit || exitErr.ExitCode() != 2 {
			t.Errorf("memory_hog %q: expected exit status 2, got %v", args, err)
		}
	}
}
