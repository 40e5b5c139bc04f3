// SPDX-License-Identifier: MIT
/*
 * System instructions in VMX non-root operation. Each handler applies, in the SDM's order
 * (SDM vol. 3C 25.1.1): #UD for the mode, privilege faults (CPL, CR4.TSD, TSS I/O permission
 * bitmap), then the VM exit the controls ask for (SDM vol. 3C 26.1), then the instruction's own
 * checks and work. Exit qualifications follow SDM vol. 3C 27.2.1.
 *
 * Model-specific choices (see docs/cpu.md): CR4 accepts only what CPUID advertises (TSD, DE, PSE,
 * PAE, PGE, SMEP, SMAP, OSFXSR, OSXMMEXCPT, FSGSBASE, OSXSAVE); there are no
 * performance counters (RDPMC without exiting is #GP(0)); MWAIT returns at once; port I/O with
 * no exit reaches no device: IN reads all ones, OUT is dropped.
 */
#include "cpu/internal.h"
#include "cpu/ops.h"


/* Secondary controls act only when activated (SDM vol. 3C 24.6.2). */
static u32 proc2(const struct cpu *c)
{
	return (c->ctl.proc & PROC_SECONDARY_CONTROLS) ? c->ctl.proc2 : 0;
}

static void need_cpl0(struct cpu *c)
{
	if (c->cpl)
		cpu_gp(c, 0);
}

static unsigned iopl(const struct cpu *c)
{
	return (c->rflags & X86_IOPL) >> X86_IOPL_SHIFT;
}

static void set_zf(struct cpu *c, bool z)
{
	u64 f = flags_get(c);

	flags_set(c, z ? f | X86_ZF : f & ~X86_ZF);
}

/* Address-size field of the VM-exit instruction information (SDM vol. 3C 27.2.5). */
static u32 asz_code(unsigned asz)
{
	return asz == 2 ? 0 : asz == 4 ? 1 : 2;
}

/*
 * The operand fields shared by the VM-exit instruction information formats (SDM vol. 3C 28.2.5):
 * scaling 1:0, address size 9:7, segment 17:15, index 21:18 (22: invalid), base 26:23 (27:
 * invalid); a register operand instead: reg1 in 6:3 and bit 10.
 */
static u32 mem_insn_info(const struct cpu *c, const struct insn *d)
{
	u32 info;

	if (!d->mem)
		return (u32)d->rm << 3 | BIT(10);
	info = d->scale | asz_code(d->asz) << 7 | (u32)d->seg << 15;
	info |= d->index == BASE_NONE ? BIT(22) : (u32)d->index << 18;
	info |= (d->base == BASE_NONE || d->base == BASE_RIP) ? BIT(27) : (u32)d->base << 23;
	return info;
}

/* The 16-bit selector or word operand of r/m16 instructions. */
static u16 rm16(struct cpu *c, const struct insn *d)
{
	return d->mem ? (u16)mem_read(c, d->seg, insn_ea(c, d), 2) : (u16)reg_read(c, d->rm, 2);
}

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
   4.4.1). Any load flushes the TLB (no PCIDs: SDM 4.10.4.1). */
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
	tlb_flush_all(c);
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
 * 0x81-0x83 cleared. Then TPR virtualization (30.1.2; no virtual-interrupt delivery here): if
 * VTPR[7:4] < TPR_THRESHOLD[3:0], a trap-like exit 43 after the instruction.
 */
static void vtpr_write(struct cpu *c, u64 v)
{
	u8 *p = vtpr(c);

	p[0] = (u8)(v << 4);
	p[1] = p[2] = p[3] = 0;
	if ((v & 0xf) < (c->ctl.tpr_threshold & 0xf))
		cpu_vmexit_trap(c, EXIT_REASON_TPR_BELOW_THRESHOLD, 0);
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
		if (c->ctl.proc & PROC_CR3_STORE_EXITING)
			cpu_vmexit(c, EXIT_REASON_CR_ACCESS, cr_qual(3, CR_ACCESS_MOV_FROM, r));
		v = c->cr3;
		break;
	case 4:
		v = cr4_guest(c);
		break;
	default:
		if (c->ctl.proc & PROC_CR8_STORE_EXITING)
			cpu_vmexit(c, EXIT_REASON_CR_ACCESS, cr_qual(8, CR_ACCESS_MOV_FROM, r));
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
		if ((v ^ c->ctl.cr0_read_shadow) & c->ctl.cr0_guest_host_mask)
			cpu_vmexit(c, EXIT_REASON_CR_ACCESS, cr_qual(0, CR_ACCESS_MOV_TO, r));
		cr0_load(c,
			 (c->cr0 & c->ctl.cr0_guest_host_mask) | (v & ~c->ctl.cr0_guest_host_mask));
		break;
	case 2:
		c->cr2 = v;
		break;
	case 3:
		if (cr3_load_exits(c, v))
			cpu_vmexit(c, EXIT_REASON_CR_ACCESS, cr_qual(3, CR_ACCESS_MOV_TO, r));
		cr3_load(c, v);
		break;
	case 4:
		if ((v ^ c->ctl.cr4_read_shadow) & c->ctl.cr4_guest_host_mask)
			cpu_vmexit(c, EXIT_REASON_CR_ACCESS, cr_qual(4, CR_ACCESS_MOV_TO, r));
		cr4_load(c, v);
		break;
	default:
		if (c->ctl.proc & PROC_CR8_LOAD_EXITING)
			cpu_vmexit(c, EXIT_REASON_CR_ACCESS, cr_qual(8, CR_ACCESS_MOV_TO, r));
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
	if (c->ctl.cr0_guest_host_mask & c->ctl.cr0_read_shadow & CR0_TS)
		cpu_vmexit(c, EXIT_REASON_CR_ACCESS, cr_qual(0, CR_ACCESS_CLTS, 0));
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
		cpu_vmexit(c, EXIT_REASON_CR_ACCESS, q);
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
	if (c->ctl.proc & PROC_MOV_DR_EXITING)
		cpu_vmexit(c, EXIT_REASON_DR_ACCESS, d->sub | BIT(4) | (u64)d->rm << 8);
	reg_write(c, d->rm, c->dr[dr], c->mode == MODE_LONG ? 8 : 4);
}

/* DR6/DR7 bits 63:32 must be 0 (#GP(0)); DR6 and DR7 have fixed bits (SDM vol. 3B 18.2). */
void op_mov_dr_r(struct cpu *c, const struct insn *d)
{
	unsigned dr = dr_index(c, d->sub);
	u64 v;

	if (c->mode != MODE_REAL)
		need_cpl0(c);
	if (c->ctl.proc & PROC_MOV_DR_EXITING)
		cpu_vmexit(c, EXIT_REASON_DR_ACCESS, d->sub | (u64)d->rm << 8);
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
	cpu_vmexit(c, EXIT_REASON_INVD, 0); /* unconditional, SDM vol. 3C 26.1.2 */
}

