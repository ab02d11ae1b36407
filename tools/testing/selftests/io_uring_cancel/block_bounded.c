// SPDX-License-Identifier: GPL-2.0
/*
 * io_uring reads of block devices and regular files: IORING_SETUP_INLINE_READ
 * never touches them, and they always finish in bounded time.
 *
 * The block device is a null_blk device that each test makes through
 * configfs and removes in its teardown. It is memory backed, so that data can
 * be checked, and either slow (irqmode=2: null_blk ends every request
 * COMPLETION_MS after it was queued) or fast (irqmode=0: at once).
 *
 *  - odirect_cancel, buffered_cancel: an async cancel (by user_data, by fd,
 *    _ALL, _ANY; and a sync cancel) of a slow O_DIRECT read, or of a buffered
 *    read waiting for read-ahead, finds nothing (-ENOENT, or 0 cancelled);
 *    the read completes with all its data, within BOUND_MS.
 *  - iowq_cancel: a buffered read forced into io-wq (IOSQE_ASYNC), blocked
 *    there: the cancel says -EALREADY (0 cancelled for _ALL/_ANY); the read
 *    still completes with all its data.
 *  - timeout_inject: a request that null_blk never completes times out after
 *    the queue's io_timeout; the read completes with -ETIMEDOUT within
 *    10 x io_timeout, its buffer untouched.
 *  - ring_close, task_exit: closing the ring, or the exit of the task that
 *    submitted, with slow reads in flight, returns within CLOSE_MS, and every
 *    reference to the device is dropped within BOUND_MS.
 *  - nullb_no_inline, tmpfs_file: reads of a fast null_blk device (including
 *    one that io_read() hands back with -EAGAIN, so that the inline hook sees
 *    it) and of a regular file on tmpfs return their data.
 *  - inline_control: a read of an empty pipe, which the inline path takes,
 *    so that the zero counters above mean something.
 *
 * Every test runs on a ring without and with IORING_SETUP_INLINE_READ; the
 * latter SKIP on kernels without IORING_FEAT_INLINE_READ. The ring's fdinfo
 * counters (InlineReadArmed, ...Completed, ...Fallback, ...Cancelled,
 * ...Pinned) must stay 0 on an opted-in ring, and be absent on the other.
 *
 * The expected values are those of Linux 6.12 (which the series leaves alone
 * for these files); each test says where in the source they come from (line
 * numbers: 6.12.117). Tests SKIP when null_blk's configfs interface
 * (CONFIG_BLK_DEV_NULL_BLK, configfs at /sys/kernel/config) or, for
 * timeout_inject, its fault injection (CONFIG_BLK_DEV_NULL_BLK_FAULT_INJECTION
 * and CONFIG_FAULT_INJECTION_CONFIGFS) is missing, or the caller may not use
 * it. Every wait is bounded.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <linux/magic.h>

#include "../kselftest_harness.h"
#include "inline_test.h"

#define RING_ENTRIES		16

#define NULLB_CONFIGFS		"/sys/kernel/config/nullb"
#define NULLB_SIZE_MB		16

/* completion_nsec of the slow devices, in ms. */
#define COMPLETION_MS		1500
/* Bound on a slow read, a cancel attempt and a teardown: generous for TCG. */
#define BOUND_MS		(10 * COMPLETION_MS)
/* io_timeout of the device with timeout injection, and its bound. */
#define IO_TIMEOUT_MS		1000
#define TIMEOUT_BOUND_MS	(10 * IO_TIMEOUT_MS)
/* io_timeout of the other devices: none of their requests ever times out. */
#define LONG_IO_TIMEOUT_MS	60000
/* Wait after a read has reached the device, before cancelling it. */
#define SETTLE_MS		100
/* How long a request that can complete at once may take. */
#define QUICK_MS		5000

#define MS			1000000LL	/* ns */

#define BUF_LEN			(16 * 1024)
/* More than BIO_MAX_VECS pages: blkdev_direct_IO() needs several bios. */
#define BIG_LEN			(2 * 1024 * 1024)
#define OFF_A			(1ULL << 20)
#define OFF_B			(4ULL << 20)
#define FILE_LEN		(3 * 4096 + 100)
#define FILL			0xa5

#define UD_READ			0x100ULL
#define UD_READ2		0x101ULL
#define UD_CANCEL		0x1000ULL

#define PATH_LEN		160
#define MAX_STASH		16U

/* Exit codes of the child in task_exit. */
enum {
	CHILD_OK = 0,
	CHILD_SETUP = 10,
	CHILD_OPEN,
	CHILD_SUBMIT,
	CHILD_EARLY_CQE,
	CHILD_ARMED,
};

struct nullb_conf {
	unsigned int irqmode;		/* 0: complete at once; 2: after completion_ms */
	unsigned int completion_ms;
	unsigned int io_timeout_ms;
};

static const struct nullb_conf slow_conf = {
	.irqmode = 2,
	.completion_ms = COMPLETION_MS,
	.io_timeout_ms = LONG_IO_TIMEOUT_MS,
};

static const struct nullb_conf fast_conf = {
	.irqmode = 0,
	.io_timeout_ms = LONG_IO_TIMEOUT_MS,
};

/* Fast: the only slow request is the one whose timeout is injected. */
static const struct nullb_conf timeout_conf = {
	.irqmode = 0,
	.io_timeout_ms = IO_TIMEOUT_MS,
};

FIXTURE(blk) {
	struct iou_ring ring;
	char name[32];		/* configfs item and disk name; "" if none */
	char cfg[PATH_LEN];	/* configfs directory */
	char dev[PATH_LEN];	/* device node */
	bool powered;
	bool made_node;		/* the test made the device node */
	int fd;
	char *buf;		/* BUF_LEN bytes, page aligned */
	char *big;		/* BIG_LEN bytes, page aligned, if allocated */
	char tmpdir[PATH_LEN];	/* "" if none */
	char tmpfile[PATH_LEN + 16];
	bool mounted;
	struct io_uring_cqe stash[MAX_STASH];
	unsigned int nr_stash;
	__u64 next_ud;
	pid_t child;
};

FIXTURE_VARIANT(blk) {
	bool inline_read;
};

FIXTURE_VARIANT_ADD(blk, plain) {
	.inline_read = false,
};

FIXTURE_VARIANT_ADD(blk, inline_read) {
	.inline_read = true,
};

static __s64 elapsed_ms(__s64 since)
{
	return (iou_now_ns() - since) / MS;
}

/* sysfs and configfs attributes. */

static int write_str(const char *path, const char *val)
{
	size_t len = strlen(val);
	ssize_t n;
	int fd, ret;

	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = write(fd, val, len);
	ret = n < 0 ? -errno : ((size_t)n == len ? 0 : -EIO);
	close(fd);
	return ret;
}

static int write_ulong(const char *path, unsigned long val)
{
	char str[32];

	snprintf(str, sizeof(str), "%lu", val);
	return write_str(path, str);
}

static int read_str(const char *path, char *out, size_t size)
{
	ssize_t n;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, out, size - 1);
	close(fd);
	if (n < 0)
		return -errno;
	out[n] = '\0';
	return 0;
}

