// SPDX-License-Identifier: MIT
/*
 * paging32: 32-bit paging (CR4.PAE=0, SDM vol. 3A 4.3) from 32-bit protected mode: a page
 * directory of 4 MiB PSE pages identity-mapping 0-4 GiB (CR4.PSE) plus a 4 KiB page table at
 * 1 GiB; A/D bits in PDE and PTE; #PF error codes and CR2 for not-present, read-only with
 * CR0.WP, user access to supervisor pages; INVLPG; a 4 MiB alias.
 */
#include "lib.h"

#define VA(i) (0x40000000u + (u32)(i) * 4096)

static u32 pgdir[1024] __attribute__((aligned(4096)));
static u32 pt[1024] __attribute__((aligned(4096)));
static u8 pages[4][4096] __attribute__((aligned(4096)));

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
static u32 u_rd(u32 va) { return *(volatile u8 *)va; }

#define PF(name, va, err, ...)                                                                \
	do {                                                                                  \
		int __v = CATCH(__VA_ARGS__);                                                 \
		check(__v == PF_VECTOR && last_fault.error == (err) && last_fault.cr2 == (va),  \
		      "%s: #PF error %#lx (want %#x) cr2 %#lx (vector %d)", name,              \
		      last_fault.error, (unsigned)(err), last_fault.cr2, __v);                  \
	} while (0)

int main(void)
{
	if (!HAS_PSE()) {
		skip("PSE not advertised");
		return report();
	}
	for (u32 i = 0; i < 1024; i++)
		pgdir[i] = i << 22 | 0x87; /* P RW US PS */
	pgdir[VA(0) >> 22] = (u32)pt | 7;
	write_cr4(read_cr4() | CR4_PSE);
	write_cr3((u32)pgdir);
	write_cr0(read_cr0() | CR0_PG | CR0_WP);
	check(read_cr0() & CR0_PG, "32-bit paging enabled (CR0 %#lx, CR4 %#lx)", read_cr0(), read_cr4());

	pt[0] = (u32)pages[0] | 3;
	pages[0][9] = 0x99;
	check(rd(VA(0) + 9) == 0x99, "4 KiB page reads the physical page");
	check((pt[0] & 0x60) == 0x20 && (pgdir[VA(0) >> 22] & 0x20), "read sets A in PTE and PDE, not D");
	wr(VA(0), 1);
	check(pt[0] & 0x40, "write sets D in the PTE");
	rd(0x800000 + 5);
	check((pgdir[2] & 0x20) && !(pgdir[2] & 0x40), "4 MiB page: A set on read");
	wr(0x800000 + 5, 1);
	check(pgdir[2] & 0x40, "4 MiB page: D set on write");

	pt[1] = (u32)pages[1];
	invlpg((void *)VA(1));
	PF("read not present", VA(1), 0, rd(VA(1)));
	PF("write not present", VA(1) + 3, PFEC_W, wr(VA(1) + 3, 0));
	pt[1] = (u32)pages[1] | 1;
	invlpg((void *)VA(1));
	PF("write to read-only with CR0.WP=1", VA(1), PFEC_P | PFEC_W, wr(VA(1), 0));
	write_cr0(read_cr0() & ~CR0_WP);
	int v = CATCH(wr(VA(1), 5));
	check(v == -1 && pages[1][0] == 5, "write to read-only with CR0.WP=0 succeeds at CPL 0");
	write_cr0(read_cr0() | CR0_WP);
	PF("user read of a supervisor page", VA(1), PFEC_P | PFEC_U, user_call(u_rd, VA(1)));
	pt[1] |= 4;
	invlpg((void *)VA(1));
	check(user_call(u_rd, VA(1)) == 5, "user read of a user page");
	pgdir[VA(0) >> 22] &= ~4u;
	write_cr3(read_cr3());
	PF("PDE U/S=0 overrides a user PTE", VA(1), PFEC_P | PFEC_U, user_call(u_rd, VA(1)));
	pgdir[VA(0) >> 22] |= 4;
	write_cr3(read_cr3());

	pages[2][0] = 0x22;
	pages[3][0] = 0x33;
	pt[2] = (u32)pages[2] | 3;
	invlpg((void *)VA(2));
	check(rd(VA(2)) == 0x22, "mapped to page A");
	pt[2] = (u32)pages[3] | 3;
	invlpg((void *)VA(2));
	check(rd(VA(2)) == 0x33, "INVLPG: page B");
	check(rd(0x40400000 + (u32)&pages[0][9] - 0x40400000 + 0) == 0x99, "identity 4 MiB pages still map the image");
	write_cr0(read_cr0() & ~CR0_PG);
	check(!(read_cr0() & CR0_PG), "paging off again");
	return report();
}
