// SPDX-License-Identifier: GPL-2.0
/*
 * Limits and safety of io_uring reads completed in the writer's context
 * (IORING_SETUP_INLINE_READ): pinned-memory accounting, buffer lifetime,
 * fork, and a seeded stress run with exact accounting.
 *
 * A read that waits inline pins the reader's buffer at submission
 * (FOLL_WRITE | FOLL_LONGTERM), so that a writer in another task can copy
 * into it. The pages are charged like registered buffers (io_account_mem()):
 * to the per-user locked_vm, against the submitter's RLIMIT_MEMLOCK, when the
 * ring's creator lacked CAP_IPC_LOCK, and always to the ring creator's
 * pinned_vm (VmPin in /proc/<pid>/status). A ring pins at most 16 MiB for
 * pending reads, and a read of more than 1 MiB never waits inline
 * (READ_FIXED included). When pinning or charging fails, the read silently
 * takes the stock poll path: InlineReadArmed does not move and the read
 * still completes. InlineReadPinned counts whole pages, in bytes.
 *
 * The buffer is bound to its pages at submission. A read that waits inline
 * and whose buffer the reader unmaps still completes into the pages it
 * pinned, without -EFAULT, and nothing else in the reader's memory changes,
 * not even a new mapping at the old address. A read handed back to the
 * stock path (a waker that does not complete reads inline: splice, IRQ, a
 * kernel thread) is issued again against the reader's address space, as
 * io_uring does today: buffer_unmapped_stock_fallback records what happens.
 *
 * Tests:
 *  - memlock_limit: an unprivileged ring cannot pin past RLIMIT_MEMLOCK;
 *    reads past it take the stock path; every charge is given back.
 *  - per_ring_cap, per_read_cap: the engine's own limits, as root.
 *  - buffer_unmapped_*: munmap() after submission.
 *  - fork_*: rings inherited across fork().
 *  - stress.{inline,stock}.mixed: several rings on shared pipes and
 *    eventfds, two writer threads, random reads (READ, READV, READ_FIXED),
 *    cancels by every selector, ring close and re-creation, threads that
 *    submit and exit; then exact accounting of every byte and count, and no
 *    pinned page left. The stock variant runs on any kernel.
 *    A shared userfaultfd too: every fault's message arrives exactly once.
 *
 * The stress run is seeded and bounded: $IOU_SEED (logged), $IOU_STRESS_MS
 * (default 4000, at most 100000) and $IOU_STRESS_ITERS (default 1000000)
 * override the seed and the bounds; with a fixed seed and iteration count the
 * main thread's sequence of operations repeats (the writers' timing does not).
 *
 * Tests of the feature SKIP when the kernel does not report
 * IORING_FEAT_INLINE_READ. Every wait is bounded. Assumptions about
 * semantics the series does not spell out are marked "ASSUMES:".
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <linux/userfaultfd.h>

#include "../kselftest_harness.h"
#include "inline_test.h"

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE	0x100000
#endif

#define RING_ENTRIES		32
/* How long a closed ring may take to unpin everything (io_ring_exit_work). */
#define UNPIN_MS		10000

#define FILL			0xaa
#define KIB			1024UL
#define MIB			(1024UL * 1024)

/*
 * ASSUMES: the engine's limits, IO_INLINE_RD_MAX_BYTES and
 * IO_INLINE_RD_MAX_PINNED in io_uring/inline_rd.c.
 */
#define INLINE_MAX_READ		MIB
#define INLINE_MAX_PINNED	(16 * MIB)

#define UD_READ			0x1000ULL
#define UD_CANCEL		0x2000ULL
#define UD_CHILD		0x3000ULL

/* An unprivileged uid and gid with no /etc/passwd entry needed. */
#define NOBODY			65534
#define CAP_IPC_LOCK_BIT	14

/* Exit codes of forked helpers, which report through stderr and these. */
enum {
	CHILD_OK = 0,
	CHILD_FAIL = 1,
	CHILD_SKIP = KSFT_SKIP,
};

/* Generic helpers. */

static size_t page_sz(void)
{
	return sysconf(_SC_PAGESIZE);
}

/* A pattern that differs from one 256-byte block to the next. */
static char pattern_byte(size_t i, int seed)
{
	return (char)((seed + i) ^ (i >> 8));
}

static void fill_pattern(char *buf, size_t len, int seed)
{
	size_t i;

	for (i = 0; i < len; i++)
		buf[i] = pattern_byte(i, seed);
}

/* Offset of the first byte of @buf that does not hold the pattern, or -1. */
static ssize_t pattern_diff(const char *buf, size_t len, int seed)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (buf[i] != pattern_byte(i, seed))
			return i;
	return -1;
}

/* Offset of the first byte of @buf that is not @c, or -1. */
static ssize_t fill_diff(const char *buf, size_t len, char c)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (buf[i] != c)
			return i;
	return -1;
}

/* An anonymous private mapping of @len bytes, filled with FILL, without THP. */
static char *map_anon(struct __test_metadata *_metadata, size_t len)
{
	char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	ASSERT_NE(MAP_FAILED, p) TH_LOG("mmap %zu: %s", len, strerror(errno));
	madvise(p, len, MADV_NOHUGEPAGE);
	memset(p, FILL, len);
	return p;
}

/* Write @len bytes of pattern @seed to @fd in one write(2). */
static void write_pattern(struct __test_metadata *_metadata, int fd, size_t len, int seed)
{
	char *buf = malloc(len);

	ASSERT_NE(NULL, buf);
	fill_pattern(buf, len, seed);
	ASSERT_EQ((ssize_t)len, write(fd, buf, len)) TH_LOG("write: %s", strerror(errno));
	free(buf);
}

/* Whether CAP_IPC_LOCK is in this task's effective set. */
static bool has_cap_ipc_lock(void)
{
	unsigned long long caps = 0;
	char line[256];
	FILE *f;

	f = fopen("/proc/self/status", "re");
	if (!f)
		return false;
	while (fgets(line, sizeof(line), f)) {
		if (!strncmp(line, "CapEff:", 7)) {
			caps = strtoull(line + 7, NULL, 16);
			break;
		}
	}
	fclose(f);
	return caps & (1ULL << CAP_IPC_LOCK_BIT);
}

/*
 * Wait up to @ms for VmPin to be @kb. Returns the last value seen (-1 if the
 * kernel does not show VmPin, in which case it does not wait).
 */
static long wait_vm_pin(long kb, unsigned int ms)
{
	__s64 deadline = iou_now_ns() + ms * 1000000LL;
	long cur;

	for (;;) {
		cur = status_kb("VmPin");
		if (cur == kb || cur < 0 || iou_now_ns() > deadline)
			return cur;
		iou_sleep_us(1000);
	}
}

/* VmPin grew by exactly @bytes since it was @kb0 (no check without VmPin). */
static void check_vm_pin(struct __test_metadata *_metadata, long kb0, uint64_t bytes)
{
	long kb = status_kb("VmPin");

	if (kb0 < 0 || kb < 0)
		return;
	ASSERT_EQ(kb0 + (long)(bytes / KIB), kb)
		TH_LOG("VmPin %ld kB, %ld kB at start, %llu bytes pinned for reads", kb, kb0,
		       (unsigned long long)bytes);
}

/* VmPin returns to @kb0 (the pinned pages are released asynchronously). */
static void wait_vm_pin_back(struct __test_metadata *_metadata, long kb0, unsigned int ms)
{
	long kb = wait_vm_pin(kb0, ms);

	if (kb0 < 0)
		return;
	ASSERT_EQ(kb0, kb) TH_LOG("VmPin did not return to %ld kB within %u ms", kb0, ms);
}

/* Forked helpers. */

/* In a forked child, where ASSERT_*() cannot be used: log and exit. */
static __printf(3, 4) __noreturn void child_fail(int line, const char *cond,
						   const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "# child %d, line %d: %s: ", getpid(), line, cond);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	_exit(CHILD_FAIL);
}

#define CHILD_CHECK(cond, fmt, ...) do {				\
	if (!(cond))							\
		child_fail(__LINE__, #cond, fmt, ##__VA_ARGS__);	\
} while (0)

static __printf(1, 2) void child_log(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "# child %d: ", getpid());
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* Wait for child *@pid to exit; returns its exit code. */
static int join_child(struct __test_metadata *_metadata, pid_t *pid, unsigned int ms)
{
	int status, ret;

	ret = wait_child(*pid, &status, 0, ms);
	if (ret) {
		kill(*pid, SIGKILL);
		wait_child(*pid, &status, 0, CLOSE_MS);
	}
	ASSERT_EQ(0, ret) TH_LOG("child %d did not exit within %u ms", *pid, ms);
	*pid = -1;
	ASSERT_TRUE(WIFEXITED(status)) TH_LOG("child killed by signal %d", WTERMSIG(status));
	return WEXITSTATUS(status);
}

/* Fork a process that sleeps @delay_ms, then writes @len bytes of @data to @fd. */
static pid_t spawn_writer(struct __test_metadata *_metadata, int fd, const char *data,
			  size_t len, unsigned int delay_ms)
{
	pid_t pid = fork();

	ASSERT_NE(-1, pid) TH_LOG("fork: %s", strerror(errno));
	if (!pid) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		iou_sleep_us(delay_ms * 1000);
		_exit(write(fd, data, len) == (ssize_t)len ? CHILD_OK : CHILD_FAIL);
	}
	return pid;
}

/* Read exactly @len bytes from @fd, waiting up to @ms. Returns 0 or -errno. */
static int read_full(int fd, void *buf, size_t len, unsigned int ms)
{
	__s64 deadline = iou_now_ns() + ms * 1000000LL;
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	size_t got = 0;
	ssize_t n;

	while (got < len) {
		if (iou_now_ns() > deadline)
			return -ETIME;
		if (poll(&pfd, 1, 10) <= 0)
			continue;
		n = read(fd, (char *)buf + got, len - got);
		if (n == 0)
			return -EPIPE;
		if (n < 0 && errno != EINTR)
			return -errno;
		if (n > 0)
			got += n;
	}
	return 0;
}

/* Ring helpers. */

static void setup_ring(struct __test_metadata *_metadata, struct iou_ring *ring,
		       unsigned int flags)
{
	int ret = iou_setup(ring, RING_ENTRIES, flags);

	ASSERT_EQ(0, ret) TH_LOG("io_uring_setup(%#x): %s", flags, strerror(-ret));
	ASSERT_NE(0U, ring->features & IORING_FEAT_EXT_ARG)
		TH_LOG("no IORING_FEAT_EXT_ARG: waits cannot be bounded");
}

/* fdinfo counters of an INLINE_READ ring. */

static int read_counters(int ring_fd, struct inl_counters *c)
{
	static const char * const keys[] = {
		"InlineReadArmed", "InlineReadCompleted", "InlineReadFallback",
		"InlineReadCancelled", "InlineReadPinned",
	};
	uint64_t *vals[] = { &c->armed, &c->completed, &c->fallback, &c->cancelled,
			     &c->pinned };
	unsigned int i;
	int ret;

	for (i = 0; i < ARRAY_SIZE(keys); i++) {
		ret = iou_fdinfo_u64(ring_fd, keys[i], vals[i]);
		if (ret)
			return ret;
	}
	return 0;
}

/*
 * memlock_limit
 *
 * A forked child sets RLIMIT_MEMLOCK to ML_LIMIT, becomes uid/gid 65534
 * (which clears CAP_IPC_LOCK from its effective set) and creates an
 * INLINE_READ ring, so io_account_mem() charges the ring's pins to uid
 * 65534's locked_vm against that limit. It submits ML_NR reads of ML_READ
 * bytes, each into its own page-aligned buffer on its own empty pipe.
 *
 * What the limit is checked against: the per-user locked_vm (every ring and
 * registered buffer of uid 65534), which /proc does not show. VmLck
 * (mlock(), mm->locked_vm) is not part of it, and VmPin (mm->pinned_vm) is
 * where io_account_mem() also adds the same pages, per mm. So the robust
 * assertions are: InlineReadPinned <= ML_LIMIT at every step (this ring's
 * pins are part of locked_vm, which the kernel keeps within the limit), and
 * VmPin - VmPin(start) == InlineReadPinned. To also assert exactly how many
 * reads arm, the child first proves that uid 65534 has nothing charged
 * elsewhere: a registered buffer of exactly ML_LIMIT bytes is accepted (and
 * one of ML_LIMIT plus a page is refused, which proves the ring is charged
 * at all). Then exactly ML_LIMIT / ML_READ reads arm.
 */
#define ML_LIMIT		(64 * KIB)
#define ML_READ			(16 * KIB)
#define ML_ARMS			((int)(ML_LIMIT / ML_READ))
#define ML_NR			(ML_ARMS + 3)

struct ml_state {
	struct iou_ring ring;
	int rfd[ML_NR];
	int wfd[ML_NR];
	char *buf;
	long vm_pin0;
	char data[ML_READ];
};

static char *ml_buf(struct ml_state *s, int i)
{
	return s->buf + (size_t)i * ML_READ;
}

/* Try to register (then unregister) a buffer of @len bytes: 0 or -errno. */
static int ml_register_probe(struct iou_ring *ring, size_t len)
{
	struct iovec iov;
	void *p;
	int ret;

	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return -errno;
	madvise(p, len, MADV_NOHUGEPAGE);
	iov.iov_base = p;
	iov.iov_len = len;
	ret = iou_register_buffers(ring, &iov, 1);
	if (!ret)
		ret = iou_unregister_buffers(ring);
	munmap(p, len);
	return ret;
}

static void ml_counters(struct ml_state *s, struct inl_counters *c)
{
	int ret = read_counters(s->ring.fd, c);

	CHILD_CHECK(!ret, "fdinfo counters: %s", strerror(-ret));
}

/* The charge is consistent: @pinned_reads reads' worth, within the limit, in VmPin. */
static void ml_check(struct ml_state *s, const struct inl_counters *c, uint64_t pinned_reads)
{
	long kb = status_kb("VmPin");

	CHILD_CHECK(c->pinned <= ML_LIMIT, "InlineReadPinned %llu over RLIMIT_MEMLOCK %lu",
		    (unsigned long long)c->pinned, ML_LIMIT);
	CHILD_CHECK(c->pinned == pinned_reads * ML_READ,
		    "InlineReadPinned %llu, want %llu reads of %lu",
		    (unsigned long long)c->pinned, (unsigned long long)pinned_reads, ML_READ);
	if (s->vm_pin0 >= 0)
		CHILD_CHECK(kb - s->vm_pin0 == (long)(c->pinned / KIB),
			    "VmPin %ld kB (%ld at start), InlineReadPinned %llu",
			    kb, s->vm_pin0, (unsigned long long)c->pinned);
}

