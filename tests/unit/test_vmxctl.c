// SPDX-License-Identifier: MIT
/*
 * Unit tests of the VMX execution controls in the software CPU (SDM vol. 3C chapter 26): for
 * each control, on and off, does the instruction or event exit, with which reason, qualification,
 * instruction length and information. Code runs through cpu_run() from guest RAM on a CPU in
 * 64-bit mode at CPL 0 (GDT, IDT and TSS in RAM, paging off), so the run loop's event checks,
 * timers and stepping are exercised as a guest would see them.
 */
#include <setjmp.h>
#include <stdlib.h>

#include "check.h"
#include "cpu/internal.h"
#include "cpu/ops.h"
#include "vmx/vmx.h"

#define RAM_SIZE (1u << 20)
#define GDT 0x1000
#define IDT 0x2000
#define TSS 0x3000
#define CODE 0x4000
#define HANDLER 0x5000
#define VAPIC 0x6000
#define BITMAPS 0x7000 /* I/O A, I/O B, MSR: 4 KiB each */
#define DATA 0xa000

#define SEL_CODE64 0x08
#define SEL_DATA 0x10
#define SEL_TSS 0x48

static u8 *ram;
static struct vm_exit ex;
static struct vmx_controls ctl;

static void w64(u64 a, u64 v)
{
	memcpy(ram + a, &v, 8);
}

static u64 r64(u64 a)
{
	u64 v;

	memcpy(&v, ram + a, 8);
	return v;
}

static void gate64(unsigned vec, u64 off)
{
	w64(IDT + vec * 16, (off & 0xffff) | (u64)SEL_CODE64 << 16 | (u64)0x8e << 40 |
				    ((off >> 16) & 0xffff) << 48);
	w64(IDT + vec * 16 + 8, off >> 32);
}

static void flat(struct x86_segment *s, u16 sel, u32 ar)
{
	s->sel = sel;
	s->base = 0;
	s->limit = 0xffffffff;
	s->ar = ar;
}

static struct cpu *mk(void)
{
	struct cpu_config cfg = { 0 };
	struct x86_sregs s;
	struct cpu *c;

	ram = calloc(1, RAM_SIZE);
	cfg.ram = ram;
	cfg.ram_size = RAM_SIZE;
	c = cpu_create(&cfg);
	w64(GDT + 0x08, 0x00af9b000000ffffull);
	w64(GDT + 0x10, 0x00cf93000000ffffull);
	w64(GDT + 0x48, 0x0000890030002067ull);
	w64(TSS + 4, 0x9000);
	for (unsigned v = 0; v < 0x30; v++)
		gate64(v, HANDLER + v * 0x10);
	for (unsigned v = 0; v < 0x30 * 0x10; v++)
		ram[HANDLER + v] = 0xf4; /* HLT */
	gate64(0xec, HANDLER + 0x400);
	memset(&s, 0, sizeof(s));
	flat(&s.seg[SEG_CS], SEL_CODE64, 0xa09b);
	for (unsigned i = SEG_ES; i <= SEG_GS; i++)
		if (i != SEG_CS)
			flat(&s.seg[i], SEL_DATA, 0xc093);
	s.seg[SEG_LDTR].ar = AR_UNUSABLE;
	s.seg[SEG_TR].sel = SEL_TSS;
	s.seg[SEG_TR].base = TSS;
	s.seg[SEG_TR].limit = 0x2067;
	s.seg[SEG_TR].ar = 0x8b;
	s.gdt.base = GDT;
	s.gdt.limit = 0x4f;
	s.idt.base = IDT;
	s.idt.limit = 0x100 * 16 - 1;
	s.cr0 = CR0_PE | CR0_ET;
	s.cr4 = CR4_PAE;
	s.efer = EFER_LME | EFER_LMA | EFER_SCE;
	cpu_set_sregs(c, &s);
	c->rflags = X86_FIXED1 | X86_IF;
	c->gpr[R_RSP] = 0x8000;
	c->rip = CODE;
	memset(&ctl, 0, sizeof(ctl));
	ctl.io_bitmap_a = ram + BITMAPS;
	ctl.io_bitmap_b = ram + BITMAPS + 0x1000;
	ctl.msr_bitmap = ram + BITMAPS + 0x2000;
	ctl.virtual_apic = ram + VAPIC;
	cpu_set_controls(c, &ctl);
	return c;
}

static void done(struct cpu *c)
{
	cpu_destroy(c);
	free(ram);
}

/* Place code at CODE and start there. */
static void code(struct cpu *c, const void *bytes, size_t n)
{
	memcpy(ram + CODE, bytes, n);
	bc_invalidate_phys(c, CODE, 0x100);
	c->rip = CODE;
	c->halted = 0;
}

static enum cpu_run_result ran; /* what the last go() returned: an exit, or halted */

static u32 go(struct cpu *c)
{
	cpu_set_controls(c, &ctl);
	ran = cpu_run(c, &ex);
	return ex.reason;
}

/* The primary controls with the secondary ones active. */
static void proc2(u32 bits)
{
	ctl.proc |= PROC_SECONDARY_CONTROLS;
	ctl.proc2 = bits;
}

/* Expect an exit at RIP `rip` with `reason`, qualification and instruction length. */
#define EXPECT_EXIT(c, reason_, qual_, len_, rip_)                                                \
	do {                                                                                      \
		CHECK_EQ(go(c), (reason_));                                                        \
		CHECK_EQ(ex.qual, (qual_));                                                        \
		CHECK_EQ(ex.insn_len, (len_));                                                     \
		CHECK_EQ(ex.rip, (rip_));                                                          \
	} while (0)

/* --- Instructions --- */

static void test_tsc(void)
{
	static const u8 rdtsc[] = { 0x0f, 0x31, 0xf4 };
	static const u8 rdtscp[] = { 0x0f, 0x01, 0xf9, 0xf4 };
	static const u8 rdmsr[] = { 0x0f, 0x32, 0xf4 };
	struct cpu *c = mk();

	/* RDTSC exiting. */
	code(c, rdtsc, sizeof(rdtsc));
	ctl.proc = PROC_RDTSC_EXITING;
	EXPECT_EXIT(c, EXIT_REASON_RDTSC, 0, 2, CODE);
	ctl.proc = PROC_HLT_EXITING;
	EXPECT_EXIT(c, EXIT_REASON_HLT, 0, 1, CODE + 2);
	CHECK_EQ((u32)c->gpr[R_RAX], cpu_tsc(c) - 1); /* RDTSC counts the retired ones */

	/* Offsetting, then scaling by 2.5 and offsetting (SDM 26.6.5). */
	cpu_set_tsc_mode(c, CPU_TSC_VIRTUAL, 10);
	c->tsc_base = 0;
	c->tsc_cycles = 0;
	c->icount = 100;
	code(c, rdtsc, sizeof(rdtsc));
	ctl.proc = PROC_HLT_EXITING | PROC_TSC_OFFSETTING;
	ctl.tsc_offset = 5000;
	go(c);
	CHECK_EQ((u32)c->gpr[R_RAX], 1000 + 5000); /* 100 retired before the RDTSC */
	code(c, rdtsc, sizeof(rdtsc));
	c->icount = 100;
	proc2(PROC2_TSC_SCALING);
	ctl.tsc_multiplier = 5ull << 47;
	go(c);
	CHECK_EQ((u32)c->gpr[R_RAX], 1000 * 5 / 2 + 5000);
	/* Scaling without offsetting does nothing. */
	code(c, rdtsc, sizeof(rdtsc));
	c->icount = 100;
	ctl.proc &= ~PROC_TSC_OFFSETTING;
	go(c);
	CHECK_EQ((u32)c->gpr[R_RAX], 1000);
	/* RDMSR IA32_TSC through a clear MSR bitmap sees the same. */
	ctl.proc |= PROC_TSC_OFFSETTING | PROC_USE_MSR_BITMAPS;
	code(c, rdmsr, sizeof(rdmsr));
	c->gpr[R_RCX] = MSR_IA32_TSC;
	c->icount = 100;
	go(c);
	CHECK_EQ(ex.reason, EXIT_REASON_HLT);
	CHECK_EQ((u32)c->gpr[R_RAX], 1000 * 5 / 2 + 5000);
	cpu_add_cycles(c, 1000);
	CHECK_EQ(cpu_tsc(c), 1010 + 1000);

	/* RDTSCP: #UD without "enable RDTSCP" (an exception-bitmap exit), 51 with RDTSC exiting. */
	code(c, rdtscp, sizeof(rdtscp));
	ctl.proc = PROC_SECONDARY_CONTROLS | PROC_HLT_EXITING;
	ctl.proc2 = 0;
	ctl.exception_bitmap = BIT(X86_UD);
	EXPECT_EXIT(c, EXIT_REASON_EXCEPTION_NMI, 0, 0, CODE);
	CHECK_EQ(ex.intr_info, X86_UD | INTR_TYPE_HARD_EXCEPTION << 8 | INTR_INFO_VALID);
	ctl.proc2 = PROC2_ENABLE_RDTSCP;
	ctl.proc |= PROC_RDTSC_EXITING;
	EXPECT_EXIT(c, EXIT_REASON_RDTSCP, 0, 3, CODE);
	ctl.proc &= ~PROC_RDTSC_EXITING;
	c->tsc_aux = 0x77;
	EXPECT_EXIT(c, EXIT_REASON_HLT, 0, 1, CODE + 3);
	CHECK_EQ(c->gpr[R_RCX], 0x77);

	/* Host mode follows the host's counter: it moves on its own. */
	cpu_set_tsc_mode(c, CPU_TSC_HOST, 0);
	u64 t0 = cpu_tsc(c);
	CHECK(cpu_tsc(c) > t0);
	done(c);
}

