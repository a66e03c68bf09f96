// SPDX-License-Identifier: MIT
/*
 * The fiber switch (runtime/fiber.S): values both ways, callee-saved and
 * FP control state kept per fiber, stack alignment and stack rules, abort
 * when a fiber function returns, many fibers, deep stacks, signals.
 */
#include <errno.h>
#include <fpu_control.h>
#include <signal.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <x86intrin.h>

#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#endif

#include "../../runtime/fiber.h"
#include "../harness/rpal_test.h"

/*
 * Fiber functions stop the test with ASSERT_* too: they find the running
 * test here (each test is its own process).
 */
static struct rpal_test *cur;
#define FIBER_TEST struct rpal_test *_t = cur

/* A fiber stack with a PROT_NONE guard page below it. */
struct stack {
	void *map;
	size_t map_len;
	char *base; /* lowest usable byte */
	size_t size;
	unsigned int vg_id;
};

static int stack_alloc(struct stack *s, size_t size)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);

	size = (size + page - 1) & ~(page - 1);
	s->map_len = size + page;
	s->map = mmap(NULL, s->map_len, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
	if (s->map == MAP_FAILED)
		return -1;
	if (mprotect(s->map, page, PROT_NONE)) {
		munmap(s->map, s->map_len);
		return -1;
	}
	s->base = (char *)s->map + page;
	s->size = size;
#ifdef VALGRIND_STACK_REGISTER
	/* Lets memcheck tell a stack switch from a huge stack frame. */
	s->vg_id = VALGRIND_STACK_REGISTER(s->base, s->base + size);
#endif
	return 0;
}

static void stack_free(struct stack *s)
{
#ifdef VALGRIND_STACK_DEREGISTER
	VALGRIND_STACK_DEREGISTER(s->vg_id);
#endif
	munmap(s->map, s->map_len);
}

static int in_stack(const struct stack *s, uintptr_t p)
{
	return p >= (uintptr_t)s->base && p < (uintptr_t)s->base + s->size;
}

static int on_valgrind(void)
{
#ifdef RUNNING_ON_VALGRIND
	return RUNNING_ON_VALGRIND;
#else
	return 0;
#endif
}

/* Hides a value from the optimiser (e.g. an address it knows aligned). */
static uintptr_t opaque(uintptr_t v)
{
	volatile uintptr_t o = v;

	return o;
}

/* ---- ping-pong ---------------------------------------------------- */

struct pair {
	struct __rpal_fiber_ctx main, fib;
	struct stack stack;
};

static struct pair pair;

/* Answers every v with 3v + 1, forever. */
static void pong_fn(void *arg)
{
	uintptr_t v = (uintptr_t)arg;

	for (;;)
		v = (uintptr_t)__rpal_fiber_switch(&pair.fib, &pair.main,
						   (void *)(3 * v + 1));
}

static void pair_start(struct rpal_test *_t, __rpal_fiber_fn fn)
{
	ASSERT_EQ(stack_alloc(&pair.stack, 64 << 10), 0);
	ASSERT_EQ(__rpal_fiber_make(&pair.fib, pair.stack.base, pair.stack.size,
				    fn),
		  0);
}

TEST(ping_pong)
{
	pair_start(_t, pong_fn);
	for (uintptr_t i = 0; i < 100000; i++) {
		uintptr_t r = (uintptr_t)__rpal_fiber_switch(
			&pair.main, &pair.fib, (void *)i);

		ASSERT_EQ(r, 3 * i + 1);
	}
	/* The parked fiber's saved stack pointer is on its own stack. */
	ASSERT_TRUE(in_stack(&pair.stack, pair.fib.rsp));
	stack_free(&pair.stack);
}

TEST(switch_to_self_returns_arg)
{
	struct __rpal_fiber_ctx self;

	for (uintptr_t i = 1; i < 1000; i++)
		ASSERT_EQ(
			(uintptr_t)__rpal_fiber_switch(&self, &self, (void *)i),
			i);
}

static void never_fn(void *arg)
{
	(void)arg;
}

