// SPDX-License-Identifier: MIT
/*
 * The exit handlers, one per basic exit reason the policy's controls can produce, dispatched by
 * the SDM's number (vol. 3D appendix C), and the bookkeeping every exit gets: the last-exit
 * record and per-reason counts the hypercalls report, and exit-storm detection.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#include "vmm/cpuid.h"
#include "vmm/exits.h"
#include "vmm/hypercall.h"
#include "vmm/mmio.h"
#include "vmm/policy.h"
#include "vmm/shadow.h"
#include "vmm/vm.h"

/* The backend of this vCPU: handlers ask it, never look beneath it (backend.h). */
static const struct backend_ops *vcpu_ops(const struct vcpu *vcpu)
{
	return vcpu->vm->backend;
}

static void vcpu_dump_state(struct vcpu *vcpu, const struct vm_exit *exit)
{
	static const char *const gpr_names[16] = {
		"rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi",
		"r8",  "r9",  "r10", "r11", "r12", "r13", "r14", "r15",
	};
	static const char *const seg_names[8] = {
		"es", "cs", "ss", "ds", "fs", "gs", "ldtr", "tr",
	};
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
	if (b->dump)
		b->dump(vcpu, stderr);
}

/*
 * The hint a stop message ends with when the vCPU dump was not asked for (about 150 lines: the
 * exit record, the registers and, on soft, every VMCS field; for a developer, not for the user).
 */
static const char *vcpu_dump_hint(const struct vcpu *vcpu)
{
	return vcpu->vm->debug_dump ? "" : " (--debug-dump prints the vCPU state)";
}

/*
 * End the run with one line: `why`, the exit and RIP. With --debug-dump the vCPU and the
 * backend's state (soft: the VMCS) are dumped to stderr first.
 */
static int vcpu_stop_with_dump(struct vcpu *vcpu, const struct vm_exit *exit, const char *why)
{
	if (vcpu->vm->debug_dump)
		vcpu_dump_state(vcpu, exit);
	vm_request_stop(vcpu->vm, EXIT_STATUS_STOPPED, "%s %#x (%s) at RIP %#" PRIx64 "%s%s", why,
			exit->reason, exit_reason_name(exit->reason), exit->rip,
			exit->reason & EXIT_REASON_FAILED_VMENTRY ? " (VM entry failed)" : "",
			vcpu_dump_hint(vcpu));
	return 0;
}

/* Any exit without a handler, or one the policy's controls should not have produced. */
static int handle_unexpected_exit(struct vcpu *vcpu, struct vm_exit *exit)
{
	return vcpu_stop_with_dump(vcpu, exit, "unexpected VM exit");
}

/* The registers of a handler that reads neither RFLAGS nor lets anything else read them before
   it writes them back (backend.h get_gprs). */
static void vcpu_get_gprs(struct vcpu *vcpu, struct x86_regs *r)
{
	const struct backend_ops *b = vcpu->vm->backend;

	(b->get_gprs ? b->get_gprs : b->get_regs)(vcpu, r);
}

/* For the instructions the VMM completes: write back the registers with RIP past the insn. */
static void vcpu_complete_insn(struct vcpu *vcpu, struct x86_regs *r, const struct vm_exit *exit)
{
	r->rip += exit->insn_len;
	vcpu->vm->backend->set_regs(vcpu, r);
}

/* RAX, RCX, RDX and RBX of a handler that uses no other register (backend.h get_gprs4). */
static void vcpu_get_gprs4(struct vcpu *vcpu, u64 gpr[4])
{
	const struct backend_ops *b = vcpu->vm->backend;
	struct x86_regs r;

	if (b->get_gprs4) {
		b->get_gprs4(vcpu, gpr);
		return;
	}
	vcpu_get_gprs(vcpu, &r);
	memcpy(gpr, r.gpr, 4 * sizeof(u64));
}

/* Those four written back, RIP past the instruction (backend.h complete_gprs4). */
static void vcpu_complete_gprs4(struct vcpu *vcpu, const u64 gpr[4], const struct vm_exit *exit)
{
	const struct backend_ops *b = vcpu->vm->backend;
	struct x86_regs r;

	if (b->complete_gprs4) {
		b->complete_gprs4(vcpu, gpr, exit->insn_len);
		return;
	}
	vcpu_get_gprs(vcpu, &r);
	memcpy(r.gpr, gpr, 4 * sizeof(u64));
	vcpu_complete_insn(vcpu, &r, exit);
}

/* Instructions the VMM answers with nothing but "done": advance RIP. */
static int vcpu_skip_insn(struct vcpu *vcpu, struct vm_exit *exit)
{
	struct x86_regs r;

	vcpu_get_gprs(vcpu, &r);
	vcpu_complete_insn(vcpu, &r, exit);
	return 0;
}

static int vcpu_inject(struct vcpu *vcpu, u8 vector, bool has_error, u32 error)
{
	vcpu->vm->backend->inject_exception(vcpu, vector, has_error, error);
	return 0;
}

static int handle_triple_fault(struct vcpu *vcpu, struct vm_exit *exit);

/* A #PF exit under shadow paging: handle_shadow_pf decides whether the guest caused it (a #PF
   of its own, MMIO) for HC_LAST_EXIT, not the shadow filling itself in. */
static bool vmm_shadow_pf(const struct vcpu *vcpu, const struct vm_exit *exit)
{
	return vcpu->shadow && (exit->reason & 0xffff) == EXIT_REASON_EXCEPTION_NMI &&
	       (exit->intr_info & INTR_INFO_VALID) && INTR_INFO_VECTOR(exit->intr_info) == X86_PF_VEC &&
	       INTR_INFO_TYPE(exit->intr_info) == INTR_TYPE_HARD_EXCEPTION;
}

static bool vcpu_long_mode(const struct x86_sregs *s)
{
	return (s->efer & EFER_LMA) && (s->seg[SEG_CS].ar & AR_L);
}

/*
 * A #PF exit under shadow paging (vmm/shadow.h). When the shadow answers it, the event whose
 * delivery it interrupted (a stack or IDT page not yet shadowed) is delivered again (28.2.4).
 * When it is the guest's own fault it is delivered with the guest's error code and CR2; during
 * the delivery of another exception the two combine as SDM vol. 3A 6.15 Table 6-5 says: a #PF
 * while delivering a #PF is a #DF, while delivering a #DF a triple fault (shutdown); after
 * benign or contributory events the #PF is delivered alone.
 */
static int handle_shadow_pf(struct vcpu *vcpu, struct vm_exit *exit)
{
	const struct backend_ops *b = vcpu->vm->backend;
	u32 vect = exit->idt_vectoring_info, ec = 0;
	struct x86_sregs s;
	struct x86_regs r;
	struct vm_exit e;
	bool flush;
	u64 gpa;

	b->get_sregs(vcpu, &s);
	b->get_regs(vcpu, &r);
	switch (shadow_page_fault(vcpu, exit->qual, exit->intr_error, (s.seg[SEG_SS].ar >> 5) & 3,
				  r.rflags, &ec, &gpa, &flush)) {
	case SHADOW_STOP:
		return 0;
	case SHADOW_FIXED:
		/* The VMM's own business, like the host's timer: not the guest's last exit. */
		if (flush && b->flush_tlb)
			b->flush_tlb(vcpu, false, exit->qual);
		if (shadow_want_mtf(vcpu) && b->set_event_window)
			b->set_event_window(vcpu, BACKEND_WINDOW_MTF, true);
		if ((vect & INTR_INFO_VALID) && b->reinject)
			b->reinject(vcpu, vect, exit->idt_vectoring_error, exit->insn_len);
		return 0;
	case SHADOW_MMIO:
		/* As handle_ept_violation would see it: bit 1 a write, bit 2 a fetch, bits 7-8 a
		   linear access to the final translation (Table 28-7). */
		vcpu->last_exit = *exit;
		if (vect & INTR_INFO_VALID) {
			vm_request_stop(vcpu->vm, EXIT_STATUS_STOPPED,
					"guest delivers an event through MMIO at GPA %#" PRIx64
					" (RIP %#" PRIx64 "): its IDT, GDT or stack is not in RAM",
					gpa, exit->rip);
			return 0;
		}
		if (exit->intr_error & PFEC_I) {
			vm_request_stop(vcpu->vm, EXIT_STATUS_STOPPED,
					"guest executes from GPA %#" PRIx64 " (not RAM) at RIP %#" PRIx64,
					gpa, exit->rip);
			return 0;
		}
		e = *exit;
		e.guest_phys = gpa;
		e.guest_linear = exit->qual;
		e.qual = (exit->intr_error & PFEC_W ? BIT(1) : BIT(0)) | BIT(7) | BIT(8);
		return mmio_emulate(vcpu, &e);
	case SHADOW_GUEST_FAULT:
		vcpu->last_exit = *exit;
		break;
	}
	if (flush && b->flush_tlb)
		b->flush_tlb(vcpu, false, exit->qual);
	s.cr2 = exit->qual;
	b->set_sregs(vcpu, &s);
	if ((vect & INTR_INFO_VALID) && INTR_INFO_TYPE(vect) == INTR_TYPE_HARD_EXCEPTION) {
		if (INTR_INFO_VECTOR(vect) == X86_DF_VEC)
			return handle_triple_fault(vcpu, exit);
		if (INTR_INFO_VECTOR(vect) == X86_PF_VEC)
			return vcpu_inject(vcpu, X86_DF_VEC, true, 0);
	}
	return vcpu_inject(vcpu, X86_PF_VEC, true, ec);
}

