// SPDX-License-Identifier: MIT
/*
 * Time on the call path: the TSC's frequency (CPUID or calibration, found
 * once), the clamp on reported call time, and the batching of call times
 * into reports.
 */
#include <cpuid.h>
#include <errno.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>

#include "tsc.h"

__extension__ typedef unsigned __int128 u128;

#define NSEC_PER_SEC 1000000000ull

/* Clock reads per end of a calibration interval; the tightest one counts. */
#define CALIBRATE_TRIES 16
#define CALIBRATE_MS 50

struct stamp {
	uint64_t tsc;
	uint64_t ns;
};

/*
 * One (TSC, clock) pair: the clock read bracketed by two TSC reads, the
 * tightest bracket of several, its midpoint taken as the clock's instant.
 * An interrupt or preemption inside a bracket only makes it lose.
 */
static int take_stamp(struct stamp *s)
{
	uint64_t best = UINT64_MAX;

	for (int i = 0; i < CALIBRATE_TRIES; i++) {
		struct timespec ts;
		uint64_t t0 = __rpal_tsc(), t1;

		if (clock_gettime(CLOCK_MONOTONIC_RAW, &ts))
			return -errno;
		t1 = __rpal_tsc();
		if (t1 >= t0 && t1 - t0 < best) {
			best = t1 - t0;
			s->tsc = t0 + (t1 - t0) / 2;
			s->ns = (uint64_t)ts.tv_sec * NSEC_PER_SEC +
				(uint64_t)ts.tv_nsec;
		}
	}
	return best == UINT64_MAX ? -EAGAIN : 0;
}

uint64_t __rpal_tsc_calibrate(unsigned int ms)
{
	struct timespec nap = { (time_t)(ms / 1000),
				(long)(ms % 1000) * 1000000 };
	struct stamp a, b;

	if (!ms)
		nap.tv_nsec = 1000000;
	if (take_stamp(&a))
		return 0;
	/* Sleeping is fine: both ends are stamped, the gap is measured. */
	while (nanosleep(&nap, &nap) && errno == EINTR)
		;
	if (take_stamp(&b) || b.ns <= a.ns || b.tsc <= a.tsc)
		return 0;
	return (uint64_t)((u128)(b.tsc - a.tsc) * NSEC_PER_SEC / (b.ns - a.ns));
}

/*
 * CPUID 0x15: TSC = crystal * EBX / EAX, exact when the crystal is given
 * (ECX). Not trusted under a hypervisor, which may scale the guest's TSC
 * yet pass the host's leaf through.
 */
static uint64_t cpuid_hz(void)
{
	unsigned int eax, ebx, ecx, edx;

	if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx) || (ecx & (1u << 31)))
		return 0;
	if (__get_cpuid_max(0, NULL) < 0x15)
		return 0;
	__cpuid(0x15, eax, ebx, ecx, edx);
	if (!eax || !ebx || !ecx)
		return 0;
	return (uint64_t)ecx * ebx / eax;
}

uint64_t __rpal_tsc_hz(void)
{
	static _Atomic uint64_t cached;
	uint64_t hz = atomic_load_explicit(&cached, memory_order_relaxed);
	uint64_t none = 0;

	if (hz)
		return hz;
	hz = cpuid_hz();
	if (!hz)
		hz = __rpal_tsc_calibrate(CALIBRATE_MS);
	if (!hz)
		return 0; /* not cached: a later call tries again */
	/* First value stored wins, so every caller sees the same one. */
	if (!atomic_compare_exchange_strong_explicit(&cached, &none, hz,
						     memory_order_relaxed,
						     memory_order_relaxed))
		hz = none;
	return hz;
}

uint64_t __rpal_clamp_ns(uint64_t claimed_cycles, uint64_t tsc_hz,
			 uint64_t ran_ns)
{
	u128 ns;

	if (!tsc_hz)
		return 0;
	/* < 2^64 * 2^30: the product fits; the quotient may not fit 64 bits. */
	ns = (u128)claimed_cycles * NSEC_PER_SEC / tsc_hz;
	return ns < ran_ns ? (uint64_t)ns : ran_ns;
}

static uint64_t add_sat64(uint64_t a, uint64_t b)
{
	return a + b < a ? UINT64_MAX : a + b;
}

static uint32_t inc_sat32(uint32_t a)
{
	return a == UINT32_MAX ? a : a + 1;
}

void __rpal_tacc_init(struct __rpal_tacc *a, uint64_t tsc_hz)
{
	memset(a, 0, sizeof(*a));
	if (!tsc_hz)
		return;
	a->due_cycles = (uint64_t)((u128)tsc_hz * RPAL_TACC_NS / NSEC_PER_SEC);
	if (!a->due_cycles)
		a->due_cycles = 1; /* an absurdly slow TSC: report every call */
}

void __rpal_tacc_reset(struct __rpal_tacc *a)
{
	uint64_t due = a->due_cycles;

	memset(a, 0, sizeof(*a));
	a->due_cycles = due;
}

int __rpal_tacc_add(struct __rpal_tacc *a, uint32_t callee, uint64_t cycles)
{
	struct __rpal_tacc_entry *e = NULL;

	for (uint32_t i = 0; i < a->n; i++) {
		if (a->e[i].callee == callee) {
			e = &a->e[i];
			break;
		}
	}
	if (!e) {
		if (a->n == RPAL_TACC_CALLEES)
			return -ENOSPC;
		e = &a->e[a->n++];
		e->callee = callee;
		e->calls = 0;
		e->cycles = 0;
	}
	/* Saturating: a batch its caller never reports must not wrap. */
	e->calls = inc_sat32(e->calls);
	e->cycles = add_sat64(e->cycles, cycles);
	a->calls = inc_sat32(a->calls);
	a->cycles = add_sat64(a->cycles, cycles);
	return a->calls >= RPAL_TACC_CALLS ||
	       (a->due_cycles && a->cycles >= a->due_cycles) ||
	       a->n == RPAL_TACC_CALLEES;
}
