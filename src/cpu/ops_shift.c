/* SPDX-License-Identifier: MIT */
/*
 * Shifts and rotates (C0 C1 D0-D3 group 2: ROL ROR RCL RCR SHL SHR SAL SAR) and the
 * double-precision shifts SHLD/SHRD (0F A4 A5 AC AD). SDM vol. 2B "RCL/RCR/ROL/ROR",
 * "SAL/SAR/SHL/SHR", "SHLD", "SHRD".
 *
 * Common rules (SDM pseudo-code): the count is masked to 5 bits, or 6 with a 64-bit operand; a
 * masked count of 0 changes neither the destination value nor any flag. The destination is still
 * written back then: a 32-bit register operand is zero-extended into 64 bits, as on hardware
 * (measured). A memory destination is read (and may fault) even then; it is not written.
 */
#include "cpu/ops.h"


/* The r/m operand of the instruction: loads it and remembers where it lives. */
struct rm_operand {
	u64 ea;
	u64 val;
};

static void rm_load(struct cpu *c, const struct insn *d, struct rm_operand *o)
{
	if (d->mem) {
		o->ea = insn_ea(c, d);
		o->val = mem_read_rmw(c, d->seg, o->ea, d->osz);
	} else {
		o->val = reg_read(c, d->rm, d->osz);
	}
}

static void rm_store(struct cpu *c, const struct insn *d, const struct rm_operand *o, u64 v)
{
	if (d->mem)
		mem_write(c, d->seg, o->ea, v, d->osz);
	else
		reg_write(c, d->rm, v, d->osz);
}

static unsigned count_mask(const struct insn *d)
{
	return d->osz == 8 ? 63 : 31;
}

/* Only CF and OF change (rotates). */
static void flags_cf_of(struct cpu *c, u64 cf, u64 of)
{
	u64 f = flags_get(c) & ~(X86_CF | X86_OF);
	flags_set(c, f | (cf ? X86_CF : 0) | (of ? X86_OF : 0));
}

/* SF ZF PF from res, CF and OF as given; AF = 0 (undefined for shifts with a non-zero count). */
static void flags_szp_cf_of(struct cpu *c, u64 res, unsigned size, u64 cf, u64 of)
{
	c->lf_res = res;
	c->lf_src1 = res;
	c->lf_src2 = 0;
	c->lf_op = LF(LF_LOGIC, size);
	flags_cf_of(c, cf, of);
}

static void shift_rotate(struct cpu *c, const struct insn *d, unsigned count)
{
	unsigned bits = d->osz * 8;
	u64 mask = size_mask(d->osz);
	struct rm_operand o;
	u64 v, res, cf, of;
	unsigned n;

	rm_load(c, d, &o);
	count &= count_mask(d);
	if (!count) {
		if (!d->mem)
			reg_write(c, d->rm, o.val, d->osz);
		return;
	}
	v = o.val;

	switch (d->sub) {
	case 0: /* ROL: tempCOUNT = count MOD size; flags still change when it is 0 */
		n = count & (bits - 1);
		res = n ? ((v << n) | (v >> (bits - n))) & mask : v;
		cf = res & 1;
		of = (res >> (bits - 1)) ^ cf; /* defined for count 1 only; same formula always */
		rm_store(c, d, &o, res);
		flags_cf_of(c, cf, of);
		return;
	case 1: /* ROR */
		n = count & (bits - 1);
		res = n ? ((v >> n) | (v << (bits - n))) & mask : v;
		cf = res >> (bits - 1);
		of = cf ^ ((res >> (bits - 2)) & 1); /* defined for count 1 only */
		rm_store(c, d, &o, res);
		flags_cf_of(c, cf, of);
		return;
	case 2:	  /* RCL */
	case 3: { /* RCR: rotate the (size + 1)-bit value CF:dest; 8/16-bit: count MOD 9/17 */
		unsigned w = bits + 1;
		u128 x = ((u128)(flags_get(c) & X86_CF) << bits) | v;
		u128 wmask = ((u128)1 << w) - 1;

		n = bits < 32 ? count % w : count;
		if (n)
			x = (d->sub == 2 ? (x << n) | (x >> (w - n)) : (x >> n) | (x << (w - n))) &
			    wmask;
		res = (u64)x & mask;
		cf = (u64)(x >> bits) & 1;
		/* OF is defined for count 1 only: RCL MSB(res) ^ CF, RCR the XOR of the top two
		   result bits (= MSB(dest) ^ CF before); the same formula for every count. */
		if (d->sub == 2)
			of = (res >> (bits - 1)) ^ cf;
		else
			of = ((res >> (bits - 1)) ^ (res >> (bits - 2))) & 1;
		rm_store(c, d, &o, res);
		flags_cf_of(c, cf, of);
		return;
	}
	case 4: /* SHL */
	case 6: /* SAL (same operation) */
		res = (v << count) & mask;
		rm_store(c, d, &o, res);
		break;
	case 5: /* SHR */
		res = v >> count;
		rm_store(c, d, &o, res);
		break;
	default: /* 7: SAR */
		res = (u64)((s64)sign_extend(v, d->osz) >> count) & mask;
		rm_store(c, d, &o, res);
		break;
	}

	if (count > bits) {
		/*
		 * Only 8- and 16-bit operands get here (count up to 31). The SDM leaves CF
		 * undefined for SHL/SHR with count >= size: we choose 0 (every bit shifted out
		 * beyond the operand was a zero). SAR shifts out copies of the sign bit, CF =
		 * MSB(dest). OF follows the lazy formulas (internal.h): SHL MSB(res) ^ CF, SHR
		 * MSB(dest), SAR 0.
		 */
		u64 msb = v >> (bits - 1);

		if (d->sub == 7)
			flags_szp_cf_of(c, res, d->osz, msb, 0);
		else
			flags_szp_cf_of(c, res, d->osz, 0, d->sub == 5 ? msb : 0);
		return;
	}
	c->lf_src1 = v;
	c->lf_src2 = count;
	c->lf_res = res;
	c->lf_op = LF(d->sub == 5 ? LF_SHR : d->sub == 7 ? LF_SAR : LF_SHL, d->osz);
}

