/* SPDX-License-Identifier: MIT */
/*
 * EPT tests (src/cpu/ept.c, src/cpu/mmu.c; Intel SDM vol. 3C 29.3-29.4): translation through
 * 4 KiB, 2 MiB and 1 GiB EPT leaves to RAM, host memory and MMIO; EPT violations with the exit
 * qualification of Table 28-7 for final and paging-structure accesses; misconfigurations; EPT
 * accessed/dirty flags; the page-modification log; INVEPT/INVVPID and the no-VPID flush rule; and
 * the side-effect-free debug translation. EPT tables live in a fake host memory above guest RAM;
 * the guest uses 4-level paging with its tables in guest RAM. Faults and exits come back through
 * exec.c's cpu_fault/cpu_vmexit, which longjmp to c->jb.
 */
#include <errno.h>
#include <stdlib.h>

#include "check.h"
#include "cpu/internal.h"
#include "vmx/vmcs.h"

#define RAM_SIZE  (16ull << 20)
#define HOST_BASE 0x100000000ull /* host-physical memory of the "VMM" */
#define HOST_SIZE (1ull << 20)
#define PML_HPA	  (HOST_BASE + 0xf0000)
#define MMIO_HPA  0xfee00000ull
#define GPT_BASE  0x100000ull /* guest page tables (GPA, identity-mapped by EPT) */

/* Guest paging bits. */
#define P	  BIT(0)
#define RW	  BIT(1)
#define A	  BIT(5)
#define D	  BIT(6)
#define PS	  BIT(7)
#define ADDR_MASK 0x000ffffffffff000ull

/* EPT bits. */
#define ER   BIT(0)
#define EW   BIT(1)
#define EX   BIT(2)
#define ERWX 7ull
#define EWB  (6ull << 3)
#define EA   BIT(8)
#define ED   BIT(9)

#define NONE	(~0ull)
#define EXIT(r) (BIT(40) | (r))
#define PF(err) ((u64)X86_PF_VEC << 32 | (err))

static u8 *ram, *host;
static u64 ept_next, gpt_next;
static u64 eent[5]; /* host-physical addresses of the EPT entries of the last ept_map, by level */
static u64 gent[5]; /* guest-physical addresses of the guest entries of the last map */
static struct vm_exit ex;
static struct {
	u64 addr, value;
	unsigned reads, writes;
} mmio;

static volatile u64 got, val;

#define TRY(c, stmt)                                                                               \
	do {                                                                                       \
		memset(&ex, 0, sizeof(ex));                                                        \
		(c)->exit = &ex;                                                                   \
		(c)->exiting = 0;                                                                  \
		if (cpu_setjmp((c)->jb) == 0) {                                                        \
			stmt;                                                                      \
			got = NONE;                                                                \
		} else if ((c)->exiting) {                                                         \
			got = EXIT(ex.reason);                                                     \
		} else {                                                                           \
			got = (u64)(c)->fault_vector << 32 | (c)->fault_error;                     \
		}                                                                                  \
	} while (0)

static u8 *t_host_ptr(void *opaque, u64 hpa, u64 len)
{
	if (hpa < RAM_SIZE && len <= RAM_SIZE - hpa)
		return ram + hpa;
	if (hpa >= HOST_BASE && hpa - HOST_BASE < HOST_SIZE && len <= HOST_SIZE - (hpa - HOST_BASE))
		return host + (hpa - HOST_BASE);
	return NULL;
}

static u64 t_mmio_read(void *opaque, u64 addr, unsigned size)
{
	mmio.addr = addr;
	mmio.reads++;
	return 0x1122334455667788ull;
}

static void t_mmio_write(void *opaque, u64 addr, u64 value, unsigned size)
{
	mmio.addr = addr;
	mmio.value = value;
	mmio.writes++;
}

static u64 *hp(u64 hpa)
{
	return (u64 *)t_host_ptr(NULL, hpa, 8);
}

static u64 hget(u64 hpa)
{
	u64 v;
	memcpy(&v, t_host_ptr(NULL, hpa, 8), 8);
	return v;
}

static void hput(u64 hpa, u64 v)
{
	memcpy(t_host_ptr(NULL, hpa, 8), &v, 8);
}

static u64 alloc_ept(void)
{
	u64 a = ept_next;
	ept_next += PAGE_SIZE;
	return a;
}

/* EPT entries from the PML4 down to a leaf at `level` (1: 4K, 2: 2M, 3: 1G): tables get `up`,
   the leaf `leaf` (plus PS above level 1). */
static void ept_map(struct cpu *c, u64 gpa, u64 hpa, unsigned level, u64 up, u64 leaf)
{
	u64 table = c->ctl.eptp & ADDR_MASK;
	for (unsigned l = 4; l > level; l--) {
		u64 a = table + ((gpa >> (12 + 9 * (l - 1))) & 511) * 8;
		u64 e = hget(a);
		u64 next = e & 7 ? e & ADDR_MASK : alloc_ept();
		hput(a, next | up);
		eent[l] = a;
		table = next;
	}
	u64 a = table + ((gpa >> (12 + 9 * (level - 1))) & 511) * 8;
	hput(a, hpa | leaf | (level > 1 ? PS : 0));
	eent[level] = a;
}

/* Guest 4-level paging, tables in guest RAM at GPT_BASE up. */
static void gmap(struct cpu *c, u64 lin, u64 gpa, u64 leaf)
{
	u64 table = c->cr3;
	for (unsigned l = 4; l > 1; l--) {
		u64 a = table + ((lin >> (12 + 9 * (l - 1))) & 511) * 8;
		u64 e;
		memcpy(&e, ram + a, 8);
		u64 next = e & P ? e & ADDR_MASK : (gpt_next += PAGE_SIZE);
		e = next | P | RW;
		memcpy(ram + a, &e, 8);
		gent[l] = a;
		table = next;
	}
	u64 a = table + ((lin >> 12) & 511) * 8;
	u64 e = gpa | leaf;
	memcpy(ram + a, &e, 8);
	gent[1] = a;
}

