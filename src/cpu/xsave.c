// SPDX-License-Identifier: MIT
/*
 * The XSAVE feature set (SDM vol. 1 chapter 13): XGETBV, XSETBV, XSAVE, XSAVEOPT, XSAVEC,
 * XSAVES, XRSTOR, XRSTORS, XCR0 and IA32_XSS.
 *
 * What is supported: user state components 0 (x87) and 1 (SSE), so XCR0 is 1 or 3; no extended
 * components (AVX comes with VEX decoding, docs/cpu.md "SSE") and no supervisor components, so
 * IA32_XSS can only hold 0 and the XSAVE area is the legacy region and the header, 576 bytes, in
 * both formats. CPUID leaf 0DH says exactly this (vmm/cpuid.c).
 *
 * XINUSE (13.6) is computed from the registers when needed rather than tracked: a component is
 * "in use" unless it is in its initial configuration, which the SDM allows (XINUSE[i] = 1 is
 * permitted for a component in its initial configuration, XINUSE[i] = 0 is not for one that is
 * not). XINUSE[1] is the XMM registers' alone, as on hardware (13.6); the compacted forms make
 * their MXCSR exception explicitly (13.10, 13.11). The modified optimization is not used:
 * XSAVEOPT and XSAVES write every component they would save for XINUSE (the init optimization),
 * which 13.9 and 13.11 allow.
 *
 * Memory: the area must be 64-byte aligned (#GP(0); the SDM lets #AC come first under alignment
 * checking, which is not done). Every part to be written is checked as a write first, then the
 * parts are written; XRSTOR reads and checks everything before loading any register. Bytes
 * 511:464 of the legacy region are never touched.
 *
 * The x87 part of the legacy region is FXSAVE's (13.5.1): fpu_x87_save()/fpu_x87_load() build
 * and load it, FIP and FDP 64-bit with REX.W, else 32-bit offsets with FCS and FDS. MXCSR_MASK
 * is written as FXSAVE writes it (X86_MXCSR_MASK); XRSTOR ignores it.
 */
#include <errno.h>

#include "cpu/fpu.h"
#include "cpu/ops.h"
#include "cpu/xsave.h"

#define XCR0_X87	 BIT(0)
#define XCR0_SSE	 BIT(1)
#define XCR0_AVX	 BIT(2)
#define XCOMP_BV_COMPACT BIT(63)

/* Offsets in the legacy region and header (13.4). */
#define XS_FCW	 0
#define XS_MXCSR 24
#define XS_ST	 32
#define XS_XMM	 160
#define XS_HDR	 512

/* Whether the x87 state is in its initial configuration (13.6): FCW 037FH, FSW 0, all tags
   empty, FOP, FIP, FDP 0 and every data register 0. */
static bool x87_init(const struct cpu *c)
{
	static const u8 zero[sizeof(c->fpu.st)];
	const struct x86_fpu *f = &c->fpu;

	return f->fcw == X86_FPU_FCW_INIT && !f->fsw && !f->ftw && !f->fop && !f->fip && !f->fdp &&
	       !c->fpu_cs && !c->fpu_ds && !memcmp(f->st, zero, sizeof(f->st));
}

/* SSE state is in its initial configuration when the XMM registers are 0; XINUSE[1] says nothing
   about MXCSR (13.6). All sixteen are looked at in every mode, which may only set XINUSE[1]. */
static bool sse_init(const struct x86_fpu *f)
{
	static const u8 zero[sizeof(f->xmm)];

	return !memcmp(f->xmm, zero, sizeof(f->xmm));
}

u64 xsave_xinuse(const struct cpu *c)
{
	return (x87_init(c) ? 0 : XCR0_X87) | (sse_init(&c->fpu) ? 0 : XCR0_SSE);
}

