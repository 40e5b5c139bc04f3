// SPDX-License-Identifier: MIT
/*
 * The SSE, SSE2 and SSSE3 forms with MMX-register operands: CVTPI2PS, CVTPI2PD, CVTPS2PI,
 * CVTTPS2PI, CVTPD2PI, CVTTPD2PI (0F 2A 2C 2D, none and 66), MOVQ2DQ (F3 0F D6), MOVDQ2Q
 * (F2 0F D6), and the SSSE3 instructions without a prefix (0F 38 00-0B 1C-1E, 0F 3A 0F).
 *
 * An instruction that reads or writes an MMX register is an MMX instruction for the x87 state
 * (SDM vol. 1 9.5, 11.6.7; vol. 2 CVTPI2PS "Description"): it waits (a pending x87 exception is
 * taken first: #MF, or the CR0.NE = 0 path of fpu_wait()), then sets TOP to 0 and every tag
 * valid, and an MMX register it writes gets bits 79:64 all ones (mmx.c). CVTPI2PS and CVTPI2PD
 * with a memory source touch no MMX register: no wait, no transition (their SDM pages; measured).
 *
 * Faults in order (SDM vol. 3A 22.25.3, Tables 22-5 to 22-8; the order measured on the host where
 * it can be): #UD with CR0.EM, and for the SSE and SSE2 forms with CR4.OSFXSR = 0 (the SSSE3
 * forms check CR0.EM and CR0.TS as MMX instructions do, mmx_check()); #NM with CR0.TS; #MF; then
 * the memory operand (#GP, #SS, #PF, #AC; the m128 of CVT(T)PD2PI must be 16-byte aligned, the
 * m64 forms need no alignment); the transition; then the conversion, whose unmasked SIMD
 * floating-point exception (#XM, or #UD with CR4.OSXMMEXCPT = 0) comes after the transition
 * (measured on an AMD EPYC: TOP is 0 and the tags valid at the #XM) and leaves the destination
 * as it was. A #PF or #GP leaves the x87 state as it was (measured).
 */
#include "cpu/fpu.h"
#include "cpu/sse.h"
#include "cpu/sse_ops.h"

/* CVTPI2PS xmm, mm/m64 (0F 2A): two doublewords to singles in the low quadword, the high one
   kept; precision under MXCSR.RC. CVTPI2PD xmm, mm/m64 (66 0F 2A): to two doubles, exactly. */
void sse_cvtpi2p(struct cpu *c, const struct insn *d)
{
	bool pd = d->pfx & PFX_66;
	xmm_t a, b;

	sse_check(c);
	memset(&b, 0, sizeof(b));
	if (d->mem) {
		sse_read_mem(c, d, &b, 8, false);
	} else {
		if (!fpu_wait(c))
			return;
		b.q[0] = mmx_read(c, d->rm & 7);
		mmx_enter(c);
	}
	xmm_get(c, d->reg, &a);
	sse_fp_run(c, pd ? sse_host_cvtpi2pd : sse_host_cvtpi2ps, &a, &b);
	xmm_put(c, d->reg, &a);
}

/* CVTPS2PI/CVTTPS2PI mm, xmm/m64 (0F 2D/2C), CVTPD2PI/CVTTPD2PI mm, xmm/m128 (66 0F 2D/2C): two
   doublewords, rounded by MXCSR.RC or truncated; NaN and out of range give 80000000H with IE. */
void sse_cvtp2pi(struct cpu *c, const struct insn *d)
{
	static const sse_fp_fn tab[2][2] = {
		{ sse_host_cvtps2pi, sse_host_cvttps2pi },
		{ sse_host_cvtpd2pi, sse_host_cvttpd2pi },
	};
	bool pd = d->pfx & PFX_66, t = (d->opcode & 0xff) == 0x2c;
	xmm_t a, b;

	sse_check(c);
	if (!fpu_wait(c))
		return;
	sse_src(c, d, &b, pd ? 16 : 8, pd);
	mmx_enter(c);
	sse_fp_run(c, tab[pd][t], &a, &b);
	mmx_write(c, d->reg & 7, a.q[0]);
}

/* MOVQ2DQ xmm, mm (F3 0F D6, register form only): the quadword, zero-extended to 128 bits. */
void sse_movq2dq(struct cpu *c, const struct insn *d)
{
	xmm_t v;

	sse_check(c);
	if (!fpu_wait(c))
		return;
	memset(&v, 0, sizeof(v));
	v.q[0] = mmx_read(c, d->rm & 7);
	mmx_enter(c);
	xmm_put(c, d->reg, &v);
}

/* MOVDQ2Q mm, xmm (F2 0F D6, register form only): the low quadword. */
void sse_movdq2q(struct cpu *c, const struct insn *d)
{
	xmm_t v;

	sse_check(c);
	if (!fpu_wait(c))
		return;
	xmm_get(c, d->rm, &v);
	mmx_enter(c);
	mmx_write(c, d->reg & 7, v.q[0]);
}

/* PSHUFB, PHADDx, PHSUBx, PMADDUBSW, PSIGNx, PMULHRSW, PABSx mm, mm/m64 (0F 38 00-0B, 1C-1E) and
   PALIGNR mm, mm/m64, imm8 (0F 3A 0F): sse_ssse3_op() on 8 bytes. */
void sse_ssse3_mmx(struct cpu *c, const struct insn *d)
{
	unsigned mm = d->reg & 7;
	xmm_t a, b;

	if (!mmx_check(c))
		return;
	b.q[0] = d->mem ? mem_read(c, d->seg, insn_ea(c, d), 8) : mmx_read(c, d->rm & 7);
	a.q[0] = mmx_read(c, mm);
	sse_ssse3_op(d->opcode, &a, &b, (u8)d->imm, 8);
	mmx_enter(c);
	mmx_write(c, mm, a.q[0]);
}
