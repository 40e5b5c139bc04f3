/* SPDX-License-Identifier: MIT */
/*
 * MMU tests (src/cpu/mmu.c): every paging mode with its page sizes, accessed/dirty flags, the #PF
 * error codes of SDM vol. 3A 4.7, page-crossing accesses, the TLB's fill and flush rules, MMIO
 * routing and the write probe. Page tables are built by hand in guest RAM; faults come back through
 * exec.c's cpu_fault, which longjmps to c->jb with the vector and error code in c->fault_*.
 */
#include <stdlib.h>

#include "check.h"
#include "cpu/internal.h"

#define RAM_SIZE (16ull << 20)
#define PT_BASE 0x100000ull /* page tables are allocated from here up */
#define MMIO_GPA 0xfee00000ull

#define P BIT(0)
#define RW BIT(1)
#define US BIT(2)
#define A BIT(5)
#define D BIT(6)
#define PS BIT(7)
#define XD BIT(63)
#define ALL (P | RW | US)
#define ADDR_MASK 0x000ffffffffff000ull

#define NONE (~0ull)
#define PF(err) ((u64)X86_PF_VEC << 32 | (err))
#define GP0 ((u64)X86_GP << 32)
#define SS0 ((u64)X86_SS << 32)

static u8 *ram;
static u64 pt_next;
static u64 ent[5]; /* addresses of the entries the last map call wrote, by level */

/* What the last TRY raised (vector << 32 | error), or NONE; and a value it produced. */
static volatile u64 got, val;
static void *volatile ptr;

#define TRY(c, stmt)                                                                             \
	do {                                                                                     \
		if (cpu_setjmp((c)->jb) == 0) {                                                      \
			stmt;                                                                    \
			got = NONE;                                                              \
		} else {                                                                         \
			got = (u64)(c)->fault_vector << 32 | (c)->fault_error;                   \
		}                                                                                \
	} while (0)

/* MMIO: reads of nothing above 4 GiB give all ones, below a fixed pattern; writes recorded. */
static struct {
	u64 gpa, value;
	unsigned size, writes;
} mmio;

static u64 t_mmio_read(void *opaque, u64 gpa, unsigned size)
{
	return gpa >= BIT(32) ? ~0ull : 0x1122334455667788ull;
}

static void t_mmio_write(void *opaque, u64 gpa, u64 value, unsigned size)
{
	mmio.gpa = gpa;
	mmio.value = value;
	mmio.size = size;
	mmio.writes++;
}

static u64 get64(u64 a)
{
	u64 v;
	memcpy(&v, ram + a, 8);
	return v;
}

static void put64(u64 a, u64 v)
{
	memcpy(ram + a, &v, 8);
}

static u32 get32(u64 a)
{
	u32 v;
	memcpy(&v, ram + a, 4);
	return v;
}

static void put32(u64 a, u32 v)
{
	memcpy(ram + a, &v, 4);
}

static u64 alloc_pt(void)
{
	u64 a = pt_next;
	pt_next += PAGE_SIZE;
	return a;
}

static void set_cpl(struct cpu *c, u8 cpl)
{
	c->cpl = cpl;
	c->tlb = c->tlbs[cpl == 3];
}

/* A CPU with fresh RAM, CPL 0 and an empty top-level table at CR3 (when paging is on). */
static struct cpu *cpu_new(u64 cr0, u64 cr4, u64 efer)
{
	struct cpu_config cfg = {
		.ram = ram,
		.ram_size = RAM_SIZE,
		.mmio_read = t_mmio_read,
		.mmio_write = t_mmio_write,
	};
	memset(ram, 0, RAM_SIZE);
	memset(&mmio, 0, sizeof(mmio));
	pt_next = PT_BASE;
	struct cpu *c = cpu_create(&cfg);
	if (!c)
		abort();
	c->cr0 = cr0 | CR0_PE;
	c->cr4 = cr4;
	c->efer = efer;
	c->lin_mask = efer & EFER_LMA ? ~0ull : 0xffffffffull;
	c->cr3 = alloc_pt();
	set_cpl(c, 0);
	return c;
}

/* 8-byte entries from level `top` at `table` down to a leaf at `level` (1: 4K, 2: 2M, 3: 1G).
   Upper entries get flags `up`, the leaf `leaf`. Returns the leaf entry's address. */
static u64 map_levels(u64 table, unsigned top, u64 lin, u64 gpa, unsigned level, u64 up, u64 leaf)
{
	for (unsigned l = top; l > level; l--) {
		u64 a = table + ((lin >> (12 + 9 * (l - 1))) & 511) * 8;
		u64 e = get64(a);
		u64 next = e & P ? e & ADDR_MASK : alloc_pt();
		put64(a, next | up);
		ent[l] = a;
		table = next;
	}
	u64 a = table + ((lin >> (12 + 9 * (level - 1))) & 511) * 8;
	put64(a, gpa | leaf | (level > 1 ? PS : 0));
	ent[level] = a;
	return a;
}

static u64 map4(struct cpu *c, u64 lin, u64 gpa, unsigned level, u64 up, u64 leaf)
{
	return map_levels(c->cr3, 4, lin, gpa, level, up, leaf);
}

/* PAE: CR3 is the PDPT (its 4 entries at the start of the page). A new PDPTE reaches the PDPTE
   registers as the guest's next MOV CR3 would load it (SDM 4.4.1). */
static u64 map_pae(struct cpu *c, u64 lin, u64 gpa, unsigned level, u64 up, u64 leaf)
{
	u64 a = c->cr3 + ((lin >> 30) & 3) * 8;
	u64 e = get64(a);
	u64 pd = e & P ? e & ADDR_MASK : alloc_pt();
	put64(a, pd | P);
	ent[3] = a;
	CHECK(mmu_load_pdptes(c, c->cr3));
	return map_levels(pd, 2, lin, gpa, level, up, leaf);
}

