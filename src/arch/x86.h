/* SPDX-License-Identifier: MIT */
/*
 * Architectural definitions of x86-64 (Intel SDM vol. 1 and 3A) shared by the software CPU, the
 * KVM backend and the VMM: register numbers, RFLAGS/CR/EFER bits, MSR numbers, exception vectors,
 * and the backend-neutral register files the VMM reads and writes (shaped like KVM's kvm_regs and
 * kvm_sregs so the kvm backend maps them one to one).
 */
#pragma once
#include "common.h"

enum gpr {
	R_RAX, R_RCX, R_RDX, R_RBX, R_RSP, R_RBP, R_RSI, R_RDI,
	R_R8, R_R9, R_R10, R_R11, R_R12, R_R13, R_R14, R_R15,
};

/* Segment registers in the SDM's encoding order (ModRM.reg of MOV Sreg; VMCS field index). */
enum seg_reg { SEG_ES, SEG_CS, SEG_SS, SEG_DS, SEG_FS, SEG_GS, SEG_LDTR, SEG_TR, SEG_NONE = 15 };

/* RFLAGS (SDM vol. 1 3.4.3). */
#define X86_CF BIT(0)
#define X86_FIXED1 BIT(1)
/* x86_regs.rflags from backend_ops.get_gprs: not read (reserved bits set, never an RFLAGS). */
#define X86_RFLAGS_UNREAD (~0ull)
#define X86_PF BIT(2)
#define X86_AF BIT(4)
#define X86_ZF BIT(6)
#define X86_SF BIT(7)
#define X86_TF BIT(8)
#define X86_IF BIT(9)
#define X86_DF BIT(10)
#define X86_OF BIT(11)
#define X86_IOPL (3ull << 12)
#define X86_IOPL_SHIFT 12
#define X86_NT BIT(14)
#define X86_RF BIT(16)
#define X86_VM BIT(17)
#define X86_AC BIT(18)
#define X86_VIF BIT(19)
#define X86_VIP BIT(20)
#define X86_ID BIT(21)
#define X86_ARITH_FLAGS (X86_CF | X86_PF | X86_AF | X86_ZF | X86_SF | X86_OF)

/* CR0 (SDM vol. 3A 2.5). */
#define CR0_PE BIT(0)
#define CR0_MP BIT(1)
#define CR0_EM BIT(2)
#define CR0_TS BIT(3)
#define CR0_ET BIT(4)
#define CR0_NE BIT(5)
#define CR0_WP BIT(16)
#define CR0_AM BIT(18)
#define CR0_NW BIT(29)
#define CR0_CD BIT(30)
#define CR0_PG BIT(31)

/* CR4 (SDM vol. 3A 2.5). */
#define CR4_VME BIT(0)
#define CR4_PVI BIT(1)
#define CR4_TSD BIT(2)
#define CR4_DE BIT(3)
#define CR4_PSE BIT(4)
#define CR4_PAE BIT(5)
#define CR4_MCE BIT(6)
#define CR4_PGE BIT(7)
#define CR4_PCE BIT(8)
#define CR4_OSFXSR BIT(9)
#define CR4_OSXMMEXCPT BIT(10)
#define CR4_UMIP BIT(11)
#define CR4_LA57 BIT(12)
#define CR4_VMXE BIT(13)
#define CR4_SMXE BIT(14)
#define CR4_FSGSBASE BIT(16)
#define CR4_PCIDE BIT(17)
#define CR4_OSXSAVE BIT(18)
#define CR4_SMEP BIT(20)
#define CR4_SMAP BIT(21)
#define CR4_PKE BIT(22)

/* IA32_EFER (SDM vol. 3A 2.2.1). */
#define EFER_SCE BIT(0)
#define EFER_LME BIT(8)
#define EFER_LMA BIT(10)
#define EFER_NXE BIT(11)

