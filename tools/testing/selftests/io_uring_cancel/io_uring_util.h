/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Minimal io_uring helper for the io_uring_cancel selftests.
 *
 * Rings are created with io_uring_setup(2), mapped with mmap(2) and driven
 * with io_uring_enter(2) through syscall(2): no liburing is needed in the test
 * guest. The helper accepts any setup flags (SQPOLL, DEFER_TASKRUN, SQE128,
 * CQE32, NO_SQARRAY and flags it does not know about), except NO_MMAP.
 *
 * All functions return 0 (or a count) on success and a negative errno on
 * failure. Every wait is bounded by a timeout in milliseconds.
 *
 * Memory ordering follows the io_uring ABI: the kernel writes the SQ head and
 * the CQ tail with store-release and reads the SQ tail and the CQ head with
 * load-acquire; user space pairs with the __atomic builtins below.
 */
#ifndef __SELFTESTS_IO_URING_CANCEL_UTIL_H
#define __SELFTESTS_IO_URING_CANCEL_UTIL_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <linux/io_uring.h>

/* The io_uring syscalls have the same numbers on every architecture but alpha. */
#ifndef __NR_io_uring_setup
#define __NR_io_uring_setup	425
#endif
#ifndef __NR_io_uring_enter
#define __NR_io_uring_enter	426
#endif
#ifndef __NR_io_uring_register
#define __NR_io_uring_register	427
#endif

/*
 * Inline-completed reads (this series): a ring created with
 * IORING_SETUP_INLINE_READ completes READ, READV and READ_FIXED on pipes and
 * other provider files in the writer's context. Kernels that support it set
 * IORING_FEAT_INLINE_READ. Fallbacks for uapi headers that predate them.
 */
#ifndef IORING_SETUP_INLINE_READ
#define IORING_SETUP_INLINE_READ	(1U << 24)
#endif
#ifndef IORING_FEAT_INLINE_READ
#define IORING_FEAT_INLINE_READ		(1U << 24)
#endif

/* Offset meaning "the file's current position", as read(2) uses; pipes take it. */
#define IOU_POS_CUR		((__u64)-1)

/* How long iou_submit() waits for an SQPOLL thread to consume the SQ. */
#define IOU_SQPOLL_SUBMIT_MS	5000

struct iou_ring {
	int fd;
	unsigned int flags;		/* IORING_SETUP_* the ring was created with */
	unsigned int features;		/* IORING_FEAT_* reported by the kernel */

	/* Submission queue: k* point into the shared ring mapping. */
	unsigned int *sq_khead;
	unsigned int *sq_ktail;
	unsigned int *sq_kflags;
	unsigned int sq_mask;
	unsigned int sq_entries;
	unsigned int sq_tail;		/* local: SQEs handed out by iou_get_sqe() */
	unsigned int sqe_shift;		/* 1 with IORING_SETUP_SQE128 */
	struct io_uring_sqe *sqes;

	/* Completion queue: k* point into the shared ring mapping. */
	unsigned int *cq_khead;
	unsigned int *cq_ktail;
	unsigned int *cq_koverflow;
	unsigned int cq_mask;
	unsigned int cq_entries;
	unsigned int cqe_shift;		/* 1 with IORING_SETUP_CQE32 */
	struct io_uring_cqe *cqes;

	/* Mappings, released by iou_exit(). */
	void *sq_map;
	size_t sq_map_sz;
	void *cq_map;			/* == sq_map with IORING_FEAT_SINGLE_MMAP */
	size_t cq_map_sz;
	void *sqe_map;
	size_t sqe_map_sz;
};

/* Raw system calls. */

static inline int iou_sys_setup(unsigned int entries, struct io_uring_params *p)
{
	long ret = syscall(__NR_io_uring_setup, entries, p);

	return ret < 0 ? -errno : (int)ret;
}

static inline int iou_sys_enter(int fd, unsigned int to_submit, unsigned int min_complete,
				unsigned int flags, const void *arg, size_t argsz)
{
	long ret = syscall(__NR_io_uring_enter, fd, to_submit, min_complete, flags, arg, argsz);

	return ret < 0 ? -errno : (int)ret;
}

