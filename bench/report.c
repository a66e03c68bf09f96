// SPDX-License-Identifier: MIT
/*
 * The CSV and the Markdown report. Ratios are always taken against the
 * epoll + AF_UNIX row of the same size, placement and chain length in the
 * same run: absolute numbers move with the machine (and wildly inside a
 * VM), ratios measured side by side much less.
 */
#include <inttypes.h>
#include <math.h>
#include <string.h>

#include "report.h"

/* Formatted numbers live in a small ring so one printf can use several. */
static char *slot(void)
{
	static char bufs[16][48];
	static unsigned int next;

	return bufs[next++ % 16];
}

static const char *fmt_int(double v)
{
	char digits[40], *out = slot();
	int len, i, o = 0;

	if (!isfinite(v))
		return "-";
	len = snprintf(digits, sizeof(digits), "%.0f", fabs(v));
	if (v < 0 && llround(v))
		out[o++] = '-';
	for (i = 0; i < len; i++) {
		if (i && (len - i) % 3 == 0)
			out[o++] = ',';
		out[o++] = digits[i];
	}
	out[o] = 0;
	return out;
}

/* Three significant digits: enough to compare, not more than is true. */
static const char *fmt_us(double ns)
{
	char *out = slot();
	double us = ns / 1000;

	if (!isfinite(us))
		return "-";
	if (fabs(us) >= 100)
		return fmt_int(us);
	if (fabs(us) >= 10)
		snprintf(out, 48, "%.1f", us);
	else if (fabs(us) >= 1)
		snprintf(out, 48, "%.2f", us);
	else
		snprintf(out, 48, "%.3f", us);
	return out;
}

static const char *fmt_ratio(double v)
{
	char *out = slot();

	if (!isfinite(v) || v <= 0)
		return "-";
	snprintf(out, 48, v >= 10 ? "%.1fx" : "%.2fx", v);
	return out;
}

static const char *fmt_size(size_t b)
{
	char *out = slot();

	if (b >= 1024 && b % 1024 == 0)
		snprintf(out, 48, "%zu KiB", b / 1024);
	else
		snprintf(out, 48, "%zu B", b);
	return out;
}

static double ns_of(const struct report *r, double cycles)
{
	return cycles * 1e9 / r->m->tsc_hz;
}

static double cpu_per_msg_ns(const struct row *x)
{
	if (!x->res.n)
		return NAN;
	return (x->res.cpu_client + x->res.cpu_services) * 1e9 /
	       (double)x->res.n;
}

static double rate(const struct row *x)
{
	return x->res.seconds > 0 ? (double)x->res.n / x->res.seconds : NAN;
}

/* A polling row whose waiters share a CPU yields instead of spinning. */
static const char *label_suffix(const struct row *x)
{
	bool shared = !x->cfg.cross || x->cfg.chain + 1 > 2;

	return x->cfg.mech->flags & MECH_POLLING && shared ? " (sched_yield)"
							   : "";
}

static bool noisy(const struct row *x)
{
	return x->res.status == RUN_OK && x->res.other_load >= NOISY_LOAD;
}

/* The size cell, starred when other processes shared the machine. */
static const char *size_cell(const struct row *x)
{
	char *out = slot();

	snprintf(out, 48, "%s%s", fmt_size(x->cfg.size), noisy(x) ? " *" : "");
	return out;
}

static const char *placement(const struct row *x)
{
	return x->cfg.cross ? "cross" : "same";
}

static const struct row *find(const struct report *r, const char *mech,
			      size_t size, bool cross, int chain)
{
	size_t i;

	for (i = 0; i < r->n_rows; i++) {
		const struct row *x = &r->rows[i];

		if (!strcmp(x->cfg.mech->name, mech) && x->cfg.size == size &&
		    x->cfg.cross == cross && x->cfg.chain == chain)
			return x;
	}
	return NULL;
}

static const struct row *baseline_of(const struct report *r,
				     const struct row *x)
{
	const struct row *b =
		find(r, BASELINE_MECH, x->cfg.size, x->cfg.cross, x->cfg.chain);

	return b && b->res.status == RUN_OK ? b : NULL;
}

/* How many times faster than the baseline: > 1 is better. */
static double speedup(double base, double mine)
{
	return mine > 0 ? base / mine : NAN;
}

static bool has_rows(const struct report *r, bool cross, int chain)
{
	size_t i;

	for (i = 0; i < r->n_rows; i++)
		if (r->rows[i].cfg.cross == cross &&
		    r->rows[i].cfg.chain == chain)
			return true;
	return false;
}

