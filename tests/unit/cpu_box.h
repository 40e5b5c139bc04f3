/* SPDX-License-Identifier: MIT */
/*
 * A soft CPU in a box for instruction tests (test_sse, test_sse_host, test_xsave): 64-bit mode,
 * the first 2 MiB identity-mapped by one large page, CR4.OSFXSR and OSXMMEXCPT set, and every
 * exception exiting (exception bitmap all ones), so a fault ends the run with exit reason 0 and
 * its vector instead of going through a guest IDT. box_run() puts code at BOX_CODE followed by
 * HLT and runs it: -1 when it reached the HLT, else the vector of the exception.
 */
#pragma once
#include <stdlib.h>
#include <string.h>

#include "cpu/internal.h"
#include "vmx/vmx.h"

#define BOX_RAM (2u << 20)
#define BOX_GDT 0x1000
#define BOX_PML4 0x2000 /* PDPT and PD follow */
#define BOX_CODE 0x10000
#define BOX_DATA 0x20000 /* 64 KiB the tests use freely */
#define BOX_STACK 0x40000

struct box {
	struct cpu *c;
	u8 *ram;
	struct vm_exit ex;
	struct vmx_controls ctl;
};

static inline void box_w64(u8 *ram, u64 a, u64 v)
{
	memcpy(ram + a, &v, 8);
}

static inline void box_flat(struct x86_segment *s, u16 sel, u32 ar)
{
	s->sel = sel;
	s->base = 0;
	s->limit = 0xffffffff;
	s->ar = ar;
}

/* A box on BOX_RAM bytes of zeroed `ram` the caller allocated: CPUs in several boxes may share it
   (test_smp); box_init() allocates its own. */
static inline void box_init_ram(struct box *b, u8 *ram)
{
	struct cpu_config cfg = { 0 };
	struct x86_sregs s;

	b->ram = ram;
	cfg.ram = b->ram;
	cfg.ram_size = BOX_RAM;
	b->c = cpu_create(&cfg);
	if (!b->ram || !b->c)
		abort();
	cpu_set_jit(b->c, 0);
	box_w64(b->ram, BOX_GDT + 0x08, 0x00af9b000000ffffull);
	box_w64(b->ram, BOX_GDT + 0x10, 0x00cf93000000ffffull);
	memset(&s, 0, sizeof(s));
	box_flat(&s.seg[SEG_CS], 0x08, 0xa09b);
	for (unsigned i = SEG_ES; i <= SEG_GS; i++)
		if (i != SEG_CS)
			box_flat(&s.seg[i], 0x10, 0xc093);
	s.seg[SEG_LDTR].ar = AR_UNUSABLE;
	s.seg[SEG_TR].ar = 0x8b;
	s.seg[SEG_TR].limit = 0x67;
	s.gdt.base = BOX_GDT;
	s.gdt.limit = 0x17;
	box_w64(b->ram, BOX_PML4, (BOX_PML4 + 0x1000) | 3);
	box_w64(b->ram, BOX_PML4 + 0x1000, (BOX_PML4 + 0x2000) | 3);
	box_w64(b->ram, BOX_PML4 + 0x2000, 0x83); /* 2 MiB page at 0 */
	s.cr0 = CR0_PE | CR0_ET | CR0_NE | CR0_MP | CR0_PG;
	s.cr3 = BOX_PML4;
	s.cr4 = CR4_PAE | CR4_OSFXSR | CR4_OSXMMEXCPT;
	s.efer = EFER_LME | EFER_LMA;
	cpu_set_sregs(b->c, &s);
	memset(&b->ctl, 0, sizeof(b->ctl));
	b->ctl.exception_bitmap = ~0u;
	cpu_set_controls(b->c, &b->ctl);
}

static inline void box_init(struct box *b)
{
	box_init_ram(b, calloc(1, BOX_RAM));
}

static inline void box_free(struct box *b)
{
	cpu_destroy(b->c);
	free(b->ram);
}

/* Run n bytes of code (then HLT) from BOX_CODE: -1 at the HLT, else the exception vector; other
   exits return 256 + the basic exit reason. */
static inline int box_run(struct box *b, const u8 *code, size_t n)
{
	memcpy(b->ram + BOX_CODE, code, n);
	b->ram[BOX_CODE + n] = 0xf4;
	bc_invalidate_phys(b->c, BOX_CODE, (unsigned)n + 1);
	b->c->halted = 0;
	b->c->rip = BOX_CODE;
	b->c->gpr[R_RSP] = BOX_STACK;
	if (cpu_run(b->c, &b->ex) == CPU_RUN_HALTED)
		return -1;
	if ((b->ex.reason & 0xffff) == EXIT_REASON_EXCEPTION_NMI)
		return (int)(b->ex.intr_info & 0xff);
	return 256 + (int)(b->ex.reason & 0xffff);
}
