// SPDX-License-Identifier: MIT
/*
 * The handshake with rpal.ko (RPAL_IOC_VERSION) and the user-facing
 * explanation of what went wrong when there is no usable module.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <uapi/rpal.h>

#include "internal.h"

_Static_assert(sizeof(struct rpal_version) == RPAL_VERSION_SIZE_VER0,
	       "uapi struct rpal_version changed size");
_Static_assert(__builtin_offsetof(struct rpal_version, api) == 24,
	       "uapi struct rpal_version layout");

int __rpal_query_path(const char *path, struct rpal_info *info)
{
	struct rpal_version v;
	int fd, ret = 0;

	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	memset(&v, 0, sizeof(v));
	v.size = sizeof(v);
	if (ioctl(fd, RPAL_IOC_VERSION, &v) < 0)
		ret = -errno;
	else if (v.api != RPAL_API_VERSION)
		ret = -EPROTONOSUPPORT;
	close(fd);
	if (ret)
		return ret;

	info->api = v.api;
	info->features = v.features;
	info->commands = v.commands;
	info->module_version = v.module_version;
	return 0;
}

__attribute__((visibility("default"))) int rpal_query(struct rpal_info *info)
{
	return __rpal_query_path(RPAL_DEVICE_PATH, info);
}

__attribute__((visibility("default"))) const char *rpal_error_hint(int err)
{
	switch (-err) {
	case 0:
		return "no error";
	case ENOENT:
		return RPAL_DEVICE_PATH " does not exist: load the module "
					"(modprobe rpal)";
	case EACCES:
	case EPERM:
		return "permission denied on " RPAL_DEVICE_PATH
		       ": check its mode (the module creates it 0666)";
	case ENOTTY:
	case EINVAL:
		return RPAL_DEVICE_PATH " is not an rpal device this library "
					"understands";
	case EPROTONOSUPPORT:
		return "rpal.ko speaks another API version than this library: "
		       "rebuild against the module's include/uapi/rpal.h";
	default:
		return strerror(-err);
	}
}
