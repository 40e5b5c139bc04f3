// SPDX-License-Identifier: MIT
/*
 * Integer SIMD on XMM registers: SSE2 (66 0F 60-76, D1-FE, the shift groups 71-73), SSSE3
 * (66 0F 38 00-1E, 66 0F 3A 0F), the integer part of SSE4.1 (66 0F 38 17, 28-41, 66 0F 3A 42)
 * and of SSE4.2 (PCMPGTQ, PCMPESTRI/M, PCMPISTRI/M). Plain C over the lanes of xmm_t; the
 * operations are those of each instruction's "Operation" section in SDM vol. 2. Legacy-SSE
 * 128-bit memory operands must be 16-byte aligned (sse_src128) except where noted.
 */
#include "cpu/sse.h"
#include "cpu/sse_ops.h"

static always_inline s8 sat8(int v)
{
	return (s8)(v > 127 ? 127 : v < -128 ? -128 : v);
}

static always_inline u8 satu8(int v)
{
	return (u8)(v > 255 ? 255 : v < 0 ? 0 : v);
}

static always_inline s16 sat16(s32 v)
{
	return (s16)(v > 32767 ? 32767 : v < -32768 ? -32768 : v);
}

static always_inline u16 satu16(s32 v)
{
	return (u16)(v > 65535 ? 65535 : v < 0 ? 0 : v);
}

/* dst = op(dst, xmm/m128 aligned), lane by lane: the body reads a.<lane>[i] and b.<lane>[i]. */
#define SSE_LANES(name, lane, n, expr)                                                            \
	void name(struct cpu *c, const struct insn *d)                                             \
	{                                                                                          \
		xmm_t a, b;                                                                        \
		sse_check(c);                                                                      \
		sse_src128(c, d, &b);                                                              \
		xmm_get(c, d->reg, &a);                                                            \
		for (unsigned i = 0; i < (n); i++)                                                 \
			a.lane[i] = (expr);                                                        \
		xmm_put(c, d->reg, &a);                                                            \
	}

/* The same for operations that build a new register r from a and b. */
#define SSE_BUILD(name, body)                                                                     \
	void name(struct cpu *c, const struct insn *d)                                             \
	{                                                                                          \
		xmm_t a, b, r;                                                                     \
		sse_check(c);                                                                      \
		sse_src128(c, d, &b);                                                              \
		xmm_get(c, d->reg, &a);                                                            \
		body;                                                                              \
		xmm_put(c, d->reg, &r);                                                            \
	}

/* --- SSE2 arithmetic --- */

