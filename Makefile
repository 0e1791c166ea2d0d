# Override any variable on the command line, as in
#   make rootfs ROOTFS_TAR=alpine-minirootfs-3.20.0-x86_64.tar.gz
GO            ?= go
GO_TEST_FLAGS ?= -count=1
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

.DEFAULT_GOAL := all
.PHONY: all ctlfs workloads rootfs serve test fuzz generate clean FORCE

all: ctlfs rootfs

ctlfs: $(CTLFS)

$(CTLFS): FORCE
	@mkdir -p $(BIN_DIR)
	CGO_ENABLED=0 $(GO) build -trimpath -o $@ ./cmd/ctlfs

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

test: rootfs
	$(GO) vet ./...
	$(GO) test $(GO_TEST_FLAGS) ./...

# Runs each fuzz test for FUZZ_TIME; the corpus in testdata/fuzz is
# also replayed by every go test run.
FUZZ_TIME ?= 10s
fuzz:
	@set -e; for pkg in ./runtime ./fsys; do \
		for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
			echo "fuzz $$pkg $$f"; \
			$(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZ_TIME) $$pkg; \
		done; \
	done

# Regenerates the BPF object and its Go bindings; needs clang and llvm.
generate:
	$(GO) generate ./monitor/...

# --one-file-system keeps rm out of anything still mounted in the rootfs.
clean:
	rm -rf --one-file-system $(BIN_DIR) $(BUILD_DIR)
