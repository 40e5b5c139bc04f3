/* SPDX-License-Identifier: MIT */
/*
 * The MMU: linear-address translation (Intel SDM vol. 3A chapter 4), the software TLB, and the
 * memory slow paths behind the inline fast paths of internal.h.
 *
 * Paging modes (SDM 4.1.1): none (CR0.PG = 0: identity), 32-bit (4 KiB, and 4 MiB with CR4.PSE,
 * with PSE-36 at MAXPHYADDR 40), PAE (4 KiB, 2 MiB) and 4-level (4 KiB, 2 MiB, 1 GiB). 5-level
 * paging, protection keys and PCIDs are not implemented (CPUID must not report LA57/PKU/PCID).
 *
 * TLB (SDM 4.10). c->tlbs[0] serves CPL 0-2, c->tlbs[1] CPL 3; c->tlb must be c->tlbs[cpl == 3]
 * (cpu_set_cpl). The MMU fills the entry of the access's privilege only when the rights it records
 * are exact for every later explicit access at that CPL: tag_r when reads are allowed, tag_w when
 * writes are allowed, the dirty flag is already set and the page holds no decoded code. Hence no
 * fill for implicit supervisor accesses at CPL 3 (the user TLB would get supervisor rights), for
 * supervisor translations of user pages while CR4.SMAP = 1 (the outcome depends on RFLAGS.AC and
 * on the access being implicit), and for MMIO. Instruction fetches never hit the TLB (it holds no
 * execute right); exec.c's jump cache is their TLB and is flushed with this one.
 *
 * Page-structure entries are read from guest RAM; an entry outside RAM is read through
 * c->mmio_read and its accessed/dirty flags are not written back. A final guest-physical address
 * outside RAM is MMIO. Without EPT, paging structures may also be host memory outside c->ram
 * (c->host_ptr: a shadow-paging VMM's tables, vmm/shadow.h), but no data access, fetch or flag
 * write reaches it, so a guest's stray mapping never touches the VMM's pages.
 *
 * EPT (SDM vol. 3C 29.3, ept.c). With EPT on, every guest-physical address the CPU uses goes
 * through mmu_ept_translate(): guest paging-structure entries (CR3, PDPTEs loaded from memory,
 * PML4E..PTE) and the final address of every linear access. mmu_translate() then returns the
 * host-physical address, which is what the TLB, the block cache (exec.c) and the slow paths use:
 * RAM below ram_size, else host memory through c->host_ptr, else MMIO with that address. So
 * self-modifying-code detection works on host pages, however guest-physical pages alias.
 *
 * TLB and VMX (SDM 29.4). The TLB holds combined linear->host translations made for one context
 * (EPTP when EPT is on, VPID when VPID is on: c->tlb_eptp, c->tlb_vpid). A translation of a
 * different context is never used: mmu_vmx_transition() and every slow path flush when the
 * controls name another context, and VM entries and exits without VPID flush (29.4.3.3). An entry
 * gets a read tag only with EPT read permission (execute-only pages stay out) and a write tag only
 * with EPT write permission and, with EPT A/D flags, the EPT dirty flag set. Guest-physical
 * mappings are cached as well (c->ept_cache, ept.c) and emptied with the TLB; INVLPG keeps them.
 *
 * MMIO TLB (c->mmio_tlb). The TLB holds no MMIO, so under EPT every access to a device page
 * walked the guest's tables again to reach the same EPT violation. A walk whose final address EPT
 * does not map is kept there instead (the guest-physical page, rights and dirty flag, by
 * tlb_fill's rules); a later access of the same kind and privilege skips the walk, and, for the
 * VMM's own EPT, the EPT walk too: the entry keeps EPT's answer (not present, and the R/W/X for
 * the qualification), so the access goes straight to the exit the walks would reach. Any TLB
 * flush empties it; INVEPT is one, and the VMM's EPT gains no mapping otherwise.
 */
#include <errno.h>

#include "cpu/internal.h"

#define MAXPHYADDR CPU_MAXPHYADDR

#define PHYS_ADDR_MASK GENMASK(MAXPHYADDR - 1, 12) /* address field of a 64-bit entry */

/* Reserved bits for this CPU's MAXPHYADDR (arch/x86.h). */
#define RSVD_PSE_4M PTE_RSVD_PSE_4M
#define RSVD_PAE_PDPTE PTE_RSVD_PAE_PDPTE(MAXPHYADDR)
#define RSVD_PAE PTE_RSVD_PAE(MAXPHYADDR)
#define RSVD_4LEVEL PTE_RSVD_4LEVEL(MAXPHYADDR)
#define RSVD_PML4E PTE_PS
#define RSVD_1G PTE_RSVD_1G
#define RSVD_2M PTE_RSVD_2M

/* The entries one translation used, for the accessed and dirty flags (SDM 4.8). */
struct walk {
	u64 gpa;    /* translation of the linear address */
	u64 rights; /* R/W and U/S: AND over the levels; XD: OR over the levels */
	u64 addr[4]; /* guest-physical addresses of the entries, top level first */
	u64 pa[4];   /* where they were read: host-physical under EPT, else = addr */
	u64 ent[4];  /* the entries as read (pt_set_flags swaps from these) */
	unsigned n;
	u8 esz;      /* bytes per entry: 4 with 32-bit paging, else 8 */
	u64 lin;     /* the linear address being translated */
	bool debug;  /* cpu_debug_translate: no faults, exits or side effects; fail instead */
	bool vmm;    /* mmu_vmm_*: the VMM's access for the guest: guest-physical addresses are RAM
			or MMIO as the VMM maps them, never translated through EPT */
	u64 last_pa; /* pa of the entry pt_read() read last */
	bool large;  /* the translation is of a page larger than 4 KiB */
	bool global; /* the leaf is global (G with CR4.PGE; 32-bit paging: not tracked) */
};

/* A walk step failed: fault, or for a debug walk report failure. */
#define WALK_FAIL(c, w, acc, bits)                                                               \
	do {                                                                                     \
		if ((w)->debug)                                                                  \
			return false;                                                            \
		page_fault((c), (w)->lin, (acc), (bits));                                        \
	} while (0)

static always_inline bool user_access(const struct cpu *c, int acc)
{
	/* SDM 4.6: implicit accesses to system structures are supervisor accesses at any CPL. */
	return c->cpl == 3 && !(acc & ACC_SYS);
}

/* #PF with the error code of SDM 4.7; `bits` holds P and RSVD. */
static noreturn void page_fault(struct cpu *c, u64 lin, int acc, u32 bits)
{
	unsigned kind = acc & 3;
	u32 err = bits;

	if (kind == ACC_WRITE)
		err |= PFEC_W;
	if (user_access(c, acc))
		err |= PFEC_U;
	/* I/D: instruction fetch with CR4.SMEP = 1, or with PAE/4-level paging and EFER.NXE = 1. */
	if (kind == ACC_FETCH &&
	    ((c->cr4 & CR4_SMEP) || ((c->cr4 & CR4_PAE) && (c->efer & EFER_NXE))))
		err |= PFEC_I;
	cpu_page_fault(c, lin, err);
}

/*
 * EPT access kind of a guest paging-structure access: a read, but a write when EPT A/D flags are
 * on (SDM 29.3.3.2, 29.3.5), so it sets the EPT dirty flag of the page holding the entry and an
 * EPT violation reports both read and write (ACC_PT, SDM 28.2.1 Table 28-7).
 */
static always_inline int pt_ept_acc(const struct cpu *c)
{
	return c->ctl.eptp & EPTP_AD_ENABLE ? ACC_WRITE | ACC_PT : ACC_READ;
}

