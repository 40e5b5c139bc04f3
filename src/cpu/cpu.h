/* SPDX-License-Identifier: MIT */
/*
 * The software x86-64 CPU as the VMM sees it. The CPU always runs the guest as if in VMX non-root
 * operation: cpu_run() executes until something the VMX controls (vmx/controls.h) or the SDM's
 * unconditional rules say must exit, fills the exit record and returns. It knows nothing of
 * devices: port I/O leaves through exit reason 30, guest-physical addresses outside RAM reach the
 * MMIO callbacks given at creation.
 */
#pragma once
#include "common.h"
#include "cpu/x86.h"
#include "vmx/controls.h"
#include "vmx/exit.h"

struct cpu;

/* Address widths of the software CPU, which CPUID.80000008H:EAX reports (SDM vol. 3A 4.1.4). */
#define CPU_MAXPHYADDR 40
#define CPU_LINEAR_BITS 48

struct cpu_config {
	u8 *ram;      /* guest-physical 0 .. ram_size-1, host memory owned by the VMM */
	u64 ram_size; /* multiple of 4 KiB */
	void *opaque; /* passed to the callbacks */
	/* Guest-physical accesses outside RAM; reads of nothing should return all ones. */
	u64 (*mmio_read)(void *opaque, u64 gpa, unsigned size);
	void (*mmio_write)(void *opaque, u64 gpa, u64 value, unsigned size);
};

struct cpu *cpu_create(const struct cpu_config *cfg); /* NULL on allocation failure */
void cpu_destroy(struct cpu *c);

/* Controls consulted while the guest runs; the VMM owns the bitmaps they point to. */
void cpu_set_controls(struct cpu *c, const struct vmx_controls *ctl);

/* Run the guest until a VM exit; *exit is filled as the SDM's exit sequence would fill the VMCS. */
void cpu_run(struct cpu *c, struct vm_exit *exit);

void cpu_get_regs(struct cpu *c, struct x86_regs *r);
void cpu_set_regs(struct cpu *c, const struct x86_regs *r);
void cpu_get_sregs(struct cpu *c, struct x86_sregs *s);
/* Loads segment caches, control registers and EFER as given, like VM entry's guest-state load. */
void cpu_set_sregs(struct cpu *c, const struct x86_sregs *s);

/* MSRs the CPU holds itself (EFER, STAR, LSTAR, ..., SYSENTER_*, TSC, PAT): 0, or -ENOENT. */
int cpu_get_msr(struct cpu *c, u32 index, u64 *value);
int cpu_set_msr(struct cpu *c, u32 index, u64 value);

/*
 * Event injection as the VM-entry interruption-information field does it (SDM vol. 3C 24.8.3):
 * delivered through the guest IDT before the next instruction when cpu_run() resumes.
 * type: 0 external interrupt, 2 NMI, 3 hardware exception, 4 software interrupt, 6 software
 * exception. insn_len is used for the software types.
 */
void cpu_inject_event(struct cpu *c, u8 vector, u8 type, bool has_error, u32 error, u8 insn_len);

/* Instructions retired since creation. */
u64 cpu_icount(const struct cpu *c);
