// SPDX-License-Identifier: MIT
/*
 * TSC helpers (runtime/tsc.c): the clamp on reported call time, the TSC
 * frequency against the clock, stamps that never go backwards on one
 * thread, and the call-time accumulator. No performance assertions.
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <time.h>

#include "../../runtime/tsc.h"
#include "../harness/rpal_test.h"

#define NS 1000000000ull

/* ---- the clamp -------------------------------------------------------- */

TEST(clamp_converts_below_ran)
{
	/* 3 GHz: 3 cycles a nanosecond. */
	ASSERT_EQ(__rpal_clamp_ns(3000, 3000000000ull, UINT64_MAX), 1000);
	ASSERT_EQ(__rpal_clamp_ns(3000, 3000000000ull, 1000), 1000);
	ASSERT_EQ(__rpal_clamp_ns(3000, 3000000000ull, 5000), 1000);
	/* Rounded down: a fraction of a nanosecond is not charged. */
	ASSERT_EQ(__rpal_clamp_ns(2999, 3000000000ull, 5000), 999);
	ASSERT_EQ(__rpal_clamp_ns(2, 3000000000ull, 5000), 0);
	ASSERT_EQ(__rpal_clamp_ns(0, 3000000000ull, 5000), 0);
	/* One second's worth at an odd rate. */
	ASSERT_EQ(__rpal_clamp_ns(2096015000ull, 2096015000ull, 2 * NS), NS);
	/* 1 GHz is the identity. */
	for (uint64_t c = 1; c < (1ull << 62); c = c * 3 + 1)
		ASSERT_EQ(__rpal_clamp_ns(c, NS, UINT64_MAX), c);
}

TEST(clamp_caps_at_ran)
{
	ASSERT_EQ(__rpal_clamp_ns(3001, 3000000000ull, 1000), 1000);
	ASSERT_EQ(__rpal_clamp_ns(1ull << 40, 3000000000ull, 12345), 12345);
	ASSERT_EQ(__rpal_clamp_ns(3000, 3000000000ull, 0), 0);
	/* A claim at a frequency too low to be real: still capped. */
	ASSERT_EQ(__rpal_clamp_ns(1000000, 1, 777), 777);
}

TEST(clamp_huge_values_do_not_overflow)
{
	/* UINT64_MAX cycles: 2^64 * 10^9 only fits 128 bits. */
	ASSERT_EQ(__rpal_clamp_ns(UINT64_MAX, 1, UINT64_MAX), UINT64_MAX);
	ASSERT_EQ(__rpal_clamp_ns(UINT64_MAX, 3000000000ull, UINT64_MAX),
		  UINT64_MAX / 3);
	ASSERT_EQ(__rpal_clamp_ns(UINT64_MAX, 3000000000ull, 5), 5);
	ASSERT_EQ(__rpal_clamp_ns(UINT64_MAX, UINT64_MAX, UINT64_MAX), NS);
	/* A huge frequency makes everything tiny. */
	ASSERT_EQ(__rpal_clamp_ns(1000, UINT64_MAX, UINT64_MAX), 0);
	ASSERT_EQ(__rpal_clamp_ns(UINT64_MAX / NS, UINT64_MAX, UINT64_MAX), 0);
	/* Just above and below the point where the result passes 2^64. */
	ASSERT_EQ(__rpal_clamp_ns(UINT64_MAX, NS, UINT64_MAX), UINT64_MAX);
	ASSERT_EQ(__rpal_clamp_ns(UINT64_MAX, NS - 1, UINT64_MAX), UINT64_MAX);
	ASSERT_EQ(__rpal_clamp_ns(UINT64_MAX, NS + 1, UINT64_MAX),
		  (uint64_t)((unsigned __int128)UINT64_MAX * NS / (NS + 1)));
	ASSERT_EQ(__rpal_clamp_ns(UINT64_MAX - 1, NS, UINT64_MAX - 2),
		  UINT64_MAX - 2);
}

TEST(clamp_hz_zero_is_zero)
{
	ASSERT_EQ(__rpal_clamp_ns(0, 0, 0), 0);
	ASSERT_EQ(__rpal_clamp_ns(12345, 0, 1000), 0);
	ASSERT_EQ(__rpal_clamp_ns(UINT64_MAX, 0, UINT64_MAX), 0);
}

/* ---- stamps and frequency ------------------------------------------------ */

TEST(tsc_monotonic_on_one_thread)
{
	uint64_t prev = __rpal_tsc();

	for (int i = 0; i < 1000000; i++) {
		uint64_t t = __rpal_tsc();

		ASSERT_GE(t, prev);
		prev = t;
	}
	ASSERT_EQ(__rpal_tsc_delta(10, 15), 5);
	ASSERT_EQ(__rpal_tsc_delta(15, 10), 0);
	ASSERT_EQ(__rpal_tsc_delta(15, 15), 0);
}

TEST(tsc_hz_plausible_and_cached)
{
	uint64_t hz = __rpal_tsc_hz();

	TH_LOG("TSC at %ju Hz", (uintmax_t)hz);
	ASSERT_GE(hz, 100000000ull);
	ASSERT_LE(hz, 10000000000ull);
	for (int i = 0; i < 100; i++)
		ASSERT_EQ(__rpal_tsc_hz(), hz);
}

