package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// ociStarter returns the constructor of a starter for an OCI runtime
// command (crun or runc). Each run is `RUNTIME run` of a bundle whose
// config.json is the runtime's own `spec` output with the root set to
// the busybox rootfs, read-only, no terminal and /bin/true as process.
// Container states live in a directory of the harness (--root), and every
// run has a new container ID.
func ociStarter(runtime string) func(*commandRunner, options, string) (starter, string, error) {
	return func(runner *commandRunner, opts options, dir string) (starter, string, error) {
		path, err := lookTool(runtime, runtime)
		if err != nil {
			return starter{}, "", err
		}
		bundle := filepath.Join(dir, runtime+"-bundle")
		namespaces, err := makeBundle(path, bundle, opts.rootfs)
		if err != nil {
			return starter{}, "", fmt.Errorf("%s: %w", runtime, err)
		}
		state := filepath.Join(dir, runtime+"-state")
		seq := 0
		run := func() ([]time.Duration, error) {
			seq++
			id := fmt.Sprintf("ctlfsbench-%d-%d", os.Getpid(), seq)
			d, err := runner.time([]string{path, "--root", state, "run", "--bundle", bundle, id}, nil)
			if err != nil {
				// A failed run can leave the container's state behind.
				exec.Command(path, "--root", state, "delete", "-f", id).Run()
			}
			return []time.Duration{d}, err
		}
		st := starter{
			rows:    []string{runtime},
			command: fmt.Sprintf("%s --root STATE run --bundle BUNDLE ID", runtime),
			run:     run,
			done:    func() error { return deleteContainers(path, state) },
			detail: fmt.Sprintf("bundle from `%s spec` with a read-only root, no terminal "+
				"and the namespaces %s", runtime, strings.Join(namespaces, ", ")),
		}
		return st, toolVersion(path, "--version"), nil
	}
}

// makeBundle writes an OCI bundle for /bin/true into dir, starting from
// the runtime's default spec, and returns the namespace types of the spec.
func makeBundle(runtimePath, dir, rootfs string) ([]string, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	cmd := exec.Command(runtimePath, "spec")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("spec: %w: %s", err, strings.TrimSpace(string(out)))
	}

	file := filepath.Join(dir, "config.json")
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	var spec map[string]any
	if err := json.Unmarshal(data, &spec); err != nil {
		return nil, fmt.Errorf("parse %s: %w", file, err)
	}
	process, ok := spec["process"].(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%s has no process object", file)
	}
	process["terminal"] = false
	process["args"] = []string{"/bin/true"}
	spec["root"] = map[string]any{"path": rootfs, "readonly": true}

	if data, err = json.MarshalIndent(spec, "", "\t"); err != nil {
		return nil, err
	}
	return specNamespaces(spec), os.WriteFile(file, data, 0o600)
}

// specNamespaces returns the types in linux.namespaces of an OCI spec.
func specNamespaces(spec map[string]any) []string {
	linux, _ := spec["linux"].(map[string]any)
	list, _ := linux["namespaces"].([]any)
	var types []string
	for _, ns := range list {
		if m, ok := ns.(map[string]any); ok {
			if t, ok := m["type"].(string); ok {
				types = append(types, t)
			}
		}
	}
	return types
}

// deleteContainers runs `delete -f` for every container whose state is
// still in the state directory.
func deleteContainers(runtimePath, state string) error {
	entries, err := os.ReadDir(state)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var errs []error
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		out, err := exec.Command(runtimePath, "--root", state, "delete", "-f", e.Name()).CombinedOutput()
		if err != nil {
			errs = append(errs, fmt.Errorf("delete %s: %w: %s", e.Name(), err, strings.TrimSpace(string(out))))
		}
	}
	return errors.Join(errs...)
}
