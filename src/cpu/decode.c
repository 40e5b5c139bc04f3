// SPDX-License-Identifier: MIT
/*
 * The x86-64 instruction decoder: bytes -> struct insn (internal.h), once per block.
 *
 * Instruction format (SDM vol. 2A 2.1): legacy prefixes, REX (64-bit mode, only when it is the
 * last prefix, 2.2.1), opcode of map 0 (one byte), 1 (0F), 2 (0F 38) or 3 (0F 3A), ModRM, SIB,
 * displacement, immediate. VEX (C4/C5, 2.3.5), EVEX (62, 2.6) and AMD XOP (8F with map >= 8)
 * replace prefixes and escape bytes. Each map is a 256-entry table of struct opent: the handler for
 * the register form, the handler for the memory form, a group table selected by ModRM.reg, and
 * flags saying what follows the opcode and how the operand size is chosen. A NULL handler means
 * "not implemented or invalid": the instruction gets its correct length, op_ud and INSN_INVALID.
 *
 * Length contract: returns the length, or -1 if more than `avail` bytes would be needed. An
 * instruction longer than 15 bytes (only possible with redundant prefixes) returns its full length
 * (> 15) when it fits in `avail`; the caller raises #GP(0) for it (SDM vol. 2A 2.3.11).
 */
#include <stdio.h>

#include "cpu/fpu.h"
#include "cpu/ops.h"
#include "cpu/ops_core.h"
#include "cpu/sse.h"

/* Tables are laid out by hand. */
/* clang-format off */
/* Immediate kinds (SDM vol. 2A A.2.2 operand codes). */
enum imm_kind {
	I_NONE,
	I_B,     /* Ib, zero-extended */
	I_BS,    /* Ib, sign-extended (ALU, PUSH, IMUL) */
	I_W,     /* Iw */
	I_Z,     /* Iz: 2 bytes if osz == 2, else 4, sign-extended */
	I_V,     /* Iv: osz bytes (MOV B8+r, the only imm64) */
	I_WB,    /* ENTER Iw, Ib */
	I_PTR,   /* Ap: offset (Iz), then 16-bit selector */
	I_MOFFS, /* Ob/Ov: asz bytes */
	I_JB,    /* Jb */
	I_JZ,    /* Jz */
	I_BB,    /* two Ib (AMD SSE4a EXTRQ/INSERTQ) */
	I_D,     /* Id (AMD XOP map A) */
};

#define F_M BIT(0)      /* ModRM follows */
#define F_B BIT(1)      /* byte operation: osz = 1 */
#define F_D64 BIT(2)    /* 64-bit mode: default osz 8, 66 gives 2 (SDM vol. 2A 2.2.1.7) */
#define F_F64 BIT(3)    /* 64-bit mode: osz 8 regardless of 66 (near branches, Intel) */
#define F_E BIT(4)      /* ends the block */
#define F_I64 BIT(5)    /* invalid in 64-bit mode */
#define F_LK BIT(6)     /* LOCK allowed (memory form only), SDM vol. 2A LOCK */
#define F_RO BIT(7)     /* ModRM.mod ignored: always a register (MOV CR/DR) */
#define F_RM8 BIT(8)    /* rm is a byte operand although osz is not (MOVZX/MOVSX Eb) */
#define F_ACC BIT(9)    /* accumulator form without ModRM: rm = R_RAX */
#define F_PR BIT(10)    /* "+r" opcode: reg = rm = opcode[2:0] + REX.B */
#define F_STR BIT(11)   /* string instruction: memory at DS (or override):rSI / ES:rDI */
#define F_CC BIT(12)    /* sub = condition code, opcode[3:0] (Jcc, SETcc, CMOVcc) */
#define F_JCC BIT(13)   /* Jcc: F_CC, and the handler is jcc_fn[condition code] */
#define F_IO BIT(14)    /* IN/OUT/INS/OUTS: osz at most 4 */
#define F_IMM(k) ((u32)(k) << 16)
#define IMM_OF(fl) (((fl) >> 16) & 0xf)

struct opent {
	insn_fn fn;     /* register form, or the instruction if it has no memory form */
	insn_fn fn_mem; /* memory form */
	const struct opent *grp; /* 8 entries by ModRM.reg; their flags are added */
	u32 fl;
};

/* One handler for both forms. */
#define BOTH(f, fl) { f, f, NULL, fl }
#define REGF(f, fl) { f, NULL, NULL, fl }
#define MEMF(f, fl) { NULL, f, NULL, fl }
#define RM(fr, fm, fl) { fr, fm, NULL, fl }
#define GRP(g, fl) { NULL, NULL, g, fl }
#define LEN(fl) { NULL, NULL, NULL, fl } /* not implemented: length only */

/* --- Group tables (SDM vol. 2D Table A-6) --- */

#define ALU_GRP(name, lk) RM(op_##name##_rm_i, op_##name##_m_i, lk)
static const struct opent grp1[8] = {
	ALU_GRP(add, F_LK), ALU_GRP(or, F_LK),  ALU_GRP(adc, F_LK), ALU_GRP(sbb, F_LK),
	ALU_GRP(and, F_LK), ALU_GRP(sub, F_LK), ALU_GRP(xor, F_LK), ALU_GRP(cmp, 0),
};
static const struct opent grp1a[8] = { RM(op_pop_r, op_pop_m, F_D64) };
static const struct opent grp3b[8] = {
	RM(op_test_rm_i, op_test_m_i, F_IMM(I_B)),
	RM(op_test_rm_i, op_test_m_i, F_IMM(I_B)),
	RM(op_not_rm, op_not_m, F_LK),
	RM(op_neg_rm, op_neg_m, F_LK),
	BOTH(op_mul, 0),
	BOTH(op_imul1, 0),
	BOTH(op_div, 0),
	BOTH(op_idiv, 0),
};
static const struct opent grp3v[8] = {
	RM(op_test_rm_i, op_test_m_i, F_IMM(I_Z)),
	RM(op_test_rm_i, op_test_m_i, F_IMM(I_Z)),
	RM(op_not_rm, op_not_m, F_LK),
	RM(op_neg_rm, op_neg_m, F_LK),
	BOTH(op_mul, 0),
	BOTH(op_imul1, 0),
	BOTH(op_div, 0),
	BOTH(op_idiv, 0),
};
static const struct opent grp4[8] = {
	RM(op_inc_rm, op_inc_m, F_LK),
	RM(op_dec_rm, op_dec_m, F_LK),
};
static const struct opent grp5[8] = {
	RM(op_inc_rm, op_inc_m, F_LK),
	RM(op_dec_rm, op_dec_m, F_LK),
	RM(op_call_rm, op_call_m, F_F64 | F_E),
	MEMF(op_call_far_mem, F_E),
	RM(op_jmp_rm, op_jmp_m, F_F64 | F_E),
	MEMF(op_jmp_far_mem, F_E),
	RM(op_push_r, op_push_m, F_D64),
	LEN(0),
};
/* C6/C7: /0 MOV; C6 F8 XABORT Ib and C7 F8 XBEGIN Jz (RTM, not implemented) have the same
   immediate size as MOV, which the main table gives. */
