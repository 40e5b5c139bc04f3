// SPDX-License-Identifier: MIT
/*
 * The x87 FPU and MMX (src/cpu/fpu.c, fpu_host.c, mmx.c) against known answers from the SDM:
 * small programs run on the soft CPU (decoder, handlers, fault delivery) in 64-bit mode, 32-bit
 * protected mode and real-address mode. Cases: power-up and FNINIT state, constants under every
 * rounding control, precision control, FIST/FISTTP rounding, stack overflow and underflow (masked
 * and not), the tag word of every encoding class, unsupported, denormal and pseudo-denormal
 * operands, SNaN, zero divide, FBLD/FBSTP, FIST overflow, FCOMI/FCMOVcc, the instruction and
 * data pointers, FNSTENV/FLDENV/FNSAVE/FRSTOR in their four formats, FXSAVE/FXRSTOR in both
 * formats and modes, #NM (CR0.TS, EM, MP), #MF, the FERR#/IGNNE# path, MMX aliasing and a few
 * MMX edge cases, invalid encodings, and the CR4.OSFXSR / CPUID side.
 * tests/unit/test_fpu_host.c compares random sequences with the host CPU instead.
 *
 * The box: 1 MiB of RAM; code at CODE (then HLT), data at DATA (rbx/ebx/bx point there); an IDT
 * whose gate v leads to a HLT at HANDLERS + 16 v, so the vector of a fault is where the CPU halts.
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "cpu/fpu.h"
#include "vmx/vmx.h"

#define RAM_SIZE (1u << 20)
#define GDT	 0x1000
#define IDT	 0x2000
#define HANDLERS 0x3000
#define PML4	 0x5000
#define STACK	 0x9000
#define CODE	 0x10000
#define DATA	 0x20000

#define RAN    -1 /* reached the end of the code */
#define FROZEN -2 /* halted on an instruction: the FERR# freeze */

static struct cpu *c;
static u8 *ram;
static unsigned bits;
static int ferr_level, ferr_calls;

static void ferr_cb(void *opaque, bool asserted)
{
	ferr_level = asserted;
	ferr_calls++;
}

static void w64(u64 a, u64 v)
{
	memcpy(ram + a, &v, 8);
}

static u64 r64(u64 a)
{
	u64 v;

	memcpy(&v, ram + a, 8);
	return v;
}

static u32 r32(u64 a)
{
	u32 v;

	memcpy(&v, ram + a, 4);
	return v;
}

static u16 r16(u64 a)
{
	u16 v;

	memcpy(&v, ram + a, 2);
	return v;
}

static void put80(u64 a, u16 se, u64 m)
{
	memcpy(ram + a, &m, 8);
	memcpy(ram + a + 8, &se, 2);
}

static struct x86_segment seg(u16 sel, u64 base, u32 limit, u32 ar)
{
	return (struct x86_segment){ .sel = sel, .base = base, .limit = limit, .ar = ar };
}

/* A CPU in 64-bit mode (b = 64, paging, first 2 MiB identity-mapped), 32-bit protected mode or
   real-address mode (b = 16: CS 1000H, DS 2000H, so CODE and DATA are at offset 0). */
static void box(unsigned b, u64 cr0_extra, u64 cr4)
{
	struct cpu_config cfg = { 0 };
	struct x86_sregs s;
	static struct vmx_controls ctl;

	if (c)
		cpu_destroy(c);
	free(ram);
	ram = calloc(1, RAM_SIZE);
	cfg.ram = ram;
	cfg.ram_size = RAM_SIZE;
	cfg.ferr = ferr_cb;
	c = cpu_create(&cfg);
	if (!ram || !c)
		abort();
	bits = b;
	ferr_level = ferr_calls = 0;
	memset(&s, 0, sizeof(s));
	w64(GDT + 0x08, 0x00af9b000000ffffull); /* 64-bit code */
	w64(GDT + 0x10, 0x00cf93000000ffffull); /* data */
	w64(GDT + 0x18, 0x00cf9b000000ffffull); /* 32-bit code */
	for (unsigned v = 0; v < 32; v++) {
		u64 off = HANDLERS + 16 * v;

		ram[off] = 0xf4;
		if (b == 64) {
			w64(IDT + v * 16, (off & 0xffff) | 0x08ull << 16 | 0x8eull << 40 |
						  ((off >> 16) & 0xffff) << 48);
			w64(IDT + v * 16 + 8, 0);
		} else if (b == 32) {
			w64(IDT + v * 8, (off & 0xffff) | 0x18ull << 16 | 0x8eull << 40 |
						 ((off >> 16) & 0xffff) << 48);
		}
	}
	s.seg[SEG_LDTR].ar = AR_UNUSABLE;
	s.seg[SEG_TR] = seg(0, 0, 0x67, 0x8b);
	s.gdt = (struct x86_dtable){ GDT, 0x1f };
	if (b == 64) {
		s.seg[SEG_CS] = seg(0x08, 0, ~0u, 0xa09b);
		for (unsigned i = SEG_ES; i <= SEG_GS; i++)
			if (i != SEG_CS)
				s.seg[i] = seg(0x10, 0, ~0u, 0xc093);
		s.idt = (struct x86_dtable){ IDT, 32 * 16 - 1 };
		w64(PML4, (PML4 + 0x1000) | 3);
		w64(PML4 + 0x1000, (PML4 + 0x2000) | 3);
		w64(PML4 + 0x2000, 0x83);
		s.cr0 = CR0_PE | CR0_ET | CR0_PG | CR0_NE | cr0_extra;
		s.cr3 = PML4;
		s.cr4 = CR4_PAE | cr4;
		s.efer = EFER_LME | EFER_LMA;
	} else if (b == 32) {
		s.seg[SEG_CS] = seg(0x18, 0, ~0u, 0xc09b);
		for (unsigned i = SEG_ES; i <= SEG_GS; i++)
			if (i != SEG_CS)
				s.seg[i] = seg(0x10, 0, ~0u, 0xc093);
		s.idt = (struct x86_dtable){ IDT, 32 * 8 - 1 };
		s.cr0 = CR0_PE | CR0_ET | CR0_NE | cr0_extra;
		s.cr4 = cr4;
	} else {
		s.seg[SEG_CS] = seg(CODE >> 4, CODE, 0xffff, 0x9b);
		for (unsigned i = SEG_ES; i <= SEG_GS; i++)
			if (i != SEG_CS)
				s.seg[i] = seg(DATA >> 4, DATA, 0xffff, 0x93);
		s.seg[SEG_SS] = seg(0, 0, 0xffff, 0x93);
		s.idt = (struct x86_dtable){ 0, 0x3ff };
		s.cr0 = CR0_ET | CR0_NE | cr0_extra;
		s.cr4 = cr4;
	}
	cpu_set_sregs(c, &s);
	memset(&ctl, 0, sizeof(ctl));
	cpu_set_controls(c, &ctl);
}

