// SPDX-License-Identifier: MIT
/*
 * The write monitor (--watch): guest-physical ranges, a kernel's text say, that nothing should
 * write once the guest runs; every write that lands there is reported on stderr with the guest
 * time and, where known, the RIP of the writing instruction. The seeds give PML (the page-
 * modification log, SDM vol. 3C 29.3.6) this second life as an integrity monitor; the method it
 * replaces, write-protecting the pages in EPT, is here too, to measure one against the other
 * (docs/security.md).
 *
 * --watch-method pml (the default): the VMM clears the EPT dirty flags of the watched pages
 * (29.3.5) and turns PML on. A write to a clean page sets its dirty flag, which logs the page's
 * GPA; writes to pages already dirty (every page not watched) log nothing and cost nothing. The
 * log is drained on each PML-full exit (exit 62), every WATCH_DRAIN_NS of guest time and at the
 * end of the run: each logged page inside a watched range is reported and made clean again, so
 * its next write is caught too. The guest runs at full speed between drains; a report comes up to
 * one drain period after the write. The soft CPU records the RIP of each logged write beside the
 * log (cpu_pml_rips); hardware does not, so on a backend without it the RIP is not given.
 *
 * --watch-method wp: the watched pages are mapped read-only in EPT. Each write is an EPT
 * violation (exit 48) at the writing instruction: the VMM reports it, makes the page writable,
 * lets that one instruction run under the monitor trap flag (exit 37, SDM 26.5.2) and protects
 * the page again: two exits per write, and the exact RIP, as write-tracking hypervisors do.
 *
 * Writes by devices (DMA: virtio, fw_cfg) and by the VMM itself do not go through EPT; they reach
 * vm_mem_written, which reports those landing in a watched range too.
 *
 * Granularity is the 4 KiB page: ranges are rounded inward to whole pages (a page shared with
 * data outside the range would report the data's writes), and a page's writes between two
 * drains are one report under pml.
 */
#include <inttypes.h>
#include <string.h>

#include "vmm/ept.h"
#include "vmm/policy.h"
#include "vmm/vm.h"

/* Drain the PML logs this often (guest time) besides at PML-full exits. */
#define WATCH_DRAIN_NS 20000000ull
/* Report lines per second of guest time at most (a kernel decompressing itself over its text
   writes every page once); the rest are counted, and said in one line when the second ends. */
#define WATCH_LINES_PER_S 20
#define WATCH_WINDOW_NS	  1000000000ull

static int watch_range_of(const struct vm_watch *w, u64 gpa)
{
	for (unsigned i = 0; i < w->nr; i++)
		if (gpa >= w->start[i] && gpa <= w->end[i])
			return (int)i;
	return -1;
}

static void watch_report(struct vm *vm, int r, u64 gpa, const char *who, u64 rip, bool rip_known)
{
	struct vm_watch *w = &vm->watch;
	u64 ns = timer_now(&vm->timers);
	char at[48] = "";

	w->reports++;
	if (ns - w->window_ns >= WATCH_WINDOW_NS) {
		if (w->hidden)
			fprintf(stderr, "tollbooth: watch: %" PRIu64 " more writes to watched pages in "
					"the second before %llu.%03llu ms (--stats counts them)\n",
				w->hidden, (unsigned long long)(ns / 1000000),
				(unsigned long long)(ns / 1000 % 1000));
		w->window_ns = ns;
		w->window_shown = w->hidden = 0;
	}
	if (w->window_shown >= WATCH_LINES_PER_S) {
		w->hidden++;
		return;
	}
	w->window_shown++;
	w->shown++;
	if (rip_known)
		snprintf(at, sizeof(at), ", RIP %#" PRIx64, rip);
	fprintf(stderr,
		"tollbooth: watch: %s wrote page %#" PRIx64 " of watched range %#" PRIx64 "-%#" PRIx64
		" at %llu.%03llu ms%s\n",
		who, (u64)(gpa & ~(u64)0xfff), w->start[r], w->end[r], (unsigned long long)(ns / 1000000),
		(unsigned long long)(ns / 1000 % 1000), at);
}

