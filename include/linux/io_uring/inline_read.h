/* SPDX-License-Identifier: GPL-2.0 */
/*
 * io_uring reads completed inline, in the writer's context.
 *
 * A file type opts in by setting FOP_INLINE_READ in its file_operations and
 * by waking its readers with io_inline_rd_wake() instead of
 * wake_up_interruptible_sync_poll() where a writer makes data available in
 * process context (or, where it wakes them with the wait queue's lock held,
 * by bracketing that wake-up with io_inline_rd_locked_begin()/_end() and
 * calling io_inline_rd_locked_complete() after the unlock).  Its ->poll
 * must register the readers' wait queue first: that is the queue an inline
 * read waits on.  Its ->read_iter must honour IOCB_NOWAIT and accept an
 * ITER_BVEC destination: the read is redone with them in the writer's
 * context.  A waker that must not sleep (userfaultfd's faulting task, whose
 * task state is already set) calls io_inline_rd_wake_nosleep() with a read
 * of its own that does not sleep either.  A waker whose wake-up happens deep
 * in a call chain that holds locks (a signal's sender, a FUSE requester)
 * brackets that chain with io_inline_rd_sender_begin()/_end() where it may
 * sleep, and wakes with io_inline_rd_sender_wake().
 *
 * The engine is io_uring/inline_read.rs (Rust); io_uring/inline_rd.c is
 * its C glue into io_uring.  The io_inline_rd_req_*() functions below are
 * that glue's side of the Rust <-> C interface and are not for providers.
 */
#ifndef _LINUX_IO_URING_INLINE_READ_H
#define _LINUX_IO_URING_INLINE_READ_H

#include <linux/types.h>
#include <linux/wait.h>
#include <linux/poll.h>

struct file;
struct iov_iter;
struct io_kiocb;
struct io_cancel_data;
struct io_inline_rd_dest;
struct io_inline_rd_ring;
struct io_inline_rd_waiter;
struct task_struct;

/*
 * A provider's own way of reading, for a waker that cannot use ->read_iter
 * with IOCB_NOWAIT: it must not sleep, or the data belongs to the reader's
 * task rather than to the file (a signalfd reads its reader's signals).
 */
struct io_inline_rd_ops {
	/*
	 * Fill @to (an ITER_BVEC over pinned pages) from @file for @reader, the
	 * task that submitted the read, without blocking; -EAGAIN if there is
	 * nothing to read.
	 */
	ssize_t (*read)(struct file *file, struct iov_iter *to,
			struct task_struct *reader);
	/* Whether @reader's next read of @file has data; NULL: ->poll. */
	bool (*ready)(struct file *file, struct task_struct *reader);
	/*
	 * Whether a read of @file by @reader may get the data a sender's
	 * wake-up announces (@data: io_inline_rd_sender_wake()'s); NULL:
	 * yes.  Called under the wait queue's lock; must not sleep.
	 */
	bool (*wants)(struct file *file, struct task_struct *reader,
		      const void *data);
	/*
	 * Readers of different data share the wait queue (a task's
	 * signalfds, each with its own mask): a claimed read that finds
	 * nothing passes the wake-up on to the next reader.
	 */
	bool shared_queue;
};

/* A wake-up by a provider's hooked waker, in progress in this task. */
struct io_inline_rd_batch {
	struct wait_queue_head *head;
	/* the read this wake-up claimed for inline completion, if any */
	void *claimed;
	/* how to do the claimed read: NULL for ->read_iter with IOCB_NOWAIT */
	const struct io_inline_rd_ops *ops;
	/* what a sender's wake-up announces, for ops->wants() */
	const void *data;
	/* reads armed later than this re-checked readiness themselves */
	u64 seq_limit;
	/* the batch this one interrupted in the same task, if any */
	struct io_inline_rd_batch *prev;
	/* set as the task's batch: claims are possible */
	bool active;
	/* the waker must not sleep: nothing that completes the read may */
	bool nosleep;
	/* io_inline_rd_sender_begin()'s: @head is set by the wake-up */
	bool sender;
};

/* The ring's counters, as shown in its fdinfo. */
struct io_inline_rd_stats {
	u64 armed;
	u64 completed;
	u64 fallback;
	u64 cancelled;
	u64 pinned;
};

#ifdef CONFIG_IO_URING_INLINE_READ

/* For providers: wake readers of @head, completing inline reads now. */
void io_inline_rd_wake(struct wait_queue_head *head, __poll_t mask);
/* The same from a waker that must not sleep, which reads with @ops. */
void io_inline_rd_wake_nosleep(struct wait_queue_head *head, __poll_t mask,
			       const struct io_inline_rd_ops *ops);
