// SPDX-License-Identifier: GPL-2.0
/*
 * io_uring reads of eventfds completed in the writer's context
 * (IORING_SETUP_INLINE_READ).
 *
 * On a ring created with IORING_SETUP_INLINE_READ, a READ, READV or
 * READ_FIXED of an eventfd whose counter is 0 waits inline: write(2) on the
 * eventfd consumes the counter as eventfd_read() does (all of it, or 1 with
 * EFD_SEMAPHORE), copies the 8-byte value into the reader's buffer and (on
 * every ring type but DEFER_TASKRUN) posts the CQE before it returns, even
 * when the reader is stopped. Kernel-internal eventfd_signal() calls, such as
 * io_uring's own IORING_REGISTER_EVENTFD notification, hand pending reads back
 * to the stock path (task_work to the submitter): InlineReadFallback. Without
 * the flag the kernel behaves as stock: the wake-up queues task_work to the
 * submitter, which retries the read in its own context.
 *
 * Fixtures:
 *  - stopped: the proof. A forked reader arms a read and stops itself with
 *    SIGSTOP; the parent writes the eventfd (or has another ring signal it)
 *    and inspects the shared CQ ring, the buffer and the counter. Runs on
 *    rings with and without the flag.
 *  - efd: semantics (counter consumption, EFD_SEMAPHORE, short buffers, every
 *    cancel selector, registered eventfds, races with exact accounting, ring
 *    close and task exit) on plain and DEFER_TASKRUN rings, with and without
 *    the flag. The variants without the flag run on any kernel.
 *
 * The eventfd counter is read from /proc/self/fdinfo/<efd> ("eventfd-count"),
 * the ring's counters from its fdinfo: InlineReadArmed, InlineReadCompleted,
 * InlineReadFallback, InlineReadCancelled and InlineReadPinned.
 *
 * The race tests stop after RACE_WRITES writes or RACE_MS of wall time, which
 * $IOU_RACE_ITERS and $IOU_RACE_MS override; $IOU_SEED (logged) sets the seed.
 *
 * Tests of the feature SKIP when the kernel does not report
 * IORING_FEAT_INLINE_READ. Every wait is bounded, so a broken kernel fails a
 * test instead of hanging the run; writes that could deadlock in the kernel
 * (a ring reading its own CQ eventfd) run in a forked child. Assumptions
 * about semantics the series does not spell out are marked "ASSUMES:".
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/uio.h>
#include <sys/wait.h>

#include "../kselftest_harness.h"
#include "inline_test.h"

#ifndef RWF_NOWAIT
#define RWF_NOWAIT		0x00000008
#endif

#define RING_ENTRIES		32
/* How long a stopped reader is watched for a CQE that must not appear. */
#define STOPPED_MS		200

#define FILL			0xaa
/* Per-read slot in the efd fixture's buffer. */
#define SLOT			64
#define NR_SLOTS		16
/* An eventfd read always returns this many bytes. */
#define EFD_LEN			((int)sizeof(uint64_t))
/* What the stopped-reader proof writes: every byte differs. */
#define PROOF_VAL		0x0807060504030201ULL
/* The largest counter value write(2) accepts (ULLONG_MAX - 1). */
#define EFD_MAX			0xfffffffffffffffeULL

#define UD_READ			0x1000ULL
#define UD_CANCEL		0x2000ULL
#define UD_NOP			0x3000ULL

/* Exit codes of forked helpers: nothing in a child may use ASSERT_*(). */
enum {
	CHILD_OK,
	CHILD_SETUP = 10,	/* prctl(), setting up, enabling or registering failed */
	CHILD_SUBMIT,		/* io_uring_enter() did not submit the request */
	CHILD_EARLY_CQE,	/* a CQE appeared before anything was written */
	CHILD_NO_CQE,		/* the expected CQE(s) did not appear in time */
	CHILD_WRITE,		/* write(2) failed */
};

static const char *child_error(int code)
{
	switch (code) {
	case CHILD_OK:
		return "ok";
	case CHILD_SETUP:
		return "setting up (prctl, setup, enable, register) failed";
	case CHILD_SUBMIT:
		return "submission failed";
	case CHILD_EARLY_CQE:
		return "CQE before anything was written";
	case CHILD_NO_CQE:
		return "no CQE in time";
	case CHILD_WRITE:
		return "write failed";
	}
	return "unknown exit code";
}

/* Generic helpers. */

static uint64_t get_u64(const char *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

/* Eventfd helpers. */

/* The counter of eventfd @efd, from its fdinfo. Returns 0 or a negative errno. */
static int efd_count(int efd, uint64_t *val)
{
	char path[64], line[128];
	unsigned long long v;
	int ret = -ENOENT;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", efd);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		/* "eventfd-count: %16llx" */
		if (sscanf(line, "eventfd-count: %llx", &v) == 1) {
			*val = v;
			ret = 0;
			break;
		}
	}
	fclose(f);
	return ret;
}

static uint64_t efd_counter(struct __test_metadata *_metadata, int efd)
{
	uint64_t val = 0;
	int ret;

	ret = efd_count(efd, &val);
	ASSERT_EQ(0, ret) TH_LOG("eventfd-count of fd %d: %s", efd, strerror(-ret));
	return val;
}

static void efd_write(struct __test_metadata *_metadata, int efd, uint64_t val)
{
	ASSERT_EQ((ssize_t)sizeof(val), write(efd, &val, sizeof(val)))
		TH_LOG("write(eventfd, %llu): %s", (unsigned long long)val, strerror(errno));
}

/*
 * read(2) the counter with O_NONBLOCK set, so that an empty counter fails
 * fast instead of blocking: returns the value read, or 0 if the counter was
 * 0. Only used while no io_uring read of @efd is pending.
 */
static uint64_t efd_read_nb(struct __test_metadata *_metadata, int efd)
{
	int fl = fcntl(efd, F_GETFL), err;
	uint64_t val = 0;
	ssize_t n;

	ASSERT_NE(-1, fl);
	ASSERT_EQ(0, fcntl(efd, F_SETFL, fl | O_NONBLOCK));
	n = read(efd, &val, sizeof(val));
	err = errno;
	ASSERT_EQ(0, fcntl(efd, F_SETFL, fl));
	if (n < 0 && err == EAGAIN)
		return 0;
	ASSERT_EQ((ssize_t)sizeof(val), n) TH_LOG("read(eventfd): %s", strerror(err));
	return val;
}

static void register_eventfd(struct __test_metadata *_metadata, struct iou_ring *ring, int efd)
{
	int ret = iou_sys_register(ring->fd, IORING_REGISTER_EVENTFD, &efd, 1);

	ASSERT_EQ(0, ret) TH_LOG("IORING_REGISTER_EVENTFD: %s", strerror(-ret));
}

/*
 * A ring that registered eventfd E (IORING_REGISTER_EVENTFD) adds to E's
 * counter by itself. With @got the sum of the values read from E plus its
 * counter at the end and @written the sum written to it with write(2), the
 * ring signalled E got - written times; @ncqe is the number of CQEs the ring
 * posted.
 * ASSUMES (6.12 io_uring/eventfd.c): a ring without DEFER_TASKRUN signals
 * once per flush that posted CQEs, and in these tests every CQE is posted by
 * a flush of its own (the next read can only complete once the previous CQE
 * signalled), so that is @ncqe times. A DEFER_TASKRUN ring also signals when
 * it queues local work on an empty list (from an RCU callback when that
 * happens inside an eventfd wake-up), so there it is 1 to 2 * @ncqe times.
 */
static void check_ring_signals(struct __test_metadata *_metadata, uint64_t got, uint64_t written,
			       unsigned int ncqe, bool defer)
{
	unsigned long long sig;

	ASSERT_LE(written, got) TH_LOG("%llu written, but only %llu read or left",
				       (unsigned long long)written, (unsigned long long)got);
	sig = got - written;
	TH_LOG("the ring signalled the eventfd %llu times for %u CQEs", sig, ncqe);
	if (!defer) {
		ASSERT_EQ((unsigned long long)ncqe, sig) TH_LOG("a count was lost or made up");
		return;
	}
	ASSERT_LE(1ULL, sig) TH_LOG("a count was lost");
	ASSERT_GE(2ULL * ncqe, sig) TH_LOG("a count was made up");
}

/* Processes. */

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

/*
 * Fork a process that sleeps @delay_ms, then writes @val to eventfd @efd. A
 * write that deadlocks in the kernel then fails the test (the child does not
 * exit in time) instead of hanging it.
 */
static pid_t spawn_writer(struct __test_metadata *_metadata, int efd, uint64_t val,
			  unsigned int delay_ms)
{
	pid_t pid = fork();

	ASSERT_NE(-1, pid) TH_LOG("fork: %s", strerror(errno));
	if (!pid) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		iou_sleep_us(delay_ms * 1000);
		_exit(write(efd, &val, sizeof(val)) == (ssize_t)sizeof(val) ? CHILD_OK :
									    CHILD_WRITE);
	}
	return pid;
}

/* In a child: queue a read (no ASSERT_*() there). Returns the SQE or exits. */
static struct io_uring_sqe *child_queue_read(struct iou_ring *ring, int fd, void *buf,
					     __u32 len, __u64 ud)
{
	struct io_uring_sqe *sqe = iou_get_sqe(ring);

	if (!sqe)
		_exit(CHILD_SUBMIT);
	iou_prep_read(sqe, fd, buf, len, 0, ud);
	return sqe;
}

/* Rings. */

/* Queue (not submit) a read of @len bytes of @fd into @buf (offset 0: eventfds ignore it). */
static struct io_uring_sqe *queue_read(struct __test_metadata *_metadata, struct iou_ring *ring,
				       int fd, char *buf, __u32 len, __u64 ud)
{
	struct io_uring_sqe *sqe = get_sqe(_metadata, ring);

	iou_prep_read(sqe, fd, buf, len, 0, ud);
	return sqe;
}

/* fdinfo counters of a ring. */

