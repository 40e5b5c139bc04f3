// SPDX-License-Identifier: MIT
/*
 * The VMX capability MSRs (Intel SDM vol. 3D appendix A): they report exactly what the model
 * implements, and VM entry (vmx/entry.c) enforces them. docs/vmx.md explains every value.
 */
#include <errno.h>

#include "cpu/cpu.h"
#include "arch/vmx.h"
#include "vmx/vmx.h"

/* A control MSR: allowed-0 settings (must be 1) in bits 31:0, allowed-1 in bits 63:32 (A.3). */
#define CTLS(must1, may1) ((u64)(must1) | (u64)((must1) | (may1)) << 32)

/* Default1 classes (SDM vol. 3D A.2, A.3.1, A.3.2, A.4, A.5). */
#define PIN_DEFAULT1 (BIT(1) | BIT(2) | BIT(4))
#define PROC_DEFAULT1                                                                             \
	(BIT(1) | BIT(4) | BIT(5) | BIT(6) | BIT(8) | BIT(13) | BIT(14) | BIT(15) | BIT(16) |   \
	 BIT(26))
#define EXIT_DEFAULT1 (0x1ff | BIT(10) | BIT(11) | BIT(13) | BIT(14) | BIT(16) | BIT(17))
#define ENTRY_DEFAULT1 (0x1ff | BIT(12))
/* What the TRUE MSRs let software clear (A.3.2: CR3-load/store exiting; A.4: save debug
   controls; A.5: load debug controls). The pin-based default1 bits stay 1, as on hardware. */
#define PROC_TRUE_CLEARABLE (PROC_CR3_LOAD_EXITING | PROC_CR3_STORE_EXITING)
#define EXIT_TRUE_CLEARABLE EXIT_CTL_SAVE_DEBUG_CONTROLS
#define ENTRY_TRUE_CLEARABLE ENTRY_CTL_LOAD_DEBUG_CONTROLS

/* What the software CPU implements. */
#define PIN_SUPPORTED                                                                             \
	(PIN_EXTINT_EXITING | PIN_NMI_EXITING | PIN_VIRTUAL_NMIS | PIN_PREEMPTION_TIMER |          \
	 PIN_POSTED_INTERRUPTS)
#define PROC_SUPPORTED                                                                            \
	(PROC_INTR_WINDOW_EXITING | PROC_TSC_OFFSETTING | PROC_HLT_EXITING | PROC_INVLPG_EXITING | \
	 PROC_MWAIT_EXITING | PROC_RDPMC_EXITING | PROC_RDTSC_EXITING | PROC_CR3_LOAD_EXITING |    \
	 PROC_CR3_STORE_EXITING | PROC_CR8_LOAD_EXITING | PROC_CR8_STORE_EXITING |                \
	 PROC_TPR_SHADOW | PROC_NMI_WINDOW_EXITING | PROC_MOV_DR_EXITING |                        \
	 PROC_UNCOND_IO_EXITING | PROC_USE_IO_BITMAPS | PROC_MONITOR_TRAP_FLAG |                  \
	 PROC_USE_MSR_BITMAPS | PROC_MONITOR_EXITING | PROC_PAUSE_EXITING |                       \
	 PROC_SECONDARY_CONTROLS)
#define PROC2_SUPPORTED                                                                           \
	(PROC2_VIRT_APIC_ACCESSES | PROC2_VIRT_X2APIC | PROC2_APIC_REG_VIRT |                     \
	 PROC2_VIRT_INTR_DELIVERY | PROC2_ENABLE_EPT | PROC2_DESC_TABLE_EXITING |                  \
	 PROC2_ENABLE_RDTSCP | PROC2_ENABLE_VPID |                                                \
	 PROC2_WBINVD_EXITING | PROC2_UNRESTRICTED_GUEST | PROC2_PAUSE_LOOP_EXITING |             \
	 PROC2_RDRAND_EXITING | PROC2_ENABLE_INVPCID | PROC2_RDSEED_EXITING | PROC2_ENABLE_PML |  \
	 PROC2_ENABLE_XSAVES | PROC2_TSC_SCALING | PROC2_VMCS_SHADOWING)