static const char *status_name(enum run_status s)
{
	switch (s) {
	case RUN_OK:
		return "ok";
	case RUN_FAILED:
		return "failed";
	case RUN_PENDING:
		return "pending";
	case RUN_SKIPPED:
		return "skipped";
	}
	return "?";
}

static void csv_str(FILE *f, const char *s, const char *sep)
{
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"')
			fputc('"', f);
		fputc(*s, f);
	}
	fprintf(f, "\"%s", sep);
}

static void csv_num(FILE *f, double v, const char *fmt)
{
	if (isfinite(v))
		fprintf(f, fmt, v);
	fputc(',', f);
}

int report_csv(FILE *f, const struct report *r)
{
	size_t i;

	fprintf(f, "mechanism,label,placement,cpus,size,chain,status,why,n,"
		   "seconds,"
		   "oneway_mean_cyc,oneway_p50_cyc,oneway_p99_cyc,"
		   "oneway_p999_cyc,oneway_max_cyc,"
		   "rtt_mean_cyc,rtt_p50_cyc,rtt_p99_cyc,rtt_p999_cyc,"
		   "rtt_max_cyc,"
		   "oneway_mean_ns,oneway_p50_ns,oneway_p99_ns,oneway_p999_ns,"
		   "rtt_mean_ns,rtt_p50_ns,rtt_p99_ns,rtt_p999_ns,"
		   "round_trips_per_s,cpu_ns_per_msg,client_cpu_ns_per_msg,"
		   "services_cpu_ns_per_msg,csw_per_msg,negative_oneway,"
		   "speedup_oneway_p50_vs_" BASELINE_MECH
		   ",speedup_rtt_p50_vs_" BASELINE_MECH ",cpu_vs_" BASELINE_MECH
		   ",other_load_pct,tsc_hz,cpu_model,cores,kernel,environment,"
		   "date,sends,direct_sends,proxied_syscalls\n");
	for (i = 0; i < r->n_rows; i++) {
		const struct row *x = &r->rows[i];
		const struct run_result *s = &x->res;
		const struct row *b = baseline_of(r, x);
		bool ok = s->status == RUN_OK;
		double n = ok ? (double)s->n : NAN;
		char cpus[16];

		if (x->cfg.cross)
			snprintf(cpus, sizeof(cpus), "%d+%d", x->cfg.cpu[0],
				 x->cfg.cpu[1]);
		else
			snprintf(cpus, sizeof(cpus), "%d", x->cfg.cpu[0]);
		fprintf(f, "%s,", x->cfg.mech->name);
		csv_str(f, x->cfg.mech->label, ",");
		fprintf(f, "%s,%s,%zu,%d,%s,", placement(x), cpus, x->cfg.size,
			x->cfg.chain, status_name(s->status));
		csv_str(f, s->why, ",");
		if (!ok) {
			/* keep the columns: every row has the same shape */
			fprintf(f, ",,,,,,,,,,,,,,,,,,,,,,,,,,,,,,");
		} else {
			fprintf(f, "%" PRIu64 ",%.6f,", s->n, s->seconds);
			fprintf(f,
				"%.1f,%" PRId64 ",%" PRId64 ",%" PRId64
				",%" PRId64 ",",
				s->oneway.mean, s->oneway.p50, s->oneway.p99,
				s->oneway.p999, s->oneway.max);
			fprintf(f,
				"%.1f,%" PRId64 ",%" PRId64 ",%" PRId64
				",%" PRId64 ",",
				s->rtt.mean, s->rtt.p50, s->rtt.p99,
				s->rtt.p999, s->rtt.max);
			fprintf(f, "%.1f,%.1f,%.1f,%.1f,",
				ns_of(r, s->oneway.mean),
				ns_of(r, (double)s->oneway.p50),
				ns_of(r, (double)s->oneway.p99),
				ns_of(r, (double)s->oneway.p999));
			fprintf(f, "%.1f,%.1f,%.1f,%.1f,",
				ns_of(r, s->rtt.mean),
				ns_of(r, (double)s->rtt.p50),
				ns_of(r, (double)s->rtt.p99),
				ns_of(r, (double)s->rtt.p999));
			csv_num(f, rate(x), "%.1f");
			csv_num(f, cpu_per_msg_ns(x), "%.1f");
			csv_num(f, s->cpu_client * 1e9 / n, "%.1f");
			csv_num(f, s->cpu_services * 1e9 / n, "%.1f");
			csv_num(f, s->csw / n, "%.3f");
			fprintf(f, "%" PRId64 ",", s->neg_oneway);
			csv_num(f,
				b ? speedup((double)b->res.oneway.p50,
					    (double)s->oneway.p50)
				  : NAN,
				"%.3f");
			csv_num(f,
				b ? speedup((double)b->res.rtt.p50,
					    (double)s->rtt.p50)
				  : NAN,
				"%.3f");
			csv_num(f,
				b ? cpu_per_msg_ns(x) / cpu_per_msg_ns(b) : NAN,
				"%.3f");
			csv_num(f,
				s->other_load >= 0 ? s->other_load * 100 : NAN,
				"%.1f");
		}
		fprintf(f, "%.0f,", r->m->tsc_hz);
		csv_str(f, r->m->cpu, ",");
		fprintf(f, "%d,", r->m->cores_online);
		csv_str(f, r->m->kernel, ",");
		csv_str(f, r->m->env, ",");
		fprintf(f, "%s,", r->m->date);
		if (ok && s->counted)
			fprintf(f, "%" PRIu64 ",%" PRIu64 ",%" PRIu64 "\n",
				s->counts.sends, s->counts.direct,
				s->counts.proxied);
		else
			fprintf(f, ",,\n");
	}
	return ferror(f) ? -1 : 0;
}