SSE_LANES(sse_paddb, b, 16, (u8)(a.b[i] + b.b[i]))
SSE_LANES(sse_paddw, w, 8, (u16)(a.w[i] + b.w[i]))
SSE_LANES(sse_paddd, d, 4, a.d[i] + b.d[i])
SSE_LANES(sse_paddq, q, 2, a.q[i] + b.q[i])
SSE_LANES(sse_psubb, b, 16, (u8)(a.b[i] - b.b[i]))
SSE_LANES(sse_psubw, w, 8, (u16)(a.w[i] - b.w[i]))
SSE_LANES(sse_psubd, d, 4, a.d[i] - b.d[i])
SSE_LANES(sse_psubq, q, 2, a.q[i] - b.q[i])
SSE_LANES(sse_paddsb, sb, 16, sat8(a.sb[i] + b.sb[i]))
SSE_LANES(sse_paddsw, sw, 8, sat16(a.sw[i] + b.sw[i]))
SSE_LANES(sse_paddusb, b, 16, satu8(a.b[i] + b.b[i]))
SSE_LANES(sse_paddusw, w, 8, satu16(a.w[i] + b.w[i]))
SSE_LANES(sse_psubsb, sb, 16, sat8(a.sb[i] - b.sb[i]))
SSE_LANES(sse_psubsw, sw, 8, sat16(a.sw[i] - b.sw[i]))
SSE_LANES(sse_psubusb, b, 16, satu8(a.b[i] - b.b[i]))
SSE_LANES(sse_psubusw, w, 8, satu16(a.w[i] - b.w[i]))
SSE_LANES(sse_pmullw, w, 8, (u16)((s32)a.sw[i] * b.sw[i]))
SSE_LANES(sse_pmulhw, w, 8, (u16)(((s32)a.sw[i] * b.sw[i]) >> 16))
SSE_LANES(sse_pmulhuw, w, 8, (u16)(((u32)a.w[i] * b.w[i]) >> 16))
SSE_LANES(sse_pmuludq, q, 2, (u64)(u32)a.q[i] * (u32)b.q[i])
SSE_LANES(sse_pavgb, b, 16, (u8)((a.b[i] + b.b[i] + 1) >> 1))
SSE_LANES(sse_pavgw, w, 8, (u16)((a.w[i] + b.w[i] + 1) >> 1))
SSE_LANES(sse_pminub, b, 16, a.b[i] < b.b[i] ? a.b[i] : b.b[i])
SSE_LANES(sse_pmaxub, b, 16, a.b[i] > b.b[i] ? a.b[i] : b.b[i])
SSE_LANES(sse_pminsw, sw, 8, a.sw[i] < b.sw[i] ? a.sw[i] : b.sw[i])
SSE_LANES(sse_pmaxsw, sw, 8, a.sw[i] > b.sw[i] ? a.sw[i] : b.sw[i])
/* Logical: also ANDPS/ANDPD, ANDNPS/ANDNPD, ORPS/ORPD, XORPS/XORPD (0F/66 0F 54-57). */
SSE_LANES(sse_pand, q, 2, a.q[i] & b.q[i])
SSE_LANES(sse_pandn, q, 2, ~a.q[i] & b.q[i])
SSE_LANES(sse_por, q, 2, a.q[i] | b.q[i])
SSE_LANES(sse_pxor, q, 2, a.q[i] ^ b.q[i])
SSE_LANES(sse_pcmpeqb, b, 16, a.b[i] == b.b[i] ? 0xff : 0)
SSE_LANES(sse_pcmpeqw, w, 8, a.w[i] == b.w[i] ? 0xffff : 0)
SSE_LANES(sse_pcmpeqd, d, 4, a.d[i] == b.d[i] ? ~0u : 0)
SSE_LANES(sse_pcmpgtb, b, 16, a.sb[i] > b.sb[i] ? 0xff : 0)
SSE_LANES(sse_pcmpgtw, w, 8, a.sw[i] > b.sw[i] ? 0xffff : 0)
SSE_LANES(sse_pcmpgtd, d, 4, a.sd[i] > b.sd[i] ? ~0u : 0)

/* PMADDWD (66 0F F5): pairs of signed word products summed into doublewords (0x8000 * 0x8000
   twice wraps to 0x80000000, as the SDM's operation gives). */
SSE_BUILD(sse_pmaddwd, for (unsigned i = 0; i < 4; i++) r.d[i] =
		(u32)((s32)a.sw[2 * i] * b.sw[2 * i]) + (u32)((s32)a.sw[2 * i + 1] * b.sw[2 * i + 1]))

/* PSADBW (66 0F F6): sums of absolute byte differences per quadword, in the low word. */
SSE_BUILD(sse_psadbw, for (unsigned h = 0; h < 2; h++) {
	u64 s = 0;
	for (unsigned i = 0; i < 8; i++) {
		int t = a.b[8 * h + i] - b.b[8 * h + i];
		s += (u64)(t < 0 ? -t : t);
	}
	r.q[h] = s;
})

/* --- Packs and unpacks --- */

