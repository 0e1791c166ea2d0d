package monitor

import (
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// maxProcessSyncs is the most processes of a cgroup that syncCgroup
// syncs one by one. Each costs four system calls, while the walk of every
// task costs time in proportion to the tasks of the host.
// NOTE: the limit is a guess, not measured against the walk.
const maxProcessSyncs = 64

// syncCgroup runs sync_mms over the processes of the cgroup v2 directory
// at path, one process at a time, where the kernel can iterate the tasks
// of one process (Linux 6.1). It walks every task of the host instead
// where it cannot, or when the cgroup has more than maxProcessSyncs
// processes. Callers hold m.mu.
func (m *ebpfMonitor) syncCgroup(path string) error {
	pids, err := cgroupPIDs(path)
	if err != nil || len(pids) > maxProcessSyncs || m.noProcessIter {
		return m.syncMMs()
	}
	for _, pid := range pids {
		err := m.syncProcess(pid)
		switch {
		case err == nil, errors.Is(err, unix.ESRCH), errors.Is(err, unix.ENOENT):
			// A process that exited meanwhile has nothing to sync.
		case errors.Is(err, unix.EINVAL):
			m.noProcessIter = true
			return m.syncMMs()
		default:
			return err
		}
	}
	return nil
}

// iterLinkCreate is the part of union bpf_attr that BPF_LINK_CREATE reads
// for an iterator, from include/uapi/linux/bpf.h.
type iterLinkCreate struct {
	progFD      uint32
	targetFD    uint32
	attachType  uint32
	flags       uint32
	iterInfo    uint64 // pointer to a taskIterInfo
	iterInfoLen uint32
	_           uint32
}

// taskIterInfo is the task member of union bpf_iter_link_info: a pid
// limits the iterator to the threads of that process.
type taskIterInfo struct {
	tid, pid, pidFD uint32
	_               uint32
}

// syncProcess runs sync_mms over the threads of process pid only. It
// fails with EINVAL where the kernel cannot limit a task iterator.
func (m *ebpfMonitor) syncProcess(pid int) error {
	// The kernel reads info through a pointer inside attr, which the
	// runtime would not update if it moved info.
	info := &taskIterInfo{pid: uint32(pid)}
	var pinner runtime.Pinner
	pinner.Pin(info)
	defer pinner.Unpin()
	attr := iterLinkCreate{
		progFD:      uint32(m.objs.SyncMms.FD()),
		attachType:  unix.BPF_TRACE_ITER,
		iterInfo:    uint64(uintptr(unsafe.Pointer(info))),
		iterInfoLen: uint32(unsafe.Sizeof(*info)),
	}
	linkFD, err := bpfCall(unix.BPF_LINK_CREATE, unsafe.Pointer(&attr), unsafe.Sizeof(attr))
	if err != nil {
		return fmt.Errorf("create task iterator of process %d: %w", pid, err)
	}
	defer unix.Close(linkFD)
	iterAttr := struct{ linkFD, flags uint32 }{linkFD: uint32(linkFD)}
	iterFD, err := bpfCall(unix.BPF_ITER_CREATE, unsafe.Pointer(&iterAttr), unsafe.Sizeof(iterAttr))
	if err != nil {
		return fmt.Errorf("open task iterator of process %d: %w", pid, err)
	}
	f := os.NewFile(uintptr(iterFD), "sync_mms")
	defer f.Close()
	if _, err := io.Copy(io.Discard, f); err != nil {
		return fmt.Errorf("run task iterator of process %d: %w", pid, err)
	}
	return nil
}

// bpfCall makes the bpf system call cmd with attr and returns the
// descriptor it creates.
func bpfCall(cmd int, attr unsafe.Pointer, size uintptr) (int, error) {
	fd, _, errno := unix.Syscall(unix.SYS_BPF, uintptr(cmd), uintptr(attr), size)
	if errno != 0 {
		return -1, errno
	}
	return int(fd), nil
}