/* The VPID whose translations the TLB may hold now: 0 without VPID (SDM 29.1). */
static always_inline u16 cur_vpid(const struct cpu *c)
{
	return (c->ctl.proc & PROC_SECONDARY_CONTROLS) && (c->ctl.proc2 & PROC2_ENABLE_VPID)
		       ? c->ctl.vpid
		       : 0;
}

static always_inline u64 cur_eptp(const struct cpu *c)
{
	return ept_enabled(c) ? TLB_CTX_EPT | c->ctl.eptp : 0;
}

/* Cached translations belong to one EPTP and VPID (SDM 29.4.1): another context flushes them. */
static always_inline void tlb_sync_context(struct cpu *c)
{
	if (unlikely(c->tlb_eptp != cur_eptp(c) || c->tlb_vpid != cur_vpid(c))) {
		tlb_flush_all(c);
		c->tlb_eptp = cur_eptp(c);
		c->tlb_vpid = cur_vpid(c);
	}
}

/* A 4- or 8-byte paging-structure entry at physical pa (host-physical when `hpa`: EPT
   translated it; else guest-physical); false only for a debug walk that would touch MMIO. */
static always_inline bool pt_read_pa(struct cpu *c, u64 pa, unsigned size, bool hpa, bool debug,
				     u64 *v)
{
	/* RAM is a multiple of 4 KiB and entries are aligned: an entry is wholly in or out. */
	if (likely(pa < c->ram_size)) {
		if (size == 8) {
			memcpy(v, c->ram + pa, 8);
			return true;
		}
		u32 v32;
		memcpy(&v32, c->ram + pa, 4);
		*v = v32;
		return true;
	}
	/* Under EPT a paging-structure access to the APIC-access page exits (30.4.6.1). */
	if (unlikely(hpa && !debug && (pa & PAGE_MASK) == c->apicv_page))
		apicv_access_exit(c, c->fault_depth ? APIC_ACCESS_GPA_EVENT : APIC_ACCESS_GPA_INSN,
				  0);
	u8 *p = hpa ? mmu_hpa_ptr(c, pa, size) : NULL;
	if (p) {
		*v = host_load(p, size);
		return true;
	}
	if (debug)
		return false;
	*v = c->mmio_read(c->opaque, pa, size) & size_mask(size);
	return true;
}

/* A 4- or 8-byte paging-structure entry at guest-physical addr (naturally aligned), through EPT
   when it is on: an EPT violation there has qualification bit 8 clear (SDM Table 28-7). */
static always_inline bool pt_read(struct cpu *c, struct walk *w, u64 addr, unsigned size, u64 *v)
{
	u64 pa = addr;
	bool ept = ept_enabled(c) && !w->vmm;

	if (unlikely(ept)) {
		if (w->debug) {
			if (!mmu_ept_lookup(c, addr, &pa))
				return false;
		} else {
			pa = mmu_ept_translate(c, addr, pt_ept_acc(c), w->lin, EPT_QUAL_LIN_VALID);
		}
	}
	w->last_pa = pa;
	/* Without EPT, paging structures are host-physical: RAM, or the VMM's shadow tables. */
	return pt_read_pa(c, pa, size, ept || !ept_enabled(c), w->debug, v);
}

/*
 * The levels of PAE and 4-level paging from `level` (4: PML4, 2: page directory) down, the table
 * at `table`. Levels 3 and 2 may map a page (PS = 1); a PML4E's PS is reserved.
 */
static always_inline bool walk_levels(struct cpu *c, u64 lin, int acc, struct walk *w,
				      u64 table, unsigned level, u64 rsvd)
{
	u64 and = PTE_RW | PTE_US, or = 0;
	unsigned shift = 12 + 9 * (level - 1);

	for (;; level--, shift -= 9) {
		u64 addr = table + (((lin >> shift) & 511) << 3);
		u64 e;
		if (!pt_read(c, w, addr, 8, &e))
			return false;
		if (!(e & PTE_P))
			WALK_FAIL(c, w, acc, 0);
		bool leaf = level == 1 || (level <= 3 && (e & PTE_PS));
		u64 r = rsvd;
		if (level == 4)
			r |= RSVD_PML4E;
		else if (leaf && level == 3)
			r |= RSVD_1G;
		else if (leaf && level == 2)
			r |= RSVD_2M;
		if (e & r)
			WALK_FAIL(c, w, acc, PFEC_P | PFEC_RSVD);
		and &= e;
		or |= e;
		w->addr[w->n] = addr;
		w->pa[w->n] = w->last_pa;
		w->ent[w->n++] = e;
		if (leaf) {
			u64 off = (1ull << shift) - 1;
			w->gpa = (e & PHYS_ADDR_MASK & ~off) | (lin & off);
			w->large = shift > 12;
			w->global = (e & PTE_G) && (c->cr4 & CR4_PGE);
			break;
		}
		table = e & PHYS_ADDR_MASK;
	}
	w->rights = and | (or & PTE_XD);
	return true;
}

/* 4-level paging (SDM 4.5). */
static bool walk_4level(struct cpu *c, u64 lin, int acc, struct walk *w)
{
	/* SDM 3.3.7.1: a non-canonical address faults before paging: #SS(0) through SS, else
	   #GP(0). */
	if (unlikely(!is_canonical(lin))) {
		if (w->debug)
			return false;
		cpu_fault(c, acc & ACC_SS ? X86_SS : X86_GP, 0);
	}
	return walk_levels(c, lin, acc, w, c->cr3 & PHYS_ADDR_MASK, 4,
			   RSVD_4LEVEL | (c->efer & EFER_NXE ? 0 : PTE_XD));
}

/*
 * PAE paging (SDM 4.4). The four PDPTEs live in registers, loaded at MOV CR3 and at the CR0/CR4
 * writes that enter or change PAE paging, where reserved bits give #GP(0) (SDM 4.4.1; cr.c):
 * a guest that edits its PDPT sees the edit only after reloading CR3. The PDPTE has no R/W, U/S,
 * XD or accessed flag (SDM 4.4.1 Table 4-8).
 */
bool mmu_load_pdptes(struct cpu *c, u64 cr3)
{
	u64 gpa = cr3 & GENMASK(31, 5), pa = gpa, e[4];

	/*
	 * With EPT the PDPT's guest-physical address goes through EPT with no linear address (SDM
	 * 28.2.1 Table 28-7: qualification bit 7 clear). These loads are reads even with EPT A/D
	 * flags on (SDM 29.3.3.2): no dirty flag, no PML entry, no violation for a read-only PDPT.
	 * Outside an instruction (the VMM's cpu_set_sregs; VM entry with EPT takes the PDPTEs from
	 * the VMCS, SDM 27.3.2.4) there is nowhere to exit to: an unmapped PDPT fails the load.
	 */
	if (ept_enabled(c)) {
		tlb_sync_context(c);
		if (c->insn)
			pa = mmu_ept_translate(c, gpa, ACC_READ, 0, 0);
		else if (!mmu_ept_lookup(c, gpa, &pa))
			return false;
	}
	for (unsigned i = 0; i < 4; i++) {
		/* 32-byte aligned: the four entries share a page. */
		pt_read_pa(c, pa + i * 8, 8, true, false, &e[i]);
		if ((e[i] & PTE_P) && (e[i] & RSVD_PAE_PDPTE))
			return false;
	}
	memcpy(c->pdpte, e, sizeof(e));
	return true;
}

