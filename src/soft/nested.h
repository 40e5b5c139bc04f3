/* SPDX-License-Identifier: MIT */
/*
 * Nested VMX on the soft backend (docs/vmx.md "Nested VMX"): the guest is a hypervisor (L1)
 * that runs its own guest (L2) with VT-x. tollbooth (L0) emulates L1's VMX instructions, keeps
 * the VMCS L1 made current (vmcs12), and runs L2 on the software CPU under a VMCS it merges from
 * vmcs12 and its own (vmcs02), as KVM does. Every L2 exit comes to L0 first; it is reflected to
 * L1 exactly when L1's controls ask for it (SDM vol. 3C 26.1-26.2), otherwise L0 handles it and
 * L2 resumes.
 */
#pragma once
#include "common.h"
#include "vmx/exit.h"

struct vcpu;
struct vm;

/* Counts for --stats: exits by level, and L1's VMX instructions. */
struct nested_stats {
	u64 l2_l0;     /* L2 exits L0 handled (L1's controls did not ask for them) */
	u64 l2_l1;     /* L2 exits reflected to L1 */
	u64 l1_l0;     /* exits of L1 after its VMXON (its VMX instructions among them) */
	u64 vmx_insns; /* L1's VMX instructions emulated */
	u64 entries;   /* VM entries into L2 (L1's VMLAUNCH/VMRESUME that got that far) */
	u64 posted;    /* L1's posted-interrupt notifications processed for L2 without an exit */
	/* Host ns L0 spent reflecting L2's exits to L1 (L1's VM exit, chapter 28), and emulating
	   L1's VMX instructions (entries into L2 included: the checks and vmcs02). */
	u64 reflect_ns, insn_ns;
};

/* A vCPU's nested state, when the policy has nested VMX on (vmm_nested()); 0 or -ENOMEM. */
int nested_create(struct vcpu *vcpu);
void nested_destroy(struct vcpu *vcpu);

/*
 * Every exit, before the VMM's handler: true when nested VMX took it (an L1 VMX instruction
 * emulated, an L1 read of a VMX capability MSR answered, an L2 exit reflected to L1 or finished
 * for L2), false when the VMM's handler does what it does for any guest.
 */
bool nested_exit(struct vcpu *vcpu, struct vm_exit *exit);

/* Is L2 running (the current VMCS is vmcs02)? */
bool nested_guest_mode(struct vcpu *vcpu);

/*
 * Interrupts and NMIs while L2 runs (SDM 26.2): with L1's external-interrupt exiting an
 * interrupt is an exit to L1, not an event for L2, whatever L2's RFLAGS.IF. These replace the
 * backend's interruptible / inject_interrupt / nmi_allowed / inject_nmi in guest mode;
 * before_entry() runs before each entry (it also keeps vmcs12's VM-entry MSR-load list to L1's own
 * VMLAUNCH/VMRESUME), for an interrupt L1 wants to take itself (no "acknowledge interrupt on
 * exit"): true when it left L2 for L1.
 */
bool nested_extint_exiting(struct vcpu *vcpu); /* L2 runs under L1's ext.-interrupt exiting */
bool nested_interruptible(struct vcpu *vcpu);
void nested_inject_interrupt(struct vcpu *vcpu, u8 vector);
bool nested_nmi_exiting(struct vcpu *vcpu); /* L2 runs under L1's NMI exiting */
void nested_inject_nmi(struct vcpu *vcpu);
bool nested_before_entry(struct vcpu *vcpu);
/*
 * An exception L0 raises for L2 (a fault of an instruction L0 completed for it): an exit to L1
 * when L1's exception bitmap asks for it, as the fault would have been on hardware (26.2), and
 * true; false: inject it into L2.
 */
bool nested_exception_exit(struct vcpu *vcpu, u8 vector, bool has_error, u32 error);
/* The CR0 and CR4 guest/host masks of vmcs12 (the bits L1 owns while L2 runs). */
void nested_l1_cr_masks(struct vcpu *vcpu, u64 *cr0_mask, u64 *cr4_mask);
/* The window L1 itself asked vmcs12 for (BACKEND_WINDOW_*): L0 closing its own keeps it. */
u32 nested_l1_proc(struct vcpu *vcpu);
/* An exit of L2 that L1's controls take (reflected by nested_exit): the VMM does none of its
   own work on it first, such as the memory side of string I/O, which is L1's to emulate. */
bool nested_exit_is_l1s(struct vcpu *vcpu, const struct vm_exit *e);
/* While L2 runs, the VMM's own VMCS for L1 (vmcs01, set aside); else NULL. */
const struct vmcs *nested_vmcs01(struct vcpu *vcpu);

void nested_stats_sum(struct vm *vm, struct nested_stats *out);
