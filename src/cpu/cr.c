// SPDX-License-Identifier: MIT
/*
 * Control and debug registers, caches and the TLB in VMX non-root operation: MOV CR, CLTS, LMSW,
 * SMSW, MOV DR, INVD, WBINVD, INVLPG. Handlers keep the order of checks of cpu/internal.h
 * ("System instructions").
 *
 * Model-specific choices (see docs/cpu.md): CR4 accepts only what CPUID advertises (TSD, DE, PSE,
 * PAE, PGE, SMEP, SMAP, OSFXSR, OSXMMEXCPT, FSGSBASE, OSXSAVE).
 */
#include "cpu/internal.h"
#include "cpu/ops.h"

/* --- Control registers (SDM vol. 2 MOV CR, vol. 3C 26.1.3, 26.3) --- */

#define CR_ACCESS_MOV_TO   0u
#define CR_ACCESS_MOV_FROM 1u
#define CR_ACCESS_CLTS	   2u
#define CR_ACCESS_LMSW	   3u

static u64 cr_qual(unsigned cr, unsigned type, unsigned gpr)
{
	return cr | type << 4 | gpr << 8;
}

/* Reads of CR0/CR4 see the read shadow in bits owned by the host (guest/host mask). */
static u64 cr0_guest(const struct cpu *c)
{
	u64 m = c->ctl.cr0_guest_host_mask;

	return (c->cr0 & ~m) | (c->ctl.cr0_read_shadow & m);
}

static u64 cr4_guest(const struct cpu *c)
{
	u64 m = c->ctl.cr4_guest_host_mask;

	return (c->cr4 & ~m) | (c->ctl.cr4_read_shadow & m);
}

/*
 * Load CR0 (SDM vol. 2 MOV CR, vol. 3A 9.8.5): bits 63:32 reserved; PG without PE, NW without CD
 * #GP(0). Setting PG with EFER.LME enters IA-32e mode (needs CR4.PAE and CS.L = 0) and sets
 * EFER.LMA; clearing PG leaves it (#GP(0) from 64-bit mode). ET is fixed to 1. Changes of PG, WP
 * or PE flush the TLB (SDM vol. 3A 4.10.4.1).
 */
static void cr0_load(struct cpu *c, u64 v)
{
	u64 old = c->cr0, efer = c->efer;

	if (v >> 32 || ((v & CR0_PG) && !(v & CR0_PE)) || ((v & CR0_NW) && !(v & CR0_CD)))
		cpu_gp(c, 0);
	if ((v & CR0_PG) && !(old & CR0_PG) && (efer & EFER_LME)) {
		if (!(c->cr4 & CR4_PAE) || (c->seg[SEG_CS].ar & AR_L))
			cpu_gp(c, 0);
		efer |= EFER_LMA;
	}
	if (!(v & CR0_PG) && (old & CR0_PG) && (efer & EFER_LMA)) {
		if (c->mode == MODE_LONG)
			cpu_gp(c, 0);
		efer &= ~EFER_LMA;
	}
	/* Entering or changing PAE paging loads the PDPTEs (SDM vol. 3A 4.4.1). */
	if (pae_paging(v, c->cr4, efer) && ((old ^ v) & (CR0_CD | CR0_NW | CR0_PG)) &&
	    !mmu_load_pdptes(c, c->cr3))
		cpu_gp(c, 0);
	c->cr0 = v | CR0_ET;
	c->efer = efer;
	if ((old ^ c->cr0) & (CR0_PG | CR0_WP | CR0_PE))
		tlb_flush_all(c);
	cpu_update_mode(c);
}

/* OSFXSR: FXSAVE/FXRSTOR save and load MXCSR and the XMM registers (fpu.c); OSXSAVE: XGETBV,
   XSETBV and the XSAVE family (xsave.c). */
#define CR4_SUPPORTED                                                                              \
	(CR4_TSD | CR4_DE | CR4_PSE | CR4_PAE | CR4_PGE | CR4_SMEP | CR4_SMAP | CR4_OSFXSR |       \
	 CR4_OSXMMEXCPT | CR4_FSGSBASE | CR4_OSXSAVE)
#define CR4_PAGING_BITS (CR4_PSE | CR4_PAE | CR4_PGE | CR4_SMEP | CR4_SMAP)

