// SPDX-License-Identifier: GPL-2.0
/*
 * io_uring reads of signalfds completed in the sender's context
 * (IORING_SETUP_INLINE_READ).
 *
 * On a ring created with IORING_SETUP_INLINE_READ, a READ, READV or
 * READ_FIXED of a signalfd that finds no signal waits inline on the
 * submitter's signalfd wait queue. When a user task then sends a signal
 * with kill(2), tgkill(2), rt_sigqueueinfo(2) (sigqueue(3)),
 * rt_tgsigqueueinfo(2) or pidfd_send_signal(2), that system call, once the
 * signal is queued and before it returns, dequeues signals from the
 * *reader's* pending sets (the submitting thread's own first, then its
 * process's), as the reader's read(2) would and as many struct
 * signalfd_siginfo as fit, copies them into the reader's buffer (pinned at
 * submission) and posts the CQE; on DEFER_TASKRUN rings the CQE appears
 * once the reader runs its task work. Signals sent from interrupts (itimers,
 * POSIX timers), by io-wq workers or as a side effect of another system call
 * (SIGIO for a pipe write) take the stock path: task_work to the reader
 * (InlineReadFallback). Without the flag the kernel
 * behaves as stock: the wake-up queues task_work to the submitter, which
 * redoes the read in its own context.
 *
 * The reader is the task that submitted the read. On an SQPOLL ring that is
 * the ring's SQ thread (iou-sqp-<pid>), a thread of the process that created
 * the ring: there, thread-directed senders aim at that thread, with or
 * without the flag.
 *
 * Fixtures:
 *  - stopped: the proof. A forked reader creates the signalfd and a ring of
 *    its own (so that an SQPOLL ring's SQ thread is its thread, and stops
 *    with it), arms a read and stops itself with SIGSTOP. The parent takes
 *    the ring's fd with pidfd_getfd(2), maps the ring, sends the signal with
 *    each sender and, while the reader is stopped, inspects the shared CQ
 *    ring, the buffer (MAP_SHARED) and the reader's pending signals
 *    (/proc/<pid>/task/<tid>/status). Runs on rings with and without the
 *    flag.
 *  - sfd: semantics (signals sent before the read, self-sent signals, FIFO
 *    among pending reads, several signals per read, queue order and
 *    payloads, signals outside the mask or for another thread, timer and
 *    SIGIO senders, short buffers, every cancel selector, closing the
 *    signalfd or the ring, reader exit and exec, a race of senders and
 *    cancels with exact accounting) on plain and DEFER_TASKRUN rings, with
 *    and without the flag. The variants without the flag run on any kernel
 *    and must behave as stock.
 *
 * Real-time signals are used throughout: they queue (are never merged), are
 * dequeued lowest number first and, for one number, in the order they were
 * sent, and carry a payload (si_int/si_ptr) that tells them apart. Every
 * signal a test sends is accounted for: read by exactly one CQE's buffer,
 * or still pending at the end, where sigtimedwait(2) takes it.
 *
 * The race test stops after RACE_SENDS signals or RACE_MS of wall time,
 * which $IOU_RACE_ITERS and $IOU_RACE_MS override; $IOU_SEED (logged) sets
 * the seed.
 *
 * Needs CONFIG_SIGNALFD, CONFIG_POSIX_TIMERS and, for pidfd_getfd(2), the
 * right to ptrace the reader (its parent, root in the test guest).
 *
 * Tests of the feature SKIP when the kernel does not report
 * IORING_FEAT_INLINE_READ. Every wait is bounded, so a broken kernel fails a
 * test instead of hanging the run; forked helpers and threads never use
 * ASSERT_*(): they report through exit codes or shared memory. Assumptions
 * about semantics the series does not spell out are marked "ASSUMES:".
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <sys/wait.h>

#include "../kselftest_harness.h"
#include "inline_test.h"

#ifndef __NR_pidfd_send_signal
#define __NR_pidfd_send_signal	424
#endif

#define RING_ENTRIES		32
/* How long a stopped reader is watched for a CQE that must not appear. */
#define STOPPED_MS		200
/* When the stopped reader's POSIX timer fires, after the reader armed it. */
#define STOPPED_TIMER_MS	500
/* When the sfd fixture's timers fire, after the read went pending. */
#define TIMER_MS		20

#define FILL			0xaa
/* One signal, as a signalfd read returns it. */
#define SI_LEN			((int)sizeof(struct signalfd_siginfo))
/* Per-read slot in the sfd fixture's buffer: room for SLOT_SIS signals. */
#define SLOT_SIS		4
#define SLOT			(SLOT_SIS * SI_LEN)
#define NR_SLOTS		8

/* The stopped proof's payload: every byte differs. */
#define PROOF_PTR		0x1122334455667788ULL
/* The POSIX timers' payload. */
#define TIMER_VAL		0x5eed

#define UD_READ			0x1000ULL
#define UD_CANCEL		0x2000ULL
#define UD_WRITE		0x3000ULL

/*
 * The signals: every one is blocked in the test process (and so in its
 * threads and children), all but SIG_OFF are in the signalfds' mask.
 * SIG_A < SIG_B < SIG_T: a read takes them in that order.
 */
#define SIG_A			(SIGRTMIN + 1)
#define SIG_B			(SIGRTMIN + 2)
#define SIG_T			(SIGRTMIN + 3)	/* POSIX timers */
#define SIG_IO			(SIGRTMIN + 4)	/* F_SETSIG */
#define SIG_OFF			(SIGRTMIN + 5)	/* blocked, not in the mask */

/* argv[1] of this program re-executed by a reader with a read pending. */
#define EXEC_ARG		"--exec-reader"

/* Exit codes of forked helpers: nothing in a child may use ASSERT_*(). */
enum {
	CHILD_OK,
	CHILD_SETUP = 10,	/* prctl(), signalfd(), setting up or registering failed */
	CHILD_SUBMIT,		/* io_uring_enter() did not submit the request(s) */
	CHILD_EARLY_CQE,	/* a CQE appeared before any signal was sent */
	CHILD_NO_CQE,		/* the expected CQE did not appear in time */
	CHILD_SEND,		/* sending a signal failed */
	CHILD_EXEC,		/* execve() failed */
	CHILD_NO_SIGNAL,	/* the re-executed reader found no signal pending */
	CHILD_BAD_SIGNAL,	/* ...or another one than was sent */
};

static const char *child_error(int code)
{
	switch (code) {
	case CHILD_OK:
		return "ok";
	case CHILD_SETUP:
		return "setting up (prctl, signalfd, ring, register) failed";
	case CHILD_SUBMIT:
		return "submission failed";
	case CHILD_EARLY_CQE:
		return "CQE before any signal was sent";
	case CHILD_NO_CQE:
		return "no CQE in time";
	case CHILD_SEND:
		return "sending a signal failed";
	case CHILD_EXEC:
		return "execve failed";
	case CHILD_NO_SIGNAL:
		return "no signal pending after exec";
	case CHILD_BAD_SIGNAL:
		return "another signal pending after exec";
	}
	return "unknown exit code";
}

/* Processes and threads. */

static pid_t sys_gettid(void)
{
	return syscall(SYS_gettid);
}

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

/* Join thread @th within COMPLETE_MS. */
static int join_thread(pthread_t th)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += COMPLETE_MS / 1000;
	return pthread_timedjoin_np(th, NULL, &ts);
}

/* Signals. */

/* Block every test signal in the calling thread. Returns 0 or -1. */
static int block_test_signals(void)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIG_A);
	sigaddset(&set, SIG_B);
	sigaddset(&set, SIG_T);
	sigaddset(&set, SIG_IO);
	sigaddset(&set, SIG_OFF);
	sigaddset(&set, SIGALRM);
	return sigprocmask(SIG_BLOCK, &set, NULL);
}

/* A new signalfd for every test signal but SIG_OFF, or -1. */
static int new_signalfd(void)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIG_A);
	sigaddset(&set, SIG_B);
	sigaddset(&set, SIG_T);
	sigaddset(&set, SIG_IO);
	sigaddset(&set, SIGALRM);
	return signalfd(-1, &set, SFD_CLOEXEC);
}

/* A payload whose every byte is known: ssi_ptr carries it all. */
static union sigval payload_ptr(uint64_t x)
{
	union sigval v;

	memset(&v, 0, sizeof(v));
	v.sival_ptr = (void *)(uintptr_t)x;
	return v;
}

/* A small payload, read back as ssi_int. */
static union sigval payload_int(int x)
{
	union sigval v;

	memset(&v, 0, sizeof(v));
	v.sival_int = x;
	return v;
}

/* The ways the tests send a signal. */
enum sender {
	SEND_KILL,		/* kill(2): SI_USER, to the process */
	SEND_TGKILL,		/* tgkill(2): SI_TKILL, to the reader thread */
	SEND_SIGQUEUE,		/* sigqueue(3), rt_sigqueueinfo(2): SI_QUEUE, to the process */
	SEND_TGSIGQUEUEINFO,	/* rt_tgsigqueueinfo(2): SI_QUEUE, to the reader thread */
	SEND_PIDFD,		/* pidfd_send_signal(2) without a siginfo: SI_USER */
	SEND_PIDFD_QUEUE,	/* pidfd_send_signal(2) with an SI_QUEUE siginfo */
};

static const char *sender_name(enum sender how)
{
	static const char * const names[] = {
		[SEND_KILL] = "kill",
		[SEND_TGKILL] = "tgkill",
		[SEND_SIGQUEUE] = "sigqueue",
		[SEND_TGSIGQUEUEINFO] = "rt_tgsigqueueinfo",
		[SEND_PIDFD] = "pidfd_send_signal",
		[SEND_PIDFD_QUEUE] = "pidfd_send_signal(SI_QUEUE)",
	};

	return names[how];
}

struct sig_target {
	pid_t pid;	/* the reader's process */
	pid_t tid;	/* the reader thread: where thread-directed signals go */
	int pidfd;	/* a pidfd of @pid */
};

/* An SI_QUEUE siginfo from this process, as sigqueue(3) makes it. */
static void queue_info(siginfo_t *si, int sig, union sigval val)
{
	memset(si, 0, sizeof(*si));
	si->si_signo = sig;
	si->si_code = SI_QUEUE;
	si->si_pid = getpid();
	si->si_uid = getuid();
	si->si_value = val;
}

/* Send @sig to @t @how; @val is the payload of the SI_QUEUE senders. Returns 0 or -errno. */
static int send_sig(enum sender how, const struct sig_target *t, int sig, union sigval val)
{
	siginfo_t si;
	long ret = -1;

	queue_info(&si, sig, val);
	switch (how) {
	case SEND_KILL:
		ret = kill(t->pid, sig);
		break;
	case SEND_TGKILL:
		ret = syscall(SYS_tgkill, t->pid, t->tid, sig);
		break;
	case SEND_SIGQUEUE:
		ret = sigqueue(t->pid, sig, val);
		break;
	case SEND_TGSIGQUEUEINFO:
		ret = syscall(SYS_rt_tgsigqueueinfo, t->pid, t->tid, sig, &si);
		break;
	case SEND_PIDFD:
		ret = syscall(__NR_pidfd_send_signal, t->pidfd, sig, NULL, 0);
		break;
	case SEND_PIDFD_QUEUE:
		ret = syscall(__NR_pidfd_send_signal, t->pidfd, sig, &si, 0);
		break;
	}
	return ret ? -errno : 0;
}

/* What a signalfd read returns for @sig sent @how with @val by process @from. */
static void want_si(struct signalfd_siginfo *w, enum sender how, int sig, union sigval val,
		    pid_t from)
{
	memset(w, 0, sizeof(*w));
	w->ssi_signo = sig;
	w->ssi_pid = from;
	w->ssi_uid = getuid();
	switch (how) {
	case SEND_KILL:
	case SEND_PIDFD:
		w->ssi_code = SI_USER;
		break;
	case SEND_TGKILL:
		w->ssi_code = SI_TKILL;
		break;
	default:
		w->ssi_code = SI_QUEUE;
		w->ssi_int = val.sival_int;
		w->ssi_ptr = (uintptr_t)val.sival_ptr;
		break;
	}
}

/* The signalfd_siginfo at @got is @want, to the byte. */
static void check_si(struct __test_metadata *_metadata, const char *got,
		     const struct signalfd_siginfo *want)
{
	struct signalfd_siginfo g;

	memcpy(&g, got, sizeof(g));
	ASSERT_EQ(want->ssi_signo, g.ssi_signo);
	ASSERT_EQ(want->ssi_code, g.ssi_code) TH_LOG("signal %u", g.ssi_signo);
	ASSERT_EQ(want->ssi_pid, g.ssi_pid) TH_LOG("signal %u: sender", g.ssi_signo);
	ASSERT_EQ(want->ssi_uid, g.ssi_uid);
	ASSERT_EQ(want->ssi_int, g.ssi_int) TH_LOG("signal %u: payload", g.ssi_signo);
	ASSERT_EQ(want->ssi_ptr, g.ssi_ptr) TH_LOG("signal %u: payload", g.ssi_signo);
	check_bytes(_metadata, got, (const char *)want, SI_LEN);
}

