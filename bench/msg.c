// SPDX-License-Identifier: MIT
/*
 * Filling and checking messages. The checksum is Fletcher-like over 64-bit
 * words: the running sum of sums weighs each word by its position, so a
 * reordered, shifted or stale payload fails, while its one add per word
 * keeps the honest cost of reading 64 KiB near a memcpy.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "bench.h"
#include "msg.h"

#define SUM_SEED 0x243f6a8885a308d3ull
#define MIX 0x9e3779b97f4a7c15ull

static inline uint64_t load64(const unsigned char *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

static inline void store64(unsigned char *p, uint64_t v)
{
	memcpy(p, &v, sizeof(v));
}

/*
 * The rotation keeps an error that changes a and b alike (one broken word
 * changes both by the same amount) from cancelling in the XOR; the
 * multiply and shift only spread it, and are invertible.
 */
static inline uint64_t sum_finish(uint64_t a, uint64_t b)
{
	uint64_t h = a ^ (b << 32 | b >> 32);

	h *= MIX;
	return h ^ (h >> 29);
}

uint64_t msg_sum(const void *buf, size_t len)
{
	const unsigned char *p = buf;
	uint64_t a = SUM_SEED, b = 0;
	size_t off;

	/* seq and flags share the second word of the header */
	a += load64(p + offsetof(struct msg_hdr, seq));
	b += a;
	for (off = sizeof(struct msg_hdr); off < len; off += 8) {
		a += load64(p + off);
		b += a;
	}
	return sum_finish(a, b);
}

void msg_fill(void *buf, size_t len, uint32_t seq, uint32_t flags)
{
	unsigned char *p = buf;
	struct msg_hdr *h = buf;
	uint64_t a = SUM_SEED, b = 0, w;
	size_t off;

	h->tsc = 0;
	h->seq = seq;
	h->flags = flags;
	a += load64(p + offsetof(struct msg_hdr, seq));
	b += a;
	/* one pass: the sender pays for producing the payload once */
	w = (uint64_t)seq * MIX;
	for (off = sizeof(struct msg_hdr); off < len; off += 8) {
		w += MIX + off;
		store64(p + off, w);
		a += w;
		b += a;
	}
	h->sum = sum_finish(a, b);
}

int msg_verify(const void *buf, size_t len, uint32_t seq, uint32_t flags)
{
	const struct msg_hdr *h = buf;
	uint64_t sum = msg_sum(buf, len);

	if (sum != h->sum)
		return bench_failx("checksum mismatch in message %" PRIu32
				   " of %zu bytes: carried %#" PRIx64
				   ", computed %#" PRIx64,
				   h->seq, len, h->sum, sum);
	if (h->seq != seq || h->flags != flags)
		return bench_failx("expected message %" PRIu32
				   " flags %#x, got %" PRIu32 " flags %#x",
				   seq, flags, h->seq, h->flags);
	return 0;
}