/*
 * SHL/SAL/SHR/SAR of a 32- or 64-bit register by a nonzero count, the form compiled code uses:
 * the masked count is below the width, so the lazy kinds describe the flags exactly as
 * shift_rotate would. False when the general path must run.
 */
static always_inline bool shift_reg_fast(struct cpu *c, const struct insn *d, unsigned count)
{
	unsigned size = d->osz, kind;
	u64 v, r;

	if (d->mem || size < 4 || d->sub < 4)
		return false;
	count &= size == 8 ? 63 : 31;
	if (!count)
		return false;
	v = reg_read(c, d->rm, size);
	switch (d->sub) {
	case 4:
	case 6:
		r = v << count;
		kind = LF_SHL;
		break;
	case 5:
		r = v >> count;
		kind = LF_SHR;
		break;
	default:
		r = (u64)((s64)sign_extend(v, size) >> count);
		kind = LF_SAR;
		break;
	}
	r &= size_mask(size);
	reg_write(c, d->rm, r, size);
	c->lf_src1 = v;
	c->lf_src2 = count;
	c->lf_res = r;
	c->lf_op = LF(kind, size);
	return true;
}

void op_shift_rm_1(struct cpu *c, const struct insn *d)
{
	if (!shift_reg_fast(c, d, 1))
		shift_rotate(c, d, 1);
}

void op_shift_rm_cl(struct cpu *c, const struct insn *d)
{
	shift_rotate(c, d, (u8)c->gpr[R_RCX]);
}

void op_shift_rm_imm(struct cpu *c, const struct insn *d)
{
	if (!shift_reg_fast(c, d, (u8)d->imm))
		shift_rotate(c, d, (u8)d->imm);
}

/*
 * SHLD/SHRD r/m, reg, count. CF = last bit shifted out of the destination; SF ZF PF from the
 * result; OF (defined for count 1 only) = sign change, MSB(res) ^ MSB(dest), used for all counts;
 * AF undefined: we choose 0.
 * A 16-bit operand with a count of 17..31 is undefined in the SDM. We do what the hardware we
 * measured does: shift the 48-bit value dest:src:dest (dest in bits 47:32 and 15:0), SHLD taking
 * bits 47:32 of the shifted value, SHRD bits 15:0; CF is the last bit shifted out of that value.
 */
static void shift_double(struct cpu *c, const struct insn *d, unsigned count, bool left)
{
	unsigned bits = d->osz * 8;
	u64 mask = size_mask(d->osz);
	struct rm_operand o;
	u64 dst, src, res, cf;

	rm_load(c, d, &o);
	src = reg_read(c, d->reg, d->osz);
	count &= count_mask(d);
	if (!count) {
		if (!d->mem)
			reg_write(c, d->rm, o.val, d->osz);
		return;
	}
	dst = o.val;

	if (bits == 16) {
		u64 x = dst << 32 | src << 16 | dst;

		if (left) {
			res = (x << count >> 32) & mask;
			cf = (x >> (48 - count)) & 1;
		} else {
			res = (x >> count) & mask;
			cf = (x >> (count - 1)) & 1;
		}
	} else if (left) {
		/* count < bits here */
		res = ((dst << count) | (src >> (bits - count))) & mask;
		cf = (dst >> (bits - count)) & 1;
	} else {
		res = ((dst >> count) | (src << (bits - count))) & mask;
		cf = (dst >> (count - 1)) & 1;
	}
	rm_store(c, d, &o, res);
	flags_szp_cf_of(c, res, d->osz, cf, ((res ^ dst) >> (bits - 1)) & 1);
}

void op_shld_imm(struct cpu *c, const struct insn *d)
{
	shift_double(c, d, (u8)d->imm, true);
}

void op_shld_cl(struct cpu *c, const struct insn *d)
{
	shift_double(c, d, (u8)c->gpr[R_RCX], true);
}

void op_shrd_imm(struct cpu *c, const struct insn *d)
{
	shift_double(c, d, (u8)d->imm, false);
}

void op_shrd_cl(struct cpu *c, const struct insn *d)
{
	shift_double(c, d, (u8)c->gpr[R_RCX], false);
}
