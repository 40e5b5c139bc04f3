// SPDX-License-Identifier: MIT
/*
 * MSRs, the time-stamp counter and performance counters in VMX non-root operation: RDMSR,
 * WRMSR, the TSC clock (cpu.h), RDTSC, RDTSCP, RDPMC. Handlers keep the order of checks of
 * cpu/internal.h ("System instructions").
 *
 * Model-specific choices (see docs/cpu.md): there are no performance counters (RDPMC without
 * exiting is #GP(0)).
 */
#include "cpu/internal.h"
#include "cpu/ops.h"

/* --- MSRs (SDM vol. 2 RDMSR/WRMSR, vol. 3C 24.6.9, 26.1.3) --- */

bool cpu_msr_bitmap_exits(u32 proc, const u8 *bm, u32 msr, bool write)
{
	unsigned off, bit = msr & 0x1fff;

	if (!(proc & PROC_USE_MSR_BITMAPS) || !bm)
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

u64 cpu_host_rdtsc(void)
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
		return cpu_host_rdtsc();
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

void cpu_tsc_follow(struct cpu *c, const struct cpu *from)
{
	c->tsc_mode = from->tsc_mode;
	c->tsc_cpi = from->tsc_cpi;
	/* On the host's clock both read the same counter: the same base is the same TSC. */
	if (c->tsc_mode == CPU_TSC_HOST)
		c->tsc_base = from->tsc_base;
	else
		c->tsc_base = from->tsc_base + cpu_tsc_raw(from) - cpu_tsc_raw(c);
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
	u64 tsc;

	/*
	 * The host's RDTSC is not ordered with the host loads that carried out the guest's earlier
	 * instructions (SDM vol. 2B RDTSC: not serializing), so with vCPUs on host threads a guest
	 * could read a TSC below one another vCPU stored before it (Linux's check_tsc_warp does
	 * LFENCE; RDTSC under a lock and saw 1,800-cycle warps). The soft CPU's guest LFENCE is no
	 * instruction at all: every guest read of the host TSC is ordered instead.
	 */
#if defined(__x86_64__) || defined(__i386__)
	if (c->tsc_mode == CPU_TSC_HOST)
		__builtin_ia32_lfence();
#endif
	tsc = cpu_tsc(c);

	if (!(c->ctl.proc & PROC_TSC_OFFSETTING))
		return tsc;
	if (cpu_proc2(c) & PROC2_TSC_SCALING)
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
	case MSR_IA32_ARCH_CAPABILITIES:
		/*
		 * This CPU executes one instruction at a time in program order: nothing runs
		 * speculatively, and it has no L1D, fill, store or load buffers whose contents another
		 * context could sample. Every weakness these bits deny is therefore absent, which is
		 * what lets a guest kernel skip page-table isolation and buffer clearing (Linux reads
		 * RDCL_NO and MDS_NO; KVM sets the same bits for guests on hosts not affected). Bits
		 * that describe a mitigation control (IBRS_ALL, TSX_CTRL, FB_CLEAR...) stay 0: there
		 * is no such control. A write is #GP (the MSR is read-only; it exits to the VMM,
		 * which has no such MSR to write).
		 */
		*v = ARCH_CAP_RDCL_NO | ARCH_CAP_SKIP_L1DFL_VMENTRY | ARCH_CAP_SSB_NO |
		     ARCH_CAP_MDS_NO | ARCH_CAP_PSCHANGE_MC_NO | ARCH_CAP_TAA_NO |
		     ARCH_CAP_SBDR_SSDP_NO | ARCH_CAP_FBSDP_NO | ARCH_CAP_PSDP_NO | ARCH_CAP_BHI_NO |
		     ARCH_CAP_PBRSB_NO | ARCH_CAP_GDS_NO | ARCH_CAP_RFDS_NO | ARCH_CAP_ITS_NO;
		return true;
	default:
		return false;
	}
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
		if (!x86_pat_valid(v))
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
	if (cpu_msr_bitmap_exits(c->ctl.proc, c->ctl.msr_bitmap, index, false)) {
		cpu_vmexit_insn(c, EXIT_REASON_MSR_READ, 0);
		return;
	}
	/* x2APIC MSRs with "virtualize x2APIC mode" (SDM vol. 3C 30.5, apicv.c). */
	if (unlikely(index - 0x800 <= 0xff) && apicv_rdmsr(c, index, &v)) {
		c->gpr[R_RAX] = (u32)v;
		c->gpr[R_RDX] = v >> 32;
		return;
	}
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
	if (cpu_msr_bitmap_exits(c->ctl.proc, c->ctl.msr_bitmap, index, true)) {
		cpu_vmexit_insn(c, EXIT_REASON_MSR_WRITE, 0);
		return;
	}
	if (unlikely(index - 0x800 <= 0xff) && apicv_wrmsr(c, index, v))
		return;
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

	if (!(cpu_proc2(c) & PROC2_ENABLE_RDTSCP))
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
