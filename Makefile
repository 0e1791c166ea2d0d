# Override any variable on the command line, as in
#   make rootfs ROOTFS_TAR=alpine-minirootfs-3.20.0-x86_64.tar.gz
GO            ?= go
# The suite runs with the race detector, which needs cgo and a C compiler.
GO_TEST_FLAGS ?= -count=1 -race -timeout 30m
BIN_DIR       ?= bin
BUILD_DIR     ?= build
ROOTFS_DIR    ?= $(BUILD_DIR)/rootfs
# A root filesystem tarball to extract instead of building from busybox-static.
ROOTFS_TAR    ?=

WORKLOADS     := cpu_hog io_pulse memory_hog
WORKLOAD_BINS := $(addprefix $(BIN_DIR)/,$(WORKLOADS))
# scripts/mkrootfs.sh writes this file last and puts the rootfs source in it.
ROOTFS_STAMP  := $(ROOTFS_DIR)/.ctlfs-rootfs
ROOTFS_SOURCE := $(or $(ROOTFS_TAR),busybox-static)

# Flags for make serve, such as SERVE_FLAGS='--mount /tmp/ctl --grace 5s'.
SERVE_FLAGS   ?=
CTLFS         := $(BIN_DIR)/ctlfs
# The container init, started from beside ctlfs, and how it is compiled.
# Not named CTLFS_INIT: make would pass its value to `make serve` in the
# environment variable of that name, in place of the user's.
INIT_BIN      := $(BIN_DIR)/ctlfs-init
INIT_CFLAGS   ?= -O2 -Wall -Wextra -static

.DEFAULT_GOAL := all
.PHONY: all ctlfs workloads rootfs serve test fuzz generate install uninstall clean FORCE

all: ctlfs rootfs

ctlfs: $(CTLFS) $(INIT_BIN)

$(CTLFS): FORCE
	@mkdir -p $(BIN_DIR)
	CGO_ENABLED=0 $(GO) build -trimpath -o $@ ./cmd/ctlfs

# The init is one C file, linked statically: the dynamic loader's work
# would add to every container's start.
$(INIT_BIN): cmd/ctlfs-init/init.c
	@mkdir -p $(BIN_DIR)
	$(CC) $(INIT_CFLAGS) -o $@ $<

# Builds everything and runs the supervisor on the default rootfs, mounted
# at /mnt/ctl, until interrupted or until `echo shutdown > /mnt/ctl/ctl`.
serve: ctlfs rootfs
	$(CTLFS) serve --rootfs $(abspath $(ROOTFS_DIR)) $(SERVE_FLAGS)

workloads: $(WORKLOAD_BINS)

# go build runs every time because it tracks Go dependencies itself. The
# binary is replaced only when its bytes changed, so that the rootfs is not
# rebuilt for nothing.
$(WORKLOAD_BINS): $(BIN_DIR)/%: FORCE
	@mkdir -p $(BIN_DIR)
	CGO_ENABLED=0 $(GO) build -trimpath -o $@.new ./workloads/$*
	@if cmp -s $@.new $@; then rm $@.new; else mv $@.new $@; fi

rootfs: $(ROOTFS_STAMP)

# A rootfs built from another source is rebuilt.
ifneq ($(ROOTFS_SOURCE),$(shell cat $(ROOTFS_STAMP) 2>/dev/null))
.PHONY: $(ROOTFS_STAMP)
endif

# wildcard leaves a missing tarball to mkrootfs.sh, which reports it.
$(ROOTFS_STAMP): scripts/mkrootfs.sh $(WORKLOAD_BINS) $(wildcard $(ROOTFS_TAR))
	scripts/mkrootfs.sh $(if $(ROOTFS_TAR),--tar $(ROOTFS_TAR)) $(ROOTFS_DIR) $(WORKLOAD_BINS)

