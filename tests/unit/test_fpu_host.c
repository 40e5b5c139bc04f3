// SPDX-License-Identifier: MIT
/*
 * The host CPU as the oracle of the x87 and MMX (src/cpu/fpu.c, fpu_host.c, mmx.c): random
 * sequences of x87 and MMX instructions run natively in this process and on the soft CPU, from the
 * same state, at the same addresses; the results must be equal.
 *
 * A sequence ("body") draws from every x87 form (loads and stores of every size, BCD, arithmetic
 * with memory and register operands, compares, FCOMI/FCMOVcc with SAHF and CMP around them, every
 * register-form instruction including the transcendentals, constants, FXCH, FFREE(P),
 * FINCSTP/FDECSTP, the undocumented aliases), the control instructions (FLDCW with random control
 * words, FNSTSW, FNCLEX, FNINIT, FNSTENV/FLDENV and FNSAVE/FRSTOR in both operand sizes, from
 * their own images and from random ones), FWAIT, FXSAVE/FXRSTOR (both formats, random images),
 * and every MMX instruction. Operands are biased toward zeros, denormals, pseudo-denormals,
 * unnormals, infinities, pseudo-infinities, quiet and signalling NaNs, the largest and smallest
 * exponents, integers and invalid BCD digits; the initial control word has every precision and
 * rounding control and, one time in three, unmasked exceptions.
 *
 * The body is followed by an epilogue both sides run too: FXSAVE64 and FNSTENV into the data
 * area, the general registers and arithmetic flags stored beside them, then JMP [rbx+EXIT],
 * which natively reaches the code that returns to C and in the guest reaches a HLT at the same
 * address. The guest runs at the native linear addresses (code, data, that HLT page), with the
 * selectors Linux gives a 64-bit process (CS 33H, DS 0), so instruction and data pointers, FCS
 * and FDS compare as they are. A fault ends a body: natively a signal (trap number, RIP,
 * registers and the FXSAVE image of the signal frame), in the guest an IDT gate to a HLT per
 * vector; vector, RIP, registers, flags, x87/MMX state and memory must agree.
 *
 * Known difference, not compared: this host (AMD) stores FIP, FDP and FOP in an FXSAVE image only
 * while an exception is pending (FSW.ES), and zeros otherwise; the soft CPU, an Intel model,
 * stores them always (SDM vol. 2A FXSAVE). Those bytes are skipped where the host wrote zeros with
 * ES clear, and the pointers are not compared after an FXRSTOR of such an image until an x87
 * instruction has set them again.
 */
#define _GNU_SOURCE /* REG_RIP and friends (ucontext.h) */
#include <setjmp.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <asm/prctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

#include "check.h"
#include "cpu/fpu.h"
#include "vmx/vmx.h"

/* Guest-physical layout; the code, data and tail pages are mapped at the native addresses. */
#define RAM_SIZE (4u << 20)
#define GDT	 0x1000
#define IDT	 0x2000
#define HANDLERS 0x3000 /* vector v: HLT at HANDLERS + 16 * v */
#define STACK	 0x9000
#define PT_POOL	 0x10000
#define CODE_PA	 0x100000
#define DATA_PA	 0x102000
#define TAIL_PA	 0x105000

/* The data area (two pages; rbx points at its start). */
#define DATA_SIZE   0x2000
#define D_VAL	    0x000 /* values the loads read, 16-byte slots */
#define D_VAL_SLOTS 48
#define D_ST	    0x300  /* stores, FNSTENV, FNSAVE images */
#define D_ENV	    0x500  /* random environment / FNSAVE images for FLDENV, FRSTOR */
#define D_FX	    0x600  /* two 512-byte FXSAVE images */
#define D_OUT_FX    0xa00  /* epilogue: FXSAVE64 */
#define D_OUT_ENV   0xc00  /* epilogue: FNSTENV */
#define D_OUT_GPR   0xc40  /* epilogue: 16 registers, then the arithmetic flags */
#define D_EXIT	    0xd00  /* epilogue: JMP [rbx + D_EXIT] */
#define D_MASK	    0x1000 /* MASKMOVQ target (rdi) */
#define GS_BASE	    0x100  /* GS-relative operands land 100H above their offset */

static u64 rng = 0x2545f4914f6cdd1dull;

static u64 rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static unsigned rn(unsigned n)
{
	return (unsigned)(rnd() % n);
}

/* --- Interesting operands --- */

static void rnd_f80(u8 *p)
{
	u64 m = rnd();
	u16 e = (u16)(0x3fff - 20 + rn(40));

	m |= 1ull << 63;
	switch (rn(20)) {
	case 0: /* zero */
		m = 0;
		e = 0;
		break;
	case 1: /* denormal */
		m = (rnd() >> rn(64)) & ~(1ull << 63);
		e = 0;
		break;
	case 2: /* pseudo-denormal */
		e = 0;
		break;
	case 3: /* infinity */
		m = 1ull << 63;
		e = 0x7fff;
		break;
	case 4: /* quiet NaN, sometimes the indefinite */
		m = rn(2) ? 0xc000000000000000ull : m | 3ull << 62;
		e = 0x7fff;
		break;
	case 5: /* signalling NaN */
		m = (m & ~(1ull << 62)) | 1;
		e = 0x7fff;
		break;
	case 6: /* pseudo-NaN, pseudo-infinity */
		m = rn(2) ? 0 : m & ~(1ull << 63);
		e = 0x7fff;
		break;
	case 7: /* unnormal */
		m &= ~(1ull << 63);
		e = (u16)(1 + rn(0x7ffe));
		break;
	case 8:
		e = (u16)(0x7ffe - rn(80));
		break;
	case 9:
		e = (u16)(1 + rn(80));
		break;
	case 10: /* small integers */
		e = (u16)(0x3fff + rn(16));
		m &= ~0ull << (63 - (e - 0x3fff));
		break;
	case 11: /* wide range, for FPREM and the transcendentals */
		e = (u16)(0x3fff - 70 + rn(140));
		break;
	case 12: /* anywhere */
		e = (u16)rnd() & 0x7fff;
		break;
	}
	memcpy(p, &m, 8);
	e |= (u16)(rn(2) << 15);
	memcpy(p + 8, &e, 2);
}

