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
 * outside RAM is MMIO. Host memory outside c->ram is never touched.
 */
#include "cpu/internal.h"

#define MAXPHYADDR CPU_MAXPHYADDR

#define GENMASK(h, l) ((~0ull >> (63 - (h))) & (~0ull << (l)))
#define PHYS_ADDR_MASK GENMASK(MAXPHYADDR - 1, 12) /* address field of a 64-bit entry */

/* Paging-structure entry bits (SDM 4.3 Tables 4-4..4-6, 4.4.2 Tables 4-8..4-11, 4.5.4). */
#define PTE_P BIT(0)
#define PTE_RW BIT(1)
#define PTE_US BIT(2)
#define PTE_A BIT(5)
#define PTE_D BIT(6)
#define PTE_PS BIT(7)
#define PTE_XD BIT(63)

/*
 * Reserved bits, each with PFEC_RSVD when set in a present entry (SDM 4.7). XD is added when
 * IA32_EFER.NXE = 0 (SDM 4.4.2, 4.5.4).
 *   32-bit, 4 MiB PDE: bit 21 = bits 21:(M-19) with M = min(MAXPHYADDR, 40) (SDM 4.3 Table 4-4).
 *   PAE PDPTE: 63:MAXPHYADDR, 8:5, 2:1 (SDM 4.4.1 Table 4-8).
 *   PAE PDE/PTE: 62:MAXPHYADDR (SDM 4.4.2 Tables 4-9..4-11).
 *   4-level, every entry: 51:MAXPHYADDR; PML4E: PS (bit 7); 1 GiB PDPTE: 29:13; 2 MiB PDE: 20:13
 *   (SDM 4.5.4 Tables 4-15..4-20).
 */
#define RSVD_PSE_4M BIT(21)
#define RSVD_PAE_PDPTE (GENMASK(63, MAXPHYADDR) | GENMASK(8, 5) | GENMASK(2, 1))
#define RSVD_PAE GENMASK(62, MAXPHYADDR)
#define RSVD_4LEVEL GENMASK(51, MAXPHYADDR)
#define RSVD_PML4E PTE_PS
#define RSVD_1G GENMASK(29, 13)
#define RSVD_2M GENMASK(20, 13)

/* The entries one translation used, for the accessed and dirty flags (SDM 4.8). */
struct walk {
	u64 gpa;    /* translation of the linear address */
	u64 rights; /* R/W and U/S: AND over the levels; XD: OR over the levels */
	u64 addr[4]; /* guest-physical addresses of the entries, top level first */
	u8 low[4];   /* their low bytes (P, R/W, U/S, A, D) */
	unsigned n;
};

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

/* A 4- or 8-byte paging-structure entry at guest-physical addr (naturally aligned). */
static always_inline u64 pt_read(struct cpu *c, u64 addr, unsigned size)
{
	/* RAM is a multiple of 4 KiB and entries are aligned: an entry is wholly in or out. */
	if (likely(addr < c->ram_size)) {
		if (size == 8) {
			u64 v;
			memcpy(&v, c->ram + addr, 8);
			return v;
		}
		u32 v;
		memcpy(&v, c->ram + addr, 4);
		return v;
	}
	return c->mmio_read(c->opaque, addr, size) & size_mask(size);
}

/*
 * The levels of PAE and 4-level paging from `level` (4: PML4, 2: page directory) down, the table
 * at `table`. Levels 3 and 2 may map a page (PS = 1); a PML4E's PS is reserved.
 */
static always_inline void walk_levels(struct cpu *c, u64 lin, int acc, struct walk *w,
				      u64 table, unsigned level, u64 rsvd)
{
	u64 and = PTE_RW | PTE_US, or = 0;
	unsigned shift = 12 + 9 * (level - 1);

	for (;; level--, shift -= 9) {
		u64 addr = table + (((lin >> shift) & 511) << 3);
		u64 e = pt_read(c, addr, 8);
		if (!(e & PTE_P))
			page_fault(c, lin, acc, 0);
		bool leaf = level == 1 || (level <= 3 && (e & PTE_PS));
		u64 r = rsvd;
		if (level == 4)
			r |= RSVD_PML4E;
		else if (leaf && level == 3)
			r |= RSVD_1G;
		else if (leaf && level == 2)
			r |= RSVD_2M;
		if (e & r)
			page_fault(c, lin, acc, PFEC_P | PFEC_RSVD);
		and &= e;
		or |= e;
		w->addr[w->n] = addr;
		w->low[w->n++] = (u8)e;
		if (leaf) {
			u64 off = (1ull << shift) - 1;
			w->gpa = (e & PHYS_ADDR_MASK & ~off) | (lin & off);
			break;
		}
		table = e & PHYS_ADDR_MASK;
	}
	w->rights = and | (or & PTE_XD);
}

