// SPDX-License-Identifier: MIT
/*
 * x86_decode() on hand-picked encodings: prefix soup, REX placement, 16-bit addressing,
 * RIP-relative, moffs64, imm64, VEX/EVEX/XOP/3DNow! lengths, group immediates, 64-bit invalid
 * opcodes, VMX instructions, LOCK validity, too-short and over-long input. Each case gives the
 * mode, the bytes, the expected length and a list of "field=value" checks of struct insn.
 * (Lengths on real code and random bytes are compared with Zydis in test_decode_zydis.c.)
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "cpu/fpu.h"
#include "cpu/ops.h"
#include "cpu/ops_core.h"
#include "cpu/sse_ops.h"

struct tcase {
	unsigned bits;
	const char *bytes;  /* hex */
	int len;	    /* expected return value */
	const char *fields; /* "osz=8 base=0xfe disp=16 ..." */
	insn_fn fn;	    /* NULL: not checked */
};

#define NONE "255"
#define RIP  "254"

static const struct tcase cases[] = {
	/* NOP, PAUSE, XCHG and REX.B (SDM vol. 2B NOP, PAUSE, XCHG) */
	{ 64, "90", 1, "invalid=0 end=0", op_nop },
	{ 64, "f3 90", 2, "end=1 rep=1", op_pause },
	{ 64, "41 90", 2, "reg=8 rm=0 osz=4", op_xchg_rm_r },
	{ 64, "48 97", 2, "reg=7 rm=0 osz=8", op_xchg_rm_r },
	/* REX placement and operand size (SDM vol. 2A 2.2.1) */
	{ 64, "48 89 d8", 3, "osz=8 reg=3 rm=0 mem=0 opcode=0x89", op_mov_rm_r },
	{ 64, "89 d8", 2, "osz=4", op_mov_rm_r },
	{ 64, "66 89 d8", 3, "osz=2 pfx=1", op_mov_rm_r },
	{ 64, "66 48 89 d8", 4, "osz=8", op_mov_rm_r },
	{ 64, "48 66 89 d8", 4, "osz=2 pfx=1", op_mov_rm_r }, /* REX not last: ignored */
	{ 64, "4c 8b c1", 3, "osz=8 reg=8 rm=1", op_mov_r_rm },
	{ 64, "45 8b c1", 3, "osz=4 reg=8 rm=9", op_mov_r_rm },
	/* byte registers: AH..BH without REX, SPL..DIL with */
	{ 64, "88 e0", 2, "osz=1 reg=16 rm=0", op_mov_rm_r },
	{ 64, "40 88 e0", 3, "osz=1 reg=4 rm=0", op_mov_rm_r },
	{ 64, "0f b6 c4", 3, "osz=4 reg=0 rm=16", op_movzx_r_rm },
	{ 64, "40 0f b6 c4", 4, "osz=4 reg=0 rm=4", op_movzx_r_rm },
	{ 64, "0f b7 c4", 3, "osz=4 rm=4", op_movzx_r_rm },
	{ 64, "48 0f be 07", 4, "osz=8 reg=0 mem=1 base=7", op_movsx_r_m },
	{ 64, "b4 12", 2, "osz=1 reg=16 rm=16 imm=0x12", op_mov_rm_i },
	/* ModRM/SIB/displacement, RIP-relative (SDM vol. 2A 2.1.5, 2.2.1.6) */
	{ 64, "48 8b 05 10 00 00 00", 7, "mem=1 base=" RIP " index=" NONE " disp=16 seg=3 asz=8",
	  op_mov_r_m },
	{ 64, "67 8b 05 f0 ff ff ff", 7, "asz=4 base=" RIP " disp=-16", op_mov_r_m },
	{ 64, "8b 44 24 08", 4, "base=4 index=" NONE " disp=8 seg=2", op_mov_r_m },
	{ 64, "8b 04 25 78 56 34 12", 7, "base=" NONE " index=" NONE " disp=0x12345678", NULL },
	{ 64, "42 8b 04 e5 00 00 00 00", 8, "base=" NONE " index=12 scale=3 disp=0", NULL },
	{ 64, "8b 04 a0", 3, "base=0 index=" NONE " scale=2", NULL }, /* index 100b: none */
	{ 64, "41 8b 45 00", 4, "base=13 disp=0 seg=3", NULL },
	{ 64, "48 8b 84 88 00 01 00 00", 8, "base=0 index=1 scale=2 disp=0x100", NULL },
	{ 64, "8b 6d 80", 3, "base=5 disp=-128 seg=2", NULL },
	/* immediates: imm64, Iz sign-extended under REX.W, moffs64, group immediates */
	{ 64, "48 b8 88 77 66 55 44 33 22 11", 10, "osz=8 rm=0 imm=0x1122334455667788",
	  op_mov_rm_i },
	{ 64, "49 bf 01 00 00 00 00 00 00 80", 10, "rm=15 imm=0x8000000000000001", op_mov_rm_i },
	{ 64, "b8 78 56 34 12", 5, "osz=4 imm=0x12345678", op_mov_rm_i },
	{ 64, "66 b8 34 12", 4, "osz=2 imm=0x1234", op_mov_rm_i },
	{ 64, "48 c7 c0 ff ff ff ff", 7, "osz=8 imm=-1", op_mov_rm_i },
	{ 64, "c7 00 01 00 00 00", 6, "mem=1 imm=1", op_mov_m_i },
	{ 64, "48 a1 88 77 66 55 44 33 22 11", 10, "mem=1 osz=8 imm=0x1122334455667788",
	  op_mov_acc_moffs },
	{ 64, "67 a2 78 56 34 12", 6, "osz=1 asz=4 imm=0x12345678", op_mov_moffs_acc },
	{ 64, "f6 c3 01", 3, "osz=1 rm=3 imm=1", op_test_rm_i },
	{ 64, "f6 4b 10 01", 4, "osz=1 mem=1 imm=1", op_test_m_i }, /* /1 alias */
	{ 64, "f7 c0 00 00 00 01", 6, "osz=4 imm=0x1000000", op_test_rm_i },
	{ 64, "66 f7 c0 34 12", 5, "osz=2 imm=0x1234", op_test_rm_i },
	{ 64, "f6 d3", 2, "osz=1 rm=3", op_not_rm },
	{ 64, "48 f7 d8", 3, "osz=8", op_neg_rm },
	{ 64, "f7 e1", 2, "sub=4", op_mul },
	{ 64, "83 c0 ff", 3, "osz=4 rm=0 imm=-1", op_add_rm_i },
	{ 64, "80 38 7f", 3, "osz=1 mem=1 imm=0x7f", op_cmp_m_i },
	{ 64, "48 81 eb 00 10 00 00", 7, "osz=8 rm=3 imm=0x1000", op_sub_rm_i },
	{ 64, "04 80", 2, "osz=1 rm=0 imm=0x80", op_add_rm_i },
	{ 64, "48 3d ff ff ff 7f", 6, "osz=8 rm=0 imm=0x7fffffff", op_cmp_rm_i },
	{ 64, "a8 01", 2, "osz=1 rm=0 imm=1", op_test_rm_i },
	{ 64, "c8 10 00 01", 4, "imm=0x10 imm2=1 osz=8", op_enter },
	{ 64, "6b c0 80", 3, "imm=-128", op_imul_r_rm_imm },
	{ 64, "c1 e0 05", 3, "sub=4 imm=5", op_shift_rm_imm },
	{ 64, "0f ba e0 03", 4, "sub=4 imm=3", op_bt_rm_imm },
	{ 64, "0f a4 c2 05", 4, "imm=5", op_shld_imm },
	{ 64, "cd 80", 2, "imm=0x80 end=1", op_int },
	{ 64, "e4 60", 2, "imm=0x60 osz=1 end=1", op_in },
	{ 64, "48 e5 60", 3, "osz=4", op_in }, /* REX.W ignored by I/O */
	{ 64, "66 ef", 2, "osz=2", op_out },
	{ 64, "48 6d", 2, "osz=4 mem=1", op_ins },
	/* default 64-bit operand size: stack ops and near branches (SDM vol. 2A 2.2.1.7) */
	{ 64, "50", 1, "osz=8 reg=0 rm=0", op_push_r },
	{ 64, "41 5f", 2, "osz=8 rm=15", op_pop_r },
	{ 64, "66 50", 2, "osz=2", op_push_r },
	{ 64, "6a ff", 2, "osz=8 imm=-1", op_push_i },
	{ 64, "68 00 00 00 80", 5, "osz=8 imm=0xffffffff80000000", op_push_i },
	{ 64, "ff 30", 2, "osz=8 mem=1", op_push_m },
	{ 64, "8f c0", 2, "osz=8 rm=0", op_pop_r },
	{ 64, "e8 00 00 00 00", 5, "osz=8 imm=0 end=1", op_call_rel },
	{ 64, "66 e8 00 00 00 00", 6, "osz=8", op_call_rel }, /* 66 ignored: rel32 kept */
	{ 64, "e9 fb ff ff ff", 5, "imm=-5 end=1", op_jmp_rel },
	{ 64, "0f 84 fe ff ff ff", 6, "sub=4 imm=-2 osz=8 end=1", op_jz },
	{ 64, "66 0f 8f 00 00 00 00", 7, "sub=15 osz=8", op_jnle },
	{ 64, "75 fe", 2, "sub=5 imm=-2", op_jnz },
	{ 64, "70 00", 2, "sub=0", op_jo },
	{ 64, "7c 00", 2, "sub=12", op_jl },
	{ 64, "0f 82 00 00 00 00", 6, "sub=2", op_jb },
	{ 64, "0f 87 00 00 00 00", 6, "sub=7", op_jnbe },
	{ 64, "2e 74 00", 3, "sub=4", op_jz }, /* branch hint */
	{ 64, "ff 15 00 10 00 00", 6, "osz=8 base=" RIP " disp=0x1000 end=1", op_call_m },
	{ 64, "ff e0", 2, "osz=8 rm=0 end=1", op_jmp_rm },
	{ 64, "3e ff e0", 3, "end=1", op_jmp_rm }, /* NOTRACK */
	{ 64, "ff 18", 2, "osz=4 mem=1 end=1", op_call_far_mem },
	{ 64, "c3", 1, "osz=8 end=1 imm=0", op_ret_near },
	{ 64, "c2 08 00", 3, "osz=8 imm=8", op_ret_near },
	{ 64, "e3 fe", 2, "asz=8 imm=-2", op_jrcxz },
	{ 64, "48 63 c1", 3, "osz=8 reg=0 rm=1", op_movsxd_r_rm },
	{ 64, "0f 94 c0", 3, "sub=4 osz=1 rm=0", op_setcc_rm },
	{ 64, "0f 4c c8", 3, "sub=12 osz=4 reg=1 rm=0", op_cmovcc_r_rm },
	{ 64, "48 8d 04 40", 4, "osz=8 base=0 index=0 scale=1", op_lea },
	{ 64, "8d c0", 2, "invalid=1", NULL }, /* LEA with a register operand */
	/* segment overrides: ES/CS/SS/DS ignored in 64-bit mode, FS/GS kept */
	{ 64, "26 8b 03", 3, "seg=3 pfx=32", op_mov_r_m },
	{ 64, "36 8b 03", 3, "seg=3", NULL },
	{ 64, "64 2e 8b 03", 4, "seg=4", NULL }, /* a null prefix keeps the earlier FS */
	{ 64, "65 36 8b 45 00", 5, "seg=5", NULL },
	{ 32, "64 2e 8b 03", 4, "seg=1", NULL }, /* outside 64-bit mode the last one counts */
	{ 64, "64 8b 03", 3, "seg=4", op_mov_r_m },
	{ 64, "65 48 8b 04 25 28 00 00 00", 9, "seg=5 base=" NONE " disp=0x28 osz=8", NULL },
	{ 64, "f3 48 a5", 3, "rep=1 osz=8 mem=1 seg=3", op_movs },
	{ 64, "f2 ae", 2, "rep=2 osz=1 mem=1", op_scas },
	{ 64, "64 ac", 2, "seg=4 osz=1", op_lods },
	/* prefix soup */
	{ 64, "66 66 66 2e 0f 1f 84 00 00 00 00 00", 12, "end=0", op_nop },
	{ 64, "f2 f3 90", 3, "rep=1", op_pause }, /* the last of F2/F3 counts */
	{ 64, "f3 f2 48 a7", 4, "rep=2 osz=8", op_cmps },
	{ 64, "26 2e 36 3e 64 65 66 67 48 8b 00", 11, "seg=5 osz=8 asz=4", NULL },
	/* hint NOPs, ENDBR, prefetch, fences, CLFLUSH */
	{ 64, "0f 1f 44 00 00", 5, "", op_nop },
	{ 64, "66 0f 1f 84 00 00 00 00 00", 9, "", op_nop },
	{ 64, "f3 0f 1e fa", 4, "", op_nop },
	{ 64, "0f 18 08", 3, "", op_nop },
	{ 64, "0f 0d 08", 3, "", op_nop },
	{ 64, "0f ae e8", 3, "", op_nop },
	{ 64, "0f ae f0", 3, "", op_nop },
	{ 64, "0f ae f8", 3, "", op_nop },
	{ 64, "0f ae 38", 3, "mem=1", op_clflush },
	{ 64, "0f ae 10", 3, "invalid=0", sse_ldmxcsr }, /* LDMXCSR */
	{ 64, "f3 0f ae 10", 4, "invalid=1", NULL }, /* no F3 form with memory */
	/* 64-bit invalid one-byte opcodes (SDM vol. 2D A.2.5) */
	{ 64, "06", 1, "invalid=1 end=1", op_ud },
	{ 64, "1f", 1, "invalid=1", NULL },
	{ 64, "27", 1, "invalid=1", NULL },
	{ 64, "60", 1, "invalid=1", NULL },
	{ 64, "ce", 1, "invalid=1", NULL },
	{ 64, "d6", 1, "invalid=1", NULL },
	/* LOCK (SDM vol. 2A LOCK): memory destination of a lockable instruction only */
	{ 64, "f0 01 03", 3, "lock=1 invalid=0", op_add_m_r },
	{ 64, "f0 01 d8", 3, "invalid=1", op_ud },
	{ 64, "f0 39 03", 3, "invalid=1", NULL },
	{ 64, "f0 8b 03", 3, "invalid=1", NULL },
	{ 64, "f0 0f c1 03", 4, "invalid=0", op_xadd },
	{ 64, "f0 48 0f c7 0e", 5, "invalid=0 osz=8", op_cmpxchg8b16b },
	{ 64, "f0 83 28 01", 4, "invalid=0", op_sub_m_i },
	{ 64, "f0 f6 18", 3, "invalid=0", op_neg_m },
	/* #UD instructions */
	{ 64, "0f 0b", 2, "invalid=1 end=1", op_ud },
	{ 64, "0f b9 c0", 3, "invalid=1", op_ud },
	{ 64, "0f ff 04 24", 4, "invalid=1", op_ud },
	/* RTM: XABORT Ib, XBEGIN Jz (not implemented) */
	{ 64, "c6 f8 01", 3, "invalid=1", NULL },
	{ 64, "c7 f8 00 00 00 00", 6, "invalid=1", NULL },
	/* system and VMX instructions (op_vmx: sub = basic exit reason, SDM vol. 3D App. C) */
	{ 64, "0f 01 c1", 3, "end=1", op_vmcall },
	{ 64, "0f 01 c2", 3, "sub=20 end=1", op_vmx },
	{ 64, "0f 01 c3", 3, "sub=24", op_vmx },
	{ 64, "0f 01 c4", 3, "sub=26", op_vmx },
	{ 64, "0f 01 d4", 3, "sub=59", op_vmx },
	{ 64, "0f 78 c8", 3, "sub=23 osz=8 end=1", op_vmx },
	{ 64, "0f 79 c8", 3, "sub=25 osz=8", op_vmx },
	{ 64, "0f c7 30", 3, "sub=21 end=1", op_vmx },
	{ 64, "66 0f c7 30", 4, "sub=19", op_vmx },
	{ 64, "f3 0f c7 30", 4, "sub=27", op_vmx },
	{ 64, "0f c7 38", 3, "sub=22", op_vmx },
	{ 64, "66 0f 38 80 08", 5, "sub=50 osz=8 end=1", op_vmx },
	{ 64, "66 0f 38 81 08", 5, "sub=53", op_vmx },
	{ 64, "0f 01 f8", 3, "end=1", op_swapgs },
	{ 64, "0f 01 f9", 3, "", op_rdtscp },
	{ 64, "0f 01 d0", 3, "", op_xgetbv },
	{ 64, "0f 01 10", 3, "end=1 osz=8", op_lgdt },
	{ 64, "66 0f 01 00", 4, "osz=8", op_sgdt },
	{ 32, "66 0f 01 18", 4, "osz=2", op_lidt },
	{ 64, "0f 01 38", 3, "end=1", op_invlpg },
	{ 64, "0f 01 e0", 3, "", op_smsw },
	{ 64, "0f 00 d8", 3, "end=1", op_ltr },
	{ 64, "0f 20 c0", 3, "osz=8 sub=0 rm=0 end=1", op_mov_r_cr },
	{ 64, "44 0f 20 c0", 4, "sub=8", op_mov_r_cr },
	{ 64, "0f 22 18", 3, "sub=3 rm=0 mem=0", op_mov_cr_r }, /* mod ignored: no SIB/disp */
	{ 64, "0f 23 f8", 3, "sub=7 end=1", op_mov_dr_r },
	{ 64, "0f 05", 2, "end=1", op_syscall },
	{ 64, "0f 30", 2, "end=1", op_wrmsr },
	{ 64, "0f a2", 2, "end=1", op_cpuid },
	{ 64, "9d", 1, "osz=8 end=1", op_popf },
	{ 64, "fb", 1, "end=1", op_sti },
	{ 64, "f4", 1, "end=1", op_hlt },
	{ 64, "8e d0", 2, "sub=2 end=1", op_mov_sreg_rm },
	{ 64, "8e c8", 2, "invalid=1", NULL }, /* MOV CS */
	{ 64, "0f a1", 2, "osz=8 end=1", op_pop_sreg },
	{ 64, "0f b2 03", 3, "end=1", op_lxs },
	{ 64, "f3 0f b8 c1", 4, "", op_popcnt },
	{ 64, "f3 48 0f bc c1", 5, "osz=8", op_tzcnt },
	{ 64, "0f bd c1", 3, "", op_bsr },
	{ 64, "0f 38 f0 06", 4, "", op_movbe_r_m },
	{ 64, "f2 0f 38 f0 c1", 5, "invalid=0", sse_crc32 }, /* CRC32 */
	{ 64, "f3 0f 38 f0 c1", 5, "invalid=1", NULL },
	{ 64, "0f c9", 2, "reg=1", op_bswap },
	/* VEX, EVEX, XOP (SDM vol. 2A 2.3, 2.6) */
	{ 64, "c4 e2 78 f2 c1", 5, "vvvv=0 reg=0 rm=1 osz=4", op_andn },
	{ 64, "c4 e2 f0 f3 c9", 5, "vvvv=1 sub=1 osz=8", op_blsr },
	{ 64, "c4 e2 78 f7 c1", 5, "", op_bextr },
	{ 64, "c4 e2 7c f2 c1", 5, "invalid=1", NULL }, /* VEX.L=1 */
	{ 64, "c5 f8 77", 3, "invalid=1", NULL },
	{ 64, "c5 fc 77", 3, "invalid=1", NULL },
	{ 64, "c5 f9 70 c0 01", 5, "invalid=1", NULL },
	{ 64, "c5 f9 6f 05 00 00 00 00", 8, "base=" RIP, NULL },
	{ 64, "c4 e3 79 0f c1 08", 6, "invalid=1", NULL },
	{ 64, "c4 e2 79 00 c1", 5, "invalid=1", NULL },
	{ 64, "62 f1 7c 48 10 44 24 01", 8, "invalid=1", NULL },
	{ 64, "62 f3 7d 48 0f c1 08", 7, "invalid=1", NULL },
	{ 64, "62 f1 7d 48 72 e0 05", 7, "invalid=1", NULL },
	{ 64, "8f e8 78 c2 c0 01", 6, "invalid=1", NULL },
	{ 64, "8f e9 78 81 c0", 5, "invalid=1", NULL },
	{ 64, "8f ea 78 10 c0 01 00 00 00", 9, "invalid=1", NULL },
	/* legacy SSE/x87/3DNow! lengths */
	{ 64, "0f 0f c1 b4", 4, "invalid=1", NULL },
	{ 64, "0f 70 c0 01", 4, "invalid=0 imm=1", op_mmx }, /* PSHUFW */
	{ 64, "66 0f 73 d8 08", 5, "invalid=0", sse_shift_imm }, /* PSRLDQ */
	{ 64, "66 0f 73 e0 08", 5, "invalid=1", NULL },     /* /4: no PSRAQ */
	{ 64, "66 0f 3a 0f c1 08", 6, "invalid=0", sse_ssse3 },
	{ 64, "66 0f 38 00 c1", 5, "invalid=0", sse_ssse3 },
	{ 64, "0f 38 00 c1", 4, "invalid=0", sse_ssse3_mmx },	  /* PSHUFB mm, mm */
	{ 64, "0f 38 1e 44 24 08", 6, "invalid=0", sse_ssse3_mmx }, /* PABSD mm, m64 */
	{ 64, "0f 3a 0f c1 08", 5, "invalid=0 imm=8", sse_ssse3_mmx }, /* PALIGNR mm */
	{ 64, "0f 38 10 c1", 4, "invalid=1", NULL },		  /* PBLENDVB: 66 only */
	{ 64, "f3 0f 38 00 c1", 5, "invalid=1", NULL },
	{ 64, "0f 2a c1", 3, "invalid=0", sse_cvtpi2p },	     /* CVTPI2PS xmm, mm */
	{ 64, "66 0f 2a 44 24 08", 6, "invalid=0", sse_cvtpi2p }, /* CVTPI2PD xmm, m64 */
	{ 64, "0f 2c c1", 3, "invalid=0", sse_cvtp2pi },	     /* CVTTPS2PI mm, xmm */
	{ 64, "66 0f 2d 44 24 08", 6, "invalid=0", sse_cvtp2pi }, /* CVTPD2PI mm, m128 */
	{ 64, "f3 0f d6 c1", 4, "invalid=0", sse_movq2dq },
	{ 64, "f2 0f d6 c1", 4, "invalid=0", sse_movdq2q },
	{ 64, "f3 0f d6 00", 4, "invalid=1", NULL }, /* MOVQ2DQ, MOVDQ2Q: register only */
	{ 64, "f2 0f d6 00", 4, "invalid=1", NULL },
	{ 64, "0f c2 c1 00", 4, "invalid=0", sse_cmp },
	{ 64, "0f c6 c1 00", 4, "invalid=0", sse_shufps },
	{ 64, "f2 0f 10 44 24 08", 6, "invalid=0", sse_movss_load }, /* MOVSD */
	{ 64, "66 f3 0f 10 c1", 5, "invalid=0", sse_movss_load },  /* F3 wins over 66 */
	{ 64, "f0 0f 10 c1", 4, "invalid=1", NULL },               /* LOCK */
	{ 64, "66 0f 78 c0 01 02", 6, "invalid=1", NULL }, /* SSE4a EXTRQ Ib Ib */
	/* x87, MMX, FXSAVE/FXRSTOR (fpu.c, mmx.c) */
	{ 64, "d8 c1", 2, "invalid=0", op_x87_reg },
	{ 64, "dd 44 24 08", 4, "invalid=0 imm=8", op_x87_load }, /* FLD m64: imm = size */
	{ 64, "df 7c 24 08", 4, "invalid=0 imm=8", op_x87_store }, /* FISTP m64 */
	{ 64, "9b", 1, "invalid=0", op_fwait },
	{ 64, "d9 d1", 2, "invalid=1", NULL },
	{ 64, "d9 08", 2, "invalid=1", NULL },
	{ 64, "db e5", 2, "invalid=1", NULL },
	{ 64, "de d8", 2, "invalid=1", NULL },
	{ 64, "de d9", 2, "invalid=0", op_x87_reg }, /* FCOMPP */
	{ 64, "f0 d8 00", 3, "invalid=1", NULL },
	{ 64, "df e0", 2, "invalid=0", op_fnstsw_ax },
	{ 64, "db e3", 2, "invalid=0", op_fninit },
	{ 64, "66 d9 30", 3, "invalid=0 osz=2", op_fnstenv },
	{ 64, "0f ae 00", 3, "invalid=0", op_fxsave },
	{ 64, "48 0f ae 08", 4, "invalid=0", op_fxrstor },
	{ 64, "66 0f ae 00", 4, "invalid=1", NULL },
	{ 64, "0f 77", 2, "invalid=0", op_emms },
	{ 64, "0f fc c1", 3, "invalid=0", op_mmx },
	{ 64, "0f 73 d8 08", 4, "invalid=1", NULL }, /* PSRLDQ needs 66 */
	{ 64, "0f e7 c0", 3, "invalid=1", NULL },    /* MOVNTQ to a register */
	{ 64, "0f d7 00", 3, "invalid=1", NULL },    /* PMOVMSKB from memory */
	/* 32-bit mode */
	{ 32, "40", 1, "osz=4 rm=0", op_inc_rm },
	{ 32, "4f", 1, "rm=7", op_dec_rm },
	{ 32, "66 48", 2, "osz=2 rm=0", op_dec_rm },
	{ 32, "8b 00", 2, "asz=4 base=0", NULL },
	{ 32, "8b 45 fc", 3, "base=5 seg=2 disp=-4", NULL },
	{ 32, "36 8b 03", 3, "seg=2", NULL },
	{ 32, "2e 8b 45 fc", 4, "seg=1", NULL },
	{ 32, "8b 05 78 56 34 12", 6, "base=" NONE " disp=0x12345678", NULL },
	{ 32, "67 8b 00", 3, "asz=2 base=3 index=6", NULL },
	{ 32, "67 8b 46 08", 4, "asz=2 base=5 index=" NONE " seg=2 disp=8", NULL },
	{ 32, "67 8b 06 34 12", 5, "base=" NONE " index=" NONE " disp=0x1234", NULL },
	{ 32, "67 8b 42 fe", 4, "base=5 index=6 seg=2 disp=-2", NULL },
	{ 32, "67 8b 87 00 80", 5, "base=3 index=" NONE " disp=-0x8000", NULL },
	{ 32, "a1 78 56 34 12", 5, "imm=0x12345678 asz=4", NULL },
	{ 32, "67 a1 34 12", 4, "imm=0x1234 asz=2", NULL },
	{ 32, "e8 00 00 00 00", 5, "osz=4", op_call_rel },
	{ 32, "66 e8 34 12", 4, "osz=2 imm=0x1234", op_call_rel },
	{ 32, "66 0f 84 00 80", 5, "osz=2 imm=-0x8000", op_jz },
	{ 32, "c4 06", 2, "sub=0 mem=1", op_lxs },
	{ 32, "c5 06", 2, "mem=1", op_lxs },
	{ 32, "c5 f8 77", 3, "invalid=1", NULL },
	{ 32, "62 00", 2, "", op_bound },
	{ 32, "62 f1 7c 48 10 c1", 6, "invalid=1", NULL },
	{ 32, "9a 78 56 34 12 cd ab", 7, "imm=0x12345678 imm2=0xabcd end=1", op_call_far_ptr },
	{ 32, "66 ea 34 12 cd ab", 6, "imm=0x1234 imm2=0xabcd", op_jmp_far_ptr },
	{ 32, "60", 1, "osz=4", op_pusha },
	{ 32, "66 61", 2, "osz=2", op_popa },
	{ 32, "63 c1", 2, "", op_arpl },
	{ 32, "27", 1, "", op_daa },
	{ 32, "d4 0a", 2, "imm=10", op_aam },
	{ 32, "0f 20 c0", 3, "osz=4", op_mov_r_cr },
	{ 32, "6a 80", 2, "osz=4 imm=-128", op_push_i },
	{ 32, "0f 01 f8", 3, "invalid=1", NULL }, /* SWAPGS outside 64-bit mode */
	{ 32, "8f e8 78 c2 c0 01", 6, "invalid=1", NULL },
	{ 32, "8f 00", 2, "mem=1 osz=4", op_pop_m },
	/* 16-bit mode */
	{ 16, "8b 46 08", 3, "asz=2 osz=2 base=5 seg=2 disp=8", NULL },
	{ 16, "66 8b 00", 3, "osz=4 asz=2 base=3 index=6", NULL },
	{ 16, "b8 34 12", 3, "imm=0x1234 osz=2", NULL },
	{ 16, "e8 34 12", 3, "osz=2 imm=0x1234", op_call_rel },
	{ 16, "67 8b 44 24 08", 5, "asz=4 base=4 disp=8 seg=2", NULL },
	{ 16, "a1 34 12", 3, "imm=0x1234 asz=2", NULL },
	{ 16, "ea 00 7c 00 00", 5, "imm=0x7c00 imm2=0", op_jmp_far_ptr },
	{ 16, "c4 e2 78 f2 c1", 5, "osz=4 vvvv=0", op_andn }, /* VEX outside 64-bit: mod 3 */
	{ 16, "c4 04", 2, "mem=1 base=6 asz=2", op_lxs },
	/* too short: -1; over-long (> 15): full length, the caller raises #GP(0) */
	{ 64, "48 b8 01 02", -1, "", NULL },
	{ 64, "0f", -1, "", NULL },
	{ 64, "66", -1, "", NULL },
	{ 64, "8b 04", -1, "", NULL },
	{ 64, "c4 e2", -1, "", NULL },
	{ 64, "66 66 66 66 66 66 66 66 66 66 66 66 66 66 66 90", 16, "", NULL },
	{ 64, "66 66 66 66 66 66 66 66 66 66 66 66 66 66 66", -1, "", NULL },
};