/* Under every table: a table copied alone into an issue still says where. */
static void md_caption(FILE *f, const struct report *r, bool ratios)
{
	const struct machine *m = r->m;

	fprintf(f, "\n_%s, %d CPUs; %s; %s; %s.%s_\n\n", m->cpu,
		m->cores_online, m->kernel, m->env, m->date,
		ratios ? " Ratios against epoll + AF_UNIX of this run." : "");
}

static void md_machine(FILE *f, const struct report *r)
{
	const struct machine *m = r->m;
	size_t i, ran = 0, busy = 0;

	fprintf(f, "# rpal-bench: %s\n\n", r->title);
	fprintf(f, "| | |\n| --- | --- |\n");
	fprintf(f, "| Machine | %s, %d CPUs online (%d usable) |\n", m->cpu,
		m->cores_online, m->cores_usable);
	fprintf(f, "| Kernel | %s |\n", m->kernel);
	fprintf(f, "| Environment | **%s** |\n", m->env);
	fprintf(f, "| Date | %s |\n", m->date);
	fprintf(f,
		"| TSC | %.1f MHz (calibrated against CLOCK_MONOTONIC_RAW); "
		"invariant: %s; tsc_known_freq: %s |\n",
		m->tsc_hz / 1e6, m->tsc_invariant ? "yes" : "no",
		m->tsc_known_freq ? "yes" : "no");
	fprintf(f,
		"| Messages | %s measured round trips per row after %s "
		"warm-up, at most %.1f s per row (column n: what ran) |\n",
		fmt_int((double)r->count), fmt_int((double)r->warmup),
		r->max_seconds);
	for (i = 0; i < r->n_rows; i++) {
		ran += r->rows[i].res.status == RUN_OK;
		busy += noisy(&r->rows[i]);
	}
	fprintf(f,
		"| Other load | %zu of %zu rows ran while other processes used "
		"%.0f%% or more of their CPUs (marked *)%s |\n",
		busy, ran, NOISY_LOAD * 100,
		busy ? ": those numbers are not the mechanism's alone" : "");
	fprintf(f, "| Command | `%s` |\n\n", r->cmdline);
	if (m->vm)
		fprintf(f,
			"> Measured in a virtual machine: syscalls, wake-ups "
			"and the TSC go through the hypervisor, and other "
			"guests share the host. Read the ratios, measured side "
			"by side in this run, before the absolute "
			"numbers.\n\n");
}