static void ml_wait_vm_pin(struct ml_state *s)
{
	long kb = wait_vm_pin(s->vm_pin0, UNPIN_MS);

	CHILD_CHECK(kb == s->vm_pin0, "VmPin %ld kB, not back to %ld kB", kb, s->vm_pin0);
}

/* Submit a read of ML_READ bytes of pipe @i into buffer @i. */
static void ml_submit(struct ml_state *s, int i)
{
	struct io_uring_sqe *sqe = iou_get_sqe(&s->ring);
	int ret;

	CHILD_CHECK(sqe, "SQ full");
	memset(ml_buf(s, i), FILL, ML_READ);
	iou_prep_read(sqe, s->rfd[i], ml_buf(s, i), ML_READ, IOU_POS_CUR, UD_READ + i);
	ret = iou_submit(&s->ring);
	CHILD_CHECK(ret == 1, "submit: %d", ret);
}

/* Reap @n CQEs into @out. */
static void ml_reap(struct ml_state *s, struct io_uring_cqe *out, int n)
{
	struct io_uring_cqe *cqe;
	int i, ret;

	for (i = 0; i < n; i++) {
		ret = iou_wait_cqe(&s->ring, &cqe, COMPLETE_MS);
		CHILD_CHECK(!ret, "CQE %d of %d: %s", i + 1, n, strerror(-ret));
		out[i] = *cqe;
		iou_cqe_seen(&s->ring);
	}
}

static int ml_res(const struct io_uring_cqe *cqes, int n, __u64 ud)
{
	int i;

	for (i = 0; i < n; i++)
		if (cqes[i].user_data == ud)
			return cqes[i].res;
	child_fail(__LINE__, "ml_res", "no CQE for user_data %#llx", (unsigned long long)ud);
}

/* Write ML_READ bytes to pipe @i; its read completes with them. */
static void ml_complete(struct ml_state *s, int i, int seed)
{
	struct io_uring_cqe cqe;
	ssize_t off;

	fill_pattern(s->data, ML_READ, seed);
	CHILD_CHECK(write(s->wfd[i], s->data, ML_READ) == (ssize_t)ML_READ, "write: %s",
		    strerror(errno));
	ml_reap(s, &cqe, 1);
	CHILD_CHECK(cqe.user_data == UD_READ + i, "CQE for %#llx, want read %d",
		    (unsigned long long)cqe.user_data, i);
	CHILD_CHECK(cqe.res == (int)ML_READ, "read %d: res %d", i, cqe.res);
	off = pattern_diff(ml_buf(s, i), ML_READ, seed);
	CHILD_CHECK(off == -1, "read %d: byte %zd differs", i, off);
}

/* The 10 bytes just written to pipe @i are still there: no read took them. */
static void ml_take(struct ml_state *s, int i, char *out)
{
	int n = -1;

	CHILD_CHECK(!ioctl(s->rfd[i], FIONREAD, &n) && n == 10, "pipe %d holds %d bytes", i, n);
	CHILD_CHECK(read(s->rfd[i], out, 10) == 10, "read: %s", strerror(errno));
}

