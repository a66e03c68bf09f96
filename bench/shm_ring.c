// SPDX-License-Identifier: MIT
/*
 * The shared-memory ring: a MAP_SHARED anonymous mapping made before fork
 * so both processes see the same pages at the same address, and the
 * acquire/release pairs that hand a slot from producer to consumer.
 */
#include <string.h>
#include <sys/mman.h>

#include "bench.h"
#include "shm_ring.h"

static size_t round_up(size_t v, size_t to)
{
	return (v + to - 1) / to * to;
}

static size_t ring_bytes(size_t slot)
{
	return round_up(sizeof(struct ring) + RING_DEPTH * slot, 4096);
}

int shm_pair_map(struct shm_pair *sp, size_t max_msg)
{
	size_t slot = round_up(max_msg, 64);
	size_t one = ring_bytes(slot);
	int d;

	sp->map_len = 2 * one;
	sp->map = mmap(NULL, sp->map_len, PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sp->map == MAP_FAILED) {
		sp->map = NULL;
		return bench_fail("mmap of %zu shared bytes", sp->map_len);
	}
	for (d = 0; d < 2; d++) {
		sp->ring[d] = (struct ring *)((char *)sp->map + d * one);
		sp->ring[d]->slot = slot;
	}
	return 0;
}

int shm_pair_unmap(struct shm_pair *sp)
{
	if (!sp->map)
		return 0;
	if (munmap(sp->map, sp->map_len))
		return bench_fail("munmap");
	sp->map = NULL;
	return 0;
}

int ring_put(struct ring *r, const void *msg, size_t len)
{
	uint32_t tail = r->tail;
	uint32_t head = __atomic_load_n(&r->head, __ATOMIC_ACQUIRE);
	uint32_t i = tail % RING_DEPTH;

	if (len > r->slot)
		return bench_failx("message of %zu bytes exceeds slot of %zu",
				   len, r->slot);
	if (tail - head >= RING_DEPTH)
		return bench_failx("ring full: peer broke request/response");
	memcpy(r->data + (size_t)i * r->slot, msg, len);
	r->len[i] = (uint32_t)len;
	/*
	 * seq_cst, not release: a futex consumer announces "waiting" and
	 * then reads tail, the producer stores tail and then reads
	 * "waiting"; only a total order guarantees one of them sees the
	 * other, so no wake-up is lost.
	 */
	__atomic_store_n(&r->tail, tail + 1, __ATOMIC_SEQ_CST);
	return 0;
}

int ring_get(struct ring *r, void *buf, size_t len)
{
	uint32_t head = r->head;
	uint32_t i = head % RING_DEPTH;

	if (__atomic_load_n(&r->tail, __ATOMIC_ACQUIRE) == head)
		return bench_failx("ring empty after a wake-up");
	if (r->len[i] != len)
		return bench_failx("ring slot holds %u bytes, expected %zu",
				   r->len[i], len);
	memcpy(buf, r->data + (size_t)i * r->slot, len);
	__atomic_store_n(&r->head, head + 1, __ATOMIC_RELEASE);
	return 0;
}
