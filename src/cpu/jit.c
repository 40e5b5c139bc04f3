// SPDX-License-Identifier: MIT
/*
 * The block compiler: hot blocks of 64-bit and flat 32-bit code become host x86-64 functions.
 *
 * Why. The interpreter's run loop spends about 14 host instructions per guest instruction on
 * dispatch (record the instruction and its RIP, advance RIP, an indirect call, the loop test) and
 * a register-form ALU handler as many again (docs/cpu.md, "Speed"). A compiled block has neither:
 * the common integer forms become a few host instructions each, and everything else becomes a
 * direct call of the interpreter's own handler with the state the run loop would have set up.
 *
 * Contract (the run loop in exec.c relies on it):
 *   - A compiled block is `u32 fn(struct cpu *c)`. It behaves exactly as the run loop's inner loop
 *     over the same instructions: guest state, lazy flags, c->rip, c->insn, c->insn_rip and the
 *     block's end (blk_end) are the same whenever a handler runs, and guest state and c->rip
 *     when the function returns (the run loop sets the rest anew). It returns how many of the
 *     block's instructions did not run (non-zero only when a handler set c->break_block).
 *   - Instructions the compiler knows (below) run inline and never fault: a memory access whose
 *     TLB entry does not allow the fast path runs the interpreter's handler for the whole
 *     instruction instead, which walks, faults or exits as usual. Faults and exits from handlers
 *     longjmp out of the compiled code as they do out of the run loop.
 *   - Only 64-bit code and flat 32-bit code (BLOCK_KEY_FLAT32: CS, DS, ES, SS flat, SS.B = 1) are
 *     compiled: CS, DS, ES and SS have base 0 and no limit checks there (SDM vol. 3A 3.2.4), so
 *     an address is the effective address (plus the FS/GS base in 64-bit mode), and the linear
 *     address of the block is its RIP, which the code embeds. exec.c drops the compiled code
 *     when a block is reached through another linear address or key.
 *   - 32-bit code (struct ctx m32) differs only in widths: effective addresses, ESP and EIP wrap
 *     at 4 GiB (gen_ea, the stack forms, rel_target); 16-bit addressing and FS/GS operands, whose
 *     bases and limits apply, are the handlers' (jit_compile), as are 66H stack ops and branches.
 *     32-bit register writes zero-extend in every mode (reg_write), as on the host.
 *
 * Inline forms, without LOCK (the list is forms_init; docs/cpu.md has it in words): the integer
 * ALU at every operand size with register, immediate and memory operands, ADC/SBB, TEST, IMUL,
 * INC/DEC/NOT/NEG, shifts, MOV/MOVZX/MOVSX/MOVSXD, CMOVcc, SETcc, NOPs, LEA, PUSH/POP, CALL,
 * RET, JMP and Jcc. Conditions use the host's own flags when the compiler knows the kind of the
 * lazy flags at that point (the host's ADD/SUB/logic/INC/DEC/NEG/ADC/SBB/shifts set CF ZF SF OF
 * PF as the guest's do, SDM vol. 1 Appendix B), else flags_cond(). A block ending in an inline
 * branch enters the next compiled block itself (gen_chain, gen_chain_known: direct branches are
 * linked). --stats counts where instructions ran (cpu_jit_stats).
 *
 * Host register use inside a compiled block: rbx = c (callee-saved, the only one pushed, which
 * also aligns the stack for calls), rax rcx rdx rsi rdi scratch.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "cpu/internal.h"
#include "cpu/ops.h"
#include "cpu/ops_core.h"
#include "cpu/sse_ops.h"

#define JIT_ARENA (64ull << 20)
#define JIT_LINKS (JIT_ARENA / 32) /* link records: more than the arena has jump sites */
#define JIT_BLOCK_MAX (24u << 10) /* more than 64 instructions' worst case */
#define JIT_FORMS 448                /* handler forms known (forms_init), by size */

#define JIT_SITES 1024 /* handler-call sites told apart by --stats; the last is "the rest" */

struct jit_form {
	insn_fn fn;
	u8 kind, op, osz;
};

struct jit {
	u8 *base;
	size_t used;
	bool full;
	struct jit_form forms[JIT_FORMS];
	unsigned nforms;
	struct block **jc;
	const struct insn **blk_end;
	bool stats; /* emit the counters of cpu_jit_stats */
	bool lock_atomic; /* jit_set_lock_atomic: LOCK forms go to their handlers */
	u64 blocks, code_bytes;
	unsigned nsites;
	struct cpu_jit_site sites[JIT_SITES]; /* --stats: handler calls by instruction form */
	FILE *perf_map; /* jit_perf_map() */
	struct jit_link *links; /* JIT_LINKS records of patched same-page jumps (jit_link_add) */
	size_t nlinks;
};

/* A jump in compiled code patched to enter a block's code directly (gen_chain_known): rel32
   ends at `site`; 0 sends it back to the probe that follows it. */
struct jit_link {
	u8 *site;
	struct jit_link *next; /* the target block's list (block.links_in) */
};

/* --- What an instruction is, by the handler the decoder chose --- */

enum form_kind {
	F_ALU_RR,  /* rm op= reg */
	F_ALU_RRM, /* reg op= rm (register) */
	F_ALU_RI,  /* rm op= imm */
	F_ALU_MR,  /* mem op= reg */
	F_ALU_RM,  /* reg op= mem */
	F_ALU_MI,  /* mem op= imm */
	F_TEST_RR,
	F_INC,
	F_DEC,
	F_MOV_RR,  /* rm = reg */
	F_MOV_RRM, /* reg = rm */
	F_MOV_RI,  /* rm = imm */
	F_MOV_MR,  /* mem = reg */
	F_MOV_RM,  /* reg = mem */
	F_MOV_MI,  /* mem = imm */
	F_LEA,
	F_JCC,
	F_JMP,
	F_IMUL_RR,  /* reg = reg * rm (register) */
	F_IMUL_RRI, /* reg = rm * imm (register) */
	F_PUSH,
	F_POP,
	F_CALL,
	F_RET,
	F_SHIFT1,   /* SHL/SAL/SHR/SAR register, 1 */
	F_SHIFTI,   /* SHL/SAL/SHR/SAR register, imm8 */
	F_JMP_RM,   /* JMP register */
	F_JMP_M,    /* JMP memory */
	F_MOVX_RR,  /* MOVZX/MOVSX reg, r8/r16 */
	F_MOVX_RM,  /* MOVZX/MOVSX reg, m8/m16 */
	F_MOVN_RR,  /* MOV r8/r16, r8/r16 (88/89 and 8A/8B) */
	F_MOVN_MR,  /* MOV m8/m16, r8/r16 */
	F_MOVN_RM,  /* MOV r8/r16, m8/m16 */
	F_MOVN_MI,  /* MOV m8/m16, imm */
	F_TEST_RI,  /* TEST rm, imm (register) */
	F_CMOV,     /* CMOVcc reg, reg */
	F_SETCC,    /* SETcc r8 */
	F_NOP,      /* NOP, hint NOPs and PREFETCH: nothing at all */
	F_MOVSXD_RR, /* MOVSXD reg, reg */
	F_MOVSXD_RM, /* MOVSXD reg, mem */
	F_NOT,      /* NOT register */
	F_NEG,      /* NEG register */
	F_SHIFTCL,  /* SHL/SAL/SHR/SAR register, CL */
	F_ADC_RR,   /* ADC/SBB rm op= reg (registers; op OP_ADD for ADC, OP_SUB for SBB) */
	F_ADC_RRM,  /* ADC/SBB reg op= rm (register) */
	F_ADC_RI,   /* ADC/SBB rm op= imm (register) */
	F_ROT,      /* ROL/ROR register, 1 or imm8 (form_of: from the shift forms) */
	F_SSE_OP,    /* SSE2 integer/bitwise xmm op= xmm/m128 (op: the host's 66 0F opcode) */
	F_SSE_PSHUFD, /* PSHUFD xmm, xmm/m128, imm8 */
	F_SSE_LOAD,  /* MOVDQA/MOVDQU/MOVAPS/... xmm, xmm/m128 (op 1: aligned) */
	F_SSE_STORE, /* the same, xmm/m128, xmm */
};

enum { OP_ADD, OP_OR, OP_AND, OP_SUB, OP_XOR, OP_CMP, OP_TEST };

static void forms_add(struct jit *j, insn_fn generic, enum form_kind kind, unsigned op)
{
	if (j->nforms + 2 > JIT_FORMS)
		abort(); /* JIT_FORMS is too small for forms_init */
	for (unsigned osz = 4; osz <= 8; osz += 4) {
		struct jit_form *f = &j->forms[j->nforms++];
		f->fn = ops_specialize(generic, osz);
		f->kind = (u8)kind;
		f->op = (u8)op;
		f->osz = (u8)osz;
	}
}

/* A narrow form: the generic handler, with 8- or 16-bit operands (osz 1 and 2). */
static void forms_add_narrow(struct jit *j, insn_fn fn, enum form_kind kind, unsigned op)
{
	if (j->nforms + 2 > JIT_FORMS)
		abort();
	for (u8 osz = 1; osz <= 2; osz++)
		j->forms[j->nforms++] =
			(struct jit_form){ .fn = fn, .kind = (u8)kind, .op = (u8)op, .osz = osz };
}

/* Every operand size: 1, 2, 4 and 8 bytes. */
static void forms_add_all(struct jit *j, insn_fn fn, enum form_kind kind, unsigned op)
{
	forms_add_narrow(j, fn, kind, op);
	forms_add(j, fn, kind, op);
}

