/*
 * ctlfs-init is a container's init. The supervisor, ctlfs serve, starts
 * it from beside its own binary in each container's new namespaces; it is
 * not meant to be run by hand. It builds the container's root, starts the
 * command, stays PID 1 to reap orphans and forward signals, and reports
 * the command's raw wait status to the supervisor. When it exits, the
 * kernel kills every other process of the PID namespace.
 *
 * It is a C program of one thread so that it starts fast and stays small:
 * every container pays its start, and its memory counts against the
 * container's limits. The Go runtime's start and its signal set-up cost
 * each init about 2 ms of CPU time and six more threads.
 *
 * The protocol with the supervisor is in runtime/initproc/protocol.go:
 * descriptors 3 to 8, the configuration's fields and the status lines.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <linux/capability.h>

/* Descriptors the init inherits besides 0-2 (see protocol.go). */
enum {
	CONFIG_FD = 3,   /* the configuration, then end of file to start */
	STATUS_FD = 4,   /* status lines to the supervisor */
	DEATH_FD = 5,    /* end of file: the supervisor died */
	LOG_PIPE_FD = 6, /* a second read end of the output pipe */
	LOG_DIR_FD = 7,  /* the directory of the logs */
	LOG_COPY_FD = 8, /* a read end of the supervisor's copy pipe */
};

/* PROTOCOL_VERSION is initproc.Version, which the ready line carries. */
#define PROTOCOL_VERSION "2"

/* TASKS_ENV names the descriptor of a cgroup v1 tasks file to join. */
#define TASKS_ENV "CTLFS_TASKS_FD"

/* MAX_FIELD is the longest value a configuration field may have. */
#define MAX_FIELD (1 << 20)

/* The kernel's signal set: 64 signals, one bit each. */
typedef unsigned long long ksigset;
#define SIGBIT(s) (1ULL << ((s) - 1))

struct list {
	char **items; /* NULL-terminated */
	size_t len, cap;
};

struct config {
	char *name, *rootfs, *upper, *work, *path, *log;
	struct list argv, env;
	bool newnet, autogroup, hugepagesoff;
	int nice;
};

static const char *errstr(int err);

/* report writes one status line to the supervisor. A supervisor that is
 * gone is noticed through the death pipe, not here. */
