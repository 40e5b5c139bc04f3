// SPDX-License-Identifier: MIT
/*
 * The host CPU as the oracle for the soft CPU's SSE: random blocks of SSE, SSE2, SSE3, SSSE3,
 * SSE4.1, SSE4.2, AES-NI, PCLMULQDQ and CRC32 instructions run natively in this process (an
 * executable page, registers loaded from a state record and stored back) and on the soft CPU
 * (cpu_box.h), from the same XMM registers, MXCSR, general registers, RFLAGS, x87/MMX state
 * and 512 bytes of data, then every XMM register, MXCSR, the general registers, the arithmetic
 * flags, the x87/MMX state (FCW, FSW, the tag word, ST0-7: MMX forms move TOP and the tags and
 * write bits 79:64) and the data are compared. Operands are biased toward what SSE gets wrong:
 * NaNs (quiet and signaling), denormals, infinities, zeros, the integer indefinite and its
 * neighbours, saturation edges.
 * Each block runs under a random rounding mode, DAZ and FTZ, usually with every exception masked
 * and sometimes with some unmasked: then a native #XM arrives as SIGFPE, whose frame gives the
 * faulting instruction and the state there, and the soft CPU must stop at the same instruction
 * with #XM (exit reason 0, vector 19) and the same state. The x87 state is loaded with FXRSTOR
 * (natively) and fpu_x87_load() (soft) from a random image: any TOP and tags, random registers,
 * and in 1 block of 16 an x87 exception pending, which the first instruction that touches an MMX
 * register must take as #MF on both sides (the host's SIGFPE with trap number 16).
 *
 * Memory operands are [rdi + disp32] within the data area (RDI is the host buffer natively and
 * BOX_DATA on the soft CPU); aligned forms get 16-byte aligned displacements (the #GP(0) of
 * misalignment is test_sse.c's). RSP and RDI are neither written nor read as operands.
 *
 * Half the blocks run interpreted, half compiled at their first run (jit.c inlines the SSE
 * moves and integer SSE2 operations: those meet the host here too).
 *
 * The run count: TEST_SSE_HOST_BLOCKS blocks (environment, default 20000) of 24 instructions, or
 * `test_sse_host BLOCKS [SEED]` (as test_fpu_host); `make check` runs the default, longer runs
 * with other seeds are for the report (docs/cpu.md, "SSE").
 */
#define _GNU_SOURCE /* REG_RIP and friends (ucontext.h) */
#include <setjmp.h>
#include <signal.h>
#include <sys/mman.h>
#include <ucontext.h>

#include "check.h"
#include "cpu_box.h"
#include "cpu/fpu.h"
#include "cpu/sse.h"

/* --- The instruction table --- */

enum form {
	XM,   /* xmm, xmm/m (msz bytes) */
	XR,   /* xmm, xmm: register form only */
	MX,   /* xmm/m, xmm: store */
	MO_X, /* xmm, m: memory form only */
	MO_M, /* m, xmm: memory form only (store) */
	XG,   /* xmm, r/m (msz or REX.W) */
	GX,   /* r/m, xmm (extract, MOVD store) */
	GXM,  /* r (ModRM.reg), xmm/m (conversions to integer) */
	GXR,  /* r (ModRM.reg), xmm register (MOVMSK, PEXTRW 0F C5) */
	SHI,  /* 66 0F 71-73 group: xmm (ModRM.rm), imm8; `sub` is ModRM.reg */
	CRC,  /* r32/64 (ModRM.reg), r/m8..64 */
	NTI,  /* MOVNTI m, r */
};

struct ins {
	const char *name;
	u8 pfx; /* 0, 0x66, 0xf3, 0xf2 */
	u8 map; /* 1 0F, 2 0F 38, 3 0F 3A */
	u8 op;
	u8 form;
	u8 msz;   /* memory operand bytes */
	u8 align; /* 16-byte aligned memory */
	u8 imm;   /* imm8 follows */
	u8 w;     /* REX.W chosen at random (operand size 32/64) */
	u8 sub;   /* SHI: ModRM.reg */
	u8 p66;   /* CRC32 r, r/m16: 66 before F2 */
};

#define I(n, p, m, o, f, sz, al, im, w) { n, p, m, o, f, sz, al, im, w, 0, 0 }
#define A16(n, p, m, o) I(n, p, m, o, XM, 16, 1, 0, 0)
#define A16I(n, p, m, o) I(n, p, m, o, XM, 16, 1, 1, 0)

