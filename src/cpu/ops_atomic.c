/* SPDX-License-Identifier: MIT */
/*
 * Exchange-and-compare and byte-order instructions: XADD, CMPXCHG, CMPXCHG8B/16B, BSWAP, MOVBE.
 * SDM vol. 2A "BSWAP", "CMPXCHG", "CMPXCHG8B/CMPXCHG16B", "MOVBE", vol. 2B "XADD".
 *
 * vCPUs may run on several host threads over one guest RAM (cpu_set_lock_atomic). A
 * LOCK-prefixed read-modify-write (and XCHG with memory) is then atomic with respect to every
 * other access (SDM vol. 3A 9.1.2.2) because its destination goes through struct rmw
 * (internal.h): the write is a host compare-and-swap of the value read, and the handler starts
 * over from the read when it fails. On one thread the same path is a plain access.
 * Each handler therefore reads, computes and writes memory before it commits anything else.
 * Operands that cannot be swapped (MMIO, page or 16-byte crossings) are not atomic across threads
 * (docs/cpu.md, "Known differences").
 */
#include "cpu/ops.h"


/* XADD r/m, reg: TEMP = SRC + DEST; SRC = DEST; DEST = TEMP. Flags as ADD. With a register
   destination the destination is written last (XADD reg, same reg leaves the sum). */
void op_xadd(struct cpu *c, const struct insn *d)
{
	unsigned size = d->osz;
	u64 src = reg_read(c, d->reg, size);
	u64 dst, sum;

	if (d->mem) {
		u64 ea = insn_ea(c, d);
		struct rmw m;

		do {
			dst = rmw_read(c, &m, d->lock, d->seg, ea, size);
			sum = (src + dst) & size_mask(size);
		} while (!rmw_write(c, &m, sum));
		reg_write(c, d->reg, dst, size);
	} else {
		dst = reg_read(c, d->rm, size);
		sum = (src + dst) & size_mask(size);
		reg_write(c, d->reg, dst, size);
		reg_write(c, d->rm, sum, size);
	}
	c->lf_src1 = dst;
	c->lf_src2 = src;
	c->lf_res = sum;
	c->lf_op = LF(LF_ADD, size);
}

/*
 * CMPXCHG r/m, reg: flags as CMP rAX, r/m. Equal: r/m = reg. Not equal: rAX = r/m, and a memory
 * destination is written back with its own value (the processor always writes, SDM "CMPXCHG"),
 * so a read-only destination faults either way. With a 32-bit operand only the register actually
 * written is zero-extended: equal leaves RAX alone, not equal leaves the destination register alone
 * (measured on hardware).
 */
void op_cmpxchg(struct cpu *c, const struct insn *d)
{
	unsigned size = d->osz;
	u64 acc = reg_read(c, R_RAX, size);
	u64 src = reg_read(c, d->reg, size);
	u64 dst;

	if (d->mem) {
		u64 ea = insn_ea(c, d);
		struct rmw m;

		/* Locked and not equal: a swap of the value with itself, atomic like the rest. */
		do
			dst = rmw_read(c, &m, d->lock, d->seg, ea, size);
		while (!rmw_write(c, &m, acc == dst ? src : dst));
		if (acc != dst)
			reg_write(c, R_RAX, dst, size);
	} else {
		dst = reg_read(c, d->rm, size);
		if (acc == dst)
			reg_write(c, d->rm, src, size);
		else
			reg_write(c, R_RAX, dst, size);
	}
	c->lf_src1 = acc;
	c->lf_src2 = dst;
	c->lf_res = (acc - dst) & size_mask(size);
	c->lf_op = LF(LF_SUB, size);
}

/*
 * CMPXCHG8B m64 (osz 2 or 4) / CMPXCHG16B m128 (REX.W, osz 8): compare rDX:rAX with the memory
 * operand; equal: ZF = 1 and memory = rCX:rBX; not equal: ZF = 0, rDX:rAX = memory and memory is
 * written back unchanged. Other flags unaffected. A register operand is #UD; CMPXCHG16B needs a
 * 16-byte aligned operand, else #GP(0).
 */
/*
 * LOCK CMPXCHG8B/16B: the whole operand in one host compare-and-swap (internal.h struct rmw);
 * false, with nothing done, when it cannot be (then the halves below, not atomic). *lo, *hi:
 * the operand as read; true in *eq when it equalled rDX:rAX and rCX:rBX was written.
 */