/* Write @val to attribute @attr of the device's configfs directory. */
static void cfg_set(struct __test_metadata *_metadata, struct _test_data_blk *self,
		    const char *attr, unsigned long val)
{
	char path[PATH_LEN + 64];
	int ret;

	snprintf(path, sizeof(path), "%s/%s", self->cfg, attr);
	ret = write_ulong(path, val);
	ASSERT_EQ(0, ret) TH_LOG("%s = %lu: %s", path, val, strerror(-ret));
}

/* Write @val to /sys/block/<disk>/@attr. */
static void disk_set(struct __test_metadata *_metadata, struct _test_data_blk *self,
		     const char *attr, unsigned long val)
{
	char path[PATH_LEN + 64];
	int ret;

	snprintf(path, sizeof(path), "/sys/block/%s/%s", self->name, attr);
	ret = write_ulong(path, val);
	ASSERT_EQ(0, ret) TH_LOG("%s = %lu: %s", path, val, strerror(-ret));
}

/* The null_blk device. */

/*
 * Make, configure and power on a null_blk device through configfs. The disk
 * is named after the configfs directory (null_add_dev(), main.c:1990-1993).
 * Returns NULL, or why the test cannot run.
 */
static const char *nullb_create(struct __test_metadata *_metadata,
				struct _test_data_blk *self, const struct nullb_conf *conf)
{
	char path[PATH_LEN + 64], devnum[32];
	unsigned int major, minor;
	struct stat st;
	int err, ret;

	if (access(NULLB_CONFIGFS, F_OK))
		return "no " NULLB_CONFIGFS ": needs CONFIG_BLK_DEV_NULL_BLK and configfs";
	snprintf(self->name, sizeof(self->name), "iouc_bb%d", getpid());
	snprintf(self->cfg, sizeof(self->cfg), NULLB_CONFIGFS "/%s", self->name);
	if (mkdir(self->cfg, 0755)) {
		err = errno;
		self->name[0] = '\0';
		if (err == EACCES || err == EPERM)
			return "not allowed to make null_blk devices (needs root)";
		ASSERT_EQ(0, err) TH_LOG("mkdir %s: %s", self->cfg, strerror(err));
	}

	cfg_set(_metadata, self, "size", NULLB_SIZE_MB);
	cfg_set(_metadata, self, "memory_backed", 1);
	cfg_set(_metadata, self, "irqmode", conf->irqmode);
	if (conf->irqmode == 2)
		cfg_set(_metadata, self, "completion_nsec", conf->completion_ms * 1000000UL);
	/* Adds the disk and reads its partition table (null_add_dev()). */
	cfg_set(_metadata, self, "power", 1);
	self->powered = true;

	snprintf(self->dev, sizeof(self->dev), "/dev/%s", self->name);
	if (stat(self->dev, &st)) {
		/* No devtmpfs: make the node. */
		ASSERT_EQ(ENOENT, errno) TH_LOG("stat %s: %s", self->dev, strerror(errno));
		snprintf(path, sizeof(path), "/sys/block/%s/dev", self->name);
		ASSERT_EQ(0, read_str(path, devnum, sizeof(devnum)));
		ret = sscanf(devnum, "%u:%u", &major, &minor);
		ASSERT_EQ(2, ret) TH_LOG("%s: %s", path, devnum);
		ASSERT_EQ(0, mknod(self->dev, S_IFBLK | 0600, makedev(major, minor)))
			TH_LOG("mknod %s: %s", self->dev, strerror(errno));
		self->made_node = true;
	} else {
		ASSERT_TRUE(S_ISBLK(st.st_mode)) TH_LOG("%s is not a block device", self->dev);
	}

	/* queue_io_timeout_store(): blk_queue_rq_timeout(), blk-sysfs.c:348-361. */
	disk_set(_metadata, self, "queue/io_timeout", conf->io_timeout_ms);
	/*
	 * /sys/block/<disk>/inflight counts only requests with RQF_IO_STAT: make
	 * sure (it is the default; a kernel without the attribute has it on).
	 */
	snprintf(path, sizeof(path), "/sys/block/%s/queue/iostats", self->name);
	write_str(path, "1");
	return NULL;
}

/*
 * Requests of the device queued to null_blk and not yet ended
 * (blk_mq_in_flight_rw(): started, MQ_RQ_IN_FLIGHT, blk-mq.c:93-103).
 */
static int nullb_inflight(struct _test_data_blk *self, unsigned int *reads,
			  unsigned int *writes)
{
	char path[PATH_LEN + 64], str[64];
	int ret;

	snprintf(path, sizeof(path), "/sys/block/%s/inflight", self->name);
	ret = read_str(path, str, sizeof(str));
	if (ret)
		return ret;
	return sscanf(str, "%u %u", reads, writes) == 2 ? 0 : -EINVAL;
}

/* Wait until at least @nr reads are in flight on the device. */
static void wait_reads_inflight(struct __test_metadata *_metadata,
				struct _test_data_blk *self, unsigned int nr)
{
	__s64 start = iou_now_ns();
	unsigned int reads, writes;
	int ret;

	for (;;) {
		ret = nullb_inflight(self, &reads, &writes);
		ASSERT_EQ(0, ret) TH_LOG("inflight: %s", strerror(-ret));
		if (reads >= nr)
			return;
		ASSERT_LT(elapsed_ms(start), BOUND_MS)
			TH_LOG("%u of %u reads reached the device in %d ms", reads, nr, BOUND_MS);
		iou_sleep_us(2000);
	}
}

/* Wait until nothing is in flight on the device, until @deadline (ns). */
static int wait_idle(struct _test_data_blk *self, __s64 deadline)
{
	unsigned int reads, writes;
	int ret;

	for (;;) {
		ret = nullb_inflight(self, &reads, &writes);
		if (ret)
			return ret;
		if (!reads && !writes)
			return 0;
		if (iou_now_ns() > deadline)
			return -ETIME;
		iou_sleep_us(2000);
	}
}

/*
 * Wait, until @deadline (ns), until the device can be opened with O_EXCL
 * again: the read file opened it with O_EXCL (the file is the holder,
 * blkdev_open(), fops.c:612-616), and every request holds that file until it
 * is freed, so this is when the last request and the ring are gone.
 */
static void wait_released(struct __test_metadata *_metadata, struct _test_data_blk *self,
			  __s64 deadline)
{
	int fd, err;

	for (;;) {
		fd = open(self->dev, O_RDONLY | O_EXCL | O_CLOEXEC);
		if (fd >= 0) {
			close(fd);
			return;
		}
		err = errno;
		ASSERT_EQ(EBUSY, err) TH_LOG("open %s: %s", self->dev, strerror(err));
		ASSERT_LT(iou_now_ns(), deadline) TH_LOG("%s is still held", self->dev);
		iou_sleep_us(5000);
	}
}

