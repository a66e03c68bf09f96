// SPDX-License-Identifier: MIT
/*
 * RPAL calls between processes, end to end through librpal-rt, the way a
 * user runs them: every service is started by rpal-run. This binary is
 * the orchestrator (the tests below) and, re-executed with --role, a
 * receiver or a sender service; calls_roles.c holds the roles.
 *
 * The orchestrator relays identities between the services (their stdin
 * and stdout), gives the receiver two fds no other process has (a pipe to
 * block on, a file to write to), and judges what each side reports.
 */
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include "calls.h"
#include "vmtest.h"

#define RPAL_RUN "/rpal/bin/rpal-run"
#define SELF "/rpal/tests/calls"

struct svc {
	pid_t pid;
	int in;		  /* its stdin */
	struct lines out; /* its stdout */
	char ident[256];  /* "id gen token pid pkey" */
	int id, pkey;
};

static long mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * Start SELF --role @role under rpal-run with @args; the child's fd 3 and
 * 4 are @fd3 and @fd4 (or closed). Waits for its "ID" line.
 */
static int start(struct svc *s, const char *role, const char *const *args,
		 int fd3, int fd4)
{
	const char *argv[16] = { RPAL_RUN, SELF, "--role", role };
	int in[2], out[2], n = 4;
	char line[256];

	for (; args && *args && n < 15; args++)
		argv[n++] = *args;
	argv[n] = NULL;
	if (pipe(in) || pipe(out))
		return -errno;
	s->pid = fork();
	if (s->pid < 0)
		return -errno;
	if (s->pid == 0) {
		/* Out of the way first: either may already be 3 or 4. */
		fd3 = fd3 >= 0 ? fcntl(fd3, F_DUPFD, 64) : -1;
		fd4 = fd4 >= 0 ? fcntl(fd4, F_DUPFD, 64) : -1;
		dup2(in[0], 0);
		dup2(out[1], 1);
		if (fd3 >= 0)
			dup2(fd3, 3);
		else
			close(3);
		if (fd4 >= 0)
			dup2(fd4, 4);
		else
			close(4);
		for (int fd = 5; fd < 128; fd++)
			close(fd);
		execv(RPAL_RUN, (char *const *)argv);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	s->in = in[1];
	lines_init(&s->out, out[0]);
	if (lines_expect(&s->out, "ID ", line, sizeof(line), 60000))
		return -ETIMEDOUT;
	memcpy(s->ident, line + 3, sizeof(s->ident) - 3);
	s->ident[sizeof(s->ident) - 1] = 0;
	sscanf(s->ident, "%d %*u %*u %*d %d", &s->id, &s->pkey);
	return 0;
}

/* Introduce @a to @b (b connects to a). */
static void introduce(struct svc *a, struct svc *b)
{
	dprintf(b->in, "PEER %s\n", a->ident);
}

/* Both ways; both block in rpal_connect() until the other asked. */
static void pair(struct svc *rx, struct svc *tx)
{
	introduce(rx, tx);
	introduce(tx, rx);
}

static int finish(struct svc *s, int timeout_ms)
{
	long end = mono_ms() + timeout_ms;
	int status;

	close(s->in);
	for (;;) {
		pid_t r = waitpid(s->pid, &status, WNOHANG);

		if (r == s->pid)
			break;
		if (mono_ms() > end) {
			kill(s->pid, SIGKILL);
			waitpid(s->pid, &status, 0);
			return -ETIMEDOUT;
		}
		usleep(10000);
	}
	close(s->out.fd);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* The receiver's "report" line: count, order errors, proxied, rescued. */
static int report(struct svc *rx, int thread, unsigned long long *count,
		  unsigned long long *errors, unsigned long long *proxied,
		  unsigned long long *rescued)
{
	char line[256], want[32];

	dprintf(rx->in, "REPORT %d\n", thread);
	snprintf(want, sizeof(want), "report %d ", thread);
	if (lines_expect(&rx->out, want, line, sizeof(line), 60000))
		return -ETIMEDOUT;
	if (sscanf(line + strlen(want),
		   "count=%llu errors=%llu proxied=%llu rescued=%llu", count,
		   errors, proxied, rescued) != 4)
		return -EINVAL;
	return 0;
}

static bool have_pku(void)
{
	struct rpal_version v;
	int fd = rpal_open();
	bool pku;

	if (fd < 0)
		return false;
	pku = !rpal_version(fd, &v) && (v.features & RPAL_FEAT_PKU);
	close(fd);
	return pku;
}

/* The test's verdict from a sender: its RESULT line and exit status. */
static int sender_result(struct svc *tx, char *line, size_t len, int ms)
{
	if (lines_expect(&tx->out, "RESULT ", line, len, ms))
		return -ETIMEDOUT;
	return 0;
}

/* A service's row of "rpalctl status": calls and CPU time. */
struct status_row {
	unsigned long long calls_out, calls_in;
	double cpu_ms, rpal_cpu_ms;
};

static int rpalctl_row(pid_t pid, struct status_row *row)
{
	char line[512];
	int found = -ENOENT;
	FILE *f = popen("/rpal/bin/rpalctl status", "r");

	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		struct status_row r;
		int p;

		/* ID PID NAME SLOT BASE PKEY SEES FAULTS FLUSHES OUT IN CPU */
		if (sscanf(line,
			   "%*u %d %*s %*u %*s %*d %*s %*d %*d %llu %llu "
			   "%lf %lf",
			   &p, &r.calls_out, &r.calls_in, &r.cpu_ms,
			   &r.rpal_cpu_ms) == 5 &&
		    p == pid) {
			*row = r;
			found = 0;
		}
	}
	if (pclose(f))
		return -EIO;
	return found;
}

TEST_T(stream_of_a_million_messages_in_order, 600)
{
	const char *args[] = { "stream", "1000000", NULL };
	unsigned long long count, errors, proxied, rescued, calls = 0;
	struct status_row txs, rxs;
	struct svc rx, tx;
	char line[256];

	ASSERT_EQ(start(&rx, "receiver", NULL, -1, -1), 0);
	ASSERT_EQ(start(&tx, "sender", args, -1, -1), 0);
	pair(&rx, &tx);
	ASSERT_EQ(sender_result(&tx, line, sizeof(line), 550000), 0);
	TH_LOG("sender: %s", line);
	ASSERT_EQ(sscanf(line, "RESULT sent=%*u calls=%llu", &calls), 1);
	ASSERT_EQ(report(&rx, 0, &count, &errors, &proxied, &rescued), 0);
	EXPECT_EQ(count, 1000000ULL);
	EXPECT_EQ(errors, 0ULL);
	/* Some of them were delivered by calls, not only by wake-ups. */
	EXPECT_GT(calls, 0ULL);

	/*
	 * rpalctl: the calls counted on both sides; their time moved from
	 * the sender (whose thread ran them) to the receiver (whose code
	 * it was). The sender reported everything before its RESULT.
	 */
	ASSERT_EQ(rpalctl_row(tx.pid, &txs), 0);
	ASSERT_EQ(rpalctl_row(rx.pid, &rxs), 0);
	TH_LOG("sender: %llu calls out, cpu %.3f ms, corrected %.3f ms",
	       txs.calls_out, txs.cpu_ms, txs.rpal_cpu_ms);
	TH_LOG("receiver: %llu calls in, cpu %.3f ms, corrected %.3f ms",
	       rxs.calls_in, rxs.cpu_ms, rxs.rpal_cpu_ms);
	EXPECT_EQ(txs.calls_out, calls);
	EXPECT_EQ(txs.calls_in, 0ULL);
	EXPECT_EQ(rxs.calls_in, calls);
	EXPECT_EQ(rxs.calls_out, 0ULL);
	EXPECT_GT(rxs.rpal_cpu_ms, rxs.cpu_ms);
	EXPECT_LT(txs.rpal_cpu_ms, txs.cpu_ms);
	/* Clamped: never more than the sender's threads ran. */
	EXPECT_GE(txs.rpal_cpu_ms, 0.0);
	EXPECT_EQ(finish(&tx, 10000), 0);
	EXPECT_EQ(finish(&rx, 10000), 0);
}

TEST_T(four_senders_two_receivers, 600)
{
	const char *rargs[] = { "--threads", "2", NULL };
	const char *sargs[] = { "multi", "4", "2", "20000", NULL };
	unsigned long long c0, c1, e0, e1, p, r;
	struct svc rx, tx;
	char line[256];

	ASSERT_EQ(start(&rx, "receiver", rargs, -1, -1), 0);
	ASSERT_EQ(start(&tx, "sender", sargs, -1, -1), 0);
	pair(&rx, &tx);
	ASSERT_EQ(sender_result(&tx, line, sizeof(line), 550000), 0);
	TH_LOG("sender: %s", line);
	ASSERT_EQ(report(&rx, 0, &c0, &e0, &p, &r), 0);
	ASSERT_EQ(report(&rx, 1, &c1, &e1, &p, &r), 0);
	/* 4 threads x 2 receivers x 20000, each stream in order. */
	EXPECT_EQ(c0, 80000ULL);
	EXPECT_EQ(c1, 80000ULL);
	EXPECT_EQ(e0 + e1, 0ULL);
	EXPECT_EQ(finish(&tx, 10000), 0);
	EXPECT_EQ(finish(&rx, 10000), 0);
}

/*
 * getpid() in the handler answers the receiver's pid, write() reaches an
 * fd only the receiver has, a blocking read() waits for data only the
 * receiver can read: syscalls of the receiver's code run in the receiver
 * even when the sender's thread runs that code.
 */
TEST_T(syscalls_in_a_call_run_in_the_receiver, 300)
{
	const char *args[] = { "syscalls", NULL };
	char path[] = "/tmp/rpal-calls-XXXXXX", line[256], buf[256];
	unsigned long long calls_before, calls_after, n, e, proxied, r;
	int p[2], file, rpid, blocked_ms;
	struct svc rx, tx;
	ssize_t len;

	file = mkstemp(path);
	ASSERT_GE(file, 0);
	ASSERT_OK(pipe(p));
	ASSERT_EQ(start(&rx, "receiver", NULL, p[0], file), 0);
	close(p[0]);
	ASSERT_EQ(start(&tx, "sender", args, -1, -1), 0);
	pair(&rx, &tx);
	sscanf(rx.ident, "%*d %*u %*u %d", &rpid);

	ASSERT_EQ(lines_expect(&rx.out, "pid ", line, sizeof(line), 60000), 0);
	EXPECT_EQ(atoi(line + 4), rpid);
	ASSERT_EQ(lines_expect(&rx.out, "wrote ", line, sizeof(line), 60000),
		  0);
	EXPECT_EQ(atoi(line + 6), 22);
	/* The sender is now blocked in the receiver's read(): feed it. */
	ASSERT_EQ(lines_expect(&tx.out, "reading", line, sizeof(line), 60000),
		  0);
	usleep(300 * 1000);
	ASSERT_EQ(write(p[1], "fed", 3), 3);
	ASSERT_EQ(lines_expect(&rx.out, "read ", line, sizeof(line), 60000), 0);
	EXPECT_EQ(strcmp(line, "read fed"), 0);
	ASSERT_EQ(sender_result(&tx, line, sizeof(line), 60000), 0);
	TH_LOG("sender: %s", line);
	ASSERT_EQ(sscanf(line,
			 "RESULT calls_before=%llu calls_after=%llu "
			 "blocked_ms=%d",
			 &calls_before, &calls_after, &blocked_ms),
		  3);
	/* All three ran in calls (the sender retries until they do). */
	EXPECT_EQ(calls_after - calls_before, 3ULL);
	EXPECT_GE(blocked_ms, 250);
	ASSERT_EQ(report(&rx, 0, &n, &e, &proxied, &r), 0);
	/* getpid, open-less write, read: each went to the receiver. */
	EXPECT_GE(proxied, 3ULL);
	len = pread(file, buf, sizeof(buf) - 1, 0);
	ASSERT_GE(len, 0);
	buf[len] = 0;
	EXPECT_EQ(strcmp(buf, "written by the handler"), 0);
	close(p[1]);
	close(file);
	unlink(path);
	EXPECT_EQ(finish(&tx, 10000), 0);
	EXPECT_EQ(finish(&rx, 10000), 0);
}

/*
 * The receiver's code, run by a call, waits on another epoll set with
 * its own events array and a timeout: the call ends there (the send
 * returns), and when that set's fd becomes readable the receiver's own
 * thread ends that wait, into that array, outside any call.
 */
TEST_T(wait_in_a_call_on_another_epoll_set, 300)
{
	const char *args[] = { "other-wait", NULL };
	unsigned int tag = 0;
	int p[2], n = -1, in_call = -1;
	unsigned long long calls = 0;
	struct svc rx, tx;
	char line[256];

	ASSERT_OK(pipe(p));
	ASSERT_EQ(start(&rx, "receiver", NULL, p[0], -1), 0);
	close(p[0]);
	ASSERT_EQ(start(&tx, "sender", args, -1, -1), 0);
	pair(&rx, &tx);
	ASSERT_EQ(lines_expect(&rx.out, "other-wait start", line, sizeof(line),
			       60000),
		  0);
	TH_LOG("receiver: %s", line);
	EXPECT_EQ(strcmp(line, "other-wait start in_call=1"), 0);
	ASSERT_EQ(sender_result(&tx, line, sizeof(line), 60000), 0);
	TH_LOG("sender: %s", line);
	ASSERT_EQ(sscanf(line, "RESULT calls=%llu", &calls), 1);
	EXPECT_EQ(calls, 1ULL);
	usleep(300 * 1000);
	ASSERT_EQ(write(p[1], "x", 1), 1);
	ASSERT_EQ(lines_expect(&rx.out, "other-wait n=", line, sizeof(line),
			       60000),
		  0);
	TH_LOG("receiver: %s", line);
	ASSERT_EQ(sscanf(line, "other-wait n=%d tag=%u in_call=%d", &n, &tag,
			 &in_call),
		  3);
	EXPECT_EQ(n, 1);
	EXPECT_EQ(tag, 3u);
	EXPECT_EQ(in_call, 0);
	close(p[1]);
	EXPECT_EQ(finish(&tx, 10000), 0);
	EXPECT_EQ(finish(&rx, 10000), 0);
}

/*
 * A message carries a pointer into the sender's private heap: the
 * receiver copies the data with rpal_read_caller(); touching it directly
 * faults with SEGV_PKUERR and the sender's key in the receiver's own
 * handler (with PKU), or reads it (without).
 */
TEST_T(caller_memory_is_closed_to_the_callee, 300)
{
	const char *args[] = { "caller-memory", NULL };
	struct svc rx, tx;
	char line[256];
	int code, pkey, status;

	ASSERT_EQ(start(&rx, "receiver", NULL, -1, -1), 0);
	ASSERT_EQ(start(&tx, "sender", args, -1, -1), 0);
	pair(&rx, &tx);
	ASSERT_EQ(
		lines_expect(&rx.out, "readcaller ", line, sizeof(line), 60000),
		0);
	EXPECT_EQ(strcmp(line, "readcaller 0 the sender's secret"), 0);
	ASSERT_EQ(sender_result(&tx, line, sizeof(line), 60000), 0);
	TH_LOG("sender: %s", line);
	EXPECT_EQ(strcmp(line, "RESULT read=0 touch=0 calls=2"), 0);
	if (have_pku()) {
		ASSERT_EQ(lines_expect(&rx.out, "segv ", line, sizeof(line),
				       60000),
			  0);
		TH_LOG("receiver: %s", line);
		ASSERT_EQ(sscanf(line, "segv code=%d pkey=%d", &code, &pkey),
			  2);
		EXPECT_EQ(code, SEGV_PKUERR);
		EXPECT_EQ(pkey, tx.pkey);
		/* Its handler exited with 42 after reporting. */
		status = finish(&rx, 10000);
		EXPECT_EQ(status, 42);
	} else {
		ASSERT_EQ(lines_expect(&rx.out, "touched ", line, sizeof(line),
				       60000),
			  0);
		EXPECT_EQ(strcmp(line, "touched t"), 0);
		EXPECT_EQ(finish(&rx, 10000), 0);
	}
	EXPECT_EQ(finish(&tx, 10000), 0);
}

/*
 * kill -9 of the receiver while the sender runs its code: the send fails
 * with -ECONNRESET and the sender goes on.
 */
TEST_T(receiver_killed_mid_call, 300)
{
	const char *args[] = { "spin", "3000", NULL };
	struct svc rx, tx;
	char line[256];

	ASSERT_EQ(start(&rx, "receiver", NULL, -1, -1), 0);
	ASSERT_EQ(start(&tx, "sender", args, -1, -1), 0);
	pair(&rx, &tx);
	ASSERT_EQ(lines_expect(&rx.out, "spinning", line, sizeof(line), 60000),
		  0);
	usleep(300 * 1000);
	kill(rx.pid, SIGKILL);
	ASSERT_EQ(sender_result(&tx, line, sizeof(line), 60000), 0);
	TH_LOG("sender: %s", line);
	EXPECT_EQ(strcmp(line, "RESULT send=-104 in_call=1 alive=1"), 0);
	EXPECT_EQ(finish(&tx, 10000), 0);
	EXPECT_EQ(finish(&rx, 10000), 128 + SIGKILL);
}

/*
 * kill -9 of the sender while it runs the receiver's code: the receiver's
 * own thread takes the context over (finishes the handler) and serves
 * the next sender.
 */
TEST_T(sender_killed_mid_call, 300)
{
	const char *spin[] = { "spin", "1500", NULL };
	const char *next[] = { "syscalls", NULL };
	unsigned long long n, e, p, rescued;
	struct svc rx, tx, tx2;
	char line[256];
	int file, pipefd[2];
	char path[] = "/tmp/rpal-calls-XXXXXX";

	file = mkstemp(path);
	ASSERT_GE(file, 0);
	ASSERT_OK(pipe(pipefd));
	ASSERT_EQ(start(&rx, "receiver", NULL, pipefd[0], file), 0);
	ASSERT_EQ(start(&tx, "sender", spin, -1, -1), 0);
	pair(&rx, &tx);
	ASSERT_EQ(lines_expect(&rx.out, "spinning", line, sizeof(line), 60000),
		  0);
	usleep(300 * 1000);
	kill(tx.pid, SIGKILL);
	EXPECT_EQ(finish(&tx, 10000), 128 + SIGKILL);
	/* The handler the dead sender was running completes. */
	ASSERT_EQ(lines_expect(&rx.out, "spin-done", line, sizeof(line), 60000),
		  0);
	ASSERT_EQ(report(&rx, 0, &n, &e, &p, &rescued), 0);
	EXPECT_EQ(rescued, 1ULL);
	/* And the next sender is served. */
	ASSERT_EQ(start(&tx2, "sender", next, -1, -1), 0);
	pair(&rx, &tx2);
	ASSERT_EQ(lines_expect(&rx.out, "pid ", line, sizeof(line), 60000), 0);
	ASSERT_EQ(lines_expect(&tx2.out, "reading", line, sizeof(line), 60000),
		  0);
	ASSERT_EQ(write(pipefd[1], "fed", 3), 3);
	ASSERT_EQ(sender_result(&tx2, line, sizeof(line), 60000), 0);
	EXPECT_EQ(finish(&tx2, 10000), 0);
	EXPECT_EQ(finish(&rx, 10000), 0);
	close(pipefd[0]);
	close(pipefd[1]);
	close(file);
	unlink(path);
}

/*
 * A signal for the sender while it runs the receiver's code waits for the
 * call to end, then runs the sender's handler on the sender's own stack,
 * with its own TLS.
 */
TEST_T(signal_to_sender_waits_for_the_call, 300)
{
	const char *args[] = { "signal", NULL };
	long spin_done_ms, handler_ms;
	int own_stack, own_tls, deferred;
	struct svc rx, tx;
	char line[256];

	ASSERT_EQ(start(&rx, "receiver", NULL, -1, -1), 0);
	ASSERT_EQ(start(&tx, "sender", args, -1, -1), 0);
	pair(&rx, &tx);
	ASSERT_EQ(
		lines_expect(&rx.out, "spin-done ", line, sizeof(line), 60000),
		0);
	spin_done_ms = atol(line + 10);
	ASSERT_EQ(sender_result(&tx, line, sizeof(line), 60000), 0);
	TH_LOG("sender: %s", line);
	ASSERT_EQ(sscanf(line,
			 "RESULT handler_ms=%ld own_stack=%d own_tls=%d "
			 "deferred=%d",
			 &handler_ms, &own_stack, &own_tls, &deferred),
		  4);
	EXPECT_GE(handler_ms, spin_done_ms);
	EXPECT_EQ(own_stack, 1);
	EXPECT_EQ(own_tls, 1);
	EXPECT_EQ(deferred, 1);
	EXPECT_EQ(finish(&tx, 10000), 0);
	EXPECT_EQ(finish(&rx, 10000), 0);
}

/* Entry: the roles run before the harness sees the arguments. */
__attribute__((constructor)) static void calls_role(int argc, char **argv)
{
	if (argc >= 3 && !strcmp(argv[1], "--role"))
		exit(calls_role_main(argc - 2, argv + 2));
}
