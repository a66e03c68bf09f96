/* SPDX-License-Identifier: MIT */
/*
 * The receiver's message queue: a bounded multi-producer, single-consumer
 * ring of fixed-size slots in memory shared by several processes. Senders
 * (threads of other processes) push; the receiver's thread pops.
 *
 * Position independence: the queue holds no pointers, only counters and
 * sizes, so each process may map it anywhere (rpal maps it at one address
 * everywhere, but nothing here relies on that). The memory must be 64-byte
 * aligned.
 *
 * Positions. Every message gets a position, a 64-bit counter that never
 * wraps in practice; position p lives in slot p % nslots. Each slot has a
 * 64-bit state word (struct __rpal_queue_slot.word):
 *
 *   bits 63..32  sender id (0 when FREE)
 *   bits 31..2   position, modulo 2^30
 *   bits  1..0   state: FREE, CLAIMED or PUBLISHED
 *
 * and one slot goes, for position p, through
 *
 *   FREE(p) --claim CAS--> CLAIMED(p, s) --publish--> PUBLISHED(p, s)
 *     --pop or skip--> FREE(p + nslots)
 *
 * "tail" is a hint: the lowest position producers believe unclaimed.
 * "head" is the consumer's next position (only the consumer writes it).
 *
 * Push (producers; lock-free):
 *  1. t = tail. Look at slot t's word:
 *     - FREE(t): CAS it to CLAIMED(t, me). That CAS is the claim, and the
 *       claimer's id is part of the value it writes: there is no moment
 *       at which the slot is taken but its taker unknown.
 *     - CLAIMED(t, x) or PUBLISHED(t, x): someone claimed t but has not
 *       moved tail yet (or died before doing so): help, CAS tail t -> t+1.
 *     - any state of position t - nslots, with tail still t: the consumer
 *       has not freed the slot: the queue is full (-EAGAIN).
 *     - otherwise our tail was stale: reload it.
 *  2. CAS tail t -> t+1 (a failure means somebody helped already).
 *  3. Copy the payload and the length into the slot, then store
 *     PUBLISHED(t, me) with release ordering.
 *
 * Pop (the consumer; wait-free): h = head; slot h's word is
 *   FREE(h): empty (-EAGAIN); CLAIMED(h, s): -EINPROGRESS, s reported;
 *   PUBLISHED(h, s): copy out, store FREE(h + nslots) with release
 *   ordering, head = h + 1.
 * No other value can appear while every party follows the protocol; one
 * that does (a peer scribbled on the queue) is reported as -EIO, and skip
 * discards it.
 *
 * Memory orders, and why each suffices:
 *  - publish is a release store and pop loads the word with acquire: the
 *    consumer that sees PUBLISHED sees the payload and length written
 *    before it.
 *  - pop frees the slot with a release store, and the claim CAS (and the
 *    producer's load of the word) is acquire: the consumer's reads of the
 *    old payload happen before the next producer's writes to it.
 *  - tail is a hint, moved with relaxed CAS: a stale or lagging tail is
 *    caught by the word check in step 1, never trusted. One property is
 *    needed: by the time a slot is PUBLISHED (or skipped), tail is past its
 *    position. The producer (or skip) moves tail before its release store
 *    of the word, so anyone who acquires that word, or a later value of it
 *    (FREE(p + nslots) is stored by a consumer that acquired PUBLISHED),
 *    then reads tail past p. That is why "position t - nslots, tail still
 *    t" can mean only "full", and why a FREE slot is never behind tail.
 *  - head is written by the consumer alone: relaxed.
 *
 * Kill safety. A producer can die (SIGKILL) at any instruction. Each of
 * its steps is one atomic store or CAS, so it leaves one of:
 *  - nothing claimed: nothing to clean up;
 *  - CLAIMED(p, s) with tail not yet moved: the next producer helps tail
 *    along (step 1), so producers are never blocked by it;
 *  - CLAIMED(p, s), payload partly copied: pop at p reports -EINPROGRESS
 *    with s. The runtime asks whether s is alive; if it is not (its
 *    process has exited: a killed process runs no more instructions), it
 *    calls __rpal_queue_skip(), which moves tail past p (in case nobody
 *    did) and frees the slot for p + nslots. The messages behind it follow.
 *  - PUBLISHED(p, s): a complete message, delivered like any other.
 * The consumer is never blocked forever by a dead producer, only for as
 * long as the runtime takes to see it died.
 *
 * Order: FIFO per producer: a producer's next claim is at or beyond tail,
 * which its previous claim moved past before that push returned. Across
 * producers: order of claim. Messages are never lost or duplicated: a position
 * is claimed by exactly one CAS and freed exactly once by the consumer.
 *
 * The 30-bit position in the word is only compared for equality with the
 * expected position of that slot, which is unique among the values a slot
 * can hold at one time (nslots <= RPAL_QUEUE_MAX_SLOTS < 2^28). A producer
 * stalled across 2^30 positions can at worst mistake a slot's state for
 * that of its stale tail: a claim it then makes is still of a FREE slot,
 * at that slot's true position, and a "full" it sees is re-checked
 * against tail first.
 *
 * Trust: the queue assumes the processes sharing it follow the protocol.
 * A peer that writes garbage can make messages wrong or lost, never make
 * pop or skip touch memory outside the queue, provided the header (set
 * once by __rpal_queue_init()) is intact.
 *
 * All functions return 0 (or a length) or a negative errno, like the rest
 * of the runtime.
 */
