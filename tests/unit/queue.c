// SPDX-License-Identifier: MIT
/*
 * The receiver's message queue (runtime/queue.c): single-threaded
 * semantics, position independence, producers in several processes and
 * threads at once, and recovery from producers killed in the middle of a
 * push, deterministically and at random.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#endif

#include "../../runtime/queue.h"
#include "../harness/rpal_test.h"

static int on_valgrind(void)
{
#ifdef RUNNING_ON_VALGRIND
	return RUNNING_ON_VALGRIND;
#else
	return 0;
#endif
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Shared between processes: what fork passes on, mapped where it was. */
static void *shared_map(size_t bytes)
{
	void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

static struct __rpal_queue *new_queue(struct rpal_test *_t, uint32_t nslots,
				      uint32_t max_msg)
{
	size_t bytes = __rpal_queue_bytes(nslots, max_msg);
	void *mem;

	ASSERT_GT(bytes, 0);
	mem = shared_map(bytes);
	ASSERT_TRUE(mem != NULL);
	ASSERT_EQ(__rpal_queue_init(mem, bytes, nslots, max_msg), 0);
	return mem;
}

/*
 * Moves an empty queue's positions to @pos, as if @pos messages had gone
 * through, to reach the 2^30 wrap of the word's position field quickly.
 */
static void start_at(struct __rpal_queue *q, uint64_t pos)
{
	for (uint64_t p = pos; p < pos + q->nslots; p++)
		atomic_store(&__rpal_queue_slot(q, p)->word,
			     __rpal_queue_word(p, RPAL_QUEUE_FREE, 0));
	atomic_store(&q->tail, pos);
	atomic_store(&q->head, pos);
}

static int push_u32(void *q, uint32_t v, uint32_t sender)
{
	return __rpal_queue_push(q, &v, sizeof(v), sender);
}

/* Pops a 4-byte message and checks its value and sender. */
#define ASSERT_POP_U32(q, want, want_sender)                             \
	do {                                                             \
		uint32_t _v = 0, _s = 0;                                 \
		ASSERT_EQ(__rpal_queue_pop(q, &_v, sizeof(_v), &_s), 4); \
		ASSERT_EQ(_v, want);                                     \
		ASSERT_EQ(_s, want_sender);                              \
	} while (0)

/* ---- geometry and initialisation ---------------------------------- */

TEST(bytes_and_init_reject_bad_geometry)
{
	static _Alignas(64) unsigned char mem[1 << 16];
	size_t b = __rpal_queue_bytes(8, 100);

	ASSERT_EQ(__rpal_queue_bytes(0, 8), 0);
	ASSERT_EQ(__rpal_queue_bytes(3, 8), 0);
	ASSERT_EQ(__rpal_queue_bytes(RPAL_QUEUE_MAX_SLOTS * 2, 8), 0);
	ASSERT_EQ(__rpal_queue_bytes(8, RPAL_QUEUE_MAX_MSG + 1), 0);
	ASSERT_GT(__rpal_queue_bytes(1, 0), 0);
	ASSERT_GT(__rpal_queue_bytes(RPAL_QUEUE_MAX_SLOTS, RPAL_QUEUE_MAX_MSG),
		  (size_t)RPAL_QUEUE_MAX_SLOTS * RPAL_QUEUE_MAX_MSG);
	/* Header, then 8 slots of 16 + 100 bytes, each on its own lines. */
	ASSERT_EQ(b, sizeof(struct __rpal_queue) + 8 * 128);

	ASSERT_EQ(__rpal_queue_init(NULL, b, 8, 100), -EINVAL);
	ASSERT_EQ(__rpal_queue_init(mem, b - 1, 8, 100), -EINVAL);
	ASSERT_EQ(__rpal_queue_init(mem + 8, b, 8, 100), -EINVAL);
	ASSERT_EQ(__rpal_queue_init(mem, sizeof(mem), 6, 100), -EINVAL);
	ASSERT_EQ(__rpal_queue_init(mem, sizeof(mem), 0, 100), -EINVAL);
	ASSERT_EQ(__rpal_queue_init(mem, b, 8, 100), 0);
	ASSERT_EQ(__rpal_queue_max_msg(mem), 100);
	ASSERT_TRUE(__rpal_queue_empty(mem));
	/* One slot is a queue too. */
	ASSERT_EQ(__rpal_queue_init(mem, sizeof(mem), 1, 4), 0);
	ASSERT_EQ(push_u32(mem, 5, 1), 0);
	ASSERT_EQ(push_u32(mem, 6, 1), -EAGAIN);
	ASSERT_POP_U32(mem, 5, 1);
	ASSERT_EQ(push_u32(mem, 6, 1), 0);
	ASSERT_POP_U32(mem, 6, 1);
}

/* ---- single-threaded semantics ------------------------------------- */

TEST(empty_queue)
{
	struct __rpal_queue *q = new_queue(_t, 4, 16);
	uint32_t sender = 12345;
	char buf[16];

	ASSERT_TRUE(__rpal_queue_empty(q));
	ASSERT_EQ(__rpal_queue_pop(q, buf, sizeof(buf), &sender), -EAGAIN);
	ASSERT_EQ(sender, 12345); /* untouched */
	ASSERT_EQ(__rpal_queue_pop(q, NULL, 0, NULL), -EAGAIN);
	/* Nothing claimed: nothing to skip, and tail must not move. */
	ASSERT_EQ(__rpal_queue_skip(q), -EAGAIN);
	ASSERT_EQ(push_u32(q, 1, 2), 0);
	ASSERT_FALSE(__rpal_queue_empty(q));
	ASSERT_POP_U32(q, 1, 2);
	ASSERT_TRUE(__rpal_queue_empty(q));
}

TEST(fill_to_full_then_fifo)
{
	enum { N = 16 };
	struct __rpal_queue *q = new_queue(_t, N, 8);

	for (uint32_t i = 0; i < N; i++)
		ASSERT_EQ(push_u32(q, i, 100 + i), 0);
	ASSERT_EQ(push_u32(q, 99, 1), -EAGAIN);
	ASSERT_EQ(push_u32(q, 99, 1), -EAGAIN);
	/* One out, exactly one more in. */
	ASSERT_POP_U32(q, 0, 100);
	ASSERT_EQ(push_u32(q, N, 100 + N), 0);
	ASSERT_EQ(push_u32(q, 99, 1), -EAGAIN);
	for (uint32_t i = 1; i <= N; i++)
		ASSERT_POP_U32(q, i, 100 + i);
	ASSERT_EQ(__rpal_queue_pop(q, NULL, 0, NULL), -EAGAIN);
	ASSERT_TRUE(__rpal_queue_empty(q));
}

/* Fill levels varying from empty to full, over many laps of the ring. */
static void wrap_many(struct rpal_test *_t, uint64_t start)
{
	enum { N = 8, LAPS = 20000 };
	struct __rpal_queue *q = new_queue(_t, N, 4);
	uint32_t in = 0, out = 0;

	start_at(q, start);
	for (uint32_t round = 0; round < LAPS; round++) {
		uint32_t burst = round % (N + 1);

		if (burst > N - (in - out))
			burst = N - (in - out);
		for (uint32_t i = 0; i < burst; i++)
			ASSERT_EQ(push_u32(q, in++, 7), 0);
		if (in - out == N)
			ASSERT_EQ(push_u32(q, 0, 7), -EAGAIN);
		/* Leave one behind every other round: slots drift. */
		while (out + (round & 1) < in)
			ASSERT_POP_U32(q, out++, 7);
	}
	while (out < in)
		ASSERT_POP_U32(q, out++, 7);
	ASSERT_EQ(__rpal_queue_pop(q, NULL, 0, NULL), -EAGAIN);
	ASSERT_EQ(atomic_load(&q->head), start + in);
	ASSERT_EQ(atomic_load(&q->tail), start + in);
	TH_LOG("%u messages from position %#jx", in, (uintmax_t)start);
}

TEST(wraparound_many_laps)
{
	wrap_many(_t, 0);
}

/* The word keeps positions modulo 2^30: cross that wrap, and 2^32's. */
TEST(wraparound_position_field)
{
	wrap_many(_t, (1ull << RPAL_QUEUE_POS_BITS) - 1000);
	wrap_many(_t, (1ull << 32) - 1000);
	wrap_many(_t, UINT64_MAX / 2);
}

TEST(msgsize_both_ways)
{
	struct __rpal_queue *q = new_queue(_t, 4, 100);
	unsigned char msg[101], buf[101];
	uint32_t sender = 0;

	for (int i = 0; i < 101; i++)
		msg[i] = (unsigned char)(i * 7 + 1);
	ASSERT_EQ(__rpal_queue_push(q, msg, 101, 1), -EMSGSIZE);
	ASSERT_TRUE(__rpal_queue_empty(q));
	ASSERT_EQ(__rpal_queue_push(q, msg, 100, 3), 0);
	ASSERT_EQ(__rpal_queue_push(q, msg, 1, 4), 0);
	/* Too small a buffer: the message stays, its sender is told. */
	ASSERT_EQ(__rpal_queue_pop(q, buf, 99, &sender), -EMSGSIZE);
	ASSERT_EQ(sender, 3);
	ASSERT_EQ(__rpal_queue_pop(q, NULL, 0, NULL), -EMSGSIZE);
	memset(buf, 0, sizeof(buf));
	ASSERT_EQ(__rpal_queue_pop(q, buf, 100, &sender), 100);
	ASSERT_EQ(memcmp(buf, msg, 100), 0);
	ASSERT_EQ(__rpal_queue_pop(q, buf, 1, &sender), 1);
	ASSERT_EQ(buf[0], msg[0]);
	ASSERT_EQ(sender, 4);
}

TEST(zero_length_messages)
{
	struct __rpal_queue *q = new_queue(_t, 4, 0);
	uint32_t sender = 0;

	ASSERT_EQ(__rpal_queue_push(q, NULL, 0, 41), 0);
	ASSERT_EQ(__rpal_queue_push(q, "x", 0, 42), 0);
	ASSERT_EQ(__rpal_queue_push(q, "x", 1, 43), -EMSGSIZE);
	ASSERT_FALSE(__rpal_queue_empty(q));
	ASSERT_EQ(__rpal_queue_pop(q, NULL, 0, &sender), 0);
	ASSERT_EQ(sender, 41);
	ASSERT_EQ(__rpal_queue_pop(q, NULL, 0, &sender), 0);
	ASSERT_EQ(sender, 42);
	ASSERT_EQ(__rpal_queue_pop(q, NULL, 0, &sender), -EAGAIN);
}

TEST(extreme_sender_ids)
{
	struct __rpal_queue *q = new_queue(_t, 4, 4);
	struct __rpal_queue_claim c;
	uint32_t sender = 1;

	ASSERT_EQ(push_u32(q, 1, 0), 0);
	ASSERT_EQ(push_u32(q, 2, UINT32_MAX), 0);
	ASSERT_EQ(__rpal_queue_claim(q, 0, 0, &c), 0);
	ASSERT_POP_U32(q, 1, 0);
	ASSERT_POP_U32(q, 2, UINT32_MAX);
	/* A claim by sender 0 is not mistaken for a free slot. */
	ASSERT_FALSE(__rpal_queue_empty(q));
	ASSERT_EQ(__rpal_queue_pop(q, NULL, 0, &sender), -EINPROGRESS);
	ASSERT_EQ(sender, 0);
	__rpal_queue_publish(q, &c);
	ASSERT_EQ(__rpal_queue_pop(q, NULL, 0, &sender), 0);
}

TEST(bad_magic)
{
	static _Alignas(64) unsigned char mem[4096];
	struct __rpal_queue_claim c;
	uint32_t v = 1;

	/* Never initialised. */
	ASSERT_EQ(__rpal_queue_push(mem, &v, 4, 1), -EINVAL);
	ASSERT_EQ(__rpal_queue_claim(mem, 4, 1, &c), -EINVAL);
	ASSERT_EQ(__rpal_queue_pop(mem, &v, 4, NULL), -EINVAL);
	ASSERT_EQ(__rpal_queue_skip(mem), -EINVAL);
	/* "Not empty": a consumer must go on to pop and hear why. */
	ASSERT_FALSE(__rpal_queue_empty(mem));
	ASSERT_EQ(__rpal_queue_max_msg(mem), 0);
	ASSERT_EQ(__rpal_queue_push(NULL, &v, 4, 1), -EINVAL);
	ASSERT_EQ(__rpal_queue_pop(NULL, &v, 4, NULL), -EINVAL);

	/* Initialised, then the header overwritten. */
	ASSERT_EQ(__rpal_queue_init(mem, sizeof(mem), 4, 4), 0);
	ASSERT_EQ(push_u32(mem, 7, 1), 0);
	memset(mem, 0xa5, 16);
	ASSERT_EQ(push_u32(mem, 8, 1), -EINVAL);
	ASSERT_EQ(__rpal_queue_pop(mem, &v, 4, NULL), -EINVAL);
	ASSERT_EQ(__rpal_queue_skip(mem), -EINVAL);
}

/* ---- claims, skips and garbage ---------------------------------------- */

TEST(claim_blocks_consumer_until_published)
{
	struct __rpal_queue *q = new_queue(_t, 4, 8);
	struct __rpal_queue_claim a, b;
	uint32_t sender = 0;
	char buf[8];

	ASSERT_EQ(__rpal_queue_claim(q, 9, 1, &a), -EMSGSIZE);
	ASSERT_EQ(__rpal_queue_claim(q, 3, 11, &a), 0);
	ASSERT_EQ(__rpal_queue_claim(q, 2, 22, &b), 0);
	ASSERT_EQ(a.len, 3);
	ASSERT_EQ(b.pos, a.pos + 1);
	memcpy(b.payload, "bb", 2);
	__rpal_queue_publish(q, &b);
	/* b is ready, but FIFO: the consumer waits for a's claimer. */
	ASSERT_FALSE(__rpal_queue_empty(q));
	ASSERT_EQ(__rpal_queue_pop(q, buf, sizeof(buf), &sender), -EINPROGRESS);
	ASSERT_EQ(sender, 11);
	memcpy(a.payload, "aaa", 3);
	__rpal_queue_publish(q, &a);
	ASSERT_EQ(__rpal_queue_pop(q, buf, sizeof(buf), &sender), 3);
	ASSERT_EQ(memcmp(buf, "aaa", 3), 0);
	ASSERT_EQ(sender, 11);
	ASSERT_EQ(__rpal_queue_pop(q, buf, sizeof(buf), &sender), 2);
	ASSERT_EQ(memcmp(buf, "bb", 2), 0);
	ASSERT_EQ(sender, 22);
}

/*
 * The claim CAS by hand, exactly as a producer makes it, without the tail
 * move that follows: what a producer killed right after its claim leaves.
 */
static void claim_by_hand(struct rpal_test *_t, struct __rpal_queue *q,
			  uint32_t sender)
{
	uint64_t t = atomic_load(&q->tail);
	uint64_t w = __rpal_queue_word(t, RPAL_QUEUE_FREE, 0);

	ASSERT_TRUE(atomic_compare_exchange_strong(
		&__rpal_queue_slot(q, t)->word, &w,
		__rpal_queue_word(t, RPAL_QUEUE_CLAIMED, sender)));
}

TEST(dead_claimer_before_tail_move_others_push)
{
	struct __rpal_queue *q = new_queue(_t, 4, 4);
	uint32_t sender = 0;

	ASSERT_EQ(push_u32(q, 1, 5), 0);
	claim_by_hand(_t, q, 66);
	ASSERT_EQ(atomic_load(&q->tail), 1);
	/* The next producer helps tail past the orphan, then claims. */
	ASSERT_EQ(push_u32(q, 2, 5), 0);
	ASSERT_EQ(atomic_load(&q->tail), 3);
	ASSERT_POP_U32(q, 1, 5);
	ASSERT_EQ(__rpal_queue_pop(q, NULL, 0, &sender), -EINPROGRESS);
	ASSERT_EQ(sender, 66);
	/* The runtime finds 66 dead. */
	ASSERT_EQ(__rpal_queue_skip(q), 0);
	ASSERT_POP_U32(q, 2, 5);
	/* Healthy across a few laps. */
	for (uint32_t i = 0; i < 40; i++) {
		ASSERT_EQ(push_u32(q, i, 6), 0);
		ASSERT_EQ(push_u32(q, i + 1000, 6), 0);
		ASSERT_POP_U32(q, i, 6);
		ASSERT_POP_U32(q, i + 1000, 6);
	}
	ASSERT_EQ(__rpal_queue_pop(q, NULL, 0, NULL), -EAGAIN);
}

TEST(dead_claimer_before_tail_move_nobody_else)
{
	struct __rpal_queue *q = new_queue(_t, 4, 4);
	uint32_t sender = 0;

	/* Near the end of a lap, so the skip's slot is reused soon. */
	start_at(q, 3);
	claim_by_hand(_t, q, 77);
	ASSERT_EQ(__rpal_queue_pop(q, NULL, 0, &sender), -EINPROGRESS);
	ASSERT_EQ(sender, 77);
	/* The skip moves tail itself: nobody else did. */
	ASSERT_EQ(__rpal_queue_skip(q), 0);
	ASSERT_EQ(atomic_load(&q->tail), 4);
	ASSERT_TRUE(__rpal_queue_empty(q));
	for (uint32_t i = 0; i < 4; i++)
		ASSERT_EQ(push_u32(q, i, 8), 0);
	ASSERT_EQ(push_u32(q, 9, 8), -EAGAIN);
	for (uint32_t i = 0; i < 4; i++)
		ASSERT_POP_U32(q, i, 8);
	ASSERT_EQ(__rpal_queue_pop(q, NULL, 0, NULL), -EAGAIN);
}

TEST(skip_drops_a_published_message)
{
	struct __rpal_queue *q = new_queue(_t, 4, 4);

	ASSERT_EQ(push_u32(q, 1, 1), 0);
	ASSERT_EQ(push_u32(q, 2, 1), 0);
	ASSERT_EQ(__rpal_queue_skip(q), 0);
	ASSERT_POP_U32(q, 2, 1);
	ASSERT_EQ(__rpal_queue_skip(q), -EAGAIN);
}

TEST(garbage_is_reported_and_skippable)
{
	struct __rpal_queue *q = new_queue(_t, 4, 8);
	struct __rpal_queue_slot *s;
	uint32_t v;

	/* A word no step of the protocol writes, at the head and tail. */
	s = __rpal_queue_slot(q, 0);
	atomic_store(&s->word, __rpal_queue_word(2, RPAL_QUEUE_PUBLISHED, 9));
	ASSERT_EQ(__rpal_queue_pop(q, &v, 4, NULL), -EIO);
	ASSERT_EQ(push_u32(q, 1, 1), -EIO);
	ASSERT_EQ(__rpal_queue_skip(q), 0);
	ASSERT_EQ(push_u32(q, 1, 1), 0);
	ASSERT_POP_U32(q, 1, 1);

	/* A published length beyond the slot is never copied. */
	ASSERT_EQ(push_u32(q, 2, 1), 0);
	s = __rpal_queue_slot(q, atomic_load(&q->head));
	s->len = 1000;
	ASSERT_EQ(__rpal_queue_pop(q, &v, 4, NULL), -EIO);
	ASSERT_EQ(__rpal_queue_skip(q), 0);
	ASSERT_EQ(__rpal_queue_pop(q, &v, 4, NULL), -EAGAIN);
}

/* ---- position independence -------------------------------------------- */

TEST(two_mappings_at_different_addresses)
{
	size_t bytes = __rpal_queue_bytes(8, 32);
	struct __rpal_queue_claim c;
	char buf[32];
	uint32_t sender;
	int fd = memfd_create("rpal-queue-test", MFD_CLOEXEC);
	char *a, *b;

	ASSERT_OK(fd);
	ASSERT_OK(ftruncate(fd, (off_t)bytes));
	a = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	b = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ASSERT_TRUE(a != MAP_FAILED && b != MAP_FAILED);
	ASSERT_NE((uintptr_t)a, (uintptr_t)b);
	ASSERT_EQ(__rpal_queue_init(a, bytes, 8, 32), 0);
	for (int i = 0; i < 20; i++) {
		ASSERT_EQ(__rpal_queue_push(a, "hello", 6, 1), 0);
		ASSERT_EQ(__rpal_queue_claim(b, 5, 2, &c), 0);
		/* The claim points into the mapping it was made through. */
		ASSERT_TRUE((char *)c.payload > b &&
			    (char *)c.payload < b + bytes);
		memcpy(c.payload, "world", 5);
		__rpal_queue_publish(b, &c);
		ASSERT_EQ(__rpal_queue_pop(b, buf, sizeof(buf), &sender), 6);
		ASSERT_EQ(strcmp(buf, "hello"), 0);
		ASSERT_EQ(__rpal_queue_pop(a, buf, sizeof(buf), &sender), 5);
		ASSERT_EQ(memcmp(buf, "world", 5), 0);
		ASSERT_EQ(sender, 2);
	}
	munmap(a, bytes);
	munmap(b, bytes);
	close(fd);
}

/* ---- numbered messages, for the concurrent tests ------------------------ */

#define NPROD 4
#define MAX_BODY 200
#define SENDER(p) (1000u + (p))

struct msg {
	uint32_t producer;
	uint32_t seq;
	uint32_t body_len;
	uint32_t csum;
	unsigned char body[];
};

#define MSG_MAX (sizeof(struct msg) + MAX_BODY)

static uint32_t body_len(uint32_t p, uint32_t seq)
{
	return (seq * 2654435761u ^ p * 40503u) % (MAX_BODY + 1);
}

static void fill_body(unsigned char *b, uint32_t len, uint32_t p, uint32_t seq)
{
	uint32_t x = (p * 0x9e3779b9u) ^ (seq * 0x85ebca6bu) ^ 1;

	for (uint32_t i = 0; i < len; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		b[i] = (unsigned char)x;
	}
}

static uint32_t fnv1a(const unsigned char *b, uint32_t len)
{
	uint32_t h = 2166136261u;

	for (uint32_t i = 0; i < len; i++)
		h = (h ^ b[i]) * 16777619u;
	return h;
}

/* Writes message (p, seq) at @m; returns its length. */
static uint32_t build(void *m, uint32_t p, uint32_t seq)
{
	struct msg *msg = m;

	msg->producer = p;
	msg->seq = seq;
	msg->body_len = body_len(p, seq);
	fill_body(msg->body, msg->body_len, p, seq);
	msg->csum = fnv1a(msg->body, msg->body_len);
	return (uint32_t)sizeof(*msg) + msg->body_len;
}

static void backoff(unsigned int *spins)
{
	if (++*spins % 64 == 0)
		sched_yield();
	else
		__builtin_ia32_pause();
}

/*
 * Set for the random kill test: one push in 64 yields the CPU in
 * the middle of a claim, as a sender preempted mid-copy would. A kill is
 * delivered when its target next enters or leaves the kernel, so without
 * this, kills land mostly in the producers' back-off syscalls.
 */
static bool yield_in_claim;

/*
 * Sends (p, 0) .. (p, n - 1). Odd ones are built in place between claim
 * and publish, which keeps the producer inside a claim longer (for the
 * kill tests). *done counts pushes that returned.
 */
static int produce(void *q, uint32_t p, uint32_t n, _Atomic uint32_t *done)
{
	_Alignas(8) unsigned char buf[MSG_MAX];

	for (uint32_t seq = 0; seq < n; seq++) {
		unsigned int spins = 0;
		int r;

		if (seq & 1) {
			struct __rpal_queue_claim c;
			uint32_t len = sizeof(struct msg) + body_len(p, seq);

			while ((r = __rpal_queue_claim(q, len, SENDER(p),
						       &c)) == -EAGAIN)
				backoff(&spins);
			if (r)
				return r;
			build(c.payload, p, seq);
			if (yield_in_claim && seq % 64 == 1)
				sched_yield();
			__rpal_queue_publish(q, &c);
		} else {
			uint32_t len = build(buf, p, seq);

			while ((r = __rpal_queue_push(q, buf, len,
						      SENDER(p))) == -EAGAIN)
				backoff(&spins);
			if (r)
				return r;
		}
		if (done)
			atomic_store_explicit(done, seq + 1,
					      memory_order_relaxed);
	}
	return 0;
}

/*
 * Checks a received message: well formed, from the sender it names, the
 * next one expected from it (so each exactly once, in order), body
 * intact. Returns its producer.
 */
static uint32_t check_msg(struct rpal_test *_t, const void *buf, int len,
			  uint32_t sender, uint32_t *expect)
{
	_Alignas(8) unsigned char want[MSG_MAX];
	const struct msg *m = buf;

	ASSERT_GE(len, (int)sizeof(*m));
	ASSERT_LT(m->producer, NPROD);
	ASSERT_EQ(sender, SENDER(m->producer));
	ASSERT_EQ(m->seq, expect[m->producer]);
	ASSERT_EQ(m->body_len, body_len(m->producer, m->seq));
	ASSERT_EQ((uint32_t)len, sizeof(*m) + m->body_len);
	ASSERT_EQ(m->csum, fnv1a(m->body, m->body_len));
	build(want, m->producer, m->seq);
	ASSERT_EQ(memcmp(want, buf, (size_t)len), 0);
	expect[m->producer]++;
	return m->producer;
}

static void no_core_dumps(void)
{
	struct rlimit no_core = { 0, 0 };

	setrlimit(RLIMIT_CORE, &no_core);
}

/* ---- contention: processes ------------------------------------------------
 */

TEST_T(processes_contend, 120)
{
	uint32_t n = on_valgrind() ? 10000 : 200000;
	struct __rpal_queue *q = new_queue(_t, 64, MSG_MAX);
	_Alignas(8) unsigned char buf[MSG_MAX];
	uint32_t expect[NPROD] = { 0 };
	uint64_t got = 0, total = (uint64_t)n * NPROD, busy = 0;
	double start = now(), deadline = start + 100;
	pid_t pid[NPROD];

	for (uint32_t p = 0; p < NPROD; p++) {
		pid[p] = fork();
		ASSERT_OK(pid[p]);
		if (pid[p] == 0)
			_exit(produce(q, p, n, NULL) ? 1 : 0);
	}
	while (got < total) {
		uint32_t sender;
		int r = __rpal_queue_pop(q, buf, sizeof(buf), &sender);

		if (r >= 0) {
			check_msg(_t, buf, r, sender, expect);
			got++;
			continue;
		}
		/* A live producer mid-push: wait for it. */
		ASSERT_TRUE(r == -EAGAIN || r == -EINPROGRESS);
		if (++busy % 256 == 0) {
			sched_yield();
			ASSERT_LT(now(), deadline);
		}
	}
	for (uint32_t p = 0; p < NPROD; p++) {
		int status;

		ASSERT_EQ(waitpid(pid[p], &status, 0), pid[p]);
		ASSERT_TRUE(WIFEXITED(status));
		ASSERT_EQ(WEXITSTATUS(status), 0);
		ASSERT_EQ(expect[p], n);
	}
	ASSERT_EQ(__rpal_queue_pop(q, buf, sizeof(buf), NULL), -EAGAIN);
	TH_LOG("%ju messages from %d processes in %.2f s", (uintmax_t)total,
	       NPROD, now() - start);
}

/* ---- contention: threads ----------------------------------------------- */

struct thread_arg {
	void *q;
	uint32_t p, n;
	int ret;
};

static void *producer_thread(void *arg)
{
	struct thread_arg *a = arg;

	a->ret = produce(a->q, a->p, a->n, NULL);
	return NULL;
}

TEST_T(threads_contend, 120)
{
	uint32_t n = on_valgrind() ? 10000 : 200000;
	size_t bytes = __rpal_queue_bytes(32, MSG_MAX);
	_Alignas(8) unsigned char buf[MSG_MAX];
	uint32_t expect[NPROD] = { 0 };
	uint64_t got = 0, total = (uint64_t)n * NPROD, busy = 0;
	double start = now(), deadline = start + 100;
	struct thread_arg args[NPROD];
	pthread_t th[NPROD];
	void *q = aligned_alloc(RPAL_QUEUE_ALIGN, bytes);

	ASSERT_TRUE(q != NULL);
	ASSERT_EQ(__rpal_queue_init(q, bytes, 32, MSG_MAX), 0);
	for (uint32_t p = 0; p < NPROD; p++) {
		args[p] = (struct thread_arg){ .q = q, .p = p, .n = n };
		ASSERT_EQ(
			pthread_create(&th[p], NULL, producer_thread, &args[p]),
			0);
	}
	while (got < total) {
		uint32_t sender;
		int r = __rpal_queue_pop(q, buf, sizeof(buf), &sender);

		if (r >= 0) {
			check_msg(_t, buf, r, sender, expect);
			got++;
			continue;
		}
		ASSERT_TRUE(r == -EAGAIN || r == -EINPROGRESS);
		if (++busy % 256 == 0) {
			sched_yield();
			ASSERT_LT(now(), deadline);
		}
	}
	for (uint32_t p = 0; p < NPROD; p++) {
		ASSERT_EQ(pthread_join(th[p], NULL), 0);
		ASSERT_EQ(args[p].ret, 0);
		ASSERT_EQ(expect[p], n);
	}
	ASSERT_EQ(__rpal_queue_pop(q, buf, sizeof(buf), NULL), -EAGAIN);
	free(q);
	TH_LOG("%ju messages from %d threads in %.2f s", (uintmax_t)total,
	       NPROD, now() - start);
}

/* ---- a producer killed between claim and publish ------------------------- */

/*
 * A real producer process: sends @before whole messages, then claims a
 * slot, writes half of it, reports on @fd and waits to be killed.
 */
static _Noreturn void claim_and_hang(void *q, uint32_t p, uint32_t before,
				     int fd)
{
	struct __rpal_queue_claim c;
	uint32_t len = sizeof(struct msg) + body_len(p, before);

	no_core_dumps();
	if (produce(q, p, before, NULL))
		_exit(1);
	if (__rpal_queue_claim(q, len, SENDER(p), &c))
		_exit(2);
	memset(c.payload, 0xee, len / 2);
	if (write(fd, "c", 1) != 1)
		_exit(3);
	for (;;)
		pause();
}

static pid_t spawn_victim(struct rpal_test *_t, void *q, uint32_t p,
			  uint32_t before)
{
	int fds[2], status;
	char c;
	pid_t pid;

	ASSERT_OK(pipe(fds));
	pid = fork();
	ASSERT_OK(pid);
	if (pid == 0) {
		close(fds[0]);
		claim_and_hang(q, p, before, fds[1]);
	}
	close(fds[1]);
	ASSERT_EQ(read(fds[0], &c, 1), 1);
	close(fds[0]);
	/* It holds its claim now: the kill lands between claim and publish. */
	ASSERT_OK(kill(pid, SIGKILL));
	ASSERT_EQ(waitpid(pid, &status, 0), pid);
	ASSERT_TRUE(WIFSIGNALED(status));
	ASSERT_EQ(WTERMSIG(status), SIGKILL);
	return pid;
}

TEST(killed_mid_push_is_skipped)
{
	struct __rpal_queue *q = new_queue(_t, 8, MSG_MAX);
	_Alignas(8) unsigned char buf[MSG_MAX];
	uint32_t expect[NPROD] = { 0 }, sender;

	/* Producer 1 dies holding the 4th slot; producer 2 sends after it. */
	spawn_victim(_t, q, 1, 3);
	ASSERT_EQ(produce(q, 2, 3, NULL), 0);
	for (int i = 0; i < 3; i++) {
		int r = __rpal_queue_pop(q, buf, sizeof(buf), &sender);

		ASSERT_EQ(check_msg(_t, buf, r, sender, expect), 1);
	}
	ASSERT_FALSE(__rpal_queue_empty(q));
	ASSERT_EQ(__rpal_queue_pop(q, buf, sizeof(buf), &sender), -EINPROGRESS);
	ASSERT_EQ(sender, SENDER(1));
	/* What the runtime does once it learns SENDER(1) is dead (reaped). */
	ASSERT_EQ(__rpal_queue_skip(q), 0);
	for (int i = 0; i < 3; i++) {
		int r = __rpal_queue_pop(q, buf, sizeof(buf), &sender);

		ASSERT_EQ(check_msg(_t, buf, r, sender, expect), 2);
	}
	ASSERT_EQ(__rpal_queue_pop(q, buf, sizeof(buf), &sender), -EAGAIN);

	/* Again with nobody pushing after the dead claim, at a lap's end. */
	spawn_victim(_t, q, 3, 0);
	ASSERT_EQ(__rpal_queue_pop(q, buf, sizeof(buf), &sender), -EINPROGRESS);
	ASSERT_EQ(sender, SENDER(3));
	ASSERT_EQ(__rpal_queue_skip(q), 0);
	ASSERT_TRUE(__rpal_queue_empty(q));
	/* The queue is whole: three more laps, full each time. */
	for (uint32_t lap = 0; lap < 3; lap++) {
		/* Producer 0 numbers from 0 again each lap. */
		ASSERT_EQ(produce(q, 0, 8, NULL), 0);
		expect[0] = 0;
		ASSERT_EQ(push_u32(q, 0, 1), -EAGAIN);
		for (int i = 0; i < 8; i++) {
			int r = __rpal_queue_pop(q, buf, sizeof(buf), &sender);

			ASSERT_EQ(check_msg(_t, buf, r, sender, expect), 0);
		}
		ASSERT_EQ(__rpal_queue_pop(q, buf, sizeof(buf), &sender),
			  -EAGAIN);
	}
}

/* ---- producers killed at random ----------------------------------------- */

struct kill_round {
	_Atomic uint32_t done[NPROD]; /* pushes that returned, per producer */
};

/* xorshift64*: the test's dice, seeded from the clock and logged. */
static uint64_t rnd(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 2685821657736338717ull;
}

/*
 * One round: NPROD producers, some SIGKILLed at random moments while the
 * consumer runs. The consumer treats a claim as dead only once its
 * producer is reaped, as the runtime would on the module's word. Returns
 * the number of dead claims skipped.
 */
static int kill_round(struct rpal_test *_t, uint64_t *seed, uint32_t n,
		      struct kill_round *kr, int *deaths)
{
	struct __rpal_queue *q = new_queue(_t, 32, MSG_MAX);
	_Alignas(8) unsigned char buf[MSG_MAX];
	uint32_t expect[NPROD] = { 0 };
	double start = now(), deadline = start + 20, kill_at[NPROD];
	bool reaped[NPROD] = { false }, killed[NPROD] = { false };
	int status[NPROD], left = NPROD, skips = 0;
	uint64_t busy = 0;
	pid_t pid[NPROD];

	memset(kr, 0, sizeof(*kr));
	for (uint32_t p = 0; p < NPROD; p++) {
		/* Half of them die, within the first 30 ms. */
		kill_at[p] = rnd(seed) % 2
				     ? start + (double)(rnd(seed) % 30000) / 1e6
				     : 0;
		pid[p] = fork();
		ASSERT_OK(pid[p]);
		if (pid[p] == 0) {
			no_core_dumps();
			_exit(produce(q, p, n, &kr->done[p]) ? 1 : 0);
		}
	}
	for (;;) {
		uint32_t sender;
		int r = __rpal_queue_pop(q, buf, sizeof(buf), &sender);

		if (r >= 0) {
			check_msg(_t, buf, r, sender, expect);
			continue;
		}
		if (r == -EINPROGRESS) {
			uint32_t p = sender - SENDER(0);

			ASSERT_LT(p, NPROD);
			if (reaped[p]) {
				/* Only a killed producer leaves a claim. */
				ASSERT_TRUE(WIFSIGNALED(status[p]));
				ASSERT_EQ(__rpal_queue_skip(q), 0);
				skips++;
				continue;
			}
		} else {
			ASSERT_EQ(r, -EAGAIN);
			/* Everyone gone and nothing left: the round is over. */
			if (!left)
				break;
		}
		for (uint32_t p = 0; p < NPROD; p++) {
			/* A reaped pid may already belong to someone else. */
			if (kill_at[p] && !killed[p] && !reaped[p] &&
			    now() >= kill_at[p]) {
				ASSERT_OK(kill(pid[p], SIGKILL));
				killed[p] = true;
			}
			if (!reaped[p] &&
			    waitpid(pid[p], &status[p], WNOHANG) == pid[p]) {
				reaped[p] = true;
				left--;
			}
		}
		if (++busy % 64 == 0)
			sched_yield();
		ASSERT_LT(now(), deadline);
	}
	for (uint32_t p = 0; p < NPROD; p++) {
		uint32_t done = atomic_load(&kr->done[p]);

		if (WIFEXITED(status[p])) {
			/* Finished (maybe before its kill came): everything. */
			ASSERT_EQ(WEXITSTATUS(status[p]), 0);
			ASSERT_EQ(expect[p], n);
		} else {
			ASSERT_EQ(WTERMSIG(status[p]), SIGKILL);
			++*deaths;
			/* All it sent, and one more if it died before counting.
			 */
			ASSERT_GE(expect[p], done);
			ASSERT_LE(expect[p], done + 1);
		}
	}
	munmap(q, __rpal_queue_bytes(32, MSG_MAX));
	return skips;
}

TEST_T(random_kills_never_hang, 120)
{
	int rounds = on_valgrind() ? 3 : 20, skips = 0, deaths = 0;
	uint32_t n = on_valgrind() ? 300 : 10000;
	struct kill_round *kr = shared_map(sizeof(*kr));
	uint64_t seed = (uint64_t)time(NULL) * 0x9e3779b97f4a7c15ull | 1;

	ASSERT_TRUE(kr != NULL);
	TH_LOG("seed %#jx", (uintmax_t)seed);
	yield_in_claim = true;
	for (int i = 0; i < rounds; i++)
		skips += kill_round(_t, &seed, n, kr, &deaths);
	/* How often a kill landed inside a claim: luck, so only logged. */
	TH_LOG("%d rounds, %d producers killed, %d dead claims skipped", rounds,
	       deaths, skips);
}