static inline int iou_sys_register(int fd, unsigned int opcode, const void *arg,
				   unsigned int nr_args)
{
	long ret = syscall(__NR_io_uring_register, fd, opcode, arg, nr_args);

	return ret < 0 ? -errno : (int)ret;
}

static inline __s64 iou_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static inline void iou_sleep_us(unsigned int us)
{
	struct timespec ts = { .tv_sec = us / 1000000, .tv_nsec = (us % 1000000) * 1000L };

	nanosleep(&ts, NULL);
}

static inline void *iou_at(void *base, __u32 off)
{
	return (char *)base + off;
}

/* Ring set-up and tear-down. */

/*
 * Unmap the rings and close the ring fd. Each mapping holds a reference to the
 * ring file, so the ring is released (io_uring_release(), which cancels what
 * is pending) only once all of them are gone; for a user task that happens
 * before this function returns. Safe on a partly set-up ring, and again on a
 * ring already torn down.
 */
static inline void iou_exit(struct iou_ring *ring)
{
	if (ring->sqe_map)
		munmap(ring->sqe_map, ring->sqe_map_sz);
	if (ring->cq_map && ring->cq_map != ring->sq_map)
		munmap(ring->cq_map, ring->cq_map_sz);
	if (ring->sq_map)
		munmap(ring->sq_map, ring->sq_map_sz);
	if (ring->fd >= 0)
		close(ring->fd);
	ring->sqe_map = NULL;
	ring->cq_map = NULL;
	ring->sq_map = NULL;
	ring->fd = -1;
}

static inline void *iou_mmap(int fd, size_t size, __u64 offset)
{
	void *ptr = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd,
			 offset);

	return ptr == MAP_FAILED ? NULL : ptr;
}

/*
 * Map ring @fd, created with the parameters @p (as io_uring_setup(2)
 * returned them), into @ring, which takes @fd over: iou_exit() closes it,
 * and on failure it is closed here. This also maps a ring that another
 * process created, once its fd is here (pidfd_getfd(2)) and its @p known:
 * @ring then shows that ring's SQ and CQ.
 */
static inline int iou_map_ring(struct iou_ring *ring, int fd, const struct io_uring_params *p)
{
	size_t sq_sz, cq_sz;
	unsigned int i;
	int ret;

	memset(ring, 0, sizeof(*ring));
	ring->fd = fd;
	ring->flags = p->flags;
	ring->features = p->features;
	ring->sqe_shift = !!(p->flags & IORING_SETUP_SQE128);
	ring->cqe_shift = !!(p->flags & IORING_SETUP_CQE32);

	cq_sz = p->cq_off.cqes + ((size_t)p->cq_entries << ring->cqe_shift) *
		sizeof(struct io_uring_cqe);
	sq_sz = p->sq_off.array + p->sq_entries * sizeof(__u32);
#ifdef IORING_SETUP_NO_SQARRAY
	/* No index array: the SQ header fields sit before the CQEs. */
	if (p->flags & IORING_SETUP_NO_SQARRAY)
		sq_sz = cq_sz;
#endif
	/* With SINGLE_MMAP both rings live in one region at IORING_OFF_SQ_RING. */
	if (p->features & IORING_FEAT_SINGLE_MMAP) {
		if (cq_sz > sq_sz)
			sq_sz = cq_sz;
		cq_sz = sq_sz;
	}

	ring->sq_map_sz = sq_sz;
	ring->sq_map = iou_mmap(ring->fd, sq_sz, IORING_OFF_SQ_RING);
	if (!ring->sq_map)
		goto err;
	ring->cq_map_sz = cq_sz;
	if (p->features & IORING_FEAT_SINGLE_MMAP)
		ring->cq_map = ring->sq_map;
	else
		ring->cq_map = iou_mmap(ring->fd, cq_sz, IORING_OFF_CQ_RING);
	if (!ring->cq_map)
		goto err;
	ring->sqe_map_sz = ((size_t)p->sq_entries << ring->sqe_shift) *
			   sizeof(struct io_uring_sqe);
	ring->sqe_map = iou_mmap(ring->fd, ring->sqe_map_sz, IORING_OFF_SQES);
	if (!ring->sqe_map)
		goto err;

	ring->sq_khead = iou_at(ring->sq_map, p->sq_off.head);
	ring->sq_ktail = iou_at(ring->sq_map, p->sq_off.tail);
	ring->sq_kflags = iou_at(ring->sq_map, p->sq_off.flags);
	ring->sq_mask = *(unsigned int *)iou_at(ring->sq_map, p->sq_off.ring_mask);
	ring->sq_entries = *(unsigned int *)iou_at(ring->sq_map, p->sq_off.ring_entries);
	ring->sq_tail = *ring->sq_ktail;
	ring->sqes = ring->sqe_map;

	ring->cq_khead = iou_at(ring->cq_map, p->cq_off.head);
	ring->cq_ktail = iou_at(ring->cq_map, p->cq_off.tail);
	ring->cq_koverflow = iou_at(ring->cq_map, p->cq_off.overflow);
	ring->cq_mask = *(unsigned int *)iou_at(ring->cq_map, p->cq_off.ring_mask);
	ring->cq_entries = *(unsigned int *)iou_at(ring->cq_map, p->cq_off.ring_entries);
	ring->cqes = iou_at(ring->cq_map, p->cq_off.cqes);

	/*
	 * Map SQ slot i to SQE i once and for all, so that iou_get_sqe() can hand
	 * out SQEs in ring order, as with IORING_SETUP_NO_SQARRAY.
	 */
#ifdef IORING_SETUP_NO_SQARRAY
	if (!(p->flags & IORING_SETUP_NO_SQARRAY))
#endif
	{
		unsigned int *array = iou_at(ring->sq_map, p->sq_off.array);

		for (i = 0; i < ring->sq_entries; i++)
			array[i] = i;
	}
	return 0;
err:
	ret = -errno;
	iou_exit(ring);
	return ret;
}