/* Code under construction; M() appends a memory operand [rbx/ebx/bx + off] with ModRM.reg r. */
static u8 code[512];
static unsigned ncode;

static void E(int n, ...)
{
	va_list ap;

	va_start(ap, n);
	for (int i = 0; i < n; i++)
		code[ncode++] = (u8)va_arg(ap, int);
	va_end(ap);
}

static void M(u8 op, unsigned r, u16 off)
{
	code[ncode++] = op;
	if (bits == 16) {
		code[ncode++] = (u8)(0x80 | r << 3 | 7); /* [bx + disp16] */
		code[ncode++] = (u8)off;
		code[ncode++] = (u8)(off >> 8);
	} else {
		code[ncode++] = (u8)(0x80 | r << 3 | 3); /* [rbx + disp32] */
		for (unsigned i = 0; i < 4; i++)
			code[ncode++] = (u8)((u32)off >> (8 * i));
	}
}

/* Runs the code built so far (then empties it); the x87 state carries over between runs. */
static int run(void)
{
	struct x86_regs r;
	struct vm_exit ex;
	u64 base = bits == 16 ? 0 : CODE;

	memcpy(ram + CODE, code, ncode);
	ram[CODE + ncode] = 0xf4;
	bc_invalidate_phys(c, CODE, 0x1000);
	cpu_get_regs(c, &r);
	r.gpr[R_RBX] = bits == 16 ? 0 : DATA;
	r.gpr[R_RSP] = STACK;
	r.rip = base;
	cpu_set_regs(c, &r);
	c->halted = 0;
	(void)cpu_run(c, &ex);
	cpu_get_regs(c, &r);
	if (r.rip == base + ncode + 1) {
		ncode = 0;
		return RAN;
	}
	ncode = 0;
	if (r.rip >= base && r.rip < base + 512)
		return FROZEN;
	return (int)((r.rip - 1 - HANDLERS) / 16);
}

/* ST(i) as stored: sign and exponent, mantissa. */
static u16 st_se(unsigned i)
{
	u16 v;

	memcpy(&v, c->fpu.st[i] + 8, 2);
	return v;
}

static u64 st_m(unsigned i)
{
	u64 v;

	memcpy(&v, c->fpu.st[i], 8);
	return v;
}

static unsigned top(void)
{
	return (c->fpu.fsw >> 11) & 7;
}

#define FNINIT()     E(2, 0xdb, 0xe3)
#define FLD1()	     E(2, 0xd9, 0xe8)
#define FLDCW(off)   M(0xd9, 5, off)
#define FNSTENV(off) M(0xd9, 6, off)
#define FLDENV(off)  M(0xd9, 4, off)
#define FLDT(off)    M(0xdb, 5, off)
#define FLDL(off)    M(0xdd, 0, off)

static void set_cw(u16 cw)
{
	memcpy(ram + DATA + 0x1f0, &cw, 2);
	FLDCW(0x1f0);
}

/* --- Cases --- */

static void test_reset_and_init(void)
{
	box(64, 0, 0);
	/* Power-up (SDM vol. 3A Table 9-1) */
	CHECK_EQ(c->fpu.fcw, 0x0040);
	CHECK_EQ(c->fpu.fsw, 0);
	CHECK_EQ(c->fpu.ftw, 0xff);
	CHECK_EQ(c->fpu.mxcsr, 0x1f80);
	/* every register full and every exception unmasked: FLD1 overflows, writes nothing */
	FLD1();
	E(2, 0xdf, 0xe0);
	CHECK_EQ(run(), RAN);
	CHECK_EQ((u16)c->gpr[R_RAX], FSW_B | FSW_C1 | FSW_ES | FSW_SF | FSW_IE);
	FNINIT();
	FLD1();
	FNINIT();
	CHECK_EQ(run(), RAN);
	CHECK_EQ(c->fpu.fcw, 0x037f);
	CHECK_EQ(c->fpu.fsw, 0);
	CHECK_EQ(c->fpu.ftw, 0);
	CHECK_EQ(c->fpu.fip, 0);
	CHECK_EQ(c->fpu.fop, 0);
	/* FNINIT keeps the registers: R7 still holds 1.0, now in the slot of ST(7). */
	CHECK_EQ(st_se(7), 0x3fff);
	CHECK_EQ(st_m(7), 1ull << 63);
}

static void test_constants(void)
{
	static const struct {
		u16 rc;
		u64 pi;
	} cases[] = { { 0, 0xc90fdaa22168c235ull },
		      { 1, 0xc90fdaa22168c234ull },
		      { 2, 0xc90fdaa22168c235ull },
		      { 3, 0xc90fdaa22168c234ull } };

	box(64, 0, 0);
	/* FLDPI rounds the internal 66-bit constant with RC (SDM vol. 2A FLD1/FLDL2T/...) */
	for (unsigned i = 0; i < 4; i++) {
		FNINIT();
		set_cw((u16)(0x37f | cases[i].rc << 10));
		E(2, 0xd9, 0xeb); /* FLDPI */
		CHECK_EQ(run(), RAN);
		CHECK_EQ(st_se(0), 0x4000);
		CHECK_EQ(st_m(0), cases[i].pi);
	}
	FNINIT();
	E(2, 0xd9, 0xee); /* FLDZ */
	FLD1();
	CHECK_EQ(run(), RAN);
	CHECK_EQ(st_se(0), 0x3fff);
	CHECK_EQ(st_m(0), 1ull << 63);
	CHECK_EQ(st_se(1), 0);
	CHECK_EQ(st_m(1), 0);
	CHECK_EQ(top(), 6);
	CHECK_EQ(c->fpu.ftw, 0xc0); /* R6 and R7 */
}

