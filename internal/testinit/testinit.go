// Package testinit gives tests a built container init.
package testinit

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
)

// Env is the environment variable through which the supervisor finds
// the init (runtime.InitEnv, which this package cannot import).
const Env = "CTLFS_INIT"

// Path returns the path of a built ctlfs-init. Where Env is set, as make
// test and the tests' virtual machine set it, that is the program.
// Otherwise Path builds bin/ctlfs-init of the repository with make.
func Path() (string, error) {
	if path := os.Getenv(Env); path != "" {
		if _, err := os.Stat(path); err != nil {
			return "", fmt.Errorf("%s: %w", Env, err)
		}
		return path, nil
	}
	_, file, _, ok := goruntime.Caller(0)
	if !ok || !filepath.IsAbs(file) {
		return "", fmt.Errorf("find the repository: no absolute source path (built with -trimpath?); set %s", Env)
	}
	root := filepath.Join(filepath.Dir(file), "../..")
	build := exec.Command("make", "-s", "-C", root, "bin/ctlfs-init")
	if out, err := build.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build ctlfs-init: %v\n%s", err, out)
	}
	return filepath.Join(root, "bin/ctlfs-init"), nil
}

// Setenv makes Env name a built ctlfs-init (see Path) for the
// supervisors that the test binary starts.
func Setenv() error {
	path, err := Path()
	if err != nil {
		return err
	}
	return os.Setenv(Env, path)
}