/*
 * Exception or NMI (SDM 28.2.2: VM-exit interruption information). Vectors in the policy's
 * exception bitmap are reflected to the guest as they were (a #PF with its CR2); an NMI is the
 * host's and needs nothing; anything else the policy did not ask for stops the run.
 */
static int handle_exception_nmi(struct vcpu *vcpu, struct vm_exit *exit)
{
	u32 info = exit->intr_info, type = INTR_INFO_TYPE(info);
	u8 vector = INTR_INFO_VECTOR(info);

	if (!(info & INTR_INFO_VALID))
		return handle_unexpected_exit(vcpu, exit);
	if (type == INTR_TYPE_NMI)
		return 0;
	if (type != INTR_TYPE_HARD_EXCEPTION || !(vmm_exception_bitmap(vcpu->vm) & BIT(vector)))
		return handle_unexpected_exit(vcpu, exit);
	if (vector == X86_PF_VEC && vcpu->shadow)
		return handle_shadow_pf(vcpu, exit);
	if (vector == X86_PF_VEC) {
		struct x86_sregs s;

		/* The qualification holds the faulting linear address; CR2 is not yet set. */
		vcpu->vm->backend->get_sregs(vcpu, &s);
		s.cr2 = exit->qual;
		vcpu->vm->backend->set_sregs(vcpu, &s);
	}
	return vcpu_inject(vcpu, vector, info & INTR_INFO_DELIVER_CODE, exit->intr_error);
}

void vmm_vcpu_stop_halted(struct vcpu *vcpu)
{
	struct x86_regs r;
	u64 rip;

	vcpu->vm->backend->get_regs(vcpu, &r);
	rip = r.rip - 1; /* the vCPU halted past its one-byte HLT */
	if (!(r.rflags & X86_IF))
		vm_request_stop(vcpu->vm, EXIT_STATUS_STOPPED,
				"guest halted with interrupts disabled at RIP %#" PRIx64, rip);
	else
		vm_request_stop(vcpu->vm, EXIT_STATUS_STOPPED,
				"guest halted waiting for an interrupt at RIP %#" PRIx64
				", and every interrupt source is masked or idle",
				rip);
}

/*
 * HLT exiting (SDM 26.1.3; the exit comes before the instruction, 28.2): the VMM carries out
 * the halt, as KVM's kvm_emulate_halt does: RIP past the HLT, and the vCPU waits in the run
 * loop (vmm/run.c) until an interrupt it would take arrives; with none possible the run ends.
 */
/* Under APIC virtualization the CPU delivered and EOI'd without exits: INTR, which says whether
   the halted vCPU can wake, is computed anew from the LAPIC's page (board_lapic_sync). */
static void vcpu_halt(struct vcpu *vcpu)
{
	vcpu->mp_state = VCPU_HALTED;
	if (vcpu->intc.sync)
		vcpu->intc.sync(vcpu->intc.opaque);
}

static int handle_hlt(struct vcpu *vcpu, struct vm_exit *exit)
{
	vcpu_skip_insn(vcpu, exit);
	vcpu_halt(vcpu);
	return 0;
}

/* A HLT that did not exit (hlt-exiting=off) left the vCPU in the HLT activity state (SDM 25.4.2)
   with nothing it models to wake it; RIP is past the one-byte HLT. The run loop waits for the
   interrupt that injection then delivers, which ends the HLT state (27.6.1). */
void vmm_vcpu_halted(struct vcpu *vcpu)
{
	vcpu_halt(vcpu);
}

/*
 * External interrupt (SDM 26.2, acknowledged on exit: the vector is in the interruption
 * information). The soft CPU models the host's timer this way, which is the VMM's chance to
 * notice a stop request and fire timers (vmm/run.c). A guest in the HLT activity state (a HLT
 * that did not exit, 25.4.2) waits in the run loop as after an exiting HLT.
 */
static int handle_external_interrupt(struct vcpu *vcpu, struct vm_exit *exit)
{
	const struct backend_ops *b = vcpu_ops(vcpu);

	if (b->activity_state && b->activity_state(vcpu) == GUEST_ACTIVITY_HLT)
		vcpu_halt(vcpu);
	return 0;
}

static int handle_triple_fault(struct vcpu *vcpu, struct vm_exit *exit)
{
	vm_request_stop(vcpu->vm, EXIT_STATUS_STOPPED, "guest triple fault at RIP %#" PRIx64,
			exit->rip);
	return 0;
}

/*
 * Interrupt and NMI windows (SDM 26.7.5, 26.7.6): the window is closed again and the guest
 * resumes; the run loop injects the waiting event before that entry (vmm/run.c).
 */
static int vcpu_close_window(struct vcpu *vcpu, enum backend_window window)
{
	if (vcpu_ops(vcpu)->set_event_window)
		vcpu_ops(vcpu)->set_event_window(vcpu, window, false);
	return 0;
}

static int handle_interrupt_window(struct vcpu *vcpu, struct vm_exit *exit)
{
	return vcpu_close_window(vcpu, BACKEND_WINDOW_INTERRUPT);
}

static int handle_nmi_window(struct vcpu *vcpu, struct vm_exit *exit)
{
	return vcpu_close_window(vcpu, BACKEND_WINDOW_NMI);
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
	struct x86_sregs s;
	u64 gpr[4];
	u32 out[4], leaf, subleaf;

	vcpu_get_gprs4(vcpu, gpr);
	leaf = (u32)gpr[R_RAX];
	subleaf = (u32)gpr[R_RCX];
	stats_note_cpuid(&vcpu->vm->stats, leaf);
	cpuid_lookup(leaf, subleaf, out);
	/*
	 * Leaf 1 is the vCPU's own (SDM vol. 2A CPUID): its APIC ID and MONITOR as cpuid_vcpu says
	 * for both backends; ECX.OSXSAVE follows CR4 (the segments and CRs are read for this leaf
	 * alone: the exit's most frequent leaves cost no sregs); x2APIC and TSC-deadline as its
	 * LAPIC offers them. Without MONITOR/MWAIT the guest idles with HLT and wakes its peers
	 * with IPIs.
	 */
	if (leaf == 1) {
		vcpu->vm->backend->get_sregs(vcpu, &s);
		cpuid_adjust(1, s.cr4, out);
		cpuid_vcpu(1, vcpu->id, vcpu->vm->nr_vcpus, out);
		board_cpuid_lapic(vcpu, out);
	}
	kvmclock_cpuid(vcpu->vm, leaf, out);
	vmm_policy_cpuid(vcpu->vm, leaf, subleaf, out);
	gpr[R_RAX] = out[CPUID_EAX];
	gpr[R_RBX] = out[CPUID_EBX];
	gpr[R_RCX] = out[CPUID_ECX];
	gpr[R_RDX] = out[CPUID_EDX];
	vcpu_complete_gprs4(vcpu, gpr, exit);
	return 0;
}

