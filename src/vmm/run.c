// SPDX-License-Identifier: MIT
/* The run loop and the exit handlers, dispatched by the SDM's basic exit reason. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "vmm/cpuid.h"
#include "vmm/hypercall.h"
#include "vmm/vm.h"

static void vcpu_dump_state(struct vcpu *vcpu, const struct vm_exit *exit)
{
	static const char *const gpr_names[16] = {
		"rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi",
		"r8",  "r9",  "r10", "r11", "r12", "r13", "r14", "r15",
	};
	static const char *const seg_names[8] = { "es", "cs", "ss", "ds", "fs", "gs", "ldtr", "tr" };
	const struct backend_ops *b = vcpu->vm->backend;
	struct x86_regs r;
	struct x86_sregs s;

	b->get_regs(vcpu, &r);
	b->get_sregs(vcpu, &s);
	fprintf(stderr,
		"exit: reason %#x (%s) qual %#" PRIx64 " insn_len %u rip %#" PRIx64 "\n"
		"      linear %#" PRIx64 " phys %#" PRIx64 " insn_info %#x intr_info %#x "
		"intr_error %#x idt_vectoring %#x/%#x\n",
		exit->reason, exit_reason_name(exit->reason), exit->qual, exit->insn_len, exit->rip,
		exit->guest_linear, exit->guest_phys, exit->insn_info, exit->intr_info,
		exit->intr_error, exit->idt_vectoring_info, exit->idt_vectoring_error);
	for (int i = 0; i < 16; i++)
		fprintf(stderr, "%4s %016" PRIx64 "%s", gpr_names[i], r.gpr[i],
			i % 4 == 3 ? "\n" : "  ");
	fprintf(stderr, " rip %016" PRIx64 "  rflags %08" PRIx64 "\n", r.rip, r.rflags);
	for (int i = 0; i < 8; i++)
		fprintf(stderr, "%4s sel %04x base %016" PRIx64 " limit %08x ar %05x\n",
			seg_names[i], s.seg[i].sel, s.seg[i].base, s.seg[i].limit, s.seg[i].ar);
	fprintf(stderr,
		" gdt %016" PRIx64 "/%04x  idt %016" PRIx64 "/%04x\n"
		" cr0 %016" PRIx64 "  cr2 %016" PRIx64 "  cr3 %016" PRIx64 "  cr4 %016" PRIx64
		"\n efer %016" PRIx64 "\n",
		s.gdt.base, s.gdt.limit, s.idt.base, s.idt.limit, s.cr0, s.cr2, s.cr3, s.cr4,
		s.efer);
}

/* Any exit without a handler: dump the vCPU and the exit record, stop cleanly. */
static int handle_unexpected_exit(struct vcpu *vcpu, struct vm_exit *exit)
{
	vcpu_dump_state(vcpu, exit);
	vm_request_stop(vcpu->vm, EXIT_STATUS_STOPPED,
			"unexpected VM exit %#x (%s) at RIP %#" PRIx64 "%s", exit->reason,
			exit_reason_name(exit->reason), exit->rip,
			exit->reason & EXIT_REASON_FAILED_VMENTRY ? " (VM entry failed)" : "");
	return 0;
}

/* For the instructions the VMM completes: write back the registers with RIP past the insn. */
static void vcpu_complete_insn(struct vcpu *vcpu, struct x86_regs *r, const struct vm_exit *exit)
{
	r->rip += exit->insn_len;
	vcpu->vm->backend->set_regs(vcpu, r);
}

/* One element per exit (vmx/exit.h): the backend completes the instruction on the next run. */
static int handle_io(struct vcpu *vcpu, struct vm_exit *exit)
{
	u64 data = exit->io.data;

	bus_dispatch(&vcpu->vm->pio, exit->io.port, &data, exit->io.size, !exit->io.in);
	if (exit->io.in)
		exit->io.data = (u32)data;
	return 0;
}

static int handle_cpuid(struct vcpu *vcpu, struct vm_exit *exit)
{
	struct x86_regs r;
	u32 out[4];

	vcpu->vm->backend->get_regs(vcpu, &r);
	cpuid_lookup((u32)r.gpr[R_RAX], (u32)r.gpr[R_RCX], out);
	r.gpr[R_RAX] = out[CPUID_EAX];
	r.gpr[R_RBX] = out[CPUID_EBX];
	r.gpr[R_RCX] = out[CPUID_ECX];
	r.gpr[R_RDX] = out[CPUID_EDX];
	vcpu_complete_insn(vcpu, &r, exit);
	return 0;
}

/* RDMSR/WRMSR of an MSR the policy does not allow: #GP(0), RIP stays on the instruction. */
static int handle_msr_read(struct vcpu *vcpu, struct vm_exit *exit)
{
	const struct backend_ops *b = vcpu->vm->backend;
	struct x86_regs r;
	u64 value;

	b->get_regs(vcpu, &r);
	if (msr_policy_read(vcpu->msr_values, (u32)r.gpr[R_RCX], &value)) {
		b->inject_exception(vcpu, X86_GP, true, 0);
		return 0;
	}
	r.gpr[R_RAX] = (u32)value;
	r.gpr[R_RDX] = value >> 32;
	vcpu_complete_insn(vcpu, &r, exit);
	return 0;
}

