# SMP (run with --cpus 2 or more): every CPU online, their TSCs in step, IPIs delivered, and a
# CPU taken offline and brought back (its second INIT-SIPI-SIPI). One "tb-result:" line per fact.
n=$(grep -c ^processor /proc/cpuinfo)
echo "tb-result: cpus $n"
echo "tb-result: online $(cat /sys/devices/system/cpu/online)"
echo "tb-result: tsc-warps $(dmesg | grep -c -e 'TSC warp' -e 'Marking TSC unstable')"
echo "tb-result: clocksource $(cat /sys/devices/system/clocksource/clocksource0/current_clocksource)"
echo "tb-result: x2apic $(dmesg | grep -c "x2apic enabled")"
echo "tb-result: clockevent $(cat /sys/devices/system/clockevents/clockevent0/current_device)"
# Work on the last CPU: the scheduler moves us there through a reschedule IPI.
last=$((n - 1))
sum=$(taskset -c $last sh -c 'i=0; s=0; while [ $i -lt 2000 ]; do s=$((s + i)); i=$((i + 1)); done; echo $s')
echo "tb-result: ran-on-cpu$last $sum"
# Each CPU's local timer ticked, and the CPUs interrupted each other (RES, CAL: IPIs).
awk -v n=$n '/LOC:/ { ok = 1; for (i = 2; i <= n + 1; i++) if ($i == 0) ok = 0; print "tb-result: local-timer-every-cpu " ok }
	/RES:/ { s = 0; for (i = 2; i <= n + 1; i++) s += $i; print "tb-result: resched-ipis " (s > 0) }' /proc/interrupts
# Hotplug: offline (the CPU parks with IF=0 in HLT), online (INIT, SIPI, SIPI again).
if [ -w /sys/devices/system/cpu/cpu$last/online ]; then
	echo 0 > /sys/devices/system/cpu/cpu$last/online
	echo "tb-result: after-offline $(cat /sys/devices/system/cpu/online)"
	echo 1 > /sys/devices/system/cpu/cpu$last/online
	echo "tb-result: after-online $(cat /sys/devices/system/cpu/online)"
	sum=$(taskset -c $last sh -c 'echo $((6 * 7))')
	echo "tb-result: ran-again-on-cpu$last $sum"
fi
