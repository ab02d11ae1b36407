// SPDX-License-Identifier: GPL-2.0
/*
 * Bad input to io_uring reads, on rings with and without
 * IORING_SETUP_INLINE_READ: the opt-in changes nothing.
 *
 * Every failing request here fails before it reads anything, so each case
 * checks the exact errno of Linux 6.12 (each test says where in the source
 * it comes from; line numbers: 6.12.117, tag "base" of the assembled tree)
 * and that nothing was consumed or touched: the pipe still holds the bytes
 * written before, the read's buffer is untouched, and the inline engine
 * never saw the request (every InlineRead* counter of the ring's fdinfo is
 * still 0). The last test reads with a huge length, which is too large to
 * wait inline: it takes the stock poll path and completes with the data.
 *
 * Fixture bad, one ring per test:
 *  - inline_plain: IORING_SETUP_INLINE_READ;
 *  - inline_defer_taskrun: the same with SINGLE_ISSUER | DEFER_TASKRUN;
 *  - stock_plain: no flag. It runs on any kernel and must give the same
 *    results; its counters are absent or 0.
 * The inline variants SKIP when the kernel does not report
 * IORING_FEAT_INLINE_READ.
 *
 * IORING_SETUP_INLINE_READ together with IORING_SETUP_IOPOLL is tested in
 * pipe_inline.c (inline_read_rejects_iopoll). Every wait is bounded.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/uio.h>

#include "inline_test.h"

#ifndef RWF_HIPRI
#define RWF_HIPRI		0x00000001
#endif
#ifndef RWF_APPEND
#define RWF_APPEND		0x00000010
#endif
#ifndef RWF_NOAPPEND
#define RWF_NOAPPEND		0x00000020
#endif

/*
 * IORING_OP_LAST of 6.12 (IORING_OP_LISTEN + 1). The uapi header this file
 * is built against may be older, and its IORING_OP_LAST a valid 6.12 opcode.
 */
#define OP_LAST_6_12		58

#define RING_ENTRIES		8
#define FILL			0xaa
#define BUF_PAGES		2
/* Length of the reads that are expected to fail. */
#define SLOT			64

/* What the pipe holds while bad requests are submitted. */
#define PRELOAD			16
static const char preload_data[PRELOAD + 1] = "0123456789abcdef";

/* A read length far above the inline per-read cap (1 MiB). */
#define HUGE_LEN		0x7fffffffU

#define UD_BAD			0xbad0ULL
#define UD_READ			0x1000ULL

FIXTURE(bad) {
	struct iou_ring ring;
	int rfd;
	int wfd;
	size_t page;
	char *buf;		/* BUF_PAGES private anonymous pages, all FILL */
	size_t buf_len;
};

FIXTURE_VARIANT(bad) {
	unsigned int setup_flags;
	bool inline_read;
};

FIXTURE_VARIANT_ADD(bad, inline_plain) {
	.setup_flags = 0,
	.inline_read = true,
};

FIXTURE_VARIANT_ADD(bad, inline_defer_taskrun) {
	.setup_flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN,
	.inline_read = true,
};

FIXTURE_VARIANT_ADD(bad, stock_plain) {
	.setup_flags = 0,
	.inline_read = false,
};

static unsigned int ring_flags(const struct _fixture_variant_bad *variant)
{
	return variant->setup_flags | (variant->inline_read ? IORING_SETUP_INLINE_READ : 0);
}