/*
 * RDMSR/WRMSR: the interrupt controller's MSRs (the local APIC's, vcpu_intc), the VMM-held
 * MSRs (vmm/msr.c), then, when the MSR bitmap is off and the CPU's own MSRs exit too, the CPU's.
 * Anything else: #GP(0), RIP stays on the instruction.
 */
static int handle_msr_read(struct vcpu *vcpu, struct vm_exit *exit)
{
	const struct backend_ops *b = vcpu->vm->backend;
	u64 value, gpr[4];
	u32 index;
	int err;

	vcpu_get_gprs4(vcpu, gpr);
	index = (u32)gpr[R_RCX];
	stats_note_msr(&vcpu->vm->stats, index, false);
	err = vcpu->intc.rdmsr ? vcpu->intc.rdmsr(vcpu->intc.opaque, index, &value) : -ENOENT;
	if (err == -ENOENT)
		err = msr_policy_read(vcpu->msr_values, index, &value);
	if (err == -ENOENT)
		err = b->get_msr ? b->get_msr(vcpu, index, &value) : -ENOENT;
	if (err)
		return vcpu_inject(vcpu, X86_GP, true, 0);
	gpr[R_RAX] = (u32)value;
	gpr[R_RDX] = value >> 32;
	vcpu_complete_gprs4(vcpu, gpr, exit);
	return 0;
}

static int handle_msr_write(struct vcpu *vcpu, struct vm_exit *exit)
{
	const struct backend_ops *b = vcpu->vm->backend;
	u64 value, gpr[4];
	u32 index;
	int err;

	vcpu_get_gprs4(vcpu, gpr);
	index = (u32)gpr[R_RCX];
	stats_note_msr(&vcpu->vm->stats, index, true);
	value = (u32)gpr[R_RAX] | (gpr[R_RDX] << 32);
	/* The LAPIC's, then the VMM's MSRs; then one the CPU holds (it exits only with the MSR bitmap off),
	   which the backend applies with the VMCS guest-state copy (backend.h set_msr). */
	err = vcpu->intc.wrmsr ? vcpu->intc.wrmsr(vcpu->intc.opaque, index, value) : -ENOENT;
	if (err == -ENOENT)
		err = msr_policy_write(vcpu->msr_values, index, value);
	if (err == -ENOENT && b->set_msr)
		err = b->set_msr(vcpu, index, value);
	if (err)
		return vcpu_inject(vcpu, X86_GP, true, 0);
	vcpu_complete_gprs4(vcpu, gpr, exit);
	return 0;
}

/* The hypercall ABI of vmm/hypercall.h. */
static u64 vcpu_last_exit_field(struct vcpu *vcpu, u64 field)
{
	const struct vm_exit *e = &vcpu->last_exit;

	switch (field) {
	case HC_EXIT_REASON:
		return e->reason;
	case HC_EXIT_QUAL:
		return e->qual;
	case HC_EXIT_INSN_LEN:
		return e->insn_len;
	case HC_EXIT_GUEST_LINEAR:
		return e->guest_linear;
	case HC_EXIT_GUEST_PHYS:
		return e->guest_phys;
	case HC_EXIT_INSN_INFO:
		return e->insn_info;
	case HC_EXIT_INTR_INFO:
		return e->intr_info;
	case HC_EXIT_INTR_ERROR:
		return e->intr_error;
	case HC_EXIT_IDT_VECTORING_INFO:
		return e->idt_vectoring_info;
	case HC_EXIT_RIP:
		return e->rip;
	}
	return (u64)(s64)HC_EINVAL;
}

static int handle_vmcall(struct vcpu *vcpu, struct vm_exit *exit)
{
	const struct backend_ops *b = vcpu->vm->backend;
	struct x86_sregs s;
	struct x86_regs r;
	u64 arg;

	b->get_regs(vcpu, &r);
	b->get_sregs(vcpu, &s);
	arg = r.gpr[R_RBX];
	if (AR_DPL(s.seg[SEG_SS].ar) != 0)
		r.gpr[R_RAX] = (u64)(s64)HC_EPERM;
	else if (r.gpr[R_RAX] == HC_GET_VERSION)
		r.gpr[R_RAX] = HC_ABI_VERSION;
	else if (r.gpr[R_RAX] == HC_LAST_EXIT)
		r.gpr[R_RAX] = vcpu_last_exit_field(vcpu, arg);
	else if (r.gpr[R_RAX] == HC_EXIT_COUNT)
		r.gpr[R_RAX] = arg < EXIT_REASON_MAX ? vcpu->exit_counts[arg] : (u64)(s64)HC_EINVAL;
	else
		r.gpr[R_RAX] = (u64)(s64)HC_ENOSYS;
	vcpu_complete_insn(vcpu, &r, exit);
	return 0;
}

/* VMX instructions (reasons 19-27, 50, 53, 59): the guest has no VMX (CPUID.1:ECX.VMX = 0). */
static int handle_vmx_insn(struct vcpu *vcpu, struct vm_exit *exit)
{
	return vcpu_inject(vcpu, X86_UD, false, 0);
}

/*
 * MONITOR is a NOP (nothing is armed: see MWAIT). Their #GP for ECX extensions the CPU lacks
 * (CPUID.5:ECX reads 0, so any nonzero ECX) is not among the faults that take priority over the
 * VM exit (SDM 26.1.1), so the VMM raises it.
 *
 * MWAIT (SDM vol. 2B MWAIT; vol. 3A 9.10.4): with one vCPU and RFLAGS.IF = 1 it waits as HLT
 * does (Linux's idle is STI; MWAIT). With ECX = 0, an unmasked interrupt ends the wait, as it
 * ends HLT; with IF = 0 nothing but a store would, so it returns at once (a permitted spurious
 * wakeup, and what a guest polling with MWAIT expects); a store to the monitored range can only
 * come from the vCPU itself (it is not waiting then) or a device, and the SDM lets MWAIT
 * return for any reason, never requiring it to sleep. Linux idles with MWAIT when CPUID offers
 * MONITOR: as a NOP its idle loop spun, never letting the run loop wait for host input. With
 * more vCPUs another one's store would have to wake it, which the run loop does not watch for:
 * there MWAIT stays a NOP (correct, and as busy as a PAUSE loop), and CPUID does not offer it.
 */
static int handle_monitor_mwait(struct vcpu *vcpu, struct vm_exit *exit)
{
	struct x86_regs r;

	vcpu->vm->backend->get_regs(vcpu, &r);
	if ((u32)r.gpr[R_RCX])
		return vcpu_inject(vcpu, X86_GP, true, 0);
	vcpu_complete_insn(vcpu, &r, exit);
	if (exit->reason == EXIT_REASON_MWAIT_INSTRUCTION && vcpu->vm->nr_vcpus == 1 &&
	    (r.rflags & X86_IF))
		vcpu->mp_state = VCPU_HALTED;
	return 0;
}

/* RDPMC: no PMU is exposed (CPUID leaf 0AH reads 0), so every counter is invalid: #GP(0). */
static int handle_rdpmc(struct vcpu *vcpu, struct vm_exit *exit)
{
	return vcpu_inject(vcpu, X86_GP, true, 0);
}

