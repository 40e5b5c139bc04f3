// SPDX-License-Identifier: MIT
/* EPT construction (Intel SDM vol. 3C 29.3): see ept.h. */
#include <errno.h>

#include "vmm/ept.h"
#include "vmm/exits.h"
#include "vmm/vm.h"
#include "vmx/vmcs.h"
#include "vmx/vmx.h"

/* IA32_VMX_EPT_VPID_CAP bits (SDM vol. 3D A.10). */
#define EPT_CAP_WALK4 BIT(6)
#define EPT_CAP_WB    BIT(14)
#define EPT_CAP_2M    BIT(16)
#define EPT_CAP_1G    BIT(17)
#define EPT_CAP_AD    BIT(21)

#define EPT_LEVEL_SHIFT(level) (12 + 9 * ((level)-1))
#define EPT_INDEX(gpa, level)  (((gpa) >> EPT_LEVEL_SHIFT(level)) & 511)

static u64 *ept_table(struct vm *vm, u64 entry)
{
	return (u64 *)vm_host_ptr(vm, entry & EPT_ADDR_MASK, 4096);
}

/*
 * The table at `level` - 1 under entry *e, allocated when not present. Non-leaf entries grant
 * RWX: the leaf decides (SDM 29.3.3: access rights are the AND of every level's).
 */
static u64 *ept_next(struct vm *vm, u64 *e)
{
	u64 hpa;

	if (!(*e & EPT_RWX)) {
		if (!vm_alloc_host_page(vm, &hpa))
			return NULL;
		*e = hpa | EPT_RWX;
	}
	return ept_table(vm, *e);
}

/* Map [gpa, gpa+size) 1:1, largest leaves first; gpa and size are 4 KiB multiples. */
static int ept_map(struct vm *vm, u64 *pml4, u64 gpa, u64 size, u64 cap)
{
	/* Leaf: RWX, memory type WB (29.3.7: the EPT memory type, combined with guest PAT). */
	const u64 leaf_bits = EPT_RWX | (u64)EPTP_MT_WB << EPT_MT_SHIFT;

	while (size) {
		int leaf_level = 1;
		u64 *table = pml4;

		if ((cap & EPT_CAP_1G) && !(gpa & ((1ull << 30) - 1)) && size >= (1ull << 30))
			leaf_level = 3;
		else if ((cap & EPT_CAP_2M) && !(gpa & ((1ull << 21) - 1)) && size >= (1ull << 21))
			leaf_level = 2;
		for (int level = 4; level > leaf_level; level--) {
			table = ept_next(vm, &table[EPT_INDEX(gpa, level)]);
			if (!table)
				return -ENOMEM;
		}
		table[EPT_INDEX(gpa, leaf_level)] = gpa | leaf_bits |
						    (leaf_level > 1 ? EPT_PS : 0);
		gpa += 1ull << EPT_LEVEL_SHIFT(leaf_level);
		size -= 1ull << EPT_LEVEL_SHIFT(leaf_level);
	}
	return 0;
}

int ept_build(struct vm *vm, bool ad, u64 *eptp)
{
	u64 cap, root;
	u64 *pml4;
	int err;

	if (vmx_cap_msr(MSR_IA32_VMX_EPT_VPID_CAP, &cap))
		cap = 0;
	if (!(cap & EPT_CAP_WALK4) || !(cap & EPT_CAP_WB) || (ad && !(cap & EPT_CAP_AD)))
		return -EINVAL;
	/* Dirty logging wants page granularity, as KVM's does: no large leaves with A/D flags. */
	if (ad)
		cap &= ~(EPT_CAP_1G | EPT_CAP_2M);
	pml4 = vm_alloc_host_page(vm, &root);
	if (!pml4)
		return -ENOMEM;
	for (unsigned i = 0; i < vm->nr_regions; i++) {
		const struct mem_region *r = &vm->regions[i];

		if (r->kind != MEM_RAM)
			continue; /* MMIO: not present, every access exits (29.3.3) */
		err = ept_map(vm, pml4, r->gpa & ~0xfffull, (r->size + 0xfff) & ~0xfffull, cap);
		if (err)
			return err;
	}
	/* APIC virtualization: the xAPIC page maps to the APIC-access page, its own address
	   (vmm/policy.c): with "virtualize APIC accesses" the CPU virtualizes or exits (SDM
	   30.4); without it the access reaches the MMIO bus at that address as before. */
	if (vmm_policy_on(vm, VMM_APICV)) {
		err = ept_map(vm, pml4, LAPIC_DEFAULT_BASE, 4096, cap & ~(EPT_CAP_1G | EPT_CAP_2M));
		if (err)
			return err;
	}
	/* EPTP (SDM 25.6.11): memory type WB, page-walk length 4 - 1, bit 6 A/D enable. */
	*eptp = root | EPTP_MT_WB | (4 - 1) << 3 | (ad ? EPTP_AD_ENABLE : 0);
	return 0;
}