/* Teardown: let requests in flight end (del_gendisk() would wait), remove. */
static void nullb_destroy(struct _test_data_blk *self)
{
	char path[PATH_LEN + 64];
	int ret;

	if (!self->name[0])
		return;
	if (self->powered) {
		ret = wait_idle(self, iou_now_ns() + BOUND_MS * MS);
		if (ret)
			ksft_print_msg("%s: requests still in flight: %s\n", self->name,
				       strerror(-ret));
		snprintf(path, sizeof(path), "%s/power", self->cfg);
		ret = write_str(path, "0");
		if (ret)
			ksft_print_msg("%s: %s\n", path, strerror(-ret));
		self->powered = false;
	}
	if (self->made_node)
		unlink(self->dev);
	if (rmdir(self->cfg))
		ksft_print_msg("rmdir %s: %s\n", self->cfg, strerror(errno));
	self->name[0] = '\0';
}

/*
 * Make the next request queued to the device time out: null_blk's
 * timeout_inject fault attribute (a copy of null_timeout_attr, whose
 * probability is 0, so the partition scan at power-on was not affected).
 */
static const char *nullb_inject_timeout(struct __test_metadata *_metadata,
					struct _test_data_blk *self)
{
	char dir[PATH_LEN + 64], path[PATH_LEN + 96];
	int ret;

	snprintf(dir, sizeof(dir), "%s/timeout_inject", self->cfg);
	if (access(dir, F_OK))
		return "no timeout_inject: needs CONFIG_BLK_DEV_NULL_BLK_FAULT_INJECTION";
	/* No stack dump in the log, one fault, then certainty. */
	snprintf(path, sizeof(path), "%s/verbose", dir);
	ret = write_str(path, "0");
	ASSERT_EQ(0, ret) TH_LOG("%s: %s", path, strerror(-ret));
	snprintf(path, sizeof(path), "%s/times", dir);
	ret = write_str(path, "1");
	ASSERT_EQ(0, ret) TH_LOG("%s: %s", path, strerror(-ret));
	snprintf(path, sizeof(path), "%s/probability", dir);
	ret = write_str(path, "100");
	ASSERT_EQ(0, ret) TH_LOG("%s: %s", path, strerror(-ret));
	return NULL;
}

/* Data. */

/* The 32-bit word at byte @pos of pattern @seed: differs for every word. */
static uint32_t pattern_word(uint64_t pos, unsigned int seed)
{
	return (uint32_t)(pos / 4 + 1) * 2654435761u + seed * 40503u;
}

/* Fill @buf with the bytes of pattern @seed at offsets @off..@off + @len. */
static void fill_pattern(void *buf, size_t len, uint64_t off, unsigned int seed)
{
	uint32_t *w = buf;
	size_t i;

	for (i = 0; i < len / 4; i++)
		w[i] = pattern_word(off + 4 * i, seed);
}

static void check_pattern(struct __test_metadata *_metadata, const void *buf, size_t len,
			  uint64_t off, unsigned int seed)
{
	const uint32_t *w = buf;
	size_t i;

	for (i = 0; i < len / 4; i++)
		ASSERT_EQ(pattern_word(off + 4 * i, seed), w[i])
			TH_LOG("wrong data at byte %zu of a read at offset %llu", 4 * i,
			       (unsigned long long)off);
}

/* Write pattern @seed to the device at @off with O_DIRECT, through @bounce. */
static void write_pattern_dev(struct __test_metadata *_metadata, struct _test_data_blk *self,
			      char *bounce, size_t len, uint64_t off, unsigned int seed)
{
	ssize_t n;
	int fd;

	fd = open(self->dev, O_WRONLY | O_DIRECT | O_CLOEXEC);
	ASSERT_LE(0, fd) TH_LOG("open %s: %s", self->dev, strerror(errno));
	fill_pattern(bounce, len, off, seed);
	n = pwrite(fd, bounce, len, off);
	close(fd);
	ASSERT_EQ((ssize_t)len, n) TH_LOG("pwrite: %s", n < 0 ? strerror(errno) : "short");
	memset(bounce, FILL, len);
}

static void open_dev(struct __test_metadata *_metadata, struct _test_data_blk *self, int flags)
{
	self->fd = open(self->dev, flags | O_CLOEXEC);
	ASSERT_LE(0, self->fd) TH_LOG("open %s: %s", self->dev, strerror(errno));
}

/* Submission and completion. */

static void queue_read(struct __test_metadata *_metadata, struct _test_data_blk *self,
		       int fd, void *buf, __u32 len, __u64 off, __u64 ud, __u8 sqe_flags)
{
	struct io_uring_sqe *sqe = iou_get_sqe(&self->ring);

	ASSERT_NE(NULL, sqe);
	iou_prep_read(sqe, fd, buf, len, off, ud);
	sqe->flags = sqe_flags;
}

static void queue_readv(struct __test_metadata *_metadata, struct _test_data_blk *self,
			int fd, const struct iovec *iov, unsigned int nr, __u64 off, __u64 ud)
{
	struct io_uring_sqe *sqe = iou_get_sqe(&self->ring);

	ASSERT_NE(NULL, sqe);
	iou_prep_readv(sqe, fd, iov, nr, off, ud);
}

static void submit(struct __test_metadata *_metadata, struct _test_data_blk *self, int nr)
{
	int ret = iou_submit(&self->ring);

	ASSERT_EQ(nr, ret) TH_LOG("io_uring_enter: %s", ret < 0 ? strerror(-ret) : "short");
}

/* Move the CQEs in the CQ ring to the stash. */
static void stash_cqes(struct __test_metadata *_metadata, struct _test_data_blk *self)
{
	struct io_uring_cqe *cqe;

	while (!iou_peek_cqe(&self->ring, &cqe)) {
		ASSERT_GT(MAX_STASH, self->nr_stash) TH_LOG("too many CQEs");
		self->stash[self->nr_stash++] = *cqe;
		iou_cqe_seen(&self->ring);
	}
}

static bool find_stashed(struct _test_data_blk *self, __u64 ud, struct io_uring_cqe *out,
			 bool take)
{
	unsigned int i;

	for (i = 0; i < self->nr_stash; i++) {
		if (self->stash[i].user_data != ud)
			continue;
		if (out)
			*out = self->stash[i];
		if (take) {
			memmove(&self->stash[i], &self->stash[i + 1],
				(self->nr_stash - i - 1) * sizeof(self->stash[0]));
			self->nr_stash--;
		}
		return true;
	}
	return false;
}

/* Has the CQE of @ud been posted? Does not enter the kernel. */
static bool cqe_posted(struct __test_metadata *_metadata, struct _test_data_blk *self, __u64 ud)
{
	stash_cqes(_metadata, self);
	return find_stashed(self, ud, NULL, false);
}

/*
 * Wait up to @ms for the CQE of @ud, sleeping in io_uring_enter(2) (which
 * runs the task_work that posts CQEs); CQEs of other requests are stashed.
 */
static void reap(struct __test_metadata *_metadata, struct _test_data_blk *self, __u64 ud,
		 unsigned int ms, struct io_uring_cqe *out)
{
	__s64 start = iou_now_ns(), left;
	struct io_uring_cqe *cqe;
	int ret;

	for (;;) {
		stash_cqes(_metadata, self);
		if (find_stashed(self, ud, out, true))
			return;
		left = ms - elapsed_ms(start);
		ASSERT_LT(0, left) TH_LOG("no CQE for user_data %#llx in %u ms",
					  (unsigned long long)ud, ms);
		ret = iou_wait_cqe(&self->ring, &cqe, left);
		ASSERT_TRUE(!ret || ret == -ETIME) TH_LOG("wait: %s", strerror(-ret));
	}
}

