// SPDX-License-Identifier: MIT
/*
 * Nested VMX on the soft backend (soft/nested.h; docs/vmx.md "Nested VMX").
 *
 * L1 runs in VMX non-root operation under the VMM's VMCS (vmcs01), so each of its VMX
 * instructions exits unconditionally (SDM vol. 3C 26.1.2). L0 carries out the instruction's
 * "Operation" of SDM vol. 3C 32.3 for L1's view: the checks in their order, VMsucceed,
 * VMfailInvalid or VMfailValid with the VM-instruction error of 32.4 (Table 32-1). The VMCS L1
 * made current is cached here (vmcs12) and written to its region in L1's memory at VMCLEAR,
 * VMPTRLD of another and VMXOFF, in the model's region format (vmx/vmcs.h).
 *
 * VMLAUNCH/VMRESUME check vmcs12's controls and host state with the VT-x model's own checks
 * (27.2) against what L1 was offered (vmx_nested_cap_msr), then L0 builds vmcs02 from vmcs12's
 * guest state and controls plus what L0 itself must keep (nested_build_vmcs02) and makes it the
 * current VMCS: the run loop then runs L2 as it runs any guest, and the model's entry checks
 * the guest state (27.3): a failure is the entry-failure exit L1 gets (27.8).
 *
 * Every L2 exit comes to L0 first. nested_l1_wants() decides, from vmcs12's controls, bitmaps
 * and masks (26.1-26.2), whether L1 asked for it; then L0 does L1's VM exit (28): exit
 * information and L2's state into vmcs12, L1's host state from vmcs12 into vmcs01, and L1
 * resumes at its HOST_RIP. Otherwise the exit was L0's own (the host's interrupt, a port L1 lets
 * L2 reach, an MSR L1 does not intercept, L0's EPT) and L0's handler answers it for L2.
 *
 * L2 runs without VPID, so the CPU flushes its TLB at each entry and exit of L2 (29.4.3.3). Its
 * guest-physical addresses are L1's under L0's EPT, or with L1's EPT the CPU walks L1's EPT
 * through L0's (nested EPT, cpu/ept.c): a violation in L1's EPT is L1's exit, one in L0's (an
 * L1-physical address L0 maps to a device, or not at all) is L0's, at the L1-physical address.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cpu/cpu.h"
#include "soft/internal.h"
#include "soft/nested.h"
#include "stats/stats.h"
#include "vmm/msr.h"
#include "vmm/exits.h"
#include "vmm/policy.h"
#include "vmm/vm.h"
#include "vmx/vmcs.h"
#include "vmx/vmx.h"

#define VMCS_NONE (~0ull) /* the current-VMCS pointer when there is none (32.1) */

struct nested_vmx {
	bool vmxon;	 /* L1 executed VMXON (it is in VMX root operation) */
	bool guest_mode; /* L2 runs: the current VMCS is vmcs02 */
	u64 vmxon_ptr;
	u64 current_ptr;    /* VMCS_NONE, or the guest-physical address of L1's current VMCS */
	struct vmcs vmcs12; /* L1's current VMCS, cached */
	/* VMCS shadowing (--vmx vmcs-shadowing, SDM 25.10): while L1 has a current VMCS, vmcs01's
	   link pointer is a shadow of vmcs12 in the VMM's memory, and L1's VMREAD and VMWRITE
	   read and write it without exits. NULL shadow: every one exits. */
	u8 *shadow;
	u64 shadow_hpa, vmread_bitmap_hpa, vmwrite_bitmap_hpa;
	bool shadowing;	    /* vmcs01 has it on: the shadow, not vmcs12, is up to date */
	/* vmcs02's MSR bitmap, built at each entry of L2 whose vmcs12 virtualizes x2APIC mode
	   (nested_msr_bitmap): every MSR exits to L0 but the x2APIC accesses the CPU virtualizes
	   and L1's bitmap lets through. */
	u8 *msr_bitmap02;
	u64 msr_bitmap02_hpa;
	u32 msr_bitmap02_proc2; /* what it was built from (0: not yet) */
	u8 msr_bitmap02_from[64];
	struct vmcs vmcs01; /* the VMM's own while L2 runs */
	struct nested_stats stats;
};

static struct nested_vmx *nested(struct vcpu *vcpu)
{
	return soft(vcpu)->nested;
}

int nested_create(struct vcpu *vcpu)
{
	struct nested_vmx *n = calloc(1, sizeof(*n));

	if (!n)
		return -ENOMEM;
	n->current_ptr = VMCS_NONE;
	vmcs_init(&n->vmcs12);
	soft(vcpu)->nested = n;
	if (!(n->msr_bitmap02 = vm_alloc_host_page(vcpu->vm, &n->msr_bitmap02_hpa)))
		return -ENOMEM;
	memset(n->msr_bitmap02, 0xff, 4096);
	/* The shadow VMCS and all-zero VMREAD/VMWRITE bitmaps: every field is shadowed. */
	if (vmm_policy_on(vcpu->vm, VMM_VMCS_SHADOWING) &&
	    (!(n->shadow = vm_alloc_host_page(vcpu->vm, &n->shadow_hpa)) ||
	     !vm_alloc_host_page(vcpu->vm, &n->vmread_bitmap_hpa) ||
	     !vm_alloc_host_page(vcpu->vm, &n->vmwrite_bitmap_hpa)))
		return -ENOMEM;
	return 0;
}

void nested_destroy(struct vcpu *vcpu)
{
	free(soft(vcpu)->nested);
	soft(vcpu)->nested = NULL;
}

bool nested_guest_mode(struct vcpu *vcpu)
{
	struct nested_vmx *n = nested(vcpu);

	return n && n->guest_mode;
}

void nested_stats_sum(struct vm *vm, struct nested_stats *out)
{
	memset(out, 0, sizeof(*out));
	for (unsigned i = 0; i < vm->nr_vcpus; i++) {
		struct soft_vcpu *s = vm->vcpus[i].backend;

		if (!s || !s->nested)
			continue;
		out->l2_l0 += s->nested->stats.l2_l0;
		out->l2_l1 += s->nested->stats.l2_l1;
		out->l1_l0 += s->nested->stats.l1_l0;
		out->vmx_insns += s->nested->stats.vmx_insns;
		out->entries += s->nested->stats.entries;
		out->posted += s->nested->stats.posted;
		out->reflect_ns += s->nested->stats.reflect_ns;
		out->insn_ns += s->nested->stats.insn_ns;
	}
}

/* --- L1's memory --- */

/* A whole range of L1's RAM (its guest-physical addresses are host-physical there, vm.h). */
static u8 *l1_ram(struct vcpu *vcpu, u64 gpa, u64 len)
{
	struct vm *vm = vcpu->vm;

	if (gpa >= vm->ram_size || len > vm->ram_size - gpa)
		return NULL;
	return vm->ram + gpa;
}

/* vmcs12's structures (bitmaps, the virtual-APIC page, the posted-interrupt descriptor, MSR
   lists) as the VT-x model's checks find them (vmx_vcpu.host_ptr): only in L1's RAM. L0's own
   pages have host-physical addresses too, which L1 must never get to name. */
static u8 *l1_host_ptr(void *opaque, u64 gpa, u64 len)
{
	return l1_ram(opaque, gpa, len);
}

/* A physical-address operand: 4-KiB aligned, within MAXPHYADDR (32.3 VMXON, VMCLEAR, VMPTRLD). */
static bool vmx_addr_ok(u64 pa)
{
	return !(pa & 0xfff) && !(pa >> CPU_MAXPHYADDR);
}

/* --- Instruction operands (SDM vol. 3C 28.2.5, Tables 28-12 to 28-15) --- */

static bool long_mode(const struct x86_sregs *s)
{
	return (s->efer & EFER_LMA) && (s->seg[SEG_CS].ar & BIT(13));
}

/* The linear address of the memory operand, from the instruction information and the
   displacement in the qualification (28.2.1), as the instruction computed it. */
static u64 insn_mem_addr(const struct vm_exit *e, const struct x86_regs *r,
			 const struct x86_sregs *s)
{
	u32 info = e->insn_info;
	unsigned seg = (info >> 15) & 7, asz = (info >> 7) & 7;
	u64 off = e->qual;

	if (!(info & BIT(27)))
		off += r->gpr[(info >> 23) & 15];
	if (!(info & BIT(22)))
		off += r->gpr[(info >> 18) & 15] << (info & 3);
	off &= asz == 0 ? 0xffff : asz == 1 ? 0xffffffffull : ~0ull;
	if (long_mode(s))
		return (seg == SEG_FS || seg == SEG_GS ? s->seg[seg].base : 0) + off;
	return (u32)(s->seg[seg < 6 ? seg : SEG_DS].base + off);
}

