#!/bin/sh
# SPDX-License-Identifier: MIT
# The demo shown by the README's first command.
echo "== rpal demo: kernel $(uname -r)"
echo "== insmod rpal.ko"
insmod /rpal/rpal.ko || exit 1
dmesg | grep 'rpal:' | sed 's/^/   /'
echo "== rpalctl version"
rpalctl version
status=$?
rmmod rpal
echo "RPAL-VM-SUMMARY: $((status == 0)) passed, $((status != 0)) failed"
