/* SPDX-License-Identifier: MIT */
/*
 * The VMM's MSR policy. The CPU holds the MSRs it implements itself (EFER, STAR, ..., TSC, PAT)
 * and the MSR bitmap lets the guest reach those without an exit; every other RDMSR/WRMSR exits
 * and is answered here from the table in msr.c, or with #GP(0) for MSRs we do not model (SDM
 * vol. 4: accessing a reserved or unimplemented MSR raises #GP).
 */
#pragma once
#include "common.h"

/* X(index, NAME, reset value, kind, writable mask): see msr.c for the rules of each kind. */
#define MSR_POLICY_LIST(X)                                                                         \
	X(0x017, IA32_PLATFORM_ID, 0, MSR_RO, 0)                                                   \
	X(0x03a, IA32_FEATURE_CONTROL, BIT(0), MSR_RO, 0)                                          \
	X(0x08b, IA32_BIOS_SIGN_ID, 0, MSR_WRITE_IGNORED, 0)                                       \
	X(0x0fe, IA32_MTRRCAP, 0, MSR_RO, 0)                                                       \
	X(0x179, IA32_MCG_CAP, 0, MSR_RO, 0)                                                       \
	X(0x17a, IA32_MCG_STATUS, 0, MSR_RW, 0)                                                    \
	X(0x1a0, IA32_MISC_ENABLE, BIT(0) | BIT(11) | BIT(12) | BIT(18), MSR_RW,                   \
	  BIT(0) | BIT(3) | BIT(16) | BIT(18))                                                     \
	/* IA32_DEBUGCTL (SDM vol. 3B 18.4.1): LBR, BTF and the rest are not modelled, so it \
	   holds 0 (the VMCS's GUEST_IA32_DEBUGCTL too); Linux's KVM reads it at every run. */ \
	X(0x1d9, IA32_DEBUGCTL, 0, MSR_RW, 0)                                                      \
	X(0x2ff, IA32_MTRR_DEF_TYPE, 0, MSR_RW, 0xcff)

enum msr_policy_slot {
#define X(index, name, reset, kind, wmask) MSR_SLOT_##name,
	MSR_POLICY_LIST(X)
#undef X
		MSR_POLICY_COUNT
};

void msr_policy_reset(u64 values[MSR_POLICY_COUNT]);
/* 0, or -ENOENT when the guest must get #GP(0). */
int msr_policy_read(const u64 values[MSR_POLICY_COUNT], u32 index, u64 *value);
/* 0, or -ENOENT (not modelled) / -EPERM (read-only bits or locked) when the guest gets #GP(0). */
int msr_policy_write(u64 values[MSR_POLICY_COUNT], u32 index, u64 value);

/*
 * The MSRs the CPU itself holds (EFER, STAR, ..., TSC_AUX), which the guest reaches without an
 * exit: the soft backend's MSR bitmap lets them through, the kvm backend's filter leaves them to
 * KVM.
 */
bool msr_is_passthrough(u32 index);

/* The 4 KiB VMX MSR bitmap (SDM vol. 3C 24.6.9): exits for everything but the CPU's own MSRs. */
void msr_build_bitmap(u8 bitmap[4096]);
/* Let RDMSR (`read`) and/or WRMSR (`write`) of `msr` run without an exit. */
void msr_bitmap_pass(u8 bitmap[4096], u32 msr, bool read, bool write);
/* Make reads and writes of msr exit again (both bits set). */
void msr_bitmap_intercept(u8 bitmap[4096], u32 msr);
