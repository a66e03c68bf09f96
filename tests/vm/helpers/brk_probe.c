// SPDX-License-Identifier: MIT
/*
 * Exec'd by register.c: a fresh process that has not malloc'd yet
 * registers; its brk heap (outside the slot) may no longer grow, so
 * malloc's first memory comes from mmap, inside the slot. The verdict is
 * the exit status.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <uapi/rpal.h>

static int in_slot(const struct rpal_register *r, const void *p)
{
	unsigned long a = (unsigned long)p;

	return a >= r->slot_base && a < r->slot_base + r->slot_size;
}

int main(void)
{
	struct rpal_register r;
	int fd = open(RPAL_DEVICE_PATH, O_RDWR);
	char *p;

	memset(&r, 0, sizeof(r));
	r.size = sizeof(r);
	if (fd < 0 || ioctl(fd, RPAL_IOC_REGISTER, &r))
		return 10;
	errno = 0;
	if (sbrk(1 << 16) != (void *)-1 || errno != ENOMEM)
		return 11; /* the heap outside the slot grew */
	p = malloc(100);
	if (!p)
		return 12;
	if (!in_slot(&r, p))
		return 13; /* small allocations not in the slot */
	memset(p, 7, 100); /* usable: the registering thread's key */
	free(p);
	return 0;
}
