package tests

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The tests of this file run the ctlfs command-line client as a user
// would, against a real supervisor, and check its output and exit code.

// cliResult is the outcome of one run of the client.
type cliResult struct {
	stdout, stderr string
	code           int
}

// cliCommand returns the client command with args, which finds the tree
// of s through $CTLFS_MOUNT.
func (s *server) cliCommand(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(), "CTLFS_MOUNT="+s.mnt,
		// A race-enabled client would sleep 1 s at each exit.
		"GORACE=atexit_sleep_ms=0")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	return cmd
}

// cli runs the client with args and returns its output and exit code.
func (s *server) cli(args ...string) cliResult {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := s.cliCommand(ctx, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	code := exitCodeOf(s.t, cmd.Run(), args)
	return cliResult{stdout.String(), stderr.String(), code}
}

// mustCLI runs the client with args and fails the test unless it exits 0.
func (s *server) mustCLI(args ...string) string {
	s.t.Helper()
	r := s.cli(args...)
	if r.code != 0 {
		s.t.Fatalf("ctlfs %q: exit %d, stderr %q\nserver log:\n%s", args, r.code, r.stderr, s.log)
	}
	return r.stdout
}

func exitCodeOf(t testing.TB, err error, args []string) int {
	t.Helper()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee) && ee.Exited():
		return ee.ExitCode()
	}
	t.Fatalf("ctlfs %q: %v", args, err)
	return -1
}

// checkCLI checks the exit code of r, a run of command, and that its
// stderr contains each of messages.
func checkCLI(t *testing.T, command string, r cliResult, code int, messages ...string) {
	t.Helper()
	if r.code != code {
		t.Errorf("%s: exit %d, want %d; stderr %q", command, r.code, code, r.stderr)
	}
	for _, m := range messages {
		if !strings.Contains(r.stderr, m) {
			t.Errorf("%s: stderr %q lacks %q", command, r.stderr, m)
		}
	}
}

func TestCLIRunExitCodes(t *testing.T) {
	s := startServer(t)
	tests := []struct {
		name    string
		command []string
		code    int
		stdout  string
	}{
		{"success", []string{"/bin/echo", "hello"}, 0, "hello\n"},
		{"exit 3", []string{"sh", "-c", "echo out; echo err >&2; exit 3"}, 3, "out\nerr\n"},
		{"exit 137 by itself", []string{"sh", "-c", "exit 137"}, 137, ""},
		{"killed by a signal", []string{"sh", "-c", "kill -TERM $$"}, 143, ""},
		{"not executable", []string{"/etc/passwd"}, 126, ""},
		{"quoted words", []string{"printf", "%s|", "a b", "it's", "", "$HOME", "*"}, 0,
			"a b|it's||$HOME|*|"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			name := strings.ReplaceAll(tt.name, " ", "-")
			r := s.cli(append([]string{"run", name, "--"}, tt.command...)...)
			checkCLI(t, "run", r, tt.code)
			if tt.stdout != "" && r.stdout != tt.stdout {
				t.Errorf("run printed %q, want %q", r.stdout, tt.stdout)
			}
			if code := strings.TrimSpace(s.mustCLI("wait", name)); code != strconv.Itoa(tt.code) {
				t.Errorf("wait printed %q, want %d", code, tt.code)
			}
			s.mustCLI("rm", name)
		})
	}
}

// regexpMatch reports whether text matches the regular expression re.
func regexpMatch(re, text string) bool {
	return regexp.MustCompile(re).MatchString(text)
}