/*
 * The @n signalfd_siginfos at @got are @sig queued by @from with payloads
 * @first, @first + 1, ...
 */
static void check_run(struct __test_metadata *_metadata, const char *got, int sig, int first,
		      int n, pid_t from)
{
	struct signalfd_siginfo want;
	int i;

	for (i = 0; i < n; i++) {
		want_si(&want, SEND_SIGQUEUE, sig, payload_int(first + i), from);
		check_si(_metadata, got + i * SI_LEN, &want);
	}
}

/* sigqueue(3) @sig with payload @val to this process. */
static void self_queue(struct __test_metadata *_metadata, int sig, int val)
{
	ASSERT_EQ(0, sigqueue(getpid(), sig, payload_int(val)))
		TH_LOG("sigqueue: %s", strerror(errno));
}

/* Whether @sig is pending for this thread (its own or its process's). */
static bool self_pending(int sig)
{
	sigset_t set;

	return !sigpending(&set) && sigismember(&set, sig) == 1;
}

/* Take @sig if it is pending for this thread, without waiting. */
static bool take_signal(int sig, siginfo_t *si)
{
	struct timespec ts = { 0, 0 };
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, sig);
	return sigtimedwait(&set, si, &ts) == sig;
}

/*
 * Exactly @n signals @sig are pending for this thread, queued by @from with
 * payloads @first, @first + 1, ... in that order: take them.
 */
static void take_run(struct __test_metadata *_metadata, int sig, int first, int n, pid_t from)
{
	siginfo_t si;
	bool got;
	int i;

	for (i = 0; i < n; i++) {
		got = take_signal(sig, &si);
		ASSERT_TRUE(got) TH_LOG("signal %d with payload %d is not pending", sig, first + i);
		ASSERT_EQ(SI_QUEUE, si.si_code);
		ASSERT_EQ(from, si.si_pid);
		ASSERT_EQ(first + i, si.si_value.sival_int) TH_LOG("out of order");
	}
	got = take_signal(sig, &si);
	ASSERT_FALSE(got) TH_LOG("signal %d with payload %d pending beyond those sent", sig,
				 si.si_value.sival_int);
}

/*
 * The signal set on the "@key:" line (SigPnd: the thread's own pending
 * signals, ShdPnd: its process's) of /proc/<pid>/task/<tid>/status.
 */
static uint64_t proc_sigset(struct __test_metadata *_metadata, pid_t pid, pid_t tid,
			    const char *key)
{
	unsigned long long set = 0;
	size_t klen = strlen(key);
	char path[96], line[256];
	bool found = false;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/status", pid, tid);
	f = fopen(path, "re");
	ASSERT_NE(NULL, f) TH_LOG("%s: %s", path, strerror(errno));
	while (!found && fgets(line, sizeof(line), f))
		found = !strncmp(line, key, klen) && line[klen] == ':' &&
			sscanf(line + klen + 1, "%llx", &set) == 1;
	fclose(f);
	ASSERT_TRUE(found) TH_LOG("no %s line in %s", key, path);
	return set;
}

static bool in_sigset(uint64_t set, int sig)
{
	return set & (1ULL << (sig - 1));
}

/* Whether @sig is pending for thread @tid of @pid, in its own set or its process's. */
static bool sig_pending(struct __test_metadata *_metadata, pid_t pid, pid_t tid, int sig)
{
	return in_sigset(proc_sigset(_metadata, pid, tid, "SigPnd") |
			 proc_sigset(_metadata, pid, tid, "ShdPnd"), sig);
}

static struct timespec ms_ts(unsigned int ms)
{
	return (struct timespec){ ms / 1000, (ms % 1000) * 1000000L };
}

/*
 * Have a POSIX timer send SIG_T with payload TIMER_VAL to this process @ms
 * from now (interrupt context) and then, unless @period_ms is 0, every
 * @period_ms. Returns 0 or -1.
 */
static int arm_posix_timer(timer_t *id, unsigned int ms, unsigned int period_ms)
{
	struct itimerspec its;
	struct sigevent sev;

	memset(&sev, 0, sizeof(sev));
	sev.sigev_notify = SIGEV_SIGNAL;
	sev.sigev_signo = SIG_T;
	sev.sigev_value = payload_int(TIMER_VAL);
	if (timer_create(CLOCK_MONOTONIC, &sev, id))
		return -1;
	its.it_value = ms_ts(ms);
	its.it_interval = ms_ts(period_ms);
	return timer_settime(*id, 0, &its, NULL);
}

/* What a signalfd read returns for a POSIX timer's first expiry, but the timer's id. */
static void want_timer_si(struct signalfd_siginfo *w)
{
	memset(w, 0, sizeof(*w));
	w->ssi_signo = SIG_T;
	w->ssi_code = SI_TIMER;
	w->ssi_int = payload_int(TIMER_VAL).sival_int;
	w->ssi_ptr = (uintptr_t)payload_int(TIMER_VAL).sival_ptr;
}

/*
 * Check the POSIX timer's signalfd_siginfo at @got: the timer's id
 * (ssi_tid) is the kernel's, whatever it is; the rest is as want_timer_si().
 */
static void check_timer_si(struct __test_metadata *_metadata, const char *got)
{
	struct signalfd_siginfo want, g;

	memcpy(&g, got, sizeof(g));
	want_timer_si(&want);
	want.ssi_tid = g.ssi_tid;
	check_si(_metadata, got, &want);
}

/* Rings. */

/* Queue (not submit) a read of @len bytes of @fd into @buf (signalfds ignore the offset). */
static void queue_read(struct __test_metadata *_metadata, struct iou_ring *ring, int fd,
		       char *buf, __u32 len, __u64 ud)
{
	iou_prep_read(get_sqe(_metadata, ring), fd, buf, len, 0, ud);
}

/* Without entering the kernel: the CQ's only CQE is for @ud, with result @res. */
static void check_only_cqe(struct __test_metadata *_metadata, struct iou_ring *ring, __u64 ud,
			   int res)
{
	struct io_uring_cqe *cqe;

	ASSERT_EQ(1U, iou_cq_ready(ring)) TH_LOG("%u CQEs in the CQ ring, want 1",
						 iou_cq_ready(ring));
	ASSERT_EQ(0, iou_peek_cqe(ring, &cqe));
	ASSERT_EQ(ud, cqe->user_data);
	ASSERT_EQ(res, cqe->res) TH_LOG("read res %d", cqe->res);
}

/* The counters of a ring just created. */
static const struct inl_counters fresh_ring;

/*
 * Stopped-reader proof.
 *
 * The parent forks the reader, which blocks the signals (inherited), creates
 * a signalfd and a ring (publishing its parameters and fd in the shared
 * region), arms the read and stops itself. Its SQPOLL thread, if any, is a
 * thread of its own and stops with it (the group stop completes, and
 * waitpid() reports it, only once every thread stopped). The parent maps the
 * reader's ring through pidfd_getfd(2), sends the signal and inspects the
 * ring memory, the buffer and the reader's pending signals; it never enters
 * the ring. On the stock path the retry is task_work of the stopped reader,
 * so nothing may move until it runs again.
 */

enum read_kind {
	KIND_READ,
	KIND_READV,
	KIND_READ_FIXED,
};

struct read_plan {
	enum read_kind kind;
	struct iovec dst[2];	/* where the reader's buffer(s) are */
	int nr_dst;
	struct iovec fixed;	/* the registered buffer, for READ_FIXED */
};

/* Written by the reader, in the shared region: how to reach its ring. */
struct handoff {
	struct io_uring_params p;	/* as io_uring_setup() returned them */
	int ring_fd;			/* the ring's fd in the reader */
};

FIXTURE(stopped) {
	struct iou_ring ring;	/* the reader's ring, mapped here too */
	pid_t child;
	int pidfd;
	struct sig_target tgt;
	size_t page;
	char *region;		/* MAP_SHARED, two pages: the handoff, then the buffers */
	struct handoff *h;
	char *buf;		/* the buffer page */
	char *expect;		/* what the buffer page must hold once the read is done */
	unsigned int flags;	/* IORING_SETUP_* of the reader's ring */
	bool inl;
	bool defer;
	bool sqpoll;
};

#define INL_VARIANTS_OF stopped
#include "ring_variants.h"

FIXTURE_SETUP(stopped)
{
	self->ring.fd = -1;
	self->child = -1;
	self->pidfd = -1;
	self->region = MAP_FAILED;
	self->expect = NULL;
	self->inl = variant->inline_read;
	self->defer = variant->setup_flags & IORING_SETUP_DEFER_TASKRUN;
	self->sqpoll = variant->setup_flags & IORING_SETUP_SQPOLL;
	self->flags = variant->setup_flags | (self->inl ? IORING_SETUP_INLINE_READ : 0);

	if (self->inl && !inline_read_supported())
		SKIP(return, "kernel lacks IORING_FEAT_INLINE_READ");
	ASSERT_EQ(0, block_test_signals());

	self->page = sysconf(_SC_PAGESIZE);
	self->region = mmap(NULL, 2 * self->page, PROT_READ | PROT_WRITE,
			    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, self->region);
	self->h = (struct handoff *)self->region;
	self->buf = self->region + self->page;
	memset(self->buf, FILL, self->page);
	self->expect = malloc(self->page);
	ASSERT_NE(NULL, self->expect);
}

FIXTURE_TEARDOWN(stopped)
{
	kill_child(&self->child);
	iou_exit(&self->ring);
	if (self->pidfd >= 0)
		close(self->pidfd);
	if (self->region != MAP_FAILED)
		munmap(self->region, 2 * self->page);
	free(self->expect);
}

/*
 * Lay out the reader's buffer(s) for @kind: a READ has room for two
 * signals (the proof sends one), a READV and a READ_FIXED for one.
 */
static void make_plan(struct _test_data_stopped *self, enum read_kind kind, struct read_plan *pl)
{
	memset(pl, 0, sizeof(*pl));
	pl->kind = kind;
	pl->nr_dst = 1;
	switch (kind) {
	case KIND_READ:
		pl->dst[0] = (struct iovec){ self->buf + 64, 2 * SI_LEN + 56 };
		break;
	case KIND_READV:
		/* 64 + 64 bytes with a gap: the siginfo is split between them. */
		pl->dst[0] = (struct iovec){ self->buf, SI_LEN / 2 };
		pl->dst[1] = (struct iovec){ self->buf + 256, SI_LEN / 2 };
		pl->nr_dst = 2;
		break;
	case KIND_READ_FIXED:
		/* At an offset into a registered buffer covering the page. */
		pl->fixed = (struct iovec){ self->buf, self->page };
		pl->dst[0] = (struct iovec){ self->buf + 512, SI_LEN };
		break;
	}
}

/* What the buffer page holds once @pl's read got the @len bytes at @data. */
static void plan_expect(struct _test_data_stopped *self, const struct read_plan *pl,
			const void *data, size_t len)
{
	size_t off = 0, n;
	int i;

	memset(self->expect, FILL, self->page);
	for (i = 0; i < pl->nr_dst && off < len; i++) {
		n = pl->dst[i].iov_len < len - off ? pl->dst[i].iov_len : len - off;
		memcpy(self->expect + ((char *)pl->dst[i].iov_base - self->buf),
		       (const char *)data + off, n);
		off += n;
	}
}

static void prep_plan(struct io_uring_sqe *sqe, int fd, const struct read_plan *pl)
{
	switch (pl->kind) {
	case KIND_READ:
		iou_prep_read(sqe, fd, pl->dst[0].iov_base, pl->dst[0].iov_len, 0, UD_READ);
		break;
	case KIND_READV:
		iou_prep_readv(sqe, fd, pl->dst, pl->nr_dst, 0, UD_READ);
		break;
	case KIND_READ_FIXED:
		iou_prep_read_fixed(sqe, fd, pl->dst[0].iov_base, pl->dst[0].iov_len, 0, 0,
				    UD_READ);
		break;
	}
}

/*
 * The reader: create the signalfd and the ring, submit the read, (with
 * @timer, arm a POSIX timer that fires while it is stopped,) stop, and once
 * continued reap (not consume) the CQE.
 */
static __noreturn void stopped_reader(struct _test_data_stopped *self, const struct read_plan *pl,
				      bool timer)
{
	struct io_uring_params p;
	struct io_uring_cqe *cqe;
	struct io_uring_sqe *sqe;
	struct iou_ring ring;
	timer_t id;
	int sfd;

	if (prctl(PR_SET_PDEATHSIG, SIGKILL))
		_exit(CHILD_SETUP);
	sfd = new_signalfd();
	memset(&p, 0, sizeof(p));
	p.flags = self->flags;
	if (sfd < 0 || iou_setup_params(&ring, RING_ENTRIES, &p))
		_exit(CHILD_SETUP);
	self->h->p = p;
	self->h->ring_fd = ring.fd;
	if (pl->kind == KIND_READ_FIXED && iou_register_buffers(&ring, &pl->fixed, 1))
		_exit(CHILD_SETUP);

	sqe = iou_get_sqe(&ring);
	if (!sqe)
		_exit(CHILD_SUBMIT);
	prep_plan(sqe, sfd, pl);
	/* On return the read has been issued and found no signal. */
	if (iou_submit(&ring) != 1)
		_exit(CHILD_SUBMIT);
	if (iou_cq_ready(&ring))
		_exit(CHILD_EARLY_CQE);
	if (timer && arm_posix_timer(&id, STOPPED_TIMER_MS, 0))
		_exit(CHILD_SETUP);

	raise(SIGSTOP);

	/* Continued: entering the kernel runs task_work and DEFER_TASKRUN local work. */
	if (iou_wait_cqe(&ring, &cqe, COMPLETE_MS))
		_exit(CHILD_NO_CQE);
	_exit(CHILD_OK);
}

