// SPDX-License-Identifier: MIT
/*
 * rpal-bench: the command line, the matrix of runs (placement x size x
 * mechanism, then chains), progress on stderr and the reports at the end.
 * bench/run.sh drives it with the defaults a user wants; this binary is
 * the part that measures.
 */
#include <errno.h>
#include <getopt.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench.h"
#include "machine.h"
#include "msg.h"
#include "report.h"
#include "tsc.h"

#define MAX_LIST 16
#define MAX_COUNT 20000000ull

struct opts {
	uint64_t count, warmup;
	bool warmup_set;
	size_t sizes[MAX_LIST];
	int n_sizes;
	const struct mech *mechs[MAX_LIST];
	int n_mechs;
	bool placement[2]; /* [0] same core, [1] cross core */
	int chains[MAX_LIST];
	int n_chains;
	const struct mech *chain_mechs[MAX_LIST];
	int n_chain_mechs;
	size_t chain_size;
	double max_seconds, timeout, tsc_hz;
	int64_t corrupt_at;
	bool count_rows;
	const char *csv, *md, *title;
	struct ref refs[MAX_REFS];
	int n_refs;
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: rpal-bench [options]\n"
		"\n"
		"Measure request/response between processes over each IPC "
		"mechanism.\n"
		"\n"
		"  -n, --count N           measured round trips per row "
		"(200000, at most 2e7)\n"
		"  -w, --warmup N          round trips before measuring "
		"(count/20, 100..10000)\n"
		"  -s, --sizes LIST        message sizes in bytes, multiples "
		"of 8, >= 32\n"
		"                          (32,256,4096,65536)\n"
		"  -m, --mechs LIST        mechanisms, or \"all\" (all); see "
		"--list\n"
		"  -p, --placements LIST   same,cross (both)\n"
		"  -c, --chains LIST       services in a row for chain rows "
		"(1,2,4)\n"
		"      --chain-mechs LIST  mechanisms run as chains "
		"(epoll_uds,rpal)\n"
		"      --chain-size N      message size of chain rows (32)\n"
		"  -t, --max-seconds S     stop measuring a row after S "
		"seconds (5)\n"
		"      --timeout S         kill a row after S seconds "
		"(2 * max-seconds + 30)\n"
		"      --csv FILE          write every number as CSV\n"
		"      --md FILE           write the Markdown report "
		"(stdout if neither)\n"
		"      --title TEXT        heading of the report\n"
		"      --ref P:USEC:LABEL  a reference round trip from another "
		"tool, compared\n"
		"                          with the pipe row of placement P "
		"(same, cross, any)\n"
		"      --tsc-hz HZ         TSC frequency (calibrated if not "
		"given)\n"
		"      --corrupt SEQ       break message SEQ after its "
		"checksum "
		"(self-test)\n"
		"      --rows              print how many rows these options "
		"make, and exit\n"
		"  -q, --quiet             no progress on stderr\n"
		"  -l, --list              list the mechanisms\n"
		"  -h, --help              this text\n"
		"\n"
		"Exit status: 0 every row ran or is pending/unavailable, 1 a "
		"row failed\n"
		"(checksum mismatch, error, crash, timeout), 2 bad usage.\n");
}

static int parse_u64(const char *s, uint64_t *v)
{
	char *end;

	errno = 0;
	*v = strtoull(s, &end, 0);
	return errno || end == s || *end || *s == '-' ? -1 : 0;
}

static int parse_double(const char *s, double *v)
{
	char *end;

	errno = 0;
	*v = strtod(s, &end);
	return errno || end == s || *end || !(*v > 0) ? -1 : 0;
}

