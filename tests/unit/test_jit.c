// SPDX-License-Identifier: MIT
/*
 * The block compiler (src/cpu/jit.c) against the interpreter: random straight-line blocks of the
 * forms the compiler inlines (ALU, TEST, INC/DEC, MOV, LEA with register, immediate, memory and
 * RIP-relative operands, 32- and 64-bit, REX registers, FS overrides, page-crossing accesses),
 * PUSH/POP, CALL/RET, JMP through a register or memory, shifts, MOVZX/MOVSX, byte MOV, mixed with forms it
 * leaves to the handlers (ADC, SBB, shifts, IMUL, NEG,
 * flag instructions), ending in a Jcc, a JMP, a loop back to the start (so compiled blocks enter
 * each other and themselves) or nothing, then HLT. Each block runs on two CPUs built alike, one
 * interpreting (cpu_set_jit 0) and one compiling every block at its first run (cpu_set_jit 1);
 * registers, RIP, RFLAGS (every arithmetic flag, materialized), the data pages, the retired
 * instruction count and the exit must be equal. Then: a self-modifying block (a compiled store
 * into its own page must stop the block and the new bytes must run), a store into the code page
 * of a later block, a code arena that fills just before a block runs (its page must stay watched
 * for writes), and a fault from a memory operand inside a compiled block (RIP, error code and
 * instruction count of the faulting instruction).
 *
 * The CPUs run in 64-bit mode, the first 2 MiB identity-mapped by one large page; HLT without HLT
 * exiting, with nothing to wake the CPU, ends cpu_run (CPU_RUN_HALTED). The random blocks run
 * again in flat 32-bit protected mode (box_init32: no REX, 40-4F as INC/DEC, absolute [disp32],
 * 16-bit addressing for the handlers, ESP near 0 and effective addresses that wrap at 4 GiB),
 * and eip_wrap32 runs code across the 4 GiB boundary.
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "cpu/internal.h"
#include "vmx/vmx.h"

#define RAM_SIZE (4u << 20) /* 32-bit: the top 4 MiB of the address space maps here too */
#define GDT 0x1000
#define IDT 0x2000
#define CODE 0x10000
#define DATA 0x20000   /* two pages the blocks read and write */
#define FS_BASE 0x1000 /* FS-relative operands land in DATA too */
#define STACK 0x30000
#define HANDLER 0x40000
#define PML4 0x50000 /* PDPT and PD follow: the first 2 MiB identity-mapped, nothing else */

struct box {
	struct cpu *c;
	u8 *ram;
	struct vm_exit ex;
	enum cpu_run_result ran;
};

/* The CPUs run flat 32-bit protected-mode code (box_init32) and the generator writes it. */
static bool m32;

static u64 rng = 0x9e3779b97f4a7c15ull;

static u64 rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static void w64(u8 *ram, u64 a, u64 v)
{
	memcpy(ram + a, &v, 8);
}

static void flat(struct x86_segment *s, u16 sel, u32 ar)
{
	s->sel = sel;
	s->base = 0;
	s->limit = 0xffffffff;
	s->ar = ar;
}

static void box_init(struct box *b, unsigned jit)
{
	struct cpu_config cfg = { 0 };
	struct x86_sregs s;
	static struct vmx_controls ctl;

	b->ram = calloc(1, RAM_SIZE);
	cfg.ram = b->ram;
	cfg.ram_size = RAM_SIZE;
	b->c = cpu_create(&cfg);
	cpu_set_jit(b->c, jit);
	w64(b->ram, GDT + 0x08, 0x00af9b000000ffffull);
	w64(b->ram, GDT + 0x10, 0x00cf93000000ffffull);
	/* Every vector: a gate to HLT, so a fault ends the run at HANDLER. */
	for (unsigned v = 0; v < 32; v++) {
		u64 off = HANDLER;
		w64(b->ram, IDT + v * 16,
		    (off & 0xffff) | 0x08ull << 16 | 0x8eull << 40 | ((off >> 16) & 0xffff) << 48);
		w64(b->ram, IDT + v * 16 + 8, 0);
	}
	b->ram[HANDLER] = 0xf4;
	memset(&s, 0, sizeof(s));
	flat(&s.seg[SEG_CS], 0x08, 0xa09b);
	for (unsigned i = SEG_ES; i <= SEG_GS; i++)
		if (i != SEG_CS)
			flat(&s.seg[i], 0x10, 0xc093);
	s.seg[SEG_FS].base = FS_BASE;
	s.seg[SEG_LDTR].ar = AR_UNUSABLE;
	s.seg[SEG_TR].ar = 0x8b;
	s.seg[SEG_TR].limit = 0x67;
	s.gdt.base = GDT;
	s.gdt.limit = 0x17;
	s.idt.base = IDT;
	s.idt.limit = 32 * 16 - 1;
	w64(b->ram, PML4, (PML4 + 0x1000) | 3);
	w64(b->ram, PML4 + 0x1000, (PML4 + 0x2000) | 3);
	w64(b->ram, PML4 + 0x2000, 0x83); /* 2 MiB page at 0 */
	s.cr0 = CR0_PE | CR0_ET | CR0_PG;
	s.cr3 = PML4;
	s.cr4 = CR4_PAE | CR4_OSFXSR; /* SSE on; random_blocks sets CR0.TS now and then */
	s.efer = EFER_LME | EFER_LMA;
	cpu_set_sregs(b->c, &s);
	memset(&ctl, 0, sizeof(ctl));
	cpu_set_controls(b->c, &ctl);
}

/*
 * The same in 32-bit protected mode (BLOCK_KEY_FLAT32): flat 32-bit CS, DS, ES, SS; FS with base
 * FS_BASE (not flat: FS operands go to the handlers); 32-bit paging with two 4 MiB pages, linear
 * 0 and FFC00000H both to physical 0, so ESP and effective addresses that wrap at 4 GiB land in
 * RAM (the last page of RAM is linear FFFFF000H).
 */
