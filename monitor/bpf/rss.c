//go:build ignore

// BPF side of the ctlfs memory monitor: per-cgroup RSS accounting on the
// kmem/rss_stat tracepoint, limit checks, SIGKILL on hard-limit crossings
// and events through a ring buffer. Built by `go generate ./monitor` (see
// ebpf.go), which needs clang and the libbpf headers (Debian: clang,
// llvm, libbpf-dev).
//
// Kernel requirements: 6.2 or newer, because rss_stat has had the
// (struct mm_struct *mm, int member) prototype and mm->rss_stat has been an
// array of struct percpu_counter since 6.2, and because the exact sums
// read per-CPU slots through the bpf_rdonly_cast kfunc, also new in 6.2.
// BTF (CONFIG_DEBUG_INFO_BTF) and CONFIG_MEMCG (for mm->owner) must be
// enabled. Helpers used need at least 5.19 (bpf_map_lookup_percpu_elem),
// the atomics need 5.12.

typedef signed char __s8;
typedef unsigned char __u8;
typedef short __s16;
typedef unsigned short __u16;
typedef int __s32;
typedef unsigned int __u32;
typedef long long __s64;
typedef unsigned long long __u64;
typedef __u16 __be16;
typedef __u32 __be32;
typedef __u32 __wsum;
typedef _Bool bool;

#define true 1
#define false 0

#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>

char LICENSE[] SEC("license") = "GPL";

// Map types and update flags from include/uapi/linux/bpf.h.
#define BPF_MAP_TYPE_HASH 1
#define BPF_MAP_TYPE_ARRAY 2
#define BPF_MAP_TYPE_PERCPU_ARRAY 6
#define BPF_MAP_TYPE_RINGBUF 27
#define BPF_ANY 0
#define BPF_NOEXIST 1

#define PF_KTHREAD 0x00200000
#define SIGKILL 9

// Indexes of mm->rss_stat (enum in include/linux/mm_types_task.h).
#define MM_FILEPAGES 0
#define MM_ANONPAGES 1
#define MM_SWAPENTS 2
#define MM_SHMEMPAGES 3
#define NR_MM_COUNTERS 4

// Upper bound on nr_cpu_ids that the exact counter sum supports. The Go
// loader refuses to load on machines with more possible CPUs.
#define MAX_CPUS 4096
// Upper bound on the cgroup v2 depth of a watched cgroup.
#define MAX_LEVEL 32
// Number of watched cgroups the maps hold (maxWatched in ebpf.go).
#define MAX_WATCHED 4096
// Slot value of mm_cache for an address space of no watched cgroup.
#define NO_SLOT 0xffffffffu

// Minimal kernel types. preserve_access_index makes clang emit CO-RE
// relocations, so only the field names must match the running kernel,
// not the layout.
struct percpu_counter {
	__s64 count;
	__s32 *counters;
} __attribute__((preserve_access_index));

struct kernfs_node {
	__u64 id;
} __attribute__((preserve_access_index));

struct cgroup {
	int level;
	struct kernfs_node *kn;
	struct cgroup *ancestors[];
} __attribute__((preserve_access_index));

struct css_set {
	struct cgroup *dfl_cgrp;
} __attribute__((preserve_access_index));

typedef struct {
	int counter;
} atomic_t;

struct task_struct;

struct mm_struct {
	struct percpu_counter rss_stat[NR_MM_COUNTERS];
	struct task_struct *owner;
	atomic_t mm_users;
} __attribute__((preserve_access_index));

struct task_struct {
	unsigned int flags;
	int pid;
	int tgid;
	struct task_struct *group_leader;
	struct mm_struct *mm;
	struct css_set *cgroups;
} __attribute__((preserve_access_index));

struct bpf_array {
	void *pptrs[0];
} __attribute__((preserve_access_index));

// A kernel struct whose only member is an int. bpf_rdonly_cast needs a
// struct type from the kernel's BTF, and this one lets the program read
// one per-CPU slot of a percpu_counter, an s32, with a plain load.
struct sched_param {
	int sched_priority;
} __attribute__((preserve_access_index));

struct bpf_iter_meta;

struct bpf_iter__task {
	struct bpf_iter_meta *meta;
	struct task_struct *task;
} __attribute__((preserve_access_index));

// Return obj as a read-only pointer to the kernel type btf_id. Loads
// through it are checked by the JIT's exception table instead of a helper
// call.
extern void *bpf_rdonly_cast(const void *obj, __u32 btf_id) __ksym;

// Set by the Go loader before loading.
volatile const __u32 page_shift = 12;
volatile const __u32 nr_cpus = 1;
// Bound in pages of the error of fbc->count for one mm: three counters,
// each off by less than percpu_counter_batch pages on every CPU. The
// exact zone of a cgroup, inside which events take exact sums, reaches
// this far from a limit for each mm entry of the cgroup charged inexactly
// (see zone_margin), because every mm charged with fbc->count can add
// that much at once.
volatile const __s64 exact_margin_pages = 0;

// The generation of the per-CPU cache (see mm_cache) is the sum of these
// two, which share a cache line that every event reads. config_gen is
// incremented by the Go side after every change of the watched cgroups
// or their limits. cache_drops counts the events that can change what the
// cache records about an address space: the rss_stat events of an address
// space being torn down (once it is gone, its address can belong to a new
// one) and the moves of tasks to another cgroup (the owner of an address
// space can move into or out of a watched cgroup).
__u64 config_gen __attribute__((aligned(64)));
__u64 cache_drops;

