// SPDX-License-Identifier: MIT
/*
 * nested: the guest is a hypervisor (L1). It finds VMX (CPUID.1:ECX.VMX, IA32_FEATURE_CONTROL,
 * the capability MSRs), checks the VMX instructions' VMfail outcomes and error numbers (SDM vol.
 * 3C 32.2-32.4), builds a VMCS for a 64-bit L2 that shares its page tables, GDT and IDT, and runs
 * L2 one scenario at a time: each L2 snippet ends in the exit it is about, and L1 checks the
 * exit reason, qualification, instruction length and information it reads back with VMREAD
 * (SDM 28.2), then either resumes L2 (after emulating the instruction) or moves on.
 *
 * L2 exits that L1's controls do not ask for (a port L1's I/O bitmap leaves open, an MSR its
 * bitmap lets through, MWAIT without MWAIT exiting) must not reach L1: the snippets make one
 * such access first and L1 sees only the exit after it.
 *
 * append=novmx=1: the guest must see no VMX (--vmx nested=off).
 * append=chaos=N,seed=S: N hostile entries (default 300) from seed S.
 * append=bench=N: also time N CPUIDs in L1 and N in L2 (each a reflected exit, L1's VMRESUME).
 */
#include "apic.h"
#include "lib.h"

enum {
#define X(NAME, name, enc) NAME = (enc),
#include "../../src/vmx/vmcs_fields.h"
#undef X
};

/* Controls (SDM vol. 3C 25.6, 25.7, 25.8), exit reasons (appendix C). */
#define PIN_EXTINT BIT(0)
#define PIN_NMI BIT(3)
#define PIN_PREEMPT BIT(6)
#define P_INTR_WIN BIT(2)
#define P_HLT BIT(7)
#define P_INVLPG BIT(9)
#define P_MWAIT BIT(10)
#define P_RDPMC BIT(11)
#define P_RDTSC BIT(12)
#define P_CR3_LOAD BIT(15)
#define P_CR3_STORE BIT(16)
#define P_MOV_DR BIT(23)
#define P_UNCOND_IO BIT(24)
#define P_IO_BITMAPS BIT(25)
#define P_MTF BIT(27)
#define P_MSR_BITMAPS BIT(28)
#define P_PAUSE BIT(30)
#define P_SECONDARY BIT(31)
#define P2_DESC BIT(2)
#define P2_WBINVD BIT(6)
#define P2_RDRAND BIT(11)
#define EXIT_HOST64 BIT(9)
#define EXIT_ACK_INTR BIT(15)
#define EXIT_SAVE_EFER BIT(20)
#define EXIT_LOAD_EFER BIT(21)
#define ENTRY_IA32E BIT(9)
#define ENTRY_LOAD_EFER BIT(15)
#define MSR_FEATURE_CONTROL 0x3a
#define MSR_VMX_BASIC 0x480
#define MSR_VMX_TRUE_PIN 0x48d
#define MSR_VMX_TRUE_PROC 0x48e
#define MSR_VMX_TRUE_EXIT 0x48f
#define MSR_VMX_TRUE_ENTRY 0x490
#define MSR_VMX_PROC2 0x48b
#define MSR_VMX_CR0_FIXED0 0x486
#define MSR_VMX_CR4_FIXED0 0x488
#define CR4_VMXE BIT(13)
#define P2_EPT BIT(1)
#define EPT_RWX 7
#define EPT_WB (6 << 3)
#define EPT_PS BIT(7)
#define FAILED_ENTRY BIT(31)

static u8 vmxon_region[4096] __attribute__((aligned(4096)));
static u8 vmcs_a[4096] __attribute__((aligned(4096)));
static u8 vmcs_b[4096] __attribute__((aligned(4096)));
static u8 io_bitmaps[2][4096] __attribute__((aligned(4096)));
static u8 msr_bitmap[4096] __attribute__((aligned(4096)));
static u8 l2_stack[8192] __attribute__((aligned(16)));
static u32 revision;
/* L1's EPT for L2 (SDM 29.3.2): 1-GiB pages but for the first 2 MiB region holding the test
   pages, which goes through a PD and a PT of 4-KiB pages. */
static u64 ept_pml4[512] __attribute__((aligned(4096)));
static u64 ept_pdpt[512] __attribute__((aligned(4096)));
static u64 ept_pd[512] __attribute__((aligned(4096)));
static u64 ept_pt[512] __attribute__((aligned(4096)));
static u8 ept_pages[4][4096] __attribute__((aligned(4096))); /* read-only, absent, remapped, target */

/* --- VMX instructions: the flags they leave (CF = VMfailInvalid, ZF = VMfailValid) --- */

#define VMX_CF 1
#define VMX_ZF 2
static int vmx_flags(u64 rflags) { return (rflags & RFLAGS_CF ? VMX_CF : 0) | (rflags & RFLAGS_ZF ? VMX_ZF : 0); }

static int vmxon(u64 pa)
{
	u64 f;
	asm volatile("vmxon %1; pushf; pop %0" : "=r"(f) : "m"(pa) : "cc", "memory");
	return vmx_flags(f);
}
static int vmxoff(void)
{
	u64 f;
	asm volatile("vmxoff; pushf; pop %0" : "=r"(f) : : "cc", "memory");
	return vmx_flags(f);
}
static int vmclear(u64 pa)
{
	u64 f;
	asm volatile("vmclear %1; pushf; pop %0" : "=r"(f) : "m"(pa) : "cc", "memory");
	return vmx_flags(f);
}
static int vmptrld(u64 pa)
{
	u64 f;
	asm volatile("vmptrld %1; pushf; pop %0" : "=r"(f) : "m"(pa) : "cc", "memory");
	return vmx_flags(f);
}
static u64 vmptrst(void)
{
	u64 pa = 0;
	asm volatile("vmptrst %0" : "=m"(pa) : : "memory");
	return pa;
}
static int vmread_f(u64 field, u64 *v)
{
	u64 f;
	asm volatile("vmread %2, %1; pushf; pop %0" : "=r"(f), "=r"(*v) : "r"(field) : "cc");
	return vmx_flags(f);
}
static u64 vmread(u64 field)
{
	u64 v = 0;
	vmread_f(field, &v);
	return v;
}
static int vmwrite(u64 field, u64 v)
{
	u64 f;
	asm volatile("vmwrite %2, %1; pushf; pop %0" : "=r"(f) : "r"(field), "rm"(v) : "cc");
	return vmx_flags(f);
}
static int invvpid(u64 type, u16 vpid)
{
	struct { u64 vpid, addr; } d = { vpid, 0 };
	u64 f;
	asm volatile("invvpid %1, %2; pushf; pop %0" : "=r"(f) : "m"(d), "r"(type) : "cc", "memory");
	return vmx_flags(f);
}

/* --- Running L2: run_l2() enters L2 and returns at its first exit (0), or the VMfail flags.
   The exit stub saves L2's registers in l2_regs; run_l2 loads them before the entry. --- */

struct gprs {
	u64 rax, rbx, rcx, rdx, rsi, rdi, rbp, r8, r9, r10, r11, r12, r13, r14, r15;
};
struct gprs l2_regs;
u32 l2_resume;
int run_l2_raw(int resume);
extern char l2_exit_stub[];

#define LOAD_L2                                                                                  \
	"mov l2_regs+8, %rbx\n mov l2_regs+16, %rcx\n mov l2_regs+24, %rdx\n"                    \
	"mov l2_regs+32, %rsi\n mov l2_regs+40, %rdi\n mov l2_regs+48, %rbp\n"                   \
	"mov l2_regs+56, %r8\n mov l2_regs+64, %r9\n mov l2_regs+72, %r10\n"                     \
	"mov l2_regs+80, %r11\n mov l2_regs+88, %r12\n mov l2_regs+96, %r13\n"                   \
	"mov l2_regs+104, %r14\n mov l2_regs+112, %r15\n mov l2_regs, %rax\n"
#define SAVE_L2                                                                                  \
	"mov %rax, l2_regs\n mov %rbx, l2_regs+8\n mov %rcx, l2_regs+16\n mov %rdx, l2_regs+24\n" \
	"mov %rsi, l2_regs+32\n mov %rdi, l2_regs+40\n mov %rbp, l2_regs+48\n"                   \
	"mov %r8, l2_regs+56\n mov %r9, l2_regs+64\n mov %r10, l2_regs+72\n"                     \
	"mov %r11, l2_regs+80\n mov %r12, l2_regs+88\n mov %r13, l2_regs+96\n"                   \
	"mov %r14, l2_regs+104\n mov %r15, l2_regs+112\n"

asm(".text\n"
    ".globl run_l2_raw\n"
    "run_l2_raw:\n"
    "push %rbx\n push %rbp\n push %r12\n push %r13\n push %r14\n push %r15\n"
    "mov %edi, l2_resume\n"
    "mov $0x6c14, %eax\n" /* HOST_RSP */
    "vmwrite %rsp, %rax\n"
    LOAD_L2
    "cmpl $0, l2_resume\n"
    "jne 1f\n"
    "vmlaunch\n"
    "jmp 2f\n"
    "1: vmresume\n"
    "2: pushf\n pop %rax\n and $0x41, %eax\n"
    "pop %r15\n pop %r14\n pop %r13\n pop %r12\n pop %rbp\n pop %rbx\n ret\n"
    ".globl l2_exit_stub\n"
    "l2_exit_stub:\n"
    SAVE_L2
    "xor %eax, %eax\n"
    "pop %r15\n pop %r14\n pop %r13\n pop %r12\n pop %rbp\n pop %rbx\n ret\n");

static int run_l2(int resume)
{
	int f = run_l2_raw(resume);

	return (f & 1 ? VMX_CF : 0) | (f & 0x40 ? VMX_ZF : 0);
}

