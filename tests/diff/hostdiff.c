// SPDX-License-Identifier: MIT
/*
 * hostdiff: the differential tester with the CPU that runs tollbooth as the oracle (issue 10;
 * docs/difftest.md). No KVM needed.
 *
 * For each block the generator (guests/diff/gen.c) makes from (seed, index):
 *   1. the soft CPU runs it in this process, in 64-bit mode at CPL 3, at the same linear
 *      addresses as the host, under a GDT, IDT and TSS that mirror what Linux gives a process
 *      (descriptors read with LAR and LSL, CR0 with SMSW, TR with STR), once interpreted and once
 *      with every block compiled (the VMM's --jit eager). A fault is delivered through the IDT to
 *      a ring-0 stub whose CPUID exits to us; the frame on the ring-0 stack gives RIP, RFLAGS, RSP
 *      and the error code;
 *   2. if the block stayed on its rails in soft (soft_on_rails), the host runs it natively at
 *      ring 3 (native.S): code and data pages at fixed addresses, 16 GPRs and RFLAGS loaded and
 *      dumped around the block; a fault becomes a signal whose frame gives the x86 vector
 *      (REG_TRAPNO), error code (REG_ERR), CR2 and the registers;
 *   3. the outcomes are compared: vector, RIP, error code and CR2, the GPRs, RFLAGS with the
 *      flags the SDM leaves undefined masked per instruction, DS ES SS CS, the data page; a
 *      mismatch is confirmed by two more native runs (host_settle). The two soft runs are also
 *      compared with each other, undefined flags included.
 *
 *   hostdiff [--seed S] [--seeds K] [--insns N | --blocks M] [--start I] [--jit both|off|eager]
 *            [--without FEATURES] [--reports R]
 *   hostdiff --seed S --block B       run one block and print everything (also when equal)
 *   hostdiff --code HEX [--set REG=VALUE]...   run given bytes the same way
 *   hostdiff --regressions FILE       replay the byte sequences of FILE (replay())
 *   hostdiff --check [--regressions FILE]   the bounded run of `make check`
 */
#define _GNU_SOURCE
#include <Zydis/Zydis.h>
#include <asm/prctl.h>
#include <cpuid.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#include "arch/vmx.h"
#include "cpu/cpu.h"
#include "gen.h"
#include "vmm/cpuid.h"
#include "vmx/exit.h"

/*
 * Linear addresses, the same in this process and in the soft CPU's page tables. Below 2 GiB
 * (the generator's [disp32] and 32-bit loads reach them) and apart, so an access that strays
 * from a page finds nothing. SYS_ADDR holds the soft CPU's GDT, IDT, TSS, handler stubs and
 * ring-0 stack (supervisor pages; nothing in this process).
 */
#define CODE_ADDR 0x10000000ull
#define EXIT_ADDR 0x10002000ull
#define DATA_ADDR 0x10004000ull
#define SYS_ADDR 0x10100000ull
/* GS-relative operands reach the data page; with GS ignored they would reach GUARD, which is
   reserved here (PROT_NONE) and unmapped in soft, so that too is a #PF with P = 0 on both. */
#define GS_BASE 0x0f000000ull
#define GUARD_ADDR (DATA_ADDR - GS_BASE - 0x4000)
#define GUARD_SIZE 0x10000ull
/* Nothing is mapped here (checked at start): the generator's addresses outside the data page. */
#define WILD_BASE (1ull << 40)
#define WILD_MASK ((1ull << 40) - 1)

/* The soft CPU's guest-physical memory. */
#define RAM_SIZE 0x100000ull
#define P_PML4 0x1000
#define P_PDPT 0x2000
#define P_PD 0x3000
#define P_PT 0x4000
#define P_CODE 0x10000
#define P_EXIT 0x11000
#define P_DATA 0x12000
#define P_GDT 0x20000
#define P_IDT 0x21000
#define P_TSS 0x22000
#define P_STUBS 0x23000
#define P_STACK0 0x24000 /* two pages */
#define STUBS_ADDR (SYS_ADDR + 0x3000)
#define STACK0_TOP (SYS_ADDR + 0x6000)
#define SEL_KCODE 0x10 /* Linux's __KERNEL_CS */

#define PTE_P BIT(0)
#define PTE_W BIT(1)
#define PTE_U BIT(2)
#define PTE_NX BIT(63)

/* What a run ended with, on any of the three sides. */
struct outcome {
	struct gen_state st; /* GPRs and RFLAGS at the exit, or as the fault's frame holds them */
	u64 rip;	     /* EXIT_ADDR, or the RIP of the fault frame */
	int vector;	     /* -1: the block ran to its end */
	u64 error, cr2;
	u16 sel[4];	     /* ES CS SS DS */
	char why[128];	     /* what else ended the run: soft, another exit; host, the timeout */
	u8 data[4096];
};

enum side { HOST, INTERP, EAGER, NSIDES };
static const char *const side_name[NSIDES] = { "host", "soft", "soft-eager" };

/* --- The environment --- */

static struct {
	u16 sel[6];	  /* the process's ES CS SS DS FS GS */
	u32 lar[16];	  /* LAR of GDT index i with RPL 3, 0 if it failed */
	u32 lsl[16];
	bool sysread;	  /* SMSW, STR, SLDT run at CPL 3 (no UMIP) */
	u64 cr0;	  /* SMSW's value, or Linux's CR0 if UMIP hides it */
	u16 tr, ldtr, gdt_limit;
	u32 int_ok[8];	  /* INT n that behave as the SDM says here */
	bool amd;
	bool rep67_zext;  /* a faulting REP string instruction with 67h zero-extends rCX rSI rDI */
	bool iret_ac;	  /* an IRET loading AC = 1 from a misaligned frame does not complete */
	u16 sels[16];	  /* the selectors of the GDT entries worth trying */
	unsigned nsels;
	struct gen_config cfg;
} env;

/* --- The host side (native.S) --- */

extern struct gen_state native_in, native_out;
extern u64 native_sel[4], native_sel_out[4], native_sel_host;
extern u64 native_code;
u64 native_run(void);
void native_exit(void);
void native_resume(void);
void native_sigentry(int sig, siginfo_t *si, void *ctx);
void native_on_signal(int sig, siginfo_t *si, void *ctx);

/* Set while a block runs: native.S clears it at the exit, the signal handler at a fault. */
volatile sig_atomic_t native_active;
/* A block that runs this long natively is stopped (SIGALRM) and reported. */
#define NATIVE_TIMEOUT 2
static struct outcome *native_result;

static u16 read_es(void)
{
	u16 v;
	asm volatile("mov %%es, %0" : "=r"(v));
	return v;
}

static u16 read_ds(void)
{
	u16 v;
	asm volatile("mov %%ds, %0" : "=r"(v));
	return v;
}

/*
 * A fault in the block (entered through native_sigentry, which cleared AC): record the frame the
 * kernel saved (Linux fills REG_TRAPNO, REG_ERR and REG_CR2 from the exception, arch/x86/kernel/
 * traps.c and mm/fault.c) and resume at native_resume. Anything else is the harness's own fault:
 * die of it.
 */
void native_on_signal(int sig, siginfo_t *si, void *ctx)
{
	ucontext_t *uc = ctx;
	greg_t *gr = uc->uc_mcontext.gregs;
	struct outcome *o = native_result;
	static const int map[16] = { REG_RAX, REG_RCX, REG_RDX, REG_RBX, REG_RSP, REG_RBP,
				     REG_RSI, REG_RDI, REG_R8,	REG_R9,	 REG_R10, REG_R11,
				     REG_R12, REG_R13, REG_R14, REG_R15 };

	if (!native_active) {
		char msg[160];
		if (sig == SIGALRM)
			return; /* the block ended just before the timer fired */
		int n = snprintf(msg, sizeof(msg), "hostdiff: signal %d (vector %lld, error %#llx) at "
				 "rip %#llx, outside a block: a harness bug\n", sig,
				 (long long)gr[REG_TRAPNO], (unsigned long long)gr[REG_ERR],
				 (unsigned long long)gr[REG_RIP]);
		ssize_t w = write(2, msg, (size_t)n);
		(void)w;
		signal(sig, SIG_DFL);
		raise(sig);
		return;
	}
	if (sig == SIGALRM)
		snprintf(o->why, sizeof(o->why), "still running after %d s", NATIVE_TIMEOUT);
	for (int i = 0; i < 16; i++)
		o->st.r[i] = (u64)gr[map[i]];
	o->st.rflags = (u64)gr[REG_EFL];
	o->rip = (u64)gr[REG_RIP];
	o->vector = (int)gr[REG_TRAPNO];
	o->error = (u64)gr[REG_ERR];
	o->cr2 = (u64)gr[REG_CR2];
	o->sel[0] = read_es();
	o->sel[1] = (u16)gr[REG_CSGSFS];
	o->sel[2] = (u16)((u64)gr[REG_CSGSFS] >> 48);
	o->sel[3] = read_ds();
	gr[REG_RIP] = (greg_t)native_resume;
	gr[REG_EFL] &= ~(greg_t)(X86_TF | X86_AC);
	native_active = 0;
}

static void native_block(const u8 *code, const struct gen_state *in, const u8 *data,
			 struct outcome *o)
{
	memset(o, 0, offsetof(struct outcome, data));
	memcpy((void *)CODE_ADDR, code, 4096);
	memcpy((void *)DATA_ADDR, data, 4096);
	native_in = *in;
	native_sel[0] = env.sel[SEG_ES];
	native_sel[3] = env.sel[SEG_DS];
	native_code = CODE_ADDR;
	native_result = o;
	native_active = 1;
	struct itimerval t = { .it_value = { .tv_sec = NATIVE_TIMEOUT } }, off = { 0 };
	setitimer(ITIMER_REAL, &t, NULL);
	u64 faulted = native_run();
	setitimer(ITIMER_REAL, &off, NULL);
	if (!faulted) {
		o->st = native_out;
		o->rip = EXIT_ADDR;
		o->vector = -1;
		o->sel[0] = (u16)native_sel_out[0];
		o->sel[1] = env.sel[SEG_CS];
		o->sel[2] = (u16)native_sel_out[2];
		o->sel[3] = (u16)native_sel_out[3];
	}
	memcpy(o->data, (void *)DATA_ADDR, 4096);
}

/* --- The soft side --- */