/*
 * IORING_OP_ASYNC_CANCEL of UD_READ (or, with IORING_ASYNC_CANCEL_FD, of the
 * requests on @fd); returns its result.
 */
static int async_cancel(struct __test_metadata *_metadata, struct _test_data_blk *self,
			int fd, unsigned int flags)
{
	struct io_uring_sqe *sqe = iou_get_sqe(&self->ring);
	__u64 ud = UD_CANCEL + self->next_ud++;
	struct io_uring_cqe cqe;

	ASSERT_NE(NULL, sqe);
	if (flags & IORING_ASYNC_CANCEL_FD)
		iou_prep_cancel_fd(sqe, fd, flags & ~IORING_ASYNC_CANCEL_FD, ud);
	else
		iou_prep_cancel(sqe, UD_READ, flags, ud);
	submit(_metadata, self, 1);
	reap(_metadata, self, ud, QUICK_MS, &cqe);
	return cqe.res;
}

struct cancel_case {
	unsigned int flags;	/* IORING_ASYNC_CANCEL_* */
	int res;		/* what Linux 6.12 returns */
	const char *what;
};

static void run_cancels(struct __test_metadata *_metadata, struct _test_data_blk *self,
			const struct cancel_case *cc, unsigned int nr)
{
	unsigned int i;
	int res;

	for (i = 0; i < nr; i++) {
		res = async_cancel(_metadata, self, self->fd, cc[i].flags);
		ASSERT_EQ(cc[i].res, res)
			TH_LOG("cancel %s: %d (%s), expected %d", cc[i].what, res,
			       strerror(res < 0 ? -res : 0), cc[i].res);
	}
}

/* fdinfo counters of the inline path. */

static const char * const inline_keys[] = {
	"InlineReadArmed",
	"InlineReadCompleted",
	"InlineReadFallback",
	"InlineReadCancelled",
	"InlineReadPinned",
};

/*
 * The inline path was never taken on this ring: with the flag every counter
 * is there and 0, without it there is none (io_inline_rd_show_fdinfo()).
 */
static void assert_inline_untouched(struct __test_metadata *_metadata,
				    struct _test_data_blk *self, bool inline_read)
{
	unsigned int i;
	uint64_t val = 0;
	int ret;

	for (i = 0; i < ARRAY_SIZE(inline_keys); i++) {
		ret = iou_fdinfo_u64(self->ring.fd, inline_keys[i], &val);
		if (!inline_read) {
			ASSERT_EQ(-ENOENT, ret) TH_LOG("%s on a ring without the flag",
						       inline_keys[i]);
			continue;
		}
		ASSERT_EQ(0, ret) TH_LOG("fdinfo: %s: %s", inline_keys[i], strerror(-ret));
		ASSERT_EQ(0ULL, (unsigned long long)val)
			TH_LOG("%s is %llu: the inline path was taken", inline_keys[i],
			       (unsigned long long)val);
	}
}

/* InlineReadArmed is @expect, or absent if @expect is negative. */
static void check_armed(struct __test_metadata *_metadata, struct _test_data_blk *self,
			int expect)
{
	uint64_t armed = 0;
	int ret;

	ret = iou_fdinfo_u64(self->ring.fd, "InlineReadArmed", &armed);
	if (expect < 0) {
		ASSERT_EQ(-ENOENT, ret) TH_LOG("InlineReadArmed on a ring without the flag");
		return;
	}
	ASSERT_EQ(0, ret) TH_LOG("fdinfo: InlineReadArmed: %s", strerror(-ret));
	ASSERT_EQ((unsigned long long)expect, (unsigned long long)armed);
}

/* Check the read's CQE: @len bytes, after at least @min_ms and at most @max_ms. */
static void check_slow_read(struct __test_metadata *_metadata, const struct io_uring_cqe *cqe,
			    int len, __s64 took_ms, __s64 min_ms, __s64 max_ms)
{
	ASSERT_EQ(len, cqe->res) TH_LOG("read: %d (%s)", cqe->res,
					strerror(cqe->res < 0 ? -cqe->res : 0));
	ASSERT_LE(min_ms, took_ms) TH_LOG("the read took %lld ms: it was never slow",
					  (long long)took_ms);
	ASSERT_LE(took_ms, max_ms) TH_LOG("the read took %lld ms", (long long)took_ms);
	TH_LOG("read completed after %lld ms", (long long)took_ms);
}

/* Children. */

static const char *child_error(int code)
{
	switch (code) {
	case CHILD_OK:
		return "ok";
	case CHILD_SETUP:
		return "setting up its ring failed";
	case CHILD_OPEN:
		return "opening the device failed";
	case CHILD_SUBMIT:
		return "submitting the reads failed";
	case CHILD_EARLY_CQE:
		return "a slow read completed at once";
	case CHILD_ARMED:
		return "InlineReadArmed is not 0";
	default:
		return "unknown";
	}
}

/*
 * task_exit's child: make its own ring (so that its exit releases it), submit
 * two slow O_DIRECT reads, check that they are pending and (on an opted-in
 * ring) that the inline path did not take them, report, and exit with them in
 * flight.
 */
static int child_reads(const char *dev, unsigned int setup_flags, int report)
{
	struct iou_ring ring;
	struct io_uring_sqe *sqe;
	char code = CHILD_OK;
	uint64_t armed = 0;
	void *buf;
	int fd;

	if (posix_memalign(&buf, 4096, BUF_LEN) || iou_setup(&ring, RING_ENTRIES, setup_flags)) {
		code = CHILD_SETUP;
		goto out;
	}
	fd = open(dev, O_RDONLY | O_DIRECT | O_EXCL | O_CLOEXEC);
	if (fd < 0) {
		code = CHILD_OPEN;
		goto out;
	}
	sqe = iou_get_sqe(&ring);
	iou_prep_read(sqe, fd, buf, BUF_LEN / 2, OFF_A, UD_READ);
	sqe = iou_get_sqe(&ring);
	iou_prep_read(sqe, fd, (char *)buf + BUF_LEN / 2, BUF_LEN / 2, OFF_B, UD_READ2);
	if (iou_submit(&ring) != 2)
		code = CHILD_SUBMIT;
	else if (iou_cq_ready(&ring))
		code = CHILD_EARLY_CQE;
	else if ((setup_flags & IORING_SETUP_INLINE_READ) &&
		 (iou_fdinfo_u64(ring.fd, "InlineReadArmed", &armed) || armed))
		code = CHILD_ARMED;
out:
	if (write(report, &code, 1) != 1)
		code = CHILD_SETUP;
	/* Exit with the ring, its mappings and the device file all open. */
	return code;
}

