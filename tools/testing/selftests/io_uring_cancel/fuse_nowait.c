// SPDX-License-Identifier: GPL-2.0
/*
 * Non-blocking and registered-buffer reads of /dev/fuse.
 *
 * /dev/fuse has FMODE_NOWAIT and honours IOCB_NOWAIT: a read that finds no
 * request queued fails with -EAGAIN when the file is O_NONBLOCK or the read
 * is RWF_NOWAIT (preadv2(2), or an io_uring READ with rw_flags RWF_NOWAIT),
 * and io_uring's own non-blocking attempt returns at once (the read then
 * waits for a request through poll) instead of blocking the submitter. Its
 * read_iter also takes a kernel (bvec) destination, so that
 * IORING_OP_READ_FIXED into a registered buffer gets the request. A kernel
 * without this fails RWF_NOWAIT reads with EOPNOTSUPP and READ_FIXED with
 * -EINVAL: the tests that assert the new behaviour fail there, they do not
 * skip. The others check what did not change: blocking and O_NONBLOCK
 * read(2), plain io_uring READs, and -EINVAL for a buffer smaller than
 * max(FUSE_MIN_READ_BUFFER, sizeof(fuse_in_header) + sizeof(fuse_write_in) +
 * max_write).
 *
 * Each test mounts a FUSE file system that it serves itself, raw: it opens
 * /dev/fuse, mounts it (over /tmp in a private mount namespace), answers
 * FUSE_INIT with read(2) and write(2), and then reads a request by the method
 * under test. The request is a FUSE_LOOKUP of NAME in the root, made by a
 * helper thread that stat(2)s "<mount>/NAME"; the test answers -ENOENT and
 * checks that the stat(2) failed with ENOENT, so the reply reached the
 * kernel. Anything else the kernel asks meanwhile is answered with -EIO.
 * Closing /dev/fuse aborts the connection, which ends a stat(2) left waiting.
 * The mount, the handshake and the helper threads are fuse_util.h's.
 *
 * Fixtures:
 *  - dev: read(2) and preadv2(2) of the device, no ring.
 *  - ring: io_uring READ and READ_FIXED, on plain and DEFER_TASKRUN rings,
 *    with and without IORING_SETUP_INLINE_READ (the variants with it SKIP
 *    when the kernel does not report IORING_FEAT_INLINE_READ).
 *
 * Needs root (to mount) and /dev/fuse: the tests SKIP without them. System
 * calls that must not block run under a watchdog timer (SIGALRM, without
 * SA_RESTART), so that a read that blocks fails the test with EINTR instead
 * of hanging it.
 */
#define _GNU_SOURCE
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
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/uio.h>

#include <linux/fuse.h>

#include "../kselftest_harness.h"
#include "inline_test.h"
#include "fuse_util.h"

#ifndef RWF_NOWAIT
#define RWF_NOWAIT		0x00000008
#endif

#define RING_ENTRIES		8
/* The read buffer (registered on the ring): 4 pages, more than a read needs. */
#define BUF_LEN			16384
/* The max_write the server announces in its FUSE_INIT reply. */
#define MAX_WRITE		4096
/*
 * Smaller than the smallest buffer a read of the device takes, which is
 * max(FUSE_MIN_READ_BUFFER, sizeof(fuse_in_header) + sizeof(fuse_write_in) +
 * MAX_WRITE) = 8192.
 */
#define SMALL_LEN		4096
/* The name looked up in the root: the LOOKUP carries it with its NUL. */
#define NAME			"iu-name"
#define LOOKUP_LEN		((int)(sizeof(struct fuse_in_header) + sizeof(NAME)))
/* How long the helper of blocking_read sleeps before its stat(2). */
#define DELAY_MS		200

#define FILL			0xaa

#define UD_READ			0x1000ULL
#define UD_READ2		0x2000ULL

/* The FUSE server. */

struct fuse_srv {
	struct fuse_mnt m;
	char *buf;		/* BUF_LEN bytes, FILL before a read */
	struct fuse_call st;	/* the helper's stat(2) of "<mount>/NAME" */
};

