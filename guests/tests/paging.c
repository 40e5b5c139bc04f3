// SPDX-License-Identifier: MIT
/*
 * paging: 4-level paging (SDM vol. 3A 4.5) on test mappings at 512 GiB: 4 KiB, 2 MiB and
 * (if CPUID.80000001H:EDX.Page1GB) 1 GiB pages; accessed/dirty bits at every level (4.8);
 * exact #PF error codes and CR2 (4.7) for not-present, write to read-only (CR0.WP 0/1), user
 * access to supervisor pages, U/S and R/W combined across levels, reserved bits, NX with
 * EFER.NXE, SMEP and SMAP (4.6, if advertised); INVLPG, MOV CR3 and CR4.PGE flushes (4.10.4);
 * a REP STOSB and an instruction fetch that run into a not-present page.
 * (Reserved-bit faults are in sdmstrict: QEMU TCG reports them without the P bit.)
 */
#include "lib.h"

#define BASE 0x8000000000ull /* PML4 index 1 */
#define VA4K(i) (BASE + (u64)(i) * 4096)
#define VA2M (BASE + 0x200000)
#define VA1G (BASE + 0x40000000)
#define PHYS2M 0x800000ull

static u64 t_pdpt[512] __attribute__((aligned(4096)));
static u64 t_pd[512] __attribute__((aligned(4096)));
static u64 t_pt[512] __attribute__((aligned(4096)));
static u8 pages[8][4096] __attribute__((aligned(4096)));

static void map4k(int i, void *pa, u64 flags)
{
	t_pt[i] = (u64)pa | flags;
	invlpg((void *)VA4K(i));
}

/* Accesses through the test mappings; the barrier orders them with plain accesses to pages[]. */
static u8 rd(u64 va)
{
	asm volatile("" ::: "memory");
	return *(volatile u8 *)va;
}
static void wr(u64 va, u8 v)
{
	asm volatile("" ::: "memory");
	*(volatile u8 *)va = v;
	asm volatile("" ::: "memory");
}
static u64 u_rd(u64 va) { return *(volatile u8 *)va; }
static u64 u_wr(u64 va)
{
	*(volatile u8 *)va = 1;
	return 0;
}

/* Expect a #PF with this error code and CR2 from the access in `body`. */
#define PF(name, va, err, ...)                                                                \
	do {                                                                                  \
		int __v = CATCH(__VA_ARGS__);                                                 \
		check(__v == PF_VECTOR && last_fault.error == (err) && last_fault.cr2 == (va),  \
		      "%s: #PF error %#lx (want %#x) cr2 %#lx (vector %d)", name,              \
		      last_fault.error, (unsigned)(err), last_fault.cr2, __v);                  \
	} while (0)
#define NOFAULT(name, ...)                                                                    \
	do {                                                                                  \
		int __v = CATCH(__VA_ARGS__);                                                 \
		check(__v == -1, "%s: no fault (vector %d error %#lx)", name, __v,             \
		      last_fault.error);                                                      \
	} while (0)

static void setup(void)
{
	pml4[1] = (u64)t_pdpt | PTE_P | PTE_W | PTE_U;
	t_pdpt[0] = (u64)t_pd | PTE_P | PTE_W | PTE_U;
	t_pd[0] = (u64)t_pt | PTE_P | PTE_W | PTE_U;
	t_pd[1] = PHYS2M | PTE_P | PTE_W | PTE_U | PTE_PS;
	flush_tlb();
}

static void test_basic(void)
{
	map4k(0, pages[0], PTE_P | PTE_W);
	pages[0][5] = 0x5a;
	check(rd(VA4K(0) + 5) == 0x5a, "4 KiB page reads the physical page");
	check((t_pt[0] & (PTE_A | PTE_D)) == PTE_A, "read sets A, not D (pte %#llx)", (unsigned long long)t_pt[0]);
	check((t_pd[0] & PTE_A) && (t_pdpt[0] & PTE_A) && (pml4[1] & PTE_A),
	      "A set in PDE, PDPTE and PML4E too");
	wr(VA4K(0) + 6, 0xa5);
	check(pages[0][6] == 0xa5 && (t_pt[0] & PTE_D), "write lands in the page and sets D");
	check(!(t_pd[0] & PTE_D), "D is not set in a non-leaf PDE");

	wr(VA2M + 0x1234, 0x77);
	check(*(volatile u8 *)(PHYS2M + 0x1234) == 0x77 && (t_pd[1] & (PTE_A | PTE_D)) == (PTE_A | PTE_D),
	      "2 MiB page: write goes to the physical 2 MiB region, A and D in the PDE");
	if (HAS_1G()) {
		t_pdpt[1] = 0 | PTE_P | PTE_W | PTE_PS;
		flush_tlb();
		check(rd(VA1G + (u64)&pages[0][5]) == 0x5a && (t_pdpt[1] & PTE_A), "1 GiB page aliases physical 0");
	} else {
		skip("1 GiB pages not advertised");
	}
}