struct soft {
	struct cpu *c;
	u8 *ram;
	unsigned jit; /* cpu_set_jit threshold: 0 interpret, 1 compile every block */
	struct x86_sregs sregs;
	struct vmx_controls ctl;
	/* soft_path(): with the monitor trap flag on, the RIP after each instruction */
	u64 *path;
	unsigned npath;
	/* iret_ac_block(): while stepping, look for an IRET that iret_loads_ac() */
	bool watch, watched;
};

#define PATH_MAX_STEPS 4096

static void w64(u8 *ram, u64 a, u64 v)
{
	memcpy(ram + a, &v, 8);
}

static u64 r64(const u8 *ram, u64 a)
{
	u64 v;
	memcpy(&v, ram + a, 8);
	return v;
}

/* The soft CPU's guest-physical address of a linear address in SYS_ADDR's stack pages. */
static u64 stack0_gpa(u64 lin)
{
	return P_STACK0 + (lin - (SYS_ADDR + 0x4000));
}

/* VMCS access rights (x86.h) from LAR's image of descriptor bits 23:8 (SDM vol. 2A LAR). */
static u32 ar_of_lar(u32 lar)
{
	return ((lar >> 8) & 0xff) | ((lar >> 8) & 0xf000);
}

/* A descriptor with base 0 whose LAR and LSL read as given (SDM vol. 3A 3.4.5). */
static u64 desc_of_lar(u32 lar, u32 lsl)
{
	u32 limit = (lar & BIT(23)) ? lsl >> 12 : lsl;
	return (limit & 0xffff) | (u64)((lar & 0x00f0ff00) | (limit & 0xf0000)) << 32;
}

static void seg_from_env(struct x86_segment *s, unsigned i)
{
	u16 sel = env.sel[i];

	memset(s, 0, sizeof(*s));
	s->sel = sel;
	if (!(sel & ~3)) {
		s->ar = AR_UNUSABLE;
		return;
	}
	s->limit = env.lsl[sel >> 3];
	s->ar = ar_of_lar(env.lar[sel >> 3]);
}

static int soft_init(struct soft *s, unsigned jit)
{
	struct cpu_config cfg = { 0 };
	u8 *ram = calloc(1, RAM_SIZE);
	struct x86_sregs *sr = &s->sregs;

	if (!ram)
		return -ENOMEM;
	cfg.ram = ram;
	cfg.ram_size = RAM_SIZE;
	s->c = cpu_create(&cfg);
	if (!s->c)
		return -ENOMEM;
	s->ram = ram;
	s->jit = jit;
	/*
	 * The preemption timer (below) counts a virtual TSC of 32 cycles per instruction: a block
	 * that loops stops after 65,536 instructions (2^16 << VMX_MISC_PREEMPTION_SHIFT cycles), at
	 * the same instruction interpreted and compiled. On the host's TSC it stopped wherever the
	 * host's scheduler let it, and the two soft runs of a looping block differed at times.
	 */
	cpu_set_tsc_mode(s->c, CPU_TSC_VIRTUAL, 32);

	/* 4-level paging: one page table for 0x10000000-0x101fffff (SDM vol. 3A 4.5). */
	w64(ram, P_PML4, P_PDPT | PTE_P | PTE_W | PTE_U);
	w64(ram, P_PDPT, P_PD | PTE_P | PTE_W | PTE_U);
	w64(ram, P_PD + 8 * (CODE_ADDR >> 21 & 511), P_PT | PTE_P | PTE_W | PTE_U);
	static const struct {
		u64 lin, gpa, flags;
	} pages[] = {
		/* as this process maps them: code RWX, exit stub RX, data RW */
		{ CODE_ADDR, P_CODE, PTE_P | PTE_W | PTE_U },
		{ EXIT_ADDR, P_EXIT, PTE_P | PTE_U },
		{ DATA_ADDR, P_DATA, PTE_P | PTE_W | PTE_U | PTE_NX },
		{ SYS_ADDR, P_GDT, PTE_P | PTE_W | PTE_NX },
		{ SYS_ADDR + 0x1000, P_IDT, PTE_P | PTE_NX },
		{ SYS_ADDR + 0x2000, P_TSS, PTE_P | PTE_W | PTE_NX },
		{ STUBS_ADDR, P_STUBS, PTE_P },
		{ SYS_ADDR + 0x4000, P_STACK0, PTE_P | PTE_W | PTE_NX },
		{ SYS_ADDR + 0x5000, P_STACK0 + 0x1000, PTE_P | PTE_W | PTE_NX },
	};
	for (unsigned i = 0; i < ARRAY_SIZE(pages); i++)
		w64(ram, P_PT + 8 * (pages[i].lin >> 12 & 511), pages[i].gpa | pages[i].flags);

	/*
	 * GDT: Linux's layout (arch/x86/include/asm/segment.h): kernel code 0x10 and data 0x18 for
	 * the handler stubs, the TSS at index 8, and every entry CPL 3 can see (LAR succeeds) copied
	 * from what LAR and LSL say of the host's.
	 */
	w64(ram, P_GDT + 2 * 8, 0x00af9b000000ffffull);
	w64(ram, P_GDT + 3 * 8, 0x00cf93000000ffffull);
	for (unsigned i = 1; i < 16; i++)
		if (env.lar[i])
			w64(ram, P_GDT + 8 * i, desc_of_lar(env.lar[i], env.lsl[i]));
	u64 tss = SYS_ADDR + 0x2000;
	w64(ram, P_GDT + 8 * 8,
	    0x67 | (tss & 0xffffff) << 16 | 0x8bull << 40 | (tss >> 24 & 0xff) << 56);
	w64(ram, P_GDT + 9 * 8, tss >> 32);
	/* TSS: RSP0; the I/O map base beyond the limit, so no port is permitted (SDM 20.5.2). */
	w64(ram, P_TSS + 4, STACK0_TOP);
	ram[P_TSS + 0x66] = 0x68;
	/* IDT: 64-bit interrupt gates to a CPUID stub per vector; DPL 3 for #BP and #OF, as Linux
	   (arch/x86/kernel/idt.c), so INT3 and INT 4 reach them and other INT n are #GP. */
	for (unsigned v = 0; v < 256; v++) {
		u64 off = STUBS_ADDR + 16 * v, dpl = v == 3 || v == 4 ? 3 : 0;
		w64(ram, P_IDT + 16 * v,
		    (off & 0xffff) | (u64)SEL_KCODE << 16 | (0x8e | dpl << 5) << 40 |
			    (off >> 16 & 0xffff) << 48);
		w64(ram, P_IDT + 16 * v + 8, off >> 32);
		ram[P_STUBS + 16 * v] = 0x0f;
		ram[P_STUBS + 16 * v + 1] = 0xa2;
	}
	ram[P_EXIT] = 0x0f; /* CPUID: every CPUID exits (SDM vol. 3C 26.1.2) */
	ram[P_EXIT + 1] = 0xa2;

	memset(sr, 0, sizeof(*sr));
	for (unsigned i = SEG_ES; i <= SEG_GS; i++)
		seg_from_env(&sr->seg[i], i);
	sr->seg[SEG_CS].limit = sr->seg[SEG_SS].limit = 0xffffffff;
	sr->seg[SEG_GS].base = GS_BASE;
	sr->seg[SEG_LDTR].ar = AR_UNUSABLE;
	sr->seg[SEG_TR].sel = env.tr;
	sr->seg[SEG_TR].base = tss;
	sr->seg[SEG_TR].limit = 0x67;
	sr->seg[SEG_TR].ar = 0x8b;
	sr->gdt.base = SYS_ADDR;
	sr->gdt.limit = env.gdt_limit;
	sr->idt.base = SYS_ADDR + 0x1000;
	sr->idt.limit = 0xfff;
	sr->cr0 = env.cr0;
	sr->cr3 = P_PML4;
	sr->cr4 = CR4_PAE;
	sr->efer = EFER_SCE | EFER_LME | EFER_LMA | EFER_NXE;
	/* Only the preemption timer, so a soft CPU that loops forever comes back. */
	memset(&s->ctl, 0, sizeof(s->ctl));
	s->ctl.pin = PIN_PREEMPTION_TIMER;
	return 0;
}

static void soft_fini(struct soft *s)
{
	cpu_destroy(s->c);
	free(s->ram);
}

/* Vectors whose delivery pushes an error code (SDM vol. 3A 6.3.1, Table 6-1). */
static bool vector_has_error(int v)
{
	return v == 8 || (v >= 10 && v <= 14) || v == 17 || v == 21;
}

/* Whether `p` is an IRET (CF after 66h and REX prefixes); its operand size in *size. */
static bool is_iret(const u8 *p, unsigned *size)
{
	*size = 4;
	for (unsigned i = 0; i < 15; i++, p++)
		if (*p == 0x66)
			*size = 2;
		else if ((*p & 0xf0) == 0x40)
			*size = *p & 8 ? 8 : *size;
		else
			return *p == 0xcf;
	return false;
}

/*
 * Whether soft, at `rip` with its state now, is at an IRET that loads RFLAGS.AC = 1 from a frame
 * that is not aligned to its operand size while AC is 0 (env.iret_ac).
 */
static bool iret_loads_ac(struct soft *s, u64 rip)
{
	struct x86_regs r;
	unsigned size;
	u64 rsp, slot, fl = 0;

	if (rip < CODE_ADDR || rip - CODE_ADDR >= 4096 - 16 ||
	    !is_iret(s->ram + P_CODE + (rip - CODE_ADDR), &size))
		return false;
	cpu_get_regs(s->c, &r);
	rsp = r.gpr[R_RSP];
	slot = rsp + 2 * size; /* RFLAGS, after RIP and CS */
	if (!(rsp & (size - 1)) || (r.rflags & X86_AC) || slot < DATA_ADDR ||
	    slot + size > DATA_ADDR + 4096)
		return false;
	memcpy(&fl, s->ram + P_DATA + (slot - DATA_ADDR), size);
	return fl & X86_AC;
}

