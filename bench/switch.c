// SPDX-License-Identifier: MIT
/*
 * rpal-bench-switch: the floor an RPAL call can reach on this CPU. Runs
 * the runtime's own switch code (call.S: __rpal_call_enter and
 * __rpal_call_leave, with the claim of the receiver's state word by CAS
 * as rpal_send() does it) between two contexts of one process, natively,
 * in each variant this CPU allows: fsbase by wrfsbase or by arch_prctl,
 * with and without WRPKRU. Beside it, a bare fiber switch (no fsbase, no
 * PKRU) and a getppid() syscall for scale. Prints a Markdown table.
 *
 * One process, no module: what is left out is the queue copy and the
 * module's work on a wake-up, which rpal-bench's RPAL row and rpal-demo
 * measure in the VM.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "../runtime/rt.h"

#define STACK (64 << 10)

static struct __rpal_tcb tcb __attribute__((aligned(64)));
static volatile uint8_t selector;
static uint32_t leave_how;
static struct __rpal_fiber_ctx main_ctx, bounce_ctx;

static uint64_t fsbase_now(void)
{
	uint64_t fs = 0;

	syscall(SYS_arch_prctl, 0x1003 /* ARCH_GET_FS */, &fs);
	return fs;
}

static bool cpu_has(const char *flag)
{
	char line[4096], want[64];
	bool yes = false;
	FILE *f = fopen("/proc/cpuinfo", "r");

	snprintf(want, sizeof(want), " %s", flag);
	while (f && !yes && fgets(line, sizeof(line), f))
		if (!strncmp(line, "flags", 5)) {
			char *p = strstr(line, want);

			yes = p && (p[strlen(want)] == ' ' ||
				    p[strlen(want)] == '\n');
		}
	if (f)
		fclose(f);
	return yes;
}

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* The receiver's code: every call ends at once. */
static void callee(void *arg)
{
	(void)arg;
	for (;;)
		__rpal_call_leave(&tcb, leave_how);
}

static void bounce(void *arg)
{
	(void)arg;
	for (;;)
		__rpal_fiber_switch(&bounce_ctx, &main_ctx, NULL);
}

struct result {
	double cycles, ns; /* per round trip, best of the runs */
};

enum kind { FIBER, CALL, SYSCALL };