void op_wbinvd(struct cpu *c, const struct insn *d)
{
	need_cpl0(c);
	if (proc2(c) & PROC2_WBINVD_EXITING)
		cpu_vmexit(c, EXIT_REASON_WBINVD, 0);
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
	if (c->ctl.proc & PROC_INVLPG_EXITING)
		cpu_vmexit(c, EXIT_REASON_INVLPG, (c->seg_base[d->seg] + ea) & c->lin_mask);
	lin = seg_lin(c, d->seg, ea, 1, ACC_FETCH);
	if (c->mode != MODE_LONG || is_canonical(lin))
		tlb_flush_page(c, lin);
	c->break_block = 1;
}

/* --- Descriptor tables (SDM vol. 2 LGDT/LIDT/SGDT/SIDT/LLDT/LTR/SLDT/STR) --- */

/*
 * Descriptor-table exiting (secondary control, SDM vol. 3C 26.1.3): exit 46 (GDTR/IDTR) or 47
 * (LDTR/TR) with the displacement as qualification and the instruction information of
 * SDM 27.2.5 Tables 27-10/27-11: scale 1:0, reg1 6:3, address size 9:7, register form 10,
 * operand size 11, segment 17:15, index 21:18 (+22 invalid), base 26:23 (+27 invalid),
 * instruction identity 29:28.
 */
static void desc_table_exit(struct cpu *c, const struct insn *d, u32 reason, unsigned ident)
{
	u32 info = ident << 28;

	if (!(proc2(c) & PROC2_DESC_TABLE_EXITING))
		return;
	info |= mem_insn_info(c, d);
	if (reason == EXIT_REASON_GDTR_IDTR && d->osz != 2)
		info |= BIT(11);
	c->exit->insn_info = info;
	cpu_vmexit(c, reason, d->mem ? (u64)(s64)d->disp : 0);
}

/* Limit (2 bytes) then base: 8 bytes in 64-bit mode, else 4 (24 bits with 16-bit operands). */
static void dtable_store(struct cpu *c, const struct insn *d, const struct x86_dtable *t)
{
	u64 ea;

	if (!d->mem)
		cpu_ud(c);
	ea = insn_ea(c, d);
	mem_probe_write(c, d->seg, ea, c->mode == MODE_LONG ? 10 : 6);
	mem_write(c, d->seg, ea, t->limit, 2);
	mem_write(c, d->seg, (ea + 2) & size_mask(d->asz),
		  c->mode == MODE_LONG ? t->base : (u32)t->base, c->mode == MODE_LONG ? 8 : 4);
}

static void dtable_load(struct cpu *c, const struct insn *d, struct x86_dtable *t)
{
	u64 ea, base;
	u16 limit;

	ea = insn_ea(c, d);
	limit = (u16)mem_read(c, d->seg, ea, 2);
	if (c->mode == MODE_LONG) {
		base = mem_read(c, d->seg, (ea + 2) & size_mask(d->asz), 8);
		if (!is_canonical(base))
			cpu_gp(c, 0);
	} else {
		base = mem_read(c, d->seg, (ea + 2) & size_mask(d->asz), 4);
		if (d->osz == 2)
			base &= 0xffffff;
	}
	t->base = base;
	t->limit = limit;
}

void op_sgdt(struct cpu *c, const struct insn *d)
{
	desc_table_exit(c, d, EXIT_REASON_GDTR_IDTR, 0);
	dtable_store(c, d, &c->gdt);
}

void op_sidt(struct cpu *c, const struct insn *d)
{
	desc_table_exit(c, d, EXIT_REASON_GDTR_IDTR, 1);
	dtable_store(c, d, &c->idt);
}

void op_lgdt(struct cpu *c, const struct insn *d)
{
	if (!d->mem)
		cpu_ud(c);
	need_cpl0(c);
	desc_table_exit(c, d, EXIT_REASON_GDTR_IDTR, 2);
	dtable_load(c, d, &c->gdt);
}

void op_lidt(struct cpu *c, const struct insn *d)
{
	if (!d->mem)
		cpu_ud(c);
	need_cpl0(c);
	desc_table_exit(c, d, EXIT_REASON_GDTR_IDTR, 3);
	dtable_load(c, d, &c->idt);
}

/* SLDT/STR: #UD in real mode; a register gets the selector zero-extended. */
static void store_sel(struct cpu *c, const struct insn *d, u16 sel)
{
	if (d->mem)
		mem_write(c, d->seg, insn_ea(c, d), sel, 2);
	else
		reg_write(c, d->rm, sel, d->osz == 2 ? 2 : 8);
}

void op_sldt(struct cpu *c, const struct insn *d)
{
	if (c->mode == MODE_REAL)
		cpu_ud(c);
	desc_table_exit(c, d, EXIT_REASON_LDTR_TR, 0);
	store_sel(c, d, c->seg[SEG_LDTR].sel);
}

void op_str(struct cpu *c, const struct insn *d)
{
	if (c->mode == MODE_REAL)
		cpu_ud(c);
	desc_table_exit(c, d, EXIT_REASON_LDTR_TR, 1);
	store_sel(c, d, c->seg[SEG_TR].sel);
}

/*
 * System descriptor for LLDT/LTR: in the GDT (TI = 1 #GP(sel)), of the wanted type (#GP(sel)),
 * present (#NP(sel)); 16 bytes with base 63:32 in IA-32e mode (canonical, #GP(sel)).
 */
static u64 sysdesc_load(struct cpu *c, u16 sel, bool ldt, struct x86_segment *s)
{
	u64 raw;
	unsigned type;

	if ((sel & 4) || !desc_fetch(c, sel, &raw))
		cpu_gp(c, sel & 0xfffc);
	desc_decode(raw, sel, s);
	type = AR_TYPE(s->ar);
	if ((s->ar & AR_S) ||
	    (ldt ? type != 2 : !(type == 9 || (type == 1 && !(c->efer & EFER_LMA)))))
		cpu_gp(c, sel & 0xfffc);
	if (!(s->ar & AR_P))
		cpu_fault(c, X86_NP, sel & 0xfffc);
	if (c->efer & EFER_LMA) {
		s->base |= desc_fetch_high(c, sel) << 32;
		if (!is_canonical(s->base))
			cpu_gp(c, sel & 0xfffc);
	}
	return raw;
}

void op_lldt(struct cpu *c, const struct insn *d)
{
	struct x86_segment s;
	u16 sel;

	if (c->mode == MODE_REAL)
		cpu_ud(c);
	need_cpl0(c);
	desc_table_exit(c, d, EXIT_REASON_LDTR_TR, 2);
	sel = rm16(c, d);
	if ((sel & 0xfffc) == 0) {
		s.sel = sel;
		s.base = 0;
		s.limit = 0;
		s.ar = AR_UNUSABLE;
	} else {
		sysdesc_load(c, sel, true, &s);
	}
	c->seg[SEG_LDTR] = s;
}

