/* SPDX-License-Identifier: MIT */
/*
 * EPT: guest-physical to host-physical translation (Intel SDM vol. 3C 29.3), its accessed and
 * dirty flags (29.3.5) and the page-modification log (29.3.6).
 *
 * The walk has four levels (EPTP walk length 4, 29.3.2) and maps 4 KiB pages, 2 MiB pages (PDE
 * with bit 7) and 1 GiB pages (PDPTE with bit 7). EPT paging structures live in host-physical
 * memory: guest RAM at 0 .. ram_size-1, the VMM's pages above through c->host_ptr. An entry at an
 * address where there is no memory reads as all ones, which is a misconfiguration (reserved bits).
 * Execute-only translations are supported (IA32_VMX_EPT_VPID_CAP bit 0); mode-based execute
 * control and #VE are not, so bit 10 and bit 63 of an entry are ignored (29.3.2).
 *
 * Only the caller of mmu_translate() reaches here, on TLB fills and slow paths: the fast path
 * uses combined linear->host translations cached in the TLB (29.4.1).
 */
#include "cpu/internal.h"

#define EPT_ADDR_MASK GENMASK(CPU_MAXPHYADDR - 1, 12)

/* Bits 51:MAXPHYADDR of every entry; bits 7:3 of an entry that references a table (a PML4E's
   bit 7 included); 29:12 of a 1 GiB leaf; 20:12 of a 2 MiB leaf (29.3.2, 29.3.3.1). */
#define EPT_RSVD_ALL   GENMASK(51, CPU_MAXPHYADDR)
#define EPT_RSVD_TABLE GENMASK(7, 3)
#define EPT_RSVD_1G    GENMASK(29, 12)
#define EPT_RSVD_2M    GENMASK(20, 12)

enum { EPT_OK, EPT_NOT_PRESENT, EPT_MISCONFIG };

struct ept_walk {
	u64 hpa;    /* the translation of the guest-physical address */
	u8 *ent[4]; /* host pointers of the entries used, top level first (NULL: no memory) */
	u64 ent_hpa[4];
	u64 val[4];
	unsigned n;
	u8 perm;       /* bits 2:0 ANDed over the entries used, a not-present one included */
	bool outer;    /* nested EPT: the walk failed in the outer EPT (ept_walk_from) */
	u64 outer_gpa; /* ... at this address of the outer EPT's guest-physical space */
};

u8 *mmu_hpa_ptr(struct cpu *c, u64 hpa, u64 len)
{
	if (hpa < c->ram_size && len <= c->ram_size - hpa)
		return c->ram + hpa;
	return c->host_ptr ? c->host_ptr(c->opaque, hpa, len) : NULL;
}

/*
 * The walk of SDM 29.3.2 and the checks of 29.3.3, without side effects, from the EPT at
 * `eptp`. With `outer` (nested EPT: c->ctl.eptp_outer) the EPT's own entries are at
 * guest-physical addresses that the EPT at `outer` maps: each entry's address goes through
 * that walk first (read access); one the outer EPT does not map is not RAM and reads as all
 * ones. The leaf's address (w->hpa) is still guest-physical then; ept_walk takes it through the
 * outer EPT for the access itself, where a failure is the outer EPT's (w->outer).
 */
static int ept_walk_from(struct cpu *c, u64 eptp, u64 outer, u64 gpa, struct ept_walk *w)
{
	u64 table = eptp & EPT_ADDR_MASK;

	w->n = 0;
	w->outer = false;
	w->perm = EPT_R | EPT_W | EPT_X;
	c->mmu_stats.ept_walks++;
	for (unsigned level = 4;; level--) {
		unsigned shift = 12 + 9 * (level - 1);
		u64 hpa = table + (((gpa >> shift) & 511) << 3);

		bool nowhere = false;

		if (outer) {
			struct ept_walk ow;
			int r = ept_walk_from(c, outer, 0, hpa, &ow);

			/* The VMM's EPT maps all of RAM: an entry it does not map for reading is
			   not RAM, and reads as all ones, as below (a misconfiguration). */
			if (r != EPT_OK || !(ow.perm & EPT_R))
				nowhere = true;
			else
				hpa = ow.hpa;
		}
		c->mmu_stats.ept_refs++;
		u8 *p = nowhere ? NULL : mmu_hpa_ptr(c, hpa, 8);
		u64 e = ~0ull;

		if (p)
			memcpy(&e, p, 8);
		w->ent[w->n] = p;
		w->ent_hpa[w->n] = hpa;
		w->val[w->n++] = e;
		w->perm &= e & 7;
		/* 29.3.2: an entry is present if any of bits 2:0 is 1; else EPT violation. */
		if (!(e & 7))
			return EPT_NOT_PRESENT;
		bool leaf = level == 1 || (level <= 3 && (e & EPT_PS));
		u64 rsvd = EPT_RSVD_ALL;
		if (!leaf)
			rsvd |= EPT_RSVD_TABLE;
		else if (level == 3)
			rsvd |= EPT_RSVD_1G;
		else if (level == 2)
			rsvd |= EPT_RSVD_2M;
		/* 29.3.3.1: write without read, reserved bits, and in the last entry the memory
		   types 2, 3 and 7 are misconfigurations. */
		if ((e & (EPT_R | EPT_W)) == EPT_W || (e & rsvd))
			return EPT_MISCONFIG;
		if (leaf) {
			unsigned mt = EPT_MT(e);
			if (mt == 2 || mt == 3 || mt == 7)
				return EPT_MISCONFIG;
			u64 off = (1ull << shift) - 1;
			w->hpa = (e & EPT_ADDR_MASK & ~off) | (gpa & off);
			return EPT_OK;
		}
		table = e & EPT_ADDR_MASK;
	}
}