static const struct ins table[] = {
	/* SSE */
	I("movups", 0, 1, 0x10, XM, 16, 0, 0, 0), I("movups st", 0, 1, 0x11, MX, 16, 0, 0, 0),
	I("movlps", 0, 1, 0x12, XM, 8, 0, 0, 0), I("movlps st", 0, 1, 0x13, MO_M, 8, 0, 0, 0),
	A16("unpcklps", 0, 1, 0x14), A16("unpckhps", 0, 1, 0x15),
	I("movhps", 0, 1, 0x16, XM, 8, 0, 0, 0), I("movhps st", 0, 1, 0x17, MO_M, 8, 0, 0, 0),
	A16("movaps", 0, 1, 0x28), I("movaps st", 0, 1, 0x29, MX, 16, 1, 0, 0),
	I("movntps", 0, 1, 0x2b, MO_M, 16, 1, 0, 0),
	I("ucomiss", 0, 1, 0x2e, XM, 4, 0, 0, 0), I("comiss", 0, 1, 0x2f, XM, 4, 0, 0, 0),
	I("movmskps", 0, 1, 0x50, GXR, 16, 0, 0, 0),
	A16("sqrtps", 0, 1, 0x51), A16("rsqrtps", 0, 1, 0x52), A16("rcpps", 0, 1, 0x53),
	A16("andps", 0, 1, 0x54), A16("andnps", 0, 1, 0x55), A16("orps", 0, 1, 0x56),
	A16("xorps", 0, 1, 0x57), A16("addps", 0, 1, 0x58), A16("mulps", 0, 1, 0x59),
	I("cvtps2pd", 0, 1, 0x5a, XM, 8, 0, 0, 0), A16("cvtdq2ps", 0, 1, 0x5b),
	A16("subps", 0, 1, 0x5c), A16("minps", 0, 1, 0x5d), A16("divps", 0, 1, 0x5e),
	A16("maxps", 0, 1, 0x5f), A16I("cmpps", 0, 1, 0xc2), A16I("shufps", 0, 1, 0xc6),
	I("movnti", 0, 1, 0xc3, NTI, 4, 0, 0, 1),
	I("movss", 0xf3, 1, 0x10, XM, 4, 0, 0, 0), I("movss st", 0xf3, 1, 0x11, MX, 4, 0, 0, 0),
	I("cvtsi2ss", 0xf3, 1, 0x2a, XG, 4, 0, 0, 1), I("cvttss2si", 0xf3, 1, 0x2c, GXM, 4, 0, 0, 1),
	I("cvtss2si", 0xf3, 1, 0x2d, GXM, 4, 0, 0, 1), I("sqrtss", 0xf3, 1, 0x51, XM, 4, 0, 0, 0),
	I("rsqrtss", 0xf3, 1, 0x52, XM, 4, 0, 0, 0), I("rcpss", 0xf3, 1, 0x53, XM, 4, 0, 0, 0),
	I("addss", 0xf3, 1, 0x58, XM, 4, 0, 0, 0), I("mulss", 0xf3, 1, 0x59, XM, 4, 0, 0, 0),
	I("subss", 0xf3, 1, 0x5c, XM, 4, 0, 0, 0), I("minss", 0xf3, 1, 0x5d, XM, 4, 0, 0, 0),
	I("divss", 0xf3, 1, 0x5e, XM, 4, 0, 0, 0), I("maxss", 0xf3, 1, 0x5f, XM, 4, 0, 0, 0),
	I("cmpss", 0xf3, 1, 0xc2, XM, 4, 0, 1, 0),
	/* SSE2 */
	I("movupd", 0x66, 1, 0x10, XM, 16, 0, 0, 0), I("movupd st", 0x66, 1, 0x11, MX, 16, 0, 0, 0),
	I("movlpd", 0x66, 1, 0x12, MO_X, 8, 0, 0, 0), I("movlpd st", 0x66, 1, 0x13, MO_M, 8, 0, 0, 0),
	A16("unpcklpd", 0x66, 1, 0x14), A16("unpckhpd", 0x66, 1, 0x15),
	I("movhpd", 0x66, 1, 0x16, MO_X, 8, 0, 0, 0), I("movhpd st", 0x66, 1, 0x17, MO_M, 8, 0, 0, 0),
	A16("movapd", 0x66, 1, 0x28), I("movapd st", 0x66, 1, 0x29, MX, 16, 1, 0, 0),
	I("movntpd", 0x66, 1, 0x2b, MO_M, 16, 1, 0, 0),
	I("ucomisd", 0x66, 1, 0x2e, XM, 8, 0, 0, 0), I("comisd", 0x66, 1, 0x2f, XM, 8, 0, 0, 0),
	I("movmskpd", 0x66, 1, 0x50, GXR, 16, 0, 0, 0), A16("sqrtpd", 0x66, 1, 0x51),
	A16("andpd", 0x66, 1, 0x54), A16("andnpd", 0x66, 1, 0x55), A16("orpd", 0x66, 1, 0x56),
	A16("xorpd", 0x66, 1, 0x57), A16("addpd", 0x66, 1, 0x58), A16("mulpd", 0x66, 1, 0x59),
	A16("cvtpd2ps", 0x66, 1, 0x5a), A16("cvtps2dq", 0x66, 1, 0x5b), A16("subpd", 0x66, 1, 0x5c),
	A16("minpd", 0x66, 1, 0x5d), A16("divpd", 0x66, 1, 0x5e), A16("maxpd", 0x66, 1, 0x5f),
	A16("punpcklbw", 0x66, 1, 0x60), A16("punpcklwd", 0x66, 1, 0x61),
	A16("punpckldq", 0x66, 1, 0x62), A16("packsswb", 0x66, 1, 0x63),
	A16("pcmpgtb", 0x66, 1, 0x64), A16("pcmpgtw", 0x66, 1, 0x65), A16("pcmpgtd", 0x66, 1, 0x66),
	A16("packuswb", 0x66, 1, 0x67), A16("punpckhbw", 0x66, 1, 0x68),
	A16("punpckhwd", 0x66, 1, 0x69), A16("punpckhdq", 0x66, 1, 0x6a),
	A16("packssdw", 0x66, 1, 0x6b), A16("punpcklqdq", 0x66, 1, 0x6c),
	A16("punpckhqdq", 0x66, 1, 0x6d), I("movd", 0x66, 1, 0x6e, XG, 4, 0, 0, 1),
	A16("movdqa", 0x66, 1, 0x6f), A16I("pshufd", 0x66, 1, 0x70),
	{ "psrlw", 0x66, 1, 0x71, SHI, 0, 0, 1, 0, 2, 0 }, { "psraw", 0x66, 1, 0x71, SHI, 0, 0, 1, 0, 4, 0 },
	{ "psllw", 0x66, 1, 0x71, SHI, 0, 0, 1, 0, 6, 0 }, { "psrld", 0x66, 1, 0x72, SHI, 0, 0, 1, 0, 2, 0 },
	{ "psrad", 0x66, 1, 0x72, SHI, 0, 0, 1, 0, 4, 0 }, { "pslld", 0x66, 1, 0x72, SHI, 0, 0, 1, 0, 6, 0 },
	{ "psrlq", 0x66, 1, 0x73, SHI, 0, 0, 1, 0, 2, 0 }, { "psrldq", 0x66, 1, 0x73, SHI, 0, 0, 1, 0, 3, 0 },
	{ "psllq", 0x66, 1, 0x73, SHI, 0, 0, 1, 0, 6, 0 }, { "pslldq", 0x66, 1, 0x73, SHI, 0, 0, 1, 0, 7, 0 },
	A16("pcmpeqb", 0x66, 1, 0x74), A16("pcmpeqw", 0x66, 1, 0x75), A16("pcmpeqd", 0x66, 1, 0x76),
	A16("haddpd", 0x66, 1, 0x7c), A16("hsubpd", 0x66, 1, 0x7d),
	I("movd st", 0x66, 1, 0x7e, GX, 4, 0, 0, 1), I("movdqa st", 0x66, 1, 0x7f, MX, 16, 1, 0, 0),
	A16I("cmppd", 0x66, 1, 0xc2), I("pinsrw", 0x66, 1, 0xc4, XG, 2, 0, 1, 0),
	I("pextrw", 0x66, 1, 0xc5, GXR, 16, 0, 1, 0), A16I("shufpd", 0x66, 1, 0xc6),
	A16("addsubpd", 0x66, 1, 0xd0), A16("psrlw x", 0x66, 1, 0xd1), A16("psrld x", 0x66, 1, 0xd2),
	A16("psrlq x", 0x66, 1, 0xd3), A16("paddq", 0x66, 1, 0xd4), A16("pmullw", 0x66, 1, 0xd5),
	I("movq st", 0x66, 1, 0xd6, MX, 8, 0, 0, 0), I("pmovmskb", 0x66, 1, 0xd7, GXR, 16, 0, 0, 0),
	A16("psubusb", 0x66, 1, 0xd8), A16("psubusw", 0x66, 1, 0xd9), A16("pminub", 0x66, 1, 0xda),
	A16("pand", 0x66, 1, 0xdb), A16("paddusb", 0x66, 1, 0xdc), A16("paddusw", 0x66, 1, 0xdd),
	A16("pmaxub", 0x66, 1, 0xde), A16("pandn", 0x66, 1, 0xdf), A16("pavgb", 0x66, 1, 0xe0),
	A16("psraw x", 0x66, 1, 0xe1), A16("psrad x", 0x66, 1, 0xe2), A16("pavgw", 0x66, 1, 0xe3),
	A16("pmulhuw", 0x66, 1, 0xe4), A16("pmulhw", 0x66, 1, 0xe5), A16("cvttpd2dq", 0x66, 1, 0xe6),
	I("movntdq", 0x66, 1, 0xe7, MO_M, 16, 1, 0, 0), A16("psubsb", 0x66, 1, 0xe8),
	A16("psubsw", 0x66, 1, 0xe9), A16("pminsw", 0x66, 1, 0xea), A16("por", 0x66, 1, 0xeb),
	A16("paddsb", 0x66, 1, 0xec), A16("paddsw", 0x66, 1, 0xed), A16("pmaxsw", 0x66, 1, 0xee),
	A16("pxor", 0x66, 1, 0xef), A16("psllw x", 0x66, 1, 0xf1), A16("pslld x", 0x66, 1, 0xf2),
	A16("psllq x", 0x66, 1, 0xf3), A16("pmuludq", 0x66, 1, 0xf4), A16("pmaddwd", 0x66, 1, 0xf5),
	A16("psadbw", 0x66, 1, 0xf6), I("maskmovdqu", 0x66, 1, 0xf7, XR, 16, 0, 0, 0),
	A16("psubb", 0x66, 1, 0xf8), A16("psubw", 0x66, 1, 0xf9), A16("psubd", 0x66, 1, 0xfa),
	A16("psubq", 0x66, 1, 0xfb), A16("paddb", 0x66, 1, 0xfc), A16("paddw", 0x66, 1, 0xfd),
	A16("paddd", 0x66, 1, 0xfe),
	I("cvttps2dq", 0xf3, 1, 0x5b, XM, 16, 1, 0, 0), I("cvtss2sd", 0xf3, 1, 0x5a, XM, 4, 0, 0, 0),
	I("movsldup", 0xf3, 1, 0x12, XM, 16, 1, 0, 0), I("movshdup", 0xf3, 1, 0x16, XM, 16, 1, 0, 0),
	I("movdqu", 0xf3, 1, 0x6f, XM, 16, 0, 0, 0), I("pshufhw", 0xf3, 1, 0x70, XM, 16, 1, 1, 0),
	I("movq", 0xf3, 1, 0x7e, XM, 8, 0, 0, 0), I("movdqu st", 0xf3, 1, 0x7f, MX, 16, 0, 0, 0),
	I("cvtdq2pd", 0xf3, 1, 0xe6, XM, 8, 0, 0, 0),
	I("movsd", 0xf2, 1, 0x10, XM, 8, 0, 0, 0), I("movsd st", 0xf2, 1, 0x11, MX, 8, 0, 0, 0),
	I("movddup", 0xf2, 1, 0x12, XM, 8, 0, 0, 0), I("cvtsi2sd", 0xf2, 1, 0x2a, XG, 4, 0, 0, 1),
	I("cvttsd2si", 0xf2, 1, 0x2c, GXM, 8, 0, 0, 1), I("cvtsd2si", 0xf2, 1, 0x2d, GXM, 8, 0, 0, 1),
	I("sqrtsd", 0xf2, 1, 0x51, XM, 8, 0, 0, 0), I("addsd", 0xf2, 1, 0x58, XM, 8, 0, 0, 0),
	I("mulsd", 0xf2, 1, 0x59, XM, 8, 0, 0, 0), I("cvtsd2ss", 0xf2, 1, 0x5a, XM, 8, 0, 0, 0),
	I("subsd", 0xf2, 1, 0x5c, XM, 8, 0, 0, 0), I("minsd", 0xf2, 1, 0x5d, XM, 8, 0, 0, 0),
	I("divsd", 0xf2, 1, 0x5e, XM, 8, 0, 0, 0), I("maxsd", 0xf2, 1, 0x5f, XM, 8, 0, 0, 0),
	I("pshuflw", 0xf2, 1, 0x70, XM, 16, 1, 1, 0), A16("haddps", 0xf2, 1, 0x7c),
	A16("hsubps", 0xf2, 1, 0x7d), I("cmpsd", 0xf2, 1, 0xc2, XM, 8, 0, 1, 0),
	A16("addsubps", 0xf2, 1, 0xd0), A16("cvtpd2dq", 0xf2, 1, 0xe6),
	I("lddqu", 0xf2, 1, 0xf0, MO_X, 16, 0, 0, 0),
	/* SSSE3 */
	A16("pshufb", 0x66, 2, 0x00), A16("phaddw", 0x66, 2, 0x01), A16("phaddd", 0x66, 2, 0x02),
	A16("phaddsw", 0x66, 2, 0x03), A16("pmaddubsw", 0x66, 2, 0x04),
	A16("phsubw", 0x66, 2, 0x05), A16("phsubd", 0x66, 2, 0x06), A16("phsubsw", 0x66, 2, 0x07),
	A16("psignb", 0x66, 2, 0x08), A16("psignw", 0x66, 2, 0x09), A16("psignd", 0x66, 2, 0x0a),
	A16("pmulhrsw", 0x66, 2, 0x0b), A16("pabsb", 0x66, 2, 0x1c), A16("pabsw", 0x66, 2, 0x1d),
	A16("pabsd", 0x66, 2, 0x1e), A16I("palignr", 0x66, 3, 0x0f),
	/* SSE4.1 */
	A16("pblendvb", 0x66, 2, 0x10), A16("blendvps", 0x66, 2, 0x14),
	A16("blendvpd", 0x66, 2, 0x15), A16("ptest", 0x66, 2, 0x17),
	I("pmovsxbw", 0x66, 2, 0x20, XM, 8, 0, 0, 0), I("pmovsxbd", 0x66, 2, 0x21, XM, 4, 0, 0, 0),
	I("pmovsxbq", 0x66, 2, 0x22, XM, 2, 0, 0, 0), I("pmovsxwd", 0x66, 2, 0x23, XM, 8, 0, 0, 0),
	I("pmovsxwq", 0x66, 2, 0x24, XM, 4, 0, 0, 0), I("pmovsxdq", 0x66, 2, 0x25, XM, 8, 0, 0, 0),
	A16("pmuldq", 0x66, 2, 0x28), A16("pcmpeqq", 0x66, 2, 0x29),
	I("movntdqa", 0x66, 2, 0x2a, MO_X, 16, 1, 0, 0), A16("packusdw", 0x66, 2, 0x2b),
	I("pmovzxbw", 0x66, 2, 0x30, XM, 8, 0, 0, 0), I("pmovzxbd", 0x66, 2, 0x31, XM, 4, 0, 0, 0),
	I("pmovzxbq", 0x66, 2, 0x32, XM, 2, 0, 0, 0), I("pmovzxwd", 0x66, 2, 0x33, XM, 8, 0, 0, 0),
	I("pmovzxwq", 0x66, 2, 0x34, XM, 4, 0, 0, 0), I("pmovzxdq", 0x66, 2, 0x35, XM, 8, 0, 0, 0),
	A16("pminsb", 0x66, 2, 0x38), A16("pminsd", 0x66, 2, 0x39), A16("pminuw", 0x66, 2, 0x3a),
	A16("pminud", 0x66, 2, 0x3b), A16("pmaxsb", 0x66, 2, 0x3c), A16("pmaxsd", 0x66, 2, 0x3d),
	A16("pmaxuw", 0x66, 2, 0x3e), A16("pmaxud", 0x66, 2, 0x3f), A16("pmulld", 0x66, 2, 0x40),
	A16("phminposuw", 0x66, 2, 0x41),
	A16I("roundps", 0x66, 3, 0x08), A16I("roundpd", 0x66, 3, 0x09),
	I("roundss", 0x66, 3, 0x0a, XM, 4, 0, 1, 0), I("roundsd", 0x66, 3, 0x0b, XM, 8, 0, 1, 0),
	A16I("blendps", 0x66, 3, 0x0c), A16I("blendpd", 0x66, 3, 0x0d), A16I("pblendw", 0x66, 3, 0x0e),
	I("pextrb", 0x66, 3, 0x14, GX, 1, 0, 1, 0), I("pextrw m", 0x66, 3, 0x15, GX, 2, 0, 1, 0),
	I("pextrd", 0x66, 3, 0x16, GX, 4, 0, 1, 1), I("extractps", 0x66, 3, 0x17, GX, 4, 0, 1, 0),
	I("pinsrb", 0x66, 3, 0x20, XG, 1, 0, 1, 0), I("insertps", 0x66, 3, 0x21, XM, 4, 0, 1, 0),
	I("pinsrd", 0x66, 3, 0x22, XG, 4, 0, 1, 1), A16I("dpps", 0x66, 3, 0x40),
	A16I("dppd", 0x66, 3, 0x41), A16I("mpsadbw", 0x66, 3, 0x42),
	/* SSE4.2 */
	A16("pcmpgtq", 0x66, 2, 0x37),
	I("pcmpestrm", 0x66, 3, 0x60, XM, 16, 0, 1, 1), I("pcmpestri", 0x66, 3, 0x61, XM, 16, 0, 1, 1),
	I("pcmpistrm", 0x66, 3, 0x62, XM, 16, 0, 1, 0), I("pcmpistri", 0x66, 3, 0x63, XM, 16, 0, 1, 0),
	I("crc32 b", 0xf2, 2, 0xf0, CRC, 1, 0, 0, 1), I("crc32", 0xf2, 2, 0xf1, CRC, 4, 0, 0, 1),
	{ "crc32 w", 0xf2, 2, 0xf1, CRC, 2, 0, 0, 0, 0, 1 },
	/* MMX operands (ModRM's MMX register ignores REX.R/REX.B; the random encodings use them) */
	I("cvtpi2ps", 0, 1, 0x2a, XM, 8, 0, 0, 0), I("cvtpi2pd", 0x66, 1, 0x2a, XM, 8, 0, 0, 0),
	I("cvttps2pi", 0, 1, 0x2c, XM, 8, 0, 0, 0), I("cvtps2pi", 0, 1, 0x2d, XM, 8, 0, 0, 0),
	A16("cvttpd2pi", 0x66, 1, 0x2c), A16("cvtpd2pi", 0x66, 1, 0x2d),
	I("movq2dq", 0xf3, 1, 0xd6, XR, 8, 0, 0, 0), I("movdq2q", 0xf2, 1, 0xd6, XR, 8, 0, 0, 0),
	I("pshufb mm", 0, 2, 0x00, XM, 8, 0, 0, 0), I("phaddw mm", 0, 2, 0x01, XM, 8, 0, 0, 0),
	I("phaddd mm", 0, 2, 0x02, XM, 8, 0, 0, 0), I("phaddsw mm", 0, 2, 0x03, XM, 8, 0, 0, 0),
	I("pmaddubsw mm", 0, 2, 0x04, XM, 8, 0, 0, 0), I("phsubw mm", 0, 2, 0x05, XM, 8, 0, 0, 0),
	I("phsubd mm", 0, 2, 0x06, XM, 8, 0, 0, 0), I("phsubsw mm", 0, 2, 0x07, XM, 8, 0, 0, 0),
	I("psignb mm", 0, 2, 0x08, XM, 8, 0, 0, 0), I("psignw mm", 0, 2, 0x09, XM, 8, 0, 0, 0),
	I("psignd mm", 0, 2, 0x0a, XM, 8, 0, 0, 0), I("pmulhrsw mm", 0, 2, 0x0b, XM, 8, 0, 0, 0),
	I("pabsb mm", 0, 2, 0x1c, XM, 8, 0, 0, 0), I("pabsw mm", 0, 2, 0x1d, XM, 8, 0, 0, 0),
	I("pabsd mm", 0, 2, 0x1e, XM, 8, 0, 0, 0), I("palignr mm", 0, 3, 0x0f, XM, 8, 0, 1, 0),
	/* AES-NI, PCLMULQDQ */
	A16("aesimc", 0x66, 2, 0xdb), A16("aesenc", 0x66, 2, 0xdc), A16("aesenclast", 0x66, 2, 0xdd),
	A16("aesdec", 0x66, 2, 0xde), A16("aesdeclast", 0x66, 2, 0xdf),
	A16I("aeskeygenassist", 0x66, 3, 0xdf), A16I("pclmulqdq", 0x66, 3, 0x44),
};

