// SPDX-License-Identifier: MIT
/*
 * CPUID policy (SDM vol. 2A, CPUID). We model an Intel CPU with VT-x, so the vendor is
 * "GenuineIntel" (guests such as Linux key their feature handling on it), and we advertise ONLY
 * what the soft CPU implements: the x87 FPU (with FCMOVcc and FCOMI, which FPU and CMOV together
 * announce), MMX, FXSAVE/FXRSTOR, SSE through SSE4.2, AES-NI and PCLMULQDQ (the soft CPU's
 * whatever the host, docs/cpu.md "SSE"), and the XSAVE feature set for x87 and SSE state (no
 * AVX). Bits that follow the guest's state (CPUID.1:ECX.OSXSAVE) are set by cpuid_adjust() where
 * CPUID is answered.
 */
#include <string.h>

#include "cpu/cpu.h"
#include "cpu/xsave.h"
#include "vmm/cpuid.h"

#define CPUID_MAX_BASIC	  0xd
#define CPUID_MAX_EXT	  0x80000008
#define CPUID_BRAND	  "tollbooth soft CPU"
#define CPUID_ANY_SUBLEAF 0xffffffff

/* Leaf 1 EDX. */
#define F1_FPU	 BIT(0)
#define F1_PSE	 BIT(3)
#define F1_TSC	 BIT(4)
#define F1_MSR	 BIT(5)
#define F1_PAE	 BIT(6)
#define F1_CX8	 BIT(8)
#define F1_APIC	 BIT(9) /* the board's local APIC (vmm/board.c, devices/lapic.h) */
#define F1_SEP	 BIT(11)
#define F1_PGE	 BIT(13)
#define F1_CMOV	 BIT(15)
#define F1_PAT	 BIT(16)
#define F1_CLFSH BIT(19)
#define F1_MMX	 BIT(23)
#define F1_FXSR	 BIT(24)
#define F1_SSE	 BIT(25)
#define F1_SSE2	 BIT(26)
/* Leaf 1 ECX. */
#define F1C_SSE3    BIT(0)
#define F1C_PCLMUL  BIT(1)
#define F1C_MONITOR CPUID_1_ECX_MONITOR
#define F1C_SSSE3   BIT(9)
#define F1C_CX16    BIT(13)
#define F1C_SSE41   BIT(19)
#define F1C_SSE42   BIT(20)
#define F1C_MOVBE   BIT(22)
#define F1C_POPCNT  BIT(23)
#define F1C_AES	    BIT(25)
#define F1C_XSAVE   BIT(26)
#define F1C_OSXSAVE BIT(27) /* CR4.OSXSAVE: cpuid_adjust() */
#define F1C_RDRAND  BIT(30)
/* Leaf 7 subleaf 0 EBX and ECX. */
#define F7_FSGSBASE BIT(0)
#define F7_BMI1 BIT(3)
#define F7_SMEP BIT(7)
#define F7_INVPCID BIT(10)
#define F7_RDSEED BIT(18)
#define F7_SMAP BIT(20)
#define F7_CLFLUSHOPT BIT(23)
#define F7_CLWB BIT(24)
#define F7C_RDPID BIT(22)
#define F7D_ARCH_CAP BIT(29) /* IA32_ARCH_CAPABILITIES (the CPU's: cpu/msr.c; KVM's under kvm) */
/* Leaf 0DH subleaf 1 EAX (SDM vol. 1 13.2). */
#define FD1_XSAVEOPT BIT(0)
#define FD1_XSAVEC BIT(1)
#define FD1_XGETBV1 BIT(2)
#define FD1_XSAVES BIT(3)
/* Leaf 0x80000001 ECX and EDX. */
#define FX_LAHF_LM BIT(0)
#define FX_ABM	   BIT(5)
#define FX_PREFETCHW BIT(8) /* 0F 0D: a hint, run as a NOP */
#define FX_SYSCALL BIT(11)
#define FX_NX	   BIT(20)
#define FX_PAGE1GB BIT(26)
#define FX_RDTSCP  BIT(27)
#define FX_LM	   BIT(29)

/* Family 6 (every Intel CPU with VT-x is), model 0x1f, stepping 1: our own numbers. */
#define CPUID_SIGNATURE ((6u << 8) | (0x1u << 16) | (0xfu << 4) | 1u)