static bool is_sq_thread(pid_t pid, pid_t tid)
{
	char path[96], comm[32] = "";
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/comm", pid, tid);
	f = fopen(path, "re");
	if (!f)
		return false;
	if (!fgets(comm, sizeof(comm), f))
		comm[0] = '\0';
	fclose(f);
	return !strncmp(comm, "iou-sqp-", 8);
}

/* The tid of @pid's SQPOLL thread. */
static pid_t sq_thread(struct __test_metadata *_metadata, pid_t pid)
{
	struct dirent *d;
	char path[64];
	pid_t tid = -1;
	DIR *dir;

	snprintf(path, sizeof(path), "/proc/%d/task", pid);
	dir = opendir(path);
	ASSERT_NE(NULL, dir) TH_LOG("%s: %s", path, strerror(errno));
	while (tid < 0 && (d = readdir(dir)))
		tid = is_sq_thread(pid, atoi(d->d_name)) ? atoi(d->d_name) : -1;
	closedir(dir);
	ASSERT_LT(0, tid) TH_LOG("no SQPOLL thread in %s", path);
	return tid;
}

/*
 * Fork the reader for @pl, wait until it has stopped, map its ring and
 * aim the senders at it: at its SQ thread on SQPOLL rings.
 */
static void start_reader(struct __test_metadata *_metadata, struct _test_data_stopped *self,
			 const struct read_plan *pl, bool timer)
{
	int status, ret;

	self->h->ring_fd = -1;
	self->child = fork();
	ASSERT_NE(-1, self->child) TH_LOG("fork: %s", strerror(errno));
	if (!self->child)
		stopped_reader(self, pl, timer);

	ret = wait_child(self->child, &status, WUNTRACED, COMPLETE_MS);
	ASSERT_EQ(0, ret) TH_LOG("the reader did not stop within %d ms", COMPLETE_MS);
	if (!WIFSTOPPED(status))
		self->child = -1;
	ASSERT_TRUE(WIFSTOPPED(status)) TH_LOG("the reader ended early: %s",
					       WIFEXITED(status) ?
					       child_error(WEXITSTATUS(status)) : "signal");

	self->pidfd = map_ring_of(_metadata, self->child, self->h->ring_fd, &self->h->p,
				  &self->ring);

	self->tgt.pid = self->child;
	self->tgt.tid = self->sqpoll ? sq_thread(_metadata, self->child) : self->child;
	self->tgt.pidfd = self->pidfd;
}

/* Whether @sig is pending for the reader thread. */
static bool reader_pending(struct __test_metadata *_metadata, struct _test_data_stopped *self,
			   int sig)
{
	return sig_pending(_metadata, self->tgt.pid, self->tgt.tid, sig);
}

/* Wait up to @ms for @sig to be pending for the reader thread. */
static bool wait_reader_pending(struct __test_metadata *_metadata,
				struct _test_data_stopped *self, int sig, unsigned int ms)
{
	__s64 deadline = iou_now_ns() + ms * 1000000LL;

	while (!reader_pending(_metadata, self, sig)) {
		if (iou_now_ns() > deadline)
			return false;
		iou_sleep_us(1000);
	}
	return true;
}

/* The read is pending: no CQE, nothing in the buffer, armed inline (with the flag). */
static void check_armed(struct __test_metadata *_metadata, struct _test_data_stopped *self,
			const struct read_plan *pl, struct inl_counters *c)
{
	ASSERT_EQ(0U, iou_cq_ready(&self->ring));
	check_fill(_metadata, self->buf, self->page);
	get_counters(_metadata, self->ring.fd, self->inl, c);
	if (!self->inl)
		return;
	/* ASSUMES: InlineReadArmed counts a read when it starts to wait inline. */
	ASSERT_EQ(1ULL, (unsigned long long)c->armed) TH_LOG("the read did not arm inline");
	if (pl->kind != KIND_READ_FIXED)
		ASSERT_LT(0ULL, (unsigned long long)c->pinned)
			TH_LOG("no reader memory pinned for a pending read");
}

/* Continue the reader; once it exited, its CQE (@res) and the data are there. */
static void resume_reader(struct __test_metadata *_metadata, struct _test_data_stopped *self,
			  int res)
{
	ASSERT_EQ(0, kill(self->child, SIGCONT));
	join_child(_metadata, &self->child, COMPLETE_MS);
	check_only_cqe(_metadata, &self->ring, UD_READ, res);
}

static void stopped_proof(struct __test_metadata *_metadata, struct _test_data_stopped *self,
			  enum read_kind kind, enum sender how)
{
	union sigval val = payload_ptr(PROOF_PTR);
	struct signalfd_siginfo want;
	struct inl_counters c1, c2;
	struct read_plan pl;
	int ret;

	make_plan(self, kind, &pl);
	start_reader(_metadata, self, &pl, false);
	check_armed(_metadata, self, &pl, &c1);
	ASSERT_FALSE(reader_pending(_metadata, self, SIG_A));

	want_si(&want, how, SIG_A, val, getpid());
	plan_expect(self, &pl, &want, SI_LEN);
	/* The reader is stopped: from here on only the sender can complete the read. */
	ret = send_sig(how, &self->tgt, SIG_A, val);
	ASSERT_EQ(0, ret) TH_LOG("%s: %s", sender_name(how), strerror(-ret));

	if (self->inl) {
		/* Dequeued from the reader's pending set and copied by the sender... */
		check_bytes(_metadata, self->buf, self->expect, self->page);
		ASSERT_FALSE(reader_pending(_metadata, self, SIG_A))
			TH_LOG("the signal is still pending after it was read");
		get_counters(_metadata, self->ring.fd, true, &c2);
		/*
		 * ASSUMES: on DEFER_TASKRUN rings InlineReadCompleted counts the
		 * read when the sender took the signal, not when the reader posts
		 * the CQE.
		 */
		ASSERT_EQ((unsigned long long)c1.completed + 1, (unsigned long long)c2.completed)
			TH_LOG("InlineReadCompleted did not move");
		/* ...which also posted the CQE, but on DEFER_TASKRUN rings. */
		if (!self->defer)
			check_only_cqe(_metadata, &self->ring, UD_READ, SI_LEN);
		else
			assert_no_cqe_mem(_metadata, &self->ring, STOPPED_MS);
	} else {
		assert_no_cqe_mem(_metadata, &self->ring, STOPPED_MS);
		check_fill(_metadata, self->buf, self->page);
		ASSERT_TRUE(reader_pending(_metadata, self, SIG_A))
			TH_LOG("the signal was taken while the reader was stopped");
	}

	resume_reader(_metadata, self, SI_LEN);
	check_bytes(_metadata, self->buf, self->expect, self->page);

	wait_pinned(_metadata, self->ring.fd, self->inl, 0);
	get_counters(_metadata, self->ring.fd, self->inl, &c2);
	if (self->inl) {
		ASSERT_EQ(1ULL, (unsigned long long)c2.completed);
		ASSERT_EQ(0ULL, (unsigned long long)c2.fallback);
		check_balance(_metadata, &fresh_ring, &c2);
	}
}

/* IORING_OP_READ with room for two signals: it gets the one sent. */
TEST_F(stopped, read_kill)
{
	stopped_proof(_metadata, self, KIND_READ, SEND_KILL);
}

TEST_F(stopped, read_tgkill)
{
	stopped_proof(_metadata, self, KIND_READ, SEND_TGKILL);
}

TEST_F(stopped, read_sigqueue)
{
	stopped_proof(_metadata, self, KIND_READ, SEND_SIGQUEUE);
}

TEST_F(stopped, read_tgsigqueueinfo)
{
	stopped_proof(_metadata, self, KIND_READ, SEND_TGSIGQUEUEINFO);
}

TEST_F(stopped, read_pidfd_send_signal)
{
	stopped_proof(_metadata, self, KIND_READ, SEND_PIDFD);
}

/* IORING_OP_READV: the siginfo split over two 64-byte iovecs with a gap. */
TEST_F(stopped, readv_kill)
{
	stopped_proof(_metadata, self, KIND_READV, SEND_KILL);
}

TEST_F(stopped, readv_tgkill)
{
	stopped_proof(_metadata, self, KIND_READV, SEND_TGKILL);
}

TEST_F(stopped, readv_sigqueue)
{
	stopped_proof(_metadata, self, KIND_READV, SEND_SIGQUEUE);
}

TEST_F(stopped, readv_tgsigqueueinfo)
{
	stopped_proof(_metadata, self, KIND_READV, SEND_TGSIGQUEUEINFO);
}

TEST_F(stopped, readv_pidfd_send_signal)
{
	stopped_proof(_metadata, self, KIND_READV, SEND_PIDFD);
}

/* IORING_OP_READ_FIXED at an offset into a registered buffer. */
TEST_F(stopped, read_fixed_kill)
{
	stopped_proof(_metadata, self, KIND_READ_FIXED, SEND_KILL);
}

TEST_F(stopped, read_fixed_tgkill)
{
	stopped_proof(_metadata, self, KIND_READ_FIXED, SEND_TGKILL);
}

TEST_F(stopped, read_fixed_sigqueue)
{
	stopped_proof(_metadata, self, KIND_READ_FIXED, SEND_SIGQUEUE);
}

TEST_F(stopped, read_fixed_tgsigqueueinfo)
{
	stopped_proof(_metadata, self, KIND_READ_FIXED, SEND_TGSIGQUEUEINFO);
}

TEST_F(stopped, read_fixed_pidfd_send_signal)
{
	stopped_proof(_metadata, self, KIND_READ_FIXED, SEND_PIDFD);
}

/*
 * A POSIX timer's signal is sent from an interrupt: it does not complete the
 * read inline but hands it back to the stock path, task_work of the stopped
 * reader (InlineReadFallback). A kill(2) after that finds no read waiting
 * inline either: nothing moves, both signals stay pending, until the reader
 * runs and its read (room for two) takes both, SIG_A first.
 */
TEST_F(stopped, timer_then_kill)
{
	struct signalfd_siginfo sis[2];
	struct inl_counters c1, c2;
	struct read_plan pl;
	bool fired;

	make_plan(self, KIND_READ, &pl);
	start_reader(_metadata, self, &pl, true);
	check_armed(_metadata, self, &pl, &c1);
	ASSERT_FALSE(reader_pending(_metadata, self, SIG_T))
		TH_LOG("the timer fired before the reader stopped (a very slow machine?)");

	fired = wait_reader_pending(_metadata, self, SIG_T, COMPLETE_MS);
	ASSERT_TRUE(fired) TH_LOG("no timer signal");
	/*
	 * The timer's wake-up handed the read to the stock path: its task_work
	 * (which counts InlineReadFallback) only runs once the reader does.
	 */
	assert_no_cqe_mem(_metadata, &self->ring, STOPPED_MS);
	check_fill(_metadata, self->buf, self->page);

	ASSERT_EQ(0, kill(self->child, SIG_A));
	assert_no_cqe_mem(_metadata, &self->ring, STOPPED_MS);
	check_fill(_metadata, self->buf, self->page);
	ASSERT_TRUE(reader_pending(_metadata, self, SIG_A)) TH_LOG("kill() completed the read");
	ASSERT_TRUE(reader_pending(_metadata, self, SIG_T));
	get_counters(_metadata, self->ring.fd, self->inl, &c2);
	ASSERT_EQ((unsigned long long)c1.completed, (unsigned long long)c2.completed);

	resume_reader(_metadata, self, 2 * SI_LEN);
	want_si(&sis[0], SEND_KILL, SIG_A, payload_int(0), getpid());
	check_si(_metadata, pl.dst[0].iov_base, &sis[0]);
	check_timer_si(_metadata, (char *)pl.dst[0].iov_base + SI_LEN);
	memcpy(&sis[1], (char *)pl.dst[0].iov_base + SI_LEN, SI_LEN);
	plan_expect(self, &pl, sis, sizeof(sis));
	check_bytes(_metadata, self->buf, self->expect, self->page);

	wait_pinned(_metadata, self->ring.fd, self->inl, 0);
	get_counters(_metadata, self->ring.fd, self->inl, &c2);
	if (self->inl) {
		ASSERT_EQ(0ULL, (unsigned long long)c2.completed);
		ASSERT_EQ(1ULL, (unsigned long long)c2.fallback);
		check_balance(_metadata, &fresh_ring, &c2);
	}
}

/*
 * Semantics: the test thread is the reader (and the ring's submitter), on
 * plain and DEFER_TASKRUN rings, with and without IORING_SETUP_INLINE_READ.
 */