static void box_init32(struct box *b, unsigned jit)
{
	struct x86_sregs s;

	box_init(b, jit);
	cpu_get_sregs(b->c, &s);
	w64(b->ram, GDT + 0x08, 0x00cf9b000000ffffull);
	for (unsigned v = 0; v < 32; v++)
		w64(b->ram, IDT + v * 8,
		    (HANDLER & 0xffff) | 0x08ull << 16 | 0x8eull << 40 |
			    (u64)(HANDLER >> 16) << 48);
	flat(&s.seg[SEG_CS], 0x08, 0xc09b);
	s.idt.limit = 32 * 8 - 1;
	memset(b->ram + PML4, 0, 0x1000);
	w64(b->ram, PML4, 0x83);
	w64(b->ram, PML4 + 0xff8, 0x83ull << 32);
	s.cr4 = CR4_PSE | CR4_OSFXSR;
	s.efer = 0;
	cpu_set_sregs(b->c, &s);
}

static void box_free(struct box *b)
{
	cpu_destroy(b->c);
	free(b->ram);
}

/* --- A block generator --- */

struct gen {
	u8 buf[1024];
	unsigned n;
};

static void e1(struct gen *g, u8 v)
{
	g->buf[g->n++] = v;
}

static void e4(struct gen *g, u32 v)
{
	memcpy(g->buf + g->n, &v, 4);
	g->n += 4;
}

/* Registers a block may write: not RSP (the stack), RDI (the memory base) or R15 (the loop
   counter). */
static unsigned dst_reg(void)
{
	static const u8 r[] = { 0, 1, 2, 3, 5, 6, 8, 9, 10, 11, 12, 13, 14 };
	static const u8 r32[] = { 0, 1, 2, 3, 6 }; /* and not EBP, the loop counter */
	return m32 ? r32[rnd() % sizeof(r32)] : r[rnd() % sizeof(r)];
}

static unsigned any_reg(void)
{
	return (unsigned)(rnd() % (m32 ? 8 : 16));
}

/* Prefixes, REX and opcode for operand size w with ModRM.reg r and ModRM.rm/base m. */
/* LEA's ModRM and the rest: [disp32] (RIP-relative in 64-bit mode) or [base + index * scale +
   disp32], with random scale and displacement. */
static void lea_operand(struct gen *g, unsigned r, unsigned index, unsigned base)
{
	if (rnd() % 5 == 0) {
		e1(g, (u8)(0x05 | (r & 7) << 3));
		e4(g, (u32)rnd());
	} else {
		e1(g, (u8)(0x84 | (r & 7) << 3));
		e1(g, (u8)((rnd() % 4) << 6 | (index & 7) << 3 | (base & 7)));
		e4(g, (u32)rnd());
	}
}

static void op(struct gen *g, unsigned w, bool fs, u8 opc, unsigned r, unsigned m, bool twobyte)
{
	u8 rex = (u8)(0x40 | (w == 8 ? 8 : 0) | (r >= 8 ? 4 : 0) | (m >= 8 ? 1 : 0));
	u8 last = g->n ? g->buf[g->n - 1] : 0;
	bool pfx = last == 0x66 || last == 0x67 || last == 0xf2 || last == 0xf3;
	if (m32 && !pfx && rnd() % 8 == 0) /* 40-4F: INC/DEC r32 in 32-bit code */
		e1(g, (u8)(0x40 | (rnd() % 2) << 3 | dst_reg()));
	if (fs)
		e1(g, 0x64);
	if (m32)
		;
	else if (rex != 0x40 || rnd() % 8 == 0) /* an empty REX now and then */
		e1(g, rex);
	if (twobyte)
		e1(g, 0x0f);
	e1(g, opc);
}

static void modrm_reg(struct gen *g, unsigned r, unsigned m)
{
	e1(g, (u8)(0xc0 | (r & 7) << 3 | (m & 7)));
}

/*
 * A memory operand in DATA: [rdi + disp] (RDI = DATA, or FS_BASE below it under FS), or
 * RIP-relative. `tail` is the immediate size after the ModRM, for the RIP-relative displacement.
 * Displacements reach the end of the first page, so some accesses cross into the second.
 */
static void modrm_mem(struct gen *g, unsigned r, bool fs, unsigned tail)
{
	u32 off = (u32)(rnd() % 100 < 15 ? 0xff8 + rnd() % 8 : rnd() % 0x1ff8);
	if (m32 && !fs && rnd() % 4 == 0) { /* [disp32] */
		e1(g, (u8)(0x05 | (r & 7) << 3));
		e4(g, DATA + off);
		return;
	}
	if (m32 && rnd() % 8 == 0) { /* [edi + disp32] wrapping at 4 GiB into page 0 */
		e1(g, (u8)(0x87 | (r & 7) << 3));
		e4(g, (u32)(0 - DATA) + (off & 0xfff) - (fs ? FS_BASE : 0));
		return;
	}
	if (!fs && rnd() % 4 == 0) {
		e1(g, (u8)(0x05 | (r & 7) << 3));
		u64 next = CODE + g->n + 4 + tail;
		e4(g, (u32)(DATA + off - next));
		return;
	}
	e1(g, (u8)(0x87 | (r & 7) << 3)); /* [rdi + disp32] */
	e4(g, fs ? off - FS_BASE : off);
}

static void imm(struct gen *g, unsigned size)
{
	u32 v = (u32)rnd();
	if (rnd() % 4 == 0)
		v = (u32)(rnd() % 3) - 1; /* 0, 1, -1 */
	if (size == 1)
		e1(g, (u8)v);
	else
		e4(g, v);
}