static u64 rnd_f64(void)
{
	u64 s = (u64)rn(2) << 63, m = rnd() & ((1ull << 52) - 1);

	switch (rn(12)) {
	case 0:
		return s;
	case 1:
		return s | (m >> rn(52));
	case 2:
		return s | 0x7ffull << 52;
	case 3:
		return s | 0x7ffull << 52 | 1ull << 51 | m;
	case 4:
		return s | 0x7ffull << 52 | ((m & ~(1ull << 51)) | 1);
	case 5:
		return s | (u64)(0x7fe - rn(40)) << 52 | m;
	case 6:
		return s | (u64)(1 + rn(40)) << 52 | m;
	default:
		return s | (u64)(1023 - 30 + rn(60)) << 52 | m;
	}
}

static u32 rnd_f32(void)
{
	u32 s = (u32)rn(2) << 31, m = (u32)rnd() & ((1u << 23) - 1);

	switch (rn(12)) {
	case 0:
		return s;
	case 1:
		return s | (m >> rn(23));
	case 2:
		return s | 0xffu << 23;
	case 3:
		return s | 0xffu << 23 | 1u << 22 | m;
	case 4:
		return s | 0xffu << 23 | ((m & ~(1u << 22)) | 1);
	case 5:
		return s | (u32)(0xfe - rn(10)) << 23 | m;
	case 6:
		return s | (u32)(1 + rn(10)) << 23 | m;
	default:
		return s | (u32)(127 - 20 + rn(40)) << 23 | m;
	}
}

static u64 rnd_int(void)
{
	switch (rn(8)) {
	case 0:
		return 0;
	case 1:
		return ~0ull;
	case 2:
		return 1ull << (rn(4) == 0 ? 63 : rn(2) ? 31 : 15);
	case 3:
		return (u64)(s64)(s16)rnd();
	case 4:
		return (u64)(s64)(s32)rnd();
	case 5:
		return rnd() >> rn(64);
	default:
		return rnd();
	}
}

static void rnd_bcd(u8 *p)
{
	for (unsigned i = 0; i < 9; i++)
		p[i] = rn(8) ? (u8)(rn(10) | rn(10) << 4) : (u8)rnd();
	p[9] = rn(4) ? (u8)(rn(2) << 7) : (u8)rnd();
}

static u16 rnd_cw(void)
{
	u16 cw = (u16)(rn(4) << 8 | rn(4) << 10); /* precision control, rounding control */

	cw |= rn(3) ? 0x3f : (u16)rnd() & 0x3f;
	if (!rn(8))
		cw |= (u16)rnd() & 0xf0c0;
	return cw;
}

/* --- The native side --- */

/*
 * native_run(ctx): saves the callee-saved registers and RSP, FXRSTOR64 ctx->fx, loads the
 * flags and general registers (rbx is the data area), and jumps to the body. The epilogue's JMP
 * [rbx + D_EXIT] reaches native_tail, which gives back the caller's registers, FCW and MXCSR.
 */
struct native_ctx {
	u64 gpr[16];   /* 0 */
	u64 rflags;    /* 128 */
	u64 body;      /* 136 */
	u64 saved_rsp; /* 144 */
	u32 mxcsr;     /* 152 */
	u32 pad;
	u8 fx[512] __attribute__((aligned(64))); /* 192 */
};
_Static_assert(__builtin_offsetof(struct native_ctx, fx) == 192, "native_ctx");

static struct native_ctx nctx;
void native_run(struct native_ctx *ctx);
void native_tail(void);
__asm__(".text\n"
	".globl native_run\n"
	"native_run:\n"
	"	push %rbp\n push %rbx\n push %r12\n push %r13\n push %r14\n push %r15\n"
	"	mov %rsp, 144(%rdi)\n"
	"	stmxcsr 152(%rdi)\n"
	"	fxrstor64 192(%rdi)\n"
	"	pushq 136(%rdi)\n"
	"	pushq 128(%rdi)\n popfq\n"
	"	mov 0(%rdi), %rax\n mov 8(%rdi), %rcx\n mov 16(%rdi), %rdx\n mov 24(%rdi), %rbx\n"
	"	mov 40(%rdi), %rbp\n mov 48(%rdi), %rsi\n"
	"	mov 64(%rdi), %r8\n mov 72(%rdi), %r9\n mov 80(%rdi), %r10\n mov 88(%rdi), %r11\n"
	"	mov 96(%rdi), %r12\n mov 104(%rdi), %r13\n mov 112(%rdi), %r14\n"
	"	mov 120(%rdi), %r15\n mov 56(%rdi), %rdi\n"
	"	ret\n"
	".globl native_tail\n"
	"native_tail:\n"
	"	lea nctx(%rip), %rdi\n"
	"	mov 144(%rdi), %rsp\n"
	"	fninit\n"
	"	ldmxcsr 152(%rdi)\n"
	"	pop %r15\n pop %r14\n pop %r13\n pop %r12\n pop %rbx\n pop %rbp\n"
	"	ret\n");

/* What a run produced: a fault (vector, RIP, registers, FXSAVE image) or the epilogue's output
   in the data area. */