/*
 * Stopped-reader proof.
 *
 * The parent creates the ring, the eventfd and a MAP_SHARED buffer, then
 * forks the reader, which submits the read itself (on SINGLE_ISSUER rings it
 * first enables the R_DISABLED ring, which makes it the submitter) and stops
 * with SIGSTOP. The stock path retries the read in task_work of the
 * submitter, so had the parent submitted, the stock path would run in the
 * very write(2) that bumps the counter and prove nothing. The parent only
 * writes the eventfd and reads the ring memory, the buffer and the counter;
 * it never enters the ring.
 *
 * On an SQPOLL ring the SQ thread submits and runs the stock task_work: it
 * belongs to the parent and is not stopped, so the stock path completes the
 * read while the reader is stopped too; there is no stock SQPOLL variant.
 */

enum read_kind {
	KIND_READ,
	KIND_READV,
	KIND_READ_FIXED,
	KIND_STRADDLE,
	KIND_SEMAPHORE,
};

struct read_plan {
	enum read_kind kind;
	struct iovec dst[2];	/* where the reader's buffer(s) are */
	int nr_dst;
	struct iovec fixed;	/* the registered buffer, for READ_FIXED */
	bool semaphore;		/* EFD_SEMAPHORE */
	uint64_t wval;		/* what the writer writes */
	uint64_t rval;		/* what the read gets */
	uint64_t left;		/* what the counter keeps */
};

FIXTURE(stopped) {
	struct iou_ring ring;
	struct iou_ring sig;	/* another ring that signals the eventfd */
	int efd;
	pid_t child;
	size_t page;
	char *region;		/* MAP_SHARED: the reader's buffers, seen by both */
	size_t region_len;
	char *expect;		/* what the region must hold once the read is done */
	bool inl;
	bool defer;
	bool sqpoll;
};

#define INL_VARIANTS_OF stopped
#include "ring_variants.h"

FIXTURE_SETUP(stopped)
{
	unsigned int flags = variant->setup_flags;
	int ret;

	self->ring.fd = -1;
	self->sig.fd = -1;
	self->efd = -1;
	self->child = -1;
	self->region = MAP_FAILED;
	self->expect = NULL;
	self->inl = variant->inline_read;
	self->defer = flags & IORING_SETUP_DEFER_TASKRUN;
	self->sqpoll = flags & IORING_SETUP_SQPOLL;

	if (self->inl && !inline_read_supported())
		SKIP(return, "kernel lacks IORING_FEAT_INLINE_READ");

	self->page = sysconf(_SC_PAGESIZE);
	self->region_len = 2 * self->page;
	self->region = mmap(NULL, self->region_len, PROT_READ | PROT_WRITE,
			    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, self->region);
	self->expect = malloc(self->region_len);
	ASSERT_NE(NULL, self->expect);

	if (self->inl)
		flags |= IORING_SETUP_INLINE_READ;
	/* The child becomes the submitter when it enables the ring. */
	if (flags & IORING_SETUP_SINGLE_ISSUER)
		flags |= IORING_SETUP_R_DISABLED;
	ret = iou_setup(&self->ring, RING_ENTRIES, flags);
	ASSERT_EQ(0, ret) TH_LOG("io_uring_setup(%#x): %s", flags, strerror(-ret));
	if (!(self->ring.features & IORING_FEAT_EXT_ARG))
		SKIP(return, "no IORING_FEAT_EXT_ARG: waits cannot be bounded");
}

FIXTURE_TEARDOWN(stopped)
{
	kill_child(&self->child);
	iou_exit(&self->sig);
	iou_exit(&self->ring);
	if (self->efd >= 0)
		close(self->efd);
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
	pl->wval = PROOF_VAL;
	pl->rval = PROOF_VAL;
	switch (kind) {
	case KIND_READ:
		/* A 32-byte buffer: the read gets 8 bytes, the rest stays untouched. */
		pl->dst[0] = (struct iovec){ self->region, 32 };
		break;
	case KIND_READV:
		/* 4 + 12 bytes with a gap: the value is split 4/4 between the iovecs. */
		pl->dst[0] = (struct iovec){ self->region, 4 };
		pl->dst[1] = (struct iovec){ self->region + 64, 12 };
		pl->nr_dst = 2;
		break;
	case KIND_READ_FIXED:
		/* At an offset into a registered buffer covering the region. */
		pl->fixed = (struct iovec){ self->region, self->region_len };
		pl->dst[0] = (struct iovec){ self->region + 100, 16 };
		break;
	case KIND_STRADDLE:
		/* 4 bytes at the end of page 0, 4 at the start of page 1. */
		pl->dst[0] = (struct iovec){ self->region + self->page - 4, 8 };
		break;
	case KIND_SEMAPHORE:
		/* EFD_SEMAPHORE: a write of 3 lets one read take 1 and leaves 2. */
		pl->dst[0] = (struct iovec){ self->region, 32 };
		pl->semaphore = true;
		pl->wval = 3;
		pl->rval = 1;
		pl->left = 2;
		break;
	}
}

/* What the region holds once @pl's read got @pl->rval. */
static void plan_expect(struct _test_data_stopped *self, const struct read_plan *pl)
{
	const char *val = (const char *)&pl->rval;
	size_t left = sizeof(pl->rval), off = 0, n;
	int i;

	memset(self->expect, FILL, self->region_len);
	for (i = 0; i < pl->nr_dst && left; i++) {
		n = pl->dst[i].iov_len < left ? pl->dst[i].iov_len : left;
		memcpy(self->expect + ((char *)pl->dst[i].iov_base - self->region), val + off, n);
		off += n;
		left -= n;
	}
}