static bool walk_pae(struct cpu *c, u64 lin, int acc, struct walk *w)
{
	u64 pdpte = c->pdpte[(lin >> 30) & 3];

	if (!(pdpte & PTE_P))
		WALK_FAIL(c, w, acc, 0);
	return walk_levels(c, lin, acc, w, pdpte & PHYS_ADDR_MASK, 2,
			   RSVD_PAE | (c->efer & EFER_NXE ? 0 : PTE_XD));
}

/* 32-bit paging (SDM 4.3): no XD; the only reserved bit is in a 4 MiB PDE. */
static bool walk_32(struct cpu *c, u64 lin, int acc, struct walk *w)
{
	u64 addr = (c->cr3 & GENMASK(31, 12)) + (((lin >> 22) & 1023) << 2);
	u64 pde, pte;

	if (!pt_read(c, w, addr, 4, &pde))
		return false;
	if (!(pde & PTE_P))
		WALK_FAIL(c, w, acc, 0);
	w->addr[0] = addr;
	w->pa[0] = w->last_pa;
	w->ent[0] = pde;
	w->n = 1;
	if ((pde & PTE_PS) && (c->cr4 & CR4_PSE)) {
		if (pde & RSVD_PSE_4M)
			WALK_FAIL(c, w, acc, PFEC_P | PFEC_RSVD);
		/* PSE-36: PDE bits 20:13 are physical-address bits 39:32 (SDM 4.3 Table 4-4). */
		w->gpa = (pde & GENMASK(31, 22)) | ((pde & GENMASK(20, 13)) << 19) |
			 (lin & GENMASK(21, 0));
		w->rights = pde & (PTE_RW | PTE_US);
		w->large = true;
		return true;
	}
	addr = (pde & GENMASK(31, 12)) + (((lin >> 12) & 1023) << 2);
	if (!pt_read(c, w, addr, 4, &pte))
		return false;
	if (!(pte & PTE_P))
		WALK_FAIL(c, w, acc, 0);
	w->addr[1] = addr;
	w->pa[1] = w->last_pa;
	w->ent[1] = pte;
	w->n = 2;
	w->gpa = (pte & GENMASK(31, 12)) | (lin & 0xfff);
	w->rights = pde & pte & (PTE_RW | PTE_US);
	return true;
}

/* The guest's paging for lin; false (debug walks only) when it does not map lin. */
static bool walk_guest(struct cpu *c, u64 lin, int acc, struct walk *w)
{
	w->n = 0;
	w->lin = lin;
	w->large = false;
	w->esz = c->cr4 & CR4_PAE ? 8 : 4;
	if (!(c->cr4 & CR4_PAE))
		return walk_32(c, lin, acc, w);
	if (c->efer & EFER_LMA)
		return walk_4level(c, lin, acc, w);
	return walk_pae(c, lin, acc, w);
}

/*
 * Access rights of SDM 4.6.1 for a translation whose combined rights are `rights` (R/W and U/S
 * set only if set at every level; XD set if set at any level, which happens only with
 * EFER.NXE = 1 in PAE or 4-level paging).
 */
static always_inline bool access_allowed(const struct cpu *c, int acc, u64 rights)
{
	unsigned kind = acc & 3;
	bool user_page = rights & PTE_US;

	if (user_access(c, acc)) {
		/* User-mode accesses reach user pages only; writes need R/W everywhere. */
		if (!user_page)
			return false;
		if (kind == ACC_WRITE)
			return rights & PTE_RW;
		return kind != ACC_FETCH || !(rights & PTE_XD);
	}
	if (kind == ACC_FETCH)
		/* SMEP: no supervisor fetch from a user page. */
		return !(rights & PTE_XD) && !(user_page && (c->cr4 & CR4_SMEP));
	/* SMAP: supervisor data access to a user page needs an explicit access with AC = 1. */
	if (user_page && (c->cr4 & CR4_SMAP) && ((acc & ACC_SYS) || !(c->rflags & X86_AC)))
		return false;
	/* Supervisor writes: CR0.WP = 0 ignores R/W. */
	return kind != ACC_WRITE || (rights & PTE_RW) || !(c->cr0 & CR0_WP);
}

/* The TLB of the current privilege, if its entry allows this access without a walk. */
static always_inline struct tlb_entry *tlb_lookup(struct cpu *c, u64 lin, int acc)
{
	struct tlb_entry *e = &c->tlbs[c->cpl == 3][(lin >> 12) & (TLB_SIZE - 1)];
	u64 page = lin & PAGE_MASK;

	if ((acc & ACC_SYS) && c->cpl == 3)
		return NULL;
	if ((acc & 3) == ACC_READ && e->tag_r == page)
		return e;
	if ((acc & 3) == ACC_WRITE && tlb_tag_w(e) == page)
		return e;
	return NULL;
}

/*
 * Whether the TLB of the access's privilege may keep a translation with these rights (the rules at
 * the top of this file): not for an implicit supervisor access at CPL 3 (the user TLB would get
 * supervisor rights), nor a supervisor translation of a user page under SMAP (the outcome depends
 * on RFLAGS.AC and on the access being implicit). *writable: later writes at this CPL are allowed
 * too (a successful access already implies reads: user pages for CPL 3, any page otherwise).
 */
static bool tlb_cacheable(const struct cpu *c, int acc, u64 rights, bool *writable)
{
	bool user = c->cpl == 3;

	if ((user && (acc & ACC_SYS)) || (!user && (rights & PTE_US) && (c->cr4 & CR4_SMAP)))
		return false;
	*writable = user ? rights & PTE_RW : (rights & PTE_RW) || !(c->cr0 & CR0_WP);
	return true;
}

/*
 * Fill after a successful translation to physical pa (the rules are at the top of this file);
 * `ept` holds the EPT_TLB_* rights the EPT translation allows caching.
 */
static void tlb_fill(struct cpu *c, u64 lin, int acc, u64 pa, u64 rights, bool dirty, u8 ept,
		     bool global)
{
	u64 page = lin & PAGE_MASK, ppage = pa & PAGE_MASK;
	bool user = c->cpl == 3, writable;
	u8 *host;

	if (!tlb_cacheable(c, acc, rights, &writable) || !(ept & EPT_TLB_R) ||
	    ppage == c->apicv_page)
		return;
	if (likely(ppage < c->ram_size))
		host = c->ram + ppage;
	else if (!ept_enabled(c) || !(host = mmu_hpa_ptr(c, ppage, PAGE_SIZE)))
		return;
	unsigned slot = (lin >> 12) & (TLB_SIZE - 1);
	struct tlb_entry *e = &c->tlbs[user][slot];
	if (c->tlb_nfilled < TLB_TRACK)
		c->tlb_filled[c->tlb_nfilled] = (u16)(user << TLB_BITS | slot);
	c->tlb_nfilled++;
	e->tag_r = page;
	/* tag_w and gpa are read by other vCPU threads (exec.c page_mark_code, which drops the
	   write tag of an entry for a page that became code): whole, relaxed atomic stores. */
	__atomic_store_n(&e->tag_w,
			 writable && dirty && (ept & EPT_TLB_W) && !bc_page_has_code(c, ppage)
				 ? page
				 : TLB_INVALID,
			 __ATOMIC_RELAXED);
	e->host = (uintptr_t)host - page;
	__atomic_store_n(&e->gpa, ppage, __ATOMIC_RELAXED);
	if (global)
		c->tlb_global[user][slot / 64] |= 1ull << (slot % 64);
	else
		c->tlb_global[user][slot / 64] &= ~(1ull << (slot % 64));
}

