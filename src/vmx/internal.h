/* SPDX-License-Identifier: MIT */
/* What vmx/entry.c and vmx/vmexit.c share; nothing outside vmx/ includes this. */
#pragma once
#include "vmx/vmx.h"

/* VMX-abort indicators (SDM vol. 3C 28.7) written to struct vmcs's abort_indicator. */
#define VMX_ABORT_SAVE_GUEST_MSR 1
#define VMX_ABORT_LOAD_HOST_MSR 4

/* The model's limit on MSR-list lengths: 512 * (IA32_VMX_MISC bits 27:25 + 1) (SDM A.6). */
#define VMX_MSR_LIST_MAX 512

/* One entry of a VM-entry/VM-exit MSR list (SDM vol. 3C 25.7.2, Table 25-14). */
struct vmx_msr_entry {
	u32 index;
	u32 reserved;
	u64 data;
};

/*
 * Validate one MSR-list entry for loading (SDM vol. 3C 27.4 and 28.6): reserved bits, x2APIC
 * range, FS/GS base, SMM monitor control, microcode MSRs. true when it may be loaded.
 */
bool vmx_msr_entry_loadable(const struct vmx_msr_entry *e);

/* The VM-exit sequence of SDM vol. 3C chapter 28 after cpu_run() filled *exit. */
void vmx_exit_sequence(struct vmx_vcpu *x, struct vm_exit *exit);
/* The guest-state save of that sequence alone (28.3), for a guest that stopped without an exit
   (VMX_RUN_HALTED); the guest state stays clean (nothing to reload at the next entry). */
void vmx_save_guest_state(struct vmx_vcpu *x);

/* vmx_vcpu.seen: whether the VMCS's segment and descriptor-table fields hold `s`'s values
   already, and the record that they now do (after VM entry loaded them or VM exit saved them). */
static inline bool vmx_segs_seen(const struct vmx_vcpu *x, const struct x86_sregs *s)
{
	if (x->seen.vmcs != x->vmcs || s->gdt.base != x->seen.gdt.base ||
	    s->gdt.limit != x->seen.gdt.limit || s->idt.base != x->seen.idt.base ||
	    s->idt.limit != x->seen.idt.limit)
		return false;
	/* The raw bytes, padding included: a segment rewritten with other padding is saved again
	   (as it was before this check), never skipped wrongly. */
	return !memcmp(s->seg, x->seen.seg, sizeof(s->seg));
}

static inline void vmx_segs_saw(struct vmx_vcpu *x, const struct x86_sregs *s)
{
	x->seen.vmcs = x->vmcs;
	memcpy(x->seen.seg, s->seg, sizeof(s->seg));
	x->seen.gdt = s->gdt;
	x->seen.idt = s->idt;
}
