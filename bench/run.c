// SPDX-License-Identifier: MIT
/*
 * One measured run: fork the client and its chain of services, pin them,
 * let them exchange messages, and turn what they recorded into results.
 * The coordinator itself only forks, watches and counts, so a hang or a
 * crash in a mechanism costs that row (with the reason), not the suite.
 *
 * Process 0 is the client, process i (1..chain) is service i; channel i
 * joins process i (side A) to process i + 1 (side B). The client stamps
 * the TSC into each message, the last service subtracts it on receipt
 * (one way) and echoes; every hop passes the echo back, and the client
 * subtracts again (round trip). Each process reads every byte it gets.
 *
 * A MECH_RPAL_RUN mechanism (RPAL) needs its processes' memory in their
 * slots: each forked process execs rpal-bench again under rpal-run and
 * rejoins the run through the memfd that carries the results, where it
 * finds its configuration and its channels' shared bytes.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "msg.h"
#include "stats.h"
#include "tsc.h"

struct cpu_use {
	int64_t user_ns, sys_ns, csw;
};

#define SHARED_MAGIC 0x7270616c62656e63ull /* "rpalbenc" */

/*
 * The memory of a run, a memfd every process maps: what the processes
 * tell the coordinator, and what a process exec'd under rpal-run needs
 * to rejoin the run (its configuration and the channels' meeting place).
 */
struct shared {
	uint64_t magic;
	size_t len;
	struct run_cfg cfg; /* cfg.mech is the coordinator's pointer */
	char mech_name[32];
	pid_t coordinator;
	struct err_sink err;
	uint64_t n_client; /* measured round trips the client completed */
	uint64_t n_last;   /* measured messages the last service received */
	double seconds;	   /* client's wall time over the measured part */
	struct cpu_use use[MAX_CHAIN + 1];
	int counted[MAX_CHAIN + 1];
	struct mech_counters counts[MAX_CHAIN + 1];
	_Alignas(64) unsigned char chan_mem[MAX_CHAIN][CHAN_SHARED_SIZE];
	_Alignas(64) unsigned char row_mem[ROW_SHARED_SIZE];
	int64_t samples[]; /* round trips [count], then one way [count] */
};

struct ctx {
	const struct run_cfg *cfg;
	struct shared *sh;
	struct chan ch[MAX_CHAIN];
	unsigned char *buf;
};

static int cpu_use_now(struct cpu_use *u)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru))
		return bench_fail("getrusage");
	u->user_ns = ru.ru_utime.tv_sec * 1000000000ll +
		     ru.ru_utime.tv_usec * 1000ll;
	u->sys_ns = ru.ru_stime.tv_sec * 1000000000ll +
		    ru.ru_stime.tv_usec * 1000ll;
	u->csw = ru.ru_nvcsw + ru.ru_nivcsw;
	return 0;
}

static int cpu_use_since(const struct cpu_use *u0, struct cpu_use *out)
{
	struct cpu_use u1;

	if (cpu_use_now(&u1))
		return -1;
	out->user_ns = u1.user_ns - u0->user_ns;
	out->sys_ns = u1.sys_ns - u0->sys_ns;
	out->csw = u1.csw - u0->csw;
	return 0;
}

static double mono_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cpu_of(const struct run_cfg *c, int idx)
{
	return c->cross ? c->cpu[idx % 2] : c->cpu[0];
}

/*
 * The warm-up ends after cfg->warmup round trips or a fifth of the time
 * limit, whichever comes first, so a slow mechanism cannot spend the
 * suite's time budget before it starts measuring.
 */
