// SPDX-License-Identifier: MIT
/*
 * Core integer instructions: ALU, TEST, NOT/NEG/INC/DEC, MOV, LEA, XCHG, MOVZX/MOVSX, sign
 * extensions, flag instructions, near branches, PUSH/POP, SETcc, CMOVcc. Operand conventions are
 * in ops_core.h. Every handler reads and checks first and commits afterwards (internal.h): memory
 * destinations are written before the lazy flags and registers are updated.
 */
#include "cpu/ops.h"
#include "cpu/ops_core.h"


/* --- ALU (SDM vol. 2A ADD, OR, ADC, SBB, AND, SUB, XOR, CMP) --- */

enum alu_op { ALU_ADD, ALU_OR, ALU_ADC, ALU_SBB, ALU_AND, ALU_SUB, ALU_XOR, ALU_CMP };

struct alu_out {
	u64 res;
	u32 lf;
};

/* a and b already masked to size. */
static always_inline struct alu_out alu_compute(struct cpu *c, enum alu_op op, unsigned size, u64 a,
						u64 b)
{
	struct alu_out o;
	u64 cf;

	switch (op) {
	case ALU_ADD:
		o.res = a + b;
		o.lf = LF(LF_ADD, size);
		break;
	case ALU_ADC:
		cf = flags_cond(c, 2);
		o.res = a + b + cf;
		o.lf = LF(cf ? LF_ADC : LF_ADD, size);
		break;
	case ALU_SBB:
		cf = flags_cond(c, 2);
		o.res = a - b - cf;
		o.lf = LF(cf ? LF_SBB : LF_SUB, size);
		break;
	case ALU_SUB:
	case ALU_CMP:
		o.res = a - b;
		o.lf = LF(LF_SUB, size);
		break;
	case ALU_OR:
		o.res = a | b;
		o.lf = LF(LF_LOGIC, size);
		break;
	case ALU_AND:
		o.res = a & b;
		o.lf = LF(LF_LOGIC, size);
		break;
	default:
		o.res = a ^ b;
		o.lf = LF(LF_LOGIC, size);
		break;
	}
	o.res &= size_mask(size);
	return o;
}

static always_inline void lf_record(struct cpu *c, u32 lf, u64 a, u64 b, u64 res)
{
	c->lf_src1 = a;
	c->lf_src2 = b;
	c->lf_res = res;
	c->lf_op = lf;
}

static always_inline void alu_reg(struct cpu *c, enum alu_op op, unsigned size, unsigned dst, u64 b)
{
	u64 a = reg_read(c, dst, size);
	struct alu_out o;

	b &= size_mask(size);
	o = alu_compute(c, op, size, a, b);
	if (op != ALU_CMP)
		reg_write(c, dst, o.res, size);
	if (op == ALU_OR || op == ALU_AND || op == ALU_XOR) {
		/* LF_LOGIC reads only the result (flags.c). */
		c->lf_res = o.res;
		c->lf_op = o.lf;
	} else {
		lf_record(c, o.lf, a, b, o.res);
	}
}

/* Memory destination: one TLB lookup for the read and the write when the page allows it; LOCK
   makes the two one atomic operation (internal.h struct rmw). */
static always_inline void alu_mem(struct cpu *c, const struct insn *d, enum alu_op op,
				  unsigned size, u64 b)
{
	u64 ea = insn_ea(c, d), a;
	struct alu_out o;

	b &= size_mask(size);
	if (op == ALU_CMP) {
		a = mem_read(c, d->seg, ea, size);
		o = alu_compute(c, op, size, a, b);
	} else {
		struct rmw m;

		do {
			a = rmw_read(c, &m, d->lock, d->seg, ea, size);
			o = alu_compute(c, op, size, a, b);
		} while (!rmw_write(c, &m, o.res));
	}
	lf_record(c, o.lf, a, b, o.res);
}

