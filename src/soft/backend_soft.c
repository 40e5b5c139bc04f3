// SPDX-License-Identifier: MIT
/*
 * The soft backend (soft/soft.h): the software x86-64 CPU (cpu/cpu.h) in VMX non-root operation
 * under a VMCS that the VMM programs (vmm/policy.c), entered and left through the VT-x model
 * (vmx/vmx.h). Register access goes through the VMCS guest-state area where the VMCS holds the
 * register, as a hardware VMM's does; the GPRs the VMCS lacks are the CPU's. The operations the
 * exit handlers need (backend.h) program this VMCS as a hardware VMM programs its own.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cpu/cpu.h"
#include "soft/internal.h"
#include "soft/nested.h"
#include "soft/soft.h"
#include "vmm/exits.h"
#include "vmm/ept.h"
#include "vmm/policy.h"
#include "vmm/shadow.h"
#include "vmm/vm.h"
#include "vmx/vmx.h"

struct vmcs *soft_vcpu_vmcs(struct vcpu *vcpu)
{
	soft_sync(vcpu);
	return &soft(vcpu)->vmcs;
}

struct cpu *soft_vcpu_cpu(struct vcpu *vcpu)
{
	return soft(vcpu)->cpu;
}

/*
 * Decoded code at VM level (cpu_config.code_pages): one byte per RAM page, shared by the vCPUs.
 * A page one vCPU decodes is write-protected in every vCPU's TLB; a write to it, by any vCPU or
 * through vm_write_phys(), drops every vCPU's blocks there. On one host thread (vmm/run.c's
 * default) that is done at once; with --vcpu-threads another vCPU's blocks and TLBs are its
 * thread's, so it is asked (cpu_invalidate_code_async, cpu_flush_tlb_async) and drops them
 * before its next block: cross-modifying code is synchronized by the guest anyway (SDM vol. 3A
 * 9.1.3), which an IPI or a serializing instruction on the other vCPU then waits for.
 */
struct soft_vm {
	u8 *code_pages;
	u64 emul_eptp; /* shadow paging's real-mode emulation: a 1:1 EPT (soft_shadow_emulate) */
};

static int soft_vm_init(struct vm *vm)
{
	struct soft_vm *sv = calloc(1, sizeof(*sv));

	if (!sv)
		return -ENOMEM;
	vm->backend_vm = sv;
	sv->code_pages = calloc(vm->ram_size >> 12, 1);
	return sv->code_pages ? 0 : -ENOMEM;
}

static void soft_vm_destroy(struct vm *vm)
{
	struct soft_vm *sv = vm->backend_vm;

	free(sv->code_pages);
	free(sv);
	vm->backend_vm = NULL;
}

static void soft_code_marked(void *opaque, u64 gpa)
{
	struct vm *vm = opaque;

	for (unsigned i = 0; i < vm->nr_vcpus; i++)
		if (vm->vcpus[i].backend)
			cpu_code_page_marked(soft_vcpu_cpu(&vm->vcpus[i]), gpa);
}

/* Another thread owns the vCPU's CPU (--vcpu-threads): ask it, don't touch it. The I/O thread
   (a device writing RAM for terminal input) owns none. */
static bool soft_vcpu_remote(struct vm *vm, struct vcpu *vcpu)
{
	return vm->threaded && vcpu != vm_thread_vcpu();
}

static void soft_mem_written(struct vm *vm, u64 gpa, u64 len)
{
	struct soft_vm *sv = vm->backend_vm;
	u64 end;

	if (!sv || !len || gpa >= vm->ram_size)
		return;
	end = len < vm->ram_size - gpa ? gpa + len : vm->ram_size;
	for (u64 pfn = gpa >> 12; pfn <= (end - 1) >> 12; pfn++) {
		/* The VM's code-page map is shared by the vCPU threads (exec.c page_link): relaxed
		   atomics, so that no access is a data race. */
		if (!__atomic_load_n(&sv->code_pages[pfn], __ATOMIC_RELAXED))
			continue;
		__atomic_store_n(&sv->code_pages[pfn], 0, __ATOMIC_RELAXED);
		for (unsigned i = 0; i < vm->nr_vcpus; i++) {
			struct vcpu *v = &vm->vcpus[i];

			if (!v->backend)
				continue;
			if (soft_vcpu_remote(vm, v))
				cpu_invalidate_code_async(soft_vcpu_cpu(v), pfn << 12, 4096);
			else
				cpu_invalidate_code(soft_vcpu_cpu(v), pfn << 12, 4096);
		}
	}
}

static void soft_ept_changed(struct vm *vm)
{
	for (unsigned i = 0; i < vm->nr_vcpus; i++) {
		struct vcpu *v = &vm->vcpus[i];

		if (!v->backend)
			continue;
		if (soft_vcpu_remote(vm, v))
			cpu_flush_tlb_async(soft_vcpu_cpu(v));
		else
			cpu_invept(soft_vcpu_cpu(v), 2, 0);
	}
}

static void soft_code_written(void *opaque, u64 gpa, u64 len)
{
	soft_mem_written(opaque, gpa, len);
}

/* Guest-physical accesses outside RAM go to the MMIO bus; nothing there reads as all ones.
   With --vcpu-threads the CPU calls these while running its guest code: the devices are the
   VMM's, so under its lock. */
static u64 soft_mmio_read(void *opaque, u64 gpa, unsigned size)
{
	struct vm *vm = opaque;
	u64 value = 0;

	vm_bql_lock(vm);
	bus_dispatch(&vm->mmio, gpa, &value, size, false);
	vm_bql_unlock(vm);
	return value;
}

static void soft_mmio_write(void *opaque, u64 gpa, u64 value, unsigned size)
{
	struct vm *vm = opaque;

	vm_bql_lock(vm);
	bus_dispatch(&vm->mmio, gpa, &value, size, true);
	vm_bql_unlock(vm);
}

static always_inline bool soft_deadline_moved(struct vcpu *vcpu);

/*
 * An instruction's exit inside the CPU's loop (vmx.h fast_exit): the VMM's vm_exit_fast takes
 * the common ones. Not while the LAPIC is virtualized (the TPR shadow: the run loop syncs it
 * before every entry, soft_apicv_sync) or L2 runs (vmx_exit_hook's lazy_save already says
 * so). After it, the timer deadline the handler may have moved (an OUT to the PIT).
 */
static int soft_fast_exit(void *opaque, struct vm_exit *exit)
{
	struct vcpu *vcpu = opaque;
	struct soft_vcpu *s = soft(vcpu);
	int r;

	if (s->vmcs.cpu_based_vm_exec_control & PROC_TPR_SHADOW)
		return VMX_FAST_NO;
	r = vm_exit_fast(vcpu, exit);
	if (r <= 0)
		return r ? VMX_FAST_LEAVE : VMX_FAST_NO;
	/* The CPU keeps the deadline it has (a deadline that fired is an external-interrupt exit,
	   never a fast one) unless the timers or the TSC calibration moved it; so does its
	   TIMER_POLL_INSNS grace, counted from the last entry through vmx_run, which a guest that
	   exits every few instructions would otherwise renew at each of them and so hold its
	   timers off until the host tick. */
	if (!vcpu->vm->threaded && /* else no deadline: the I/O thread's timers */
	    soft_deadline_moved(vcpu))
		cpu_set_host_deadline(s->cpu, s->deadline_tsc);
	return VMX_FAST_RESUME;
}

