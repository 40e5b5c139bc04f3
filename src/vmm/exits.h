/* SPDX-License-Identifier: MIT */
/*
 * Inside the VMM core: the exit dispatcher (vmm/exits.c), the policy's switches as the handlers
 * see them (vmm/policy.c), and exit-storm detection.
 */
#pragma once
#include "common.h"
#include "vmx/exit.h"

struct vm;
struct vcpu;
struct vmcs;

/* The --vmx switches: the one list of their ids and names (policy.c derives its tables from it). */
#define VMM_SWITCHES(X)                                                                            \
	X(RDTSC_EXITING, "rdtsc-exiting")                                                          \
	X(HLT_EXITING, "hlt-exiting")                                                              \
	X(MSR_BITMAP, "msr-bitmap")                                                                \
	X(IO_BITMAP, "io-bitmap")                                                                  \
	X(EPT, "ept")                                                                              \
	X(VPID, "vpid")                                                                            \
	X(PAUSE_EXITING, "pause-exiting")                                                          \
	X(PLE, "ple")                                                                              \
	X(CR3_EXITING, "cr3-exiting")                                                              \
	X(CR8_EXITING, "cr8-exiting")                                                              \
	X(TPR_SHADOW, "tpr-shadow")                                                                \
	X(INVLPG_EXITING, "invlpg-exiting")                                                        \
	X(RDPMC_EXITING, "rdpmc-exiting")                                                          \
	X(MWAIT_EXITING, "mwait-exiting")                                                          \
	X(MONITOR_EXITING, "monitor-exiting")                                                      \
	X(MOV_DR_EXITING, "mov-dr-exiting")                                                        \
	X(WBINVD_EXITING, "wbinvd-exiting")                                                        \
	X(RDTSCP, "rdtscp")                                                                        \
	X(INVPCID, "invpcid")                                                                      \
	X(TSC_OFFSETTING, "tsc-offsetting")                                                        \
	X(TSC_SCALING, "tsc-scaling")                                                              \
	X(PREEMPTION_TIMER, "preemption-timer")                                                    \
	X(DESC_TABLE_EXITING, "desc-table-exiting")                                                \
	X(PML, "pml")                                                                              \
	X(UNRESTRICTED_GUEST, "unrestricted-guest")                                                \
	X(RDRAND_EXITING, "rdrand-exiting")                                                        \
	X(RDSEED_EXITING, "rdseed-exiting")                                                        \
	X(XSAVES, "xsaves")                                                                        \
	X(APICV, "apicv")                                                                          \
	X(POSTED_INTERRUPTS, "posted-interrupts")                                                  \
	X(APIC_REG_VIRT, "apic-register-virt")                                                     \
	X(NESTED, "nested")                                                                         \
	X(VMCS_SHADOWING, "vmcs-shadowing")

enum vmm_switch {
#define X(id, name) VMM_##id,
	VMM_SWITCHES(X)
#undef X
		VMM_NR_SWITCHES
};

/* Is the switch on for this VM, after the user's --vmx and the policy's own adaptations? */
bool vmm_policy_on(const struct vm *vm, enum vmm_switch sw);
/*
 * Nested VMX (`--vmx nested`): the guest may be a hypervisor. On when the switch is and the
 * backend can run a guest hypervisor (backend_ops.nested_exit; soft only): CPUID.1:ECX.VMX,
 * IA32_FEATURE_CONTROL with VMX outside SMX, the VMX capability MSRs.
 */
bool vmm_nested(const struct vm *vm);
/* Leave out of a CPUID answer the features whose VMX controls the policy has off. */
void vmm_policy_cpuid(const struct vm *vm, u32 leaf, u32 subleaf, u32 out[4]);
/* The exception bitmap the policy programs (SDM 25.6.3): which vectors exit to the VMM. */
u32 vmm_exception_bitmap(const struct vm *vm);

/*
 * Exit storms: the same basic reason at the same RIP with the same qualification and unchanged
 * registers, VMM_EXIT_STORM_LIMIT times in a row, and no progress in between:
 *   - a port or MMIO access that reached a device is progress (a UART byte per pass is output;
 *     a polled status register may change), so it never counts;
 *   - one that no device claimed (a read of all ones, a write to nowhere) always counts: with
 *     the same registers the loop around it learns nothing, however long it is;
 *   - any other exit counts when fewer than 2 guest instructions retired since the previous
 *     exit (when the backend can count them; otherwise always).
 * 100000 repeats take well under a second on either backend and no correct guest makes them: a
 * VMM that forgets to advance RIP, a guest fault loop with nothing but IRET in its handler, a
 * guest polling a device that is not there. The registers (after the handler) are read only
 * for an exit that may repeat the last by the other rules (exits.c vcpu_exit_storm), so the
 * first exit of a storm has none to compare with: the run stops at its exit
 * VMM_EXIT_STORM_LIMIT + 1.
 */
#define VMM_EXIT_STORM_LIMIT 100000

/* The VMM's exit handler entry point (HOST_RIP stands for it): 0, or -errno (VMM failure). */
int vmm_handle_exit(struct vcpu *vcpu, struct vm_exit *exit);
/* The backend came back without an exit: the vCPU is halted and nothing it models wakes it
   (BACKEND_RUN_HALTED). It waits in the run loop as after a HLT exit. */
void vmm_vcpu_halted(struct vcpu *vcpu);
/* End the run: the vCPU halted and nothing can wake it (one line: where, and why not). */
void vmm_vcpu_stop_halted(struct vcpu *vcpu);