/* Every cached MMIO translation (c->mmio_tlb) goes with any TLB flush, whatever its scope. */
static void mmio_tlb_flush(struct cpu *c)
{
	if (!c->mmio_tlb_used)
		return;
	for (unsigned t = 0; t < 2; t++)
		for (unsigned i = 0; i < MMIO_TLB_SIZE; i++)
			c->mmio_tlb[t][i].tag_r = c->mmio_tlb[t][i].tag_w = TLB_INVALID;
	c->mmio_tlb_used = 0;
}

/* The walk just made (c->mmio_walk) ended at a final address EPT does not map (ept.c,
   EPT_QUAL_MMIO_CACHE): kept by the TLB's rules (tlb_cacheable; no fetches; writes only once the
   dirty flag is set). */
void mmio_tlb_fill(struct cpu *c, u64 lin, int acc, u64 gpa, u8 ept_perm)
{
	bool user = c->cpl == 3, writable;
	__typeof__(c->mmio_tlb[0][0]) *m = &c->mmio_tlb[user][(lin >> 12) & (MMIO_TLB_SIZE - 1)];

	if ((acc & 3) == ACC_FETCH || !tlb_cacheable(c, acc, c->mmio_walk.rights, &writable))
		return;
	m->tag_r = lin & PAGE_MASK;
	m->tag_w = writable && c->mmio_walk.dirty ? lin & PAGE_MASK : TLB_INVALID;
	m->gpa = gpa & PAGE_MASK;
	m->rights = c->mmio_walk.rights;
	m->dirty = c->mmio_walk.dirty;
	m->global = c->mmio_walk.global;
	m->ept_known = !c->ctl.eptp_outer;
	m->ept_perm = ept_perm;
	c->mmio_tlb_used = 1;
}

/* The cached guest translation of lin for this access, if any (mmio_tlb_fill). */
static bool mmio_tlb_lookup(struct cpu *c, u64 lin, int acc, u64 *gpa, u64 *rights, bool *dirty,
			    bool *global, int *ept_perm)
{
	bool user = c->cpl == 3;
	const __typeof__(c->mmio_tlb[0][0]) *m;

	if (!c->mmio_tlb_used || (user && (acc & ACC_SYS)))
		return false;
	m = &c->mmio_tlb[user][(lin >> 12) & (MMIO_TLB_SIZE - 1)];
	if (!((acc & 3) == ACC_READ && m->tag_r == (lin & PAGE_MASK)) &&
	    !((acc & 3) == ACC_WRITE && m->tag_w == (lin & PAGE_MASK)))
		return false;
	*gpa = m->gpa | (lin & 0xfff);
	*rights = m->rights;
	*dirty = (acc & 3) == ACC_WRITE || m->dirty;
	*global = m->global;
	*ept_perm = m->ept_known ? m->ept_perm : -1;
	return true;
}

/* A locked compare-and-swap of a 4- or 8-byte paging-structure entry (naturally aligned). */
static bool pt_cas(u8 *p, u64 old, u64 new, unsigned size)
{
	if (size == 4) {
		u32 o = (u32)old;

		return __atomic_compare_exchange_n((u32 *)p, &o, (u32) new, false, __ATOMIC_SEQ_CST,
						   __ATOMIC_RELAXED);
	}
	return __atomic_compare_exchange_n((u64 *)p, &old, new, false, __ATOMIC_SEQ_CST,
					   __ATOMIC_RELAXED);
}

/*
 * Set flags in paging-structure entry i of the walk (SDM 4.8). The processor does it with a locked
 * operation (SDM vol. 3A 4.8, 9.1.2.1): here a compare-and-swap from the entry as the walk read
 * it, so an entry another vCPU changed in between (cleared with XCHG or CMPXCHG, say) never gets
 * the flags, let alone its old contents back: false then, and the caller walks again (as KVM's
 * guest walker does on a failed cmpxchg). Under EPT this is a write to the entry's
 * guest-physical address: without EPT A/D flags it needs EPT write permission (the walk's reads
 * did not check it); with them the walk's accesses were writes already (SDM 29.3.5).
 */
static bool pt_set_flags(struct cpu *c, struct walk *w, unsigned i, u8 flags)
{
	u64 old = w->ent[i], pa = w->pa[i];
	u8 *p;

	if ((old & flags) == flags)
		return true;
	if (unlikely(ept_enabled(c)) && !w->vmm) {
		if (!(c->ctl.eptp & EPTP_AD_ENABLE))
			pa = mmu_ept_translate(c, w->addr[i], ACC_WRITE, w->lin,
					       EPT_QUAL_LIN_VALID);
		if (pa >= c->ram_size) {
			p = mmu_hpa_ptr(c, pa, w->esz);
			if (p && !pt_cas(p, old, old | flags, w->esz))
				return false;
			w->ent[i] = old | flags;
			return true;
		}
	}
	if (pa >= c->ram_size)
		return true;
	if (!pt_cas(c->ram + pa, old, old | flags, w->esz))
		return false;
	w->ent[i] = old | flags;
	if (unlikely(bc_page_has_code(c, pa & PAGE_MASK)))
		bc_code_written(c, pa, w->esz);
	return true;
}

void mmu_vmx_transition(struct cpu *c)
{
	/* SDM 29.4.3.3: without VPID, VM entries and exits invalidate linear and combined
	   mappings of VPID 0000H. */
	if (!cur_vpid(c))
		tlb_flush_all(c);
	tlb_sync_context(c);
}

/* The guest's paging for an access of kind acc at lin: rights checked (#PF), then the flags set;
   walked again when another vCPU changed an entry meanwhile (pt_set_flags). */
static always_inline void walk_access(struct cpu *c, u64 lin, int acc, struct walk *w)
{
	bool set;

	do {
		walk_guest(c, lin, acc, w);
		if (!access_allowed(c, acc, w->rights))
			page_fault(c, lin, acc, PFEC_P);
		/*
		 * SDM 4.8: the accessed flag of every entry used, and for a write the dirty flag of
		 * the entry that maps the page. We set them only once the access is known to be
		 * allowed (as KVM and QEMU do): an access that faults leaves the paging structures
		 * unchanged.
		 */
		set = true;
		for (unsigned i = 0; i < w->n && set; i++)
			set = pt_set_flags(c, w, i, PTE_A);
		if (set && (acc & 3) == ACC_WRITE)
			set = pt_set_flags(c, w, w->n - 1, PTE_D);
	} while (!set);
}

/* The largest page the current paging mode can map: the region INVLPG must consider. */
static unsigned tlb_large_shift(const struct cpu *c)
{
	if (!(c->cr4 & CR4_PAE))
		return c->cr4 & CR4_PSE ? 22 : 12;
	return c->efer & EFER_LMA ? 30 : 21;
}

static void tlb_note_large(struct cpu *c, u64 lin)
{
	u64 region = lin >> tlb_large_shift(c);

	for (unsigned i = 0; i < c->tlb_large_n && i < TLB_LARGE_MAX; i++)
		if (c->tlb_large[i] == region)
			return;
	if (c->tlb_large_n < TLB_LARGE_MAX)
		c->tlb_large[c->tlb_large_n] = region;
	if (c->tlb_large_n <= TLB_LARGE_MAX)
		c->tlb_large_n++;
}

/* May the TLB hold a piece of a large page around lin? */
static bool tlb_large_at(const struct cpu *c, u64 lin, unsigned shift)
{
	if (c->tlb_large_n > TLB_LARGE_MAX)
		return true;
	for (unsigned i = 0; i < c->tlb_large_n; i++)
		if (c->tlb_large[i] == lin >> shift)
			return true;
	return false;
}