static void test_simple_exits(void)
{
	static const struct {
		u8 bytes[4];
		u8 len;
		u32 proc, proc2, reason;
	} t[] = {
		{ { 0xf4 }, 1, PROC_HLT_EXITING, 0, EXIT_REASON_HLT },
		{ { 0x0f, 0x33 }, 2, PROC_RDPMC_EXITING, 0, EXIT_REASON_RDPMC },
		{ { 0x0f, 0x01, 0xc9 }, 3, PROC_MWAIT_EXITING, 0, EXIT_REASON_MWAIT_INSTRUCTION },
		{ { 0x0f, 0x01, 0xc8 }, 3, PROC_MONITOR_EXITING, 0,
		  EXIT_REASON_MONITOR_INSTRUCTION },
		{ { 0xf3, 0x90 }, 2, PROC_PAUSE_EXITING, 0, EXIT_REASON_PAUSE_INSTRUCTION },
		{ { 0x0f, 0x09 }, 2, 0, PROC2_WBINVD_EXITING, EXIT_REASON_WBINVD },
		{ { 0x0f, 0x08 }, 2, 0, 0, EXIT_REASON_INVD },
		{ { 0x0f, 0xa2 }, 2, 0, 0, EXIT_REASON_CPUID },
		{ { 0x0f, 0x01, 0xc1 }, 3, 0, 0, EXIT_REASON_VMCALL },
		{ { 0x0f, 0x01, 0xc2 }, 3, 0, 0, EXIT_REASON_VMLAUNCH },
		{ { 0x0f, 0x01, 0xc4 }, 3, 0, 0, EXIT_REASON_VMOFF },
	};

	for (unsigned i = 0; i < ARRAY_SIZE(t); i++) {
		struct cpu *c = mk();
		u8 buf[8] = { 0 };

		memcpy(buf, t[i].bytes, t[i].len);
		buf[t[i].len] = 0xf4;
		code(c, buf, sizeof(buf));
		c->gpr[R_RAX] = DATA;
		c->gpr[R_RCX] = 0;
		ctl.exception_bitmap = BIT(X86_GP);
		ctl.proc = t[i].proc | PROC_SECONDARY_CONTROLS;
		ctl.proc2 = t[i].proc2;
		EXPECT_EXIT(c, t[i].reason, 0, t[i].len, CODE);
		/* Off: the instruction runs (RDPMC has no counters: #GP). */
		if (t[i].proc | t[i].proc2) {
			ctl.proc = PROC_HLT_EXITING | PROC_SECONDARY_CONTROLS;
			ctl.proc2 = 0;
			if (t[i].reason == EXIT_REASON_HLT)
				ctl.proc = 0;
			go(c);
			if (t[i].reason == EXIT_REASON_RDPMC) {
				CHECK_EQ(ex.reason, EXIT_REASON_EXCEPTION_NMI);
				CHECK_EQ(INTR_INFO_VECTOR(ex.intr_info), X86_GP);
			} else if (t[i].reason == EXIT_REASON_HLT) {
				/* No exit: halted with nothing to wake it, RIP past the HLT. */
				CHECK_EQ(ran, CPU_RUN_HALTED);
				CHECK_EQ(c->rip, CODE + 1);
			} else {
				CHECK_EQ(ex.reason, EXIT_REASON_HLT);
				CHECK_EQ(ex.rip, CODE + t[i].len);
			}
		}
		done(c);
	}

	/* MWAIT's qualification: bit 0 set when a MONITOR armed the monitor. */
	static const u8 mon_mwait[] = { 0x0f, 0x01, 0xc8, 0x0f, 0x01, 0xc9, 0xf4 };
	struct cpu *m = mk();

	code(m, mon_mwait, sizeof(mon_mwait));
	m->gpr[R_RAX] = DATA;
	m->gpr[R_RCX] = 0;
	ctl.proc = PROC_MWAIT_EXITING;
	EXPECT_EXIT(m, EXIT_REASON_MWAIT_INSTRUCTION, 1, 3, CODE + 3);
	code(m, mon_mwait + 3, 4);
	ctl.proc = PROC_HLT_EXITING;
	EXPECT_EXIT(m, EXIT_REASON_HLT, 0, 1, CODE + 3);
	code(m, mon_mwait + 3, 4);
	ctl.proc = PROC_MWAIT_EXITING;
	EXPECT_EXIT(m, EXIT_REASON_MWAIT_INSTRUCTION, 0, 3, CODE);
	done(m);

	/* WBINVD exiting is a secondary control: inactive without the primary bit 31. */
	struct cpu *c = mk();
	static const u8 wbinvd[] = { 0x0f, 0x09, 0xf4 };

	code(c, wbinvd, sizeof(wbinvd));
	ctl.proc = PROC_HLT_EXITING;
	ctl.proc2 = PROC2_WBINVD_EXITING;
	EXPECT_EXIT(c, EXIT_REASON_HLT, 0, 1, CODE + 2);
	done(c);
}

