// SPDX-License-Identifier: MIT
/*
 * The receiver's message queue: the protocol described in queue.h, on
 * memory shared by the sending and receiving processes.
 */
#include <errno.h>
#include <string.h>

#include "queue.h"

/* The queue lives in shared memory: its atomics must not hide a lock. */
_Static_assert(ATOMIC_LLONG_LOCK_FREE == 2, "64-bit atomics not lock-free");
_Static_assert(sizeof(struct __rpal_queue) == 3 * RPAL_QUEUE_ALIGN,
	       "queue header layout");
_Static_assert(offsetof(struct __rpal_queue_slot, payload) == 16,
	       "queue slot layout");
/* Positions t - nslots, t and t + nslots differ modulo 2^30. */
_Static_assert(2ull * RPAL_QUEUE_MAX_SLOTS < (1ull << RPAL_QUEUE_POS_BITS),
	       "position field too narrow for the largest queue");
/* pop returns a length as an int. */
_Static_assert(RPAL_QUEUE_MAX_MSG <= 0x7fffffff, "max_msg must fit an int");

static size_t slot_stride(uint32_t max_msg)
{
	size_t bytes = sizeof(struct __rpal_queue_slot) + (size_t)max_msg;

	return (bytes + RPAL_QUEUE_ALIGN - 1) & ~(size_t)(RPAL_QUEUE_ALIGN - 1);
}

size_t __rpal_queue_bytes(uint32_t nslots, uint32_t max_msg)
{
	if (!nslots || nslots > RPAL_QUEUE_MAX_SLOTS ||
	    (nslots & (nslots - 1)) || max_msg > RPAL_QUEUE_MAX_MSG)
		return 0;
	/* At most 2^20 * (1 MiB + 64): no overflow on a 64-bit size_t. */
	return sizeof(struct __rpal_queue) +
	       (size_t)nslots * slot_stride(max_msg);
}

int __rpal_queue_init(void *mem, size_t bytes, uint32_t nslots,
		      uint32_t max_msg)
{
	struct __rpal_queue *q = mem;
	size_t need = __rpal_queue_bytes(nslots, max_msg);

	if (!q || !need || bytes < need || (uintptr_t)mem % RPAL_QUEUE_ALIGN)
		return -EINVAL;

	/* A process still holding the old queue stops trusting it first. */
	atomic_store_explicit(&q->magic, 0, memory_order_relaxed);
	q->nslots = nslots;
	q->max_msg = max_msg;
	q->stride = (uint32_t)slot_stride(max_msg);
	atomic_store_explicit(&q->tail, 0, memory_order_relaxed);
	atomic_store_explicit(&q->head, 0, memory_order_relaxed);
	for (uint32_t i = 0; i < nslots; i++) {
		struct __rpal_queue_slot *s = __rpal_queue_slot(q, i);

		atomic_store_explicit(&s->word,
				      __rpal_queue_word(i, RPAL_QUEUE_FREE, 0),
				      memory_order_relaxed);
		s->len = 0;
		s->reserved = 0;
	}
	atomic_store_explicit(&q->magic, RPAL_QUEUE_MAGIC,
			      memory_order_release);
	return 0;
}

/* Acquire: pairs with init's release, so the geometry read next is set. */
static struct __rpal_queue *queue_of(const void *mem)
{
	struct __rpal_queue *q = (struct __rpal_queue *)mem;

	if (!q || atomic_load_explicit(&q->magic, memory_order_acquire) !=
			  RPAL_QUEUE_MAGIC)
		return NULL;
	return q;
}

/* Moves tail from @t to t + 1 unless someone did; returns tail after. */
static uint64_t advance_tail(struct __rpal_queue *q, uint64_t t)
{
	uint64_t seen = t;

	if (atomic_compare_exchange_strong_explicit(&q->tail, &seen, t + 1,
						    memory_order_relaxed,
						    memory_order_relaxed))
		return t + 1;
	return seen;
}

int __rpal_queue_claim(void *mem, uint32_t len, uint32_t sender,
		       struct __rpal_queue_claim *c)
{
	struct __rpal_queue *q = queue_of(mem);
	uint64_t t;

	if (!q)
		return -EINVAL;
	if (len > q->max_msg)
		return -EMSGSIZE;

	t = atomic_load_explicit(&q->tail, memory_order_relaxed);
	for (;;) {
		struct __rpal_queue_slot *s = __rpal_queue_slot(q, t);
		uint64_t free_word = __rpal_queue_word(t, RPAL_QUEUE_FREE, 0);
		uint64_t w =
			atomic_load_explicit(&s->word, memory_order_acquire);
		uint64_t now;

		if (w == free_word) {
			/*
			 * The claim. Acquire on success: the consumer's reads
			 * of this slot's previous message are done before
			 * our writes below.
			 */
			if (!atomic_compare_exchange_strong_explicit(
				    &s->word, &w,
				    __rpal_queue_word(t, RPAL_QUEUE_CLAIMED,
						      sender),
				    memory_order_acquire, memory_order_relaxed))
				continue; /* another producer won t: look again
					   */
			/* Ordered before publish (release): see queue.h. */
			advance_tail(q, t);
			c->pos = t;
			c->payload = s->payload;
			c->len = len;
			c->sender = sender;
			return 0;
		}
		if (__rpal_queue_word_is(w, t) &&
		    __rpal_queue_word_state(w) != RPAL_QUEUE_FREE) {
			/* Claimed, tail not moved: its claimer may be dead. */
			t = advance_tail(q, t);
			continue;
		}
		now = atomic_load_explicit(&q->tail, memory_order_relaxed);
		if (now != t) {
			t = now;
			continue;
		}
		/*
		 * tail is current, so the slot must hold t, or t - nslots not
		 * yet consumed. Anything else was not written by the protocol.
		 */
		if (__rpal_queue_word_is(w, t - q->nslots))
			return -EAGAIN;
		return -EIO;
	}
}