static int client_loop(struct ctx *x)
{
	const struct run_cfg *c = x->cfg;
	struct chan *ch = &x->ch[0];
	const struct mech *m = ch->mech;
	uint64_t warm_end =
		tsc_now() + (uint64_t)(c->max_seconds / 5 * c->tsc_hz);
	uint64_t deadline = UINT64_MAX, t_back = 0, seq, n = 0;
	int64_t *rtt = x->sh->samples;
	struct cpu_use u0 = { 0 };
	bool measuring = false;
	double t0 = 0;

	for (seq = 0;; seq++) {
		uint32_t flags = 0;
		uint64_t t_send;

		if (!measuring && (seq == c->warmup || t_back > warm_end)) {
			measuring = true;
			if (cpu_use_now(&u0))
				return -1;
			t0 = mono_now();
			deadline = tsc_now() +
				   (uint64_t)(c->max_seconds * c->tsc_hz);
		}
		if (measuring && (n == c->count || (n && t_back > deadline))) {
			flags = MSG_STOP;
			x->sh->seconds = mono_now() - t0;
			x->sh->n_client = n;
			if (cpu_use_since(&u0, &x->sh->use[0]))
				return -1;
		} else if (measuring) {
			flags = MSG_MEASURED;
		}
		msg_fill(x->buf, c->size, (uint32_t)seq, flags);
		if ((int64_t)seq == c->corrupt_at)
			x->buf[c->size - 1] ^= 0x40;
		/* stamped last, so the one-way time is the transfer alone */
		t_send = tsc_now();
		msg_hdr(x->buf)->tsc = t_send;
		if (m->send(ch, x->buf, c->size) ||
		    m->recv(ch, x->buf, c->size))
			return -1;
		t_back = tsc_now();
		if (msg_verify(x->buf, c->size, (uint32_t)seq, flags))
			return -1;
		if (msg_hdr(x->buf)->tsc != t_send)
			return bench_failx("echo of message %" PRIu64
					   " carries another stamp",
					   seq);
		if (flags & MSG_STOP)
			return 0;
		if (flags & MSG_MEASURED)
			rtt[n++] = (int64_t)(t_back - t_send);
	}
}

static int service_loop(struct ctx *x, int idx)
{
	const struct run_cfg *c = x->cfg;
	bool last = idx == c->chain;
	struct chan *up = &x->ch[idx - 1], *down = last ? NULL : &x->ch[idx];
	int64_t *oneway = x->sh->samples + c->count;
	struct msg_hdr *h = msg_hdr(x->buf);
	struct cpu_use u0 = { 0 };
	uint64_t seq, n = 0;

	for (seq = 0;; seq++) {
		uint64_t t;
		uint32_t flags;

		if (up->mech->recv(up, x->buf, c->size))
			return -1;
		t = tsc_now();
		/* unknown bits are caught by msg_verify() below */
		flags = h->flags & MSG_FLAGS;
		if (flags & MSG_MEASURED) {
			if (!n && cpu_use_now(&u0))
				return -1;
			if (last && n < c->count)
				oneway[n] = (int64_t)(t - h->tsc);
			n++;
		} else if (flags & MSG_STOP) {
			if (last)
				x->sh->n_last = n;
			if (cpu_use_since(&u0, &x->sh->use[idx]))
				return -1;
		}
		if (msg_verify(x->buf, c->size, (uint32_t)seq, flags))
			return -1;
		if (down) {
			if (down->mech->send(down, x->buf, c->size) ||
			    down->mech->recv(down, x->buf, c->size))
				return -1;
			if (msg_verify(x->buf, c->size, (uint32_t)seq, flags))
				return -1;
		}
		if (up->mech->send(up, x->buf, c->size))
			return -1;
		if (flags & MSG_STOP)
			return 0;
	}
}

static int pin(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set))
		return bench_fail("sched_setaffinity(CPU %d)", cpu);
	return 0;
}

static void set_role(const struct run_cfg *c, int idx)
{
	static char role[32];

	if (idx)
		snprintf(role, sizeof(role), "service %d (%s)", idx,
			 c->mech->name);
	else
		snprintf(role, sizeof(role), "client (%s)", c->mech->name);
	bench_role = role;
}

/*
 * Where rpal-run is: $RPAL_RUN, beside this program (an install, the VM),
 * in the build tree's tools/, else PATH.
 */
