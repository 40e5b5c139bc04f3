/* SPDX-License-Identifier: MIT */
/*
 * Bit instructions: BT BTS BTR BTC, BSF BSR, TZCNT LZCNT POPCNT, and BMI1's ANDN BEXTR BLSR BLSMSK
 * BLSI. SDM vol. 2A "BT", "BTC", "BTR", "BTS", "BSF", "BSR", "ANDN", "BEXTR", "BLSI", "BLSMSK",
 * "BLSR", "LZCNT", vol. 2B "POPCNT", "TZCNT".
 *
 * Undefined flags, our choices:
 *   BT*: OF SF AF PF unchanged (ZF is defined as unaffected).
 *   BSF/BSR: CF OF SF AF PF unchanged.
 *   TZCNT/LZCNT: OF SF AF PF unchanged.
 *   ANDN BEXTR BLSR BLSMSK BLSI: AF = 0, PF from the result; BEXTR: SF from the result.
 */
#include "cpu/ops.h"


static u64 rm_read(struct cpu *c, const struct insn *d)
{
	if (d->mem)
		return mem_read(c, d->seg, insn_ea(c, d), d->osz);
	return reg_read(c, d->rm, d->osz);
}

/* Replaces the flags in `which` with `set` (a subset of `which`), keeping all others. */
static void flags_update(struct cpu *c, u64 which, u64 set)
{
	flags_set(c, (flags_get(c) & ~which) | set);
}

/* SF ZF PF from res, AF = 0, then CF and OF as given (through the lazy LOGIC kind). */
static void flags_logic_cf_of(struct cpu *c, u64 res, unsigned size, bool cf, bool of)
{
	c->lf_res = res;
	c->lf_src1 = res;
	c->lf_src2 = 0;
	c->lf_op = LF(LF_LOGIC, size);
	if (cf || of)
		flags_update(c, X86_CF | X86_OF, (cf ? X86_CF : 0) | (of ? X86_OF : 0));
}

/* --- BT BTS BTR BTC --- */

enum bt_op { BT_TEST, BT_SET, BT_RESET, BT_COMPLEMENT };

static u64 bt_apply(enum bt_op op, u64 v, u64 bit)
{
	return op == BT_SET ? v | bit : op == BT_RESET ? v & ~bit : v ^ bit;
}

/*
 * `offset` is the bit offset: a register operand uses it modulo the operand width. A memory operand
 * with a register offset addresses a bit string: the offset is signed (operand-size wide) and
 * selects the operand-size word at EA + osz * (offset SAR log2(width)), bit offset MOD width
 * (SDM "BT", Operation and Table 3-2). An immediate offset is always taken MOD width (imm = true).
 */
static void bit_test(struct cpu *c, const struct insn *d, u64 offset, bool imm, enum bt_op op)
{
	unsigned bits = d->osz * 8;
	u64 v, bit = BIT(offset & (bits - 1)), ea;

	if (d->mem) {
		ea = insn_ea(c, d);
		if (!imm) {
			s64 word = (s64)sign_extend(offset, d->osz) >> __builtin_ctz(bits);

			ea = (ea + (u64)word * d->osz) & size_mask(d->asz);
		}
		if (op == BT_TEST) {
			v = mem_read(c, d->seg, ea, d->osz);
		} else {
			struct rmw m;

			do
				v = rmw_read(c, &m, d->lock, d->seg, ea, d->osz);
			while (!rmw_write(c, &m, bt_apply(op, v, bit)));
		}
	} else {
		v = reg_read(c, d->rm, d->osz);
		if (op != BT_TEST)
			reg_write(c, d->rm, bt_apply(op, v, bit), d->osz);
	}
	flags_update(c, X86_CF, (v & bit) ? X86_CF : 0);
}

void op_bt_rm_r(struct cpu *c, const struct insn *d)
{
	bit_test(c, d, reg_read(c, d->reg, d->osz), false, BT_TEST);
}

void op_bts_rm_r(struct cpu *c, const struct insn *d)
{
	bit_test(c, d, reg_read(c, d->reg, d->osz), false, BT_SET);
}

void op_btr_rm_r(struct cpu *c, const struct insn *d)
{
	bit_test(c, d, reg_read(c, d->reg, d->osz), false, BT_RESET);
}

void op_btc_rm_r(struct cpu *c, const struct insn *d)
{
	bit_test(c, d, reg_read(c, d->reg, d->osz), false, BT_COMPLEMENT);
}

/* 0F BA /4../7; /0../3 are #UD. */
void op_bt_rm_imm(struct cpu *c, const struct insn *d)
{
	if (d->sub < 4)
		cpu_ud(c);
	bit_test(c, d, d->imm, true, (enum bt_op)(d->sub - 4));
}

/* --- BSF BSR TZCNT LZCNT POPCNT --- */

