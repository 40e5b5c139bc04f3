/* SPDX-License-Identifier: MIT */
/*
 * VM-execution control bits (Intel SDM vol. 3C 24.6). The software CPU tests these at each point
 * where the SDM (chapter 26, "VMX Non-Root Operation") says an instruction or event may exit.
 */
#pragma once
#include "common.h"

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
#define PROC2_ENABLE_VPID BIT(5)
#define PROC2_WBINVD_EXITING BIT(6)
#define PROC2_UNRESTRICTED_GUEST BIT(7)
#define PROC2_PAUSE_LOOP_EXITING BIT(10)
#define PROC2_RDRAND_EXITING BIT(11)
#define PROC2_ENABLE_INVPCID BIT(12)
#define PROC2_RDSEED_EXITING BIT(16)
#define PROC2_ENABLE_PML BIT(17)
#define PROC2_ENABLE_XSAVES BIT(20)
#define PROC2_TSC_SCALING BIT(25)

/*
 * The VMCS controls as the CPU holds them while the guest runs: VM entry (vmx/entry.c) checks the
 * VMCS and loads this; physical addresses of bitmaps and pages are already resolved to host
 * pointers. As on hardware, a VMWRITE takes effect at the next VM entry.
 */
struct vmx_controls {
	u32 pin, proc, proc2;
	u32 exit_ctls, entry_ctls;
	u32 exception_bitmap;
	u32 pf_ec_mask, pf_ec_match;
	u64 cr0_guest_host_mask, cr0_read_shadow;
	u64 cr4_guest_host_mask, cr4_read_shadow;
	u32 cr3_target_count; /* 0..4 (SDM 26.1.3 MOV to CR3) */
	u64 cr3_target[4];
	u64 tsc_offset;
	u64 tsc_multiplier;  /* 48.48 fixed point, when PROC2_TSC_SCALING (SDM 26.6.5) */
	const u8 *io_bitmap_a; /* 4 KiB each, ports 0-0x7fff and 0x8000-0xffff (SDM 25.6.4) */
	const u8 *io_bitmap_b;
	const u8 *msr_bitmap;  /* 4 KiB: read-low, read-high, write-low, write-high (SDM 25.6.9) */
	u8 *virtual_apic;      /* 4 KiB, when PROC_TPR_SHADOW; VTPR at offset 0x80 (SDM 30.1) */
	u32 tpr_threshold;
	u64 eptp;              /* when PROC2_ENABLE_EPT (SDM 25.6.11) */
	u16 vpid;              /* when PROC2_ENABLE_VPID; 0 is not allowed (SDM 26.2.1.1) */
	u64 pml_address;       /* host-physical, 4 KiB aligned, when PROC2_ENABLE_PML */
	u32 ple_gap, ple_window;
};