// TestCLIRunStartFailure checks that a command that is not found and
// one that cannot be executed end run alike: with their exit code, the
// container kept unless --rm, as docker run does.
func TestCLIRunStartFailure(t *testing.T) {
	s := startServer(t)
	tests := []struct {
		name    string
		command []string
		code    int
		message string
		log     string // what run prints of the container's log
	}{
		{"not found", []string{"no-such-program", "arg"}, 127, `"no-such-program"`, ""},
		{"not executable", []string{"/etc/passwd"}, 126, "", "exec /etc/passwd: permission denied"},
		{"directory", []string{"/etc"}, 126, "", "exec /etc: is a directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			name := strings.ReplaceAll(tt.name, " ", "-")
			r := s.cli(append([]string{"run", name, "--"}, tt.command...)...)
			checkCLI(t, "run", r, tt.code, tt.message)
			if !strings.Contains(r.stdout, tt.log) {
				t.Errorf("run printed %q, want the log line %q", r.stdout, tt.log)
			}
			if names := s.mustCLI("ps", "-a", "-q"); names != name+"\n" {
				t.Errorf("ps -a -q after run = %q, want the kept container %s", names, name)
			}
			s.mustCLI("rm", name)

			r = s.cli(append([]string{"run", "--rm", name, "--"}, tt.command...)...)
			checkCLI(t, "run --rm", r, tt.code, tt.message)
			if names := s.mustCLI("ps", "-a", "-q"); names != "" {
				t.Errorf("ps -a -q after run --rm = %q, want nothing", names)
			}
		})
	}
	r := s.cli("run", "nf", "--", "no-such-program")
	checkCLI(t, "run of a missing program", r, 127, "ctlfs: nf: ")
	if st := s.read("nf/state"); st != "created\n" {
		t.Errorf("state after a missing program = %q, want created", st)
	}
	if reason := s.read("nf/err"); !strings.Contains(reason, `"no-such-program"`) {
		t.Errorf("nf/err = %q, want the reason naming the program", reason)
	}
}

func TestCLIRunMissingDefaultRootfs(t *testing.T) {
	s := startServer(t, "--rootfs", "/nonexistent-rootfs")
	r := s.cli("run", "nr", "--", "/bin/true")
	checkCLI(t, "run without a default rootfs", r, 125, "ctlfs: start nr: ", `"/nonexistent-rootfs"`)
}

func TestCLIRunRejectedSetting(t *testing.T) {
	s := startServer(t)
	tests := []struct {
		name    string
		flags   []string
		message string
	}{
		{"soft above hard", []string{"--soft", "64M", "--hard", "32M"}, "above hard"},
		{"bad size", []string{"--hard", "12Q"}, `"12Q"`},
		{"bad net", []string{"--net", "bridge"}, `"bridge"`},
		{"missing rootfs", []string{"--rootfs", "/no/such/dir"}, "/no/such/dir"},
		{"bad nice", []string{"--nice", "40"}, "40"},
		{"offline cpu", []string{"--cpus", "4095"}, "4095"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append(append([]string{"run"}, tt.flags...), "bad", "--", "true")
			checkCLI(t, "run", s.cli(args...), 125, "ctlfs: bad: ", tt.message)
			if _, err := os.Stat(s.path("bad")); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("container bad left after the rejected run: %v", err)
			}
		})
	}
}

func TestCLIRunSettings(t *testing.T) {
	s := startServer(t)
	out := s.mustCLI("run", "-d", "--rootfs", rootfs(t), "-e", "A=1", "-e", "B=two words",
		"--net", "host", "--soft", "32M", "--hard", "64M", "--pids", "100",
		"--cpus", "0", "--nice", "5", "set", "--", "sleep", "60")
	if out != "set\n" {
		t.Errorf("run -d printed %q, want the name", out)
	}
	want := map[string]string{
		"env":    "A=1\nB=two words\n",
		"net":    "host\n",
		"limits": "soft=33554432\nhard=67108864\npids=100\ncpus=0\n",
		"nice":   "5\n",
		"rootfs": rootfs(t) + "\n",
		"state":  "running\n",
	}
	for file, value := range want {
		if got := s.read("set/" + file); got != value {
			t.Errorf("set/%s = %q, want %q", file, got, value)
		}
	}
	s.mustCLI("rm", "-f", "set")
}

func TestCLIRunRemove(t *testing.T) {
	s := startServer(t)
	r := s.cli("run", "--rm", "-e", "GREETING=hi", "greet", "--",
		"sh", "-c", "echo $GREETING from $HOSTNAME; exit 4")
	checkCLI(t, "run --rm", r, 4)
	if r.stdout != "hi from greet\n" {
		t.Errorf("run --rm printed %q", r.stdout)
	}
	if _, err := os.Stat(s.path("greet")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("container left after run --rm: %v", err)
	}
}