FIXTURE_SETUP(bad)
{
	unsigned int flags = ring_flags(variant);
	int fds[2];
	int ret;

	self->ring.fd = -1;
	self->rfd = -1;
	self->wfd = -1;
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

FIXTURE_TEARDOWN(bad)
{
	iou_exit(&self->ring);
	if (self->rfd >= 0)
		close(self->rfd);
	if (self->wfd >= 0)
		close(self->wfd);
	if (self->buf != MAP_FAILED)
		munmap(self->buf, self->buf_len);
}

/* Put PRELOAD bytes in the pipe: no failing read may take any of them. */
static void preload(struct __test_metadata *_metadata, struct _test_data_bad *self)
{
	ASSERT_EQ((ssize_t)PRELOAD, write(self->wfd, preload_data, PRELOAD))
		TH_LOG("write: %s", strerror(errno));
}

/* The PRELOAD bytes are all still in the pipe, in order: read them out. */
static void drain_preload(struct __test_metadata *_metadata, struct _test_data_bad *self)
{
	char out[PRELOAD];

	ASSERT_EQ(PRELOAD, pipe_bytes(_metadata, self->rfd));
	read_nonblock(_metadata, self->rfd, out, sizeof(out));
	check_bytes(_metadata, out, preload_data, PRELOAD);
}

/*
 * The inline engine never saw a request of this ring: nothing armed, nothing
 * pinned, nothing ended. (Without the flag get_counters() checks this too.)
 */
static void check_never_armed(struct __test_metadata *_metadata, struct _test_data_bad *self,
			      const struct _fixture_variant_bad *variant, const char *what)
{
	struct inl_counters c;

	get_counters(_metadata, self->ring.fd, variant->inline_read, &c);
	ASSERT_EQ(0ULL, (unsigned long long)c.armed) TH_LOG("%s: InlineReadArmed moved", what);
	ASSERT_EQ(0ULL, (unsigned long long)c.pinned) TH_LOG("%s: InlineReadPinned moved", what);
	ASSERT_EQ(0ULL, (unsigned long long)c.completed)
		TH_LOG("%s: InlineReadCompleted moved", what);
	ASSERT_EQ(0ULL, (unsigned long long)c.fallback)
		TH_LOG("%s: InlineReadFallback moved", what);
	ASSERT_EQ(0ULL, (unsigned long long)c.cancelled)
		TH_LOG("%s: InlineReadCancelled moved", what);
}

/*
 * Submit the one SQE queued with user_data UD_BAD and check that it fails
 * with @err: exactly one CQE, and nothing consumed from the preloaded pipe,
 * nothing written to the buffer, nothing armed or pinned.
 */
static void expect_fail(struct __test_metadata *_metadata, struct _test_data_bad *self,
			const struct _fixture_variant_bad *variant, int err, const char *what)
{
	struct io_uring_cqe cqe;

	/* A request that fails, even in io_init_req(), counts as submitted. */
	submit_n(_metadata, &self->ring, 1);
	reap_cqe(_metadata, &self->ring, &cqe);
	ASSERT_EQ(UD_BAD, cqe.user_data) TH_LOG("%s", what);
	ASSERT_EQ(err, cqe.res) TH_LOG("%s: res %d (%s), want %d (%s)", what, cqe.res,
				       strerror(-cqe.res), err, strerror(-err));
	assert_no_cqe(_metadata, &self->ring);
	ASSERT_EQ(PRELOAD, pipe_bytes(_metadata, self->rfd)) TH_LOG("%s: data consumed", what);
	check_fill(_metadata, self->buf, self->buf_len);
	check_never_armed(_metadata, self, variant, what);
}

/* Queue a READ of SLOT bytes of @fd into the buffer, user_data UD_BAD. */
static struct io_uring_sqe *queue_bad_read(struct __test_metadata *_metadata,
					   struct _test_data_bad *self, int fd)
{
	struct io_uring_sqe *sqe = get_sqe(_metadata, &self->ring);

	iou_prep_read(sqe, fd, self->buf, SLOT, IOU_POS_CUR, UD_BAD);
	return sqe;
}

/* Queue a READ_FIXED of [@addr, @addr + @len) of the pipe, user_data UD_BAD. */
static void queue_read_fixed(struct __test_metadata *_metadata, struct _test_data_bad *self,
			     __u64 addr, __u32 len, __u16 buf_index)
{
	struct io_uring_sqe *sqe = get_sqe(_metadata, &self->ring);

	iou_prep_rw(sqe, IORING_OP_READ_FIXED, self->rfd, addr, len, IOU_POS_CUR, UD_BAD);
	sqe->buf_index = buf_index;
}

/*
 * A READ_FIXED of registered buffer 0 that must work: it takes the
 * PRELOAD bytes, which shows the ring and the registration are still usable.
 */
static void read_fixed_ok(struct __test_metadata *_metadata, struct _test_data_bad *self,
			  char *reg)
{
	struct io_uring_cqe cqe;

	queue_read_fixed(_metadata, self, (uintptr_t)reg, SLOT, 0);
	submit_n(_metadata, &self->ring, 1);
	reap_cqe(_metadata, &self->ring, &cqe);
	ASSERT_EQ(UD_BAD, cqe.user_data);
	ASSERT_EQ(PRELOAD, cqe.res) TH_LOG("valid READ_FIXED: res %d", cqe.res);
	check_bytes(_metadata, reg, preload_data, PRELOAD);
	check_filled(_metadata, reg + PRELOAD, SLOT - PRELOAD, (char)FILL);
	ASSERT_EQ(0, pipe_bytes(_metadata, self->rfd));
}

/*
 * An fd that is not open (-1, an unused 1000, INT_MAX): -EBADF.
 * io_file_get_normal()'s fget() finds no file, and io_issue_sqe() fails the
 * request: "if (unlikely(!io_assign_file(req, def, issue_flags))) return
 * -EBADF;" (io_uring/io_uring.c:1766).
 */
TEST_F(bad, invalid_fd)
{
	const int unused = 1000;
	const int fds[] = { -1, unused, INT_MAX };
	char what[32];
	unsigned int i;

	ASSERT_EQ(-1, fcntl(unused, F_GETFD)) TH_LOG("fd %d is open", unused);
	ASSERT_EQ(EBADF, errno);
	preload(_metadata, self);
	for (i = 0; i < ARRAY_SIZE(fds); i++) {
		snprintf(what, sizeof(what), "fd %d", fds[i]);
		queue_bad_read(_metadata, self, fds[i]);
		expect_fail(_metadata, self, variant, -EBADF, what);
	}
	drain_preload(_metadata, self);
}

/*
 * The pipe's read end under a number that is closed after the SQE was
 * prepared and before it is submitted: -EBADF (io_uring reads sqe->fd at
 * submission; same line as invalid_fd). The pipe stays open through the
 * original fd, which shows that its data is still there.
 */
TEST_F(bad, closed_pipe_fd)
{
	int fd = dup(self->rfd);

	ASSERT_LE(0, fd) TH_LOG("dup: %s", strerror(errno));
	preload(_metadata, self);
	queue_bad_read(_metadata, self, fd);
	/* Nothing may open an fd (and reuse the number) until submission. */
	ASSERT_EQ(0, close(fd));
	expect_fail(_metadata, self, variant, -EBADF, "closed fd");
	drain_preload(_metadata, self);
}

/*
 * A READ of the pipe's write end: -EBADF, at issue, before any read:
 * "if (unlikely(!(file->f_mode & mode))) return -EBADF;" in
 * io_rw_init_file() (io_uring/rw.c:785).
 */
TEST_F(bad, read_write_end)
{
	preload(_metadata, self);
	queue_bad_read(_metadata, self, self->wfd);
	expect_fail(_metadata, self, variant, -EBADF, "write end");
	drain_preload(_metadata, self);
}

/*
 * IOSQE_FIXED_FILE with an index out of range of the registered files, or
 * with no file table at all, or naming an empty (sparse) slot: -EBADF.
 * io_file_get_fixed() returns NULL: "if (unlikely((unsigned int)fd >=
 * ctx->nr_user_files)) goto out;" (io_uring/io_uring.c:1953), or the slot
 * holds no file; io_issue_sqe() then fails with -EBADF (io_uring.c:1766).
 */
TEST_F(bad, fixed_file_out_of_range)
{
	const int table[] = { self->rfd, -1 };	/* slot 1: sparse */
	const int bad_idx[] = { 2, 1000, INT_MAX, -1 };
	struct io_uring_sqe *sqe;
	struct io_uring_cqe cqe;
	char what[48];
	unsigned int i;
	int ret;

	preload(_metadata, self);

	sqe = queue_bad_read(_metadata, self, 0);
	sqe->flags |= IOSQE_FIXED_FILE;
	expect_fail(_metadata, self, variant, -EBADF, "fixed file 0, no table");

	ret = iou_register_files(&self->ring, table, ARRAY_SIZE(table));
	ASSERT_EQ(0, ret) TH_LOG("register files: %s", strerror(-ret));
	for (i = 0; i < ARRAY_SIZE(bad_idx); i++) {
		snprintf(what, sizeof(what), "fixed file %d of 2", bad_idx[i]);
		sqe = queue_bad_read(_metadata, self, bad_idx[i]);
		sqe->flags |= IOSQE_FIXED_FILE;
		expect_fail(_metadata, self, variant, -EBADF, what);
	}
	sqe = queue_bad_read(_metadata, self, 1);
	sqe->flags |= IOSQE_FIXED_FILE;
	expect_fail(_metadata, self, variant, -EBADF, "sparse fixed file 1");

	/* Slot 0 works and gets the bytes. */
	sqe = queue_bad_read(_metadata, self, 0);
	sqe->flags |= IOSQE_FIXED_FILE;
	submit_n(_metadata, &self->ring, 1);
	reap_cqe(_metadata, &self->ring, &cqe);
	ASSERT_EQ(UD_BAD, cqe.user_data);
	ASSERT_EQ(PRELOAD, cqe.res) TH_LOG("fixed file 0: res %d", cqe.res);
	check_bytes(_metadata, self->buf, preload_data, PRELOAD);
	ASSERT_EQ(0, pipe_bytes(_metadata, self->rfd));
}

/*
 * READ_FIXED with a buf_index out of range of the registered buffers (or
 * with none registered): -EFAULT, at prep: "if (unlikely(req->buf_index >=
 * ctx->nr_user_bufs)) return -EFAULT;" in io_prep_rw_fixed()
 * (io_uring/rw.c:347).
 */
TEST_F(bad, read_fixed_bad_buf_index)
{
	const __u16 bad_idx[] = { 1, 2, 0xffff };
	char *reg = self->buf + self->page;
	struct iovec iov = { .iov_base = reg, .iov_len = self->page };
	char what[48];
	unsigned int i;
	int ret;

	preload(_metadata, self);

	queue_read_fixed(_metadata, self, (uintptr_t)reg, SLOT, 0);
	expect_fail(_metadata, self, variant, -EFAULT, "buf_index 0, none registered");

	ret = iou_register_buffers(&self->ring, &iov, 1);
	ASSERT_EQ(0, ret) TH_LOG("register buffers: %s", strerror(-ret));
	for (i = 0; i < ARRAY_SIZE(bad_idx); i++) {
		snprintf(what, sizeof(what), "buf_index %u of 1", bad_idx[i]);
		queue_read_fixed(_metadata, self, (uintptr_t)reg, SLOT, bad_idx[i]);
		expect_fail(_metadata, self, variant, -EFAULT, what);
	}
	read_fixed_ok(_metadata, self, reg);
}

/*
 * READ_FIXED of a range not inside registered buffer 0 (page 1 of the
 * fixture's buffer; page 0 is mapped too, so only the registration decides):
 * -EFAULT, at prep, from io_import_fixed(): "if (unlikely(buf_addr <
 * imu->ubuf || buf_end > (imu->ubuf + imu->len))) return -EFAULT;"
 * (io_uring/rsrc.c:1109), and for an address + length that wraps,
 * "if (unlikely(check_add_overflow(buf_addr, (u64)len, &buf_end))) return
 * -EFAULT;" (rsrc.c:1106).
 */
TEST_F(bad, read_fixed_outside_buffer)
{
	char *reg = self->buf + self->page;
	__u64 base = (uintptr_t)reg, pg = self->page;
	const struct {
		__u64 addr;
		__u32 len;
		const char *what;
	} cases[] = {
		{ base - 1, SLOT, "starts 1 byte before" },
		{ base - pg, SLOT, "in the page before" },
		{ base + pg - 8, SLOT, "ends past the end" },
		{ base + pg, SLOT, "starts at the end" },
		{ base, pg + 1, "1 byte longer" },
		{ 0, SLOT, "address 0" },
		{ ~0ULL - 7, SLOT, "address + length wraps" },
	};
	struct iovec iov = { .iov_base = reg, .iov_len = self->page };
	unsigned int i;
	int ret;

	preload(_metadata, self);
	ret = iou_register_buffers(&self->ring, &iov, 1);
	ASSERT_EQ(0, ret) TH_LOG("register buffers: %s", strerror(-ret));
	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		queue_read_fixed(_metadata, self, cases[i].addr, cases[i].len, 0);
		expect_fail(_metadata, self, variant, -EFAULT, cases[i].what);
	}
	read_fixed_ok(_metadata, self, reg);
}