static size_t parse_hex(const char *s, u8 *out)
{
	size_t n = 0;

	while (*s) {
		char *end;

		out[n++] = (u8)strtoul(s, &end, 16);
		s = end;
		while (*s == ' ')
			s++;
	}
	return n;
}

static u64 field(const struct insn *d, const char *name, bool *ok)
{
	static const struct {
		const char *name;
		size_t off, size;
	} fields[] = {
#define F(x) { #x, offsetof(struct insn, x), sizeof(((struct insn *)0)->x) }
		F(imm),	 F(disp),  F(imm2),  F(opcode), F(osz), F(asz),	 F(reg), F(rm),	 F(mem),
		F(base), F(index), F(scale), F(seg),	F(rep), F(lock), F(sub), F(pfx), F(vvvv),
#undef F
	};

	*ok = true;
	if (!strcmp(name, "invalid"))
		return !!(d->flags & INSN_INVALID);
	if (!strcmp(name, "end"))
		return !!(d->flags & INSN_END_BLOCK);
	for (size_t i = 0; i < ARRAY_SIZE(fields); i++) {
		if (strcmp(name, fields[i].name))
			continue;
		if (!strcmp(name, "disp"))
			return (u64)(s64)d->disp;
		u64 v = 0;
		memcpy(&v, (const u8 *)d + fields[i].off, fields[i].size);
		return v;
	}
	*ok = false;
	return 0;
}

