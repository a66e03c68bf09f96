// SPDX-License-Identifier: MIT
/*
 * Tests of the test harness itself. ctest runs each one alone (-t) and
 * checks the verdict: the "bad_" ones must be reported as failures, so a
 * harness that passed everything would turn this suite red.
 */
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include "../harness/rpal_test.h"

TEST(good_pass)
{
	EXPECT_EQ(1 + 1, 2);
	ASSERT_OK(getpid());
}

TEST(bad_assert)
{
	ASSERT_EQ(1, 2);
}

TEST(bad_expect_continues)
{
	EXPECT_EQ(1, 2);
	/* Reaching here is required: EXPECT must not stop the test. */
	printf("# after failed EXPECT\n");
}

TEST(bad_crash)
{
	raise(SIGSEGV);
}

TEST(bad_exit_status)
{
	exit(3);
}

TEST(bad_timeout)
{
	pause();
}

TEST(bad_errno)
{
	ASSERT_ERRNO(close(-1), ENOENT); /* close(-1) gives EBADF */
}

TEST(good_errno)
{
	ASSERT_ERRNO(close(-1), EBADF);
}

TEST(skip_only)
{
	SKIP("demonstrates a skip");
}

FIXTURE(fx)
{
	int setup_ran;
	char marker[16];
};

FIXTURE_SETUP(fx)
{
	self->setup_ran = 1;
	strcpy(self->marker, "teardown-ran");
}

FIXTURE_TEARDOWN(fx)
{
	/* ctest checks for this line in bad_fixture_teardown's output. */
	printf("# %s\n", self->marker);
}

TEST_F(fx, good_setup_seen)
{
	ASSERT_EQ(self->setup_ran, 1);
}

TEST_F(fx, bad_fixture_teardown)
{
	ASSERT_EQ(self->setup_ran, 0);
}
