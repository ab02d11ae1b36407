// SPDX-License-Identifier: GPL-2.0
/*
 * io_uring reads on pipes completed in the writer's context
 * (IORING_SETUP_INLINE_READ).
 *
 * On a ring created with IORING_SETUP_INLINE_READ, a READ, READV or
 * READ_FIXED of an empty pipe waits inline: the writer's write(2) consumes
 * the data, copies it into the reader's buffer and (on every ring type but
 * DEFER_TASKRUN) posts the CQE before it returns, even when the reader is
 * stopped. Without the flag the kernel behaves exactly as stock: the wake-up
 * queues task_work to the submitter, which retries the read in its own
 * context.
 *
 * Fixtures:
 *  - stopped: the proof. A forked reader arms a read and stops itself with
 *    SIGSTOP; the parent writes and inspects the shared CQ ring and buffer.
 *    Runs on rings with and without the flag.
 *  - inl: semantics (short reads, FIFO order, EOF, every cancel selector,
 *    ring close and task exit, pinned pages, races, stock-path cases, bad
 *    input) on plain and DEFER_TASKRUN rings, with and without the flag.
 *    The variants without the flag run on any kernel and must behave as
 *    stock (and show no inline counter other than 0).
 *
 * The two race tests run for at most RACE_MS each; $IOU_RACE_MS,
 * $IOU_RACE_ITERS and $IOU_SEED (logged) override the bounds and the seed.
 *
 * Tests of the feature SKIP when the kernel does not report
 * IORING_FEAT_INLINE_READ. Every wait is bounded, so a broken kernel fails a
 * test instead of hanging the run; only a task stuck in an uninterruptible
 * sleep inside a system call cannot be bounded, so the case most likely to
 * self-deadlock (the ring's own write completing its read) runs in a child.
 *
 * The per-ring counters are read from the ring's fdinfo:
 * InlineReadArmed, InlineReadCompleted, InlineReadFallback,
 * InlineReadCancelled and InlineReadPinned. Assumptions about semantics the
 * series does not spell out are marked "ASSUMES:".
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/uio.h>
#include <sys/wait.h>

#include "../kselftest_harness.h"
#include "inline_test.h"

#ifndef RWF_NOWAIT
#define RWF_NOWAIT		0x00000008
#endif

#define RING_ENTRIES		16
/* How long a stopped reader is watched for a CQE that must not appear. */
#define STOPPED_MS		200

#define FILL			0xaa
/* Per-read slot in the inl fixture's buffer. */
#define SLOT			64
#define BUF_PAGES		4

#define UD_READ			0x1000ULL
#define UD_CANCEL		0x2000ULL
#define UD_WRITE		0x3000ULL
#define UD_TIMEOUT		0x4000ULL
#define UD_PROVIDE		0x5000ULL
#define UD_NOP			0x6000ULL

/* Exit codes of forked helpers: nothing in a child may use ASSERT_*(). */
enum {
	CHILD_OK,
	CHILD_SETUP = 10,	/* prctl(), enabling the ring or registering failed */
	CHILD_SUBMIT,		/* io_uring_enter() did not submit the request */
	CHILD_EARLY_CQE,	/* a CQE appeared before any data was written */
	CHILD_NO_CQE,		/* the expected CQE(s) did not appear in time */
	CHILD_BAD_CQE,		/* a CQE with the wrong result */
	CHILD_BAD_DATA,		/* the buffer does not hold what was written */
	CHILD_WRITE,		/* write(2) failed */
};

static const char *child_error(int code)
{
	switch (code) {
	case CHILD_OK:
		return "ok";
	case CHILD_SETUP:
		return "setting up (prctl, enable, register) failed";
	case CHILD_SUBMIT:
		return "submission failed";
	case CHILD_EARLY_CQE:
		return "CQE before any data was written";
	case CHILD_NO_CQE:
		return "no CQE in time";
	case CHILD_BAD_CQE:
		return "CQE with the wrong result";
	case CHILD_BAD_DATA:
		return "buffer does not hold the data written";
	case CHILD_WRITE:
		return "write failed";
	}
	return "unknown exit code";
}

/* Generic helpers. */

static void fill_pattern(char *buf, size_t len, int seed)
{
	size_t i;

	for (i = 0; i < len; i++)
		buf[i] = (char)(seed + i);
}

/* Write a recognisable pattern of @len bytes to @fd in one write(2). */
static void write_pattern(struct __test_metadata *_metadata, int fd, size_t len, int seed)
{
	char buf[4096];

	ASSERT_LE(len, sizeof(buf));
	fill_pattern(buf, len, seed);
	ASSERT_EQ((ssize_t)len, write(fd, buf, len)) TH_LOG("write: %s", strerror(errno));
}

static void check_pattern(struct __test_metadata *_metadata, const char *buf, size_t len,
			  int seed)
{
	size_t i;

	for (i = 0; i < len; i++)
		ASSERT_EQ((char)(seed + i), buf[i]) TH_LOG("byte %zu differs", i);
}

/* Wait for child *@pid to exit with status 0. */
static void join_child(struct __test_metadata *_metadata, pid_t *pid, unsigned int ms)
{
	int status, ret;

	ret = wait_child(*pid, &status, 0, ms);
	ASSERT_EQ(0, ret) TH_LOG("child %d did not exit within %u ms", *pid, ms);
	*pid = -1;
	ASSERT_TRUE(WIFEXITED(status)) TH_LOG("child killed by signal %d", WTERMSIG(status));
	ASSERT_EQ(CHILD_OK, WEXITSTATUS(status)) TH_LOG("child: %s",
							child_error(WEXITSTATUS(status)));
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
		_exit(write(fd, data, len) == (ssize_t)len ? CHILD_OK : CHILD_WRITE);
	}
	return pid;
}

/* fdinfo counters. */

/*
 * Stopped-reader proof.
 *
 * The parent creates the ring and a MAP_SHARED buffer, then forks the reader.
 * The reader submits the read itself and stops with SIGSTOP. The submitter
 * matters: io_uring's stock path retries the read in task_work queued to the
 * task that submitted it (req->tctx), and on SINGLE_ISSUER/DEFER_TASKRUN
 * rings only the submitter may submit and run completions. Had the parent
 * submitted, the stock path would retry the read in the parent, on the
 * return from the very write(2) that made the data available, and the test
 * would prove nothing. So the child submits (on SINGLE_ISSUER rings it first
 * enables the R_DISABLED ring, which makes it the submitter) and the parent
 * only writes the pipe and reads the ring memory (CQ head/tail and CQEs are
 * in a MAP_SHARED mapping inherited across fork(), and so is the buffer);
 * the parent never calls io_uring_enter() on the ring.
 *
 * On an SQPOLL ring the SQ thread submits and runs the stock task_work: it
 * belongs to the parent and is not stopped, so the stock path posts the CQE
 * while the reader is stopped too; there is no stock SQPOLL variant.
 */

enum read_kind {
	KIND_READ,
	KIND_READV,
	KIND_READ_FIXED,
	KIND_STRADDLE,
};

struct read_plan {
	enum read_kind kind;
	struct iovec dst[2];	/* where the reader's buffer(s) are */
	int nr_dst;
	struct iovec fixed;	/* the registered buffer, for READ_FIXED */
	size_t wlen;		/* bytes the writer writes */
};

FIXTURE(stopped) {
	struct iou_ring ring;
	int rfd;
	int wfd;
	pid_t child;
	size_t page;
	char *region;		/* MAP_SHARED: the reader's buffers, seen by both */
	size_t region_len;
	char *expect;		/* what the region must hold once the read is done */
};

#define INL_VARIANTS_OF stopped
#include "ring_variants.h"

FIXTURE_SETUP(stopped)
{
	unsigned int flags = variant->setup_flags;
	int fds[2];
	int ret;

	self->ring.fd = -1;
	self->rfd = -1;
	self->wfd = -1;
	self->child = -1;
	self->region = MAP_FAILED;
	self->expect = NULL;

	if (variant->inline_read && !inline_read_supported())
		SKIP(return, "kernel lacks IORING_FEAT_INLINE_READ");

	self->page = sysconf(_SC_PAGESIZE);
	self->region_len = 3 * self->page;
	self->region = mmap(NULL, self->region_len, PROT_READ | PROT_WRITE,
			    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, self->region);
	self->expect = malloc(self->region_len);
	ASSERT_NE(NULL, self->expect);

	if (variant->inline_read)
		flags |= IORING_SETUP_INLINE_READ;
	/* The child becomes the submitter when it enables the ring. */
	if (flags & IORING_SETUP_SINGLE_ISSUER)
		flags |= IORING_SETUP_R_DISABLED;
	ret = iou_setup(&self->ring, RING_ENTRIES, flags);
	ASSERT_EQ(0, ret) TH_LOG("io_uring_setup(%#x): %s", flags, strerror(-ret));
	if (!(self->ring.features & IORING_FEAT_EXT_ARG))
		SKIP(return, "no IORING_FEAT_EXT_ARG: waits cannot be bounded");

	ASSERT_EQ(0, pipe(fds));
	self->rfd = fds[0];
	self->wfd = fds[1];
}

FIXTURE_TEARDOWN(stopped)
{
	kill_child(&self->child);
	iou_exit(&self->ring);
	if (self->rfd >= 0)
		close(self->rfd);
	if (self->wfd >= 0)
		close(self->wfd);
	if (self->region != MAP_FAILED)
		munmap(self->region, self->region_len);
	free(self->expect);
}

/* Lay out the reader's buffer(s) in the shared region for @kind. */
static void make_plan(struct _test_data_stopped *self, enum read_kind kind, struct read_plan *pl)
{
	memset(pl, 0, sizeof(*pl));
	pl->kind = kind;
	pl->nr_dst = 1;
	switch (kind) {
	case KIND_READ:
		pl->dst[0] = (struct iovec){ self->region, 256 };
		pl->wlen = 100;
		break;
	case KIND_READV:
		/* Two 16-byte iovecs with a gap: 24 bytes fill one and half the other. */
		pl->dst[0] = (struct iovec){ self->region, 16 };
		pl->dst[1] = (struct iovec){ self->region + 64, 16 };
		pl->nr_dst = 2;
		pl->wlen = 24;
		break;
	case KIND_READ_FIXED:
		/* At an offset into a registered buffer covering the region. */
		pl->fixed = (struct iovec){ self->region, self->region_len };
		pl->dst[0] = (struct iovec){ self->region + 100, 64 };
		pl->wlen = 40;
		break;
	case KIND_STRADDLE:
		/* 50 bytes at the end of page 0, 50 at the start of page 1. */
		pl->dst[0] = (struct iovec){ self->region + self->page - 50, 100 };
		pl->wlen = 100;
		break;
	}
}

/* What the region holds once @pl's read got @pl->wlen bytes of pattern @seed. */
static void plan_expect(struct _test_data_stopped *self, const struct read_plan *pl, int seed)
{
	size_t left = pl->wlen, off = 0, n;
	int i;

	memset(self->expect, FILL, self->region_len);
	for (i = 0; i < pl->nr_dst && left; i++) {
		n = pl->dst[i].iov_len < left ? pl->dst[i].iov_len : left;
		fill_pattern(self->expect + ((char *)pl->dst[i].iov_base - self->region), n,
			     seed + off);
		off += n;
		left -= n;
	}
}

/* The reader: submit the read, stop, and once continued reap (not consume) its CQE. */
static __noreturn void stopped_reader(struct iou_ring *ring, int rfd, const struct read_plan *pl)
{
	struct io_uring_cqe *cqe;
	struct io_uring_sqe *sqe;

	if (prctl(PR_SET_PDEATHSIG, SIGKILL))
		_exit(CHILD_SETUP);
	if ((ring->flags & IORING_SETUP_R_DISABLED) && iou_enable_rings(ring))
		_exit(CHILD_SETUP);
	if (pl->kind == KIND_READ_FIXED && iou_register_buffers(ring, &pl->fixed, 1))
		_exit(CHILD_SETUP);

	sqe = iou_get_sqe(ring);
	if (!sqe)
		_exit(CHILD_SUBMIT);
	switch (pl->kind) {
	case KIND_READ:
	case KIND_STRADDLE:
		iou_prep_read(sqe, rfd, pl->dst[0].iov_base, pl->dst[0].iov_len, IOU_POS_CUR,
			      UD_READ);
		break;
	case KIND_READV:
		iou_prep_readv(sqe, rfd, pl->dst, pl->nr_dst, IOU_POS_CUR, UD_READ);
		break;
	case KIND_READ_FIXED:
		iou_prep_read_fixed(sqe, rfd, pl->dst[0].iov_base, pl->dst[0].iov_len,
				    IOU_POS_CUR, 0, UD_READ);
		break;
	}
	/* On return the read has been issued and found the pipe empty. */
	if (iou_submit(ring) != 1)
		_exit(CHILD_SUBMIT);
	if (iou_cq_ready(ring))
		_exit(CHILD_EARLY_CQE);

	raise(SIGSTOP);

	/* Continued: entering the kernel runs task_work and DEFER_TASKRUN local work. */
	if (iou_wait_cqe(ring, &cqe, COMPLETE_MS))
		_exit(CHILD_NO_CQE);
	_exit(CHILD_OK);
}