/* The reader: submit the read, stop, and once continued reap (not consume) its CQE. */
static __noreturn void stopped_reader(struct iou_ring *ring, int efd, const struct read_plan *pl)
{
	struct io_uring_cqe *cqe;
	struct io_uring_sqe *sqe;

	if (child_take_ring(ring))
		_exit(CHILD_SETUP);
	if (pl->kind == KIND_READ_FIXED && iou_register_buffers(ring, &pl->fixed, 1))
		_exit(CHILD_SETUP);

	sqe = iou_get_sqe(ring);
	if (!sqe)
		_exit(CHILD_SUBMIT);
	switch (pl->kind) {
	case KIND_READ:
	case KIND_STRADDLE:
	case KIND_SEMAPHORE:
		iou_prep_read(sqe, efd, pl->dst[0].iov_base, pl->dst[0].iov_len, 0, UD_READ);
		break;
	case KIND_READV:
		iou_prep_readv(sqe, efd, pl->dst, pl->nr_dst, 0, UD_READ);
		break;
	case KIND_READ_FIXED:
		iou_prep_read_fixed(sqe, efd, pl->dst[0].iov_base, pl->dst[0].iov_len, 0, 0,
				    UD_READ);
		break;
	}
	/* On return the read has been issued and found the counter at 0. */
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

/* Create the eventfd for @pl, fork the reader and wait until it has stopped. */
static void start_stopped_reader(struct __test_metadata *_metadata, struct _test_data_stopped *self,
				 const struct read_plan *pl)
{
	int status, ret;

	self->child = fork();
	ASSERT_NE(-1, self->child) TH_LOG("fork: %s", strerror(errno));
	if (!self->child)
		stopped_reader(&self->ring, self->efd, pl);

	ret = wait_child(self->child, &status, WUNTRACED, COMPLETE_MS);
	ASSERT_EQ(0, ret) TH_LOG("the reader did not stop within %d ms", COMPLETE_MS);
	if (WIFEXITED(status))
		self->child = -1;
	ASSERT_TRUE(WIFSTOPPED(status)) TH_LOG("the reader ended early: %s",
					       WIFEXITED(status) ?
					       child_error(WEXITSTATUS(status)) : "signal");
}

/* Set up the eventfd and the expected region for @pl, clear the region. */
static void prepare_plan(struct __test_metadata *_metadata, struct _test_data_stopped *self,
			 const struct read_plan *pl)
{
	self->efd = eventfd(0, EFD_CLOEXEC | (pl->semaphore ? EFD_SEMAPHORE : 0));
	ASSERT_LE(0, self->efd) TH_LOG("eventfd: %s", strerror(errno));
	memset(self->region, FILL, self->region_len);
	plan_expect(self, pl);
}

/* Once the reader ran again: its CQE and the value are there, whatever the ring type. */
static void check_reader_done(struct __test_metadata *_metadata, struct _test_data_stopped *self,
			      const struct read_plan *pl)
{
	struct io_uring_cqe *cqe;

	ASSERT_EQ(0, kill(self->child, SIGCONT));
	join_child(_metadata, &self->child, COMPLETE_MS);
	ASSERT_EQ(1U, iou_cq_ready(&self->ring));
	ASSERT_EQ(0, iou_peek_cqe(&self->ring, &cqe));
	ASSERT_EQ(UD_READ, cqe->user_data);
	ASSERT_EQ(EFD_LEN, cqe->res) TH_LOG("read res %d", cqe->res);
	iou_cqe_seen(&self->ring);
	check_bytes(_metadata, self->region, self->expect, self->region_len);
	ASSERT_EQ((unsigned long long)pl->left,
		  (unsigned long long)efd_counter(_metadata, self->efd));
}

static void stopped_proof(struct __test_metadata *_metadata, struct _test_data_stopped *self,
			  enum read_kind kind)
{
	struct inl_counters c0, c1, c2;
	struct io_uring_cqe *cqe;
	struct read_plan pl;

	make_plan(self, kind, &pl);
	prepare_plan(_metadata, self, &pl);
	get_counters(_metadata, self->ring.fd, self->inl, &c0);
	start_stopped_reader(_metadata, self, &pl);

	/* The read is pending: no CQE, nothing in the buffer, nothing consumed. */
	ASSERT_EQ(0U, iou_cq_ready(&self->ring));
	check_fill(_metadata, self->region, self->region_len);
	ASSERT_EQ(0ULL, (unsigned long long)efd_counter(_metadata, self->efd));
	get_counters(_metadata, self->ring.fd, self->inl, &c1);
	if (self->inl) {
		/* ASSUMES: InlineReadArmed counts a read when it starts to wait inline. */
		ASSERT_EQ((unsigned long long)c0.armed + 1, (unsigned long long)c1.armed)
			TH_LOG("the read did not arm inline");
		if (kind != KIND_READ_FIXED)
			ASSERT_LT((unsigned long long)c0.pinned, (unsigned long long)c1.pinned)
				TH_LOG("no reader memory pinned for a pending read");
	}

	/* The reader is stopped: from here on only this write can complete the read. */
	efd_write(_metadata, self->efd, pl.wval);

	if (self->inl) {
		/* The count is consumed and the value is in the reader's buffer... */
		check_bytes(_metadata, self->region, self->expect, self->region_len);
		ASSERT_EQ((unsigned long long)pl.left,
			  (unsigned long long)efd_counter(_metadata, self->efd));
		get_counters(_metadata, self->ring.fd, self->inl, &c2);
		/*
		 * ASSUMES: on DEFER_TASKRUN rings InlineReadCompleted counts the
		 * read when the writer consumed the count, not when the reader
		 * posts the CQE.
		 */
		ASSERT_EQ((unsigned long long)c1.completed + 1, (unsigned long long)c2.completed)
			TH_LOG("InlineReadCompleted did not move");
		if (!self->defer) {
			/* ...and so is the CQE, posted by the writer. */
			ASSERT_EQ(1U, iou_cq_ready(&self->ring))
				TH_LOG("no CQE in the CQ ring when write() returned");
			ASSERT_EQ(0, iou_peek_cqe(&self->ring, &cqe));
			ASSERT_EQ(UD_READ, cqe->user_data);
			ASSERT_EQ(EFD_LEN, cqe->res) TH_LOG("read res %d", cqe->res);
		} else {
			/* Only the submitter fills a DEFER_TASKRUN ring's CQ. */
			assert_no_cqe_mem(_metadata, &self->ring, STOPPED_MS);
		}
	} else {
		/* Stock: the retry is task_work of the stopped reader; nothing moves. */
		assert_no_cqe_mem(_metadata, &self->ring, STOPPED_MS);
		check_fill(_metadata, self->region, self->region_len);
		ASSERT_EQ((unsigned long long)pl.wval,
			  (unsigned long long)efd_counter(_metadata, self->efd))
			TH_LOG("the count was consumed while the reader was stopped");
	}

	check_reader_done(_metadata, self, &pl);

	wait_pinned(_metadata, self->ring.fd, self->inl, c0.pinned);
	get_counters(_metadata, self->ring.fd, self->inl, &c2);
	if (self->inl) {
		ASSERT_EQ((unsigned long long)c0.completed + 1, (unsigned long long)c2.completed);
		check_balance(_metadata, &c0, &c2);
	}
}

/* IORING_OP_READ into a 32-byte buffer: 8 bytes, the counter value. */
TEST_F(stopped, read)
{
	stopped_proof(_metadata, self, KIND_READ);
}

/* IORING_OP_READV into a 4-byte and a 12-byte iovec with a gap between them. */
TEST_F(stopped, readv)
{
	stopped_proof(_metadata, self, KIND_READV);
}

/* IORING_OP_READ_FIXED at an offset into a registered buffer. */
TEST_F(stopped, read_fixed)
{
	stopped_proof(_metadata, self, KIND_READ_FIXED);
}

/* An 8-byte buffer straddling a page boundary: both pages get their 4 bytes. */
TEST_F(stopped, read_straddling_pages)
{
	stopped_proof(_metadata, self, KIND_STRADDLE);
}

/* EFD_SEMAPHORE: a write of 3 gives the read 1 and leaves 2. */
TEST_F(stopped, semaphore)
{
	stopped_proof(_metadata, self, KIND_SEMAPHORE);
}

/*
 * A kernel-internal eventfd_signal() does not complete the read inline:
 * another ring that registered the eventfd (IORING_REGISTER_EVENTFD) signals
 * it when it posts the CQE of a NOP. The read goes back to the stock path,
 * task_work of the stopped reader, so nothing moves until it runs again, with
 * or without the flag (and InlineReadFallback counts it).
 */
TEST_F(stopped, ring_signal_takes_stock_path)
{
	struct inl_counters c0, c1, c2;
	struct io_uring_cqe cqe;
	struct read_plan pl;
	unsigned int n;
	int ret;

	make_plan(self, KIND_READ, &pl);
	pl.wval = 0;
	pl.rval = 1;
	prepare_plan(_metadata, self, &pl);
	ret = iou_setup(&self->sig, 4, 0);
	ASSERT_EQ(0, ret) TH_LOG("io_uring_setup: %s", strerror(-ret));
	register_eventfd(_metadata, &self->sig, self->efd);

	get_counters(_metadata, self->ring.fd, self->inl, &c0);
	start_stopped_reader(_metadata, self, &pl);
	get_counters(_metadata, self->ring.fd, self->inl, &c1);
	if (self->inl)
		ASSERT_EQ((unsigned long long)c0.armed + 1, (unsigned long long)c1.armed)
			TH_LOG("the read did not arm inline");

	iou_prep_nop(get_sqe(_metadata, &self->sig), UD_NOP);
	submit_n(_metadata, &self->sig, 1);
	reap_cqe(_metadata, &self->sig, &cqe);
	ASSERT_EQ(UD_NOP, cqe.user_data);
	ASSERT_EQ(0, cqe.res);

	if (!self->sqpoll) {
		assert_no_cqe_mem(_metadata, &self->ring, STOPPED_MS);
		check_fill(_metadata, self->region, self->region_len);
		ASSERT_EQ(1ULL, (unsigned long long)efd_counter(_metadata, self->efd))
			TH_LOG("eventfd_signal() had the count consumed in the signaller");
		get_counters(_metadata, self->ring.fd, self->inl, &c2);
		ASSERT_EQ((unsigned long long)c0.completed, (unsigned long long)c2.completed)
			TH_LOG("eventfd_signal() completed the read inline");
	} else {
		/* The stock path's task_work runs in the SQPOLL thread, which is not stopped. */
		n = wait_cq_ready(&self->ring, 1, COMPLETE_MS);
		ASSERT_EQ(1U, n) TH_LOG("the SQPOLL thread did not complete the read");
		check_bytes(_metadata, self->region, self->expect, self->region_len);
		ASSERT_EQ(0ULL, (unsigned long long)efd_counter(_metadata, self->efd));
	}

	check_reader_done(_metadata, self, &pl);

	wait_pinned(_metadata, self->ring.fd, self->inl, c0.pinned);
	get_counters(_metadata, self->ring.fd, self->inl, &c2);
	if (self->inl) {
		ASSERT_EQ((unsigned long long)c0.completed, (unsigned long long)c2.completed);
		ASSERT_EQ((unsigned long long)c0.fallback + 1, (unsigned long long)c2.fallback)
			TH_LOG("InlineReadFallback did not move");
		check_balance(_metadata, &c0, &c2);
	}
}

/*
 * Semantics, in one process (or with a forked helper where a test says so),
 * on plain and DEFER_TASKRUN rings, with and without IORING_SETUP_INLINE_READ.
 */

FIXTURE(efd) {
	struct iou_ring ring;
	struct iou_ring ring2;	/* a second ring, for tests that need one */
	int efd;		/* a normal eventfd, counter 0 */
	int efd2;		/* a second eventfd, for tests that need one */
	pid_t child;
	char *buf;		/* NR_SLOTS slots of SLOT bytes, FILL */
	size_t buf_len;
	unsigned int flags;	/* IORING_SETUP_* of the ring, INLINE_READ included */
	bool inl;
	bool defer;
};

#define INL_VARIANTS_OF efd
#define INL_VARIANTS_PLAIN_DEFER
#include "ring_variants.h"

FIXTURE_SETUP(efd)
{
	int ret;

	self->ring.fd = -1;
	self->ring2.fd = -1;
	self->efd = -1;
	self->efd2 = -1;
	self->child = -1;
	self->buf = MAP_FAILED;
	self->inl = variant->inline_read;
	self->defer = variant->setup_flags & IORING_SETUP_DEFER_TASKRUN;
	self->flags = variant->setup_flags | (self->inl ? IORING_SETUP_INLINE_READ : 0);

	if (self->inl && !inline_read_supported())
		SKIP(return, "kernel lacks IORING_FEAT_INLINE_READ");

	self->buf_len = NR_SLOTS * SLOT;
	self->buf = mmap(NULL, self->buf_len, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, self->buf);
	memset(self->buf, FILL, self->buf_len);

	ret = iou_setup(&self->ring, RING_ENTRIES, self->flags);
	ASSERT_EQ(0, ret) TH_LOG("io_uring_setup(%#x): %s", self->flags, strerror(-ret));
	if (!(self->ring.features & IORING_FEAT_EXT_ARG))
		SKIP(return, "no IORING_FEAT_EXT_ARG: waits cannot be bounded");

	self->efd = eventfd(0, EFD_CLOEXEC);
	ASSERT_LE(0, self->efd) TH_LOG("eventfd: %s", strerror(errno));
}

FIXTURE_TEARDOWN(efd)
{
	kill_child(&self->child);
	iou_exit(&self->ring2);
	iou_exit(&self->ring);
	if (self->efd >= 0)
		close(self->efd);
	if (self->efd2 >= 0)
		close(self->efd2);
	if (self->buf != MAP_FAILED)
		munmap(self->buf, self->buf_len);
}

static void counters(struct __test_metadata *_metadata, struct _test_data_efd *self,
		     struct inl_counters *c)
{
	get_counters(_metadata, self->ring.fd, self->inl, c);
}

static char *slot_buf(struct _test_data_efd *self, int slot)
{
	return self->buf + slot * SLOT;
}

static uint64_t slot_val(struct _test_data_efd *self, int slot)
{
	return get_u64(slot_buf(self, slot));
}

/* Check slot @slot got @val and nothing past it. */
static void check_slot(struct __test_metadata *_metadata, struct _test_data_efd *self, int slot,
		       uint64_t val)
{
	ASSERT_EQ((unsigned long long)val, (unsigned long long)slot_val(self, slot))
		TH_LOG("slot %d", slot);
	check_fill(_metadata, slot_buf(self, slot) + EFD_LEN, SLOT - EFD_LEN);
}

/* Create the second eventfd, with @flags (EFD_SEMAPHORE). */
static int make_efd2(struct __test_metadata *_metadata, struct _test_data_efd *self, int flags)
{
	self->efd2 = eventfd(0, EFD_CLOEXEC | flags);
	ASSERT_LE(0, self->efd2) TH_LOG("eventfd: %s", strerror(errno));
	return self->efd2;
}

/*
 * Submit @nr reads of eventfd @fd (counter 0) into slots 0.. with user_data
 * UD_READ + i (or UD_READ for all) and check they wait (and armed inline).
 */
static void pending_reads(struct __test_metadata *_metadata, struct _test_data_efd *self, int fd,
			  int nr, bool same_ud, const struct inl_counters *c0)
{
	struct inl_counters c;
	int i;

	for (i = 0; i < nr; i++)
		queue_read(_metadata, &self->ring, fd, slot_buf(self, i), SLOT,
			   same_ud ? UD_READ : UD_READ + i);
	submit_n(_metadata, &self->ring, nr);
	assert_no_cqe(_metadata, &self->ring);
	counters(_metadata, self, &c);
	if (self->inl) {
		ASSERT_EQ((unsigned long long)c0->armed + nr, (unsigned long long)c.armed)
			TH_LOG("not every read armed inline");
		ASSERT_LT((unsigned long long)c0->pinned, (unsigned long long)c.pinned);
	}
}

/*
 * After cancelling @nr inline reads of self->efd: the counters moved, nothing
 * is pinned, no CQE is left, and the reads consumed nothing: a count written
 * now stays in the counter for read(2), and the buffer is untouched.
 */
static void check_cancelled(struct __test_metadata *_metadata, struct _test_data_efd *self, int nr,
			    const struct inl_counters *c0)
{
	struct inl_counters c;

	assert_no_cqe(_metadata, &self->ring);
	wait_pinned(_metadata, self->ring.fd, self->inl, c0->pinned);
	counters(_metadata, self, &c);
	if (self->inl) {
		/* ASSUMES: InlineReadCancelled counts each cancelled inline read. */
		ASSERT_EQ((unsigned long long)c0->cancelled + nr, (unsigned long long)c.cancelled);
		ASSERT_EQ((unsigned long long)c0->completed, (unsigned long long)c.completed);
		check_balance(_metadata, c0, &c);
	}

	ASSERT_EQ(0ULL, (unsigned long long)efd_counter(_metadata, self->efd));
	efd_write(_metadata, self->efd, 6);
	assert_no_cqe(_metadata, &self->ring);
	ASSERT_EQ(6ULL, (unsigned long long)efd_counter(_metadata, self->efd))
		TH_LOG("a cancelled read took the count");
	ASSERT_EQ(6ULL, (unsigned long long)efd_read_nb(_metadata, self->efd));
	check_fill(_metadata, self->buf, self->buf_len);
}

/* Counter consumption. */

/*
 * Writes of 3 and 4 before the read: the read finds 7 at submission and
 * completes at once, without waiting inline.
 */
TEST_F(efd, count_before_read_completes_at_submit)
{
	struct inl_counters c0, c1;
	struct io_uring_cqe cqe;

	efd_write(_metadata, self->efd, 3);
	efd_write(_metadata, self->efd, 4);
	ASSERT_EQ(7ULL, (unsigned long long)efd_counter(_metadata, self->efd));
	counters(_metadata, self, &c0);

	queue_read(_metadata, &self->ring, self->efd, slot_buf(self, 0), SLOT, UD_READ);
	submit_n(_metadata, &self->ring, 1);
	/*
	 * ASSUMES: a read that completes during submission has its CQE
	 * posted before io_uring_enter() returns, on every ring type.
	 */
	ASSERT_EQ(1U, iou_cq_ready(&self->ring)) TH_LOG("the read did not complete at submission");
	reap_cqe(_metadata, &self->ring, &cqe);
	ASSERT_EQ(UD_READ, cqe.user_data);
	ASSERT_EQ(EFD_LEN, cqe.res) TH_LOG("read res %d", cqe.res);
	check_slot(_metadata, self, 0, 7);
	ASSERT_EQ(0ULL, (unsigned long long)efd_counter(_metadata, self->efd));
	assert_no_cqe(_metadata, &self->ring);

	counters(_metadata, self, &c1);
	ASSERT_EQ((unsigned long long)c0.armed, (unsigned long long)c1.armed)
		TH_LOG("a read that found a count armed inline");
	ASSERT_EQ((unsigned long long)c0.completed, (unsigned long long)c1.completed);
}

/* A pending read and a write of 5: the read gets 5, the counter is 0 afterwards. */
TEST_F(efd, pending_read_gets_write)
{
	struct inl_counters c0, c1;
	struct io_uring_cqe cqe;

	counters(_metadata, self, &c0);
	pending_reads(_metadata, self, self->efd, 1, false, &c0);

	efd_write(_metadata, self->efd, 5);
	if (self->inl) {
		/* Consumed and copied by write() (on DEFER_TASKRUN rings too)... */
		ASSERT_EQ(0ULL, (unsigned long long)efd_counter(_metadata, self->efd));
		check_slot(_metadata, self, 0, 5);
		/* ...which also posted the CQE, but on DEFER_TASKRUN rings. */
		if (!self->defer)
			ASSERT_EQ(1U, iou_cq_ready(&self->ring))
				TH_LOG("no CQE in the CQ ring when write() returned");
	}
	reap_cqe(_metadata, &self->ring, &cqe);
	ASSERT_EQ(UD_READ, cqe.user_data);
	ASSERT_EQ(EFD_LEN, cqe.res) TH_LOG("read res %d", cqe.res);
	check_slot(_metadata, self, 0, 5);
	ASSERT_EQ(0ULL, (unsigned long long)efd_counter(_metadata, self->efd));
	assert_no_cqe(_metadata, &self->ring);

	wait_pinned(_metadata, self->ring.fd, self->inl, c0.pinned);
	counters(_metadata, self, &c1);
	if (self->inl) {
		ASSERT_EQ((unsigned long long)c0.completed + 1, (unsigned long long)c1.completed);
		check_balance(_metadata, &c0, &c1);
	}
}

/*
 * Normal mode, two pending reads: a write of 5 completes exactly one of them
 * (the first one submitted, on the inline path) with 5; the other keeps
 * waiting and gets the next write, 2.
 */
TEST_F(efd, one_read_per_write)
{
	struct inl_counters c0, c1;
	struct io_uring_cqe cqe;
	int first, second;

	counters(_metadata, self, &c0);
	pending_reads(_metadata, self, self->efd, 2, false, &c0);

	efd_write(_metadata, self->efd, 5);
	reap_cqe(_metadata, &self->ring, &cqe);
	ASSERT_EQ(EFD_LEN, cqe.res) TH_LOG("read res %d", cqe.res);
	first = cqe.user_data - UD_READ;
	ASSERT_TRUE(first == 0 || first == 1) TH_LOG("user_data %#llx",
						     (unsigned long long)cqe.user_data);
	/* ASSUMES: pending inline reads are completed in submission order. */
	if (self->inl)
		ASSERT_EQ(0, first) TH_LOG("the second pending read got the write first");
	check_slot(_metadata, self, first, 5);
	assert_no_cqe(_metadata, &self->ring);
	ASSERT_EQ(0ULL, (unsigned long long)efd_counter(_metadata, self->efd));
	second = 1 - first;
	check_fill(_metadata, slot_buf(self, second), SLOT);

	efd_write(_metadata, self->efd, 2);
	reap_cqe(_metadata, &self->ring, &cqe);
	ASSERT_EQ(UD_READ + second, cqe.user_data);
	ASSERT_EQ(EFD_LEN, cqe.res) TH_LOG("read res %d", cqe.res);
	check_slot(_metadata, self, second, 2);
	ASSERT_EQ(0ULL, (unsigned long long)efd_counter(_metadata, self->efd));
	assert_no_cqe(_metadata, &self->ring);

	wait_pinned(_metadata, self->ring.fd, self->inl, c0.pinned);
	counters(_metadata, self, &c1);
	if (self->inl) {
		ASSERT_EQ((unsigned long long)c0.completed + 2, (unsigned long long)c1.completed);
		check_balance(_metadata, &c0, &c1);
	}
}

/*
 * EFD_SEMAPHORE, three pending reads, one write of 2: exactly two reads
 * complete, with 1 each (on the inline path the first two submitted, in that
 * order in the CQ), the third keeps waiting and the counter is 0; a write of
 * 1 then completes the third.
 */
TEST_F(efd, semaphore_three_reads)
{
	struct inl_counters c0, c1;
	struct io_uring_cqe cqes[2], cqe;
	bool done[3] = { false };
	int fd, i, slot, third;

	fd = make_efd2(_metadata, self, EFD_SEMAPHORE);
	counters(_metadata, self, &c0);
	pending_reads(_metadata, self, fd, 3, false, &c0);

	efd_write(_metadata, fd, 2);
	if (self->inl && !self->defer)
		ASSERT_EQ(2U, iou_cq_ready(&self->ring))
			TH_LOG("write() did not post both CQEs before it returned");
	reap_n(_metadata, &self->ring, cqes, 2);
	for (i = 0; i < 2; i++) {
		slot = cqes[i].user_data - UD_READ;
		ASSERT_TRUE(slot >= 0 && slot < 3) TH_LOG("user_data %#llx",
							  (unsigned long long)cqes[i].user_data);
		ASSERT_FALSE(done[slot]) TH_LOG("two CQEs for read %d", slot);
		done[slot] = true;
		ASSERT_EQ(EFD_LEN, cqes[i].res) TH_LOG("read %d res %d", slot, cqes[i].res);
		check_slot(_metadata, self, slot, 1);
	}
	if (self->inl) {
		/* ASSUMES: FIFO among inline waiters, and their CQEs in that order. */
		ASSERT_EQ(UD_READ, cqes[0].user_data) TH_LOG("CQEs out of submission order");
		ASSERT_EQ(UD_READ + 1, cqes[1].user_data) TH_LOG("CQEs out of submission order");
	}
	assert_no_cqe(_metadata, &self->ring);
	ASSERT_EQ(0ULL, (unsigned long long)efd_counter(_metadata, fd));
	third = !done[0] ? 0 : !done[1] ? 1 : 2;
	check_fill(_metadata, slot_buf(self, third), SLOT);

	efd_write(_metadata, fd, 1);
	reap_cqe(_metadata, &self->ring, &cqe);
	ASSERT_EQ(UD_READ + third, cqe.user_data);
	ASSERT_EQ(EFD_LEN, cqe.res) TH_LOG("read res %d", cqe.res);
	check_slot(_metadata, self, third, 1);
	ASSERT_EQ(0ULL, (unsigned long long)efd_counter(_metadata, fd));
	assert_no_cqe(_metadata, &self->ring);

	wait_pinned(_metadata, self->ring.fd, self->inl, c0.pinned);
	counters(_metadata, self, &c1);
	if (self->inl) {
		ASSERT_EQ((unsigned long long)c0.completed + 3, (unsigned long long)c1.completed);
		check_balance(_metadata, &c0, &c1);
	}
}

/*
 * A buffer shorter than 8 bytes fails with -EINVAL, as read(2) does, with
 * the counter at 0 (no waiting) or not (nothing consumed).
 */
TEST_F(efd, short_buffer_einval)
{
	static const __u32 lens[] = { 1, 4, 7 };
	struct iovec iov = { .iov_base = NULL, .iov_len = 4 };
	struct inl_counters c0, c1;
	struct io_uring_cqe cqe;
	unsigned int i;

	counters(_metadata, self, &c0);
	for (i = 0; i < ARRAY_SIZE(lens); i++) {
		queue_read(_metadata, &self->ring, self->efd, slot_buf(self, i), lens[i],
			   UD_READ + i);
		submit_n(_metadata, &self->ring, 1);
		reap_cqe(_metadata, &self->ring, &cqe);
		ASSERT_EQ(UD_READ + i, cqe.user_data);
		ASSERT_EQ(-EINVAL, cqe.res) TH_LOG("%u-byte read res %d", lens[i], cqe.res);
	}
	iov.iov_base = slot_buf(self, 3);
	iou_prep_readv(get_sqe(_metadata, &self->ring), self->efd, &iov, 1, 0, UD_READ + 3);
	submit_n(_metadata, &self->ring, 1);
	reap_cqe(_metadata, &self->ring, &cqe);
	ASSERT_EQ(-EINVAL, cqe.res) TH_LOG("4-byte readv res %d", cqe.res);
	ASSERT_EQ(0ULL, (unsigned long long)efd_counter(_metadata, self->efd));

	efd_write(_metadata, self->efd, 9);
	queue_read(_metadata, &self->ring, self->efd, slot_buf(self, 4), 4, UD_READ + 4);
	submit_n(_metadata, &self->ring, 1);
	reap_cqe(_metadata, &self->ring, &cqe);
	ASSERT_EQ(-EINVAL, cqe.res) TH_LOG("4-byte read res %d", cqe.res);
	ASSERT_EQ(9ULL, (unsigned long long)efd_counter(_metadata, self->efd))
		TH_LOG("a failed read consumed the count");
	check_fill(_metadata, self->buf, self->buf_len);
	assert_no_cqe(_metadata, &self->ring);
	counters(_metadata, self, &c1);
	ASSERT_EQ((unsigned long long)c0.armed, (unsigned long long)c1.armed)
		TH_LOG("a short read armed inline");

	/* The count is intact: an 8-byte read gets it. */
	queue_read(_metadata, &self->ring, self->efd, slot_buf(self, 5), EFD_LEN, UD_READ + 5);
	submit_n(_metadata, &self->ring, 1);
	reap_cqe(_metadata, &self->ring, &cqe);
	ASSERT_EQ(EFD_LEN, cqe.res);
	ASSERT_EQ(9ULL, (unsigned long long)slot_val(self, 5));
	ASSERT_EQ(0ULL, (unsigned long long)efd_counter(_metadata, self->efd));
}

/*
 * A writer blocked on a full counter is woken as today when a ring read
 * takes the count (eventfd_read()'s EPOLLOUT wake-up reaches it).
 */
TEST_F(efd, blocked_writer_woken_by_ring_read)
{
	struct inl_counters c0, c1;
	struct io_uring_cqe cqe;
	int status;

	efd_write(_metadata, self->efd, EFD_MAX);
	counters(_metadata, self, &c0);
	self->child = spawn_writer(_metadata, self->efd, 1, 0);
	ASSERT_EQ(-ETIME, wait_child(self->child, &status, 0, PENDING_MS))
		TH_LOG("the writer did not block on the full counter");

	queue_read(_metadata, &self->ring, self->efd, slot_buf(self, 0), SLOT, UD_READ);
	submit_n(_metadata, &self->ring, 1);
	reap_cqe(_metadata, &self->ring, &cqe);
	ASSERT_EQ(EFD_LEN, cqe.res) TH_LOG("read res %d", cqe.res);
	check_slot(_metadata, self, 0, EFD_MAX);
	join_child(_metadata, &self->child, COMPLETE_MS);
	ASSERT_EQ(1ULL, (unsigned long long)efd_counter(_metadata, self->efd));
	counters(_metadata, self, &c1);
	ASSERT_EQ((unsigned long long)c0.armed, (unsigned long long)c1.armed);
}

/* Cancellation: every selector; a cancelled read consumes nothing. */

/* IORING_OP_ASYNC_CANCEL by user_data. */
TEST_F(efd, cancel_by_user_data)
{
	struct inl_counters c0;
	struct io_uring_cqe cqes[2];

	counters(_metadata, self, &c0);
	pending_reads(_metadata, self, self->efd, 1, false, &c0);
	iou_prep_cancel(get_sqe(_metadata, &self->ring), UD_READ, 0, UD_CANCEL);
	submit_n(_metadata, &self->ring, 1);
	reap_n(_metadata, &self->ring, cqes, 2);
	ASSERT_EQ(-ECANCELED, cqe_res(_metadata, cqes, 2, UD_READ));
	ASSERT_EQ(0, cqe_res(_metadata, cqes, 2, UD_CANCEL));
	check_cancelled(_metadata, self, 1, &c0);
}

/* Two pending reads, the first cancelled: the second gets the next write. */
TEST_F(efd, cancel_one_other_gets_write)
{
	struct inl_counters c0, c1;
	struct io_uring_cqe cqes[2];

	counters(_metadata, self, &c0);
	pending_reads(_metadata, self, self->efd, 2, false, &c0);
	iou_prep_cancel(get_sqe(_metadata, &self->ring), UD_READ, 0, UD_CANCEL);
	submit_n(_metadata, &self->ring, 1);
	reap_n(_metadata, &self->ring, cqes, 2);
	ASSERT_EQ(-ECANCELED, cqe_res(_metadata, cqes, 2, UD_READ));
	ASSERT_EQ(0, cqe_res(_metadata, cqes, 2, UD_CANCEL));
	assert_no_cqe(_metadata, &self->ring);

	efd_write(_metadata, self->efd, 5);
	reap_cqe(_metadata, &self->ring, &cqes[0]);
	ASSERT_EQ(UD_READ + 1, cqes[0].user_data);
	ASSERT_EQ(EFD_LEN, cqes[0].res);
	check_slot(_metadata, self, 1, 5);
	check_fill(_metadata, slot_buf(self, 0), SLOT);
	ASSERT_EQ(0ULL, (unsigned long long)efd_counter(_metadata, self->efd));
	assert_no_cqe(_metadata, &self->ring);

	wait_pinned(_metadata, self->ring.fd, self->inl, c0.pinned);
	counters(_metadata, self, &c1);
	if (self->inl) {
		ASSERT_EQ((unsigned long long)c0.cancelled + 1, (unsigned long long)c1.cancelled);
		ASSERT_EQ((unsigned long long)c0.completed + 1, (unsigned long long)c1.completed);
		check_balance(_metadata, &c0, &c1);
	}
}

/* IORING_ASYNC_CANCEL_ALL by user_data: returns how many it cancelled. */
TEST_F(efd, cancel_all_by_user_data)
{
	struct inl_counters c0;
	struct io_uring_cqe cqes[4];
	int i, n = 0;

	counters(_metadata, self, &c0);
	pending_reads(_metadata, self, self->efd, 3, true, &c0);
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
	check_cancelled(_metadata, self, 3, &c0);
}

/* IORING_ASYNC_CANCEL_FD cancels one read of the eventfd; with _ALL, every one. */
TEST_F(efd, cancel_by_fd)
{
	struct inl_counters c0;
	struct io_uring_cqe cqes[2];
	int first;

	counters(_metadata, self, &c0);
	pending_reads(_metadata, self, self->efd, 2, false, &c0);

	iou_prep_cancel_fd(get_sqe(_metadata, &self->ring), self->efd, 0, UD_CANCEL);
	submit_n(_metadata, &self->ring, 1);
	reap_n(_metadata, &self->ring, cqes, 2);
	ASSERT_EQ(0, cqe_res(_metadata, cqes, 2, UD_CANCEL));
	first = cqes[0].user_data == UD_CANCEL ? 1 : 0;
	ASSERT_TRUE(cqes[first].user_data == UD_READ || cqes[first].user_data == UD_READ + 1);
	ASSERT_EQ(-ECANCELED, cqes[first].res);
	/* The other read is still pending. */
	assert_no_cqe(_metadata, &self->ring);

	iou_prep_cancel_fd(get_sqe(_metadata, &self->ring), self->efd, IORING_ASYNC_CANCEL_ALL,
			   UD_CANCEL + 1);
	submit_n(_metadata, &self->ring, 1);
	reap_n(_metadata, &self->ring, cqes, 2);
	ASSERT_EQ(1, cqe_res(_metadata, cqes, 2, UD_CANCEL + 1));
	first = cqes[0].user_data == UD_CANCEL + 1 ? 1 : 0;
	ASSERT_EQ(-ECANCELED, cqes[first].res);
	check_cancelled(_metadata, self, 2, &c0);
}

/* IORING_ASYNC_CANCEL_ANY: every request, whatever its user_data. */
TEST_F(efd, cancel_any)
{
	struct inl_counters c0;
	struct io_uring_cqe cqes[4];
	int i;

	counters(_metadata, self, &c0);
	pending_reads(_metadata, self, self->efd, 3, false, &c0);
	iou_prep_cancel(get_sqe(_metadata, &self->ring), 0, IORING_ASYNC_CANCEL_ANY, UD_CANCEL);
	submit_n(_metadata, &self->ring, 1);
	reap_n(_metadata, &self->ring, cqes, 4);
	ASSERT_EQ(3, cqe_res(_metadata, cqes, 4, UD_CANCEL));
	for (i = 0; i < 3; i++)
		ASSERT_EQ(-ECANCELED, cqe_res(_metadata, cqes, 4, UD_READ + i));
	check_cancelled(_metadata, self, 3, &c0);
}

/* IORING_REGISTER_SYNC_CANCEL by user_data. */
TEST_F(efd, sync_cancel)
{
	struct inl_counters c0;
	struct io_uring_cqe cqe;
	int ret;

	counters(_metadata, self, &c0);
	pending_reads(_metadata, self, self->efd, 1, false, &c0);
	ret = iou_sync_cancel(&self->ring, UD_READ, -1, 0, COMPLETE_MS);
	ASSERT_EQ(0, ret) TH_LOG("sync cancel: %s", strerror(-ret));
	reap_cqe(_metadata, &self->ring, &cqe);
	ASSERT_EQ(UD_READ, cqe.user_data);
	ASSERT_EQ(-ECANCELED, cqe.res);
	/* Nothing left to cancel. */
	ret = iou_sync_cancel(&self->ring, UD_READ, -1, 0, COMPLETE_MS);
	ASSERT_EQ(-ENOENT, ret);
	check_cancelled(_metadata, self, 1, &c0);
}

/*
 * Registered eventfds (IORING_REGISTER_EVENTFD): io_uring signals them with
 * eventfd_signal() when it posts CQEs, which takes the stock path.
 */

/*
 * Another ring registered the eventfd: a NOP on it signals the eventfd, and
 * the pending read completes with 1 through the stock path.
 */
TEST_F(efd, registered_other_ring_signals)
{
	struct inl_counters c0, c1;
	struct io_uring_cqe cqe;
	int ret;

	ret = iou_setup(&self->ring2, RING_ENTRIES, 0);
	ASSERT_EQ(0, ret) TH_LOG("io_uring_setup: %s", strerror(-ret));
	register_eventfd(_metadata, &self->ring2, self->efd);
	counters(_metadata, self, &c0);
	pending_reads(_metadata, self, self->efd, 1, false, &c0);

	iou_prep_nop(get_sqe(_metadata, &self->ring2), UD_NOP);
	submit_n(_metadata, &self->ring2, 1);
	reap_cqe(_metadata, &self->ring2, &cqe);
	ASSERT_EQ(UD_NOP, cqe.user_data);
	ASSERT_EQ(0, cqe.res);

	reap_cqe(_metadata, &self->ring, &cqe);
	ASSERT_EQ(UD_READ, cqe.user_data);
	ASSERT_EQ(EFD_LEN, cqe.res) TH_LOG("read res %d", cqe.res);
	check_slot(_metadata, self, 0, 1);
	ASSERT_EQ(0ULL, (unsigned long long)efd_counter(_metadata, self->efd));
	assert_no_cqe(_metadata, &self->ring);
	check_ring_signals(_metadata, slot_val(self, 0), 0, 1, false);

	wait_pinned(_metadata, self->ring.fd, self->inl, c0.pinned);
	counters(_metadata, self, &c1);
	if (self->inl) {
		ASSERT_EQ((unsigned long long)c0.completed, (unsigned long long)c1.completed)
			TH_LOG("eventfd_signal() completed the read inline");
		ASSERT_EQ((unsigned long long)c0.fallback + 1, (unsigned long long)c1.fallback)
			TH_LOG("InlineReadFallback did not move");
		check_balance(_metadata, &c0, &c1);
	}
}

/*
 * The ring reads its own CQ eventfd, and a NOP on it signals the eventfd:
 * the read completes with 1 through the stock path, and its own CQE signals
 * the eventfd once more, which then stays in the counter: no loop.
 */
TEST_F(efd, registered_same_ring_nop)
{
	struct inl_counters c0, c1;
	struct io_uring_cqe cqes[2];
	uint64_t val, cnt;

	register_eventfd(_metadata, &self->ring, self->efd);
	counters(_metadata, self, &c0);
	pending_reads(_metadata, self, self->efd, 1, false, &c0);

	iou_prep_nop(get_sqe(_metadata, &self->ring), UD_NOP);
	submit_n(_metadata, &self->ring, 1);
	reap_n(_metadata, &self->ring, cqes, 2);
	ASSERT_EQ(0, cqe_res(_metadata, cqes, 2, UD_NOP));
	ASSERT_EQ(EFD_LEN, cqe_res(_metadata, cqes, 2, UD_READ));
	assert_no_cqe(_metadata, &self->ring);
	val = slot_val(self, 0);
	cnt = efd_counter(_metadata, self->efd);
	TH_LOG("read %llu, counter %llu", (unsigned long long)val, (unsigned long long)cnt);
	if (!self->defer) {
		ASSERT_EQ(1ULL, (unsigned long long)val);
		ASSERT_EQ(1ULL, (unsigned long long)cnt);
	}
	check_ring_signals(_metadata, val + cnt, 0, 2, self->defer);

	wait_pinned(_metadata, self->ring.fd, self->inl, c0.pinned);
	counters(_metadata, self, &c1);
	if (self->inl) {
		ASSERT_EQ((unsigned long long)c0.completed, (unsigned long long)c1.completed);
		ASSERT_EQ((unsigned long long)c0.fallback + 1, (unsigned long long)c1.fallback)
			TH_LOG("InlineReadFallback did not move");
		check_balance(_metadata, &c0, &c1);
	}
}

/*
 * The ring reads its own CQ eventfd and user space writes 5 to it: the read
 * gets 5 (inline: the write completes it, and the CQE it posts signals the
 * eventfd again while write() runs). Afterwards the counter holds that
 * signal: no hang, no loop, every increment read or in the counter.
 * @nr_reads == 2: the second read is completed by that signal, through the
 * stock path, with 1, and its own CQE leaves 1 in the counter.
 */
static void own_cq_eventfd_write(struct __test_metadata *_metadata, struct _test_data_efd *self,
				 int nr_reads)
{
	struct inl_counters c0, c1;
	struct io_uring_cqe cqes[2];
	uint64_t val[2] = { 0, 0 }, cnt;
	int i;

	register_eventfd(_metadata, &self->ring, self->efd);
	counters(_metadata, self, &c0);
	pending_reads(_metadata, self, self->efd, nr_reads, false, &c0);

	/* In a child, so that a write deadlocking on the ring fails the test. */
	self->child = spawn_writer(_metadata, self->efd, 5, 0);
	join_child(_metadata, &self->child, COMPLETE_MS);
	if (self->inl && !self->defer) {
		/* The write completed the (first) read and posted its CQE... */
		ASSERT_LE(1U, iou_cq_ready(&self->ring)) TH_LOG("no CQE when write() returned");
		check_slot(_metadata, self, 0, 5);
		/* ...which signalled the eventfd (or a second read is taking that). */
		if (nr_reads == 1)
			ASSERT_EQ(1ULL, (unsigned long long)efd_counter(_metadata, self->efd));
	}

	reap_n(_metadata, &self->ring, cqes, nr_reads);
	assert_no_cqe(_metadata, &self->ring);
	for (i = 0; i < nr_reads; i++) {
		ASSERT_EQ(EFD_LEN, cqe_res(_metadata, cqes, nr_reads, UD_READ + i));
		val[i] = slot_val(self, i);
	}
	cnt = efd_counter(_metadata, self->efd);
	TH_LOG("read %llu and %llu, counter %llu", (unsigned long long)val[0],
	       (unsigned long long)val[1], (unsigned long long)cnt);
	/* The first read submitted gets the write on the inline path. */
	if (self->inl)
		ASSERT_EQ(5ULL, (unsigned long long)val[0]);
	/*
	 * On stock DEFER_TASKRUN rings the poll wake-up queues local work,
	 * which signals the eventfd from an RCU callback: the read may see it.
	 */
	if (!self->defer) {
		if (nr_reads == 1)
			ASSERT_EQ(5ULL, (unsigned long long)val[0]);
		if (nr_reads == 2)
			ASSERT_TRUE((val[0] == 5 && val[1] == 1) || (val[0] == 1 && val[1] == 5))
				TH_LOG("want 5 and 1");
		ASSERT_EQ(1ULL, (unsigned long long)cnt);
	}
	check_ring_signals(_metadata, val[0] + val[1] + cnt, 5, nr_reads, self->defer);

	wait_pinned(_metadata, self->ring.fd, self->inl, c0.pinned);
	counters(_metadata, self, &c1);
	if (self->inl) {
		ASSERT_EQ((unsigned long long)c0.completed + 1, (unsigned long long)c1.completed);
		ASSERT_EQ((unsigned long long)c0.fallback + nr_reads - 1,
			  (unsigned long long)c1.fallback);
		check_balance(_metadata, &c0, &c1);
	}
}

TEST_F(efd, registered_same_ring_write)
{
	own_cq_eventfd_write(_metadata, self, 1);
}

TEST_F(efd, registered_same_ring_write_two_reads)
{
	own_cq_eventfd_write(_metadata, self, 2);
}

/*
 * A chain: the ring reads eventfd E1 and signals eventfd E2 (registered); a
 * second ring of the same kind reads E2. A write to E1 completes the first
 * read (inline: in the writer, whose CQE posting then signals E2 from inside
 * eventfd_write()'s hook); E2's signal completes the second read through the
 * stock path. Nothing recurses, nothing hangs, every count is accounted for.
 */
TEST_F(efd, registered_chain_two_rings)
{
	struct inl_counters c0, c1, d0, d1;
	struct io_uring_cqe cqe;
	uint64_t val, cnt;
	int efd2, ret;

	efd2 = make_efd2(_metadata, self, 0);
	ret = iou_setup(&self->ring2, RING_ENTRIES, self->flags);
	ASSERT_EQ(0, ret) TH_LOG("io_uring_setup(%#x): %s", self->flags, strerror(-ret));
	register_eventfd(_metadata, &self->ring, efd2);
	counters(_metadata, self, &c0);
	get_counters(_metadata, self->ring2.fd, self->inl, &d0);

	pending_reads(_metadata, self, self->efd, 1, false, &c0);
	queue_read(_metadata, &self->ring2, efd2, slot_buf(self, 1), SLOT, UD_READ + 1);
	submit_n(_metadata, &self->ring2, 1);
	assert_no_cqe(_metadata, &self->ring2);

	self->child = spawn_writer(_metadata, self->efd, 3, 0);
	join_child(_metadata, &self->child, COMPLETE_MS);

	reap_cqe(_metadata, &self->ring, &cqe);
	ASSERT_EQ(UD_READ, cqe.user_data);
	ASSERT_EQ(EFD_LEN, cqe.res) TH_LOG("read res %d", cqe.res);
	check_slot(_metadata, self, 0, 3);
	ASSERT_EQ(0ULL, (unsigned long long)efd_counter(_metadata, self->efd));

	reap_cqe(_metadata, &self->ring2, &cqe);
	ASSERT_EQ(UD_READ + 1, cqe.user_data);
	ASSERT_EQ(EFD_LEN, cqe.res) TH_LOG("read res %d", cqe.res);
	assert_no_cqe(_metadata, &self->ring);
	assert_no_cqe(_metadata, &self->ring2);
	val = slot_val(self, 1);
	cnt = efd_counter(_metadata, efd2);
	TH_LOG("second ring read %llu, E2 counter %llu", (unsigned long long)val,
	       (unsigned long long)cnt);
	ASSERT_LE(1ULL, (unsigned long long)val);
	if (!self->defer) {
		ASSERT_EQ(1ULL, (unsigned long long)val);
		ASSERT_EQ(0ULL, (unsigned long long)cnt);
	}
	check_ring_signals(_metadata, val + cnt, 0, 1, self->defer);

	wait_pinned(_metadata, self->ring.fd, self->inl, c0.pinned);
	wait_pinned(_metadata, self->ring2.fd, self->inl, d0.pinned);
	counters(_metadata, self, &c1);
	get_counters(_metadata, self->ring2.fd, self->inl, &d1);
	if (self->inl) {
		ASSERT_EQ((unsigned long long)c0.completed + 1, (unsigned long long)c1.completed);
		ASSERT_EQ((unsigned long long)d0.completed, (unsigned long long)d1.completed)
			TH_LOG("eventfd_signal() completed a read inline");
		ASSERT_EQ((unsigned long long)d0.fallback + 1, (unsigned long long)d1.fallback);
		check_balance(_metadata, &c0, &c1);
		check_balance(_metadata, &d0, &d1);
	}
}

/*
 * Race and accounting: a writer thread writes RACE_WRITES random values
 * (1..RACE_MAX_VAL) while this thread keeps RACE_SLOTS reads pending and
 * cancels some at random, and a thief thread takes counts with
 * preadv2(RWF_NOWAIT) (so that some wake-ups find the count gone). At the
 * end: sum written == sum of the values in the read CQEs + sum the thief
 * read + the final counter; each read gets one CQE; a cancel succeeds
 * exactly when its read ends with -ECANCELED, and a cancelled read's buffer
 * is untouched.
 */
#define RACE_WRITES	1000
#define RACE_MS		2000
#define RACE_SLOTS	4
#define RACE_MAX_VAL	10
#define RACE_CANCEL	0x4000000000000000ULL	/* user_data bit of a slot's cancel */
#define UD_DRAIN	0x2000000000000000ULL	/* user_data of the final cancels */

struct race_writer {
	int fd;
	unsigned long n;
	unsigned int seed;
	uint64_t sum;
	unsigned long writes;
	bool stop;
	bool done;
	int err;
};

struct race_thief {
	int fd;
	bool semaphore;
	bool stop;
	uint64_t sum;
	unsigned long reads;
	unsigned int bad;
	int err;
};

struct race_slot {
	__u64 ud;		/* user_data of the pending read, 0 if idle */
	bool read_done;
	bool cancel_sent;
	bool cancel_done;
	int read_res;
	int cancel_res;
};

struct race_stats {
	uint64_t ring_sum;
	unsigned long reads;
	unsigned long cancelled;
};

static void *race_writer_fn(void *arg)
{
	struct race_writer *w = arg;
	unsigned long k;
	uint64_t val;

	for (k = 0; k < w->n; k++) {
		if (__atomic_load_n(&w->stop, __ATOMIC_RELAXED))
			break;
		val = 1 + rand_r(&w->seed) % RACE_MAX_VAL;
		if (write(w->fd, &val, sizeof(val)) != (ssize_t)sizeof(val)) {
			w->err = errno ? errno : EIO;
			break;
		}
		w->sum += val;
		w->writes++;
		if (rand_r(&w->seed) % 2)
			iou_sleep_us(rand_r(&w->seed) % 200);
		else
			spin(rand_r(&w->seed) % 2000);
	}
	__atomic_store_n(&w->done, true, __ATOMIC_RELEASE);
	return NULL;
}

static void *race_thief_fn(void *arg)
{
	struct race_thief *t = arg;
	uint64_t val;
	struct iovec iov = { .iov_base = &val, .iov_len = sizeof(val) };
	ssize_t n;

	while (!__atomic_load_n(&t->stop, __ATOMIC_ACQUIRE)) {
		val = 0;
		n = preadv2(t->fd, &iov, 1, -1, RWF_NOWAIT);
		if (n == (ssize_t)sizeof(val)) {
			if (!val || (t->semaphore && val != 1))
				t->bad++;
			t->sum += val;
			t->reads++;
		} else if (n >= 0) {
			t->bad++;
		} else if (errno != EAGAIN && errno != EINTR) {
			t->err = errno;
			break;
		}
		iou_sleep_us(300);
	}
	return NULL;
}

/*
 * A read and the cancel aimed at it agree: a cancel that succeeds (0) ends
 * the read with -ECANCELED. One that fails says -ENOENT (the read was done,
 * or between a wake-up and its stock-path retry) or -EALREADY (being
 * completed or handed back to the stock path); the read then completes with
 * a count, or is cancelled by the final drain.
 */
static bool race_cancel_agrees(int read_res, int cancel_res, bool draining)
{
	if (!cancel_res)
		return read_res == -ECANCELED;
	if (cancel_res != -ENOENT && cancel_res != -EALREADY)
		return false;
	return read_res == EFD_LEN || (draining && read_res == -ECANCELED);
}

/* Account one CQE; a slot is idle again once all its CQEs are in. */
static void race_cqe(struct __test_metadata *_metadata, struct _test_data_efd *self,
		     struct race_slot *slots, const struct io_uring_cqe *cqe, bool semaphore,
		     bool draining, struct race_stats *st)
{
	unsigned int s = cqe->user_data & 0xff;
	bool is_cancel = cqe->user_data & RACE_CANCEL;
	__u64 ud = cqe->user_data & ~RACE_CANCEL;
	struct race_slot *sl;
	uint64_t val;

	if (cqe->user_data == UD_DRAIN)
		return;
	ASSERT_GT(RACE_SLOTS, (int)s) TH_LOG("user_data %#llx", (unsigned long long)ud);
	sl = &slots[s];
	ASSERT_EQ(sl->ud, ud) TH_LOG("CQE %#llx for a read that is not pending",
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
		if (cqe->res == EFD_LEN) {
			val = slot_val(self, s);
			ASSERT_LT(0ULL, (unsigned long long)val) TH_LOG("a read got 0");
			if (semaphore)
				ASSERT_EQ(1ULL, (unsigned long long)val);
			st->ring_sum += val;
			st->reads++;
		} else {
			ASSERT_EQ(-ECANCELED, cqe->res) TH_LOG("read res %d", cqe->res);
			ASSERT_TRUE(sl->cancel_sent || draining)
				TH_LOG("a read was cancelled by nobody");
			check_fill(_metadata, slot_buf(self, s), SLOT);
			st->cancelled++;
		}
	}
	if (!sl->read_done || (sl->cancel_sent && !sl->cancel_done))
		return;
	if (sl->cancel_sent)
		ASSERT_TRUE(race_cancel_agrees(sl->read_res, sl->cancel_res, draining))
			TH_LOG("read res %d, cancel res %d", sl->read_res, sl->cancel_res);
	memset(slot_buf(self, s), FILL, SLOT);
	memset(sl, 0, sizeof(*sl));
}

static void race_reap(struct __test_metadata *_metadata, struct _test_data_efd *self,
		      struct race_slot *slots, bool semaphore, bool draining,
		      struct race_stats *st, unsigned int wait_ms)
{
	struct io_uring_cqe *cqe;
	int ret;

	/*
	 * Run pending task_work (a DEFER_TASKRUN ring's local work) first:
	 * iou_wait_cqe() does not enter the kernel while the CQ holds a CQE.
	 */
	ret = iou_get_events(&self->ring);
	ASSERT_LE(0, ret) TH_LOG("getevents: %s", strerror(-ret));
	ret = iou_wait_cqe(&self->ring, &cqe, wait_ms);
	ASSERT_TRUE(!ret || ret == -ETIME) TH_LOG("wait: %s", strerror(-ret));
	while (!iou_peek_cqe(&self->ring, &cqe)) {
		race_cqe(_metadata, self, slots, cqe, semaphore, draining, st);
		iou_cqe_seen(&self->ring);
	}
}

static unsigned int race_busy(const struct race_slot *slots)
{
	unsigned int i, busy = 0;

	for (i = 0; i < RACE_SLOTS; i++)
		busy += !!slots[i].ud;
	return busy;
}

static void efd_race(struct __test_metadata *_metadata, struct _test_data_efd *self, bool semaphore)
{
	unsigned long n = env_ul("IOU_RACE_ITERS", RACE_WRITES);
	unsigned long max_ms = env_ul("IOU_RACE_MS", RACE_MS);
	unsigned int seed = env_ul("IOU_SEED", (unsigned long)time(NULL) ^ getpid());
	struct race_slot slots[RACE_SLOTS];
	struct race_stats st = { 0 };
	struct inl_counters c0, c1;
	struct race_writer w;
	struct race_thief th;
	__s64 start = iou_now_ns(), deadline;
	unsigned int gen = 0, i, queued, drains = 0;
	pthread_t wt, tt;
	struct timespec ts;
	uint64_t final;
	int fd, ret;

	fd = semaphore ? make_efd2(_metadata, self, EFD_SEMAPHORE) : self->efd;
	memset(slots, 0, sizeof(slots));
	TH_LOG("seed %u (IOU_SEED), %lu writes (IOU_RACE_ITERS) or %lu ms (IOU_RACE_MS)",
	       seed, n, max_ms);
	counters(_metadata, self, &c0);
	w = (struct race_writer){ .fd = fd, .n = n, .seed = seed ^ 0x9e3779b9U };
	th = (struct race_thief){ .fd = fd, .semaphore = semaphore };
	ASSERT_EQ(0, pthread_create(&wt, NULL, race_writer_fn, &w));
	ASSERT_EQ(0, pthread_create(&tt, NULL, race_thief_fn, &th));

	while (!__atomic_load_n(&w.done, __ATOMIC_ACQUIRE)) {
		if ((iou_now_ns() - start) / 1000000 > (__s64)max_ms)
			break;
		queued = 0;
		for (i = 0; i < RACE_SLOTS; i++) {
			if (slots[i].ud)
				continue;
			gen++;
			slots[i].ud = ((__u64)gen << 8) | i;
			queue_read(_metadata, &self->ring, fd, slot_buf(self, i), SLOT,
				   slots[i].ud);
			queued++;
		}
		if (queued)
			submit_n(_metadata, &self->ring, queued);
		i = rand_r(&seed) % (4 * RACE_SLOTS);
		if (i < RACE_SLOTS && slots[i].ud && !slots[i].cancel_sent &&
		    !slots[i].read_done) {
			slots[i].cancel_sent = true;
			iou_prep_cancel(get_sqe(_metadata, &self->ring), slots[i].ud, 0,
					slots[i].ud | RACE_CANCEL);
			submit_n(_metadata, &self->ring, 1);
		}
		race_reap(_metadata, self, slots, semaphore, false, &st, 2);
	}

	__atomic_store_n(&w.stop, true, __ATOMIC_RELEASE);
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += COMPLETE_MS / 1000;
	ret = pthread_timedjoin_np(wt, NULL, &ts);
	ASSERT_EQ(0, ret) TH_LOG("the writer is stuck");
	ASSERT_EQ(0, w.err) TH_LOG("writer: %s", strerror(w.err));
	__atomic_store_n(&th.stop, true, __ATOMIC_RELEASE);
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += COMPLETE_MS / 1000;
	ret = pthread_timedjoin_np(tt, NULL, &ts);
	ASSERT_EQ(0, ret) TH_LOG("the thief is stuck");
	ASSERT_EQ(0, th.err) TH_LOG("thief: %s", strerror(th.err));
	ASSERT_EQ(0U, th.bad) TH_LOG("the thief read %u bad values", th.bad);

	/*
	 * Cancel what is still pending. A read handed back to the stock path
	 * may re-arm once its retry runs, so this can take more than one round.
	 */
	deadline = iou_now_ns() + COMPLETE_MS * 1000000LL;
	while (race_busy(slots)) {
		ASSERT_LT(iou_now_ns(), deadline)
			TH_LOG("%u reads still pending after %u cancel rounds",
			       race_busy(slots), drains);
		iou_prep_cancel(get_sqe(_metadata, &self->ring), 0, IORING_ASYNC_CANCEL_ANY,
				UD_DRAIN);
		submit_n(_metadata, &self->ring, 1);
		drains++;
		race_reap(_metadata, self, slots, semaphore, true, &st, PENDING_MS);
	}
	assert_no_cqe(_metadata, &self->ring);
	final = efd_counter(_metadata, fd);

	TH_LOG("%lu writes in %lld ms: ring reads %lu, cancelled %lu, thief reads %lu",
	       w.writes, (long long)((iou_now_ns() - start) / 1000000), st.reads,
	       st.cancelled, th.reads);
	TH_LOG("written %llu = ring %llu + thief %llu + counter %llu",
	       (unsigned long long)w.sum, (unsigned long long)st.ring_sum,
	       (unsigned long long)th.sum, (unsigned long long)final);
	ASSERT_EQ((unsigned long long)w.sum,
		  (unsigned long long)(st.ring_sum + th.sum + final));

	wait_pinned(_metadata, self->ring.fd, self->inl, c0.pinned);
	counters(_metadata, self, &c1);
	if (self->inl) {
		TH_LOG("inline: armed %llu, completed %llu, fallback %llu, cancelled %llu",
		       (unsigned long long)(c1.armed - c0.armed),
		       (unsigned long long)(c1.completed - c0.completed),
		       (unsigned long long)(c1.fallback - c0.fallback),
		       (unsigned long long)(c1.cancelled - c0.cancelled));
		check_balance(_metadata, &c0, &c1);
	}
}

TEST_F_TIMEOUT(efd, race_writes_cancels, 60)
{
	efd_race(_metadata, self, false);
}

TEST_F_TIMEOUT(efd, race_writes_cancels_semaphore, 60)
{
	efd_race(_metadata, self, true);
}

/* Teardown with reads pending. */

/*
 * Closing the ring (unmap + close) with reads pending returns promptly, and
 * the reads are gone: a count written afterwards stays in the counter.
 */
TEST_F(efd, ring_close_with_pending_reads)
{
	struct inl_counters c0;
	__s64 t0, ms;

	counters(_metadata, self, &c0);
	pending_reads(_metadata, self, self->efd, 2, false, &c0);

	t0 = iou_now_ns();
	iou_exit(&self->ring);
	ms = (iou_now_ns() - t0) / 1000000;
	ASSERT_LT(ms, CLOSE_MS) TH_LOG("closing the ring took %lld ms", (long long)ms);

	efd_write(_metadata, self->efd, 7);
	/* Give any survivor of the ring (task_work, a kworker) time to act. */
	iou_sleep_us(2 * PENDING_MS * 1000);
	ASSERT_EQ(7ULL, (unsigned long long)efd_counter(_metadata, self->efd))
		TH_LOG("a read of the closed ring took the count");
	check_fill(_metadata, self->buf, self->buf_len);
	ASSERT_EQ(7ULL, (unsigned long long)efd_read_nb(_metadata, self->efd));
}

/*
 * Re-create the ring for a test whose requests a forked child submits: a
 * SINGLE_ISSUER ring is created disabled, and the child that enables it
 * becomes its submitter. The parent must then not enter the ring.
 */
static void ring_for_child(struct __test_metadata *_metadata, struct _test_data_efd *self)
{
	int ret;

	if (!(self->flags & IORING_SETUP_SINGLE_ISSUER))
		return;
	iou_exit(&self->ring);
	ret = iou_setup(&self->ring, RING_ENTRIES, self->flags | IORING_SETUP_R_DISABLED);
	ASSERT_EQ(0, ret) TH_LOG("io_uring_setup(%#x): %s", self->flags, strerror(-ret));
}

/*
 * A child submits two reads on a ring the parent keeps open, and exits: the
 * exit is prompt and the count written afterwards is not consumed. The
 * parent only looks at the ring memory and fdinfo.
 *
 * Stock (as for pipes, see pipe_inline.c): the reads stay armed past the
 * exit; the write wakes them, and on a plain ring the fallback worker
 * completes them with -ECANCELED, consuming nothing; on a DEFER_TASKRUN ring
 * no CQE appears until the ring goes away.
 * ASSUMES: inline reads are cancelled at exit already (they are tracked like
 * requests on io_uring files, since they pin the task's memory): two
 * -ECANCELED CQEs and nothing pinned before any write; checked with EXPECT
 * so that the counter checks still run.
 */
TEST_F(efd, task_exit_with_pending_reads)
{
	struct inl_counters c0, c1;
	struct io_uring_cqe *cqe;
	unsigned int i, n;

	ring_for_child(_metadata, self);
	counters(_metadata, self, &c0);

	self->child = fork();
	ASSERT_NE(-1, self->child);
	if (!self->child) {
		if (child_take_ring(&self->ring))
			_exit(CHILD_SETUP);
		child_queue_read(&self->ring, self->efd, slot_buf(self, 0), SLOT, UD_READ);
		child_queue_read(&self->ring, self->efd, slot_buf(self, 1), SLOT, UD_READ + 1);
		if (iou_submit(&self->ring) != 2)
			_exit(CHILD_SUBMIT);
		_exit(iou_cq_ready(&self->ring) ? CHILD_EARLY_CQE : CHILD_OK);
	}
	join_child(_metadata, &self->child, CLOSE_MS);

	counters(_metadata, self, &c1);
	if (self->inl) {
		ASSERT_EQ((unsigned long long)c0.armed + 2, (unsigned long long)c1.armed);
		n = wait_cq_ready(&self->ring, 2, CLOSE_MS);
		EXPECT_EQ(2U, n) TH_LOG("the exit did not cancel the inline reads");
		counters(_metadata, self, &c1);
		EXPECT_EQ(0ULL, (unsigned long long)c1.pinned)
			TH_LOG("the exited task's buffers are still pinned");
	} else {
		assert_no_cqe_mem(_metadata, &self->ring, PENDING_MS);
	}

	efd_write(_metadata, self->efd, 7);
	iou_sleep_us(PENDING_MS * 1000);
	ASSERT_EQ(7ULL, (unsigned long long)efd_counter(_metadata, self->efd))
		TH_LOG("a read of the exited task took the count");

	if (self->inl || !self->defer) {
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
	ASSERT_EQ(7ULL, (unsigned long long)efd_read_nb(_metadata, self->efd));

	if (self->inl) {
		wait_pinned(_metadata, self->ring.fd, true, 0);
		counters(_metadata, self, &c1);
		ASSERT_EQ((unsigned long long)c0.completed, (unsigned long long)c1.completed);
		check_balance(_metadata, &c0, &c1);
	}
}

/*
 * A child creates its own ring, submits two reads of the eventfd and exits
 * (which closes the ring): the exit is prompt and a count written afterwards
 * stays in the counter.
 */
TEST_F(efd, task_exit_with_own_ring)
{
	struct iou_ring ring;
	int i;

	self->child = fork();
	ASSERT_NE(-1, self->child);
	if (!self->child) {
		if (prctl(PR_SET_PDEATHSIG, SIGKILL) ||
		    iou_setup(&ring, RING_ENTRIES, self->flags))
			_exit(CHILD_SETUP);
		for (i = 0; i < 2; i++)
			child_queue_read(&ring, self->efd, slot_buf(self, i), SLOT, UD_READ + i);
		if (iou_submit(&ring) != 2)
			_exit(CHILD_SUBMIT);
		_exit(iou_cq_ready(&ring) ? CHILD_EARLY_CQE : CHILD_OK);
	}
	join_child(_metadata, &self->child, CLOSE_MS);

	efd_write(_metadata, self->efd, 7);
	iou_sleep_us(2 * PENDING_MS * 1000);
	ASSERT_EQ(7ULL, (unsigned long long)efd_counter(_metadata, self->efd))
		TH_LOG("a read of the exited task took the count");
	ASSERT_EQ(7ULL, (unsigned long long)efd_read_nb(_metadata, self->efd));
}

TEST_HARNESS_MAIN
