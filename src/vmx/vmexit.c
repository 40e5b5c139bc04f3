// SPDX-License-Identifier: MIT
/*
 * The VM-exit sequence (Intel SDM vol. 3C chapter 28) after the software CPU stopped with an exit
 * record: exit-information fields (28.2), guest-state save (28.3), the MSR-store list (28.4),
 * the host-state load (28.5: the return to the VMM's C code) and the MSR-load list (28.6).
 * Guest-state fields are written directly, not through vmcs_write(), so the exit does not mark
 * the guest state dirty: the next entry reloads nothing the VMM did not touch.
 */
#include <string.h>

#include "cpu/cpu.h"
#include "arch/vmx.h"
#include "vmx/internal.h"

/* 28.2: the exit-information fields, from the CPU's record (it zeroes what a reason leaves). */
static void write_exit_info(struct vmcs *v, const struct vm_exit *e)
{
	v->vm_exit_reason = e->reason;
	v->exit_qualification = e->qual;
	v->guest_linear_address = e->guest_linear;
	v->guest_physical_address = e->guest_phys;
	v->vm_exit_instruction_len = e->insn_len;
	v->vmx_instruction_info = e->insn_info;
	v->vm_exit_intr_info = e->intr_info;
	v->vm_exit_intr_error_code = e->intr_error;
	v->idt_vectoring_info_field = e->idt_vectoring_info;
	v->idt_vectoring_error_code = e->idt_vectoring_error;
}

/*
 * 28.3: save the guest state but RIP, RSP, RFLAGS, interruptibility and activity (below):
 * control, debug and segment registers, the MSRs and the rest of the non-register state. A
 * lazy exit runs it at vmx_guest_sync(), on the CPU state the exit left (the CPU does not run
 * in between).
 */
static void save_guest_rest(struct vmx_vcpu *x)
{
	struct vmcs *v = x->vmcs;
	struct cpu *c = x->cpu;
	u32 exit_ctls = (u32)v->vm_exit_controls;
	struct x86_sregs s;
	struct cpu_vmx_state st;
	u64 *sel = &v->guest_es_selector, *base = &v->guest_es_base;
	u64 *limit = &v->guest_es_limit, *ar = &v->guest_es_ar_bytes;
	struct cpu_exit_msrs msrs;

	cpu_get_sregs(c, &s);
	cpu_get_vmx_state(c, &st);

	/* 28.3.1: control registers, debug registers, MSRs. */
	v->guest_cr0 = s.cr0;
	v->guest_cr3 = s.cr3;
	v->guest_cr4 = s.cr4;
	if (exit_ctls & EXIT_CTL_SAVE_DEBUG_CONTROLS) {
		v->guest_dr7 = st.dr7;
		v->guest_ia32_debugctl = st.debugctl;
	}
	cpu_get_exit_msrs(c, &msrs);
	v->guest_sysenter_cs = (u32)msrs.sysenter_cs;
	v->guest_sysenter_esp = msrs.sysenter_esp;
	v->guest_sysenter_eip = msrs.sysenter_eip;
	if (exit_ctls & EXIT_CTL_SAVE_PAT)
		v->guest_ia32_pat = msrs.pat;
	if (exit_ctls & EXIT_CTL_SAVE_EFER)
		v->guest_ia32_efer = s.efer;
	/* 28.2 / 28.3.1: "IA-32e mode guest" takes EFER.LMA (IA32_VMX_MISC bit 5). */
	if (s.efer & EFER_LMA)
		v->vm_entry_controls |= ENTRY_CTL_IA32E_MODE_GUEST;
	else
		v->vm_entry_controls &= ~(u64)ENTRY_CTL_IA32E_MODE_GUEST;

	/* 28.3.2: segment registers (the CPU keeps them in the VMCS format) and GDTR/IDTR;
	   skipped when the VMCS holds these values already (vmx.h `seen`). */
	if (!vmx_segs_seen(x, &s)) {
		for (int i = 0; i < 8; i++) {
			sel[i] = s.seg[i].sel;
			base[i] = s.seg[i].base;
			limit[i] = s.seg[i].limit;
			ar[i] = s.seg[i].ar;
		}
		v->guest_gdtr_base = s.gdt.base;
		v->guest_gdtr_limit = s.gdt.limit;
		v->guest_idtr_base = s.idt.base;
		v->guest_idtr_limit = s.idt.limit;
		vmx_segs_saw(x, &s);
	}

	/* 28.3.4: non-register state. */
	v->guest_pending_dbg_exceptions = st.pending_dbg;
	if (exit_ctls & EXIT_CTL_SAVE_PREEMPTION_TIMER)
		v->vmx_preemption_timer_value = st.preemption_timer;
	v->guest_pml_index = st.pml_index;
	/* RVI and SVI with virtual-interrupt delivery (28.3.4). */
	if ((v->cpu_based_vm_exec_control & PROC_SECONDARY_CONTROLS) &&
	    (v->secondary_vm_exec_control & PROC2_VIRT_INTR_DELIVERY))
		v->guest_intr_status = st.intr_status;
	/* PDPTEs with EPT and PAE paging outside IA-32e mode. */
	if ((v->cpu_based_vm_exec_control & PROC_SECONDARY_CONTROLS) &&
	    (v->secondary_vm_exec_control & PROC2_ENABLE_EPT) && (s.cr0 & CR0_PG) &&
	    (s.cr4 & CR4_PAE) && !(s.efer & EFER_LMA)) {
		v->guest_pdptr0 = st.pdpte[0];
		v->guest_pdptr1 = st.pdpte[1];
		v->guest_pdptr2 = st.pdpte[2];
		v->guest_pdptr3 = st.pdpte[3];
	}
}