static void stopped_proof(struct __test_metadata *_metadata, struct _test_data_stopped *self,
			  const FIXTURE_VARIANT(stopped) *variant, enum read_kind kind)
{
	bool defer = variant->setup_flags & IORING_SETUP_DEFER_TASKRUN;
	bool inl = variant->inline_read;
	struct inl_counters c0, c1, c2;
	struct io_uring_cqe *cqe;
	struct read_plan pl;
	const int seed = 11;
	char data[256];
	int status, ret;

	memset(self->region, FILL, self->region_len);
	make_plan(self, kind, &pl);
	plan_expect(self, &pl, seed);
	fill_pattern(data, pl.wlen, seed);
	get_counters(_metadata, self->ring.fd, inl, &c0);

	self->child = fork();
	ASSERT_NE(-1, self->child) TH_LOG("fork: %s", strerror(errno));
	if (!self->child)
		stopped_reader(&self->ring, self->rfd, &pl);

	ret = wait_child(self->child, &status, WUNTRACED, COMPLETE_MS);
	ASSERT_EQ(0, ret) TH_LOG("the reader did not stop within %d ms", COMPLETE_MS);
	if (WIFEXITED(status))
		self->child = -1;
	ASSERT_TRUE(WIFSTOPPED(status)) TH_LOG("the reader ended early: %s",
					       WIFEXITED(status) ?
					       child_error(WEXITSTATUS(status)) : "signal");

	/* The read is pending: no CQE, nothing in the buffer. */
	ASSERT_EQ(0U, iou_cq_ready(&self->ring));
	check_fill(_metadata, self->region, self->region_len);
	get_counters(_metadata, self->ring.fd, inl, &c1);
	if (inl) {
		/* ASSUMES: InlineReadArmed counts a read when it starts to wait inline. */
		ASSERT_EQ((unsigned long long)c0.armed + 1, (unsigned long long)c1.armed)
			TH_LOG("the read did not arm inline");
		if (kind != KIND_READ_FIXED)
			ASSERT_LT((unsigned long long)c0.pinned, (unsigned long long)c1.pinned)
				TH_LOG("no reader memory pinned for a pending read");
	}

	/* The reader is stopped: from here on only this write can complete the read. */
	ASSERT_EQ((ssize_t)pl.wlen, write(self->wfd, data, pl.wlen))
		TH_LOG("write: %s", strerror(errno));

	if (inl) {
		/* The data is in the reader's buffer when write() returns... */
		check_bytes(_metadata, self->region, self->expect, self->region_len);
		ASSERT_EQ(0, pipe_bytes(_metadata, self->rfd));
		get_counters(_metadata, self->ring.fd, inl, &c2);
		/*
		 * ASSUMES: on DEFER_TASKRUN rings InlineReadCompleted counts the
		 * read when the writer consumed the data, not when the reader
		 * posts the CQE.
		 */
		ASSERT_EQ((unsigned long long)c1.completed + 1, (unsigned long long)c2.completed)
			TH_LOG("InlineReadCompleted did not move");
		if (!defer) {
			/* ...and so is the CQE, posted by the writer. */
			ASSERT_EQ(1U, iou_cq_ready(&self->ring))
				TH_LOG("no CQE in the CQ ring when write() returned");
			ASSERT_EQ(0, iou_peek_cqe(&self->ring, &cqe));
			ASSERT_EQ(UD_READ, cqe->user_data);
			ASSERT_EQ((int)pl.wlen, cqe->res) TH_LOG("read res %d", cqe->res);
		} else {
			/* Only the submitter fills a DEFER_TASKRUN ring's CQ. */
			assert_no_cqe_mem(_metadata, &self->ring, STOPPED_MS);
		}
	} else {
		/* Stock: the retry is task_work of the stopped reader; nothing moves. */
		assert_no_cqe_mem(_metadata, &self->ring, STOPPED_MS);
		check_fill(_metadata, self->region, self->region_len);
		ASSERT_EQ((int)pl.wlen, pipe_bytes(_metadata, self->rfd))
			TH_LOG("data left the pipe while the reader was stopped");
	}

	ASSERT_EQ(0, kill(self->child, SIGCONT));
	join_child(_metadata, &self->child, COMPLETE_MS);

	/* The reader ran: on every ring type the CQE and the data are there now. */
	ASSERT_EQ(1U, iou_cq_ready(&self->ring));
	ASSERT_EQ(0, iou_peek_cqe(&self->ring, &cqe));
	ASSERT_EQ(UD_READ, cqe->user_data);
	ASSERT_EQ((int)pl.wlen, cqe->res) TH_LOG("read res %d", cqe->res);
	iou_cqe_seen(&self->ring);
	check_bytes(_metadata, self->region, self->expect, self->region_len);
	ASSERT_EQ(0, pipe_bytes(_metadata, self->rfd));

	wait_pinned(_metadata, self->ring.fd, inl, c0.pinned);
	get_counters(_metadata, self->ring.fd, inl, &c2);
	if (inl) {
		ASSERT_EQ((unsigned long long)c0.completed + 1, (unsigned long long)c2.completed);
		check_balance(_metadata, &c0, &c2);
	}
}

/* IORING_OP_READ into a plain buffer. */
TEST_F(stopped, read)
{
	stopped_proof(_metadata, self, variant, KIND_READ);
}

/* IORING_OP_READV into two iovecs with a gap between them. */
TEST_F(stopped, readv)
{
	stopped_proof(_metadata, self, variant, KIND_READV);
}

/* IORING_OP_READ_FIXED at an offset into a registered buffer. */
TEST_F(stopped, read_fixed)
{
	stopped_proof(_metadata, self, variant, KIND_READ_FIXED);
}

/* IORING_OP_READ into a buffer straddling a page boundary: both pages get their bytes. */
TEST_F(stopped, read_straddling_pages)
{
	stopped_proof(_metadata, self, variant, KIND_STRADDLE);
}

/*
 * Semantics, in one process (or with a forked helper where a test says so),
 * on plain and DEFER_TASKRUN rings, with and without IORING_SETUP_INLINE_READ.
 */

FIXTURE(inl) {
	struct iou_ring ring;
	int rfd;
	int wfd;
	pid_t child;
	size_t page;
	char *buf;		/* BUF_PAGES private anonymous pages */
	size_t buf_len;
};

#define INL_VARIANTS_OF inl
#define INL_VARIANTS_PLAIN_DEFER
#include "ring_variants.h"

static unsigned int inl_flags(const FIXTURE_VARIANT(inl) *variant)
{
	return variant->setup_flags | (variant->inline_read ? IORING_SETUP_INLINE_READ : 0);
}

FIXTURE_SETUP(inl)
{
	unsigned int flags = inl_flags(variant);
	int fds[2];
	int ret;

	self->ring.fd = -1;
	self->rfd = -1;
	self->wfd = -1;
	self->child = -1;
	self->buf = MAP_FAILED;

	if (variant->inline_read && !inline_read_supported())
		SKIP(return, "kernel lacks IORING_FEAT_INLINE_READ");

	self->page = sysconf(_SC_PAGESIZE);
	self->buf_len = BUF_PAGES * self->page;
	self->buf = mmap(NULL, self->buf_len, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, self->buf);
	memset(self->buf, FILL, self->buf_len);

	ret = iou_setup(&self->ring, RING_ENTRIES, flags);
	ASSERT_EQ(0, ret) TH_LOG("io_uring_setup(%#x): %s", flags, strerror(-ret));
	if (!(self->ring.features & IORING_FEAT_EXT_ARG))
		SKIP(return, "no IORING_FEAT_EXT_ARG: waits cannot be bounded");

	ASSERT_EQ(0, pipe(fds));
	self->rfd = fds[0];
	self->wfd = fds[1];
}

FIXTURE_TEARDOWN(inl)
{
	kill_child(&self->child);
	iou_exit(&self->ring);
	if (self->rfd >= 0)
		close(self->rfd);
	if (self->wfd >= 0)
		close(self->wfd);
	if (self->buf != MAP_FAILED)
		munmap(self->buf, self->buf_len);
}

static void counters(struct __test_metadata *_metadata, struct _test_data_inl *self,
		     const FIXTURE_VARIANT(inl) *variant, struct inl_counters *c)
{
	get_counters(_metadata, self->ring.fd, variant->inline_read, c);
}

/*
 * Re-create the ring for a test whose requests a forked child submits: a
 * SINGLE_ISSUER ring is created disabled, and the child that enables it
 * becomes its submitter. The parent must then not enter the ring.
 */
static void ring_for_child(struct __test_metadata *_metadata, struct _test_data_inl *self,
			   const FIXTURE_VARIANT(inl) *variant)
{
	unsigned int flags = inl_flags(variant);
	int ret;

	if (!(flags & IORING_SETUP_SINGLE_ISSUER))
		return;
	iou_exit(&self->ring);
	ret = iou_setup(&self->ring, RING_ENTRIES, flags | IORING_SETUP_R_DISABLED);
	ASSERT_EQ(0, ret) TH_LOG("io_uring_setup(%#x): %s", flags, strerror(-ret));
}

/* In a child: queue a read (no ASSERT_*() there). Returns the SQE or exits. */
static struct io_uring_sqe *child_queue_read(struct iou_ring *ring, int fd, void *buf,
					     __u32 len, __u64 ud)
{
	struct io_uring_sqe *sqe = iou_get_sqe(ring);

	if (!sqe)
		_exit(CHILD_SUBMIT);
	iou_prep_read(sqe, fd, buf, len, IOU_POS_CUR, ud);
	return sqe;
}

/* Queue (not submit) a read of up to SLOT bytes into slot @slot of the buffer. */
static struct io_uring_sqe *queue_read(struct __test_metadata *_metadata,
				       struct _test_data_inl *self, int slot, __u64 ud)
{
	struct io_uring_sqe *sqe = get_sqe(_metadata, &self->ring);

	iou_prep_read(sqe, self->rfd, self->buf + slot * SLOT, SLOT, IOU_POS_CUR, ud);
	return sqe;
}

/* Submit @nr reads of the empty pipe (user_data UD_READ + i, or UD_READ) and check they wait. */
static void pending_reads(struct __test_metadata *_metadata, struct _test_data_inl *self,
			  const FIXTURE_VARIANT(inl) *variant, int nr, bool same_ud,
			  const struct inl_counters *c0)
{
	struct inl_counters c;
	int i;

	for (i = 0; i < nr; i++)
		queue_read(_metadata, self, i, same_ud ? UD_READ : UD_READ + i);
	submit_n(_metadata, &self->ring, nr);
	assert_no_cqe(_metadata, &self->ring);
	counters(_metadata, self, variant, &c);
	if (variant->inline_read) {
		ASSERT_EQ((unsigned long long)c0->armed + nr, (unsigned long long)c.armed)
			TH_LOG("not every read armed inline");
		ASSERT_LT((unsigned long long)c0->pinned, (unsigned long long)c.pinned);
	}
}

/*
 * After cancelling @nr inline reads: the counters moved, nothing is pinned,
 * no CQE is left, and the reads consumed nothing: data written now stays in
 * the pipe for read(2) and the buffer is untouched.
 */
static void check_cancelled(struct __test_metadata *_metadata, struct _test_data_inl *self,
			    const FIXTURE_VARIANT(inl) *variant, int nr,
			    const struct inl_counters *c0)
{
	struct inl_counters c;
	char out[64];

	assert_no_cqe(_metadata, &self->ring);
	wait_pinned(_metadata, self->ring.fd, variant->inline_read, c0->pinned);
	counters(_metadata, self, variant, &c);
	if (variant->inline_read) {
		/* ASSUMES: InlineReadCancelled counts each cancelled inline read. */
		ASSERT_EQ((unsigned long long)c0->cancelled + nr, (unsigned long long)c.cancelled);
		ASSERT_EQ((unsigned long long)c0->completed, (unsigned long long)c.completed);
		check_balance(_metadata, c0, &c);
	}

	write_pattern(_metadata, self->wfd, sizeof(out), 21);
	assert_no_cqe(_metadata, &self->ring);
	ASSERT_EQ((int)sizeof(out), pipe_bytes(_metadata, self->rfd))
		TH_LOG("a cancelled read took data");
	read_nonblock(_metadata, self->rfd, out, sizeof(out));
	check_pattern(_metadata, out, sizeof(out), 21);
	check_fill(_metadata, self->buf, self->buf_len);
}

