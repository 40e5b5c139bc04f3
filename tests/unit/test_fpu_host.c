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
 * Where hosts differ from each other and from the model (an Intel CPU that sets and stores FOP,
 * FIP, FDP, FCS and FDS at every non-control instruction, SDM vol. 1 8.1.8, 8.1.9), the test
 * measures what this host does at the start and compares with that (x87_host.h, host_quirks()):
 *   - An AMD host (as seen on an EPYC) stores FOP, FIP and FDP in an FXSAVE image only while an
 *     exception is pending (FSW.ES), and zeros otherwise: there each of the three is skipped
 *     where the host wrote zeros with ES clear (same_fx()), and the generator zeroes those
 *     bytes of an image the body saved before the body loads it again.
 *   - An Intel host (as seen on a Xeon, family 6 model CFH) updates FDP and FDS only at an
 *     unmasked exception (CPUID.(7,0):EBX[6]), FOP too (FOP compatibility mode off), stores
 *     FCS and FDS as 0 (EBX[13]), and at a #PF sets TOP to 0 for an MMX store, takes no #PF
 *     for an x87 store that an unmasked exception suppresses, and writes the first 8 bytes of a
 *     10-byte store whose last 2 fault. There the host is compared with the soft CPU run one
 *     instruction at a time and made to do the same (run_steps(), host_pf()), and the soft CPU
 *     as a VMM runs it (blocks, interpreted or compiled) with the same run stepped but not
 *     changed, in every byte.
 * MXCSR_MASK, the implementation's, is never compared.
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
#include "x87_host.h"

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
#define SPARE_PA 0x106000 /* run_steps(): the guard page, mapped for a moment */

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
static struct vmx_controls ctl;
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

/* The guest-physical address of the page-table entry for linear `lin` (4-level paging, PML4 at
   PT_POOL), making the tables on the way. */
static u64 pte_of(u64 lin)
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
	return table + ((lin >> 12) & 511) * 8;
}

/* Map the 4 KiB page at linear `lin` to guest-physical `pa`. */
static void map_page(u64 lin, u64 pa)
{
	w64(pte_of(lin), pa | 3);
}

