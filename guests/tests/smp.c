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
 *   - locked read-modify-writes from all vCPUs at once add up (no lost update).
 * Needs --cpus 2 or more (the count comes from fw_cfg's FW_CFG_NB_CPUS); with one vCPU it skips.
 */
#include "lib.h"

#define APIC 0xfee00000ul
#define APIC_ID 0x20
#define APIC_EOI 0xb0
#define APIC_SVR 0xf0
#define APIC_ICR 0x300
#define APIC_ICR2 0x310
#define ICR_BUSY BIT(12)
#define ICR_INIT (5u << 8)
#define ICR_STARTUP (6u << 8)
#define ICR_ASSERT BIT(14)
#define ICR_LEVEL BIT(15)
#define ICR_ALL_BUT_SELF (3u << 18)
#define IPI_VECTOR 0x50
#define TRAMP 0x8000u
#define MAX_CPUS 16
#define SPINS 5000000000ull /* TSC cycles to wait for an AP before calling it lost */
#define ADDS 20000

static u32 apic_read(u32 reg) { return *(volatile u32 *)(APIC + reg); }
static void apic_write(u32 reg, u32 v) { *(volatile u32 *)(APIC + reg) = v; }

/* The trampoline, copied to TRAMP; its data words are read and written there. */
extern const u8 tramp_start[], tramp_end[], tr_cr3[], tr_starts[], tr_cr0[], tr_edx[];
#define TR(sym) ((volatile u32 *)(TRAMP + (u32)((sym) - tramp_start)))

asm(".pushsection .text.tramp, \"ax\"\n"
    ".globl tramp_start, tramp_end, tr_cr3, tr_starts, tr_cr0, tr_edx\n"
    ".code16\n"
    "tramp_start:\n"
    "	cli\n"
    "	movl %edx, %ebx\n" /* the INIT state's EDX, before anything changes it */
    "	movw %cs, %ax\n"
    "	movw %ax, %ds\n"
    "	movl %cr0, %eax\n"
    "	movl %eax, %ds:(tr_cr0 - tramp_start)\n"
    "	movl %ebx, %ds:(tr_edx - tramp_start)\n"
    "	lock incl %ds:(tr_starts - tramp_start)\n"
    "	lgdtl %ds:(tr_gdtr - tramp_start)\n"
    "	movl %cr0, %eax\n"
    "	orl $1, %eax\n"
    "	movl %eax, %cr0\n"
    "	ljmpl $0x08, $(tr_pm32 - tramp_start + 0x8000)\n"
    ".code32\n"
    "tr_pm32:\n"
    "	movw $0x10, %ax\n"
    "	movw %ax, %ds\n"
    "	movw %ax, %es\n"
    "	movw %ax, %ss\n"
    "	movl %cr4, %eax\n"
    "	orl $0x20, %eax\n" /* PAE */
    "	movl %eax, %cr4\n"
    "	movl (tr_cr3 - tramp_start + 0x8000), %eax\n"
    "	movl %eax, %cr3\n"
    "	movl $0xc0000080, %ecx\n"
    "	rdmsr\n"
    "	orl $0x100, %eax\n" /* EFER.LME */
    "	wrmsr\n"
    "	movl %cr0, %eax\n"
    "	orl $0x80000001, %eax\n"
    "	andl $0x9fffffff, %eax\n" /* caches on: CD and NW off, as Linux's startup does */
    "	movl %eax, %cr0\n"
    "	ljmp $0x18, $(tr_lm64 - tramp_start + 0x8000)\n"
    ".code64\n"
    "tr_lm64:\n"
    "	movabsq $ap_entry64, %rax\n"
    "	jmp *%rax\n"
    "	.balign 8\n"
    "tr_gdt:\n"
    "	.quad 0\n"
    "	.quad 0x00cf9a000000ffff\n" /* 0x08: 32-bit code */
    "	.quad 0x00cf92000000ffff\n" /* 0x10: data */
    "	.quad 0x00af9a000000ffff\n" /* 0x18: 64-bit code */
    "tr_gdtr:\n"
    "	.word 31\n"
    "	.long tr_gdt - tramp_start + 0x8000\n"
    "	.balign 4\n"
    "tr_cr3: .long 0\n"
    "tr_starts: .long 0\n"
    "tr_cr0: .long 0\n"
    "tr_edx: .long 0\n"
    "tramp_end:\n"
    ".popsection\n");

extern u8 ap_stacks[MAX_CPUS][8192];
u8 ap_stacks[MAX_CPUS][8192] __attribute__((aligned(16), used));
static volatile u32 next_stack, alive, ipis, bad_state;
static volatile u32 ap_cpuid_id[MAX_CPUS], ap_lapic_id[MAX_CPUS];
static volatile u64 shared_sum;
static volatile u32 go_add, done_add;
static struct {
	u16 limit;
	u64 base;
} __attribute__((packed)) idtr;
extern const u8 gdt_desc[];

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

void ap_main(void) __attribute__((noreturn, used));
void ap_main(void)
{
	u32 a, b, c, d;

	/* The BSP's GDT and IDT: interrupt gates name its code selector. */
	asm volatile("lgdt gdt_desc\n"
		     "lidt %0\n"
		     "pushq $%c1\n"
		     "leaq 1f(%%rip), %%rax\n"
		     "pushq %%rax\n"
		     "lretq\n"
		     "1: movw $%c2, %%ax\n"
		     "movw %%ax, %%ds\n"
		     "movw %%ax, %%es\n"
		     "movw %%ax, %%ss\n"
		     :
		     : "m"(idtr), "i"(SEL_KCODE), "i"(SEL_KDATA)
		     : "rax", "memory");
	asm volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(1), "c"(0));
	u32 id = b >> 24;
	if (id < MAX_CPUS) {
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
		asm volatile("sti; hlt; cli");
	}
}