/* Short read: asking for 4096 bytes when 10 are written completes with 10. */
TEST_F(inl, short_read)
{
	struct inl_counters c0, c1;
	struct io_uring_cqe cqe;

	counters(_metadata, self, variant, &c0);
	iou_prep_read(get_sqe(_metadata, &self->ring), self->rfd, self->buf, 4096, IOU_POS_CUR,
		      UD_READ);
	submit_n(_metadata, &self->ring, 1);
	assert_no_cqe(_metadata, &self->ring);

	write_pattern(_metadata, self->wfd, 10, 1);
	reap_cqe(_metadata, &self->ring, &cqe);
	ASSERT_EQ(UD_READ, cqe.user_data);
	ASSERT_EQ(10, cqe.res) TH_LOG("read res %d", cqe.res);
	check_pattern(_metadata, self->buf, 10, 1);
	check_fill(_metadata, self->buf + 10, self->buf_len - 10);
	ASSERT_EQ(0, pipe_bytes(_metadata, self->rfd));

	wait_pinned(_metadata, self->ring.fd, variant->inline_read, c0.pinned);
	counters(_metadata, self, variant, &c1);
	if (variant->inline_read) {
		ASSERT_EQ((unsigned long long)c0.armed + 1, (unsigned long long)c1.armed);
		check_balance(_metadata, &c0, &c1);
	}
}

/*
 * A short read fails the request as on the stock path (as
 * __io_complete_rw_common() does): the read linked to a NOP completes with
 * the 10 bytes, and the NOP is cancelled.
 */
TEST_F(inl, short_read_breaks_link)
{
	struct io_uring_cqe cqes[2];
	struct io_uring_sqe *sqe;

	sqe = get_sqe(_metadata, &self->ring);
	iou_prep_read(sqe, self->rfd, self->buf, 4096, IOU_POS_CUR, UD_READ);
	sqe->flags |= IOSQE_IO_LINK;
	iou_prep_nop(get_sqe(_metadata, &self->ring), UD_NOP);
	submit_n(_metadata, &self->ring, 2);
	assert_no_cqe(_metadata, &self->ring);

	write_pattern(_metadata, self->wfd, 10, 3);
	reap_n(_metadata, &self->ring, cqes, 2);
	ASSERT_EQ(10, cqe_res(_metadata, cqes, 2, UD_READ));
	ASSERT_EQ(-ECANCELED, cqe_res(_metadata, cqes, 2, UD_NOP))
		TH_LOG("a short read did not break the link");
	check_pattern(_metadata, self->buf, 10, 3);
}

/*
 * A read handed back to the stock path by a wake-up the inline path does not
 * complete (vmsplice), and cancelled before the submitter's task_work runs:
 * the cancel succeeds and the byte stays in the pipe, as for a stock poll
 * request. Only DEFER_TASKRUN rings keep that task_work pending while the
 * submitter submits the cancel.
 */
TEST_F(inl, cancel_before_stock_retry)
{
	struct io_uring_cqe cqes[2];
	struct inl_counters c0, c1;
	struct iovec iov;
	char byte = 'x';

	if (!(variant->setup_flags & IORING_SETUP_DEFER_TASKRUN))
		SKIP(return, "task_work runs at once on this ring type");
	counters(_metadata, self, variant, &c0);
	iou_prep_read(get_sqe(_metadata, &self->ring), self->rfd, self->buf, 64, IOU_POS_CUR,
		      UD_READ);
	submit_n(_metadata, &self->ring, 1);

	iov.iov_base = &byte;
	iov.iov_len = 1;
	ASSERT_EQ(1, vmsplice(self->wfd, &iov, 1, 0)) TH_LOG("vmsplice: %s", strerror(errno));

	/* Submit without GETEVENTS: the retry is still queued. */
	iou_prep_cancel(get_sqe(_metadata, &self->ring), UD_READ, 0, UD_CANCEL);
	submit_n(_metadata, &self->ring, 1);
	ASSERT_EQ(0, iou_get_events(&self->ring));
	reap_n(_metadata, &self->ring, cqes, 2);
	ASSERT_EQ(0, cqe_res(_metadata, cqes, 2, UD_CANCEL));
	ASSERT_EQ(-ECANCELED, cqe_res(_metadata, cqes, 2, UD_READ));
	ASSERT_EQ(1, pipe_bytes(_metadata, self->rfd)) TH_LOG("the cancelled read took the byte");
	check_fill(_metadata, self->buf, self->buf_len);
	if (variant->inline_read) {
		counters(_metadata, self, variant, &c1);
		ASSERT_EQ((unsigned long long)c0.cancelled + 1, (unsigned long long)c1.cancelled);
		check_balance(_metadata, &c0, &c1);
	}
}

/* A write larger than the buffer: the read gets a buffer's worth, read(2) the rest. */
TEST_F(inl, long_write_leaves_rest_in_pipe)
{
	struct inl_counters c0, c1;
	struct io_uring_cqe cqe;
	char rest[24];

	counters(_metadata, self, variant, &c0);
	iou_prep_read(get_sqe(_metadata, &self->ring), self->rfd, self->buf, 16, IOU_POS_CUR,
		      UD_READ);
	submit_n(_metadata, &self->ring, 1);
	assert_no_cqe(_metadata, &self->ring);

	write_pattern(_metadata, self->wfd, 16 + sizeof(rest), 2);
	reap_cqe(_metadata, &self->ring, &cqe);
	ASSERT_EQ(16, cqe.res) TH_LOG("read res %d", cqe.res);
	check_pattern(_metadata, self->buf, 16, 2);
	check_fill(_metadata, self->buf + 16, self->buf_len - 16);
	ASSERT_EQ((int)sizeof(rest), pipe_bytes(_metadata, self->rfd));
	read_nonblock(_metadata, self->rfd, rest, sizeof(rest));
	check_pattern(_metadata, rest, sizeof(rest), 2 + 16);
	assert_no_cqe(_metadata, &self->ring);

	wait_pinned(_metadata, self->ring.fd, variant->inline_read, c0.pinned);
	counters(_metadata, self, variant, &c1);
	if (variant->inline_read)
		check_balance(_metadata, &c0, &c1);
}

/*
 * Three pending 4-byte reads and one 12-byte write "AAAABBBBCCCC": with the
 * flag the reads get AAAA, BBBB, CCCC in submission order. The write comes
 * from another process while this one sleeps in io_uring_enter(), the case
 * the inline path is for. The stock path wakes poll entries in LIFO order,
 * so without the flag each read only gets one of the chunks.
 */
TEST_F(inl, fifo_order)
{
	static const char msg[] = "AAAABBBBCCCC";
	struct inl_counters c0, c1;
	struct io_uring_cqe cqes[3];
	bool seen[3] = { false };
	int i, letter;

	counters(_metadata, self, variant, &c0);
	for (i = 0; i < 3; i++)
		iou_prep_read(get_sqe(_metadata, &self->ring), self->rfd, self->buf + i * SLOT, 4,
			      IOU_POS_CUR, UD_READ + i);
	submit_n(_metadata, &self->ring, 3);
	assert_no_cqe(_metadata, &self->ring);
	counters(_metadata, self, variant, &c1);
	if (variant->inline_read)
		ASSERT_EQ((unsigned long long)c0.armed + 3, (unsigned long long)c1.armed);

	self->child = spawn_writer(_metadata, self->wfd, msg, 12, 20);
	reap_n(_metadata, &self->ring, cqes, 3);
	join_child(_metadata, &self->child, COMPLETE_MS);

	for (i = 0; i < 3; i++) {
		const char *got = self->buf + i * SLOT;

		ASSERT_EQ(4, cqe_res(_metadata, cqes, 3, UD_READ + i));
		if (variant->inline_read) {
			ASSERT_EQ(0, memcmp(got, msg + 4 * i, 4))
				TH_LOG("read %d got %.4s, expected %.4s", i, got, msg + 4 * i);
		} else {
			letter = got[0] - 'A';
			ASSERT_TRUE(letter >= 0 && letter < 3) TH_LOG("read %d got %.4s", i, got);
			ASSERT_EQ(0, memcmp(got, msg + 4 * letter, 4)) TH_LOG("got %.4s", got);
			ASSERT_FALSE(seen[letter]);
			seen[letter] = true;
		}
		check_fill(_metadata, got + 4, SLOT - 4);
	}
	ASSERT_EQ(0, pipe_bytes(_metadata, self->rfd));

	wait_pinned(_metadata, self->ring.fd, variant->inline_read, c0.pinned);
	counters(_metadata, self, variant, &c1);
	if (variant->inline_read)
		check_balance(_metadata, &c0, &c1);
}

/*
 * Several pending inline reads and a thread blocked in read(2) on the same
 * pipe: every record written is delivered exactly once, to one of them.
 * Records are 16 bytes, written with one write(2) each (atomic: less than
 * PIPE_BUF) and read 16 bytes at a time.
 * ASSUMES: a 16-byte read of a pipe holding at least 16 bytes gets 16 (as
 * pipe_read() does), so reads stay record aligned on the inline path too.
 */
#define MIX_RECORDS	256
#define MIX_REC		16
#define MIX_READS	4

struct mix_reader {
	int fd;
	unsigned char *seen;	/* per record: how many times it was delivered */
	unsigned int records;
	unsigned int bad;	/* malformed or short records */
	int err;
};

static bool decode_record(const char *rec, unsigned int *seq)
{
	uint32_t v[4];

	memcpy(v, rec, sizeof(v));
	if (v[0] != v[1] || v[0] != v[2] || v[0] != v[3] || v[0] >= MIX_RECORDS)
		return false;
	*seq = v[0];
	return true;
}

static void *mix_reader_fn(void *arg)
{
	struct mix_reader *r = arg;
	char rec[MIX_REC];
	unsigned int seq;
	ssize_t n;

	for (;;) {
		n = read(r->fd, rec, sizeof(rec));
		if (!n)
			break;
		if (n < 0) {
			if (errno == EINTR)
				continue;
			r->err = errno;
			break;
		}
		if (n != MIX_REC || !decode_record(rec, &seq)) {
			r->bad++;
			continue;
		}
		__atomic_add_fetch(&r->seen[seq], 1, __ATOMIC_RELAXED);
		r->records++;
	}
	return NULL;
}

/* Account a completed ring read of slot @slot; returns true on EOF (res 0). */
static bool mix_account(struct __test_metadata *_metadata, struct _test_data_inl *self,
			const struct io_uring_cqe *cqe, unsigned char *seen, unsigned int *records)
{
	int slot = cqe->user_data - UD_READ;
	char *rec = self->buf + slot * SLOT;
	unsigned int seq;

	ASSERT_TRUE(slot >= 0 && slot < MIX_READS) TH_LOG("user_data %#llx",
							  (unsigned long long)cqe->user_data);
	if (!cqe->res)
		return true;
	ASSERT_EQ(MIX_REC, cqe->res) TH_LOG("slot %d res %d", slot, cqe->res);
	ASSERT_TRUE(decode_record(rec, &seq)) TH_LOG("slot %d: malformed record", slot);
	__atomic_add_fetch(&seen[seq], 1, __ATOMIC_RELAXED);
	(*records)++;
	memset(rec, FILL, SLOT);
	return false;
}