/* 4-level paging (SDM 4.5). */
static void walk_4level(struct cpu *c, u64 lin, int acc, struct walk *w)
{
	/* SDM 3.3.7.1: a non-canonical address faults before paging: #SS(0) through SS, else
	   #GP(0). */
	if (unlikely(!is_canonical(lin)))
		cpu_fault(c, acc & ACC_SS ? X86_SS : X86_GP, 0);
	walk_levels(c, lin, acc, w, c->cr3 & PHYS_ADDR_MASK, 4,
		    RSVD_4LEVEL | (c->efer & EFER_NXE ? 0 : PTE_XD));
}

/*
 * PAE paging (SDM 4.4). The four PDPTEs live in registers, loaded at MOV CR3 and at the CR0/CR4
 * writes that enter or change PAE paging, where reserved bits give #GP(0) (SDM 4.4.1; sys.c):
 * a guest that edits its PDPT sees the edit only after reloading CR3. The PDPTE has no R/W, U/S,
 * XD or accessed flag (SDM 4.4.1 Table 4-8).
 */
bool mmu_load_pdptes(struct cpu *c, u64 cr3)
{
	u64 e[4];

	for (unsigned i = 0; i < 4; i++) {
		e[i] = pt_read(c, (cr3 & GENMASK(31, 5)) + i * 8, 8);
		if ((e[i] & PTE_P) && (e[i] & RSVD_PAE_PDPTE))
			return false;
	}
	memcpy(c->pdpte, e, sizeof(e));
	return true;
}

static void walk_pae(struct cpu *c, u64 lin, int acc, struct walk *w)
{
	u64 pdpte = c->pdpte[(lin >> 30) & 3];

	if (!(pdpte & PTE_P))
		page_fault(c, lin, acc, 0);
	walk_levels(c, lin, acc, w, pdpte & PHYS_ADDR_MASK, 2,
		    RSVD_PAE | (c->efer & EFER_NXE ? 0 : PTE_XD));
}

/* 32-bit paging (SDM 4.3): no XD; the only reserved bit is in a 4 MiB PDE. */
static void walk_32(struct cpu *c, u64 lin, int acc, struct walk *w)
{
	u64 addr = (c->cr3 & GENMASK(31, 12)) + (((lin >> 22) & 1023) << 2);
	u64 pde = pt_read(c, addr, 4);

	if (!(pde & PTE_P))
		page_fault(c, lin, acc, 0);
	w->addr[0] = addr;
	w->low[0] = (u8)pde;
	w->n = 1;
	if ((pde & PTE_PS) && (c->cr4 & CR4_PSE)) {
		if (pde & RSVD_PSE_4M)
			page_fault(c, lin, acc, PFEC_P | PFEC_RSVD);
		/* PSE-36: PDE bits 20:13 are physical-address bits 39:32 (SDM 4.3 Table 4-4). */
		w->gpa = (pde & GENMASK(31, 22)) | ((pde & GENMASK(20, 13)) << 19) |
			 (lin & GENMASK(21, 0));
		w->rights = pde & (PTE_RW | PTE_US);
		return;
	}
	addr = (pde & GENMASK(31, 12)) + (((lin >> 12) & 1023) << 2);
	u64 pte = pt_read(c, addr, 4);
	if (!(pte & PTE_P))
		page_fault(c, lin, acc, 0);
	w->addr[1] = addr;
	w->low[1] = (u8)pte;
	w->n = 2;
	w->gpa = (pte & GENMASK(31, 12)) | (lin & 0xfff);
	w->rights = pde & pte & (PTE_RW | PTE_US);
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
	if ((acc & 3) == ACC_WRITE && e->tag_w == page)
		return e;
	return NULL;
}

/* Fill after a successful translation (the rules are at the top of this file). */
static void tlb_fill(struct cpu *c, u64 lin, int acc, u64 gpa, u64 rights, bool dirty)
{
	u64 page = lin & PAGE_MASK, gpage = gpa & PAGE_MASK;
	bool user = c->cpl == 3;

	if (gpage >= c->ram_size || (user && (acc & ACC_SYS)) ||
	    (!user && (rights & PTE_US) && (c->cr4 & CR4_SMAP)))
		return;
	/* A successful access of this privilege implies reads are allowed: user pages for CPL 3,
	   any page otherwise (SMAP excluded above). */
	bool writable = user ? rights & PTE_RW : (rights & PTE_RW) || !(c->cr0 & CR0_WP);
	struct tlb_entry *e = &c->tlbs[user][(lin >> 12) & (TLB_SIZE - 1)];
	e->tag_r = page;
	e->tag_w = writable && dirty && !bc_page_has_code(c, gpage) ? page : TLB_INVALID;
	e->host = (uintptr_t)c->ram + gpage - page;
	e->gpa = gpage;
}

/* Set flags in the low byte of a paging-structure entry in RAM (SDM 4.8). */
static void pt_set_flags(struct cpu *c, u64 addr, u8 low, u8 flags)
{
	if ((low & flags) == flags || addr >= c->ram_size)
		return;
	c->ram[addr] = low | flags;
	if (unlikely(bc_page_has_code(c, addr & PAGE_MASK)))
		bc_invalidate_phys(c, addr, 1);
}

