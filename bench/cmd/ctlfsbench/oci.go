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
// run has a new container ID. crun runs in a mount namespace without the
// cgroup v2 hierarchy on a hybrid host whose v2 hierarchy has controllers,
// because it rejects such a host.
func ociStarter(runtime string) func(*commandRunner, options, string) (starter, string, error) {
	return func(runner *commandRunner, opts options, dir string) (starter, string, error) {
		path, err := lookTool(runtime, runtime)
		if err != nil {
			return starter{}, "", err
		}
		bundle := filepath.Join(dir, runtime+"-bundle")
		namespaces, err := makeBundle(path, bundle, opts.rootfs, []string{"/bin/true"})
		if err == nil {
			_, err = makeBundle(path, bundle+"-inspect", opts.rootfs, inspectArgv)
		}
		if err != nil {
			return starter{}, "", fmt.Errorf("%s: %w", runtime, err)
		}
		st, err := newOCIStarter(runtime, path, dir, runner)
		if err != nil {
			return starter{}, "", err
		}
		st.whole = []string{path, "--root", filepath.Join(dir, runtime+"-state"), "run", "--bundle", bundle,
			fmt.Sprintf("%s-hyperfine", idPrefix())}
		st.detail = fmt.Sprintf("bundle from `%s spec` with a read-only root, no terminal "+
			"and the namespaces %s", runtime, strings.Join(namespaces, ", ")) + st.detail
		return st, toolVersion(path, "--version"), nil
	}
}

// idPrefix starts the IDs of the harness's OCI containers, which also
// name their cgroups.
func idPrefix() string {
	return fmt.Sprintf("ctlfsbench-%d", os.Getpid())
}

// newOCIStarter returns the starter's run, inspect, start and done
// functions, which run the runtime on a thread with the cgroup v2
// hierarchy unmounted when the runtime is crun on a hybrid host.
func newOCIStarter(runtime, path, dir string, runner *commandRunner) (starter, error) {
	state := filepath.Join(dir, runtime+"-state")
	bundle := filepath.Join(dir, runtime+"-bundle")
	st := starter{
		rows:    []string{runtime},
		command: fmt.Sprintf("%s --root STATE run --bundle BUNDLE ID", runtime),
	}
	in := func(f func()) { f() }
	var thread *v1OnlyThread
	if controllers := hybridV2Controllers(); runtime == "crun" && len(controllers) > 0 {
		var err error
		if thread, err = newV1OnlyThread(); err != nil {
			return starter{}, fmt.Errorf("crun: %w", err)
		}
		in = thread.do
		st.detail = fmt.Sprintf("; run in a private mount namespace of the harness without %s, "+
			"because crun rejects a hybrid host whose cgroup v2 hierarchy has controllers (here %s)",
			unifiedMount, strings.Join(controllers, ", "))
	}

	seq := 0
	runOnce := func(bundle string, stdout bool) (d time.Duration, out string, err error) {
		seq++
		id := fmt.Sprintf("%s-%d", idPrefix(), seq)
		argv := []string{path, "--root", state, "run", "--bundle", bundle, id}
		in(func() {
			if stdout {
				out, err = runner.output(argv)
			} else {
				d, err = runner.time(argv, nil)
			}
		})
		if err != nil {
			// A failed run can leave the container's state behind.
			in(func() { exec.Command(path, "--root", state, "delete", "-f", id).Run() })
		}
		return d, out, err
	}
	st.run = func() ([]time.Duration, error) {
		d, _, err := runOnce(bundle, false)
		return []time.Duration{d}, err
	}
	st.inspect = func() (string, error) {
		_, out, err := runOnce(bundle+"-inspect", true)
		return out, err
	}
	st.start = func(cmd *exec.Cmd) (err error) {
		in(func() { err = cmd.Run() })
		return err
	}
	st.done = func() error {
		var err error
		in(func() { err = deleteContainers(path, state) })
		if thread != nil {
			thread.close()
		}
		return errors.Join(err, removeLeftoverCgroups(idPrefix()))
	}
	return st, nil
}

// makeBundle writes an OCI bundle for args into dir, starting from the
// runtime's default spec, and returns the namespace types of the spec.
func makeBundle(runtimePath, dir, rootfs string, args []string) ([]string, error) {
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
	process["args"] = args
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

// removeLeftoverCgroups removes the cgroups named after the harness's OCI
// containers that a runtime left behind, in every hierarchy under
// /sys/fs/cgroup, and returns an error naming them. Both runtimes name a
// container's cgroup after its ID when the spec sets no cgroupsPath.
func removeLeftoverCgroups(prefix string) error {
	var found []string
	for _, pattern := range []string{"/sys/fs/cgroup/" + prefix + "*", "/sys/fs/cgroup/*/" + prefix + "*"} {
		matches, _ := filepath.Glob(pattern)
		found = append(found, matches...)
	}
	if len(found) == 0 {
		return nil
	}
	errs := []error{fmt.Errorf("a runtime left the cgroups %s, which the harness removed", strings.Join(found, " "))}
	for _, dir := range found {
		if err := os.Remove(dir); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