/* 32-bit paging: a 4 MiB PDE when large, else a PDE and a PTE. */
static u64 map32(struct cpu *c, u64 lin, u32 gpa, bool large, u32 up, u32 leaf)
{
	u64 a = c->cr3 + ((lin >> 22) & 1023) * 4;
	if (large) {
		put32(a, gpa | leaf | (u32)PS);
		ent[2] = a;
		return a;
	}
	u32 e = get32(a);
	u64 pt = e & P ? e & 0xfffff000u : alloc_pt();
	put32(a, (u32)pt | up);
	ent[2] = a;
	a = pt + ((lin >> 12) & 1023) * 4;
	put32(a, gpa | leaf);
	ent[1] = a;
	return a;
}

static struct tlb_entry *tlb_of(struct cpu *c, unsigned t, u64 lin)
{
	return &c->tlbs[t][(lin >> 12) & (TLB_SIZE - 1)];
}

static void test_no_paging(void)
{
	struct cpu *c = cpu_new(0, 0, 0);

	TRY(c, lin_write(c, 0x2010, 0xdeadbeef, 4));
	CHECK_EQ(got, NONE);
	CHECK_EQ(get32(0x2010), 0xdeadbeef);
	CHECK_EQ(tlb_of(c, 0, 0x2000)->tag_r, 0x2000);
	CHECK_EQ(tlb_of(c, 0, 0x2000)->tag_w, 0x2000);
	CHECK_EQ(tlb_of(c, 0, 0x2000)->gpa, 0x2000);
	CHECK_EQ(lin_read(c, 0x2010, 4), 0xdeadbeef);

	/* Beyond RAM: MMIO, never in the TLB. */
	TRY(c, val = lin_read(c, MMIO_GPA + 0x10, 4));
	CHECK_EQ(got, NONE);
	CHECK_EQ(val, 0x55667788);
	CHECK_EQ(tlb_of(c, 0, MMIO_GPA)->tag_r, TLB_INVALID);
	TRY(c, lin_write(c, MMIO_GPA + 0x20, 0xabcd1234, 2));
	CHECK_EQ(mmio.gpa, MMIO_GPA + 0x20);
	CHECK_EQ(mmio.value, 0x1234);
	CHECK_EQ(mmio.size, 2);

	/* The linear address wraps at 4 GiB: MMIO bytes at the top, RAM at 0. */
	ram[0] = 0x11;
	ram[1] = 0x22;
	TRY(c, val = lin_read(c, 0xfffffffe, 4));
	CHECK_EQ(got, NONE);
	CHECK_EQ(val, 0x22117788); /* the MMIO half is one 2-byte access */
	cpu_destroy(c);
}

static void test_32bit(void)
{
	struct cpu *c = cpu_new(CR0_PG, CR4_PSE, 0);

	/* 4 KiB page: A on PDE and PTE for a read, D on the PTE only for a write. */
	map32(c, 0x401000, 0x200000, false, ALL, ALL);
	put32(0x200010, 0xcafef00d);
	TRY(c, val = lin_read(c, 0x401010, 4));
	CHECK_EQ(got, NONE);
	CHECK_EQ(val, 0xcafef00d);
	CHECK_EQ(get32(ent[2]) & (A | D), A);
	CHECK_EQ(get32(ent[1]) & (A | D), A);
	CHECK_EQ(tlb_of(c, 0, 0x401000)->tag_r, 0x401000);
	CHECK_EQ(tlb_of(c, 0, 0x401000)->tag_w, TLB_INVALID); /* D still clear */
	TRY(c, lin_write(c, 0x401014, 0x12345678, 4));
	CHECK_EQ(got, NONE);
	CHECK_EQ(get32(0x200014), 0x12345678);
	CHECK_EQ(get32(ent[1]) & (A | D), A | D);
	CHECK_EQ(get32(ent[2]) & D, 0);
	CHECK_EQ(tlb_of(c, 0, 0x401000)->tag_w, 0x401000);

	/* 4 MiB page. */
	map32(c, 0x800000, 0x400000, true, 0, ALL);
	ram[0x412345] = 0x5a;
	TRY(c, val = lin_read(c, 0x812345, 1));
	CHECK_EQ(got, NONE);
	CHECK_EQ(val, 0x5a);
	CHECK_EQ(get32(ent[2]) & (A | D), A);
	TRY(c, lin_write(c, 0x812345, 0x77, 1));
	CHECK_EQ(get32(ent[2]) & (A | D), A | D);
	CHECK_EQ(ram[0x412345], 0x77);

	/* PSE-36: PDE bits 20:13 are physical-address bits 39:32. */
	map32(c, 0xc00000, 0x400000 | (0x81u << 13), true, 0, ALL);
	TRY(c, val = mmu_translate(c, 0xc00010, ACC_READ));
	CHECK_EQ(got, NONE);
	CHECK_EQ(val, 0x8100400010ull);
	TRY(c, val = lin_read(c, 0xc00010, 4)); /* above RAM: MMIO */
	CHECK_EQ(val, 0xffffffff);

	/* Bit 21 of a 4 MiB PDE is reserved. */
	map32(c, 0x1000000, 0x400000 | (1u << 21), true, 0, ALL);
	TRY(c, lin_read(c, 0x1000004, 4));
	CHECK_EQ(got, PF(PFEC_P | PFEC_RSVD));
	CHECK_EQ(c->fault_cr2, 0x1000004);

	/* CR4.PSE = 0: PS is ignored and the PDE points to a page table. */
	c->cr4 = 0;
	tlb_flush_all(c);
	u64 pt = alloc_pt();
	put32(c->cr3 + (0x1400000 >> 22) * 4, (u32)pt | (u32)(PS | ALL));
	put32(pt, 0x500000 | ALL);
	ram[0x500008] = 0x42;
	TRY(c, val = lin_read(c, 0x1400008, 1));
	CHECK_EQ(got, NONE);
	CHECK_EQ(val, 0x42);

	/* Not present: at the PDE and at the PTE; U/S and W/R describe the access. */
	TRY(c, lin_read(c, 0x2000000, 4));
	CHECK_EQ(got, PF(0));
	map32(c, 0x2400000, 0x600000, false, ALL, 0);
	set_cpl(c, 3);
	TRY(c, lin_write(c, 0x2400000, 1, 4));
	CHECK_EQ(got, PF(PFEC_W | PFEC_U));
	CHECK_EQ(c->fault_cr2, 0x2400000);

	/* I/D: with 32-bit paging only CR4.SMEP sets it, EFER.NXE does not (SDM 4.7). */
	c->efer = EFER_NXE;
	TRY(c, mmu_translate(c, 0x2400000, ACC_FETCH));
	CHECK_EQ(got, PF(PFEC_U));
	c->cr4 = CR4_SMEP;
	TRY(c, mmu_translate(c, 0x2400000, ACC_FETCH));
	CHECK_EQ(got, PF(PFEC_U | PFEC_I));
	cpu_destroy(c);
}

