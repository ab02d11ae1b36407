/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers shared by the io_uring_cancel tests: ring wrappers that fail the
 * test through ASSERT_*(), the InlineRead* fdinfo counters, forked children,
 * userfaultfd set-up, small generic helpers, and the macros that
 * ring_variants.h declares a fixture's ring variants with.
 *
 * A file that uses check_fill() defines FILL, the byte its buffers are preset
 * to, before it calls check_fill().
 */
#ifndef __SELFTESTS_IO_URING_CANCEL_INLINE_TEST_H
#define __SELFTESTS_IO_URING_CANCEL_INLINE_TEST_H

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include <linux/userfaultfd.h>

#include "../kselftest_harness.h"
#include "io_uring_util.h"

#ifndef __NR_pidfd_open
#define __NR_pidfd_open		434
#endif
#ifndef __NR_pidfd_getfd
#define __NR_pidfd_getfd	438
#endif

/* How long a request must stay without a CQE to count as pending. */
#define PENDING_MS		50
/* How long a request that can complete may take (debug kernels under TCG are slow). */
#define COMPLETE_MS		5000
/*
 * How long closing a ring or exiting a task with reads pending may take, and
 * how long a ring's counters may take to settle after a completion.
 */
#define CLOSE_MS		2000

/* Generic helpers. */

static inline unsigned long env_ul(const char *name, unsigned long def)
{
	const char *s = getenv(name);

	return s && *s ? strtoul(s, NULL, 0) : def;
}

/* Busy-wait about @n iterations (the empty asm keeps the loop). */
static inline void spin(unsigned int n)
{
	unsigned int i;

	for (i = 0; i < n; i++)
		__asm__ __volatile__("" : : : "memory");
}

/* The "@key:" line of /proc/self/status, in kB, or -1 if there is none. */
static inline long status_kb(const char *key)
{
	size_t klen = strlen(key);
	char line[256];
	long kb = -1;
	FILE *f;

	f = fopen("/proc/self/status", "re");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, key, klen) || line[klen] != ':')
			continue;
		kb = strtol(line + klen + 1, NULL, 10);
		break;
	}
	fclose(f);
	return kb;
}

/* Check that every byte of @buf is still @c: nothing was written to it. */
static inline void check_filled(struct __test_metadata *_metadata, const char *buf, size_t len,
				char c)
{
	size_t i;

	for (i = 0; i < len; i++)
		ASSERT_EQ(c, buf[i]) TH_LOG("byte %zu was written to", i);
}

/* check_filled() with the including file's FILL byte. */
#define check_fill(_metadata, buf, len) check_filled(_metadata, buf, len, (char)FILL)

static inline void check_bytes(struct __test_metadata *_metadata, const char *got,
			       const char *want, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		unsigned char g = got[i], w = want[i];

		ASSERT_EQ(w, g) TH_LOG("byte %zu: got %#x, want %#x", i, g, w);
	}
}

/* Pipes. */

/* Number of bytes sitting in the pipe, unread. */
static inline int pipe_bytes(struct __test_metadata *_metadata, int fd)
{
	int n = -1;

	ASSERT_EQ(0, ioctl(fd, FIONREAD, &n)) TH_LOG("FIONREAD: %s", strerror(errno));
	return n;
}

/*
 * read(2) @len bytes with O_NONBLOCK set, so that missing data fails the test
 * instead of blocking it. Only used once no io_uring read is pending.
 */
static inline void read_nonblock(struct __test_metadata *_metadata, int fd, char *buf,
				 size_t len)
{
	int fl = fcntl(fd, F_GETFL);

	ASSERT_NE(-1, fl);
	ASSERT_EQ(0, fcntl(fd, F_SETFL, fl | O_NONBLOCK));
	ASSERT_EQ((ssize_t)len, read(fd, buf, len)) TH_LOG("read: %s", strerror(errno));
	ASSERT_EQ(0, fcntl(fd, F_SETFL, fl));
}

/* Forked children. */

/*
 * Wait up to @ms for child @pid to exit or, with WUNTRACED in @options, to
 * stop. Returns 0 and sets @status, -ETIME, or another negative errno.
 */