/* 1/3 with each precision control (SDM vol. 1 8.1.5.2): rounded to 24, 53 and 64 bits; C1 says
   whether the rounding went up. */
static void test_precision(void)
{
	static const struct {
		u16 pc;
		u64 m;
		bool up;
	} cases[] = { { 0, 0xaaaaab0000000000ull, true },
		      { 2, 0xaaaaaaaaaaaaa800ull, false },
		      { 3, 0xaaaaaaaaaaaaaaabull, true } };

	box(64, 0, 0);
	put80(DATA, 0x4000, 0xc000000000000000ull); /* 3.0 */
	for (unsigned i = 0; i < 3; i++) {
		FNINIT();
		set_cw((u16)(0x7f | cases[i].pc << 8));
		FLD1();
		FLDT(0);
		E(2, 0xde, 0xf9); /* FDIVP: ST(1) = ST(1) / ST(0), pop */
		CHECK_EQ(run(), RAN);
		CHECK_EQ(st_se(0), 0x3ffd);
		CHECK_EQ(st_m(0), cases[i].m);
		CHECK_EQ(!!(c->fpu.fsw & FSW_C1), cases[i].up);
		CHECK(c->fpu.fsw & FSW_PE);
	}
}

/* FISTP m32 under each rounding control, FISTTP truncating whatever RC says. */
static void test_rounding(void)
{
	static const struct {
		u16 se;
		u64 m;
		s32 want[4]; /* nearest, down, up, zero */
	} cases[] = {
		{ 0x4000, 0xa000000000000000ull, { 2, 2, 3, 2 } },     /* 2.5 */
		{ 0xc000, 0xa000000000000000ull, { -2, -3, -2, -2 } }, /* -2.5 */
		{ 0x4000, 0xe000000000000000ull, { 4, 3, 4, 3 } },     /* 3.5 */
		{ 0x3ffe, 0xc000000000000000ull, { 1, 0, 1, 0 } },     /* 0.75 */
	};

	box(64, 0, 0);
	for (unsigned i = 0; i < ARRAY_SIZE(cases); i++) {
		put80(DATA, cases[i].se, cases[i].m);
		for (unsigned rc = 0; rc < 4; rc++) {
			FNINIT();
			set_cw((u16)(0x37f | rc << 10));
			FLDT(0);
			M(0xdb, 3, 0x40); /* FISTP m32int */
			FLDT(0);
			M(0xdb, 1, 0x44); /* FISTTP m32int */
			CHECK_EQ(run(), RAN);
			CHECK_EQ((s32)r32(DATA + 0x40), cases[i].want[rc]);
			CHECK_EQ((s32)r32(DATA + 0x44), cases[i].want[3]);
			CHECK(c->fpu.fsw & FSW_PE);
		}
	}
}

/* Stack overflow and underflow (SDM vol. 1 8.5.1.1): IE and SF, C1 = 1 for overflow, 0 for
   underflow; masked, the QNaN indefinite is written; unmasked, nothing changes and the next
   waiting instruction takes #MF. */
static void test_stack_faults(void)
{
	box(64, 0, 0);
	FNINIT();
	for (unsigned i = 0; i < 9; i++)
		FLD1();
	CHECK_EQ(run(), RAN);
	CHECK_EQ(c->fpu.fsw & (FSW_IE | FSW_SF | FSW_C1 | FSW_ES), FSW_IE | FSW_SF | FSW_C1);
	CHECK_EQ(top(), 7);
	CHECK_EQ(st_se(0), 0xffff); /* indefinite */
	CHECK_EQ(st_m(0), 0xc000000000000000ull);

	FNINIT();
	E(2, 0xd8, 0xc1); /* FADD ST(0), ST(1): both empty */
	CHECK_EQ(run(), RAN);
	CHECK_EQ(c->fpu.fsw & (FSW_IE | FSW_SF | FSW_C1), FSW_IE | FSW_SF);
	CHECK_EQ(c->fpu.ftw, 0x01); /* the indefinite went to ST(0) = R0 */

	FNINIT();
	set_cw(0x37e); /* invalid operation unmasked */
	E(2, 0xd8, 0xc1);
	CHECK_EQ(run(), RAN);
	CHECK_EQ(c->fpu.fsw & (FSW_IE | FSW_SF | FSW_ES | FSW_B), FSW_IE | FSW_SF | FSW_ES | FSW_B);
	CHECK_EQ(c->fpu.ftw, 0); /* nothing written */
	CHECK_EQ(top(), 0);
	E(2, 0xdf, 0xe0); /* FNSTSW AX: no wait */
	CHECK_EQ(run(), RAN);
	CHECK_EQ((u16)c->gpr[R_RAX], c->fpu.fsw);
	FLD1(); /* waits: #MF, on the FLD1 */
	CHECK_EQ(run(), X86_MF);
	CHECK_EQ(r64(STACK - 40), CODE); /* the pushed RIP */
	CHECK_EQ(c->fpu.ftw, 0);
	E(2, 0xdb, 0xe2); /* FNCLEX */
	FLD1();
	CHECK_EQ(run(), RAN);
	CHECK_EQ(c->fpu.ftw, 0x80);
}

/* FNSTENV's full tag word (SDM vol. 1 8.1.7): 00 valid, 01 zero, 10 special, 11 empty. */
static void test_tags(void)
{
	static const struct {
		u16 se;
		u64 m;
		unsigned tag;
	} v[] = {
		{ 0x3fff, 1ull << 63, 0 },	      /* 1.0 */
		{ 0x8000, 0, 1 },		      /* -0 */
		{ 0x0000, 1, 2 },		      /* denormal */
		{ 0x0000, 1ull << 63, 2 },	      /* pseudo-denormal */
		{ 0x7fff, 1ull << 63, 2 },	      /* infinity */
		{ 0x7fff, 0xc000000000000001ull, 2 }, /* NaN */
		{ 0x3fff, 1, 2 },		      /* unnormal */
	};
	u16 want = 0;

	box(64, 0, 0);
	FNINIT();
	for (unsigned i = 0; i < ARRAY_SIZE(v); i++) {
		put80(DATA + 16 * i, v[i].se, v[i].m);
		FLDT(16 * i);
		/* pushed i-th: TOP = 7 - i, physical register 7 - i */
		want |= (u16)(v[i].tag << (2 * (7 - i)));
	}
	want |= 3; /* R0 empty */
	FNSTENV(0x100);
	CHECK_EQ(run(), RAN);
	CHECK_EQ(r16(DATA + 0x108), want);
	CHECK_EQ(c->fpu.fsw & FSW_EXC, 0); /* FLD m80 raises nothing */
	CHECK_EQ(c->fpu.fcw, 0x37f);	   /* FNSTENV masked all: already so */
}