static const char *rpal_run_path(const char *self, char *buf, size_t len)
{
	const char *env = getenv("RPAL_RUN");
	const char *slash = strrchr(self, '/');
	static const char *const rel[] = { "rpal-run", "../tools/rpal-run" };
	size_t i;

	if (env && *env)
		return env;
	for (i = 0; slash && i < sizeof(rel) / sizeof(rel[0]); i++) {
		snprintf(buf, len, "%.*s/%s", (int)(slash - self), self,
			 rel[i]);
		if (!access(buf, X_OK))
			return buf;
	}
	return "rpal-run";
}

/*
 * A MECH_RPAL_RUN process: exec this program again under rpal-run, so
 * that its code, stack and heap lie in its slot, with the run's memfd
 * open at @fd; run_row_process() picks up from there.
 */
static void exec_in_slot(int fd, int idx)
{
	char self[4096], tool[4200], name[24], fd_s[16], idx_s[16];
	const char *run;
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

	if (n <= 0 || n == (ssize_t)sizeof(self) - 1) {
		bench_fail("readlink(/proc/self/exe)");
		return;
	}
	self[n] = 0;
	if (fcntl(fd, F_SETFD, 0)) {
		bench_fail("fcntl(F_SETFD)");
		return;
	}
	run = rpal_run_path(self, tool, sizeof(tool));
	snprintf(name, sizeof(name), idx ? "bench-svc%d" : "bench-client", idx);
	snprintf(fd_s, sizeof(fd_s), "%d", fd);
	snprintf(idx_s, sizeof(idx_s), "%d", idx);
	fflush(stderr);
	execlp(run, run, "--name", name, "--", self, ROW_PROCESS_OPT, fd_s,
	       idx_s, (char *)NULL);
	bench_fail("cannot exec %s (set RPAL_RUN or PATH)", run);
}

/* A process of the run, from its placement on: attach, loop, teardown. */
static _Noreturn void row_process(struct ctx *x, int idx)
{
	const struct run_cfg *c = x->cfg;
	const struct mech *m = c->mech;
	bool shared = false;
	int i, ret = -1;

	if (pin(cpu_of(c, idx)))
		goto out;
	if (posix_memalign((void **)&x->buf, 64, (c->size + 63) / 64 * 64)) {
		bench_failx("posix_memalign of %zu bytes failed", c->size);
		goto out;
	}
	for (i = 0; i <= c->chain; i++)
		if (i != idx && cpu_of(c, i) == cpu_of(c, idx))
			shared = true;
	for (i = 0; i < c->chain; i++) {
		struct chan *ch = &x->ch[i];

		ch->proc = idx;
		if (i == idx - 1 || i == idx) {
			ch->side = i == idx ? SIDE_A : SIDE_B;
			ch->cpu_shared = shared;
			if (ch->mech->attach(ch, ch->side))
				goto out;
		} else if (ch->mech->teardown(ch)) {
			goto out;
		}
	}
	ret = idx ? service_loop(x, idx) : client_loop(x);
	if (!ret && m->counters) {
		if (m->counters(&x->sh->counts[idx]))
			ret = -1;
		else
			x->sh->counted[idx] = 1;
	}
out:
	for (i = 0; i < c->chain; i++)
		if (x->ch[i].priv && x->ch[i].mech->teardown(&x->ch[i]))
			ret = -1;
	_exit(ret ? 1 : 0);
}

static _Noreturn void child(struct ctx *x, int idx, pid_t coordinator, int fd)
{
	set_role(x->cfg, idx);
	bench_sink = &x->sh->err;
	/*
	 * An interrupted suite must not leave processes blocked forever;
	 * the death signal survives the exec of a MECH_RPAL_RUN process.
	 */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) || getppid() != coordinator)
		_exit(1);
	/* a dead peer should read as EPIPE with a message, not a signal */
	signal(SIGPIPE, SIG_IGN);
	if (x->cfg->mech->flags & MECH_RPAL_RUN) {
		exec_in_slot(fd, idx);
		_exit(1);
	}
	row_process(x, idx);
}