static u64 gget(u64 gpa)
{
	u64 v;
	memcpy(&v, ram + gpa, 8);
	return v;
}

/*
 * A CPU in 64-bit mode with guest paging, EPT on (A/D flags when `ad`), guest RAM 0..8 MiB
 * identity-mapped by 2 MiB EPT leaves with `id_flags` (plus RWX and WB).
 */
static struct cpu *cpu_new(bool ad, u64 id_flags)
{
	struct cpu_config cfg = {
		.ram = ram,
		.ram_size = RAM_SIZE,
		.mmio_read = t_mmio_read,
		.mmio_write = t_mmio_write,
		.host_ptr = t_host_ptr,
	};
	memset(ram, 0, RAM_SIZE);
	memset(host, 0, HOST_SIZE);
	memset(&mmio, 0, sizeof(mmio));
	struct cpu *c = cpu_create(&cfg);
	if (!c)
		abort();
	c->cr0 = CR0_PE | CR0_PG | CR0_WP;
	c->cr4 = CR4_PAE;
	c->efer = EFER_LME | EFER_LMA | EFER_NXE;
	c->lin_mask = ~0ull;
	gpt_next = GPT_BASE;
	c->cr3 = GPT_BASE;
	ept_next = HOST_BASE;
	c->ctl.proc = PROC_SECONDARY_CONTROLS;
	c->ctl.proc2 = PROC2_ENABLE_EPT;
	c->ctl.eptp = alloc_ept() | (3 << 3) | EPTP_MT_WB | (ad ? EPTP_AD_ENABLE : 0);
	for (u64 g = 0; g < (8ull << 20); g += 2ull << 20)
		ept_map(c, g, g, 2, ERWX | id_flags, ERWX | EWB | id_flags);
	c->exit = &ex;
	return c;
}

/* A read in its own frame, so callers' locals survive the longjmp; returns what it raised. */
static u64 try_read(struct cpu *c, u64 lin)
{
	TRY(c, val = lin_read(c, lin, 1));
	return got;
}

static struct tlb_entry *tlb_of(struct cpu *c, u64 lin)
{
	return &c->tlbs[0][(lin >> 12) & (TLB_SIZE - 1)];
}

/* The EPT-violation qualification of a final access: kind bit, rights, bits 7 and 8. */
#define QFINAL(kind, rights) (BIT(kind) | (u64)(rights) << 3 | BIT(7) | BIT(8))

static void test_translate(void)
{
	struct cpu *c = cpu_new(false, 0);

	/* 4 KiB EPT leaf: GPA 0x800000 -> HPA 0x300000 (RAM). */
	gmap(c, 0x20000, 0x800000, P | RW);
	ept_map(c, 0x800000, 0x300000, 1, ERWX, ERWX | EWB);
	TRY(c, lin_write(c, 0x20010, 0xdeadbeef, 4));
	CHECK_EQ(got, NONE);
	CHECK_EQ(gget(0x300010) & 0xffffffff, 0xdeadbeef);
	CHECK_EQ(gget(0x800010), 0);
	TRY(c, val = mmu_translate(c, 0x20abc, ACC_READ));
	CHECK_EQ(val, 0x300abc);
	CHECK_EQ(tlb_of(c, 0x20000)->gpa, 0x300000);
	CHECK((u8 *)(tlb_of(c, 0x20000)->host + 0x20010) == ram + 0x300010);

	/* 2 MiB leaf: GPA 0xa00000.. -> HPA 0x200000.. */
	gmap(c, 0x21000, 0xb23000, P | RW);
	ept_map(c, 0xa00000, 0x200000, 2, ERWX, ERWX | EWB);
	ram[0x323456] = 0x5a;
	TRY(c, val = lin_read(c, 0x21456, 1));
	CHECK_EQ(got, NONE);
	CHECK_EQ(val, 0x5a);

	/* 1 GiB leaf: GPA 1G.. -> HPA 0.. (memory type UC, ignore-PAT: both valid). */
	gmap(c, 0x22000, 0x40005000, P | RW);
	ept_map(c, 0x40000000, 0, 3, ERWX, ERWX | BIT(6));
	ram[0x5007] = 0xa5;
	TRY(c, val = lin_read(c, 0x22007, 1));
	CHECK_EQ(got, NONE);
	CHECK_EQ(val, 0xa5);

	/* Host memory above RAM through host_ptr, cached in the TLB. */
	gmap(c, 0x23000, 0x801000, P | RW);
	ept_map(c, 0x801000, HOST_BASE + 0x80000, 1, ERWX, ERWX | EWB);
	TRY(c, lin_write(c, 0x23008, 0x1234567890ull, 8));
	CHECK_EQ(got, NONE);
	CHECK_EQ(hget(HOST_BASE + 0x80008), 0x1234567890ull);
	CHECK_EQ(lin_read(c, 0x23008, 8), 0x1234567890ull);
	CHECK_EQ(tlb_of(c, 0x23000)->tag_r, 0x23000);

	/* Nothing at the HPA: MMIO with the host-physical address, never in the TLB. */
	gmap(c, 0x24000, 0x802000, P | RW);
	ept_map(c, 0x802000, MMIO_HPA, 1, ERWX, ERWX);
	TRY(c, val = lin_read(c, 0x24010, 4));
	CHECK_EQ(got, NONE);
	CHECK_EQ(val, 0x55667788);
	CHECK_EQ(mmio.addr, MMIO_HPA + 0x10);
	TRY(c, lin_write(c, 0x24020, 0xab, 1));
	CHECK_EQ(mmio.addr, MMIO_HPA + 0x20);
	CHECK_EQ(mmio.value, 0xab);
	CHECK_EQ(tlb_of(c, 0x24000)->tag_r, TLB_INVALID);

	/* Paging off: the linear address is the guest-physical address, still through EPT. */
	c->cr0 &= ~CR0_PG;
	tlb_flush_all(c);
	TRY(c, val = mmu_translate(c, 0x800123, ACC_READ));
	CHECK_EQ(got, NONE);
	CHECK_EQ(val, 0x300123);
	cpu_destroy(c);
}

