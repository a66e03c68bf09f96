# SPDX-License-Identifier: MIT
# Plot of a results CSV from rpal-bench: one-way latency by message size,
# one line per mechanism, same core and cross core side by side, both
# axes logarithmic because the mechanisms differ by orders of magnitude.
#
# gnuplot -e "csv='r.csv'; out='r.png'; mechs='a b'; labels='\"A\" \"B\"';
#             subtitle='machine, kernel, date'" plot.gp
# mechs/labels: the mechanisms to draw (CSV names) and their legends.

if (!exists("csv") || !exists("out") || !exists("mechs")) {
	print "plot.gp: set csv, out and mechs (see the header)"
	exit status 2
}
if (!exists("labels")) labels = mechs
if (!exists("subtitle")) subtitle = ""

set terminal pngcairo size 1500,650 font ",10" noenhanced
set output out
set logscale xy 2
set logscale y 10
set xtics ("32 B" 32, "256 B" 256, "4 KiB" 4096, "64 KiB" 65536)
set xrange [24:90000]
set format y "%g"
set grid xtics ytics mytics
set ylabel "one-way latency (µs, log)"
set key below horizontal font ",9" spacing 1.1 width 2
unset xlabel
set multiplot layout 1,2 title "rpal-bench: one-way latency, p50 (solid) and p99 (dashed)\n" . subtitle

# The rows of one mechanism and placement, single hop, that ran: "size
# value" sorted by size, for one column picked by its header name.
sel(m, p, col) = sprintf("< awk -F, -v m='%s' -v p='%s' -v c='%s' '\
	NR == 1 { for (i = 1; i <= NF; i++) h[$i] = i; next } \
	$h[\"mechanism\"] == m && $h[\"placement\"] == p && \
	$h[\"chain\"] == 1 && $h[\"status\"] == \"ok\" \
	{ print $h[\"size\"], $h[c] / 1000 }' '%s' | sort -n", m, p, col, csv)
n = words(mechs)

do for [pl in "same cross"] {
	set title (pl eq "same" ? "same core" : "cross core")
	plot for [i=1:n] sel(word(mechs, i), pl, "oneway_p50_ns") \
		using 1:2 with linespoints lc i lw 2 pt 7 title word(labels, i), \
	     for [i=1:n] sel(word(mechs, i), pl, "oneway_p99_ns") \
		using 1:2 with lines lc i dt 2 lw 1 notitle
}
unset multiplot
