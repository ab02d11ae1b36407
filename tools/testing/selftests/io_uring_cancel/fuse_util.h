/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A raw FUSE file system for the io_uring_cancel tests that read /dev/fuse
 * (no libfuse): open the device, mount it in a private mount namespace and
 * answer FUSE_INIT; system calls of the file system's clients made in helper
 * threads; replies; and a watchdog timer that interrupts a system call of
 * the test's thread that must not block.
 *
 * Requests are read from /dev/fuse as a struct fuse_in_header and its
 * arguments, and answered with write(2) of a struct fuse_out_header and the
 * reply's arguments.
 *
 * The helper threads block every signal: the watchdog's SIGALRM is for the
 * test's thread. A client thread blocked in a FUSE request cannot be
 * interrupted: its waits are bounded by the test, and a thread that never
 * ends is left to the test process's exit, whose closing of /dev/fuse aborts
 * the connection; or, if that exit cannot finish, to the guardian.
 *
 * The guardian. Once the server has read a request (FR_SENT), its client
 * waits for the answer in request_wait_answer() uninterruptibly: not even
 * SIGKILL ends that wait. If the test fails then (an ASSERT_*() aborts the
 * test, and at -O2 the harness may skip the teardown: its `child` may be
 * clobbered by the longjmp()), the test process can never finish exiting:
 * its files, /dev/fuse among them, are released only when its last thread
 * exits, and only that release would abort the connection and end the
 * request. The harness SIGKILLs the test's process group at the test's
 * timeout and goes on, but the process stays, with its mounts, and holds
 * stdout and stderr open for good (whatever reads them waits for ever).
 *
 * So fuse_mount() forks a guardian for every mount: a process, not a thread
 * (it must not share the test's files, nor wait for its threads). It leaves
 * the harness's process group (setsid(), or the timeout would kill it too),
 * closes every file it inherited but stderr, the read end of a pipe whose
 * write end only the test process holds (its forked children close it:
 * fuse_guard_drop()) and the connection's fusectl abort file, and executes
 * the test program again (/proc/self/exe), which becomes the guardian in a
 * constructor, before the harness's main(): so it holds nothing else of the
 * test's, not even the mappings of its rings (a ring mapped in a forked copy
 * of the test's memory would outlive the test's closing of it, with its
 * pending reads). fuse_mount() goes on once the guardian runs. The guardian
 * polls the pipe. EOF: the test process is gone, with its files; the
 * guardian exits, touching nothing. No EOF FUSE_GUARD_MARGIN_MS after the
 * harness's timeout of the test: the test process is stuck, and the guardian
 * aborts the connection: umount2(MNT_FORCE) of the mount point if the mount
 * is still there (FUSE's umount_begin aborts the connection even when the
 * unmount then fails with EBUSY), a write to the abort file (which also
 * reaches a connection whose mount was detached, and does nothing once the
 * connection is gone, even if another mount reused its device number; none
 * without a private namespace if fusectl is not mounted), then
 * umount2(MNT_DETACH); it says so on stderr and exits. It lives in the
 * test's mount namespace. The harness waits for its own child only, not for
 * the guardian (a grandchild or further down); the test process never waits
 * for it, and once the test process is gone init (or a subreaper) reaps it.
 */
#ifndef __SELFTESTS_IO_URING_CANCEL_FUSE_UTIL_H
#define __SELFTESTS_IO_URING_CANCEL_FUSE_UTIL_H

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <sys/xattr.h>

#include <linux/fuse.h>

#include "../kselftest_harness.h"
#include "inline_test.h"

/* A read of the device needs room for at least this much. */
#ifndef FUSE_MIN_READ_BUFFER
#define FUSE_MIN_READ_BUFFER	8192
#endif

/* The largest request fuse_finish_call() reads while it waits. */
#define FUSE_SCRATCH_LEN	16384

/* The watchdog: SIGALRM interrupts a system call of the test's thread. */

/* Set by the handler; read and cleared with atomics, as a signal may come any time. */
static int watchdog_fired;

