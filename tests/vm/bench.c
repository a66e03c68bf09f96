// SPDX-License-Identifier: MIT
/*
 * rpal-bench's RPAL rows work: its processes run under rpal-run, every
 * round trip arrives intact (the checksum would fail the row), requests
 * are direct calls, neither a reply to the caller nor a forward from
 * inside a call costs a syscall of borrowed code, chains of services
 * work, and a corrupted payload is caught on the RPAL path like on the
 * others.
 * Timing is not judged here; bench/run.sh --vm reports it.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "vmtest.h"

#define BENCH "PATH=/rpal/bin:$PATH rpal-bench -q "
#define CSV "/tmp/bench.csv"
#define COUNT 500
#define WARMUP 50

/* The CSV columns this test reads (see bench/report.c). */
enum { C_MECH, C_PLACE = 2, C_SIZE = 4, C_CHAIN, C_STATUS, C_WHY, C_N };

/* Split a CSV line in place, honouring quotes; returns the field count. */
static int csv_split(char *line, char **field, int max)
{
	int n = 0;
	char *p = line;

	line[strcspn(line, "\n")] = 0;
	while (n < max) {
		if (*p == '"') {
			field[n++] = ++p;
			p = strchr(p, '"');
			if (!p)
				return n;
			*p++ = 0;
		} else {
			field[n++] = p;
			p += strcspn(p, ",");
		}
		if (*p != ',')
			break;
		*p++ = 0;
	}
	return n;
}

/* The last three columns: sends, direct_sends, proxied_syscalls. */
struct counts {
	unsigned long long sends, direct, proxied;
};

/* The next RPAL row of the CSV split into @f; its field count, or 0. */
static int next_rpal_row(FILE *csv, char *line, size_t len, char **f)
{
	while (fgets(line, (int)len, csv)) {
		int n = csv_split(line, f, 64);

		if (n >= 10 && !strcmp(f[C_MECH], "rpal"))
			return n;
	}
	return 0;
}

static int run(const char *args)
{
	char cmd[512];
	int st;

	snprintf(cmd, sizeof(cmd), BENCH "%s --csv " CSV " --md /dev/null",
		 args);
	TH_LOG("%s", cmd);
	st = system(cmd);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

TEST_T(rpal_rows_run_as_calls, 280)
{
	char line[4096], *f[64];
	int rows = 0, chains = 0, n;
	FILE *csv;

	ASSERT_EQ(run("-n 500 -w 50 -m rpal,epoll_uds -s 32,4096 "
		      "-p same,cross -c 1,2,4 --chain-mechs rpal "
		      "--max-seconds 5 --timeout 60"),
		  0);
	csv = fopen(CSV, "r");
	ASSERT_TRUE(csv != NULL);
	while ((n = next_rpal_row(csv, line, sizeof(line), f))) {
		struct counts c;
		int chain;

		TH_LOG("%s %s B x%s: %s %s; sends %s direct %s proxied %s",
		       f[C_PLACE], f[C_SIZE], f[C_CHAIN], f[C_STATUS], f[C_WHY],
		       f[n - 3], f[n - 2], f[n - 1]);
		EXPECT_EQ(strcmp(f[C_STATUS], "ok"), 0);
		EXPECT_EQ(atoi(f[C_N]), COUNT);
		c.sends = strtoull(f[n - 3], NULL, 10);
		c.direct = strtoull(f[n - 2], NULL, 10);
		c.proxied = strtoull(f[n - 1], NULL, 10);
		chain = atoi(f[C_CHAIN]);
		/* every hop carries each message down and back up */
		EXPECT_EQ(c.sends, 2ULL * (unsigned long long)chain *
					   (COUNT + WARMUP + 1));
		EXPECT_GT(c.direct, 0ULL);
		if (chain == 1) {
			/*
			 * The service waits, so requests are calls (the
			 * first may find it starting); replies go into the
			 * caller's queue from inside the call, without a
			 * kick: only the service's two getrusage() calls
			 * are syscalls of borrowed code.
			 */
			EXPECT_GE(c.direct * 10, c.sends / 2 * 9);
			EXPECT_LE(c.proxied, 10ULL);
		} else {
			/*
			 * A forward from inside a call owes a kick, which
			 * the caller makes with its own fd: still no
			 * syscall of borrowed code beyond getrusage() and
			 * the quit eventfd (3 per process).
			 */
			EXPECT_LE(c.proxied, 10ULL * (unsigned long long)chain);
			chains++;
		}
		rows++;
	}
	fclose(csv);
	/* 2 sizes x 2 placements, then chains 2 and 4 (32 B) x 2 */
	EXPECT_EQ(rows, 8);
	EXPECT_EQ(chains, 4);
}

TEST_T(rpal_rows_detect_corruption, 200)
{
	char line[4096], *f[64];
	int rows = 0;
	FILE *csv;

	/* exit 1: rows failed, as they must */
	ASSERT_EQ(run("-n 300 -w 10 -m rpal -s 32,4096 -p same -c 1,2 "
		      "--chain-mechs rpal --corrupt 150 --timeout 60"),
		  1);
	csv = fopen(CSV, "r");
	ASSERT_TRUE(csv != NULL);
	while (next_rpal_row(csv, line, sizeof(line), f)) {
		TH_LOG("%s B x%s: %s: %s", f[C_SIZE], f[C_CHAIN], f[C_STATUS],
		       f[C_WHY]);
		EXPECT_EQ(strcmp(f[C_STATUS], "failed"), 0);
		EXPECT_TRUE(strstr(f[C_WHY], "checksum mismatch") != NULL);
		rows++;
	}
	fclose(csv);
	EXPECT_EQ(rows, 3);
}
