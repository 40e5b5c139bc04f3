/* SPDX-License-Identifier: MIT */
/*
 * The x87 FPU and MMX inside the software CPU (fpu.c, fpu_host.c, mmx.c): register bits, the
 * handlers the decoder names, and the host-x87 executor.
 *
 * State. c->fpu (x86.h struct x86_fpu) in FXSAVE's own order: fsw holds TOP, st[i] is ST(i)
 * (relative to TOP, 10 bytes used of 16), ftw is the abridged tag word by *physical* register
 * (bit j: R_j is not empty, SDM vol. 1 10.5.1.1), fip/fdp are the offsets of the last non-control
 * instruction and of its memory operand (SDM vol. 1 8.1.8), and c->fpu_cs / c->fpu_ds their
 * selectors, which only the 32-bit image formats hold. The exchange format is therefore the state
 * itself: FXSAVE, XSAVE and the VMM copy it without converting. Pushes and pops happen on the
 * host, whose FNSAVE gives ST(i) back in this order; a change of TOP that keeps the physical
 * registers (FLDENV, FNINIT, EMMS, MMX) rotates the eight slots (fpu_rotate_to).
 * Invariant: FSW.ES and FSW.B are set exactly when a flag in FSW[5:0] is unmasked in FCW.
 */
#pragma once
#include "cpu/internal.h"

/* x87 status word (SDM vol. 1 8.1.3, Figure 8-4). */
#define FSW_IE	      BIT(0)
#define FSW_DE	      BIT(1)
#define FSW_ZE	      BIT(2)
#define FSW_OE	      BIT(3)
#define FSW_UE	      BIT(4)
#define FSW_PE	      BIT(5)
#define FSW_SF	      BIT(6)
#define FSW_ES	      BIT(7)
#define FSW_C0	      BIT(8)
#define FSW_C1	      BIT(9)
#define FSW_C2	      BIT(10)
#define FSW_TOP_SHIFT 11
#define FSW_TOP	      (7u << FSW_TOP_SHIFT)
#define FSW_C3	      BIT(14)
#define FSW_B	      BIT(15)
#define FSW_EXC	      0x3fu /* IE DE ZE OE UE PE: the flags FCW[5:0] mask */
#define FSW_CC	      (FSW_C0 | FSW_C1 | FSW_C2 | FSW_C3)

/* x87 control word (SDM vol. 1 8.1.5): bits 6 and 13-15 are reserved; FLDCW keeps 12:8 and 5:0
   and reads bit 6 as 1 (measured: 0xffff loads as 0x1f7f, 0 as 0x0040). */
#define FCW_WRITABLE 0x1f3fu
#define FCW_FIXED1   0x0040u
#define FCW_INIT     X86_FPU_FCW_INIT

/*
 * The host's x87 runs the guest's arithmetic (fpu_host.c). In: the guest's FCW, its FSW with the
 * exception flags, ES and B clear, the full tag word (SDM vol. 1 8.1.7) and ST(0)..ST(7); rflags
 * holds the arithmetic flags FCMOVcc reads. The x87 instruction with first byte `opc` and ModRM
 * `modrm` runs as the hardware runs it, the guest's exception masks included (unmasked
 * exceptions change what is written, SDM vol. 1 8.5); a memory form (modrm < 0xc0) reads or
 * writes `mem` whatever the ModRM's addressing. Out: FSW with the new flags (ES set when one is
 * unmasked), tags, registers, and rflags as FCOMI/FUCOMI set them.
 */
struct fpu_host {
	u16 fcw, fsw, ftw;
	u8 st[8][10];
	u64 rflags;
};
void fpu_host_exec(struct fpu_host *h, u8 opc, u8 modrm, void *mem);

