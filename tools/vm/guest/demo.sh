#!/bin/sh
# SPDX-License-Identifier: MIT
# The demo shown by the README's first command: the seed's experiment,
# epoll + Unix socket against RPAL calls, in this VM.
echo "== rpal demo: kernel $(uname -r)"
echo "== insmod rpal.ko"
insmod /rpal/rpal.ko || exit 1
dmesg | grep 'rpal:' | sed 's/^/   /'
echo "== rpalctl version"
rpalctl version
status=$?
echo "== rpal-demo: 32-byte messages, epoll + AF_UNIX, then RPAL"
[ $status -eq 0 ] && { rpal-demo --count "${RPAL_DEMO_COUNT:-1000000}" --status; status=$?; }
rmmod rpal || status=1
echo "RPAL-VM-SUMMARY: $((status == 0)) passed, $((status != 0)) failed"