TEST_F(inl, blocking_reader_shares_bytes)
{
	unsigned char seen[MIX_RECORDS] = { 0 };
	unsigned int ring_records = 0, eof = 0;
	struct mix_reader rd = { .fd = self->rfd, .seen = seen };
	struct io_uring_cqe *cqe;
	struct timespec ts;
	uint32_t rec[4];
	pthread_t th;
	int i, ret, slot;

	ASSERT_EQ(0, pthread_create(&th, NULL, mix_reader_fn, &rd));
	for (i = 0; i < MIX_READS; i++)
		iou_prep_read(get_sqe(_metadata, &self->ring), self->rfd, self->buf + i * SLOT,
			      MIX_REC, IOU_POS_CUR, UD_READ + i);
	submit_n(_metadata, &self->ring, MIX_READS);

	for (i = 0; i < MIX_RECORDS; i++) {
		for (slot = 0; slot < 4; slot++)
			rec[slot] = i;
		ASSERT_EQ((ssize_t)sizeof(rec), write(self->wfd, rec, sizeof(rec)));
		if (!(i % 8))
			iou_sleep_us(200);	/* let the thread have its turn */
		ASSERT_LE(0, iou_get_events(&self->ring));
		while (!iou_peek_cqe(&self->ring, &cqe)) {
			ASSERT_FALSE(mix_account(_metadata, self, cqe, seen, &ring_records))
				TH_LOG("EOF while the writer is open");
			slot = cqe->user_data - UD_READ;
			iou_cqe_seen(&self->ring);
			iou_prep_read(get_sqe(_metadata, &self->ring), self->rfd,
				      self->buf + slot * SLOT, MIX_REC, IOU_POS_CUR,
				      UD_READ + slot);
			submit_n(_metadata, &self->ring, 1);
		}
	}

	/* EOF: the thread's read(2) returns 0, the pending reads complete with 0. */
	ASSERT_EQ(0, close(self->wfd));
	self->wfd = -1;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += COMPLETE_MS / 1000;
	ret = pthread_timedjoin_np(th, NULL, &ts);
	ASSERT_EQ(0, ret) TH_LOG("the read(2) thread did not see EOF: %s", strerror(ret));
	ASSERT_EQ(0, rd.err) TH_LOG("read(2): %s", strerror(rd.err));
	ASSERT_EQ(0U, rd.bad) TH_LOG("read(2) got %u malformed records", rd.bad);

	while (eof < MIX_READS) {
		ret = iou_wait_cqe(&self->ring, &cqe, COMPLETE_MS);
		ASSERT_EQ(0, ret) TH_LOG("%u of %d reads saw EOF", eof, MIX_READS);
		if (mix_account(_metadata, self, cqe, seen, &ring_records)) {
			eof++;
		} else {
			slot = cqe->user_data - UD_READ;
			iou_prep_read(get_sqe(_metadata, &self->ring), self->rfd,
				      self->buf + slot * SLOT, MIX_REC, IOU_POS_CUR,
				      UD_READ + slot);
			submit_n(_metadata, &self->ring, 1);
		}
		iou_cqe_seen(&self->ring);
	}
	assert_no_cqe(_metadata, &self->ring);

	for (i = 0; i < MIX_RECORDS; i++) {
		int times = seen[i];

		ASSERT_EQ(1, times) TH_LOG("record %d delivered %d times", i, times);
	}
	ASSERT_EQ((unsigned int)MIX_RECORDS, rd.records + ring_records);
	ASSERT_EQ(0, pipe_bytes(_metadata, self->rfd));
	TH_LOG("read(2) got %u records, the ring %u", rd.records, ring_records);
}

/* Closing the last writer completes pending reads with 0 (EOF). */
TEST_F(inl, eof_completes_pending_reads)
{
	struct inl_counters c0, c1;
	struct io_uring_cqe cqes[2];

	counters(_metadata, self, variant, &c0);
	pending_reads(_metadata, self, variant, 2, false, &c0);

	ASSERT_EQ(0, close(self->wfd));
	self->wfd = -1;
	reap_n(_metadata, &self->ring, cqes, 2);
	ASSERT_EQ(0, cqe_res(_metadata, cqes, 2, UD_READ));
	ASSERT_EQ(0, cqe_res(_metadata, cqes, 2, UD_READ + 1));
	check_fill(_metadata, self->buf, self->buf_len);
	assert_no_cqe(_metadata, &self->ring);

	wait_pinned(_metadata, self->ring.fd, variant->inline_read, c0.pinned);
	counters(_metadata, self, variant, &c1);
	if (variant->inline_read)
		check_balance(_metadata, &c0, &c1);
}

/* Cancellation by every selector. */

/* IORING_OP_ASYNC_CANCEL by user_data. */
TEST_F(inl, cancel_by_user_data)
{
	struct inl_counters c0;
	struct io_uring_cqe cqes[2];

	counters(_metadata, self, variant, &c0);
	pending_reads(_metadata, self, variant, 1, false, &c0);
	iou_prep_cancel(get_sqe(_metadata, &self->ring), UD_READ, 0, UD_CANCEL);
	submit_n(_metadata, &self->ring, 1);
	reap_n(_metadata, &self->ring, cqes, 2);
	ASSERT_EQ(-ECANCELED, cqe_res(_metadata, cqes, 2, UD_READ));
	ASSERT_EQ(0, cqe_res(_metadata, cqes, 2, UD_CANCEL));
	check_cancelled(_metadata, self, variant, 1, &c0);
}

/* IORING_ASYNC_CANCEL_FD cancels one read on the file; with _ALL, every one. */
TEST_F(inl, cancel_by_fd)
{
	struct inl_counters c0;
	struct io_uring_cqe cqes[2];
	int first;

	counters(_metadata, self, variant, &c0);
	pending_reads(_metadata, self, variant, 2, false, &c0);

	iou_prep_cancel_fd(get_sqe(_metadata, &self->ring), self->rfd, 0, UD_CANCEL);
	submit_n(_metadata, &self->ring, 1);
	reap_n(_metadata, &self->ring, cqes, 2);
	ASSERT_EQ(0, cqe_res(_metadata, cqes, 2, UD_CANCEL));
	first = cqes[0].user_data == UD_CANCEL ? 1 : 0;
	ASSERT_TRUE(cqes[first].user_data == UD_READ || cqes[first].user_data == UD_READ + 1);
	ASSERT_EQ(-ECANCELED, cqes[first].res);
	/* The other read is still pending. */
	assert_no_cqe(_metadata, &self->ring);

	iou_prep_cancel_fd(get_sqe(_metadata, &self->ring), self->rfd, IORING_ASYNC_CANCEL_ALL,
			   UD_CANCEL + 1);
	submit_n(_metadata, &self->ring, 1);
	reap_n(_metadata, &self->ring, cqes, 2);
	ASSERT_EQ(1, cqe_res(_metadata, cqes, 2, UD_CANCEL + 1));
	first = cqes[0].user_data == UD_CANCEL + 1 ? 1 : 0;
	ASSERT_EQ(-ECANCELED, cqes[first].res);
	check_cancelled(_metadata, self, variant, 2, &c0);
}

/* IORING_ASYNC_CANCEL_FD_FIXED on a read of a registered file. */
TEST_F(inl, cancel_by_fixed_fd)
{
	struct inl_counters c0, c1;
	struct io_uring_cqe cqes[2];
	struct io_uring_sqe *sqe;
	int ret;

	ret = iou_register_files(&self->ring, &self->rfd, 1);
	ASSERT_EQ(0, ret) TH_LOG("register files: %s", strerror(-ret));
	counters(_metadata, self, variant, &c0);
	sqe = queue_read(_metadata, self, 0, UD_READ);
	sqe->fd = 0;
	sqe->flags |= IOSQE_FIXED_FILE;
	submit_n(_metadata, &self->ring, 1);
	assert_no_cqe(_metadata, &self->ring);
	counters(_metadata, self, variant, &c1);
	if (variant->inline_read)
		ASSERT_EQ((unsigned long long)c0.armed + 1, (unsigned long long)c1.armed);

	iou_prep_cancel_fd(get_sqe(_metadata, &self->ring), 0, IORING_ASYNC_CANCEL_FD_FIXED,
			   UD_CANCEL);
	submit_n(_metadata, &self->ring, 1);
	reap_n(_metadata, &self->ring, cqes, 2);
	ASSERT_EQ(-ECANCELED, cqe_res(_metadata, cqes, 2, UD_READ));
	ASSERT_EQ(0, cqe_res(_metadata, cqes, 2, UD_CANCEL));
	check_cancelled(_metadata, self, variant, 1, &c0);
}

/* IORING_ASYNC_CANCEL_ALL by user_data: returns how many it cancelled. */
TEST_F(inl, cancel_all)
{
	struct inl_counters c0;
	struct io_uring_cqe cqes[4];
	int i, n = 0;

	counters(_metadata, self, variant, &c0);
	pending_reads(_metadata, self, variant, 3, true, &c0);
	iou_prep_cancel(get_sqe(_metadata, &self->ring), UD_READ, IORING_ASYNC_CANCEL_ALL,
			UD_CANCEL);
	submit_n(_metadata, &self->ring, 1);
	reap_n(_metadata, &self->ring, cqes, 4);
	ASSERT_EQ(3, cqe_res(_metadata, cqes, 4, UD_CANCEL));
	for (i = 0; i < 4; i++) {
		if (cqes[i].user_data != UD_READ)
			continue;
		ASSERT_EQ(-ECANCELED, cqes[i].res);
		n++;
	}
	ASSERT_EQ(3, n);
	check_cancelled(_metadata, self, variant, 3, &c0);
}

/* IORING_ASYNC_CANCEL_ANY: every request, whatever its user_data. */
TEST_F(inl, cancel_any)
{
	struct inl_counters c0;
	struct io_uring_cqe cqes[4];
	int i;

	counters(_metadata, self, variant, &c0);
	pending_reads(_metadata, self, variant, 3, false, &c0);
	iou_prep_cancel(get_sqe(_metadata, &self->ring), 0, IORING_ASYNC_CANCEL_ANY, UD_CANCEL);
	submit_n(_metadata, &self->ring, 1);
	reap_n(_metadata, &self->ring, cqes, 4);
	ASSERT_EQ(3, cqe_res(_metadata, cqes, 4, UD_CANCEL));
	for (i = 0; i < 3; i++)
		ASSERT_EQ(-ECANCELED, cqe_res(_metadata, cqes, 4, UD_READ + i));
	check_cancelled(_metadata, self, variant, 3, &c0);
}

/*
 * IORING_ASYNC_CANCEL_OP (the opcode in sqe->len) with _ALL: cancels the two
 * pending READs and leaves the pending READV alone.
 */
TEST_F(inl, cancel_by_opcode)
{
	struct iovec iov = { .iov_base = NULL, .iov_len = SLOT };
	struct inl_counters c0, c1;
	struct io_uring_cqe cqes[3];
	struct io_uring_sqe *sqe;

	counters(_metadata, self, variant, &c0);
	queue_read(_metadata, self, 0, UD_READ);
	queue_read(_metadata, self, 1, UD_READ + 1);
	iov.iov_base = self->buf + 2 * SLOT;
	iou_prep_readv(get_sqe(_metadata, &self->ring), self->rfd, &iov, 1, IOU_POS_CUR,
		       UD_READ + 2);
	submit_n(_metadata, &self->ring, 3);
	assert_no_cqe(_metadata, &self->ring);
	counters(_metadata, self, variant, &c1);
	if (variant->inline_read)
		ASSERT_EQ((unsigned long long)c0.armed + 3, (unsigned long long)c1.armed);

	sqe = get_sqe(_metadata, &self->ring);
	iou_prep_cancel(sqe, 0, IORING_ASYNC_CANCEL_OP | IORING_ASYNC_CANCEL_ALL, UD_CANCEL);
	sqe->len = IORING_OP_READ;
	submit_n(_metadata, &self->ring, 1);
	reap_n(_metadata, &self->ring, cqes, 3);
	ASSERT_EQ(2, cqe_res(_metadata, cqes, 3, UD_CANCEL));
	ASSERT_EQ(-ECANCELED, cqe_res(_metadata, cqes, 3, UD_READ));
	ASSERT_EQ(-ECANCELED, cqe_res(_metadata, cqes, 3, UD_READ + 1));
	assert_no_cqe(_metadata, &self->ring);

	/* The READV is still there. */
	iou_prep_cancel(get_sqe(_metadata, &self->ring), UD_READ + 2, 0, UD_CANCEL + 1);
	submit_n(_metadata, &self->ring, 1);
	reap_n(_metadata, &self->ring, cqes, 2);
	ASSERT_EQ(-ECANCELED, cqe_res(_metadata, cqes, 2, UD_READ + 2));
	ASSERT_EQ(0, cqe_res(_metadata, cqes, 2, UD_CANCEL + 1));
	check_cancelled(_metadata, self, variant, 3, &c0);
}

