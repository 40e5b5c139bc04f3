/* SPDX-License-Identifier: MIT */
/*
 * Architectural facts of VT-x (Intel SDM vol. 3C chapters 25-29, vol. 3D appendices A and C)
 * that the software CPU, the VT-x model (vmx/), the KVM backend, the VMM and the guests share:
 * exit reasons, control bits, interruption-information, interruptibility and activity states,
 * EPT entry and EPTP bits, exit qualifications, the capability MSR numbers, and the exit record.
 * No code and no includes above common.h: every layer may include this.
 */
#pragma once
#include "common.h"

enum exit_reason {
#define X(n, name) EXIT_REASON_##name = n,
#include "arch/exit_reasons.h"
#undef X
	EXIT_REASON_MAX = 70,
};

/* Bit 31 of the exit-reason field: VM-entry failure (SDM vol. 3C 24.9.1). */
#define EXIT_REASON_FAILED_VMENTRY BIT(31)

/* Pin-based VM-execution controls (SDM 24.6.1, Table 24-5). */
#define PIN_EXTINT_EXITING BIT(0)
#define PIN_NMI_EXITING BIT(3)
#define PIN_VIRTUAL_NMIS BIT(5)
#define PIN_PREEMPTION_TIMER BIT(6)
#define PIN_POSTED_INTERRUPTS BIT(7)

/* Primary processor-based VM-execution controls (SDM 24.6.2, Table 24-6). */
#define PROC_INTR_WINDOW_EXITING BIT(2)
#define PROC_TSC_OFFSETTING BIT(3)
#define PROC_HLT_EXITING BIT(7)
#define PROC_INVLPG_EXITING BIT(9)
#define PROC_MWAIT_EXITING BIT(10)
#define PROC_RDPMC_EXITING BIT(11)
#define PROC_RDTSC_EXITING BIT(12)
#define PROC_CR3_LOAD_EXITING BIT(15)
#define PROC_CR3_STORE_EXITING BIT(16)
#define PROC_CR8_LOAD_EXITING BIT(19)
#define PROC_CR8_STORE_EXITING BIT(20)
#define PROC_TPR_SHADOW BIT(21)
#define PROC_NMI_WINDOW_EXITING BIT(22)
#define PROC_MOV_DR_EXITING BIT(23)
#define PROC_UNCOND_IO_EXITING BIT(24)
#define PROC_USE_IO_BITMAPS BIT(25)
#define PROC_MONITOR_TRAP_FLAG BIT(27)
#define PROC_USE_MSR_BITMAPS BIT(28)
#define PROC_MONITOR_EXITING BIT(29)
#define PROC_PAUSE_EXITING BIT(30)
#define PROC_SECONDARY_CONTROLS BIT(31)

/* Secondary processor-based VM-execution controls (SDM 24.6.2, Table 24-7). */
#define PROC2_VIRT_APIC_ACCESSES BIT(0)
#define PROC2_ENABLE_EPT BIT(1)
#define PROC2_DESC_TABLE_EXITING BIT(2)
#define PROC2_ENABLE_RDTSCP BIT(3)
#define PROC2_VIRT_X2APIC BIT(4)
#define PROC2_ENABLE_VPID BIT(5)
#define PROC2_WBINVD_EXITING BIT(6)
#define PROC2_UNRESTRICTED_GUEST BIT(7)
#define PROC2_APIC_REG_VIRT BIT(8)
#define PROC2_VIRT_INTR_DELIVERY BIT(9)
#define PROC2_PAUSE_LOOP_EXITING BIT(10)
#define PROC2_RDRAND_EXITING BIT(11)
#define PROC2_ENABLE_INVPCID BIT(12)
#define PROC2_VMCS_SHADOWING BIT(14)
#define PROC2_RDSEED_EXITING BIT(16)
#define PROC2_ENABLE_PML BIT(17)
#define PROC2_ENABLE_XSAVES BIT(20)
#define PROC2_TSC_SCALING BIT(25)

/* VM-exit controls (SDM vol. 3C 25.7.1, Table 25-13). */
#define EXIT_CTL_SAVE_DEBUG_CONTROLS BIT(2)
#define EXIT_CTL_HOST_ADDR_SPACE_SIZE BIT(9)
#define EXIT_CTL_ACK_INTR_ON_EXIT BIT(15)
#define EXIT_CTL_SAVE_PAT BIT(18)
#define EXIT_CTL_LOAD_PAT BIT(19)
#define EXIT_CTL_SAVE_EFER BIT(20)
#define EXIT_CTL_LOAD_EFER BIT(21)
#define EXIT_CTL_SAVE_PREEMPTION_TIMER BIT(22)

