// Command ctlfs-init is a container's init. The supervisor, ctlfs serve,
// starts it from beside its own binary in each container's new namespaces;
// it is not meant to be run by hand. It is a separate program so that the
// init, whose memory counts against the container's limits, loads only
// what it needs.
package main

import "ctlfs/runtime/initproc"

func main() { initproc.Run() }
