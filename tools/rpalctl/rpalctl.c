// SPDX-License-Identifier: MIT
/*
 * rpalctl: inspect the rpal module from a shell.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <rpal/rpal.h>
#include <uapi/rpal.h>

static void usage(FILE *f)
{
	fputs("NAME\n"
	      "    rpalctl - inspect rpal, the Run-Process-As-Library module\n"
	      "\n"
	      "SYNOPSIS\n"
	      "    rpalctl version\n"
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
	fprintf(stderr, "rpalctl: unknown command '%s' (see rpalctl --help)\n",
		argv[1]);
	return 2;
}