/* LTR: null #GP(0); an available TSS becomes busy in the GDT and in TR (SDM vol. 2 LTR). */
void op_ltr(struct cpu *c, const struct insn *d)
{
	struct x86_segment s;
	u64 raw;
	u16 sel;

	if (c->mode == MODE_REAL)
		cpu_ud(c);
	need_cpl0(c);
	desc_table_exit(c, d, EXIT_REASON_LDTR_TR, 3);
	sel = rm16(c, d);
	if ((sel & 0xfffc) == 0)
		cpu_gp(c, 0);
	raw = sysdesc_load(c, sel, false, &s);
	sys_write(c, c->gdt.base + (sel & ~7u) + 5, (u8)(raw >> 40) | 2, 1);
	s.ar |= 2;
	c->seg[SEG_TR] = s;
}

/*
 * Descriptor visibility for LAR/LSL/VERR/VERW (SDM vol. 2 LAR): null or beyond the table: not
 * visible; code/data other than conforming code, and system descriptors, need DPL >= CPL and
 * DPL >= RPL. System types allowed: LAR 1,2,3,4,5,9,B,C (IA-32e: 2,9,B,C); LSL 1,2,3,9,B
 * (IA-32e: 2,9,B).
 */
static bool desc_visible(struct cpu *c, u16 sel, bool lsl, u64 *raw, struct x86_segment *s)
{
	static const u16 lar_legacy = 0x1a3e, lar_lm = 0x1a04, lsl_legacy = 0x0a0e, lsl_lm = 0x0a04;
	unsigned type, dpl;

	if ((sel & 0xfffc) == 0 || !desc_fetch(c, sel, raw))
		return false;
	desc_decode(*raw, sel, s);
	type = AR_TYPE(s->ar);
	dpl = AR_DPL(s->ar);
	if (!(s->ar & AR_S)) {
		bool lm = c->efer & EFER_LMA;
		u16 ok = lsl ? (lm ? lsl_lm : lsl_legacy) : (lm ? lar_lm : lar_legacy);

		if (!(ok & (1u << type)))
			return false;
	} else if ((type & 0xc) == 0xc) {
		return true;
	}
	return dpl >= c->cpl && dpl >= (sel & 3u);
}

/* LAR loads the access rights (masked as the SDM says), LSL the byte-granular limit. */
static void lar_lsl(struct cpu *c, const struct insn *d, bool lsl)
{
	struct x86_segment s;
	u64 raw;
	u16 sel;

	if (c->mode == MODE_REAL)
		cpu_ud(c);
	sel = rm16(c, d);
	if (!desc_visible(c, sel, lsl, &raw, &s)) {
		set_zf(c, false);
		return;
	}
	reg_write(c, d->reg,
		  lsl ? s.limit : (raw >> 32) & (d->osz == 2 ? 0xff00 : 0x00f0ff00), d->osz);
	set_zf(c, true);
}

void op_lar(struct cpu *c, const struct insn *d)
{
	lar_lsl(c, d, false);
}

void op_lsl(struct cpu *c, const struct insn *d)
{
	lar_lsl(c, d, true);
}

/* VERR: readable code or data; VERW: writable data; with the LAR privilege rule. */
static void verify(struct cpu *c, const struct insn *d, bool write)
{
	struct x86_segment s;
	u64 raw;
	bool ok;

	if (c->mode == MODE_REAL)
		cpu_ud(c);
	ok = desc_visible(c, rm16(c, d), false, &raw, &s) && (s.ar & AR_S);
	if (ok && write)
		ok = (AR_TYPE(s.ar) & 0xa) == 2;
	else if (ok)
		ok = (AR_TYPE(s.ar) & 0xa) != 8;
	set_zf(c, ok);
}

void op_verr(struct cpu *c, const struct insn *d)
{
	verify(c, d, false);
}

void op_verw(struct cpu *c, const struct insn *d)
{
	verify(c, d, true);
}

/* --- MSRs (SDM vol. 2 RDMSR/WRMSR, vol. 3C 24.6.9, 26.1.3) --- */

/* MSR bitmap: read-low, read-high, write-low, write-high, 1 KiB each; MSRs outside 0-0x1fff
   and 0xc0000000-0xc0001fff always exit; without bitmaps every access exits. */
static bool msr_exits(const struct cpu *c, u32 msr, bool write)
{
	const u8 *bm = c->ctl.msr_bitmap;
	unsigned off, bit = msr & 0x1fff;

	if (!(c->ctl.proc & PROC_USE_MSR_BITMAPS) || !bm)
		return true;
	if (msr <= 0x1fff)
		off = 0;
	else if (msr - 0xc0000000u <= 0x1fff)
		off = 1024;
	else
		return true;
	if (write)
		off += 2048;
	return (bm[off + bit / 8] >> (bit & 7)) & 1;
}

/* --- Time-stamp counter (cpu.h): the clock, IA32_TSC, and what the guest reads --- */

static u64 host_rdtsc(void)
{
#if defined(__x86_64__) || defined(__i386__)
	return __builtin_ia32_rdtsc();
#else
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (u64)ts.tv_sec * 1000000000ull + (u64)ts.tv_nsec;
#endif
}

u64 cpu_tsc_raw(const struct cpu *c)
{
	if (c->tsc_mode == CPU_TSC_HOST)
		return host_rdtsc();
	return cpu_icount_now(c) * c->tsc_cpi + c->tsc_cycles;
}

u64 cpu_tsc(const struct cpu *c)
{
	return cpu_tsc_raw(c) + c->tsc_base;
}

/* Switching clocks keeps IA32_TSC continuous. */
void cpu_set_tsc_mode(struct cpu *c, enum cpu_tsc_mode mode, u32 cpi)
{
	u64 tsc = cpu_tsc(c);

	c->tsc_mode = mode;
	c->tsc_cpi = cpi ? cpi : 1;
	c->tsc_base = tsc - cpu_tsc_raw(c);
	events_rearm(c);
}

void cpu_add_cycles(struct cpu *c, u64 cycles)
{
	if (c->tsc_mode == CPU_TSC_VIRTUAL) {
		c->tsc_cycles += cycles;
		events_rearm(c);
	}
}

/*
 * RDTSC, RDTSCP and RDMSR of IA32_TSC in VMX non-root operation (SDM vol. 3C 26.6.5): with "use
 * TSC offsetting" the TSC plus the offset, and with "use TSC scaling" as well the TSC multiplied
 * by the 48.48 fixed-point multiplier first; without offsetting the TSC itself.
 */
u64 cpu_guest_tsc(struct cpu *c)
{
	u64 tsc = cpu_tsc(c);

	if (!(c->ctl.proc & PROC_TSC_OFFSETTING))
		return tsc;
	if (proc2(c) & PROC2_TSC_SCALING)
		tsc = (u64)(((unsigned __int128)tsc * c->ctl.tsc_multiplier) >> 48);
	return tsc + c->ctl.tsc_offset;
}