/*
 * io_uring_setup() with a flag bit 6.12 does not know, alone or with the
 * variant's flags (IORING_SETUP_INLINE_READ included): -EINVAL, from the
 * mask check in io_uring_setup() (io_uring/io_uring.c:3828-3837; the series
 * adds bit 24 to the mask). So does a non-zero reserved field
 * ("if (p.resv[i]) return -EINVAL;", io_uring.c:3824). Nothing is written
 * back and no fd is left behind. Bits 17-20 are left out: later mainline
 * releases use them.
 */
TEST_F(bad, setup_unknown_flags)
{
	const unsigned int bits[] = { 21, 22, 23, 25, 26, 27, 28, 29, 30, 31 };
	unsigned int base_flags[2], flags;
	struct io_uring_params p;
	unsigned int i, j;
	int probe, ret;

	/* The lowest free fd: the same afterwards if no ring fd leaked. */
	probe = dup(self->rfd);
	ASSERT_LE(0, probe);
	ASSERT_EQ(0, close(probe));

	base_flags[0] = 0;
	base_flags[1] = ring_flags(variant);
	for (i = 0; i < ARRAY_SIZE(base_flags); i++) {
		for (j = 0; j < ARRAY_SIZE(bits); j++) {
			flags = base_flags[i] | (1U << bits[j]);
			memset(&p, 0, sizeof(p));
			p.flags = flags;
			ret = iou_sys_setup(4, &p);
			if (ret >= 0)
				close(ret);
			ASSERT_EQ(-EINVAL, ret) TH_LOG("flags %#x: %d", flags, ret);
			ASSERT_EQ(0U, p.sq_entries) TH_LOG("flags %#x: params written", flags);
			ASSERT_EQ(0U, p.features) TH_LOG("flags %#x: params written", flags);
		}
	}

	memset(&p, 0, sizeof(p));
	p.flags = ring_flags(variant);
	p.resv[0] = 1;
	ret = iou_sys_setup(4, &p);
	if (ret >= 0)
		close(ret);
	ASSERT_EQ(-EINVAL, ret) TH_LOG("resv[0] set: %d", ret);

	ret = dup(self->rfd);
	ASSERT_EQ(probe, ret) TH_LOG("an fd was left open");
	close(ret);

	/* The same flags without the unknown bit are fine. */
	memset(&p, 0, sizeof(p));
	p.flags = ring_flags(variant);
	ret = iou_sys_setup(4, &p);
	ASSERT_LE(0, ret) TH_LOG("flags %#x: %s", p.flags, strerror(-ret));
	close(ret);
}