static void on_watchdog(int sig)
{
	(void)sig;
	__atomic_store_n(&watchdog_fired, 1, __ATOMIC_RELAXED);
}

/* Install the SIGALRM handler, without SA_RESTART. Returns 0 or -1. */
static inline int watchdog_init(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_watchdog;
	return sigaction(SIGALRM, &sa, NULL);
}

static inline bool fired(void)
{
	return __atomic_load_n(&watchdog_fired, __ATOMIC_RELAXED);
}

/* Send SIGALRM in @ms; 0 disarms. */
static inline void watchdog(unsigned int ms)
{
	struct itimerval it;

	memset(&it, 0, sizeof(it));
	it.it_value.tv_sec = ms / 1000;
	it.it_value.tv_usec = (ms % 1000) * 1000;
	if (ms)
		__atomic_store_n(&watchdog_fired, 0, __ATOMIC_RELAXED);
	setitimer(ITIMER_REAL, &it, NULL);
}

/* For a failure message: whether the watchdog interrupted the call. */
static inline const char *wd_note(void)
{
	return fired() ? " (it blocked until the watchdog fired)" : "";
}

/* Clients: one system call on the file system, in a helper thread. */

enum fuse_call_op {
	FUSE_CALL_STAT,		/* stat(2) @path into @sb */
	FUSE_CALL_SETXATTR,	/* setxattr(2) @xname = @xvalue (@xsize bytes) on @path */
	FUSE_CALL_OPEN,		/* open(2) @path O_RDONLY: @fd */
	FUSE_CALL_FN,		/* @fn(@arg) */
};

struct fuse_call {
	enum fuse_call_op op;
	char path[96];
	unsigned int delay_ms;	/* sleep this long first */
	const char *xname;
	const void *xvalue;
	size_t xsize;
	void (*fn)(void *arg);	/* returns with errno set, 0 if it succeeded */
	void *arg;
	struct stat sb;
	int fd;			/* the open(2)ed file, -1 if none */
	pid_t tid;		/* the thread: the pid of its requests */
	int err;		/* errno of the call, 0 if it succeeded */
	bool done;		/* the call returned (store-release) */
	pthread_t thr;
	bool running;		/* thr was started and not joined */
};

static void *fuse_call_fn(void *arg)
{
	struct fuse_call *c = arg;
	int ret = 0;

	__atomic_store_n(&c->tid, (pid_t)syscall(SYS_gettid), __ATOMIC_RELEASE);
	if (c->delay_ms)
		iou_sleep_us(c->delay_ms * 1000);
	errno = 0;
	switch (c->op) {
	case FUSE_CALL_STAT:
		ret = stat(c->path, &c->sb);
		break;
	case FUSE_CALL_SETXATTR:
		ret = setxattr(c->path, c->xname, c->xvalue, c->xsize, 0);
		break;
	case FUSE_CALL_OPEN:
		c->fd = open(c->path, O_RDONLY | O_CLOEXEC);
		ret = c->fd < 0 ? -1 : 0;
		break;
	case FUSE_CALL_FN:
		c->fn(c->arg);
		ret = errno ? -1 : 0;
		break;
	}
	c->err = ret ? errno : 0;
	__atomic_store_n(&c->done, true, __ATOMIC_RELEASE);
	return NULL;
}

static inline void fuse_call_init(struct fuse_call *c)
{
	memset(c, 0, sizeof(*c));
	c->fd = -1;
}

/* Make @c a new call of @op, whose arguments the caller then sets. */
static inline void fuse_call_prep(struct __test_metadata *_metadata, struct fuse_call *c,
				  enum fuse_call_op op)
{
	ASSERT_FALSE(c->running) TH_LOG("the previous call is still running");
	fuse_call_init(c);
	c->op = op;
}

/* Start the helper thread of @c, prepared by fuse_call_prep(). */
static inline void fuse_call_start(struct __test_metadata *_metadata, struct fuse_call *c)
{
	sigset_t all, old;
	int ret;

	ASSERT_FALSE(c->running);
	c->tid = 0;
	c->err = 0;
	c->done = false;
	/* The helper takes no signal: the watchdog's SIGALRM is for this thread. */
	sigfillset(&all);
	ASSERT_EQ(0, pthread_sigmask(SIG_BLOCK, &all, &old));
	ret = pthread_create(&c->thr, NULL, fuse_call_fn, c);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	ASSERT_EQ(0, ret) TH_LOG("pthread_create: %s", strerror(ret));
	c->running = true;
}

