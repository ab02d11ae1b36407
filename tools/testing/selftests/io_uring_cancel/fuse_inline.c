// SPDX-License-Identifier: GPL-2.0
/*
 * io_uring reads of /dev/fuse completed in the requester's context
 * (IORING_SETUP_INLINE_READ).
 *
 * On a ring created with IORING_SETUP_INLINE_READ, a READ, READV or
 * READ_FIXED of /dev/fuse that finds no request queued waits inline. A task
 * that then sends a synchronous FUSE request (fuse_simple_request(): the
 * LOOKUP of a stat(2), GETATTR, OPEN, FLUSH, the READ of a FOPEN_DIRECT_IO
 * file when FUSE_ASYNC_DIO was not negotiated, ...) takes the request off
 * the queue as fuse_dev_do_read() would (it moves to the processing list),
 * copies it into the pending read's buffer and posts the CQE, all before it
 * starts to wait for the reply; on DEFER_TASKRUN rings the CQE appears once
 * the daemon runs its task work. The daemon answers with write(2) as usual.
 * A request larger than the read's buffer fails for its sender (SETXATTR
 * with E2BIG, others with EIO) and the read stays pending. Requests queued
 * with a plain wake-up (background requests such as FUSE_RELEASE, FORGETs,
 * INTERRUPTs), an abort of the connection and an unmount hand a pending read
 * back to the stock path (InlineReadFallback): the daemon's task_work
 * retries it. Without the flag the kernel behaves as stock: io_uring polls
 * the device and the wake-up queues task_work to the daemon, which redoes
 * the read in its own context.
 *
 * Fixtures:
 *  - srv: a FUSE server thread in the test process serves a file system
 *    with one file, reading its requests through the ring (two reads in
 *    flight, by READ, READV or READ_FIXED; each is re-armed before its
 *    request is answered, so that every request finds a read pending),
 *    while a client thread stat(2)s the file and a missing name, opens the
 *    file (FOPEN_DIRECT_IO: every pread(2) is a READ), reads it at several
 *    offsets and closes it. Every answer reaches the client intact; every
 *    request's header is right (its length, a unique, the client's pid for
 *    synchronous requests); with the flag, at least every synchronous
 *    request the client made was completed inline and the FUSE_RELEASE of
 *    the close took the stock path; without it nothing was. All nine ring
 *    variants.
 *  - stopped: the proof. A forked daemon creates a ring of its own, arms
 *    one read of /dev/fuse into shared memory and stops itself with
 *    SIGSTOP. The parent maps the daemon's ring through pidfd_getfd(2) and
 *    stat(2)s a name in a thread. With the flag, the LOOKUP is in the
 *    daemon's buffer (and, but on DEFER_TASKRUN rings, its CQE in the CQ)
 *    while the daemon is still stopped; the parent answers it from there,
 *    and the stat(2) returns before the daemon has run at all. Without the
 *    flag nothing moves and the stat(2) stays blocked until the daemon is
 *    continued. All nine ring variants.
 *  - edge: the test thread is the daemon, on plain and DEFER_TASKRUN rings,
 *    with and without the flag: cancels (by user_data, and all by fd)
 *    consume no request; a request larger than the read's buffer fails for
 *    its sender and leaves the read pending for the next one; a buffer
 *    below the minimum fails at once; an abort (fusectl) and an unmount end
 *    a pending read (-ENODEV, or -ECONNABORTED for an abort when the daemon
 *    negotiated FUSE_ABORT_ERROR); the read of a daemon that exited, was
 *    killed or closed its ring consumes nothing; a background request
 *    (FUSE_RELEASE) and a FUSE_INTERRUPT (of a LOOKUP already read, queued
 *    when its client takes a signal) reach an inline ring's read through
 *    the stock path; an INTERRUPT or a FORGET (of the inode whose dentry a
 *    FUSE_NOTIFY_INVAL_ENTRY dropped) left queued on the device is taken at
 *    submission by the first of two reads, and the next client's LOOKUP
 *    completes the second (inline, with the flag). A read that finds
 *    something queued takes it at once, and the plain wake-up that queues an
 *    INTERRUPT or a FORGET hands every pending read to the stock path: so no
 *    test can make a requester's inline read find one ahead of its request.
 *
 * Each test mounts a FUSE file system that it serves itself, raw (see
 * fuse_util.h), over /tmp in a private mount namespace, answering FUSE_INIT
 * with read(2) and write(2) and negotiating no optional feature (so READs
 * of a FOPEN_DIRECT_IO file are synchronous) but FUSE_ABORT_ERROR or
 * FUSE_PARALLEL_DIROPS where a test needs it. Every entry and attribute is
 * answered with a timeout of 0 (forget_first's attributes excepted), so that
 * every access reaches the server.
 *
 * The read_fixed, too_large and small_buf tests need the series' "fuse:
 * honour IOCB_NOWAIT in /dev/fuse reads" (FMODE_NOWAIT, bvec destinations),
 * and SKIP on a kernel without it, where io_uring still polls the device but
 * then retries the read without IOCB_NOWAIT: READ_FIXED of the device fails
 * with -EINVAL there, a read with too small a buffer waits for a request
 * instead of failing at once, and the read retried after a request too large
 * blocks the daemon in its task_work. The other tests without the flag pass
 * there too.
 *
 * Needs root (to mount), /dev/fuse and, for the abort test, fusectl, which
 * it mounts in its namespace if needed. Tests of the feature SKIP when the
 * kernel does not report IORING_FEAT_INLINE_READ. Every wait is bounded, so
 * a broken kernel fails a test instead of hanging the run; forked daemons
 * and threads never use ASSERT_*(): they report through exit codes or
 * memory. A client waiting for the answer to a request the server has read
 * cannot be killed, so a failed test's process may never exit: the guardian
 * process that fuse_util.h forks for every mount then aborts the connection,
 * FUSE_GUARD_MARGIN_MS after the test's timeout.
 */
#define _GNU_SOURCE
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <sys/xattr.h>

#include <linux/fuse.h>

#include "../kselftest_harness.h"
#include "inline_test.h"
#include "fuse_util.h"

#ifndef RWF_NOWAIT
#define RWF_NOWAIT		0x00000008
#endif

#define RING_ENTRIES		16
/* The max_write the file systems announce in their FUSE_INIT reply. */
#define MAX_WRITE		4096
/* The smallest buffer a read of the device takes: max(8192, 80 + MAX_WRITE). */
#define MIN_READ		8192
/* Below it: such a read fails with -EINVAL. */
#define SMALL_LEN		4096
/* One read's buffer: 4 pages. */
#define SLOT_LEN		16384
/* Reads the srv fixture's server keeps in flight; the edge fixture's slots. */
#define NR_SLOTS		2

/* A name the file systems do not have: its LOOKUP carries it with its NUL. */
#define NAME			"iu-name"
#define LOOKUP_LEN		((int)(sizeof(struct fuse_in_header) + sizeof(NAME)))
/* Another one, as long: a second client looks it up while the first waits for NAME. */
#define NAME2			"iu-else"
static_assert(sizeof(NAME2) == sizeof(NAME), "NAME2's LOOKUP is LOOKUP_LEN bytes too");
/* The FUSE_INTERRUPT of a request, as a read gets it. */
#define INTERRUPT_LEN		((int)(sizeof(struct fuse_in_header) + \
				       sizeof(struct fuse_interrupt_in)))
/* Its unique: the interrupted request's with this bit set (FUSE_INT_REQ_BIT). */
#define INT_REQ_BIT		1ULL
/* A single FUSE_FORGET, as a read gets it. */
#define FORGET_LEN		((int)(sizeof(struct fuse_in_header) + \
				       sizeof(struct fuse_forget_in)))
/* The file they have, in the root. */
#define FILE_NAME		"hello"
#define FILE_INO		2ULL
#define FILE_SIZE		10000
#define FILE_FH			0x5eedULL
/* A FUSE_RELEASE as a read gets it. */
#define RELEASE_LEN		((int)(sizeof(struct fuse_in_header) + \
				       sizeof(struct fuse_release_in)))
/* A user xattr whose SETXATTR request does not fit a MIN_READ buffer. */
#define XATTR_NAME		"user.x"
#define XATTR_LEN		16384
/* The largest pread(2) the client makes. */
#define PREAD_MAX		8192

/* How long a stopped daemon is watched for something that must not happen. */
#define STOPPED_MS		200
/* How long the srv fixture's client may take for all it does. */
#define CLIENT_MS		(4 * COMPLETE_MS)
/* How long a forked daemon waits, once continued, to be told to exit. */
#define DAEMON_MS		30000

#define FILL			0xaa

#define UD_READ			0x1000ULL	/* + slot */
#define UD_CANCEL		0x2000ULL	/* + n */

/* Why a test SKIPs on a kernel without "fuse: honour IOCB_NOWAIT in /dev/fuse reads". */
#define NO_NOWAIT		"/dev/fuse lacks FMODE_NOWAIT and bvec reads (a kernel " \
				"without the IOCB_NOWAIT fix): "
#define NO_FIXED		NO_NOWAIT "READ_FIXED of it fails with -EINVAL"

/* Exit codes of forked daemons: nothing in a child may use ASSERT_*(). */
enum {
	CHILD_OK,
	CHILD_SETUP = 10,	/* prctl(), creating the ring or registering failed */
	CHILD_SUBMIT,		/* io_uring_enter() did not submit the read */
	CHILD_EARLY_CQE,	/* a CQE appeared before any request was sent */
	CHILD_ENTER,		/* io_uring_enter() failed once continued */
	CHILD_TIMEOUT,		/* never told to exit */
};

static const char *child_error(int code)
{
	switch (code) {
	case CHILD_OK:
		return "ok";
	case CHILD_SETUP:
		return "setting up (prctl, ring, register) failed";
	case CHILD_SUBMIT:
		return "submission failed";
	case CHILD_EARLY_CQE:
		return "CQE before any request was sent";
	case CHILD_ENTER:
		return "io_uring_enter failed";
	case CHILD_TIMEOUT:
		return "never told to exit";
	}
	return "unknown exit code";
}

/* The counters of a ring just created. */
static const struct inl_counters fresh_ring;

/* Processes. */

/* Wait up to @ms for child *@pid to exit with status CHILD_OK. */
static void join_child(struct __test_metadata *_metadata, pid_t *pid, unsigned int ms)
{
	int status, ret;

	ret = wait_child(*pid, &status, 0, ms);
	ASSERT_EQ(0, ret) TH_LOG("child %d did not exit within %u ms", *pid, ms);
	*pid = -1;
	ASSERT_TRUE(WIFEXITED(status)) TH_LOG("child killed by signal %d", WTERMSIG(status));
	ASSERT_EQ(CHILD_OK, WEXITSTATUS(status))
		TH_LOG("child: %s", child_error(WEXITSTATUS(status)));
}

/* The state of process @pid as /proc/<pid>/stat shows it ('T': stopped), '?' if unknown. */
static char proc_state(pid_t pid)
{
	char path[64], buf[512], *p;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return '?';
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return '?';
	buf[n] = '\0';
	p = strrchr(buf, ')');
	return p && p[1] == ' ' ? p[2] : '?';
}

/*
 * Whether /dev/fuse has FMODE_NOWAIT: without it, RWF_NOWAIT fails with
 * EOPNOTSUPP before the device is asked (which fails with EPERM: no file
 * system uses this instance).
 */