/* X(leaf, subleaf, eax, ebx, ecx, edx): leaves in range but absent read as zeros. */
#define CPUID_LEAVES(X)                                                                            \
	X(0x0, CPUID_ANY_SUBLEAF, CPUID_MAX_BASIC, 0x756e6547 /* Genu */, 0x6c65746e /* ntel */,   \
	  0x49656e69 /* ineI */)                                                                   \
	X(0x1, CPUID_ANY_SUBLEAF, CPUID_SIGNATURE, 8u << 8 /* CLFLUSH line: 8 x 8 bytes */,        \
	  F1C_SSE3 | F1C_PCLMUL | F1C_MONITOR | F1C_SSSE3 | F1C_CX16 | F1C_SSE41 | F1C_SSE42 |     \
		  F1C_MOVBE | F1C_POPCNT | F1C_AES | F1C_XSAVE | F1C_RDRAND,                       \
	  F1_FPU | F1_PSE | F1_TSC | F1_MSR | F1_PAE | F1_CX8 | F1_APIC | F1_SEP | F1_PGE |       \
		  F1_CMOV | F1_PAT | F1_CLFSH | F1_MMX | F1_FXSR | F1_SSE | F1_SSE2)                         \
	X(0x5, CPUID_ANY_SUBLEAF, 64 /* smallest monitor line */, 64 /* largest */, 0, 0)          \
	X(0x7, 0, 0 /* max subleaf */,                                                              \
	  F7_FSGSBASE | F7_BMI1 | F7_SMEP | F7_INVPCID | F7_RDSEED | F7_SMAP | F7_CLFLUSHOPT |     \
		  F7_CLWB,                                                                         \
	  F7C_RDPID, F7D_ARCH_CAP)                                                                 \
	/* XSAVE (SDM vol. 1 13.2, cpu/xsave.h): XCR0 may hold x87 and SSE; the area is the legacy  \
	   region and the header (576 bytes) whatever XCR0 enables, standard or compacted; no        \
	   supervisor components (IA32_XSS 0); sub-leaves 2-63 are zeros (no extended components). */ \
	X(0xd, 0, XSAVE_XCR0_SUPPORTED, XSAVE_AREA_SIZE, XSAVE_AREA_SIZE, 0)                       \
	X(0xd, 1, FD1_XSAVEOPT | FD1_XSAVEC | FD1_XGETBV1 | FD1_XSAVES, XSAVE_AREA_SIZE, 0, 0)       \
	X(0x80000000, CPUID_ANY_SUBLEAF, CPUID_MAX_EXT, 0, 0, 0)                                   \
	X(0x80000001, CPUID_ANY_SUBLEAF, 0, 0, FX_LAHF_LM | FX_ABM | FX_PREFETCHW,                 \
	  FX_SYSCALL | FX_NX | FX_PAGE1GB | FX_RDTSCP | FX_LM)                                     \
	X(0x80000008, CPUID_ANY_SUBLEAF, CPU_MAXPHYADDR | (CPU_LINEAR_BITS << 8), 0, 0, 0)

static const struct cpuid_entry {
	u32 leaf, subleaf;
	u32 regs[4];
} cpuid_table[] = {
#define X(l, s, a, b, c, d) { l, s, { a, b, c, d } },
	CPUID_LEAVES(X)
#undef X
};

/* Leaves 0x80000002-0x80000004: the brand string, 16 bytes each, NUL padded. */
static void cpuid_brand(u32 leaf, u32 out[4])
{
	char brand[48] = CPUID_BRAND;

	memcpy(out, brand + (leaf - 0x80000002) * 16, 16);
}

void cpuid_adjust(u32 leaf, u64 cr4, u32 out[4])
{
	if (leaf == 1 && (cr4 & CR4_OSXSAVE))
		out[CPUID_ECX] |= F1C_OSXSAVE;
}

void cpuid_vcpu(u32 leaf, unsigned id, unsigned nr_vcpus, u32 out[4])
{
	if (leaf != 1)
		return;
	out[CPUID_EBX] = (out[CPUID_EBX] & 0x00ffffffu) | id << 24;
	if (nr_vcpus > 1)
		out[CPUID_ECX] &= ~CPUID_1_ECX_MONITOR;
}

void cpuid_lookup(u32 leaf, u32 subleaf, u32 out[4])
{
	memset(out, 0, 4 * sizeof(u32));
	/*
	 * SDM vol. 2A CPUID: "If a value entered for CPUID.EAX is higher than the maximum input
	 * value for basic or extended function for that processor then the data for the highest
	 * basic information leaf is returned."
	 */
	if (leaf < 0x80000000 ? leaf > CPUID_MAX_BASIC : leaf > CPUID_MAX_EXT)
		leaf = CPUID_MAX_BASIC;
	if (leaf >= 0x80000002 && leaf <= 0x80000004) {
		cpuid_brand(leaf, out);
		return;
	}
	for (size_t i = 0; i < ARRAY_SIZE(cpuid_table); i++) {
		const struct cpuid_entry *e = &cpuid_table[i];

		if (e->leaf == leaf && (e->subleaf == CPUID_ANY_SUBLEAF || e->subleaf == subleaf)) {
			memcpy(out, e->regs, sizeof(e->regs));
			return;
		}
	}
}