static void test_pae(void)
{
	struct cpu *c = cpu_new(CR0_PG, CR4_PAE, 0);

	/* 4 KiB page; the PDPTE has no accessed flag. */
	map_pae(c, 0x40201000, 0x600000, 1, ALL, ALL);
	u64 pdpte = get64(ent[3]);
	put64(0x600100, 0x0123456789abcdefull);
	TRY(c, val = lin_read(c, 0x40201100, 8));
	CHECK_EQ(got, NONE);
	CHECK_EQ(val, 0x0123456789abcdefull);
	CHECK_EQ(get64(ent[3]), pdpte);
	CHECK_EQ(get64(ent[2]) & (A | D), A);
	CHECK_EQ(get64(ent[1]) & (A | D), A);

	/* 2 MiB page. */
	map_pae(c, 0x80200000, 0x800000, 2, ALL, ALL);
	ram[0x812345] = 0x99;
	TRY(c, val = lin_read(c, 0x80212345, 1));
	CHECK_EQ(val, 0x99);
	TRY(c, lin_write(c, 0x80212345, 0x98, 1));
	CHECK_EQ(got, NONE);
	CHECK_EQ(get64(ent[2]) & (A | D), A | D);

	/* XD is reserved while EFER.NXE = 0. */
	map_pae(c, 0x40202000, 0x601000, 1, ALL, ALL | XD);
	TRY(c, lin_read(c, 0x40202000, 4));
	CHECK_EQ(got, PF(PFEC_P | PFEC_RSVD));

	/* With NXE: data accesses pass, a fetch faults with I/D. */
	c->efer = EFER_NXE;
	tlb_flush_all(c);
	TRY(c, lin_read(c, 0x40202000, 4));
	CHECK_EQ(got, NONE);
	TRY(c, mmu_translate(c, 0x40202000, ACC_FETCH));
	CHECK_EQ(got, PF(PFEC_P | PFEC_I));
	CHECK_EQ(c->fault_cr2, 0x40202000);
	TRY(c, mmu_translate(c, 0x40300000, ACC_FETCH));
	CHECK_EQ(got, PF(PFEC_I));
	c->efer = 0;
	TRY(c, mmu_translate(c, 0x40300000, ACC_FETCH));
	CHECK_EQ(got, PF(0));

	/* Reserved: PTE bits 62:MAXPHYADDR; 2 MiB PDE bits 20:13. */
	map_pae(c, 0x40203000, 0x602000 | BIT(45), 1, ALL, ALL);
	TRY(c, lin_read(c, 0x40203000, 4));
	CHECK_EQ(got, PF(PFEC_P | PFEC_RSVD));
	map_pae(c, 0x80400000, 0xa00000 | BIT(13), 2, ALL, ALL);
	TRY(c, lin_write(c, 0x80400000, 0, 4));
	CHECK_EQ(got, PF(PFEC_P | PFEC_RSVD | PFEC_W));

	/* PDPTEs are registers: not present faults; a reserved bit (RW, bit 1) refuses the load and
	   leaves the registers as they were; an edit of the PDPT is seen only after a reload. */
	TRY(c, lin_read(c, 0xc0000000, 4));
	CHECK_EQ(got, PF(0));
	u64 pd3 = alloc_pt();
	put64(c->cr3 + 3 * 8, pd3 | P | RW);
	CHECK(!mmu_load_pdptes(c, c->cr3));
	CHECK_EQ(c->pdpte[3], 0);
	put64(c->cr3 + 3 * 8, pd3 | P);
	map_levels(pd3, 2, 0xc0000000, 0x603000, 1, ALL, ALL);
	put64(0x603000, 0x5a5a5a5a);
	TRY(c, lin_read(c, 0xc0000000, 4));
	CHECK_EQ(got, PF(0)); /* the PDPTE register is still the old, not-present one */
	CHECK(mmu_load_pdptes(c, c->cr3));
	CHECK_EQ(c->pdpte[3], pd3 | P);
	TRY(c, val = lin_read(c, 0xc0000000, 4));
	CHECK_EQ(got, NONE);
	CHECK_EQ(val, 0x5a5a5a5a);
	cpu_destroy(c);
}

