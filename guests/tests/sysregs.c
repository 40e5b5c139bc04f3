// SPDX-License-Identifier: MIT
/*
 * sysregs: MOV to/from CR0 CR2 CR3 CR4 CR8, CLTS and CR0.TS, LMSW (cannot clear PE) and SMSW
 * (SDM 2A/2B), MOV DR0-DR3/DR6/DR7 (fixed bits of DR6/DR7, SDM 3B 19.2), LGDT/SGDT and
 * LIDT/SIDT round trips, LLDT/SLDT and a data segment loaded through the LDT, LTR/STR and the
 * busy bit (#GP on LTR of a busy TSS), LAR/LSL/VERR/VERW on good and bad selectors, FS/GS
 * base from the descriptor vs. the MSRs.
 */
#include "lib.h"

struct __attribute__((packed)) dtr {
	u16 limit;
	u64 base;
};

static u64 ldt[4];

static void test_cr(void)
{
	u64 cr0 = read_cr0(), v;

	check((cr0 & (CR0_PG | CR0_PE | CR0_ET)) == (CR0_PG | CR0_PE | CR0_ET), "CR0 PG PE ET set (%#llx)",
	      (unsigned long long)cr0);
	write_cr0(cr0 | CR0_TS);
	check(read_cr0() & CR0_TS, "MOV CR0 sets TS");
	asm volatile("clts");
	check(!(read_cr0() & CR0_TS), "CLTS clears TS");
	asm volatile("smsw %0" : "=r"(v));
	check((v & 0xffff) == (cr0 & 0xffff), "SMSW r = CR0[15:0] (%#llx)", (unsigned long long)v);
	u16 m;
	asm volatile("smsw %0" : "=m"(m));
	check(m == (u16)cr0, "SMSW m16");
	asm volatile("lmsw %w0" : : "r"((u16)(cr0 | CR0_TS | CR0_MP)));
	check((read_cr0() & (CR0_TS | CR0_MP)) == (CR0_TS | CR0_MP), "LMSW sets TS and MP");
	asm volatile("lmsw %w0" : : "r"(0));
	v = read_cr0();
	check((v & CR0_PE) && !(v & (CR0_TS | CR0_MP)) && (v & CR0_PG), "LMSW cannot clear PE, clears TS MP (%#llx)",
	      (unsigned long long)v);
	write_cr0(cr0);
	write_cr2(0x1234567890ull);
	check(read_cr2() == 0x1234567890ull, "CR2 is writable");
	check(read_cr3() == (u64)pml4, "CR3 = the PML4 the runtime loaded");
	check(read_cr4() & CR4_PAE, "CR4.PAE in long mode");
	u64 cr8;
	asm volatile("mov %0, %%cr8; mov %%cr8, %1" : : "r"(5ull), "r"(0ull));
	asm volatile("mov %%cr8, %0" : "=r"(cr8));
	check(cr8 == 5, "CR8 (TPR) round trip (%llu)", (unsigned long long)cr8);
	asm volatile("mov %0, %%cr8" : : "r"(0ull));
	int vec;
	vec = CATCH(asm volatile(".byte 0x0f, 0x20, 0xc8" ::: "rax")); /* mov %cr1, %rax */
	check(vec == UD_VECTOR, "MOV from CR1: #UD (vector %d)", vec);
}

