// SPDX-License-Identifier: MIT
/*
 * Turning a run of the matrix into a CSV (every number, one row per
 * configuration) and a Markdown report (the tables a reader needs).
 */
#ifndef RPAL_BENCH_REPORT_H
#define RPAL_BENCH_REPORT_H

#include <stdio.h>

#include "bench.h"
#include "machine.h"

struct row {
	struct run_cfg cfg;
	struct run_result res;
};

/* A number measured by another tool, e.g. perf bench sched pipe. */
enum ref_place {
	REF_SAME,  /* compare with our same-core rows */
	REF_CROSS, /* with our cross-core rows */
	REF_ANY,   /* unpinned: with both */
};

struct ref {
	enum ref_place place;
	double usec;	 /* per round trip */
	char label[120]; /* what was run */
};

#define MAX_REFS 8

struct report {
	const struct machine *m;
	const struct row *rows;
	size_t n_rows;
	const struct ref *refs;
	int n_refs;
	const char *title;
	const char *cmdline;
	uint64_t count, warmup;
	double max_seconds;
};

int report_csv(FILE *f, const struct report *r);
int report_md(FILE *f, const struct report *r);

#endif