static void soft_block(struct soft *s, const u8 *code, const struct gen_state *in,
		       const u8 *data, struct outcome *o)
{
	struct cpu *c = s->c;
	struct x86_regs regs;
	struct x86_sregs sr;
	struct cpu_vmx_state vs = { .dr7 = 0x400, .preemption_timer = 1u << 16 };
	struct vm_exit ex;

	memset(o, 0, offsetof(struct outcome, data));
	memcpy(s->ram + P_CODE, code, 4096);
	memcpy(s->ram + P_DATA, data, 4096);
	/* The code page changed behind the CPU: cpu_set_jit() starts from an empty block cache. */
	cpu_set_jit(c, s->jit);
	cpu_set_sregs(c, &s->sregs);
	memcpy(regs.gpr, in->r, sizeof(regs.gpr));
	regs.rip = CODE_ADDR;
	regs.rflags = in->rflags | X86_IF; /* Linux runs CPL 3 with IF = 1 */
	cpu_set_regs(c, &regs);
	cpu_set_vmx_state(c, &vs);
	cpu_set_controls(c, &s->ctl);
	if (s->watch && iret_loads_ac(s, CODE_ADDR))
		s->watched = true;
	cpu_run(c, &ex);
	/* An MTF exit comes after each instruction (SDM vol. 3C 26.5.2), RIP at the next one. */
	while (s->path && ex.reason == EXIT_REASON_MONITOR_TRAP_FLAG &&
	       s->npath < PATH_MAX_STEPS) {
		s->path[s->npath++] = ex.rip;
		if (s->watch && iret_loads_ac(s, ex.rip))
			s->watched = true;
		cpu_run(c, &ex);
	}
	cpu_get_regs(c, &regs);
	cpu_get_sregs(c, &sr);
	memcpy(o->data, s->ram + P_DATA, 4096);
	o->sel[0] = sr.seg[SEG_ES].sel;
	o->sel[1] = sr.seg[SEG_CS].sel;
	o->sel[2] = sr.seg[SEG_SS].sel;
	o->sel[3] = sr.seg[SEG_DS].sel;
	memcpy(o->st.r, regs.gpr, sizeof(o->st.r));
	o->st.rflags = regs.rflags;
	o->rip = ex.rip;
	o->vector = -1;
	if (ex.reason == EXIT_REASON_CPUID && ex.rip == EXIT_ADDR && sr.seg[SEG_CS].sel & 3)
		return;
	u64 stub = ex.rip - STUBS_ADDR;
	if (ex.reason != EXIT_REASON_CPUID || ex.rip < STUBS_ADDR || stub >= 4096 || stub % 16 ||
	    regs.gpr[R_RSP] < SYS_ADDR + 0x4000 || regs.gpr[R_RSP] > STACK0_TOP - 40) {
		snprintf(o->why, sizeof(o->why), "exit reason %u (%s) qual %#llx at rip %#llx",
			 ex.reason, exit_reason_name(ex.reason), (unsigned long long)ex.qual,
			 (unsigned long long)ex.rip);
		return;
	}
	/* Delivered through the IDT: [error,] RIP, CS, RFLAGS, RSP, SS (SDM vol. 3A 6.14.2). */
	o->vector = (int)(stub / 16);
	u64 f = stack0_gpa(regs.gpr[R_RSP]);
	if (vector_has_error(o->vector)) {
		o->error = r64(s->ram, f);
		f += 8;
	}
	o->rip = r64(s->ram, f);
	o->sel[1] = (u16)r64(s->ram, f + 8);
	o->st.rflags = r64(s->ram, f + 16);
	o->st.r[R_RSP] = r64(s->ram, f + 24);
	o->sel[2] = (u16)r64(s->ram, f + 32);
	if (o->vector == X86_PF_VEC)
		o->cr2 = sr.cr2;
}

/* --- Comparing and reporting --- */

static const char *const reg_names[16] = { "rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi",
					   "rdi", "r8",	 "r9",	"r10", "r11", "r12", "r13",
					   "r14", "r15" };
static const char *const sel_names[4] = { "es", "cs", "ss", "ds" };

static const struct {
	int bit;
	const char *name;
} flag_names[] = { { 0, "CF" },	 { 2, "PF" },  { 4, "AF" },  { 6, "ZF" },   { 7, "SF" },
		   { 8, "TF" },	 { 9, "IF" },  { 10, "DF" }, { 11, "OF" },  { 12, "IOPL" },
		   { 14, "NT" }, { 16, "RF" }, { 17, "VM" }, { 18, "AC" },  { 19, "VIF" },
		   { 20, "VIP" }, { 21, "ID" } };

static const char *flag_str(u64 f)
{
	static char buf[4][96];
	static int k;
	char *p = buf[k++ & 3];

	p[0] = 0;
	for (unsigned i = 0; i < ARRAY_SIZE(flag_names); i++)
		if (f >> flag_names[i].bit & (flag_names[i].bit == 12 ? 3 : 1)) {
			if (p[0])
				strcat(p, " ");
			strcat(p, flag_names[i].name);
		}
	if (!p[0])
		strcpy(p, "-");
	return p;
}

/* What the comparison covers and where the first difference is. */
struct verdict {
	bool regs[16], rflags, vector, rip, error, cr2, sel[4], why;
	int data_diffs, first_data;
	u64 undef;
	const char *first;
};

/*
 * The registers (bit i: GPR i) of a REP string instruction with 67h at `rip` in `code`: rCX and
 * rSI and/or rDI; 0 if it is none.
 */
static u16 rep67_string_regs(const u8 *code, u64 rip)
{
	static const u8 prefixes[] = { 0x26, 0x2e, 0x36, 0x3e, 0x64, 0x65, 0xf0 };
	u64 off = rip - CODE_ADDR;
	bool a32 = false, rep = false;

	if (off >= 4096 - 16)
		return 0;
	for (u64 end = off + 15; off < end; off++)
		if (code[off] == 0x67)
			a32 = true;
		else if (code[off] == 0xf2 || code[off] == 0xf3)
			rep = true;
		else if (code[off] != 0x66 && (code[off] & 0xf0) != 0x40 &&
			 !memchr(prefixes, code[off], sizeof(prefixes)))
			break;
	if (!a32 || !rep)
		return 0;
	switch (code[off]) {
	case 0xa4: /* MOVS */
	case 0xa5:
	case 0xa6: /* CMPS */
	case 0xa7:
		return BIT(R_RCX) | BIT(R_RSI) | BIT(R_RDI);
	case 0xaa: /* STOS */
	case 0xab:
	case 0xae: /* SCAS */
	case 0xaf:
		return BIT(R_RCX) | BIT(R_RDI);
	case 0xac: /* LODS */
	case 0xad:
		return BIT(R_RCX) | BIT(R_RSI);
	}
	return 0;
}

/* Whether the instruction at `rip` is a REPE/REPNE CMPS or SCAS. */
static bool rep_compare_at(const u8 *code, u64 rip)
{
	static const u8 prefixes[] = { 0x26, 0x2e, 0x36, 0x3e, 0x64, 0x65, 0x66, 0x67, 0xf0 };
	u64 off = rip - CODE_ADDR;
	bool rep = false;

	if (off >= 4096 - 16)
		return false;
	for (u64 end = off + 15; off < end; off++)
		if (code[off] == 0xf2 || code[off] == 0xf3)
			rep = true;
		else if ((code[off] & 0xf0) != 0x40 && !memchr(prefixes, code[off], sizeof(prefixes)))
			break;
	return rep && (code[off] == 0xa6 || code[off] == 0xa7 || code[off] == 0xae ||
		       code[off] == 0xaf);
}

/*
 * a against b. `exact`: every RFLAGS bit (two soft runs); else the arithmetic flags undefined
 * at a's exit are masked. Error code only for vectors that have one, CR2 only for #PF.
 */
static bool compare(const struct gen *g, const struct outcome *a, const struct outcome *b,
		    bool exact, struct verdict *v)
{
	static char first[160];

	memset(v, 0, sizeof(*v));
	v->undef = exact ? 0 : gen_undef_at(g, a->rip - CODE_ADDR);
	/* host against soft: an odd soft exit differs; two soft runs: it must be the same */
	v->why = exact ? strcmp(a->why, b->why) != 0 : a->why[0] || b->why[0];
	v->vector = a->vector != b->vector;
	v->rip = a->rip != b->rip;
	v->error = vector_has_error(a->vector) && a->error != b->error;
	v->cr2 = a->vector == X86_PF_VEC && a->cr2 != b->cr2;
	/*
	 * The host's RFLAGS at the end come from PUSHF, whose image has RF = 0 (SDM vol. 2B
	 * PUSHF): RF is compared only in exception frames.
	 */
	if (!exact && a->vector < 0)
		v->undef |= X86_RF;
	/*
	 * A REPE/REPNE CMPS or SCAS that faults after some elements: the SDM (vol. 2B REP) and
	 * Intel restore the flags of before the instruction, and so does soft (cpu/ops_string.c
	 * compare); an AMD host keeps the last element's: on AMD they are not compared.
	 */
	if (!exact && env.amd && a->vector >= 0 && g->buf && rep_compare_at(g->buf, a->rip))
		v->undef |= X86_CF | X86_PF | X86_AF | X86_ZF | X86_SF | X86_OF;
	v->rflags = ((a->st.rflags ^ b->st.rflags) & ~v->undef) != 0;
	v->first_data = -1;
	for (int i = 0; i < 4096; i++)
		if (a->data[i] != b->data[i]) {
			if (v->first_data < 0)
				v->first_data = i;
			v->data_diffs++;
		}
	int reg = -1, sel = -1;
	/*
	 * A REP string instruction with 67h that faulted on the host: an Intel CPU writes ECX, ESI
	 * and EDI back, which zero-extends them, even when no element was done; soft leaves the
	 * registers as they were then (env.rep67_zext). The zero-extended value is taken.
	 */
	u16 zext = 0;
	if (!exact && env.rep67_zext && a->vector >= 0 && g->buf)
		zext = rep67_string_regs(g->buf, a->rip);
	for (int i = 0; i < 16; i++)
		if ((v->regs[i] = a->st.r[i] != b->st.r[i] &&
				  !(zext & BIT(i) && a->st.r[i] == (u32)b->st.r[i])) &&
		    reg < 0)
			reg = i;
	/*
	 * A null selector's RPL in DS or ES does not survive this host's kernel (a return to CPL 3
	 * nulls them, SDM vol. 2A IRET "RETURN-TO-OUTER-PRIVILEGE-LEVEL"): null is null.
	 */
	for (int i = 0; i < 4; i++) {
		u16 x = a->sel[i], y = b->sel[i];
		if (!exact && !(x & ~3) && !(y & ~3))
			x = y;
		if ((v->sel[i] = x != y) && sel < 0)
			sel = i;
	}
	/* the first difference, most telling first */
	if (v->why)
		snprintf(first, sizeof(first), "%s", a->why[0] ? a->why : b->why);
	else if (v->vector || v->rip || v->error || v->cr2)
		snprintf(first, sizeof(first), "exit");
	else if (reg >= 0)
		snprintf(first, sizeof(first), "%s", reg_names[reg]);
	else if (v->rflags)
		snprintf(first, sizeof(first), "rflags [%s]",
			 flag_str((a->st.rflags ^ b->st.rflags) & ~v->undef));
	else if (sel >= 0)
		snprintf(first, sizeof(first), "%s", sel_names[sel]);
	else if (v->data_diffs)
		snprintf(first, sizeof(first), "data+%#x", v->first_data);
	else
		first[0] = 0;
	v->first = first;
	return !first[0];
}