#define ALU_HANDLERS(name, op)                                                                     \
	void op_##name##_rm_r(struct cpu *c, const struct insn *d)                                 \
	{                                                                                          \
		alu_reg(c, op, d->osz, d->rm, reg_read(c, d->reg, d->osz));                        \
	}                                                                                          \
	void op_##name##_r_rm(struct cpu *c, const struct insn *d)                                 \
	{                                                                                          \
		alu_reg(c, op, d->osz, d->reg, reg_read(c, d->rm, d->osz));                        \
	}                                                                                          \
	void op_##name##_rm_i(struct cpu *c, const struct insn *d)                                 \
	{                                                                                          \
		alu_reg(c, op, d->osz, d->rm, d->imm);                                             \
	}                                                                                          \
	void op_##name##_m_r(struct cpu *c, const struct insn *d)                                  \
	{                                                                                          \
		alu_mem(c, d, op, d->osz, reg_read(c, d->reg, d->osz));                            \
	}                                                                                          \
	void op_##name##_r_m(struct cpu *c, const struct insn *d)                                  \
	{                                                                                          \
		alu_reg(c, op, d->osz, d->reg, mem_read(c, d->seg, insn_ea(c, d), d->osz));        \
	}                                                                                          \
	void op_##name##_m_i(struct cpu *c, const struct insn *d)                                  \
	{                                                                                          \
		alu_mem(c, d, op, d->osz, d->imm);                                                 \
	}

/*
 * Size-specialized register forms for 32- and 64-bit operands, the common case in compiled code:
 * the size is a constant, so the handler is straight-line code. ops_specialize() (below) swaps
 * them in at decode time; they behave exactly as the generic handlers.
 */
#define ALU_SIZED(name, op, size)                                                                  \
	static void op_##name##_rm_r_##size(struct cpu *c, const struct insn *d)                   \
	{                                                                                          \
		alu_reg(c, op, size, d->rm, reg_read(c, d->reg, size));                            \
	}                                                                                          \
	static void op_##name##_r_rm_##size(struct cpu *c, const struct insn *d)                   \
	{                                                                                          \
		alu_reg(c, op, size, d->reg, reg_read(c, d->rm, size));                            \
	}                                                                                          \
	static void op_##name##_rm_i_##size(struct cpu *c, const struct insn *d)                   \
	{                                                                                          \
		alu_reg(c, op, size, d->rm, d->imm);                                               \
	}                                                                                          \
	static void op_##name##_m_r_##size(struct cpu *c, const struct insn *d)                    \
	{                                                                                          \
		alu_mem(c, d, op, size, reg_read(c, d->reg, size));                                \
	}                                                                                          \
	static void op_##name##_r_m_##size(struct cpu *c, const struct insn *d)                    \
	{                                                                                          \
		alu_reg(c, op, size, d->reg, mem_read(c, d->seg, insn_ea(c, d), size));           \
	}                                                                                          \
	static void op_##name##_m_i_##size(struct cpu *c, const struct insn *d)                    \
	{                                                                                          \
		alu_mem(c, d, op, size, d->imm);                                                   \
	}

#define ALU_HANDLERS_ALL(name, op)                                                                 \
	ALU_HANDLERS(name, op)                                                                     \
	ALU_SIZED(name, op, 4)                                                                     \
	ALU_SIZED(name, op, 8)

ALU_HANDLERS_ALL(add, ALU_ADD)
ALU_HANDLERS_ALL(or, ALU_OR)
ALU_HANDLERS_ALL(adc, ALU_ADC)
ALU_HANDLERS_ALL(sbb, ALU_SBB)
ALU_HANDLERS_ALL(and, ALU_AND)
ALU_HANDLERS_ALL(sub, ALU_SUB)
ALU_HANDLERS_ALL(xor, ALU_XOR)
ALU_HANDLERS_ALL(cmp, ALU_CMP)

/* --- TEST, NOT, NEG, INC, DEC (SDM vol. 2B TEST, NOT, NEG; vol. 2A INC, DEC) --- */

static always_inline void test_flags(struct cpu *c, unsigned size, u64 a, u64 b)
{
	lf_record(c, LF(LF_LOGIC, size), a, b, a & b & size_mask(size));
}