static void soft_destroy(struct vcpu *vcpu)
{
	struct soft_vcpu *s = vcpu->backend;

	if (!s)
		return;
	if (s->cpu)
		cpu_destroy(s->cpu);
	shadow_destroy(vcpu);
	nested_destroy(vcpu);
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
		.code_pages = ((struct soft_vm *)vm->backend_vm)->code_pages,
		.code_marked = soft_code_marked,
		.code_written = soft_code_written,
	};
	struct soft_vcpu *s = calloc(1, sizeof(*s));
	int err;

	if (!s)
		return -ENOMEM;
	vcpu->backend = s;
	s->deadline_ns = TIMER_NEVER;
	s->deadline_tsc = ~0ull;
	if (cpu_host_check()) {
		soft_destroy(vcpu);
		return -ENOTSUP;
	}
	s->cpu = cpu_create(&cfg);
	if (!s->cpu) {
		soft_destroy(vcpu);
		return -ENOMEM;
	}
	cpu_set_tsc_mode(s->cpu, vm->tsc_virtual ? CPU_TSC_VIRTUAL : CPU_TSC_HOST, vm->tsc_cpi);
	/* One power-up for the whole VM: an AP's TSC counts from the BSP's zero, not its own. */
	if (vcpu->id && vm->vcpus[0].backend)
		cpu_tsc_follow(s->cpu, soft(&vm->vcpus[0])->cpu);
	if (vm->jit)
		cpu_set_jit(s->cpu, vm->jit < 0 ? 0 : (unsigned)vm->jit);
	if (vm->jit_stats)
		cpu_set_jit_stats(s->cpu, true);
	/* --vcpu-threads: the other vCPUs run on other host threads at the same time. */
	cpu_set_lock_atomic(s->cpu, vm->threaded && vm->nr_vcpus > 1);
	vmcs_init(&s->vmcs);
	s->vmx = (struct vmx_vcpu){
		.cpu = s->cpu,
		.vmcs = &s->vmcs,
		.opaque = vm,
		.host_ptr = vm_host_ptr,
		/* The cost model's cycles advance only a virtual TSC (cpu_add_cycles). */
		.exit_cycles = vm->tsc_virtual ? stats_model_cycles : NULL,
		.fast_exit = soft_fast_exit,
		.fast_opaque = vcpu,
	};
	err = vmm_vmcs_setup(vcpu, &s->vmcs);
	if (err) {
		soft_destroy(vcpu);
		return err;
	}
	if (vmm_nested(vm)) {
		err = nested_create(vcpu);
		if (err) {
			soft_destroy(vcpu);
			return err;
		}
	}
	/* Shadow paging: the VMM's accesses for string I/O go through the guest's tables. */
	if (vcpu->shadow)
		cpu_set_vmm_walk(s->cpu, &(struct cpu_vmm_walk){ shadow_vmm_walk, vcpu });
	return 0;
}

void soft_get_regs(struct vcpu *vcpu, struct x86_regs *regs)
{
	struct soft_vcpu *s = soft(vcpu);

	cpu_get_gprs(s->cpu, regs->gpr);
	regs->gpr[R_RSP] = s->vmcs.guest_rsp;
	regs->rip = s->vmcs.guest_rip;
	regs->rflags = vmx_guest_rflags(&s->vmx);
}

static void soft_get_gprs(struct vcpu *vcpu, struct x86_regs *regs)
{
	struct soft_vcpu *s = soft(vcpu);

	cpu_get_gprs(s->cpu, regs->gpr);
	regs->gpr[R_RSP] = s->vmcs.guest_rsp;
	regs->rip = s->vmcs.guest_rip;
	regs->rflags = X86_RFLAGS_UNREAD;
}

/* A new RIP ends the interrupt shadow of STI / MOV SS (soft_set_regs says why). */
static void soft_end_shadow(struct soft_vcpu *s)
{
	if (s->vmcs.guest_interruptibility_info & (GUEST_INTR_STATE_STI | GUEST_INTR_STATE_MOV_SS))
		VMCS_SET(&s->vmcs, GUEST_INTERRUPTIBILITY_INFO,
			 s->vmcs.guest_interruptibility_info &
				 ~(u64)(GUEST_INTR_STATE_STI | GUEST_INTR_STATE_MOV_SS));
}

/*
 * The CPU takes the GPRs now; RSP, RIP and RFLAGS load from the VMCS at the next entry (a
 * changed RSP or RFLAGS is a VMWRITE of guest state, which the entry reloads whole, making
 * whatever RFLAGS.IF or TF change deliverable; RIP alone is the cheap case). A new
 * RIP means the VMM completed (or moved past) the instruction at the old one: the interrupt
 * shadow of a preceding STI or MOV SS covered that instruction and ends with it (SDM vol. 2B
 * STI: "after the next instruction"; 25.4.2), as KVM's skip_emulated_instruction clears it.
 * Otherwise "STI; HLT" with HLT exiting would still block the interrupt that ends the HLT.
 */
void soft_set_regs(struct vcpu *vcpu, const struct x86_regs *regs)
{
	struct soft_vcpu *s = soft(vcpu);

	if (regs->rip != s->vmcs.guest_rip)
		soft_end_shadow(s);
	cpu_set_gprs(s->cpu, regs->gpr);
	/* Only what changed: an exit the VMM completes by advancing RIP writes one field (a
	   VMWRITE of the value already there would change nothing, vmcs.h guest_dirty). */
	if (regs->gpr[R_RSP] != s->vmcs.guest_rsp)
		VMCS_SET(&s->vmcs, GUEST_RSP, regs->gpr[R_RSP]);
	vmcs_set_guest_rip(&s->vmcs, regs->rip);
	if (regs->rflags != X86_RFLAGS_UNREAD &&
	    ((regs->rflags | X86_FIXED1) & 0x3f7fd7ull) != vmx_guest_rflags(&s->vmx))
		VMCS_SET(&s->vmcs, GUEST_RFLAGS, (regs->rflags | X86_FIXED1) & 0x3f7fd7ull);
}

/* backend.h get_gprs4 / complete_gprs4: soft_get_gprs and soft_set_regs for RAX, RCX, RDX and
   RBX alone (RSP, RIP and RFLAGS, the VMCS's, do not change but RIP). */
static void soft_get_gprs4(struct vcpu *vcpu, u64 gpr[4])
{
	cpu_get_gprs4(soft(vcpu)->cpu, gpr);
}

static void soft_complete_gprs4(struct vcpu *vcpu, const u64 gpr[4], u32 len)
{
	struct soft_vcpu *s = soft(vcpu);

	if (len)
		soft_end_shadow(s);
	cpu_set_gprs4(s->cpu, gpr);
	vmcs_set_guest_rip(&s->vmcs, s->vmcs.guest_rip + len);
}

/*
 * Segment state from the guest-state area (x86_segment.ar is the VMCS access-rights format).
 * CR0/CR4 are what the guest sees: host-owned bits (guest/host mask) from the read shadows.
 */