/*
 * A READ with rw_flags the kernel refuses, checked at issue in
 * io_rw_init_file() (io_uring/rw.c:792) before any read:
 *  - unknown bits: -EOPNOTSUPP, "if (unlikely(flags & ~RWF_SUPPORTED))
 *    return -EOPNOTSUPP;" in kiocb_set_rw_flags() (include/linux/fs.h:3616);
 *  - RWF_APPEND | RWF_NOAPPEND: -EINVAL (fs.h:3618);
 *  - RWF_HIPRI on a ring without IOPOLL: -EINVAL, "if (kiocb->ki_flags &
 *    IOCB_HIPRI) return -EINVAL;" (rw.c:815).
 */
TEST_F(bad, unknown_rw_flags)
{
	const struct {
		unsigned int flags;
		int err;
		const char *what;
	} cases[] = {
		{ 1U << 30, -EOPNOTSUPP, "rw_flags 1 << 30" },
		{ 1U << 31, -EOPNOTSUPP, "rw_flags 1 << 31" },
		{ 1U << 7, -EOPNOTSUPP, "rw_flags 1 << 7" },
		{ RWF_APPEND | RWF_NOAPPEND, -EINVAL, "RWF_APPEND | RWF_NOAPPEND" },
		{ RWF_HIPRI, -EINVAL, "RWF_HIPRI" },
	};
	struct io_uring_sqe *sqe;
	unsigned int i;

	preload(_metadata, self);
	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		sqe = queue_bad_read(_metadata, self, self->rfd);
		sqe->rw_flags = (__kernel_rwf_t)cases[i].flags;
		expect_fail(_metadata, self, variant, cases[i].err, cases[i].what);
	}
	drain_preload(_metadata, self);
}