/* The page is reported: clean it so that its next write is logged again. */
static void watch_rearm_page(struct vm *vm, u64 page)
{
	if (ept_clear_dirty_range(vm, vm->eptp, page, 0x1000) && vm->backend->ept_changed)
		vm->backend->ept_changed(vm);
}

/* Log entries [first, 512) of a vCPU's PML log (SDM 29.3.6: filled from 511 down). */
static void watch_log(struct vcpu *vcpu, const u64 *log, unsigned first)
{
	struct vm *vm = vcpu->vm;
	const struct backend_ops *b = vm->backend;
	const u64 *rips = b->pml_rips ? b->pml_rips(vcpu) : NULL;

	for (unsigned i = first; i < 512; i++) {
		u64 gpa = log[i];
		int r = watch_range_of(&vm->watch, gpa);

		vm->watch.pml_entries++;
		if (gpa < vm->ram_size && vm->dirty_bitmap)
			vm->dirty_bitmap[(gpa >> 12) / 64] |= 1ull << ((gpa >> 12) % 64);
		if (r < 0)
			continue;
		watch_report(vm, r, gpa, "the guest", rips ? rips[i] : 0, rips != NULL);
		watch_rearm_page(vm, gpa & ~0xfffull);
	}
}

void watch_pml_full(struct vcpu *vcpu, const u64 *log, u16 index)
{
	/* After a full log the index has wrapped to 0xffff: entries index+1 .. 511 are valid. */
	watch_log(vcpu, log, index >= 512 ? 0 : index + 1u);
}

/* Every vCPU's log so far, whatever its fill. */
void watch_drain(struct vm *vm)
{
	struct vm_watch *w = &vm->watch;

	if (!w->nr)
		return;
	if (w->wp)
		goto hidden;
	w->drains++;
	for (unsigned v = 0; v < vm->nr_vcpus; v++) {
		struct vcpu *vcpu = &vm->vcpus[v];
		const struct backend_ops *b = vm->backend;
		u16 index;

		if (vcpu->pml_log && b->pml_reset && !b->pml_reset(vcpu, &index))
			watch_pml_full(vcpu, (const u64 *)vcpu->pml_log, index);
	}
hidden:
	/* The end of the run: what the rate limit held back is said, once. */
	if (w->hidden && vm->stop) {
		fprintf(stderr, "tollbooth: watch: %" PRIu64 " more writes to watched pages in the "
				"last second (--stats counts them)\n",
			w->hidden);
		w->hidden = 0;
	}
}

static void watch_tick(void *opaque, u64 now)
{
	struct vm *vm = opaque;

	watch_drain(vm);
	timer_arm(&vm->watch.tick, now + WATCH_DRAIN_NS);
}

void watch_mem_written(struct vm *vm, u64 gpa, u64 len)
{
	struct vm_watch *w = &vm->watch;

	if (!w->started || !len)
		return;
	for (unsigned i = 0; i < w->nr; i++)
		if (gpa <= w->end[i] && gpa + len - 1 >= w->start[i])
			watch_report(vm, (int)i, gpa > w->start[i] ? gpa : w->start[i],
				     "a device or the VMM", 0, false);
}

int watch_add(struct vm_watch *w, u64 start, u64 end, char *why, size_t len)
{
	u64 s = (start + 0xfff) & ~0xfffull, e = ((end + 1) & ~0xfffull) - 1;

	if (w->nr == VM_MAX_WATCH) {
		snprintf(why, len, "at most %d ranges", VM_MAX_WATCH);
		return -ENOSPC;
	}
	if (end < start || end - start < 0xfff || e < s || (end + 1) < end) {
		snprintf(why, len,
			 "%#" PRIx64 "-%#" PRIx64 " holds no whole 4 KiB page (writes are watched per "
			 "page)",
			 start, end);
		return -EINVAL;
	}
	w->start[w->nr] = s;
	w->end[w->nr] = e;
	w->nr++;
	return 0;
}

