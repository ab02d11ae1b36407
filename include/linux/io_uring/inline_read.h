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
 * function of its own that does not sleep either.
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
 * A provider's inline read: fill @to (an ITER_BVEC over pinned pages) from
 * @file without blocking; -EAGAIN if there is nothing to read.
 */
typedef ssize_t (*io_inline_rd_read_t)(struct file *file, struct iov_iter *to);

/* A wake-up by a provider's hooked waker, in progress on this CPU. */
struct io_inline_rd_batch {
	struct wait_queue_head *head;
	/* the read this wake-up claimed for inline completion, if any */
	void *claimed;
	/* how to do the claimed read: NULL for ->read_iter with IOCB_NOWAIT */
	io_inline_rd_read_t read;
	/* the waker must not sleep: nothing that completes the read may */
	bool nosleep;
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
/* The same from a waker that must not sleep, which reads with @read. */
void io_inline_rd_wake_nosleep(struct wait_queue_head *head, __poll_t mask,
			       io_inline_rd_read_t read);
/* For providers that wake with @head's lock held (see inline_rd.c). */
void io_inline_rd_locked_begin(struct io_inline_rd_batch *batch,
			       struct wait_queue_head *head);
void io_inline_rd_locked_end(struct io_inline_rd_batch *batch);
void io_inline_rd_locked_complete(struct io_inline_rd_batch *batch,
				  __poll_t mask);

/* Rust engine (io_uring/inline_read.rs), called by the C glue. */
struct io_inline_rd_ring *io_inline_rd_ring_new(void);
void io_inline_rd_ring_free(struct io_inline_rd_ring *ring);
struct io_inline_rd_waiter *io_inline_rd_waiter_new(struct io_inline_rd_ring *ring,
						    struct io_kiocb *req,
						    struct io_inline_rd_dest *dest,
						    u64 pinned);
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
bool io_inline_rd_req_ready(struct io_kiocb *req);
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
					     io_inline_rd_read_t read)
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

#endif /* CONFIG_IO_URING_INLINE_READ */
#endif /* _LINUX_IO_URING_INLINE_READ_H */
