# What the kernel found: one "tb-result:" line per fact, checked by tests/linux/run.sh.
echo "tb-result: cpus $(grep -c ^processor /proc/cpuinfo)"
echo "tb-result: clocksource $(cat /sys/devices/system/clocksource/clocksource0/current_clocksource)"
echo "tb-result: virtio $(ls /sys/bus/virtio/devices 2>/dev/null | wc -l)"
for d in /sys/bus/virtio/devices/*; do
	[ -e "$d/device" ] && echo "tb-result: virtio-device $(cat $d/device)"
done
echo "tb-result: mem $(grep MemTotal /proc/meminfo | tr -s ' ')"
echo "tb-result: meltdown $(cat /sys/devices/system/cpu/vulnerabilities/meltdown)"
