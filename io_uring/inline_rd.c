// SPDX-License-Identifier: GPL-2.0
/*
 * C glue of the inline read engine (io_uring/inline_read.rs): everything
 * that touches io_uring requests and rings, and the wake-up helper that
 * providers call.  See include/linux/io_uring/inline_read.h.
 */
#include <linux/kernel.h>
#include <linux/bvec.h>
#include <linux/llist.h>
#include <linux/errno.h>
#include <linux/export.h>
#include <linux/fs.h>
#include <linux/mm.h>
#include <linux/pagemap.h>
#include <linux/poll.h>
#include <linux/sched.h>
#include <linux/sched/mm.h>
#include <linux/sched/user.h>
#include <linux/seq_file.h>
#include <linux/sizes.h>
#include <linux/slab.h>
#include <linux/uio.h>
#include <linux/workqueue.h>
#include <linux/io_uring.h>
#include <linux/io_uring/inline_read.h>

#include <uapi/linux/io_uring.h>

#include "io_uring.h"
#include "cancel.h"
#include "rsrc.h"
#include "rw.h"
#include "inline_rd.h"

/* A read larger than this takes the stock path: it would pin too much. */
#define IO_INLINE_RD_MAX_BYTES	SZ_1M
/* Nor does one that would take a ring's pinned reader memory past this. */
#define IO_INLINE_RD_MAX_PINNED	SZ_16M

/* The events that may let a pending read make progress. */
#define IO_INLINE_RD_EVENTS	(EPOLLIN | EPOLLRDNORM | EPOLLRDHUP | EPOLLHUP | EPOLLERR)

/*
 * The destination of a pending read, reachable from any task: the reader's
 * pages, pinned at arm time, as a bvec iterator.  For READ_FIXED the
 * registered buffer's own bvec iterator is used and nothing is pinned.
 */
struct io_inline_rd_dest {
	struct iov_iter		iter;
	struct llist_node	free_node;	/* io_inline_rd_dest_free_later() */
	unsigned int		nr_pages;	/* pinned pages in bvec[] */
	unsigned long		acct;		/* pages charged to the user */
	/* whom to uncharge after a late unpin: the ring may be gone then */
	struct user_struct	*acct_user;
	struct mm_struct	*acct_mm;
	struct bio_vec		bvec[];
};

/*
 * The hooked wake-up in progress is recorded in the waking task
 * (current->inline_rd_batch), not per CPU: a signal's sender claims a read
 * under the signal lock and completes it after it returns to the syscall,
 * and may be preempted or migrated in between.
 */
struct io_inline_rd_batch *io_inline_rd_batch_get(struct wait_queue_head *head)
{
	struct io_inline_rd_batch *batch;

	/* an interrupt does not take part in the task's wake-up */
	if (!in_task())
		return NULL;
	batch = current->inline_rd_batch;
	return batch && batch->head == head ? batch : NULL;
}

/* Whether the current context may complete reads inline (and sleep). */
static bool io_inline_rd_may_complete(void)
{
	return in_task() &&
	       !(current->flags & (PF_KTHREAD | PF_USER_WORKER | PF_EXITING));
}

/* Orders arming against wake-ups: see io_inline_rd_sender_wake(). */
static atomic64_t io_inline_rd_seq = ATOMIC64_INIT(0);

static void io_inline_rd_batch_init(struct io_inline_rd_batch *batch,
				    struct wait_queue_head *head)
{
	batch->head = head;
	batch->seq_limit = U64_MAX;
	batch->claimed = NULL;
	batch->ops = NULL;
	batch->data = NULL;
	batch->nosleep = false;
	batch->sender = false;
	batch->active = io_inline_rd_may_complete();
	if (batch->active) {
		batch->prev = current->inline_rd_batch;
		current->inline_rd_batch = batch;
	}
}

static void io_inline_rd_batch_end(struct io_inline_rd_batch *batch)
{
	if (batch->active)
		current->inline_rd_batch = batch->prev;
}

