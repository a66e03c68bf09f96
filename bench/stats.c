// SPDX-License-Identifier: MIT
/*
 * Summaries of a latency sample: mean and nearest-rank percentiles, so
 * p99.9 of 1,000 samples is an observed value, not an interpolation.
 */
#include <stdlib.h>

#include "bench.h"
#include "stats.h"

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

static int64_t rank(const int64_t *v, size_t n, double p)
{
	size_t k = (size_t)(p * (double)n + 0.999999);

	if (k < 1)
		k = 1;
	if (k > n)
		k = n;
	return v[k - 1];
}

void dist_of(int64_t *v, size_t n, struct dist *d)
{
	double sum = 0;
	size_t i;

	if (!n) {
		*d = (struct dist){ 0 };
		return;
	}
	qsort(v, n, sizeof(*v), cmp_i64);
	for (i = 0; i < n; i++)
		sum += (double)v[i];
	d->mean = sum / (double)n;
	d->min = v[0];
	d->p50 = rank(v, n, 0.50);
	d->p99 = rank(v, n, 0.99);
	d->p999 = rank(v, n, 0.999);
	d->max = v[n - 1];
}