static int handle_rdtsc(struct vcpu *vcpu, struct vm_exit *exit)
{
	const struct backend_ops *b = vcpu_ops(vcpu);
	struct x86_regs r;
	/* The exiting instruction's TSC: L2's when L0 answers an RDTSC L1 did not intercept. */
	u64 tsc = b->exit_tsc ? b->exit_tsc(vcpu) : vm_vcpu_guest_tsc(vcpu);

	vcpu->vm->backend->get_regs(vcpu, &r);
	r.gpr[R_RAX] = (u32)tsc;
	r.gpr[R_RDX] = tsc >> 32;
	if ((exit->reason & 0xffff) == EXIT_REASON_RDTSCP) {
		u64 aux = 0;

		if (b->get_msr && b->get_msr(vcpu, MSR_IA32_TSC_AUX, &aux))
			aux = 0;
		r.gpr[R_RCX] = (u32)aux;
	}
	vcpu_complete_insn(vcpu, &r, exit);
	return 0;
}

/* INVLPG with EPT off (shadow paging): the qualification is the linear address (28.2.1). */
static int handle_invlpg(struct vcpu *vcpu, struct vm_exit *exit)
{
	bool all = vcpu->shadow && shadow_invlpg(vcpu, exit->qual);

	if (vcpu_ops(vcpu)->flush_tlb)
		vcpu_ops(vcpu)->flush_tlb(vcpu, all, exit->qual);
	return vcpu_skip_insn(vcpu, exit);
}

/* INVPCID (exits with "INVLPG exiting" and "enable INVPCID", 26.1.3): flush the vCPU's TLB. */
static int handle_invpcid(struct vcpu *vcpu, struct vm_exit *exit)
{
	struct x86_regs r;
	u64 type;

	vcpu->vm->backend->get_regs(vcpu, &r);
	type = r.gpr[(exit->insn_info >> 28) & 15]; /* reg2 (Table 28-14) */
	if (type > 3)
		return vcpu_inject(vcpu, X86_GP, true, 0);
	if (vcpu->shadow)
		shadow_flush(vcpu);
	if (vcpu_ops(vcpu)->flush_tlb)
		vcpu_ops(vcpu)->flush_tlb(vcpu, true, 0);
	vcpu_complete_insn(vcpu, &r, exit);
	return 0;
}

/*
 * XSETBV (exits unconditionally, 26.1.2; the CPU raised #UD and the CPL #GP before exiting): the
 * VMM applies the instruction's rules (SDM vol. 2 XSETBV, vol. 1 13.3) against the XCR0 bits its
 * CPUID leaf 0DH offers: ECX must be 0, bit 0 set, no bit CPUID does not offer, AVX only with
 * SSE; else #GP(0). The kvm backend never exits here (KVM runs XSETBV itself).
 */
static int handle_xsetbv(struct vcpu *vcpu, struct vm_exit *exit)
{
	const struct backend_ops *b = vcpu_ops(vcpu);
	struct x86_regs r;
	u32 leaf_d[4];
	u64 v, offered;

	vcpu->vm->backend->get_regs(vcpu, &r);
	cpuid_lookup(0xd, 0, leaf_d);
	offered = leaf_d[CPUID_EAX] | (u64)leaf_d[CPUID_EDX] << 32;
	v = (u32)r.gpr[R_RAX] | r.gpr[R_RDX] << 32;
	if ((u32)r.gpr[R_RCX] != 0 || !(v & BIT(0)) || (v & ~offered) ||
	    ((v & BIT(2)) && !(v & BIT(1))))
		return vcpu_inject(vcpu, X86_GP, true, 0);
	/* The soft CPU takes XCR0 here; a backend without one has nothing to load (KVM would take
	   KVM_SET_XCRS, but handles XSETBV in the kernel). */
	if (b->set_xcr0 && b->set_xcr0(vcpu, v))
		return handle_unexpected_exit(vcpu, exit);
	vcpu_complete_insn(vcpu, &r, exit);
	return 0;
}

/*
 * RDRAND and RDSEED with "RDRAND/RDSEED exiting" (exits 57, 61; SDM vol. 3C 26.1.3): the VMM
 * completes the instruction with the host's random bytes (getrandom, not blocking): destination
 * register in instruction-information bits 6:3, operand size in 12:11 (28.2.5); CF = 1 on
 * success, else CF = 0 and 0 in the register; OF SF ZF AF PF cleared.
 */
static int handle_rdrand(struct vcpu *vcpu, struct vm_exit *exit)
{
	static const unsigned sizes[4] = { 2, 4, 8, 8 };
	unsigned reg = (exit->insn_info >> 3) & 15, n = sizes[(exit->insn_info >> 11) & 3];
	struct x86_regs r;
	u64 v = 0;

	vcpu->vm->backend->get_regs(vcpu, &r);
	r.rflags &= ~(u64)X86_ARITH_FLAGS;
	if (getrandom(&v, n, GRND_NONBLOCK) == (ssize_t)n)
		r.rflags |= X86_CF;
	else
		v = 0;
	if (n == 2)
		r.gpr[reg] = (r.gpr[reg] & ~0xffffull) | (u16)v;
	else
		r.gpr[reg] = n == 4 ? (u32)v : v;
	vcpu_complete_insn(vcpu, &r, exit);
	return 0;
}

/*
 * Control-register access (SDM 28.2.1, Table 28-3): bits 3:0 CR, 5:4 type (0 MOV to CR, 1 MOV
 * from CR, 2 CLTS, 3 LMSW), 11:8 GPR, 31:16 the LMSW source. The VMM applies the instruction's
 * own rules (SDM vol. 2B MOV to/from CR, CLTS, LMSW) and sets the guest-visible values.
 */
#define CR0_RESERVED_HI (~0xffffffffull)
#define CR4_GUEST_BITS                                                                             \
	(CR4_TSD | CR4_DE | CR4_PSE | CR4_PAE | CR4_PGE | CR4_SMEP | CR4_SMAP | CR4_OSFXSR |       \
	 CR4_OSXMMEXCPT | CR4_FSGSBASE | CR4_OSXSAVE)

static bool vcpu_set_cr0(struct x86_sregs *s, u64 val)
{
	if ((val & CR0_RESERVED_HI) || ((val & CR0_PG) && !(val & CR0_PE)) ||
	    ((val & CR0_NW) && !(val & CR0_CD)))
		return false;
	if ((val & CR0_PG) && !(s->cr0 & CR0_PG) && (s->efer & EFER_LME)) {
		if (!(s->cr4 & CR4_PAE))
			return false;
		s->efer |= EFER_LMA; /* IA-32e mode activation (SDM vol. 3A 10.8.5) */
	} else if (!(val & CR0_PG) && (s->efer & EFER_LMA)) {
		s->efer &= ~EFER_LMA;
	}
	s->cr0 = val | CR0_ET;
	return true;
}

static int handle_cr_access(struct vcpu *vcpu, struct vm_exit *exit)
{
	const struct backend_ops *b = vcpu->vm->backend;
	unsigned cr = exit->qual & 15, type = (exit->qual >> 4) & 3, gpr = (exit->qual >> 8) & 15;
	struct x86_sregs s;
	struct x86_regs r;
	bool ok = true;
	u64 val;

	b->get_regs(vcpu, &r);
	b->get_sregs(vcpu, &s);
	val = vcpu_long_mode(&s) ? r.gpr[gpr] : (u32)r.gpr[gpr];
	switch (type) {
	case 0: /* MOV to CR */
		if (cr == 0) {
			ok = vcpu_set_cr0(&s, val);
		} else if (cr == 3) {
			s.cr3 = val & ~BIT(63); /* bit 63: PCID no-flush, not stored */
			if (vcpu->shadow) /* a load flushes, even of the same value (4.10.4.1) */
				shadow_cr3_load(vcpu);
		} else if (cr == 4) {
			/* CR4.VMXE is reserved unless CPUID offers VMX (nested VMX, SDM 2.5). */
			ok = !(val & ~(u64)(CR4_GUEST_BITS |
					    (vmm_nested(vcpu->vm) ? CR4_VMXE : 0))) &&
			     !((s.efer & EFER_LMA) && !(val & CR4_PAE));
			if (ok)
				s.cr4 = val;
		} else if (cr == 8) {
			/* Bits 63:4 reserved: #GP (SDM vol. 3A 2.5). The controller's TPR when it
			   has one (11.8.6.1), else the CPU's CR8. */
			ok = !(val & ~0xfull);
			if (ok && vcpu->intc.set_cr8)
				vcpu->intc.set_cr8(vcpu->intc.opaque, (u8)val);
			else if (ok)
				s.cr8 = val;
		} else {
			return handle_unexpected_exit(vcpu, exit);
		}
		break;
	case 1: /* MOV from CR */
		if (cr == 3)
			r.gpr[gpr] = vcpu_long_mode(&s) ? s.cr3 : (u32)s.cr3;
		else if (cr == 8)
			r.gpr[gpr] = vcpu->intc.get_cr8 ? vcpu->intc.get_cr8(vcpu->intc.opaque) : s.cr8;
		else
			return handle_unexpected_exit(vcpu, exit);
		break;
	case 2: /* CLTS */
		s.cr0 &= ~(u64)CR0_TS;
		break;
	case 3: /* LMSW: PE, MP, EM, TS only; it cannot clear PE */
		val = (exit->qual >> 16) & 0xf;
		ok = vcpu_set_cr0(&s, (s.cr0 & ~0xeull) | val | (s.cr0 & CR0_PE));
		break;
	}
	if (!ok)
		return vcpu_inject(vcpu, X86_GP, true, 0);
	/* The backend keeps the guest-state CRs, their shadows and "IA-32e mode guest". */
	b->set_sregs(vcpu, &s);
	vcpu_complete_insn(vcpu, &r, exit);
	return 0;
}