void soft_get_sregs(struct vcpu *vcpu, struct x86_sregs *sregs)
{
	struct soft_vcpu *s = soft(vcpu);
	const struct vmcs *v = &s->vmcs;
	const u64 *sel = &v->guest_es_selector, *base = &v->guest_es_base;
	const u64 *limit = &v->guest_es_limit, *ar = &v->guest_es_ar_bytes;
	u64 cr0, cr4;

	soft_sync(vcpu);
	cpu_get_sregs(s->cpu, sregs); /* CR2, CR8, EFER, APIC base */
	/*
	 * The rest is the guest-state area's. Between an exit, which saved the CPU's state there,
	 * and the VMM's first write to it (guest_dirty), the two hold the same values (vmexit.c
	 * copies them unchanged), so the CPU's copy above is taken as it is: an MMIO exit's
	 * decode asks for the segments, and rebuilding them field by field cost it 5% of its
	 * host instructions.
	 */
	if (!v->launched || (v->guest_dirty & VMCS_DIRTY_STATE)) {
		for (int i = 0; i < 8; i++)
			sregs->seg[i] = (struct x86_segment){ .base = base[i],
							      .limit = (u32)limit[i],
							      .sel = (u16)sel[i],
							      .ar = (u32)ar[i] };
		sregs->gdt = (struct x86_dtable){ v->guest_gdtr_base, (u16)v->guest_gdtr_limit };
		sregs->idt = (struct x86_dtable){ v->guest_idtr_base, (u16)v->guest_idtr_limit };
		sregs->cr3 = v->guest_cr3;
		cr0 = v->guest_cr0;
		cr4 = v->guest_cr4;
	} else {
		cr0 = sregs->cr0;
		cr4 = sregs->cr4;
	}
	sregs->cr0 = (cr0 & ~v->cr0_guest_host_mask) | (v->cr0_read_shadow & v->cr0_guest_host_mask);
	sregs->cr4 = (cr4 & ~v->cr4_guest_host_mask) | (v->cr4_read_shadow & v->cr4_guest_host_mask);
	if (vcpu->shadow) {
		/* Shadow paging: CR3 and EFER as the guest set them, not as the CPU runs. */
		struct shadow_regs g;

		shadow_guest(vcpu, &g);
		sregs->cr3 = g.cr3;
		sregs->efer = g.efer;
	}
}

/*
 * The guest's CR0/CR4 go to the read shadows; the guest-state fields get them plus the bits VMX
 * operation fixes to 1 (IA32_VMX_CR0_FIXED0 less PE/PG under unrestricted guest, CR4_FIXED0),
 * which the VMM's guest/host masks own. EFER and "IA-32e mode guest" follow EFER.LMA.
 */
void soft_set_sregs(struct vcpu *vcpu, const struct x86_sregs *sregs)
{
	struct soft_vcpu *s = soft(vcpu);
	struct vmcs *v = &s->vmcs;
	u64 cr0_fixed = 0, cr4_fixed = 0;
	struct x86_sregs cur, real = *sregs;
	u64 cur_shadow0 = v->cr0_read_shadow, cur_shadow4 = v->cr4_read_shadow;
	bool flush = false;

	soft_sync(vcpu);
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
	/* While L2 runs (nested VMX), the CR0/CR4 bits L1 owns keep their values and L1's
	   shadows: the view the VMM writes back holds the shadow there, not the value. */
	if (nested_guest_mode(vcpu)) {
		u64 m0, m4;

		nested_l1_cr_masks(vcpu, &m0, &m4);
		real.cr0 = (sregs->cr0 & ~m0) | (v->guest_cr0 & m0);
		real.cr4 = (sregs->cr4 & ~m4) | (v->guest_cr4 & m4);
		VMCS_SET(v, CR0_READ_SHADOW, (sregs->cr0 & ~m0) | (cur_shadow0 & m0));
		VMCS_SET(v, CR4_READ_SHADOW, (sregs->cr4 & ~m4) | (cur_shadow4 & m4));
	}
	if (vcpu->shadow) {
		/* Shadow paging: the CPU runs on the VMM's tables (vmm/shadow.h), except while
		   it emulates real mode (soft_shadow_emulate), when it runs on the guest's. */
		struct shadow_regs g = { sregs->cr0, sregs->cr3, sregs->cr4, sregs->efer }, r;

		flush = shadow_load(vcpu, &g, &r);
		if (!s->emulating)
			real = (struct x86_sregs){ .cr0 = r.cr0, .cr3 = r.cr3, .cr4 = r.cr4,
						   .efer = r.efer };
	}
	VMCS_SET(v, GUEST_CR0, real.cr0 | cr0_fixed);
	VMCS_SET(v, GUEST_CR3, real.cr3);
	VMCS_SET(v, GUEST_CR4, real.cr4 | cr4_fixed);
	VMCS_SET(v, GUEST_IA32_EFER, real.efer);
	if (real.efer & EFER_LMA)
		v->vm_entry_controls |= ENTRY_CTL_IA32E_MODE_GUEST;
	else
		v->vm_entry_controls &= ~(u64)ENTRY_CTL_IA32E_MODE_GUEST;
	/* CR2, CR8, the APIC base and EFER (when the VMCS does not load it) live in the CPU. */
	cpu_get_sregs(s->cpu, &cur);
	cur.cr2 = sregs->cr2;
	cur.cr8 = sregs->cr8;
	cur.apic_base = sregs->apic_base;
	cur.efer = real.efer;
	cpu_set_sregs(s->cpu, &cur);
	v->guest_dirty = VMCS_DIRTY_ALL;
	/* Translations the shadow dropped: INVVPID of every context of the vCPU's VPID. */
	if (flush)
		cpu_invvpid(s->cpu, 1, (u16)v->virtual_processor_id, 0);
}

/* A hardware exception (type 3) in the VM-entry interruption-information field (SDM 25.8.3). */
void soft_inject_exception(struct vcpu *vcpu, u8 vector, bool has_error, u32 error)
{
	struct vmcs *v = &soft(vcpu)->vmcs;
	u32 info = vector | INTR_TYPE_HARD_EXCEPTION << 8 | INTR_INFO_VALID;

	soft_sync(vcpu);
	if (nested_exception_exit(vcpu, vector, has_error, error))
		return;
	if (has_error)
		info |= INTR_INFO_DELIVER_CODE;
	VMCS_SET(v, VM_ENTRY_INTR_INFO_FIELD, info);
	VMCS_SET(v, VM_ENTRY_EXCEPTION_ERROR_CODE, error);
	VMCS_SET(v, VM_ENTRY_INSTRUCTION_LEN, 0);
}

/* The IDT-vectoring information as VM-entry interruption information (SDM 28.2.4, 25.8.3):
   the same layout, bit 12 (undefined there) cleared. */
static void soft_reinject(struct vcpu *vcpu, u32 info, u32 error, u32 insn_len)
{
	struct vmcs *v = &soft(vcpu)->vmcs;

	soft_sync(vcpu);
	/* An NMI whose delivery faulted left (virtual-)NMI blocking set in the saved state; the
	   VMM clears it before injecting the NMI again, as KVM's __vmx_complete_interrupts does
	   (citing the SDM's guidance on re-injecting an NMI whose delivery faulted), else the
	   entry fails its checks (26.3.1.5: no NMI injection while NMIs are blocked). */
	if (INTR_INFO_TYPE(info) == INTR_TYPE_NMI)
		VMCS_SET(v, GUEST_INTERRUPTIBILITY_INFO,
			 v->guest_interruptibility_info & ~(u64)GUEST_INTR_STATE_NMI);
	VMCS_SET(v, VM_ENTRY_INTR_INFO_FIELD, info & ~(u32)BIT(12));
	VMCS_SET(v, VM_ENTRY_EXCEPTION_ERROR_CODE, error);
	VMCS_SET(v, VM_ENTRY_INSTRUCTION_LEN, insn_len);
}

/* An external interrupt (type 0) in the VM-entry interruption-information field (25.8.3). */
static void soft_inject_interrupt(struct vcpu *vcpu, u8 vector)
{
	struct vmcs *v = &soft(vcpu)->vmcs;

	soft_sync(vcpu);
	if (nested_extint_exiting(vcpu))
		return nested_inject_interrupt(vcpu, vector);

	VMCS_SET(v, VM_ENTRY_INTR_INFO_FIELD, vector | INTR_TYPE_EXT_INTR << 8 | INTR_INFO_VALID);
	VMCS_SET(v, VM_ENTRY_INSTRUCTION_LEN, 0);
}