/* One instruction; inline forms most of the time. */
static void gen_insn(struct gen *g)
{
	static const u8 alu_mr[] = { 0x01, 0x09, 0x21, 0x29, 0x31, 0x39, 0x85 };
	static const u8 alu_rm[] = { 0x03, 0x0b, 0x23, 0x2b, 0x33, 0x3b };
	unsigned w = rnd() % 3 && !m32 ? 8 : 4, k = (unsigned)(rnd() % 33);
	bool fs = rnd() % 6 == 0;

	switch (k) {
	case 3: { /* ALU r, r/m: register */
		unsigned r = dst_reg(), m = any_reg();
		op(g, w, false, alu_rm[rnd() % 6], r, m, false);
		modrm_reg(g, r, m);
		break;
	}
	case 4: { /* ALU r/m, imm32 / imm8 */
		unsigned m = dst_reg(), sub = (unsigned)(rnd() % 8);
		bool i8 = rnd() % 2;
		if (sub == 2 || sub == 3)
			sub = 7; /* ADC/SBB come as handler forms below */
		op(g, w, false, i8 ? 0x83 : 0x81, sub, m, false);
		modrm_reg(g, sub, m);
		imm(g, i8 ? 1 : 4);
		break;
	}
	case 5: { /* ALU mem, r (read-modify-write or CMP/TEST); LOCK now and then (compiled as the
		     plain form on one host thread: jit.c form_of) */
		unsigned r = any_reg();
		u8 opc = alu_mr[rnd() % 7];
		if (opc != 0x39 && opc != 0x85 && rnd() % 4 == 0)
			e1(g, 0xf0);
		op(g, w, fs, opc, r, 7, false);
		modrm_mem(g, r, fs, 0);
		break;
	}
	case 6: { /* ALU r, mem */
		unsigned r = dst_reg();
		op(g, w, fs, alu_rm[rnd() % 6], r, 7, false);
		modrm_mem(g, r, fs, 0);
		break;
	}
	case 7: { /* ALU mem, imm */
		unsigned sub = (unsigned)(rnd() % 8);
		bool i8 = rnd() % 2;
		if (sub == 2 || sub == 3)
			sub = 0;
		if (sub != 7 && rnd() % 4 == 0)
			e1(g, 0xf0); /* LOCK, as above */
		op(g, w, fs, i8 ? 0x83 : 0x81, sub, 7, false);
		modrm_mem(g, sub, fs, i8 ? 1 : 4);
		imm(g, i8 ? 1 : 4);
		break;
	}
	case 8: { /* INC / DEC register */
		unsigned m = dst_reg(), sub = (unsigned)(rnd() % 2);
		op(g, w, false, 0xff, sub, m, false);
		modrm_reg(g, sub, m);
		break;
	}
	case 9: { /* MOV r/m, r and r, r/m: registers */
		unsigned r = any_reg(), m = dst_reg();
		if (rnd() % 2) {
			op(g, w, false, 0x89, r, m, false);
			modrm_reg(g, r, m);
		} else {
			op(g, w, false, 0x8b, m, r, false);
			modrm_reg(g, m, r);
		}
		break;
	}
	case 10: { /* MOV r, imm: B8+r (imm32 or imm64) or C7 /0 */
		unsigned m = dst_reg();
		if (rnd() % 2) {
			op(g, w, false, (u8)(0xb8 | (m & 7)), 0, m, false);
			imm(g, 4);
			if (w == 8)
				e4(g, (u32)rnd());
		} else {
			op(g, w, false, 0xc7, 0, m, false);
			modrm_reg(g, 0, m);
			imm(g, 4);
		}
		break;
	}
	case 11: case 12: { /* MOV mem, r / r, mem / mem, imm */
		unsigned r = dst_reg(), form = (unsigned)(rnd() % 3);
		op(g, w, fs, form == 0 ? 0x89 : form == 1 ? 0x8b : 0xc7, form == 2 ? 0 : r, 7,
		   false);
		modrm_mem(g, form == 2 ? 0 : r, fs, form == 2 ? 4 : 0);
		if (form == 2)
			imm(g, 4);
		break;
	}
	case 13: { /* LEA with base, index, scale, displacement; or RIP-relative */
		unsigned r = dst_reg(), base = any_reg(), index = any_reg();
		if (index == 4)
			index = 5;
		if (m32) { /* 32-bit addressing wraps at 4 GiB; 67H: 16-bit (the handler) */
			bool a16 = rnd() % 8 == 0;
			if (a16)
				e1(g, 0x67);
			e1(g, 0x8d);
			if (a16) {
				e1(g, (u8)(0x80 | (r & 7) << 3 | (rnd() % 8)));
				e1(g, (u8)rnd());
				e1(g, (u8)rnd());
			} else {
				lea_operand(g, r, index, base);
			}
			break;
		}
		if (rnd() % 8 == 0)
			e1(g, 0x67); /* 32-bit address size */
		u8 rex = (u8)(0x40 | (w == 8 ? 8 : 0) | (r >= 8 ? 4 : 0) | (index >= 8 ? 2 : 0) |
			      (base >= 8 ? 1 : 0));
		e1(g, rex);
		e1(g, 0x8d);
		lea_operand(g, r, index, base);
		break;
	}
	case 14: { /* ADC/SBB register and immediate, ROL/ROR/SHL/SHR/SAR imm, NEG, NOT */
		unsigned m = dst_reg(), r = any_reg(), f = (unsigned)(rnd() % 4);
		if (f == 0) {
			unsigned g3 = (unsigned)(rnd() % 3);
			bool sbb = rnd() % 2;
			if (g3 == 0) { /* 11/19 r/m, r */
				op(g, w, false, sbb ? 0x19 : 0x11, r, m, false);
				modrm_reg(g, r, m);
			} else if (g3 == 1) { /* 13/1B r, r/m */
				op(g, w, false, sbb ? 0x1b : 0x13, m, r, false);
				modrm_reg(g, m, r);
			} else { /* 83 /2, /3 ib */
				op(g, w, false, 0x83, sbb ? 3 : 2, m, false);
				modrm_reg(g, sbb ? 3 : 2, m);
				imm(g, 1);
			}
		} else if (f == 1) { /* ROL ROR (inline: LF_CFOF) SHL SHR SAL SAR */
			static const unsigned subs[] = { 0, 1, 4, 5, 6, 7 };
			unsigned sub = subs[rnd() % 6];
			op(g, w, false, 0xc1, sub == 6 ? 4 : sub, m, false);
			modrm_reg(g, sub == 6 ? 4 : sub, m);
			e1(g, (u8)(rnd() % 70));
		} else {
			op(g, w, false, 0xf7, f == 2 ? 3 : 2, m, false);
			modrm_reg(g, f == 2 ? 3 : 2, m);
		}
		break;
	}
	case 15: { /* IMUL r, r/m; IMUL r, r/m, imm32 / imm8; and the memory form (a handler) */
		unsigned r = dst_reg(), m = any_reg(), f = (unsigned)(rnd() % 4);
		if (f == 0) {
			op(g, w, false, 0xaf, r, 7, true);
			modrm_mem(g, r, false, 0);
		} else if (f == 1) {
			op(g, w, false, 0xaf, r, m, true);
			modrm_reg(g, r, m);
		} else {
			op(g, w, false, f == 2 ? 0x69 : 0x6b, r, m, false);
			modrm_reg(g, r, m);
			imm(g, f == 2 ? 4 : 1);
		}
		break;
	}
	case 17: { /* PUSH / POP of a register */
		bool pop = rnd() % 2;
		unsigned r = pop ? dst_reg() : any_reg();
		if (r >= 8)
			e1(g, 0x41);
		e1(g, (u8)((pop ? 0x58 : 0x50) | (r & 7)));
		break;
	}
	case 18: /* CALL to a RET that returns to a JMP over it: three blocks */
		e1(g, 0xe8);
		e4(g, 2);
		e1(g, 0xeb);
		e1(g, 1);
		e1(g, 0xc3);
		break;
	case 19: { /* JMP through RAX or through memory to just past a HLT; now and then to a
		      non-canonical address (#GP, ending at the handler) */
		static const u8 lea[] = { 0x48, 0x8d, 0x05, 0, 0, 0, 0 }; /* lea rax, [rip+d] */
		bool bad = rnd() % 8 == 0, mem = rnd() % 2;
		if (m32) { /* mov eax, target; jmp eax / mov [edi+16], eax; jmp [edi+16] */
			e1(g, 0xb8);
			e4(g, CODE + g->n + 4 + (mem ? 6 : 2) + 1);
			bad = false;
		} else if (bad) {
			e1(g, 0x48);
			e1(g, 0xb8);
			e4(g, 0);
			e4(g, 0x80000000u);
		} else if (!m32) {
			memcpy(g->buf + g->n, lea, sizeof(lea));
			g->n += sizeof(lea);
			/* past the JMP (2 or 3 bytes, plus the MOV's 4) and the HLT */
			u32 d = mem ? 4 + 3 + 1 : 2 + 1;
			memcpy(g->buf + g->n - 4, &d, 4);
		}
		if (mem) {
			static const u8 mj[] = { 0x48, 0x89, 0x47, 0x10, 0xff, 0x67, 0x10 };
			memcpy(g->buf + g->n, mj + m32, sizeof(mj) - m32);
			g->n += sizeof(mj) - m32;
		} else {
			e1(g, 0xff);
			e1(g, 0xe0);
		}
		e1(g, 0xf4);
		break;
	}
	case 20: { /* ROL/ROR/SHL/SHR/SAR by 1 (D1) */
		static const unsigned subs[] = { 0, 1, 4, 5, 6, 7 };
		unsigned m = dst_reg(), sub = subs[rnd() % 6];
		op(g, w, false, 0xd1, sub, m, false);
		modrm_reg(g, sub, m);
		break;
	}
	case 21: { /* MOVZX/MOVSX r, r8/r16 (AH-BH without REX) */
		unsigned r = dst_reg(), m = any_reg();
		u8 opc = (u8)(0xb6 + rnd() % 2 + (rnd() % 2) * 8);
		op(g, w, false, opc, r, m, true);
		modrm_reg(g, r, m);
		break;
	}
	case 22: { /* MOVZX/MOVSX r, m8/m16 */
		unsigned r = dst_reg();
		u8 opc = (u8)(0xb6 + rnd() % 2 + (rnd() % 2) * 8);
		op(g, w, fs, opc, r, 7, true);
		modrm_mem(g, r, fs, 0);
		break;
	}
	case 23: { /* byte and word MOV: r, r (88/89, 8A/8B); m, r; r, m; m, imm. Destinations are
		      never RSP's or RDI's slot (SPL/AH, DIL/BH with or without REX: the stack and
		      the base). */
		unsigned dst = dst_reg(), src = any_reg(), form = (unsigned)(rnd() % 4);
		bool word = rnd() % 2;
		if (word)
			e1(g, 0x66);
		if (form == 0) {
			bool to_rm = rnd() % 2;
			op(g, 4, false, (u8)((to_rm ? 0x88 : 0x8a) | word), to_rm ? src : dst,
			   to_rm ? dst : src, false);
			modrm_reg(g, to_rm ? src : dst, to_rm ? dst : src);
		} else if (form == 3) {
			op(g, 4, fs, (u8)(0xc6 | word), 0, 7, false);
			modrm_mem(g, 0, fs, word ? 2 : 1);
			imm(g, 1);
			if (word)
				imm(g, 1);
		} else {
			unsigned r = form == 1 ? src : dst;
			op(g, 4, fs, (u8)((form == 1 ? 0x88 : 0x8a) | word), r, 7, false);
			modrm_mem(g, r, fs, 0);
		}
		break;
	}
	case 24:
	case 25: { /* byte and word ALU: r/m, r; r, r/m; r/m, imm; AL/AX, imm; with memory */
		static const u8 alu8[] = { 0x00, 0x08, 0x20, 0x28, 0x30, 0x38, 0x84 };
		unsigned r = any_reg(), m = dst_reg(), form = (unsigned)(rnd() % 5);
		unsigned sub = (unsigned)(rnd() % 8);
		bool word = rnd() % 2, mem = rnd() % 3 == 0;
		if (sub == 2 || sub == 3)
			sub = 7; /* ADC/SBB stay handler forms */
		if (word)
			e1(g, 0x66);
		if (form == 0 || form == 1) { /* 00-38 r/m, r (84 TEST); 02-3A r, r/m */
			u8 opc = (u8)(alu8[rnd() % (form ? 6 : 7)] | word | (form ? 2 : 0));
			unsigned rr = form ? m : r, mm = form ? r : m;
			op(g, 4, mem && fs, opc, rr, mem ? 7 : mm, false);
			if (mem)
				modrm_mem(g, rr, fs, 0);
			else
				modrm_reg(g, rr, mm);
		} else if (form == 2) { /* 80 /sub ib; 66 81 /sub iw; 66 83 /sub ib */
			bool i8 = !word || rnd() % 2;
			op(g, 4, mem && fs, word ? (i8 ? 0x83 : 0x81) : 0x80, sub, mem ? 7 : m, false);
			if (mem)
				modrm_mem(g, sub, fs, i8 ? 1 : 2);
			else
				modrm_reg(g, sub, m);
			imm(g, 1);
			if (!i8)
				imm(g, 1);
		} else if (form == 3) { /* 04-3C AL/AX, imm; A8/A9 TEST */
			e1(g, (u8)((rnd() % 7 == 6 ? 0xa8 : (sub << 3 | 4)) | word));
			imm(g, 1);
			if (word)
				imm(g, 1);
		} else { /* F6 /0 ib, 66 F7 /0 iw: TEST r/m, imm */
			op(g, 4, mem && fs, (u8)(0xf6 | word), 0, mem ? 7 : m, false);
			if (mem)
				modrm_mem(g, 0, fs, word ? 2 : 1);
			else
				modrm_reg(g, 0, m);
			imm(g, 1);
			if (word)
				imm(g, 1);
		}
		break;
	}
	case 26: { /* TEST r/m32/64, imm32 (F7 /0) */
		unsigned m = any_reg();
		op(g, w, false, 0xf7, 0, m, false);
		modrm_reg(g, 0, m);
		imm(g, 4);
		break;
	}
	case 27: { /* CMOVcc r, r; SETcc r8 (the flags' kind known or not: anything before) */
		unsigned r = dst_reg(), m = any_reg(), cc = (unsigned)(rnd() % 16);
		if (rnd() % 2) {
			op(g, w, false, (u8)(0x40 | cc), r, m, true);
			modrm_reg(g, r, m);
		} else {
			op(g, 4, false, (u8)(0x90 | cc), 0, r, true);
			modrm_reg(g, 0, r);
		}
		break;
	}
	case 28: { /* NOP: 90, 66 90, 0F 1F /0 with a memory operand */
		unsigned f = (unsigned)(rnd() % 3);
		if (f == 0) {
			e1(g, 0x90);
		} else if (f == 1) {
			e1(g, 0x66);
			e1(g, 0x90);
		} else {
			op(g, 4, false, 0x1f, 0, 7, true);
			modrm_mem(g, 0, false, 0);
		}
		break;
	}
	case 29: { /* MOVSXD r, r/m32 (63; without REX.W a plain 32-bit move); not ARPL */
		unsigned r = dst_reg(), m = any_reg();
		if (m32) {
			op(g, 4, false, 0x8b, r, m, false);
			modrm_reg(g, r, m);
			break;
		}
		bool mem = rnd() % 2;
		op(g, w, mem && fs, 0x63, r, mem ? 7 : m, false);
		if (mem)
			modrm_mem(g, r, fs, 0);
		else
			modrm_reg(g, r, m);
		break;
	}
	case 30: { /* shifts and rotates by CL (D3), the count from MOV CL, imm now and then */
		unsigned m = dst_reg(), sub = (unsigned)(rnd() % 8);
		if (rnd() % 2) {
			e1(g, 0xb1); /* mov cl, imm8: 0, small, the width and beyond */
			e1(g, (u8)(rnd() % 4 == 0 ? 0 : rnd() % 80));
		}
		op(g, w, false, 0xd3, sub, m, false);
		modrm_reg(g, sub, m);
		break;
	}
	case 31: { /* byte and word shifts and rotates by 1 (D0/D1) or imm (C0/C1) */
		unsigned m = dst_reg(), sub = (unsigned)(rnd() % 8);
		bool word = rnd() % 2, one = rnd() % 3 == 0;
		if (word)
			e1(g, 0x66);
		op(g, 4, false, (u8)((one ? 0xd0 : 0xc0) | word), sub, m, false);
		modrm_reg(g, sub, m);
		if (!one)
			e1(g, (u8)(rnd() % 2 ? rnd() % 40 : rnd()));
		break;
	}
	case 32: { /* SSE: 128-bit moves and SSE2 integer/bitwise ops (inline), register or memory
		      operand, aligned or not (#GP for the aligned forms); PSHUFD/LW/HW */
		static const u8 ops[] = { 0xfc, 0xfd, 0xfe, 0xd4, 0xf8, 0xf9, 0xfa, 0xfb, 0xdb, 0xdf,
					  0xeb, 0xef, 0x74, 0x75, 0x76, 0x70, 0x6f, 0x7f, 0x28,
					  0x29, 0x10, 0x11, 0x54, 0x55, 0x56, 0x57 };
		u8 o = ops[rnd() % sizeof(ops)], pfx = 0x66;
		unsigned r = any_reg(), m = any_reg();
		bool mem = rnd() % 2;
		if (o == 0x6f || o == 0x7f || o == 0x70)
			pfx = (u8[]){ 0x66, 0x66, 0xf3, 0xf2 }[rnd() % 4]; /* MOVDQU, PSHUFHW/LW */
		else if (o == 0x28 || o == 0x29 || o == 0x10 || o == 0x11 || (o >= 0x54 && o <= 0x57))
			pfx = rnd() % 2 ? 0x66 : 0; /* the PS forms have none */
		if ((o == 0x6f || o == 0x7f) && pfx == 0xf2)
			pfx = 0x66;
		if (pfx)
			e1(g, pfx);
		op(g, 4, false, o, r, mem ? 0 : m, true);
		if (mem)
			modrm_mem(g, r, false, o == 0x70);
		else
			modrm_reg(g, r, m);
		if (o == 0x70)
			e1(g, (u8)rnd());
		break;
	}
	case 16: /* CF from the flag instructions: STC CLC CMC */
		e1(g, (u8)(0xf8 + rnd() % 2 * 1 + (rnd() % 3 == 0 ? 4 : 0)));
		if (g->buf[g->n - 1] == 0xfc || g->buf[g->n - 1] == 0xfd)
			g->buf[g->n - 1] = 0xf5; /* not CLD/STD */
		break;
	default: /* more plain register ALU */
		{
			unsigned r = any_reg(), m = dst_reg();
			op(g, w, false, alu_mr[rnd() % 7], r, m, false);
			modrm_reg(g, r, m);
		}
		break;
	}
}

