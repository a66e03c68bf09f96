/* SPDX-License-Identifier: MIT */
/*
 * librpal-rt: the public C API of rpal's runtime.
 *
 * Functions return 0 or a positive count on success and a negative errno
 * on failure (liburing's convention); they never set errno.
 */
#ifndef RPAL_RPAL_H
#define RPAL_RPAL_H

#include <stdint.h>

#include <rpal/version.h>

#ifdef __cplusplus
extern "C" {
#endif

/* What the loaded module offers: RPAL_FEAT_* from <uapi/rpal.h>. */
struct rpal_info {
	uint32_t api;		 /* module's RPAL_API_VERSION */
	uint64_t features;	 /* RPAL_FEAT_* bits */
	uint64_t commands;	 /* bit n: ioctl number n implemented */
	uint64_t module_version; /* (major << 32) | (minor << 16) | patch */
};

/*
 * rpal_query - ask the module at /dev/rpal what it offers.
 *
 * Returns 0 and fills *info, or:
 *   -ENOENT          /dev/rpal does not exist (module not loaded)
 *   -EACCES          /dev/rpal cannot be opened by this user
 *   -ENOTTY          the device is not rpal (or a much older module)
 *   -EPROTONOSUPPORT the module speaks another API version
 */
int rpal_query(struct rpal_info *info);

/*
 * rpal_error_hint - one sentence telling a user what to do about an error
 * returned by this library (e.g. "load the module: modprobe rpal").
 * Never NULL; the string is static.
 */
const char *rpal_error_hint(int err);

#ifdef __cplusplus
}
#endif

#endif /* RPAL_RPAL_H */
