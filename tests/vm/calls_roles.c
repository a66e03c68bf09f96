// SPDX-License-Identifier: MIT
/*
 * The services of the calls test, each started by rpal-run:
 *
 *   receiver [--threads N]  serves messages with rpal_epoll_wait() on N
 *                           threads (receiver indexes 0..N-1); takes
 *                           commands on stdin (PEER, REPORT), prints
 *                           what its handlers saw on stdout.
 *   sender SCENARIO ARGS    connects to the receiver it is introduced to,
 *                           runs SCENARIO, prints "RESULT ...".
 *
 * Both print "ID <id> <generation> <token> <pid> <pkey>" first.
 */
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <ucontext.h>

#include <rpal/rpal.h>
#include <uapi/rpal.h>

#include "calls.h"

#define MAX_RX 8

/* One line per write(2): several threads print at once. */
static void say(const char *fmt, ...)
{
	char b[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(b, sizeof(b), fmt, ap);
	va_end(ap);
	if (n > (int)sizeof(b) - 1)
		n = sizeof(b) - 1;
	if (write(1, b, (size_t)n) < 0)
		_exit(3);
}

static _Noreturn void die(const char *what, int err)
{
	say("FAIL %s: %d (%s)\n", what, err, rpal_error_hint(err));
	exit(1);
}

static void print_identity(void)
{
	struct rpal_identity id;
	int ret = rpal_self(&id);

	if (ret)
		die("rpal_self", ret);
	say("ID %u %u %llu %d %d\n", id.id, id.generation,
	    (unsigned long long)id.token, id.pid, id.pkey);
}

static int parse_identity(const char *s, struct rpal_identity *id)
{
	unsigned long long token;

	if (sscanf(s, "%u %u %llu %d %d", &id->id, &id->generation, &token,
		   &id->pid, &id->pkey) != 5)
		return -EINVAL;
	id->token = token;
	return 0;
}

/* ---- receiver ---- */

struct rx {
	int index;
	_Atomic unsigned long long count, errors;
	_Atomic unsigned long long proxied, rescued;
	uint32_t next[256][16];
};

static struct rx rxs[MAX_RX];
static int nrx = 1;
static pthread_barrier_t rx_ready;

static void on_segv(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	say("segv code=%d pkey=%d addr=%p ip=%llx\n", si->si_code, si->si_pkey,
	    si->si_addr,
	    (unsigned long long)((ucontext_t *)uc)->uc_mcontext.gregs[REG_RIP]);
	_exit(42);
}

/*
 * From inside a call, a wait on another epoll set (fd 3 only), with its
 * own events array and a timeout, in a deeper frame than the loop's: the
 * call ends there, and the thread's own wait fiber must finish this wait,
 * polling this set and filling this array, not the loop's.
 */
static __attribute__((noinline)) void other_wait(void)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u32 = 3 };
	struct epoll_event mine[2] = { { 0 } };
	int ep = epoll_create1(EPOLL_CLOEXEC), n, in_call;
	char c;

	if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, 3, &ev))
		die("other epoll", -errno);
	in_call = rpal_read_caller(&c, &c, 0) == 0;
	say("other-wait start in_call=%d\n", in_call);
	n = rpal_epoll_wait(ep, mine, 2, 30000);
	in_call = rpal_read_caller(&c, &c, 0) == 0;
	say("other-wait n=%d tag=%u in_call=%d\n", n, mine[0].data.u32,
	    in_call);
	if (n == 1 && read(3, &c, 1) != 1)
		die("read fd 3", -errno);
	close(ep);
}

static void handle(struct rx *r, const struct calls_msg *m,
		   const struct rpal_msg_info *info)
{
	char buf[256];
	ssize_t n;
	long end;
	int ret;

	switch (m->op) {
	case OP_SEQ: {
		uint32_t *next =
			&r->next[info->sender_id & 255][m->stream & 15];

		if (m->seq != *next)
			r->errors++;
		*next = m->seq + 1;
		r->count++;
		break;
	}
	case OP_GETPID:
		say("pid %d\n", getpid());
		break;
	case OP_WRITE:
		n = write(4, "written by the handler", 22);
		say("wrote %zd\n", n);
		break;
	case OP_READ:
		n = read(3, buf, sizeof(buf) - 1);
		buf[n > 0 ? n : 0] = 0;
		say("read %s\n", buf);
		break;
	case OP_READ_CALLER:
		memset(buf, 0, sizeof(buf));
		ret = rpal_read_caller(buf, (const void *)(uintptr_t)m->arg,
				       m->arg2 < sizeof(buf) ? m->arg2
							     : sizeof(buf) - 1);
		say("readcaller %d %s\n", ret, buf);
		break;
	case OP_TOUCH_CALLER:
		say("touched %c\n", *(volatile char *)(uintptr_t)m->arg);
		break;
	case OP_OTHER_WAIT:
		other_wait();
		break;
	case OP_SPIN:
		say("spinning\n");
		end = calls_now_ms() + (long)m->arg;
		while (calls_now_ms() < end)
			;
		say("spin-done %ld\n", calls_now_ms());
		break;
	}
}