struct outcome {
	int vector; /* -1: reached the end */
	u64 rip;
	u64 cr2; /* #PF: the address, and the error code's P and W bits */
	u32 pf_err;
	u64 gpr[16];
	u64 rflags;
	u8 fx[512];
	u8 data[DATA_SIZE];
};

static sigjmp_buf native_jb;
static struct outcome nat;

static void native_signal(int sig, siginfo_t *si, void *p)
{
	ucontext_t *uc = p;
	static const int map[16] = { R_R8,  R_R9,  R_R10, R_R11, R_R12, R_R13, R_R14, R_R15,
				     R_RDI, R_RSI, R_RBP, R_RBX, R_RDX, R_RAX, R_RCX, R_RSP };

	nat.vector = (int)uc->uc_mcontext.gregs[REG_TRAPNO];
	nat.rip = (u64)uc->uc_mcontext.gregs[REG_RIP];
	nat.rflags = (u64)uc->uc_mcontext.gregs[REG_EFL];
	nat.cr2 = (u64)(uintptr_t)si->si_addr;
	nat.pf_err = (u32)uc->uc_mcontext.gregs[REG_ERR] & 3;
	for (unsigned i = 0; i < 16; i++)
		nat.gpr[map[i]] = (u64)uc->uc_mcontext.gregs[i];
	memcpy(nat.fx, uc->uc_mcontext.fpregs, 512);
	siglongjmp(native_jb, 1);
}

/* --- The soft side --- */

static struct cpu *c;
static struct x86_sregs sregs; /* loaded before every run: a fault's delivery changes CS */
static u8 *ram;
static u64 pt_next;
static u8 *ncode, *ndata; /* native code page and data area */

static void w64(u64 pa, u64 v)
{
	memcpy(ram + pa, &v, 8);
}

static u64 r64(u64 pa)
{
	u64 v;

	memcpy(&v, ram + pa, 8);
	return v;
}

/* Map the 4 KiB page at linear `lin` to guest-physical `pa` (4-level paging, PML4 at PT_POOL). */
static void map_page(u64 lin, u64 pa)
{
	u64 table = PT_POOL;

	for (int level = 3; level > 0; level--) {
		u64 e = table + ((lin >> (12 + 9 * level)) & 511) * 8;

		if (!(r64(e) & 1)) {
			pt_next += 0x1000;
			memset(ram + pt_next, 0, 0x1000);
			w64(e, pt_next | 7);
		}
		table = r64(e) & ~0xfffull;
	}
	w64(table + ((lin >> 12) & 511) * 8, pa | 3);
}

static void setup_soft(void)
{
	struct cpu_config cfg = { 0 };
	struct x86_sregs s;
	static struct vmx_controls ctl;

	u64 tail = (u64)(uintptr_t)native_tail;

	ram = calloc(1, RAM_SIZE);
	cfg.ram = ram;
	cfg.ram_size = RAM_SIZE;
	c = cpu_create(&cfg);
	if (!ram || !c)
		abort();
	w64(GDT + 0x08, 0x00af9b000000ffffull);
	w64(GDT + 0x10, 0x00cf93000000ffffull);
	for (unsigned v = 0; v < 32; v++) {
		u64 off = HANDLERS + 16 * v;

		w64(IDT + v * 16,
		    (off & 0xffff) | 0x08ull << 16 | 0x8eull << 40 | ((off >> 16) & 0xffff) << 48);
		w64(IDT + v * 16 + 8, 0);
		ram[off] = 0xf4;
	}
	pt_next = PT_POOL;
	memset(ram + PT_POOL, 0, 0x1000);
	for (u64 p = 0; p < 0x20000; p += 0x1000)
		map_page(p, p);
	map_page((u64)(uintptr_t)ncode, CODE_PA);
	map_page((u64)(uintptr_t)ndata, DATA_PA);
	map_page((u64)(uintptr_t)ndata + 0x1000, DATA_PA + 0x1000);
	map_page(tail & ~0xfffull, TAIL_PA);
	ram[TAIL_PA + (tail & 0xfff)] = 0xf4;

	memset(&s, 0, sizeof(s));
	/* The selectors of a Linux 64-bit process, at CPL 0 (SS.DPL), which FNSTENV and FXSAVE
	   store as FCS and FDS. */
	s.seg[SEG_CS] = (struct x86_segment){ .sel = 0x33, .limit = ~0u, .ar = 0xa09b };
	s.seg[SEG_SS] = (struct x86_segment){ .sel = 0x2b, .limit = ~0u, .ar = 0xc093 };
	for (unsigned i = SEG_ES; i <= SEG_GS; i++)
		if (i != SEG_CS && i != SEG_SS)
			s.seg[i] = (struct x86_segment){ .sel = 0, .limit = ~0u, .ar = 0xc093 };
	s.seg[SEG_GS].base = GS_BASE;
	s.seg[SEG_LDTR].ar = AR_UNUSABLE;
	s.seg[SEG_TR] = (struct x86_segment){ .limit = 0x67, .ar = 0x8b };
	s.gdt = (struct x86_dtable){ GDT, 0x17 };
	s.idt = (struct x86_dtable){ IDT, 32 * 16 - 1 };
	s.cr0 = CR0_PE | CR0_MP | CR0_ET | CR0_NE | CR0_PG;
	s.cr3 = PT_POOL;
	s.cr4 = CR4_PAE | CR4_OSFXSR | CR4_OSXMMEXCPT;
	s.efer = EFER_LME | EFER_LMA;
	sregs = s;
	memset(&ctl, 0, sizeof(ctl));
	cpu_set_controls(c, &ctl);
}

/* --- The generator --- */

