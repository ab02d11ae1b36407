// SPDX-License-Identifier: GPL-2.0
/*
 * iu-demo: what `make` shows in the booted kernel.
 *
 * A reader process submits an io_uring read on an empty pipe and stops
 * itself (SIGSTOP); nothing can run in its context any more.  The parent
 * writes to the pipe and, the moment write(2) returns, looks at the shared
 * CQ ring and the reader's buffer.  With IORING_SETUP_INLINE_READ the read
 * was completed by the write itself; without it the CQE only appears once
 * the reader runs again.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "io_uring_util.h"

static const char msg[] = "hello from the writer";

static void show_counters(int ring_fd)
{
	static const char * const keys[] = {
		"InlineReadArmed", "InlineReadCompleted", "InlineReadFallback",
		"InlineReadCancelled", "InlineReadPinned",
	};
	uint64_t v = 0;
	unsigned int i;

	printf("    fdinfo:");
	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (!iou_fdinfo_u64(ring_fd, keys[i], &v))
			printf(" %s=%llu", keys[i], (unsigned long long)v);
	printf("\n");
}

static int demo(unsigned int flags, const char *name)
{
	struct io_uring_cqe *cqe = NULL;
	struct iou_ring ring;
	int fds[2], status;
	char *buf;
	pid_t pid;
	int ret;

	buf = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (buf == MAP_FAILED || pipe(fds))
		return 1;
	memset(buf, 0, 4096);
	ret = iou_setup(&ring, 8, flags);
	if (ret) {
		printf("%s: io_uring_setup: %s\n", name, strerror(-ret));
		return 1;
	}

	printf("=== %s\n", name);
	pid = fork();
	if (pid < 0)
		return 1;
	if (!pid) {
		/* the reader: submit, then stop before anything else */
		iou_prep_read(iou_get_sqe(&ring), fds[0], buf, 4096, 0, 1);
		if (iou_submit(&ring) != 1)
			_exit(1);
		raise(SIGSTOP);
		/* running again: enter the kernel once, so pending work runs */
		iou_wait_cqe(&ring, &cqe, 2000);
		_exit(0);
	}
	if (waitpid(pid, &status, WUNTRACED) != pid || !WIFSTOPPED(status))
		return 1;
	printf("    reader %d submitted a read of the empty pipe and is stopped\n", pid);

	if (write(fds[1], msg, sizeof(msg)) != sizeof(msg))
		return 1;
	printf("    writer: write(\"%s\") returned\n", msg);
	if (iou_cq_ready(&ring) && !iou_peek_cqe(&ring, &cqe)) {
		printf("    at that moment: CQE in the ring (res=%d), reader's buffer: \"%s\"\n",
		       cqe->res, buf);
		iou_cqe_seen(&ring);
	} else {
		printf("    at that moment: no CQE, reader's buffer: \"%s\"\n", buf);
	}
	show_counters(ring.fd);

	kill(pid, SIGCONT);
	waitpid(pid, &status, 0);
	if (iou_poll_cqe(&ring, &cqe, 2000) == 0) {
		printf("    after the reader ran again: CQE res=%d, buffer \"%s\"\n",
		       cqe->res, buf);
		iou_cqe_seen(&ring);
	}
	iou_exit(&ring);
	close(fds[0]);
	close(fds[1]);
	munmap(buf, 4096);
	return 0;
}

int main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	if (demo(IORING_SETUP_INLINE_READ, "ring with IORING_SETUP_INLINE_READ"))
		return 1;
	if (demo(0, "the same ring without it (stock io_uring)"))
		return 1;
	return 0;
}
