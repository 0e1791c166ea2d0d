#!/usr/bin/env bash
# Runs the tests of ctlfs on a pure cgroup v2 host: a qemu virtual machine
# that boots Debian's Linux 6.12 kernel with only cgroup2 mounted at
# /sys/fs/cgroup, all controllers in it. The machine shares the host's
# root file system read-only over 9p, under an in-memory overlay, so it
# runs the host's go, shell and tools on the test binaries built here.
# tests/vm/vminit is its init and tests/vm/guest.sh picks the tests.
#
# Usage: tests/vm/run.sh (from the repository root, as root, after
# make rootfs; make test-cgroup2 does both).
#
# Needs qemu-system-x86_64 (Debian package qemu-system-x86). It uses KVM
# when the CPU has hardware virtualization and /dev/kvm opens, and qemu's
# emulator otherwise, several times slower. The kernel package is
# fetched with apt-get download and unpacked under VM_DIR; nothing is
# installed on the host. It exits 0 when every test passed, 1 when one
# failed or the machine did not report, and 0 with a message when qemu
# is missing.
#
# Environment, with defaults:
#   VM_DIR=build/vm                   where it builds and downloads
#   VM_KERNEL_PACKAGE=linux-image-6.12-amd64
#                                     a Debian kernel image package, or a
#                                     meta-package of one, with BTF
#   VM_ACCEL=                         kvm or tcg; chosen when empty
#   VM_MEMORY=4096                    the machine's memory, in MiB
#   VM_TIMEOUT=25m                    for the whole run of the machine
#   VM_GUEST=tests/vm/guest.sh        the script the machine runs, with
#                                     the output directory as argument
set -euo pipefail

VM_DIR=${VM_DIR:-build/vm}
VM_KERNEL_PACKAGE=${VM_KERNEL_PACKAGE:-linux-image-6.12-amd64}
VM_ACCEL=${VM_ACCEL:-}
VM_MEMORY=${VM_MEMORY:-4096}
VM_TIMEOUT=${VM_TIMEOUT:-25m}
VM_GUEST=${VM_GUEST:-tests/vm/guest.sh}
# Modules that mounting the root file system needs, dependencies first:
# the kernel has 9p and overlayfs as modules.
MODULES=(fs/netfs/netfs net/9p/9pnet net/9p/9pnet_virtio fs/9p/9p fs/overlayfs/overlay)
# Test packages whose binaries the machine runs (see guest.sh).
PACKAGES=(monitor runtime tests)

log() { echo "vm: $*"; }
die() {
	echo "vm: error: $*" >&2
	exit 1
}

# Prints the name of the kernel image package that VM_KERNEL_PACKAGE is or
# depends on.
kernel_package() {
	local name=$VM_KERNEL_PACKAGE dep
	dep=$(apt-cache depends "$name" 2>/dev/null |
		awk '$1 == "Depends:" && $2 ~ /^linux-image-[0-9]/ {print $2; exit}')
	echo "${dep:-$name}"
}

# Downloads the kernel package once and keeps only what the machine needs
# under $VM_DIR/kernel/NAME: the image as vmlinuz, the modules in MODULES,
# and a file "order" that lists the modules in loading order. Prints that
# directory.
fetch_kernel() {
	local name dir tmp m file
	name=$(kernel_package)
	dir=$VM_DIR/kernel/$name
	if [ -f "$dir/order" ]; then
		echo "$dir"
		return
	fi
	log "fetching $name with apt-get download" >&2
	rm -rf "$VM_DIR"/kernel.* # left by a failed fetch
	tmp=$(mktemp -d "$VM_DIR/kernel.XXXXXX")
	# _apt, the user apt downloads as, must be able to write there.
	chmod 777 "$tmp"
	if ! (cd "$tmp" && apt-get download "$name" >&2); then
		rm -rf "$tmp"
		die "cannot download $name; run apt-get update, or set VM_KERNEL_PACKAGE"
	fi
	dpkg-deb -x "$tmp"/*.deb "$tmp/root"

	mkdir -p "$tmp/keep"
	file=$(echo "$tmp"/root/boot/vmlinuz-*)
	[ -f "$file" ] || die "$name has no /boot/vmlinuz-*; set VM_KERNEL_PACKAGE to a kernel image package"
	mv "$file" "$tmp/keep/vmlinuz"
	for m in "${MODULES[@]}"; do
		file=$(echo "$tmp"/root/lib/modules/*/kernel/"$m".ko*)
		[ -f "$file" ] || die "$name has no module $m"
		mv "$file" "$tmp/keep/"
		basename "$file" >>"$tmp/keep/order"
	done

	rm -rf "$dir"
	mkdir -p "$(dirname "$dir")"
	mv "$tmp/keep" "$dir"
	rm -rf "$tmp"
	echo "$dir"
}