/* --- Running both --- */

static void load(struct box *b, const struct gen *g, const u64 *regs, u64 rflags, const u8 *data,
		 u64 rsp)
{
	struct x86_regs r;

	memcpy(b->ram + CODE, g->buf, g->n);
	bc_invalidate_phys(b->c, CODE, 0x1000);
	memcpy(b->ram + DATA, data, 0x2000);
	memcpy(r.gpr, regs, sizeof(r.gpr));
	r.gpr[R_RSP] = rsp;
	r.gpr[R_RDI] = DATA;
	r.rip = CODE;
	r.rflags = rflags;
	cpu_set_regs(b->c, &r);
	b->c->halted = 0;
}

static void run(struct box *b)
{
	b->ran = cpu_run(b->c, &b->ex);
}

static bool same(struct box *a, struct box *b, const char *what, unsigned iter)
{
	struct x86_regs ra, rb;
	cpu_get_regs(a->c, &ra);
	cpu_get_regs(b->c, &rb);
	bool ok = !memcmp(ra.gpr, rb.gpr, sizeof(ra.gpr)) && ra.rip == rb.rip &&
		  ra.rflags == rb.rflags && a->ran == b->ran && a->ex.reason == b->ex.reason &&
		  cpu_icount(a->c) == cpu_icount(b->c) &&
		  !memcmp(a->ram + DATA, b->ram + DATA, 0x2000) &&
		  !memcmp(a->ram + STACK - 0x1000, b->ram + STACK - 0x1000, 0x2000) &&
		  !memcmp(a->ram, b->ram, 0x1000) &&
		  !memcmp(a->ram + RAM_SIZE - 0x1000, b->ram + RAM_SIZE - 0x1000, 0x1000);
	struct x86_fpu fa, fb;
	cpu_get_fpu(a->c, &fa);
	cpu_get_fpu(b->c, &fb);
	if (memcmp(fa.xmm, fb.xmm, sizeof(fa.xmm))) {
		fprintf(stderr, "%s %u: XMM registers differ\n", what, iter);
		ok = false;
	}
	if (!ok) {
		fprintf(stderr, "%s %u: rip %#llx/%#llx rflags %#llx/%#llx icount %llu/%llu\n", what,
			iter, (unsigned long long)ra.rip, (unsigned long long)rb.rip,
			(unsigned long long)ra.rflags, (unsigned long long)rb.rflags,
			(unsigned long long)cpu_icount(a->c), (unsigned long long)cpu_icount(b->c));
		for (unsigned i = 0; i < 16; i++)
			if (ra.gpr[i] != rb.gpr[i])
				fprintf(stderr, "  r%u %#llx/%#llx\n", i,
					(unsigned long long)ra.gpr[i], (unsigned long long)rb.gpr[i]);
	}
	return ok;
}