/* A page fault on the operand: the guest's own #PF, as the instruction would raise it. */
static void operand_fault(struct vcpu *vcpu, u64 gva, bool write)
{
	struct x86_sregs s;

	soft_get_sregs(vcpu, &s);
	s.cr2 = gva;
	soft_set_sregs(vcpu, &s);
	soft_inject_exception(vcpu, X86_PF_VEC, true, write ? BIT(1) : 0);
}

/* --- VMsucceed, VMfail (SDM vol. 3C 32.2) --- */

#define VMX_RESULT_FLAGS (X86_CF | X86_PF | X86_AF | X86_ZF | X86_SF | X86_OF)
#define VMFAIL_INVALID	 (-1)

/* The instruction completes: 0 VMsucceed, VMFAIL_INVALID, or a VM-instruction error (VMfail:
   VMfailValid with a current VMCS, else VMfailInvalid). */
static void vmx_complete(struct vcpu *vcpu, const struct vm_exit *e, int result)
{
	struct nested_vmx *n = nested(vcpu);
	struct x86_regs r;

	soft_get_regs(vcpu, &r);
	r.rflags &= ~(u64)VMX_RESULT_FLAGS;
	if (result > 0 && n->current_ptr != VMCS_NONE) {
		r.rflags |= X86_ZF;
		vmcs_write_exit_info(&n->vmcs12, VM_INSTRUCTION_ERROR, (u64)result);
	} else if (result) {
		r.rflags |= X86_CF;
	}
	r.rip += e->insn_len;
	soft_set_regs(vcpu, &r);
}

/* --- The current VMCS and its region --- */

static void vmcs12_flush(struct vcpu *vcpu)
{
	struct nested_vmx *n = nested(vcpu);
	u8 region[VMCS_REGION_SIZE];

	if (n->current_ptr == VMCS_NONE)
		return;
	vmcs_to_region(&n->vmcs12, region);
	vm_write_phys(vcpu->vm, n->current_ptr, region, sizeof(region));
}

/* --- VMCS shadowing: the shadow is vmcs12 while L1 runs --- */

/* What L1 wrote with VMWRITE since the shadow was last filled: into the cache. */
static void shadow_pull(struct nested_vmx *n)
{
	if (!n->shadowing)
		return;
	vmcs_from_region(&n->vmcs12, n->shadow);
	n->vmcs12.revision_id = VMCS_REVISION_ID;
}

/* The cache into the shadow (the shadow-VMCS indicator, bit 31, set: 27.3.1.5), and vmcs01's
   VMCS shadowing on while L1 has a current VMCS, off otherwise (its VMREAD and VMWRITE must then
   exit, for #UD or VMfailInvalid). vmcs01 must be the current VMCS. */
static void shadow_push(struct vcpu *vcpu)
{
	struct nested_vmx *n = nested(vcpu);
	struct vmcs *v01 = &soft(vcpu)->vmcs;
	bool on = n->shadow && n->current_ptr != VMCS_NONE;
	u64 proc2 = v01->secondary_vm_exec_control;
	u32 rev = VMCS_REVISION_ID | BIT(31);

	if (on) {
		vmcs_to_region(&n->vmcs12, n->shadow);
		memcpy(n->shadow, &rev, 4);
	}
	if (on == n->shadowing)
		return;
	n->shadowing = on;
	VMCS_SET(v01, SECONDARY_VM_EXEC_CONTROL,
		 on ? proc2 | PROC2_VMCS_SHADOWING : proc2 & ~(u64)PROC2_VMCS_SHADOWING);
	VMCS_SET(v01, VMCS_LINK_POINTER, on ? n->shadow_hpa : VMCS_NONE);
	VMCS_SET(v01, VMREAD_BITMAP, on ? n->vmread_bitmap_hpa : 0);
	VMCS_SET(v01, VMWRITE_BITMAP, on ? n->vmwrite_bitmap_hpa : 0);
}

/* --- L1's VM exit (SDM vol. 3C chapter 28) --- */

/* One guest-state field of vmcs02 goes back to vmcs12 (28.3) unless an exit control says the
   processor does not save it. */
static bool saved_on_exit(u32 enc, u32 exit_ctls)
{
	switch (enc) {
	case GUEST_IA32_EFER:
		return exit_ctls & EXIT_CTL_SAVE_EFER;
	case GUEST_IA32_PAT:
		return exit_ctls & EXIT_CTL_SAVE_PAT;
	case GUEST_DR7:
	case GUEST_IA32_DEBUGCTL:
		return exit_ctls & EXIT_CTL_SAVE_DEBUG_CONTROLS;
	case VMX_PREEMPTION_TIMER_VALUE:
		return exit_ctls & EXIT_CTL_SAVE_PREEMPTION_TIMER;
	default:
		return true;
	}
}

/* The VM-exit MSR-store list (28.4) and MSR-load list (28.6) of vmcs12, in L1's memory. A list
   outside RAM, or an entry the load may not take, is a VMX abort (28.7): the run stops. */
static bool exit_msr_lists(struct vcpu *vcpu, const struct vmcs *v12)
{
	struct cpu *c = soft(vcpu)->cpu;
	u32 n_store = (u32)v12->vm_exit_msr_store_count, n_load = (u32)v12->vm_exit_msr_load_count;
	u8 *store = l1_ram(vcpu, v12->vm_exit_msr_store_addr, (u64)n_store * 16);
	u8 *load = l1_ram(vcpu, v12->vm_exit_msr_load_addr, (u64)n_load * 16);

	/* Stores outside RAM go nowhere; a load list there reads all ones, an invalid MSR. */
	if (n_load && !load)
		return false;
	for (u32 i = 0; store && i < n_store; i++) {
		u32 index;
		u64 value;

		memcpy(&index, store + 16 * i, 4);
		if (cpu_get_msr(c, index, &value))
			return false;
		memcpy(store + 16 * i + 8, &value, 8);
	}
	if (store && n_store)
		vm_mem_written(vcpu->vm, v12->vm_exit_msr_store_addr, (u64)n_store * 16);
	for (u32 i = 0; i < n_load; i++) {
		u32 index, reserved;
		u64 value;

		memcpy(&index, load + 16 * i, 4);
		memcpy(&reserved, load + 16 * i + 4, 4);
		memcpy(&value, load + 16 * i + 8, 8);
		/* 28.6: the FS/GS base, x2APIC, SMM-monitor and microcode MSRs may not be loaded */
		if (reserved || index == 0xc0000100 || index == 0xc0000101 || (index >> 8) == 0x8 ||
		    index == 0x9b || index == 0x79 || cpu_set_msr(c, index, value))
			return false;
	}
	return true;
}

/*
 * L1's VM exit with the record `e` (an exit of L2, or a synthesized one: an interrupt or NMI L1
 * intercepts, an entry failure): 28.2 exit information, 28.3 L2's state (not after a failed
 * entry, 27.8), 28.4 the MSR-store list, 28.5 L1's state from the host-state area, 28.6 the
 * MSR-load list. vmcs01 is current again.
 */
static void nested_vmexit_(struct vcpu *vcpu, const struct vm_exit *e);

static void nested_vmexit(struct vcpu *vcpu, const struct vm_exit *e)
{
	u64 t0 = stats_now_ns();

	nested_vmexit_(vcpu, e);
	soft(vcpu)->nested->stats.reflect_ns += stats_now_ns() - t0;
}