static void test_operands(void)
{
	box(64, 0, 0);
	/* An unnormal is an unsupported format: #IA, the indefinite (SDM vol. 1 8.2.2). */
	put80(DATA, 0x3fff, 0x4000000000000000ull);
	FNINIT();
	FLDT(0);
	FLD1();
	E(2, 0xde, 0xc1); /* FADDP */
	CHECK_EQ(run(), RAN);
	CHECK_EQ(c->fpu.fsw & FSW_EXC, FSW_IE);
	CHECK_EQ(st_se(0), 0xffff);
	CHECK_EQ(st_m(0), 0xc000000000000000ull);

	/* A denormal double: #D on the load (SDM vol. 2A FLD). */
	w64(DATA + 0x10, 1);
	FNINIT();
	FLDL(0x10);
	CHECK_EQ(run(), RAN);
	CHECK_EQ(c->fpu.fsw & FSW_EXC, FSW_DE);
	CHECK_EQ(st_se(0), 0x3bcd); /* 2^-1074 */
	CHECK_EQ(st_m(0), 1ull << 63);

	/* A pseudo-denormal counts as a denormal: #D, and its value 2^-16382 (SDM vol. 1 8.2.2) */
	put80(DATA + 0x20, 0, 1ull << 63);
	FNINIT();
	FLDT(0x20);
	FLDT(0x20);
	E(2, 0xde, 0xc1);
	CHECK_EQ(run(), RAN);
	CHECK_EQ(c->fpu.fsw & FSW_EXC, FSW_DE);
	CHECK_EQ(st_se(0), 0x0002);
	CHECK_EQ(st_m(0), 1ull << 63);

	/* SNaN: #IA, quieted */
	put80(DATA + 0x30, 0x7fff, 0x8000000000000001ull);
	FNINIT();
	FLDT(0x30);
	FLD1();
	E(2, 0xde, 0xc1);
	CHECK_EQ(run(), RAN);
	CHECK_EQ(c->fpu.fsw & FSW_EXC, FSW_IE);
	CHECK_EQ(st_m(0), 0xc000000000000001ull);

	/* 1 / 0: #Z, +infinity; unmasked: #Z, ES, the destination unchanged */
	FNINIT();
	E(2, 0xd9, 0xee);
	FLD1();
	E(2, 0xd8, 0xf1); /* FDIV ST(0), ST(1) */
	CHECK_EQ(run(), RAN);
	CHECK_EQ(c->fpu.fsw & FSW_EXC, FSW_ZE);
	CHECK_EQ(st_se(0), 0x7fff);
	CHECK_EQ(st_m(0), 1ull << 63);
	FNINIT();
	set_cw(0x37b);
	E(2, 0xd9, 0xee);
	FLD1();
	E(2, 0xd8, 0xf1);
	CHECK_EQ(run(), RAN);
	CHECK_EQ(c->fpu.fsw & (FSW_EXC | FSW_ES), FSW_ZE | FSW_ES);
	CHECK_EQ(st_se(0), 0x3fff);

	/* Unmasked overflow on the stack: the result scaled by 2^-24576 (SDM vol. 1 8.5.4.2) */
	put80(DATA + 0x40, 0x7ffe, 1ull << 63);
	FNINIT();
	set_cw(0x377);
	FLDT(0x40);
	FLDT(0x40);
	E(2, 0xde, 0xc9); /* FMULP */
	CHECK_EQ(run(), RAN);
	CHECK_EQ(c->fpu.fsw & (FSW_OE | FSW_ES), FSW_OE | FSW_ES);
	CHECK_EQ(st_se(0), 0x5ffd); /* 2^32766, biased 0xbffd, less 0x6000 */
	CHECK_EQ(st_m(0), 1ull << 63);
}

static void test_bcd_and_int(void)
{
	static const u8 bcd_12345[10] = { 0x45, 0x23, 0x01 };
	static const u8 indefinite[10] = { 0, 0, 0, 0, 0, 0, 0, 0xc0, 0xff, 0xff };
	static const u8 bcd_max_neg[10] = { 0x99, 0x99, 0x99, 0x99, 0x99,
					    0x99, 0x99, 0x99, 0x99, 0x80 };

	box(64, 0, 0);
	memcpy(ram + DATA, &(u32){ 12345 }, 4);
	memcpy(ram + DATA + 4, &(s32){ -12345 }, 4);
	FNINIT();
	M(0xdb, 0, 0);	  /* FILD m32 */
	M(0xdf, 6, 0x20); /* FBSTP */
	M(0xdb, 0, 4);
	M(0xdf, 6, 0x30);
	CHECK_EQ(run(), RAN);
	CHECK(!memcmp(ram + DATA + 0x20, bcd_12345, 10));
	CHECK(!memcmp(ram + DATA + 0x30, bcd_12345, 9));
	CHECK_EQ(ram[DATA + 0x39], 0x80);

	/* FBLD of the most negative value, back out through FISTP m64 */
	memcpy(ram + DATA + 0x40, bcd_max_neg, 10);
	FNINIT();
	M(0xdf, 4, 0x40); /* FBLD */
	M(0xdf, 7, 0x50); /* FISTP m64 */
	CHECK_EQ(run(), RAN);
	CHECK_EQ((s64)r64(DATA + 0x50), -999999999999999999ll);

	/* FBSTP out of range: #IA, the packed BCD indefinite (SDM vol. 2A FBSTP) */
	w64(DATA + 0x60, 0x43e158e460913d00ull); /* 1e19 */
	FNINIT();
	FLDL(0x60);
	M(0xdf, 6, 0x70);
	CHECK_EQ(run(), RAN);
	CHECK(!memcmp(ram + DATA + 0x70, indefinite, 10));
	CHECK_EQ(c->fpu.fsw & FSW_EXC, FSW_IE);

	/* FIST m16 overflow: #IA, the integer indefinite 8000H; unmasked: no store, no pop */
	w64(DATA + 0x80, 0x40e3880000000000ull); /* 40000.0 */
	FNINIT();
	FLDL(0x80);
	M(0xdf, 3, 0x90); /* FISTP m16 */
	CHECK_EQ(run(), RAN);
	CHECK_EQ(r16(DATA + 0x90), 0x8000);
	CHECK_EQ(top(), 0);
	memcpy(ram + DATA + 0x92, &(u16){ 0x1234 }, 2);
	FNINIT();
	set_cw(0x37e);
	FLDL(0x80);
	M(0xdf, 3, 0x92);
	CHECK_EQ(run(), RAN);
	CHECK_EQ(r16(DATA + 0x92), 0x1234);
	CHECK_EQ(top(), 7);
	CHECK_EQ(c->fpu.fsw & (FSW_IE | FSW_ES), FSW_IE | FSW_ES);
}

