/* SPDX-License-Identifier: MIT */
/* What the soft backend's files share (backend_soft.c, nested.c); nothing outside src/soft. */
#pragma once
#include "common.h"
#include "vmm/vm.h"
#include "vmx/vmx.h"

struct nested_vmx;

struct soft_vcpu {
	struct cpu *cpu;
	bool emulating; /* shadow paging: real mode runs under the emulation controls */
	u64 tsc_got;	/* IA32_TSC as the last soft_get_state read it */
	u64 deadline_ns, deadline_tsc; /* soft_set_deadline's last conversion */
	unsigned deadline_gen;	       /* stats_tsc_generation at that conversion */
	struct vmx_vcpu vmx;
	/* The current VMCS: the VMM's own (vmcs01), or while the guest hypervisor's guest runs
	   the one nested.c merged for it (vmcs02), vmcs01 then kept in `nested`. */
	struct vmcs vmcs;
	struct nested_vmx *nested; /* nested VMX (soft/nested.h); NULL when the policy has it off */
};

static inline struct soft_vcpu *soft(struct vcpu *vcpu)
{
	return vcpu->backend;
}

/*
 * The guest-state area brought up to date after a lazy VM exit (vmx.h lazy_save): first in
 * every backend operation that reads or writes the current VMCS's guest state beyond RIP, RSP,
 * RFLAGS, interruptibility and activity state, and before nested VMX switches VMCS. soft_run
 * lets exits defer the save only while no guest hypervisor's guest runs (L2 exits are read
 * by nested.c throughout) and without shadow paging.
 */
static inline void soft_sync(struct vcpu *vcpu)
{
	vmx_guest_sync(&soft(vcpu)->vmx);
}

/* backend_soft.c's register access through the current VMCS, for nested.c. */
void soft_get_regs(struct vcpu *vcpu, struct x86_regs *regs);
void soft_set_regs(struct vcpu *vcpu, const struct x86_regs *regs);
void soft_get_sregs(struct vcpu *vcpu, struct x86_sregs *sregs);
void soft_set_sregs(struct vcpu *vcpu, const struct x86_sregs *sregs);
void soft_inject_exception(struct vcpu *vcpu, u8 vector, bool has_error, u32 error);
int soft_read_guest_virt(struct vcpu *vcpu, u64 gva, void *buf, size_t len);
int soft_write_guest_virt(struct vcpu *vcpu, u64 gva, const void *buf, size_t len);
