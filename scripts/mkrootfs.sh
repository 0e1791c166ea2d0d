#!/usr/bin/env bash
# Builds the root filesystem that ctlfs containers run in.
#
# Usage: scripts/mkrootfs.sh [--tar TARBALL] ROOTFS_DIR WORKLOAD_BINARY...
#
# Without --tar the tree contains busybox from Debian's busybox-static package at
# /bin/busybox, a symlink for each applet, the usual top-level directories and
# minimal /etc/passwd and /etc/group. The host's /bin/busybox is used when it
# comes from busybox-static. Otherwise the package is fetched with
# `apt-get download` and unpacked with dpkg-deb, so the host is not changed.
# With --tar the tree is TARBALL extracted, such as an Alpine minirootfs.
# Either way the WORKLOAD_BINARY files are copied to /usr/local/bin.
#
# The tree is built in a temporary directory beside ROOTFS_DIR and renamed into
# place only when complete. Its last file written is ROOTFS_DIR/.ctlfs-rootfs,
# which contains the source ("busybox-static" or the TARBALL path) and is the
# Makefile's stamp.
set -euo pipefail

STAMP_NAME=.ctlfs-rootfs
BASE_DIRS=(bin sbin usr/bin usr/sbin usr/local/bin etc proc sys dev tmp root var/tmp run)

log() { echo "mkrootfs: $*"; }
die() {
	echo "mkrootfs: error: $*" >&2
	exit 1
}
usage() {
	echo "usage: $0 [--tar TARBALL] ROOTFS_DIR WORKLOAD_BINARY..." >&2
	exit 2
}

# Prints the path of a busybox binary from busybox-static, fetching the
# package into $WORK_DIR/deb when the host does not have it.
find_busybox() {
	if dpkg-query -S /bin/busybox 2>/dev/null | grep -q '^busybox-static:'; then
		echo /bin/busybox
		return
	fi
	log "busybox-static is not installed, fetching it with apt-get download" >&2
	download_busybox_deb >&2
	dpkg-deb -x "$WORK_DIR"/busybox-static_*.deb "$WORK_DIR/deb"
	[ -x "$WORK_DIR/deb/bin/busybox" ] || die "the busybox-static package has no /bin/busybox"
	echo "$WORK_DIR/deb/bin/busybox"
}

# Downloads busybox-static_*.deb into $WORK_DIR. If that fails and the script
# runs as root, it runs `apt-get update` and tries once more.
download_busybox_deb() {
	# _apt, the user apt downloads as, must be able to write here.
	chmod 0755 "$WORK_DIR"
	mkdir -m 1777 "$WORK_DIR/download"
	if (cd "$WORK_DIR/download" && apt-get download busybox-static); then
		mv "$WORK_DIR"/download/busybox-static_*.deb "$WORK_DIR/"
		return
	fi
	[ "$(id -u)" -eq 0 ] || die "apt-get download busybox-static failed; run 'apt-get update' as root or install busybox-static"
	log "retrying after apt-get update"
	apt-get update
	(cd "$WORK_DIR/download" && apt-get download busybox-static) ||
		die "apt-get download busybox-static failed; install busybox-static or set ROOTFS_TAR"
	mv "$WORK_DIR"/download/busybox-static_*.deb "$WORK_DIR/"
}

# Fills $1 with busybox, its applet symlinks and minimal /etc files.
populate_busybox() {
	local root=$1 busybox applet dir
	busybox=$(find_busybox)
	log "using $busybox"
	for dir in "${BASE_DIRS[@]}"; do mkdir -p "$root/$dir"; done
	install -m 0755 "$busybox" "$root/bin/busybox"
	"$busybox" --list-full | while read -r applet; do
		link_applet "$root" "$applet"
	done
	write_etc_files "$root"
}

# Links $1/$2 (such as usr/bin/awk) to bin/busybox with a relative target,
# so the link also resolves when the tree is read from the host.
link_applet() {
	local root=$1 applet=$2 target=bin/busybox rest=$2
	if [ -e "$root/$applet" ] || [ -L "$root/$applet" ]; then
		return
	fi
	while [[ $rest == */* ]]; do
		target=../$target
		rest=${rest#*/}
	done
	mkdir -p "$root/$(dirname "$applet")"
	ln -s "$target" "$root/$applet"
}

write_etc_files() {
	local root=$1
	printf '%s\n' 'root:x:0:0:root:/root:/bin/sh' \
		'nobody:x:65534:65534:nobody:/nonexistent:/bin/false' >"$root/etc/passwd"
	printf '%s\n' 'root:x:0:' 'nogroup:x:65534:' >"$root/etc/group"
	chmod 0644 "$root/etc/passwd" "$root/etc/group"
}

extract_tarball() {
	local root=$1 tarball=$2
	[ -f "$tarball" ] || die "tarball not found: $tarball"
	log "extracting $tarball"
	tar -xpf "$tarball" -C "$root" --numeric-owner || die "extracting $tarball failed"
	mkdir -p "$root/usr/local/bin" "$root/proc" "$root/sys" "$root/dev" "$root/tmp"
}

# Copies the workload binaries into $1/usr/local/bin.
install_workloads() {
	local root=$1 binary
	shift
	for binary in "$@"; do
		[ -f "$binary" ] || die "workload binary not found: $binary (run 'make workloads')"
		install -m 0755 "$binary" "$root/usr/local/bin/"
	done
}

# Moves the finished tree $1 to $2. An old tree is moved into $WORK_DIR
# first and deleted with it. Between the two renames $2 does not exist, but
# a partly built tree is never at $2.
replace_rootfs() {
	local staging=$1 target=$2
	if [ -e "$target" ]; then
		mv "$target" "$WORK_DIR/old"
	fi
	mv "$staging" "$target"
}

# --one-file-system keeps rm out of anything still mounted inside the tree.
remove_work_dir() {
	rm -rf --one-file-system "$WORK_DIR" || echo "mkrootfs: warning: removing $WORK_DIR failed" >&2
}

main() {
	local tarball="" rootfs staging
	if [ "${1-}" = --tar ]; then
		[ $# -ge 2 ] || usage
		tarball=$2
		shift 2
	fi
	[ $# -ge 1 ] || usage
	rootfs=${1%/}
	shift

	mkdir -p "$(dirname "$rootfs")"
	WORK_DIR=$(mktemp -d "$(dirname "$rootfs")/.mkrootfs.XXXXXX")
	trap remove_work_dir EXIT
	staging=$WORK_DIR/rootfs
	mkdir -m 0755 "$staging"

	if [ -n "$tarball" ]; then
		extract_tarball "$staging" "$tarball"
	else
		populate_busybox "$staging"
		chmod 1777 "$staging/tmp" "$staging/var/tmp"
		chmod 0700 "$staging/root"
	fi
	install_workloads "$staging" "$@"
	echo "${tarball:-busybox-static}" >"$staging/$STAMP_NAME"
	replace_rootfs "$staging" "$rootfs"
	log "built $rootfs from ${tarball:-busybox-static}"
}

main "$@"