static __noreturn void memlock_child(void)
{
	struct rlimit rl = { .rlim_cur = ML_LIMIT, .rlim_max = ML_LIMIT };
	struct io_uring_cqe cqes[8], *cqe;
	struct inl_counters c0, c;
	static struct ml_state st;
	struct ml_state *s = &st;
	struct io_uring_sqe *sqe;
	int i, ret, fds[2];
	uint64_t want;
	char out[16];

	CHILD_CHECK(!setrlimit(RLIMIT_MEMLOCK, &rl), "setrlimit: %s", strerror(errno));
	CHILD_CHECK(!setgroups(0, NULL), "setgroups: %s", strerror(errno));
	CHILD_CHECK(!setresgid(NOBODY, NOBODY, NOBODY), "setresgid: %s", strerror(errno));
	CHILD_CHECK(!setresuid(NOBODY, NOBODY, NOBODY), "setresuid: %s", strerror(errno));
	/* The uid change cleared the parent-death signal and made us non-dumpable. */
	CHILD_CHECK(!prctl(PR_SET_PDEATHSIG, SIGKILL), "prctl: %s", strerror(errno));
	prctl(PR_SET_DUMPABLE, 1);
	CHILD_CHECK(!has_cap_ipc_lock(), "CAP_IPC_LOCK survived the uid change");

	s->vm_pin0 = status_kb("VmPin");
	child_log("uid %d, RLIMIT_MEMLOCK %lu; at start VmPin %ld kB, VmLck %ld kB",
		  NOBODY, ML_LIMIT, s->vm_pin0, status_kb("VmLck"));

	ret = iou_setup(&s->ring, RING_ENTRIES, IORING_SETUP_INLINE_READ);
	if (ret == -EPERM) {
		child_log("io_uring is not allowed for uid %d (kernel.io_uring_disabled)", NOBODY);
		_exit(CHILD_SKIP);
	}
	CHILD_CHECK(!ret, "io_uring_setup: %s", strerror(-ret));
	CHILD_CHECK(s->ring.features & IORING_FEAT_EXT_ARG, "no IORING_FEAT_EXT_ARG");

	/* The ring is charged against the limit... */
	ret = ml_register_probe(&s->ring, ML_LIMIT + page_sz());
	CHILD_CHECK(ret == -ENOMEM, "registering %lu bytes, over RLIMIT_MEMLOCK: %d",
		    ML_LIMIT + page_sz(), ret);
	/* ...and all of it is free: uid 65534 has nothing charged elsewhere. */
	ret = ml_register_probe(&s->ring, ML_LIMIT);
	if (ret == -ENOMEM) {
		child_log("uid %d has memory charged elsewhere: cannot count arms", NOBODY);
		_exit(CHILD_SKIP);
	}
	CHILD_CHECK(!ret, "registering %lu bytes: %d", ML_LIMIT, ret);
	ml_wait_vm_pin(s);

	s->buf = mmap(NULL, ML_NR * ML_READ, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHILD_CHECK(s->buf != MAP_FAILED, "mmap: %s", strerror(errno));
	madvise(s->buf, ML_NR * ML_READ, MADV_NOHUGEPAGE);
	for (i = 0; i < ML_NR; i++) {
		CHILD_CHECK(!pipe(fds), "pipe: %s", strerror(errno));
		s->rfd[i] = fds[0];
		s->wfd[i] = fds[1];
	}
	ml_counters(s, &c0);
	CHILD_CHECK(!c0.armed && !c0.pinned, "a new ring has counters");

	/* Reads up to the limit wait inline; the rest take the stock path. */
	for (i = 0; i < ML_NR; i++) {
		want = i < ML_ARMS ? i + 1 : ML_ARMS;
		ml_submit(s, i);
		ml_counters(s, &c);
		CHILD_CHECK(c.armed == want, "after read %d: InlineReadArmed %llu, want %llu",
			    i, (unsigned long long)c.armed, (unsigned long long)want);
		/* Refused before arming: no fallback either. */
		CHILD_CHECK(!c.fallback, "InlineReadFallback %llu", (unsigned long long)c.fallback);
		ml_check(s, &c, want);
	}
	ret = iou_wait_cqe(&s->ring, &cqe, PENDING_MS);
	CHILD_CHECK(ret == -ETIME, "a read completed without data: %d", ret);

	/* An inline read and a stock one complete with their data. */
	ml_complete(s, 0, 1);
	ml_complete(s, ML_ARMS, 2);
	ml_counters(s, &c);
	CHILD_CHECK(c.completed == 1, "InlineReadCompleted %llu", (unsigned long long)c.completed);
	ml_check(s, &c, ML_ARMS - 1);

	/* The completed read's charge was given back: a new read arms again. */
	ml_submit(s, 0);
	ml_counters(s, &c);
	CHILD_CHECK(c.armed == ML_ARMS + 1, "the freed charge was not reusable: armed %llu",
		    (unsigned long long)c.armed);
	ml_check(s, &c, ML_ARMS);

	/* Cancel an inline read by user_data and a stock one by fd. */
	sqe = iou_get_sqe(&s->ring);
	CHILD_CHECK(sqe, "SQ full");
	iou_prep_cancel(sqe, UD_READ + 1, 0, UD_CANCEL);
	sqe = iou_get_sqe(&s->ring);
	CHILD_CHECK(sqe, "SQ full");
	iou_prep_cancel_fd(sqe, s->rfd[ML_ARMS + 1], 0, UD_CANCEL + 1);
	CHILD_CHECK(iou_submit(&s->ring) == 2, "submit cancels");
	ml_reap(s, cqes, 4);
	CHILD_CHECK(!ml_res(cqes, 4, UD_CANCEL), "cancel by user_data failed");
	CHILD_CHECK(!ml_res(cqes, 4, UD_CANCEL + 1), "cancel by fd failed");
	CHILD_CHECK(ml_res(cqes, 4, UD_READ + 1) == -ECANCELED, "inline read not cancelled");
	CHILD_CHECK(ml_res(cqes, 4, UD_READ + ML_ARMS + 1) == -ECANCELED,
		    "stock read not cancelled");
	ml_counters(s, &c);
	CHILD_CHECK(c.cancelled == 1, "InlineReadCancelled %llu", (unsigned long long)c.cancelled);
	ml_check(s, &c, ML_ARMS - 1);

	/* Cancel everything left: three inline reads and one stock read. */
	sqe = iou_get_sqe(&s->ring);
	CHILD_CHECK(sqe, "SQ full");
	iou_prep_cancel(sqe, 0, IORING_ASYNC_CANCEL_ANY | IORING_ASYNC_CANCEL_ALL, UD_CANCEL + 2);
	CHILD_CHECK(iou_submit(&s->ring) == 1, "submit cancel");
	ml_reap(s, cqes, 5);
	ret = ml_res(cqes, 5, UD_CANCEL + 2);
	CHILD_CHECK(ret == ML_ARMS, "cancel all: %d, want %d", ret, ML_ARMS);
	for (i = 0; i < 5; i++)
		CHILD_CHECK(cqes[i].user_data == UD_CANCEL + 2 || cqes[i].res == -ECANCELED,
			    "read %#llx: res %d", (unsigned long long)cqes[i].user_data,
			    cqes[i].res);
	ml_counters(s, &c);
	ml_check(s, &c, 0);
	ml_wait_vm_pin(s);
	CHILD_CHECK(c.armed == c.completed + c.fallback + c.cancelled,
		    "armed %llu, completed %llu, fallback %llu, cancelled %llu",
		    (unsigned long long)c.armed, (unsigned long long)c.completed,
		    (unsigned long long)c.fallback, (unsigned long long)c.cancelled);
	/* The cancelled reads consumed nothing and wrote nothing. */
	CHILD_CHECK(write(s->wfd[2], "0123456789", 10) == 10, "write: %s", strerror(errno));
	ret = iou_wait_cqe(&s->ring, &cqe, PENDING_MS);
	CHILD_CHECK(ret == -ETIME, "unexpected CQE: %d", ret);
	ml_take(s, 2, out);
	CHILD_CHECK(fill_diff(ml_buf(s, 2), ML_READ, FILL) == -1, "a cancelled read wrote");

	/* Close the ring with the limit's worth pending: every charge goes back. */
	for (i = 0; i <= ML_ARMS; i++)
		ml_submit(s, i);
	ml_counters(s, &c);
	ml_check(s, &c, ML_ARMS);
	iou_exit(&s->ring);
	ml_wait_vm_pin(s);
	ret = iou_setup(&s->ring, RING_ENTRIES, IORING_SETUP_INLINE_READ);
	CHILD_CHECK(!ret, "io_uring_setup: %s", strerror(-ret));
	ret = ml_register_probe(&s->ring, ML_LIMIT);
	CHILD_CHECK(!ret, "uid %d's charge was not given back at ring close: %d", NOBODY, ret);
	CHILD_CHECK(write(s->wfd[0], "0123456789", 10) == 10, "write: %s", strerror(errno));
	ml_take(s, 0, out);
	iou_exit(&s->ring);
	_exit(CHILD_OK);
}

/*
 * An unprivileged ring cannot pin more than RLIMIT_MEMLOCK for pending
 * reads: reads past it take the stock path and still complete; completing,
 * cancelling and closing the ring give every charge back.
 */
TEST(memlock_limit)
{
	pid_t pid;
	int code;

	if (!inline_read_supported())
		SKIP(return, "kernel lacks IORING_FEAT_INLINE_READ");
	if (geteuid())
		SKIP(return, "needs root to switch to uid %d", NOBODY);

	pid = fork();
	ASSERT_NE(-1, pid) TH_LOG("fork: %s", strerror(errno));
	if (!pid)
		memlock_child();
	code = join_child(_metadata, &pid, 25000);
	if (code == CHILD_SKIP)
		SKIP(return, "the unprivileged child skipped (see its message)");
	ASSERT_EQ(CHILD_OK, code) TH_LOG("the unprivileged child failed (see its message)");
}

/*
 * As root (CAP_IPC_LOCK: nothing is charged to RLIMIT_MEMLOCK), page-aligned
 * reads of INLINE_MAX_READ arm until the ring would pin more than
 * INLINE_MAX_PINNED; the rest take the stock path. The cap is per ring:
 * another ring still arms. Every read completes with its data.
 */
#define CAP_NR			((int)(INLINE_MAX_PINNED / INLINE_MAX_READ) + 2)

TEST(per_ring_cap)
{
	const size_t len = INLINE_MAX_READ, max_arms = INLINE_MAX_PINNED / INLINE_MAX_READ;
	struct io_uring_cqe cqes[CAP_NR];
	struct inl_counters c, c2;
	struct iou_ring ring, ring2;
	int rfd[CAP_NR + 1], wfd[CAP_NR + 1];
	struct io_uring_cqe cqe;
	uint64_t want;
	long vm_pin0;
	ssize_t off;
	char *buf, *b;
	int i, fds[2];

	if (!inline_read_supported())
		SKIP(return, "kernel lacks IORING_FEAT_INLINE_READ");
	if (!has_cap_ipc_lock())
		SKIP(return, "needs CAP_IPC_LOCK, so that RLIMIT_MEMLOCK does not apply");

	vm_pin0 = status_kb("VmPin");
	buf = map_anon(_metadata, (CAP_NR + 1) * len);
	setup_ring(_metadata, &ring, IORING_SETUP_INLINE_READ);
	setup_ring(_metadata, &ring2, IORING_SETUP_INLINE_READ);
	for (i = 0; i <= CAP_NR; i++) {
		ASSERT_EQ(0, pipe(fds));
		rfd[i] = fds[0];
		wfd[i] = fds[1];
	}

	for (i = 0; i < CAP_NR; i++) {
		want = (size_t)i < max_arms ? (size_t)i + 1 : max_arms;
		iou_prep_read(get_sqe(_metadata, &ring), rfd[i], buf + i * len, len, IOU_POS_CUR,
			      UD_READ + i);
		submit_n(_metadata, &ring, 1);
		get_counters(_metadata, ring.fd, true, &c);
		ASSERT_GE(INLINE_MAX_PINNED, c.pinned) TH_LOG("the ring pins past its cap");
		ASSERT_EQ(want, c.armed) TH_LOG("after read %d", i);
		ASSERT_EQ(want * len, c.pinned) TH_LOG("after read %d", i);
		check_vm_pin(_metadata, vm_pin0, c.pinned);
	}
	assert_no_cqe(_metadata, &ring);

	/* The cap is per ring. */
	iou_prep_read(get_sqe(_metadata, &ring2), rfd[CAP_NR], buf + CAP_NR * len, len,
		      IOU_POS_CUR, UD_READ + CAP_NR);
	submit_n(_metadata, &ring2, 1);
	get_counters(_metadata, ring2.fd, true, &c2);
	ASSERT_EQ(1ULL, c2.armed) TH_LOG("a second ring did not arm");
	ASSERT_EQ(len, c2.pinned);
	check_vm_pin(_metadata, vm_pin0, c.pinned + c2.pinned);

	/* Every read completes with its data, inline or on the stock path. */
	for (i = 0; i <= CAP_NR; i++)
		write_pattern(_metadata, wfd[i], 100, i);
	reap_n(_metadata, &ring, cqes, CAP_NR);
	reap_cqe(_metadata, &ring2, &cqe);
	ASSERT_EQ(UD_READ + CAP_NR, cqe.user_data);
	ASSERT_EQ(100, cqe.res);
	for (i = 0; i <= CAP_NR; i++) {
		if (i < CAP_NR)
			ASSERT_EQ(100, cqe_res(_metadata, cqes, CAP_NR, UD_READ + i));
		b = buf + i * len;
		off = pattern_diff(b, 100, i);
		ASSERT_EQ(-1, off) TH_LOG("read %d: byte %zd differs", i, off);
		ASSERT_EQ(-1, fill_diff(b + 100, 4096, FILL)) TH_LOG("read %d wrote past 100", i);
		ASSERT_EQ(-1, fill_diff(b + len - 64, 64, FILL)) TH_LOG("read %d wrote its end", i);
		ASSERT_EQ(0, pipe_bytes(_metadata, rfd[i]));
	}

	wait_pinned(_metadata, ring.fd, true, 0);
	wait_pinned(_metadata, ring2.fd, true, 0);
	wait_vm_pin_back(_metadata, vm_pin0, CLOSE_MS);
	get_counters(_metadata, ring.fd, true, &c);
	memset(&c2, 0, sizeof(c2));
	check_balance(_metadata, &c2, &c);
	TH_LOG("armed %llu, completed inline %llu, fallback %llu",
	       (unsigned long long)c.armed, (unsigned long long)c.completed,
	       (unsigned long long)c.fallback);

	iou_exit(&ring);
	iou_exit(&ring2);
	for (i = 0; i <= CAP_NR; i++) {
		close(rfd[i]);
		close(wfd[i]);
	}
	munmap(buf, (CAP_NR + 1) * len);
}

/*
 * A read of more than INLINE_MAX_READ bytes never waits inline, whether one
 * buffer, an iovec array, or a registered buffer (which needs no pinning);
 * one of exactly INLINE_MAX_READ does. All complete with their data.
 */
TEST(per_read_cap)
{
	const size_t max = INLINE_MAX_READ, half = INLINE_MAX_READ / 2 + 4096;
	struct io_uring_cqe cqes[5];
	struct inl_counters c0, c;
	struct iou_ring ring;
	char *big, *vec, *fixed, *exact;
	struct iovec iov[2], reg;
	int rfd[5], wfd[5];
	int i, fds[2];
	long vm_pin0;
	ssize_t off;
	char *dst[5];

	if (!inline_read_supported())
		SKIP(return, "kernel lacks IORING_FEAT_INLINE_READ");
	if (!has_cap_ipc_lock())
		SKIP(return, "needs CAP_IPC_LOCK to register a large buffer");

	big = map_anon(_metadata, max + 4096);
	vec = map_anon(_metadata, 2 * half + 4096);
	fixed = map_anon(_metadata, 2 * max);
	exact = map_anon(_metadata, max);
	setup_ring(_metadata, &ring, IORING_SETUP_INLINE_READ);
	reg.iov_base = fixed;
	reg.iov_len = 2 * max;
	ASSERT_EQ(0, iou_register_buffers(&ring, &reg, 1));
	for (i = 0; i < 5; i++) {
		ASSERT_EQ(0, pipe(fds));
		rfd[i] = fds[0];
		wfd[i] = fds[1];
	}
	/* After registering: VmPin counts the registered buffer too. */
	vm_pin0 = status_kb("VmPin");
	get_counters(_metadata, ring.fd, true, &c0);

	iov[0].iov_base = vec;
	iov[0].iov_len = half;
	iov[1].iov_base = vec + half + 4096;
	iov[1].iov_len = half;
	iou_prep_read(get_sqe(_metadata, &ring), rfd[0], big, max + 1, IOU_POS_CUR, UD_READ);
	iou_prep_readv(get_sqe(_metadata, &ring), rfd[1], iov, 2, IOU_POS_CUR, UD_READ + 1);
	iou_prep_read_fixed(get_sqe(_metadata, &ring), rfd[2], fixed, 2 * max, IOU_POS_CUR, 0,
			    UD_READ + 2);
	submit_n(_metadata, &ring, 3);
	get_counters(_metadata, ring.fd, true, &c);
	ASSERT_EQ(c0.armed, c.armed) TH_LOG("a read of more than %zu bytes armed inline", max);
	ASSERT_EQ(0ULL, c.pinned);
	check_vm_pin(_metadata, vm_pin0, 0);

	/* Exactly the per-read cap: both kinds arm; the registered one pins nothing. */
	iou_prep_read(get_sqe(_metadata, &ring), rfd[3], exact, max, IOU_POS_CUR, UD_READ + 3);
	/* ASSUMES: a READ_FIXED of up to INLINE_MAX_READ arms inline. */
	iou_prep_read_fixed(get_sqe(_metadata, &ring), rfd[4], fixed + max, max, IOU_POS_CUR, 0,
			    UD_READ + 4);
	submit_n(_metadata, &ring, 2);
	get_counters(_metadata, ring.fd, true, &c);
	ASSERT_EQ(c0.armed + 2, c.armed) TH_LOG("reads of exactly %zu bytes did not arm", max);
	ASSERT_EQ(max, c.pinned) TH_LOG("registered pages were pinned again");
	check_vm_pin(_metadata, vm_pin0, c.pinned);
	assert_no_cqe(_metadata, &ring);

	dst[0] = big;
	dst[1] = vec;
	dst[2] = fixed;
	dst[3] = exact;
	dst[4] = fixed + max;
	for (i = 0; i < 5; i++)
		write_pattern(_metadata, wfd[i], 100, 20 + i);
	reap_n(_metadata, &ring, cqes, 5);
	for (i = 0; i < 5; i++) {
		ASSERT_EQ(100, cqe_res(_metadata, cqes, 5, UD_READ + i));
		off = pattern_diff(dst[i], 100, 20 + i);
		ASSERT_EQ(-1, off) TH_LOG("read %d: byte %zd differs", i, off);
		ASSERT_EQ(-1, fill_diff(dst[i] + 100, 4096, FILL)) TH_LOG("read %d wrote past", i);
	}
	ASSERT_EQ(-1, fill_diff(vec + half, 4096 + half, FILL));

	wait_pinned(_metadata, ring.fd, true, 0);
	wait_vm_pin_back(_metadata, vm_pin0, CLOSE_MS);
	get_counters(_metadata, ring.fd, true, &c);
	check_balance(_metadata, &c0, &c);

	iou_exit(&ring);
	for (i = 0; i < 5; i++) {
		close(rfd[i]);
		close(wfd[i]);
	}
	munmap(big, max + 4096);
	munmap(vec, 2 * half + 4096);
	munmap(fixed, 2 * max);
	munmap(exact, max);
}

/*
 * Buffer lifetime.
 *
 * A read waits inline into a buffer straddling pages 1 and 2 of a 4-page
 * mapping. The reader unmaps pages 1 and 2 and maps fresh memory at the same
 * address, then another process writes the pipe. The read completes with all
 * the data (no -EFAULT: the buffer was bound to its pages when the read was
 * submitted, and those pages stay pinned until the read ends), the data goes
 * to the old pages, so the new mapping and the guard pages around it keep
 * their patterns, and the pages are unpinned afterwards.
 */
TEST(buffer_unmapped_after_submit)
{
	const size_t pg = page_sz(), len = pg;
	struct inl_counters c0, c;
	struct io_uring_cqe cqe;
	struct iou_ring ring;
	char *region, *fresh, *data;
	int rfd, wfd, fds[2];
	long vm_pin0;
	ssize_t off;
	pid_t pid;

	if (!inline_read_supported())
		SKIP(return, "kernel lacks IORING_FEAT_INLINE_READ");

	region = map_anon(_metadata, 4 * pg);
	fill_pattern(region, pg, 50);
	fill_pattern(region + 3 * pg, pg, 51);
	data = malloc(len);
	ASSERT_NE(NULL, data);
	fill_pattern(data, len, 53);
	setup_ring(_metadata, &ring, IORING_SETUP_INLINE_READ);
	ASSERT_EQ(0, pipe(fds));
	rfd = fds[0];
	wfd = fds[1];
	vm_pin0 = status_kb("VmPin");
	get_counters(_metadata, ring.fd, true, &c0);

	iou_prep_read(get_sqe(_metadata, &ring), rfd, region + pg + pg / 2, len, IOU_POS_CUR,
		      UD_READ);
	submit_n(_metadata, &ring, 1);
	assert_no_cqe(_metadata, &ring);
	get_counters(_metadata, ring.fd, true, &c);
	ASSERT_EQ(c0.armed + 1, c.armed) TH_LOG("the read did not arm inline");
	ASSERT_EQ(2 * pg, c.pinned);
	check_vm_pin(_metadata, vm_pin0, c.pinned);

	ASSERT_EQ(0, munmap(region + pg, 2 * pg));
	fresh = mmap(region + pg, 2 * pg, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	ASSERT_EQ(region + pg, fresh) TH_LOG("remapping the hole: %s", strerror(errno));
	fill_pattern(fresh, 2 * pg, 52);

	/* A writer in another process, while we wait in io_uring_enter(). */
	pid = spawn_writer(_metadata, wfd, data, len, 20);
	reap_cqe(_metadata, &ring, &cqe);
	ASSERT_EQ(CHILD_OK, join_child(_metadata, &pid, COMPLETE_MS));
	ASSERT_EQ(UD_READ, cqe.user_data);
	ASSERT_EQ((int)len, cqe.res) TH_LOG("read res %d (-EFAULT: not bound at submission)",
					    cqe.res);
	ASSERT_EQ(0, pipe_bytes(_metadata, rfd));

	off = pattern_diff(fresh, 2 * pg, 52);
	ASSERT_EQ(-1, off) TH_LOG("the new mapping changed at byte %zd", off);
	off = pattern_diff(region, pg, 50);
	ASSERT_EQ(-1, off) TH_LOG("the guard page before changed at byte %zd", off);
	off = pattern_diff(region + 3 * pg, pg, 51);
	ASSERT_EQ(-1, off) TH_LOG("the guard page after changed at byte %zd", off);

	wait_pinned(_metadata, ring.fd, true, 0);
	wait_vm_pin_back(_metadata, vm_pin0, CLOSE_MS);
	get_counters(_metadata, ring.fd, true, &c);
	/* ASSUMES: a write(2) by another process completes the read inline. */
	ASSERT_EQ(c0.completed + 1, c.completed);
	ASSERT_EQ(c0.fallback, c.fallback);
	check_balance(_metadata, &c0, &c);

	iou_exit(&ring);
	close(rfd);
	close(wfd);
	free(data);
	munmap(region, 4 * pg);
}

/*
 * The same with a shared memfd buffer seen through a second mapping: after
 * the read's mapping is gone, the data the writer wrote shows up in the
 * other mapping, at the read's offset, and nowhere else.
 */
TEST(buffer_unmapped_data_in_pinned_pages)
{
	const size_t pg = page_sz(), len = 200;
	struct inl_counters c0, c;
	struct io_uring_cqe cqe;
	struct iou_ring ring;
	char *view, *alias, data[200];
	int rfd, wfd, mfd, fds[2];
	ssize_t off;
	pid_t pid;

	if (!inline_read_supported())
		SKIP(return, "kernel lacks IORING_FEAT_INLINE_READ");

	mfd = memfd_create("inline_limits", MFD_CLOEXEC);
	ASSERT_LE(0, mfd) TH_LOG("memfd_create: %s", strerror(errno));
	ASSERT_EQ(0, ftruncate(mfd, 2 * pg));
	view = mmap(NULL, 2 * pg, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
	ASSERT_NE(MAP_FAILED, view);
	alias = mmap(NULL, 2 * pg, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
	ASSERT_NE(MAP_FAILED, alias);
	memset(alias, FILL, 2 * pg);
	fill_pattern(data, len, 54);
	setup_ring(_metadata, &ring, IORING_SETUP_INLINE_READ);
	ASSERT_EQ(0, pipe(fds));
	rfd = fds[0];
	wfd = fds[1];
	get_counters(_metadata, ring.fd, true, &c0);

	/* 100 bytes at the end of page 0, 100 at the start of page 1. */
	iou_prep_read(get_sqe(_metadata, &ring), rfd, view + pg - 100, len, IOU_POS_CUR,
		      UD_READ);
	submit_n(_metadata, &ring, 1);
	assert_no_cqe(_metadata, &ring);
	get_counters(_metadata, ring.fd, true, &c);
	ASSERT_EQ(c0.armed + 1, c.armed) TH_LOG("the read did not arm inline");
	ASSERT_EQ(0, munmap(view, 2 * pg));

	pid = spawn_writer(_metadata, wfd, data, len, 20);
	reap_cqe(_metadata, &ring, &cqe);
	ASSERT_EQ(CHILD_OK, join_child(_metadata, &pid, COMPLETE_MS));
	ASSERT_EQ((int)len, cqe.res) TH_LOG("read res %d", cqe.res);

	off = pattern_diff(alias + pg - 100, len, 54);
	ASSERT_EQ(-1, off) TH_LOG("byte %zd of the read is not in the pinned pages", off);
	ASSERT_EQ(-1, fill_diff(alias, pg - 100, FILL));
	ASSERT_EQ(-1, fill_diff(alias + pg + 100, pg - 100, FILL));

	wait_pinned(_metadata, ring.fd, true, 0);
	get_counters(_metadata, ring.fd, true, &c);
	check_balance(_metadata, &c0, &c);

	iou_exit(&ring);
	close(rfd);
	close(wfd);
	close(mfd);
	munmap(alias, 2 * pg);
}

/*
 * A waker that does not complete reads inline (vmsplice() wakes through
 * wakeup_pipe_readers()) hands a pending read back to the stock path, which
 * unpins the buffer and issues the read again in the reader's task, against
 * its address space. With the buffer unmapped in between, that is safe: the
 * read fails with -EFAULT and the data stays in the pipe.
 *
 * ASSUMES: the fallback re-issues the read with the submission's user
 * address (io_inline_rd_tw_retry() -> io_req_task_submit()), so the binding
 * to the pages pinned at submission holds only for reads completed inline.
 * A kernel that keeps the pinned pages for the retry would complete the
 * read with the data instead: both outcomes are accepted, consistently.
 */
TEST(buffer_unmapped_stock_fallback)
{
	const size_t pg = page_sz(), len = 40;
	struct inl_counters c0, c;
	struct io_uring_cqe cqe;
	struct iou_ring ring;
	char src[40], out[40];
	int rfd, wfd, fds[2];
	struct iovec iov;
	ssize_t off;
	char *buf;

	if (!inline_read_supported())
		SKIP(return, "kernel lacks IORING_FEAT_INLINE_READ");

	buf = map_anon(_metadata, pg);
	fill_pattern(src, len, 55);
	setup_ring(_metadata, &ring, IORING_SETUP_INLINE_READ);
	ASSERT_EQ(0, pipe(fds));
	rfd = fds[0];
	wfd = fds[1];
	get_counters(_metadata, ring.fd, true, &c0);

	iou_prep_read(get_sqe(_metadata, &ring), rfd, buf, 64, IOU_POS_CUR, UD_READ);
	submit_n(_metadata, &ring, 1);
	assert_no_cqe(_metadata, &ring);
	get_counters(_metadata, ring.fd, true, &c);
	ASSERT_EQ(c0.armed + 1, c.armed) TH_LOG("the read did not arm inline");
	ASSERT_EQ(0, munmap(buf, pg));

	iov.iov_base = src;
	iov.iov_len = len;
	ASSERT_EQ((ssize_t)len, vmsplice(wfd, &iov, 1, 0)) TH_LOG("vmsplice: %s", strerror(errno));
	reap_cqe(_metadata, &ring, &cqe);
	ASSERT_EQ(UD_READ, cqe.user_data);
	TH_LOG("read after munmap, woken by vmsplice: res %d", cqe.res);
	if (cqe.res == -EFAULT) {
		ASSERT_EQ((int)len, pipe_bytes(_metadata, rfd)) TH_LOG("-EFAULT, data consumed");
		ASSERT_EQ((ssize_t)len, read(rfd, out, len));
		off = pattern_diff(out, len, 55);
		ASSERT_EQ(-1, off) TH_LOG("byte %zd left in the pipe differs", off);
	} else {
		ASSERT_EQ((int)len, cqe.res);
		ASSERT_EQ(0, pipe_bytes(_metadata, rfd));
	}
	assert_no_cqe(_metadata, &ring);

	wait_pinned(_metadata, ring.fd, true, 0);
	get_counters(_metadata, ring.fd, true, &c);
	check_balance(_metadata, &c0, &c);

	iou_exit(&ring);
	close(rfd);
	close(wfd);
}

/*
 * fork() with pending reads.
 *
 * The parent arms a READ and a READ_FIXED (into a registered buffer) and
 * forks; the child writes both pipes. The reads are the parent's: the data
 * lands in the parent's buffers. fork() gives the child copies of the
 * pinned pages (it cannot share a pinned anonymous page copy-on-write), so
 * the child's view of the same addresses must not change: the child checks
 * it after its write(2) calls return, by which time the inline reads are done.
 */
static __noreturn void fork_writer_child(int wfd0, int wfd1, const char *buf, size_t len)
{
	char data[64];
	ssize_t off;

	CHILD_CHECK(!prctl(PR_SET_PDEATHSIG, SIGKILL), "prctl: %s", strerror(errno));
	fill_pattern(data, 40, 61);
	CHILD_CHECK(write(wfd0, data, 40) == 40, "write: %s", strerror(errno));
	fill_pattern(data, 50, 62);
	CHILD_CHECK(write(wfd1, data, 50) == 50, "write: %s", strerror(errno));
	off = fill_diff(buf, len, FILL);
	CHILD_CHECK(off == -1, "the child's copy of the buffer changed at byte %zd", off);
	_exit(CHILD_OK);
}

TEST(fork_inherits_ring)
{
	const size_t pg = page_sz();
	struct io_uring_cqe cqes[2];
	struct inl_counters c0, c;
	struct iou_ring ring;
	int rfd[2], wfd[2];
	int i, fds[2];
	struct iovec reg;
	long vm_pin0;
	ssize_t off;
	char *buf;
	pid_t pid;

	if (!inline_read_supported())
		SKIP(return, "kernel lacks IORING_FEAT_INLINE_READ");

	buf = map_anon(_metadata, 2 * pg);
	setup_ring(_metadata, &ring, IORING_SETUP_INLINE_READ);
	reg.iov_base = buf + pg;
	reg.iov_len = pg;
	ASSERT_EQ(0, iou_register_buffers(&ring, &reg, 1));
	for (i = 0; i < 2; i++) {
		ASSERT_EQ(0, pipe(fds));
		rfd[i] = fds[0];
		wfd[i] = fds[1];
	}
	vm_pin0 = status_kb("VmPin");
	get_counters(_metadata, ring.fd, true, &c0);

	iou_prep_read(get_sqe(_metadata, &ring), rfd[0], buf, 64, IOU_POS_CUR, UD_READ);
	iou_prep_read_fixed(get_sqe(_metadata, &ring), rfd[1], buf + pg + 100, 64, IOU_POS_CUR, 0,
			    UD_READ + 1);
	submit_n(_metadata, &ring, 2);
	assert_no_cqe(_metadata, &ring);
	get_counters(_metadata, ring.fd, true, &c);
	ASSERT_EQ(c0.armed + 2, c.armed) TH_LOG("the reads did not arm inline");
	ASSERT_EQ(pg, c.pinned);

	pid = fork();
	ASSERT_NE(-1, pid) TH_LOG("fork: %s", strerror(errno));
	if (!pid)
		fork_writer_child(wfd[0], wfd[1], buf, 2 * pg);

	/* We wait in io_uring_enter() while the child writes. */
	reap_n(_metadata, &ring, cqes, 2);
	ASSERT_EQ(CHILD_OK, join_child(_metadata, &pid, COMPLETE_MS));
	ASSERT_EQ(40, cqe_res(_metadata, cqes, 2, UD_READ));
	ASSERT_EQ(50, cqe_res(_metadata, cqes, 2, UD_READ + 1));
	off = pattern_diff(buf, 40, 61);
	ASSERT_EQ(-1, off) TH_LOG("READ: byte %zd of the parent's buffer differs", off);
	ASSERT_EQ(-1, fill_diff(buf + 40, pg + 100 - 40, FILL));
	off = pattern_diff(buf + pg + 100, 50, 62);
	ASSERT_EQ(-1, off) TH_LOG("READ_FIXED: byte %zd of the parent's buffer differs", off);
	ASSERT_EQ(-1, fill_diff(buf + pg + 150, pg - 150, FILL));

	wait_pinned(_metadata, ring.fd, true, 0);
	wait_vm_pin_back(_metadata, vm_pin0, CLOSE_MS);
	get_counters(_metadata, ring.fd, true, &c);
	/* ASSUMES: the child's write(2) completes the parent's reads inline. */
	ASSERT_EQ(c0.completed + 2, c.completed);
	check_balance(_metadata, &c0, &c);

	iou_exit(&ring);
	for (i = 0; i < 2; i++) {
		close(rfd[i]);
		close(wfd[i]);
	}
	munmap(buf, 2 * pg);
}

/*
 * A forked child submits a read on the ring its parent created (allowed on
 * a ring without SINGLE_ISSUER, as in 6.12). The read is the child's: it
 * pins the child's copy of the buffer's pages, and the parent's write(2)
 * completes it into the child's memory, not the parent's. The CQE goes to
 * the shared CQ ring. The pages are charged to one of the two: io_account_mem()
 * charges the ring's creator (ctx->mm_account, as for registered buffers),
 * so VmPin grows in the parent; the test only requires that the two growths
 * add up to InlineReadPinned, and logs which one it was.
 */
struct child_msg {
	long vm_pin_grown;	/* kB: the child's VmPin growth once its read is armed */
};

static __noreturn void child_submitter(struct iou_ring *ring, int rfd, char *buf, size_t len,
				       int rep)
{
	struct child_msg msg;
	struct io_uring_cqe *cqe;
	struct io_uring_sqe *sqe;
	long vm_pin0;
	ssize_t off;
	int ret;

	CHILD_CHECK(!prctl(PR_SET_PDEATHSIG, SIGKILL), "prctl: %s", strerror(errno));
	vm_pin0 = status_kb("VmPin");
	sqe = iou_get_sqe(ring);
	CHILD_CHECK(sqe, "SQ full");
	iou_prep_read(sqe, rfd, buf, 64, IOU_POS_CUR, UD_CHILD);
	ret = iou_submit(ring);
	CHILD_CHECK(ret == 1, "submit on the inherited ring: %d", ret);
	CHILD_CHECK(!iou_cq_ready(ring), "a CQE before any data was written");
	msg.vm_pin_grown = vm_pin0 < 0 ? 0 : status_kb("VmPin") - vm_pin0;
	CHILD_CHECK(write(rep, &msg, sizeof(msg)) == sizeof(msg), "report: %s", strerror(errno));

	/* Wait for the CQE; the parent consumes it. */
	ret = iou_wait_cqe(ring, &cqe, COMPLETE_MS);
	CHILD_CHECK(!ret, "no CQE: %s", strerror(-ret));
	CHILD_CHECK(cqe->user_data == UD_CHILD, "CQE %#llx", (unsigned long long)cqe->user_data);
	CHILD_CHECK(cqe->res == 40, "read res %d", cqe->res);
	off = pattern_diff(buf, 40, 63);
	CHILD_CHECK(off == -1, "byte %zd of the child's buffer differs", off);
	off = fill_diff(buf + 40, len - 40, FILL);
	CHILD_CHECK(off == -1, "the read wrote past its data, at byte %zd", 40 + off);
	_exit(CHILD_OK);
}

TEST(fork_child_submits)
{
	const size_t pg = page_sz();
	struct inl_counters c0, c;
	struct io_uring_cqe *cqe;
	struct child_msg msg;
	struct iou_ring ring;
	int rfd, wfd, fds[2], rep[2];
	long vm_pin0, vm_pin;
	char *buf;
	pid_t pid;

	if (!inline_read_supported())
		SKIP(return, "kernel lacks IORING_FEAT_INLINE_READ");

	buf = map_anon(_metadata, pg);
	setup_ring(_metadata, &ring, IORING_SETUP_INLINE_READ);
	ASSERT_EQ(0, pipe(fds));
	rfd = fds[0];
	wfd = fds[1];
	ASSERT_EQ(0, pipe(rep));
	vm_pin0 = status_kb("VmPin");
	get_counters(_metadata, ring.fd, true, &c0);

	pid = fork();
	ASSERT_NE(-1, pid) TH_LOG("fork: %s", strerror(errno));
	if (!pid)
		child_submitter(&ring, rfd, buf, pg, rep[1]);
	close(rep[1]);

	ASSERT_EQ(0, read_full(rep[0], &msg, sizeof(msg), COMPLETE_MS))
		TH_LOG("the child did not report its read armed");
	get_counters(_metadata, ring.fd, true, &c);
	ASSERT_EQ(c0.armed + 1, c.armed) TH_LOG("the child's read did not arm inline");
	ASSERT_EQ(pg, c.pinned);
	vm_pin = status_kb("VmPin");
	if (vm_pin0 >= 0) {
		TH_LOG("pages charged: %ld kB to the parent (ring creator), %ld kB to the child",
		       vm_pin - vm_pin0, msg.vm_pin_grown);
		ASSERT_EQ((long)(c.pinned / KIB), vm_pin - vm_pin0 + msg.vm_pin_grown);
	}

	/* We write: the read completes here, into the child's pages. */
	write_pattern(_metadata, wfd, 40, 63);
	ASSERT_EQ(CHILD_OK, join_child(_metadata, &pid, COMPLETE_MS));
	ASSERT_EQ(-1, fill_diff(buf, pg, FILL)) TH_LOG("the child's read wrote our buffer");
	ASSERT_EQ(1U, iou_cq_ready(&ring));
	ASSERT_EQ(0, iou_peek_cqe(&ring, &cqe));
	ASSERT_EQ(UD_CHILD, cqe->user_data);
	ASSERT_EQ(40, cqe->res);
	iou_cqe_seen(&ring);
	ASSERT_EQ(0, pipe_bytes(_metadata, rfd));

	wait_pinned(_metadata, ring.fd, true, 0);
	wait_vm_pin_back(_metadata, vm_pin0, CLOSE_MS);
	get_counters(_metadata, ring.fd, true, &c);
	check_balance(_metadata, &c0, &c);

	iou_exit(&ring);
	close(rep[0]);
	close(rfd);
	close(wfd);
	munmap(buf, pg);
}

/*
 * A forked child submits a read on the inherited ring and exits at once.
 * ASSUMES: the read is tracked like requests on io_uring files
 * (io_req_track_inflight(), inline_rd.c), so the child's exit cancels it
 * even though the ring lives on in the parent: a -ECANCELED CQE, nothing
 * consumed, nothing pinned.
 */
TEST(fork_child_exit_cancels)
{
	const size_t pg = page_sz();
	struct inl_counters c0, c;
	struct io_uring_cqe cqe;
	struct io_uring_sqe *sqe;
	struct iou_ring ring;
	int rfd, wfd, fds[2];
	long vm_pin0;
	char *buf;
	pid_t pid;

	if (!inline_read_supported())
		SKIP(return, "kernel lacks IORING_FEAT_INLINE_READ");

	buf = map_anon(_metadata, pg);
	setup_ring(_metadata, &ring, IORING_SETUP_INLINE_READ);
	ASSERT_EQ(0, pipe(fds));
	rfd = fds[0];
	wfd = fds[1];
	vm_pin0 = status_kb("VmPin");
	get_counters(_metadata, ring.fd, true, &c0);

	pid = fork();
	ASSERT_NE(-1, pid) TH_LOG("fork: %s", strerror(errno));
	if (!pid) {
		sqe = iou_get_sqe(&ring);
		CHILD_CHECK(sqe, "SQ full");
		iou_prep_read(sqe, rfd, buf, 64, IOU_POS_CUR, UD_CHILD);
		CHILD_CHECK(iou_submit(&ring) == 1, "submit on the inherited ring");
		_exit(CHILD_OK);
	}
	ASSERT_EQ(CHILD_OK, join_child(_metadata, &pid, COMPLETE_MS + CLOSE_MS));
	reap_cqe(_metadata, &ring, &cqe);
	ASSERT_EQ(UD_CHILD, cqe.user_data);
	ASSERT_EQ(-ECANCELED, cqe.res) TH_LOG("the exited child's read: res %d", cqe.res);

	wait_pinned(_metadata, ring.fd, true, 0);
	wait_vm_pin_back(_metadata, vm_pin0, CLOSE_MS);
	get_counters(_metadata, ring.fd, true, &c);
	ASSERT_EQ(c0.armed + 1, c.armed) TH_LOG("the child's read did not arm inline");
	ASSERT_EQ(c0.cancelled + 1, c.cancelled);
	check_balance(_metadata, &c0, &c);

	write_pattern(_metadata, wfd, 10, 64);
	assert_no_cqe(_metadata, &ring);
	ASSERT_EQ(10, pipe_bytes(_metadata, rfd)) TH_LOG("a cancelled read took data");
	ASSERT_EQ(-1, fill_diff(buf, pg, FILL));

	iou_exit(&ring);
	close(rfd);
	close(wfd);
	munmap(buf, pg);
}

/*
 * Stress: several rings (plain and DEFER_TASKRUN) share ST_PIPES pipes and
 * ST_EFDS eventfds (one with EFD_SEMAPHORE). Two writer threads write
 * records of random bytes 1..255 (never 0) to the pipes, nonblocking, and
 * random increments to the eventfds. The main thread submits reads (READ,
 * READV into two iovecs with a gap, READ_FIXED) into per-read slots of zeroed
 * memory, cancels by user_data, by fd, by fd with _ALL, with _ANY and through
 * IORING_REGISTER_SYNC_CANCEL, closes and re-creates rings with reads
 * pending, and starts threads that submit reads on a plain ring and exit.
 *
 * Every read ends exactly once: with a CQE, or pending in a ring that was
 * closed. What a read got is checked against its slot at its CQE: data only
 * at the start of its iovecs (and as many bytes as the CQE says), nothing
 * anywhere else in the slot, nothing at all for a cancelled read. Slots of
 * closed rings are kept and examined once every ring is gone (VmPin back to
 * its start: every pinned page, registered buffers included, is released):
 * what a read of a closed ring consumed is in its slot.
 *
 * Afterwards, per pipe: bytes written == bytes in read CQEs + bytes found in
 * slots of closed rings + bytes left, and the same per byte value; per
 * eventfd: sum of increments == sum of values read (CQEs and slots) + the
 * final counter. Live rings show InlineReadPinned 0 and balanced counters.
 *
 * A userfaultfd (O_NONBLOCK) is the last file, when the kernel lets us open
 * one. ST_FAULTERS threads each read the pages of their part of a region
 * registered for missing faults in turn (a load of the first byte blocks
 * until the page is resolved), spread over the run and then as fast as they
 * are resolved; each checks that every page holds its pattern. Its reads
 * take 32 to 128 bytes (READV split anywhere, so a message may straddle the
 * gap); whoever reaps one resolves every fault in it with UFFDIO_COPY of the
 * page's pattern. A read that consumed nothing (-ECANCELED, or -EINTR: see
 * st_cqe()) wrote nothing. Each ring registers the write end of a pipe as a
 * fixed file, so the pipe hangs up once the ring is freed: the reads it had
 * pending when it was closed are examined then, and the faults whose
 * messages they hold resolved, so that their faulters go on. After the run,
 * with every ring gone, the faults left are read with read(2) and resolved
 * until the faulters finish. Per page: faulted once, its message received
 * exactly once (in a CQE, in a closed ring's slot, or by read(2)), from its
 * faulter while it was blocked on that page, then resolved; every page holds
 * its pattern, and the userfaultfd has nothing left.
 */
#define ST_RINGS		3
#define ST_SLOTS		16
#define ST_PIPES		4
#define ST_EFDS			2
/* The files the writers write: pipes, then eventfds. */
#define ST_WFILES		(ST_PIPES + ST_EFDS)
/* Then the userfaultfd. */
#define ST_UFFD			ST_WFILES
#define ST_FILES		(ST_WFILES + 1)
#define ST_MSG			((int)sizeof(struct uffd_msg))
#define ST_MAX_MSGS		4
#define ST_FAULTERS		2
#define ST_UFFD_BYTES		(8 * MIB)
#define ST_STRIDE		1280
#define ST_HEAD			64
#define ST_GAP			32
#define ST_MAX_READ		(ST_STRIDE - 2 * ST_HEAD - ST_GAP)
#define ST_MAX_REC		64
#define ST_MAX_GENS		48
#define ST_WRITERS		2
#define ST_THREAD_READS		3
#define ST_MS			4000
#define ST_MAX_MS		100000
#define ST_ITERS		1000000
#define ST_UD_CANCEL		(1ULL << 62)

enum st_kind {
	ST_READ,
	ST_READV,
	ST_READ_FIXED,
	ST_KINDS,
};

struct st_read {
	__u64 ud;		/* 0: the slot is idle */
	int file;
	enum st_kind kind;
	struct iovec iov[2];	/* where the data goes, in order; iov[1] is empty unless READV */
};

/* One ring (re)creation and the memory of its slots, kept until the end. */
struct st_gen {
	char *mem;		/* ST_SLOTS * ST_STRIDE bytes, registered as buffer 0 */
	struct st_read lost[ST_SLOTS];	/* reads pending when the ring was closed */
	int dead_fd;		/* with a userfaultfd: hangs up once the ring is freed */
	unsigned int uffd_lost;	/* lost userfaultfd reads not examined yet */
};

struct st_ring {
	struct iou_ring ring;
	bool live;
	bool defer;
	int gen;
	struct st_read rd[ST_SLOTS];
	unsigned int pending;	/* reads without a CQE */
	unsigned int cancels;	/* cancel requests without a CQE */
};

struct st_file {
	int rfd;
	int wfd;
	bool efd;
	bool sem;
	bool uffd;
};

struct st_stress;

struct st_writer {
	pthread_t thread;
	bool started;
	struct st_stress *st;
	unsigned int seed;
	uint64_t sum[ST_FILES];		/* pipe bytes or eventfd increments written */
	uint64_t hist[ST_PIPES][256];
	uint64_t writes;
	int err;
};

/* A thread that reads pages first .. first + nr - 1 of the userfaultfd's region in turn. */
struct st_faulter {
	pthread_t thread;
	bool started;
	struct st_stress *st;
	unsigned int seed;
	unsigned int first;
	unsigned int nr;
	pid_t tid;		/* set before its first fault */
	unsigned int cur;	/* the page it touches (blocked on it until resolved) */
	unsigned int done;	/* pages read */
	int bad;		/* -1, or the first page without its pattern */
};

struct st_stress {
	bool inline_read;
	unsigned int seed;
	struct st_file file[ST_FILES];
	struct st_ring ring[ST_RINGS];
	struct st_gen gen[ST_MAX_GENS];
	int nr_gens;
	struct st_writer w[ST_WRITERS];
	bool stop;
	__u64 seq;
	int nr_files;			/* ST_FILES, or ST_WFILES without a userfaultfd */
	unsigned long ms;		/* the bounds of the run */
	unsigned long max_iters;
	__s64 start_ns;
	/* the userfaultfd */
	int uffd;			/* -1: none */
	char *area;			/* its registered region */
	size_t page;
	unsigned int pages;
	unsigned int per;		/* pages per faulter */
	char *src;			/* one page, for UFFDIO_COPY */
	unsigned char *seen;		/* messages received, per page */
	struct st_faulter fl[ST_FAULTERS];
	uint64_t msgs_cqe, msgs_lost, msgs_drained;	/* where the messages were received */
	uint64_t uffd_reads, max_msgs, eintr;
	/* what the reads got */
	uint64_t got[ST_FILES];		/* in CQEs */
	uint64_t lost_got[ST_FILES];	/* in the slots of closed rings */
	uint64_t left[ST_FILES];
	uint64_t hist[ST_PIPES][256];
	/* counts */
	uint64_t iters, submitted, with_data, cancelled, lost, lost_with_data;
	uint64_t cancel_reqs, sync_cancels, closes, thread_exits;
	struct inl_counters ctr;	/* summed over rings, read before they close */
};

/* A thread that submits reads on a plain ring and exits. */
struct st_thread_arg {
	struct st_stress *st;
	struct st_ring *sr;
	int slot[ST_THREAD_READS];
	int nr;
	int ret;
};

/* What a read left in its slot. */
struct st_found {
	size_t bytes;		/* pipe, uffd: bytes of data at the start of its iovecs */
	__u64 value;		/* eventfd: the 8-byte value at the start of its iovecs */
	long guard;		/* offset in the slot of a byte written outside the iovecs, or -1 */
	long stray;		/* offset in the iovecs of a byte written after the data, or -1 */
	unsigned char data[ST_MAX_READ];
};

static char *st_slot(struct st_stress *st, int gen, int slot)
{
	return st->gen[gen].mem + (size_t)slot * ST_STRIDE;
}

/*
 * Data is bytes 1..255 (pipe), a nonzero 8-byte value (eventfd) or whole
 * messages, each with a nonzero event (userfaultfd), at the start of the
 * read's iovecs; every other byte of the slot must still be 0.
 */
static void st_examine(const char *slot, const struct st_read *rd, const struct st_file *file,
		       struct st_found *f)
{
	char copy[ST_STRIDE];
	size_t n = 0, i, start;
	int k;

	memcpy(copy, slot, ST_STRIDE);
	for (k = 0; k < 2; k++) {
		size_t off;

		if (!rd->iov[k].iov_len)
			continue;
		off = (const char *)rd->iov[k].iov_base - slot;
		for (i = 0; i < rd->iov[k].iov_len; i++) {
			f->data[n++] = copy[off + i];
			copy[off + i] = 0;
		}
	}
	f->guard = fill_diff(copy, ST_STRIDE, 0);
	f->bytes = 0;
	f->value = 0;
	if (file->efd) {
		memcpy(&f->value, f->data, sizeof(f->value));
		f->bytes = f->value ? sizeof(f->value) : 0;
		start = sizeof(f->value);
	} else if (file->uffd) {
		while (f->bytes + ST_MSG <= n && f->data[f->bytes])
			f->bytes += ST_MSG;
		start = f->bytes;
	} else {
		while (f->bytes < n && f->data[f->bytes])
			f->bytes++;
		start = f->bytes;
	}
	f->stray = -1;
	for (i = start; i < n; i++) {
		if (f->data[i]) {
			f->stray = i;
			break;
		}
	}
}

static void st_add_hist(struct st_stress *st, int file, const struct st_found *f)
{
	size_t i;

	for (i = 0; i < f->bytes; i++)
		st->hist[file][f->data[i]]++;
}

static void *st_writer_fn(void *arg)
{
	struct st_writer *w = arg;
	struct st_stress *st = w->st;
	unsigned char rec[ST_MAX_REC];
	unsigned int r;
	size_t len, i;
	uint64_t val;
	ssize_t n;
	int f;

	while (!__atomic_load_n(&st->stop, __ATOMIC_RELAXED)) {
		r = rand_r(&w->seed);
		f = r % ST_WFILES;
		if (!st->file[f].efd) {
			len = 1 + (r >> 8) % ST_MAX_REC;
			for (i = 0; i < len; i++)
				rec[i] = 1 + rand_r(&w->seed) % 255;
			n = write(st->file[f].wfd, rec, len);
			if (n < 0 && errno == EAGAIN) {
				/* Full: let the readers catch up. */
				iou_sleep_us(50);
				continue;
			}
			if (n < 0) {
				w->err = errno;
				break;
			}
			w->sum[f] += n;
			for (i = 0; i < (size_t)n; i++)
				w->hist[f][rec[i]]++;
		} else {
			val = st->file[f].sem ? 1 : 1 + (r >> 8) % 1000;
			n = write(st->file[f].wfd, &val, sizeof(val));
			if (n != sizeof(val)) {
				w->err = n < 0 ? errno : EIO;
				break;
			}
			w->sum[f] += val;
		}
		w->writes++;
		if (!((r >> 20) & 7))
			iou_sleep_us(r % 200);
	}
	return NULL;
}

/* Stop the writers and join them, waiting up to COMPLETE_MS each. Returns 0 or -errno. */
static int st_stop_writers(struct st_stress *st)
{
	struct timespec ts;
	int i, ret = 0;

	__atomic_store_n(&st->stop, true, __ATOMIC_RELAXED);
	for (i = 0; i < ST_WRITERS; i++) {
		if (!st->w[i].started)
			continue;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += COMPLETE_MS / 1000;
		if (pthread_timedjoin_np(st->w[i].thread, NULL, &ts))
			ret = -ETIME;
		else
			st->w[i].started = false;
	}
	return ret;
}

static const char *st_file_name(const struct st_file *f)
{
	if (f->uffd)
		return "userfaultfd";
	if (f->efd)
		return f->sem ? "eventfd(sem)" : "eventfd";
	return "pipe";
}

/* The userfaultfd. */

/* The pattern page @idx of the region is resolved with. */
static int st_page_seed(unsigned int idx)
{
	return (int)(idx * 7 + 1);
}

static char *st_page(struct st_stress *st, unsigned int idx)
{
	return st->area + (size_t)idx * st->page;
}

/* Whether the run is @i / @nr done (in time or iterations), or stopped. */
static bool st_run_share(struct st_stress *st, unsigned int i, unsigned int nr)
{
	double share = (double)i / nr;

	return __atomic_load_n(&st->stop, __ATOMIC_RELAXED) ||
	       iou_now_ns() - st->start_ns >= share * st->ms * 1e6 ||
	       __atomic_load_n(&st->iters, __ATOMIC_RELAXED) >= share * st->max_iters;
}

/*
 * Read the pages in turn: the first load of each faults and blocks until the
 * page is resolved. Spread over the run (page i waits for i / nr of it);
 * once the run stops, as fast as the faults are resolved.
 */
static void *st_faulter_fn(void *arg)
{
	struct st_faulter *fl = arg;
	struct st_stress *st = fl->st;
	unsigned int i, idx, r;
	size_t off;
	char *p;

	__atomic_store_n(&fl->tid, (pid_t)syscall(SYS_gettid), __ATOMIC_RELEASE);
	for (i = 0; i < fl->nr; i++) {
		idx = fl->first + i;
		while (!st_run_share(st, i, fl->nr))
			iou_sleep_us(500);
		r = rand_r(&fl->seed);
		if (!(r & 7) && !__atomic_load_n(&st->stop, __ATOMIC_RELAXED))
			iou_sleep_us((r >> 3) % 200);
		__atomic_store_n(&fl->cur, idx, __ATOMIC_RELEASE);
		p = st_page(st, idx);
		for (off = 0; off < st->page; off++) {
			/* A real load: the first one faults. */
			if (__atomic_load_n(&p[off], __ATOMIC_RELAXED) !=
			    pattern_byte(off, st_page_seed(idx))) {
				if (fl->bad < 0)
					fl->bad = idx;
				break;
			}
		}
		__atomic_store_n(&fl->done, i + 1, __ATOMIC_RELEASE);
	}
	return NULL;
}

static bool st_faulters_done(struct st_stress *st)
{
	int i;

	for (i = 0; i < ST_FAULTERS; i++)
		if (st->fl[i].started &&
		    __atomic_load_n(&st->fl[i].done, __ATOMIC_ACQUIRE) < st->fl[i].nr)
			return false;
	return true;
}

/* Join the faulters, waiting up to @ms each. Returns 0 or -ETIME. */
static int st_join_faulters(struct st_stress *st, unsigned int ms)
{
	struct timespec ts;
	int i, ret = 0;

	for (i = 0; i < ST_FAULTERS; i++) {
		if (!st->fl[i].started)
			continue;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += ms / 1000;
		if (pthread_timedjoin_np(st->fl[i].thread, NULL, &ts))
			ret = -ETIME;
		else
			st->fl[i].started = false;
	}
	return ret;
}

/*
 * @bytes of userfaultfd messages, received by a read (counted in *@count):
 * each is a read fault of a page of the region, by the faulter of that page
 * while it is blocked on it, and the first for that page. Resolve each.
 */
static void st_uffd_msgs(struct __test_metadata *_metadata, struct st_stress *st,
			 const unsigned char *data, size_t bytes, uint64_t *count)
{
	struct st_faulter *fl;
	struct uffd_msg m;
	unsigned int idx;
	uintptr_t addr;
	size_t i;
	int ret;

	for (i = 0; i + ST_MSG <= bytes; i += ST_MSG) {
		memcpy(&m, data + i, sizeof(m));
		addr = m.arg.pagefault.address;
		ASSERT_EQ(UFFD_EVENT_PAGEFAULT, m.event)
			TH_LOG("message %zu: event %#x", i / ST_MSG, m.event);
		ASSERT_TRUE(addr >= (uintptr_t)st->area && !(addr % st->page) &&
			    addr < (uintptr_t)st_page(st, st->pages))
			TH_LOG("message %zu: fault address %#llx, not a page of the region",
			       i / ST_MSG, (unsigned long long)addr);
		idx = (addr - (uintptr_t)st->area) / st->page;
		ASSERT_EQ(0ULL, (unsigned long long)m.arg.pagefault.flags)
			TH_LOG("page %u: fault flags %#llx, not a read fault", idx,
			       (unsigned long long)m.arg.pagefault.flags);
		fl = &st->fl[idx / st->per];
		ASSERT_EQ((unsigned int)__atomic_load_n(&fl->tid, __ATOMIC_ACQUIRE),
			  (unsigned int)m.arg.pagefault.feat.ptid)
			TH_LOG("page %u: fault by thread %u", idx, m.arg.pagefault.feat.ptid);
		ASSERT_EQ(idx, __atomic_load_n(&fl->cur, __ATOMIC_ACQUIRE))
			TH_LOG("a message for page %u, but its faulter is at page %u", idx,
			       __atomic_load_n(&fl->cur, __ATOMIC_ACQUIRE));
		ASSERT_EQ(0, st->seen[idx]) TH_LOG("page %u: a second message", idx);
		st->seen[idx] = 1;
		(*count)++;
		fill_pattern(st->src, st->page, st_page_seed(idx));
		ret = uffd_copy(st->uffd, st_page(st, idx), st->src, st->page);
		ASSERT_EQ(0, ret) TH_LOG("UFFDIO_COPY page %u: %s", idx, strerror(-ret));
	}
}

static void st_new_ring(struct __test_metadata *_metadata, struct st_stress *st, int ri,
			bool defer)
{
	struct st_ring *sr = &st->ring[ri];
	unsigned int flags = 0;
	struct st_gen *g;
	struct iovec iov;
	int ret, fds[2];

	ASSERT_GT(ST_MAX_GENS, st->nr_gens);
	g = &st->gen[st->nr_gens];
	g->mem = mmap(NULL, ST_SLOTS * ST_STRIDE, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, g->mem);
	madvise(g->mem, ST_SLOTS * ST_STRIDE, MADV_NOHUGEPAGE);

	if (defer)
		flags |= IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
	if (st->inline_read)
		flags |= IORING_SETUP_INLINE_READ;
	memset(sr, 0, sizeof(*sr));
	ret = iou_setup(&sr->ring, RING_ENTRIES, flags);
	ASSERT_EQ(0, ret) TH_LOG("io_uring_setup(%#x): %s", flags, strerror(-ret));
	iov.iov_base = g->mem;
	iov.iov_len = ST_SLOTS * ST_STRIDE;
	ASSERT_EQ(0, iou_register_buffers(&sr->ring, &iov, 1));
	g->dead_fd = -1;
	if (st->uffd >= 0) {
		/* The ring holds the only write end: the pipe hangs up when the ring is freed. */
		ASSERT_EQ(0, pipe2(fds, O_CLOEXEC));
		ret = iou_register_files(&sr->ring, &fds[1], 1);
		close(fds[1]);
		ASSERT_EQ(0, ret) TH_LOG("IORING_REGISTER_FILES: %s", strerror(-ret));
		g->dead_fd = fds[0];
	}
	sr->live = true;
	sr->defer = defer;
	sr->gen = st->nr_gens++;
}

static void st_add_counters(struct __test_metadata *_metadata, struct st_stress *st,
			    struct st_ring *sr, struct inl_counters *c)
{
	memset(c, 0, sizeof(*c));
	if (!st->inline_read)
		return;
	get_counters(_metadata, sr->ring.fd, true, c);
	st->ctr.armed += c->armed;
	st->ctr.completed += c->completed;
	st->ctr.fallback += c->fallback;
	st->ctr.cancelled += c->cancelled;
}

/* Close a ring with its reads pending; their slots are examined at the end. */
static void st_close_ring(struct __test_metadata *_metadata, struct st_stress *st, int ri)
{
	struct st_ring *sr = &st->ring[ri];
	struct inl_counters c;
	int i;

	st_add_counters(_metadata, st, sr, &c);
	for (i = 0; i < ST_SLOTS; i++) {
		if (!sr->rd[i].ud)
			continue;
		st->gen[sr->gen].lost[i] = sr->rd[i];
		st->lost++;
		if (st->file[sr->rd[i].file].uffd)
			st->gen[sr->gen].uffd_lost++;
	}
	iou_exit(&sr->ring);
	sr->live = false;
	st->closes++;
}

/* Pick the file, the kind and the iovecs of a read into slot @slot, and zero the slot. */
static void st_prepare(struct st_stress *st, int ri, int slot)
{
	struct st_ring *sr = &st->ring[ri];
	struct st_read *rd = &sr->rd[slot];
	char *base = st_slot(st, sr->gen, slot);
	size_t len, len0;
	bool efd;

	memset(base, 0, ST_STRIDE);
	rd->file = rand_r(&st->seed) % st->nr_files;
	rd->kind = rand_r(&st->seed) % ST_KINDS;
	efd = st->file[rd->file].efd;
	if (st->file[rd->file].uffd)
		len = ST_MSG * (1 + rand_r(&st->seed) % ST_MAX_MSGS);
	else
		len = efd ? 8 + 8 * (rand_r(&st->seed) & 1) : 1 + rand_r(&st->seed) % ST_MAX_READ;
	if (len < 2 && rd->kind == ST_READV)
		rd->kind = ST_READ;
	len0 = rd->kind == ST_READV ? 1 + rand_r(&st->seed) % (len - 1) : len;
	rd->iov[0].iov_base = base + ST_HEAD;
	rd->iov[0].iov_len = len0;
	rd->iov[1].iov_base = len0 < len ? base + ST_HEAD + len0 + ST_GAP : NULL;
	rd->iov[1].iov_len = len - len0;
	rd->ud = (++st->seq << 16) | (ri << 8) | slot;
}

static void st_prep_sqe(struct st_stress *st, struct io_uring_sqe *sqe, const struct st_read *rd)
{
	int fd = st->file[rd->file].rfd;

	switch (rd->kind) {
	case ST_READ:
	case ST_KINDS:
		iou_prep_read(sqe, fd, rd->iov[0].iov_base, rd->iov[0].iov_len, IOU_POS_CUR,
			      rd->ud);
		break;
	case ST_READV:
		iou_prep_readv(sqe, fd, rd->iov, 2, IOU_POS_CUR, rd->ud);
		break;
	case ST_READ_FIXED:
		iou_prep_read_fixed(sqe, fd, rd->iov[0].iov_base, rd->iov[0].iov_len,
				    IOU_POS_CUR, 0, rd->ud);
		break;
	}
}

/* Up to @nr idle slots of ring @ri, from a random one on; returns how many. */
static int st_idle_slots(struct st_stress *st, int ri, int *slots, int nr)
{
	struct st_ring *sr = &st->ring[ri];
	int i, s, n = 0, first = rand_r(&st->seed) % ST_SLOTS;

	for (i = 0; i < ST_SLOTS && n < nr; i++) {
		s = (first + i) % ST_SLOTS;
		if (!sr->rd[s].ud)
			slots[n++] = s;
	}
	return n;
}

static void st_submit_reads(struct __test_metadata *_metadata, struct st_stress *st, int ri,
			    int nr)
{
	struct st_ring *sr = &st->ring[ri];
	int slots[ST_SLOTS];
	int i, n;

	n = st_idle_slots(st, ri, slots, nr);
	if (!n)
		return;
	for (i = 0; i < n; i++) {
		st_prepare(st, ri, slots[i]);
		st_prep_sqe(st, get_sqe(_metadata, &sr->ring), &sr->rd[slots[i]]);
	}
	submit_n(_metadata, &sr->ring, n);
	sr->pending += n;
	st->submitted += n;
}

static void *st_submit_thread(void *p)
{
	struct st_thread_arg *a = p;
	struct io_uring_sqe *sqe;
	int i;

	for (i = 0; i < a->nr; i++) {
		sqe = iou_get_sqe(&a->sr->ring);
		if (!sqe) {
			a->ret = -EBUSY;
			return NULL;
		}
		st_prep_sqe(a->st, sqe, &a->sr->rd[a->slot[i]]);
	}
	a->ret = iou_submit(&a->sr->ring);
	return NULL;
}

/* A thread submits a few reads on plain ring @ri and exits; we do not touch the SQ meanwhile. */
static void st_thread_submit(struct __test_metadata *_metadata, struct st_stress *st, int ri)
{
	struct st_ring *sr = &st->ring[ri];
	struct st_thread_arg a = { .st = st, .sr = sr };
	struct timespec ts;
	pthread_t thread;
	int i;

	if (sr->defer)
		return;
	a.nr = st_idle_slots(st, ri, a.slot, ST_THREAD_READS);
	if (!a.nr)
		return;
	for (i = 0; i < a.nr; i++)
		st_prepare(st, ri, a.slot[i]);
	ASSERT_EQ(0, pthread_create(&thread, NULL, st_submit_thread, &a));
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += (COMPLETE_MS + CLOSE_MS) / 1000;
	ASSERT_EQ(0, pthread_timedjoin_np(thread, NULL, &ts))
		TH_LOG("a submitting thread did not exit");
	ASSERT_EQ(a.nr, a.ret) TH_LOG("thread submit: %d", a.ret);
	sr->pending += a.nr;
	st->submitted += a.nr;
	st->thread_exits++;
}

static bool st_cancel_res_ok(int res)
{
	return res >= 0 || res == -ENOENT || res == -EALREADY;
}

/* Cancel on ring @ri by a random selector. */
static void st_cancel(struct __test_metadata *_metadata, struct st_stress *st, int ri)
{
	struct st_ring *sr = &st->ring[ri];
	unsigned int how = rand_r(&st->seed) % 8;
	int file = rand_r(&st->seed) % st->nr_files;
	int fd = st->file[file].rfd;
	struct io_uring_sqe *sqe;
	__u64 target = 0;
	int slot, ret;

	if (!sr->pending)
		return;
	/* A target: the user_data of a pending read, or a stale one. */
	slot = rand_r(&st->seed) % ST_SLOTS;
	target = sr->rd[slot].ud ? sr->rd[slot].ud : st->seq << 16;

	if (how >= 6) {
		unsigned int flags = 0;

		if (how == 7)
			flags = IORING_ASYNC_CANCEL_FD | IORING_ASYNC_CANCEL_ALL;

		ret = iou_sync_cancel(&sr->ring, target, fd, flags, CLOSE_MS);
		ASSERT_TRUE(st_cancel_res_ok(ret) || ret == -ETIME)
			TH_LOG("sync cancel %#x: %s", flags, strerror(-ret));
		st->sync_cancels++;
		return;
	}
	sqe = get_sqe(_metadata, &sr->ring);
	switch (how) {
	case 0:
	case 1:
	case 2:
		iou_prep_cancel(sqe, target, 0, ST_UD_CANCEL | ++st->seq);
		break;
	case 3:
		iou_prep_cancel_fd(sqe, fd, 0, ST_UD_CANCEL | ++st->seq);
		break;
	case 4:
		iou_prep_cancel_fd(sqe, fd, IORING_ASYNC_CANCEL_ALL, ST_UD_CANCEL | ++st->seq);
		break;
	default:
		iou_prep_cancel(sqe, 0, IORING_ASYNC_CANCEL_ANY | IORING_ASYNC_CANCEL_ALL,
				ST_UD_CANCEL | ++st->seq);
		break;
	}
	submit_n(_metadata, &sr->ring, 1);
	sr->cancels++;
	st->cancel_reqs++;
}

/* Account for one CQE of ring @ri. */
static void st_cqe(struct __test_metadata *_metadata, struct st_stress *st, int ri,
		   const struct io_uring_cqe *cqe)
{
	struct st_ring *sr = &st->ring[ri];
	__u64 ud = cqe->user_data;
	int slot = ud & 0xff, res = cqe->res;
	const struct st_file *file;
	struct st_found f;
	struct st_read *rd;
	bool efd;

	if (ud & ST_UD_CANCEL) {
		ASSERT_TRUE(st_cancel_res_ok(res)) TH_LOG("cancel: %s", strerror(-res));
		ASSERT_LT(0U, sr->cancels);
		sr->cancels--;
		return;
	}
	ASSERT_EQ(ri, (int)((ud >> 8) & 0xff))
		TH_LOG("CQE %#llx on ring %d", (unsigned long long)ud, ri);
	ASSERT_GT(ST_SLOTS, slot);
	rd = &sr->rd[slot];
	ASSERT_EQ(rd->ud, ud) TH_LOG("CQE for %#llx, which is not pending (a second CQE?)",
				     (unsigned long long)ud);
	ASSERT_LT(0U, sr->pending);
	file = &st->file[rd->file];
	efd = file->efd;
	st_examine(st_slot(st, sr->gen, slot), rd, file, &f);
	ASSERT_EQ(-1, f.guard) TH_LOG("read %#llx (res %d) wrote outside its buffer, slot byte %ld",
				      (unsigned long long)ud, res, f.guard);
	ASSERT_EQ(-1, f.stray) TH_LOG("read %#llx (res %d) wrote past its data, at byte %ld",
				      (unsigned long long)ud, res, f.stray);
	if (res > 0) {
		if (file->uffd) {
			ASSERT_EQ(0, res % ST_MSG) TH_LOG("userfaultfd read %#llx: res %d",
							  (unsigned long long)ud, res);
			ASSERT_EQ((size_t)res, f.bytes)
				TH_LOG("read %#llx: res %d, %zu bytes of messages",
				       (unsigned long long)ud, res, f.bytes);
			st_uffd_msgs(_metadata, st, f.data, res, &st->msgs_cqe);
			st->uffd_reads++;
			if ((uint64_t)(res / ST_MSG) > st->max_msgs)
				st->max_msgs = res / ST_MSG;
		} else if (efd) {
			ASSERT_EQ(8, res);
			ASSERT_LT(0ULL, f.value) TH_LOG("an eventfd read of 0");
			if (st->file[rd->file].sem)
				ASSERT_EQ(1ULL, f.value);
			st->got[rd->file] += f.value;
		} else {
			ASSERT_EQ((size_t)res, f.bytes)
				TH_LOG("read %#llx: res %d, %zu bytes of data",
				       (unsigned long long)ud, res, f.bytes);
			st->got[rd->file] += res;
			st_add_hist(st, rd->file, &f);
		}
		st->with_data++;
	} else if (file->uffd && res == -EINTR) {
		/*
		 * Mainline: userfaultfd_ctx_read() tests signal_pending()
		 * before O_NONBLOCK, and io_uring's task_work notification
		 * counts, so a read issued while its submitter has task_work
		 * queued fails with -EINTR, having taken nothing (the series
		 * makes it wait). Tolerated on both variants, and counted.
		 */
		ASSERT_EQ(0U, f.bytes) TH_LOG("a userfaultfd read failed with -EINTR but wrote");
		st->eintr++;
	} else {
		ASSERT_EQ(-ECANCELED, res)
			TH_LOG("read %#llx on %s %d: %s", (unsigned long long)ud,
			       st_file_name(file), rd->file, strerror(-res));
		ASSERT_EQ(0U, f.bytes) TH_LOG("a cancelled read wrote its buffer");
		st->cancelled++;
	}
	rd->ud = 0;
	sr->pending--;
}

/* Reap what ring @ri has (a DEFER_TASKRUN ring runs its local work first). */
static void st_reap(struct __test_metadata *_metadata, struct st_stress *st, int ri)
{
	struct st_ring *sr = &st->ring[ri];
	struct io_uring_cqe *cqe;
	int ret;

	if (sr->defer) {
		ret = iou_get_events(&sr->ring);
		ASSERT_TRUE(ret >= 0 || ret == -EINTR) TH_LOG("get events: %s", strerror(-ret));
	}
	while (!iou_peek_cqe(&sr->ring, &cqe)) {
		st_cqe(_metadata, st, ri, cqe);
		iou_cqe_seen(&sr->ring);
	}
}

/* Cancel everything left on a live ring and reap it all; nothing writes any more. */
static void st_finish_ring(struct __test_metadata *_metadata, struct st_stress *st, int ri)
{
	__s64 deadline = iou_now_ns() + COMPLETE_MS * 1000000LL;
	struct st_ring *sr = &st->ring[ri];
	struct inl_counters zero = { 0 }, c;
	struct io_uring_cqe *cqe;
	int ret;

	while (sr->pending || sr->cancels) {
		ASSERT_GT(deadline, iou_now_ns())
			TH_LOG("ring %d: %u reads, %u cancels still pending", ri, sr->pending,
			       sr->cancels);
		if (!sr->cancels) {
			iou_prep_cancel(get_sqe(_metadata, &sr->ring), 0,
					IORING_ASYNC_CANCEL_ANY | IORING_ASYNC_CANCEL_ALL,
					ST_UD_CANCEL | ++st->seq);
			submit_n(_metadata, &sr->ring, 1);
			sr->cancels++;
		}
		ret = iou_wait_cqe(&sr->ring, &cqe, 100);
		ASSERT_TRUE(!ret || ret == -ETIME) TH_LOG("wait: %s", strerror(-ret));
		st_reap(_metadata, st, ri);
	}
	assert_no_cqe(_metadata, &sr->ring);
	if (st->inline_read) {
		wait_pinned(_metadata, sr->ring.fd, true, 0);
		get_counters(_metadata, sr->ring.fd, true, &c);
		check_balance(_metadata, &zero, &c);
	}
}

/*
 * The userfaultfd and its region. Without userfaultfd(2) (no
 * CONFIG_USERFAULTFD, or not allowed) the run goes on without it.
 */
static void st_uffd_start(struct __test_metadata *_metadata, struct st_stress *st)
{
	struct st_file *f = &st->file[ST_UFFD];
	int ret;

	f->rfd = -1;
	f->wfd = -1;
	f->uffd = true;
	st->nr_files = ST_WFILES;
	ret = uffd_new(O_CLOEXEC | O_NONBLOCK);
	if (ret < 0) {
		TH_LOG("no userfaultfd (%s): the run goes without it", strerror(-ret));
		return;
	}
	st->uffd = ret;
	f->rfd = ret;
	f->wfd = ret;
	st->nr_files = ST_FILES;
	ret = uffd_api(st->uffd, UFFD_FEATURE_THREAD_ID);
	ASSERT_EQ(0, ret) TH_LOG("UFFDIO_API: %s", strerror(-ret));

	st->page = page_sz();
	st->pages = ST_UFFD_BYTES / st->page;
	st->per = st->pages / ST_FAULTERS;
	st->area = mmap(NULL, ST_UFFD_BYTES, PROT_READ | PROT_WRITE,
			MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, st->area);
	/* One fault per small page; fails harmlessly without THP. */
	madvise(st->area, ST_UFFD_BYTES, MADV_NOHUGEPAGE);
	ret = uffd_register(st->uffd, st->area, ST_UFFD_BYTES);
	ASSERT_EQ(0, ret) TH_LOG("UFFDIO_REGISTER: %s", strerror(-ret));
	st->src = malloc(st->page);
	ASSERT_NE(NULL, st->src);
	st->seen = calloc(st->pages, 1);
	ASSERT_NE(NULL, st->seen);
}

static void st_start_faulters(struct __test_metadata *_metadata, struct st_stress *st)
{
	int i;

	if (st->uffd < 0)
		return;
	st->start_ns = iou_now_ns();
	for (i = 0; i < ST_FAULTERS; i++) {
		struct st_faulter *fl = &st->fl[i];

		fl->st = st;
		fl->seed = st->seed ^ (0x85ebca6bU * (i + 1));
		fl->first = i * st->per;
		fl->nr = st->per;
		fl->cur = fl->first;
		fl->bad = -1;
		ASSERT_EQ(0, pthread_create(&fl->thread, NULL, st_faulter_fn, fl));
		fl->started = true;
	}
}

/* Set up files, rings, writers and faulters. */
static void st_start(struct __test_metadata *_metadata, struct st_stress *st)
{
	int i, j, fds[2];

	for (i = 0; i < ST_WFILES; i++) {
		struct st_file *f = &st->file[i];

		if (i < ST_PIPES) {
			ASSERT_EQ(0, pipe(fds));
			f->rfd = fds[0];
			f->wfd = fds[1];
			ASSERT_EQ(0, fcntl(f->wfd, F_SETFL, O_NONBLOCK));
		} else {
			f->efd = true;
			f->sem = i == ST_PIPES + 1;
			f->rfd = eventfd(0, f->sem ? EFD_SEMAPHORE : 0);
			ASSERT_LE(0, f->rfd) TH_LOG("eventfd: %s", strerror(errno));
			f->wfd = f->rfd;
		}
	}
	st_uffd_start(_metadata, st);
	/* At least one plain and one DEFER_TASKRUN ring. */
	for (i = 0; i < ST_RINGS; i++)
		st_new_ring(_metadata, st, i, i == 1 || (i > 1 && (rand_r(&st->seed) & 1)));
	for (i = 0; i < ST_WRITERS; i++) {
		struct st_writer *w = &st->w[i];

		w->st = st;
		w->seed = st->seed ^ (0x9e3779b9U * (i + 1));
		for (j = 0; j < ST_PIPES; j++)
			memset(w->hist[j], 0, sizeof(w->hist[j]));
		ASSERT_EQ(0, pthread_create(&w->thread, NULL, st_writer_fn, w));
		w->started = true;
	}
	st_start_faulters(_metadata, st);
}

/* Drain every file: what is left, without blocking. */
static void st_drain(struct __test_metadata *_metadata, struct st_stress *st)
{
	unsigned char buf[4096];
	uint64_t val;
	ssize_t n, i;
	int f;

	/* The userfaultfd is drained by st_uffd_finish(). */
	for (f = 0; f < ST_WFILES; f++) {
		int fd = st->file[f].rfd;

		ASSERT_EQ(0, fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK));
		for (;;) {
			if (st->file[f].efd) {
				n = read(fd, &val, sizeof(val));
				if (n == sizeof(val))
					st->left[f] += val;
			} else {
				n = read(fd, buf, sizeof(buf));
				for (i = 0; i < n; i++)
					st->hist[f][buf[i]]++;
				if (n > 0)
					st->left[f] += n;
			}
			if (n > 0)
				continue;
			ASSERT_TRUE(n < 0 && errno == EAGAIN) TH_LOG("drain %d: %zd %s", f, n,
								     strerror(errno));
			break;
		}
	}
}

/*
 * The userfaultfd reads pending in closed ring @g, once it is freed: resolve
 * the faults whose messages they consumed (their faulters are blocked).
 */
static void st_scan_lost_uffd(struct __test_metadata *_metadata, struct st_stress *st, int g)
{
	struct st_found f;
	struct st_read *rd;
	int s;

	for (s = 0; s < ST_SLOTS; s++) {
		rd = &st->gen[g].lost[s];
		if (!rd->ud || !st->file[rd->file].uffd)
			continue;
		st_examine(st_slot(st, g, s), rd, &st->file[rd->file], &f);
		ASSERT_EQ(-1, f.guard) TH_LOG("lost read %#llx wrote outside its buffer",
					      (unsigned long long)rd->ud);
		ASSERT_EQ(-1, f.stray) TH_LOG("lost read %#llx wrote past its messages",
					      (unsigned long long)rd->ud);
		if (!f.bytes)
			continue;
		st->lost_with_data++;
		st_uffd_msgs(_metadata, st, f.data, f.bytes, &st->msgs_lost);
	}
	st->gen[g].uffd_lost = 0;
}

/* Whether closed ring @g is freed (every request of it ended), waiting up to @ms. */
static bool st_ring_freed(struct st_stress *st, int g, int ms)
{
	struct pollfd pfd = { .fd = st->gen[g].dead_fd, .events = POLLIN };

	return poll(&pfd, 1, ms) == 1 && (pfd.revents & POLLHUP);
}

/* Examine the lost userfaultfd reads of the closed rings freed by now. */
static void st_poll_lost_uffd(struct __test_metadata *_metadata, struct st_stress *st)
{
	int g;

	for (g = 0; g < st->nr_gens; g++)
		if (st->gen[g].uffd_lost && st_ring_freed(st, g, 0))
			st_scan_lost_uffd(_metadata, st, g);
}

/* Every ring is closed: each is freed within UNPIN_MS; examine its lost userfaultfd reads. */
static void st_rings_freed(struct __test_metadata *_metadata, struct st_stress *st)
{
	__s64 deadline = iou_now_ns() + UNPIN_MS * 1000000LL;
	int g;

	if (st->uffd < 0)
		return;
	for (g = 0; g < st->nr_gens; g++) {
		while (!st_ring_freed(st, g, 10)) {
			ASSERT_GT(deadline, iou_now_ns())
				TH_LOG("ring generation %d not freed %u ms after the last close", g,
				       UNPIN_MS);
		}
		if (st->gen[g].uffd_lost)
			st_scan_lost_uffd(_metadata, st, g);
	}
}

/*
 * Every ring is gone: the faults left (their messages unread) are read with
 * read(2) and resolved until the faulters finish; then nothing is left.
 */
static void st_uffd_finish(struct __test_metadata *_metadata, struct st_stress *st)
{
	struct pollfd pfd = { .fd = st->uffd, .events = POLLIN };
	unsigned char buf[ST_MAX_MSGS * ST_MSG];
	__s64 deadline = iou_now_ns() + COMPLETE_MS * 1000000LL;
	uint64_t pending = 0, total = 0;
	struct st_faulter *fl;
	ssize_t n;
	int i;

	if (st->uffd < 0)
		return;
	while (!st_faulters_done(st)) {
		n = read(st->uffd, buf, sizeof(buf));
		if (n > 0) {
			ASSERT_EQ(0, n % ST_MSG) TH_LOG("read(2) of the userfaultfd: %zd", n);
			st_uffd_msgs(_metadata, st, buf, n, &st->msgs_drained);
			deadline = iou_now_ns() + COMPLETE_MS * 1000000LL;
			continue;
		}
		ASSERT_TRUE(n < 0 && (errno == EAGAIN || errno == EINTR))
			TH_LOG("read(2) of the userfaultfd: %zd %s", n, strerror(errno));
		ASSERT_GT(deadline, iou_now_ns()) {
			for (i = 0; i < ST_FAULTERS; i++)
				TH_LOG("faulter %d: at page %u, %u of %u pages read", i,
				       st->fl[i].cur, st->fl[i].done, st->fl[i].nr);
			TH_LOG("a faulter is blocked, with no message to read: a message was lost");
		}
		poll(&pfd, 1, 10);
	}
	ASSERT_EQ(0, st_join_faulters(st, COMPLETE_MS)) TH_LOG("a faulter did not exit");
	for (i = 0; i < ST_FAULTERS; i++) {
		fl = &st->fl[i];
		ASSERT_EQ(fl->nr, fl->done);
		ASSERT_EQ(-1, fl->bad) TH_LOG("faulter %d: page %d does not hold its pattern", i,
					      fl->bad);
	}
	n = read(st->uffd, buf, sizeof(buf));
	ASSERT_TRUE(n < 0 && errno == EAGAIN)
		TH_LOG("the faulters are done, but the userfaultfd reads %zd (%s)", n,
		       strerror(errno));
	/* The userfaultfd's fdinfo: unread faults and unresolved ones. */
	if (!iou_fdinfo_u64(st->uffd, "pending", &pending) &&
	    !iou_fdinfo_u64(st->uffd, "total", &total)) {
		ASSERT_EQ(0ULL, (unsigned long long)pending);
		ASSERT_EQ(0ULL, (unsigned long long)total);
	}
}

/* What the reads pending in closed rings consumed is in their slots. */
static void st_scan_lost(struct __test_metadata *_metadata, struct st_stress *st)
{
	struct st_found f;
	struct st_read *rd;
	int g, s;
	bool efd;

	for (g = 0; g < st->nr_gens; g++) {
		for (s = 0; s < ST_SLOTS; s++) {
			rd = &st->gen[g].lost[s];
			/* Userfaultfd reads: st_scan_lost_uffd(). */
			if (!rd->ud || st->file[rd->file].uffd)
				continue;
			efd = st->file[rd->file].efd;
			st_examine(st_slot(st, g, s), rd, &st->file[rd->file], &f);
			ASSERT_EQ(-1, f.guard) TH_LOG("lost read %#llx wrote outside its buffer",
						      (unsigned long long)rd->ud);
			ASSERT_EQ(-1, f.stray) TH_LOG("lost read %#llx wrote past its data",
						      (unsigned long long)rd->ud);
			if (!f.bytes)
				continue;
			st->lost_with_data++;
			if (efd) {
				if (st->file[rd->file].sem)
					ASSERT_EQ(1ULL, f.value);
				st->lost_got[rd->file] += f.value;
			} else {
				st->lost_got[rd->file] += f.bytes;
				st_add_hist(st, rd->file, &f);
			}
		}
	}
}

/*
 * Every page of the userfaultfd's region was faulted once, its message
 * received exactly once, and it holds its pattern (st_uffd_finish() joined
 * the faulters, so reading the region faults no more).
 */
static void st_check_uffd(struct __test_metadata *_metadata, struct st_stress *st)
{
	uint64_t msgs = st->msgs_cqe + st->msgs_lost + st->msgs_drained;
	unsigned int idx;
	ssize_t off;

	if (st->uffd < 0)
		return;
	TH_LOG("userfaultfd %d: %u pages faulted, %llu reads got -EINTR", ST_UFFD, st->pages,
	       (unsigned long long)st->eintr);
	TH_LOG("messages: %llu in %llu CQEs (up to %llu in one), %llu in closed rings",
	       (unsigned long long)st->msgs_cqe, (unsigned long long)st->uffd_reads,
	       (unsigned long long)st->max_msgs, (unsigned long long)st->msgs_lost);
	TH_LOG("messages: %llu by read(2) after the run", (unsigned long long)st->msgs_drained);
	/*
	 * A kernel with the series also has its userfaultfd fix: a nonblocking
	 * read waits for a fault whatever task work is pending.
	 */
	if (inline_read_supported())
		ASSERT_EQ(0ULL, (unsigned long long)st->eintr);
	idx = 0;
	while (idx < st->pages && st->seen[idx] == 1)
		idx++;
	ASSERT_EQ(st->pages, idx) TH_LOG("page %u: %d messages", idx, st->seen[idx]);
	ASSERT_EQ((uint64_t)st->pages, msgs);
	for (idx = 0; idx < st->pages; idx++) {
		off = pattern_diff(st_page(st, idx), st->page, st_page_seed(idx));
		ASSERT_EQ(-1, off) TH_LOG("page %u: byte %zd is not its pattern", idx, off);
	}
}

/* Every byte and every count written is accounted for exactly once. */
static void st_check_totals(struct __test_metadata *_metadata, struct st_stress *st)
{
	uint64_t written, hist;
	int f, w, b;

	for (f = 0; f < ST_WFILES; f++) {
		for (written = 0, w = 0; w < ST_WRITERS; w++)
			written += st->w[w].sum[f];
		TH_LOG("%s %d: written %llu, read %llu, in closed rings %llu, left %llu",
		       st_file_name(&st->file[f]),
		       f, (unsigned long long)written, (unsigned long long)st->got[f],
		       (unsigned long long)st->lost_got[f], (unsigned long long)st->left[f]);
		ASSERT_EQ(written, st->got[f] + st->lost_got[f] + st->left[f])
			TH_LOG("file %d: lost or duplicated data", f);
		if (st->file[f].efd)
			continue;
		for (b = 0; b < 256; b++) {
			for (hist = 0, w = 0; w < ST_WRITERS; w++)
				hist += st->w[w].hist[f][b];
			ASSERT_EQ(hist, st->hist[f][b])
				TH_LOG("pipe %d: byte value %d written %llu times, read %llu",
				       f, b, (unsigned long long)hist,
				       (unsigned long long)st->hist[f][b]);
		}
	}
	st_check_uffd(_metadata, st);
	ASSERT_EQ(st->submitted, st->with_data + st->cancelled + st->eintr + st->lost)
		TH_LOG("%llu reads: %llu with data, %llu cancelled, %llu -EINTR, %llu lost",
		       (unsigned long long)st->submitted, (unsigned long long)st->with_data,
		       (unsigned long long)st->cancelled, (unsigned long long)st->eintr,
		       (unsigned long long)st->lost);
}

/*
 * Spread the ring closes over the run: allow as many of the ST_MAX_GENS
 * re-creations as the elapsed share of the run (in time or iterations).
 */
static bool st_may_close(struct st_stress *st, __s64 start, unsigned long ms,
			 unsigned long max_iters)
{
	unsigned long budget = ST_MAX_GENS - ST_RINGS, allowed, by_iters;
	__s64 elapsed_ms = (iou_now_ns() - start) / 1000000;

	if (st->nr_gens >= ST_MAX_GENS)
		return false;
	allowed = budget * (unsigned long)elapsed_ms / ms;
	by_iters = budget * st->iters / max_iters;
	if (by_iters > allowed)
		allowed = by_iters;
	return (unsigned long)(st->nr_gens - ST_RINGS) <= allowed;
}

FIXTURE(stress) {
	struct st_stress *st;
};

FIXTURE_VARIANT(stress) {
	bool inline_read;
};

FIXTURE_VARIANT_ADD(stress, inline) {
	.inline_read = true,
};

/* The same on the stock path: a baseline that runs on any kernel. */
FIXTURE_VARIANT_ADD(stress, stock) {
	.inline_read = false,
};

FIXTURE_SETUP(stress)
{
	self->st = NULL;
	if (variant->inline_read && !inline_read_supported())
		SKIP(return, "kernel lacks IORING_FEAT_INLINE_READ");
	self->st = calloc(1, sizeof(*self->st));
	ASSERT_NE(NULL, self->st);
	self->st->uffd = -1;
}

FIXTURE_TEARDOWN(stress)
{
	struct st_stress *st = self->st;
	int i;

	if (!st)
		return;
	/* After a failed assertion the writers may still run: stop them first. */
	st_stop_writers(st);
	/*
	 * Faulters may be blocked in faults: closing the rings (their reads
	 * hold the userfaultfd) and the userfaultfd releases them, and they
	 * go through the rest of the region, no longer registered.
	 */
	if (st->uffd >= 0) {
		for (i = 0; i < ST_RINGS; i++)
			if (st->ring[i].live)
				iou_exit(&st->ring[i].ring);
		close(st->uffd);
		st->uffd = -1;
		st_join_faulters(st, CLOSE_MS);
	}
}

TEST_F_TIMEOUT(stress, mixed, 120)
{
	struct st_stress *st = self->st;
	unsigned long ms = env_ul("IOU_STRESS_MS", ST_MS);
	unsigned long max_iters = env_ul("IOU_STRESS_ITERS", ST_ITERS);
	struct io_uring_cqe *cqe;
	__s64 start, deadline;
	uint64_t writes = 0;
	unsigned int r;
	long vm_pin0;
	int i, ri;

	st->inline_read = variant->inline_read;
	st->seed = env_ul("IOU_SEED", (unsigned long)time(NULL) ^ getpid());
	if (ms > ST_MAX_MS)
		ms = ST_MAX_MS;
	if (!ms)
		ms = 1;
	if (!max_iters)
		max_iters = 1;
	st->ms = ms;
	st->max_iters = max_iters;
	TH_LOG("seed %u (IOU_SEED), %lu ms (IOU_STRESS_MS), %lu iterations (IOU_STRESS_ITERS)",
	       st->seed, ms, max_iters);

	vm_pin0 = status_kb("VmPin");
	st_start(_metadata, st);
	start = iou_now_ns();
	deadline = start + ms * 1000000LL;
	while (st->iters < max_iters && iou_now_ns() < deadline) {
		/* Atomic: the faulters pace themselves on it. */
		__atomic_store_n(&st->iters, st->iters + 1, __ATOMIC_RELAXED);
		r = rand_r(&st->seed) % 1000;
		ri = rand_r(&st->seed) % ST_RINGS;
		if (r < 450) {
			st_submit_reads(_metadata, st, ri, 1 + rand_r(&st->seed) % 4);
		} else if (r < 600) {
			st_cancel(_metadata, st, ri);
		} else if (r < 602) {
			if (st_may_close(st, start, ms, max_iters)) {
				st_close_ring(_metadata, st, ri);
				st_new_ring(_metadata, st, ri, rand_r(&st->seed) & 1);
			}
		} else if (r < 610) {
			st_thread_submit(_metadata, st, ri);
		} else if (r < 700 && st->ring[ri].pending) {
			/* Sleep in the kernel a little: the writers complete reads meanwhile. */
			i = iou_wait_cqe(&st->ring[ri].ring, &cqe, 1);
			ASSERT_TRUE(!i || i == -ETIME) TH_LOG("wait: %s", strerror(-i));
		}
		for (i = 0; i < ST_RINGS; i++)
			st_reap(_metadata, st, i);
		st_poll_lost_uffd(_metadata, st);
	}

	ASSERT_EQ(0, st_stop_writers(st)) TH_LOG("a writer is stuck");
	for (i = 0; i < ST_WRITERS; i++) {
		ASSERT_EQ(0, st->w[i].err) TH_LOG("writer %d: %s", i, strerror(st->w[i].err));
		writes += st->w[i].writes;
	}
	for (i = 0; i < ST_RINGS; i++)
		st_finish_ring(_metadata, st, i);
	for (i = 0; i < ST_RINGS; i++)
		st_close_ring(_metadata, st, i);

	/* Every ring is gone once every page they pinned is released. */
	if (vm_pin0 >= 0)
		wait_vm_pin_back(_metadata, vm_pin0, UNPIN_MS);
	else
		iou_sleep_us(UNPIN_MS * 1000);
	st_rings_freed(_metadata, st);
	st_uffd_finish(_metadata, st);
	st_drain(_metadata, st);
	st_scan_lost(_metadata, st);

	TH_LOG("%llu iterations in %lld ms, %llu writes",
	       (unsigned long long)st->iters, (long long)((iou_now_ns() - start) / 1000000),
	       (unsigned long long)writes);
	TH_LOG("%llu reads: %llu with data, %llu cancelled, %llu in %llu closed rings (%llu data)",
	       (unsigned long long)st->submitted, (unsigned long long)st->with_data,
	       (unsigned long long)st->cancelled, (unsigned long long)st->lost,
	       (unsigned long long)st->closes - ST_RINGS,
	       (unsigned long long)st->lost_with_data);
	TH_LOG("%llu cancel requests, %llu sync cancels, %llu submitting threads exited",
	       (unsigned long long)st->cancel_reqs, (unsigned long long)st->sync_cancels,
	       (unsigned long long)st->thread_exits);
	if (st->inline_read)
		TH_LOG("inline: armed %llu, completed %llu, fallback %llu, cancelled %llu",
		       (unsigned long long)st->ctr.armed, (unsigned long long)st->ctr.completed,
		       (unsigned long long)st->ctr.fallback, (unsigned long long)st->ctr.cancelled);
	st_check_totals(_metadata, st);
	if (st->inline_read && st->iters >= 1000)
		ASSERT_LT(0ULL, st->ctr.completed) TH_LOG("no read completed inline");

	for (i = 0; i < st->nr_files; i++) {
		close(st->file[i].rfd);
		if (st->file[i].wfd != st->file[i].rfd)
			close(st->file[i].wfd);
	}
	for (i = 0; i < st->nr_gens; i++) {
		munmap(st->gen[i].mem, ST_SLOTS * ST_STRIDE);
		if (st->gen[i].dead_fd >= 0)
			close(st->gen[i].dead_fd);
	}
	if (st->uffd >= 0) {
		st->uffd = -1;		/* closed above */
		munmap(st->area, ST_UFFD_BYTES);
		free(st->src);
		free(st->seen);
	}
}

TEST_HARNESS_MAIN