/* Architectural MSRs (SDM vol. 4). */
#define MSR_IA32_TSC 0x10
#define MSR_IA32_APIC_BASE 0x1b
#define MSR_IA32_FEATURE_CONTROL 0x3a
#define MSR_IA32_SYSENTER_CS 0x174
#define MSR_IA32_SYSENTER_ESP 0x175
#define MSR_IA32_SYSENTER_EIP 0x176
#define MSR_IA32_ARCH_CAPABILITIES 0x10a
#define MSR_IA32_MISC_ENABLE 0x1a0
#define MSR_IA32_PAT 0x277
#define MSR_IA32_XSS 0xda0
#define MSR_IA32_EFER 0xc0000080
#define MSR_IA32_STAR 0xc0000081
#define MSR_IA32_LSTAR 0xc0000082
#define MSR_IA32_CSTAR 0xc0000083
#define MSR_IA32_FMASK 0xc0000084
#define MSR_IA32_FS_BASE 0xc0000100
#define MSR_IA32_GS_BASE 0xc0000101
#define MSR_IA32_KERNEL_GS_BASE 0xc0000102
#define MSR_IA32_TSC_AUX 0xc0000103

/*
 * IA32_ARCH_CAPABILITIES (read-only, enumerated by CPUID.(EAX=7,ECX=0):EDX[29]; SDM vol. 4 Table
 * 2-2): each *_NO bit says the processor is not affected by one speculative-execution or
 * buffer-sampling weakness; SKIP_L1DFL_VMENTRY that a VMM need not flush L1D on VM entry.
 */
#define ARCH_CAP_RDCL_NO BIT(0)		   /* Rogue Data Cache Load (Meltdown) */
#define ARCH_CAP_SKIP_L1DFL_VMENTRY BIT(3) /* L1 Terminal Fault: no L1D flush needed */
#define ARCH_CAP_SSB_NO BIT(4)		   /* Speculative Store Bypass */
#define ARCH_CAP_MDS_NO BIT(5)		   /* Microarchitectural Data Sampling */
#define ARCH_CAP_PSCHANGE_MC_NO BIT(6)	   /* machine check on a page-size change */
#define ARCH_CAP_TAA_NO BIT(8)		   /* TSX Asynchronous Abort */
#define ARCH_CAP_SBDR_SSDP_NO BIT(13)	   /* shared-buffer / sideband stale data */
#define ARCH_CAP_FBSDP_NO BIT(14)	   /* fill-buffer stale data propagation */
#define ARCH_CAP_PSDP_NO BIT(15)	   /* primary stale data propagation */
#define ARCH_CAP_BHI_NO BIT(20)		   /* Branch History Injection */
#define ARCH_CAP_PBRSB_NO BIT(24)	   /* post-barrier return stack buffer predictions */
#define ARCH_CAP_GDS_NO BIT(26)		   /* Gather Data Sampling */
#define ARCH_CAP_RFDS_NO BIT(27)	   /* Register File Data Sampling */
#define ARCH_CAP_ITS_NO BIT(62)		   /* Indirect Target Selection */

/* IA32_PAT's power-up value (SDM vol. 3A 11.12.4): PA0 WB, PA1 WT, PA2 UC-, PA3 UC, repeated. */
#define X86_PAT_POWER_UP 0x0007040600070406ull

/*
 * IA32_PAT holds a valid memory type in each of its 8 bytes: 0 UC, 1 WC, 4 WT, 5 WP, 6 WB, 7 UC-;
 * 2, 3 and 8-255 are reserved (SDM vol. 3A 11.12.2: WRMSR of a reserved type is #GP(0); vol. 3C
 * 27.2.2 and 27.3.1.1: VM entry checks the host and guest PAT fields the same way).
 */
static inline bool x86_pat_valid(u64 pat)
{
	for (unsigned i = 0; i < 8; i++) {
		u8 t = (u8)(pat >> (i * 8));

		if (t == 2 || t == 3 || t > 7)
			return false;
	}
	return true;
}

/* Exception vectors (SDM vol. 3A 6.3.1). Where a name is taken by an RFLAGS bit (DF, PF, OF, AC)
   the vector has the suffix _VEC. */
enum x86_vector {
	X86_DE = 0, X86_DB = 1, X86_NMI = 2, X86_BP = 3, X86_OF_VEC = 4, X86_BR = 5, X86_UD = 6,
	X86_NM = 7, X86_DF_VEC = 8, X86_TS = 10, X86_NP = 11, X86_SS = 12, X86_GP = 13, X86_PF_VEC = 14,
	X86_MF = 16, X86_AC_VEC = 17, X86_MC = 18, X86_XM = 19, X86_VE = 20, X86_CP = 21,
};