static bool fuse_dev_nowait(void)
{
	static char buf[MIN_READ];
	struct iovec iov = { .iov_base = buf, .iov_len = sizeof(buf) };
	bool ok;
	int fd;

	fd = open("/dev/fuse", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return false;
	ok = preadv2(fd, &iov, 1, -1, RWF_NOWAIT) >= 0 || errno != EOPNOTSUPP;
	close(fd);
	return ok;
}

/* The file system: a root directory holding FILE_NAME. */

/* Byte @off of FILE_NAME. */
static unsigned char file_byte(__u64 off)
{
	return (off * 7 + (off >> 8) + 0x11) & 0xff;
}

static void fill_attr(struct fuse_attr *a, __u64 ino)
{
	memset(a, 0, sizeof(*a));
	a->ino = ino;
	a->blksize = 4096;
	if (ino == FUSE_ROOT_ID) {
		a->mode = S_IFDIR | 0755;
		a->nlink = 2;
	} else {
		a->mode = S_IFREG | 0444;
		a->nlink = 1;
		a->size = FILE_SIZE;
		a->blocks = (FILE_SIZE + 511) / 512;
	}
}

/* The requests a client's system call waits for: fuse_simple_request(). */
static bool sync_opcode(__u32 opcode)
{
	return opcode == FUSE_LOOKUP || opcode == FUSE_GETATTR || opcode == FUSE_OPEN ||
	       opcode == FUSE_READ || opcode == FUSE_FLUSH;
}

/*
 * Answer request @h (its @arg_len bytes of arguments at @arg) as the file
 * system does, opening the file with @open_flags. FORGETs and INTERRUPTs
 * get no answer, unknown requests ENOSYS. For threads: returns 0, or -1
 * and says why in @why.
 */
static int fs_answer(int fd, const struct fuse_in_header *h, const char *arg, size_t arg_len,
		     __u32 open_flags, char *why, size_t why_len)
{
	static __thread char data[PREAD_MAX];
	struct fuse_entry_out entry;
	struct fuse_attr_out attr;
	struct fuse_open_out opened;
	struct fuse_read_in rd;
	const void *out = NULL;
	size_t out_len = 0;
	int err = 0, ret;
	__u64 i, n;

	switch (h->opcode) {
	case FUSE_LOOKUP:
		if (!arg_len || arg[arg_len - 1] || strlen(arg) + 1 != arg_len) {
			snprintf(why, why_len, "LOOKUP: %zu bytes of name", arg_len);
			return -1;
		}
		if (h->nodeid != FUSE_ROOT_ID || strcmp(arg, FILE_NAME)) {
			err = ENOENT;
			break;
		}
		memset(&entry, 0, sizeof(entry));
		entry.nodeid = FILE_INO;
		entry.generation = 1;
		fill_attr(&entry.attr, FILE_INO);
		out = &entry;
		out_len = sizeof(entry);
		break;
	case FUSE_GETATTR:
		if (h->nodeid != FUSE_ROOT_ID && h->nodeid != FILE_INO) {
			err = ENOENT;
			break;
		}
		memset(&attr, 0, sizeof(attr));
		fill_attr(&attr.attr, h->nodeid);
		out = &attr;
		out_len = sizeof(attr);
		break;
	case FUSE_OPEN:
		if (h->nodeid != FILE_INO) {
			err = ENOENT;
			break;
		}
		memset(&opened, 0, sizeof(opened));
		opened.fh = FILE_FH;
		opened.open_flags = open_flags;
		out = &opened;
		out_len = sizeof(opened);
		break;
	case FUSE_READ:
		memset(&rd, 0, sizeof(rd));
		memcpy(&rd, arg, arg_len < sizeof(rd) ? arg_len : sizeof(rd));
		if (arg_len < sizeof(rd) || h->nodeid != FILE_INO || rd.fh != FILE_FH ||
		    rd.size > sizeof(data)) {
			snprintf(why, why_len,
				 "READ: %zu bytes of arguments, node %llu, fh %#llx, size %u",
				 arg_len, (unsigned long long)h->nodeid,
				 (unsigned long long)rd.fh, rd.size);
			return -1;
		}
		n = rd.offset < FILE_SIZE ? FILE_SIZE - rd.offset : 0;
		if (n > rd.size)
			n = rd.size;
		for (i = 0; i < n; i++)
			data[i] = file_byte(rd.offset + i);
		out = data;
		out_len = n;
		break;
	case FUSE_FLUSH:
	case FUSE_RELEASE:
		break;
	case FUSE_FORGET:
	case FUSE_BATCH_FORGET:
	case FUSE_INTERRUPT:
		return 0;
	default:
		err = ENOSYS;
		break;
	}
	ret = fuse_reply(fd, h->unique, err, out, out_len);
	if (ret) {
		snprintf(why, why_len, "replying to opcode %u: %s", h->opcode, strerror(-ret));
		return -1;
	}
	return 0;
}

/* Where a read puts what it reads. */

enum read_kind {
	KIND_READ,
	KIND_READV,
	KIND_READ_FIXED,
};

/* A read into a SLOT_LEN buffer at @base (preset to FILL), by one of the methods. */
struct read_plan {
	enum read_kind kind;
	char *base;
	struct iovec dst[2];
	int nr_dst;
};

static void make_plan(struct read_plan *pl, enum read_kind kind, char *base)
{
	memset(pl, 0, sizeof(*pl));
	pl->kind = kind;
	pl->base = base;
	pl->nr_dst = 1;
	switch (kind) {
	case KIND_READ:
		pl->dst[0] = (struct iovec){ base, SLOT_LEN };
		break;
	case KIND_READV:
		/* The request header split between two iovecs, with a gap. */
		pl->dst[0] = (struct iovec){ base, 24 };
		pl->dst[1] = (struct iovec){ base + 512, SLOT_LEN - 512 };
		pl->nr_dst = 2;
		break;
	case KIND_READ_FIXED:
		/* At an offset into a registered buffer. */
		pl->dst[0] = (struct iovec){ base + 256, SLOT_LEN - 256 };
		break;
	}
}

/* Prepare the read of @pl from @fd; READ_FIXED reads registered buffer @buf_index. */
static void prep_plan(struct io_uring_sqe *sqe, int fd, const struct read_plan *pl,
		      __u16 buf_index, __u64 ud)
{
	switch (pl->kind) {
	case KIND_READ:
		iou_prep_read(sqe, fd, pl->dst[0].iov_base, pl->dst[0].iov_len, IOU_POS_CUR, ud);
		break;
	case KIND_READV:
		iou_prep_readv(sqe, fd, pl->dst, pl->nr_dst, IOU_POS_CUR, ud);
		break;
	case KIND_READ_FIXED:
		iou_prep_read_fixed(sqe, fd, pl->dst[0].iov_base, pl->dst[0].iov_len, IOU_POS_CUR,
				    buf_index, ud);
		break;
	}
}

/* Whether byte @i of the buffer is among the first @n bytes @pl's read writes. */
static bool plan_wrote(const struct read_plan *pl, size_t n, size_t i)
{
	size_t off = 0, start, len;
	int d;

	for (d = 0; d < pl->nr_dst && off < n; d++) {
		start = (char *)pl->dst[d].iov_base - pl->base;
		len = pl->dst[d].iov_len < n - off ? pl->dst[d].iov_len : n - off;
		if (i >= start && i < start + len)
			return true;
		off += len;
	}
	return false;
}

/*
 * Copy the first @n bytes @pl's read wrote into @out. Returns -1, or the
 * offset in the buffer of a byte outside them that is not FILL any more.
 */
static long plan_gather(const struct read_plan *pl, size_t n, char *out)
{
	size_t off = 0, len, i;
	int d;

	for (d = 0; d < pl->nr_dst && off < n; d++) {
		len = pl->dst[d].iov_len < n - off ? pl->dst[d].iov_len : n - off;
		memcpy(out + off, pl->dst[d].iov_base, len);
		off += len;
	}
	for (i = 0; i < SLOT_LEN; i++)
		if (pl->base[i] != (char)FILL && !plan_wrote(pl, n, i))
			return i;
	return -1;
}

/*
 * srv: a FUSE server thread reading its requests through the ring, and a
 * client thread using the file system.
 */

/* What the client pread(2)s, and what it gets. */
static const struct {
	off_t off;
	size_t len;
} preads[] = {
	{ 0, 100 },			/* the start */
	{ 4090, 5000 },			/* across pages */
	{ FILE_SIZE - 1000, 2000 },	/* across the end: 1000 bytes */
	{ FILE_SIZE, 100 },		/* at the end: 0 */
	{ 3 * FILE_SIZE, 10 },		/* past it: 0 */
};

#define NR_PREADS		ARRAY_SIZE(preads)

/* The client's results, for the test's thread to check. */
struct srv_client {
	char dir[32];			/* the mount point */
	struct stat sb;
	int stat_err;			/* stat(2) of FILE_NAME */
	int miss_err;			/* stat(2) of NAME */
	int open_err;
	ssize_t n[NR_PREADS];
	int err[NR_PREADS];
	char data[NR_PREADS][PREAD_MAX];	/* FILL before */
	int close_err;
};

struct srv {
	struct iou_ring *ring;		/* the fixture's: enabled, and used, by the server */
	int fd;				/* /dev/fuse */
	enum read_kind kind;
	struct read_plan pl[NR_SLOTS];	/* in bufs, registered as buffer 0 */
	char *bufs;
	struct fuse_call *client;	/* whose requests are synchronous */
	char req[SLOT_LEN];		/* the request being answered */
	int stop;			/* atomics */
	int ready;
	int finished;
	char why[256];			/* the first thing that went wrong */
	unsigned int ops[64];		/* requests by opcode (atomic) */
	unsigned int other_ops;
	pthread_t thr;
	bool running;
};

static __printf(2, 3) void srv_fail(struct srv *s, const char *fmt, ...)
{
	va_list ap;

	if (s->why[0])
		return;
	va_start(ap, fmt);
	vsnprintf(s->why, sizeof(s->why), fmt, ap);
	va_end(ap);
}

static unsigned int srv_ops(struct srv *s, __u32 opcode)
{
	return __atomic_load_n(&s->ops[opcode], __ATOMIC_ACQUIRE);
}

/* Queue (not submit) the read of @slot, its buffer preset to FILL. */
static int srv_queue(struct srv *s, int slot)
{
	struct io_uring_sqe *sqe = iou_get_sqe(s->ring);

	if (!sqe) {
		srv_fail(s, "SQ full");
		return -1;
	}
	memset(s->pl[slot].base, FILL, SLOT_LEN);
	prep_plan(sqe, s->fd, &s->pl[slot], 0, UD_READ + slot);
	return 0;
}

/*
 * The read of @slot got @res bytes: check them, re-arm the read (with
 * @rearm) and only then answer, so that the client's next request finds it
 * pending. Returns 0 or -1.
 */
static int srv_handle(struct srv *s, int slot, int res, bool rearm)
{
	struct fuse_in_header h;
	pid_t client;
	long bad;
	int ret;

	if (res < (int)sizeof(h) || res > SLOT_LEN) {
		srv_fail(s, "read of slot %d: %d (%s)", slot, res, strerror(res < 0 ? -res : 0));
		return -1;
	}
	bad = plan_gather(&s->pl[slot], res, s->req);
	if (bad >= 0) {
		srv_fail(s, "byte %ld of slot %d written, not one of the %d read", bad, slot, res);
		return -1;
	}
	memcpy(&h, s->req, sizeof(h));
	client = fuse_call_tid(s->client);
	if (h.len != (__u32)res || !h.unique ||
	    (sync_opcode(h.opcode) && h.pid != (__u32)client)) {
		srv_fail(s, "opcode %u: len %u (%d read), unique %llu, pid %u (client %d)",
			 h.opcode, h.len, res, (unsigned long long)h.unique, h.pid, client);
		return -1;
	}
	if (h.opcode < ARRAY_SIZE(s->ops))
		__atomic_fetch_add(&s->ops[h.opcode], 1, __ATOMIC_RELEASE);
	else
		__atomic_fetch_add(&s->other_ops, 1, __ATOMIC_RELEASE);

	if (rearm) {
		if (srv_queue(s, slot))
			return -1;
		ret = iou_submit(s->ring);
		if (ret != 1) {
			srv_fail(s, "re-arming slot %d: %s", slot,
				 ret < 0 ? strerror(-ret) : "not submitted");
			return -1;
		}
	}
	return fs_answer(s->fd, &h, s->req + sizeof(h), res - sizeof(h), FOPEN_DIRECT_IO,
			 s->why, sizeof(s->why));
}

/* Cancel the reads in flight and reap them, answering what they still got. */
static void srv_drain(struct srv *s)
{
	__s64 deadline = iou_now_ns() + COMPLETE_MS * 1000000LL;
	struct io_uring_cqe *cqe;
	int pending = NR_SLOTS, ret, res;
	bool cancel_done = false;
	__u64 ud;

	iou_prep_cancel(iou_get_sqe(s->ring), 0, IORING_ASYNC_CANCEL_ANY, UD_CANCEL);
	ret = iou_submit(s->ring);
	if (ret != 1) {
		srv_fail(s, "submitting the cancel: %s", ret < 0 ? strerror(-ret) : "no");
		return;
	}
	while (pending || !cancel_done) {
		if (iou_now_ns() > deadline) {
			srv_fail(s, "%d reads still pending after the cancel", pending);
			return;
		}
		ret = iou_wait_cqe(s->ring, &cqe, 10);
		if (ret == -ETIME)
			continue;
		if (ret) {
			srv_fail(s, "waiting for a CQE: %s", strerror(-ret));
			return;
		}
		ud = cqe->user_data;
		res = cqe->res;
		iou_cqe_seen(s->ring);
		if (ud == UD_CANCEL) {
			cancel_done = true;
			continue;
		}
		pending--;
		/* -EINTR: an io-wq worker's blocking read, on kernels without FMODE_NOWAIT. */
		if (res == -ECANCELED || res == -EINTR)
			continue;
		if (srv_handle(s, ud - UD_READ, res, false))
			return;
	}
}

static void *srv_fn(void *arg)
{
	struct srv *s = arg;
	struct iovec reg = { .iov_base = s->bufs, .iov_len = NR_SLOTS * SLOT_LEN };
	struct io_uring_cqe *cqe;
	int i, ret, res;
	__u64 ud;

	/* The server is the ring's submitter (SINGLE_ISSUER, DEFER_TASKRUN). */
	ret = iou_enable_rings(s->ring);
	if (ret) {
		srv_fail(s, "enabling the ring: %s", strerror(-ret));
		goto out;
	}
	if (s->kind == KIND_READ_FIXED) {
		ret = iou_register_buffers(s->ring, &reg, 1);
		if (ret) {
			srv_fail(s, "IORING_REGISTER_BUFFERS: %s", strerror(-ret));
			goto out;
		}
	}
	for (i = 0; i < NR_SLOTS; i++)
		if (srv_queue(s, i))
			goto out;
	ret = iou_submit(s->ring);
	if (ret != NR_SLOTS) {
		srv_fail(s, "submitting the reads: %s", ret < 0 ? strerror(-ret) : "short");
		goto out;
	}
	__atomic_store_n(&s->ready, 1, __ATOMIC_RELEASE);

	while (!__atomic_load_n(&s->stop, __ATOMIC_ACQUIRE)) {
		ret = iou_wait_cqe(s->ring, &cqe, 10);
		if (ret == -ETIME)
			continue;
		if (ret) {
			srv_fail(s, "waiting for a CQE: %s", strerror(-ret));
			goto out;
		}
		ud = cqe->user_data;
		res = cqe->res;
		iou_cqe_seen(s->ring);
		if (ud < UD_READ || ud >= UD_READ + NR_SLOTS) {
			srv_fail(s, "CQE with user_data %#llx", (unsigned long long)ud);
			goto out;
		}
		if (srv_handle(s, ud - UD_READ, res, true))
			goto out;
	}
	srv_drain(s);
out:
	__atomic_store_n(&s->finished, 1, __ATOMIC_RELEASE);
	return NULL;
}

/* The client: stat(2)s, open(2), pread(2)s and close(2). */
static void client_script(void *arg)
{
	struct srv_client *c = arg;
	char path[64], missing[64];
	struct stat sb;
	unsigned int i;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", c->dir, FILE_NAME);
	snprintf(missing, sizeof(missing), "%s/%s", c->dir, NAME);
	c->stat_err = stat(path, &c->sb) ? errno : 0;
	c->miss_err = stat(missing, &sb) ? errno : 0;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	c->open_err = fd < 0 ? errno : 0;
	for (i = 0; i < NR_PREADS; i++) {
		c->n[i] = fd < 0 ? -1 : pread(fd, c->data[i], preads[i].len, preads[i].off);
		c->err[i] = fd < 0 ? EBADF : c->n[i] < 0 ? errno : 0;
	}
	c->close_err = fd >= 0 && close(fd) ? errno : 0;
	errno = 0;
}

FIXTURE(srv) {
	struct fuse_mnt m;
	struct iou_ring ring;
	struct srv *s;
	char *bufs;		/* NR_SLOTS * SLOT_LEN */
	struct srv_client *res;
	struct fuse_call client;
	bool inl;
};

#define INL_VARIANTS_OF srv
#include "ring_variants.h"

FIXTURE_SETUP(srv)
{
	unsigned int flags;
	const char *why;
	int ret;

	fuse_mnt_init(&self->m);
	fuse_call_init(&self->client);
	self->ring.fd = -1;
	self->s = NULL;
	self->res = NULL;
	self->bufs = MAP_FAILED;
	self->inl = variant->inline_read;
	if (self->inl && !inline_read_supported())
		SKIP(return, "kernel lacks IORING_FEAT_INLINE_READ");
	why = fuse_dev_open(&self->m);
	if (why)
		SKIP(return, "%s", why);
	ASSERT_EQ(0, watchdog_init());

	self->bufs = mmap(NULL, NR_SLOTS * SLOT_LEN, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, self->bufs);
	self->s = calloc(1, sizeof(*self->s));
	ASSERT_NE(NULL, self->s);
	self->res = calloc(1, sizeof(*self->res));
	ASSERT_NE(NULL, self->res);

	/* Disabled: the server thread enables it and becomes its submitter. */
	flags = variant->setup_flags | IORING_SETUP_R_DISABLED |
		(self->inl ? IORING_SETUP_INLINE_READ : 0);
	ret = iou_setup(&self->ring, RING_ENTRIES, flags);
	ASSERT_EQ(0, ret) TH_LOG("io_uring_setup(%#x): %s", flags, strerror(-ret));
	if (!(self->ring.features & IORING_FEAT_EXT_ARG))
		SKIP(return, "no IORING_FEAT_EXT_ARG: waits cannot be bounded");

	fuse_mount(_metadata, &self->m, self->bufs, SLOT_LEN, MAX_WRITE, 0);
}

/* Stop the server and join it within COMPLETE_MS. Returns whether it ended. */
static bool srv_stop(struct _test_data_srv *self)
{
	struct timespec ts;

	if (!self->s || !self->s->running)
		return true;
	__atomic_store_n(&self->s->stop, 1, __ATOMIC_RELEASE);
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += COMPLETE_MS / 1000 + 1;
	if (pthread_timedjoin_np(self->s->thr, NULL, &ts))
		return false;
	self->s->running = false;
	return true;
}

FIXTURE_TEARDOWN(srv)
{
	/* A server that does not end is left to the exit, with what it uses. */
	if (!srv_stop(self))
		return;
	iou_exit(&self->ring);
	fuse_unmount(&self->m);
	if (!fuse_call_reap(&self->client, CLOSE_MS))
		return;
	fuse_rmdir(&self->m);
	free(self->s);
	free(self->res);
	if (self->bufs != MAP_FAILED)
		munmap(self->bufs, NR_SLOTS * SLOT_LEN);
}

static void srv_start(struct __test_metadata *_metadata, struct _test_data_srv *self,
		      enum read_kind kind)
{
	__s64 deadline = iou_now_ns() + COMPLETE_MS * 1000000LL;
	struct srv *s = self->s;
	sigset_t all, old;
	int i, ret;

	s->ring = &self->ring;
	s->fd = self->m.fd;
	s->kind = kind;
	s->bufs = self->bufs;
	for (i = 0; i < NR_SLOTS; i++)
		make_plan(&s->pl[i], kind, self->bufs + i * SLOT_LEN);
	s->client = &self->client;

	/* The server takes no signal: the watchdog's SIGALRM is for this thread. */
	sigfillset(&all);
	ASSERT_EQ(0, pthread_sigmask(SIG_BLOCK, &all, &old));
	ret = pthread_create(&s->thr, NULL, srv_fn, s);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	ASSERT_EQ(0, ret) TH_LOG("pthread_create: %s", strerror(ret));
	s->running = true;

	while (!__atomic_load_n(&s->ready, __ATOMIC_ACQUIRE) &&
	       !__atomic_load_n(&s->finished, __ATOMIC_ACQUIRE)) {
		ASSERT_LT(iou_now_ns(), deadline) TH_LOG("the server did not start");
		iou_sleep_us(1000);
	}
	ASSERT_STREQ("", s->why);
	ASSERT_TRUE(__atomic_load_n(&s->ready, __ATOMIC_ACQUIRE));
}

/* What the client got: every answer, to the byte. */
static void check_client(struct __test_metadata *_metadata, struct srv_client *c)
{
	char want[PREAD_MAX];
	unsigned int i;
	ssize_t n;
	size_t j;

	ASSERT_EQ(0, c->stat_err) TH_LOG("stat(2) of %s: %s", FILE_NAME, strerror(c->stat_err));
	ASSERT_EQ((mode_t)(S_IFREG | 0444), c->sb.st_mode);
	ASSERT_EQ(FILE_SIZE, c->sb.st_size);
	ASSERT_EQ(FILE_INO, (unsigned long long)c->sb.st_ino);
	ASSERT_EQ(1ULL, (unsigned long long)c->sb.st_nlink);
	ASSERT_EQ(ENOENT, c->miss_err) TH_LOG("stat(2) of %s: %s", NAME, strerror(c->miss_err));
	ASSERT_EQ(0, c->open_err) TH_LOG("open(2): %s", strerror(c->open_err));
	for (i = 0; i < NR_PREADS; i++) {
		n = preads[i].off < FILE_SIZE ? FILE_SIZE - preads[i].off : 0;
		if (n > (ssize_t)preads[i].len)
			n = preads[i].len;
		ASSERT_EQ(n, c->n[i]) TH_LOG("pread(2) of %zu bytes at %lld: %s", preads[i].len,
					     (long long)preads[i].off, strerror(c->err[i]));
		memset(want, FILL, sizeof(want));
		for (j = 0; j < (size_t)n; j++)
			want[j] = file_byte(preads[i].off + j);
		check_bytes(_metadata, c->data[i], want, PREAD_MAX);
	}
	ASSERT_EQ(0, c->close_err) TH_LOG("close(2): %s", strerror(c->close_err));
}

static void srv_run(struct __test_metadata *_metadata, struct _test_data_srv *self,
		    enum read_kind kind)
{
	__s64 deadline;
	struct inl_counters c0, c1;
	struct srv *s = self->s;
	unsigned int nsync;
	bool ok;

	if (kind == KIND_READ_FIXED && !fuse_dev_nowait())
		SKIP(return, "%s", NO_FIXED);
	srv_start(_metadata, self, kind);
	get_counters(_metadata, self->ring.fd, self->inl, &c0);
	if (self->inl)
		ASSERT_EQ((uint64_t)NR_SLOTS, c0.armed) TH_LOG("the reads did not arm inline");

	snprintf(self->res->dir, sizeof(self->res->dir), "%s", self->m.mnt);
	memset(self->res->data, FILL, sizeof(self->res->data));
	fuse_call_prep(_metadata, &self->client, FUSE_CALL_FN);
	self->client.fn = client_script;
	self->client.arg = self->res;
	fuse_call_start(_metadata, &self->client);
	ok = fuse_call_reap(&self->client, CLIENT_MS);
	ASSERT_TRUE(ok) TH_LOG("the client is stuck; the server says: %s",
			       s->why[0] ? s->why : "nothing");

	/* The close's FUSE_RELEASE is a background request: it comes after close(2). */
	deadline = iou_now_ns() + COMPLETE_MS * 1000000LL;
	while (!srv_ops(s, FUSE_RELEASE) && !__atomic_load_n(&s->finished, __ATOMIC_ACQUIRE) &&
	       iou_now_ns() < deadline)
		iou_sleep_us(1000);

	ok = srv_stop(self);
	ASSERT_TRUE(ok) TH_LOG("the server did not stop");
	ASSERT_STREQ("", s->why);
	check_client(_metadata, self->res);

	TH_LOG("requests: %u LOOKUP, %u GETATTR, %u OPEN, %u READ, %u FLUSH, %u RELEASE, %u other",
	       s->ops[FUSE_LOOKUP], s->ops[FUSE_GETATTR], s->ops[FUSE_OPEN], s->ops[FUSE_READ],
	       s->ops[FUSE_FLUSH], s->ops[FUSE_RELEASE], s->other_ops);
	/* Entries time out at once: every stat(2) and the open(2) look the name up. */
	ASSERT_LE(2U, s->ops[FUSE_LOOKUP]);
	ASSERT_EQ(1U, s->ops[FUSE_OPEN]);
	ASSERT_EQ(NR_PREADS, s->ops[FUSE_READ]);
	ASSERT_EQ(1U, s->ops[FUSE_FLUSH]);
	ASSERT_EQ(1U, s->ops[FUSE_RELEASE]);

	/* The server cancelled its reads: nothing is pending. */
	wait_pinned(_metadata, self->ring.fd, self->inl, 0);
	get_counters(_metadata, self->ring.fd, self->inl, &c1);
	if (!self->inl)
		return;
	/* Every synchronous request the client made found a read pending. */
	nsync = 2 + 1 + NR_PREADS + 1;
	ASSERT_LE(c0.completed + nsync, c1.completed)
		TH_LOG("%llu requests completed inline, the client made at least %u",
		       (unsigned long long)(c1.completed - c0.completed), nsync);
	/* A pending read takes FUSE_RELEASE through the stock path. */
	ASSERT_LE(c0.fallback + 1, c1.fallback) TH_LOG("FUSE_RELEASE did not take the stock path");
	check_balance(_metadata, &fresh_ring, &c1);
}

TEST_F_TIMEOUT(srv, read, 60)
{
	srv_run(_metadata, self, KIND_READ);
}

/* The header split between two iovecs. */
TEST_F_TIMEOUT(srv, readv, 60)
{
	srv_run(_metadata, self, KIND_READV);
}

/* Into a registered buffer, at an offset. */
TEST_F_TIMEOUT(srv, read_fixed, 60)
{
	srv_run(_metadata, self, KIND_READ_FIXED);
}

/*
 * stopped: the proof.
 *
 * The parent mounts the file system (and answers FUSE_INIT), then forks the
 * daemon, which creates a ring (publishing its parameters and fd in the
 * shared region), arms one read of the inherited /dev/fuse into the shared
 * buffer and stops itself; an SQPOLL ring's SQ thread is the daemon's and
 * stops with it. The parent maps the daemon's ring through pidfd_getfd(2),
 * has a thread stat(2) NAME and watches the ring memory, the buffer and the
 * device; it never enters the ring. On the stock path the read is retried
 * by task_work of the stopped daemon, so nothing may move until it runs.
 * Once continued, the daemon enters its ring (running its task work) until
 * the parent closes a pipe.
 */

/* Written by the daemon, in the shared region: how to reach its ring. */
struct handoff {
	struct io_uring_params p;	/* as io_uring_setup() returned them */
	int ring_fd;			/* the ring's fd in the daemon */
};

FIXTURE(stopped) {
	struct fuse_mnt m;
	struct iou_ring ring;	/* the daemon's ring, mapped here too */
	pid_t child;
	int pidfd;
	int pipe_w;		/* closing it tells the continued daemon to exit */
	size_t page;
	char *region;		/* MAP_SHARED: the handoff page, then the buffer */
	struct handoff *h;
	char *buf;		/* SLOT_LEN bytes, FILL */
	char *req;		/* SLOT_LEN: what the read wrote, gathered */
	struct read_plan pl;
	struct fuse_call st;
	unsigned int flags;	/* IORING_SETUP_* of the daemon's ring */
	bool inl;
	bool defer;
};

#define INL_VARIANTS_OF stopped
#include "ring_variants.h"

FIXTURE_SETUP(stopped)
{
	const char *why;

	fuse_mnt_init(&self->m);
	fuse_call_init(&self->st);
	self->ring.fd = -1;
	self->child = -1;
	self->pidfd = -1;
	self->pipe_w = -1;
	self->region = MAP_FAILED;
	self->req = NULL;
	self->inl = variant->inline_read;
	self->defer = variant->setup_flags & IORING_SETUP_DEFER_TASKRUN;
	self->flags = variant->setup_flags | (self->inl ? IORING_SETUP_INLINE_READ : 0);

	if (self->inl && !inline_read_supported())
		SKIP(return, "kernel lacks IORING_FEAT_INLINE_READ");
	why = fuse_dev_open(&self->m);
	if (why)
		SKIP(return, "%s", why);
	ASSERT_EQ(0, watchdog_init());

	self->page = sysconf(_SC_PAGESIZE);
	self->region = mmap(NULL, self->page + SLOT_LEN, PROT_READ | PROT_WRITE,
			    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, self->region);
	self->h = (struct handoff *)self->region;
	self->buf = self->region + self->page;
	self->req = malloc(SLOT_LEN);
	ASSERT_NE(NULL, self->req);

	fuse_mount(_metadata, &self->m, self->buf, SLOT_LEN, MAX_WRITE, 0);
	memset(self->buf, FILL, SLOT_LEN);
}

FIXTURE_TEARDOWN(stopped)
{
	kill_child(&self->child);
	if (self->pipe_w >= 0)
		close(self->pipe_w);
	iou_exit(&self->ring);
	if (self->pidfd >= 0)
		close(self->pidfd);
	fuse_unmount(&self->m);
	if (!fuse_call_reap(&self->st, CLOSE_MS))
		return;
	fuse_rmdir(&self->m);
	if (self->region != MAP_FAILED)
		munmap(self->region, self->page + SLOT_LEN);
	free(self->req);
}

/*
 * The daemon: create the ring, arm the read, stop, and once continued enter
 * the ring (running task_work and DEFER_TASKRUN local work) until @pipe_r
 * reports the parent's end closed.
 */
static __noreturn void stopped_daemon(struct _test_data_stopped *self, int pipe_r)
{
	struct iovec reg = { .iov_base = self->buf, .iov_len = SLOT_LEN };
	struct pollfd pfd = { .fd = pipe_r, .events = POLLIN };
	struct io_uring_params p;
	struct io_uring_sqe *sqe;
	struct iou_ring ring;
	__s64 deadline;
	int ret;

	if (prctl(PR_SET_PDEATHSIG, SIGKILL))
		_exit(CHILD_SETUP);
	memset(&p, 0, sizeof(p));
	p.flags = self->flags;
	if (iou_setup_params(&ring, RING_ENTRIES, &p))
		_exit(CHILD_SETUP);
	self->h->p = p;
	self->h->ring_fd = ring.fd;
	if (self->pl.kind == KIND_READ_FIXED && iou_register_buffers(&ring, &reg, 1))
		_exit(CHILD_SETUP);

	sqe = iou_get_sqe(&ring);
	if (!sqe)
		_exit(CHILD_SUBMIT);
	prep_plan(sqe, self->m.fd, &self->pl, 0, UD_READ);
	/* On return the read has been issued and found no request. */
	if (iou_submit(&ring) != 1)
		_exit(CHILD_SUBMIT);
	if (iou_cq_ready(&ring))
		_exit(CHILD_EARLY_CQE);

	raise(SIGSTOP);

	deadline = iou_now_ns() + DAEMON_MS * 1000000LL;
	for (;;) {
		ret = iou_get_events(&ring);
		if (ret < 0 && ret != -EINTR)
			_exit(CHILD_ENTER);
		ret = poll(&pfd, 1, 10);
		if (ret > 0 || (ret < 0 && errno != EINTR))
			break;
		if (iou_now_ns() > deadline)
			_exit(CHILD_TIMEOUT);
	}
	_exit(CHILD_OK);
}

/* Fork the daemon reading by @kind, wait until it has stopped and map its ring. */
static void start_daemon(struct __test_metadata *_metadata, struct _test_data_stopped *self,
			 enum read_kind kind)
{
	int pfd[2], status, ret;

	make_plan(&self->pl, kind, self->buf);
	ASSERT_EQ(0, pipe2(pfd, O_CLOEXEC));
	self->pipe_w = pfd[1];
	self->h->ring_fd = -1;
	self->child = fork();
	ASSERT_NE(-1, self->child) TH_LOG("fork: %s", strerror(errno));
	if (!self->child) {
		close(pfd[1]);
		fuse_guard_drop(&self->m);
		stopped_daemon(self, pfd[0]);
	}
	close(pfd[0]);

	ret = wait_child(self->child, &status, WUNTRACED, COMPLETE_MS);
	ASSERT_EQ(0, ret) TH_LOG("the daemon did not stop within %d ms", COMPLETE_MS);
	if (!WIFSTOPPED(status))
		self->child = -1;
	ASSERT_TRUE(WIFSTOPPED(status)) TH_LOG("the daemon ended early: %s",
					       WIFEXITED(status) ?
					       child_error(WEXITSTATUS(status)) : "signal");
	ASSERT_EQ('T', proc_state(self->child));

	self->pidfd = map_ring_of(_metadata, self->child, self->h->ring_fd, &self->h->p,
				  &self->ring);
}

/* The buffer holds the LOOKUP of NAME by the stat(2) thread, and nothing else: its unique. */
static __u64 check_buf_lookup(struct __test_metadata *_metadata, struct _test_data_stopped *self)
{
	long bad;

	memset(self->req, FILL, SLOT_LEN);
	bad = plan_gather(&self->pl, LOOKUP_LEN, self->req);
	ASSERT_EQ(-1, bad) TH_LOG("byte %ld of the buffer written, outside the LOOKUP", bad);
	return fuse_check_lookup(_metadata, self->req, LOOKUP_LEN, SLOT_LEN, NAME,
				 fuse_call_tid(&self->st), (char)FILL);
}

/*
 * Wait up to @ms for a whole LOOKUP of NAME in the buffer: the length in
 * its header and the NUL that ends it, the last byte copied.
 */
static bool wait_buf_lookup(struct _test_data_stopped *self, unsigned int ms)
{
	__s64 deadline = iou_now_ns() + ms * 1000000LL;
	struct fuse_in_header h;

	for (;;) {
		plan_gather(&self->pl, LOOKUP_LEN, self->req);
		memcpy(&h, self->req, sizeof(h));
		if (h.len == LOOKUP_LEN && !self->req[LOOKUP_LEN - 1])
			return true;
		if (iou_now_ns() > deadline)
			return false;
		iou_sleep_us(1000);
	}
}

/* Without entering the kernel: wait for the CQE of the read, and check it. */
static void wait_read_cqe(struct __test_metadata *_metadata, struct _test_data_stopped *self,
			  const char *when)
{
	struct io_uring_cqe *cqe;
	int ret;

	ret = iou_poll_cqe(&self->ring, &cqe, COMPLETE_MS);
	ASSERT_EQ(0, ret) TH_LOG("no CQE %s within %d ms", when, COMPLETE_MS);
	ASSERT_EQ(UD_READ, cqe->user_data);
	ASSERT_EQ(LOOKUP_LEN, cqe->res) TH_LOG("read res %d", cqe->res);
	ASSERT_EQ(1U, iou_cq_ready(&self->ring));
}

static void stopped_proof(struct __test_metadata *_metadata, struct _test_data_stopped *self,
			  enum read_kind kind)
{
	struct inl_counters c0, c1;
	char path[64];
	__u64 unique;

	if (kind == KIND_READ_FIXED && !fuse_dev_nowait())
		SKIP(return, "%s", NO_FIXED);
	start_daemon(_metadata, self, kind);
	/* Armed: no CQE, nothing in the buffer, no request queued. */
	ASSERT_EQ(0U, iou_cq_ready(&self->ring));
	check_fill(_metadata, self->buf, SLOT_LEN);
	assert_idle(_metadata, self->m.fd);
	get_counters(_metadata, self->ring.fd, self->inl, &c0);
	/* InlineReadArmed counts a read when it starts to wait inline. */
	if (self->inl)
		ASSERT_EQ(1ULL, (unsigned long long)c0.armed) TH_LOG("the read did not arm inline");

	/* The daemon is stopped: from here on only the requester can complete the read. */
	snprintf(path, sizeof(path), "%s/%s", self->m.mnt, NAME);
	fuse_stat_start(_metadata, &self->st, path, 0);

	if (self->inl && !self->defer) {
		/* The stat(2) thread copied its LOOKUP and posted the CQE... */
		wait_read_cqe(_metadata, self, "while the daemon is stopped");
	} else if (self->inl) {
		/* ...or, on DEFER_TASKRUN rings, copied it and left the CQE to the daemon. */
		ASSERT_TRUE(wait_buf_lookup(self, COMPLETE_MS))
			TH_LOG("the LOOKUP did not reach the stopped daemon's buffer");
		assert_no_cqe_mem(_metadata, &self->ring, STOPPED_MS);
	} else {
		/* Stock: the LOOKUP waits on the device for the daemon to run. */
		wait_queued(_metadata, self->m.fd);
		assert_no_cqe_mem(_metadata, &self->ring, STOPPED_MS);
		check_fill(_metadata, self->buf, SLOT_LEN);
		ASSERT_FALSE(fuse_call_done(&self->st)) TH_LOG("stat(2) returned unanswered");
		ASSERT_EQ('T', proc_state(self->child));
		ASSERT_EQ(0, kill(self->child, SIGCONT));
		wait_read_cqe(_metadata, self, "after SIGCONT");
	}
	unique = check_buf_lookup(_metadata, self);
	ASSERT_FALSE(fuse_call_done(&self->st)) TH_LOG("stat(2) returned unanswered");
	if (self->inl)
		ASSERT_EQ('T', proc_state(self->child)) TH_LOG("the daemon ran");

	/* The parent answers from the daemon's buffer: the stat(2) gets the answer. */
	reply_err(_metadata, self->m.fd, unique, ENOENT);
	fuse_finish_call(_metadata, self->m.fd, &self->st, ENOENT);
	if (self->inl) {
		ASSERT_EQ('T', proc_state(self->child)) TH_LOG("the daemon ran");
		/*
		 * The requester is done. On DEFER_TASKRUN rings
		 * InlineReadCompleted counts the read when the requester took
		 * the request, not when the daemon posts the CQE.
		 */
		get_counters(_metadata, self->ring.fd, true, &c1);
		ASSERT_EQ((unsigned long long)c0.completed + 1, (unsigned long long)c1.completed)
			TH_LOG("InlineReadCompleted did not move");
		if (self->defer)
			assert_no_cqe_mem(_metadata, &self->ring, PENDING_MS);
		ASSERT_EQ(0, kill(self->child, SIGCONT));
		if (self->defer)
			wait_read_cqe(_metadata, self, "after SIGCONT");
	}

	/* Let the daemon go. */
	close(self->pipe_w);
	self->pipe_w = -1;
	join_child(_metadata, &self->child, COMPLETE_MS);
	ASSERT_EQ(1U, iou_cq_ready(&self->ring));
	assert_idle(_metadata, self->m.fd);

	wait_pinned(_metadata, self->ring.fd, self->inl, 0);
	get_counters(_metadata, self->ring.fd, self->inl, &c1);
	if (self->inl) {
		ASSERT_EQ(1ULL, (unsigned long long)c1.completed);
		ASSERT_EQ(0ULL, (unsigned long long)c1.fallback);
		check_balance(_metadata, &fresh_ring, &c1);
	}
}

TEST_F_TIMEOUT(stopped, read, 30)
{
	stopped_proof(_metadata, self, KIND_READ);
}

/* The request header split between two iovecs. */
TEST_F_TIMEOUT(stopped, readv, 30)
{
	stopped_proof(_metadata, self, KIND_READV);
}

/* Into a registered buffer, at an offset. */
TEST_F_TIMEOUT(stopped, read_fixed, 30)
{
	stopped_proof(_metadata, self, KIND_READ_FIXED);
}

/*
 * edge: the test thread is the daemon (the ring's submitter); its client is a
 * helper thread.
 */

FIXTURE(edge) {
	struct fuse_mnt m;
	struct iou_ring ring;
	char *buf;		/* MAP_SHARED: NR_SLOTS slots of SLOT_LEN, FILL */
	char *req;		/* SLOT_LEN: for read(2)s of the device, FILL */
	struct fuse_call call;
	struct fuse_call call2;	/* a second client */
	pid_t child;
	unsigned int flags;	/* IORING_SETUP_* of the ring */
	bool inl;
	bool defer;
};

#define INL_VARIANTS_OF edge
#define INL_VARIANTS_PLAIN_DEFER
#include "ring_variants.h"

FIXTURE_SETUP(edge)
{
	const char *why;
	int ret;

	fuse_mnt_init(&self->m);
	fuse_call_init(&self->call);
	fuse_call_init(&self->call2);
	self->ring.fd = -1;
	self->child = -1;
	self->buf = MAP_FAILED;
	self->req = NULL;
	self->inl = variant->inline_read;
	self->defer = variant->setup_flags & IORING_SETUP_DEFER_TASKRUN;
	self->flags = variant->setup_flags | (self->inl ? IORING_SETUP_INLINE_READ : 0);
	if (self->inl && !inline_read_supported())
		SKIP(return, "kernel lacks IORING_FEAT_INLINE_READ");
	why = fuse_dev_open(&self->m);
	if (why)
		SKIP(return, "%s", why);
	ASSERT_EQ(0, watchdog_init());

	self->buf = mmap(NULL, NR_SLOTS * SLOT_LEN, PROT_READ | PROT_WRITE,
			 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, self->buf);
	self->req = malloc(SLOT_LEN);
	ASSERT_NE(NULL, self->req);
	ret = iou_setup(&self->ring, RING_ENTRIES, self->flags);
	ASSERT_EQ(0, ret) TH_LOG("io_uring_setup(%#x): %s", self->flags, strerror(-ret));
	if (!(self->ring.features & IORING_FEAT_EXT_ARG))
		SKIP(return, "no IORING_FEAT_EXT_ARG: waits cannot be bounded");

	fuse_mount(_metadata, &self->m, self->buf, SLOT_LEN, MAX_WRITE, 0);
	memset(self->buf, FILL, NR_SLOTS * SLOT_LEN);
}

FIXTURE_TEARDOWN(edge)
{
	watchdog(0);
	kill_child(&self->child);
	/* First the ring: a pending read holds a reference to the device. */
	iou_exit(&self->ring);
	fuse_unmount(&self->m);
	if (!fuse_call_reap(&self->call, CLOSE_MS) || !fuse_call_reap(&self->call2, CLOSE_MS))
		return;
	if (self->call.fd >= 0)
		close(self->call.fd);
	fuse_rmdir(&self->m);
	if (self->buf != MAP_FAILED)
		munmap(self->buf, NR_SLOTS * SLOT_LEN);
	free(self->req);
}

static char *slot_buf(struct _test_data_edge *self, int slot)
{
	return self->buf + slot * SLOT_LEN;
}

static void counters(struct __test_metadata *_metadata, struct _test_data_edge *self,
		     struct inl_counters *c)
{
	get_counters(_metadata, self->ring.fd, self->inl, c);
}

/* Queue (not submit) a READ of @len bytes of the device into @slot. */
static void queue_read(struct __test_metadata *_metadata, struct _test_data_edge *self,
		       int slot, __u32 len)
{
	iou_prep_read(get_sqe(_metadata, &self->ring), self->m.fd, slot_buf(self, slot), len,
		      IOU_POS_CUR, UD_READ + slot);
}

/* One READ of SLOT_LEN bytes into @slot, pending. */
static void arm_read(struct __test_metadata *_metadata, struct _test_data_edge *self, int slot)
{
	queue_read(_metadata, self, slot, SLOT_LEN);
	submit_n(_metadata, &self->ring, 1);
	assert_no_cqe(_metadata, &self->ring);
}

/* The next CQE is the read of @slot's: its result. */
static int reap_read(struct __test_metadata *_metadata, struct _test_data_edge *self, int slot)
{
	struct io_uring_cqe cqe;

	reap_cqe(_metadata, &self->ring, &cqe);
	ASSERT_EQ(UD_READ + slot, cqe.user_data) TH_LOG("CQE res %d", cqe.res);
	return cqe.res;
}

/* Start a helper thread that stat(2)s "<mount>/NAME". */
static void start_stat(struct __test_metadata *_metadata, struct _test_data_edge *self)
{
	char path[64];

	snprintf(path, sizeof(path), "%s/%s", self->m.mnt, NAME);
	fuse_stat_start(_metadata, &self->call, path, 0);
}

/* The helper's LOOKUP is (or is about to be) queued on the device: read(2) it. Its unique. */
static __u64 read_lookup(struct __test_metadata *_metadata, struct _test_data_edge *self)
{
	ssize_t n;
	int err;

	wait_queued(_metadata, self->m.fd);
	memset(self->req, FILL, SLOT_LEN);
	n = fuse_dev_read(self->m.fd, self->req, SLOT_LEN, &err);
	ASSERT_EQ(LOOKUP_LEN, n) TH_LOG("read(2) of the device: %zd (%s)%s", n,
					n < 0 ? strerror(err) : "not the LOOKUP", wd_note());
	return fuse_check_lookup(_metadata, self->req, n, SLOT_LEN, NAME,
				 fuse_call_tid(&self->call), (char)FILL);
}

/*
 * Nothing consumes requests any more: a stat(2) of NAME now leaves its
 * LOOKUP queued on the device, for a read(2) that answers it.
 */
static void lookup_by_read(struct __test_metadata *_metadata, struct _test_data_edge *self)
{
	__u64 unique;

	start_stat(_metadata, self);
	unique = read_lookup(_metadata, self);
	reply_err(_metadata, self->m.fd, unique, ENOENT);
	fuse_finish_call(_metadata, self->m.fd, &self->call, ENOENT);
}

/* A stat(2) of NAME whose LOOKUP completes the read of @slot, answered from there. */
static void lookup_by_ring(struct __test_metadata *_metadata, struct _test_data_edge *self,
			   int slot)
{
	__u64 unique;
	int res;

	start_stat(_metadata, self);
	res = reap_read(_metadata, self, slot);
	ASSERT_EQ(LOOKUP_LEN, res) TH_LOG("read: %d (%s)", res, strerror(res < 0 ? -res : 0));
	unique = fuse_check_lookup(_metadata, slot_buf(self, slot), res, SLOT_LEN, NAME,
				   fuse_call_tid(&self->call), (char)FILL);
	reply_err(_metadata, self->m.fd, unique, ENOENT);
	fuse_finish_call(_metadata, self->m.fd, &self->call, ENOENT);
}

/*
 * Wait up to COMPLETE_MS for the helper's call to return, entering the ring
 * meanwhile (a stock read is retried by the daemon's task_work, local work
 * on DEFER_TASKRUN rings) and checking that no CQE appears.
 */
static void pump_until_done(struct __test_metadata *_metadata, struct _test_data_edge *self)
{
	__s64 deadline = iou_now_ns() + COMPLETE_MS * 1000000LL;

	while (!fuse_call_done(&self->call)) {
		ASSERT_LT(iou_now_ns(), deadline) TH_LOG("the call did not return");
		assert_no_cqe_for(_metadata, &self->ring, 10);
	}
	ASSERT_TRUE(fuse_call_reap(&self->call, 0));
}

/*
 * Two reads pending, cancelled (by user_data, or all on the device's fd):
 * they end with -ECANCELED, having read nothing, and leave no waiter behind:
 * a LOOKUP sent afterwards stays queued on the device.
 */
static void cancel_reads(struct __test_metadata *_metadata, struct _test_data_edge *self,
			 bool by_fd)
{
	struct io_uring_cqe cqes[4];
	struct inl_counters c0, c1;
	int n;

	counters(_metadata, self, &c0);
	queue_read(_metadata, self, 0, SLOT_LEN);
	queue_read(_metadata, self, 1, SLOT_LEN);
	submit_n(_metadata, &self->ring, 2);
	assert_no_cqe(_metadata, &self->ring);

	if (by_fd) {
		iou_prep_cancel_fd(get_sqe(_metadata, &self->ring), self->m.fd,
				   IORING_ASYNC_CANCEL_ALL, UD_CANCEL);
		submit_n(_metadata, &self->ring, 1);
		n = 3;
	} else {
		iou_prep_cancel(get_sqe(_metadata, &self->ring), UD_READ, 0, UD_CANCEL);
		iou_prep_cancel(get_sqe(_metadata, &self->ring), UD_READ + 1, 0, UD_CANCEL + 1);
		submit_n(_metadata, &self->ring, 2);
		n = 4;
	}
	reap_n(_metadata, &self->ring, cqes, n);
	ASSERT_EQ(-ECANCELED, cqe_res(_metadata, cqes, n, UD_READ));
	ASSERT_EQ(-ECANCELED, cqe_res(_metadata, cqes, n, UD_READ + 1));
	if (by_fd) {
		ASSERT_EQ(2, cqe_res(_metadata, cqes, n, UD_CANCEL));
	} else {
		ASSERT_EQ(0, cqe_res(_metadata, cqes, n, UD_CANCEL));
		ASSERT_EQ(0, cqe_res(_metadata, cqes, n, UD_CANCEL + 1));
	}
	check_fill(_metadata, self->buf, NR_SLOTS * SLOT_LEN);
	assert_no_cqe(_metadata, &self->ring);
	if (self->inl) {
		wait_pinned(_metadata, self->ring.fd, true, c0.pinned);
		counters(_metadata, self, &c1);
		ASSERT_EQ(c0.armed + 2, c1.armed);
		ASSERT_EQ(c0.cancelled + 2, c1.cancelled);
		ASSERT_EQ(c0.completed, c1.completed);
		check_balance(_metadata, &c0, &c1);
	}

	lookup_by_read(_metadata, self);
	check_fill(_metadata, self->buf, NR_SLOTS * SLOT_LEN);
	assert_no_cqe(_metadata, &self->ring);
}

TEST_F_TIMEOUT(edge, cancel_user_data, 30)
{
	cancel_reads(_metadata, self, false);
}

TEST_F_TIMEOUT(edge, cancel_all_fd, 30)
{
	cancel_reads(_metadata, self, true);
}

/*
 * A request larger than the pending read's buffer (a SETXATTR whose value
 * alone is twice MIN_READ, for a read of MIN_READ bytes) fails for its
 * sender with E2BIG and does not complete the read: the next request does.
 */
TEST_F_TIMEOUT(edge, too_large, 30)
{
	struct inl_counters c0, c1;
	char *value;

	/* Once the request too large is gone, the retried read would block the daemon. */
	if (!fuse_dev_nowait())
		SKIP(return, "%s", NO_NOWAIT "the stock path's read blocks its task_work");
	value = malloc(XATTR_LEN);
	ASSERT_NE(NULL, value);
	memset(value, 'x', XATTR_LEN);
	queue_read(_metadata, self, 0, MIN_READ);
	submit_n(_metadata, &self->ring, 1);
	assert_no_cqe(_metadata, &self->ring);
	counters(_metadata, self, &c0);

	fuse_call_prep(_metadata, &self->call, FUSE_CALL_SETXATTR);
	snprintf(self->call.path, sizeof(self->call.path), "%s", self->m.mnt);
	self->call.xname = XATTR_NAME;
	self->call.xvalue = value;
	self->call.xsize = XATTR_LEN;
	fuse_call_start(_metadata, &self->call);
	pump_until_done(_metadata, self);
	free(value);
	ASSERT_EQ(E2BIG, self->call.err) TH_LOG("setxattr(2): %s", strerror(self->call.err));

	assert_no_cqe(_metadata, &self->ring);
	check_fill(_metadata, self->buf, NR_SLOTS * SLOT_LEN);
	counters(_metadata, self, &c1);
	ASSERT_EQ(c0.completed, c1.completed);

	lookup_by_ring(_metadata, self, 0);
	if (self->inl) {
		wait_pinned(_metadata, self->ring.fd, true, 0);
		counters(_metadata, self, &c1);
		ASSERT_EQ(c0.completed + 1, c1.completed);
		check_balance(_metadata, &fresh_ring, &c1);
	}
}

/* A read of less than MIN_READ bytes fails with -EINVAL at once. */
TEST_F_TIMEOUT(edge, small_buf, 30)
{
	struct inl_counters c1;
	int res;

	if (!fuse_dev_nowait())
		SKIP(return, "%s", NO_NOWAIT "the read waits for a request through poll instead");
	assert_idle(_metadata, self->m.fd);
	queue_read(_metadata, self, 0, SMALL_LEN);
	submit_n(_metadata, &self->ring, 1);
	res = reap_read(_metadata, self, 0);
	ASSERT_EQ(-EINVAL, res) TH_LOG("read of %d bytes: %d", SMALL_LEN, res);
	check_fill(_metadata, self->buf, NR_SLOTS * SLOT_LEN);
	counters(_metadata, self, &c1);
	ASSERT_EQ(0ULL, (unsigned long long)c1.completed);
	check_balance(_metadata, &fresh_ring, &c1);
	lookup_by_read(_metadata, self);
}

/*
 * The abort file of the mount's connection in fusectl, which is mounted in
 * this test's namespace if it is not yet. Returns NULL, or why there is none.
 */
static const char *fusectl_abort(struct _test_data_edge *self, char *path, size_t len)
{
	static const char dir[] = "/sys/fs/fuse/connections";
	static char why[160];
	struct statx stx;

	/* Not stat(2): a GETATTR would wait for an answer. */
	if (statx(AT_FDCWD, self->m.mnt, AT_STATX_DONT_SYNC, 0, &stx)) {
		snprintf(why, sizeof(why), "statx of %s: %s", self->m.mnt, strerror(errno));
		return why;
	}
	/* Named after the connection's dev_t, as the kernel encodes it. */
	snprintf(path, len, "%s/%u/abort", dir, stx.stx_dev_major << 20 | stx.stx_dev_minor);
	if (!access(path, W_OK))
		return NULL;
	if (self->m.own_dir)
		return "fusectl is not mounted, and no private mount namespace to mount it in";
	if (mount("fusectl", dir, "fusectl", 0, NULL)) {
		snprintf(why, sizeof(why), "cannot mount fusectl on %s: %s", dir, strerror(errno));
		return why;
	}
	if (access(path, W_OK)) {
		snprintf(why, sizeof(why), "%s: %s", path, strerror(errno));
		return why;
	}
	return NULL;
}

/* Replace the fixture's mount with one whose FUSE_INIT reply negotiates @flags. */
static void edge_remount(struct __test_metadata *_metadata, struct _test_data_edge *self,
			 __u32 flags)
{
	const char *why;

	fuse_unmount(&self->m);
	fuse_rmdir(&self->m);
	why = fuse_dev_open(&self->m);
	ASSERT_EQ(NULL, why) TH_LOG("%s", why);
	fuse_mount(_metadata, &self->m, self->req, SLOT_LEN, MAX_WRITE, flags);
}

/*
 * Aborting the connection (fusectl) ends a pending read, with -ENODEV, or
 * -ECONNABORTED if the daemon negotiated FUSE_ABORT_ERROR (@flags), through
 * the stock path; a request already read but not answered fails with
 * ECONNABORTED; a read after that fails at once.
 */
static void abort_conn(struct __test_metadata *_metadata, struct _test_data_edge *self,
		       __u32 flags, int want)
{
	struct inl_counters c0, c1;
	char path[96];
	const char *why;
	int fd, res;

	if (flags)
		edge_remount(_metadata, self, flags);
	why = fusectl_abort(self, path, sizeof(path));
	if (why)
		SKIP(return, "%s", why);

	start_stat(_metadata, self);
	read_lookup(_metadata, self);
	arm_read(_metadata, self, 0);
	ASSERT_FALSE(fuse_call_done(&self->call)) TH_LOG("stat(2) returned unanswered");
	counters(_metadata, self, &c0);

	fd = open(path, O_WRONLY | O_CLOEXEC);
	ASSERT_LE(0, fd) TH_LOG("%s: %s", path, strerror(errno));
	ASSERT_EQ(1, write(fd, "1", 1)) TH_LOG("aborting: %s", strerror(errno));
	close(fd);

	res = reap_read(_metadata, self, 0);
	ASSERT_EQ(want, res) TH_LOG("read: %d (%s)", res, strerror(res < 0 ? -res : 0));
	ASSERT_TRUE(fuse_call_reap(&self->call, COMPLETE_MS)) TH_LOG("stat(2) still waits");
	ASSERT_EQ(ECONNABORTED, self->call.err) TH_LOG("stat(2): %s", strerror(self->call.err));
	check_fill(_metadata, self->buf, NR_SLOTS * SLOT_LEN);

	if (self->inl) {
		wait_pinned(_metadata, self->ring.fd, true, 0);
		counters(_metadata, self, &c1);
		ASSERT_EQ(c0.completed, c1.completed);
		/* The abort's wake-up hands the read to the stock path. */
		ASSERT_EQ(c0.fallback + 1, c1.fallback);
		check_balance(_metadata, &fresh_ring, &c1);
	}

	queue_read(_metadata, self, 0, SLOT_LEN);
	submit_n(_metadata, &self->ring, 1);
	res = reap_read(_metadata, self, 0);
	ASSERT_EQ(want, res) TH_LOG("read after the abort: %d", res);
}

TEST_F_TIMEOUT(edge, abort, 30)
{
	abort_conn(_metadata, self, 0, -ENODEV);
}

TEST_F_TIMEOUT(edge, abort_error, 30)
{
	abort_conn(_metadata, self, FUSE_ABORT_ERROR, -ECONNABORTED);
}

/* Unmounting (which aborts the connection) ends a pending read with -ENODEV. */
TEST_F_TIMEOUT(edge, umount, 30)
{
	struct inl_counters c0, c1;
	int ret, res;

	arm_read(_metadata, self, 0);
	counters(_metadata, self, &c0);

	ret = umount2(self->m.mnt, 0);
	if (ret && errno == EBUSY)
		ret = umount2(self->m.mnt, MNT_DETACH);
	ASSERT_EQ(0, ret) TH_LOG("umount %s: %s", self->m.mnt, strerror(errno));
	self->m.mounted = false;

	res = reap_read(_metadata, self, 0);
	ASSERT_EQ(-ENODEV, res) TH_LOG("read: %d (%s)", res, strerror(res < 0 ? -res : 0));
	check_fill(_metadata, self->buf, NR_SLOTS * SLOT_LEN);
	if (self->inl) {
		wait_pinned(_metadata, self->ring.fd, true, 0);
		counters(_metadata, self, &c1);
		ASSERT_EQ(c0.completed, c1.completed);
		/* The abort's wake-up hands the read to the stock path. */
		ASSERT_EQ(c0.fallback + 1, c1.fallback);
		check_balance(_metadata, &fresh_ring, &c1);
	}
}

/*
 * A forked daemon arms a read on a ring of its own and exits (@killed:
 * is killed with SIGKILL): its read is gone with it. A LOOKUP sent
 * afterwards stays queued for the parent, and the dead daemon's buffer
 * (shared) stays untouched.
 */
static void daemon_gone(struct __test_metadata *_metadata, struct _test_data_edge *self,
			bool killed)
{
	struct iou_ring ring;
	int pfd[2], status, ret;
	char c = 0;

	ASSERT_EQ(0, pipe2(pfd, O_CLOEXEC));
	self->child = fork();
	ASSERT_NE(-1, self->child) TH_LOG("fork: %s", strerror(errno));
	if (!self->child) {
		close(pfd[0]);
		fuse_guard_drop(&self->m);
		if (prctl(PR_SET_PDEATHSIG, SIGKILL) || iou_setup(&ring, RING_ENTRIES, self->flags))
			_exit(CHILD_SETUP);
		iou_prep_read(iou_get_sqe(&ring), self->m.fd, slot_buf(self, 0), SLOT_LEN,
			      IOU_POS_CUR, UD_READ);
		if (iou_submit(&ring) != 1)
			_exit(CHILD_SUBMIT);
		if (iou_cq_ready(&ring))
			_exit(CHILD_EARLY_CQE);
		if (!killed)
			_exit(CHILD_OK);
		if (write(pfd[1], "r", 1) != 1)
			_exit(CHILD_SETUP);
		for (;;)
			pause();
	}
	close(pfd[1]);
	if (killed) {
		/* EOF instead: the daemon failed, join_child() says how. */
		watchdog(COMPLETE_MS);
		ret = read(pfd[0], &c, 1);
		watchdog(0);
		if (ret == 1 && c == 'r') {
			ASSERT_EQ(0, kill(self->child, SIGKILL));
			ret = wait_child(self->child, &status, 0, CLOSE_MS);
			ASSERT_EQ(0, ret) TH_LOG("the daemon did not die within %d ms", CLOSE_MS);
			self->child = -1;
			ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
		}
	}
	close(pfd[0]);
	if (self->child > 0)
		join_child(_metadata, &self->child, CLOSE_MS);

	/* Give any survivor of the daemon's ring (task_work, a kworker) time to act. */
	iou_sleep_us(2 * PENDING_MS * 1000);
	lookup_by_read(_metadata, self);
	check_fill(_metadata, self->buf, NR_SLOTS * SLOT_LEN);
}

TEST_F_TIMEOUT(edge, daemon_exit, 30)
{
	daemon_gone(_metadata, self, false);
}

TEST_F_TIMEOUT(edge, daemon_killed, 30)
{
	daemon_gone(_metadata, self, true);
}

/* Closing the ring with a read pending: the read is gone, consuming nothing. */
TEST_F_TIMEOUT(edge, close_ring, 30)
{
	__s64 t0, ms;

	arm_read(_metadata, self, 0);
	t0 = iou_now_ns();
	iou_exit(&self->ring);
	ms = (iou_now_ns() - t0) / 1000000;
	ASSERT_LT(ms, CLOSE_MS) TH_LOG("closing the ring took %lld ms", (long long)ms);

	/* Give any survivor of the ring (task_work, a kworker) time to act. */
	iou_sleep_us(2 * PENDING_MS * 1000);
	lookup_by_read(_metadata, self);
	check_fill(_metadata, self->buf, NR_SLOTS * SLOT_LEN);
}

/*
 * Background requests are queued with a plain wake-up: on an inline ring, a
 * pending read gets FUSE_RELEASE (the last close of a file opened with
 * FOPEN_NOFLUSH, so that no FLUSH comes first) through the stock path, from
 * the daemon's task_work, which runs when it waits for the CQE.
 */
TEST_F_TIMEOUT(edge, background_release, 30)
{
	__s64 deadline = iou_now_ns() + COMPLETE_MS * 1000000LL;
	struct fuse_release_in rel;
	struct inl_counters c0, c1;
	struct fuse_in_header h;
	char why[128] = "";
	ssize_t n;
	int err, res;

	/* Open FILE_NAME, answering its LOOKUP and OPEN with read(2) and write(2). */
	fuse_call_prep(_metadata, &self->call, FUSE_CALL_OPEN);
	snprintf(self->call.path, sizeof(self->call.path), "%s/%s", self->m.mnt, FILE_NAME);
	fuse_call_start(_metadata, &self->call);
	while (!fuse_call_done(&self->call)) {
		struct pollfd pfd = { .fd = self->m.fd, .events = POLLIN };

		ASSERT_LT(iou_now_ns(), deadline) TH_LOG("open(2) did not return");
		if (poll(&pfd, 1, 10) != 1)
			continue;
		n = fuse_dev_read(self->m.fd, self->req, SLOT_LEN, &err);
		ASSERT_LE((ssize_t)sizeof(h), n) TH_LOG("read(2): %s%s", strerror(err), wd_note());
		memcpy(&h, self->req, sizeof(h));
		ASSERT_EQ(0, fs_answer(self->m.fd, &h, self->req + sizeof(h), n - sizeof(h),
				       FOPEN_NOFLUSH, why, sizeof(why))) TH_LOG("%s", why);
	}
	ASSERT_TRUE(fuse_call_reap(&self->call, 0));
	ASSERT_EQ(0, self->call.err) TH_LOG("open(2): %s", strerror(self->call.err));

	arm_read(_metadata, self, 0);
	counters(_metadata, self, &c0);
	ASSERT_EQ(0, close(self->call.fd));
	self->call.fd = -1;

	res = reap_read(_metadata, self, 0);
	ASSERT_EQ(RELEASE_LEN, res) TH_LOG("read: %d (%s)", res, strerror(res < 0 ? -res : 0));
	memcpy(&h, slot_buf(self, 0), sizeof(h));
	memcpy(&rel, slot_buf(self, 0) + sizeof(h), sizeof(rel));
	ASSERT_EQ((__u32)FUSE_RELEASE, h.opcode);
	ASSERT_EQ((__u32)res, h.len);
	ASSERT_EQ(FILE_INO, (unsigned long long)h.nodeid);
	ASSERT_EQ(FILE_FH, (unsigned long long)rel.fh);
	check_fill(_metadata, slot_buf(self, 0) + res, NR_SLOTS * SLOT_LEN - res);
	ASSERT_EQ(0, fuse_reply(self->m.fd, h.unique, 0, NULL, 0));

	if (self->inl) {
		wait_pinned(_metadata, self->ring.fd, true, 0);
		counters(_metadata, self, &c1);
		ASSERT_EQ(c0.completed, c1.completed) TH_LOG("FUSE_RELEASE was completed inline");
		ASSERT_EQ(c0.fallback + 1, c1.fallback) TH_LOG("no fallback to the stock path");
		check_balance(_metadata, &fresh_ring, &c1);
	}
}

/*
 * INTERRUPTs and FORGETs. A client whose request was read (FR_SENT) and
 * that then takes a signal with a handler queues a FUSE_INTERRUPT of it and
 * keeps waiting for the answer; the daemon answers the request with EINTR,
 * which the client's system call returns. SIGUSR1 is that signal: only the
 * interruptible clients unblock it.
 */

static void on_usr1(int sig)
{
	(void)sig;
}

/* A client's SIGUSR1 interrupts its request: a handler without SA_RESTART. */
static void usr1_init(struct __test_metadata *_metadata)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_usr1;
	ASSERT_EQ(0, sigaction(SIGUSR1, &sa, NULL));
}

