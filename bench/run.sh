#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Run the benchmark suite end to end: build rpal-bench if needed, take
# perf's reference figure, measure every mechanism, write the Markdown
# report, the CSV and the plot, in a bounded time.
set -euo pipefail

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

usage() {
	cat <<'USAGE'
NAME
    run.sh - measure request/response between processes, per IPC mechanism

SYNOPSIS
    bench/run.sh [OPTIONS] [-- RPAL-BENCH-OPTIONS...]

DESCRIPTION
    Answers "when does RPAL win, and by how much" with numbers taken side
    by side in one run. A client process sends N messages to a server
    process (or through a chain of services) and waits for each echo; the
    client stamps rdtsc into every message, the receiver subtracts it on
    receipt. Reported per mechanism, message size and CPU placement:
    one-way and round-trip latency (mean, p50, p99, p99.9, in TSC cycles
    and microseconds), round trips per second, CPU time (user + system of
    every process) per message, and each figure's ratio to epoll +
    AF_UNIX measured in the same run.

    Mechanisms: epoll + AF_UNIX stream (the baseline), pipe, io_uring +
    AF_UNIX (liburing), eventfd + shared memory, futex + shared memory,
    a busy-polling shared-memory ring (the ceiling; it burns a core, which
    its CPU column shows), and RPAL: its processes are re-executed under
    rpal-run and talk through librpal-rt; it needs rpal.ko, so on a
    machine without the module its rows say "unavailable here" and
    --vm measures them. Sizes 32 B, 256 B, 4 KiB, 64 KiB; client and
    server on the same CPU and on two CPUs; chains of 1, 2 and 4 services
    (epoll + AF_UNIX and RPAL). `perf bench sched pipe` runs first as a
    reference row. Last, rpal-bench-switch times the runtime's own call
    switch between two contexts of one process (with and without WRPKRU,
    fsbase by wrfsbase or arch_prctl, as the CPU allows): the floor an
    RPAL call can reach here; its table ends results.md.

    --vm runs the same suite, every mechanism and RPAL, inside the test
    VM (tools/vm/rpal-vm: QEMU TCG, Debian's kernel, rpal.ko loaded).
    There every timing is emulated: only ratios within that run mean
    something, and even those are distorted (TCG makes syscalls and
    WRPKRU expensive in its own way). perf is not in the VM: no
    reference row there.

    Honest work: every receiver reads every byte and verifies a checksum
    the sender computed (a mismatch fails the row and the run); blocking
    mechanisms block; processes are forked, not threads.

    A full run takes at most about 5 minutes (each row stops measuring
    after --max-seconds); --quick well under 30 seconds; --vm about 5
    minutes (--quick: 1). Progress goes to stderr. Keep the machine
    otherwise idle: the numbers are only as quiet as the machine, and
    rows during which other processes used 10% or more of the row's CPUs
    are starred in the report.

OPTIONS
    -q, --quick        short run: 2,000 round trips per row, at most
                       0.2 s each; for a sanity check, not for quoting
    -n, --count N      measured round trips per row (default 200000;
                       the seed's experiment used 1000000)
    -t, --max-seconds S
                       stop measuring a row after S seconds (default 5;
                       quick 0.2); the table's n column says what ran
    -o, --out DIR      where the results go (default
                       BUILD/bench-results/<UTC time>[-quick], with
                       BUILD/bench-results/latest pointing at it)
    -b, --build DIR    CMake build tree (default $RPAL_BUILD, else
                       <repo>/build); rpal-bench is (re)built there, the
                       tree configured with RPAL_BUILD_MODULE=OFF if new
    -m, --mechs LIST   comma-separated mechanisms (default all; names:
                       epoll_uds pipe uring_uds eventfd_shm futex_shm
                       poll_shm rpal)
    -s, --sizes LIST   comma-separated message sizes in bytes, multiples
                       of 8, at least 32 (default 32,256,4096,65536)
        --no-perf      skip the `perf bench sched pipe` reference
        --no-plot      skip the PNG
        --vm           measure inside the test VM, RPAL included
                       (defaults there: 50000 round trips, 3 s per row;
                       needs the build tree with rpal.ko for the kernel:
                       tools/dev.sh build)
        --kernel K     the VM's kernel: 6.12 (default) or 6.1
        --no-pku       the VM's CPU without protection keys
    -h, --help         this text
    -- ARGS            passed to rpal-bench as they are (see
                       `rpal-bench --help`), e.g. -- --chains 1,2,8

OUTPUT
    DIR/results.md     the report: machine, kernel, native or VM, date,
                       TSC frequency, the seed's 32-byte table, one table
                       per placement, chains, the perf reference, notes
    DIR/results.csv    every number, one row per configuration, with the
                       machine columns repeated so rows stand alone
    DIR/latency.png    one-way latency p50 (solid) and p99 (dashed) by
                       size, log scale, same core and cross core
    DIR/perf-sched-pipe.txt
                       perf's raw output
    DIR/vm.log         with --vm: everything the guest printed

METHOD
    The client stamps the TSC as the last thing before handing a message
    to the mechanism; the receiver reads the TSC as soon as its receive
    returns, then reads and checks the payload. The TSC frequency is
    calibrated against CLOCK_MONOTONIC_RAW for 100 ms. CPU time is
    getrusage() of every process over the measured part only. Warm-up
    (count/20 round trips, at most a fifth of the time limit) is not
    measured. Polling rows whose waiter shares a CPU with another process
    of the row call sched_yield() instead of spinning, and are labelled so.
    Other load: the busy time (/proc/stat) of the CPUs a row runs on, less
    the row's own processes' CPU time, as a share of those CPUs' time.

EXIT STATUS
    0   every row ran (or is pending / unavailable here)
    1   a row failed: checksum mismatch, error, crash or timeout (the
        report says which and why); or the build failed
    2   bad usage

ENVIRONMENT
    RPAL_BUILD   default build tree

EXAMPLES
    bench/run.sh --quick
    bench/run.sh --vm
    bench/run.sh -b build-bench -o /tmp/bench
    bench/run.sh -m epoll_uds,futex_shm -s 32 -n 1000000 -t 30
USAGE
}

die() {
	printf 'run.sh: %s\n' "$*" >&2
	exit "${2:-1}"
}
log() { printf '[run.sh %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

quick=0 count="" max_seconds="" out="" build=${RPAL_BUILD:-$top/build}
mechs="" sizes="" perf=1 plot=1 extra=() vm=0 kernel=6.12 vm_pku=()
while [ $# -gt 0 ]; do
	case $1 in
	-q | --quick) quick=1 ;;
	-n | --count) count=${2:?$1 needs a value}; shift ;;
	-t | --max-seconds) max_seconds=${2:?$1 needs a value}; shift ;;
	-o | --out) out=${2:?$1 needs a value}; shift ;;
	-b | --build) build=${2:?$1 needs a value}; shift ;;
	-m | --mechs) mechs=${2:?$1 needs a value}; shift ;;
	-s | --sizes) sizes=${2:?$1 needs a value}; shift ;;
	--no-perf) perf=0 ;;
	--no-plot) plot=0 ;;
	--vm) vm=1 ;;
	--kernel) kernel=${2:?$1 needs a value}; shift ;;
	--no-pku) vm_pku=(--no-pku) ;;
	-h | --help) usage; exit 0 ;;
	--) shift; extra=("$@"); break ;;
	*) usage >&2; die "unknown option: $1" 2 ;;
	esac
	shift