static void test_4level(void)
{
	struct cpu *c = cpu_new(CR0_PG, CR4_PAE, EFER_LME | EFER_LMA);

	/* 4 KiB page: A on all four entries, D on the PTE only. */
	map4(c, 0x00007f0000001000, 0x600000, 1, ALL, ALL);
	put64(0x600008, 0x1111222233334444ull);
	TRY(c, val = lin_read(c, 0x00007f0000001008, 8));
	CHECK_EQ(got, NONE);
	CHECK_EQ(val, 0x1111222233334444ull);
	for (unsigned l = 1; l <= 4; l++)
		CHECK_EQ(get64(ent[l]) & (A | D), A);
	TRY(c, lin_write(c, 0x00007f0000001008, 5, 8));
	CHECK_EQ(got, NONE);
	CHECK_EQ(get64(ent[1]) & (A | D), A | D);
	for (unsigned l = 2; l <= 4; l++)
		CHECK_EQ(get64(ent[l]) & D, 0);

	/* 2 MiB and 1 GiB pages; the D flag goes to the entry that maps the page. */
	map4(c, 0x40200000, 0x800000, 2, ALL, ALL);
	ram[0x8abcde] = 0x3c;
	TRY(c, val = lin_read(c, 0x402abcde, 1));
	CHECK_EQ(val, 0x3c);
	map4(c, 0x0000008040000000, 0, 3, ALL, ALL);
	ram[0x1234] = 0xc3;
	TRY(c, val = lin_read(c, 0x0000008040001234, 1));
	CHECK_EQ(got, NONE);
	CHECK_EQ(val, 0xc3);
	TRY(c, lin_write(c, 0x0000008040001234, 0xc4, 1));
	CHECK_EQ(get64(ent[3]) & (A | D), A | D);
	CHECK_EQ(get64(ent[4]) & D, 0);
	CHECK_EQ(ram[0x1234], 0xc4);

	/* The upper half. */
	map4(c, 0xffff800000003000, 0x700000, 1, ALL, P | RW);
	put32(0x700000, 0x600d);
	TRY(c, val = lin_read(c, 0xffff800000003000, 4));
	CHECK_EQ(got, NONE);
	CHECK_EQ(val, 0x600d);

	/* Non-canonical: #GP(0), no #PF. */
	TRY(c, lin_read(c, 0x0000800000000000, 4));
	CHECK_EQ(got, GP0);
	TRY(c, lin_write(c, 0xffff7ffffffff000, 0, 4));
	CHECK_EQ(got, GP0);

	/* Reserved bits. */
	put64(c->cr3 + 5 * 8, alloc_pt() | ALL | PS); /* PS in a PML4E */
	TRY(c, lin_read(c, 5ull << 39, 4));
	CHECK_EQ(got, PF(PFEC_P | PFEC_RSVD));
	map4(c, 6ull << 39, 0x40000000 | BIT(13), 3, ALL, ALL); /* 1 GiB: 29:13 */
	TRY(c, lin_read(c, 6ull << 39, 4));
	CHECK_EQ(got, PF(PFEC_P | PFEC_RSVD));
	map4(c, 0x40400000, 0xa00000 | BIT(20), 2, ALL, ALL); /* 2 MiB: 20:13 */
	TRY(c, lin_read(c, 0x40400000, 4));
	CHECK_EQ(got, PF(PFEC_P | PFEC_RSVD));
	map4(c, 0x5000, 0x605000 | BIT(51), 1, ALL, ALL); /* 51:MAXPHYADDR */
	set_cpl(c, 3);
	TRY(c, lin_read(c, 0x5000, 4));
	CHECK_EQ(got, PF(PFEC_P | PFEC_RSVD | PFEC_U));
	set_cpl(c, 0);
	map4(c, 0x6000, 0x606000 | BIT(40), 1, ALL, ALL);
	TRY(c, lin_read(c, 0x6000, 4));
	CHECK_EQ(got, PF(PFEC_P | PFEC_RSVD));
	map4(c, 0x7000, 0x607000 | BIT(39), 1, ALL, ALL); /* bit 39 is an address bit */
	TRY(c, val = mmu_translate(c, 0x7000, ACC_READ));
	CHECK_EQ(got, NONE);
	CHECK_EQ(val, 0x8000607000ull);
	map4(c, 7ull << 39, 0x608000, 1, ALL | XD, ALL); /* XD in the PML4E, NXE = 0 */
	TRY(c, lin_read(c, 7ull << 39, 4));
	CHECK_EQ(got, PF(PFEC_P | PFEC_RSVD));
	/* The fault happens at the level where the entry sets it: a not-present PTE below is not
	   reached. */
	map4(c, 8ull << 39, 0x609000, 1, ALL | BIT(45), 0);
	TRY(c, lin_read(c, 8ull << 39, 4));
	CHECK_EQ(got, PF(PFEC_P | PFEC_RSVD));

	/* A page table outside RAM reads as MMIO (all ones here): reserved bits set. */
	put64(c->cr3 + 9 * 8, 0x100000000ull | ALL);
	TRY(c, lin_read(c, 9ull << 39, 4));
	CHECK_EQ(got, PF(PFEC_P | PFEC_RSVD));
	cpu_destroy(c);
}