bool msr_read(struct cpu *c, u32 index, u64 *v)
{
	switch (index) {
	case MSR_IA32_EFER:
		*v = c->efer;
		return true;
	case MSR_IA32_STAR:
		*v = c->star;
		return true;
	case MSR_IA32_LSTAR:
		*v = c->lstar;
		return true;
	case MSR_IA32_CSTAR:
		*v = c->cstar;
		return true;
	case MSR_IA32_FMASK:
		*v = c->fmask;
		return true;
	case MSR_IA32_FS_BASE:
		*v = c->seg[SEG_FS].base;
		return true;
	case MSR_IA32_GS_BASE:
		*v = c->seg[SEG_GS].base;
		return true;
	case MSR_IA32_KERNEL_GS_BASE:
		*v = c->kernel_gs_base;
		return true;
	case MSR_IA32_SYSENTER_CS:
		*v = c->sysenter_cs;
		return true;
	case MSR_IA32_SYSENTER_ESP:
		*v = c->sysenter_esp;
		return true;
	case MSR_IA32_SYSENTER_EIP:
		*v = c->sysenter_eip;
		return true;
	case MSR_IA32_TSC:
		*v = cpu_guest_tsc(c); /* RDMSR sees the offset like RDTSC (SDM vol. 3C 26.3) */
		return true;
	case MSR_IA32_TSC_AUX:
		*v = c->tsc_aux;
		return true;
	case MSR_IA32_PAT:
		*v = c->pat;
		return true;
	case MSR_IA32_APIC_BASE:
		*v = c->apic_base;
		return true;
	case MSR_IA32_XSS: /* no supervisor state components (xsave.c) */
		*v = 0;
		return true;
	default:
		return false;
	}
}

/* Each PAT entry must be a valid memory type: 0 UC, 1 WC, 4 WT, 5 WP, 6 WB, 7 UC- (SDM 11.12.2). */
static bool pat_valid(u64 v)
{
	for (unsigned i = 0; i < 8; i++) {
		u8 t = (u8)(v >> (i * 8));

		if (t == 2 || t == 3 || t > 7)
			return false;
	}
	return true;
}

static void set_seg_base(struct cpu *c, unsigned seg, u64 base)
{
	struct x86_segment s = c->seg[seg];

	s.base = base;
	seg_commit(c, seg, &s);
}

/*
 * EFER: bits other than SCE, LME, LMA, NXE are reserved; LMA is read-only (it follows CR0.PG and
 * LME); LME cannot change while paging is on (SDM vol. 3A 9.8.5). Addresses (LSTAR, CSTAR,
 * FS/GS/KERNEL_GS base, SYSENTER_ESP/EIP) must be canonical. Writes to the TSC set the TSC itself,
 * without the offset (SDM vol. 3C 26.3). The rest: not held here, the access exits.
 */
bool msr_write(struct cpu *c, u32 index, u64 v)
{
	switch (index) {
	case MSR_IA32_EFER:
		if (v & ~(EFER_SCE | EFER_LME | EFER_LMA | EFER_NXE))
			cpu_gp(c, 0);
		if ((c->cr0 & CR0_PG) && ((v ^ c->efer) & EFER_LME))
			cpu_gp(c, 0);
		v = (v & ~EFER_LMA) | (c->efer & EFER_LMA);
		if ((v ^ c->efer) & EFER_NXE)
			tlb_flush_all(c);
		c->efer = v;
		c->break_block = 1;
		return true;
	case MSR_IA32_STAR:
		c->star = v;
		return true;
	case MSR_IA32_FMASK:
		c->fmask = (u32)v;
		return true;
	case MSR_IA32_SYSENTER_CS:
		c->sysenter_cs = (u32)v;
		return true;
	case MSR_IA32_TSC:
		c->tsc_base = v - cpu_tsc_raw(c);
		return true;
	case MSR_IA32_TSC_AUX:
		if (v >> 32)
			cpu_gp(c, 0);
		c->tsc_aux = v;
		return true;
	case MSR_IA32_PAT:
		if (!pat_valid(v))
			cpu_gp(c, 0);
		c->pat = v;
		return true;
	case MSR_IA32_XSS: /* only 0: no supervisor state component is supported (xsave.c) */
		if (v)
			cpu_gp(c, 0);
		return true;
	case MSR_IA32_LSTAR:
	case MSR_IA32_CSTAR:
	case MSR_IA32_FS_BASE:
	case MSR_IA32_GS_BASE:
	case MSR_IA32_KERNEL_GS_BASE:
	case MSR_IA32_SYSENTER_ESP:
	case MSR_IA32_SYSENTER_EIP:
		break;
	default:
		return false;
	}
	if (!is_canonical(v))
		cpu_gp(c, 0);
	switch (index) {
	case MSR_IA32_LSTAR:
		c->lstar = v;
		break;
	case MSR_IA32_CSTAR:
		c->cstar = v;
		break;
	case MSR_IA32_FS_BASE:
		set_seg_base(c, SEG_FS, v);
		break;
	case MSR_IA32_GS_BASE:
		set_seg_base(c, SEG_GS, v);
		break;
	case MSR_IA32_KERNEL_GS_BASE:
		c->kernel_gs_base = v;
		break;
	case MSR_IA32_SYSENTER_ESP:
		c->sysenter_esp = v;
		break;
	default:
		c->sysenter_eip = v;
		break;
	}
	return true;
}

/*
 * RDMSR/WRMSR exit when the MSR bitmap (or its absence) says so (SDM 26.1.3). Otherwise the
 * instruction runs in the guest, and an MSR this CPU does not implement is #GP(0) there, as on a
 * processor without it (SDM vol. 2 RDMSR/WRMSR); a VMM that wants to answer such an MSR sets its
 * bitmap bit.
 */
void op_rdmsr(struct cpu *c, const struct insn *d)
{
	u32 index = (u32)c->gpr[R_RCX];
	u64 v;

	need_cpl0(c);
	if (msr_exits(c, index, false))
		cpu_vmexit(c, EXIT_REASON_MSR_READ, 0);
	if (!msr_read(c, index, &v))
		cpu_gp(c, 0);
	c->gpr[R_RAX] = (u32)v;
	c->gpr[R_RDX] = v >> 32;
}

void op_wrmsr(struct cpu *c, const struct insn *d)
{
	u32 index = (u32)c->gpr[R_RCX];
	u64 v = (u32)c->gpr[R_RAX] | c->gpr[R_RDX] << 32;

	need_cpl0(c);
	if (msr_exits(c, index, true))
		cpu_vmexit(c, EXIT_REASON_MSR_WRITE, 0);
	if (!msr_write(c, index, v))
		cpu_gp(c, 0);
}

/* --- Time stamp counter and performance counters --- */

/* CR4.TSD makes RDTSC/RDTSCP privileged; the fault comes before the exit. */
static u64 tsc_read(struct cpu *c, u32 reason)
{
	if ((c->cr4 & CR4_TSD) && c->cpl && c->mode != MODE_REAL)
		cpu_gp(c, 0);
	if (c->ctl.proc & PROC_RDTSC_EXITING)
		cpu_vmexit(c, reason, 0);
	return cpu_guest_tsc(c);
}