/* The client of start_stat_intr(): stat(2) @arg's path with SIGUSR1 unblocked. */
static void stat_intr_fn(void *arg)
{
	struct fuse_call *c = arg;
	sigset_t usr1;

	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	pthread_sigmask(SIG_UNBLOCK, &usr1, NULL);
	errno = 0;
	if (!stat(c->path, &c->sb))
		errno = 0;
}

/* Start a helper thread that stat(2)s "<mount>/NAME" and takes SIGUSR1. */
static void start_stat_intr(struct __test_metadata *_metadata, struct _test_data_edge *self)
{
	usr1_init(_metadata);
	fuse_call_prep(_metadata, &self->call, FUSE_CALL_FN);
	snprintf(self->call.path, sizeof(self->call.path), "%s/%s", self->m.mnt, NAME);
	self->call.fn = stat_intr_fn;
	self->call.arg = &self->call;
	fuse_call_start(_metadata, &self->call);
}

/*
 * The helper of start_stat_intr(), whose LOOKUP was read: once it sleeps
 * waiting for the answer, send it SIGUSR1 (it would queue the INTERRUPT as
 * well if the signal came before it slept).
 */
static void interrupt_client(struct __test_metadata *_metadata, struct _test_data_edge *self)
{
	__s64 deadline = iou_now_ns() + COMPLETE_MS * 1000000LL;
	pid_t tid = fuse_call_tid(&self->call);
	int ret;

	while (proc_state(tid) != 'S') {
		ASSERT_LT(iou_now_ns(), deadline) TH_LOG("the client does not wait: state %c",
							 proc_state(tid));
		iou_sleep_us(1000);
	}
	ASSERT_FALSE(fuse_call_done(&self->call)) TH_LOG("stat(2) returned unanswered");
	ret = pthread_kill(self->call.thr, SIGUSR1);
	ASSERT_EQ(0, ret) TH_LOG("pthread_kill: %s", strerror(ret));
}