static void test_violations(void)
{
	struct cpu *c = cpu_new(false, 0);

	gmap(c, 0x30000, 0x810000, P | RW);
	ept_map(c, 0x810000, 0x310000, 1, ERWX, ER | EWB); /* read-only */
	gmap(c, 0x31000, 0x811000, P | RW);
	ept_map(c, 0x811000, 0x311000, 1, ERWX, EX | EWB); /* execute-only */
	gmap(c, 0x32000, 0x812000, P | RW);
	ept_map(c, 0x812000, 0x312000, 1, ERWX, ER | EW | EWB); /* no execute */
	gmap(c, 0x33000, 0x813000, P | RW);			/* GPA not mapped by EPT */
	gmap(c, 0x34000, 0xe14000, P | RW);
	ept_map(c, 0xe14000, 0x314000, 1, ERWX, ERWX | EWB);
	hput(eent[2], hget(eent[2]) & ~EW); /* W clear in the PDE only */

	TRY(c, val = lin_read(c, 0x30008, 4));
	CHECK_EQ(got, NONE);
	TRY(c, lin_write(c, 0x30008, 1, 4));
	CHECK_EQ(got, EXIT(EXIT_REASON_EPT_VIOLATION));
	CHECK_EQ(ex.qual, QFINAL(1, ER));
	CHECK_EQ(ex.guest_phys, 0x810008);
	CHECK_EQ(ex.guest_linear, 0x30008);
	CHECK_EQ(tlb_of(c, 0x30000)->tag_w, TLB_INVALID);

	/* Execute-only: fetch passes, read exits, and nothing is cached for reads. */
	TRY(c, val = mmu_translate(c, 0x31100, ACC_FETCH));
	CHECK_EQ(got, NONE);
	CHECK_EQ(val, 0x311100);
	CHECK_EQ(tlb_of(c, 0x31000)->tag_r, TLB_INVALID);
	TRY(c, lin_read(c, 0x31100, 2));
	CHECK_EQ(got, EXIT(EXIT_REASON_EPT_VIOLATION));
	CHECK_EQ(ex.qual, QFINAL(0, EX));
	CHECK_EQ(ex.guest_phys, 0x811100);
	CHECK_EQ(ex.guest_linear, 0x31100);

	TRY(c, mmu_translate(c, 0x32ff0, ACC_FETCH));
	CHECK_EQ(got, EXIT(EXIT_REASON_EPT_VIOLATION));
	CHECK_EQ(ex.qual, QFINAL(2, ER | EW));
	CHECK_EQ(ex.guest_phys, 0x812ff0);
	CHECK_EQ(ex.guest_linear, 0x32ff0);

	/* Not present: rights 0. */
	TRY(c, lin_read(c, 0x33004, 4));
	CHECK_EQ(got, EXIT(EXIT_REASON_EPT_VIOLATION));
	CHECK_EQ(ex.qual, QFINAL(0, 0));
	CHECK_EQ(ex.guest_phys, 0x813004);

	/* Rights are the AND over the levels. */
	TRY(c, lin_write(c, 0x34000, 1, 1));
	CHECK_EQ(got, EXIT(EXIT_REASON_EPT_VIOLATION));
	CHECK_EQ(ex.qual, QFINAL(1, ER | EX));

	/* A guest #PF comes before the EPT check of the final address. */
	gmap(c, 0x35000, 0x813000, 0);
	TRY(c, lin_read(c, 0x35000, 1));
	CHECK_EQ(got, PF(0));

	/* A guest paging-structure entry whose GPA EPT does not map: bit 8 clear, GPA of the entry.
	 */
	gmap(c, 0x600000000ull, 0x810000, P | RW);
	u64 pt = gget(gent[2]) & ADDR_MASK; /* the new page table: moved to an unmapped GPA */
	memcpy(ram + 0x3f0000, ram + pt, PAGE_SIZE);
	u64 pde = 0x8f0000 | P | RW;
	memcpy(ram + gent[2], &pde, 8);
	TRY(c, lin_read(c, 0x600000010ull, 1));
	CHECK_EQ(got, EXIT(EXIT_REASON_EPT_VIOLATION));
	CHECK_EQ(ex.qual, BIT(0) | BIT(7));
	CHECK_EQ(ex.guest_phys, 0x8f0000);
	CHECK_EQ(ex.guest_linear, 0x600000010ull);

	/* Mapped read-only: reading works, but setting the guest A flag is a write to it. */
	ept_map(c, 0x8f0000, 0x3f0000, 1, ERWX, ER | EWB);
	TRY(c, lin_read(c, 0x600000010ull, 1));
	CHECK_EQ(got, EXIT(EXIT_REASON_EPT_VIOLATION));
	CHECK_EQ(ex.qual, BIT(1) | (ER << 3) | BIT(7));
	CHECK_EQ(ex.guest_phys, 0x8f0000);
	/* With the guest PTE's A flag already set there is nothing to write. */
	u64 pte = gget(0x3f0000) | A;
	memcpy(ram + 0x3f0000, &pte, 8);
	TRY(c, val = lin_read(c, 0x600000010ull, 1));
	CHECK_EQ(got, NONE);
	cpu_destroy(c);
}

