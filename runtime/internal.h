/* SPDX-License-Identifier: MIT */
/*
 * librpal-rt internals. Everything here is hidden from users of the static
 * library (-fvisibility=hidden) and carries the __rpal_ prefix.
 */
#ifndef RPAL_RUNTIME_INTERNAL_H
#define RPAL_RUNTIME_INTERNAL_H

#include <rpal/rpal.h>

/* rpal_query() against an arbitrary path: lets tests reach error paths. */
int __rpal_query_path(const char *path, struct rpal_info *info);

#endif /* RPAL_RUNTIME_INTERNAL_H */