/* Another thread of the reader's process, which takes its own signals when told to. */
struct other_thread {
	pthread_t th;
	bool running;
	pid_t tid;
	bool go;
	int got;		/* the signal it took when told to, 0 if none, -1 if never told */
	int val;		/* its payload */
};

/* A thread that submits two reads on a ring of its own and exits. */
struct exit_thread {
	pthread_t th;
	bool running;
	struct iou_ring ring;	/* left open: the process's, once the thread is gone */
	unsigned int flags;
	int sfd;
	char *buf;
	int err;		/* CHILD_* */
};

FIXTURE(sfd) {
	struct iou_ring ring;
	int sfd;		/* every test signal but SIG_OFF */
	pid_t child;
	char *buf;		/* MAP_SHARED: NR_SLOTS slots of SLOT bytes, FILL */
	size_t buf_len;
	unsigned int flags;	/* IORING_SETUP_* of the ring, INLINE_READ included */
	bool inl;
	bool defer;
	int pidfd;		/* of this process */
	int pfd[2];		/* a pipe, for tests that need one */
	timer_t timer;
	bool have_timer;
	struct other_thread ot;
	struct exit_thread xt;
};

#define INL_VARIANTS_OF sfd
#define INL_VARIANTS_PLAIN_DEFER
#include "ring_variants.h"

FIXTURE_SETUP(sfd)
{
	int ret;

	self->ring.fd = -1;
	self->xt.ring.fd = -1;
	self->sfd = -1;
	self->child = -1;
	self->buf = MAP_FAILED;
	self->pidfd = -1;
	self->pfd[0] = -1;
	self->pfd[1] = -1;
	self->inl = variant->inline_read;
	self->defer = variant->setup_flags & IORING_SETUP_DEFER_TASKRUN;
	self->flags = variant->setup_flags | (self->inl ? IORING_SETUP_INLINE_READ : 0);

	if (self->inl && !inline_read_supported())
		SKIP(return, "kernel lacks IORING_FEAT_INLINE_READ");
	ASSERT_EQ(0, block_test_signals());

	self->buf_len = NR_SLOTS * SLOT;
	self->buf = mmap(NULL, self->buf_len, PROT_READ | PROT_WRITE,
			 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, self->buf);
	memset(self->buf, FILL, self->buf_len);

	ret = iou_setup(&self->ring, RING_ENTRIES, self->flags);
	ASSERT_EQ(0, ret) TH_LOG("io_uring_setup(%#x): %s", self->flags, strerror(-ret));
	if (!(self->ring.features & IORING_FEAT_EXT_ARG))
		SKIP(return, "no IORING_FEAT_EXT_ARG: waits cannot be bounded");

	self->sfd = new_signalfd();
	ASSERT_LE(0, self->sfd) TH_LOG("signalfd: %s", strerror(errno));
	self->pidfd = sys_pidfd_open(getpid());
	ASSERT_LE(0, self->pidfd) TH_LOG("pidfd_open: %s", strerror(errno));
}

FIXTURE_TEARDOWN(sfd)
{
	kill_child(&self->child);
	if (self->ot.running) {
		__atomic_store_n(&self->ot.go, true, __ATOMIC_RELEASE);
		join_thread(self->ot.th);
	}
	if (self->xt.running)
		join_thread(self->xt.th);
	if (self->have_timer)
		timer_delete(self->timer);
	iou_exit(&self->xt.ring);
	iou_exit(&self->ring);
	if (self->sfd >= 0)
		close(self->sfd);
	if (self->pidfd >= 0)
		close(self->pidfd);
	if (self->pfd[0] >= 0)
		close(self->pfd[0]);
	if (self->pfd[1] >= 0)
		close(self->pfd[1]);
	if (self->buf != MAP_FAILED)
		munmap(self->buf, self->buf_len);
}

static void counters(struct __test_metadata *_metadata, struct _test_data_sfd *self,
		     struct inl_counters *c)
{
	get_counters(_metadata, self->ring.fd, self->inl, c);
}

static char *slot_buf(struct _test_data_sfd *self, int slot)
{
	return self->buf + slot * SLOT;
}

/*
 * Submit @nr reads of @len bytes of the signalfd into slots 0.. with
 * user_data UD_READ + i (UD_READ for all with @same_ud) and check that
 * they wait (and armed inline).
 */
static void pending_reads(struct __test_metadata *_metadata, struct _test_data_sfd *self, int nr,
			  __u32 len, bool same_ud, const struct inl_counters *c0)
{
	struct inl_counters c;
	int i;

	for (i = 0; i < nr; i++)
		queue_read(_metadata, &self->ring, self->sfd, slot_buf(self, i), len,
			   same_ud ? UD_READ : UD_READ + i);
	submit_n(_metadata, &self->ring, nr);
	assert_no_cqe(_metadata, &self->ring);
	counters(_metadata, self, &c);
	if (!self->inl)
		return;
	ASSERT_EQ(c0->armed + nr, c.armed) TH_LOG("not every read armed inline");
	ASSERT_LT(c0->pinned, c.pinned) TH_LOG("no reader memory pinned for pending reads");
}

/*
 * Once nothing is pending any more: nothing pinned and, with the flag,
 * @completed more reads completed inline and @fallback more handed back
 * to the stock path since @c0 (-1: any number, for spurious wake-ups), and
 * every read that armed ended.
 */
static void check_done(struct __test_metadata *_metadata, struct _test_data_sfd *self,
		       const struct inl_counters *c0, int completed, int fallback)
{
	struct inl_counters c;

	wait_pinned(_metadata, self->ring.fd, self->inl, c0->pinned);
	counters(_metadata, self, &c);
	if (!self->inl)
		return;
	if (completed >= 0)
		ASSERT_EQ(c0->completed + completed, c.completed) TH_LOG("InlineReadCompleted");
	if (fallback >= 0)
		ASSERT_EQ(c0->fallback + fallback, c.fallback) TH_LOG("InlineReadFallback");
	check_balance(_metadata, c0, &c);
}

/* Reap the read that must be done now: one signal, SIG_A @val from this process, in slot 0. */
static void reap_self_queued(struct __test_metadata *_metadata, struct _test_data_sfd *self,
			     int val)
{
	struct io_uring_cqe cqe;

	reap_cqe(_metadata, &self->ring, &cqe);
	ASSERT_EQ(UD_READ, cqe.user_data);
	ASSERT_EQ(SI_LEN, cqe.res) TH_LOG("read res %d", cqe.res);
	check_run(_metadata, slot_buf(self, 0), SIG_A, val, 1, getpid());
	check_fill(_metadata, slot_buf(self, 0) + SI_LEN, SLOT - SI_LEN);
	assert_no_cqe(_metadata, &self->ring);
	ASSERT_FALSE(self_pending(SIG_A)) TH_LOG("the signal read is still pending");
}

/* Signals before the read. */

/*
 * A signal queued before the read: the read finds it at submission and
 * completes at once, without waiting inline.
 */
TEST_F(sfd, signal_before_read_completes_at_submit)
{
	struct inl_counters c0, c1;

	self_queue(_metadata, SIG_A, 7);
	counters(_metadata, self, &c0);
	queue_read(_metadata, &self->ring, self->sfd, slot_buf(self, 0), SLOT, UD_READ);
	submit_n(_metadata, &self->ring, 1);
	/*
	 * ASSUMES: a read that completes during submission has its CQE
	 * posted before io_uring_enter() returns, on every ring type.
	 */
	ASSERT_EQ(1U, iou_cq_ready(&self->ring)) TH_LOG("the read did not complete at submission");
	reap_self_queued(_metadata, self, 7);
	counters(_metadata, self, &c1);
	ASSERT_EQ(c0.armed, c1.armed) TH_LOG("a read that found a signal armed inline");
	ASSERT_EQ(c0.completed, c1.completed);
}

/*
 * Five signals queued before a read with room for four: it takes four at
 * submission, lowest signal number first and, for one number, in the order
 * they were sent (SIG_A 20, 21, 22, then SIG_B 10); SIG_B 11 stays pending.
 */
TEST_F(sfd, queued_signals_one_read_in_order)
{
	struct inl_counters c0, c1;
	struct io_uring_cqe cqe;
	char *p = slot_buf(self, 0);

	self_queue(_metadata, SIG_B, 10);
	self_queue(_metadata, SIG_A, 20);
	self_queue(_metadata, SIG_A, 21);
	self_queue(_metadata, SIG_B, 11);
	self_queue(_metadata, SIG_A, 22);
	counters(_metadata, self, &c0);
	queue_read(_metadata, &self->ring, self->sfd, p, SLOT, UD_READ);
	submit_n(_metadata, &self->ring, 1);
	ASSERT_EQ(1U, iou_cq_ready(&self->ring)) TH_LOG("the read did not complete at submission");
	reap_cqe(_metadata, &self->ring, &cqe);
	ASSERT_EQ(SLOT_SIS * SI_LEN, cqe.res) TH_LOG("read res %d", cqe.res);
	check_run(_metadata, p, SIG_A, 20, 3, getpid());
	check_run(_metadata, p + 3 * SI_LEN, SIG_B, 10, 1, getpid());
	take_run(_metadata, SIG_B, 11, 1, getpid());
	take_run(_metadata, SIG_A, 0, 0, getpid());
	counters(_metadata, self, &c1);
	ASSERT_EQ(c0.armed, c1.armed) TH_LOG("a read that found signals armed inline");
}

/* Signals for a pending read. */

/*
 * The reader sends the signal itself, by each sender (tgkill(2) and
 * rt_tgsigqueueinfo(2) aimed at itself, the others at its process): the
 * sending system call completes the read before it returns.
 */
static void self_send_case(struct __test_metadata *_metadata, struct _test_data_sfd *self,
			   enum sender how)
{
	struct sig_target me = { getpid(), sys_gettid(), self->pidfd };
	union sigval val = payload_ptr(PROOF_PTR + how);
	struct signalfd_siginfo want;
	char *p = slot_buf(self, 0);
	struct inl_counters c0;
	struct io_uring_cqe cqe;
	int ret;

	memset(p, FILL, SLOT);
	counters(_metadata, self, &c0);
	pending_reads(_metadata, self, 1, SLOT, false, &c0);
	want_si(&want, how, SIG_A, val, getpid());
	ret = send_sig(how, &me, SIG_A, val);
	ASSERT_EQ(0, ret) TH_LOG("%s: %s", sender_name(how), strerror(-ret));
	if (self->inl) {
		/* Read by the sending system call, which posted the CQE but on DEFER rings. */
		check_si(_metadata, p, &want);
		ASSERT_EQ(self->defer ? 0U : 1U, iou_cq_ready(&self->ring))
			TH_LOG("%s: CQEs when it returned", sender_name(how));
	} else if (self->defer) {
		/* Stock DEFER_TASKRUN: nothing happens before the reader enters the ring. */
		check_fill(_metadata, p, SLOT);
		ASSERT_EQ(0U, iou_cq_ready(&self->ring));
	}
	reap_cqe(_metadata, &self->ring, &cqe);
	ASSERT_EQ(UD_READ, cqe.user_data);
	ASSERT_EQ(SI_LEN, cqe.res) TH_LOG("%s: read res %d", sender_name(how), cqe.res);
	check_si(_metadata, p, &want);
	check_fill(_metadata, p + SI_LEN, SLOT - SI_LEN);
	ASSERT_FALSE(self_pending(SIG_A));
	check_done(_metadata, self, &c0, 1, 0);
}

TEST_F(sfd, self_sent_signal_completes_read)
{
	enum sender how;

	for (how = SEND_KILL; how <= SEND_PIDFD_QUEUE; how++)
		self_send_case(_metadata, self, how);
}

/*
 * Check CQE @cqe, the @i-th of reads of one signal each in slots
 * 0 .. NR_SLOTS - 1: it holds the @i-th signal sent, @how with @val by
 * @from. Returns its slot.
 */
static int check_nth_read(struct __test_metadata *_metadata, struct _test_data_sfd *self,
			  const struct io_uring_cqe *cqe, int i, enum sender how, union sigval val,
			  pid_t from)
{
	int slot = cqe->user_data - UD_READ;
	struct signalfd_siginfo want;

	ASSERT_TRUE(slot >= 0 && slot < NR_SLOTS)
		TH_LOG("user_data %#llx", (unsigned long long)cqe->user_data);
	/* Pending reads are served in the order they were submitted. */
	if (self->inl)
		ASSERT_EQ(i, slot) TH_LOG("signal %d completed read %d", i, slot);
	ASSERT_EQ(SI_LEN, cqe->res) TH_LOG("read res %d", cqe->res);
	want_si(&want, how, SIG_A, val, from);
	check_si(_metadata, slot_buf(self, slot), &want);
	check_fill(_metadata, slot_buf(self, slot) + SI_LEN, SLOT - SI_LEN);
	return slot;
}

/*
 * Three pending reads, three signals sent one at a time: each completes
 * exactly one read (on the inline path, the oldest one), with that signal.
 */
