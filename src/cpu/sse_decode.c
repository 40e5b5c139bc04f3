// SPDX-License-Identifier: MIT
/*
 * The SSE decoder: which handler an SSE encoding of maps 1 (0F), 2 (0F 38) and 3 (0F 3A) gets,
 * by opcode and mandatory prefix (none, 66, F3, F2: SDM vol. 2A 2.1.2, vol. 2D Tables A-3 to
 * x86_decode() has already parsed ModRM and the immediate (its map tables give every SSE
 * opcode its length); this only chooses the handler. Encodings left to the rest of the decoder:
 * the integer opcodes, and the MMX forms without a prefix of 0F 60-7F, C4, C5 and D0-FF, which the
 * x87/MMX decoder owns. The SSE forms with MMX-register operands are this decoder's and go to
 * sse_mmx.c: CVTPI2PS, CVTPS2PI, CVTTPS2PI (0F 2A 2D 2C), CVTPI2PD, CVTPD2PI, CVTTPD2PI (66 0F
 * 2A 2D 2C), MOVQ2DQ (F3 0F D6) and MOVDQ2Q (F2 0F D6), register forms only, and the SSSE3
 * instructions without a prefix (0F 38 00-0B 1C-1E, 0F 3A 0F; docs/cpu.md, "x87 and MMX").
 */
#include "cpu/sse.h"
#include "cpu/sse_ops.h"
#include "cpu/ops_core.h"
#include "cpu/ops_ext.h"
#include "cpu/xsave.h"

enum { MAND_NONE, MAND_66, MAND_F3, MAND_F2 };

#define E_MEM BIT(0) /* the register form is #UD */
#define E_REG BIT(1) /* the memory form is #UD */

struct sse_ent {
	insn_fn fn;
	u8 fl;
};

#define A(f) { f, 0 }
#define M(f) { f, E_MEM }
#define R(f) { f, E_REG }
/* The same handler for the 66 column only. */
#define P66(f) { { 0 }, A(f) }