/* L2's snippets: each ends in the exit it is about, then spins (never reached). */
extern char l2_cpuid[], l2_cpuid_after[], l2_io[], l2_io_open[], l2_msr[], l2_wrmsr[], l2_cr0[],
	l2_cr3[], l2_cr4_vmxe[], l2_hlt[], l2_ud[], l2_pf[], l2_vmxon[], l2_spin[], l2_rdtsc[],
	l2_invlpg[], l2_rdpmc[], l2_movdr[], l2_pause[], l2_mwait[], l2_sgdt[], l2_wbinvd[],
	l2_rdrand[], l2_xsetbv[], l2_invd[], l2_mtf[], l2_cpuid_loop[], l2_ept_write[],
	l2_ept_read[], l2_cr8[], l2_clts[], l2_lmsw[], l2_star[], l2_spin_call[],
	l2_rdtsc_call[], l2_self_nmi[], l2_outs_unmapped[];
asm(".text\n"
    "l2_cpuid: mov $0x12345, %eax\n cpuid\n"
    "l2_cpuid_after: mov %rax, %rbx\n vmcall\n 9: jmp 9b\n"
    "l2_io: inb $0x80, %al\n outb %al, $0x81\n 9: jmp 9b\n"
    "l2_io_open: inb $0x71, %al\n inw $0x82, %ax\n 9: jmp 9b\n"
    "l2_msr: mov $0x174, %ecx\n rdmsr\n mov $0x3a, %ecx\n rdmsr\n 9: jmp 9b\n"
    "l2_wrmsr: mov $0x175, %ecx\n xor %eax, %eax\n xor %edx, %edx\n wrmsr\n 9: jmp 9b\n"
    "l2_cr0: mov %cr0, %rax\n or $8, %rax\n mov %rax, %cr0\n 9: jmp 9b\n"
    "l2_cr3: mov %cr3, %rax\n mov %rax, %cr3\n cpuid\n 9: jmp 9b\n"
    "l2_cr4_vmxe: mov %cr4, %rax\n and $~0x2000, %rax\n mov %rax, %cr4\n 9: jmp 9b\n"
    "l2_hlt: hlt\n 9: jmp 9b\n"
    "l2_ud: ud2\n 9: jmp 9b\n"
    "l2_pf: movabs $0x12300000000, %rax\n mov (%rax), %rbx\n 9: jmp 9b\n"
    "l2_vmxon: vmxon (%rsp)\n 9: jmp 9b\n"
    "l2_spin: 9: jmp 9b\n"
    "l2_outs_unmapped: movabs $0x12300000000, %rsi\n mov $0x80, %edx\n outsb\n 9: jmp 9b\n"
    "l2_spin_call: 1: dec %r12\n jnz 1b\n vmcall\n 9: jmp 9b\n"
    "l2_rdtsc: rdtsc\n 9: jmp 9b\n"
    "l2_invlpg: invlpg (%rsp)\n 9: jmp 9b\n"
    "l2_rdpmc: xor %ecx, %ecx\n rdpmc\n 9: jmp 9b\n"
    "l2_movdr: mov %dr7, %rax\n 9: jmp 9b\n"
    "l2_pause: pause\n 9: jmp 9b\n"
    "l2_mwait: xor %eax, %eax\n xor %ecx, %ecx\n mwait\n cpuid\n 9: jmp 9b\n"
    "l2_sgdt: sgdt -16(%rsp)\n 9: jmp 9b\n"
    "l2_wbinvd: wbinvd\n 9: jmp 9b\n"
    "l2_rdrand: rdrand %eax\n 9: jmp 9b\n"
    "l2_xsetbv: xor %ecx, %ecx\n mov $3, %eax\n xor %edx, %edx\n xsetbv\n 9: jmp 9b\n"
    "l2_invd: invd\n 9: jmp 9b\n"
    "l2_mtf: nop\n nop\n 9: jmp 9b\n"
    "l2_ept_write: movb $1, (%rax)\n 9: jmp 9b\n"
    "l2_ept_read: mov (%rax), %rbx\n vmcall\n 9: jmp 9b\n"
    "l2_cr8: xor %eax, %eax\n mov %rax, %cr8\n mov %cr0, %rbx\n cpuid\n 9: jmp 9b\n"
    "l2_clts: clts\n 9: jmp 9b\n"
    "l2_self_nmi: mov $0xfee00300, %eax\n movl $0, 0x10(%rax)\n movl $0x4400, (%rax)\n 1: pause\n jmp 1b\n"
    "l2_rdtsc_call: rdtsc\n vmcall\n 9: jmp 9b\n"
    "l2_lmsw: mov %cr0, %rax\n or $8, %eax\n lmsw %ax\n 9: jmp 9b\n"
    "l2_star: mov $0xc0000081, %ecx\n rdmsr\n shl $32, %rdx\n or %rax, %rdx\n"
    "    mov %rdx, %rbx\n xor %eax, %eax\n mov $0x12345678, %edx\n wrmsr\n vmcall\n 9: jmp 9b\n"
    "l2_cpuid_loop: 1: mov $0, %eax\n cpuid\n dec %r12\n jnz 1b\n vmcall\n 9: jmp 9b\n");

/* --- The VMCS --- */

static u64 adjust(u32 msr, u64 want)
{
	u64 cap = rdmsr(msr);
	return (want | (u32)cap) & (cap >> 32);
}

static u32 seg_ar(u16 sel)
{
	u64 d = gdt[sel / 8];
	/* type accessed; G set, as the 4-GiB limit given with it needs (27.3.1.2) */
	return (u32)((d >> 40) & 0xff) | 1 | (u32)((d >> 52) & 0xf) << 12 | BIT(15);
}

static void vmcs_setup(void)
{
	struct { u16 limit; u64 base; } __attribute__((packed)) g, i;
	u16 sels[6] = { SEL_KDATA, SEL_KCODE, SEL_KDATA, SEL_KDATA, SEL_KDATA, SEL_KDATA };
	asm volatile("sgdt %0; sidt %1" : "=m"(g), "=m"(i));

	vmwrite(PIN_BASED_VM_EXEC_CONTROL, adjust(MSR_VMX_TRUE_PIN, 0));
	vmwrite(CPU_BASED_VM_EXEC_CONTROL, adjust(MSR_VMX_TRUE_PROC, P_HLT | P_SECONDARY));
	vmwrite(SECONDARY_VM_EXEC_CONTROL, adjust(MSR_VMX_PROC2, 0));
	vmwrite(VM_EXIT_CONTROLS, adjust(MSR_VMX_TRUE_EXIT, EXIT_HOST64 | EXIT_SAVE_EFER | EXIT_LOAD_EFER));
	vmwrite(VM_ENTRY_CONTROLS, adjust(MSR_VMX_TRUE_ENTRY, ENTRY_IA32E | ENTRY_LOAD_EFER));
	vmwrite(EXCEPTION_BITMAP, 0xffffffff);
	vmwrite(VMCS_LINK_POINTER, ~0ull);
	vmwrite(IO_BITMAP_A, (u64)io_bitmaps[0]);
	vmwrite(IO_BITMAP_B, (u64)io_bitmaps[1]);
	vmwrite(MSR_BITMAP, (u64)msr_bitmap);
	/* Host state: L1 itself, returning to the exit stub. */
	vmwrite(HOST_CR0, read_cr0());
	vmwrite(HOST_CR3, read_cr3());
	vmwrite(HOST_CR4, read_cr4());
	vmwrite(HOST_IA32_EFER, rdmsr(0xc0000080));
	vmwrite(HOST_CS_SELECTOR, SEL_KCODE);
	vmwrite(HOST_SS_SELECTOR, SEL_KDATA);
	vmwrite(HOST_DS_SELECTOR, SEL_KDATA);
	vmwrite(HOST_ES_SELECTOR, SEL_KDATA);
	vmwrite(HOST_FS_SELECTOR, 0);
	vmwrite(HOST_GS_SELECTOR, 0);
	vmwrite(HOST_TR_SELECTOR, SEL_TSS);
	vmwrite(HOST_TR_BASE, (u64)&tss);
	vmwrite(HOST_GDTR_BASE, g.base);
	vmwrite(HOST_IDTR_BASE, i.base);
	vmwrite(HOST_RIP, (u64)l2_exit_stub);
	/* Guest state: a 64-bit kernel like L1, on its own stack. */
	vmwrite(GUEST_CR0, read_cr0());
	vmwrite(GUEST_CR3, read_cr3());
	vmwrite(GUEST_CR4, read_cr4());
	vmwrite(GUEST_IA32_EFER, rdmsr(0xc0000080));
	for (int s = 0; s < 6; s++) {
		vmwrite(GUEST_ES_SELECTOR + 2 * s, sels[s]);
		vmwrite(GUEST_ES_BASE + 2 * s, 0);
		vmwrite(GUEST_ES_LIMIT + 2 * s, 0xffffffff);
		vmwrite(GUEST_ES_AR_BYTES + 2 * s, seg_ar(sels[s]));
	}
	vmwrite(GUEST_LDTR_AR_BYTES, BIT(16));
	vmwrite(GUEST_TR_SELECTOR, SEL_TSS);
	vmwrite(GUEST_TR_BASE, (u64)&tss);
	vmwrite(GUEST_TR_LIMIT, sizeof(tss) - 1);
	vmwrite(GUEST_TR_AR_BYTES, 0x8b);
	vmwrite(GUEST_GDTR_BASE, g.base);
	vmwrite(GUEST_GDTR_LIMIT, g.limit);
	vmwrite(GUEST_IDTR_BASE, i.base);
	vmwrite(GUEST_IDTR_LIMIT, i.limit);
	vmwrite(GUEST_DR7, 0x400);
	vmwrite(GUEST_RFLAGS, 2);
	vmwrite(GUEST_INTERRUPTIBILITY_INFO, 0);
	vmwrite(GUEST_ACTIVITY_STATE, 0);
}

