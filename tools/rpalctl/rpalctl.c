// SPDX-License-Identifier: MIT
/*
 * rpalctl: inspect the rpal module from a shell.
 */
#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rpal/rpal.h>
#include <uapi/rpal.h>

#define RPAL_STATUS_PATH "/sys/kernel/debug/rpal/services"

static void usage(FILE *f)
{
	fputs("NAME\n"
	      "    rpalctl - inspect rpal, the Run-Process-As-Library module\n"
	      "\n"
	      "SYNOPSIS\n"
	      "    rpalctl version\n"
	      "    rpalctl status\n"
	      "    rpalctl --help\n"
	      "\n"
	      "DESCRIPTION\n"
	      "    rpalctl talks to rpal.ko through " RPAL_DEVICE_PATH ".\n"
	      "\n"
	      "COMMANDS\n"
	      "    version   Print the module's version and API, this tool's\n"
	      "              version, and the machine features rpal detected:\n"
	      "              pku (protection keys: without them services run\n"
	      "              unprotected), la57 (5-level paging), fsgsbase,\n"
	      "              syscall user dispatch, pti (page-table "
	      "isolation).\n"
	      "    status    List the services (needs root and debugfs):\n"
	      "              id, pid, name, slot and its base, protection\n"
	      "              key, the peers whose slots it sees, peer faults\n"
	      "              resolved, TLB flushes forwarded; CALLS-OUT and\n"
	      "              CALLS-IN count RPAL calls it made and received;\n"
	      "              CPU-MS is the CPU time the kernel charged its\n"
	      "              threads, RPAL-CPU-MS the same corrected for "
	      "calls\n"
	      "              (time its threads spent running peers' code goes\n"
	      "              to those peers, time peers' threads spent "
	      "running\n"
	      "              its code comes to it; measured with the TSC by "
	      "the\n"
	      "              callers, clamped by the module to what they "
	      "ran).\n"
	      "              Then the programs rpal-run placed that have not\n"
	      "              registered yet.\n"
	      "\n"
	      "EXIT STATUS\n"
	      "    0 success; 1 the module is missing or unusable (the "
	      "message\n"
	      "    says why and what to do); 2 bad usage.\n",
	      f);
}

static void print_feature(uint64_t features, uint64_t bit, const char *name,
			  const char *yes, const char *no)
{
	bool on = features & bit;

	printf("  %-22s %-3s  %s\n", name, on ? "yes" : "no", on ? yes : no);
}

static int cmd_version(void)
{
	struct rpal_info info;
	int ret = rpal_query(&info);

	if (ret < 0) {
		fprintf(stderr, "rpalctl: %s (%s)\n", rpal_error_hint(ret),
			strerror(-ret));
		return 1;
	}
	printf("rpal module %u.%u.%u, api %u; rpalctl %s, api %u\n",
	       (unsigned int)(info.module_version >> 32),
	       (unsigned int)(info.module_version >> 16) & 0xffff,
	       (unsigned int)info.module_version & 0xffff, info.api,
	       RPAL_VERSION_STRING, RPAL_API_VERSION);
	printf("features:\n");
	print_feature(info.features, RPAL_FEAT_PKU, "pku",
		      "services are isolated by protection keys",
		      "UNPROTECTED: services can reach each other's memory");
	print_feature(info.features, RPAL_FEAT_LA57, "la57",
		      "5-level paging: a slot is one P4D entry",
		      "4-level paging: a slot is one PGD entry");
	print_feature(info.features, RPAL_FEAT_FSGSBASE, "fsgsbase",
		      "user-mode fsbase switch",
		      "fsbase switch needs arch_prctl (slower calls)");
	print_feature(info.features, RPAL_FEAT_SYSCALL_USER_DISPATCH,
		      "syscall-user-dispatch",
		      "syscalls in borrowed code are redirected",
		      "syscalls in borrowed code cannot be redirected");
	print_feature(info.features, RPAL_FEAT_PTI, "pti",
		      "page-table isolation on (user copy of entries kept)",
		      "page-table isolation off");
	printf("commands: %#llx\n", (unsigned long long)info.commands);
	return 0;
}

/*
 * CPU time the kernel charged the threads of @pid (sum_exec_runtime, the
 * first field of each thread's schedstat), in ns; -1 if it is gone.
 */