#define NTABLE (sizeof(table) / sizeof(table[0]))

/* --- Random operands --- */

static u64 rng = 0x2545f4914f6cdd1dull;

static u64 rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static u32 rnd_f32(void)
{
	u32 s = (u32)(rnd() & 1) << 31, m = (u32)rnd() & 0x7fffff;

	switch (rnd() % 12) {
	case 0:
		return s | 0x7f800000 | (m | 1); /* NaN: SNaN unless bit 22 */
	case 1:
		return s | 0x7fc00000 | (m & 0x3fffff); /* QNaN */
	case 2:
		return s | m; /* denormal or zero */
	case 3:
		return s | 0x7f800000; /* infinity */
	case 4:
		return s; /* zero */
	case 5:
		return s | (u32)(1 + rnd() % 3) << 23 | m; /* tiny normal */
	case 6:
		return s | (u32)(0xfc + rnd() % 3) << 23 | m; /* huge */
	case 7:
		return 0x4f000000 | (u32)(rnd() % 2); /* around 2^31 */
	default:
		return s | (u32)(0x70 + rnd() % 32) << 23 | m; /* ordinary */
	}
}

static u64 rnd_f64(void)
{
	u64 s = (rnd() & 1) << 63, m = rnd() & 0xfffffffffffffull;

	switch (rnd() % 12) {
	case 0:
		return s | 0x7ff0000000000000ull | (m | 1);
	case 1:
		return s | 0x7ff8000000000000ull | (m & 0x7ffffffffffffull);
	case 2:
		return s | m;
	case 3:
		return s | 0x7ff0000000000000ull;
	case 4:
		return s;
	case 5:
		return s | (1 + rnd() % 3) << 52 | m;
	case 6:
		return s | (0x7fc + rnd() % 3) << 52 | m;
	case 7:
		return s | (0x380 + rnd() % 0x10) << 52 | m; /* float's denormal range */
	default:
		return s | (0x3f0 + rnd() % 64) << 52 | m;
	}
}