static _Noreturn void bad_row_process(const char *why)
{
	fprintf(stderr,
		"rpal-bench: %s: %s is for rpal-bench's own use, "
		"after rpal-run\n",
		why, ROW_PROCESS_OPT);
	_exit(2);
}

_Noreturn void run_row_process(int argc, char **argv)
{
	static struct run_cfg cfg;
	struct ctx x = { .cfg = &cfg };
	struct shared *sh;
	struct stat st;
	char *end;
	long fd, idx;
	int i;

	if (argc != 4)
		bad_row_process("wrong arguments");
	fd = strtol(argv[2], &end, 10);
	if (*end || fd < 0 || fd > INT32_MAX || fstat((int)fd, &st) ||
	    (size_t)st.st_size < sizeof(*sh))
		bad_row_process("not a run's memory");
	sh = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED,
		  (int)fd, 0);
	if (sh == MAP_FAILED || sh->magic != SHARED_MAGIC ||
	    sh->len != (size_t)st.st_size)
		bad_row_process("not a run's memory");
	close((int)fd);
	cfg = sh->cfg;
	cfg.mech = mech_find(sh->mech_name);
	idx = strtol(argv[3], &end, 10);
	if (*end || !cfg.mech || idx < 0 || idx > cfg.chain ||
	    cfg.chain > MAX_CHAIN)
		bad_row_process("bad process index");
	set_role(&cfg, (int)idx);
	bench_sink = &sh->err;
	if (getppid() != sh->coordinator) {
		bench_failx("the coordinator (pid %d) is gone; parent is %d",
			    (int)sh->coordinator, (int)getppid());
		_exit(1);
	}
	signal(SIGPIPE, SIG_IGN);
	x.sh = sh;
	for (i = 0; i < cfg.chain; i++) {
		x.ch[i].mech = cfg.mech;
		x.ch[i].max_msg = cfg.size;
		x.ch[i].side = -1;
		x.ch[i].shared = sh->chan_mem[i];
		x.ch[i].row_shared = sh->row_mem;
		x.ch[i].procs = cfg.chain + 1;
	}
	row_process(&x, (int)idx);
}

/*
 * Busy and total CPU time of the CPUs a row runs on, from /proc/stat, in
 * seconds. Interrupt time is left out of busy because getrusage() may
 * not charge it to the task that caused it, and steal is left out
 * altogether: it is the host's, not this machine's.
 */
static int cpus_time(const struct run_cfg *c, double *busy, double *total)
{
	unsigned long long user, nice, sys, idle, iowait, irq, softirq;
	double hz = (double)sysconf(_SC_CLK_TCK);
	FILE *f = fopen("/proc/stat", "re");
	char line[512];
	int cpu, found = 0;

	if (!f)
		return -1;
	*busy = *total = 0;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "cpu%d %llu %llu %llu %llu %llu %llu %llu",
			   &cpu, &user, &nice, &sys, &idle, &iowait, &irq,
			   &softirq) != 8)
			continue;
		if (cpu != c->cpu[0] && !(c->cross && cpu == c->cpu[1]))
			continue;
		*busy += (double)(user + nice + sys) / hz;
		*total += (double)(user + nice + sys + idle + iowait + irq +
				   softirq) /
			  hz;
		found++;
	}
	fclose(f);
	return found && hz > 0 ? 0 : -1;
}

static double children_cpu(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_CHILDREN, &ru))
		return 0;
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec * 1e-6 +
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec * 1e-6;
}

/*
 * How much of its CPUs other processes used during a row: their busy
 * time less what this row's processes used. A row that ran next to a
 * compiler is not a measurement of the mechanism alone, and the report
 * says so instead of leaving the reader to guess from the noise.
 */
