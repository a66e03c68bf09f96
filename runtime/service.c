// SPDX-License-Identifier: MIT
/*
 * The process as an rpal service: rpal_init() (key-0 blocks, registration,
 * the runtime area at the base of the slot, signal handlers, the first
 * thread), its identity, peers (connect, disconnect), and the events the
 * module reports on the service fd (peers that became active or died).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "queue.h"
#include "rt.h"

#define VIS __attribute__((visibility("default")))

struct __rpal_service __rpal_svc = { .fd = -1 };

long __rpal_ioctl(unsigned long cmd, void *arg)
{
	return __rpal_syscall6(SYS_ioctl, __rpal_svc.fd, (long)cmd, (long)arg,
			       0, 0, 0);
}

int __rpal_wake(uint32_t service_id, uint32_t kindex)
{
	struct rpal_wake w = { .size = sizeof(w),
			       .service_id = service_id,
			       .index = kindex };

	return (int)__rpal_ioctl(RPAL_IOC_WAKE, &w);
}

static void mark_dead(uint32_t sender)
{
	uint32_t n = atomic_fetch_add(&__rpal_svc.ndead, 1);

	atomic_store(&__rpal_svc.dead[n % 64], sender);
}

bool __rpal_sender_dead(uint32_t sender)
{
	uint32_t n = atomic_load(&__rpal_svc.ndead);

	for (uint32_t i = 0; i < n && i < 64; i++)
		if (atomic_load(&__rpal_svc.dead[i]) == sender)
			return true;
	return false;
}

/*
 * Drain the module's events without blocking. Dead peers are remembered
 * (their half-written queue slots get skipped); the generation comes from
 * the peer table where known.
 */
static struct rpal_peer *peers;

static uint32_t peer_gen(uint32_t id)
{
	for (struct rpal_peer *p = peers; p; p = p->next)
		if (p->id.id == id)
			return p->id.generation;
	return 0;
}

static int active_wanted, active_seen;

void __rpal_read_events(void)
{
	struct rpal_event ev[16];
	long n;

	for (;;) {
		n = __rpal_syscall6(SYS_read, __rpal_svc.fd, (long)ev,
				    sizeof(ev), 0, 0, 0);
		if (n <= 0)
			return;
		for (long i = 0; i < n / (long)sizeof(ev[0]); i++) {
			if (ev[i].type == RPAL_EVENT_PEER_DIED ||
			    ev[i].type == RPAL_EVENT_PEER_RELEASED)
				mark_dead(__rpal_sender_id(
					ev[i].peer_id,
					peer_gen(ev[i].peer_id)));
			if (ev[i].type == RPAL_EVENT_PEER_ACTIVE &&
			    (int)ev[i].peer_id == active_wanted)
				active_seen = 1;
		}
	}
}