/* Start L2 at `rip` (fresh stack, zeroed registers, RFLAGS 2) with these controls changed. */
static void l2_at(void *rip)
{
	l2_regs = (struct gprs){ 0 };
	vmwrite(GUEST_RIP, (u64)rip);
	vmwrite(GUEST_RSP, (u64)(l2_stack + sizeof(l2_stack)));
	vmwrite(GUEST_RFLAGS, 2);
}

static void set_proc(u64 on, u64 off)
{
	vmwrite(CPU_BASED_VM_EXEC_CONTROL,
		adjust(MSR_VMX_TRUE_PROC, (vmread(CPU_BASED_VM_EXEC_CONTROL) | on) & ~off));
}

static bool launched;

/* Run L2 from `rip` to its first exit; true when the exit has `reason`. */
static bool expect_exit(const char *what, void *rip, u32 reason)
{
	int f;

	l2_at(rip);
	f = run_l2(launched);
	if (f) {
		check(false, "%s: VM entry failed (flags %d, error %llu)", what, f,
		      (unsigned long long)vmread(VM_INSTRUCTION_ERROR));
		return false;
	}
	launched = true;
	if (vmread(VM_EXIT_REASON) != reason)
		printf("  exit %#llx qualification %#llx at %#llx, L2 started at %p\n",
		       (unsigned long long)vmread(VM_EXIT_REASON),
		       (unsigned long long)vmread(EXIT_QUALIFICATION),
		       (unsigned long long)vmread(GUEST_RIP), rip);
	return check_eq(vmread(VM_EXIT_REASON), reason, what);
}

/* Resume L2 past the instruction that exited. */
static int resume_past(void)
{
	vmwrite(GUEST_RIP, vmread(GUEST_RIP) + vmread(VM_EXIT_INSTRUCTION_LEN));
	return run_l2(1);
}

static void test_discovery(void)
{
	u64 fc = rdmsr(MSR_FEATURE_CONTROL), basic = rdmsr(MSR_VMX_BASIC);

	check((fc & 5) == 5, "IA32_FEATURE_CONTROL: locked, VMXON outside SMX (%#llx)",
	      (unsigned long long)fc);
	revision = basic & 0x7fffffff;
	check(((basic >> 32) & 0x1fff) == 4096, "IA32_VMX_BASIC: 4-KiB VMCS region");
	check(rdmsr(MSR_VMX_CR4_FIXED0) & CR4_VMXE, "CR4_FIXED0 has VMXE");
	check((rdmsr(MSR_VMX_CR0_FIXED0) & 0x80000021) == 0x80000021, "CR0_FIXED0: PE, NE, PG");
	check(CATCH(wrmsr(MSR_VMX_BASIC, basic)) == GP_VECTOR, "IA32_VMX_BASIC is read-only (#GP)");
	check(!(rdmsr(MSR_VMX_PROC2) >> 32 & BIT(17)), "no PML offered (not composed for L2)");
}

static void test_vmxon(void)
{
	u64 bad = (u64)vmxon_region + 8;

	check(CATCH(vmxon((u64)vmxon_region)) == UD_VECTOR, "VMXON with CR4.VMXE = 0: #UD");
	check(CATCH(vmxoff()) == UD_VECTOR, "VMXOFF outside VMX operation: #UD");
	write_cr4(read_cr4() | CR4_VMXE);
	check(read_cr4() & CR4_VMXE, "CR4.VMXE set");
	*(u32 *)vmxon_region = revision;
	write_cr0(read_cr0() & ~CR0_NE);
	check(CATCH(vmxon((u64)vmxon_region)) == GP_VECTOR, "VMXON with CR0.NE = 0: #GP (A.7)");
	write_cr0(read_cr0() | CR0_NE);
	*(u32 *)vmxon_region = revision ^ 1;
	check(vmxon((u64)vmxon_region) == VMX_CF, "VMXON, wrong revision: VMfailInvalid");
	*(u32 *)vmxon_region = revision;
	check(vmxon(bad) == VMX_CF, "VMXON, unaligned region: VMfailInvalid");
	check(CATCH(vmread(GUEST_RIP)) == UD_VECTOR, "VMREAD before VMXON: #UD");
	check(vmxon((u64)vmxon_region) == 0, "VMXON: VMsucceed");
	check(vmxon((u64)vmxon_region) == VMX_CF, "VMXON in VMX root, no current VMCS: VMfailInvalid");
	check(CATCH(write_cr4(read_cr4() & ~CR4_VMXE)) == GP_VECTOR,
	      "clearing CR4.VMXE in VMX operation: #GP");
	check(CATCH(write_cr0(read_cr0() & ~CR0_NE)) == GP_VECTOR,
	      "clearing CR0.NE in VMX operation: #GP");
}

static void test_vmcs_instructions(void)
{
	u64 v;

	check(vmptrst() == ~0ull, "VMPTRST without a current VMCS: all ones");
	check(vmread_f(GUEST_RIP, &v) == VMX_CF, "VMREAD without a current VMCS: VMfailInvalid");
	check(vmclear((u64)vmcs_a + 1) == VMX_CF, "VMCLEAR unaligned, no current VMCS: VMfailInvalid");
	*(u32 *)vmcs_a = revision;
	*(u32 *)vmcs_b = revision ^ 2;
	check(vmclear((u64)vmcs_a) == 0, "VMCLEAR: VMsucceed");
	check(vmptrld((u64)vmcs_a) == 0, "VMPTRLD: VMsucceed");
	check_eq(vmptrst(), (u64)vmcs_a, "VMPTRST: the current VMCS");
	check(vmptrld((u64)vmcs_b) == VMX_ZF, "VMPTRLD, wrong revision: VMfailValid");
	check_eq(vmread(VM_INSTRUCTION_ERROR), 11, "error 11: incorrect revision");
	check(vmptrld((u64)vmxon_region) == VMX_ZF, "VMPTRLD of the VMXON region: VMfailValid");
	check_eq(vmread(VM_INSTRUCTION_ERROR), 10, "error 10: VMXON pointer");
	check(vmclear((u64)vmxon_region) == VMX_ZF, "VMCLEAR of the VMXON region: VMfailValid");
	check_eq(vmread(VM_INSTRUCTION_ERROR), 3, "error 3: VMXON pointer");
	check(vmclear((u64)vmcs_a + 8) == VMX_ZF, "VMCLEAR unaligned: VMfailValid");
	check_eq(vmread(VM_INSTRUCTION_ERROR), 2, "error 2: invalid address");
	check(vmxon((u64)vmxon_region) == VMX_ZF, "VMXON in VMX root: VMfailValid");
	check_eq(vmread(VM_INSTRUCTION_ERROR), 15, "error 15: VMXON in VMX root operation");
	check(vmwrite(VM_EXIT_REASON, 1) == VMX_ZF, "VMWRITE of an exit-information field");
	check_eq(vmread(VM_INSTRUCTION_ERROR), 13, "error 13: read-only component");
	check(vmread_f(0x7fff, &v) == VMX_ZF, "VMREAD of no field: VMfailValid");
	check_eq(vmread(VM_INSTRUCTION_ERROR), 12, "error 12: unsupported component");
	check(vmwrite(GUEST_RSP, 0x1234567890ull) == 0, "VMWRITE: VMsucceed");
	check(vmwrite(GUEST_ES_SELECTOR, 0x12345) == 0, "VMWRITE of a 16-bit field");
	check_eq(vmread(GUEST_ES_SELECTOR), 0x2345, "16-bit field keeps 16 bits");
	/* Through the region: VMCLEAR writes it back, VMPTRLD reads it. */
	check(vmclear((u64)vmcs_a) == 0 && vmptrst() == ~0ull, "VMCLEAR of the current VMCS");
	check(vmptrld((u64)vmcs_a) == 0, "VMPTRLD again");
	check_eq(vmread(GUEST_RSP), 0x1234567890ull, "GUEST_RSP survives VMCLEAR/VMPTRLD");
	check(run_l2(1) == VMX_ZF && vmread(VM_INSTRUCTION_ERROR) == 5,
	      "VMRESUME of a clear VMCS: VMfailValid, error 5");
	check(invvpid(4, 1) == VMX_ZF && vmread(VM_INSTRUCTION_ERROR) == 28,
	      "INVVPID type 4: VMfailValid, error 28");
	check(invvpid(2, 0) == 0, "INVVPID all-context: VMsucceed");
}

static void test_entry_checks(void)
{
	u64 pin = vmread(PIN_BASED_VM_EXEC_CONTROL), cr0 = vmread(HOST_CR0), gcr0;

	vmwrite(PIN_BASED_VM_EXEC_CONTROL, 0); /* default1 bits 1, 2, 4 clear */
	l2_at(l2_spin);
	check(run_l2(0) == VMX_ZF && vmread(VM_INSTRUCTION_ERROR) == 7,
	      "VMLAUNCH, reserved control bits: error 7");
	vmwrite(PIN_BASED_VM_EXEC_CONTROL, pin);
	vmwrite(HOST_CR0, cr0 & ~CR0_NE);
	check(run_l2(0) == VMX_ZF && vmread(VM_INSTRUCTION_ERROR) == 8,
	      "VMLAUNCH, host CR0 without NE: error 8");
	vmwrite(HOST_CR0, cr0);
	gcr0 = vmread(GUEST_CR0);
	vmwrite(GUEST_CR0, gcr0 & ~CR0_NE);
	check(run_l2(0) == 0, "VMLAUNCH, guest CR0 without NE: an exit, not a VMfail");
	check_eq(vmread(VM_EXIT_REASON), FAILED_ENTRY | 33, "exit 33 with bit 31: invalid guest state");
	vmwrite(GUEST_CR0, gcr0);
	check(run_l2(1) == VMX_ZF && vmread(VM_INSTRUCTION_ERROR) == 5,
	      "a failed VMLAUNCH leaves the VMCS clear: VMRESUME fails, error 5");
}

