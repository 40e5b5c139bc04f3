// SPDX-License-Identifier: MIT
/*
 * VM entry (Intel SDM vol. 3C chapter 27): the checks of the VMX controls and host-state area
 * (27.2, VMfailValid), of the guest-state area (27.3.1, exit 33) and of the VM-entry MSR-load list
 * (27.4, exit 34); then the guest-state load into the software CPU, event injection (27.6) and
 * the run until a VM exit (vmx/vmexit.c).
 */
#include <string.h>

#include "arch/x86.h"
#include "cpu/cpu.h"
#include "arch/vmx.h"
#include "vmx/internal.h"

#define CANON_SHIFT (64 - CPU_LINEAR_BITS)

static bool canonical(u64 a)
{
	return (u64)((s64)(a << CANON_SHIFT) >> CANON_SHIFT) == a;
}

/* Beyond the processor's physical-address width (SDM vol. 3C 27.2.1.1 and elsewhere)? */
static bool phys_ok(u64 a)
{
	return !(a >> CPU_MAXPHYADDR);
}

/* A page-aligned host-physical address within the width (SDM vol. 3C 27.2.1.1). */
static bool page_ok(u64 a)
{
	return !(a & 0xfff) && phys_ok(a);
}

#define EFER_VALID (EFER_SCE | EFER_LME | EFER_LMA | EFER_NXE)
/* IA32_DEBUGCTL bits the model lets a VMCS hold: LBR, BTF and 14:6 (SDM vol. 3B 18.4.1). */
#define DEBUGCTL_VALID (BIT(0) | BIT(1) | 0x7fc0)

/* The capability MSRs, read once (they are constants of the model). */
static u64 cap(u32 msr)
{
	static u64 caps[MSR_IA32_VMX_TRUE_ENTRY_CTLS - MSR_IA32_VMX_BASIC + 1];
	static bool loaded;

	if (unlikely(!loaded)) {
		for (u32 i = 0; i < ARRAY_SIZE(caps); i++)
			vmx_cap_msr(MSR_IA32_VMX_BASIC + i, &caps[i]);
		loaded = true;
	}
	return caps[msr - MSR_IA32_VMX_BASIC];
}

/* The secondary controls in force: 0 when the primary control does not activate them (25.6.2). */
static u32 proc2_of(const struct vmcs *v)
{
	return (v->cpu_based_vm_exec_control & PROC_SECONDARY_CONTROLS)
		       ? (u32)v->secondary_vm_exec_control
		       : 0;
}

/* An MSR-list address for `count` entries: 16-byte aligned, within the width (27.2.1.2/3). */
static bool msr_list_ok(const struct vmx_vcpu *x, u64 addr, u64 count)
{
	if (!count)
		return true;
	if ((addr & 15) || !phys_ok(addr + count * 16 - 1))
		return false;
	/* Model-specific: the list must be memory the VMM owns, as it is read at entry/exit. */
	return count > VMX_MSR_LIST_MAX || x->host_ptr(x->opaque, addr, count * 16);
}

/* A bitmap or page the controls point at: aligned, within the width, and host memory. */
static bool ctl_page_ok(const struct vmx_vcpu *x, u64 a)
{
	return page_ok(a) && x->host_ptr(x->opaque, a, 4096);
}

/* The event-injection field checks of SDM vol. 3C 27.2.1.3. */
static bool injection_ok(const struct vmcs *v, u32 proc2)
{
	u32 info = (u32)v->vm_entry_intr_info_field;
	u32 type = INTR_INFO_TYPE(info), vec = INTR_INFO_VECTOR(info);
	bool want_code;

	if (!(info & INTR_INFO_VALID))
		return true;
	/* Type 1 is reserved; type 7 (pending MTF) needs MTF support, which the model has. */
	if (type == 1)
		return false;
	if (type == INTR_TYPE_NMI && vec != X86_NMI)
		return false;
	if (type == INTR_TYPE_HARD_EXCEPTION && vec > 31)
		return false;
	if (type == INTR_TYPE_OTHER_EVENT && vec != 0)
		return false;
	/* Deliver-error-code is 1 exactly for a hardware exception that pushes one, in protected
	   mode (CR0.PE = 1, or unrestricted guest off). */
	want_code = (!(proc2 & PROC2_UNRESTRICTED_GUEST) || (v->guest_cr0 & CR0_PE)) &&
		    type == INTR_TYPE_HARD_EXCEPTION &&
		    (vec == X86_DF_VEC || vec == X86_TS || vec == X86_NP || vec == X86_SS ||
		     vec == X86_GP || vec == X86_PF_VEC || vec == X86_AC_VEC);
	if (!!(info & INTR_INFO_DELIVER_CODE) != want_code)
		return false;
	if (info & 0x7ffff000u) /* bits 30:12 reserved */
		return false;
	/* Software interrupts and exceptions: length 1..15 (IA32_VMX_MISC bit 30 is 0). */
	if ((type == INTR_TYPE_SOFT_INTR || type == INTR_TYPE_PRIV_SW_EXCEPTION ||
	     type == INTR_TYPE_SOFT_EXCEPTION) &&
	    (v->vm_entry_instruction_len < 1 || v->vm_entry_instruction_len > 15))
		return false;
	return true;
}

/* SDM vol. 3C 27.2.1: VM-execution (27.2.1.1), VM-exit (27.2.1.2), VM-entry (27.2.1.3) controls. */
/*
 * 27.2.1.1: with the TPR shadow and neither virtual-interrupt delivery nor APIC-access
 * virtualization, TPR threshold bits 3:0 are not above VTPR bits 7:4. The guest moves VTPR
 * (CR8, the virtual-APIC page) without VMWRITEs, so vmx_run() checks this rule at every entry.
 */
static always_inline bool vtpr_ok(const struct vmx_vcpu *x)
{
	const struct vmcs *v = x->vmcs;
	const u8 *vapic;

	if (!(v->cpu_based_vm_exec_control & PROC_TPR_SHADOW) ||
	    (proc2_of(v) & (PROC2_VIRT_INTR_DELIVERY | PROC2_VIRT_APIC_ACCESSES)))
		return true;
	vapic = x->host_ptr(x->opaque, v->virtual_apic_page_addr, 4096);
	return vapic && v->tpr_threshold <= (u32)(vapic[0x80] >> 4);
}

