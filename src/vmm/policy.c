// SPDX-License-Identifier: MIT
/*
 * The VMM's VT-x policy (policy.h). Defaults are a production hypervisor's, as KVM's
 * setup_vmcs_config() chooses them, and each has its reason next to it. The capability MSRs
 * (vmx/caps.c, SDM vol. 3D appendix A) decide what is possible: default1 bits are set whatever
 * the policy says, defaults the model lacks are dropped, and a --vmx switch the model cannot do
 * is refused with one message.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arch/x86.h"
#include "vmm/cpuid.h"
#include "vmm/ept.h"
#include "vmm/shadow.h"
#include "vmm/exits.h"
#include "vmm/policy.h"
#include "vmm/vm.h"
#include "arch/vmx.h"
#include "vmx/vmcs.h"
#include "vmx/vmx.h"

enum ctl_word { CTL_PIN, CTL_PROC, CTL_PROC2 };

/*
 * Each switch: the control word and bits it sets, the default with EPT on, and why (`--vmx help`
 * prints the reasons). EPT off changes four defaults (vmm_switch_default). Names come from the
 * one list, VMM_SWITCHES (vmm/exits.h), through switch_names[].
 */
static const struct vmm_switch_desc {
	enum ctl_word word;
	u32 bits;
	bool def;
	const char *why;
} switches[VMM_NR_SWITCHES] = {
	[VMM_RDTSC_EXITING] = { CTL_PROC, PROC_RDTSC_EXITING, false,
				"TSC offsetting virtualizes the TSC without exits" },
	[VMM_HLT_EXITING] = { CTL_PROC, PROC_HLT_EXITING, true,
			      "a halted vCPU gives its host thread back; with no interrupt "
			      "source yet, HLT is where a run ends" },
	[VMM_MSR_BITMAP] = { CTL_PROC, PROC_USE_MSR_BITMAPS, true,
			     "the CPU's own MSRs (EFER, STAR, ...) run without exits, every "
			     "other MSR exits to the VMM's MSR policy" },
	[VMM_IO_BITMAP] = { CTL_PROC, PROC_USE_IO_BITMAPS, true,
			    "every port is the VMM's, so the bitmaps are all ones; off is "
			    "unconditional I/O exiting, which exits the same way (SDM 26.1.3)" },
	[VMM_EPT] = { CTL_PROC2, PROC2_ENABLE_EPT, true,
		      "guest page tables are the guest's own: no shadow paging, no CR3 or "
		      "INVLPG exits" },
	[VMM_VPID] = { CTL_PROC2, PROC2_ENABLE_VPID, true,
		       "tagged TLB entries survive VM exits (SDM 29.1)" },
	[VMM_PAUSE_EXITING] = { CTL_PROC, PROC_PAUSE_EXITING, false,
				"PLE catches spin loops; exiting on every PAUSE costs more than it "
				"saves" },
	[VMM_PLE] = { CTL_PROC2, PROC2_PAUSE_LOOP_EXITING, true,
		      "exits only for PAUSE loops longer than the window (gap 128, window "
		      "4096: KVM's)" },
	[VMM_CR3_EXITING] = { CTL_PROC, PROC_CR3_LOAD_EXITING | PROC_CR3_STORE_EXITING, false,
			      "with EPT, CR3 belongs to the guest (SDM 29.3); a shadow-paging VMM "
			      "must see CR3 loads" },
	[VMM_CR8_EXITING] = { CTL_PROC, PROC_CR8_LOAD_EXITING | PROC_CR8_STORE_EXITING, true,
			      "CR8 is the LAPIC's TPR[7:4] (SDM 11.8.6.1): the VMM answers MOV CR8 "
			      "from its LAPIC" },
	[VMM_TPR_SHADOW] = { CTL_PROC, PROC_TPR_SHADOW, false,
			     "the virtual-APIC page is the LAPIC's own page; alone it saves little "
			     "while CR8 exits (on with apicv)" },
	[VMM_INVLPG_EXITING] = { CTL_PROC, PROC_INVLPG_EXITING, false,
				 "with EPT and VPID, INVLPG needs no help from the VMM; a "
				 "shadow-paging VMM must see it" },
	[VMM_RDPMC_EXITING] = { CTL_PROC, PROC_RDPMC_EXITING, true,
				"no PMU is exposed (CPUID leaf 0AH is zero): the VMM answers RDPMC "
				"with #GP" },
	[VMM_MWAIT_EXITING] = { CTL_PROC, PROC_MWAIT_EXITING, true,
				"a guest must not sleep the host's CPU: MWAIT exits and is a NOP" },
	[VMM_MONITOR_EXITING] = { CTL_PROC, PROC_MONITOR_EXITING, true,
				  "MONITOR exits and is a NOP, as MWAIT is" },
	[VMM_MOV_DR_EXITING] = { CTL_PROC, PROC_MOV_DR_EXITING, false,
				 "debug registers are the guest's (KVM exits on the first MOV DR "
				 "only, then lets go)" },
	[VMM_WBINVD_EXITING] = { CTL_PROC2, PROC2_WBINVD_EXITING, true,
				 "a guest must not flush the host's caches" },
	[VMM_RDTSCP] = { CTL_PROC2, PROC2_ENABLE_RDTSCP, true,
			 "CPUID advertises RDTSCP; off makes it #UD (SDM 26.3) and CPUID hides "
			 "it" },
	[VMM_INVPCID] = { CTL_PROC2, PROC2_ENABLE_INVPCID, true,
			  "CPUID advertises INVPCID; off makes it #UD (SDM 26.3) and CPUID hides "
			  "it" },
	[VMM_TSC_OFFSETTING] = { CTL_PROC, PROC_TSC_OFFSETTING, true,
				 "the guest's TSC is the host's plus an offset (SDM 26.6.5), "
				 "without exits" },
	[VMM_TSC_SCALING] = { CTL_PROC2, PROC2_TSC_SCALING, false,
			      "the guest's TSC runs at the host's rate; on: a multiplier of 1.0" },
	[VMM_PREEMPTION_TIMER] = { CTL_PIN, PIN_PREEMPTION_TIMER, false,
				   "one vCPU has no time slice to enforce; on: exit 52 every 2^14 "
				   "timer ticks" },
	[VMM_DESC_TABLE_EXITING] = { CTL_PROC2, PROC2_DESC_TABLE_EXITING, false,
				     "descriptor tables are the guest's; on: LGDT, SIDT, LTR, ... "
				     "exit and the VMM emulates them" },
	[VMM_PML] = { CTL_PROC2, PROC2_ENABLE_PML, false,
		      "nothing migrates or snapshots the guest yet; on: a dirty-page log the "
		      "VMM drains into a bitmap (needs ept)" },
	[VMM_UNRESTRICTED_GUEST] = { CTL_PROC2, PROC2_UNRESTRICTED_GUEST, true,
				     "our guests start in protected mode with paging off, which "
				     "needs it (SDM 27.3.1.1; needs ept)" },
	[VMM_RDRAND_EXITING] = { CTL_PROC2, PROC2_RDRAND_EXITING, false,
				 "the guest's random numbers need no VMM; on: exit 57 and the VMM "
				 "answers from getrandom (to watch or replay them)" },
	[VMM_RDSEED_EXITING] = { CTL_PROC2, PROC2_RDSEED_EXITING, false,
				 "as rdrand-exiting, for RDSEED (exit 61)" },
	[VMM_XSAVES] = { CTL_PROC2, PROC2_ENABLE_XSAVES, true,
			 "CPUID advertises XSAVES/XRSTORS; off makes them #UD (SDM 26.3) and "
			 "CPUID hides them" },
	[VMM_APICV] = { CTL_PROC2, PROC2_VIRT_INTR_DELIVERY, false,
			"virtual-interrupt delivery with the APIC-access page or the x2APIC MSRs "
			"virtualized: interrupts, EOI and TPR without exits (SDM ch. 30; needs "
			"ept, turns tpr-shadow on). Off: injection through exits, as before" },
	[VMM_APIC_REG_VIRT] = { CTL_PROC2, PROC2_APIC_REG_VIRT, false,
				"reads of the APIC page (and x2APIC MSRs) from the virtual-APIC page, "
				"writes completed by exit 56 (SDM 30.4; needs apicv); off: they exit "
				"as APIC accesses" },
	[VMM_POSTED_INTERRUPTS] = { CTL_PIN, PIN_POSTED_INTERRUPTS, false,
				    "device threads post into the descriptor and the CPU takes "
				    "them without an exit (SDM 30.6; needs apicv)" },
	[VMM_NESTED] = { CTL_PIN, 0, true,
			 "no VT-x control: the guest may be a hypervisor (CPUID offers VMX, soft "
			 "backend; docs/vmx.md); needs ept, off with apicv or pml" },
	[VMM_VMCS_SHADOWING] = { CTL_PIN, 0, true,
				 "with nested: the guest hypervisor's VMREAD and VMWRITE read and "
				 "write a shadow of its VMCS without exits (SDM 25.10); off: each exits" },
};