struct gen {
	u8 *p;
	unsigned n;
	unsigned count;	  /* instructions in the body */
	unsigned off[96]; /* their offsets */
	unsigned end;	  /* where the epilogue starts */
};

static void e1(struct gen *g, u8 b)
{
	g->p[g->n++] = b;
}

static void e4(struct gen *g, u32 v)
{
	for (unsigned i = 0; i < 4; i++)
		e1(g, (u8)(v >> (8 * i)));
}

static void begin(struct gen *g)
{
	g->off[g->count++] = g->n;
}

/* Random prefixes that x87 instructions ignore: REX.W and friends, FWAIT in front. */
static void x87_prefixes(struct gen *g, bool allow66)
{
	if (!rn(12))
		e1(g, 0x9b);
	if (allow66 && !rn(10))
		e1(g, 0x66);
	if (!rn(16))
		e1(g, 0x65); /* GS, base GS_BASE: FDP is the offset, not the linear address */
	if (!rn(10))
		e1(g, (u8)(0x40 | (rnd() & 0xc))); /* W and R: ignored by x87 forms */
}

/* [rbx + disp32] */
static void mem_operand(struct gen *g, u8 reg, u32 disp)
{
	e1(g, (u8)(0x80 | reg << 3 | 3));
	e4(g, disp);
}

/* Now and then an operand that runs into the guard page after the data area: #PF, with
   nothing changed (state, or the part of a store before the page end). */
static u32 near_guard(unsigned size)
{
	return DATA_SIZE - 1 - rn(size);
}

static u32 val_slot(void)
{
	if (!rn(50))
		return near_guard(10);
	return D_VAL + 16 * rn(D_VAL_SLOTS) + (rn(8) ? 0 : rn(7));
}

static u32 st_slot(void)
{
	if (!rn(50))
		return near_guard(10);
	return D_ST + rn(0x100);
}

/* A register form of D8-DF that the decoder accepts (x87 decode tables). */
static bool x87_reg_valid(unsigned op, u8 m)
{
	switch (op) {
	case 1:
		return !((m >= 0xd1 && m <= 0xd7) || m == 0xe2 || m == 0xe3 || m == 0xe6 ||
			 m == 0xe7 || m == 0xef);
	case 2:
		return m < 0xe0 || m == 0xe9;
	case 3:
		return m < 0xe5 || (m >= 0xe8 && m < 0xf8);
	case 5:
		return m < 0xf0;
	case 6:
		return (m & 0xf8) != 0xd8 || m == 0xd9;
	case 7:
		return m < 0xe1 || (m >= 0xe8 && m < 0xf8);
	}
	return true;
}

static const u8 mmx_ops[] = { 0x60, 0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69,
			      0x6a, 0x6b, 0x6e, 0x6f, 0x70, 0x71, 0x72, 0x73, 0x74, 0x75,
			      0x76, 0x77, 0x7e, 0x7f, 0xc4, 0xc5, 0xd1, 0xd2, 0xd3, 0xd4,
			      0xd5, 0xd7, 0xd8, 0xd9, 0xda, 0xdb, 0xdc, 0xdd, 0xde, 0xdf,
			      0xe0, 0xe1, 0xe2, 0xe3, 0xe4, 0xe5, 0xe7, 0xe8, 0xe9, 0xea,
			      0xeb, 0xec, 0xed, 0xee, 0xef, 0xf1, 0xf2, 0xf3, 0xf4, 0xf5,
			      0xf6, 0xf7, 0xf8, 0xf9, 0xfa, 0xfb, 0xfc, 0xfd, 0xfe };

/* General registers an instruction may write: not rsp, rbx (data area), rbp, rdi (MASKMOVQ). */
static u8 gpr_dst(void)
{
	static const u8 r[] = { 0, 1, 2, 6, 8, 9, 10, 11, 12, 13, 14, 15 };

	return r[rn(sizeof(r))];
}

static void gen_mmx(struct gen *g)
{
	u8 op = mmx_ops[rn(sizeof(mmx_ops))];
	u8 r = gpr_dst(), rex = 0x40;
	bool mem = rn(3) == 0;
	bool gpr_rm = op == 0x6e || op == 0x7e || op == 0xc4;

	if (op == 0x71 || op == 0x72 || op == 0x73 || op == 0xc5 || op == 0xd7 || op == 0xf7)
		mem = false;
	if (op == 0xe7)
		mem = true;
	/* REX: W (MOVD/MOVQ width), B for a general register in ModRM.rm, R for one in ModRM.reg;
	   the MMX register fields ignore R and B, so sometimes random ones. */
	if (rn(3) == 0)
		rex |= (u8)(rnd() & (mem ? 0xc : 0xf));
	if (gpr_rm && !mem)
		rex = (u8)((rex & ~1) | (r >= 8 ? 1 : 0));
	if (op == 0xc5 || op == 0xd7)
		rex = (u8)((rex & ~4) | (r >= 8 ? 4 : 0));
	if (rex != 0x40 || rn(8) == 0)
		e1(g, rex);
	e1(g, 0x0f);
	e1(g, op);
	if (op == 0x77)
		return;
	if (op == 0x71 || op == 0x72 || op == 0x73) {
		static const u8 sub[] = { 2, 4, 6 };
		u8 s = op == 0x73 ? (rn(2) ? 2 : 6) : sub[rn(3)];

		e1(g, (u8)(0xc0 | s << 3 | rn(8)));
		e1(g, (u8)(rn(4) ? rn(70) : rnd()));
		return;
	}
	if (op == 0xc5 || op == 0xd7) {
		e1(g, (u8)(0xc0 | (r & 7) << 3 | rn(8)));
	} else if (mem) {
		u32 d = (op == 0x7e || op == 0x7f || op == 0xe7) ? st_slot() : val_slot();
		mem_operand(g, (u8)rn(8), d);
	} else if (gpr_rm) {
		e1(g, (u8)(0xc0 | rn(8) << 3 | (r & 7)));
	} else {
		e1(g, (u8)(0xc0 | rn(8) << 3 | rn(8)));
	}
	if (op == 0x70 || op == 0xc4 || op == 0xc5)
		e1(g, (u8)rnd());
}

