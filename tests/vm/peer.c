// SPDX-License-Identifier: MIT
/*
 * In-VM test helpers: registration wrappers, the commanded peer process,
 * test patterns, PKRU access and fault probes. See peer.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "peer.h"

int rpal_do_register(int fd, const char *name, struct rpal_register *r)
{
	memset(r, 0, sizeof(*r));
	r->size = sizeof(*r);
	if (name)
		snprintf((char *)r->name, sizeof(r->name), "%s", name);
	return ioctl(fd, RPAL_IOC_REGISTER, r) ? -errno : 0;
}

int rpal_do_unregister(int fd)
{
	struct rpal_unregister u = { .size = sizeof(u) };

	return ioctl(fd, RPAL_IOC_UNREGISTER, &u) ? -errno : 0;
}

int rpal_do_request(int fd, uint32_t id, uint64_t token, pid_t pid,
		    struct rpal_request *out)
{
	struct rpal_request r;
	char path[64];
	int memfd, ret;

	snprintf(path, sizeof(path), "/proc/%d/mem", (int)pid);
	memfd = open(path, O_RDONLY | O_CLOEXEC);
	if (memfd < 0)
		return -errno;
	memset(&r, 0, sizeof(r));
	r.size = sizeof(r);
	r.peer_id = id;
	r.mem_fd = memfd;
	r.token = token;
	ret = ioctl(fd, RPAL_IOC_REQUEST, &r) ? -errno : 0;
	close(memfd);
	if (out)
		*out = r;
	return ret ? ret : (int)r.state;
}

int rpal_do_thread(int fd, struct rpal_tcb_page **tcb, int eventfd)
{
	struct rpal_thread t;
	void *page = mmap(NULL, sizeof(**tcb), PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (page == MAP_FAILED)
		return -errno;
	*tcb = page;
	(*tcb)->state = RPAL_TCB_RUNNING;
	memset(&t, 0, sizeof(t));
	t.size = sizeof(t);
	t.tcb = (uintptr_t)page;
	t.eventfd = eventfd;
	if (ioctl(fd, RPAL_IOC_THREAD, &t))
		return -errno;
	return (int)t.out_index;
}

int rpal_do_wait(int fd, uint32_t index, int watch_fd, int timeout_ms,
		 struct rpal_wait *out)
{
	struct rpal_wait w;

	memset(&w, 0, sizeof(w));
	w.size = sizeof(w);
	w.index = index;
	w.fd = watch_fd;
	w.timeout_ms = timeout_ms;
	if (ioctl(fd, RPAL_IOC_WAIT, &w))
		return -errno;
	if (out)
		*out = w;
	return (int)w.reason;
}

int rpal_do_wake(int fd, uint32_t service_id, uint32_t index)
{
	struct rpal_wake w = { .size = sizeof(w),
			       .service_id = service_id,
			       .index = index };

	return ioctl(fd, RPAL_IOC_WAKE, &w) ? -errno : 0;
}

int rpal_do_release(int fd, uint32_t id)
{
	struct rpal_release r = { .size = sizeof(r), .peer_id = id };

	return ioctl(fd, RPAL_IOC_RELEASE, &r) ? -errno : 0;
}

int rpal_module_reload(const char *params)
{
	int fd;
	long ret;

	if (syscall(SYS_delete_module, "rpal", O_NONBLOCK))
		return -errno;
	fd = open("/rpal/rpal.ko", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ret = syscall(SYS_finit_module, fd, params, 0);
	close(fd);
	return ret ? -errno : 0;
}

int self_register(struct rpal_register *r)
{
	int fd = open(RPAL_DEVICE_PATH, O_RDWR | O_CLOEXEC);
	int ret;

	if (fd < 0)
		return -errno;
	ret = rpal_do_register(fd, "self", r);
	if (ret) {
		close(fd);
		return ret;
	}
	return fd;
}

uint64_t pattern_word(uint64_t seed, size_t index)
{
	return seed * 0x9e3779b97f4a7c15ULL ^ (index * 0xff51afd7ed558ccdULL);
}

void pattern_fill(void *addr, size_t len, uint64_t seed)
{
	uint64_t *p = addr;

	for (size_t i = 0; i < len / 8; i++)
		p[i] = pattern_word(seed, i);
}

bool pattern_check(const void *addr, size_t len, uint64_t seed)
{
	const uint64_t *p = addr;

	for (size_t i = 0; i < len / 8; i++)
		if (p[i] != pattern_word(seed, i))
			return false;
	return true;
}

/* Empty every CPU's LRU batches: compaction calls lru_add_drain_all(). */
static void lru_drain_all(void)
{
	int fd = open("/proc/sys/vm/compact_memory", O_WRONLY | O_CLOEXEC);

	if (fd >= 0) {
		if (write(fd, "1", 1) < 0)
			(void)0; /* best effort: the retries follow */
		close(fd);
	}
}

