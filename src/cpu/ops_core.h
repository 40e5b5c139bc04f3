/* SPDX-License-Identifier: MIT */
/*
 * Core integer instruction handlers (ops_core.c), named by the decoder's tables (decode.c).
 * Operands follow struct insn (internal.h), with these decoder conventions:
 *   - `_rm_` / `_r_` names a register operand, `_m_` the ModRM memory operand, `_i` the immediate.
 *     op_X_rm_r: rm op= reg (register form of 00/01-style opcodes); op_X_m_r: memory op= reg;
 *     op_X_r_rm: reg op= rm (register form of 02/03-style opcodes); op_X_r_m: reg op= memory;
 *     op_X_rm_i: rm op= imm; op_X_m_i: memory op= imm.
 *   - Accumulator forms without ModRM (04/05, A8/A9, ...) have rm = R_RAX and use the _rm_i form.
 *   - "+r" opcodes (40-5F, 90-97, B0-BF) have reg = rm = opcode[2:0] + REX.B (8-bit: REG_AH..),
 *     except XCHG 90+r whose rm is R_RAX.
 *   - `sub` is the condition code for Jcc/SETcc/CMOVcc (Jcc also has one handler per code).
 */
#pragma once
#include "cpu/internal.h"

/* clang-format off */
#define ALU_FORMS(X, name)                                                                         \
	X(op_##name##_rm_r) X(op_##name##_m_r) X(op_##name##_r_rm) X(op_##name##_r_m)              \
	X(op_##name##_rm_i) X(op_##name##_m_i)

#define CORE_OPS_LIST(X)                                                                           \
	/* 00-3F, 80/81/83: ADD OR ADC SBB AND SUB XOR CMP */                                      \
	ALU_FORMS(X, add) ALU_FORMS(X, or) ALU_FORMS(X, adc) ALU_FORMS(X, sbb)                     \
	ALU_FORMS(X, and) ALU_FORMS(X, sub) ALU_FORMS(X, xor) ALU_FORMS(X, cmp)                    \
	/* TEST 84 85 A8 A9 F6/F7 /0 /1 */                                                         \
	X(op_test_rm_r) X(op_test_m_r) X(op_test_rm_i) X(op_test_m_i)                              \
	X(op_not_rm) X(op_not_m) X(op_neg_rm) X(op_neg_m)             /* F6/F7 /2 /3 */            \
	X(op_inc_rm) X(op_inc_m) X(op_dec_rm) X(op_dec_m)             /* FE/FF /0 /1, 40-4F */     \
	X(op_mov_rm_r) X(op_mov_m_r) X(op_mov_r_rm) X(op_mov_r_m)     /* 88-8B */                  \
	X(op_mov_rm_i) X(op_mov_m_i)                                  /* B0-BF, C6/C7 /0 */        \
	X(op_mov_acc_moffs) X(op_mov_moffs_acc)                       /* A0 A1, A2 A3 */           \
	X(op_lea)                                                     /* 8D */                     \
	X(op_xchg_rm_r) X(op_xchg_m_r)                                /* 86 87 90+r */             \
	X(op_nop)                                                     /* 90, hints, fences */      \
	X(op_clflush)                                 /* 0F AE /7, 66 0F AE /6 /7 memory */        \
	X(op_movzx_r_rm) X(op_movzx_r_m) X(op_movsx_r_rm) X(op_movsx_r_m) /* 0F B6 B7 BE BF */     \
	X(op_movsxd_r_rm) X(op_movsxd_r_m)                            /* 63 in 64-bit mode */      \
	X(op_cbw) X(op_cwd) X(op_lahf) X(op_sahf)                     /* 98 99 9F 9E */            \
	X(op_cmc) X(op_clc) X(op_stc) X(op_cld) X(op_std)             /* F5 F8 F9 FC FD */         \
	/* Jcc 70-7F, 0F 80-8F: one handler per condition code (SDM vol. 1 Table B-1) */           \
	X(op_jo) X(op_jno) X(op_jb) X(op_jnb) X(op_jz) X(op_jnz) X(op_jbe) X(op_jnbe)              \
	X(op_js) X(op_jns) X(op_jp) X(op_jnp) X(op_jl) X(op_jnl) X(op_jle) X(op_jnle)              \
	X(op_jmp_rel) X(op_jmp_rm) X(op_jmp_m)                        /* E9 EB, FF /4 */           \
	X(op_call_rel) X(op_call_rm) X(op_call_m) X(op_ret_near)      /* E8, FF /2, C3 C2 */       \
	X(op_push_r) X(op_push_i) X(op_push_m)                        /* 50+r, 68 6A, FF /6 */     \
	X(op_pop_r) X(op_pop_m)                                       /* 58+r, 8F /0 */            \
	X(op_pusha) X(op_popa)                                        /* 60 61 (not 64-bit) */     \
	X(op_setcc_rm) X(op_setcc_m) X(op_cmovcc_r_rm) X(op_cmovcc_r_m) /* 0F 90-9F, 0F 40-4F */
/* clang-format on */

#define X(name) void name(struct cpu *c, const struct insn *d);
CORE_OPS_LIST(X)
#undef X

/* The CF that INC and DEC preserve, from the lazy flags (for compiled code, jit.c). */
u64 ops_carry_in(struct cpu *c);

/* The size-specialized equivalent of a handler for osz 4 or 8, or fn itself. */
insn_fn ops_specialize(insn_fn fn, unsigned osz);