static void nested_vmexit_(struct vcpu *vcpu, const struct vm_exit *e)
{
	struct soft_vcpu *s = soft(vcpu);
	struct nested_vmx *n = s->nested;
	struct vmcs *v02 = &s->vmcs, *v12 = &n->vmcs12;
	u32 exit_ctls = (u32)v12->vm_exit_controls;
	bool failed = e->reason & EXIT_REASON_FAILED_VMENTRY;
	bool host64 = exit_ctls & EXIT_CTL_HOST_ADDR_SPACE_SIZE;
	struct cpu_vmx_state st;
	struct x86_sregs sr;
	struct x86_regs r;

	n->stats.l2_l1++;
	if (!failed) {
#define X(NAME, name, enc)                                                                         \
	if (VMCS_ENC_TYPE(enc) == VMCS_TYPE_GUEST && saved_on_exit(enc, exit_ctls))                \
		v12->name = v02->name;
#include "vmx/vmcs_fields.h"
#undef X
		/* 28.2: "IA-32e mode guest" is EFER.LMA at the exit */
		v12->vm_entry_controls =
			(v12->vm_entry_controls & ~(u64)ENTRY_CTL_IA32E_MODE_GUEST) |
			(v02->vm_entry_controls & ENTRY_CTL_IA32E_MODE_GUEST);
		v12->launched = true;
	}
	v12->vm_exit_reason = e->reason;
	v12->exit_qualification = e->qual;
	v12->guest_linear_address = e->guest_linear;
	v12->guest_physical_address = e->guest_phys;
	v12->vm_exit_instruction_len = e->insn_len;
	v12->vmx_instruction_info = e->insn_info;
	v12->vm_exit_intr_info = e->intr_info;
	v12->vm_exit_intr_error_code = e->intr_error;
	v12->idt_vectoring_info_field = e->idt_vectoring_info;
	v12->idt_vectoring_error_code = e->idt_vectoring_error;
	/* 28.2 (27.8 for a failed entry): every VM exit clears the valid bit of the VM-entry
	   interruption-information field. */
	v12->vm_entry_intr_info_field &= ~(u64)INTR_INFO_VALID;

	/* The CPU stops waiting to complete an IN for L2: L1 completes it, if at all. */
	cpu_io_cancel(s->cpu);
	*v02 = n->vmcs01;
	n->guest_mode = false;

	/* 28.5.1: control registers, debug registers, MSRs. */
	soft_get_sregs(vcpu, &sr);
	sr.cr0 = v12->host_cr0;
	sr.cr3 = v12->host_cr3;
	sr.cr4 = v12->host_cr4;
	if (exit_ctls & EXIT_CTL_LOAD_EFER)
		sr.efer = v12->host_ia32_efer;
	else if (host64)
		sr.efer |= EFER_LMA | EFER_LME;
	else
		sr.efer &= ~(u64)(EFER_LMA | EFER_LME);
	/* 28.5.2: segments and descriptor tables. */
	for (int i = 0; i < 6; i++) {
		static const u32 sel_field[6] = { HOST_ES_SELECTOR, HOST_CS_SELECTOR,
						  HOST_SS_SELECTOR, HOST_DS_SELECTOR,
						  HOST_FS_SELECTOR, HOST_GS_SELECTOR };
		struct x86_segment *g = &sr.seg[i];
		u64 sel = 0;

		vmcs_read(v12, sel_field[i], &sel);
		g->sel = (u16)sel;
		g->base = i == SEG_FS ? v12->host_fs_base : i == SEG_GS ? v12->host_gs_base : 0;
		g->limit = 0xffffffff;
		if (i == SEG_CS) /* type 11, S, DPL 0, P, L = host64, D = !L, G */
			g->ar = 0xb | BIT(4) | BIT(7) | (host64 ? BIT(13) : BIT(14)) | BIT(15);
		else if (!g->sel) /* a null selector makes the register unusable */
			g->ar = AR_UNUSABLE;
		else /* type 3, S, DPL 0, P, D/B, G */
			g->ar = 0x3 | BIT(4) | BIT(7) | BIT(14) | BIT(15);
	}
	sr.seg[SEG_TR] = (struct x86_segment){ .sel = (u16)v12->host_tr_selector,
					       .base = v12->host_tr_base,
					       .limit = 0x67,
					       .ar = 0xb | BIT(7) };
	sr.seg[SEG_LDTR] = (struct x86_segment){ .ar = AR_UNUSABLE };
	sr.gdt = (struct x86_dtable){ v12->host_gdtr_base, 0xffff };
	sr.idt = (struct x86_dtable){ v12->host_idtr_base, 0xffff };
	soft_set_sregs(vcpu, &sr);
	cpu_set_msr(s->cpu, MSR_IA32_SYSENTER_CS, (u32)v12->host_ia32_sysenter_cs);
	cpu_set_msr(s->cpu, MSR_IA32_SYSENTER_ESP, v12->host_ia32_sysenter_esp);
	cpu_set_msr(s->cpu, MSR_IA32_SYSENTER_EIP, v12->host_ia32_sysenter_eip);
	VMCS_SET(v02, GUEST_SYSENTER_CS, (u32)v12->host_ia32_sysenter_cs);
	VMCS_SET(v02, GUEST_SYSENTER_ESP, v12->host_ia32_sysenter_esp);
	VMCS_SET(v02, GUEST_SYSENTER_EIP, v12->host_ia32_sysenter_eip);
	if (exit_ctls & EXIT_CTL_LOAD_PAT) {
		cpu_set_msr(s->cpu, MSR_IA32_PAT, v12->host_ia32_pat);
		VMCS_SET(v02, GUEST_IA32_PAT, v12->host_ia32_pat);
	}
	/* 28.5.1: DR7 = 400H, IA32_DEBUGCTL = 0. 28.5.3: RIP, RSP from the host-state area,
	   RFLAGS = 2. No blocking by STI or MOV SS; an NMI exit leaves NMIs blocked (28.3 & 31.7
	   "NMI blocking after an NMI-caused exit"), activity state active. */
	cpu_get_vmx_state(s->cpu, &st);
	st.dr7 = 0x400;
	st.debugctl = 0;
	cpu_set_vmx_state(s->cpu, &st);
	VMCS_SET(v02, GUEST_DR7, 0x400);
	VMCS_SET(v02, GUEST_IA32_DEBUGCTL, 0);
	soft_get_regs(vcpu, &r);
	r.rip = v12->host_rip;
	r.gpr[R_RSP] = v12->host_rsp;
	r.rflags = 2;
	soft_set_regs(vcpu, &r);
	VMCS_SET(v02, GUEST_INTERRUPTIBILITY_INFO,
		 (e->reason & 0xffff) == EXIT_REASON_EXCEPTION_NMI &&
				 (e->intr_info & INTR_INFO_VALID) &&
				 INTR_INFO_TYPE(e->intr_info) == INTR_TYPE_NMI
			 ? GUEST_INTR_STATE_NMI
			 : 0);
	VMCS_SET(v02, GUEST_ACTIVITY_STATE, GUEST_ACTIVITY_ACTIVE);
	VMCS_SET(v02, GUEST_PENDING_DBG_EXCEPTIONS, 0);
	VMCS_SET(v02, VM_ENTRY_INTR_INFO_FIELD, 0);
	v02->guest_dirty = VMCS_DIRTY_ALL;
	v02->ctls_checked = false;
	if (vcpu->mp_state == VCPU_HALTED)
		vcpu->mp_state = VCPU_RUNNABLE; /* L2's HLT ended with the exit to L1 */
	if (!exit_msr_lists(vcpu, v12))
		vm_request_stop(
			vcpu->vm, EXIT_STATUS_STOPPED,
			"VMX abort: the guest hypervisor's VM-exit MSR lists cannot be stored "
			"or loaded (SDM 28.4, 28.6, 28.7)");
	/* An interrupt still pending for L1 is taken when L1 can take it. */
	if (vcpu->intr)
		VMCS_SET(v02, CPU_BASED_VM_EXEC_CONTROL,
			 v02->cpu_based_vm_exec_control | PROC_INTR_WINDOW_EXITING);
	shadow_push(vcpu); /* L1 reads the exit information from the shadow */
}

/* --- Which L2 exits L1 asked for (SDM vol. 3C 26.1-26.2) --- */

static u32 proc2_of(const struct vmcs *v)
{
	return (v->cpu_based_vm_exec_control & PROC_SECONDARY_CONTROLS)
		       ? (u32)v->secondary_vm_exec_control
		       : 0;
}

/* 26.1.3 "I/O instructions", "RDMSR"/"WRMSR": the CPU's own rules on L1's controls and its
   bitmaps in L1's memory (a bitmap not in RAM counts as all ones). */
static bool l1_wants_io(struct vcpu *vcpu, const struct vmcs *v12, const struct vm_exit *e)
{
	return cpu_io_bitmap_exits((u32)v12->cpu_based_vm_exec_control,
				   l1_ram(vcpu, v12->io_bitmap_a, 4096),
				   l1_ram(vcpu, v12->io_bitmap_b, 4096), IO_QUAL_PORT(e->qual),
				   IO_QUAL_SIZE(e->qual));
}