static inline int wait_child(pid_t pid, int *status, int options, unsigned int ms)
{
	__s64 deadline = iou_now_ns() + ms * 1000000LL;
	pid_t ret;

	for (;;) {
		ret = waitpid(pid, status, options | WNOHANG);
		if (ret == pid)
			return 0;
		if (ret < 0 && errno != EINTR)
			return -errno;
		if (iou_now_ns() > deadline)
			return -ETIME;
		iou_sleep_us(1000);
	}
}

/* SIGKILL (which also ends a stopped task) and reap a child, if any. */
static inline void kill_child(pid_t *pid)
{
	int status;

	if (*pid <= 0)
		return;
	kill(*pid, SIGKILL);
	wait_child(*pid, &status, 0, CLOSE_MS);
	*pid = -1;
}

static inline int sys_pidfd_open(pid_t pid)
{
	return syscall(__NR_pidfd_open, pid, 0);
}

/*
 * Map the ring @ring_fd of process @pid, set up with @p, into @ring through
 * pidfd_getfd(2): the stopped-reader proofs watch a stopped process's CQ.
 * Returns a pidfd of @pid.
 */
static inline int map_ring_of(struct __test_metadata *_metadata, pid_t pid, int ring_fd,
			      const struct io_uring_params *p, struct iou_ring *ring)
{
	int pidfd, fd, ret;

	pidfd = sys_pidfd_open(pid);
	ASSERT_LE(0, pidfd) TH_LOG("pidfd_open: %s", strerror(errno));
	fd = syscall(__NR_pidfd_getfd, pidfd, ring_fd, 0);
	ASSERT_LE(0, fd) TH_LOG("pidfd_getfd: %s", strerror(errno));
	ret = iou_map_ring(ring, fd, p);
	ASSERT_EQ(0, ret) TH_LOG("mapping the ring of process %d: %s", pid, strerror(-ret));
	return pidfd;
}

/* In a child: become the submitter of a ring created with IORING_SETUP_R_DISABLED. */
static inline int child_take_ring(struct iou_ring *ring)
{
	if (prctl(PR_SET_PDEATHSIG, SIGKILL))
		return -1;
	if ((ring->flags & IORING_SETUP_R_DISABLED) && iou_enable_rings(ring))
		return -1;
	return 0;
}

/* Rings. */

static inline struct io_uring_sqe *get_sqe(struct __test_metadata *_metadata,
					   struct iou_ring *ring)
{
	struct io_uring_sqe *sqe = iou_get_sqe(ring);

	ASSERT_NE(NULL, sqe) TH_LOG("SQ full");
	return sqe;
}

static inline void submit_n(struct __test_metadata *_metadata, struct iou_ring *ring, int n)
{
	int ret = iou_submit(ring);

	ASSERT_EQ(n, ret) TH_LOG("submit: %s", ret < 0 ? strerror(-ret) : "short");
}

/*
 * Give the ring @ms to produce a CQE (entering the kernel, so pending
 * task_work runs), then check that it did not. Only for the ring's submitter.
 */
static inline void assert_no_cqe_for(struct __test_metadata *_metadata, struct iou_ring *ring,
				     unsigned int ms)
{
	struct io_uring_cqe *cqe;
	int ret;

	ret = iou_wait_cqe(ring, &cqe, ms);
	ASSERT_EQ(-ETIME, ret) {
		if (!ret)
			TH_LOG("unexpected CQE: user_data %#llx res %d",
			       (unsigned long long)cqe->user_data, cqe->res);
		else
			TH_LOG("wait: %s", strerror(-ret));
	}
	ASSERT_EQ(0U, iou_cq_ready(ring));
}

/* assert_no_cqe_for() PENDING_MS. */
static inline void assert_no_cqe(struct __test_metadata *_metadata, struct iou_ring *ring)
{
	assert_no_cqe_for(_metadata, ring, PENDING_MS);
}

/*
 * Watch the shared CQ ring for @ms without entering the kernel (for an
 * observer that is not the submitter) and check that no CQE appears.
 */
static inline void assert_no_cqe_mem(struct __test_metadata *_metadata, struct iou_ring *ring,
				     unsigned int ms)
{
	struct io_uring_cqe *cqe;
	int ret;

	ret = iou_poll_cqe(ring, &cqe, ms);
	ASSERT_EQ(-ETIME, ret) {
		if (!ret)
			TH_LOG("unexpected CQE: user_data %#llx res %d",
			       (unsigned long long)cqe->user_data, cqe->res);
	}
}

