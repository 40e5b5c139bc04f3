// SPDX-License-Identifier: MIT
/*
 * MMX (SDM vol. 1 chapter 9, vol. 2 "P..." instructions): 0F 60-7F and 0F C4 C5 D1-FE without a
 * 66/F2/F3 prefix, and EMMS (0F 77), including the MMX-register forms that SSE and SSE2 added
 * (PSHUFW, PINSRW, PEXTRW, PMOVMSKB, PMINUB, PMAXUB, PMINSW, PMAXSW, PAVGB, PAVGW, PMULHUW,
 * PSADBW, MOVNTQ, MASKMOVQ, PADDQ, PSUBQ, PMULUDQ).
 *
 * The registers alias the x87 registers (SDM vol. 1 9.5): MMi is bits 63:0 of physical register
 * R_i. Every MMX instruction but EMMS sets TOP to 0 and tags all registers valid; a write to MMi
 * also sets bits 79:64 of R_i to all ones; EMMS tags all registers empty (and sets TOP to 0, as
 * the hardware we measure does). The x87 pointers, opcode and flags are left alone. The checks come
 * first, then the source operands are read, then the state changes, so a fault leaves it as it was.
 */
#include "cpu/fpu.h"

/* --- State --- */

bool mmx_check(struct cpu *c)
{
	if (c->cr0 & CR0_EM)
		cpu_ud(c);
	if (c->cr0 & CR0_TS)
		cpu_fault(c, X86_NM, 0);
	return fpu_wait(c);
}

u64 mmx_read(const struct cpu *c, unsigned i)
{
	unsigned top = (c->fpu.fsw & FSW_TOP) >> FSW_TOP_SHIFT;
	u64 v;

	memcpy(&v, c->fpu.st[(i - top) & 7], 8);
	return v;
}

/* With TOP = 0, slot i holds R_i. */
void mmx_enter(struct cpu *c)
{
	fpu_rotate_to(&c->fpu, 0);
	c->fpu.ftw = 0xff;
}

void mmx_write(struct cpu *c, unsigned i, u64 v)
{
	memcpy(c->fpu.st[i], &v, 8);
	c->fpu.st[i][8] = 0xff;
	c->fpu.st[i][9] = 0xff;
}

void op_emms(struct cpu *c, const struct insn *d)
{
	if (!mmx_check(c))
		return;
	fpu_rotate_to(&c->fpu, 0);
	c->fpu.ftw = 0;
}

/* --- Lanes --- */

static u64 lane(u64 v, unsigned i, unsigned bits)
{
	return bits == 64 ? v : (v >> (i * bits)) & ((1ull << bits) - 1);
}

static s64 slane(u64 v, unsigned i, unsigned bits)
{
	u64 x = lane(v, i, bits);

	return bits == 64 ? (s64)x : (s64)(x << (64 - bits)) >> (64 - bits);
}

static u64 put_lane(u64 r, unsigned i, unsigned bits, u64 x)
{
	if (bits == 64)
		return x;
	return r | (x & ((1ull << bits) - 1)) << (i * bits);
}

static s64 sat_s(s64 x, unsigned bits)
{
	s64 hi = (1ll << (bits - 1)) - 1, lo = -(1ll << (bits - 1));

	return x > hi ? hi : x < lo ? lo : x;
}

static u64 sat_u(s64 x, unsigned bits)
{
	s64 hi = (1ll << bits) - 1;

	return x > hi ? (u64)hi : x < 0 ? 0 : (u64)x;
}

enum lane_op {
	L_ADD,
	L_SUB,
	L_ADDS,
	L_SUBS,
	L_ADDUS,
	L_SUBUS,
	L_CMPEQ,
	L_CMPGT,
	L_MINU,
	L_MAXU,
	L_MINS,
	L_MAXS,
	L_AVG,
	L_MULL,
	L_MULH,
	L_MULHU
};