void op_test_rm_r(struct cpu *c, const struct insn *d)
{
	test_flags(c, d->osz, reg_read(c, d->rm, d->osz), reg_read(c, d->reg, d->osz));
}

void op_test_m_r(struct cpu *c, const struct insn *d)
{
	test_flags(c, d->osz, mem_read(c, d->seg, insn_ea(c, d), d->osz),
		   reg_read(c, d->reg, d->osz));
}

void op_test_rm_i(struct cpu *c, const struct insn *d)
{
	test_flags(c, d->osz, reg_read(c, d->rm, d->osz), d->imm);
}

void op_test_m_i(struct cpu *c, const struct insn *d)
{
	test_flags(c, d->osz, mem_read(c, d->seg, insn_ea(c, d), d->osz), d->imm);
}

/* NOT affects no flags. */
void op_not_rm(struct cpu *c, const struct insn *d)
{
	reg_write(c, d->rm, ~reg_read(c, d->rm, d->osz), d->osz);
}

void op_not_m(struct cpu *c, const struct insn *d)
{
	u64 ea = insn_ea(c, d), a;
	struct rmw m;

	do
		a = rmw_read(c, &m, d->lock, d->seg, ea, d->osz);
	while (!rmw_write(c, &m, ~a & size_mask(d->osz)));
}

void op_neg_rm(struct cpu *c, const struct insn *d)
{
	u64 a = reg_read(c, d->rm, d->osz), r = -a & size_mask(d->osz);

	reg_write(c, d->rm, r, d->osz);
	lf_record(c, LF(LF_NEG, d->osz), a, 0, r);
}

void op_neg_m(struct cpu *c, const struct insn *d)
{
	u64 ea = insn_ea(c, d), a, r;
	struct rmw m;

	do {
		a = rmw_read(c, &m, d->lock, d->seg, ea, d->osz);
		r = -a & size_mask(d->osz);
	} while (!rmw_write(c, &m, r));
	lf_record(c, LF(LF_NEG, d->osz), a, 0, r);
}

/*
 * CF before an INC/DEC, inline for the kinds that precede them in loops (INC/DEC carry it in
 * lf_src2; logic ops clear it; ADD/SUB give it by one compare); the rest ask flags.c.
 */
static always_inline u64 carry_in(struct cpu *c)
{
	if (unlikely(c->lf_op & LF_CFOF))
		return c->lf_cfof & X86_CF;
	switch (LF_KIND(c->lf_op)) {
	case LF_NONE:
		return c->rflags & X86_CF;
	case LF_INC:
	case LF_DEC:
		return c->lf_src2;
	case LF_LOGIC:
		return 0;
	case LF_ADD:
		return c->lf_res < c->lf_src1;
	case LF_SUB:
		return c->lf_src1 < c->lf_src2;
	case LF_MUL:
		return c->lf_src2;
	default:
		return flags_cond(c, 2);
	}
}

/* INC/DEC preserve CF: the lazy record carries the CF before (internal.h). */
u64 ops_carry_in(struct cpu *c)
{
	return carry_in(c);
}

static always_inline void incdec_reg(struct cpu *c, unsigned rm, unsigned size, int kind)
{
	u64 a = reg_read(c, rm, size), cf = carry_in(c);
	u64 r = (kind == LF_INC ? a + 1 : a - 1) & size_mask(size);

	reg_write(c, rm, r, size);
	lf_record(c, LF(kind, size), a, cf, r);
}

static always_inline void incdec_mem(struct cpu *c, const struct insn *d, int kind)
{
	u64 ea = insn_ea(c, d), a, r, cf;
	struct rmw m;

	do {
		a = rmw_read(c, &m, d->lock, d->seg, ea, d->osz);
		r = (kind == LF_INC ? a + 1 : a - 1) & size_mask(d->osz);
	} while (!rmw_write(c, &m, r));
	cf = carry_in(c);
	lf_record(c, LF(kind, d->osz), a, cf, r);
}