u64 mmu_translate(struct cpu *c, u64 lin, int acc)
{
	struct tlb_entry *e = tlb_lookup(c, lin, acc);
	struct walk w;

	if (e)
		return e->gpa | (lin & 0xfff);
	if (!(c->cr0 & CR0_PG)) {
		/* No paging: the linear address is the physical address (SDM 4.1.1). */
		tlb_fill(c, lin, acc, lin, PTE_RW, true);
		return lin;
	}
	w.n = 0;
	if (!(c->cr4 & CR4_PAE))
		walk_32(c, lin, acc, &w);
	else if (c->efer & EFER_LMA)
		walk_4level(c, lin, acc, &w);
	else
		walk_pae(c, lin, acc, &w);
	if (!access_allowed(c, acc, w.rights))
		page_fault(c, lin, acc, PFEC_P);
	/*
	 * SDM 4.8: the accessed flag of every entry used, and for a write the dirty flag of the
	 * entry that maps the page. We set them only once the access is known to be allowed (as KVM
	 * and QEMU do): an access that faults leaves the paging structures unchanged.
	 */
	for (unsigned i = 0; i < w.n; i++)
		pt_set_flags(c, w.addr[i], w.low[i], PTE_A);
	bool write = (acc & 3) == ACC_WRITE;
	if (write)
		pt_set_flags(c, w.addr[w.n - 1], w.low[w.n - 1] | PTE_A, PTE_D);
	tlb_fill(c, lin, acc, w.gpa, w.rights, write || (w.low[w.n - 1] & PTE_D));
	return w.gpa;
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

/* `size` bytes within one page at guest-physical gpa (the host is little-endian like x86). */
static u64 phys_read(struct cpu *c, u64 gpa, unsigned size)
{
	if (likely(gpa < c->ram_size))
		return host_load(c->ram + gpa, size);
	return mmio_read_n(c, gpa, size);
}

/* A write that hits decoded code drops it afterwards (self-modifying code, SDM vol. 3A 11.6). */
static void phys_write(struct cpu *c, u64 gpa, u64 v, unsigned size)
{
	if (likely(gpa < c->ram_size)) {
		host_store(c->ram + gpa, v, size);
		if (bc_page_has_code(c, gpa & PAGE_MASK))
			bc_invalidate_phys(c, gpa, size);
		return;
	}
	mmio_write_n(c, gpa, v, size);
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
	if (unlikely(c->tlb == c->tlbs[2]) && !(acc & ACC_SYS) && !(size & (size - 1)) &&
	    (lin & (size - 1)))
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
	if (gpa >= c->ram_size ||
	    ((acc & 3) == ACC_WRITE && bc_page_has_code(c, gpa & PAGE_MASK)))
		return NULL;
	return c->ram + gpa;
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

/* --- Invalidation (SDM 4.10.4) --- */

/* Both TLBs, global pages included (CR4.PGE is not modelled: flushing more is allowed, SDM
   4.10.4.1), and the jump cache, which holds fetch translations. */
void tlb_flush_all(struct cpu *c)
{
	for (unsigned t = 0; t < 2; t++)
		for (unsigned i = 0; i < TLB_SIZE; i++)
			c->tlbs[t][i].tag_r = c->tlbs[t][i].tag_w = TLB_INVALID;
	bc_flush_jump_cache(c);
}

/*
 * INVLPG (SDM 4.10.4.1): every entry for the page of lin, which may be a large page whose 4 KiB
 * pieces sit in other slots. Entries do not remember the page size, so we drop every entry inside
 * the largest page the current paging mode can map around lin (4 MiB, 2 MiB or 1 GiB): the
 * processor "is always free to invalidate additional entries" (SDM 4.10.4.1). Without large pages
 * only lin's slot is dropped.
 */
void tlb_flush_page(struct cpu *c, u64 lin)
{
	unsigned shift = 12;

	if (c->cr0 & CR0_PG) {
		if (!(c->cr4 & CR4_PAE))
			shift = c->cr4 & CR4_PSE ? 22 : 12;
		else
			shift = c->efer & EFER_LMA ? 30 : 21;
	}
	if (shift == 12) {
		unsigned i = (lin >> 12) & (TLB_SIZE - 1);
		c->tlbs[0][i].tag_r = c->tlbs[0][i].tag_w = TLB_INVALID;
		c->tlbs[1][i].tag_r = c->tlbs[1][i].tag_w = TLB_INVALID;
	} else {
		for (unsigned t = 0; t < 2; t++)
			for (unsigned i = 0; i < TLB_SIZE; i++) {
				struct tlb_entry *e = &c->tlbs[t][i];
				if (!((e->tag_r ^ lin) >> shift) || !((e->tag_w ^ lin) >> shift))
					e->tag_r = e->tag_w = TLB_INVALID;
			}
	}
	bc_flush_jump_cache(c);
}
