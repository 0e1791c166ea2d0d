module ctlfs

go 1.26.8

require (
	github.com/cilium/ebpf v0.22.0 // indirect
	github.com/hanwen/go-fuse/v2 v2.12.1 // indirect
	golang.org/x/sys v0.50.0 // indirect
)