# Builds the initramfs: vminit as /init and the modules it loads.
build_initramfs() {
	local kernel=$1 tree=$VM_DIR/initramfs
	rm -rf "$tree"
	mkdir -p "$tree"
	CGO_ENABLED=0 go build -o "$tree/init" ./tests/vm/vminit
	cp -r "$kernel" "$tree/modules"
	rm "$tree/modules/vmlinuz"
	(cd "$tree" && find . | busybox cpio -o -H newc 2>/dev/null) >"$VM_DIR/initramfs.cpio"
}

# Builds the test binaries, without the race detector, which would make
# the emulated machine slower still. go build warms the cache for the
# supervisor that the tests package builds inside the machine.
build_tests() {
	local pkg
	mkdir -p "$VM_DIR/out/bin"
	for pkg in "${PACKAGES[@]}"; do
		go test -c -o "$VM_DIR/out/bin/$pkg.test" "./$pkg"
	done
	go build ./cmd/ctlfs
	make -s bin/ctlfs-init
}

# Prints kvm when the machine can use KVM, else tcg, qemu's emulator.
# /dev/kvm alone is not enough: some hosts offer it without hardware
# virtualization in the CPU, and then it runs only specially built kernels.
choose_accel() {
	if [ -n "$VM_ACCEL" ]; then
		echo "$VM_ACCEL"
	elif grep -qwE 'vmx|svm' /proc/cpuinfo && [ -r /dev/kvm ] && [ -w /dev/kvm ]; then
		echo kvm
	else
		log "no hardware virtualization (no vmx or svm flag in /proc/cpuinfo): using qemu's emulator" >&2
		echo tcg
	fi
}

main() {
	if ! command -v qemu-system-x86_64 >/dev/null; then
		log "SKIP: qemu-system-x86_64 not found; apt-get install qemu-system-x86 to run the tests on a pure cgroup v2 host"
		exit 0
	fi
	[ "$(id -u)" = 0 ] || die "must run as root: the tests mount file systems and create cgroups"
	command -v busybox >/dev/null || die "busybox not found; apt-get install busybox-static"
	mkdir -p "$VM_DIR"
	VM_DIR=$(realpath "$VM_DIR")

	local kernel accel accel_opts cpu out=$VM_DIR/out start code
	kernel=$(fetch_kernel)
	build_initramfs "$kernel"
	rm -rf "$out"
	build_tests
	accel=$(choose_accel)
	# One host thread runs both virtual CPUs. With a thread per CPU, one
	# CPU ran a stale copy of kernel text that the other had just patched,
	# when a BPF program attached to the rss_stat tracepoint switched its
	# static key. The kernel then oopsed on int3 at trace_rss_stat+0x1, in
	# 2 of 4 runs.
	cpu=max accel_opts=tcg,thread=single
	[ "$accel" = kvm ] && cpu=host accel_opts=kvm

	log "booting $(basename "$kernel") with $accel"
	start=$(date +%s)
	code=0
	timeout --foreground -k 10s "$VM_TIMEOUT" qemu-system-x86_64 \
		-nodefaults -no-user-config -no-reboot -display none \
		-accel "$accel_opts" -cpu "$cpu" -smp "$(nproc)" -m "$VM_MEMORY" \
		-kernel "$kernel/vmlinuz" -initrd "$VM_DIR/initramfs.cpio" \
		-append "console=ttyS0 quiet panic=-1 ctlfs.dir=$PWD ctlfs.out=$out ctlfs.run=$(realpath "$VM_GUEST")" \
		-virtfs local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap \
		-virtfs "local,path=$out,mount_tag=out,security_model=none" \
		-chardev stdio,id=console,signal=off -serial chardev:console \
		</dev/null | tee "$VM_DIR/console.log" || code=$?
	log "the machine ran $(($(date +%s) - start)) s"
	if [ "$code" = 124 ]; then
		die "the machine did not finish within $VM_TIMEOUT"
	fi
	[ "$code" = 0 ] || die "qemu exited with status $code"
	[ -f "$out/status" ] || die "the machine powered off without a test result; see $VM_DIR/console.log"
	code=$(cat "$out/status")
	if [ "$code" != 0 ]; then
		die "tests failed in the machine (exit code $code); logs in $out"
	fi
	log "all tests passed on a pure cgroup v2 host"
}

main "$@"