u64 *ept_lookup(struct vm *vm, u64 eptp, u64 gpa, int *level)
{
	u64 *table = ept_table(vm, eptp);

	for (int l = 4; table && l >= 1; l--) {
		u64 *e = &table[EPT_INDEX(gpa, l)];

		if (!(*e & EPT_RWX))
			return NULL;
		if (l == 1 || (*e & EPT_PS)) {
			*level = l;
			return e;
		}
		table = ept_table(vm, *e);
	}
	return NULL;
}

static u64 ept_clear_dirty_table(struct vm *vm, u64 *table, int level)
{
	u64 n = 0;

	for (int i = 0; table && i < 512; i++) {
		u64 *e = &table[i];

		if (!(*e & EPT_RWX))
			continue;
		if (level == 1 || (*e & EPT_PS)) {
			n += !!(*e & EPT_D);
			*e &= ~EPT_D;
		} else {
			n += ept_clear_dirty_table(vm, ept_table(vm, *e), level - 1);
		}
	}
	return n;
}

u64 ept_clear_dirty(struct vm *vm, u64 eptp)
{
	return ept_clear_dirty_table(vm, ept_table(vm, eptp), 4);
}

/* Leaves of `table` (level 4..1) mapping from `base`: dirty 4 KiB leaves into the bitmap. */
static u64 ept_collect_table(struct vm *vm, u64 *table, int level, u64 base, u64 *bitmap,
			     u64 pages, bool clear)
{
	u64 n = 0, span = 1ull << (12 + 9 * (level - 1));

	for (int i = 0; table && i < 512; i++) {
		u64 *e = &table[i], gpa = base + (u64)i * span;

		if (!(*e & EPT_RWX))
			continue;
		if (level == 1 || (*e & EPT_PS)) {
			if (!(*e & EPT_D))
				continue;
			for (u64 p = gpa >> 12; p < (gpa + span) >> 12 && p < pages; p++)
				bitmap[p / 64] |= 1ull << (p % 64);
			n++;
			if (clear)
				*e &= ~EPT_D;
		} else {
			n += ept_collect_table(vm, ept_table(vm, *e), level - 1, gpa, bitmap, pages,
					       clear);
		}
	}
	return n;
}

u64 ept_collect_dirty(struct vm *vm, u64 eptp, u64 *bitmap, u64 pages, bool clear)
{
	return ept_collect_table(vm, ept_table(vm, eptp), 4, 0, bitmap, pages, clear);
}

u64 ept_clear_dirty_range(struct vm *vm, u64 eptp, u64 gpa, u64 len)
{
	u64 n = 0;

	for (u64 page = gpa & ~0xfffull; len && page <= gpa + len - 1; page += 0x1000) {
		int level;
		u64 *e = ept_lookup(vm, eptp, page, &level);

		if (e && (*e & EPT_D)) {
			*e &= ~EPT_D;
			n++;
		}
		if (page + 0x1000 < page)
			break;
	}
	return n;
}

int ept_set_write(struct vm *vm, u64 eptp, u64 gpa, bool writable)
{
	int level;
	u64 *e = ept_lookup(vm, eptp, gpa, &level);

	if (!e || level != 1)
		return -EINVAL;
	*e = writable ? *e | EPT_W : *e & ~(u64)EPT_W;
	return 0;
}