void op_inc_rm(struct cpu *c, const struct insn *d)
{
	incdec_reg(c, d->rm, d->osz, LF_INC);
}

void op_inc_m(struct cpu *c, const struct insn *d)
{
	incdec_mem(c, d, LF_INC);
}

void op_dec_rm(struct cpu *c, const struct insn *d)
{
	incdec_reg(c, d->rm, d->osz, LF_DEC);
}

void op_dec_m(struct cpu *c, const struct insn *d)
{
	incdec_mem(c, d, LF_DEC);
}

/* --- MOV, LEA, XCHG, NOP (SDM vol. 2B MOV, LEA, XCHG, NOP; vol. 2A CLFLUSH) --- */

void op_mov_rm_r(struct cpu *c, const struct insn *d)
{
	reg_write(c, d->rm, reg_read(c, d->reg, d->osz), d->osz);
}

void op_mov_m_r(struct cpu *c, const struct insn *d)
{
	mem_write(c, d->seg, insn_ea(c, d), reg_read(c, d->reg, d->osz), d->osz);
}

void op_mov_r_rm(struct cpu *c, const struct insn *d)
{
	reg_write(c, d->reg, reg_read(c, d->rm, d->osz), d->osz);
}

void op_mov_r_m(struct cpu *c, const struct insn *d)
{
	reg_write(c, d->reg, mem_read(c, d->seg, insn_ea(c, d), d->osz), d->osz);
}

void op_mov_rm_i(struct cpu *c, const struct insn *d)
{
	reg_write(c, d->rm, d->imm, d->osz);
}

void op_mov_m_i(struct cpu *c, const struct insn *d)
{
	mem_write(c, d->seg, insn_ea(c, d), d->imm, d->osz);
}

/* A0-A3: the offset (imm) is address-size wide and already zero-extended. */
void op_mov_acc_moffs(struct cpu *c, const struct insn *d)
{
	reg_write(c, R_RAX, mem_read(c, d->seg, d->imm, d->osz), d->osz);
}

void op_mov_moffs_acc(struct cpu *c, const struct insn *d)
{
	mem_write(c, d->seg, d->imm, reg_read(c, R_RAX, d->osz), d->osz);
}

/* The address-size effective address truncated or zero-extended to the operand size. */
void op_lea(struct cpu *c, const struct insn *d)
{
	reg_write(c, d->reg, insn_ea(c, d), d->osz);
}

void op_xchg_rm_r(struct cpu *c, const struct insn *d)
{
	u64 a = reg_read(c, d->rm, d->osz), b = reg_read(c, d->reg, d->osz);

	reg_write(c, d->rm, b, d->osz);
	reg_write(c, d->reg, a, d->osz);
}

/* XCHG with memory is locked whether or not LOCK is present (SDM vol. 2B XCHG, vol. 3A
   9.1.2.1): compiled code never inlines it (jit.c forms_init has no XCHG form). */
void op_xchg_m_r(struct cpu *c, const struct insn *d)
{
	u64 ea = insn_ea(c, d), a, b = reg_read(c, d->reg, d->osz);
	struct rmw m;

	do
		a = rmw_read(c, &m, true, d->seg, ea, d->osz);
	while (!rmw_write(c, &m, b));
	reg_write(c, d->reg, a, d->osz);
}

void op_nop(struct cpu *c, const struct insn *d)
{
}

/*
 * CLFLUSH, CLFLUSHOPT, CLWB (SDM vol. 2 CLFLUSH): no caches to write back, memory being always
 * coherent here; the operand is checked like a byte read (segment, paging, #PF, EPT) but not read,
 * so a line of MMIO sees no access.
 */
void op_clflush(struct cpu *c, const struct insn *d)
{
	u64 lin = seg_lin(c, d->seg, insn_ea(c, d), 1, ACC_READ);
	struct tlb_entry *e = &c->tlb[(lin >> 12) & (TLB_SIZE - 1)];

	if (e->tag_r != (lin & PAGE_MASK))
		mmu_translate(c, lin, d->seg == SEG_SS ? ACC_READ | ACC_SS : ACC_READ);
}