int vmx_check_controls(const struct vmx_vcpu *x)
{
	const struct vmcs *v = x->vmcs;
	u32 pin = (u32)v->pin_based_vm_exec_control, proc = (u32)v->cpu_based_vm_exec_control;
	u32 proc2 = proc2_of(v), exit_ctls = (u32)v->vm_exit_controls;
	u32 entry_ctls = (u32)v->vm_entry_controls;
	const int bad = VMXERR_ENTRY_INVALID_CONTROL;

	/* 27.2.1.1: reserved bits per the TRUE capability MSRs (IA32_VMX_BASIC bit 55 is 1). */
	if (!vmx_ctls_allowed(cap(MSR_IA32_VMX_TRUE_PINBASED_CTLS), pin) ||
	    !vmx_ctls_allowed(cap(MSR_IA32_VMX_TRUE_PROCBASED_CTLS), proc) ||
	    !vmx_ctls_allowed(cap(MSR_IA32_VMX_PROCBASED_CTLS2), proc2))
		return bad;
	if (v->cr3_target_count > 4)
		return bad;
	if ((proc & PROC_USE_IO_BITMAPS) &&
	    (!ctl_page_ok(x, v->io_bitmap_a) || !ctl_page_ok(x, v->io_bitmap_b)))
		return bad;
	if ((proc & PROC_USE_MSR_BITMAPS) && !ctl_page_ok(x, v->msr_bitmap))
		return bad;
	if (proc & PROC_TPR_SHADOW) {
		if (!ctl_page_ok(x, v->virtual_apic_page_addr))
			return bad;
		/* Without virtual-interrupt delivery: TPR threshold bits 31:4 are 0; and without
		   virtualize APIC accesses too, bits 3:0 are not above VTPR bits 7:4. */
		if (!(proc2 & PROC2_VIRT_INTR_DELIVERY) && (v->tpr_threshold & ~0xfull))
			return bad;
		if (!vtpr_ok(x))
			return bad;
	} else if (proc2 & (PROC2_VIRT_X2APIC | PROC2_APIC_REG_VIRT | PROC2_VIRT_INTR_DELIVERY)) {
		/* These need the TPR shadow (27.2.1.1). */
		return bad;
	}
	/* 27.2.1.1, APIC virtualization: x2APIC mode and APIC accesses are not virtualized at
	   once; the APIC-access address is a page within the width (the model also wants it
	   host memory or not: it is never read); virtual-interrupt delivery needs
	   external-interrupt exiting; posted interrupts need virtual-interrupt delivery,
	   acknowledge interrupt on exit, a notification vector in bits 7:0, and a descriptor
	   64-byte aligned within the width (and host memory, model-specific). */
	if ((proc2 & PROC2_VIRT_X2APIC) && (proc2 & PROC2_VIRT_APIC_ACCESSES))
		return bad;
	if ((proc2 & PROC2_VIRT_APIC_ACCESSES) && !page_ok(v->apic_access_addr))
		return bad;
	if ((proc2 & PROC2_VIRT_INTR_DELIVERY) && !(pin & PIN_EXTINT_EXITING))
		return bad;
	if (pin & PIN_POSTED_INTERRUPTS) {
		if (!(proc2 & PROC2_VIRT_INTR_DELIVERY) ||
		    !(exit_ctls & EXIT_CTL_ACK_INTR_ON_EXIT) || (v->posted_intr_nv & 0xff00) ||
		    (v->posted_intr_desc_addr & 63) || !phys_ok(v->posted_intr_desc_addr) ||
		    !x->host_ptr(x->opaque, v->posted_intr_desc_addr, 64))
			return bad;
	}
	if (!(pin & PIN_NMI_EXITING) && (pin & PIN_VIRTUAL_NMIS))
		return bad;
	if (!(pin & PIN_VIRTUAL_NMIS) && (proc & PROC_NMI_WINDOW_EXITING))
		return bad;
	if ((proc2 & PROC2_ENABLE_VPID) && v->virtual_processor_id == 0)
		return bad;
	if (proc2 & PROC2_ENABLE_EPT) {
		u64 eptp = v->ept_pointer, mt = eptp & EPTP_MT_MASK;

		/* 27.2.1.1 EPTP: a memory type EPT_VPID_CAP reports (UC, WB), walk length 4,
		   A/D only if supported (it is), bits 11:7 and beyond the width 0. */
		if (mt != EPTP_MT_UC && mt != EPTP_MT_WB)
			return bad;
		if (EPTP_WALK_LENGTH(eptp) != 4)
			return bad;
		if ((eptp & 0xf80) || !phys_ok(eptp))
			return bad;
	}
	if (proc2 & PROC2_ENABLE_PML) {
		if (!(proc2 & PROC2_ENABLE_EPT) || !ctl_page_ok(x, v->pml_address))
			return bad;
	}
	if ((proc2 & PROC2_UNRESTRICTED_GUEST) && !(proc2 & PROC2_ENABLE_EPT))
		return bad;
	/* VMCS shadowing: the VMREAD and VMWRITE bitmaps (25.6.15). */
	if ((proc2 & PROC2_VMCS_SHADOWING) &&
	    (!ctl_page_ok(x, v->vmread_bitmap) || !ctl_page_ok(x, v->vmwrite_bitmap)))
		return bad;

	/* 27.2.1.2: VM-exit controls. */
	if (!vmx_ctls_allowed(cap(MSR_IA32_VMX_TRUE_EXIT_CTLS), exit_ctls))
		return bad;
	if (!(pin & PIN_PREEMPTION_TIMER) && (exit_ctls & EXIT_CTL_SAVE_PREEMPTION_TIMER))
		return bad;
	if (!msr_list_ok(x, v->vm_exit_msr_store_addr, v->vm_exit_msr_store_count) ||
	    !msr_list_ok(x, v->vm_exit_msr_load_addr, v->vm_exit_msr_load_count))
		return bad;

	/* 27.2.1.3: VM-entry controls, event injection, MSR-load list. */
	if (!vmx_ctls_allowed(cap(MSR_IA32_VMX_TRUE_ENTRY_CTLS), entry_ctls))
		return bad;
	if (!injection_ok(v, proc2))
		return bad;
	if (!msr_list_ok(x, v->vm_entry_msr_load_addr, v->vm_entry_msr_load_count))
		return bad;
	return 0;
}