static bool l1_wants_msr(struct vcpu *vcpu, const struct vmcs *v12, bool write)
{
	struct x86_regs r;

	soft_get_regs(vcpu, &r);
	return cpu_msr_bitmap_exits((u32)v12->cpu_based_vm_exec_control,
				    l1_ram(vcpu, v12->msr_bitmap, 4096), (u32)r.gpr[R_RCX], write);
}

/* 26.1.3 "MOV to CR0/CR3/CR4/CR8", "MOV from CR3/CR8", CLTS, LMSW. */
static bool l1_wants_cr(struct vcpu *vcpu, const struct vmcs *v12, u64 qual)
{
	unsigned cr = qual & 15, type = (qual >> 4) & 3, gpr = (qual >> 8) & 15;
	u32 proc = (u32)v12->cpu_based_vm_exec_control;
	u64 mask = cr == 4 ? v12->cr4_guest_host_mask : v12->cr0_guest_host_mask;
	u64 shadow = cr == 4 ? v12->cr4_read_shadow : v12->cr0_read_shadow;
	struct x86_regs r;
	u64 val, lmsw;

	soft_get_regs(vcpu, &r);
	val = r.gpr[gpr];
	switch (type) {
	case 0: /* MOV to CR */
		if (cr == 0 || cr == 4)
			return (val ^ shadow) & mask;
		if (cr == 3) {
			const u64 targets[4] = { v12->cr3_target_value0, v12->cr3_target_value1,
						 v12->cr3_target_value2, v12->cr3_target_value3 };

			if (!(proc & PROC_CR3_LOAD_EXITING))
				return false;
			for (u32 i = 0; i < v12->cr3_target_count && i < 4; i++)
				if (targets[i] == val)
					return false;
			return true;
		}
		return cr == 8 && (proc & PROC_CR8_LOAD_EXITING);
	case 1: /* MOV from CR */
		return cr == 3 ? proc & PROC_CR3_STORE_EXITING : proc & PROC_CR8_STORE_EXITING;
	case 2: /* CLTS */
		return (mask & CR0_TS) && (shadow & CR0_TS);
	default: /* LMSW: source bits 3:0 in the qualification's 31:16 */
		lmsw = (qual >> 16) & 0xf;
		return ((mask & CR0_PE) && !(shadow & CR0_PE) && (lmsw & CR0_PE)) ||
		       ((lmsw ^ shadow) & mask & 0xe);
	}
}

static bool nested_l1_wants(struct vcpu *vcpu, const struct vm_exit *e)
{
	const struct vmcs *v12 = &nested(vcpu)->vmcs12;
	u32 pin = (u32)v12->pin_based_vm_exec_control;
	u32 proc = (u32)v12->cpu_based_vm_exec_control, proc2 = proc2_of(v12);

	if (e->reason & EXIT_REASON_FAILED_VMENTRY)
		return true; /* vmcs02's guest state is vmcs12's: 27.8 for L1 */
	switch (e->reason & 0xffff) {
	case EXIT_REASON_EXCEPTION_NMI: {
		u32 vec = INTR_INFO_VECTOR(e->intr_info);

		if (INTR_INFO_TYPE(e->intr_info) == INTR_TYPE_NMI)
			return pin & PIN_NMI_EXITING;
		if (vec == X86_PF_VEC) /* 26.2: PFEC & mask == match, per bit 14 of the bitmap */
			return ((e->intr_error & v12->page_fault_error_code_mask) ==
				v12->page_fault_error_code_match) ==
			       !!(v12->exception_bitmap & BIT(X86_PF_VEC));
		return v12->exception_bitmap & BIT(vec);
	}
	case EXIT_REASON_EXTERNAL_INTERRUPT: /* the host's interrupt or kick: L0's */
	case EXIT_REASON_PML_FULL:
		return false;
	case EXIT_REASON_EPT_VIOLATION: /* L1's EPT, not the outer one (L0's) */
	case EXIT_REASON_EPT_MISCONFIG:
		return (proc2 & PROC2_ENABLE_EPT) && !e->ept_outer;
	case EXIT_REASON_INTERRUPT_WINDOW:
		return proc & PROC_INTR_WINDOW_EXITING;
	case EXIT_REASON_NMI_WINDOW:
		return proc & PROC_NMI_WINDOW_EXITING;
	case EXIT_REASON_HLT:
		return proc & PROC_HLT_EXITING;
	case EXIT_REASON_INVLPG:
		return proc & PROC_INVLPG_EXITING;
	case EXIT_REASON_RDPMC:
		return proc & PROC_RDPMC_EXITING;
	case EXIT_REASON_RDTSC:
	case EXIT_REASON_RDTSCP:
		return proc & PROC_RDTSC_EXITING;
	case EXIT_REASON_CR_ACCESS:
		return l1_wants_cr(vcpu, v12, e->qual);
	case EXIT_REASON_DR_ACCESS:
		return proc & PROC_MOV_DR_EXITING;
	case EXIT_REASON_IO_INSTRUCTION:
		return l1_wants_io(vcpu, v12, e);
	case EXIT_REASON_MSR_READ:
		return l1_wants_msr(vcpu, v12, false);
	case EXIT_REASON_MSR_WRITE:
		return l1_wants_msr(vcpu, v12, true);
	case EXIT_REASON_MWAIT_INSTRUCTION:
		return proc & PROC_MWAIT_EXITING;
	case EXIT_REASON_MONITOR_INSTRUCTION:
		return proc & PROC_MONITOR_EXITING;
	case EXIT_REASON_PAUSE_INSTRUCTION:
		return proc & PROC_PAUSE_EXITING;
	case EXIT_REASON_MONITOR_TRAP_FLAG:
		return proc & PROC_MONITOR_TRAP_FLAG;
	case EXIT_REASON_GDTR_IDTR:
	case EXIT_REASON_LDTR_TR:
		return proc2 & PROC2_DESC_TABLE_EXITING;
	case EXIT_REASON_PREEMPTION_TIMER:
		return pin & PIN_PREEMPTION_TIMER;
	case EXIT_REASON_WBINVD:
		return proc2 & PROC2_WBINVD_EXITING;
	case EXIT_REASON_RDRAND:
		return proc2 & PROC2_RDRAND_EXITING;
	case EXIT_REASON_RDSEED:
		return proc2 & PROC2_RDSEED_EXITING;
	case EXIT_REASON_INVPCID:
		return (proc & PROC_INVLPG_EXITING) && (proc2 & PROC2_ENABLE_INVPCID);
	default:
		/* Unconditional exits (26.1.2: CPUID, GETSEC, INVD, XSETBV, the VMX instructions,
		   VMCALL), triple fault, task switch, and whatever else only L1 can have asked for.
		 */
		return true;
	}
}

/* --- Entering L2 (SDM vol. 3C chapter 27) --- */

/*
 * vmcs02's MSR bitmap when vmcs12 virtualizes x2APIC mode (30.5): an access in 800H-8FFH that
 * L1's bitmap lets through and the CPU virtualizes from vmcs12's virtual-APIC page runs in L2;
 * every other access exits to L0 as without a bitmap, and L0 reflects it to L1 or carries it
 * out on L1's own x2APIC ("operates normally": L1's LAPIC is what L2 reaches there).
 */
static void nested_msr_bitmap(struct vcpu *vcpu)
{
	struct nested_vmx *n = nested(vcpu);
	const struct vmcs *v12 = &n->vmcs12;
	u32 proc2 = proc2_of(v12);
	/* 25.6.9: read bitmap for 0-1FFFH at byte 0, write bitmap at 800H; the x2APIC MSRs are
	   bits 800H-8FFH of each (bytes 100H-11FH, 900H-91FH). In L1's RAM: checked at
	   VMLAUNCH/VMRESUME. */
	const u8 *bm12 = l1_ram(vcpu, v12->msr_bitmap, 4096);
	u8 now[64];

	/* Built again only when L1's x2APIC bits or the controls changed (most entries: not). */
	if (!bm12)
		return;
	memcpy(now, bm12 + 0x100, 32);
	memcpy(now + 32, bm12 + 0x900, 32);
	if (n->msr_bitmap02_proc2 == proc2 && !memcmp(now, n->msr_bitmap02_from, 64))
		return;
	n->msr_bitmap02_proc2 = proc2;
	memcpy(n->msr_bitmap02_from, now, 64);
	for (u32 msr = 0x800; msr <= 0x8ff; msr++) {
		for (unsigned w = 0; w < 2; w++) {
			unsigned byte = w * 0x800 + msr / 8, bit = msr % 8;
			bool pass = !(bm12[byte] >> bit & 1) &&
				    cpu_x2apic_virtualized(proc2, msr, w);

			n->msr_bitmap02[byte] = (u8)((n->msr_bitmap02[byte] & ~(1u << bit)) |
						     (pass ? 0 : 1u << bit));
		}
	}
}

