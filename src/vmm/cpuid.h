/* SPDX-License-Identifier: MIT */
/*
 * The CPUID policy shared by every backend: the soft CPU's CPUID exits are answered from it, and
 * the kvm backend hands the same table to KVM_SET_CPUID2, so a guest sees one CPU model.
 */
#pragma once
#include "common.h"

enum { CPUID_EAX, CPUID_EBX, CPUID_ECX, CPUID_EDX };
/* CPUID.01H:ECX.MONITOR (SDM vol. 2A CPUID, Table 3-10). */
#define CPUID_1_ECX_MONITOR BIT(3)
#define CPUID_1_ECX_X2APIC  BIT(21)
#define CPUID_1_ECX_TSC_DEADLINE BIT(24)

void cpuid_lookup(u32 leaf, u32 subleaf, u32 out[4]);
/* The bits of a cpuid_lookup() answer that follow the vCPU's state: CPUID.1:ECX.OSXSAVE is
   CR4.OSXSAVE (SDM vol. 2A CPUID). */
void cpuid_adjust(u32 leaf, u64 cr4, u32 out[4]);
/* The bits that differ from vCPU to vCPU, for both backends (the soft one's CPUID exits, kvm's
   KVM_SET_CPUID2): CPUID.01H:EBX[31:24] the initial APIC ID (SDM vol. 2A CPUID); with more than
   one vCPU no MONITOR/MWAIT (vmm/exits.c handle_monitor_mwait: a NOP MWAIT would make an idle
   vCPU spin; KVM offers them only when MWAIT does not exit). */
void cpuid_vcpu(u32 leaf, unsigned id, unsigned nr_vcpus, u32 out[4]);