SSE_BUILD(sse_packsswb, for (unsigned i = 0; i < 8; i++) {
	r.sb[i] = sat8(a.sw[i]);
	r.sb[8 + i] = sat8(b.sw[i]);
})
SSE_BUILD(sse_packuswb, for (unsigned i = 0; i < 8; i++) {
	r.b[i] = satu8(a.sw[i]);
	r.b[8 + i] = satu8(b.sw[i]);
})
SSE_BUILD(sse_packssdw, for (unsigned i = 0; i < 4; i++) {
	r.sw[i] = sat16(a.sd[i]);
	r.sw[4 + i] = sat16(b.sd[i]);
})
/* PACKUSDW (SSE4.1, 66 0F 38 2B). */
SSE_BUILD(sse_packusdw, for (unsigned i = 0; i < 4; i++) {
	r.w[i] = a.sd[i] > 65535 ? 65535 : a.sd[i] < 0 ? 0 : (u16)a.sd[i];
	r.w[4 + i] = b.sd[i] > 65535 ? 65535 : b.sd[i] < 0 ? 0 : (u16)b.sd[i];
})

/* PUNPCKLBW/WD/DQ (66 0F 60-62), PUNPCKHBW/WD/DQ (68-6A): interleave elements of one half. */
void sse_punpck(struct cpu *c, const struct insn *d)
{
	u8 op = d->opcode & 0xff;
	unsigned sz = 1u << (op & 3), n = 8 / sz, h = op & 8 ? 8 : 0;
	xmm_t a, b, r;

	sse_check(c);
	sse_src128(c, d, &b);
	xmm_get(c, d->reg, &a);
	for (unsigned i = 0; i < n; i++) {
		memcpy(&r.b[2 * i * sz], &a.b[h + i * sz], sz);
		memcpy(&r.b[(2 * i + 1) * sz], &b.b[h + i * sz], sz);
	}
	xmm_put(c, d->reg, &r);
}

/* --- Shifts --- */

/*
 * Shift every element by count (a count above the element width gives 0, or the sign for
 * arithmetic shifts): kind 0 logical right, 1 arithmetic right, 2 left; esz 2, 4 or 8.
 */
static void shift_lanes(xmm_t *a, unsigned esz, unsigned kind, u64 count)
{
	unsigned bits = esz * 8;

	for (unsigned i = 0; i < 16 / esz; i++) {
		u64 v = esz == 2 ? a->w[i] : esz == 4 ? a->d[i] : a->q[i];

		if (kind == 1) {
			s64 s = (s64)sign_extend(v, esz);
			v = (u64)(s >> (count >= bits ? bits - 1 : count));
		} else if (count >= bits) {
			v = 0;
		} else {
			v = kind ? v << count : v >> count;
		}
		if (esz == 2)
			a->w[i] = (u16)v;
		else if (esz == 4)
			a->d[i] = (u32)v;
		else
			a->q[i] = v;
	}
}

/* PSRLW/D/Q (66 0F D1-D3), PSRAW/D (E1, E2), PSLLW/D/Q (F1-F3) by the low quadword of xmm/m128. */
void sse_shift_xmm(struct cpu *c, const struct insn *d)
{
	u8 op = d->opcode & 0xff;
	unsigned kind = op >> 4 == 0xd ? 0 : op >> 4 == 0xe ? 1 : 2;
	xmm_t a, b;

	sse_check(c);
	sse_src128(c, d, &b);
	xmm_get(c, d->reg, &a);
	shift_lanes(&a, 1u << (op & 3), kind, b.q[0]);
	xmm_put(c, d->reg, &a);
}

/* Whole-register byte shifts: PSRLDQ (right) and PSLLDQ (left) by n bytes, 16 or more give 0. */
static void shift_bytes(xmm_t *a, unsigned n, bool left)
{
	xmm_t r;

	memset(&r, 0, sizeof(r));
	if (n < 16) {
		if (left)
			memcpy(&r.b[n], a->b, 16 - n);
		else
			memcpy(r.b, &a->b[n], 16 - n);
	}
	*a = r;
}

/*
 * The immediate shift groups 66 0F 71 (words), 72 (doublewords), 73 (quadwords) on xmm = rm:
 * /2 PSRL, /4 PSRA (71, 72), /6 PSLL, /3 PSRLDQ and /7 PSLLDQ (73). The decoder gives #UD to the
 * others.
 */