static void test_exits(void)
{
	/* CPUID exits unconditionally; L1 answers, resumes, and L2 sees the answer. */
	if (expect_exit("CPUID: exit 10", l2_cpuid, 10)) {
		check_eq(vmread(VM_EXIT_INSTRUCTION_LEN), 2, "CPUID: length 2");
		check_eq(l2_regs.rax, 0x12345, "L2's RAX at the exit");
		check_eq(vmread(GUEST_RIP), (u64)l2_cpuid + 5, "GUEST_RIP at the CPUID");
		l2_regs.rax = 0xabc;
		check(resume_past() == 0 && vmread(VM_EXIT_REASON) == 18, "resumed L2 reaches VMCALL");
		check_eq(l2_regs.rbx, 0xabc, "L2 got L1's CPUID answer");
	}
	/* I/O: unconditional I/O exiting; then bitmaps with port 0x81 and 0x83 intercepted. */
	set_proc(P_UNCOND_IO, P_IO_BITMAPS);
	if (expect_exit("IN, unconditional I/O exiting: exit 30", l2_io, 30))
		check_eq(vmread(EXIT_QUALIFICATION), 0x80ull << 16 | BIT(6) | BIT(3),
			 "qualification: port 0x80, immediate, IN, 1 byte");
	/* The I/O exit comes before OUTS reads its operand (SDM 26.1.1: a #PF is not among the
	   faults that take priority): from an unmapped address it is still exit 30, not a #PF. */
	if (expect_exit("OUTSB from an unmapped address: exit 30 before the memory access",
			l2_outs_unmapped, 30))
		check_eq(vmread(EXIT_QUALIFICATION), 0x80ull << 16 | BIT(4),
			 "qualification: port 0x80, DX, string, OUT, 1 byte");
	set_proc(P_IO_BITMAPS, P_UNCOND_IO);
	io_bitmaps[0][0x81 / 8] |= BIT(0x81 % 8);
	io_bitmaps[0][0x83 / 8] |= BIT(0x83 % 8);
	if (expect_exit("OUT to a port in the I/O bitmap: exit 30", l2_io, 30))
		check_eq(vmread(EXIT_QUALIFICATION), 0x81ull << 16 | BIT(6),
			 "the IN from port 0x80 did not exit; OUT 0x81");
	if (expect_exit("a 2-byte IN reaching a bitmap port: exit 30", l2_io_open, 30))
		check_eq(vmread(EXIT_QUALIFICATION), 0x82ull << 16 | BIT(6) | BIT(3) | 1,
			 "port 0x71 (the RTC's) went to the device; IN 0x82 word exits for 0x83");
	/* MSRs: with bitmaps, 0x174 passes and 0x3a exits; WRMSR 0x175 by the write bitmap. */
	set_proc(P_MSR_BITMAPS, 0);
	msr_bitmap[0x3a / 8] |= BIT(0x3a % 8);
	if (expect_exit("RDMSR in the read bitmap: exit 31", l2_msr, 31))
		check_eq(l2_regs.rcx, 0x3a, "the RDMSR of 0x174 passed; ECX 0x3a");
	msr_bitmap[2048 + 0x175 / 8] |= BIT(0x175 % 8);
	expect_exit("WRMSR in the write bitmap: exit 32", l2_wrmsr, 32);
	set_proc(0, P_MSR_BITMAPS);
	if (expect_exit("RDMSR without bitmaps: exit 31", l2_msr, 31))
		check_eq(l2_regs.rcx, 0x174, "every MSR exits");
	/* CR access. */
	vmwrite(CR0_GUEST_HOST_MASK, CR0_TS);
	vmwrite(CR0_READ_SHADOW, 0);
	if (expect_exit("MOV to CR0 changing an owned bit: exit 28", l2_cr0, 28))
		check_eq(vmread(EXIT_QUALIFICATION), 0, "CR0, MOV to, RAX");
	/* L1 owns CR0.TS, set in L2's CR0 but 0 in its shadow; L2's MOV to CR8 (no CR8 exiting:
	   the VMM answers it, as the TPR of L1's LAPIC) must leave both alone. */
	vmwrite(GUEST_CR0, vmread(GUEST_CR0) | CR0_TS);
	if (expect_exit("MOV to CR8 not L1's: the CPUID after it is", l2_cr8, 10)) {
		check(vmread(GUEST_CR0) & CR0_TS, "L2's CR0.TS (owned by L1) kept");
		check(!(l2_regs.rbx & CR0_TS), "L2 reads L1's shadow of CR0.TS");
	}
	vmwrite(GUEST_CR0, vmread(GUEST_CR0) & ~CR0_TS);
	vmwrite(CR0_GUEST_HOST_MASK, 0);
	set_proc(P_CR3_LOAD, 0);
	if (expect_exit("MOV to CR3 with CR3-load exiting: exit 28", l2_cr3, 28))
		check_eq(vmread(EXIT_QUALIFICATION), 3, "CR3, MOV to, RAX");
	vmwrite(CR3_TARGET_VALUE0, read_cr3());
	vmwrite(CR3_TARGET_COUNT, 1);
	expect_exit("MOV to CR3 of a target value does not exit: the CPUID after it does", l2_cr3, 10);
	vmwrite(CR3_TARGET_COUNT, 0);
	set_proc(0, P_CR3_LOAD);
	if (expect_exit("L2 clearing CR4.VMXE: #GP, exit 0", l2_cr4_vmxe, 0))
		check_eq(vmread(VM_EXIT_INTR_INFO) & 0x80000fff, 0x80000b0d,
			 "interruption information: #GP, hardware exception, error code");
	/* HLT, exceptions, VMX instructions, the preemption timer. */
	expect_exit("HLT: exit 12", l2_hlt, 12);
	if (expect_exit("UD2: exit 0", l2_ud, 0))
		check_eq(vmread(VM_EXIT_INTR_INFO), 0x80000306, "#UD, hardware exception, valid");
	if (expect_exit("#PF: exit 0", l2_pf, 0)) {
		check_eq(vmread(EXIT_QUALIFICATION), 0x12300000000ull, "qualification: the address");
		check_eq(vmread(VM_EXIT_INTR_ERROR_CODE), 0, "error code: read, not present");
	}
	if (expect_exit("VMXON in L2: exit 27", l2_vmxon, 27))
		check_eq(vmread(VM_EXIT_INSTRUCTION_LEN), 5, "length 5 (F3 0F C7 /6 with a SIB byte)");
	vmwrite(PIN_BASED_VM_EXEC_CONTROL,
		adjust(MSR_VMX_TRUE_PIN, vmread(PIN_BASED_VM_EXEC_CONTROL) | PIN_PREEMPT));
	vmwrite(VMX_PREEMPTION_TIMER_VALUE, 50);
	expect_exit("VMX-preemption timer: exit 52", l2_spin, 52);
	vmwrite(PIN_BASED_VM_EXEC_CONTROL, adjust(MSR_VMX_TRUE_PIN, 0));
	/* Instruction exits under their controls. */
	set_proc(P_RDTSC, 0);
	expect_exit("RDTSC exiting: exit 16", l2_rdtsc, 16);
	set_proc(P_INVLPG, P_RDTSC);
	expect_exit("INVLPG exiting: exit 14", l2_invlpg, 14);
	set_proc(P_RDPMC, P_INVLPG);
	expect_exit("RDPMC exiting: exit 15", l2_rdpmc, 15);
	set_proc(P_MOV_DR, P_RDPMC);
	if (expect_exit("MOV-DR exiting: exit 29", l2_movdr, 29))
		check_eq(vmread(EXIT_QUALIFICATION), 7 | BIT(4), "DR7, MOV from DR, RAX");
	set_proc(P_PAUSE, P_MOV_DR);
	expect_exit("PAUSE exiting: exit 40", l2_pause, 40);
	set_proc(0, P_PAUSE | P_MWAIT);
	expect_exit("MWAIT without MWAIT exiting is not L1's: the CPUID after it is", l2_mwait, 10);
	set_proc(P_MWAIT, 0);
	expect_exit("MWAIT exiting: exit 36", l2_mwait, 36);
	set_proc(P_MTF, P_MWAIT);
	if (expect_exit("monitor trap flag: exit 37", l2_mtf, 37))
		check_eq(vmread(GUEST_RIP), (u64)l2_mtf + 1, "after one instruction");
	set_proc(0, P_MTF);
	vmwrite(SECONDARY_VM_EXEC_CONTROL, adjust(MSR_VMX_PROC2, P2_DESC));
	expect_exit("descriptor-table exiting: SGDT, exit 46", l2_sgdt, 46);
	vmwrite(SECONDARY_VM_EXEC_CONTROL, adjust(MSR_VMX_PROC2, P2_WBINVD));
	expect_exit("WBINVD exiting: exit 54", l2_wbinvd, 54);
	vmwrite(SECONDARY_VM_EXEC_CONTROL, adjust(MSR_VMX_PROC2, P2_RDRAND));
	if (has_feature(1, REG_ECX, 30))
		expect_exit("RDRAND exiting: exit 57", l2_rdrand, 57);
	vmwrite(SECONDARY_VM_EXEC_CONTROL, adjust(MSR_VMX_PROC2, 0));
	if (read_cr4() & BIT(18))
		expect_exit("XSETBV: exit 55", l2_xsetbv, 55);
	expect_exit("INVD: exit 13", l2_invd, 13);
	/* CR8 exiting, CLTS and LMSW by the CR0 mask and shadow (26.1.3). */
	set_proc(BIT(19), 0); /* CR8-load exiting */
	if (expect_exit("MOV to CR8 with CR8-load exiting: exit 28", l2_cr8, 28))
		check_eq(vmread(EXIT_QUALIFICATION), 8, "CR8, MOV to, RAX");
	set_proc(0, BIT(19));
	vmwrite(CR0_GUEST_HOST_MASK, CR0_TS);
	vmwrite(CR0_READ_SHADOW, CR0_TS);
	if (expect_exit("CLTS with TS owned and shadowed 1: exit 28", l2_clts, 28))
		check_eq(vmread(EXIT_QUALIFICATION), 2 << 4, "CLTS");
	vmwrite(CR0_READ_SHADOW, 0);
	if (expect_exit("LMSW setting an owned bit: exit 28", l2_lmsw, 28))
		check_eq(vmread(EXIT_QUALIFICATION) & 0x3f, 3 << 4, "LMSW, register operand");
	vmwrite(CR0_GUEST_HOST_MASK, 0);
	/* TSC offsetting composes with L0's (26.6.5): L2's RDTSC is L1's TSC plus L1's offset. */
	{
		u64 t0, tsc2;

		set_proc(BIT(3), 0); /* use TSC offsetting */
		vmwrite(TSC_OFFSET, 1ull << 50);
		t0 = rdtsc();
		if (expect_exit("RDTSC without exiting, then VMCALL", l2_rdtsc_call, 18)) {
			tsc2 = l2_regs.rdx << 32 | (u32)l2_regs.rax;
			check(tsc2 >= t0 + (1ull << 50), "L2's TSC carries L1's offset (%#llx)",
			      (unsigned long long)tsc2);
		}
		vmwrite(TSC_OFFSET, 0);
		set_proc(0, BIT(3));
	}
	/* The MSR lists (24.7.2, 24.8.2): the entry list loads STAR for L2, the exit store list
	   saves L2's, the exit load list gives L1 its own back. */
	{
		static struct { u32 index, rsvd; u64 data; } load[1], store[1], restore[1];
		u64 star = rdmsr(MSR_STAR);

		load[0] = (typeof(load[0])){ MSR_STAR, 0, 0xabcd0000ull << 32 };
		store[0] = (typeof(store[0])){ MSR_STAR, 0, 0 };
		restore[0] = (typeof(restore[0])){ MSR_STAR, 0, star };
		vmwrite(VM_ENTRY_MSR_LOAD_ADDR, (u64)load);
		vmwrite(VM_ENTRY_MSR_LOAD_COUNT, 1);
		vmwrite(VM_EXIT_MSR_STORE_ADDR, (u64)store);
		vmwrite(VM_EXIT_MSR_STORE_COUNT, 1);
		vmwrite(VM_EXIT_MSR_LOAD_ADDR, (u64)restore);
		vmwrite(VM_EXIT_MSR_LOAD_COUNT, 1);
		set_proc(P_MSR_BITMAPS, 0); /* STAR's bits are clear: L2 reaches it */
		if (expect_exit("MSR lists: L2 reads and writes STAR, then VMCALL", l2_star, 18)) {
			check_eq(l2_regs.rbx, 0xabcd0000ull << 32, "L2 saw the entry list's STAR");
			check_eq(store[0].data, 0x12345678ull << 32, "the exit store list has L2's");
			check_eq(rdmsr(MSR_STAR), star, "the exit load list gave L1 its own");
		}
		vmwrite(VM_ENTRY_MSR_LOAD_COUNT, 0);
		vmwrite(VM_EXIT_MSR_STORE_COUNT, 0);
		vmwrite(VM_EXIT_MSR_LOAD_COUNT, 0);
		set_proc(0, P_MSR_BITMAPS);
	}
	/* NMI exiting (26.2): L2 sends the CPU an NMI through L1's LAPIC (an IPI in NMI delivery
	   mode to APIC ID 0, its own); it is an exit to L1, not an event for L2. */
	vmwrite(PIN_BASED_VM_EXEC_CONTROL, adjust(MSR_VMX_TRUE_PIN, PIN_EXTINT | PIN_NMI));
	if (expect_exit("an NMI under L1's NMI exiting: exit 0", l2_self_nmi, 0))
		check_eq(vmread(VM_EXIT_INTR_INFO), 0x80000202, "NMI, vector 2, valid");
	vmwrite(PIN_BASED_VM_EXEC_CONTROL, adjust(MSR_VMX_TRUE_PIN, 0));
	/* The interrupt window opens at once for L2 with IF = 1. */
	set_proc(P_INTR_WIN, 0);
	l2_at(l2_spin);
	vmwrite(GUEST_RFLAGS, 2 | RFLAGS_IF);
	check(run_l2(1) == 0 && vmread(VM_EXIT_REASON) == 7, "interrupt-window exiting: exit 7");
	set_proc(0, P_INTR_WIN);
}

