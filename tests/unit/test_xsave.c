// SPDX-License-Identifier: MIT
/*
 * The XSAVE feature set (SDM vol. 1 chapter 13, vol. 2 XSAVE...) and the other instructions of
 * issue 13 part 2 that are not SIMD arithmetic: XGETBV (XCR0, XINUSE), XSETBV (always exit 55,
 * after #UD and the CPL #GP), cpu_set_xcr0(), IA32_XSS, XSAVE / XSAVEOPT / XSAVEC / XSAVES and
 * XRSTOR / XRSTORS (layouts, XSTATE_BV and XCOMP_BV, the init optimization, MXCSR rules, every
 * #GP of the header, #UD, #NM, alignment, "enable XSAVES/XRSTORS", CPL), RDRAND and RDSEED (and
 * their exits 57 and 61 with the instruction information), RDPID, FSGSBASE, CLFLUSHOPT/CLWB.
 */
#include <errno.h>

#include "check.h"
#include "cpu_box.h"
#include "cpu/sse.h"
#include "cpu/xsave.h"

#define GUEST(name, insns)                                                                         \
	extern const u8 name[], name##_end[];                                                      \
	asm(".pushsection .rodata\n" #name ":\n\t" insns "\n" #name "_end:\n\t.popsection");
#define RUN(b, name) box_run((b), name, (size_t)(name##_end - name))

static struct box box;
static struct cpu *c;

#define AREA (BOX_DATA + 0x1000) /* 64-byte aligned */

static u64 rd64(u64 a)
{
	u64 v;
	memcpy(&v, box.ram + a, 8);
	return v;
}

static u32 rd32(u64 a)
{
	u32 v;
	memcpy(&v, box.ram + a, 4);
	return v;
}

static void mask(u64 m)
{
	c->gpr[R_RAX] = (u32)m;
	c->gpr[R_RDX] = m >> 32;
}

/* A known register state: x87 not in its initial configuration, XMMi = i + 1 in every byte. */
static void fill_state(void)
{
	c->fpu.fcw = 0x27f;
	c->fpu.fsw = 0x3800;
	c->fpu.ftw = 0x80;
	c->fpu.fop = 0x123;
	c->fpu.fip = 0x1122334455667788ull;
	c->fpu.fdp = 0x99aabbccddeeff00ull;
	for (unsigned i = 0; i < 8; i++)
		memset(c->fpu.st[i], 0x40 + i, 10);
	for (unsigned i = 0; i < 16; i++)
		memset(c->fpu.xmm[i], (int)i + 1, 16);
	c->fpu.mxcsr = 0x1f80 | 0x6000;
}

static void init_state(void)
{
	c->fpu.fcw = X86_FPU_FCW_INIT;
	c->fpu.fsw = 0;
	c->fpu.ftw = 0;
	c->fpu.fop = 0;
	c->fpu.fip = c->fpu.fdp = 0;
	memset(c->fpu.st, 0, sizeof(c->fpu.st));
	memset(c->fpu.xmm, 0, sizeof(c->fpu.xmm));
	c->fpu.mxcsr = X86_FPU_MXCSR_INIT;
}

GUEST(g_xgetbv, "xgetbv")
GUEST(g_xsetbv, "xsetbv")
GUEST(g_xsave, "xsave (%rdi)")
GUEST(g_xsave64, "xsave64 (%rdi)")
GUEST(g_xsaveopt, "xsaveopt (%rdi)")
GUEST(g_xsavec, "xsavec (%rdi)")
GUEST(g_xsaves, "xsaves (%rdi)")
GUEST(g_xrstor, "xrstor (%rdi)")
GUEST(g_xrstor64, "xrstor64 (%rdi)")
GUEST(g_xrstors, "xrstors (%rdi)")

static void test_xcr(void)
{
	c->cr4 &= ~CR4_OSXSAVE;
	c->gpr[R_RCX] = 0;
	CHECK_EQ(RUN(&box, g_xgetbv), X86_UD);
	CHECK_EQ(RUN(&box, g_xsetbv), X86_UD);
	CHECK_EQ(RUN(&box, g_xsave), X86_UD);
	c->cr4 |= CR4_OSXSAVE;
	CHECK_EQ(RUN(&box, g_xgetbv), -1);
	CHECK_EQ(c->gpr[R_RAX], 1); /* XCR0 after reset: x87 only */
	CHECK_EQ(c->gpr[R_RDX], 0);
	/* XSETBV always exits (SDM vol. 3C 26.1.2); the VMM loads XCR0 with cpu_set_xcr0(). */
	mask(3);
	CHECK_EQ(RUN(&box, g_xsetbv), 256 + EXIT_REASON_XSETBV);
	CHECK_EQ(box.ex.insn_len, 3);
	CHECK_EQ(cpu_set_xcr0(c, 0), -EINVAL); /* bit 0 must be set */
	CHECK_EQ(cpu_set_xcr0(c, 2), -EINVAL);
	CHECK_EQ(cpu_set_xcr0(c, 5), -EINVAL); /* AVX: not supported (and needs SSE) */
	CHECK_EQ(cpu_set_xcr0(c, 7), -EINVAL);
	CHECK_EQ(cpu_set_xcr0(c, 3), 0);
	CHECK_EQ(RUN(&box, g_xgetbv), -1);
	CHECK_EQ(c->gpr[R_RAX], 3);
	/* XGETBV ECX = 1: XINUSE & XCR0; ECX = 2: #GP(0). */
	init_state();
	c->gpr[R_RCX] = 1;
	CHECK_EQ(RUN(&box, g_xgetbv), -1);
	CHECK_EQ(c->gpr[R_RAX], 0);
	c->fpu.xmm[3][5] = 1;
	CHECK_EQ(RUN(&box, g_xgetbv), -1);
	CHECK_EQ(c->gpr[R_RAX], 2);
	c->fpu.xmm[3][5] = 0;
	c->fpu.mxcsr = 0x1f81; /* XINUSE[1] is the XMM registers' alone (SDM vol. 1 13.6) */
	CHECK_EQ(RUN(&box, g_xgetbv), -1);
	CHECK_EQ(c->gpr[R_RAX], 0);
	c->fpu.fcw = 0x27f;
	CHECK_EQ(RUN(&box, g_xgetbv), -1);
	CHECK_EQ(c->gpr[R_RAX], 1);
	c->fpu.fcw = X86_FPU_FCW_INIT;
	c->fpu_cs = 8; /* FCS is x87 state too */
	CHECK_EQ(RUN(&box, g_xgetbv), -1);
	CHECK_EQ(c->gpr[R_RAX], 1);
	c->fpu_cs = 0;
	c->fpu.mxcsr = X86_FPU_MXCSR_INIT;
	c->gpr[R_RCX] = 2;
	CHECK_EQ(RUN(&box, g_xgetbv), X86_GP);
	c->gpr[R_RCX] = 0;
	/* IA32_XSS holds only 0. */
	{
		u64 v = 1;

		CHECK_EQ(cpu_get_msr(c, MSR_IA32_XSS, &v), 0);
		CHECK_EQ(v, 0);
		CHECK_EQ(cpu_set_msr(c, MSR_IA32_XSS, 0), 0);
		CHECK_EQ(cpu_set_msr(c, MSR_IA32_XSS, BIT(8)), -EINVAL);
	}
}

static void test_xsave_standard(void)
{
	c->gpr[R_RDI] = AREA;
	fill_state();
	memset(box.ram + AREA, 0xcc, 1024);
	/* XSAVE with RFBM = 3: the legacy region (FXSAVE layout), XSTATE_BV = XINUSE, the rest of
	   the header and bytes 511:464 untouched (SDM vol. 1 13.7). */
	mask(~0ull);
	CHECK_EQ(RUN(&box, g_xsave64), -1);
	CHECK_EQ(rd32(AREA) & 0xffff, 0x27f);
	CHECK_EQ(rd32(AREA + 2) & 0xffff, 0x3800);
	CHECK_EQ(box.ram[AREA + 4], 0x80);
	CHECK_EQ(rd32(AREA + 6) & 0xffff, 0x123);
	CHECK_EQ(rd64(AREA + 8), 0x1122334455667788ull);
	CHECK_EQ(rd64(AREA + 16), 0x99aabbccddeeff00ull);
	CHECK_EQ(rd32(AREA + 24), 0x7f80);
	CHECK_EQ(rd32(AREA + 28), 0xffff); /* MXCSR_MASK */
	CHECK_EQ(box.ram[AREA + 32], 0x40);
	CHECK_EQ(box.ram[AREA + 32 + 7 * 16 + 9], 0x47);
	CHECK_EQ(box.ram[AREA + 160], 1);
	CHECK_EQ(box.ram[AREA + 160 + 15 * 16 + 15], 16);
	CHECK_EQ(box.ram[AREA + 464], 0xcc);
	CHECK_EQ(box.ram[AREA + 511], 0xcc);
	CHECK_EQ(rd64(AREA + 512), 0xcccccccccccccccfull);
	CHECK_EQ(rd64(AREA + 520), 0xccccccccccccccccull);
	CHECK_EQ(box.ram[AREA + 576], 0xcc);
	/* Without REX.W: 32-bit FIP and FDP with (zero) selectors. */
	CHECK_EQ(RUN(&box, g_xsave), -1);
	CHECK_EQ(rd64(AREA + 8), 0x55667788);
	CHECK_EQ(rd64(AREA + 16), 0xddeeff00);
	/* RFBM = 1 (EDX:EAX & XCR0): SSE state and MXCSR untouched; XSTATE_BV[1] kept. */
	memset(box.ram + AREA, 0xcc, 1024);
	box.ram[AREA + 512] = 0x02;
	mask(1);
	CHECK_EQ(RUN(&box, g_xsave64), -1);
	CHECK_EQ(rd32(AREA + 24), 0xcccccccc);
	CHECK_EQ(box.ram[AREA + 160], 0xcc);
	CHECK_EQ(rd64(AREA + 512), 0xcccccccccccccc03ull);
	/* XSTATE_BV[i] = XINUSE[i]: SSE in its initial configuration gives 0 there. */
	memset(c->fpu.xmm, 0, sizeof(c->fpu.xmm));
	c->fpu.mxcsr = 0x1f80;
	mask(3);
	CHECK_EQ(RUN(&box, g_xsave64), -1);
	CHECK_EQ(box.ram[AREA + 512], 1);
	CHECK_EQ(box.ram[AREA + 160], 0); /* XSAVE still writes the registers */
	/* XSAVEOPT: the init optimization leaves the SSE registers unwritten. */
	memset(box.ram + AREA, 0xcc, 1024);
	CHECK_EQ(RUN(&box, g_xsaveopt), -1);
	CHECK_EQ(box.ram[AREA + 160], 0xcc);
	CHECK_EQ(rd32(AREA + 24), 0x1f80); /* MXCSR always (13.9) */
	CHECK_EQ(box.ram[AREA + 512], 0xcd);
	/* #NM with CR0.TS, #GP(0) for an area not 64-byte aligned. */
	c->cr0 |= CR0_TS;
	CHECK_EQ(RUN(&box, g_xsave), X86_NM);
	c->cr0 &= ~CR0_TS;
	c->gpr[R_RDI] = AREA + 32;
	CHECK_EQ(RUN(&box, g_xsave), X86_GP);
	CHECK_EQ(RUN(&box, g_xrstor), X86_GP);
	c->gpr[R_RDI] = AREA;
}

static void test_xrstor(void)
{
	c->gpr[R_RDI] = AREA;
	memset(box.ram + AREA + 512, 0, 64);
	fill_state();
	mask(3);
	CHECK_EQ(RUN(&box, g_xsave64), -1);
	init_state();
	CHECK_EQ(RUN(&box, g_xrstor64), -1);
	CHECK_EQ(c->fpu.fcw, 0x27f);
	CHECK_EQ(c->fpu.fip, 0x1122334455667788ull);
	CHECK_EQ(c->fpu.st[7][0], 0x47);
	CHECK_EQ(c->fpu.xmm[15][0], 16);
	CHECK_EQ(c->fpu.mxcsr, 0x7f80);
	/* XSTATE_BV[i] = 0: component i initialized; the standard form still loads MXCSR. */
	box.ram[AREA + 512] = 0;
	CHECK_EQ(RUN(&box, g_xrstor64), -1);
	CHECK_EQ(c->fpu.fcw, X86_FPU_FCW_INIT);
	CHECK_EQ(c->fpu.st[7][0], 0);
	CHECK_EQ(c->fpu.xmm[15][0], 0);
	CHECK_EQ(c->fpu.mxcsr, 0x7f80);
	/* RFBM[i] = 0: component untouched. */
	fill_state();
	mask(1);
	CHECK_EQ(RUN(&box, g_xrstor64), -1);
	CHECK_EQ(c->fpu.fcw, X86_FPU_FCW_INIT);
	CHECK_EQ(c->fpu.xmm[15][0], 16);
	mask(3);
	/* #GP(0): XSTATE_BV outside XCR0, XCOMP_BV or header bytes 23:16 not 0 (standard form),
	   a reserved MXCSR bit; and nothing is loaded then. */
	fill_state();
	box.ram[AREA + 512] = 4;
	CHECK_EQ(RUN(&box, g_xrstor64), X86_GP);
	box.ram[AREA + 512] = 3;
	box.ram[AREA + 520] = 1;
	CHECK_EQ(RUN(&box, g_xrstor64), X86_GP);
	box.ram[AREA + 520] = 0;
	box.ram[AREA + 519] = 0x80;
	CHECK_EQ(RUN(&box, g_xrstor64), X86_GP);
	box.ram[AREA + 519] = 0;
	box.ram[AREA + 530] = 1;
	CHECK_EQ(RUN(&box, g_xrstor64), X86_GP);
	box.ram[AREA + 530] = 0;
	box.ram[AREA + 26] = 1; /* MXCSR bit 16 */
	CHECK_EQ(RUN(&box, g_xrstor64), X86_GP);
	box.ram[AREA + 26] = 0;
	CHECK_EQ(c->fpu.xmm[15][0], 16);
	box.ram[AREA + 540] = 1; /* bytes 63:24 are not checked by the standard form */
	box.ram[AREA + 160] = 0x77;
	CHECK_EQ(RUN(&box, g_xrstor64), -1);
	CHECK_EQ(c->fpu.xmm[0][0], 0x77);
	box.ram[AREA + 540] = 0;
}

static void test_compacted(void)
{
	c->gpr[R_RDI] = AREA;
	fill_state();
	memset(box.ram + AREA, 0xcc, 1024);
	/* XSAVEC: XSTATE_BV = RFBM & XINUSE, XCOMP_BV = RFBM | 2^63, nothing else of the header. */
	mask(3);
	CHECK_EQ(RUN(&box, g_xsavec), -1);
	CHECK_EQ(rd64(AREA + 512), 3);
	CHECK_EQ(rd64(AREA + 520), BIT(63) | 3);
	CHECK_EQ(rd64(AREA + 528), 0xccccccccccccccccull);
	CHECK_EQ(box.ram[AREA + 160], 1);
	/* SSE state in its initial configuration with MXCSR 1F80H: not written, not even MXCSR. */
	memset(box.ram + AREA, 0xcc, 1024);
	memset(c->fpu.xmm, 0, sizeof(c->fpu.xmm));
	c->fpu.mxcsr = 0x1f80;
	CHECK_EQ(RUN(&box, g_xsavec), -1);
	CHECK_EQ(rd64(AREA + 512), 1);
	CHECK_EQ(box.ram[AREA + 160], 0xcc);
	CHECK_EQ(rd32(AREA + 24), 0xcccccccc);
	/* With another MXCSR it is saved as if XINUSE[1] were 1 (SDM vol. 1 13.10). */
	c->fpu.mxcsr = 0x1f81;
	CHECK_EQ(RUN(&box, g_xsavec), -1);
	CHECK_EQ(rd64(AREA + 512), 3);
	CHECK_EQ(rd32(AREA + 24), 0x1f81);
	CHECK_EQ(rd32(AREA + 28), X86_MXCSR_MASK);
	CHECK_EQ(box.ram[AREA + 160], 0);
	box.ram[AREA + 512] = 1;
	/* XRSTOR of the compacted form: XSTATE_BV[1] = 0 initializes MXCSR too. */
	memset(box.ram + AREA + 528, 0, 48);
	fill_state();
	CHECK_EQ(RUN(&box, g_xrstor), -1);
	CHECK_EQ(c->fpu.mxcsr, 0x1f80);
	CHECK_EQ(c->fpu.xmm[15][0], 0);
	CHECK_EQ(c->fpu.fcw, 0x27f);
	/* #GP(0): XCOMP_BV outside XCR0, XSTATE_BV outside XCOMP_BV, bytes 63:16 not 0. */
	box.ram[AREA + 520] = 7;
	CHECK_EQ(RUN(&box, g_xrstor), X86_GP);
	box.ram[AREA + 520] = 1;
	box.ram[AREA + 512] = 3;
	CHECK_EQ(RUN(&box, g_xrstor), X86_GP);
	box.ram[AREA + 520] = 3;
	box.ram[AREA + 519] = 0x80; /* XSTATE_BV[63]: outside XCOMP_BV[62:0] */
	CHECK_EQ(RUN(&box, g_xrstor), X86_GP);
	box.ram[AREA + 519] = 0;
	box.ram[AREA + 570] = 1;
	CHECK_EQ(RUN(&box, g_xrstor), X86_GP);
	box.ram[AREA + 570] = 0;
	CHECK_EQ(RUN(&box, g_xrstor), -1);
	/* XSAVES/XRSTORS: #UD without "enable XSAVES/XRSTORS" (SDM vol. 3C 26.3); XRSTORS takes
	   only the compacted form. */
	CHECK_EQ(RUN(&box, g_xsaves), X86_UD);
	CHECK_EQ(RUN(&box, g_xrstors), X86_UD);
	box.ctl.proc |= PROC_SECONDARY_CONTROLS;
	box.ctl.proc2 |= PROC2_ENABLE_XSAVES;
	cpu_set_controls(c, &box.ctl);
	fill_state();
	CHECK_EQ(RUN(&box, g_xsaves), -1);
	CHECK_EQ(rd64(AREA + 520), BIT(63) | 3);
	init_state();
	CHECK_EQ(RUN(&box, g_xrstors), -1);
	CHECK_EQ(c->fpu.xmm[15][0], 16);
	memset(box.ram + AREA + 512, 0, 64);
	CHECK_EQ(RUN(&box, g_xsave), -1);
	CHECK_EQ(RUN(&box, g_xrstors), X86_GP);
	CHECK_EQ(RUN(&box, g_xrstor), -1);
	box.ctl.proc2 &= ~PROC2_ENABLE_XSAVES;
	cpu_set_controls(c, &box.ctl);
}

/* Outside 64-bit mode XSAVE and XRSTOR leave XMM8-15 alone (SDM vol. 1 13.13): the CPU's
   own helpers seen through a 32-bit code segment. */
GUEST(g_xsave32, ".code32\n\txsave (%edi)\n\t.code64")
GUEST(g_xrstor32, ".code32\n\txrstor (%edi)\n\t.code64")

static void test_compat_mode(void)
{
	struct x86_sregs s;

	cpu_get_sregs(c, &s);
	box_w64(box.ram, BOX_GDT + 0x18, 0x00cf9b000000ffffull); /* 32-bit code */
	box_w64(box.ram, BOX_GDT, 0);
	s.gdt.limit = 0x1f;
	box_flat(&s.seg[SEG_CS], 0x18, 0xc09b);
	cpu_set_sregs(c, &s);
	fill_state();
	memset(box.ram + AREA, 0xcc, 1024);
	memset(box.ram + AREA + 512, 0, 64);
	c->gpr[R_RDI] = AREA;
	mask(3);
	CHECK_EQ(RUN(&box, g_xsave32), -1);
	CHECK_EQ(box.ram[AREA + 160 + 7 * 16], 8);
	CHECK_EQ(box.ram[AREA + 160 + 8 * 16], 0xcc);
	box.ram[AREA + 512] = 1; /* SSE initialized: XMM0-7 only */
	CHECK_EQ(RUN(&box, g_xrstor32), -1);
	CHECK_EQ(c->fpu.xmm[7][0], 0);
	CHECK_EQ(c->fpu.xmm[8][0], 9);
	box_flat(&s.seg[SEG_CS], 0x08, 0xa09b);
	cpu_set_sregs(c, &s);
}

/* --- RDRAND, RDSEED, RDPID, FSGSBASE, CLFLUSHOPT --- */

GUEST(g_rdrand, "rdrand %rbx")
GUEST(g_rdseed16, "rdseed %r9w")
GUEST(g_rdpid, "rdpid %rax")
GUEST(g_rdfsbase, "rdfsbase %rax")
GUEST(g_wrgsbase, "wrgsbase %rcx")
GUEST(g_wrfsbase32, "wrfsbase %ecx")
GUEST(g_rdgsbase32, "rdgsbase %edx")
GUEST(g_clflushopt, "clflushopt (%rdi)")
GUEST(g_clwb, "clwb (%rdi)")

static void test_misc(void)
{
	u64 got = 0;

	/* RDRAND: CF = 1 and a value; two 64-bit values are equal once in 2^64. */
	c->rflags = X86_FIXED1 | X86_ZF | X86_OF;
	c->lf_op = LF_NONE;
	CHECK_EQ(RUN(&box, g_rdrand), -1);
	CHECK_EQ(flags_get(c) & X86_ARITH_FLAGS, X86_CF);
	got = c->gpr[R_RBX];
	CHECK_EQ(RUN(&box, g_rdrand), -1);
	CHECK(c->gpr[R_RBX] != got);
	/* With "RDRAND exiting": exit 57, destination register and operand size in the
	   instruction information (SDM vol. 3C 28.2.5). */
	box.ctl.proc |= PROC_SECONDARY_CONTROLS;
	box.ctl.proc2 |= PROC2_RDRAND_EXITING | PROC2_RDSEED_EXITING;
	cpu_set_controls(c, &box.ctl);
	CHECK_EQ(RUN(&box, g_rdrand), 256 + EXIT_REASON_RDRAND);
	CHECK_EQ(box.ex.insn_info, R_RBX << 3 | 2u << 11);
	CHECK_EQ(RUN(&box, g_rdseed16), 256 + EXIT_REASON_RDSEED);
	CHECK_EQ(box.ex.insn_info, R_R9 << 3 | 0u << 11);
	box.ctl.proc2 &= ~(PROC2_RDRAND_EXITING | PROC2_RDSEED_EXITING);
	cpu_set_controls(c, &box.ctl);
	c->gpr[R_R9] = 0xffff0000ull;
	CHECK_EQ(RUN(&box, g_rdseed16), -1);
	CHECK_EQ(c->gpr[R_R9] >> 16, 0xffff); /* 16-bit destination */
	/* RDPID: #UD unless "enable RDTSCP" (SDM vol. 3C 26.3), else IA32_TSC_AUX. */
	CHECK_EQ(cpu_set_msr(c, MSR_IA32_TSC_AUX, 0x1234), 0);
	CHECK_EQ(RUN(&box, g_rdpid), X86_UD);
	box.ctl.proc2 |= PROC2_ENABLE_RDTSCP;
	cpu_set_controls(c, &box.ctl);
	c->gpr[R_RAX] = ~0ull;
	CHECK_EQ(RUN(&box, g_rdpid), -1);
	CHECK_EQ(c->gpr[R_RAX], 0x1234);
	/* FSGSBASE: #UD without CR4.FSGSBASE; 32-bit forms zero-extend; non-canonical #GP(0). */
	CHECK_EQ(RUN(&box, g_rdfsbase), X86_UD);
	c->cr4 |= CR4_FSGSBASE;
	c->gpr[R_RCX] = 0x00007fff12345678ull;
	CHECK_EQ(RUN(&box, g_wrgsbase), -1);
	CHECK_EQ(c->seg[SEG_GS].base, 0x00007fff12345678ull);
	c->gpr[R_RDX] = ~0ull;
	CHECK_EQ(RUN(&box, g_rdgsbase32), -1);
	CHECK_EQ(c->gpr[R_RDX], 0x12345678);
	c->gpr[R_RCX] = 0xffffffff9abcdef0ull;
	CHECK_EQ(RUN(&box, g_wrfsbase32), -1);
	CHECK_EQ(c->seg[SEG_FS].base, 0x9abcdef0);
	CHECK_EQ(RUN(&box, g_rdfsbase), -1);
	CHECK_EQ(c->gpr[R_RAX], 0x9abcdef0);
	c->gpr[R_RCX] = 0x0000800000000000ull;
	CHECK_EQ(RUN(&box, g_wrgsbase), X86_GP);
	CHECK_EQ(c->seg[SEG_GS].base, 0x00007fff12345678ull);
	c->cr4 &= ~CR4_FSGSBASE;
	/* CLFLUSHOPT/CLWB: checked like a byte read (a non-canonical address is #GP(0)). */
	c->gpr[R_RDI] = BOX_DATA;
	CHECK_EQ(RUN(&box, g_clflushopt), -1);
	CHECK_EQ(RUN(&box, g_clwb), -1);
	c->gpr[R_RDI] = 0x8000000000000000ull;
	CHECK_EQ(RUN(&box, g_clflushopt), X86_GP);
	c->gpr[R_RDI] = 1ull << 30; /* canonical, not mapped */
	CHECK_EQ(RUN(&box, g_clwb), X86_PF_VEC);
}

int main(void)
{
	box_init(&box);
	c = box.c;
	c->cr4 |= CR4_OSXSAVE;
	test_xcr();
	test_xsave_standard();
	test_xrstor();
	test_compacted();
	test_compat_mode();
	test_misc();
	box_free(&box);
	return check_done("test_xsave");
}