/* For providers that wake with @head's lock held (see inline_rd.c). */
void io_inline_rd_locked_begin(struct io_inline_rd_batch *batch,
			       struct wait_queue_head *head);
void io_inline_rd_locked_end(struct io_inline_rd_batch *batch);
void io_inline_rd_locked_complete(struct io_inline_rd_batch *batch,
				  __poll_t mask);
/* For wakers whose wake-up is deep in a locked call chain (see inline_rd.c). */
void io_inline_rd_sender_begin(struct io_inline_rd_batch *batch);
void io_inline_rd_sender_wake(struct wait_queue_head *head,
			      const struct io_inline_rd_ops *ops,
			      const void *data);
void io_inline_rd_sender_end(struct io_inline_rd_batch *batch);

/* Rust engine (io_uring/inline_read.rs), called by the C glue. */
struct io_inline_rd_ring *io_inline_rd_ring_new(void);
void io_inline_rd_ring_free(struct io_inline_rd_ring *ring);
struct io_inline_rd_waiter *io_inline_rd_waiter_new(struct io_inline_rd_ring *ring,
						    struct io_kiocb *req,
						    struct io_inline_rd_dest *dest,
						    u64 pinned, u64 seq);
void io_inline_rd_waiter_queue(struct io_inline_rd_waiter *w,
			       struct wait_queue_head *head);
int io_inline_rd_waiter_publish(struct io_inline_rd_waiter *w, bool ready);
bool io_inline_rd_complete(struct io_inline_rd_batch *batch);
struct io_inline_rd_dest *io_inline_rd_take(struct io_inline_rd_ring *ring,
					    struct io_kiocb *req, bool *cancelled);
int io_inline_rd_cancel(struct io_inline_rd_ring *ring, struct io_cancel_data *cd);
bool io_inline_rd_remove_all(struct io_inline_rd_ring *ring,
			     struct task_struct *task, bool cancel_all);
void io_inline_rd_get_stats(struct io_inline_rd_ring *ring,
			    struct io_inline_rd_stats *stats);

/* C glue (io_uring/inline_rd.c), called by the Rust engine. */
struct io_inline_rd_batch *io_inline_rd_batch_get(struct wait_queue_head *head);
ssize_t io_inline_rd_req_consume(struct io_kiocb *req,
				 struct io_inline_rd_dest *dest,
				 const struct io_inline_rd_batch *batch);
bool io_inline_rd_req_ready(struct io_kiocb *req,
			    const struct io_inline_rd_batch *batch);
bool io_inline_rd_req_wants(struct io_kiocb *req,
			    const struct io_inline_rd_batch *batch);
void io_inline_rd_req_complete(struct io_kiocb *req,
			       struct io_inline_rd_dest *dest, ssize_t res,
			       bool nosleep);
void io_inline_rd_req_fallback(struct io_kiocb *req, bool in_wake);
bool io_inline_rd_req_dead(struct io_kiocb *req);
void io_inline_rd_req_cancel(struct io_kiocb *req, struct io_inline_rd_dest *dest);
bool io_inline_rd_req_match(struct io_kiocb *req, struct io_cancel_data *cd);
bool io_inline_rd_req_match_task(struct io_kiocb *req, struct task_struct *task,
				 bool cancel_all);

#else

static inline void io_inline_rd_wake(struct wait_queue_head *head, __poll_t mask)
{
	wake_up_interruptible_sync_poll(head, mask);
}

static inline void io_inline_rd_wake_nosleep(struct wait_queue_head *head,
					     __poll_t mask,
					     const struct io_inline_rd_ops *ops)
{
	wake_up_poll(head, mask);
}

static inline void io_inline_rd_locked_begin(struct io_inline_rd_batch *batch,
					     struct wait_queue_head *head)
{
}

static inline void io_inline_rd_locked_end(struct io_inline_rd_batch *batch)
{
}

static inline void io_inline_rd_locked_complete(struct io_inline_rd_batch *batch,
						__poll_t mask)
{
}

static inline void io_inline_rd_sender_begin(struct io_inline_rd_batch *batch)
{
}

static inline void io_inline_rd_sender_wake(struct wait_queue_head *head,
					    const struct io_inline_rd_ops *ops,
					    const void *data)
{
	wake_up(head);
}

static inline void io_inline_rd_sender_end(struct io_inline_rd_batch *batch)
{
}

#endif /* CONFIG_IO_URING_INLINE_READ */
#endif /* _LINUX_IO_URING_INLINE_READ_H */