static void exit_str(const struct outcome *o, char *buf, size_t n)
{
	if (o->why[0])
		snprintf(buf, n, "%s", o->why);
	else if (o->vector < 0)
		snprintf(buf, n, "end of the block");
	else if (o->vector == X86_PF_VEC)
		snprintf(buf, n, "vector 14 error %#llx rip +%#llx cr2 %#llx",
			 (unsigned long long)o->error, (unsigned long long)(o->rip - CODE_ADDR),
			 (unsigned long long)o->cr2);
	else
		snprintf(buf, n, "vector %d error %#llx rip +%#llx", o->vector,
			 (unsigned long long)o->error, (unsigned long long)(o->rip - CODE_ADDR));
}

/* The bytes of a --code or regression case being run (NULL for generated blocks). */
static const char *code_origin;

/* The block's instructions, the states of a and b with the differences marked. */
static void report(u64 seed, u32 index, const struct gen *g, const u8 *code,
		   const struct gen_state *in, const struct outcome *a, enum side sa,
		   const struct outcome *b, enum side sb, const struct verdict *v, const char *title)
{
	char ea[160], eb[160];

	if (code_origin)
		printf("%s (%s vs %s); reproduce: hostdiff --code %s\n", title, side_name[sa],
		       side_name[sb], code_origin);
	else
		printf("%s seed=%llu block=%u (%s vs %s); reproduce: hostdiff --seed %llu --block "
		       "%u\n", title, (unsigned long long)seed, index, side_name[sa], side_name[sb],
		       (unsigned long long)seed, index);
	printf("  %d instructions (undef = arithmetic flags undefined before it):\n", g->n);
	for (int i = 0; i < g->n; i++) {
		u64 off = g->off[i], len = g->off[i + 1] - off, rip = CODE_ADDR + off;
		ZydisDisassembledInstruction d;
		char hex[64] = "";
		for (u64 k = 0; k < len && k < 15; k++)
			sprintf(hex + 2 * k, "%02x", code[off + k]);
		const char *text = "?";
		if (ZYAN_SUCCESS(ZydisDisassembleATT(ZYDIS_MACHINE_MODE_LONG_64, rip, code + off,
						     len, &d)))
			text = d.text;
		printf("    +%03llx %-30s %-44s undef[%s]%s%s%s%s\n", (unsigned long long)off, hex,
		       text, flag_str(g->undef[i]), a->vector >= 0 && a->rip == rip ? "  <- " : "",
		       a->vector >= 0 && a->rip == rip ? side_name[sa] : "",
		       b->vector >= 0 && b->rip == rip ? "  <- " : "",
		       b->vector >= 0 && b->rip == rip ? side_name[sb] : "");
	}
	printf("  %-8s %16s  %16s  %16s\n", "", "input", side_name[sa], side_name[sb]);
	for (int i = 0; i < 16; i++)
		printf("  %-8s %016llx  %016llx  %016llx%s\n", reg_names[i],
		       (unsigned long long)in->r[i], (unsigned long long)a->st.r[i],
		       (unsigned long long)b->st.r[i], v->regs[i] ? "  <<" : "");
	printf("  %-8s %016llx  %016llx  %016llx%s\n", "rflags", (unsigned long long)in->rflags,
	       (unsigned long long)a->st.rflags, (unsigned long long)b->st.rflags,
	       v->rflags ? "  <<" : "");
	printf("    %s: [%s]  %s: [%s]  masked (undefined): [%s]  differing: [%s]\n",
	       side_name[sa], flag_str(a->st.rflags), side_name[sb], flag_str(b->st.rflags),
	       flag_str(v->undef), flag_str((a->st.rflags ^ b->st.rflags) & ~v->undef));
	exit_str(a, ea, sizeof(ea));
	exit_str(b, eb, sizeof(eb));
	printf("  exit     %s: %s\n           %s: %s%s\n", side_name[sa], ea, side_name[sb], eb,
	       v->vector || v->rip || v->error || v->cr2 || v->why ? "  <<" : "");
	printf("  selectors");
	for (int i = 0; i < 4; i++)
		printf("  %s %#x/%#x%s", sel_names[i], a->sel[i], b->sel[i], v->sel[i] ? " <<" : "");
	printf("\n");
	if (v->data_diffs) {
		int shown = 0;
		printf("  data page (at %#llx): %d bytes differ:", (unsigned long long)DATA_ADDR,
		       v->data_diffs);
		for (int i = 0; i < 4096 && shown < 24; i++)
			if (a->data[i] != b->data[i]) {
				printf(" +%03x %02x/%02x", i, a->data[i], b->data[i]);
				shown++;
			}
		printf("\n");
	}
}

/* --- Running blocks --- */

struct block_run {
	struct gen g;
	u8 code[GEN_CODE_SIZE];
	struct gen_state in;
	u8 data[4096];
	struct outcome o[NSIDES];
};

/* The instruction at `rip` in the block, disassembled, or "" if no instruction starts there. */
static const char *insn_at(const struct block_run *br, u64 rip, char *buf, size_t n)
{
	ZydisDisassembledInstruction d;

	buf[0] = 0;
	for (int i = 0; i < br->g.n; i++)
		if (CODE_ADDR + br->g.off[i] == rip &&
		    ZYAN_SUCCESS(ZydisDisassembleATT(ZYDIS_MACHINE_MODE_LONG_64, rip,
						     br->code + br->g.off[i],
						     br->g.off[i + 1] - br->g.off[i], &d)))
			snprintf(buf, n, " `%.96s`", d.text);
	return buf;
}

/* One line per divergence: what differs first, and how each side ended. */
static void print_brief(u64 seed, u32 index, const struct block_run *br, enum side s,
			const struct verdict *v)
{
	char ea[160], eb[160], ia[128], ib[128];

	exit_str(&br->o[HOST], ea, sizeof(ea));
	exit_str(&br->o[s], eb, sizeof(eb));
	printf("DIVERGENCE seed=%llu block=%u %s: %s; host: %s%s; %s: %s%s\n",
	       (unsigned long long)seed, index, side_name[s], v->first, ea,
	       insn_at(br, br->o[HOST].rip, ia, sizeof(ia)), side_name[s], eb,
	       insn_at(br, br->o[s].rip, ib, sizeof(ib)));
}

static struct {
	struct soft soft[NSIDES]; /* [INTERP], [EAGER] */
	bool run[NSIDES];
	long flip;     /* self-test: flip RAX bit 0 on the soft sides after this block */
	int reports;   /* full reports still to print */
	bool quiet;
	u64 blocks, insns, faults, divergences, skipped, noise;
	u64 by_vector[33]; /* host exits by vector; [32] the end of the block */
} run = { .flip = -1, .reports = 3 };

/*
 * Generate and run block (seed, index) on every side; report what differs. Returns the number
 * of failed comparisons (host against each soft run, and the soft runs against each other).
 */
/*
 * Whether the block stayed on its rails in soft: it ended, or faulted at the start or end of a
 * generated instruction, with RSP on the data page, and a #PF at an address the generator makes;
 * NULL if so, else what it did.
 * A block can leave them: a store may overwrite a return address or a far pointer before it is
 * used. Then its path is arbitrary bytes: natively it could jump into this process's own code or
 * write its memory, so it runs only in soft (counted, and listed as SKIP).
 */
static const char *soft_on_rails(const struct block_run *br, const struct outcome *o)
{
	u64 off = o->rip - CODE_ADDR, rsp = o->st.r[R_RSP], a = o->cr2;
	bool boundary = o->rip == EXIT_ADDR;

	/* soft ended otherwise: looping (the preemption timer), or a bug; natively it could hang */
	if (o->why[0])
		return o->why;
	for (int i = 0; i <= br->g.n && !boundary; i++)
		boundary = off == br->g.off[i];
	if (!boundary)
		return "left the generated instructions";
	if (rsp < DATA_ADDR || rsp > DATA_ADDR + 4096)
		return "moved RSP off the data page";
	if (o->vector == X86_PF_VEC && !(a >= CODE_ADDR - 4096 && a < DATA_ADDR + 2 * 4096) &&
	    !(a >= WILD_BASE - 4096 && a <= WILD_BASE + WILD_MASK + 4096) &&
	    !(a >= GUARD_ADDR && a < GUARD_ADDR + GUARD_SIZE))
		return "page-faulted outside the generator's addresses";
	return NULL;
}

/* Whether the instruction at code offset `off` is a near CALL (E8, FF /2) after its prefixes. */
static bool is_call(const u8 *code, u64 off)
{
	static const u8 prefixes[] = { 0x26, 0x2e, 0x36, 0x3e, 0x64, 0x65, 0x66, 0x67, 0xf2, 0xf3 };

	while (off < 4095 && (memchr(prefixes, code[off], sizeof(prefixes)) ||
			      (code[off] & 0xf0) == 0x40))
		off++;
	return code[off] == 0xe8 || (code[off] == 0xff && (code[off + 1] >> 3 & 7) == 2);
}

/*
 * The rails check of soft_on_rails() sees only where the block stopped. A store into the stack
 * slot of a return address can send RET to another instruction boundary (or into the middle of
 * an instruction, and from there back onto a boundary): the block then reaches instructions by a
 * path the generator did not make, where its undefined-flag masks do not hold (seen: SF after BTC
 * and AF after SHL compared, docs/difftest.md). Before a mismatch is called a divergence, soft
 * runs the block again with the monitor trap flag and checks the path: every instruction in the
 * code page starts where the generator put one, and every near RET lands after a near CALL.
 * NULL if so, else what the block did.
 */
