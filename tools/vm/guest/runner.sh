#!/bin/sh
# SPDX-License-Identifier: MIT
# In-VM test runner. For every test: load rpal.ko, run the test binary
# under a timeout, unload the module, and read the kernel log. A test fails
# if it exits non-zero, if rpal.ko cannot be unloaded, or if the kernel
# logged a warning, BUG, oops or sanitizer report while it ran.
# Usage: runner.sh SUITE TIMEOUT [TEST...]
set -o pipefail
suite=$1 timeout=$2
shift 2
ko=/rpal/rpal.ko
splat='WARNING:|BUG:|Oops|general protection|KASAN|lockdep|Call Trace|kmemleak: .*new suspected'
# Lines that match but report no problem (the debug kernel's boot banner).
benign='RCU lockdep checking is enabled'
splats() { grep -E "$splat" "$1" | grep -vE "$benign"; }

if [ $# -gt 0 ]; then
	tests="$*"
else
	tests=$(cat /rpal/tests/suite.$suite) || {
		echo "RPAL-VM: no suite '$suite'"
		echo "RPAL-VM-SUMMARY: 0 passed, 1 failed"
		exit 1
	}
fi

uptime_ms() { awk '{ printf "%d", $1 * 1000 }' /proc/uptime; }

echo "RPAL-VM: kernel $(uname -r), cmdline: $(cat /proc/cmdline)"
echo "RPAL-VM: cpu flags: $(grep -m1 -o -w -E 'pku|ospke|la57|fsgsbase|pti' /proc/cpuinfo | tr '\n' ' ')"
# The boot log is judged like any test's log.
dmesg -c >/tmp/boot.dmesg
passed=0 failed=0 failed_names=""
# A boot that already complained is not a test of rpal: stop here (the
# host retries such a boot, since rpal.ko was never loaded).
if splats /tmp/boot.dmesg; then
	echo "FAIL boot (kernel log above)"
	echo "RPAL-VM: failed: boot"
	echo "RPAL-VM-SUMMARY: 0 passed, 1 failed"
	exit 1
fi

for t in $tests; do
	reason=""
	start=$(uptime_ms)
	echo "---- $t"
	if ! insmod $ko 2>/tmp/insmod.err; then
		reason="insmod: $(cat /tmp/insmod.err)"
	else
		timeout -s KILL "$timeout" /rpal/tests/"$t" 2>&1 | awk '{ print "    " $0; fflush() }'
		rc=$?
		if [ $rc -eq 137 ]; then
			reason="timed out after ${timeout}s"
		elif [ $rc -ne 0 ] && [ $rc -ne 4 ]; then
			reason="exit status $rc"
		fi
		if ! grep -q '^rpal ' /proc/modules; then
			reason="${reason:+$reason; }module not loaded at test end"
		elif ! timeout 30 rmmod rpal 2>/tmp/rmmod.err; then
			reason="${reason:+$reason; }rmmod: $(cat /tmp/rmmod.err)"
		fi
	fi
	dmesg -c >/tmp/test.dmesg
	if splats /tmp/test.dmesg >/tmp/test.splat; then
		sed 's/^/    dmesg: /' /tmp/test.dmesg
		reason="${reason:+$reason; }kernel log: $(head -n1 /tmp/test.splat)"
	fi
	ms=$(( $(uptime_ms) - start ))
	if [ -z "$reason" ]; then
		passed=$((passed + 1))
		echo "PASS $t (${ms} ms)"
	else
		failed=$((failed + 1))
		failed_names="$failed_names $t"
		echo "FAIL $t (${ms} ms): $reason"
	fi
done

# Leaks: kmemleak (debug kernel only) reports objects allocated by rpal.ko
# that nothing points to any more. Two scans: objects must age first.
kml=/sys/kernel/debug/kmemleak
if [ -w $kml ]; then
	sleep 6; echo scan >$kml; sleep 1; echo scan >$kml
	if grep -q '\[rpal\]' $kml; then
		cat $kml
		failed=$((failed + 1))
		failed_names="$failed_names kmemleak"
		echo "FAIL kmemleak: rpal.ko leaked memory (report above)"
	else
		echo "PASS kmemleak (no leak from rpal.ko)"
	fi
fi

[ $failed -eq 0 ] || echo "RPAL-VM: failed:$failed_names"
echo "RPAL-VM-SUMMARY: $passed passed, $failed failed"