/* The guest's EPT walk; with nested EPT, the outer translation of the result for an access
   needing `need` (w->hpa becomes host-physical, w->perm the two levels' permissions ANDed). */
static int ept_walk(struct cpu *c, u64 gpa, struct ept_walk *w, u8 need)
{
	int r = ept_walk_from(c, c->ctl.eptp, c->ctl.eptp_outer, gpa, w);
	struct ept_walk ow;

	if (r != EPT_OK || !c->ctl.eptp_outer || !(w->perm & need))
		return r;
	r = ept_walk_from(c, c->ctl.eptp_outer, 0, w->hpa, &ow);
	if (r != EPT_OK || !(ow.perm & need)) {
		w->outer = true;
		w->outer_gpa = w->hpa;
		w->perm = ow.perm;
		return r == EPT_MISCONFIG ? EPT_MISCONFIG : EPT_NOT_PRESENT;
	}
	w->hpa = ow.hpa;
	w->perm &= ow.perm;
	return EPT_OK;
}

bool mmu_ept_lookup(struct cpu *c, u64 gpa, u64 *hpa)
{
	struct ept_walk w;

	if (ept_walk(c, gpa, &w, EPT_R) != EPT_OK || !w.perm)
		return false;
	*hpa = w.hpa;
	return true;
}

/*
 * Set flags (A = bit 8, D = bit 9) in an entry as the processor does (29.3.5), with a locked
 * operation (SDM vol. 3A 9.1.2.1): a compare-and-swap from the entry as the walk read it, so
 * that an entry the VMM on another vCPU changed meanwhile is left alone: false then, and the
 * translation walks again.
 */
static bool ept_set_flags(struct cpu *c, struct ept_walk *w, unsigned i, u64 flags)
{
	u64 old = w->val[i];

	if ((old & flags) == flags || !w->ent[i])
		return true;
	if (!__atomic_compare_exchange_n((u64 *)w->ent[i], &old, old | flags, false,
					 __ATOMIC_SEQ_CST, __ATOMIC_RELAXED))
		return false;
	w->val[i] |= flags;
	/* EPT tables in guest RAM that hold decoded code (only a VMM that maps them can do it). */
	if (w->ent_hpa[i] < c->ram_size && bc_page_has_code(c, w->ent_hpa[i] & PAGE_MASK))
		bc_code_written(c, w->ent_hpa[i] + 1, 1);
	return true;
}

/*
 * 29.3.3.2 and Table 28-7: bits 2:0 the access (read, write, fetch), bits 5:3 the R/W/X of the
 * entries used ANDed (`perm`), bit 7 linear address valid, bit 8 (with bit 7) the final
 * translation rather than a guest paging-structure access, bit 12 the access belongs to an IRET
 * that unblocked NMIs (28.2.1; IRET delivers no event, so the "not during event delivery"
 * condition holds).
 */
noreturn void ept_violation(struct cpu *c, u64 gpa, int acc, u64 lin, u64 qual, u8 perm)
{
	qual &= EPT_QUAL_LIN_VALID | EPT_QUAL_FINAL;
	if (!(qual & EPT_QUAL_LIN_VALID)) {
		qual = 0;
		lin = 0;
	}
	qual |= BIT(acc & 3) | (u64)perm << 3;
	/* A guest paging-structure access that EPT A/D flags make a write sets both the read and
	   the write bit (Table 28-7, bits 0 and 1). */
	if (acc & ACC_PT)
		qual |= BIT(0);
	if (c->iret_nmi_unblocked)
		qual |= BIT(12);
	c->exit->guest_phys = gpa;
	c->exit->guest_linear = lin;
	cpu_vmexit(c, EXIT_REASON_EPT_VIOLATION, qual);
}