TEST_F(sfd, pending_reads_fifo)
{
	struct inl_counters c0;
	struct io_uring_cqe cqe;
	unsigned int done = 0;
	int i, slot;

	counters(_metadata, self, &c0);
	pending_reads(_metadata, self, 3, SLOT, false, &c0);
	for (i = 0; i < 3; i++) {
		self_queue(_metadata, SIG_A, 100 + i);
		reap_cqe(_metadata, &self->ring, &cqe);
		slot = check_nth_read(_metadata, self, &cqe, i, SEND_SIGQUEUE,
				      payload_int(100 + i), getpid());
		ASSERT_FALSE(!!(done & (1U << slot))) TH_LOG("read %d completed twice", slot);
		done |= 1U << slot;
		assert_no_cqe(_metadata, &self->ring);
	}
	ASSERT_FALSE(self_pending(SIG_A));
	check_done(_metadata, self, &c0, 3, 0);
}

/*
 * Fork a process that sends this thread's process @n signals @sig, the
 * i-th @hows[i] with payload @vals[i], one after the other. Returns its pid.
 */
static pid_t spawn_sender(struct __test_metadata *_metadata, struct _test_data_sfd *self,
			  const enum sender *hows, int sig, const union sigval *vals, int n)
{
	struct sig_target t = { getpid(), sys_gettid(), self->pidfd };
	pid_t pid = fork();
	int i;

	ASSERT_NE(-1, pid) TH_LOG("fork: %s", strerror(errno));
	if (pid)
		return pid;
	if (prctl(PR_SET_PDEATHSIG, SIGKILL))
		_exit(CHILD_SETUP);
	for (i = 0; i < n; i++)
		if (send_sig(hows[i], &t, sig, vals[i]))
			_exit(CHILD_SEND);
	_exit(CHILD_OK);
}

/*
 * Another process queues three signals with 64-bit payloads while three
 * reads of one signal each are pending: the CQEs come in the order the
 * signals were sent, each with its signal's payload and the sender's pid
 * (and on the inline path, the oldest read first).
 */
TEST_F(sfd, queue_order_and_payload_from_another_process)
{
	static const enum sender hows[] = { SEND_SIGQUEUE, SEND_PIDFD_QUEUE, SEND_SIGQUEUE };
	struct io_uring_cqe cqes[3];
	struct inl_counters c0;
	union sigval vals[3];
	unsigned int done = 0;
	pid_t sender;
	int i;

	for (i = 0; i < 3; i++)
		vals[i] = payload_ptr(PROOF_PTR + i);
	counters(_metadata, self, &c0);
	pending_reads(_metadata, self, 3, SI_LEN, false, &c0);
	sender = spawn_sender(_metadata, self, hows, SIG_A, vals, 3);
	self->child = sender;
	join_child(_metadata, &self->child, COMPLETE_MS);
	reap_n(_metadata, &self->ring, cqes, 3);
	for (i = 0; i < 3; i++)
		done |= 1U << check_nth_read(_metadata, self, &cqes[i], i, hows[i], vals[i],
					     sender);
	ASSERT_EQ(7U, done) TH_LOG("a read completed twice");
	assert_no_cqe(_metadata, &self->ring);
	ASSERT_FALSE(self_pending(SIG_A));
	check_done(_metadata, self, &c0, 3, 0);
}

/*
 * A pending read with room for four signals, four signals queued one after
 * the other: on the inline path the first sigqueue() completes the read
 * with the one signal queued then, and the other three stay pending. (The
 * stock path reads what is queued when the reader gets to it.)
 */
TEST_F(sfd, pending_read_takes_signals_queued_then)
{
	struct inl_counters c0;
	struct io_uring_cqe cqe;
	char *p = slot_buf(self, 0);
	int i, n;

	counters(_metadata, self, &c0);
	pending_reads(_metadata, self, 1, SLOT, false, &c0);
	for (i = 1; i <= SLOT_SIS; i++)
		self_queue(_metadata, SIG_A, i);
	reap_cqe(_metadata, &self->ring, &cqe);
	ASSERT_EQ(UD_READ, cqe.user_data);
	ASSERT_TRUE(cqe.res > 0 && cqe.res <= SLOT && !(cqe.res % SI_LEN))
		TH_LOG("read res %d", cqe.res);
	if (self->inl)
		ASSERT_EQ(SI_LEN, cqe.res) TH_LOG("the read waited for more signals");
	n = cqe.res / SI_LEN;
	check_run(_metadata, p, SIG_A, 1, n, getpid());
	check_fill(_metadata, p + cqe.res, SLOT - cqe.res);
	take_run(_metadata, SIG_A, 1 + n, SLOT_SIS - n, getpid());
	check_done(_metadata, self, &c0, 1, 0);
}

/*
 * A signal the reader blocks but the signalfd does not take is left alone:
 * it stays pending and so does the read, which the next signal in the mask
 * completes. (Its wake-up may be a spurious one for the inline read, which
 * then takes the stock path and waits again: InlineReadFallback and
 * InlineReadArmed may move.)
 */
TEST_F(sfd, signal_not_in_mask_left_alone)
{
	struct inl_counters c0, c1;

	counters(_metadata, self, &c0);
	pending_reads(_metadata, self, 1, SLOT, false, &c0);
	self_queue(_metadata, SIG_OFF, 5);
	assert_no_cqe(_metadata, &self->ring);
	check_fill(_metadata, self->buf, self->buf_len);
	ASSERT_TRUE(self_pending(SIG_OFF)) TH_LOG("a signal outside the mask was taken");
	counters(_metadata, self, &c1);
	ASSERT_EQ(c0.completed, c1.completed);

	self_queue(_metadata, SIG_A, 6);
	reap_self_queued(_metadata, self, 6);
	take_run(_metadata, SIG_OFF, 5, 1, getpid());
	check_done(_metadata, self, &c0, -1, -1);
}

static void *other_thread_fn(void *arg)
{
	__s64 deadline = iou_now_ns() + COMPLETE_MS * 1000000LL;
	struct other_thread *o = arg;
	siginfo_t si;

	memset(&si, 0, sizeof(si));
	__atomic_store_n(&o->tid, sys_gettid(), __ATOMIC_RELEASE);
	o->got = -1;
	while (!__atomic_load_n(&o->go, __ATOMIC_ACQUIRE)) {
		if (iou_now_ns() > deadline)
			return NULL;
		iou_sleep_us(1000);
	}
	o->got = take_signal(SIG_A, &si) ? SIG_A : 0;
	o->val = si.si_value.sival_int;
	return NULL;
}

/*
 * A signal sent to another thread of the reader's process (tgkill-style)
 * is that thread's: the read, the submitting thread's, does not take it.
 * It stays pending on that thread, which then takes it itself, and the
 * read completes with the next signal for the process. (A spurious
 * wake-up may move InlineReadFallback and InlineReadArmed.)
 */
TEST_F(sfd, other_thread_signal_not_taken)
{
	struct other_thread *o = &self->ot;
	struct sig_target them = { getpid(), 0, self->pidfd };
	struct inl_counters c0, c1;
	__s64 deadline;
	int ret;

	ASSERT_EQ(0, pthread_create(&o->th, NULL, other_thread_fn, o));
	o->running = true;
	deadline = iou_now_ns() + COMPLETE_MS * 1000000LL;
	while (!__atomic_load_n(&o->tid, __ATOMIC_ACQUIRE) && iou_now_ns() < deadline)
		iou_sleep_us(1000);
	them.tid = __atomic_load_n(&o->tid, __ATOMIC_ACQUIRE);
	ASSERT_LT(0, them.tid) TH_LOG("the other thread did not start");

	counters(_metadata, self, &c0);
	pending_reads(_metadata, self, 1, SLOT, false, &c0);
	ret = send_sig(SEND_TGSIGQUEUEINFO, &them, SIG_A, payload_int(3));
	ASSERT_EQ(0, ret) TH_LOG("rt_tgsigqueueinfo: %s", strerror(-ret));
	assert_no_cqe(_metadata, &self->ring);
	check_fill(_metadata, self->buf, self->buf_len);
	ASSERT_FALSE(self_pending(SIG_A)) TH_LOG("the signal moved to the reader");
	ASSERT_TRUE(in_sigset(proc_sigset(_metadata, getpid(), them.tid, "SigPnd"), SIG_A))
		TH_LOG("the other thread's signal is gone");
	counters(_metadata, self, &c1);
	ASSERT_EQ(c0.completed, c1.completed);

	__atomic_store_n(&o->go, true, __ATOMIC_RELEASE);
	ASSERT_EQ(0, join_thread(o->th)) TH_LOG("the other thread is stuck");
	o->running = false;
	ASSERT_EQ(SIG_A, o->got) TH_LOG("the other thread did not find its signal");
	ASSERT_EQ(3, o->val);

	self_queue(_metadata, SIG_A, 4);
	reap_self_queued(_metadata, self, 4);
	check_done(_metadata, self, &c0, -1, -1);
}

/* Senders that take the stock path. */

/*
 * A timer's signal is sent from an interrupt: the read is handed back to the
 * stock path (task_work to the reader, InlineReadFallback) and completes
 * with that signal once the reader runs: an itimer's SIGALRM (SI_KERNEL) or
 * a POSIX timer's SIG_T (SI_TIMER, with its payload).
 */
static void timer_case(struct __test_metadata *_metadata, struct _test_data_sfd *self, bool posix)
{
	struct itimerval it = { .it_value = { 0, TIMER_MS * 1000 } };
	struct signalfd_siginfo want;
	struct inl_counters c0;
	struct io_uring_cqe cqe;
	char *p = slot_buf(self, 0);

	counters(_metadata, self, &c0);
	pending_reads(_metadata, self, 1, SLOT, false, &c0);
	if (posix) {
		self->have_timer = !arm_posix_timer(&self->timer, TIMER_MS, 0);
		ASSERT_TRUE(self->have_timer) TH_LOG("timer_create: %s", strerror(errno));
	} else {
		ASSERT_EQ(0, setitimer(ITIMER_REAL, &it, NULL));
	}
	reap_cqe(_metadata, &self->ring, &cqe);
	ASSERT_EQ(UD_READ, cqe.user_data);
	ASSERT_EQ(SI_LEN, cqe.res) TH_LOG("read res %d", cqe.res);
	memset(&want, 0, sizeof(want));
	want.ssi_signo = SIGALRM;
	want.ssi_code = SI_KERNEL;
	if (posix)
		check_timer_si(_metadata, p);
	else
		check_si(_metadata, p, &want);
	check_fill(_metadata, p + SI_LEN, SLOT - SI_LEN);
	assert_no_cqe(_metadata, &self->ring);
	check_done(_metadata, self, &c0, 0, 1);
}

TEST_F(sfd, itimer_signal_takes_stock_path)
{
	timer_case(_metadata, self, false);
}

TEST_F(sfd, posix_timer_signal_takes_stock_path)
{
	timer_case(_metadata, self, true);
}

/*
 * SIGIO: the read end of a pipe is set to send SIG_IO (F_SETSIG) to this
 * process when data arrives, and the pipe is written, by an io-wq worker
 * (IOSQE_ASYNC) or by write(2) here. Neither is one of the signal-sending
 * system calls: the read takes the stock path and gets SIG_IO with POLL_IN,
 * the band and the fd.
 * ASSUMES: a signal sent as a side effect of write(2) is not completed
 * inline either (only kill(2) and the like are).
 */
static void sigio_case(struct __test_metadata *_metadata, struct _test_data_sfd *self, bool iowq)
{
	struct signalfd_siginfo want;
	struct io_uring_cqe cqes[2];
	struct io_uring_sqe *sqe;
	struct inl_counters c0;
	int nr = iowq ? 2 : 1;
	char c = 'x';

	ASSERT_EQ(0, pipe2(self->pfd, O_CLOEXEC));
	ASSERT_EQ(0, fcntl(self->pfd[0], F_SETOWN, getpid()));
	ASSERT_EQ(0, fcntl(self->pfd[0], F_SETSIG, SIG_IO));
	ASSERT_EQ(0, fcntl(self->pfd[0], F_SETFL, O_ASYNC));
	counters(_metadata, self, &c0);
	pending_reads(_metadata, self, 1, SLOT, false, &c0);

	if (iowq) {
		sqe = get_sqe(_metadata, &self->ring);
		iou_prep_write(sqe, self->pfd[1], &c, 1, IOU_POS_CUR, UD_WRITE);
		sqe->flags |= IOSQE_ASYNC;
		submit_n(_metadata, &self->ring, 1);
	} else {
		ASSERT_EQ(1, write(self->pfd[1], &c, 1));
	}
	reap_n(_metadata, &self->ring, cqes, nr);
	if (iowq)
		ASSERT_EQ(1, cqe_res(_metadata, cqes, nr, UD_WRITE));
	ASSERT_EQ(SI_LEN, cqe_res(_metadata, cqes, nr, UD_READ));
	memset(&want, 0, sizeof(want));
	want.ssi_signo = SIG_IO;
	want.ssi_code = POLL_IN;
	want.ssi_band = POLLIN | POLLRDNORM;
	want.ssi_fd = self->pfd[0];
	check_si(_metadata, slot_buf(self, 0), &want);
	assert_no_cqe(_metadata, &self->ring);
	ASSERT_FALSE(self_pending(SIG_IO));
	check_done(_metadata, self, &c0, 0, 1);
}

TEST_F(sfd, sigio_from_io_wq_takes_stock_path)
{
	sigio_case(_metadata, self, true);
}

