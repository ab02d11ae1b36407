// SPDX-License-Identifier: GPL-2.0
/*
 * io_uring reads on pipes: the behaviour of the stock kernel (Linux 6.12)
 * that must keep holding on rings that do not opt in to anything new.
 *
 * Each test runs on a plain, a COOP_TASKRUN, a DEFER_TASKRUN and an SQPOLL
 * ring. Every wait is bounded: a broken kernel fails a test, it never hangs
 * the run.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/uio.h>

#include "../kselftest_harness.h"
#include "inline_test.h"

#define RING_ENTRIES	8

#define BUF_LEN		256
#define FILL		0xaa

#define UD_READ		0x1000ULL
#define UD_CANCEL	0x2000ULL

/* Write a recognisable pattern of @len bytes to @fd. */
static void write_pattern(struct __test_metadata *_metadata, int fd, size_t len, int seed)
{
	char buf[BUF_LEN];
	size_t i;

	ASSERT_LE(len, sizeof(buf));
	for (i = 0; i < len; i++)
		buf[i] = (char)(seed + i);
	ASSERT_EQ((ssize_t)len, write(fd, buf, len)) TH_LOG("write: %s", strerror(errno));
}

/* Check that @buf holds the bytes write_pattern(@seed) wrote. */
static void check_pattern(struct __test_metadata *_metadata, const char *buf, size_t len,
			  int seed)
{
	size_t i;

	for (i = 0; i < len; i++)
		ASSERT_EQ((char)(seed + i), buf[i]) TH_LOG("byte %zu differs", i);
}

FIXTURE(pipe_stock) {
	struct iou_ring ring;
	int rfd;
	int wfd;
	char buf[BUF_LEN];
};

FIXTURE_VARIANT(pipe_stock) {
	unsigned int setup_flags;
};

FIXTURE_VARIANT_ADD(pipe_stock, plain) {
	.setup_flags = 0,
};

FIXTURE_VARIANT_ADD(pipe_stock, coop_taskrun) {
	.setup_flags = IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG,
};

FIXTURE_VARIANT_ADD(pipe_stock, defer_taskrun) {
	.setup_flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN,
};

FIXTURE_VARIANT_ADD(pipe_stock, sqpoll) {
	.setup_flags = IORING_SETUP_SQPOLL,
};

FIXTURE_SETUP(pipe_stock)
{
	int fds[2];
	int ret;

	self->ring.fd = -1;
	self->rfd = -1;
	self->wfd = -1;
	memset(self->buf, FILL, sizeof(self->buf));

	ret = iou_setup(&self->ring, RING_ENTRIES, variant->setup_flags);
	/* Every variant's flags exist since Linux 6.1: any error is a failure. */
	ASSERT_EQ(0, ret) TH_LOG("io_uring_setup(%#x): %s", variant->setup_flags, strerror(-ret));
	if (!(self->ring.features & IORING_FEAT_EXT_ARG))
		SKIP(return, "no IORING_FEAT_EXT_ARG: waits cannot be bounded");

	ASSERT_EQ(0, pipe(fds));
	self->rfd = fds[0];
	self->wfd = fds[1];
}

FIXTURE_TEARDOWN(pipe_stock)
{
	iou_exit(&self->ring);
	if (self->rfd >= 0)
		close(self->rfd);
	if (self->wfd >= 0)
		close(self->wfd);
}

/* A read of an empty pipe neither completes nor touches its buffer. */
TEST_F(pipe_stock, read_empty_stays_pending)
{
	struct io_uring_sqe *sqe = iou_get_sqe(&self->ring);

	ASSERT_NE(NULL, sqe);
	iou_prep_read(sqe, self->rfd, self->buf, sizeof(self->buf), IOU_POS_CUR, UD_READ);
	submit_n(_metadata, &self->ring, 1);

	assert_no_cqe(_metadata, &self->ring);
	check_fill(_metadata, self->buf, sizeof(self->buf));
}

/* A write completes a pending read with the bytes written, and res == their count. */
TEST_F(pipe_stock, write_completes_pending_read)
{
	struct io_uring_sqe *sqe = iou_get_sqe(&self->ring);
	struct io_uring_cqe cqe;
	const size_t len = 100;

	ASSERT_NE(NULL, sqe);
	iou_prep_read(sqe, self->rfd, self->buf, sizeof(self->buf), IOU_POS_CUR, UD_READ);
	submit_n(_metadata, &self->ring, 1);
	assert_no_cqe(_metadata, &self->ring);

	write_pattern(_metadata, self->wfd, len, 1);
	reap_cqe(_metadata, &self->ring, &cqe);
	ASSERT_EQ(UD_READ, cqe.user_data);
	ASSERT_EQ((int)len, cqe.res) TH_LOG("read res %d", cqe.res);
	ASSERT_EQ(0U, cqe.flags);
	check_pattern(_metadata, self->buf, len, 1);
	check_fill(_metadata, self->buf + len, sizeof(self->buf) - len);

	ASSERT_EQ(0, pipe_bytes(_metadata, self->rfd)) TH_LOG("data left in the pipe");
	assert_no_cqe(_metadata, &self->ring);
}