void op_rdtsc(struct cpu *c, const struct insn *d)
{
	u64 t = tsc_read(c, EXIT_REASON_RDTSC);

	c->gpr[R_RAX] = (u32)t;
	c->gpr[R_RDX] = t >> 32;
}

/* RDTSCP is #UD unless "enable RDTSCP" is set (SDM vol. 3C 26.3). */
void op_rdtscp(struct cpu *c, const struct insn *d)
{
	u64 t;

	if (!(proc2(c) & PROC2_ENABLE_RDTSCP))
		cpu_ud(c);
	t = tsc_read(c, EXIT_REASON_RDTSCP);
	c->gpr[R_RAX] = (u32)t;
	c->gpr[R_RDX] = t >> 32;
	c->gpr[R_RCX] = (u32)c->tsc_aux;
}

/* CR4.PCE is never set (not advertised), so CPL > 0 faults; no counters exist: #GP(0). */
void op_rdpmc(struct cpu *c, const struct insn *d)
{
	if (c->cpl && !(c->cr4 & CR4_PCE) && c->mode != MODE_REAL)
		cpu_gp(c, 0);
	if (c->ctl.proc & PROC_RDPMC_EXITING)
		cpu_vmexit(c, EXIT_REASON_RDPMC, 0);
	cpu_gp(c, 0);
}

/* --- Instructions that always exit, or never do anything else (SDM vol. 3C 26.1.2) --- */

void op_cpuid(struct cpu *c, const struct insn *d)
{
	cpu_vmexit(c, EXIT_REASON_CPUID, 0);
}

void op_vmcall(struct cpu *c, const struct insn *d)
{
	cpu_vmexit(c, EXIT_REASON_VMCALL, 0);
}

/* VMX instructions other than VMCALL: #UD in real and compatibility mode has priority, then the
   exit (SDM vol. 3C 30.3, each instruction's "Operation"). VMFUNC is #UD: the "enable VM
   functions" control is not provided (SDM vol. 3C 26.5.6). */
void op_vmx(struct cpu *c, const struct insn *d)
{
	u32 reason = d->sub;

	if (c->mode == MODE_REAL || c->mode == MODE_COMPAT || reason == EXIT_REASON_VMFUNC)
		cpu_ud(c);
	switch (reason) {
	case EXIT_REASON_VMREAD:
	case EXIT_REASON_VMWRITE:
		/* SDM 28.2.5 Table 28-15: reg1 or memory, reg2 the field encoding register. */
		c->exit->insn_info = mem_insn_info(c, d) | (u32)d->reg << 28;
		break;
	case EXIT_REASON_VMCLEAR:
	case EXIT_REASON_VMPTRLD:
	case EXIT_REASON_VMPTRST:
	case EXIT_REASON_VMON:
		/* Table 28-14: the memory operand. */
		c->exit->insn_info = mem_insn_info(c, d);
		break;
	case EXIT_REASON_INVEPT:
	case EXIT_REASON_INVVPID:
		/* Table 28-12: the memory operand; reg2 the type register. */
		c->exit->insn_info = mem_insn_info(c, d) | (u32)d->reg << 28;
		break;
	default:
		cpu_vmexit(c, reason, 0);
	}
	/* The qualification of a memory operand is its displacement (SDM 28.2.1). */
	cpu_vmexit(c, reason, d->mem ? (u64)(s64)d->disp : 0);
}

/*
 * INVPCID (66 0F 38 82, SDM vol. 2 INVPCID): #UD unless "enable INVPCID" (SDM vol. 3C 26.3); CPL
 * 0 (#GP(0)); then exit 58 with "INVLPG exiting" (26.1.3), with the information of Table 28-12.
 * The descriptor is 16 bytes: PCID in 11:0 (63:12 reserved, #GP(0)), linear address in 127:64.
 * Type (a register, 64 bits in 64-bit mode) above 3 is #GP(0); type 0 needs a canonical address;
 * types 0 and 1 with a PCID other than 0 need CR4.PCIDE. PCIDs are not modelled: type 0 drops
 * the page, the others the whole TLB (SDM 4.10.4 allows more).
 */
void op_invpcid(struct cpu *c, const struct insn *d)
{
	u64 type, ea, lo, la;

	if (!(proc2(c) & PROC2_ENABLE_INVPCID) || !d->mem)
		cpu_ud(c);
	need_cpl0(c);
	if (c->ctl.proc & PROC_INVLPG_EXITING) {
		c->exit->insn_info = mem_insn_info(c, d) | (u32)d->reg << 28;
		cpu_vmexit(c, EXIT_REASON_INVPCID, (u64)(s64)d->disp);
	}
	type = reg_read(c, d->reg, c->mode == MODE_LONG ? 8 : 4);
	ea = insn_ea(c, d);
	lo = mem_read(c, d->seg, ea, 8);
	la = mem_read(c, d->seg, (ea + 8) & size_mask(d->asz), 8);
	if (type > 3 || lo >> 12)
		cpu_gp(c, 0);
	if (type == 0 && !is_canonical(la))
		cpu_gp(c, 0);
	if (type <= 1 && (lo & 0xfff) && !(c->cr4 & CR4_PCIDE))
		cpu_gp(c, 0);
	if (type == 0)
		tlb_flush_page(c, la);
	else
		tlb_flush_all(c);
	c->break_block = 1;
}

/* HLT: exit with "HLT exiting", else enter the HLT state until an event is delivered. */
void op_hlt(struct cpu *c, const struct insn *d)
{
	need_cpl0(c);
	if (c->ctl.proc & PROC_HLT_EXITING)
		cpu_vmexit(c, EXIT_REASON_HLT, 0);
	c->halted = 1;
	c->break_block = 1;
}

/*
 * PAUSE (SDM vol. 3C 26.1.3): "PAUSE exiting" makes every PAUSE exit. Otherwise, with "PAUSE-loop
 * exiting" at CPL 0, a PAUSE more than PLE_Gap TSC cycles after the previous one starts a new
 * loop (so does the first after VM entry), and one more than PLE_Window cycles after the first
 * of its loop exits. The clock is the TSC before offsetting (cpu_tsc_raw).
 */
void op_pause(struct cpu *c, const struct insn *d)
{
	u64 now;

	if (c->ctl.proc & PROC_PAUSE_EXITING)
		cpu_vmexit(c, EXIT_REASON_PAUSE_INSTRUCTION, 0);
	if (!(proc2(c) & PROC2_PAUSE_LOOP_EXITING) || c->cpl)
		return;
	now = cpu_tsc_raw(c);
	if (!c->ple_valid || now - c->ple_last > c->ctl.ple_gap)
		c->ple_first = now;
	c->ple_last = now;
	c->ple_valid = 1;
	if (now - c->ple_first > c->ctl.ple_window) {
		c->ple_valid = 0;
		cpu_vmexit(c, EXIT_REASON_PAUSE_INSTRUCTION, 0);
	}
}