static void forms_init(struct jit *j)
{
	static const struct {
		insn_fn rr, rrm, ri, mr, rm, mi;
		unsigned op;
	} alu[] = {
		{ op_add_rm_r, op_add_r_rm, op_add_rm_i, op_add_m_r, op_add_r_m, op_add_m_i, OP_ADD },
		{ op_or_rm_r, op_or_r_rm, op_or_rm_i, op_or_m_r, op_or_r_m, op_or_m_i, OP_OR },
		{ op_and_rm_r, op_and_r_rm, op_and_rm_i, op_and_m_r, op_and_r_m, op_and_m_i, OP_AND },
		{ op_sub_rm_r, op_sub_r_rm, op_sub_rm_i, op_sub_m_r, op_sub_r_m, op_sub_m_i, OP_SUB },
		{ op_xor_rm_r, op_xor_r_rm, op_xor_rm_i, op_xor_m_r, op_xor_r_m, op_xor_m_i, OP_XOR },
		{ op_cmp_rm_r, op_cmp_r_rm, op_cmp_rm_i, op_cmp_m_r, op_cmp_r_m, op_cmp_m_i, OP_CMP },
	};
	static const insn_fn jcc[16] = { op_jo, op_jno, op_jb,	op_jnb, op_jz, op_jnz,
					 op_jbe, op_jnbe, op_js, op_jns, op_jp, op_jnp,
					 op_jl, op_jnl, op_jle, op_jnle };

	for (size_t i = 0; i < ARRAY_SIZE(alu); i++) {
		forms_add_all(j, alu[i].rr, F_ALU_RR, alu[i].op);
		forms_add_all(j, alu[i].rrm, F_ALU_RRM, alu[i].op);
		forms_add_all(j, alu[i].ri, F_ALU_RI, alu[i].op);
		forms_add_all(j, alu[i].mr, F_ALU_MR, alu[i].op);
		forms_add_all(j, alu[i].rm, F_ALU_RM, alu[i].op);
		forms_add_all(j, alu[i].mi, F_ALU_MI, alu[i].op);
	}
	forms_add_all(j, op_test_rm_r, F_TEST_RR, OP_TEST);
	forms_add_all(j, op_test_rm_i, F_TEST_RI, OP_TEST);
	forms_add(j, op_cmovcc_r_rm, F_CMOV, 0);
	forms_add_narrow(j, op_setcc_rm, F_SETCC, 0);
	forms_add_all(j, op_nop, F_NOP, 0);
	forms_add(j, op_movsxd_r_rm, F_MOVSXD_RR, 0);
	forms_add(j, op_movsxd_r_m, F_MOVSXD_RM, 0);
	forms_add(j, op_not_rm, F_NOT, 0);
	forms_add(j, op_neg_rm, F_NEG, 0);
	forms_add_narrow(j, op_shift_rm_1, F_SHIFT1, 0);
	forms_add_narrow(j, op_shift_rm_imm, F_SHIFTI, 0);
	forms_add(j, op_shift_rm_cl, F_SHIFTCL, 0);
	forms_add_all(j, op_test_m_r, F_ALU_MR, OP_TEST);
	forms_add_all(j, op_test_m_i, F_ALU_MI, OP_TEST);
	forms_add(j, op_adc_rm_r, F_ADC_RR, OP_ADD);
	forms_add(j, op_adc_r_rm, F_ADC_RRM, OP_ADD);
	forms_add(j, op_adc_rm_i, F_ADC_RI, OP_ADD);
	forms_add(j, op_sbb_rm_r, F_ADC_RR, OP_SUB);
	forms_add(j, op_sbb_r_rm, F_ADC_RRM, OP_SUB);
	forms_add(j, op_sbb_rm_i, F_ADC_RI, OP_SUB);
	forms_add(j, op_inc_rm, F_INC, 0);
	forms_add(j, op_dec_rm, F_DEC, 0);
	forms_add(j, op_mov_rm_r, F_MOV_RR, 0);
	forms_add(j, op_mov_r_rm, F_MOV_RRM, 0);
	forms_add(j, op_mov_rm_i, F_MOV_RI, 0);
	forms_add(j, op_mov_m_r, F_MOV_MR, 0);
	forms_add(j, op_mov_r_m, F_MOV_RM, 0);
	forms_add(j, op_mov_m_i, F_MOV_MI, 0);
	forms_add(j, op_lea, F_LEA, 0);
	for (unsigned cc = 0; cc < 16; cc++)
		forms_add(j, jcc[cc], F_JCC, cc);
	forms_add(j, op_jmp_rel, F_JMP, 0);
	forms_add(j, op_imul_r_rm, F_IMUL_RR, 0);
	forms_add(j, op_imul_r_rm_imm, F_IMUL_RRI, 0);
	forms_add(j, op_push_r, F_PUSH, 0);
	forms_add(j, op_pop_r, F_POP, 0);
	forms_add(j, op_call_rel, F_CALL, 0);
	forms_add(j, op_ret_near, F_RET, 0);
	forms_add(j, op_shift_rm_1, F_SHIFT1, 0);
	forms_add(j, op_shift_rm_imm, F_SHIFTI, 0);
	forms_add(j, op_jmp_rm, F_JMP_RM, 0);
	forms_add(j, op_jmp_m, F_JMP_M, 0);
	/* op: 0 zero-extends, 1 sign-extends; the source size is in the opcode (movx_src_size). */
	forms_add(j, op_movzx_r_rm, F_MOVX_RR, 0);
	forms_add(j, op_movzx_r_m, F_MOVX_RM, 0);
	forms_add(j, op_movsx_r_rm, F_MOVX_RR, 1);
	forms_add(j, op_movsx_r_m, F_MOVX_RM, 1);
	/* SSE (issue 13): the 128-bit moves and the integer and bitwise SSE2 operations the
	   handler does lane by lane, which the host does in one instruction; no MXCSR in any. The
	   bitwise handlers serve ANDPS/ANDNPS/ORPS/XORPS and the PD forms too (the same bits).
	   Every operand size: SSE has none of its own (66 makes d->osz 2, REX.W 8). */
	static const struct {
		insn_fn fn;
		u8 opc;
	} sse[] = {
		{ sse_paddb, 0xfc }, { sse_paddw, 0xfd }, { sse_paddd, 0xfe }, { sse_paddq, 0xd4 },
		{ sse_psubb, 0xf8 }, { sse_psubw, 0xf9 }, { sse_psubd, 0xfa }, { sse_psubq, 0xfb },
		{ sse_pand, 0xdb },  { sse_pandn, 0xdf }, { sse_por, 0xeb },	{ sse_pxor, 0xef },
		{ sse_pcmpeqb, 0x74 }, { sse_pcmpeqw, 0x75 }, { sse_pcmpeqd, 0x76 },
	};
	for (unsigned i = 0; i < ARRAY_SIZE(sse); i++)
		forms_add_all(j, sse[i].fn, F_SSE_OP, sse[i].opc);
	forms_add_all(j, sse_pshufd, F_SSE_PSHUFD, 0);
	forms_add_all(j, sse_load_a, F_SSE_LOAD, 1);
	forms_add_all(j, sse_load_u, F_SSE_LOAD, 0);
	forms_add_all(j, sse_store_a, F_SSE_STORE, 1);
	forms_add_all(j, sse_store_u, F_SSE_STORE, 0);
	forms_add_narrow(j, op_mov_rm_r, F_MOVN_RR, 0);
	forms_add_narrow(j, op_mov_r_rm, F_MOVN_RR, 0);
	forms_add_narrow(j, op_mov_m_r, F_MOVN_MR, 0);
	forms_add_narrow(j, op_mov_r_m, F_MOVN_RM, 0);
	forms_add_narrow(j, op_mov_m_i, F_MOVN_MI, 0);
}

/* The masked count of an inline shift (ops_shift.c shift_reg_fast), 0 if not one. Byte and word
   shifts by their width or more leave CF undefined (SDM vol. 2B SAL/SAR/SHL/SHR): the handler's
   choice, not the host's, then. */
static unsigned shift_count(const struct insn *d, unsigned kind)
{
	if (d->mem || d->sub < 4)
		return 0; /* rotates and memory operands: the handler */
	unsigned n = (kind == F_SHIFT1 ? 1 : (u8)d->imm) & (d->osz == 8 ? 63 : 31);
	return n < d->osz * 8u ? n : 0;
}

/* The masked count of an inline ROL or ROR (sub 0, 1) of a register, 0 if not one: a zero count
   writes the register but no flag (the handler's); byte and word rotates only below their width,
   where every host rotates as shift_rotate does. */
static unsigned rot_count(const struct insn *d, unsigned kind)
{
	if (d->mem || d->sub > 1)
		return 0;
	unsigned n = (kind == F_SHIFT1 ? 1 : (u8)d->imm) & (d->osz == 8 ? 63 : 31);
	return n < d->osz * 8u ? n : 0;
}

/* op: the shift form the rotate came from (F_SHIFT1 or F_SHIFTI), for rot_count */
static const struct jit_form rot_forms[2] = { { .kind = F_ROT, .op = F_SHIFT1 },
					      { .kind = F_ROT, .op = F_SHIFTI } };

/* The lazy-flag kind of SHL/SAL (4, 6), SHR (5) or SAR (7). */
static unsigned shift_kind(unsigned sub)
{
	return sub == 5 ? LF_SHR : sub == 7 ? LF_SAR : LF_SHL;
}

/*
 * The inline form of d, or NULL: the handler must match and the operands be ones we model. A
 * LOCK-prefixed form compiles as the plain one when no other host thread runs a vCPU (its
 * handler then does a plain read-modify-write too, ops_atomic.c); with them, the handler's
 * compare-and-swap.
 */
static const struct jit_form *form_of(const struct jit *j, const struct insn *d)
{
	if ((d->lock && j->lock_atomic) || (d->flags & INSN_INVALID)) /* forms name their size */
		return NULL;
	for (unsigned i = 0; i < j->nforms; i++) {
		const struct jit_form *f = &j->forms[i];
		if (f->fn == d->fn && f->osz == d->osz) {
			if ((f->kind == F_IMUL_RR || f->kind == F_IMUL_RRI) && d->mem)
				return NULL; /* the handler serves both; only the register form here */
			if ((f->kind == F_SHIFT1 || f->kind == F_SHIFTI) && rot_count(d, f->kind))
				return &rot_forms[f->kind == F_SHIFTI];
			if ((f->kind == F_SHIFT1 || f->kind == F_SHIFTI) && !shift_count(d, f->kind))
				return NULL; /* a zero count changes nothing: the handler knows */
			if (f->kind == F_SHIFTCL && (d->mem || d->sub < 4))
				return NULL; /* rotates and memory operands */
			if (f->kind == F_SSE_PSHUFD && (d->pfx & (PFX_F2 | PFX_F3)))
				return NULL; /* PSHUFLW, PSHUFHW */
			return f;
		}
	}
	return NULL;
}

/* Sets every arithmetic flag from registers alone and cannot fault: nothing before it can read
   the flags an earlier instruction left. */
static bool writes_all_flags(const struct jit_form *f)
{
	return f && (f->kind == F_ALU_RR || f->kind == F_ALU_RRM || f->kind == F_ALU_RI ||
		     f->kind == F_TEST_RR || f->kind == F_TEST_RI || f->kind == F_IMUL_RR ||
		     f->kind == F_IMUL_RRI || f->kind == F_SHIFT1 || f->kind == F_SHIFTI ||
		     f->kind == F_NEG);
}

/* ALU with a memory operand: every flag, once its access completed (the record comes last, after
   the load and the store; a fault before it leaves the flags as they were). */
static bool alu_mem_writes_all_flags(const struct jit_form *f)
{
	return f && (f->kind == F_ALU_MR || f->kind == F_ALU_MI || f->kind == F_ALU_RM);
}

/* Leaves the flags alone, cannot fault and calls nothing. */
static bool flags_transparent(const struct jit_form *f)
{
	return f && (f->kind == F_MOV_RR || f->kind == F_MOV_RRM || f->kind == F_MOV_RI ||
		     f->kind == F_LEA || f->kind == F_MOVX_RR || f->kind == F_MOVN_RR ||
		     f->kind == F_NOP || f->kind == F_NOT || f->kind == F_MOVSXD_RR);
}

/* --- Host x86-64 encoding --- */

enum { RAX, RCX, RDX, RBX, RSP, RBP, RSI, RDI };

struct emit {
	u8 *p;
};

#define CPU_OFF(field) ((s32)offsetof(struct cpu, field))
#define GPR_OFF(r) (CPU_OFF(gpr) + 8 * (s32)(r))

static void b1(struct emit *e, u8 v)
{
	*e->p++ = v;
}

static void b4(struct emit *e, u32 v)
{
	memcpy(e->p, &v, 4);
	e->p += 4;
}

static void b8(struct emit *e, u64 v)
{
	memcpy(e->p, &v, 8);
	e->p += 8;
}

/* REX for operand width w, ModRM.reg r and ModRM.rm/base b; omitted when empty. Width 2 puts
   the operand-size prefix 66 first. (Byte registers are only ever al, cl, dl, bl here, which
   mean the same with or without REX.) */
static void rex(struct emit *e, unsigned w, unsigned r, unsigned b)
{
	if (w == 2)
		b1(e, 0x66);
	u8 v = (u8)(0x40 | (w == 8 ? 8 : 0) | (r >= 8 ? 4 : 0) | (b >= 8 ? 1 : 0));
	if (v != 0x40)
		b1(e, v);
}

/* Width 1 of an opcode whose bit 0 is the w bit (ALU, MOV, TEST, shift and group opcodes): the
   byte form. Other opcodes are only emitted with width 4 or 8. */
static u8 opc_w(unsigned w, u8 opc)
{
	return w == 1 ? (u8)(opc & ~1u) : opc;
}

/* opcode with ModRM [base + disp32] (base not rsp/r12, which would need a SIB). */
static void op_mem(struct emit *e, unsigned w, u8 opc, unsigned reg, unsigned base, s32 disp)
{
	rex(e, w, reg, base);
	b1(e, opc_w(w, opc));
	b1(e, (u8)(0x80 | (reg & 7) << 3 | (base & 7)));
	b4(e, (u32)disp);
}