// Per-CPU offsets (__per_cpu_offset[cpu]), computed once; see
// compute_cpu_offsets.
__u64 cpu_offset[MAX_CPUS];
__u32 cpu_offsets_ready;

struct mm_entry {
	__u64 cgroup;
	// Index of the cgroup in cgroup_limits and cgroup_usage.
	__u32 slot;
	// Set while some charged value is fbc->count, which can lag the
	// exact value, and clear while all three are exact sums. Counted in
	// the usage's inexact_mms.
	__u32 inexact;
	// Last value charged for each rss_stat counter, in pages. The swap
	// slot stays 0 because swap is not RSS.
	__s64 pages[NR_MM_COUNTERS];
};

// Limits of the watched cgroup in one slot. cgroup is 0 in a free slot.
struct limits {
	__u64 cgroup;
	__u64 soft; // bytes, ~0 = none
	__u64 hard; // bytes, ~0 = none
	__u32 level; // cgroup v2 depth of the watched cgroup
	__u32 pad;
};

struct usage {
	__s64 pages;
	// Incremented after every change of pages and of a charged value
	// of an mm entry of the slot (see mm_cache).
	__u64 seq;
	// Number of mm entries of the slot.
	__s64 mms;
	// Number of mm entries of the slot with inexact set. Only these can
	// hide pages from the charged total, so they alone widen the exact
	// zone (see zone_margin), and only they need a re-sum when the total
	// enters it (see resum_all).
	__s64 inexact_mms;
	// Number of re-sums of the slot under way. No per-CPU cache is
	// filled with skip set meanwhile (see resum_all).
	__s64 resums;
};

struct config {
	__u32 watched;    // number of watched cgroups
	__u32 level_mask; // bit N set: some watched cgroup is at depth N
};

// The per-CPU cache of the address space of the last event, one cache
// line. It lets most events skip the mms hash lookup, in two cases:
//  - slot is NO_SLOT: the mm belongs to no watched cgroup.
//  - skip is set, the seq of the slot's usage is still seq and fbc->count
//    of the event's counter is still the charged value in pages: nothing
//    was charged in the cgroup since the cache was filled, so the cgroup
//    is still far from its limits, and the counter did not move either.
//    percpu_counter_add changes fbc->count only when a per-CPU slot
//    reaches percpu_counter_batch, so most events of an mm end here.
// It is valid while gen equals config_gen plus cache_drops, and it is
// filled only by page faults of a task in its own mm, whose mm cannot be
// torn down meanwhile. One entry per CPU is enough: a CPU runs one task
// at a time, and a context switch costs one hash lookup.
struct mm_cache {
	__u64 mm;
	__u64 gen;
	__u64 seq;
	__s64 pages[3]; // charged pages of FILE, ANON and SHMEM
	__u32 slot;
	__u32 skip;
} __attribute__((aligned(64)));

enum event_kind {
	EVENT_SOFT = 0,
	EVENT_HARD = 1,
};

struct event {
	__u64 cgroup;
	__u64 rss;
	__u64 limit;
	__u32 kind;
	__u32 pid;
	__u8 killed;
	__u8 pad[7];
};

// Keeps struct event in the BTF, where bpf2go finds it to generate rssEvent.
const struct event *unused_event __attribute__((unused));

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, __u64); // struct mm_struct address
	__type(value, struct mm_entry);
} mms SEC(".maps");

// Slot of each watched cgroup. Only the search for the cgroup of a new
// mm uses it. Events of known mms find the slot in their mm entry, and
// array lookups, unlike hash lookups, compile to a bounds check and an
// address computation.
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MAX_WATCHED);
	__type(key, __u64); // cgroup id
	__type(value, __u32); // slot
} cgroup_slots SEC(".maps");

// Limits and usage sit in separate maps because the Go side rewrites a
// whole limits value, which must not reset the usage that the program
// adds to concurrently.
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, MAX_WATCHED);
	__type(key, __u32); // slot
	__type(value, struct limits);
} cgroup_limits SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, MAX_WATCHED);
	__type(key, __u32); // slot
	__type(value, struct usage);
} cgroup_usage SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct config);
} watch_config SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct mm_cache);
} mm_cache SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} events SEC(".maps");

// One per-CPU slot whose addresses reveal the per-CPU offsets.
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} cpu_probe SEC(".maps");

// Drops of ring buffer records because the buffer was full.
__u64 lost_events;

// Context of set_cpu_offset.
struct cpu_offsets_ctx {
	__u64 raw; // bpf_array.pptrs[0] of cpu_probe
	__u32 zero;
	__u32 failed;
};

// Store cpu_offset[cpu]. A callback of bpf_loop, so that the verifier
// checks it once and not once per possible CPU: unrolled, a loop over
// 4096 CPUs was more jumps than it accepts.
static long set_cpu_offset(__u32 cpu, void *data)
{
	struct cpu_offsets_ctx *ctx = data;
	__u64 *slot;
	__u64 addr;

	if (cpu >= MAX_CPUS)
		return 1;
	slot = bpf_map_lookup_percpu_elem(&cpu_probe, &ctx->zero, cpu);
	if (!slot) {
		ctx->failed = 1;
		return 1;
	}
	*(volatile __u64 *)slot = (__u64)slot;
	asm volatile("" ::: "memory");
	addr = *(volatile __u64 *)slot;
	cpu_offset[cpu] = addr - ctx->raw;
	return 0;
}

