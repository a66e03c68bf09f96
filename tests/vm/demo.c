// SPDX-License-Identifier: MIT
/*
 * The README's demo works: rpal-demo runs both halves of the seed's
 * experiment, every message arrives in order, and the RPAL half really
 * made calls (rpalctl status, shown while its services are up, counts
 * them on the receiver's side).
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "vmtest.h"

#define COUNT 20000

TEST_T(demo_runs_both_mechanisms, 300)
{
	unsigned long long mean_ep = 0, mean_rp = 0, calls = 0, of = 0;
	unsigned long long calls_in = 0;
	char line[512], cmd[128];
	bool header = false;
	FILE *f;

	snprintf(cmd, sizeof(cmd),
		 "PATH=/rpal/bin:$PATH rpal-demo --count %d --status", COUNT);
	f = popen(cmd, "r");
	ASSERT_TRUE(f != NULL);
	while (fgets(line, sizeof(line), f)) {
		TH_LOG("%.*s", (int)strcspn(line, "\n"), line);
		if (!strncmp(line, "mechanism", 9))
			header = true;
		sscanf(line, "epoll + AF_UNIX %llu", &mean_ep);
		sscanf(line, "RPAL call %llu", &mean_rp);
		sscanf(line, "epoll / RPAL, mean: %*fx; %llu of %llu", &calls,
		       &of);
		/* The receiver's rpalctl row: CALLS-IN, its 11th column. */
		sscanf(line,
		       "%*u %*d receiver %*u %*s %*d %*s %*d %*d %*u %llu",
		       &calls_in);
	}
	ASSERT_EQ(pclose(f), 0);
	EXPECT_TRUE(header);
	EXPECT_GT(mean_ep, 0ULL);
	EXPECT_GT(mean_rp, 0ULL);
	EXPECT_EQ(of, (unsigned long long)COUNT);
	/*
	 * One sender and a receiver that waits: nearly every message is a
	 * direct call (a message finding the receiver awake, e.g. while
	 * its own thread handles a kick, is queued instead).
	 */
	EXPECT_GE(calls * 2, (unsigned long long)COUNT);
	EXPECT_EQ(calls_in, calls);
}