u64 mmu_translate(struct cpu *c, u64 lin, int acc)
{
	struct tlb_entry *e;
	struct walk w;
	u64 gpa, rights = PTE_RW;
	bool dirty = true, global = false, walked = false;
	int ept_perm;

	tlb_sync_context(c);
	e = tlb_lookup(c, lin, acc);
	if (e)
		return e->gpa | (lin & 0xfff);
	if (!(c->cr0 & CR0_PG)) {
		/* No paging: the linear address is the physical address (SDM 4.1.1). */
		gpa = lin;
	} else if (mmio_tlb_lookup(c, lin, acc, &gpa, &rights, &dirty, &global, &ept_perm)) {
		c->mmu_stats.mmio_hits++;
		/* EPT's answer too (the VMM's EPT): the exit the walk would reach, without it. */
		if (ept_perm >= 0 && ept_enabled(c))
			ept_violation(c, gpa, acc, lin, EPT_QUAL_LIN_VALID | EPT_QUAL_FINAL,
				      (u8)ept_perm);
	} else {
		w.debug = false;
		w.vmm = false;
		w.global = false;
		walk_access(c, lin, acc, &w);
		c->mmu_stats.walks++;
		c->mmu_stats.walk_refs += w.n;
		if (unlikely(w.large))
			tlb_note_large(c, lin);
		gpa = w.gpa;
		rights = w.rights;
		dirty = (acc & 3) == ACC_WRITE || (w.ent[w.n - 1] & PTE_D);
		global = w.global;
		/* What the MMIO TLB keeps if EPT says the address is not mapped (ept.c). */
		c->mmio_walk.rights = rights;
		c->mmio_walk.dirty = dirty;
		c->mmio_walk.global = global;
		walked = true;
	}
	if (unlikely(ept_enabled(c))) {
		/* SDM 29.3.3.2: the final access, to the translation of a linear address. */
		u64 hpa = mmu_ept_translate(c, gpa, acc, lin,
					    EPT_QUAL_LIN_VALID | EPT_QUAL_FINAL |
						    (walked ? EPT_QUAL_MMIO_CACHE : 0));
		tlb_fill(c, lin, acc, hpa, rights, dirty, c->ept_tlb, global);
		return hpa;
	}
	tlb_fill(c, lin, acc, gpa, rights, dirty, EPT_TLB_R | EPT_TLB_W, global);
	return gpa;
}

/* --- Debug translation (cpu.h): no A/D flags, no faults, no exits, no MMIO --- */

/*
 * The guest-physical address: guest paging (its structures read through EPT when on) for a
 * supervisor read. SMAP is not applied: a debugger reads user pages too. The final guest-physical
 * address need not be mapped by EPT (the VMM's MMIO decoder translates MMIO addresses).
 */
int cpu_debug_translate(struct cpu *c, u64 lin, u64 *gpa)
{
	struct walk w;

	lin &= c->lin_mask;
	if (!(c->cr0 & CR0_PG)) {
		*gpa = lin;
		return 0;
	}
	w.debug = true;
	w.vmm = false;
	if (!walk_guest(c, lin, ACC_READ | ACC_SYS, &w))
		return -EFAULT;
	*gpa = w.gpa;
	return 0;
}

/* Host pointer for debug access to guest-physical gpa (RAM or, under EPT, host memory). */
static u8 *debug_ptr(struct cpu *c, u64 gpa, u64 len)
{
	u64 pa = gpa;

	if (ept_enabled(c)) {
		if (!mmu_ept_lookup(c, gpa, &pa))
			return NULL;
		return mmu_hpa_ptr(c, pa, len);
	}
	return pa < c->ram_size && len <= c->ram_size - pa ? c->ram + pa : NULL;
}

int cpu_read_virt(struct cpu *c, u64 lin, void *buf, size_t len)
{
	u8 *out = buf;

	while (len) {
		u64 gpa;
		size_t n = PAGE_SIZE - (lin & 0xfff);
		if (n > len)
			n = len;
		/* A translation the CPU holds in either privilege's TLB (RAM only: MMIO is never
		   filled) is the one it just used: the VMM's fetch of an instruction that exited
		   (an MMIO access it decodes) needs no second walk of the guest's tables and EPT. */
		const struct tlb_entry *e = &c->tlbs[0][(lin >> 12) & (TLB_SIZE - 1)];

		if (e->tag_r != (lin & PAGE_MASK))
			e = &c->tlbs[1][(lin >> 12) & (TLB_SIZE - 1)];
		if (e->tag_r == (lin & PAGE_MASK)) {
			memcpy(out, (const u8 *)(e->host + lin), n);
		} else {
			if (cpu_debug_translate(c, lin, &gpa))
				return -EFAULT;
			u8 *p = debug_ptr(c, gpa, n);
			if (!p)
				return -EFAULT;
			memcpy(out, p, n);
		}
		out += n;
		len -= n;
		lin = (lin + n) & c->lin_mask;
	}
	return 0;
}

/* --- Slow paths --- */

/* MMIO sizes are 1, 2, 4 or 8; other sizes (parts of a page-crossing access) go byte by byte. */
static u64 mmio_read_n(struct cpu *c, u64 gpa, unsigned size)
{
	if (!(size & (size - 1)))
		return c->mmio_read(c->opaque, gpa, size) & size_mask(size);
	u64 v = 0;
	for (unsigned i = 0; i < size; i++)
		v |= (c->mmio_read(c->opaque, gpa + i, 1) & 0xff) << (8 * i);
	return v;
}

static void mmio_write_n(struct cpu *c, u64 gpa, u64 v, unsigned size)
{
	if (!(size & (size - 1))) {
		c->mmio_write(c->opaque, gpa, v & size_mask(size), size);
		return;
	}
	for (unsigned i = 0; i < size; i++)
		c->mmio_write(c->opaque, gpa + i, (v >> (8 * i)) & 0xff, 1);
}

/*
 * `size` bytes within one page at physical pa as mmu_translate() returned it (the host is
 * little-endian like x86): RAM; under EPT host memory (c->host_ptr); else MMIO at pa.
 */
static u64 phys_read(struct cpu *c, u64 pa, unsigned size)
{
	if (unlikely((pa & PAGE_MASK) == c->apicv_page))
		return apicv_read(c, pa & 0xfff, size);
	if (likely(pa < c->ram_size))
		return host_load(c->ram + pa, size);
	if (ept_enabled(c)) {
		u8 *p = mmu_hpa_ptr(c, pa, size);
		if (p)
			return host_load(p, size);
	}
	return mmio_read_n(c, pa, size);
}

/* A write that hits decoded code drops it afterwards (self-modifying code, SDM vol. 3A 11.6). */
static void phys_write(struct cpu *c, u64 pa, u64 v, unsigned size)
{
	if (unlikely((pa & PAGE_MASK) == c->apicv_page)) {
		apicv_write(c, pa & 0xfff, v, size);
		return;
	}
	if (likely(pa < c->ram_size)) {
		host_store(c->ram + pa, v, size);
		if (bc_page_has_code(c, pa & PAGE_MASK))
			bc_code_written(c, pa, size);
		return;
	}
	if (ept_enabled(c)) {
		u8 *p = mmu_hpa_ptr(c, pa, size);
		if (p) {
			host_store(p, v, size);
			return;
		}
	}
	mmio_write_n(c, pa, v, size);
}