bool xsave_xcr0_valid(u64 v)
{
	/* 13.3: bit 0 must be 1; only supported bits; AVX needs SSE. */
	return (v & XCR0_X87) && !(v & ~XSAVE_XCR0_SUPPORTED) &&
	       (!(v & XCR0_AVX) || (v & XCR0_SSE));
}

int cpu_set_xcr0(struct cpu *c, u64 xcr0)
{
	if (!xsave_xcr0_valid(xcr0))
		return -EINVAL;
	c->xcr0 = xcr0;
	return 0;
}

/* --- XGETBV, XSETBV (SDM vol. 2 XGETBV, XSETBV; vol. 3C 26.1.2) --- */

/* ECX 0: XCR0; ECX 1: XINUSE & XCR0 (CPUID.(EAX=0DH,ECX=1):EAX[2]); else #GP(0). */
void op_xgetbv(struct cpu *c, const struct insn *d)
{
	u32 idx = (u32)c->gpr[R_RCX];
	u64 v;

	if (!(c->cr4 & CR4_OSXSAVE))
		cpu_ud(c);
	if (idx > 1)
		cpu_gp(c, 0);
	v = idx ? c->xcr0 & xsave_xinuse(c) : c->xcr0;
	c->gpr[R_RAX] = (u32)v;
	c->gpr[R_RDX] = v >> 32;
}

/*
 * XSETBV always exits in VMX non-root operation (26.1.2); #UD (CR4.OSXSAVE = 0) and the CPL
 * check come first, being the faults that have priority over VM exits (26.1.1). The VMM loads
 * XCR0 through cpu_set_xcr0().
 */
void op_xsetbv(struct cpu *c, const struct insn *d)
{
	if (!(c->cr4 & CR4_OSXSAVE))
		cpu_ud(c);
	if (c->cpl)
		cpu_gp(c, 0);
	cpu_vmexit_insn(c, EXIT_REASON_XSETBV, 0);
}

/* --- The area in memory --- */

struct xs_piece {
	u32 off, len;
	const void *src;
};

static u64 xs_ea(const struct insn *d, u64 base, u32 off)
{
	return (base + off) & size_mask(d->asz);
}

static void xs_read(struct cpu *c, const struct insn *d, u64 base, u32 off, void *buf, u32 n)
{
	u64 lin = seg_lin(c, d->seg, xs_ea(d, base, off), n, ACC_READ);

	mmu_read_bytes(c, lin, buf, n, d->seg == SEG_SS ? ACC_READ | ACC_SS : ACC_READ);
}

/* Check every piece as a write, then write them all. */
static void xs_write_all(struct cpu *c, const struct insn *d, u64 base, const struct xs_piece *p,
			 unsigned n)
{
	int acc = d->seg == SEG_SS ? ACC_WRITE | ACC_SS : ACC_WRITE;

	for (unsigned i = 0; i < n; i++)
		mem_probe_write(c, d->seg, xs_ea(d, base, p[i].off), p[i].len);
	for (unsigned i = 0; i < n; i++) {
		u64 lin = seg_lin(c, d->seg, xs_ea(d, base, p[i].off), p[i].len, ACC_WRITE);

		mmu_write_bytes(c, lin, p[i].src, p[i].len, acc);
	}
}

/* The common checks (SDM vol. 2 XSAVE...: #UD, #NM, then #GP(0) for a misaligned area), and the
   area's effective address. */
static u64 xs_begin(struct cpu *c, const struct insn *d, bool supervisor)
{
	u64 ea;

	if (!(c->cr4 & CR4_OSXSAVE))
		cpu_ud(c);
	if (supervisor && !(cpu_proc2(c) & PROC2_ENABLE_XSAVES))
		cpu_ud(c); /* XSAVES/XRSTORS without "enable XSAVES/XRSTORS" (26.3) */
	if (c->cr0 & CR0_TS)
		cpu_fault(c, X86_NM, 0);
	if (supervisor && c->cpl)
		cpu_gp(c, 0);
	ea = insn_ea(c, d);
	if ((c->seg_base[d->seg] + ea) & 63)
		cpu_gp(c, 0);
	return ea;
}