static void setup_soft(void)
{
	struct cpu_config cfg = { 0 };
	struct x86_sregs s;
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
			/* The pointer bytes, which an AMD host stores only with ES set (file
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
static struct outcome soft, stepped, as_host;
static struct x87_host host;
/* Where this host's x87 and MMX differ from the model's at a page fault (host_quirks()). */
static struct {
	bool mmx_store_top0, store_no_pf, m80_split, any;
} quirk;
/* The soft CPU is also run as this host would run it (run_steps): host.fdp_exc_only,
   fop_exc_only, fcs_fds_zero or a quirk. */
static bool host_steps;
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
	/* Random FXSAVE images: MXCSR valid mostly. Bit 17 never: an AMD host's MXCSR_MASK
	   (0x2ffff) allows it (MM, the misaligned-exception mask, AMD APM vol. 2 4.2.2), the
	   soft CPU's (Intel's 0xffff) does not, so FXRSTOR of such an image is #GP(0) on soft
	   only (seed 101: once in 1,000,000 instructions). */
	for (unsigned k = 0; k < 2; k++) {
		u8 *p = init_data + D_FX + 0x200 * k;
		u16 cw = rnd_cw(), sw = (u16)rnd();
		u32 mx = rn(8) ? (u32)(rnd() & 0xffff) : (u32)rnd() & ~(u32)0x20000;

		if (rn(2))
			sw &= (u16)~FSW_EXC | cw;
		memcpy(p, &cw, 2);
		memcpy(p + 2, &sw, 2);
		memcpy(p + 24, &mx, 4);
		for (unsigned i = 0; i < 8; i++)
			rnd_f80(p + 32 + 16 * i);
		/* canonical pointers: an AMD host keeps bits 56:0 of FIP and FDP only */
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

/* One instruction on the soft CPU (the monitor trap flag is on): false if it did not end in the
   MTF exit. */
static bool step(void)
{
	struct vm_exit ex;

	return cpu_run(c, &ex) == CPU_RUN_EXIT &&
	       (ex.reason & 0xffff) == EXIT_REASON_MONITOR_TRAP_FLAG;
}

/* The first byte after the prefixes the generator puts in front of an x87 or MMX instruction
   (66H, GS, REX; FWAIT is an instruction of its own); *gs when GS is one of them. */
static const u8 *insn_opcode(u64 rip, bool *gs)
{
	const u8 *p = (const u8 *)(uintptr_t)rip;

	*gs = false;
	for (;; p++)
		if (*p == 0x65)
			*gs = true;
		else if (*p != 0x66 && (*p & 0xf0) != 0x40)
			return p;
}

/* An x87 store to memory that can raise a numeric exception (FST/FSTP m32/m64/m80, FIST/FISTP/
   FISTTP, FBSTP); *m80 for the 10-byte ones. */
static bool x87_num_store(const u8 *p, bool *m80)
{
	unsigned reg = (p[1] >> 3) & 7;

	*m80 = (p[0] == 0xdb && reg == 7) || (p[0] == 0xdf && reg == 6);
	if (p[1] >= 0xc0)
		return false;
	switch (p[0]) {
	case 0xd9:
		return reg == 2 || reg == 3;
	case 0xdb:
		return (reg >= 1 && reg <= 3) || reg == 7;
	case 0xdd:
		return reg >= 1 && reg <= 3;
	case 0xdf:
		return (reg >= 1 && reg <= 3) || reg >= 6;
	}
	return false;
}

/* The soft CPU back to a state saved before an instruction (the fault's delivery changed CS). */
static void restore(const struct x86_regs *r, const struct x86_fpu *f, u16 fcs, u16 fds)
{
	cpu_set_sregs(c, &sregs);
	cpu_set_regs(c, r);
	c->fpu = *f;
	c->fpu_cs = fcs;
	c->fpu_ds = fds;
}

/*
 * The instruction at `rip` took #PF (the guard page) on the soft CPU, from the state r, f, fcs,
 * fds; make the outcome this host's where it does otherwise (host_quirks(), measured):
 *   - an MMX store: TOP is 0 at the fault (the tags as they were);
 *   - an x87 store with an unmasked #I, #D, #Z, #O or #U, which writes nothing: no #PF (the
 *     exception is pending and the next waiting instruction takes #MF);
 *   - a 10-byte store whose first 8 bytes are before the guard page: they are written.
 * The last two run the instruction again with the guard page mapped to a spare page, to see
 * what it raises and writes, and then as it first ran, when the host too takes the #PF.
 */
static void host_pf(u64 rip, const struct x86_regs *r, const struct x86_fpu *f, u16 fcs, u16 fds)
{
	u64 guard = (u64)(uintptr_t)ndata + DATA_SIZE, lin;
	bool gs, m80, done, split = false;
	const u8 *p = insn_opcode(rip, &gs);
	u8 first8[8], end[16], *data_end = ram + DATA_PA + DATA_SIZE - 16;

	if (p[0] == 0x0f && (p[1] == 0x7e || p[1] == 0x7f || p[1] == 0xe7)) {
		if (quirk.mmx_store_top0)
			fpu_rotate_to(&c->fpu, 0);
		return;
	}
	if (!x87_num_store(p, &m80) || !(quirk.store_no_pf || (m80 && quirk.m80_split)))
		return;
	restore(r, f, fcs, fds);
	memcpy(end, data_end, 16); /* what the store can write before the guard page */
	map_page(guard, SPARE_PA);
	cpu_set_sregs(c, &sregs); /* flushes the TLB */
	done = step() && (c->rip < HANDLERS || c->rip >= HANDLERS + 32 * 16);
	w64(pte_of(guard), 0);
	cpu_set_sregs(c, &sregs);
	if (done && quirk.store_no_pf && !(f->fsw & FSW_ES) &&
	    (c->fpu.fsw & ~c->fpu.fcw & (FSW_EXC & ~FSW_PE)))
		return;
	lin = c->fpu.fdp + (gs ? GS_BASE : 0);
	if (done && m80 && quirk.m80_split && lin + 8 <= guard) {
		memcpy(first8, ram + DATA_PA + (lin - (u64)(uintptr_t)ndata), 8);
		split = true;
	}
	memcpy(data_end, end, 16);
	restore(r, f, fcs, fds);
	step();
	if (split)
		memcpy(ram + DATA_PA + (lin - (u64)(uintptr_t)ndata), first8, 8);
}

/*
 * The soft CPU one instruction at a time (a monitor-trap-flag exit after each); when `like_host`,
 * made to do what this host does otherwise than the model:
 *   - its x87 pointers (x87_host.h): after a non-control x87 instruction (it set FIP to its own
 *     offset) that incurred no unmasked exception (FSW.ES did not go from 0 to 1), FDP and FDS,
 *     or FOP, go back to what they held before it when the host updates them only on unmasked
 *     exceptions; FCS and FDS are 0 after every instruction when the host stores them as 0. A
 *     control instruction (FLDENV, FRSTOR, FXRSTOR, FNINIT, FNSAVE, the stores) does to them what
 *     it does in the model, from the values the host holds;
 *   - its page faults (host_pf).
 * Ends at the HLT.
 */
static void run_steps(bool like_host)
{
	ctl.proc = PROC_MONITOR_TRAP_FLAG;
	cpu_set_controls(c, &ctl);
	if (like_host && host.fcs_fds_zero)
		c->fpu_cs = c->fpu_ds = 0;
	for (unsigned n = 0; n < 1000 && !c->halted; n++) {
		u64 rip = c->rip, fdp = c->fpu.fdp;
		u16 fop = c->fpu.fop, fcs = c->fpu_cs, fds = c->fpu_ds;
		bool es = c->fpu.fsw & FSW_ES;
		struct x86_regs r;
		struct x86_fpu f;

		if (like_host && quirk.any) {
			cpu_get_regs(c, &r);
			f = c->fpu;
		}
		if (!step())
			break;
		if (!like_host)
			continue;
		if (quirk.any && c->rip == HANDLERS + 16 * X86_PF_VEC)
			host_pf(rip, &r, &f, fcs, fds);
		if (c->fpu.fip == rip && (es || !(c->fpu.fsw & FSW_ES))) {
			if (host.fdp_exc_only) {
				c->fpu.fdp = fdp;
				c->fpu_ds = fds;
			}
			if (host.fop_exc_only)
				c->fpu.fop = fop;
		}
		if (host.fcs_fds_zero)
			c->fpu_cs = c->fpu_ds = 0;
	}
	ctl.proc = 0;
	cpu_set_controls(c, &ctl);
}

/* Run the body on the soft CPU into *o: `mode` RUN_BLOCKS as a VMM runs it (compiled at once
   with `jit`), RUN_STEPS one instruction at a time, RUN_HOST so and as this host would. */
enum { RUN_BLOCKS, RUN_STEPS, RUN_HOST };

static void run_soft(struct outcome *o, unsigned jit, unsigned mode)
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
	if (mode == RUN_BLOCKS)
		(void)cpu_run(c, &ex);
	else
		run_steps(mode == RUN_HOST);
	cpu_get_regs(c, &r);
	memcpy(o->gpr, r.gpr, sizeof(r.gpr));
	memcpy(o->data, ram + DATA_PA, DATA_SIZE);
	{
		struct x86_fpu f;

		cpu_get_fpu(c, &f);
		memcpy(o->fx, &f, 512);
	}
	if (r.rip == (u64)(uintptr_t)native_tail + 1) {
		o->vector = -1;
		return;
	}
	o->vector = (int)((r.rip - 1 - HANDLERS) / 16);
	{
		bool err = o->vector == 8 || (o->vector >= 10 && o->vector <= 14) ||
			   o->vector == 17;
		u64 frame = r.gpr[R_RSP] + (err ? 8 : 0);

		o->rip = r64(frame);
		o->rflags = r64(frame + 16);
		o->cr2 = c->cr2;
		o->pf_err = (u32)r64(r.gpr[R_RSP]) & 3;
	}
}

/*
 * FXSAVE image compare, the host's (n) against the soft CPU's (s), less MXCSR_MASK, which differs
 * between hosts and the model, and on an es_only host (x87_host.h) the pointers it stores only
 * with FSW.ES set: with ES clear, FOP (bytes 7:6), FIP (15:8, with FCS in the 32-bit layout)
 * and FDP (23:16, with FDS) are each skipped where the host wrote zeros. The other hosts'
 * pointers are the soft CPU's as run_steps() makes them, compared as they are.
 */
static bool same_fx(const u8 *n, const u8 *s, unsigned len)
{
	static const unsigned field[3][2] = { { 6, 2 }, { 8, 8 }, { 16, 8 } }; /* offset, size */
	static const u8 zeros[8];
	u8 a[512], b[512];

	memcpy(a, n, len);
	memcpy(b, s, len);
	if (host.es_only && !(a[2] & FSW_ES))
		for (unsigned i = 0; i < 3; i++)
			if (!memcmp(a + field[i][0], zeros, field[i][1]))
				memset(b + field[i][0], 0, field[i][1]);
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

/*
 * NULL when the two outcomes agree, else what differs (details into `why`). `oracle`: `a` is the
 * host's, and the FXSAVE images are compared as same_fx() does; else both are the soft CPU's and
 * everything must be equal.
 */
static const char *differs_in(const struct outcome *a, const struct outcome *b, bool oracle,
			      char *why, size_t len)
{
	why[0] = 0;
	if (a->vector != b->vector) {
		snprintf(why, len, "%d / %d (-1: none)", a->vector, b->vector);
		return "vector";
	}
	if (a->vector >= 0) {
		if (a->rip != b->rip)
			return "fault RIP";
		for (unsigned i = 0; i < 16; i++)
			if (i != R_RSP && a->gpr[i] != b->gpr[i]) {
				snprintf(why, len, "r%u %#llx / %#llx", i,
					 (unsigned long long)a->gpr[i],
					 (unsigned long long)b->gpr[i]);
				return "registers at the fault";
			}
		if ((a->rflags & 0xcd5) != (b->rflags & 0xcd5))
			return "flags at the fault";
		if (a->vector == X86_PF_VEC && (a->cr2 != b->cr2 || a->pf_err != b->pf_err)) {
			snprintf(why, len, "CR2 %#llx / %#llx, error %u / %u",
				 (unsigned long long)a->cr2, (unsigned long long)b->cr2, a->pf_err,
				 b->pf_err);
			return "#PF address or error code";
		}
		if (oracle ? !same_fx(a->fx, b->fx, 416) : memcmp(a->fx, b->fx, 416) != 0)
			return "x87/MMX state at the fault";
	}
	{
		static u8 x[DATA_SIZE], y[DATA_SIZE];

		memcpy(x, a->data, DATA_SIZE);
		memcpy(y, b->data, DATA_SIZE);
		memcpy(y + D_OUT_GPR + 8 * R_RSP, x + D_OUT_GPR + 8 * R_RSP, 8);
		for (unsigned k = 0; oracle && k < 3; k++) {
			unsigned o = k < 2 ? D_FX + 0x200 * k : D_OUT_FX;

			if (same_fx(x + o, y + o, 416))
				memcpy(y + o, x + o, 416);
		}
		if (memcmp(x, y, DATA_SIZE)) {
			unsigned i = 0, n;

			while (x[i] == y[i])
				i++;
			n = (unsigned)snprintf(why, len, "at data+%#x (%s):", i,
					       oracle ? "native/soft" : "blocks/steps");
			for (unsigned j = i & ~15u; j < (i & ~15u) + 32 && j < DATA_SIZE && n < len;
			     j++)
				n += (unsigned)snprintf(why + n, len - n, " %02x/%02x", x[j], y[j]);
			return "memory";
		}
	}
	return NULL;
}

/* The pair differs() compared last, for report(). */
static const struct outcome *cmp_a = &nat, *cmp_b = &soft;

/*
 * The host against the soft CPU: NULL when they agree, else what differs. Where the host's
 * pointers differ from the model's beyond what same_fx() skips (host_steps), the host is
 * compared with the soft CPU stepped and made to do as the host does (run_steps), and the soft
 * CPU as a VMM runs it (in blocks, interpreted or compiled) with the same stepped but unchanged:
 * everything is compared both times.
 */
static const char *differs(char *why, size_t len)
{
	const char *d;

	cmp_a = &nat;
	cmp_b = host_steps ? &as_host : &soft;
	d = differs_in(cmp_a, cmp_b, true, why, len);
	if (d || !host_steps)
		return d;
	cmp_a = &soft;
	cmp_b = &stepped;
	d = differs_in(cmp_a, cmp_b, false, why, len);
	return d ? "soft CPU in blocks against stepped" : NULL;
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
	run_soft(&soft, iter % 4 == 3 ? 1 : 0, RUN_BLOCKS);
	if (host_steps) {
		run_soft(&stepped, 0, RUN_STEPS);
		run_soft(&as_host, 0, RUN_HOST);
	}
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
	if (cmp_a->vector >= 0) {
		fprintf(stderr, "  vector %d at +%#llx\n", cmp_a->vector,
			(unsigned long long)(cmp_a->rip - (u64)(uintptr_t)ncode));
		dump_fx(cmp_a == &nat ? "native" : "blocks", cmp_a->fx);
		dump_fx(cmp_a == &nat ? "soft  " : "steps ", cmp_b->fx);
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
			dump_fx(cmp_a == &nat ? "native" : "blocks",
				cmp_a->vector >= 0 ? cmp_a->fx : cmp_a->data + D_OUT_FX);
			dump_fx(cmp_a == &nat ? "soft  " : "steps ",
				cmp_b->vector >= 0 ? cmp_b->fx : cmp_b->data + D_OUT_FX);
			break;
		}
	}
	memcpy(g->p, full, 0x1000);
}

/* Run `code` natively from FNINIT's state with control word `fcw`, then the epilogue. */
static void probe_native(const u8 *code, unsigned n, u16 fcw)
{
	struct gen g;

	memset(&g, 0, sizeof(g));
	g.p = ncode;
	memset(ncode, 0xcc, 0x1000);
	memcpy(ncode, code, n);
	g.n = n;
	gen_epilogue(&g);
	memset(&init_fx, 0, sizeof(init_fx));
	init_fx.fcw = fcw;
	init_fx.mxcsr = X86_FPU_MXCSR_INIT;
	memset(init_gpr, 0, sizeof(init_gpr));
	init_gpr[R_RBX] = (u64)(uintptr_t)ndata;
	init_gpr[R_RDI] = (u64)(uintptr_t)ndata + D_MASK;
	init_rflags = X86_FIXED1;
	memset(init_data, 0, DATA_SIZE);
	{
		u64 t = (u64)(uintptr_t)native_tail;

		memcpy(init_data + D_EXIT, &t, 8);
	}
	run_native(&g);
}

/*
 * Measure what this host does at a page fault where hosts differ (AMD does as the model does,
 * an Intel Xeon otherwise), for run_steps() to do the same (host_pf):
 *   - FLD1, FLD1 (TOP 6), MOVQ [rbx + 2000H - 4], MM1: does the #PF leave TOP 0?
 *   - FST m64 [rbx + 2000H - 4] with ST(0) empty and #I unmasked: a #PF, or none (the store is
 *     suppressed) and the #I pending?
 *   - FLDPI, FSTP m80 [rbx + 2000H - 8]: a #PF with the first 8 bytes written?
 */
static void host_quirks(void)
{
	static const u8 mmx[] = { 0xd9, 0xe8, 0xd9, 0xe8, 0x0f, 0x7f, 0x8b, 0xfc, 0x1f, 0, 0 };
	static const u8 fst[] = { 0xdd, 0x93, 0xfc, 0x1f, 0, 0 };
	static const u8 m80[] = { 0xd9, 0xeb, 0xdb, 0xbb, 0xf8, 0x1f, 0, 0 };
	static const u8 zeros[8];

	_Static_assert(DATA_SIZE == 0x2000, "the probes' displacements");
	probe_native(mmx, sizeof(mmx), 0x37f);
	quirk.mmx_store_top0 = nat.vector == X86_PF_VEC && !(nat.fx[3] & (FSW_TOP >> 8));
	probe_native(fst, sizeof(fst), 0x37e);
	quirk.store_no_pf = nat.vector != X86_PF_VEC;
	probe_native(m80, sizeof(m80), 0x37f);
	quirk.m80_split = nat.vector == X86_PF_VEC && memcmp(nat.data + DATA_SIZE - 8, zeros, 8);
	quirk.any = quirk.mmx_store_top0 || quirk.store_no_pf || quirk.m80_split;
	printf("test_fpu_host: host at a #PF: MMX store %s, x87 store with an unmasked exception "
	       "%s, 10-byte store %s\n",
	       quirk.mmx_store_top0 ? "sets TOP to 0" : "changes nothing",
	       quirk.store_no_pf ? "takes none" : "takes it",
	       quirk.m80_split ? "writes its first 8 bytes" : "writes nothing");
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
	host = x87_host_probe("test_fpu_host");
	host_quirks();
	host_steps = host.fdp_exc_only || host.fop_exc_only || host.fcs_fds_zero || quirk.any;
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
		rng = strtoull(argv[2], NULL, 0) ?: rng; /* xorshift's state must not be 0 */
	oracle(target);
	return check_done("test_fpu_host");
}