/* /proc/self/pagemap: bit 63 present, 62 swapped, 0-54 PFN (root). */
static uint64_t pagemap_entry(uint64_t addr)
{
	int fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	uint64_t e = 0;

	if (fd >= 0) {
		if (pread(fd, &e, sizeof(e), (off_t)(addr / 4096 * 8)) !=
		    sizeof(e))
			e = 0;
		close(fd);
	}
	return e;
}

struct peer_msg {
	uint32_t op;
	uint64_t a, b, c;
};

static int64_t peer_do(int rpal_fd, const struct peer_msg *m)
{
	long page = sysconf(_SC_PAGESIZE);
	void *p;

	switch (m->op) {
	case PEER_MMAP:
		p = mmap(NULL, m->a, (int)m->b, MAP_PRIVATE | MAP_ANONYMOUS, -1,
			 0);
		return p == MAP_FAILED ? -errno : (int64_t)(uintptr_t)p;
	case PEER_FILL:
		pattern_fill((void *)(uintptr_t)m->a, m->b, m->c);
		return 0;
	case PEER_CHECK:
		return pattern_check((void *)(uintptr_t)m->a, m->b, m->c);
	case PEER_MUNMAP:
		return munmap((void *)(uintptr_t)m->a, m->b) ? -errno : 0;
	case PEER_MPROTECT:
		return mprotect((void *)(uintptr_t)m->a, m->b, (int)m->c)
			       ? -errno
			       : 0;
	case PEER_REQUEST:
		return rpal_do_request(rpal_fd, (uint32_t)m->a, m->b,
				       (pid_t)m->c, NULL);
	case PEER_RELEASE:
		return rpal_do_release(rpal_fd, (uint32_t)m->a);
	case PEER_TOUCH: {
		volatile const char *c = (const char *)(uintptr_t)m->a;
		int64_t sum = 0;

		for (uint64_t off = 0; off < m->b; off += page)
			sum += c[off];
		return sum;
	}
	case PEER_EVENTS: {
		struct rpal_event ev[16];
		struct pollfd pfd = { .fd = rpal_fd, .events = POLLIN };
		ssize_t n;

		if (poll(&pfd, 1, 0) != 1)
			return 0;
		n = read(rpal_fd, ev, sizeof(ev));
		if (n < 0)
			return -errno;
		return (n / (ssize_t)sizeof(ev[0])) << 8 | ev[0].type;
	}
	case PEER_EXIT:
		_exit(0);
	case PEER_PKEY:
		if (m->b)
			pkey_open((int)m->a);
		else
			pkey_close((int)m->a);
		return 0;
	case PEER_FORK: {
		pid_t pid = fork();

		if (pid == 0) {
			prctl(PR_SET_PDEATHSIG, SIGKILL);
			for (;;)
				pause();
		}
		return pid < 0 ? -errno : pid;
	}
	case PEER_UNREGISTER:
		return rpal_do_unregister(rpal_fd);
	case PEER_EXEC:
		execl("/bin/true", "true", (char *)NULL);
		return -errno;
	case PEER_WRITE:
		memset((void *)(uintptr_t)m->a, (int)m->c, m->b);
		return 0;
	case PEER_PAGEOUT: {
		int64_t n = 0;

		/*
		 * Pages still in a per-CPU LRU batch cannot be isolated yet;
		 * madvise drains only this CPU's batch, compaction drains
		 * every CPU's (lru_add_drain_all()), so a few rounds get
		 * them all.
		 */
		for (int tries = 0; tries < 200; tries++) {
			if (tries % 20 == 10)
				lru_drain_all();
			if (madvise((void *)(uintptr_t)m->a, m->b,
				    MADV_PAGEOUT))
				return -errno;
			n = 0;
			for (uint64_t off = 0; off < m->b; off += page)
				n += pagemap_entry(m->a + off) >> 62 == 1;
			if (n == (int64_t)(m->b / page))
				break;
			usleep(5000);
		}
		return n;
	}
	case PEER_PFN: {
		uint64_t e = pagemap_entry(m->a);

		return e >> 63 ? (int64_t)(e & ((1ULL << 55) - 1)) : -1;
	}
	case PEER_CHURN:
		p = mmap(NULL, m->a, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED)
			return -errno;
		memset(p, 0xee, m->a);
		return 0;
	case PEER_SET:
		__atomic_store_n((uint64_t *)(uintptr_t)m->a, m->b,
				 __ATOMIC_RELEASE);
		return 0;
	case PEER_THREAD: {
		struct rpal_tcb_page *tcb;

		return rpal_do_thread(rpal_fd, &tcb, -1);
	}
	case PEER_WAIT:
		return rpal_do_wait(rpal_fd, (uint32_t)m->a, -1, (int)m->b,
				    NULL);
	case PEER_CODE: {
		unsigned char *code;

		code = mmap(NULL, page, PROT_READ | PROT_WRITE | PROT_EXEC,
			    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (code == MAP_FAILED)
			return -errno;
		code[0] = 0xb8; /* mov $imm32, %eax */
		memcpy(code + 1, &m->a, 4);
		code[5] = 0xc3; /* ret */
		return (int64_t)(uintptr_t)code;
	}
	}
	return -EINVAL;
}

static _Noreturn void peer_main(int sock)
{
	struct rpal_register reg;
	struct peer_msg m;
	int64_t ret;
	int fd;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	fd = open(RPAL_DEVICE_PATH, O_RDWR | O_CLOEXEC);
	ret = fd < 0 ? -errno : rpal_do_register(fd, "peer", &reg);
	if (ret)
		reg.size = 0;
	if (send(sock, &reg, sizeof(reg), 0) != sizeof(reg) || ret)
		_exit(1);
	for (;;) {
		ssize_t n = recv(sock, &m, sizeof(m), 0);

		if (n != sizeof(m))
			_exit(0);
		ret = peer_do(fd, &m);
		if (send(sock, &ret, sizeof(ret), 0) != sizeof(ret))
			_exit(1);
	}
}

int peer_spawn(struct peer *p)
{
	int sv[2];

	memset(p, 0, sizeof(*p));
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv))
		return -errno;
	p->pid = fork();
	if (p->pid < 0)
		return -errno;
	if (p->pid == 0) {
		close(sv[0]);
		peer_main(sv[1]);
	}
	close(sv[1]);
	p->sock = sv[0];
	if (recv(p->sock, &p->reg, sizeof(p->reg), 0) != sizeof(p->reg) ||
	    p->reg.size == 0) {
		peer_kill(p);
		return -EIO;
	}
	return 0;
}