static void report(const char *line)
{
	size_t n = strlen(line);
	while (n > 0) {
		ssize_t w = write(STATUS_FD, line, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		line += w;
		n -= (size_t)w;
	}
}

/* fail reports a command that could not start, in the log and to the
 * supervisor, and exits with code: 127, or 126 when the program exists
 * but cannot be executed. */
__attribute__((noreturn, format(printf, 2, 3)))
static void fail(int code, const char *format, ...)
{
	char msg[4096], line[4200];
	va_list ap;
	va_start(ap, format);
	vsnprintf(msg, sizeof msg, format, ap);
	va_end(ap);
	for (char *p = msg; *p; p++)
		if (*p == '\n')
			*p = ' ';
	dprintf(2, "ctlfs-init: %s\n", msg);
	snprintf(line, sizeof line, "failed %d %s\n", code, msg);
	report(line);
	_exit(code);
}

/* errstr returns the text of err as Go spells it, starting lower case,
 * so that reasons read alike whichever side of the pipe made them. */
static const char *errstr(int err)
{
	static char buf[128];
	snprintf(buf, sizeof buf, "%s", strerror(err));
	if (buf[0] >= 'A' && buf[0] <= 'Z' && (buf[1] < 'A' || buf[1] > 'Z'))
		buf[0] = (char)(buf[0] - 'A' + 'a');
	return buf;
}

static void *xrealloc(void *p, size_t n)
{
	p = realloc(p, n);
	if (p == NULL)
		fail(127, "out of memory");
	return p;
}

static void list_add(struct list *l, char *item)
{
	if (l->len + 2 > l->cap) {
		l->cap = l->cap ? 2 * l->cap : 8;
		l->items = xrealloc(l->items, l->cap * sizeof *l->items);
	}
	l->items[l->len++] = item;
	l->items[l->len] = NULL;
}

/* The configuration pipe, read through a small buffer. */
static struct {
	char buf[4096];
	size_t start, end;
} in;

/* config_byte returns the next byte of the configuration pipe, or -1 at
 * end of file. */
static int config_byte(void)
{
	if (in.start == in.end) {
		ssize_t n;
		do
			n = read(CONFIG_FD, in.buf, sizeof in.buf);
		while (n < 0 && errno == EINTR);
		if (n < 0)
			fail(127, "read configuration: %s", errstr(errno));
		if (n == 0)
			return -1;
		in.start = 0;
		in.end = (size_t)n;
	}
	return (unsigned char)in.buf[in.start++];
}

/* read_word reads up to a space into buf, without it, and ends buf with a
 * NUL byte. It returns the length, WORD_EOF at end of file before the
 * first byte, WORD_CUT at end of file after it, or WORD_LONG for a word
 * that does not fit in buf. */
enum { WORD_EOF = -1, WORD_CUT = -2, WORD_LONG = -3 };

static int read_word(char *buf, size_t size)
{
	size_t n = 0;
	for (;;) {
		int c = config_byte();
		if (c < 0) {
			buf[n] = 0;
			return n == 0 ? WORD_EOF : WORD_CUT;
		}
		if (c == ' ')
			break;
		if (n + 1 >= size) {
			buf[n] = 0;
			return WORD_LONG;
		}
		buf[n++] = (char)c;
	}
	buf[n] = 0;
	return (int)n;
}

/* read_field reads one field: its key, the length of its value in
 * decimal, the value and a newline, with a space after the key and after
 * the length. It returns the value, which contains no NUL byte. */
static char *read_field(char *key, size_t keysize)
{
	char size[16];
	int len = read_word(key, keysize);
	if (len == WORD_EOF)
		fail(127, "read configuration: configuration ends before its end field");
	/* A NUL byte in a word would end it early for strcmp and strtol. */
	if (len < 0 || strlen(key) != (size_t)len)
		fail(127, "read configuration: invalid configuration field \"%s\"", key);
	len = read_word(size, sizeof size);
	if (len == WORD_EOF || len == WORD_CUT)
		fail(127, "read configuration: invalid configuration field \"%s\"", key);
	long n = -1;
	if (len > 0) {
		char *endp;
		errno = 0;
		n = strtol(size, &endp, 10);
		if (errno || endp != size + len)
			n = -1;
	}
	if (n < 0 || n > MAX_FIELD)
		fail(127, "read configuration: invalid length of configuration field \"%s\"", key);
	char *value = xrealloc(NULL, (size_t)n + 1);
	for (long i = 0; i <= n; i++) {
		int c = config_byte();
		if (c < 0 || (i == n && c != '\n') || (i < n && c == 0))
			fail(127, "read configuration: invalid configuration field \"%s\"", key);
		value[i] = (char)c;
	}
	value[n] = 0;
	return value;
}

static bool parse_bool(const char *key, const char *value)
{
	if (strcmp(value, "true") == 0)
		return true;
	if (strcmp(value, "false") == 0)
		return false;
	fail(127, "read configuration: invalid configuration field %s: %s", key, value);
}

/* read_config reads the configuration up to its end field. */
static void read_config(struct config *cfg)
{
	char key[64];
	for (;;) {
		char *value = read_field(key, sizeof key);
		if (strcmp(key, "end") == 0) {
			free(value);
			break;
		}
		if (strcmp(key, "name") == 0)
			cfg->name = value;
		else if (strcmp(key, "rootfs") == 0)
			cfg->rootfs = value;
		else if (strcmp(key, "upper") == 0)
			cfg->upper = value;
		else if (strcmp(key, "work") == 0)
			cfg->work = value;
		else if (strcmp(key, "newnet") == 0)
			cfg->newnet = parse_bool(key, value);
		else if (strcmp(key, "path") == 0)
			cfg->path = value;
		else if (strcmp(key, "arg") == 0)
			list_add(&cfg->argv, value);
		else if (strcmp(key, "env") == 0)
			list_add(&cfg->env, value);
		else if (strcmp(key, "nice") == 0) {
			char *endp;
			errno = 0;
			long n = strtol(value, &endp, 10);
			if (errno || endp == value || *endp || n < -20 || n > 19)
				fail(127, "read configuration: invalid configuration field nice: %s", value);
			cfg->nice = (int)n;
		} else if (strcmp(key, "log") == 0)
			cfg->log = value;
		else if (strcmp(key, "autogroup") == 0)
			cfg->autogroup = parse_bool(key, value);
		else if (strcmp(key, "hugepagesoff") == 0)
			cfg->hugepagesoff = parse_bool(key, value);
		else
			fail(127, "read configuration: unknown configuration field \"%s\"", key);
	}
	if (cfg->path == NULL || cfg->path[0] == 0)
		fail(127, "read configuration: configuration has no program path");
	if (cfg->name == NULL || cfg->rootfs == NULL)
		fail(127, "read configuration: configuration has no name or rootfs");
	if ((cfg->upper == NULL) != (cfg->work == NULL))
		fail(127, "read configuration: configuration has a layer without its upper or work directory");
	if (cfg->argv.items == NULL)
		list_add(&cfg->argv, cfg->path);
	if (cfg->env.items == NULL) {
		cfg->env.items = xrealloc(NULL, sizeof *cfg->env.items);
		cfg->env.items[0] = NULL;
	}
}

/* await_start waits for the end of the configuration pipe, which the
 * supervisor closes once the init is in the container's cgroups and the
 * memory monitor accounts it. It returns false when the supervisor died
 * instead. */
static bool await_start(void)
{
	struct pollfd fds[] = {{.fd = CONFIG_FD, .events = POLLIN}, {.fd = DEATH_FD, .events = POLLIN}};
	for (;;) {
		if (poll(fds, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			fail(127, "wait for the start: %s", errstr(errno));
		}
		if (fds[1].revents)
			return false;
		if (fds[0].revents)
			break;
	}
	if (config_byte() >= 0)
		fail(127, "read configuration: unexpected data after the end field");
	/* The supervisor's death closes the configuration pipe too. */
	fds[1].revents = 0;
	return poll(&fds[1], 1, 0) == 0;
}

/* copy_to_end appends what the pipe fd contains to out, until the pipe's
 * end of file or the deadline. */
static void copy_to_end(int fd, int out, const struct timespec *deadline)
{
	static char buf[64 << 10];
	struct pollfd pfd = {.fd = fd, .events = POLLIN};
	for (;;) {
		struct timespec now;
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec > deadline->tv_sec ||
		    (now.tv_sec == deadline->tv_sec && now.tv_nsec >= deadline->tv_nsec))
			return;
		int n = poll(&pfd, 1, 100);
		if (n <= 0)
			continue;
		ssize_t r = read(fd, buf, sizeof buf);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return; /* end of file: every writer is gone */
		for (ssize_t off = 0; off < r;) {
			ssize_t w = write(out, buf + off, (size_t)(r - off));
			if (w < 0 && errno == EINTR)
				continue;
			if (w <= 0)
				break;
			off += w;
		}
	}
}

/* save_log appends to the log what the container wrote and the dead
 * supervisor did not put in it: first what its copy pipe holds, which is
 * older, then what the output pipe holds. It closes the init's own write
 * ends, 1 and 2, and reads until the killed processes have closed theirs,
 * for one second at most in all. */
static void save_log(const char *log)
{
	close(1);
	close(2);
	if (log == NULL || log[0] == 0)
		return;
	/* O_CREAT, because the supervisor creates the log at its first byte. */
	int out = openat(LOG_DIR_FD, log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (out < 0)
		return;
	struct timespec deadline;
	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec++;
	copy_to_end(LOG_COPY_FD, out, &deadline);
	copy_to_end(LOG_PIPE_FD, out, &deadline);
	close(out);
}

/* supervisor_died kills the container and keeps its unread output. */
__attribute__((noreturn))
static void supervisor_died(const char *log)
{
	kill(-1, SIGKILL);
	save_log(log);
	_exit(137);
}

/* join_cgroup moves the init into the cgroup v1 directory whose tasks
 * file is open on the descriptor TASKS_ENV names, if it is set. The
 * command and all its descendants start there. */
static void join_cgroup(void)
{
	const char *value = getenv(TASKS_ENV);
	if (value == NULL || value[0] == 0)
		return;
	char *endp;
	long fd = strtol(value, &endp, 10);
	if (*endp || fd < 0 || fd > 1 << 20)
		fail(127, "invalid %s \"%s\"", TASKS_ENV, value);
	if (write((int)fd, "0", 1) != 1)
		fail(127, "join pids cgroup: %s", errstr(errno));
	close((int)fd);
}

static char *join_path(const char *dir, const char *name)
{
	char *p;
	if (asprintf(&p, "%s/%s", dir, name) < 0)
		fail(127, "out of memory");
	return p;
}

/* copy_device makes a device node at dst with the type, number and mode
 * of the host's src. A node costs the tmpfs an inode, where a bind mount
 * of src costs a mount, which every later copy of the mount table walks. */
static void copy_device(const char *src, const char *dst)
{
	struct stat st;
	if (stat(src, &st) < 0)
		fail(127, "stat %s: %s", src, errstr(errno));
	if (!S_ISCHR(st.st_mode))
		fail(127, "%s is not a character device", src);
	if (mknod(dst, st.st_mode, st.st_rdev) < 0)
		fail(127, "create %s: %s", dst, errstr(errno));
	/* Mknod's mode is reduced by the umask. */
	if (chmod(dst, st.st_mode & 07777) < 0)
		fail(127, "set the mode of %s: %s", dst, errstr(errno));
}

/* setup_dev mounts a tmpfs on dev with the usual harmless devices, a
 * private devpts, /dev/shm and the standard symbolic links. */
static void setup_dev(const char *dev)
{
	static const char *const nodes[] = {"null", "zero", "full", "random", "urandom", "tty"};
	static const char *const links[][2] = {
		{"/proc/self/fd", "fd"},     {"/proc/self/fd/0", "stdin"},
		{"/proc/self/fd/1", "stdout"}, {"/proc/self/fd/2", "stderr"},
		{"pts/ptmx", "ptmx"},
	};
	if (mount("tmpfs", dev, "tmpfs", MS_NOSUID | MS_NOEXEC, "mode=755,size=65536k") < 0)
		fail(127, "mount tmpfs on %s (does the rootfs have /dev?): %s", dev, errstr(errno));
	for (size_t i = 0; i < sizeof nodes / sizeof nodes[0]; i++) {
		char host[32];
		snprintf(host, sizeof host, "/dev/%s", nodes[i]);
		char *dst = join_path(dev, nodes[i]);
		copy_device(host, dst);
		free(dst);
	}
	char *pts = join_path(dev, "pts"), *shm = join_path(dev, "shm");
	if (mkdir(pts, 0755) < 0)
		fail(127, "create %s: %s", pts, errstr(errno));
	if (mkdir(shm, 0755) < 0)
		fail(127, "create %s: %s", shm, errstr(errno));
	if (mount("devpts", pts, "devpts", MS_NOSUID | MS_NOEXEC,
		  "newinstance,ptmxmode=0666,mode=620") < 0)
		fail(127, "mount devpts: %s", errstr(errno));
	if (mount("shm", shm, "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777,size=65536k") < 0)
		fail(127, "mount /dev/shm: %s", errstr(errno));
	free(pts);
	free(shm);
	for (size_t i = 0; i < sizeof links / sizeof links[0]; i++) {
		char *dst = join_path(dev, links[i][1]);
		if (symlink(links[i][0], dst) < 0)
			fail(127, "create /dev/%s: %s", links[i][1], errstr(errno));
		free(dst);
	}
}

/* mount_root mounts the container's root on the rootfs's own path, in
 * the init's mount namespace: the overlay of the private layer on the
 * rootfs or, without a layer, a bind mount of the rootfs. The overlay
 * finds its lower directory before its mount covers it, so the layer
 * needs no directory to mount on. */
static void mount_root(const struct config *cfg)
{
	if (cfg->upper != NULL) {
		char *opts;
		if (asprintf(&opts, "lowerdir=%s,upperdir=%s,workdir=%s", cfg->rootfs, cfg->upper,
			     cfg->work) < 0)
			fail(127, "out of memory");
		if (mount("overlay", cfg->rootfs, "overlay", 0, opts) < 0)
			fail(127, "mount overlay of %s with layer %s: %s", cfg->rootfs, cfg->upper,
			     errstr(errno));
		free(opts);
		return;
	}
	if (mount(cfg->rootfs, cfg->rootfs, NULL, MS_BIND | MS_REC, NULL) < 0)
		fail(127, "bind mount rootfs %s: %s", cfg->rootfs, errstr(errno));
}

/* pivot_to makes root the new / and detaches the old one. Stacking the
 * old root under the new one (pivot_root(".", ".")) needs no directory
 * for it inside the rootfs. */
static void pivot_to(const char *root)
{
	if (chdir(root) < 0)
		fail(127, "enter rootfs: %s", errstr(errno));
	if (syscall(SYS_pivot_root, ".", ".") < 0)
		fail(127, "pivot_root to %s: %s", root, errstr(errno));
	if (umount2(".", MNT_DETACH) < 0)
		fail(127, "detach old root: %s", errstr(errno));
	if (chdir("/") < 0)
		fail(127, "enter /: %s", errstr(errno));
}

/* The parts of /proc that are hidden, as runc hides them: files under
 * /dev/null, directories under an empty read-only tmpfs. They expose
 * kernel memory, keys, timers and hardware of the host. */
static const char *const masked_paths[] = {
	"/proc/acpi", "/proc/asound", "/proc/interrupts", "/proc/kcore",
	"/proc/keys", "/proc/latency_stats", "/proc/sched_debug", "/proc/scsi",
	"/proc/timer_list", "/proc/timer_stats",
};

/* The parts of /proc mounted read-only: writing them would change the
 * host's kernel settings or trigger host-wide actions. */
static const char *const readonly_paths[] = {
	"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger",
};

/* restrict_proc masks and write-protects the sensitive parts of /proc. */
static void restrict_proc(void)
{
	for (size_t i = 0; i < sizeof masked_paths / sizeof masked_paths[0]; i++) {
		const char *p = masked_paths[i];
		struct stat st;
		if (stat(p, &st) < 0) {
			if (errno == ENOENT)
				continue;
			fail(127, "mask %s: %s", p, errstr(errno));
		}
		int err = S_ISDIR(st.st_mode) ? mount("tmpfs", p, "tmpfs", MS_RDONLY, "size=0")
					      : mount("/dev/null", p, NULL, MS_BIND, NULL);
		if (err < 0)
			fail(127, "mask %s: %s", p, errstr(errno));
	}
	for (size_t i = 0; i < sizeof readonly_paths / sizeof readonly_paths[0]; i++) {
		const char *p = readonly_paths[i];
		struct stat st;
		if (stat(p, &st) < 0 && errno == ENOENT)
			continue;
		if (mount(p, p, NULL, MS_BIND | MS_REC, NULL) < 0)
			fail(127, "bind %s: %s", p, errstr(errno));
		unsigned long flags = MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC;
		if (mount(p, p, NULL, flags, NULL) < 0)
			fail(127, "make %s read-only: %s", p, errstr(errno));
	}
}

/* bring_up_loopback sets the loopback interface of a new network
 * namespace up. */
static void bring_up_loopback(void)
{
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		fail(127, "open socket: %s", errstr(errno));
	struct ifreq ifr = {0};
	strcpy(ifr.ifr_name, "lo");
	if (ioctl(fd, SIOCGIFFLAGS, &ifr) < 0)
		fail(127, "get flags of lo: %s", errstr(errno));
	ifr.ifr_flags |= IFF_UP;
	if (ioctl(fd, SIOCSIFFLAGS, &ifr) < 0)
		fail(127, "set lo up: %s", errstr(errno));
	close(fd);
}

/* kept_caps is the capability bounding set of a container's command:
 * Docker's default set without CAP_MKNOD and CAP_NET_RAW, because ctlfs
 * has no device cgroup or seccomp filter to make those safe. Everything
 * else, CAP_SYS_ADMIN, CAP_SYS_PTRACE and CAP_SYS_MODULE among them, is
 * dropped, so a root process inside cannot mount, trace the init, load
 * modules or change the host's clock. */
static const int kept_caps[] = {
	CAP_CHOWN, CAP_DAC_OVERRIDE, CAP_FSETID, CAP_FOWNER,
	CAP_SETGID, CAP_SETUID, CAP_SETFCAP, CAP_SETPCAP,
	CAP_NET_BIND_SERVICE, CAP_SYS_CHROOT, CAP_KILL,
	CAP_AUDIT_WRITE,
};

/* drop_privileges limits what the command can gain. It shrinks the
 * capability bounding set to kept_caps and sets no_new_privs, so that no
 * set-user-ID program regains anything. It also makes the init
 * non-dumpable: without CAP_SYS_PTRACE no process of the container can
 * then open /proc/1/exe, the host's init binary, or the init's memory. */
static void drop_privileges(void)
{
	/* Up to 63, past what these headers know: a newer kernel's extra
	 * capabilities are dropped too, and EINVAL marks those it lacks. */
	for (int c = 0; c < 64; c++) {
		bool kept = false;
		for (size_t i = 0; i < sizeof kept_caps / sizeof kept_caps[0]; i++)
			kept |= kept_caps[i] == c;
		if (kept)
			continue;
		if (prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0 && errno != EINVAL)
			fail(127, "drop capability %d: %s", c, errstr(errno));
	}
	/* At exec, a root command also gains its inheritable capabilities,
	 * past the bounding set, and another user's command keeps its ambient
	 * ones. Both come from the supervisor, so clear them. */
	struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3};
	struct __user_cap_data_struct data[2];
	if (syscall(SYS_capget, &hdr, data) < 0)
		fail(127, "get capabilities: %s", errstr(errno));
	data[0].inheritable = data[1].inheritable = 0;
	if (syscall(SYS_capset, &hdr, data) < 0)
		fail(127, "clear inheritable capabilities: %s", errstr(errno));
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0)
		fail(127, "clear ambient capabilities: %s", errstr(errno));
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		fail(127, "set no_new_privs: %s", errstr(errno));
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
		fail(127, "make init non-dumpable: %s", errstr(errno));
}