/* Set TOP, keeping the physical registers where they are (st[] is relative to TOP). */
void fpu_rotate_to(struct x86_fpu *f, unsigned top);
/*
 * Before an instruction that waits (every x87 instruction but the FN* control forms; WAIT; MMX):
 * with FSW.ES set, #MF when CR0.NE = 1 (SDM vol. 3A 6.15 Interrupt 16), else the MS-DOS
 * compatible path (SDM vol. 1 8.7, Appendix D): FERR# is asserted and, unless IGNNE# is, the
 * processor freezes until an interrupt. False when frozen: the handler returns at once, having
 * done nothing (fpu.c).
 */
bool fpu_wait(struct cpu *c);
/*
 * The x87 and MMX part of an FXSAVE image: bytes 0-23 but MXCSR and MXCSR_MASK, and 32-159 (ST0-7
 * / MM0-7 in 16-byte slots, reserved bytes 0). `rexw`: 64-bit FIP and FDP, else FIP[31:0], FCS,
 * FDP[31:0], FDS. FXSAVE/FXRSTOR and the XSAVE family (state component 0, SDM vol. 1 13.5.1)
 * store and load it alike; loading fixes FCW's reserved bits, recomputes FSW.ES and B and
 * masks FOP to 11 bits, as FXRSTOR does. Neither checks anything: the caller has.
 */
void fpu_x87_save(const struct cpu *c, u8 *img, bool rexw);
void fpu_x87_load(struct cpu *c, const u8 *img, bool rexw);
/* Power-up state of x87, MMX and MXCSR (SDM vol. 3A 9.1.1 Table 9-1). */
void fpu_reset(struct cpu *c);

/* MMX (mmx.c, SDM vol. 1 9.5): after the checks of an MMX instruction, before it writes: TOP = 0,
   every register valid. Then MMi is st[i]. */
void mmx_enter(struct cpu *c);
/* MMi (physical register i) before mmx_enter: the mantissa bits 63:0. */
u64 mmx_read(const struct cpu *c, unsigned i);
/* MMi after mmx_enter: bits 63:0 and the exponent field all ones (SDM vol. 1 9.5.1). */
void mmx_write(struct cpu *c, unsigned i, u64 v);
/* The checks every MMX instruction makes first: #UD with CR0.EM, #NM with CR0.TS, then a pending
   x87 exception as fpu_wait() (SDM vol. 3A Table 2-2; vol. 2 "Exceptions" of each MMX
   instruction). False when frozen. */
bool mmx_check(struct cpu *c);

/* Handlers the decoder names (decode.c, "x87 and MMX" region). */
/* clang-format off */
#define FPU_OPS_LIST(X)                                                                            \
	/* fpu.c: D8-DF */                                                                         \
	X(op_x87_reg)   /* register forms, run on the host x87 */                                  \
	X(op_x87_load)  /* memory loads: FLD, FILD, FBLD, arithmetic with m16/m32/m64 */           \
	X(op_x87_store) /* memory stores: FST(P), FIST(P), FISTTP, FBSTP */                        \
	X(op_fnstenv) X(op_fldenv) X(op_fnsave) X(op_frstor) /* D9 /6 /4, DD /6 /4 */              \
	X(op_fnstcw) X(op_fldcw) X(op_fnstsw_m) X(op_fnstsw_ax) /* D9 /7 /5, DD /7, DF E0 */       \
	X(op_fnclex) X(op_fninit) X(op_fnop_ctl) /* DB E2, E3; E0 E1 E4: FNENI FNDISI FNSETPM */   \
	X(op_fwait) /* 9B */                                                                       \
	X(op_fxsave) X(op_fxrstor) /* 0F AE /0 /1 memory; REX.W: the 64-bit format */              \
	/* mmx.c: 0F 60-7F, C4 C5, D1-FE without 66/F2/F3; EMMS 0F 77 */                           \
	X(op_mmx) X(op_emms)

/* clang-format on */

#define X(name) void name(struct cpu *c, const struct insn *d);
FPU_OPS_LIST(X)
#undef X