TEST(make_rejects_bad_arguments)
{
	struct __rpal_fiber_ctx ctx;
	static char stack[4096];

	ASSERT_EQ(__rpal_fiber_make(NULL, stack, sizeof(stack), never_fn),
		  -EINVAL);
	ASSERT_EQ(__rpal_fiber_make(&ctx, NULL, sizeof(stack), never_fn),
		  -EINVAL);
	ASSERT_EQ(__rpal_fiber_make(&ctx, stack, sizeof(stack), NULL), -EINVAL);
	ASSERT_EQ(__rpal_fiber_make(&ctx, stack, RPAL_FIBER_STACK_MIN - 1,
				    never_fn),
		  -EINVAL);
	ASSERT_EQ(__rpal_fiber_make(&ctx, (void *)(UINTPTR_MAX - 4095), 8192,
				    never_fn),
		  -EINVAL);
	ASSERT_EQ(
		__rpal_fiber_make(&ctx, stack, RPAL_FIBER_STACK_MIN, never_fn),
		0);
}

/* ---- callee-saved registers -------------------------------------- */

static volatile long seed = 0x9e3779b97f4a7c15;

/*
 * Keeps more values live across each switch than there are callee-saved
 * registers (at -O2 they fill rbx, rbp, r12-r15 and spill the rest), so
 * a register the switch forgot, or a stack it disturbed, changes the
 * result. With from == to the switch goes nowhere: the reference.
 */
__attribute__((noinline)) static long live_across(struct __rpal_fiber_ctx *from,
						  struct __rpal_fiber_ctx *to,
						  long k, int rounds)
{
	long a = seed * k + 1, b = a * 3 + k, c = b ^ (a << 7);
	long d = c + b * 5, e = d - a * 11, f = e ^ (d >> 3);
	long g = f + c * 13, h = g ^ b, i = h * 17 + e;
	double x = (double)k * 0.5;

	for (int n = 0; n < rounds; n++) {
		__rpal_fiber_switch(from, to, NULL);
		a += n ^ i;
		b ^= a * 7;
		c += b >> 2;
		d ^= c * 11;
		e += d >> 5;
		f ^= e * 13;
		g += f >> 3;
		h ^= g * 19;
		i += h >> 7;
		x = x * 1.0001 + (double)(a & 0xff);
	}
	return a ^ b ^ c ^ d ^ e ^ f ^ g ^ h ^ i ^ (long)x;
}

#define LIVE_ROUNDS 1000
static long fiber_result;

static void live_fn(void *arg)
{
	(void)arg;
	fiber_result = live_across(&pair.fib, &pair.main, 22, LIVE_ROUNDS);
	for (;;)
		__rpal_fiber_switch(&pair.fib, &pair.main, NULL);
}

TEST(callee_saved_preserved)
{
	struct __rpal_fiber_ctx self;
	long want_main = live_across(&self, &self, 11, LIVE_ROUNDS);
	long want_fib = live_across(&self, &self, 22, LIVE_ROUNDS);
	long got;

	ASSERT_NE(want_main, want_fib);
	pair_start(_t, live_fn);
	/* Main and fiber each switch LIVE_ROUNDS times, interleaved. */
	got = live_across(&pair.main, &pair.fib, 11, LIVE_ROUNDS);
	ASSERT_EQ(got, want_main);
	/* The fiber's last switch is still pending: let it finish. */
	__rpal_fiber_switch(&pair.main, &pair.fib, NULL);
	ASSERT_EQ(fiber_result, want_fib);
	stack_free(&pair.stack);
}

/* ---- MXCSR and x87 control word ---------------------------------- */

#define MXCSR_RC 0x6000
#define MXCSR_RC_DOWN 0x2000
#define MXCSR_RC_UP 0x4000
#define MXCSR_RC_ZERO 0x6000
#define X87_RC 0x0c00
#define X87_RC_DOWN 0x0400
#define X87_RC_UP 0x0800

