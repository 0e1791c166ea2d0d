package runtime

import (
	"errors"
	"fmt"
	pathpkg "path"
	"strings"

	"golang.org/x/sys/unix"
)

// lookProgram finds the program of a command inside rootfs, as the
// container will see it: in the directories of path, a PATH value, when
// name has no slash, relative to / when it has one. Symbolic links are resolved inside rootfs (RESOLVE_IN_ROOT),
// so an absolute link such as /bin/sh -> /bin/busybox is followed the way
// the container follows it. It returns the path inside the container and
// fails with ErrNotFound when no such file exists.
func lookProgram(rootfs, name, path string) (string, error) {
	root, err := unix.Open(rootfs, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return "", fmt.Errorf("open rootfs %q: %w", rootfs, err)
	}
	defer unix.Close(root)

	candidates := []string{pathpkg.Join("/", name)}
	if !strings.Contains(name, "/") {
		candidates = candidates[:0]
		for _, dir := range strings.Split(path, ":") {
			if !strings.HasPrefix(dir, "/") {
				continue // relative entries would depend on the working directory
			}
			candidates = append(candidates, pathpkg.Join(dir, name))
		}
	}
	for _, p := range candidates {
		ok, err := isFileIn(root, p)
		if err != nil {
			return "", fmt.Errorf("look up %q in rootfs %q: %w", p, rootfs, err)
		}
		if ok {
			return p, nil
		}
	}
	if strings.Contains(name, "/") {
		return "", fmt.Errorf("program %q in rootfs %q: %w", name, rootfs, ErrNotFound)
	}
	return "", fmt.Errorf("program %q in rootfs %q, PATH %s: %w", name, rootfs, path, ErrNotFound)
}

// isFileIn reports whether p names something other than a directory under
// the directory root, resolving symbolic links as if root were /.
func isFileIn(root int, p string) (bool, error) {
	how := &unix.OpenHow{
		Flags:   unix.O_PATH | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS,
	}
	fd, err := unix.Openat2(root, p, how)
	// With RESOLVE_IN_ROOT the kernel fails with EAGAIN when a rename or a
	// mount anywhere on the host raced with the lookup, as other
	// containers' starts do, and openat2(2) tells the caller to retry.
	for i := 0; errors.Is(err, unix.EAGAIN) && i < 100; i++ {
		fd, err = unix.Openat2(root, p, how)
	}
	if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR) || errors.Is(err, unix.ELOOP) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return false, err
	}
	return st.Mode&unix.S_IFMT != unix.S_IFDIR, nil
}