/* The seed's own question: 32-byte messages, one way, in TSC cycles. */
static void md_seed(FILE *f, const struct report *r)
{
	size_t i;
	bool any = false;

	for (i = 0; i < r->n_rows; i++)
		if (r->rows[i].cfg.size == 32 && r->rows[i].cfg.chain == 1)
			any = true;
	if (!any)
		return;
	fprintf(f, "## The seed's experiment: 32-byte messages, one way\n\n");
	fprintf(f,
		"Client stamps `rdtsc` into the message, the server subtracts "
		"on receipt. TSC cycles; speed-up = epoll + AF_UNIX p50 / this "
		"p50, same placement, this run.\n\n");
	fprintf(f, "| mechanism | same core: mean | p50 | speed-up | "
		   "cross core: mean | p50 | speed-up |\n");
	fprintf(f, "| --- | ---: | ---: | ---: | ---: | ---: | ---: |\n");
	for (i = 0; i < n_mechs; i++) {
		const struct mech *mech = mechs[i];
		const struct row *p[2] = { find(r, mech->name, 32, false, 1),
					   find(r, mech->name, 32, true, 1) };
		int c;

		if (!p[0] && !p[1])
			continue;
		fprintf(f, "| %s |", mech->label);
		if (mech->pending) {
			fprintf(f, " %s | | | | | |\n", mech->pending);
			continue;
		}
		for (c = 0; c < 2; c++) {
			const struct row *b =
				p[c] ? baseline_of(r, p[c]) : NULL;

			if (!p[c] || p[c]->res.status != RUN_OK) {
				fprintf(f, " %s | | |",
					p[c] ? status_name(p[c]->res.status)
					     : "not run");
				continue;
			}
			fprintf(f, " %s | %s | %s |",
				fmt_int(p[c]->res.oneway.mean),
				fmt_int((double)p[c]->res.oneway.p50),
				b ? fmt_ratio(speedup(
					    (double)b->res.oneway.p50,
					    (double)p[c]->res.oneway.p50))
				  : "-");
		}
		fputc('\n', f);
	}
	md_caption(f, r, true);
	fprintf(f, "Published for comparison (RPAL v2 cover letter, Xeon "
		   "Platinum 8336C, another machine and kernel): epoll + UDS "
		   "19,616 cycles vs RPAL 1,703 (its sample output: 16,439 vs "
		   "2,197).\n\n");
}

static void md_placement(FILE *f, const struct report *r, bool cross)
{
	bool pending_done = false;
	size_t i;

	if (!has_rows(r, cross, 1))
		return;
	if (cross)
		fprintf(f,
			"## Cross core (client on CPU %d, service on CPU "
			"%d)\n\n",
			r->rows[0].cfg.cpu[0], r->rows[0].cfg.cpu[1]);
	else
		fprintf(f, "## Same core (client and service on CPU %d)\n\n",
			r->rows[0].cfg.cpu[0]);
	fprintf(f,
		"| mechanism | size | n | one-way mean (cyc) | p50 (cyc) | "
		"p99 (cyc) | p99.9 (cyc) | one-way p50 (µs) | RTT p50 (µs) | "
		"RTT p99 (µs) | RTT p99.9 (µs) | round trips/s | CPU/msg (µs) "
		"| one-way p50 vs epoll | CPU vs epoll |\n");
	fprintf(f, "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | "
		   "---: | ---: | ---: | ---: | ---: | ---: | ---: |\n");
	for (i = 0; i < r->n_rows; i++) {
		const struct row *x = &r->rows[i];
		const struct run_result *s = &x->res;
		const struct row *b = baseline_of(r, x);

		if (x->cfg.cross != cross || x->cfg.chain != 1)
			continue;
		if (s->status == RUN_PENDING) {
			/* one line says it for every size */
			if (!pending_done)
				fprintf(f,
					"| %s | all | %s | | | | | | | | | | | "
					"| |\n",
					x->cfg.mech->label, s->why);
			pending_done = true;
			continue;
		}
		if (s->status != RUN_OK) {
			fprintf(f,
				"| %s | %s | %s: %s | | | | | | | | | | | | "
				"|\n",
				x->cfg.mech->label, fmt_size(x->cfg.size),
				status_name(s->status), s->why);
			continue;
		}
		fprintf(f, "| %s%s | %s | %s | %s | %s | %s | %s |",
			x->cfg.mech->label, label_suffix(x), size_cell(x),
			fmt_int((double)s->n), fmt_int(s->oneway.mean),
			fmt_int((double)s->oneway.p50),
			fmt_int((double)s->oneway.p99),
			fmt_int((double)s->oneway.p999));
		fprintf(f, " %s | %s | %s | %s | %s | %s |",
			fmt_us(ns_of(r, (double)s->oneway.p50)),
			fmt_us(ns_of(r, (double)s->rtt.p50)),
			fmt_us(ns_of(r, (double)s->rtt.p99)),
			fmt_us(ns_of(r, (double)s->rtt.p999)), fmt_int(rate(x)),
			fmt_us(cpu_per_msg_ns(x)));
		fprintf(f, " %s | %s |\n",
			b ? fmt_ratio(speedup((double)b->res.oneway.p50,
					      (double)s->oneway.p50))
			  : "-",
			b ? fmt_ratio(cpu_per_msg_ns(x) / cpu_per_msg_ns(b))
			  : "-");
	}
	md_caption(f, r, true);
}

