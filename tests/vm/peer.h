/* SPDX-License-Identifier: MIT */
/*
 * In-VM test helpers for two services: this process (A) and a forked
 * peer (B) that registers itself and then obeys commands sent over a
 * socketpair, so a test can make B map, write, check, unmap, request,
 * release or exit at exactly the moment it needs.
 */
#ifndef RPAL_VM_PEER_H
#define RPAL_VM_PEER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <uapi/rpal.h>

/* A TCB page in the caller's slot; registered as an rpal thread. */
struct rpal_tcb_page {
	uint64_t state;
	uint64_t wake_on_return;
	uint64_t rest[510];
};
/* Map a TCB page (in the slot) and register the calling thread. */
int rpal_do_thread(int fd, struct rpal_tcb_page **tcb, int eventfd);
int rpal_do_wait(int fd, uint32_t index, int watch_fd, int timeout_ms,
		 struct rpal_wait *out);
int rpal_do_wake(int fd, uint32_t service_id, uint32_t index);

/* Register @fd as a service (name may be NULL); 0 or -errno. */
int rpal_do_register(int fd, const char *name, struct rpal_register *r);
int rpal_do_unregister(int fd);
/* Request peer @id with @token; opens /proc/@pid/mem itself. */
int rpal_do_request(int fd, uint32_t id, uint64_t token, pid_t pid,
		    struct rpal_request *out);
int rpal_do_release(int fd, uint32_t id);

/* Unload rpal.ko and load it again with @params ("" for defaults). */
int rpal_module_reload(const char *params);

/* Open /dev/rpal, register, and open this thread's protection key. */
int self_register(struct rpal_register *r);

enum peer_op {
	PEER_MMAP = 1,	 /* a = length, b = prot -> address */
	PEER_FILL,	 /* a = addr, b = len, c = seed: write the pattern */
	PEER_CHECK,	 /* a = addr, b = len, c = seed -> 1 if intact */
	PEER_MUNMAP,	 /* a = addr, b = len */
	PEER_MPROTECT,	 /* a = addr, b = len, c = prot */
	PEER_REQUEST,	 /* a = id, b = token, c = pid -> state or -errno */
	PEER_RELEASE,	 /* a = id -> 0 or -errno */
	PEER_TOUCH,	 /* a = addr, b = len: read one byte per page */
	PEER_EVENTS,	 /* -> number of events readable now (non-blocking) */
	PEER_EXIT,	 /* exit(0) */
	PEER_CODE,	 /* map a page with "mov $a, %eax; ret" -> address */
	PEER_PKEY,	 /* a = pkey, b = 1 open / 0 close */
	PEER_FORK,	 /* fork a child that sleeps -> its pid */
	PEER_UNREGISTER, /* -> 0 or -errno */
	PEER_EXEC,	 /* exec /bin/true (the reply is the exit) */
	PEER_WRITE,	 /* a = addr, b = len, c = byte: plain stores */
	PEER_PAGEOUT,	 /* a = addr, b = len: MADV_PAGEOUT -> pages swapped */
	PEER_PFN,	 /* a = addr -> its page frame number, -1 if absent */
	PEER_CHURN,	 /* a = len: map and touch that much, keep it */
	PEER_SET,	 /* a = addr (shared page), b = value: store it */
	PEER_THREAD,	 /* register this thread (TCB in the slot) -> index */
	PEER_WAIT,	 /* a = index, b = timeout ms -> reason, or -errno */
};

struct peer {
	pid_t pid;
	int sock;
	int rpal_fd;		  /* in B */
	struct rpal_register reg; /* B's registration */
};

/* Fork B; it registers and waits for commands. 0 or -errno. */
int peer_spawn(struct peer *p);
/* Run one command in B; returns its result. */
int64_t peer_cmd(struct peer *p, enum peer_op op, uint64_t a, uint64_t b,
		 uint64_t c);
/* The two halves of peer_cmd, to overlap B's work with A's. */
int peer_send(struct peer *p, enum peer_op op, uint64_t a, uint64_t b,
	      uint64_t c);
int64_t peer_recv(struct peer *p);
/*
 * A page shared with every peer spawned after this call (MAP_SHARED,
 * created before registering: outside any slot). A spins on it to learn
 * that B finished something without blocking, so its CPU keeps its TLB.
 */
volatile uint64_t *shared_flag_page(void);
/* Kill B with SIGKILL (if alive) and reap it. */
void peer_kill(struct peer *p);

/* A and B request each other: on return both views are active. */
int peer_link(int self_fd, struct rpal_register *self, struct peer *p);

/* The test pattern: one 64-bit word per 8 bytes, a function of seed. */
void pattern_fill(void *addr, size_t len, uint64_t seed);
uint64_t pattern_word(uint64_t seed, size_t index);
bool pattern_check(const void *addr, size_t len, uint64_t seed);

/* PKRU helpers (no-ops that return 0 without PKU). */
bool have_pku(void);
uint32_t pkru_read(void);
void pkru_write(uint32_t v);
void pkey_open(int pkey);  /* allow access and write */
void pkey_close(int pkey); /* disable access */

/* Try to read one byte; returns 0, or the signal number it raised, with
 * si_code and si_pkey of the last SIGSEGV in *code and *pkey.
 */
int probe_read(const volatile void *addr, int *code, int *pkey);
int probe_write(volatile void *addr, int *code, int *pkey);

/* Is [addr, addr + len) inside the service's slot? */
bool in_slot(const struct rpal_register *r, uint64_t addr, uint64_t len);

/* The ProtectionKey of the mapping holding addr, from /proc/self/smaps. */
int smaps_pkey(const void *addr);

#endif /* RPAL_VM_PEER_H */
