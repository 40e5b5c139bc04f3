# The write monitor (tollbooth --watch over the kernel's text, tests/linux/run.py): once booted
# the kernel leaves its text alone; two seconds of quiet, then a static key flips, and the kernel
# rewrites the jump sites of sched_schedstats in its text (jump labels through text_poke).
sleep 2
echo "tb-result: flip-at $(cut -d' ' -f1 /proc/uptime)"
echo 1 > /proc/sys/kernel/sched_schedstats
echo "tb-result: schedstats $(cat /proc/sys/kernel/sched_schedstats)"
sleep 1