done

if [ "$quick" = 1 ]; then
	count=${count:-2000} max_seconds=${max_seconds:-0.2} perf_loops=2000
	title="quick run (sanity check, not for quoting)" suffix=-quick
elif [ "$vm" = 1 ]; then
	count=${count:-50000} max_seconds=${max_seconds:-3}
	title="full run in the test VM (emulated)" suffix=""
else
	count=${count:-200000} max_seconds=${max_seconds:-5} perf_loops=50000
	title="full run" suffix=""
fi
if [ "$vm" = 1 ]; then
	suffix=$suffix-vm$kernel
	[ "$quick" = 1 ] && title="quick run in the test VM (emulated; sanity check)"
	case $kernel in 6.1 | 6.12) ;; *) die "--kernel: 6.1 or 6.12" 2 ;; esac
fi
case $count in '' | *[!0-9]*) die "--count wants a number" 2 ;; esac

# Build (or bring up to date) only our target: the tree may be shared.
build=$(mkdir -p "$build" && cd "$build" && pwd)
if [ ! -f "$build/CMakeCache.txt" ]; then
	log "configuring $build"
	cmake -S "$top" -B "$build" -DRPAL_BUILD_MODULE=OFF >/dev/null ||
		die "cmake configure failed in $build"
fi
if [ "$vm" = 1 ]; then
	# the VM needs rpal.ko, rpal-run and the test image's programs too
	log "building everything in $build (the VM needs rpal.ko and rpal-run)"
	cmake --build "$build" -- -j2 >/dev/null ||
		die "build failed (run: cmake --build $build)"
