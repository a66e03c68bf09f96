/* SPDX-License-Identifier: MIT */
/*
 * Helpers shared by the in-VM tests: opening /dev/rpal, the handshake,
 * reading the guest's /proc/cpuinfo flags.
 */
#ifndef RPAL_VMTEST_H
#define RPAL_VMTEST_H

#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <uapi/rpal.h>

#include "../harness/rpal_test.h"

/* Where the VM's init put the module, for tests that reload it. */
#define RPAL_VM_KO_PATH "/rpal/rpal.ko"

static inline int rpal_open(void)
{
	return open(RPAL_DEVICE_PATH, O_RDWR | O_CLOEXEC);
}

static inline int rpal_version(int fd, struct rpal_version *v)
{
	memset(v, 0, sizeof(*v));
	v->size = sizeof(*v);
	return ioctl(fd, RPAL_IOC_VERSION, v);
}

/* True when the first "flags" line of /proc/cpuinfo lists the flag. */
static inline bool cpuinfo_has(const char *flag)
{
	char line[8192];
	bool found = false;
	FILE *f = fopen("/proc/cpuinfo", "r");

	if (!f)
		return false;
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, "flags", 5))
			continue;
		for (char *tok = strtok(strchr(line, ':') + 1, " \n"); tok;
		     tok = strtok(NULL, " \n"))
			if (!strcmp(tok, flag))
				found = true;
		break;
	}
	fclose(f);
	return found;
}

#endif /* RPAL_VMTEST_H */