FIXTURE_SETUP(blk)
{
	unsigned int flags = variant->inline_read ? IORING_SETUP_INLINE_READ : 0;
	int ret;

	self->ring.fd = -1;
	self->fd = -1;
	self->child = -1;
	self->name[0] = '\0';
	self->tmpdir[0] = '\0';
	self->powered = false;
	self->made_node = false;
	self->mounted = false;
	self->buf = NULL;
	self->big = NULL;
	self->nr_stash = 0;
	self->next_ud = 0;

	if (variant->inline_read && !inline_read_supported())
		SKIP(return, "kernel lacks IORING_FEAT_INLINE_READ");
	ret = iou_setup(&self->ring, RING_ENTRIES, flags);
	ASSERT_EQ(0, ret) TH_LOG("io_uring_setup(%#x): %s", flags, strerror(-ret));
	if (!(self->ring.features & IORING_FEAT_EXT_ARG))
		SKIP(return, "no IORING_FEAT_EXT_ARG: waits cannot be bounded");

	ASSERT_EQ(0, posix_memalign((void **)&self->buf, 4096, BUF_LEN));
	memset(self->buf, FILL, BUF_LEN);
}

FIXTURE_TEARDOWN(blk)
{
	int status;

	if (self->child > 0) {
		kill(self->child, SIGKILL);
		wait_child(self->child, &status, 0, CLOSE_MS);
	}
	iou_exit(&self->ring);
	if (self->fd >= 0)
		close(self->fd);
	nullb_destroy(self);
	if (self->tmpdir[0]) {
		if (self->mounted)
			umount2(self->tmpdir, MNT_DETACH);
		else
			unlink(self->tmpfile);
		rmdir(self->tmpdir);
	}
	free(self->buf);
	free(self->big);
}

/*
 * Cancelling an O_DIRECT read in flight.
 *
 * The read is issued from io_uring_enter(2) with IOCB_NOWAIT (rw.c:844-847:
 * block devices have FMODE_NOWAIT, bdev.c:956-957, every blk-mq queue takes
 * REQ_NOWAIT, blk-mq.c:4360). blkdev_direct_IO() sends one bio and returns
 * -EIOCBQUEUED (fops.c:377-381), so io_read() returns IOU_ISSUE_SKIP_COMPLETE
 * (rw.c:889-890): from then on only the bio refers to the request, which is
 * in no io-wq, poll, waitid, futex or timeout list. io_try_cancel()
 * (cancel.c:112-147) finds it nowhere: io_async_cancel_one() gets
 * IO_WQ_CANCEL_NOTFOUND, -ENOENT (cancel.c:104-105), and so does every other
 * lookup. __io_async_cancel() (cancel.c:176-219) returns that -ENOENT by
 * user_data or by fd, and for _ALL and _ANY the number cancelled, 0
 * (cancel.c:210-211). IORING_REGISTER_SYNC_CANCEL returns the -ENOENT at once
 * (cancel.c:326-328). The read is left alone: null_blk copies the data when
 * the request is queued and ends it when its timer fires (main.c:837-850,
 * 1661-1664), blkdev_bio_end_io_async() passes the whole length to
 * io_complete_rw() (fops.c:282-289, rw.c:527-541).
 */
TEST_F_TIMEOUT(blk, odirect_cancel, 90)
{
	static const struct cancel_case cancels[] = {
		{ 0, -ENOENT, "by user_data" },
		{ IORING_ASYNC_CANCEL_FD, -ENOENT, "by fd" },
		{ IORING_ASYNC_CANCEL_ALL, 0, "all by user_data" },
		{ IORING_ASYNC_CANCEL_FD | IORING_ASYNC_CANCEL_ALL, 0, "all by fd" },
		{ IORING_ASYNC_CANCEL_ANY, 0, "any" },
	};
	struct io_uring_cqe cqe;
	const char *reason;
	__s64 t0;
	int ret;

	reason = nullb_create(_metadata, self, &slow_conf);
	if (reason)
		SKIP(return, "%s", reason);
	write_pattern_dev(_metadata, self, self->buf, BUF_LEN, OFF_A, 1);
	open_dev(_metadata, self, O_RDONLY | O_DIRECT);

	t0 = iou_now_ns();
	queue_read(_metadata, self, self->fd, self->buf, BUF_LEN, OFF_A, UD_READ, 0);
	submit(_metadata, self, 1);
	wait_reads_inflight(_metadata, self, 1);
	iou_sleep_us(SETTLE_MS * 1000);
	assert_inline_untouched(_metadata, self, variant->inline_read);

	run_cancels(_metadata, self, cancels, ARRAY_SIZE(cancels));
	ret = iou_sync_cancel(&self->ring, UD_READ, -1, 0, QUICK_MS);
	ASSERT_EQ(-ENOENT, ret) TH_LOG("sync cancel: %d (%s)", ret, strerror(-ret));
	ASSERT_FALSE(cqe_posted(_metadata, self, UD_READ))
		TH_LOG("the read completed before the cancels ran: the machine is too slow");

	reap(_metadata, self, UD_READ, BOUND_MS, &cqe);
	check_slow_read(_metadata, &cqe, BUF_LEN, elapsed_ms(t0), COMPLETION_MS * 9 / 10,
			BOUND_MS);
	check_pattern(_metadata, self->buf, BUF_LEN, OFF_A, 1);
	assert_inline_untouched(_metadata, self, variant->inline_read);
}

/*
 * Cancelling an async buffered read: one waiting for a page under read-ahead.
 *
 * The first, IOCB_NOWAIT, attempt starts read-ahead and finds the folio
 * locked: -EAGAIN (filemap.c:2424-2427). Block devices have FOP_BUFFER_RASYNC
 * (fops.c:892), so __io_read() retries with IOCB_WAITQ (rw.c:877-888,
 * 905-932; io_rw_should_retry(), rw.c:726-756): filemap_update_page() queues
 * io_async_buf_func() on the folio and returns -EIOCBQUEUED
 * (filemap.c:2437), the read returns IOU_ISSUE_SKIP_COMPLETE. It waits on the
 * folio, in no list that io_try_cancel() searches: -ENOENT, and 0 for _ALL,
 * as for O_DIRECT above. When the read-ahead ends, the wake-up re-issues the
 * read, which copies the data.
 */
