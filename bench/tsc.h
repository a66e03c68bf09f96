// SPDX-License-Identifier: MIT
/*
 * The time stamp counter, the unit of the seed's experiment, and its
 * frequency so that cycles can be read as nanoseconds.
 */
#ifndef RPAL_BENCH_TSC_H
#define RPAL_BENCH_TSC_H

#include <stdint.h>

#if defined(__x86_64__) || defined(__i386__)
#include <x86intrin.h>

/*
 * The lfence keeps the read from drifting ahead of the work it brackets
 * (the receive it stamps); the stamp costs ~30 cycles, noise here.
 */
static inline uint64_t tsc_now(void)
{
	_mm_lfence();
	return __rdtsc();
}

#define TSC_IS_CLOCK 0
#else
#include <time.h>

/* Elsewhere CLOCK_MONOTONIC stands in, counting nanoseconds. */
static inline uint64_t tsc_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

#define TSC_IS_CLOCK 1
#endif

/* Count TSC ticks against CLOCK_MONOTONIC_RAW for @ms milliseconds. */
double tsc_calibrate(unsigned int ms);

#endif