static void test_misconfig(void)
{
	struct cpu *c = cpu_new(false, 0);
	static const struct {
		unsigned level; /* entry to corrupt */
		u64 bits;
	} bad[] = {
		{ 4, BIT(3) },		       /* PML4E bits 7:3 */
		{ 4, PS },		       /* PML4E bit 7 */
		{ 4, BIT(45) },		       /* bits 51:MAXPHYADDR */
		{ 3, BIT(4) },		       /* PDPTE referencing a PD: 7:3 */
		{ 3, BIT(51) }, { 2, BIT(6) }, /* PDE referencing a PT: 7:3 */
		{ 1, BIT(40) },
	};

	gmap(c, 0x40000, 0x820000, P | RW);
	ept_map(c, 0x820000, 0x320000, 1, ERWX, ERWX | EWB);
	CHECK_EQ(try_read(c, 0x40000), NONE);
	for (unsigned i = 0; i < ARRAY_SIZE(bad); i++) {
		u64 a = eent[bad[i].level], old = hget(a);
		hput(a, old | bad[i].bits);
		tlb_flush_all(c);
		CHECK_EQ(try_read(c, 0x40010), EXIT(EXIT_REASON_EPT_MISCONFIG));
		/* The PML4E and PDPTE also map the guest's PML4: the walk meets them there first.
		 */
		CHECK_EQ(ex.guest_phys, bad[i].level >= 3 ? c->cr3 : 0x820010);
		CHECK_EQ(ex.qual, 0);
		hput(a, old);
	}
	/* Write without read, at a table level and at the leaf. */
	u64 a = eent[2], old = hget(a);
	hput(a, (old & ~7ull) | EW | EX);
	tlb_flush_all(c);
	CHECK_EQ(try_read(c, 0x40010), EXIT(EXIT_REASON_EPT_MISCONFIG));
	hput(a, old);
	a = eent[1];
	old = hget(a);
	hput(a, (old & ~7ull) | EW);
	CHECK_EQ(try_read(c, 0x40010), EXIT(EXIT_REASON_EPT_MISCONFIG));
	/* Execute-only is not a misconfiguration. */
	hput(a, (old & ~7ull) | EX);
	TRY(c, mmu_translate(c, 0x40010, ACC_FETCH));
	CHECK_EQ(got, NONE);
	/* Memory types 2, 3, 7 are reserved; 0 (UC), 1, 4, 5, 6 (WB) are not. */
	for (u64 mt = 0; mt < 8; mt++) {
		hput(a, (old & ~(7ull << 3)) | mt << 3);
		tlb_flush_all(c);
		bool reserved = mt == 2 || mt == 3 || mt == 7;
		CHECK_EQ(try_read(c, 0x40010), reserved ? EXIT(EXIT_REASON_EPT_MISCONFIG) : NONE);
	}
	hput(a, old);

	/* 1 GiB leaf: bits 29:12 reserved; 2 MiB leaf: bits 20:12. */
	gmap(c, 0x41000, 0x40001000, P | RW);
	ept_map(c, 0x40000000, 0, 3, ERWX, ERWX | EWB);
	hput(eent[3], hget(eent[3]) | BIT(20));
	TRY(c, lin_read(c, 0x41000, 1));
	CHECK_EQ(got, EXIT(EXIT_REASON_EPT_MISCONFIG));
	CHECK_EQ(ex.guest_phys, 0x40001000);
	hput(eent[3], hget(eent[3]) & ~BIT(20));
	TRY(c, lin_read(c, 0x41000, 1));
	CHECK_EQ(got, NONE);
	gmap(c, 0x42000, 0xc00000, P | RW);
	ept_map(c, 0xc00000, 0x400000, 2, ERWX, ERWX | EWB);
	hput(eent[2], hget(eent[2]) | BIT(13));
	TRY(c, lin_read(c, 0x42000, 1));
	CHECK_EQ(got, EXIT(EXIT_REASON_EPT_MISCONFIG));

	/* Not present wins over reserved bits in the same entry. */
	hput(eent[2], BIT(13) | BIT(5));
	TRY(c, lin_read(c, 0x42000, 1));
	CHECK_EQ(got, EXIT(EXIT_REASON_EPT_VIOLATION));
	cpu_destroy(c);
}

static void test_ad(void)
{
	struct cpu *c = cpu_new(true, 0);

	gmap(c, 0x50000, 0x830000, P | RW);
	ept_map(c, 0x830000, 0x330000, 1, ERWX, ERWX | EWB);
	TRY(c, lin_read(c, 0x50000, 4));
	CHECK_EQ(got, NONE);
	for (unsigned l = 1; l <= 4; l++)
		CHECK_EQ(hget(eent[l]) & (EA | ED), EA);
	/* No write permission cached while D is clear; the write sets it, then it is cached. */
	CHECK_EQ(tlb_of(c, 0x50000)->tag_r, 0x50000);
	CHECK_EQ(tlb_of(c, 0x50000)->tag_w, TLB_INVALID);
	TRY(c, lin_write(c, 0x50000, 7, 4));
	CHECK_EQ(got, NONE);
	CHECK_EQ(hget(eent[1]) & (EA | ED), EA | ED);
	for (unsigned l = 2; l <= 4; l++)
		CHECK_EQ(hget(eent[l]) & ED, 0);
	CHECK_EQ(tlb_of(c, 0x50000)->tag_w, 0x50000);

	/* Guest paging-structure accesses are writes: the 2 MiB leaf mapping the guest tables got D
	   (its PML4E/PDPTE are shared with the identity map, the PDE is the leaf for GPA 0). */
	u64 id_leaf = (c->ctl.eptp & ADDR_MASK);
	u64 pdpt = hget(id_leaf) & ADDR_MASK, pd = hget(pdpt) & ADDR_MASK;
	CHECK_EQ(hget(pd) & (EA | ED), EA | ED);
	/* ... and so need EPT write permission: a read-only guest page table exits as a write,
	   with both the read and the write bit in the qualification (SDM 28.2.1, Table 28-7). */
	hput(pd, (hget(pd) & ~(ERWX | ED)) | ER);
	tlb_flush_all(c);
	TRY(c, lin_read(c, 0x50000, 4));
	CHECK_EQ(got, EXIT(EXIT_REASON_EPT_VIOLATION));
	CHECK_EQ(ex.qual, BIT(0) | BIT(1) | (ER << 3) | BIT(7));
	CHECK_EQ(ex.guest_phys, c->cr3 + 0);
	cpu_destroy(c);

	/* Without A/D flags nothing is set, and write permission is cached at once. */
	c = cpu_new(false, 0);
	gmap(c, 0x50000, 0x830000, P | RW | A | D);
	ept_map(c, 0x830000, 0x330000, 1, ERWX, ERWX | EWB);
	TRY(c, lin_read(c, 0x50000, 4));
	for (unsigned l = 1; l <= 4; l++)
		CHECK_EQ(hget(eent[l]) & (EA | ED), 0);
	CHECK_EQ(tlb_of(c, 0x50000)->tag_w, 0x50000);
	cpu_destroy(c);
}