TEST_F_TIMEOUT(blk, buffered_cancel, 90)
{
	static const struct cancel_case cancels[] = {
		{ 0, -ENOENT, "by user_data" },
		{ IORING_ASYNC_CANCEL_FD, -ENOENT, "by fd" },
		{ IORING_ASYNC_CANCEL_ALL, 0, "all by user_data" },
		{ IORING_ASYNC_CANCEL_FD | IORING_ASYNC_CANCEL_ALL, 0, "all by fd" },
		{ IORING_ASYNC_CANCEL_ANY, 0, "any" },
	};
	struct io_uring_cqe cqe;
	const char *reason;
	__s64 t0;
	int ret;

	reason = nullb_create(_metadata, self, &slow_conf);
	if (reason)
		SKIP(return, "%s", reason);
	write_pattern_dev(_metadata, self, self->buf, BUF_LEN, OFF_A, 2);
	open_dev(_metadata, self, O_RDONLY);

	t0 = iou_now_ns();
	queue_read(_metadata, self, self->fd, self->buf, BUF_LEN, OFF_A, UD_READ, 0);
	submit(_metadata, self, 1);
	wait_reads_inflight(_metadata, self, 1);
	iou_sleep_us(SETTLE_MS * 1000);
	assert_inline_untouched(_metadata, self, variant->inline_read);

	run_cancels(_metadata, self, cancels, ARRAY_SIZE(cancels));
	ret = iou_sync_cancel(&self->ring, UD_READ, -1, 0, QUICK_MS);
	ASSERT_EQ(-ENOENT, ret) TH_LOG("sync cancel: %d (%s)", ret, strerror(-ret));
	ASSERT_FALSE(cqe_posted(_metadata, self, UD_READ))
		TH_LOG("the read completed before the cancels ran: the machine is too slow");

	reap(_metadata, self, UD_READ, BOUND_MS, &cqe);
	check_slow_read(_metadata, &cqe, BUF_LEN, elapsed_ms(t0), COMPLETION_MS * 9 / 10,
			BOUND_MS);
	check_pattern(_metadata, self->buf, BUF_LEN, OFF_A, 2);
	assert_inline_untouched(_metadata, self, variant->inline_read);
}

/*
 * Cancelling a read that runs in io-wq.
 *
 * With IOSQE_ASYNC the read goes to io-wq, whose worker issues it without
 * IOCB_NOWAIT: filemap_update_page() sleeps, TASK_KILLABLE, until the
 * read-ahead ends (filemap.c:2428-2435). io_wq_cancel_cb() finds the work
 * running, flags it and sets TIF_NOTIFY_SIGNAL on the worker, which does not
 * end a killable sleep (io-wq.c:1079-1090, 1216-1223): IO_WQ_CANCEL_RUNNING,
 * -EALREADY (cancel.c:101-102). io_try_cancel() notes it (cancel.c:127-128)
 * and goes on to lookups that find nothing; __io_async_cancel() then finds
 * the work running again in the slow path and returns -EALREADY by user_data
 * or by fd (cancel.c:195-218). _ALL and _ANY return the number cancelled,
 * and a running request is only signalled, not counted: 0 (cancel.c:186-211).
 * The work's cancel flag is only read before it starts (io_uring.c:1863), so
 * the read completes with its data.
 */
TEST_F_TIMEOUT(blk, iowq_cancel, 90)
{
	static const struct cancel_case cancels[] = {
		{ 0, -EALREADY, "by user_data" },
		{ IORING_ASYNC_CANCEL_FD, -EALREADY, "by fd" },
		{ IORING_ASYNC_CANCEL_ALL, 0, "all by user_data" },
		{ IORING_ASYNC_CANCEL_FD | IORING_ASYNC_CANCEL_ALL, 0, "all by fd" },
		{ IORING_ASYNC_CANCEL_ANY, 0, "any" },
	};
	struct io_uring_cqe cqe;
	const char *reason;
	__s64 t0;

	reason = nullb_create(_metadata, self, &slow_conf);
	if (reason)
		SKIP(return, "%s", reason);
	write_pattern_dev(_metadata, self, self->buf, BUF_LEN, OFF_A, 3);
	open_dev(_metadata, self, O_RDONLY);

	t0 = iou_now_ns();
	queue_read(_metadata, self, self->fd, self->buf, BUF_LEN, OFF_A, UD_READ, IOSQE_ASYNC);
	submit(_metadata, self, 1);
	/* The worker started the read-ahead, so it is running the work. */
	wait_reads_inflight(_metadata, self, 1);
	iou_sleep_us(SETTLE_MS * 1000);
	assert_inline_untouched(_metadata, self, variant->inline_read);

	run_cancels(_metadata, self, cancels, ARRAY_SIZE(cancels));
	ASSERT_FALSE(cqe_posted(_metadata, self, UD_READ))
		TH_LOG("the read completed before the cancels ran: the machine is too slow");

	reap(_metadata, self, UD_READ, BOUND_MS, &cqe);
	check_slow_read(_metadata, &cqe, BUF_LEN, elapsed_ms(t0), COMPLETION_MS * 9 / 10,
			BOUND_MS);
	check_pattern(_metadata, self->buf, BUF_LEN, OFF_A, 3);
	assert_inline_untouched(_metadata, self, variant->inline_read);
}

/*
 * A read whose request times out.
 *
 * With timeout_inject armed, null_queue_rq() starts the request
 * (blk_mq_start_request() arms the queue timer with the queue's io_timeout,
 * blk-timeout.c:128-150) and returns without handling it (main.c:1631-1632,
 * 1661-1662): no data moves. The timeout work calls null_timeout_rq()
 * (blk-mq.c:1619-1632), which sets BLK_STS_TIMEOUT and, the timeout being
 * fake, completes the request (main.c:1607-1609, null_complete_rq(),
 * main.c:852-857). BLK_STS_TIMEOUT is -ETIMEDOUT (blk-core.c:141);
 * blkdev_bio_end_io_async() passes it on (fops.c:285-289), and io_uring does
 * not retry anything but -EAGAIN and -EOPNOTSUPP (rw.c:478-491): the CQE says
 * -ETIMEDOUT. The deadline is rounded up by about a second
 * (blk_round_jiffies(), blk-timeout.c:104-107), so the read ends between
 * io_timeout and roughly io_timeout + 1 s. A cancel meanwhile finds nothing,
 * as for any read in flight.
 */
TEST_F_TIMEOUT(blk, timeout_inject, 90)
{
	struct io_uring_cqe cqe;
	const char *reason;
	__s64 t0, took;
	int res;

	reason = nullb_create(_metadata, self, &timeout_conf);
	if (reason)
		SKIP(return, "%s", reason);
	reason = nullb_inject_timeout(_metadata, self);
	if (reason)
		SKIP(return, "%s", reason);
	open_dev(_metadata, self, O_RDONLY | O_DIRECT);

	t0 = iou_now_ns();
	queue_read(_metadata, self, self->fd, self->buf, BUF_LEN, OFF_A, UD_READ, 0);
	submit(_metadata, self, 1);
	wait_reads_inflight(_metadata, self, 1);
	assert_inline_untouched(_metadata, self, variant->inline_read);

	res = async_cancel(_metadata, self, -1, 0);
	ASSERT_EQ(-ENOENT, res) TH_LOG("cancel by user_data: %d (%s)", res,
				       strerror(res < 0 ? -res : 0));

	reap(_metadata, self, UD_READ, TIMEOUT_BOUND_MS, &cqe);
	took = elapsed_ms(t0);
	ASSERT_EQ(-ETIMEDOUT, cqe.res) TH_LOG("read: %d (%s)", cqe.res,
					      strerror(cqe.res < 0 ? -cqe.res : 0));
	ASSERT_LE(IO_TIMEOUT_MS * 9 / 10, took) TH_LOG("timed out after %lld ms",
						       (long long)took);
	ASSERT_LE(took, TIMEOUT_BOUND_MS) TH_LOG("timed out after %lld ms", (long long)took);
	TH_LOG("timed out after %lld ms (io_timeout %d ms)", (long long)took, IO_TIMEOUT_MS);
	check_fill(_metadata, self->buf, BUF_LEN);
	ASSERT_EQ(0, wait_idle(self, iou_now_ns() + QUICK_MS * MS));
	assert_inline_untouched(_metadata, self, variant->inline_read);
}