/* Start a helper thread that stat(2)s "<mount>/NAME" after @delay_ms. */
static void start_stat(struct __test_metadata *_metadata, struct fuse_srv *s,
		       unsigned int delay_ms)
{
	char path[64];

	snprintf(path, sizeof(path), "%s/%s", s->m.mnt, NAME);
	fuse_stat_start(_metadata, &s->st, path, delay_ms);
}

/*
 * The @n bytes read into s->buf are the helper's LOOKUP, and nothing was
 * written past them. Returns its unique.
 */
static __u64 check_lookup(struct __test_metadata *_metadata, struct fuse_srv *s, ssize_t n)
{
	return fuse_check_lookup(_metadata, s->buf, n, BUF_LEN, NAME, fuse_call_tid(&s->st),
				 (char)FILL);
}

/* The @n bytes in s->buf are the helper's LOOKUP: answer it and finish the stat(2). */
static void answer_lookup(struct __test_metadata *_metadata, struct fuse_srv *s, ssize_t n)
{
	__u64 unique = check_lookup(_metadata, s, n);

	reply_err(_metadata, s->m.fd, unique, ENOENT);
	fuse_finish_call(_metadata, s->m.fd, &s->st, ENOENT);
}

static void srv_init(struct fuse_srv *s)
{
	memset(s, 0, sizeof(*s));
	fuse_mnt_init(&s->m);
	fuse_call_init(&s->st);
	s->buf = MAP_FAILED;
}

/*
 * Open /dev/fuse and allocate the buffer. Returns NULL, or why the test
 * cannot run.
 */
static const char *srv_open(struct __test_metadata *_metadata, struct fuse_srv *s)
{
	const char *why = fuse_dev_open(&s->m);

	if (why)
		return why;
	ASSERT_EQ(0, watchdog_init());
	s->buf = mmap(NULL, BUF_LEN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, s->buf);
	memset(s->buf, FILL, BUF_LEN);
	return NULL;
}

/* Mount the file system and answer FUSE_INIT (see fuse_mount()). */
static void srv_mount(struct __test_metadata *_metadata, struct fuse_srv *s)
{
	fuse_mount(_metadata, &s->m, s->buf, BUF_LEN, MAX_WRITE, 0);
	memset(s->buf, FILL, BUF_LEN);
}

/*
 * Unmount, close the device (which aborts the connection, so that a stat(2)
 * still waiting for an answer ends) and reap the helper. Never blocks for
 * long: a helper that does not end within CLOSE_MS is left to the exit.
 */
static void srv_teardown(struct fuse_srv *s)
{
	watchdog(0);
	fuse_unmount(&s->m);
	fuse_call_reap(&s->st, CLOSE_MS);
	fuse_rmdir(&s->m);
	if (s->buf != MAP_FAILED)
		munmap(s->buf, BUF_LEN);
}

/*
 * dev: read(2) and preadv2(2) of the device.
 */

FIXTURE(dev) {
	struct fuse_srv s;
};

FIXTURE_SETUP(dev)
{
	const char *why;

	srv_init(&self->s);
	why = srv_open(_metadata, &self->s);
	if (why)
		SKIP(return, "%s", why);
	srv_mount(_metadata, &self->s);
}

FIXTURE_TEARDOWN(dev)
{
	srv_teardown(&self->s);
}

/* preadv2(2) of @len bytes into s->buf with @flags, under the watchdog; sets @err. */
static ssize_t dev_preadv2(struct fuse_srv *s, size_t len, int flags, int *err)
{
	struct iovec iov = { .iov_base = s->buf, .iov_len = len };
	ssize_t n;

	watchdog(COMPLETE_MS);
	n = preadv2(s->m.fd, &iov, 1, -1, flags);
	*err = errno;
	watchdog(0);
	return n;
}

/* read(2) of @len bytes into s->buf, under the watchdog; sets @err. */
static ssize_t dev_read(struct fuse_srv *s, size_t len, int *err)
{
	return fuse_dev_read(s->m.fd, s->buf, len, err);
}

/* RWF_NOWAIT with nothing queued: EAGAIN at once (EOPNOTSUPP without FMODE_NOWAIT). */
TEST_F_TIMEOUT(dev, nowait_empty, 30)
{
	ssize_t n;
	int err;

	assert_idle(_metadata, self->s.m.fd);
	n = dev_preadv2(&self->s, BUF_LEN, RWF_NOWAIT, &err);
	ASSERT_EQ(-1, n) TH_LOG("preadv2(RWF_NOWAIT) read %zd bytes", n);
	ASSERT_EQ(EAGAIN, err) TH_LOG("preadv2(RWF_NOWAIT) with nothing queued: %s%s",
				      strerror(err), wd_note());
	check_fill(_metadata, self->s.buf, BUF_LEN);
}