/* Split a comma list; @one parses an item into slot @i. */
static int parse_list(const char *arg, const char *what, int *n,
		      int (*one)(const char *item, int i, void *out), void *out)
{
	char buf[512], *save = NULL, *item;

	if (strlen(arg) >= sizeof(buf)) {
		fprintf(stderr, "rpal-bench: %s: list too long\n", what);
		return -1;
	}
	strcpy(buf, arg);
	*n = 0;
	for (item = strtok_r(buf, ",", &save); item;
	     item = strtok_r(NULL, ",", &save)) {
		if (*n == MAX_LIST) {
			fprintf(stderr, "rpal-bench: %s: at most %d items\n",
				what, MAX_LIST);
			return -1;
		}
		if (one(item, *n, out)) {
			fprintf(stderr, "rpal-bench: %s: bad item '%s'\n", what,
				item);
			return -1;
		}
		(*n)++;
	}
	if (!*n) {
		fprintf(stderr, "rpal-bench: %s: empty list\n", what);
		return -1;
	}
	return 0;
}

static int size_ok(uint64_t v)
{
	return v >= MSG_MIN && v <= MSG_MAX && v % 8 == 0;
}

static int one_size(const char *item, int i, void *out)
{
	uint64_t v;

	if (parse_u64(item, &v) || !size_ok(v))
		return -1;
	((size_t *)out)[i] = (size_t)v;
	return 0;
}

static int one_mech(const char *item, int i, void *out)
{
	const struct mech *m = mech_find(item);

	((const struct mech **)out)[i] = m;
	return m ? 0 : -1;
}

static int parse_mechs(const char *arg, const char *what, int *n,
		       const struct mech **out)
{
	size_t i;

	if (strcmp(arg, "all"))
		return parse_list(arg, what, n, one_mech, out);
	for (*n = 0, i = 0; i < n_mechs && i < MAX_LIST; i++)
		out[(*n)++] = mechs[i];
	return 0;
}

static int one_chain(const char *item, int i, void *out)
{
	uint64_t v;

	if (parse_u64(item, &v) || v < 1 || v > MAX_CHAIN)
		return -1;
	((int *)out)[i] = (int)v;
	return 0;
}

static int one_placement(const char *item, int i, void *out)
{
	bool *p = out;

	(void)i;
	if (!strcmp(item, "same"))
		p[0] = true;
	else if (!strcmp(item, "cross"))
		p[1] = true;
	else
		return -1;
	return 0;
}

static int parse_ref(const char *arg, struct ref *ref)
{
	char place[8], *end;
	const char *colon = strchr(arg, ':');

	if (!colon || colon - arg >= (long)sizeof(place))
		return -1;
	memcpy(place, arg, (size_t)(colon - arg));
	place[colon - arg] = 0;
	if (!strcmp(place, "same"))
		ref->place = REF_SAME;
	else if (!strcmp(place, "cross"))
		ref->place = REF_CROSS;
	else if (!strcmp(place, "any"))
		ref->place = REF_ANY;
	else
		return -1;
	errno = 0;
	ref->usec = strtod(colon + 1, &end);
	if (errno || end == colon + 1 || *end != ':' || !(ref->usec > 0))
		return -1;
	snprintf(ref->label, sizeof(ref->label), "%s", end + 1);
	return 0;
}

static void list_mechs(void)
{
	size_t i;

	for (i = 0; i < n_mechs; i++)
		printf("%-12s %-20s %s%s\n", mechs[i]->name, mechs[i]->label,
		       mechs[i]->pending ? mechs[i]->pending : mechs[i]->note,
		       mechs[i]->flags & MECH_POLLING ? " [polling]" : "");
}

enum {
	OPT_CHAIN_MECHS = 256,
	OPT_CHAIN_SIZE,
	OPT_TIMEOUT,
	OPT_CSV,
	OPT_MD,
	OPT_TITLE,
	OPT_REF,
	OPT_TSC_HZ,
	OPT_CORRUPT,
	OPT_ROWS,
};