/* External-interrupt exiting with "acknowledge interrupt on exit": L1's LAPIC timer fires while
   L2 spins; the exit carries the vector, which L1 then owns (in service until its EOI). Without
   the acknowledgement the exit carries none and L1 takes the interrupt when it sets IF. */
static volatile int timer_hits;
static void timer_isr(struct frame *f)
{
	timer_hits++;
	apic_write(APIC_EOI, 0);
}

static void test_extint(void)
{
	set_handler(0x41, timer_isr);
	vmwrite(PIN_BASED_VM_EXEC_CONTROL, adjust(MSR_VMX_TRUE_PIN, PIN_EXTINT));
	vmwrite(VM_EXIT_CONTROLS, vmread(VM_EXIT_CONTROLS) | EXIT_ACK_INTR);
	apic_write(APIC_SVR, 0x1ff);
	apic_write(APIC_TIMER_DIV, 0xb);
	apic_write(APIC_LVT_TIMER, 0x41);
	apic_write(APIC_TIMER_INIT, 20000);
	if (expect_exit("L1's timer interrupt while L2 runs: exit 1", l2_spin, 1))
		check_eq(vmread(VM_EXIT_INTR_INFO), 0x80000041, "acknowledged: vector 0x41, valid");
	apic_write(APIC_EOI, 0);
	check(timer_hits == 0, "an acknowledged interrupt is not delivered to L1 again");
	vmwrite(VM_EXIT_CONTROLS, vmread(VM_EXIT_CONTROLS) & ~EXIT_ACK_INTR);
	apic_write(APIC_TIMER_INIT, 20000);
	if (expect_exit("without acknowledgement: exit 1", l2_spin, 1))
		check_eq(vmread(VM_EXIT_INTR_INFO), 0, "no vector in the exit");
	asm volatile("sti; nop; nop; cli");
	check(timer_hits == 1, "L1 takes vector 0x41 once it enables interrupts");
	/* TSC-deadline mode while L2's TSC lags far behind (vmcs12's TSC offset, as a nested KVM
	   gives a new VM): the deadline is L1's, reached when L1's TSC reaches it (SDM 11.5.4.1),
	   whatever TSC L2 reads. L2 spins a while, then VMCALLs: the timer's exit must come first. */
	if (cpuid(1, 0).c & BIT(24)) {
		vmwrite(VM_EXIT_CONTROLS, vmread(VM_EXIT_CONTROLS) | EXIT_ACK_INTR);
		/* L1's TSC 2^40 ahead (minutes of cycles): L2's spin ends long before a deadline
		   misread against L2's TSC would be reached. */
		wrmsr(0x10, rdtsc() + (1ull << 40)); /* IA32_TSC */
		set_proc(BIT(3), 0); /* use TSC offsetting */
		vmwrite(TSC_OFFSET, 1000 - rdtsc());
		apic_write(APIC_LVT_TIMER, 0x41 | 2 << 17);
		wrmsr(0x6e0, rdtsc() + 100000); /* IA32_TSC_DEADLINE */
		l2_at(l2_spin_call);
		l2_regs.r12 = 1ull << 26;
		if (check(run_l2(1) == 0, "L2 entered") &&
		    check_eq(vmread(VM_EXIT_REASON), 1, "L1's TSC deadline while L2's TSC lags: exit 1"))
			check_eq(vmread(VM_EXIT_INTR_INFO), 0x80000041, "vector 0x41, acknowledged");
		apic_write(APIC_EOI, 0);
		vmwrite(TSC_OFFSET, 0);
		set_proc(0, BIT(3));
		vmwrite(VM_EXIT_CONTROLS, vmread(VM_EXIT_CONTROLS) & ~EXIT_ACK_INTR);
	} else {
		check(false, "CPUID offers the TSC-deadline timer");
	}
	apic_write(APIC_LVT_TIMER, BIT(16));
	vmwrite(PIN_BASED_VM_EXEC_CONTROL, adjust(MSR_VMX_TRUE_PIN, 0));
}

/* --- APIC virtualization for L2 (SDM vol. 3C chapter 30): the TPR shadow, the APIC-access
   page with APIC-register virtualization and virtual-interrupt delivery, virtualize x2APIC
   mode through L1's MSR bitmap, and posted interrupts notified by L1's own LAPIC. --- */
#define PIN_POSTED BIT(7)
#define P_TPR_SHADOW BIT(21)
#define P2_VAPIC BIT(0)
#define P2_VX2APIC BIT(4)
#define P2_REGVIRT BIT(8)
#define P2_VID BIT(9)
#define PI_NV 0xe0
static u8 vapic[4096] __attribute__((aligned(4096)));
static u8 apic_access[4096] __attribute__((aligned(4096)));
static u64 pi_desc[8] __attribute__((aligned(64)));
static volatile int l2_vints, l2_last_vec;
static volatile u64 l2_eoi_page; /* L2's EOI: at this page's 0B0H, or (0) x2APIC MSR 80BH */

extern char l2_cr8_tpr[], l2_cr8_tpr_after[], l2_vapic_read[], l2_vapic_write[],
	l2_vapic_write_after[], l2_self_ipi[], l2_x2apic[], l2_x2apic_svr[];