// Fill cpu_offset[] with __per_cpu_offset[cpu] for every possible CPU.
// __per_cpu_offset is not in BTF and, without CONFIG_KALLSYMS_ALL, not in
// kallsyms either, so it is derived from a per-CPU array map. The map
// keeps the raw __percpu pointer of its element in bpf_array.pptrs[0].
// bpf_map_lookup_percpu_elem returns that pointer plus the offset of the
// requested CPU. Storing a pointer into a map value and reading it back
// turns it into a plain number. The verifier allows that for programs
// loaded with CAP_BPF and CAP_PERFMON.
static __always_inline void compute_cpu_offsets(void)
{
	struct cpu_offsets_ctx ctx = {};
	__u64 *slot;
	__u64 map_addr;

	if (cpu_offsets_ready)
		return;

	slot = bpf_map_lookup_elem(&cpu_probe, &ctx.zero);
	if (!slot)
		return;
	*(volatile __u64 *)slot = (__u64)(void *)&cpu_probe;
	asm volatile("" ::: "memory");
	map_addr = *(volatile __u64 *)slot;
	if (bpf_probe_read_kernel(&ctx.raw, sizeof(ctx.raw),
				  (void *)(map_addr + bpf_core_field_offset(struct bpf_array, pptrs))))
		return;
	bpf_loop(nr_cpus, set_cpu_offset, &ctx, 0);
	if (!ctx.failed)
		cpu_offsets_ready = 1;
}

struct rss_sum_ctx {
	__u64 counters[3]; // fbc->counters of FILE, ANON and SHMEM
	__s64 sum[3];
};

static long add_cpu_slots(__u32 cpu, void *data)
{
	struct rss_sum_ctx *ctx = data;
	struct sched_param *slot;
	__u64 offset;

	if (cpu >= MAX_CPUS)
		return 1;
	offset = cpu_offset[cpu];
	for (int i = 0; i < 3; i++) {
		slot = bpf_rdonly_cast((void *)(ctx->counters[i] + offset),
				       bpf_core_type_id_kernel(struct sched_param));
		ctx->sum[i] += slot->sched_priority;
	}
	return 0;
}

// Store in pages the exact values of the FILE, ANON and SHMEM counters of
// mm, like percpu_counter_sum() but without taking fbc->lock, in one pass
// over the CPUs. A batch flush moves a per-CPU delta into fbc->count, so
// the sum is retried when an fbc->count changed while the per-CPU slots
// were read. A flush that lands between reading one slot and reading
// fbc->count again can still make the result off by up to one batch
// until the next event.
static __always_inline void rss_exact(struct mm_struct *mm, __s64 pages[3])
{
	struct rss_sum_ctx ctx = {};
	__s64 file, anon, shmem;

	ctx.counters[0] = (__u64)mm->rss_stat[MM_FILEPAGES].counters;
	ctx.counters[1] = (__u64)mm->rss_stat[MM_ANONPAGES].counters;
	ctx.counters[2] = (__u64)mm->rss_stat[MM_SHMEMPAGES].counters;
	for (int attempt = 0; attempt < 3; attempt++) {
		file = mm->rss_stat[MM_FILEPAGES].count;
		anon = mm->rss_stat[MM_ANONPAGES].count;
		shmem = mm->rss_stat[MM_SHMEMPAGES].count;
		ctx.sum[0] = file;
		ctx.sum[1] = anon;
		ctx.sum[2] = shmem;
		bpf_loop(nr_cpus, add_cpu_slots, &ctx, 0);
		if (file == mm->rss_stat[MM_FILEPAGES].count &&
		    anon == mm->rss_stat[MM_ANONPAGES].count &&
		    shmem == mm->rss_stat[MM_SHMEMPAGES].count)
			break;
	}
	for (int i = 0; i < 3; i++)
		pages[i] = ctx.sum[i] < 0 ? 0 : ctx.sum[i];
}

// Return fbc->count in pages, the value percpu_counter_read_positive()
// returns. It lags the exact value by less than percpu_counter_batch
// pages per CPU. fbc must point into an mm_struct that the program
// got as a BTF pointer, so that the direct read is allowed.
static __always_inline __s64 counter_approx(struct percpu_counter *fbc)
{
	__s64 count = fbc->count;

	return count < 0 ? 0 : count;
}

// Return the id of the cgroup v2 ancestor at depth level of the cgroup
// that contains task (the cgroup itself when it is at that depth), or 0.
static __always_inline __u64 task_ancestor_cgroup(struct task_struct *task, __u32 level)
{
	struct cgroup *cgrp, *ancestor = 0;

	cgrp = task->cgroups->dfl_cgrp;
	if (!cgrp || level >= MAX_LEVEL)
		return 0;
	if (cgrp->level < (int)level)
		return 0;
	bpf_probe_read_kernel(&ancestor, sizeof(ancestor),
			      (void *)cgrp + bpf_core_field_offset(struct cgroup, ancestors) +
				      level * sizeof(ancestor));
	if (!ancestor)
		return 0;
	return BPF_CORE_READ(ancestor, kn, id);
}