static const char *const switch_names[VMM_NR_SWITCHES + 1] = {
#define X(id, name) name,
	VMM_SWITCHES(X)
#undef X
		NULL,
};

const char *const *vmm_policy_names(void)
{
	return switch_names;
}

/*
 * The preemption-timer quantum: 2^14 ticks of 2^5 TSC cycles (2^19 cycles, about 170 us at
 * 3 GHz), well inside the soft CPU's host tick (2^22 instructions), so that a spinning guest
 * sees the timer rather than the host's interrupt.
 */
#define VMM_PREEMPTION_QUANTUM (1u << 14)
/* KVM's ple_gap and ple_window defaults (arch/x86/kvm/vmx/vmx.c). */
#define VMM_PLE_GAP    128
#define VMM_PLE_WINDOW 4096

/*
 * Without EPT the VMM is a shadow-paging VMM: it must see CR3 loads and INVLPG, cannot offer
 * unrestricted guest (it requires EPT, SDM 27.2.1.1) nor PML (it logs EPT writes).
 */
static bool vmm_switch_default(enum vmm_switch sw, bool ept)
{
	if (!ept) {
		if (sw == VMM_UNRESTRICTED_GUEST || sw == VMM_PML || sw == VMM_NESTED)
			return false;
		if (sw == VMM_CR3_EXITING || sw == VMM_INVLPG_EXITING)
			return true;
	}
	return switches[sw].def;
}