static const struct opent grp11[8] = { RM(op_mov_rm_i, op_mov_m_i, 0) };
static const struct opent grp6[8] = {
	BOTH(op_sldt, 0), BOTH(op_str, 0),  BOTH(op_lldt, F_E), BOTH(op_ltr, F_E),
	BOTH(op_verr, 0), BOTH(op_verw, 0),
};
/* 0F 01 memory forms; register forms are found by the whole ModRM byte (grp7_reg). */
static const struct opent grp7[8] = {
	/* 64-bit mode: 10-byte operands whatever the prefixes (osz 8) */
	MEMF(op_sgdt, F_F64), MEMF(op_sidt, F_F64), MEMF(op_lgdt, F_F64 | F_E),
	MEMF(op_lidt, F_F64 | F_E),
	BOTH(op_smsw, 0), LEN(0),           BOTH(op_lmsw, F_E), MEMF(op_invlpg, F_E),
};
static const struct opent grp8[8] = {
	[4] = BOTH(op_bt_rm_imm, 0),
	[5] = BOTH(op_bt_rm_imm, F_LK),
	[6] = BOTH(op_bt_rm_imm, F_LK),
	[7] = BOTH(op_bt_rm_imm, F_LK),
};
/* 0F C7: /1 CMPXCHG8B/16B; /6 /7 VMX by prefix (decode_0f_c7). */
static const struct opent grp9[8] = { [1] = MEMF(op_cmpxchg8b16b, F_LK) };
/* 0F AE: /0 /1 memory FXSAVE FXRSTOR (x87); everything else is sse_decode()'s. */
static const struct opent grp15[8] = { { 0 } };

/* --- Map 0: one-byte opcodes (SDM vol. 2D Table A-2) --- */