static void rnd_xmm(u8 v[16])
{
	for (unsigned h = 0; h < 2; h++) {
		u64 q;

		switch (rnd() % 4) {
		case 0:
			q = rnd_f64();
			break;
		case 1:
			q = rnd_f32() | (u64)rnd_f32() << 32;
			break;
		case 2: { /* small integers and saturation edges */
			static const u16 edge[] = { 0, 1, 0x7f, 0x80, 0xff, 0x7fff, 0x8000, 0xffff,
						    0x100, 0xff80, 0x41, 0x61 };
			q = 0;
			for (unsigned i = 0; i < 4; i++)
				q |= (u64)edge[rnd() % (sizeof(edge) / 2)] << (16 * i);
			break;
		}
		default:
			q = rnd();
			break;
		}
		memcpy(v + 8 * h, &q, 8);
	}
}

static u64 rnd_gpr(void)
{
	switch (rnd() % 6) {
	case 0:
		return (u64)(s64)(s32)(rnd() % 41) - 20; /* PCMPESTRx lengths */
	case 1:
		return rnd_f32() | (u64)rnd_f32() << 32;
	case 2:
		return 0x80000000ull << (rnd() % 2 * 32);
	default:
		return rnd();
	}
}

/* --- Machine state, and running it natively --- */