/* Each AP comes here from the trampoline, in long mode on the trampoline's GDT. */
void ap_entry64(void) __attribute__((noreturn, used, naked));
void ap_entry64(void)
{
	asm volatile("movl $1, %%eax\n"
		     "lock xaddl %%eax, next_stack\n"
		     "incl %%eax\n"
		     "shlq $13, %%rax\n"
		     "leaq ap_stacks(%%rax), %%rsp\n"
		     "call ap_main\n" ::
			     : "memory");
}

static void icr_wait(void)
{
	for (u64 t0 = rdtsc(); (apic_read(APIC_ICR) & ICR_BUSY) && rdtsc() - t0 < SPINS;)
		asm volatile("pause");
}

static void send_ipi(u32 dest, u32 icr)
{
	apic_write(APIC_ICR2, dest << 24);
	apic_write(APIC_ICR, icr);
	icr_wait();
}

static bool wait_for(volatile u32 *v, u32 want)
{
	for (u64 t0 = rdtsc(); *v < want && rdtsc() - t0 < SPINS;)
		asm volatile("pause");
	return *v >= want;
}

/* INIT assert, INIT de-assert, SIPI, SIPI: the universal start-up algorithm (SDM 9.4.4.1). */
static void start_ap(u32 id)
{
	send_ipi(id, ICR_INIT | ICR_ASSERT | ICR_LEVEL);
	send_ipi(id, ICR_INIT | ICR_LEVEL);
	send_ipi(id, ICR_STARTUP | (TRAMP >> 12));
	send_ipi(id, ICR_STARTUP | (TRAMP >> 12));
}

static unsigned fw_cfg_cpus(void)
{
	outw(0x510, 0x05); /* FW_CFG_NB_CPUS, 16-bit little-endian */
	u16 n = inb(0x511);
	return n | (u16)inb(0x511) << 8;
}