/* IORING_REGISTER_SYNC_CANCEL by user_data. */
TEST_F(inl, sync_cancel)
{
	struct inl_counters c0;
	struct io_uring_cqe cqe;
	int ret;

	counters(_metadata, self, variant, &c0);
	pending_reads(_metadata, self, variant, 1, false, &c0);
	ret = iou_sync_cancel(&self->ring, UD_READ, -1, 0, COMPLETE_MS);
	ASSERT_EQ(0, ret) TH_LOG("sync cancel: %s", strerror(-ret));
	reap_cqe(_metadata, &self->ring, &cqe);
	ASSERT_EQ(UD_READ, cqe.user_data);
	ASSERT_EQ(-ECANCELED, cqe.res);
	/* Nothing left to cancel. */
	ret = iou_sync_cancel(&self->ring, UD_READ, -1, 0, COMPLETE_MS);
	ASSERT_EQ(-ENOENT, ret);
	check_cancelled(_metadata, self, variant, 1, &c0);
}

/* A linked IORING_OP_LINK_TIMEOUT that expires cancels the pending read. */
TEST_F(inl, link_timeout_cancels)
{
	struct __kernel_timespec ts = { .tv_sec = 0, .tv_nsec = 100 * 1000000LL };
	struct inl_counters c0;
	struct io_uring_cqe cqes[2];
	struct io_uring_sqe *sqe;

	counters(_metadata, self, variant, &c0);
	sqe = queue_read(_metadata, self, 0, UD_READ);
	sqe->flags |= IOSQE_IO_LINK;
	iou_prep_link_timeout(get_sqe(_metadata, &self->ring), &ts, UD_TIMEOUT);
	submit_n(_metadata, &self->ring, 2);
	reap_n(_metadata, &self->ring, cqes, 2);
	ASSERT_EQ(-ECANCELED, cqe_res(_metadata, cqes, 2, UD_READ));
	/* -ETIME: the timeout fired and found the read (else -ENOENT/-EALREADY). */
	ASSERT_EQ(-ETIME, cqe_res(_metadata, cqes, 2, UD_TIMEOUT));
	check_cancelled(_metadata, self, variant, 1, &c0);
}

/* Teardown with reads pending. */

/*
 * Closing the ring (unmap + close) with inline reads pending returns
 * promptly, and the reads are gone: data written afterwards stays in the
 * pipe. The pinned pages go back: VmPin, if the kernel accounts the pins
 * there, returns to its value before the reads.
 */
TEST_F(inl, ring_close_with_pending_reads)
{
	long pin0, pin1, pin2;
	struct inl_counters c0;
	__s64 t0, ms, deadline;
	char out[80];

	counters(_metadata, self, variant, &c0);
	pin0 = status_kb("VmPin");
	pending_reads(_metadata, self, variant, 2, false, &c0);
	pin1 = status_kb("VmPin");

	t0 = iou_now_ns();
	iou_exit(&self->ring);
	ms = (iou_now_ns() - t0) / 1000000;
	ASSERT_LT(ms, CLOSE_MS) TH_LOG("closing the ring took %lld ms", (long long)ms);

	write_pattern(_metadata, self->wfd, sizeof(out), 3);
	/* Give any survivor of the ring (task_work, a kworker) time to act. */
	iou_sleep_us(2 * PENDING_MS * 1000);
	ASSERT_EQ((int)sizeof(out), pipe_bytes(_metadata, self->rfd))
		TH_LOG("closed ring took data");
	read_nonblock(_metadata, self->rfd, out, sizeof(out));
	check_pattern(_metadata, out, sizeof(out), 3);
	check_fill(_metadata, self->buf, self->buf_len);

	/* The ring is freed by a kworker after the close: wait a little for it. */
	deadline = iou_now_ns() + CLOSE_MS * 1000000LL;
	do {
		pin2 = status_kb("VmPin");
		if (pin2 == pin0)
			break;
		iou_sleep_us(10000);
	} while (iou_now_ns() < deadline);
	ASSERT_EQ(pin0, pin2) TH_LOG("VmPin %ld kB before, %ld kB pending, %ld kB after close",
				     pin0, pin1, pin2);
}

/*
 * A child submits reads of the empty pipe and exits: the exit is prompt, and
 * nothing is consumed from the pipe afterwards. The parent keeps the ring
 * open and looks only at its memory and fdinfo.
 *
 * Stock (verified on 6.12-6.18): exit runs io_uring_files_cancel(), which
 * cancels only tracked (REQ_F_INFLIGHT) requests, so the reads stay armed
 * past the exit. A later write wakes them: on a plain ring the task_work
 * cannot be queued to the dead task and the fallback worker completes them
 * with -ECANCELED, consuming nothing; on a DEFER_TASKRUN ring their local
 * work has no one to run it and no CQE appears until the ring goes away.
 *
 * With IORING_SETUP_INLINE_READ the reads must not consume the write either
 * (the writer must not fill the pages of a dead reader), and in the end each
 * has one -ECANCELED CQE and nothing stays pinned.
 * ASSUMES: the inline reads are cancelled at exit already (CQEs and pinned
 * bytes back to 0 before any write), since they pin the exiting task's
 * memory; checked with EXPECT so that the write checks still run.
 */
TEST_F(inl, task_exit_with_pending_reads)
{
	bool defer = variant->setup_flags & IORING_SETUP_DEFER_TASKRUN;
	struct inl_counters c0, c1;
	struct io_uring_cqe *cqe;
	unsigned int i, n;
	char out[64];

	ring_for_child(_metadata, self, variant);
	counters(_metadata, self, variant, &c0);

	self->child = fork();
	ASSERT_NE(-1, self->child);
	if (!self->child) {
		if (child_take_ring(&self->ring))
			_exit(CHILD_SETUP);
		child_queue_read(&self->ring, self->rfd, self->buf, SLOT, UD_READ);
		child_queue_read(&self->ring, self->rfd, self->buf + SLOT, SLOT, UD_READ + 1);
		if (iou_submit(&self->ring) != 2)
			_exit(CHILD_SUBMIT);
		_exit(iou_cq_ready(&self->ring) ? CHILD_EARLY_CQE : CHILD_OK);
	}
	join_child(_metadata, &self->child, CLOSE_MS);

	counters(_metadata, self, variant, &c1);
	if (variant->inline_read) {
		ASSERT_EQ((unsigned long long)c0.armed + 2, (unsigned long long)c1.armed);
		n = wait_cq_ready(&self->ring, 2, CLOSE_MS);
		EXPECT_EQ(2U, n) TH_LOG("the exit did not cancel the inline reads");
		counters(_metadata, self, variant, &c1);
		EXPECT_EQ(0ULL, (unsigned long long)c1.pinned)
			TH_LOG("the exited task's buffers are still pinned");
	} else {
		assert_no_cqe_mem(_metadata, &self->ring, PENDING_MS);
	}

	write_pattern(_metadata, self->wfd, sizeof(out), 4);
	iou_sleep_us(PENDING_MS * 1000);
	ASSERT_EQ((int)sizeof(out), pipe_bytes(_metadata, self->rfd))
		TH_LOG("a read of the exited task took data");

	if (variant->inline_read || !defer) {
		n = wait_cq_ready(&self->ring, 2, COMPLETE_MS);
		ASSERT_EQ(2U, n) TH_LOG("%u of 2 CQEs", n);
		for (i = 0; i < 2; i++) {
			ASSERT_EQ(0, iou_peek_cqe(&self->ring, &cqe));
			ASSERT_TRUE(cqe->user_data == UD_READ || cqe->user_data == UD_READ + 1);
			ASSERT_EQ(-ECANCELED, cqe->res) TH_LOG("read res %d", cqe->res);
			iou_cqe_seen(&self->ring);
		}
	}
	assert_no_cqe_mem(_metadata, &self->ring, PENDING_MS);
	read_nonblock(_metadata, self->rfd, out, sizeof(out));
	check_pattern(_metadata, out, sizeof(out), 4);

	if (variant->inline_read) {
		wait_pinned(_metadata, self->ring.fd, true, 0);
		counters(_metadata, self, variant, &c1);
		ASSERT_EQ((unsigned long long)c0.completed, (unsigned long long)c1.completed);
		check_balance(_metadata, &c0, &c1);
	}
}

/*
 * InlineReadPinned: positive while reads are pending, back to 0 after cancel
 * and after completion. ASSUMES: the counter is in bytes, of the buffer or
 * rounded out to whole pages; READ_FIXED pins nothing more (the registration
 * holds the pages).
 */
TEST_F(inl, pinned_bytes_released)
{
	struct inl_counters c0, c;
	struct io_uring_cqe cqes[2];
	struct iovec reg;
	size_t pg = self->page;
	int ret;

	counters(_metadata, self, variant, &c0);
	ASSERT_EQ(0ULL, (unsigned long long)c0.pinned);

	/* A: two whole pages; B: 100 bytes straddling pages 2 and 3. */
	iou_prep_read(get_sqe(_metadata, &self->ring), self->rfd, self->buf, 2 * pg, IOU_POS_CUR,
		      UD_READ);
	iou_prep_read(get_sqe(_metadata, &self->ring), self->rfd, self->buf + 3 * pg - 50, 100,
		      IOU_POS_CUR, UD_READ + 1);
	submit_n(_metadata, &self->ring, 2);
	assert_no_cqe(_metadata, &self->ring);
	counters(_metadata, self, variant, &c);
	if (variant->inline_read) {
		ASSERT_LE((unsigned long long)(2 * pg + 100), (unsigned long long)c.pinned);
		ASSERT_GE((unsigned long long)(4 * pg), (unsigned long long)c.pinned);
	}

	/* Cancel A: only B's bytes stay pinned. */
	iou_prep_cancel(get_sqe(_metadata, &self->ring), UD_READ, 0, UD_CANCEL);
	submit_n(_metadata, &self->ring, 1);
	reap_n(_metadata, &self->ring, cqes, 2);
	ASSERT_EQ(-ECANCELED, cqe_res(_metadata, cqes, 2, UD_READ));
	ASSERT_EQ(0, cqe_res(_metadata, cqes, 2, UD_CANCEL));
	if (variant->inline_read) {
		__s64 deadline = iou_now_ns() + CLOSE_MS * 1000000LL;

		do {
			counters(_metadata, self, variant, &c);
			if (c.pinned <= 2 * pg)
				break;
			iou_sleep_us(1000);
		} while (iou_now_ns() < deadline);
		ASSERT_LE(100ULL, (unsigned long long)c.pinned);
		ASSERT_GE((unsigned long long)(2 * pg), (unsigned long long)c.pinned);
	}

	/* Complete B: nothing pinned. */
	write_pattern(_metadata, self->wfd, 100, 5);
	reap_cqe(_metadata, &self->ring, &cqes[0]);
	ASSERT_EQ(UD_READ + 1, cqes[0].user_data);
	ASSERT_EQ(100, cqes[0].res);
	check_pattern(_metadata, self->buf + 3 * pg - 50, 100, 5);
	wait_pinned(_metadata, self->ring.fd, variant->inline_read, 0);

	/* READ_FIXED: the registration already pins the pages. */
	reg.iov_base = self->buf;
	reg.iov_len = self->buf_len;
	ret = iou_register_buffers(&self->ring, &reg, 1);
	ASSERT_EQ(0, ret) TH_LOG("register buffers: %s", strerror(-ret));
	iou_prep_read_fixed(get_sqe(_metadata, &self->ring), self->rfd, self->buf + pg, 64,
			    IOU_POS_CUR, 0, UD_READ + 2);
	submit_n(_metadata, &self->ring, 1);
	assert_no_cqe(_metadata, &self->ring);
	counters(_metadata, self, variant, &c);
	ASSERT_EQ(0ULL, (unsigned long long)c.pinned) TH_LOG("READ_FIXED pinned its buffer again");
	iou_prep_cancel(get_sqe(_metadata, &self->ring), UD_READ + 2, 0, UD_CANCEL + 1);
	submit_n(_metadata, &self->ring, 1);
	reap_n(_metadata, &self->ring, cqes, 2);
	ASSERT_EQ(-ECANCELED, cqe_res(_metadata, cqes, 2, UD_READ + 2));
	wait_pinned(_metadata, self->ring.fd, variant->inline_read, 0);
	counters(_metadata, self, variant, &c);
	if (variant->inline_read)
		check_balance(_metadata, &c0, &c);
}

/*
 * Cancel racing with a writer: each iteration submits a read of 1..64 bytes
 * and, in a random order and timing, a writer thread writes 1..64 bytes and
 * this thread cancels the read. Every read gets exactly one CQE; a cancel
 * succeeds exactly when its read ends with -ECANCELED; the bytes delivered,
 * in order, are the bytes written, and none is lost: written == delivered
 * in CQEs + drained with read(2) + left in the pipe.
 * Iterations: RACE_ITERS or $IOU_RACE_ITERS, stopped after RACE_MS (or
 * $IOU_RACE_MS) of wall time; seed: $IOU_SEED.
 */