static void test_pml(void)
{
	struct cpu *c = cpu_new(true, EA | ED); /* guest tables' pages already dirty: no logging */
	u64 *log = hp(PML_HPA);

	c->ctl.proc2 |= PROC2_ENABLE_PML;
	c->ctl.pml_address = PML_HPA;
	c->vmx.pml_index = 511;
	for (unsigned i = 0; i < 4; i++) {
		gmap(c, 0x60000 + i * PAGE_SIZE, 0x840000 + i * PAGE_SIZE, P | RW | A | D);
		ept_map(c, 0x840000 + i * PAGE_SIZE, 0x340000 + i * PAGE_SIZE, 1, ERWX, ERWX | EWB);
	}
	/* Reads log nothing. */
	TRY(c, lin_read(c, 0x61000, 1));
	CHECK_EQ(c->vmx.pml_index, 511);
	/* Writes log the 4 KiB-aligned GPA at the index, which counts down; once per page. */
	TRY(c, lin_write(c, 0x61234, 1, 1));
	CHECK_EQ(got, NONE);
	CHECK_EQ(log[511], 0x841000);
	CHECK_EQ(c->vmx.pml_index, 510);
	TRY(c, lin_write(c, 0x60ff8, 2, 8));
	CHECK_EQ(log[510], 0x840000);
	CHECK_EQ(c->vmx.pml_index, 509);
	TRY(c, lin_write(c, 0x61000, 3, 1));
	TRY(c, lin_write(c, 0x60000, 3, 1));
	CHECK_EQ(c->vmx.pml_index, 509);
	CHECK_EQ(log[509], 0);

	/* Index 0: the last entry is logged and the index wraps to 0xffff ... */
	c->vmx.pml_index = 0;
	TRY(c, lin_write(c, 0x62000, 4, 1));
	CHECK_EQ(got, NONE);
	CHECK_EQ(log[0], 0x842000);
	CHECK_EQ(c->vmx.pml_index, 0xffff);
	/* ... so the next new dirty page exits 62 without setting D or writing. */
	TRY(c, lin_write(c, 0x63000, 5, 1));
	CHECK_EQ(got, EXIT(EXIT_REASON_PML_FULL));
	CHECK_EQ(ex.qual, 0);
	CHECK_EQ(hget(eent[1]) & ED, 0);
	CHECK_EQ(ram[0x343000], 0);
	CHECK_EQ(c->vmx.pml_index, 0xffff);
	/* Writes to pages already dirty still go through. */
	TRY(c, lin_write(c, 0x61000, 6, 1));
	CHECK_EQ(got, NONE);
	/* The VMM empties the log: the write proceeds and logs at 511. */
	c->vmx.pml_index = 511;
	TRY(c, lin_write(c, 0x63000, 5, 1));
	CHECK_EQ(got, NONE);
	CHECK_EQ(log[511], 0x843000);
	CHECK_EQ(ram[0x343000], 5);

	/* A full log also stops an access that would set an accessed flag (SDM 29.3.6): exit 62,
	   the flag stays clear, nothing is logged. Page 4's walk first sets A in the upper levels
	   it shares with page 5. */
	gmap(c, 0x64000, 0x844000, P | RW | A | D);
	ept_map(c, 0x844000, 0x344000, 1, ERWX, ERWX | EWB);
	gmap(c, 0x65000, 0x845000, P | RW | A | D);
	ept_map(c, 0x845000, 0x345000, 1, ERWX, ERWX | EWB);
	TRY(c, lin_read(c, 0x64000, 1));
	CHECK_EQ(got, NONE);
	c->vmx.pml_index = 0xffff;
	TRY(c, lin_read(c, 0x65000, 1));
	CHECK_EQ(got, EXIT(EXIT_REASON_PML_FULL));
	CHECK_EQ(hget(eent[1]) & (EA | ED), 0);
	CHECK_EQ(c->vmx.pml_index, 0xffff);
	/* With room in the log the read sets A and logs nothing. */
	c->vmx.pml_index = 511;
	log[511] = 0;
	TRY(c, lin_read(c, 0x65000, 1));
	CHECK_EQ(got, NONE);
	CHECK_EQ(hget(eent[1]) & (EA | ED), EA);
	CHECK_EQ(c->vmx.pml_index, 511);
	CHECK_EQ(log[511], 0);
	cpu_destroy(c);
}

/*
 * PAE PDPTE loads at MOV to CR0/CR3/CR4 are reads even with EPT A/D flags on (SDM 29.3.3.2): a
 * read-only PDPT page loads, its EPT dirty flag stays clear and the PML logs nothing.
 */
static void test_pdpte_load(void)
{
	static const struct insn mov_cr3 = { .len = 3 }; /* loads happen inside an instruction */
	struct cpu *c = cpu_new(true, EA | ED);
	u64 pdpte = 0x5000 | P;

	c->ctl.proc2 |= PROC2_ENABLE_PML;
	c->ctl.pml_address = PML_HPA;
	c->vmx.pml_index = 511;
	ept_map(c, 0x870000, 0x370000, 1, ERWX, ER | EWB); /* the PDPT: read-only, D clear */
	memcpy(ram + 0x370020, &pdpte, 8);
	c->insn = &mov_cr3;
	TRY(c, val = mmu_load_pdptes(c, 0x870020));
	CHECK_EQ(got, NONE);
	CHECK_EQ(val, 1);
	CHECK_EQ(c->pdpte[0], pdpte);
	CHECK_EQ(hget(eent[1]) & (EA | ED), EA);
	/* Writable: still no dirty flag and no log entry. */
	ept_map(c, 0x870000, 0x370000, 1, ERWX, ERWX | EWB);
	cpu_invept(c, 2, 0);
	TRY(c, val = mmu_load_pdptes(c, 0x870020));
	CHECK_EQ(got, NONE);
	CHECK_EQ(hget(eent[1]) & (EA | ED), EA);
	CHECK_EQ(c->vmx.pml_index, 511);
	c->insn = NULL;
	cpu_destroy(c);
}