/* Two-byte opcode 0F opc with ModRM [base + disp32] (base not rsp/r12). */
static void op0f_mem(struct emit *e, unsigned w, u8 opc, unsigned reg, unsigned base, s32 disp)
{
	rex(e, w, reg, base);
	b1(e, 0x0f);
	b1(e, opc);
	b1(e, (u8)(0x80 | (reg & 7) << 3 | (base & 7)));
	b4(e, (u32)disp);
}

/* opcode with ModRM register-direct: reg field r, rm field m. */
static void op_rr(struct emit *e, unsigned w, u8 opc, unsigned r, unsigned m)
{
	rex(e, w, r, m);
	b1(e, opc_w(w, opc));
	b1(e, (u8)(0xc0 | (r & 7) << 3 | (m & 7)));
}

/* Where byte register r lives in struct cpu: 16-19 are AH, CH, DH, BH (reg_read). */
static s32 byte_reg_off(unsigned r)
{
	return r >= 16 ? GPR_OFF(r - 16) + 1 : GPR_OFF(r);
}

static void ld(struct emit *e, unsigned w, unsigned reg, s32 off)
{
	op_mem(e, w, 0x8b, reg, RBX, off);
}

static void st(struct emit *e, unsigned w, unsigned reg, s32 off)
{
	op_mem(e, w, 0x89, reg, RBX, off);
}

/* mov dword [rbx+off], imm32 */
static void st_imm32(struct emit *e, s32 off, u32 imm)
{
	op_mem(e, 4, 0xc7, 0, RBX, off);
	b4(e, imm);
}

static void mov_imm(struct emit *e, unsigned reg, u64 v)
{
	if (v <= 0xffffffffull) {
		rex(e, 4, 0, reg);
		b1(e, (u8)(0xb8 | (reg & 7)));
		b4(e, (u32)v);
	} else if ((u64)(s64)(s32)v == v) {
		op_rr(e, 8, 0xc7, 0, reg);
		b4(e, (u32)v);
	} else {
		rex(e, 8, 0, reg);
		b1(e, (u8)(0xb8 | (reg & 7)));
		b8(e, v);
	}
}

/* mov qword [rbx+off], v */
static void st_imm64(struct emit *e, s32 off, u64 v)
{
	if ((u64)(s64)(s32)v == v) {
		op_mem(e, 8, 0xc7, 0, RBX, off);
		b4(e, (u32)v);
	} else {
		mov_imm(e, RAX, v);
		st(e, 8, RAX, off);
	}
}

/* Host opcode of "op r/m, r" for an ALU operation. */
static u8 alu_opc(unsigned op)
{
	static const u8 opc[] = { [OP_ADD] = 0x01, [OP_OR] = 0x09, [OP_AND] = 0x21,
				  [OP_SUB] = 0x29, [OP_XOR] = 0x31, [OP_CMP] = 0x29,
				  [OP_TEST] = 0x21 };
	return opc[op];
}

static u8 *jcc32(struct emit *e, unsigned cc)
{
	b1(e, 0x0f);
	b1(e, (u8)(0x80 | cc));
	b4(e, 0);
	return e->p;
}

static u8 *jmp32(struct emit *e)
{
	b1(e, 0xe9);
	b4(e, 0);
	return e->p;
}

/* Point the rel32 that ends at `after` to the current position. */
static void patch(struct emit *e, u8 *after)
{
	u32 rel = (u32)(e->p - after);
	memcpy(after - 4, &rel, 4);
}

/* return `left` to the run loop */
static void ret_left(struct emit *e, u32 left)
{
	mov_imm(e, RAX, left);
	b1(e, 0x5b); /* pop rbx */
	b1(e, 0xc3);
}

static void call_abs(struct emit *e, const void *fn)
{
	mov_imm(e, RAX, (u64)(uintptr_t)fn);
	b1(e, 0xff);
	b1(e, 0xd0); /* call rax */
}

/* --- Code for one instruction --- */

struct ctx {
	struct emit *e;
	struct jit *j;
	u32 key; /* the block's key: a branch stays at the same CPL and code size */
	/* Flat 32-bit code (BLOCK_KEY_FLAT32): operands of 4 bytes (66H: 2), 32-bit addresses,
	   ESP and EIP; else 64-bit code */
	bool m32;
	const struct insn *d;
	u64 rip, next; /* this instruction's RIP and the next one's */
	unsigned left; /* instructions after this one in the block */
	/* The lazy flags as compiled code left them: kind (LF_NONE = unknown) and size, and for
	   shifts the count (the host's OF is defined for a count of 1 only). */
	unsigned lf_kind, lf_size, lf_count;
	/* The host's arithmetic flags equal the guest's (the last flag-setting host instruction
	   was the guest operation's own). */
	bool host_flags;
	/* The host's CF is the guest's (host_flags, or after IMUL; INC/DEC keep it on both). */
	bool host_cf;
	/* This instruction's flags are overwritten before anything can read them (the next
	   instruction that is not flags_transparent() writes_all_flags()): skip recording them. */
	bool flags_dead;
	bool slow; /* gen_call is the slow path of an inline form (for --stats) */
	/* The block being compiled (a jump within its page links without the jump cache) */
	const struct block *self;
};

/* inc qword [rbx + off] */
static void gen_count(struct ctx *x, s32 off)
{
	op_mem(x->e, 8, 0xff, 0, RBX, off);
}

/* The --stats counter of handler calls of this instruction's form. */
static u64 *site_counter(struct jit *j, const struct insn *d, bool slow)
{
	/* ModRM.reg tells the operation apart in a group only (elsewhere it is a register) */
	struct cpu_jit_site key = { .opcode = d->opcode,
				    .sub = x86_opcode_group(d->opcode) ? d->sub : 0,
				    .osz = d->osz, .mem = d->mem, .slow = slow };
	unsigned i;

	for (i = 0; i < j->nsites; i++) {
		const struct cpu_jit_site *t = &j->sites[i];
		if (t->opcode == key.opcode && t->sub == key.sub && t->osz == key.osz &&
		    t->mem == key.mem && t->slow == key.slow)
			return &j->sites[i].calls;
	}
	if (i == JIT_SITES - 1) {
		/* Full: the last site counts the rest. */
		j->sites[i].opcode = 0xffff;
		return &j->sites[i].calls;
	}
	j->sites[i] = key;
	j->nsites++;
	return &j->sites[i].calls;
}

/*
 * Run the interpreter's handler for the instruction, set up as the run loop sets it up; then,
 * unless this is the last instruction, return to the run loop if the handler asked for it.
 */
static void gen_call(struct ctx *x)
{
	struct emit *e = x->e;

	if (x->j->stats) {
		mov_imm(e, RAX, (u64)(uintptr_t)site_counter(x->j, x->d, x->slow));
		b1(e, 0x48); /* inc qword [rax] */
		b1(e, 0xff);
		b1(e, 0x00);
	}
	/* blk_end for icount on faults (exec.c icount_unretire): stored here, where a handler
	   can fault, not at every block entry */
	mov_imm(e, RAX, (u64)(uintptr_t)(x->self->insns + x->self->n));
	mov_imm(e, RDI, (u64)(uintptr_t)x->j->blk_end);
	b1(e, 0x48); /* mov [rdi], rax */
	b1(e, 0x89);
	b1(e, 0x07);
	mov_imm(e, RSI, (u64)(uintptr_t)x->d);
	st(e, 8, RSI, CPU_OFF(insn));
	st_imm64(e, CPU_OFF(insn_rip), x->rip);
	st_imm64(e, CPU_OFF(rip), x->next);
	op_rr(e, 8, 0x89, RBX, RDI); /* mov rdi, rbx */
	call_abs(e, (const void *)x->d->fn);
	if (x->left) {
		/* cmp byte [rbx+break_block], 0; je over; return */
		op_mem(e, 4, 0x80, 7, RBX, CPU_OFF(break_block));
		b1(e, 0);
		b1(e, 0x74);
		u8 *rel = e->p++;
		ret_left(e, x->left);
		*rel = (u8)(e->p - rel - 1);
	} else {
		ret_left(e, 0); /* the handler set c->rip */
	}
	x->lf_kind = LF_NONE;
	x->host_flags = false;
	x->host_cf = false;
}

/* gen_call as the slow path of an inline form (counted apart by --stats) */
static void gen_slow_call(struct ctx *x)
{
	x->slow = true;
	gen_call(x);
	x->slow = false;
}

/* rax = the effective address (insn_ea), plus the FS/GS base when `seg` (seg_lin, 64-bit mode). */
static void gen_ea(struct ctx *x, bool seg)
{
	struct emit *e = x->e;
	const struct insn *d = x->d;

	if (d->base == BASE_RIP) {
		u64 ea = x->next + (u64)(s64)d->disp;
		mov_imm(e, RAX, d->asz == 8 ? ea : (u32)ea);
	} else {
		if (d->base != BASE_NONE)
			ld(e, 8, RAX, GPR_OFF(d->base));
		else
			mov_imm(e, RAX, 0);
		if (d->index != BASE_NONE) {
			ld(e, 8, RCX, GPR_OFF(d->index));
			/* lea rax, [rax + rcx << scale + disp32] */
			rex(e, 8, 0, 0);
			b1(e, 0x8d);
			b1(e, 0x84);
			b1(e, (u8)(d->scale << 6 | RCX << 3 | RAX));
			b4(e, (u32)d->disp);
		} else if (d->disp) {
			op_mem(e, 8, 0x8d, RAX, RAX, d->disp); /* lea rax, [rax + disp32] */
		}
		if (d->asz == 4)
			op_rr(e, 4, 0x89, RAX, RAX); /* mov eax, eax */
	}
	if (seg && (d->seg == SEG_FS || d->seg == SEG_GS))
		op_mem(e, 8, 0x03, RAX, RBX, CPU_OFF(seg_base) + 8 * d->seg); /* add rax, base */
}

/*
 * rax = host pointer for `size` bytes at linear rax when the TLB in use allows the access
 * without the slow path (lin_read_acc / lin_rmw_ptr); else jump to the returned patch point.
 */
static u8 *gen_tlb(struct ctx *x, bool write, unsigned size)
{
	struct emit *e = x->e;
	_Static_assert(sizeof(struct tlb_entry) == 32, "tlb entry size");
	_Static_assert(offsetof(struct tlb_entry, tag_r) == 0, "tag_r");
	_Static_assert(offsetof(struct tlb_entry, tag_w) == 8, "tag_w");
	_Static_assert(offsetof(struct tlb_entry, host) == 16, "host");

	/* rcx = &tlb[(rax >> 12) & (TLB_SIZE - 1)]: the index times 32 is rax >> 7, masked */
	op_rr(e, 4, 0x89, RAX, RCX);          /* mov ecx, eax */
	op_rr(e, 4, 0xc1, 5, RCX);            /* shr ecx, 7 */
	b1(e, 7);
	op_rr(e, 4, 0x81, 4, RCX);            /* and ecx, (TLB_SIZE - 1) << 5 */
	b4(e, (TLB_SIZE - 1) << 5);
	op_mem(e, 8, 0x03, RCX, RBX, CPU_OFF(tlb)); /* add rcx, [c->tlb] */
	/* The page of the last byte against the tag: an access that crosses into the next page
	   misses, since that page's tag can only be in the next slot. */
	op_mem(e, 8, 0x8d, RDX, RAX, (s32)size - 1); /* lea rdx, [rax + size - 1] */
	op_rr(e, 8, 0x81, 4, RDX);                   /* and rdx, ~0xfff */
	b4(e, (u32)PAGE_MASK);
	op_mem(e, 8, 0x3b, RDX, RCX, write ? 8 : 0); /* cmp rdx, [rcx + tag] */
	u8 *miss = jcc32(e, 0x5);                    /* jne */
	op_mem(e, 8, 0x03, RAX, RCX, 16);            /* add rax, [rcx + host] */
	return miss;
}

