#!/bin/sh
# Runs inside the virtual machine that tests/vm/run.sh boots, from the
# repository root, as the command of tests/vm/vminit. Its only argument,
# OUT, is the directory that contains the test binaries that run.sh
# built, in OUT/bin. The output of each goes to the console and to
# OUT/PACKAGE.log.
#
# It checks that the machine is a pure cgroup v2 host with the controllers
# the tests need, then runs the tests named in TESTS below, and exits 1
# if any of them failed.
set -u
OUT=$1

echo "guest: $(uname -r), $(nproc) CPUs, $(awk '/MemTotal/ {print $2 " kB"}' /proc/meminfo)"
echo "guest: cgroup mounts:"
grep cgroup /proc/self/mountinfo | cut -d' ' -f5,9
echo "guest: controllers: $(cat /sys/fs/cgroup/cgroup.controllers)"

if [ "$(grep -c ' - cgroup ' /proc/self/mountinfo)" != 0 ]; then
	echo "guest: FAIL: a cgroup v1 hierarchy is mounted; this is not a pure v2 host"
	exit 1
fi
for c in cpu cpuset pids; do
	if ! grep -qw "$c" /sys/fs/cgroup/cgroup.controllers; then
		echo "guest: FAIL: no $c controller in the cgroup v2 hierarchy"
		exit 1
	fi
done

# The supervisors that the test binaries start run the init that make
# built on the host.
export CTLFS_INIT=$PWD/bin/ctlfs-init

status=0
# run PACKAGE ARGS... runs the test binary of PACKAGE in its directory.
run() {
	pkg=$1
	shift
	echo "guest: === $pkg: $*"
	start=$(date +%s)
	(cd "$pkg" && "$OUT/bin/$pkg.test" -test.count=1 -test.v "$@") 2>&1 |
		tee "$OUT/$pkg.log"
	# tee hides the exit code of the test binary, so its last line, PASS
	# or FAIL, decides.
	if [ "$(tail -n 1 "$OUT/$pkg.log")" != PASS ]; then
		status=1
		echo "guest: $pkg FAILED"
	fi
	echo "guest: === $pkg took $(($(date +%s) - start)) s"
}

# The end-to-end tests that exercise only the tree and the log pipeline
# are skipped: they do not touch cgroups, and the emulated machine would
# spend a minute and a half on them. -test.short skips the test that
# starts 1,000 containers.
SKIP='^(TestWorkloadsLogLive|TestLogExactBytes|TestCommandQuoting|TestRejectedWrites|TestTreeOperations|TestConcurrentMkdir|TestOtherUserLockedOut|TestLogRotationFollowed|TestLogFloodIsolated|TestExperimentPreflight)$'

run monitor -test.timeout 5m
run runtime -test.timeout 5m
run tests -test.timeout 12m -test.short -test.skip "$SKIP"

echo "guest: leftover cgroups:"
find /sys/fs/cgroup -mindepth 1 -type d
exit $status