/**
 * io_inline_rd_locked_begin - start a wake-up that may complete reads inline
 * @batch: on the caller's stack, until io_inline_rd_locked_complete()
 * @head: the wait queue about to be woken, whose lock the caller holds
 *
 * For providers that wake readers with the wait queue's lock held: call this
 * just before the wake-up and io_inline_rd_locked_end() just after, then
 * io_inline_rd_locked_complete() once every spinlock is dropped.  A pending
 * inline read that the wake-up reaches first is claimed in @batch.  Outside
 * process context (or from a kernel thread or an exiting task) nothing is
 * claimed: such wake-ups hand pending reads back to the stock path.
 */
void io_inline_rd_locked_begin(struct io_inline_rd_batch *batch,
			       struct wait_queue_head *head)
{
	lockdep_assert_held(&head->lock);
	io_inline_rd_batch_init(batch, head);
}

void io_inline_rd_locked_end(struct io_inline_rd_batch *batch)
{
	lockdep_assert_held(&batch->head->lock);
	io_inline_rd_batch_end(batch);
}

static void __io_inline_rd_wake(struct wait_queue_head *head, __poll_t mask,
				const struct io_inline_rd_ops *ops, bool nosleep,
				u64 seq_limit);

/**
 * io_inline_rd_locked_complete - complete the read a wake-up claimed
 * @batch: as passed to io_inline_rd_locked_begin()
 * @mask: the poll events of the wake-up
 *
 * Completes the claimed read, if any, in the caller's context: may sleep
 * unless the batch is a nosleep one.  If the file still has data for
 * readers, wakes the next one in turn (a nonblocking read never chains
 * wake-ups itself).
 */
void io_inline_rd_locked_complete(struct io_inline_rd_batch *batch,
				  __poll_t mask)
{
	if (batch->claimed && io_inline_rd_complete(batch))
		__io_inline_rd_wake(batch->head, mask, batch->ops,
				    batch->nosleep, batch->seq_limit);
}

static void __io_inline_rd_wake(struct wait_queue_head *head, __poll_t mask,
				const struct io_inline_rd_ops *ops, bool nosleep,
				u64 seq_limit)
{
	struct io_inline_rd_batch batch;
	unsigned long flags;

	do {
		spin_lock_irqsave(&head->lock, flags);
		io_inline_rd_locked_begin(&batch, head);
		batch.ops = ops;
		batch.nosleep = nosleep;
		batch.seq_limit = seq_limit;
		if (nosleep)
			__wake_up_locked_key(head, TASK_NORMAL, poll_to_key(mask));
		else
			__wake_up_locked_sync_key(head, TASK_INTERRUPTIBLE,
						  poll_to_key(mask));
		io_inline_rd_locked_end(&batch);
		spin_unlock_irqrestore(&head->lock, flags);
	} while (batch.claimed && io_inline_rd_complete(&batch));
}

/**
 * io_inline_rd_wake - wake the readers of a provider's wait queue
 * @head: the wait queue its ->poll registers first
 * @mask: the poll events, as for wake_up_interruptible_sync_poll()
 *
 * Wakes @head as wake_up_interruptible_sync_poll() does.  If the first
 * exclusive waiter is a pending inline read, the wake-up claims it and the
 * read is completed here, once the lock is dropped, in the caller's context;
 * then, while the file still has data, the next waiter is woken in turn.
 * Callers must be able to sleep; in other contexts this is the stock
 * wake-up.
 */
void io_inline_rd_wake(struct wait_queue_head *head, __poll_t mask)
{
	if (!io_inline_rd_may_complete()) {
		wake_up_interruptible_sync_poll(head, mask);
		return;
	}
	might_sleep();
	__io_inline_rd_wake(head, mask, NULL, false, U64_MAX);
}

/**
 * io_inline_rd_wake_nosleep - wake readers from a waker that must not sleep
 * @head: the wait queue its ->poll registers first
 * @mask: the poll events, as for wake_up_poll()
 * @ops: the provider's read, which must not sleep either
 *
 * As io_inline_rd_wake(), for a waker that must not sleep between the
 * wake-up and its own schedule(): a faulting task in handle_userfault(),
 * whose task state is already set.  A claimed read is done with @ops and
 * its CQE posted without sleeping; freeing the request and unpinning its
 * pages, which can sleep, are left to kworkers.  The wake-up itself is
 * wake_up_poll()'s.
 */
