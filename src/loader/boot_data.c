// SPDX-License-Identifier: MIT
/*
 * What the Linux loaders share: the guest's RAM as the memory map describes it (ACPI 6.5 ch. 15:
 * only AddressRangeMemory, type 1, is the OS's to use), where the initrd goes, the boot data area
 * and the boot GDT.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "common/ranges.h"
#include "loader/internal.h"

#define PAGE_SIZE 4096ull

int loader_fail(struct boot_plan *plan, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(plan->error, sizeof(plan->error), fmt, ap);
	va_end(ap);
	return err;
}

int loader_add_segment(struct boot_plan *plan, u64 gpa, const u8 *data, u64 filesz, u64 memsz)
{
	if (plan->nr_segments == BOOT_MAX_SEGMENTS)
		return loader_fail(plan, -EINVAL, "more than %d loadable segments: merge them",
				   BOOT_MAX_SEGMENTS);
	plan->seg[plan->nr_segments++] = (struct boot_segment){
		.gpa = gpa,
		.data = data,
		.filesz = filesz,
		.memsz = memsz,
	};
	return 0;
}

/* Map entry i as RAM [*start, *end), clipped to the RAM the VMM backs; false if it is none. */
static bool ram_entry(const struct boot_config *cfg, unsigned i, u64 *start, u64 *end)
{
	const struct e820_entry *e = &cfg->e820[i];
	u64 addr = e->addr, size = e->size;

	if (e->type != E820_RAM || addr >= cfg->mem_size)
		return false;
	*start = addr;
	*end = size > cfg->mem_size - addr ? cfg->mem_size : addr + size;
	return *end > *start;
}

/* Entries may come in any order, overlap or abut: [start, end) is covered by their union. */
bool loader_ram_covers(const struct boot_config *cfg, u64 start, u64 end)
{
	u64 pos = start, s, e;

	while (pos < end) {
		u64 next = pos;

		for (unsigned i = 0; i < cfg->nr_e820; i++)
			if (ram_entry(cfg, i, &s, &e) && s <= pos && e > next)
				next = e;
		if (next == pos)
			return false;
		pos = next;
	}
	return true;
}

/*
 * The lowest fit starts at `from` or at the start of a run of RAM, each rounded up to `align`:
 * those are the only candidates to try.
 */
bool loader_ram_find_low(const struct boot_config *cfg, u64 from, u64 align, u64 len, u64 limit,
			 u64 *addr)
{
	bool found = false;
	u64 s, e;

	for (unsigned i = 0; i <= cfg->nr_e820; i++) {
		u64 base = from, a;

		if (i < cfg->nr_e820) {
			if (!ram_entry(cfg, i, &s, &e) || e <= from)
				continue;
			if (s > base)
				base = s;
		}
		if (base > UINT64_MAX - (align - 1))
			continue;
		a = (base + align - 1) & ~(align - 1);
		if (a > limit || len > limit - a || !loader_ram_covers(cfg, a, a + len))
			continue;
		if (!found || a < *addr)
			*addr = a;
		found = true;
	}
	return found;
}

int loader_begin(const struct boot_config *cfg, size_t cmdline_max, const char *cmdline_what,
		 struct boot_plan *plan)
{
	const char *cmdline = cfg->cmdline ? cfg->cmdline : "";
	size_t len = strlen(cmdline);

	if (!cfg->nr_e820 || !cfg->e820)
		return loader_fail(plan, -EINVAL,
				   "no memory map: the VMM must pass the guest's E820 map");
	/* boot_params.e820_table holds E820_MAX_ENTRIES_ZEROPAGE (zero-page.rst, 0x2d0/0xa00). */
	if (cfg->nr_e820 > E820_MAX_ENTRIES)
		return loader_fail(plan, -EINVAL,
				   "the memory map has %u entries; Linux takes at most %d at boot",
				   cfg->nr_e820, E820_MAX_ENTRIES);
	if (len > cmdline_max)
		return loader_fail(plan, -EINVAL,
				   "the command line (--append) is %zu bytes; %s %zu: shorten it",
				   len, cmdline_what, cmdline_max);
	if (!loader_ram_covers(cfg, LINUX_DATA_ADDR, LINUX_DATA_ADDR + LINUX_DATA_SIZE))
		return loader_fail(plan, -EINVAL,
				   "the memory map has no RAM at %#x-%#x, where the boot data goes",
				   LINUX_DATA_ADDR, LINUX_DATA_ADDR + LINUX_DATA_SIZE - 1);
	memset(plan->linux_data, 0, sizeof(plan->linux_data));
	memcpy(LINUX_DATA(plan, LINUX_CMDLINE), cmdline, len + 1);
	return loader_add_segment(plan, LINUX_DATA_ADDR, plan->linux_data, LINUX_DATA_SIZE,
				  LINUX_DATA_SIZE);
}

/* Whether [start, start + len) is clear of every segment so far and of the reserved range. */
static bool initrd_room(const struct boot_plan *plan, u64 start, u64 len, u64 rsv_start,
			u64 rsv_end)
{
	return !(rsv_end > rsv_start && range_overlaps(start, len, rsv_start, rsv_end - rsv_start)) &&
	       ranges_find_overlap(RANGE_ARRAY(plan->seg, plan->nr_segments, gpa, memsz), start,
				   len) < 0;
}