// Return the watched cgroup that contains task and store its slot in
// *slot, or return 0.
static __always_inline __u64 watched_cgroup_of(struct task_struct *task, struct config *cfg,
					       __u32 *slot)
{
	__u32 mask = cfg->level_mask;

	for (__u32 level = 0; level < MAX_LEVEL; level++) {
		if (!(mask & (1u << level)))
			continue;
		__u64 id = task_ancestor_cgroup(task, level);
		if (!id)
			continue;
		__u32 *found = bpf_map_lookup_elem(&cgroup_slots, &id);
		if (found) {
			*slot = *found;
			return id;
		}
	}
	return 0;
}

static __always_inline __u64 pages_to_bytes(__s64 pages)
{
	return pages <= 0 ? 0 : (__u64)pages << page_shift;
}

// Return true when limit lies between from and to, or within margin of
// the nearer of them. from and to may come in either order.
static __always_inline bool near(__u64 from, __u64 to, __u64 limit, __u64 margin)
{
	__u64 low = from < to ? from : to, high = from < to ? to : from;

	if (limit == ~0ULL)
		return false;
	return high + margin >= limit && low <= limit + margin;
}

// Return the distance in bytes from a limit inside which the events of
// entry, an mm of the cgroup whose usage is use, take exact sums: the
// error bound of one mm for each mm entry charged inexactly, counting
// entry, which an event outside the zone charges inexactly. While the
// charged total is farther from a limit than that, the exact total cannot
// have reached it. An idle process whose last charge was exact, such as a
// container's init, does not widen the zone.
static __always_inline __u64 zone_margin(struct usage *use, struct mm_entry *entry)
{
	__s64 n = *(volatile __s64 *)&use->inexact_mms + !*(volatile __u32 *)&entry->inexact;

	if (n < 1)
		n = 1;
	if (n > 65536)
		n = 65536;
	return pages_to_bytes(exact_margin_pages * n);
}

// Return fbc->count of rss_stat counter member of mm, which is
// MM_FILEPAGES, MM_ANONPAGES or MM_SHMEMPAGES.
static __always_inline __s64 member_approx(struct mm_struct *mm, int member)
{
	// Constant indexes only: the verifier rejects a variable offset
	// into a BTF pointer.
	if (member == MM_FILEPAGES)
		return counter_approx(&mm->rss_stat[MM_FILEPAGES]);
	if (member == MM_ANONPAGES)
		return counter_approx(&mm->rss_stat[MM_ANONPAGES]);
	return counter_approx(&mm->rss_stat[MM_SHMEMPAGES]);
}

// Return the slot of entry that stores the charged value of member.
static __always_inline __s64 *charged_slot(struct mm_entry *entry, int member)
{
	if (member == MM_FILEPAGES)
		return &entry->pages[MM_FILEPAGES];
	if (member == MM_ANONPAGES)
		return &entry->pages[MM_ANONPAGES];
	return &entry->pages[MM_SHMEMPAGES];
}

static __always_inline void send_event(__u32 kind, __u64 cgroup, __u64 rss, __u64 limit, __u32 pid,
				       bool killed)
{
	struct event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);

	if (!e) {
		__sync_fetch_and_add(&lost_events, 1);
		return;
	}
	e->cgroup = cgroup;
	e->rss = rss;
	e->limit = limit;
	e->kind = kind;
	e->pid = pid;
	e->killed = killed;
	for (int i = 0; i < 7; i++)
		e->pad[i] = 0;
	bpf_ringbuf_submit(e, 0);
}

// Remove the entry of mm and subtract what it was charged.
static __always_inline void discharge(__u64 key)
{
	struct mm_entry *entry = bpf_map_lookup_elem(&mms, &key);
	__s64 pages = 0;

	if (!entry)
		return;
	pages += __sync_lock_test_and_set(&entry->pages[MM_FILEPAGES], 0);
	pages += __sync_lock_test_and_set(&entry->pages[MM_ANONPAGES], 0);
	pages += __sync_lock_test_and_set(&entry->pages[MM_SHMEMPAGES], 0);
	__u32 inexact = __sync_lock_test_and_set(&entry->inexact, 0);
	__u32 slot = entry->slot;
	struct limits *lim = bpf_map_lookup_elem(&cgroup_limits, &slot);
	struct usage *use = bpf_map_lookup_elem(&cgroup_usage, &slot);
	// A slot that contains another cgroup now was freed by Unwatch, which
	// also dropped the usage of this one.
	bool owned = lim && use && lim->cgroup == entry->cgroup;

	if (owned && pages) {
		__sync_fetch_and_add(&use->pages, -pages);
		__sync_fetch_and_add(&use->seq, 1);
	}
	if (owned && inexact)
		__sync_fetch_and_add(&use->inexact_mms, -1);
	if (bpf_map_delete_elem(&mms, &key) == 0 && owned)
		__sync_fetch_and_add(&use->mms, -1);
}

// Store value as the charged value *slot and return the change.
static __always_inline __s64 charge(__s64 *slot, __s64 value)
{
	// A plain read first: most events do not change the value, and an
	// exchange is a locked instruction.
	if (*(volatile __s64 *)slot == value)
		return 0;
	return value - __sync_lock_test_and_set(slot, value);
}