static const struct option long_opts[] = {
	{ "count", required_argument, NULL, 'n' },
	{ "warmup", required_argument, NULL, 'w' },
	{ "sizes", required_argument, NULL, 's' },
	{ "mechs", required_argument, NULL, 'm' },
	{ "placements", required_argument, NULL, 'p' },
	{ "chains", required_argument, NULL, 'c' },
	{ "chain-mechs", required_argument, NULL, OPT_CHAIN_MECHS },
	{ "chain-size", required_argument, NULL, OPT_CHAIN_SIZE },
	{ "max-seconds", required_argument, NULL, 't' },
	{ "timeout", required_argument, NULL, OPT_TIMEOUT },
	{ "csv", required_argument, NULL, OPT_CSV },
	{ "md", required_argument, NULL, OPT_MD },
	{ "title", required_argument, NULL, OPT_TITLE },
	{ "ref", required_argument, NULL, OPT_REF },
	{ "tsc-hz", required_argument, NULL, OPT_TSC_HZ },
	{ "corrupt", required_argument, NULL, OPT_CORRUPT },
	{ "rows", no_argument, NULL, OPT_ROWS },
	{ "quiet", no_argument, NULL, 'q' },
	{ "list", no_argument, NULL, 'l' },
	{ "help", no_argument, NULL, 'h' },
	{ 0 },
};

static void defaults(struct opts *o)
{
	static const size_t sizes[] = { 32, 256, 4096, 65536 };
	size_t i;

	memset(o, 0, sizeof(*o));
	o->count = 200000;
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
		o->sizes[o->n_sizes++] = sizes[i];
	parse_mechs("all", "--mechs", &o->n_mechs, o->mechs);
	o->placement[0] = o->placement[1] = true;
	o->chains[0] = 1;
	o->chains[1] = 2;
	o->chains[2] = 4;
	o->n_chains = 3;
	o->chain_mechs[0] = mech_find(BASELINE_MECH);
	o->chain_mechs[1] = mech_find("rpal");
	o->n_chain_mechs = 2;
	o->chain_size = 32;
	o->max_seconds = 5;
	o->corrupt_at = -1;
	o->title = "IPC round trips between processes";
}

/* 0: parsed, 1: done (help, list), 2: usage error. */
static int parse_args(int argc, char **argv, struct opts *o)
{
	uint64_t v;
	int c;

	defaults(o);
	while ((c = getopt_long(argc, argv, "n:w:s:m:p:c:t:qlh", long_opts,
				NULL)) != -1) {
		switch (c) {
		case 'n':
			/* samples live in shared memory: 16 bytes each */
			if (parse_u64(optarg, &o->count) || !o->count ||
			    o->count > MAX_COUNT)
				goto bad;
			break;
		case 'w':
			if (parse_u64(optarg, &o->warmup))
				goto bad;
			o->warmup_set = true;
			break;
		case 's':
			if (parse_list(optarg, "--sizes", &o->n_sizes, one_size,
				       o->sizes))
				return 2;
			break;
		case 'm':
			if (parse_mechs(optarg, "--mechs", &o->n_mechs,
					o->mechs))
				return 2;
			break;
		case 'p': {
			int n;

			o->placement[0] = o->placement[1] = false;
			if (parse_list(optarg, "--placements", &n,
				       one_placement, o->placement))
				return 2;
			break;
		}
		case 'c':
			if (parse_list(optarg, "--chains", &o->n_chains,
				       one_chain, o->chains))
				return 2;
			break;
		case OPT_CHAIN_MECHS:
			if (parse_mechs(optarg, "--chain-mechs",
					&o->n_chain_mechs, o->chain_mechs))
				return 2;
			break;
		case OPT_CHAIN_SIZE:
			if (parse_u64(optarg, &v) || !size_ok(v))
				goto bad;
			o->chain_size = (size_t)v;
			break;
		case 't':
			if (parse_double(optarg, &o->max_seconds))
				goto bad;
			break;
		case OPT_TIMEOUT:
			if (parse_double(optarg, &o->timeout))
				goto bad;
			break;
		case OPT_CSV:
			o->csv = optarg;
			break;
		case OPT_MD:
			o->md = optarg;
			break;
		case OPT_TITLE:
			o->title = optarg;
			break;
		case OPT_REF:
			if (o->n_refs == MAX_REFS ||
			    parse_ref(optarg, &o->refs[o->n_refs]))
				goto bad;
			o->n_refs++;
			break;
		case OPT_TSC_HZ:
			if (parse_double(optarg, &o->tsc_hz))
				goto bad;
			break;
		case OPT_CORRUPT:
			if (parse_u64(optarg, &v) || v > UINT32_MAX)
				goto bad;
			o->corrupt_at = (int64_t)v;
			break;
		case OPT_ROWS:
			o->count_rows = true;
			break;
		case 'q':
			bench_quiet = true;
			break;
		case 'l':
			list_mechs();
			return 1;
		case 'h':
			usage(stdout);
			return 1;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "rpal-bench: unexpected argument '%s'\n",
			argv[optind]);
		return 2;
	}
	if (!o->warmup_set) {
		o->warmup = o->count / 20;
		o->warmup = o->warmup < 100 ? 100 : o->warmup;
		o->warmup = o->warmup > 10000 ? 10000 : o->warmup;
	}
	if (!o->timeout)
		o->timeout = 2 * o->max_seconds + 30;
	return 0;
bad:
	fprintf(stderr, "rpal-bench: bad value '%s' for an option\n", optarg);
	return 2;
}

