/* SPDX-License-Identifier: MIT */
/*
 * Instruction handlers that the decoder's tables (decode.c) name but other files implement.
 * Each takes (struct cpu *, const struct insn *). Operand conventions are those of struct insn
 * (internal.h); `sub` is as noted. Handlers for the core integer set (ALU, MOV, LEA, PUSH/POP,
 * Jcc, CALL/RET, SETcc, CMOVcc, ...) live beside the decoder and are not listed here.
 */
#pragma once
#include "cpu/internal.h"

#define OPS_LIST(X)                                                                              \
	/* ops_shift.c: sub = ModRM.reg (0 ROL 1 ROR 2 RCL 3 RCR 4 SHL 5 SHR 6 SAL 7 SAR) */          \
	X(op_shift_rm_1)   /* D0 D1 */                                                               \
	X(op_shift_rm_cl)  /* D2 D3 */                                                               \
	X(op_shift_rm_imm) /* C0 C1, imm8 */                                                         \
	X(op_shld_imm)     /* 0F A4 */                                                               \
	X(op_shld_cl)      /* 0F A5 */                                                               \
	X(op_shrd_imm)     /* 0F AC */                                                               \
	X(op_shrd_cl)      /* 0F AD */                                                               \
	/* ops_muldiv.c */                                                                           \
	X(op_mul)          /* F6/F7 /4 */                                                            \
	X(op_imul1)        /* F6/F7 /5 */                                                            \
	X(op_div)          /* F6/F7 /6, #DE */                                                       \
	X(op_idiv)         /* F6/F7 /7, #DE */                                                       \
	X(op_imul_r_rm)    /* 0F AF */                                                               \
	X(op_imul_r_rm_imm) /* 69 (imm16/32), 6B (imm8), imm sign-extended */                        \
	X(op_imul_r_rm_4) X(op_imul_r_rm_8) X(op_imul_r_rm_imm_4) X(op_imul_r_rm_imm_8) /* sized */  \
	/* ops_string.c: osz = element size; seg = source segment (DS or override); dest is ES */   \
	X(op_movs) X(op_cmps) X(op_stos) X(op_lods) X(op_scas)                                       \
	/* ops_bit.c */                                                                              \
	X(op_bt_rm_r) X(op_bts_rm_r) X(op_btr_rm_r) X(op_btc_rm_r) /* 0F A3 AB B3 BB */               \
	X(op_bt_rm_imm)    /* 0F BA /4-7, sub = ModRM.reg */                                         \
	X(op_bsf) X(op_bsr)                  /* 0F BC, 0F BD */                                      \
	X(op_tzcnt) X(op_lzcnt) X(op_popcnt) /* F3 0F BC, F3 0F BD, F3 0F B8 */                      \
	X(op_andn) X(op_bextr) X(op_blsr) X(op_blsmsk) X(op_blsi) /* VEX 0F38 F2, F7, F3 /1 /2 /3 */ \
	/* ops_atomic.c */                                                                           \
	X(op_xadd)         /* 0F C0 C1 */                                                            \
	X(op_cmpxchg)      /* 0F B0 B1 */                                                            \
	X(op_cmpxchg8b16b) /* 0F C7 /1, REX.W: 16B */                                                \
	X(op_bswap)        /* 0F C8+r */                                                             \
	X(op_movbe_r_m) X(op_movbe_m_r) /* 0F 38 F0, F1 */                                           \
	/* ops_misc.c: legacy (not in 64-bit mode: the decoder gives #UD there) and loops */          \
	X(op_daa) X(op_das) X(op_aaa) X(op_aas) X(op_aam) X(op_aad) /* 27 2F 37 3F D4 D5 */         \
	X(op_bound) X(op_arpl) /* 62, 63 (32-bit modes) */                                           \
	X(op_xlat)         /* D7 */                                                                  \
	X(op_loop) X(op_loope) X(op_loopne) X(op_jrcxz) /* E2 E1 E0 E3, imm = rel8; asz = counter */ \
	X(op_enter) X(op_leave) /* C8 (imm = size, imm2 = level), C9 */                              \
	/* sys.c: system instructions; each checks CPL/CR4 and the VMX controls itself */            \
	X(op_mov_r_cr) X(op_mov_cr_r) X(op_mov_r_dr) X(op_mov_dr_r) /* 0F 20 22 21 23; sub = CR/DR */\
	X(op_clts) X(op_invd) X(op_wbinvd) /* 0F 06 08 09 */                                         \
	X(op_sgdt) X(op_sidt) X(op_lgdt) X(op_lidt) X(op_smsw) X(op_lmsw) X(op_invlpg)               \
	X(op_swapgs) X(op_rdtscp) X(op_monitor) X(op_mwait) X(op_vmcall)                         \
	X(op_clac) X(op_stac)                                                                        \
	X(op_sldt) X(op_str) X(op_lldt) X(op_ltr) X(op_verr) X(op_verw) /* 0F 00 /0-5 */             \
	X(op_lar) X(op_lsl) /* 0F 02 03 */                                                           \
	X(op_rdmsr) X(op_wrmsr) X(op_rdtsc) X(op_rdpmc) X(op_cpuid) /* 0F 32 30 31 33 A2 */          \
	X(op_syscall) X(op_sysret) X(op_sysenter) X(op_sysexit) /* 0F 05 07 34 35 */                 \
	X(op_hlt) X(op_pause) /* F4, F3 90 */                                                        \
	X(op_in) X(op_out) /* E4-E7 (imm8 port in imm, flag: opcode < EC), EC-EF (DX) */             \
	X(op_ins) X(op_outs) /* 6C 6D 6E 6F */                                                       \
	X(op_cli) X(op_sti) X(op_pushf) X(op_popf) /* FA FB 9C 9D, IOPL rules */                     \
	X(op_int) X(op_int3) X(op_into) X(op_int1) X(op_iret) /* CD CC CE F1 CF */                   \
	X(op_mov_sreg_rm) X(op_mov_rm_sreg) /* 8E 8C; sub = segment register */                      \
	X(op_push_sreg) X(op_pop_sreg) /* 06 0E 16 1E 0F A0 0F A8; 07 17 1F 0F A1 0F A9; sub = seg */ \
	X(op_lxs) /* C4 C5 (32-bit), 0F B2 B4 B5: LSS LFS LGS; sub = segment register */             \
	X(op_jmp_far_ptr) X(op_call_far_ptr) /* EA 9A (not 64-bit): imm = offset, imm2 = selector */ \
	X(op_jmp_far_mem) X(op_call_far_mem) /* FF /5, FF /3 */                                      \
	X(op_ret_far) /* CB, CA (imm = bytes to release) */                                          \
	X(op_vmx) /* VMX instructions in non-root operation: always exit; sub = exit reason */     \
	X(op_invpcid) /* 66 0F 38 82 /r (memory operand) */                                         \
	/* xsave.c */                                                                                \
	X(op_xgetbv) X(op_xsetbv) /* 0F 01 D0 D1 */

#define X(name) void name(struct cpu *c, const struct insn *d);
OPS_LIST(X)
#undef X