/* The @res bytes read into @slot are the FUSE_INTERRUPT of request @unique, and only them. */
static void check_interrupt(struct __test_metadata *_metadata, struct _test_data_edge *self,
			    int slot, int res, __u64 unique)
{
	struct fuse_interrupt_in in;
	struct fuse_in_header h;

	ASSERT_EQ(INTERRUPT_LEN, res) TH_LOG("read: %d (%s)", res, strerror(res < 0 ? -res : 0));
	memcpy(&h, slot_buf(self, slot), sizeof(h));
	memcpy(&in, slot_buf(self, slot) + sizeof(h), sizeof(in));
	ASSERT_EQ((__u32)FUSE_INTERRUPT, h.opcode) TH_LOG("opcode %u", h.opcode);
	ASSERT_EQ((__u32)res, h.len);
	ASSERT_EQ(unique | INT_REQ_BIT, (unsigned long long)h.unique);
	ASSERT_EQ(0ULL, (unsigned long long)h.nodeid);
	ASSERT_EQ(unique, (unsigned long long)in.unique);
	check_fill(_metadata, slot_buf(self, slot) + res, SLOT_LEN - res);
}

/*
 * Client @c's stat(2) of @name sends a LOOKUP while the read of @slot is
 * pending: wait for it and check it, the read's CQE consumed. On an inline
 * ring the client completes the read before it sleeps: without this thread
 * entering the ring, the CQE is in the CQ (or, on DEFER_TASKRUN rings, the
 * LOOKUP in the buffer, the CQE left to the ring's local work) while the
 * stat(2) still waits. (The sleeps of this thread would run the task_work
 * of a stock retry on a plain ring too: there the caller's check of
 * InlineReadCompleted is what tells the two paths apart.) Returns the
 * LOOKUP's unique.
 */