#define RACE_ITERS	2000
#define RACE_MS		4000

enum race_op {
	RACE_WRITE_CANCEL,	/* both, racing */
	RACE_CANCEL_ONLY,	/* no data: the read is cancelled, or gets leftovers */
	RACE_WRITE_ONLY,	/* the read must complete */
	RACE_BATCH,		/* read and cancel in one submission, racing a write */
	RACE_NR_OPS,
};

struct race_writer {
	int fd;
	unsigned int go;	/* command number, written by the main thread */
	unsigned int done;	/* last command finished */
	unsigned int len;
	unsigned int delay;	/* spin iterations before writing */
	uint64_t wpos;		/* stream bytes written */
	bool stop;
	int err;
};

static unsigned char stream_byte(uint64_t pos)
{
	return (unsigned char)(pos * 131 + (pos >> 8) * 7 + (pos >> 16));
}

static void *race_writer_fn(void *arg)
{
	struct race_writer *w = arg;
	unsigned char data[64];
	unsigned int go, i;

	for (;;) {
		go = __atomic_load_n(&w->go, __ATOMIC_ACQUIRE);
		if (go == w->done) {
			if (__atomic_load_n(&w->stop, __ATOMIC_ACQUIRE))
				break;
			sched_yield();
			continue;
		}
		for (i = 0; i < w->len; i++)
			data[i] = stream_byte(w->wpos + i);
		spin(w->delay);
		if (write(w->fd, data, w->len) != (ssize_t)w->len)
			w->err = errno ? errno : EIO;
		else
			w->wpos += w->len;
		__atomic_store_n(&w->done, go, __ATOMIC_RELEASE);
	}
	return NULL;
}

/*
 * A read and the cancel aimed at it agree. A cancel that succeeds (0) ends
 * the read with -ECANCELED. A cancel that fails says -ENOENT (nothing to
 * cancel) or -EALREADY (found it running), and the read completed with data,
 * or it was running in io-wq and ended with -ECANCELED or -EINTR: on the
 * stock path a read whose data another reader took between its wake-up and
 * its retry is punted to io-wq and blocks in pipe_read(); the cancel flags
 * and signals that worker, and (seen on 6.18) io_try_cancel() may then
 * report -ENOENT rather than -EALREADY. A read without data must have
 * consumed nothing, which the callers check by accounting for every byte.
 */
static bool cancel_agrees(int read_res, int cancel_res)
{
	if (!cancel_res)
		return read_res == -ECANCELED;
	if (cancel_res != -ENOENT && cancel_res != -EALREADY)
		return false;
	return read_res >= 0 || read_res == -ECANCELED || read_res == -EINTR;
}

/* Check @len bytes read at stream position *@rpos, and advance it. */
static void check_stream(struct __test_metadata *_metadata, const char *buf, size_t len,
			 uint64_t *rpos)
{
	size_t i;

	for (i = 0; i < len; i++)
		ASSERT_EQ(stream_byte(*rpos + i), (unsigned char)buf[i])
			TH_LOG("stream byte %llu wrong", (unsigned long long)(*rpos + i));
	*rpos += len;
}

/* read(2) everything in the pipe, check it against the stream; returns the count. */
static size_t drain_stream(struct __test_metadata *_metadata, int fd, uint64_t *rpos)
{
	char tmp[4096];
	size_t total = 0;
	int n;

	for (;;) {
		n = pipe_bytes(_metadata, fd);
		if (!n)
			break;
		if (n > (int)sizeof(tmp))
			n = sizeof(tmp);
		read_nonblock(_metadata, fd, tmp, n);
		check_stream(_metadata, tmp, n, rpos);
		total += n;
	}
	return total;
}

TEST_F_TIMEOUT(inl, cancel_races_writer, 120)
{
	unsigned long iters = env_ul("IOU_RACE_ITERS", RACE_ITERS);
	unsigned long max_ms = env_ul("IOU_RACE_MS", RACE_MS);
	unsigned int seed = env_ul("IOU_SEED", (unsigned long)time(NULL) ^ getpid());
	unsigned long n_ops[RACE_NR_OPS] = { 0 }, n_data = 0, n_cancelled = 0;
	struct race_writer w = { .fd = self->wfd };
	uint64_t rpos = 0, delivered = 0, drained = 0;
	struct inl_counters c0, c1;
	struct io_uring_cqe *cqe;
	__s64 start = iou_now_ns(), deadline;
	unsigned long i;
	pthread_t th;

	TH_LOG("seed %u (IOU_SEED), up to %lu iterations or %lu ms", seed, iters, max_ms);
	counters(_metadata, self, variant, &c0);
	ASSERT_EQ(0, pthread_create(&th, NULL, race_writer_fn, &w));

	for (i = 0; i < iters; i++) {
		enum race_op op = rand_r(&seed) % RACE_NR_OPS;
		unsigned int rlen = 1 + rand_r(&seed) % 64;
		__u64 ud_read = (UD_READ << 32) | i, ud_cancel = (UD_CANCEL << 32) | i;
		bool cancel = op != RACE_WRITE_ONLY, wrote = op != RACE_CANCEL_ONLY;
		int read_res = 0, cancel_res = 0, got = 0, want = cancel ? 2 : 1, ret;
		bool seen_read = false, seen_cancel = false;

		if ((iou_now_ns() - start) / 1000000 > (__s64)max_ms)
			break;
		n_ops[op]++;
		if (pipe_bytes(_metadata, self->rfd) > 4096)
			drained += drain_stream(_metadata, self->rfd, &rpos);
		memset(self->buf, FILL, 64);

		iou_prep_read(get_sqe(_metadata, &self->ring), self->rfd, self->buf, rlen,
			      IOU_POS_CUR, ud_read);
		if (op == RACE_BATCH)
			iou_prep_cancel(get_sqe(_metadata, &self->ring), ud_read, 0, ud_cancel);
		if (wrote) {
			w.len = 1 + rand_r(&seed) % 64;
			w.delay = rand_r(&seed) % 4000;
			__atomic_store_n(&w.go, i + 1, __ATOMIC_RELEASE);
		}
		submit_n(_metadata, &self->ring, op == RACE_BATCH ? 2 : 1);
		if (op == RACE_WRITE_CANCEL || op == RACE_CANCEL_ONLY) {
			spin(rand_r(&seed) % 4000);
			iou_prep_cancel(get_sqe(_metadata, &self->ring), ud_read, 0, ud_cancel);
			submit_n(_metadata, &self->ring, 1);
		}

		deadline = iou_now_ns() + COMPLETE_MS * 1000000LL;
		while (wrote && __atomic_load_n(&w.done, __ATOMIC_ACQUIRE) != i + 1) {
			ASSERT_LT(iou_now_ns(), deadline) TH_LOG("iteration %lu: writer stuck", i);
			sched_yield();
		}
		ASSERT_EQ(0, w.err) TH_LOG("writer: %s", strerror(w.err));

		while (got < want) {
			ret = iou_wait_cqe(&self->ring, &cqe, COMPLETE_MS);
			ASSERT_EQ(0, ret) TH_LOG("iteration %lu (op %d): %d of %d CQEs",
						 i, op, got, want);
			if (cqe->user_data == ud_read && !seen_read) {
				read_res = cqe->res;
				seen_read = true;
			} else if (cancel && cqe->user_data == ud_cancel && !seen_cancel) {
				cancel_res = cqe->res;
				seen_cancel = true;
			} else {
				ASSERT_TRUE(false)
					TH_LOG("iteration %lu: stray CQE %#llx res %d",
					       i, (unsigned long long)cqe->user_data, cqe->res);
			}
			iou_cqe_seen(&self->ring);
			got++;
		}

		if (cancel)
			ASSERT_TRUE(cancel_agrees(read_res, cancel_res))
				TH_LOG("iteration %lu: read res %d, cancel res %d",
				       i, read_res, cancel_res);
		if (read_res == -ECANCELED || read_res == -EINTR) {
			ASSERT_TRUE(cancel);
			check_fill(_metadata, self->buf, rlen);
			n_cancelled++;
		} else {
			ASSERT_LT(0, read_res) TH_LOG("iteration %lu: read res %d", i, read_res);
			ASSERT_GE((int)rlen, read_res);
			check_stream(_metadata, self->buf, read_res, &rpos);
			check_fill(_metadata, self->buf + read_res, rlen - read_res);
			delivered += read_res;
			n_data++;
		}
	}

	__atomic_store_n(&w.stop, true, __ATOMIC_RELEASE);
	ASSERT_EQ(0, pthread_join(th, NULL));
	ASSERT_EQ(0, w.err);
	drained += drain_stream(_metadata, self->rfd, &rpos);
	assert_no_cqe(_metadata, &self->ring);

	TH_LOG("%lu iterations in %lld ms (ops %lu/%lu/%lu/%lu): %lu reads got data, %lu cancelled",
	       i, (long long)((iou_now_ns() - start) / 1000000), n_ops[0], n_ops[1], n_ops[2],
	       n_ops[3], n_data, n_cancelled);
	TH_LOG("written %llu = delivered %llu + drained/left %llu",
	       (unsigned long long)w.wpos, (unsigned long long)delivered,
	       (unsigned long long)drained);
	ASSERT_EQ(w.wpos, delivered + drained);
	ASSERT_EQ(w.wpos, rpos);

	wait_pinned(_metadata, self->ring.fd, variant->inline_read, c0.pinned);
	counters(_metadata, self, variant, &c1);
	if (variant->inline_read)
		check_balance(_metadata, &c0, &c1);
}

/*
 * Stress: two writer threads write 16-byte records (disjoint sequence
 * numbers, one write(2) each), a thief thread read(2)s records, and this
 * thread keeps STRESS_SLOTS inline reads pending, cancelling some at random.
 * Every record written is delivered exactly once (to the thief or a ring
 * read), a cancelled read consumes nothing, each read gets one CQE, and a
 * cancel succeeds exactly when its read ends with -ECANCELED. Bounded by
 * RACE_MS ($IOU_RACE_MS) of writing; seed: $IOU_SEED.
 * ASSUMES: reads stay record aligned (see blocking_reader_shares_bytes).
 */
#define STRESS_SLOTS	4
#define STRESS_RECORDS	4096	/* per writer */
#define STRESS_CANCEL	0x8000000000000000ULL	/* user_data bit of the cancels */

struct stress_writer {
	int fd;
	unsigned int first;	/* sequence numbers first, first + 2, ... */
	unsigned int written;
	bool *stop;
	bool done;
	int err;
};

struct stress_slot {
	__u64 ud;		/* user_data of the pending read, 0 if idle */
	bool read_done;
	bool cancel_sent;
	bool cancel_done;
	int read_res;
	int cancel_res;
};

static void *stress_writer_fn(void *arg)
{
	struct stress_writer *w = arg;
	uint32_t rec[4];
	unsigned int k, j;

	for (k = 0; k < STRESS_RECORDS; k++) {
		if (__atomic_load_n(w->stop, __ATOMIC_RELAXED))
			break;
		for (j = 0; j < 4; j++)
			rec[j] = w->first + 2 * k;
		if (write(w->fd, rec, sizeof(rec)) != sizeof(rec)) {
			w->err = errno ? errno : EIO;
			break;
		}
		w->written++;
		if (!(k % 32))
			sched_yield();
	}
	__atomic_store_n(&w->done, true, __ATOMIC_RELEASE);
	return NULL;
}

static bool stress_decode(const char *rec, unsigned int *seq)
{
	uint32_t v[4];

	memcpy(v, rec, sizeof(v));
	if (v[0] != v[1] || v[0] != v[2] || v[0] != v[3] || v[0] >= 2 * STRESS_RECORDS)
		return false;
	*seq = v[0];
	return true;
}

static void *stress_thief_fn(void *arg)
{
	struct mix_reader *r = arg;
	char rec[MIX_REC];
	unsigned int seq;
	ssize_t n;

	for (;;) {
		n = read(r->fd, rec, sizeof(rec));
		if (!n)
			break;
		if (n < 0) {
			if (errno == EINTR)
				continue;
			r->err = errno;
			break;
		}
		if (n != MIX_REC || !stress_decode(rec, &seq)) {
			r->bad++;
			continue;
		}
		__atomic_add_fetch(&r->seen[seq], 1, __ATOMIC_RELAXED);
		r->records++;
	}
	return NULL;
}

