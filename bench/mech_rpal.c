// SPDX-License-Identifier: MIT
/*
 * RPAL: the mechanism this suite exists to judge. It has a row in every
 * table so that its absence is visible. The call path exists (librpal-rt,
 * measured end to end by tools/demo/rpal-demo in the VM); what this row
 * still lacks is a run.c that can exec its processes under rpal-run.
 *
 * What it will need, in the terms of struct mech: setup() requests the
 * service from the module (both ends are services in their own slots,
 * which rpal-run arranges at exec, so the coordinator will have to exec
 * rpal-bench under rpal-run rather than only fork), attach() registers
 * the sender or the receiver thread, send() is the RPAL call that copies
 * the message into the receiver's queue and switches to it, recv() waits
 * as an RPAL receiver. The message, the checksum and the clock stay as
 * they are, so its numbers compare with the baselines' row by row.
 */
#include "bench.h"

const struct mech mech_rpal = {
	.name = "rpal",
	.label = "RPAL",
	.note = "user-mode call into the peer's receiver thread",
	.pending = "pending (needs its processes started by rpal-run; "
		   "rpal-demo measures RPAL in the VM)",
};
