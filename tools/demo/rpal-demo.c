// SPDX-License-Identifier: MIT
/*
 * rpal-demo: the seed's experiment. N messages of 32 bytes from a client
 * process to a server process; the client stamps the TSC into each
 * message as the last thing before sending, the server subtracts on
 * receipt: one-way latency in TSC cycles. First over epoll + a Unix
 * stream socket, then as RPAL calls, in the same run, side by side.
 *
 * The RPAL half runs two services started by rpal-run: this program
 * again, with --role receiver or --role sender. The orchestrator relays
 * their identities over their stdin/stdout.
 */
#include <errno.h>
#include <getopt.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <rpal/rpal.h>
#include <uapi/rpal.h>

#define MSG_SIZE 32

struct msg {
	uint64_t stamp; /* rdtsc at send */
	uint64_t seq;
	uint64_t pad[2];
};

_Static_assert(sizeof(struct msg) == MSG_SIZE, "the seed's 32 bytes");

/* What a server measured. */
struct result {
	uint64_t n, order_errors;
	double mean;
	uint64_t p50, p99, p999;
	double seconds; /* first to last receipt */
};

static uint64_t rdtsc(void)
{
	return __builtin_ia32_rdtsc();
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* The server's bookkeeping, the same for both mechanisms. */
struct samples {
	uint64_t *v, n, want, next_seq, order_errors;
	struct timespec first, last;
};

static int samples_init(struct samples *s, uint64_t want)
{
	memset(s, 0, sizeof(*s));
	s->want = want;
	s->v = malloc(want * sizeof(*s->v));
	return s->v ? 0 : -ENOMEM;
}

/* Returns true once all messages are in. */
static bool samples_add(struct samples *s, const struct msg *m, uint64_t now)
{
	if (!s->n)
		clock_gettime(CLOCK_MONOTONIC, &s->first);
	if (m->seq != s->next_seq)
		s->order_errors++;
	s->next_seq = m->seq + 1;
	if (s->n < s->want)
		s->v[s->n++] = now - m->stamp;
	if (s->n < s->want)
		return false;
	clock_gettime(CLOCK_MONOTONIC, &s->last);
	return true;
}

static void samples_result(struct samples *s, struct result *r)
{
	double sum = 0;

	memset(r, 0, sizeof(*r));
	r->n = s->n;
	r->order_errors = s->order_errors;
	if (!s->n)
		return;
	for (uint64_t i = 0; i < s->n; i++)
		sum += (double)s->v[i];
	r->mean = sum / (double)s->n;
	qsort(s->v, s->n, sizeof(*s->v), cmp_u64);
	r->p50 = s->v[s->n / 2];
	r->p99 = s->v[s->n * 99 / 100];
	r->p999 = s->v[s->n * 999 / 1000];
	r->seconds = (double)(s->last.tv_sec - s->first.tv_sec) +
		     (double)(s->last.tv_nsec - s->first.tv_nsec) / 1e9;
}

/* Long runs (an emulated VM) say how far they are, on stderr. */
static void progress(const char *what, uint64_t i, uint64_t count)
{
	if (count >= 100000 && i && i % (count / 10) == 0)
		fprintf(stderr, "rpal-demo: %s %llu%%\n", what,
			(unsigned long long)(i * 100 / count));
}

static int full_io(int fd, void *buf, size_t len, bool wr)
{
	char *p = buf;

	while (len) {
		ssize_t n = wr ? write(fd, p, len) : read(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n ? -errno : -EPIPE;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/*
 * epoll + AF_UNIX stream, the seed's baseline. The server acknowledges
 * each message with one byte and the client waits for it, so messages
 * never queue in the socket: the latency measured is a message's own,
 * as for an RPAL call, which returns once the receiver has it.
 */
static int run_epoll(uint64_t count, struct result *out)
{
	struct result *shared =
		mmap(NULL, sizeof(*shared), PROT_READ | PROT_WRITE,
		     MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	int sv[2], status;
	pid_t pid;

	if (shared == MAP_FAILED || socketpair(AF_UNIX, SOCK_STREAM, 0, sv))
		return -errno;
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		struct epoll_event ev = { .events = EPOLLIN }, got;
		int ep = epoll_create1(0);
		struct samples s;
		struct msg m;
		char ack = 'k';

		close(sv[0]);
		if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, sv[1], &ev) ||
		    samples_init(&s, count))
			_exit(1);
		for (;;) {
			int n = epoll_wait(ep, &got, 1, -1);

			if (n < 0 && errno == EINTR)
				continue;
			if (n != 1 || full_io(sv[1], &m, sizeof(m), false))
				_exit(1);
			if (samples_add(&s, &m, rdtsc()))
				break;
			if (full_io(sv[1], &ack, 1, true))
				_exit(1);
		}
		samples_result(&s, shared);
		_exit(full_io(sv[1], &ack, 1, true) ? 1 : 0);
	}
	close(sv[1]);
	for (uint64_t i = 0; i < count; i++) {
		struct msg m = { .seq = i };
		char ack;

		progress("epoll + AF_UNIX", i, count);

		m.stamp = rdtsc();
		if (full_io(sv[0], &m, sizeof(m), true) ||
		    full_io(sv[0], &ack, 1, false))
			break;
	}
	close(sv[0]);
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
	    WEXITSTATUS(status))
		return -EPIPE;
	*out = *shared;
	munmap(shared, sizeof(*shared));
	return 0;
}

/* ---- the RPAL services ---- */

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void say(const char *fmt, ...)
{
	char b[256];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(b, sizeof(b), fmt, ap);
	va_end(ap);
	if (n > (int)sizeof(b) - 1)
		n = sizeof(b) - 1;
	if (full_io(1, b, (size_t)n, true))
		_exit(3);
}

static _Noreturn void die(const char *what, int err)
{
	say("FAIL %s: %s (%s)\n", what, strerror(err < 0 ? -err : err),
	    rpal_error_hint(err));
	exit(1);
}

/* Our identity on stdout; the peer's from stdin; connect. */
static rpal_peer_t *introduce(void)
{
	struct rpal_identity id;
	unsigned long long token;
	rpal_peer_t *peer;
	char line[256];
	int ret = rpal_self(&id);

	if (ret)
		die("rpal_self", ret);
	say("ID %u %u %llu %d %d\n", id.id, id.generation,
	    (unsigned long long)id.token, id.pid, id.pkey);
	if (!fgets(line, sizeof(line), stdin) ||
	    sscanf(line, "PEER %u %u %llu %d %d", &id.id, &id.generation,
		   &token, &id.pid, &id.pkey) != 5)
		die("PEER line", -EINVAL);
	id.token = token;
	ret = rpal_connect(&id, 60000, &peer);
	if (ret)
		die("rpal_connect", ret);
	return peer;
}

/*
 * The receiver: an epoll loop like the server above, with
 * rpal_epoll_wait(). Its code runs on the sender's thread (the call);
 * the result line is a write() from there, which the module runs in
 * this process (lazy switch).
 */
static int receiver_main(uint64_t count)
{
	struct epoll_event ev = { .events = EPOLLIN }, got[2];
	struct samples s;
	struct result r;
	int ep, ret;
	bool done = false;

	ret = rpal_init(NULL);
	if (ret)
		die("rpal_init", ret);
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0 || samples_init(&s, count))
		die("setup", -errno);
	introduce();
	ev.data.u32 = 1;
	if (rpal_epoll_ctl(ep, EPOLL_CTL_ADD, rpal_receiver_fd(), &ev))
		die("epoll_ctl", -errno);
	ev.data.u32 = 2; /* stdin: closed when the orchestrator is done */
	if (epoll_ctl(ep, EPOLL_CTL_ADD, 0, &ev))
		die("epoll_ctl", -errno);
	say("READY\n");
	for (;;) {
		struct msg m;
		int n = rpal_epoll_wait(ep, got, 2, -1);

		if (n < 0 && errno != EINTR)
			die("rpal_epoll_wait", -errno);
		while (rpal_recv(&m, sizeof(m), NULL) == (int)sizeof(m)) {
			if (!done && samples_add(&s, &m, rdtsc())) {
				done = true;
				samples_result(&s, &r);
				say("RESULT %llu %llu %.1f %llu %llu %llu "
				    "%.6f\n",
				    (unsigned long long)r.n,
				    (unsigned long long)r.order_errors, r.mean,
				    (unsigned long long)r.p50,
				    (unsigned long long)r.p99,
				    (unsigned long long)r.p999, r.seconds);
			}
		}
		for (int i = 0; i < n; i++)
			if (got[i].data.u32 == 2)
				return 0;
	}
}

