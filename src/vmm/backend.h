/* SPDX-License-Identifier: MIT */
/*
 * The backend interface: what the VMM needs from something that runs a vCPU (the soft CPU
 * today, KVM next). A backend fills the exit record (vmx/exit.h) and nothing else of the VMM's;
 * every exit goes through the same handlers, devices and statistics whichever backend ran.
 */
#pragma once
#include <stdio.h>

#include "common.h"
#include "arch/x86.h"
#include "vmx/exit.h"

struct vcpu;

enum backend_run_result { BACKEND_RUN_EXIT, BACKEND_RUN_HALTED };

struct backend_ops {
	const char *name;
	/* Create the backend's vCPU over vcpu->vm's RAM; stores its state in vcpu->backend. */
	int (*vcpu_create)(struct vcpu *vcpu);
	/*
	 * Run until a VM exit and fill *exit: BACKEND_RUN_EXIT. The run loop passes the same record
	 * back on the next call: for an IN exit the backend completes the instruction from
	 * exit->io.data. BACKEND_RUN_HALTED: no exit; the vCPU is in the HLT activity state
	 * (a HLT that did not exit) and nothing the backend models can wake it; *exit holds nothing.
	 */
	enum backend_run_result (*run)(struct vcpu *vcpu, struct vm_exit *exit);
	void (*get_regs)(struct vcpu *vcpu, struct x86_regs *regs);
	void (*set_regs)(struct vcpu *vcpu, const struct x86_regs *regs);
	void (*get_sregs)(struct vcpu *vcpu, struct x86_sregs *sregs);
	void (*set_sregs)(struct vcpu *vcpu, const struct x86_sregs *sregs);
	/* A hardware exception delivered before the next guest instruction (SDM vol. 3C 24.8.3). */
	void (*inject_exception)(struct vcpu *vcpu, u8 vector, bool has_error, u32 error);
	void (*destroy)(struct vcpu *vcpu);
	/*
	 * Read guest-linear memory as the guest's paging maps it for a supervisor read, without side
	 * effects (vmm/mmio.c fetches faulting instructions with it; --trace and the gdb stub too):
	 * 0, or -EFAULT when a byte is unmapped.
	 */
	int (*read_guest_virt)(struct vcpu *vcpu, u64 gva, void *buf, size_t len);
	/* Backend state worth a look when a run stops unexpectedly (soft: the VMCS); may be NULL. */
	void (*dump)(struct vcpu *vcpu, FILE *f);
	/*
	 * Make run() return soon, from any thread or a signal handler (async-signal-safe): it
	 * returns an external-interrupt exit (reason 1) at the latest when the guest next reaches
	 * an instruction boundary, as a host IPI would make it (SDM 26.2). vm_signal_stop() uses
	 * it to end a run on SIGINT or SIGTERM.
	 */
	void (*kick)(struct vcpu *vcpu);
};

extern const struct backend_ops backend_soft;

/* The soft backend's VMCS and CPU, for the VMM's VT-x policy (vmm/policy.c) and tests. */
struct vmcs;
struct cpu;
struct vmcs *soft_vcpu_vmcs(struct vcpu *vcpu);
struct cpu *soft_vcpu_cpu(struct vcpu *vcpu);
