# The seeds' clock figure: clock_gettime() timed in the guest (guests/linux/clockbench.c);
# tb.calls=N on the command line sets the number of calls (default 200000).
n=200000
for w in $(cat /proc/cmdline); do
	case $w in tb.calls=*) n=${w#tb.calls=} ;; esac
done
if [ -x /bin/clockbench ]; then
	/bin/clockbench "$n"
else
	echo "tb-result: clock clockbench missing (no C compiler when the initramfs was made)"
fi