int peer_send(struct peer *p, enum peer_op op, uint64_t a, uint64_t b,
	      uint64_t c)
{
	struct peer_msg m = { .op = op, .a = a, .b = b, .c = c };

	return send(p->sock, &m, sizeof(m), MSG_NOSIGNAL) == sizeof(m) ? 0
								       : -EIO;
}

int64_t peer_recv(struct peer *p)
{
	int64_t ret;

	if (recv(p->sock, &ret, sizeof(ret), 0) != sizeof(ret))
		return INT64_MIN;
	return ret;
}

int64_t peer_cmd(struct peer *p, enum peer_op op, uint64_t a, uint64_t b,
		 uint64_t c)
{
	if (peer_send(p, op, a, b, c))
		return INT64_MIN;
	if (op == PEER_EXIT)
		return 0;
	return peer_recv(p);
}

void peer_kill(struct peer *p)
{
	if (p->pid > 0) {
		kill(p->pid, SIGKILL);
		waitpid(p->pid, NULL, 0);
		p->pid = 0;
	}
	if (p->sock > 0) {
		close(p->sock);
		p->sock = -1;
	}
}

volatile uint64_t *shared_flag_page(void)
{
	void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

int peer_link(int self_fd, struct rpal_register *self, struct peer *p)
{
	struct rpal_request req;
	int ret;

	ret = rpal_do_request(self_fd, p->reg.id, p->reg.token, p->pid, &req);
	if (ret != RPAL_PEER_PENDING)
		return ret < 0 ? ret : -EPROTO;
	ret = (int)peer_cmd(p, PEER_REQUEST, self->id, self->token, getpid());
	return ret == RPAL_PEER_ACTIVE ? 0 : (ret < 0 ? ret : -EPROTO);
}

bool have_pku(void)
{
	struct rpal_version v = { .size = sizeof(v) };
	int fd = open(RPAL_DEVICE_PATH, O_RDWR | O_CLOEXEC);
	bool yes;

	if (fd < 0)
		return false;
	yes = !ioctl(fd, RPAL_IOC_VERSION, &v) && (v.features & RPAL_FEAT_PKU);
	close(fd);
	return yes;
}

__attribute__((noinline)) uint32_t pkru_read(void)
{
	uint32_t eax, edx;

	__asm__ volatile("rdpkru" : "=a"(eax), "=d"(edx) : "c"(0));
	return eax;
}

void pkru_write(uint32_t v)
{
	__asm__ volatile("wrpkru" : : "a"(v), "c"(0), "d"(0) : "memory");
}

void pkey_open(int pkey)
{
	if (pkey > 0)
		pkru_write(pkru_read() & ~(3u << (2 * pkey)));
}

void pkey_close(int pkey)
{
	if (pkey > 0)
		pkru_write(pkru_read() | (1u << (2 * pkey)));
}

static sigjmp_buf probe_jmp;
static volatile int probe_code, probe_pkey;

static void probe_handler(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	probe_code = si->si_code;
	probe_pkey = sig == SIGSEGV ? (int)si->si_pkey : -1;
	siglongjmp(probe_jmp, sig);
}

static int probe(volatile void *addr, bool write, int *code, int *pkey)
{
	struct sigaction sa = { .sa_sigaction = probe_handler,
				.sa_flags = SA_SIGINFO | SA_NODEFER },
			 old_segv, old_bus;
	/* volatile: read again after siglongjmp */
	volatile bool pku = have_pku();
	volatile uint32_t pkru = pku ? pkru_read() : 0;
	int sig;

	sigaction(SIGSEGV, &sa, &old_segv);
	sigaction(SIGBUS, &sa, &old_bus);
	sig = sigsetjmp(probe_jmp, 1);
	if (!sig) {
		if (write)
			*(volatile char *)addr = 1;
		else
			(void)*(volatile const char *)addr;
	}
	/* The handler ran with the kernel's default PKRU: put ours back. */
	if (pku)
		pkru_write(pkru);
	sigaction(SIGSEGV, &old_segv, NULL);
	sigaction(SIGBUS, &old_bus, NULL);
	if (code)
		*code = sig ? probe_code : 0;
	if (pkey)
		*pkey = sig ? probe_pkey : -1;
	return sig;
}

int probe_read(const volatile void *addr, int *code, int *pkey)
{
	return probe((volatile void *)addr, false, code, pkey);
}

int probe_write(volatile void *addr, int *code, int *pkey)
{
	return probe(addr, true, code, pkey);
}

bool in_slot(const struct rpal_register *r, uint64_t addr, uint64_t len)
{
	return addr >= r->slot_base &&
	       addr + len <= r->slot_base + r->slot_size;
}

int smaps_pkey(const void *addr)
{
	FILE *f = fopen("/proc/self/smaps", "r");
	uintptr_t a = (uintptr_t)addr;
	char line[512];
	bool inside = false;
	int pkey = -2;

	if (!f)
		return -2;
	while (fgets(line, sizeof(line), f)) {
		unsigned long lo, hi;

		if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2 &&
		    strchr(line, '-') < strchr(line, ' ')) {
			inside = a >= lo && a < hi;
			continue;
		}
		if (inside && sscanf(line, "ProtectionKey: %d", &pkey) == 1)
			break;
	}
	fclose(f);
	return pkey;
}
