// SPDX-License-Identifier: MIT
/*
 * pae32: PAE paging from 32-bit protected mode (SDM vol. 3A 4.4): four PDPTEs loaded at MOV
 * CR3 (4.4.1), 2 MiB pages identity-mapping 0-4 GiB, a 4 KiB page table at 1 GiB, 64-bit
 * entries, A/D bits, #PF error codes and
 * CR2, NX with EFER.NXE (if advertised).  (#GP for reserved PDPTE bits at MOV CR3 is not
 * checked: QEMU TCG does not implement it.)
 */
#include "lib.h"

#define VA(i) (0x40000000u + (u32)(i) * 4096)

static u64 pdpt[4] __attribute__((aligned(32)));
static u64 pds[4][512] __attribute__((aligned(4096)));
static u64 pt[512] __attribute__((aligned(4096)));
static u8 pages[3][4096] __attribute__((aligned(4096)));

static u8 rd(u32 va)
{
	asm volatile("" ::: "memory");
	return *(volatile u8 *)va;
}
static void wr(u32 va, u8 v)
{
	asm volatile("" ::: "memory");
	*(volatile u8 *)va = v;
	asm volatile("" ::: "memory");
}

#define PF(name, va, err, ...)                                                                \
	do {                                                                                  \
		int __v = CATCH(__VA_ARGS__);                                                 \
		check(__v == PF_VECTOR && last_fault.error == (err) && last_fault.cr2 == (va),  \
		      "%s: #PF error %#lx (want %#x) cr2 %#lx (vector %d)", name,              \
		      last_fault.error, (unsigned)(err), last_fault.cr2, __v);                  \
	} while (0)

typedef u32 (*fn_t)(void);

int main(void)
{
	if (!HAS_PAE()) {
		skip("PAE not advertised");
		return report();
	}
	for (int d = 0; d < 4; d++) {
		for (int i = 0; i < 512; i++)
			pds[d][i] = ((u64)d << 30) | ((u64)i << 21) | 0x87;
		pdpt[d] = (u32)pds[d] | 1; /* PDPTEs: only P and the address (R/W, U/S reserved) */
	}
	pds[1][0] = (u32)pt | 7;
	write_cr4(read_cr4() | CR4_PAE);
	write_cr3((u32)pdpt);
	write_cr0(read_cr0() | CR0_PG | CR0_WP);
	check((read_cr0() & CR0_PG) && (read_cr4() & CR4_PAE), "PAE paging enabled");

	pt[0] = (u32)pages[0] | 3;
	pages[0][1] = 0x11;
	check(rd(VA(0) + 1) == 0x11, "4 KiB PAE page");
	wr(VA(0), 0);
	check((pt[0] & 0x60) == 0x60 && (pds[1][0] & 0x20), "A/D in the 64-bit PTE, A in the PDE");
	rd(0x01000000);
	check(pds[0][8] & 0x20, "2 MiB page accessed bit");

	pt[1] = (u32)pages[1];
	invlpg((void *)VA(1));
	PF("not present", VA(1), 0, rd(VA(1)));
	pt[1] = (u32)pages[1] | 1;
	invlpg((void *)VA(1));
	PF("write to read-only", VA(1) + 4, PFEC_P | PFEC_W, wr(VA(1) + 4, 0));

	if (HAS_NX()) {
		wrmsr(0xc0000080, rdmsr(0xc0000080) | EFER_NXE);
		static const u8 code[] = { 0xb8, 9, 0, 0, 0, 0xc3 };
		memcpy(pages[2], code, sizeof(code));
		pt[2] = (u32)pages[2] | 3;
		invlpg((void *)VA(2));
		check(((fn_t)VA(2))() == 9, "execute without NX");
		pt[2] |= PTE_NX;
		invlpg((void *)VA(2));
		PF("execute with NX", VA(2), PFEC_P | PFEC_I, ((fn_t)VA(2))());
		wrmsr(0xc0000080, rdmsr(0xc0000080) & ~EFER_NXE);
	} else {
		skip("NX not advertised");
	}

	write_cr0(read_cr0() & ~CR0_PG);
	write_cr4(read_cr4() & ~CR4_PAE);
	return report();
}