/* Another, independent measurement: ~200 ms against CLOCK_MONOTONIC. */
TEST(tsc_hz_agrees_with_clock)
{
	uint64_t hz = __rpal_tsc_hz(), again = __rpal_tsc_calibrate(20);
	struct timespec a, b, nap = { 0, 200000000 };
	uint64_t t0, t1;
	double ns, mine;

	ASSERT_GT(again, 0);
	TH_LOG("cached %ju Hz, recalibrated %ju Hz", (uintmax_t)hz,
	       (uintmax_t)again);
	ASSERT_LT(again > hz ? again - hz : hz - again, hz / 50);

	t0 = __rpal_tsc();
	clock_gettime(CLOCK_MONOTONIC, &a);
	nanosleep(&nap, NULL);
	t1 = __rpal_tsc();
	clock_gettime(CLOCK_MONOTONIC, &b);
	ns = (b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec);
	mine = (double)(t1 - t0) * 1e9 / ns;
	TH_LOG("by hand %.0f Hz", mine);
	/* Loose: a preemption between the two reads skews this one. */
	ASSERT_LT(mine > hz ? mine - hz : hz - mine, hz * 0.03);
}

static void *hz_thread(void *arg)
{
	*(uint64_t *)arg = __rpal_tsc_hz();
	return NULL;
}

/* First use from several threads at once: one value for all. */
TEST(tsc_hz_first_use_races)
{
	enum { N = 4 };
	pthread_t th[N];
	uint64_t hz[N];

	for (int i = 0; i < N; i++)
		ASSERT_EQ(pthread_create(&th[i], NULL, hz_thread, &hz[i]), 0);
	for (int i = 0; i < N; i++)
		ASSERT_EQ(pthread_join(th[i], NULL), 0);
	for (int i = 0; i < N; i++)
		ASSERT_EQ(hz[i], __rpal_tsc_hz());
}

/* ---- the accumulator ---------------------------------------------------- */

TEST(tacc_due_after_calls)
{
	struct __rpal_tacc a;

	__rpal_tacc_init(&a, 1000000000ull);
	ASSERT_EQ(a.due_cycles, 1000000);
	for (int i = 1; i < RPAL_TACC_CALLS; i++)
		ASSERT_EQ(__rpal_tacc_add(&a, 5 + i % 2, 10), 0);
	ASSERT_EQ(__rpal_tacc_add(&a, 5, 10), 1);
	ASSERT_EQ(a.calls, RPAL_TACC_CALLS);
	ASSERT_EQ(a.cycles, 10 * RPAL_TACC_CALLS);
	ASSERT_EQ(a.n, 2);
	ASSERT_EQ(a.e[0].callee, 6);
	ASSERT_EQ(a.e[0].calls, RPAL_TACC_CALLS / 2);
	ASSERT_EQ(a.e[1].callee, 5);
	ASSERT_EQ(a.e[1].calls, RPAL_TACC_CALLS / 2);
	ASSERT_EQ(a.e[0].cycles + a.e[1].cycles, a.cycles);
	__rpal_tacc_reset(&a);
	ASSERT_EQ(a.calls, 0);
	ASSERT_EQ(a.n, 0);
	ASSERT_EQ(a.due_cycles, 1000000);
	ASSERT_EQ(__rpal_tacc_add(&a, 5, 10), 0);
}

TEST(tacc_due_after_a_millisecond)
{
	struct __rpal_tacc a;

	__rpal_tacc_init(&a, 3000000000ull);
	ASSERT_EQ(a.due_cycles, 3000000);
	ASSERT_EQ(__rpal_tacc_add(&a, 1, 2999999), 0);
	ASSERT_EQ(__rpal_tacc_add(&a, 1, 1), 1);
	__rpal_tacc_reset(&a);
	ASSERT_EQ(__rpal_tacc_add(&a, 1, 3000000), 1);
	/* Unknown frequency: only the count makes a report due. */
	__rpal_tacc_init(&a, 0);
	ASSERT_EQ(__rpal_tacc_add(&a, 1, UINT64_MAX), 0);
	ASSERT_EQ(__rpal_tacc_add(&a, 1, UINT64_MAX), 0);
	ASSERT_EQ(a.cycles, UINT64_MAX); /* saturated, not wrapped */
}

TEST(tacc_table_full)
{
	struct __rpal_tacc a;

	__rpal_tacc_init(&a, 1000000000ull);
	for (uint32_t c = 0; c < RPAL_TACC_CALLEES - 1; c++)
		ASSERT_EQ(__rpal_tacc_add(&a, c, 1), 0);
	/* The last free entry: due, so the next call finds room. */
	ASSERT_EQ(__rpal_tacc_add(&a, 100, 1), 1);
	/* A caller that did not report: known callees still count... */
	ASSERT_EQ(__rpal_tacc_add(&a, 3, 1), 1);
	/* ...a new one is refused, not lost silently. */
	ASSERT_EQ(__rpal_tacc_add(&a, 200, 1), -ENOSPC);
	ASSERT_EQ(a.calls, RPAL_TACC_CALLEES + 1);
	__rpal_tacc_reset(&a);
	ASSERT_EQ(__rpal_tacc_add(&a, 200, 1), 0);
}