/* FCOMI sets ZF PF CF and clears OF SF AF; FCMOVcc moves on them (SDM vol. 2A FCOMI, FCMOVcc). */
static void test_fcomi_fcmov(void)
{
	struct x86_regs r;

	box(64, 0, 0);
	FNINIT();
	FLD1();		  /* ST(1) = 1 */
	E(2, 0xd9, 0xeb); /* ST(0) = pi */
	E(2, 0xdb, 0xf1); /* FCOMI ST(0), ST(1): pi > 1 */
	CHECK_EQ(run(), RAN);
	cpu_get_regs(c, &r);
	CHECK_EQ(r.rflags & X86_ARITH_FLAGS, 0);
	E(2, 0xd9, 0xc9); /* FXCH: 1 < pi */
	E(2, 0xdb, 0xf1);
	E(2, 0xda, 0xc1); /* FCMOVB ST(0), ST(1): CF = 1, so ST(0) = pi */
	CHECK_EQ(run(), RAN);
	cpu_get_regs(c, &r);
	CHECK_EQ(r.rflags & X86_ARITH_FLAGS, X86_CF);
	CHECK_EQ(st_se(0), 0x4000);
	/* unordered: ZF PF CF */
	put80(DATA, 0x7fff, 0xc000000000000000ull);
	FLDT(0);
	E(2, 0xdf, 0xe9); /* FUCOMIP ST(0), ST(1) */
	CHECK_EQ(run(), RAN);
	cpu_get_regs(c, &r);
	CHECK_EQ(r.rflags & X86_ARITH_FLAGS, X86_ZF | X86_PF | X86_CF);
	CHECK_EQ(c->fpu.fsw & FSW_EXC, 0); /* a QNaN is no #IA for FUCOMI */
}

/* FIP (offset, prefixes included), FCS, FOP, FDP, FDS after non-control instructions only
   (SDM vol. 1 8.1.8, 8.1.9). */
static void test_pointers(void)
{
	box(64, 0, 0);
	FNINIT();
	E(1, 0x66);
	M(0xd9, 0, 0x40); /* FLD m32 [rbx + 40H] at CODE + 2, with a 66 prefix */
	E(2, 0xd9, 0xd0); /* FNOP at CODE + 9 */
	E(2, 0xdb, 0xe2); /* FNCLEX: control */
	FNSTENV(0x100);
	CHECK_EQ(run(), RAN);
	CHECK_EQ(r32(DATA + 0x10c), CODE + 9);
	CHECK_EQ(r32(DATA + 0x110), 0x08 | (0x1d0u << 16)); /* FCS, FOP of FNOP */
	CHECK_EQ(r32(DATA + 0x114), DATA + 0x40);	    /* FDP: unchanged by FNOP */
	CHECK_EQ(r32(DATA + 0x118), 0xffff0010);
	CHECK_EQ(c->fpu.fip, CODE + 9);
	FNINIT();
	E(1, 0x66);
	M(0xd9, 0, 0x40);
	FNSTENV(0x100);
	CHECK_EQ(run(), RAN);
	CHECK_EQ(r32(DATA + 0x10c), CODE + 2);	  /* the 66 prefix */
	CHECK_EQ(r32(DATA + 0x110) >> 16, 0x183); /* D9, ModRM 83H */
}