static void set_modes(unsigned int mxcsr_rc, fpu_control_t x87_rc)
{
	fpu_control_t cw;

	__builtin_ia32_ldmxcsr((__builtin_ia32_stmxcsr() & ~MXCSR_RC) |
			       mxcsr_rc);
	_FPU_GETCW(cw);
	cw = (cw & ~X87_RC) | x87_rc;
	_FPU_SETCW(cw);
}

static unsigned int mxcsr_rc(void)
{
	return __builtin_ia32_stmxcsr() & MXCSR_RC;
}

static fpu_control_t x87_rc(void)
{
	fpu_control_t cw;

	_FPU_GETCW(cw);
	return cw & X87_RC;
}

/* Divisions in the current modes: SSE (float) and x87 (long double). */
static volatile float f_one = 1.0f, f_three = 3.0f;
static volatile long double l_one = 1.0L, l_three = 3.0L;

static float sse_third(void)
{
	return f_one / f_three;
}

static long double x87_third(void)
{
	return l_one / l_three;
}

static float fib_sse_third;
static long double fib_x87_third;

static void fp_fn(void *arg)
{
	FIBER_TEST;

	(void)arg;
	/* A new fiber starts in its creator's modes. */
	ASSERT_EQ(mxcsr_rc(), MXCSR_RC_UP);
	ASSERT_EQ(x87_rc(), X87_RC_DOWN);
	set_modes(MXCSR_RC_ZERO, X87_RC_UP);
	fib_sse_third = sse_third();
	fib_x87_third = x87_third();
	for (;;) {
		__rpal_fiber_switch(&pair.fib, &pair.main, NULL);
		ASSERT_EQ(mxcsr_rc(), MXCSR_RC_ZERO);
		ASSERT_EQ(x87_rc(), X87_RC_UP);
		ASSERT_TRUE(sse_third() == fib_sse_third);
		ASSERT_TRUE(x87_third() == fib_x87_third);
	}
}

TEST(fp_control_per_fiber)
{
	float main_sse;
	long double main_x87;

	cur = _t;
	set_modes(MXCSR_RC_UP, X87_RC_DOWN);
	main_sse = sse_third();
	main_x87 = x87_third();
	pair_start(_t, fp_fn);
	for (int i = 0; i < 100; i++) {
		__rpal_fiber_switch(&pair.main, &pair.fib, NULL);
		ASSERT_EQ(mxcsr_rc(), MXCSR_RC_UP);
		ASSERT_EQ(x87_rc(), X87_RC_DOWN);
		ASSERT_TRUE(sse_third() == main_sse);
		ASSERT_TRUE(x87_third() == main_x87);
	}
	/*
	 * The modes made a difference: each side rounded its own way. Not
	 * under valgrind, whose FP arithmetic always rounds to nearest (it
	 * keeps the control bits, checked above).
	 */
	if (!on_valgrind()) {
		ASSERT_TRUE(main_sse > fib_sse_third); /* up vs toward zero */
		ASSERT_TRUE(main_x87 < fib_x87_third); /* down vs up */
	}
	set_modes(0, 0);
	stack_free(&pair.stack);
}

/* ---- stack alignment ---------------------------------------------- */

struct align_report {
	uintptr_t frame, aligned_local, vec_local;
	int printed_ok;
};

static struct align_report rep;

static void align_fn(void *arg)
{
	_Alignas(16) volatile char local[16];
	volatile __m128 v = _mm_set_ps(4.0f, 3.0f, 2.0f, 1.0f);
	long double ld = (long double)(uintptr_t)arg + 0.25L;
	char buf[64];

	local[0] = 1;
	rep.frame = opaque((uintptr_t)__builtin_frame_address(0));
	rep.aligned_local = opaque((uintptr_t)local);
	rep.vec_local = opaque((uintptr_t)&v);
	v = _mm_add_ps(v, v);
	/* printf's floating-point paths use aligned SSE stack slots. */
	snprintf(buf, sizeof(buf), "%.2f %.2Lf %.1f", 3.25, ld,
		 (double)_mm_cvtss_f32(v));
	rep.printed_ok = !strcmp(buf, "3.25 7.25 2.0");
	for (;;)
		__rpal_fiber_switch(&pair.fib, &pair.main, NULL);
}