void mmu_fetch_phys(struct cpu *c, u64 pa, u8 *buf, unsigned n)
{
	/* An instruction fetch from the APIC-access page exits (SDM vol. 3C 30.4.2). */
	if (unlikely((pa & PAGE_MASK) == c->apicv_page ||
		     ((pa + n - 1) & PAGE_MASK) == c->apicv_page))
		apicv_access_exit(c, APIC_ACCESS_LINEAR_FETCH,
				  (pa & PAGE_MASK) == c->apicv_page ? pa & 0xfff : 0);
	for (unsigned i = 0; i < n; i++)
		buf[i] = (u8)phys_read(c, pa + i, 1);
}

/*
 * A page-crossing access translates both pages before touching either, so a fault on the second
 * page leaves memory (and MMIO devices) untouched; the first translation's accessed/dirty flags
 * may already be set, as on hardware. The second page follows the first modulo the linear-address
 * width (lin_mask: 4 GiB wrap outside 64-bit mode).
 */
/*
 * #AC(0): a misaligned data access at CPL 3 with CR0.AM and RFLAGS.AC set (SDM vol. 3A 6.15,
 * Interrupt 17, Table 6-7; operands of 2, 4 and 8 bytes). cpu_refresh_derived() sends all such
 * accesses here; implicit supervisor accesses are not checked.
 */
static always_inline void align_check(struct cpu *c, u64 lin, unsigned size, int acc)
{
	/* A non-canonical address is #GP/#SS before #AC (as hardware orders them; SDM vol. 3A
	   Table 6-2 lists both in one class), which mmu_translate() raises. */
	if (unlikely(c->tlb == c->tlbs[2]) && !(acc & ACC_SYS) && !(size & (size - 1)) &&
	    (lin & (size - 1)) && is_canonical(lin))
		cpu_fault(c, X86_AC_VEC, 0);
}

u64 mmu_read_slow(struct cpu *c, u64 lin, unsigned size, int acc)
{
	unsigned n1 = (unsigned)(PAGE_SIZE - (lin & 0xfff));

	align_check(c, lin, size, acc);
	if (likely(size <= n1))
		return phys_read(c, mmu_translate(c, lin, acc), size);
	u64 gpa1 = mmu_translate(c, lin, acc);
	u64 gpa2 = mmu_translate(c, (lin + n1) & c->lin_mask, acc);
	u64 lo = phys_read(c, gpa1, n1);
	return lo | phys_read(c, gpa2, size - n1) << (8 * n1);
}

void mmu_write_slow(struct cpu *c, u64 lin, u64 v, unsigned size, int acc)
{
	unsigned n1 = (unsigned)(PAGE_SIZE - (lin & 0xfff));

	align_check(c, lin, size, acc);
	if (likely(size <= n1)) {
		phys_write(c, mmu_translate(c, lin, acc), v, size);
		return;
	}
	u64 gpa1 = mmu_translate(c, lin, acc);
	u64 gpa2 = mmu_translate(c, (lin + n1) & c->lin_mask, acc);
	phys_write(c, gpa1, v, n1);
	phys_write(c, gpa2, v >> (8 * n1), size - n1);
}

/* Both pages' physical addresses for n bytes at lin (n <= 4096), translated before any access. */
static unsigned translate_span(struct cpu *c, u64 lin, unsigned n, int acc, u64 pa[2])
{
	unsigned n1 = (unsigned)(PAGE_SIZE - (lin & 0xfff));

	pa[0] = mmu_translate(c, lin, acc);
	if (n <= n1)
		return n;
	pa[1] = mmu_translate(c, (lin + n1) & c->lin_mask, acc);
	return n1;
}

void mmu_read_bytes(struct cpu *c, u64 lin, void *buf, unsigned n, int acc)
{
	u64 pa[2] = { 0, 0 };
	unsigned n1 = translate_span(c, lin, n, acc, pa);
	u8 *out = buf;

	for (unsigned i = 0; i < n;) {
		u64 p = i < n1 ? pa[0] + i : pa[1] + (i - n1);
		unsigned k = n - i < 8 ? n - i : 8;

		if (i < n1 && k > n1 - i)
			k = n1 - i;
		u64 v = phys_read(c, p, k);
		memcpy(out + i, &v, k);
		i += k;
	}
}

void mmu_write_bytes(struct cpu *c, u64 lin, const void *buf, unsigned n, int acc)
{
	u64 pa[2] = { 0, 0 };
	unsigned n1 = translate_span(c, lin, n, acc, pa);
	const u8 *in = buf;

	for (unsigned i = 0; i < n;) {
		u64 p = i < n1 ? pa[0] + i : pa[1] + (i - n1), v = 0;
		unsigned k = n - i < 8 ? n - i : 8;

		if (i < n1 && k > n1 - i)
			k = n1 - i;
		memcpy(&v, in + i, k);
		phys_write(c, p, v, k);
		i += k;
	}
}

/* NULL without translating for a page-crossing access: the slow path then does the checks. */
void *mmu_ptr(struct cpu *c, u64 lin, unsigned size, int acc)
{
	/* With alignment checking on, the caller's per-element path checks each access. */
	if (unlikely(c->tlb == c->tlbs[2]))
		return NULL;
	if ((lin & 0xfff) + size > PAGE_SIZE)
		return NULL;
	struct tlb_entry *e = tlb_lookup(c, lin, acc);
	if (e)
		return (u8 *)(e->host + lin);
	u64 gpa = mmu_translate(c, lin, acc);
	if (gpa >= c->ram_size || (gpa & PAGE_MASK) == c->apicv_page ||
	    ((acc & 3) == ACC_WRITE && bc_page_has_code(c, gpa & PAGE_MASK)))
		return NULL;
	return c->ram + gpa;
}

/* --- Locked read-modify-write (internal.h struct rmw; SDM vol. 3A 9.1.2.2) --- */

typedef unsigned __int128 u128;

/* LOCK CMPXCHG16B on the host (CPUID.01H:ECX.CX16, which every x86-64 host we run on has):
   GCC's __atomic on 16 bytes would call libatomic, which may take a lock instead. */
static bool cas16(u8 *p, u128 old, u128 new)
{
	u64 lo = (u64)old, hi = (u64)(old >> 64);
	bool ok;

	asm volatile("lock cmpxchg16b %1"
		     : "=@ccz"(ok), "+m"(*(u64(*)[2])p), "+a"(lo), "+d"(hi)
		     : "b"((u64)new), "c"((u64)(new >> 64))
		     : "memory");
	return ok;
}

/*
 * Host pointer of the operand for a locked access, translated for a write now (the faults,
 * accessed/dirty flags, EPT violations and PML entries of the write happen here: the locked read
 * is a write access, SDM vol. 3A 5.7), or NULL when it is not plain RAM in one page.
 */
static u8 *rmw_lock_ptr(struct cpu *c, struct rmw *m)
{
	u8 *p = lin_rmw_ptr(c, m->lin, m->size);
	u64 pa;

	m->code = 0;
	if (p)
		return p; /* a write tag: RAM, no decoded code in the page */
	if ((m->lin & 0xfff) + m->size > PAGE_SIZE)
		return NULL;
	align_check(c, m->lin, m->size, m->acc);
	pa = mmu_translate(c, m->lin, m->acc);
	if ((pa & PAGE_MASK) == c->apicv_page)
		return NULL;
	if (pa < c->ram_size) {
		p = c->ram + pa;
		m->code = bc_page_has_code(c, pa & PAGE_MASK);
	} else if (!ept_enabled(c) || !(p = mmu_hpa_ptr(c, pa, m->size))) {
		return NULL;
	}
	m->pa = pa;
	return p;
}