static void test_invalidation(void)
{
	struct cpu *c = cpu_new(false, 0);
	u64 eptp = c->ctl.eptp;

	gmap(c, 0x70000, 0x850000, P | RW | A | D);
	ept_map(c, 0x850000, 0x350000, 1, ERWX, ERWX | EWB);
#define FILL()	 TRY(c, lin_read(c, 0x70000, 1))
#define CACHED() (tlb_of(c, 0x70000)->tag_r == 0x70000)
	FILL();
	CHECK(CACHED());
	/* Without VPID every VM entry and exit flushes (SDM 29.4.3.3). */
	mmu_vmx_transition(c);
	CHECK(!CACHED());
	FILL();
	cpu_invept(c, 1, eptp + 0x1000); /* another EP4TA */
	CHECK(CACHED());
	cpu_invept(c, 1, (eptp & ADDR_MASK) | EPTP_MT_UC); /* same EP4TA, other attributes */
	CHECK(!CACHED());
	FILL();
	cpu_invept(c, 2, 0);
	CHECK(!CACHED());
	FILL();
	cpu_invvpid(c, 2, 0, 0); /* VPID 0000H's mappings are not INVVPID's business */
	CHECK(CACHED());

	/* With VPID: the context survives entries and exits; INVVPID by VPID. */
	c->ctl.proc2 |= PROC2_ENABLE_VPID;
	c->ctl.vpid = 5;
	mmu_vmx_transition(c); /* a new context: flush */
	CHECK(!CACHED());
	FILL();
	mmu_vmx_transition(c);
	mmu_vmx_transition(c);
	CHECK(CACHED());
	cpu_invvpid(c, 1, 6, 0);
	CHECK(CACHED());
	cpu_invvpid(c, 0, 5, 0x40070000); /* INVLPG-like: drops the 1 GiB around it */
	CHECK(CACHED());
	cpu_invvpid(c, 0, 5, 0x70000);
	CHECK(!CACHED());
	FILL();
	cpu_invvpid(c, 3, 5, 0);
	CHECK(!CACHED());
	FILL();
	cpu_invvpid(c, 1, 5, 0);
	CHECK(!CACHED());
	FILL();
	cpu_invvpid(c, 2, 0, 0);
	CHECK(!CACHED());
	FILL();
	cpu_invept(c, 1, eptp);
	CHECK(!CACHED());

	/* Guest-physical mappings are cached too (SDM 29.4.1): INVLPG keeps them, so an EPT edit
	   without INVEPT is not seen; INVEPT drops them. */
	FILL();
	u64 pte = eent[1], old = hget(pte);
	hput(pte, old & ~ERWX);
	tlb_flush_page(c, 0x70000);
	CHECK(!CACHED());
	CHECK_EQ(try_read(c, 0x70000), NONE);
	tlb_flush_page(c, 0x70000);
	cpu_invept(c, 1, eptp);
	CHECK_EQ(try_read(c, 0x70000), EXIT(EXIT_REASON_EPT_VIOLATION));
	hput(pte, old);

	/* A new EPTP (same VPID) never uses the old translations, flushed or not by software. */
	FILL();
	u64 pml4 = alloc_ept();
	memcpy(host + (pml4 - HOST_BASE), host + ((eptp & ADDR_MASK) - HOST_BASE), PAGE_SIZE);
	c->ctl.eptp = pml4 | (eptp & 0xfff);
	mmu_vmx_transition(c);
	CHECK(!CACHED());
	FILL();
	CHECK(CACHED());
	c->ctl.eptp = eptp; /* without a transition: the next slow path notices */
	TRY(c, lin_read(c, 0x99000, 1));
	CHECK(!CACHED());
	/* EPT off: the guest-physical address is used directly. */
	c->ctl.proc2 &= ~PROC2_ENABLE_EPT;
	ram[0x850000] = 0x77;
	TRY(c, val = lin_read(c, 0x70000, 1));
	CHECK_EQ(val, 0x77);
#undef FILL
#undef CACHED
	cpu_destroy(c);
}

static void test_debug(void)
{
	struct cpu *c = cpu_new(true, 0);
	u64 gpa;
	u8 buf[16];

	gmap(c, 0x80000, 0x860000, P | RW);
	ept_map(c, 0x860000, 0x360000, 1, ERWX, EX | EWB); /* execute-only: still readable here */
	gmap(c, 0x81000, 0x861000, P | RW);
	ept_map(c, 0x861000, HOST_BASE + 0x81000, 1, ERWX, ERWX | EWB);
	gmap(c, 0x82000, 0x862000, P | RW);
	ept_map(c, 0x862000, MMIO_HPA, 1, ERWX, ERWX);
	gmap(c, 0x83000, 0x863000, P | RW); /* GPA not in EPT */
	memcpy(ram + 0x360ff8, "abcdefgh", 8);
	memcpy(host + 0x81000, "ijklmnop", 8);
	u64 ent_before[5], gent_before[5];
	for (unsigned l = 1; l <= 4; l++) {
		ent_before[l] = hget(eent[l]);
		gent_before[l] = gget(gent[l]);
	}
	CHECK_EQ(cpu_debug_translate(c, 0x80ff8, &gpa), 0);
	CHECK_EQ(gpa, 0x860ff8);
	CHECK_EQ(cpu_debug_translate(c, 0x83010, &gpa), 0);
	CHECK_EQ(gpa, 0x863010);
	CHECK_EQ(cpu_debug_translate(c, 0x84000, &gpa), -EFAULT);
	CHECK_EQ(cpu_debug_translate(c, 0x800000000000ull, &gpa), -EFAULT);
	/* Across a page boundary, RAM then host memory. */
	CHECK_EQ(cpu_read_virt(c, 0x80ff8, buf, 16), 0);
	CHECK(!memcmp(buf, "abcdefghijklmnop", 16));
	CHECK_EQ(cpu_read_virt(c, 0x82000, buf, 4), -EFAULT);
	CHECK_EQ(cpu_read_virt(c, 0x83000, buf, 4), -EFAULT);
	CHECK_EQ(cpu_read_virt(c, 0x81ffc, buf, 8), -EFAULT);
	CHECK_EQ(mmio.reads, 0);
	/* No accessed or dirty flags, guest or EPT; nothing cached; no PML. */
	for (unsigned l = 1; l <= 4; l++) {
		CHECK_EQ(hget(eent[l]), ent_before[l]);
		CHECK_EQ(gget(gent[l]), gent_before[l]);
	}
	CHECK_EQ(gget(gent[1]) & A, 0);
	CHECK_EQ(tlb_of(c, 0x80000)->tag_r, TLB_INVALID);

	/* A guest page table outside EPT: -EFAULT, no exit. */
	u64 pde = 0x8f0000 | P | RW;
	memcpy(ram + gent[2], &pde, 8);
	c->exit = NULL;
	CHECK_EQ(cpu_debug_translate(c, 0x80000, &gpa), -EFAULT);
	cpu_destroy(c);
}