/*
 * MOV DR (SDM 28.2.1, Table 28-4). As KVM does, the first access hands the debug registers to
 * the guest: MOV-DR exiting goes off and the instruction runs again, natively.
 */
static int handle_dr_access(struct vcpu *vcpu, struct vm_exit *exit)
{
	const struct backend_ops *b = vcpu_ops(vcpu);

	if (!b->pass_debug_regs || b->pass_debug_regs(vcpu))
		return handle_unexpected_exit(vcpu, exit);
	return 0;
}

/*
 * Descriptor-table exits (SDM 28.2.5, Table 28-10): the instruction does not run, so the VMM
 * emulates it. The instruction information gives the memory operand: bits 1:0 scale, 9:7 address
 * size, 11 operand size, 17:15 segment, 21:18 index (22 invalid), 26:23 base (27 invalid),
 * 29:28 which instruction (SGDT, SIDT, LGDT, LIDT); the qualification is the displacement.
 */
static int vcpu_write_guest_virt(struct vcpu *vcpu, u64 lin, const void *buf, size_t len)
{
	const struct backend_ops *b = vcpu_ops(vcpu);

	return b->write_guest_virt ? b->write_guest_virt(vcpu, lin, buf, len) : -EFAULT;
}

/*
 * Is the instruction at the exit's RIP (0F 00 or 0F 01 with a ModRM) RIP-relative? The
 * instruction information reports such an operand like an absolute disp32, base and index
 * invalid (Tables 28-10, 28-11), so the VMM looks at the ModRM byte (SDM vol. 2A 2.2.1.6).
 */
static bool vcpu_insn_rip_relative(struct vcpu *vcpu, const struct vm_exit *exit)
{
	u8 b[15];
	unsigned i = 0;

	if (exit->insn_len > sizeof(b) || !vcpu->vm->backend->read_guest_virt ||
	    vcpu->vm->backend->read_guest_virt(vcpu, exit->rip, b, exit->insn_len))
		return false;
	while (i < exit->insn_len &&
	       (b[i] == 0x66 || b[i] == 0x67 || b[i] == 0xf2 || b[i] == 0xf3 ||
		(b[i] & 0xe7) == 0x26 || b[i] == 0x64 || b[i] == 0x65 || (b[i] & 0xf0) == 0x40))
		i++;
	return i + 2 < exit->insn_len && b[i] == 0x0f && (b[i + 1] == 0x00 || b[i + 1] == 0x01) &&
	       (b[i + 2] & 0xc7) == 0x05;
}

/* The linear address of a descriptor-table instruction's memory operand (Tables 28-10, 28-11). */
static u64 vcpu_insn_mem_linear(struct vcpu *vcpu, const struct vm_exit *exit,
				const struct x86_regs *r, const struct x86_sregs *s)
{
	u32 info = exit->insn_info, addr_size = (info >> 7) & 7, seg = (info >> 15) & 7;
	u64 ea = exit->qual, lin;

	if (!(info & BIT(27)))
		ea += r->gpr[(info >> 23) & 15];
	if (!(info & BIT(22)))
		ea += r->gpr[(info >> 18) & 15] << (info & 3);
	if (vcpu_long_mode(s) && (info & BIT(27)) && (info & BIT(22)) &&
	    vcpu_insn_rip_relative(vcpu, exit))
		ea += exit->rip + exit->insn_len;
	ea = addr_size == 0 ? (u16)ea : addr_size == 1 ? (u32)ea : ea;
	/* In 64-bit mode only FS and GS have bases (SDM vol. 3A 3.4.4). */
	lin = ea + (vcpu_long_mode(s) && seg < SEG_FS ? 0 : s->seg[seg < 6 ? seg : SEG_DS].base);
	return vcpu_long_mode(s) ? lin : (u32)lin;
}

static int handle_gdtr_idtr(struct vcpu *vcpu, struct vm_exit *exit)
{
	const struct backend_ops *b = vcpu->vm->backend;
	u32 info = exit->insn_info, which = (info >> 28) & 3;
	struct x86_dtable *dt;
	struct x86_sregs s;
	struct x86_regs r;
	u8 buf[10] = { 0 };
	unsigned base_len;
	u64 lin;

	b->get_regs(vcpu, &r);
	b->get_sregs(vcpu, &s);
	lin = vcpu_insn_mem_linear(vcpu, exit, &r, &s);
	dt = which == 0 || which == 2 ? &s.gdt : &s.idt;
	base_len = vcpu_long_mode(&s) ? 8 : 4;
	if (which >= 2) { /* LGDT, LIDT: CPL 0 only (the CPU checked before exiting) */
		if (!b->read_guest_virt || b->read_guest_virt(vcpu, lin, buf, 2 + base_len))
			return vcpu_inject(vcpu, X86_GP, true, 0);
		dt->limit = (u16)(buf[0] | buf[1] << 8);
		dt->base = 0;
		memcpy(&dt->base, buf + 2, base_len);
		if (!vcpu_long_mode(&s) && !(info & BIT(11)))
			dt->base &= 0xffffff; /* 16-bit operand size: 24-bit base */
		b->set_sregs(vcpu, &s);
	} else { /* SGDT, SIDT */
		buf[0] = (u8)dt->limit;
		buf[1] = (u8)(dt->limit >> 8);
		memcpy(buf + 2, &dt->base, base_len);
		if (vcpu_write_guest_virt(vcpu, lin, buf, 2 + base_len))
			return vcpu_inject(vcpu, X86_GP, true, 0);
	}
	vcpu_complete_insn(vcpu, &r, exit);
	return 0;
}

/*
 * LLDT/LTR: load LDTR or TR from a GDT descriptor (SDM vol. 2A LLDT, vol. 2B LTR): a null
 * selector makes LDTR unusable (LTR: #GP); otherwise the descriptor must be in the GDT, of the
 * right system type (2 LDT, 9 available TSS) and present, or #GP(selector) / #NP(selector).
 * LTR marks the TSS busy in the GDT. Returns 0, or the vector of the fault (error code: the
 * selector with RPL cleared).
 */