/* Paging-structure entry bits (SDM vol. 3A 4.3 Tables 4-4..4-6, 4.4.2, 4.5.4). */
#define PTE_P BIT(0)
#define PTE_RW BIT(1)
#define PTE_US BIT(2)
#define PTE_A BIT(5)
#define PTE_D BIT(6)
#define PTE_PS BIT(7)
#define PTE_G BIT(8) /* global: kept by MOV CR3 when CR4.PGE = 1 (SDM 4.10.2.4) */
#define PTE_XD BIT(63)

/*
 * Reserved bits of a present entry, each a #PF with PFEC_RSVD (SDM 4.7), for a processor of
 * MAXPHYADDR m; XD is reserved too when IA32_EFER.NXE = 0 (4.4.2, 4.5.4).
 *   32-bit, 4 MiB PDE: bit 21 = bits 21:(M-19) with M = min(m, 40) (Table 4-4; m = 40 here).
 *   PAE PDPTE: 63:m, 8:5, 2:1 (Table 4-8). PAE PDE/PTE: 62:m (Tables 4-9..4-11).
 *   4-level, every entry: 51:m; PML4E: PS; 1 GiB PDPTE: 29:13; 2 MiB PDE: 20:13 (4-15..4-20).
 */
#define PTE_RSVD_PSE_4M BIT(21)
#define PTE_RSVD_PAE_PDPTE(m) (GENMASK(63, m) | GENMASK(8, 5) | GENMASK(2, 1))
#define PTE_RSVD_PAE(m) GENMASK(62, m)
#define PTE_RSVD_4LEVEL(m) GENMASK(51, m)
#define PTE_RSVD_1G GENMASK(29, 13)
#define PTE_RSVD_2M GENMASK(20, 13)

/* #PF error code bits (SDM vol. 3A 4.7). */
#define PFEC_P BIT(0)
#define PFEC_W BIT(1)
#define PFEC_U BIT(2)
#define PFEC_RSVD BIT(3)
#define PFEC_I BIT(4)
#define PFEC_PK BIT(5)

/*
 * Segment register state as the VMCS guest-state area holds it (SDM vol. 3C 24.4.1): `ar` is the
 * access-rights field: type 3:0, S 4, DPL 6:5, P 7, AVL 12, L 13, D/B 14, G 15, unusable 16.
 */
struct x86_segment {
	u64 base;
	u32 limit; /* byte granular (G already applied) */
	u16 sel;
	u32 ar;
};
#define AR_TYPE(ar) ((ar) & 0xf)
#define AR_S BIT(4)
#define AR_DPL(ar) (((ar) >> 5) & 3)
#define AR_P BIT(7)
#define AR_AVL BIT(12)
#define AR_L BIT(13)
#define AR_DB BIT(14)
#define AR_G BIT(15)
#define AR_UNUSABLE BIT(16)

struct x86_dtable {
	u64 base;
	u16 limit;
};

/* General registers, as KVM's struct kvm_regs holds them. */
struct x86_regs {
	u64 gpr[16]; /* indexed by enum gpr */
	u64 rip;
	u64 rflags;
};

/* System registers, as KVM's struct kvm_sregs holds them. */
struct x86_sregs {
	struct x86_segment seg[8]; /* indexed by enum seg_reg, incl. LDTR and TR */
	struct x86_dtable gdt, idt;
	u64 cr0, cr2, cr3, cr4, cr8;
	u64 efer;
	u64 apic_base;
};

/*
 * The x87, MMX and SSE state as the XSAVE area lays it out (SDM vol. 1 13.4, 13.5): the legacy
 * region in FXSAVE's format (Table 10-2: FCW, FSW, abridged FTW, FOP, FIP, FDP, MXCSR and its
 * mask, ST0-ST7 / MM0-MM7 in 16-byte slots, ST(i) relative to TOP, XMM0-XMM15), the XSAVE header
 * at 512, and the AVX upper halves (state component 2) at their standard offset 576 (CPUID.(EAX=
 * 0DH,ECX=2):EBX). It is the exchange format of every backend (KVM's struct kvm_xsave begins the
 * same way) and of snapshots; the soft CPU may hold the x87 stack differently inside and converts
 * at cpu_get_fpu()/cpu_set_fpu().
 */