/*
 * Closing the ring with slow reads in flight. io_uring_release() kills the
 * ring and leaves the wait to its exit work (io_ring_ctx_wait_and_kill(),
 * io_uring.c:3074-3095), so close(2) returns at once; the reads end when
 * null_blk ends them, their completion task_work runs in this task, and the
 * last request frees the file: the device can be opened with O_EXCL again.
 */
TEST_F_TIMEOUT(blk, ring_close, 90)
{
	unsigned int reads, writes;
	const char *reason;
	__s64 t0, t1, took;

	reason = nullb_create(_metadata, self, &slow_conf);
	if (reason)
		SKIP(return, "%s", reason);
	open_dev(_metadata, self, O_RDONLY | O_DIRECT | O_EXCL);

	t0 = iou_now_ns();
	/* Far apart: two requests, not one merged. */
	queue_read(_metadata, self, self->fd, self->buf, BUF_LEN / 2, OFF_A, UD_READ, 0);
	queue_read(_metadata, self, self->fd, self->buf + BUF_LEN / 2, BUF_LEN / 2, OFF_B,
		   UD_READ2, 0);
	submit(_metadata, self, 2);
	wait_reads_inflight(_metadata, self, 2);
	assert_inline_untouched(_metadata, self, variant->inline_read);

	t1 = iou_now_ns();
	iou_exit(&self->ring);
	close(self->fd);
	self->fd = -1;
	took = elapsed_ms(t1);
	ASSERT_LE(took, CLOSE_MS) TH_LOG("closing the ring took %lld ms", (long long)took);
	ASSERT_EQ(0, nullb_inflight(self, &reads, &writes));
	TH_LOG("close took %lld ms; %u reads still in flight", (long long)took, reads);

	wait_released(_metadata, self, t0 + BOUND_MS * MS);
	ASSERT_EQ(0, wait_idle(self, t0 + BOUND_MS * MS));
	TH_LOG("device released %lld ms after the submission", (long long)elapsed_ms(t0));
}

/*
 * The exit of the task that submitted slow reads. At exit,
 * io_uring_files_cancel() only waits for tracked requests (tctx_inflight(),
 * io_uring.c:3229-3234, 3261-3262; block reads are not tracked), and the
 * ring's release does not wait either: the exit is prompt. The reads end when
 * null_blk ends them; task_work can no longer be queued to the dead task, so
 * their completion runs from the ring's fallback work (io_uring.c:1296-1299,
 * 245-260), and the last request frees the file.
 */
TEST_F_TIMEOUT(blk, task_exit, 90)
{
	unsigned int flags = variant->inline_read ? IORING_SETUP_INLINE_READ : 0;
	unsigned int reads, writes;
	struct pollfd pfd;
	int report[2], status, ret;
	const char *reason;
	__s64 t0, t1, took;
	char code;

	reason = nullb_create(_metadata, self, &slow_conf);
	if (reason)
		SKIP(return, "%s", reason);
	ASSERT_EQ(0, pipe2(report, O_CLOEXEC));

	t0 = iou_now_ns();
	self->child = fork();
	ASSERT_LE(0, self->child);
	if (!self->child) {
		close(report[0]);
		_exit(child_reads(self->dev, flags, report[1]));
	}
	close(report[1]);
	pfd.fd = report[0];
	pfd.events = POLLIN;
	ret = poll(&pfd, 1, QUICK_MS);
	ASSERT_EQ(1, ret) TH_LOG("no report from the child in %d ms", QUICK_MS);
	ASSERT_EQ(1, read(report[0], &code, 1));
	close(report[0]);
	ASSERT_EQ(CHILD_OK, code) TH_LOG("child: %s", child_error(code));

	t1 = iou_now_ns();
	ret = wait_child(self->child, &status, 0, CLOSE_MS);
	ASSERT_EQ(0, ret) TH_LOG("the child did not exit within %d ms", CLOSE_MS);
	self->child = -1;
	took = elapsed_ms(t1);
	ASSERT_TRUE(WIFEXITED(status)) TH_LOG("child killed by signal %d", WTERMSIG(status));
	ASSERT_EQ(CHILD_OK, WEXITSTATUS(status))
		TH_LOG("child: %s", child_error(WEXITSTATUS(status)));
	ASSERT_EQ(0, nullb_inflight(self, &reads, &writes));
	TH_LOG("exit took %lld ms; %u reads still in flight", (long long)took, reads);

	wait_released(_metadata, self, t0 + BOUND_MS * MS);
	ASSERT_EQ(0, wait_idle(self, t0 + BOUND_MS * MS));
	TH_LOG("device released %lld ms after the fork", (long long)elapsed_ms(t0));
}

/*
 * Reads of a fast null_blk device return their data; the inline path stays
 * unused. The 2 MiB O_DIRECT read needs several bios, or a bio split to
 * null_blk's 255-sector limit, and neither is done under IOCB_NOWAIT
 * (fops.c:214-227; blk-merge.c:359-364, then io_rw_should_reissue()):
 * __io_read() returns -EAGAIN (rw.c:877-888, 918-920), io_read() offers the
 * read to io_inline_rd_arm(), which must turn it down (block devices lack
 * FOP_INLINE_READ), and io-wq reads it.
 */
TEST_F_TIMEOUT(blk, nullb_no_inline, 60)
{
	struct io_uring_cqe cqe;
	struct iovec iov[2];
	const char *reason;
	int dfd;

	reason = nullb_create(_metadata, self, &fast_conf);
	if (reason)
		SKIP(return, "%s", reason);
	ASSERT_EQ(0, posix_memalign((void **)&self->big, 4096, BIG_LEN));
	write_pattern_dev(_metadata, self, self->buf, BUF_LEN, OFF_A, 4);
	write_pattern_dev(_metadata, self, self->big, BIG_LEN, OFF_B, 5);

	open_dev(_metadata, self, O_RDONLY | O_DIRECT);
	dfd = self->fd;
	queue_read(_metadata, self, dfd, self->buf, BUF_LEN, OFF_A, UD_READ, 0);
	queue_read(_metadata, self, dfd, self->big, BIG_LEN, OFF_B, UD_READ2, 0);
	submit(_metadata, self, 2);
	reap(_metadata, self, UD_READ, QUICK_MS, &cqe);
	ASSERT_EQ(BUF_LEN, cqe.res) TH_LOG("O_DIRECT read: %d", cqe.res);
	check_pattern(_metadata, self->buf, BUF_LEN, OFF_A, 4);
	reap(_metadata, self, UD_READ2, QUICK_MS, &cqe);
	ASSERT_EQ(BIG_LEN, cqe.res) TH_LOG("2 MiB O_DIRECT read: %d", cqe.res);
	check_pattern(_metadata, self->big, BIG_LEN, OFF_B, 5);
	close(dfd);
	self->fd = -1;

	/* Buffered: a READ and a READV across a page boundary. */
	memset(self->buf, FILL, BUF_LEN);
	open_dev(_metadata, self, O_RDONLY);
	queue_read(_metadata, self, self->fd, self->buf, BUF_LEN, OFF_A, UD_READ, 0);
	submit(_metadata, self, 1);
	reap(_metadata, self, UD_READ, QUICK_MS, &cqe);
	ASSERT_EQ(BUF_LEN, cqe.res) TH_LOG("buffered read: %d", cqe.res);
	check_pattern(_metadata, self->buf, BUF_LEN, OFF_A, 4);

	memset(self->big, FILL, BIG_LEN);
	iov[0].iov_base = self->big;
	iov[0].iov_len = 100;
	iov[1].iov_base = self->big + 4096;
	iov[1].iov_len = 8192;
	queue_readv(_metadata, self, self->fd, iov, 2, OFF_B + 4000, UD_READ2);
	submit(_metadata, self, 1);
	reap(_metadata, self, UD_READ2, QUICK_MS, &cqe);
	ASSERT_EQ(100 + 8192, cqe.res) TH_LOG("buffered readv: %d", cqe.res);
	check_pattern(_metadata, self->big, 100, OFF_B + 4000, 5);
	check_pattern(_metadata, self->big + 4096, 8192, OFF_B + 4100, 5);

	assert_inline_untouched(_metadata, self, variant->inline_read);
}