bool vmm_policy_on(const struct vm *vm, enum vmm_switch sw)
{
	if (vm->policy.set & BIT(sw))
		return vm->policy.on & BIT(sw);
	/* Nested VMX builds L2's VMCS without APIC virtualization or PML (docs/vmx.md). */
	if (sw == VMM_NESTED &&
	    (vmm_policy_on(vm, VMM_APICV) || vmm_policy_on(vm, VMM_PML) || vm->watch.nr))
		return false;
	/* APIC virtualization works on the virtual-APIC page: the TPR shadow follows apicv. */
	if (sw == VMM_TPR_SHADOW && vmm_policy_on(vm, VMM_APICV))
		return true;
	return sw == VMM_EPT ? switches[sw].def
			     : vmm_switch_default(sw, vmm_policy_on(vm, VMM_EPT));
}

/*
 * KVM's choice: #AC always exits (a guest could otherwise hang the host CPU in an endless #AC
 * delivery, CVE-2015-5307) and #MC belongs to the host; both are reflected. A shadow-paging VMM
 * (EPT off) also sees every #PF.
 */
u32 vmm_exception_bitmap(const struct vm *vm)
{
	u32 bitmap = BIT(X86_AC_VEC) | BIT(X86_MC);

	if (!vmm_policy_on(vm, VMM_EPT))
		bitmap |= BIT(X86_PF_VEC);
	return bitmap;
}

/*
 * CPUID as this policy's guest sees it. "Enable RDTSCP" and "enable INVPCID" off make those
 * instructions #UD (SDM vol. 3C 26.3), so CPUID must not advertise them (KVM likewise clears
 * a feature the VMCS cannot enable): leaf 80000001H EDX bit 27 RDTSCP and leaf 7 subleaf 0 ECX
 * bit 22 RDPID (RDPID too needs "enable RDTSCP"), leaf 7 subleaf 0 EBX bit 10 INVPCID, and
 * leaf 0DH subleaf 1 EAX bit 3 XSAVES/XRSTORS with IA32_XSS ("enable XSAVES/XRSTORS") (SDM vol.
 * 2A CPUID).
 */
bool vmm_nested(const struct vm *vm)
{
	return vm->backend && vm->backend->nested_exit && vmm_policy_on(vm, VMM_NESTED);
}

void vmm_policy_cpuid(const struct vm *vm, u32 leaf, u32 subleaf, u32 out[4])
{
	/* CPUID.1:ECX bit 5 VMX (SDM vol. 3C 24.6 "Discovering support for VMX"). */
	if (leaf == 1 && vmm_nested(vm))
		out[CPUID_ECX] |= BIT(5);
	if (leaf == 0x80000001 && !vmm_policy_on(vm, VMM_RDTSCP))
		out[CPUID_EDX] &= ~BIT(27);
	if (leaf == 7 && subleaf == 0 && !vmm_policy_on(vm, VMM_RDTSCP))
		out[CPUID_ECX] &= ~BIT(22);
	if (leaf == 7 && subleaf == 0 && !vmm_policy_on(vm, VMM_INVPCID))
		out[CPUID_EBX] &= ~BIT(10);
	if (leaf == 0xd && subleaf == 1 && !vmm_policy_on(vm, VMM_XSAVES))
		out[CPUID_EAX] &= ~BIT(3);
}

/* The capability MSR for a control word: the TRUE one when IA32_VMX_BASIC bit 55 says so (A.1). */
static u64 vmm_ctl_cap(u32 msr, u32 true_msr)
{
	u64 basic = 0, cap = 0;

	vmx_cap_msr(MSR_IA32_VMX_BASIC, &basic);
	if (true_msr && (basic & BIT(55)))
		msr = true_msr;
	if (vmx_cap_msr(msr, &cap))
		return 0;
	return cap;
}

static u64 vmm_word_cap(enum ctl_word word)
{
	switch (word) {
	case CTL_PIN:
		return vmm_ctl_cap(MSR_IA32_VMX_PINBASED_CTLS, MSR_IA32_VMX_TRUE_PINBASED_CTLS);
	case CTL_PROC:
		return vmm_ctl_cap(MSR_IA32_VMX_PROCBASED_CTLS, MSR_IA32_VMX_TRUE_PROCBASED_CTLS);
	case CTL_PROC2:
		/* Secondary controls exist only when the primary ones allow activating them. */
		if (!(vmm_word_cap(CTL_PROC) >> 32 & PROC_SECONDARY_CONTROLS))
			return 0;
		return vmm_ctl_cap(MSR_IA32_VMX_PROCBASED_CTLS2, 0);
	}
	return 0;
}