static void gen_insn(struct gen *g)
{
	unsigned k = rn(100);

	begin(g);
	if (k < 14) { /* loads */
		static const u8 ld[][2] = { { 0xd9, 0 }, { 0xdd, 0 }, { 0xdb, 5 }, { 0xdf, 0 },
					    { 0xdb, 0 }, { 0xdf, 5 }, { 0xdf, 4 } };
		unsigned i = rn(7);

		x87_prefixes(g, true);
		e1(g, ld[i][0]);
		mem_operand(g, ld[i][1], val_slot());
	} else if (k < 28) { /* arithmetic with memory */
		static const u8 ops[] = { 0xd8, 0xdc, 0xda, 0xde };

		x87_prefixes(g, true);
		e1(g, ops[rn(4)]);
		mem_operand(g, (u8)rn(8), val_slot());
	} else if (k < 40) { /* stores */
		static const u8 st[][2] = { { 0xd9, 2 }, { 0xd9, 3 }, { 0xdb, 1 }, { 0xdb, 2 },
					    { 0xdb, 3 }, { 0xdb, 7 }, { 0xdd, 1 }, { 0xdd, 2 },
					    { 0xdd, 3 }, { 0xdf, 1 }, { 0xdf, 2 }, { 0xdf, 3 },
					    { 0xdf, 6 }, { 0xdf, 7 } };
		unsigned i = rn(14);

		x87_prefixes(g, true);
		e1(g, st[i][0]);
		mem_operand(g, st[i][1], st_slot());
	} else if (k < 62) { /* register forms */
		unsigned op;
		u8 m;

		do {
			op = rn(8);
			m = (u8)(0xc0 | rn(64));
		} while (!x87_reg_valid(op, m) || (op == 3 && m == 0xe3 && rn(4)));
		if ((op == 2 || op == 3) && m < 0xe0 && rn(2)) { /* FCMOVcc: random flags first */
			static const u8 cr[] = { 0, 1, 2, 3, 5, 6, 7 }; /* not rsp */

			e1(g, 0x39);
			e1(g, (u8)(0xc0 | cr[rn(7)] << 3 | cr[rn(7)]));
			begin(g);
		}
		x87_prefixes(g, true);
		e1(g, (u8)(0xd8 | op));
		e1(g, m);
	} else if (k < 67) { /* status and control word */
		switch (rn(5)) {
		case 0:
			e1(g, 0xdf);
			e1(g, 0xe0); /* FNSTSW AX */
			if (rn(2)) {
				begin(g);
				e1(g, 0x9e); /* SAHF */
			}
			break;
		case 1:
			e1(g, 0xdd);
			mem_operand(g, 7, st_slot());
			break;
		case 2:
			e1(g, 0xd9);
			mem_operand(g, 7, st_slot());
			break;
		case 3:
			x87_prefixes(g, true);
			e1(g, 0xd9);
			mem_operand(g, 5, D_VAL + 16 * D_VAL_SLOTS + 2 * rn(8)); /* FLDCW */
			break;
		default:
			if (rn(2))
				e1(g, 0x9b);
			e1(g, 0xdb);
			e1(g, 0xe2); /* FNCLEX */
			break;
		}
	} else if (k < 73) { /* environment and state images */
		bool o16 = rn(3) == 0, own = rn(3) != 0;
		u8 first = rn(2) ? 0xd9 : 0xdd; /* FNSTENV/FLDENV or FNSAVE/FRSTOR */
		u32 where = own ? (rn(30) ? D_ST : near_guard(100)) : D_ENV;

		if (own) {
			if (o16)
				e1(g, 0x66);
			e1(g, first);
			mem_operand(g, 6, where);
			if (!rn(4)) /* the save alone: FNSTENV masks all, FNSAVE initializes */
				return;
			begin(g);
		}
		if (o16)
			e1(g, 0x66);
		e1(g, first);
		mem_operand(g, 4, where);
	} else if (k < 77) { /* FXSAVE / FXRSTOR */
		bool w = rn(2), own = rn(2);
		u32 where = D_FX + 0x200 * rn(2);

		if (!rn(25)) /* misaligned: #GP(0) */
			where += 8;
		else if (!rn(25)) /* into the guard page */
			where = DATA_SIZE - 0x100;

		if (own) {
			if (w)
				e1(g, 0x48);
			e1(g, 0x0f);
			e1(g, 0xae);
			mem_operand(g, 0, where);
			/* The pointer bytes, which this host stores only with ES set (file
			   comment), are zeroed before the image is loaded again:
			   mov qword [rbx + where + 8], 0; mov qword [rbx + where + 16], 0;
			   mov word [rbx + where + 6], 0 */
			for (unsigned j = 0; j < 3; j++) {
				begin(g);
				if (j == 2)
					e1(g, 0x66);
				else
					e1(g, 0x48);
				e1(g, 0xc7);
				mem_operand(g, 0, where + (j == 0 ? 8 : j == 1 ? 16 : 6));
				if (j == 2) {
					e1(g, 0);
					e1(g, 0);
				} else {
					e4(g, 0);
				}
			}
			begin(g);
		}
		if (w)
			e1(g, 0x48);
		e1(g, 0x0f);
		e1(g, 0xae);
		mem_operand(g, 1, where);
	} else if (k < 79) {
		e1(g, 0x9b); /* FWAIT */
	} else {
		gen_mmx(g);
	}
}