/* Map 1 (0F xx) by mandatory prefix; an empty slot is #UD. */
static const struct sse_ent map1[256][4] = {
	[0x10] = { A(sse_load_u), A(sse_load_u), A(sse_movss_load), A(sse_movss_load) },
	[0x11] = { A(sse_store_u), A(sse_store_u), A(sse_movss_store), A(sse_movss_store) },
	[0x12] = { A(sse_movlps_load), M(sse_movlps_load), A(sse_movsldup), A(sse_movddup) },
	[0x13] = { M(sse_movlps_store), M(sse_movlps_store) },
	[0x14] = { A(sse_unpcklps), A(sse_unpcklpd) },
	[0x15] = { A(sse_unpcklps), A(sse_unpcklpd) },
	[0x16] = { A(sse_movhps_load), M(sse_movhps_load), A(sse_movsldup) },
	[0x17] = { M(sse_movlps_store), M(sse_movlps_store) },
	[0x28] = { A(sse_load_a), A(sse_load_a) },
	[0x29] = { A(sse_store_a), A(sse_store_a) },
	[0x2a] = { A(sse_cvtpi2p), A(sse_cvtpi2p), A(sse_cvtsi2s), A(sse_cvtsi2s) },
	[0x2b] = { M(sse_store_a), M(sse_store_a) },
	[0x2c] = { A(sse_cvtp2pi), A(sse_cvtp2pi), A(sse_cvts2si), A(sse_cvts2si) },
	[0x2d] = { A(sse_cvtp2pi), A(sse_cvtp2pi), A(sse_cvts2si), A(sse_cvts2si) },
	[0x2e] = { A(sse_comis), A(sse_comis) },
	[0x2f] = { A(sse_comis), A(sse_comis) },
	[0x50] = { R(sse_movmskps), R(sse_movmskps) },
	[0x54] = { A(sse_pand), A(sse_pand) },
	[0x55] = { A(sse_pandn), A(sse_pandn) },
	[0x56] = { A(sse_por), A(sse_por) },
	[0x57] = { A(sse_pxor), A(sse_pxor) },
	[0x60 ... 0x62] = P66(sse_punpck),
	[0x63] = P66(sse_packsswb),
	[0x64] = P66(sse_pcmpgtb),
	[0x65] = P66(sse_pcmpgtw),
	[0x66] = P66(sse_pcmpgtd),
	[0x67] = P66(sse_packuswb),
	[0x68 ... 0x6a] = P66(sse_punpck),
	[0x6b] = P66(sse_packssdw),
	[0x6c ... 0x6d] = P66(sse_unpcklpd),
	[0x6e] = P66(sse_movd_load),
	[0x6f] = { { 0 }, A(sse_load_a), A(sse_load_u) },
	[0x70] = { { 0 }, A(sse_pshufd), A(sse_pshufd), A(sse_pshufd) },
	[0x71 ... 0x73] = { { 0 }, R(sse_shift_imm) }, /* by ModRM.reg: sse_decode() */
	[0x74] = P66(sse_pcmpeqb),
	[0x75] = P66(sse_pcmpeqw),
	[0x76] = P66(sse_pcmpeqd),
	[0x7e] = { { 0 }, A(sse_movd_store), A(sse_movq_load) },
	[0x7f] = { { 0 }, A(sse_store_a), A(sse_store_u) },
	[0xc2] = { A(sse_cmp), A(sse_cmp), A(sse_cmp), A(sse_cmp) },
	[0xc3] = { M(sse_movnti) },
	[0xc4] = P66(sse_pinsrw),
	[0xc5] = { { 0 }, R(sse_pextrw_reg) },
	[0xc6] = { A(sse_shufps), A(sse_shufpd) },
	[0xd1 ... 0xd3] = P66(sse_shift_xmm),
	[0xd4] = P66(sse_paddq),
	[0xd5] = P66(sse_pmullw),
	[0xd6] = { { 0 }, A(sse_movq_store), R(sse_movq2dq), R(sse_movdq2q) },
	[0xd7] = { { 0 }, R(sse_pmovmskb) },
	[0xd8] = P66(sse_psubusb),
	[0xd9] = P66(sse_psubusw),
	[0xda] = P66(sse_pminub),
	[0xdb] = P66(sse_pand),
	[0xdc] = P66(sse_paddusb),
	[0xdd] = P66(sse_paddusw),
	[0xde] = P66(sse_pmaxub),
	[0xdf] = P66(sse_pandn),
	[0xe0] = P66(sse_pavgb),
	[0xe1 ... 0xe2] = P66(sse_shift_xmm),
	[0xe3] = P66(sse_pavgw),
	[0xe4] = P66(sse_pmulhuw),
	[0xe5] = P66(sse_pmulhw),
	[0xe7] = { { 0 }, M(sse_store_a) },
	[0xe8] = P66(sse_psubsb),
	[0xe9] = P66(sse_psubsw),
	[0xea] = P66(sse_pminsw),
	[0xeb] = P66(sse_por),
	[0xec] = P66(sse_paddsb),
	[0xed] = P66(sse_paddsw),
	[0xee] = P66(sse_pmaxsw),
	[0xef] = P66(sse_pxor),
	[0xf0] = { { 0 }, { 0 }, { 0 }, M(sse_load_u) },
	[0xf1 ... 0xf3] = P66(sse_shift_xmm),
	[0xf4] = P66(sse_pmuludq),
	[0xf5] = P66(sse_pmaddwd),
	[0xf6] = P66(sse_psadbw),
	[0xf7] = { { 0 }, R(sse_maskmovdqu) },
	[0xf8] = P66(sse_psubb),
	[0xf9] = P66(sse_psubw),
	[0xfa] = P66(sse_psubd),
	[0xfb] = P66(sse_psubq),
	[0xfc] = P66(sse_paddb),
	[0xfd] = P66(sse_paddw),
	[0xfe] = P66(sse_paddd),
};