struct state {
	u64 gpr[16];
	u64 rflags;
	u32 mxcsr, pad;
	u8 xmm[16][16];
	u8 fx[512] __attribute__((aligned(16))); /* FXSAVE image: its x87 part only is used */
};
_Static_assert(__builtin_offsetof(struct state, fx) == 400, "native_run's offsets");

/* native_run(struct state *s, void (*code)(void)): load s, call code, store s. FNINIT leaves the
   x87 as the ABI wants it (every register empty, nothing pending). */
void native_run(struct state *s, const void *code);
asm(".text\n"
    ".globl native_run\n"
    "native_run:\n\t"
    "push %rbx\n\tpush %rbp\n\tpush %r12\n\tpush %r13\n\tpush %r14\n\tpush %r15\n\t"
    "sub $8, %rsp\n\t"
    "stmxcsr (%rsp)\n\t"
    "push %rsi\n\t"
    "push %rdi\n\t"
    "fxrstor64 400(%rdi)\n\t"
    ".irp i,0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15\n\t"
    "movdqu 144+16*\\i(%rdi), %xmm\\i\n\t"
    ".endr\n\t"
    "ldmxcsr 136(%rdi)\n\t"
    "push 128(%rdi)\n\tpopfq\n\t"
    "mov 0(%rdi), %rax\n\tmov 8(%rdi), %rcx\n\tmov 16(%rdi), %rdx\n\tmov 24(%rdi), %rbx\n\t"
    "mov 40(%rdi), %rbp\n\tmov 48(%rdi), %rsi\n\tmov 64(%rdi), %r8\n\tmov 72(%rdi), %r9\n\t"
    "mov 80(%rdi), %r10\n\tmov 88(%rdi), %r11\n\tmov 96(%rdi), %r12\n\tmov 104(%rdi), %r13\n\t"
    "mov 112(%rdi), %r14\n\tmov 120(%rdi), %r15\n\tmov 56(%rdi), %rdi\n\t"
    "call *8(%rsp)\n\t"
    "xchg %rdi, (%rsp)\n\t"
    "mov %rax, 0(%rdi)\n\tmov %rcx, 8(%rdi)\n\tmov %rdx, 16(%rdi)\n\tmov %rbx, 24(%rdi)\n\t"
    "mov %rbp, 40(%rdi)\n\tmov %rsi, 48(%rdi)\n\tmov %r8, 64(%rdi)\n\tmov %r9, 72(%rdi)\n\t"
    "mov %r10, 80(%rdi)\n\tmov %r11, 88(%rdi)\n\tmov %r12, 96(%rdi)\n\tmov %r13, 104(%rdi)\n\t"
    "mov %r14, 112(%rdi)\n\tmov %r15, 120(%rdi)\n\t"
    "pushfq\n\tpop 128(%rdi)\n\t"
    "pop 56(%rdi)\n\t"
    "stmxcsr 136(%rdi)\n\t"
    ".irp i,0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15\n\t"
    "movdqu %xmm\\i, 144+16*\\i(%rdi)\n\t"
    ".endr\n\t"
    "fxsave64 400(%rdi)\n\t"
    "fninit\n\t"
    "pop %rsi\n\t"
    "ldmxcsr (%rsp)\n\t"
    "add $8, %rsp\n\t"
    "pop %r15\n\tpop %r14\n\tpop %r13\n\tpop %r12\n\tpop %rbp\n\tpop %rbx\n\t"
    "ret\n");