TEST_F(sfd, sigio_from_write_takes_stock_path)
{
	sigio_case(_metadata, self, false);
}

/* Bad buffers. */

/*
 * Submit a read of @len bytes of the signalfd (as two iovecs with
 * @vectored) and check that it fails with -EINVAL at once.
 */
static void short_read_einval(struct __test_metadata *_metadata, struct _test_data_sfd *self,
			      __u32 len, bool vectored)
{
	struct iovec iov[2] = {
		{ slot_buf(self, 0), len / 2 },
		{ slot_buf(self, 1), len - len / 2 },
	};
	struct io_uring_cqe cqe;

	if (vectored)
		iou_prep_readv(get_sqe(_metadata, &self->ring), self->sfd, iov, 2, 0, UD_READ);
	else
		queue_read(_metadata, &self->ring, self->sfd, slot_buf(self, 0), len, UD_READ);
	submit_n(_metadata, &self->ring, 1);
	ASSERT_EQ(1U, iou_cq_ready(&self->ring))
		TH_LOG("a %u-byte read did not fail at submission", len);
	reap_cqe(_metadata, &self->ring, &cqe);
	ASSERT_EQ(UD_READ, cqe.user_data);
	ASSERT_EQ(-EINVAL, cqe.res) TH_LOG("%u-byte %s: res %d", len,
					   vectored ? "readv" : "read", cqe.res);
}

/*
 * A buffer with no room for one signal fails with -EINVAL at submission,
 * as read(2) does, whether a signal is pending (it stays pending) or not
 * (the read does not wait).
 */
TEST_F(sfd, short_buffer_einval)
{
	static const __u32 lens[] = { 1, SI_LEN / 2, SI_LEN - 1 };
	struct inl_counters c0, c1;
	unsigned int i;

	counters(_metadata, self, &c0);
	for (i = 0; i < ARRAY_SIZE(lens); i++)
		short_read_einval(_metadata, self, lens[i], false);
	short_read_einval(_metadata, self, SI_LEN - 1, true);

	self_queue(_metadata, SIG_A, 9);
	for (i = 0; i < ARRAY_SIZE(lens); i++)
		short_read_einval(_metadata, self, lens[i], false);
	short_read_einval(_metadata, self, SI_LEN - 1, true);
	ASSERT_TRUE(self_pending(SIG_A)) TH_LOG("a failed read took the signal");
	check_fill(_metadata, self->buf, self->buf_len);
	counters(_metadata, self, &c1);
	ASSERT_EQ(c0.armed, c1.armed) TH_LOG("a short read armed inline");

	/* The signal is intact: a read with room for it takes it at submission. */
	queue_read(_metadata, &self->ring, self->sfd, slot_buf(self, 0), SI_LEN, UD_READ);
	submit_n(_metadata, &self->ring, 1);
	ASSERT_EQ(1U, iou_cq_ready(&self->ring));
	reap_self_queued(_metadata, self, 9);
}

/* Cancellation: every selector; a cancelled read consumes nothing. */

enum cancel_sel {
	CANCEL_UD,
	CANCEL_FD,
	CANCEL_FD_ALL,
	CANCEL_ALL_UD,
	CANCEL_ANY,
	CANCEL_SYNC_UD,
	CANCEL_SYNC_FD_ALL,
};

struct cancel_how {
	int nr_reads;		/* reads pending before the cancel */
	bool same_ud;		/* all with user_data UD_READ */
	bool sync;		/* IORING_REGISTER_SYNC_CANCEL, else IORING_OP_ASYNC_CANCEL */
	unsigned int flags;	/* IORING_ASYNC_CANCEL_*: by user_data UD_READ or the signalfd */
	int res;		/* what the cancel returns */
};

#define CANCEL_FD_FLAGS		IORING_ASYNC_CANCEL_FD
#define CANCEL_FD_ALL_FLAGS	(IORING_ASYNC_CANCEL_FD | IORING_ASYNC_CANCEL_ALL)

static const struct cancel_how cancel_hows[] = {
	[CANCEL_UD] = { 1, false, false, 0, 0 },
	[CANCEL_FD] = { 1, false, false, CANCEL_FD_FLAGS, 0 },
	[CANCEL_FD_ALL] = { 3, false, false, CANCEL_FD_ALL_FLAGS, 3 },
	[CANCEL_ALL_UD] = { 3, true, false, IORING_ASYNC_CANCEL_ALL, 3 },
	[CANCEL_ANY] = { 3, false, false, IORING_ASYNC_CANCEL_ANY, 3 },
	[CANCEL_SYNC_UD] = { 1, false, true, 0, 0 },
	/* Sync cancel returns the count when it finds them all at once. */
	[CANCEL_SYNC_FD_ALL] = { 3, false, true, CANCEL_FD_ALL_FLAGS, 3 },
};

static int count_cancelled_reads(const struct io_uring_cqe *cqes, int n)
{
	int i, nr = 0;

	for (i = 0; i < n; i++)
		nr += cqes[i].user_data != UD_CANCEL && cqes[i].res == -ECANCELED;
	return nr;
}

/*
 * Cancel the pending reads with @sel: each ends with -ECANCELED, and they
 * took nothing: a signal sent afterwards stays pending, and the next read
 * takes it at submission.
 */
static void cancel_then_signal(struct __test_metadata *_metadata, struct _test_data_sfd *self,
			       enum cancel_sel sel)
{
	const struct cancel_how *h = &cancel_hows[sel];
	int ret, nr = h->nr_reads + !h->sync;
	struct io_uring_cqe cqes[NR_SLOTS];
	struct io_uring_sqe *sqe;
	struct inl_counters c0, c;

	counters(_metadata, self, &c0);
	pending_reads(_metadata, self, h->nr_reads, SLOT, h->same_ud, &c0);
	if (h->sync) {
		ret = iou_sync_cancel(&self->ring, UD_READ, self->sfd, h->flags, COMPLETE_MS);
		ASSERT_EQ(h->res, ret) TH_LOG("sync cancel: %s", ret < 0 ? strerror(-ret) : "");
	} else {
		sqe = get_sqe(_metadata, &self->ring);
		iou_prep_cancel(sqe, UD_READ, h->flags, UD_CANCEL);
		sqe->fd = self->sfd;
		submit_n(_metadata, &self->ring, 1);
	}
	reap_n(_metadata, &self->ring, cqes, nr);
	if (!h->sync)
		ASSERT_EQ(h->res, cqe_res(_metadata, cqes, nr, UD_CANCEL));
	ASSERT_EQ(h->nr_reads, count_cancelled_reads(cqes, nr));
	assert_no_cqe(_metadata, &self->ring);

	wait_pinned(_metadata, self->ring.fd, self->inl, c0.pinned);
	counters(_metadata, self, &c);
	if (self->inl) {
		/* ASSUMES: InlineReadCancelled counts each cancelled inline read. */
		ASSERT_EQ(c0.cancelled + h->nr_reads, c.cancelled);
		ASSERT_EQ(c0.completed, c.completed);
		check_balance(_metadata, &c0, &c);
	}

	self_queue(_metadata, SIG_A, 8);
	assert_no_cqe(_metadata, &self->ring);
	ASSERT_TRUE(self_pending(SIG_A)) TH_LOG("a cancelled read took the signal");
	check_fill(_metadata, self->buf, self->buf_len);
	queue_read(_metadata, &self->ring, self->sfd, slot_buf(self, 0), SLOT, UD_READ);
	submit_n(_metadata, &self->ring, 1);
	reap_self_queued(_metadata, self, 8);
}

TEST_F(sfd, cancel_by_user_data)
{
	cancel_then_signal(_metadata, self, CANCEL_UD);
}

TEST_F(sfd, cancel_by_fd)
{
	cancel_then_signal(_metadata, self, CANCEL_FD);
}

TEST_F(sfd, cancel_all_by_fd)
{
	cancel_then_signal(_metadata, self, CANCEL_FD_ALL);
}

TEST_F(sfd, cancel_all_by_user_data)
{
	cancel_then_signal(_metadata, self, CANCEL_ALL_UD);
}

TEST_F(sfd, cancel_any)
{
	cancel_then_signal(_metadata, self, CANCEL_ANY);
}

TEST_F(sfd, sync_cancel_by_user_data)
{
	cancel_then_signal(_metadata, self, CANCEL_SYNC_UD);
}

TEST_F(sfd, sync_cancel_all_by_fd)
{
	cancel_then_signal(_metadata, self, CANCEL_SYNC_FD_ALL);
}

/* Closing things, exit and exec with reads pending. */

/*
 * The read holds its own reference to the signalfd: closing the fd leaves
 * it pending, and the next signal completes it.
 */
TEST_F(sfd, signalfd_closed_read_still_completes)
{
	struct inl_counters c0;

	counters(_metadata, self, &c0);
	pending_reads(_metadata, self, 1, SLOT, false, &c0);
	ASSERT_EQ(0, close(self->sfd));
	self->sfd = -1;
	assert_no_cqe(_metadata, &self->ring);

	self_queue(_metadata, SIG_A, 12);
	if (self->inl) {
		check_run(_metadata, slot_buf(self, 0), SIG_A, 12, 1, getpid());
		ASSERT_EQ(self->defer ? 0U : 1U, iou_cq_ready(&self->ring));
	}
	reap_self_queued(_metadata, self, 12);
	check_done(_metadata, self, &c0, 1, 0);
}

/*
 * Closing the ring (unmap + close) with reads pending returns promptly, and
 * the reads are gone: a signal sent afterwards stays pending.
 */
TEST_F(sfd, ring_close_with_pending_reads)
{
	struct inl_counters c0;
	__s64 t0, ms;

	counters(_metadata, self, &c0);
	pending_reads(_metadata, self, 2, SLOT, false, &c0);

	t0 = iou_now_ns();
	iou_exit(&self->ring);
	ms = (iou_now_ns() - t0) / 1000000;
	ASSERT_LT(ms, CLOSE_MS) TH_LOG("closing the ring took %lld ms", (long long)ms);

	self_queue(_metadata, SIG_A, 13);
	/* Give any survivor of the ring (task_work, a kworker) time to act. */
	iou_sleep_us(2 * PENDING_MS * 1000);
	ASSERT_TRUE(self_pending(SIG_A)) TH_LOG("a read of the closed ring took the signal");
	check_fill(_metadata, self->buf, self->buf_len);
	take_run(_metadata, SIG_A, 13, 1, getpid());
}

/*
 * Re-create the ring for a test whose requests a forked child submits: a
 * SINGLE_ISSUER ring is created disabled, and the child that enables it
 * becomes its submitter. The parent then only looks at its memory.
 */
static void ring_for_child(struct __test_metadata *_metadata, struct _test_data_sfd *self)
{
	unsigned int flags = self->flags | IORING_SETUP_R_DISABLED;
	int ret;

	if (!(self->flags & IORING_SETUP_SINGLE_ISSUER))
		return;
	iou_exit(&self->ring);
	ret = iou_setup(&self->ring, RING_ENTRIES, flags);
	ASSERT_EQ(0, ret) TH_LOG("io_uring_setup(%#x): %s", flags, strerror(-ret));
}

/* Without ASSERT_*(), for children and threads: queue a read. Returns 0 or -1. */
static int queue_read_noassert(struct iou_ring *ring, int fd, char *buf, __u32 len, __u64 ud)
{
	struct io_uring_sqe *sqe = iou_get_sqe(ring);

	if (!sqe)
		return -1;
	iou_prep_read(sqe, fd, buf, len, 0, ud);
	return 0;
}

/* Consume every CQE in @ring's memory: each must be a read (UD_READ..) cancelled. */
static unsigned int take_cancelled_cqes(struct __test_metadata *_metadata, struct iou_ring *ring)
{
	struct io_uring_cqe *cqe;
	unsigned int n = 0;

	while (!iou_peek_cqe(ring, &cqe)) {
		ASSERT_EQ(UD_READ, cqe->user_data & ~0xffULL);
		ASSERT_EQ(-ECANCELED, cqe->res)
			TH_LOG("read %#llx res %d", (unsigned long long)cqe->user_data, cqe->res);
		iou_cqe_seen(ring);
		n++;
	}
	return n;
}

/*
 * A child submits two reads of its own signals on a ring the parent keeps
 * open, and exits: the exit is prompt, nothing is read, and with the flag
 * nothing stays pinned.
 * ASSUMES: inline reads are cancelled at exit (they pin the task's memory):
 * two -ECANCELED CQEs. Stock: on a plain ring the exit frees the child's
 * signal handlers, whose POLLFREE wake-up cancels the poll requests; on a
 * DEFER_TASKRUN ring that cancellation is local work of the dead child,
 * which never runs: no CQE until the ring goes away.
 */