/* Host-owned bits keep their value (SDM vol. 3C 26.3); guest bits must be advertised ones;
   clearing PAE in IA-32e mode is #GP(0). Paging-bit changes flush the TLB (SDM 4.10.4.1). */
static void cr4_load(struct cpu *c, u64 v)
{
	u64 m = c->ctl.cr4_guest_host_mask, old = c->cr4, n = (old & m) | (v & ~m);

	if ((v & ~m) & ~CR4_SUPPORTED)
		cpu_gp(c, 0);
	if ((c->efer & EFER_LMA) && !(n & CR4_PAE))
		cpu_gp(c, 0);
	if (pae_paging(c->cr0, n, c->efer) &&
	    ((old ^ n) & (CR4_PAE | CR4_PGE | CR4_PSE | CR4_SMEP)) && !mmu_load_pdptes(c, c->cr3))
		cpu_gp(c, 0);
	c->cr4 = n;
	if ((old ^ n) & CR4_PAGING_BITS)
		tlb_flush_all(c);
	c->break_block = 1;
}

/* CR3: in IA-32e mode bits above MAXPHYADDR are reserved (#GP(0)); outside it the register is
   32 bits, and with PAE paging the load also loads the PDPTEs (#GP(0) on reserved bits, SDM
   4.4.1). Any load flushes the TLB but global pages (no PCIDs: SDM 4.10.4.1). */
static void cr3_load(struct cpu *c, u64 v)
{
	if (c->efer & EFER_LMA) {
		if (v >> CPU_MAXPHYADDR)
			cpu_gp(c, 0);
	} else {
		v = (u32)v;
		if (pae_paging(c->cr0, c->cr4, c->efer) && !mmu_load_pdptes(c, v))
			cpu_gp(c, 0);
	}
	c->cr3 = v;
	tlb_flush_nonglobal(c);
	c->break_block = 1;
}

/*
 * MOV to CR3 exits with "CR3-load exiting" unless the value equals one of the first
 * cr3_target_count CR3-target values (SDM vol. 3C 26.1.3); a count of 0 makes every load exit.
 */
static bool cr3_load_exits(const struct cpu *c, u64 v)
{
	u32 n = c->ctl.cr3_target_count < 4 ? c->ctl.cr3_target_count : 4;

	if (!(c->ctl.proc & PROC_CR3_LOAD_EXITING))
		return false;
	for (u32 i = 0; i < n; i++)
		if (c->ctl.cr3_target[i] == v)
			return false;
	return true;
}

/* The VTPR byte (offset 0x80 of the virtual-APIC page) when "use TPR shadow" is on, else NULL:
   MOV from/to CR8 then use it instead of CR8 (SDM vol. 3C 30.3). */
static u8 *vtpr(const struct cpu *c)
{
	if (!(c->ctl.proc & PROC_TPR_SHADOW) || !c->ctl.virtual_apic)
		return NULL;
	return c->ctl.virtual_apic + 0x80;
}

/*
 * MOV to CR8 with the TPR shadow (SDM vol. 3C 30.3): VTPR[7:4] = value[3:0], VTPR[3:0] and bytes
 * 0x81-0x83 cleared. Then TPR virtualization (30.1.2, apicv.c): without virtual-interrupt
 * delivery a trap-like exit 43 when VTPR[7:4] < TPR_THRESHOLD[3:0]; with it, PPR virtualization
 * and the evaluation of pending virtual interrupts.
 */
static void vtpr_write(struct cpu *c, u64 v)
{
	u8 *p = vtpr(c);

	p[0] = (u8)(v << 4);
	p[1] = p[2] = p[3] = 0;
	apicv_tpr_virtualize(c);
}

/* 0F 20: MOV r, CRn. CR8 only in 64-bit mode (REX.R); others #UD. */
void op_mov_r_cr(struct cpu *c, const struct insn *d)
{
	unsigned cr = d->sub, r = d->rm;
	u64 v;

	if (cr != 0 && cr != 2 && cr != 3 && cr != 4 && (cr != 8 || c->mode != MODE_LONG))
		cpu_ud(c);
	need_cpl0(c);
	switch (cr) {
	case 0:
		v = cr0_guest(c);
		break;
	case 2:
		v = c->cr2;
		break;
	case 3:
		if (c->ctl.proc & PROC_CR3_STORE_EXITING) {
			cpu_vmexit_insn(c, EXIT_REASON_CR_ACCESS, cr_qual(3, CR_ACCESS_MOV_FROM, r));
			return;
		}
		v = c->cr3;
		break;
	case 4:
		v = cr4_guest(c);
		break;
	default:
		if (c->ctl.proc & PROC_CR8_STORE_EXITING) {
			cpu_vmexit_insn(c, EXIT_REASON_CR_ACCESS, cr_qual(8, CR_ACCESS_MOV_FROM, r));
			return;
		}
		v = vtpr(c) ? *vtpr(c) >> 4 : c->cr8;
		break;
	}
	reg_write(c, r, v, c->mode == MODE_LONG ? 8 : 4);
}

