// SPDX-License-Identifier: MIT
/*
 * Calibrating the TSC. /proc/cpuinfo only sometimes names the frequency
 * (and "cpu MHz" is the core clock, not the TSC's), so count ticks across
 * a known interval instead. The interval is bracketed by pairs of reads
 * and the tightest pair is kept, so a preemption between the clock and
 * the counter cannot skew the result.
 */
#include <errno.h>
#include <time.h>

#include "tsc.h"

static double mono_raw(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_RAW, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* The TSC value and clock time of the read pair that took least time. */
static void sample(uint64_t *tsc, double *t)
{
	uint64_t best = UINT64_MAX;
	int i;

	for (i = 0; i < 16; i++) {
		uint64_t c0 = tsc_now();
		double now = mono_raw();
		uint64_t c1 = tsc_now();

		if (c1 - c0 < best) {
			best = c1 - c0;
			*tsc = c0 + (c1 - c0) / 2;
			*t = now;
		}
	}
}

double tsc_calibrate(unsigned int ms)
{
	struct timespec pause = {
		.tv_sec = ms / 1000,
		.tv_nsec = (long)(ms % 1000) * 1000000,
	};
	uint64_t c0, c1;
	double t0, t1;

	if (TSC_IS_CLOCK)
		return 1e9;
	sample(&c0, &t0);
	while (nanosleep(&pause, &pause) && errno == EINTR)
		;
	sample(&c1, &t1);
	return (double)(c1 - c0) / (t1 - t0);
}