TEST_F(sfd, reader_exit_with_pending_reads)
{
	struct inl_counters c0, c1;
	unsigned int n;
	__s64 t0, ms;

	ring_for_child(_metadata, self);
	counters(_metadata, self, &c0);
	self->child = fork();
	ASSERT_NE(-1, self->child);
	if (!self->child) {
		if (child_take_ring(&self->ring))
			_exit(CHILD_SETUP);
		if (queue_read_noassert(&self->ring, self->sfd, slot_buf(self, 0), SLOT, UD_READ) ||
		    queue_read_noassert(&self->ring, self->sfd, slot_buf(self, 1), SLOT,
					UD_READ + 1) ||
		    iou_submit(&self->ring) != 2)
			_exit(CHILD_SUBMIT);
		_exit(iou_cq_ready(&self->ring) ? CHILD_EARLY_CQE : CHILD_OK);
	}
	join_child(_metadata, &self->child, CLOSE_MS);

	counters(_metadata, self, &c1);
	if (self->inl)
		ASSERT_EQ(c0.armed + 2, c1.armed);
	if (self->inl || !self->defer) {
		n = wait_cq_ready(&self->ring, 2, COMPLETE_MS);
		ASSERT_EQ(2U, n) TH_LOG("the reads were not cancelled when their task exited");
		ASSERT_EQ(2U, take_cancelled_cqes(_metadata, &self->ring));
	}
	assert_no_cqe_mem(_metadata, &self->ring, PENDING_MS);
	check_fill(_metadata, self->buf, self->buf_len);
	if (self->inl) {
		wait_pinned(_metadata, self->ring.fd, true, c0.pinned);
		counters(_metadata, self, &c1);
		ASSERT_EQ(c0.completed, c1.completed);
		check_balance(_metadata, &c0, &c1);
	}

	t0 = iou_now_ns();
	iou_exit(&self->ring);
	ms = (iou_now_ns() - t0) / 1000000;
	ASSERT_LT(ms, CLOSE_MS) TH_LOG("closing the ring took %lld ms", (long long)ms);
}

static void *exit_thread_fn(void *arg)
{
	struct exit_thread *x = arg;

	if (iou_setup(&x->ring, RING_ENTRIES, x->flags)) {
		x->err = CHILD_SETUP;
		return NULL;
	}
	if (queue_read_noassert(&x->ring, x->sfd, x->buf, SLOT, UD_READ) ||
	    queue_read_noassert(&x->ring, x->sfd, x->buf + SLOT, SLOT, UD_READ + 1) ||
	    iou_submit(&x->ring) != 2)
		x->err = CHILD_SUBMIT;
	else if (iou_cq_ready(&x->ring))
		x->err = CHILD_EARLY_CQE;
	return NULL;
}

/*
 * A thread submits two reads on a ring of its own and exits; the process
 * keeps the ring. A signal sent to the process afterwards is not taken by
 * the dead thread's reads: it stays pending. (Stock: the reads stay armed
 * past the exit and the signal's wake-up ends them with -ECANCELED on a
 * plain ring, without reading.)
 * ASSUMES: inline reads are cancelled when their task exits.
 */
TEST_F(sfd, reader_thread_exit_with_pending_reads)
{
	struct exit_thread *x = &self->xt;
	struct inl_counters c1;
	unsigned int n = 0;

	x->flags = self->flags;
	x->sfd = self->sfd;
	x->buf = self->buf;
	ASSERT_EQ(0, pthread_create(&x->th, NULL, exit_thread_fn, x));
	x->running = true;
	ASSERT_EQ(0, join_thread(x->th)) TH_LOG("the thread is stuck");
	x->running = false;
	ASSERT_EQ(CHILD_OK, x->err) TH_LOG("thread: %s", child_error(x->err));

	get_counters(_metadata, x->ring.fd, self->inl, &c1);
	if (self->inl) {
		ASSERT_EQ(2ULL, c1.armed);
		n = wait_cq_ready(&x->ring, 2, CLOSE_MS);
		ASSERT_EQ(2U, n) TH_LOG("the reads were not cancelled when their thread exited");
		n = take_cancelled_cqes(_metadata, &x->ring);
	}

	self_queue(_metadata, SIG_A, 14);
	iou_sleep_us(2 * PENDING_MS * 1000);
	ASSERT_TRUE(self_pending(SIG_A)) TH_LOG("a read of the exited thread took the signal");
	check_fill(_metadata, self->buf, self->buf_len);
	n += take_cancelled_cqes(_metadata, &x->ring);
	ASSERT_GE(2U, n);
	take_run(_metadata, SIG_A, 14, 1, getpid());

	if (self->inl) {
		ASSERT_EQ(2U, n);
		wait_pinned(_metadata, x->ring.fd, true, 0);
		get_counters(_metadata, x->ring.fd, true, &c1);
		ASSERT_EQ(0ULL, c1.completed);
		check_balance(_metadata, &fresh_ring, &c1);
	}
}

/*
 * The re-executed reader of exec_with_pending_read: say so through fd
 * @fd_arg, then take the signal the parent sends (blocked across execve()):
 * SIG_A from the parent with payload @val_arg, which the read execve()
 * cancelled did not take.
 */
static int exec_reader(const char *fd_arg, const char *val_arg)
{
	struct timespec ts = { COMPLETE_MS / 1000, 0 };
	siginfo_t si;
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIG_A);
	if (write(atoi(fd_arg), "r", 1) != 1)
		return CHILD_SETUP;
	if (sigtimedwait(&set, &si, &ts) != SIG_A)
		return CHILD_NO_SIGNAL;
	if (si.si_code != SI_QUEUE || si.si_pid != getppid() ||
	    si.si_value.sival_int != atoi(val_arg))
		return CHILD_BAD_SIGNAL;
	return CHILD_OK;
}

/*
 * A child submits a read of its signals on a ring the parent keeps open and
 * execs this program again: execve() cancels the read (-ECANCELED, nothing
 * read, nothing pinned), and the signal the parent then sends stays pending
 * for the new program, which takes it.
 */
TEST_F(sfd, exec_with_pending_read)
{
	struct inl_counters c0, c1;
	char fd_arg[16], val_arg[16];
	struct pollfd pfd;
	unsigned int n;
	pid_t pid;
	char c;

	ring_for_child(_metadata, self);
	ASSERT_EQ(0, pipe2(self->pfd, O_CLOEXEC));
	snprintf(fd_arg, sizeof(fd_arg), "%d", self->pfd[1]);
	snprintf(val_arg, sizeof(val_arg), "%d", 15);
	counters(_metadata, self, &c0);

	self->child = fork();
	ASSERT_NE(-1, self->child);
	if (!self->child) {
		if (child_take_ring(&self->ring) || fcntl(self->pfd[1], F_SETFD, 0))
			_exit(CHILD_SETUP);
		if (queue_read_noassert(&self->ring, self->sfd, slot_buf(self, 0), SLOT, UD_READ) ||
		    iou_submit(&self->ring) != 1)
			_exit(CHILD_SUBMIT);
		if (iou_cq_ready(&self->ring))
			_exit(CHILD_EARLY_CQE);
		execl("/proc/self/exe", "/proc/self/exe", EXEC_ARG, fd_arg, val_arg, (char *)NULL);
		_exit(CHILD_EXEC);
	}
	close(self->pfd[1]);
	self->pfd[1] = -1;
	pfd = (struct pollfd){ .fd = self->pfd[0], .events = POLLIN };
	ASSERT_EQ(1, poll(&pfd, 1, COMPLETE_MS)) TH_LOG("the child did not exec");
	ASSERT_EQ(1, read(self->pfd[0], &c, 1)) TH_LOG("the child did not exec");

	n = wait_cq_ready(&self->ring, 1, COMPLETE_MS);
	ASSERT_EQ(1U, n) TH_LOG("execve() did not cancel the read");
	check_only_cqe(_metadata, &self->ring, UD_READ, -ECANCELED);
	check_fill(_metadata, self->buf, self->buf_len);
	if (self->inl) {
		wait_pinned(_metadata, self->ring.fd, true, c0.pinned);
		counters(_metadata, self, &c1);
		ASSERT_EQ(c0.armed + 1, c1.armed);
		ASSERT_EQ(c0.completed, c1.completed);
		check_balance(_metadata, &c0, &c1);
	}

	pid = self->child;
	ASSERT_EQ(0, sigqueue(pid, SIG_A, payload_int(15)));
	join_child(_metadata, &self->child, COMPLETE_MS);
}

/*
 * Race and accounting: a sender process queues RACE_SENDS signals SIG_A
 * with payloads 0, 1, ... (by sigqueue(3), pidfd_send_signal(2) to the
 * process, or rt_tgsigqueueinfo(2) to the reader thread, whose payloads
 * carry PRIV_BIT), as fast as RLIMIT_SIGPENDING lets it, while this thread
 * keeps RACE_SLOTS reads (room for two signals each) pending and cancels
 * some at random by every selector. At the end, the reads left are
 * cancelled and the signals left taken with sigtimedwait(2): every payload
 * sent was read exactly once; each pending set gave its signals in the order
 * they were sent (within a read, and what was left after all that was
 * read); no read failed but with -ECANCELED, only reads a cancel could match
 * were cancelled, no more than the cancels reported, and they read nothing;
 * a cancel by user_data that succeeded cancelled its read.
 *
 * Meanwhile a POSIX timer sends SIG_T every RACE_TIMER_MS, from interrupts:
 * its wake-ups hand pending reads back to the stock path at any moment, and
 * reads get its signals too. Only the reader may take those (dequeuing a
 * timer's signal re-arms the timer): if a sender took one, the timer would
 * stop. At the end it must still be running.
 */
#define RACE_SENDS	2000
#define RACE_MS		2000
#define RACE_SLOTS	4
#define RACE_SIS	2
#define RACE_LEN	(RACE_SIS * SI_LEN)
#define PRIV_BIT	0x40000000
#define RACE_CANCEL	0x4000000000000000ULL	/* user_data bit of the cancels */
#define RACE_ANY_SLOT	0xff
#define RACE_TIMER_MS	1

/* A sync cancel on a DEFER ring may wait out its timeout: see race_cancel_res(). */
#define SYNC_DEFER_MS	100

enum race_cancel {
	RC_UD,		/* IORING_OP_ASYNC_CANCEL by user_data */
	RC_FD,		/* ... by fd: one read */
	RC_FD_ALL,	/* ... by fd, all */
	RC_ANY,		/* ... any */
	RC_SYNC_UD,	/* IORING_REGISTER_SYNC_CANCEL by user_data */
	NR_RC,
};

/* Shared between the reader and the sender process. */
struct race_shared {
	unsigned int sent;	/* signals queued: payloads 0 .. sent - 1 */
	unsigned int stop;
	int err;		/* errno of a failed send */
};

struct race_read {
	__u64 ud;		/* user_data of the pending read, 0 if the slot is idle */
	bool done;		/* its CQE is in */
	int res;
	bool exposed;		/* a cancel that could match it was issued */
	bool must_cancel;	/* a cancel by its user_data returned 0 */
	int cancels_out;	/* cancels by its user_data whose CQE is not in yet */
};

struct race_state {
	struct race_read r[RACE_SLOTS];
	unsigned char *seen;	/* per payload: read or taken once */
	unsigned int n;		/* payloads 0 .. n - 1 may be sent */
	unsigned int total;	/* signals read or taken */
	int max_read[2];	/* per pending set (process, thread): the highest read */
	pid_t sender;
	unsigned int gen;
	unsigned int seed;
	bool draining;
	bool defer;		/* the ring is IORING_SETUP_DEFER_TASKRUN */
	unsigned long reads, cancelled, cancel_hits, timer_sigs;
};

static __noreturn void race_sender(struct race_shared *sh, int pidfd, unsigned int n,
				   unsigned int seed)
{
	static const enum sender hows[] = {
		SEND_SIGQUEUE, SEND_PIDFD_QUEUE, SEND_TGSIGQUEUEINFO,
	};
	struct sig_target t = { getppid(), getppid(), pidfd };
	unsigned int seq = 0;
	enum sender how;
	int ret;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	while (seq < n && !__atomic_load_n(&sh->stop, __ATOMIC_ACQUIRE)) {
		how = hows[rand_r(&seed) % ARRAY_SIZE(hows)];
		ret = send_sig(how, &t, SIG_A,
			       payload_int(seq | (how == SEND_TGSIGQUEUEINFO ? PRIV_BIT : 0)));
		if (ret == -EAGAIN) {
			/* RLIMIT_SIGPENDING: let the reader catch up. */
			iou_sleep_us(1000);
			continue;
		}
		if (ret) {
			sh->err = -ret;
			break;
		}
		__atomic_store_n(&sh->sent, ++seq, __ATOMIC_RELEASE);
		if (rand_r(&seed) % 2)
			iou_sleep_us(rand_r(&seed) % 300);
		else
			spin(rand_r(&seed) % 3000);
	}
	_exit(CHILD_OK);
}

/*
 * Account one signal with payload @payload: sent, seen once, and after
 * @last[set] in its pending set (then the new @last[set]).
 */
static void race_account(struct __test_metadata *_metadata, struct race_state *st, int payload,
			 int *last)
{
	int set = !!(payload & PRIV_BIT), seq = payload & ~PRIV_BIT;

	ASSERT_TRUE(seq >= 0 && (unsigned int)seq < st->n) TH_LOG("payload %#x", payload);
	ASSERT_EQ(0, st->seen[seq]) TH_LOG("signal %d delivered twice", seq);
	st->seen[seq] = 1;
	st->total++;
	ASSERT_LT(last[set], seq) TH_LOG("signal %d after %d from the same pending set", seq,
					 last[set]);
	last[set] = seq;
}

