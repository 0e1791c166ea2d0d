package main

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// commandRunner runs reference commands with stdin and stdout on
// /dev/null and stderr in a file, so that no copying goroutine of os/exec
// adds to the measured time.
type commandRunner struct {
	devNull *os.File
	stderr  *os.File
}

func newCommandRunner(dir string) (*commandRunner, error) {
	devNull, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		return nil, err
	}
	stderr, err := os.OpenFile(filepath.Join(dir, "stderr"), os.O_RDWR|os.O_CREATE|os.O_TRUNC|os.O_APPEND, 0o600)
	if err != nil {
		devNull.Close()
		return nil, err
	}
	return &commandRunner{devNull: devNull, stderr: stderr}, nil
}

func (r *commandRunner) close() {
	r.devNull.Close()
	r.stderr.Close()
}

// time runs argv with stdout to stdout, or /dev/null when nil, and returns
// the time from just before the fork to just after the wait. A failure
// includes what the command wrote on stderr.
func (r *commandRunner) time(argv []string, stdout *os.File) (time.Duration, error) {
	if err := r.stderr.Truncate(0); err != nil {
		return 0, err
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = r.devNull, r.devNull, r.stderr
	if stdout != nil {
		cmd.Stdout = stdout
	}
	start := time.Now()
	err := cmd.Run()
	elapsed := time.Since(start)
	if err != nil {
		return 0, fmt.Errorf("%w: %s", err, r.stderrText())
	}
	return elapsed, nil
}

// stderrText returns the first line the last command wrote on stderr.
func (r *commandRunner) stderrText() string {
	data, err := io.ReadAll(io.NewSectionReader(r.stderr, 0, 4096))
	if err != nil {
		return err.Error()
	}
	line, _, _ := strings.Cut(strings.TrimSpace(string(data)), "\n")
	if line == "" {
		return "no output on stderr"
	}
	return line
}

// lookTool returns the path of a reference tool, or an error that names
// the Debian package providing it.
func lookTool(name, debianPackage string) (string, error) {
	path, err := exec.LookPath(name)
	if err != nil {
		return "", fmt.Errorf("%s: not installed (apt-get install -y %s)", name, debianPackage)
	}
	return path, nil
}

// toolVersion returns the first line of a tool's version output.
func toolVersion(argv ...string) string {
	out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput()
	line, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	if err != nil && line == "" {
		return "unknown version"
	}
	return line
}

// shellQuote returns argv as a shell command line, for the report.
func shellQuote(argv []string) string {
	quoted := make([]string, len(argv))
	for i, arg := range argv {
		if arg == "" || strings.ContainsAny(arg, " \t\n'\"\\$|&;<>()*?[]{}~#") {
			arg = "'" + strings.ReplaceAll(arg, "'", `'\''`) + "'"
		}
		quoted[i] = arg
	}
	return strings.Join(quoted, " ")
}

// output runs argv and returns what it wrote on stdout, up to 64 KiB.
func (r *commandRunner) output(argv []string) (string, error) {
	out, err := os.CreateTemp(filepath.Dir(r.stderr.Name()), "stdout-")
	if err != nil {
		return "", err
	}
	defer os.Remove(out.Name())
	defer out.Close()
	if _, err := r.time(argv, out); err != nil {
		return "", err
	}
	data, err := io.ReadAll(io.NewSectionReader(out, 0, 64<<10))
	return string(data), err
}