/* SDM vol. 3C 27.2.2 (host control registers and MSRs), 27.2.3 (segments), 27.2.4 (size). */
int vmx_check_host_state(const struct vmx_vcpu *x)
{
	const struct vmcs *v = x->vmcs;
	u32 exit_ctls = (u32)v->vm_exit_controls;
	bool host64 = exit_ctls & EXIT_CTL_HOST_ADDR_SPACE_SIZE;
	const int bad = VMXERR_ENTRY_INVALID_HOST_STATE;
	const u64 sels[] = { v->host_es_selector, v->host_cs_selector, v->host_ss_selector,
			     v->host_ds_selector, v->host_fs_selector, v->host_gs_selector,
			     v->host_tr_selector };

	/* 27.2.2: CR0/CR4 fixed bits (A.7, A.8), CR3 within the width, SYSENTER canonical. */
	if ((v->host_cr0 & cap(MSR_IA32_VMX_CR0_FIXED0)) != cap(MSR_IA32_VMX_CR0_FIXED0) ||
	    (v->host_cr0 & ~cap(MSR_IA32_VMX_CR0_FIXED1) & 0xffffffffull))
		return bad;
	if ((v->host_cr4 & cap(MSR_IA32_VMX_CR4_FIXED0)) != cap(MSR_IA32_VMX_CR4_FIXED0) ||
	    (v->host_cr4 & ~cap(MSR_IA32_VMX_CR4_FIXED1)))
		return bad;
	if (!phys_ok(v->host_cr3))
		return bad;
	if (!canonical(v->host_ia32_sysenter_esp) || !canonical(v->host_ia32_sysenter_eip))
		return bad;
	if ((exit_ctls & EXIT_CTL_LOAD_PAT) && !x86_pat_valid(v->host_ia32_pat))
		return bad;
	if (exit_ctls & EXIT_CTL_LOAD_EFER) {
		u64 efer = v->host_ia32_efer;

		if ((efer & ~EFER_VALID) || !!(efer & EFER_LMA) != host64 ||
		    !!(efer & EFER_LME) != host64)
			return bad;
	}

	/* 27.2.3: selectors RPL and TI 0; CS and TR not null; SS not null in a 32-bit host. */
	for (size_t i = 0; i < ARRAY_SIZE(sels); i++)
		if (sels[i] & 7)
			return bad;
	if (!v->host_cs_selector || !v->host_tr_selector)
		return bad;
	if (!host64 && !v->host_ss_selector)
		return bad;
	if (!canonical(v->host_fs_base) || !canonical(v->host_gs_base) ||
	    !canonical(v->host_gdtr_base) || !canonical(v->host_idtr_base) ||
	    !canonical(v->host_tr_base))
		return bad;

	/*
	 * 27.2.4: the host (this VMM) runs in IA-32e mode, so "host address-space size" must be 1,
	 * with CR4.PAE = 1 and a canonical RIP.
	 */
	if (!host64)
		return bad;
	if (!(v->host_cr4 & CR4_PAE) || !canonical(v->host_rip))
		return bad;
	return 0;
}

/* Limit and G consistent (SDM vol. 3C 27.3.1.2): G = 0 if limit 11:0 is not all ones, G = 1 if
   any of limit 31:20 is 1. */
static bool limit_g_ok(u32 limit, u32 ar)
{
	if ((limit & 0xfff) != 0xfff && (ar & AR_G))
		return false;
	if ((limit & 0xfff00000u) && !(ar & AR_G))
		return false;
	return true;
}

/* Access-rights bits 11:8 and 31:17 reserved (SDM vol. 3C 27.3.1.2). */
#define AR_RESERVED 0xfffe0f00u

struct guest_seg {
	u64 base;
	u32 limit, ar;
	u16 sel;
};

static struct guest_seg guest_seg(const struct vmcs *v, int i)
{
	const u64 *sel = &v->guest_es_selector, *base = &v->guest_es_base;
	const u64 *limit = &v->guest_es_limit, *ar = &v->guest_es_ar_bytes;

	return (struct guest_seg){ base[i], (u32)limit[i], (u32)ar[i], (u16)sel[i] };
}