/*
 * vmcs02: vmcs12's guest state and controls, and what L0 keeps for itself:
 *  - the host-state area is vmcs01's (an L2 exit comes back to L0's C code);
 *  - external-interrupt exiting: the host's interrupts and kicks are L0's; interrupts for L1
 *    reach L2 or L1 through nested_inject_interrupt;
 *  - unconditional I/O exiting and no MSR bitmaps: every port and MSR access exits to L0,
 *    which reads vmcs12's bitmaps itself (L1's bitmaps are never handed to the CPU), but for
 *    the x2APIC accesses vmcs12 virtualizes (nested_msr_bitmap);
 *  - vmcs12's TPR shadow, APIC-access page, virtual-interrupt delivery and EOI-exit bitmap
 *    as they are (the pages are in L1's RAM, checked at VMLAUNCH); posted interrupts off:
 *    their notification comes from L1's LAPIC, not as a host interrupt, and L0 does the
 *    processing (nested_posted);
 *  - RDPMC, MONITOR/MWAIT, CR8 and WBINVD exiting where L0 has them: L0 answers those for any
 *    guest (the PMU it lacks, the TPR of L1's LAPIC);
 *  - L0's EPT (L2's guest-physical addresses are L1's), no VPID (the CPU flushes the TLB at
 *    every entry and exit of L2), TSC offsets added (26.6.5), the CR0/CR4 masks ORed with
 *    L0's, the read shadows of bits only L0 owns holding the guest value;
 *  - the exit controls save EFER, PAT and the debug controls, so that vmcs12 gets what its
 *    own exit controls ask for; the VM-exit MSR lists are L0's to do at L1's exit (28.4, 28.6).
 */
static void nested_build_vmcs02(struct vcpu *vcpu)
{
	struct soft_vcpu *s = soft(vcpu);
	struct nested_vmx *n = s->nested;
	const struct vmcs *v01 = &n->vmcs01, *v12 = &n->vmcs12;
	struct vmcs *v02 = &s->vmcs;
	u32 proc01 = (u32)v01->cpu_based_vm_exec_control,
	    proc12 = (u32)v12->cpu_based_vm_exec_control;
	u32 pin12 = (u32)v12->pin_based_vm_exec_control, proc2_12 = proc2_of(v12), proc;
	u64 m0 = v01->cr0_guest_host_mask & ~v12->cr0_guest_host_mask;
	u64 m4 = v01->cr4_guest_host_mask & ~v12->cr4_guest_host_mask;

	*v02 = *v12;
#define X(NAME, name, enc)                                                                         \
	if (VMCS_ENC_TYPE(enc) == VMCS_TYPE_HOST)                                                  \
		v02->name = v01->name;
#include "vmx/vmcs_fields.h"
#undef X
	v02->pin_based_vm_exec_control =
		(pin12 & ~(u32)PIN_POSTED_INTERRUPTS) | PIN_EXTINT_EXITING |
		(v01->pin_based_vm_exec_control & PIN_PREEMPTION_TIMER & ~(u64)pin12);
	if (!(pin12 & PIN_PREEMPTION_TIMER) &&
	    (v01->pin_based_vm_exec_control & PIN_PREEMPTION_TIMER))
		v02->vmx_preemption_timer_value = v01->vmx_preemption_timer_value;
	proc = (proc12 & ~(u32)(PROC_USE_IO_BITMAPS | PROC_USE_MSR_BITMAPS)) |
	       PROC_UNCOND_IO_EXITING | PROC_SECONDARY_CONTROLS |
	       (proc01 & (PROC_RDPMC_EXITING | PROC_MWAIT_EXITING | PROC_MONITOR_EXITING |
			  PROC_TSC_OFFSETTING));
	/* L2's CR8 is L1's TPR unless vmcs12 shadows it: then it is vmcs12's VTPR (29.3). */
	if (!(proc12 & PROC_TPR_SHADOW))
		proc |= proc01 & (PROC_CR8_LOAD_EXITING | PROC_CR8_STORE_EXITING);
	if ((proc2_12 & PROC2_VIRT_X2APIC) && (proc12 & PROC_USE_MSR_BITMAPS)) {
		nested_msr_bitmap(vcpu);
		proc |= PROC_USE_MSR_BITMAPS;
		v02->msr_bitmap = n->msr_bitmap02_hpa;
	}
	v02->cpu_based_vm_exec_control = proc;
	v02->secondary_vm_exec_control = (proc2_12 & ~(u32)PROC2_ENABLE_VPID) | PROC2_ENABLE_EPT |
					 (v01->secondary_vm_exec_control & PROC2_WBINVD_EXITING);
	/* Nested EPT: the CPU walks L1's EPT, its tables and results through L0's (cpu/ept.c);
	   without it L2's guest-physical addresses are L1's, mapped by L0's EPT. */
	if (proc2_12 & PROC2_ENABLE_EPT) {
		v02->ept_pointer = v12->ept_pointer;
		v02->eptp_outer = v01->ept_pointer;
	} else {
		v02->ept_pointer = v01->ept_pointer;
		v02->eptp_outer = 0;
	}
	v02->virtual_processor_id = 0;
	v02->tsc_offset = (proc01 & PROC_TSC_OFFSETTING ? v01->tsc_offset : 0) +
			  (proc12 & PROC_TSC_OFFSETTING ? v12->tsc_offset : 0);
	v02->exception_bitmap = v12->exception_bitmap | v01->exception_bitmap;
	v02->cr0_guest_host_mask = v12->cr0_guest_host_mask | m0;
	v02->cr4_guest_host_mask = v12->cr4_guest_host_mask | m4;
	v02->cr0_read_shadow = (v12->cr0_read_shadow & v12->cr0_guest_host_mask) |
			       (v12->guest_cr0 & m0);
	v02->cr4_read_shadow = (v12->cr4_read_shadow & v12->cr4_guest_host_mask) |
			       (v12->guest_cr4 & m4);
	v02->vm_exit_controls = v01->vm_exit_controls | EXIT_CTL_SAVE_EFER | EXIT_CTL_SAVE_PAT |
				EXIT_CTL_SAVE_DEBUG_CONTROLS |
				(v12->vm_exit_controls & EXIT_CTL_SAVE_PREEMPTION_TIMER);
	v02->vm_exit_msr_store_count = 0;
	v02->vm_exit_msr_load_count = 0;
	/* The VMCS link pointer (27.3.1.5) and the VM-entry MSR-load list (27.4) are read by the
	   CPU at entry: handed over only inside L1's RAM; elsewhere a value the entry refuses. */
	if (v12->vmcs_link_pointer != VMCS_NONE && !l1_ram(vcpu, v12->vmcs_link_pointer, 4096))
		v02->vmcs_link_pointer = 1;
	v02->launched = false;
	v02->guest_dirty = VMCS_DIRTY_ALL;
	v02->ctls_checked = false;
}