/*
 * The highest fit ends at `limit`, at the end of a run of RAM or at the start of something
 * already placed, and starts there minus the length rounded down to a page: those are the only
 * candidates to try. The floor is 1 MiB: Linux keeps the first megabyte for the BIOS and its
 * real-mode trampoline (boot.rst "Memory Layout": everything of the kernel's goes above 0x100000;
 * arch/x86/kernel/setup.c reserves the low megabyte), so an initrd there would be clobbered.
 */
int loader_place_initrd(const struct boot_config *cfg, struct boot_plan *plan, u64 limit,
			const char *limit_what, u64 rsv_start, u64 rsv_end, u64 *addr)
{
	u64 len = cfg->initrd_size, best = 0, used_end = rsv_end, s, e;
	unsigned n = cfg->nr_e820 + plan->nr_segments + 2;

	*addr = 0;
	if (!cfg->initrd || !len)
		return 0;
	for (unsigned i = 0; i < n; i++) {
		u64 top, start;

		if (i < cfg->nr_e820) {
			if (!ram_entry(cfg, i, &s, &e))
				continue;
			top = e;
		} else if (i < cfg->nr_e820 + plan->nr_segments) {
			top = plan->seg[i - cfg->nr_e820].gpa;
		} else {
			top = i == n - 1 ? limit : rsv_start;
		}
		if (top > limit)
			top = limit;
		if (top < len + SZ_1M)
			continue;
		start = (top - len) & ~(PAGE_SIZE - 1);
		if (start < SZ_1M || start <= best || !loader_ram_covers(cfg, start, start + len) ||
		    !initrd_room(plan, start, len, rsv_start, rsv_end))
			continue;
		best = start;
	}
	if (!best) {
		u64 need;

		for (unsigned i = 0; i < plan->nr_segments; i++)
			if (plan->seg[i].gpa + plan->seg[i].memsz > used_end)
				used_end = plan->seg[i].gpa + plan->seg[i].memsz;
		need = ((used_end + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1)) + len;
		if (need <= limit)
			return loader_fail(plan, -E2BIG,
					   "the initrd (%llu KiB) does not fit in RAM above the "
					   "kernel: use --mem %lluM or more",
					   (unsigned long long)(len >> 10),
					   (unsigned long long)((need + SZ_1M - 1) >> 20));
		return loader_fail(plan, -E2BIG,
				   "the initrd (%llu KiB) does not fit between the kernel's end "
				   "%#llx and %s (%#llx): use a smaller initrd",
				   (unsigned long long)(len >> 10), (unsigned long long)used_end,
				   limit_what, (unsigned long long)limit);
	}
	*addr = best;
	return loader_add_segment(plan, best, cfg->initrd, len, len);
}

struct x86_segment loader_flat_segment(u16 sel, u32 ar)
{
	return (struct x86_segment){ .base = 0, .limit = 0xffffffff, .sel = sel, .ar = ar };
}

/*
 * The descriptor that loads `s` into a segment register's cache (SDM vol. 3A 3.4.5): limit
 * 19:0 in units of 4 KiB when G is set, the type, S, DPL and P byte at bits 47:40 and AVL, L,
 * D/B and G at 55:52, which are the access-rights field's bits 7:0 and 15:12.
 */
static u64 segment_descriptor(const struct x86_segment *s)
{
	u64 limit = s->ar & AR_G ? s->limit >> 12 : s->limit;

	return (limit & 0xffff) | (s->base & 0xffffff) << 16 | (u64)(s->ar & 0xff) << 40 |
	       ((limit >> 16) & 0xf) << 48 | (u64)((s->ar >> 12) & 0xf) << 52 |
	       ((s->base >> 24) & 0xff) << 56;
}

void loader_set_segments(struct boot_plan *plan, struct x86_segment code, struct x86_segment data)
{
	struct x86_sregs *s = &plan->sregs;
	u8 *gdt = LINUX_DATA(plan, LINUX_GDT);

	memset(s, 0, sizeof(*s));
	put64(gdt + code.sel, segment_descriptor(&code));
	put64(gdt + data.sel, segment_descriptor(&data));
	s->gdt = (struct x86_dtable){ .base = LINUX_GDT,
				      .limit = (code.sel > data.sel ? code.sel : data.sel) + 7 };
	s->seg[SEG_CS] = code;
	for (int r = SEG_ES; r <= SEG_GS; r++)
		if (r != SEG_CS)
			s->seg[r] = data;
	s->seg[SEG_LDTR].ar = AR_UNUSABLE;
	/*
	 * VM entry wants a usable busy TSS in TR (SDM vol. 3C 26.3.1.2); the PVH ABI asks for a
	 * 32-bit one at base 0 with limit 0x67, and type 11 is also the 64-bit busy TSS.
	 */
	s->seg[SEG_TR] = (struct x86_segment){ .limit = 0x67, .ar = 0xb | AR_P };
	/*
	 * Neither protocol defines the IDT: the kernel loads its own before it enables
	 * interrupts. An empty one turns an early fault into a triple fault (a clean stop) rather
	 * than a jump through whatever lies at address 0.
	 */
	s->idt = (struct x86_dtable){ .base = 0, .limit = 0 };
	s->apic_base = 0xfee00900; /* power-up value: enabled, BSP (SDM vol. 3A 10.4.4) */
}