#ifndef RPAL_RUNTIME_QUEUE_H
#define RPAL_RUNTIME_QUEUE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RPAL_QUEUE_MAGIC 0x51505072u /* "rPPQ" */
#define RPAL_QUEUE_ALIGN 64
#define RPAL_QUEUE_MAX_SLOTS (1u << 20)
#define RPAL_QUEUE_MAX_MSG (1u << 20)

/* Slot states, the low two bits of a slot's word. */
#define RPAL_QUEUE_FREE 0u
#define RPAL_QUEUE_CLAIMED 1u
#define RPAL_QUEUE_PUBLISHED 2u

#define RPAL_QUEUE_POS_BITS 30
#define RPAL_QUEUE_POS_MASK ((1u << RPAL_QUEUE_POS_BITS) - 1)

/*
 * The queue's header; the slots follow it. Read-only fields come first;
 * tail and head each get a cache line, as producers hammer one and the
 * consumer the other.
 */
struct __rpal_queue {
	_Atomic uint32_t magic; /* RPAL_QUEUE_MAGIC once initialised */
	uint32_t nslots;	/* power of two */
	uint32_t max_msg;	/* payload bytes per slot */
	uint32_t stride;	/* bytes from one slot to the next */
	_Alignas(RPAL_QUEUE_ALIGN) _Atomic uint64_t tail;
	_Alignas(RPAL_QUEUE_ALIGN) _Atomic uint64_t head;
	_Alignas(RPAL_QUEUE_ALIGN) unsigned char slots[];
};

/* Each slot starts on a cache line: neighbours' producers do not share. */
struct __rpal_queue_slot {
	_Atomic uint64_t word;
	uint32_t len; /* payload bytes; valid once PUBLISHED */
	uint32_t reserved;
	unsigned char payload[]; /* max_msg bytes */
};

/* A slot's state word for position @pos. */
static inline uint64_t __rpal_queue_word(uint64_t pos, uint32_t state,
					 uint32_t sender)
{
	return (uint64_t)sender << 32 |
	       (uint64_t)(pos & RPAL_QUEUE_POS_MASK) << 2 | state;
}

static inline uint32_t __rpal_queue_word_state(uint64_t word)
{
	return (uint32_t)word & 3u;
}

static inline uint32_t __rpal_queue_word_sender(uint64_t word)
{
	return (uint32_t)(word >> 32);
}

/* True when @word is about position @pos (modulo 2^30). */
static inline bool __rpal_queue_word_is(uint64_t word, uint64_t pos)
{
	return (((uint32_t)word >> 2) & RPAL_QUEUE_POS_MASK) ==
	       (pos & RPAL_QUEUE_POS_MASK);
}