static int vcpu_load_system_seg(struct vcpu *vcpu, struct x86_sregs *s, bool tr, u16 sel)
{
	unsigned len = vcpu_long_mode(s) ? 16 : 8;
	struct x86_segment *seg = &s->seg[tr ? SEG_TR : SEG_LDTR];
	u8 d[16] = { 0 };
	u64 lo, hi = 0, lin = s->gdt.base + (sel & ~7u);
	u32 limit;

	if (!(sel & ~3u) && !tr) {
		*seg = (struct x86_segment){ .sel = sel, .ar = AR_UNUSABLE };
		return 0;
	}
	if ((sel & 4) || !(sel & ~3u) || (sel | 7u) + (len - 8) > s->gdt.limit ||
	    !vcpu->vm->backend->read_guest_virt ||
	    vcpu->vm->backend->read_guest_virt(vcpu, lin, d, len))
		return X86_GP;
	memcpy(&lo, d, 8);
	memcpy(&hi, d + 8, 8);
	if (((lo >> 40) & 0x1f) != (tr ? 9u : 2u))
		return X86_GP;
	if (!(lo & BIT(47)))
		return X86_NP;
	if (tr) {
		d[5] |= 2; /* busy */
		if (vcpu_write_guest_virt(vcpu, lin + 5, &d[5], 1))
			return X86_GP;
		lo |= BIT(41);
	}
	limit = (u32)((lo & 0xffff) | ((lo >> 32) & 0xf0000));
	if (lo & BIT(55))
		limit = limit << 12 | 0xfff;
	*seg = (struct x86_segment){
		.sel = sel,
		.base = ((lo >> 16) & 0xffffff) | ((lo >> 32) & 0xff000000) |
			(len == 16 ? (hi & 0xffffffff) << 32 : 0),
		.limit = limit,
		.ar = (u32)(((lo >> 40) & 0xff) | ((lo >> 40) & 0xf000)),
	};
	return 0;
}

/*
 * SLDT, STR, LLDT, LTR (Table 28-11: bit 10 register operand, reg1 in bits 6:3; identity in
 * 29:28). A register destination gets the selector in its low 16 bits.
 */
static int handle_ldtr_tr(struct vcpu *vcpu, struct vm_exit *exit)
{
	const struct backend_ops *b = vcpu->vm->backend;
	u32 info = exit->insn_info, which = (info >> 28) & 3, reg = (info >> 3) & 15;
	bool is_reg = info & BIT(10);
	struct x86_sregs s;
	struct x86_regs r;
	u64 lin = 0;
	u16 sel;

	b->get_regs(vcpu, &r);
	b->get_sregs(vcpu, &s);
	if (!is_reg)
		lin = vcpu_insn_mem_linear(vcpu, exit, &r, &s);
	if (which < 2) { /* SLDT, STR */
		sel = s.seg[which ? SEG_TR : SEG_LDTR].sel;
		if (is_reg)
			r.gpr[reg] = (r.gpr[reg] & ~0xffffull) | sel;
		else if (vcpu_write_guest_virt(vcpu, lin, &sel, 2))
			return vcpu_inject(vcpu, X86_GP, true, 0);
	} else {
		if (is_reg)
			sel = (u16)r.gpr[reg];
		else if (!b->read_guest_virt || b->read_guest_virt(vcpu, lin, &sel, 2))
			return vcpu_inject(vcpu, X86_GP, true, 0);
		int vector = vcpu_load_system_seg(vcpu, &s, which == 3, sel);

		if (vector)
			return vcpu_inject(vcpu, (u8)vector, true, sel & ~3u);
		b->set_sregs(vcpu, &s);
	}
	vcpu_complete_insn(vcpu, &r, exit);
	return 0;
}

static int vmm_find_region(const struct vm *vm, u64 gpa)
{
	for (unsigned i = 0; i < vm->nr_regions; i++)
		if (gpa >= vm->regions[i].gpa && gpa - vm->regions[i].gpa < vm->regions[i].size)
			return (int)i;
	return -1;
}

/*
 * EPT violation (SDM 28.2.1, Table 28-7: bits 0-2 read/write/fetch, 3-5 the entry's
 * permissions, 7 linear address valid, 8 the access was to the final translation, not to a
 * guest paging structure). Our EPT maps all RAM RWX, so a violation is MMIO (or a hole, which the
 * bus answers like an empty ISA bus); on RAM the EPT is wrong, which is the VMM's bug.
 */
static int handle_ept_violation(struct vcpu *vcpu, struct vm_exit *exit)
{
	struct vm *vm = vcpu->vm;
	int region;

	if (exit->mmio.valid) { /* decoded by the backend (KVM_EXIT_MMIO) */
		u64 data = exit->mmio.data;

		bus_dispatch(&vm->mmio, exit->mmio.gpa, &data, exit->mmio.size, exit->mmio.write);
		if (!exit->mmio.write)
			exit->mmio.data = data;
		return 0;
	}
	if (watch_ept_violation(vcpu, exit)) /* --watch-method wp: a write to a watched page */
		return 0;
	region = vmm_find_region(vm, exit->guest_phys);
	if (region >= 0 && vm->regions[region].kind == MEM_RAM)
		return vcpu_stop_with_dump(vcpu, exit,
					   "EPT violation on RAM (the VMM's EPT is wrong):");
	if (!(exit->qual & BIT(7)) || !(exit->qual & BIT(8))) {
		/* The guest's own mistake (CR3 or a paging entry points past RAM): one line. */
		if (vm->debug_dump)
			vcpu_dump_state(vcpu, exit);
		vm_request_stop(vm, EXIT_STATUS_STOPPED,
				"guest paging structures outside RAM: the page walk for linear "
				"address %#" PRIx64 " at RIP %#" PRIx64 " reaches guest-physical "
				"%#" PRIx64 ", which is not RAM (%lluM of it at 0)%s",
				exit->guest_linear, exit->rip, exit->guest_phys,
				(unsigned long long)(vm->ram_size >> 20), vcpu_dump_hint(vcpu));
		return 0;
	}
	if (exit->qual & BIT(2)) {
		vm_request_stop(vm, EXIT_STATUS_STOPPED,
				"guest executes from GPA %#" PRIx64 " (not RAM) at RIP %#" PRIx64,
				exit->guest_phys, exit->rip);
		return 0;
	}
	return mmio_emulate(vcpu, exit);
}

static int handle_ept_misconfig(struct vcpu *vcpu, struct vm_exit *exit)
{
	return vcpu_stop_with_dump(vcpu, exit, "EPT misconfiguration (a VMM bug):");
}

/*
 * VM-entry failure (SDM 27.8): the guest did not run. Reason 33 with paging off and no
 * unrestricted guest is what --vmx ept=off gives a guest that starts with paging off, as ours
 * do (multiboot: protected mode, CR0.PG = 0; 27.3.1.1 requires PG and PE without unrestricted
 * guest): say so in one line.
 */
static int handle_entry_failure(struct vcpu *vcpu, struct vm_exit *exit)
{
	struct x86_sregs s;

	vcpu->vm->backend->get_sregs(vcpu, &s);
	/* (Shadow paging maps paging off and emulates real mode: its failures are dumped.) */
	if ((exit->reason & 0xffff) == EXIT_REASON_INVALID_STATE && !(s.cr0 & CR0_PG) &&
	    !vmm_policy_on(vcpu->vm, VMM_UNRESTRICTED_GUEST) && !vcpu->shadow) {
		vm_request_stop(
			vcpu->vm, EXIT_STATUS_STOPPED,
			"VM entry failed: invalid guest state: the guest runs with paging off "
			"(CR0.PG = 0), which needs unrestricted guest, which needs EPT (SDM "
			"27.3.1.1); this guest cannot run with --vmx unrestricted-guest=off "
			"while EPT is on");
		return 0;
	}
	return vcpu_stop_with_dump(vcpu, exit, "VM entry failed: exit");
}

/* Preemption timer (SDM 26.5.1): the quantum ended; re-arm it (it counted down to 0). */
static int handle_preemption_timer(struct vcpu *vcpu, struct vm_exit *exit)
{
	const struct backend_ops *b = vcpu_ops(vcpu);

	if (b->rearm_preemption_timer && vcpu->preemption_quantum)
		b->rearm_preemption_timer(vcpu, vcpu->preemption_quantum);
	return 0;
}

/*
 * Page-modification log full (SDM 29.3.6): 512 guest-physical addresses, logged from entry 511
 * down. Move them into the dirty bitmap and start the log over at 511.
 */