static void md_chain_row(FILE *f, const struct report *r, const struct row *x)
{
	const struct run_result *s = &x->res;
	const struct row *one, *b;

	fprintf(f, "| %s%s | %s | %s | %d |", x->cfg.mech->label,
		label_suffix(x), placement(x), size_cell(x), x->cfg.chain);
	if (s->status != RUN_OK) {
		fprintf(f, " %s | | | | | | | | |\n",
			s->status == RUN_PENDING ? s->why
						 : status_name(s->status));
		return;
	}
	one = find(r, x->cfg.mech->name, x->cfg.size, x->cfg.cross, 1);
	b = baseline_of(r, x);
	fprintf(f, " %s | %s | %s | %s | %s | %s | %s |", fmt_int((double)s->n),
		fmt_int((double)s->oneway.p50),
		fmt_us(ns_of(r, (double)s->oneway.p50)),
		fmt_us(ns_of(r, (double)s->rtt.p50)),
		fmt_us(ns_of(r, (double)s->rtt.p99)), fmt_int(rate(x)),
		fmt_us(cpu_per_msg_ns(x)));
	fprintf(f, " %s | %s |\n",
		one && one->res.status == RUN_OK
			? fmt_ratio((double)s->rtt.p50 /
				    (double)one->res.rtt.p50)
			: "-",
		b ? fmt_ratio(
			    speedup((double)b->res.rtt.p50, (double)s->rtt.p50))
		  : "-");
}

/* Rows grouped by placement and mechanism, services in ascending order. */
static void md_chains(FILE *f, const struct report *r)
{
	size_t i, k, j;
	int cross, len;
	bool any = false;

	for (i = 0; i < r->n_rows; i++)
		if (r->rows[i].cfg.chain > 1)
			any = true;
	if (!any)
		return;
	fprintf(f, "## Chains: client -> service 1 -> ... -> service N and "
		   "back\n\n");
	fprintf(f, "Sidecar-style chains. Every hop reads and checks the whole "
		   "message; one way is client to the last service; cross core "
		   "alternates CPUs along the chain, so with more than one "
		   "service some share a CPU.\n\n");
	fprintf(f, "| mechanism | placement | size | services | n | one-way "
		   "p50 (cyc) | one-way p50 (µs) | RTT p50 (µs) | RTT p99 (µs) "
		   "| round trips/s | CPU/msg (µs) | RTT p50 / 1 service's | "
		   "RTT p50 vs epoll |\n");
	fprintf(f, "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | "
		   "---: | ---: | ---: | ---: | ---: |\n");
	for (cross = 0; cross < 2; cross++)
		for (k = 0; k < n_mechs; k++)
			for (i = 0; i < r->n_rows; i++) {
				const struct row *x = &r->rows[i];
				bool first = true;

				/* one group per mechanism, size, placement */
				if (x->cfg.mech != mechs[k] ||
				    x->cfg.cross != cross || x->cfg.chain <= 1)
					continue;
				for (j = 0; j < i; j++)
					if (r->rows[j].cfg.mech == mechs[k] &&
					    r->rows[j].cfg.cross == cross &&
					    r->rows[j].cfg.chain > 1 &&
					    r->rows[j].cfg.size == x->cfg.size)
						first = false;
				if (!first)
					continue;
				for (len = 1; len <= MAX_CHAIN; len++) {
					const struct row *y =
						find(r, mechs[k]->name,
						     x->cfg.size, cross, len);

					if (y)
						md_chain_row(f, r, y);
				}
			}
	md_caption(f, r, true);
}

static double pipe_rtt_ns(const struct report *r, bool cross)
{
	const struct row *p = find(r, "pipe", 32, cross, 1);

	return p && p->res.status == RUN_OK ? ns_of(r, p->res.rtt.mean) : NAN;
}