/* Start a helper thread that stat(2)s @path after @delay_ms. */
static inline void fuse_stat_start(struct __test_metadata *_metadata, struct fuse_call *c,
				   const char *path, unsigned int delay_ms)
{
	fuse_call_prep(_metadata, c, FUSE_CALL_STAT);
	snprintf(c->path, sizeof(c->path), "%s", path);
	c->delay_ms = delay_ms;
	fuse_call_start(_metadata, c);
}

static inline bool fuse_call_done(struct fuse_call *c)
{
	return __atomic_load_n(&c->done, __ATOMIC_ACQUIRE);
}

/* The helper's tid, once it has started (0 before). */
static inline pid_t fuse_call_tid(struct fuse_call *c)
{
	return __atomic_load_n(&c->tid, __ATOMIC_ACQUIRE);
}

/*
 * Wait up to @ms for the call to return and join its thread. Returns true if
 * it did (or no thread runs), false if it is still blocked.
 */
static inline bool fuse_call_reap(struct fuse_call *c, unsigned int ms)
{
	__s64 deadline = iou_now_ns() + ms * 1000000LL;

	if (!c->running)
		return true;
	while (!fuse_call_done(c)) {
		if (iou_now_ns() > deadline)
			return false;
		iou_sleep_us(1000);
	}
	pthread_join(c->thr, NULL);
	c->running = false;
	return true;
}

/* The device and the mount. */

struct fuse_mnt {
	int fd;			/* /dev/fuse, blocking: the mount's connection */
	int guard;		/* the write end of the guardian's pipe, -1 if none */
	char mnt[32];		/* the mount point */
	bool own_dir;		/* mnt was made by mkdtemp(): no private namespace */
	bool mounted;
};

static inline void fuse_mnt_init(struct fuse_mnt *m)
{
	memset(m, 0, sizeof(*m));
	m->fd = -1;
	m->guard = -1;
}

/* Open /dev/fuse. Returns NULL, or why the test cannot run. */
static inline const char *fuse_dev_open(struct fuse_mnt *m)
{
	static char why[128];

	if (geteuid())
		return "needs root to mount a FUSE file system";
	m->fd = open("/dev/fuse", O_RDWR | O_CLOEXEC);
	if (m->fd < 0) {
		snprintf(why, sizeof(why), "cannot open /dev/fuse: %s", strerror(errno));
		return why;
	}
	return NULL;
}

/* The guardian (see the top of this file). */

/*
 * How long after the harness's timeout of the test (TEST_F_TIMEOUT()) the
 * guardian of a mount waits for the test process to end before it aborts
 * the connection. At that timeout the harness SIGKILLs the test's process
 * group: a process still there afterwards is stuck, so the guardian, which
 * starts counting at the mount, never cuts short a test that could still
 * end. -DFUSE_GUARD_MS=<ms> makes it wait that long instead, to try it out.
 */
#define FUSE_GUARD_MARGIN_MS	10000

/* Where fusectl is (or, in the test's private mount namespace, is mounted). */
#define FUSECTL_DIR		"/sys/fs/fuse/connections"

/* The environment variable that makes the test program a guardian. */
#define FUSE_GUARD_ENV		"IOUC_FUSE_GUARD"

#ifndef __NR_close_range
#define __NR_close_range	436
#endif

struct fuse_guard {
	char mnt[32];		/* the mount point */
	__u32 major, minor;	/* the mount's device number */
	unsigned int ms;	/* how long it waits for EOF */
	int rfd;		/* the read end of the pipe */
	int abort_fd;		/* the connection's fusectl abort file, or -1 */
	int ready;		/* another pipe: a byte on it says the guardian runs */
	int pid;		/* the test process */
	int own_dir;		/* mnt was made by mkdtemp(): remove it */
};

