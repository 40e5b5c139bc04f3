// SPDX-License-Identifier: MIT
/* Starting the APs (smp.h). */
#include "smp.h"

extern const u8 tramp_start[], tramp_end[], tr_cr3[], tr_starts[], tr_cr0[], tr_edx[];
#define TR(sym) ((volatile u32 *)(SMP_TRAMPOLINE + (u32)((sym) - tramp_start)))

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
    "	movabsq $smp_ap_entry64, %rax\n"
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

extern u8 smp_ap_stacks[SMP_MAX_CPUS][8192];
u8 smp_ap_stacks[SMP_MAX_CPUS][8192] __attribute__((aligned(16), used));
static volatile u32 next_stack __attribute__((used));
static void (*ap_fn)(u32 id);
static struct {
	u16 limit;
	u64 base;
} __attribute__((packed)) idtr;

void smp_ap_main(void) __attribute__((noreturn, used));
void smp_ap_main(void)
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
	ap_fn(b >> 24);
	for (;;)
		asm volatile("sti; hlt");
}

/* Each AP comes here from the trampoline, in long mode on the trampoline's GDT. Stacks are
   handed out in start order; an AP past SMP_MAX_CPUS halts. */
void smp_ap_entry64(void) __attribute__((noreturn, used, naked));
void smp_ap_entry64(void)
{
	asm volatile("movl $1, %%eax\n"
		     "lock xaddl %%eax, next_stack\n"
		     "cmpl %0, %%eax\n"
		     "jae 2f\n"
		     "incl %%eax\n"
		     "shlq $13, %%rax\n"
		     "leaq smp_ap_stacks(%%rax), %%rsp\n"
		     "call smp_ap_main\n"
		     "2: cli\n"
		     "hlt\n"
		     "jmp 2b\n" ::"i"(SMP_MAX_CPUS)
		     : "memory");
}

unsigned smp_nr_cpus(void)
{
	outw(0x510, 0x05); /* FW_CFG_NB_CPUS, 16-bit little-endian */
	u16 n = inb(0x511);
	return n | (u16)inb(0x511) << 8;
}

void smp_init(void (*ap_main)(u32 id))
{
	ap_fn = ap_main;
	asm volatile("sidt %0" : "=m"(idtr));
	apic_write(APIC_SVR, 0x1ff);
	memcpy((void *)(ulong)SMP_TRAMPOLINE, tramp_start, tramp_end - tramp_start);
	*TR(tr_cr3) = (u32)read_cr3();
}

void smp_send_ipi(u32 dest, u32 icr)
{
	apic_write(APIC_ICR2, dest << 24);
	apic_write(APIC_ICR, icr);
	for (u64 t0 = rdtsc(); (apic_read(APIC_ICR) & ICR_BUSY) && rdtsc() - t0 < SMP_SPINS;)
		asm volatile("pause");
}

void smp_start_ap(u32 id)
{
	smp_send_ipi(id, ICR_INIT | ICR_ASSERT | ICR_LEVEL);
	smp_send_ipi(id, ICR_INIT | ICR_LEVEL);
	smp_send_ipi(id, ICR_STARTUP | (SMP_TRAMPOLINE >> 12));
	smp_send_ipi(id, ICR_STARTUP | (SMP_TRAMPOLINE >> 12));
}

bool smp_wait_for(volatile u32 *v, u32 want)
{
	for (u64 t0 = rdtsc(); *v < want && rdtsc() - t0 < SMP_SPINS;)
		asm volatile("pause");
	return *v >= want;
}

struct smp_tramp_info smp_tramp_info(void)
{
	return (struct smp_tramp_info){ *TR(tr_starts), *TR(tr_cr0), *TR(tr_edx) };
}
