# The seeds' I/O figure (docs/performance.md): one workload on vda, named by tb.io=WORKLOAD on
# the command line, timed with the guest's clock; tollbooth --stats gives the exits per request.
#   seqwrite  16 MiB in 4 KiB direct writes (queue depth 1), then a flush
#   seqread   16 MiB in 4 KiB direct reads (queue depth 1)
#   randread  512 direct 4 KiB reads at random offsets in the first 16 MiB (queue depth 1)
#   par4read  4 readers at once, each 4 MiB in 4 KiB direct reads (queue depth up to 4)
#   bufwrite  16 MiB written through the page cache, then sync (the kernel's writeback batches)
#   uart      256 KiB through the 16550 (ttyS0), for contrast with the emulated path
#   none      nothing: the baseline of the boot's own exits
io=
for w in $(cat /proc/cmdline); do
	case $w in tb.io=*) io=${w#tb.io=} ;; esac
done
now() { cut -d' ' -f1 /proc/uptime; }
t0=$(now)
case $io in
seqwrite) dd if=/dev/zero of=/dev/vda bs=4096 count=4096 oflag=direct conv=fsync 2>/dev/null ;;
seqread) dd if=/dev/vda of=/dev/null bs=4096 count=4096 iflag=direct 2>/dev/null ;;
randread)
	i=0
	while [ $i -lt 512 ]; do
		dd if=/dev/vda of=/dev/null bs=4096 count=1 skip=$((RANDOM % 4096)) iflag=direct \
			2>/dev/null
		i=$((i + 1))
	done ;;
par4read)
	for k in 0 1 2 3; do
		dd if=/dev/vda of=/dev/null bs=4096 count=1024 skip=$((k * 1024)) iflag=direct \
			2>/dev/null &
	done
	wait ;;
bufwrite) dd if=/dev/zero of=/dev/vda bs=65536 count=256 2>/dev/null; sync ;;
none) ;;
uart) head -c 262144 /dev/zero | tr '\0' 'x' >/dev/ttyS0 ;;
*) echo "tb-result: io unknown workload '$io'"; exit 1 ;;
esac
t1=$(now)
echo "tb-result: io $io $t0 $t1"