static const char *soft_path(struct soft *s, const struct block_run *br)
{
	static u64 path[PATH_MAX_STEPS];
	static struct outcome scratch;
	const char *why = NULL;
	u64 prev = CODE_ADDR;

	s->path = path;
	s->npath = 0;
	s->ctl.proc |= PROC_MONITOR_TRAP_FLAG;
	soft_block(s, br->code, &br->in, br->data, &scratch);
	s->ctl.proc &= ~PROC_MONITOR_TRAP_FLAG;
	s->path = NULL;
	if (s->npath == PATH_MAX_STEPS)
		return "ran too long to follow";
	for (unsigned i = 0; i < s->npath && !why; prev = path[i++]) {
		u64 off = path[i] - CODE_ADDR;
		int k = 0;

		if (path[i] < CODE_ADDR || off >= 4096)
			continue; /* an event's delivery, the exit stub */
		while (k <= br->g.n && br->g.off[k] != off)
			k++;
		if (k > br->g.n)
			why = "went into the middle of a generated instruction";
		else if (prev - CODE_ADDR < 4096 && (br->code[prev - CODE_ADDR] == 0xc3 ||
						      br->code[prev - CODE_ADDR] == 0xc2) &&
			 (k == 0 || !is_call(br->code, br->g.off[k - 1])))
			why = "returned elsewhere than after a call";
	}
	return why;
}

/*
 * Whether the block has an IRET that iret_loads_ac() when it runs: soft runs it again with the
 * monitor trap flag, looking at each instruction before it runs (only a block with an IRET).
 */
static bool iret_ac_block(struct soft *s, const struct block_run *br)
{
	static u64 path[PATH_MAX_STEPS];
	static struct outcome scratch;
	unsigned size;
	bool any = false;

	for (int i = 0; i < br->g.n && !any; i++)
		any = is_iret(br->code + br->g.off[i], &size);
	if (!any)
		return false;
	s->path = path;
	s->npath = 0;
	s->watch = true;
	s->watched = false;
	s->ctl.proc |= PROC_MONITOR_TRAP_FLAG;
	soft_block(s, br->code, &br->in, br->data, &scratch);
	s->ctl.proc &= ~PROC_MONITOR_TRAP_FLAG;
	s->path = NULL;
	s->watch = false;
	return s->watched;
}

/*
 * This process is not alone on its CPU: an interrupt or a preemption during the block enters the
 * kernel, and the way back to CPL 3 changes state the block can see (this host's kernel clears
 * RFLAGS.NT and nulls DS/ES with RPL != 0: docs/difftest.md). When the host disagrees with soft,
 * it runs the block twice more; if its own runs disagree, one of them met the kernel, and the run
 * that agrees with soft is kept (counted and listed as NOISE).
 */
static void host_settle(struct block_run *br, u64 seed, u32 index)
{
	static struct outcome again;
	struct verdict v;
	enum side s = run.run[INTERP] ? INTERP : EAGER;

	if (compare(&br->g, &br->o[HOST], &br->o[s], false, &v))
		return;
	for (int i = 0; i < 2; i++) {
		native_block(br->code, &br->in, br->data, &again);
		if (compare(&br->g, &br->o[HOST], &again, true, &v))
			continue;
		char what[160];
		snprintf(what, sizeof(what), "%s", v.first);
		bool agrees = compare(&br->g, &again, &br->o[s], false, &v);
		run.noise++;
		if (!run.quiet)
			printf("NOISE seed=%llu block=%u: two native runs differ (%s)%s\n",
			       (unsigned long long)seed, index, what,
			       agrees ? "; the other agrees with soft" : "");
		if (agrees)
			br->o[HOST] = again;
		return;
	}
}

static int run_compare(struct block_run *br, u64 seed, u32 index, bool dump)
{
	struct verdict v;
	int bad = 0;

	for (int s = INTERP; s < NSIDES; s++) {
		if (!run.run[s])
			continue;
		soft_block(&run.soft[s], br->code, &br->in, br->data, &br->o[s]);
		if ((long)index == run.flip)
			br->o[s].st.r[R_RAX] ^= 1;
	}
	const char *off_rails = soft_on_rails(br, &br->o[run.run[INTERP] ? INTERP : EAGER]);
	if (!off_rails && env.iret_ac &&
	    iret_ac_block(&run.soft[run.run[INTERP] ? INTERP : EAGER], br))
		off_rails = "has an IRET that loads RFLAGS.AC = 1 from a misaligned frame, which "
			    "does not complete on this host (env.iret_ac)";
	if (off_rails) {
		run.skipped++;
		if (!run.quiet)
			printf("SKIP seed=%llu block=%u: in soft the block %s: not run natively\n",
			       (unsigned long long)seed, index, off_rails);
		if (run.run[INTERP] && run.run[EAGER]) {
			bool same = compare(&br->g, &br->o[INTERP], &br->o[EAGER], true, &v);
			if (!same && !run.quiet)
				printf("DIVERGENCE seed=%llu block=%u soft vs soft-eager: %s\n",
				       (unsigned long long)seed, index, v.first);
			if (dump)
				report(seed, index, &br->g, br->code, &br->in, &br->o[INTERP], INTERP,
				       &br->o[EAGER], EAGER, &v, same ? "SAME" : "DIVERGENCE");
			run.divergences += !same;
			return !same;
		}
		return 0;
	}
	native_block(br->code, &br->in, br->data, &br->o[HOST]);
	host_settle(br, seed, index);
	enum side s0 = run.run[INTERP] ? INTERP : EAGER;
	const char *off_path = NULL;
	if (!compare(&br->g, &br->o[HOST], &br->o[s0], false, &v))
		off_path = soft_path(&run.soft[s0], br);
	if (off_path) {
		run.skipped++;
		if (!run.quiet)
			printf("SKIP seed=%llu block=%u: in soft the block %s: its flag masks do not "
			       "hold, not compared with the host\n",
			       (unsigned long long)seed, index, off_path);
		goto soft_pair;
	}
	run.blocks++;
	run.insns += br->g.n;
	run.faults += br->o[HOST].vector >= 0;
	run.by_vector[br->o[HOST].vector < 0 ? 32 : br->o[HOST].vector & 31]++;
	for (int s = INTERP; s < NSIDES; s++) {
		if (!run.run[s])
			continue;
		bool same = compare(&br->g, &br->o[HOST], &br->o[s], false, &v);
		if (run.quiet) {
			bad += !same;
		} else if (!same || dump) {
			if (!same) {
				bad++;
				print_brief(seed, index, br, s, &v);
			}
			if (dump || run.reports > 0) {
				report(seed, index, &br->g, br->code, &br->in, &br->o[HOST], HOST,
				       &br->o[s], s, &v, same ? "SAME" : "DIVERGENCE");
				run.reports -= !same;
			}
		}
	}
soft_pair:
	if (run.run[INTERP] && run.run[EAGER] &&
	    !compare(&br->g, &br->o[INTERP], &br->o[EAGER], true, &v)) {
		bad++;
		if (run.quiet)
			goto out;
		printf("DIVERGENCE seed=%llu block=%u soft vs soft-eager: %s\n",
		       (unsigned long long)seed, index, v.first);
		if (run.reports-- > 0)
			report(seed, index, &br->g, br->code, &br->in, &br->o[INTERP], INTERP,
			       &br->o[EAGER], EAGER, &v, "DIVERGENCE");
	}
out:
	run.divergences += bad;
	return bad;
}

static int run_block(struct block_run *br, u64 seed, u32 index, bool dump)
{
	memset(br->code, 0xcc, sizeof(br->code));
	code_origin = NULL;
	gen_block(&br->g, &env.cfg, br->code, seed, index);
	gen_input(&br->g, &br->in, br->data);
	return run_compare(br, seed, index, dump);
}

static struct block_run the_run;

/*
 * --code HEX: given bytes instead of a generated block (then a JMP to the exit), from RSP and
 * RBP in the middle of the data page, RFLAGS 0x202, other registers 0 unless --set says
 * otherwise, a zero data page. For looking at one instruction on every side.
 */
static int code_setup(struct block_run *br, const char *hex, char **sets, int nsets)
{
	struct gen *g = &br->g;
	size_t n = strlen(hex) / 2;

	if (n == 0 || n > 3000 || strlen(hex) % 2) {
		fprintf(stderr, "hostdiff: code '%s': give 1 to 3000 bytes as hex digits\n", hex);
		return -1;
	}
	memset(br->code, 0xcc, sizeof(br->code));
	for (size_t i = 0; i < n; i++) {
		unsigned b;
		if (sscanf(hex + 2 * i, "%2x", &b) != 1) {
			fprintf(stderr, "hostdiff: code: '%.2s' is not hex\n", hex + 2 * i);
			return -1;
		}
		br->code[i] = (u8)b;
	}
	memset(g, 0, sizeof(*g));
	for (size_t off = 0; off < n && g->n < GEN_MAX_INSNS;) {
		ZydisDisassembledInstruction d;
		g->off[g->n++] = (u16)off;
		if (!ZYAN_SUCCESS(ZydisDisassembleATT(ZYDIS_MACHINE_MODE_LONG_64, CODE_ADDR + off,
						      br->code + off, n - off, &d)))
			off = n;
		else
			off += d.info.length;
	}
	g->off[g->n] = (u16)n;
	g->buf = br->code;
	s64 rel = (s64)EXIT_ADDR - (s64)(CODE_ADDR + n + 5);
	br->code[n] = 0xe9;
	memcpy(br->code + n + 1, &rel, 4);
	memset(&br->in, 0, sizeof(br->in));
	memset(br->data, 0, sizeof(br->data));
	br->in.r[R_RSP] = DATA_ADDR + 0x800;
	br->in.r[R_RBP] = DATA_ADDR + 0x900;
	br->in.rflags = 0x202;
	code_origin = hex;
	for (int i = 0; i < nsets; i++) {
		char name[16], num[32], *end;
		unsigned long long val;
		int r;
		if (sscanf(sets[i], "%15[a-z0-9]=%31s", name, num) != 2 ||
		    (val = strtoull(num, &end, 0), *end)) {
			fprintf(stderr, "hostdiff: '%s' is not REG=VALUE\n", sets[i]);
			return -1;
		}
		for (r = 0; r < 16 && strcmp(name, reg_names[r]); r++)
			;
		if (r < 16) {
			br->in.r[r] = val;
		} else if (!strcmp(name, "rflags")) {
			br->in.rflags = val;
		} else {
			fprintf(stderr, "hostdiff: no register '%s'\n", name);
			return -1;
		}
	}
	return 0;
}

/*
 * --code HEX: given bytes instead of a generated block (then a JMP to the exit), from RSP and
 * RBP in the middle of the data page, RFLAGS 0x202, other registers 0 unless --set says
 * otherwise, a zero data page. For looking at one instruction on every side.
 */
