// SPDX-License-Identifier: MIT
/* Latency summaries: mean and nearest-rank percentiles. */
#ifndef RPAL_BENCH_STATS_H
#define RPAL_BENCH_STATS_H

#include <stddef.h>
#include <stdint.h>

#include "bench.h"

/* Sorts @v in place. */
void dist_of(int64_t *v, size_t n, struct dist *d);

#endif