static inline unsigned int fuse_guard_ms(struct __test_metadata *_metadata)
{
#ifdef FUSE_GUARD_MS
	(void)_metadata;
	return FUSE_GUARD_MS;
#else
	return _metadata->timeout * 1000U + FUSE_GUARD_MARGIN_MS;
#endif
}

/* The mount on g->mnt is still the guarded one. */
static inline bool fuse_guard_mounted(const struct fuse_guard *g)
{
	struct statx stx;

	/* AT_STATX_DONT_SYNC: no GETATTR, which nobody would answer. */
	return !statx(AT_FDCWD, g->mnt, AT_STATX_DONT_SYNC, 0, &stx) &&
	       stx.stx_dev_major == g->major && stx.stx_dev_minor == g->minor;
}

/*
 * The guardian's process image: the test program, executed again with
 * FUSE_GUARD_ENV set by fuse_guard_start(), never reaches main(). It waits
 * for EOF on g->rfd and aborts the connection if EOF does not come in time.
 */
static void __attribute__((constructor)) fuse_guardian(void)
{
	const char *env = getenv(FUSE_GUARD_ENV), *forced, *ctl;
	struct pollfd pfd = { .events = POLLIN };
	struct fuse_guard g;
	__s64 deadline;
	char c = 'r';

	if (!env)
		return;
	memset(&g, 0, sizeof(g));
	if (sscanf(env, "%d %d %d %u %u %u %d %d %31s", &g.rfd, &g.abort_fd, &g.ready,
		   &g.ms, &g.major, &g.minor, &g.pid, &g.own_dir, g.mnt) != 9) {
		fprintf(stderr, "# fuse guardian: bad %s=%s\n", FUSE_GUARD_ENV, env);
		_exit(1);
	}
	prctl(PR_SET_NAME, "fuse-guardian");
	if (write(g.ready, &c, 1) != 1)
		_exit(1);
	close(g.ready);

	pfd.fd = g.rfd;
	deadline = iou_now_ns() + g.ms * 1000000LL;
	for (;;) {
		__s64 left = (deadline - iou_now_ns()) / 1000000;

		if (left <= 0)
			break;
		/* EOF: the test process is gone, and its files with it. */
		if (poll(&pfd, 1, left) > 0 && read(g.rfd, &c, 1) <= 0)
			_exit(0);
	}

	/* The test process is stuck: abort the connection. */
	forced = "not done (not mounted there any more)";
	if (fuse_guard_mounted(&g)) {
		if (!umount2(g.mnt, MNT_FORCE))
			forced = "unmounted it";
		else
			forced = errno == EBUSY ? "aborted it (busy)" : strerror(errno);
	}
	ctl = "not done (no fusectl)";
	if (g.abort_fd >= 0)
		ctl = write(g.abort_fd, "1", 1) == 1 ? "written" : strerror(errno);
	if (fuse_guard_mounted(&g))
		umount2(g.mnt, MNT_DETACH);
	if (g.own_dir)
		rmdir(g.mnt);
	fprintf(stderr,
		"# fuse guardian: pid %d still runs %u ms after mounting %s: umount2(MNT_FORCE) %s, fusectl abort %s\n",
		g.pid, g.ms, g.mnt, forced, ctl);
	_exit(0);
}

/*
 * Open the fusectl abort file of the connection @major:@minor mounted on
 * m->mnt, for the guardian, or return -1. In the test's private mount
 * namespace fusectl is mounted for this if it is not, and detached again at
 * once: the open file keeps it for the guardian only.
 */
static inline int fuse_guard_abort_file(const struct fuse_mnt *m, __u32 major, __u32 minor)
{
	bool mounted = false;
	char path[64];
	int fd;

	snprintf(path, sizeof(path), FUSECTL_DIR "/%u/abort", major << 20 | minor);
	if (access(path, W_OK) && !m->own_dir)
		mounted = !mount("fusectl", FUSECTL_DIR, "fusectl", 0, NULL);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (mounted)
		umount2(FUSECTL_DIR, MNT_DETACH);
	return fd;
}