/* Default1 bits on (allowed-0 settings), bits the model cannot set off (allowed-1), A.3-A.5. */
static u32 vmm_adjust(u32 ctl, u64 cap)
{
	return (ctl | (u32)cap) & (u32)(cap >> 32);
}

int vmm_policy_set(struct vm *vm, const char *name, bool on)
{
	for (int sw = 0; sw < VMM_NR_SWITCHES; sw++) {
		const struct vmm_switch_desc *d = &switches[sw];
		u64 cap;

		if (strcmp(name, switch_names[sw]))
			continue;
		cap = vmm_word_cap(d->word);
		if (on && (d->bits & ~(u32)(cap >> 32)))
			return -EOPNOTSUPP; /* an allowed-1 bit is 0: must stay 0 */
		if (!on && (d->bits & (u32)cap))
			return -EOPNOTSUPP; /* an allowed-0 bit is 1: must stay 1 */
		vm->policy.set |= BIT(sw);
		if (on)
			vm->policy.on |= BIT(sw);
		else
			vm->policy.on &= ~BIT(sw);
		return 0;
	}
	return -ENOENT;
}

/* `text` from column `indent` on, words wrapped before column 96. */
static void vmm_print_wrapped(FILE *f, const char *text, int indent)
{
	int col = indent;

	while (*text) {
		int n = (int)strcspn(text, " ");

		if (col > indent && col + 1 + n > 96) {
			fprintf(f, "\n%*s", indent, "");
			col = indent;
		} else if (col > indent) {
			fputc(' ', f);
			col++;
		}
		fprintf(f, "%.*s", n, text);
		col += n;
		text += n + (text[n] == ' ');
	}
	fputc('\n', f);
}

void vmm_policy_help(FILE *f)
{
	fputs("--vmx NAME=on|off[,NAME=on|off...] switches one VT-x control of the VMM's policy\n"
	      "for a run (soft backend; docs/vmm.md). The controls, their defaults and why:\n\n",
	      f);
	for (int sw = 0; sw < VMM_NR_SWITCHES; sw++) {
		const struct vmm_switch_desc *d = &switches[sw];
		bool def = vmm_switch_default(sw, true), no_ept = vmm_switch_default(sw, false);
		u64 cap = vmm_word_cap(d->word);
		char why[256];
		int n;

		n = snprintf(why, sizeof(why), "%s", d->why);
		if (no_ept != def)
			n += snprintf(why + n, sizeof(why) - n, "; %s with ept=off",
				      no_ept ? "on" : "off");
		/* As vmm_policy_set() refuses them: allowed-1 or allowed-0 settings (A.3-A.5). */
		if (d->bits & ~(u32)(cap >> 32))
			n += snprintf(why + n, sizeof(why) - n,
				      " (the VT-x model cannot turn it on)");
		if (d->bits & (u32)cap)
			snprintf(why + n, sizeof(why) - n, " (the VT-x model cannot turn it off)");
		fprintf(f, "  %-19s %-3s  ", switch_names[sw], def ? "on" : "off");
		vmm_print_wrapped(f, why, 27);
	}
}

int vmm_policy_check(const struct vm *vm, char *msg, size_t len)
{
	const char *why = NULL;

	/* SDM 27.2.1.1: unrestricted guest and PML both require "enable EPT". */
	if (!vmm_policy_on(vm, VMM_EPT) && vmm_policy_on(vm, VMM_UNRESTRICTED_GUEST))
		why = "--vmx unrestricted-guest=on needs ept=on (SDM 27.2.1.1)";
	else if (!vmm_policy_on(vm, VMM_EPT) && vmm_policy_on(vm, VMM_PML))
		why = "--vmx pml=on needs ept=on (SDM 27.2.1.1)";
	/* Shadow paging (vmm/shadow.h) must see the guest's CR3 loads and INVLPG, and keeps
	   its PAE roots below 4 GiB, above RAM (vm.h VM_PAE_ROOTS_BASE). */
	else if (!vmm_policy_on(vm, VMM_EPT) && !vmm_policy_on(vm, VMM_CR3_EXITING))
		why = "--vmx cr3-exiting=off needs ept=on: shadow paging must see every CR3 load";
	else if (!vmm_policy_on(vm, VMM_EPT) && !vmm_policy_on(vm, VMM_INVLPG_EXITING))
		why = "--vmx invlpg-exiting=off needs ept=on: shadow paging must see every INVLPG";
	else if (!vmm_policy_on(vm, VMM_EPT) && vm->ram_size > VM_PAE_ROOTS_BASE)
		why = "--vmx ept=off takes at most 4072M of RAM (--mem): shadow paging keeps its "
		      "PAE roots just below 4 GiB";
	else if (vmm_policy_on(vm, VMM_APICV) && !vmm_policy_on(vm, VMM_TPR_SHADOW))
		why = "--vmx apicv=on needs tpr-shadow=on (SDM 27.2.1.1)";
	else if (vmm_policy_on(vm, VMM_POSTED_INTERRUPTS) && !vmm_policy_on(vm, VMM_APICV))
		why = "--vmx posted-interrupts=on needs apicv=on (SDM 27.2.1.1)";
	else if (vmm_policy_on(vm, VMM_APIC_REG_VIRT) && !vmm_policy_on(vm, VMM_APICV))
		why = "--vmx apic-register-virt=on needs apicv=on";
	else if ((vm->policy.set & vm->policy.on & BIT(VMM_NESTED)) &&
		 (!vmm_policy_on(vm, VMM_EPT) || vmm_policy_on(vm, VMM_APICV) ||
		  vmm_policy_on(vm, VMM_PML) || vm->watch.nr))
		why = "--vmx nested=on needs ept=on, apicv=off, pml=off and no --watch: the guest "
		      "hypervisor's guest runs on the VMM's EPT, without APIC virtualization or PML";
	if (!why)
		return 0;
	if (msg && len)
		snprintf(msg, len, "%s", why);
	return -EINVAL;
}