/* RWF_NOWAIT with a LOOKUP queued: the request. */
TEST_F_TIMEOUT(dev, nowait_queued, 30)
{
	ssize_t n;
	int err;

	start_stat(_metadata, &self->s, 0);
	wait_queued(_metadata, self->s.m.fd);
	n = dev_preadv2(&self->s, BUF_LEN, RWF_NOWAIT, &err);
	ASSERT_EQ(LOOKUP_LEN, n) TH_LOG("preadv2(RWF_NOWAIT) with a request queued: %s%s",
					n < 0 ? strerror(err) : "wrong length", wd_note());
	answer_lookup(_metadata, &self->s, n);
}

/*
 * A buffer below the minimum: EINVAL for read(2) (unchanged) and for
 * preadv2(RWF_NOWAIT), even with a request queued, which stays queued.
 */
TEST_F_TIMEOUT(dev, small_buf, 30)
{
	ssize_t n;
	int err;

	start_stat(_metadata, &self->s, 0);
	wait_queued(_metadata, self->s.m.fd);

	n = dev_read(&self->s, SMALL_LEN, &err);
	ASSERT_EQ(-1, n) TH_LOG("read(2) of %d bytes got %zd", SMALL_LEN, n);
	ASSERT_EQ(EINVAL, err) TH_LOG("read(2) of %d bytes: %s%s", SMALL_LEN, strerror(err),
				      wd_note());
	n = dev_preadv2(&self->s, SMALL_LEN, RWF_NOWAIT, &err);
	ASSERT_EQ(-1, n) TH_LOG("preadv2(RWF_NOWAIT) of %d bytes got %zd", SMALL_LEN, n);
	ASSERT_EQ(EINVAL, err) TH_LOG("preadv2(RWF_NOWAIT) of %d bytes: %s%s", SMALL_LEN,
				      strerror(err), wd_note());
	check_fill(_metadata, self->s.buf, BUF_LEN);

	/* The request is still there. */
	wait_queued(_metadata, self->s.m.fd);
	n = dev_read(&self->s, BUF_LEN, &err);
	ASSERT_EQ(LOOKUP_LEN, n) TH_LOG("read(2): %s%s", strerror(err), wd_note());
	answer_lookup(_metadata, &self->s, n);
}

/* O_NONBLOCK (unchanged): EAGAIN with nothing queued, then the request. */
TEST_F_TIMEOUT(dev, nonblock, 30)
{
	int fl = fcntl(self->s.m.fd, F_GETFL), err;
	ssize_t n;

	ASSERT_NE(-1, fl);
	ASSERT_EQ(0, fcntl(self->s.m.fd, F_SETFL, fl | O_NONBLOCK));
	assert_idle(_metadata, self->s.m.fd);
	n = dev_read(&self->s, BUF_LEN, &err);
	ASSERT_EQ(-1, n);
	ASSERT_EQ(EAGAIN, err) TH_LOG("O_NONBLOCK read(2) with nothing queued: %s%s",
				      strerror(err), wd_note());
	check_fill(_metadata, self->s.buf, BUF_LEN);

	start_stat(_metadata, &self->s, 0);
	wait_queued(_metadata, self->s.m.fd);
	n = dev_read(&self->s, BUF_LEN, &err);
	ASSERT_EQ(LOOKUP_LEN, n) TH_LOG("O_NONBLOCK read(2): %s%s", strerror(err), wd_note());
	ASSERT_EQ(0, fcntl(self->s.m.fd, F_SETFL, fl));
	answer_lookup(_metadata, &self->s, n);
}

/*
 * A blocking read(2) (unchanged) waits: the helper sleeps DELAY_MS before its
 * stat(2), and the read gets the request then.
 */