/* Close the files @lo to @hi (up to @max without close_range()). */
static inline void fuse_guard_close(unsigned int lo, unsigned int hi, unsigned int max)
{
	unsigned int fd;

	if (syscall(__NR_close_range, lo, hi, 0))
		for (fd = lo; fd <= hi && fd < max; fd++)
			close(fd);
}

/*
 * In the child forked to become the guardian: leave the process group,
 * close every file but @keep (@n, ascending; stderr, 2, as well if it is a
 * FUSE device, @fuse_rdev) and execute the test program again with @envp.
 */
static inline __noreturn void fuse_guard_exec(const int *keep, int n, dev_t fuse_rdev,
					      unsigned int max_fd, char *const *argv,
					      char *const *envp)
{
	unsigned int from = 0;
	struct stat st;
	sigset_t none;
	int i;

	/* Out of the test's process group, which the harness's timeout SIGKILLs. */
	setsid();
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	/* Above all not /dev/fuse, which would keep the connection alive. */
	for (i = 0; i < n; i++) {
		if ((unsigned int)keep[i] > from)
			fuse_guard_close(from, keep[i] - 1, max_fd);
		if ((unsigned int)keep[i] >= from)
			from = keep[i] + 1;
		if (keep[i] != 2)
			fcntl(keep[i], F_SETFD, 0);
	}
	fuse_guard_close(from, ~0U, max_fd);
	if (fstat(2, &st) || (S_ISCHR(st.st_mode) && st.st_rdev == fuse_rdev))
		close(2);
	execve("/proc/self/exe", argv, envp);
	_exit(127);
}

/* Wait up to COMPLETE_MS for a byte on @fd. */
static inline bool fuse_guard_wait_ready(int fd)
{
	__s64 deadline = iou_now_ns() + COMPLETE_MS * 1000000LL;
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	char c;

	for (;;) {
		__s64 left = (deadline - iou_now_ns()) / 1000000;

		if (left <= 0)
			return false;
		if (poll(&pfd, 1, left) == 1)
			return read(fd, &c, 1) == 1;
	}
}

/*
 * Start the guardian of the file system just mounted on m->mnt, before
 * FUSE_INIT is answered (see the top of this file), and wait until it runs.
 * Returns NULL or what went wrong.
 */
static inline const char *fuse_guard_start(struct __test_metadata *_metadata, struct fuse_mnt *m)
{
	static char *const argv[] = { "fuse-guardian", NULL };
	int pfd[2], rdy[2], want[4], keep[4], i, j, status;
	char env[160], *envp[] = { env, NULL };
	static char why[128];
	struct statx stx;
	struct stat st;
	int abort_fd, nkeep = 0;
	bool started;
	long max_fd;
	pid_t pid;

	/* AT_STATX_DONT_SYNC: no GETATTR, before FUSE_INIT is answered. */
	if (statx(AT_FDCWD, m->mnt, AT_STATX_DONT_SYNC, 0, &stx) || fstat(m->fd, &st)) {
		snprintf(why, sizeof(why), "statx of %s: %s", m->mnt, strerror(errno));
		return why;
	}
	if (pipe2(pfd, O_CLOEXEC)) {
		snprintf(why, sizeof(why), "pipe2: %s", strerror(errno));
		return why;
	}
	if (pipe2(rdy, O_CLOEXEC)) {
		snprintf(why, sizeof(why), "pipe2: %s", strerror(errno));
		close(pfd[0]);
		close(pfd[1]);
		return why;
	}
	abort_fd = fuse_guard_abort_file(m, stx.stx_dev_major, stx.stx_dev_minor);
	snprintf(env, sizeof(env), FUSE_GUARD_ENV "=%d %d %d %u %u %u %d %d %s", pfd[0],
		 abort_fd, rdy[1], fuse_guard_ms(_metadata), stx.stx_dev_major,
		 stx.stx_dev_minor, getpid(), m->own_dir, m->mnt);
	/* The files the guardian keeps, sorted by insertion. */
	want[0] = 2;
	want[1] = pfd[0];
	want[2] = abort_fd;
	want[3] = rdy[1];
	for (j = 0; j < 4; j++) {
		if (want[j] < 0)
			continue;
		for (i = nkeep; i > 0 && keep[i - 1] > want[j]; i--)
			keep[i] = keep[i - 1];
		keep[i] = want[j];
		nkeep++;
	}
	max_fd = sysconf(_SC_OPEN_MAX);

	pid = fork();
	if (!pid)
		fuse_guard_exec(keep, nkeep, st.st_rdev, max_fd > 0 ? max_fd : 1024, argv, envp);
	close(pfd[0]);
	close(rdy[1]);
	if (abort_fd >= 0)
		close(abort_fd);
	if (pid < 0) {
		snprintf(why, sizeof(why), "fork: %s", strerror(errno));
		close(pfd[1]);
		close(rdy[0]);
		return why;
	}
	/* Once it runs, the guardian holds nothing of the test's but the pipe. */
	started = fuse_guard_wait_ready(rdy[0]);
	close(rdy[0]);
	if (!started) {
		kill(pid, SIGKILL);
		wait_child(pid, &status, 0, CLOSE_MS);
		close(pfd[1]);
		snprintf(why, sizeof(why), "the guardian did not start within %d ms",
			 COMPLETE_MS);
		return why;
	}
	/* The guardian of an earlier mount of @m has nothing left to guard. */
	if (m->guard >= 0)
		close(m->guard);
	m->guard = pfd[1];
	return NULL;
}