void sse_shift_imm(struct cpu *c, const struct insn *d)
{
	u8 op = d->opcode & 0xff, imm = (u8)d->imm;
	xmm_t a;

	sse_check(c);
	xmm_get(c, d->rm, &a);
	if (d->sub == 3 || d->sub == 7)
		shift_bytes(&a, imm, d->sub == 7);
	else
		shift_lanes(&a, 1u << (op - 0x70), d->sub == 2 ? 0 : d->sub == 4 ? 1 : 2, imm);
	xmm_put(c, d->rm, &a);
}

/* --- SSSE3 --- */

/*
 * The SSSE3 operations on the low `n` bytes of a (destination) and b (source): n = 16 for the
 * XMM forms (66 prefix), 8 for the MMX forms (no prefix; mmx.c's rules, sse_mmx.c). `opcode` is
 * d->opcode: 0x200 | 00-0B, 1C-1E (map 2), 0x30F (PALIGNR, with `imm`). The result goes to a;
 * bytes of a from n up are left undefined. SDM vol. 2 each instruction's "Operation", the 64-bit
 * and the 128-bit forms.
 */
void sse_ssse3_op(unsigned opcode, xmm_t *a, const xmm_t *b, u8 imm, unsigned n)
{
	xmm_t r;

	switch (opcode) {
	case 0x200: /* PSHUFB: bytes of a by b's indexes (the low 4 bits, 3 for MMX); bit 7 zeroes */
		for (unsigned i = 0; i < n; i++)
			r.b[i] = b->b[i] & 0x80 ? 0 : a->b[b->b[i] & (n - 1)];
		break;
	case 0x201 ... 0x203: /* PHADDW, PHADDD, PHADDSW; PHSUBW, PHSUBD, PHSUBSW */
	case 0x205 ... 0x207: {
		/* Horizontal pairs: a's in the low half of the result, b's in the high half. */
		bool sub = opcode & 4, sat = (opcode & 3) == 3;

		if ((opcode & 3) == 2) {
			unsigned np = n / 8;

			for (unsigned i = 0; i < np; i++) {
				u32 x0 = a->d[2 * i], x1 = a->d[2 * i + 1];
				u32 y0 = b->d[2 * i], y1 = b->d[2 * i + 1];

				r.d[i] = sub ? x0 - x1 : x0 + x1;
				r.d[np + i] = sub ? y0 - y1 : y0 + y1;
			}
			break;
		}
		for (unsigned i = 0, np = n / 4; i < np; i++) {
			s32 x = sub ? a->sw[2 * i] - a->sw[2 * i + 1] : a->sw[2 * i] + a->sw[2 * i + 1];
			s32 y = sub ? b->sw[2 * i] - b->sw[2 * i + 1] : b->sw[2 * i] + b->sw[2 * i + 1];

			r.sw[i] = sat ? sat16(x) : (s16)x;
			r.sw[np + i] = sat ? sat16(y) : (s16)y;
		}
		break;
	}
	case 0x204: /* PMADDUBSW: unsigned bytes of a times signed bytes of b, adjacent products
		       added with signed saturation */
		for (unsigned i = 0; i < n / 2; i++)
			r.sw[i] = sat16(a->b[2 * i] * b->sb[2 * i] +
					a->b[2 * i + 1] * b->sb[2 * i + 1]);
		break;
	case 0x208: /* PSIGNB/W/D: negate, zero or keep a's element by the sign of b's */
		for (unsigned i = 0; i < n; i++)
			r.sb[i] = b->sb[i] < 0 ? (s8)-a->sb[i] : b->sb[i] ? a->sb[i] : 0;
		break;
	case 0x209:
		for (unsigned i = 0; i < n / 2; i++)
			r.sw[i] = b->sw[i] < 0 ? (s16)-a->sw[i] : b->sw[i] ? a->sw[i] : 0;
		break;
	case 0x20a:
		for (unsigned i = 0; i < n / 4; i++)
			r.d[i] = b->sd[i] < 0 ? 0u - a->d[i] : b->sd[i] ? a->d[i] : 0;
		break;
	case 0x20b: /* PMULHRSW: ((a * b >> 14) + 1) >> 1, the high word */
		for (unsigned i = 0; i < n / 2; i++)
			r.sw[i] = (s16)(((((s32)a->sw[i] * b->sw[i]) >> 14) + 1) >> 1);
		break;
	case 0x21c: /* PABSB/W/D: absolute values of b (0x80 stays 0x80) */
		for (unsigned i = 0; i < n; i++)
			r.b[i] = (u8)(b->sb[i] < 0 ? -b->sb[i] : b->sb[i]);
		break;
	case 0x21d:
		for (unsigned i = 0; i < n / 2; i++)
			r.w[i] = (u16)(b->sw[i] < 0 ? -b->sw[i] : b->sw[i]);
		break;
	case 0x21e:
		for (unsigned i = 0; i < n / 4; i++)
			r.d[i] = b->sd[i] < 0 ? 0u - b->d[i] : b->d[i];
		break;
	default: { /* 0x30f PALIGNR: (a:b) >> imm8 bytes, the low n bytes */
		u8 t[32];

		memcpy(t, b->b, n);
		memcpy(t + n, a->b, n);
		for (unsigned i = 0; i < n; i++)
			r.b[i] = imm + i < 2 * n ? t[imm + i] : 0;
		break;
	}
	}
	memcpy(a, &r, n);
}

