// SPDX-License-Identifier: MIT
/*
 * The runner behind rpal_test.h: runs every registered test (or those
 * named with -t) in a forked process group with a timeout and reports.
 */
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "rpal_test.h"

static struct rpal_test *tests_head, **tests_tail = &tests_head;

void rpal_test_register(struct rpal_test *t)
{
	*tests_tail = t;
	tests_tail = &t->next;
}

void rpal_test_log(const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	printf("# %s:%d: ", file, line);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
}

/*
 * The fixture and the test share one process; teardown runs even when the
 * test body stops on an ASSERT, because rpal_test_exit() runs it.
 */
static struct {
	struct rpal_test *t;
	void *fixture;
	bool in_teardown;
} current;

_Noreturn void rpal_test_exit(struct rpal_test *t, int status)
{
	if (current.t == t && t->teardown && current.fixture &&
	    !current.in_teardown) {
		current.in_teardown = true;
		t->teardown(t, current.fixture);
	}
	fflush(stdout);
	fflush(stderr);
	_exit(status);
}

static _Noreturn void run_child(struct rpal_test *t)
{
	void *fx = NULL;

	setpgid(0, 0);
	if (t->fixture_size) {
		fx = calloc(1, t->fixture_size);
		if (!fx) {
			printf("# out of memory for fixture\n");
			_exit(1);
		}
	}
	current.t = t;
	current.fixture = fx;
	if (t->setup)
		t->setup(t, fx);
	t->fn(t, fx);
	rpal_test_exit(t, t->failed ? 1 : 0);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Returns 0 pass, 1 fail, RPAL_TEST_SKIP_CODE skip. */
static int run_one(struct rpal_test *t, unsigned int default_timeout)
{
	unsigned int timeout = t->timeout ? t->timeout : default_timeout;
	double start = now_s();
	int status;
	pid_t pid;

	fflush(stdout);
	pid = fork();
	if (pid < 0) {
		printf("# fork: %s\n", strerror(errno));
		return 1;
	}
	if (pid == 0)
		run_child(t);
	setpgid(pid, pid); /* also here, so the kill below cannot miss */

	for (;;) {
		pid_t r = waitpid(pid, &status, WNOHANG);

		if (r == pid)
			break;
		if (r < 0 && errno != EINTR) {
			printf("# waitpid: %s\n", strerror(errno));
			return 1;
		}
		if (now_s() - start > timeout) {
			kill(-pid, SIGKILL);
			waitpid(pid, &status, 0);
			printf("# timed out after %u s\n", timeout);
			return 1;
		}
		usleep(2000);
	}
	/* Whatever the test left running in its group goes now. */
	kill(-pid, SIGKILL);

	if (WIFSIGNALED(status)) {
		printf("# killed by signal %d (%s)\n", WTERMSIG(status),
		       strsignal(WTERMSIG(status)));
		return 1;
	}
	status = WEXITSTATUS(status);
	if (status != 0 && status != RPAL_TEST_SKIP_CODE)
		return 1;
	return status;
}

static bool selected(const char *name, char **only, int n_only)
{
	if (!n_only)
		return true;
	for (int i = 0; i < n_only; i++)
		if (!strcmp(only[i], name))
			return true;
	return false;
}

static void usage(const char *prog, FILE *f)
{
	fprintf(f,
		"Usage: %s [-l] [-t NAME]... [-T SECONDS]\n"
		"Runs this program's tests, each in its own process group.\n"
		"  -l          list the tests and exit\n"
		"  -t NAME     run only NAME (repeatable)\n"
		"  -T SECONDS  default per-test timeout (default %d)\n"
		"Exit status: 0 passed, 1 failed, 4 all skipped.\n",
		prog, RPAL_TEST_DEFAULT_TIMEOUT);
}

int main(int argc, char **argv)
{
	unsigned int timeout = RPAL_TEST_DEFAULT_TIMEOUT;
	int n_only = 0, passed = 0, failed = 0, skipped = 0, n = 0, opt;
	char **only = calloc((size_t)argc, sizeof(*only));
	bool list = false;

	while ((opt = getopt(argc, argv, "lt:T:h")) != -1) {
		switch (opt) {
		case 'l':
			list = true;
			break;
		case 't':
			only[n_only++] = optarg;
			break;
		case 'T':
			timeout = (unsigned int)strtoul(optarg, NULL, 10);
			if (!timeout) {
				fprintf(stderr, "-T needs a positive number\n");
				return 2;
			}
			break;
		case 'h':
			usage(argv[0], stdout);
			return 0;
		default:
			usage(argv[0], stderr);
			return 2;
		}
	}
	setvbuf(stdout, NULL, _IOLBF, 0);

	for (struct rpal_test *t = tests_head; t; t = t->next) {
		if (!selected(t->name, only, n_only))
			continue;
		if (list) {
			printf("%s\n", t->name);
			continue;
		}
		n++;
		int r = run_one(t, timeout);

		if (r == 0) {
			printf("ok %d %s\n", n, t->name);
			passed++;
		} else if (r == RPAL_TEST_SKIP_CODE) {
			printf("ok %d %s # SKIP\n", n, t->name);
			skipped++;
		} else {
			printf("not ok %d %s\n", n, t->name);
			failed++;
		}
	}
	if (list)
		return 0;
	if (n_only && !n) {
		fprintf(stderr, "no test matched\n");
		return 2;
	}
	printf("# totals: %d passed, %d failed, %d skipped\n", passed, failed,
	       skipped);
	free(only);
	if (failed)
		return 1;
	if (!passed && skipped)
		return RPAL_TEST_SKIP_CODE;
	return 0;
}
