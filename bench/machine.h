// SPDX-License-Identifier: MIT
/*
 * What a result table must say about where it was measured: CPU, cores,
 * kernel, native or virtual machine, date and the TSC frequency.
 */
#ifndef RPAL_BENCH_MACHINE_H
#define RPAL_BENCH_MACHINE_H

#include <stdbool.h>

struct machine {
	char cpu[128];
	int cores_online;
	int cores_usable;	 /* in this process's affinity mask */
	char kernel[3 * 65 + 8]; /* uname: sysname release machine */
	bool vm;
	char hypervisor[16]; /* CPUID vendor, if any */
	char env[96];	     /* "native" or "VM (...)" for the tables */
	char date[40];	     /* UTC, ISO 8601 */
	double tsc_hz;
	bool tsc_invariant; /* constant_tsc and nonstop_tsc */
	bool tsc_known_freq;
};

void machine_probe(struct machine *m);

#endif