/* PSHUFB, PHADDx, PHSUBx, PMADDUBSW, PSIGNx, PMULHRSW, PABSx (66 0F 38 00-0B, 1C-1E) and PALIGNR
   (66 0F 3A 0F) on XMM registers. */
void sse_ssse3(struct cpu *c, const struct insn *d)
{
	xmm_t a, b;

	sse_check(c);
	sse_src128(c, d, &b);
	xmm_get(c, d->reg, &a);
	sse_ssse3_op(d->opcode, &a, &b, (u8)d->imm, 16);
	xmm_put(c, d->reg, &a);
}

/* --- SSE4.1 --- */

SSE_LANES(sse_pmuldq, sq, 2, (s64)(s32)a.q[i] * (s32)b.q[i])
SSE_LANES(sse_pcmpeqq, q, 2, a.q[i] == b.q[i] ? ~0ull : 0)
SSE_LANES(sse_pminsb, sb, 16, a.sb[i] < b.sb[i] ? a.sb[i] : b.sb[i])
SSE_LANES(sse_pminsd, sd, 4, a.sd[i] < b.sd[i] ? a.sd[i] : b.sd[i])
SSE_LANES(sse_pminuw, w, 8, a.w[i] < b.w[i] ? a.w[i] : b.w[i])
SSE_LANES(sse_pminud, d, 4, a.d[i] < b.d[i] ? a.d[i] : b.d[i])
SSE_LANES(sse_pmaxsb, sb, 16, a.sb[i] > b.sb[i] ? a.sb[i] : b.sb[i])
SSE_LANES(sse_pmaxsd, sd, 4, a.sd[i] > b.sd[i] ? a.sd[i] : b.sd[i])
SSE_LANES(sse_pmaxuw, w, 8, a.w[i] > b.w[i] ? a.w[i] : b.w[i])
SSE_LANES(sse_pmaxud, d, 4, a.d[i] > b.d[i] ? a.d[i] : b.d[i])
SSE_LANES(sse_pmulld, d, 4, (u32)((u64)a.d[i] * b.d[i]))
/* PCMPGTQ (SSE4.2, 66 0F 38 37). */
SSE_LANES(sse_pcmpgtq, q, 2, a.sq[i] > b.sq[i] ? ~0ull : 0)