/*
 * In a child the test forked: close the guardian's pipe, so that it reads
 * EOF when the test process is gone, whether this child is or not.
 */
static inline void fuse_guard_drop(const struct fuse_mnt *m)
{
	if (m->guard >= 0)
		close(m->guard);
}

/*
 * Read FUSE_INIT with read(2) into @buf (@len bytes) and answer it with
 * @max_write and the FUSE_* init flags @flags, of those the kernel offers:
 * with 0 the connection negotiates nothing optional (no FUSE_ASYNC_READ, no
 * FUSE_ASYNC_DIO, ...). Returns NULL or what went wrong.
 */
static inline const char *fuse_handshake(int fd, char *buf, size_t len, __u32 max_write,
					 __u32 flags)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	static char why[128];
	struct {
		struct fuse_out_header h;
		struct fuse_init_out o;
	} rep;
	struct fuse_init_in in;
	struct fuse_in_header h;
	ssize_t n;

	if (poll(&pfd, 1, COMPLETE_MS) != 1)
		return "no FUSE_INIT request after mount(2)";
	n = read(fd, buf, len);
	if (n < (ssize_t)sizeof(h)) {
		snprintf(why, sizeof(why), "reading FUSE_INIT: %zd (%s)", n, strerror(errno));
		return why;
	}
	memcpy(&h, buf, sizeof(h));
	if (h.opcode != FUSE_INIT || h.len != n || n < (ssize_t)(sizeof(h) + 4 * sizeof(__u32))) {
		snprintf(why, sizeof(why), "not a FUSE_INIT: opcode %u, len %u, read %zd",
			 h.opcode, h.len, n);
		return why;
	}
	memset(&in, 0, sizeof(in));
	memcpy(&in, buf + sizeof(h), n - sizeof(h) < sizeof(in) ? n - sizeof(h) : sizeof(in));

	memset(&rep, 0, sizeof(rep));
	rep.h.len = sizeof(rep);
	rep.h.unique = h.unique;
	rep.o.major = FUSE_KERNEL_VERSION;
	rep.o.minor = FUSE_KERNEL_MINOR_VERSION;
	rep.o.max_readahead = in.max_readahead;
	rep.o.max_write = max_write;
	rep.o.flags = flags & in.flags;
	if (write(fd, &rep, sizeof(rep)) != (ssize_t)sizeof(rep)) {
		snprintf(why, sizeof(why), "replying to FUSE_INIT (kernel %u.%u): %s",
			 in.major, in.minor, strerror(errno));
		return why;
	}
	return NULL;
}