/* VMLAUNCH/VMRESUME (32.3), after vmx_insn's common checks. */
static void nested_launch(struct vcpu *vcpu, const struct vm_exit *e, bool resume)
{
	struct soft_vcpu *s = soft(vcpu);
	struct nested_vmx *n = s->nested;
	struct vmcs *v12 = &n->vmcs12;
	struct vmx_vcpu x = s->vmx;
	static const struct {
		u32 msr, field;
	} ctls[] = {
		{ MSR_IA32_VMX_TRUE_PINBASED_CTLS, PIN_BASED_VM_EXEC_CONTROL },
		{ MSR_IA32_VMX_TRUE_PROCBASED_CTLS, CPU_BASED_VM_EXEC_CONTROL },
		{ MSR_IA32_VMX_TRUE_EXIT_CTLS, VM_EXIT_CONTROLS },
		{ MSR_IA32_VMX_TRUE_ENTRY_CTLS, VM_ENTRY_CONTROLS },
	};
	u64 cap, value;

	if (n->current_ptr == VMCS_NONE)
		return vmx_complete(vcpu, e, VMFAIL_INVALID);
	if (s->vmcs.guest_interruptibility_info & GUEST_INTR_STATE_MOV_SS)
		return vmx_complete(vcpu, e, VMXERR_ENTRY_EVENTS_BLOCKED_BY_MOV_SS);
	if (!resume && v12->launched)
		return vmx_complete(vcpu, e, VMXERR_VMLAUNCH_NONCLEAR);
	if (resume && !v12->launched)
		return vmx_complete(vcpu, e, VMXERR_VMRESUME_NONLAUNCHED);
	/* 27.2.1: the controls, first against what L1 was offered, then the model's checks. */
	for (size_t i = 0; i < ARRAY_SIZE(ctls); i++) {
		vmx_nested_cap_msr(ctls[i].msr, &cap);
		vmcs_read(v12, ctls[i].field, &value);
		if (!vmx_ctls_allowed(cap, (u32)value))
			return vmx_complete(vcpu, e, VMXERR_ENTRY_INVALID_CONTROL);
	}
	vmx_nested_cap_msr(MSR_IA32_VMX_PROCBASED_CTLS2, &cap);
	if ((v12->cpu_based_vm_exec_control & PROC_SECONDARY_CONTROLS) &&
	    !vmx_ctls_allowed(cap, (u32)v12->secondary_vm_exec_control))
		return vmx_complete(vcpu, e, VMXERR_ENTRY_INVALID_CONTROL);
	x.vmcs = v12;
	x.host_ptr = l1_host_ptr;
	x.opaque = vcpu;
	if (vmx_check_controls(&x) ||
	    (v12->vm_entry_msr_load_count &&
	     !l1_ram(vcpu, v12->vm_entry_msr_load_addr, v12->vm_entry_msr_load_count * 16)))
		return vmx_complete(vcpu, e, VMXERR_ENTRY_INVALID_CONTROL);
	if (vmx_check_host_state(&x))
		return vmx_complete(vcpu, e, VMXERR_ENTRY_INVALID_HOST_STATE);
	/* L1 is frozen at its VMLAUNCH (its RIP stays; its exit returns at HOST_RIP). */
	n->vmcs01 = s->vmcs;
	nested_build_vmcs02(vcpu);
	n->guest_mode = true;
	n->stats.entries++;
}

/* --- L1's VMX instructions (SDM vol. 3C 32.3) --- */

/* The 64-bit physical-address operand of VMXON, VMCLEAR, VMPTRLD: false when its read
   faulted (the #PF is delivered). */
static bool read_pa_operand(struct vcpu *vcpu, const struct vm_exit *e, u64 *pa)
{
	struct x86_regs r;
	struct x86_sregs s;
	u64 gva;

	soft_get_regs(vcpu, &r);
	soft_get_sregs(vcpu, &s);
	gva = insn_mem_addr(e, &r, &s);
	if (soft_read_guest_virt(vcpu, gva, pa, 8)) {
		operand_fault(vcpu, gva, false);
		return false;
	}
	return true;
}

/* The revision identifier at a VMCS or VMXON region; 0 (never ours) when not in RAM. */
static u32 region_revision(struct vcpu *vcpu, u64 pa)
{
	u8 *p = l1_ram(vcpu, pa, VMCS_REGION_SIZE);
	u32 rev = 0;

	if (p)
		memcpy(&rev, p, 4);
	return rev;
}

static void vmx_vmxon(struct vcpu *vcpu, const struct vm_exit *e, const struct x86_sregs *s)
{
	struct nested_vmx *n = nested(vcpu);
	u64 fc = 0, cr0_fixed0 = 0, cr0_fixed1 = 0, cr4_fixed0 = 0, cr4_fixed1 = 0, pa;

	msr_policy_read(vcpu->msr_values, MSR_IA32_FEATURE_CONTROL, &fc);
	vmx_cap_msr(MSR_IA32_VMX_CR0_FIXED0, &cr0_fixed0);
	vmx_cap_msr(MSR_IA32_VMX_CR0_FIXED1, &cr0_fixed1);
	vmx_cap_msr(MSR_IA32_VMX_CR4_FIXED0, &cr4_fixed0);
	vmx_cap_msr(MSR_IA32_VMX_CR4_FIXED1, &cr4_fixed1);
	if (n->vmxon) /* VMXON in VMX root operation */
		return vmx_complete(vcpu, e, VMXERR_VMXON_IN_ROOT);
	/* CR0/CR4 outside the fixed bits (A.7, A.8), IA32_FEATURE_CONTROL unlocked or without
	   "VMXON outside SMX" (23.7): #GP(0). */
	if ((s->cr0 & cr0_fixed0) != cr0_fixed0 || ((u32)s->cr0 & ~(u32)cr0_fixed1) ||
	    (s->cr4 & cr4_fixed0) != cr4_fixed0 || (s->cr4 & ~cr4_fixed1) ||
	    (fc & (BIT(0) | BIT(2))) != (BIT(0) | BIT(2)))
		return soft_inject_exception(vcpu, X86_GP, true, 0);
	if (!read_pa_operand(vcpu, e, &pa))
		return;
	if (!vmx_addr_ok(pa) || region_revision(vcpu, pa) != VMCS_REVISION_ID)
		return vmx_complete(vcpu, e, VMFAIL_INVALID);
	n->vmxon = true;
	n->vmxon_ptr = pa;
	n->current_ptr = VMCS_NONE;
	vmx_complete(vcpu, e, 0);
}

static void vmx_vmclear(struct vcpu *vcpu, const struct vm_exit *e)
{
	struct nested_vmx *n = nested(vcpu);
	u8 *p;
	u64 pa;

	if (!read_pa_operand(vcpu, e, &pa))
		return;
	if (!vmx_addr_ok(pa))
		return vmx_complete(vcpu, e, VMXERR_VMCLEAR_INVALID_ADDR);
	if (pa == n->vmxon_ptr)
		return vmx_complete(vcpu, e, VMXERR_VMCLEAR_VMXON_PTR);
	if (pa == n->current_ptr) {
		n->vmcs12.launched = false;
		vmcs12_flush(vcpu);
		n->current_ptr = VMCS_NONE;
	} else if ((p = l1_ram(vcpu, pa, VMCS_REGION_SIZE))) {
		p[8] = 0; /* launch state "clear" in the region (25.1, the model's format) */
		vm_mem_written(vcpu->vm, pa + 8, 1);
	}
	vmx_complete(vcpu, e, 0);
}

static void vmx_vmptrld(struct vcpu *vcpu, const struct vm_exit *e)
{
	struct nested_vmx *n = nested(vcpu);
	u64 pa;

	if (!read_pa_operand(vcpu, e, &pa))
		return;
	if (!vmx_addr_ok(pa))
		return vmx_complete(vcpu, e, VMXERR_VMPTRLD_INVALID_ADDR);
	if (pa == n->vmxon_ptr)
		return vmx_complete(vcpu, e, VMXERR_VMPTRLD_VMXON_PTR);
	/* Bit 31 set is a shadow VMCS, which needs VMCS shadowing (not offered). */
	if (region_revision(vcpu, pa) != VMCS_REVISION_ID)
		return vmx_complete(vcpu, e, VMXERR_VMPTRLD_BAD_REVISION);
	if (pa != n->current_ptr) {
		vmcs12_flush(vcpu);
		vmcs_from_region(&n->vmcs12, l1_ram(vcpu, pa, VMCS_REGION_SIZE));
		n->current_ptr = pa;
	}
	vmx_complete(vcpu, e, 0);
}

static void vmx_vmptrst(struct vcpu *vcpu, const struct vm_exit *e)
{
	struct nested_vmx *n = nested(vcpu);
	struct x86_regs r;
	struct x86_sregs s;
	u64 gva;

	soft_get_regs(vcpu, &r);
	soft_get_sregs(vcpu, &s);
	gva = insn_mem_addr(e, &r, &s);
	if (soft_write_guest_virt(vcpu, gva, &n->current_ptr, 8))
		return operand_fault(vcpu, gva, true);
	vmx_complete(vcpu, e, 0);
}

/* VMREAD and VMWRITE: reg2 holds the field's encoding; reg1 or memory the value, 64 bits in
   64-bit mode and 32 otherwise (32.3, Table 28-15). */