// Set or clear the inexact mark of entry, whose cgroup's usage is use,
// and count the change in use->inexact_mms. A charge of fbc->count sets
// it after the charge, an exact charge clears it before: a charge of
// either kind that lands in between then leaves the mark set, which at
// worst makes a zone wider than needed. Every change also changes the
// seq, which empties the per-CPU caches of the cgroup. A cache filled
// while the charge was inexact could skip the mm's next event after the
// mark was cleared. One filled before another mm was marked would judge
// the distance to a limit with a margin that is too small.
static __always_inline void mark_inexact(struct mm_entry *entry, struct usage *use, __u32 inexact)
{
	// A plain read first: the mark rarely changes, and an exchange is a
	// locked instruction.
	if (*(volatile __u32 *)&entry->inexact == inexact)
		return;
	if (__sync_lock_test_and_set(&entry->inexact, inexact) == inexact)
		return;
	__sync_fetch_and_add(&use->inexact_mms, inexact ? 1 : -1);
	__sync_fetch_and_add(&use->seq, 1);
}

struct resum_ctx {
	__u64 cgroup;
	__u64 skip; // the mm of the event, charged by its caller
	__s64 delta;
	__s64 cleared; // inexact marks cleared
};

static long resum_entry(void *map, __u64 *key, struct mm_entry *entry,
			struct resum_ctx *ctx)
{
	struct mm_struct *mm;
	__s64 values[3], delta;

	if (entry->cgroup != ctx->cgroup || *key == ctx->skip)
		return 0;
	// The key is the address of the mm. The teardown of an mm removes
	// its entry before the mm_struct is freed, and the loads through
	// bpf_rdonly_cast are checked by the JIT, so a stale address cannot
	// fault. A teardown under way is left to its own events.
	// NOTE: an entry that outlives its mm (see the NOTE in sync_mms)
	// would be charged whatever the memory at its address holds.
	mm = bpf_rdonly_cast((void *)*key, bpf_core_type_id_kernel(struct mm_struct));
	if (mm->mm_users.counter == 0)
		return 0;
	// Before the charge, as in mark_inexact.
	ctx->cleared += __sync_lock_test_and_set(&entry->inexact, 0);
	rss_exact(mm, values);
	delta = charge(&entry->pages[MM_FILEPAGES], values[0]);
	delta += charge(&entry->pages[MM_ANONPAGES], values[1]);
	delta += charge(&entry->pages[MM_SHMEMPAGES], values[2]);
	ctx->delta += delta;
	return 0;
}

// Charge every mm entry of cgroup except skip its exact sum, clear their
// inexact marks, and return the change in pages. It runs when an event of
// the cgroup finds the charged total inside the exact zone while another
// mm of the cgroup is marked inexact: that mm was charged fbc->count at
// its last event, and the pages waiting in its per-CPU slots count from
// now on, not at its next page fault, which may come after the limit is
// passed. From then on every charge of the cgroup is an exact sum until
// the total leaves the zone again. It walks the whole mms map, so it
// costs a few hundred microseconds with the map's 65536 buckets, once per
// entry into the zone of a cgroup with an inexact mm besides the
// event's. An idle process charged exactly, like a container's init after
// the first re-sum, does not bring it back.
// NOTE: an mm charged fbc->count by an event that read the total just
// below the zone while this runs may stay inexact until its next event.
static __always_inline __s64 resum_all(struct usage *use, __u64 cgroup, __u64 skip)
{
	struct resum_ctx ctx = {.cgroup = cgroup, .skip = skip};

	// While the walk runs, marks are cleared one by one, and a cache that
	// skipped the events of an mm whose mark is already cleared would
	// leave its charge behind, unmarked. So the count of re-sums keeps
	// new caches from skipping, and the new seq empties those filled
	// before.
	__sync_fetch_and_add(&use->resums, 1);
	__sync_fetch_and_add(&use->seq, 1);
	bpf_for_each_map_elem(&mms, resum_entry, &ctx, 0);
	if (ctx.cleared)
		__sync_fetch_and_add(&use->inexact_mms, -ctx.cleared);
	__sync_fetch_and_add(&use->seq, 1);
	__sync_fetch_and_add(&use->resums, -1);
	return ctx.delta;
}