static __u64 lookup_pending(struct __test_metadata *_metadata, struct _test_data_edge *self,
			    int slot, struct fuse_call *c, const char *name)
{
	__s64 deadline = iou_now_ns() + COMPLETE_MS * 1000000LL;
	char *buf = slot_buf(self, slot);
	struct io_uring_cqe *cqe;
	struct fuse_in_header h;
	int res, ret;

	if (self->inl && !self->defer) {
		ret = iou_poll_cqe(&self->ring, &cqe, COMPLETE_MS);
		ASSERT_EQ(0, ret) TH_LOG("no CQE in the CQ within %d ms", COMPLETE_MS);
		ASSERT_EQ(UD_READ + slot, cqe->user_data) TH_LOG("CQE res %d", cqe->res);
		res = cqe->res;
		iou_cqe_seen(&self->ring);
		ASSERT_FALSE(fuse_call_done(c)) TH_LOG("stat(2) returned unanswered");
	} else {
		while (self->inl) {
			memcpy(&h, buf, sizeof(h));
			if (h.len == LOOKUP_LEN && !buf[LOOKUP_LEN - 1])
				break;
			ASSERT_LT(iou_now_ns(), deadline)
				TH_LOG("the LOOKUP did not reach the buffer");
			iou_sleep_us(1000);
		}
		if (self->inl) {
			ASSERT_EQ(0U, iou_cq_ready(&self->ring))
				TH_LOG("a CQE before the ring's local work ran");
			ASSERT_FALSE(fuse_call_done(c)) TH_LOG("stat(2) returned unanswered");
		}
		res = reap_read(_metadata, self, slot);
	}
	ASSERT_EQ(LOOKUP_LEN, res) TH_LOG("read: %d (%s)", res, strerror(res < 0 ? -res : 0));
	return fuse_check_lookup(_metadata, buf, res, SLOT_LEN, name, fuse_call_tid(c),
				 (char)FILL);
}