static void flat(struct x86_segment *s, u16 sel, u32 ar)
{
	s->sel = sel;
	s->base = 0;
	s->limit = 0xffffffff;
	s->ar = ar;
}

/* The CPU of cpu_new() in 64-bit mode with flat segments, ready for cpu_run() at rip. */
static void run_setup(struct cpu *c, u64 rip)
{
	struct x86_sregs s;

	memset(&s, 0, sizeof(s));
	flat(&s.seg[SEG_CS], 0x08, 0xa09b);
	for (unsigned i = SEG_ES; i <= SEG_GS; i++)
		if (i != SEG_CS)
			flat(&s.seg[i], 0x10, 0xc093);
	s.seg[SEG_LDTR].ar = AR_UNUSABLE;
	s.seg[SEG_TR].ar = 0x8b;
	s.cr0 = c->cr0;
	s.cr3 = c->cr3;
	s.cr4 = c->cr4;
	s.efer = c->efer;
	cpu_set_sregs(c, &s);
	c->rip = rip;
	c->halted = 0;
}

/* Code fetches under EPT: execute-only pages run, and self-modifying code through an alias (two
   guest-physical pages, one host page) is seen, since blocks are kept by host-physical page. */
static void test_run(void)
{
	struct cpu *c = cpu_new(true, 0);
	static const u8 smc[] = {
		0xc6, 0x04, 0x25, 0x09, 0x30, 0x09, 0x00, 0x02, /* mov byte [0x93009], 2 */
		0xb8, 0x01, 0x00, 0x00, 0x00,			/* mov eax, 1 */
		0xf4,						/* hlt */
	};
	static const u8 xo[] = {
		0xb8, 0x07, 0x00, 0x00, 0x00,	    /* mov eax, 7 */
		0xf4,				    /* hlt */
		0x8b, 0x05, 0x00, 0x00, 0x00, 0x00, /* mov eax, [rip] */
		0xf4,
	};

	gmap(c, 0x90000, 0x870000, P | RW);
	ept_map(c, 0x870000, 0x370000, 1, ERWX, EX | ER | EWB);
	gmap(c, 0x93000, 0x873000, P | RW);
	ept_map(c, 0x873000, 0x370000, 1, ERWX, ER | EW | EWB); /* the same host page */
	memcpy(ram + 0x370000, smc, sizeof(smc));
	run_setup(c, 0x90000);
	CHECK_EQ(cpu_run(c, &ex), CPU_RUN_HALTED);
	CHECK_EQ(c->gpr[R_RAX], 2);
	CHECK_EQ(ram[0x370009], 2);

	gmap(c, 0x94000, 0x874000, P | RW);
	ept_map(c, 0x874000, 0x374000, 1, ERWX, EX | EWB);
	memcpy(ram + 0x374000, xo, sizeof(xo));
	run_setup(c, 0x94000);
	CHECK_EQ(cpu_run(c, &ex), CPU_RUN_HALTED);
	CHECK_EQ(c->gpr[R_RAX], 7);
	c->rip = 0x94006;
	c->halted = 0;
	cpu_run(c, &ex);
	CHECK_EQ(ex.reason, EXIT_REASON_EPT_VIOLATION);
	CHECK_EQ(ex.qual, QFINAL(0, EX));
	CHECK_EQ(ex.guest_linear, 0x9400c);
	CHECK_EQ(ex.guest_phys, 0x87400c);
	CHECK_EQ(ex.rip, 0x94006);

	/* Without X the fetch itself exits. */
	ept_map(c, 0x874000, 0x374000, 1, ERWX, ER | EWB);
	cpu_invept(c, 2, 0);
	run_setup(c, 0x94000);
	cpu_run(c, &ex);
	CHECK_EQ(ex.reason, EXIT_REASON_EPT_VIOLATION);
	CHECK_EQ(ex.qual, QFINAL(2, ER));
	CHECK_EQ(ex.guest_phys, 0x874000);
	cpu_destroy(c);
}

/*
 * The MMIO TLB (internal.h mmio_tlb): a second access to a guest page that maps MMIO takes the
 * cached guest translation, no walk, and exits exactly as the walk did; a write is cached only
 * once the walk set the dirty flag; any TLB flush drops it; the EPT is still asked each time.
 */