// Bring the charged values of mm up to date and check the limits of its
// cgroup. With all set every RSS counter of mm is refreshed, otherwise
// only member. task is current; curr is true when current allocated in
// its own mm (current->mm == mm and current is not a kernel thread).
// Return false when the entry was removed.
static __always_inline bool account(struct mm_struct *mm, struct mm_entry *entry, int member,
				    bool all, struct task_struct *task, bool curr)
{
	__u64 cgroup = entry->cgroup;
	__u32 index = entry->slot;
	struct limits *lim = bpf_map_lookup_elem(&cgroup_limits, &index);
	struct usage *use = bpf_map_lookup_elem(&cgroup_usage, &index);
	__s64 delta = 0, old_pages, new_pages, value = 0, estimate;
	__u64 old_bytes, new_bytes, margin;
	__u64 key = (__u64)mm;
	__s64 *slot = charged_slot(entry, member);
	bool exact, empty = false, changed;

	if (!lim || !use || lim->cgroup != cgroup) {
		// The cgroup is no longer watched: drop the stale entry.
		bpf_map_delete_elem(&mms, &key);
		return false;
	}

	margin = zone_margin(use, entry);
	old_pages = use->pages;
	old_bytes = pages_to_bytes(old_pages);
	new_bytes = old_bytes;
	// Updates from another context (curr false) always take the exact
	// sum. They include the teardown of the mm (exit_mmap runs after
	// current->mm was cleared, or in another task that dropped the last
	// reference), and the entry is removed once every exact counter is
	// zero: fbc->count of a dead mm can stay above zero because the rest
	// sits in per-CPU slots, and the entry must go before the mm_struct is
	// reused for another process. fentry/exit_mmap would be the direct
	// hook, but the kernels this was written for reject fentry programs.
	//
	// Updates from the mm's own task take the exact sum when a limit lies
	// within the margin of the range from the old total to an estimate of
	// the new one, computed from fbc->count. The old total alone is not
	// enough because one event can move a counter by many pages: a
	// transparent huge page fault adds HPAGE_PMD_NR pages (512 with 4 KiB
	// pages) to MM_ANONPAGES at once. Such a fault can jump from outside
	// the margin to just past the limit, while fbc->count can still be
	// below the limit by what sits in the per-CPU slots.
	exact = !curr;
	if (!all)
		value = member_approx(mm, member);
	if (!exact) {
		estimate = old_pages;
		if (all) {
			estimate += counter_approx(&mm->rss_stat[MM_FILEPAGES]) - entry->pages[MM_FILEPAGES];
			estimate += counter_approx(&mm->rss_stat[MM_ANONPAGES]) - entry->pages[MM_ANONPAGES];
			estimate += counter_approx(&mm->rss_stat[MM_SHMEMPAGES]) - entry->pages[MM_SHMEMPAGES];
		} else {
			estimate += value - *slot;
		}
		new_bytes = pages_to_bytes(estimate);
		exact = near(old_bytes, new_bytes, lim->soft, margin) ||
			near(old_bytes, new_bytes, lim->hard, margin);
	}
	if (exact) {
		compute_cpu_offsets();
		if (!cpu_offsets_ready)
			exact = false;
	}

	// The other mms need a re-sum only when what they may hide, one
	// error bound for each marked one, could reach a limit, because this
	// one gets its exact sum below. The zone of this mm counts this mm
	// too, so judging with it would make two processes resting between one
	// and two bounds below a limit walk the map on every other event.
	if (exact && curr) {
		__s64 others = *(volatile __s64 *)&use->inexact_mms - *(volatile __u32 *)&entry->inexact;
		__u64 hidden = pages_to_bytes(exact_margin_pages * (others < 65536 ? others : 65536));

		if (others > 0 && (near(old_bytes, new_bytes, lim->soft, hidden) ||
				   near(old_bytes, new_bytes, lim->hard, hidden)))
			delta = resum_all(use, cgroup, key);
	}

	if (exact)
		mark_inexact(entry, use, 0);
	if (exact || all) {
		__s64 values[3], change;

		if (exact) {
			rss_exact(mm, values);
		} else {
			values[0] = counter_approx(&mm->rss_stat[MM_FILEPAGES]);
			values[1] = counter_approx(&mm->rss_stat[MM_ANONPAGES]);
			values[2] = counter_approx(&mm->rss_stat[MM_SHMEMPAGES]);
		}
		change = charge(&entry->pages[MM_FILEPAGES], values[0]);
		changed = change != 0 || delta != 0;
		delta += change;
		change = charge(&entry->pages[MM_ANONPAGES], values[1]);
		delta += change;
		changed |= change != 0;
		change = charge(&entry->pages[MM_SHMEMPAGES], values[2]);
		delta += change;
		changed |= change != 0;
		empty = exact && values[0] + values[1] + values[2] == 0;
	} else {
		// value is fbc->count of member, read for the estimate above.
		delta = charge(slot, value);
		changed = delta != 0;
	}
	// Any inexact charge marks the mm, even one that changed nothing: the
	// event means the counter moved, and from now on the cache may skip
	// the mm's events (see cache_fill).
	if (!exact)
		mark_inexact(entry, use, 1);
	if (empty && bpf_map_delete_elem(&mms, &key) == 0)
		__sync_fetch_and_add(&use->mms, -1);
	if (!changed)
		return !empty;

	old_pages = __sync_fetch_and_add(&use->pages, delta);
	// After the usage: a reader that reads the old seq may have read the
	// old or the new usage, and its cache is refilled at its next event.
	__sync_fetch_and_add(&use->seq, 1);
	new_pages = old_pages + delta;
	old_bytes = pages_to_bytes(old_pages);
	new_bytes = pages_to_bytes(new_pages);
	if (delta <= 0)
		return !empty;

	__u64 soft = lim->soft, hard = lim->hard;
	bool soft_crossed = soft != ~0ULL && old_bytes <= soft && new_bytes > soft;

	if (!soft_crossed && (hard == ~0ULL || new_bytes <= hard))
		return true;
	__u32 pid = curr ? task->tgid : 0;

	if (soft_crossed)
		send_event(EVENT_SOFT, cgroup, new_bytes, soft, pid, false);

	if (hard == ~0ULL || new_bytes <= hard)
		return true;
	// Above the hard limit. SIGKILL goes only to a task that allocated in
	// its own mm and sits in the watched cgroup, so a task outside the
	// container (a ptracer, khugepaged, the supervisor) is never signalled.
	// Every allocation above the limit gets SIGKILL, but only the crossing
	// itself produces an event.
	bool killed = false;
	if (curr && task_ancestor_cgroup(task, lim->level) == cgroup)
		killed = bpf_send_signal(SIGKILL) == 0;
	if (old_bytes <= hard)
		send_event(EVENT_HARD, cgroup, new_bytes, hard, pid, killed);
	return true;
}