/* --- MOVZX, MOVSX, MOVSXD, CBW/CWDE/CDQE, CWD/CDQ/CQO (SDM vol. 2B, 2A) --- */

/* 0F B6/BE read a byte, 0F B7/BF a word. */
static always_inline unsigned movx_src_size(const struct insn *d)
{
	return d->opcode & 1 ? 2 : 1;
}

void op_movzx_r_rm(struct cpu *c, const struct insn *d)
{
	reg_write(c, d->reg, reg_read(c, d->rm, movx_src_size(d)), d->osz);
}

void op_movzx_r_m(struct cpu *c, const struct insn *d)
{
	reg_write(c, d->reg, mem_read(c, d->seg, insn_ea(c, d), movx_src_size(d)), d->osz);
}

void op_movsx_r_rm(struct cpu *c, const struct insn *d)
{
	unsigned s = movx_src_size(d);

	reg_write(c, d->reg, sign_extend(reg_read(c, d->rm, s), s), d->osz);
}

void op_movsx_r_m(struct cpu *c, const struct insn *d)
{
	unsigned s = movx_src_size(d);

	reg_write(c, d->reg, sign_extend(mem_read(c, d->seg, insn_ea(c, d), s), s), d->osz);
}

/* MOVSXD: REX.W sign-extends a doubleword; without it, a plain move of osz bytes. */
void op_movsxd_r_rm(struct cpu *c, const struct insn *d)
{
	unsigned s = d->osz == 8 ? 4 : d->osz;

	reg_write(c, d->reg, sign_extend(reg_read(c, d->rm, s), s), d->osz);
}

void op_movsxd_r_m(struct cpu *c, const struct insn *d)
{
	unsigned s = d->osz == 8 ? 4 : d->osz;

	reg_write(c, d->reg, sign_extend(mem_read(c, d->seg, insn_ea(c, d), s), s), d->osz);
}

void op_cbw(struct cpu *c, const struct insn *d)
{
	unsigned half = d->osz / 2;

	reg_write(c, R_RAX, sign_extend(reg_read(c, R_RAX, half), half), d->osz);
}

void op_cwd(struct cpu *c, const struct insn *d)
{
	u64 a = reg_read(c, R_RAX, d->osz);

	reg_write(c, R_RDX, (a >> (d->osz * 8 - 1)) & 1 ? ~0ull : 0, d->osz);
}

/* --- Flag instructions (SDM vol. 2A CLC, CLD, CMC; vol. 2B LAHF, SAHF, STC, STD) --- */

#define LAHF_FLAGS (X86_SF | X86_ZF | X86_AF | X86_PF | X86_CF)

void op_lahf(struct cpu *c, const struct insn *d)
{
	reg_write(c, REG_AH, (flags_get(c) & LAHF_FLAGS) | X86_FIXED1, 1);
}

void op_sahf(struct cpu *c, const struct insn *d)
{
	u64 f = flags_get(c);

	flags_set(c, (f & ~LAHF_FLAGS) | (reg_read(c, REG_AH, 1) & LAHF_FLAGS));
}

void op_cmc(struct cpu *c, const struct insn *d)
{
	flags_set(c, flags_get(c) ^ X86_CF);
}

void op_clc(struct cpu *c, const struct insn *d)
{
	flags_set(c, flags_get(c) & ~X86_CF);
}

void op_stc(struct cpu *c, const struct insn *d)
{
	flags_set(c, flags_get(c) | X86_CF);
}

/* DF is not an arithmetic flag: it always lives in c->rflags. */
void op_cld(struct cpu *c, const struct insn *d)
{
	c->rflags &= ~X86_DF;
}

void op_std(struct cpu *c, const struct insn *d)
{
	c->rflags |= X86_DF;
}

/* --- Near branches (SDM vol. 2A CALL, Jcc, JMP; vol. 2B RET) --- */