/* MONITOR/MWAIT: #UD at CPL > 0. MONITOR checks DS:rAX like a read and has no extensions
   (ECX != 0: #GP(0)); it arms the monitor. MWAIT: ECX bits 31:1 are reserved (#GP(0)); it
   returns at once (permitted, SDM vol. 2 MWAIT) and disarms the monitor. The MWAIT exit
   qualification bit 0 says whether the monitor was armed (SDM 28.2.1). */
void op_monitor(struct cpu *c, const struct insn *d)
{
	if (c->cpl)
		cpu_ud(c);
	if (c->ctl.proc & PROC_MONITOR_EXITING)
		cpu_vmexit(c, EXIT_REASON_MONITOR_INSTRUCTION, 0);
	if ((u32)c->gpr[R_RCX])
		cpu_gp(c, 0);
	seg_lin(c, d->seg, c->gpr[R_RAX] & size_mask(d->asz), 1, ACC_READ);
	c->monitor_armed = 1;
}

void op_mwait(struct cpu *c, const struct insn *d)
{
	if (c->cpl)
		cpu_ud(c);
	if (c->ctl.proc & PROC_MWAIT_EXITING)
		cpu_vmexit(c, EXIT_REASON_MWAIT_INSTRUCTION, c->monitor_armed);
	if ((u32)c->gpr[R_RCX] >> 1)
		cpu_gp(c, 0);
	c->monitor_armed = 0;
}

/* CLAC/STAC: #UD at CPL > 0 (SDM vol. 2). */
void op_clac(struct cpu *c, const struct insn *d)
{
	if (c->cpl)
		cpu_ud(c);
	c->rflags &= ~X86_AC;
}

void op_stac(struct cpu *c, const struct insn *d)
{
	if (c->cpl)
		cpu_ud(c);
	c->rflags |= X86_AC;
}

/* SWAPGS: 64-bit mode only (#UD), CPL 0 (#GP(0)). */
void op_swapgs(struct cpu *c, const struct insn *d)
{
	u64 t;

	if (c->mode != MODE_LONG)
		cpu_ud(c);
	need_cpl0(c);
	t = c->seg[SEG_GS].base;
	set_seg_base(c, SEG_GS, c->kernel_gs_base);
	c->kernel_gs_base = t;
}

/* --- Fast system calls (SDM vol. 2 SYSCALL, SYSRET, SYSENTER, SYSEXIT) --- */

static void flat_seg(struct x86_segment *s, u16 sel, unsigned type, u8 dpl, u32 flags)
{
	s->sel = sel;
	s->base = 0;
	s->limit = 0xffffffff;
	s->ar = type | AR_S | (u32)dpl << 5 | AR_P | AR_G | flags;
}

static void load_flat(struct cpu *c, const struct x86_segment *cs, const struct x86_segment *ss,
		      u8 cpl)
{
	c->seg[SEG_CS] = *cs;
	c->seg[SEG_SS] = *ss;
	cpu_set_cpl(c, cpl);
	cpu_update_mode(c);
}

/* SYSCALL: 64-bit mode with EFER.SCE, else #UD. RCX = next RIP, R11 = RFLAGS (RF clear);
   CS = STAR[47:32], SS = +8, flat, CPL 0; RFLAGS &= ~FMASK; RIP = LSTAR. */
void op_syscall(struct cpu *c, const struct insn *d)
{
	struct x86_segment cs, ss;
	u16 sel = (u16)(c->star >> 32) & 0xfffc;
	u64 f;

	if (c->mode != MODE_LONG || !(c->efer & EFER_SCE))
		cpu_ud(c);
	f = flags_get(c);
	c->gpr[R_RCX] = c->rip;
	c->gpr[R_R11] = f & ~X86_RF;
	flat_seg(&cs, sel, 0xb, 0, AR_L);
	flat_seg(&ss, sel + 8, 0x3, 0, AR_DB);
	flags_set(c, f & ~c->fmask & ~X86_RF);
	c->rip = c->lstar;
	load_flat(c, &cs, &ss, 0);
}

/* SYSRET: #UD outside 64-bit mode or without SCE; CPL 0 (#GP(0)); REX.W returns to 64-bit code
   at STAR[63:48]+16 (non-canonical RCX: #GP(0) before any change, as Intel does), otherwise to
   compatibility mode at STAR[63:48]; SS = STAR[63:48]+8; RFLAGS from R11. */
void op_sysret(struct cpu *c, const struct insn *d)
{
	struct x86_segment cs, ss;
	u16 base = (u16)(c->star >> 48);

	if (c->mode != MODE_LONG || !(c->efer & EFER_SCE))
		cpu_ud(c);
	need_cpl0(c);
	if (d->osz == 8) {
		if (!is_canonical(c->gpr[R_RCX]))
			cpu_gp(c, 0);
		flat_seg(&cs, (u16)(base + 16) | 3, 0xb, 3, AR_L);
		c->rip = c->gpr[R_RCX];
	} else {
		flat_seg(&cs, base | 3, 0xb, 3, AR_DB);
		c->rip = (u32)c->gpr[R_RCX];
	}
	flat_seg(&ss, (u16)(base + 8) | 3, 0x3, 3, AR_DB);
	flags_set(c, (c->gpr[R_R11] & 0x3c7fd7) | X86_FIXED1);
	load_flat(c, &cs, &ss, 3);
	if (c->rflags & X86_TF)
		c->event_pending = 1;
}

/* SYSENTER: #GP(0) in real mode or with a null SYSENTER_CS; CS = SYSENTER_CS (64-bit code if
   IA-32e mode), SS = +8, CPL 0; VM, IF, RF cleared. */
void op_sysenter(struct cpu *c, const struct insn *d)
{
	struct x86_segment cs, ss;
	u16 sel = (u16)c->sysenter_cs & 0xfffc;
	bool lm = c->efer & EFER_LMA;

	if (c->mode == MODE_REAL || !sel)
		cpu_gp(c, 0);
	flat_seg(&cs, sel, 0xb, 0, lm ? AR_L : AR_DB);
	flat_seg(&ss, sel + 8, 0x3, 0, AR_DB);
	flags_set(c, flags_get(c) & ~(X86_VM | X86_IF | X86_RF));
	c->gpr[R_RSP] = lm ? c->sysenter_esp : (u32)c->sysenter_esp;
	c->rip = lm ? c->sysenter_eip : (u32)c->sysenter_eip;
	load_flat(c, &cs, &ss, 0);
}

/* SYSEXIT: CPL 0, non-null SYSENTER_CS (#GP(0)); REX.W: 64-bit code at +32, SS +40, RIP = RDX,
   RSP = RCX (canonical, #GP(0)); else 32-bit code at +16, SS +24, EIP = EDX, ESP = ECX. */