// Count a new mm entry of slot in its usage.
static __always_inline void count_entry(__u32 slot)
{
	struct usage *use = bpf_map_lookup_elem(&cgroup_usage, &slot);

	if (use)
		__sync_fetch_and_add(&use->mms, 1);
}

// Return the watched cgroup that owns mm, or 0. An mm belongs to the
// cgroup of mm->owner (normally the thread group leader that created it
// by fork or exec), not to the cgroup of the task that touches it. This is the rule that keeps a
// CLONE_VM|CLONE_VFORK child out of the books: between clone and exec the
// child already sits in the container's cgroup (CLONE_INTO_CGROUP) but
// runs on the supervisor's mm, whose owner is the supervisor, so the
// supervisor's page faults are never charged to the container. After exec
// the child has a new mm owned by itself and is charged from then on.
static __always_inline __u64 owner_cgroup(struct mm_struct *mm, struct config *cfg, __u32 *slot)
{
	struct task_struct *owner = mm->owner;

	if (!owner)
		return 0;
	return watched_cgroup_of(owner, cfg, slot);
}

// Return true when the event of member of mm needs no work: see
// mm_cache. gen is the current cache generation. A remote update of the
// cached mm (reclaim, for example) whose counter did not move is skipped
// too, although the slow path would have summed it exactly: far from the
// limits fbc->count is the value charged anyway.
static __always_inline bool cached_skip(struct mm_cache *cache, struct mm_struct *mm, int member,
					__u64 gen)
{
	__u32 index = cache->slot;
	struct usage *use;

	if (cache->mm != (__u64)mm || cache->gen != gen)
		return false;
	// The teardown of the mm is never skipped: it removes the mm entry
	// and makes the cache generation change.
	if (mm->mm_users.counter == 0)
		return false;
	if (index == NO_SLOT)
		return true;
	if (!cache->skip)
		return false;
	use = bpf_map_lookup_elem(&cgroup_usage, &index);
	if (!use || *(volatile __u64 *)&use->seq != cache->seq)
		return false;
	if (member == MM_FILEPAGES)
		return counter_approx(&mm->rss_stat[MM_FILEPAGES]) == cache->pages[0];
	if (member == MM_ANONPAGES)
		return counter_approx(&mm->rss_stat[MM_ANONPAGES]) == cache->pages[1];
	return counter_approx(&mm->rss_stat[MM_SHMEMPAGES]) == cache->pages[2];
}

// Fill the cache with mm, of no watched cgroup when entry is NULL. gen is
// the cache generation read before the mm was classified or charged.
static __always_inline void cache_fill(struct mm_cache *cache, __u64 key, __u64 gen,
				       struct mm_entry *entry)
{
	struct limits *lim;
	struct usage *use;
	__u32 index;
	__u64 seq, bytes, margin;

	cache->mm = key;
	cache->gen = gen;
	cache->skip = 0;
	if (!entry) {
		cache->slot = NO_SLOT;
		return;
	}
	index = entry->slot;
	cache->slot = index;
	lim = bpf_map_lookup_elem(&cgroup_limits, &index);
	use = bpf_map_lookup_elem(&cgroup_usage, &index);
	if (!lim || !use || lim->cgroup != entry->cgroup)
		return;
	// The seq first, then what it guards: a charge that lands in between
	// changes the seq again, and the next event finds it changed.
	// NOTE: this relies on loads not being reordered with other loads,
	// which x86 guarantees. Elsewhere a stale charged value can be cached
	// with a new seq; its error lasts until the counter moves again.
	seq = *(volatile __u64 *)&use->seq;
	asm volatile("" ::: "memory");
	cache->seq = seq;
	cache->pages[0] = *(volatile __s64 *)&entry->pages[MM_FILEPAGES];
	cache->pages[1] = *(volatile __s64 *)&entry->pages[MM_ANONPAGES];
	cache->pages[2] = *(volatile __s64 *)&entry->pages[MM_SHMEMPAGES];
	bytes = pages_to_bytes(*(volatile __s64 *)&use->pages);
	margin = zone_margin(use, entry);
	// Not while the mm is marked exact, because the first event outside
	// the zone must reach account and mark it. Otherwise a return to the
	// zone would not re-sum it, although it was charged inexact values
	// in between. Not during a re-sum either (see resum_all). The seq,
	// read first, is the one that the start of the re-sum changed.
	cache->skip = !near(bytes, bytes, lim->soft, margin) && !near(bytes, bytes, lim->hard, margin) &&
		      *(volatile __u32 *)&entry->inexact && !*(volatile __s64 *)&use->resums;
}