static u64 lanewise(u64 a, u64 b, unsigned bits, enum lane_op op)
{
	u64 r = 0, all = bits == 64 ? ~0ull : (1ull << bits) - 1;

	for (unsigned i = 0; i < 64 / bits; i++) {
		u64 ua = lane(a, i, bits), ub = lane(b, i, bits), x;
		s64 sa = slane(a, i, bits), sb = slane(b, i, bits);

		switch (op) {
		case L_ADD:
			x = ua + ub;
			break;
		case L_SUB:
			x = ua - ub;
			break;
		case L_ADDS:
			x = (u64)sat_s(sa + sb, bits);
			break;
		case L_SUBS:
			x = (u64)sat_s(sa - sb, bits);
			break;
		case L_ADDUS:
			x = sat_u((s64)(ua + ub), bits);
			break;
		case L_SUBUS:
			x = sat_u((s64)ua - (s64)ub, bits);
			break;
		case L_CMPEQ:
			x = ua == ub ? all : 0;
			break;
		case L_CMPGT:
			x = sa > sb ? all : 0;
			break;
		case L_MINU:
			x = ua < ub ? ua : ub;
			break;
		case L_MAXU:
			x = ua > ub ? ua : ub;
			break;
		case L_MINS:
			x = (u64)(sa < sb ? sa : sb);
			break;
		case L_MAXS:
			x = (u64)(sa > sb ? sa : sb);
			break;
		case L_AVG:
			x = (ua + ub + 1) >> 1;
			break;
		case L_MULL:
			x = (u64)(sa * sb);
			break;
		case L_MULH:
			x = (u64)((sa * sb) >> bits);
			break;
		default: /* L_MULHU */
			x = (ua * ub) >> bits;
			break;
		}
		r = put_lane(r, i, bits, x);
	}
	return r;
}

/* Shifts by a count of 64 bits (register, memory or immediate): counts past the lane width give
   0, or all sign bits for the arithmetic shift (SDM vol. 2B PSRLW, PSRAW, PSLLW). */
static u64 shift(u64 a, u64 count, unsigned bits, int kind)
{
	u64 r = 0;

	for (unsigned i = 0; i < 64 / bits; i++) {
		u64 x;

		if (kind == 0) /* logical right */
			x = count >= bits ? 0 : lane(a, i, bits) >> count;
		else if (kind == 1) /* arithmetic right */
			x = (u64)(slane(a, i, bits) >> (count >= bits ? bits - 1 : count));
		else /* left */
			x = count >= bits ? 0 : lane(a, i, bits) << count;
		r = put_lane(r, i, bits, x);
	}
	return r;
}

/* Interleave the low (hi = 0) or high halves of a and b, lanes of `bits`: a0 b0 a1 b1 ... */
static u64 unpack(u64 a, u64 b, unsigned bits, bool hi)
{
	unsigned n = 32 / bits, base = hi ? n : 0;
	u64 r = 0;

	for (unsigned i = 0; i < n; i++) {
		r = put_lane(r, 2 * i, bits, lane(a, base + i, bits));
		r = put_lane(r, 2 * i + 1, bits, lane(b, base + i, bits));
	}
	return r;
}

/* Pack the lanes of `bits` of a (low half of the result) and b (high half) into bits / 2,
   saturating signed or unsigned. */
static u64 pack(u64 a, u64 b, unsigned bits, bool usat)
{
	unsigned n = 64 / bits, h = bits / 2;
	u64 r = 0;

	for (unsigned i = 0; i < n; i++) {
		s64 x = slane(a, i, bits), y = slane(b, i, bits);

		r = put_lane(r, i, h, usat ? sat_u(x, h) : (u64)sat_s(x, h));
		r = put_lane(r, n + i, h, usat ? sat_u(y, h) : (u64)sat_s(y, h));
	}
	return r;
}