/* The four environment formats (SDM vol. 1 Figures 8-9 to 8-12) and the round trips. */
static void test_env_formats(void)
{
	u8 img[108];

	/* 32-bit protected mode, 32- and 16-bit formats */
	box(32, 0, 0);
	memcpy(ram + DATA + 0x40, &(u32){ 0x3f800000 }, 4); /* 1.0f */
	FNINIT();
	M(0xd9, 0, 0x40); /* FLD m32 at CODE + 2 */
	FNSTENV(0x100);
	E(1, 0x66);
	FNSTENV(0x140);
	CHECK_EQ(run(), RAN);
	CHECK_EQ(r32(DATA + 0x100), 0xffff037f);
	CHECK_EQ(r32(DATA + 0x104), 0xffff3800);
	CHECK_EQ(r32(DATA + 0x108), 0xffff3fff);
	CHECK_EQ(r32(DATA + 0x10c), CODE + 2);
	CHECK_EQ(r32(DATA + 0x110), 0x18 | (0x183u << 16));
	CHECK_EQ(r32(DATA + 0x114), DATA + 0x40);
	CHECK_EQ(r32(DATA + 0x118), 0xffff0010);
	CHECK_EQ(r16(DATA + 0x140), 0x037f);
	CHECK_EQ(r16(DATA + 0x142), 0x3800);
	CHECK_EQ(r16(DATA + 0x144), 0x3fff);
	CHECK_EQ(r16(DATA + 0x146), (u16)(CODE + 2));
	CHECK_EQ(r16(DATA + 0x148), 0x18);
	CHECK_EQ(r16(DATA + 0x14a), (u16)(DATA + 0x40));
	CHECK_EQ(r16(DATA + 0x14c), 0x10);

	/* FNSAVE / FRSTOR: the state comes back, FNSAVE initialized in between */
	FNINIT();
	FLD1();
	E(2, 0xd9, 0xeb);
	M(0xdd, 6, 0x200); /* FNSAVE */
	CHECK_EQ(run(), RAN);
	CHECK_EQ(c->fpu.fcw, 0x37f);
	CHECK_EQ(c->fpu.ftw, 0);
	CHECK_EQ(top(), 0);
	memcpy(img, ram + DATA + 0x200, 108);
	CHECK_EQ(r16(DATA + 0x204), 0x3000);
	CHECK_EQ(r16(DATA + 0x200 + 28 + 8), 0x4000); /* ST(0) = pi */
	M(0xdd, 4, 0x200);			      /* FRSTOR */
	M(0xdd, 6, 0x300);
	CHECK_EQ(run(), RAN);
	CHECK(!memcmp(ram + DATA + 0x300, img, 108));
	/* 16-bit format: 94 bytes */
	memset(ram + DATA + 0x400, 0xaa, 0x80);
	M(0xdd, 4, 0x200);
	E(1, 0x66);
	M(0xdd, 6, 0x400);
	CHECK_EQ(run(), RAN);
	CHECK_EQ(ram[DATA + 0x400 + 14 + 9], 0x40); /* ST(0) = pi */
	CHECK_EQ(ram[DATA + 0x400 + 94], 0xaa);
	E(1, 0x66);
	M(0xdd, 4, 0x400);
	M(0xdd, 6, 0x300);
	CHECK_EQ(run(), RAN);
	CHECK(!memcmp(ram + DATA + 0x300 + 28, img + 28, 80));
	CHECK_EQ(r16(DATA + 0x304), 0x3000);

	/* FLDENV changes TOP but not the physical registers: ST(i) move (SDM vol. 1 8.1.2) */
	FNINIT();
	FLD1(); /* R7 = 1.0, TOP = 7 */
	FNSTENV(0x100);
	CHECK_EQ(run(), RAN);
	ram[DATA + 0x105] = (u8)((ram[DATA + 0x105] & ~0x38) | 5 << 3); /* TOP = 5 */
	FLDENV(0x100);
	CHECK_EQ(run(), RAN);
	CHECK_EQ(top(), 5);
	CHECK_EQ(st_se(2), 0x3fff); /* ST(2) = R7 */

	/* Real-address mode: 20-bit linear pointers, FOP beside FIP[19:16] */
	box(16, 0, 0);
	FNINIT();
	E(1, 0x66);
	M(0xd9, 0, 0x40); /* FLD m32 [bx + 40H]: 32-bit operand size prefix, ignored */
	E(1, 0x66);
	FNSTENV(0x100); /* 32-bit real-mode format */
	FNSTENV(0x140); /* 16-bit real-mode format */
	CHECK_EQ(run(), RAN);
	CHECK_EQ(r32(DATA + 0x10c), 0xffff0000u | (u16)(CODE + 2));
	CHECK_EQ(r32(DATA + 0x110), (CODE >> 16) << 12 | 0x187);
	CHECK_EQ(r32(DATA + 0x114), 0xffff0000u | (u16)(DATA + 0x40));
	CHECK_EQ(r32(DATA + 0x118), (DATA >> 16) << 12);
	CHECK_EQ(r16(DATA + 0x146), (u16)(CODE + 2));
	CHECK_EQ(r16(DATA + 0x148), ((CODE >> 16) & 0xf) << 12 | 0x187);
	CHECK_EQ(r16(DATA + 0x14a), (u16)(DATA + 0x40));
	CHECK_EQ(r16(DATA + 0x14c), ((DATA >> 16) & 0xf) << 12);
	/* FLDENV of it gives the same image back */
	E(1, 0x66);
	FLDENV(0x100);
	E(1, 0x66);
	FNSTENV(0x180);
	CHECK_EQ(run(), RAN);
	CHECK(!memcmp(ram + DATA + 0x100, ram + DATA + 0x180, 28));
}

static void test_fxsave(void)
{
	box(64, 0, CR4_OSFXSR);
	c->fpu.mxcsr = 0x1f80;
	memset(c->fpu.xmm, 0x5a, sizeof(c->fpu.xmm));
	FNINIT();
	M(0xd9, 0, 0x40);
	E(4, 0x48, 0x0f, 0xae, 0x83); /* FXSAVE64 [rbx + 200H] */
	E(4, 0x00, 0x02, 0, 0);
	E(3, 0x0f, 0xae, 0x83); /* FXSAVE [rbx + 400H] */
	E(4, 0x00, 0x04, 0, 0);
	memset(ram + DATA + 0x200, 0xcc, 0x400);
	CHECK_EQ(run(), RAN);
	CHECK_EQ(r16(DATA + 0x200), 0x37f);
	CHECK_EQ(ram[DATA + 0x204], 0x80);
	CHECK_EQ(r16(DATA + 0x206), 0x183);
	CHECK_EQ(r64(DATA + 0x208), CODE + 2);
	CHECK_EQ(r64(DATA + 0x210), DATA + 0x40);
	CHECK_EQ(r32(DATA + 0x218), 0x1f80);
	CHECK_EQ(r32(DATA + 0x21c), X86_MXCSR_MASK);
	CHECK_EQ(r64(DATA + 0x200 + 160 + 15 * 16), 0x5a5a5a5a5a5a5a5aull); /* XMM15 */
	CHECK_EQ(ram[DATA + 0x200 + 416], 0xcc);			    /* not written */
	CHECK_EQ(r32(DATA + 0x408), CODE + 2);
	CHECK_EQ(r16(DATA + 0x40c), 0x08); /* FCS */
	CHECK_EQ(r32(DATA + 0x410), DATA + 0x40);
	CHECK_EQ(r16(DATA + 0x414), 0x10); /* FDS */

	/* FXRSTOR: ES from the flags, FOP 11 bits, MXCSR reserved bits #GP(0), alignment #GP(0) */
	w64(DATA + 0x200, 0xffff00000001037eull); /* FCW 37EH, FSW IE without ES, FOP FFFFH */
	E(4, 0x48, 0x0f, 0xae, 0x8b);
	E(4, 0x00, 0x02, 0, 0);
	CHECK_EQ(run(), RAN);
	CHECK_EQ(c->fpu.fsw, FSW_IE | FSW_ES | FSW_B);
	CHECK_EQ(c->fpu.fop, 0x7ff);
	memcpy(ram + DATA + 0x218, &(u32){ 0x10000 }, 4);
	c->fpu.fcw = 0x111;
	E(4, 0x48, 0x0f, 0xae, 0x8b);
	E(4, 0x00, 0x02, 0, 0);
	CHECK_EQ(run(), X86_GP);
	CHECK_EQ(c->fpu.fcw, 0x111);
	E(4, 0x48, 0x0f, 0xae, 0x83);
	E(4, 0x08, 0x02, 0, 0);
	CHECK_EQ(run(), X86_GP);

	/* Without CR4.OSFXSR neither MXCSR nor the XMM registers are saved or loaded */
	box(64, 0, 0);
	memset(c->fpu.xmm, 0x5a, sizeof(c->fpu.xmm));
	memset(ram + DATA + 0x200, 0xcc, 0x200);
	E(4, 0x48, 0x0f, 0xae, 0x83);
	E(4, 0x00, 0x02, 0, 0);
	CHECK_EQ(run(), RAN);
	CHECK_EQ(r16(DATA + 0x200), 0x40);
	CHECK_EQ(r32(DATA + 0x218), 0xcccccccc);
	CHECK_EQ(ram[DATA + 0x200 + 160], 0xcc);
	memset(ram + DATA + 0x200 + 160, 0, 16);
	E(4, 0x48, 0x0f, 0xae, 0x8b);
	E(4, 0x00, 0x02, 0, 0);
	CHECK_EQ(run(), RAN); /* MXCSR CCCCCCCCH is not looked at */
	CHECK_EQ(c->fpu.xmm[0][0], 0x5a);

	/* 32-bit mode: XMM0-7 only (288 bytes) */
	box(32, 0, CR4_OSFXSR);
	memset(ram + DATA + 0x200, 0xcc, 0x200);
	E(3, 0x0f, 0xae, 0x83);
	E(4, 0x00, 0x02, 0, 0);
	CHECK_EQ(run(), RAN);
	CHECK_EQ(ram[DATA + 0x200 + 287], 0);
	CHECK_EQ(ram[DATA + 0x200 + 288], 0xcc);
	/* MOV to CR4 takes OSFXSR (CR4_SUPPORTED) */
	box(32, 0, 0);
	E(5, 0xb8, 0x00, 0x02, 0x00, 0x00); /* mov eax, 200H */
	E(3, 0x0f, 0x22, 0xe0);		    /* mov cr4, eax */
	CHECK_EQ(run(), RAN);
	CHECK_EQ(c->cr4, CR4_OSFXSR);
}