/* Map 2 (0F 38 xx), 66 forms: SSSE3, SSE4.1, SSE4.2, AES. The SSSE3 opcodes 00-0B and 1C-1E
   without a prefix act on MMX registers (sse_ssse3_mmx, sse_mmx.c). */
static const struct sse_ent map2_66[256] = {
	[0x00 ... 0x0b] = A(sse_ssse3),
	[0x10] = A(sse_blendv),
	[0x14 ... 0x15] = A(sse_blendv),
	[0x17] = A(sse_ptest),
	[0x1c ... 0x1e] = A(sse_ssse3),
	[0x20 ... 0x25] = A(sse_pmovx),
	[0x28] = A(sse_pmuldq),
	[0x29] = A(sse_pcmpeqq),
	[0x2a] = M(sse_load_a), /* MOVNTDQA */
	[0x2b] = A(sse_packusdw),
	[0x30 ... 0x35] = A(sse_pmovx),
	[0x37] = A(sse_pcmpgtq),
	[0x38] = A(sse_pminsb),
	[0x39] = A(sse_pminsd),
	[0x3a] = A(sse_pminuw),
	[0x3b] = A(sse_pminud),
	[0x3c] = A(sse_pmaxsb),
	[0x3d] = A(sse_pmaxsd),
	[0x3e] = A(sse_pmaxuw),
	[0x3f] = A(sse_pmaxud),
	[0x40] = A(sse_pmulld),
	[0x41] = A(sse_phminposuw),
	[0xdb ... 0xdf] = A(sse_aes),
};

/* Map 3 (0F 3A xx), 66 forms: SSE4.1, SSE4.2, SSSE3 PALIGNR, PCLMULQDQ, AESKEYGENASSIST. */
static const struct sse_ent map3_66[256] = {
	[0x08 ... 0x0b] = A(sse_round),
	[0x0c ... 0x0e] = A(sse_blend_imm),
	[0x0f] = A(sse_ssse3), /* PALIGNR */
	[0x14 ... 0x17] = A(sse_pextr),
	[0x20] = A(sse_pinsr),
	[0x21] = A(sse_insertps),
	[0x22] = A(sse_pinsr),
	[0x40 ... 0x41] = A(sse_dp),
	[0x42] = A(sse_mpsadbw),
	[0x44] = A(sse_pclmulqdq),
	[0x60 ... 0x63] = A(sse_pcmpstr),
	[0xdf] = A(sse_aeskeygenassist),
};

static insn_fn pick(const struct sse_ent *e, const struct insn *d)
{
	if ((e->fl & E_MEM) && !d->mem)
		return NULL;
	if ((e->fl & E_REG) && d->mem)
		return NULL;
	return e->fn;
}

/* 0F 71-73 (66): /2 /4 /6 for words and doublewords, /2 /3 /6 /7 for quadwords. */
static bool shift_imm_valid(u8 op, unsigned sub)
{
	if (op == 0x73)
		return sub == 2 || sub == 3 || sub == 6 || sub == 7;
	return sub == 2 || sub == 4 || sub == 6;
}

/*
 * 0F AE, group 15 (SDM vol. 2D Table A-6): memory forms /0 FXSAVE and /1 FXRSTOR (the x87
 * decoder's), /2 LDMXCSR, /3 STMXCSR, /4 XSAVE, /5 XRSTOR, /6 XSAVEOPT, /7 CLFLUSH; 66 /6 CLWB,
 * 66 /7 CLFLUSHOPT. Register forms /5 LFENCE, /6 MFENCE, /7 SFENCE (NOPs: the soft CPU orders
 * every access); F3 /0-/3 RDFSBASE, RDGSBASE, WRFSBASE, WRGSBASE.
 */