/*
 * IORING_OP_ASYNC_CANCEL by user_data ends a pending read with -ECANCELED,
 * succeeds itself, and the cancelled read consumes nothing written later.
 */
TEST_F(pipe_stock, cancel_pending_read)
{
	struct io_uring_sqe *sqe = iou_get_sqe(&self->ring);
	bool seen_read = false, seen_cancel = false;
	const size_t len = 64;
	char out[BUF_LEN];
	int i;

	ASSERT_NE(NULL, sqe);
	iou_prep_read(sqe, self->rfd, self->buf, sizeof(self->buf), IOU_POS_CUR, UD_READ);
	submit_n(_metadata, &self->ring, 1);
	assert_no_cqe(_metadata, &self->ring);

	sqe = iou_get_sqe(&self->ring);
	ASSERT_NE(NULL, sqe);
	iou_prep_cancel(sqe, UD_READ, 0, UD_CANCEL);
	submit_n(_metadata, &self->ring, 1);

	for (i = 0; i < 2; i++) {
		struct io_uring_cqe cqe;

		reap_cqe(_metadata, &self->ring, &cqe);
		if (cqe.user_data == UD_READ) {
			ASSERT_FALSE(seen_read);
			ASSERT_EQ(-ECANCELED, cqe.res) TH_LOG("read res %d", cqe.res);
			seen_read = true;
		} else {
			ASSERT_EQ(UD_CANCEL, cqe.user_data);
			ASSERT_FALSE(seen_cancel);
			ASSERT_EQ(0, cqe.res) TH_LOG("cancel res %d", cqe.res);
			seen_cancel = true;
		}
	}
	assert_no_cqe(_metadata, &self->ring);

	write_pattern(_metadata, self->wfd, len, 2);
	assert_no_cqe(_metadata, &self->ring);
	ASSERT_EQ((int)len, pipe_bytes(_metadata, self->rfd)) TH_LOG("cancelled read took data");
	read_nonblock(_metadata, self->rfd, out, len);
	check_pattern(_metadata, out, len, 2);
	check_fill(_metadata, self->buf, sizeof(self->buf));
}

/*
 * Closing a ring with a read pending returns promptly, and the read is gone:
 * data written afterwards stays in the pipe for read(2). Each ring mapping
 * holds a reference to the ring file, so "closing" means unmapping the rings
 * and closing the fd; the ring is released before the last of these returns.
 */
TEST_F(pipe_stock, ring_close_drops_pending_read)
{
	struct io_uring_sqe *sqe = iou_get_sqe(&self->ring);
	const size_t len = 80;
	char out[BUF_LEN];
	__s64 t0, ms;

	ASSERT_NE(NULL, sqe);
	iou_prep_read(sqe, self->rfd, self->buf, sizeof(self->buf), IOU_POS_CUR, UD_READ);
	submit_n(_metadata, &self->ring, 1);
	assert_no_cqe(_metadata, &self->ring);

	t0 = iou_now_ns();
	iou_exit(&self->ring);
	ms = (iou_now_ns() - t0) / 1000000;
	ASSERT_LT(ms, CLOSE_MS) TH_LOG("closing the ring took %lld ms", (long long)ms);

	write_pattern(_metadata, self->wfd, len, 3);
	/* Give any survivor of the ring (task_work, SQPOLL thread) time to act. */
	iou_sleep_us(PENDING_MS * 1000);
	ASSERT_EQ((int)len, pipe_bytes(_metadata, self->rfd)) TH_LOG("closed ring took data");
	read_nonblock(_metadata, self->rfd, out, len);
	check_pattern(_metadata, out, len, 3);
	check_fill(_metadata, self->buf, sizeof(self->buf));
}

/* The READV form: stays pending, then a write scatters into both iovecs. */
TEST_F(pipe_stock, readv_pending_then_completes)
{
	struct io_uring_sqe *sqe = iou_get_sqe(&self->ring);
	const size_t half = 16, len = 24;
	struct iovec iov[2] = {
		{ .iov_base = self->buf, .iov_len = half },
		{ .iov_base = self->buf + 2 * half, .iov_len = half },
	};
	struct io_uring_cqe cqe;
	char expect[BUF_LEN];

	ASSERT_NE(NULL, sqe);
	iou_prep_readv(sqe, self->rfd, iov, 2, IOU_POS_CUR, UD_READ);
	submit_n(_metadata, &self->ring, 1);
	assert_no_cqe(_metadata, &self->ring);
	check_fill(_metadata, self->buf, sizeof(self->buf));

	write_pattern(_metadata, self->wfd, len, 4);
	reap_cqe(_metadata, &self->ring, &cqe);
	ASSERT_EQ(UD_READ, cqe.user_data);
	ASSERT_EQ((int)len, cqe.res) TH_LOG("readv res %d", cqe.res);

	/* buf: [pattern 0..15][fill 16..31][pattern 16..23][fill ...] */
	memcpy(expect, self->buf, half);
	memcpy(expect + half, self->buf + 2 * half, len - half);
	check_pattern(_metadata, expect, len, 4);
	check_fill(_metadata, self->buf + half, half);
	check_fill(_metadata, self->buf + 2 * half + (len - half),
		   sizeof(self->buf) - 2 * half - (len - half));
	ASSERT_EQ(0, pipe_bytes(_metadata, self->rfd));
}

