// SPDX-License-Identifier: MIT
/*
 * SIMD floating point of SSE, SSE2, SSE3 and SSE4.1: arithmetic, comparisons, conversions,
 * rounding and dot products. Each instruction runs as the same host instruction under the
 * guest's MXCSR (sse_host.c explains why); this file fetches the operands with the legacy-SSE
 * rules (packed 128-bit memory operands aligned, scalar and 64-bit ones not: SDM vol. 2 2.4,
 * exception types 2 and 3), lets sse_fp_run() report unmasked exceptions (#XM, or #UD with
 * CR4.OSXMMEXCPT = 0; SDM vol. 1 11.5, vol. 3A 6.15 interrupt 19), and only then writes the
 * destination.
 */
#include "cpu/sse.h"
#include "cpu/sse_ops.h"

/* The mandatory prefix as the decoder picked it: 0 none, 1 66, 2 F3, 3 F2. */
static always_inline unsigned mand(const struct insn *d)
{
	return d->pfx & PFX_F3 ? 2 : d->pfx & PFX_F2 ? 3 : d->pfx & PFX_66 ? 1 : 0;
}

struct fp_op {
	sse_fp_fn fn;
	u8 size; /* memory operand bytes: 16 (aligned), 8 or 4 */
};

#define P4(ps, pd, ss, sd)                                                                         \
	{ { sse_host_##ps, 16 }, { sse_host_##pd, 16 }, { sse_host_##ss, 4 }, { sse_host_##sd, 8 } }

/* 0F-map floating-point opcodes by mandatory prefix (SDM vol. 2D Table A-3). */
static const struct fp_op fp_ops[256][4] = {
	[0x51] = P4(sqrtps, sqrtpd, sqrtss, sqrtsd),
	[0x52] = { { sse_host_rsqrtps, 16 }, { 0 }, { sse_host_rsqrtss, 4 } },
	[0x53] = { { sse_host_rcpps, 16 }, { 0 }, { sse_host_rcpss, 4 } },
	[0x58] = P4(addps, addpd, addss, addsd),
	[0x59] = P4(mulps, mulpd, mulss, mulsd),
	[0x5a] = { { sse_host_cvtps2pd, 8 }, { sse_host_cvtpd2ps, 16 }, { sse_host_cvtss2sd, 4 },
		   { sse_host_cvtsd2ss, 8 } },
	[0x5b] = { { sse_host_cvtdq2ps, 16 }, { sse_host_cvtps2dq, 16 }, { sse_host_cvttps2dq, 16 } },
	[0x5c] = P4(subps, subpd, subss, subsd),
	[0x5d] = P4(minps, minpd, minss, minsd),
	[0x5e] = P4(divps, divpd, divss, divsd),
	[0x5f] = P4(maxps, maxpd, maxss, maxsd),
	[0x7c] = { { 0 }, { sse_host_haddpd, 16 }, { 0 }, { sse_host_haddps, 16 } },
	[0x7d] = { { 0 }, { sse_host_hsubpd, 16 }, { 0 }, { sse_host_hsubps, 16 } },
	[0xd0] = { { 0 }, { sse_host_addsubpd, 16 }, { 0 }, { sse_host_addsubps, 16 } },
	[0xe6] = { { 0 }, { sse_host_cvttpd2dq, 16 }, { sse_host_cvtdq2pd, 8 },
		   { sse_host_cvtpd2dq, 16 } },
};

/* Whether sse_decode() may send (opcode, prefix) to sse_fp(). */
bool sse_fp_has(u8 opcode, unsigned mandatory)
{
	return fp_ops[opcode][mandatory].fn != NULL;
}

static always_inline void fp_exec(struct cpu *c, const struct insn *d, sse_fp_fn fn,
				  unsigned size)
{
	xmm_t a, b;

	sse_check(c);
	sse_src(c, d, &b, size, size == 16);
	xmm_get(c, d->reg, &a);
	sse_fp_run(c, fn, &a, &b);
	xmm_put(c, d->reg, &a);
}

/* SQRT RSQRT RCP ADD MUL CVT SUB MIN DIV MAX (0F 51-5F), HADD HSUB (7C 7D), ADDSUB (D0), the
   E6 conversions. */
void sse_fp(struct cpu *c, const struct insn *d)
{
	const struct fp_op *o = &fp_ops[d->opcode & 0xff][mand(d)];

	fp_exec(c, d, o->fn, o->size);
}

/* CMPPS (0F C2), CMPPD (66), CMPSS (F3), CMPSD (F2) with predicate imm8[2:0]. */
void sse_cmp(struct cpu *c, const struct insn *d)
{
	static const sse_fp_fn *const tab[4] = { sse_host_cmpps, sse_host_cmppd, sse_host_cmpss,
						 sse_host_cmpsd };
	static const u8 size[4] = { 16, 16, 4, 8 };
	unsigned m = mand(d);

	fp_exec(c, d, tab[m][d->imm & 7], size[m]);
}

/* ROUNDPS ROUNDPD ROUNDSS ROUNDSD (66 0F 3A 08-0B) with imm8[3:0]. */
void sse_round(struct cpu *c, const struct insn *d)
{
	static const sse_fp_fn *const tab[4] = { sse_host_roundps, sse_host_roundpd,
						 sse_host_roundss, sse_host_roundsd };
	static const u8 size[4] = { 16, 16, 4, 8 };
	unsigned k = (d->opcode & 0xff) - 0x08;

	fp_exec(c, d, tab[k][d->imm & 15], size[k]);
}

/* DPPS (66 0F 3A 40), DPPD (41): the host computes the sum into every element; imm8[3:0]
   (imm8[1:0]) then choose the elements that get it, the others are zeroed. */
void sse_dp(struct cpu *c, const struct insn *d)
{
	u8 imm = (u8)d->imm;
	bool pd = (d->opcode & 0xff) == 0x41;
	xmm_t a, b;

	sse_check(c);
	sse_src128(c, d, &b);
	xmm_get(c, d->reg, &a);
	sse_fp_run(c, pd ? sse_host_dppd[(imm >> 4) & 3] : sse_host_dpps[imm >> 4], &a, &b);
	if (pd) {
		for (unsigned i = 0; i < 2; i++)
			if (!(imm & (1u << i)))
				a.q[i] = 0;
	} else {
		for (unsigned i = 0; i < 4; i++)
			if (!(imm & (1u << i)))
				a.d[i] = 0;
	}
	xmm_put(c, d->reg, &a);
}

/* CVTSI2SS (F3 0F 2A), CVTSI2SD (F2 0F 2A): from r/m32, or r/m64 with REX.W. */
void sse_cvtsi2s(struct cpu *c, const struct insn *d)
{
	unsigned n = sse_gpr_size(d);
	bool sd = d->pfx & PFX_F2;
	xmm_t a, b;

	sse_check(c);
	memset(&b, 0, sizeof(b));
	b.q[0] = d->mem ? mem_read(c, d->seg, insn_ea(c, d), n) : reg_read(c, d->rm, n);
	xmm_get(c, d->reg, &a);
	sse_fp_run(c,
		   sd ? (n == 8 ? sse_host_cvtsi2sd_q : sse_host_cvtsi2sd_l)
		      : (n == 8 ? sse_host_cvtsi2ss_q : sse_host_cvtsi2ss_l),
		   &a, &b);
	xmm_put(c, d->reg, &a);
}

/* CVTTSS2SI/CVTSS2SI (F3 0F 2C/2D) from xmm/m32, CVTTSD2SI/CVTSD2SI (F2 0F 2C/2D) from
   xmm/m64, into r32 or r64 (REX.W). */
void sse_cvts2si(struct cpu *c, const struct insn *d)
{
	static const sse_fp_fn tab[2][2][2] = {
		{ { sse_host_cvtss2si_l, sse_host_cvtss2si_q },
		  { sse_host_cvttss2si_l, sse_host_cvttss2si_q } },
		{ { sse_host_cvtsd2si_l, sse_host_cvtsd2si_q },
		  { sse_host_cvttsd2si_l, sse_host_cvttsd2si_q } },
	};
	unsigned n = sse_gpr_size(d), sd = !!(d->pfx & PFX_F2), t = (d->opcode & 0xff) == 0x2c;
	xmm_t a, b;

	sse_check(c);
	sse_src(c, d, &b, sd ? 8 : 4, false);
	sse_fp_run(c, tab[sd][t][n == 8], &a, &b);
	reg_write(c, d->reg, a.q[0], n);
}

/* UCOMISS/COMISS (0F 2E/2F) with xmm/m32, UCOMISD/COMISD (66 0F 2E/2F) with xmm/m64: ZF PF CF
   from the comparison, OF SF AF cleared (SDM vol. 2 COMISS). */
void sse_comis(struct cpu *c, const struct insn *d)
{
	bool pd = d->pfx & PFX_66, u = (d->opcode & 0xff) == 0x2e;
	u64 f;
	xmm_t a, b;

	sse_check(c);
	sse_src(c, d, &b, pd ? 8 : 4, false);
	xmm_get(c, d->reg, &a);
	sse_fp_run(c,
		   pd ? (u ? sse_host_ucomisd : sse_host_comisd)
		      : (u ? sse_host_ucomiss : sse_host_comiss),
		   &a, &b);
	f = flags_get(c) & ~X86_ARITH_FLAGS;
	f |= (a.b[0] ? X86_CF : 0) | (a.b[1] ? X86_ZF : 0) | (a.b[2] ? X86_PF : 0);
	flags_set(c, f);
}
