// SPDX-License-Identifier: MIT
/* The soft backend: the software x86-64 CPU (cpu/cpu.h) under VMX controls the VMM programs. */
#include <errno.h>
#include <stdlib.h>

#include "cpu/cpu.h"
#include "vmm/vm.h"

struct soft_vcpu {
	struct cpu *cpu;
	struct vmx_controls controls;
	u8 msr_bitmap[4096];
};

static struct cpu *soft_cpu(struct vcpu *vcpu)
{
	return ((struct soft_vcpu *)vcpu->backend)->cpu;
}

/*
 * The VMX control policy for the soft CPU, all of it here:
 *   - unconditional I/O exiting: every port belongs to the VMM's port bus, so every IN/OUT/INS/
 *     OUTS exits (no I/O bitmaps needed);
 *   - HLT exiting: with no interrupt sources yet a HLT is where the run ends (vmm/run.c);
 *   - MSR bitmaps: the MSRs the CPU holds run without exits, all others exit to the MSR policy;
 *   - RDTSCP enabled (secondary controls), as CPUID advertises it; without it RDTSCP is #UD;
 *   - exception bitmap 0: the guest handles its own exceptions; the VMM sees only triple faults.
 */
static void soft_init_controls(struct soft_vcpu *s)
{
	msr_build_bitmap(s->msr_bitmap);
	s->controls = (struct vmx_controls){
		.proc = PROC_UNCOND_IO_EXITING | PROC_HLT_EXITING | PROC_USE_MSR_BITMAPS |
			PROC_SECONDARY_CONTROLS,
		.proc2 = PROC2_ENABLE_RDTSCP,
		.exception_bitmap = 0,
		.msr_bitmap = s->msr_bitmap,
	};
}

/* Guest-physical accesses outside RAM go to the MMIO bus; nothing there reads as all ones. */
static u64 soft_mmio_read(void *opaque, u64 gpa, unsigned size)
{
	struct vm *vm = opaque;
	u64 value = 0;

	bus_dispatch(&vm->mmio, gpa, &value, size, false);
	return value;
}

static void soft_mmio_write(void *opaque, u64 gpa, u64 value, unsigned size)
{
	struct vm *vm = opaque;

	bus_dispatch(&vm->mmio, gpa, &value, size, true);
}

static int soft_vcpu_create(struct vcpu *vcpu)
{
	struct cpu_config cfg = {
		.ram = vcpu->vm->ram,
		.ram_size = vcpu->vm->ram_size,
		.opaque = vcpu->vm,
		.mmio_read = soft_mmio_read,
		.mmio_write = soft_mmio_write,
	};
	struct soft_vcpu *s = calloc(1, sizeof(*s));

	if (!s)
		return -ENOMEM;
	s->cpu = cpu_create(&cfg);
	if (!s->cpu) {
		free(s);
		return -ENOMEM;
	}
	soft_init_controls(s);
	cpu_set_controls(s->cpu, &s->controls);
	vcpu->backend = s;
	return 0;
}

static void soft_run(struct vcpu *vcpu, struct vm_exit *exit)
{
	cpu_run(soft_cpu(vcpu), exit);
}

static void soft_get_regs(struct vcpu *vcpu, struct x86_regs *regs)
{
	cpu_get_regs(soft_cpu(vcpu), regs);
}

static void soft_set_regs(struct vcpu *vcpu, const struct x86_regs *regs)
{
	cpu_set_regs(soft_cpu(vcpu), regs);
}

static void soft_get_sregs(struct vcpu *vcpu, struct x86_sregs *sregs)
{
	cpu_get_sregs(soft_cpu(vcpu), sregs);
}

static void soft_set_sregs(struct vcpu *vcpu, const struct x86_sregs *sregs)
{
	cpu_set_sregs(soft_cpu(vcpu), sregs);
}

/* Hardware exception: interruption type 3 (SDM vol. 3C 24.8.3). */
static void soft_inject_exception(struct vcpu *vcpu, u8 vector, bool has_error, u32 error)
{
	cpu_inject_event(soft_cpu(vcpu), vector, 3, has_error, error, 0);
}

static void soft_destroy(struct vcpu *vcpu)
{
	struct soft_vcpu *s = vcpu->backend;

	if (!s)
		return;
	cpu_destroy(s->cpu);
	free(s);
	vcpu->backend = NULL;
}

const struct backend_ops backend_soft = {
	.name = "soft",
	.vcpu_create = soft_vcpu_create,
	.run = soft_run,
	.get_regs = soft_get_regs,
	.set_regs = soft_set_regs,
	.get_sregs = soft_get_sregs,
	.set_sregs = soft_set_sregs,
	.inject_exception = soft_inject_exception,
	.destroy = soft_destroy,
};
