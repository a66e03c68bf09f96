// SPDX-License-Identifier: MIT
/*
 * Without the module (this machine's kernel cannot load it) every entry
 * point of the runtime fails clearly and nothing crashes; the epoll
 * drop-ins still do what epoll does.
 */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <rpal/rpal.h>
#include <uapi/rpal.h>

#include "../harness/rpal_test.h"

static void need_no_module(struct rpal_test *_t)
{
	if (!access(RPAL_DEVICE_PATH, F_OK))
		SKIP("%s exists: these tests need a machine without it",
		     RPAL_DEVICE_PATH);
}

TEST(init_fails_cleanly_and_can_be_retried)
{
	need_no_module(_t);
	ASSERT_EQ(rpal_init(NULL), -ENOENT);
	/* Nothing half-done: the same answer, not -EALREADY. */
	ASSERT_EQ(rpal_init(NULL), -ENOENT);
	ASSERT_TRUE(strstr(rpal_error_hint(-ENOENT), "modprobe rpal"));
}

TEST(bad_options_are_refused_before_the_module)
{
	struct rpal_opts o = { .size = sizeof(o), .queue_len = 3 };

	need_no_module(_t);
	ASSERT_EQ(rpal_init(&o), -EINVAL); /* not a power of two */
	o.queue_len = 256;
	o.max_msg = 1U << 30; /* the queue would not fit its region */
	ASSERT_EQ(rpal_init(&o), -EINVAL);
}

TEST(everything_else_says_not_a_service)
{
	struct rpal_identity id = { .pid = getpid() };
	struct rpal_thread_stats st;
	rpal_peer_t *peer = NULL;
	char buf[64];

	need_no_module(_t);
	ASSERT_EQ(rpal_init(NULL), -ENOENT);
	EXPECT_EQ(rpal_self(&id), -EPERM);
	EXPECT_EQ(rpal_connect(&id, 0, &peer), -EPERM);
	EXPECT_TRUE(peer == NULL);
	EXPECT_EQ(rpal_disconnect(NULL), -EINVAL);
	EXPECT_EQ(rpal_thread_init(), -EPERM);
	EXPECT_EQ(rpal_receiver_fd(), -EPERM);
	EXPECT_EQ(rpal_send((rpal_peer_t *)buf, 0, "x", 1), -EPERM);
	EXPECT_EQ(rpal_recv(buf, sizeof(buf), NULL), -EPERM);
	EXPECT_EQ(rpal_read_caller(buf, buf, 1), -EPERM);
	EXPECT_EQ(rpal_thread_stats(&st), -EPERM);
	rpal_thread_fini(); /* a no-op, not a crash */
	rpal_set_spin(1000);
}

TEST(epoll_drop_ins_are_epoll)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = 42 }, got[2];
	int ep = epoll_create1(0), p[2];

	need_no_module(_t);
	ASSERT_GE(ep, 0);
	ASSERT_OK(pipe(p));
	ASSERT_OK(rpal_epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &ev));
	ASSERT_EQ(rpal_epoll_wait(ep, got, 2, 0), 0);
	ASSERT_EQ(write(p[1], "x", 1), 1);
	ASSERT_EQ(rpal_epoll_wait(ep, got, 2, 1000), 1);
	EXPECT_EQ(got[0].data.u64, 42ULL);
	EXPECT_TRUE(got[0].events & EPOLLIN);
	ASSERT_ERRNO(rpal_epoll_wait(-1, got, 2, 0), EBADF);
	ASSERT_ERRNO(rpal_epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &ev), EEXIST);
	close(p[0]);
	close(p[1]);
	close(ep);
}

static volatile sig_atomic_t usr1_seen;

static void on_usr1(int sig)
{
	usr1_seen = sig;
}

TEST(sigaction_before_init_is_sigaction)
{
	struct sigaction sa, old;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_usr1;
	ASSERT_EQ(rpal_sigaction(SIGUSR1, &sa, &old), 0);
	ASSERT_OK(raise(SIGUSR1));
	EXPECT_EQ(usr1_seen, SIGUSR1);
	ASSERT_EQ(rpal_sigaction(0, &sa, NULL), -EINVAL);
	ASSERT_EQ(rpal_sigaction(SIGUSR1, &old, NULL), 0);
}