/* VM-entry controls (SDM vol. 3C 25.8.1, Table 25-15). */
#define ENTRY_CTL_LOAD_DEBUG_CONTROLS BIT(2)
#define ENTRY_CTL_IA32E_MODE_GUEST BIT(9)
#define ENTRY_CTL_ENTRY_TO_SMM BIT(10)
#define ENTRY_CTL_DEACT_DUAL_MONITOR BIT(11)
#define ENTRY_CTL_LOAD_PAT BIT(14)
#define ENTRY_CTL_LOAD_EFER BIT(15)

/* Interruption-information fields (SDM vol. 3C 25.8.3, 25.9.2, 25.9.3). */
#define INTR_INFO_VECTOR(v) ((v) & 0xff)
#define INTR_INFO_TYPE(v) (((v) >> 8) & 7)
#define INTR_INFO_DELIVER_CODE BIT(11)
#define INTR_INFO_NMI_UNBLOCKED_BY_IRET BIT(12)
#define INTR_INFO_VALID BIT(31)
#define INTR_TYPE_EXT_INTR 0
#define INTR_TYPE_NMI 2
#define INTR_TYPE_HARD_EXCEPTION 3
#define INTR_TYPE_SOFT_INTR 4
#define INTR_TYPE_PRIV_SW_EXCEPTION 5
#define INTR_TYPE_SOFT_EXCEPTION 6
#define INTR_TYPE_OTHER_EVENT 7

/* Guest interruptibility state (SDM vol. 3C 25.4.2, Table 25-3). */
#define GUEST_INTR_STATE_STI BIT(0)
#define GUEST_INTR_STATE_MOV_SS BIT(1)
#define GUEST_INTR_STATE_SMI BIT(2)
#define GUEST_INTR_STATE_NMI BIT(3)
#define GUEST_INTR_STATE_ENCLAVE BIT(4)

/* Guest activity state (SDM vol. 3C 25.4.2). */
#define GUEST_ACTIVITY_ACTIVE 0
#define GUEST_ACTIVITY_HLT 1
#define GUEST_ACTIVITY_SHUTDOWN 2
#define GUEST_ACTIVITY_WAIT_SIPI 3

/* EPTP (SDM vol. 3C 25.6.11, Table 25-9). */
#define EPTP_MT_MASK 7ull
#define EPTP_MT_UC 0
#define EPTP_MT_WB 6
#define EPTP_WALK_LENGTH(eptp) ((((eptp) >> 3) & 7) + 1)
#define EPTP_AD_ENABLE BIT(6)

/* EPT paging-structure entry bits (SDM 29.3.2, Tables 29-1 to 29-6). */
#define EPT_R	      BIT(0)
#define EPT_W	      BIT(1)
#define EPT_X	      BIT(2)
#define EPT_RWX	      (EPT_R | EPT_W | EPT_X)
#define EPT_MT_SHIFT  3	     /* bits 5:3 of a leaf: memory type */
#define EPT_MT(e)     (((e) >> EPT_MT_SHIFT) & 7)
#define EPT_PS	      BIT(7) /* a PDPTE or PDE that maps a 1-GByte or 2-MByte page */
#define EPT_A	      BIT(8)
#define EPT_D	      BIT(9) /* leaves only */

/* EPT-violation exit qualification bits 7 and 8 (SDM 28.2.1, Table 28-7). */
#define EPT_QUAL_LIN_VALID BIT(7)
#define EPT_QUAL_FINAL BIT(8)

