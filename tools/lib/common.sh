# SPDX-License-Identifier: MIT
# Shared shell helpers for rpal's developer tools: logging, paths, caching.
# shellcheck shell=bash

RPAL_TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# Downloads, extracted kernels and the debug kernel live outside the clone,
# so a fresh clone (CI) reuses them and `git clean` never throws them away.
RPAL_CACHE=${RPAL_CACHE:-/var/cache/rpal}
RPAL_BUILD=${RPAL_BUILD:-$RPAL_TOP/build}

rpal_log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
rpal_die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# Run "$@" with its output going to a log file; on failure show the tail.
rpal_quiet() {
	local log=$1; shift
	if ! "$@" >"$log" 2>&1; then
		tail -n 40 "$log" >&2
		rpal_die "failed: $* (full log: $log)"
	fi
}

rpal_need_root() {
	[ "$(id -u)" -eq 0 ] || rpal_die "$1 needs root (apt-get, /var/cache/rpal)"
}
