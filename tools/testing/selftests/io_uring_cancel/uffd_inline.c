// SPDX-License-Identifier: GPL-2.0
/*
 * io_uring reads of userfaultfds completed in the faulting task's context
 * (IORING_SETUP_INLINE_READ).
 *
 * On a ring created with IORING_SETUP_INLINE_READ, a READ, READV or
 * READ_FIXED of a userfaultfd opened with O_NONBLOCK that finds no pending
 * message waits inline. When a thread then faults in a range registered for
 * missing faults, handle_userfault() in the *faulting* task, before it goes
 * to sleep, takes as many pending page-fault messages as fit in the read's
 * buffer (refiling each fault from fault_pending_wqh to fault_wqh exactly as
 * read(2) does, so UFFDIO_COPY wakes the faulter as usual), copies them into
 * the reader's pinned buffer and posts the CQE (on DEFER_TASKRUN rings the
 * CQE appears when the submitter next runs its task work). The handler is
 * not woken to do the read. Non-cooperative events (fork, remove, remap,
 * unmap) are not delivered inline: the pending read is handed back to the
 * stock path (task_work on the submitter, InlineReadFallback), which also
 * installs a fork event's new userfaultfd in the reader's file table.
 * Without the flag the kernel behaves as stock: the wake-up queues task_work
 * to the submitter, which redoes the read in its own context.
 *
 * Fixtures:
 *  - stopped: the proof. The parent registers a range in its own mm and
 *    forks the handler, which arms the read and stops itself; a thread of
 *    the parent faults (and stays blocked until the handler resolves the
 *    fault), and the parent observes the shared CQ ring and buffer. Runs on
 *    rings with and without the flag.
 *  - uf: semantics (sequential faults through a busy-polled ring, several
 *    messages per read, short buffers, FIFO among pending reads, every
 *    cancel selector, ring close, handler exit, the userfaultfd closed under
 *    a pending read, non-cooperative events, kernel-mode and io-wq faults,
 *    write-protect and minor faults, what posting sets off in the faulting
 *    task, a random-cancel fault storm) on plain and DEFER_TASKRUN rings,
 *    with and without the flag. The variants without the flag run on any
 *    kernel and must behave as stock.
 *
 * Whether a fault's message has been read is taken from the userfaultfd's
 * fdinfo: "pending" counts the faults nobody has read, "total" those not
 * resolved yet (read or not). The ring's counters are read from its fdinfo:
 * InlineReadArmed, InlineReadCompleted, InlineReadFallback,
 * InlineReadCancelled and InlineReadPinned.
 *
 * The fault storm runs up to $UFFD_STORM_ROUNDS rounds within
 * $UFFD_STORM_MS of wall time; $UFFD_SEED (logged) sets its seed.
 *
 * Needs CONFIG_USERFAULTFD (and root, or vm.unprivileged_userfaultfd, for
 * kernel-mode faults and UFFD_FEATURE_EVENT_FORK).
 *
 * Tests SKIP when the kernel has no userfaultfd, and tests of the feature
 * when it does not report IORING_FEAT_INLINE_READ. The write-protect and
 * minor fault tests SKIP when the kernel refuses the feature or the register
 * mode they need (no CONFIG_HAVE_ARCH_USERFAULTFD_WP or _MINOR, no shmem).
 * Every wait is bounded, so a broken kernel fails a test instead of hanging
 * the run. Helper threads never use ASSERT_*(): they record what they saw,
 * and the test thread checks it after a bounded join; a thread left blocked
 * in a fault by a failed test is released when the teardown closes the
 * userfaultfd.
 * Assumptions about semantics the series does not spell out are marked
 * "ASSUMES:".
 */
#define _GNU_SOURCE
#include <assert.h>
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
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <linux/userfaultfd.h>

#include "../kselftest_harness.h"
#include "inline_test.h"

#ifndef MREMAP_MAYMOVE
#define MREMAP_MAYMOVE		1
#endif
#ifndef MREMAP_FIXED
#define MREMAP_FIXED		2
#endif

#define RING_ENTRIES		32
/* How long a stopped handler is watched for a CQE that must not appear. */
#define STOPPED_MS		200

#define FILL			0xaa
/* A userfaultfd message; read(2) and the inline path deliver whole ones. */
#define MSG			((int)sizeof(struct uffd_msg))
/* Registered pages per fixture. */
#define AREA_PAGES		64
/* Per-read slot in the uf fixture's buffer: up to four messages. */
#define SLOT			(4 * MSG)
#define NR_SLOTS		8
#define NR_FAULTERS		4

#define UD_READ			0x1000ULL
#define UD_CANCEL		0x2000ULL

static_assert(sizeof(struct uffd_msg) == 32, "uffd_msg is 32 bytes");

/* Exit codes of forked helpers: nothing in a child may use ASSERT_*(). */
enum {
	CHILD_OK,
	CHILD_SETUP = 10,	/* prctl(), enabling the ring or registering failed */
	CHILD_SUBMIT,		/* io_uring_enter() did not submit the request */
	CHILD_EARLY_CQE,	/* a CQE appeared before any fault */
	CHILD_NO_CQE,		/* the expected CQE did not appear in time */
	CHILD_BAD_CQE,		/* a CQE with the wrong user_data or result */
	CHILD_BAD_DATA,		/* the buffer does not hold the fault's message */
	CHILD_COPY,		/* UFFDIO_COPY failed */
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
		return "CQE before any fault";
	case CHILD_NO_CQE:
		return "no CQE in time";
	case CHILD_BAD_CQE:
		return "CQE with the wrong user_data or result";
	case CHILD_BAD_DATA:
		return "buffer does not hold the fault's message";
	case CHILD_COPY:
		return "UFFDIO_COPY failed";
	}
	return "unknown exit code";
}

/* Generic helpers. */

/* The byte at @off of page @idx once it is resolved: never a whole zero page. */
static unsigned char pat(unsigned int idx, size_t off)
{
	return (unsigned char)(idx * 37 + off * 11 + 5);
}

static void fill_page(char *dst, unsigned int idx, size_t page)
{
	size_t off;

	for (off = 0; off < page; off++)
		dst[off] = (char)pat(idx, off);
}

static int timed_join(pthread_t th, unsigned int ms)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	return pthread_timedjoin_np(th, NULL, &ts);
}

/* Wait for child *@pid to exit with status 0. */
static void reap_child(struct __test_metadata *_metadata, pid_t *pid, unsigned int ms)
{
	int status, ret;

	ret = wait_child(*pid, &status, 0, ms);
	ASSERT_EQ(0, ret) TH_LOG("child %d did not exit within %u ms", *pid, ms);
	*pid = -1;
	ASSERT_TRUE(WIFEXITED(status)) TH_LOG("child killed by signal %d", WTERMSIG(status));
	ASSERT_EQ(CHILD_OK, WEXITSTATUS(status)) TH_LOG("child: %s",
							child_error(WEXITSTATUS(status)));
}

/* Wait up to @ms for @len bytes at @got to equal @want (written by another task). */
static bool wait_bytes(const char *got, const char *want, size_t len, unsigned int ms)
{
	__s64 deadline = iou_now_ns() + ms * 1000000LL;

	for (;;) {
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		if (!memcmp(got, want, len))
			return true;
		if (iou_now_ns() > deadline)
			return false;
		iou_sleep_us(1000);
	}
}

/*
 * UFFDIO_WRITEPROTECT [@addr, @addr + @len): @mode UFFDIO_WRITEPROTECT_MODE_WP
 * protects it; 0 removes the protection and wakes the threads blocked in
 * write-protect faults there. Returns 0 or a negative errno. Retries -EAGAIN.
 */
static int uffd_writeprotect(int uffd, void *addr, size_t len, __u64 mode)
{
	struct uffdio_writeprotect wp;
	int tries;

	for (tries = 0; tries < 1000; tries++) {
		memset(&wp, 0, sizeof(wp));
		wp.range.start = (uintptr_t)addr;
		wp.range.len = len;
		wp.mode = mode;
		if (!ioctl(uffd, UFFDIO_WRITEPROTECT, &wp))
			return 0;
		if (errno != EAGAIN)
			return -errno;
		iou_sleep_us(1000);
	}
	return -EAGAIN;
}

/*
 * UFFDIO_CONTINUE [@addr, @addr + @len): map the pages already in the page
 * cache, waking the threads blocked in minor faults there. Returns 0 or a
 * negative errno. Retries -EAGAIN.
 */
static int uffd_continue(int uffd, void *addr, size_t len)
{
	struct uffdio_continue c;
	int tries;

	for (tries = 0; tries < 1000; tries++) {
		memset(&c, 0, sizeof(c));
		c.range.start = (uintptr_t)addr;
		c.range.len = len;
		if (!ioctl(uffd, UFFDIO_CONTINUE, &c))
			return c.mapped == (__s64)len ? 0 : -EIO;
		if (errno != EAGAIN)
			return -errno;
		iou_sleep_us(1000);
	}
	return -EAGAIN;
}

/*
 * The userfaultfd's fdinfo: faults whose message nobody has read yet
 * ("pending") and faults not resolved yet, read or not ("total").
 */
static void uffd_faults(struct __test_metadata *_metadata, int uffd, uint64_t *pending,
			uint64_t *total)
{
	int ret;

	ret = iou_fdinfo_u64(uffd, "pending", pending);
	ASSERT_EQ(0, ret) TH_LOG("userfaultfd fdinfo pending: %s", strerror(-ret));
	ret = iou_fdinfo_u64(uffd, "total", total);
	ASSERT_EQ(0, ret) TH_LOG("userfaultfd fdinfo total: %s", strerror(-ret));
}

static void check_faults(struct __test_metadata *_metadata, int uffd, unsigned int pending,
			 unsigned int total)
{
	uint64_t p, t;

	uffd_faults(_metadata, uffd, &p, &t);
	ASSERT_EQ((unsigned long long)pending, (unsigned long long)p)
		TH_LOG("%llu unread faults (%llu unresolved), want %u",
		       (unsigned long long)p, (unsigned long long)t, pending);
	ASSERT_EQ((unsigned long long)total, (unsigned long long)t)
		TH_LOG("%llu unresolved faults (%llu unread), want %u",
		       (unsigned long long)t, (unsigned long long)p, total);
}

/* Wait up to @ms until the userfaultfd shows @pending unread and @total unresolved faults. */
static void wait_faults(struct __test_metadata *_metadata, int uffd, unsigned int pending,
			unsigned int total, unsigned int ms)
{
	__s64 deadline = iou_now_ns() + ms * 1000000LL;
	uint64_t p, t;

	for (;;) {
		uffd_faults(_metadata, uffd, &p, &t);
		if (p == pending && t == total)
			return;
		if (iou_now_ns() > deadline)
			break;
		iou_sleep_us(1000);
	}
	ASSERT_TRUE(false) TH_LOG("after %u ms: %llu unread, %llu unresolved faults; want %u, %u",
				  ms, (unsigned long long)p, (unsigned long long)t, pending, total);
}

static struct uffd_msg get_msg(const char *p)
{
	struct uffd_msg m;

	memcpy(&m, p, sizeof(m));
	return m;
}

/* The message a read fault of the page at @addr by thread @tid produces. */
static void fault_msg(struct uffd_msg *m, const char *addr, pid_t tid)
{
	memset(m, 0, sizeof(*m));
	m->event = UFFD_EVENT_PAGEFAULT;
	m->arg.pagefault.address = (uintptr_t)addr;
	m->arg.pagefault.feat.ptid = tid;
}

/* @p holds a read fault's message for the page at @page_addr (by @tid, if not 0). */
static void check_fault_msg(struct __test_metadata *_metadata, const char *p,
			    const char *page_addr, size_t page, pid_t tid)
{
	struct uffd_msg m = get_msg(p);

	ASSERT_EQ(UFFD_EVENT_PAGEFAULT, m.event) TH_LOG("event %#x", m.event);
	ASSERT_EQ((unsigned long long)(uintptr_t)page_addr,
		  (unsigned long long)(m.arg.pagefault.address & ~(__u64)(page - 1)))
		TH_LOG("fault address %#llx", (unsigned long long)m.arg.pagefault.address);
	ASSERT_EQ(0ULL, (unsigned long long)(m.arg.pagefault.flags & UFFD_PAGEFAULT_FLAG_WRITE))
		TH_LOG("a read fault reported as a write");
	if (tid)
		ASSERT_EQ((unsigned int)tid, (unsigned int)m.arg.pagefault.feat.ptid);
}

/* The registered page a message is for, or -1. */
static int msg_page(const struct uffd_msg *m, const char *area, size_t page, unsigned int npages)
{
	uintptr_t a = (uintptr_t)m->arg.pagefault.address & ~(uintptr_t)(page - 1);

	if (m->event != UFFD_EVENT_PAGEFAULT || a < (uintptr_t)area ||
	    a >= (uintptr_t)area + npages * page)
		return -1;
	return (a - (uintptr_t)area) / page;
}

/* A private anonymous area of @len bytes registered with @uffd for missing faults. */
static char *uffd_area(struct __test_metadata *_metadata, int uffd, size_t len)
{
	char *a;
	int ret;

	a = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, a);
	/* One fault per small page; fails harmlessly without THP. */
	madvise(a, len, MADV_NOHUGEPAGE);
	ret = uffd_register(uffd, a, len);
	ASSERT_EQ(0, ret) TH_LOG("UFFDIO_REGISTER: %s", strerror(-ret));
	return a;
}

/*
 * Faulting threads. Each reads pages @first .. @first + @nr - 1 of the area
 * in turn (a read fault on the first byte, which blocks until the page is
 * resolved), and checks that every page holds its pattern, or zeros. A
 * writing thread first stores each page's pattern (a write fault on the
 * first byte), then checks it the same way.
 */
struct faulter {
	pthread_t th;
	bool running;		/* created and not joined */
	char *area;
	size_t page;
	unsigned int first;
	unsigned int nr;
	bool want_zero;
	bool write;		/* store the pattern first */
	pid_t tid;		/* set before the first fault */
	unsigned int done;	/* pages read */
	int bad;		/* -1, or the first page with the wrong contents */
};

