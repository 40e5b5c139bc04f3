// SPDX-License-Identifier: MIT
/*
 * smp: the BSP starts the APs as an OS does (SDM vol. 3A 9.4.4, "MP Initialization Example";
 * Linux's wakeup_secondary_cpu_via_init): per AP, INIT assert, INIT level de-assert, then two
 * StartUp IPIs (SDM 11.6.1) whose vector 08H starts the AP in real mode at 0000:8000 ... CS 0800H.
 * The AP runs a trampoline like Linux's trampoline_64.S: real mode (LGDTL, CR0.PE, a 32-bit far
 * jump), protected mode (PAE, CR3, EFER.LME, CR0.PG) and long mode, then C on its own stack.
 * Checked:
 *   - each AP starts once, in the state INIT leaves (SDM 9.1.1 Table 9-1: CR0 60000010H, EDX the
 *     processor signature, CS F000H-based real mode moved to the SIPI's page);
 *   - each AP's initial APIC ID (CPUID.01H:EBX[31:24]) and LAPIC ID register are its own, distinct;
 *   - a fixed IPI to all excluding self (shorthand 11b) reaches every AP halted with IF=1;
 *   - a SIPI to a running AP is ignored (SDM 9.4.4 / 11.6.1: only wait-for-SIPI takes it);
 *   - INIT then SIPI restarts an AP, which comes back through the trampoline;
 *   - NMI IPIs: to a halted AP, to an AP halted with IF = 0, and to self inside the NMI handler
 *     (held until IRET);
 *   - locked read-modify-writes from all vCPUs at once add up (no lost update).
 * Needs --cpus 2 or more (the count comes from fw_cfg's FW_CFG_NB_CPUS); with one vCPU it skips.
 */
#include "smp.h"

#define IPI_VECTOR 0x50
#define ADDS 20000

static volatile u32 alive, ipis, bad_state;
static volatile u32 ap_cpuid_id[SMP_MAX_CPUS], ap_lapic_id[SMP_MAX_CPUS];
static volatile u64 shared_sum;
static volatile u32 go_add, done_add;
static volatile u32 nmis, nmi_depth, nmi_nested, nmi_self_sent, cli_hlt, cli_hlt_woke;

/* NMI handler (vector 2): counts; on the BSP's first one it sends itself another NMI, which
   must wait for this handler's IRET (NMI blocking, SDM 6.7.1). */
static void nmi_handler(struct frame *f)
{
	if (__atomic_add_fetch(&nmi_depth, 1, __ATOMIC_SEQ_CST) > 1)
		nmi_nested = 1;
	__atomic_add_fetch(&nmis, 1, __ATOMIC_SEQ_CST);
	if ((apic_read(APIC_ID) >> 24) == 0 && !nmi_self_sent) {
		nmi_self_sent = 1;
		smp_send_ipi(0, ICR_NMI);
		for (int i = 0; i < 1000; i++)
			asm volatile("pause");
	}
	__atomic_sub_fetch(&nmi_depth, 1, __ATOMIC_SEQ_CST);
}

static void ipi_handler(struct frame *f)
{
	__atomic_add_fetch(&ipis, 1, __ATOMIC_SEQ_CST);
	apic_write(APIC_EOI, 0);
}

/* Linux's check_tsc_warp: under a lock, a TSC read must never be below the last one any vCPU
   read (SDM vol. 3B 18.17: the TSCs of a system's processors run in step). */
static volatile u32 warp_lock;
static volatile u64 last_tsc, warps, max_warp;
static void tsc_warp_loop(void)
{
	for (int i = 0; i < ADDS; i++) {
		for (u32 z = 0; !__atomic_compare_exchange_n(&warp_lock, &z, 1, false,
							     __ATOMIC_ACQUIRE, __ATOMIC_RELAXED);
		     z = 0)
			while (warp_lock)
				asm volatile("pause");
		u64 prev = last_tsc, now;
		{
			u32 lo, hi;
			asm volatile("lfence; rdtsc" : "=a"(lo), "=d"(hi));
			now = (u64)hi << 32 | lo;
		}
		last_tsc = now;
		if (prev > now) {
			warps++;
			if (prev - now > max_warp)
				max_warp = prev - now;
		}
		__atomic_store_n(&warp_lock, 0, __ATOMIC_RELEASE);
	}
}

static void add_many(void)
{
	for (int i = 0; i < ADDS; i++)
		asm volatile("lock addq $1, %0" : "+m"(shared_sum));
}

static void ap_main(u32 id)
{
	if (id < SMP_MAX_CPUS) {
		ap_cpuid_id[id] = id;
		ap_lapic_id[id] = apic_read(APIC_ID) >> 24;
	} else {
		bad_state = 1;
	}
	apic_write(APIC_SVR, 0x1ff);
	__atomic_add_fetch(&alive, 1, __ATOMIC_SEQ_CST);
	for (bool added = false;;) {
		if (go_add && !added) {
			added = true;
			add_many();
			tsc_warp_loop();
			__atomic_add_fetch(&done_add, 1, __ATOMIC_SEQ_CST);
		}
		if (cli_hlt) {
			/* HLT with IF = 0: only an NMI (or INIT, SMI) ends it. */
			cli_hlt = 0;
			asm volatile("cli; hlt");
			cli_hlt_woke = 1;
			continue;
		}
		asm volatile("sti; hlt; cli");
	}
}