/* The slot that holds position @pos. */
static inline struct __rpal_queue_slot *
__rpal_queue_slot(const struct __rpal_queue *q, uint64_t pos)
{
	return (struct __rpal_queue_slot *)((uintptr_t)q->slots +
					    (size_t)(pos & (q->nslots - 1)) *
						    q->stride);
}

/* A slot claimed by __rpal_queue_claim(), to be filled and published. */
struct __rpal_queue_claim {
	uint64_t pos;
	void *payload; /* where to write the message: len bytes */
	uint32_t len;
	uint32_t sender;
};

/*
 * Bytes a queue of @nslots slots of @max_msg payload bytes needs, or 0 if
 * nslots is not a power of two in [1, RPAL_QUEUE_MAX_SLOTS] or max_msg is
 * above RPAL_QUEUE_MAX_MSG.
 */
size_t __rpal_queue_bytes(uint32_t nslots, uint32_t max_msg);

/*
 * Makes the @bytes at @mem (RPAL_QUEUE_ALIGN-aligned) an empty queue.
 * The magic is stored last (release): a process that finds it finds the
 * rest initialised. Returns 0, or -EINVAL for bad geometry, alignment or
 * too few bytes. Must not race with any other use of the queue.
 */
int __rpal_queue_init(void *mem, size_t bytes, uint32_t nslots,
		      uint32_t max_msg);

/*
 * Sends @len bytes from @msg (may be NULL when len is 0) as @sender.
 * Returns 0; -EAGAIN full; -EMSGSIZE len > max_msg; -EINVAL not a queue;
 * -EIO the queue is corrupt. Safe against any number of concurrent
 * producers, in any processes; lock-free.
 */
int __rpal_queue_push(void *q, const void *msg, uint32_t len, uint32_t sender);

/*
 * The first half of a push, for producers that build the message in
 * place: claims the next slot for a @len-byte message from @sender and
 * fills *@c. The caller writes c->len bytes to c->payload, then calls
 * __rpal_queue_publish(). Until then the consumer waits at that slot
 * (-EINPROGRESS), so publish promptly and never fail in between. Returns
 * as __rpal_queue_push().
 */
int __rpal_queue_claim(void *q, uint32_t len, uint32_t sender,
		       struct __rpal_queue_claim *c);

/* The second half: makes the message claimed in @c visible. */
void __rpal_queue_publish(void *q, const struct __rpal_queue_claim *c);

/*
 * Receives the next message into @buf (@buflen bytes; NULL allowed when
 * buflen is 0) and its sender's id into *@sender (if not NULL). Returns
 * the message length, or:
 *   -EAGAIN      empty;
 *   -EMSGSIZE    buflen is too small; the message stays (*sender is set);
 *   -EINPROGRESS the next slot is claimed but not yet published; *sender
 *                is its claimer. Try again later, or, if the claimer is
 *                dead, __rpal_queue_skip();
 *   -EIO         the next slot holds a state the protocol cannot produce
 *                (a peer wrote garbage); __rpal_queue_skip() drops it;
 *   -EINVAL      not a queue.
 * Consumer only: at most one thread pops (or skips) at a time.
 * Wait-free: a fixed number of steps, whatever producers do.
 */
int __rpal_queue_pop(void *q, void *buf, uint32_t buflen, uint32_t *sender);

/*
 * Discards the next slot, whatever it holds: a claim whose producer is
 * dead, a message nobody wants, or garbage. Only for claimers that can
 * never run again: a live producer would go on writing into a slot that
 * is no longer its own. Returns 0, -EAGAIN (nothing there: the next slot
 * is unclaimed) or -EINVAL. Consumer only.
 */
int __rpal_queue_skip(void *q);

/*
 * True when there is nothing at the consumer's next slot: no message and
 * no claim. A few relaxed loads, no RMW: the consumer's fast path; false for a
 * bad queue, so the caller goes on to pop and hears why. A consumer that
 * announces it is going to sleep and then checks must separate the two
 * with a seq_cst RMW or fence (senders publish, then CAS the state word).
 */
bool __rpal_queue_empty(const void *q);

/* The payload size of @q's slots (a pop buffer this big always fits). */
uint32_t __rpal_queue_max_msg(const void *q);

#endif /* RPAL_RUNTIME_QUEUE_H */