/*
 * Checks a near branch target. osz 8 (64-bit mode): #GP(0) if not canonical. Otherwise the
 * target is truncated to EIP/IP and must be within CS.limit, else #GP(0); the check is done for
 * every segment (a flat segment's limit never fails it).
 */
static always_inline u64 near_target(struct cpu *c, const struct insn *d, u64 t)
{
	if (d->osz == 8) {
		if (unlikely(!is_canonical(t)))
			cpu_gp(c, 0);
		return t;
	}
	t &= size_mask(d->osz);
	if (unlikely(t > c->seg[SEG_CS].limit))
		cpu_gp(c, 0);
	return t;
}

/*
 * Jcc, one handler per condition so the common JZ/JNZ test is inline: with lazy flags ZF is
 * "lf_res == 0" for every kind (internal.h); everything else asks flags_cond().
 */
static always_inline bool cond(struct cpu *c, unsigned cc)
{
	if ((cc >> 1) == 2 && c->lf_op != LF_NONE)
		return (c->lf_res == 0) ^ (cc & 1);
	return flags_cond(c, cc);
}

#define JCC(name, cc)                                                                              \
	void op_##name(struct cpu *c, const struct insn *d)                                        \
	{                                                                                          \
		if (cond(c, cc))                                                                   \
			c->rip = near_target(c, d, c->rip + d->imm);                               \
	}

JCC(jo, 0)
JCC(jno, 1)
JCC(jb, 2)
JCC(jnb, 3)
JCC(jz, 4)
JCC(jnz, 5)
JCC(jbe, 6)
JCC(jnbe, 7)
JCC(js, 8)
JCC(jns, 9)
JCC(jp, 10)
JCC(jnp, 11)
JCC(jl, 12)
JCC(jnl, 13)
JCC(jle, 14)
JCC(jnle, 15)

void op_jmp_rel(struct cpu *c, const struct insn *d)
{
	c->rip = near_target(c, d, c->rip + d->imm);
}

void op_jmp_rm(struct cpu *c, const struct insn *d)
{
	c->rip = near_target(c, d, reg_read(c, d->rm, d->osz));
}

void op_jmp_m(struct cpu *c, const struct insn *d)
{
	c->rip = near_target(c, d, mem_read(c, d->seg, insn_ea(c, d), d->osz));
}

/* CALL: target checked, then the return address pushed, then RIP changed. */
static always_inline void call_to(struct cpu *c, const struct insn *d, u64 t)
{
	t = near_target(c, d, t);
	cpu_push(c, c->rip, d->osz);
	c->rip = t;
}

void op_call_rel(struct cpu *c, const struct insn *d)
{
	call_to(c, d, c->rip + d->imm);
}

void op_call_rm(struct cpu *c, const struct insn *d)
{
	call_to(c, d, reg_read(c, d->rm, d->osz));
}

void op_call_m(struct cpu *c, const struct insn *d)
{
	call_to(c, d, mem_read(c, d->seg, insn_ea(c, d), d->osz));
}

/* C3, C2 Iw: pop the return address, then release imm bytes. */
void op_ret_near(struct cpu *c, const struct insn *d)
{
	u64 t = near_target(c, d, cpu_peek(c, d->osz, 0));

	cpu_pop_commit(c, d->osz + (u16)d->imm);
	c->rip = t;
}

/*
 * 64-bit mode forms (osz 8 only occurs there): SS is flat and the stack 8 bytes wide, so push and
 * pop are plain RSP arithmetic around one access through SS.
 */
static void op_call_rel_8(struct cpu *c, const struct insn *d)
{
	u64 t = c->rip + d->imm, rsp = c->gpr[R_RSP] - 8;

	if (unlikely(!is_canonical(t)))
		cpu_gp(c, 0);
	lin_write_acc(c, rsp, c->rip, 8, ACC_WRITE | ACC_SS);
	c->gpr[R_RSP] = rsp;
	c->rip = t;
}