static void *faulter_fn(void *arg)
{
	struct faulter *f = arg;
	unsigned char *p, want;
	unsigned int i, idx;
	size_t off;

	__atomic_store_n(&f->tid, (pid_t)syscall(SYS_gettid), __ATOMIC_RELEASE);
	for (i = 0; i < f->nr; i++) {
		idx = f->first + i;
		p = (unsigned char *)f->area + (size_t)idx * f->page;
		if (f->write) {
			/* A real store: the first one faults. */
			for (off = 0; off < f->page; off++)
				__atomic_store_n(&p[off], pat(idx, off), __ATOMIC_RELAXED);
		}
		for (off = 0; off < f->page; off++) {
			/* A real load: the first one faults. */
			want = f->want_zero ? 0 : pat(idx, off);
			if (__atomic_load_n(&p[off], __ATOMIC_RELAXED) != want) {
				if (f->bad < 0)
					f->bad = idx;
				break;
			}
		}
		__atomic_store_n(&f->done, i + 1, __ATOMIC_RELEASE);
	}
	return NULL;
}

static void start_thread(struct __test_metadata *_metadata, struct faulter *f, char *area,
			 size_t page, unsigned int first, unsigned int nr, bool want_zero,
			 bool write)
{
	__s64 deadline;
	int ret;

	ASSERT_FALSE(f->running);
	memset(f, 0, sizeof(*f));
	f->area = area;
	f->page = page;
	f->first = first;
	f->nr = nr;
	f->want_zero = want_zero && !write;
	f->write = write;
	f->bad = -1;
	ret = pthread_create(&f->th, NULL, faulter_fn, f);
	ASSERT_EQ(0, ret) TH_LOG("pthread_create: %s", strerror(ret));
	f->running = true;
	deadline = iou_now_ns() + COMPLETE_MS * 1000000LL;
	while (!__atomic_load_n(&f->tid, __ATOMIC_ACQUIRE)) {
		ASSERT_LT(iou_now_ns(), deadline) TH_LOG("the faulting thread did not start");
		sched_yield();
	}
}

/* A thread reading pages @first .. @first + @nr - 1 of @area. */
static void start_faulter(struct __test_metadata *_metadata, struct faulter *f, char *area,
			  size_t page, unsigned int first, unsigned int nr, bool want_zero)
{
	start_thread(_metadata, f, area, page, first, nr, want_zero, false);
}

/* A thread writing page @idx of @area (its pattern), then reading it back. */
static void start_writer(struct __test_metadata *_metadata, struct faulter *f, char *area,
			 size_t page, unsigned int idx)
{
	start_thread(_metadata, f, area, page, idx, 1, false, true);
}

static unsigned int faulter_done(struct faulter *f)
{
	return __atomic_load_n(&f->done, __ATOMIC_ACQUIRE);
}

/* The thread finishes within @ms, and every page it read held what it should. */
static void join_faulter(struct __test_metadata *_metadata, struct faulter *f, unsigned int ms)
{
	int ret;

	if (!f->running)
		return;
	ret = timed_join(f->th, ms);
	ASSERT_EQ(0, ret) TH_LOG("faulting thread blocked after %u ms (%u of %u pages from %u)",
				 ms, faulter_done(f), f->nr, f->first);
	f->running = false;
	ASSERT_EQ(-1, f->bad) TH_LOG("page %d does not hold %s", f->bad,
				     f->want_zero ? "zeros" : "its pattern");
	ASSERT_EQ(f->nr, f->done);
}

/* Teardown: join a thread a failed test left behind, once the uffd is gone. */
static bool reap_faulter(struct faulter *f)
{
	if (!f->running)
		return true;
	if (timed_join(f->th, CLOSE_MS))
		return false;
	f->running = false;
	return true;
}

/*
 * Stopped-handler proof.
 *
 * The parent P creates the userfaultfd, registers a range of its own mm,
 * creates the ring and a MAP_SHARED buffer, then forks the handler H. H
 * submits the read (the stock path retries it in task_work of the task
 * that submitted it, so H must be the submitter; on SINGLE_ISSUER rings it
 * enables the R_DISABLED ring first) and stops itself. H's copy of the
 * range is not registered (no UFFD_FEATURE_EVENT_FORK), and it never
 * touches it. A thread of P then faults on the range and blocks; P only
 * reads the ring memory, the buffer and the fdinfo files, never
 * io_uring_enter(). With the flag the faulting thread itself delivers the
 * message and (but on DEFER_TASKRUN rings) posts the CQE before it sleeps;
 * stock, nothing moves until H runs. Once continued, H checks the CQE and
 * the message and resolves the fault with UFFDIO_COPY (on P's mm, through
 * the userfaultfd); the faulting thread must then see the pattern.
 *
 * No stock SQPOLL variant: the SQ thread runs the stock task_work and is
 * not stopped.
 */

enum read_kind {
	KIND_READ,
	KIND_READV,
	KIND_READ_FIXED,
};

struct read_plan {
	enum read_kind kind;
	struct iovec dst[2];	/* where the handler's buffer(s) are */
	int nr_dst;
	struct iovec fixed;	/* the registered buffer, for READ_FIXED */
};

FIXTURE(stopped) {
	struct iou_ring ring;
	int uffd;
	pid_t child;
	size_t page;
	char *area;		/* registered, in P's mm */
	size_t area_len;
	char *region;		/* MAP_SHARED: the handler's buffers, seen by both */
	char *expect;		/* what the region must hold once the read is done */
	struct faulter f;
};

#define INL_VARIANTS_OF stopped
#include "ring_variants.h"

FIXTURE_SETUP(stopped)
{
	unsigned int flags = variant->setup_flags;
	int ret;

	self->ring.fd = -1;
	self->uffd = -1;
	self->child = -1;
	self->area = MAP_FAILED;
	self->region = MAP_FAILED;
	self->expect = NULL;

	if (variant->inline_read && !inline_read_supported())
		SKIP(return, "kernel lacks IORING_FEAT_INLINE_READ");
	ret = uffd_new(O_CLOEXEC | O_NONBLOCK);
	if (ret < 0)
		SKIP(return, "userfaultfd(2) unavailable: %s", strerror(-ret));
	self->uffd = ret;
	ret = uffd_api(self->uffd, UFFD_FEATURE_THREAD_ID);
	ASSERT_EQ(0, ret) TH_LOG("UFFDIO_API: %s", strerror(-ret));

	self->page = sysconf(_SC_PAGESIZE);
	self->area_len = 4 * self->page;
	self->area = uffd_area(_metadata, self->uffd, self->area_len);
	self->region = mmap(NULL, self->page, PROT_READ | PROT_WRITE,
			    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, self->region);
	self->expect = malloc(self->page);
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
}

FIXTURE_TEARDOWN(stopped)
{
	bool joined;

	kill_child(&self->child);
	iou_exit(&self->ring);
	/* Releasing the userfaultfd wakes a thread a failed test left in a fault. */
	if (self->uffd >= 0)
		close(self->uffd);
	joined = reap_faulter(&self->f);
	if (self->area != MAP_FAILED && joined)
		munmap(self->area, self->area_len);
	if (self->region != MAP_FAILED)
		munmap(self->region, self->page);
	free(self->expect);
}

/* Lay out the handler's buffer(s) in the shared region for @kind: 32 bytes in all. */
static void make_plan(struct _test_data_stopped *self, enum read_kind kind, struct read_plan *pl)
{
	memset(pl, 0, sizeof(*pl));
	pl->kind = kind;
	pl->nr_dst = 1;
	switch (kind) {
	case KIND_READ:
		pl->dst[0] = (struct iovec){ self->region + 64, MSG };
		break;
	case KIND_READV:
		/* Two 16-byte iovecs with a gap: the message is split across them. */
		pl->dst[0] = (struct iovec){ self->region, MSG / 2 };
		pl->dst[1] = (struct iovec){ self->region + 128, MSG / 2 };
		pl->nr_dst = 2;
		break;
	case KIND_READ_FIXED:
		/* At an offset into a registered buffer covering the region. */
		pl->fixed = (struct iovec){ self->region, self->page };
		pl->dst[0] = (struct iovec){ self->region + 256, MSG };
		break;
	}
}

/* What the region holds once @pl's read got message @m. */
static void plan_expect(struct _test_data_stopped *self, const struct read_plan *pl,
			const struct uffd_msg *m)
{
	const char *src = (const char *)m;
	size_t off = 0;
	int i;

	memset(self->expect, FILL, self->page);
	for (i = 0; i < pl->nr_dst; i++) {
		memcpy(self->expect + ((char *)pl->dst[i].iov_base - self->region), src + off,
		       pl->dst[i].iov_len);
		off += pl->dst[i].iov_len;
	}
}

/* The message gathered back from @pl's buffer(s). */
static struct uffd_msg plan_msg(const struct read_plan *pl)
{
	struct uffd_msg m;
	size_t off = 0;
	int i;

	for (i = 0; i < pl->nr_dst; i++) {
		memcpy((char *)&m + off, pl->dst[i].iov_base, pl->dst[i].iov_len);
		off += pl->dst[i].iov_len;
	}
	return m;
}

/*
 * The handler: submit the read, stop, and once continued reap (not consume)
 * its CQE, check the message and resolve the fault at @fault_page (page
 * @idx) with its pattern.
 */