static void test_invlpg_cr_dr(void)
{
	static const u8 invlpg[] = { 0x0f, 0x01, 0x78, 0x10, 0xf4 }; /* invlpg [rax+0x10] */
	static const u8 mov_cr3[] = { 0x0f, 0x22, 0xd9, 0xf4 };	     /* mov cr3, rcx */
	static const u8 mov_from_cr3[] = { 0x0f, 0x20, 0xda, 0xf4 }; /* mov rdx, cr3 */
	static const u8 mov_cr8[] = { 0x44, 0x0f, 0x22, 0xc1, 0xf4 }; /* mov cr8, rcx */
	static const u8 mov_from_cr8[] = { 0x44, 0x0f, 0x20, 0xc2, 0xf4 }; /* mov rdx, cr8 */
	static const u8 mov_dr[] = { 0x0f, 0x23, 0xf9, 0xf4 };	     /* mov dr7, rcx */
	struct cpu *c = mk();

	code(c, invlpg, sizeof(invlpg));
	c->gpr[R_RAX] = 0x123000;
	ctl.proc = PROC_INVLPG_EXITING;
	EXPECT_EXIT(c, EXIT_REASON_INVLPG, 0x123010, 4, CODE);
	ctl.proc = PROC_HLT_EXITING;
	EXPECT_EXIT(c, EXIT_REASON_HLT, 0, 1, CODE + 4);

	/* CR3 load: every value exits with no targets; the first n targets do not. */
	code(c, mov_cr3, sizeof(mov_cr3));
	c->gpr[R_RCX] = 0x50000;
	ctl.proc = PROC_CR3_LOAD_EXITING | PROC_HLT_EXITING;
	EXPECT_EXIT(c, EXIT_REASON_CR_ACCESS, 3 | 1 << 8, 3, CODE);
	ctl.cr3_target_count = 1;
	ctl.cr3_target[0] = 0x60000;
	ctl.cr3_target[1] = 0x50000;
	EXPECT_EXIT(c, EXIT_REASON_CR_ACCESS, 3 | 1 << 8, 3, CODE);
	ctl.cr3_target_count = 2;
	EXPECT_EXIT(c, EXIT_REASON_HLT, 0, 1, CODE + 3);
	CHECK_EQ(c->cr3, 0x50000);
	/* CR3 store. */
	code(c, mov_from_cr3, sizeof(mov_from_cr3));
	ctl.proc = PROC_CR3_STORE_EXITING;
	EXPECT_EXIT(c, EXIT_REASON_CR_ACCESS, 3 | 1 << 4 | 2 << 8, 3, CODE);
	ctl.proc = PROC_HLT_EXITING;
	go(c);
	CHECK_EQ(c->gpr[R_RDX], 0x50000);

	/* CR8 load/store exiting. */
	code(c, mov_cr8, sizeof(mov_cr8));
	c->gpr[R_RCX] = 5;
	ctl.proc = PROC_CR8_LOAD_EXITING | PROC_TPR_SHADOW;
	EXPECT_EXIT(c, EXIT_REASON_CR_ACCESS, 8 | 1 << 8, 4, CODE);
	code(c, mov_from_cr8, sizeof(mov_from_cr8));
	ctl.proc = PROC_CR8_STORE_EXITING | PROC_TPR_SHADOW;
	EXPECT_EXIT(c, EXIT_REASON_CR_ACCESS, 8 | 1 << 4 | 2 << 8, 4, CODE);
	/* Without the shadow, CR8 itself. */
	code(c, mov_cr8, sizeof(mov_cr8));
	ctl.proc = PROC_HLT_EXITING;
	go(c);
	CHECK_EQ(c->cr8, 5);
	/* TPR shadow: VTPR is written, CR8 is not; below the threshold: trap-like exit 43. */
	code(c, mov_cr8, sizeof(mov_cr8));
	ram[VAPIC + 0x81] = 0xff;
	c->gpr[R_RCX] = 7;
	ctl.proc = PROC_HLT_EXITING | PROC_TPR_SHADOW;
	ctl.tpr_threshold = 3;
	EXPECT_EXIT(c, EXIT_REASON_HLT, 0, 1, CODE + 4);
	CHECK_EQ(ram[VAPIC + 0x80], 0x70);
	CHECK_EQ(ram[VAPIC + 0x81], 0);
	CHECK_EQ(c->cr8, 5);
	code(c, mov_cr8, sizeof(mov_cr8));
	c->gpr[R_RCX] = 2;
	u64 n0 = cpu_icount(c);
	EXPECT_EXIT(c, EXIT_REASON_TPR_BELOW_THRESHOLD, 0, 0, CODE + 4);
	CHECK_EQ(c->rip, CODE + 4);
	CHECK_EQ(cpu_icount(c), n0 + 1); /* trap-like: the MOV retired */
	CHECK_EQ(ram[VAPIC + 0x80], 0x20);
	code(c, mov_from_cr8, sizeof(mov_from_cr8));
	EXPECT_EXIT(c, EXIT_REASON_HLT, 0, 1, CODE + 4);
	CHECK_EQ(c->gpr[R_RDX], 2);

	/* MOV DR. */
	code(c, mov_dr, sizeof(mov_dr));
	c->gpr[R_RCX] = 0x401;
	ctl.proc = PROC_MOV_DR_EXITING;
	EXPECT_EXIT(c, EXIT_REASON_DR_ACCESS, 7 | 1 << 8, 3, CODE);
	ctl.proc = PROC_HLT_EXITING;
	go(c);
	CHECK_EQ(c->dr[7], 0x401);
	done(c);
}

/*
 * INVLPG exiting comes before the segment-limit check of the operand (SDM 26.1.1: fault-like
 * exits have priority over exceptions other than #UD, privilege and I/O-permission faults):
 * compatibility mode, DS limit 0xfff, invlpg [eax+0x10] beyond it.
 */
static void test_invlpg_limit(void)
{
	static const u8 invlpg[] = { 0x0f, 0x01, 0x78, 0x10, 0xf4 }; /* invlpg [eax+0x10] */
	struct x86_sregs s;
	struct cpu *c = mk();

	cpu_get_sregs(c, &s);
	s.seg[SEG_CS].ar = 0xc09b; /* L = 0, D = 1 */
	s.seg[SEG_DS].limit = 0xfff;
	s.seg[SEG_DS].ar = 0x4093;
	cpu_set_sregs(c, &s);
	code(c, invlpg, sizeof(invlpg));
	c->gpr[R_RAX] = 0x123000;
	ctl.exception_bitmap = BIT(X86_GP);
	ctl.proc = PROC_INVLPG_EXITING;
	EXPECT_EXIT(c, EXIT_REASON_INVLPG, 0x123010, 4, CODE);
	/* Without the exit the limit check raises #GP(0). */
	ctl.proc = PROC_HLT_EXITING;
	EXPECT_EXIT(c, EXIT_REASON_EXCEPTION_NMI, 0, 0, CODE);
	CHECK_EQ(ex.intr_info, X86_GP | INTR_TYPE_HARD_EXCEPTION << 8 | INTR_INFO_DELIVER_CODE |
				       INTR_INFO_VALID);
	done(c);
}

/*
 * RDMSR/WRMSR of an MSR the CPU does not implement that the MSR bitmap does not make exit: the
 * instruction runs in the guest, and a nonexistent MSR is #GP(0) there (SDM vol. 2 RDMSR;
 * 26.1.3: only a set bitmap bit exits). With the bit set: exit 31/32.
 */