/* The segment-register checks of SDM vol. 3C 27.3.1.2. */
static bool guest_segs_ok(const struct vmcs *v, u32 proc2, bool ia32e)
{
	bool ug = proc2 & PROC2_UNRESTRICTED_GUEST, v86 = v->guest_rflags & X86_VM;
	struct guest_seg s[8];

	for (int i = 0; i < 8; i++)
		s[i] = guest_seg(v, i);
	/* Selectors: TR.TI = 0; LDTR.TI = 0 if usable; SS.RPL = CS.RPL unless v86 or UG. */
	if (s[SEG_TR].sel & 4)
		return false;
	if (!(s[SEG_LDTR].ar & AR_UNUSABLE) && (s[SEG_LDTR].sel & 4))
		return false;
	if (!v86 && !ug && (s[SEG_SS].sel & 3) != (s[SEG_CS].sel & 3))
		return false;
	/* Bases: TR, FS, GS canonical; LDTR if usable; CS 63:32 zero; SS, DS, ES if usable. */
	if (!canonical(s[SEG_TR].base) || !canonical(s[SEG_FS].base) ||
	    !canonical(s[SEG_GS].base))
		return false;
	if (!(s[SEG_LDTR].ar & AR_UNUSABLE) && !canonical(s[SEG_LDTR].base))
		return false;
	if (s[SEG_CS].base >> 32)
		return false;
	for (int i = SEG_ES; i <= SEG_DS; i++)
		if (i != SEG_CS && !(s[i].ar & AR_UNUSABLE) && (s[i].base >> 32))
			return false;

	if (v86) {
		/* Virtual-8086 guest: base = selector * 16, limit 0xffff, AR 0xf3, CS..GS. */
		for (int i = SEG_ES; i <= SEG_GS; i++)
			if (s[i].base != (u64)s[i].sel << 4 || s[i].limit != 0xffff ||
			    s[i].ar != 0xf3)
				return false;
	} else {
		u32 cs = s[SEG_CS].ar, ss = s[SEG_SS].ar, cst = AR_TYPE(cs);

		/* CS: type 9, 11, 13, 15 (accessed code), or 3 with UG; S, P; DPL rules. */
		if (!(cst == 9 || cst == 11 || cst == 13 || cst == 15 || (ug && cst == 3)))
			return false;
		if (!(cs & AR_S) || !(cs & AR_P) || (cs & AR_RESERVED) || (cs & AR_UNUSABLE))
			return false;
		if (cst == 3 && AR_DPL(cs) != 0)
			return false;
		if ((cst == 9 || cst == 11) && AR_DPL(cs) != AR_DPL(ss))
			return false;
		if ((cst == 13 || cst == 15) && AR_DPL(cs) > AR_DPL(ss))
			return false;
		if (ia32e && (cs & AR_L) && (cs & AR_DB))
			return false;
		if (!limit_g_ok(s[SEG_CS].limit, cs))
			return false;
		/* SS: type 3 or 7 if usable; DPL = RPL without UG; DPL 0 if CS type 3 or PE 0. */
		if (!ug && AR_DPL(ss) != (s[SEG_SS].sel & 3u))
			return false;
		if ((cst == 3 || !(v->guest_cr0 & CR0_PE)) && AR_DPL(ss) != 0)
			return false;
		/* DS, ES, FS, GS, SS if usable: accessed, readable code, S, P, reserved, DPL. */
		for (int i = SEG_ES; i <= SEG_GS; i++) {
			u32 ar = s[i].ar, t = AR_TYPE(ar);

			if (i == SEG_CS || (ar & AR_UNUSABLE))
				continue;
			if (i == SEG_SS) {
				if (t != 3 && t != 7)
					return false;
			} else {
				if (!(t & 1) || ((t & 8) && !(t & 2)))
					return false;
				if (!ug && t <= 11 && AR_DPL(ar) < (s[i].sel & 3u))
					return false;
			}
			if (!(ar & AR_S) || !(ar & AR_P) || (ar & AR_RESERVED))
				return false;
			if (!limit_g_ok(s[i].limit, ar))
				return false;
		}
	}

	/* TR: busy 64-bit TSS in IA-32e mode, busy 16/32-bit TSS otherwise; S 0, P 1, usable. */
	{
		u32 ar = s[SEG_TR].ar, t = AR_TYPE(ar);

		if (ia32e ? t != 11 : (t != 3 && t != 11))
			return false;
		if ((ar & AR_S) || !(ar & AR_P) || (ar & AR_RESERVED) || (ar & AR_UNUSABLE))
			return false;
		if (!limit_g_ok(s[SEG_TR].limit, ar))
			return false;
	}
	/* LDTR if usable: type 2, S 0, P 1, reserved 0, limit and G. */
	if (!(s[SEG_LDTR].ar & AR_UNUSABLE)) {
		u32 ar = s[SEG_LDTR].ar;

		if (AR_TYPE(ar) != 2 || (ar & AR_S) || !(ar & AR_P) || (ar & AR_RESERVED))
			return false;
		if (!limit_g_ok(s[SEG_LDTR].limit, ar))
			return false;
	}
	return true;
}

/* PDPTE reserved bits (SDM vol. 3A 4.4.1): 2:1, 8:5 and those beyond MAXPHYADDR. */
static bool pdpte_ok(u64 e)
{
	return !(e & 1) || !(e & (0x1e6ull | ~((1ull << CPU_MAXPHYADDR) - 1)));
}

/*
 * SDM vol. 3C 27.3.1: the guest-state area. 0, or EXIT_REASON_INVALID_STATE with *qual = 0
 * (27.3.1.1-27.3.1.5), 2 (PDPTEs, 27.3.1.6) or 4 (VMCS link pointer, 27.3.1.5).
 */
/*
 * 27.3.1.4: RIP. With IA-32e mode and CS.L, bits 63:N of RIP must be identical for N
 * linear-address bits: weaker than canonical (bit N-1 is not compared), so RIP may lie just past
 * the canonical range (a VMM advanced it past an instruction at the end); the guest's fetch there
 * raises #GP (SDM vol. 1 3.3.7.1). Otherwise bits 63:32 are 0.
 */
static bool rip_fits(u64 rip, bool code64)
{
	if (code64) {
		s64 top = (s64)rip >> CPU_LINEAR_BITS;

		return top == 0 || top == -1;
	}
	return !(rip >> 32);
}

static bool guest_rip_ok(const struct vmcs *v)
{
	return rip_fits(v->guest_rip, (v->vm_entry_controls & ENTRY_CTL_IA32E_MODE_GUEST) &&
					      (v->guest_cs_ar_bytes & AR_L));
}

/* guest_rip_ok of the guest-state area as the exit would have saved it: CS and the IA-32e
   mode guest control come from the CPU while a lazy exit left them unsaved (vmx.h). */
static always_inline bool exit_rip_ok(const struct vmx_vcpu *x)
{
	if (!(x->unsaved & VMX_UNSAVED_REST))
		return guest_rip_ok(x->vmcs);
	return rip_fits(x->vmcs->guest_rip, cpu_code64(x->cpu));
}