static int usable_cpus(int cpu[2])
{
	cpu_set_t set;
	int i, n = 0;

	if (sched_getaffinity(0, sizeof(set), &set))
		return bench_fail("sched_getaffinity");
	for (i = 0; i < CPU_SETSIZE && n < 2; i++)
		if (CPU_ISSET(i, &set))
			cpu[n++] = i;
	if (n == 1)
		cpu[1] = cpu[0];
	return n;
}

struct matrix {
	struct row *rows;
	size_t n, cap;
};

static int add_row(struct matrix *mx, const struct opts *o,
		   const struct mech *m, size_t size, bool cross, int chain,
		   const int cpu[2])
{
	struct run_cfg *c;

	if (mx->n == mx->cap) {
		size_t cap = mx->cap ? 2 * mx->cap : 64;
		struct row *r = realloc(mx->rows, cap * sizeof(*r));

		if (!r)
			return bench_fail("realloc");
		mx->rows = r;
		mx->cap = cap;
	}
	memset(&mx->rows[mx->n], 0, sizeof(mx->rows[mx->n]));
	c = &mx->rows[mx->n++].cfg;
	c->mech = m;
	c->size = size;
	c->cross = cross;
	c->chain = chain;
	c->cpu[0] = cpu[0];
	c->cpu[1] = cpu[1];
	c->count = o->count;
	c->warmup = o->warmup;
	c->max_seconds = o->max_seconds;
	c->tsc_hz = o->tsc_hz;
	c->corrupt_at = o->corrupt_at;
	c->timeout = o->timeout;
	return 0;
}

static bool have_row(const struct matrix *mx, const struct mech *m, size_t size,
		     bool cross, int chain)
{
	size_t i;

	for (i = 0; i < mx->n; i++)
		if (mx->rows[i].cfg.mech == m && mx->rows[i].cfg.size == size &&
		    mx->rows[i].cfg.cross == cross &&
		    mx->rows[i].cfg.chain == chain)
			return true;
	return false;
}

/* Rows in report order: placement, then size, then mechanism. */
static int build_matrix(struct matrix *mx, const struct opts *o,
			const int cpu[2])
{
	int p, s, i, k;

	for (p = 0; p < 2; p++) {
		if (!o->placement[p])
			continue;
		for (s = 0; s < o->n_sizes; s++)
			for (i = 0; i < o->n_mechs; i++)
				if (add_row(mx, o, o->mechs[i], o->sizes[s], p,
					    1, cpu))
					return -1;
	}
	for (p = 0; p < 2; p++) {
		if (!o->placement[p])
			continue;
		for (i = 0; i < o->n_chain_mechs; i++)
			for (k = 0; k < o->n_chains; k++) {
				const struct mech *m = o->chain_mechs[i];

				if (have_row(mx, m, o->chain_size, p,
					     o->chains[k]))
					continue;
				if (add_row(mx, o, m, o->chain_size, p,
					    o->chains[k], cpu))
					return -1;
			}
	}
	return 0;
}