/*
 * An INTERRUPT is queued with a plain wake-up: a pending read of an inline
 * ring gets it through the stock path. A client's LOOKUP completes a first
 * read (inline, on an inline ring) and is not answered; a second read is
 * armed; the client takes a signal and queues the INTERRUPT of its LOOKUP,
 * which the second read gets from the daemon's task_work, when this thread
 * enters the ring. The LOOKUP is then answered with EINTR.
 */
TEST_F_TIMEOUT(edge, interrupt_stock_path, 30)
{
	struct inl_counters c0, c1;
	__u64 unique;
	int res;

	arm_read(_metadata, self, 0);
	start_stat_intr(_metadata, self);
	res = reap_read(_metadata, self, 0);
	ASSERT_EQ(LOOKUP_LEN, res) TH_LOG("read: %d (%s)", res, strerror(res < 0 ? -res : 0));
	unique = fuse_check_lookup(_metadata, slot_buf(self, 0), res, SLOT_LEN, NAME,
				   fuse_call_tid(&self->call), (char)FILL);
	if (self->inl) {
		counters(_metadata, self, &c0);
		ASSERT_EQ(1ULL, (unsigned long long)c0.completed)
			TH_LOG("the LOOKUP was not completed inline");
	}

	arm_read(_metadata, self, 1);
	counters(_metadata, self, &c0);
	interrupt_client(_metadata, self);

	res = reap_read(_metadata, self, 1);
	check_interrupt(_metadata, self, 1, res, unique);
	ASSERT_FALSE(fuse_call_done(&self->call)) TH_LOG("stat(2) returned unanswered");
	if (self->inl) {
		wait_pinned(_metadata, self->ring.fd, true, 0);
		counters(_metadata, self, &c1);
		ASSERT_EQ(c0.completed, c1.completed) TH_LOG("the INTERRUPT was completed inline");
		ASSERT_EQ(c0.fallback + 1, c1.fallback) TH_LOG("no fallback to the stock path");
		check_balance(_metadata, &fresh_ring, &c1);
	}

	reply_err(_metadata, self->m.fd, unique, EINTR);
	fuse_finish_call(_metadata, self->m.fd, &self->call, EINTR);
	assert_idle(_metadata, self->m.fd);
	assert_no_cqe(_metadata, &self->ring);
}