// TestCLIRunForwardsSignal sends SIGINT to a foreground run, which passes
// it on to the container, as docker run does.
func TestCLIRunForwardsSignal(t *testing.T) {
	s := startServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := s.cliCommand(ctx, "run", "sig", "--", "sh", "-c", "echo ready; exec sleep 60")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := bufio.NewScanner(out)
	if !lines.Scan() || lines.Text() != "ready" {
		t.Fatalf("first line of run = %q, %v; want ready", lines.Text(), lines.Err())
	}
	cmd.Process.Signal(syscall.SIGINT)
	for lines.Scan() {
	}
	if code := exitCodeOf(t, cmd.Wait(), cmd.Args); code != 130 {
		t.Errorf("run after SIGINT exited %d, want 130", code)
	}
	if st := s.read("sig/state"); st != "exited 130 signal=INT reason=kill\n" {
		t.Errorf("sig/state = %q, want exited 130 signal=INT reason=kill", st)
	}
}

func TestCLIDetachedLifecycle(t *testing.T) {
	s := startServer(t)
	if out := s.mustCLI("run", "-d", "web", "--", "sh", "-c", "echo ready; exec sleep 60"); out != "web\n" {
		t.Fatalf("run -d printed %q, want web", out)
	}
	waitFor(t, "web's first line", func() bool { return s.read("web/log") == "ready\n" })
	if out := s.mustCLI("logs", "web"); out != "ready\n" {
		t.Errorf("logs printed %q, want ready", out)
	}

	s.mustCLI("pause", "web")
	if st := s.read("web/state"); st != "frozen\n" {
		t.Errorf("state after pause = %q, want frozen", st)
	}
	if ps := s.mustCLI("ps"); !strings.Contains(ps, "frozen") {
		t.Errorf("ps after pause lacks frozen:\n%s", ps)
	}
	s.mustCLI("unpause", "web")
	if st := s.read("web/state"); st != "running\n" {
		t.Errorf("state after unpause = %q, want running", st)
	}

	stats := s.mustCLI("stats", "--no-stream")
	if !regexpMatch(`(?m)^web\s+running\s+\d+\s+[\d.]+%\s+[\d.]+\s+[\d.]+(B|KiB|MiB)\s+max\s+-\s*$`, stats) {
		t.Errorf("stats --no-stream lacks a row for web:\n%s", stats)
	}

	if out := s.mustCLI("stop", "-t", "5", "web"); out != "web\n" {
		t.Errorf("stop printed %q, want web", out)
	}
	// stop returns once the container has exited.
	if st := s.read("web/state"); st != "exited 143 signal=TERM reason=stop\n" {
		t.Errorf("state after stop = %q, want exited 143 signal=TERM reason=stop", st)
	}
	if out := s.mustCLI("wait", "web"); out != "143\n" {
		t.Errorf("wait printed %q, want 143", out)
	}
	// stop of a container that has exited succeeds, as docker stop does.
	s.mustCLI("stop", "web")

	s.mustCLI("rm", "web")
	if _, err := os.Stat(s.path("web")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("web still in the tree after rm: %v", err)
	}
}

// TestCLIPauseTwice checks that pause of a paused container and unpause
// of a running one fail, as in docker. The tree itself accepts both
// writes and changes nothing.
func TestCLIPauseTwice(t *testing.T) {
	s := startServer(t)
	s.mustCLI("run", "-d", "p", "--", "sleep", "60")
	t.Cleanup(func() { s.cli("rm", "-f", "p") })

	r := s.cli("unpause", "p")
	checkCLI(t, "unpause of a running container", r, 125, "ctlfs: unpause p: container is not paused\n")
	if r.stdout != "" {
		t.Errorf("unpause of a running container printed %q, want nothing", r.stdout)
	}

	s.mustCLI("pause", "p")
	r = s.cli("pause", "p")
	checkCLI(t, "pause of a paused container", r, 125, "ctlfs: pause p: container is already paused")
	if r.stdout != "" {
		t.Errorf("pause of a paused container printed %q, want nothing", r.stdout)
	}
	if st := s.read("p/state"); st != "frozen\n" {
		t.Errorf("state after the second pause = %q, want frozen", st)
	}

	// The other names are still paused or resumed.
	s.mustCLI("run", "-d", "q", "--", "sleep", "60")
	t.Cleanup(func() { s.cli("rm", "-f", "q") })
	r = s.cli("pause", "p", "q")
	checkCLI(t, "pause of a paused and a running container", r, 125, "already paused")
	if r.stdout != "q\n" {
		t.Errorf("pause p q printed %q, want q", r.stdout)
	}
	if st := s.read("q/state"); st != "frozen\n" {
		t.Errorf("q/state after pause p q = %q, want frozen", st)
	}
}