/* Key-0 blocks, aligned to their size so a handler finds its own. */
static char *map_kblocks(void)
{
	size_t len = RPAL_MAX_RTHREADS * RPAL_KBLOCK_SIZE;
	char *p = mmap(NULL, len + RPAL_KBLOCK_SIZE, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	uintptr_t a;

	if (p == MAP_FAILED)
		return NULL;
	a = ((uintptr_t)p + RPAL_KBLOCK_SIZE - 1) & ~(RPAL_KBLOCK_SIZE - 1);
	if (a > (uintptr_t)p)
		munmap(p, a - (uintptr_t)p);
	munmap((char *)a + len, (uintptr_t)p + RPAL_KBLOCK_SIZE - a);
	return (char *)a;
}

VIS int rpal_init(const struct rpal_opts *opts)
{
	struct __rpal_service *s = &__rpal_svc;
	struct rpal_version v = { .size = sizeof(v) };
	int ret;
	void *area;

	if (s->fd >= 0)
		return -EALREADY;
	s->queue_len = opts && opts->queue_len ? opts->queue_len : 256;
	s->max_msg = opts && opts->max_msg ? opts->max_msg : 4096;
	if (!__rpal_queue_bytes(s->queue_len, s->max_msg) ||
	    __rpal_queue_bytes(s->queue_len, s->max_msg) > RPAL_QUEUE_MAX_BYTES)
		return -EINVAL;
	s->fd = open(RPAL_DEVICE_PATH, O_RDWR | O_CLOEXEC | O_NONBLOCK);
	if (s->fd < 0) {
		ret = -errno;
		s->fd = -1;
		return ret;
	}
	if (ioctl(s->fd, RPAL_IOC_VERSION, &v) || v.api != RPAL_API_VERSION) {
		ret = -EPROTONOSUPPORT;
		goto err_fd;
	}
	s->have_pku = v.features & RPAL_FEAT_PKU;
	s->have_fsgsbase = getauxval(AT_HWCAP2) & 2; /* HWCAP2_FSGSBASE */
	s->call_how = (s->have_fsgsbase ? RPAL_CALL_WRFSBASE : 0) |
		      (s->have_pku ? RPAL_CALL_PKU : 0);
	/* Before registering: no key yet, so these pages keep key 0. */
	s->kblocks = map_kblocks();
	if (!s->kblocks) {
		ret = -ENOMEM;
		goto err_fd;
	}
	memset(&s->reg, 0, sizeof(s->reg));
	s->reg.size = sizeof(s->reg);
	if (opts && opts->name)
		snprintf((char *)s->reg.name, sizeof(s->reg.name), "%s",
			 opts->name);
	if (ioctl(s->fd, RPAL_IOC_REGISTER, &s->reg)) {
		ret = -errno;
		goto err_kb;
	}
	area = mmap((void *)(uintptr_t)s->reg.slot_base, RPAL_AREA_HDR_SIZE,
		    PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	if (area == MAP_FAILED) {
		ret = -errno;
		goto err_reg;
	}
	s->area = area;
	s->area->magic = RPAL_AREA_MAGIC;
	s->area->version = RPAL_AREA_VERSION;
	s->area->id = s->reg.id;
	s->area->generation = s->reg.generation;
	s->area->pid = getpid();
	s->area->pkey = s->reg.pkey;
	s->area->max_msg = s->max_msg;
	s->area->queue_len = s->queue_len;
	s->sender_id = __rpal_sender_id(s->reg.id, s->reg.generation);
	s->tsc_hz = __rpal_tsc_hz();
	ret = __rpal_signals_init();
	if (ret)
		goto err_area;
	ret = rpal_thread_init();
	if (ret < 0)
		goto err_area;
	return 0;

err_area:
	munmap(s->area, RPAL_AREA_HDR_SIZE);
	s->area = NULL;
err_reg : {
	struct rpal_unregister u = { .size = sizeof(u) };

	ioctl(s->fd, RPAL_IOC_UNREGISTER, &u);
}
err_kb:
	munmap(s->kblocks, RPAL_MAX_RTHREADS * RPAL_KBLOCK_SIZE);
	s->kblocks = NULL;
err_fd:
	close(s->fd);
	s->fd = -1;
	return ret;
}

VIS int rpal_self(struct rpal_identity *out)
{
	if (__rpal_svc.fd < 0)
		return -EPERM;
	out->id = __rpal_svc.reg.id;
	out->generation = __rpal_svc.reg.generation;
	out->token = __rpal_svc.reg.token;
	out->pid = getpid();
	out->pkey = __rpal_svc.reg.pkey;
	return 0;
}

static int rpal_disconnect_id(uint32_t id);

static long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

VIS int rpal_connect(const struct rpal_identity *id, int timeout_ms,
		     rpal_peer_t **out)
{
	struct rpal_request r;
	struct rpal_peer *p;
	char path[64];
	long deadline = timeout_ms < 0 ? -1 : now_ms() + timeout_ms;
	int memfd, ret = 0;

	if (__rpal_svc.fd < 0)
		return -EPERM;
	snprintf(path, sizeof(path), "/proc/%d/mem", (int)id->pid);
	memfd = open(path, O_RDONLY | O_CLOEXEC);
	if (memfd < 0)
		return errno == ENOENT ? -ENOENT : -EACCES;
	memset(&r, 0, sizeof(r));
	r.size = sizeof(r);
	r.peer_id = id->id;
	r.mem_fd = memfd;
	r.token = id->token;
	active_wanted = (int)id->id;
	active_seen = 0;
	if (ioctl(__rpal_svc.fd, RPAL_IOC_REQUEST, &r))
		ret = -errno;
	close(memfd);
	if (ret)
		return ret;
	/* First to ask: wait until the peer asks too. */
	while (r.state == RPAL_PEER_PENDING && !active_seen) {
		struct pollfd pfd = { .fd = __rpal_svc.fd, .events = POLLIN };
		long left = deadline < 0 ? -1 : deadline - now_ms();

		if (deadline >= 0 && left <= 0) {
			rpal_disconnect_id(id->id);
			return -ETIMEDOUT;
		}
		poll(&pfd, 1, (int)left);
		__rpal_read_events();
	}
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->id = *id;
	p->id.pkey = r.peer_pkey;
	p->base = r.peer_base;
	p->area = (struct __rpal_area *)(uintptr_t)r.peer_base;
	p->next = peers;
	peers = p;
	*out = p;
	return 0;
}

/* Withdraw a request by id (also a pending one). */
static int rpal_disconnect_id(uint32_t id)
{
	struct rpal_release rel = { .size = sizeof(rel), .peer_id = id };

	return ioctl(__rpal_svc.fd, RPAL_IOC_RELEASE, &rel) ? -errno : 0;
}

VIS int rpal_disconnect(rpal_peer_t *peer)
{
	struct rpal_peer **pp;
	int ret;

	if (!peer)
		return -EINVAL;
	ret = rpal_disconnect_id(peer->id.id);
	for (pp = &peers; *pp; pp = &(*pp)->next)
		if (*pp == peer) {
			*pp = peer->next;
			break;
		}
	free(peer);
	return ret;
}

VIS void rpal_set_spin(uint64_t ns)
{
	atomic_store(&__rpal_svc.spin_ns, ns);
}
