// SPDX-License-Identifier: MIT
/*
 * RPAL: the mechanism this suite exists to judge, through librpal-rt's
 * public API only, the way a service would use it.
 *
 * Every process of the row is a service started by rpal-run (the row's
 * processes exec rpal-bench again, MECH_RPAL_RUN) with one rpal thread
 * and so one receiver queue; both its channels deliver into it. The two
 * ends of a channel swap identities through the channel's shared bytes
 * and connect. send() is rpal_send(): the message is copied into the
 * peer's queue and, when the peer waits in rpal_epoll_wait(), the sender
 * runs the peer's code until it waits again (the call). recv() is
 * rpal_epoll_wait() on the receiver fd plus rpal_recv(), as in an epoll
 * server. A reply to the caller is queued without a kick (the caller's
 * thread is the one running us) and found when the call returns; a
 * message sent from inside a call further down a chain is queued and
 * the next service woken, since calls do not nest.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <rpal/rpal.h>
#include <uapi/rpal.h>

#include "bench.h"

/* Messages a queue holds: one per direction is the protocol; slack. */
#define QUEUE_LEN 8
/* How long the two ends of a channel wait for each other to start. */
#define MEET_MS 60000

enum { EV_QUEUE = 1, EV_QUIT = 2 };

/*
 * The run's shared bytes: every process's identity. The services of a
 * chain all connect to each other, the way RPAL's services share one
 * address space: a message forwarded from inside a call is written on
 * the client's thread, into a queue the client's address space must
 * reach.
 */
struct meeting {
	_Atomic uint32_t ready[MAX_CHAIN + 1];
	struct rpal_identity id[MAX_CHAIN + 1];
};

_Static_assert(sizeof(struct meeting) <= ROW_SHARED_SIZE, "fits row_shared");

/* A channel's end: the peer at its other end. */
struct end {
	rpal_peer_t *peer;
	uint32_t peer_id;
};

/* The process: one service, one rpal thread, one epoll set, its peers. */
static struct {
	bool init;
	int ep, quit_fd;
	rpal_peer_t *peer[MAX_CHAIN + 1];
} proc = { .ep = -1, .quit_fd = -1 };

static const char *unavailable(void)
{
	static char why[160];
	struct rpal_info info;
	int ret = rpal_query(&info);

	if (ret) {
		snprintf(why, sizeof(why), "%s", rpal_error_hint(ret));
		return why;
	}
	if (!(info.features & RPAL_FEAT_CALLS))
		return "the loaded rpal.ko has no call support "
		       "(RPAL_FEAT_CALLS)";
	return NULL;
}

static int add_fd(int fd, uint32_t tag)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u32 = tag };

	return rpal_epoll_ctl(proc.ep, EPOLL_CTL_ADD, fd, &ev);
}

static void sleep_ms(long ms)
{
	struct timespec ts = { .tv_nsec = ms * 1000000L };

	nanosleep(&ts, NULL);
}

/*
 * Publish our identity, wait for everybody's, connect to everybody. In
 * index order, so that the waits cannot form a cycle: a request stays
 * posted while its sender waits for the next one.
 */
static int meet(struct meeting *mt, int procs, int me)
{
	int i, ret, waited;

	ret = rpal_self(&mt->id[me]);
	if (ret)
		return bench_failx("rpal_self: %s", strerror(-ret));
	atomic_store_explicit(&mt->ready[me], 1, memory_order_release);
	for (i = 0; i < procs; i++) {
		for (waited = 0;
		     !atomic_load_explicit(&mt->ready[i], memory_order_acquire);
		     waited++) {
			if (waited == MEET_MS)
				return bench_failx("process %d of the run "
						   "never registered",
						   i);
			sleep_ms(1);
		}
		if (i == me)
			continue;
		ret = rpal_connect(&mt->id[i], MEET_MS, &proc.peer[i]);
		if (ret)
			return bench_failx("rpal_connect to process %d: %s "
					   "(%s)",
					   i, strerror(-ret),
					   rpal_error_hint(ret));
	}
	return 0;
}

static int proc_init(const struct chan *ch)
{
	struct rpal_opts o = {
		.size = sizeof(o),
		.queue_len = QUEUE_LEN,
		.max_msg = (uint32_t)ch->max_msg,
	};
	int ret;

	if (proc.init)
		return 0;
	if (ch->procs > MAX_CHAIN + 1)
		return bench_failx("%d processes: at most %d", ch->procs,
				   MAX_CHAIN + 1);
	ret = rpal_init(&o);
	if (ret)
		return bench_failx("rpal_init: %s (%s)", strerror(-ret),
				   rpal_error_hint(ret));
	proc.ep = epoll_create1(EPOLL_CLOEXEC);
	if (proc.ep < 0)
		return bench_fail("epoll_create1");
	proc.quit_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (proc.quit_fd < 0)
		return bench_fail("eventfd");
	if (add_fd(rpal_receiver_fd(), EV_QUEUE) ||
	    add_fd(proc.quit_fd, EV_QUIT))
		return bench_fail("epoll_ctl");
	if (meet(ch->row_shared, ch->procs, ch->proc))
		return -1;
	proc.init = true;
	return 0;
}