/*
 * An opcode >= IORING_OP_LAST: -EINVAL, "if (unlikely(opcode >=
 * IORING_OP_LAST)) { ... return io_init_fail_req(req, -EINVAL); }" in
 * io_init_req() (io_uring/io_uring.c:2101), which has already taken the
 * user_data for the CQE.
 */
TEST_F(bad, unknown_opcode)
{
	unsigned int last = IORING_OP_LAST, ops[2];
	struct io_uring_sqe *sqe;
	char what[32];
	unsigned int i;

	ops[0] = last > OP_LAST_6_12 ? last : OP_LAST_6_12;
	ops[1] = 0xff;
	preload(_metadata, self);
	for (i = 0; i < ARRAY_SIZE(ops); i++) {
		snprintf(what, sizeof(what), "opcode %u", ops[i]);
		sqe = queue_bad_read(_metadata, self, self->rfd);
		sqe->opcode = ops[i];
		expect_fail(_metadata, self, variant, -EINVAL, what);
	}
	drain_preload(_metadata, self);
}

/*
 * A READ with an unknown IOSQE_* flag bit: -EINVAL, "if (sqe_flags &
 * ~SQE_VALID_FLAGS) return io_init_fail_req(req, -EINVAL);" in io_init_req()
 * (io_uring/io_uring.c:2110).
 */