/* Access rights (SDM 4.6) and the error codes of the faults (SDM 4.7), 4-level paging. */
static void test_rights(void)
{
	struct cpu *c = cpu_new(CR0_PG, CR4_PAE, EFER_LME | EFER_LMA | EFER_NXE);
	const u64 s_rw = 0x1000, s_ro = 0x2000, u_rw = 0x3000, u_ro = 0x4000, u_nx = 0x5000,
		  s_nx = 0x6000, none = 0x7000, s_fresh = 0x8000;
	const u64 up_ro = 1ull << 39, up_sup = 2ull << 39;

	map4(c, s_rw, 0x601000, 1, ALL, P | RW);
	map4(c, s_ro, 0x602000, 1, ALL, P);
	map4(c, u_rw, 0x603000, 1, ALL, ALL);
	map4(c, u_ro, 0x604000, 1, ALL, P | US);
	map4(c, u_nx, 0x605000, 1, ALL, ALL | XD);
	map4(c, s_nx, 0x606000, 1, ALL, P | RW | XD);
	u64 fresh_pte = map4(c, s_fresh, 0x608000, 1, ALL, P);
	map4(c, up_ro, 0x609000, 1, P | US, ALL);  /* R/W = 0 above a writable PTE */
	map4(c, up_sup, 0x60a000, 1, P | RW, ALL); /* U/S = 0 above a user PTE */

	/* Supervisor. */
	TRY(c, lin_read(c, s_rw, 4));
	CHECK_EQ(got, NONE);
	TRY(c, lin_write(c, s_ro, 1, 4)); /* CR0.WP = 0 */
	CHECK_EQ(got, NONE);
	c->cr0 |= CR0_WP;
	tlb_flush_all(c);
	TRY(c, lin_write(c, s_ro, 1, 4));
	CHECK_EQ(got, PF(PFEC_P | PFEC_W));
	CHECK_EQ(c->fault_cr2, s_ro);
	TRY(c, lin_write(c, up_ro, 1, 4));
	CHECK_EQ(got, PF(PFEC_P | PFEC_W));
	TRY(c, lin_read(c, up_ro, 4));
	CHECK_EQ(got, NONE);
	TRY(c, lin_write(c, u_ro, 1, 4));
	CHECK_EQ(got, PF(PFEC_P | PFEC_W));
	TRY(c, mmu_translate(c, s_nx, ACC_FETCH));
	CHECK_EQ(got, PF(PFEC_P | PFEC_I));
	TRY(c, mmu_translate(c, s_rw, ACC_FETCH));
	CHECK_EQ(got, NONE);
	TRY(c, mmu_translate(c, u_rw, ACC_FETCH)); /* SMEP off */
	CHECK_EQ(got, NONE);
	TRY(c, lin_read(c, none, 4));
	CHECK_EQ(got, PF(0));
	TRY(c, lin_write(c, none, 0, 4));
	CHECK_EQ(got, PF(PFEC_W));

	/* SMEP. */
	c->cr4 |= CR4_SMEP;
	tlb_flush_all(c);
	TRY(c, mmu_translate(c, u_rw, ACC_FETCH));
	CHECK_EQ(got, PF(PFEC_P | PFEC_I));
	TRY(c, lin_read(c, u_rw, 4));
	CHECK_EQ(got, NONE);
	c->cr4 &= ~CR4_SMEP;

	/* SMAP: explicit accesses with AC = 1 pass; AC = 0 and implicit accesses fault. */
	c->cr4 |= CR4_SMAP;
	tlb_flush_all(c);
	TRY(c, lin_read(c, u_rw, 4));
	CHECK_EQ(got, PF(PFEC_P));
	TRY(c, lin_write(c, u_rw, 0, 4));
	CHECK_EQ(got, PF(PFEC_P | PFEC_W));
	c->rflags |= X86_AC;
	TRY(c, lin_read(c, u_rw, 4));
	CHECK_EQ(got, NONE);
	TRY(c, lin_write(c, u_rw, 0, 4));
	CHECK_EQ(got, NONE);
	TRY(c, mmu_read_slow(c, u_rw, 4, ACC_READ | ACC_SYS));
	CHECK_EQ(got, PF(PFEC_P));
	TRY(c, mmu_write_slow(c, u_rw, 0, 4, ACC_WRITE | ACC_SYS));
	CHECK_EQ(got, PF(PFEC_P | PFEC_W));
	TRY(c, lin_read(c, s_rw, 4)); /* supervisor pages are unaffected */
	CHECK_EQ(got, NONE);
	TRY(c, mmu_translate(c, u_rw, ACC_FETCH)); /* SMAP is for data only */
	CHECK_EQ(got, NONE);
	c->rflags &= ~X86_AC;
	c->cr4 &= ~CR4_SMAP;

	/* User. */
	set_cpl(c, 3);
	TRY(c, lin_read(c, s_rw, 4));
	CHECK_EQ(got, PF(PFEC_P | PFEC_U));
	TRY(c, lin_read(c, up_sup, 4));
	CHECK_EQ(got, PF(PFEC_P | PFEC_U));
	TRY(c, lin_read(c, u_rw, 4));
	CHECK_EQ(got, NONE);
	TRY(c, lin_write(c, u_ro, 0, 4));
	CHECK_EQ(got, PF(PFEC_P | PFEC_W | PFEC_U));
	c->cr0 &= ~CR0_WP; /* user writes need R/W at every level whatever CR0.WP */
	tlb_flush_all(c);
	TRY(c, lin_write(c, up_ro, 0, 4));
	CHECK_EQ(got, PF(PFEC_P | PFEC_W | PFEC_U));
	c->cr0 |= CR0_WP;
	TRY(c, lin_write(c, u_rw, 0, 4));
	CHECK_EQ(got, NONE);
	TRY(c, mmu_translate(c, u_nx, ACC_FETCH));
	CHECK_EQ(got, PF(PFEC_P | PFEC_U | PFEC_I));
	TRY(c, mmu_translate(c, s_rw, ACC_FETCH));
	CHECK_EQ(got, PF(PFEC_P | PFEC_U | PFEC_I));
	TRY(c, mmu_translate(c, u_rw, ACC_FETCH));
	CHECK_EQ(got, NONE);
	TRY(c, lin_write(c, none, 0, 4));
	CHECK_EQ(got, PF(PFEC_W | PFEC_U));
	TRY(c, mmu_translate(c, none, ACC_FETCH));
	CHECK_EQ(got, PF(PFEC_U | PFEC_I));

	/* Implicit supervisor accesses at CPL 3: supervisor rights, U/S = 0 in the error code. */
	tlb_flush_all(c);
	TRY(c, val = mmu_read_slow(c, s_rw, 4, ACC_READ | ACC_SYS));
	CHECK_EQ(got, NONE);
	CHECK_EQ(tlb_of(c, 1, s_rw)->tag_r, TLB_INVALID); /* never in the user TLB */
	CHECK_EQ(tlb_of(c, 0, s_rw)->tag_r, TLB_INVALID);
	TRY(c, mmu_read_slow(c, none, 4, ACC_READ | ACC_SYS));
	CHECK_EQ(got, PF(0));
	TRY(c, mmu_write_slow(c, s_ro, 0, 4, ACC_WRITE | ACC_SYS));
	CHECK_EQ(got, PF(PFEC_P | PFEC_W));
	c->cr4 |= CR4_SMAP;
	c->rflags |= X86_AC;
	TRY(c, mmu_read_slow(c, u_rw, 4, ACC_READ | ACC_SYS));
	CHECK_EQ(got, PF(PFEC_P));
	c->rflags &= ~X86_AC;
	c->cr4 &= ~CR4_SMAP;

	/* A faulting access sets no accessed flag. */
	TRY(c, lin_read(c, s_fresh, 4));
	CHECK_EQ(got, PF(PFEC_P | PFEC_U));
	CHECK_EQ(get64(fresh_pte) & A, 0);
	set_cpl(c, 0);
	TRY(c, lin_read(c, s_fresh, 4));
	CHECK_EQ(got, NONE);
	CHECK_EQ(get64(fresh_pte) & A, A);
	cpu_destroy(c);
}