static void test_msr_passthrough(void)
{
	static const u8 rdmsr[] = { 0x0f, 0x32, 0xf4 };
	static const u8 wrmsr[] = { 0x0f, 0x30, 0xf4 };
	struct cpu *c = mk();

	ctl.proc = PROC_USE_MSR_BITMAPS | PROC_HLT_EXITING;
	ctl.exception_bitmap = BIT(X86_GP);
	c->gpr[R_RCX] = 0x3a; /* IA32_FEATURE_CONTROL: the VMM's, not the CPU's */
	code(c, rdmsr, sizeof(rdmsr));
	EXPECT_EXIT(c, EXIT_REASON_EXCEPTION_NMI, 0, 0, CODE);
	CHECK_EQ(ex.intr_info, X86_GP | INTR_TYPE_HARD_EXCEPTION << 8 | INTR_INFO_DELIVER_CODE |
				       INTR_INFO_VALID);
	CHECK_EQ(ex.intr_error, 0);
	code(c, wrmsr, sizeof(wrmsr));
	EXPECT_EXIT(c, EXIT_REASON_EXCEPTION_NMI, 0, 0, CODE);
	CHECK_EQ(INTR_INFO_VECTOR(ex.intr_info), X86_GP);
	/* Read-low and write-low bitmap bits set: the accesses exit. */
	ram[BITMAPS + 0x2000 + 0x3a / 8] |= 1u << (0x3a & 7);
	ram[BITMAPS + 0x2000 + 2048 + 0x3a / 8] |= 1u << (0x3a & 7);
	code(c, rdmsr, sizeof(rdmsr));
	EXPECT_EXIT(c, EXIT_REASON_MSR_READ, 0, 2, CODE);
	code(c, wrmsr, sizeof(wrmsr));
	EXPECT_EXIT(c, EXIT_REASON_MSR_WRITE, 0, 2, CODE);
	/* An MSR the CPU holds passes through and runs. */
	c->gpr[R_RCX] = MSR_IA32_STAR;
	c->gpr[R_RAX] = 0x1234;
	c->gpr[R_RDX] = 0;
	EXPECT_EXIT(c, EXIT_REASON_HLT, 0, 1, CODE + 2);
	CHECK_EQ(c->star, 0x1234);
	done(c);
}

/* CR0/CR4 guest/host masks and read shadows: CLTS, LMSW, SMSW, MOV from CR0 (SDM 26.1.3, 26.3). */
static void test_cr_shadows(void)
{
	static const u8 clts[] = { 0x0f, 0x06, 0xf4 };
	static const u8 smsw[] = { 0x0f, 0x01, 0xe0, 0xf4 };	/* smsw eax */
	static const u8 mov_cr0[] = { 0x0f, 0x20, 0xc2, 0xf4 }; /* mov rdx, cr0 */
	static const u8 lmsw[] = { 0x0f, 0x01, 0xf1, 0xf4 };	/* lmsw cx */
	struct cpu *c = mk();

	c->cr0 |= CR0_TS;
	ctl.cr0_guest_host_mask = CR0_TS;
	ctl.cr0_read_shadow = CR0_TS;
	code(c, clts, sizeof(clts));
	ctl.proc = PROC_HLT_EXITING;
	EXPECT_EXIT(c, EXIT_REASON_CR_ACCESS, 2 << 4, 2, CODE);
	ctl.cr0_read_shadow = 0;
	EXPECT_EXIT(c, EXIT_REASON_HLT, 0, 1, CODE + 2);
	CHECK(c->cr0 & CR0_TS); /* host-owned TS is left alone */
	code(c, smsw, sizeof(smsw));
	go(c);
	CHECK_EQ(c->gpr[R_RAX] & CR0_TS, 0);
	code(c, mov_cr0, sizeof(mov_cr0));
	go(c);
	CHECK_EQ(c->gpr[R_RDX], (c->cr0 & ~CR0_TS));
	/* LMSW setting a host-owned TS that the shadow has clear: exit, source in 31:16. */
	code(c, lmsw, sizeof(lmsw));
	c->gpr[R_RCX] = CR0_PE | CR0_TS;
	EXPECT_EXIT(c, EXIT_REASON_CR_ACCESS, 3 << 4 | (u64)(CR0_PE | CR0_TS) << 16, 3, CODE);
	done(c);
}

static void test_io(void)
{
	static const u8 out80[] = { 0xe6, 0x80, 0xf4 }; /* out 0x80, al */
	static const u8 outs[] = { 0x67, 0xf3, 0x6e, 0xf4 }; /* rep outsb (32-bit address) */
	struct cpu *c = mk();

	code(c, out80, sizeof(out80));
	ctl.proc = PROC_UNCOND_IO_EXITING;
	EXPECT_EXIT(c, EXIT_REASON_IO_INSTRUCTION, 0x80u << 16 | IO_QUAL_IMM, 2, CODE);
	ctl.proc = PROC_USE_IO_BITMAPS | PROC_HLT_EXITING; /* bitmaps win over unconditional */
	CHECK_EQ(go(c), EXIT_REASON_HLT); /* completes the OUT */
	code(c, out80, sizeof(out80));
	ram[BITMAPS + 0x80 / 8] = 1;
	EXPECT_EXIT(c, EXIT_REASON_IO_INSTRUCTION, 0x80u << 16 | IO_QUAL_IMM, 2, CODE);
	cpu_run(c, &ex);
	/* Bitmap B for ports 0x8000-0xffff; string form: information and linear address. */
	code(c, outs, sizeof(outs));
	ram[BITMAPS + 0x1000 + 1] = 1; /* port 0x8008 */
	c->gpr[R_RDX] = 0x8008;
	c->gpr[R_RSI] = DATA + 3;
	c->gpr[R_RCX] = 2;
	ram[DATA + 3] = 0x5a;
	EXPECT_EXIT(c, EXIT_REASON_IO_INSTRUCTION,
		    0x8008u << 16 | IO_QUAL_STRING | IO_QUAL_REP, 3, CODE);
	CHECK_EQ(ex.insn_info, 1u << 7 | SEG_DS << 15);
	CHECK_EQ(ex.guest_linear, DATA + 3);
	/* The exit reads no memory; the VMM's part does (cpu_io_string). */
	CHECK_EQ(ex.io.data, 0);
	struct cpu_fault f;
	CHECK_EQ(cpu_io_string(c, &ex, &f), 0);
	CHECK_EQ(ex.io.data, 0x5a);
	done(c);
}

/*
 * 4-level paging, the first 2 MiB identity-mapped with 4 KiB pages except HOLE, which is not
 * present. The tables live at PAGING.. (RAM above everything else the tests use).
 */
#define PAGING 0x80000
#define HOLE 0xc000

static void paging_on(struct cpu *c)
{
	struct x86_sregs s;

	w64(PAGING, (PAGING + 0x1000) | 3);
	w64(PAGING + 0x1000, (PAGING + 0x2000) | 3);
	w64(PAGING + 0x2000, (PAGING + 0x3000) | 3);
	for (u64 p = 0; p < 512; p++)
		w64(PAGING + 0x3000 + p * 8, p << 12 == HOLE ? 0 : p << 12 | 3);
	cpu_get_sregs(c, &s);
	s.cr0 |= CR0_PG;
	s.cr3 = PAGING;
	cpu_set_sregs(c, &s);
}

/*
 * INS/OUTS: the I/O exit has priority over the faults of the memory operand (SDM 26.1.1), here
 * a #PF the exception bitmap would make exit 0. The exit touches no memory; the VMM's access
 * (cpu_io_string) then meets the #PF, which leaves the instruction uncompleted; from a present
 * page it reads the element into the record, and the completion advances RSI and RCX.
 */