u64 mmu_ept_translate(struct cpu *c, u64 gpa, int acc, u64 lin, u64 qual)
{
	struct ept_walk w;
	unsigned kind = acc & 3;
	u8 need = kind == ACC_WRITE ? EPT_W : kind == ACC_FETCH ? EPT_X : EPT_R;
	u64 page = gpa & PAGE_MASK;
	typeof(c->ept_cache[0]) *ce = &c->ept_cache[(gpa >> 12) & (EPT_CACHE_SIZE - 1)];

	if (likely(ce->gpa == page && (ce->perm & need))) {
		c->ept_tlb = (ce->perm & EPT_R ? EPT_TLB_R : 0) |
			     (ce->perm & EPT_W ? EPT_TLB_W : 0);
		return ce->hpa | (gpa & 0xfff);
	}
	bool ad = c->ctl.eptp & EPTP_AD_ENABLE;
	int r;

again:
	r = ept_walk(c, gpa, &w, need);

	/* A failure in the outer EPT of nested EPT is the outer EPT's owner's (the exit record's
	   ept_outer), at the address that failed there. */
	if (unlikely(w.outer)) {
		c->exit->ept_outer = true;
		gpa = w.outer_gpa;
	}
	if (unlikely(r == EPT_MISCONFIG)) {
		/* 28.2.1: exit qualification cleared; guest-physical address saved (28.2.4). */
		c->exit->guest_phys = gpa;
		c->exit->guest_linear = 0;
		cpu_vmexit(c, EXIT_REASON_EPT_MISCONFIG, 0);
	}
	if (unlikely(r == EPT_NOT_PRESENT || !(w.perm & need))) {
		/* MMIO: the walk that led here need not be made again (mmu.c mmio_tlb). */
		if (r == EPT_NOT_PRESENT && (qual & EPT_QUAL_MMIO_CACHE) && !w.outer)
			mmio_tlb_fill(c, lin, acc, gpa, w.perm);
		ept_violation(c, gpa, acc, lin, qual, w.perm);
	}
	u64 leaf = w.val[w.n - 1];
	if (ad) {
		bool set_dirty = kind == ACC_WRITE && !(leaf & EPT_D), set_accessed = false;

		for (unsigned i = 0; i < w.n; i++)
			set_accessed |= !(w.val[i] & EPT_A);
		/*
		 * 29.3.6: before an access that would set an accessed or a dirty flag, an index
		 * outside 0..511 is a page-modification log-full event: exit 62, no flag is set and
		 * the access does not occur (28.2.1: qualification bit 12 only, NMI unblocking due
		 * to IRET). Otherwise, when it sets a dirty flag from 0 to 1, the processor logs
		 * the 4 KiB-aligned guest-physical address at PML_ADDRESS + 8 * index and
		 * decrements the index; accessed flags are not logged.
		 */
		if ((set_dirty || set_accessed) && (c->ctl.proc2 & PROC2_ENABLE_PML) &&
		    c->vmx.pml_index > 511)
			cpu_vmexit(c, EXIT_REASON_PML_FULL, c->iret_nmi_unblocked ? BIT(12) : 0);
		/* 29.3.5: A in every entry used; D in the leaf on a write. */
		for (unsigned i = 0; i < w.n; i++)
			if (!ept_set_flags(c, &w, i, EPT_A))
				goto again;
		if (set_dirty && !ept_set_flags(c, &w, w.n - 1, EPT_D))
			goto again;
		if (set_dirty && (c->ctl.proc2 & PROC2_ENABLE_PML)) {
			u8 *p = mmu_hpa_ptr(c, c->ctl.pml_address + 8ull * c->vmx.pml_index, 8);
			u64 v = gpa & PAGE_MASK;
			if (p)
				memcpy(p, &v, 8);
			c->pml_rip[c->vmx.pml_index] = c->insn_rip;
			c->vmx.pml_index--;
		}
		leaf = w.val[w.n - 1];
	}
	/* What later accesses may do without setting flags: A is set in every entry now, D only
	   where the leaf has it (29.4.1: guest-physical mappings may be cached). */
	u8 perm = w.perm & ((!ad || (leaf & EPT_D)) ? 7 : (EPT_R | EPT_X));
	if (c->ept_nfilled < EPT_TRACK)
		c->ept_filled[c->ept_nfilled] = (u16)(ce - c->ept_cache);
	c->ept_nfilled++;
	ce->gpa = page;
	ce->hpa = w.hpa & PAGE_MASK;
	ce->perm = perm;
	c->ept_tlb = (perm & EPT_R ? EPT_TLB_R : 0) | (perm & EPT_W ? EPT_TLB_W : 0);
	return w.hpa;
}