void io_inline_rd_wake_nosleep(struct wait_queue_head *head, __poll_t mask,
			       const struct io_inline_rd_ops *ops)
{
	if (!io_inline_rd_may_complete()) {
		wake_up_poll(head, mask);
		return;
	}
	__io_inline_rd_wake(head, mask, ops, true, U64_MAX);
}

/**
 * io_inline_rd_sender_begin - start a call chain that may wake readers
 * @batch: on the caller's stack, until io_inline_rd_sender_end()
 *
 * For a waker whose wake-up happens deep in a call chain that holds locks
 * the read cannot be completed under: a signal's sender, whose wake-up of
 * signalfd readers runs under the target's siglock (and RCU, or
 * tasklist_lock), before the signal is even queued; a FUSE requester, whose
 * wake-up of the daemon runs under the input queue's lock.  Call this where
 * the caller may sleep, before the chain; the wake-up in it calls
 * io_inline_rd_sender_wake(), which may claim one pending read; and
 * io_inline_rd_sender_end() after the chain completes that read.
 */
void io_inline_rd_sender_begin(struct io_inline_rd_batch *batch)
{
	might_sleep();
	io_inline_rd_batch_init(batch, NULL);
	batch->sender = true;
}
EXPORT_SYMBOL_GPL(io_inline_rd_sender_begin);

/**
 * io_inline_rd_sender_wake - wake readers inside a sender's call chain
 * @head: the wait queue its ->poll registers first
 * @ops: how to read for the claimed read's reader
 * @data: what the wake-up announces, for @ops->wants(); on the caller's stack
 *
 * wake_up(@head), in any context and with any locks held.  Between
 * io_inline_rd_sender_begin() and _end() in the same task, the first
 * pending inline read it reaches that @ops->wants() is claimed for
 * completion at _end() (the others stay pending).  Only one read per
 * chain: a signal sent to a process group wakes several queues, and the
 * reads on the others take the stock path.
 *
 * If the claimed read finds nothing (another reader took the signal
 * first), _end() passes the wake-up on; it only ever claims reads that
 * were queued when this wake-up took @head's lock.  A read armed later
 * checked for data after it was queued, and the wake-up's data was there
 * by then (a signal is queued under the same siglock hold as its
 * wake-up); a read that its stock retry re-arms must not be claimed
 * again, or the chain could go on as long as the reader keeps up.
 */
void io_inline_rd_sender_wake(struct wait_queue_head *head,
			      const struct io_inline_rd_ops *ops,
			      const void *data)
{
	struct io_inline_rd_batch *batch;
	unsigned long flags;

	batch = in_task() ? current->inline_rd_batch : NULL;
	if (!batch || !batch->sender || batch->head) {
		wake_up(head);
		return;
	}
	batch->head = head;
	batch->ops = ops;
	batch->data = data;
	spin_lock_irqsave(&head->lock, flags);
	/* every read queued by now was numbered before: see io_inline_rd_arm() */
	batch->seq_limit = atomic64_read(&io_inline_rd_seq);
	__wake_up_locked_key(head, TASK_NORMAL, NULL);
	spin_unlock_irqrestore(&head->lock, flags);
	/* @data is gone after this; the chain at _end() claims any read */
	batch->data = NULL;
	if (!batch->claimed)
		batch->head = NULL;
}
EXPORT_SYMBOL_GPL(io_inline_rd_sender_wake);

/**
 * io_inline_rd_sender_end - complete the read a sender's wake-up claimed
 * @batch: as passed to io_inline_rd_sender_begin()
 *
 * Completes the claimed read, if any, in the caller's context, and wakes
 * the next reader in turn while the reader's file still has data.
 */
void io_inline_rd_sender_end(struct io_inline_rd_batch *batch)
{
	io_inline_rd_batch_end(batch);
	if (batch->claimed && io_inline_rd_complete(batch))
		__io_inline_rd_wake(batch->head, EPOLLIN, batch->ops, false,
				    batch->seq_limit);
}
EXPORT_SYMBOL_GPL(io_inline_rd_sender_end);