/* Wait up to @ms, without entering the kernel, for @nr CQEs in the shared ring. */
static inline unsigned int wait_cq_ready(struct iou_ring *ring, unsigned int nr,
					 unsigned int ms)
{
	__s64 deadline = iou_now_ns() + ms * 1000000LL;

	while (iou_cq_ready(ring) < nr && iou_now_ns() < deadline)
		iou_sleep_us(1000);
	return iou_cq_ready(ring);
}

/* Wait up to COMPLETE_MS for the next CQE, copy it to @out and consume it. */
static inline void reap_cqe(struct __test_metadata *_metadata, struct iou_ring *ring,
			    struct io_uring_cqe *out)
{
	struct io_uring_cqe *cqe;
	int ret;

	ret = iou_wait_cqe(ring, &cqe, COMPLETE_MS);
	ASSERT_EQ(0, ret) TH_LOG("no CQE within %d ms: %s", COMPLETE_MS, strerror(-ret));
	*out = *cqe;
	iou_cqe_seen(ring);
}

static inline void reap_n(struct __test_metadata *_metadata, struct iou_ring *ring,
			  struct io_uring_cqe *out, int n)
{
	int i;

	for (i = 0; i < n; i++)
		reap_cqe(_metadata, ring, &out[i]);
}

/* The result of the one CQE among @cqes with user_data @ud. */
static inline int cqe_res(struct __test_metadata *_metadata, const struct io_uring_cqe *cqes,
			  int n, __u64 ud)
{
	int i, found = -1;

	for (i = 0; i < n; i++) {
		if (cqes[i].user_data != ud)
			continue;
		ASSERT_EQ(-1, found) TH_LOG("two CQEs for user_data %#llx", (unsigned long long)ud);
		found = i;
	}
	ASSERT_NE(-1, found) TH_LOG("no CQE for user_data %#llx", (unsigned long long)ud);
	return cqes[found].res;
}

/* The kernel advertises IORING_FEAT_INLINE_READ. */
static inline bool inline_read_supported(void)
{
	struct iou_ring ring;
	bool ok;

	if (iou_setup(&ring, 2, 0))
		return false;
	ok = ring.features & IORING_FEAT_INLINE_READ;
	iou_exit(&ring);
	return ok;
}

/*
 * FIXTURE_VARIANT() and FIXTURE_VARIANT_ADD() of a fixture named by a macro
 * (INL_VARIANTS_OF in ring_variants.h): these expand it, the harness's own
 * paste it as it stands.
 */
#define INL_FIXTURE_VARIANT(fixture) FIXTURE_VARIANT(fixture)
#define INL_FIXTURE_VARIANT_ADD(fixture, variant) FIXTURE_VARIANT_ADD(fixture, variant)

/* fdinfo counters of a ring. */

struct inl_counters {
	uint64_t armed;		/* reads that waited inline */
	uint64_t completed;	/* completed in a writer's context */
	uint64_t fallback;	/* handed back to the stock path */
	uint64_t cancelled;
	uint64_t pinned;	/* bytes (whole pages) pinned for pending reads */
};

/*
 * Snapshot the counters. A ring with IORING_SETUP_INLINE_READ must show them.
 * ASSUMES: on a ring without the flag the lines are either absent or all 0
 * (such a ring never takes the inline path).
 */
static inline void get_counters(struct __test_metadata *_metadata, int ring_fd,
				bool inline_ring, struct inl_counters *c)
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
		if (ret == -ENOENT && !inline_ring) {
			*vals[i] = 0;
			continue;
		}
		ASSERT_EQ(0, ret) TH_LOG("fdinfo %s: %s", keys[i], strerror(-ret));
		if (!inline_ring)
			ASSERT_EQ(0ULL, (unsigned long long)*vals[i])
				TH_LOG("%s moved on a ring without the flag", keys[i]);
	}
}

/*
 * Wait up to CLOSE_MS for InlineReadPinned to drop to @want: the request is
 * freed (and its pages unpinned) in a sleepable context, possibly a kworker,
 * a little after its CQE is posted.
 */