/* --- SSE (issue 13) --- */

static s32 xmm_off(unsigned r)
{
	return CPU_OFF(fpu.xmm) + 16 * (s32)r;
}

/* [pfx] 0F opc with host XMM register xr and [base + disp32], or [rax] when base is RAX. */
static void sse_op_mem(struct emit *e, u8 pfx, u8 opc, unsigned xr, unsigned base, s32 disp)
{
	if (pfx)
		b1(e, pfx);
	b1(e, 0x0f);
	b1(e, opc);
	if (base == RAX) {
		b1(e, (u8)(xr << 3)); /* mod 00, rm rax */
		return;
	}
	b1(e, (u8)(0x80 | xr << 3 | base));
	b4(e, (u32)disp);
}

/*
 * SSE availability as sse_check tests it (CR0.EM, CR0.TS, CR4.OSFXSR: #UD or #NM from the
 * handler), and for a memory operand rax = its host address after an aligned check when
 * `aligned` (legacy SSE's 128-bit operands, #GP(0) from the handler) and the TLB probe: every
 * way to the handler goes into slow[], *n of them.
 */
static void gen_sse_prologue(struct ctx *x, bool mem, bool write, bool aligned, u8 *slow[4],
			     unsigned *n)
{
	struct emit *e = x->e;

	op_mem(e, 4, 0xf7, 0, RBX, CPU_OFF(cr0)); /* test dword [cr0], EM | TS */
	b4(e, CR0_EM | CR0_TS);
	slow[(*n)++] = jcc32(e, 0x5);
	op_mem(e, 4, 0xf7, 0, RBX, CPU_OFF(cr4)); /* test dword [cr4], OSFXSR */
	b4(e, CR4_OSFXSR);
	slow[(*n)++] = jcc32(e, 0x4);
	if (!mem)
		return;
	gen_ea(x, true);
	if (aligned) {
		b1(e, 0xa8); /* test al, 15 */
		b1(e, 15);
		slow[(*n)++] = jcc32(e, 0x5);
	}
	slow[(*n)++] = gen_tlb(x, write, 16);
}

/* The slow path of an inline form, entered from the n jumps in miss[]: the interpreter's
   handler; both paths meet after it. */
static void gen_slow_from(struct ctx *x, u8 *const miss[], unsigned n)
{
	u8 *done = jmp32(x->e);
	unsigned kind = x->lf_kind, size = x->lf_size;

	for (unsigned i = 0; i < n; i++)
		patch(x->e, miss[i]);
	gen_slow_call(x);
	patch(x->e, done);
	/* The handler leaves the lazy flags as the fast path does (the host's are gone). */
	x->lf_kind = kind;
	x->lf_size = size;
	x->host_flags = false;
	x->host_cf = false;
}

/* The slow path of a memory form with one way in (its TLB probe's miss). */
static void gen_slow(struct ctx *x, u8 *miss)
{
	gen_slow_from(x, &miss, 1);
}

/* Lazy-flag record of an ALU result in rcx (a in rcx before, b in rdx), host op included. */
static void gen_alu_op(struct ctx *x, unsigned op, unsigned w, unsigned a, unsigned b)
{
	struct emit *e = x->e;
	bool logic = op == OP_OR || op == OP_AND || op == OP_XOR || op == OP_TEST;

	if (!logic && !x->flags_dead) {
		st(e, 8, a, CPU_OFF(lf_src1));
		st(e, 8, b, CPU_OFF(lf_src2));
	}
	op_rr(e, w, alu_opc(op), b, a); /* a op= b: the host sets the guest's flags */
	x->lf_kind = logic ? LF_LOGIC : op == OP_ADD ? LF_ADD : LF_SUB;
	x->lf_size = w;
}

static void gen_lf_commit(struct ctx *x, unsigned reg)
{
	if (x->flags_dead)
		return;
	st(x->e, 8, reg, CPU_OFF(lf_res));
	st_imm32(x->e, CPU_OFF(lf_op), LF(x->lf_kind, x->lf_size));
}

/* host reg = guest register gpr's low w bytes, zero-extended (reg_read; 16-19 are AH-BH). */
static void gen_ld_reg(struct ctx *x, unsigned w, unsigned reg, unsigned gpr)
{
	if (w >= 4)
		ld(x->e, w, reg, GPR_OFF(gpr));
	else
		op0f_mem(x->e, 4, w == 1 ? 0xb6 : 0xb7, reg, RBX,
			 w == 1 ? byte_reg_off(gpr) : GPR_OFF(gpr)); /* movzx */
}

/* Guest register gpr = host reg as reg_write writes w bytes: a 4-byte value zero-extended into
   the whole register (the host's 32-bit operations left it so), 1 and 2 bytes merged into it
   (SDM vol. 1 3.4.1.1). */
static void gen_st_reg(struct ctx *x, unsigned w, unsigned reg, unsigned gpr)
{
	if (w >= 4)
		st(x->e, 8, reg, GPR_OFF(gpr));
	else
		op_mem(x->e, w, 0x89, reg, RBX, w == 1 ? byte_reg_off(gpr) : GPR_OFF(gpr));
}

/* host reg = w bytes at host address rax, zero-extended */
static void gen_ld_mem(struct ctx *x, unsigned w, unsigned reg)
{
	if (w >= 4)
		op_mem(x->e, w, 0x8b, reg, RAX, 0);
	else
		op0f_mem(x->e, 4, w == 1 ? 0xb6 : 0xb7, reg, RAX, 0);
}

/* Load an operand value: register (zero-extended) or the immediate as the ALU uses it (alu_reg
   masks it to the size). */
static void gen_operand(struct ctx *x, unsigned w, unsigned reg, bool imm, unsigned gpr)
{
	if (imm)
		mov_imm(x->e, reg, x->d->imm & size_mask(w));
	else
		gen_ld_reg(x, w, reg, gpr);
}

/* Host flags equal to the guest's for condition cc from the known lazy kind (flags.c). */
static bool gen_flags_for(struct ctx *x, unsigned cc)
{
	struct emit *e = x->e;
	unsigned w = x->lf_size;
	bool reads_cf = cc == 2 || cc == 3 || cc == 6 || cc == 7;

	switch (x->lf_kind) {
	case LF_ADD:
	case LF_SUB:
	case LF_LOGIC:
		break;
	case LF_SHL:
	case LF_SHR:
	case LF_SAR:
		/* Right after the host's own shift only: CF ZF SF PF as flags.c computes them,
		   OF only for a count of 1 (SDM vol. 2B SAL/SAR/SHL/SHR "Flags Affected"). */
		if (!x->host_flags || (x->lf_count != 1 && (cc <= 1 || cc >= 12)))
			return false;
		return true;
	case LF_INC:
	case LF_DEC:
		if (reads_cf)
			return false; /* the host's INC/DEC leave CF alone */
		break;
	case LF_NEG:
	case LF_ADC:
	case LF_SBB:
		return x->host_flags; /* right after the host's own NEG, ADC or SBB */
	default:
		return false;
	}
	if (x->host_flags)
		return true;
	switch (x->lf_kind) {
	case LF_ADD:
	case LF_SUB:
		ld(e, 8, RCX, CPU_OFF(lf_src1));
		op_mem(e, w, x->lf_kind == LF_ADD ? 0x03 : 0x3b, RCX, RBX, CPU_OFF(lf_src2));
		break;
	case LF_LOGIC:
		ld(e, 8, RCX, CPU_OFF(lf_res));
		op_rr(e, w, 0x85, RCX, RCX); /* test */
		break;
	default:
		ld(e, 8, RCX, CPU_OFF(lf_src1));
		op_rr(e, w, 0xff, x->lf_kind == LF_INC ? 0 : 1, RCX);
		break;
	}
	x->host_flags = true; /* for what follows too (CMOVcc, SETcc and MOV keep them) */
	x->host_cf = x->lf_kind != LF_INC && x->lf_kind != LF_DEC;
	return true;
}

/*
 * Block to block. A compiled block starts with a prologue for the run loop (push rbx; mov rbx,
 * rdi) and jumps over its link entry, JIT_LINK_ENTRY bytes in, which does what the run loop
 * does before running a block that matters to compiled code (icount; blk_end and insn_rip are
 * set where a handler is called) and falls into the body.
 * A block ending in a branch enters the next compiled block through that entry, in the same host
 * frame, when the run loop would do nothing else first (no event, HLT, interrupt shadow or
 * timer due) and the jump cache has a compiled block for the target and key; else it returns
 * to the run loop. The key cannot have changed: only handlers change CPL or the code size, and
 * their blocks end by returning.
 *
 * A direct branch (its target known here) is also linked: the first time its jump-cache probe
 * finds block B, the code patches B into a compare and B's link entry into a jump, so later it
 * enters B after one compare of the jump-cache slot with B, no probe. That is exactly the probe's
 * outcome as long as the slot holds B: exec.c clears a block's slot whenever the block stops
 * being valid for its address (block_drop, a new address or key), a jump-cache flush clears
 * every slot, and compiled code and blocks go together (bc_flush_all), so a slot never holds
 * another block at a linked block's address.
 */
#define JIT_LINK_ENTRY 6 /* push rbx (1), mov rbx, rdi (3), jmp rel8 (2) */

/* As the run loop before running the block again: icount += n (and --stats' counts). */
static void gen_block_count(struct ctx *x)
{
	op_mem(x->e, 8, 0x81, 0, RBX, CPU_OFF(icount)); /* add qword [icount], n */
	b4(x->e, x->self->n);
	if (x->j->stats) {
		op_mem(x->e, 8, 0x81, 0, RBX, CPU_OFF(jit_stats.compiled));
		b4(x->e, x->self->n);
		gen_count(x, CPU_OFF(jit_stats.chained));
	}
}

/*
 * The run loop's pending work (run_blocks' first test): jump to the returned patch points.
 * Compiled code tests event_pending and the timers only: halted and intr_shadow are clear when
 * the run loop enters a block, and inside one only handlers set them (HLT, STI, MOV/POP SS, an
 * x87 wait for FERR#), which also set break_block, so the block returns before any chain.
 */
static void gen_pending(struct ctx *x, u8 *out[2])
{
	struct emit *e = x->e;

	op_mem(e, 4, 0x80, 7, RBX, CPU_OFF(event_pending));
	b1(e, 0);
	out[0] = jcc32(e, 0x5);
	ld(e, 8, RAX, CPU_OFF(icount));
	op_mem(e, 8, 0x3b, RAX, RBX, CPU_OFF(work_icount)); /* cmp rax, work_icount */
	out[1] = jcc32(e, 0x3);                             /* jae */
}

/* Return to the run loop, counting why under --stats. */
static void gen_ret_counted(struct ctx *x, s32 counter)
{
	if (x->j->stats)
		gen_count(x, counter);
	ret_left(x->e, 0);
}

/*
 * rcx = the jump-cache slot's block for the target in rdx (`loaded`: the slot's value is in rax
 * already); if it is a compiled block for rdx and the key, rsi = its code, else to the returned
 * patch points.
 */