/*
 * Create a ring from caller-filled params (flags, sq_thread_idle, cq_entries,
 * wq_fd, ...) and map it. On return @p holds what the kernel reported.
 */
static inline int iou_setup_params(struct iou_ring *ring, unsigned int entries,
				   struct io_uring_params *p)
{
	int ret;

	memset(ring, 0, sizeof(*ring));
	ring->fd = -1;
#ifdef IORING_SETUP_NO_MMAP
	/* User-provided ring memory is not supported by this helper. */
	if (p->flags & IORING_SETUP_NO_MMAP)
		return -EOPNOTSUPP;
#endif
	ret = iou_sys_setup(entries, p);
	if (ret < 0)
		return ret;
	return iou_map_ring(ring, ret, p);
}

/* Create a ring with @flags (IORING_SETUP_*) and default parameters. */
static inline int iou_setup(struct iou_ring *ring, unsigned int entries, unsigned int flags)
{
	struct io_uring_params p;

	memset(&p, 0, sizeof(p));
	p.flags = flags;
	return iou_setup_params(ring, entries, &p);
}

/* Submission. */

/* Next free SQE, zeroed, or NULL if the SQ is full. Published by iou_submit(). */
static inline struct io_uring_sqe *iou_get_sqe(struct iou_ring *ring)
{
	unsigned int head = __atomic_load_n(ring->sq_khead, __ATOMIC_ACQUIRE);
	struct io_uring_sqe *sqe;

	if (ring->sq_tail - head >= ring->sq_entries)
		return NULL;
	sqe = &ring->sqes[(ring->sq_tail & ring->sq_mask) << ring->sqe_shift];
	ring->sq_tail++;
	memset(sqe, 0, sizeof(*sqe) << ring->sqe_shift);
	return sqe;
}

/*
 * Publish the SQEs handed out by iou_get_sqe() and have the kernel consume
 * them. Returns how many were submitted or a negative errno.
 *
 * On return every submitted request has been issued, whatever the ring type:
 * on an SQPOLL ring this wakes the poller thread if it sleeps and waits
 * (bounded by IOU_SQPOLL_SUBMIT_MS) until it has consumed the whole SQ, which
 * the kernel signals only after issuing the requests.
 */