asm(".text\n"
    "l2_cr8_tpr: mov %cr8, %rbx\n mov $2, %eax\n mov %rax, %cr8\n"
    "l2_cr8_tpr_after: vmcall\n 9: jmp 9b\n"
    "l2_vapic_read: mov 0x80(%rsi), %ebx\n mov 0x20(%rsi), %ecx\n vmcall\n 9: jmp 9b\n"
    "l2_vapic_write: lea apic_access(%rip), %rsi\n movl $0x12345, 0x300(%rsi)\n"
    "l2_vapic_write_after: movl $0, 0x20(%rsi)\n vmcall\n 9: jmp 9b\n"
    "l2_self_ipi: movl $0x40063, 0x300(%rsi)\n nop\n vmcall\n 9: jmp 9b\n"
    "l2_x2apic: mov $0x802, %ecx\n rdmsr\n mov %eax, %ebx\n mov $0x808, %ecx\n mov $0x30, %eax\n"
    "    xor %edx, %edx\n wrmsr\n mov $0x839, %ecx\n rdmsr\n vmcall\n 9: jmp 9b\n"
    "l2_x2apic_svr: mov $0x80f, %ecx\n xor %eax, %eax\n xor %edx, %edx\n wrmsr\n vmcall\n"
    " 9: jmp 9b\n");

/* L2's handler of its virtual interrupts (L2 shares L1's IDT). */
static void l2_vint(struct frame *f)
{
	l2_vints++;
	l2_last_vec = (int)f->vector;
	if (l2_eoi_page)
		*(volatile u32 *)(l2_eoi_page + 0xb0) = 0;
	else
		wrmsr(0x80b, 0);
}

static u32 vreg(unsigned off) { return *(volatile u32 *)(vapic + off); }
static void vreg_set(unsigned off, u32 v) { *(volatile u32 *)(vapic + off) = v; }
/* Bit `vec` of a 256-bit register of the virtual-APIC page (30.1.1) or of L1's LAPIC. */
static bool vbit(unsigned base, unsigned vec)
{
	return vreg(base + vec / 32 * 0x10) >> vec % 32 & 1;
}

static bool apic_bit(unsigned base, unsigned vec)
{
	return apic_read(base + vec / 32 * 0x10) >> vec % 32 & 1;
}

static void test_apicv(void)
{
	u64 p2cap = rdmsr(MSR_VMX_PROC2) >> 32, pincap = rdmsr(MSR_VMX_TRUE_PIN) >> 32;
	u64 proc2 = vmread(SECONDARY_VM_EXEC_CONTROL);
	u8 saved_bitmap[2][32];

	if (!check((rdmsr(MSR_VMX_TRUE_PROC) >> 32 & P_TPR_SHADOW) &&
		   (p2cap & (P2_VAPIC | P2_VX2APIC | P2_REGVIRT | P2_VID)) ==
			   (P2_VAPIC | P2_VX2APIC | P2_REGVIRT | P2_VID) && (pincap & PIN_POSTED),
		   "the TPR shadow, APIC virtualization and posted interrupts offered to L1"))
		return;
	for (int v = 0x60; v <= 0x63; v++)
		set_handler(v, l2_vint);

	/* The TPR shadow alone (29.1.2, 30.1.2): L2's CR8 is VTPR; lowering it below the TPR
	   threshold is a trap-like exit 43; L1's own TPR is untouched. */
	set_proc(P_TPR_SHADOW, 0);
	vmwrite(VIRTUAL_APIC_PAGE_ADDR, (u64)vapic);
	vmwrite(TPR_THRESHOLD, 3);
	vreg_set(0x80, 0x50);
	if (expect_exit("TPR shadow: MOV to CR8 below the threshold: exit 43", l2_cr8_tpr, 43)) {
		check_eq(l2_regs.rbx, 5, "MOV from CR8 read VTPR[7:4]");
		check_eq(vreg(0x80), 0x20, "MOV to CR8 wrote VTPR");
		check_eq(vmread(GUEST_RIP), (u64)l2_cr8_tpr_after, "trap-like: RIP past the MOV");
		check_eq(apic_read(APIC_TPR), 0, "L1's TPR unchanged");
	}
	vmwrite(TPR_THRESHOLD, 0);

	/* The APIC-access page with APIC-register virtualization and virtual-interrupt delivery
	   (30.2-30.4): a pending virtual interrupt is delivered at entry and its EOI virtualized;
	   reads come from the virtual-APIC page; an EOI of a vector in the EOI-exit bitmap is exit
	   45; a write to ICR low is exit 56 after it lands; a write to the ID register is exit 44;
	   a self IPI is virtualized. */
	vmwrite(PIN_BASED_VM_EXEC_CONTROL, adjust(MSR_VMX_TRUE_PIN, PIN_EXTINT));
	vmwrite(SECONDARY_VM_EXEC_CONTROL, proc2 | P2_VAPIC | P2_REGVIRT | P2_VID);
	vmwrite(APIC_ACCESS_ADDR, (u64)apic_access);
	for (int i = 0; i < 4; i++)
		vmwrite(EOI_EXIT_BITMAP0 + 2 * i, 0);
	for (unsigned off = 0; off < 4096; off += 4)
		vreg_set(off, 0);
	vreg_set(0x20, 0x07000000);
	vreg_set(0x80, 0x10);
	vreg_set(0x200 + 0x60 / 32 * 0x10, 1u << (0x60 % 32));
	vmwrite(GUEST_INTR_STATUS, 0x60);
	l2_eoi_page = (u64)apic_access;
	l2_vints = 0;
	l2_at(l2_vapic_read);
	l2_regs.rsi = (u64)apic_access;
	vmwrite(GUEST_RFLAGS, 2 | RFLAGS_IF);
	if (check(run_l2(1) == 0, "L2 entered with a virtual interrupt pending") &&
	    check_eq(vmread(VM_EXIT_REASON), 18, "virtual interrupt taken, then VMCALL: exit 18")) {
		check(l2_vints == 1 && l2_last_vec == 0x60, "L2 took vector 0x60 (got %d, last %#x)",
		      l2_vints, l2_last_vec);
		check(!vbit(0x200, 0x60) && !vbit(0x100, 0x60), "VIRR and VISR clear after its EOI");
		check_eq(vmread(GUEST_INTR_STATUS), 0, "RVI and SVI 0 in vmcs12");
		check_eq(l2_regs.rbx, 0x10, "TPR read from the virtual-APIC page");
		check_eq(l2_regs.rcx, 0x07000000, "ID read from the virtual-APIC page");
	}
	vreg_set(0x200 + 0x61 / 32 * 0x10, 1u << (0x61 % 32));
	vmwrite(GUEST_INTR_STATUS, 0x61);
	vmwrite(EOI_EXIT_BITMAP1, 1ull << (0x61 - 64));
	l2_at(l2_vapic_read);
	l2_regs.rsi = (u64)apic_access;
	vmwrite(GUEST_RFLAGS, 2 | RFLAGS_IF);
	if (check(run_l2(1) == 0, "L2 entered") &&
	    check_eq(vmread(VM_EXIT_REASON), 45, "EOI of a vector in the EOI-exit bitmap: exit 45"))
		check_eq(vmread(EXIT_QUALIFICATION), 0x61, "qualification: the vector");
	vmwrite(EOI_EXIT_BITMAP1, 0);
	if (expect_exit("write to ICR low: APIC-write exit 56", l2_vapic_write, 56)) {
		check_eq(vmread(EXIT_QUALIFICATION), 0x300, "qualification: the offset");
		check_eq(vreg(0x300), 0x12345, "the write landed on the virtual-APIC page");
		check_eq(vmread(GUEST_RIP), (u64)l2_vapic_write_after, "trap-like: RIP past it");
		check(run_l2(1) == 0 && vmread(VM_EXIT_REASON) == 44,
		      "write to the ID register: APIC-access exit 44");
		check_eq(vmread(EXIT_QUALIFICATION), 0x20 | 1 << 12, "offset 0x20, linear write");
	}
	l2_vints = 0;
	l2_at(l2_self_ipi);
	l2_regs.rsi = (u64)apic_access;
	vmwrite(GUEST_RFLAGS, 2 | RFLAGS_IF);
	if (check(run_l2(1) == 0, "L2 entered") &&
	    check_eq(vmread(VM_EXIT_REASON), 18, "self IPI virtualized: no exit before VMCALL"))
		check(l2_vints == 1 && l2_last_vec == 0x63, "L2 took its self IPI 0x63");

	/* Posted interrupts (30.6): L1 posts vector 0x62 and notifies with a self IPI of the
	   notification vector; L2 takes 0x62 with no exit, and L1's LAPIC has the notification
	   neither pending nor in service. Another vector is the external-interrupt exit. */
	vmwrite(PIN_BASED_VM_EXEC_CONTROL, adjust(MSR_VMX_TRUE_PIN, PIN_EXTINT | PIN_POSTED));
	vmwrite(VM_EXIT_CONTROLS, vmread(VM_EXIT_CONTROLS) | EXIT_ACK_INTR);
	vmwrite(POSTED_INTR_NV, PI_NV);
	vmwrite(POSTED_INTR_DESC_ADDR, (u64)pi_desc);
	vmwrite(GUEST_INTR_STATUS, 0);
	pi_desc[0x62 / 64] |= 1ull << (0x62 % 64);
	pi_desc[4] |= 1; /* ON, bit 256 */
	apic_write(APIC_ICR2, 0);
	apic_write(APIC_ICR, ICR_FIXED | 1u << 18 | PI_NV); /* self */
	l2_vints = 0;
	l2_at(l2_spin_call);
	l2_regs.r12 = 1 << 16;
	vmwrite(GUEST_RFLAGS, 2 | RFLAGS_IF);
	if (check(run_l2(1) == 0, "L2 entered") &&
	    check_eq(vmread(VM_EXIT_REASON), 18, "posted interrupt: no exit before VMCALL")) {
		check(l2_vints == 1 && l2_last_vec == 0x62, "L2 took the posted vector 0x62 (%d, %#x)",
		      l2_vints, l2_last_vec);
		check(!pi_desc[0] && !pi_desc[1] && !pi_desc[2] && !pi_desc[3] && !(pi_desc[4] & 1),
		      "PIR and ON cleared");
		check(!apic_bit(0x100, PI_NV) && !apic_bit(0x200, PI_NV),
		      "the notification neither in service nor pending in L1's LAPIC");
	}
	apic_write(APIC_ICR, ICR_FIXED | 1u << 18 | 0x41);
	if (expect_exit("another vector with posted interrupts: exit 1", l2_spin, 1))
		check_eq(vmread(VM_EXIT_INTR_INFO), 0x80000041, "vector 0x41, acknowledged");
	apic_write(APIC_EOI, 0);
	vmwrite(VM_EXIT_CONTROLS, vmread(VM_EXIT_CONTROLS) & ~EXIT_ACK_INTR);
	vmwrite(PIN_BASED_VM_EXEC_CONTROL, adjust(MSR_VMX_TRUE_PIN, PIN_EXTINT));

	/* Virtualize x2APIC mode (30.5) with L1's MSR bitmap letting 800H-8FFH through but for
	   reads of 839H: ID and TPR from the page, TPR written there, 839H L1's exit 31; a write
	   to the SVR is not virtualized and reaches L1's LAPIC, in xAPIC mode: #GP. */
	memcpy(saved_bitmap[0], msr_bitmap + 0x100, 32);
	memcpy(saved_bitmap[1], msr_bitmap + 0x900, 32);
	memset(msr_bitmap + 0x100, 0, 32);
	memset(msr_bitmap + 0x900, 0, 32);
	msr_bitmap[0x839 / 8] |= BIT(0x839 % 8);
	set_proc(P_MSR_BITMAPS, 0);
	vmwrite(SECONDARY_VM_EXEC_CONTROL, proc2 | P2_VX2APIC | P2_REGVIRT | P2_VID);
	vreg_set(0x20, 3);
	if (expect_exit("x2APIC: RDMSR 839H intercepted by L1: exit 31", l2_x2apic, 31)) {
		check_eq(l2_regs.rcx, 0x839, "RCX 839H");
		check_eq(l2_regs.rbx, 3, "RDMSR 802H read the virtual-APIC page");
		check_eq(vreg(0x80), 0x30, "WRMSR 808H wrote VTPR");
	}
	if (expect_exit("x2APIC: WRMSR to the SVR reaches L1's xAPIC-mode LAPIC: #GP", l2_x2apic_svr, 0))
		check_eq(vmread(VM_EXIT_INTR_INFO) & 0xff, 13, "vector 13");
	memcpy(msr_bitmap + 0x100, saved_bitmap[0], 32);
	memcpy(msr_bitmap + 0x900, saved_bitmap[1], 32);
	vmwrite(SECONDARY_VM_EXEC_CONTROL, proc2);
	set_proc(0, P_TPR_SHADOW);
	vmwrite(PIN_BASED_VM_EXEC_CONTROL, adjust(MSR_VMX_TRUE_PIN, 0));
	l2_eoi_page = 0;
}