int vmx_check_guest_state(const struct vmx_vcpu *x, u64 *qual)
{
	const struct vmcs *v = x->vmcs;
	u32 proc2 = proc2_of(v), entry_ctls = (u32)v->vm_entry_controls;
	bool ug = proc2 & PROC2_UNRESTRICTED_GUEST, ia32e = entry_ctls & ENTRY_CTL_IA32E_MODE_GUEST;
	u64 cr0 = v->guest_cr0, cr4 = v->guest_cr4, rflags = v->guest_rflags;
	u64 fixed0 = cap(MSR_IA32_VMX_CR0_FIXED0);
	u32 info = (u32)v->vm_entry_intr_info_field, intr = (u32)v->guest_interruptibility_info;
	u32 itype = INTR_INFO_TYPE(info), ivec = INTR_INFO_VECTOR(info);
	bool inject = info & INTR_INFO_VALID;
	u64 pend = v->guest_pending_dbg_exceptions;
	const int fail = EXIT_REASON_INVALID_STATE;

	*qual = 0;
	/* 27.3.1.1: CR0 and CR4 fixed bits; unrestricted guest relaxes CR0.PE and CR0.PG. */
	if (ug)
		fixed0 &= ~(CR0_PE | CR0_PG);
	if ((cr0 & fixed0) != fixed0 || (cr0 & ~cap(MSR_IA32_VMX_CR0_FIXED1) & 0xffffffffull) ||
	    (cr0 >> 32))
		return fail;
	if ((cr0 & CR0_PG) && !(cr0 & CR0_PE))
		return fail;
	if ((cr4 & cap(MSR_IA32_VMX_CR4_FIXED0)) != cap(MSR_IA32_VMX_CR4_FIXED0) ||
	    (cr4 & ~cap(MSR_IA32_VMX_CR4_FIXED1)))
		return fail;
	if ((entry_ctls & ENTRY_CTL_LOAD_DEBUG_CONTROLS) &&
	    ((v->guest_ia32_debugctl & ~DEBUGCTL_VALID) || (v->guest_dr7 >> 32)))
		return fail;
	if (ia32e && (!(cr0 & CR0_PG) || !(cr4 & CR4_PAE)))
		return fail;
	if (!ia32e && (cr4 & CR4_PCIDE))
		return fail;
	if (!phys_ok(v->guest_cr3))
		return fail;
	if (!canonical(v->guest_sysenter_esp) || !canonical(v->guest_sysenter_eip))
		return fail;
	if ((entry_ctls & ENTRY_CTL_LOAD_PAT) && !x86_pat_valid(v->guest_ia32_pat))
		return fail;
	if (entry_ctls & ENTRY_CTL_LOAD_EFER) {
		u64 efer = v->guest_ia32_efer;

		if ((efer & ~EFER_VALID) || !!(efer & EFER_LMA) != ia32e)
			return fail;
		if ((cr0 & CR0_PG) && !!(efer & EFER_LMA) != !!(efer & EFER_LME))
			return fail;
	}

	/* 27.3.1.2: segment registers. */
	if (!guest_segs_ok(v, proc2, ia32e))
		return fail;

	/* 27.3.1.3: GDTR and IDTR bases canonical, limits 16 bits. */
	if (!canonical(v->guest_gdtr_base) || !canonical(v->guest_idtr_base) ||
	    (v->guest_gdtr_limit >> 16) || (v->guest_idtr_limit >> 16))
		return fail;

	if (!guest_rip_ok(v))
		return fail;
	if ((rflags & (~0x3fffffull | BIT(15) | BIT(5) | BIT(3))) || !(rflags & X86_FIXED1))
		return fail;
	if ((rflags & X86_VM) && (ia32e || !(cr0 & CR0_PE)))
		return fail;
	if (inject && itype == INTR_TYPE_EXT_INTR && !(rflags & X86_IF))
		return fail;

	/* 27.3.1.5: activity state (IA32_VMX_MISC reports HLT only). */
	if (v->guest_activity_state != GUEST_ACTIVITY_ACTIVE &&
	    v->guest_activity_state != GUEST_ACTIVITY_HLT)
		return fail;
	if (v->guest_activity_state == GUEST_ACTIVITY_HLT) {
		if (AR_DPL(v->guest_ss_ar_bytes) != 0)
			return fail;
		if (intr & (GUEST_INTR_STATE_STI | GUEST_INTR_STATE_MOV_SS))
			return fail;
		/* Injectable from HLT: external interrupts, NMIs, #DB, #MC, pending MTF. */
		if (inject && !(itype == INTR_TYPE_EXT_INTR || itype == INTR_TYPE_NMI ||
				(itype == INTR_TYPE_HARD_EXCEPTION &&
				 (ivec == X86_DB || ivec == X86_MC)) ||
				(itype == INTR_TYPE_OTHER_EVENT && ivec == 0)))
			return fail;
	}
	/* Interruptibility state: reserved bits 31:4 (no SGX), STI and MOV SS not both, STI needs
	   IF, no SMI blocking outside SMM, event-injection constraints. */
	if (intr & ~0xfu)
		return fail;
	if ((intr & GUEST_INTR_STATE_STI) && (intr & GUEST_INTR_STATE_MOV_SS))
		return fail;
	if ((intr & GUEST_INTR_STATE_STI) && !(rflags & X86_IF))
		return fail;
	if (intr & GUEST_INTR_STATE_SMI)
		return fail;
	if (inject && itype == INTR_TYPE_EXT_INTR &&
	    (intr & (GUEST_INTR_STATE_STI | GUEST_INTR_STATE_MOV_SS)))
		return fail;
	if (inject && itype == INTR_TYPE_NMI && (intr & GUEST_INTR_STATE_MOV_SS))
		return fail;
	if (inject && itype == INTR_TYPE_NMI && (v->pin_based_vm_exec_control & PIN_VIRTUAL_NMIS) &&
	    (intr & GUEST_INTR_STATE_NMI))
		return fail;
	/* Pending debug exceptions: bits 11:4, 13, 15 and 63:17 reserved (no RTM); BS consistent
	   with RFLAGS.TF and DEBUGCTL.BTF while blocked by STI/MOV SS or in HLT. */
	if (pend & (0xff0ull | BIT(13) | BIT(15) | ~0x1ffffull))
		return fail;
	if ((intr & (GUEST_INTR_STATE_STI | GUEST_INTR_STATE_MOV_SS)) ||
	    v->guest_activity_state == GUEST_ACTIVITY_HLT) {
		bool tf = rflags & X86_TF, btf = v->guest_ia32_debugctl & BIT(1);
		bool bs = pend & BIT(14);

		if (tf && !btf && !bs)
			return fail;
		if ((!tf || btf) && bs)
			return fail;
	}
	/* 27.3.1.5 VMCS link pointer: all ones, or a 4-KiB aligned region within the width whose
	   first 32 bits are the revision identifier, bit 31 (shadow-VMCS indicator) as the VMCS
	   shadowing control. */
	if (v->vmcs_link_pointer != ~0ull) {
		const u8 *p = page_ok(v->vmcs_link_pointer)
				      ? x->host_ptr(x->opaque, v->vmcs_link_pointer, VMCS_REGION_SIZE)
				      : NULL;
		u32 rev = 0;

		if (p)
			memcpy(&rev, p, 4);
		if (!p || (rev & 0x7fffffffu) != VMCS_REVISION_ID ||
		    !(rev >> 31) != !(proc2 & PROC2_VMCS_SHADOWING)) {
			*qual = 4;
			return fail;
		}
	}

	/* 27.3.1.6: PDPTEs for PAE paging outside IA-32e mode: the VMCS fields with EPT, else the
	   table at CR3 in guest memory (HPA = GPA without EPT). */
	if ((cr0 & CR0_PG) && (cr4 & CR4_PAE) && !ia32e) {
		u64 pdpte[4];

		if (proc2 & PROC2_ENABLE_EPT) {
			pdpte[0] = v->guest_pdptr0;
			pdpte[1] = v->guest_pdptr1;
			pdpte[2] = v->guest_pdptr2;
			pdpte[3] = v->guest_pdptr3;
		} else {
			const u8 *p = x->host_ptr(x->opaque, v->guest_cr3 & 0xffffffe0ull, 32);

			if (!p) {
				*qual = 2;
				return fail;
			}
			memcpy(pdpte, p, sizeof(pdpte));
		}
		for (int i = 0; i < 4; i++)
			if (!pdpte_ok(pdpte[i])) {
				*qual = 2;
				return fail;
			}
	}
	return 0;
}