static inline int iou_submit(struct iou_ring *ring)
{
	unsigned int to_submit;
	__s64 deadline;
	int ret;

	/* Release: the SQE contents are visible before the new tail. */
	__atomic_store_n(ring->sq_ktail, ring->sq_tail, __ATOMIC_RELEASE);
	to_submit = ring->sq_tail - __atomic_load_n(ring->sq_khead, __ATOMIC_ACQUIRE);

	if (!(ring->flags & IORING_SETUP_SQPOLL))
		return iou_sys_enter(ring->fd, to_submit, 0, 0, NULL, 0);

	deadline = iou_now_ns() + IOU_SQPOLL_SUBMIT_MS * 1000000LL;
	for (;;) {
		/*
		 * Full barrier between the tail store and the flags load: pairs
		 * with the poller's barrier between setting NEED_WAKEUP and
		 * re-reading the tail before it sleeps.
		 */
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		if (__atomic_load_n(ring->sq_kflags, __ATOMIC_RELAXED) & IORING_SQ_NEED_WAKEUP) {
			ret = iou_sys_enter(ring->fd, 0, 0, IORING_ENTER_SQ_WAKEUP, NULL, 0);
			if (ret < 0)
				return ret;
		}
		if (__atomic_load_n(ring->sq_khead, __ATOMIC_ACQUIRE) == ring->sq_tail)
			return to_submit;
		if (iou_now_ns() > deadline)
			return -ETIMEDOUT;
		iou_sleep_us(100);
	}
}

/* Completion. */

/*
 * Number of CQEs in the shared CQ ring, read from the ring memory only: no
 * system call, so no task_work runs and nothing is flushed. On COOP_TASKRUN
 * and DEFER_TASKRUN rings a finished request may have no CQE here until the
 * task enters the kernel.
 */
static inline unsigned int iou_cq_ready(const struct iou_ring *ring)
{
	/* Acquire: pairs with the kernel's store-release of the tail. */
	return __atomic_load_n(ring->cq_ktail, __ATOMIC_ACQUIRE) - *ring->cq_khead;
}

/*
 * Oldest CQE in the shared ring, without entering the kernel. Returns 0 and
 * sets @cqe, or -EAGAIN if the CQ is empty. Release it with iou_cqe_seen().
 */
static inline int iou_peek_cqe(struct iou_ring *ring, struct io_uring_cqe **cqe)
{
	unsigned int head = *ring->cq_khead;

	if (!iou_cq_ready(ring))
		return -EAGAIN;
	*cqe = &ring->cqes[(head & ring->cq_mask) << ring->cqe_shift];
	return 0;
}

/* Hand the oldest CQE back to the kernel. */
static inline void iou_cqe_seen(struct iou_ring *ring)
{
	/* Release: our reads of the CQE are done before the slot is reused. */
	__atomic_store_n(ring->cq_khead, *ring->cq_khead + 1, __ATOMIC_RELEASE);
}

/*
 * Wait up to @timeout_ms for a CQE, sleeping in io_uring_enter(2) (which also
 * runs pending task_work, local work of DEFER_TASKRUN rings included). Returns
 * 0 and sets @cqe, -ETIME on timeout, or another negative errno. Needs
 * IORING_FEAT_EXT_ARG (Linux 5.11).
 */
static inline int iou_wait_nr(struct iou_ring *ring, unsigned int nr, unsigned int timeout_ms);

static inline int iou_wait_cqe(struct iou_ring *ring, struct io_uring_cqe **cqe,
			       unsigned int timeout_ms)
{
	int ret = iou_wait_nr(ring, 1, timeout_ms);

	return ret ? ret : iou_peek_cqe(ring, cqe);
}

/*
 * Wait up to @timeout_ms for a CQE to appear in the shared ring without ever
 * calling io_uring_enter(2): for observers that must not run the ring's
 * task_work themselves. Returns 0 and sets @cqe, or -ETIME.
 */
static inline int iou_poll_cqe(struct iou_ring *ring, struct io_uring_cqe **cqe,
			       unsigned int timeout_ms)
{
	__s64 deadline = iou_now_ns() + timeout_ms * 1000000LL;

	for (;;) {
		if (!iou_peek_cqe(ring, cqe))
			return 0;
		if (iou_now_ns() > deadline)
			return -ETIME;
		iou_sleep_us(1000);
	}
}

/*
 * Enter the kernel once to get events without waiting: runs pending task_work
 * (and a DEFER_TASKRUN ring's local work, if the caller is its submitter),
 * which may post CQEs.
 */