static int invept(u64 type, u64 eptp)
{
	struct { u64 eptp, rsvd; } d = { eptp, 0 };
	u64 f;
	asm volatile("invept %1, %2; pushf; pop %0" : "=r"(f) : "m"(d), "r"(type) : "cc", "memory");
	return vmx_flags(f);
}

/* L1's EPT composed with L0's (SDM 29.3): L2's guest-physical addresses go through L1's EPT;
   its violations and misconfigurations are L1's exits 48 and 49 with L2's address; what L1 maps
   to its own devices (the LAPIC page) reaches L0's device without an exit to L1. */
static void test_ept(void)
{
	u64 ro = (u64)ept_pages[0], absent = (u64)ept_pages[1], remapped = (u64)ept_pages[2];
	u64 target = (u64)ept_pages[3], pd_i = ro >> 21, eptp;

	if (!(rdmsr(MSR_VMX_PROC2) >> 32 & P2_EPT)) {
		check(false, "EPT offered to the guest hypervisor");
		return;
	}
	for (int i = 0; i < 4; i++)
		ept_pdpt[i] = (u64)i << 30 | EPT_RWX | EPT_WB | EPT_PS;
	ept_pdpt[0] = (u64)ept_pd | EPT_RWX;
	for (int i = 0; i < 512; i++) {
		ept_pd[i] = (u64)i << 21 | EPT_RWX | EPT_WB | EPT_PS;
		ept_pt[i] = ((pd_i << 21) + ((u64)i << 12)) | EPT_RWX | EPT_WB;
	}
	ept_pd[pd_i] = (u64)ept_pt | EPT_RWX;
	ept_pml4[0] = (u64)ept_pdpt | EPT_RWX;
	ept_pt[(ro >> 12) & 511] = ro | 5 | EPT_WB;      /* read and execute */
	ept_pt[(absent >> 12) & 511] = 0;
	ept_pt[(remapped >> 12) & 511] = target | EPT_RWX | EPT_WB;
	*(volatile u64 *)target = 0x5eed5eed;
	*(volatile u64 *)remapped = 1;
	eptp = (u64)ept_pml4 | 6 | 3 << 3;
	vmwrite(EPT_POINTER, eptp);
	vmwrite(SECONDARY_VM_EXEC_CONTROL, adjust(MSR_VMX_PROC2, P2_EPT));
	check(invept(2, 0) == 0 && invept(1, eptp) == 0, "INVEPT global, single-context: VMsucceed");
	check(invept(3, eptp) == VMX_ZF && vmread(VM_INSTRUCTION_ERROR) == 28,
	      "INVEPT type 3: error 28");

	l2_at(l2_ept_read);
	l2_regs.rax = remapped;
	if (run_l2(1) == 0 && check_eq(vmread(VM_EXIT_REASON), 18, "L2 reads through L1's EPT"))
		check_eq(l2_regs.rbx, 0x5eed5eed, "the page L1's EPT maps there, not the identity");
	l2_at(l2_ept_write);
	l2_regs.rax = ro + 8;
	if (run_l2(1) == 0 && check_eq(vmread(VM_EXIT_REASON), 48, "write to a read-only page: exit 48")) {
		check_eq(vmread(GUEST_PHYSICAL_ADDRESS), ro + 8, "guest-physical address: L2's");
		check_eq(vmread(EXIT_QUALIFICATION) & 0x1bf, BIT(1) | (5 << 3) | BIT(7) | BIT(8),
			 "qualification: write; R and X; linear address valid, final translation");
	}
	l2_at(l2_ept_read);
	l2_regs.rax = absent;
	if (run_l2(1) == 0 && check_eq(vmread(VM_EXIT_REASON), 48, "read of an absent page: exit 48"))
		check_eq(vmread(EXIT_QUALIFICATION) & 0x3f, BIT(0), "qualification: read, not present");
	ept_pt[(absent >> 12) & 511] = absent | 2 | EPT_WB; /* write without read */
	invept(2, 0);
	l2_at(l2_ept_read);
	l2_regs.rax = absent;
	if (run_l2(1) == 0)
		check_eq(vmread(VM_EXIT_REASON), 49, "write-only EPT entry: misconfiguration, exit 49");
	ept_pt[(absent >> 12) & 511] = 0;
	l2_at(l2_ept_read);
	l2_regs.rax = APIC_BASE_ADDR + APIC_VER;
	if (run_l2(1) == 0 && check_eq(vmread(VM_EXIT_REASON), 18,
				       "L2's read of L1's LAPIC page does not exit to L1"))
		check_eq(l2_regs.rbx & 0xffffffff, apic_read(APIC_VER), "L0's LAPIC answered it");
	vmwrite(SECONDARY_VM_EXEC_CONTROL, adjust(MSR_VMX_PROC2, 0));
}

/*
 * Hostile L1 (append=chaos=N): N times, one guest-state field or control of vmcs12 gets a random
 * value (or all ones, or zero), then VMLAUNCH/VMRESUME under the preemption timer with every
 * exception intercepted. Any SDM outcome is fine (VMfail, an entry-failure exit, an exit of a
 * strange L2); the VMM must stay up, and L1 with it. The field is restored after each round.
 * The VM-exit MSR lists stay alone: an entry that cannot be stored or loaded is a VMX abort
 * (SDM 28.7), which ends the run. So do CR3, RIP and CS's base: L2 paging structures or code
 * outside RAM end the run as they do for any guest (vmm/exits.c handle_ept_violation).
 */
static u64 chaos_rand = 0x9e3779b97f4a7c15ull;
static u64 next_rand(void)
{
	chaos_rand ^= chaos_rand << 13;
	chaos_rand ^= chaos_rand >> 7;
	chaos_rand ^= chaos_rand << 17;
	return chaos_rand;
}