struct load_probe {
	double busy, total, mine;
	bool ok;
};

static void load_start(const struct run_cfg *c, struct load_probe *lp)
{
	lp->ok = !cpus_time(c, &lp->busy, &lp->total);
	lp->mine = children_cpu();
}

static double load_others(const struct run_cfg *c, const struct load_probe *lp)
{
	double busy, total, others;

	if (!lp->ok || cpus_time(c, &busy, &total) || total <= lp->total)
		return -1;
	others = (busy - lp->busy) - (children_cpu() - lp->mine);
	others /= total - lp->total;
	return others < 0 ? 0 : others;
}

static volatile sig_atomic_t alarmed;

static void on_alarm(int sig)
{
	(void)sig;
	alarmed = 1;
}

static void kill_all(pid_t *pids, int n)
{
	int i;

	for (i = 0; i < n; i++)
		if (pids[i] > 0)
			kill(pids[i], SIGKILL);
}

static void describe_exit(int idx, int st, char *why, size_t len)
{
	char who[24];

	if (idx)
		snprintf(who, sizeof(who), "service %d", idx);
	else
		snprintf(who, sizeof(who), "client");
	if (WIFSIGNALED(st))
		snprintf(why, len, "%s killed by signal %d (%s)", who,
			 WTERMSIG(st), strsignal(WTERMSIG(st)));
	else
		snprintf(why, len, "%s exited with status %d", who,
			 WEXITSTATUS(st));
}

/*
 * Wait for every process of the run; the first failure (or the timeout)
 * kills the rest, since they are likely blocked on the one that died.
 */
static int reap_all(pid_t *pids, int n, double timeout, struct run_result *res)
{
	struct sigaction sa = { .sa_handler = on_alarm };
	int live = n, failed = 0, i, st;

	/* no SA_RESTART: waitpid() must return when the alarm fires */
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGALRM, &sa, NULL))
		return bench_fail("sigaction(SIGALRM)");
	alarmed = 0;
	alarm((unsigned int)ceil(timeout));
	while (live) {
		pid_t pid = waitpid(-1, &st, 0);

		if (pid < 0) {
			if (errno != EINTR) {
				bench_fail("waitpid");
				kill_all(pids, n);
				failed = 1;
				break;
			}
			if (alarmed && !failed) {
				failed = 1;
				snprintf(res->why, sizeof(res->why),
					 "timed out after %.0f s", timeout);
				kill_all(pids, n);
			}
			continue;
		}
		for (i = 0; i < n && pids[i] != pid; i++)
			;
		if (i == n)
			continue;
		pids[i] = -1;
		live--;
		if ((!WIFEXITED(st) || WEXITSTATUS(st)) && !failed) {
			failed = 1;
			describe_exit(i, st, res->why, sizeof(res->why));
			kill_all(pids, n);
		}
	}
	alarm(0);
	return failed ? -1 : 0;
}

static void collect(const struct run_cfg *c, struct shared *sh,
		    struct run_result *res)
{
	int64_t *rtt = sh->samples, *oneway = sh->samples + c->count;
	uint64_t i;
	int p;

	if (sh->n_last != sh->n_client) {
		res->status = RUN_FAILED;
		snprintf(res->why, sizeof(res->why),
			 "client measured %" PRIu64
			 " round trips, last service %" PRIu64,
			 sh->n_client, sh->n_last);
		return;
	}
	res->n = sh->n_client;
	res->seconds = sh->seconds;
	for (i = 0; i < res->n; i++)
		if (oneway[i] < 0)
			res->neg_oneway++;
	dist_of(rtt, res->n, &res->rtt);
	dist_of(oneway, res->n, &res->oneway);
	res->counted = true;
	for (p = 0; p <= c->chain; p++) {
		double s =
			(double)(sh->use[p].user_ns + sh->use[p].sys_ns) * 1e-9;

		res->counted = res->counted && sh->counted[p];
		res->counts.sends += sh->counts[p].sends;
		res->counts.direct += sh->counts[p].direct;
		res->counts.proxied += sh->counts[p].proxied;
		if (p)
			res->cpu_services += s;
		else
			res->cpu_client = s;
		res->csw += (double)sh->use[p].csw;
	}
}