/* The READ_FIXED form: stays pending, then a write fills the registered buffer. */
TEST_F(pipe_stock, read_fixed_pending_then_completes)
{
	const size_t map_len = 4096, at = 100, want = 64, len = 40;
	struct io_uring_sqe *sqe;
	struct io_uring_cqe cqe;
	struct iovec iov;
	char *fixed;
	int ret;

	fixed = mmap(NULL, map_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, fixed);
	memset(fixed, FILL, map_len);
	iov.iov_base = fixed;
	iov.iov_len = map_len;
	ret = iou_register_buffers(&self->ring, &iov, 1);
	ASSERT_EQ(0, ret) TH_LOG("register buffers: %s", strerror(-ret));

	sqe = iou_get_sqe(&self->ring);
	ASSERT_NE(NULL, sqe);
	iou_prep_read_fixed(sqe, self->rfd, fixed + at, want, IOU_POS_CUR, 0, UD_READ);
	submit_n(_metadata, &self->ring, 1);
	assert_no_cqe(_metadata, &self->ring);
	check_fill(_metadata, fixed, map_len);

	write_pattern(_metadata, self->wfd, len, 5);
	reap_cqe(_metadata, &self->ring, &cqe);
	ASSERT_EQ(UD_READ, cqe.user_data);
	ASSERT_EQ((int)len, cqe.res) TH_LOG("read_fixed res %d", cqe.res);
	check_fill(_metadata, fixed, at);
	check_pattern(_metadata, fixed + at, len, 5);
	check_fill(_metadata, fixed + at + len, map_len - at - len);
	ASSERT_EQ(0, pipe_bytes(_metadata, self->rfd));
}

/* Closing the last writer completes a pending read with 0 (EOF). */
TEST_F(pipe_stock, last_writer_close_completes_with_eof)
{
	struct io_uring_sqe *sqe = iou_get_sqe(&self->ring);
	struct io_uring_cqe cqe;

	ASSERT_NE(NULL, sqe);
	iou_prep_read(sqe, self->rfd, self->buf, sizeof(self->buf), IOU_POS_CUR, UD_READ);
	submit_n(_metadata, &self->ring, 1);
	assert_no_cqe(_metadata, &self->ring);

	ASSERT_EQ(0, close(self->wfd));
	self->wfd = -1;
	reap_cqe(_metadata, &self->ring, &cqe);
	ASSERT_EQ(UD_READ, cqe.user_data);
	ASSERT_EQ(0, cqe.res) TH_LOG("read res %d, expected EOF", cqe.res);
	check_fill(_metadata, self->buf, sizeof(self->buf));
}

/*
 * Closing a writer that is not the last one leaves a pending read pending.
 * The second writer is a second open file of the pipe (a dup() would share
 * the first one's file), opened through /proc.
 */
TEST_F(pipe_stock, other_writer_close_keeps_read_pending)
{
	struct io_uring_sqe *sqe = iou_get_sqe(&self->ring);
	struct io_uring_cqe cqe;
	char path[64];
	int wfd2;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", self->wfd);
	wfd2 = open(path, O_WRONLY);
	if (wfd2 < 0)
		SKIP(return, "cannot reopen the pipe through %s: %s", path, strerror(errno));

	ASSERT_NE(NULL, sqe);
	iou_prep_read(sqe, self->rfd, self->buf, sizeof(self->buf), IOU_POS_CUR, UD_READ);
	submit_n(_metadata, &self->ring, 1);
	assert_no_cqe(_metadata, &self->ring);

	ASSERT_EQ(0, close(self->wfd));
	self->wfd = wfd2;
	assert_no_cqe(_metadata, &self->ring);
	check_fill(_metadata, self->buf, sizeof(self->buf));

	/* The remaining writer still delivers. */
	write_pattern(_metadata, self->wfd, 10, 6);
	reap_cqe(_metadata, &self->ring, &cqe);
	ASSERT_EQ(UD_READ, cqe.user_data);
	ASSERT_EQ(10, cqe.res) TH_LOG("read res %d", cqe.res);
	check_pattern(_metadata, self->buf, 10, 6);
}

TEST_HARNESS_MAIN