static void op_ret_near_8(struct cpu *c, const struct insn *d)
{
	u64 rsp = c->gpr[R_RSP], t = lin_read_acc(c, rsp, 8, ACC_READ | ACC_SS);

	if (unlikely(!is_canonical(t)))
		cpu_gp(c, 0);
	c->gpr[R_RSP] = rsp + 8 + (u16)d->imm;
	c->rip = t;
}

/* --- PUSH, POP, PUSHA, POPA (SDM vol. 2B) --- */

/* 50+r and FF /6 with a register: the register is rm. PUSH rSP pushes the value before. */
void op_push_r(struct cpu *c, const struct insn *d)
{
	cpu_push(c, reg_read(c, d->rm, d->osz), d->osz);
}

void op_push_i(struct cpu *c, const struct insn *d)
{
	cpu_push(c, d->imm, d->osz);
}

void op_push_m(struct cpu *c, const struct insn *d)
{
	cpu_push(c, mem_read(c, d->seg, insn_ea(c, d), d->osz), d->osz);
}

/* 58+r and 8F /0 with a register (rm). POP rSP loads the popped value over the increment. */
void op_pop_r(struct cpu *c, const struct insn *d)
{
	u64 v = cpu_peek(c, d->osz, 0);

	cpu_pop_commit(c, d->osz);
	reg_write(c, d->rm, v, d->osz);
}

/* An rSP-based destination address is computed after the increment (SDM vol. 2B POP). */
void op_pop_m(struct cpu *c, const struct insn *d)
{
	u64 v = cpu_peek(c, d->osz, 0), rsp = c->gpr[R_RSP], ea;

	cpu_pop_commit(c, d->osz);
	ea = insn_ea(c, d);
	c->gpr[R_RSP] = rsp;
	mem_write(c, d->seg, ea, v, d->osz);
	cpu_pop_commit(c, d->osz);
}

static void set_rsp(struct cpu *c, u64 rsp)
{
	reg_write(c, R_RSP, rsp, c->stack_bytes);
}

/* Pushes rAX rCX rDX rBX, the original rSP, rBP rSI rDI; RSP changes only after all writes. */
void op_pusha(struct cpu *c, const struct insn *d)
{
	unsigned sz = d->osz;
	u64 rsp = c->gpr[R_RSP];

	for (unsigned i = 0; i < 8; i++)
		mem_write(c, SEG_SS, stack_off(c, rsp - (i + 1) * sz), reg_read(c, i, sz), sz);
	set_rsp(c, rsp - 8 * sz);
}

/* Pops rDI rSI rBP, skips rSP, then rBX rDX rCX rAX; registers change only after all reads. */
void op_popa(struct cpu *c, const struct insn *d)
{
	unsigned sz = d->osz;
	u64 v[8];

	for (unsigned i = 0; i < 8; i++)
		v[7 - i] = cpu_peek(c, sz, i * sz);
	for (unsigned i = 0; i < 8; i++)
		if (i != R_RSP)
			reg_write(c, i, v[i], sz);
	cpu_pop_commit(c, 8 * sz);
}

/* --- SETcc, CMOVcc (SDM vol. 2B SETcc; vol. 2A CMOVcc) --- */

void op_setcc_rm(struct cpu *c, const struct insn *d)
{
	reg_write(c, d->rm, flags_cond(c, d->sub), 1);
}

void op_setcc_m(struct cpu *c, const struct insn *d)
{
	mem_write(c, d->seg, insn_ea(c, d), flags_cond(c, d->sub), 1);
}

/* The source is read whatever the condition; a 32-bit destination is zero-extended even when
   the condition is false. */
static always_inline void cmov(struct cpu *c, const struct insn *d, u64 v)
{
	if (flags_cond(c, d->sub))
		reg_write(c, d->reg, v, d->osz);
	else if (d->osz == 4)
		c->gpr[d->reg] = (u32)c->gpr[d->reg];
}

void op_cmovcc_r_rm(struct cpu *c, const struct insn *d)
{
	cmov(c, d, reg_read(c, d->rm, d->osz));
}

void op_cmovcc_r_m(struct cpu *c, const struct insn *d)
{
	cmov(c, d, mem_read(c, d->seg, insn_ea(c, d), d->osz));
}