static long long kernel_cpu_ns(int pid)
{
	char path[64];
	long long sum = 0;
	struct dirent *d;
	DIR *dir;

	snprintf(path, sizeof(path), "/proc/%d/task", pid);
	dir = opendir(path);
	if (!dir)
		return -1;
	while ((d = readdir(dir))) {
		long long ns;
		FILE *f;

		if (d->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/%d/task/%.16s/schedstat",
			 pid, d->d_name);
		f = fopen(path, "r");
		if (!f)
			continue; /* the thread just exited */
		if (fscanf(f, "%lld", &ns) == 1)
			sum += ns;
		fclose(f);
	}
	closedir(dir);
	return sum;
}

static int cmd_status(void)
{
	struct rpal_info info;
	char line[512], *placed[64];
	int ret = rpal_query(&info), n = 0, nplaced = 0;
	FILE *f;

	if (ret < 0) {
		fprintf(stderr, "rpalctl: %s (%s)\n", rpal_error_hint(ret),
			strerror(-ret));
		return 1;
	}
	f = fopen(RPAL_STATUS_PATH, "r");
	if (!f) {
		fprintf(stderr,
			"rpalctl: cannot read %s: %s (as root, with debugfs "
			"mounted: mount -t debugfs none /sys/kernel/debug)\n",
			RPAL_STATUS_PATH, strerror(errno));
		return 1;
	}
	printf("protection: %s\n", info.features & RPAL_FEAT_PKU
					   ? "protection keys"
					   : "NONE (no PKU: services can reach "
					     "each other's memory)");
	printf("%-4s %-7s %-16s %-4s %-15s %-4s %-12s %-8s %-8s %-10s %-10s "
	       "%-10s %s\n",
	       "ID", "PID", "NAME", "SLOT", "BASE", "PKEY", "SEES", "FAULTS",
	       "FLUSHES", "CALLS-OUT", "CALLS-IN", "CPU-MS", "RPAL-CPU-MS");
	/*
	 * The debugfs line (docs/uapi.md): id pid name slot base pkey peers
	 * faults flushes calls_made calls_received ns_lent ns_borrowed.
	 */
	while (fgets(line, sizeof(line), f)) {
		char name[64], base[32], peers[128];
		unsigned int id, slot;
		long long faults, flushes, made, received, lent, borrowed, cpu;
		int pid, pkey;

		if (line[0] == '#')
			continue;
		if (!strncmp(line, "placed ", 7)) {
			if (nplaced < 64)
				placed[nplaced++] = strdup(line + 7);
			continue;
		}
		if (sscanf(line,
			   "%u %d %63s %u %31s %d %127s %lld %lld %lld %lld "
			   "%lld %lld",
			   &id, &pid, name, &slot, base, &pkey, peers, &faults,
			   &flushes, &made, &received, &lent,
			   &borrowed) != 13) {
			fprintf(stderr, "rpalctl: unexpected line: %s", line);
			fclose(f);
			return 1;
		}
		printf("%-4u %-7d %-16s %-4u %-15s %-4d %-12s %-8lld %-8lld "
		       "%-10lld %-10lld ",
		       id, pid, name, slot, base, pkey, peers, faults, flushes,
		       made, received);
		cpu = kernel_cpu_ns(pid);
		if (cpu < 0)
			printf("%-10s %s\n", "-", "-");
		else
			printf("%-10.3f %.3f\n", cpu / 1e6,
			       (cpu - lent + borrowed) / 1e6);
		n++;
	}
	fclose(f);
	printf("%d service%s\n", n, n == 1 ? "" : "s");
	if (nplaced) {
		printf("\nplaced by rpal-run, not registered yet:\n");
		printf("%-7s %-16s %-4s %-15s %s\n", "PID", "NAME", "SLOT",
		       "BASE", "STATE");
	}
	for (int i = 0; i < nplaced; i++) {
		char name[64], base[32], state[16];
		unsigned int slot;
		int pid;

		if (placed[i] && sscanf(placed[i], "%d %63s %u %31s %15s", &pid,
					name, &slot, base, state) == 5)
			printf("%-7d %-16s %-4u %-15s %s\n", pid, name, slot,
			       base, state);
		free(placed[i]);
	}
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") ||
	    !strcmp(argv[1], "help")) {
		usage(stdout);
		return 0;
	}
	if (!strcmp(argv[1], "version") && argc == 2)
		return cmd_version();
	if (!strcmp(argv[1], "status") && argc == 2)
		return cmd_status();
	fprintf(stderr, "rpalctl: unknown command '%s' (see rpalctl --help)\n",
		argv[1]);
	return 2;
}