static void test_faults(void)
{
	map4k(1, pages[1], 0);
	PF("read not present", VA4K(1), 0, rd(VA4K(1)));
	PF("write not present", VA4K(1) + 8, PFEC_W, wr(VA4K(1) + 8, 1));
	PF("user read not present", VA4K(1), PFEC_U, user_call(u_rd, VA4K(1)));

	map4k(2, pages[2], PTE_P);
	write_cr0(read_cr0() & ~CR0_WP);
	NOFAULT("CPL 0 write to read-only page, CR0.WP=0", wr(VA4K(2), 3));
	write_cr0(read_cr0() | CR0_WP);
	PF("CPL 0 write to read-only page, CR0.WP=1", VA4K(2) + 1, PFEC_P | PFEC_W, wr(VA4K(2) + 1, 3));
	PF("user read of a supervisor page", VA4K(2), PFEC_P | PFEC_U, user_call(u_rd, VA4K(2)));
	map4k(2, pages[2], PTE_P | PTE_U);
	NOFAULT("user read of a user read-only page", user_call(u_rd, VA4K(2)));
	PF("user write of a user read-only page", VA4K(2), PFEC_P | PFEC_W | PFEC_U, user_call(u_wr, VA4K(2)));
	write_cr0(read_cr0() & ~CR0_WP);
	PF("user write to read-only ignores CR0.WP=0", VA4K(2), PFEC_P | PFEC_W | PFEC_U, user_call(u_wr, VA4K(2)));
	write_cr0(read_cr0() | CR0_WP);

	/* Rights combine across levels (SDM 3A 4.6.1). */
	map4k(3, pages[3], PTE_P | PTE_W | PTE_U);
	t_pd[0] &= ~PTE_W;
	flush_tlb();
	PF("PDE R/W=0 makes a writable PTE read-only", VA4K(3), PFEC_P | PFEC_W, wr(VA4K(3), 1));
	t_pd[0] |= PTE_W;
	t_pdpt[0] &= ~PTE_U;
	flush_tlb();
	PF("PDPTE U/S=0 makes a user PTE supervisor", VA4K(3), PFEC_P | PFEC_U, user_call(u_rd, VA4K(3)));
	t_pdpt[0] |= PTE_U;
	flush_tlb();
	NOFAULT("user access once all levels allow it", user_call(u_wr, VA4K(3)));

}

typedef u64 (*fn_t)(void);

static void test_nx(void)
{
	static const u8 code[] = { 0xb8, 42, 0, 0, 0, 0xc3 }; /* mov $42, %eax; ret */

	if (!HAS_NX()) {
		skip("NX not advertised");
		return;
	}
	wrmsr(0xc0000080, rdmsr(0xc0000080) | EFER_NXE);
	memcpy(pages[5], code, sizeof(code));
	map4k(5, pages[5], PTE_P | PTE_W);
	check(((fn_t)VA4K(5))() == 42, "execute a present page without NX");
	map4k(5, pages[5], PTE_P | PTE_W | PTE_NX);
	check(rd(VA4K(5)) == 0xb8, "NX page is readable");
	PF("execute an NX page", VA4K(5), PFEC_P | PFEC_I, ((fn_t)VA4K(5))());
	map4k(5, pages[5], 0);
	PF("execute a not-present page: I/D set", VA4K(5), PFEC_I, ((fn_t)VA4K(5))());

	/* An instruction that starts in an executable page and ends in a not-present one. */
	map4k(6, pages[6], PTE_P | PTE_W);
	map4k(7, pages[7], 0);
	pages[6][4093] = 0xb8; /* mov $imm32, %eax: 2 bytes here, 3 in the next page */
	pages[6][4094] = 1;
	pages[6][4095] = 2;
	int v = CATCH(((fn_t)(VA4K(6) + 4093))());
	check(v == PF_VECTOR && last_fault.cr2 == VA4K(7) && last_fault.rip == VA4K(6) + 4093 &&
		      last_fault.error == PFEC_I,
	      "fetch crossing into a not-present page: CR2 = next page, RIP = instruction (err %#lx cr2 %#lx)",
	      last_fault.error, last_fault.cr2);
	wrmsr(0xc0000080, rdmsr(0xc0000080) & ~EFER_NXE);
}

static volatile u64 pf_rcx, pf_rdi, pf_err, pf_cr2;
extern u8 stos_resume[];

/* Records the registers at the #PF and resumes after the REP STOSB. */
static void pf_record(struct frame *f)
{
	pf_rcx = f->rcx;
	pf_rdi = f->rdi;
	pf_err = f->error;
	pf_cr2 = read_cr2();
	f->rip = (u64)stos_resume;
}