static int handle_msr_write(struct vcpu *vcpu, struct vm_exit *exit)
{
	const struct backend_ops *b = vcpu->vm->backend;
	struct x86_regs r;
	u64 value;

	b->get_regs(vcpu, &r);
	value = (u32)r.gpr[R_RAX] | (r.gpr[R_RDX] << 32);
	if (msr_policy_write(vcpu->msr_values, (u32)r.gpr[R_RCX], value)) {
		b->inject_exception(vcpu, X86_GP, true, 0);
		return 0;
	}
	vcpu_complete_insn(vcpu, &r, exit);
	return 0;
}

/*
 * HLT exits before the instruction completes. Nothing can raise an interrupt yet (no PIC, PIT or
 * APIC), so a halted vCPU never wakes: with IF=0 that is the guest's way of stopping for good,
 * with IF=1 it waits for an interrupt that tollbooth cannot deliver yet. Both end the run.
 */
static int handle_hlt(struct vcpu *vcpu, struct vm_exit *exit)
{
	struct x86_regs r;

	vcpu->vm->backend->get_regs(vcpu, &r);
	if (!(r.rflags & X86_IF))
		vm_request_stop(vcpu->vm, EXIT_STATUS_STOPPED,
				"guest halted with interrupts disabled at RIP %#" PRIx64,
				exit->rip);
	else
		vm_request_stop(vcpu->vm, EXIT_STATUS_STOPPED,
				"guest halted waiting for an interrupt at RIP %#" PRIx64
				", and tollbooth has no interrupt sources yet",
				exit->rip);
	return 0;
}

static int handle_triple_fault(struct vcpu *vcpu, struct vm_exit *exit)
{
	vm_request_stop(vcpu->vm, EXIT_STATUS_STOPPED, "guest triple fault at RIP %#" PRIx64,
			exit->rip);
	return 0;
}

/* The hypercall ABI of vmm/hypercall.h. */
static int handle_vmcall(struct vcpu *vcpu, struct vm_exit *exit)
{
	const struct backend_ops *b = vcpu->vm->backend;
	struct x86_sregs s;
	struct x86_regs r;

	b->get_regs(vcpu, &r);
	b->get_sregs(vcpu, &s);
	if (AR_DPL(s.seg[SEG_SS].ar) != 0)
		r.gpr[R_RAX] = (u64)(s64)HC_EPERM;
	else if (r.gpr[R_RAX] == HC_GET_VERSION)
		r.gpr[R_RAX] = HC_ABI_VERSION;
	else
		r.gpr[R_RAX] = (u64)(s64)HC_ENOSYS;
	vcpu_complete_insn(vcpu, &r, exit);
	return 0;
}

/*
 * Exit handlers, indexed by basic exit reason (SDM vol. 3D appendix C), in the manner of Linux's
 * kvm_vmx_exit_handlers. Contract: a handler gets the exit record the backend filled and does
 * what the exit asks. For the instructions the VMM completes (CPUID, RDMSR, WRMSR, VMCALL) it
 * advances RIP by exit->insn_len; I/O is completed by the backend from exit->io. It returns 0 to
 * resume the guest (having called vm_request_stop() if the run must end), or a negative errno
 * when the VMM itself failed, which ends the run with EXIT_STATUS_STOPPED. Reasons without an
 * entry go to handle_unexpected_exit().
 */
typedef int (*exit_handler_fn)(struct vcpu *vcpu, struct vm_exit *exit);

static const exit_handler_fn exit_handlers[EXIT_REASON_MAX] = {
	[EXIT_REASON_TRIPLE_FAULT] = handle_triple_fault,
	[EXIT_REASON_CPUID] = handle_cpuid,
	[EXIT_REASON_HLT] = handle_hlt,
	[EXIT_REASON_VMCALL] = handle_vmcall,
	[EXIT_REASON_IO_INSTRUCTION] = handle_io,
	[EXIT_REASON_MSR_READ] = handle_msr_read,
	[EXIT_REASON_MSR_WRITE] = handle_msr_write,
};

static exit_handler_fn exit_handler_for(u32 reason)
{
	u32 basic = reason & 0xffff;

	if ((reason & EXIT_REASON_FAILED_VMENTRY) || basic >= EXIT_REASON_MAX ||
	    !exit_handlers[basic])
		return handle_unexpected_exit;
	return exit_handlers[basic];
}

int vm_run(struct vm *vm)
{
	struct vcpu *vcpu = &vm->vcpu;
	struct vm_exit exit; /* one record for the whole run: an IN completes from it */
	int err;

	memset(&exit, 0, sizeof(exit));
	while (!vm->stop) {
		vm->backend->run(vcpu, &exit);
		stats_record(&vm->stats, &exit, 0, NULL, 0);
		err = exit_handler_for(exit.reason)(vcpu, &exit);
		if (err)
			vm_request_stop(vm, EXIT_STATUS_STOPPED,
					"internal error handling %s exit: %s",
					exit_reason_name(exit.reason), strerror(-err));
	}
	return vm->exit_status;
}