/* 28.3.3 and 28.3.4 in part: RIP, RSP, interruptibility and activity state, which an exit
   handler may read whatever the exit (RIP to advance, the interrupt shadow it ends). */
static void save_guest_first(struct vmx_vcpu *x)
{
	struct vmcs *v = x->vmcs;
	u32 intr, activity;

	cpu_get_rip_rsp(x->cpu, &v->guest_rip, &v->guest_rsp);
	cpu_get_intr_activity(x->cpu, &intr, &activity);
	v->guest_interruptibility_info = intr;
	v->guest_activity_state = activity;
}

void vmx_save_guest_state(struct vmx_vcpu *x)
{
	save_guest_first(x);
	x->vmcs->guest_rflags = cpu_get_rflags(x->cpu);
	save_guest_rest(x);
	x->vmcs->guest_dirty = 0;
	x->unsaved = 0;
}

void vmx_guest_rflags_slow(struct vmx_vcpu *x)
{
	x->vmcs->guest_rflags = cpu_get_rflags(x->cpu);
	x->unsaved &= (u8)~VMX_UNSAVED_RFLAGS;
}

/* The deferred part of a lazy exit's save. Fields the VMM wrote since (RIP, and nothing of the
   deferred groups, which it may not touch before this) keep their values. */
void vmx_guest_sync_slow(struct vmx_vcpu *x)
{
	if (x->unsaved & VMX_UNSAVED_RFLAGS)
		vmx_guest_rflags_slow(x);
	if (x->unsaved & VMX_UNSAVED_REST)
		save_guest_rest(x);
	x->unsaved = 0;
}

/* 28.4: the VM-exit MSR-store list; false on a failure (a VMX abort, 28.7). */
static bool store_msr_list(struct vmx_vcpu *x)
{
	struct vmcs *v = x->vmcs;
	u32 n = (u32)v->vm_exit_msr_store_count;
	u8 *list;

	if (!n)
		return true;
	if (n > VMX_MSR_LIST_MAX)
		return false;
	list = x->host_ptr(x->opaque, v->vm_exit_msr_store_addr, (u64)n * 16);
	if (!list)
		return false;
	for (u32 i = 0; i < n; i++) {
		struct vmx_msr_entry e;

		memcpy(&e, list + i * 16, sizeof(e));
		/* Reserved bits, x2APIC MSRs and SMBASE (0x9e) cannot be stored. */
		if (e.reserved || (e.index >> 8) == 0x8 || e.index == 0x9e ||
		    cpu_get_msr(x->cpu, e.index, &e.data))
			return false;
		memcpy(list + i * 16 + 8, &e.data, 8);
	}
	return true;
}

/*
 * 28.6: the VM-exit MSR-load list loads host MSRs. The host is this VMM, which keeps no MSRs in
 * the CPU, so the entries are checked as the SDM checks them and not loaded anywhere.
 */
static bool check_host_msr_list(struct vmx_vcpu *x)
{
	struct vmcs *v = x->vmcs;
	u32 n = (u32)v->vm_exit_msr_load_count;
	const u8 *list;

	if (!n)
		return true;
	if (n > VMX_MSR_LIST_MAX)
		return false;
	list = x->host_ptr(x->opaque, v->vm_exit_msr_load_addr, (u64)n * 16);
	if (!list)
		return false;
	for (u32 i = 0; i < n; i++) {
		struct vmx_msr_entry e;

		memcpy(&e, list + i * 16, sizeof(e));
		if (!vmx_msr_entry_loadable(&e))
			return false;
	}
	return true;
}

void vmx_exit_sequence(struct vmx_vcpu *x, struct vm_exit *exit)
{
	struct vmcs *v = x->vmcs;

	write_exit_info(v, exit);
	/* 28.2 (and 27.8): every VM exit clears the valid bit of the VM-entry interruption info. */
	v->vm_entry_intr_info_field &= ~(u64)INTR_INFO_VALID;
	/* The save deferred (vmx.h lazy_save) unless something outside the VMM reads the saved
	   state at the exit: the preemption timer's value, reloaded at the next entry. An EPT
	   violation is saved whole at once: the VMM decodes the instruction behind it (segments,
	   CRs, RFLAGS), and deferring would only add the bookkeeping. */
	if (x->lazy_save && !(v->vm_exit_controls & EXIT_CTL_SAVE_PREEMPTION_TIMER) &&
	    exit->reason != EXIT_REASON_EPT_VIOLATION) {
		save_guest_first(x);
		v->guest_dirty = 0;
		x->unsaved = VMX_UNSAVED_RFLAGS | VMX_UNSAVED_REST;
	} else {
		vmx_save_guest_state(x);
	}
	if (!store_msr_list(x))
		v->abort_indicator = VMX_ABORT_SAVE_GUEST_MSR;
	else if (!check_host_msr_list(x))
		v->abort_indicator = VMX_ABORT_LOAD_HOST_MSR;
	if (x->exit_cycles)
		cpu_add_cycles(x->cpu, x->exit_cycles(exit));
}