TEST_F_TIMEOUT(dev, blocking_read, 30)
{
	ssize_t n;
	int err;

	assert_idle(_metadata, self->s.m.fd);
	start_stat(_metadata, &self->s, DELAY_MS);
	n = dev_read(&self->s, BUF_LEN, &err);
	ASSERT_EQ(LOOKUP_LEN, n) TH_LOG("blocking read(2): %s%s", strerror(err), wd_note());
	answer_lookup(_metadata, &self->s, n);
}

/*
 * ring: io_uring reads of the device. s.buf is registered as buffer 0.
 */

FIXTURE(ring) {
	struct fuse_srv s;
	struct iou_ring ring;
};

#define INL_VARIANTS_OF ring
#define INL_VARIANTS_PLAIN_DEFER
#include "ring_variants.h"

FIXTURE_SETUP(ring)
{
	unsigned int flags = variant->setup_flags |
			     (variant->inline_read ? IORING_SETUP_INLINE_READ : 0);
	struct iovec iov;
	const char *why;
	int ret;

	srv_init(&self->s);
	self->ring.fd = -1;
	if (variant->inline_read && !inline_read_supported())
		SKIP(return, "kernel lacks IORING_FEAT_INLINE_READ");
	why = srv_open(_metadata, &self->s);
	if (why)
		SKIP(return, "%s", why);

	ret = iou_setup(&self->ring, RING_ENTRIES, flags);
	ASSERT_EQ(0, ret) TH_LOG("io_uring_setup(%#x): %s", flags, strerror(-ret));
	if (!(self->ring.features & IORING_FEAT_EXT_ARG))
		SKIP(return, "no IORING_FEAT_EXT_ARG: waits cannot be bounded");
	iov.iov_base = self->s.buf;
	iov.iov_len = BUF_LEN;
	ret = iou_register_buffers(&self->ring, &iov, 1);
	ASSERT_EQ(0, ret) TH_LOG("IORING_REGISTER_BUFFERS: %s", strerror(-ret));

	srv_mount(_metadata, &self->s);
}

FIXTURE_TEARDOWN(ring)
{
	/* First the ring: a pending read holds a reference to the device. */
	iou_exit(&self->ring);
	srv_teardown(&self->s);
}

/* Queue a read (@op READ or READ_FIXED) of @len bytes into s.buf. */
static void queue_dev_read(struct __test_metadata *_metadata, struct _test_data_ring *self,
			   __u8 op, __u32 len, int rw_flags, __u64 ud)
{
	struct io_uring_sqe *sqe = get_sqe(_metadata, &self->ring);

	if (op == IORING_OP_READ_FIXED)
		iou_prep_read_fixed(sqe, self->s.m.fd, self->s.buf, len, IOU_POS_CUR, 0, ud);
	else
		iou_prep_read(sqe, self->s.m.fd, self->s.buf, len, IOU_POS_CUR, ud);
	sqe->rw_flags = rw_flags;
}

/* Submit @n reads: the submitter must not block in them (watchdog). */
static void submit_reads(struct __test_metadata *_metadata, struct _test_data_ring *self, int n)
{
	int ret;

	watchdog(COMPLETE_MS);
	ret = iou_submit(&self->ring);
	watchdog(0);
	ASSERT_EQ(n, ret) TH_LOG("submit: %s", ret < 0 ? strerror(-ret) : "short");
	ASSERT_FALSE(fired()) TH_LOG("io_uring_enter() blocked in the read");
}

/* The CQE of the one read: its result. */
static int reap_read(struct __test_metadata *_metadata, struct _test_data_ring *self)
{
	struct io_uring_cqe cqe;

	reap_cqe(_metadata, &self->ring, &cqe);
	ASSERT_EQ(UD_READ, cqe.user_data);
	return cqe.res;
}

/*
 * A read (@op READ or READ_FIXED) with nothing queued waits; a LOOKUP then
 * completes it.
 */
static void read_waits(struct __test_metadata *_metadata, struct _test_data_ring *self, __u8 op)
{
	int res;

	assert_idle(_metadata, self->s.m.fd);
	queue_dev_read(_metadata, self, op, BUF_LEN, 0, UD_READ);
	submit_reads(_metadata, self, 1);
	assert_no_cqe(_metadata, &self->ring);
	check_fill(_metadata, self->s.buf, BUF_LEN);

	start_stat(_metadata, &self->s, 0);
	res = reap_read(_metadata, self);
	ASSERT_EQ(LOOKUP_LEN, res) TH_LOG("read: %d (%s)", res, strerror(res < 0 ? -res : 0));
	answer_lookup(_metadata, &self->s, res);
}