static void test_dr(void)
{
	u64 v[4] = { 0x1000, 0x2000, 0xffff800000000000ull, 0x7fff0 }, r;

	asm volatile("mov %0, %%dr0" : : "r"(v[0]));
	asm volatile("mov %0, %%dr1" : : "r"(v[1]));
	asm volatile("mov %0, %%dr2" : : "r"(v[2]));
	asm volatile("mov %0, %%dr3" : : "r"(v[3]));
	u64 d0, d1, d2, d3;
	asm volatile("mov %%dr0, %0; mov %%dr1, %1; mov %%dr2, %2; mov %%dr3, %3" : "=r"(d0), "=r"(d1), "=r"(d2), "=r"(d3));
	check(d0 == v[0] && d1 == v[1] && d2 == v[2] && d3 == v[3], "DR0-DR3 round trip");
	asm volatile("mov %0, %%dr6; mov %%dr6, %0" : "=r"(r) : "0"(0ull));
	check((r & 0xffff0ff0) == 0xffff0ff0, "DR6 reserved bits read as 1 (%#llx)", (unsigned long long)r);
	asm volatile("mov %%dr7, %0" : "=r"(r));
	check((r & 0x400) == 0x400, "DR7 bit 10 reads as 1 (%#llx)", (unsigned long long)r);
	asm volatile("mov %0, %%dr7; mov %%dr7, %0" : "=r"(r) : "0"(0x400ull | 0x3));
	check((r & 0xff) == 0x3, "DR7 L0 G0 round trip");
	asm volatile("mov %0, %%dr7" : : "r"(0x400ull));
	int vec = CATCH(asm volatile("mov %0, %%dr7" : : "r"(1ull << 32)));
	check(vec == GP_VECTOR, "DR7 upper 32 bits must be 0: #GP (vector %d)", vec);
	asm volatile("mov %0, %%cr4" : : "r"(read_cr4() | BIT(3)));
	vec = CATCH(asm volatile("mov %%dr4, %%rax" ::: "rax"));
	check(vec == UD_VECTOR, "DR4 with CR4.DE=1: #UD (vector %d)", vec);
	asm volatile("mov %0, %%cr4" : : "r"(read_cr4() & ~BIT(3)));
	vec = CATCH(asm volatile("mov %%dr4, %%rax" ::: "rax"));
	check(vec == -1, "DR4 aliases DR6 with CR4.DE=0");
}

static void test_dt(void)
{
	struct dtr g, i, t = { 0x123, 0xffff800012345000ull }, back;

	asm volatile("sgdt %0" : "=m"(g));
	check(g.base == (u64)gdt && g.limit == 16 * 8 - 1, "SGDT = runtime GDT (base %#llx limit %#x)",
	      (unsigned long long)g.base, g.limit);
	asm volatile("sidt %0" : "=m"(i));
	check(i.limit == 256 * 16 - 1, "SIDT limit = 256 16-byte gates");
	asm volatile("cli; lidt %1; sidt %0; lidt %2" : "=m"(back) : "m"(t), "m"(i));
	check(back.base == t.base && back.limit == t.limit, "LIDT/SIDT round trip");
	asm volatile("lgdt %1; sgdt %0; lgdt %2" : "=m"(back) : "m"(t), "m"(g));
	check(back.base == t.base && back.limit == t.limit, "LGDT/SGDT round trip (no segment reload in between)");
	int vec;

	/* LDT: system descriptor type 2 in GDT slots 9-10, one data segment inside. */
	u64 b = (u64)ldt;
	ldt[1] = 0x00cf92000000ffffull;
	gdt[9] = (sizeof(ldt) - 1) | (b & 0xffffff) << 16 | 0x82ull << 40 | (b >> 24 & 0xff) << 56;
	gdt[10] = b >> 32;
	asm volatile("lldt %w0" : : "r"(9 * 8));
	u16 sel;
	asm volatile("sldt %0" : "=r"(sel));
	check(sel == 9 * 8, "LLDT/SLDT (%#x)", sel);
	static volatile u64 ds;
	vec = CATCH(asm volatile("mov %1, %%ds; mov %%ds, %0; mov %2, %%ds" : "=r"(ds) : "r"(0xc), "r"(SEL_KDATA)));
	check(vec == -1 && ds == 0xc, "data segment loaded through the LDT (TI=1)");
	vec = CATCH(asm volatile("mov %0, %%ds" : : "r"(0x1c)));
	check(vec == GP_VECTOR && last_fault.error == 0x1c, "LDT selector beyond the LDT limit: #GP(sel) (error %#lx)",
	      last_fault.error);
	asm volatile("mov %0, %%ds" : : "r"(SEL_KDATA));
	vec = CATCH(asm volatile("lldt %w0" : : "r"(SEL_KDATA)));
	check(vec == GP_VECTOR && last_fault.error == SEL_KDATA, "LLDT of a data descriptor: #GP(sel)");
	asm volatile("lldt %w0" : : "r"(0));
	gdt[9] = gdt[10] = 0;

	asm volatile("str %0" : "=r"(sel));
	check(sel == SEL_TSS, "STR = %#x", sel);
	check((gdt[SEL_TSS / 8] >> 40 & 0xf) == 0xb, "LTR marked the TSS busy (type 11)");
	vec = CATCH(asm volatile("ltr %w0" : : "r"(SEL_TSS)));
	check(vec == GP_VECTOR && last_fault.error == SEL_TSS, "LTR of a busy TSS: #GP(sel) (vector %d)", vec);
}