func TestCLIKillAndRemove(t *testing.T) {
	s := startServer(t)
	s.mustCLI("run", "-d", "k", "--", "sleep", "60")
	checkCLI(t, "rm of a running container", s.cli("rm", "k"), 125, "ctlfs: ", "running")
	if out := s.mustCLI("kill", "-s", "TERM", "k"); out != "k\n" {
		t.Errorf("kill printed %q, want k", out)
	}
	if out := s.mustCLI("wait", "k"); out != "143\n" {
		t.Errorf("wait after kill -s TERM printed %q, want 143", out)
	}
	if st := s.read("k/state"); st != "exited 143 signal=TERM reason=kill\n" {
		t.Errorf("state after kill -s TERM = %q", st)
	}
	checkCLI(t, "kill of an exited container", s.cli("kill", "k"), 125, "ctlfs: kill k: container is not running\n")
	s.mustCLI("rm", "k")

	s.mustCLI("run", "-d", "f", "--", "sleep", "60")
	if out := s.mustCLI("rm", "-f", "f"); out != "f\n" {
		t.Errorf("rm -f printed %q, want f", out)
	}
	if _, err := os.Stat(s.path("f")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("f still in the tree after rm -f: %v", err)
	}
}

func TestCLIPs(t *testing.T) {
	s := startServer(t)
	s.mustCLI("run", "-d", "--nice", "3", "up", "--", "sleep", "60")
	s.mustCLI("run", "done", "--", "true")
	t.Cleanup(func() { s.cli("rm", "-f", "up", "done") })

	ps := s.mustCLI("ps")
	if !regexpMatch(`(?m)^NAME\s+STATE\s+PID\s+RSS\s+NICE\s+COMMAND$`, ps) {
		t.Errorf("ps header missing:\n%s", ps)
	}
	if !regexpMatch(`(?m)^up\s+running\s+\d+\s+\d+\s+3\s+sleep 60$`, ps) {
		t.Errorf("ps lacks the running container:\n%s", ps)
	}
	if strings.Contains(ps, "done") {
		t.Errorf("ps lists the exited container:\n%s", ps)
	}
	all := s.mustCLI("ps", "-a")
	if !regexpMatch(`(?m)^done\s+exited 0\s+-\s+-\s+0\s+true$`, all) {
		t.Errorf("ps -a lacks the exited container:\n%s", all)
	}
	if q := s.mustCLI("ps", "-a", "-q"); q != "up\ndone\n" && q != "done\nup\n" {
		t.Errorf("ps -a -q = %q, want the two names", q)
	}
	if human := s.mustCLI("ps", "--human"); !regexpMatch(`(?m)^up\s+running\s+\d+\s+[\d.]+(KiB|MiB)\s`, human) {
		t.Errorf("ps --human shows no size in KiB or MiB:\n%s", human)
	}
	// --mount does what $CTLFS_MOUNT does.
	if q := s.mustCLI("ps", "-q", "--mount", s.mnt); q != "up\n" {
		t.Errorf("ps -q --mount = %q, want up", q)
	}
}

func TestCLILogsFollow(t *testing.T) {
	s := startServer(t)
	s.mustCLI("run", "-d", "talk", "--", "sh", "-c", "echo one; sleep 1; echo two")
	// logs -f returns once the container has exited, with every line.
	if out := s.mustCLI("logs", "-f", "talk"); out != "one\ntwo\n" {
		t.Errorf("logs -f printed %q, want one and two", out)
	}
	if st := s.read("talk/state"); st != "exited 0\n" {
		t.Errorf("state after logs -f = %q, want exited 0", st)
	}
}

