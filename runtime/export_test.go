package runtime

// DropLocks releases the locks that s holds on its state directory and
// its cgroup directory, as the kernel does when a supervisor dies. A test
// can then start a second supervisor on the same state directory in the
// same process, standing for one that restarts after a crash.
func DropLocks(s *Supervisor) {
	s.stateLock.unlock()
	s.cgroup.lock.unlock()
}

// CgroupInstance returns the name of the directory of s in each cgroup
// hierarchy.
func CgroupInstance(s *Supervisor) string { return cgroupInstance(s.cfg.StateDir) }
