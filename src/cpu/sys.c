// SPDX-License-Identifier: MIT
/*
 * System instructions in VMX non-root operation that have no file of their own: those that
 * always exit (CPUID, VMCALL, the VMX instructions), INVPCID, HLT, PAUSE, MONITOR and MWAIT,
 * CLAC and STAC, SWAPGS, CLI and STI, PUSHF and POPF. The rest are in cr.c (control and debug
 * registers, caches, TLB), desc.c (descriptor tables), msr.c (MSRs, TSC, RDPMC), syscall.c (fast
 * system calls), io.c (port I/O) and xsave.c (XGETBV, XSETBV); the helpers they share and the
 * order of checks they all follow are in cpu/internal.h ("System instructions").
 *
 * Model-specific choices (see docs/cpu.md): MWAIT returns at once.
 */
#include "cpu/internal.h"
#include "cpu/ops.h"

/* --- Instructions that always exit, or never do anything else (SDM vol. 3C 26.1.2) --- */

void op_cpuid(struct cpu *c, const struct insn *d)
{
	cpu_vmexit_insn(c, EXIT_REASON_CPUID, 0);
}

void op_vmcall(struct cpu *c, const struct insn *d)
{
	cpu_vmexit_insn(c, EXIT_REASON_VMCALL, 0);
}

/* VMX instructions other than VMCALL: #UD in real and compatibility mode has priority, then the
   exit (SDM vol. 3C 30.3, each instruction's "Operation"). VMFUNC is #UD: the "enable VM
   functions" control is not provided (SDM vol. 3C 26.5.6). */
/*
 * VMREAD and VMWRITE under VMCS shadowing (SDM vol. 3C 25.10, 26.1.3; vol. 2 VMREAD, VMWRITE):
 * no exit when the encoding fits in 15 bits and its bit in the VMREAD or VMWRITE bitmap is 0.
 * Then #GP(0) at CPL > 0, VMfailInvalid without a shadow VMCS, VMfailValid with the error in
 * the shadow VMCS, or the field read or written there. false: the instruction exits.
 */
#define VMCS_VM_INSTRUCTION_ERROR 0x4400 /* SDM vol. 3D B.3.1 */
static bool vmx_shadowed(struct cpu *c, const struct insn *d, bool write)
{
	const u8 *bm = write ? c->ctl.vmwrite_bitmap : c->ctl.vmread_bitmap;
	unsigned len = c->mode == MODE_LONG ? 8 : 4;
	u64 enc, value = 0, f = flags_get(c) & ~X86_ARITH_FLAGS;
	int err;

	if (!(cpu_proc2(c) & PROC2_VMCS_SHADOWING) || !bm)
		return false;
	enc = reg_read(c, d->reg, len);
	if ((enc >> 15) || ((bm[(enc & 0x7fff) >> 3] >> (enc & 7)) & 1))
		return false;
	need_cpl0(c);
	if (!c->ctl.shadow_vmcs || !c->ctl.shadow_access) {
		flags_set(c, f | X86_CF);
		return true;
	}
	if (write)
		value = d->mem ? mem_read(c, d->seg, insn_ea(c, d), len) : reg_read(c, d->rm, len);
	err = c->ctl.shadow_access(c->ctl.shadow_vmcs, (u32)enc, write, &value, false);
	if (!err && !write) {
		if (d->mem)
			mem_write(c, d->seg, insn_ea(c, d), value, len);
		else
			reg_write(c, d->rm, value, len);
	}
	if (err) {
		u64 e = (u64)err;

		c->ctl.shadow_access(c->ctl.shadow_vmcs, VMCS_VM_INSTRUCTION_ERROR, true, &e, true);
		f |= X86_ZF;
	}
	flags_set(c, f);
	return true;
}

void op_vmx(struct cpu *c, const struct insn *d)
{
	u32 reason = d->sub;

	if (seg_real(c) || c->mode == MODE_COMPAT || reason == EXIT_REASON_VMFUNC)
		cpu_ud(c);
	if ((reason == EXIT_REASON_VMREAD || reason == EXIT_REASON_VMWRITE) &&
	    vmx_shadowed(c, d, reason == EXIT_REASON_VMWRITE))
		return;
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

	if (!(cpu_proc2(c) & PROC2_ENABLE_INVPCID) || !d->mem)
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
	if (c->ctl.proc & PROC_HLT_EXITING) {
		cpu_vmexit_insn(c, EXIT_REASON_HLT, 0);
		return;
	}
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

	if (c->ctl.proc & PROC_PAUSE_EXITING) {
		cpu_vmexit_insn(c, EXIT_REASON_PAUSE_INSTRUCTION, 0);
		return;
	}
	if (!(cpu_proc2(c) & PROC2_PAUSE_LOOP_EXITING) || c->cpl)
		return;
	now = cpu_tsc_raw(c);
	if (!c->ple_valid || now - c->ple_last > c->ctl.ple_gap)
		c->ple_first = now;
	c->ple_last = now;
	c->ple_valid = 1;
	if (now - c->ple_first > c->ctl.ple_window) {
		c->ple_valid = 0;
		cpu_vmexit_insn(c, EXIT_REASON_PAUSE_INSTRUCTION, 0);
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

/* --- Interrupt flag and RFLAGS (SDM vol. 2 CLI, STI, PUSHF, POPF); no VME/PVI --- */

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

/* PUSHF: the image has VM and RF clear; 16 bits with a 16-bit operand size. PUSHF and POPF are
   IOPL-sensitive in virtual-8086 mode: IOPL < 3 is #GP(0) (no VME; SDM vol. 3B 20.2.7). */
void op_pushf(struct cpu *c, const struct insn *d)
{
	if (cpu_v86(c) && iopl(c) < 3)
		cpu_gp(c, 0);
	cpu_push(c, flags_get(c) & ~(X86_VM | X86_RF), d->osz);
}

/* POPF: IOPL changes only at CPL 0 and IF only if CPL <= IOPL (silently kept otherwise); VM,
   VIF, VIP unchanged; RF cleared; AC and ID need a 32/64-bit operand. */
void op_popf(struct cpu *c, const struct insn *d)
{
	u64 old = flags_get(c), v, n;
	u64 mask = X86_ARITH_FLAGS | X86_TF | X86_DF | X86_NT | X86_AC | X86_ID;

	if (cpu_v86(c) && iopl(c) < 3)
		cpu_gp(c, 0);
	v = cpu_peek(c, d->osz, 0);
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
		cpu_event_pending(c);
}