TEST(entry_stack_aligned)
{
	ASSERT_EQ(stack_alloc(&pair.stack, 64 << 10), 0);
	/* Whatever the alignment of the stack's top, the entry realigns. */
	for (size_t off = 0; off < 16; off++) {
		/* Top at stack.base + stack.size - off. */
		size_t size = pair.stack.size - 2 * off;

		memset(&rep, 0, sizeof(rep));
		ASSERT_EQ(__rpal_fiber_make(&pair.fib, pair.stack.base + off,
					    size, align_fn),
			  0);
		__rpal_fiber_switch(&pair.main, &pair.fib, (void *)7);
		ASSERT_EQ(rep.frame % 16, 0);
		ASSERT_EQ(rep.aligned_local % 16, 0);
		ASSERT_EQ(rep.vec_local % 16, 0);
		ASSERT_TRUE(in_stack(&pair.stack, rep.frame));
		ASSERT_TRUE(in_stack(&pair.stack, rep.aligned_local));
		ASSERT_TRUE(rep.printed_ok);
	}
	stack_free(&pair.stack);
}

/* ---- stack rules --------------------------------------------------- */

static void below_fn(void *arg)
{
	FIBER_TEST;
	volatile uintptr_t keep[32];
	uintptr_t v = (uintptr_t)arg;

	for (int i = 0; i < 32; i++)
		keep[i] = v * 31 + i;
	for (;;) {
		uintptr_t next = (uintptr_t)__rpal_fiber_switch(
			&pair.fib, &pair.main, (void *)(v + 1));

		for (int i = 0; i < 32; i++)
			ASSERT_EQ(keep[i], v * 31 + i);
		v = next;
		for (int i = 0; i < 32; i++)
			keep[i] = v * 31 + i;
	}
}

TEST(nothing_live_below_saved_rsp)
{
	cur = _t;
	pair_start(_t, below_fn);
	memset(pair.stack.base, 0xa5, pair.stack.size);
	for (uintptr_t i = 1; i < 2000; i++) {
		size_t dead = pair.fib.rsp - (uintptr_t)pair.stack.base;

		/* Trash all the parked fiber's stack below its saved rsp. */
		memset(pair.stack.base, (int)i, dead);
		ASSERT_EQ((uintptr_t)__rpal_fiber_switch(&pair.main, &pair.fib,
							 (void *)i),
			  i + 1);
		ASSERT_TRUE(in_stack(&pair.stack, pair.fib.rsp));
		/* Saved rsp is the caller's after return: 16-byte aligned. */
		ASSERT_EQ(pair.fib.rsp % 16, 0);
	}
	stack_free(&pair.stack);
}

/* ---- a fiber function that returns -------------------------------- */

static void returning_fn(void *arg)
{
	(void)arg;
}

TEST(returning_fiber_aborts)
{
	int fds[2], status;
	char out[256] = "";
	pid_t pid;

	ASSERT_OK(pipe(fds));
	pid = fork();
	ASSERT_OK(pid);
	if (pid == 0) {
		struct rlimit no_core = { 0, 0 };

		setrlimit(RLIMIT_CORE, &no_core);
		dup2(fds[1], STDERR_FILENO);
		if (stack_alloc(&pair.stack, 16 << 10))
			_exit(2);
		__rpal_fiber_make(&pair.fib, pair.stack.base, pair.stack.size,
				  returning_fn);
		__rpal_fiber_switch(&pair.main, &pair.fib, NULL);
		_exit(3);
	}
	close(fds[1]);
	ASSERT_EQ(waitpid(pid, &status, 0), pid);
	ASSERT_GE(read(fds[0], out, sizeof(out) - 1), 0);
	close(fds[0]);
	ASSERT_TRUE(WIFSIGNALED(status));
	ASSERT_EQ(WTERMSIG(status), SIGABRT);
	ASSERT_TRUE(strstr(out, "rpal: fiber function 0x") != NULL);
}

