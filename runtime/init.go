package runtime

import "ctlfs/runtime/initproc"

// InitArg is the first argument with which the supervisor re-executes its
// own binary as a container's init when no ctlfs-init binary is installed
// beside it. A main that finds it must call RunInit.
const InitArg = initproc.Arg

// RunInit runs the container's init; it never returns.
func RunInit() { initproc.Run() }