static int handle_pml_full(struct vcpu *vcpu, struct vm_exit *exit)
{
	const struct backend_ops *b = vcpu_ops(vcpu);
	struct vm *vm = vcpu->vm;
	const u64 *log = (const u64 *)vcpu->pml_log;
	u16 index;

	if (!log || !vm->dirty_bitmap || !b->pml_reset || b->pml_reset(vcpu, &index))
		return handle_unexpected_exit(vcpu, exit);
	if (vm->watch.nr) { /* --watch: the monitor reads the log (and fills the bitmap) */
		watch_pml_full(vcpu, log, index);
		return 0;
	}
	/* After a full log the index has wrapped to 0xffff: entries index+1 .. 511 are valid. */
	for (u32 i = index >= 512 ? 0 : index + 1u; i < 512; i++) {
		u64 pfn = log[i] >> 12;

		if (pfn < vm->ram_size >> 12)
			vm->dirty_bitmap[pfn / 64] |= 1ull << (pfn % 64);
	}
	return 0;
}

/* The monitor trap flag: --watch-method wp lets one write through, shadow paging one write
   under CR0.WP = 0 with SMAP (vmm/shadow.c); each takes its page back here. */
static int handle_mtf(struct vcpu *vcpu, struct vm_exit *exit)
{
	const struct backend_ops *b = vcpu->vm->backend;
	u64 lin;

	if (vcpu->shadow && shadow_mtf(vcpu, &lin)) {
		if (b->flush_tlb)
			b->flush_tlb(vcpu, false, lin);
		if (!vcpu->vm->watch.nr_wp_pages && b->set_event_window)
			b->set_event_window(vcpu, BACKEND_WINDOW_MTF, false);
	}
	watch_mtf(vcpu);
	return 0;
}

/* Exits that need nothing: the guest resumes where it is (TPR below threshold: the sync before
   the next entry sees the lower TPR, vmm/run.c). */
static int handle_nop_exit(struct vcpu *vcpu, struct vm_exit *exit)
{
	return 0;
}

/*
 * APIC-access exit (SDM vol. 3C 30.4, qualification Table 28-6): an access to the APIC-access
 * page the CPU did not virtualize. A linear read or write during instruction execution is
 * emulated as the MMIO access it is, at the xAPIC page's offset; anything else (a fetch, an
 * access during event delivery, a page walk) means the guest runs or keeps tables in its local
 * APIC's page, and the VM stops with that line.
 */
static int handle_apic_access(struct vcpu *vcpu, struct vm_exit *exit)
{
	unsigned type = (unsigned)(exit->qual >> 12) & 0xf, off = (unsigned)exit->qual & 0xfff;
	struct vm_exit e = *exit;

	if (!vcpu->intc.apic_page ||
	    (type != APIC_ACCESS_LINEAR_READ && type != APIC_ACCESS_LINEAR_WRITE)) {
		vm_request_stop(vcpu->vm, EXIT_STATUS_STOPPED,
				"APIC-access exit of type %u at offset %#x, RIP %#" PRIx64
				": the guest executes, delivers an event or walks page tables "
				"through its local APIC's page",
				type, off, exit->rip);
		return 0;
	}
	/* As an EPT violation's qualification would say it: bit 1 for a write. */
	e.guest_phys = vcpu->intc.apic_page(vcpu->intc.opaque) + off;
	e.qual = type == APIC_ACCESS_LINEAR_WRITE ? BIT(1) : BIT(0);
	return mmio_emulate(vcpu, &e);
}

/* EOI-induced exit (SDM vol. 3C 30.1.4): the CPU virtualized the EOI of a vector in the
   EOI-exit bitmap (level-triggered); the LAPIC does the rest (the IOAPIC's EOI). Trap-like. */
static int handle_eoi_induced(struct vcpu *vcpu, struct vm_exit *exit)
{
	if (vcpu->intc.eoi_vector)
		vcpu->intc.eoi_vector(vcpu->intc.opaque, (u8)exit->qual);
	return 0;
}

/* APIC-write exit (SDM vol. 3C 30.4.3.3): the write is on the virtual-APIC page, which is the
   LAPIC's; the LAPIC does what writing the register does. Trap-like. */
static int handle_apic_write(struct vcpu *vcpu, struct vm_exit *exit)
{
	if (vcpu->intc.apic_write)
		vcpu->intc.apic_write(vcpu->intc.opaque, (unsigned)exit->qual & 0xfff);
	return 0;
}

/*
 * Exit handlers, indexed by basic exit reason (SDM vol. 3D appendix C), in the manner of Linux's
 * kvm_vmx_exit_handlers. Contract: a handler gets the exit record the backend filled and does
 * what the exit asks. For the instructions the VMM completes it advances RIP by exit->insn_len
 * (mmio_emulate by the decoded length); an exception it raises instead leaves RIP on the
 * instruction; I/O is completed by the backend from exit->io, MMIO decoded by the backend from
 * exit->mmio. It returns 0 to resume the guest (having called vm_request_stop() if the run must
 * end), or a negative errno when the VMM itself failed, which ends the run with
 * EXIT_STATUS_STOPPED. Reasons without an entry go to handle_unexpected_exit().
 */
typedef int (*exit_handler_fn)(struct vcpu *vcpu, struct vm_exit *exit);

static const exit_handler_fn exit_handlers[EXIT_REASON_MAX] = {
	[EXIT_REASON_EXCEPTION_NMI] = handle_exception_nmi,
	[EXIT_REASON_EXTERNAL_INTERRUPT] = handle_external_interrupt,
	[EXIT_REASON_TRIPLE_FAULT] = handle_triple_fault,
	[EXIT_REASON_INTERRUPT_WINDOW] = handle_interrupt_window,
	[EXIT_REASON_NMI_WINDOW] = handle_nmi_window,
	[EXIT_REASON_CPUID] = handle_cpuid,
	[EXIT_REASON_HLT] = handle_hlt,
	/* INVD, WBINVD: the caches are the host's; nothing to do for the guest. */
	[EXIT_REASON_INVD] = vcpu_skip_insn,
	[EXIT_REASON_INVLPG] = handle_invlpg,
	[EXIT_REASON_RDPMC] = handle_rdpmc,
	[EXIT_REASON_RDTSC] = handle_rdtsc,
	[EXIT_REASON_VMCALL] = handle_vmcall,
	[EXIT_REASON_VMCLEAR] = handle_vmx_insn,
	[EXIT_REASON_VMLAUNCH] = handle_vmx_insn,
	[EXIT_REASON_VMPTRLD] = handle_vmx_insn,
	[EXIT_REASON_VMPTRST] = handle_vmx_insn,
	[EXIT_REASON_VMREAD] = handle_vmx_insn,
	[EXIT_REASON_VMRESUME] = handle_vmx_insn,
	[EXIT_REASON_VMWRITE] = handle_vmx_insn,
	[EXIT_REASON_VMOFF] = handle_vmx_insn,
	[EXIT_REASON_VMON] = handle_vmx_insn,
	[EXIT_REASON_CR_ACCESS] = handle_cr_access,
	[EXIT_REASON_DR_ACCESS] = handle_dr_access,
	[EXIT_REASON_IO_INSTRUCTION] = handle_io,
	[EXIT_REASON_MSR_READ] = handle_msr_read,
	[EXIT_REASON_MSR_WRITE] = handle_msr_write,
	[EXIT_REASON_INVALID_STATE] = handle_entry_failure,
	[EXIT_REASON_MSR_LOAD_FAIL] = handle_entry_failure,
	[EXIT_REASON_MWAIT_INSTRUCTION] = handle_monitor_mwait,
	[EXIT_REASON_MONITOR_TRAP_FLAG] = handle_mtf,
	[EXIT_REASON_MONITOR_INSTRUCTION] = handle_monitor_mwait,
	/* PAUSE: a yield, and with one vCPU there is nothing to yield to. */
	[EXIT_REASON_PAUSE_INSTRUCTION] = vcpu_skip_insn,
	[EXIT_REASON_TPR_BELOW_THRESHOLD] = handle_nop_exit, /* trap-like; sync re-evaluates */
	[EXIT_REASON_APIC_ACCESS] = handle_apic_access,
	[EXIT_REASON_EOI_INDUCED] = handle_eoi_induced,
	[EXIT_REASON_APIC_WRITE] = handle_apic_write,
	[EXIT_REASON_GDTR_IDTR] = handle_gdtr_idtr,
	[EXIT_REASON_LDTR_TR] = handle_ldtr_tr,
	[EXIT_REASON_EPT_VIOLATION] = handle_ept_violation,
	[EXIT_REASON_EPT_MISCONFIG] = handle_ept_misconfig,
	[EXIT_REASON_INVEPT] = handle_vmx_insn,
	[EXIT_REASON_RDTSCP] = handle_rdtsc,
	[EXIT_REASON_PREEMPTION_TIMER] = handle_preemption_timer,
	[EXIT_REASON_INVVPID] = handle_vmx_insn,
	[EXIT_REASON_WBINVD] = vcpu_skip_insn,
	[EXIT_REASON_XSETBV] = handle_xsetbv,
	[EXIT_REASON_RDRAND] = handle_rdrand,
	[EXIT_REASON_RDSEED] = handle_rdrand,
	[EXIT_REASON_INVPCID] = handle_invpcid,
	[EXIT_REASON_PML_FULL] = handle_pml_full,
};