int watch_start(struct vm *vm, char *why, size_t len)
{
	struct vm_watch *w = &vm->watch;
	bool changed = false;

	if (!w->nr)
		return 0;
	for (unsigned i = 0; i < w->nr; i++)
		if (w->end[i] >= vm->ram_size) {
			snprintf(why, len,
				 "--watch %#" PRIx64 "-%#" PRIx64 " is not all RAM (%lluM at 0): watch "
				 "ranges below %#llx",
				 w->start[i], w->end[i], (unsigned long long)(vm->ram_size >> 20),
				 (unsigned long long)vm->ram_size);
			return -EINVAL;
		}
	if (!vm->eptp || (!w->wp && !vm->dirty_bitmap)) {
		snprintf(why, len, "--watch needs EPT%s on the soft backend (--vmx ept=on)",
			 w->wp ? "" : " with PML");
		return -ENOTSUP;
	}
	for (unsigned i = 0; i < w->nr; i++)
		for (u64 page = w->start[i]; page < w->end[i]; page += 0x1000) {
			if (w->wp)
				changed |= !ept_set_write(vm, vm->eptp, page, false);
			else
				changed |= ept_clear_dirty_range(vm, vm->eptp, page, 0x1000) != 0;
		}
	if (changed && vm->backend->ept_changed)
		vm->backend->ept_changed(vm);
	w->nr_wp_pages = 0;
	w->started = true;
	if (!w->wp) {
		timer_init(&w->tick, &vm->timers, watch_tick, vm, "watch");
		timer_arm(&w->tick, timer_now(&vm->timers) + WATCH_DRAIN_NS);
	}
	return 0;
}

/*
 * --watch-method wp: a write to a protected watched page (EPT violation, write bit 1 of the
 * qualification, SDM Table 28-7). Report it, let this one instruction write (the page writable,
 * the monitor trap flag set) and protect it again at the MTF exit. True when it was ours.
 */
bool watch_ept_violation(struct vcpu *vcpu, const struct vm_exit *exit)
{
	struct vm *vm = vcpu->vm;
	struct vm_watch *w = &vm->watch;
	const struct backend_ops *b = vm->backend;
	int r;

	if (!w->wp || !w->started || !(exit->qual & BIT(1)) || !b->set_event_window)
		return false;
	r = watch_range_of(w, exit->guest_phys);
	if (r < 0 || exit->guest_phys >= vm->ram_size)
		return false;
	w->wp_exits++;
	watch_report(vm, r, exit->guest_phys, "the guest", exit->rip, true);
	if (ept_set_write(vm, vm->eptp, exit->guest_phys, true))
		return false;
	if (b->ept_changed)
		b->ept_changed(vm);
	if (w->nr_wp_pages < ARRAY_SIZE(w->wp_pages))
		w->wp_pages[w->nr_wp_pages++] = exit->guest_phys & ~0xfffull;
	b->set_event_window(vcpu, BACKEND_WINDOW_MTF, true);
	return true;
}

void watch_mtf(struct vcpu *vcpu)
{
	struct vm *vm = vcpu->vm;
	struct vm_watch *w = &vm->watch;

	if (!w->nr_wp_pages)
		return;
	w->mtf_exits++;
	for (unsigned i = 0; i < w->nr_wp_pages; i++)
		ept_set_write(vm, vm->eptp, w->wp_pages[i], false);
	if (vm->backend->ept_changed)
		vm->backend->ept_changed(vm);
	w->nr_wp_pages = 0;
	vm->backend->set_event_window(vcpu, BACKEND_WINDOW_MTF, false);
}

void watch_print_stats(const struct vm *vm, FILE *f)
{
	const struct vm_watch *w = &vm->watch;

	if (!w->nr)
		return;
	if (w->wp)
		fprintf(f,
			"Watch (write protection): %u range%s, %" PRIu64 " writes reported, %" PRIu64
			" EPT-violation and %" PRIu64 " MTF exits\n",
			w->nr, w->nr == 1 ? "" : "s", w->reports, w->wp_exits, w->mtf_exits);
	else
		fprintf(f,
			"Watch (PML): %u range%s, %" PRIu64 " writes reported, %" PRIu64
			" PML entries drained in %" PRIu64 " drains and the PML-full exits\n",
			w->nr, w->nr == 1 ? "" : "s", w->reports, w->pml_entries, w->drains);
}