static sigjmp_buf native_env;
static volatile int native_faulted;
static struct state fault_state;
static u64 fault_rip, fault_vec;

/* A native #XM or #MF (SIGFPE): the state at the faulting instruction, then back to
   run_native(). The handler itself starts from the initial FPU state, which the jump keeps. */
static void on_sigfpe(int sig, siginfo_t *si, void *ctx)
{
	ucontext_t *uc = ctx;
	const greg_t *g = uc->uc_mcontext.gregs;
	static const int map[16] = { REG_RAX, REG_RCX, REG_RDX, REG_RBX, REG_RSP, REG_RBP,
				     REG_RSI, REG_RDI, REG_R8,	REG_R9,	 REG_R10, REG_R11,
				     REG_R12, REG_R13, REG_R14, REG_R15 };

	for (unsigned i = 0; i < 16; i++)
		fault_state.gpr[i] = (u64)g[map[i]];
	fault_state.rflags = (u64)g[REG_EFL];
	fault_state.mxcsr = uc->uc_mcontext.fpregs->mxcsr;
	memcpy(fault_state.xmm, uc->uc_mcontext.fpregs->_xmm, sizeof(fault_state.xmm));
	memcpy(fault_state.fx, uc->uc_mcontext.fpregs, 160);
	fault_rip = (u64)g[REG_RIP];
	fault_vec = (u64)g[REG_TRAPNO];
	native_faulted = 1;
	siglongjmp(native_env, 1);
}

static u8 *exec_page;

static void run_native(struct state *s, const u8 *code, size_t n)
{
	memcpy(exec_page, code, n);
	exec_page[n] = 0xc3; /* RET */
	native_faulted = 0;
	if (sigsetjmp(native_env, 1) == 0)
		native_run(s, exec_page);
}

/* --- The generator --- */

struct gen {
	u8 buf[1024];
	unsigned n;
	unsigned start[32]; /* offsets of the instructions */
	const struct ins *ins[32];
	unsigned count;
};

static void e1(struct gen *g, u8 v)
{
	g->buf[g->n++] = v;
}

/* A general register operand we may read: not RSP or RDI (they differ between the runs), and
   not 4..7 under REX (SPL..DIL) either. */
static unsigned src_gpr(void)
{
	static const u8 r[] = { 0, 1, 2, 3, 5, 6, 8, 9, 10, 11, 12, 13, 14, 15 };
	return r[rnd() % sizeof(r)];
}

static unsigned dst_gpr(void)
{
	return src_gpr();
}

static void gen_insn(struct gen *g)
{
	const struct ins *t = &table[rnd() % NTABLE];
	unsigned reg, rm, w = t->w ? (unsigned)(rnd() & 1) : 0;
	bool mem = false;
	u32 off = 0;

	switch (t->form) {
	case XR:
	case GXR:
	case SHI:
		break;
	case MO_X:
	case MO_M:
	case NTI:
		mem = true;
		break;
	default:
		mem = rnd() % 3 == 0;
	}
	reg = (unsigned)(rnd() % 16);
	rm = (unsigned)(rnd() % 16);
	if (t->form == XG || t->form == CRC)
		rm = src_gpr();
	if (t->form == GX)
		rm = dst_gpr();
	if (t->form == GXM || t->form == GXR || t->form == CRC)
		reg = dst_gpr();
	if (t->form == NTI)
		reg = src_gpr();
	if (mem) {
		unsigned sz = t->msz, span = 512 - 16;

		if (t->form == XG || t->form == GX || t->form == NTI || t->form == CRC)
			sz = w ? 8 : sz;
		off = t->align ? (u32)(rnd() % (span / 16)) * 16 : (u32)(rnd() % (512 - sz + 1));
		rm = 7; /* [rdi + disp32] */
	}
	g->start[g->count] = g->n;
	g->ins[g->count++] = t;
	if (t->p66)
		e1(g, 0x66);
	if (t->pfx)
		e1(g, t->pfx);
	{
		u8 rex = (u8)(0x40 | w << 3 | (reg >= 8) << 2 | (!mem && rm >= 8));
		bool byte_rm = t->form == CRC && t->msz == 1 && !mem;

		if (rex != 0x40 || (!byte_rm && rnd() % 8 == 0))
			e1(g, rex);
	}
	e1(g, 0x0f);
	if (t->map == 2)
		e1(g, 0x38);
	else if (t->map == 3)
		e1(g, 0x3a);
	e1(g, t->op);
	if (t->form == SHI)
		e1(g, (u8)(0xc0 | t->sub << 3 | (rm & 7)));
	else if (mem)
		e1(g, (u8)(0x80 | (reg & 7) << 3 | 7));
	else
		e1(g, (u8)(0xc0 | (reg & 7) << 3 | (rm & 7)));
	if (mem) {
		memcpy(g->buf + g->n, &off, 4);
		g->n += 4;
	}
	if (t->imm) {
		u8 imm = (u8)rnd();

		if (t->op == 0x60 || t->op == 0x61 || t->op == 0x62 || t->op == 0x63)
			imm &= 0x7f; /* imm8[7] is reserved for PCMPxSTRx */
		e1(g, imm);
	}
}