func TestCLIEvents(t *testing.T) {
	s := startServer(t)
	since := time.Now().UTC().Format(time.RFC3339Nano)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	follow := s.cliCommand(ctx, "events", "--since", since)
	out, err := follow.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := follow.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { follow.Process.Kill(); follow.Wait() }()

	s.mustCLI("run", "ev", "--", "true")
	lines := bufio.NewScanner(out)
	var seen []string
	for _, event := range []string{"created", "started", "exited"} {
		for !strings.Contains(strings.Join(seen, "\n"), " ev "+event) {
			if !lines.Scan() {
				t.Fatalf("events ended before %s: %v; lines:\n%s", event, lines.Err(), strings.Join(seen, "\n"))
			}
			seen = append(seen, lines.Text())
		}
	}

	// --until 0s prints the events so far and exits.
	past := s.mustCLI("events", "--since", "0", "--until", "0s", "ev")
	for _, event := range []string{" ev created", " ev started pid=", " ev exited code=0"} {
		if !strings.Contains(past, event) {
			t.Errorf("events ev --since 0 --until 0s lacks %q:\n%s", event, past)
		}
	}
}

func TestCLIUnknownContainer(t *testing.T) {
	s := startServer(t)
	for _, args := range [][]string{
		{"logs", "ghost"}, {"logs", "-f", "ghost"}, {"stop", "ghost"}, {"kill", "ghost"},
		{"rm", "ghost"}, {"pause", "ghost"}, {"unpause", "ghost"}, {"wait", "ghost"},
		{"stats", "ghost"}, {"events", "ghost"}, {"logs", "status"}, {"rm", "../x"},
	} {
		checkCLI(t, strings.Join(args, " "), s.cli(args...), 125, "ctlfs: ")
	}
	checkCLI(t, "stop ghost", s.cli("stop", "ghost"), 125, "no such container: ghost")
	checkCLI(t, "rm ../x", s.cli("rm", "../x"), 125, "invalid container name")
}

func TestCLINoSupervisor(t *testing.T) {
	dir := t.TempDir()
	s := &server{t: t, mnt: filepath.Join(dir, "missing")}
	for _, args := range [][]string{
		{"ps"}, {"run", "x", "--", "true"}, {"logs", "x"}, {"stop", "x"}, {"kill", "x"},
		{"rm", "x"}, {"pause", "x"}, {"unpause", "x"}, {"wait", "x"},
		{"stats", "--no-stream"}, {"events"},
	} {
		checkCLI(t, strings.Join(args, " "), s.cli(args...), 125,
			"no ctlfs tree at "+s.mnt, "ctlfs serve --mount "+s.mnt)
	}
	s.mnt = dir
	checkCLI(t, "ps in a plain directory", s.cli("ps"), 125, "no status file")
}

func TestCLIDeadSupervisor(t *testing.T) {
	s := startServer(t)
	s.mustCLI("run", "-d", "orphan", "--", "sleep", "60")
	s.kill()
	checkCLI(t, "ps", s.cli("ps"), 125, "is not running", "ctlfs serve --mount "+s.mnt)
	checkCLI(t, "stop", s.cli("stop", "orphan"), 125, "is not running")

	// A new supervisor takes the stale mount over and removes the
	// container's cgroups, which the end of the test checks.
	s2 := startServerAt(t, s.mnt, s.stateDir)
	if out := s2.mustCLI("wait", "orphan"); out != "137\n" {
		t.Errorf("wait after the restart printed %q, want 137", out)
	}
}

func TestCLIHelpUnits(t *testing.T) {
	s := &server{t: t, mnt: t.TempDir()}
	tests := []struct {
		command string
		units   []string
	}{
		{"run", []string{"--hard SIZE", "powers of 1024", "--nice N", "-20", "--cpus LIST", "--mount DIR"}},
		{"ps", []string{"in bytes", "KiB"}},
		{"logs", []string{"--follow"}},
		{"stop", []string{"--time SECONDS", "decimal number"}},
		{"kill", []string{"--signal SIGNAL", "1 to 64"}},
		{"rm", []string{"--force"}},
		{"pause", []string{"freeze"}},
		{"unpause", []string{"thaw"}},
		{"wait", []string{"exit code"}},
		{"stats", []string{"--interval DURATION", "500ms", "--no-stream"}},
		{"events", []string{"--since TIME", "RFC 3339", "Unix seconds"}},
		{"serve", []string{"--grace DURATION", "--log-max SIZE"}},
		{"experiment", []string{"--hard SIZE", "--mount DIR"}},
	}
	for _, tt := range tests {
		t.Run(tt.command, func(t *testing.T) {
			r := s.cli(tt.command, "--help")
			checkCLI(t, tt.command+" --help", r, 0)
			for _, unit := range tt.units {
				if !strings.Contains(r.stdout, unit) {
					t.Errorf("%s --help lacks %q:\n%s", tt.command, unit, r.stdout)
				}
			}
		})
	}
}

