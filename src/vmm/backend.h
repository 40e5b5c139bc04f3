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
struct vm;

/* Exits the VMM opens and closes: interrupt and NMI windows, and the monitor trap flag (an exit
   after the next instruction, SDM 26.5.2). */
enum backend_window { BACKEND_WINDOW_INTERRUPT, BACKEND_WINDOW_NMI, BACKEND_WINDOW_MTF };

enum backend_run_result { BACKEND_RUN_EXIT, BACKEND_RUN_HALTED, BACKEND_RUN_HANDLED };

/* What backend_ops.apicv_sync takes from the vCPU's LAPIC. */
struct backend_apicv {
	int max_irr, max_isr;
	u64 tmr[4];
	u8 tpr_threshold;
	bool xapic_page; /* xAPIC mode, enabled, at the default base: virtualize APIC accesses */
	bool x2apic;     /* x2APIC mode: virtualize x2APIC mode */
};

/* The interrupt controllers behind backend_ops.irq_line. */
enum backend_irqchip { BACKEND_IRQCHIP_IOAPIC, BACKEND_IRQCHIP_PIC };

struct backend_ops {
	const char *name;
	/*
	 * VM-level operations, beside the vCPU ones: vm_init before the first vCPU is created
	 * (state shared by the VM's vCPUs in vm->backend_vm), vm_destroy after the last is gone;
	 * mem_written after the VMM or a device (DMA) wrote [gpa, gpa+len) of guest RAM behind the
	 * vCPUs' backs (soft: every vCPU drops the code it decoded there). Each may be NULL.
	 */
	int (*vm_init)(struct vm *vm);
	void (*vm_destroy)(struct vm *vm);
	void (*mem_written)(struct vm *vm, u64 gpa, u64 len);
	/* The VMM changed present EPT entries (vmm/ept.c): drop every translation derived from them,
	   as INVEPT all-context does (SDM 29.4.3.1). NULL: the backend caches none. */
	void (*ept_changed)(struct vm *vm);
	/*
	 * The VM's interrupt lines when the backend's own interrupt controllers take them: vm_init
	 * set vm->irqchip_in_backend (KVM's in-kernel PIC, IOAPIC and LAPICs, --kvm-irqchip
	 * kernel). The board then drives the controllers' inputs through irq_line instead of its
	 * own 8259A and IOAPIC: `chip` BACKEND_IRQCHIP_IOAPIC with pin 0-23, BACKEND_IRQCHIP_PIC
	 * with pin 0-15 (the master's 0-7, the slave's 8-15), at the level the board computed
	 * (its sources already ORed). msi delivers a message-signalled interrupt (the address and
	 * data a device writes, SDM vol. 3A 11.11) from any thread, without the device lock.
	 * 0 or -errno; NULL where vm_init never sets irqchip_in_backend.
	 */
	int (*irq_line)(struct vm *vm, enum backend_irqchip chip, unsigned pin, bool level);
	int (*msi)(struct vm *vm, u64 address, u32 data);
	/* Create the backend's vCPU over vcpu->vm's RAM; stores its state in vcpu->backend. */
	int (*vcpu_create)(struct vcpu *vcpu);
	/*
	 * Run until a VM exit and fill *exit: BACKEND_RUN_EXIT. The run loop passes the same record
	 * back on the next call: for an IN exit the backend completes the instruction from
	 * exit->io.data. BACKEND_RUN_HALTED: no exit; the vCPU is in the HLT activity state
	 * (a HLT that did not exit) and nothing the backend models can wake it; *exit holds nothing.
	 * BACKEND_RUN_HANDLED: *exit holds an exit vm_exit_fast already handled and recorded
	 * (answering -1, or 1 when the backend could not enter again at once); the run loop does
	 * what follows an exit without handling it again.
	 */
	enum backend_run_result (*run)(struct vcpu *vcpu, struct vm_exit *exit);
	/*
	 * The whole architectural state (arch/x86.h struct x86_state): snapshots, a gdb stub,
	 * moving a vCPU. set_state: 0, or -EINVAL for a state the backend refuses (nothing is
	 * changed then). NULL: the backend cannot yet (kvm today).
	 */
	void (*get_state)(struct vcpu *vcpu, struct x86_state *state);
	int (*set_state)(struct vcpu *vcpu, const struct x86_state *state);
	void (*get_regs)(struct vcpu *vcpu, struct x86_regs *regs);
	void (*set_regs)(struct vcpu *vcpu, const struct x86_regs *regs);
	/*
	 * get_regs without RFLAGS, for the handlers that read only GPRs and RIP (CPUID, RDMSR,
	 * WRMSR): rflags is X86_RFLAGS_UNREAD, which this backend's set_regs takes as "unchanged"
	 * (soft: RFLAGS is materialized from the CPU's lazy flags only when read). NULL: get_regs.
	 */
	void (*get_gprs)(struct vcpu *vcpu, struct x86_regs *regs);
	/*
	 * The four registers CPUID and RDMSR/WRMSR use, gpr[0..3] = RAX, RCX, RDX, RBX (arch/x86.h
	 * order), read; and written back with RIP advanced by len, which is what set_regs does
	 * with those four changed and RIP past the instruction, without copying the rest. NULL:
	 * get_gprs and set_regs.
	 */
	void (*get_gprs4)(struct vcpu *vcpu, u64 gpr[4]);
	void (*complete_gprs4)(struct vcpu *vcpu, const u64 gpr[4], u32 len);
	void (*get_sregs)(struct vcpu *vcpu, struct x86_sregs *sregs);
	void (*set_sregs)(struct vcpu *vcpu, const struct x86_sregs *sregs);
	/* A hardware exception delivered before the next guest instruction (SDM vol. 3C 24.8.3). */
	void (*inject_exception)(struct vcpu *vcpu, u8 vector, bool has_error, u32 error);
	/*
	 * An external interrupt the VMM's interrupt controller acknowledged, delivered at the next
	 * entry (SDM 27.6.1.1, type 0); it wakes a HLT activity state (27.6.1). Only when
	 * interruptible() said yes. interruptible: RFLAGS.IF = 1, no blocking by STI or MOV SS
	 * (25.4.2, Table 25-3) and no event already waiting for injection (KVM's
	 * ready_for_interrupt_injection).
	 */
	void (*inject_interrupt)(struct vcpu *vcpu, u8 vector);
	bool (*interruptible)(struct vcpu *vcpu);
	/*
	 * An NMI delivered at the next entry (type 2, vector 2, SDM 27.6.1.1), only when
	 * nmi_allowed() said yes: no blocking by NMI, STI or MOV SS (25.4.2, 26.3.1.5, as KVM's
	 * vmx_nmi_blocked) and no event already waiting for injection. NULL: NMIs stay pending.
	 */
	void (*inject_nmi)(struct vcpu *vcpu);
	/*
	 * The event whose delivery a VM exit interrupted (IDT-vectoring information and error code,
	 * SDM 28.2.4; insn_len for the software types), injected again at the next entry as KVM's
	 * vmx_complete_interrupts does. NULL: the backend never exits during delivery for the VMM
	 * to fix something up (only the soft backend's shadow paging needs it).
	 */
	void (*reinject)(struct vcpu *vcpu, u32 info, u32 error, u32 insn_len);
	/*
	 * Dirty-page logging kept by the backend (KVM's KVM_GET_DIRTY_LOG, vmm/dirty.c): `start`
	 * turns it on for every RAM slot; otherwise OR the pages written since the last call into
	 * `bitmap` (a bit per 4 KiB page of RAM) and start the backend's log over. 0 or -errno.
	 * NULL: the VMM reads its own sources (EPT dirty flags, PML logs).
	 */
	int (*dirty_log)(struct vm *vm, bool start, u64 *bitmap);
	/*
	 * The backend exits at the run loop's next timer deadline by itself (the soft CPU's
	 * external-interrupt exit, cpu_set_host_deadline). Without it the run loop fires due timers
	 * after every exit, so a guest that polls a device (I/O exits) sees its timers on time.
	 */
	bool deadline_exits;
	/* The backend's own lines for --stats (the soft CPU's page walks, shadow paging), or NULL. */
	void (*print_stats)(struct vm *vm, FILE *out);
	bool (*nmi_allowed)(struct vcpu *vcpu);
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