/* PHMINPOSUW xmm, xmm/m128 (66 0F 38 41): the smallest unsigned word and its (lowest) index. */
void sse_phminposuw(struct cpu *c, const struct insn *d)
{
	unsigned k = 0;
	xmm_t b, r;

	sse_check(c);
	sse_src128(c, d, &b);
	for (unsigned i = 1; i < 8; i++)
		if (b.w[i] < b.w[k])
			k = i;
	memset(&r, 0, sizeof(r));
	r.w[0] = b.w[k];
	r.w[1] = (u16)k;
	xmm_put(c, d->reg, &r);
}

/* PTEST xmm, xmm/m128 (66 0F 38 17): ZF = (src AND dst) == 0, CF = (src AND NOT dst) == 0; AF,
   OF, PF, SF cleared. */
void sse_ptest(struct cpu *c, const struct insn *d)
{
	u64 f;
	xmm_t a, b;

	sse_check(c);
	sse_src128(c, d, &b);
	xmm_get(c, d->reg, &a);
	f = flags_get(c) & ~X86_ARITH_FLAGS;
	if (!((a.q[0] & b.q[0]) | (a.q[1] & b.q[1])))
		f |= X86_ZF;
	if (!((~a.q[0] & b.q[0]) | (~a.q[1] & b.q[1])))
		f |= X86_CF;
	flags_set(c, f);
}

/*
 * MPSADBW xmm, xmm/m128, imm8 (66 0F 3A 42): eight sums of absolute differences between the
 * source's 4-byte block imm[1:0] and the destination's eight overlapping 4-byte windows starting
 * at byte 4 * imm[2].
 */
void sse_mpsadbw(struct cpu *c, const struct insn *d)
{
	unsigned so = (d->imm & 3) * 4, dof = (d->imm & 4) ? 4 : 0;
	xmm_t a, b, r;

	sse_check(c);
	sse_src128(c, d, &b);
	xmm_get(c, d->reg, &a);
	for (unsigned i = 0; i < 8; i++) {
		unsigned s = 0;

		for (unsigned j = 0; j < 4; j++) {
			int t = a.b[dof + i + j] - b.b[so + j];
			s += (unsigned)(t < 0 ? -t : t);
		}
		r.w[i] = (u16)s;
	}
	xmm_put(c, d->reg, &r);
}

/* --- SSE4.2 string and text comparison (SDM vol. 2B 4.1, PCMPESTRI/PCMPESTRM/...) --- */

/* Element i of v in the format imm8[1:0]: unsigned/signed bytes or words, as a signed int. */
static always_inline int str_elem(const xmm_t *v, unsigned i, unsigned fmt)
{
	switch (fmt) {
	case 0:
		return v->b[i];
	case 1:
		return v->w[i];
	case 2:
		return v->sb[i];
	default:
		return v->sw[i];
	}
}

/* Implicit length: the index of the first zero element, or the element count. */
static unsigned str_implicit_len(const xmm_t *v, unsigned fmt, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		if (!str_elem(v, i, fmt))
			return i;
	return n;
}

/* Explicit length: |value| saturated to the element count (SDM vol. 2B 4.1.2; RAX/RDX with
   REX.W, else EAX/EDX). */
static unsigned str_explicit_len(u64 v, bool w, unsigned n)
{
	s64 s = w ? (s64)v : (s64)(s32)v;
	u64 m = s < 0 ? 0 - (u64)s : (u64)s;

	return m > n ? n : (unsigned)m;
}

/*
 * The comparison of SDM vol. 2B 4.1.3-4.1.6: BoolRes[j][i] compares element j of the first
 * operand (xmm1, `a`, length la) with element i of the second (xmm2/m128, `b`, length lb), with
 * the validity overrides of Table 4-7; aggregation imm8[3:2], polarity imm8[5:4]. Returns
 * IntRes2; sets the flags (CF IntRes2 != 0, ZF lb < n, SF la < n, OF IntRes2[0], AF PF 0).
 */