/*
 * 0F 22: MOV CRn, r. CR0/CR4 exit when the value differs from the read shadow in a host-owned
 * bit; CR3 and CR8 exit by their load-exiting controls, CR3 minus the CR3-target values
 * (SDM 26.1.3). The exit comes before the register's #GP checks.
 */
void op_mov_cr_r(struct cpu *c, const struct insn *d)
{
	unsigned cr = d->sub, r = d->rm;
	u64 v;

	if (cr != 0 && cr != 2 && cr != 3 && cr != 4 && (cr != 8 || c->mode != MODE_LONG))
		cpu_ud(c);
	need_cpl0(c);
	v = reg_read(c, r, c->mode == MODE_LONG ? 8 : 4);
	switch (cr) {
	case 0:
		if ((v ^ c->ctl.cr0_read_shadow) & c->ctl.cr0_guest_host_mask) {
			cpu_vmexit_insn(c, EXIT_REASON_CR_ACCESS, cr_qual(0, CR_ACCESS_MOV_TO, r));
			return;
		}
		cr0_load(c,
			 (c->cr0 & c->ctl.cr0_guest_host_mask) | (v & ~c->ctl.cr0_guest_host_mask));
		break;
	case 2:
		c->cr2 = v;
		break;
	case 3:
		if (cr3_load_exits(c, v)) {
			cpu_vmexit_insn(c, EXIT_REASON_CR_ACCESS, cr_qual(3, CR_ACCESS_MOV_TO, r));
			return;
		}
		cr3_load(c, v);
		break;
	case 4:
		if ((v ^ c->ctl.cr4_read_shadow) & c->ctl.cr4_guest_host_mask) {
			cpu_vmexit_insn(c, EXIT_REASON_CR_ACCESS, cr_qual(4, CR_ACCESS_MOV_TO, r));
			return;
		}
		cr4_load(c, v);
		break;
	default:
		if (c->ctl.proc & PROC_CR8_LOAD_EXITING) {
			cpu_vmexit_insn(c, EXIT_REASON_CR_ACCESS, cr_qual(8, CR_ACCESS_MOV_TO, r));
			return;
		}
		if (v >> 4)
			cpu_gp(c, 0);
		if (vtpr(c)) {
			vtpr_write(c, v);
			break;
		}
		c->cr8 = v;
		c->break_block = 1;
		break;
	}
}

/* CLTS exits when TS is host-owned and set in the shadow; a host-owned TS is left alone
   (SDM vol. 3C 26.1.3, 26.3). */
void op_clts(struct cpu *c, const struct insn *d)
{
	need_cpl0(c);
	if (c->ctl.cr0_guest_host_mask & c->ctl.cr0_read_shadow & CR0_TS) {
		cpu_vmexit_insn(c, EXIT_REASON_CR_ACCESS, cr_qual(0, CR_ACCESS_CLTS, 0));
		return;
	}
	if (!(c->ctl.cr0_guest_host_mask & CR0_TS))
		c->cr0 &= ~CR0_TS;
}

/*
 * LMSW loads CR0 bits 3:0 but never clears PE. It exits if a host-owned PE would go from 0 (in
 * the shadow) to 1, or a host-owned MP/EM/TS differs from the shadow (SDM vol. 3C 26.1.3); the
 * qualification carries the source in 31:16 and, for a memory operand, bit 6 and the linear
 * address in the guest-linear field.
 */
