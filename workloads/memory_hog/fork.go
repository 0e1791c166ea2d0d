package main

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"syscall"
)

type childResult struct {
	pid int
	err error
}

// runChildren starts cfg.fork copies of this program that allocate at once,
// prints a line as each ends and returns the exit status for the parent.
func runChildren(cfg config) int {
	results := make(chan childResult, cfg.fork)
	started := 0
	for range cfg.fork {
		child, err := startChild(cfg)
		if err != nil {
			fmt.Fprintf(os.Stderr, "memory_hog: pid=%d: starting a child failed: %v\n", os.Getpid(), err)
			break
		}
		started++
		go func() { results <- childResult{child.Process.Pid, child.Wait()} }()
	}
	return waitChildren(results, started, started < cfg.fork)
}

// startChild runs this program with the options of cfg but without --fork.
func startChild(cfg config) (*exec.Cmd, error) {
	program, err := os.Executable()
	if err != nil {
		program = os.Args[0] // os.Executable needs /proc, so exec looks argv[0] up in PATH
	}
	child := exec.Command(program, childArgs(cfg)...)
	child.Stdin = os.Stdin // a nil Stdin opens /dev/null, which a bare rootfs may lack
	child.Stdout = os.Stdout
	child.Stderr = os.Stderr
	// The kernel kills a child when the parent dies, so that killing the parent stops all allocations.
	child.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	return child, child.Start()
}

func childArgs(cfg config) []string {
	args := []string{
		"--chunk", strconv.FormatInt(cfg.chunk, 10),
		"--interval", cfg.interval.String(),
		"--max", strconv.FormatInt(cfg.max, 10),
		"--threads", strconv.Itoa(cfg.threads),
	}
	if cfg.exit {
		args = append(args, "--exit")
	}
	return args
}

// waitChildren prints how each of count children ended and returns 1 if
// any failed, or if failed is already true, and 0 otherwise.
func waitChildren(results <-chan childResult, count int, failed bool) int {
	for range count {
		result := <-results
		state := "exit status 0"
		if result.err != nil {
			state = result.err.Error()
			failed = true
		}
		fmt.Printf("memory_hog: pid=%d child=%d ended: %s\n", os.Getpid(), result.pid, state)
	}
	if failed {
		return 1
	}
	return 0
}