/* Page-crossing accesses: both pages are translated before either is touched. */
static void test_crossing(void)
{
	struct cpu *c = cpu_new(CR0_PG | CR0_WP, CR4_PAE, EFER_LME | EFER_LMA);

	map4(c, 0x10000, 0x300000, 1, ALL, ALL);
	map4(c, 0x11000, 0x305000, 1, ALL, ALL); /* not contiguous in RAM */
	map4(c, 0x14000, 0x306000, 1, ALL, ALL);
	map4(c, 0x15000, 0x307000, 1, ALL, P | US); /* read-only */

	TRY(c, lin_write(c, 0x10ffc, 0x1122334455667788ull, 8));
	CHECK_EQ(got, NONE);
	CHECK_EQ(get32(0x300ffc), 0x55667788);
	CHECK_EQ(get32(0x305000), 0x11223344);
	TRY(c, val = lin_read(c, 0x10ffc, 8));
	CHECK_EQ(val, 0x1122334455667788ull);
	TRY(c, val = lin_read(c, 0x10fff, 2));
	CHECK_EQ(val, 0x4455);
	CHECK(mmu_ptr(c, 0x10ffc, 8, ACC_READ) == NULL);

	/* Second page not present. */
	put32(0x305ffc, 0xa1a2a3a4);
	TRY(c, lin_read(c, 0x11ffe, 4));
	CHECK_EQ(got, PF(0));
	CHECK_EQ(c->fault_cr2, 0x12000);
	TRY(c, lin_write(c, 0x11ffc, ~0ull, 8));
	CHECK_EQ(got, PF(PFEC_W));
	CHECK_EQ(c->fault_cr2, 0x12000);
	CHECK_EQ(get32(0x305ffc), 0xa1a2a3a4);

	/* Second page read-only. */
	put32(0x306ffc, 0xb1b2b3b4);
	TRY(c, lin_write(c, 0x14ffe, 0, 4));
	CHECK_EQ(got, PF(PFEC_P | PFEC_W));
	CHECK_EQ(c->fault_cr2, 0x15000);
	CHECK_EQ(get32(0x306ffc), 0xb1b2b3b4);
	TRY(c, val = lin_read(c, 0x14ffe, 4));
	CHECK_EQ(got, NONE);
	CHECK_EQ(val, get32(0x306ffc) >> 16 | (u64)(get32(0x307000) & 0xffff) << 16);

	/* Crossing into MMIO: a part of 3, 5, 6 or 7 bytes goes to the device byte by byte. */
	map4(c, 0x17000, 0x308000, 1, ALL, ALL);
	map4(c, 0x18000, MMIO_GPA, 1, ALL, ALL);
	TRY(c, lin_write(c, 0x17ffd, 0x8877665544332211ull, 8));
	CHECK_EQ(got, NONE);
	CHECK_EQ(get32(0x308ffc) >> 8, 0x332211);
	CHECK_EQ(mmio.writes, 5);
	CHECK_EQ(mmio.gpa, MMIO_GPA + 4);
	CHECK_EQ(mmio.value, 0x88);
	CHECK_EQ(mmio.size, 1);
	TRY(c, val = lin_read(c, 0x17ffd, 8));
	CHECK_EQ(val, 0x8888888888332211ull);
	TRY(c, val = lin_read(c, 0x17ffe, 4));
	CHECK_EQ(val, 0x77883322); /* a 2-byte MMIO part is one access */
	cpu_destroy(c);
}