static bool decode_grp15(const struct insn *d, unsigned mand, insn_fn *fn)
{
	static const insn_fn mem[8] = {
		[2] = sse_ldmxcsr, [3] = sse_stmxcsr, [4] = op_xsave,
		[5] = op_xrstor,   [6] = op_xsave,	  [7] = op_clflush,
	};

	if (d->mem && mand == MAND_NONE && d->sub <= 1)
		return false;
	*fn = NULL;
	if (d->mem) {
		if (mand == MAND_NONE)
			*fn = mem[d->sub];
		else if (mand == MAND_66 && d->sub >= 6)
			*fn = op_clflush;
	} else if (mand == MAND_NONE && d->sub >= 5) {
		*fn = op_nop;
	} else if (mand == MAND_F3 && d->sub <= 3) {
		*fn = op_fsgsbase;
	}
	return true;
}

/*
 * 0F C7, group 9: memory forms /3 XRSTORS, /4 XSAVEC, /5 XSAVES (no prefix); register forms /6
 * RDRAND, /7 RDSEED (none or 66), F3 /7 RDPID. The rest (CMPXCHG8B/16B, the VMX instructions)
 * is the main decoder's.
 */
static bool decode_grp9(const struct insn *d, unsigned mand, insn_fn *fn)
{
	if (d->mem ? d->sub < 3 || d->sub > 5 : d->sub < 6)
		return false;
	*fn = NULL;
	if (d->mem) {
		if (mand == MAND_NONE)
			*fn = d->sub == 3 ? op_xrstor : op_xsave;
	} else if (mand == MAND_NONE || mand == MAND_66) {
		*fn = op_rdrand;
	} else if (mand == MAND_F3 && d->sub == 7) {
		*fn = op_rdpid;
	}
	return true;
}

/* The 0F opcodes with SSE forms (the rest of map 1 is integer or system). */
static bool map1_sse(u8 op)
{
	return (op >= 0x10 && op <= 0x17) || (op >= 0x28 && op <= 0x2f) ||
	       (op >= 0x50 && op <= 0x7f) || (op >= 0xc2 && op <= 0xc6) || op >= 0xd0;
}

bool sse_decode(struct insn *d, unsigned mand, unsigned code_bits, insn_fn *fn)
{
	u8 op = d->opcode & 0xff;

	switch (d->opcode >> 8) {
	case 1:
		if (op == 0xae)
			return decode_grp15(d, mand, fn);
		if (op == 0xc7)
			return decode_grp9(d, mand, fn);
		if (!map1_sse(op))
			return false;
		/* The MMX forms belong to the x87/MMX decoder. */
		if (mand == MAND_NONE && ((op >= 0x60 && op <= 0x7f) || op == 0xc4 || op == 0xc5 ||
					  op >= 0xd0))
			return false;
		if (op >= 0x51 && op <= 0x5f && !(op >= 0x54 && op <= 0x57)) {
			*fn = sse_fp_has(op, mand) ? sse_fp : NULL;
			return true;
		}
		if (op == 0x7c || op == 0x7d || op == 0xd0 || op == 0xe6) {
			*fn = sse_fp_has(op, mand) ? sse_fp : NULL;
			return true;
		}
		if (op >= 0x71 && op <= 0x73 && !shift_imm_valid(op, d->sub)) {
			*fn = NULL;
			return true;
		}
		*fn = pick(&map1[op][mand], d);
		return true;
	case 2:
		if (mand == MAND_NONE && (op <= 0x0b || (op >= 0x1c && op <= 0x1e))) {
			*fn = sse_ssse3_mmx;
			return true;
		}
		if (op == 0xf0 || op == 0xf1) {
			if (mand != MAND_F2)
				return false;
			*fn = sse_crc32;
			return true;
		}
		if (mand != MAND_66 || !map2_66[op].fn)
			return false;
		*fn = pick(&map2_66[op], d);
		return true;
	case 3:
		if (mand == MAND_NONE && op == 0x0f) {
			*fn = sse_ssse3_mmx; /* PALIGNR mm, mm/m64, imm8 */
			return true;
		}
		if (mand != MAND_66 || !map3_66[op].fn)
			return false;
		*fn = pick(&map3_66[op], d);
		return true;
	}
	return false;
}