/* The epilogue both sides run. */
static void gen_epilogue(struct gen *g)
{
	g->end = g->n;
	static const u8 tail[] = {
		0x48,
		0x0f,
		0xae,
		0x83,
		D_OUT_FX & 0xff,
		D_OUT_FX >> 8,
		0,
		0, /* fxsave64 */
		0xd9,
		0xb3,
		D_OUT_ENV & 0xff,
		D_OUT_ENV >> 8,
		0,
		0, /* fnstenv */
	};

	memcpy(g->p + g->n, tail, sizeof(tail));
	g->n += sizeof(tail);
	for (unsigned r = 0; r < 16; r++) { /* mov [rbx + D_OUT_GPR + 8 r], r */
		e1(g, (u8)(0x48 | (r >= 8 ? 4 : 0)));
		e1(g, 0x89);
		e1(g, (u8)(0x83 | (r & 7) << 3));
		e4(g, D_OUT_GPR + 8 * r);
	}
	/* pushfq; pop rax; and eax, 0xcd5 (arithmetic flags and DF); mov [rbx+..], rax */
	e1(g, 0x9c);
	e1(g, 0x58);
	e1(g, 0x25);
	e4(g, 0xcd5);
	e1(g, 0x48);
	e1(g, 0x89);
	e1(g, 0x83);
	e4(g, D_OUT_GPR + 128);
	/* jmp [rbx + D_EXIT] */
	e1(g, 0xff);
	e1(g, 0xa3);
	e4(g, D_EXIT);
}

/* --- One case --- */

static u8 init_data[DATA_SIZE];
static u64 init_gpr[16], init_rflags;
static struct x86_fpu init_fx;
static struct outcome soft;
static unsigned long executed, runs, faults_matched, divergences, host_noise;
static unsigned fails_shown;

static void rnd_state(void)
{
	struct x86_fpu *f = &init_fx;
	u16 fcw = rnd_cw();

	memset(&init_fx, 0, sizeof(init_fx));
	f->fcw = fcw;
	f->fsw = (u16)(rn(8) << FSW_TOP_SHIFT | (rnd() & (FSW_CC)));
	/* flags that are masked; one time in 16 an unmasked one too (so #MF at once) */
	f->fsw |= (u16)(rnd() & fcw & FSW_EXC);
	if (!rn(16))
		f->fsw |= (u16)(rnd() & FSW_EXC);
	f->ftw = rn(4) ? (u8)rnd() : rn(2) ? 0 : 0xff;
	f->mxcsr = X86_FPU_MXCSR_INIT;
	f->mxcsr_mask = 0;
	for (unsigned i = 0; i < 8; i++)
		rnd_f80(f->st[i]);
	for (unsigned i = 0; i < 16; i++)
		for (unsigned j = 0; j < 16; j++)
			f->xmm[i][j] = (u8)rnd();
	for (unsigned i = 0; i < 16; i++)
		init_gpr[i] = rnd_int();
	init_gpr[R_RBX] = (u64)(uintptr_t)ndata;
	init_gpr[R_RDI] = (u64)(uintptr_t)ndata + D_MASK;
	init_gpr[R_RSP] = 0;
	init_rflags = (rnd() & X86_ARITH_FLAGS) | X86_FIXED1;

	for (unsigned i = 0; i < DATA_SIZE; i += 8) {
		u64 v = rnd();
		memcpy(init_data + i, &v, 8);
	}
	for (unsigned s = 0; s < D_VAL_SLOTS; s++) {
		u8 *p = init_data + D_VAL + 16 * s;

		switch (rn(6)) {
		case 0:
		case 1:
			rnd_f80(p);
			break;
		case 2: {
			u64 v = rnd_f64();
			memcpy(p, &v, 8);
			break;
		}
		case 3: {
			u32 v = rnd_f32();
			memcpy(p, &v, 4);
			break;
		}
		case 4: {
			u64 v = rnd_int();
			memcpy(p, &v, 8);
			break;
		}
		default:
			rnd_bcd(p);
		}
	}
	for (unsigned i = 0; i < 8; i++) {
		u16 cw = rnd_cw();
		memcpy(init_data + D_VAL + 16 * D_VAL_SLOTS + 2 * i, &cw, 2);
	}
	/* Random environment / FNSAVE image: sensible words mostly, random registers. */
	{
		u8 *p = init_data + D_ENV;
		u16 cw = rnd_cw(), sw = (u16)rnd(), tw = (u16)rnd();

		if (rn(2))
			sw &= (u16)~FSW_EXC | cw;
		memcpy(p, &cw, 2);
		memcpy(p + 4, &sw, 2);
		memcpy(p + 8, &tw, 2);
		if (rn(2)) { /* the 16-bit layout too */
			memcpy(p + 2, &sw, 2);
			memcpy(p + 4, &tw, 2);
		}
		for (unsigned i = 0; i < 8; i++)
			rnd_f80(p + 28 + 10 * i);
	}
	/* Random FXSAVE images: MXCSR valid mostly. */
	for (unsigned k = 0; k < 2; k++) {
		u8 *p = init_data + D_FX + 0x200 * k;
		u16 cw = rnd_cw(), sw = (u16)rnd();
		u32 mx = rn(8) ? (u32)(rnd() & 0xffff) : (u32)rnd();

		if (rn(2))
			sw &= (u16)~FSW_EXC | cw;
		memcpy(p, &cw, 2);
		memcpy(p + 2, &sw, 2);
		memcpy(p + 24, &mx, 4);
		for (unsigned i = 0; i < 8; i++)
			rnd_f80(p + 32 + 16 * i);
		/* canonical pointers: this host keeps bits 56:0 of FIP and FDP only */
		for (unsigned i = 8; i < 24; i += 8) {
			u64 v = (u64)((s64)(rnd() << 16) >> 16);
			memcpy(p + i, &v, 8);
		}
	}
	{
		u64 t = (u64)(uintptr_t)native_tail;
		memcpy(init_data + D_EXIT, &t, 8);
	}
}