/* #NM (SDM vol. 3A 2.5 Table 2-2), #MF (6.15 Interrupt 16), and MMX's #UD with CR0.EM. */
static void test_nm_mf(void)
{
	static const u8 x87[][2] = {
		{ 0xd9, 0xe8 }, { 0xdb, 0xe3 }, { 0xdf, 0xe0 }, { 0xd9, 0xd0 }
	};

	box(64, CR0_TS, CR4_OSFXSR);
	for (unsigned i = 0; i < ARRAY_SIZE(x87); i++) {
		E(2, x87[i][0], x87[i][1]);
		CHECK_EQ(run(), X86_NM);
	}
	E(1, 0x9b); /* WAIT: TS without MP is no #NM */
	CHECK_EQ(run(), RAN);
	E(3, 0x0f, 0xfc, 0xc1); /* PADDB */
	CHECK_EQ(run(), X86_NM);
	E(3, 0x0f, 0xae, 0x03); /* FXSAVE [rbx] */
	CHECK_EQ(run(), X86_NM);
	box(64, CR0_TS | CR0_MP, 0);
	E(1, 0x9b);
	CHECK_EQ(run(), X86_NM);
	box(64, CR0_EM, 0);
	FLD1();
	CHECK_EQ(run(), X86_NM);
	E(3, 0x0f, 0xfc, 0xc1);
	CHECK_EQ(run(), X86_UD);
	E(2, 0x0f, 0x77);
	CHECK_EQ(run(), X86_UD);
	E(1, 0x9b); /* WAIT ignores EM */
	CHECK_EQ(run(), RAN);

	/* A pending unmasked exception: #MF at waiting instructions only */
	box(64, 0, 0);
	FNINIT();
	set_cw(0x37e);
	E(2, 0xd8, 0xc1); /* stack underflow, unmasked */
	CHECK_EQ(run(), RAN);
	static const u8 waits[][3] = {
		{ 0x9b }, { 0xd9, 0xe8 }, { 0x0f, 0xfc, 0xc1 }, { 0x0f, 0x77 }
	};
	static const unsigned wlen[] = { 1, 2, 3, 2 };
	for (unsigned i = 0; i < ARRAY_SIZE(waits); i++) {
		memcpy(code, waits[i], wlen[i]);
		ncode = wlen[i];
		CHECK_EQ(run(), X86_MF);
	}
	FLDCW(0x1f0);
	CHECK_EQ(run(), X86_MF);
	FNSTENV(0x100);
	E(2, 0xdf, 0xe0);
	M(0xd9, 7, 0x180);    /* FNSTCW */
	CHECK_EQ(run(), RAN); /* no-wait forms; FNSTENV masked everything, so nothing pends */
	CHECK_EQ(c->fpu.fsw & FSW_ES, 0);
	FLD1();
	CHECK_EQ(run(), RAN);
}

/* CR0.NE = 0: FERR# and the freeze, IGNNE# (SDM vol. 1 Appendix D). */
static void test_ferr(void)
{
	u64 icount;

	box(64, 0, 0);
	c->cr0 &= ~CR0_NE;
	FNINIT();
	set_cw(0x37e);
	E(2, 0xd8, 0xc1);
	CHECK_EQ(run(), RAN);
	CHECK_EQ(ferr_calls, 0);
	E(2, 0xd9, 0xd0); /* FNOP: waits */
	FLD1();
	icount = cpu_icount(c);
	CHECK_EQ(run(), FROZEN);
	CHECK_EQ(c->rip, CODE); /* on the FNOP, which did not run */
	CHECK(c->halted);
	CHECK_EQ(cpu_icount(c), icount);
	CHECK_EQ(ferr_level, 1);
	CHECK_EQ(ferr_calls, 1);
	CHECK_EQ(c->fpu.ftw, 0);
	/* IGNNE# lets waiting instructions run with the exception still pending */
	cpu_set_ignne(c, true);
	E(2, 0xd9, 0xd0);
	FLD1();
	CHECK_EQ(run(), RAN);
	CHECK_EQ(c->fpu.ftw, 0x80);
	CHECK(c->fpu.fsw & FSW_ES);
	CHECK_EQ(ferr_calls, 1);
	cpu_set_ignne(c, false);
	E(2, 0xdb, 0xe2); /* FNCLEX deasserts FERR# */
	CHECK_EQ(run(), RAN);
	CHECK_EQ(ferr_level, 0);
	CHECK_EQ(ferr_calls, 2);
}