void vmm_vmcs_set_guest_crs(struct vmcs *v, u64 cr0, u64 cr4)
{
	VMCS_SET(v, CR0_READ_SHADOW, cr0);
	VMCS_SET(v, CR4_READ_SHADOW, cr4);
	VMCS_SET(v, GUEST_CR0, cr0 | v->cr0_guest_host_mask);
	VMCS_SET(v, GUEST_CR4, cr4 | v->cr4_guest_host_mask);
}

/* A 4 KiB host page for a VMCS pointer field, or -ENOMEM. */
static int vmm_page(struct vm *vm, u8 **page, u64 *hpa)
{
	*page = vm_alloc_host_page(vm, hpa);
	return *page ? 0 : -ENOMEM;
}

/*
 * The host-state area (SDM 25.5, checked at VM entry by 27.2.2 and 27.2.3) as a 64-bit host has
 * it. The "host" is this process: the values are never loaded into a real CPU, but they are the
 * ones a hardware VMM would write, so the entry checks pass for the same reasons.
 */
static int vmm_vmcs_setup_host(struct vm *vm, struct vmcs *v)
{
	/* Canonical host-linear addresses for the host's descriptor tables and stack (27.2.3). */
	const u64 host_base = 0xfffffe0000000000ull;
	u64 fixed0 = 0, fixed1 = ~0ull, cr3;
	u8 *page;
	int err;

	/* A fake but valid host CR3: an empty PML4 page within MAXPHYADDR (27.2.2). */
	err = vmm_page(vm, &page, &cr3);
	if (err)
		return err;
	vmx_cap_msr(MSR_IA32_VMX_CR0_FIXED0, &fixed0);
	vmx_cap_msr(MSR_IA32_VMX_CR0_FIXED1, &fixed1);
	VMCS_SET(v, HOST_CR0,
		 ((CR0_PE | CR0_MP | CR0_ET | CR0_NE | CR0_WP | CR0_PG) | fixed0) & fixed1);
	VMCS_SET(v, HOST_CR3, cr3);
	fixed0 = 0, fixed1 = ~0ull;
	vmx_cap_msr(MSR_IA32_VMX_CR4_FIXED0, &fixed0);
	vmx_cap_msr(MSR_IA32_VMX_CR4_FIXED1, &fixed1);
	/* 64-bit host: CR4.PAE must be 1 (27.2.2); CR4.VMXE because we are in VMX operation. */
	VMCS_SET(v, HOST_CR4, ((CR4_PAE | CR4_PGE | CR4_VMXE) | fixed0) & fixed1);
	/* Selectors: RPL and TI 0, CS and TR not null (27.2.3). TR's 16-byte descriptor takes GDT
	   slots 2 and 3, so the data segment is slot 4. */
	VMCS_SET(v, HOST_CS_SELECTOR, 0x08);
	VMCS_SET(v, HOST_TR_SELECTOR, 0x10);
	VMCS_SET(v, HOST_SS_SELECTOR, 0x20);
	VMCS_SET(v, HOST_DS_SELECTOR, 0x20);
	VMCS_SET(v, HOST_ES_SELECTOR, 0x20);
	VMCS_SET(v, HOST_FS_SELECTOR, 0);
	VMCS_SET(v, HOST_GS_SELECTOR, 0);
	VMCS_SET(v, HOST_FS_BASE, 0);
	VMCS_SET(v, HOST_GS_BASE, host_base + 0x3000); /* per-CPU area */
	VMCS_SET(v, HOST_GDTR_BASE, host_base);
	VMCS_SET(v, HOST_TR_BASE, host_base + 0x1000);
	VMCS_SET(v, HOST_IDTR_BASE, host_base + 0x2000);
	VMCS_SET(v, HOST_IA32_SYSENTER_CS, 0);
	VMCS_SET(v, HOST_IA32_SYSENTER_ESP, 0);
	VMCS_SET(v, HOST_IA32_SYSENTER_EIP, 0);
	/* Linux's PAT and a long-mode EFER (LMA and LME must equal "host address-space size"). */
	VMCS_SET(v, HOST_IA32_PAT, X86_PAT_POWER_UP);
	VMCS_SET(v, HOST_IA32_EFER, EFER_SCE | EFER_LME | EFER_LMA | EFER_NXE);
	VMCS_SET(v, HOST_RSP, host_base + 0x8000);
	/*
	 * Where a hardware VM exit would land: the exit entry point in the host's address space
	 * above. vmm_handle_exit() stands for it; its real address is not written here, so no
	 * dump of the VMCS ever shows a host address.
	 */
	VMCS_SET(v, HOST_RIP, VMM_HOST_RIP);
	return 0;
}