/* An NMI (type 2) in the VM-entry interruption-information field (25.8.3); with virtual NMIs
   its delivery sets virtual-NMI blocking until the guest's IRET (25.3). */
static void soft_inject_nmi(struct vcpu *vcpu)
{
	struct vmcs *v = &soft(vcpu)->vmcs;

	soft_sync(vcpu);
	if (nested_nmi_exiting(vcpu))
		return nested_inject_nmi(vcpu);

	VMCS_SET(v, VM_ENTRY_INTR_INFO_FIELD, X86_NMI | INTR_TYPE_NMI << 8 | INTR_INFO_VALID);
	VMCS_SET(v, VM_ENTRY_INSTRUCTION_LEN, 0);
}

static bool soft_nmi_allowed(struct vcpu *vcpu)
{
	const struct vmcs *v = &soft(vcpu)->vmcs;

	soft_sync(vcpu);
	if (nested_nmi_exiting(vcpu)) /* an exit to L1, whatever blocks NMIs in L2 (26.2) */
		return !(v->vm_entry_intr_info_field & INTR_INFO_VALID);

	return !(v->guest_interruptibility_info &
		 (GUEST_INTR_STATE_STI | GUEST_INTR_STATE_MOV_SS | GUEST_INTR_STATE_NMI)) &&
	       !(v->vm_entry_intr_info_field & INTR_INFO_VALID);
}

/* RFLAGS.IF, no STI or MOV-SS blocking (SDM 25.4.2 Table 25-3), nothing injected yet. */
static bool soft_interruptible(struct vcpu *vcpu)
{
	const struct vmcs *v = &soft(vcpu)->vmcs;

	if (nested_extint_exiting(vcpu))
		return nested_interruptible(vcpu);

	return (vmx_guest_rflags(&soft(vcpu)->vmx) & X86_IF) &&
	       !(v->guest_interruptibility_info & (GUEST_INTR_STATE_STI | GUEST_INTR_STATE_MOV_SS)) &&
	       !(v->vm_entry_intr_info_field & INTR_INFO_VALID);
}

/*
 * The memory side of an INS/OUTS exit, as a hardware VMM's string-I/O emulation does it (the
 * exit comes before the memory operand, SDM vol. 3C 26.1.1): cpu_io_string() reads the OUTS
 * element into exit->io.data or checks the INS destination. When that access faults, the guest
 * gets the fault instead (CR2 set first for a #PF, 27.6.1.1) and the exit is not the VMM's
 * business: false, run again. KVM does the same in the kernel.
 *
 * Not for an exit of L2 that L1 takes: the hardware touches no memory for an OUTS that exits
 * (26.1.1), and L1 emulates the access itself. Done anyway, the read went through L2's
 * mapping from the VMM's side and an L2 REP OUTSB under Linux's KVM got a #PF(0) on its own
 * code page instead of reaching L1 (docs/kvm.md "Tested without /dev/kvm").
 */