/* Account one CQE of the stress test; a slot is idle again once all its CQEs are in. */
static void stress_cqe(struct __test_metadata *_metadata, struct _test_data_inl *self,
		       struct stress_slot *slots, const struct io_uring_cqe *cqe,
		       unsigned char *seen, unsigned long *stats, bool eof)
{
	unsigned int s = cqe->user_data & 0xff, seq;
	bool is_cancel = cqe->user_data & STRESS_CANCEL;
	struct stress_slot *sl = &slots[s];
	__u64 ud = cqe->user_data & ~STRESS_CANCEL;

	ASSERT_GT(STRESS_SLOTS, (int)s);
	ASSERT_EQ(sl->ud, ud)
		TH_LOG("CQE %#llx for a read that is not pending",
		       (unsigned long long)cqe->user_data);
	if (is_cancel) {
		ASSERT_TRUE(sl->cancel_sent && !sl->cancel_done);
		sl->cancel_done = true;
		sl->cancel_res = cqe->res;
	} else {
		ASSERT_FALSE(sl->read_done) TH_LOG("second CQE for read %#llx",
						   (unsigned long long)ud);
		sl->read_done = true;
		sl->read_res = cqe->res;
		if (cqe->res == MIX_REC) {
			ASSERT_TRUE(stress_decode(self->buf + s * SLOT, &seq));
			__atomic_add_fetch(&seen[seq], 1, __ATOMIC_RELAXED);
			stats[0]++;
		} else if (cqe->res == -ECANCELED || cqe->res == -EINTR) {
			ASSERT_TRUE(sl->cancel_sent);
			check_fill(_metadata, self->buf + s * SLOT, SLOT);
			stats[1]++;
		} else {
			ASSERT_EQ(0, cqe->res) TH_LOG("read res %d", cqe->res);
			ASSERT_TRUE(eof) TH_LOG("EOF while the writers are open");
			stats[2]++;
		}
	}
	if (!sl->read_done || (sl->cancel_sent && !sl->cancel_done))
		return;
	if (sl->cancel_sent)
		ASSERT_TRUE(cancel_agrees(sl->read_res, sl->cancel_res))
			TH_LOG("read res %d, cancel res %d", sl->read_res, sl->cancel_res);
	memset(self->buf + s * SLOT, FILL, SLOT);
	memset(sl, 0, sizeof(*sl));
}

TEST_F_TIMEOUT(inl, stress_writers_thief_cancels, 120)
{
	unsigned long max_ms = env_ul("IOU_RACE_MS", RACE_MS);
	unsigned int seed = env_ul("IOU_SEED", (unsigned long)time(NULL) ^ getpid());
	static unsigned char seen[2 * STRESS_RECORDS];
	struct mix_reader thief = { .fd = self->rfd, .seen = seen };
	struct stress_slot slots[STRESS_SLOTS] = { 0 };
	struct stress_writer w[2];
	unsigned long stats[3] = { 0 };	/* data, cancelled, EOF */
	struct inl_counters c0, c1;
	pthread_t wt[2], tt;
	struct io_uring_cqe *cqe;
	__s64 start = iou_now_ns();
	unsigned int gen = 0, i, k, busy;
	struct timespec ts;
	bool stop = false;
	int ret;

	memset(seen, 0, sizeof(seen));
	TH_LOG("seed %u (IOU_SEED), writing for up to %lu ms", seed, max_ms);
	counters(_metadata, self, variant, &c0);
	for (i = 0; i < 2; i++) {
		w[i] = (struct stress_writer){ .fd = self->wfd, .first = i, .stop = &stop };
		ASSERT_EQ(0, pthread_create(&wt[i], NULL, stress_writer_fn, &w[i]));
	}
	ASSERT_EQ(0, pthread_create(&tt, NULL, stress_thief_fn, &thief));

	for (;;) {
		bool writing = !__atomic_load_n(&w[0].done, __ATOMIC_ACQUIRE) ||
			       !__atomic_load_n(&w[1].done, __ATOMIC_ACQUIRE);

		if ((iou_now_ns() - start) / 1000000 > (__s64)max_ms)
			__atomic_store_n(&stop, true, __ATOMIC_RELAXED);
		if (!writing || __atomic_load_n(&stop, __ATOMIC_RELAXED))
			break;
		for (i = 0; i < STRESS_SLOTS; i++) {
			if (slots[i].ud)
				continue;
			gen++;
			slots[i].ud = ((__u64)gen << 8) | i;
			iou_prep_read(get_sqe(_metadata, &self->ring), self->rfd,
				      self->buf + i * SLOT, MIX_REC, IOU_POS_CUR, slots[i].ud);
			submit_n(_metadata, &self->ring, 1);
		}
		i = rand_r(&seed) % (4 * STRESS_SLOTS);
		if (i < STRESS_SLOTS && !slots[i].cancel_sent && !slots[i].read_done) {
			slots[i].cancel_sent = true;
			iou_prep_cancel(get_sqe(_metadata, &self->ring), slots[i].ud, 0,
					slots[i].ud | STRESS_CANCEL);
			submit_n(_metadata, &self->ring, 1);
		}
		ret = iou_wait_cqe(&self->ring, &cqe, 2);
		ASSERT_TRUE(!ret || ret == -ETIME) TH_LOG("wait: %s", strerror(-ret));
		while (!iou_peek_cqe(&self->ring, &cqe)) {
			stress_cqe(_metadata, self, slots, cqe, seen, stats, false);
			iou_cqe_seen(&self->ring);
		}
	}

	/* Stop the writers, then EOF for the thief and the pending reads. */
	__atomic_store_n(&stop, true, __ATOMIC_RELAXED);
	for (i = 0; i < 2; i++) {
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += COMPLETE_MS / 1000;
		ret = pthread_timedjoin_np(wt[i], NULL, &ts);
		ASSERT_EQ(0, ret) TH_LOG("writer %u stuck", i);
		ASSERT_EQ(0, w[i].err) TH_LOG("writer %u: %s", i, strerror(w[i].err));
	}
	ASSERT_EQ(0, close(self->wfd));
	self->wfd = -1;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += COMPLETE_MS / 1000;
	ret = pthread_timedjoin_np(tt, NULL, &ts);
	ASSERT_EQ(0, ret) TH_LOG("the read(2) thief did not see EOF");
	ASSERT_EQ(0, thief.err) TH_LOG("thief: %s", strerror(thief.err));
	ASSERT_EQ(0U, thief.bad);

	for (;;) {
		for (i = 0, busy = 0; i < STRESS_SLOTS; i++)
			busy += !!slots[i].ud;
		if (!busy)
			break;
		ret = iou_wait_cqe(&self->ring, &cqe, COMPLETE_MS);
		ASSERT_EQ(0, ret) TH_LOG("%u reads still pending after EOF", busy);
		stress_cqe(_metadata, self, slots, cqe, seen, stats, true);
		iou_cqe_seen(&self->ring);
	}
	assert_no_cqe(_metadata, &self->ring);
	ASSERT_EQ(0, pipe_bytes(_metadata, self->rfd));

	for (i = 0; i < 2; i++) {
		for (k = 0; k < STRESS_RECORDS; k++) {
			int times = seen[i + 2 * k];
			int want = k < w[i].written;

			ASSERT_EQ(want, times) TH_LOG("record %u of writer %u delivered %d times",
						      k, i, times);
		}
	}
	TH_LOG("%u records in %lld ms: ring %lu, thief %u; %lu reads cancelled",
	       w[0].written + w[1].written, (long long)((iou_now_ns() - start) / 1000000),
	       stats[0], thief.records, stats[1]);
	ASSERT_EQ(w[0].written + w[1].written, stats[0] + thief.records);

	wait_pinned(_metadata, self->ring.fd, variant->inline_read, c0.pinned);
	counters(_metadata, self, variant, &c1);
	if (variant->inline_read)
		check_balance(_metadata, &c0, &c1);
}

/* Cases that stay on (or go back to) the stock path on an INLINE_READ ring. */

/*
 * IOSQE_ASYNC: the read is issued from io-wq, which arms a poll handler.
 * ASSUMES: reads issued from io-wq do not wait inline (issue 3: "IOSQE_ASYNC
 * stays on io-wq"); DESIGN.md section 4 mentions arming from io-wq: if the
 * series does that, drop the InlineReadArmed check.
 */
TEST_F(inl, async_flag_stays_stock)
{
	struct inl_counters c0, c1;
	struct io_uring_cqe cqe;
	struct io_uring_sqe *sqe;

	counters(_metadata, self, variant, &c0);
	sqe = queue_read(_metadata, self, 0, UD_READ);
	sqe->flags |= IOSQE_ASYNC;
	submit_n(_metadata, &self->ring, 1);
	assert_no_cqe(_metadata, &self->ring);
	counters(_metadata, self, variant, &c1);
	ASSERT_EQ((unsigned long long)c0.armed, (unsigned long long)c1.armed)
		TH_LOG("an IOSQE_ASYNC read armed inline");

	write_pattern(_metadata, self->wfd, 50, 6);
	reap_cqe(_metadata, &self->ring, &cqe);
	ASSERT_EQ(UD_READ, cqe.user_data);
	ASSERT_EQ(50, cqe.res);
	check_pattern(_metadata, self->buf, 50, 6);
	counters(_metadata, self, variant, &c1);
	ASSERT_EQ((unsigned long long)c0.armed, (unsigned long long)c1.armed);
}

/* IOSQE_BUFFER_SELECT (provided buffers) is not eligible: it needs uring_lock to complete. */
TEST_F(inl, buffer_select_stays_stock)
{
	struct inl_counters c0, c1;
	struct io_uring_cqe cqe;
	struct io_uring_sqe *sqe;
	unsigned int bid;

	iou_prep_provide_buffers(get_sqe(_metadata, &self->ring), self->buf, SLOT, 2, 7, 0,
				 UD_PROVIDE);
	submit_n(_metadata, &self->ring, 1);
	reap_cqe(_metadata, &self->ring, &cqe);
	ASSERT_EQ(UD_PROVIDE, cqe.user_data);
	ASSERT_LE(0, cqe.res) TH_LOG("provide buffers: %s", strerror(-cqe.res));

	counters(_metadata, self, variant, &c0);
	sqe = get_sqe(_metadata, &self->ring);
	iou_prep_read(sqe, self->rfd, NULL, SLOT, IOU_POS_CUR, UD_READ);
	sqe->flags |= IOSQE_BUFFER_SELECT;
	sqe->buf_group = 7;
	submit_n(_metadata, &self->ring, 1);
	assert_no_cqe(_metadata, &self->ring);
	counters(_metadata, self, variant, &c1);
	ASSERT_EQ((unsigned long long)c0.armed, (unsigned long long)c1.armed)
		TH_LOG("a buffer-select read armed inline");

	write_pattern(_metadata, self->wfd, 30, 7);
	reap_cqe(_metadata, &self->ring, &cqe);
	ASSERT_EQ(UD_READ, cqe.user_data);
	ASSERT_EQ(30, cqe.res);
	ASSERT_NE(0U, cqe.flags & IORING_CQE_F_BUFFER);
	bid = cqe.flags >> IORING_CQE_BUFFER_SHIFT;
	ASSERT_GT(2U, bid);
	check_pattern(_metadata, self->buf + bid * SLOT, 30, 7);
	counters(_metadata, self, variant, &c1);
	ASSERT_EQ((unsigned long long)c0.armed, (unsigned long long)c1.armed);
}

/* RWF_NOWAIT on an empty pipe fails at once with -EAGAIN, as on stock. */
TEST_F(inl, rwf_nowait_fails_fast)
{
	struct inl_counters c0, c1;
	struct io_uring_cqe cqe;
	struct io_uring_sqe *sqe;

	counters(_metadata, self, variant, &c0);
	sqe = queue_read(_metadata, self, 0, UD_READ);
	sqe->rw_flags = RWF_NOWAIT;
	submit_n(_metadata, &self->ring, 1);
	reap_cqe(_metadata, &self->ring, &cqe);
	ASSERT_EQ(-EAGAIN, cqe.res);
	counters(_metadata, self, variant, &c1);
	ASSERT_EQ((unsigned long long)c0.armed, (unsigned long long)c1.armed);

	write_pattern(_metadata, self->wfd, 10, 8);
	assert_no_cqe(_metadata, &self->ring);
	ASSERT_EQ(10, pipe_bytes(_metadata, self->rfd));
	check_fill(_metadata, self->buf, self->buf_len);
}

/*
 * An O_NONBLOCK pipe: io_uring still waits for data (pipes support nowait,
 * so O_NONBLOCK does not set REQ_F_NOWAIT), whatever the path.
 * ASSUMES: the read stays pending and completes with the data.
 */