/* Bitmaps and pages the controls point at (SDM 25.6.4, 25.6.9, 25.6.8, 25.6.11, 25.6.18). */
static int vmm_vmcs_setup_pages(struct vcpu *vcpu, struct vmcs *v, u32 proc, u32 proc2)
{
	struct vm *vm = vcpu->vm;
	u64 hpa;
	u8 *page;
	int err;

	if (proc & PROC_USE_IO_BITMAPS) {
		/* Every port exits: the VMM's port bus owns them all. */
		for (u32 enc = IO_BITMAP_A; enc <= IO_BITMAP_B; enc += 2) {
			err = vmm_page(vm, &page, &hpa);
			if (err)
				return err;
			memset(page, 0xff, 4096);
			vmcs_set_checked(v, enc, hpa, "IO_BITMAP");
		}
	}
	if (proc & PROC_USE_MSR_BITMAPS) {
		err = vmm_page(vm, &page, &hpa);
		if (err)
			return err;
		msr_build_bitmap(page);
		/* Shadow paging: EFER is the guest's only as the VMM shows it (vmm/shadow.h). */
		if (!(proc2 & PROC2_ENABLE_EPT))
			msr_bitmap_intercept(page, MSR_IA32_EFER);
		VMCS_SET(v, MSR_BITMAP, hpa);
	}
	if (!(proc2 & PROC2_ENABLE_EPT) && !vcpu->shadow) {
		err = shadow_create(vcpu);
		if (err)
			return err;
		/* The APIC-access page, which EPT would map 1:1, the shadow maps 1:1. */
		if (proc2 & PROC2_VIRT_INTR_DELIVERY)
			shadow_set_apic_page(vcpu, LAPIC_DEFAULT_BASE);
	}
	if (proc & PROC_TPR_SHADOW) {
		/* The virtual-APIC page is the LAPIC's register page (devices/lapic.h, 30.1). */
		err = vm_map_host_page(vm, vcpu->lapic.regs, &hpa);
		if (err)
			return err;
		VMCS_SET(v, VIRTUAL_APIC_PAGE_ADDR, hpa);
		VMCS_SET(v, TPR_THRESHOLD, 0);
	}
	if (proc2 & PROC2_VIRT_INTR_DELIVERY) {
		/* The APIC-access page: the xAPIC page's own address, which the EPT maps 1:1
		   (vmm/ept.c); "virtualize APIC accesses" is switched with the LAPIC's mode before
		   each entry (board_lapic_sync). x2APIC mode: TPR, EOI and SELF IPI pass the MSR
		   bitmap for "virtualize x2APIC mode" (30.5); they #GP outside x2APIC mode, as
		   the x2APIC MSRs do (SDM 11.12.2). */
		VMCS_SET(v, APIC_ACCESS_ADDR, LAPIC_DEFAULT_BASE);
		VMCS_SET(v, GUEST_INTR_STATUS, 0);
		if (proc & PROC_USE_MSR_BITMAPS) {
			u8 *bm = vm_host_ptr(vm, v->msr_bitmap, 4096);

			msr_bitmap_pass(bm, 0x808, true, true);
			msr_bitmap_pass(bm, 0x80b, false, true);
			msr_bitmap_pass(bm, 0x83f, false, true);
			/* With APIC-register virtualization the registers it reads, but ICR
			   (830H): 8 bytes at 300H, where the LAPIC keeps only ICR low (30.5). */
			for (u32 msr = 0x800; (proc2 & PROC2_APIC_REG_VIRT) && msr <= 0x83f; msr++) {
				static const u8 readable[] = {
					0x02, 0x03, 0x08, 0x0a, 0x0d, 0x0f, 0x28, 0x32, 0x33,
					0x34, 0x35, 0x36, 0x37, 0x38, 0x3e,
				};
				u32 r = msr & 0xff;
				bool ok = r >= 0x10 && r <= 0x27;

				for (size_t i = 0; i < sizeof(readable); i++)
					ok |= r == readable[i];
				if (ok)
					msr_bitmap_pass(bm, msr, true, false);
			}
		}
	}
	if (v->pin_based_vm_exec_control & PIN_POSTED_INTERRUPTS) {
		/* The descriptor (30.6): 64 bytes of a page of its own; KVM's notification
		   vector (POSTED_INTR_VECTOR). */
		err = vmm_page(vm, &page, &hpa);
		if (err)
			return err;
		vcpu->pi_desc = (u64 *)page;
		VMCS_SET(v, POSTED_INTR_DESC_ADDR, hpa);
		VMCS_SET(v, POSTED_INTR_NV, VMM_POSTED_INTR_VECTOR);
	}
	if (proc2 & PROC2_ENABLE_EPT) {
		/* PML logs by the EPT dirty flags, so it needs them enabled (SDM 29.3.6); --watch
		   needs them and 4 KiB leaves (vmm/watch.c) whichever its method. One EPT
		   per VM: every vCPU's VMCS points at it, as KVM's vCPUs share their MMU's roots.
		 */
		if (!vm->eptp) {
			err = ept_build(vm, (proc2 & PROC2_ENABLE_PML) || vm->watch.nr, &vm->eptp);
			if (err)
				return err;
		}
		VMCS_SET(v, EPT_POINTER, vm->eptp);
	}
	if (proc2 & PROC2_ENABLE_PML) {
		/* A log per vCPU (each VMCS has its own PML address), one dirty bitmap per VM. */
		err = vmm_page(vm, &vcpu->pml_log, &hpa);
		if (err)
			return err;
		if (!vm->dirty_bitmap)
			vm->dirty_bitmap = calloc((vm->ram_size / 4096 + 63) / 64, sizeof(u64));
		if (!vm->dirty_bitmap)
			return -ENOMEM;
		VMCS_SET(v, PML_ADDRESS, hpa);
		VMCS_SET(v, GUEST_PML_INDEX, 511); /* the log fills from entry 511 down */
	}
	return 0;
}

