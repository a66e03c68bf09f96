/* SPDX-License-Identifier: MIT */
/*
 * Shared by the calls test's orchestrator (calls.c) and its service roles
 * (calls_roles.c): the message protocol and a line reader with timeouts.
 */
#ifndef RPAL_VM_CALLS_H
#define RPAL_VM_CALLS_H

#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Messages: 32 bytes, the seed's size. */
enum calls_op {
	OP_SEQ = 1,	 /* stream, seq: counted, order checked */
	OP_GETPID,	 /* print "pid <getpid()>" */
	OP_WRITE,	 /* write to fd 4, print "wrote <n>" */
	OP_READ,	 /* read fd 3 (blocks), print "read <data>" */
	OP_READ_CALLER,	 /* rpal_read_caller(arg, arg2 bytes) */
	OP_TOUCH_CALLER, /* read *arg directly */
	OP_SPIN,	 /* print "spinning", spin arg ms, "spin-done <ms>" */
	OP_OTHER_WAIT,	 /* wait on another epoll set (fd 3), print what */
};

struct calls_msg {
	uint32_t op;
	uint32_t stream;
	uint32_t seq;
	uint32_t pad;
	uint64_t arg;
	uint64_t arg2;
};

_Static_assert(sizeof(struct calls_msg) == 32, "32-byte messages");

int calls_role_main(int argc, char **argv);

/* Lines from a pipe, with a timeout per line. */
struct lines {
	int fd;
	size_t n;
	char buf[16384];
};

static inline void lines_init(struct lines *l, int fd)
{
	l->fd = fd;
	l->n = 0;
}

static inline long calls_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The next line into @out (no newline); 0, -ETIMEDOUT or -EPIPE. */
static inline int lines_next(struct lines *l, char *out, size_t len,
			     int timeout_ms)
{
	long end = calls_now_ms() + timeout_ms;

	for (;;) {
		char *nl = memchr(l->buf, '\n', l->n);

		if (nl) {
			size_t k = (size_t)(nl - l->buf);
			size_t c = k < len - 1 ? k : len - 1;

			memcpy(out, l->buf, c);
			out[c] = 0;
			memmove(l->buf, nl + 1, l->n - k - 1);
			l->n -= k + 1;
			return 0;
		}
		long left = end - calls_now_ms();
		struct pollfd p = { .fd = l->fd, .events = POLLIN };
		ssize_t r;

		if (left <= 0 || poll(&p, 1, (int)left) <= 0)
			return -ETIMEDOUT;
		if (l->n == sizeof(l->buf))
			l->n = 0; /* an absurd line: drop it */
		r = read(l->fd, l->buf + l->n, sizeof(l->buf) - l->n);
		if (r <= 0)
			return -EPIPE;
		l->n += (size_t)r;
	}
}

/* Skip lines until one starts with @prefix; it goes to @out. */
static inline int lines_expect(struct lines *l, const char *prefix, char *out,
			       size_t len, int timeout_ms)
{
	long end = calls_now_ms() + timeout_ms;
	int ret;

	do {
		long left = end - calls_now_ms();

		ret = lines_next(l, out, len, left > 0 ? (int)left : 0);
		if (ret)
			return ret;
	} while (strncmp(out, prefix, strlen(prefix)));
	return 0;
}

#endif /* RPAL_VM_CALLS_H */