# The monitor's tests run without the race detector: they measure the
# RSS of re-executed test binaries, which its shadow memory inflates by
# tens of MiB. The supervisor, which uses the monitor, runs with it.
test: rootfs $(INIT_BIN)
	$(GO) vet ./...
	CTLFS_INIT=$(abspath $(INIT_BIN)) $(GO) test $(GO_TEST_FLAGS) $$($(GO) list ./... | grep -v '/monitor$$')
	$(GO) test $(filter-out -race,$(GO_TEST_FLAGS)) ./monitor

# Runs the monitor, runtime and end-to-end tests on a pure cgroup v2 host:
# a qemu virtual machine booting Debian's Linux 6.12 with only cgroup2
# mounted (tests/vm/run.sh says how, and which variables it takes). It
# needs qemu-system-x86; it took 3 to 6 minutes on a 2-CPU machine
# without KVM.
.PHONY: test-cgroup2
test-cgroup2: rootfs $(INIT_BIN)
	tests/vm/run.sh

# Runs each fuzz test for FUZZ_TIME; the corpus in testdata/fuzz is
# also replayed by every go test run. The budget is a count of inputs, not
# a duration: with a duration, Go before 1.27 can fail a run that found
# nothing with "context deadline exceeded" when it ends (Go issue 75804).
FUZZ_TIME ?= 100000x
fuzz:
	@set -e; for pkg in ./runtime ./fsys; do \
		for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
			echo "fuzz $$pkg $$f"; \
			$(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZ_TIME) $$pkg; \
		done; \
	done

# Runs the monitor package's benchmarks, then bench/cmd/ctlfsbench, which
# starts its own supervisor on a temporary mount and measures ctlfs beside
# fork+exec, unshare, bubblewrap, crun and runc, also under hyperfine
# (apt-get install -y crun runc bubblewrap hyperfine; a tool that is
# missing or fails is reported and skipped), then the control round trip,
# 1,000 containers started concurrently, log throughput and the memory
# limit. The report, Markdown tables with the machine and a table of
# goals, goes to stdout and BENCH_DIR/results.md. With the defaults it
# took about 1 min 50 s on an idle 2-CPU VM.
BENCH_DIR       ?= $(BUILD_DIR)/bench
# Options of ctlfsbench, such as BENCH_FLAGS='--iterations 1000' or
# BENCH_FLAGS='--figures latency,concurrent'.
BENCH_FLAGS     ?=
# Iterations of each monitor benchmark (-benchtime Nx).
BENCH_MONITOR_N ?= 20
# Address-space cap, in KiB, of each monitor benchmark process (ulimit -v).
# Their helpers reserve 1 GiB, and the cap stops a memory hog that escapes
# its limit long before it takes the machine's memory.
BENCH_VMEM_KIB  ?= 3145728
BENCH_REVISION  := $(shell git describe --always --dirty 2>/dev/null)
BENCH_MONITOR   := go test -run '^$$' -bench . -benchtime $(BENCH_MONITOR_N)x ./monitor

.PHONY: bench
# The monitor benchmarks run from a test binary built first, so that
# ulimit applies to them and not to the compiler. ctlfsbench reports
# their failure from their output, so make goes on to measure the rest.
bench: ctlfs rootfs
	@mkdir -p $(BENCH_DIR)
	$(GO) build -o $(BENCH_DIR)/ctlfsbench ./bench/cmd/ctlfsbench
	$(GO) test -c -o $(BENCH_DIR)/monitor.test ./monitor
	cd monitor && (ulimit -v $(BENCH_VMEM_KIB) && \
		$(abspath $(BENCH_DIR))/monitor.test -test.run '^$$' -test.bench . \
		-test.benchtime $(BENCH_MONITOR_N)x) 2>&1 | tee $(abspath $(BENCH_DIR))/monitor.txt
	$(BENCH_DIR)/ctlfsbench --ctlfs $(CTLFS) --rootfs $(ROOTFS_DIR) \
		--revision '$(BENCH_REVISION)' \
		--monitor-results $(BENCH_DIR)/monitor.txt \
		--monitor-command "$(BENCH_MONITOR), as a test binary under ulimit -v $(BENCH_VMEM_KIB)" \
		--markdown $(BENCH_DIR)/results.md \
		--command "make bench$(if $(BENCH_FLAGS), BENCH_FLAGS='$(BENCH_FLAGS)')" \
		$(BENCH_FLAGS)