/* ---- many fibers ---------------------------------------------------- */

#define RING_FIBERS 100
#define RING_ROUNDS 200

struct ring {
	struct __rpal_fiber_ctx main;
	struct __rpal_fiber_ctx ctx[RING_FIBERS];
	struct stack stack[RING_FIBERS];
	int rounds_seen[RING_FIBERS];
};

static struct ring ring;

/*
 * The token is the hop count: round * RING_FIBERS + the fiber it is for.
 * Each fiber hands token + 1 to the next fiber, the last one to main.
 */
static void ring_fn(void *arg)
{
	FIBER_TEST;
	uintptr_t h = (uintptr_t)arg;
	int id = (int)(h % RING_FIBERS), round = 0;

	for (;;) {
		struct __rpal_fiber_ctx *next =
			id == RING_FIBERS - 1 ? &ring.main : &ring.ctx[id + 1];

		ASSERT_EQ(h, (uintptr_t)round * RING_FIBERS + id);
		ring.rounds_seen[id] = ++round;
		h = (uintptr_t)__rpal_fiber_switch(&ring.ctx[id], next,
						   (void *)(h + 1));
	}
}

TEST(many_fibers_round_robin)
{
	cur = _t;
	for (int i = 0; i < RING_FIBERS; i++) {
		ASSERT_EQ(stack_alloc(&ring.stack[i], 16 << 10), 0);
		ASSERT_EQ(__rpal_fiber_make(&ring.ctx[i], ring.stack[i].base,
					    ring.stack[i].size, ring_fn),
			  0);
	}
	for (uintptr_t r = 0; r < RING_ROUNDS; r++) {
		uintptr_t h = (uintptr_t)__rpal_fiber_switch(
			&ring.main, &ring.ctx[0], (void *)(r * RING_FIBERS));

		ASSERT_EQ(h, (r + 1) * RING_FIBERS);
	}
	for (int i = 0; i < RING_FIBERS; i++) {
		ASSERT_EQ(ring.rounds_seen[i], RING_ROUNDS);
		ASSERT_TRUE(in_stack(&ring.stack[i], ring.ctx[i].rsp));
		stack_free(&ring.stack[i]);
	}
}

/* ---- deep recursion --------------------------------------------------- */

#define DEEP_STACK (1 << 20)
#define DEEP_DEPTH 3000

__attribute__((noinline)) static unsigned long recurse(unsigned int depth,
						       uintptr_t *lowest)
{
	volatile unsigned char pad[200];
	unsigned long r;

	pad[0] = (unsigned char)depth;
	pad[199] = (unsigned char)(depth >> 8);
	if ((uintptr_t)pad < *lowest)
		*lowest = (uintptr_t)pad;
	if (depth == 0)
		return 1;
	r = recurse(depth - 1, lowest);
	return r + pad[0] + pad[199];
}

static unsigned long deep_result;
static uintptr_t deep_lowest = UINTPTR_MAX;

static void deep_fn(void *arg)
{
	deep_result = recurse((unsigned int)(uintptr_t)arg, &deep_lowest);
	for (;;)
		__rpal_fiber_switch(&pair.fib, &pair.main, NULL);
}

TEST(deep_recursion_on_fiber_stack)
{
	uintptr_t main_lowest = UINTPTR_MAX, top;
	unsigned long want = recurse(DEEP_DEPTH, &main_lowest);

	ASSERT_EQ(stack_alloc(&pair.stack, DEEP_STACK), 0);
	ASSERT_EQ(__rpal_fiber_make(&pair.fib, pair.stack.base, pair.stack.size,
				    deep_fn),
		  0);
	__rpal_fiber_switch(&pair.main, &pair.fib, (void *)DEEP_DEPTH);
	ASSERT_EQ(deep_result, want);
	/* It ran on the fiber's stack, and used most of it. */
	top = (uintptr_t)pair.stack.base + pair.stack.size;
	ASSERT_TRUE(in_stack(&pair.stack, deep_lowest));
	TH_LOG("depth %d used %zu of %zu bytes", DEEP_DEPTH,
	       (size_t)(top - deep_lowest), pair.stack.size);
	ASSERT_GT(top - deep_lowest, pair.stack.size / 2);
	stack_free(&pair.stack);
}