static void vmx_vmread_vmwrite(struct vcpu *vcpu, const struct vm_exit *e, bool write)
{
	struct nested_vmx *n = nested(vcpu);
	u32 info = e->insn_info;
	struct x86_regs r;
	struct x86_sregs s;
	unsigned len;
	u64 enc, value = 0, gva = 0;
	int err;

	if (n->current_ptr == VMCS_NONE)
		return vmx_complete(vcpu, e, VMFAIL_INVALID);
	soft_get_regs(vcpu, &r);
	soft_get_sregs(vcpu, &s);
	len = long_mode(&s) ? 8 : 4;
	enc = r.gpr[(info >> 28) & 15] & (len == 8 ? ~0ull : 0xffffffffull);
	if (!(info & BIT(10)))
		gva = insn_mem_addr(e, &r, &s);
	if (write) {
		if (info & BIT(10))
			value = r.gpr[(info >> 3) & 15];
		else if (soft_read_guest_virt(vcpu, gva, &value, len))
			return operand_fault(vcpu, gva, false);
		if (len == 4)
			value = (u32)value;
		err = enc >> 32 ? VMXERR_UNSUPPORTED_COMPONENT
				: vmcs_write(&n->vmcs12, (u32)enc, value);
		return vmx_complete(vcpu, e, err);
	}
	err = enc >> 32 ? VMXERR_UNSUPPORTED_COMPONENT : vmcs_read(&n->vmcs12, (u32)enc, &value);
	if (err)
		return vmx_complete(vcpu, e, err);
	if (len == 4)
		value = (u32)value;
	if (info & BIT(10)) {
		r.gpr[(info >> 3) & 15] = value;
		soft_set_regs(vcpu, &r);
	} else if (soft_write_guest_virt(vcpu, gva, &value, len)) {
		return operand_fault(vcpu, gva, true);
	}
	vmx_complete(vcpu, e, 0);
}

/*
 * INVEPT and INVVPID (32.3): the type in reg2, a 128-bit descriptor. INVEPT: types 1
 * (single-context) and 2 (global), the EPTP then 64 reserved bits. INVVPID: types 0-3, the VPID
 * in bits 15:0 (63:16 reserved, 0 only for type 2), the linear address in 127:64 (canonical for
 * type 0). L2 runs without VPID and its translations do not outlive its exits (nested.h), so
 * there is nothing cached to drop.
 */
static void vmx_invalidate(struct vcpu *vcpu, const struct vm_exit *e, bool ept)
{
	struct x86_regs r;
	struct x86_sregs s;
	u64 desc[2], type, gva;
	bool bad;

	soft_get_regs(vcpu, &r);
	soft_get_sregs(vcpu, &s);
	type = r.gpr[(e->insn_info >> 28) & 15];
	if (!long_mode(&s))
		type = (u32)type;
	gva = insn_mem_addr(e, &r, &s);
	if (soft_read_guest_virt(vcpu, gva, desc, 16))
		return operand_fault(vcpu, gva, false);
	if (ept)
		bad = type != 1 && type != 2;
	else
		bad = type > 3 || (desc[0] >> 16) || (type != 2 && !(u16)desc[0]) ||
		      (type == 0 && (s64)(desc[1] << 16) >> 16 != (s64)desc[1]);
	vmx_complete(vcpu, e, bad ? VMXERR_INVALID_INVEPT_INVVPID : 0);
}

/* An L1 VMX instruction (exits 19-27, 50, 53): #UD outside VMX operation (but for VMXON) and
   where CPUID does not offer it, #GP(0) at CPL > 0, then the instruction. */
static void nested_vmx_insn(struct vcpu *vcpu, const struct vm_exit *e)
{
	struct nested_vmx *n = nested(vcpu);
	u32 reason = e->reason & 0xffff;
	struct x86_sregs s;
	struct x86_regs r;

	n->stats.vmx_insns++;
	soft_get_sregs(vcpu, &s);
	soft_get_regs(vcpu, &r);
	/* 32.3: #UD with CR4.VMXE = 0 (VMXON), outside VMX operation, in virtual-8086 mode. */
	if ((reason == EXIT_REASON_VMON ? !(s.cr4 & CR4_VMXE) : !n->vmxon) || (r.rflags & X86_VM))
		return soft_inject_exception(vcpu, X86_UD, false, 0);
	if ((s.seg[SEG_SS].ar >> 5) & 3)
		return soft_inject_exception(vcpu, X86_GP, true, 0);
	switch (reason) {
	case EXIT_REASON_VMON:
		return vmx_vmxon(vcpu, e, &s);
	case EXIT_REASON_VMOFF:
		vmcs12_flush(vcpu);
		n->vmxon = false;
		n->current_ptr = VMCS_NONE;
		return vmx_complete(vcpu, e, 0);
	case EXIT_REASON_VMCLEAR:
		return vmx_vmclear(vcpu, e);
	case EXIT_REASON_VMPTRLD:
		return vmx_vmptrld(vcpu, e);
	case EXIT_REASON_VMPTRST:
		return vmx_vmptrst(vcpu, e);
	case EXIT_REASON_VMREAD:
		return vmx_vmread_vmwrite(vcpu, e, false);
	case EXIT_REASON_VMWRITE:
		return vmx_vmread_vmwrite(vcpu, e, true);
	case EXIT_REASON_VMLAUNCH:
		return nested_launch(vcpu, e, false);
	case EXIT_REASON_VMRESUME:
		return nested_launch(vcpu, e, true);
	case EXIT_REASON_INVVPID:
	case EXIT_REASON_INVEPT:
		return vmx_invalidate(vcpu, e, reason == EXIT_REASON_INVEPT);
	}
}

/* --- The exit hook --- */

/* L1 in VMX operation: CR0 and CR4 keep their fixed bits (23.8); clearing one is #GP(0). */
static __attribute__((noinline)) bool l1_cr_fixed(struct vcpu *vcpu, const struct vm_exit *e)
{
	unsigned cr = e->qual & 15, type = (e->qual >> 4) & 3;
	u64 fixed0 = 0, val;
	struct x86_regs r;

	if (type != 0 || (cr != 0 && cr != 4))
		return false;
	vmx_cap_msr(cr ? MSR_IA32_VMX_CR4_FIXED0 : MSR_IA32_VMX_CR0_FIXED0, &fixed0);
	soft_get_regs(vcpu, &r);
	val = r.gpr[(e->qual >> 8) & 15];
	if ((val & fixed0) == fixed0)
		return false;
	soft_inject_exception(vcpu, X86_GP, true, 0);
	return true;
}

/* L1's VMX instruction, emulated (nested_exit; out of line, so the common exits that are not
   for nested VMX pass nested_exit's switch without its frame). */
static __attribute__((noinline)) bool l1_vmx_insn(struct vcpu *vcpu, struct vm_exit *exit)
{
	struct nested_vmx *n = nested(vcpu);
	u64 t0 = stats_now_ns();

	soft_sync(vcpu); /* the operands' segments, the VMCS switch (vmx.h lazy_save) */
	shadow_pull(n);
	nested_vmx_insn(vcpu, exit);
	if (!n->guest_mode)
		shadow_push(vcpu);
	n->stats.insn_ns += stats_now_ns() - t0;
	return true;
}

/* The VMX capability MSRs as L1 sees them (appendix A); writes are #GP. ECX is looked at
   before the registers are read whole (RFLAGS is not free, soft_get_regs). */
static __attribute__((noinline)) bool l1_vmx_cap_rdmsr(struct vcpu *vcpu, const struct vm_exit *exit)
{
	struct x86_regs r;
	u64 gpr[16], value;

	cpu_get_gprs(soft(vcpu)->cpu, gpr);
	if (vmx_nested_cap_msr((u32)gpr[R_RCX], &value))
		return false;
	soft_get_regs(vcpu, &r);
	r.gpr[R_RAX] = (u32)value;
	r.gpr[R_RDX] = value >> 32;
	r.rip += exit->insn_len;
	soft_set_regs(vcpu, &r);
	return true;
}

/* An exit while L2 runs: L1's when its controls take it (reflected), else the VMM's. */
static __attribute__((noinline)) bool l2_exit(struct vcpu *vcpu, struct vm_exit *exit)
{
	struct nested_vmx *n = nested(vcpu);
	u32 basic = exit->reason & 0xffff;

	if (nested_l1_wants(vcpu, exit)) {
		nested_vmexit(vcpu, exit);
		return true;
	}
	n->stats.l2_l0++;
	/* L2 in the HLT state under L1's preemption timer: the host tick's exit is the
	   CPU looking up from HLT; the timer (26.5.1) ends the state, not the VMM's
	   "halted for good", so L2 resumes until it does. */
	if (basic == EXIT_REASON_EXTERNAL_INTERRUPT &&
	    soft(vcpu)->vmcs.guest_activity_state == GUEST_ACTIVITY_HLT &&
	    (n->vmcs12.pin_based_vm_exec_control & PIN_PREEMPTION_TIMER))
		return true;
	/* A MOV to CR0/CR4 L1 let through that exited for L0's bits (CR0.NE, CR4.VMXE,
	   fixed to 1 in VMX operation): L2 cleared a fixed bit, #GP(0) (23.8). */
	if (basic == EXIT_REASON_CR_ACCESS && !((exit->qual >> 4) & 3) &&
	    ((exit->qual & 15) == 0 || (exit->qual & 15) == 4)) {
		soft_inject_exception(vcpu, X86_GP, true, 0);
		return true;
	}
	return false;
}