# Regenerates the BPF object and its Go bindings; needs clang and llvm.
generate:
	$(GO) generate ./monitor/...

# Where make install puts things. DESTDIR is prepended to every path, for
# staging, as in make install DESTDIR=/tmp/stage.
PREFIX      ?= /usr/local
BINDIR      ?= $(PREFIX)/bin
LIBEXECDIR  ?= $(PREFIX)/libexec/ctlfs
ROOTFSDIR   ?= $(PREFIX)/lib/ctlfs/rootfs
DOCDIR      ?= $(PREFIX)/share/doc/ctlfs
STATEDIR    ?= /var/lib/ctlfs
UNITDIR     ?= /etc/systemd/system
DESTDIR     ?=
INSTALL_DIR := $(BUILD_DIR)/install
# The installed ctlfs knows where its init and default rootfs are.
INSTALL_LDFLAGS := -X main.installedRootfs=$(ROOTFSDIR) \
	-X ctlfs/runtime.InstalledInit=$(LIBEXECDIR)/ctlfs-init

# Installs ctlfs, its init, the default rootfs, the documentation and a
# systemd unit for ctlfs serve. Then: systemctl daemon-reload, and
# systemctl enable --now ctlfs.
install: rootfs $(INIT_BIN)
	@mkdir -p $(INSTALL_DIR)
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(INSTALL_LDFLAGS)' -o $(INSTALL_DIR)/ctlfs ./cmd/ctlfs
	sed -e 's|@BINDIR@|$(BINDIR)|g' -e 's|@STATEDIR@|$(STATEDIR)|g' \
		-e 's|@ROOTFSDIR@|$(ROOTFSDIR)|g' -e 's|@DOCDIR@|$(DOCDIR)|g' \
		dist/ctlfs.service.in > $(INSTALL_DIR)/ctlfs.service
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBEXECDIR) $(DESTDIR)$(DOCDIR) \
		$(DESTDIR)$(UNITDIR) $(DESTDIR)$(dir $(ROOTFSDIR))
	install -m 0755 $(INSTALL_DIR)/ctlfs $(DESTDIR)$(BINDIR)/ctlfs
	install -m 0755 $(INIT_BIN) $(DESTDIR)$(LIBEXECDIR)/ctlfs-init
	install -m 0644 $(INSTALL_DIR)/ctlfs.service $(DESTDIR)$(UNITDIR)/ctlfs.service
	install -m 0644 README.md $(DESTDIR)$(DOCDIR)/README.md
	cp -r docs $(DESTDIR)$(DOCDIR)/
	$(INSTALL_DIR)/ctlfs help tree > $(DESTDIR)$(DOCDIR)/tree.txt
	rm -rf --one-file-system $(DESTDIR)$(ROOTFSDIR)
	cp -a $(ROOTFS_DIR) $(DESTDIR)$(ROOTFSDIR)

# Removes what make install installed; containers' logs in STATEDIR stay.
uninstall:
	rm -f $(DESTDIR)$(BINDIR)/ctlfs $(DESTDIR)$(UNITDIR)/ctlfs.service
	rm -rf --one-file-system $(DESTDIR)$(LIBEXECDIR) $(DESTDIR)$(ROOTFSDIR) $(DESTDIR)$(DOCDIR)
	-rmdir $(DESTDIR)$(dir $(ROOTFSDIR))

# --one-file-system keeps rm out of anything still mounted in the rootfs.
clean:
	rm -rf --one-file-system $(BIN_DIR) $(BUILD_DIR)