static int attach(struct chan *ch, int side)
{
	struct meeting *mt = ch->row_shared;
	/* side A is the upstream process, side B the one after it */
	int other = side == SIDE_A ? ch->proc + 1 : ch->proc - 1;
	struct end *e;

	if (proc_init(ch))
		return -1;
	if (other < 0 || other >= ch->procs || !proc.peer[other])
		return bench_failx("no process %d in the run", other);
	e = calloc(1, sizeof(*e));
	if (!e)
		return bench_failx("out of memory");
	e->peer = proc.peer[other];
	e->peer_id = mt->id[other].id;
	ch->priv = e;
	return 0;
}

static int send_msg(struct chan *ch, const void *msg, size_t len)
{
	struct end *e = ch->priv;
	int ret = rpal_send(e->peer, 0, msg, len);

	/* One message per direction: a full queue is a protocol bug. */
	if (ret == -EAGAIN)
		return bench_failx("rpal_send: the peer's queue is full "
				   "(more than one message in flight)");
	if (ret)
		return bench_failx("rpal_send: %s", strerror(-ret));
	return 0;
}

/*
 * In a call this returns on the caller's thread; the next wait, with
 * the queue empty, hands the thread back to the caller.
 */
static int wait_queue(void)
{
	struct epoll_event ev[2];

	if (rpal_epoll_wait(proc.ep, ev, 2, -1) < 0 && errno != EINTR)
		return bench_fail("rpal_epoll_wait");
	return 0;
}

static int recv_msg(struct chan *ch, void *buf, size_t len)
{
	struct end *e = ch->priv;
	struct rpal_msg_info info;
	int n;

	for (;;) {
		if (wait_queue())
			return -1;
		n = rpal_recv(buf, len, &info);
		if (n == -EAGAIN)
			continue;
		if (n < 0)
			return bench_failx("rpal_recv: %s", strerror(-n));
		break;
	}
	if ((size_t)n != len)
		return bench_failx("rpal_recv: %d bytes, expected %zu", n, len);
	/* Both channels share the queue: the peer must be this one's. */
	if (info.sender_id != (e->peer_id & 0xffff))
		return bench_failx("a message from service id %u on the "
				   "channel to %u",
				   info.sender_id, e->peer_id);
	return 0;
}

/*
 * The process's last message may have reached it in a call, on another
 * process's thread, where it cannot exit: wait until rpal_epoll_wait()
 * returns the quit eventfd, which only the process's own thread sees.
 */
static int leave_calls(void)
{
	struct epoll_event ev[2];
	int n, i, tries;

	if (eventfd_write(proc.quit_fd, 1))
		return bench_fail("eventfd_write");
	for (tries = 0; tries < 100; tries++) {
		n = rpal_epoll_wait(proc.ep, ev, 2, 100);
		if (n < 0 && errno != EINTR)
			return bench_fail("rpal_epoll_wait");
		for (i = 0; i < n; i++)
			if (ev[i].data.u32 == EV_QUIT)
				return 0;
	}
	return bench_failx("could not get the thread back from a call");
}

/* The first teardown ends the process's part: its calls, its peers. */
static int teardown(struct chan *ch)
{
	int ret = 0, err, i;

	if (!ch->priv)
		return 0;
	free(ch->priv);
	ch->priv = NULL;
	if (proc.quit_fd < 0)
		return 0;
	ret = leave_calls();
	close(proc.quit_fd);
	proc.quit_fd = -1;
	for (i = 0; i <= MAX_CHAIN; i++) {
		if (!proc.peer[i])
			continue;
		/* ENOENT: the peer finished first, which ended the sharing */
		err = rpal_disconnect(proc.peer[i]);
		if (err && err != -ENOENT)
			ret = bench_failx("rpal_disconnect: %s",
					  strerror(-err));
		proc.peer[i] = NULL;
	}
	return ret;
}

static int counters(struct mech_counters *out)
{
	struct rpal_thread_stats st;
	int ret = rpal_thread_stats(&st);

	if (ret)
		return bench_failx("rpal_thread_stats: %s", strerror(-ret));
	out->sends = st.sends;
	out->direct = st.calls;
	out->proxied = st.proxied;
	return 0;
}

const struct mech mech_rpal = {
	.name = "rpal",
	.label = "RPAL",
	.note = "rpal_send() into the peer's queue, a user-mode call into "
		"its rpal_epoll_wait() loop when it waits (rpal-run, "
		"librpal-rt)",
	.flags = MECH_RPAL_RUN,
	.unavailable = unavailable,
	.attach = attach,
	.send = send_msg,
	.recv = recv_msg,
	.teardown = teardown,
	.counters = counters,
};