static void test_string_fault(void)
{
	map4k(6, pages[6], PTE_P | PTE_W);
	map4k(7, pages[7], 0);
	memset(pages[6], 0, 4096);
	set_handler(PF_VECTOR, pf_record);
	u64 d = VA4K(6) + 4090, c = 20;
	asm volatile("rep stosb\n.globl stos_resume\nstos_resume:"
		     : "+D"(d), "+c"(c) : "a"(0x33) : "memory");
	set_handler(PF_VECTOR, NULL);
	/* REP string instructions fault with RCX/RDI describing the remaining work (SDM 2B REP). */
	check(pf_cr2 == VA4K(7) && pf_err == PFEC_W && pf_rcx == 14 && pf_rdi == VA4K(7),
	      "rep stosb into a not-present page: #PF at the boundary, RCX %llu RDI %#llx",
	      (unsigned long long)pf_rcx, (unsigned long long)pf_rdi);
	check(pages[6][4090] == 0x33 && pages[6][4095] == 0x33 && pages[6][4089] == 0,
	      "the 6 bytes before the boundary were stored");
}

static void test_invlpg(void)
{
	pages[0][0] = 0xaa;
	pages[1][0] = 0xbb;
	map4k(0, pages[0], PTE_P | PTE_W);
	check(rd(VA4K(0)) == 0xaa, "mapped to page A");
	t_pt[0] = (u64)pages[1] | PTE_P | PTE_W; /* stale translation may still be used */
	u8 stale = rd(VA4K(0));
	check(stale == 0xaa || stale == 0xbb, "after changing the PTE without a flush: A or B (%#x)", stale);
	invlpg((void *)VA4K(0));
	check(rd(VA4K(0)) == 0xbb, "after INVLPG: page B");
	t_pt[0] = (u64)pages[0] | PTE_P | PTE_W;
	write_cr3(read_cr3());
	check(rd(VA4K(0)) == 0xaa, "after MOV CR3: page A again");
	write_cr4(read_cr4() | CR4_PGE);
	t_pt[0] = (u64)pages[1] | PTE_P | PTE_W | PTE_G;
	invlpg((void *)VA4K(0));
	check(rd(VA4K(0)) == 0xbb, "global mapping");
	t_pt[0] = (u64)pages[0] | PTE_P | PTE_W | PTE_G;
	write_cr4(read_cr4() & ~CR4_PGE);
	check(rd(VA4K(0)) == 0xaa, "clearing CR4.PGE flushes global entries");
	t_pt[0] = 0;
	invlpg((void *)VA4K(0));
	PF("INVLPG of a now not-present page", VA4K(0), 0, rd(VA4K(0)));
}

static void identity_user(bool on)
{
	for (int i = 0; i < 2048; i++)
		pd[i] = on ? pd[i] | PTE_U : pd[i] & ~PTE_U;
	flush_tlb();
}

static void test_smep_smap(void)
{
	static const u8 code[] = { 0xb8, 7, 0, 0, 0, 0xc3 };

	memcpy(pages[5], code, sizeof(code));
	map4k(5, pages[5], PTE_P | PTE_W | PTE_U);
	if (HAS_SMEP()) {
		identity_user(false);
		write_cr4(read_cr4() | CR4_SMEP);
		PF("SMEP: CPL 0 executes a user page", VA4K(5), PFEC_P | PFEC_I, ((fn_t)VA4K(5))());
		NOFAULT("SMEP: CPL 0 reads a user page", rd(VA4K(5)));
		write_cr4(read_cr4() & ~CR4_SMEP);
		check(((fn_t)VA4K(5))() == 7, "without SMEP the user page executes");
		identity_user(true);
	} else {
		skip("SMEP not advertised");
	}
	if (HAS_SMAP()) {
		identity_user(false);
		write_cr4(read_cr4() | CR4_SMAP);
		PF("SMAP: CPL 0 reads a user page with AC=0", VA4K(5), PFEC_P, rd(VA4K(5)));
		PF("SMAP: CPL 0 writes a user page with AC=0", VA4K(5), PFEC_P | PFEC_W, wr(VA4K(5), 0xb8));
		NOFAULT("SMAP: STAC allows the access", asm volatile("stac; movb (%0), %%al; clac" : : "r"(VA4K(5)) : "rax"));
		write_cr4(read_cr4() & ~CR4_SMAP);
		identity_user(true);
	} else {
		skip("SMAP not advertised");
	}
}

int main(void)
{
	setup();
	test_basic();
	test_faults();
	test_nx();
	test_string_fault();
	test_invlpg();
	test_smep_smap();
	return report();
}