static void gen_probe(struct ctx *x, bool loaded, u8 *out[5])
{
	struct emit *e = x->e;

	if (loaded) {
		op_rr(e, 8, 0x89, RAX, RCX);                  /* mov rcx, rax */
	} else {
		/* rcx = jc[jc_index(rdx, key)] */
		op_rr(e, 8, 0x89, RDX, RAX);                  /* mov rax, rdx */
		op_rr(e, 8, 0xc1, 5, RAX);                    /* shr rax, JC_BITS */
		b1(e, JC_BITS);
		op_rr(e, 8, 0x31, RDX, RAX);                  /* xor rax, rdx */
		op_rr(e, 4, 0x81, 6, RAX);                    /* xor eax, key */
		b4(e, x->key);
		op_rr(e, 4, 0x81, 4, RAX);                    /* and eax, JC_SIZE - 1 */
		b4(e, JC_SIZE - 1);
		mov_imm(e, RCX, (u64)(uintptr_t)x->j->jc);
		b1(e, 0x48);                                  /* mov rcx, [rcx + rax * 8] */
		b1(e, 0x8b);
		b1(e, 0x0c);
		b1(e, 0xc1);
	}
	op_rr(e, 8, 0x85, RCX, RCX);                          /* test rcx, rcx */
	out[0] = jcc32(e, 0x4);
	op_mem(e, 8, 0x3b, RDX, RCX, (s32)offsetof(struct block, lin)); /* cmp rdx, b->lin */
	out[1] = jcc32(e, 0x5);
	/* key and valid: cmp dword [rcx + key], key; cmp byte [rcx + valid], 0 */
	op_mem(e, 4, 0x81, 7, RCX, (s32)offsetof(struct block, key));
	b4(e, x->key);
	out[2] = jcc32(e, 0x5);
	op_mem(e, 4, 0x80, 7, RCX, (s32)offsetof(struct block, valid));
	b1(e, 0);
	out[3] = jcc32(e, 0x4);
	op_mem(e, 8, 0x8b, RSI, RCX, (s32)offsetof(struct block, jit)); /* mov rsi, b->jit */
	op_rr(e, 8, 0x85, RSI, RSI);
	out[4] = jcc32(e, 0x4);
}

/* jmp rsi + JIT_LINK_ENTRY */
static void gen_enter_rsi(struct ctx *x)
{
	struct emit *e = x->e;

	op_mem(e, 8, 0x8d, RAX, RSI, JIT_LINK_ENTRY); /* lea rax, [rsi + JIT_LINK_ENTRY] */
	b1(e, 0xff);                                  /* jmp rax */
	b1(e, 0xe0);
}

/* The block is done and c->rip = rdx, a target known only at run time (RET, JMP r/m). */
static void gen_chain(struct ctx *x)
{
	u8 *work[2], *nocode[5];

	gen_pending(x, work);
	gen_probe(x, false, nocode);
	gen_enter_rsi(x);
	for (unsigned i = 0; i < 2; i++)
		patch(x->e, work[i]);
	gen_ret_counted(x, CPU_OFF(jit_stats.ret_work));
	for (unsigned i = 0; i < 5; i++)
		patch(x->e, nocode[i]);
	gen_ret_counted(x, CPU_OFF(jit_stats.ret_nocode));
}

static u8 *jit_link_add(struct jit *j, u8 *site, struct block *b);

/* A known target's ways back to the run loop: pending work (nwork of them) and no compiled
   block; c->rip = target on either. */
static void gen_chain_returns(struct ctx *x, u64 target, u8 *work[2], unsigned nwork,
			      u8 *nocode[5])
{
	struct emit *e = x->e;

	if (nwork) {
		for (unsigned i = 0; i < nwork; i++)
			patch(e, work[i]);
		mov_imm(e, RDX, target);
		st(e, 8, RDX, CPU_OFF(rip));
		gen_ret_counted(x, CPU_OFF(jit_stats.ret_work));
	}
	for (unsigned i = 0; i < 5; i++)
		patch(e, nocode[i]);
	gen_ret_counted(x, CPU_OFF(jit_stats.ret_nocode));
}

/*
 * A target in the block's own page: its code was fetched through the same translation as the
 * block's (the block runs only while its page maps to the block's physical page, and a jump-cache
 * flush ends the running block, exec.c), so the jump needs no jump-cache compare. It is a plain
 * jmp, patched to the target's link entry the first time the probe finds it compiled
 * (jit_link_add) and back to the probe when that code goes (jit_unlink): QEMU's goto_tb within
 * a page.
 */
static void gen_chain_same_page(struct ctx *x, u64 target, u8 *work[2], unsigned nwork)
{
	struct emit *e = x->e;
	u8 *site, *nocode[5];

	site = jmp32(e); /* rel32 0: on to the probe below */
	mov_imm(e, RDX, target);
	st(e, 8, RDX, CPU_OFF(rip));
	gen_probe(x, false, nocode);
	op_rr(e, 8, 0x89, RCX, RDX); /* mov rdx, rcx: the block */
	mov_imm(e, RSI, (u64)(uintptr_t)site);
	mov_imm(e, RDI, (u64)(uintptr_t)x->j);
	call_abs(e, (const void *)jit_link_add);
	b1(e, 0xff); /* jmp rax: its link entry */
	b1(e, 0xe0);
	gen_chain_returns(x, target, work, nwork, nocode);
}

/* The block is done and goes on at `target`, known now: link (above). c->rip is stored only on
   the way back to the run loop. */
static void gen_chain_known(struct ctx *x, u64 target)
{
	struct emit *e = x->e;
	u8 *work[2], *nocode[5], *slow, *linked_b, *linked_jmp;
	struct block **slot = &x->j->jc[jc_index(target, x->key)];
	unsigned nwork = 0;

	/*
	 * Pending work is looked at on backward edges only (and by gen_chain's indirect ones): a
	 * cycle of blocks has one, since a forward edge raises RIP, so an event or timer waits at
	 * most one run of forward jumps (each block straight-line code) past where the run loop
	 * would have seen it. An interrupt may be taken at any instruction boundary (SDM vol. 3A
	 * 6.6); a later one is what a busier CPU gives too.
	 */
	if (target <= x->rip) {
		gen_pending(x, work);
		nwork = 2;
	}
	if ((target & PAGE_MASK) == (x->self->lin & PAGE_MASK)) {
		gen_chain_same_page(x, target, work, nwork);
		return;
	}
	b1(e, 0x48); /* mov rax, [slot] (moffs64) */
	b1(e, 0xa1);
	b8(e, (u64)(uintptr_t)slot);
	b1(e, 0x48); /* mov rcx, imm64: the linked block, none yet (no block is at 1) */
	b1(e, 0xb9);
	b8(e, 1);
	linked_b = e->p - 8;
	op_rr(e, 8, 0x39, RCX, RAX); /* cmp rax, rcx */
	slow = jcc32(e, 0x5);
	linked_jmp = jmp32(e); /* to the linked block's link entry */
	patch(e, slow);
	mov_imm(e, RDX, target);
	st(e, 8, RDX, CPU_OFF(rip));
	gen_probe(x, true, nocode);
	/* Link: the block into the compare, its link entry into the jump; then enter it. */
	mov_imm(e, RDI, (u64)(uintptr_t)linked_jmp);
	op_mem(e, 8, 0x8d, RAX, RSI, JIT_LINK_ENTRY); /* lea rax, [rsi + JIT_LINK_ENTRY] */
	op_rr(e, 8, 0x29, RDI, RAX);                   /* sub rax, rdi */
	op_mem(e, 4, 0x89, RAX, RDI, -4);              /* mov [rdi - 4], eax */
	mov_imm(e, RDI, (u64)(uintptr_t)linked_b);
	b1(e, 0x48); /* mov [rdi], rcx */
	b1(e, 0x89);
	b1(e, 0x0f);
	gen_enter_rsi(x);
	gen_chain_returns(x, target, work, nwork, nocode);
}

/* Branch to `target` or fall through to x->next, then on to the next block. */
static void gen_branch_end(struct ctx *x, int cc, u64 target)
{
	if (cc >= 0) {
		u8 *taken = jcc32(x->e, (unsigned)cc);
		gen_chain_known(x, x->next);
		patch(x->e, taken);
	}
	gen_chain_known(x, target);
}

/* The carry flag INC/DEC preserve (ops_core.c carry_in), into lf_src2. */
static void gen_carry_in(struct ctx *x)
{
	struct emit *e = x->e;

	if (x->host_cf) {
		/* The host's CF, whatever recorded it (its record may be dead: jit_compile) */
		b1(e, 0x0f); /* setc cl; movzx ecx, cl */
		b1(e, 0x92);
		b1(e, 0xc1);
		b1(e, 0x0f);
		b1(e, 0xb6);
		b1(e, 0xc9);
		st(e, 8, RCX, CPU_OFF(lf_src2));
		return;
	}
	switch (x->lf_kind) {
	case LF_INC:
	case LF_DEC:
	case LF_MUL:
		return; /* src2 already holds it */
	case LF_LOGIC:
		st_imm64(e, CPU_OFF(lf_src2), 0);
		return;
	case LF_ADD: /* CF = res < src1 */
	case LF_SUB: /* CF = src1 < src2 */
		ld(e, 8, RCX, x->lf_kind == LF_ADD ? CPU_OFF(lf_res) : CPU_OFF(lf_src1));
		op_mem(e, 8, 0x3b, RCX, RBX, x->lf_kind == LF_ADD ? CPU_OFF(lf_src1)
								  : CPU_OFF(lf_src2));
		b1(e, 0x0f); /* setb cl */
		b1(e, 0x92);
		b1(e, 0xc1);
		b1(e, 0x0f); /* movzx ecx, cl */
		b1(e, 0xb6);
		b1(e, 0xc9);
		st(e, 8, RCX, CPU_OFF(lf_src2));
		return;
	default: {
		u8 *inc, *dec;

		/* Not known here (a block's first flags, after a handler or an exit): an INC or DEC
		   record, a loop counter's, already holds the carry in src2, as carry_in says; any
		   other kind, or one with LF_CFOF, asks ops_carry_in. */
		ld(e, 4, RAX, CPU_OFF(lf_op));
		op_rr(e, 4, 0x81, 4, RAX); /* and eax, LF_CFOF | 0xff: the kind, or the flag */
		b4(e, LF_CFOF | 0xff);
		op_rr(e, 4, 0x81, 7, RAX); /* cmp eax, LF_INC */
		b4(e, LF_INC);
		inc = jcc32(e, 4); /* je */
		op_rr(e, 4, 0x81, 7, RAX); /* cmp eax, LF_DEC */
		b4(e, LF_DEC);
		dec = jcc32(e, 4); /* je */
		op_rr(e, 8, 0x89, RBX, RDI);
		call_abs(e, (const void *)ops_carry_in);
		st(e, 8, RAX, CPU_OFF(lf_src2));
		patch(e, inc);
		patch(e, dec);
		return;
	}
	}
}

/* Jump to the returned patch point if the branch target in rdx is not canonical (is_canonical). */
static u8 *gen_noncanonical(struct ctx *x)
{
	struct emit *e = x->e;

	op_rr(e, 8, 0x89, RDX, RCX); /* mov rcx, rdx */
	op_rr(e, 8, 0xc1, 4, RCX);   /* shl rcx, 16 */
	b1(e, 16);
	op_rr(e, 8, 0xc1, 7, RCX);   /* sar rcx, 16 */
	b1(e, 16);
	op_rr(e, 8, 0x39, RDX, RCX); /* cmp rcx, rdx */
	return jcc32(e, 0x5);
}

/* The stack and branch-target width of the block's code: 4 in flat 32-bit code, else 8. */
static unsigned word_size(const struct ctx *x)
{
	return x->m32 ? 4 : 8;
}

/* A relative branch's target as near_target computes it: EIP wraps at 4 GiB (SDM vol. 2A JMP). */
static u64 rel_target(const struct ctx *x)
{
	u64 t = x->next + x->d->imm;
	return x->m32 ? (u32)t : t;
}

/* Branch targets the run loop's handler would accept without #GP (near_target): 64-bit, and
   canonical; or 32-bit, whose flat CS has a 4 GiB limit. 16-bit targets (66H) go there. */
static bool target_ok(const struct ctx *x, u64 t)
{
	return x->d->osz == word_size(x) && (x->m32 || is_canonical(t));
}