static void progress(size_t i, size_t n, const struct row *x, double hz,
		     double took)
{
	const struct run_result *s = &x->res;

	bench_progress("[%zu/%zu] %-5s %-12s %6zu B x%d: ", i + 1, n,
		       x->cfg.cross ? "cross" : "same", x->cfg.mech->name,
		       x->cfg.size, x->cfg.chain);
	if (s->status != RUN_OK) {
		bench_progress("%s\n", s->why);
		return;
	}
	bench_progress(
		"one-way p50 %.2f us, RTT p50 %.2f us, %.0f/s, "
		"CPU %.2f us/msg (%.1f s)\n",
		(double)s->oneway.p50 / hz * 1e6, (double)s->rtt.p50 / hz * 1e6,
		s->seconds > 0 ? (double)s->n / s->seconds : 0,
		(s->cpu_client + s->cpu_services) / (double)s->n * 1e6, took);
}

static double mono_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static char *join_args(int argc, char **argv)
{
	size_t len = 1;
	char *s;
	int i;

	for (i = 0; i < argc; i++)
		len += strlen(argv[i]) + 1;
	s = calloc(1, len);
	if (!s)
		return NULL;
	for (i = 0; i < argc; i++) {
		if (i)
			strcat(s, " ");
		strcat(s, argv[i]);
	}
	return s;
}

static int write_file(const char *path, const struct report *r,
		      int (*fn)(FILE *f, const struct report *r))
{
	FILE *f = fopen(path, "we");
	int ret;

	if (!f)
		return bench_fail("cannot write %s", path);
	ret = fn(f, r);
	if (fclose(f) || ret)
		return bench_fail("writing %s", path);
	return 0;
}

int main(int argc, char **argv)
{
	struct matrix mx = { 0 };
	struct machine m;
	struct report r;
	struct opts o;
	char *cmdline;
	int cpu[2], failed = 0, ret;
	double t_all;
	size_t i;

	if (argc > 1 && !strcmp(argv[1], ROW_PROCESS_OPT))
		run_row_process(argc, argv);
	ret = parse_args(argc, argv, &o);
	if (ret)
		return ret == 1 ? 0 : 2;
	if (usable_cpus(cpu) < 0)
		return 1;
	if (o.count_rows) {
		ret = build_matrix(&mx, &o, cpu);
		if (!ret)
			printf("%zu\n", mx.n);
		free(mx.rows);
		return ret ? 1 : 0;
	}
	machine_probe(&m);
	if (!o.tsc_hz) {
		bench_progress("calibrating the TSC (100 ms)...\n");
		o.tsc_hz = tsc_calibrate(100);
	}
	m.tsc_hz = o.tsc_hz;
	if (build_matrix(&mx, &o, cpu)) {
		free(mx.rows);
		return 1;
	}
	bench_progress("%s; %s; %s; TSC %.1f MHz; %zu rows\n", m.cpu, m.kernel,
		       m.env, m.tsc_hz / 1e6, mx.n);
	t_all = mono_now();
	for (i = 0; i < mx.n; i++) {
		struct row *x = &mx.rows[i];
		double t0 = mono_now();

		if (x->cfg.cross && cpu[0] == cpu[1]) {
			x->res.status = RUN_SKIPPED;
			snprintf(x->res.why, sizeof(x->res.why),
				 "needs two usable CPUs");
		} else if (run_one(&x->cfg, &x->res)) {
			failed++;
		}
		progress(i, mx.n, x, m.tsc_hz, mono_now() - t0);
	}
	bench_progress("%zu rows in %.1f s, %d failed\n", mx.n,
		       mono_now() - t_all, failed);

	r = (struct report){
		.m = &m,
		.rows = mx.rows,
		.n_rows = mx.n,
		.refs = o.refs,
		.n_refs = o.n_refs,
		.title = o.title,
		.count = o.count,
		.warmup = o.warmup,
		.max_seconds = o.max_seconds,
	};
	cmdline = join_args(argc, argv);
	r.cmdline = cmdline ? cmdline : "rpal-bench";
	ret = failed ? 1 : 0;
	if (o.csv && write_file(o.csv, &r, report_csv))
		ret = 1;
	if (o.md && write_file(o.md, &r, report_md))
		ret = 1;
	if (!o.csv && !o.md && report_md(stdout, &r))
		ret = 1;
	free(cmdline);
	free(mx.rows);
	return ret;
}
