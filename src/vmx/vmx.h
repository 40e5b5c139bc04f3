/* SPDX-License-Identifier: MIT */
/*
 * The VT-x model around the software CPU: capability MSRs, VM entry with its checks, and the
 * VM-exit sequence (Intel SDM vol. 3C chapters 26-28 and appendix A).
 *
 * A vCPU's "host" is the VMM in this process. VM entry checks the VMCS (controls, host state,
 * guest state, MSR-load list), loads the guest state and the controls into the CPU, injects the
 * event in the VM-entry interruption-information field, and runs the CPU. The VM exit records the
 * exit-information fields, saves the guest state (with interruptibility and activity state) and
 * "loads host state": the host-state area is checked at entry as the SDM demands, and the exit
 * returns to the VMM's C code, which is what HOST_RIP stands for here. Nested VMX will load the
 * host-state area into the CPU instead.
 */
#pragma once
#include "common.h"
#include "arch/x86.h"
#include "vmx/exit.h"
#include "vmx/vmcs.h"

struct cpu;

/* The model's capability MSR `index`: 0 and *value, or -ENOENT for an index not listed above. */
int vmx_cap_msr(u32 index, u64 *value);

/* The capability MSR `index` as a guest hypervisor sees it (nested VMX): the model's, less
   what the nested code cannot yet give its guest (caps.c says which). 0, or -ENOENT. */
int vmx_nested_cap_msr(u32 index, u64 *value);

/*
 * Does `value` satisfy a control MSR's allowed settings (bits 31:0 allowed-0: must be 1 where
 * set; bits 63:32 allowed-1: may be 1 only where set)? SDM vol. 3D A.3-A.5.
 */
bool vmx_ctls_allowed(u64 cap_msr_value, u32 value);

/* A vCPU's VMX engine. */
struct vmx_vcpu {
	struct cpu *cpu;
	struct vmcs *vmcs; /* the current VMCS */
	void *opaque;	   /* for host_ptr */
	/* Host-physical memory (the same contract as cpu_config.host_ptr). */
	u8 *(*host_ptr)(void *opaque, u64 hpa, u64 len);
	/* The modeled cost in guest cycles of a VM-exit round trip, charged to the CPU's clock at
	   each exit (--tsc virtual; the VMM's cost model, stats.h stats_model_cycles); NULL: none. */
	u64 (*exit_cycles)(const struct vm_exit *exit);
	/*
	 * The segment registers and GDTR/IDTR that `seen.vmcs`'s guest-state area holds, as the
	 * CPU holds them: set where VM entry loads them and where a VM exit saves them. An exit
	 * whose CPU state still equals them writes none of those 36 fields (28.3.2 stores the
	 * same values): most exits change no segment.
	 */
	struct {
		const struct vmcs *vmcs;
		struct x86_segment seg[8];
		struct x86_dtable gdt, idt;
	} seen;
	/*
	 * The deferred guest-state save (docs/vmx.md "The lazy guest-state save"). With
	 * lazy_save set by the owner, a VM exit stores the exit-information fields, RIP, RSP,
	 * interruptibility and activity state (what every exit handler may read), and leaves the
	 * rest of 28.3's save to vmx_guest_sync(): `unsaved` says which VMX_UNSAVED_* groups of
	 * the guest-state area are still behind the CPU. The owner promises to call
	 * vmx_guest_sync() before it reads or writes any other guest-state field (or
	 * VM_ENTRY_CONTROLS, whose IA-32e mode guest bit the exit saves) and before it changes the
	 * current VMCS; vmx_run() syncs by itself before an entry that checks or loads the guest
	 * state. Nothing the guest can observe changes: between an exit and the next entry the
	 * CPU's state is what the exit would have saved, and an entry that loads nothing runs on
	 * it as it is.
	 */
	bool lazy_save;
	u8 unsaved;
	/*
	 * Fast exits (docs/vmx.md "Exits inside the CPU's run loop"): the owner's handler for an
	 * instruction's exit, called inside vmx_run while the CPU's loop is still live, after the
	 * exit sequence. It answers VMX_FAST_NO (not taken: vmx_run returns the exit as always),
	 * VMX_FAST_LEAVE (the owner handled it and needs its own loop: vmx_run returns
	 * VMX_RUN_HANDLED) or VMX_FAST_RESUME (handled; the next entry may follow at once). A
	 * resumed exit enters again without returning when the entry would load nothing but RIP
	 * (no VMWRITE of other guest state or of a control, no event to inject, no MSR-load list,
	 * RIP passing 27.3.1.4), else vmx_run returns VMX_RUN_HANDLED. Only with lazy_save, and
	 * never with an MSR list at exit or entry. NULL: no fast exits.
	 */
	int (*fast_exit)(void *opaque, struct vm_exit *exit);
	void *fast_opaque;
	struct vm_exit *run_exit; /* vmx_run's record, for the hook */
	bool exit_done, exit_handled;
};