static void test_mmx(void)
{
	box(64, 0, 0);
	/* MMX aliasing (SDM vol. 1 9.5): TOP = 0, all valid, exponent all ones on writes */
	FNINIT();
	FLD1(); /* R7 = 1.0, TOP = 7 */
	w64(DATA, 0x7fff8000008000ffull);
	E(4, 0x0f, 0x6f, 0x4b, 0x00); /* MOVQ mm1, [rbx] */
	CHECK_EQ(run(), RAN);
	CHECK_EQ(top(), 0);
	CHECK_EQ(c->fpu.ftw, 0xff);
	CHECK_EQ(st_m(1), 0x7fff8000008000ffull);
	CHECK_EQ(st_se(1), 0xffff);
	CHECK_EQ(st_se(7), 0x3fff); /* R7 kept */
	CHECK_EQ(st_m(7), 1ull << 63);
	/* PACKSSWB mm1, mm1: words 00FF 0080 8000 7FFF -> bytes 7F 7F 80 7F, twice */
	E(3, 0x0f, 0x63, 0xc9);
	CHECK_EQ(run(), RAN);
	CHECK_EQ(st_m(1), 0x7f807f7f7f807f7full);
	/* PMADDWD: 8000H * 8000H twice wraps to 80000000H */
	w64(DATA + 8, 0x0000000080008000ull);
	E(4, 0x0f, 0x6f, 0x53, 0x08); /* MOVQ mm2, [rbx + 8] */
	E(3, 0x0f, 0xf5, 0xd2);	      /* PMADDWD mm2, mm2 */
	CHECK_EQ(run(), RAN);
	CHECK_EQ(st_m(2), 0x80000000ull);
	/* shifts past the lane: 0, or all sign bits */
	w64(DATA + 16, 16);
	E(4, 0x0f, 0x6f, 0x4b, 0x00);
	E(4, 0x0f, 0xd1, 0x4b, 0x10); /* PSRLW mm1, [rbx + 16] */
	E(4, 0x0f, 0x6f, 0x53, 0x00);
	E(4, 0x0f, 0x71, 0xe2, 0x64); /* PSRAW mm2, 100 */
	CHECK_EQ(run(), RAN);
	CHECK_EQ(st_m(1), 0);
	CHECK_EQ(st_m(2), 0x0000ffff00000000ull);
	/* MOVD r32 zero-extends; MOVQ r64 */
	c->gpr[R_RCX] = ~0ull;
	E(3, 0x0f, 0x7e, 0xd1);	      /* MOVD ecx, mm2 */
	E(4, 0x48, 0x0f, 0x7e, 0xd2); /* MOVQ rdx, mm2 */
	CHECK_EQ(run(), RAN);
	CHECK_EQ(c->gpr[R_RCX], 0);
	CHECK_EQ(c->gpr[R_RDX], 0x0000ffff00000000ull);
	/* After MMX every register is full: FLD1 overflows (masked: the indefinite) */
	FLD1();
	CHECK_EQ(run(), RAN);
	CHECK_EQ(c->fpu.fsw & (FSW_IE | FSW_SF | FSW_C1), FSW_IE | FSW_SF | FSW_C1);
	CHECK_EQ(st_se(0), 0xffff);
	/* EMMS: all empty, TOP 0 */
	E(2, 0x0f, 0x77);
	FLD1();
	E(2, 0x0f, 0x77);
	CHECK_EQ(run(), RAN);
	CHECK_EQ(c->fpu.ftw, 0);
	CHECK_EQ(top(), 0);
	CHECK_EQ(st_se(7), 0x3fff); /* the FLD1 went to R7 */
}

static void test_invalid(void)
{
	static const u8 ud[][4] = { { 2, 0xd9, 0xd1 },
				    { 2, 0xdb, 0xe5 },
				    { 3, 0xf0, 0xd8, 0xc0 },
				    { 2, 0xd9, 0x08 },
				    { 3, 0x0f, 0xe7, 0xc0 } };

	box(64, 0, CR4_OSFXSR);
	for (unsigned i = 0; i < ARRAY_SIZE(ud); i++) {
		memcpy(code, ud[i] + 1, ud[i][0]);
		ncode = ud[i][0];
		CHECK_EQ(run(), X86_UD);
	}
	E(4, 0x66, 0x0f, 0xae, 0x03); /* FXSAVE has no 66 form */
	CHECK_EQ(run(), X86_UD);
}

/* cpu_set_fpu loads as FXRSTOR64 does; cpu_get_fpu gives it back. */
static void test_exchange(void)
{
	struct x86_fpu f, g;

	box(64, 0, 0);
	memset(&f, 0, sizeof(f));
	f.fcw = 0xffff;
	f.fsw = 0x3801; /* IE, but masked: no ES */
	f.ftw = 0x80;
	f.fop = 0xffff;
	f.fip = 0x1234;
	put80(0, 0x3fff, 1ull << 63);
	memcpy(f.st[0], ram, 10);
	cpu_set_fpu(c, &f);
	cpu_get_fpu(c, &g);
	CHECK_EQ(g.fcw, 0x1f7f);
	CHECK_EQ(g.fsw, 0x3801);
	CHECK_EQ(g.fop, 0x7ff);
	CHECK_EQ(g.fip, 0x1234);
	CHECK(!memcmp(g.st, f.st, sizeof(f.st)));
	f.fcw = 0x37e;
	cpu_set_fpu(c, &f);
	cpu_get_fpu(c, &g);
	CHECK_EQ(g.fsw, 0x3801 | FSW_ES | FSW_B);
}

int main(void)
{
	test_reset_and_init();
	test_constants();
	test_precision();
	test_rounding();
	test_stack_faults();
	test_tags();
	test_operands();
	test_bcd_and_int();
	test_fcomi_fcmov();
	test_pointers();
	test_env_formats();
	test_fxsave();
	test_nm_mf();
	test_ferr();
	test_mmx();
	test_invalid();
	test_exchange();
	cpu_destroy(c);
	free(ram);
	return check_done("fpu");
}