static void test_mmio_tlb(void)
{
	struct cpu *c = cpu_new(false, 0);
	struct cpu_mmu_stats st;
	struct vm_exit first;
	u64 walks, ept_walks;

	gmap(c, 0x33000, 0x813000, P | RW); /* a GPA EPT does not map: MMIO */
	CHECK_EQ(try_read(c, 0x33010), EXIT(EXIT_REASON_EPT_VIOLATION));
	first = ex;
	CHECK_EQ(first.qual, QFINAL(0, 0));
	CHECK_EQ(first.guest_phys, 0x813010);
	CHECK_EQ(first.guest_linear, 0x33010);
	CHECK(gget(gent[1]) & A);
	CHECK(!(gget(gent[1]) & D));
	cpu_get_mmu_stats(c, &st);
	walks = st.walks;
	ept_walks = st.ept_walks;
	CHECK_EQ(try_read(c, 0x33010), EXIT(EXIT_REASON_EPT_VIOLATION));
	CHECK_EQ(ex.qual, first.qual);
	CHECK_EQ(ex.guest_phys, first.guest_phys);
	CHECK_EQ(ex.guest_linear, first.guest_linear);
	cpu_get_mmu_stats(c, &st);
	CHECK_EQ(st.walks, walks);
	CHECK_EQ(st.mmio_hits, 1);
	/* The VMM's own EPT: its not-present answer is kept with the entry, no EPT walk either. */
	CHECK_EQ(st.ept_walks, ept_walks);

	/* A write walks (the read's entry has no dirty flag), sets D, then hits. */
	TRY(c, lin_write(c, 0x33020, 5, 4));
	CHECK_EQ(got, EXIT(EXIT_REASON_EPT_VIOLATION));
	CHECK_EQ(ex.qual, QFINAL(1, 0));
	CHECK(gget(gent[1]) & D);
	cpu_get_mmu_stats(c, &st);
	CHECK_EQ(st.walks, walks + 1);
	TRY(c, lin_write(c, 0x33020, 5, 4));
	CHECK_EQ(got, EXIT(EXIT_REASON_EPT_VIOLATION));
	CHECK_EQ(ex.qual, QFINAL(1, 0));
	CHECK_EQ(ex.guest_phys, 0x813020);
	CHECK_EQ(ex.guest_linear, 0x33020);
	cpu_get_mmu_stats(c, &st);
	CHECK_EQ(st.walks, walks + 1);
	CHECK_EQ(st.mmio_hits, 2);

	/* The guest remaps the page to RAM: stale until it flushes (SDM 4.10.4.3), as a TLB. */
	gmap(c, 0x33000, 0x50000, P | RW | A | D);
	ram[0x50010] = 0x5a;
	CHECK_EQ(try_read(c, 0x33010), EXIT(EXIT_REASON_EPT_VIOLATION));
	tlb_flush_page(c, 0x33000);
	CHECK_EQ(try_read(c, 0x33010), NONE);
	CHECK_EQ(val, 0x5a);

	/* Back to MMIO; MOV CR3 (non-global flush) and INVEPT drop the entry too. */
	gmap(c, 0x33000, 0x813000, P | RW | A | D);
	tlb_flush_page(c, 0x33000);
	CHECK_EQ(try_read(c, 0x33010), EXIT(EXIT_REASON_EPT_VIOLATION));
	tlb_flush_nonglobal(c);
	cpu_get_mmu_stats(c, &st);
	walks = st.walks;
	CHECK_EQ(try_read(c, 0x33010), EXIT(EXIT_REASON_EPT_VIOLATION));
	cpu_get_mmu_stats(c, &st);
	CHECK_EQ(st.walks, walks + 1);
	/* The VMM maps the GPA (EPT edit, INVEPT): a read now reaches the host page. */
	ept_map(c, 0x813000, 0x313000, 1, ERWX, ERWX | EWB);
	ram[0x313010] = 0x6b; /* host-physical 0x313000 is in RAM here */
	cpu_invept(c, 2, 0);
	CHECK_EQ(try_read(c, 0x33010), NONE);
	CHECK_EQ(val, 0x6b);
	cpu_destroy(c);

	/*
	 * Nested EPT (a guest hypervisor's tables, ctl.eptp_outer set): the guest walk is kept,
	 * EPT's answer is not. Its owner may map the page at any time without INVEPT, as a
	 * processor never caches a mapping from a not-present EPT entry (SDM 29.4.1).
	 */
	c = cpu_new(false, 0);
	u64 inner = c->ctl.eptp;

	c->ctl.eptp = alloc_ept() | (3 << 3) | EPTP_MT_WB; /* the outer EPT: identity */
	for (u64 g = 0; g < RAM_SIZE; g += 2ull << 20)
		ept_map(c, g, g, 2, ERWX, ERWX | EWB);
	ept_map(c, HOST_BASE, HOST_BASE, 2, ERWX, ERWX | EWB);
	c->ctl.eptp_outer = c->ctl.eptp;
	c->ctl.eptp = inner;
	gmap(c, 0x33000, 0x813000, P | RW);
	CHECK_EQ(try_read(c, 0x33010), EXIT(EXIT_REASON_EPT_VIOLATION));
	CHECK_EQ(ex.qual, QFINAL(0, 0));
	CHECK(!ex.ept_outer);
	cpu_get_mmu_stats(c, &st);
	walks = st.walks;
	ept_walks = st.ept_walks;
	CHECK_EQ(try_read(c, 0x33010), EXIT(EXIT_REASON_EPT_VIOLATION));
	CHECK_EQ(ex.qual, QFINAL(0, 0));
	cpu_get_mmu_stats(c, &st);
	CHECK_EQ(st.walks, walks);
	CHECK(st.ept_walks > ept_walks);
	/* The guest hypervisor maps it in its EPT (c->ctl.eptp), no INVEPT: the next read
	   reaches the page. */
	ept_map(c, 0x813000, 0x313000, 1, ERWX, ERWX | EWB);
	ram[0x313010] = 0x7c;
	CHECK_EQ(try_read(c, 0x33010), NONE);
	CHECK_EQ(val, 0x7c);
	cpu_destroy(c);
}

int main(void)
{
	ram = aligned_alloc(PAGE_SIZE, RAM_SIZE);
	host = aligned_alloc(PAGE_SIZE, HOST_SIZE);
	if (!ram || !host)
		return 1;
	test_translate();
	test_violations();
	test_misconfig();
	test_ad();
	test_pml();
	test_pdpte_load();
	test_invalidation();
	test_mmio_tlb();
	test_debug();
	test_run();
	free(ram);
	free(host);
	return check_done("ept");
}
