// SPDX-License-Identifier: MIT
/*
 * The shared vocabulary of rpal-bench: a channel between two processes,
 * the mechanisms that can carry one (each in its own mech_*.c), and the
 * description and results of one measured run.
 */
#ifndef RPAL_BENCH_H
#define RPAL_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * A channel joins two processes. Side A is the upstream end (towards the
 * client), side B the downstream end (towards the last service).
 */
enum chan_side {
	SIDE_A = 0,
	SIDE_B = 1,
};

struct mech;

/* Bytes of memory the processes of a run share per channel (chan.shared). */
#define CHAN_SHARED_SIZE 256
/* And for the whole run (chan.row_shared), the same for every channel. */
#define ROW_SHARED_SIZE 1024

struct chan {
	const struct mech *mech;
	size_t max_msg; /* largest message it must carry */
	/*
	 * CHAN_SHARED_SIZE zeroed bytes both ends see, mapped in every
	 * process of the run (also after an exec): where ends that cannot
	 * inherit state from setup() meet, e.g. to swap identities.
	 */
	void *shared;
	void *row_shared;
	int procs; /* processes in the run: the client and its services */
	int proc;  /* this process's index among them (0: the client) */
	/* this process shares its CPU with another of the run: a spinner
	 * would only delay whoever it waits for */
	bool cpu_shared;
	int side;   /* the end this process holds, after attach */
	void *priv; /* the mechanism's state */
};

/* It spins while it waits: its CPU time is part of its price. */
#define MECH_POLLING (1u << 0)
/*
 * Its processes must be started by rpal-run (all their memory in an rpal
 * slot): each forked process execs rpal-bench again under rpal-run, so
 * nothing setup() made is inherited; attach() starts from a fresh chan
 * with only max_msg and shared set.
 */
#define MECH_RPAL_RUN (1u << 1)

/* What a mechanism counts of its own, per process (mech.counters). */
struct mech_counters {
	uint64_t sends;	  /* messages this process sent */
	uint64_t direct;  /* of those, handed over without the kernel */
	uint64_t proxied; /* syscalls of borrowed code run by their owner */
};

/*
 * The common interface. Every call returns 0 or -1 after printing why
 * (bench_fail()). The protocol on top is strictly request/response, so a
 * direction never holds more than one message; mechanisms may rely on it
 * but must detect a violation rather than corrupt data.
 */
struct mech {
	const char *name;  /* for --mechs and the CSV */
	const char *label; /* for tables and the plot */
	const char *note;  /* one line on how it is done, for the report */
	/* Non-NULL: cannot run yet; the report shows this instead. */
	const char *pending;
	unsigned int flags;
	/* NULL if it can run here, else why not (the row is skipped). */
	const char *(*unavailable)(void);
	/* In the coordinator, before fork: what both ends inherit. */
	int (*setup)(struct chan *ch);
	/* In each process after fork: keep end @side, drop the other. */
	int (*attach)(struct chan *ch, int side);
	/*
	 * Move exactly @len bytes. send() may defer the transfer until the
	 * next recv() on the same channel or teardown(), so @msg must stay
	 * untouched until then; recv() may reuse the buffer send() was
	 * given, which is why deferring mechanisms must order the two.
	 */
	int (*send)(struct chan *ch, const void *msg, size_t len);
	int (*recv)(struct chan *ch, void *buf, size_t len);
	/* Release what this process holds; safe after a failed attach. */
	int (*teardown)(struct chan *ch);
	/* Optional: this process's counters, after its last message. */
	int (*counters)(struct mech_counters *out);
};

extern const struct mech *const mechs[];
extern const size_t n_mechs;
const struct mech *mech_find(const char *name);

/* The baseline every ratio in the report is taken against. */
#define BASELINE_MECH "epoll_uds"

#define MAX_CHAIN 8

struct run_cfg {
	const struct mech *mech;
	size_t size;	    /* bytes per message, both directions */
	int chain;	    /* services in a row behind the client */
	bool cross;	    /* neighbours on different CPUs */
	int cpu[2];	    /* the CPUs to place processes on */
	uint64_t count;	    /* measured round trips */
	uint64_t warmup;    /* round trips before measuring */
	double max_seconds; /* stop measuring early after this long */
	double tsc_hz;
	int64_t corrupt_at; /* seq whose payload the client breaks; -1 */
	double timeout;	    /* seconds before the run is killed */
};

struct dist {
	double mean;
	int64_t min, p50, p99, p999, max;
};

enum run_status {
	RUN_OK = 0,
	RUN_FAILED,
	RUN_PENDING,
	RUN_SKIPPED,
};

struct run_result {
	enum run_status status;
	char why[160];
	uint64_t n;	    /* measured round trips */
	struct dist oneway; /* TSC cycles, client send to last receipt */
	struct dist rtt;    /* TSC cycles, client send to echo receipt */
	double seconds;	    /* wall time of the measured part */
	double cpu_client;  /* seconds of user+sys over the measured part */
	double cpu_services;
	double csw;	    /* context switches, all processes */
	int64_t neg_oneway; /* negative one-way samples (TSC skew) */
	/* share of the row's CPUs' time that others used meanwhile, or -1 */
	double other_load;
	bool counted;		     /* the mechanism filled in counters */
	struct mech_counters counts; /* summed over the processes */
};

int run_one(const struct run_cfg *cfg, struct run_result *res);

/*
 * The second half of a process of a MECH_RPAL_RUN row, after the exec:
 * main() calls it when started as "rpal-bench --row-process FD INDEX".
 */
#define ROW_PROCESS_OPT "--row-process"
_Noreturn void run_row_process(int argc, char **argv);

/* Rows where others used this much of the machine are flagged as noisy. */
#define NOISY_LOAD 0.10

/* Which process prints: set after fork, used by bench_fail(). */
extern const char *bench_role;
extern bool bench_quiet;

/*
 * Where a forked process leaves its first error for the coordinator, so
 * a failed row says why; memory shared with the coordinator.
 */
struct err_sink {
	int taken;
	char msg[160];
};
extern struct err_sink *bench_sink;

int bench_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int bench_failx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void bench_progress(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