static int run_code(const char *hex, char **sets, int nsets)
{
	if (code_setup(&the_run, hex, sets, nsets))
		return 2;
	return run_compare(&the_run, 0, 0, true) ? 1 : 0;
}

/* Blocks start.. of one seed until `insns` instructions (or `blocks` blocks) ran: failures. */
static u64 run_seed(u64 seed, u32 start, u64 insns, u64 blocks, u64 *n_insns, u64 *n_blocks,
		    u64 *n_faults, long *first_bad)
{
	u64 bad = 0, i0 = run.insns, b0 = run.blocks, f0 = run.faults;

	*first_bad = -1;
	for (u32 b = start; insns ? run.insns - i0 < insns : run.blocks - b0 < blocks; b++)
		if (run_block(&the_run, seed, b, false) && !bad++)
			*first_bad = b;
	*n_insns = run.insns - i0;
	*n_blocks = run.blocks - b0;
	*n_faults = run.faults - f0;
	return bad;
}

/* --- Setting up this process --- */

static bool range_unmapped(u64 lo, u64 hi)
{
	FILE *f = fopen("/proc/self/maps", "r");
	char line[512];
	bool ok = true;

	if (!f)
		return false;
	while (fgets(line, sizeof(line), f)) {
		unsigned long long a, b;
		char perm[8];
		if (sscanf(line, "%llx-%llx %7s", &a, &b, perm) != 3)
			continue;
		/* PROT_NONE (a sanitizer's shadow gap) faults as if nothing were there */
		if (a < hi && b > lo && strcmp(perm, "---p"))
			ok = false;
	}
	fclose(f);
	return ok;
}

static int map_fixed(u64 addr, u64 len, int prot)
{
	void *p = mmap((void *)addr, len, prot, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE,
		       -1, 0);
	if (p == MAP_FAILED || p != (void *)addr) {
		fprintf(stderr, "hostdiff: cannot map %#llx-%#llx: %s\n", (unsigned long long)addr,
			(unsigned long long)(addr + len), strerror(p == MAP_FAILED ? errno : EEXIST));
		return -1;
	}
	return 0;
}

/* Run a few bytes natively (followed by a JMP to the exit), for the probes. */
static void probe(const u8 *bytes, unsigned n, const struct gen_state *in, struct outcome *o)
{
	u8 code[4096];
	u8 data[4096] = { 0 };

	memset(code, 0xcc, sizeof(code));
	memcpy(code, bytes, n);
	s64 rel = (s64)EXIT_ADDR - (s64)(CODE_ADDR + n + 5);
	code[n] = 0xe9;
	memcpy(code + n + 1, &rel, 4);
	native_block(code, in, data, o);
}

static u32 host_lar(u16 sel, u32 *limit)
{
	u32 ar = 0, lim = 0;
	u8 ok, ok2;

	asm volatile("lar %w2, %0; setz %1" : "=r"(ar), "=q"(ok) : "r"((u32)sel), "0"(0u) : "cc");
	asm volatile("lsl %w2, %0; setz %1" : "=r"(lim), "=q"(ok2) : "r"((u32)sel), "0"(0u) : "cc");
	*limit = ok2 ? lim : 0;
	return ok ? ar : 0;
}

/*
 * IRETQ at CPL 3 to the next instruction from a frame 4 bytes off alignment, loading RFLAGS.AC
 * = 1 (AC 0 before): true unless it completes. An Intel CPU raises #AC on a pop after RFLAGS is
 * loaded (soft, and the SDM's pseudo-code, pop the whole frame first); its kernel, seeing AC = 0
 * in the frame, takes the #AC for a split lock, and where it cannot turn split-lock detection
 * off (MSR_TEST_CTRL in a VM) it resumes the IRET for ever. So this runs in a child, which a
 * timer ends after 0.2 s.
 */