bool vmx_msr_entry_loadable(const struct vmx_msr_entry *e)
{
	if (e->reserved)
		return false;
	if ((e->index >> 8) == 0x8) /* x2APIC MSRs */
		return false;
	switch (e->index) {
	case MSR_IA32_FS_BASE:
	case MSR_IA32_GS_BASE:
	case 0x9b: /* IA32_SMM_MONITOR_CTL */
	case 0x79: /* IA32_BIOS_UPDT_TRIG */
	case 0x8b: /* IA32_BIOS_SIGN_ID */
		return false;
	}
	return true;
}

/* SDM vol. 3C 27.4: 0, or the failing entry's number (index + 1). */
static u32 load_msr_list(struct vmx_vcpu *x)
{
	const struct vmcs *v = x->vmcs;
	u32 n = (u32)v->vm_entry_msr_load_count;
	const u8 *list;

	if (!n)
		return 0;
	if (n > VMX_MSR_LIST_MAX)
		return VMX_MSR_LIST_MAX + 1;
	list = x->host_ptr(x->opaque, v->vm_entry_msr_load_addr, (u64)n * 16);
	for (u32 i = 0; i < n; i++) {
		struct vmx_msr_entry e;

		memcpy(&e, list + i * 16, sizeof(e));
		if (!vmx_msr_entry_loadable(&e) || cpu_set_msr(x->cpu, e.index, e.data))
			return i + 1;
	}
	return 0;
}

/* An MSR of the guest-state area, written only when it differs (a write costs a setjmp). */
static void load_msr(struct cpu *c, u32 index, u64 value)
{
	u64 cur;

	if (cpu_get_msr(c, index, &cur) || cur != value)
		cpu_set_msr(c, index, value);
}

/*
 * SDM vol. 3C 27.3.2: load the guest-state area into the CPU. Registers the VMCS does not hold
 * (GPRs other than RSP, CR2, CR8, the other MSRs) keep their values, as on hardware.
 */
static void load_guest_state(struct vmx_vcpu *x)
{
	const struct vmcs *v = x->vmcs;
	struct cpu *c = x->cpu;
	u32 entry_ctls = (u32)v->vm_entry_controls;
	struct x86_sregs s, cur;
	struct x86_regs r;
	struct cpu_vmx_state st;

	cpu_get_sregs(c, &cur);
	s = cur;
	for (int i = 0; i < 8; i++) {
		struct guest_seg g = guest_seg(v, i);

		s.seg[i] = (struct x86_segment){ .base = g.base, .limit = g.limit, .sel = g.sel,
						 .ar = g.ar };
	}
	s.gdt = (struct x86_dtable){ v->guest_gdtr_base, (u16)v->guest_gdtr_limit };
	s.idt = (struct x86_dtable){ v->guest_idtr_base, (u16)v->guest_idtr_limit };
	s.cr0 = v->guest_cr0;
	s.cr3 = v->guest_cr3;
	s.cr4 = v->guest_cr4;
	/* 27.3.2.1: EFER from the VMCS, or LMA and LME from "IA-32e mode guest". */
	if (entry_ctls & ENTRY_CTL_LOAD_EFER) {
		s.efer = v->guest_ia32_efer;
	} else {
		s.efer &= ~(EFER_LMA | EFER_LME);
		if (entry_ctls & ENTRY_CTL_IA32E_MODE_GUEST)
			s.efer |= EFER_LMA | EFER_LME;
	}
	/* Reloading segment caches and paging flushes the soft TLB: only when something changed. */
	if (memcmp(s.seg, cur.seg, sizeof(s.seg)) || s.gdt.base != cur.gdt.base ||
	    s.gdt.limit != cur.gdt.limit || s.idt.base != cur.idt.base ||
	    s.idt.limit != cur.idt.limit || s.cr0 != cur.cr0 || s.cr3 != cur.cr3 ||
	    s.cr4 != cur.cr4 || s.efer != cur.efer)
		cpu_set_sregs(c, &s);
	vmx_segs_saw(x, &s);

	cpu_get_regs(c, &r);
	r.gpr[R_RSP] = v->guest_rsp;
	r.rip = v->guest_rip;
	r.rflags = v->guest_rflags;
	cpu_set_regs(c, &r);

	load_msr(c, MSR_IA32_SYSENTER_CS, (u32)v->guest_sysenter_cs);
	load_msr(c, MSR_IA32_SYSENTER_ESP, v->guest_sysenter_esp);
	load_msr(c, MSR_IA32_SYSENTER_EIP, v->guest_sysenter_eip);
	if (entry_ctls & ENTRY_CTL_LOAD_PAT)
		load_msr(c, MSR_IA32_PAT, v->guest_ia32_pat);

	cpu_get_vmx_state(c, &st);
	if (entry_ctls & ENTRY_CTL_LOAD_DEBUG_CONTROLS) {
		st.dr7 = v->guest_dr7;
		st.debugctl = v->guest_ia32_debugctl;
	}
	st.interruptibility = (u32)v->guest_interruptibility_info;
	st.activity = (u32)v->guest_activity_state;
	st.pending_dbg = v->guest_pending_dbg_exceptions;
	st.pml_index = (u16)v->guest_pml_index;
	st.intr_status = (u16)v->guest_intr_status;
	if (proc2_of(v) & PROC2_ENABLE_EPT) {
		st.pdpte[0] = v->guest_pdptr0;
		st.pdpte[1] = v->guest_pdptr1;
		st.pdpte[2] = v->guest_pdptr2;
		st.pdpte[3] = v->guest_pdptr3;
	}
	cpu_set_vmx_state(c, &st);
}