/*
 * Two reads submitted together while @len bytes of something the daemon
 * does not answer (an INTERRUPT or a FORGET) are queued on the device: the
 * first takes it at submission, as fuse_dev_do_read() takes the first
 * thing queued, and the second finds nothing and stays pending (on an
 * inline ring it is the only one that arms). A second client's LOOKUP of
 * NAME2 then completes the second read, inline on an inline ring, with
 * nothing else taking the stock path. Returns the LOOKUP's unique.
 */
static __u64 queued_then_lookup(struct __test_metadata *_metadata, struct _test_data_edge *self,
				int len)
{
	struct inl_counters c0, c1;
	char path[64];
	__u64 unique;
	int res;

	wait_queued(_metadata, self->m.fd);
	counters(_metadata, self, &c0);
	queue_read(_metadata, self, 0, SLOT_LEN);
	queue_read(_metadata, self, 1, SLOT_LEN);
	submit_n(_metadata, &self->ring, 2);
	ASSERT_EQ(1U, iou_cq_ready(&self->ring)) TH_LOG("the first read did not complete at once");
	res = reap_read(_metadata, self, 0);
	ASSERT_EQ(len, res) TH_LOG("read: %d (%s)", res, strerror(res < 0 ? -res : 0));
	assert_no_cqe(_metadata, &self->ring);
	assert_idle(_metadata, self->m.fd);
	counters(_metadata, self, &c1);
	if (self->inl) {
		ASSERT_EQ(c0.armed + 1, c1.armed) TH_LOG("not only the second read armed");
		ASSERT_EQ(c0.completed, c1.completed);
		ASSERT_EQ(c0.fallback, c1.fallback);
	}

	snprintf(path, sizeof(path), "%s/%s", self->m.mnt, NAME2);
	fuse_stat_start(_metadata, &self->call2, path, 0);
	unique = lookup_pending(_metadata, self, 1, &self->call2, NAME2);
	if (self->inl) {
		counters(_metadata, self, &c1);
		ASSERT_EQ(c0.completed + 1, c1.completed)
			TH_LOG("the LOOKUP was not completed inline");
		ASSERT_EQ(c0.fallback, c1.fallback);
	}
	return unique;
}

