/* SPDX-License-Identifier: MIT */
/*
 * The handlers sse_decode.c installs, by file. Operands follow struct insn (internal.h): reg is
 * the XMM register of ModRM.reg (or the general register of conversions to one), rm the XMM or
 * general register of ModRM.rm; handlers that serve several opcodes look at d->opcode and the
 * mandatory prefix in d->pfx.
 */
#pragma once
#include "cpu/internal.h"

#define SSE_OPS_LIST(X)                                                                            \
	/* sse.c: MXCSR and data movement */                                                       \
	X(sse_ldmxcsr) X(sse_stmxcsr)                  /* 0F AE /2 /3 */                           \
	X(sse_load_a) X(sse_load_u) X(sse_store_a) X(sse_store_u) /* 10 11 28 29 2B 6F 7F E7 F0 */  \
	X(sse_movss_load) X(sse_movss_store)           /* F3/F2 0F 10 11 */                        \
	X(sse_movlps_load) X(sse_movhps_load) X(sse_movlps_store) /* 0F 12 16, 13 17 */            \
	X(sse_movq_load) X(sse_movq_store)             /* F3 0F 7E, 66 0F D6 */                    \
	X(sse_movd_load) X(sse_movd_store)             /* 66 0F 6E, 7E */                          \
	X(sse_movsldup) X(sse_movddup)                 /* F3 0F 12 16, F2 0F 12 */                 \
	X(sse_movmskps) X(sse_pmovmskb) X(sse_maskmovdqu) X(sse_movnti) /* 50, D7, F7, C3 */        \
	X(sse_shufps) X(sse_shufpd) X(sse_unpcklps) X(sse_unpcklpd) X(sse_pshufd)                  \
	X(sse_pinsrw) X(sse_pextrw_reg) X(sse_pextr) X(sse_pinsr) X(sse_insertps)                  \
	X(sse_blend_imm) X(sse_blendv) X(sse_pmovx)                                                \
	/* sse_int.c */                                                                            \
	X(sse_paddb) X(sse_paddw) X(sse_paddd) X(sse_paddq)                                        \
	X(sse_psubb) X(sse_psubw) X(sse_psubd) X(sse_psubq)                                        \
	X(sse_paddsb) X(sse_paddsw) X(sse_paddusb) X(sse_paddusw)                                  \
	X(sse_psubsb) X(sse_psubsw) X(sse_psubusb) X(sse_psubusw)                                  \
	X(sse_pmullw) X(sse_pmulhw) X(sse_pmulhuw) X(sse_pmuludq) X(sse_pmaddwd) X(sse_psadbw)     \
	X(sse_pavgb) X(sse_pavgw) X(sse_pminub) X(sse_pmaxub) X(sse_pminsw) X(sse_pmaxsw)          \
	X(sse_pand) X(sse_pandn) X(sse_por) X(sse_pxor)                                            \
	X(sse_pcmpeqb) X(sse_pcmpeqw) X(sse_pcmpeqd) X(sse_pcmpgtb) X(sse_pcmpgtw) X(sse_pcmpgtd)  \
	X(sse_packsswb) X(sse_packuswb) X(sse_packssdw) X(sse_packusdw) X(sse_punpck)              \
	X(sse_shift_xmm) X(sse_shift_imm)                                                          \
	X(sse_ssse3) /* 66 0F 38 00-0B 1C-1E, 66 0F 3A 0F */                                     \
	X(sse_pmuldq) X(sse_pcmpeqq) X(sse_pminsb) X(sse_pminsd) X(sse_pminuw) X(sse_pminud)       \
	X(sse_pmaxsb) X(sse_pmaxsd) X(sse_pmaxuw) X(sse_pmaxud) X(sse_pmulld) X(sse_pcmpgtq)       \
	X(sse_phminposuw) X(sse_ptest) X(sse_mpsadbw) X(sse_pcmpstr)                               \
	/* sse_fp.c */                                                                             \
	X(sse_fp) X(sse_cmp) X(sse_round) X(sse_dp) X(sse_cvtsi2s) X(sse_cvts2si) X(sse_comis)     \
	/* sse_crypto.c */                                                                         \
	X(sse_aes) X(sse_aeskeygenassist) X(sse_pclmulqdq) X(sse_crc32)                            \
	/* sse_mmx.c: forms with MMX-register operands */                                          \
	X(sse_cvtpi2p) X(sse_cvtp2pi)                  /* 0F 2A, 2C 2D, none and 66 */             \
	X(sse_movq2dq) X(sse_movdq2q)                  /* F3 0F D6, F2 0F D6 */                    \
	X(sse_ssse3_mmx)                               /* 0F 38 00-0B 1C-1E, 0F 3A 0F */

#define X(name) void name(struct cpu *c, const struct insn *d);
SSE_OPS_LIST(X)
#undef X

/* sse_fp.c: whether sse_fp() implements 0F `opcode` with mandatory prefix `mandatory`. */
bool sse_fp_has(u8 opcode, unsigned mandatory);
