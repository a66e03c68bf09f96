// SPDX-License-Identifier: MIT
/*
 * Error and progress messages. Errors name the process that hit them,
 * because with a client and a chain of services a bare "read: EPIPE"
 * does not say which end broke first.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "bench.h"

const char *bench_role = "coordinator";
bool bench_quiet;
struct err_sink *bench_sink;

static int report(int err, const char *fmt, va_list ap)
{
	char msg[256];
	int len;

	len = vsnprintf(msg, sizeof(msg), fmt, ap);
	if (err && len >= 0 && (size_t)len < sizeof(msg))
		snprintf(msg + len, sizeof(msg) - (size_t)len, ": %s",
			 strerror(err));
	fprintf(stderr, "rpal-bench: %s: %s\n", bench_role, msg);
	if (bench_sink &&
	    !__atomic_exchange_n(&bench_sink->taken, 1, __ATOMIC_ACQ_REL)) {
		char full[sizeof(msg) + 64];
		size_t n;

		n = (size_t)snprintf(full, sizeof(full), "%s: %s", bench_role,
				     msg);
		/* a row's reason may be cut; stderr has it whole */
		if (n >= sizeof(bench_sink->msg))
			n = sizeof(bench_sink->msg) - 1;
		memcpy(bench_sink->msg, full, n);
		bench_sink->msg[n] = 0;
	}
	return -1;
}

int bench_fail(const char *fmt, ...)
{
	int err = errno;
	va_list ap;

	va_start(ap, fmt);
	report(err, fmt, ap);
	va_end(ap);
	return -1;
}

int bench_failx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	report(0, fmt, ap);
	va_end(ap);
	return -1;
}

void bench_progress(const char *fmt, ...)
{
	va_list ap;

	if (bench_quiet)
		return;
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
}