/* The controls as the CPU holds them, bitmaps resolved to host pointers (checked before). */
static void load_controls(struct vmx_vcpu *x)
{
	const struct vmcs *v = x->vmcs;
	u32 proc = (u32)v->cpu_based_vm_exec_control;
	struct vmx_controls ctl = {
		.pin = (u32)v->pin_based_vm_exec_control,
		.proc = proc,
		.proc2 = proc2_of(v),
		.exit_ctls = (u32)v->vm_exit_controls,
		.entry_ctls = (u32)v->vm_entry_controls,
		.exception_bitmap = (u32)v->exception_bitmap,
		.pf_ec_mask = (u32)v->page_fault_error_code_mask,
		.pf_ec_match = (u32)v->page_fault_error_code_match,
		.cr0_guest_host_mask = v->cr0_guest_host_mask,
		.cr0_read_shadow = v->cr0_read_shadow,
		.cr4_guest_host_mask = v->cr4_guest_host_mask,
		.cr4_read_shadow = v->cr4_read_shadow,
		.cr3_target_count = (u32)v->cr3_target_count,
		.cr3_target = { v->cr3_target_value0, v->cr3_target_value1, v->cr3_target_value2,
				v->cr3_target_value3 },
		.tsc_offset = v->tsc_offset,
		.tsc_multiplier = v->tsc_multiplier,
		.tpr_threshold = (u32)v->tpr_threshold,
		.eptp = v->ept_pointer,
		.eptp_outer = v->eptp_outer,
		.vpid = (u16)v->virtual_processor_id,
		.pml_address = v->pml_address,
		.ple_gap = (u32)v->ple_gap,
		.ple_window = (u32)v->ple_window,
	};

	if (proc & PROC_USE_IO_BITMAPS) {
		ctl.io_bitmap_a = x->host_ptr(x->opaque, v->io_bitmap_a, 4096);
		ctl.io_bitmap_b = x->host_ptr(x->opaque, v->io_bitmap_b, 4096);
	}
	if (proc & PROC_USE_MSR_BITMAPS)
		ctl.msr_bitmap = x->host_ptr(x->opaque, v->msr_bitmap, 4096);
	if (proc & PROC_TPR_SHADOW)
		ctl.virtual_apic = x->host_ptr(x->opaque, v->virtual_apic_page_addr, 4096);
	if (ctl.proc2 & PROC2_VIRT_APIC_ACCESSES)
		ctl.apic_access_addr = v->apic_access_addr;
	if (ctl.pin & PIN_POSTED_INTERRUPTS) {
		ctl.pi_desc = (u64 *)x->host_ptr(x->opaque, v->posted_intr_desc_addr, 64);
		ctl.pi_nv = (u8)v->posted_intr_nv;
	}
	/* VMCS shadowing (25.10): the shadow VMCS is the region at the link pointer. */
	if ((ctl.proc2 & PROC2_VMCS_SHADOWING) && v->vmcs_link_pointer != ~0ull) {
		ctl.shadow_vmcs = x->host_ptr(x->opaque, v->vmcs_link_pointer, VMCS_REGION_SIZE);
		ctl.vmread_bitmap = x->host_ptr(x->opaque, v->vmread_bitmap, 4096);
		ctl.vmwrite_bitmap = x->host_ptr(x->opaque, v->vmwrite_bitmap, 4096);
		ctl.shadow_access = vmcs_region_access;
	}
	if (ctl.proc2 & PROC2_VIRT_INTR_DELIVERY) {
		ctl.eoi_exit[0] = v->eoi_exit_bitmap0;
		ctl.eoi_exit[1] = v->eoi_exit_bitmap1;
		ctl.eoi_exit[2] = v->eoi_exit_bitmap2;
		ctl.eoi_exit[3] = v->eoi_exit_bitmap3;
	}
	cpu_set_controls(x->cpu, &ctl);
}

/* A VM-entry failure after the checks of 27.2 (SDM vol. 3C 27.8). */
static void entry_failure(struct vmx_vcpu *x, u32 reason, u64 qual, struct vm_exit *exit)
{
	struct vmcs *v = x->vmcs;

	memset(exit, 0, sizeof(*exit));
	exit->reason = reason | EXIT_REASON_FAILED_VMENTRY;
	exit->qual = qual;
	exit->rip = v->guest_rip;
	v->vm_exit_reason = exit->reason;
	v->exit_qualification = qual;
	v->vm_exit_intr_info = 0;
	/* Valid bit of the VM-entry interruption-information field cleared (27.8). */
	v->vm_entry_intr_info_field &= ~(u64)INTR_INFO_VALID;
}

static int fail_valid(struct vmcs *v, int err)
{
	v->vm_instruction_error = (u32)err;
	return err;
}

/*
 * The CPU's exit hook (cpu_set_exit_hook): an instruction's exit handled by the owner inside
 * cpu_run (vmx.h fast_exit). The exit sequence runs as vmx_run's would; then, when the owner
 * resumes, the part of vmx_run's entry that an entry loading nothing does: the rules that can
 * fail on what changed are the controls (none changed), RIP's (27.3.1.4, when the VMM moved it)
 * and the TPR threshold against the virtual-APIC page (vtpr_ok); anything else leaves for
 * vmx_run, which checks and loads what changed.
 */
static bool vmx_exit_hook(void *opaque)
{
	struct vmx_vcpu *x = opaque;
	struct vmcs *v = x->vmcs;
	int r;

	if (!x->lazy_save || v->vm_exit_msr_store_count || v->vm_exit_msr_load_count ||
	    v->vm_entry_msr_load_count)
		return false;
	vmx_exit_sequence(x, x->run_exit);
	x->exit_done = true;
	r = x->fast_exit(x->fast_opaque, x->run_exit);
	if (r == VMX_FAST_NO)
		return false;
	x->exit_handled = true;
	if (r != VMX_FAST_RESUME || !v->ctls_checked ||
	    (v->guest_dirty & (VMCS_DIRTY_STATE | VMCS_DIRTY_INTR)) ||
	    (v->vm_entry_intr_info_field & INTR_INFO_VALID) ||
	    (v->pin_based_vm_exec_control & PIN_PREEMPTION_TIMER) || v->vm_entry_msr_load_count ||
	    ((v->guest_dirty & VMCS_DIRTY_RIP) && !exit_rip_ok(x)) || !vtpr_ok(x))
		return false;
	if (v->guest_dirty & VMCS_DIRTY_RIP)
		cpu_set_rip(x->cpu, v->guest_rip);
	v->guest_dirty = 0;
	x->exit_done = x->exit_handled = false;
	return true;
}