static void gen_insn(struct ctx *x, const struct jit_form *f)
{
	struct emit *e = x->e;
	const struct insn *d = x->d;
	unsigned w = d->osz;
	u8 *miss = NULL;

	if (!f) {
		gen_call(x);
		return;
	}
	switch (f->kind) {
	case F_ALU_RR:
	case F_ALU_RRM:
	case F_ALU_RI: {
		unsigned dst = f->kind == F_ALU_RRM ? d->reg : d->rm;
		unsigned src = f->kind == F_ALU_RRM ? d->rm : d->reg;
		gen_ld_reg(x, w, RCX, dst);
		gen_operand(x, w, RDX, f->kind == F_ALU_RI, src);
		gen_alu_op(x, f->op, w, RCX, RDX);
		if (f->op != OP_CMP)
			gen_st_reg(x, w, RCX, dst);
		gen_lf_commit(x, RCX);
		x->host_flags = true;
		x->host_cf = true;
		break;
	}
	case F_IMUL_RR:
	case F_IMUL_RRI:
		/* LF_MUL: res = the low half, src2 = overflow (ops_muldiv.c flags_mul); the host
		   sets CF = OF = overflow, SF ZF PF undefined */
		ld(e, w, RDX, GPR_OFF(d->rm));
		if (f->kind == F_IMUL_RR) {
			ld(e, w, RCX, GPR_OFF(d->reg));
			rex(e, w, RCX, RDX); /* imul rcx, rdx: REX, 0F AF, ModRM */
			b1(e, 0x0f);
			b1(e, 0xaf);
			b1(e, (u8)(0xc0 | RCX << 3 | RDX));
		} else {
			op_rr(e, w, 0x69, RCX, RDX); /* imul rcx, rdx, imm32 */
			b4(e, (u32)d->imm);
		}
		st(e, 8, RCX, GPR_OFF(d->reg));
		if (!x->flags_dead) {
			b1(e, 0x0f); /* seto al; movzx eax, al */
			b1(e, 0x90);
			b1(e, 0xc0);
			b1(e, 0x0f);
			b1(e, 0xb6);
			b1(e, 0xc0);
			st(e, 8, RAX, CPU_OFF(lf_src2));
		}
		x->lf_kind = LF_MUL;
		x->lf_size = w;
		gen_lf_commit(x, RCX);
		x->host_flags = false;
		x->host_cf = true; /* CF = OF = the overflow */
		break;
	case F_TEST_RR:
	case F_TEST_RI:
		/* TEST: AND's flags, no result written (the host's AND leaves it in rcx) */
		gen_ld_reg(x, w, RCX, d->rm);
		gen_operand(x, w, RDX, f->kind == F_TEST_RI, d->reg);
		gen_alu_op(x, OP_TEST, w, RCX, RDX);
		gen_lf_commit(x, RCX);
		x->host_flags = true;
		x->host_cf = true;
		break;
	case F_CMOV:
		/* CMOVcc (SDM vol. 2A): the host's own, on the host's flags; a 32-bit destination
		   is zero-extended whatever the condition, as the host's 32-bit CMOVcc does. */
		if (!gen_flags_for(x, d->sub)) {
			gen_call(x);
			return;
		}
		ld(e, w, RCX, GPR_OFF(d->reg));
		op0f_mem(e, w, (u8)(0x40 | d->sub), RCX, RBX, GPR_OFF(d->rm));
		st(e, 8, RCX, GPR_OFF(d->reg));
		break;
	case F_SETCC:
		/* SETcc r8 (SDM vol. 2B): setcc byte [rbx + the register's byte] */
		if (!gen_flags_for(x, d->sub)) {
			gen_call(x);
			return;
		}
		op0f_mem(e, 4, (u8)(0x90 | d->sub), 0, RBX, byte_reg_off(d->rm));
		break;
	case F_NOP:
		break;
	case F_NOT:
		/* NOT (SDM vol. 2B): no flags, on the host either */
		ld(e, w, RCX, GPR_OFF(d->rm));
		op_rr(e, w, 0xf7, 2, RCX);
		st(e, 8, RCX, GPR_OFF(d->rm));
		break;
	case F_NEG:
		/* NEG: LF_NEG with src1 = the operand, src2 = 0 (op_neg_rm); the host's NEG sets the
		   guest's flags (SDM vol. 2B NEG) */
		ld(e, w, RCX, GPR_OFF(d->rm));
		if (!x->flags_dead) {
			st(e, 8, RCX, CPU_OFF(lf_src1));
			st_imm64(e, CPU_OFF(lf_src2), 0);
		}
		op_rr(e, w, 0xf7, 3, RCX);
		st(e, 8, RCX, GPR_OFF(d->rm));
		x->lf_kind = LF_NEG;
		x->lf_size = w;
		gen_lf_commit(x, RCX);
		x->host_flags = true;
		x->host_cf = true;
		break;
	case F_MOVSXD_RR:
	case F_MOVSXD_RM:
		/* MOVSXD (SDM vol. 2B MOVSX): with REX.W a dword sign-extended, else a 32-bit MOV
		   (op_movsxd_r_rm) */
		if (f->kind == F_MOVSXD_RR) {
			op_mem(e, w, w == 8 ? 0x63 : 0x8b, RCX, RBX, GPR_OFF(d->rm));
			st(e, 8, RCX, GPR_OFF(d->reg));
			break;
		}
		gen_ea(x, true);
		miss = gen_tlb(x, false, 4);
		op_mem(e, w, w == 8 ? 0x63 : 0x8b, RCX, RAX, 0);
		st(e, 8, RCX, GPR_OFF(d->reg));
		gen_slow(x, miss);
		return;
	case F_INC:
	case F_DEC:
		gen_carry_in(x);
		ld(e, w, RCX, GPR_OFF(d->rm));
		st(e, 8, RCX, CPU_OFF(lf_src1));
		op_rr(e, w, 0xff, f->kind == F_INC ? 0 : 1, RCX);
		st(e, 8, RCX, GPR_OFF(d->rm));
		x->lf_kind = f->kind == F_INC ? LF_INC : LF_DEC;
		x->lf_size = w;
		gen_lf_commit(x, RCX);
		x->host_flags = true;
		break;
	case F_MOV_RR:
	case F_MOV_RRM: {
		unsigned dst = f->kind == F_MOV_RR ? d->rm : d->reg;
		unsigned src = f->kind == F_MOV_RR ? d->reg : d->rm;
		ld(e, w, RCX, GPR_OFF(src));
		st(e, 8, RCX, GPR_OFF(dst));
		break;
	}
	case F_MOV_RI:
		st_imm64(e, GPR_OFF(d->rm), w == 8 ? d->imm : (u32)d->imm);
		break;
	case F_LEA:
		gen_ea(x, false); /* LEA ignores segments */
		if (w == 4)
			op_rr(e, 4, 0x89, RAX, RAX);
		st(e, 8, RAX, GPR_OFF(d->reg));
		break;
	case F_MOV_RM:
		gen_ea(x, true);
		miss = gen_tlb(x, false, d->osz);
		op_mem(e, w, 0x8b, RCX, RAX, 0); /* mov rcx, [rax + 0] */
		st(e, 8, RCX, GPR_OFF(d->reg));
		gen_slow(x, miss);
		return;
	case F_MOVX_RR:
	case F_MOVX_RM: {
		/* MOVZX/MOVSX (SDM vol. 2B): the host's own instruction, 0F B6/B7/BE/BF with the
		   guest's opcode; a 32-bit destination zero-extends into 64 bits (vol. 1 3.4.1.1). */
		unsigned size = d->opcode & 1 ? 2 : 1;
		u8 opc = (u8)((f->op ? 0xbe : 0xb6) | (size == 2));
		if (f->kind == F_MOVX_RR) {
			/* A byte register 16-19 is AH, CH, DH or BH: byte 1 of gpr 0-3. */
			s32 off = size == 1 ? byte_reg_off(d->rm) : GPR_OFF(d->rm);
			op0f_mem(e, w, opc, RCX, RBX, off);
			st(e, 8, RCX, GPR_OFF(d->reg));
			break;
		}
		gen_ea(x, true);
		miss = gen_tlb(x, false, size);
		op0f_mem(e, w, opc, RCX, RAX, 0);
		st(e, 8, RCX, GPR_OFF(d->reg));
		gen_slow(x, miss);
		return;
	}
	case F_MOVN_RR:
	case F_MOVN_MR:
	case F_MOVN_RM:
	case F_MOVN_MI: {
		/* 8- and 16-bit MOV: the value goes through ecx, zero-extended on loading, and is
		   stored with its width (the 66 prefix for a word); the rest of the destination
		   register stays (SDM vol. 1 3.4.1.1). Byte registers 16-19 are AH-BH. */
		u8 ld_op = w == 1 ? 0xb6 : 0xb7, st_op = w == 1 ? 0x88 : 0x89;
		s32 reg_off = w == 1 ? byte_reg_off(d->reg) : GPR_OFF(d->reg);
		if (f->kind == F_MOVN_RR) {
			s32 rm_off = w == 1 ? byte_reg_off(d->rm) : GPR_OFF(d->rm);
			bool to_rm = d->fn == op_mov_rm_r;
			op0f_mem(e, 4, ld_op, RCX, RBX, to_rm ? reg_off : rm_off);
			if (w == 2)
				b1(e, 0x66);
			op_mem(e, 4, st_op, RCX, RBX, to_rm ? rm_off : reg_off);
			break;
		}
		gen_ea(x, true);
		miss = gen_tlb(x, f->kind != F_MOVN_RM, w);
		if (f->kind == F_MOVN_RM) {
			op0f_mem(e, 4, ld_op, RCX, RAX, 0);
			if (w == 2)
				b1(e, 0x66);
			op_mem(e, 4, st_op, RCX, RBX, reg_off);
		} else if (f->kind == F_MOVN_MR) {
			op0f_mem(e, 4, ld_op, RCX, RBX, reg_off);
			if (w == 2)
				b1(e, 0x66);
			op_mem(e, 4, st_op, RCX, RAX, 0);
		} else {
			if (w == 2)
				b1(e, 0x66);
			op_mem(e, 4, w == 1 ? 0xc6 : 0xc7, 0, RAX, 0); /* mov [rax + 0], imm */
			b1(e, (u8)d->imm);
			if (w == 2)
				b1(e, (u8)(d->imm >> 8));
		}
		gen_slow(x, miss);
		return;
	}
	case F_MOV_MR:
	case F_MOV_MI:
		gen_ea(x, true);
		miss = gen_tlb(x, true, d->osz);
		if (f->kind == F_MOV_MR)
			ld(e, w, RCX, GPR_OFF(d->reg));
		else
			mov_imm(e, RCX, w == 8 ? d->imm : (u32)d->imm);
		op_mem(e, w, 0x89, RCX, RAX, 0);
		gen_slow(x, miss);
		return;
	case F_ALU_MR:
	case F_ALU_MI:
	case F_ALU_RM: {
		bool rmw = f->kind != F_ALU_RM && f->op != OP_CMP && f->op != OP_TEST;
		gen_ea(x, true);
		miss = gen_tlb(x, rmw, d->osz);
		if (f->kind == F_ALU_RM) {
			gen_ld_reg(x, w, RCX, d->reg);
			gen_ld_mem(x, w, RDX);
		} else {
			gen_ld_mem(x, w, RCX);
			gen_operand(x, w, RDX, f->kind == F_ALU_MI, d->reg);
		}
		gen_alu_op(x, f->op, w, RCX, RDX);
		if (rmw)
			op_mem(e, w, 0x89, RCX, RAX, 0);
		else if (f->kind == F_ALU_RM && f->op != OP_CMP)
			gen_st_reg(x, w, RCX, d->reg);
		gen_lf_commit(x, RCX);
		gen_slow(x, miss);
		return;
	}
	case F_SHIFT1:
	case F_SHIFTI: {
		/* shift_reg_fast: src1 = value before, src2 = masked count (not 0), res */
		unsigned n = shift_count(d, f->kind), sub = d->sub == 6 ? 4 : d->sub;
		gen_ld_reg(x, w, RCX, d->rm);
		if (!x->flags_dead) {
			st(e, 8, RCX, CPU_OFF(lf_src1));
			st_imm64(e, CPU_OFF(lf_src2), n);
		}
		op_rr(e, w, 0xc1, sub, RCX); /* shl/shr/sar rcx, n */
		b1(e, (u8)n);
		gen_st_reg(x, w, RCX, d->rm);
		x->lf_kind = shift_kind(sub);
		x->lf_size = w;
		x->lf_count = n;
		gen_lf_commit(x, RCX);
		x->host_flags = true;
		x->host_cf = true;
		break;
	}
	case F_ROT: {
		/*
		 * ROL/ROR (SDM vol. 2B RCL/RCR/ROL/ROR): the host's rotate of the register; CF and
		 * OF as ops_shift.c shift_rotate gives them (OF by its formula whatever the count),
		 * the other flags untouched: over the record beneath (LF_CFOF, internal.h), or into
		 * RFLAGS when the flags are materialized (LF_NONE). Nothing when they are dead.
		 */
		unsigned n = rot_count(d, f->op), bits = w * 8;
		gen_ld_reg(x, w, RCX, d->rm);
		op_rr(e, w, 0xc1, d->sub, RCX); /* rol/ror rcx, n */
		b1(e, (u8)n);
		gen_st_reg(x, w, RCX, d->rm);
		if (!x->flags_dead) {
			u8 *over, *done;

			/* rdx = MSB(res) (the result is zero-extended in rcx) */
			op_rr(e, 8, 0x89, RCX, RDX); /* mov rdx, rcx */
			op_rr(e, 8, 0xc1, 5, RDX);   /* shr rdx, bits - 1 */
			b1(e, (u8)(bits - 1));
			op_rr(e, 8, 0x89, RCX, RAX); /* mov rax, rcx */
			if (d->sub == 0) {
				/* ROL: CF = LSB(res), OF = MSB(res) ^ CF */
				op_rr(e, 4, 0x83, 4, RAX);  /* and eax, 1: CF */
				b1(e, 1);
				op_rr(e, 4, 0x31, RAX, RDX); /* xor edx, eax: OF */
				op_rr(e, 4, 0xc1, 4, RDX);   /* shl edx, 11 */
				b1(e, 11);
				op_rr(e, 4, 0x09, RAX, RDX); /* or edx, eax */
			} else {
				/* ROR: CF = MSB(res), OF = CF ^ bit bits-2 of res */
				op_rr(e, 8, 0xc1, 5, RAX); /* shr rax, bits - 2 */
				b1(e, (u8)(bits - 2));
				op_rr(e, 4, 0x83, 4, RAX);  /* and eax, 1 */
				b1(e, 1);
				op_rr(e, 4, 0x31, RDX, RAX); /* xor eax, edx: OF */
				op_rr(e, 4, 0xc1, 4, RAX);   /* shl eax, 11 */
				b1(e, 11);
				op_rr(e, 4, 0x09, RAX, RDX); /* or edx, eax */
			}
			_Static_assert(X86_CF == 1 && X86_OF == 1u << 11, "CF, OF bits");
			op_mem(e, 4, 0x81, 7, RBX, CPU_OFF(lf_op)); /* cmp dword [lf_op], LF_NONE */
			b4(e, LF_NONE);
			over = jcc32(e, 5); /* jne: a record to lay CF and OF over */
			ld(e, 8, RAX, CPU_OFF(rflags));
			op_rr(e, 8, 0x81, 4, RAX); /* and rax, ~(CF | OF) */
			b4(e, (u32)~(X86_CF | X86_OF));
			op_rr(e, 8, 0x09, RDX, RAX); /* or rax, rdx */
			st(e, 8, RAX, CPU_OFF(rflags));
			done = jmp32(e);
			patch(e, over);
			st(e, 4, RDX, CPU_OFF(lf_cfof));
			op_mem(e, 4, 0x81, 1, RBX, CPU_OFF(lf_op)); /* or dword [lf_op], LF_CFOF */
			b4(e, LF_CFOF);
			patch(e, done);
		}
		x->lf_kind = LF_NONE;
		x->host_flags = false;
		x->host_cf = false;
		break;
	}
	case F_SSE_OP:
	case F_SSE_PSHUFD:
	case F_SSE_LOAD: {
		/* xmm1 = the source (an XMM register, or 16 bytes of memory); then the host's own
		   instruction (SDM vol. 2: PADDx/PSUBx/PAND/PANDN/POR/PXOR/PCMPEQx/PSHUFD do on
		   the host what the handler does lane by lane) into xmm0, stored to XMM[reg] */
		u8 *slow[4];
		unsigned n = 0;
		gen_sse_prologue(x, d->mem, false, f->kind != F_SSE_LOAD || f->op, slow, &n);
		if (d->mem)
			sse_op_mem(e, 0xf3, 0x6f, 1, RAX, 0); /* movdqu xmm1, [rax] */
		else
			sse_op_mem(e, 0xf3, 0x6f, 1, RBX, xmm_off(d->rm));
		if (f->kind == F_SSE_LOAD) {
			sse_op_mem(e, 0xf3, 0x7f, 1, RBX, xmm_off(d->reg)); /* movdqu [reg], xmm1 */
		} else {
			if (f->kind == F_SSE_OP) {
				sse_op_mem(e, 0xf3, 0x6f, 0, RBX, xmm_off(d->reg));
				b1(e, 0x66); /* op xmm0, xmm1 */
				b1(e, 0x0f);
				b1(e, f->op);
				b1(e, 0xc1);
			} else {
				b1(e, 0x66); /* pshufd xmm0, xmm1, imm8 */
				b1(e, 0x0f);
				b1(e, 0x70);
				b1(e, 0xc1);
				b1(e, (u8)d->imm);
			}
			sse_op_mem(e, 0xf3, 0x7f, 0, RBX, xmm_off(d->reg)); /* movdqu [reg], xmm0 */
		}
		gen_slow_from(x, slow, n);
		return;
	}
	case F_SSE_STORE: {
		/* XMM[reg] to an XMM register (ModRM.rm) or 16 bytes of memory */
		u8 *slow[4];
		unsigned n = 0;
		gen_sse_prologue(x, d->mem, true, f->op, slow, &n);
		sse_op_mem(e, 0xf3, 0x6f, 0, RBX, xmm_off(d->reg)); /* movdqu xmm0, [reg] */
		if (d->mem)
			sse_op_mem(e, 0xf3, 0x7f, 0, RAX, 0); /* movdqu [rax], xmm0 */
		else
			sse_op_mem(e, 0xf3, 0x7f, 0, RBX, xmm_off(d->rm));
		gen_slow_from(x, slow, n);
		return;
	}
	case F_SHIFTCL: {
		/* shift_rotate by CL: a masked count of 0 changes no flag and writes the register
		   back (zero-extending a 32-bit one); else shift_reg_fast's record. The kind of
		   the flags is then known at run time only. */
		unsigned sub = d->sub == 6 ? 4 : d->sub;
		ld(e, w, RDX, GPR_OFF(d->rm));
		op0f_mem(e, 4, 0xb6, RCX, RBX, GPR_OFF(R_RCX)); /* movzx ecx, byte [guest rcx] */
		op_rr(e, 4, 0x83, 4, RCX);                      /* and ecx, mask */
		b1(e, w == 8 ? 63 : 31);
		u8 *zero = jcc32(e, 0x4);
		st(e, 8, RDX, CPU_OFF(lf_src1));
		st(e, 8, RCX, CPU_OFF(lf_src2));
		op_rr(e, w, 0xd3, sub, RDX); /* shl/shr/sar rdx, cl */
		st(e, 8, RDX, CPU_OFF(lf_res));
		st_imm32(e, CPU_OFF(lf_op), LF(shift_kind(sub), w));
		patch(e, zero);
		st(e, 8, RDX, GPR_OFF(d->rm));
		x->lf_kind = LF_NONE;
		x->host_flags = false;
		x->host_cf = false;
		break;
	}
	case F_ADC_RR:
	case F_ADC_RRM:
	case F_ADC_RI: {
		/* ADC/SBB (ops_core.c alu_compute): res = a +/- b +/- CF, recorded as LF_ADC/LF_SBB
		   when CF was set, else LF_ADD/LF_SUB. The host's own ADC/SBB on the guest's CF. */
		unsigned dst = f->kind == F_ADC_RRM ? d->reg : d->rm;
		unsigned src = f->kind == F_ADC_RRM ? d->rm : d->reg;
		bool imm = f->kind == F_ADC_RI;
		bool add = f->op == OP_ADD;
		if (!x->host_cf && !gen_flags_for(x, 2)) {
			op_rr(e, 8, 0x89, RBX, RDI);
			call_abs(e, (const void *)ops_carry_in);
			b1(e, 0x0f); /* bt eax, 0: CF = the carry */
			b1(e, 0xba);
			b1(e, 0xe0);
			b1(e, 0);
		}
		/* from here to the ADC/SBB only MOV and CMOV: the host's CF stays */
		gen_ld_reg(x, w, RCX, dst);
		gen_operand(x, w, RDX, imm, src);
		mov_imm(e, RAX, LF(add ? LF_ADD : LF_SUB, w));
		mov_imm(e, RSI, LF(add ? LF_ADC : LF_SBB, w));
		b1(e, 0x0f); /* cmovc eax, esi */
		b1(e, 0x42);
		b1(e, (u8)(0xc0 | RAX << 3 | RSI));
		st(e, 8, RCX, CPU_OFF(lf_src1));
		st(e, 8, RDX, CPU_OFF(lf_src2));
		op_rr(e, w, add ? 0x11 : 0x19, RDX, RCX); /* adc/sbb rcx, rdx */
		gen_st_reg(x, w, RCX, dst);
		st(e, 8, RCX, CPU_OFF(lf_res));
		st(e, 4, RAX, CPU_OFF(lf_op));
		x->lf_kind = add ? LF_ADC : LF_SBB; /* or LF_ADD/LF_SUB: the host's flags tell */
		x->lf_size = w;
		x->host_flags = true;
		x->host_cf = true;
		break;
	}
	case F_JMP_RM:
	case F_JMP_M: {
		/* 64-bit mode: the target is 8 bytes and must be canonical (near_target); flat
		   32-bit code: 4 bytes, zero-extended, within the 4 GiB limit */
		u8 *noncanon = NULL;
		unsigned sz = word_size(x);
		if (d->osz != sz) {
			gen_call(x);
			return;
		}
		if (f->kind == F_JMP_M) {
			gen_ea(x, true);
			miss = gen_tlb(x, false, d->osz);
			op_mem(e, sz, 0x8b, RDX, RAX, 0);  /* mov rdx, [rax] */
		} else {
			ld(e, sz, RDX, GPR_OFF(d->rm));
		}
		if (!x->m32)
			noncanon = gen_noncanonical(x);
		st(e, 8, RDX, CPU_OFF(rip));
		gen_chain(x);
		if (f->kind == F_JMP_M) {
			patch(e, miss);
		}
		if (noncanon)
			patch(e, noncanon);
		gen_slow_call(x);
		return;
	}
	case F_PUSH:
	case F_CALL: {
		/* 64-bit mode: SS is flat, the stack 8 bytes wide (cpu_push, op_call_rel_8). Flat
		   32-bit code: SS flat with SS.B = 1, so ESP - 4 wraps at 4 GiB and is written
		   zero-extended (reg_write), the linear address being ESP itself. The value is read
		   before RSP changes: PUSH RSP pushes the old value; CALL pushes the next RIP's low
		   4 bytes. */
		u64 t = rel_target(x);
		unsigned sz = word_size(x);
		if (d->osz != sz || (f->kind == F_CALL && !target_ok(x, t))) {
			gen_call(x);
			return;
		}
		ld(e, sz, RAX, GPR_OFF(R_RSP));
		op_mem(e, sz, 0x8d, RAX, RAX, -(s32)sz); /* lea rax, [rax - sz] */
		op_rr(e, sz, 0x89, RAX, RSI);            /* mov rsi, rax */
		miss = gen_tlb(x, true, d->osz);
		if (f->kind == F_PUSH)
			ld(e, sz, RDX, GPR_OFF(d->rm));
		else
			mov_imm(e, RDX, x->next);
		op_mem(e, sz, 0x89, RDX, RAX, 0);
		st(e, 8, RSI, GPR_OFF(R_RSP));
		if (f->kind == F_CALL) {
			gen_branch_end(x, -1, t);
			patch(e, miss);
			gen_slow_call(x);
			return;
		}
		gen_slow(x, miss);
		return;
	}
	case F_POP:
	case F_RET: {
		/* POP: RSP moves before the register is written, so POP RSP loads the value
		   (op_pop_r). RET: the target must be canonical (op_ret_near_8), else the handler
		   raises the #GP; in flat 32-bit code any 4-byte target is within CS.limit.
		   32-bit ESP arithmetic wraps and zero-extends as reg_write does (cpu_pop_commit). */
		unsigned sz = word_size(x);
		if (d->osz != sz) {
			gen_call(x);
			return;
		}
		ld(e, sz, RAX, GPR_OFF(R_RSP));
		op_rr(e, sz, 0x89, RAX, RSI);            /* mov rsi, rax */
		miss = gen_tlb(x, false, d->osz);
		op_mem(e, sz, 0x8b, RDX, RAX, 0);        /* mov rdx, [rax] */
		if (f->kind == F_POP) {
			op_mem(e, sz, 0x8d, RSI, RSI, (s32)sz); /* lea rsi, [rsi + sz] */
			st(e, 8, RSI, GPR_OFF(R_RSP));
			st(e, 8, RDX, GPR_OFF(d->rm));
			gen_slow(x, miss);
			return;
		}
		u8 *noncanon = x->m32 ? NULL : gen_noncanonical(x);
		/* lea rsi, [rsi + sz + imm] */
		op_mem(e, sz, 0x8d, RSI, RSI, (s32)sz + (s32)(u16)d->imm);
		st(e, 8, RSI, GPR_OFF(R_RSP));
		st(e, 8, RDX, CPU_OFF(rip));
		gen_chain(x);
		patch(e, miss);
		if (noncanon)
			patch(e, noncanon);
		gen_slow_call(x);
		return;
	}
	case F_JMP: {
		u64 t = rel_target(x);
		if (!target_ok(x, t)) {
			gen_call(x);
			return;
		}
		gen_branch_end(x, -1, t);
		return;
	}
	case F_JCC: {
		u64 t = rel_target(x);
		if (!target_ok(x, t)) {
			gen_call(x);
			return;
		}
		if (!gen_flags_for(x, f->op)) {
			/* The kind is known at run time only (after a handler): ask flags.c, which
			   changes no guest state (under LF_CFOF it materializes the flags, the same
			   values), and branch on its answer; the handler would have sent the block
			   back to the run loop. */
			op_rr(e, 8, 0x89, RBX, RDI); /* mov rdi, rbx */
			mov_imm(e, RSI, f->op);
			call_abs(e, (const void *)flags_cond);
			b1(e, 0x84); /* test al, al: a bool is only al (SysV ABI) */
			b1(e, 0xc0);
			x->host_flags = false;
			x->host_cf = false;
			gen_branch_end(x, 0x5, t); /* jnz: taken when the condition holds */
			return;
		}
		gen_branch_end(x, f->op, t);
		return;
	}
	}
}