int main(void)
{
	unsigned n = fw_cfg_cpus();
	u32 sig[4];

	if (n < 2) {
		skip("one vCPU (fw_cfg says %u): run with --cpus 2 or more", n);
		return report();
	}
	if (n > MAX_CPUS)
		n = MAX_CPUS;
	printf("%u vCPUs\n", n);
	asm volatile("cpuid" : "=a"(sig[0]), "=b"(sig[1]), "=c"(sig[2]), "=d"(sig[3]) : "a"(1), "c"(0));
	check((sig[1] >> 24) == 0 && (apic_read(APIC_ID) >> 24) == 0, "the BSP's APIC ID is 0");
	/* tollbooth's policy, not the architecture's (QEMU offers it): only reported. */
	printf("CPUID.01H:ECX.MONITOR = %u\n", (unsigned)(sig[2] >> 3) & 1);
	asm volatile("sidt %0" : "=m"(idtr));
	set_handler(IPI_VECTOR, ipi_handler);
	apic_write(APIC_SVR, 0x1ff);
	memcpy((void *)(ulong)TRAMP, tramp_start, tramp_end - tramp_start);
	*TR(tr_cr3) = (u32)read_cr3();

	for (u32 id = 1; id < n; id++)
		start_ap(id);
	bool up = wait_for(&alive, n - 1);
	check(up, "%u APs started (%u came up)", n - 1, alive);
	check(*TR(tr_starts) == n - 1, "each AP started once: two SIPIs, one start (%u starts)",
	      *TR(tr_starts));
	check(*TR(tr_cr0) == 0x60000010, "an AP starts with CR0 = 60000010H (%#x)", *TR(tr_cr0));
	check(*TR(tr_edx) == sig[0], "an AP starts with EDX = the processor signature (%#x vs %#x)",
	      *TR(tr_edx), sig[0]);
	bool ids_ok = !bad_state;
	for (u32 id = 1; id < n; id++)
		ids_ok &= ap_cpuid_id[id] == id && ap_lapic_id[id] == id;
	check(ids_ok, "every AP's CPUID initial APIC ID and LAPIC ID are its own");

	send_ipi(0, ICR_ALL_BUT_SELF | IPI_VECTOR);
	up = wait_for(&ipis, n - 1);
	check(up, "a fixed IPI to all excluding self reaches %u APs (%u)", n - 1,
	      ipis);
	check(ipis == n - 1, "the sender does not take its own all-excluding-self IPI");

	/* A SIPI to a running AP is ignored; the IPI after it shows the AP ran past it. */
	send_ipi(1, ICR_STARTUP | (TRAMP >> 12));
	send_ipi(1, IPI_VECTOR);
	wait_for(&ipis, n);
	check(*TR(tr_starts) == n - 1 && alive == n - 1, "a SIPI to a running AP is ignored");

	/* INIT puts AP 1 back to waiting for SIPI; the SIPI restarts it through the trampoline. */
	start_ap(1);
	up = wait_for(&alive, n);
	check(up && *TR(tr_starts) == n, "INIT and SIPI restart an AP (%u starts)",
	      *TR(tr_starts));

	/* Every vCPU adds at once, with LOCK: no update is lost between vCPUs. */
	shared_sum = 0;
	go_add = 1;
	send_ipi(0, ICR_ALL_BUT_SELF | IPI_VECTOR);
	add_many();
	tsc_warp_loop();
	up = wait_for(&done_add, n - 1);
	check(up, "every AP added (%u of %u)", done_add, n - 1);
	check(shared_sum == (u64)ADDS * n, "locked adds from %u vCPUs add up (%llu, want %llu)", n,
	      (unsigned long long)shared_sum, (unsigned long long)ADDS * n);
	check(warps == 0, "the TSC never runs backwards from one vCPU to another (%llu warps, "
	      "largest %llu cycles)", (unsigned long long)warps, (unsigned long long)max_warp);
	return report();
}
