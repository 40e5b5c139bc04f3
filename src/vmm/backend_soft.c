// SPDX-License-Identifier: MIT
/*
 * The soft backend: the software x86-64 CPU (cpu/cpu.h) in VMX non-root operation under a VMCS
 * that the VMM programs (vmm/policy.c), entered and left through the VT-x model (vmx/vmx.h).
 * Register access goes through the VMCS guest-state area where the VMCS holds the register, as a
 * hardware VMM's does; the GPRs the VMCS lacks are the CPU's.
 */
#include <errno.h>
#include <stdlib.h>

#include "cpu/cpu.h"
#include "vmm/policy.h"
#include "vmm/vm.h"
#include "vmx/vmx.h"

struct soft_vcpu {
	struct cpu *cpu;
	struct vmx_vcpu vmx;
	struct vmcs vmcs;
};

static struct soft_vcpu *soft(struct vcpu *vcpu)
{
	return vcpu->backend;
}

struct vmcs *soft_vcpu_vmcs(struct vcpu *vcpu)
{
	return &soft(vcpu)->vmcs;
}

struct cpu *soft_vcpu_cpu(struct vcpu *vcpu)
{
	return soft(vcpu)->cpu;
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

static void soft_destroy(struct vcpu *vcpu)
{
	struct soft_vcpu *s = vcpu->backend;

	if (!s)
		return;
	if (s->cpu)
		cpu_destroy(s->cpu);
	free(s);
	vcpu->backend = NULL;
}

static int soft_vcpu_create(struct vcpu *vcpu)
{
	struct vm *vm = vcpu->vm;
	struct cpu_config cfg = {
		.ram = vm->ram,
		.ram_size = vm->ram_size,
		.opaque = vm,
		.mmio_read = soft_mmio_read,
		.mmio_write = soft_mmio_write,
		.host_ptr = vm_host_ptr,
	};
	struct soft_vcpu *s = calloc(1, sizeof(*s));
	int err;

	if (!s)
		return -ENOMEM;
	vcpu->backend = s;
	s->cpu = cpu_create(&cfg);
	if (!s->cpu) {
		soft_destroy(vcpu);
		return -ENOMEM;
	}
	cpu_set_tsc_mode(s->cpu, vm->tsc_virtual ? CPU_TSC_VIRTUAL : CPU_TSC_HOST, vm->tsc_cpi);
	if (vm->jit)
		cpu_set_jit(s->cpu, vm->jit < 0 ? 0 : (unsigned)vm->jit);
	vmcs_init(&s->vmcs);
	s->vmx = (struct vmx_vcpu){
		.cpu = s->cpu,
		.vmcs = &s->vmcs,
		.opaque = vm,
		.host_ptr = vm_host_ptr,
		.exit_cycles = stats_model_cycles,
	};
	err = vmm_vmcs_setup(vcpu, &s->vmcs);
	if (err) {
		soft_destroy(vcpu);
		return err;
	}
	return 0;
}

static void soft_get_regs(struct vcpu *vcpu, struct x86_regs *regs)
{
	struct soft_vcpu *s = soft(vcpu);

	cpu_get_regs(s->cpu, regs);
	regs->gpr[R_RSP] = s->vmcs.guest_rsp;
	regs->rip = s->vmcs.guest_rip;
	regs->rflags = s->vmcs.guest_rflags;
}

/* The CPU takes the GPRs now; RSP, RIP and RFLAGS load from the VMCS at the next entry. */
static void soft_set_regs(struct vcpu *vcpu, const struct x86_regs *regs)
{
	struct soft_vcpu *s = soft(vcpu);

	cpu_set_regs(s->cpu, regs);
	VMCS_SET(&s->vmcs, GUEST_RSP, regs->gpr[R_RSP]);
	VMCS_SET(&s->vmcs, GUEST_RIP, regs->rip);
	VMCS_SET(&s->vmcs, GUEST_RFLAGS, (regs->rflags | X86_FIXED1) & 0x3f7fd7ull);
}

/*
 * Segment state from the guest-state area (x86_segment.ar is the VMCS access-rights format).
 * CR0/CR4 are what the guest sees: host-owned bits (guest/host mask) from the read shadows.
 */
static void soft_get_sregs(struct vcpu *vcpu, struct x86_sregs *sregs)
{
	struct soft_vcpu *s = soft(vcpu);
	const struct vmcs *v = &s->vmcs;
	const u64 *sel = &v->guest_es_selector, *base = &v->guest_es_base;
	const u64 *limit = &v->guest_es_limit, *ar = &v->guest_es_ar_bytes;

	cpu_get_sregs(s->cpu, sregs); /* CR2, CR8, EFER, APIC base */
	for (int i = 0; i < 8; i++)
		sregs->seg[i] = (struct x86_segment){ .base = base[i], .limit = (u32)limit[i],
						      .sel = (u16)sel[i], .ar = (u32)ar[i] };
	sregs->gdt = (struct x86_dtable){ v->guest_gdtr_base, (u16)v->guest_gdtr_limit };
	sregs->idt = (struct x86_dtable){ v->guest_idtr_base, (u16)v->guest_idtr_limit };
	sregs->cr0 = (v->guest_cr0 & ~v->cr0_guest_host_mask) |
		     (v->cr0_read_shadow & v->cr0_guest_host_mask);
	sregs->cr3 = v->guest_cr3;
	sregs->cr4 = (v->guest_cr4 & ~v->cr4_guest_host_mask) |
		     (v->cr4_read_shadow & v->cr4_guest_host_mask);
}

/*
 * The guest's CR0/CR4 go to the read shadows; the guest-state fields get them plus the bits VMX
 * operation fixes to 1 (IA32_VMX_CR0_FIXED0 less PE/PG under unrestricted guest, CR4_FIXED0),
 * which the VMM's guest/host masks own. EFER and "IA-32e mode guest" follow EFER.LMA.
 */
static void soft_set_sregs(struct vcpu *vcpu, const struct x86_sregs *sregs)
{
	struct soft_vcpu *s = soft(vcpu);
	struct vmcs *v = &s->vmcs;
	u64 cr0_fixed = 0, cr4_fixed = 0;
	struct x86_sregs cur;

	vmx_cap_msr(MSR_IA32_VMX_CR0_FIXED0, &cr0_fixed);
	vmx_cap_msr(MSR_IA32_VMX_CR4_FIXED0, &cr4_fixed);
	if ((v->cpu_based_vm_exec_control & PROC_SECONDARY_CONTROLS) &&
	    (v->secondary_vm_exec_control & PROC2_UNRESTRICTED_GUEST))
		cr0_fixed &= ~(CR0_PE | CR0_PG);
	for (int i = 0; i < 8; i++) {
		const struct x86_segment *g = &sregs->seg[i];

		VMCS_SET(v, GUEST_ES_SELECTOR + 2 * i, g->sel);
		VMCS_SET(v, GUEST_ES_BASE + 2 * i, g->base);
		VMCS_SET(v, GUEST_ES_LIMIT + 2 * i, g->limit);
		VMCS_SET(v, GUEST_ES_AR_BYTES + 2 * i, g->ar);
	}
	VMCS_SET(v, GUEST_GDTR_BASE, sregs->gdt.base);
	VMCS_SET(v, GUEST_GDTR_LIMIT, sregs->gdt.limit);
	VMCS_SET(v, GUEST_IDTR_BASE, sregs->idt.base);
	VMCS_SET(v, GUEST_IDTR_LIMIT, sregs->idt.limit);
	VMCS_SET(v, CR0_READ_SHADOW, sregs->cr0);
	VMCS_SET(v, CR4_READ_SHADOW, sregs->cr4);
	VMCS_SET(v, GUEST_CR0, sregs->cr0 | cr0_fixed);
	VMCS_SET(v, GUEST_CR3, sregs->cr3);
	VMCS_SET(v, GUEST_CR4, sregs->cr4 | cr4_fixed);
	VMCS_SET(v, GUEST_IA32_EFER, sregs->efer);
	if (sregs->efer & EFER_LMA)
		v->vm_entry_controls |= ENTRY_CTL_IA32E_MODE_GUEST;
	else
		v->vm_entry_controls &= ~(u64)ENTRY_CTL_IA32E_MODE_GUEST;
	/* CR2, CR8, the APIC base and EFER (when the VMCS does not load it) live in the CPU. */
	cpu_get_sregs(s->cpu, &cur);
	cur.cr2 = sregs->cr2;
	cur.cr8 = sregs->cr8;
	cur.apic_base = sregs->apic_base;
	cur.efer = sregs->efer;
	cpu_set_sregs(s->cpu, &cur);
	v->guest_dirty = true;
}

/* A hardware exception (type 3) in the VM-entry interruption-information field (SDM 25.8.3). */
static void soft_inject_exception(struct vcpu *vcpu, u8 vector, bool has_error, u32 error)
{
	struct vmcs *v = &soft(vcpu)->vmcs;
	u32 info = vector | INTR_TYPE_HARD_EXCEPTION << 8 | INTR_INFO_VALID;

	if (has_error)
		info |= INTR_INFO_DELIVER_CODE;
	VMCS_SET(v, VM_ENTRY_INTR_INFO_FIELD, info);
	VMCS_SET(v, VM_ENTRY_EXCEPTION_ERROR_CODE, error);
	VMCS_SET(v, VM_ENTRY_INSTRUCTION_LEN, 0);
}

/*
 * The memory side of an INS/OUTS exit, as a hardware VMM's string-I/O emulation does it (the
 * exit comes before the memory operand, SDM vol. 3C 26.1.1): cpu_io_string() reads the OUTS
 * element into exit->io.data or checks the INS destination. When that access faults, the guest
 * gets the fault instead (CR2 set first for a #PF, 27.6.1.1) and the exit is not the VMM's
 * business: false, run again. KVM does the same in the kernel.
 */
static bool soft_string_io(struct vcpu *vcpu, struct vm_exit *exit)
{
	struct soft_vcpu *s = soft(vcpu);
	struct cpu_fault f;

	if ((exit->reason & 0xffff) != EXIT_REASON_IO_INSTRUCTION ||
	    !(exit->qual & IO_QUAL_STRING) || !cpu_io_string(s->cpu, exit, &f))
		return true;
	if (f.vector == X86_PF_VEC) {
		struct x86_sregs sregs;

		soft_get_sregs(vcpu, &sregs);
		sregs.cr2 = f.cr2;
		soft_set_sregs(vcpu, &sregs);
	}
	soft_inject_exception(vcpu, f.vector, f.has_error, f.error);
	return false;
}

/*
 * VMLAUNCH the first time, VMRESUME after; a VMfailValid or a VMX abort is the VMM's bug. A guest
 * halted with nothing to wake it comes back without an exit (vmx_run's VMX_RUN_HALTED).
 */
static enum backend_run_result soft_run(struct vcpu *vcpu, struct vm_exit *exit)
{
	struct soft_vcpu *s = soft(vcpu);
	int err;