static void test_access_rights(void)
{
	u64 ar, lim, fl;

	asm volatile("lar %2, %0; pushf; pop %1" : "=r"(ar), "=r"(fl) : "r"((u64)SEL_KCODE));
	check((fl & RFLAGS_ZF) && (ar & 0xfffe00) == 0x209a00, "LAR kernel code = %#llx (accessed bit ignored)", (unsigned long long)ar);
	asm volatile("lsl %2, %0; pushf; pop %1" : "=r"(lim), "=r"(fl) : "r"((u64)SEL_KDATA));
	check((fl & RFLAGS_ZF) && lim == 0xffffffff, "LSL of a 4 GiB data segment = %#llx", (unsigned long long)lim);
	asm volatile("lsl %2, %0; pushf; pop %1" : "=r"(lim), "=r"(fl) : "r"((u64)SEL_TSS));
	check((fl & RFLAGS_ZF) && lim == 0x67, "LSL of the TSS = %#llx", (unsigned long long)lim);
	asm volatile("lar %2, %0; pushf; pop %1" : "=r"(ar), "=r"(fl) : "r"((u64)0x78));
	check(!(fl & RFLAGS_ZF), "LAR of a null descriptor: ZF=0");
	asm volatile("verr %1; pushf; pop %0" : "=r"(fl) : "r"((u16)SEL_KCODE));
	check(fl & RFLAGS_ZF, "VERR readable code");
	asm volatile("verw %1; pushf; pop %0" : "=r"(fl) : "r"((u16)SEL_KCODE));
	check(!(fl & RFLAGS_ZF), "VERW code: ZF=0");
	asm volatile("verw %1; pushf; pop %0" : "=r"(fl) : "r"((u16)SEL_KDATA));
	check(fl & RFLAGS_ZF, "VERW writable data");
}

static void test_fsgs(void)
{
	static u64 area[2] = { 0x1111, 0x2222 };
	u64 v;

	wrmsr(MSR_FS_BASE, (u64)area);
	asm volatile("mov %%fs:8, %0" : "=r"(v));
	check(v == 0x2222, "FS_BASE MSR sets the FS base");
	asm volatile("mov %0, %%fs" : : "r"(SEL_KDATA));
	check(rdmsr(MSR_FS_BASE) == 0, "loading FS from a descriptor loads its base (0)");
	wrmsr(MSR_GS_BASE, (u64)area);
	asm volatile("mov %%gs:0, %0" : "=r"(v));
	check(v == 0x1111, "GS_BASE MSR sets the GS base");
	wrmsr(MSR_GS_BASE, 0);
	asm volatile("mov %0, %%fs" : : "r"(0));
}

int main(void)
{
	test_cr();
	test_dr();
	test_dt();
	test_access_rights();
	test_fsgs();
	return report();
}