static bool soft_string_io(struct vcpu *vcpu, struct vm_exit *exit)
{
	struct soft_vcpu *s = soft(vcpu);
	struct cpu_fault f;

	if ((exit->reason & 0xffff) != EXIT_REASON_IO_INSTRUCTION ||
	    !(exit->qual & IO_QUAL_STRING) || nested_exit_is_l1s(vcpu, exit) ||
	    !cpu_io_string(s->cpu, exit, &f))
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
/*
 * The run loop's next timer deadline (guest ns of the VM's timer clock, vm_guest_ns) as a host
 * TSC value for the CPU (cpu_set_host_deadline): the CPU then leaves with the host timer's exit
 * when it is due, however busy the guest is, instead of at the next host tick. No deadline, or
 * no measured TSC rate: only the host tick.
 */
/*
 * The run loop's timer deadline converted again when it moved (one vCPU thread, which holds
 * the timer queue): true when s->deadline_tsc changed. The guest-ns to host-TSC map changes
 * only with stats_tsc_generation (the calibration's provisional rate, then its end): a
 * deadline converts once, and an entry reads no clock (issue 15's exit path).
 */
static always_inline bool soft_deadline_moved(struct vcpu *vcpu)
{
	struct soft_vcpu *s = soft(vcpu);
	u64 next = timer_next_deadline(&vcpu->vm->timers), tsc;
	unsigned gen = __atomic_load_n(&stats_tsc_generation, __ATOMIC_RELAXED);

	if (next == s->deadline_ns && gen == s->deadline_gen)
		return false;
	tsc = next == TIMER_NEVER ? 0 : vm_host_tsc_at(vcpu->vm, next);
	s->deadline_ns = next;
	s->deadline_gen = gen;
	s->deadline_tsc = tsc ? tsc : ~0ull;
	return true;
}

static always_inline void soft_set_deadline(struct vcpu *vcpu)
{
	struct soft_vcpu *s = soft(vcpu);

	/* With a thread per vCPU the I/O thread fires the timers and kicks the vCPU a raised
	   interrupt is for (vmm/run.c); the timer queue is the VMM's, under vm->bql, which this
	   thread does not hold here. Every vCPU leaving for every VM deadline would be N exits
	   for one timer, too. */
	if (vcpu->vm->threaded) {
		cpu_set_host_deadline(s->cpu, ~0ull);
		return;
	}
	soft_deadline_moved(vcpu);
	cpu_set_host_deadline(s->cpu, s->deadline_tsc);
}

/*
 * Real mode under shadow paging. Shadow paging gives the CPU CR0.PE and PG whatever the guest's
 * (vmm/shadow.h), and VMX without unrestricted guest cannot run real mode at all (27.3.1.1): an
 * AP after SIPI, or a guest that clears PE, has no valid VMX state. KVM then emulates the guest
 * instruction by instruction (emulate_invalid_guest_state) until its state is valid again;
 * tollbooth's emulator is its software CPU, so the VMM runs such a vCPU under emulation
 * controls: unrestricted guest over a 1:1 EPT of RAM the VMM builds for it, CR0.PE and PG
 * still owned by the VMM, so that the write that enters protected mode exits and shadow paging
 * takes over at the next entry. A protected-mode state that is not yet valid without
 * unrestricted guest (real-mode segments before the far jump) does not pass the entry checks
 * (27.3.1.2, run here before switching) and stays emulated until it does. `on`: switch to
 * emulation; off: back to shadow paging.
 */
static int soft_shadow_emulate(struct vcpu *vcpu, bool on)
{
	struct soft_vcpu *s = soft(vcpu);
	struct soft_vm *sv = vcpu->vm->backend_vm;
	struct vmcs *v = &s->vmcs;
	u64 proc2 = v->secondary_vm_exec_control;
	struct x86_sregs sr;

	if (on == s->emulating)
		return 0;
	if (on && !sv->emul_eptp) {
		int err = ept_build(vcpu->vm, false, &sv->emul_eptp);
		if (err)
			return err;
	}
	soft_get_sregs(vcpu, &sr); /* the guest's view, read under the old controls */
	s->emulating = on;
	proc2 = on ? proc2 | PROC2_ENABLE_EPT | PROC2_UNRESTRICTED_GUEST
		   : proc2 & ~(u64)(PROC2_ENABLE_EPT | PROC2_UNRESTRICTED_GUEST);
	VMCS_SET(v, SECONDARY_VM_EXEC_CONTROL, proc2);
	if (on)
		VMCS_SET(v, EPT_POINTER, sv->emul_eptp);
	soft_set_sregs(vcpu, &sr); /* the CPU's CRs for the new controls */
	/* Another translation context: the soft TLB tags EPT-derived entries by EPTP. */
	cpu_invvpid(s->cpu, 1, (u16)v->virtual_processor_id, 0);
	shadow_note_emulation(vcpu, on);
	/* Protected mode whose state is not yet valid without unrestricted guest (real-mode
	   segments before the far jump, 27.3.1.2): emulated until it is. */
	if (!on) {
		u64 qual;

		if (vmx_check_guest_state(&s->vmx, &qual))
			return soft_shadow_emulate(vcpu, true);
	}
	return 0;
}

static enum backend_run_result soft_run(struct vcpu *vcpu, struct vm_exit *exit)
{
	struct soft_vcpu *s = soft(vcpu);
	int err;

	soft_set_deadline(vcpu);
	/* The exits may defer the guest-state save (vmx.h lazy_save) except while a guest
	   hypervisor's guest runs or under shadow paging, whose code reads the VMCS's guest
	   state at will. */
	s->vmx.lazy_save = !vcpu->shadow && !nested_guest_mode(vcpu);
	if (!s->vmx.lazy_save)
		soft_sync(vcpu);
	/* An interrupt for L1, which L1 takes itself after its exit (nested.h). */
	nested_before_entry(vcpu);
	if (vcpu->shadow) {
		struct shadow_regs g;
		u64 root;

		shadow_guest(vcpu, &g);
		err = soft_shadow_emulate(vcpu, !(g.cr0 & CR0_PE));
		if (!err) {
			/* A reset inside an exit handler (a full pool, INVPCID), or another vCPU's
			   change to the shared cache, may have moved the root or dropped
			   translations since the CRs were last written. */
			bool flush = shadow_sync(vcpu, &root);

			if (!s->emulating && s->vmcs.guest_cr3 != root) {
				VMCS_SET(&s->vmcs, GUEST_CR3, root);
				flush = true;
			}
			if (flush)
				cpu_invvpid(s->cpu, 1, (u16)s->vmcs.virtual_processor_id, 0);
		}
		if (err) {
			vm_request_stop(vcpu->vm, EXIT_STATUS_STOPPED,
					"no memory for the EPT that emulates real mode");
			*exit = (struct vm_exit){ .reason = EXIT_REASON_INVALID_STATE |
							    EXIT_REASON_FAILED_VMENTRY };
			return BACKEND_RUN_EXIT;
		}
	}
	do
		err = vmx_run(&s->vmx, s->vmcs.launched, exit);
	while (!err && !s->vmcs.abort_indicator && !soft_string_io(vcpu, exit));
	if (err == VMX_RUN_HALTED)
		return BACKEND_RUN_HALTED;
	if (err == VMX_RUN_HANDLED) /* soft_fast_exit's */
		return BACKEND_RUN_HANDLED;
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

int soft_read_guest_virt(struct vcpu *vcpu, u64 gva, void *buf, size_t len)
{
	soft_sync(vcpu);
	if (vcpu->shadow) /* the guest's tables, not the shadow the CPU walks */
		return shadow_read_virt(vcpu, gva, buf, len);
	return cpu_read_virt(soft(vcpu)->cpu, gva, buf, len);
}

static void soft_dump(struct vcpu *vcpu, FILE *f)
{
	soft_sync(vcpu);
	vmcs_dump(&soft(vcpu)->vmcs, f);
}

/* cpu_kick(): exit 1 at the next block boundary. */
static void soft_kick(struct vcpu *vcpu)
{
	struct soft_vcpu *s = vcpu->backend;

	if (s && s->cpu)
		cpu_kick(s->cpu);
}

/* Interrupt-window and NMI-window exiting (SDM 25.6.2, Table 25-6; 26.7.5, 26.7.6). */
static void soft_set_event_window(struct vcpu *vcpu, enum backend_window window, bool open)
{
	struct vmcs *v = &soft(vcpu)->vmcs;
	u32 bit = window == BACKEND_WINDOW_NMI   ? PROC_NMI_WINDOW_EXITING
		  : window == BACKEND_WINDOW_MTF ? PROC_MONITOR_TRAP_FLAG
						 : PROC_INTR_WINDOW_EXITING;
	u64 ctl = v->cpu_based_vm_exec_control;

	/* While L2 runs, closing L0's window keeps one L1 asked for in vmcs12. */
	if (!open && nested_guest_mode(vcpu))
		bit &= ~nested_l1_proc(vcpu);
	VMCS_SET(v, CPU_BASED_VM_EXEC_CONTROL, open ? ctl | bit : ctl & ~(u64)bit);
}

/*
 * APIC virtualization before an entry (backend.h). Every field is written only when it changes:
 * a VMWRITE of a control makes the next entry check the controls again. With virtual-interrupt
 * delivery, RVI and SVI come from IRR and ISR (the CPU keeps them so afterwards, 30.2), the
 * EOI-exit bitmap from TMR, and "virtualize APIC accesses" or "virtualize x2APIC mode" from the
 * LAPIC's mode (they exclude each other, 27.2.1.1). With the TPR shadow alone, the threshold.
 */
static int soft_apicv_sync(struct vcpu *vcpu, const struct backend_apicv *s)
{
	struct vmcs *v = &soft(vcpu)->vmcs;
	u64 proc2 = v->secondary_vm_exec_control, want, status;
	static const u32 enc[4] = { EOI_EXIT_BITMAP0, EOI_EXIT_BITMAP1, EOI_EXIT_BITMAP2,
				    EOI_EXIT_BITMAP3 };

	/* While L2 runs the current VMCS is vmcs02, whose APIC virtualization is vmcs12's (L1's
	   for L2): L1's LAPIC is then reached through injection (nested_inject_interrupt), and
	   vmcs01 gets this sync before L1 runs again. */
	if (!(v->cpu_based_vm_exec_control & PROC_TPR_SHADOW) || nested_guest_mode(vcpu))
		return -1;
	if (!s)
		return proc2 & PROC2_VIRT_INTR_DELIVERY ? 1 : 0;
	soft_sync(vcpu);
	if (!(proc2 & PROC2_VIRT_INTR_DELIVERY)) {
		if (v->tpr_threshold != s->tpr_threshold)
			VMCS_SET(v, TPR_THRESHOLD, s->tpr_threshold);
		return 0;
	}
	want = proc2 & ~(u64)(PROC2_VIRT_APIC_ACCESSES | PROC2_VIRT_X2APIC);
	if (s->xapic_page)
		want |= PROC2_VIRT_APIC_ACCESSES;
	else if (s->x2apic)
		want |= PROC2_VIRT_X2APIC;
	if (want != proc2)
		VMCS_SET(v, SECONDARY_VM_EXEC_CONTROL, want);
	status = (u64)(s->max_irr < 0 ? 0 : s->max_irr) | (u64)(s->max_isr < 0 ? 0 : s->max_isr) << 8;
	if (v->guest_intr_status != status)
		vmcs_set_checked(v, GUEST_INTR_STATUS, status, "GUEST_INTR_STATUS");
	u64 *field[4] = { &v->eoi_exit_bitmap0, &v->eoi_exit_bitmap1, &v->eoi_exit_bitmap2,
			  &v->eoi_exit_bitmap3 };
	for (unsigned i = 0; i < 4; i++)
		if (*field[i] != s->tmr[i])
			vmcs_set_checked(v, enc[i], s->tmr[i], "EOI_EXIT_BITMAP");
	return 1;
}

static void soft_post_notify(struct vcpu *vcpu, u8 vector)
{
	cpu_send_host_ipi(soft(vcpu)->cpu, vector);
}

static u32 soft_activity_state(struct vcpu *vcpu)
{
	return (u32)soft(vcpu)->vmcs.guest_activity_state;
}

static int soft_get_msr(struct vcpu *vcpu, u32 index, u64 *value)
{
	soft_sync(vcpu);
	if (index == MSR_IA32_EFER && vcpu->shadow) {
		struct shadow_regs g;

		shadow_guest(vcpu, &g);
		*value = g.efer;
		return 0;
	}
	return cpu_get_msr(soft(vcpu)->cpu, index, value) ? -ENOENT : 0;
}

/*
 * WRMSR of EFER under shadow paging (it exits, vmm/policy.c): the rules the CPU applies (SDM
 * vol. 4 IA32_EFER, vol. 3A 10.8.5; cpu/msr.c): only SCE, LME, LMA and NXE; LME may not change
 * while paging is on; LMA is read-only. Then the guest's new EFER goes to the shadow.
 */
static int soft_set_shadow_efer(struct vcpu *vcpu, u64 value)
{
	struct x86_sregs sr;

	soft_get_sregs(vcpu, &sr);
	if (value & ~(u64)(EFER_SCE | EFER_LME | EFER_LMA | EFER_NXE))
		return -EINVAL;
	if ((sr.cr0 & CR0_PG) && ((value ^ sr.efer) & EFER_LME))
		return -EINVAL;
	sr.efer = (value & ~(u64)EFER_LMA) | (sr.efer & EFER_LMA);
	soft_set_sregs(vcpu, &sr);
	return 0;
}

/*
 * WRMSR of an MSR the CPU holds (it exits only with the MSR bitmap off). The CPU applies the
 * value; the VMCS guest-state area holds a copy of some of these MSRs which the next VM entry
 * loads (SDM 27.3.2.1: SYSENTER_CS/ESP/EIP always, PAT and EFER with their "load" controls;
 * 27.3.2.2: the FS and GS bases), so the backend writes the new value there as well, as KVM's
 * vmx_set_msr() writes GUEST_SYSENTER_*, GUEST_IA32_PAT and the segment bases. Otherwise the
 * next entry, which reloads the guest state the handler dirtied by advancing RIP, would undo the
 * write.
 */
static int soft_set_msr(struct vcpu *vcpu, u32 index, u64 value)
{
	struct soft_vcpu *s = soft(vcpu);
	struct vmcs *v = &s->vmcs;
	u64 old;

	soft_sync(vcpu);
	if (index == MSR_IA32_EFER && vcpu->shadow)
		return soft_set_shadow_efer(vcpu, value);
	if (cpu_get_msr(s->cpu, index, &old))
		return -ENOENT;
	if (cpu_set_msr(s->cpu, index, value))
		return -EINVAL;
	cpu_get_msr(s->cpu, index, &value); /* as the CPU keeps it: EFER.LMA its own, ... */
	switch (index) {
	case MSR_IA32_EFER:
		VMCS_SET(v, GUEST_IA32_EFER, value);
		break;
	case MSR_IA32_PAT:
		VMCS_SET(v, GUEST_IA32_PAT, value);
		break;
	case MSR_IA32_SYSENTER_CS:
		VMCS_SET(v, GUEST_SYSENTER_CS, value);
		break;
	case MSR_IA32_SYSENTER_ESP:
		VMCS_SET(v, GUEST_SYSENTER_ESP, value);
		break;
	case MSR_IA32_SYSENTER_EIP:
		VMCS_SET(v, GUEST_SYSENTER_EIP, value);
		break;
	case MSR_IA32_FS_BASE:
		VMCS_SET(v, GUEST_FS_BASE, value);
		break;
	case MSR_IA32_GS_BASE:
		VMCS_SET(v, GUEST_GS_BASE, value);
		break;
	}
	return 0;
}

/* The TSC through the TSC controls of VMCS v (SDM 26.6.5: scaled, then offset). */
static u64 vmcs_tsc(const struct soft_vcpu *s, const struct vmcs *v)
{
	u64 tsc = cpu_tsc(s->cpu);

	if (!(v->cpu_based_vm_exec_control & PROC_TSC_OFFSETTING))
		return tsc;
	if ((v->cpu_based_vm_exec_control & PROC_SECONDARY_CONTROLS) &&
	    (v->secondary_vm_exec_control & PROC2_TSC_SCALING))
		tsc = (u64)(((unsigned __int128)tsc * v->tsc_multiplier) >> 48);
	return tsc + v->tsc_offset;
}

/*
 * L1's TSC, through vmcs01 while L2 runs: the LAPIC's TSC-deadline timer and kvmclock are
 * L1's. Through the current VMCS (vmcs02, with vmcs12's offset) a timer that fired while L2 ran
 * compared L1's deadline with L2's TSC, found it not reached and re-armed it as far ahead as
 * L2's TSC lags: a nested KVM's Linux lost its tick for tens of seconds (soft lockups).
 */
static u64 soft_guest_tsc(struct vcpu *vcpu)
{
	struct soft_vcpu *s = soft(vcpu);
	const struct vmcs *v01 = nested_vmcs01(vcpu);

	return vmcs_tsc(s, v01 ? v01 : &s->vmcs);
}

/* The TSC the exiting instruction saw: the current VMCS's (L2's while L2 runs). */
static u64 soft_exit_tsc(struct vcpu *vcpu)
{
	struct soft_vcpu *s = soft(vcpu);

	return vmcs_tsc(s, &s->vmcs);
}

/* INVVPID semantics for the VMCS's VPID (SDM vol. 3C 30.3): type 0 one address, 1 all. */
static void soft_flush_tlb(struct vcpu *vcpu, bool all, u64 gva)
{
	struct soft_vcpu *s = soft(vcpu);

	cpu_invvpid(s->cpu, all ? 1 : 0, (u16)s->vmcs.virtual_processor_id, all ? 0 : gva);
}

/* As KVM does, MOV-DR exiting goes off and the guest owns the debug registers (25.6.2). */
static int soft_pass_debug_regs(struct vcpu *vcpu)
{
	struct vmcs *v = &soft(vcpu)->vmcs;

	soft_sync(vcpu);
	VMCS_SET(v, CPU_BASED_VM_EXEC_CONTROL,
		 v->cpu_based_vm_exec_control & ~(u64)PROC_MOV_DR_EXITING);
	return 0;
}

static u64 soft_retired(struct vcpu *vcpu)
{
	return cpu_icount(soft(vcpu)->cpu);
}

/* Byte by byte through the guest's paging; a write into RAM only (not into MMIO). */
int soft_write_guest_virt(struct vcpu *vcpu, u64 gva, const void *buf, size_t len)
{
	struct soft_vcpu *s = soft(vcpu);
	struct vm *vm = vcpu->vm;

	soft_sync(vcpu);
	for (size_t i = 0; i < len; i++) {
		u64 gpa;

		if (cpu_debug_translate(s->cpu, gva + i, &gpa) || gpa >= vm->ram_size)
			return -EFAULT;
		vm_write_phys(vm, gpa, (const u8 *)buf + i, 1);
	}
	return 0;
}

static void soft_rearm_preemption_timer(struct vcpu *vcpu, u64 value)
{
	soft_sync(vcpu);
	VMCS_SET(&soft(vcpu)->vmcs, VMX_PREEMPTION_TIMER_VALUE, value);
}

static const u64 *soft_pml_rips(struct vcpu *vcpu)
{
	return cpu_pml_rips(soft(vcpu)->cpu);
}

static int soft_pml_reset(struct vcpu *vcpu, u16 *index)
{
	struct vmcs *v = &soft(vcpu)->vmcs;

	soft_sync(vcpu);
	*index = (u16)v->guest_pml_index;
	VMCS_SET(v, GUEST_PML_INDEX, 511);
	return 0;
}

/*
 * Without unrestricted guest (it needs EPT, SDM 27.2.1.1) VM entry requires CR0.PE and CR0.PG
 * (27.3.1.1, IA32_VMX_CR0_FIXED0). With EPT off the shadow MMU gives a guest with paging off
 * paging of its own (a 1:1 map, vmm/shadow.h), as KVM does; real mode would need virtual-8086
 * emulation, which tollbooth does not have, and with EPT on but unrestricted guest off nothing
 * maps a guest without paging. Either is said before the entry that would fail.
 */
static int soft_check_entry(struct vcpu *vcpu)
{
	struct vm *vm = vcpu->vm;
	struct x86_sregs s;

	soft_sync(vcpu);
	if (vmm_policy_on(vm, VMM_UNRESTRICTED_GUEST) || vcpu->shadow)
		return 0; /* shadow paging maps paging off 1:1 and emulates real mode */
	soft_get_sregs(vcpu, &s);
	if ((s.cr0 & (CR0_PE | CR0_PG)) == (CR0_PE | CR0_PG))
		return 0;
	if (!(s.cr0 & CR0_PE))
		vm_request_stop(vm, EXIT_STATUS_STOPPED,
				"vCPU %u is in real mode (CR0 = %#llx), which VMX allows only with "
				"unrestricted guest, which needs EPT (SDM 27.3.1.1, 27.2.1.1); tollbooth "
				"has no virtual-8086 emulation of real mode: run without --vmx ept=off "
				"or unrestricted-guest=off",
				vcpu->id, (unsigned long long)s.cr0);
	else
		vm_request_stop(
			vm, EXIT_STATUS_STOPPED,
			"this guest starts with paging off (CR0 = %#llx), which VMX allows only with "
			"unrestricted guest (SDM 27.3.1.1); with EPT on and unrestricted-guest=off "
			"nothing maps it: use --vmx ept=off (shadow paging) or unrestricted-guest=on",
			(unsigned long long)s.cr0);
	return -EINVAL;
}

static const u32 soft_state_msrs[X86_STATE_NR_MSRS] = {
#define SOFT_STATE_MSR(m) m,
	X86_STATE_MSRS(SOFT_STATE_MSR)
#undef SOFT_STATE_MSR
};

/*
 * The architectural state from where the soft backend keeps each part between runs: the VMCS
 * guest-state area for what it holds (RSP, RIP, RFLAGS, segments, CRs, DR7, interruptibility,
 * activity, pending debug exceptions; the VM-entry interruption information for an event
 * waiting to be injected), the CPU for the rest.
 */
static void soft_get_state(struct vcpu *vcpu, struct x86_state *st)
{
	struct soft_vcpu *s = soft(vcpu);
	const struct vmcs *v = &s->vmcs;

	soft_sync(vcpu);
	memset(st, 0, sizeof(*st));
	soft_get_regs(vcpu, &st->regs);
	soft_get_sregs(vcpu, &st->sregs);
	cpu_get_fpu(s->cpu, &st->fpu);
	st->xcr0 = cpu_get_xcr0(s->cpu);
	cpu_get_debugregs(s->cpu, st->dr);
	st->dr[7] = v->guest_dr7;
	for (unsigned i = 0; i < X86_STATE_NR_MSRS; i++)
		if (soft_get_msr(vcpu, soft_state_msrs[i], &st->msrs[i])) /* EFER: the guest's */
			st->msrs[i] = 0;
		else if (soft_state_msrs[i] == MSR_IA32_TSC)
			s->tsc_got = st->msrs[i];
	st->events.inject_info = (u32)v->vm_entry_intr_info_field;
	st->events.inject_error = (u32)v->vm_entry_exception_error_code;
	st->events.inject_len = (u32)v->vm_entry_instruction_len;
	st->events.interruptibility = (u32)v->guest_interruptibility_info;
	st->events.activity = (u32)v->guest_activity_state;
	st->events.pending_dbg = v->guest_pending_dbg_exceptions;
}

static int soft_set_state(struct vcpu *vcpu, const struct x86_state *st)
{
	struct soft_vcpu *s = soft(vcpu);
	struct vmcs *v = &s->vmcs;
	u64 old_xcr0 = cpu_get_xcr0(s->cpu);

	soft_sync(vcpu);
	if (st->xcr0 != old_xcr0 && cpu_set_xcr0(s->cpu, st->xcr0))
		return -EINVAL;
	soft_set_sregs(vcpu, &st->sregs);
	soft_set_regs(vcpu, &st->regs);
	cpu_set_fpu(s->cpu, &st->fpu);
	cpu_set_debugregs(s->cpu, st->dr);
	VMCS_SET(v, GUEST_DR7, st->dr[7]);
	/* Through soft_set_msr, which keeps the VMCS copies the next entry loads (27.3.2.1). A TSC
	   equal to what get_state read is not written back: the counter ran on since, and writing
	   the old value would set it back by that much (an AP's INIT must not move its TSC away
	   from the other vCPUs'). */
	for (unsigned i = 0; i < X86_STATE_NR_MSRS; i++)
		if (soft_state_msrs[i] != MSR_IA32_TSC || st->msrs[i] != s->tsc_got)
			soft_set_msr(vcpu, soft_state_msrs[i], st->msrs[i]);
	VMCS_SET(v, VM_ENTRY_INTR_INFO_FIELD, st->events.inject_info);
	VMCS_SET(v, VM_ENTRY_EXCEPTION_ERROR_CODE, st->events.inject_error);
	VMCS_SET(v, VM_ENTRY_INSTRUCTION_LEN, st->events.inject_len);
	VMCS_SET(v, GUEST_INTERRUPTIBILITY_INFO, st->events.interruptibility);
	VMCS_SET(v, GUEST_ACTIVITY_STATE, st->events.activity);
	VMCS_SET(v, GUEST_PENDING_DBG_EXCEPTIONS, st->events.pending_dbg);
	return 0;
}

static int soft_set_xcr0(struct vcpu *vcpu, u64 xcr0)
{
	return cpu_set_xcr0(soft(vcpu)->cpu, xcr0);
}

static double pct(u64 a, u64 b)
{
	return b ? 100.0 * (double)a / (double)b : 0.0;
}

static int site_most_calls_first(const void *a, const void *b)
{
	u64 x = ((const struct cpu_jit_site *)a)->calls, y = ((const struct cpu_jit_site *)b)->calls;
	return x < y ? 1 : x > y ? -1 : 0;
}

/*
 * --stats, the block compiler's view summed over the vCPUs (cpu_jit_stats): where guest
 * instructions ran (inline in compiled code, through a handler called from it, interpreted), how
 * compiled blocks ended, and the handler calls by instruction form, most first: the next inline
 * form to write is at the top of that list.
 */
static void soft_print_jit_stats(struct vm *vm, FILE *out)
{
	enum { TOP = 12, MAX = 1024 };
	struct cpu_jit_stats t = { 0 };
	struct cpu_jit_site all[MAX];
	unsigned n = 0;

	for (unsigned i = 0; i < vm->nr_vcpus; i++) {
		struct cpu *c = soft(&vm->vcpus[i])->cpu;
		struct cpu_jit_site s[MAX];
		struct cpu_jit_stats j;

		cpu_get_jit_stats(c, &j);
		t.icount += j.icount;
		t.compiled += j.compiled;
		t.calls += j.calls;
		t.chained += j.chained;
		t.ret_work += j.ret_work;
		t.ret_nocode += j.ret_nocode;
		t.returns += j.returns;
		t.blocks += j.blocks;
		t.code_bytes += j.code_bytes;
		for (unsigned k = 0, m = cpu_get_jit_sites(c, s, MAX); k < m; k++) {
			unsigned a = 0;
			while (a < n && (all[a].opcode != s[k].opcode || all[a].sub != s[k].sub ||
					 all[a].osz != s[k].osz || all[a].mem != s[k].mem ||
					 all[a].slow != s[k].slow))
				a++;
			if (a == n) {
				if (n == MAX)
					continue;
				all[n] = s[k];
				all[n++].calls = 0;
			}
			all[a].calls += s[k].calls;
		}
	}
	if (!t.blocks)
		return;
	u64 ends = t.chained + t.returns, calls = t.calls < t.compiled ? t.calls : t.compiled;
	u64 after = t.returns - t.ret_work - t.ret_nocode;
	fprintf(out,
		"Compiler: %.1f%% of %llu instructions ran compiled (%.1f%% inline, %.1f%% through "
		"%llu handler calls), %.1f%% interpreted; compiled blocks ended %.1f%% chained to the "
		"next, %.1f%% back to the run loop (%.1f%% for pending work, %.1f%% no compiled target, "
		"%.1f%% after a handler); %llu blocks compiled, %llu KiB of host code\n",
		pct(t.compiled, t.icount), (unsigned long long)t.icount,
		pct(t.compiled - calls, t.icount), pct(calls, t.icount), (unsigned long long)t.calls,
		pct(t.icount - t.compiled, t.icount), pct(t.chained, ends), pct(t.returns, ends),
		pct(t.ret_work, ends), pct(t.ret_nocode, ends), pct(after, ends),
		(unsigned long long)t.blocks, (unsigned long long)(t.code_bytes >> 10));
	qsort(all, n, sizeof(all[0]), site_most_calls_first);
	if (n)
		fprintf(out, "Handler calls from compiled code, most first:");
	for (unsigned a = 0; a < n && a < TOP; a++) {
		char name[32];
		const struct cpu_jit_site *s = &all[a];

		if (s->opcode == 0xffff)
			snprintf(name, sizeof(name), "the rest");
		else
			x86_opcode_name(s->opcode, s->sub, name, sizeof(name));
		fprintf(out, "%s %s (%s%02X) %s%u%s %.1f%%", a ? "," : "", name,
			s->opcode >> 8 == 1 ? "0F " : s->opcode >> 8 == 2 ? "0F 38 " :
			s->opcode >> 8 == 3 ? "0F 3A " : "", s->opcode & 0xff, s->mem ? "m" : "r",
			s->osz * 8, s->slow ? " slow path" : "", pct(s->calls, t.calls));
	}
	if (n)
		fputc('\n', out);
}

/*
 * --stats: the soft CPU's page walks summed over the vCPUs, per walk: the entries read, and
 * with EPT the EPT entries read (what the CPU did, its EPT cache included) beside the
 * architectural two-dimensional cost (5n + 4 for n levels, 24 for 4-level paging over 4-level
 * EPT, SDM 29.3.2); then shadow paging's own counters.
 */
static void soft_print_stats(struct vm *vm, FILE *out)
{
	struct cpu_mmu_stats t = { 0 };
	struct shadow_stats sh;
	bool ept = !vm->vcpus[0].shadow;

	for (unsigned i = 0; i < vm->nr_vcpus; i++) {
		struct cpu_mmu_stats m;

		cpu_get_mmu_stats(soft(&vm->vcpus[i])->cpu, &m);
		t.walks += m.walks;
		t.walk_refs += m.walk_refs;
		t.ept_walks += m.ept_walks;
		t.ept_refs += m.ept_refs;
	}
	shadow_vm_stats(vm, &sh);
	fprintf(out, "\nPage walks (TLB misses): %llu, %.2f entries read per walk",
		(unsigned long long)t.walks, t.walks ? (double)t.walk_refs / t.walks : 0.0);
	if (ept && t.walks)
		fprintf(out, "; EPT: %.2f entries read per walk (%llu EPT walks), %.2f "
			     "architectural 2-D references per walk",
			(double)t.ept_refs / t.walks, (unsigned long long)t.ept_walks,
			(5.0 * t.walk_refs + 4.0 * t.walks) / t.walks);
	fputc('\n', out);
	soft_print_jit_stats(vm, out);
	if (!ept)
		fprintf(out,
			"Shadow paging: %llu #PF exits (%llu filled the shadow, %llu the guest's "
			"own, %llu MMIO), %llu shadow resets, %llu INVLPG, %llu shadow pages at "
			"most, %llu times real mode emulated; cached mode: %llu tables out of sync, "
			"%llu resynced\n",
			(unsigned long long)sh.faults, (unsigned long long)sh.fills,
			(unsigned long long)sh.reflected, (unsigned long long)sh.mmio,
			(unsigned long long)sh.resets, (unsigned long long)sh.invlpg,
			(unsigned long long)sh.pages_peak, (unsigned long long)sh.emulated,
			(unsigned long long)sh.unsyncs, (unsigned long long)sh.resyncs);
	if (vmm_nested(vm)) {
		struct nested_stats ns;

		nested_stats_sum(vm, &ns);
		if (ns.vmx_insns)
			fprintf(out,
				"Nested VMX: %llu exits L2->L0 (handled by L0), %llu L2->L1 "
				"(reflected, %.0f host ns each in L0), %llu L1->L0; %llu VMX "
				"instructions of L1 emulated (%.0f ns each), %llu entries into L2, "
				"%llu posted-interrupt notifications of L1 processed in L2\n",
				(unsigned long long)ns.l2_l0, (unsigned long long)ns.l2_l1,
				ns.l2_l1 ? (double)ns.reflect_ns / ns.l2_l1 : 0.0,
				(unsigned long long)ns.l1_l0, (unsigned long long)ns.vmx_insns,
				ns.vmx_insns ? (double)ns.insn_ns / ns.vmx_insns : 0.0,
				(unsigned long long)ns.entries, (unsigned long long)ns.posted);
	}
}

const struct backend_ops backend_soft = {
	.name = "soft",
	.vm_init = soft_vm_init,
	.vm_destroy = soft_vm_destroy,
	.mem_written = soft_mem_written,
	.ept_changed = soft_ept_changed,
	.vcpu_create = soft_vcpu_create,
	.run = soft_run,
	.get_state = soft_get_state,
	.set_state = soft_set_state,
	.get_regs = soft_get_regs,
	.set_regs = soft_set_regs,
	.get_gprs = soft_get_gprs,
	.get_gprs4 = soft_get_gprs4,
	.complete_gprs4 = soft_complete_gprs4,
	.get_sregs = soft_get_sregs,
	.set_sregs = soft_set_sregs,
	.inject_exception = soft_inject_exception,
	.inject_interrupt = soft_inject_interrupt,
	.interruptible = soft_interruptible,
	.inject_nmi = soft_inject_nmi,
	.nmi_allowed = soft_nmi_allowed,
	.destroy = soft_destroy,
	.read_guest_virt = soft_read_guest_virt,
	.reinject = soft_reinject,
	.print_stats = soft_print_stats,
	.deadline_exits = true,
	.dump = soft_dump,
	.kick = soft_kick,
	.apicv_sync = soft_apicv_sync,
	.post_notify = soft_post_notify,
	.set_event_window = soft_set_event_window,
	.activity_state = soft_activity_state,
	.get_msr = soft_get_msr,
	.set_msr = soft_set_msr,
	.guest_tsc = soft_guest_tsc,
	.exit_tsc = soft_exit_tsc,
	.flush_tlb = soft_flush_tlb,
	.pass_debug_regs = soft_pass_debug_regs,
	.retired = soft_retired,
	.write_guest_virt = soft_write_guest_virt,
	.rearm_preemption_timer = soft_rearm_preemption_timer,
	.pml_reset = soft_pml_reset,
	.pml_rips = soft_pml_rips,
	.check_entry = soft_check_entry,
	.set_xcr0 = soft_set_xcr0,
	.nested_exit = nested_exit,
};