/* mode32: in flat 32-bit protected mode (box_init32), ESP now and then near 0 to wrap. */
static void random_blocks(bool mode32)
{
	struct box a, b;
	unsigned bad = 0, runs = 20000, halted = 0;
	static u8 data[0x2000];

	m32 = mode32;
	(m32 ? box_init32 : box_init)(&a, 0);
	(m32 ? box_init32 : box_init)(&b, 1);
	for (unsigned it = 0; it < runs; it++) {
		struct gen g = { .n = 0 };
		u64 regs[16];
		unsigned n = 1 + (unsigned)(rnd() % 24), end = (unsigned)(rnd() % 4);
		unsigned loop_start = 0;

		if (end == 3) { /* mov r15d, K; L: body; dec r15d; jnz L: the loop block chains
				   (EBP in 32-bit code) */
			if (!m32)
				e1(&g, 0x41);
			e1(&g, m32 ? 0xbd : 0xbf);
			e4(&g, 1 + (u32)(rnd() % 6));
			loop_start = g.n;
		}
		for (unsigned i = 0; i < n; i++)
			gen_insn(&g);
		if (end == 3) {
			if (!m32)
				e1(&g, 0x41);
			e1(&g, 0xff);
			e1(&g, m32 ? 0xcd : 0xcf);
			e1(&g, 0x0f);
			e1(&g, 0x85);
			e4(&g, (u32)(loop_start - (g.n + 4)));
		} else if (end == 0) { /* Jcc over one HLT: the final RIP tells which way it went */
			e1(&g, (u8)(0x70 | rnd() % 16));
			e1(&g, 1);
		} else if (end == 1) {
			e1(&g, 0xeb);
			e1(&g, 1);
		}
		e1(&g, 0xf4);
		e1(&g, 0xf4);
		for (unsigned i = 0; i < 16; i++)
			regs[i] = rnd() % 4 ? rnd() : rnd() % 4 - 1;
		for (unsigned i = 0; i < sizeof(data); i += 8)
			memcpy(data + i, &(u64){ rnd() }, 8);
		u64 fl = (rnd() & X86_ARITH_FLAGS) | X86_FIXED1;
		/* One block in eight with CR0.TS set: SSE raises #NM (compiled code tests it) */
		bool ts = rnd() % 8 == 0;
		for (struct box *x = &a; x; x = x == &a ? &b : NULL) {
			struct x86_sregs sr;
			cpu_get_sregs(x->c, &sr);
			sr.cr0 = ts ? sr.cr0 | CR0_TS : sr.cr0 & ~(u64)CR0_TS;
			cpu_set_sregs(x->c, &sr);
		}
		u64 rsp = m32 && rnd() % 4 == 0 ? 8 * (rnd() % 4) : STACK;
		load(&a, &g, regs, fl, data, rsp);
		load(&b, &g, regs, fl, data, rsp);
		run(&a);
		run(&b);
		if (!same(&a, &b, "block", it) && ++bad > 5)
			break;
		if (a.ran != CPU_RUN_HALTED) {
			/* a triple fault (the stack run off the mapped memory) leaves the CPUs
			   mid-delivery: start afresh */
			box_free(&a);
			box_free(&b);
			(m32 ? box_init32 : box_init)(&a, 0);
			(m32 ? box_init32 : box_init)(&b, 1);
			continue;
		}
		halted++;
	}
	/* Most blocks end at their HLT, not in a triple fault */
	CHECK(halted > runs * 9 / 10);
	CHECK(bad == 0);
	CHECK(a.ran == CPU_RUN_HALTED);
	box_free(&a);
	box_free(&b);
	m32 = false;
}