int main(void)
{
	unsigned n = smp_nr_cpus();
	u32 sig[4];

	if (n < 2) {
		skip("one vCPU (fw_cfg says %u): run with --cpus 2 or more", n);
		return report();
	}
	if (n > SMP_MAX_CPUS - 1) /* a stack left for the restart below */
		n = SMP_MAX_CPUS - 1;
	printf("%u vCPUs\n", n);
	asm volatile("cpuid" : "=a"(sig[0]), "=b"(sig[1]), "=c"(sig[2]), "=d"(sig[3]) : "a"(1), "c"(0));
	check((sig[1] >> 24) == 0 && (apic_read(APIC_ID) >> 24) == 0, "the BSP's APIC ID is 0");
	/* tollbooth's policy, not the architecture's (QEMU offers it): only reported. */
	printf("CPUID.01H:ECX.MONITOR = %u\n", (unsigned)(sig[2] >> 3) & 1);
	set_handler(IPI_VECTOR, ipi_handler);
	set_handler(2, nmi_handler);
	smp_init(ap_main);

	for (u32 id = 1; id < n; id++)
		smp_start_ap(id);
	bool up = smp_wait_for(&alive, n - 1);
	check(up, "%u APs started (%u came up)", n - 1, alive);
	struct smp_tramp_info t = smp_tramp_info();
	check(t.starts == n - 1, "each AP started once: two SIPIs, one start (%u starts)", t.starts);
	check(t.cr0 == 0x60000010, "an AP starts with CR0 = 60000010H (%#x)", t.cr0);
	check(t.edx == sig[0], "an AP starts with EDX = the processor signature (%#x vs %#x)", t.edx,
	      sig[0]);
	bool ids_ok = !bad_state;
	for (u32 id = 1; id < n; id++)
		ids_ok &= ap_cpuid_id[id] == id && ap_lapic_id[id] == id;
	check(ids_ok, "every AP's CPUID initial APIC ID and LAPIC ID are its own");

	smp_send_ipi(0, ICR_ALL_BUT_SELF | IPI_VECTOR);
	up = smp_wait_for(&ipis, n - 1);
	check(up, "a fixed IPI to all excluding self reaches %u APs (%u)", n - 1,
	      ipis);
	check(ipis == n - 1, "the sender does not take its own all-excluding-self IPI");

	/* A SIPI to a running AP is ignored; the IPI after it shows the AP ran past it. */
	smp_send_ipi(1, ICR_STARTUP | (SMP_TRAMPOLINE >> 12));
	smp_send_ipi(1, IPI_VECTOR);
	smp_wait_for(&ipis, n);
	check(smp_tramp_info().starts == n - 1 && alive == n - 1, "a SIPI to a running AP is ignored");

	/* INIT puts AP 1 back to waiting for SIPI; the SIPI restarts it through the trampoline. */
	smp_start_ap(1);
	up = smp_wait_for(&alive, n);
	t = smp_tramp_info();
	check(up && t.starts == n, "INIT and SIPI restart an AP (%u starts)", t.starts);

	/* NMIs: to a halted AP (IF = 1), to an AP in HLT with IF = 0, and to self from inside the
	   NMI handler, which is held until the handler's IRET. */
	u32 before = nmis;
	smp_send_ipi(1, ICR_NMI);
	up = smp_wait_for(&nmis, before + 1);
	check(up, "an NMI IPI reaches a halted AP (%u NMIs)", nmis - before);
	cli_hlt = 1;
	smp_send_ipi(1, IPI_VECTOR); /* wake it from STI; HLT into the CLI; HLT */
	for (u64 t0 = rdtsc(); cli_hlt && rdtsc() - t0 < SMP_SPINS;)
		asm volatile("pause");
	for (int i = 0; i < 100000; i++) /* let it reach the HLT */
		asm volatile("pause");
	before = nmis;
	smp_send_ipi(1, ICR_NMI);
	up = smp_wait_for(&nmis, before + 1) && smp_wait_for(&cli_hlt_woke, 1);
	check(up, "an NMI ends HLT with IF = 0 (woke %u, %u NMIs)", cli_hlt_woke, nmis - before);
	before = nmis;
	smp_send_ipi(0, ICR_NMI);
	up = smp_wait_for(&nmis, before + 2);
	check(up && !nmi_nested, "an NMI sent from inside the NMI handler waits for its IRET (%u NMIs, "
	      "nested %u)", nmis - before, nmi_nested);

	/* Every vCPU adds at once, with LOCK: no update is lost between vCPUs. */
	shared_sum = 0;
	go_add = 1;
	smp_send_ipi(0, ICR_ALL_BUT_SELF | IPI_VECTOR);
	add_many();
	tsc_warp_loop();
	up = smp_wait_for(&done_add, n - 1);
	check(up, "every AP added (%u of %u)", done_add, n - 1);
	check(shared_sum == (u64)ADDS * n, "locked adds from %u vCPUs add up (%llu, want %llu)", n,
	      (unsigned long long)shared_sum, (unsigned long long)ADDS * n);
	check(warps == 0, "the TSC never runs backwards from one vCPU to another (%llu warps, "
	      "largest %llu cycles)", (unsigned long long)warps, (unsigned long long)max_warp);
	return report();
}