static inline int iou_get_events(struct iou_ring *ring)
{
	return iou_sys_enter(ring->fd, 0, 0, IORING_ENTER_GETEVENTS, NULL, 0);
}

/*
 * Wait up to @timeout_ms until at least @nr CQEs are in the shared ring,
 * sleeping in io_uring_enter(2). Returns 0, -ETIME on timeout, or another
 * negative errno. Needs IORING_FEAT_EXT_ARG.
 */
static inline int iou_wait_nr(struct iou_ring *ring, unsigned int nr, unsigned int timeout_ms)
{
	__s64 deadline = iou_now_ns() + timeout_ms * 1000000LL;
	struct io_uring_getevents_arg arg;
	struct __kernel_timespec ts;
	__s64 left;
	int ret;

	if (!(ring->features & IORING_FEAT_EXT_ARG))
		return -EOPNOTSUPP;
	memset(&arg, 0, sizeof(arg));
	arg.ts = (__u64)(uintptr_t)&ts;
	for (;;) {
		if (iou_cq_ready(ring) >= nr)
			return 0;
		left = deadline - iou_now_ns();
		if (left <= 0)
			return -ETIME;
		ts.tv_sec = left / 1000000000LL;
		ts.tv_nsec = left % 1000000000LL;
		ret = iou_sys_enter(ring->fd, 0, nr - iou_cq_ready(ring),
				    IORING_ENTER_GETEVENTS | IORING_ENTER_EXT_ARG,
				    &arg, sizeof(arg));
		if (ret < 0 && ret != -ETIME && ret != -EINTR)
			return ret;
	}
}

/* fdinfo. */

/*
 * Read the unsigned number on the "@key:" line of the ring's
 * /proc/self/fdinfo/<ring_fd> (lines such as "SqMask:\t0x7" or
 * "InlineReadArmed:\t3"). Returns 0 and sets @val, -ENOENT if there is no such
 * line (or it holds no number), or another negative errno.
 */
static inline int iou_fdinfo_u64(int ring_fd, const char *key, uint64_t *val)
{
	size_t klen = strlen(key), cap = 0;
	char path[64], *line = NULL, *end;
	int ret = -ENOENT;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", ring_fd);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	while (getline(&line, &cap, f) > 0) {
		if (strncmp(line, key, klen) || line[klen] != ':')
			continue;
		errno = 0;
		*val = strtoull(line + klen + 1, &end, 0);
		if (!errno && end != line + klen + 1)
			ret = 0;
		break;
	}
	free(line);
	fclose(f);
	return ret;
}

/* Registration. */

static inline int iou_register_buffers(struct iou_ring *ring, const struct iovec *iov,
				       unsigned int nr)
{
	return iou_sys_register(ring->fd, IORING_REGISTER_BUFFERS, iov, nr);
}

static inline int iou_unregister_buffers(struct iou_ring *ring)
{
	return iou_sys_register(ring->fd, IORING_UNREGISTER_BUFFERS, NULL, 0);
}

static inline int iou_register_files(struct iou_ring *ring, const int *fds, unsigned int nr)
{
	return iou_sys_register(ring->fd, IORING_REGISTER_FILES, fds, nr);
}

/*
 * Enable a ring created with IORING_SETUP_R_DISABLED. On a SINGLE_ISSUER ring
 * this makes the caller the only task that may submit (and, with
 * DEFER_TASKRUN, reap): that is how a forked child becomes the submitter of a
 * ring its parent created.
 */
static inline int iou_enable_rings(struct iou_ring *ring)
{
	return iou_sys_register(ring->fd, IORING_REGISTER_ENABLE_RINGS, NULL, 0);
}

/*
 * IORING_REGISTER_SYNC_CANCEL: cancel the request(s) with user_data @target
 * (or, with IORING_ASYNC_CANCEL_FD, on file @fd) and wait up to @timeout_ms
 * for them. Returns 0 or a negative errno (-ENOENT: nothing matched).
 */