	/*
	 * What the VMM's exit handlers ask of the VMCS and the CPU behind it. A backend whose
	 * hypervisor handles these itself (KVM owns its VMCS, its MSRs, its TSC offsetting) leaves
	 * them NULL, and the handlers then do what its exits need: nothing, or the default named.
	 * A handler never knows which backend runs (docs/architecture.md).
	 */
	/* Open or close the interrupt or NMI window (SDM 26.7.5, 26.7.6: "interrupt-window
	   exiting", "NMI-window exiting"). */
	void (*set_event_window)(struct vcpu *vcpu, enum backend_window window, bool open);
	/* The activity state the vCPU is in (SDM 25.4.2: GUEST_ACTIVITY_*); NULL: active. */
	u32 (*activity_state)(struct vcpu *vcpu);
	/* An MSR the CPU holds: 0, or -ENOENT when the CPU has no such MSR; set: -EINVAL for a
	   value WRMSR refuses with #GP. The VMCS guest-state copy (EFER, PAT, SYSENTER_*, ...)
	   follows. NULL: no MSR beyond the VMM's (vmm/msr.c) exists. */
	int (*get_msr)(struct vcpu *vcpu, u32 index, u64 *value);
	int (*set_msr)(struct vcpu *vcpu, u32 index, u64 value);
	/*
	 * The guest's TSC as RDTSC would read it (SDM 26.6.5: scaled, then offset); NULL: the
	 * host's TSC. "The guest" is the VMM's own (L1), also while a guest hypervisor's L2 runs:
	 * the VMM's LAPIC timers and kvmclock are L1's. exit_tsc is the TSC as the instruction
	 * that exited saw it (L2's, with vmcs12's offset, when L2 exited); NULL: guest_tsc.
	 */
	u64 (*guest_tsc)(struct vcpu *vcpu);
	u64 (*exit_tsc)(struct vcpu *vcpu);
	/* Invalidate the vCPU's TLB entries for its VPID (INVLPG: one linear address; all: every
	   address, INVPCID as a full flush). */
	void (*flush_tlb)(struct vcpu *vcpu, bool all, u64 gva);
	/* Hand the debug registers to the guest: MOV-DR exiting off (SDM 25.6.2); -ENOTSUP when
	   the backend cannot (a MOV-DR exit it did not expect). */
	int (*pass_debug_regs)(struct vcpu *vcpu);
	/* Instructions the vCPU retired since creation; NULL: the backend cannot count them. */
	u64 (*retired)(struct vcpu *vcpu);
	/* Write guest-linear memory as a supervisor write through the guest's paging (the VMM
	   emulating SGDT/SIDT): 0, or -EFAULT when a byte is unmapped or not RAM. NULL: -EFAULT. */
	int (*write_guest_virt)(struct vcpu *vcpu, u64 gva, const void *buf, size_t len);
	/* Re-arm the VMX-preemption timer with `value` (SDM 26.5.1). */
	void (*rearm_preemption_timer)(struct vcpu *vcpu, u64 value);
	/* The page-modification log (SDM 29.3.6): the PML index as the CPU left it, and the index
	   set back to 511; -ENOTSUP when the backend has no PML log. */
	int (*pml_reset)(struct vcpu *vcpu, u16 *index);
	/* Per PML log entry, the RIP of the write that logged it; NULL when unknown (hardware does
	   not record it). */
	const u64 *(*pml_rips)(struct vcpu *vcpu);
	/* Before the first entry: can this vCPU's register state be entered at all (e.g. real mode
	   without unrestricted guest, SDM 27.3.1.1)? 0, or stops the VM with the reason. */
	int (*check_entry)(struct vcpu *vcpu);
	/* XCR0 as XSETBV loads it, after the VMM's checks (SDM vol. 1 13.3): 0 or -EINVAL. NULL:
	   the backend has no XCR0 to load (KVM runs XSETBV in the kernel). */
	int (*set_xcr0)(struct vcpu *vcpu, u64 xcr0);
	/*
	 * APIC virtualization before an entry (SDM vol. 3C chapter 30), from the vCPU's LAPIC: the
	 * highest IRR and ISR vectors (RVI, SVI; -1: none), the level-triggered vectors (the
	 * EOI-exit bitmap), the TPR threshold for the TPR shadow alone (30.1.2), and the LAPIC's
	 * mode, which picks the APIC-access page (xAPIC at the default base) or the x2APIC MSRs.
	 * -1: no APIC virtualization (no TPR shadow); 0: the TPR shadow only; 1: virtual-interrupt
	 * delivery, the CPU delivers the fixed vectors. NULL: -1. s NULL: only which of the three,
	 * changing nothing (the LAPIC's scans are not made for nothing before every entry).
	 */
	int (*apicv_sync)(struct vcpu *vcpu, const struct backend_apicv *s);
	/* A host interrupt with `vector` to the CPU running the vCPU, from any thread: the
	   posted-interrupt notification (SDM vol. 3C 30.6). NULL: none. */
	void (*post_notify)(struct vcpu *vcpu, u8 vector);
	/*
	 * Nested VMX (docs/vmx.md "Nested VMX"): the backend's first look at every exit when the
	 * guest may be a hypervisor (vmm_nested()). true: the backend took the exit (a VMX
	 * instruction of the guest hypervisor emulated, an exit of its guest reflected to it or
	 * finished); false: the VMM's handler answers it, for whichever level ran. NULL: the
	 * backend cannot run a guest hypervisor, and CPUID does not offer VMX.
	 */
	bool (*nested_exit)(struct vcpu *vcpu, struct vm_exit *exit);
};