#define EXIT_SUPPORTED                                                                            \
	(EXIT_CTL_SAVE_DEBUG_CONTROLS | EXIT_CTL_HOST_ADDR_SPACE_SIZE | EXIT_CTL_ACK_INTR_ON_EXIT | \
	 EXIT_CTL_SAVE_PAT | EXIT_CTL_LOAD_PAT | EXIT_CTL_SAVE_EFER | EXIT_CTL_LOAD_EFER |         \
	 EXIT_CTL_SAVE_PREEMPTION_TIMER)
#define ENTRY_SUPPORTED                                                                           \
	(ENTRY_CTL_LOAD_DEBUG_CONTROLS | ENTRY_CTL_IA32E_MODE_GUEST | ENTRY_CTL_LOAD_PAT |          \
	 ENTRY_CTL_LOAD_EFER)

/*
 * IA32_VMX_BASIC (A.1): revision, VMCS region size 4096 (bits 44:32), physical addresses not
 * limited to 32 bits (bit 48 = 0), write-back VMCS memory type (bits 53:50 = 6), INS/OUTS
 * instruction information on exits (bit 54), TRUE control MSRs (bit 55).
 */
#define VMX_BASIC                                                                                 \
	((u64)VMCS_REVISION_ID | 4096ull << 32 | (u64)EPTP_MT_WB << 50 | BIT(54) | BIT(55))

/*
 * IA32_VMX_MISC (A.6): preemption-timer rate (bits 4:0), EFER.LMA stored into the "IA-32e mode
 * guest" entry control on exit (bit 5), activity state HLT (bit 6; shutdown and wait-for-SIPI
 * are not supported), 4 CR3-target values (bits 24:16), MSR lists of at most 512 entries (bits
 * 27:25 = 0), no VMWRITE to exit-information fields (bit 29 = 0), MSEG revision 0.
 */
#define VMX_MISC (VMX_MISC_PREEMPTION_SHIFT | BIT(5) | BIT(6) | 4ull << 16)

/*
 * IA32_VMX_EPT_VPID_CAP (A.10): execute-only (0), page-walk length 4 (6), UC (8) and WB (14)
 * paging-structure memory types, 2-MByte (16) and 1-GByte (17) pages, INVEPT (20) single-context
 * (25) and all-context (26), accessed and dirty flags (21); INVVPID (32) individual-address (40),
 * single-context (41), all-context (42), single-context-retaining-globals (43).
 */
#define VMX_EPT_VPID_CAP                                                                          \
	(BIT(0) | BIT(6) | BIT(8) | BIT(14) | BIT(16) | BIT(17) | BIT(20) | BIT(21) | BIT(25) |    \
	 BIT(26) | BIT(32) | BIT(40) | BIT(41) | BIT(42) | BIT(43))

/*
 * CR0/CR4 fixed bits (A.7, A.8). CR0: PE, NE and PG must be 1 (unrestricted guest relaxes PE and
 * PG at VM entry, 27.3.1.1). CR4: VMXE must be 1; may be 1: the bits the CPU's MOV to CR4 accepts
 * (cpu/cr.c CR4_SUPPORTED) and VMXE.
 */
#define VMX_CR0_FIXED0 (CR0_PE | CR0_NE | CR0_PG)
#define VMX_CR0_FIXED1 0xffffffffull
#define VMX_CR4_FIXED0 CR4_VMXE
#define VMX_CR4_FIXED1                                                                            \
	(CR4_TSD | CR4_DE | CR4_PSE | CR4_PAE | CR4_PGE | CR4_SMEP | CR4_SMAP | CR4_OSFXSR |       \
	 CR4_OSXMMEXCPT | CR4_FSGSBASE | CR4_OSXSAVE | CR4_VMXE)