static inline int iou_sync_cancel(struct iou_ring *ring, __u64 target, int fd,
				  unsigned int cancel_flags, unsigned int timeout_ms)
{
	struct io_uring_sync_cancel_reg reg;

	memset(&reg, 0, sizeof(reg));
	reg.addr = target;
	reg.fd = fd;
	reg.flags = cancel_flags;
	reg.timeout.tv_sec = timeout_ms / 1000;
	reg.timeout.tv_nsec = (timeout_ms % 1000) * 1000000LL;
	return iou_sys_register(ring->fd, IORING_REGISTER_SYNC_CANCEL, &reg, 1);
}

/* SQE preparation. */

static inline void iou_prep_rw(struct io_uring_sqe *sqe, __u8 opcode, int fd, __u64 addr,
			       __u32 len, __u64 off, __u64 user_data)
{
	sqe->opcode = opcode;
	sqe->fd = fd;
	sqe->addr = addr;
	sqe->len = len;
	sqe->off = off;
	sqe->user_data = user_data;
}

static inline void iou_prep_nop(struct io_uring_sqe *sqe, __u64 user_data)
{
	iou_prep_rw(sqe, IORING_OP_NOP, -1, 0, 0, 0, user_data);
}

static inline void iou_prep_read(struct io_uring_sqe *sqe, int fd, void *buf, __u32 len,
				 __u64 off, __u64 user_data)
{
	iou_prep_rw(sqe, IORING_OP_READ, fd, (uintptr_t)buf, len, off, user_data);
}

static inline void iou_prep_readv(struct io_uring_sqe *sqe, int fd, const struct iovec *iov,
				  unsigned int nr_vecs, __u64 off, __u64 user_data)
{
	iou_prep_rw(sqe, IORING_OP_READV, fd, (uintptr_t)iov, nr_vecs, off, user_data);
}

/* @buf must lie inside registered buffer @buf_index. */
static inline void iou_prep_read_fixed(struct io_uring_sqe *sqe, int fd, void *buf, __u32 len,
				       __u64 off, __u16 buf_index, __u64 user_data)
{
	iou_prep_rw(sqe, IORING_OP_READ_FIXED, fd, (uintptr_t)buf, len, off, user_data);
	sqe->buf_index = buf_index;
}

static inline void iou_prep_write(struct io_uring_sqe *sqe, int fd, const void *buf, __u32 len,
				  __u64 off, __u64 user_data)
{
	iou_prep_rw(sqe, IORING_OP_WRITE, fd, (uintptr_t)buf, len, off, user_data);
}

/* Hand @nr buffers of @len bytes at @addr, ids @bid..., to buffer group @bgid. */
static inline void iou_prep_provide_buffers(struct io_uring_sqe *sqe, void *addr, __u32 len,
					    int nr, __u16 bgid, __u16 bid, __u64 user_data)
{
	iou_prep_rw(sqe, IORING_OP_PROVIDE_BUFFERS, nr, (uintptr_t)addr, len, bid, user_data);
	sqe->buf_group = bgid;
}

/*
 * Time out the previous SQE (which must carry IOSQE_IO_LINK) after @ts. The
 * timespec is read when the SQE is submitted.
 */
static inline void iou_prep_link_timeout(struct io_uring_sqe *sqe, struct __kernel_timespec *ts,
					 __u64 user_data)
{
	iou_prep_rw(sqe, IORING_OP_LINK_TIMEOUT, -1, (uintptr_t)ts, 1, 0, user_data);
}

/* Cancel the request(s) whose user_data is @target (@cancel_flags: IORING_ASYNC_CANCEL_*). */
static inline void iou_prep_cancel(struct io_uring_sqe *sqe, __u64 target,
				   unsigned int cancel_flags, __u64 user_data)
{
	iou_prep_rw(sqe, IORING_OP_ASYNC_CANCEL, -1, target, 0, 0, user_data);
	sqe->cancel_flags = cancel_flags;
}

/* Cancel the request(s) on file @fd. */
static inline void iou_prep_cancel_fd(struct io_uring_sqe *sqe, int fd,
				      unsigned int cancel_flags, __u64 user_data)
{
	iou_prep_rw(sqe, IORING_OP_ASYNC_CANCEL, fd, 0, 0, 0, user_data);
	sqe->cancel_flags = cancel_flags | IORING_ASYNC_CANCEL_FD;
}

#endif /* __SELFTESTS_IO_URING_CANCEL_UTIL_H */