/* XRSTOR's initial configuration of x87 state (13.6): FCW 037FH, everything else 0, through the
   FXRSTOR loader so that FSW.ES and FERR# follow. */
static void x87_reset(struct cpu *c)
{
	u8 img[XS_XMM] = { 0 };

	img[0] = X86_FPU_FCW_INIT & 0xff;
	img[1] = X86_FPU_FCW_INIT >> 8;
	fpu_x87_load(c, img, true);
}

/* XMM registers XSAVE and XRSTOR touch: 16 in 64-bit mode, else 8 (13.5.2, 13.13). */
static unsigned xmm_count(const struct cpu *c)
{
	return c->code_bits == 64 ? 16 : 8;
}

/* RFBM = EDX:EAX & XCR0 (XSAVES, XRSTORS: & (XCR0 | IA32_XSS), the same here: IA32_XSS is 0). */
static u64 xs_rfbm(const struct cpu *c)
{
	return ((u32)c->gpr[R_RAX] | c->gpr[R_RDX] << 32) & c->xcr0;
}

/*
 * XSAVE, XSAVEOPT (0F AE /4 /6), XSAVEC, XSAVES (0F C7 /4 /5).
 *   XSAVE: component i if RFBM[i]; XSTATE_BV[i] = XINUSE[i] where RFBM[i], others kept (13.7).
 *   XSAVEOPT: the same with the init optimization: component i only if also XINUSE[i] (13.9).
 *   XSAVEC/XSAVES: compacted; component i if RFBM[i] and XINUSE[i]; XSTATE_BV = RFBM & XINUSE,
 *   XCOMP_BV = RFBM | 2^63, nothing else of the header (13.10, 13.11). The exception: with
 *   RFBM[1] and MXCSR not 1F80H, SSE state is saved and XSTATE_BV[1] set as if XINUSE[1] were 1
 *   (else a compacted XRSTOR would reset MXCSR).
 * MXCSR and MXCSR_MASK: the standard forms write them with RFBM[1] or RFBM[2] whatever XINUSE
 * (the optimizations do not apply to them, 13.9); the compacted forms with SSE state.
 */
void op_xsave(struct cpu *c, const struct insn *d)
{
	bool compact = (d->opcode & 0xff) == 0xc7, opt = !compact && d->sub == 6;
	bool supervisor = compact && d->sub == 5, rex_w = d->pfx & PFX_REXW;
	u64 rfbm, xstate, save, base, hdr[2];
	struct xs_piece p[6];
	u8 img[XS_XMM], mx[8];
	u32 mask = X86_MXCSR_MASK;
	unsigned n = 0;

	base = xs_begin(c, d, supervisor);
	rfbm = xs_rfbm(c);
	xstate = xsave_xinuse(c) & rfbm;
	if (compact && (rfbm & XCR0_SSE) && c->fpu.mxcsr != X86_FPU_MXCSR_INIT)
		xstate |= XCR0_SSE;
	save = opt || compact ? xstate : rfbm;
	if (!compact)
		xs_read(c, d, base, XS_HDR, &hdr[0], 8);
	if (save & XCR0_X87) {
		fpu_x87_save(c, img, rex_w);
		p[n++] = (struct xs_piece){ XS_FCW, XS_MXCSR, img };
		p[n++] = (struct xs_piece){ XS_ST, XS_XMM - XS_ST, img + XS_ST };
	}
	if (compact ? save & XCR0_SSE : rfbm & (XCR0_SSE | XCR0_AVX)) {
		memcpy(mx, &c->fpu.mxcsr, 4);
		memcpy(mx + 4, &mask, 4);
		p[n++] = (struct xs_piece){ XS_MXCSR, 8, mx };
	}
	if (save & XCR0_SSE)
		p[n++] = (struct xs_piece){ XS_XMM, 16 * xmm_count(c), c->fpu.xmm };
	if (compact) {
		hdr[0] = xstate;
		hdr[1] = rfbm | XCOMP_BV_COMPACT;
		p[n++] = (struct xs_piece){ XS_HDR, 16, hdr };
	} else {
		hdr[0] = (hdr[0] & ~rfbm) | xstate;
		p[n++] = (struct xs_piece){ XS_HDR, 8, hdr };
	}
	xs_write_all(c, d, base, p, n);
}