static void chaos(u64 n)
{
	static const u32 fields[] = {
		GUEST_ES_SELECTOR, GUEST_CS_SELECTOR, GUEST_SS_SELECTOR, GUEST_TR_SELECTOR,
		GUEST_CS_AR_BYTES, GUEST_SS_AR_BYTES, GUEST_TR_AR_BYTES, GUEST_LDTR_AR_BYTES,
		GUEST_CS_LIMIT, GUEST_GDTR_BASE, GUEST_IDTR_BASE, GUEST_IDTR_LIMIT, GUEST_CR0,
		GUEST_CR4, GUEST_IA32_EFER, GUEST_RSP, GUEST_RFLAGS,
		GUEST_DR7, GUEST_INTERRUPTIBILITY_INFO, GUEST_ACTIVITY_STATE,
		GUEST_PENDING_DBG_EXCEPTIONS, VMCS_LINK_POINTER, VM_ENTRY_INTR_INFO_FIELD,
		VM_ENTRY_EXCEPTION_ERROR_CODE, VM_ENTRY_INSTRUCTION_LEN, CPU_BASED_VM_EXEC_CONTROL,
		SECONDARY_VM_EXEC_CONTROL, VM_ENTRY_CONTROLS, EPT_POINTER, CR0_GUEST_HOST_MASK,
		CR0_READ_SHADOW, CR3_TARGET_COUNT, IO_BITMAP_A, MSR_BITMAP, TSC_OFFSET,
		VM_ENTRY_MSR_LOAD_COUNT, VM_ENTRY_MSR_LOAD_ADDR, GUEST_PDPTR0, GUEST_IA32_PAT, PAGE_FAULT_ERROR_CODE_MASK,
	};
	u64 outcomes[3] = { 0 };

	chaos_rand += cmdline_u64("seed", 0) * 0x2545f4914f6cdd1dull;
	vmwrite(PIN_BASED_VM_EXEC_CONTROL, adjust(MSR_VMX_TRUE_PIN, PIN_PREEMPT));
	for (u64 i = 0; i < n; i++) {
		u32 f = fields[next_rand() % ARRAY_SIZE(fields)];
		u64 old = vmread(f), r = next_rand(), v;
		int k = r & 3;

		v = k == 0 ? next_rand() : k == 1 ? ~0ull : k == 2 ? 0 : old ^ BIT(next_rand() & 63);
		l2_at(l2_cpuid);
		vmwrite(f, v);
		vmwrite(VMX_PREEMPTION_TIMER_VALUE, 200);
		int res = run_l2(launched);
		outcomes[res ? 0 : (vmread(VM_EXIT_REASON) & FAILED_ENTRY) ? 1 : 2]++;
		if (!res && !(vmread(VM_EXIT_REASON) & FAILED_ENTRY))
			launched = true;
		vmwrite(f, old);
	}
	vmwrite(PIN_BASED_VM_EXEC_CONTROL, adjust(MSR_VMX_TRUE_PIN, 0));
	printf("chaos: %llu rounds: %llu VMfail, %llu entry failures, %llu exits\n",
	       (unsigned long long)n, (unsigned long long)outcomes[0],
	       (unsigned long long)outcomes[1], (unsigned long long)outcomes[2]);
	check(expect_exit("after the chaos, L2 still runs: CPUID", l2_cpuid, 10),
	      "L1 and the VMM survived %llu hostile entries", (unsigned long long)n);
}

/*
 * The same with APIC virtualization for L2 on (the TPR shadow, the APIC-access page, APIC-register
 * virtualization, virtual-interrupt delivery, posted interrupts): one of its fields or controls
 * at a hostile value per entry (pages outside L1's RAM or unaligned, any RVI/SVI, notification
 * vector or TPR threshold), half the time with L1's notification pending, so that L0's
 * posted-interrupt processing for L2 and the virtual-interrupt delivery meet them. Every vector
 * has a handler that counts it, as L2 shares L1's IDT.
 */
static void chaos_apicv(u64 n)
{
	static const u32 fields[] = {
		VIRTUAL_APIC_PAGE_ADDR, APIC_ACCESS_ADDR, POSTED_INTR_DESC_ADDR, POSTED_INTR_NV,
		GUEST_INTR_STATUS, TPR_THRESHOLD, EOI_EXIT_BITMAP0, EOI_EXIT_BITMAP3,
		SECONDARY_VM_EXEC_CONTROL, PIN_BASED_VM_EXEC_CONTROL, CPU_BASED_VM_EXEC_CONTROL,
		MSR_BITMAP, VM_EXIT_CONTROLS,
	};
	u64 proc2 = vmread(SECONDARY_VM_EXEC_CONTROL), outcomes[3] = { 0 };

	if (!(rdmsr(MSR_VMX_TRUE_PIN) >> 32 & PIN_POSTED))
		return; /* test_apicv said why */
	for (int v = 0x20; v < 256; v++)
		set_handler(v, l2_vint);
	set_proc(P_TPR_SHADOW | P_MSR_BITMAPS, 0);
	vmwrite(PIN_BASED_VM_EXEC_CONTROL,
		adjust(MSR_VMX_TRUE_PIN, PIN_EXTINT | PIN_POSTED | PIN_PREEMPT));
	vmwrite(SECONDARY_VM_EXEC_CONTROL, proc2 | P2_VAPIC | P2_REGVIRT | P2_VID);
	vmwrite(VM_EXIT_CONTROLS, vmread(VM_EXIT_CONTROLS) | EXIT_ACK_INTR);
	vmwrite(VIRTUAL_APIC_PAGE_ADDR, (u64)vapic);
	vmwrite(APIC_ACCESS_ADDR, (u64)apic_access);
	vmwrite(POSTED_INTR_DESC_ADDR, (u64)pi_desc);
	vmwrite(POSTED_INTR_NV, PI_NV);
	vmwrite(TPR_THRESHOLD, 0);
	l2_eoi_page = (u64)apic_access;
	for (u64 i = 0; i < n; i++) {
		u32 f = fields[next_rand() % ARRAY_SIZE(fields)];
		u64 old = vmread(f), r = next_rand(), v;
		int k = r & 3, res;

		v = k == 0 ? next_rand() : k == 1 ? ~0ull : k == 2 ? 0 : old ^ BIT(next_rand() & 63);
		for (unsigned off = 0; off < 4096; off += 4)
			vreg_set(off, 0);
		vreg_set(0x200 + (r >> 8 & 7) * 0x10, (u32)next_rand());
		pi_desc[r >> 12 & 3] = next_rand();
		pi_desc[4] |= 1;
		if (r & 4) {
			apic_write(APIC_ICR2, 0);
			apic_write(APIC_ICR, ICR_FIXED | 1u << 18 | PI_NV);
		}
		l2_at(l2_cpuid);
		vmwrite(GUEST_RFLAGS, 2 | RFLAGS_IF);
		vmwrite(f, v);
		vmwrite(VMX_PREEMPTION_TIMER_VALUE, 200);
		res = run_l2(launched);
		outcomes[res ? 0 : (vmread(VM_EXIT_REASON) & FAILED_ENTRY) ? 1 : 2]++;
		if (!res && !(vmread(VM_EXIT_REASON) & FAILED_ENTRY))
			launched = true;
		vmwrite(f, old);
		/* L1 takes (and ends) whatever reached its LAPIC instead: a notification that found
		   no posted-interrupt processing, an acknowledged vector of the exit. */
		asm volatile("sti; nop; nop; cli");
		for (int j = 0; j < 8 && apic_read(0x100 + 0x70) & 1; j++)
			apic_write(APIC_EOI, 0);
		if (vmread(VM_EXIT_REASON) == 1)
			apic_write(APIC_EOI, 0);
	}
	vmwrite(VM_EXIT_CONTROLS, vmread(VM_EXIT_CONTROLS) & ~EXIT_ACK_INTR);
	vmwrite(SECONDARY_VM_EXEC_CONTROL, proc2);
	set_proc(0, P_TPR_SHADOW | P_MSR_BITMAPS);
	vmwrite(PIN_BASED_VM_EXEC_CONTROL, adjust(MSR_VMX_TRUE_PIN, 0));
	set_handler(0x41, timer_isr);
	l2_eoi_page = 0;
	printf("chaos apicv: %llu rounds: %llu VMfail, %llu entry failures, %llu exits\n",
	       (unsigned long long)n, (unsigned long long)outcomes[0],
	       (unsigned long long)outcomes[1], (unsigned long long)outcomes[2]);
	check(expect_exit("after the APICv chaos, L2 still runs: CPUID", l2_cpuid, 10),
	      "L1 and the VMM survived %llu hostile entries with APIC virtualization",
	      (unsigned long long)n);
}

static void bench(u64 n)
{
	u64 per_ms = apic_tsc_per_ms(), t0 = rdtsc(), t1, t2;
	int f;

	for (u64 i = 0; i < n; i++)
		cpuid(0, 0);
	t1 = rdtsc();
	l2_at(l2_cpuid_loop);
	l2_regs.r12 = n;
	t2 = rdtsc();
	f = run_l2(1);
	while (!f && vmread(VM_EXIT_REASON) == 10) {
		l2_regs.rax = 0;
		f = resume_past();
	}
	t2 = rdtsc() - t2;
	check(!f && vmread(VM_EXIT_REASON) == 18, "bench: L2's loop ends in VMCALL");
	/* TSC ticks per CPUID (with --tsc virtual: the model's cycles) and, by the LAPIC timer's
	   1-GHz clock, ns. */
	printf("bench: CPUID in L1: %llu TSC ticks, %llu ns; in L2 (an exit to L1, its VMREADs, "
	       "VMWRITE and VMRESUME): %llu TSC ticks, %llu ns\n",
	       (unsigned long long)((t1 - t0) / n),
	       (unsigned long long)((t1 - t0) * 1000000 / per_ms / n), (unsigned long long)(t2 / n),
	       (unsigned long long)(t2 * 1000000 / per_ms / n));
}

int main(void)
{
	u64 n = cmdline_u64("bench", 0);

	if (cmdline_u64("novmx", 0)) { /* --vmx nested=off: the guest sees no VMX at all */
		check(!has_feature(1, REG_ECX, 5), "CPUID.1:ECX.VMX clear");
		check(CATCH(write_cr4(read_cr4() | CR4_VMXE)) == GP_VECTOR, "CR4.VMXE reserved: #GP");
		check(CATCH(rdmsr(MSR_VMX_BASIC)) == GP_VECTOR, "IA32_VMX_BASIC: #GP");
		check(CATCH(vmxon((u64)vmxon_region)) == UD_VECTOR, "VMXON: #UD");
		check(!(rdmsr(MSR_FEATURE_CONTROL) & BIT(2)), "IA32_FEATURE_CONTROL: no VMXON");
		return report();
	}
	if (!has_feature(1, REG_ECX, 5)) {
		check(false, "CPUID.1:ECX.VMX: no VMX to test");
		return report();
	}
	test_discovery();
	test_vmxon();
	test_vmcs_instructions();
	vmcs_setup();
	test_entry_checks();
	test_exits();
	test_extint();
	test_apicv();
	test_ept();
	chaos(cmdline_u64("chaos", 300));
	chaos_apicv(cmdline_u64("chaos", 300));
	if (n)
		bench(n);
	check(vmclear((u64)vmcs_a) == 0 && vmxoff() == 0, "VMCLEAR, VMXOFF");
	check(CATCH(vmread(GUEST_RIP)) == UD_VECTOR, "VMREAD after VMXOFF: #UD");
	return report();
}