void op_sysexit(struct cpu *c, const struct insn *d)
{
	struct x86_segment cs, ss;
	u16 sel = (u16)c->sysenter_cs & 0xfffc;

	if (c->mode == MODE_REAL || !sel)
		cpu_gp(c, 0);
	need_cpl0(c);
	if (d->osz == 8) {
		if (!is_canonical(c->gpr[R_RDX]) || !is_canonical(c->gpr[R_RCX]))
			cpu_gp(c, 0);
		flat_seg(&cs, (u16)(sel + 32) | 3, 0xb, 3, AR_L);
		flat_seg(&ss, (u16)(sel + 40) | 3, 0x3, 3, AR_DB);
		c->rip = c->gpr[R_RDX];
		c->gpr[R_RSP] = c->gpr[R_RCX];
	} else {
		flat_seg(&cs, (u16)(sel + 16) | 3, 0xb, 3, AR_DB);
		flat_seg(&ss, (u16)(sel + 24) | 3, 0x3, 3, AR_DB);
		c->rip = (u32)c->gpr[R_RDX];
		c->gpr[R_RSP] = (u32)c->gpr[R_RCX];
	}
	load_flat(c, &cs, &ss, 3);
}

/* --- Interrupt flag and RFLAGS (SDM vol. 2 CLI, STI, PUSHF, POPF); no VME/PVI --- */

static bool iopl_ok(const struct cpu *c)
{
	return c->mode == MODE_REAL || c->cpl <= iopl(c);
}

void op_cli(struct cpu *c, const struct insn *d)
{
	if (!iopl_ok(c))
		cpu_gp(c, 0);
	c->rflags &= ~X86_IF;
}

/* STI setting IF blocks interrupts until after the next instruction (SDM vol. 3A 6.8.3): the run
   loop executes exactly one instruction while intr_shadow is set. */
void op_sti(struct cpu *c, const struct insn *d)
{
	if (!iopl_ok(c))
		cpu_gp(c, 0);
	if (!(c->rflags & X86_IF)) {
		c->rflags |= X86_IF;
		c->intr_shadow = 1;
		c->shadow_kind = GUEST_INTR_STATE_STI;
		c->break_block = 1;
	}
}

/* PUSHF: the image has VM and RF clear; 16 bits with a 16-bit operand size. */
void op_pushf(struct cpu *c, const struct insn *d)
{
	cpu_push(c, flags_get(c) & ~(X86_VM | X86_RF), d->osz);
}

/* POPF: IOPL changes only at CPL 0 and IF only if CPL <= IOPL (silently kept otherwise); VM,
   VIF, VIP unchanged; RF cleared; AC and ID need a 32/64-bit operand. */
void op_popf(struct cpu *c, const struct insn *d)
{
	u64 old = flags_get(c), v = cpu_peek(c, d->osz, 0), n;
	u64 mask = X86_ARITH_FLAGS | X86_TF | X86_DF | X86_NT | X86_AC | X86_ID;

	if (c->mode == MODE_REAL || c->cpl == 0)
		mask |= X86_IOPL;
	if (iopl_ok(c))
		mask |= X86_IF;
	if (d->osz == 2)
		mask &= 0xffff;
	n = ((old & ~mask) | (v & mask) | X86_FIXED1) & ~X86_RF;
	cpu_pop_commit(c, d->osz);
	flags_set(c, n);
	if ((n ^ old) & (X86_IF | X86_TF | X86_AC))
		c->break_block = 1;
	if (n & X86_TF)
		c->event_pending = 1;
}

/* --- Port I/O (SDM vol. 1 19.5, vol. 3C 26.1.3, 27.2.1 Table 27-5, 27.2.5 Table 27-8) --- */

/* Protected mode with CPL > IOPL: every port of the access must be clear in the I/O permission
   bitmap of a 32/64-bit TSS, else #GP(0). */
static void io_permission(struct cpu *c, u16 port, unsigned size)
{
	const struct x86_segment *tr = &c->seg[SEG_TR];
	u64 base, bits;

	if (iopl_ok(c))
		return;
	if ((tr->ar & AR_UNUSABLE) || (AR_TYPE(tr->ar) & 9) != 9 || tr->limit < 103)
		cpu_gp(c, 0);
	base = sys_read(c, tr->base + 102, 2) + port / 8;
	if (base + 1 > tr->limit)
		cpu_gp(c, 0);
	bits = sys_read(c, tr->base + base, 2);
	if (bits & (((1u << size) - 1) << (port & 7)))
		cpu_gp(c, 0);
}

/* Unconditional I/O exiting, or the I/O bitmaps (A: 0-0x7fff, B: 0x8000-0xffff) checked for
   every port of the access; an access wrapping past 0xffff exits (SDM vol. 3C 26.1.3). */
static bool io_exits(const struct cpu *c, u16 port, unsigned size)
{
	if (!(c->ctl.proc & PROC_USE_IO_BITMAPS))
		return c->ctl.proc & PROC_UNCOND_IO_EXITING;
	for (unsigned i = 0; i < size; i++) {
		u32 p = (u32)port + i;
		const u8 *bm = p < 0x8000 ? c->ctl.io_bitmap_a : c->ctl.io_bitmap_b;

		if (p > 0xffff || !bm || ((bm[(p & 0x7fff) / 8] >> (p & 7)) & 1))
			return true;
	}
	return false;
}

/*
 * Finishes one element of an I/O instruction described by an exit record (c->insn_rip is the
 * instruction): IN writes AL/AX/EAX (EAX zero-extends into RAX); INS stores the element at
 * ES:rDI, as the instruction's own store or, `vmm`, as the VMM's (mmu_vmm_write: completing an
 * exit, see cpu_io_string); string forms step rSI/rDI by the element size (down if DF) in the
 * address size; REP decrements rCX and, until it reaches 0, leaves RIP on the instruction so it
 * runs again.
 */
static void io_finish(struct cpu *c, const struct vm_exit *io, bool vmm)
{
	unsigned size = io->io.size, asz = 2u << ((io->insn_info >> 7) & 7);
	u64 delta = (c->rflags & X86_DF) ? -(u64)size : size;

	if (!(io->qual & IO_QUAL_STRING)) {
		if (io->qual & IO_QUAL_IN)
			reg_write(c, R_RAX, io->io.data, size);
		c->rip = c->insn_rip + io->insn_len;
		return;
	}
	if (io->qual & IO_QUAL_IN) {
		u64 di = reg_read(c, R_RDI, asz), v = io->io.data;

		if (vmm)
			mmu_vmm_write(c, SEG_ES, di, size, &v);
		else
			mem_write(c, SEG_ES, di, v, size);
		reg_write(c, R_RDI, di + delta, asz);
	} else {
		reg_write(c, R_RSI, reg_read(c, R_RSI, asz) + delta, asz);
	}
	c->break_block = 1;
	if (io->qual & IO_QUAL_REP) {
		u64 cx = reg_read(c, R_RCX, asz) - 1;

		reg_write(c, R_RCX, cx, asz);
		if (cx & size_mask(asz)) {
			c->rip = c->insn_rip;
			return;
		}
	}
	c->rip = c->insn_rip + io->insn_len;
}