/*
 * 32-bit code at the top of the address space: EIP wraps at 4 GiB. Linear FFFFFFE0H (the end of
 * RAM, box_init32) and linear 0:
 *   FFFFFFE0: inc eax; dec ebp; jz 20; jmp 10    (both targets past 4 GiB before the wrap)
 *   10:       inc ecx; jmp FFFFFFE0
 *   20:       hlt                                (RIP 21H after it)
 *   FFFFFFFC: inc eax x 4                        (falls through to 0: RIP not yet wrapped)
 *   0:        hlt
 * Interpreted and compiled at the first run, twice from each start: the same registers, RIP and
 * count.
 */
static void eip_wrap32(void)
{
	static const u8 top[] = { 0x40, 0x4d, 0x0f, 0x84, 0x38, 0, 0, 0, 0xe9, 0x23, 0, 0, 0 };
	static const u8 low[] = { 0xf4, [0x10] = 0x41, 0xe9, 0xca, 0xff, 0xff, 0xff,
				  [0x20] = 0xf4 };
	struct box b[2];

	m32 = true;
	for (unsigned k = 0; k < 2; k++) {
		box_init32(&b[k], k);
		memcpy(b[k].ram + RAM_SIZE - 0x20, top, sizeof(top));
		memset(b[k].ram + RAM_SIZE - 4, 0x40, 4);
		memcpy(b[k].ram, low, sizeof(low));
	}
	for (unsigned round = 0; round < 4; round++) {
		bool loop = round < 2;
		for (unsigned k = 0; k < 2; k++) {
			struct x86_regs r = { 0 };
			r.gpr[R_RSP] = STACK;
			r.gpr[R_RBP] = 5;
			r.rip = loop ? 0xffffffe0 : 0xfffffffc;
			r.rflags = X86_FIXED1;
			cpu_set_regs(b[k].c, &r);
			b[k].c->halted = 0;
			run(&b[k]);
		}
		CHECK(same(&b[0], &b[1], "eip wrap", round));
		CHECK_EQ(b[1].ran, CPU_RUN_HALTED);
		CHECK_EQ(b[1].c->gpr[R_RAX], loop ? 5 : 4);
		CHECK_EQ(b[1].c->gpr[R_RCX], loop ? 4 : 0);
		CHECK_EQ(b[1].c->rip, loop ? 0x21 : 0x100000001ull);
	}
	CHECK(b[1].c->jit_stats.compiled > 0);
	for (unsigned k = 0; k < 2; k++)
		box_free(&b[k]);
	m32 = false;
}

