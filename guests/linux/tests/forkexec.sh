# A page-table-heavy load (docs/performance.md, EPT vs shadow paging): fork and exec a static
# binary N times (tb.n=N on the command line, default 200), each a new address space, its pages
# faulted in and torn down; then a file written and read back through a pipe, so copy-on-write
# and page-cache pages are touched too. Prints the count and the time /proc/uptime saw.
n=200
for w in $(cat /proc/cmdline); do
	case $w in tb.n=*) n=${w#tb.n=} ;; esac
done
t0=$(cut -d' ' -f1 /proc/uptime)
i=0
while [ $i -lt $n ]; do
	/bin/true || break
	i=$((i + 1))
done
t1=$(cut -d' ' -f1 /proc/uptime)
echo "tb-result: cpus $(grep -c ^processor /proc/cpuinfo)"
echo "tb-result: forkexec $i"
dd if=/dev/zero of=/tmp/f bs=4096 count=256 2>/dev/null
echo "tb-result: pipe-bytes $(cat /tmp/f | wc -c)"
echo "tb-result: forkexec-seconds $(echo "$t0 $t1" | awk '{printf "%.2f", $2 - $1}')"