/* setup_root makes the rootfs the container's /, with a fresh /proc and a
 * minimal /dev, and detaches the host's root. */
static void setup_root(const struct config *cfg)
{
	if (sethostname(cfg->name, strlen(cfg->name)) < 0)
		fail(127, "set hostname: %s", errstr(errno));
	mount_root(cfg);
	char *dev = join_path(cfg->rootfs, "dev");
	setup_dev(dev);
	free(dev);
	pivot_to(cfg->rootfs);
	if (mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
		fail(127, "mount /proc: %s", errstr(errno));
	restrict_proc();
	if (cfg->newnet)
		bring_up_loopback();
	drop_privileges();
}

/* set_sigmask sets the calling thread's mask to the 64 signals of mask.
 * glibc's own calls keep its two internal signals, 32 and 33, out. */
static int set_sigmask(ksigset mask)
{
	return (int)syscall(SYS_rt_sigprocmask, SIG_SETMASK, &mask, NULL, sizeof mask);
}

/* set_default_action gives signal sig its default action. It calls the
 * kernel directly because glibc's sigaction rejects 32 and 33 with EINVAL,
 * which would leave them ignored when the supervisor inherited them
 * ignored. An all-zero kernel struct sigaction is SIG_DFL with no flags
 * and an empty mask, whether or not the architecture has sa_restorer. */
static int set_default_action(int sig)
{
	unsigned long act[4] = {0};
	return (int)syscall(SYS_rt_sigaction, sig, act, NULL, sizeof(ksigset));
}

/* set_autogroup_nice sets the nice of the autogroup of process pid. It
 * fails harmlessly where autogroup is disabled. */
static void set_autogroup_nice(pid_t pid, int nice)
{
	char path[64], value[16];
	snprintf(path, sizeof path, "/proc/%d/autogroup", (int)pid);
	int n = snprintf(value, sizeof value, "%d", nice);
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	if (write(fd, value, (size_t)n) < 0) {
		/* nothing to do: the command runs at the autogroup's nice 0 */
	}
	close(fd);
}

/* start_command starts the command in a session of its own with only
 * descriptors 0-2, no blocked signal and every signal's default action,
 * and returns its PID. */
static pid_t start_command(const struct config *cfg)
{
	if (setpriority(PRIO_PROCESS, 0, cfg->nice) < 0)
		fail(127, "set nice %d: %s", cfg->nice, errstr(errno));
	/* Every descriptor above 2, inherited or ours, closes at exec. */
	if (syscall(SYS_close_range, 3, ~0U, 4 /* CLOSE_RANGE_CLOEXEC */) < 0)
		fail(127, "mark descriptors close-on-exec: %s", errstr(errno));
	/* The child reports a failed exec's errno on this pipe; exec closes
	 * it, so end of file means success. */
	int pipefd[2];
	if (pipe2(pipefd, O_CLOEXEC) < 0)
		fail(126, "exec %s: %s", cfg->path, errstr(errno));
	/* A fork that fails, as under pids=1, is a program that exists but
	 * cannot be executed: 126, with the text the Go init's ForkExec gave. */
	pid_t pid = fork();
	if (pid < 0)
		fail(126, "exec %s: %s", cfg->path, errstr(errno));
	if (pid == 0) {
		int err = 0;
		/* The command's address space takes the setting of transparent
		 * huge pages from this one at exec, and it gets the host's
		 * default unless they were off for the supervisor. */
		if (!cfg->hugepagesoff)
			prctl(PR_SET_THP_DISABLE, 0, 0, 0, 0);
		if (setsid() < 0 || chdir("/") < 0 || set_sigmask(0) < 0)
			err = errno;
		else {
			execve(cfg->path, cfg->argv.items, cfg->env.items);
			err = errno;
		}
		if (write(pipefd[1], &err, sizeof err) < 0) {
			/* the parent then reads end of file: nothing better to do */
		}
		_exit(127);
	}
	close(pipefd[1]);
	int err = 0;
	ssize_t n;
	do
		n = read(pipefd[0], &err, sizeof err);
	while (n < 0 && errno == EINTR);
	close(pipefd[0]);
	if (n == sizeof err) {
		waitpid(pid, NULL, __WALL);
		/* execve fails with EACCES for a directory, and EISDIR names the cause. */
		struct stat st;
		if (err == EACCES && stat(cfg->path, &st) == 0 && S_ISDIR(st.st_mode))
			err = EISDIR;
		fail(err == ENOENT ? 127 : 126, "exec %s: %s", cfg->path, errstr(err));
	}
	if (cfg->autogroup && cfg->nice != 0)
		/* The command's setsid made it a new autogroup of nice 0. */
		set_autogroup_nice(pid, cfg->nice);
	report("started\n");
	return pid;
}

/* reap_rest reaps the children that have exited and reports whether none
 * is left. Every process of the PID namespace descends from the init, and
 * one whose parent died becomes its child, so with no child the init is
 * the only process of the container. */
static bool reap_rest(void)
{
	for (;;) {
		pid_t pid = waitpid(-1, NULL, __WALL | WNOHANG);
		if (pid < 0 && errno == EINTR)
			continue;
		if (pid < 0 && errno == ECHILD)
			return true;
		if (pid <= 0)
			return false;
	}
}

/* command_ended reports the command's wait status and exits. When it was
 * the last process, the init first closes its output and the status pipe:
 * their end of file shows the supervisor that the container has finished,
 * without waiting for this process's exit. */
__attribute__((noreturn))
static void command_ended(int status)
{
	bool alone = reap_rest();
	char line[64];
	snprintf(line, sizeof line, "exited %u%s\n", (unsigned)status, alone ? " alone" : "");
	report(line);
	if (alone) {
		close(1);
		close(2);
		close(STATUS_FD);
	}
	_exit(0);
}

/* own_signal reports whether the kernel raised si for the init itself
 * and not for a kill. SIGCHLD at a child's end or stop carries a CLD_
 * code. SIGPIPE at the init's own write to a closed pipe carries SI_USER
 * with the init's PID. A kill of either is forwarded like any signal. */
static bool own_signal(const struct signalfd_siginfo *si)
{
	if (si->ssi_signo == SIGCHLD)
		return si->ssi_code > 0;
	if (si->ssi_signo == SIGPIPE)
		return si->ssi_code == SI_USER && si->ssi_pid == 1;
	return false;
}

/* serve forwards every signal the init receives to the command, reaps
 * every child, the orphans the init inherits among them, and ends with
 * the command, or with the supervisor. */
__attribute__((noreturn))
static void serve(int sigfd, pid_t cmd, const char *log)
{
	struct pollfd fds[] = {{.fd = sigfd, .events = POLLIN}, {.fd = DEATH_FD, .events = POLLIN}};
	for (;;) {
		if (poll(fds, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			fail(127, "wait for the command: %s", errstr(errno));
		}
		if (fds[1].revents)
			supervisor_died(log);
		struct signalfd_siginfo si[16];
		ssize_t n = read(sigfd, si, sizeof si);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n < 0)
			fail(127, "read signals: %s", errstr(errno));
		for (size_t i = 0; i < (size_t)n / sizeof si[0]; i++) {
			if (!own_signal(&si[i]))
				kill(cmd, (int)si[i].ssi_signo);
			if (si[i].ssi_signo != SIGCHLD)
				continue;
			for (;;) {
				int status;
				pid_t pid = waitpid(-1, &status, __WALL | WNOHANG);
				if (pid < 0 && errno == EINTR)
					continue;
				if (pid <= 0)
					break;
				if (pid == cmd)
					command_ended(status);
			}
		}
	}
}

int main(void)
{
	/* The supervisor sets a parent-death signal on the init, which would
	 * kill it before it saves the unread log. The death pipe covers that
	 * death from here on. */
	prctl(PR_SET_PDEATHSIG, 0, 0, 0, 0);
	/* ps shows the command name, which exec takes from the file name of
	 * the program, whatever CTLFS_INIT or the installer named it. */
	prctl(PR_SET_NAME, "ctlfs-init", 0, 0, 0);
	/* Every signal waits blocked until the signal descriptor reads it.
	 * The kernel drops a signal without a handler that is sent to a PID
	 * namespace's init, unless it is blocked: from here on, none is lost,
	 * and signals that arrive before the command starts are forwarded to
	 * it. */
	ksigset all = ~0ULL;
	if (set_sigmask(all) < 0)
		fail(127, "block signals: %s", errstr(errno));
	ksigset watched = all & ~(SIGBIT(SIGKILL) | SIGBIT(SIGSTOP));
	int sigfd = (int)syscall(SYS_signalfd4, -1, &watched, sizeof watched, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sigfd < 0)
		fail(127, "open signal descriptor: %s", errstr(errno));
	/* The command gets each signal's default action, whatever the
	 * supervisor ignored. */
	for (int s = 1; s <= 64; s++)
		if (s != SIGKILL && s != SIGSTOP && set_default_action(s) < 0)
			fail(127, "reset the action of signal %d: %s", s, errstr(errno));
	join_cgroup();
	/* Nothing mounted from here on may propagate back to the host. */
	if (mount("", "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		fail(127, "make / private: %s", errstr(errno));
	report("ready " PROTOCOL_VERSION "\n");

	struct config cfg = {0};
	read_config(&cfg);
	setup_root(&cfg);
	if (!await_start())
		supervisor_died(cfg.log);
	pid_t cmd = start_command(&cfg);
	serve(sigfd, cmd, cfg.log);
}