static bool cmpxchg_double_locked(struct cpu *c, const struct insn *d, u64 ea, unsigned half,
				  u64 *lo, u64 *hi, bool *eq)
{
	u64 mask = size_mask(half), cmp_lo = c->gpr[R_RAX] & mask, cmp_hi = c->gpr[R_RDX] & mask;
	u64 new_lo = c->gpr[R_RBX] & mask, new_hi = c->gpr[R_RCX] & mask;
	struct rmw m;

	if (half == 4) {
		/* the operand wraps around the address size: as two halves */
		if (ea > size_mask(d->asz) - 7)
			return false;
		u64 v;
		do {
			v = rmw_read(c, &m, true, d->seg, ea, 8);
			*eq = v == (cmp_hi << 32 | cmp_lo);
		} while (!rmw_write(c, &m, *eq ? new_hi << 32 | new_lo : v));
		*lo = (u32)v;
		*hi = v >> 32;
		return true;
	}
	m.lin = seg_lin(c, d->seg, ea, 16, ACC_WRITE);
	m.acc = d->seg == SEG_SS ? ACC_WRITE | ACC_SS : ACC_WRITE;
	m.size = 16;
	m.locked = 0;
	u64 v[2], n[2];
	do {
		if (!mmu_rmw_lock_read16(c, &m, v))
			return false;
		*eq = v[0] == cmp_lo && v[1] == cmp_hi;
		n[0] = *eq ? new_lo : v[0];
		n[1] = *eq ? new_hi : v[1];
	} while (!mmu_rmw_lock_write16(c, &m, n));
	*lo = v[0];
	*hi = v[1];
	return true;
}

void op_cmpxchg8b16b(struct cpu *c, const struct insn *d)
{
	unsigned half = d->osz == 8 ? 8 : 4;
	u64 mask = size_mask(half);
	u64 ea, lo, hi, nlo, nhi;
	bool eq;

	if (!d->mem)
		cpu_ud(c);
	ea = insn_ea(c, d);
	if (half == 8 && ((c->seg_base[d->seg] + ea) & 15))
		cpu_gp(c, 0);
	/*
	 * #AC: CMPXCHG8B's operand is one quadword (SDM vol. 3A 6.15, Table 6-7), read here in two
	 * halves; a non-canonical address is #GP/#SS first, as on hardware (docs/difftest.md).
	 */
	if (half == 4 && cpu_align_checking(c)) {
		u64 lin = (c->seg_base[d->seg] + ea) & c->lin_mask;
		if ((lin & 7) && is_canonical(lin))
			cpu_fault(c, X86_AC_VEC, 0);
	}
	if (!d->lock || !c->lock_atomic || !cmpxchg_double_locked(c, d, ea, half, &lo, &hi, &eq)) {
		lo = mem_read_rmw(c, d->seg, ea, half);
		hi = mem_read_rmw(c, d->seg, (ea + half) & size_mask(d->asz), half);
		eq = lo == (c->gpr[R_RAX] & mask) && hi == (c->gpr[R_RDX] & mask);
		nlo = eq ? c->gpr[R_RBX] & mask : lo;
		nhi = eq ? c->gpr[R_RCX] & mask : hi;
		/* Probe the low half, write the high half, then the low half: only the first two
		   can fault, and they commit nothing before they do. */
		mem_probe_write(c, d->seg, ea, half);
		mem_write(c, d->seg, (ea + half) & size_mask(d->asz), nhi, half);
		mem_write(c, d->seg, ea, nlo, half);
	}
	if (!eq) {
		reg_write(c, R_RAX, lo, half);
		reg_write(c, R_RDX, hi, half);
	}
	flags_set(c, (flags_get(c) & ~X86_ZF) | (eq ? X86_ZF : 0));
}

/*
 * BSWAP reg (osz 4 or 8). With a 16-bit operand the result is undefined in the SDM: we write 0 to
 * the low 16 bits and keep bits 63:16, as the hardware we measured does.
 */
void op_bswap(struct cpu *c, const struct insn *d)
{
	switch (d->osz) {
	case 2:
		reg_write(c, d->reg, 0, 2);
		break;
	case 4:
		reg_write(c, d->reg, __builtin_bswap32((u32)c->gpr[d->reg]), 4);
		break;
	default:
		c->gpr[d->reg] = __builtin_bswap64(c->gpr[d->reg]);
	}
}

static u64 swap_bytes(u64 v, unsigned size)
{
	switch (size) {
	case 2:
		return __builtin_bswap16((u16)v);
	case 4:
		return __builtin_bswap32((u32)v);
	default:
		return __builtin_bswap64(v);
	}
}

/* MOVBE reg, m (0F 38 F0): load with bytes reversed; the register form is #UD. No flags. */
void op_movbe_r_m(struct cpu *c, const struct insn *d)
{
	if (!d->mem)
		cpu_ud(c);
	reg_write(c, d->reg, swap_bytes(mem_read(c, d->seg, insn_ea(c, d), d->osz), d->osz),
		  d->osz);
}

/* MOVBE m, reg (0F 38 F1). */
void op_movbe_m_r(struct cpu *c, const struct insn *d)
{
	if (!d->mem)
		cpu_ud(c);
	mem_write(c, d->seg, insn_ea(c, d), swap_bytes(reg_read(c, d->reg, d->osz), d->osz),
		  d->osz);
}