void op_lmsw(struct cpu *c, const struct insn *d)
{
	u64 m = c->ctl.cr0_guest_host_mask & 0xf, sh = c->ctl.cr0_read_shadow, v, n;

	need_cpl0(c);
	v = rm16(c, d) & 0xf;
	if ((m & CR0_PE & ~sh & v) || ((v ^ sh) & m & (CR0_MP | CR0_EM | CR0_TS))) {
		u64 q = cr_qual(0, CR_ACCESS_LMSW, 0) | (u64)rm16(c, d) << 16;

		if (d->mem) {
			q |= BIT(6);
			c->exit->guest_linear = (c->seg_base[d->seg] + insn_ea(c, d)) & c->lin_mask;
		}
		cpu_vmexit_insn(c, EXIT_REASON_CR_ACCESS, q);
		return;
	}
	n = (c->cr0 & ~(0xeull & ~m)) | (v & 0xe & ~m);
	if (!(m & CR0_PE))
		n |= v & CR0_PE;
	cr0_load(c, n);
}

/* SMSW: CR0 as the guest sees it; 16 bits to memory, operand size to a register. */
void op_smsw(struct cpu *c, const struct insn *d)
{
	if (d->mem)
		mem_write(c, d->seg, insn_ea(c, d), (u16)cr0_guest(c), 2);
	else
		reg_write(c, d->rm, cr0_guest(c), d->osz);
}

/* --- Debug registers (SDM vol. 2 MOV DR; vol. 3C 26.1.3). Breakpoints are not implemented:
   the registers hold their values only. --- */

static unsigned dr_index(struct cpu *c, unsigned dr)
{
	if (dr > 7 || ((dr == 4 || dr == 5) && (c->cr4 & CR4_DE)))
		cpu_ud(c);
	return dr == 4 || dr == 5 ? dr + 2 : dr;
}

void op_mov_r_dr(struct cpu *c, const struct insn *d)
{
	unsigned dr = dr_index(c, d->sub);

	if (c->mode != MODE_REAL)
		need_cpl0(c);
	if (c->ctl.proc & PROC_MOV_DR_EXITING) {
		cpu_vmexit_insn(c, EXIT_REASON_DR_ACCESS, d->sub | BIT(4) | (u64)d->rm << 8);
		return;
	}
	reg_write(c, d->rm, c->dr[dr], c->mode == MODE_LONG ? 8 : 4);
}

/* DR6/DR7 bits 63:32 must be 0 (#GP(0)); DR6 and DR7 have fixed bits (SDM vol. 3B 18.2). */
void op_mov_dr_r(struct cpu *c, const struct insn *d)
{
	unsigned dr = dr_index(c, d->sub);
	u64 v;

	if (c->mode != MODE_REAL)
		need_cpl0(c);
	if (c->ctl.proc & PROC_MOV_DR_EXITING) {
		cpu_vmexit_insn(c, EXIT_REASON_DR_ACCESS, d->sub | (u64)d->rm << 8);
		return;
	}
	v = reg_read(c, d->rm, c->mode == MODE_LONG ? 8 : 4);
	if (dr >= 6 && v >> 32)
		cpu_gp(c, 0);
	if (dr == 6)
		v |= 0xffff0ff0ull;
	else if (dr == 7)
		v = (v & ~0xd800ull) | 0x400;
	c->dr[dr] = v;
}

/* --- Caches and TLB --- */

void op_invd(struct cpu *c, const struct insn *d)
{
	need_cpl0(c);
	cpu_vmexit_insn(c, EXIT_REASON_INVD, 0); /* unconditional, SDM vol. 3C 26.1.2 */
}

void op_wbinvd(struct cpu *c, const struct insn *d)
{
	need_cpl0(c);
	if (cpu_proc2(c) & PROC2_WBINVD_EXITING)
		cpu_vmexit_insn(c, EXIT_REASON_WBINVD, 0);
}

/*
 * INVLPG m: exit qualification = the linear address (SDM 28.2.1); the exit comes before the
 * segment-limit check, which is neither #UD nor a privilege fault (SDM 26.1.1); no-op for a
 * non-canonical address (SDM vol. 2 INVLPG).
 */
void op_invlpg(struct cpu *c, const struct insn *d)
{
	u64 ea, lin;

	if (!d->mem)
		cpu_ud(c);
	need_cpl0(c);
	ea = insn_ea(c, d);
	if (c->ctl.proc & PROC_INVLPG_EXITING) {
		cpu_vmexit_insn(c, EXIT_REASON_INVLPG, (c->seg_base[d->seg] + ea) & c->lin_mask);
		return;
	}
	lin = seg_lin(c, d->seg, ea, 1, ACC_FETCH);
	if (c->mode != MODE_LONG || is_canonical(lin))
		tlb_flush_page(c, lin);
	c->break_block = 1;
}