else
	log "building rpal-bench in $build"
	cmake --build "$build" --target rpal-bench rpal-bench-switch -- -j2 >/dev/null ||
		die "build of rpal-bench failed (run: cmake --build $build --target rpal-bench)"
fi
bin=$build/bench/rpal-bench
[ -x "$bin" ] || die "no $bin after the build"

if [ -z "$out" ]; then
	out=$build/bench-results/$(date -u +%Y%m%dT%H%M%SZ)$suffix
	mkdir -p "$out"
	ln -sfn "$(basename "$out")" "$build/bench-results/latest"
fi
mkdir -p "$out"

# The PNG from the CSV: the mechanisms with rows that ran, in table
# order, and their labels as the CSV quotes them (gnuplot's word() keeps
# quotes).
make_plot() {
	if ! command -v gnuplot >/dev/null; then
		log "gnuplot not found: no plot"
		return 0
	fi
	local pm pl sub
	pm=$(awk -F, 'NR > 1 && $6 == 1 && $7 == "ok" && !seen[$1]++ \
		{ printf "%s ", $1 }' "$out/results.csv")
	pl=$(awk -F, 'NR > 1 && $6 == 1 && $7 == "ok" && !seen[$1]++ \
		{ printf "%s ", $2 }' "$out/results.csv")
	sub=$(sed -n 's/^| Machine | \(.*\) |$/\1/p; s/^| Kernel | \(.*\) |$/\1/p;
		s/^| Environment | \*\*\(.*\)\*\* |$/\1/p;
		s/^| Date | \(.*\) |$/\1/p' "$out/results.md" | paste -sd '|' |
		sed 's/|/; /g')
	[ -n "$pm" ] || return 0
	gnuplot -e "csv='$out/results.csv'; out='$out/latency.png'" \
		-e "mechs='$pm'; labels='$pl'; subtitle='$sub'" \
		"$top/bench/plot.gp" || log "gnuplot failed: no plot"
}

list_results() {
	log "results in $out:"
	for f in "$out"/*; do printf '    %s\n' "${f##*/}" >&2; done
}

# --vm: the same suite inside the test VM, where rpal.ko is loaded, so
# the RPAL rows run; the guest prints the report, the host files it.
run_vm() {
	local args=(-n "$count" -t "$max_seconds" --title "$title"
		--csv /tmp/results.csv --md /tmp/results.md)
	local sw_count=100000 q cmds log rows timeout st
	[ -n "$mechs" ] && args+=(-m "$mechs")
	[ -n "$sizes" ] && args+=(-s "$sizes")
	[ "$quick" = 1 ] && sw_count=10000
	q=$(printf '%q ' "${args[@]}" "${extra[@]}")
	cmds="export PATH=/rpal/bin:\$PATH
insmod /rpal/rpal.ko || { echo 'RPAL-VM-SUMMARY: 0 passed, 1 failed'; exit 1; }
rpal-bench $q; st=\$?
echo '@@@ results.md'; cat /tmp/results.md
echo '@@@ results.csv'; cat /tmp/results.csv
echo '@@@ switch'; rpal-bench-switch -n $sw_count || st=1
echo \"@@@ status \$st\"
rmmod rpal || echo '@@@ status 1'
echo 'RPAL-VM-SUMMARY: 1 passed, 0 failed'
exit 0"
	# every row stops after max_seconds (x1.2 warm-up) plus start-up
	rows=$("$bin" "${args[@]}" "${extra[@]}" --rows 2>/dev/null) || rows=80
	timeout=$(awk -v r="$rows" -v t="$max_seconds" \
		'BEGIN { printf "%d", r * (1.2 * t + 3) + 300 }')
	log "the suite in the VM: $kernel kernel, $rows rows, at most ${timeout}s"
	"$top/tools/vm/rpal-vm" --kernel "$kernel" "${vm_pku[@]}" \
		--build "$build" --name "bench-$kernel" --timeout "$timeout" \
		--run "$cmds" >&2 || die "the VM run failed (log: $build/vm-logs/bench-$kernel)"
	log=$build/vm-logs/bench-$kernel/runner.log
	tr -d '\r' <"$log" >"$out/vm.log"
	section() {
		awk -v want="@@@ $1" '/^@@@ / { on = ($0 == want); next } on' \
			"$out/vm.log"
	}
	section results.md >"$out/results.md"
	section results.csv >"$out/results.csv"
	sw=$(section switch)
	st=$(sed -n 's/^@@@ status //p' "$out/vm.log" | sort -n | tail -n1)
	[ -s "$out/results.csv" ] || die "the VM printed no results (see $out/vm.log)"
	printf '\n## The user-mode call path, in the VM (emulated)\n\n%s\n\n%s\n' \
		"The runtime's own switch (call.S) between two contexts of one process, best of 5 runs of $sw_count round trips (rpal-bench-switch), under QEMU TCG: WRPKRU and arch_prctl cost what the emulator makes them cost." \
		"$sw" >>"$out/results.md"
	status=${st:-1}
	[ "$status" -le 1 ] || status=1
}