static void io_inline_rd_dest_free(struct io_ring_ctx *ctx,
				   struct io_inline_rd_dest *dest)
{
	unsigned int i;

	for (i = 0; i < dest->nr_pages; i++)
		unpin_user_pages_dirty_lock(&dest->bvec[i].bv_page, 1, true);
	if (dest->acct)
		io_unaccount_mem(ctx, dest->acct);
	kvfree(dest);
}

/* Destinations whose pages are unpinned by a kworker: see below. */
static LLIST_HEAD(io_inline_rd_free_list);

static void io_inline_rd_free_workfn(struct work_struct *work)
{
	struct llist_node *node = llist_del_all(&io_inline_rd_free_list);
	struct io_inline_rd_dest *dest, *next;

	llist_for_each_entry_safe(dest, next, node, free_node) {
		struct user_struct *user = dest->acct_user;
		struct mm_struct *mm = dest->acct_mm;
		unsigned long acct = dest->acct;

		/* unpin first: the charge must never be below what is pinned */
		dest->acct = 0;
		io_inline_rd_dest_free(NULL, dest);
		if (user) {
			__io_unaccount_mem(user, acct);
			free_uid(user);
		}
		if (mm) {
			atomic64_sub(acct, &mm->pinned_vm);
			mmdrop(mm);
		}
	}
}

static DECLARE_WORK(io_inline_rd_free_work, io_inline_rd_free_workfn);

/*
 * io_inline_rd_dest_free() for a caller that must not sleep: unpinning can
 * (it locks pages to dirty them), so a kworker does it.  The pages stay
 * charged to RLIMIT_MEMLOCK and pinned_vm until they are unpinned; the
 * ring may be gone by then, so the kworker uncharges them through
 * references of its own to the ring's user and mm.
 */
static void io_inline_rd_dest_free_later(struct io_ring_ctx *ctx,
					 struct io_inline_rd_dest *dest)
{
	dest->acct_user = NULL;
	dest->acct_mm = NULL;
	if (dest->acct && ctx->user)
		dest->acct_user = get_uid(ctx->user);
	if (dest->acct && ctx->mm_account) {
		mmgrab(ctx->mm_account);
		dest->acct_mm = ctx->mm_account;
	}
	if (llist_add(&dest->free_node, &io_inline_rd_free_list))
		schedule_work(&io_inline_rd_free_work);
}

/* Pin @nr pages of user memory at @base for writing, into @dest->bvec. */
static int io_inline_rd_pin(struct io_inline_rd_dest *dest, unsigned long base,
			    size_t len, struct page **pages)
{
	unsigned long off = offset_in_page(base);
	int nr = DIV_ROUND_UP(off + len, PAGE_SIZE);
	int got, i;

	got = pin_user_pages_fast(base - off, nr, FOLL_WRITE | FOLL_LONGTERM,
				  pages);
	if (got != nr) {
		if (got > 0)
			unpin_user_pages(pages, got);
		return got < 0 ? got : -EFAULT;
	}
	for (i = 0; i < nr; i++) {
		size_t n = min_t(size_t, PAGE_SIZE - off, len);

		bvec_set_page(&dest->bvec[dest->nr_pages++], pages[i], n, off);
		len -= n;
		off = 0;
	}
	return 0;
}

/*
 * Make the destination of @req reachable from any task.  Never hand the
 * request's user-backed iterator to another task: its addresses would be
 * resolved in the writer's mm.  The buffer is bound to its pages here, at
 * submission; a later munmap() by the reader does not affect the read.
 */
static struct io_inline_rd_dest *io_inline_rd_dest_get(struct io_kiocb *req)
{
	struct io_async_rw *io = req->async_data;
	const struct iov_iter *src = &io->iter;
	size_t len = iov_iter_count(src), left = len;
	struct io_ring_ctx *ctx = req->ctx;
	struct io_inline_rd_stats stats;
	struct io_inline_rd_dest *dest;
	struct page **pages;
	unsigned long max, seg;
	int ret = 0;