static void test_io_string_priority(void)
{
	static const u8 rep_outsb[] = { 0xf3, 0x6e, 0xf4 };
	static const u8 rep_insb[] = { 0xf3, 0x6c, 0xf4 };
	struct cpu_fault f;
	struct cpu *c = mk();

	paging_on(c);
	code(c, rep_outsb, sizeof(rep_outsb));
	c->gpr[R_RSI] = HOLE + 0x10;
	c->gpr[R_RCX] = 2;
	c->gpr[R_RDX] = 0x80;
	ctl.proc = PROC_UNCOND_IO_EXITING;
	ctl.exception_bitmap = BIT(X86_PF_VEC);
	EXPECT_EXIT(c, EXIT_REASON_IO_INSTRUCTION, 0x80u << 16 | IO_QUAL_STRING | IO_QUAL_REP, 2,
		    CODE);
	CHECK_EQ(ex.guest_linear, HOLE + 0x10);
	CHECK_EQ(ex.io.data, 0);
	CHECK_EQ(cpu_io_string(c, &ex, &f), 1);
	CHECK_EQ(f.vector, X86_PF_VEC);
	CHECK_EQ(f.error, 0); /* not present, read, supervisor */
	CHECK_EQ(f.cr2, HOLE + 0x10);
	CHECK_EQ(c->rip, CODE);
	/* Not completed: the instruction runs again (and exits again, here for a present page). */
	c->gpr[R_RSI] = DATA;
	ram[DATA] = 0x5a;
	EXPECT_EXIT(c, EXIT_REASON_IO_INSTRUCTION, 0x80u << 16 | IO_QUAL_STRING | IO_QUAL_REP, 2,
		    CODE);
	CHECK_EQ(c->gpr[R_RCX], 2);
	CHECK_EQ(cpu_io_string(c, &ex, &f), 0);
	CHECK_EQ(ex.io.data, 0x5a);
	EXPECT_EXIT(c, EXIT_REASON_IO_INSTRUCTION, 0x80u << 16 | IO_QUAL_STRING | IO_QUAL_REP, 2,
		    CODE);
	CHECK_EQ(c->gpr[R_RCX], 1);
	CHECK_EQ(c->gpr[R_RSI], DATA + 1);
	CHECK_EQ(cpu_io_string(c, &ex, &f), 0);
	ctl.proc = PROC_UNCOND_IO_EXITING | PROC_HLT_EXITING;
	EXPECT_EXIT(c, EXIT_REASON_HLT, 0, 1, CODE + 2);
	CHECK_EQ(c->gpr[R_RCX], 0);

	/* INS to the hole: exit first; the VMM's check of the destination is a write #PF. */
	code(c, rep_insb, sizeof(rep_insb));
	c->gpr[R_RDI] = HOLE + 0x20;
	c->gpr[R_RCX] = 1;
	EXPECT_EXIT(c, EXIT_REASON_IO_INSTRUCTION,
		    0x80u << 16 | IO_QUAL_IN | IO_QUAL_STRING | IO_QUAL_REP, 2, CODE);
	CHECK_EQ(cpu_io_string(c, &ex, &f), 1);
	CHECK_EQ(f.error, PFEC_W);
	CHECK_EQ(f.cr2, HOLE + 0x20);
	/* To a present page: checked, then the completion stores what the VMM answered. */
	c->gpr[R_RDI] = DATA + 8;
	EXPECT_EXIT(c, EXIT_REASON_IO_INSTRUCTION,
		    0x80u << 16 | IO_QUAL_IN | IO_QUAL_STRING | IO_QUAL_REP, 2, CODE);
	CHECK_EQ(cpu_io_string(c, &ex, &f), 0);
	ex.io.data = 0xa5;
	EXPECT_EXIT(c, EXIT_REASON_HLT, 0, 1, CODE + 2);
	CHECK_EQ(ram[DATA + 8], 0xa5);
	CHECK_EQ(c->gpr[R_RDI], DATA + 9);

	/* Without an exit the instruction's own access faults: #PF (here exit 0). */
	code(c, rep_outsb, sizeof(rep_outsb));
	c->gpr[R_RSI] = HOLE;
	c->gpr[R_RCX] = 1;
	ctl.proc = PROC_USE_IO_BITMAPS;
	EXPECT_EXIT(c, EXIT_REASON_EXCEPTION_NMI, HOLE, 0, CODE);
	done(c);
}

static void test_pause_loop(void)
{
	static const u8 loop[] = { 0xf3, 0x90, 0xeb, 0xfc }; /* 1: pause; jmp 1b */
	struct cpu *c = mk();

	code(c, loop, sizeof(loop));
	proc2(PROC2_PAUSE_LOOP_EXITING);
	ctl.ple_gap = 10;
	ctl.ple_window = 1000;
	u64 t0 = cpu_tsc(c);
	EXPECT_EXIT(c, EXIT_REASON_PAUSE_INSTRUCTION, 0, 2, CODE);
	CHECK(cpu_tsc(c) - t0 > 1000);
	CHECK(cpu_tsc(c) - t0 < 1100);
	/* A gap larger than PLE_Gap between PAUSEs starts new loops: no exit. */
	ctl.ple_gap = 0;
	ctl.proc |= PROC_HLT_EXITING;
	ctl.pin = PIN_PREEMPTION_TIMER;
	c->vmx.preemption_timer = 200;
	EXPECT_EXIT(c, EXIT_REASON_PREEMPTION_TIMER, 0, 0, c->rip);
	done(c);
}

/* VMX and descriptor-table instructions: qualification and instruction information. */
static void test_insn_info(void)
{
	static const u8 vmread[] = { 0x0f, 0x78, 0xc8 };       /* vmread rax, rcx */
	/* vmwrite rdx, [rax+rbx*4+16] */
	static const u8 vmwrite_m[] = { 0x0f, 0x79, 0x54, 0x98, 0x10 };
	static const u8 vmptrld[] = { 0x0f, 0xc7, 0x30 };      /* vmptrld [rax] */
	static const u8 invept[] = { 0x66, 0x0f, 0x38, 0x80, 0x4e, 0x08 }; /* invept rcx, [rsi+8] */
	static const u8 sgdt[] = { 0x0f, 0x01, 0x44, 0x98, 0x20 }; /* sgdt [rax+rbx*4+0x20] */
	static const u8 xsetbv[] = { 0x0f, 0x01, 0xd1 };
	struct cpu *c = mk();

	code(c, vmread, sizeof(vmread));
	EXPECT_EXIT(c, EXIT_REASON_VMREAD, 0, 3, CODE);
	CHECK_EQ(ex.insn_info, 0u << 3 | BIT(10) | 1u << 28);
	code(c, vmwrite_m, sizeof(vmwrite_m));
	EXPECT_EXIT(c, EXIT_REASON_VMWRITE, 0x10, 5, CODE);
	CHECK_EQ(ex.insn_info, 2u | 2u << 7 | SEG_DS << 15 | 3u << 18 | 0u << 23 | 2u << 28);
	code(c, vmptrld, sizeof(vmptrld));
	EXPECT_EXIT(c, EXIT_REASON_VMPTRLD, 0, 3, CODE);
	CHECK_EQ(ex.insn_info, 2u << 7 | SEG_DS << 15 | BIT(22));
	code(c, invept, sizeof(invept));
	EXPECT_EXIT(c, EXIT_REASON_INVEPT, 8, 6, CODE);
	CHECK_EQ(ex.insn_info, 2u << 7 | SEG_DS << 15 | BIT(22) | 6u << 23 | 1u << 28);

	code(c, sgdt, sizeof(sgdt));
	proc2(PROC2_DESC_TABLE_EXITING);
	EXPECT_EXIT(c, EXIT_REASON_GDTR_IDTR, 0x20, 5, CODE);
	CHECK_EQ(ex.insn_info, 2u | 2u << 7 | BIT(11) | SEG_DS << 15 | 3u << 18);

	/* XSETBV: #UD with CR4.OSXSAVE clear, else always exit 55. */
	code(c, xsetbv, sizeof(xsetbv));
	ctl.exception_bitmap = BIT(X86_UD);
	EXPECT_EXIT(c, EXIT_REASON_EXCEPTION_NMI, 0, 0, CODE);
	c->cr4 |= CR4_OSXSAVE;
	EXPECT_EXIT(c, EXIT_REASON_XSETBV, 0, 3, CODE);
	done(c);
}