TEST_F(inl, nonblock_pipe_read_completes)
{
	int fl = fcntl(self->rfd, F_GETFL);
	struct io_uring_cqe cqe;

	ASSERT_NE(-1, fl);
	ASSERT_EQ(0, fcntl(self->rfd, F_SETFL, fl | O_NONBLOCK));
	queue_read(_metadata, self, 0, UD_READ);
	submit_n(_metadata, &self->ring, 1);
	assert_no_cqe(_metadata, &self->ring);

	write_pattern(_metadata, self->wfd, 20, 9);
	reap_cqe(_metadata, &self->ring, &cqe);
	ASSERT_EQ(20, cqe.res) TH_LOG("read res %d", cqe.res);
	check_pattern(_metadata, self->buf, 20, 9);
	check_fill(_metadata, self->buf + 20, SLOT - 20);
}

/*
 * Writers other than write(2) wake the reader through wakeup_pipe_readers()
 * and hand the read back to the stock path; the data must still arrive.
 */
static void other_writer(struct __test_metadata *_metadata, struct _test_data_inl *self,
			 const FIXTURE_VARIANT(inl) *variant, bool use_vmsplice)
{
	const size_t len = 40;
	struct inl_counters c0, c1;
	struct io_uring_cqe cqe;
	loff_t off = 0;
	struct iovec iov;
	char *src;
	int mfd;

	src = mmap(NULL, self->page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, src);
	fill_pattern(src, len, 10);

	counters(_metadata, self, variant, &c0);
	pending_reads(_metadata, self, variant, 1, false, &c0);

	if (use_vmsplice) {
		iov.iov_base = src;
		iov.iov_len = len;
		ASSERT_EQ((ssize_t)len, vmsplice(self->wfd, &iov, 1, 0))
			TH_LOG("vmsplice: %s", strerror(errno));
	} else {
		mfd = memfd_create("pipe_inline", 0);
		ASSERT_LE(0, mfd) TH_LOG("memfd_create: %s", strerror(errno));
		ASSERT_EQ((ssize_t)len, write(mfd, src, len));
		ASSERT_EQ((ssize_t)len, splice(mfd, &off, self->wfd, NULL, len, 0))
			TH_LOG("splice: %s", strerror(errno));
		close(mfd);
	}

	reap_cqe(_metadata, &self->ring, &cqe);
	ASSERT_EQ(UD_READ, cqe.user_data);
	ASSERT_EQ((int)len, cqe.res) TH_LOG("read res %d", cqe.res);
	check_pattern(_metadata, self->buf, len, 10);
	check_fill(_metadata, self->buf + len, SLOT - len);
	ASSERT_EQ(0, pipe_bytes(_metadata, self->rfd));

	wait_pinned(_metadata, self->ring.fd, variant->inline_read, c0.pinned);
	counters(_metadata, self, variant, &c1);
	if (variant->inline_read) {
		TH_LOG("completed inline %llu, fallback %llu",
		       (unsigned long long)(c1.completed - c0.completed),
		       (unsigned long long)(c1.fallback - c0.fallback));
		check_balance(_metadata, &c0, &c1);
	}
	munmap(src, self->page);
}

TEST_F(inl, vmsplice_writer)
{
	other_writer(_metadata, self, variant, true);
}

TEST_F(inl, splice_writer)
{
	other_writer(_metadata, self, variant, false);
}

/*
 * The ring's own IORING_OP_WRITE to the pipe completes a pending read on the
 * same ring: the write runs in the submitter with uring_lock held, so the
 * inline path must not take it again. A forked child submits and waits, so a
 * deadlock fails the test instead of hanging it; the buffer is MAP_SHARED so
 * the parent can check it.
 */
static void own_ring_write(struct __test_metadata *_metadata, struct _test_data_inl *self,
			   const FIXTURE_VARIANT(inl) *variant, bool async)
{
	const size_t len = 48;
	struct inl_counters c0, c1;
	struct io_uring_cqe cqes[2];
	struct io_uring_sqe *sqe;
	char *shared;
	unsigned int i;

	shared = mmap(NULL, self->page, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
		      -1, 0);
	ASSERT_NE(MAP_FAILED, shared);
	memset(shared, FILL, self->page);
	fill_pattern(shared + 2048, len, 12);
	ring_for_child(_metadata, self, variant);
	counters(_metadata, self, variant, &c0);

	self->child = fork();
	ASSERT_NE(-1, self->child);
	if (!self->child) {
		if (child_take_ring(&self->ring))
			_exit(CHILD_SETUP);
		child_queue_read(&self->ring, self->rfd, shared, 256, UD_READ);
		if (iou_submit(&self->ring) != 1)
			_exit(CHILD_SUBMIT);
		if (iou_cq_ready(&self->ring))
			_exit(CHILD_EARLY_CQE);
		/* Reuse the read's helper for the SQE, then make it a write. */
		sqe = child_queue_read(&self->ring, self->wfd, shared + 2048, len, UD_WRITE);
		sqe->opcode = IORING_OP_WRITE;
		if (async)
			sqe->flags |= IOSQE_ASYNC;
		if (iou_submit(&self->ring) != 1)
			_exit(CHILD_SUBMIT);
		_exit(iou_wait_nr(&self->ring, 2, COMPLETE_MS) ? CHILD_NO_CQE : CHILD_OK);
	}
	join_child(_metadata, &self->child, COMPLETE_MS + CLOSE_MS);

	/* The child reaped (DEFER: flushed) both; read them from the ring memory. */
	ASSERT_EQ(2U, iou_cq_ready(&self->ring));
	for (i = 0; i < 2; i++) {
		struct io_uring_cqe *cqe;

		ASSERT_EQ(0, iou_peek_cqe(&self->ring, &cqe));
		cqes[i] = *cqe;
		iou_cqe_seen(&self->ring);
	}
	ASSERT_EQ((int)len, cqe_res(_metadata, cqes, 2, UD_WRITE));
	ASSERT_EQ((int)len, cqe_res(_metadata, cqes, 2, UD_READ));
	check_pattern(_metadata, shared, len, 12);
	check_fill(_metadata, shared + len, 256 - len);
	ASSERT_EQ(0, pipe_bytes(_metadata, self->rfd));

	wait_pinned(_metadata, self->ring.fd, variant->inline_read, c0.pinned);
	counters(_metadata, self, variant, &c1);
	if (variant->inline_read) {
		ASSERT_EQ((unsigned long long)c0.armed + 1, (unsigned long long)c1.armed);
		check_balance(_metadata, &c0, &c1);
	}
	munmap(shared, self->page);
}

TEST_F(inl, own_ring_write)
{
	own_ring_write(_metadata, self, variant, false);
}

/* The same with IOSQE_ASYNC on the write: the writer is an io-wq worker. */
TEST_F(inl, own_ring_write_async)
{
	own_ring_write(_metadata, self, variant, true);
}

/* Bad input. */

/* IORING_SETUP_INLINE_READ with IORING_SETUP_IOPOLL is refused. */
TEST(inline_read_rejects_iopoll)
{
	struct iou_ring ring;
	int ret;

	if (!inline_read_supported())
		SKIP(return, "kernel lacks IORING_FEAT_INLINE_READ");
	ret = iou_setup(&ring, 4, IORING_SETUP_INLINE_READ | IORING_SETUP_IOPOLL);
	iou_exit(&ring);
	ASSERT_EQ(-EINVAL, ret);
}

/*
 * A zero-length read neither hangs nor consumes anything.
 * ASSUMES: as on stock, it completes with 0 at once (pipe_read() returns 0
 * for an empty request before looking at the pipe), never waiting inline.
 */
TEST_F(inl, zero_length_read)
{
	struct inl_counters c0, c1;
	struct io_uring_cqe cqe;

	counters(_metadata, self, variant, &c0);
	iou_prep_read(get_sqe(_metadata, &self->ring), self->rfd, self->buf, 0, IOU_POS_CUR,
		      UD_READ);
	submit_n(_metadata, &self->ring, 1);
	reap_cqe(_metadata, &self->ring, &cqe);
	ASSERT_EQ(0, cqe.res);
	counters(_metadata, self, variant, &c1);
	ASSERT_EQ((unsigned long long)c0.armed, (unsigned long long)c1.armed);

	write_pattern(_metadata, self->wfd, 10, 13);
	assert_no_cqe(_metadata, &self->ring);
	ASSERT_EQ(10, pipe_bytes(_metadata, self->rfd));
	check_fill(_metadata, self->buf, self->buf_len);
}

/*
 * A read into memory the reader cannot write: -EFAULT, and the data stays in
 * the pipe.  An inline read is bound to its pages at submission, so it fails
 * there, before any data arrives; the stock path fails when the data arrives
 * and the copy faults.
 */
static void efault_read(struct __test_metadata *_metadata, struct _test_data_inl *self,
			const FIXTURE_VARIANT(inl) *variant, bool unmapped)
{
	struct inl_counters c0, c1;
	struct io_uring_cqe cqe;
	char out[64];
	char *p;
	int ret;

	p = mmap(NULL, self->page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, p);
	memset(p, FILL, self->page);
	if (unmapped)
		ret = munmap(p, self->page);
	else
		ret = mprotect(p, self->page, PROT_READ);
	ASSERT_EQ(0, ret) TH_LOG("%s: %s", unmapped ? "munmap" : "mprotect", strerror(errno));

	counters(_metadata, self, variant, &c0);
	iou_prep_read(get_sqe(_metadata, &self->ring), self->rfd, p, sizeof(out), IOU_POS_CUR,
		      UD_READ);
	submit_n(_metadata, &self->ring, 1);
	if (!variant->inline_read)
		write_pattern(_metadata, self->wfd, sizeof(out), 14);
	reap_cqe(_metadata, &self->ring, &cqe);
	ASSERT_EQ(UD_READ, cqe.user_data);
	ASSERT_EQ(-EFAULT, cqe.res) TH_LOG("read res %d", cqe.res);
	if (variant->inline_read) {
		counters(_metadata, self, variant, &c1);
		ASSERT_EQ((unsigned long long)c0.armed, (unsigned long long)c1.armed)
			TH_LOG("an unwritable buffer was armed");
		write_pattern(_metadata, self->wfd, sizeof(out), 14);
	}
	assert_no_cqe(_metadata, &self->ring);

	ASSERT_EQ((int)sizeof(out), pipe_bytes(_metadata, self->rfd)) TH_LOG("data was consumed");
	read_nonblock(_metadata, self->rfd, out, sizeof(out));
	check_pattern(_metadata, out, sizeof(out), 14);
	if (!unmapped) {
		check_fill(_metadata, p, self->page);
		munmap(p, self->page);
	}

	wait_pinned(_metadata, self->ring.fd, variant->inline_read, c0.pinned);
	counters(_metadata, self, variant, &c1);
	if (variant->inline_read)
		check_balance(_metadata, &c0, &c1);
}

TEST_F(inl, readonly_buffer_efault)
{
	efault_read(_metadata, self, variant, false);
}

TEST_F(inl, unmapped_buffer_efault)
{
	efault_read(_metadata, self, variant, true);
}

/*
 * A readv whose first segment is writable and whose second is not mapped:
 * the pin fails, but a read may fill the first segment only, so the read is
 * not failed at submission (only a read whose first page cannot be written
 * is); it takes the stock path and gets the data, as on a stock ring.
 */
TEST_F(inl, partly_unmapped_readv)
{
	struct io_uring_cqe cqe;
	struct iovec iov[2];
	char *p;

	p = mmap(NULL, 2 * self->page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		 -1, 0);
	ASSERT_NE(MAP_FAILED, p);
	ASSERT_EQ(0, munmap(p + self->page, self->page));
	memset(p, FILL, self->page);
	iov[0] = (struct iovec){ .iov_base = p, .iov_len = 64 };
	iov[1] = (struct iovec){ .iov_base = p + self->page, .iov_len = 64 };
	iou_prep_readv(get_sqe(_metadata, &self->ring), self->rfd, iov, 2, IOU_POS_CUR, UD_READ);
	submit_n(_metadata, &self->ring, 1);
	assert_no_cqe(_metadata, &self->ring);
	write_pattern(_metadata, self->wfd, 64, 15);
	reap_cqe(_metadata, &self->ring, &cqe);
	ASSERT_EQ(UD_READ, cqe.user_data);
	ASSERT_EQ(64, cqe.res) TH_LOG("read res %d", cqe.res);
	check_pattern(_metadata, p, 64, 15);
	check_fill(_metadata, p + 64, self->page - 64);
	munmap(p, self->page);
}

TEST_HARNESS_MAIN