static void drain(struct rx *r)
{
	struct rpal_thread_stats st;
	struct rpal_msg_info info;
	struct calls_msg m;

	while (rpal_recv(&m, sizeof(m), &info) >= 0)
		handle(r, &m, &info);
	if (!rpal_thread_stats(&st)) {
		r->proxied = st.proxied;
		r->rescued = st.rescued;
	}
}

/* Wait until thread @i's count stops moving, then report it. */
static void report(int i)
{
	struct rx *r = &rxs[i];
	unsigned long long c;

	do {
		c = r->count;
		usleep(300 * 1000);
	} while (c != r->count);
	say("report %d count=%llu errors=%llu proxied=%llu rescued=%llu\n", i,
	    (unsigned long long)r->count, (unsigned long long)r->errors,
	    (unsigned long long)r->proxied, (unsigned long long)r->rescued);
}

/* A command from the orchestrator (only ever in the thread's own wait). */
static void command(void)
{
	static rpal_peer_t *peers[16];
	static int npeers;
	struct rpal_identity id;
	char line[256];
	ssize_t n = 0;
	int ret;

	/* Byte by byte: stdin is shared with nothing, lines are short. */
	while (n < (ssize_t)sizeof(line) - 1) {
		ssize_t r = read(0, line + n, 1);

		if (r <= 0)
			exit(0); /* stdin closed: the test is over */
		if (line[n++] == '\n')
			break;
	}
	line[n] = 0;
	if (!strncmp(line, "PEER ", 5)) {
		if (parse_identity(line + 5, &id) || npeers == 16)
			die("PEER", -EINVAL);
		ret = rpal_connect(&id, 60000, &peers[npeers]);
		if (ret)
			die("rpal_connect", ret);
		npeers++;
		say("connected %u\n", id.id);
	} else if (!strncmp(line, "REPORT ", 7)) {
		report(atoi(line + 7));
	}
}

static void rx_loop(struct rx *r, bool main_thread)
{
	struct epoll_event ev = { .events = EPOLLIN }, evs[4];
	int ep = epoll_create1(EPOLL_CLOEXEC), n;

	ev.data.u32 = 1;
	if (ep < 0 ||
	    rpal_epoll_ctl(ep, EPOLL_CTL_ADD, rpal_receiver_fd(), &ev))
		die("epoll", -errno);
	if (main_thread) {
		ev.data.u32 = 2;
		if (epoll_ctl(ep, EPOLL_CTL_ADD, 0, &ev))
			die("epoll stdin", -errno);
	}
	for (;;) {
		n = rpal_epoll_wait(ep, evs, 4, -1);
		if (n < 0 && errno != EINTR)
			die("rpal_epoll_wait", -errno);
		drain(r);
		for (int i = 0; i < n; i++)
			if (evs[i].data.u32 == 2)
				command();
	}
}

static void *rx_thread(void *arg)
{
	struct rx *r = arg;
	int ret = rpal_thread_init();

	if (ret < 0)
		die("rpal_thread_init", ret);
	r->index = ret;
	pthread_barrier_wait(&rx_ready);
	rx_loop(r, false);
	return NULL;
}

static int receiver_main(int argc, char **argv)
{
	struct sigaction sa;
	pthread_t th;
	int ret;

	if (argc >= 3 && !strcmp(argv[1], "--threads"))
		nrx = atoi(argv[2]);
	if (nrx < 1 || nrx > MAX_RX)
		die("--threads", -EINVAL);
	ret = rpal_init(NULL);
	if (ret)
		die("rpal_init", ret);
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_segv;
	sa.sa_flags = SA_SIGINFO;
	ret = rpal_sigaction(SIGSEGV, &sa, NULL);
	if (ret)
		die("rpal_sigaction", ret);
	pthread_barrier_init(&rx_ready, NULL, (unsigned)nrx);
	for (int i = 1; i < nrx; i++)
		if (pthread_create(&th, NULL, rx_thread, &rxs[i]))
			die("pthread_create", -EAGAIN);
	pthread_barrier_wait(&rx_ready);
	print_identity();
	rx_loop(&rxs[0], true);
	return 0;
}