static int measure(enum kind k, uint32_t how, uint64_t n, int runs,
		   struct result *r)
{
	uint64_t fs = fsbase_now();
	uint32_t pkru = (how & RPAL_CALL_PKU) ? __rpal_rdpkru() : 0;
	char *stack = mmap(NULL, STACK, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	int ret;

	if (stack == MAP_FAILED)
		return -errno;
	memset(&tcb, 0, sizeof(tcb));
	leave_how = how;
	if (k == CALL) {
		ret = __rpal_fiber_make(&tcb.ctx, stack, STACK, callee);
		tcb.fsbase = fs;
		tcb.pkru = pkru;
		tcb.caller_fsbase = fs;
		tcb.caller_pkru = pkru;
		tcb.caller_selector = (uintptr_t)&selector;
		atomic_store(&tcb.state, RPAL_TCB_WAITING);
	} else {
		ret = __rpal_fiber_make(&bounce_ctx, stack, STACK, bounce);
	}
	if (ret)
		return ret;
	r->cycles = r->ns = 1e30;
	for (int run = 0; run < runs; run++) {
		double t0 = now_ns();
		uint64_t c0 = __rpal_tsc(), c1;

		for (uint64_t i = 0; i < n; i++) {
			uint64_t w = RPAL_TCB_WAITING;

			switch (k) {
			case CALL:
				/* rpal_send()'s claim, then the call. */
				if (!atomic_compare_exchange_strong(
					    &tcb.state, &w,
					    __rpal_state_call(1, 1)))
					return -EPROTO;
				__rpal_call_enter(&tcb, fs, pkru, &selector,
						  how);
				break;
			case FIBER:
				__rpal_fiber_switch(&main_ctx, &bounce_ctx,
						    NULL);
				break;
			case SYSCALL:
				syscall(SYS_getppid);
				break;
			}
		}
		c1 = __rpal_tsc();
		if ((double)(c1 - c0) / (double)n < r->cycles)
			r->cycles = (double)(c1 - c0) / (double)n;
		if ((now_ns() - t0) / (double)n < r->ns)
			r->ns = (now_ns() - t0) / (double)n;
	}
	munmap(stack, STACK);
	return 0;
}

static void usage(FILE *f)
{
	fputs("NAME\n"
	      "    rpal-bench-switch - the user-mode RPAL call path, "
	      "natively\n"
	      "\n"
	      "SYNOPSIS\n"
	      "    rpal-bench-switch [--count N] [--runs R]\n"
	      "\n"
	      "DESCRIPTION\n"
	      "    Times the runtime's call switch (claim by CAS, enter, "
	      "leave)\n"
	      "    between two contexts of one process in every variant this\n"
	      "    CPU allows (fsbase by wrfsbase or arch_prctl, with or\n"
	      "    without WRPKRU), a bare fiber switch and a getppid()\n"
	      "    syscall; prints a Markdown table of the best of R runs of\n"
	      "    N round trips. Needs no module.\n"
	      "\n"
	      "OPTIONS\n"
	      "    -n, --count N  round trips per run (default 1000000)\n"
	      "    -r, --runs R   runs, the best is kept (default 5)\n"
	      "    -h, --help     this text\n",
	      f);
}

static void row(const char *what, const char *note, const struct result *r,
		const struct result *base)
{
	printf("| %s | %.0f | %.1f | %.2fx | %s |\n", what, r->cycles, r->ns,
	       base ? r->ns / base->ns : 1.0, note);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "count", required_argument, NULL, 'n' },
		{ "runs", required_argument, NULL, 'r' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	bool fsgsbase = getauxval(AT_HWCAP2) & 2, pku = cpu_has("ospke");
	unsigned long long n = 1000000;
	struct result fiber, r;
	int runs = 5, c, ret;
	char *end;

	while ((c = getopt_long(argc, argv, "n:r:h", opts, NULL)) != -1) {
		switch (c) {
		case 'n':
			n = strtoull(optarg, &end, 10);
			if (*end || !n) {
				fprintf(stderr, "rpal-bench-switch: --count: a "
						"positive number\n");
				return 2;
			}
			break;
		case 'r':
			runs = atoi(optarg);
			if (runs < 1) {
				fprintf(stderr, "rpal-bench-switch: --runs: a "
						"positive number\n");
				return 2;
			}
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	printf("| round trip | TSC cycles | ns | vs fiber | note |\n");
	printf("| --- | ---: | ---: | ---: | --- |\n");
	ret = measure(FIBER, 0, n, runs, &fiber);
	if (ret)
		goto fail;
	row("fiber switch", "callee-saved registers, MXCSR, x87 CW: the floor",
	    &fiber, NULL);
	if (fsgsbase) {
		ret = measure(CALL, RPAL_CALL_WRFSBASE, n, runs, &r);
		if (ret)
			goto fail;
		row("RPAL call, wrfsbase", "claim + enter + leave", &r, &fiber);
	} else {
		printf("| RPAL call, wrfsbase | - | - | - | not here: the "
		       "kernel does not enable FSGSBASE on this CPU |\n");
	}
	if (fsgsbase && pku) {
		ret = measure(CALL, RPAL_CALL_WRFSBASE | RPAL_CALL_PKU, n, runs,
			      &r);
		if (ret)
			goto fail;
		row("RPAL call, wrfsbase + WRPKRU",
		    "what rpal_send() runs here, with protection keys", &r,
		    &fiber);
	} else if (!pku) {
		printf("| RPAL call + WRPKRU | - | - | - | not here: no "
		       "protection keys on this CPU |\n");
	}
	ret = measure(CALL, 0, n / 10 ? n / 10 : 1, runs, &r);
	if (ret)
		goto fail;
	row("RPAL call, arch_prctl",
	    fsgsbase ? "the fallback without FSGSBASE (two syscalls)"
		     : "what rpal_send() runs here (two syscalls for fsbase)",
	    &r, &fiber);
	if (pku) {
		ret = measure(CALL, RPAL_CALL_PKU, n / 10 ? n / 10 : 1, runs,
			      &r);
		if (ret)
			goto fail;
		row("RPAL call, arch_prctl + WRPKRU",
		    fsgsbase ? "fallback with protection keys"
			     : "what rpal_send() runs here",
		    &r, &fiber);
	}
	ret = measure(SYSCALL, 0, n / 10 ? n / 10 : 1, runs, &r);
	if (ret)
		goto fail;
	row("getppid() syscall", "for scale: one kernel entry and exit", &r,
	    &fiber);
	return 0;
fail:
	fprintf(stderr, "rpal-bench-switch: %s\n", strerror(-ret));
	return 1;
}
