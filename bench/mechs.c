// SPDX-License-Identifier: MIT
/*
 * The table of mechanisms, in the order the report lists them: the
 * baseline first, then the kernel-mediated ones from most to least
 * familiar, then shared memory, then RPAL. Adding a mechanism is one
 * mech_*.c file and one line here.
 */
#include <string.h>

#include "bench.h"

extern const struct mech mech_epoll_uds, mech_pipe, mech_uring_uds,
	mech_eventfd_shm, mech_futex_shm, mech_poll_shm, mech_rpal;

const struct mech *const mechs[] = {
	&mech_epoll_uds, &mech_pipe,	 &mech_uring_uds, &mech_eventfd_shm,
	&mech_futex_shm, &mech_poll_shm, &mech_rpal,
};

const size_t n_mechs = sizeof(mechs) / sizeof(mechs[0]);

const struct mech *mech_find(const char *name)
{
	size_t i;

	for (i = 0; i < n_mechs; i++)
		if (!strcmp(mechs[i]->name, name))
			return mechs[i];
	return NULL;
}
