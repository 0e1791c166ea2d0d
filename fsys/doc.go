// Package fsys serves ctlfs's control interface: a synthetic FUSE file
// tree in which every container is a directory, every setting a file, and
// every action a line of text written to a file.
//
// # Synopsis
//
//	ctlfs serve --mount /mnt/ctl --rootfs /srv/rootfs
//
//	mkdir /mnt/ctl/NAME
//	echo '/bin/sh -c "echo hi"' > /mnt/ctl/NAME/cmd
//	cat /mnt/ctl/NAME/wait /mnt/ctl/NAME/log
//	rmdir /mnt/ctl/NAME
//
// # Description
//
// The tree is mounted with direct mount and without allow_other, so only
// the user who mounted it, root, may use it. Every file belongs to root,
// and its permission bits below are what ls -l shows and what open(2) and
// access(2) enforce: r is mode 0444, w is 0200 and rw is 0644.
//
// The root directory contains:
//
//	NAME/    dir  One directory per container. mkdir creates a container
//	              in state created; rmdir removes a container that is not
//	              running, with its log, its record and its writable layer.
//	ctl      w    The command shutdown: stop every container as stop does,
//	              unmount the tree and end the supervisor with status 0.
//	              The shutdown begins when the writer closes the file, so
//	              that its write returns before the tree goes away.
//	status   r    A header line, then one line per container, fields
//	              separated by tabs: NAME STATE PID RSS NICE COMMAND.
//	              An empty field reads -, and a tab or newline inside a
//	              field reads as a space.
//	events   r    Every event of every container, one line each. It grows.
//	monitor  r    The memory monitor: the first word is ebpf, or proc for
//	              the /proc poller that replaces it, then why and details.
//	metrics  r    Every container's state, RSS, limits, CPU time, starts,
//	              limit crossings and log bytes, and the supervisor's own
//	              process figures, in the Prometheus text exposition
//	              format (see Metrics).
//	err      r    Why the last rejected operation at the root was rejected.
//
// The names of the root's files are reserved: mkdir of one fails with
// EEXIST. A container name is 1 to 64 characters from [A-Za-z0-9_.-] and
// does not start with '.' or '-'; mkdir of any other name fails with
// EINVAL.
//
// A container directory contains:
//
//	rootfs  rw  The absolute path of the root file system directory. It
//	            reads as the supervisor's default rootfs until written.
//	cmd     rw  The command line. Writing it starts the container; it is
//	            split into words as a POSIX shell splits them, with quotes
//	            and backslashes, but nothing is expanded; a NUL byte is
//	            EINVAL. The program is
//	            looked up in the rootfs, in the command's PATH when it has
//	            no slash. It runs as root in / with stdin from /dev/null
//	            and the environment PATH=/usr/local/sbin:/usr/local/bin:
//	            /usr/sbin:/usr/bin:/sbin:/bin, HOME=/root, HOSTNAME=NAME,
//	            and the lines of env, which may replace these. When it
//	            still cannot be executed, state reads exited 127
//	            reason=start-failed (126 when it is not executable), and
//	            log contains the reason. The write returns once the
//	            command runs, or once state reads that failure.
//	limits  rw  Resource limits as key=value pairs (see Limits).
//	env     rw  NAME=value lines added to the default environment. A
//	            write replaces all of them, and "echo > env" clears them.
//	            Write several lines in one write(2), as cat <<EOF > env
//	            does: bash's echo -e and printf builtins write each line
//	            separately, and each write replaces the one before.
//	net     rw  none, the default (a network namespace with only
//	            loopback), or host.
//	ctl     rw  A command (see Control commands). Reading lists them.
//	state   r   created, running, frozen, stopping, or
//	            "exited CODE [signal=NAME] [reason=REASON]". CODE follows
//	            the shell: 128 plus the signal's number when a signal
//	            ended the command. REASON is why the supervisor ended it:
//	            stop, kill, hard-limit, shutdown, start-failed, or lost
//	            (the supervisor died while it ran). A command that exits
//	            137 by itself reads "exited 137", with no signal.
//	wait    r   Blocks until the container is not running, then reads as
//	            state. A signal to the reader, such as ^C, ends the wait.
//	            By then every process of the command has exited and its
//	            output is in log. The container's init may still be
//	            ending for a few milliseconds, and its cgroups go after
//	            it.
//	pid     r   The host PID of the container's init; empty when it is not
//	            running.
//	rss     r   The resident memory of all its processes, the init's
//	            included, in bytes: the sum of their VmRSS. 0 when the
//	            container is not running.
//	nice    r   The nice value of its tasks.
//	log     r   Its standard output and error, raw bytes in arrival order.
//	            It grows. On disk it is STATE_DIR/logs/NAME.log, made at
//	            the first byte, so a container that never wrote has none.
//	events  r   Its events, as in the root's events file. It grows.
//	err     r   Why the last rejected operation in this directory was
//	            rejected.
//	status  r   "key value" lines for scripts: name, state, pid, rss, cpu,
//	            nice, rootfs, cmd, soft, hard, pids, cpus, started and
//	            exited. cpu is the CPU time of the current or last run in
//	            seconds, with microseconds; a restart keeps the last
//	            run's, and a run the supervisor lost by dying reads 0.
//	            An empty value reads -, times are RFC 3339 in UTC with
//	            microseconds, and the value runs to the end of the line.
//
// # Reading
//
// A value file (every readable file but log and events) reports size 0.
// Its content is taken when the file is opened, so that reads in several
// chunks see one value; wait takes it at the first read instead. A
// growing file (log and the events files) reports its current size, so
// tail -f, which polls fstat(2), follows it; it is read at any offset.
// Every file uses direct I/O and the kernel caches no attributes and no
// missing names, so a read never returns stale data and a new container
// directory appears at once. The kernel keeps the names it found, which
// go away only through rmdir.
//
// # Writing
//
// Each write(2) carries one whole value or command, and one trailing
// newline is ignored. The truncation that "echo x > file" sends before
// its write is accepted and changes nothing. The offset is ignored, so a
// descriptor kept open takes one command per write. A single write may
// carry up to 64 KiB minus one byte.
//
// A write that cannot be applied changes nothing and fails at once with
// an errno. Its reason, in one line, becomes the content of the
// directory's err file and goes to the supervisor's log with the
// container's name and the file's. mkdir and rmdir of a container are
// operations on the root, so their reasons go to the root's err.
//
//	EINVAL     the text does not parse, a value is out of range, soft >
//	           hard, a CPU that is not online, a bad container name, or a
//	           write of 64 KiB or more
//	EBUSY      cmd, rootfs, env or net while the container runs; rmdir
//	           of a running container
//	ESRCH      stop, kill, freeze or thaw of a container that is not
//	           running
//	ENOENT     rootfs names a path that does not exist; cmd names a
//	           program that is not in the rootfs; rmdir of a missing
//	           container
//	ENOTDIR    rootfs names something that is not a directory
//	EEXIST     mkdir of an existing container or a root file's name
//	EACCES     opening a read-only file for writing or a write-only file
//	           for reading, and truncating a read-only file
//	EPERM      creating, removing, renaming or linking entries of the
//	           tree, a subdirectory in a container directory, changing
//	           a mode, owner or time, truncating to a size other than 0
//	ESHUTDOWN  mkdir while the supervisor shuts down
//
// Errors that the kernel returned to the supervisor, such as EBUSY from a
// cgroup, reach the writer unchanged; any other failure is EIO. The kernel
// itself answers mkdir of a name that exists and rmdir of one that does
// not, before the supervisor sees them, so these leave err unchanged.
// A reason longer than 1 KiB is cut short.
//
// # Control commands
//
// A container's ctl file takes one command per write:
//
//	start           Run the command again with the current settings; the
//	                log is appended to.
//	stop [SECONDS]  SIGTERM to the init, which passes it to the command,
//	                then SIGKILL to every task after SECONDS, a decimal
//	                number such as 5 or 0.5; the default is the
//	                supervisor's --grace.
//	kill [SIGNAL]   Send SIGNAL, a name with or without SIG in any case,
//	                or a number from 1 to 64; the default is KILL, which
//	                goes to every task. STOP goes to the command itself,
//	                once its exec has succeeded or failed. Any other
//	                signal goes to the init, which passes it
//	                to the command, even one sent before the command
//	                started.
//	freeze, thaw    Suspend or resume every task; state reads frozen
//	                meanwhile. Freezing a frozen container, or thawing a
//	                running one, succeeds and changes nothing. A freeze
//	                waits until the command's exec has succeeded or failed.
//	nice N, N       Set nice N, from -20 to 19, on every task now and on
//	                tasks started later. On a container that is not
//	                running, N is stored and applied at its next start.
//
// # Limits
//
// A write to limits is key=value pairs separated by spaces or newlines;
// it sets only the keys it names. Reading returns one key=value line for
// every key, sizes in bytes.
//
//	soft  RSS in bytes above which one soft-limit event is emitted; it is
//	      emitted again after the RSS has dropped below the limit.
//	hard  RSS in bytes above which the container is killed; at least
//	      one 4 KiB page, so that hard=64, a forgotten unit, is EINVAL.
//	pids  The maximum number of tasks at once (default 1024). Threads
//	      count, and so does the init, which has one thread, so pids=1
//	      leaves the command no room to start.
//	cpus  The CPUs its tasks may run on, as a list such as 0-1,3, or all.
//
// A size is a number of bytes, or a number with K, M, G or T, optionally
// followed by i and B, all powers of 1024; max means unlimited.
//
// # Events
//
// Each line of an events file reads "TIME NAME EVENT key=value...", with
// TIME in RFC 3339 UTC with microseconds. The events are created, started
// (pid=), soft-limit and hard-limit (rss= limit=), nice (value=),
// stopping, exited (code= and the fields of state), removed, and error
// (reason=). error reason=log means that output could not be put into
// the log, for example because the log file could not be made at the
// first byte. The rest of that run's output is dropped, and the
// supervisor's log has the reason.
//
// # Metrics
//
// The root's metrics file is the Prometheus text exposition format,
// version 0.0.4, taken when the file is opened. Copy it into
// node_exporter's textfile directory, or serve a copy, to scrape it:
//
//	cp /mnt/ctl/metrics /var/lib/node_exporter/ctlfs.prom.tmp
//	mv /var/lib/node_exporter/ctlfs.prom.tmp /var/lib/node_exporter/ctlfs.prom
//
// Every container metric has the label container:
//
//	ctlfs_container_info                   1, with labels rootfs, command, net
//	ctlfs_container_state                  1 for the current state, 0 for
//	                                       the others (label state)
//	ctlfs_container_exit_code              for exited containers only
//	ctlfs_container_start_time_seconds     start of the current or last run
//	ctlfs_container_rss_bytes              as rss; 0 when not running
//	ctlfs_container_memory_soft_limit_bytes
//	ctlfs_container_memory_hard_limit_bytes
//	ctlfs_container_pids_limit             each absent when unlimited
//	ctlfs_container_nice
//	ctlfs_container_cpu_seconds_total      CPU time of the current or last
//	                                       run, as in status; back to 0 at
//	                                       each start
//	ctlfs_container_starts_total           runs started
//	ctlfs_container_memory_limit_crossings_total
//	                                       limit crossings (label limit:
//	                                       soft or hard)
//	ctlfs_container_log_bytes_total        bytes written to log
//
// and for the supervisor: ctlfs_containers, ctlfs_monitor_info (label
// kind: ebpf or proc) and the ctlfs_supervisor_process_ figures of
// Prometheus's process collector (CPU time, resident and virtual memory,
// open and maximum descriptors, start time). Counters start from 0 when
// the supervisor starts.
package fsys