static void test_tlb(void)
{
	struct cpu *c = cpu_new(CR0_PG | CR0_WP, CR4_PAE, EFER_LME | EFER_LMA);

	map4(c, 0x20000, 0x310000, 1, ALL, ALL);
	map4(c, 0x21000, 0x311000, 1, ALL, ALL | D);
	map4(c, 0x22000, 0x312000, 1, ALL, P | D); /* supervisor read-only, dirty */
	map4(c, 0x23000, 0x313000, 1, ALL, ALL | D);

	/* tag_w only once the dirty flag is set. */
	TRY(c, lin_read(c, 0x20000, 4));
	struct tlb_entry *e = tlb_of(c, 0, 0x20000);
	CHECK_EQ(e->tag_r, 0x20000);
	CHECK_EQ(e->tag_w, TLB_INVALID);
	CHECK_EQ(e->gpa, 0x310000);
	CHECK((u8 *)(e->host + 0x20010) == ram + 0x310010);
	TRY(c, lin_write(c, 0x20000, 0xaaaa, 4));
	CHECK_EQ(e->tag_w, 0x20000);
	TRY(c, lin_read(c, 0x21000, 4));
	CHECK_EQ(tlb_of(c, 0, 0x21000)->tag_w, 0x21000);

	/* CR0.WP decides whether a supervisor TLB entry of a read-only page may write. */
	TRY(c, lin_read(c, 0x22000, 4));
	CHECK_EQ(tlb_of(c, 0, 0x22000)->tag_r, 0x22000);
	CHECK_EQ(tlb_of(c, 0, 0x22000)->tag_w, TLB_INVALID);
	c->cr0 &= ~CR0_WP;
	tlb_flush_all(c);
	TRY(c, lin_read(c, 0x22000, 4));
	CHECK_EQ(tlb_of(c, 0, 0x22000)->tag_w, 0x22000);
	c->cr0 |= CR0_WP;
	tlb_flush_all(c);

	/* CPL 3 fills the user TLB only. */
	set_cpl(c, 3);
	TRY(c, lin_read(c, 0x23000, 4));
	CHECK_EQ(got, NONE);
	CHECK_EQ(tlb_of(c, 1, 0x23000)->tag_r, 0x23000);
	CHECK_EQ(tlb_of(c, 1, 0x23000)->tag_w, 0x23000);
	CHECK_EQ(tlb_of(c, 0, 0x23000)->tag_r, TLB_INVALID);
	set_cpl(c, 0);

	/* No supervisor entry for a user page while SMAP is on, even when the access passes. */
	c->cr4 |= CR4_SMAP;
	c->rflags |= X86_AC;
	TRY(c, lin_read(c, 0x23000, 4));
	CHECK_EQ(got, NONE);
	CHECK_EQ(tlb_of(c, 0, 0x23000)->tag_r, TLB_INVALID);
	c->rflags &= ~X86_AC;
	TRY(c, lin_read(c, 0x23000, 4)); /* so the next access with AC = 0 still faults */
	CHECK_EQ(got, PF(PFEC_P));
	c->cr4 &= ~CR4_SMAP;

	/* A stale entry is used until INVLPG (SDM 4.10.4), in both TLBs. */
	put32(0x310000, 0xaaaa);
	put32(0x314000, 0xbbbb);
	TRY(c, lin_read(c, 0x20000, 4));
	set_cpl(c, 3);
	TRY(c, lin_read(c, 0x20000, 4));
	set_cpl(c, 0);
	map4(c, 0x20000, 0x314000, 1, ALL, ALL);
	TRY(c, val = lin_read(c, 0x20000, 4));
	CHECK_EQ(val, 0xaaaa);
	TRY(c, val = mmu_translate(c, 0x20000, ACC_READ));
	CHECK_EQ(val, 0x310000);
	tlb_flush_page(c, 0x20000);
	CHECK_EQ(tlb_of(c, 0, 0x20000)->tag_r, TLB_INVALID);
	CHECK_EQ(tlb_of(c, 1, 0x20000)->tag_r, TLB_INVALID);
	TRY(c, val = lin_read(c, 0x20000, 4));
	CHECK_EQ(val, 0xbbbb);

	/* INVLPG of one 4 KiB piece of a 2 MiB page drops the other pieces too. */
	map4(c, 0x40200000, 0x800000, 2, ALL, ALL);
	put32(0x800000, 1);
	put32(0x801000, 2);
	put32(0xa00000, 3);
	put32(0xa01000, 4);
	TRY(c, lin_read(c, 0x21000, 4));
	TRY(c, val = lin_read(c, 0x40200000, 4));
	CHECK_EQ(val, 1);
	TRY(c, val = lin_read(c, 0x40201000, 4));
	CHECK_EQ(val, 2);
	map4(c, 0x40200000, 0xa00000, 2, ALL, ALL);
	TRY(c, val = lin_read(c, 0x40201000, 4));
	CHECK_EQ(val, 2); /* stale */
	tlb_flush_page(c, 0x40200000);
	TRY(c, val = lin_read(c, 0x40201000, 4));
	CHECK_EQ(val, 4);
	TRY(c, val = lin_read(c, 0x40200000, 4));
	CHECK_EQ(val, 3);
	CHECK_EQ(tlb_of(c, 0, 0x21000)->tag_r, 0x21000); /* another 1 GiB region: kept */

	/* MOV CR3 and friends: both TLBs empty. */
	tlb_flush_all(c);
	bool empty = true;
	for (unsigned t = 0; t < 2; t++)
		for (unsigned i = 0; i < TLB_SIZE; i++)
			empty &= c->tlbs[t][i].tag_r == TLB_INVALID &&
				 c->tlbs[t][i].tag_w == TLB_INVALID;
	CHECK(empty);
	cpu_destroy(c);

	/* Without large pages (32-bit paging, CR4.PSE = 0) INVLPG drops only its slot. */

	c = cpu_new(CR0_PG, 0, 0);
	map32(c, 0x1000, 0x301000, false, ALL, ALL);
	map32(c, 0x2000, 0x302000, false, ALL, ALL);
	TRY(c, lin_read(c, 0x1000, 4));
	TRY(c, lin_read(c, 0x2000, 4));
	tlb_flush_page(c, 0x1000);
	CHECK_EQ(tlb_of(c, 0, 0x1000)->tag_r, TLB_INVALID);
	CHECK_EQ(tlb_of(c, 0, 0x2000)->tag_r, 0x2000);
	cpu_destroy(c);
}

/* MOV CR3 without PCIDs keeps global translations (G with CR4.PGE = 1) and drops the rest
   (SDM 4.10.4.1); G without CR4.PGE is no global page; the other flushes drop everything. */
