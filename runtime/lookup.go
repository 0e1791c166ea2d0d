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
	explicit := strings.Contains(name, "/")
	for _, p := range candidates {
		found, dir, err := lookIn(root, p)
		if err != nil {
			return "", fmt.Errorf("look up %q in rootfs %q: %w", p, rootfs, err)
		}
		// A path names the program even when it is a directory, whose
		// exec then fails with 126, as for any file that cannot be
		// executed. A search of PATH skips directories, as shells do.
		if found && (explicit || !dir) {
			return p, nil
		}
	}
	if explicit {
		return "", fmt.Errorf("program %q in rootfs %q: %w", name, rootfs, ErrNotFound)
	}
	return "", fmt.Errorf("program %q in rootfs %q, PATH %s: %w", name, rootfs, path, ErrNotFound)
}

// lookIn reports whether p names something under the directory root, and
// whether that is a directory, resolving symbolic links as if root were /.
func lookIn(root int, p string) (found, dir bool, err error) {
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
		return false, false, nil
	}
	if err != nil {
		return false, false, err
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return false, false, err
	}
	return true, st.Mode&unix.S_IFMT == unix.S_IFDIR, nil
}