void io_complete(struct cpu *c)
{
	c->io.pending = 0;
	c->insn_rip = c->rip;
	io_finish(c, &c->io.io, true);
}

/*
 * The exit record of one element of IN/OUT/INS/OUTS after the permission checks: port, size,
 * direction, OUT data (OUTS: none yet, see cpu_io_string); string forms: address size and
 * segment in the instruction information (SDM vol. 3C 28.2.5 Table 28-8) and the element's
 * linear address (28.2.4). IN data reads all ones until someone answers.
 */
static void io_record(const struct insn *d, struct vm_exit *io, u16 port, unsigned size, u64 qual,
		      u32 data, u64 lin)
{
	memset(io, 0, sizeof(*io));
	io->qual = qual | (size - 1) | (u64)port << 16;
	io->insn_len = d->len;
	io->io.port = port;
	io->io.size = (u8)size;
	io->io.in = !!(qual & IO_QUAL_IN);
	io->io.data = io->io.in ? (u32)size_mask(size) : data;
	if (qual & IO_QUAL_STRING) {
		io->insn_info = asz_code(d->asz) << 7 | (u32)((qual & IO_QUAL_IN) ? SEG_ES : d->seg)
							       << 15;
		io->guest_linear = lin;
	}
}

/* Exit 30 if the controls say so, keeping a copy of the record for io_complete(); else return:
   there is no device, so the instruction completes with IN reading all ones, OUT dropped. */
static void io_maybe_exit(struct cpu *c, const struct vm_exit *io)
{
	struct vm_exit *e = c->exit;

	if (!io_exits(c, io->io.port, io->io.size))
		return;
	c->io.io = *io;
	c->io.io.reason = EXIT_REASON_IO_INSTRUCTION;
	c->io.io.rip = c->insn_rip;
	c->io.pending = 1;
	e->insn_len = io->insn_len;
	e->insn_info = io->insn_info;
	e->guest_linear = io->guest_linear;
	e->io = io->io;
	cpu_vmexit(c, EXIT_REASON_IO_INSTRUCTION, io->qual);
}

/* E4-E7 take the port from imm8 (qualification bit 6), EC-EF from DX. Operand size 1/2/4. */
static u16 io_port(struct cpu *c, const struct insn *d, u64 *qual)
{
	if ((d->opcode & 0xff) < 0xec) {
		*qual |= IO_QUAL_IMM;
		return (u16)d->imm;
	}
	return (u16)c->gpr[R_RDX];
}

static unsigned io_size(const struct insn *d)
{
	return d->osz > 4 ? 4 : d->osz;
}

void op_in(struct cpu *c, const struct insn *d)
{
	u64 qual = IO_QUAL_IN;
	u16 port = io_port(c, d, &qual);
	unsigned size = io_size(d);
	struct vm_exit io;

	io_permission(c, port, size);
	io_record(d, &io, port, size, qual, 0, 0);
	io_maybe_exit(c, &io);
	io_finish(c, &io, false);
}

void op_out(struct cpu *c, const struct insn *d)
{
	u64 qual = 0;
	u16 port = io_port(c, d, &qual);
	unsigned size = io_size(d);
	struct vm_exit io;

	io_permission(c, port, size);
	io_record(d, &io, port, size, qual, (u32)reg_read(c, R_RAX, size), 0);
	io_maybe_exit(c, &io);
	io_finish(c, &io, false);
}

/*
 * INS/OUTS. The I/O exit has priority over the faults of the memory operand: #GP for an
 * unusable segment or an offset beyond its limit, #AC (SDM vol. 3C 26.1.1), and, being a
 * fault-like exit, over #PF too. So the exit comes before memory is touched or checked, and
 * the VMM makes the memory access (cpu_io_string). Without an exit the instruction makes its
 * own: INS checks ES:rDI for writing before the port is read; OUTS reads seg:rSI. A REP form
 * with rCX = 0 does nothing.
 */
void op_ins(struct cpu *c, const struct insn *d)
{
	u16 port = (u16)c->gpr[R_RDX];
	unsigned size = io_size(d);
	u64 qual = IO_QUAL_IN | IO_QUAL_STRING, di = reg_read(c, R_RDI, d->asz);
	struct vm_exit io;

	io_permission(c, port, size);
	if (d->rep != REP_NONE) {
		if (!reg_read(c, R_RCX, d->asz))
			return;
		qual |= IO_QUAL_REP;
	}
	io_record(d, &io, port, size, qual, 0, (c->seg_base[SEG_ES] + di) & c->lin_mask);
	io_maybe_exit(c, &io);
	mem_probe_write(c, SEG_ES, di, size);
	io_finish(c, &io, false);
}

void op_outs(struct cpu *c, const struct insn *d)
{
	u16 port = (u16)c->gpr[R_RDX];
	unsigned size = io_size(d);
	u64 qual = IO_QUAL_STRING, si = reg_read(c, R_RSI, d->asz);
	struct vm_exit io;

	io_permission(c, port, size);
	if (d->rep != REP_NONE) {
		if (!reg_read(c, R_RCX, d->asz))
			return;
		qual |= IO_QUAL_REP;
	}
	io_record(d, &io, port, size, qual, 0, (c->seg_base[d->seg] + si) & c->lin_mask);
	io_maybe_exit(c, &io);
	mem_read(c, d->seg, si, size);
	io_finish(c, &io, false);
}

/*
 * The VMM's memory access for an INS/OUTS exit (cpu.h). Runs outside cpu_run(), so faults come
 * back through a setjmp of its own, as in cpu_set_msr(). #GP, #SS, #PF and #AC all push an
 * error code (SDM vol. 3A Table 6-1).
 */
int cpu_io_string(struct cpu *c, struct vm_exit *exit, struct cpu_fault *f)
{
	const struct vm_exit *io = &c->io.io;
	unsigned size = io->io.size, asz = 2u << ((io->insn_info >> 7) & 7);
	unsigned seg = (io->insn_info >> 15) & 7;
	jmp_buf saved;
	int ret = 0;

	if (!c->io.pending || !(io->qual & IO_QUAL_STRING))
		return 0;
	memcpy(saved, c->jb, sizeof(saved));
	c->insn = NULL;
	c->insn_rip = c->rip; /* a fault restores RIP from here: it stays on the instruction */
	if (setjmp(c->jb)) {
		f->vector = c->fault_vector;
		f->has_error = true;
		f->error = c->fault_error;
		f->cr2 = c->fault_vector == X86_PF_VEC ? c->fault_cr2 : 0;
		c->io.pending = 0;
		ret = 1;
	} else if (io->qual & IO_QUAL_IN) {
		mmu_vmm_write(c, SEG_ES, reg_read(c, R_RDI, asz), size, NULL);
	} else {
		exit->io.data = (u32)mmu_vmm_read(c, seg, reg_read(c, R_RSI, asz), size);
	}
	memcpy(c->jb, saved, sizeof(saved));
	return ret;
}
