/* SPDX-License-Identifier: MIT */
/*
 * The VMM's VT-x policy, all in one place (vmm/policy.c): which controls are on by default and
 * why, how the VMCS is programmed for a vCPU, and the what-if switches (`--vmx NAME=on|off`) that
 * change one control for a run while the rest of the policy adapts.
 */
#pragma once
#include <stdio.h>

#include "common.h"

struct vm;
struct vcpu;
struct vmcs;

/*
 * Switch a named control for this VM before its vCPU is created: 0, or -ENOENT for an unknown
 * name (main.c then points at `--vmx help`). Names: rdtsc-exiting, hlt-exiting, msr-bitmap,
 * io-bitmap, ept, vpid, pause-exiting, ple, cr3-exiting, cr8-exiting, tpr-shadow, invlpg-exiting,
 * rdpmc-exiting, mwait-exiting, monitor-exiting, mov-dr-exiting, wbinvd-exiting, rdtscp,
 * invpcid, tsc-offsetting, tsc-scaling, preemption-timer, desc-table-exiting, pml,
 * unrestricted-guest, rdrand-exiting, rdseed-exiting, xsaves.
 */
int vmm_policy_set(struct vm *vm, const char *name, bool on);
const char *const *vmm_policy_names(void); /* NULL-terminated */
/* `--vmx help`: every switch, its default (and with ept=off, where it differs) and why. */
void vmm_policy_help(FILE *f);
/*
 * After the last vmm_policy_set(): 0, or -EINVAL with one line in msg[len] when the switches
 * contradict each other (unrestricted-guest=on or pml=on with ept=off, SDM 27.2.1.1).
 */
int vmm_policy_check(const struct vm *vm, char *msg, size_t len);

/*
 * HOST_RIP: the VMM's exit entry point in the 64-bit host's address space that the host-state
 * area describes (GDT at 0xfffffe0000000000, ...); vmm_handle_exit() is what runs there.
 */
#define VMM_HOST_RIP 0xfffffe0000010000ull

/* Program a fresh VMCS (controls, host state, EPT, bitmaps) by the VM's policy: 0 or -errno. */
int vmm_vmcs_setup(struct vcpu *vcpu, struct vmcs *vmcs);

/*
 * Set the guest's CR0 and CR4 to the values the guest sees (its MOV from CR result): the guest-
 * state fields get them with the bits the host owns forced to 1 (CR0.NE, CR4.VMXE: IA32_VMX_CR0/4
 * _FIXED0, SDM 27.3.1.1), the read shadows hold the guest's view of those bits (25.6.6). For
 * the backend's set_sregs and the CR-access handler.
 */
void vmm_vmcs_set_guest_crs(struct vmcs *vmcs, u64 cr0, u64 cr4);