enum { VMX_FAST_NO, VMX_FAST_LEAVE, VMX_FAST_RESUME };

#define VMX_UNSAVED_RFLAGS BIT(0) /* GUEST_RFLAGS (vmx_guest_rflags() brings it alone) */
#define VMX_UNSAVED_REST BIT(1)	  /* every other field 28.3 saves */

/* Complete the guest-state save a lazy VM exit deferred (a no-op when nothing is unsaved). */
void vmx_guest_sync_slow(struct vmx_vcpu *x);
static inline void vmx_guest_sync(struct vmx_vcpu *x)
{
	if (x->unsaved)
		vmx_guest_sync_slow(x);
}
/* GUEST_RFLAGS brought up to date and returned; the other deferred fields stay deferred. */
void vmx_guest_rflags_slow(struct vmx_vcpu *x);
static inline u64 vmx_guest_rflags(struct vmx_vcpu *x)
{
	if (x->unsaved & VMX_UNSAVED_RFLAGS)
		vmx_guest_rflags_slow(x);
	return x->vmcs->guest_rflags;
}

/*
 * VMLAUNCH (resume = false) or VMRESUME (resume = true) by the VMM (SDM vol. 3C chapter 27),
 * then run the guest until a VM exit. Returns:
 *   > 0: VMfailValid with this VM-instruction error (VMXERR_VMLAUNCH_NONCLEAR,
 *        VMXERR_VMRESUME_NONLAUNCHED, VMXERR_ENTRY_INVALID_CONTROL after a failed check of
 *        27.2.1, VMXERR_ENTRY_INVALID_HOST_STATE after 27.2.2/27.2.3,
 *        VMXERR_ENTRY_EVENTS_BLOCKED_BY_MOV_SS); VM_INSTRUCTION_ERROR holds it, the guest did
 *        not run and *exit is untouched.
 *   0: a VM exit happened and *exit holds it, as do the VMCS's exit-information fields. This
 *      includes VM-entry failures during or after guest-state loading (27.8): reason 33 (invalid
 *      guest state) or 34 (MSR loading, qualification = the failing entry's index + 1), with
 *      EXIT_REASON_FAILED_VMENTRY set; the guest did not run.
 *   VMX_RUN_HALTED: no VM exit. The guest executed HLT without "HLT exiting" and nothing the
 *      model delivers can end the HLT activity state (cpu_run(): no external-interrupt exiting,
 *      no preemption timer), so hardware would sleep in VMX non-root operation. The
 *      exit-information fields keep their values; the guest-state area holds the halted guest
 *      (activity state HLT, RIP past the HLT) as a VMCLEAR would write it back, for the VMM
 *      to look at. An entry that injects an event wakes it.
 * On a successful exit the VMCS guest-state area holds the guest's state and the launch state
 * is "launched".
 */
#define VMX_RUN_HALTED (-1)
/* A fast exit the owner handled (vmx_vcpu.fast_exit VMX_FAST_LEAVE, or a resume whose entry
   needs vmx_run's checks): *exit and the exit-information fields hold it, and the guest-state
   area as after any exit. The owner handled it already: it runs vmx_run again. */
#define VMX_RUN_HANDLED (-2)
int vmx_run(struct vmx_vcpu *x, bool resume, struct vm_exit *exit);

/*
 * The VM-entry check groups, exposed for unit tests and for nested VMX. Each has no side effects
 * and returns 0 when the VMCS passes, otherwise the outcome the SDM gives.
 */
int vmx_check_controls(const struct vmx_vcpu *x);	/* 0 or VMXERR_ENTRY_INVALID_CONTROL */
int vmx_check_host_state(const struct vmx_vcpu *x);	/* 0 or VMXERR_ENTRY_INVALID_HOST_STATE */
/* 0, or the basic exit reason EXIT_REASON_INVALID_STATE with *qual (SDM 27.8: 0, 2, 3 or 4). */
int vmx_check_guest_state(const struct vmx_vcpu *x, u64 *qual);