static __noreturn void stopped_handler(struct iou_ring *ring, int uffd, const struct read_plan *pl,
				       char *fault_page, unsigned int idx, size_t page)
{
	struct io_uring_cqe *cqe;
	struct io_uring_sqe *sqe;
	struct uffd_msg m;
	char *src;

	if (prctl(PR_SET_PDEATHSIG, SIGKILL))
		_exit(CHILD_SETUP);
	if ((ring->flags & IORING_SETUP_R_DISABLED) && iou_enable_rings(ring))
		_exit(CHILD_SETUP);
	if (pl->kind == KIND_READ_FIXED && iou_register_buffers(ring, &pl->fixed, 1))
		_exit(CHILD_SETUP);
	src = mmap(NULL, page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (src == MAP_FAILED)
		_exit(CHILD_SETUP);
	fill_page(src, idx, page);

	sqe = iou_get_sqe(ring);
	if (!sqe)
		_exit(CHILD_SUBMIT);
	switch (pl->kind) {
	case KIND_READ:
		iou_prep_read(sqe, uffd, pl->dst[0].iov_base, pl->dst[0].iov_len, IOU_POS_CUR,
			      UD_READ);
		break;
	case KIND_READV:
		iou_prep_readv(sqe, uffd, pl->dst, pl->nr_dst, IOU_POS_CUR, UD_READ);
		break;
	case KIND_READ_FIXED:
		iou_prep_read_fixed(sqe, uffd, pl->dst[0].iov_base, pl->dst[0].iov_len,
				    IOU_POS_CUR, 0, UD_READ);
		break;
	}
	/* On return the read has been issued and found no message. */
	if (iou_submit(ring) != 1)
		_exit(CHILD_SUBMIT);
	if (iou_cq_ready(ring))
		_exit(CHILD_EARLY_CQE);

	raise(SIGSTOP);

	/* Continued: entering the kernel runs task_work and DEFER_TASKRUN local work. */
	if (iou_wait_cqe(ring, &cqe, COMPLETE_MS))
		_exit(CHILD_NO_CQE);
	if (cqe->user_data != UD_READ || cqe->res != MSG)
		_exit(CHILD_BAD_CQE);
	m = plan_msg(pl);
	if (m.event != UFFD_EVENT_PAGEFAULT ||
	    (m.arg.pagefault.address & ~(__u64)(page - 1)) != (uintptr_t)fault_page)
		_exit(CHILD_BAD_DATA);
	if (uffd_copy(uffd, fault_page, src, page))
		_exit(CHILD_COPY);
	_exit(CHILD_OK);
}

static void stopped_proof(struct __test_metadata *_metadata, struct _test_data_stopped *self,
			  const FIXTURE_VARIANT(stopped) *variant, enum read_kind kind)
{
	bool defer = variant->setup_flags & IORING_SETUP_DEFER_TASKRUN;
	bool inl = variant->inline_read;
	const unsigned int idx = 1;
	char *fault_page = self->area + idx * self->page;
	struct inl_counters c0, c1, c2;
	struct io_uring_cqe *cqe;
	struct read_plan pl;
	struct uffd_msg m;
	int status, ret;

	memset(self->region, FILL, self->page);
	make_plan(self, kind, &pl);
	get_counters(_metadata, self->ring.fd, inl, &c0);
	check_faults(_metadata, self->uffd, 0, 0);

	self->child = fork();
	ASSERT_NE(-1, self->child) TH_LOG("fork: %s", strerror(errno));
	if (!self->child)
		stopped_handler(&self->ring, self->uffd, &pl, fault_page, idx, self->page);

	ret = wait_child(self->child, &status, WUNTRACED, COMPLETE_MS);
	ASSERT_EQ(0, ret) TH_LOG("the handler did not stop within %d ms", COMPLETE_MS);
	if (WIFEXITED(status))
		self->child = -1;
	ASSERT_TRUE(WIFSTOPPED(status)) TH_LOG("the handler ended early: %s",
					       WIFEXITED(status) ?
					       child_error(WEXITSTATUS(status)) : "signal");

	/* The read is pending: no CQE, nothing in the buffer. */
	ASSERT_EQ(0U, iou_cq_ready(&self->ring));
	check_fill(_metadata, self->region, self->page);
	get_counters(_metadata, self->ring.fd, inl, &c1);
	if (inl) {
		ASSERT_EQ((unsigned long long)c0.armed + 1, (unsigned long long)c1.armed)
			TH_LOG("the read did not arm inline");
		if (kind != KIND_READ_FIXED)
			ASSERT_LT((unsigned long long)c0.pinned, (unsigned long long)c1.pinned)
				TH_LOG("no handler memory pinned for a pending read");
	}

	/* The handler is stopped: from here on only the faulting thread can act. */
	start_faulter(_metadata, &self->f, self->area, self->page, idx, 1, false);
	fault_msg(&m, fault_page, self->f.tid);
	plan_expect(self, &pl, &m);

	if (inl) {
		if (!defer) {
			/* The faulting thread posted the CQE before it went to sleep. */
			ret = iou_poll_cqe(&self->ring, &cqe, COMPLETE_MS);
			ASSERT_EQ(0, ret) TH_LOG("no CQE while the handler is stopped");
			ASSERT_EQ(UD_READ, cqe->user_data);
			ASSERT_EQ(MSG, cqe->res) TH_LOG("read res %d", cqe->res);
			check_bytes(_metadata, self->region, self->expect, self->page);
		} else {
			/* The message is delivered, the CQE waits for the submitter. */
			ASSERT_TRUE(wait_bytes(self->region, self->expect, self->page, COMPLETE_MS))
				TH_LOG("the message is not in the stopped handler's buffer");
			assert_no_cqe_mem(_metadata, &self->ring, STOPPED_MS);
		}
		/* Read as by read(2): no longer pending, still unresolved. */
		check_faults(_metadata, self->uffd, 0, 1);
		ASSERT_EQ(0U, faulter_done(&self->f)) TH_LOG("the fault ended unresolved");
		get_counters(_metadata, self->ring.fd, inl, &c2);
		/* ASSUMES: counted when the faulting task took the message (as for pipes). */
		ASSERT_EQ((unsigned long long)c1.completed + 1, (unsigned long long)c2.completed)
			TH_LOG("InlineReadCompleted did not move");
	} else {
		/* Stock: the retry is task_work of the stopped handler; nothing moves. */
		wait_faults(_metadata, self->uffd, 1, 1, COMPLETE_MS);
		assert_no_cqe_mem(_metadata, &self->ring, STOPPED_MS);
		check_fill(_metadata, self->region, self->page);
		check_faults(_metadata, self->uffd, 1, 1);
	}

	ASSERT_EQ(0, kill(self->child, SIGCONT));
	reap_child(_metadata, &self->child, COMPLETE_MS);
	/* The handler resolved the fault with the page's pattern. */
	join_faulter(_metadata, &self->f, COMPLETE_MS);
	check_faults(_metadata, self->uffd, 0, 0);

	/* On every ring type the CQE and the message are there now. */
	ASSERT_EQ(1U, iou_cq_ready(&self->ring));
	ASSERT_EQ(0, iou_peek_cqe(&self->ring, &cqe));
	ASSERT_EQ(UD_READ, cqe->user_data);
	ASSERT_EQ(MSG, cqe->res) TH_LOG("read res %d", cqe->res);
	iou_cqe_seen(&self->ring);
	check_bytes(_metadata, self->region, self->expect, self->page);

	wait_pinned(_metadata, self->ring.fd, inl, c0.pinned);
	get_counters(_metadata, self->ring.fd, inl, &c2);
	if (inl) {
		ASSERT_EQ((unsigned long long)c0.completed + 1, (unsigned long long)c2.completed);
		ASSERT_EQ((unsigned long long)c0.fallback, (unsigned long long)c2.fallback);
		check_balance(_metadata, &c0, &c2);
	}
}

/* IORING_OP_READ of 32 bytes. */
TEST_F(stopped, read)
{
	stopped_proof(_metadata, self, variant, KIND_READ);
}

/* IORING_OP_READV: the message split over two 16-byte iovecs with a gap. */
TEST_F(stopped, readv)
{
	stopped_proof(_metadata, self, variant, KIND_READV);
}

/* IORING_OP_READ_FIXED at an offset into a registered buffer. */
TEST_F(stopped, read_fixed)
{
	stopped_proof(_metadata, self, variant, KIND_READ_FIXED);
}

/*
 * Semantics: the test thread is the handler (and the ring's submitter),
 * faulting threads are threads of the same process, on plain and
 * DEFER_TASKRUN rings, with and without IORING_SETUP_INLINE_READ.
 */

enum ev_action {
	EV_REMOVE,
	EV_UNMAP,
	EV_REMAP,
	EV_FORK,
	ACT_WRITE,	/* not an event: write(2) from a missing page (a kernel-mode fault) */
};

/* A thread doing something that sends a non-cooperative event and waits until it is read. */
struct actor {
	pthread_t th;
	bool running;
	enum ev_action action;
	char *addr;
	size_t len;
	char *target;		/* EV_REMAP: where to move */
	int fd;			/* ACT_WRITE: where to write */
	long ret;
	int err;
	pid_t child;		/* EV_FORK */
	int wait_ret;
	int status;
};

FIXTURE(uf) {
	struct iou_ring ring;
	unsigned int flags;
	int uffd;
	pid_t child;
	size_t page;
	char *area;		/* AREA_PAGES registered pages */
	size_t area_len;
	char *buf;		/* NR_SLOTS slots of SLOT bytes: the read buffers */
	char *src;		/* one page: the source of UFFDIO_COPY */
	struct faulter f[NR_FAULTERS];
	/* Non-cooperative events: a userfaultfd with the features, its area. */
	int uffd2;
	char *area2;
	size_t area2_len;
	char *target;
	struct actor act;
	/* A second ring and a pipe, for writes from registered memory. */
	struct iou_ring ring2;
	int pfd[2];
	/* Minor faults: the first mapping of the memfd (one page, not registered). */
	char *shm;
};

#define INL_VARIANTS_OF uf
#define INL_VARIANTS_PLAIN_DEFER
#include "ring_variants.h"

FIXTURE_SETUP(uf)
{
	int ret;

	self->ring.fd = -1;
	self->ring2.fd = -1;
	self->pfd[0] = -1;
	self->pfd[1] = -1;
	self->uffd = -1;
	self->uffd2 = -1;
	self->child = -1;
	self->area = MAP_FAILED;
	self->area2 = MAP_FAILED;
	self->target = MAP_FAILED;
	self->buf = MAP_FAILED;
	self->src = MAP_FAILED;
	self->shm = MAP_FAILED;
	self->flags = variant->setup_flags |
		      (variant->inline_read ? IORING_SETUP_INLINE_READ : 0);

	if (variant->inline_read && !inline_read_supported())
		SKIP(return, "kernel lacks IORING_FEAT_INLINE_READ");
	ret = uffd_new(O_CLOEXEC | O_NONBLOCK);
	if (ret < 0)
		SKIP(return, "userfaultfd(2) unavailable: %s", strerror(-ret));
	self->uffd = ret;
	ret = uffd_api(self->uffd, UFFD_FEATURE_THREAD_ID);
	ASSERT_EQ(0, ret) TH_LOG("UFFDIO_API: %s", strerror(-ret));

	self->page = sysconf(_SC_PAGESIZE);
	self->area_len = AREA_PAGES * self->page;
	self->area = uffd_area(_metadata, self->uffd, self->area_len);
	self->buf = mmap(NULL, self->page, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, self->buf);
	memset(self->buf, FILL, self->page);
	self->src = mmap(NULL, self->page, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, self->src);

	ret = iou_setup(&self->ring, RING_ENTRIES, self->flags);
	ASSERT_EQ(0, ret) TH_LOG("io_uring_setup(%#x): %s", self->flags, strerror(-ret));
	if (!(self->ring.features & IORING_FEAT_EXT_ARG))
		SKIP(return, "no IORING_FEAT_EXT_ARG: waits cannot be bounded");
}

FIXTURE_TEARDOWN(uf)
{
	bool joined = true;
	int i;

	kill_child(&self->child);
	iou_exit(&self->ring);
	iou_exit(&self->ring2);
	/* Releasing the userfaultfds wakes threads a failed test left in a fault or event. */
	if (self->uffd >= 0)
		close(self->uffd);
	if (self->uffd2 >= 0)
		close(self->uffd2);
	for (i = 0; i < NR_FAULTERS; i++)
		joined &= reap_faulter(&self->f[i]);
	if (self->act.running && !timed_join(self->act.th, CLOSE_MS))
		self->act.running = false;
	joined &= !self->act.running;
	if (self->act.child > 0)
		kill_child(&self->act.child);
	if (joined) {
		if (self->area != MAP_FAILED)
			munmap(self->area, self->area_len);
		if (self->area2 != MAP_FAILED)
			munmap(self->area2, self->area2_len);
		if (self->target != MAP_FAILED)
			munmap(self->target, 2 * self->page);
	}
	if (self->buf != MAP_FAILED)
		munmap(self->buf, self->page);
	if (self->src != MAP_FAILED)
		munmap(self->src, self->page);
	if (self->shm != MAP_FAILED)
		munmap(self->shm, self->page);
	for (i = 0; i < 2; i++)
		if (self->pfd[i] >= 0)
			close(self->pfd[i]);
}

static void counters(struct __test_metadata *_metadata, struct _test_data_uf *self,
		     const FIXTURE_VARIANT(uf) *variant, struct inl_counters *c)
{
	get_counters(_metadata, self->ring.fd, variant->inline_read, c);
}

static char *slot_buf(struct _test_data_uf *self, int slot)
{
	return self->buf + slot * SLOT;
}

static char *page_addr(struct _test_data_uf *self, unsigned int idx)
{
	return self->area + (size_t)idx * self->page;
}

/* Queue (not submit) a read of @len bytes of @fd into slot @slot. */
static void queue_read(struct __test_metadata *_metadata, struct _test_data_uf *self, int fd,
		       int slot, unsigned int len, __u64 ud)
{
	iou_prep_read(get_sqe(_metadata, &self->ring), fd, slot_buf(self, slot), len,
		      IOU_POS_CUR, ud);
}

/* Resolve page @idx of the area with its pattern: its faulting thread resumes. */
static void resolve(struct __test_metadata *_metadata, struct _test_data_uf *self,
		    unsigned int idx)
{
	int ret;

	fill_page(self->src, idx, self->page);
	ret = uffd_copy(self->uffd, page_addr(self, idx), self->src, self->page);
	ASSERT_EQ(0, ret) TH_LOG("UFFDIO_COPY page %u: %s", idx, strerror(-ret));
}

/* @p holds the message of faulting thread @f's fault on page @idx. */
static void check_msg(struct __test_metadata *_metadata, struct _test_data_uf *self,
		      const char *p, unsigned int idx, struct faulter *f)
{
	check_fault_msg(_metadata, p, page_addr(self, idx), self->page,
			__atomic_load_n(&f->tid, __ATOMIC_ACQUIRE));
}

/* read(2) one message: the userfaultfd is O_NONBLOCK, so a missing one fails. */
static void uffd_read_one(struct __test_metadata *_metadata, int uffd, char *out)
{
	ssize_t n = read(uffd, out, MSG);

	ASSERT_EQ((ssize_t)MSG, n) TH_LOG("read(2) of the userfaultfd: %s",
					  n < 0 ? strerror(errno) : "short");
}

/*
 * Wait up to @ms for a CQE, busy-polling the CQ ring in memory. On a
 * DEFER_TASKRUN ring that is not enough (completions are local task work
 * of the submitter): enter the kernel with GETEVENTS on each round.
 */
static int busy_cqe(struct iou_ring *ring, bool enter, unsigned int ms, struct io_uring_cqe **cqe)
{
	__s64 deadline = iou_now_ns() + ms * 1000000LL;
	int ret;

	for (;;) {
		if (!iou_peek_cqe(ring, cqe))
			return 0;
		if (enter) {
			ret = iou_get_events(ring);
			if (ret < 0 && ret != -EINTR)
				return ret;
		} else {
			spin(500);
		}
		if (iou_now_ns() > deadline)
			return -ETIME;
	}
}

/*
 * One fault at a time through a busy-polled ring: for each fault the handler
 * re-submits the next read before it resolves the fault with UFFDIO_COPY,
 * so every fault finds a read pending. Every message arrives once, in fault
 * order; with the flag every one is delivered inline by the faulting
 * thread: InlineReadCompleted moves by exactly the number of faults.
 */
#define SEQ_PAGES	32
TEST_F(uf, sequential_faults)
{
	bool defer = variant->setup_flags & IORING_SETUP_DEFER_TASKRUN;
	unsigned char seen[SEQ_PAGES] = { 0 };
	struct inl_counters c0, c1;
	struct io_uring_cqe *cqe;
	unsigned int k;
	int idx, ret, slot;

	counters(_metadata, self, variant, &c0);
	queue_read(_metadata, self, self->uffd, 0, MSG, UD_READ);
	submit_n(_metadata, &self->ring, 1);
	assert_no_cqe(_metadata, &self->ring);

	start_faulter(_metadata, &self->f[0], self->area, self->page, 0, SEQ_PAGES, false);
	for (k = 0; k < SEQ_PAGES; k++) {
		struct uffd_msg m;

		ret = busy_cqe(&self->ring, defer, COMPLETE_MS, &cqe);
		ASSERT_EQ(0, ret) TH_LOG("fault %u: no CQE within %d ms (%u pages read)",
					 k, COMPLETE_MS, faulter_done(&self->f[0]));
		ASSERT_EQ(UD_READ + k, cqe->user_data);
		ASSERT_EQ(MSG, cqe->res) TH_LOG("fault %u: read res %d", k, cqe->res);
		iou_cqe_seen(&self->ring);

		slot = k % 2;
		m = get_msg(slot_buf(self, slot));
		idx = msg_page(&m, self->area, self->page, AREA_PAGES);
		ASSERT_EQ((int)k, idx) TH_LOG("fault %u: message for page %d", k, idx);
		ASSERT_EQ(0, seen[idx]) TH_LOG("message for page %d twice", idx);
		seen[idx] = 1;
		check_msg(_metadata, self, slot_buf(self, slot), idx, &self->f[0]);
		check_fill(_metadata, slot_buf(self, slot) + MSG, SLOT - MSG);
		memset(slot_buf(self, slot), FILL, SLOT);

		/* The next read first, then the resolution that lets the next fault come. */
		if (k + 1 < SEQ_PAGES) {
			queue_read(_metadata, self, self->uffd, !slot, MSG, UD_READ + k + 1);
			submit_n(_metadata, &self->ring, 1);
		}
		resolve(_metadata, self, idx);
	}
	join_faulter(_metadata, &self->f[0], COMPLETE_MS);
	assert_no_cqe(_metadata, &self->ring);
	check_faults(_metadata, self->uffd, 0, 0);

	wait_pinned(_metadata, self->ring.fd, variant->inline_read, c0.pinned);
	counters(_metadata, self, variant, &c1);
	if (variant->inline_read) {
		ASSERT_EQ((unsigned long long)c0.armed + SEQ_PAGES, (unsigned long long)c1.armed)
			TH_LOG("not every read armed inline");
		ASSERT_EQ((unsigned long long)c0.completed + SEQ_PAGES,
			  (unsigned long long)c1.completed)
			TH_LOG("not every fault was delivered inline");
		ASSERT_EQ((unsigned long long)c0.fallback, (unsigned long long)c1.fallback);
		check_balance(_metadata, &c0, &c1);
	}
}

/*
 * Three faults already pending (their threads blocked, one after the other)
 * and a 128-byte read: it completes at submission with the three messages,
 * oldest first, as read(2) would; the fourth slot stays untouched.
 */
TEST_F(uf, pending_faults_one_read)
{
	static const unsigned int pages[3] = { 3, 5, 7 };
	struct inl_counters c0, c1;
	struct io_uring_cqe cqe;
	int i;

	for (i = 0; i < 3; i++) {
		start_faulter(_metadata, &self->f[i], self->area, self->page, pages[i], 1, false);
		wait_faults(_metadata, self->uffd, i + 1, i + 1, COMPLETE_MS);
	}
	counters(_metadata, self, variant, &c0);
	queue_read(_metadata, self, self->uffd, 0, 4 * MSG, UD_READ);
	submit_n(_metadata, &self->ring, 1);
	reap_cqe(_metadata, &self->ring, &cqe);
	ASSERT_EQ(UD_READ, cqe.user_data);
	ASSERT_EQ(3 * MSG, cqe.res) TH_LOG("read res %d", cqe.res);
	for (i = 0; i < 3; i++)
		check_msg(_metadata, self, slot_buf(self, 0) + i * MSG, pages[i], &self->f[i]);
	check_fill(_metadata, slot_buf(self, 0) + 3 * MSG, MSG);
	check_faults(_metadata, self->uffd, 0, 3);
	counters(_metadata, self, variant, &c1);
	ASSERT_EQ((unsigned long long)c0.armed, (unsigned long long)c1.armed)
		TH_LOG("a read with messages pending waited");

	for (i = 0; i < 3; i++)
		resolve(_metadata, self, pages[i]);
	for (i = 0; i < 3; i++)
		join_faulter(_metadata, &self->f[i], COMPLETE_MS);
	check_faults(_metadata, self->uffd, 0, 0);
	assert_no_cqe(_metadata, &self->ring);
}

/*
 * Two pending reads and two faults, one after the other: each fault is
 * delivered to exactly one read (the other stays pending and takes
 * nothing). With the flag the reads get them in submission order.
 * Stock, both poll entries wake and the first retry takes the message;
 * which read that is, is not specified.
 */
TEST_F(uf, two_pending_reads)
{
	struct inl_counters c0, c1;
	struct io_uring_cqe cqe;
	int first, other;

	counters(_metadata, self, variant, &c0);
	queue_read(_metadata, self, self->uffd, 0, MSG, UD_READ);
	queue_read(_metadata, self, self->uffd, 1, MSG, UD_READ + 1);
	submit_n(_metadata, &self->ring, 2);
	assert_no_cqe(_metadata, &self->ring);
	counters(_metadata, self, variant, &c1);
	if (variant->inline_read)
		ASSERT_EQ((unsigned long long)c0.armed + 2, (unsigned long long)c1.armed);

	start_faulter(_metadata, &self->f[0], self->area, self->page, 10, 1, false);
	reap_cqe(_metadata, &self->ring, &cqe);
	ASSERT_EQ(MSG, cqe.res) TH_LOG("read res %d", cqe.res);
	ASSERT_TRUE(cqe.user_data == UD_READ || cqe.user_data == UD_READ + 1);
	first = cqe.user_data - UD_READ;
	other = !first;
	if (variant->inline_read)
		ASSERT_EQ(0, first) TH_LOG("the later pending read got the first fault");
	check_msg(_metadata, self, slot_buf(self, first), 10, &self->f[0]);
	check_fill(_metadata, slot_buf(self, other), SLOT);
	/* The other read is still pending and took nothing. */
	assert_no_cqe(_metadata, &self->ring);
	check_faults(_metadata, self->uffd, 0, 1);

	start_faulter(_metadata, &self->f[1], self->area, self->page, 11, 1, false);
	reap_cqe(_metadata, &self->ring, &cqe);
	ASSERT_EQ(UD_READ + other, cqe.user_data);
	ASSERT_EQ(MSG, cqe.res) TH_LOG("read res %d", cqe.res);
	check_msg(_metadata, self, slot_buf(self, other), 11, &self->f[1]);
	check_faults(_metadata, self->uffd, 0, 2);

	resolve(_metadata, self, 10);
	resolve(_metadata, self, 11);
	join_faulter(_metadata, &self->f[0], COMPLETE_MS);
	join_faulter(_metadata, &self->f[1], COMPLETE_MS);
	assert_no_cqe(_metadata, &self->ring);

	wait_pinned(_metadata, self->ring.fd, variant->inline_read, c0.pinned);
	counters(_metadata, self, variant, &c1);
	if (variant->inline_read) {
		ASSERT_EQ((unsigned long long)c0.completed + 2, (unsigned long long)c1.completed);
		check_balance(_metadata, &c0, &c1);
	}
}

/*
 * Buffers shorter than a message fail with -EINVAL, as read(2) does, with
 * or without a fault pending, and consume nothing: a 32-byte read then gets
 * the pending fault.
 */
TEST_F(uf, short_buffer_einval)
{
	struct inl_counters c0, c1;
	struct io_uring_cqe cqes[2];

	counters(_metadata, self, variant, &c0);
	queue_read(_metadata, self, self->uffd, 0, 16, UD_READ);
	submit_n(_metadata, &self->ring, 1);
	reap_cqe(_metadata, &self->ring, &cqes[0]);
	ASSERT_EQ(-EINVAL, cqes[0].res) TH_LOG("16-byte read with nothing pending: %d",
					       cqes[0].res);

	start_faulter(_metadata, &self->f[0], self->area, self->page, 12, 1, false);
	wait_faults(_metadata, self->uffd, 1, 1, COMPLETE_MS);
	queue_read(_metadata, self, self->uffd, 0, 16, UD_READ + 1);
	queue_read(_metadata, self, self->uffd, 1, MSG - 1, UD_READ + 2);
	submit_n(_metadata, &self->ring, 2);
	reap_n(_metadata, &self->ring, cqes, 2);
	ASSERT_EQ(-EINVAL, cqe_res(_metadata, cqes, 2, UD_READ + 1));
	ASSERT_EQ(-EINVAL, cqe_res(_metadata, cqes, 2, UD_READ + 2));
	check_fill(_metadata, self->buf, self->page);
	check_faults(_metadata, self->uffd, 1, 1);
	counters(_metadata, self, variant, &c1);
	ASSERT_EQ((unsigned long long)c0.armed, (unsigned long long)c1.armed);

	queue_read(_metadata, self, self->uffd, 2, MSG, UD_READ + 3);
	submit_n(_metadata, &self->ring, 1);
	reap_cqe(_metadata, &self->ring, &cqes[0]);
	ASSERT_EQ(UD_READ + 3, cqes[0].user_data);
	ASSERT_EQ(MSG, cqes[0].res) TH_LOG("read res %d", cqes[0].res);
	check_msg(_metadata, self, slot_buf(self, 2), 12, &self->f[0]);
	resolve(_metadata, self, 12);
	join_faulter(_metadata, &self->f[0], COMPLETE_MS);
	assert_no_cqe(_metadata, &self->ring);
}

/*
 * A pending 40-byte read gets one whole message (32 bytes) and nothing is
 * written past it.
 */
TEST_F(uf, odd_length_read)
{
	struct inl_counters c0, c1;
	struct io_uring_cqe cqe;

	counters(_metadata, self, variant, &c0);
	queue_read(_metadata, self, self->uffd, 0, MSG + 8, UD_READ);
	submit_n(_metadata, &self->ring, 1);
	assert_no_cqe(_metadata, &self->ring);

	start_faulter(_metadata, &self->f[0], self->area, self->page, 13, 1, false);
	reap_cqe(_metadata, &self->ring, &cqe);
	ASSERT_EQ(MSG, cqe.res) TH_LOG("read res %d", cqe.res);
	check_msg(_metadata, self, slot_buf(self, 0), 13, &self->f[0]);
	check_fill(_metadata, slot_buf(self, 0) + MSG, self->page - MSG);
	resolve(_metadata, self, 13);
	join_faulter(_metadata, &self->f[0], COMPLETE_MS);

	wait_pinned(_metadata, self->ring.fd, variant->inline_read, c0.pinned);
	counters(_metadata, self, variant, &c1);
	if (variant->inline_read) {
		ASSERT_EQ((unsigned long long)c0.completed + 1, (unsigned long long)c1.completed);
		check_balance(_metadata, &c0, &c1);
	}
}

/* A userfaultfd before UFFDIO_API: the read fails with -EINVAL and does not wait. */
TEST_F(uf, uninitialized_uffd_einval)
{
	struct inl_counters c0, c1;
	struct io_uring_cqe cqe;
	int fd;

	fd = uffd_new(O_CLOEXEC | O_NONBLOCK);
	ASSERT_LE(0, fd) TH_LOG("userfaultfd: %s", strerror(-fd));
	self->uffd2 = fd;
	counters(_metadata, self, variant, &c0);
	queue_read(_metadata, self, fd, 0, MSG, UD_READ);
	submit_n(_metadata, &self->ring, 1);
	reap_cqe(_metadata, &self->ring, &cqe);
	ASSERT_EQ(-EINVAL, cqe.res) TH_LOG("read res %d", cqe.res);
	counters(_metadata, self, variant, &c1);
	ASSERT_EQ((unsigned long long)c0.armed, (unsigned long long)c1.armed);
	check_fill(_metadata, self->buf, self->page);
}

/* Cancellation by every selector. */

enum cancel_how {
	BY_USER_DATA,
	BY_FD,
	BY_FD_ALL,
	BY_USER_DATA_ALL,
	BY_ANY,
	BY_SYNC,
};

/*
 * A fault after the reads were cancelled is not lost: its message stays
 * pending (a cancelled read consumed nothing) and the next read gets it at
 * submission.
 */
static void fault_not_lost(struct __test_metadata *_metadata, struct _test_data_uf *self,
			   const FIXTURE_VARIANT(uf) *variant, unsigned int idx)
{
	struct inl_counters c0, c1;
	struct io_uring_cqe cqe;

	start_faulter(_metadata, &self->f[0], self->area, self->page, idx, 1, false);
	wait_faults(_metadata, self->uffd, 1, 1, COMPLETE_MS);
	iou_sleep_us(PENDING_MS * 1000);
	check_faults(_metadata, self->uffd, 1, 1);
	check_fill(_metadata, self->buf, self->page);

	counters(_metadata, self, variant, &c0);
	queue_read(_metadata, self, self->uffd, NR_SLOTS - 1, MSG, UD_READ + 0x100);
	submit_n(_metadata, &self->ring, 1);
	reap_cqe(_metadata, &self->ring, &cqe);
	ASSERT_EQ(UD_READ + 0x100, cqe.user_data);
	ASSERT_EQ(MSG, cqe.res) TH_LOG("read res %d", cqe.res);
	check_msg(_metadata, self, slot_buf(self, NR_SLOTS - 1), idx, &self->f[0]);
	counters(_metadata, self, variant, &c1);
	ASSERT_EQ((unsigned long long)c0.armed, (unsigned long long)c1.armed);
	resolve(_metadata, self, idx);
	join_faulter(_metadata, &self->f[0], COMPLETE_MS);
	check_faults(_metadata, self->uffd, 0, 0);
}

static void cancel_case(struct __test_metadata *_metadata, struct _test_data_uf *self,
			const FIXTURE_VARIANT(uf) *variant, enum cancel_how how)
{
	int nr = how == BY_USER_DATA_ALL ? 3 : (how == BY_FD_ALL || how == BY_ANY) ? 2 : 1;
	bool same_ud = how == BY_USER_DATA_ALL;
	struct inl_counters c0, c1;
	struct io_uring_cqe cqes[4];
	int i, n, ret, want_cancel;

	counters(_metadata, self, variant, &c0);
	for (i = 0; i < nr; i++)
		queue_read(_metadata, self, self->uffd, i, MSG, same_ud ? UD_READ : UD_READ + i);
	submit_n(_metadata, &self->ring, nr);
	assert_no_cqe(_metadata, &self->ring);
	counters(_metadata, self, variant, &c1);
	if (variant->inline_read) {
		ASSERT_EQ((unsigned long long)c0.armed + nr, (unsigned long long)c1.armed);
		ASSERT_LT((unsigned long long)c0.pinned, (unsigned long long)c1.pinned);
	}

	want_cancel = 0;
	switch (how) {
	case BY_USER_DATA:
		iou_prep_cancel(get_sqe(_metadata, &self->ring), UD_READ, 0, UD_CANCEL);
		break;
	case BY_FD:
		iou_prep_cancel_fd(get_sqe(_metadata, &self->ring), self->uffd, 0, UD_CANCEL);
		break;
	case BY_FD_ALL:
		iou_prep_cancel_fd(get_sqe(_metadata, &self->ring), self->uffd,
				   IORING_ASYNC_CANCEL_ALL, UD_CANCEL);
		want_cancel = nr;
		break;
	case BY_USER_DATA_ALL:
		iou_prep_cancel(get_sqe(_metadata, &self->ring), UD_READ, IORING_ASYNC_CANCEL_ALL,
				UD_CANCEL);
		want_cancel = nr;
		break;
	case BY_ANY:
		iou_prep_cancel(get_sqe(_metadata, &self->ring), 0, IORING_ASYNC_CANCEL_ANY,
				UD_CANCEL);
		want_cancel = nr;
		break;
	case BY_SYNC:
		ret = iou_sync_cancel(&self->ring, UD_READ, -1, 0, COMPLETE_MS);
		ASSERT_EQ(0, ret) TH_LOG("sync cancel: %s", strerror(-ret));
		break;
	}
	if (how == BY_SYNC) {
		reap_n(_metadata, &self->ring, cqes, nr);
		ret = iou_sync_cancel(&self->ring, UD_READ, -1, 0, COMPLETE_MS);
		ASSERT_EQ(-ENOENT, ret) TH_LOG("nothing left to cancel: %s", strerror(-ret));
	} else {
		submit_n(_metadata, &self->ring, 1);
		reap_n(_metadata, &self->ring, cqes, nr + 1);
		ASSERT_EQ(want_cancel, cqe_res(_metadata, cqes, nr + 1, UD_CANCEL));
	}
	for (i = 0, n = 0; i < nr + (how != BY_SYNC); i++) {
		if (cqes[i].user_data == UD_CANCEL)
			continue;
		ASSERT_TRUE(cqes[i].user_data >= UD_READ && cqes[i].user_data < UD_READ + nr);
		ASSERT_EQ(-ECANCELED, cqes[i].res) TH_LOG("read res %d", cqes[i].res);
		n++;
	}
	ASSERT_EQ(nr, n);

	assert_no_cqe(_metadata, &self->ring);
	wait_pinned(_metadata, self->ring.fd, variant->inline_read, c0.pinned);
	counters(_metadata, self, variant, &c1);
	if (variant->inline_read) {
		ASSERT_EQ((unsigned long long)c0.cancelled + nr, (unsigned long long)c1.cancelled);
		ASSERT_EQ((unsigned long long)c0.completed, (unsigned long long)c1.completed);
		check_balance(_metadata, &c0, &c1);
	}
	check_fill(_metadata, self->buf, self->page);
	fault_not_lost(_metadata, self, variant, 20);
}

/* IORING_OP_ASYNC_CANCEL by user_data. */
TEST_F(uf, cancel_by_user_data)
{
	cancel_case(_metadata, self, variant, BY_USER_DATA);
}

/* IORING_ASYNC_CANCEL_FD on the userfaultfd. */
TEST_F(uf, cancel_by_fd)
{
	cancel_case(_metadata, self, variant, BY_FD);
}

/* IORING_ASYNC_CANCEL_FD | _ALL: both pending reads, the cancel returns 2. */
TEST_F(uf, cancel_all_by_fd)
{
	cancel_case(_metadata, self, variant, BY_FD_ALL);
}

/* IORING_ASYNC_CANCEL_ALL by user_data: three reads with the same user_data. */
TEST_F(uf, cancel_all_by_user_data)
{
	cancel_case(_metadata, self, variant, BY_USER_DATA_ALL);
}

/* IORING_ASYNC_CANCEL_ANY. */
TEST_F(uf, cancel_any)
{
	cancel_case(_metadata, self, variant, BY_ANY);
}

/* IORING_REGISTER_SYNC_CANCEL. */
TEST_F(uf, sync_cancel)
{
	cancel_case(_metadata, self, variant, BY_SYNC);
}

/* Teardown with reads pending. */

/*
 * Closing the ring with a read pending returns promptly and the read is
 * gone: a fault afterwards stays pending (not even a read being torn down
 * takes it), read(2) gets it and the fault is resolved. The pinned pages go
 * back (VmPin, where the kernel accounts the pins).
 */
TEST_F(uf, ring_close_then_fault)
{
	__s64 t0, ms, deadline;
	long pin0, pin1;

	pin0 = status_kb("VmPin");
	queue_read(_metadata, self, self->uffd, 0, MSG, UD_READ);
	submit_n(_metadata, &self->ring, 1);
	assert_no_cqe(_metadata, &self->ring);

	t0 = iou_now_ns();
	iou_exit(&self->ring);
	ms = (iou_now_ns() - t0) / 1000000;
	ASSERT_LT(ms, CLOSE_MS) TH_LOG("closing the ring took %lld ms", (long long)ms);

	start_faulter(_metadata, &self->f[0], self->area, self->page, 24, 1, false);
	wait_faults(_metadata, self->uffd, 1, 1, COMPLETE_MS);
	/* Give any survivor of the ring (task_work, a kworker) time to act. */
	iou_sleep_us(2 * PENDING_MS * 1000);
	check_faults(_metadata, self->uffd, 1, 1);
	check_fill(_metadata, self->buf, self->page);

	uffd_read_one(_metadata, self->uffd, slot_buf(self, 1));
	check_msg(_metadata, self, slot_buf(self, 1), 24, &self->f[0]);
	resolve(_metadata, self, 24);
	join_faulter(_metadata, &self->f[0], COMPLETE_MS);
	check_fill(_metadata, slot_buf(self, 0), SLOT);

	deadline = iou_now_ns() + CLOSE_MS * 1000000LL;
	do {
		pin1 = status_kb("VmPin");
		if (pin1 == pin0)
			break;
		iou_sleep_us(10000);
	} while (iou_now_ns() < deadline);
	ASSERT_EQ(pin0, pin1) TH_LOG("VmPin %ld kB before, %ld kB after the close", pin0, pin1);
}

/*
 * The handler (a child, the ring's submitter) exits with a read pending;
 * the parent keeps the ring and only looks at its memory and fdinfo. A
 * fault afterwards is not consumed by the dead handler's read: read(2) gets
 * it.
 *
 * Stock (as for pipes, see pipe_inline.c): the read stays armed past the
 * exit; the fault wakes it, and on a plain ring the fallback worker
 * completes it with -ECANCELED, consuming nothing; on a DEFER_TASKRUN ring
 * no CQE appears while the ring lives.
 * ASSUMES: an inline read is cancelled at exit already (it is tracked like
 * a request on an io_uring file: it pins the task's memory); checked with
 * EXPECT so that the fault checks still run.
 */
TEST_F(uf, handler_exit_then_fault)
{
	bool defer = variant->setup_flags & IORING_SETUP_DEFER_TASKRUN;
	struct inl_counters c0, c1;
	struct io_uring_cqe *cqe;
	struct io_uring_sqe *sqe;
	unsigned int n;
	int ret;

	if (self->flags & IORING_SETUP_SINGLE_ISSUER) {
		/* The child becomes the submitter when it enables the ring. */
		iou_exit(&self->ring);
		ret = iou_setup(&self->ring, RING_ENTRIES, self->flags | IORING_SETUP_R_DISABLED);
		ASSERT_EQ(0, ret) TH_LOG("io_uring_setup: %s", strerror(-ret));
	}
	counters(_metadata, self, variant, &c0);

	self->child = fork();
	ASSERT_NE(-1, self->child);
	if (!self->child) {
		if (child_take_ring(&self->ring))
			_exit(CHILD_SETUP);
		sqe = iou_get_sqe(&self->ring);
		if (!sqe)
			_exit(CHILD_SUBMIT);
		iou_prep_read(sqe, self->uffd, slot_buf(self, 0), MSG, IOU_POS_CUR, UD_READ);
		if (iou_submit(&self->ring) != 1)
			_exit(CHILD_SUBMIT);
		_exit(iou_cq_ready(&self->ring) ? CHILD_EARLY_CQE : CHILD_OK);
	}
	reap_child(_metadata, &self->child, CLOSE_MS);

	counters(_metadata, self, variant, &c1);
	if (variant->inline_read) {
		ASSERT_EQ((unsigned long long)c0.armed + 1, (unsigned long long)c1.armed);
		n = wait_cq_ready(&self->ring, 1, CLOSE_MS);
		EXPECT_EQ(1U, n) TH_LOG("the exit did not cancel the inline read");
		counters(_metadata, self, variant, &c1);
		EXPECT_EQ(0ULL, (unsigned long long)c1.pinned)
			TH_LOG("the exited handler's buffer is still pinned");
	} else {
		assert_no_cqe_mem(_metadata, &self->ring, PENDING_MS);
	}

	start_faulter(_metadata, &self->f[0], self->area, self->page, 26, 1, false);
	wait_faults(_metadata, self->uffd, 1, 1, COMPLETE_MS);
	if (variant->inline_read || !defer) {
		n = wait_cq_ready(&self->ring, 1, COMPLETE_MS);
		ASSERT_EQ(1U, n) TH_LOG("no CQE for the dead handler's read");
		ASSERT_EQ(0, iou_peek_cqe(&self->ring, &cqe));
		ASSERT_EQ(UD_READ, cqe->user_data);
		ASSERT_EQ(-ECANCELED, cqe->res) TH_LOG("read res %d", cqe->res);
		iou_cqe_seen(&self->ring);
	}
	iou_sleep_us(PENDING_MS * 1000);
	assert_no_cqe_mem(_metadata, &self->ring, PENDING_MS);
	check_faults(_metadata, self->uffd, 1, 1);
	check_fill(_metadata, self->buf, self->page);

	uffd_read_one(_metadata, self->uffd, slot_buf(self, 1));
	check_msg(_metadata, self, slot_buf(self, 1), 26, &self->f[0]);
	resolve(_metadata, self, 26);
	join_faulter(_metadata, &self->f[0], COMPLETE_MS);

	if (variant->inline_read) {
		wait_pinned(_metadata, self->ring.fd, true, 0);
		counters(_metadata, self, variant, &c1);
		ASSERT_EQ((unsigned long long)c0.completed, (unsigned long long)c1.completed);
		check_balance(_metadata, &c0, &c1);
	}
}

/*
 * The handler closes its userfaultfd while a read of it is pending: the
 * request's file reference keeps the userfaultfd alive. Cancelling the read
 * drops the last reference: the userfaultfd is released, its range
 * unregistered, and a thread faulting there afterwards gets a zero page
 * within CLOSE_MS instead of waiting for a handler that is gone.
 */
TEST_F(uf, uffd_closed_then_cancel)
{
	struct inl_counters c0, c1;
	struct io_uring_cqe cqes[2];

	counters(_metadata, self, variant, &c0);
	queue_read(_metadata, self, self->uffd, 0, MSG, UD_READ);
	submit_n(_metadata, &self->ring, 1);
	assert_no_cqe(_metadata, &self->ring);
	ASSERT_EQ(0, close(self->uffd));
	self->uffd = -1;

	iou_prep_cancel(get_sqe(_metadata, &self->ring), UD_READ, 0, UD_CANCEL);
	submit_n(_metadata, &self->ring, 1);
	reap_n(_metadata, &self->ring, cqes, 2);
	ASSERT_EQ(-ECANCELED, cqe_res(_metadata, cqes, 2, UD_READ));
	ASSERT_EQ(0, cqe_res(_metadata, cqes, 2, UD_CANCEL));
	check_fill(_metadata, self->buf, self->page);

	start_faulter(_metadata, &self->f[0], self->area, self->page, 30, 1, true);
	join_faulter(_metadata, &self->f[0], CLOSE_MS);
	assert_no_cqe(_metadata, &self->ring);

	wait_pinned(_metadata, self->ring.fd, variant->inline_read, c0.pinned);
	counters(_metadata, self, variant, &c1);
	if (variant->inline_read) {
		ASSERT_EQ((unsigned long long)c0.cancelled + 1, (unsigned long long)c1.cancelled);
		check_balance(_metadata, &c0, &c1);
	}
}

/*
 * As above, but a fault completes the read: the message is delivered, and
 * when the request goes it releases the userfaultfd, which wakes the
 * faulting thread (read, never resolved): it gets a zero page within
 * CLOSE_MS. No thread is left asleep on a released userfaultfd.
 */
TEST_F(uf, uffd_closed_then_fault)
{
	struct inl_counters c0, c1;
	struct io_uring_cqe cqe;

	counters(_metadata, self, variant, &c0);
	queue_read(_metadata, self, self->uffd, 0, MSG, UD_READ);
	submit_n(_metadata, &self->ring, 1);
	assert_no_cqe(_metadata, &self->ring);
	ASSERT_EQ(0, close(self->uffd));
	self->uffd = -1;

	start_faulter(_metadata, &self->f[0], self->area, self->page, 32, 1, true);
	reap_cqe(_metadata, &self->ring, &cqe);
	ASSERT_EQ(UD_READ, cqe.user_data);
	ASSERT_EQ(MSG, cqe.res) TH_LOG("read res %d", cqe.res);
	check_msg(_metadata, self, slot_buf(self, 0), 32, &self->f[0]);
	join_faulter(_metadata, &self->f[0], CLOSE_MS);
	assert_no_cqe(_metadata, &self->ring);

	wait_pinned(_metadata, self->ring.fd, variant->inline_read, c0.pinned);
	counters(_metadata, self, variant, &c1);
	if (variant->inline_read) {
		ASSERT_EQ((unsigned long long)c0.completed + 1, (unsigned long long)c1.completed);
		check_balance(_metadata, &c0, &c1);
	}
}

/*
 * Non-cooperative events take the stock path: a pending read is handed back
 * (InlineReadFallback) when the event is queued, and the submitter's task
 * work reads the event as read(2) would. The thread that caused the event
 * waits in the kernel until the event is read, so the handler keeps running
 * (it waits for the CQE in io_uring_enter(), which runs that task work).
 */

static void *actor_fn(void *arg)
{
	struct actor *a = arg;
	void *p;
	pid_t pid;

	switch (a->action) {
	case EV_REMOVE:
		a->ret = madvise(a->addr, a->len, MADV_DONTNEED);
		break;
	case EV_UNMAP:
		a->ret = munmap(a->addr, a->len);
		break;
	case EV_REMAP:
		p = mremap(a->addr, a->len, a->len, MREMAP_MAYMOVE | MREMAP_FIXED, a->target);
		a->ret = p == MAP_FAILED ? -1 : p == a->target ? 0 : -2;
		break;
	case ACT_WRITE:
		a->ret = write(a->fd, a->addr, a->len);
		break;
	case EV_FORK:
		pid = fork();
		if (!pid)
			_exit(0);
		a->ret = pid < 0 ? -1 : 0;
		if (pid > 0) {
			__atomic_store_n(&a->child, pid, __ATOMIC_RELEASE);
			a->wait_ret = wait_child(pid, &a->status, 0, COMPLETE_MS);
			if (!a->wait_ret)
				__atomic_store_n(&a->child, -1, __ATOMIC_RELEASE);
		}
		break;
	}
	if (a->ret == -1)
		a->err = errno;
	return NULL;
}

static void event_case(struct __test_metadata *_metadata, struct _test_data_uf *self,
		       const FIXTURE_VARIANT(uf) *variant, enum ev_action action)
{
	static const __u64 features[] = {
		[EV_REMOVE] = UFFD_FEATURE_EVENT_REMOVE,
		[EV_UNMAP] = UFFD_FEATURE_EVENT_UNMAP,
		[EV_REMAP] = UFFD_FEATURE_EVENT_REMAP,
		[EV_FORK] = UFFD_FEATURE_EVENT_FORK,
	};
	static const __u8 events[] = {
		[EV_REMOVE] = UFFD_EVENT_REMOVE,
		[EV_UNMAP] = UFFD_EVENT_UNMAP,
		[EV_REMAP] = UFFD_EVENT_REMAP,
		[EV_FORK] = UFFD_EVENT_FORK,
	};
	size_t pg = self->page;
	struct inl_counters c0, c1;
	struct io_uring_cqe cqe;
	struct actor *a = &self->act;
	struct uffd_msg m;
	char path[64], link[128];
	ssize_t n;
	int ret, ufd;

	ret = uffd_new(O_CLOEXEC | O_NONBLOCK);
	ASSERT_LE(0, ret) TH_LOG("userfaultfd: %s", strerror(-ret));
	self->uffd2 = ret;
	ret = uffd_api(self->uffd2, features[action]);
	if (ret == -EINVAL || ret == -EPERM)
		SKIP(return, "UFFD_FEATURE %#llx: %s", (unsigned long long)features[action],
		     strerror(-ret));
	ASSERT_EQ(0, ret) TH_LOG("UFFDIO_API: %s", strerror(-ret));
	self->area2_len = 4 * pg;
	self->area2 = uffd_area(_metadata, self->uffd2, self->area2_len);
	if (action == EV_REMAP) {
		self->target = mmap(NULL, 2 * pg, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		ASSERT_NE(MAP_FAILED, self->target);
	}

	counters(_metadata, self, variant, &c0);
	queue_read(_metadata, self, self->uffd2, 0, MSG, UD_READ);
	submit_n(_metadata, &self->ring, 1);
	assert_no_cqe(_metadata, &self->ring);
	counters(_metadata, self, variant, &c1);
	if (variant->inline_read)
		ASSERT_EQ((unsigned long long)c0.armed + 1, (unsigned long long)c1.armed);

	memset(a, 0, sizeof(*a));
	a->action = action;
	a->child = -1;
	switch (action) {
	case EV_REMOVE:
		a->addr = self->area2 + pg;
		a->len = 2 * pg;
		break;
	case EV_UNMAP:
		a->addr = self->area2 + pg;
		a->len = pg;
		break;
	case EV_REMAP:
		a->addr = self->area2;
		a->len = 2 * pg;
		a->target = self->target;
		break;
	case EV_FORK:
	case ACT_WRITE:
		break;
	}
	ret = pthread_create(&a->th, NULL, actor_fn, a);
	ASSERT_EQ(0, ret) TH_LOG("pthread_create: %s", strerror(ret));
	a->running = true;

	reap_cqe(_metadata, &self->ring, &cqe);
	ASSERT_EQ(UD_READ, cqe.user_data);
	ASSERT_EQ(MSG, cqe.res) TH_LOG("read res %d", cqe.res);
	m = get_msg(slot_buf(self, 0));
	ASSERT_EQ(events[action], m.event) TH_LOG("event %#x", m.event);
	switch (action) {
	case EV_REMOVE:
	case EV_UNMAP:
		ASSERT_EQ((unsigned long long)(uintptr_t)a->addr,
			  (unsigned long long)m.arg.remove.start);
		ASSERT_EQ((unsigned long long)(uintptr_t)(a->addr + a->len),
			  (unsigned long long)m.arg.remove.end);
		break;
	case EV_REMAP:
		ASSERT_EQ((unsigned long long)(uintptr_t)a->addr,
			  (unsigned long long)m.arg.remap.from);
		ASSERT_EQ((unsigned long long)(uintptr_t)a->target,
			  (unsigned long long)m.arg.remap.to);
		ASSERT_EQ((unsigned long long)a->len, (unsigned long long)m.arg.remap.len);
		break;
	case EV_FORK:
		/* The new userfaultfd was installed in this (the reader's) file table. */
		ufd = m.arg.fork.ufd;
		ret = fcntl(ufd, F_GETFD);
		ASSERT_NE(-1, ret) TH_LOG("fork event fd %d: %s", ufd, strerror(errno));
		ASSERT_TRUE(ret & FD_CLOEXEC) TH_LOG("the new userfaultfd lost O_CLOEXEC");
		snprintf(path, sizeof(path), "/proc/self/fd/%d", ufd);
		n = readlink(path, link, sizeof(link) - 1);
		ASSERT_LT(0, n) TH_LOG("readlink %s: %s", path, strerror(errno));
		link[n] = 0;
		ASSERT_NE(NULL, strstr(link, "userfaultfd")) TH_LOG("fd %d is %s", ufd, link);
		ASSERT_EQ(0, close(ufd));
		break;
	case ACT_WRITE:
		break;
	}

	/* The event was read: the thread that sent it goes on. */
	ret = timed_join(a->th, COMPLETE_MS);
	ASSERT_EQ(0, ret) TH_LOG("the event's sender still waits after %d ms", COMPLETE_MS);
	a->running = false;
	ASSERT_EQ(0, a->ret) TH_LOG("event action %d: %s", action,
				    a->ret == -1 ? strerror(a->err) : "moved elsewhere");
	if (action == EV_FORK) {
		ASSERT_EQ(0, a->wait_ret) TH_LOG("the forked child did not exit");
		ASSERT_TRUE(WIFEXITED(a->status));
		ASSERT_EQ(0, WEXITSTATUS(a->status));
	}
	assert_no_cqe(_metadata, &self->ring);

	wait_pinned(_metadata, self->ring.fd, variant->inline_read, c0.pinned);
	counters(_metadata, self, variant, &c1);
	if (variant->inline_read) {
		ASSERT_EQ((unsigned long long)c0.fallback + 1, (unsigned long long)c1.fallback)
			TH_LOG("the event did not hand the read to the stock path");
		ASSERT_EQ((unsigned long long)c0.completed, (unsigned long long)c1.completed)
			TH_LOG("an event was delivered inline");
		check_balance(_metadata, &c0, &c1);
	}
}

/* UFFD_EVENT_REMOVE: madvise(MADV_DONTNEED) on the registered range. */
TEST_F(uf, event_remove)
{
	event_case(_metadata, self, variant, EV_REMOVE);
}

/* UFFD_EVENT_UNMAP: munmap() of part of the registered range. */
TEST_F(uf, event_unmap)
{
	event_case(_metadata, self, variant, EV_UNMAP);
}

/* UFFD_EVENT_REMAP: mremap() of part of the registered range. */
TEST_F(uf, event_remap)
{
	event_case(_metadata, self, variant, EV_REMAP);
}

/* UFFD_EVENT_FORK: the new userfaultfd lands in the reader's file table. */
TEST_F(uf, event_fork)
{
	event_case(_metadata, self, variant, EV_FORK);
}

/*
 * Who the faulting task is decides the path. A fault taken in kernel mode
 * by an ordinary task (write(2) to a pipe from a missing page: the fault
 * comes from copy_from_user() with the pipe's mutex held) is delivered
 * inline like any other. A fault taken by an io-wq worker (a write with
 * IOSQE_ASYNC, from a second ring) is not: such wakers hand the pending read
 * back to the stock path (InlineReadFallback), which delivers the message
 * from the submitter's task work. Either way, once resolved, the write
 * completes with the page's contents.
 */
static void write_fault(struct __test_metadata *_metadata, struct _test_data_uf *self,
			const FIXTURE_VARIANT(uf) *variant, bool io_wq)
{
	const unsigned int idx = io_wq ? 42 : 40, len = 64;
	struct inl_counters c0, c1;
	struct io_uring_cqe cqe;
	struct io_uring_sqe *sqe;
	struct actor *a = &self->act;
	char out[64];
	int ret, i;

	ASSERT_EQ(0, pipe(self->pfd));
	if (io_wq) {
		ret = iou_setup(&self->ring2, 4, 0);
		ASSERT_EQ(0, ret) TH_LOG("io_uring_setup: %s", strerror(-ret));
	}
	counters(_metadata, self, variant, &c0);
	queue_read(_metadata, self, self->uffd, 0, MSG, UD_READ);
	submit_n(_metadata, &self->ring, 1);
	assert_no_cqe(_metadata, &self->ring);

	if (io_wq) {
		sqe = get_sqe(_metadata, &self->ring2);
		iou_prep_write(sqe, self->pfd[1], page_addr(self, idx), len, IOU_POS_CUR,
			       UD_READ + 1);
		sqe->flags |= IOSQE_ASYNC;
		submit_n(_metadata, &self->ring2, 1);
	} else {
		memset(a, 0, sizeof(*a));
		a->action = ACT_WRITE;
		a->child = -1;
		a->fd = self->pfd[1];
		a->addr = page_addr(self, idx);
		a->len = len;
		ret = pthread_create(&a->th, NULL, actor_fn, a);
		ASSERT_EQ(0, ret) TH_LOG("pthread_create: %s", strerror(ret));
		a->running = true;
	}

	reap_cqe(_metadata, &self->ring, &cqe);
	ASSERT_EQ(UD_READ, cqe.user_data);
	ASSERT_EQ(MSG, cqe.res) TH_LOG("read res %d", cqe.res);
	check_fault_msg(_metadata, slot_buf(self, 0), page_addr(self, idx), self->page, 0);
	check_faults(_metadata, self->uffd, 0, 1);
	resolve(_metadata, self, idx);

	if (io_wq) {
		reap_cqe(_metadata, &self->ring2, &cqe);
		ASSERT_EQ((int)len, cqe.res) TH_LOG("write res %d", cqe.res);
	} else {
		ret = timed_join(a->th, COMPLETE_MS);
		ASSERT_EQ(0, ret) TH_LOG("write(2) still blocked after %d ms", COMPLETE_MS);
		a->running = false;
		ASSERT_EQ((long)len, a->ret) TH_LOG("write: %s", strerror(a->err));
	}
	ASSERT_EQ((ssize_t)len, read(self->pfd[0], out, len));
	for (i = 0; i < (int)len; i++)
		ASSERT_EQ((char)pat(idx, i), out[i]) TH_LOG("byte %d written wrong", i);
	check_faults(_metadata, self->uffd, 0, 0);
	assert_no_cqe(_metadata, &self->ring);

	wait_pinned(_metadata, self->ring.fd, variant->inline_read, c0.pinned);
	counters(_metadata, self, variant, &c1);
	if (variant->inline_read) {
		ASSERT_EQ((unsigned long long)c0.completed + !io_wq,
			  (unsigned long long)c1.completed)
			TH_LOG("InlineReadCompleted: %llu, before %llu",
			       (unsigned long long)c1.completed,
			       (unsigned long long)c0.completed);
		ASSERT_EQ((unsigned long long)c0.fallback + io_wq, (unsigned long long)c1.fallback)
			TH_LOG("InlineReadFallback: %llu, before %llu",
			       (unsigned long long)c1.fallback, (unsigned long long)c0.fallback);
		check_balance(_metadata, &c0, &c1);
	}
}

TEST_F(uf, kernel_mode_fault)
{
	write_fault(_metadata, self, variant, false);
}

TEST_F(uf, io_worker_fault_takes_stock_path)
{
	write_fault(_metadata, self, variant, true);
}

/*
 * Write-protect and minor faults take the same path as missing ones: with
 * the flag the faulting task, before it sleeps, delivers the message to the
 * pending read (stock, the submitter's task work reads it), and the fault is
 * then resolved as after read(2). Each test uses a userfaultfd of its own
 * (uffd2: UFFDIO_API cannot add features to the fixture's one), which it
 * closes itself; after a failure the teardown closes it, which releases a
 * thread still blocked in the fault.
 */

/* @p holds a page fault's message for the page at @page_addr, by @tid, with @flags. */
static void check_pf_msg(struct __test_metadata *_metadata, const char *p,
			 const char *page_addr, size_t page, pid_t tid, __u64 flags)
{
	const __u64 known = UFFD_PAGEFAULT_FLAG_WRITE | UFFD_PAGEFAULT_FLAG_WP |
			    UFFD_PAGEFAULT_FLAG_MINOR;
	struct uffd_msg m = get_msg(p);

	ASSERT_EQ(UFFD_EVENT_PAGEFAULT, m.event) TH_LOG("event %#x", m.event);
	ASSERT_EQ((unsigned long long)(uintptr_t)page_addr,
		  (unsigned long long)(m.arg.pagefault.address & ~(__u64)(page - 1)))
		TH_LOG("fault address %#llx", (unsigned long long)m.arg.pagefault.address);
	ASSERT_EQ((unsigned long long)flags,
		  (unsigned long long)(m.arg.pagefault.flags & known))
		TH_LOG("fault flags %#llx", (unsigned long long)m.arg.pagefault.flags);
	ASSERT_EQ((unsigned int)tid, (unsigned int)m.arg.pagefault.feat.ptid);
}

/* Submit a 32-byte read of uffd2 into slot 0; it stays pending (armed inline, with the flag). */
static void arm_uffd2_read(struct __test_metadata *_metadata, struct _test_data_uf *self,
			   const FIXTURE_VARIANT(uf) *variant, struct inl_counters *c0)
{
	struct inl_counters c1;

	check_faults(_metadata, self->uffd2, 0, 0);
	counters(_metadata, self, variant, c0);
	queue_read(_metadata, self, self->uffd2, 0, MSG, UD_READ);
	submit_n(_metadata, &self->ring, 1);
	assert_no_cqe(_metadata, &self->ring);
	check_fill(_metadata, self->buf, self->page);
	counters(_metadata, self, variant, &c1);
	if (variant->inline_read)
		ASSERT_EQ((unsigned long long)c0->armed + 1, (unsigned long long)c1.armed)
			TH_LOG("the read did not arm inline");
}

/*
 * The pending read completes with the message of f[0]'s fault on
 * @fault_page, carrying @flags; the thread stays blocked (the fault was
 * read, not resolved).
 */
static void reap_uffd2_fault(struct __test_metadata *_metadata, struct _test_data_uf *self,
			     char *fault_page, __u64 flags)
{
	struct io_uring_cqe cqe;

	reap_cqe(_metadata, &self->ring, &cqe);
	ASSERT_EQ(UD_READ, cqe.user_data);
	ASSERT_EQ(MSG, cqe.res) TH_LOG("read res %d", cqe.res);
	check_pf_msg(_metadata, slot_buf(self, 0), fault_page, self->page,
		     __atomic_load_n(&self->f[0].tid, __ATOMIC_ACQUIRE), flags);
	check_fill(_metadata, slot_buf(self, 0) + MSG, self->page - MSG);
	check_faults(_metadata, self->uffd2, 0, 1);
	ASSERT_EQ(0U, faulter_done(&self->f[0])) TH_LOG("the fault ended unresolved");
}

/*
 * Once the fault is resolved and f[0] joined: nothing else pending, and with
 * the flag exactly one read completed inline (none handed back). Closes uffd2.
 */
static void finish_uffd2(struct __test_metadata *_metadata, struct _test_data_uf *self,
			 const FIXTURE_VARIANT(uf) *variant, const struct inl_counters *c0)
{
	struct inl_counters c1;

	check_faults(_metadata, self->uffd2, 0, 0);
	assert_no_cqe(_metadata, &self->ring);
	wait_pinned(_metadata, self->ring.fd, variant->inline_read, c0->pinned);
	counters(_metadata, self, variant, &c1);
	if (variant->inline_read) {
		ASSERT_EQ((unsigned long long)c0->completed + 1, (unsigned long long)c1.completed)
			TH_LOG("InlineReadCompleted: %llu, before %llu",
			       (unsigned long long)c1.completed,
			       (unsigned long long)c0->completed);
		ASSERT_EQ((unsigned long long)c0->fallback, (unsigned long long)c1.fallback);
		check_balance(_metadata, c0, &c1);
	}
	ASSERT_EQ(0, close(self->uffd2));
	self->uffd2 = -1;
}

/*
 * Write-protect faults: a private anonymous area, populated, registered for
 * write-protect faults (UFFD_FEATURE_PAGEFAULT_FLAG_WP) and protected with
 * UFFDIO_WRITEPROTECT. A thread writing page 1 blocks; the pending read gets
 * its message (UFFD_PAGEFAULT_FLAG_WP and _WRITE); removing the protection
 * (UFFDIO_WRITEPROTECT without _MODE_WP, which wakes the writer) resolves
 * the fault: the write goes through and is seen; the other pages keep their
 * contents.
 */
#define WP_PAGES	4
TEST_F(uf, wp_fault_inline)
{
	const unsigned int idx = 1;
	size_t pg = self->page, off;
	struct inl_counters c0;
	__u64 ioctls = 0;
	char *page;
	int ret;

	ret = uffd_new(O_CLOEXEC | O_NONBLOCK);
	ASSERT_LE(0, ret) TH_LOG("userfaultfd: %s", strerror(-ret));
	self->uffd2 = ret;
	ret = uffd_api(self->uffd2, UFFD_FEATURE_PAGEFAULT_FLAG_WP | UFFD_FEATURE_THREAD_ID);
	if (ret == -EINVAL)
		SKIP(return, "UFFD_FEATURE_PAGEFAULT_FLAG_WP refused: %s", strerror(-ret));
	ASSERT_EQ(0, ret) TH_LOG("UFFDIO_API: %s", strerror(-ret));

	self->area2_len = WP_PAGES * pg;
	self->area2 = mmap(NULL, self->area2_len, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, self->area2);
	/* One fault per small page; fails harmlessly without THP. */
	madvise(self->area2, self->area2_len, MADV_NOHUGEPAGE);
	page = self->area2 + idx * pg;
	/* Populated first: the write is a write-protect fault, not a missing one. */
	memset(self->area2, FILL, self->area2_len);
	ret = uffd_register_mode(self->uffd2, self->area2, self->area2_len,
				 UFFDIO_REGISTER_MODE_WP, &ioctls);
	if (ret == -EINVAL)
		SKIP(return, "UFFDIO_REGISTER_MODE_WP refused: %s", strerror(-ret));
	ASSERT_EQ(0, ret) TH_LOG("UFFDIO_REGISTER: %s", strerror(-ret));
	ASSERT_NE(0ULL, (unsigned long long)(ioctls & (1ULL << _UFFDIO_WRITEPROTECT)))
		TH_LOG("UFFDIO_WRITEPROTECT not allowed on the range (ioctls %#llx)",
		       (unsigned long long)ioctls);
	ret = uffd_writeprotect(self->uffd2, self->area2, self->area2_len,
				UFFDIO_WRITEPROTECT_MODE_WP);
	ASSERT_EQ(0, ret) TH_LOG("UFFDIO_WRITEPROTECT: %s", strerror(-ret));

	arm_uffd2_read(_metadata, self, variant, &c0);
	start_writer(_metadata, &self->f[0], self->area2, pg, idx);
	reap_uffd2_fault(_metadata, self, page,
			 UFFD_PAGEFAULT_FLAG_WP | UFFD_PAGEFAULT_FLAG_WRITE);
	/* The protection is still there: nothing was written. */
	check_fill(_metadata, self->area2, self->area2_len);

	/* Unprotect the page; without _MODE_DONTWAKE that wakes the writer. */
	ret = uffd_writeprotect(self->uffd2, page, pg, 0);
	ASSERT_EQ(0, ret) TH_LOG("UFFDIO_WRITEPROTECT (unprotect): %s", strerror(-ret));
	join_faulter(_metadata, &self->f[0], COMPLETE_MS);
	for (off = 0; off < pg; off++)
		ASSERT_EQ((char)pat(idx, off), page[off]) TH_LOG("byte %zu not written", off);
	check_fill(_metadata, self->area2, idx * pg);
	check_fill(_metadata, page + pg, self->area2_len - (idx + 1) * pg);

	finish_uffd2(_metadata, self, variant, &c0);
}

/*
 * Minor faults on shmem: a one-page memfd, its page cache filled through a
 * first mapping, mapped a second time and that mapping registered for minor
 * faults (UFFD_FEATURE_MINOR_SHMEM). A thread reading the second mapping
 * blocks (the page is cached but not mapped there); the pending read gets
 * its message (UFFD_PAGEFAULT_FLAG_MINOR only); UFFDIO_CONTINUE maps the
 * cached page and wakes the thread, which sees the pattern.
 */
TEST_F(uf, minor_fault_inline)
{
	size_t pg = self->page;
	struct inl_counters c0;
	__u64 ioctls = 0;
	int fd, ret;

	fd = memfd_create("uffd_minor", MFD_CLOEXEC);
	ASSERT_LE(0, fd) TH_LOG("memfd_create: %s", strerror(errno));
	self->pfd[0] = fd;	/* closed by the teardown */
	ASSERT_EQ(0, ftruncate(fd, pg)) TH_LOG("ftruncate: %s", strerror(errno));
	self->shm = mmap(NULL, pg, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ASSERT_NE(MAP_FAILED, self->shm) TH_LOG("mmap memfd: %s", strerror(errno));
	/* Page 0's pattern (the second mapping is a one-page area). */
	fill_page(self->shm, 0, pg);

	ret = uffd_new(O_CLOEXEC | O_NONBLOCK);
	ASSERT_LE(0, ret) TH_LOG("userfaultfd: %s", strerror(-ret));
	self->uffd2 = ret;
	ret = uffd_api(self->uffd2, UFFD_FEATURE_MINOR_SHMEM | UFFD_FEATURE_THREAD_ID);
	if (ret == -EINVAL)
		SKIP(return, "UFFD_FEATURE_MINOR_SHMEM refused: %s", strerror(-ret));
	ASSERT_EQ(0, ret) TH_LOG("UFFDIO_API: %s", strerror(-ret));

	self->area2_len = pg;
	self->area2 = mmap(NULL, pg, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ASSERT_NE(MAP_FAILED, self->area2) TH_LOG("mmap memfd: %s", strerror(errno));
	ret = uffd_register_mode(self->uffd2, self->area2, pg, UFFDIO_REGISTER_MODE_MINOR,
				 &ioctls);
	if (ret == -EINVAL)
		SKIP(return, "UFFDIO_REGISTER_MODE_MINOR refused: %s", strerror(-ret));
	ASSERT_EQ(0, ret) TH_LOG("UFFDIO_REGISTER: %s", strerror(-ret));
	ASSERT_NE(0ULL, (unsigned long long)(ioctls & (1ULL << _UFFDIO_CONTINUE)))
		TH_LOG("UFFDIO_CONTINUE not allowed on the range (ioctls %#llx)",
		       (unsigned long long)ioctls);

	arm_uffd2_read(_metadata, self, variant, &c0);
	start_faulter(_metadata, &self->f[0], self->area2, pg, 0, 1, false);
	reap_uffd2_fault(_metadata, self, self->area2, UFFD_PAGEFAULT_FLAG_MINOR);

	ret = uffd_continue(self->uffd2, self->area2, pg);
	ASSERT_EQ(0, ret) TH_LOG("UFFDIO_CONTINUE: %s", strerror(-ret));
	/* The thread checks that it read the pattern. */
	join_faulter(_metadata, &self->f[0], COMPLETE_MS);
	check_bytes(_metadata, self->area2, self->shm, pg);

	finish_uffd2(_metadata, self, variant, &c0);
}

/*
 * What posting a CQE sets off runs in the faulting task too, whose task
 * state is already set (nothing there may sleep; the debug kernel checks):
 * the ring has a CQ eventfd registered and a timeout that completes after
 * one other CQE (a count-based IORING_OP_TIMEOUT, flushed when the CQ is
 * committed). The fault's CQE completes the timeout (res 0, not -ETIME)
 * and signals the eventfd.
 */
/*
 * Pending task work does not fail a nonblocking read of a userfaultfd. On a
 * plain ring, a write that wakes a stock pipe read queues task work to the
 * submitter with TWA_SIGNAL, which sets TIF_NOTIFY_SIGNAL; a uffd read
 * issued right after it, in the same submission, used to see
 * signal_pending() and fail with -EINTR (userfaultfd_ctx_read() checked
 * signals before no_wait). It must wait for a fault instead. On the other
 * variants nothing sets the flag (the pipe read is completed inline, or the
 * task work is local): there the test only checks the same outcome.
 */
TEST_F(uf, read_with_task_work_pending)
{
	struct io_uring_cqe cqes[2], cqe;
	char pbuf[8], byte = 'x';
	int fds[2], i;

	ASSERT_EQ(0, pipe(fds));
	self->pfd[0] = fds[0];	/* both closed by the teardown */
	self->pfd[1] = fds[1];
	iou_prep_read(get_sqe(_metadata, &self->ring), fds[0], pbuf, sizeof(pbuf), IOU_POS_CUR,
		      UD_READ + 1);
	submit_n(_metadata, &self->ring, 1);
	assert_no_cqe(_metadata, &self->ring);

	iou_prep_write(get_sqe(_metadata, &self->ring), fds[1], &byte, 1, IOU_POS_CUR,
		       UD_READ + 2);
	queue_read(_metadata, self, self->uffd, 0, MSG, UD_READ);
	submit_n(_metadata, &self->ring, 2);
	reap_n(_metadata, &self->ring, cqes, 2);
	for (i = 0; i < 2; i++) {
		ASSERT_NE(UD_READ, cqes[i].user_data)
			TH_LOG("uffd read done at submission: %d (pending task work?)",
			       cqes[i].res);
	}
	ASSERT_EQ(1, cqe_res(_metadata, cqes, 2, UD_READ + 1));
	ASSERT_EQ(1, cqe_res(_metadata, cqes, 2, UD_READ + 2));
	ASSERT_EQ(byte, pbuf[0]);
	assert_no_cqe(_metadata, &self->ring);

	start_faulter(_metadata, &self->f[0], self->area, self->page, 45, 1, false);
	reap_cqe(_metadata, &self->ring, &cqe);
	ASSERT_EQ(UD_READ, cqe.user_data);
	ASSERT_EQ(MSG, cqe.res) TH_LOG("read res %d", cqe.res);
	check_msg(_metadata, self, slot_buf(self, 0), 45, &self->f[0]);
	resolve(_metadata, self, 45);
	join_faulter(_metadata, &self->f[0], COMPLETE_MS);
	assert_no_cqe(_metadata, &self->ring);
}

TEST_F(uf, fault_flushes_timeout_and_eventfd)
{
	struct __kernel_timespec ts = { .tv_sec = 60 };
	struct inl_counters c0, c1;
	struct io_uring_cqe cqes[2];
	struct io_uring_sqe *sqe;
	uint64_t cnt = 0;
	int efd, ret;

	efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	ASSERT_LE(0, efd) TH_LOG("eventfd: %s", strerror(errno));
	self->pfd[0] = efd;	/* closed by the teardown */
	ret = iou_sys_register(self->ring.fd, IORING_REGISTER_EVENTFD, &efd, 1);
	ASSERT_EQ(0, ret) TH_LOG("IORING_REGISTER_EVENTFD: %s", strerror(-ret));

	counters(_metadata, self, variant, &c0);
	sqe = get_sqe(_metadata, &self->ring);
	iou_prep_rw(sqe, IORING_OP_TIMEOUT, -1, (uintptr_t)&ts, 1, 1, UD_READ + 1);
	queue_read(_metadata, self, self->uffd, 0, MSG, UD_READ);
	submit_n(_metadata, &self->ring, 2);
	assert_no_cqe(_metadata, &self->ring);
	ASSERT_EQ(-1, read(efd, &cnt, sizeof(cnt)));
	ASSERT_EQ(EAGAIN, errno) TH_LOG("the eventfd was signalled early");

	start_faulter(_metadata, &self->f[0], self->area, self->page, 44, 1, false);
	reap_n(_metadata, &self->ring, cqes, 2);
	ASSERT_EQ(MSG, cqe_res(_metadata, cqes, 2, UD_READ));
	ASSERT_EQ(0, cqe_res(_metadata, cqes, 2, UD_READ + 1))
		TH_LOG("the timeout did not complete on the fault's CQE");
	check_msg(_metadata, self, slot_buf(self, 0), 44, &self->f[0]);
	ASSERT_EQ((ssize_t)sizeof(cnt), read(efd, &cnt, sizeof(cnt)))
		TH_LOG("the CQ eventfd was not signalled: %s", strerror(errno));
	ASSERT_LE(1ULL, (unsigned long long)cnt);
	resolve(_metadata, self, 44);
	join_faulter(_metadata, &self->f[0], COMPLETE_MS);
	assert_no_cqe(_metadata, &self->ring);

	wait_pinned(_metadata, self->ring.fd, variant->inline_read, c0.pinned);
	counters(_metadata, self, variant, &c1);
	if (variant->inline_read) {
		ASSERT_EQ((unsigned long long)c0.completed + 1, (unsigned long long)c1.completed);
		check_balance(_metadata, &c0, &c1);
	}
}

/*
 * Fault storm: STORM_THREADS threads fault on STORM_PAGES distinct pages
 * (each on its own pages, one after the other) while the test thread keeps
 * STORM_SLOTS reads of 32 to 128 bytes pending, cancels them at random
 * (at random times, sometimes in the same submission as the read) and
 * re-submits. Every read gets exactly one CQE; a read ends with -ECANCELED
 * exactly when a cancel of it returned 0 (stock: at least when); a cancel
 * that fails says -ENOENT or -EALREADY (the read was being completed; it may
 * also be re-armed, and is cancelled again later); a read that ends without
 * messages (-ECANCELED, or -EINTR: see storm_cqe()) wrote nothing. Every
 * page's message is received exactly once and resolved exactly once
 * (UFFDIO_COPY would fail with -EEXIST otherwise), every faulting thread
 * finishes, and nothing stays pinned.
 * Up to STORM_ROUNDS rounds ($UFFD_STORM_ROUNDS), the pages made missing
 * again with MADV_DONTNEED in between; no round starts after half of
 * $UFFD_STORM_MS, and all must end within it. Seed: $UFFD_SEED.
 */
#define STORM_THREADS	4
#define STORM_PER	(AREA_PAGES / STORM_THREADS)
#define STORM_PAGES	(STORM_THREADS * STORM_PER)
#define STORM_SLOTS	2
#define STORM_ROUNDS	4
#define STORM_MS	30000
#define STORM_READ	0x2000000000000000ULL	/* user_data tag of the reads */
#define STORM_CANCEL	0x4000000000000000ULL	/* and of the cancels */

struct storm_slot {
	bool busy;		/* a read of this slot has not ended yet */
	__u64 gen;		/* its generation (in its user_data) */
	unsigned int len;
	bool cancel_inflight;	/* a cancel of it has no CQE yet */
	bool cancel_sent;	/* it was the target of a cancel */
	bool cancel_ok;		/* a cancel of it returned 0 */
	bool read_done;
	int read_res;
	int last_cancel;	/* result of the latest cancel of it */
	unsigned int nr_cancels;
};

struct storm_stats {
	unsigned int reads, data_reads, msgs, max_msgs, cancelled, eintr, cancels, cancel_failed;
};

static void storm_cqe(struct __test_metadata *_metadata, struct _test_data_uf *self,
		      struct storm_slot *sl, const struct io_uring_cqe *cqe, unsigned char *seen,
		      unsigned int *resolved, struct storm_stats *st, unsigned int *seed,
		      bool inl)
{
	__u64 ud = cqe->user_data, gen = (ud & ~(STORM_READ | STORM_CANCEL)) >> 8;
	unsigned int s = ud & 0xff;
	struct storm_slot *r;
	int i, idx, res = cqe->res;

	ASSERT_LT(s, (unsigned int)STORM_SLOTS) TH_LOG("stray CQE %#llx", (unsigned long long)ud);
	r = &sl[s];
	ASSERT_TRUE(r->busy && r->gen == gen)
		TH_LOG("stray CQE %#llx res %d", (unsigned long long)ud, res);
	if (ud & STORM_CANCEL) {
		ASSERT_TRUE(r->cancel_inflight) TH_LOG("two CQEs for one cancel");
		r->cancel_inflight = false;
		r->last_cancel = res;
		if (!res) {
			r->cancel_ok = true;
		} else {
			ASSERT_TRUE(res == -ENOENT || res == -EALREADY)
				TH_LOG("cancel res %d", res);
			st->cancel_failed++;
		}
	} else {
		ASSERT_NE(0ULL, (unsigned long long)(ud & STORM_READ));
		ASSERT_FALSE(r->read_done) TH_LOG("two CQEs for one read");
		r->read_done = true;
		r->read_res = res;
		if (res > 0) {
			ASSERT_EQ(0, res % MSG) TH_LOG("read res %d", res);
			ASSERT_LE(res, (int)r->len) TH_LOG("read res %d", res);
			for (i = 0; i < res / MSG; i++) {
				struct uffd_msg m = get_msg(slot_buf(self, s) + i * MSG);

				idx = msg_page(&m, self->area, self->page, STORM_PAGES);
				ASSERT_LE(0, idx)
					TH_LOG("message %d: event %#x address %#llx", i, m.event,
					       (unsigned long long)m.arg.pagefault.address);
				ASSERT_EQ(0, seen[idx]) TH_LOG("message for page %d received twice",
							       idx);
				seen[idx] = 1;
				/* Sometimes a while later: more faults pile up meanwhile. */
				if (!(rand_r(seed) % 4))
					spin(rand_r(seed) % 20000);
				resolve(_metadata, self, idx);
				(*resolved)++;
			}
			check_fill(_metadata, slot_buf(self, s) + res, SLOT - res);
			st->data_reads++;
			st->msgs += res / MSG;
			if ((unsigned int)(res / MSG) > st->max_msgs)
				st->max_msgs = res / MSG;
		} else if (res == -EINTR) {
			/*
			 * ASSUMES (stock behaviour): userfaultfd_ctx_read() tests
			 * signal_pending() before O_NONBLOCK, and io_uring's own
			 * task_work notification (TIF_NOTIFY_SIGNAL, plain rings)
			 * counts: a read issued while the submitter has such
			 * task_work queued (a cancel's completion earlier in the
			 * same submission, a stock poll wake-up) fails with
			 * -EINTR, having taken nothing.
			 */
			check_fill(_metadata, slot_buf(self, s), SLOT);
			st->eintr++;
		} else {
			ASSERT_EQ(-ECANCELED, res) TH_LOG("read res %d", res);
			ASSERT_TRUE(r->cancel_sent) TH_LOG("read cancelled without a cancel");
			check_fill(_metadata, slot_buf(self, s), SLOT);
			st->cancelled++;
		}
	}
	if (r->read_done && !r->cancel_inflight) {
		/*
		 * A cancel that succeeded ended the read with -ECANCELED. With
		 * the flag the converse holds too: a read that wins the race
		 * against its cancel (-ENOENT, -EALREADY) completes with its
		 * messages. Stock, it may still end with -ECANCELED in io-wq
		 * (see pipe_inline.c's cancel_agrees()).
		 */
		if (r->cancel_ok)
			ASSERT_EQ(-ECANCELED, r->read_res)
				TH_LOG("a cancel succeeded, but the read ended with %d",
				       r->read_res);
		if (inl && r->read_res == -ECANCELED)
			ASSERT_TRUE(r->cancel_ok) TH_LOG("read cancelled, but no cancel succeeded");
		r->busy = false;
	}
}

static void storm_dump(struct __test_metadata *_metadata, const struct storm_slot *sl)
{
	unsigned int s;

	for (s = 0; s < STORM_SLOTS; s++)
		TH_LOG("slot %u: busy %d, done %d (%d), %u cancels (last %d%s)",
		       s, sl[s].busy, sl[s].read_done, sl[s].read_res, sl[s].nr_cancels,
		       sl[s].last_cancel, sl[s].cancel_inflight ? ", in flight" : "");
}

static void storm_cancel(struct __test_metadata *_metadata, struct _test_data_uf *self,
			 struct storm_slot *r, unsigned int s, struct storm_stats *st)
{
	iou_prep_cancel(get_sqe(_metadata, &self->ring), STORM_READ | (r->gen << 8) | s, 0,
			STORM_CANCEL | (r->gen << 8) | s);
	r->cancel_inflight = true;
	r->cancel_sent = true;
	r->nr_cancels++;
	st->cancels++;
}

TEST_F_TIMEOUT(uf, fault_storm, 120)
{
	unsigned int seed = env_ul("UFFD_SEED", (unsigned long)time(NULL) ^ getpid());
	unsigned long rounds = env_ul("UFFD_STORM_ROUNDS", STORM_ROUNDS);
	unsigned long max_ms = env_ul("UFFD_STORM_MS", STORM_MS);
	struct storm_slot sl[STORM_SLOTS];
	unsigned char seen[STORM_PAGES];
	struct storm_stats st = { 0 };
	struct inl_counters c0, c1;
	struct io_uring_cqe *cqe;
	unsigned int resolved, s, t, nsub;
	unsigned long round;
	__u64 gen = 0;
	__s64 deadline;
	bool busy;
	int ret;

	TH_LOG("seed %u (UFFD_SEED), %lu rounds (UFFD_STORM_ROUNDS) of %d faults",
	       seed, rounds, STORM_PAGES);
	TH_LOG("at most %lu ms (UFFD_STORM_MS)", max_ms);
	memset(sl, 0, sizeof(sl));
	counters(_metadata, self, variant, &c0);
	deadline = iou_now_ns() + max_ms * 1000000LL;

	for (round = 0; round < rounds; round++) {
		/* A slow kernel gets fewer rounds: none starts after half the time. */
		if (round && iou_now_ns() > deadline - (__s64)max_ms * 500000LL)
			break;
		memset(seen, 0, sizeof(seen));
		resolved = 0;
		if (round) {
			/* Every page missing again (no UFFD_FEATURE_EVENT_REMOVE: no event). */
			ASSERT_EQ(0, madvise(self->area, self->area_len, MADV_DONTNEED));
		}
		for (t = 0; t < STORM_THREADS; t++)
			start_faulter(_metadata, &self->f[t], self->area, self->page,
				      t * STORM_PER, STORM_PER, false);

		for (;;) {
			busy = false;
			for (s = 0; s < STORM_SLOTS; s++)
				busy |= sl[s].busy;
			if (resolved == STORM_PAGES && !busy)
				break;
			ASSERT_LT(iou_now_ns(), deadline) {
				unsigned int done = 0;

				for (t = 0; t < STORM_THREADS; t++)
					done += faulter_done(&self->f[t]);
				TH_LOG("round %lu: %u of %d pages resolved, %u read by the threads",
				       round, resolved, STORM_PAGES, done);
				storm_dump(_metadata, sl);
			}

			/* A read pending in every slot. */
			nsub = 0;
			for (s = 0; s < STORM_SLOTS && resolved < STORM_PAGES; s++) {
				struct storm_slot *r = &sl[s];

				if (r->busy)
					continue;
				memset(r, 0, sizeof(*r));
				r->busy = true;
				r->gen = ++gen;
				r->len = MSG * (1 + rand_r(&seed) % 4);
				memset(slot_buf(self, s), FILL, SLOT);
				queue_read(_metadata, self, self->uffd, s, r->len,
					   STORM_READ | (r->gen << 8) | s);
				nsub++;
				st.reads++;
				/* Now and then the cancel goes in the same submission. */
				if (!(rand_r(&seed) % 8)) {
					storm_cancel(_metadata, self, r, s, &st);
					nsub++;
				}
			}
			if (nsub)
				submit_n(_metadata, &self->ring, nsub);

			/*
			 * Faults complete pending reads meanwhile; resolving lets
			 * more come. Enter the kernel every round, even with a
			 * CQE ready (a cancel's, posted at submission): only that
			 * runs a DEFER_TASKRUN ring's task work (completions,
			 * retries), without which the cancels never find the read.
			 */
			ret = iou_get_events(&self->ring);
			ASSERT_TRUE(ret >= 0 || ret == -EINTR) TH_LOG("enter: %s", strerror(-ret));
			ret = iou_wait_nr(&self->ring, 1, 1 + rand_r(&seed) % 2);
			ASSERT_TRUE(!ret || ret == -ETIME) TH_LOG("wait: %s", strerror(-ret));
			while (!iou_peek_cqe(&self->ring, &cqe)) {
				storm_cqe(_metadata, self, sl, cqe, seen, &resolved, &st, &seed,
					  variant->inline_read);
				iou_cqe_seen(&self->ring);
			}

			/* Cancel reads still pending: at random, and at the end what is left. */
			nsub = 0;
			for (s = 0; s < STORM_SLOTS; s++) {
				struct storm_slot *r = &sl[s];

				if (!r->busy || r->read_done || r->cancel_inflight ||
				    r->cancel_ok)
					continue;
				if (resolved < STORM_PAGES && rand_r(&seed) % 3)
					continue;
				spin(rand_r(&seed) % 4000);
				storm_cancel(_metadata, self, r, s, &st);
				nsub++;
			}
			if (nsub)
				submit_n(_metadata, &self->ring, nsub);
		}

		for (t = 0; t < STORM_THREADS; t++)
			join_faulter(_metadata, &self->f[t], COMPLETE_MS);
		for (t = 0; t < STORM_PAGES; t++)
			ASSERT_EQ(1, seen[t]) TH_LOG("round %lu, page %u: no message", round, t);
		check_faults(_metadata, self->uffd, 0, 0);
	}
	assert_no_cqe(_metadata, &self->ring);

	wait_pinned(_metadata, self->ring.fd, variant->inline_read, c0.pinned);
	counters(_metadata, self, variant, &c1);
	TH_LOG("%lu rounds; %u reads: %u with %u messages (up to %u in one)",
	       round, st.reads, st.data_reads, st.msgs, st.max_msgs);
	TH_LOG("%u reads cancelled, %u got -EINTR", st.cancelled, st.eintr);
	TH_LOG("%u cancels, %u failed", st.cancels, st.cancel_failed);
	if (variant->inline_read) {
		TH_LOG("inline: armed %llu, completed %llu, fallback %llu, cancelled %llu",
		       (unsigned long long)(c1.armed - c0.armed),
		       (unsigned long long)(c1.completed - c0.completed),
		       (unsigned long long)(c1.fallback - c0.fallback),
		       (unsigned long long)(c1.cancelled - c0.cancelled));
		ASSERT_EQ(0ULL, (unsigned long long)c1.pinned);
		check_balance(_metadata, &c0, &c1);
	}
}

TEST_HARNESS_MAIN