static bool iret_ac_faults(void)
{
	u64 cs, ss;
	int status = 0;
	pid_t pid;

	asm volatile("mov %%cs, %0" : "=r"(cs));
	asm volatile("mov %%ss, %0" : "=r"(ss));
	fflush(NULL);
	pid = fork();
	if (pid < 0)
		return true; /* cannot tell: such blocks are skipped */
	if (!pid) {
		struct itimerval t = { .it_value = { .tv_usec = 200000 } };

		signal(SIGBUS, SIG_DFL);
		signal(SIGSEGV, SIG_DFL);
		signal(SIGALRM, SIG_DFL);
		setitimer(ITIMER_REAL, &t, NULL);
		asm volatile("mov %%rsp, %%rbx\n\t"
			     "sub $256, %%rsp\n\t" /* below the red zone */
			     "and $-16, %%rsp\n\t"
			     "sub $4, %%rsp\n\t"
			     "mov %%rsp, %%rcx\n\t"
			     "lea 1f(%%rip), %%rax\n\t"
			     "push %[ss]\n\t"
			     "push %%rcx\n\t"
			     "push %[fl]\n\t"
			     "push %[cs]\n\t"
			     "push %%rax\n\t"
			     "iretq\n"
			     "1:\tmov %%rbx, %%rsp\n\t"
			     "pushfq\n\t"
			     "andq $~0x40000, (%%rsp)\n\t"
			     "popfq"
			     :
			     : [ss] "r"(ss), [cs] "r"(cs), [fl] "r"((u64)(X86_AC | X86_IF | 2))
			     : "rax", "rbx", "rcx", "memory", "cc");
		_exit(0);
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return true;
	return !WIFEXITED(status) || WEXITSTATUS(status);
}

static int env_init(void)
{
	static const u8 sys_probe[] = {
		0x48, 0x0f, 0x01, 0xe0, /* smsw %rax */
		0x48, 0x0f, 0x00, 0xc9, /* str %rcx */
		0x48, 0x0f, 0x00, 0xc2, /* sldt %rdx */
		0x0f, 0x01, 0x43, 0x00, /* sgdt 0(%rbx) */
	};
	struct sigaction sa;
	static u8 altstack[1 << 16];
	stack_t ss = { .ss_sp = altstack, .ss_size = sizeof(altstack) };
	struct outcome o;
	struct gen_state in = { .rflags = 2 };
	u32 r[4], soft[4];

	if (!range_unmapped(WILD_BASE - 4096, WILD_BASE + WILD_MASK + 4096 + 1)) {
		fprintf(stderr, "hostdiff: %#llx-%#llx is mapped in this process; the generator's "
			"unmapped addresses need it free\n", (unsigned long long)WILD_BASE,
			(unsigned long long)(WILD_BASE + WILD_MASK));
		return -1;
	}
	if (map_fixed(CODE_ADDR, 4096, PROT_READ | PROT_WRITE | PROT_EXEC) ||
	    map_fixed(EXIT_ADDR, 4096, PROT_READ | PROT_WRITE) ||
	    map_fixed(DATA_ADDR, 4096, PROT_READ | PROT_WRITE) ||
	    map_fixed(GUARD_ADDR, GUARD_SIZE, PROT_NONE))
		return -1;
	/* The exit page: jmp *2(%rip) to native_exit, the pointer aligned (RFLAGS.AC may be 1). */
	u8 *ex = (u8 *)EXIT_ADDR;
	u64 target = (u64)native_exit;
	memcpy(ex, "\xff\x25\x02\x00\x00\x00", 6);
	memcpy(ex + 8, &target, 8);
	mprotect(ex, 4096, PROT_READ | PROT_EXEC);

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = native_sigentry;
	sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
	sigemptyset(&sa.sa_mask);
	if (sigaltstack(&ss, NULL))
		return -1;
	static const int sigs[] = { SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP, SIGALRM };
	for (unsigned i = 0; i < ARRAY_SIZE(sigs); i++)
		if (sigaction(sigs[i], &sa, NULL))
			return -1;
	/* GS.base for GS-relative operands: glibc keeps its thread pointer in FS, not GS. */
	if (syscall(SYS_arch_prctl, ARCH_SET_GS, GS_BASE)) {
		fprintf(stderr, "hostdiff: arch_prctl(ARCH_SET_GS): %s\n", strerror(errno));
		return -1;
	}

	asm volatile("mov %%es, %0" : "=r"(env.sel[SEG_ES]));
	asm volatile("mov %%cs, %0" : "=r"(env.sel[SEG_CS]));
	asm volatile("mov %%ss, %0" : "=r"(env.sel[SEG_SS]));
	asm volatile("mov %%ds, %0" : "=r"(env.sel[SEG_DS]));
	asm volatile("mov %%fs, %0" : "=r"(env.sel[SEG_FS]));
	asm volatile("mov %%gs, %0" : "=r"(env.sel[SEG_GS]));
	native_sel_host = env.sel[SEG_DS];
	if (env.sel[SEG_ES] != env.sel[SEG_DS] || (env.sel[SEG_FS] | env.sel[SEG_GS])) {
		fprintf(stderr, "hostdiff: unexpected selectors ES %#x DS %#x FS %#x GS %#x\n",
			env.sel[SEG_ES], env.sel[SEG_DS], env.sel[SEG_FS], env.sel[SEG_GS]);
		return -1;
	}
	for (unsigned i = 1; i < 16; i++) {
		env.lar[i] = host_lar(i << 3 | 3, &env.lsl[i]);
		if (env.lar[i] && (i <= 3 || i == 8 || i == 9)) {
			fprintf(stderr, "hostdiff: GDT entry %u is visible at CPL 3 (LAR %#x); the "
				"soft CPU's kernel entries would differ\n", i, env.lar[i]);
			return -1;
		}
		if (env.lar[i])
			env.sels[env.nsels++] = i << 3;
	}
	/* more selectors: null, the kernel's, the TSS, beyond the limit, the LDT */
	static const u16 more[] = { 0, 0x10, 0x18, 0x40, 0x80, 0x4 };
	for (unsigned i = 0; i < ARRAY_SIZE(more) && env.nsels < ARRAY_SIZE(env.sels); i++)
		env.sels[env.nsels++] = more[i];
	if (!env.lar[env.sel[SEG_CS] >> 3] || !env.lar[env.sel[SEG_SS] >> 3]) {
		fprintf(stderr, "hostdiff: LAR fails on CS %#x or SS %#x\n", env.sel[SEG_CS],
			env.sel[SEG_SS]);
		return -1;
	}

	/*
	 * CR0, TR, LDTR, GDT limit as CPL 3 sees them, unless UMIP makes these fault. Linux
	 * emulates them under UMIP (arch/x86/kernel/umip.c): no fault, but dummy values, CR0
	 * 80050033H, TR 40H, LDTR 0 (Linux's own) and a GDT at FFFFFFFFFFFE0000H with limit 0,
	 * which cannot be the real one since LAR reads entries beyond it. That counts as UMIP too:
	 * the soft CPU gets Linux's values, not a GDT limit of 0, and SMSW, STR and SLDT are not
	 * generated (GEN_SYSREAD), because the kernel's emulation is not the CPU (it gave #GP(0)
	 * for an SMSW to memory that the CPU runs, seen on an Intel Xeon).
	 */
	in.r[R_RBX] = DATA_ADDR;
	probe(sys_probe, sizeof(sys_probe), &in, &o);
	env.sysread = o.vector < 0;
	if (env.sysread) {
		u16 limit, need = 9 * 8 + 7; /* the TSS's two entries */

		memcpy(&limit, o.data, 2);
		for (unsigned i = 1; i < 16; i++)
			if (env.lar[i] && need < i * 8 + 7)
				need = (u16)(i * 8 + 7);
		env.sysread = limit >= need;
	}
	env.cr0 = CR0_PE | CR0_MP | CR0_ET | CR0_NE | CR0_WP | CR0_AM | CR0_PG; /* Linux's */
	env.tr = 8 << 3;
	env.gdt_limit = 16 * 8 - 1;
	if (env.sysread) {
		env.cr0 = o.st.r[R_RAX];
		env.tr = (u16)o.st.r[R_RCX];
		env.ldtr = (u16)o.st.r[R_RDX];
		memcpy(&env.gdt_limit, o.data, 2);
		if (!(env.cr0 & CR0_PG) || !(env.cr0 & CR0_PE) || env.ldtr || env.tr != 8 << 3) {
			fprintf(stderr, "hostdiff: CR0 %#llx TR %#x LDTR %#x: not what the soft "
				"CPU's set-up mirrors\n", (unsigned long long)env.cr0, env.tr,
				env.ldtr);
			return -1;
		}
	}

	/*
	 * INT n: a DPL-0 gate gives #GP(n * 8 + 2) at the INT, #BP and #OF (DPL 3) trap after it
	 * (SDM vol. 3A 6.12.1.1). Vectors where this process sees anything else (the kvm_pvm here
	 * handles 0x17 and 0x19-0x1b itself, docs/difftest.md) are left out; 0x80 is a system call.
	 */
	for (unsigned n = 0; n < 256; n++) {
		u8 code[2] = { 0xcd, (u8)n };
		bool trap = n == 3 || n == 4;
		if (n == 0x80)
			continue;
		probe(code, 2, &in, &o);
		if (o.vector == (trap ? (int)n : X86_GP) && o.rip == CODE_ADDR + (trap ? 2 : 0) &&
		    o.error == (trap ? 0 : n * 8 + 2))
			env.int_ok[n / 32] |= 1u << (n % 32);
	}

	/*
	 * Where this CPU does otherwise than soft in what the generator makes (an Intel Xeon; AMD
	 * does as soft):
	 *   - REP MOVSQ with 67h, RCX, RSI and RDI with garbage in their upper halves, ESI on an
	 *     unmapped page: the #PF comes before the first element, and the Intel CPU has
	 *     written ECX, ESI and EDI back, zero-extended (soft leaves them; the SDM says ECX
	 *     holds the count after the last iteration done): compare() takes the host's;
	 *   - IRET loading RFLAGS.AC = 1 from a misaligned frame: iret_ac_faults().
	 */
	static const u8 rep67[] = { 0x67, 0xf3, 0x48, 0xa5 };
	struct gen_state in67 = { .rflags = 2 };

	in67.r[R_RCX] = 0x5a5a5a5a00000002ull;
	in67.r[R_RSI] = 0x5a5a5a5a00000000ull | (DATA_ADDR + 0x1000);
	in67.r[R_RDI] = 0x5a5a5a5a00000000ull | DATA_ADDR;
	in67.r[R_RSP] = DATA_ADDR + 0x800;
	probe(rep67, sizeof(rep67), &in67, &o);
	env.rep67_zext = o.vector == X86_PF_VEC && o.st.r[R_RCX] == 2;
	env.iret_ac = iret_ac_faults();

	/* Optional instructions: what both this CPU and soft's CPUID policy have. */
	u32 feat = 0;
	__cpuid(0, r[0], r[1], r[2], r[3]);
	env.amd = r[1] == 0x68747541; /* "Auth" */
	__cpuid(1, r[0], r[1], r[2], r[3]);
	cpuid_lookup(1, 0, soft);
	u32 c1 = r[2] & soft[CPUID_ECX];
	feat |= (c1 & BIT(23) ? GEN_POPCNT : 0) | (c1 & BIT(22) ? GEN_MOVBE : 0) |
		(c1 & BIT(13) ? GEN_CX16 : 0);
	__cpuid_count(7, 0, r[0], r[1], r[2], r[3]);
	cpuid_lookup(7, 0, soft);
	feat |= r[1] & soft[CPUID_EBX] & BIT(3) ? GEN_BMI1 : 0;
	__cpuid(0x80000001, r[0], r[1], r[2], r[3]);
	cpuid_lookup(0x80000001, 0, soft);
	u32 e1 = r[2] & soft[CPUID_ECX];
	feat |= (e1 & BIT(0) ? GEN_LAHF : 0) | (e1 & BIT(5) ? GEN_LZCNT : 0);
	feat |= GEN_NONCANON | GEN_AC | GEN_TF | GEN_FAULTS | GEN_SEG | GEN_GS | GEN_FAR;
	feat |= env.sysread ? GEN_SYSREAD : 0;
	feat |= env.amd ? GEN_AMD : 0;

	env.cfg = (struct gen_config){
		.code_addr = CODE_ADDR,
		.data_addr = DATA_ADDR,
		.exit_addr = EXIT_ADDR,
		.wild_base = WILD_BASE,
		.wild_mask = WILD_MASK,
		.gs_base = GS_BASE,
		.sel_code = env.sel[SEG_CS],
		.sel_stack = env.sel[SEG_SS],
		.sels = env.sels,
		.nsels = env.nsels,
		/* Linux's per-CPU segment: its limit is the CPU number (GDT_ENTRY_CPUNODE) */
		.lsl_avoid = 15,
		.features = feat,
	};
	memcpy(env.cfg.int_ok, env.int_ok, sizeof(env.int_ok));
	return 0;
}

static const struct {
	const char *name;
	u32 bit;
} feature_names[] = {
	{ "popcnt", GEN_POPCNT }, { "lzcnt", GEN_LZCNT },	{ "bmi1", GEN_BMI1 },
	{ "lahf", GEN_LAHF },	  { "movbe", GEN_MOVBE },	{ "cx16", GEN_CX16 },
	{ "noncanon", GEN_NONCANON }, { "ac", GEN_AC },		{ "tf", GEN_TF },
	{ "faults", GEN_FAULTS }, { "seg", GEN_SEG },		{ "gs", GEN_GS },
	{ "far", GEN_FAR },	  { "sysread", GEN_SYSREAD },	{ "amd", GEN_AMD },
};

static void print_features(u32 f)
{
	for (unsigned i = 0; i < ARRAY_SIZE(feature_names); i++)
		if (f & feature_names[i].bit)
			printf(" %s", feature_names[i].name);
}

static int parse_features(const char *list, u32 *off)
{
	char buf[256], *save, *w;

	snprintf(buf, sizeof(buf), "%s", list);
	for (w = strtok_r(buf, ",", &save); w; w = strtok_r(NULL, ",", &save)) {
		unsigned i;
		for (i = 0; i < ARRAY_SIZE(feature_names); i++)
			if (!strcmp(w, feature_names[i].name))
				break;
		if (i == ARRAY_SIZE(feature_names)) {
			fprintf(stderr, "hostdiff: --without: unknown feature '%s' (one of:", w);
			for (i = 0; i < ARRAY_SIZE(feature_names); i++)
				fprintf(stderr, " %s", feature_names[i].name);
			fprintf(stderr, ")\n");
			return -1;
		}
		*off |= feature_names[i].bit;
	}
	return 0;
}

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec * 1e-9;
}

/*
 * The regression list: one case per line, "HEX [REG=VALUE...] [amd] # what": the bytes run as
 * with --code; "amd" marks behaviour seen on AMD only (skipped elsewhere). Each must agree on
 * every side; one line of output per case.
 */
static int replay(const char *path, int *passed, int *failed)
{
	FILE *f = fopen(path, "r");
	char line[1024];
	int lineno = 0;

	if (!f) {
		printf("FAIL hostdiff regressions: %s: %s\n", path, strerror(errno));
		(*failed)++;
		return -1;
	}
	while (fgets(line, sizeof(line), f)) {
		char *what = strchr(line, '#'), *save, *w, *words[34];
		int nw = 0;
		bool amd = false;
		lineno++;
		if (what) {
			*what++ = 0;
			while (*what == ' ')
				what++;
			what[strcspn(what, "\n")] = 0;
		}
		for (w = strtok_r(line, " \t\n", &save); w && nw < 34; w = strtok_r(NULL, " \t\n", &save))
			if (!strcmp(w, "amd"))
				amd = true;
			else
				words[nw++] = w;
		if (!nw)
			continue;
		if (amd && !env.amd) {
			printf("SKIP hostdiff regression %s:%d (%s): seen on AMD only\n", path, lineno,
			       what ? what : "");
			continue;
		}
		int bad = code_setup(&the_run, words[0], words + 1, nw - 1) ? 1
			  : run_compare(&the_run, 0, 0, false);
		printf("%s hostdiff regression %s:%d: %s\n", bad ? "FAIL" : "ok", path, lineno,
		       what ? what : words[0]);
		*passed += !bad;
		*failed += !!bad;
	}
	fclose(f);
	return 0;
}

/*
 * The generator's known answer: the bytes, input registers and data pages of blocks 0-1999 of
 * seed 1 under a fixed configuration (every feature, with and without GEN_AMD), hashed (FNV-1a).
 * Every build of gen.c (release, sanitizers, the freestanding guest, gcc or clang) must give the
 * same blocks for a seed: the order of its random draws is the C source's, never the compiler's
 * (two draws in one expression or argument list are unsequenced, C11 6.5.2.2p10, 6.7.9p23).
 * When the generator changes on purpose, the FAIL line gives the new value.
 */