/* The @res bytes a read got at @p: one to RACE_SIS signals from the sender. */
static void race_read_sis(struct __test_metadata *_metadata, struct race_state *st,
			  const char *p, int res)
{
	struct signalfd_siginfo si;
	int last[2] = { -1, -1 };
	int i;

	ASSERT_TRUE(res > 0 && res <= RACE_LEN && !(res % SI_LEN)) TH_LOG("read res %d", res);
	for (i = 0; i < res / SI_LEN; i++) {
		memcpy(&si, p + i * SI_LEN, sizeof(si));
		if (si.ssi_signo == (uint32_t)SIG_T) {
			ASSERT_EQ(SI_TIMER, si.ssi_code);
			ASSERT_EQ(TIMER_VAL, si.ssi_int);
			st->timer_sigs++;
			continue;
		}
		ASSERT_EQ((uint32_t)SIG_A, si.ssi_signo);
		ASSERT_EQ(SI_QUEUE, si.ssi_code);
		ASSERT_EQ((uint32_t)st->sender, si.ssi_pid);
		race_account(_metadata, st, si.ssi_int, last);
	}
	if (last[0] > st->max_read[0])
		st->max_read[0] = last[0];
	if (last[1] > st->max_read[1])
		st->max_read[1] = last[1];
}

static void race_cancel_res(struct __test_metadata *_metadata, struct race_state *st,
			    enum race_cancel kind, int slot, int res)
{
	bool single = kind == RC_UD || kind == RC_SYNC_UD || kind == RC_FD;
	bool ok = single ? !res || res == -ENOENT || res == -EALREADY : res >= 0;

	/*
	 * On a DEFER_TASKRUN ring, a sync cancel that finds the read being
	 * completed (-EALREADY) waits for its completion, which is the
	 * submitter's own task work; but such a ring never wakes cq_wait
	 * (__io_cq_unlock_post()), so the wait ends at the timeout: -ETIME, as
	 * for any request a sync cancel finds running.
	 */
	if (kind == RC_SYNC_UD && st->defer && res == -ETIME)
		ok = true;

	/* A single cancel finds its read, or it was done or being completed. */
	ASSERT_TRUE(ok) TH_LOG("cancel %d: res %d", kind, res);
	st->cancel_hits += single ? !res : res;
	/*
	 * Only an async cancel's 0 means the read was cancelled: a sync cancel
	 * that found the read being completed (-EALREADY) waits for it and then
	 * returns 0 as well (io_sync_cancel(), cancel.c:373).
	 */
	if (!res && kind == RC_UD)
		st->r[slot].must_cancel = true;
}

/* Free slot @slot once every CQE of its read (and of cancels by its user_data) is in. */
static void race_finish(struct __test_metadata *_metadata, struct _test_data_sfd *self,
			struct race_state *st, int slot)
{
	struct race_read *r = &st->r[slot];

	if (!r->done || r->cancels_out)
		return;
	if (r->must_cancel)
		ASSERT_EQ(-ECANCELED, r->res) TH_LOG("a successful cancel did not cancel its read");
	memset(slot_buf(self, slot), FILL, RACE_LEN);
	memset(r, 0, sizeof(*r));
}

static void race_cqe(struct __test_metadata *_metadata, struct _test_data_sfd *self,
		     struct race_state *st, const struct io_uring_cqe *cqe)
{
	int slot = cqe->user_data & 0xff;
	struct race_read *r;

	if (cqe->user_data & RACE_CANCEL) {
		race_cancel_res(_metadata, st, (cqe->user_data >> 8) & 0xff, slot, cqe->res);
		if (slot == RACE_ANY_SLOT)
			return;
		st->r[slot].cancels_out--;
		race_finish(_metadata, self, st, slot);
		return;
	}
	ASSERT_GT(RACE_SLOTS, slot);
	r = &st->r[slot];
	ASSERT_EQ(r->ud, cqe->user_data) TH_LOG("CQE for a read that is not pending");
	ASSERT_FALSE(r->done) TH_LOG("second CQE for read %#llx", (unsigned long long)r->ud);
	r->done = true;
	r->res = cqe->res;
	if (cqe->res == -ECANCELED) {
		ASSERT_TRUE(r->exposed || st->draining) TH_LOG("a read was cancelled by nobody");
		check_fill(_metadata, slot_buf(self, slot), RACE_LEN);
		st->cancelled++;
	} else {
		race_read_sis(_metadata, st, slot_buf(self, slot), cqe->res);
		check_fill(_metadata, slot_buf(self, slot) + cqe->res, RACE_LEN - cqe->res);
		st->reads++;
	}
	race_finish(_metadata, self, st, slot);
}

static void race_reap(struct __test_metadata *_metadata, struct _test_data_sfd *self,
		      struct race_state *st, unsigned int wait_ms)
{
	struct io_uring_cqe *cqe;
	int ret;

	/* Run task_work first: iou_wait_cqe() does not enter while the CQ holds a CQE. */
	ret = iou_get_events(&self->ring);
	ASSERT_LE(0, ret) TH_LOG("getevents: %s", strerror(-ret));
	ret = iou_wait_cqe(&self->ring, &cqe, wait_ms);
	ASSERT_TRUE(!ret || ret == -ETIME) TH_LOG("wait: %s", strerror(-ret));
	while (!iou_peek_cqe(&self->ring, &cqe)) {
		race_cqe(_metadata, self, st, cqe);
		iou_cqe_seen(&self->ring);
	}
}

static void race_submit_reads(struct __test_metadata *_metadata, struct _test_data_sfd *self,
			      struct race_state *st)
{
	int i, queued = 0;

	for (i = 0; i < RACE_SLOTS; i++) {
		if (st->r[i].ud)
			continue;
		st->gen++;
		st->r[i].ud = (__u64)st->gen << 8 | i;
		queue_read(_metadata, &self->ring, self->sfd, slot_buf(self, i), RACE_LEN,
			   st->r[i].ud);
		queued++;
	}
	if (queued)
		submit_n(_metadata, &self->ring, queued);
}

/* Cancel with @kind: the read in @slot, or (by fd, any) whatever matches. */
static void race_cancel(struct __test_metadata *_metadata, struct _test_data_sfd *self,
			struct race_state *st, enum race_cancel kind, int slot)
{
	__u64 ud = RACE_CANCEL | (__u64)kind << 8 | RACE_ANY_SLOT;
	struct race_read *r = &st->r[slot];
	struct io_uring_sqe *sqe;
	int i;

	if (kind == RC_SYNC_UD) {
		r->exposed = true;
		race_cancel_res(_metadata, st, kind, slot,
				iou_sync_cancel(&self->ring, r->ud, -1, 0,
						st->defer ? SYNC_DEFER_MS : COMPLETE_MS));
		return;
	}
	sqe = get_sqe(_metadata, &self->ring);
	switch (kind) {
	case RC_UD:
		iou_prep_cancel(sqe, r->ud, 0, (ud & ~0xffULL) | slot);
		r->exposed = true;
		r->cancels_out++;
		break;
	case RC_FD:
	case RC_FD_ALL:
		iou_prep_cancel_fd(sqe, self->sfd, kind == RC_FD ? 0 : IORING_ASYNC_CANCEL_ALL,
				   ud);
		break;
	default:
		iou_prep_cancel(sqe, 0, IORING_ASYNC_CANCEL_ANY, ud);
		break;
	}
	for (i = 0; kind != RC_UD && i < RACE_SLOTS; i++)
		st->r[i].exposed |= st->r[i].ud && !st->r[i].done;
	submit_n(_metadata, &self->ring, 1);
}

static unsigned int race_busy(const struct race_state *st)
{
	unsigned int i, busy = 0;

	for (i = 0; i < RACE_SLOTS; i++)
		busy += !!st->r[i].ud;
	return busy;
}

static unsigned int first_unseen(const struct race_state *st, unsigned int sent)
{
	unsigned int i = 0;

	while (i < sent && st->seen[i])
		i++;
	return i;
}

/*
 * Take the signals still pending: the sender's must follow all that was
 * read, set by set. Then the timer must still be running.
 */
static void race_take_rest(struct __test_metadata *_metadata, struct race_state *st)
{
	unsigned int left = 0;
	struct timespec ts;
	sigset_t set;
	siginfo_t si;

	while (take_signal(SIG_A, &si)) {
		ASSERT_EQ(SI_QUEUE, si.si_code);
		ASSERT_EQ(st->sender, si.si_pid);
		race_account(_metadata, st, si.si_value.sival_int, st->max_read);
		left++;
	}
	TH_LOG("%u signals were left pending", left);

	take_signal(SIG_T, &si);
	sigemptyset(&set);
	sigaddset(&set, SIG_T);
	ts = ms_ts(COMPLETE_MS);
	ASSERT_EQ(SIG_T, sigtimedwait(&set, &si, &ts))
		TH_LOG("the timer stopped: its signal was taken without re-arming it");
	ASSERT_EQ(SI_TIMER, si.si_code);
}

TEST_F_TIMEOUT(sfd, race_senders_cancels, 60)
{
	unsigned long n = env_ul("IOU_RACE_ITERS", RACE_SENDS);
	unsigned long max_ms = env_ul("IOU_RACE_MS", RACE_MS);
	unsigned int seed = env_ul("IOU_SEED", (unsigned long)time(NULL) ^ getpid());
	struct race_state st = { .n = n, .max_read = { -1, -1 }, .defer = self->defer };
	__s64 start = iou_now_ns(), deadline;
	struct inl_counters c0, c1;
	struct race_shared *sh;
	unsigned int sent, i;
	int status;

	TH_LOG("seed %u (IOU_SEED), %lu signals (IOU_RACE_ITERS) or %lu ms (IOU_RACE_MS)",
	       seed, n, max_ms);
	st.seed = seed;
	st.seen = calloc(n ? n : 1, 1);
	ASSERT_NE(NULL, st.seen);
	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, sh);
	memset(sh, 0, sizeof(*sh));
	counters(_metadata, self, &c0);
	self->have_timer = !arm_posix_timer(&self->timer, RACE_TIMER_MS, RACE_TIMER_MS);
	ASSERT_TRUE(self->have_timer) TH_LOG("timer_create: %s", strerror(errno));

	self->child = fork();
	ASSERT_NE(-1, self->child);
	if (!self->child)
		race_sender(sh, self->pidfd, n, seed ^ 0x9e3779b9U);
	st.sender = self->child;

	while (__atomic_load_n(&sh->sent, __ATOMIC_ACQUIRE) < n &&
	       (iou_now_ns() - start) / 1000000 < (__s64)max_ms &&
	       wait_child(self->child, &status, 0, 0) == -ETIME) {
		race_submit_reads(_metadata, self, &st);
		i = rand_r(&st.seed) % (3 * RACE_SLOTS);
		if (i < RACE_SLOTS && st.r[i].ud && !st.r[i].done)
			race_cancel(_metadata, self, &st, rand_r(&st.seed) % NR_RC, i);
		race_reap(_metadata, self, &st, 2);
	}

	__atomic_store_n(&sh->stop, 1, __ATOMIC_RELEASE);
	join_child(_metadata, &self->child, COMPLETE_MS);
	ASSERT_EQ(0, sh->err) TH_LOG("sender: %s", strerror(sh->err));
	sent = __atomic_load_n(&sh->sent, __ATOMIC_ACQUIRE);

	/* Cancel what is still pending (a read back from the stock path may re-arm). */
	st.draining = true;
	deadline = iou_now_ns() + COMPLETE_MS * 1000000LL;
	while (race_busy(&st)) {
		ASSERT_LT(iou_now_ns(), deadline) TH_LOG("%u reads still pending", race_busy(&st));
		race_cancel(_metadata, self, &st, RC_ANY, 0);
		race_reap(_metadata, self, &st, PENDING_MS);
	}
	assert_no_cqe(_metadata, &self->ring);
	race_take_rest(_metadata, &st);

	TH_LOG("%u signals in %lld ms: %lu reads, %lu cancelled (cancels said %lu), %lu SIG_T",
	       sent, (long long)((iou_now_ns() - start) / 1000000), st.reads, st.cancelled,
	       st.cancel_hits, st.timer_sigs);
	ASSERT_EQ(sent, first_unseen(&st, sent)) TH_LOG("signal %u was lost",
							first_unseen(&st, sent));
	ASSERT_EQ(sent, st.total) TH_LOG("more signals delivered than sent");
	ASSERT_LE(st.cancelled, st.cancel_hits) TH_LOG("more reads cancelled than cancels said");

	wait_pinned(_metadata, self->ring.fd, self->inl, c0.pinned);
	counters(_metadata, self, &c1);
	if (self->inl) {
		/* The sender completed reads while this thread waited or cancelled. */
		ASSERT_LT(c0.completed, c1.completed) TH_LOG("no read completed inline");
		check_balance(_metadata, &c0, &c1);
	}
	munmap(sh, sizeof(*sh));
	free(st.seen);
}

int main(int argc, char **argv)
{
	if (argc == 4 && !strcmp(argv[1], EXEC_ARG))
		return exec_reader(argv[2], argv[3]);
	return test_harness_run(argc, argv);
}