static inline void wait_pinned(struct __test_metadata *_metadata, int ring_fd,
			       bool inline_ring, uint64_t want)
{
	__s64 deadline = iou_now_ns() + CLOSE_MS * 1000000LL;
	struct inl_counters c;

	for (;;) {
		get_counters(_metadata, ring_fd, inline_ring, &c);
		if (c.pinned == want || iou_now_ns() > deadline)
			break;
		iou_sleep_us(1000);
	}
	ASSERT_EQ((unsigned long long)want, (unsigned long long)c.pinned)
		TH_LOG("InlineReadPinned did not return to %llu", (unsigned long long)want);
}

/*
 * ASSUMES: every read that armed inline ends exactly once, as completed in a
 * writer's context, handed back to the stock path, or cancelled. Call once
 * nothing is pending any more.
 */
static inline void check_balance(struct __test_metadata *_metadata,
				 const struct inl_counters *before,
				 const struct inl_counters *after)
{
	uint64_t armed = after->armed - before->armed;
	uint64_t ended = (after->completed - before->completed) +
			 (after->fallback - before->fallback) +
			 (after->cancelled - before->cancelled);

	ASSERT_EQ((unsigned long long)armed, (unsigned long long)ended)
		TH_LOG("armed %llu, completed %llu, fallback %llu, cancelled %llu",
		       (unsigned long long)armed,
		       (unsigned long long)(after->completed - before->completed),
		       (unsigned long long)(after->fallback - before->fallback),
		       (unsigned long long)(after->cancelled - before->cancelled));
}

/* Userfaultfds. */

/* A new userfaultfd (UFFDIO_API not done yet), or a negative errno. */
static inline int uffd_new(int flags)
{
	long fd = syscall(__NR_userfaultfd, flags);

	return fd < 0 ? -errno : (int)fd;
}

/*
 * UFFDIO_API for @features. Returns 0 or a negative errno: -EINVAL or -EPERM
 * for features the kernel (or the caller's privileges) do not allow.
 */
static inline int uffd_api(int uffd, __u64 features)
{
	struct uffdio_api api;

	memset(&api, 0, sizeof(api));
	api.api = UFFD_API;
	api.features = features;
	return ioctl(uffd, UFFDIO_API, &api) ? -errno : 0;
}

/*
 * Register [@addr, @addr + @len) with @uffd in @mode (UFFDIO_REGISTER_MODE_*).
 * Returns 0 and sets *@ioctls to the ioctls the range allows, or a negative
 * errno (-EINVAL: the kernel does not support @mode for the range).
 */
static inline int uffd_register_mode(int uffd, void *addr, size_t len, __u64 mode, __u64 *ioctls)
{
	struct uffdio_register reg;

	memset(&reg, 0, sizeof(reg));
	reg.range.start = (uintptr_t)addr;
	reg.range.len = len;
	reg.mode = mode;
	if (ioctl(uffd, UFFDIO_REGISTER, &reg))
		return -errno;
	*ioctls = reg.ioctls;
	return 0;
}

/* Register [@addr, @addr + @len) with @uffd for missing-page faults. */
static inline int uffd_register(int uffd, void *addr, size_t len)
{
	__u64 ioctls = 0;
	int ret;

	ret = uffd_register_mode(uffd, addr, len, UFFDIO_REGISTER_MODE_MISSING, &ioctls);
	if (ret)
		return ret;
	return (ioctls & (1ULL << _UFFDIO_COPY)) ? 0 : -EOPNOTSUPP;
}

/*
 * Resolve the missing page at @dst with a copy of @src (in the caller's mm),
 * waking the threads faulting on it. Returns 0 or a negative errno (-EEXIST:
 * the page was already resolved). Retries -EAGAIN (the mm is changing).
 */
static inline int uffd_copy(int uffd, void *dst, const void *src, size_t len)
{
	struct uffdio_copy c;
	int tries;

	for (tries = 0; tries < 1000; tries++) {
		memset(&c, 0, sizeof(c));
		c.dst = (uintptr_t)dst;
		c.src = (uintptr_t)src;
		c.len = len;
		if (!ioctl(uffd, UFFDIO_COPY, &c))
			return c.copy == (__s64)len ? 0 : -EIO;
		if (errno != EAGAIN)
			return -errno;
		iou_sleep_us(1000);
	}
	return -EAGAIN;
}

#endif /* __SELFTESTS_IO_URING_CANCEL_INLINE_TEST_H */