int run_one(const struct run_cfg *c, struct run_result *res)
{
	size_t sh_len = sizeof(struct shared) + 2 * c->count * sizeof(int64_t);
	pid_t pids[MAX_CHAIN + 1], me = getpid();
	struct ctx x = { .cfg = c };
	struct load_probe lp = { 0 };
	const char *why;
	int i, n = 0, fd;

	memset(res, 0, sizeof(*res));
	res->other_load = -1;
	if (c->mech->pending) {
		res->status = RUN_PENDING;
		snprintf(res->why, sizeof(res->why), "%s", c->mech->pending);
		return 0;
	}
	if (c->mech->unavailable && (why = c->mech->unavailable())) {
		res->status = RUN_SKIPPED;
		snprintf(res->why, sizeof(res->why), "unavailable here: %s",
			 why);
		return 0;
	}
	res->status = RUN_FAILED;
	/* a file, not anonymous memory: it must outlive an exec */
	fd = memfd_create("rpal-bench-row", MFD_CLOEXEC);
	if (fd < 0 || ftruncate(fd, (off_t)sh_len)) {
		bench_fail("memfd of %zu bytes for results", sh_len);
		snprintf(res->why, sizeof(res->why), "no memory for results");
		if (fd >= 0)
			close(fd);
		return -1;
	}
	x.sh = mmap(NULL, sh_len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (x.sh == MAP_FAILED) {
		bench_fail("mmap of %zu bytes for results", sh_len);
		snprintf(res->why, sizeof(res->why), "no memory for results");
		close(fd);
		return -1;
	}
	x.sh->magic = SHARED_MAGIC;
	x.sh->len = sh_len;
	x.sh->cfg = *c;
	snprintf(x.sh->mech_name, sizeof(x.sh->mech_name), "%s", c->mech->name);
	x.sh->coordinator = me;
	bench_sink = &x.sh->err;
	for (i = 0; i < c->chain; i++) {
		x.ch[i].mech = c->mech;
		x.ch[i].max_msg = c->size;
		x.ch[i].side = -1;
		x.ch[i].shared = x.sh->chan_mem[i];
		x.ch[i].row_shared = x.sh->row_mem;
		x.ch[i].procs = c->chain + 1;
		if (c->mech->setup && c->mech->setup(&x.ch[i]))
			goto out;
	}
	/* children must not flush the coordinator's buffers again */
	fflush(stdout);
	fflush(stderr);
	load_start(c, &lp);
	for (n = 0; n <= c->chain; n++) {
		pids[n] = fork();
		if (pids[n] < 0) {
			bench_fail("fork");
			kill_all(pids, n);
			while (n--)
				waitpid(pids[n], NULL, 0);
			goto out;
		}
		if (!pids[n])
			child(&x, n, me, fd);
	}
	for (i = 0; i < c->chain; i++)
		c->mech->teardown(&x.ch[i]);
	if (!reap_all(pids, n, c->timeout, res)) {
		res->status = RUN_OK;
		res->other_load = load_others(c, &lp);
		collect(c, x.sh, res);
	}
out:
	for (i = 0; i < c->chain; i++)
		if (x.ch[i].priv)
			c->mech->teardown(&x.ch[i]);
	if (res->status == RUN_FAILED && x.sh->err.taken)
		snprintf(res->why, sizeof(res->why), "%s", x.sh->err.msg);
	else if (res->status == RUN_FAILED && !res->why[0])
		snprintf(res->why, sizeof(res->why), "setup failed");
	bench_sink = NULL;
	munmap(x.sh, sh_len);
	close(fd);
	return res->status == RUN_FAILED ? -1 : 0;
}