	if (!len || len > IO_INLINE_RD_MAX_BYTES)
		return ERR_PTR(-E2BIG);
	if (iov_iter_is_bvec(src)) {
		/* READ_FIXED: req->rsrc_node keeps the buffer alive */
		dest = kmalloc(sizeof(*dest), GFP_KERNEL);
		if (!dest)
			return ERR_PTR(-ENOMEM);
		dest->iter = *src;
		dest->nr_pages = 0;
		dest->acct = 0;
		return dest;
	}
	if (!user_backed_iter(src))
		return ERR_PTR(-EOPNOTSUPP);

	max = iov_iter_npages(src, INT_MAX);
	io_inline_rd_get_stats(ctx->inline_rd, &stats);
	if (stats.pinned + (u64)max * PAGE_SIZE > IO_INLINE_RD_MAX_PINNED)
		return ERR_PTR(-ENOBUFS);
	dest = kvzalloc(struct_size(dest, bvec, max), GFP_KERNEL);
	pages = kvmalloc_array(max, sizeof(*pages), GFP_KERNEL);
	if (!dest || !pages) {
		ret = -ENOMEM;
		goto fail;
	}

	if (iter_is_ubuf(src)) {
		ret = io_inline_rd_pin(dest, (unsigned long)src->ubuf + src->iov_offset,
				       len, pages);
	} else {
		const struct iovec *iov = iter_iov(src);
		size_t skip = src->iov_offset;

		for (seg = 0; left && !ret; seg++, skip = 0) {
			size_t n = min(left, iov[seg].iov_len - skip);

			if (!n)
				continue;
			ret = io_inline_rd_pin(dest,
					       (unsigned long)iov[seg].iov_base + skip,
					       n, pages + dest->nr_pages);
			left -= n;
		}
	}
	if (ret)
		goto fail;
	/* charged like registered buffers: RLIMIT_MEMLOCK and pinned_vm */
	ret = io_account_mem(ctx, dest->nr_pages);
	if (ret)
		goto fail;
	dest->acct = dest->nr_pages;
	kvfree(pages);
	iov_iter_bvec(&dest->iter, ITER_DEST, dest->bvec, dest->nr_pages, len);
	return dest;
fail:
	kvfree(pages);
	if (dest)
		io_inline_rd_dest_free(ctx, dest);
	return ERR_PTR(ret);
}

/*
 * Whether the start of the user memory @src points to can be written to at
 * all.  A pin that failed may only have been refused (FOLL_LONGTERM and a
 * file mapping that needs dirty tracking), which the stock path copes with,
 * and a read may fill less than its buffer (an eventfd's 8 bytes, one
 * userfaultfd message), so only a read whose first page cannot be written
 * fails at submission.
 */
static bool io_inline_rd_writable(const struct iov_iter *src)
{
	const struct iovec *iov;
	size_t skip = src->iov_offset, n;
	char __user *base;

	if (iter_is_ubuf(src)) {
		base = src->ubuf + skip;
		n = iov_iter_count(src);
	} else {
		/* the first segment with bytes left: the count is not 0 */
		for (iov = iter_iov(src); iov->iov_len <= skip; iov++)
			skip = 0;
		base = iov->iov_base + skip;
		n = iov->iov_len - skip;
	}
	n = min_t(size_t, n, PAGE_SIZE - offset_in_page(base));
	return !fault_in_safe_writeable(base, n);
}

struct io_inline_rd_pt {
	struct poll_table_struct	pt;
	struct io_inline_rd_waiter	*w;
};

static void io_inline_rd_queue_proc(struct file *file,
				    struct wait_queue_head *head,
				    struct poll_table_struct *p)
{
	struct io_inline_rd_pt *ipt = container_of(p, struct io_inline_rd_pt, pt);

	io_inline_rd_waiter_queue(ipt->w, head);
}

/*
 * Called by io_read() when a nonblocking read found no data: make the read
 * wait inline instead of arming poll.  Returns 0 if it now waits (the
 * request is completed later, by a writer, the stock path or a cancel),
 * -EFAULT if its buffer is not writable memory (the buffer is bound to its
 * pages at submission, so that is when it fails), or -EAGAIN for today's
 * poll path.
 */