/* Capability MSRs (SDM vol. 3D appendix A). */
#define MSR_IA32_VMX_BASIC 0x480
#define MSR_IA32_VMX_PINBASED_CTLS 0x481
#define MSR_IA32_VMX_PROCBASED_CTLS 0x482
#define MSR_IA32_VMX_EXIT_CTLS 0x483
#define MSR_IA32_VMX_ENTRY_CTLS 0x484
#define MSR_IA32_VMX_MISC 0x485
#define MSR_IA32_VMX_CR0_FIXED0 0x486
#define MSR_IA32_VMX_CR0_FIXED1 0x487
#define MSR_IA32_VMX_CR4_FIXED0 0x488
#define MSR_IA32_VMX_CR4_FIXED1 0x489
#define MSR_IA32_VMX_VMCS_ENUM 0x48a
#define MSR_IA32_VMX_PROCBASED_CTLS2 0x48b
#define MSR_IA32_VMX_EPT_VPID_CAP 0x48c
#define MSR_IA32_VMX_TRUE_PINBASED_CTLS 0x48d
#define MSR_IA32_VMX_TRUE_PROCBASED_CTLS 0x48e
#define MSR_IA32_VMX_TRUE_EXIT_CTLS 0x48f
#define MSR_IA32_VMX_TRUE_ENTRY_CTLS 0x490

/* The VMX-preemption timer ticks once every 2^5 TSC cycles (IA32_VMX_MISC bits 4:0). */
#define VMX_MISC_PREEMPTION_SHIFT 5

/* APIC-access exit qualification (SDM vol. 3C 28.2.1, Table 28-6): bits 11:0 the page offset
   (linear accesses), bits 15:12 the access type. */
#define APIC_ACCESS_LINEAR_READ 0
#define APIC_ACCESS_LINEAR_WRITE 1
#define APIC_ACCESS_LINEAR_FETCH 2
#define APIC_ACCESS_LINEAR_EVENT 3
#define APIC_ACCESS_GPA_EVENT 10
#define APIC_ACCESS_GPA_INSN 15
#define APIC_ACCESS_QUAL(type, off) ((u64)(type) << 12 | ((off)&0xfff))

/* Posted-interrupt descriptor (SDM vol. 3C 30.6, Table 30-1): 64 bytes, 64-byte aligned. PIR
   bits 255:0, outstanding notification (ON) bit 256, suppress notification (SN) bit 257 (read
   by senders only), notification vector bits 279:272 and destination bits 319:288 (VT-d's). */
#define PI_DESC_ON_BIT 256
#define PI_DESC_SN_BIT 257

/* I/O exit qualification (SDM vol. 3C Table 28-5). */
#define IO_QUAL_SIZE(q) (((q) & 7) + 1)
#define IO_QUAL_IN BIT(3)
#define IO_QUAL_STRING BIT(4)
#define IO_QUAL_REP BIT(5)
#define IO_QUAL_IMM BIT(6)
#define IO_QUAL_PORT(q) ((u16)((q) >> 16))

struct vm_exit {
	u32 reason;     /* basic exit reason in bits 15:0, plus bit 31 on entry failure */
	u32 insn_len;   /* VM-exit instruction length */
	u64 qual;       /* exit qualification */
	u64 rip;        /* guest RIP of the instruction (or event) that exited */
	u64 guest_linear;
	u64 guest_phys;
	u32 insn_info;  /* VM-exit instruction information */
	u32 intr_info;  /* VM-exit interruption information */
	u32 intr_error; /* VM-exit interruption error code */
	u32 idt_vectoring_info;
	u32 idt_vectoring_error;
	/*
	 * I/O exchange for reason 30, the contract of KVM's kvm_run.io: one element of `size`
	 * bytes. For OUT/OUTS the backend fills `data` before the exit; for IN/INS the handler fills
	 * it. The backend completes the instruction (register or memory write, RSI/RDI/RCX update,
	 * RIP advance) when the vCPU next runs, so handlers never emulate I/O instructions.
	 */
	struct {
		u16 port;
		u8 size;
		u8 in;
		u32 data;
	} io;
	/*
	 * MMIO exchange for reason 48 on an MMIO region, when the backend already decoded the access
	 * (KVM's KVM_EXIT_MMIO): `valid` set, one access of `size` bytes at `gpa`; for a write
	 * `data` holds the value, for a read the handler fills it and the backend completes the
	 * instruction on the next run. When `valid` is clear (the soft CPU's EPT violation) the VMM
	 * decodes the faulting instruction itself and completes it, as a hardware VMM must.
	 */
	struct {
		bool valid;
		bool write;
		u8 size;
		u64 gpa;
		u64 data;
	} mmio;
	/*
	 * Model-specific, for nested EPT: an EPT violation or misconfiguration in the outer EPT
	 * (the VMM's, which maps the guest hypervisor's EPT), guest_phys then being the address
	 * in the outer EPT's guest-physical space that failed. Clear: the guest's own EPT.
	 */
	bool ept_outer;
};