#define GEN_KNOWN_HASH 0x1d3a4c421bbd999dull

static bool gen_known_answer(u64 *hash)
{
	static const u16 sels[] = { 0x33, 0x2b, 0x23, 0x10, 0x40, 0x7b };
	struct gen_config cfg = {
		.code_addr = CODE_ADDR,
		.data_addr = DATA_ADDR,
		.exit_addr = EXIT_ADDR,
		.wild_base = WILD_BASE,
		.wild_mask = WILD_MASK,
		.gs_base = GS_BASE,
		.sel_code = 0x33,
		.sel_stack = 0x2b,
		.sels = sels,
		.nsels = ARRAY_SIZE(sels),
		.lsl_avoid = 15,
	};
	static u8 code[GEN_CODE_SIZE], data[4096];
	static struct gen g;
	struct gen_state in;
	u64 h = 0xcbf29ce484222325ull;

	memset(cfg.int_ok, 0xff, sizeof(cfg.int_ok));
	cfg.int_ok[0x80 / 32] &= ~BIT(0x80 % 32);
	for (u32 i = 0; i < 2000; i++) {
		for (int amd = 0; amd < 2; amd++) {
			cfg.features = (GEN_AMD << 1) - 1 - (amd ? 0 : GEN_AMD);
			memset(code, 0, sizeof(code));
			memset(&in, 0, sizeof(in));
			gen_block(&g, &cfg, code, 1, i);
			gen_input(&g, &in, data);
			const u8 *parts[] = { code, (const u8 *)&in, data };
			const size_t lens[] = { sizeof(code), sizeof(in), sizeof(data) };
			for (int k = 0; k < 3; k++)
				for (size_t b = 0; b < lens[k]; b++)
					h = (h ^ parts[k][b]) * 0x100000001b3ull;
		}
	}
	*hash = h;
	return h == GEN_KNOWN_HASH;
}

static int check(const char *regressions)
{
	int passed = 0, failed = 0;
	u64 ni, nb, nf, hash;
	long first;

	bool known = gen_known_answer(&hash);
	printf("%s hostdiff generator: seed 1 blocks 0-1999 hash to %#llx%s\n",
	       known ? "ok" : "FAIL", (unsigned long long)hash,
	       known ? ", as in every build"
		     : " in this build, not GEN_KNOWN_HASH (an order of random draws left to the "
		       "compiler, or a change on purpose: then update GEN_KNOWN_HASH)");
	passed += known;
	failed += !known;

	/* Self-test: a divergence injected after block 37 must be found, and only there. */
	run.flip = 37;
	run.quiet = true;
	u64 bad = run_seed(5, 0, 0, 100, &ni, &nb, &nf, &first);
	run.flip = -1;
	run.quiet = false;
	run.divergences = 0;
	bool found = first == 37 && bad == 1;
	printf("%s hostdiff self-test: an injected divergence in block 37 %s found (first "
	       "divergent block %ld, %llu divergent)\n",
	       found ? "ok" : "FAIL", found ? "is" : "is not", first, (unsigned long long)bad);
	passed += found;
	failed += !found;

	for (u64 seed = 1; seed <= 4; seed++) {
		bad = run_seed(seed, 0, 25000, 0, &ni, &nb, &nf, &first);
		printf("%s hostdiff seed %llu: %llu blocks, %llu instructions, %llu faults: host = "
		       "soft (interpreted and eager)%s\n",
		       bad ? "FAIL" : "ok", (unsigned long long)seed, (unsigned long long)nb,
		       (unsigned long long)ni, (unsigned long long)nf,
		       bad ? ", except the blocks above" : "");
		passed += !bad;
		failed += !!bad;
	}
	if (regressions)
		replay(regressions, &passed, &failed);
	printf("hostdiff: %llu instructions compared\n", (unsigned long long)run.insns);
	printf("hostdiff: %d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: hostdiff [--seed S] [--seeds K] [--insns N | --blocks M] [--start I]\n"
		"                [--jit both|off|eager] [--without LIST] [--reports R]\n"
		"       hostdiff --seed S --block B\n"
		"       hostdiff --code HEX [--set REG=VALUE]...\n"
		"       hostdiff --regressions FILE\n"
		"       hostdiff --check [--regressions FILE]\n"
		"Runs the differential tester's random blocks on this CPU and on the soft CPU\n"
		"(interpreted and compiled) and compares them (docs/difftest.md).\n");
}

static bool parse_u64(const char *s, u64 *v)
{
	char *end;
	errno = 0;
	*v = strtoull(s, &end, 0);
	return !errno && *s && !*end;
}

int main(int argc, char **argv)
{
	u64 seed = 1, seeds = 1, insns = 0, blocks = 0, start = 0, block = ~0ull, v;
	const char *regressions = NULL, *jit = "both", *code = NULL;
	char *sets[32];
	int nsets = 0;
	bool do_check = false;
	u32 off = 0;

	setvbuf(stdout, NULL, _IOLBF, 0);
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
		u64 *num = !strcmp(a, "--seed")	   ? &seed
			   : !strcmp(a, "--seeds")  ? &seeds
			   : !strcmp(a, "--insns")  ? &insns
			   : !strcmp(a, "--blocks") ? &blocks
			   : !strcmp(a, "--start")  ? &start
			   : !strcmp(a, "--block")  ? &block
						    : NULL;
		if (!strcmp(a, "--check")) {
			do_check = true;
		} else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			usage(stdout);
			return 0;
		} else if (!val) {
			fprintf(stderr, "hostdiff: %s needs a value\n", a);
			return 2;
		} else if (num) {
			if (!parse_u64(val, num)) {
				fprintf(stderr, "hostdiff: %s: '%s' is not a number\n", a, val);
				return 2;
			}
			i++;
		} else if (!strcmp(a, "--reports")) {
			if (!parse_u64(val, &v)) {
				fprintf(stderr, "hostdiff: --reports: '%s' is not a number\n", val);
				return 2;
			}
			run.reports = (int)v;
			i++;
		} else if (!strcmp(a, "--code")) {
			code = val;
			i++;
		} else if (!strcmp(a, "--set")) {
			if (nsets == (int)ARRAY_SIZE(sets)) {
				fprintf(stderr, "hostdiff: at most %zu --set\n", ARRAY_SIZE(sets));
				return 2;
			}
			sets[nsets++] = argv[++i];
		} else if (!strcmp(a, "--regressions")) {
			regressions = val;
			i++;
		} else if (!strcmp(a, "--jit")) {
			jit = val;
			i++;
			if (strcmp(jit, "both") && strcmp(jit, "off") && strcmp(jit, "eager")) {
				fprintf(stderr, "hostdiff: --jit: '%s' is not both, off or eager\n",
					jit);
				return 2;
			}
		} else if (!strcmp(a, "--without")) {
			if (parse_features(val, &off))
				return 2;
			i++;
		} else {
			fprintf(stderr, "hostdiff: unknown option '%s' (--help lists them)\n", a);
			return 2;
		}
	}
	if (env_init()) {
		if (do_check) {
			printf("SKIP hostdiff: this process cannot host the blocks (above)\n");
			printf("hostdiff: 0 passed, 0 failed\n");
			return 0;
		}
		return 1;
	}
	env.cfg.features &= ~off;
	run.run[INTERP] = strcmp(jit, "eager") != 0;
	run.run[EAGER] = strcmp(jit, "off") != 0;
	for (int s = INTERP; s < NSIDES; s++)
		if (soft_init(&run.soft[s], s == EAGER) < 0) {
			fprintf(stderr, "hostdiff: cannot create a soft CPU: out of memory\n");
			return 1;
		}
	if (do_check)
		return check(regressions);
	if (code)
		return run_code(code, sets, nsets);
	if (block != ~0ull) {
		int bad = run_block(&the_run, seed, (u32)block, true);
		return bad ? 1 : 0;
	}
	if (regressions) {
		int passed = 0, failed = 0;
		replay(regressions, &passed, &failed);
		return failed ? 1 : 0;
	}
	if (!insns && !blocks)
		insns = 1000000;
	printf("hostdiff: seeds %llu..%llu, %s %llu each, soft %s, features:",
	       (unsigned long long)seed, (unsigned long long)(seed + seeds - 1),
	       insns ? "instructions" : "blocks", (unsigned long long)(insns ? insns : blocks),
	       !strcmp(jit, "both") ? "interpreted and eager" : jit);
	print_features(env.cfg.features);
	printf("; INT n left out:");
	for (unsigned n = 0; n < 256; n++)
		if (!(env.int_ok[n / 32] >> (n % 32) & 1))
			printf(" %#x", n);
	printf("\n");
	double t0 = now();
	u64 failed_seeds = 0;
	for (u64 s = seed; s < seed + seeds; s++) {
		u64 ni, nb, nf;
		long first;
		u64 bad = run_seed(s, (u32)start, insns, blocks, &ni, &nb, &nf, &first);
		printf("%s hostdiff seed %llu: %llu blocks, %llu instructions, %llu faults, %llu "
		       "divergences\n",
		       bad ? "FAIL" : "ok", (unsigned long long)s, (unsigned long long)nb,
		       (unsigned long long)ni, (unsigned long long)nf, (unsigned long long)bad);
		failed_seeds += !!bad;
	}
	double t = now() - t0;
	printf("hostdiff: %llu instructions in %llu blocks (%llu faulted) in %.1f s: %.0f "
	       "instructions/hour on each of %d soft runs; %llu divergences\n",
	       (unsigned long long)run.insns, (unsigned long long)run.blocks,
	       (unsigned long long)run.faults, t, t > 0 ? run.insns / t * 3600 : 0.0,
	       run.run[INTERP] + run.run[EAGER], (unsigned long long)run.divergences);
	printf("hostdiff: %llu blocks run in soft only (they left their rails, SKIP above)\n",
	       (unsigned long long)run.skipped);
	printf("hostdiff: %llu blocks ran differently natively once (NOISE above)\n",
	       (unsigned long long)run.noise);
	printf("hostdiff: blocks by exit:");
	for (int i = 0; i <= 32; i++)
		if (run.by_vector[i] && i < 32)
			printf(" #%d %llu", i, (unsigned long long)run.by_vector[i]);
		else if (run.by_vector[i])
			printf(" end %llu", (unsigned long long)run.by_vector[i]);
	printf("\n");
	for (int s = INTERP; s < NSIDES; s++)
		if (run.run[s])
			soft_fini(&run.soft[s]);
	return failed_seeds ? 1 : 0;
}