/*
 * Mount the file system of m->fd and answer FUSE_INIT (reading it into @buf,
 * @len bytes; with @max_write and @flags, see fuse_handshake()): once the
 * INIT reply is written, the connection is initialised and requests flow.
 *
 * In a private mount namespace the file system is mounted over /tmp, which
 * only this test sees: when the test ends, however it ends, the namespace
 * and the mount go away and nothing is left behind (forked children share
 * the namespace). (At -O2 the harness's `child` may be clobbered by the
 * longjmp() of a failed ASSERT, and then the teardown does not run.) Without
 * one it is mounted on a new directory in /tmp, which fuse_unmount()
 * removes. The teardown does not run either when the set-up fails, so this
 * cleans up after itself before it fails. Between mount(2) and FUSE_INIT it
 * forks the mount's guardian, which aborts the connection should the test
 * process be stuck for good (see the top of this file).
 */
static inline void fuse_mount(struct __test_metadata *_metadata, struct fuse_mnt *m, char *buf,
			      size_t len, __u32 max_write, __u32 flags)
{
	const char *err;
	char data[96];
	int ret;

	if (!unshare(CLONE_NEWNS)) {
		ASSERT_EQ(0, mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL))
			TH_LOG("making the mounts private: %s", strerror(errno));
		snprintf(m->mnt, sizeof(m->mnt), "/tmp");
	} else {
		snprintf(m->mnt, sizeof(m->mnt), "/tmp/iouc_fuse.XXXXXX");
		ASSERT_NE(NULL, mkdtemp(m->mnt)) TH_LOG("mkdtemp in /tmp: %s", strerror(errno));
		m->own_dir = true;
	}
	snprintf(data, sizeof(data), "fd=%d,rootmode=40000,user_id=0,group_id=0", m->fd);
	ret = mount("iu-fuse", m->mnt, "fuse", MS_NOSUID | MS_NODEV, data) ? errno : 0;
	if (ret && m->own_dir)
		rmdir(m->mnt);
	ASSERT_EQ(0, ret) TH_LOG("mount(fuse, %s, %s): %s", m->mnt, data, strerror(ret));

	err = fuse_guard_start(_metadata, m);
	if (!err)
		err = fuse_handshake(m->fd, buf, len, max_write, flags);
	if (err) {
		umount2(m->mnt, MNT_DETACH);
		if (m->own_dir)
			rmdir(m->mnt);
	}
	ASSERT_EQ(NULL, err) TH_LOG("%s", err);
	m->mounted = true;
}

/*
 * Unmount and close the device, which aborts the connection, so that a
 * client still waiting for an answer ends (a pending io_uring read holds
 * the device open: close the ring first). The guardian stays until the test
 * process is gone.
 */
static inline void fuse_unmount(struct fuse_mnt *m)
{
	if (m->mounted)
		umount2(m->mnt, MNT_DETACH);
	m->mounted = false;
	if (m->fd >= 0)
		close(m->fd);
	m->fd = -1;
}

/* After fuse_unmount() and once the clients are gone: remove the mount point we made. */
static inline void fuse_rmdir(struct fuse_mnt *m)
{
	if (m->own_dir)
		rmdir(m->mnt);
	m->own_dir = false;
}

/* Requests and replies. */

/* Write a reply to request @unique: error @err (positive errno) or @len bytes of @data. */
static inline int fuse_reply(int fd, __u64 unique, int err, const void *data, size_t len)
{
	struct fuse_out_header out = {
		.len = sizeof(out) + len, .error = -err, .unique = unique,
	};
	struct iovec iov[2] = {
		{ .iov_base = &out, .iov_len = sizeof(out) },
		{ .iov_base = (void *)data, .iov_len = len },
	};
	ssize_t n = writev(fd, iov, len ? 2 : 1);

	if (n < 0)
		return -errno;
	return n == (ssize_t)out.len ? 0 : -EIO;
}

static inline void reply_err(struct __test_metadata *_metadata, int fd, __u64 unique, int err)
{
	int ret = fuse_reply(fd, unique, err, NULL, 0);

	ASSERT_EQ(0, ret) TH_LOG("reply to request %llu: %s", (unsigned long long)unique,
				 strerror(-ret));
}

