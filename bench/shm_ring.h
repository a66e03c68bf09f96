// SPDX-License-Identifier: MIT
/*
 * A single-producer single-consumer ring of message slots in memory
 * shared by two processes: the data path of every shared-memory
 * mechanism. How a consumer waits for it to fill (eventfd, futex, spin)
 * is the mechanism's business; the ring only publishes and consumes.
 */
#ifndef RPAL_BENCH_SHM_RING_H
#define RPAL_BENCH_SHM_RING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Request/response needs one slot; the rest let a violation show. */
#define RING_DEPTH 4

struct ring {
	/* written by the producer only; also the futex word */
	_Alignas(64) uint32_t tail;
	/* written by the consumer only */
	_Alignas(64) uint32_t head;
	uint32_t waiting; /* the consumer may sleep on tail: wake it */
	_Alignas(64) uint32_t len[RING_DEPTH];
	size_t slot; /* bytes per slot, fixed at init */
	_Alignas(64) unsigned char data[];
};

/* Two rings in one shared mapping: ring[d] carries side d's messages. */
struct shm_pair {
	void *map;
	size_t map_len;
	struct ring *ring[2];
};

int shm_pair_map(struct shm_pair *sp, size_t max_msg);
int shm_pair_unmap(struct shm_pair *sp);

/* Copy a message in and publish it; -1 if the ring is full. */
int ring_put(struct ring *r, const void *msg, size_t len);
/* Copy the oldest message out and free its slot; -1 if none or wrong size. */
int ring_get(struct ring *r, void *buf, size_t len);

static inline bool ring_ready(const struct ring *r)
{
	return __atomic_load_n(&r->tail, __ATOMIC_ACQUIRE) != r->head;
}

#endif
