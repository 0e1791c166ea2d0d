// Command forkbomb starts copies of itself without end, each of which does
// the same, and ignores every failure: a fork bomb that keeps trying at
// the cap instead of dying out, as a shell's does when fork fails.
//
// The first process starts one copy and then only sleeps. A Go process
// that forks at the cap can be ended by its own runtime, which exits 2
// when it cannot create a thread. A copy that ends that way is replaced
// by the others, but the first process is the container's command, and
// its end would end the container.
package main

import (
	"os"
	"os/exec"
	"time"
)

// childArg marks the copies that fork.
const childArg = "child"

func main() {
	if len(os.Args) < 2 || os.Args[1] != childArg {
		for exec.Command(os.Args[0], childArg).Start() != nil {
			time.Sleep(time.Millisecond)
		}
		for {
			time.Sleep(time.Hour)
		}
	}
	for {
		if exec.Command(os.Args[0], childArg).Start() != nil {
			time.Sleep(time.Millisecond)
		}
	}
}