/* The window holding the operand and its value; false for a split lock or not plain RAM. */
static bool rmw_lock_begin(struct cpu *c, struct rmw *m, u128 *v)
{
	u8 *p = rmw_lock_ptr(c, m);
	uintptr_t a = (uintptr_t)p;
	unsigned shift;

	if (!p)
		return false;
	if ((a & 7) + m->size <= 8) {
		m->wide = 0;
		m->win = (u8 *)(a & ~(uintptr_t)7);
		m->old[0] = __atomic_load_n((u64 *)m->win, __ATOMIC_RELAXED);
		m->old[1] = 0;
	} else if ((a & 15) + m->size <= 16) {
		/* Two loads may tear: then the swap fails and the handler reads again. */
		m->wide = 1;
		m->win = (u8 *)(a & ~(uintptr_t)15);
		m->old[0] = __atomic_load_n((u64 *)m->win, __ATOMIC_RELAXED);
		m->old[1] = __atomic_load_n((u64 *)m->win + 1, __ATOMIC_RELAXED);
	} else {
		return false;
	}
	m->p = p;
	m->locked = 1;
	shift = (unsigned)(p - m->win) * 8;
	*v = ((u128)m->old[1] << 64 | m->old[0]) >> shift;
	return true;
}

static bool rmw_lock_commit(struct cpu *c, struct rmw *m, u128 v)
{
	unsigned shift = (unsigned)(m->p - m->win) * 8;
	u128 mask = m->size == 16 ? ~(u128)0 : (((u128)1 << (m->size * 8)) - 1) << shift;
	u128 old = (u128)m->old[1] << 64 | m->old[0], new = (old & ~mask) | ((v << shift) & mask);

	if (!m->wide) {
		u64 o = (u64)old;

		if (!__atomic_compare_exchange_n((u64 *)m->win, &o, (u64) new, false,
						 __ATOMIC_SEQ_CST, __ATOMIC_RELAXED))
			return false;
	} else if (!cas16(m->win, old, new)) {
		return false;
	}
	if (unlikely(m->code))
		bc_code_written(c, m->pa, m->size);
	return true;
}

u64 mmu_rmw_lock_read(struct cpu *c, struct rmw *m)
{
	u128 v;

	if (rmw_lock_begin(c, m, &v))
		return (u64)v & size_mask(m->size);
	/* Not atomic (internal.h): the plain slow paths. */
	m->p = NULL;
	m->locked = 0;
	return lin_read_acc(c, m->lin, m->size, m->acc);
}

bool mmu_rmw_lock_write(struct cpu *c, struct rmw *m, u64 v)
{
	return rmw_lock_commit(c, m, v & size_mask(m->size));
}

bool mmu_rmw_lock_read16(struct cpu *c, struct rmw *m, u64 v[2])
{
	u128 x;

	if (!rmw_lock_begin(c, m, &x))
		return false;
	v[0] = (u64)x;
	v[1] = (u64)(x >> 64);
	return true;
}

bool mmu_rmw_lock_write16(struct cpu *c, struct rmw *m, const u64 v[2])
{
	return rmw_lock_commit(c, m, (u128)v[1] << 64 | v[0]);
}

/*
 * The write's translations (and so its dirty flags) happen now; the write itself follows. An
 * access through SS to a non-canonical address raises #SS(0) here (SDM vol. 3A 6.15, interrupt
 * 12), which the plain write path cannot tell from #GP(0).
 */
void mem_probe_write(struct cpu *c, unsigned seg, u64 off, unsigned size)
{
	u64 lin = seg_lin(c, seg, off, size, ACC_WRITE);
	unsigned n1 = (unsigned)(PAGE_SIZE - (lin & 0xfff));

	if (seg == SEG_SS && (!is_canonical(lin) || !is_canonical(lin + size - 1)))
		cpu_fault(c, X86_SS, 0);
	mmu_translate(c, lin, ACC_WRITE);
	if (size > n1)
		mmu_translate(c, (lin + n1) & c->lin_mask, ACC_WRITE);
}

/* --- The VMM's accesses for the guest (string I/O, io.c) --- */

/* Guest-physical address of lin for the VMM's access: the guest's paging with its accessed and
   dirty flags and #PF, its page tables reached as the VMM maps guest memory (no EPT, no TLB). */
static u64 vmm_translate(struct cpu *c, u64 lin, int acc)
{
	struct walk w;

	if (c->vmm_walk.walk) {
		u64 gpa;
		u32 pfec;

		if (c->vmm_walk.walk(c->vmm_walk.arg, lin, (acc & 3) == ACC_WRITE, &gpa, &pfec))
			cpu_page_fault(c, lin, pfec);
		return gpa;
	}
	if (!(c->cr0 & CR0_PG))
		return lin;
	w.debug = false;
	w.vmm = true;
	walk_access(c, lin, acc, &w);
	return w.gpa;
}

/* `size` bytes within one page at guest-physical gpa: RAM, else the MMIO callbacks. */
static u64 vmm_phys_read(struct cpu *c, u64 gpa, unsigned size)
{
	if (gpa < c->ram_size)
		return host_load(c->ram + gpa, size);
	return mmio_read_n(c, gpa, size);
}

static void vmm_phys_write(struct cpu *c, u64 gpa, u64 v, unsigned size)
{
	if (gpa < c->ram_size) {
		host_store(c->ram + gpa, v, size);
		if (bc_page_has_code(c, gpa & PAGE_MASK))
			bc_code_written(c, gpa, size);
		return;
	}
	mmio_write_n(c, gpa, v, size);
}

/*
 * Both pages of a page-crossing access are translated before either is touched, as
 * mmu_read_slow/mmu_write_slow do. Segment checks (#GP(0), #SS(0) through SS) and alignment
 * checking (#AC(0)) come first, in the order of an instruction's own access.
 */
u64 mmu_vmm_read(struct cpu *c, unsigned seg, u64 off, unsigned size)
{
	int acc = seg == SEG_SS ? ACC_READ | ACC_SS : ACC_READ;
	u64 lin = seg_lin(c, seg, off, size, ACC_READ);
	unsigned n1 = (unsigned)(PAGE_SIZE - (lin & 0xfff));

	align_check(c, lin, size, acc);
	if (size <= n1)
		return vmm_phys_read(c, vmm_translate(c, lin, acc), size);
	u64 gpa1 = vmm_translate(c, lin, acc);
	u64 gpa2 = vmm_translate(c, (lin + n1) & c->lin_mask, acc);
	return vmm_phys_read(c, gpa1, n1) | vmm_phys_read(c, gpa2, size - n1) << (8 * n1);
}

void mmu_vmm_write(struct cpu *c, unsigned seg, u64 off, unsigned size, const u64 *v)
{
	int acc = seg == SEG_SS ? ACC_WRITE | ACC_SS : ACC_WRITE;
	u64 lin = seg_lin(c, seg, off, size, ACC_WRITE);
	unsigned n1 = (unsigned)(PAGE_SIZE - (lin & 0xfff));
	u64 gpa1, gpa2 = 0;

	align_check(c, lin, size, acc);
	gpa1 = vmm_translate(c, lin, acc);
	if (size > n1)
		gpa2 = vmm_translate(c, (lin + n1) & c->lin_mask, acc);
	if (!v)
		return;
	if (size <= n1) {
		vmm_phys_write(c, gpa1, *v, size);
		return;
	}
	vmm_phys_write(c, gpa1, *v, n1);
	vmm_phys_write(c, gpa2, *v >> (8 * n1), size - n1);
}

void cpu_get_mmu_stats(const struct cpu *c, struct cpu_mmu_stats *s)
{
	*s = c->mmu_stats;
}

void cpu_set_vmm_walk(struct cpu *c, const struct cpu_vmm_walk *w)
{
	c->vmm_walk = w ? *w : (struct cpu_vmm_walk){ 0 };
}

