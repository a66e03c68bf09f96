// SPDX-License-Identifier: MIT
/*
 * The benchmark message: a 24-byte header (TSC stamp, sequence, flags,
 * checksum) and a payload the sender fills and every receiver reads.
 */
#ifndef RPAL_BENCH_MSG_H
#define RPAL_BENCH_MSG_H

#include <stddef.h>
#include <stdint.h>

struct msg_hdr {
	uint64_t tsc; /* sender's TSC as it hands the message over */
	uint32_t seq;
	uint32_t flags;
	uint64_t sum; /* over seq, flags and payload: not tsc, stamped last */
};

_Static_assert(sizeof(struct msg_hdr) == 24, "message header layout");

/* The last message of a run: every service passes it on and exits. */
#define MSG_STOP (1u << 0)
/*
 * Past the warm-up: the client decides when that is (a count or a time
 * limit), so it tells the services in the message itself.
 */
#define MSG_MEASURED (1u << 1)
#define MSG_FLAGS (MSG_STOP | MSG_MEASURED)

/* Sizes are whole 8-byte words so the checksum reads them as such. */
#define MSG_MIN 32
#define MSG_MAX (1u << 20)

/* Write a payload that differs per seq, and the checksum over it. */
void msg_fill(void *buf, size_t len, uint32_t seq, uint32_t flags);
uint64_t msg_sum(const void *buf, size_t len);
/*
 * Read every byte of a received message and check it is the one
 * expected; on mismatch print what differs and return -1.
 */
int msg_verify(const void *buf, size_t len, uint32_t seq, uint32_t flags);

static inline struct msg_hdr *msg_hdr(void *buf)
{
	return buf;
}

#endif