int vmm_vmcs_setup(struct vcpu *vcpu, struct vmcs *v)
{
	struct vm *vm = vcpu->vm;
	u32 ctl[3] = { 0 }, exit_ctls, entry_ctls;
	int err;

	if (vmm_policy_check(vm, NULL, 0))
		return -EINVAL;
	for (int sw = 0; sw < VMM_NR_SWITCHES; sw++)
		if (vmm_policy_on(vm, sw))
			ctl[switches[sw].word] |= switches[sw].bits;
	/*
	 * External interrupts belong to the host (SDM 26.2: they exit, acknowledged on exit with
	 * their vector in the exit record, 25.7.1); NMIs too, with virtual NMIs for the guest.
	 */
	ctl[CTL_PIN] |= PIN_EXTINT_EXITING | PIN_NMI_EXITING | PIN_VIRTUAL_NMIS;
	if (!(ctl[CTL_PROC] & PROC_USE_IO_BITMAPS))
		ctl[CTL_PROC] |= PROC_UNCOND_IO_EXITING;
	ctl[CTL_PROC] |= PROC_SECONDARY_CONTROLS;
	/* 64-bit host; PAT and EFER switched on every transition; the guest's debug controls. */
	exit_ctls = EXIT_CTL_HOST_ADDR_SPACE_SIZE | EXIT_CTL_ACK_INTR_ON_EXIT | EXIT_CTL_SAVE_PAT |
		    EXIT_CTL_LOAD_PAT | EXIT_CTL_SAVE_EFER | EXIT_CTL_LOAD_EFER |
		    EXIT_CTL_SAVE_DEBUG_CONTROLS;
	if (ctl[CTL_PIN] & PIN_PREEMPTION_TIMER)
		exit_ctls |= EXIT_CTL_SAVE_PREEMPTION_TIMER;
	/* IA-32e mode guest follows the guest's EFER.LMA (27.2.1.3); VM exits keep it so (28.2). */
	entry_ctls = ENTRY_CTL_LOAD_PAT | ENTRY_CTL_LOAD_EFER | ENTRY_CTL_LOAD_DEBUG_CONTROLS |
		     (v->guest_ia32_efer & EFER_LMA ? ENTRY_CTL_IA32E_MODE_GUEST : 0);

	ctl[CTL_PIN] = vmm_adjust(ctl[CTL_PIN], vmm_word_cap(CTL_PIN));
	ctl[CTL_PROC] = vmm_adjust(ctl[CTL_PROC], vmm_word_cap(CTL_PROC));
	ctl[CTL_PROC2] = vmm_adjust(ctl[CTL_PROC2], vmm_word_cap(CTL_PROC2));
	exit_ctls = vmm_adjust(exit_ctls,
			       vmm_ctl_cap(MSR_IA32_VMX_EXIT_CTLS, MSR_IA32_VMX_TRUE_EXIT_CTLS));
	entry_ctls = vmm_adjust(entry_ctls,
				vmm_ctl_cap(MSR_IA32_VMX_ENTRY_CTLS, MSR_IA32_VMX_TRUE_ENTRY_CTLS));
	VMCS_SET(v, PIN_BASED_VM_EXEC_CONTROL, ctl[CTL_PIN]);
	VMCS_SET(v, CPU_BASED_VM_EXEC_CONTROL, ctl[CTL_PROC]);
	VMCS_SET(v, SECONDARY_VM_EXEC_CONTROL, ctl[CTL_PROC2]);
	VMCS_SET(v, VM_EXIT_CONTROLS, exit_ctls);
	VMCS_SET(v, VM_ENTRY_CONTROLS, entry_ctls);
	VMCS_SET(v, EXCEPTION_BITMAP, vmm_exception_bitmap(vm));
	/* "Load IA32_PAT" loads the guest's PAT from here at every entry: its power-up value,
	   not the zero of a fresh VMCS (all UC; Linux's KVM refuses a host whose PAT[0] is not
	   WB). */
	VMCS_SET(v, GUEST_IA32_PAT, X86_PAT_POWER_UP);
	VMCS_SET(v, PAGE_FAULT_ERROR_CODE_MASK, 0);
	VMCS_SET(v, PAGE_FAULT_ERROR_CODE_MATCH, 0);
	VMCS_SET(v, CR3_TARGET_COUNT, 0);
	VMCS_SET(v, VM_EXIT_MSR_STORE_COUNT, 0);
	VMCS_SET(v, VM_EXIT_MSR_LOAD_COUNT, 0);
	VMCS_SET(v, VM_ENTRY_MSR_LOAD_COUNT, 0);
	VMCS_SET(v, VM_ENTRY_INTR_INFO_FIELD, 0);
	if (ctl[CTL_PROC2] & PROC2_ENABLE_VPID)
		/* 0 is the host's (27.2.1.1); one VPID per vCPU, as KVM allocates them. */
		VMCS_SET(v, VIRTUAL_PROCESSOR_ID, vcpu->id + 1);
	/*
	 * The soft CPU's TSC starts at 0 when the vCPU is created, so the guest's does with offset
	 * 0. Scaling, when on, is 1.0 in 48.48 fixed point (26.6.5).
	 */
	VMCS_SET(v, TSC_OFFSET, 0);
	if (ctl[CTL_PROC2] & PROC2_TSC_SCALING)
		VMCS_SET(v, TSC_MULTIPLIER, 1ull << 48);
	if (ctl[CTL_PROC2] & PROC2_PAUSE_LOOP_EXITING) {
		VMCS_SET(v, PLE_GAP, VMM_PLE_GAP);
		VMCS_SET(v, PLE_WINDOW, VMM_PLE_WINDOW);
	}
	if (ctl[CTL_PIN] & PIN_PREEMPTION_TIMER) {
		vcpu->preemption_quantum = VMM_PREEMPTION_QUANTUM;
		VMCS_SET(v, VMX_PREEMPTION_TIMER_VALUE, VMM_PREEMPTION_QUANTUM);
	}
	/*
	 * CR0/CR4 bits the host owns: those VMX operation fixes to 1 in the guest (27.3.1.1), less
	 * PE and PG under unrestricted guest, which frees them. Guest writes to owned bits exit;
	 * reads see the shadows, which hold the guest's own values (25.6.6), as KVM's
	 * KVM_VM_CR0_ALWAYS_ON does.
	 */
	{
		u64 cr0_fixed0 = 0, cr4_fixed0 = 0;

		vmx_cap_msr(MSR_IA32_VMX_CR0_FIXED0, &cr0_fixed0);
		vmx_cap_msr(MSR_IA32_VMX_CR4_FIXED0, &cr4_fixed0);
		if (ctl[CTL_PROC2] & PROC2_UNRESTRICTED_GUEST)
			cr0_fixed0 &= ~(u64)(CR0_PE | CR0_PG);
		/* Shadow paging (vmm/shadow.h) owns the bits that decide translations: the
		   CPU runs with WP, PAE and NXE set and no global pages whatever the guest's. */
		if (!(ctl[CTL_PROC2] & PROC2_ENABLE_EPT)) {
			cr0_fixed0 |= CR0_WP;
			cr4_fixed0 |= CR4_PAE | CR4_PSE | CR4_PGE | CR4_SMEP | CR4_SMAP | CR4_PCIDE;
		}
		VMCS_SET(v, CR0_GUEST_HOST_MASK, cr0_fixed0);
		VMCS_SET(v, CR4_GUEST_HOST_MASK, cr4_fixed0);
		vmm_vmcs_set_guest_crs(v, v->guest_cr0, v->guest_cr4 & ~(u64)CR4_VMXE);
	}
	VMCS_SET(v, VMCS_LINK_POINTER, ~0ull); /* no shadow VMCS (27.3.1.5) */
	err = vmm_vmcs_setup_host(vm, v);
	if (!err)
		err = vmm_vmcs_setup_pages(vcpu, v, ctl[CTL_PROC], ctl[CTL_PROC2]);
	return err;
}