static exit_handler_fn exit_handler_for(u32 reason)
{
	u32 basic = reason & 0xffff;

	if (reason & EXIT_REASON_FAILED_VMENTRY)
		return basic == EXIT_REASON_INVALID_STATE || basic == EXIT_REASON_MSR_LOAD_FAIL
			       ? handle_entry_failure
			       : handle_unexpected_exit;
	if (basic >= EXIT_REASON_MAX || !exit_handlers[basic])
		return handle_unexpected_exit;
	return exit_handlers[basic];
}

/* Accesses no device claimed so far, on both buses (bus.h: reads get all ones). */
static u64 vm_unclaimed_accesses(const struct vm *vm)
{
	return vm->pio.unclaimed_reads + vm->pio.unclaimed_writes + vm->mmio.unclaimed_reads +
	       vm->mmio.unclaimed_writes;
}

/* The stop line for a guest that spins on an access no device answers. */
static void vcpu_stop_spinning(struct vcpu *vcpu, const struct vm_exit *exit)
{
	bool io = (exit->reason & 0xffff) == EXIT_REASON_IO_INSTRUCTION;
	bool write = io ? !exit->io.in : exit->mmio.valid ? exit->mmio.write : exit->qual & BIT(1);
	u64 where = io ? exit->io.port : exit->mmio.valid ? exit->mmio.gpa : exit->guest_phys;

	vm_request_stop(vcpu->vm, EXIT_STATUS_STOPPED,
			"guest spins on %s %s %#" PRIx64 " at RIP %#" PRIx64 ", where no device is "
			"(%s): %u times with the same registers",
			write ? "a write to" : "a read of", io ? "port" : "guest-physical", where,
			exit->rip, write ? "the write goes nowhere" : "it reads all ones",
			vcpu->storm.count);
}

/*
 * Exit-storm detection (exits.h), after the handler. `device` says whether the exit was a port
 * or MMIO access that a device claimed (1), one that no device claimed (0), or no device access
 * (-1). A storm stops the run.
 *
 * The registers compared are those after the handler, and they are read only for an exit that
 * can repeat the last by every other rule: the same reason, RIP and qualification; not a
 * device's access; and, for an exit that is no device access, fewer than 2 instructions retired
 * since (when the backend counts them). Most exits (a CPUID or an OUT to a device in a loop that
 * does anything else) read and compare none. After the handler is as good as before it: a
 * handler is a function of the exit and the registers, so the same registers before give the
 * same after, and a change it makes (a string I/O's RSI) is progress either way. An exit that
 * repeats one whose registers were not read starts the count again with its own: a storm is
 * seen one exit later, no more.
 */
static void vcpu_exit_storm(struct vcpu *vcpu, const struct vm_exit *exit, int device)
{
	const struct backend_ops *b = vcpu_ops(vcpu);
	u64 icount = b->retired ? b->retired(vcpu) : 0;
	bool maybe, same = false;
	struct x86_regs r;

	/*
	 * A device access is progress: the device sees it (a UART byte per pass is output, a
	 * status register may change). An access no device claims reads all ones and writes
	 * nowhere, so with the same registers at the same RIP the loop learns nothing new however
	 * many instructions it runs in between. Any other exit counts when the backend retired
	 * fewer than 2 instructions since the last one (or cannot count them).
	 */
	maybe = device <= 0 && vcpu->storm.count && exit->reason == vcpu->storm.reason &&
		exit->rip == vcpu->storm.rip && exit->qual == vcpu->storm.qual &&
		(device == 0 || !b->retired || icount - vcpu->storm.icount < 2);
	vcpu->storm.icount = icount;
	if (maybe) {
		/* The GPRs first: a loop that counts in one of them is progress, and its RFLAGS
		   (materialized from the soft CPU's lazy flags) need not be read. A record kept
		   without them (X86_RFLAGS_UNREAD) matches nothing: a storm is then seen one exit
		   later. */
		vcpu_get_gprs(vcpu, &r);
		same = vcpu->storm.has_regs && !memcmp(r.gpr, vcpu->storm.gpr, sizeof(r.gpr));
		if (same && r.rflags == X86_RFLAGS_UNREAD)
			b->get_regs(vcpu, &r);
		same = same && r.rflags == vcpu->storm.rflags;
	}
	if (same) {
		if (++vcpu->storm.count < VMM_EXIT_STORM_LIMIT)
			return;
		if (device == 0)
			vcpu_stop_spinning(vcpu, exit);
		else
			vm_request_stop(vcpu->vm, EXIT_STATUS_STOPPED,
					"exit storm: %s at RIP %#" PRIx64
					" (qualification %#" PRIx64
					") repeated %u times without progress",
					exit_reason_name(exit->reason), exit->rip, exit->qual,
					vcpu->storm.count);
		return;
	}
	vcpu->storm.count = 1;
	vcpu->storm.reason = exit->reason;
	vcpu->storm.rip = exit->rip;
	vcpu->storm.qual = exit->qual;
	vcpu->storm.has_regs = maybe;
	if (maybe) {
		vcpu->storm.rflags = r.rflags;
		memcpy(vcpu->storm.gpr, r.gpr, sizeof(r.gpr));
	}
}

int vmm_handle_exit(struct vcpu *vcpu, struct vm_exit *exit)
{
	u32 basic = exit->reason & 0xffff;
	int err, device = -1;
	u64 unclaimed;

	/*
	 * The record HC_LAST_EXIT reports: what the guest caused. VMCALL is the query itself; an
	 * external interrupt (the host's timer or kick) and the preemption timer are the host's,
	 * taken at any instruction boundary (SDM 26.2, 26.5.1), so they do not replace it.
	 */
	if (basic != EXIT_REASON_VMCALL && basic != EXIT_REASON_EXTERNAL_INTERRUPT &&
	    basic != EXIT_REASON_PREEMPTION_TIMER && !vmm_shadow_pf(vcpu, exit))
		vcpu->last_exit = *exit;
	vcpu->exit_counts[basic < EXIT_REASON_MAX ? basic : EXIT_REASON_MAX]++;
	/* A guest hypervisor's VMX instruction, or an exit of its guest it asked for (nested
	   VMX): the backend's (backend.h nested_exit). */
	if (vcpu->vm->backend->nested_exit && vcpu->vm->backend->nested_exit(vcpu, exit))
		return 0;
	unclaimed = vm_unclaimed_accesses(vcpu->vm);
	err = exit_handler_for(exit->reason)(vcpu, exit);
	if (basic == EXIT_REASON_IO_INSTRUCTION || basic == EXIT_REASON_EPT_VIOLATION)
		device = vm_unclaimed_accesses(vcpu->vm) == unclaimed;
	if (!err && !vcpu->vm->stop)
		vcpu_exit_storm(vcpu, exit, device);
	return err;
}
