/* SPDX-License-Identifier: MIT */
/*
 * The soft backend: tollbooth's own x86-64 CPU (src/cpu) in VMX non-root operation under a VMCS
 * the VMM's policy programs (vmm/policy.c), entered and left through the VT-x model (src/vmx).
 * It stands beside the kvm backend (src/kvm): the VMM reaches either only through
 * struct backend_ops (vmm/backend.h).
 */
#pragma once
#include "vmm/backend.h"

extern const struct backend_ops backend_soft;

/* The vCPU's VMCS and CPU, for tests that look beneath the backend interface. */
struct vmcs;
struct cpu;
struct vmcs *soft_vcpu_vmcs(struct vcpu *vcpu);
struct cpu *soft_vcpu_cpu(struct vcpu *vcpu);