int io_inline_rd_arm(struct io_kiocb *req, unsigned int issue_flags)
{
	struct io_ring_ctx *ctx = req->ctx;
	struct io_inline_rd_dest *dest;
	struct io_inline_rd_pt ipt;
	__poll_t mask;
	int ret;

	/*
	 * Only from the submitter with uring_lock held (not io-wq), and not
	 * for reads that need uring_lock at completion (provided buffers) or
	 * must not wait (RWF_NOWAIT, O_NONBLOCK).
	 */
	if (!ctx->inline_rd || (issue_flags & IO_URING_F_UNLOCKED) ||
	    (req->flags & (REQ_F_NOWAIT | REQ_F_BUFFER_SELECT |
			   REQ_F_FORCE_ASYNC)) ||
	    !(req->file->f_op->fop_flags & FOP_INLINE_READ))
		return -EAGAIN;
	lockdep_assert_held(&ctx->uring_lock);

	dest = io_inline_rd_dest_get(req);
	if (IS_ERR(dest)) {
		struct io_async_rw *io = req->async_data;

		if (PTR_ERR(dest) == -EFAULT && !io_inline_rd_writable(&io->iter))
			return -EFAULT;
		return -EAGAIN;
	}
	/* numbered before it is queued: see io_inline_rd_sender_wake() */
	ipt.w = io_inline_rd_waiter_new(ctx->inline_rd, req, dest,
					(u64)dest->nr_pages * PAGE_SIZE,
					atomic64_inc_return(&io_inline_rd_seq));
	if (!ipt.w) {
		io_inline_rd_dest_free(ctx, dest);
		return -EAGAIN;
	}
	/*
	 * Tracked like requests on io_uring files, so that the submitter's
	 * exit cancels it: it pins the submitter's memory, and a later writer
	 * would otherwise complete it into an exiting task.
	 */
	io_req_track_inflight(req);
	init_poll_funcptr(&ipt.pt, io_inline_rd_queue_proc);
	ipt.pt._key = IO_INLINE_RD_EVENTS;
	/* Queue, then re-check: data may have arrived since the read. */
	mask = vfs_poll(req->file, &ipt.pt);
	ret = io_inline_rd_waiter_publish(ipt.w, mask & IO_INLINE_RD_EVENTS);
	if (ret)
		io_inline_rd_dest_free(ctx, dest);
	return ret;
}

ssize_t io_inline_rd_req_consume(struct io_kiocb *req,
				 struct io_inline_rd_dest *dest,
				 const struct io_inline_rd_batch *batch)
{
	struct iov_iter iter = dest->iter;
	struct kiocb kiocb;

	if (batch->ops)
		return batch->ops->read(req->file, &iter, req->task);
	init_sync_kiocb(&kiocb, req->file);
	kiocb.ki_flags |= IOCB_NOWAIT;
	return req->file->f_op->read_iter(&kiocb, &iter);
}

/* Whether @req's file has data (or EOF) for the next reader right now. */
bool io_inline_rd_req_ready(struct io_kiocb *req,
			    const struct io_inline_rd_batch *batch)
{
	if (batch->ops && batch->ops->ready)
		return batch->ops->ready(req->file, req->task);
	return vfs_poll(req->file, NULL) & (EPOLLIN | EPOLLRDNORM);
}

/* Whether @req may get what @batch's wake-up announces: see ops->wants. */
bool io_inline_rd_req_wants(struct io_kiocb *req,
			    const struct io_inline_rd_batch *batch)
{
	if (!batch->data || !batch->ops || !batch->ops->wants)
		return true;
	return batch->ops->wants(req->file, req->task, batch->data);
}

void io_inline_rd_req_complete(struct io_kiocb *req,
			       struct io_inline_rd_dest *dest, ssize_t res,
			       bool nosleep)
{
	/* as __io_complete_rw_common(): short reads fail links too */
	bool fail = res != req->cqe.res;

	if (nosleep)
		io_inline_rd_dest_free_later(req->ctx, dest);
	else
		io_inline_rd_dest_free(req->ctx, dest);
	io_req_set_res(req, res, 0);
	io_req_complete_inline(req, fail, nosleep);
}

