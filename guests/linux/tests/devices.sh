# The virtio devices tests/linux/run.sh gives the guest: vda (its first sector holds a marker
# the host wrote), virtio-rng, virtio-net on the loopback network, virtio-console (hvc0).
echo "tb-result: vda-read $(dd if=/dev/vda bs=512 count=1 2>/dev/null | head -c 28)"
# A sector written and flushed (conv=fsync: VIRTIO_BLK_T_FLUSH) must be in the host's file.
printf 'written-by-the-guest-%s\n' "$(cat /proc/sys/kernel/random/boot_id | cut -c1-8)" >/tmp/s
dd if=/tmp/s of=/dev/vda bs=512 seek=1 count=1 conv=sync,fsync 2>/dev/null
echo "tb-result: vda-write $? $(head -c 29 /tmp/s)"
echo "tb-result: rng $(cat /sys/class/misc/hw_random/rng_current) $(head -c 64 /dev/hwrng | wc -c)"
ip link set lo up
ip link set eth0 up && ip addr add 10.0.2.15/24 dev eth0
if ping -c 2 -W 2 10.0.2.2 >/tmp/ping 2>&1; then
	echo "tb-result: ping ok $(grep -c 'bytes from' /tmp/ping)"
else
	echo "tb-result: ping failed: $(tail -n 2 /tmp/ping | tr '\n' ' ')"
fi
echo "tb-result: hvc0 $(cat /sys/class/tty/hvc0/dev 2>/dev/null)"
echo "tb-result: hvc0-says-hello" >/dev/hvc0