static void run_case(const struct tcase *t)
{
	u8 buf[32];
	size_t n = parse_hex(t->bytes, buf);
	struct insn d;
	int len = x86_decode(&d, buf, n, t->bits);
	char spec[256], *save, *tok;

	if (len != t->len) {
		check_failed++;
		fprintf(stderr, "FAIL %u-bit [%s]: length %d, want %d\n", t->bits, t->bytes, len,
			t->len);
		return;
	}
	check_passed++;
	if (len < 0)
		return;
	if (d.len != (len > 255 ? 255 : len)) {
		check_failed++;
		fprintf(stderr, "FAIL %u-bit [%s]: d.len %u\n", t->bits, t->bytes, d.len);
	}
	/* 32- and 64-bit forms get the size-specialized equivalent of the table's handler. */
	if (t->fn && d.fn != ops_specialize(t->fn, d.osz)) {
		check_failed++;
		fprintf(stderr, "FAIL %u-bit [%s]: wrong handler\n", t->bits, t->bytes);
	} else if (t->fn) {
		check_passed++;
	}
	/* An invalid encoding always runs op_ud and ends the block. */
	CHECK(!(d.flags & INSN_INVALID) || (d.fn == op_ud && (d.flags & INSN_END_BLOCK)));
	snprintf(spec, sizeof(spec), "%s", t->fields);
	for (tok = strtok_r(spec, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
		char *eq = strchr(tok, '=');
		bool ok;
		u64 want, got;

		*eq = 0;
		want = eq[1] == '-' ? (u64)strtoll(eq + 1, NULL, 0) : strtoull(eq + 1, NULL, 0);
		got = field(&d, tok, &ok);
		if (!ok || got != want) {
			check_failed++;
			fprintf(stderr,
				"FAIL %u-bit [%s]: %s = %#" PRIx64 ", want %#" PRIx64 "%s\n",
				t->bits, t->bytes, tok, got, want, ok ? "" : " (unknown field)");
		} else {
			check_passed++;
		}
	}
}

int main(void)
{
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++)
		run_case(&cases[i]);
	return check_done("decode");
}