/* --- Comparing --- */

static unsigned shown;
static u64 insns_run, faults_seen, mf_seen;

#define FLAGS_MASK ((u64)(X86_CF | X86_PF | X86_AF | X86_ZF | X86_SF | X86_OF))

struct tblock {
	struct gen g;
	struct state s;
	u8 data0[512];
};

/* Differences between the soft CPU's state and n, printed when `say`. */
static unsigned compare(struct box *b, const struct state *n, const u8 *data, bool say)
{
	unsigned bad = 0;

	for (unsigned i = 0; i < 16; i++) {
		u64 sv[2], nv[2];

		memcpy(sv, b->c->fpu.xmm[i], 16);
		memcpy(nv, n->xmm[i], 16);
		if (sv[0] != nv[0] || sv[1] != nv[1]) {
			bad++;
			if (say)
				fprintf(stderr, "  xmm%u: soft %016" PRIx64 "%016" PRIx64
					", host %016" PRIx64 "%016" PRIx64 "\n", i, sv[1], sv[0],
					nv[1], nv[0]);
		}
	}
	for (unsigned i = 0; i < 16; i++)
		if (i != R_RSP && i != R_RDI && b->c->gpr[i] != n->gpr[i]) {
			bad++;
			if (say)
				fprintf(stderr, "  gpr%u: soft %#" PRIx64 ", host %#" PRIx64 "\n", i,
					b->c->gpr[i], n->gpr[i]);
		}
	if ((flags_get(b->c) & FLAGS_MASK) != (n->rflags & FLAGS_MASK)) {
		bad++;
		if (say)
			fprintf(stderr, "  rflags: soft %#" PRIx64 ", host %#" PRIx64 "\n",
				flags_get(b->c) & FLAGS_MASK, n->rflags & FLAGS_MASK);
	}
	if (b->c->fpu.mxcsr != n->mxcsr) {
		bad++;
		if (say)
			fprintf(stderr, "  mxcsr: soft %#x, host %#x\n", b->c->fpu.mxcsr, n->mxcsr);
	}
	{
		/* FCW, FSW, abridged FTW, then ST0-7 by 16 (10 bytes used): FXSAVE's layout. FIP,
		   FDP and FOP are test_fpu_host's (this host stores them only with ES set). */
		const struct x86_fpu *f = &b->c->fpu;
		u16 fcw, fsw;

		memcpy(&fcw, n->fx, 2);
		memcpy(&fsw, n->fx + 2, 2);
		if (f->fcw != fcw || f->fsw != fsw || f->ftw != n->fx[4]) {
			bad++;
			if (say)
				fprintf(stderr, "  fcw/fsw/ftw: soft %04x %04x %02x, host %04x %04x %02x\n",
					f->fcw, f->fsw, f->ftw, fcw, fsw, n->fx[4]);
		}
		for (unsigned i = 0; i < 8; i++)
			if (memcmp(f->st[i], n->fx + 32 + 16 * i, 10)) {
				u64 sm, nm;
				u16 se, ne;

				memcpy(&sm, f->st[i], 8);
				memcpy(&se, f->st[i] + 8, 2);
				memcpy(&nm, n->fx + 32 + 16 * i, 8);
				memcpy(&ne, n->fx + 40 + 16 * i, 2);
				bad++;
				if (say)
					fprintf(stderr, "  st%u: soft %04x:%016" PRIx64 ", host %04x:%016"
						PRIx64 "\n", i, se, sm, ne, nm);
			}
	}
	for (unsigned i = 0; i < 512; i += 8)
		if (memcmp(b->ram + BOX_DATA + i, data + i, 8)) {
			bad++;
			if (say)
				fprintf(stderr, "  data +%u differs\n", i);
		}
	return bad;
}

/*
 * The first k instructions of the block on both CPUs: the number of differences (a fault on one
 * side only, or at another instruction, counts as one). *ran gets the instructions that retired
 * natively.
 */
static unsigned run_both(struct box *b, const struct tblock *blk, unsigned k, u8 *data, bool say,
			 unsigned *ran)
{
	const struct gen *g = &blk->g;
	unsigned len = k < g->count ? g->start[k] : g->n, upto = k, bad = 0;
	struct state n = blk->s;
	int r;

	n.gpr[R_RDI] = (u64)(uintptr_t)data;
	memcpy(data, blk->data0, 512);
	run_native(&n, g->buf, len);
	if (native_faulted) {
		u64 at = fault_rip - (u64)(uintptr_t)exec_page;

		n = fault_state;
		for (upto = 0; upto < k && g->start[upto] != at; upto++)
			;
	}
	*ran = upto;
	for (unsigned i = 0; i < 16; i++) {
		b->c->gpr[i] = blk->s.gpr[i];
		memcpy(b->c->fpu.xmm[i], blk->s.xmm[i], 16);
	}
	b->c->gpr[R_RDI] = BOX_DATA;
	flags_set(b->c, blk->s.rflags);
	b->c->fpu.mxcsr = blk->s.mxcsr;
	fpu_x87_load(b->c, blk->s.fx, true);
	memcpy(b->ram + BOX_DATA, blk->data0, 512);
	r = box_run(b, g->buf, len);
	if (native_faulted ? r != (int)fault_vec || b->c->rip != BOX_CODE + g->start[upto]
			   : r != -1) {
		bad++;
		if (say)
			fprintf(stderr, "  host %s %d, soft %s %d at +%#" PRIx64 "\n",
				native_faulted ? "vector" : "no fault", native_faulted ? (int)fault_vec : 0,
				r < 0 ? "no fault" : "vector", r, b->c->rip - BOX_CODE);
	}
	return bad + compare(b, &n, data, say);
}