/*
 * XRSTOR (0F AE /5) and XRSTORS (0F C7 /3), SDM 13.8, 13.12. XCOMP_BV[63] picks the form.
 * Standard form: #GP(0) if XSTATE_BV has a bit outside XCR0 or header bytes 23:8 are not 0;
 * MXCSR is loaded when RFBM[1] or RFBM[2]. Compacted form: #GP(0) if XCOMP_BV[62:0] has a bit
 * outside XCR0 (| IA32_XSS), XSTATE_BV one outside XCOMP_BV[62:0] (bit 63 too), or header bytes
 * 63:16 are not 0; MXCSR is loaded when RFBM[1] and XSTATE_BV[1], and initialized (1F80H) when
 * RFBM[1] alone. XRSTORS takes only the compacted form. A reserved MXCSR bit is #GP(0). Then
 * component i with RFBM[i] is loaded when XSTATE_BV[i], else initialized; outside 64-bit mode
 * XMM8-15 are kept.
 */
void op_xrstor(struct cpu *c, const struct insn *d)
{
	bool supervisor = (d->opcode & 0xff) == 0xc7, rex_w = d->pfx & PFX_REXW, compact;
	u64 rfbm, base, hdr[8], xstate_bv;
	u8 area[XS_HDR];
	u32 mxcsr = X86_FPU_MXCSR_INIT;
	bool load_mxcsr;

	base = xs_begin(c, d, supervisor);
	rfbm = xs_rfbm(c);
	xs_read(c, d, base, XS_HDR, hdr, sizeof(hdr));
	xstate_bv = hdr[0];
	compact = hdr[1] & XCOMP_BV_COMPACT;
	if (compact) {
		if ((hdr[1] & ~XCOMP_BV_COMPACT & ~c->xcr0) ||
		    (xstate_bv & ~(hdr[1] & ~XCOMP_BV_COMPACT)) || hdr[2] || hdr[3] || hdr[4] ||
		    hdr[5] || hdr[6] || hdr[7])
			cpu_gp(c, 0);
		load_mxcsr = (rfbm & XCR0_SSE) && (xstate_bv & XCR0_SSE);
	} else {
		if (supervisor || (xstate_bv & ~c->xcr0) || hdr[1] || hdr[2])
			cpu_gp(c, 0);
		load_mxcsr = rfbm & (XCR0_SSE | XCR0_AVX);
	}
	if (rfbm & (XCR0_X87 | XCR0_SSE))
		xs_read(c, d, base, 0, area, XS_XMM + 16 * xmm_count(c));
	if (load_mxcsr) {
		memcpy(&mxcsr, area + XS_MXCSR, 4);
		if (mxcsr & ~X86_MXCSR_MASK)
			cpu_gp(c, 0);
	}
	/* Checked: now load. */
	if (rfbm & XCR0_X87) {
		if (xstate_bv & XCR0_X87)
			fpu_x87_load(c, area, rex_w);
		else
			x87_reset(c);
	}
	if (load_mxcsr || (compact && (rfbm & XCR0_SSE)))
		c->fpu.mxcsr = mxcsr;
	if (rfbm & XCR0_SSE) {
		if (xstate_bv & XCR0_SSE)
			memcpy(c->fpu.xmm, area + XS_XMM, 16 * xmm_count(c));
		else
			memset(c->fpu.xmm, 0, 16 * xmm_count(c));
	}
}