/* dst = dst op src for the two-operand instructions; false if `op` is not one. A table. */
/* clang-format off */
static bool binop(u8 op, u64 a, u64 b, u64 *r)
{
	switch (op) {
	case 0x60: *r = unpack(a, b, 8, false); break;
	case 0x61: *r = unpack(a, b, 16, false); break;
	case 0x62: *r = unpack(a, b, 32, false); break;
	case 0x63: *r = pack(a, b, 16, false); break;
	case 0x64: *r = lanewise(a, b, 8, L_CMPGT); break;
	case 0x65: *r = lanewise(a, b, 16, L_CMPGT); break;
	case 0x66: *r = lanewise(a, b, 32, L_CMPGT); break;
	case 0x67: *r = pack(a, b, 16, true); break;
	case 0x68: *r = unpack(a, b, 8, true); break;
	case 0x69: *r = unpack(a, b, 16, true); break;
	case 0x6a: *r = unpack(a, b, 32, true); break;
	case 0x6b: *r = pack(a, b, 32, false); break;
	case 0x74: *r = lanewise(a, b, 8, L_CMPEQ); break;
	case 0x75: *r = lanewise(a, b, 16, L_CMPEQ); break;
	case 0x76: *r = lanewise(a, b, 32, L_CMPEQ); break;
	case 0xd1: *r = shift(a, b, 16, 0); break;
	case 0xd2: *r = shift(a, b, 32, 0); break;
	case 0xd3: *r = shift(a, b, 64, 0); break;
	case 0xd4: *r = a + b; break;
	case 0xd5: *r = lanewise(a, b, 16, L_MULL); break;
	case 0xd8: *r = lanewise(a, b, 8, L_SUBUS); break;
	case 0xd9: *r = lanewise(a, b, 16, L_SUBUS); break;
	case 0xda: *r = lanewise(a, b, 8, L_MINU); break;
	case 0xdb: *r = a & b; break;
	case 0xdc: *r = lanewise(a, b, 8, L_ADDUS); break;
	case 0xdd: *r = lanewise(a, b, 16, L_ADDUS); break;
	case 0xde: *r = lanewise(a, b, 8, L_MAXU); break;
	case 0xdf: *r = ~a & b; break;
	case 0xe0: *r = lanewise(a, b, 8, L_AVG); break;
	case 0xe1: *r = shift(a, b, 16, 1); break;
	case 0xe2: *r = shift(a, b, 32, 1); break;
	case 0xe3: *r = lanewise(a, b, 16, L_AVG); break;
	case 0xe4: *r = lanewise(a, b, 16, L_MULHU); break;
	case 0xe5: *r = lanewise(a, b, 16, L_MULH); break;
	case 0xe8: *r = lanewise(a, b, 8, L_SUBS); break;
	case 0xe9: *r = lanewise(a, b, 16, L_SUBS); break;
	case 0xea: *r = lanewise(a, b, 16, L_MINS); break;
	case 0xeb: *r = a | b; break;
	case 0xec: *r = lanewise(a, b, 8, L_ADDS); break;
	case 0xed: *r = lanewise(a, b, 16, L_ADDS); break;
	case 0xee: *r = lanewise(a, b, 16, L_MAXS); break;
	case 0xef: *r = a ^ b; break;
	case 0xf1: *r = shift(a, b, 16, 2); break;
	case 0xf2: *r = shift(a, b, 32, 2); break;
	case 0xf3: *r = shift(a, b, 64, 2); break;
	case 0xf4: *r = (a & 0xffffffffull) * (b & 0xffffffffull); break;
	case 0xf5: { /* PMADDWD: -32768 * -32768 twice wraps to 80000000H (SDM vol. 2B) */
		u64 x = 0;
		for (unsigned i = 0; i < 2; i++) {
			s64 s = slane(a, 2 * i, 16) * slane(b, 2 * i, 16) +
				slane(a, 2 * i + 1, 16) * slane(b, 2 * i + 1, 16);
			x = put_lane(x, i, 32, (u64)s);
		}
		*r = x;
		break;
	}
	case 0xf6: { /* PSADBW */
		u64 s = 0;
		for (unsigned i = 0; i < 8; i++) {
			u64 x = lane(a, i, 8), y = lane(b, i, 8);
			s += x > y ? x - y : y - x;
		}
		*r = s;
		break;
	}
	case 0xf8: *r = lanewise(a, b, 8, L_SUB); break;
	case 0xf9: *r = lanewise(a, b, 16, L_SUB); break;
	case 0xfa: *r = lanewise(a, b, 32, L_SUB); break;
	case 0xfb: *r = a - b; break;
	case 0xfc: *r = lanewise(a, b, 8, L_ADD); break;
	case 0xfd: *r = lanewise(a, b, 16, L_ADD); break;
	case 0xfe: *r = lanewise(a, b, 32, L_ADD); break;
	default:
		return false;
	}
	return true;
}
/* clang-format on */

/* --- The handler: every MMX instruction but EMMS (the decoder admits only valid forms) --- */

/* The second operand: MMi (ModRM.rm) or memory of `size` bytes (PUNPCKL* read 32 bits). */
static u64 mmx_src(struct cpu *c, const struct insn *d, unsigned size)
{
	if (!d->mem)
		return mmx_read(c, d->rm & 7);
	return mem_read(c, d->seg, insn_ea(c, d), size);
}