TEST_F(bad, unknown_sqe_flag)
{
	struct io_uring_sqe *sqe;

	preload(_metadata, self);
	sqe = queue_bad_read(_metadata, self, self->rfd);
	sqe->flags |= 1U << 7;
	expect_fail(_metadata, self, variant, -EINVAL, "sqe->flags 1 << 7");
	drain_preload(_metadata, self);
}

/*
 * A READ of HUGE_LEN bytes of an empty pipe, into a buffer of which only
 * the first page is mapped (the rest of the range is reserved PROT_NONE, so
 * that the range passes import_ubuf()'s access_ok() wherever the mapping
 * lands; import_ubuf() also caps the length at MAX_RW_COUNT,
 * lib/iov_iter.c:1529). Far above the inline per-read cap (1 MiB), it must
 * not wait inline: it takes the stock poll path, stays pending without
 * arming or pinning anything, and once 16 bytes are written the submitter's
 * retry completes it with 16 and the data. InlineReadCompleted stays 0.
 * Then an ordinary read of the same ring does arm inline (inline variants),
 * so that the zeros mean something.
 */
TEST_F(bad, huge_read_takes_stock_path)
{
	size_t span = (size_t)HUGE_LEN + 1 + self->page;
	struct inl_counters c;
	struct io_uring_cqe cqe;
	char *huge;

	huge = mmap(NULL, span, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	ASSERT_NE(MAP_FAILED, huge) TH_LOG("mmap: %s", strerror(errno));
	ASSERT_EQ(0, mprotect(huge, self->page, PROT_READ | PROT_WRITE))
		TH_LOG("mprotect: %s", strerror(errno));
	memset(huge, FILL, self->page);

	iou_prep_read(get_sqe(_metadata, &self->ring), self->rfd, huge, HUGE_LEN, IOU_POS_CUR,
		      UD_READ);
	submit_n(_metadata, &self->ring, 1);
	assert_no_cqe(_metadata, &self->ring);
	get_counters(_metadata, self->ring.fd, variant->inline_read, &c);
	ASSERT_EQ(0ULL, (unsigned long long)c.armed) TH_LOG("a %#x-byte read armed inline",
							    HUGE_LEN);
	ASSERT_EQ(0ULL, (unsigned long long)c.pinned);

	ASSERT_EQ((ssize_t)PRELOAD, write(self->wfd, preload_data, PRELOAD))
		TH_LOG("write: %s", strerror(errno));
	reap_cqe(_metadata, &self->ring, &cqe);
	ASSERT_EQ(UD_READ, cqe.user_data);
	ASSERT_EQ(PRELOAD, cqe.res) TH_LOG("huge read: res %d", cqe.res);
	check_bytes(_metadata, huge, preload_data, PRELOAD);
	check_filled(_metadata, huge + PRELOAD, self->page - PRELOAD, (char)FILL);
	ASSERT_EQ(0, pipe_bytes(_metadata, self->rfd));
	assert_no_cqe(_metadata, &self->ring);
	check_never_armed(_metadata, self, variant, "huge read");
	munmap(huge, span);

	/* Control: an ordinary read of the empty pipe arms on an opted-in ring. */
	iou_prep_read(get_sqe(_metadata, &self->ring), self->rfd, self->buf, SLOT, IOU_POS_CUR,
		      UD_READ + 1);
	submit_n(_metadata, &self->ring, 1);
	assert_no_cqe(_metadata, &self->ring);
	get_counters(_metadata, self->ring.fd, variant->inline_read, &c);
	ASSERT_EQ(variant->inline_read ? 1ULL : 0ULL, (unsigned long long)c.armed)
		TH_LOG("the control read did not arm inline");
	ASSERT_EQ((ssize_t)PRELOAD, write(self->wfd, preload_data, PRELOAD));
	reap_cqe(_metadata, &self->ring, &cqe);
	ASSERT_EQ(UD_READ + 1, cqe.user_data);
	ASSERT_EQ(PRELOAD, cqe.res) TH_LOG("control read: res %d", cqe.res);
	check_bytes(_metadata, self->buf, preload_data, PRELOAD);
	wait_pinned(_metadata, self->ring.fd, variant->inline_read, 0);
}

TEST_HARNESS_MAIN