/* INVPCID (the decoder does not produce it yet: the handler is called on a decoded form). */
static void test_invpcid(void)
{
	static const u8 nop[] = { 0x90 };
	struct cpu *c = mk();
	struct insn d = { .fn = op_invpcid, .len = 5, .mem = 1, .base = R_RAX, .index = BASE_NONE,
			  .seg = SEG_DS, .asz = 8, .osz = 8, .reg = R_RCX };
	int r;

	code(c, nop, sizeof(nop));
	c->exit = &ex;
	c->gpr[R_RAX] = DATA;
	c->gpr[R_RCX] = 4;
	for (int pass = 0; pass < 4; pass++) {
		memset(&ex, 0, sizeof(ex));
		c->exiting = 0;
		c->fault_vector = 0xff;
		ctl.proc = pass == 2 ? PROC_INVLPG_EXITING | PROC_SECONDARY_CONTROLS
				     : PROC_SECONDARY_CONTROLS;
		ctl.proc2 = pass == 0 ? 0 : PROC2_ENABLE_INVPCID;
		if (pass == 3)
			c->gpr[R_RCX] = 2;
		c->ctl = ctl;
		c->insn = NULL;
		c->insn_rip = c->rip = CODE;
		c->rip += d.len;
		r = cpu_setjmp(c->jb);
		if (!r)
			d.fn(c, &d);
		switch (pass) {
		case 0:
			CHECK_EQ(c->fault_vector, X86_UD);
			break;
		case 1:
			CHECK_EQ(c->fault_vector, X86_GP); /* type 4 */
			break;
		case 2:
			CHECK_EQ(c->exiting, 1);
			CHECK_EQ(ex.reason, EXIT_REASON_INVPCID);
			CHECK_EQ(ex.insn_info, 2u << 7 | SEG_DS << 15 | BIT(22) | 1u << 28);
			break;
		default:
			CHECK_EQ(r, 0); /* type 2 flushes everything */
			CHECK_EQ(c->fault_vector, 0xff);
		}
	}
	done(c);
}

/* --- Events --- */

static void test_mtf(void)
{
	static const u8 nops[] = { 0x90, 0x90, 0xf4 };
	struct cpu *c = mk();

	code(c, nops, sizeof(nops));
	ctl.proc = PROC_MONITOR_TRAP_FLAG;
	EXPECT_EXIT(c, EXIT_REASON_MONITOR_TRAP_FLAG, 0, 0, CODE + 1);
	EXPECT_EXIT(c, EXIT_REASON_MONITOR_TRAP_FLAG, 0, 0, CODE + 2);
	ctl.proc = PROC_HLT_EXITING;
	EXPECT_EXIT(c, EXIT_REASON_HLT, 0, 1, CODE + 2);
	/* After an injected event: at the handler's first instruction. */
	ctl.proc = PROC_MONITOR_TRAP_FLAG;
	cpu_inject_event(c, 0x21, INTR_TYPE_EXT_INTR, false, 0, 0);
	EXPECT_EXIT(c, EXIT_REASON_MONITOR_TRAP_FLAG, 0, 0, HANDLER + 0x210);
	/* A REP string instruction: an exit after each iteration, RIP on it until the last. */
	static const u8 rep_stosb[] = { 0xf3, 0xaa, 0xf4 };
	code(c, rep_stosb, sizeof(rep_stosb));
	c->gpr[R_RCX] = 3;
	c->gpr[R_RDI] = DATA;
	EXPECT_EXIT(c, EXIT_REASON_MONITOR_TRAP_FLAG, 0, 0, CODE);
	CHECK_EQ(c->gpr[R_RCX], 2);
	EXPECT_EXIT(c, EXIT_REASON_MONITOR_TRAP_FLAG, 0, 0, CODE);
	EXPECT_EXIT(c, EXIT_REASON_MONITOR_TRAP_FLAG, 0, 0, CODE + 2);
	CHECK_EQ(c->gpr[R_RCX], 0);
	/* Injecting a pending MTF exit (type 7, vector 0) works with the control off. */
	ctl.proc = PROC_HLT_EXITING;
	cpu_inject_event(c, 0, INTR_TYPE_OTHER_EVENT, false, 0, 0);
	EXPECT_EXIT(c, EXIT_REASON_MONITOR_TRAP_FLAG, 0, 0, CODE + 2);
	EXPECT_EXIT(c, EXIT_REASON_HLT, 0, 1, CODE + 2);
	done(c);
}

/*
 * TF and the monitor trap flag together: the MTF exit comes first and the single-step #DB stays
 * pending, saved as pending debug exception BS (SDM 26.5.2: MTF exits have priority over
 * debug-trap exceptions; 28.3.4). The next entry delivers it.
 */
static void test_mtf_single_step(void)
{
	static const u8 nops[] = { 0x90, 0x90, 0xf4 };
	struct cpu_vmx_state s;
	struct cpu *c = mk();

	code(c, nops, sizeof(nops));
	cpu_set_regs(c, &(struct x86_regs){ .rip = CODE, .rflags = X86_FIXED1 | X86_TF,
					     .gpr = { [R_RSP] = 0x8000 } });
	ctl.proc = PROC_MONITOR_TRAP_FLAG;
	EXPECT_EXIT(c, EXIT_REASON_MONITOR_TRAP_FLAG, 0, 0, CODE + 1);
	cpu_get_vmx_state(c, &s);
	CHECK_EQ(s.pending_dbg, BIT(14));
	ctl.proc = PROC_HLT_EXITING;
	EXPECT_EXIT(c, EXIT_REASON_HLT, 0, 1, HANDLER + 0x10);
	CHECK_EQ(r64(0x8000 - 40), CODE + 1); /* the #DB frame: RIP after the first NOP */
	CHECK(c->dr[6] & BIT(14));
	done(c);
}

/*
 * A pending debug exception and a vectoring VM entry (SDM 27.7.3): the injected event is
 * delivered and the pending #DB is lost; with blocking by MOV SS and an injected software
 * exception (INT3) it is delivered after the injected event, as if INT3 followed a MOV SS
 * that trapped.
 */
static void test_pending_db_injection(void)
{
	static const u8 nops[] = { 0x90, 0x90, 0xf4 };
	struct cpu_vmx_state s = { 0 };
	struct cpu *c = mk();

	code(c, nops, sizeof(nops));
	cpu_set_regs(c, &(struct x86_regs){ .rip = CODE, .rflags = X86_FIXED1 | X86_TF | X86_IF,
					     .gpr = { [R_RSP] = 0x8000 } });
	s.pending_dbg = BIT(14);
	cpu_set_vmx_state(c, &s);
	cpu_inject_event(c, 0x21, INTR_TYPE_EXT_INTR, false, 0, 0);
	ctl.proc = PROC_HLT_EXITING;
	EXPECT_EXIT(c, EXIT_REASON_HLT, 0, 1, HANDLER + 0x210);
	CHECK_EQ(r64(0x8000 - 40), CODE);
	cpu_get_vmx_state(c, &s);
	CHECK_EQ(s.pending_dbg, 0);
	CHECK_EQ(c->dr[6] & BIT(14), 0);

	/* MOV SS blocking and an injected INT3: #BP, then the #DB at the #BP handler. */
	code(c, nops, sizeof(nops));
	cpu_set_regs(c, &(struct x86_regs){ .rip = CODE, .rflags = X86_FIXED1 | X86_TF,
					     .gpr = { [R_RSP] = 0x8000 } });
	s.pending_dbg = BIT(14);
	s.interruptibility = GUEST_INTR_STATE_MOV_SS;
	cpu_set_vmx_state(c, &s);
	cpu_inject_event(c, X86_BP, INTR_TYPE_SOFT_EXCEPTION, false, 0, 1);
	EXPECT_EXIT(c, EXIT_REASON_HLT, 0, 1, HANDLER + 0x10);
	CHECK_EQ(r64(0x8000 - 40), CODE + 1); /* #BP frame: after the INT3 */
	CHECK_EQ(r64(((0x8000 - 40) & ~0xf) - 40), HANDLER + 0x30); /* #DB: the #BP handler */
	CHECK(c->dr[6] & BIT(14));
	done(c);
}

