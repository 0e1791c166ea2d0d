package main

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// rootfsStamp is the file that make rootfs writes last into the rootfs,
// with the rootfs source in it. Reading it from inside shows that a tool
// ran its command on that rootfs.
const rootfsStamp = ".ctlfs-rootfs"

// namespaceTypes are the namespace types that the inspection lists, by
// their names in /proc/PID/ns.
var namespaceTypes = []string{"pid", "mnt", "uts", "ipc", "net", "cgroup", "user"}

// inspectScript is a busybox sh script that prints one "TYPE LINK" line
// per namespace of the shell, then the rootfs stamp seen from inside.
var inspectScript = "for n in " + strings.Join(namespaceTypes, " ") + "; do " +
	`echo "$n $(readlink /proc/self/ns/$n)"; done; ` +
	"echo \"root $(cat /" + rootfsStamp + " 2>/dev/null)\""

// inspectArgv is the command that a tool runs for the inspection.
var inspectArgv = []string{"/bin/sh", "-c", inspectScript}

// isolation is the result of the inspection inside a tool's container.
type isolation struct {
	namespaces []string // types in which the command was in a new namespace
	unknown    []string // types that could not be read, as without /proc
	rootfs     bool     // the command saw the rootfs under test as /
}

// parseInspection compares the output of inspectScript with the
// namespaces of the harness. expectedStamp is the rootfs stamp's content.
func parseInspection(output, expectedStamp string) (isolation, error) {
	var iso isolation
	seen := map[string]bool{}
	for line := range strings.Lines(output) {
		key, value, _ := strings.Cut(strings.TrimSpace(line), " ")
		value = strings.TrimSpace(value)
		if key == "root" {
			iso.rootfs = value != "" && value == expectedStamp
			seen[key] = true
			continue
		}
		if !slices.Contains(namespaceTypes, key) {
			continue
		}
		seen[key] = true
		own, err := os.Readlink(filepath.Join("/proc/self/ns", key))
		switch {
		case value == "" || err != nil:
			iso.unknown = append(iso.unknown, key)
		case value != own:
			iso.namespaces = append(iso.namespaces, key)
		}
	}
	for _, key := range append(slices.Clone(namespaceTypes), "root") {
		if !seen[key] {
			return iso, fmt.Errorf("inspection output has no %s line: %q", key, output)
		}
	}
	return iso, nil
}

// namespacesCell returns the new namespaces for the latency table.
func (iso isolation) namespacesCell() string {
	cell := strings.Join(iso.namespaces, " ")
	if cell == "" {
		cell = "none"
	}
	if len(iso.unknown) > 0 {
		cell += " (" + strings.Join(iso.unknown, " ") + " unreadable)"
	}
	return cell
}

func (iso isolation) rootCell() string {
	if iso.rootfs {
		return "rootfs"
	}
	return "not the rootfs"
}

// readStamp returns the rootfs stamp's content.
func readStamp(rootfs string) (string, error) {
	data, err := os.ReadFile(filepath.Join(rootfs, rootfsStamp))
	return strings.TrimSpace(string(data)), err
}