	do
		err = vmx_run(&s->vmx, s->vmcs.launched, exit);
	while (!err && !s->vmcs.abort_indicator && !soft_string_io(vcpu, exit));
	if (err == VMX_RUN_HALTED)
		return BACKEND_RUN_HALTED;
	if (err) {
		static const char *const names[] = {
			[VMXERR_VMLAUNCH_NONCLEAR] = "VMLAUNCH with non-clear VMCS",
			[VMXERR_VMRESUME_NONLAUNCHED] = "VMRESUME with non-launched VMCS",
			[VMXERR_ENTRY_INVALID_CONTROL] = "invalid control field(s)",
			[VMXERR_ENTRY_INVALID_HOST_STATE] = "invalid host-state field(s)",
			[VMXERR_ENTRY_EVENTS_BLOCKED_BY_MOV_SS] = "events blocked by MOV SS",
		};
		const char *name = (size_t)err < ARRAY_SIZE(names) && names[err] ? names[err] : "?";

		vm_request_stop(vcpu->vm, EXIT_STATUS_STOPPED,
				"VM entry failed: VM-instruction error %d (%s)", err, name);
		/* The run loop sees a failed entry and stops (the guest did not run). */
		*exit = (struct vm_exit){ .reason = EXIT_REASON_INVALID_STATE |
						    EXIT_REASON_FAILED_VMENTRY };
		return BACKEND_RUN_EXIT;
	}
	if (s->vmcs.abort_indicator)
		vm_request_stop(vcpu->vm, EXIT_STATUS_STOPPED, "VMX abort, indicator %u",
				s->vmcs.abort_indicator);
	return BACKEND_RUN_EXIT;
}

static int soft_read_guest_virt(struct vcpu *vcpu, u64 gva, void *buf, size_t len)
{
	return cpu_read_virt(soft(vcpu)->cpu, gva, buf, len);
}

static void soft_dump(struct vcpu *vcpu, FILE *f)
{
	vmcs_dump(&soft(vcpu)->vmcs, f);
}

/* cpu_kick(): exit 1 at the next block boundary. */
static void soft_kick(struct vcpu *vcpu)
{
	struct soft_vcpu *s = vcpu->backend;

	if (s && s->cpu)
		cpu_kick(s->cpu);
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
	.read_guest_virt = soft_read_guest_virt,
	.dump = soft_dump,
	.kick = soft_kick,
};