static void test_preemption_timer(void)
{
	static const u8 spin[] = { 0xeb, 0xfe }; /* jmp $ */
	static const u8 hlt[] = { 0xf4 };
	struct cpu *c = mk();

	code(c, spin, sizeof(spin));
	ctl.pin = PIN_PREEMPTION_TIMER;
	ctl.exit_ctls = EXIT_CTL_SAVE_PREEMPTION_TIMER;
	c->vmx.preemption_timer = 0;
	u64 n0 = cpu_icount(c);
	EXPECT_EXIT(c, EXIT_REASON_PREEMPTION_TIMER, 0, 0, CODE);
	CHECK_EQ(cpu_icount(c), n0);
	c->vmx.preemption_timer = 100;
	n0 = cpu_tsc(c);
	EXPECT_EXIT(c, EXIT_REASON_PREEMPTION_TIMER, 0, 0, CODE);
	CHECK(cpu_tsc(c) - n0 >= 100u << VMX_MISC_PREEMPTION_SHIFT);
	CHECK(cpu_tsc(c) - n0 < (100u << VMX_MISC_PREEMPTION_SHIFT) + 64);
	CHECK_EQ(c->vmx.preemption_timer, 0);
	/* Without "save", the value stays and the next entry starts from it again. */
	c->vmx.preemption_timer = 50;
	ctl.exit_ctls = 0;
	go(c);
	CHECK_EQ(c->vmx.preemption_timer, 50);
	/* The HLT state: virtual time runs to the deadline. */
	code(c, hlt, sizeof(hlt));
	n0 = cpu_tsc(c);
	EXPECT_EXIT(c, EXIT_REASON_PREEMPTION_TIMER, 0, 0, CODE + 1);
	CHECK(cpu_tsc(c) - n0 >= 50u << VMX_MISC_PREEMPTION_SHIFT);
	struct cpu_vmx_state s;
	cpu_get_vmx_state(c, &s);
	CHECK_EQ(s.activity, GUEST_ACTIVITY_HLT);
	/* Off: nothing can end the HLT state; no exit, cpu_run says halted (not exit 12). */
	ctl.pin = 0;
	go(c);
	CHECK_EQ(ran, CPU_RUN_HALTED);
	CHECK(ex.reason != EXIT_REASON_HLT);
	/* Host TSC mode: the halted vCPU waits for the timer. */
	cpu_set_tsc_mode(c, CPU_TSC_HOST, 0);
	ctl.pin = PIN_PREEMPTION_TIMER;
	c->vmx.preemption_timer = 1000;
	n0 = cpu_tsc(c);
	EXPECT_EXIT(c, EXIT_REASON_PREEMPTION_TIMER, 0, 0, CODE + 1);
	CHECK(cpu_tsc(c) - n0 >= 1000u << VMX_MISC_PREEMPTION_SHIFT);
	done(c);
}

static void test_extint_and_host_tick(void)
{
	static const u8 spin[] = { 0xeb, 0xfe };
	static const u8 hlt[] = { 0xf4, 0xf4 };
	struct cpu *c = mk();

	/* Delivered through the IDT when not exiting and IF = 1. */
	code(c, spin, sizeof(spin));
	cpu_raise_external_interrupt(c, 0x21);
	ctl.proc = PROC_HLT_EXITING;
	EXPECT_EXIT(c, EXIT_REASON_HLT, 0, 1, HANDLER + 0x210);
	CHECK_EQ(r64(0x8000 - 40), CODE);
	/* Exiting, acknowledged: the vector in the interruption information; IF does not matter. */
	c->rip = CODE;
	c->rflags &= ~X86_IF;
	cpu_raise_external_interrupt(c, 0x22);
	ctl.pin = PIN_EXTINT_EXITING;
	ctl.exit_ctls = EXIT_CTL_ACK_INTR_ON_EXIT;
	EXPECT_EXIT(c, EXIT_REASON_EXTERNAL_INTERRUPT, 0, 0, CODE);
	CHECK_EQ(ex.intr_info, 0x22 | INTR_INFO_VALID);
	/* Not acknowledged: no information. The host tick every CPU_HOST_TICK instructions. */
	ctl.exit_ctls = 0;
	u64 n0 = cpu_icount(c);
	c->host_tick_icount = n0 + CPU_HOST_TICK;
	EXPECT_EXIT(c, EXIT_REASON_EXTERNAL_INTERRUPT, 0, 0, CODE);
	CHECK_EQ(ex.intr_info, 0);
	CHECK(cpu_icount(c) - n0 >= CPU_HOST_TICK);
	CHECK(cpu_icount(c) - n0 < CPU_HOST_TICK + 64);
	/* HLT without HLT exiting: the halted vCPU comes back through the host tick at once. */
	code(c, hlt, sizeof(hlt));
	ctl.proc = 0;
	ctl.exit_ctls = EXIT_CTL_ACK_INTR_ON_EXIT;
	EXPECT_EXIT(c, EXIT_REASON_EXTERNAL_INTERRUPT, 0, 0, CODE + 1);
	CHECK_EQ(ex.intr_info, CPU_HOST_TIMER_VECTOR | INTR_INFO_VALID);
	done(c);
}

static void test_nmi(void)
{
	static const u8 spin[] = { 0xeb, 0xfe };
	static const u8 iret[] = { 0x48, 0xcf }; /* iretq */
	struct cpu_vmx_state s;
	struct cpu *c = mk();

	/* NMI exiting. */
	code(c, spin, sizeof(spin));
	cpu_raise_nmi(c);
	ctl.pin = PIN_NMI_EXITING;
	EXPECT_EXIT(c, EXIT_REASON_EXCEPTION_NMI, 0, 0, CODE);
	CHECK_EQ(ex.intr_info, X86_NMI | INTR_TYPE_NMI << 8 | INTR_INFO_VALID);
	/* Without: delivered through the IDT, then blocked until IRET. */
	ctl.pin = 0;
	ctl.proc = PROC_HLT_EXITING;
	cpu_raise_nmi(c);
	EXPECT_EXIT(c, EXIT_REASON_HLT, 0, 1, HANDLER + 0x20);
	cpu_get_vmx_state(c, &s);
	CHECK_EQ(s.interruptibility, GUEST_INTR_STATE_NMI);
	cpu_raise_nmi(c);
	c->rip = CODE;
	ctl.pin = PIN_PREEMPTION_TIMER;
	c->vmx.preemption_timer = 2;
	EXPECT_EXIT(c, EXIT_REASON_PREEMPTION_TIMER, 0, 0, CODE); /* still blocked */
	CHECK_EQ(c->nmi_pending, 1);
	c->nmi_pending = 0;

	/* NMI-window exiting: exits once NMI blocking ends (here by IRET). */
	code(c, iret, sizeof(iret));
	c->gpr[R_RSP] = 0x7000;
	w64(0x7000, HANDLER + 0x40);
	w64(0x7008, SEL_CODE64);
	w64(0x7010, X86_FIXED1);
	w64(0x7018, 0x7100);
	w64(0x7020, SEL_DATA);
	ctl.pin = 0;
	ctl.proc = PROC_NMI_WINDOW_EXITING;
	EXPECT_EXIT(c, EXIT_REASON_NMI_WINDOW, 0, 0, HANDLER + 0x40);
	c->nmi_blocked = 0;
	EXPECT_EXIT(c, EXIT_REASON_NMI_WINDOW, 0, 0, HANDLER + 0x40);

	/* Virtual NMIs: injection sets virtual-NMI blocking, IRET removes it; a fault in that
	   IRET reports "NMI unblocking due to IRET". */
	ctl.pin = PIN_NMI_EXITING | PIN_VIRTUAL_NMIS;
	ctl.proc = PROC_HLT_EXITING;
	c->rip = CODE;
	c->gpr[R_RSP] = 0x8000;
	cpu_inject_event(c, X86_NMI, INTR_TYPE_NMI, false, 0, 0);
	EXPECT_EXIT(c, EXIT_REASON_HLT, 0, 1, HANDLER + 0x20);
	cpu_get_vmx_state(c, &s);
	CHECK_EQ(s.interruptibility, GUEST_INTR_STATE_NMI);
	code(c, iret, sizeof(iret));
	c->gpr[R_RSP] = 0x7000;
	w64(0x7008, 0x78); /* beyond the GDT limit: #GP(0x78) */
	ctl.exception_bitmap = BIT(X86_GP);
	EXPECT_EXIT(c, EXIT_REASON_EXCEPTION_NMI, 0, 0, CODE);
	CHECK_EQ(ex.intr_info, X86_GP | INTR_TYPE_HARD_EXCEPTION << 8 | INTR_INFO_DELIVER_CODE |
				       INTR_INFO_NMI_UNBLOCKED_BY_IRET | INTR_INFO_VALID);
	CHECK_EQ(ex.intr_error, 0x78);
	CHECK_EQ(c->nmi_blocked, 0);
	/* With NMI exiting and no virtual NMIs, IRET leaves blocking by NMI alone. */
	ctl.pin = PIN_NMI_EXITING;
	ctl.exception_bitmap = 0;
	c->nmi_blocked = 1;
	w64(0x7008, SEL_CODE64);
	EXPECT_EXIT(c, EXIT_REASON_HLT, 0, 1, HANDLER + 0x40);
	CHECK_EQ(c->nmi_blocked, 1);
	done(c);
}