static void io_inline_rd_tw_retry(struct io_kiocb *req, struct io_tw_state *ts)
{
	struct io_inline_rd_dest *dest;
	bool cancelled = false;

	dest = io_inline_rd_take(req->ctx->inline_rd, req, &cancelled);
	if (dest)
		io_inline_rd_dest_free(req->ctx, dest);
	/*
	 * Cancelled while this was queued, or the ring or the submitter is
	 * going away: consume nothing.
	 */
	if (cancelled || io_should_terminate_tw(req->ctx)) {
		io_tw_lock(req->ctx, ts);
		io_req_defer_failed(req, -ECANCELED);
		return;
	}
	io_req_task_submit(req, ts);
}

/*
 * A read whose ring is being torn down or whose submitter is exiting must
 * not consume data any more: it goes to the stock path, which cancels it.
 */
bool io_inline_rd_req_dead(struct io_kiocb *req)
{
	return percpu_ref_is_dying(&req->ctx->refs) ||
	       (READ_ONCE(req->task->flags) & PF_EXITING);
}

/*
 * The stock path: retry the read in the submitter's task_work.  From a wake
 * function (@in_wake), a DEFER_TASKRUN ring must not signal its CQ eventfd
 * under the wait queue's lock.
 */
void io_inline_rd_req_fallback(struct io_kiocb *req, bool in_wake)
{
	req->io_task_work.func = io_inline_rd_tw_retry;
	__io_req_task_work_add(req, in_wake ? IOU_F_TWQ_IN_WAKE : 0);
}

void io_inline_rd_req_cancel(struct io_kiocb *req, struct io_inline_rd_dest *dest)
{
	io_inline_rd_dest_free(req->ctx, dest);
	req_set_fail(req);
	io_req_set_res(req, -ECANCELED, 0);
	req->io_task_work.func = io_req_task_complete;
	io_req_task_work_add(req);
}

bool io_inline_rd_req_match(struct io_kiocb *req, struct io_cancel_data *cd)
{
	return io_cancel_req_match(req, cd);
}

bool io_inline_rd_req_match_task(struct io_kiocb *req, struct task_struct *task,
				 bool cancel_all)
{
	return io_match_task_safe(req, task, cancel_all);
}

int io_inline_rd_try_cancel(struct io_ring_ctx *ctx, struct io_cancel_data *cd,
			    unsigned int issue_flags)
{
	int ret;

	if (!ctx->inline_rd)
		return -ENOENT;
	io_ring_submit_lock(ctx, issue_flags);
	ret = io_inline_rd_cancel(ctx->inline_rd, cd);
	io_ring_submit_unlock(ctx, issue_flags);
	return ret;
}

bool io_inline_rd_cancel_all(struct io_ring_ctx *ctx, struct task_struct *task,
			     bool cancel_all)
{
	lockdep_assert_held(&ctx->uring_lock);
	return ctx->inline_rd &&
	       io_inline_rd_remove_all(ctx->inline_rd, task, cancel_all);
}

void io_inline_rd_show_fdinfo(struct io_ring_ctx *ctx, struct seq_file *m)
{
	struct io_inline_rd_stats s;

	if (!ctx->inline_rd)
		return;
	io_inline_rd_get_stats(ctx->inline_rd, &s);
	seq_printf(m, "InlineReadArmed:\t%llu\n", s.armed);
	seq_printf(m, "InlineReadCompleted:\t%llu\n", s.completed);
	seq_printf(m, "InlineReadFallback:\t%llu\n", s.fallback);
	seq_printf(m, "InlineReadCancelled:\t%llu\n", s.cancelled);
	seq_printf(m, "InlineReadPinned:\t%llu\n", s.pinned);
}

/* The Rust engine tests these values in wake keys. */
static_assert((__force u32)EPOLLIN == 0x0001);
static_assert((__force u32)EPOLLERR == 0x0008);
static_assert((__force u32)EPOLLHUP == 0x0010);
static_assert((__force u32)EPOLLRDNORM == 0x0040);
static_assert((__force u32)EPOLLRDHUP == 0x2000);
static_assert((__force u32)POLLFREE == 0x4000);