static void run_native(const struct gen *g)
{
	struct sigaction sa;

	memcpy(ndata, init_data, DATA_SIZE);
	memcpy(nctx.gpr, init_gpr, sizeof(init_gpr));
	nctx.rflags = init_rflags;
	nctx.body = (u64)(uintptr_t)ncode;
	memcpy(nctx.fx, &init_fx, 512);
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = native_signal;
	sa.sa_flags = SA_SIGINFO | SA_NODEFER;
	sigaction(SIGFPE, &sa, NULL);
	sigaction(SIGSEGV, &sa, NULL);
	sigaction(SIGILL, &sa, NULL);
	sigaction(SIGBUS, &sa, NULL);
	nat.vector = -1;
	if (!sigsetjmp(native_jb, 1))
		native_run(&nctx);
	memcpy(nat.data, ndata, DATA_SIZE);
	(void)g;
}

static void run_soft(unsigned jit)
{
	struct x86_regs r;
	struct vm_exit ex;

	cpu_set_jit(c, jit);
	cpu_set_sregs(c, &sregs);
	memcpy(ram + DATA_PA, init_data, DATA_SIZE);
	memcpy(ram + CODE_PA, ncode, 0x1000);
	bc_invalidate_phys(c, CODE_PA, 0x1000);
	cpu_set_fpu(c, &init_fx);
	memcpy(r.gpr, init_gpr, sizeof(r.gpr));
	r.gpr[R_RSP] = STACK;
	r.rip = (u64)(uintptr_t)ncode;
	r.rflags = init_rflags;
	cpu_set_regs(c, &r);
	c->halted = 0;
	(void)cpu_run(c, &ex);
	cpu_get_regs(c, &r);
	memcpy(soft.gpr, r.gpr, sizeof(r.gpr));
	memcpy(soft.data, ram + DATA_PA, DATA_SIZE);
	{
		struct x86_fpu f;

		cpu_get_fpu(c, &f);
		memcpy(soft.fx, &f, 512);
	}
	if (r.rip == (u64)(uintptr_t)native_tail + 1) {
		soft.vector = -1;
		return;
	}
	soft.vector = (int)((r.rip - 1 - HANDLERS) / 16);
	{
		bool err = soft.vector == 8 || (soft.vector >= 10 && soft.vector <= 14) ||
			   soft.vector == 17;
		u64 frame = r.gpr[R_RSP] + (err ? 8 : 0);

		soft.rip = r64(frame);
		soft.rflags = r64(frame + 16);
		soft.cr2 = c->cr2;
		soft.pf_err = (u32)r64(r.gpr[R_RSP]) & 3;
	}
}

/* FXSAVE image compare: the pointer bytes are skipped where the host left them zero with ES
   clear (file comment), and MXCSR_MASK, which differs between this host and the model. */
static bool same_fx(const u8 *n, const u8 *s, unsigned len)
{
	u8 a[512], b[512];
	bool zero = true;

	memcpy(a, n, len);
	memcpy(b, s, len);
	for (unsigned i = 6; i < 24; i++)
		zero = zero && !a[i];
	if (zero && !(a[2] & FSW_ES)) {
		memset(a + 6, 0, 18);
		memset(b + 6, 0, 18);
	}
	memset(a + 28, 0, 4);
	memset(b + 28, 0, 4);
	return !memcmp(a, b, len);
}

/* Index of the instruction at offset `off` in the body. */
static unsigned insn_at(const struct gen *g, u64 off)
{
	for (unsigned i = g->count; i-- > 0;)
		if (g->off[i] <= off)
			return i;
	return 0;
}

/* NULL when the two outcomes agree, else what differs (details into `why`). */
static const char *differs(char *why, size_t len)
{
	why[0] = 0;
	if (nat.vector != soft.vector)
		return "vector";
	if (nat.vector >= 0) {
		if (nat.rip != soft.rip)
			return "fault RIP";
		for (unsigned i = 0; i < 16; i++)
			if (i != R_RSP && nat.gpr[i] != soft.gpr[i]) {
				snprintf(why, len, "r%u %#llx / %#llx", i,
					 (unsigned long long)nat.gpr[i],
					 (unsigned long long)soft.gpr[i]);
				return "registers at the fault";
			}
		if ((nat.rflags & 0xcd5) != (soft.rflags & 0xcd5))
			return "flags at the fault";
		if (nat.vector == X86_PF_VEC &&
		    (nat.cr2 != soft.cr2 || nat.pf_err != soft.pf_err)) {
			snprintf(why, len, "CR2 %#llx / %#llx, error %u / %u",
				 (unsigned long long)nat.cr2, (unsigned long long)soft.cr2,
				 nat.pf_err, soft.pf_err);
			return "#PF address or error code";
		}
		if (!same_fx(nat.fx, soft.fx, 416))
			return "x87/MMX state at the fault";
	}
	{
		static u8 a[DATA_SIZE], b[DATA_SIZE];

		memcpy(a, nat.data, DATA_SIZE);
		memcpy(b, soft.data, DATA_SIZE);
		memcpy(b + D_OUT_GPR + 8 * R_RSP, a + D_OUT_GPR + 8 * R_RSP, 8);
		for (unsigned k = 0; k < 3; k++) {
			unsigned o = k < 2 ? D_FX + 0x200 * k : D_OUT_FX;

			if (same_fx(a + o, b + o, 416))
				memcpy(b + o, a + o, 416);
		}
		if (memcmp(a, b, DATA_SIZE)) {
			unsigned i = 0, n;

			while (a[i] == b[i])
				i++;
			n = (unsigned)snprintf(why, len, "at data+%#x (native/soft):", i);
			for (unsigned j = i & ~15u; j < (i & ~15u) + 32 && j < DATA_SIZE && n < len;
			     j++)
				n += (unsigned)snprintf(why + n, len - n, " %02x/%02x", a[j], b[j]);
			return "memory";
		}
	}
	return NULL;
}