void __rpal_queue_publish(void *mem, const struct __rpal_queue_claim *c)
{
	struct __rpal_queue *q = mem;
	struct __rpal_queue_slot *s = __rpal_queue_slot(q, c->pos);

	s->len = c->len;
	/* Release: the payload and length are visible with the state. */
	atomic_store_explicit(
		&s->word,
		__rpal_queue_word(c->pos, RPAL_QUEUE_PUBLISHED, c->sender),
		memory_order_release);
}

int __rpal_queue_push(void *q, const void *msg, uint32_t len, uint32_t sender)
{
	struct __rpal_queue_claim c;
	int ret = __rpal_queue_claim(q, len, sender, &c);

	if (ret)
		return ret;
	if (len)
		memcpy(c.payload, msg, len);
	__rpal_queue_publish(q, &c);
	return 0;
}

int __rpal_queue_pop(void *mem, void *buf, uint32_t buflen, uint32_t *sender)
{
	struct __rpal_queue *q = queue_of(mem);
	struct __rpal_queue_slot *s;
	uint64_t h, w;
	uint32_t len;

	if (!q)
		return -EINVAL;
	h = atomic_load_explicit(&q->head, memory_order_relaxed);
	s = __rpal_queue_slot(q, h);
	/* Acquire: pairs with publish, the payload is complete. */
	w = atomic_load_explicit(&s->word, memory_order_acquire);
	if (w == __rpal_queue_word(h, RPAL_QUEUE_FREE, 0))
		return -EAGAIN;
	if (!__rpal_queue_word_is(w, h))
		return -EIO;
	switch (__rpal_queue_word_state(w)) {
	case RPAL_QUEUE_CLAIMED:
		if (sender)
			*sender = __rpal_queue_word_sender(w);
		return -EINPROGRESS;
	case RPAL_QUEUE_PUBLISHED:
		break;
	default:
		return -EIO;
	}
	if (sender)
		*sender = __rpal_queue_word_sender(w);
	len = s->len;
	/* Never copy more than the slot holds, whatever a peer wrote. */
	if (len > q->max_msg)
		return -EIO;
	if (len > buflen)
		return -EMSGSIZE;
	if (len)
		memcpy(buf, s->payload, len);
	/* Release: our reads of the payload end before the next claim. */
	atomic_store_explicit(
		&s->word, __rpal_queue_word(h + q->nslots, RPAL_QUEUE_FREE, 0),
		memory_order_release);
	atomic_store_explicit(&q->head, h + 1, memory_order_relaxed);
	return (int)len;
}

int __rpal_queue_skip(void *mem)
{
	struct __rpal_queue *q = queue_of(mem);
	struct __rpal_queue_slot *s;
	uint64_t h;

	if (!q)
		return -EINVAL;
	h = atomic_load_explicit(&q->head, memory_order_relaxed);
	s = __rpal_queue_slot(q, h);
	/*
	 * An unclaimed slot is not ours to free: a producer may be about to
	 * claim it, and freeing it for h + nslots would leave tail behind.
	 */
	if (atomic_load_explicit(&s->word, memory_order_acquire) ==
	    __rpal_queue_word(h, RPAL_QUEUE_FREE, 0))
		return -EAGAIN;
	/*
	 * A claimer killed before moving tail, with no producer since to
	 * help it: tail may still be h. Move it before the slot turns FREE
	 * for h + nslots (release), as publish does.
	 */
	advance_tail(q, h);
	atomic_store_explicit(
		&s->word, __rpal_queue_word(h + q->nslots, RPAL_QUEUE_FREE, 0),
		memory_order_release);
	atomic_store_explicit(&q->head, h + 1, memory_order_relaxed);
	return 0;
}

bool __rpal_queue_empty(const void *mem)
{
	const struct __rpal_queue *q = queue_of(mem);
	uint64_t h;

	if (!q)
		return false;
	h = atomic_load_explicit(&q->head, memory_order_relaxed);
	return atomic_load_explicit(&__rpal_queue_slot(q, h)->word,
				    memory_order_relaxed) ==
	       __rpal_queue_word(h, RPAL_QUEUE_FREE, 0);
}

uint32_t __rpal_queue_max_msg(const void *mem)
{
	const struct __rpal_queue *q = queue_of(mem);

	return q ? q->max_msg : 0;
}