/* ---- sender ---- */

static rpal_peer_t *peer;
static __thread int tls_magic;
static int own_anchor;

static int send_msg(uint32_t receiver, uint32_t op, uint32_t stream,
		    uint32_t seq, uint64_t arg, uint64_t arg2)
{
	struct calls_msg m = {
		.op = op, .stream = stream, .seq = seq, .arg = arg, .arg2 = arg2
	};
	int ret;

	while ((ret = rpal_send(peer, receiver, &m, sizeof(m))) == -EAGAIN)
		usleep(50);
	return ret;
}

static unsigned long long calls_so_far(void)
{
	struct rpal_thread_stats st;

	return rpal_thread_stats(&st) ? 0 : st.calls;
}

static void connect_receiver(void)
{
	struct rpal_identity id;
	char line[256];
	struct lines in;
	int ret;

	lines_init(&in, 0);
	if (lines_expect(&in, "PEER ", line, sizeof(line), 60000) ||
	    parse_identity(line + 5, &id))
		die("PEER", -EINVAL);
	ret = rpal_connect(&id, 60000, &peer);
	if (ret)
		die("rpal_connect", ret);
	/* Let the receiver reach its wait: the next send can be a call. */
	usleep(300 * 1000);
}

static int scenario_stream(int n)
{
	unsigned long long calls;

	for (int i = 0; i < n; i++) {
		int ret = send_msg(0, OP_SEQ, 0, (uint32_t)i, 0, 0);

		if (ret)
			die("rpal_send", ret);
	}
	calls = calls_so_far();
	/* Reports the call time still batched: rpalctl sees it all. */
	rpal_thread_fini();
	say("RESULT sent=%d calls=%llu\n", n, calls);
	return 0;
}

struct multi_arg {
	int stream, receivers, count;
	unsigned long long calls;
};

static void *multi_thread(void *p)
{
	struct multi_arg *a = p;
	int ret = rpal_thread_init();

	if (ret < 0)
		die("rpal_thread_init", ret);
	for (int k = 0; k < a->count; k++)
		for (int r = 0; r < a->receivers; r++) {
			ret = send_msg((uint32_t)r, OP_SEQ, (uint32_t)a->stream,
				       (uint32_t)k, 0, 0);
			if (ret)
				die("rpal_send", ret);
		}
	a->calls = calls_so_far();
	return NULL;
}

static int scenario_multi(int threads, int receivers, int count)
{
	struct multi_arg a[16];
	pthread_t th[16];
	unsigned long long calls = 0;

	if (threads > 16)
		die("multi", -EINVAL);
	for (int i = 0; i < threads; i++) {
		a[i] = (struct multi_arg){ i, receivers, count, 0 };
		if (pthread_create(&th[i], NULL, multi_thread, &a[i]))
			die("pthread_create", -EAGAIN);
	}
	for (int i = 0; i < threads; i++) {
		pthread_join(th[i], NULL);
		calls += a[i].calls;
	}
	say("RESULT sent=%d calls=%llu\n", threads * receivers * count, calls);
	return 0;
}

static int scenario_syscalls(void)
{
	unsigned long long before = calls_so_far();
	long t0, t1;
	int ret;

	ret = send_msg(0, OP_GETPID, 0, 0, 0, 0);
	if (ret)
		die("send getpid", ret);
	usleep(300 * 1000);
	ret = send_msg(0, OP_WRITE, 0, 0, 0, 0);
	if (ret)
		die("send write", ret);
	usleep(300 * 1000);
	say("reading\n");
	t0 = calls_now_ms();
	ret = send_msg(0, OP_READ, 0, 0, 0, 0);
	t1 = calls_now_ms();
	if (ret)
		die("send read", ret);
	say("RESULT calls_before=%llu calls_after=%llu blocked_ms=%ld\n",
	    before, calls_so_far(), t1 - t0);
	return 0;
}

/* The receiver leaves the call in a wait of its own: the send returns. */
static int scenario_other_wait(void)
{
	unsigned long long before = calls_so_far();
	int ret = send_msg(0, OP_OTHER_WAIT, 0, 0, 0, 0);

	if (ret)
		die("send other-wait", ret);
	say("RESULT calls=%llu\n", calls_so_far() - before);
	return 0;
}