/*
 * A compiled block stores into its own code: the block stops after the store and the new byte
 * runs. Both CPUs first run the block once unchanged (so it is compiled), then with the store
 * live.
 *   mov byte [rip + x], 0x90 ... inc eax ... x: hlt ... hlt
 */
static void self_modifying(void)
{
	/* 0: mov dword [rip+disp], ecx   (89 0d disp32): rewrites the 4 bytes at X
	   6: inc eax; 8: inc eax
	   10 (X): 4 bytes: hlt hlt hlt hlt, or after the store: inc edx (ff c2) nop nop
	   14: hlt */
	static const u8 code[] = { 0x89, 0x0d, 0x04, 0x00, 0x00, 0x00, 0xff, 0xc0, 0xff, 0xc0,
				   0xf4, 0xf4, 0xf4, 0xf4, 0xf4 };
	struct box b[2];
	u64 regs[16] = { 0 };
	static u8 data[0x2000];

	for (unsigned k = 0; k < 2; k++)
		box_init(&b[k], k);
	for (unsigned round = 0; round < 3; round++) {
		for (unsigned k = 0; k < 2; k++) {
			struct gen g = { .n = sizeof(code) };
			memcpy(g.buf, code, sizeof(code));
			/* round 0: store the same HLTs; then: INC EDX; NOP; NOP */
			regs[R_RCX] = round ? 0x9090c2ffull : 0xf4f4f4f4ull;
			load(&b[k], &g, regs, X86_FIXED1, data, STACK);
			run(&b[k]);
		}
		CHECK(same(&b[0], &b[1], "smc round", round));
		struct x86_regs r;
		cpu_get_regs(b[1].c, &r);
		CHECK_EQ(r.gpr[R_RAX], 2);
		CHECK_EQ(r.gpr[R_RDX], round ? 1 : 0);
		CHECK_EQ(r.rip, CODE + (round ? 15 : 11));
	}
	for (unsigned k = 0; k < 2; k++)
		box_free(&b[k]);
}

/*
 * The code arena fills while a block is about to run (block_compile flushes every block): the
 * running block's page must still be watched for writes. A loop rewrites its next instruction
 * from HLT to NOP before running it and back after, so every round decodes and (eager) compiles
 * its blocks anew: ROUNDS rounds compile several times what the 64 MiB code arena holds (it
 * filled after about 45,000 when this test was written). A stale decoded HLT ends the run early.
 */