func TestCLIStatsCPU(t *testing.T) {
	s := startServer(t)
	s.mustCLI("run", "-d", "busy", "--", "sh", "-c", "while :; do :; done")
	stats := s.mustCLI("stats", "--no-stream", "busy")
	m := regexp.MustCompile(`(?m)^busy\s+running\s+\d+\s+([\d.]+)%\s+([\d.]+)\s`).FindStringSubmatch(stats)
	if m == nil {
		t.Fatalf("stats --no-stream busy lacks a row with CPU %% and CPU time:\n%s", stats)
	}
	if percent, _ := strconv.ParseFloat(m[1], 64); percent <= 0 {
		t.Errorf("CPU %% of a busy loop = %s, want more than 0:\n%s", m[1], stats)
	}
	if seconds, _ := strconv.ParseFloat(m[2], 64); seconds <= 0 {
		t.Errorf("CPU time of a busy loop = %s, want more than 0:\n%s", m[2], stats)
	}
	s.mustCLI("kill", "busy")
}

// TestServeFailureLeavesNoMountPoint checks that a serve rejected at
// start removes the mount point it created.
func TestServeFailureLeavesNoMountPoint(t *testing.T) {
	dir := t.TempDir()
	mnt := filepath.Join(dir, "mnt")
	cmd := exec.Command(bin, "serve", "--mount", mnt, "--state-dir", filepath.Join(dir, "a,b"),
		"--rootfs", rootfs(t))
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("serve with a state directory with a comma succeeded:\n%s", out)
	}
	if !strings.Contains(string(out), "overlayfs cannot use a path with ',' or ':'") {
		t.Errorf("serve output lacks the reason:\n%s", out)
	}
	if _, err := os.Lstat(mnt); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("mount point %s after the failed serve: %v, want it removed", mnt, err)
	}
}

// TestCLIDetachedStartFailure checks that run -d of a command that cannot
// be executed fails with its exit code, and keeps the container as run
// does without -d.
func TestCLIDetachedStartFailure(t *testing.T) {
	s := startServer(t)
	r := s.cli("run", "-d", "nx", "--", "/etc/passwd")
	checkCLI(t, "run -d of a file that is not executable", r, 126,
		"nx: exited 126 reason=start-failed: exec /etc/passwd: permission denied")
	if r.stdout != "" {
		t.Errorf("run -d printed %q, want nothing on stdout", r.stdout)
	}
	if st := s.read("nx/state"); st != "exited 126 reason=start-failed\n" {
		t.Errorf("nx/state = %q, want exited 126 reason=start-failed", st)
	}
}

// TestStartFailureShowsAtOnce checks that the write of cmd returns only
// once the command runs or its container has exited because it could not
// be executed, so that state read right after it is final for the start.
func TestStartFailureShowsAtOnce(t *testing.T) {
	s := startServer(t)
	out := s.mustSh("mkdir a b && echo /etc/passwd > a/cmd && cat a/state && echo 'sleep 60' > b/cmd && cat b/state")
	if out != "exited 126 reason=start-failed\nrunning\n" {
		t.Errorf("states right after the writes = %q, want exited 126 reason=start-failed, then running", out)
	}
	// The command has been executed: the init's child is sleep already.
	pid := strings.TrimSpace(s.read("b/pid"))
	children, err := os.ReadFile("/proc/" + pid + "/task/" + pid + "/children")
	if fields := strings.Fields(string(children)); err != nil || len(fields) != 1 {
		t.Errorf("children of b's init: %q, %v; want the command", children, err)
	} else if comm, _ := os.ReadFile("/proc/" + fields[0] + "/comm"); string(comm) != "sleep\n" {
		t.Errorf("b's command is %q, want sleep", comm)
	}
	s.mustSh("echo kill > b/ctl; cat b/wait")
}
