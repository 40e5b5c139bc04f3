/* SPDX-License-Identifier: MIT */
/*
 * Starting the APs of a 64-bit guest as an OS does (guests/lib/smp.c; link $(G)/lib64/smp.o):
 * per AP, INIT assert, INIT level de-assert, two StartUp IPIs (SDM vol. 3A 9.4.4.1, Linux's
 * wakeup_secondary_cpu_via_init) whose vector starts the AP in real mode at SMP_TRAMPOLINE. The
 * trampoline goes as Linux's trampoline_64.S does: real mode (LGDTL, CR0.PE, a 32-bit far jump),
 * protected mode (PAE, the BSP's CR3, EFER.LME, CR0.PG) and long mode; then the AP loads the
 * BSP's GDT and IDT, takes a stack of its own and calls the function given to smp_init().
 */
#pragma once
#include "apic.h"

#define SMP_MAX_CPUS 16
#define SMP_TRAMPOLINE 0x8000u /* a 4 KiB page below 1 MiB: SIPI vector 08H */
#define SMP_SPINS 5000000000ull /* TSC cycles to wait for an AP before calling it lost */

/* The vCPUs the VMM says there are (fw_cfg's FW_CFG_NB_CPUS; QEMU and tollbooth both have it). */
unsigned smp_nr_cpus(void);
/* Copy the trampoline, enable the BSP's LAPIC, and have every AP started later call
   ap_main(its APIC ID) on its own stack, IF = 0. */
void smp_init(void (*ap_main)(u32 id));
/* An IPI: ICR high = dest << 24, then ICR low; waits until the LAPIC has sent it. */
void smp_send_ipi(u32 dest, u32 icr);
/* INIT, INIT de-assert, SIPI, SIPI to APIC ID `id`. */
void smp_start_ap(u32 id);
/* Wait (PAUSE loop, at most SMP_SPINS TSC cycles) until *v >= want: whether it got there. */
bool smp_wait_for(volatile u32 *v, u32 want);
/* What the trampoline saw on its last start, and how many starts there were. */
struct smp_tramp_info {
	u32 starts, cr0, edx;
};
struct smp_tramp_info smp_tramp_info(void);