/*
 * A zero source sets ZF and leaves the destination unchanged, all 64 bits of it even for a 32-bit
 * operand. The SDM says the destination is undefined; this is what Intel and AMD hardware do
 * (AMD documents it) and what software relies on.
 */
static void bit_scan(struct cpu *c, const struct insn *d, bool reverse)
{
	u64 src = rm_read(c, d);

	if (!src) {
		flags_update(c, X86_ZF, X86_ZF);
		return;
	}
	reg_write(c, d->reg, reverse ? 63 - __builtin_clzll(src) : __builtin_ctzll(src), d->osz);
	flags_update(c, X86_ZF, 0);
}

void op_bsf(struct cpu *c, const struct insn *d)
{
	bit_scan(c, d, false);
}

void op_bsr(struct cpu *c, const struct insn *d)
{
	bit_scan(c, d, true);
}

/* TZCNT/LZCNT: a zero source gives the operand width and CF = 1; ZF = (result == 0). */
static void bit_count(struct cpu *c, const struct insn *d, bool leading)
{
	unsigned bits = d->osz * 8;
	u64 src = rm_read(c, d);
	u64 n;

	if (!src)
		n = bits;
	else if (leading)
		n = __builtin_clzll(src) - (64 - bits);
	else
		n = __builtin_ctzll(src);
	reg_write(c, d->reg, n, d->osz);
	flags_update(c, X86_CF | X86_ZF, (src ? 0 : X86_CF) | (n ? 0 : X86_ZF));
}

void op_tzcnt(struct cpu *c, const struct insn *d)
{
	bit_count(c, d, false);
}

void op_lzcnt(struct cpu *c, const struct insn *d)
{
	bit_count(c, d, true);
}

/* POPCNT: ZF = (source == 0); OF SF AF CF PF are cleared (SDM "POPCNT"). */
void op_popcnt(struct cpu *c, const struct insn *d)
{
	u64 src = rm_read(c, d);

	reg_write(c, d->reg, __builtin_popcountll(src), d->osz);
	flags_update(c, X86_ARITH_FLAGS, src ? 0 : X86_ZF);
}

/* --- BMI1 (VEX-encoded; the decoder checks VEX.L = 0 and sets osz 4 or 8 by VEX.W) --- */

/* ANDN reg, vvvv, r/m: reg = ~vvvv & r/m. SF ZF from the result; CF = OF = 0. */
void op_andn(struct cpu *c, const struct insn *d)
{
	u64 res = ~reg_read(c, d->vvvv, d->osz) & rm_read(c, d);

	reg_write(c, d->reg, res, d->osz);
	flags_logic_cf_of(c, res, d->osz, false, false);
}

/*
 * BEXTR reg, r/m, vvvv: start = vvvv[7:0], length = vvvv[15:8]; bits beyond the operand are
 * zeros (SDM "BEXTR" Operation). ZF from the result; CF = OF = 0.
 */
void op_bextr(struct cpu *c, const struct insn *d)
{
	unsigned bits = d->osz * 8;
	u64 ctl = reg_read(c, d->vvvv, d->osz);
	u64 src = rm_read(c, d);
	unsigned start = ctl & 0xff, len = (ctl >> 8) & 0xff;
	u64 res = start < bits ? src >> start : 0;

	if (len < 64)
		res &= BIT(len) - 1;
	reg_write(c, d->reg, res, d->osz);
	flags_logic_cf_of(c, res, d->osz, false, false);
}

/* BLSR vvvv, r/m: vvvv = (src - 1) & src. SF ZF from the result; CF = (src == 0); OF = 0. */
void op_blsr(struct cpu *c, const struct insn *d)
{
	u64 src = rm_read(c, d);
	u64 res = (src - 1) & src & size_mask(d->osz);

	reg_write(c, d->vvvv, res, d->osz);
	flags_logic_cf_of(c, res, d->osz, src == 0, false);
}

/* BLSMSK vvvv, r/m: vvvv = (src - 1) ^ src. SF from the result; ZF = 0 (the result is never 0);
   CF = (src == 0); OF = 0. */
void op_blsmsk(struct cpu *c, const struct insn *d)
{
	u64 src = rm_read(c, d);
	u64 res = ((src - 1) ^ src) & size_mask(d->osz);

	reg_write(c, d->vvvv, res, d->osz);
	flags_logic_cf_of(c, res, d->osz, src == 0, false);
}

/* BLSI vvvv, r/m: vvvv = -src & src. SF ZF from the result; CF = (src != 0); OF = 0. */
void op_blsi(struct cpu *c, const struct insn *d)
{
	u64 src = rm_read(c, d);
	u64 res = -src & src & size_mask(d->osz);

	reg_write(c, d->vvvv, res, d->osz);
	flags_logic_cf_of(c, res, d->osz, src != 0, false);
}