int vmx_cap_msr(u32 index, u64 *value)
{
	switch (index) {
	case MSR_IA32_VMX_BASIC:
		*value = VMX_BASIC;
		break;
	case MSR_IA32_VMX_PINBASED_CTLS:
	case MSR_IA32_VMX_TRUE_PINBASED_CTLS:
		*value = CTLS(PIN_DEFAULT1, PIN_SUPPORTED);
		break;
	case MSR_IA32_VMX_PROCBASED_CTLS:
		*value = CTLS(PROC_DEFAULT1, PROC_SUPPORTED);
		break;
	case MSR_IA32_VMX_TRUE_PROCBASED_CTLS:
		*value = CTLS(PROC_DEFAULT1 & ~PROC_TRUE_CLEARABLE, PROC_SUPPORTED);
		break;
	case MSR_IA32_VMX_EXIT_CTLS:
		*value = CTLS(EXIT_DEFAULT1, EXIT_SUPPORTED);
		break;
	case MSR_IA32_VMX_TRUE_EXIT_CTLS:
		*value = CTLS(EXIT_DEFAULT1 & ~EXIT_TRUE_CLEARABLE, EXIT_SUPPORTED);
		break;
	case MSR_IA32_VMX_ENTRY_CTLS:
		*value = CTLS(ENTRY_DEFAULT1, ENTRY_SUPPORTED);
		break;
	case MSR_IA32_VMX_TRUE_ENTRY_CTLS:
		*value = CTLS(ENTRY_DEFAULT1 & ~ENTRY_TRUE_CLEARABLE, ENTRY_SUPPORTED);
		break;
	case MSR_IA32_VMX_PROCBASED_CTLS2:
		*value = CTLS(0, PROC2_SUPPORTED);
		break;
	case MSR_IA32_VMX_MISC:
		*value = VMX_MISC;
		break;
	case MSR_IA32_VMX_CR0_FIXED0:
		*value = VMX_CR0_FIXED0;
		break;
	case MSR_IA32_VMX_CR0_FIXED1:
		*value = VMX_CR0_FIXED1;
		break;
	case MSR_IA32_VMX_CR4_FIXED0:
		*value = VMX_CR4_FIXED0;
		break;
	case MSR_IA32_VMX_CR4_FIXED1:
		*value = VMX_CR4_FIXED1;
		break;
	case MSR_IA32_VMX_VMCS_ENUM: /* highest index in bits 9:1 (A.9) */
		*value = (u64)vmcs_max_index() << 1;
		break;
	case MSR_IA32_VMX_EPT_VPID_CAP:
		*value = VMX_EPT_VPID_CAP;
		break;
	default:
		return -ENOENT;
	}
	return 0;
}

/*
 * What a guest hypervisor is offered (nested VMX, docs/vmx.md "Nested VMX"): the model's
 * controls less the secondary ones the nested code does not compose yet (PML, whose log L0
 * would have to write into the guest hypervisor's page as L2 dirties; TSC scaling; PAUSE-loop
 * exiting).
 * The TPR shadow, APIC virtualization, virtual-interrupt delivery and posted interrupts are
 * offered: their pages are in the guest hypervisor's RAM, which the software CPU reaches
 * directly, and L0 does posted-interrupt processing for L2 when the guest hypervisor's LAPIC
 * delivers vmcs12's notification vector (soft/nested.c). EPT, unrestricted guest and the
 * EPT/VPID capabilities are the model's own: the software CPU walks the guest hypervisor's EPT
 * through the VMM's (nested EPT, cpu/ept.c).
 */
#define NESTED_PROC2                                                                              \
	(PROC2_VIRT_APIC_ACCESSES | PROC2_VIRT_X2APIC | PROC2_APIC_REG_VIRT |                     \
	 PROC2_VIRT_INTR_DELIVERY | PROC2_ENABLE_EPT | PROC2_DESC_TABLE_EXITING |                  \
	 PROC2_ENABLE_RDTSCP | PROC2_ENABLE_VPID | PROC2_WBINVD_EXITING |                         \
	 PROC2_UNRESTRICTED_GUEST | PROC2_RDRAND_EXITING | PROC2_ENABLE_INVPCID |                 \
	 PROC2_RDSEED_EXITING | PROC2_ENABLE_XSAVES)

int vmx_nested_cap_msr(u32 index, u64 *value)
{
	u64 v;
	int err = vmx_cap_msr(index, &v);

	if (err)
		return err;
	if (index == MSR_IA32_VMX_PROCBASED_CTLS2)
		v = CTLS(0, NESTED_PROC2);
	*value = v;
	return 0;
}

bool vmx_ctls_allowed(u64 cap_msr_value, u32 value)
{
	u32 must1 = (u32)cap_msr_value, may1 = (u32)(cap_msr_value >> 32);

	return (value & must1) == must1 && !(value & ~may1);
}