static int sender_main(uint64_t count)
{
	struct rpal_thread_stats st;
	rpal_peer_t *peer;
	char line[64];
	int ret = rpal_init(NULL);

	if (ret)
		die("rpal_init", ret);
	peer = introduce();
	/* Start when the receiver waits: its first message can be a call. */
	if (!fgets(line, sizeof(line), stdin) || strcmp(line, "GO\n"))
		die("GO line", -EINVAL);
	for (uint64_t i = 0; i < count; i++) {
		struct msg m = { .seq = i };

		progress("RPAL", i, count);
		m.stamp = rdtsc();
		while ((ret = rpal_send(peer, 0, &m, sizeof(m))) == -EAGAIN)
			usleep(50);
		if (ret)
			die("rpal_send", ret);
	}
	ret = rpal_thread_stats(&st);
	if (ret)
		die("rpal_thread_stats", ret);
	/* Reports the call time still batched, for rpalctl status. */
	rpal_thread_fini();
	say("SENT %llu %llu\n", (unsigned long long)st.sends,
	    (unsigned long long)st.calls);
	/* Stay a live peer until the orchestrator is done. */
	while (fgets(line, sizeof(line), stdin))
		;
	return 0;
}

/* ---- the orchestrator ---- */

struct child {
	pid_t pid;
	FILE *in, *out;
	char ident[200];
};