/*
 * A regular file on tmpfs. shmem files have no FMODE_NOWAIT and no ->poll, so
 * __io_read() returns -EAGAIN at once (rw.c:843-846) and io_read() offers the
 * read to io_inline_rd_arm(), which must turn it down (no FOP_INLINE_READ);
 * io-wq then reads it.
 */
TEST_F_TIMEOUT(blk, tmpfs_file, 60)
{
	struct io_uring_cqe cqe;
	struct iovec iov[2];
	struct statfs sfs;
	char *data;
	int fd, err;

	snprintf(self->tmpdir, sizeof(self->tmpdir), "/tmp/iouc_bb.XXXXXX");
	if (!mkdtemp(self->tmpdir)) {
		self->tmpdir[0] = '\0';
		SKIP(return, "mkdtemp in /tmp: %s", strerror(errno));
	}
	if (!mount("tmpfs", self->tmpdir, "tmpfs", 0, "size=1m")) {
		self->mounted = true;
	} else {
		err = errno;
		ASSERT_EQ(0, statfs(self->tmpdir, &sfs));
		if (sfs.f_type != TMPFS_MAGIC)
			SKIP(return, "cannot mount tmpfs (%s), and /tmp is not tmpfs",
			     strerror(err));
	}
	snprintf(self->tmpfile, sizeof(self->tmpfile), "%s/data", self->tmpdir);

	data = malloc(FILE_LEN);
	ASSERT_NE(NULL, data);
	fill_pattern(data, FILE_LEN, 0, 6);
	fd = open(self->tmpfile, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	ASSERT_LE(0, fd) TH_LOG("open %s: %s", self->tmpfile, strerror(errno));
	ASSERT_EQ(FILE_LEN, write(fd, data, FILE_LEN));
	free(data);
	self->fd = fd;

	/* A read of the whole file, short at EOF. */
	queue_read(_metadata, self, fd, self->buf, BUF_LEN, 0, UD_READ, 0);
	submit(_metadata, self, 1);
	reap(_metadata, self, UD_READ, QUICK_MS, &cqe);
	ASSERT_EQ(FILE_LEN, cqe.res) TH_LOG("read: %d", cqe.res);
	check_pattern(_metadata, self->buf, FILE_LEN, 0, 6);
	check_fill(_metadata, self->buf + FILE_LEN, BUF_LEN - FILE_LEN);

	/* A READV, and a read at EOF. */
	memset(self->buf, FILL, BUF_LEN);
	iov[0].iov_base = self->buf;
	iov[0].iov_len = 100;
	iov[1].iov_base = self->buf + 4096;
	iov[1].iov_len = 4096;
	queue_readv(_metadata, self, fd, iov, 2, 4000, UD_READ);
	queue_read(_metadata, self, fd, self->buf + 8192, 4096, FILE_LEN, UD_READ2, 0);
	submit(_metadata, self, 2);
	reap(_metadata, self, UD_READ, QUICK_MS, &cqe);
	ASSERT_EQ(100 + 4096, cqe.res) TH_LOG("readv: %d", cqe.res);
	check_pattern(_metadata, self->buf, 100, 4000, 6);
	check_pattern(_metadata, self->buf + 4096, 4096, 4100, 6);
	reap(_metadata, self, UD_READ2, QUICK_MS, &cqe);
	ASSERT_EQ(0, cqe.res) TH_LOG("read at EOF: %d", cqe.res);
	check_fill(_metadata, self->buf + 8192, 4096);
	close(fd);
	self->fd = -1;

	/* O_DIRECT (tmpfs allows it, shmem_file_open(), and reads through the cache). */
	fd = open(self->tmpfile, O_RDONLY | O_DIRECT | O_CLOEXEC);
	if (fd >= 0) {
		self->fd = fd;
		memset(self->buf, FILL, BUF_LEN);
		queue_read(_metadata, self, fd, self->buf, 8192, 4096, UD_READ, 0);
		submit(_metadata, self, 1);
		reap(_metadata, self, UD_READ, QUICK_MS, &cqe);
		ASSERT_EQ(8192, cqe.res) TH_LOG("O_DIRECT read: %d", cqe.res);
		check_pattern(_metadata, self->buf, 8192, 4096, 6);
	} else {
		ASSERT_EQ(EINVAL, errno) TH_LOG("open O_DIRECT: %s", strerror(errno));
	}

	assert_inline_untouched(_metadata, self, variant->inline_read);
}

/*
 * Control for the counters above: a read of an empty pipe is what the inline
 * path takes on an opted-in ring (InlineReadArmed counts it), and unlike the
 * block reads it can be cancelled: 0, and the read ends with -ECANCELED.
 */
TEST_F_TIMEOUT(blk, inline_control, 30)
{
	struct io_uring_cqe cqe;
	int fds[2], res;

	ASSERT_EQ(0, pipe2(fds, O_CLOEXEC));
	self->fd = fds[0];
	queue_read(_metadata, self, fds[0], self->buf, 64, IOU_POS_CUR, UD_READ, 0);
	submit(_metadata, self, 1);
	ASSERT_FALSE(cqe_posted(_metadata, self, UD_READ));
	check_armed(_metadata, self, variant->inline_read ? 1 : -1);
	res = async_cancel(_metadata, self, -1, 0);
	ASSERT_EQ(0, res) TH_LOG("cancel: %d (%s)", res, strerror(res < 0 ? -res : 0));
	reap(_metadata, self, UD_READ, QUICK_MS, &cqe);
	ASSERT_EQ(-ECANCELED, cqe.res);
	check_fill(_metadata, self->buf, 64);
	close(fds[1]);
}

TEST_HARNESS_MAIN