static void test_global(void)
{
	struct cpu *c = cpu_new(CR0_PG | CR0_WP, CR4_PAE | CR4_PGE, EFER_LME | EFER_LMA);

	map4(c, 0x20000, 0x310000, 1, ALL, ALL | D | PTE_G);
	map4(c, 0x21000, 0x311000, 1, ALL, ALL | D);
	map4(c, 0x40200000, 0x800000, 2, ALL, ALL | D | PTE_G); /* a global 2 MiB page */
	put32(0x310000, 1);
	put32(0x311000, 2);
	put32(0x800000, 3);
	put32(0x312000, 11);
	put32(0x313000, 12);
	put32(0xa00000, 13);
	TRY(c, val = lin_read(c, 0x20000, 4));
	CHECK_EQ(val, 1);
	TRY(c, val = lin_read(c, 0x21000, 4));
	CHECK_EQ(val, 2);
	TRY(c, val = lin_read(c, 0x40200000, 4));
	CHECK_EQ(val, 3);
	CHECK(tlb_is_global(c, 0x20000));
	CHECK(!tlb_is_global(c, 0x21000));
	map4(c, 0x20000, 0x312000, 1, ALL, ALL | D | PTE_G);
	map4(c, 0x21000, 0x313000, 1, ALL, ALL | D);
	map4(c, 0x40200000, 0xa00000, 2, ALL, ALL | D | PTE_G);
	tlb_flush_nonglobal(c);
	TRY(c, val = lin_read(c, 0x20000, 4));
	CHECK_EQ(val, 1); /* global: the old translation */
	TRY(c, val = lin_read(c, 0x40200000, 4));
	CHECK_EQ(val, 3);
	TRY(c, val = lin_read(c, 0x21000, 4));
	CHECK_EQ(val, 12); /* walked again */
	/* CR4.PGE's own flush (and every other) drops global translations too. */
	tlb_flush_all(c);
	TRY(c, val = lin_read(c, 0x20000, 4));
	CHECK_EQ(val, 11);
	TRY(c, val = lin_read(c, 0x40200000, 4));
	CHECK_EQ(val, 13);

	/* G without CR4.PGE: not global. */
	c->cr4 &= ~CR4_PGE;
	tlb_flush_all(c);
	TRY(c, lin_read(c, 0x20000, 4));
	CHECK(!tlb_is_global(c, 0x20000));
	map4(c, 0x20000, 0x310000, 1, ALL, ALL | D | PTE_G);
	tlb_flush_nonglobal(c);
	TRY(c, val = lin_read(c, 0x20000, 4));
	CHECK_EQ(val, 1);

	/* More slots filled than the flush tracks: the whole TLB is scanned, globals kept. */
	c->cr4 |= CR4_PGE;
	for (volatile unsigned i = 0; i < 2 * TLB_SIZE / 4; i++) {
		u64 lin = 0x1000000 + (u64)i * 0x1000;
		map4(c, lin, 0x400000 + (u64)(i % 64) * 0x1000, 1, ALL, ALL | D | (i % 2 ? PTE_G : 0));
		TRY(c, lin_read(c, lin, 4));
	}
	CHECK(c->tlb_nfilled > TLB_TRACK);
	tlb_flush_nonglobal(c);
	unsigned globals = 0, others = 0;
	for (unsigned i = 0; i < 2 * TLB_SIZE / 4; i++) {
		struct tlb_entry *e = tlb_of(c, 0, 0x1000000 + (u64)i * 0x1000);
		if (e->tag_r == 0x1000000 + (u64)i * 0x1000) {
			if (i % 2)
				globals++;
			else
				others++;
		}
	}
	CHECK_EQ(globals, TLB_SIZE / 4);
	CHECK_EQ(others, 0);
	CHECK_EQ(c->tlb_nfilled, TLB_SIZE / 4); /* 0x20000 was not global: gone too */
	cpu_destroy(c);
}

static void test_mmio_and_ptr(void)
{
	struct cpu *c = cpu_new(CR0_PG | CR0_WP, CR4_PAE, EFER_LME | EFER_LMA);

	map4(c, 0x24000, MMIO_GPA, 1, ALL, ALL);
	map4(c, 0x25000, 0x315000, 1, ALL, ALL);
	map4(c, 0x26000, 0x316000, 1, ALL, P);

	TRY(c, val = lin_read(c, 0x24008, 8));
	CHECK_EQ(got, NONE);
	CHECK_EQ(val, 0x1122334455667788ull);
	CHECK_EQ(tlb_of(c, 0, 0x24000)->tag_r, TLB_INVALID);
	TRY(c, lin_write(c, 0x24010, 0xfeedface, 4));
	CHECK_EQ(mmio.writes, 1);
	CHECK_EQ(mmio.gpa, MMIO_GPA + 0x10);
	CHECK_EQ(mmio.value, 0xfeedface);
	CHECK_EQ(mmio.size, 4);
	CHECK_EQ(tlb_of(c, 0, 0x24000)->tag_w, TLB_INVALID);

	/* mmu_ptr: RAM within one page; NULL for MMIO and page-crossing; faults as the access. */
	TRY(c, ptr = mmu_ptr(c, 0x25010, 8, ACC_WRITE));
	CHECK_EQ(got, NONE);
	CHECK(ptr == ram + 0x315010);
	CHECK(mmu_ptr(c, 0x25010, 8, ACC_READ) == ram + 0x315010);
	CHECK(mmu_ptr(c, 0x24000, 4, ACC_READ) == NULL);
	CHECK(mmu_ptr(c, 0x25ffc, 8, ACC_READ) == NULL);
	CHECK(mmu_ptr(c, 0x26000, 4, ACC_READ) == ram + 0x316000);
	TRY(c, mmu_ptr(c, 0x26000, 4, ACC_WRITE));
	CHECK_EQ(got, PF(PFEC_P | PFEC_W));
	TRY(c, mmu_ptr(c, 0x27000, 4, ACC_READ));
	CHECK_EQ(got, PF(0));
	cpu_destroy(c);
}

static void test_probe(void)
{
	struct cpu *c = cpu_new(CR0_PG | CR0_WP, CR4_PAE, EFER_LME | EFER_LMA);

	u64 leaf0 = map4(c, 0x30000, 0x320000, 1, ALL, ALL);
	u64 leaf = map4(c, 0x31000, 0x321000, 1, ALL, P | US);
	put32(0x320ffc, 0x5555aaaa);

	TRY(c, mem_probe_write(c, SEG_DS, 0x30ff8, 4));
	CHECK_EQ(got, NONE);
	CHECK_EQ(get64(leaf0) & D, D); /* the write's translation is done */
	TRY(c, mem_probe_write(c, SEG_DS, 0x30ffe, 4));
	CHECK_EQ(got, PF(PFEC_P | PFEC_W));
	CHECK_EQ(c->fault_cr2, 0x31000);
	CHECK_EQ(get32(0x320ffc), 0x5555aaaa);
	CHECK_EQ(get64(leaf) & D, 0);

	/* Non-canonical: #SS(0) through SS, #GP(0) otherwise; the last byte counts too. */
	TRY(c, mem_probe_write(c, SEG_SS, 0x0000800000000000, 8));
	CHECK_EQ(got, SS0);
	TRY(c, mem_probe_write(c, SEG_SS, 0x00007ffffffffffc, 8));
	CHECK_EQ(got, SS0);
	TRY(c, mem_probe_write(c, SEG_DS, 0x0000800000000000, 8));
	CHECK_EQ(got, GP0);
	cpu_destroy(c);
}

int main(void)
{
	ram = aligned_alloc(PAGE_SIZE, RAM_SIZE);
	if (!ram)
		return 1;
	test_no_paging();
	test_32bit();
	test_pae();
	test_4level();
	test_rights();
	test_crossing();
	test_tlb();
	test_global();
	test_mmio_and_ptr();
	test_probe();
	free(ram);
	return check_done("mmu");
}
