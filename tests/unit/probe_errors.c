// SPDX-License-Identifier: MIT
/*
 * The runtime's handshake fails clearly, without crashing, when there is
 * no usable module: a missing device, a device that is not rpal.
 */
#include <errno.h>
#include <string.h>

#include "../../runtime/internal.h"
#include "../harness/rpal_test.h"

TEST(missing_device_is_enoent)
{
	struct rpal_info info;

	ASSERT_EQ(__rpal_query_path("/nonexistent/rpal", &info), -ENOENT);
	ASSERT_TRUE(strstr(rpal_error_hint(-ENOENT), "modprobe rpal"));
}

TEST(foreign_device_is_enotty)
{
	struct rpal_info info;

	/* /dev/null accepts open but knows no ioctl. */
	ASSERT_EQ(__rpal_query_path("/dev/null", &info), -ENOTTY);
	ASSERT_TRUE(strstr(rpal_error_hint(-ENOTTY), "not an rpal device"));
}

TEST(hint_never_null)
{
	for (int e = 0; e < 200; e++)
		ASSERT_TRUE(rpal_error_hint(-e) != NULL);
	ASSERT_TRUE(strstr(rpal_error_hint(-EPROTONOSUPPORT), "API version"));
}