/* --- Invalidation (SDM 4.10.4) --- */

/* One entry invalid. Its write tag is read by other vCPU threads (exec.c page_mark_code, as in
   tlb_fill): a relaxed atomic store. */
static void tlb_entry_drop(struct tlb_entry *e)
{
	e->tag_r = TLB_INVALID;
	__atomic_store_n(&e->tag_w, TLB_INVALID, __ATOMIC_RELAXED);
}

/* Both TLBs, global pages included (what CR4's paging bits, CR0 and the VMX transitions ask
   for; MOV CR3 keeps global pages: tlb_flush_nonglobal), and the jump cache, which holds fetch
   translations. */
void tlb_flush_all(struct cpu *c)
{
	mmio_tlb_flush(c);
	if (c->tlb_nfilled <= TLB_TRACK) {
		for (unsigned i = 0; i < c->tlb_nfilled; i++) {
			struct tlb_entry *e = &c->tlbs[c->tlb_filled[i] >> TLB_BITS]
						      [c->tlb_filled[i] & (TLB_SIZE - 1)];
			tlb_entry_drop(e);
		}
	} else {
		for (unsigned t = 0; t < 2; t++)
			for (unsigned i = 0; i < TLB_SIZE; i++)
				tlb_entry_drop(&c->tlbs[t][i]);
	}
	c->tlb_nfilled = 0;
	/* Guest-physical mappings too: more than MOV CR3 needs, which is allowed (SDM 29.4.3),
	   and it makes every VM entry without VPID see the VMM's EPT edits. */
	if (c->ept_nfilled <= EPT_TRACK)
		for (unsigned i = 0; i < c->ept_nfilled; i++)
			c->ept_cache[c->ept_filled[i]].gpa = TLB_INVALID;
	else
		for (unsigned i = 0; i < EPT_CACHE_SIZE; i++)
			c->ept_cache[i].gpa = TLB_INVALID;
	c->ept_nfilled = 0;
	c->tlb_large_n = 0;
	bc_flush_jump_cache(c);
}

static bool slot_global(const struct cpu *c, unsigned t, unsigned i)
{
	return c->tlb_global[t][i / 64] >> (i % 64) & 1;
}

/*
 * MOV CR3 with CR4.PCIDE = 0 (SDM 4.10.4.1): every TLB entry and paging-structure cache entry
 * but those of global pages. Linux reloads CR3 to flush its own mappings and maps the kernel
 * global: its code's translations (and its blocks in the jump cache) survive. Guest-physical
 * mappings are untouched by MOV CR3 (SDM 29.4.3.1). Large-page regions stay noted.
 */
void tlb_flush_nonglobal(struct cpu *c)
{
	unsigned kept = 0;

	mmio_tlb_flush(c);

	if (c->tlb_nfilled <= TLB_TRACK) {
		for (unsigned k = 0; k < c->tlb_nfilled; k++) {
			u16 s = c->tlb_filled[k];
			unsigned t = s >> TLB_BITS, i = s & (TLB_SIZE - 1);
			struct tlb_entry *e = &c->tlbs[t][i];
			if (e->tag_r != TLB_INVALID && slot_global(c, t, i))
				c->tlb_filled[kept++] = s; /* (a slot listed twice is kept twice) */
			else
				tlb_entry_drop(e);
		}
	} else {
		for (unsigned t = 0; t < 2; t++)
			for (unsigned i = 0; i < TLB_SIZE; i++) {
				struct tlb_entry *e = &c->tlbs[t][i];
				if (e->tag_r == TLB_INVALID)
					continue;
				if (!slot_global(c, t, i)) {
					tlb_entry_drop(e);
					continue;
				}
				if (kept < TLB_TRACK)
					c->tlb_filled[kept] = (u16)(t << TLB_BITS | i);
				kept++;
			}
	}
	c->tlb_nfilled = kept;
	bc_flush_jump_cache_nonglobal(c);
}

bool tlb_is_global(const struct cpu *c, u64 lin)
{
	unsigned t = c->cpl == 3, i = (lin >> 12) & (TLB_SIZE - 1);

	return c->tlbs[t][i].tag_r == (lin & PAGE_MASK) && slot_global(c, t, i);
}

/*
 * INVLPG (SDM 4.10.4.1): every entry for the page of lin, which may be a large page whose 4 KiB
 * pieces sit in other slots. Entries do not remember the page size, so we drop every entry inside
 * the largest page the current paging mode can map around lin (4 MiB, 2 MiB or 1 GiB): the
 * processor "is always free to invalidate additional entries" (SDM 4.10.4.1). Without large pages
 * (none in the paging mode, or none filled around lin since the last full flush: c->tlb_large)
 * only lin's slot is dropped, and the jump cache only when it may hold a block of lin's page.
 */
void tlb_flush_page(struct cpu *c, u64 lin)
{
	unsigned shift = c->cr0 & CR0_PG ? tlb_large_shift(c) : 12;

	mmio_tlb_flush(c);

	if (shift == 12 || !tlb_large_at(c, lin, shift)) {
		unsigned i = (lin >> 12) & (TLB_SIZE - 1);

		/* The slot, if it holds lin's page (another page sharing it stays). */
		for (unsigned t = 0; t < 2; t++) {
			struct tlb_entry *e = &c->tlbs[t][i];
			if (!((e->tag_r ^ lin) >> 12) || !((tlb_tag_w(e) ^ lin) >> 12))
				tlb_entry_drop(e);
		}
		bc_flush_jump_cache_page(c, lin);
		return;
	} else {
		for (unsigned t = 0; t < 2; t++)
			for (unsigned i = 0; i < TLB_SIZE; i++) {
				struct tlb_entry *e = &c->tlbs[t][i];
				if (!((e->tag_r ^ lin) >> shift) || !((tlb_tag_w(e) ^ lin) >> shift))
					tlb_entry_drop(e);
			}
	}
	bc_flush_jump_cache(c);
}

/* --- INVEPT and INVVPID by the VMM (SDM vol. 3C 29.4.3.1, 31.3) --- */

const u64 *cpu_pml_rips(const struct cpu *c)
{
	return c->pml_rip;
}

/*
 * The TLB holds translations of one context only (c->tlb_eptp, c->tlb_vpid), so an invalidation
 * either covers it, and flushes, or names another context and has nothing to do.
 * Single-context INVEPT: the mappings of the EP4TA (EPTP bits 51:12) given; all-context: every
 * guest-physical and combined mapping, that is, whatever was made with EPT on.
 */
void cpu_invept(struct cpu *c, int type, u64 eptp)
{
	if (!(c->tlb_eptp & TLB_CTX_EPT))
		return;
	if (type == 2 || (type == 1 && !((c->tlb_eptp ^ eptp) & GENMASK(51, 12))))
		tlb_flush_all(c);
}

/*
 * INVVPID: type 0 one linear address, 1 single context, 2 all contexts but VPID 0000H, 3 single
 * context except global translations (not modelled: all are dropped, which is allowed). VPID
 * 0000H's translations (VPID off) are never named: VM entries and exits flush them.
 */
void cpu_invvpid(struct cpu *c, int type, u16 vpid, u64 lin)
{
	if (!c->tlb_vpid)
		return;
	switch (type) {
	case 0:
		if (vpid == c->tlb_vpid)
			tlb_flush_page(c, lin);
		break;
	case 1:
	case 3:
		if (vpid == c->tlb_vpid)
			tlb_flush_all(c);
		break;
	case 2:
		tlb_flush_all(c);
		break;
	}
}