static void one_block(struct box *b, u8 *data)
{
	struct tblock blk = { .g = { .n = 0 } };
	unsigned ran, bad;
	u32 mx;

	while (blk.g.count < 24)
		gen_insn(&blk.g);
	for (unsigned i = 0; i < 16; i++) {
		rnd_xmm(blk.s.xmm[i]);
		blk.s.gpr[i] = rnd_gpr();
	}
	for (unsigned i = 0; i < 512; i += 16)
		rnd_xmm(blk.data0 + i);
	blk.s.gpr[R_RSP] = 0;
	blk.s.rflags = 0x202 | (rnd() & FLAGS_MASK);
	/* Rounding, DAZ, FTZ at random; masks all set 7 blocks in 8, else a random set. */
	mx = (u32)(rnd() & 3) << 13 | (rnd() & 1 ? 0x40 : 0) | (rnd() & 1 ? 0x8000 : 0);
	mx |= rnd() % 8 ? 0x1f80 : (u32)(rnd() & 0x3f) << 7;
	blk.s.mxcsr = mx;
	/* x87: any TOP and tags, random registers (MMX data, exponents any); 1 block in 16 with IE
	   unmasked and pending (ES and B set, as FXRSTOR takes them). */
	{
		u16 fcw = X86_FPU_FCW_INIT, fsw = (u16)(rnd() % 8) << FSW_TOP_SHIFT;

		memset(blk.s.fx, 0, sizeof(blk.s.fx));
		if (rnd() % 16 == 0) {
			fcw &= (u16)~FSW_IE;
			fsw |= FSW_IE | FSW_ES | FSW_B;
		}
		memcpy(blk.s.fx, &fcw, 2);
		memcpy(blk.s.fx + 2, &fsw, 2);
		blk.s.fx[4] = (u8)rnd();
		memcpy(blk.s.fx + 24, &mx, 4);
		for (unsigned i = 0; i < 8; i += 2) {
			u8 v[16];

			rnd_xmm(v);
			memcpy(blk.s.fx + 32 + 16 * i, v, 8);
			memcpy(blk.s.fx + 48 + 16 * i, v + 8, 8);
		}
		for (unsigned i = 0; i < 8; i++) {
			u16 e = rnd() % 4 ? 0xffff : (u16)rnd();

			memcpy(blk.s.fx + 40 + 16 * i, &e, 2);
		}
	}

	bad = run_both(b, &blk, blk.g.count, data, false, &ran);
	insns_run += ran;
	faults_seen += native_faulted;
	mf_seen += native_faulted && fault_vec == X86_MF;
	if (!bad) {
		check_passed++;
		return;
	}
	check_failed++;
	if (shown++ >= 20)
		return;
	/* The first instruction after which the CPUs differ. */
	for (unsigned k = 1; k <= blk.g.count; k++)
		if (run_both(b, &blk, k, data, false, &ran)) {
			const struct ins *t = blk.g.ins[k - 1];
			unsigned from = blk.g.start[k - 1];
			unsigned to = k < blk.g.count ? blk.g.start[k] : blk.g.n;

			fprintf(stderr, "FAIL %s (instruction %u, mxcsr %#x):", t->name, k - 1,
				blk.s.mxcsr);
			for (unsigned i = from; i < to; i++)
				fprintf(stderr, " %02x", blk.g.buf[i]);
			fprintf(stderr, "\n");
			run_both(b, &blk, k, data, true, &ran);
			break;
		}
}

static bool host_aes, host_pclmul, host_crc32;

int main(int argc, char **argv)
{
	const char *env = getenv("TEST_SSE_HOST_BLOCKS");
	unsigned long blocks = argc > 1 ? strtoul(argv[1], NULL, 0) :
				   env ? strtoul(env, NULL, 0) : 20000;
	struct sigaction sa;
	struct box b;
	u8 *data;

	/* Our SIGFPE handler first: the soft CPU's (sse_host.c) passes on the ones not its own. */
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_sigfpe;
	sa.sa_flags = SA_SIGINFO;
	sigaction(SIGFPE, &sa, NULL);
	exec_page = mmap(NULL, 4096, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS,
			 -1, 0);
	data = aligned_alloc(64, 512);
	if (exec_page == MAP_FAILED || !data) {
		printf("test_sse_host: 0 passed, 0 failed (no executable memory: skipped)\n");
		return 0;
	}
	if (argc > 2)
		rng = strtoull(argv[2], NULL, 0) ?: rng; /* xorshift's state must not be 0 */
	box_init(&b);
	host_aes = sse_host_has_aes;
	host_pclmul = sse_host_has_pclmul;
	host_crc32 = sse_host_has_crc32;
	for (unsigned long i = 0; i < blocks; i++) {
		/* Every other block with the C versions of AES-NI, PCLMULQDQ and CRC32; every other
		   pair compiled at once (jit.c's inline SSE forms against the host too). */
		sse_host_has_aes = host_aes && i % 2;
		sse_host_has_pclmul = host_pclmul && i % 2;
		sse_host_has_crc32 = host_crc32 && i % 2;
		if (i % 2 == 0)
			cpu_set_jit(b.c, (i / 2) % 2);
		one_block(&b, data);
	}
	fprintf(stderr, "test_sse_host: %lu blocks, %" PRIu64 " instructions compared, %" PRIu64
		" ended in #XM, %" PRIu64 " in #MF\n", blocks, insns_run, faults_seen - mf_seen,
		mf_seen);
	box_free(&b);
	return check_done("test_sse_host");
}