/*
 * An INTERRUPT waits on the device with no read pending (a client's LOOKUP
 * was read with read(2), then the client took a signal); two reads are
 * submitted: the first gets the INTERRUPT at once, the second the next
 * client's LOOKUP (see queued_then_lookup()). The first LOOKUP is answered
 * with EINTR, the second with ENOENT. Without FUSE_PARALLEL_DIROPS the
 * second LOOKUP in the root would wait for the first (fuse_lock_inode()).
 */
TEST_F_TIMEOUT(edge, interrupt_first, 30)
{
	struct inl_counters c1;
	__u64 unique, unique2;

	edge_remount(_metadata, self, FUSE_PARALLEL_DIROPS);
	start_stat_intr(_metadata, self);
	unique = read_lookup(_metadata, self);
	interrupt_client(_metadata, self);

	unique2 = queued_then_lookup(_metadata, self, INTERRUPT_LEN);
	check_interrupt(_metadata, self, 0, INTERRUPT_LEN, unique);
	ASSERT_FALSE(fuse_call_done(&self->call)) TH_LOG("stat(2) returned unanswered");

	reply_err(_metadata, self->m.fd, unique2, ENOENT);
	reply_err(_metadata, self->m.fd, unique, EINTR);
	fuse_finish_call(_metadata, self->m.fd, &self->call2, ENOENT);
	fuse_finish_call(_metadata, self->m.fd, &self->call, EINTR);
	assert_idle(_metadata, self->m.fd);
	assert_no_cqe(_metadata, &self->ring);
	if (self->inl) {
		wait_pinned(_metadata, self->ring.fd, true, 0);
		counters(_metadata, self, &c1);
		ASSERT_EQ(1ULL, (unsigned long long)c1.completed);
		ASSERT_EQ(0ULL, (unsigned long long)c1.fallback);
		check_balance(_metadata, &fresh_ring, &c1);
	}
}

/* Drop the dentry of @name in the root: a FUSE_NOTIFY_INVAL_ENTRY. */
static void inval_entry(struct __test_metadata *_metadata, struct _test_data_edge *self,
			const char *name)
{
	struct fuse_notify_inval_entry_out out;
	struct fuse_out_header oh;
	struct iovec iov[3] = {
		{ .iov_base = &oh, .iov_len = sizeof(oh) },
		{ .iov_base = &out, .iov_len = sizeof(out) },
		{ .iov_base = (void *)name, .iov_len = strlen(name) + 1 },
	};
	ssize_t n;

	memset(&oh, 0, sizeof(oh));
	oh.len = sizeof(oh) + sizeof(out) + strlen(name) + 1;
	oh.error = FUSE_NOTIFY_INVAL_ENTRY;
	memset(&out, 0, sizeof(out));
	out.parent = FUSE_ROOT_ID;
	out.namelen = strlen(name);
	n = writev(self->m.fd, iov, 3);
	ASSERT_EQ((ssize_t)oh.len, n) TH_LOG("FUSE_NOTIFY_INVAL_ENTRY: %s", strerror(errno));
}

/*
 * A FORGET waits on the device with no read pending: a stat(2) of FILE_NAME
 * looks it up (its attributes valid for 1 s, so that no GETATTR follows),
 * the dentry stays cached, and a FUSE_NOTIFY_INVAL_ENTRY of the name drops
 * it, which evicts the inode (generic_delete_inode()) and queues a FORGET
 * of it before the write(2) of the notification returns. Two reads are
 * submitted: the first gets the FORGET at once, the second the next
 * client's LOOKUP (see queued_then_lookup()).
 */
TEST_F_TIMEOUT(edge, forget_first, 30)
{
	struct fuse_forget_in fo;
	struct fuse_entry_out e;
	struct inl_counters c1;
	struct fuse_in_header h;
	char path[64];
	__u64 unique;
	ssize_t n;
	int err, ret;

	snprintf(path, sizeof(path), "%s/%s", self->m.mnt, FILE_NAME);
	fuse_stat_start(_metadata, &self->call, path, 0);
	wait_queued(_metadata, self->m.fd);
	memset(self->req, FILL, SLOT_LEN);
	n = fuse_dev_read(self->m.fd, self->req, SLOT_LEN, &err);
	ASSERT_LE(0, n) TH_LOG("read(2) of the device: %s%s", strerror(err), wd_note());
	unique = fuse_check_lookup(_metadata, self->req, n, SLOT_LEN, FILE_NAME,
				   fuse_call_tid(&self->call), (char)FILL);
	memset(&e, 0, sizeof(e));
	e.nodeid = FILE_INO;
	e.generation = 1;
	e.attr_valid = 1;
	fill_attr(&e.attr, FILE_INO);
	ret = fuse_reply(self->m.fd, unique, 0, &e, sizeof(e));
	ASSERT_EQ(0, ret) TH_LOG("reply to the LOOKUP: %s", strerror(-ret));
	ASSERT_TRUE(fuse_call_reap(&self->call, COMPLETE_MS))
		TH_LOG("stat(2) still waits: for a request after the LOOKUP?");
	ASSERT_EQ(0, self->call.err) TH_LOG("stat(2): %s", strerror(self->call.err));
	ASSERT_EQ(FILE_INO, (unsigned long long)self->call.sb.st_ino);
	assert_idle(_metadata, self->m.fd);

	inval_entry(_metadata, self, FILE_NAME);
	unique = queued_then_lookup(_metadata, self, FORGET_LEN);
	memcpy(&h, slot_buf(self, 0), sizeof(h));
	memcpy(&fo, slot_buf(self, 0) + sizeof(h), sizeof(fo));
	ASSERT_EQ((__u32)FUSE_FORGET, h.opcode) TH_LOG("opcode %u", h.opcode);
	ASSERT_EQ((__u32)FORGET_LEN, h.len);
	ASSERT_EQ(FILE_INO, (unsigned long long)h.nodeid);
	ASSERT_NE(0ULL, (unsigned long long)h.unique);
	ASSERT_EQ(1ULL, (unsigned long long)fo.nlookup);
	check_fill(_metadata, slot_buf(self, 0) + FORGET_LEN, SLOT_LEN - FORGET_LEN);

	reply_err(_metadata, self->m.fd, unique, ENOENT);
	fuse_finish_call(_metadata, self->m.fd, &self->call2, ENOENT);
	assert_idle(_metadata, self->m.fd);
	assert_no_cqe(_metadata, &self->ring);
	if (self->inl) {
		wait_pinned(_metadata, self->ring.fd, true, 0);
		counters(_metadata, self, &c1);
		ASSERT_EQ(1ULL, (unsigned long long)c1.completed);
		ASSERT_EQ(0ULL, (unsigned long long)c1.fallback);
		check_balance(_metadata, &fresh_ring, &c1);
	}
}

TEST_HARNESS_MAIN