static const char *self_path;

static int start(struct child *c, const char *role, uint64_t count)
{
	char n[32];
	int in[2], out[2];

	snprintf(n, sizeof(n), "%llu", (unsigned long long)count);
	if (pipe(in) || pipe(out))
		return -errno;
	c->pid = fork();
	if (c->pid < 0)
		return -errno;
	if (c->pid == 0) {
		dup2(in[0], 0);
		dup2(out[1], 1);
		close(in[0]);
		close(in[1]);
		close(out[0]);
		close(out[1]);
		execlp("rpal-run", "rpal-run", "--name", role, self_path,
		       "--role", role, "--count", n, (char *)NULL);
		fprintf(stderr, "rpal-demo: cannot run rpal-run: %s\n",
			strerror(errno));
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	c->in = fdopen(in[1], "w");
	c->out = fdopen(out[0], "r");
	if (!c->in || !c->out)
		return -errno;
	setvbuf(c->in, NULL, _IOLBF, 0);
	return 0;
}

/* The child's next line that starts with @want (its FAIL lines end it). */
static int expect(struct child *c, const char *want, char *line, size_t len)
{
	while (fgets(line, (int)len, c->out)) {
		if (!strncmp(line, want, strlen(want)))
			return 0;
		if (!strncmp(line, "FAIL", 4)) {
			fprintf(stderr, "rpal-demo: %s", line);
			return -EPROTO;
		}
	}
	fprintf(stderr, "rpal-demo: a service ended early (expected %s)\n",
		want);
	return -EPIPE;
}

static int finish(struct child *c)
{
	int status;

	fclose(c->in);
	fclose(c->out);
	if (waitpid(c->pid, &status, 0) != c->pid)
		return -ECHILD;
	return WIFEXITED(status) && !WEXITSTATUS(status) ? 0 : -EPROTO;
}

static int run_rpal(uint64_t count, bool show_status, struct result *out,
		    unsigned long long *calls)
{
	struct child rx, tx;
	char line[256];
	unsigned long long sent;
	int ret;

	if ((ret = start(&rx, "receiver", count)) ||
	    (ret = start(&tx, "sender", count)))
		return ret;
	if ((ret = expect(&rx, "ID ", rx.ident, sizeof(rx.ident))) ||
	    (ret = expect(&tx, "ID ", tx.ident, sizeof(tx.ident))))
		return ret;
	fprintf(rx.in, "PEER %s", tx.ident + 3);
	fprintf(tx.in, "PEER %s", rx.ident + 3);
	if ((ret = expect(&rx, "READY", line, sizeof(line))))
		return ret;
	/* Let the receiver reach rpal_epoll_wait(). */
	usleep(200 * 1000);
	fprintf(tx.in, "GO\n");
	if ((ret = expect(&tx, "SENT ", line, sizeof(line))))
		return ret;
	if (sscanf(line, "SENT %llu %llu", &sent, calls) != 2)
		return -EPROTO;
	if ((ret = expect(&rx, "RESULT ", line, sizeof(line))))
		return ret;
	memset(out, 0, sizeof(*out));
	if (sscanf(line, "RESULT %lu %lu %lf %lu %lu %lu %lf", &out->n,
		   &out->order_errors, &out->mean, &out->p50, &out->p99,
		   &out->p999, &out->seconds) != 7)
		return -EPROTO;
	if (show_status) {
		printf("\nrpalctl status, the services still up (the "
		       "receiver's CPU time corrected for the calls it "
		       "received):\n");
		fflush(stdout);
		if (system("rpalctl status"))
			fprintf(stderr, "rpal-demo: rpalctl status failed\n");
	}
	if (finish(&tx) | finish(&rx))
		return -EPROTO;
	return 0;
}

/* Where the timings come from: emulated, virtualised, or hardware. */
static const char *timing_note(void)
{
	char line[1024];
	bool vm = false, tcg = false;
	FILE *f = fopen("/proc/cpuinfo", "r");

	while (f && fgets(line, sizeof(line), f)) {
		if (!strncmp(line, "model name", 10) && strstr(line, "TCG"))
			tcg = true;
		if (!strncmp(line, "flags", 5) && strstr(line, " hypervisor"))
			vm = true;
	}
	if (f)
		fclose(f);
	if (tcg)
		return " (QEMU TCG: timings emulated, compare ratios only)";
	return vm ? " (in a virtual machine)" : "";
}

static void row(const char *name, const struct result *r)
{
	printf("%-22s %10.0f %10llu %10llu %10llu %12.0f\n", name, r->mean,
	       (unsigned long long)r->p50, (unsigned long long)r->p99,
	       (unsigned long long)r->p999,
	       r->seconds > 0 ? (double)r->n / r->seconds : 0);
}

/*
 * Pin this process (and so every process it starts) to @cpu, or with -1
 * to the first CPU it may run on. Returns the CPU or -errno.
 */
static int pin_all(long cpu)
{
	cpu_set_t set;

	if (cpu < 0) {
		if (sched_getaffinity(0, sizeof(set), &set))
			return -errno;
		for (cpu = 0; cpu < CPU_SETSIZE && !CPU_ISSET(cpu, &set); cpu++)
			;
		if (cpu == CPU_SETSIZE)
			return -EINVAL;
	}
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	return sched_setaffinity(0, sizeof(set), &set) ? -errno : (int)cpu;
}

static void usage(FILE *f)
{
	fputs("NAME\n"
	      "    rpal-demo - the RPAL seed's latency experiment, epoll "
	      "against RPAL\n"
	      "\n"
	      "SYNOPSIS\n"
	      "    rpal-demo [--count N] [--status]\n"
	      "\n"
	      "DESCRIPTION\n"
	      "    Sends N messages of 32 bytes from a client process to a\n"
	      "    server process and reports the one-way latency in TSC\n"
	      "    cycles (the client stamps rdtsc into each message, the\n"
	      "    server subtracts on receipt): first over epoll and a Unix\n"
	      "    stream socket (the server acknowledges each message, so\n"
	      "    none waits behind another), then as RPAL calls between\n"
	      "    two services started with rpal-run (rpal_send() returns\n"
	      "    once the receiver has handled the message). Prints both\n"
	      "    side by side with their ratio. In a virtual machine\n"
	      "    timings are emulated: only the ratio means something, and\n"
	      "    only roughly.\n"
	      "\n"
	      "    Needs rpal.ko loaded and rpal-run in PATH.\n"
	      "\n"
	      "    Every process runs on one CPU (the first this one may\n"
	      "    use, or --cpu): an RPAL call runs the receiver's code on\n"
	      "    the sender's CPU, and the epoll pair is measured the same\n"
	      "    way. --no-pin leaves placement to the scheduler.\n"
	      "\n"
	      "OPTIONS\n"
	      "    -n, --count N  messages per mechanism (default 1000000)\n"
	      "    -c, --cpu N    the CPU to run on\n"
	      "        --no-pin   do not pin the processes\n"
	      "    -s, --status   show rpalctl status while the RPAL "
	      "services\n"
	      "                   are still up (needs root and debugfs)\n"
	      "    -h, --help     this text\n"
	      "\n"
	      "EXIT STATUS\n"
	      "    0 both ran, every message arrived in order; 1 a failure\n"
	      "    (the message says which); 2 bad usage.\n",
	      f);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "count", required_argument, NULL, 'n' },
		{ "status", no_argument, NULL, 's' },
		{ "cpu", required_argument, NULL, 'c' },
		{ "no-pin", no_argument, NULL, 'p' },
		{ "role", required_argument, NULL, 'r' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *role = NULL;
	unsigned long long count = 1000000, calls = 0;
	struct result ep, rp;
	struct rpal_info info;
	bool status = false, pin = true;
	long cpu = -1;
	char *end;
	int c, ret;

	while ((c = getopt_long(argc, argv, "n:sc:h", opts, NULL)) != -1) {
		switch (c) {
		case 'n':
			errno = 0;
			count = strtoull(optarg, &end, 10);
			if (errno || *end || !count || count > 100000000) {
				fprintf(stderr, "rpal-demo: --count: a number "
						"from 1 to 100000000\n");
				return 2;
			}
			break;
		case 's':
			status = true;
			break;
		case 'c':
			errno = 0;
			cpu = strtol(optarg, &end, 10);
			if (errno || *end || cpu < 0 || cpu >= CPU_SETSIZE) {
				fprintf(stderr,
					"rpal-demo: --cpu: a CPU number\n");
				return 2;
			}
			break;
		case 'p':
			pin = false;
			break;
		case 'r':
			role = optarg;
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
	if (role && !strcmp(role, "receiver"))
		return receiver_main(count);
	if (role && !strcmp(role, "sender"))
		return sender_main(count);
	if (role) {
		fprintf(stderr, "rpal-demo: unknown role %s\n", role);
		return 2;
	}
	self_path = realpath("/proc/self/exe", NULL);
	if (!self_path)
		return 1;
	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IOLBF, 0);
	ret = rpal_query(&info);
	if (ret < 0) {
		fprintf(stderr, "rpal-demo: %s (%s)\n", rpal_error_hint(ret),
			strerror(-ret));
		return 1;
	}

	if (pin) {
		ret = pin_all(cpu);
		if (ret < 0) {
			fprintf(stderr,
				"rpal-demo: cannot run on CPU %ld: %s\n", cpu,
				strerror(-ret));
			return 1;
		}
		cpu = ret;
	}
	printf("%llu messages of %d bytes, one-way latency in TSC cycles%s\n",
	       count, MSG_SIZE, timing_note());
	if (pin)
		printf("every process on CPU %ld (an RPAL call runs on the "
		       "sender's CPU)\n",
		       cpu);
	else
		printf("processes placed by the scheduler\n");
	if (!(info.features & RPAL_FEAT_PKU))
		printf("no protection keys: the services run unprotected\n");
	fprintf(stderr, "rpal-demo: epoll + AF_UNIX ...\n");
	ret = run_epoll(count, &ep);
	if (ret) {
		fprintf(stderr, "rpal-demo: epoll run failed: %s\n",
			strerror(-ret));
		return 1;
	}
	fprintf(stderr, "rpal-demo: RPAL ...\n");
	ret = run_rpal(count, status, &rp, &calls);
	if (ret) {
		fprintf(stderr, "rpal-demo: RPAL run failed: %s\n",
			strerror(-ret));
		return 1;
	}
	printf("\n%-22s %10s %10s %10s %10s %12s\n", "mechanism", "mean", "p50",
	       "p99", "p99.9", "msgs/s");
	row("epoll + AF_UNIX", &ep);
	row("RPAL call", &rp);
	printf("\nepoll / RPAL, mean: %.1fx; %llu of %llu RPAL messages "
	       "delivered by a direct call\n",
	       rp.mean > 0 ? ep.mean / rp.mean : 0, calls, count);
	if (ep.n != count || rp.n != count || ep.order_errors ||
	    rp.order_errors) {
		fprintf(stderr,
			"rpal-demo: messages lost or out of order (epoll %llu "
			"of %llu, %llu out of order; RPAL %llu, %llu)\n",
			(unsigned long long)ep.n, count,
			(unsigned long long)ep.order_errors,
			(unsigned long long)rp.n,
			(unsigned long long)rp.order_errors);
		return 1;
	}
	return 0;
}