static void md_refs(FILE *f, const struct report *r)
{
	int i;

	if (!r->n_refs)
		return;
	fprintf(f, "## Reference: another tool on this machine\n\n");
	fprintf(f, "| what | µs per round trip | this run: pipe, 32 B, RTT "
		   "mean (µs) | ratio (this run / reference) |\n");
	fprintf(f, "| --- | ---: | ---: | ---: |\n");
	for (i = 0; i < r->n_refs; i++) {
		const struct ref *ref = &r->refs[i];
		double same = pipe_rtt_ns(r, false),
		       cross = pipe_rtt_ns(r, true);
		double theirs = ref->usec * 1000;

		fprintf(f, "| %s | %s |", ref->label, fmt_us(theirs));
		if (ref->place == REF_ANY)
			fprintf(f, " %s same core, %s cross core | %s, %s |\n",
				fmt_us(same), fmt_us(cross),
				fmt_ratio(same / theirs),
				fmt_ratio(cross / theirs));
		else
			fprintf(f, " %s (%s core) | %s |\n",
				fmt_us(ref->place == REF_CROSS ? cross : same),
				ref->place == REF_CROSS ? "cross" : "same",
				fmt_ratio((ref->place == REF_CROSS ? cross
								   : same) /
					  theirs));
	}
	md_caption(f, r, false);
	fprintf(f,
		"`perf bench sched pipe` does what the pipe row does, with a "
		"4-byte message and no checksum, so this run's pipe should be "
		"a little slower, not several times slower or faster; if it "
		"is, one of the two is not measuring what it claims, or the "
		"machine was busy during one of them.\n\n");
}

static void md_notes(FILE *f, const struct report *r)
{
	size_t i;

	fprintf(f, "## How to read this\n\n");
	fprintf(f,
		"- **one way**: client `rdtsc` stamp to the last receiver's "
		"`rdtsc` right after its receive returned; **RTT**: stamp to "
		"the echo's arrival at the client. Cycles are TSC cycles; µs "
		"use the TSC frequency above.\n"
		"- **round trips/s**: completed request/response pairs per "
		"second of wall time, one in flight at a time.\n"
		"- **CPU/msg**: user + system time of all processes of the row "
		"(getrusage, measured part only) per round trip. A polling row "
		"burns a core while it waits, and this column is where that "
		"shows.\n"
		"- **vs epoll**: epoll + AF_UNIX p50 / this p50 for latency "
		"(above 1: faster), this / epoll for CPU (below 1: cheaper), "
		"same size, placement and chain, this run.\n"
		"- **\\***: other processes used %.0f%% or more of the time "
		"of the row's CPUs while it ran (/proc/stat less the row's own "
		"getrusage; the CSV has the figure for every row).\n"
		"- Every receiver reads every byte and checks a checksum the "
		"sender computed; a mismatch fails the row. Blocking "
		"mechanisms block: no spinning before sleeping.\n\n",
		NOISY_LOAD * 100);
	fprintf(f, "Mechanisms:\n\n");
	for (i = 0; i < n_mechs; i++)
		fprintf(f, "- **%s** (`%s`): %s%s\n", mechs[i]->label,
			mechs[i]->name, mechs[i]->note,
			mechs[i]->pending ? " (pending)" : "");
	fputc('\n', f);
	for (i = 0; i < r->n_rows; i++) {
		const struct row *x = &r->rows[i];

		if (x->res.status == RUN_FAILED || x->res.status == RUN_SKIPPED)
			fprintf(f,
				"- %s: %s %s core, %zu B, %d service(s): %s\n",
				status_name(x->res.status), x->cfg.mech->label,
				placement(x), x->cfg.size, x->cfg.chain,
				x->res.why);
		if (x->res.status == RUN_OK && x->res.counted)
			fprintf(f,
				"- %s %s core %zu B, %d service(s): %s of %s "
				"messages (%.1f%%, warm-up included) handed "
				"over by a direct call; %s syscalls of "
				"borrowed code run by their owner\n",
				x->cfg.mech->label, placement(x), x->cfg.size,
				x->cfg.chain,
				fmt_int((double)x->res.counts.direct),
				fmt_int((double)x->res.counts.sends),
				x->res.counts.sends
					? 100.0 * (double)x->res.counts.direct /
						  (double)x->res.counts.sends
					: 0.0,
				fmt_int((double)x->res.counts.proxied));
		if (x->res.status == RUN_OK && x->res.neg_oneway)
			fprintf(f,
				"- %s %s core %zu B: %" PRId64
				" negative one-way samples: the TSCs of the "
				"two CPUs disagree, one-way numbers are off by "
				"the skew\n",
				x->cfg.mech->label, placement(x), x->cfg.size,
				x->res.neg_oneway);
	}
}

int report_md(FILE *f, const struct report *r)
{
	md_machine(f, r);
	md_seed(f, r);
	md_placement(f, r, false);
	md_placement(f, r, true);
	md_chains(f, r);
	md_refs(f, r);
	md_notes(f, r);
	return ferror(f) ? -1 : 0;
}
