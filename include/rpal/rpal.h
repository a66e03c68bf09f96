/* SPDX-License-Identifier: MIT */
/*
 * librpal-rt: the public C API of rpal's runtime.
 *
 * A process started with rpal-run (so that all of its memory lies in its
 * slot) calls rpal_init(), hands its identity to its peers (any way it
 * likes: a socket, a file, an environment variable), connects to theirs,
 * and then its threads send messages that run the receiving thread's code
 * directly, without a syscall, when that thread is waiting for them.
 *
 * Functions return 0 or a positive count on success and a negative errno
 * on failure (liburing's convention); they never set errno, except
 * rpal_epoll_wait(), which is a drop-in for epoll_wait(2).
 *
 * Threads: rpal_init() makes the calling thread an rpal thread; any other
 * thread that sends or receives calls rpal_thread_init() first.
 * docs/runtime-design.md explains the mechanism; docs/api.md has examples.
 */
#ifndef RPAL_RPAL_H
#define RPAL_RPAL_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/epoll.h>

#include <rpal/version.h>

#ifdef __cplusplus
extern "C" {
#endif

/* What the loaded module offers: RPAL_FEAT_* from <uapi/rpal.h>. */
struct rpal_info {
	uint32_t api;		 /* module's RPAL_API_VERSION */
	uint64_t features;	 /* RPAL_FEAT_* bits */
	uint64_t commands;	 /* bit n: ioctl number n implemented */
	uint64_t module_version; /* (major << 32) | (minor << 16) | patch */
};

/*
 * rpal_query - ask the module at /dev/rpal what it offers. Works without
 * rpal_init().
 *
 * Returns 0 and fills *info, or:
 *   -ENOENT          /dev/rpal does not exist (module not loaded)
 *   -EACCES          /dev/rpal cannot be opened by this user
 *   -ENOTTY          the device is not rpal (or a much older module)
 *   -EPROTONOSUPPORT the module speaks another API version
 */
int rpal_query(struct rpal_info *info);

/*
 * rpal_error_hint - one sentence telling a user what to do about an error
 * returned by this library (e.g. "load the module: modprobe rpal").
 * Never NULL; the string is static.
 */
const char *rpal_error_hint(int err);

/* Options for rpal_init(); zero-initialise, set size, fill what matters. */
struct rpal_opts {
	uint32_t size;	    /* sizeof(struct rpal_opts) */
	const char *name;   /* service name; NULL: the one rpal-run gave */
	uint32_t queue_len; /* messages per receiver queue, power of 2;
			     * 0: 256 */
	uint32_t max_msg;   /* largest message in bytes; 0: 4096 */
};

/*
 * rpal_init - make this process an rpal service and the calling thread an
 * rpal thread. Call once, early (before other threads that will use rpal
 * exist). The process should have been started with rpal-run, or only
 * memory allocated from now on can be shared.
 *
 * Returns 0, or -EALREADY, -ENOENT (no module), -ENOSPC (no slot, id or
 * protection key left), -ENOMEM.
 */
int rpal_init(const struct rpal_opts *opts);

/* What a peer needs to connect to this service. */
struct rpal_identity {
	uint32_t id;	     /* service id */
	uint32_t generation; /* tells it from an earlier service, same id */
	uint64_t token;	     /* secret: give it only to peers you trust */
	int32_t pid;	     /* process id */
	int32_t pkey;	     /* protection key, -1 without PKU */
};

/* rpal_self - this service's identity (after rpal_init). */
int rpal_self(struct rpal_identity *out);

typedef struct rpal_peer rpal_peer_t;

/*
 * rpal_connect - ask to share slots with @peer and wait (up to @timeout_ms,
 * -1: forever) until it asked too. Needs the rights ptrace needs over the
 * peer (the module checks them through /proc/<pid>/mem).
 *
 * Returns 0 and *out, or -ETIMEDOUT, -EACCES (token or rights), -ENOENT
 * (no such live service), -EBUSY (address conflict, see docs/uapi.md).
 */
int rpal_connect(const struct rpal_identity *peer, int timeout_ms,
		 rpal_peer_t **out);

/* rpal_disconnect - stop sharing; *peer is freed. */
int rpal_disconnect(rpal_peer_t *peer);

/*
 * rpal_thread_init - make the calling thread an rpal thread (a sender,
 * and a receiver with its own queue). Returns its receiver index (>= 0),
 * which peers use to address it, or a negative errno.
 * rpal_thread_fini - undo it (also run at thread exit); it reports the
 * thread's outstanding call time to the module first. A no-op from code
 * running in a call.
 */
int rpal_thread_init(void);
void rpal_thread_fini(void);

/*
 * rpal_receiver_fd - an fd that is readable (EPOLLIN) while the calling
 * thread's queue holds messages: add it to the epoll set you wait on with
 * rpal_epoll_wait(), where it plays the part of the seed's EPOLLRPALIN.
 */
int rpal_receiver_fd(void);

/*
 * rpal_epoll_ctl - epoll_ctl(2), which also remembers the epoll_data the
 * calling thread gave its receiver fd: rpal_epoll_wait() reports the fd
 * with it. Use it at least for the receiver fd.
 */
int rpal_epoll_ctl(int epfd, int op, int fd, struct epoll_event *event);

/*
 * rpal_epoll_wait - epoll_wait(2) for an rpal thread: the same arguments,
 * results and errno. While it waits, a sender may run this thread's code
 * directly (no syscall, no scheduler): it returns, on the sender's CPU,
 * with the receiver fd ready, and the next call to it hands control back
 * to the sender. Ordinary fds work as with epoll_wait(2).
 */
int rpal_epoll_wait(int epfd, struct epoll_event *events, int maxevents,
		    int timeout);

/* Where a received message came from. */
struct rpal_msg_info {
	uint32_t sender_id; /* service id of the sender */
	uint32_t len;	    /* bytes */
};

/*
 * rpal_recv - take the next message of the calling thread's queue.
 * Returns its length, or -EAGAIN (empty), -EMSGSIZE (@len too small: the
 * message stays, info->len says how much is needed).
 */
int rpal_recv(void *buf, size_t len, struct rpal_msg_info *info);

/*
 * rpal_send - send @len bytes to receiver @receiver of @peer. The message
 * is copied once, into the receiver's queue in the receiver's slot. If
 * the receiver waits in rpal_epoll_wait(), the calling thread runs the
 * receiver's code until it waits again (the call); otherwise it is woken
 * the ordinary way. Per sender, order is kept.
 *
 * From code running in a call, the message is queued (calls do not nest)
 * and written on the caller's thread: the service whose call runs this
 * code must share slots with @peer too, or the send returns -ECONNRESET.
 *
 * Returns 0, or -EAGAIN (the queue is full), -EMSGSIZE, -ECONNRESET (the
 * peer died or detached during the send or the call), -ENOENT (no such
 * receiver), -EPERM (not an rpal thread).
 */
int rpal_send(rpal_peer_t *peer, uint32_t receiver, const void *buf,
	      size_t len);

/*
 * rpal_read_caller - copy @len bytes at @src, an address in the memory of
 * the service whose thread is running this code (a call: only from code
 * that rpal_epoll_wait() returned to for a call, before it waits again),
 * to @dst. With protection keys the caller's memory is closed to the
 * callee's code; this opens it for the copy only, so a pointer can travel
 * in a message and the data be copied once.
 *
 * Returns 0, or -EPERM (not in a call), -EFAULT (@src is not in the
 * caller's slot, or not mapped).
 */
int rpal_read_caller(void *dst, const void *src, size_t len);

/*
 * rpal_set_spin - before sleeping, rpal_epoll_wait() polls the queue for
 * up to @ns nanoseconds (default 0): CPU for latency.
 */
void rpal_set_spin(uint64_t ns);

/*
 * rpal_sigaction - sigaction(2) for rpal processes. A signal that arrives
 * while a thread runs another service's code (during a call) is held and
 * delivered to this handler when the call is over, on the thread's own
 * stack. rpal_init() wraps the handlers installed before it.
 */
int rpal_sigaction(int sig, const struct sigaction *act, struct sigaction *old);

/* Per-thread counters, for tests and tools. */
struct rpal_thread_stats {
	uint64_t sends;	  /* messages sent */
	uint64_t calls;	  /* of those, delivered by a direct call */
	uint64_t proxied; /* syscalls of borrowed code run by their owner */
	uint64_t deferred_sig; /* signals held until a call ended */
	uint64_t rescued;      /* contexts taken back from a caller that
				* died or whose run of our code faulted */
};

int rpal_thread_stats(struct rpal_thread_stats *out);

#ifdef __cplusplus
}
#endif

#endif /* RPAL_RPAL_H */