/* TF: the single-step trap follows STI (which does not block #DB) but not MOV SS. */
static void test_single_step_shadows(void)
{
	static const u8 sti_nop[] = { 0xfb, 0x90, 0xf4 };
	static const u8 movss_nop[] = { 0x8e, 0xd0, 0x90, 0xf4 }; /* mov ss, eax; nop */
	struct cpu *c = mk();

	ctl.exception_bitmap = BIT(X86_DB);
	code(c, sti_nop, sizeof(sti_nop));
	c->rflags = (c->rflags & ~X86_IF) | X86_TF;
	cpu_set_regs(c, &(struct x86_regs){ .rip = CODE, .rflags = c->rflags,
					     .gpr = { [R_RSP] = 0x8000 } });
	EXPECT_EXIT(c, EXIT_REASON_EXCEPTION_NMI, BIT(14), 0, CODE + 1);
	CHECK_EQ(c->intr_shadow, 1); /* the exit leaves the STI blocking in place */
	c->intr_shadow = 0;
	code(c, movss_nop, sizeof(movss_nop));
	c->gpr[R_RAX] = SEL_DATA;
	EXPECT_EXIT(c, EXIT_REASON_EXCEPTION_NMI, BIT(14), 0, CODE + 3);
	done(c);
}

static void test_vmx_state(void)
{
	static const u8 code_sti[] = { 0xfb, 0x90, 0xf4 };
	struct cpu_vmx_state s = { 0 }, g;
	struct cpu *c = mk();

	s.interruptibility = GUEST_INTR_STATE_MOV_SS | GUEST_INTR_STATE_NMI;
	s.pending_dbg = BIT(14);
	s.dr7 = 0x455;
	s.preemption_timer = 77;
	s.pml_index = 300;
	cpu_set_vmx_state(c, &s);
	cpu_get_vmx_state(c, &g);
	CHECK_EQ(g.interruptibility, s.interruptibility);
	CHECK_EQ(g.pending_dbg, BIT(14));
	CHECK_EQ(g.dr7, 0x455);
	CHECK_EQ(g.preemption_timer, 77);
	CHECK_EQ(g.pml_index, 300);
	CHECK_EQ(g.activity, GUEST_ACTIVITY_ACTIVE);
	/* STI blocking: the interrupt window waits one instruction. */
	s.interruptibility = 0;
	s.pending_dbg = 0;
	cpu_set_vmx_state(c, &s);
	code(c, code_sti, sizeof(code_sti));
	c->rflags &= ~X86_IF;
	ctl.proc = PROC_INTR_WINDOW_EXITING | PROC_MONITOR_TRAP_FLAG;
	EXPECT_EXIT(c, EXIT_REASON_MONITOR_TRAP_FLAG, 0, 0, CODE + 1);
	cpu_get_vmx_state(c, &g);
	CHECK_EQ(g.interruptibility, GUEST_INTR_STATE_STI);
	ctl.proc = PROC_INTR_WINDOW_EXITING;
	EXPECT_EXIT(c, EXIT_REASON_INTERRUPT_WINDOW, 0, 0, CODE + 2);
	done(c);
}

/* IDT-vectoring information: an exception-bitmap exit while delivering INT n. */
static void test_idt_vectoring(void)
{
	static const u8 int_n[] = { 0xcd, 0x80 };
	struct cpu *c = mk();

	code(c, int_n, sizeof(int_n));
	w64(IDT + 0x80 * 16, 0); /* not a gate: #GP(0x80 * 8 + 2) */
	ctl.exception_bitmap = BIT(X86_GP);
	EXPECT_EXIT(c, EXIT_REASON_EXCEPTION_NMI, 0, 2, CODE);
	CHECK_EQ(ex.intr_info, X86_GP | INTR_TYPE_HARD_EXCEPTION << 8 | INTR_INFO_DELIVER_CODE |
				       INTR_INFO_VALID);
	CHECK_EQ(ex.intr_error, 0x80 * 8 + 2);
	CHECK_EQ(ex.idt_vectoring_info, 0x80 | INTR_TYPE_SOFT_INTR << 8 | INTR_INFO_VALID);
	/* An external interrupt whose delivery faults: the interrupt is the vectoring event. */
	static const u8 spin[] = { 0xeb, 0xfe };
	code(c, spin, sizeof(spin));
	w64(IDT + 0x21 * 16, 0);
	cpu_raise_external_interrupt(c, 0x21);
	EXPECT_EXIT(c, EXIT_REASON_EXCEPTION_NMI, 0, 0, CODE);
	CHECK_EQ(ex.intr_error, 0x21 * 8 + 2 + 1); /* EXT */
	CHECK_EQ(ex.idt_vectoring_info, 0x21 | INTR_TYPE_EXT_INTR << 8 | INTR_INFO_VALID);
	code(c, int_n, sizeof(int_n));
	/* Without exiting, #GP is delivered; a #PF bitmap rule (mask/match) does not apply. */
	ctl.exception_bitmap = BIT(X86_PF_VEC);
	ctl.proc = PROC_HLT_EXITING;
	EXPECT_EXIT(c, EXIT_REASON_HLT, 0, 1, HANDLER + 0xd0);
	done(c);
}

int main(void)
{
	test_tsc();
	test_simple_exits();
	test_invlpg_cr_dr();
	test_invlpg_limit();
	test_msr_passthrough();
	test_cr_shadows();
	test_io();
	test_io_string_priority();
	test_pause_loop();
	test_insn_info();
	test_invpcid();
	test_mtf();
	test_mtf_single_step();
	test_pending_db_injection();
	test_preemption_timer();
	test_extint_and_host_tick();
	test_nmi();
	test_single_step_shadows();
	test_vmx_state();
	test_idt_vectoring();
	return check_done("vmxctl");
}