if [ "$vm" = 1 ]; then
	status=0
	run_vm
	[ "$plot" = 1 ] && make_plot
	list_results
	exit "$status"
fi

# Both processes of perf's pipe test on the CPU our same-core rows use.
cpu0=$(taskset -pc $$ 2>/dev/null | sed 's/.*: *//; s/[,-].*//') || cpu0=0
find_perf() {
	local p
	# Debian's versioned binaries, newest first, if the wrapper refuses
	for p in perf $(printf '%s\n' /usr/bin/perf_* | sort -V -r); do
		if command -v "$p" >/dev/null &&
			"$p" bench sched pipe -l 10 >/dev/null 2>&1; then
			echo "$p"
			return 0
		fi
	done
	return 1
}
refs=()
if [ "$perf" = 1 ]; then
	if perf_bin=$(find_perf); then
		: >"$out/perf-sched-pipe.txt"
		for place in same unpinned; do
			pin=()
			[ "$place" = same ] && pin=(taskset -c "${cpu0:-0}")
			log "perf bench sched pipe -l $perf_loops ($place)"
			txt=$(timeout 120 "${pin[@]}" "$perf_bin" bench sched pipe \
				-l "$perf_loops" 2>&1) || {
				log "perf bench sched pipe ($place) failed; no reference row"
				continue
			}
			printf '## %s: %s bench sched pipe -l %s\n%s\n\n' "$place" \
				"${pin[*]:+${pin[*]} }$perf_bin" "$perf_loops" "$txt" \
				>>"$out/perf-sched-pipe.txt"
			usec=$(awk '/usecs\/op/ { print $1; exit }' <<<"$txt")
			[ -n "$usec" ] || continue
			if [ "$place" = same ]; then
				refs+=(--ref "same:$usec:perf bench sched pipe -l $perf_loops, both on CPU ${cpu0:-0}")
			else
				refs+=(--ref "any:$usec:perf bench sched pipe -l $perf_loops, unpinned (the scheduler places them)")
			fi
		done
	else
		log "no working perf found (perf, /usr/bin/perf_*): no reference row"
	fi
fi

args=(-n "$count" -t "$max_seconds" --title "$title"
	--csv "$out/results.csv" --md "$out/results.md")
[ -n "$mechs" ] && args+=(-m "$mechs")
[ -n "$sizes" ] && args+=(-s "$sizes")
log "rpal-bench ${args[*]} ${extra[*]}"
status=0
"$bin" "${args[@]}" "${refs[@]}" "${extra[@]}" || status=$?
[ "$status" -le 1 ] || die "rpal-bench failed (status $status)" "$status"
[ -s "$out/results.csv" ] || die "rpal-bench wrote no results"

# The floor: the runtime's call switch between two contexts, natively.
log "rpal-bench-switch (the user-mode call path, natively)"
sw_count=1000000
[ "$quick" = 1 ] && sw_count=20000
if sw=$("$build/bench/rpal-bench-switch" -n "$sw_count"); then
	printf '\n## The user-mode call path, natively\n\n%s\n\n%s\n' \
		"The runtime's own switch (call.S), claim by CAS + enter + leave, between two contexts of one process; best of 5 runs of $sw_count round trips (rpal-bench-switch)." \
		"$sw" >>"$out/results.md"
else
	log "rpal-bench-switch failed: no switch table"
	status=1
fi

[ "$plot" = 1 ] && make_plot

list_results
exit "$status"