bool nested_exit(struct vcpu *vcpu, struct vm_exit *exit)
{
	struct nested_vmx *n = nested(vcpu);
	u32 basic = exit->reason & 0xffff;

	if (!n)
		return false;
	if (n->guest_mode)
		return l2_exit(vcpu, exit);
	if (n->vmxon)
		n->stats.l1_l0++;
	switch (basic) {
	case EXIT_REASON_VMCLEAR:
	case EXIT_REASON_VMLAUNCH:
	case EXIT_REASON_VMPTRLD:
	case EXIT_REASON_VMPTRST:
	case EXIT_REASON_VMREAD:
	case EXIT_REASON_VMRESUME:
	case EXIT_REASON_VMWRITE:
	case EXIT_REASON_VMOFF:
	case EXIT_REASON_VMON:
	case EXIT_REASON_INVEPT:
	case EXIT_REASON_INVVPID:
		return l1_vmx_insn(vcpu, exit);
	case EXIT_REASON_MSR_READ:
		return l1_vmx_cap_rdmsr(vcpu, exit);
	case EXIT_REASON_CR_ACCESS:
		soft_sync(vcpu);
		return n->vmxon && l1_cr_fixed(vcpu, exit);
	default:
		return false;
	}
}

/* --- Interrupts and NMIs while L2 runs (SDM 26.2, 26.3) --- */

bool nested_extint_exiting(struct vcpu *vcpu)
{
	struct nested_vmx *n = nested(vcpu);

	return n && n->guest_mode && (n->vmcs12.pin_based_vm_exec_control & PIN_EXTINT_EXITING);
}

bool nested_interruptible(struct vcpu *vcpu)
{
	struct nested_vmx *n = nested(vcpu);
	const struct vmcs *v02 = &soft(vcpu)->vmcs;

	/* With external-interrupt exiting and "acknowledge interrupt on exit", the interrupt is
	   an exit whatever L2's RFLAGS.IF (as KVM's vmx_interrupt_blocked); without the
	   acknowledgement, nested_before_entry leaves L2 first and L1 takes it as an interrupt. */
	return (n->vmcs12.vm_exit_controls & EXIT_CTL_ACK_INTR_ON_EXIT) &&
	       !(v02->vm_entry_intr_info_field & INTR_INFO_VALID);
}

/*
 * Posted-interrupt processing for L2 (SDM vol. 3C 30.6): L1's LAPIC presents vmcs12's
 * notification vector while L2 runs with "process posted interrupts" (which requires
 * acknowledge-interrupt-on-exit, so it was just acknowledged). Instead of the exit: the
 * notification is dismissed (EOI to L1's LAPIC), ON cleared, each PIR word moved into VIRR of
 * vmcs12's virtual-APIC page with one atomic exchange (L1's other vCPUs post concurrently), and
 * RVI raised to the highest vector posted; the entry then evaluates and delivers it (30.2.1).
 */
static bool nested_posted(struct vcpu *vcpu, u8 vector)
{
	struct nested_vmx *n = nested(vcpu);
	const struct vmcs *v12 = &n->vmcs12;
	struct vmcs *v02 = &soft(vcpu)->vmcs;
	u64 *desc;
	u8 *vapic;
	int high;

	if (!(v12->pin_based_vm_exec_control & PIN_POSTED_INTERRUPTS) ||
	    vector != (u8)v12->posted_intr_nv)
		return false;
	/* Both in L1's RAM and aligned (checked at VMLAUNCH/VMRESUME, 27.2.1.1). */
	desc = (u64 *)l1_ram(vcpu, v12->posted_intr_desc_addr, 64);
	vapic = l1_ram(vcpu, v12->virtual_apic_page_addr, 4096);
	if (!desc || !vapic)
		return false;
	if (vcpu->intc.eoi)
		vcpu->intc.eoi(vcpu->intc.opaque);
	high = cpu_pir_to_virr(desc, vapic);
	if (high > (u8)v02->guest_intr_status)
		VMCS_SET(v02, GUEST_INTR_STATUS, (v02->guest_intr_status & ~0xffull) | (u8)high);
	n->stats.posted++;
	return true;
}

void nested_inject_interrupt(struct vcpu *vcpu, u8 vector)
{
	struct vm_exit e = { .reason = EXIT_REASON_EXTERNAL_INTERRUPT,
			     .intr_info = vector | INTR_TYPE_EXT_INTR << 8 | INTR_INFO_VALID };

	if (nested_posted(vcpu, vector))
		return;
	nested_vmexit(vcpu, &e);
}

bool nested_before_entry(struct vcpu *vcpu)
{
	struct nested_vmx *n = nested(vcpu);
	struct vmcs *v02 = &soft(vcpu)->vmcs;

	/* vmcs12's VM-entry MSR-load list belongs to L1's VMLAUNCH/VMRESUME (27.4), the first
	   entry of vmcs02: the VMM's own entries after an exit it handled for L2 load nothing. */
	if (n && n->guest_mode && v02->launched && v02->vm_entry_msr_load_count)
		VMCS_SET(v02, VM_ENTRY_MSR_LOAD_COUNT, 0);

	if (!n || !n->guest_mode || !vcpu->intr ||
	    !(n->vmcs12.pin_based_vm_exec_control & PIN_EXTINT_EXITING) ||
	    (n->vmcs12.vm_exit_controls & EXIT_CTL_ACK_INTR_ON_EXIT))
		return false;
	/* The record is built here, not at the top: before every VM entry, zeroing it cost more
	   than the rest of this function. */
	nested_vmexit(vcpu, &(struct vm_exit){ .reason = EXIT_REASON_EXTERNAL_INTERRUPT });
	return true;
}

bool nested_exception_exit(struct vcpu *vcpu, u8 vector, bool has_error, u32 error)
{
	struct nested_vmx *n = nested(vcpu);
	struct vm_exit e = { .reason = EXIT_REASON_EXCEPTION_NMI,
			     .intr_info = vector | INTR_TYPE_HARD_EXCEPTION << 8 | INTR_INFO_VALID |
					  (has_error ? INTR_INFO_DELIVER_CODE : 0),
			     .intr_error = has_error ? error : 0 };

	if (!n || !n->guest_mode || !nested_l1_wants(vcpu, &e))
		return false;
	if (vector == X86_PF_VEC) { /* 28.2.1: the qualification is the faulting address */
		struct x86_sregs s;

		soft_get_sregs(vcpu, &s);
		e.qual = s.cr2;
	}
	nested_vmexit(vcpu, &e);
	return true;
}

bool nested_nmi_exiting(struct vcpu *vcpu)
{
	struct nested_vmx *n = nested(vcpu);

	return n && n->guest_mode && (n->vmcs12.pin_based_vm_exec_control & PIN_NMI_EXITING);
}

void nested_inject_nmi(struct vcpu *vcpu)
{
	struct vm_exit e = { .reason = EXIT_REASON_EXCEPTION_NMI,
			     .intr_info = X86_NMI | INTR_TYPE_NMI << 8 | INTR_INFO_VALID };

	nested_vmexit(vcpu, &e);
}

void nested_l1_cr_masks(struct vcpu *vcpu, u64 *cr0_mask, u64 *cr4_mask)
{
	*cr0_mask = nested(vcpu)->vmcs12.cr0_guest_host_mask;
	*cr4_mask = nested(vcpu)->vmcs12.cr4_guest_host_mask;
}

bool nested_exit_is_l1s(struct vcpu *vcpu, const struct vm_exit *e)
{
	struct nested_vmx *n = nested(vcpu);

	return n && n->guest_mode && nested_l1_wants(vcpu, e);
}

const struct vmcs *nested_vmcs01(struct vcpu *vcpu)
{
	struct nested_vmx *n = nested(vcpu);

	return n && n->guest_mode ? &n->vmcs01 : NULL;
}

u32 nested_l1_proc(struct vcpu *vcpu)
{
	return (u32)nested(vcpu)->vmcs12.cpu_based_vm_exec_control;
}