static unsigned str_compare(struct cpu *c, const xmm_t *a, unsigned la, const xmm_t *b,
			    unsigned lb, u8 imm, unsigned n)
{
	unsigned fmt = imm & 3, agg = (imm >> 2) & 3, pol = (imm >> 4) & 3, res1 = 0, res2;
	u64 f;

	for (unsigned i = 0; i < n; i++) {
		bool r = false;

		switch (agg) {
		case 0: /* equal any: b[i] is in the set a[0..la) */
			for (unsigned j = 0; j < la && i < lb; j++)
				r |= str_elem(a, j, fmt) == str_elem(b, i, fmt);
			break;
		case 1: /* ranges: a[j] <= b[i] <= a[j+1] for an even j */
			for (unsigned j = 0; j + 1 < n && i < lb; j += 2) {
				bool ge = j < la && str_elem(b, i, fmt) >= str_elem(a, j, fmt);
				bool le = j + 1 < la && str_elem(b, i, fmt) <= str_elem(a, j + 1, fmt);
				r |= ge && le;
			}
			break;
		case 2: /* equal each: both invalid is true, one invalid false */
			if (i >= la && i >= lb)
				r = true;
			else if (i < la && i < lb)
				r = str_elem(a, i, fmt) == str_elem(b, i, fmt);
			break;
		default: /* equal ordered: a[0..] starts at b[i]; an invalid a element matches */
			r = true;
			for (unsigned j = 0; j < n - i && r; j++) {
				unsigned k = i + j;

				if (j >= la)
					break;
				r = k < lb && str_elem(a, j, fmt) == str_elem(b, k, fmt);
			}
			break;
		}
		res1 |= (unsigned)r << i;
	}
	switch (pol) {
	case 1:
		res2 = ~res1;
		break;
	case 3:
		res2 = res1 ^ ((1u << lb) - 1);
		break;
	default:
		res2 = res1;
		break;
	}
	res2 &= (1u << n) - 1;
	f = flags_get(c) & ~X86_ARITH_FLAGS;
	if (res2)
		f |= X86_CF;
	if (lb < n)
		f |= X86_ZF;
	if (la < n)
		f |= X86_SF;
	if (res2 & 1)
		f |= X86_OF;
	flags_set(c, f);
	return res2;
}

/*
 * PCMPESTRM (66 0F 3A 60), PCMPESTRI (61), PCMPISTRM (62), PCMPISTRI (63). Index forms write
 * ECX (zero-extended: RCX), the least (imm8[6] = 0) or most significant set bit of IntRes2, or
 * the element count when none is set; mask forms write XMM0, IntRes2 as bits (imm8[6] = 0) or
 * as elements of all ones. The memory operand has no alignment rule (SDM vol. 2B 4.1).
 */
void sse_pcmpstr(struct cpu *c, const struct insn *d)
{
	u8 op = d->opcode & 0xff, imm = (u8)d->imm;
	unsigned n = imm & 1 ? 8 : 16, la, lb, res;
	bool w = d->pfx & PFX_REXW;
	xmm_t a, b, r;

	sse_check(c);
	sse_src(c, d, &b, 16, false);
	xmm_get(c, d->reg, &a);
	if (op & 2) {
		la = str_implicit_len(&a, imm & 3, n);
		lb = str_implicit_len(&b, imm & 3, n);
	} else {
		la = str_explicit_len(c->gpr[R_RAX], w, n);
		lb = str_explicit_len(c->gpr[R_RDX], w, n);
	}
	res = str_compare(c, &a, la, &b, lb, imm, n);
	if (op & 1) {
		unsigned idx = n;

		if (res)
			idx = imm & 0x40 ? 31 - (unsigned)__builtin_clz(res)
					 : (unsigned)__builtin_ctz(res);
		reg_write(c, R_RCX, idx, 4);
		return;
	}
	memset(&r, 0, sizeof(r));
	if (!(imm & 0x40))
		r.w[0] = (u16)res;
	else
		for (unsigned i = 0; i < n; i++)
			if (res & (1u << i)) {
				if (n == 16)
					r.b[i] = 0xff;
				else
					r.w[i] = 0xffff;
			}
	xmm_put(c, 0, &r);
}