void op_mmx(struct cpu *c, const struct insn *d)
{
	u8 op = d->opcode & 0xff;
	unsigned mm = d->reg & 7, mr = d->rm & 7;
	u64 a, b, r;

	if (!mmx_check(c))
		return;
	switch (op) {
	case 0x6e: /* MOVD/MOVQ mm, r/m32/64 (zero-extended) */
		r = d->mem ? mem_read(c, d->seg, insn_ea(c, d), d->osz)
			   : reg_read(c, d->rm, d->osz);
		mmx_enter(c);
		mmx_write(c, mm, d->osz == 8 ? r : (u32)r);
		return;
	case 0x7e: /* MOVD/MOVQ r/m32/64, mm */
		r = mmx_read(c, mm);
		if (d->mem)
			mem_write(c, d->seg, insn_ea(c, d), r, d->osz);
		else
			reg_write(c, d->rm, r, d->osz);
		mmx_enter(c);
		return;
	case 0x6f: /* MOVQ mm, mm/m64 */
		r = mmx_src(c, d, 8);
		mmx_enter(c);
		mmx_write(c, mm, r);
		return;
	case 0x7f: /* MOVQ mm/m64, mm */
	case 0xe7: /* MOVNTQ m64, mm */
		r = mmx_read(c, mm);
		if (d->mem)
			mem_write(c, d->seg, insn_ea(c, d), r, 8);
		mmx_enter(c);
		if (!d->mem)
			mmx_write(c, mr, r);
		return;
	case 0x70: /* PSHUFW mm, mm/m64, imm8 */
		b = mmx_src(c, d, 8);
		r = 0;
		for (unsigned i = 0; i < 4; i++)
			r = put_lane(r, i, 16, lane(b, (d->imm >> (2 * i)) & 3, 16));
		mmx_enter(c);
		mmx_write(c, mm, r);
		return;
	case 0x71: /* PSRLW/PSRAW/PSLLW mm, imm8 (ModRM.reg 2, 4, 6) */
	case 0x72:
	case 0x73: {
		unsigned bits = op == 0x71 ? 16 : op == 0x72 ? 32 : 64;
		int kind = d->sub == 2 ? 0 : d->sub == 4 ? 1 : 2;

		r = shift(mmx_read(c, mr), d->imm & 0xff, bits, kind);
		mmx_enter(c);
		mmx_write(c, mr, r);
		return;
	}
	case 0xc4: /* PINSRW mm, r32/m16, imm8 */
		b = d->mem ? mem_read(c, d->seg, insn_ea(c, d), 2) : reg_read(c, d->rm, 4);
		a = mmx_read(c, mm);
		r = (a & ~(0xffffull << (16 * (d->imm & 3)))) | (b & 0xffff) << (16 * (d->imm & 3));
		mmx_enter(c);
		mmx_write(c, mm, r);
		return;
	case 0xc5: /* PEXTRW r32, mm, imm8 */
		reg_write(c, d->reg, lane(mmx_read(c, mr), d->imm & 3, 16), 4);
		mmx_enter(c);
		return;
	case 0xd7: /* PMOVMSKB r32, mm */
		a = mmx_read(c, mr);
		r = 0;
		for (unsigned i = 0; i < 8; i++)
			r |= (a >> (8 * i + 7) & 1) << i;
		reg_write(c, d->reg, r, 4);
		mmx_enter(c);
		return;
	case 0xf7: { /* MASKMOVQ mm1, mm2: the bytes of mm1 whose mask byte has bit 7 set, to
			DS:rDI (a segment override applies); a zero mask accesses no memory */
		u64 ea = c->gpr[R_RDI] & size_mask(d->asz);
		u64 v = mmx_read(c, mm), m = mmx_read(c, mr);

		if (m & 0x8080808080808080ull) {
			mem_probe_write(c, d->seg, ea, 8);
			for (unsigned i = 0; i < 8; i++)
				if (m >> (8 * i + 7) & 1)
					mem_write(c, d->seg, (ea + i) & size_mask(d->asz),
						  v >> (8 * i), 1);
		}
		mmx_enter(c);
		return;
	}
	}
	a = mmx_read(c, mm);
	b = mmx_src(c, d, op >= 0x60 && op <= 0x62 ? 4 : 8);
	if (!binop(op, a, b, &r))
		cpu_ud(c);
	mmx_enter(c);
	mmx_write(c, mm, r);
}