/* --- The compiler --- */

static FILE *jit_perf_map(void);

struct jit *jit_create(struct block **jc, const struct insn **blk_end)
{
	struct jit *j = calloc(1, sizeof(*j));
	if (!j)
		return NULL;
	j->base = mmap(NULL, JIT_ARENA, PROT_READ | PROT_WRITE | PROT_EXEC,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (j->base == MAP_FAILED) {
		/* No executable memory (a hardened kernel, say): the interpreter runs alone. */
		free(j);
		return NULL;
	}
	j->links = mmap(NULL, JIT_LINKS * sizeof(struct jit_link), PROT_READ | PROT_WRITE,
			MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (j->links == MAP_FAILED)
		j->links = NULL; /* no same-page links: every such jump probes */
	forms_init(j);
	j->perf_map = jit_perf_map();
	j->jc = jc;
	j->blk_end = blk_end;
	return j;
}

void jit_destroy(struct jit *j)
{
	if (!j)
		return;
	munmap(j->base, JIT_ARENA);
	if (j->links)
		munmap(j->links, JIT_LINKS * sizeof(struct jit_link));
	if (j->perf_map)
		fclose(j->perf_map);
	free(j);
}

/*
 * Environment TOLLBOOTH_PERF_MAP: a line "START SIZE guest_RIP_KEY" per compiled block, the
 * symbol map perf reads for JIT code (tools/perf/Documentation/jit-interface.txt), so `perf
 * report` names the guest blocks the time went to. "1" writes perf's own /tmp/perf-PID.map; any
 * other value is the file's path, "%p" in it becoming the PID. Opened once, before the sandbox;
 * the buffer is ours, as stdio would fstat the file at its first write (refused by then).
 */
static FILE *jit_perf_map(void)
{
	static char buf[1 << 16];
	const char *want = getenv("TOLLBOOTH_PERF_MAP");
	char path[4096];
	FILE *f;

	if (!want || !*want)
		return NULL;
	if (!strcmp(want, "1"))
		want = "/tmp/perf-%p.map";
	const char *p = strstr(want, "%p");
	if (p)
		snprintf(path, sizeof(path), "%.*s%d%s", (int)(p - want), want, (int)getpid(), p + 2);
	else
		snprintf(path, sizeof(path), "%s", want);
	f = fopen(path, "a");
	if (!f) {
		fprintf(stderr, "tollbooth: TOLLBOOTH_PERF_MAP: cannot open '%s' (%m); no perf map\n",
			path);
		return NULL;
	}
	setvbuf(f, buf, _IOFBF, sizeof(buf));
	return f;
}

bool jit_full(const struct jit *j)
{
	return j->full;
}

void jit_reset(struct jit *j)
{
	j->used = 0;
	j->full = false;
	j->nlinks = 0; /* the blocks holding the lists are gone with the code */
}

/*
 * From compiled code, the first time a same-page jump finds its target compiled (gen_chain_known):
 * patch the jump at `site` to b's link entry and list it with b, so that jit_unlink can undo it.
 * Returns the link entry to jump to now. Without room for the record the jump stays unpatched
 * and probes each time.
 */
static u8 *jit_link_add(struct jit *j, u8 *site, struct block *b)
{
	u8 *entry = (u8 *)(uintptr_t)b->jit + JIT_LINK_ENTRY;
	s32 rel = (s32)(entry - site);

	if (j->links && j->nlinks < JIT_LINKS) {
		struct jit_link *l = &j->links[j->nlinks++];

		l->site = site;
		l->next = b->links_in;
		b->links_in = l;
		memcpy(site - 4, &rel, 4);
	}
	return entry;
}

void jit_unlink(struct jit *j, struct block *b)
{
	static const s32 probe = 0;

	(void)j;
	for (struct jit_link *l = b->links_in; l; l = l->next)
		memcpy(l->site - 4, &probe, 4);
	b->links_in = NULL;
}

void jit_set_stats(struct jit *j, bool on)
{
	j->stats = on;
}

void jit_set_lock_atomic(struct jit *j, bool on)
{
	j->lock_atomic = on;
}

void jit_get_stats(const struct jit *j, struct cpu_jit_stats *s)
{
	s->calls = 0;
	for (unsigned i = 0; i < JIT_SITES; i++)
		s->calls += j->sites[i].calls;
	s->blocks = j->blocks;
	s->code_bytes = j->code_bytes;
}

unsigned jit_get_sites(const struct jit *j, struct cpu_jit_site *out, unsigned max)
{
	unsigned n = 0;

	for (unsigned i = 0; i < JIT_SITES && n < max; i++)
		if (j->sites[i].calls)
			out[n++] = j->sites[i];
	return n;
}

jit_fn jit_compile(struct jit *j, const struct block *b)
{
	const struct insn *insns = b->insns;
	unsigned n = b->n;
	u64 rip = b->lin;
	u32 key = b->key;

	if (JIT_ARENA - j->used < JIT_BLOCK_MAX) {
		j->full = true;
		return NULL;
	}
	struct emit e = { j->base + j->used };
	u8 *start = e.p;
	struct ctx x = { .e = &e, .j = j, .key = key, .m32 = key & BLOCK_KEY_FLAT32,
			 .lf_kind = LF_NONE, .self = b };

	b1(&e, 0x53);                       /* push rbx */
	op_rr(&e, 8, 0x89, RDI, RBX);       /* mov rbx, rdi */
	b1(&e, 0xeb);                       /* jmp body */
	u8 *over = e.p++;
	if (e.p - start != JIT_LINK_ENTRY)
		abort();
	/* The link entry: as the run loop before a block, icount += n. The run loop's blk_end
	   and insn_rip matter only while a handler runs: gen_call sets them. */
	gen_block_count(&x);
	*over = (u8)(e.p - over - 1);
	const struct jit_form *forms[n];
	for (unsigned i = 0; i < n; i++) {
		forms[i] = form_of(j, &insns[i]);
		/* Flat 32-bit code: 16-bit addressing (67H) and FS/GS, whose bases and limits apply
		   (seg_lin), are the handlers' */
		if (x.m32 && insns[i].mem &&
		    (insns[i].asz != 4 || insns[i].seg == SEG_FS || insns[i].seg == SEG_GS))
			forms[i] = NULL;
	}
	for (unsigned i = 0; i < n; i++) {
		const struct insn *d = &insns[i];
		unsigned k = i + 1;
		while (k < n && flags_transparent(forms[k]))
			k++;
		x.d = d;
		x.rip = rip;
		x.next = rip + d->len;
		x.left = n - 1 - i;
		/* INC and DEC write every flag but CF, which gen_carry_in then takes from the host
		   (host_cf holds after every writes_all_flags form) */
		x.flags_dead = writes_all_flags(forms[i]) && k < n &&
			       (writes_all_flags(forms[k]) ||
				(forms[k] && (forms[k]->kind == F_INC || forms[k]->kind == F_DEC)));
		/* A memory form's slow path joins with host_cf false, and a rotate leaves the host's
		   flags to no one: an INC/DEC after either would read CF from the record, so only
		   a form that writes every flag makes theirs dead. */
		if ((alu_mem_writes_all_flags(forms[i]) || (forms[i] && forms[i]->kind == F_ROT)) &&
		    k < n && writes_all_flags(forms[k]))
			x.flags_dead = true;
		gen_insn(&x, forms[i]);
		rip = x.next;
	}
	/* Fell off the end without a branch (page end or BLOCK_MAX_INSNS): RIP is the next one.
	   A branch or handler as the last instruction returned already; this is then dead. */
	st_imm64(&e, CPU_OFF(rip), rip);
	ret_left(&e, 0);
	if (e.p - start > (ptrdiff_t)JIT_BLOCK_MAX)
		abort(); /* JIT_BLOCK_MAX no longer bounds a block's code: raise it */
	j->used = (size_t)(e.p - j->base + 15) & ~(size_t)15;
	j->blocks++;
	j->code_bytes += (u64)(e.p - start);
	if (j->perf_map)
		fprintf(j->perf_map, "%lx %lx guest_%llx_%u\n", (unsigned long)(uintptr_t)start,
			(unsigned long)(e.p - start), (unsigned long long)b->lin, key);
	return (jit_fn)(void *)start;
}