static void overflow_fn(void *arg)
{
	deep_result = recurse((unsigned int)(uintptr_t)arg, &deep_lowest);
	__rpal_fiber_switch(&pair.fib, &pair.main, NULL);
}

TEST(overflow_hits_guard_page)
{
	int status;
	pid_t pid = fork();

	ASSERT_OK(pid);
	if (pid == 0) {
		struct rlimit no_core = { 0, 0 };

		setrlimit(RLIMIT_CORE, &no_core);
		if (stack_alloc(&pair.stack, 64 << 10))
			_exit(2);
		__rpal_fiber_make(&pair.fib, pair.stack.base, pair.stack.size,
				  overflow_fn);
		/* Far deeper than 64 KiB allows: must fault, not scribble. */
		__rpal_fiber_switch(&pair.main, &pair.fib, (void *)100000);
		_exit(3);
	}
	ASSERT_EQ(waitpid(pid, &status, 0), pid);
	ASSERT_TRUE(WIFSIGNALED(status));
	ASSERT_EQ(WTERMSIG(status), SIGSEGV);
}

/* ---- signals landing anywhere in the switch ------------------------- */

static volatile sig_atomic_t sig_hits, sig_on_fiber;

/* Runs on whichever stack was live, and dirties it below rsp. */
static void on_alarm(int sig)
{
	volatile char scratch[1024];

	(void)sig;
	for (size_t i = 0; i < sizeof(scratch); i += 64)
		scratch[i] = (char)i;
	sig_hits++;
	if (in_stack(&pair.stack, (uintptr_t)scratch))
		sig_on_fiber++;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

TEST(signals_during_switches)
{
	struct sigaction sa = { .sa_handler = on_alarm };
	struct itimerval every = { { 0, 200 }, { 0, 200 } }, off = { 0 };
	double end = now() + 20;
	uintptr_t i = 0;

	pair_start(_t, pong_fn);
	ASSERT_OK(sigaction(SIGALRM, &sa, NULL));
	ASSERT_OK(setitimer(ITIMER_REAL, &every, NULL));
	while (sig_hits < 200 || sig_on_fiber < 20) {
		for (int n = 0; n < 1000; n++, i++)
			ASSERT_EQ((uintptr_t)__rpal_fiber_switch(
					  &pair.main, &pair.fib, (void *)i),
				  3 * i + 1);
		ASSERT_LT(now(), end);
	}
	ASSERT_OK(setitimer(ITIMER_REAL, &off, NULL));
	printf("# %d signals, %d on the fiber's stack, %ju round trips\n",
	       (int)sig_hits, (int)sig_on_fiber, (uintmax_t)i);
	stack_free(&pair.stack);
}

/* ---- information only -------------------------------------------------- */

static void bounce_fn(void *arg)
{
	(void)arg;
	for (;;)
		__rpal_fiber_switch(&pair.fib, &pair.main, NULL);
}

TEST(switch_cost_info)
{
	enum { TRIPS = 100000, RUNS = 5 };
	double best = 1e30;

	pair_start(_t, bounce_fn);
	for (int run = 0; run < RUNS; run++) {
		uint64_t t0 = __rdtsc();

		for (int i = 0; i < TRIPS; i++)
			__rpal_fiber_switch(&pair.main, &pair.fib, NULL);
		double per = (double)(__rdtsc() - t0) / (2.0 * TRIPS);

		if (per < best)
			best = per;
	}
	/* Not a benchmark (bench/ makes the claims): for the log only. */
	printf("# ~%.1f TSC cycles per switch (best of %d runs of %d round "
	       "trips)\n",
	       best, RUNS, TRIPS);
	stack_free(&pair.stack);
}