/* No request is queued on the device. */
static inline void assert_idle(struct __test_metadata *_metadata, int fd)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };

	ASSERT_EQ(0, poll(&pfd, 1, 0)) TH_LOG("a request is queued (revents %#x)", pfd.revents);
}

/* Wait up to COMPLETE_MS until a request is queued on the device. */
static inline void wait_queued(struct __test_metadata *_metadata, int fd)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };

	ASSERT_EQ(1, poll(&pfd, 1, COMPLETE_MS)) TH_LOG("no request queued");
	ASSERT_EQ(POLLIN, pfd.revents & (POLLIN | POLLERR));
}

/* read(2) of @len bytes of the device into @buf, under the watchdog; sets @err. */
static inline ssize_t fuse_dev_read(int fd, char *buf, size_t len, int *err)
{
	ssize_t n;

	watchdog(COMPLETE_MS);
	n = read(fd, buf, len);
	*err = errno;
	watchdog(0);
	return n;
}

/*
 * The @n bytes at @buf (of @buf_len, preset to @fill) are a LOOKUP of @name
 * in the root made by thread @pid, and nothing was written past them.
 * Returns its unique.
 */
static inline __u64 fuse_check_lookup(struct __test_metadata *_metadata, const char *buf,
				      ssize_t n, size_t buf_len, const char *name, pid_t pid,
				      char fill)
{
	size_t name_len = strlen(name) + 1;
	struct fuse_in_header h;

	ASSERT_LE((ssize_t)sizeof(h), n) TH_LOG("read %zd bytes", n);
	memcpy(&h, buf, sizeof(h));
	ASSERT_EQ((__u32)n, h.len) TH_LOG("the header says %u bytes, %zd were read", h.len, n);
	ASSERT_EQ((__u32)FUSE_LOOKUP, h.opcode) TH_LOG("opcode %u", h.opcode);
	ASSERT_NE(0ULL, (unsigned long long)h.unique);
	ASSERT_EQ((__u64)FUSE_ROOT_ID, h.nodeid);
	ASSERT_EQ((__u32)pid, h.pid) TH_LOG("not the helper's request");
	ASSERT_EQ((ssize_t)(sizeof(h) + name_len), n);
	check_bytes(_metadata, buf + sizeof(h), name, name_len);
	check_filled(_metadata, buf + n, buf_len - n, fill);
	return h.unique;
}

/*
 * Wait up to COMPLETE_MS for the call @c to return, answering with read(2)
 * whatever the kernel asks meanwhile (a LOOKUP with ENOENT, anything else
 * with EIO), and check that it failed with @want (0: it succeeded).
 */
static inline void fuse_finish_call(struct __test_metadata *_metadata, int fd,
				    struct fuse_call *c, int want)
{
	__s64 deadline = iou_now_ns() + COMPLETE_MS * 1000000LL;
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	static char req[FUSE_SCRATCH_LEN];
	struct fuse_in_header h;
	ssize_t n;

	while (!fuse_call_done(c)) {
		ASSERT_LT(iou_now_ns(), deadline) TH_LOG("the call did not return");
		if (poll(&pfd, 1, 10) != 1)
			continue;
		n = read(fd, req, sizeof(req));
		ASSERT_LE((ssize_t)sizeof(h), n) TH_LOG("read: %s", strerror(errno));
		memcpy(&h, req, sizeof(h));
		TH_LOG("answering another request, opcode %u", h.opcode);
		if (h.opcode == FUSE_FORGET || h.opcode == FUSE_BATCH_FORGET ||
		    h.opcode == FUSE_INTERRUPT)
			continue;
		reply_err(_metadata, fd, h.unique, h.opcode == FUSE_LOOKUP ? ENOENT : EIO);
	}
	pthread_join(c->thr, NULL);
	c->running = false;
	ASSERT_EQ(want, c->err) TH_LOG("the call failed with \"%s\", want \"%s\"",
				       strerror(c->err), strerror(want));
}

#endif /* __SELFTESTS_IO_URING_CANCEL_FUSE_UTIL_H */