int vmx_run(struct vmx_vcpu *x, bool resume, struct vm_exit *exit)
{
	struct vmcs *v = x->vmcs;
	u32 info;
	bool ctls_changed, full;
	u32 bad_msr;
	u64 qual;
	int err;

	/* SDM vol. 3C 31.3 VMLAUNCH/VMRESUME: launch state first. */
	if (!resume && v->launched)
		return fail_valid(v, VMXERR_VMLAUNCH_NONCLEAR);
	if (resume && !v->launched)
		return fail_valid(v, VMXERR_VMRESUME_NONLAUNCHED);
	/* A lazy exit's deferred save (vmx.h lazy_save) completes before anything below reads
	   or reloads the guest-state area: the checks, the full load, an MSR-load list that
	   changes the CPU's MSRs. An entry that does none of them runs on the CPU as it is. */
	if (x->unsaved && (!v->ctls_checked || (v->guest_dirty & VMCS_DIRTY_STATE) || !v->launched ||
			   (v->vm_entry_intr_info_field & INTR_INFO_VALID) || v->vm_entry_msr_load_count))
		vmx_guest_sync_slow(x);
	/*
	 * The checks run on what may have changed since the last entry that passed them: the
	 * controls and host state after any VMWRITE to them; the guest state after a write to it,
	 * a change of the controls it is checked against, or with an event to inject. A guest state
	 * the VM exit saved from the CPU is one the checks accept. The TPR-threshold check reads
	 * the virtual-APIC page, which changes without VMWRITEs, so it runs at every entry.
	 */
	ctls_changed = !v->ctls_checked;
	if (ctls_changed) {
		err = vmx_check_controls(x);
		if (!err)
			err = vmx_check_host_state(x);
		if (err)
			return fail_valid(v, err);
	} else if (!vtpr_ok(x)) {
		/* The one control check whose outcome can change without a VMWRITE: the other
		   checks passed on the same fields, so this fails exactly as they would. */
		return fail_valid(v, VMXERR_ENTRY_INVALID_CONTROL);
	}
	full = (v->guest_dirty & VMCS_DIRTY_STATE) || ctls_changed || !v->launched ||
	       (v->vm_entry_intr_info_field & INTR_INFO_VALID);
	if (full) {
		err = vmx_check_guest_state(x, &qual);
	} else if ((v->guest_dirty & VMCS_DIRTY_RIP) && !exit_rip_ok(x)) {
		/* Only RIP changed since the exit saved a state the checks accept: only RIP's rule
		   can fail now, with the same outcome the full checks would give. */
		qual = 0;
		err = EXIT_REASON_INVALID_STATE;
	} else {
		err = 0;
	}
	if (err) {
		entry_failure(x, (u32)err, qual, exit);
		return 0;
	}
	v->ctls_checked = true;
	/* The CPU keeps the controls it was given until a VMWRITE changes one. They are in force
	   while the guest state loads: whether PDPTEs come from the VMCS or from CR3 is the new
	   controls' "enable EPT" (27.3.2.4). */
	if (ctls_changed || !v->launched)
		load_controls(x);
	/* 27.3.2: guest state, reloaded only when the VMM wrote it (or at VMLAUNCH). */
	if ((v->guest_dirty & VMCS_DIRTY_STATE) || !v->launched) {
		load_guest_state(x);
	} else {
		if (v->guest_dirty & VMCS_DIRTY_RIP)
			cpu_set_rip(x->cpu, v->guest_rip);
		if (v->guest_dirty & VMCS_DIRTY_INTR) {
			struct cpu_vmx_state st;

			cpu_get_vmx_state(x->cpu, &st);
			st.intr_status = (u16)v->guest_intr_status;
			cpu_set_vmx_state(x->cpu, &st);
		}
	}
	v->guest_dirty = 0;
	bad_msr = load_msr_list(x);
	if (bad_msr) {
		entry_failure(x, EXIT_REASON_MSR_LOAD_FAIL, bad_msr, exit);
		return 0;
	}
	/* 27.6: event injection; a pending MTF (type 7) has nothing to deliver here. An injected
	   event wakes a HLT guest (27.6.1: the activity state becomes active). The
	   preemption timer starts from the VMCS value at every entry (26.5.1). */
	info = (u32)v->vm_entry_intr_info_field;
	if ((info & INTR_INFO_VALID) || (v->pin_based_vm_exec_control & PIN_PREEMPTION_TIMER)) {
		struct cpu_vmx_state st;

		cpu_get_vmx_state(x->cpu, &st);
		if (v->pin_based_vm_exec_control & PIN_PREEMPTION_TIMER)
			st.preemption_timer = (u32)v->vmx_preemption_timer_value;
		if (info & INTR_INFO_VALID)
			st.activity = GUEST_ACTIVITY_ACTIVE;
		cpu_set_vmx_state(x->cpu, &st);
	}
	/* Type 7 vector 0 is a pending MTF VM exit (SDM 27.5.2); the CPU turns it into exit 37. */
	if (info & INTR_INFO_VALID)
		cpu_inject_event(x->cpu, (u8)INTR_INFO_VECTOR(info), (u8)INTR_INFO_TYPE(info),
				 info & INTR_INFO_DELIVER_CODE,
				 (u32)v->vm_entry_exception_error_code,
				 (u8)v->vm_entry_instruction_len);
	v->launched = true;
	x->run_exit = exit;
	cpu_set_exit_hook(x->cpu, x->fast_exit ? vmx_exit_hook : NULL, x);
	if (cpu_run(x->cpu, exit) == CPU_RUN_HALTED) {
		/* An event this entry injected was delivered: the valid bit goes, as the exit
		   that would follow on hardware clears it (28.2), so no entry repeats it. */
		v->vm_entry_intr_info_field &= ~(u64)INTR_INFO_VALID;
		vmx_save_guest_state(x);
		return VMX_RUN_HALTED;
	}
	if (x->exit_done) { /* vmx_exit_hook's, which did not resume */
		bool handled = x->exit_handled;

		x->exit_done = x->exit_handled = false;
		return handled ? VMX_RUN_HANDLED : 0;
	}
	vmx_exit_sequence(x, exit);
	return 0;
}