SEC("tp_btf/rss_stat")
int BPF_PROG(on_rss_stat, struct mm_struct *mm, int member)
{
	__u32 zero = 0;
	struct config *cfg;
	struct mm_entry *entry;
	struct task_struct *task;
	struct mm_cache *cache;
	__u64 key = (__u64)mm, gen;

	if (member == MM_SWAPENTS)
		return 0;
	// The fast path: no helper call, and at most three cache lines
	// besides the mm's own (see mm_cache).
	gen = *(volatile __u64 *)&config_gen + *(volatile __u64 *)&cache_drops;
	cache = bpf_map_lookup_elem(&mm_cache, &zero);
	if (!cache)
		return 0;
	if (cached_skip(cache, mm, member, gen))
		return 0;

	cfg = bpf_map_lookup_elem(&watch_config, &zero);
	if (!cfg || cfg->watched == 0)
		return 0;
	task = bpf_get_current_task_btf();
	if (task->mm != mm || (task->flags & PF_KTHREAD)) {
		// Another context: a remote update (ptrace, process_vm_writev,
		// khugepaged, reclaim) or the teardown of the mm, which runs
		// once mm_users is 0. Such events are rare, and those that get
		// here take the exact path.
		if (mm->mm_users.counter == 0)
			__sync_fetch_and_add(&cache_drops, 1);
		entry = bpf_map_lookup_elem(&mms, &key);
		if (entry)
			account(mm, entry, member, false, task, false);
		return 0;
	}

	entry = bpf_map_lookup_elem(&mms, &key);
	if (entry) {
		if (account(mm, entry, member, false, task, true))
			cache_fill(cache, key, gen, entry);
		else
			cache->mm = 0;
		return 0;
	}

	// Unknown mm: learn its owner. Only from its own task, because a
	// remote update can come from any context.
	__u32 slot = 0;
	__u64 cgroup = owner_cgroup(mm, cfg, &slot);
	if (!cgroup) {
		cache_fill(cache, key, gen, 0);
		return 0;
	}
	struct mm_entry fresh = {.cgroup = cgroup, .slot = slot};
	if (bpf_map_update_elem(&mms, &key, &fresh, BPF_NOEXIST))
		return 0;
	count_entry(slot);
	entry = bpf_map_lookup_elem(&mms, &key);
	if (!entry)
		return 0;
	if (account(mm, entry, member, true, task, true))
		cache_fill(cache, key, gen, entry);
	else
		cache->mm = 0;
	return 0;
}

// A task moved to another cgroup. It may own an address space that a
// per-CPU cache records as not watched, so every cache is dropped.
SEC("tp_btf/cgroup_attach_task")
int BPF_PROG(on_cgroup_attach)
{
	__sync_fetch_and_add(&cache_drops, 1);
	return 0;
}

// Task iterator run by Watch, SetLimits and RSS (see syncMMs in ebpf.go). It
// charges the address spaces of processes already in watched cgroups, so
// they count before their next page fault, and it replaces the charged
// values of every address space it visits with exact per-CPU sums.
//
// The re-sync is what makes RSS exact. Away from limits on_rss_stat
// charges fbc->count, which lags the exact value by what sits in the
// per-CPU slots: less than percpu_counter_batch pages per CPU and
// counter. The lag stays until the mm's next rss_stat event, which for an
// idle process (a shell, a sleep) may never come. VmRSS in
// /proc/PID/status has been the exact sum since Linux 6.16
// (get_mm_counter_sum() in task_mem(), commit 82241a83cd15, also in
// stable kernels). Before that it was fbc->count.
SEC("iter/task")
int sync_mms(struct bpf_iter__task *ctx)
{
	struct task_struct *task = ctx->task;
	__u32 zero = 0;
	struct config *cfg;
	struct mm_struct *mm;
	struct mm_entry *entry;

	compute_cpu_offsets();
	if (!task || (task->flags & PF_KTHREAD))
		return 0;
	mm = task->mm;
	if (!mm)
		return 0;
	// The iterator visits every thread. Threads share the mm of their
	// group leader, so only the leader syncs it, unless the leader has
	// exited (its mm is NULL) while other threads run on.
	if (task->pid != task->tgid && BPF_CORE_READ(task, group_leader, mm) == mm)
		return 0;
	cfg = bpf_map_lookup_elem(&watch_config, &zero);
	if (!cfg || cfg->watched == 0)
		return 0;

	__u64 key = (__u64)mm;
	entry = bpf_map_lookup_elem(&mms, &key);
	if (!entry) {
		__u32 slot = 0;
		__u64 cgroup = owner_cgroup(mm, cfg, &slot);
		if (!cgroup)
			return 0;
		struct mm_entry fresh = {.cgroup = cgroup, .slot = slot};
		// An entry that on_rss_stat added in the meantime is synced
		// below as well.
		if (bpf_map_update_elem(&mms, &key, &fresh, BPF_NOEXIST) == 0)
			count_entry(slot);
		entry = bpf_map_lookup_elem(&mms, &key);
		if (!entry)
			return 0;
	}
	// curr false selects the exact sum, and an mm with no resident pages
	// is not kept. A limit that the exact sum crosses is reported with
	// PID 0 and without a kill, like a crossing found by SetLimits.
	account(mm, entry, MM_ANONPAGES, true, task, false);
	// NOTE: an mm whose last user exits while the iterator runs can be
	// synced after its teardown already zeroed the counters. Checking
	// mm_users again narrows that window but does not close it.
	if (BPF_CORE_READ(mm, mm_users.counter) == 0)
		discharge(key);
	return 0;
}