static void dump_fx(const char *who, const u8 *fx)
{
	fprintf(stderr, "  %s:", who);
	for (unsigned i = 0; i < 160; i++)
		fprintf(stderr, "%s%02x", i % 16 ? "" : " | ", fx[i]);
	fprintf(stderr, "\n");
}

static void run_both(const struct gen *g, unsigned iter)
{
	run_native(g);
	run_soft(iter % 4 == 3 ? 1 : 0);
}

/*
 * A divergence: rerun the body cut after 1, 2, ... instructions (same initial state) to find the
 * first instruction whose result differs, and show it with both states.
 */
static void report(const char *what, const char *why, unsigned iter, struct gen *g)
{
	static u8 full[0x1000];
	struct gen cut;

	divergences++;
	check_failed++;
	if (fails_shown++ >= 10)
		return;
	fprintf(stderr, "DIVERGE run %u: %s %s\n", iter, what, why);
	if (nat.vector >= 0) {
		fprintf(stderr, "  vector %d at +%#llx\n", nat.vector,
			(unsigned long long)(nat.rip - (u64)(uintptr_t)ncode));
		dump_fx("native", nat.fx);
		dump_fx("soft  ", soft.fx);
	}
	memcpy(full, g->p, 0x1000);
	for (unsigned k = 1; k <= g->count; k++) {
		unsigned from = g->off[k - 1], to = k < g->count ? g->off[k] : g->end;
		char w[400];
		const char *d;

		memcpy(g->p, full, to);
		cut = *g;
		cut.n = to;
		cut.count = k;
		gen_epilogue(&cut);
		run_both(&cut, iter);
		d = differs(w, sizeof(w));
		if (d) {
			fprintf(stderr, "  first at instruction %u of %u:", k - 1, g->count);
			for (unsigned i = from; i < to; i++)
				fprintf(stderr, " %02x", full[i]);
			fprintf(stderr, "  -> %s %s\n", d, w);
			if (k > 1) {
				fprintf(stderr, "  before it:");
				for (unsigned i = g->off[k - 2]; i < from; i++)
					fprintf(stderr, " %02x", full[i]);
				fprintf(stderr, "\n");
			}
			if (nat.vector >= 0) {
				dump_fx("native", nat.fx);
				dump_fx("soft  ", soft.fx);
			} else {
				dump_fx("native", nat.data + D_OUT_FX);
				dump_fx("soft  ", soft.data + D_OUT_FX);
			}
			break;
		}
	}
	memcpy(g->p, full, 0x1000);
}

static void oracle(unsigned long target)
{
	struct gen g;
	unsigned iter = 0;

	ncode = mmap(NULL, 0x1000, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS,
		     -1, 0);
	ndata = mmap(NULL, DATA_SIZE + 0x1000, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		     -1, 0);
	if (ncode == MAP_FAILED || ndata == MAP_FAILED ||
	    mprotect(ndata + DATA_SIZE, 0x1000, PROT_NONE)) {
		printf("test_fpu_host: no executable memory here, skipped\n");
		return;
	}
	/* This process has no use for GS (glibc's thread pointer is FS). */
	if (syscall(SYS_arch_prctl, ARCH_SET_GS, (unsigned long)GS_BASE)) {
		printf("test_fpu_host: cannot set the GS base, skipped\n");
		return;
	}
	setup_soft();
	while (executed < target) {
		unsigned n = 1 + rn(40);

		memset(&g, 0, sizeof(g));
		g.p = ncode;
		memset(ncode, 0xcc, 0x1000);
		while (g.count < n)
			gen_insn(&g);
		gen_epilogue(&g);
		rnd_state();
		run_both(&g, iter);
		{
			char why[400];
			const char *d = differs(why, sizeof(why));

			if (nat.vector >= 0) {
				executed += insn_at(&g, nat.rip - (u64)(uintptr_t)ncode);
				faults_matched += !d;
			} else {
				executed += g.count;
			}
			/* The host is not quite deterministic: now and then (a few in 10^5 runs)
			   the FXSAVE image of a signal frame holds FIP and FDP cut to 32 bits,
			   presumably when the kernel saved the state around a preemption. A
			   divergence must therefore happen again, three times. */
			for (unsigned again = 0; d && again < 3; again++) {
				run_both(&g, iter);
				if (!differs(why, sizeof(why))) {
					host_noise++;
					d = NULL;
				}
			}
			if (d)
				report(d, why, iter, &g);
			else
				check_passed++;
		}
		iter++;
		runs++;
	}
	printf("test_fpu_host: %lu runs, %lu instructions executed on both, %lu ended in a fault "
	       "that matched, %lu divergences, %lu host results not reproduced\n",
	       runs, executed, faults_matched, divergences, host_noise);
}

int main(int argc, char **argv)
{
	unsigned long target = argc > 1 ? strtoul(argv[1], NULL, 0) : 1000000;

	if (argc > 2)
		rng = strtoull(argv[2], NULL, 0);
	oracle(target);
	return check_done("test_fpu_host");
}
