/* SPDX-License-Identifier: GPL-2.0 */
#ifndef IOU_INLINE_RD_H
#define IOU_INLINE_RD_H

#include <linux/io_uring/inline_read.h>

#ifdef CONFIG_IO_URING_INLINE_READ
#define IO_URING_SETUP_INLINE_READ	IORING_SETUP_INLINE_READ

int io_inline_rd_arm(struct io_kiocb *req, unsigned int issue_flags);
int io_inline_rd_try_cancel(struct io_ring_ctx *ctx, struct io_cancel_data *cd,
			    unsigned int issue_flags);
bool io_inline_rd_cancel_all(struct io_ring_ctx *ctx, struct task_struct *task,
			     bool cancel_all);
void io_inline_rd_show_fdinfo(struct io_ring_ctx *ctx, struct seq_file *m);
#else
#define IO_URING_SETUP_INLINE_READ	0

static inline int io_inline_rd_arm(struct io_kiocb *req,
				   unsigned int issue_flags)
{
	return -EAGAIN;
}

static inline int io_inline_rd_try_cancel(struct io_ring_ctx *ctx,
					  struct io_cancel_data *cd,
					  unsigned int issue_flags)
{
	return -ENOENT;
}

static inline bool io_inline_rd_cancel_all(struct io_ring_ctx *ctx,
					   struct task_struct *task,
					   bool cancel_all)
{
	return false;
}

static inline void io_inline_rd_show_fdinfo(struct io_ring_ctx *ctx,
					    struct seq_file *m)
{
}
#endif
#endif