#define ALU_ROW(n, name, lk)                                                                     \
	[n + 0] = RM(op_##name##_rm_r, op_##name##_m_r, F_M | F_B | (lk)),                       \
	[n + 1] = RM(op_##name##_rm_r, op_##name##_m_r, F_M | (lk)),                             \
	[n + 2] = RM(op_##name##_r_rm, op_##name##_r_m, F_M | F_B),                              \
	[n + 3] = RM(op_##name##_r_rm, op_##name##_r_m, F_M),                                    \
	[n + 4] = REGF(op_##name##_rm_i, F_B | F_ACC | F_IMM(I_B)),                              \
	[n + 5] = REGF(op_##name##_rm_i, F_ACC | F_IMM(I_Z))

#define SHIFT_GRP(fn, fl) BOTH(fn, F_M | (fl))

static const struct opent map0[256] = {
	ALU_ROW(0x00, add, F_LK),
	ALU_ROW(0x08, or, F_LK),
	ALU_ROW(0x10, adc, F_LK),
	ALU_ROW(0x18, sbb, F_LK),
	ALU_ROW(0x20, and, F_LK),
	ALU_ROW(0x28, sub, F_LK),
	ALU_ROW(0x30, xor, F_LK),
	ALU_ROW(0x38, cmp, 0),
	[0x06] = REGF(op_push_sreg, F_I64),
	[0x07] = REGF(op_pop_sreg, F_I64 | F_E),
	[0x0e] = REGF(op_push_sreg, F_I64),
	[0x16] = REGF(op_push_sreg, F_I64),
	[0x17] = REGF(op_pop_sreg, F_I64 | F_E),
	[0x1e] = REGF(op_push_sreg, F_I64),
	[0x1f] = REGF(op_pop_sreg, F_I64 | F_E),
	[0x27] = REGF(op_daa, F_I64),
	[0x2f] = REGF(op_das, F_I64),
	[0x37] = REGF(op_aaa, F_I64),
	[0x3f] = REGF(op_aas, F_I64),
	[0x40 ... 0x47] = REGF(op_inc_rm, F_PR), /* REX in 64-bit mode: never reached there */
	[0x48 ... 0x4f] = REGF(op_dec_rm, F_PR),
	[0x50 ... 0x57] = REGF(op_push_r, F_PR | F_D64),
	[0x58 ... 0x5f] = REGF(op_pop_r, F_PR | F_D64),
	[0x60] = REGF(op_pusha, F_I64),
	[0x61] = REGF(op_popa, F_I64),
	[0x62] = MEMF(op_bound, F_M | F_I64), /* EVEX in 64-bit mode and with mod 3 */
	[0x63] = RM(op_arpl, op_arpl, F_M),   /* MOVSXD in 64-bit mode (decode_special) */
	[0x68] = REGF(op_push_i, F_D64 | F_IMM(I_Z)),
	[0x69] = BOTH(op_imul_r_rm_imm, F_M | F_IMM(I_Z)),
	[0x6a] = REGF(op_push_i, F_D64 | F_IMM(I_BS)),
	[0x6b] = BOTH(op_imul_r_rm_imm, F_M | F_IMM(I_BS)),
	[0x6c] = REGF(op_ins, F_B | F_STR | F_E),
	[0x6d] = REGF(op_ins, F_IO | F_STR | F_E),
	[0x6e] = REGF(op_outs, F_B | F_STR | F_E),
	[0x6f] = REGF(op_outs, F_IO | F_STR | F_E),
	[0x70 ... 0x7f] = REGF(NULL, F_JCC | F_CC | F_F64 | F_E | F_IMM(I_JB)),
	[0x80] = GRP(grp1, F_M | F_B | F_IMM(I_B)),
	[0x81] = GRP(grp1, F_M | F_IMM(I_Z)),
	[0x82] = GRP(grp1, F_M | F_B | F_IMM(I_B) | F_I64),
	[0x83] = GRP(grp1, F_M | F_IMM(I_BS)),
	[0x84] = RM(op_test_rm_r, op_test_m_r, F_M | F_B),
	[0x85] = RM(op_test_rm_r, op_test_m_r, F_M),
	[0x86] = RM(op_xchg_rm_r, op_xchg_m_r, F_M | F_B | F_LK),
	[0x87] = RM(op_xchg_rm_r, op_xchg_m_r, F_M | F_LK),
	[0x88] = RM(op_mov_rm_r, op_mov_m_r, F_M | F_B),
	[0x89] = RM(op_mov_rm_r, op_mov_m_r, F_M),
	[0x8a] = RM(op_mov_r_rm, op_mov_r_m, F_M | F_B),
	[0x8b] = RM(op_mov_r_rm, op_mov_r_m, F_M),
	[0x8c] = BOTH(op_mov_rm_sreg, F_M),
	[0x8d] = MEMF(op_lea, F_M),
	[0x8e] = BOTH(op_mov_sreg_rm, F_M | F_E),
	[0x8f] = GRP(grp1a, F_M), /* XOP when followed by map >= 8 */
	[0x90 ... 0x97] = REGF(op_xchg_rm_r, F_PR),
	[0x98] = REGF(op_cbw, 0),
	[0x99] = REGF(op_cwd, 0),
	[0x9a] = REGF(op_call_far_ptr, F_I64 | F_E | F_IMM(I_PTR)),
	[0x9b] = LEN(0), /* FWAIT */
	[0x9c] = REGF(op_pushf, F_D64),
	[0x9d] = REGF(op_popf, F_D64 | F_E),
	[0x9e] = REGF(op_sahf, 0),
	[0x9f] = REGF(op_lahf, 0),
	[0xa0] = REGF(op_mov_acc_moffs, F_B | F_IMM(I_MOFFS)),
	[0xa1] = REGF(op_mov_acc_moffs, F_IMM(I_MOFFS)),
	[0xa2] = REGF(op_mov_moffs_acc, F_B | F_IMM(I_MOFFS)),
	[0xa3] = REGF(op_mov_moffs_acc, F_IMM(I_MOFFS)),
	[0xa4] = REGF(op_movs, F_B | F_STR),
	[0xa5] = REGF(op_movs, F_STR),
	[0xa6] = REGF(op_cmps, F_B | F_STR),
	[0xa7] = REGF(op_cmps, F_STR),
	[0xa8] = REGF(op_test_rm_i, F_B | F_ACC | F_IMM(I_B)),
	[0xa9] = REGF(op_test_rm_i, F_ACC | F_IMM(I_Z)),
	[0xaa] = REGF(op_stos, F_B | F_STR),
	[0xab] = REGF(op_stos, F_STR),
	[0xac] = REGF(op_lods, F_B | F_STR),
	[0xad] = REGF(op_lods, F_STR),
	[0xae] = REGF(op_scas, F_B | F_STR),
	[0xaf] = REGF(op_scas, F_STR),
	[0xb0 ... 0xb7] = REGF(op_mov_rm_i, F_PR | F_B | F_IMM(I_B)),
	[0xb8 ... 0xbf] = REGF(op_mov_rm_i, F_PR | F_IMM(I_V)),
	[0xc0] = SHIFT_GRP(op_shift_rm_imm, F_B | F_IMM(I_B)),
	[0xc1] = SHIFT_GRP(op_shift_rm_imm, F_IMM(I_B)),
	[0xc2] = REGF(op_ret_near, F_F64 | F_E | F_IMM(I_W)),
	[0xc3] = REGF(op_ret_near, F_F64 | F_E),
	[0xc4] = MEMF(op_lxs, F_M | F_I64 | F_E), /* VEX in 64-bit mode and with mod 3 */
	[0xc5] = MEMF(op_lxs, F_M | F_I64 | F_E),
	[0xc6] = GRP(grp11, F_M | F_B | F_IMM(I_B)),
	[0xc7] = GRP(grp11, F_M | F_IMM(I_Z)),
	[0xc8] = REGF(op_enter, F_D64 | F_IMM(I_WB)),
	[0xc9] = REGF(op_leave, F_D64),
	[0xca] = REGF(op_ret_far, F_E | F_IMM(I_W)),
	[0xcb] = REGF(op_ret_far, F_E),
	[0xcc] = REGF(op_int3, F_E),
	[0xcd] = REGF(op_int, F_E | F_IMM(I_B)),
	[0xce] = REGF(op_into, F_I64 | F_E),
	[0xcf] = REGF(op_iret, F_E),
	[0xd0] = SHIFT_GRP(op_shift_rm_1, F_B),
	[0xd1] = SHIFT_GRP(op_shift_rm_1, 0),
	[0xd2] = SHIFT_GRP(op_shift_rm_cl, F_B),
	[0xd3] = SHIFT_GRP(op_shift_rm_cl, 0),
	[0xd4] = REGF(op_aam, F_I64 | F_IMM(I_B)),
	[0xd5] = REGF(op_aad, F_I64 | F_IMM(I_B)),
	[0xd6] = LEN(F_I64), /* SALC: undocumented, not implemented */
	[0xd7] = REGF(op_xlat, F_B),
	[0xd8 ... 0xdf] = LEN(F_M), /* x87 */
	[0xe0] = REGF(op_loopne, F_F64 | F_E | F_IMM(I_JB)),
	[0xe1] = REGF(op_loope, F_F64 | F_E | F_IMM(I_JB)),
	[0xe2] = REGF(op_loop, F_F64 | F_E | F_IMM(I_JB)),
	[0xe3] = REGF(op_jrcxz, F_F64 | F_E | F_IMM(I_JB)),
	[0xe4] = REGF(op_in, F_B | F_E | F_IMM(I_B)),
	[0xe5] = REGF(op_in, F_IO | F_E | F_IMM(I_B)),
	[0xe6] = REGF(op_out, F_B | F_E | F_IMM(I_B)),
	[0xe7] = REGF(op_out, F_IO | F_E | F_IMM(I_B)),
	[0xe8] = REGF(op_call_rel, F_F64 | F_E | F_IMM(I_JZ)),
	[0xe9] = REGF(op_jmp_rel, F_F64 | F_E | F_IMM(I_JZ)),
	[0xea] = REGF(op_jmp_far_ptr, F_I64 | F_E | F_IMM(I_PTR)),
	[0xeb] = REGF(op_jmp_rel, F_F64 | F_E | F_IMM(I_JB)),
	[0xec] = REGF(op_in, F_B | F_E),
	[0xed] = REGF(op_in, F_IO | F_E),
	[0xee] = REGF(op_out, F_B | F_E),
	[0xef] = REGF(op_out, F_IO | F_E),
	[0xf1] = REGF(op_int1, F_E),
	[0xf4] = REGF(op_hlt, F_E),
	[0xf5] = REGF(op_cmc, 0),
	[0xf6] = GRP(grp3b, F_M | F_B),
	[0xf7] = GRP(grp3v, F_M),
	[0xf8] = REGF(op_clc, 0),
	[0xf9] = REGF(op_stc, 0),
	[0xfa] = REGF(op_cli, F_E),
	[0xfb] = REGF(op_sti, F_E),
	[0xfc] = REGF(op_cld, 0),
	[0xfd] = REGF(op_std, 0),
	[0xfe] = GRP(grp4, F_M | F_B),
	[0xff] = GRP(grp5, F_M),
};

/* --- Map 1: 0F xx (SDM vol. 2D Table A-3). SSE/MMX/x87-state entries give lengths only. --- */

static const struct opent map1[256] = {
	[0x00] = GRP(grp6, F_M),
	[0x01] = GRP(grp7, F_M | F_E),
	[0x02] = BOTH(op_lar, F_M),
	[0x03] = BOTH(op_lsl, F_M),
	[0x05] = REGF(op_syscall, F_E),
	[0x06] = REGF(op_clts, F_E),
	[0x07] = REGF(op_sysret, F_E),
	[0x08] = REGF(op_invd, F_E),
	[0x09] = REGF(op_wbinvd, F_E),
	[0x0b] = LEN(F_E), /* UD2 */
	[0x0d] = BOTH(op_nop, F_M), /* PREFETCH/PREFETCHW */
	[0x0e] = LEN(0),            /* FEMMS */
	[0x0f] = LEN(F_M | F_IMM(I_B)), /* 3DNow!: the Ib is the opcode suffix */
	[0x10 ... 0x17] = LEN(F_M),
	[0x18 ... 0x1f] = BOTH(op_nop, F_M), /* hint NOPs, NOP Ev, ENDBR (SDM vol. 2B NOP) */
	[0x20] = REGF(op_mov_r_cr, F_M | F_RO | F_E),
	[0x21] = REGF(op_mov_r_dr, F_M | F_RO | F_E),
	[0x22] = REGF(op_mov_cr_r, F_M | F_RO | F_E),
	[0x23] = REGF(op_mov_dr_r, F_M | F_RO | F_E),
	[0x28 ... 0x2f] = LEN(F_M),
	[0x30] = REGF(op_wrmsr, F_E),
	[0x31] = REGF(op_rdtsc, 0),
	[0x32] = REGF(op_rdmsr, 0),
	[0x33] = REGF(op_rdpmc, 0),
	[0x34] = REGF(op_sysenter, F_E),
	[0x35] = REGF(op_sysexit, F_E),
	[0x37] = LEN(F_E), /* GETSEC */
	[0x40 ... 0x4f] = RM(op_cmovcc_r_rm, op_cmovcc_r_m, F_CC | F_M),
	[0x50 ... 0x6f] = LEN(F_M),
	[0x70 ... 0x73] = LEN(F_M | F_IMM(I_B)),
	[0x74 ... 0x76] = LEN(F_M),
	[0x77] = LEN(0), /* EMMS */
	[0x78] = LEN(F_M | F_F64 | F_E), /* VMREAD; 66/F2: SSE4a EXTRQ/INSERTQ Ib Ib */
	[0x79] = LEN(F_M | F_F64 | F_E), /* VMWRITE */
	[0x7c ... 0x7f] = LEN(F_M),
	[0x80 ... 0x8f] = REGF(NULL, F_JCC | F_CC | F_F64 | F_E | F_IMM(I_JZ)),
	[0x90 ... 0x9f] = RM(op_setcc_rm, op_setcc_m, F_CC | F_M | F_B),
	[0xa0] = REGF(op_push_sreg, F_D64),
	[0xa1] = REGF(op_pop_sreg, F_D64 | F_E),
	[0xa2] = REGF(op_cpuid, F_E),
	[0xa3] = BOTH(op_bt_rm_r, F_M),
	[0xa4] = BOTH(op_shld_imm, F_M | F_IMM(I_B)),
	[0xa5] = BOTH(op_shld_cl, F_M),
	[0xa6 ... 0xa7] = LEN(F_M), /* VIA PadLock */
	[0xa8] = REGF(op_push_sreg, F_D64),
	[0xa9] = REGF(op_pop_sreg, F_D64 | F_E),
	[0xaa] = LEN(F_E), /* RSM */
	[0xab] = BOTH(op_bts_rm_r, F_M | F_LK),
	[0xac] = BOTH(op_shrd_imm, F_M | F_IMM(I_B)),
	[0xad] = BOTH(op_shrd_cl, F_M),
	[0xae] = GRP(grp15, F_M),
	[0xaf] = BOTH(op_imul_r_rm, F_M),
	[0xb0] = BOTH(op_cmpxchg, F_M | F_B | F_LK),
	[0xb1] = BOTH(op_cmpxchg, F_M | F_LK),
	[0xb2] = MEMF(op_lxs, F_M | F_E),
	[0xb3] = BOTH(op_btr_rm_r, F_M | F_LK),
	[0xb4] = MEMF(op_lxs, F_M | F_E),
	[0xb5] = MEMF(op_lxs, F_M | F_E),
	[0xb6] = RM(op_movzx_r_rm, op_movzx_r_m, F_M | F_RM8),
	[0xb7] = RM(op_movzx_r_rm, op_movzx_r_m, F_M),
	[0xb8] = LEN(F_M), /* F3: POPCNT (decode_special); else JMPE */
	[0xb9] = LEN(F_M | F_E), /* UD1 */
	[0xba] = GRP(grp8, F_M | F_IMM(I_B)),
	[0xbb] = BOTH(op_btc_rm_r, F_M | F_LK),
	[0xbc] = BOTH(op_bsf, F_M),
	[0xbd] = BOTH(op_bsr, F_M),
	[0xbe] = RM(op_movsx_r_rm, op_movsx_r_m, F_M | F_RM8),
	[0xbf] = RM(op_movsx_r_rm, op_movsx_r_m, F_M),
	[0xc0] = BOTH(op_xadd, F_M | F_B | F_LK),
	[0xc1] = BOTH(op_xadd, F_M | F_LK),
	[0xc2] = LEN(F_M | F_IMM(I_B)),
	[0xc3] = LEN(F_M), /* MOVNTI */
	[0xc4 ... 0xc6] = LEN(F_M | F_IMM(I_B)),
	[0xc7] = GRP(grp9, F_M),
	[0xc8 ... 0xcf] = REGF(op_bswap, F_PR),
	[0xd0 ... 0xfe] = LEN(F_M),
	[0xff] = LEN(F_M | F_E), /* UD0 */
};

/* clang-format on */

/* 0F 01 with mod 3, by ModRM byte (SDM vol. 2D Table A-6, group 7). */
static insn_fn grp7_reg(u8 modrm, unsigned code_bits, u8 *sub)
{
	switch (modrm) {
	case 0xc1:
		return op_vmcall;
	case 0xc2:
		*sub = EXIT_REASON_VMLAUNCH;
		return op_vmx;
	case 0xc3:
		*sub = EXIT_REASON_VMRESUME;
		return op_vmx;
	case 0xc4:
		*sub = EXIT_REASON_VMOFF;
		return op_vmx;
	case 0xd4:
		*sub = EXIT_REASON_VMFUNC;
		return op_vmx;
	case 0xc8:
		return op_monitor;
	case 0xc9:
		return op_mwait;
	case 0xca:
		return op_clac;
	case 0xcb:
		return op_stac;
	case 0xd0:
		return op_xgetbv;
	case 0xd1:
		return op_xsetbv;
	case 0xf8:
		return code_bits == 64 ? op_swapgs : NULL;
	case 0xf9:
		return op_rdtscp;
	}
	switch ((modrm >> 3) & 7) {
	case 4:
		return op_smsw;
	case 6:
		return op_lmsw;
	}
	return NULL;
}

/* --- Decoder state --- */

struct dstate {
	const u8 *p;
	size_t avail;
	unsigned pos;
	unsigned code_bits;
	u8 rex;	     /* effective REX byte (0 if none) */
	u8 segovr;   /* SEG_NONE or the last segment override */
	u8 last_rep; /* 0, 0xf2 or 0xf3: the last of them (mandatory prefix) */
};

#define NEED(s, n)                                                                                 \
	do {                                                                                       \
		if ((s)->pos + (n) > (s)->avail)                                                   \
			return -1;                                                                 \
	} while (0)

static u64 get_le(const u8 *p, unsigned n)
{
	u64 v = 0;
	for (unsigned i = 0; i < n; i++)
		v |= (u64)p[i] << (8 * i);
	return v;
}

/*
 * ModRM, SIB and displacement (SDM vol. 2A 2.1.5 Tables 2-1 to 2-3; 2.2.1.6 RIP-relative).
 * Default segment: SS when the base is rBP or rSP (16-bit: BP), else DS (SDM vol. 1 3.7.5).
 */
static int parse_modrm(struct dstate *s, struct insn *d, bool reg_only)
{
	static const u8 base16[8] = { R_RBX, R_RBX, R_RBP, R_RBP, R_RSI, R_RDI, R_RBP, R_RBX };
	static const u8 index16[8] = { R_RSI,	  R_RDI,     R_RSI,	R_RDI,
				       BASE_NONE, BASE_NONE, BASE_NONE, BASE_NONE };
	unsigned rexr = s->rex & 4 ? 8 : 0, rexx = s->rex & 2 ? 8 : 0, rexb = s->rex & 1 ? 8 : 0;
	unsigned mod, rm, dispsz = 0;
	u8 modrm;

	NEED(s, 1);
	modrm = s->p[s->pos++];
	mod = modrm >> 6;
	rm = modrm & 7;
	d->sub = (modrm >> 3) & 7;
	d->reg = d->sub | rexr;
	if (mod == 3 || reg_only) {
		d->rm = rm | rexb;
		return 0;
	}
	d->mem = 1;
	d->base = BASE_NONE;
	d->index = BASE_NONE;
	if (d->asz == 2) {
		if (mod == 0 && rm == 6) {
			dispsz = 2;
		} else {
			d->base = base16[rm];
			d->index = index16[rm];
			dispsz = mod == 1 ? 1 : mod == 2 ? 2 : 0;
		}
	} else {
		if (rm == 4) {
			u8 sib;
			NEED(s, 1);
			sib = s->p[s->pos++];
			d->scale = sib >> 6;
			if ((((sib >> 3) & 7) | rexx) != R_RSP)
				d->index = ((sib >> 3) & 7) | rexx;
			if ((sib & 7) == 5 && mod == 0)
				dispsz = 4;
			else
				d->base = (sib & 7) | rexb;
		} else if (rm == 5 && mod == 0) {
			d->base = s->code_bits == 64 ? BASE_RIP : BASE_NONE;
			dispsz = 4;
		} else {
			d->base = rm | rexb;
		}
		if (mod == 1)
			dispsz = 1;
		else if (mod == 2)
			dispsz = 4;
	}
	if (d->base == R_RBP || d->base == R_RSP)
		d->seg = SEG_SS;
	NEED(s, dispsz);
	d->disp = (s32)sign_extend(get_le(s->p + s->pos, dispsz), dispsz);
	s->pos += dispsz;
	return 0;
}

/* Immediate of kind k (osz and asz already known). */
static int parse_imm(struct dstate *s, struct insn *d, unsigned k)
{
	unsigned n;

	switch (k) {
	case I_NONE:
		return 0;
	case I_B:
	case I_BS:
	case I_JB:
		n = 1;
		break;
	case I_W:
		n = 2;
		break;
	case I_Z:
	case I_JZ:
		n = d->osz == 2 ? 2 : 4;
		break;
	case I_V:
		n = d->osz;
		break;
	case I_WB: /* ENTER: imm = Iw, imm2 = Ib */
	case I_BB: {
		unsigned n1 = k == I_WB ? 2 : 1;

		NEED(s, n1 + 1);
		d->imm = get_le(s->p + s->pos, n1);
		d->imm2 = s->p[s->pos + n1];
		s->pos += n1 + 1;
		return 0;
	}
	case I_PTR:
		n = d->osz == 2 ? 2 : 4;
		NEED(s, n + 2);
		d->imm = get_le(s->p + s->pos, n);
		d->imm2 = (u16)get_le(s->p + s->pos + n, 2);
		s->pos += n + 2;
		return 0;
	case I_MOFFS:
		n = d->asz;
		NEED(s, n);
		d->imm = get_le(s->p + s->pos, n);
		s->pos += n;
		return 0;
	default: /* I_D */
		n = 4;
		break;
	}
	NEED(s, n);
	d->imm = get_le(s->p + s->pos, n);
	s->pos += n;
	if (k == I_BS || k == I_JB || k == I_Z || k == I_JZ)
		d->imm = sign_extend(d->imm, n);
	return 0;
}

static void set_osz(struct dstate *s, struct insn *d, u32 fl)
{
	bool o16 = d->pfx & PFX_66;

	if (fl & F_B)
		d->osz = 1;
	else if (s->code_bits == 64)
		d->osz = (fl & F_F64) || (d->pfx & PFX_REXW) ? 8 : o16 ? 2 : (fl & F_D64) ? 8 : 4;
	else
		d->osz = (s->code_bits == 16) != o16 ? 2 : 4;
}

/*
 * VEX (C4/C5), EVEX (62) and XOP (8F) encodings: SDM vol. 2A 2.3.5, 2.6; AMD APM vol. 3 1.8.
 * Only BMI1's integer instructions are implemented; everything else gets its length and #UD.
 */
static int decode_vex(struct dstate *s, struct insn *d, u8 esc)
{
	unsigned map, pp, opc, imm = I_NONE, plen = esc == 0xc5 ? 2 : esc == 0x62 ? 4 : 3;
	bool w, l, has_modrm = true;
	u8 b1, b2;

	NEED(s, plen + 1);
	b1 = s->p[s->pos + 1];
	b2 = s->p[s->pos + 2];
	if (esc == 0xc5) {
		map = 1;
		w = false;
		d->vvvv = (~b1 >> 3) & 15;
		l = b1 & 4;
		pp = b1 & 3;
		s->rex = (b1 & 0x80 ? 0 : 4);
	} else if (esc == 0x62) {
		map = b1 & 7;
		w = b2 & 0x80;
		d->vvvv = (~b2 >> 3) & 15;
		l = true;
		pp = b2 & 3;
		s->rex = (~b1 >> 5) & 7;
	} else {
		map = b1 & 0x1f;
		w = b2 & 0x80;
		d->vvvv = (~b2 >> 3) & 15;
		l = b2 & 4;
		pp = b2 & 3;
		s->rex = (~b1 >> 5) & 7;
	}
	if (s->code_bits != 64) {
		s->rex = 0;
		d->vvvv &= 7;
		w = false;
	}
	s->rex |= w ? 8 : 0;
	if (w)
		d->pfx |= PFX_REXW;
	s->pos += plen;
	opc = s->p[s->pos++];
	d->opcode = map << 8 | opc;
	if (esc == 0x8f) {
		imm = map == 8 ? I_B : map == 0xa ? I_D : I_NONE;
	} else if (map == 3) {
		imm = I_B;
	} else if (map == 1) {
		if ((opc >= 0x70 && opc <= 0x73) || opc == 0xc2 || (opc >= 0xc4 && opc <= 0xc6))
			imm = I_B;
		if (opc == 0x77 && esc != 0x62)
			has_modrm = false;
		/* Knights Corner JKZD/JKNZD rel32 (no ModRM), as Zydis decodes them */
		if ((opc == 0x84 || opc == 0x85) && esc != 0x62 && s->code_bits == 64) {
			has_modrm = false;
			imm = I_D;
		}
	}
	if (has_modrm && parse_modrm(s, d, false) < 0)
		return -1;
	d->osz = w ? 8 : 4;
	if (parse_imm(s, d, imm) < 0)
		return -1;
	/* VEX after 66/F2/F3/REX or with LOCK is #UD (SDM vol. 2A 2.3.2). */
	if (esc == 0xc4 && map == 2 && pp == 0 && !l &&
	    !(d->pfx & (PFX_66 | PFX_F2 | PFX_F3 | PFX_REX)) && !d->lock) {
		switch (opc) {
		case 0xf2:
			d->fn = op_andn;
			break;
		case 0xf7:
			d->fn = op_bextr;
			break;
		case 0xf3:
			d->fn = d->sub == 1   ? op_blsr
				: d->sub == 2 ? op_blsmsk
				: d->sub == 3 ? op_blsi
					      : NULL;
			break;
		}
	}
	return 0;
}

/*
 * Encodings whose handler depends on more than map, opcode and ModRM.reg: mandatory prefixes,
 * the mode, or the whole ModRM byte. Returns the handler (NULL: #UD) given the table's choice.
 */
static insn_fn decode_special(struct dstate *s, struct insn *d, insn_fn fn, u8 modrm)
{
	bool f3 = s->last_rep == 0xf3, f2 = s->last_rep == 0xf2;

	switch (d->opcode) {
	case 0x063: /* MOVSXD Gv, Ed (SDM vol. 2B MOVSX) */
		if (s->code_bits == 64)
			return d->mem ? op_movsxd_r_m : op_movsxd_r_rm;
		return fn;
	case 0x08c:
		return d->sub < 6 ? fn : NULL;
	case 0x08e: /* MOV CS is #UD (SDM vol. 2B MOV) */
		return d->sub < 6 && d->sub != SEG_CS ? fn : NULL;
	case 0x090: /* PAUSE is F3 90; 90 without REX.B is NOP (SDM vol. 2B XCHG, NOP) */
		if (s->rex & 1)
			return fn;
		if (f3) {
			d->flags |= INSN_END_BLOCK;
			return op_pause;
		}
		return op_nop;
	case 0x101:
		if (!d->mem)
			return grp7_reg(modrm, s->code_bits, &d->sub);
		return fn;
	case 0x120:
	case 0x121:
	case 0x122:
	case 0x123: /* MOV CR/DR: 64-bit operands in 64-bit mode, else 32 (SDM vol. 2B MOV) */
		d->osz = s->code_bits == 64 ? 8 : 4;
		d->sub = d->reg; /* CR8 is REX.R + 0 */
		return fn;
	case 0x178:
	case 0x179:
		if (d->pfx & (PFX_66 | PFX_F2 | PFX_F3))
			return NULL;
		d->sub = d->opcode == 0x178 ? EXIT_REASON_VMREAD : EXIT_REASON_VMWRITE;
		d->osz = s->code_bits == 64 ? 8 : 4;
		return op_vmx;
	case 0x1b8:
		return f3 ? op_popcnt : NULL;
	case 0x1bc:
		return f3 ? op_tzcnt : fn;
	case 0x1bd:
		return f3 ? op_lzcnt : fn;
	case 0x1c7: /* group 9 /6 /7: VMPTRLD, VMCLEAR (66), VMXON (F3), VMPTRST */
		if (d->mem && d->sub == 6) {
			d->sub = f3		     ? EXIT_REASON_VMON
				 : (d->pfx & PFX_66) ? EXIT_REASON_VMCLEAR
				 : f2		     ? 0
						     : EXIT_REASON_VMPTRLD;
			if (d->sub) {
				d->flags |= INSN_END_BLOCK;
				return op_vmx;
			}
			return NULL;
		}
		if (d->mem && d->sub == 7 && !(d->pfx & (PFX_66 | PFX_F2 | PFX_F3))) {
			d->sub = EXIT_REASON_VMPTRST;
			d->flags |= INSN_END_BLOCK;
			return op_vmx;
		}
		return fn;
	}
	return fn;
}

/* --- x87 (D8-DF), WAIT, MMX and FXSAVE/FXRSTOR: handlers in fpu.c and mmx.c --- */

/*
 * x87 memory forms by first byte (D8-DF) and ModRM.reg (SDM vol. 2D A.5, Tables ):
 * the operand's size in bytes, positive for a load, negative for a store; 0 for the control
 * instructions (their own handlers) and the invalid encodings (D9 /1, DB /4 /6, DD /5).
 */
/* clang-format off */
static const s8 x87_mem_kind[8][8] = {
	{ 4,  4,  4,  4,  4,  4,   4,   4 }, /* D8: FADD FMUL FCOM(P) FSUB(R) FDIV(R) m32fp */
	{ 4,  0, -4, -4,  0,  0,   0,   0 }, /* D9: FLD FST FSTP m32; FLDENV FLDCW FNSTENV FNSTCW */
	{ 4,  4,  4,  4,  4,  4,   4,   4 }, /* DA: FIADD ... FIDIVR m32int */
	{ 4, -4, -4, -4,  0, 10,   0, -10 }, /* DB: FILD FISTTP FIST FISTP m32int; FLD FSTP m80 */
	{ 8,  8,  8,  8,  8,  8,   8,   8 }, /* DC: FADD ... FDIVR m64fp */
	{ 8, -8, -8, -8,  0,  0,   0,   0 }, /* DD: FLD FISTTP FST FSTP m64; FRSTOR FNSAVE FNSTSW */
	{ 2,  2,  2,  2,  2,  2,   2,   2 }, /* DE: FIADD ... FIDIVR m16int */
	{ 2, -2, -2, -2, 10,  8, -10,  -8 }, /* DF: FILD FISTTP FIST FISTP m16, FBLD, FILD m64, */
					     /*     FBSTP, FISTP m64 */
};
/* clang-format on */

/* x87 register forms (ModRM C0-FF) by first byte & 7. The undocumented aliases that processors
   execute (D9 D8+i FSTP, DC D0/D8+i FCOM/FCOMP, DD C8+i FXCH, DE D0+i FCOMP, DF C0+i FFREEP,
   DF C8+i FXCH, DF D0/D8+i FSTP) run as the host runs them. */
static insn_fn decode_x87_reg(unsigned op, u8 modrm)
{
	switch (op) {
	case 1: /* D9: D1-D7, E2 E3 E6 E7 EF are invalid */
		if ((modrm >= 0xd1 && modrm <= 0xd7) || modrm == 0xe2 || modrm == 0xe3 ||
		    modrm == 0xe6 || modrm == 0xe7 || modrm == 0xef)
			return NULL;
		return op_x87_reg;
	case 2: /* DA: FCMOVB/E/BE/U, FUCOMPP */
		return modrm < 0xe0 || modrm == 0xe9 ? op_x87_reg : NULL;
	case 3: /* DB: FCMOVNB/NE/NBE/NU, FNENI FNDISI FNCLEX FNINIT FNSETPM, FUCOMI, FCOMI */
		if (modrm < 0xe0 || (modrm >= 0xe8 && modrm < 0xf8))
			return op_x87_reg;
		switch (modrm) {
		case 0xe2:
			return op_fnclex;
		case 0xe3:
			return op_fninit;
		case 0xe0:
		case 0xe1:
		case 0xe4:
			return op_fnop_ctl;
		}
		return NULL;
	case 5: /* DD: FFREE, FST, FSTP, FUCOM, FUCOMP */
		return modrm < 0xf0 ? op_x87_reg : NULL;
	case 6: /* DE: D8-DF only FCOMPP (D9) */
		return (modrm & 0xf8) != 0xd8 || modrm == 0xd9 ? op_x87_reg : NULL;
	case 7: /* DF: FNSTSW AX, FUCOMIP, FCOMIP */
		if (modrm < 0xe0 || (modrm >= 0xe8 && modrm < 0xf8))
			return op_x87_reg;
		return modrm == 0xe0 ? op_fnstsw_ax : NULL;
	default: /* D8, DC: all */
		return op_x87_reg;
	}
}

/*
 * After the table: the x87 opcodes (struct insn: imm2 = the FOP, first byte[2:0] << 8 | ModRM,
 * SDM vol. 1 8.1.9; imm = a memory operand's size), WAIT, and, without a 66/F2/F3 prefix, MMX,
 * EMMS and FXSAVE/FXRSTOR. Anything else keeps the table's handler.
 */
static insn_fn decode_fpu(struct insn *d, insn_fn fn, u8 modrm)
{
	unsigned op = d->opcode & 0xff;

	if (d->opcode >= 0xd8 && d->opcode <= 0xdf) {
		s8 kind = x87_mem_kind[op & 7][d->sub];

		d->imm2 = (u16)((op & 7) << 8 | modrm);
		if (!d->mem)
			return decode_x87_reg(op & 7, modrm);
		d->imm = (u64)(kind < 0 ? -kind : kind);
		if (kind)
			return kind > 0 ? op_x87_load : op_x87_store;
		switch ((op & 7) << 3 | d->sub) {
		case 014:
			return op_fldenv;
		case 015:
			return op_fldcw;
		case 016:
			return op_fnstenv;
		case 017:
			return op_fnstcw;
		case 054:
			return op_frstor;
		case 056:
			return op_fnsave;
		case 057:
			return op_fnstsw_m;
		}
		return NULL;
	}
	if (d->opcode == 0x9b)
		return op_fwait;
	if (d->opcode >> 8 != 1 || (d->pfx & (PFX_66 | PFX_F2 | PFX_F3)))
		return fn;
	switch (op) {
	case 0xae: /* FXSAVE, FXRSTOR */
		if (d->mem && d->sub <= 1)
			return d->sub ? op_fxrstor : op_fxsave;
		return fn;
	case 0x77:
		return op_emms;
	case 0x71: /* PSRLW PSRAW PSLLW (and D, Q) mm, imm8: register only; 0F 73 /3 /7 need 66 */
	case 0x72:
		return !d->mem && (d->sub == 2 || d->sub == 4 || d->sub == 6) ? op_mmx : NULL;
	case 0x73:
		return !d->mem && (d->sub == 2 || d->sub == 6) ? op_mmx : NULL;
	case 0xc5: /* PEXTRW, PMOVMSKB, MASKMOVQ: register only */
	case 0xd7:
	case 0xf7:
		return d->mem ? NULL : op_mmx;
	case 0xe7: /* MOVNTQ: memory only */
		return d->mem ? op_mmx : NULL;
	case 0x60 ... 0x6b:
	case 0x6e ... 0x70:
	case 0x74 ... 0x76:
	case 0x7e ... 0x7f:
	case 0xc4:
	case 0xd1 ... 0xd5:
	case 0xd8 ... 0xe5:
	case 0xe8 ... 0xef:
	case 0xf1 ... 0xf6:
	case 0xf8 ... 0xfe:
		return op_mmx;
	}
	return fn;
}

/* 0F 38 xx: MOVBE, INVEPT, INVVPID; everything else length only (ModRM, no immediate). */
static insn_fn decode_0f38(struct dstate *s, struct insn *d)
{
	bool p66 = d->pfx & PFX_66;

	switch (d->opcode & 0xff) {
	case 0xf0:
	case 0xf1:
		if (s->last_rep || !d->mem)
			return NULL; /* F2: CRC32 */
		return (d->opcode & 0xff) == 0xf0 ? op_movbe_r_m : op_movbe_m_r;
	case 0x80:
	case 0x81:
		if (!p66 || !d->mem || s->last_rep)
			return NULL;
		d->sub = (d->opcode & 0xff) == 0x80 ? EXIT_REASON_INVEPT : EXIT_REASON_INVVPID;
		d->osz = s->code_bits == 64 ? 8 : 4;
		d->flags |= INSN_END_BLOCK;
		return op_vmx;
	case 0x82: /* 66 0F 38 82 /r: INVPCID r64/r32, m128 (SDM vol. 2A) */
		if (!p66 || !d->mem || s->last_rep)
			return NULL;
		d->osz = s->code_bits == 64 ? 8 : 4;
		d->flags |= INSN_END_BLOCK;
		return op_invpcid;
	}
	return NULL;
}

/* The mandatory prefix of an SSE encoding: the last F2/F3, else 66 (SDM vol. 2A 2.1.2). */
static unsigned mandatory_prefix(const struct dstate *s, const struct insn *d)
{
	return s->last_rep == 0xf3 ? 2 : s->last_rep == 0xf2 ? 3 : d->pfx & PFX_66 ? 1 : 0;
}

int x86_decode(struct insn *d, const u8 *p, size_t avail, unsigned code_bits)
{
	struct dstate s = { .p = p, .avail = avail, .code_bits = code_bits, .segovr = SEG_NONE };
	const struct opent *e;
	insn_fn fn;
	u32 fl;
	u8 op, modrm = 0;
	bool is64 = code_bits == 64;

	memset(d, 0, sizeof(*d));
	d->base = BASE_NONE;
	d->index = BASE_NONE;
	d->seg = SEG_DS;

	/* Prefixes: any order and repetition; REX only counts right before the opcode. */
	for (;;) {
		NEED(&s, 1);
		op = p[s.pos];
		switch (op) {
		case 0xf0:
			d->lock = 1;
			break;
		case 0xf2:
		case 0xf3:
			s.last_rep = op;
			break;
		case 0x26:
		case 0x2e:
		case 0x36:
		case 0x3e:
			/* ES CS SS DS: null prefixes in 64-bit mode, which keep an earlier FS/GS
			   (SDM vol. 1 3.3.7.1) */
			if (!is64)
				s.segovr = (op >> 3) & 3;
			d->pfx |= PFX_SEGOVR;
			break;
		case 0x64:
		case 0x65:
			s.segovr = op - 0x64 + SEG_FS;
			d->pfx |= PFX_SEGOVR;
			break;
		case 0x66:
			d->pfx |= PFX_66;
			break;
		case 0x67:
			d->pfx |= PFX_67;
			break;
		default:
			if (is64 && (op & 0xf0) == 0x40) {
				s.rex = op;
				s.pos++;
				NEED(&s, 1);
				op = p[s.pos];
				if ((op & 0xf0) == 0x40 || op == 0xf0 || op == 0xf2 || op == 0xf3 ||
				    op == 0x66 || op == 0x67 || op == 0x26 || op == 0x2e ||
				    op == 0x36 || op == 0x3e || op == 0x64 || op == 0x65) {
					s.rex = 0; /* a prefix after REX voids it (SDM 2.2.1) */
					continue;
				}
			}
			goto opcode;
		}
		s.rex = 0;
		s.pos++;
	}
opcode:
	if (s.rex) {
		d->pfx |= PFX_REX;
		if (s.rex & 8)
			d->pfx |= PFX_REXW;
	}
	if (s.last_rep) {
		d->rep = s.last_rep == 0xf3 ? REP_E : REP_NE;
		d->pfx |= s.last_rep == 0xf3 ? PFX_F3 : PFX_F2;
	}
	if (code_bits == 64)
		d->asz = d->pfx & PFX_67 ? 4 : 8;
	else
		d->asz = (code_bits == 16) != !!(d->pfx & PFX_67) ? 2 : 4;

	op = p[s.pos];
	if (op == 0xc4 || op == 0xc5 || op == 0x62 || op == 0x8f) {
		/* VEX/EVEX outside 64-bit mode only when the next byte looks like ModRM.mod 3;
		   XOP when the map field is >= 8 (else POP Ev). */
		NEED(&s, 2);
		if (op == 0x8f ? (p[s.pos + 1] & 0x1f) >= 8 : is64 || p[s.pos + 1] >= 0xc0) {
			if (decode_vex(&s, d, op) < 0)
				return -1;
			fn = d->fn;
			fl = 0;
			goto done;
		}
	}
	s.pos++;
	if (op != 0x0f) {
		d->opcode = op;
		e = &map0[op];
	} else {
		NEED(&s, 1);
		op = p[s.pos++];
		if (op == 0x38 || op == 0x3a) {
			NEED(&s, 1);
			d->opcode = (op == 0x38 ? 0x200 : 0x300) | p[s.pos++];
			if (parse_modrm(&s, d, false) < 0)
				return -1;
			set_osz(&s, d, 0);
			if (parse_imm(&s, d, op == 0x3a ? I_B : I_NONE) < 0)
				return -1;
			fn = op == 0x38 && !d->lock ? decode_0f38(&s, d) : NULL;
			if (!fn && !d->lock)
				sse_decode(d, mandatory_prefix(&s, d), code_bits, &fn);
			fl = 0;
			goto done;
		}
		d->opcode = 0x100 | op;
		e = &map1[op];
	}
	fl = e->fl;
	if (is64 && (fl & F_I64)) {
		fn = NULL;
		goto done;
	}
	if (fl & F_M) {
		NEED(&s, 1);
		modrm = p[s.pos];
		if (parse_modrm(&s, d, fl & F_RO) < 0)
			return -1;
	}
	fn = d->mem ? e->fn_mem : e->fn;
	if (e->grp) {
		const struct opent *g = &e->grp[d->sub];
		fn = d->mem ? g->fn_mem : g->fn;
		fl |= g->fl;
	}
	if (fl & F_CC) {
		static const insn_fn jcc_fn[16] = { op_jo,  op_jno,  op_jb,  op_jnb, op_jz, op_jnz,
						    op_jbe, op_jnbe, op_js,  op_jns, op_jp, op_jnp,
						    op_jl,  op_jnl,  op_jle, op_jnle };

		d->sub = op & 0xf;
		if (fl & F_JCC)
			fn = jcc_fn[d->sub];
	}
	if (fl & F_PR) {
		d->reg = (op & 7) | (s.rex & 1 ? 8 : 0);
		d->rm = d->opcode == 0x90 + (op & 7) ? R_RAX : d->reg;
	}
	set_osz(&s, d, fl);
	if ((fl & F_IO) && d->osz == 8)
		d->osz = 4; /* I/O is at most 32 bits: REX.W is ignored (SDM vol. 2A IN) */
	fn = decode_special(&s, d, fn, modrm);
	if (d->opcode >> 8 == 1)
		sse_decode(d, mandatory_prefix(&s, d), code_bits, &fn);
	fn = decode_fpu(d, fn, modrm);
	/* AMD SSE4a EXTRQ/INSERTQ with immediates: 66 0F 78 /0, F2 0F 78 (AMD APM vol. 4). */
	if (d->opcode == 0x178 && (d->pfx & (PFX_66 | PFX_F2)))
		fl = (fl & ~F_IMM(0xf)) | F_IMM(I_BB);
	if (parse_imm(&s, d, IMM_OF(fl)) < 0)
		return -1;
	if (fl & F_ACC)
		d->rm = R_RAX;
	if ((fl & F_STR) || IMM_OF(fl) == I_MOFFS)
		d->mem = 1;
	/* Byte registers without REX: 4-7 name AH CH DH BH (SDM vol. 2A 2.1.5 Table 2-2). */
	if (!s.rex && (d->osz == 1 || (fl & F_RM8))) {
		if (!d->mem && d->rm >= 4 && d->rm < 8)
			d->rm += REG_AH - 4;
		if (d->osz == 1 && d->reg >= 4 && d->reg < 8)
			d->reg += REG_AH - 4;
	}
	/* LOCK only on lockable instructions with a memory destination, else #UD. */
	if (d->lock && (!(fl & F_LK) || !d->mem))
		fn = NULL;
done:
	if (s.segovr != SEG_NONE)
		d->seg = s.segovr;
	d->len = s.pos > 255 ? 255 : s.pos;
	if (fl & F_E)
		d->flags |= INSN_END_BLOCK;
	if (!fn) {
		fn = op_ud;
		d->flags |= INSN_INVALID | INSN_END_BLOCK;
	}
	d->fn = ops_specialize(fn, d->osz);
	return (int)s.pos;
}

/* --- Names, for telemetry (--stats) --- */

static const char *const cc_name[16] = { "o", "no", "b", "nb", "z", "nz", "be", "nbe",
					 "s", "ns", "p", "np", "l", "nl", "le", "nle" };

bool x86_opcode_group(u16 opcode)
{
	unsigned b = opcode & 0xff;

	switch (opcode >> 8) {
	case 0:
		return (b >= 0x80 && b <= 0x83) || b == 0x8f || b == 0xc0 || b == 0xc1 || b == 0xc6 ||
		       b == 0xc7 || (b >= 0xd0 && b <= 0xd3) || b == 0xf6 || b == 0xf7 || b == 0xfe ||
		       b == 0xff;
	case 1:
		return b == 0x00 || b == 0x01 || b == 0x18 || b == 0xae || b == 0xba || b == 0xc7;
	default:
		return false;
	}
}

struct opcode_name {
	u8 b;
	const char *n;
};

static const char *opcode_name_in(const struct opcode_name *t, size_t n, unsigned b)
{
	for (size_t i = 0; i < n; i++)
		if (t[i].b == b)
			return t[i].n;
	return NULL;
}

const char *x86_opcode_name(u16 opcode, u8 sub, char *buf, size_t size)
{
	static const char *const alu[8] = { "add", "or", "adc", "sbb", "and", "sub", "xor", "cmp" };
	static const char *const shift[8] = { "rol", "ror", "rcl", "rcr", "shl", "shr", "sal", "sar" };
	static const char *const grp3[8] = { "test", "test", "not", "neg", "mul", "imul", "div", "idiv" };
	static const char *const grp45[8] = { "inc", "dec", "call", "callf", "jmp", "jmpf", "push", "?" };
	static const char *const str[6] = { "movs", "cmps", "", "stos", "lods", "scas" };
	static const struct opcode_name one[] = {
		{ 0x63, "movsxd" }, { 0x69, "imul" },  { 0x6b, "imul" }, { 0x84, "test" },
		{ 0x85, "test" },   { 0x86, "xchg" },  { 0x87, "xchg" }, { 0x8d, "lea" },
		{ 0x8f, "pop" },    { 0x90, "nop" },   { 0x98, "cbw" },  { 0x99, "cwd" },
		{ 0x9c, "pushf" },  { 0x9d, "popf" },  { 0xa8, "test" }, { 0xa9, "test" },
		{ 0xc2, "ret" },    { 0xc3, "ret" },   { 0xc9, "leave" }, { 0xcd, "int" },
		{ 0xcf, "iret" },   { 0xe8, "call" },  { 0xe9, "jmp" },  { 0xeb, "jmp" },
		{ 0xe4, "in" },     { 0xe5, "in" },    { 0xec, "in" },   { 0xed, "in" },
		{ 0xe6, "out" },    { 0xe7, "out" },   { 0xee, "out" },  { 0xef, "out" },
		{ 0xf4, "hlt" },    { 0xfa, "cli" },   { 0xfb, "sti" },  { 0xfc, "cld" },
	};
	static const struct opcode_name two[] = {
		{ 0x01, "grp7" },    { 0x05, "syscall" }, { 0x0b, "ud2" },    { 0x1f, "nop" },
		{ 0x20, "mov cr" },  { 0x22, "mov cr" },  { 0x30, "wrmsr" },  { 0x31, "rdtsc" },
		{ 0x32, "rdmsr" },   { 0xa2, "cpuid" },   { 0xa3, "bt" },     { 0xa4, "shld" },
		{ 0xa5, "shld" },    { 0xab, "bts" },     { 0xac, "shrd" },   { 0xad, "shrd" },
		{ 0xae, "grp15" },   { 0xaf, "imul" },    { 0xb0, "cmpxchg" }, { 0xb1, "cmpxchg" },
		{ 0xb3, "btr" },     { 0xb6, "movzx" },   { 0xb7, "movzx" },  { 0xba, "bt/bts/btr/btc" },
		{ 0xbb, "btc" },     { 0xbc, "bsf" },     { 0xbd, "bsr" },    { 0xbe, "movsx" },
		{ 0xbf, "movsx" },   { 0xc0, "xadd" },    { 0xc1, "xadd" },   { 0xc7, "grp9" },
	};
	unsigned map = opcode >> 8, b = opcode & 0xff;
	const char *n = NULL, *cc = NULL; /* cc: a prefix the condition code completes */

	if (map == 0) {
		if (b < 0x40 && (b & 7) < 6)
			n = alu[b >> 3];
		else if (b >= 0x80 && b <= 0x83)
			n = alu[sub & 7];
		else if (b >= 0x70 && b <= 0x7f)
			cc = "j";
		else if (b == 0xc0 || b == 0xc1 || (b >= 0xd0 && b <= 0xd3))
			n = shift[sub & 7];
		else if (b == 0xf6 || b == 0xf7)
			n = grp3[sub & 7];
		else if (b == 0xfe || b == 0xff)
			n = grp45[sub & 7];
		else if (b >= 0xa4 && b <= 0xaf && b != 0xa8 && b != 0xa9)
			n = str[(b - 0xa4) >> 1];
		else if (b >= 0x50 && b <= 0x57)
			n = "push";
		else if (b >= 0x58 && b <= 0x5f)
			n = "pop";
		else if ((b >= 0x88 && b <= 0x8b) || b == 0xc6 || b == 0xc7 || (b >= 0xb0 && b <= 0xbf))
			n = "mov";
		else
			n = opcode_name_in(one, ARRAY_SIZE(one), b);
	} else if (map == 1) {
		if (b >= 0x40 && b <= 0x4f)
			cc = "cmov";
		else if (b >= 0x80 && b <= 0x8f)
			cc = "j";
		else if (b >= 0x90 && b <= 0x9f)
			cc = "set";
		else if (b >= 0xc8 && b <= 0xcf)
			n = "bswap";
		else
			n = opcode_name_in(two, ARRAY_SIZE(two), b);
	}
	if (cc)
		snprintf(buf, size, "%s%s", cc, cc_name[b & 15]);
	else
		snprintf(buf, size, "%s", n ? n : "?");
	return buf;
}