/* --- Decode-time specialization --- */

#define SIZED_MOV_INCDEC(size)                                                                     \
	static void op_mov_rm_r_##size(struct cpu *c, const struct insn *d)                        \
	{                                                                                          \
		reg_write(c, d->rm, reg_read(c, d->reg, size), size);                              \
	}                                                                                          \
	static void op_mov_r_rm_##size(struct cpu *c, const struct insn *d)                        \
	{                                                                                          \
		reg_write(c, d->reg, reg_read(c, d->rm, size), size);                              \
	}                                                                                          \
	static void op_mov_rm_i_##size(struct cpu *c, const struct insn *d)                        \
	{                                                                                          \
		reg_write(c, d->rm, d->imm, size);                                                 \
	}                                                                                          \
	static void op_mov_m_r_##size(struct cpu *c, const struct insn *d)                         \
	{                                                                                          \
		mem_write(c, d->seg, insn_ea(c, d), reg_read(c, d->reg, size), size);              \
	}                                                                                          \
	static void op_mov_r_m_##size(struct cpu *c, const struct insn *d)                         \
	{                                                                                          \
		reg_write(c, d->reg, mem_read(c, d->seg, insn_ea(c, d), size), size);              \
	}                                                                                          \
	static void op_mov_m_i_##size(struct cpu *c, const struct insn *d)                         \
	{                                                                                          \
		mem_write(c, d->seg, insn_ea(c, d), d->imm, size);                                 \
	}                                                                                          \
	static void op_lea_##size(struct cpu *c, const struct insn *d)                             \
	{                                                                                          \
		reg_write(c, d->reg, insn_ea(c, d), size);                                         \
	}                                                                                          \
	static void op_inc_rm_##size(struct cpu *c, const struct insn *d)                          \
	{                                                                                          \
		incdec_reg(c, d->rm, size, LF_INC);                                                \
	}                                                                                          \
	static void op_dec_rm_##size(struct cpu *c, const struct insn *d)                          \
	{                                                                                          \
		incdec_reg(c, d->rm, size, LF_DEC);                                                \
	}
SIZED_MOV_INCDEC(4)
SIZED_MOV_INCDEC(8)

#define SPEC_ALU(name)                                                                             \
	SPEC(op_##name##_rm_r) SPEC(op_##name##_r_rm) SPEC(op_##name##_rm_i)                       \
	SPEC(op_##name##_m_r) SPEC(op_##name##_r_m) SPEC(op_##name##_m_i)
#define SPEC_LIST                                                                                  \
	SPEC_ALU(add) SPEC_ALU(or) SPEC_ALU(adc) SPEC_ALU(sbb) SPEC_ALU(and) SPEC_ALU(sub)         \
	SPEC_ALU(xor) SPEC_ALU(cmp) SPEC(op_mov_rm_r) SPEC(op_mov_r_rm) SPEC(op_mov_rm_i)         \
	SPEC(op_mov_m_r) SPEC(op_mov_r_m) SPEC(op_mov_m_i) SPEC(op_inc_rm) SPEC(op_dec_rm)         \
	SPEC(op_lea) SPEC(op_imul_r_rm) SPEC(op_imul_r_rm_imm)

insn_fn ops_specialize(insn_fn fn, unsigned osz)
{
	static const struct {
		insn_fn generic, s4, s8; /* NULL: keep the generic handler for that size */
	} map[] = {
#define SPEC(name) { name, name##_4, name##_8 },
		SPEC_LIST
#undef SPEC
		{ op_call_rel, NULL, op_call_rel_8 },
		{ op_ret_near, NULL, op_ret_near_8 },
	};
	if (osz != 4 && osz != 8)
		return fn;
	for (size_t i = 0; i < ARRAY_SIZE(map); i++) {
		if (map[i].generic == fn) {
			insn_fn s = osz == 4 ? map[i].s4 : map[i].s8;
			return s ? s : fn;
		}
	}
	return fn;
}