/* A read (@op, @rw_flags) with a LOOKUP queued gets it. */
static void read_queued(struct __test_metadata *_metadata, struct _test_data_ring *self,
			__u8 op, int rw_flags)
{
	int res;

	start_stat(_metadata, &self->s, 0);
	wait_queued(_metadata, self->s.m.fd);
	queue_dev_read(_metadata, self, op, BUF_LEN, rw_flags, UD_READ);
	submit_reads(_metadata, self, 1);
	res = reap_read(_metadata, self);
	ASSERT_EQ(LOOKUP_LEN, res) TH_LOG("read: %d (%s)", res, strerror(res < 0 ? -res : 0));
	answer_lookup(_metadata, &self->s, res);
}

/* READ with RWF_NOWAIT and nothing queued: -EAGAIN at once (-EOPNOTSUPP without FMODE_NOWAIT). */
TEST_F_TIMEOUT(ring, nowait_empty, 30)
{
	int res;

	assert_idle(_metadata, self->s.m.fd);
	queue_dev_read(_metadata, self, IORING_OP_READ, BUF_LEN, RWF_NOWAIT, UD_READ);
	submit_reads(_metadata, self, 1);
	res = reap_read(_metadata, self);
	ASSERT_EQ(-EAGAIN, res) TH_LOG("RWF_NOWAIT read with nothing queued: %d (%s)", res,
				       strerror(res < 0 ? -res : 0));
	check_fill(_metadata, self->s.buf, BUF_LEN);
}

/* READ with RWF_NOWAIT and a LOOKUP queued: the request. */
TEST_F_TIMEOUT(ring, nowait_queued, 30)
{
	read_queued(_metadata, self, IORING_OP_READ, RWF_NOWAIT);
}

/* READ_FIXED with a LOOKUP queued: the request (-EINVAL without bvec support). */
TEST_F_TIMEOUT(ring, fixed_queued, 30)
{
	read_queued(_metadata, self, IORING_OP_READ_FIXED, 0);
}

/* READ_FIXED with nothing queued waits, and the LOOKUP completes it. */
TEST_F_TIMEOUT(ring, fixed_waits, 30)
{
	read_waits(_metadata, self, IORING_OP_READ_FIXED);
}

/* READ with nothing queued (unchanged) waits, and the LOOKUP completes it. */
TEST_F_TIMEOUT(ring, read_waits, 30)
{
	read_waits(_metadata, self, IORING_OP_READ);
}

/*
 * A buffer below the minimum: -EINVAL for READ_FIXED and READ, even with a
 * request queued, which stays queued.
 */
TEST_F_TIMEOUT(ring, small_buf, 30)
{
	struct io_uring_cqe cqes[2];
	ssize_t n;
	int res;

	start_stat(_metadata, &self->s, 0);
	wait_queued(_metadata, self->s.m.fd);
	queue_dev_read(_metadata, self, IORING_OP_READ_FIXED, SMALL_LEN, 0, UD_READ);
	queue_dev_read(_metadata, self, IORING_OP_READ, SMALL_LEN, 0, UD_READ2);
	submit_reads(_metadata, self, 2);
	reap_n(_metadata, &self->ring, cqes, 2);
	res = cqe_res(_metadata, cqes, 2, UD_READ);
	ASSERT_EQ(-EINVAL, res) TH_LOG("READ_FIXED of %d bytes: %d", SMALL_LEN, res);
	res = cqe_res(_metadata, cqes, 2, UD_READ2);
	ASSERT_EQ(-EINVAL, res) TH_LOG("READ of %d bytes: %d", SMALL_LEN, res);
	check_fill(_metadata, self->s.buf, BUF_LEN);

	/* The request is still there. */
	wait_queued(_metadata, self->s.m.fd);
	n = read(self->s.m.fd, self->s.buf, BUF_LEN);
	ASSERT_EQ(LOOKUP_LEN, n) TH_LOG("read(2): %s", strerror(errno));
	answer_lookup(_metadata, &self->s, n);
}

TEST_HARNESS_MAIN
