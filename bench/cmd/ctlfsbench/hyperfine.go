package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
)

// hyperfine runs whole commands under hyperfine, as a second measurement
// of the reference tools that does not depend on this harness's timing.
// hyperfine runs one command's runs back to back, while the harness
// interleaves the tools, so the two can differ when the machine's load
// changes during the run.
type hyperfine struct {
	path    string
	version string
	runs    int
	warmup  int
	dir     string // for the JSON exports
}

// findHyperfine returns a hyperfine runner, or an error that names the
// package to install. -N (no shell between hyperfine and the command) needs
// hyperfine 1.13 or later.
func findHyperfine(runs, warmup int, dir string) (*hyperfine, error) {
	path, err := lookTool("hyperfine", "hyperfine")
	if err != nil {
		return nil, err
	}
	return &hyperfine{path: path, version: toolVersion(path, "--version"),
		runs: runs, warmup: warmup, dir: dir}, nil
}

// hyperfineExport is the part of hyperfine's --export-json output that
// the harness reads. Times are in seconds.
type hyperfineExport struct {
	Results []struct {
		Times     []float64 `json:"times"`
		ExitCodes []*int    `json:"exit_codes"`
	} `json:"results"`
}

// measure runs argv under hyperfine and returns the run times in ms.
// start runs the hyperfine process, so that the caller can choose the
// thread, and with it the mount namespace, that it starts from.
func (h *hyperfine) measure(name string, argv []string, start func(*exec.Cmd) error) ([]float64, error) {
	export := filepath.Join(h.dir, "hyperfine.json")
	defer os.Remove(export)
	cmd := exec.Command(h.path, "-N", "--style", "none",
		"--warmup", strconv.Itoa(h.warmup), "--runs", strconv.Itoa(h.runs),
		"--export-json", export, "--command-name", name, "--", shellQuote(argv))
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := start(cmd); err != nil {
		line, _, _ := strings.Cut(strings.TrimSpace(stderr.String()), "\n")
		return nil, fmt.Errorf("hyperfine %s: %w: %s", name, err, line)
	}

	data, err := os.ReadFile(export)
	if err != nil {
		return nil, err
	}
	var out hyperfineExport
	if err := json.Unmarshal(data, &out); err != nil {
		return nil, fmt.Errorf("parse hyperfine export: %w", err)
	}
	if len(out.Results) != 1 || len(out.Results[0].Times) == 0 {
		return nil, fmt.Errorf("hyperfine %s: export has no times", name)
	}
	for _, code := range out.Results[0].ExitCodes {
		if code == nil || *code != 0 {
			return nil, fmt.Errorf("hyperfine %s: a run did not exit 0", name)
		}
	}
	times := make([]float64, len(out.Results[0].Times))
	for i, s := range out.Results[0].Times {
		times[i] = s * 1000
	}
	return times, nil
}