static int scenario_caller_memory(void)
{
	static const char secret[] = "the sender's secret";
	unsigned long long before = calls_so_far();
	char *buf = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	int r1, r2;

	if (buf == MAP_FAILED)
		die("mmap", -errno);
	memcpy(buf, secret, sizeof(secret));
	r1 = send_msg(0, OP_READ_CALLER, 0, 0, (uintptr_t)buf, sizeof(secret));
	usleep(300 * 1000);
	r2 = send_msg(0, OP_TOUCH_CALLER, 0, 0, (uintptr_t)buf, 0);
	say("RESULT read=%d touch=%d calls=%llu\n", r1, r2,
	    calls_so_far() - before);
	return 0;
}

static int scenario_spin(int ms)
{
	unsigned long long before = calls_so_far();
	int ret = send_msg(0, OP_SPIN, 0, 0, (uint64_t)ms, 0);

	say("RESULT send=%d in_call=%llu alive=1\n", ret,
	    calls_so_far() - before);
	return 0;
}

static _Atomic long handler_ms;
static _Atomic int handler_own_stack, handler_own_tls;
static _Atomic pid_t main_tid;

static void on_usr1(int sig)
{
	int here;

	(void)sig;
	handler_ms = calls_now_ms();
	/* Our stack and our TLS, not the receiver's. */
	handler_own_stack = ((uintptr_t)&here >> RPAL_SLOT_SHIFT) ==
			    ((uintptr_t)&own_anchor >> RPAL_SLOT_SHIFT);
	handler_own_tls = tls_magic == 0x5a5a;
}

static void *signaller(void *arg)
{
	(void)arg;
	usleep(400 * 1000);
	syscall(SYS_tgkill, getpid(), main_tid, SIGUSR1);
	return NULL;
}

static int scenario_signal(void)
{
	struct rpal_thread_stats st;
	struct sigaction sa;
	pthread_t th;
	int ret;

	tls_magic = 0x5a5a;
	main_tid = (pid_t)syscall(SYS_gettid);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_usr1;
	ret = rpal_sigaction(SIGUSR1, &sa, NULL);
	if (ret)
		die("rpal_sigaction", ret);
	if (pthread_create(&th, NULL, signaller, NULL))
		die("pthread_create", -EAGAIN);
	ret = send_msg(0, OP_SPIN, 0, 0, 1500, 0);
	if (ret)
		die("send spin", ret);
	pthread_join(th, NULL);
	if (rpal_thread_stats(&st))
		die("stats", -EPERM);
	say("RESULT handler_ms=%ld own_stack=%d own_tls=%d deferred=%llu\n",
	    (long)handler_ms, handler_own_stack, handler_own_tls,
	    (unsigned long long)st.deferred_sig);
	return 0;
}

/* Stay a live peer until the orchestrator is done (closes our stdin). */
static int linger(int ret)
{
	char c;

	while (read(0, &c, 1) > 0)
		;
	return ret;
}

static int sender_main(int argc, char **argv)
{
	int ret;

	if (argc < 2)
		die("sender: no scenario", -EINVAL);
	ret = rpal_init(NULL);
	if (ret)
		die("rpal_init", ret);
	print_identity();
	connect_receiver();
	if (!strcmp(argv[1], "stream") && argc > 2)
		return linger(scenario_stream(atoi(argv[2])));
	if (!strcmp(argv[1], "multi") && argc > 4)
		return linger(scenario_multi(atoi(argv[2]), atoi(argv[3]),
					     atoi(argv[4])));
	if (!strcmp(argv[1], "syscalls"))
		return linger(scenario_syscalls());
	if (!strcmp(argv[1], "other-wait"))
		return linger(scenario_other_wait());
	if (!strcmp(argv[1], "caller-memory"))
		return linger(scenario_caller_memory());
	if (!strcmp(argv[1], "spin") && argc > 2)
		return linger(scenario_spin(atoi(argv[2])));
	if (!strcmp(argv[1], "signal"))
		return linger(scenario_signal());
	die("sender: unknown scenario", -EINVAL);
}

int calls_role_main(int argc, char **argv)
{
	if (!strcmp(argv[0], "receiver"))
		return receiver_main(argc, argv);
	if (!strcmp(argv[0], "sender"))
		return sender_main(argc, argv);
	return 2;
}