static void arena_full_mid_block(void)
{
	/* 0: mov ecx, ROUNDS
	   5 (L): mov byte [rip + X], 0x90   (c6 05 disp32 imm8: 7 bytes)
	   12 (X): hlt -> nop
	   13: inc eax
	   15: mov byte [rip + X], 0xf4      (disp32 = 12 - 22)
	   22: dec ecx
	   24: jnz L                          (75 rel8 = 5 - 26)
	   26: hlt */
	enum { ROUNDS = 150000 };
	static const u8 code[] = { 0xb9, ROUNDS & 0xff, (ROUNDS >> 8) & 0xff, ROUNDS >> 16, 0x00,
				   0xc6, 0x05, 0x00, 0x00, 0x00, 0x00, 0x90,
				   0xf4,
				   0xff, 0xc0,
				   0xc6, 0x05, 0xf6, 0xff, 0xff, 0xff, 0xf4,
				   0xff, 0xc9,
				   0x75, 0xeb,
				   0xf4 };
	struct box b;
	u64 regs[16] = { 0 };
	static u8 data[0x2000];
	struct gen g = { .n = sizeof(code) };
	struct x86_regs r;

	memcpy(g.buf, code, sizeof(code));
	box_init(&b, 1);
	load(&b, &g, regs, X86_FIXED1, data, STACK);
	run(&b);
	cpu_get_regs(b.c, &r);
	CHECK_EQ(r.gpr[R_RAX], ROUNDS);
	CHECK_EQ(r.rip, CODE + 27);
	CHECK_EQ(b.ram[CODE + 12], 0xf4);
	box_free(&b);
}

/*
 * A direct branch links its block to the target's compiled block (jit.c gen_chain_known); when
 * the target's code is rewritten the link must go with it. A loop on one page jumps to a block on
 * the next page and back; then the guest rewrites the target's INC EAX into INC EDX and runs
 * the whole thing again, through the same linked jumps.
 *   0: mov ecx, N
 *   5: jmp L               (the next instruction: L is a block of its own)
 *   7 (L): jmp T           (T, the next page: inc eax; jmp C)
 *   12 (C): dec ecx
 *   14: jnz L
 *   16: mov byte [rip + T + 1 - 23], 0xc2
 *   23: inc esi
 *   25: cmp esi, 2
 *   28: jb 0
 *   30: hlt
 * In the second round L's linked jump runs before anything looks T up again.
 */
static void linked_target_rewritten(void)
{
	enum { N = 50, T = 0x1000 };
	static const u8 code[] = { 0xb9, N,    0,    0,	   0,	 0xeb, 0x00, 0xe9, 0xf4, 0x0f,
				   0x00, 0x00, 0xff, 0xc9, 0x75, 0xf7, 0xc6, 0x05, 0xea, 0x0f,
				   0x00, 0x00, 0xc2, 0xff, 0xc6, 0x83, 0xfe, 0x02, 0x72, 0xe2,
				   0xf4 };
	/* T: inc eax (ff c0); jmp C (e9 rel32 = 12 - (T + 7)) */
	static const u8 target[] = { 0xff, 0xc0, 0xe9, 0x05, 0xf0, 0xff, 0xff };
	struct box b[2];
	u64 regs[16] = { 0 };
	static u8 data[0x2000];

	for (unsigned k = 0; k < 2; k++) {
		struct gen g = { .n = sizeof(code) };

		memcpy(g.buf, code, sizeof(code));
		box_init(&b[k], k);
		memcpy(b[k].ram + CODE + T, target, sizeof(target));
		load(&b[k], &g, regs, X86_FIXED1, data, STACK);
		run(&b[k]);
	}
	CHECK(same(&b[0], &b[1], "linked target rewritten", 0));
	struct x86_regs r;
	cpu_get_regs(b[1].c, &r);
	CHECK_EQ(r.gpr[R_RAX], N);
	CHECK_EQ(r.gpr[R_RDX], N);
	CHECK_EQ(r.gpr[R_RSI], 2);
	CHECK_EQ(r.rip, CODE + 31);
	for (unsigned k = 0; k < 2; k++)
		box_free(&b[k]);
}

/* A memory operand whose page is not mapped faults inside a compiled block: #PF with the RIP,
   error code, CR2 and instruction count of the faulting instruction. */
static void fault_in_block(void)
{
	/* inc eax; inc eax; mov rcx, [rdx]; inc eax; hlt -- RDX not mapped */
	static const u8 code[] = { 0xff, 0xc0, 0xff, 0xc0, 0x48, 0x8b, 0x0a, 0xff, 0xc0, 0xf4 };
	struct box b[2];
	u64 regs[16] = { 0 };
	static u8 data[0x2000];

	regs[R_RDX] = 0x400008;
	for (unsigned k = 0; k < 2; k++) {
		struct gen g = { .n = sizeof(code) };
		memcpy(g.buf, code, sizeof(code));
		box_init(&b[k], k);
		load(&b[k], &g, regs, X86_FIXED1, data, STACK);
		run(&b[k]);
	}
	CHECK(same(&b[0], &b[1], "fault", 0));
	struct x86_regs r;
	cpu_get_regs(b[1].c, &r);
	CHECK_EQ(r.gpr[R_RAX], 2);
	CHECK_EQ(r.rip, HANDLER + 1);
	/* the #PF frame: RIP of the MOV, error code 0 (not present, read, supervisor) */
	u64 frame_rip, err;
	memcpy(&err, b[1].ram + r.gpr[R_RSP], 8);
	memcpy(&frame_rip, b[1].ram + r.gpr[R_RSP] + 8, 8);
	CHECK_EQ(frame_rip, CODE + 4);
	CHECK_EQ(err, 0);
	struct x86_sregs sr;
	cpu_get_sregs(b[1].c, &sr);
	CHECK_EQ(sr.cr2, 0x400008);
	/* INC, INC retired; the MOV did not; then HLT at the handler */
	CHECK_EQ(cpu_icount(b[1].c), 3);
	for (unsigned k = 0; k < 2; k++)
		box_free(&b[k]);
}

int main(void)
{
	random_blocks(false);
	random_blocks(true);
	eip_wrap32();
	self_modifying();
	linked_target_rewritten();
	arena_full_mid_block();
	fault_in_block();
	return check_done("jit");
}