struct x86_fpu {
	u16 fcw, fsw;
	u8 ftw; /* abridged: one bit per physical register, 1 = valid (SDM vol. 1 10.5.1.1) */
	u8 rsvd1;
	u16 fop;
	u64 fip, fdp; /* 64-bit forms (FXSAVE64); the 32-bit form's selectors are not kept */
	u32 mxcsr, mxcsr_mask;
	u8 st[8][16];	/* 80-bit values in the low 10 bytes */
	u8 xmm[16][16];
	u8 rsvd2[96];
	/* XSAVE header (SDM vol. 1 13.4.2) */
	u64 xstate_bv, xcomp_bv;
	u64 hdr_rsvd[6];
	u8 ymmh[16][16]; /* YMM0-15 bits 255:128 */
} __attribute__((aligned(64)));
_Static_assert(__builtin_offsetof(struct x86_fpu, mxcsr) == 24, "FXSAVE MXCSR");
_Static_assert(__builtin_offsetof(struct x86_fpu, st) == 32, "FXSAVE ST0");
_Static_assert(__builtin_offsetof(struct x86_fpu, xmm) == 160, "FXSAVE XMM0");
_Static_assert(__builtin_offsetof(struct x86_fpu, xstate_bv) == 512, "XSAVE header");
_Static_assert(__builtin_offsetof(struct x86_fpu, ymmh) == 576, "AVX state");
#define X86_FPU_FCW_INIT 0x037f	  /* FNINIT (SDM vol. 1 8.1.5) */
#define X86_FPU_MXCSR_INIT 0x1f80 /* all exceptions masked, round to nearest */
/* MXCSR bits the CPU implements, as FXSAVE stores MXCSR_MASK: 15:0 with DAZ (SDM vol. 1 11.6.6);
   writing any other bit is #GP(0). */
#define X86_MXCSR_MASK 0xffffu

/*
 * The architectural state of one logical processor, apart from anything a CPU caches (TLBs,
 * decoded code, host pointers): what a snapshot saves, a gdb stub shows, a nested hypervisor
 * switches and a migration moves. Every backend gets and sets it whole (backend_ops.get_state,
 * set_state); KVM spreads the same over KVM_GET_REGS/SREGS/XSAVE/XCRS/DEBUGREGS/MSRS/VCPU_EVENTS.
 *   - regs, sregs: as KVM's kvm_regs, kvm_sregs (segments in the VMCS access-rights format);
 *   - fpu: x87, MMX, SSE in the XSAVE layout, and XCR0 (SDM vol. 1 13.3);
 *   - dr: DR0-DR3, DR6, DR7 (dr[4], dr[5] unused: they alias 6 and 7 under CR4.DE=0);
 *   - msrs: the MSRs of X86_STATE_MSRS, in that order; set_state leaves IA32_TSC alone when
 *     it is the value get_state returned (the counter ran on meanwhile);
 *   - events: an event waiting to be delivered at the next instruction boundary (SDM vol. 3C
 *     25.8.3 format: vector, type, error code, instruction length), the interruptibility state
 *     and activity state (25.4.2), pending debug exceptions.
 */
#define X86_STATE_MSRS(X)                                                                          \
	X(MSR_IA32_TSC) X(MSR_IA32_SYSENTER_CS) X(MSR_IA32_SYSENTER_ESP) X(MSR_IA32_SYSENTER_EIP)    \
	X(MSR_IA32_PAT) X(MSR_IA32_STAR) X(MSR_IA32_LSTAR) X(MSR_IA32_CSTAR) X(MSR_IA32_FMASK)       \
	X(MSR_IA32_KERNEL_GS_BASE) X(MSR_IA32_TSC_AUX)
#define X86_STATE_MSR_COUNT_ONE(m) +1
#define X86_STATE_NR_MSRS (0 X86_STATE_MSRS(X86_STATE_MSR_COUNT_ONE))

struct x86_state {
	struct x86_regs regs;
	struct x86_sregs sregs;
	struct x86_fpu fpu;
	u64 xcr0;
	u64 dr[8];
	u64 msrs[X86_STATE_NR_MSRS];
	struct {
		u32 inject_info; /* VM-entry interruption information format; bit 31: valid */
		u32 inject_error;
		u32 inject_len;
		u32 interruptibility; /* GUEST_INTR_STATE_* */
		u32 activity;	      /* GUEST_ACTIVITY_* */
		u64 pending_dbg;
	} events;
};
