// SPDX-License-Identifier: MIT
/*
 * Unit tests of the privileged architecture (seg.c, events.c, and the system instructions of
 * sys.c, cr.c, desc.c, msr.c, syscall.c and io.c): descriptor decoding and segment loads, segment
 * limit checks, CR0/CR4 rules and CR-access exits, MSR and I/O bitmaps, I/O exits and
 * completion, IDT delivery in IA-32e mode, the exception bitmap, double and triple faults,
 * SYSCALL/SYSRET, IRETQ and the interrupt window. Handlers are called directly on a CPU whose
 * GDT, IDT and TSS are built in guest RAM (paging off).
 */
#include <setjmp.h>
#include <stdlib.h>

#include "check.h"
#include "cpu/internal.h"
#include "cpu/ops.h"

#define RAM_SIZE (1u << 20)
#define GDT	 0x1000
#define IDT	 0x2000
#define TSS	 0x3000
#define HANDLER	 0x5000

#define SEL_CODE64     0x08
#define SEL_DATA       0x10
#define SEL_CODE32     0x18
#define SEL_DATA3      0x20
#define SEL_CODE64_3   0x28
#define SEL_EXPDOWN    0x30
#define SEL_RODATA     0x38
#define SEL_NOTPRESENT 0x40
#define SEL_TSS	       0x48
#define SEL_DATA_UNACC 0x58

static u8 *ram;
static struct vm_exit ex;

enum { RUN_OK, RUN_FAULT, RUN_EXIT };

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

static void gate64(unsigned vec, u64 off, unsigned type, unsigned dpl, unsigned ist)
{
	u64 lo = (off & 0xffff) | (u64)SEL_CODE64 << 16 | (u64)ist << 32 |
		 (u64)(type | dpl << 5 | 0x80) << 40 | ((off >> 16) & 0xffff) << 48;

	w64(IDT + vec * 16, lo);
	w64(IDT + vec * 16 + 8, off >> 32);
}

static void flat(struct x86_segment *s, u16 sel, u32 ar)
{
	s->sel = sel;
	s->base = 0;
	s->limit = 0xffffffff;
	s->ar = ar;
}

/* A CPU in 64-bit mode at CPL 0 (or 3), flat segments, GDT/IDT/TSS as above. */
static struct cpu *mk(bool user)
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
	w64(GDT + 0x18, 0x00cf9b000000ffffull);
	w64(GDT + 0x20, 0x00cff3000000ffffull);
	w64(GDT + 0x28, 0x00affb000000ffffull);
	w64(GDT + 0x30, 0x0040970000000fffull);
	w64(GDT + 0x38, 0x00cf91000000ffffull);
	w64(GDT + 0x40, 0x00cf13000000ffffull);
	w64(GDT + 0x48, 0x0000890030002067ull);
	w64(GDT + 0x50, 0);
	w64(GDT + 0x58, 0x00cf92000000ffffull);
	w64(TSS + 4, 0x9000);	 /* RSP0 */
	w64(TSS + 0x24, 0xa008); /* IST1 */
	ram[TSS + 102] = 0x68;	 /* I/O map base */
	gate64(0x80, HANDLER, 0xe, 3, 0);
	gate64(X86_GP, HANDLER + 0x100, 0xe, 0, 0);
	gate64(X86_DF_VEC, HANDLER + 0x200, 0xe, 0, 1);
	gate64(X86_PF_VEC, HANDLER + 0x300, 0xf, 0, 0);
	gate64(0x20, HANDLER + 0x400, 0xe, 0, 0);

	memset(&s, 0, sizeof(s));
	flat(&s.seg[SEG_CS], user ? SEL_CODE64_3 | 3 : SEL_CODE64, user ? 0xa0fb : 0xa09b);
	for (unsigned i = SEG_ES; i <= SEG_GS; i++)
		if (i != SEG_CS)
			flat(&s.seg[i], user ? SEL_DATA3 | 3 : SEL_DATA, user ? 0xc0f3 : 0xc093);
	s.seg[SEG_LDTR].ar = AR_UNUSABLE;
	s.seg[SEG_TR].sel = SEL_TSS;
	s.seg[SEG_TR].base = TSS;
	s.seg[SEG_TR].limit = 0x2067;
	s.seg[SEG_TR].ar = 0x8b;
	s.gdt.base = GDT;
	s.gdt.limit = 0x5f;
	s.idt.base = IDT;
	s.idt.limit = 0x80 * 16 + 15;
	s.cr0 = CR0_PE | CR0_ET;
	s.cr4 = CR4_PAE;
	s.efer = EFER_LME | EFER_LMA | EFER_SCE;
	cpu_set_sregs(c, &s);
	c->rflags = X86_FIXED1 | X86_IF;
	c->gpr[R_RSP] = 0x8000;
	c->rip = 0x4000;
	c->exit = &ex;
	return c;
}

static void done(struct cpu *c)
{
	cpu_destroy(c);
	free(ram);
}

/* Runs one handler as the block loop would; faults and exits come back through c->jb. */
static int run(struct cpu *c, insn_fn fn, struct insn *d)
{
	memset(&ex, 0, sizeof(ex));
	c->exit = &ex;
	c->insn = NULL;
	c->exiting = 0;
	if (!d->len)
		d->len = 2;
	c->insn_rip = c->rip;
	c->rip += d->len;
	if (cpu_setjmp(c->jb) == 0) {
		fn(c, d);
		if (!c->exiting)
			return RUN_OK;
		c->break_block = 0; /* an exit the handler returned from (cpu_vmexit_insn) */
	}
	if (c->exiting) {
		c->exiting = 0;
		return RUN_EXIT;
	}
	return RUN_FAULT;
}

/* The run loop's fault protocol: deliver, and deliver again after each nested fault. */
static int deliver(struct cpu *c, u8 vec, u32 err)
{
	memset(&ex, 0, sizeof(ex));
	c->exit = &ex;
	c->exiting = 0;
	c->fault_vector = vec;
	c->fault_error = err;
	if (cpu_setjmp(c->jb)) {
		if (c->exiting) {
			c->exiting = 0;
			return RUN_EXIT;
		}
	}
	events_deliver_fault(c);
	return RUN_OK;
}

static void test_descriptors(void)
{
	struct cpu *c = mk(false);
	struct insn d = { .osz = 2, .rm = R_RAX, .sub = SEG_DS };

	/* Decoding and the accessed bit. */
	c->gpr[R_RAX] = SEL_DATA_UNACC;
	CHECK_EQ(run(c, op_mov_sreg_rm, &d), RUN_OK);
	CHECK_EQ(c->seg[SEG_DS].ar, 0xc093);
	CHECK_EQ(c->seg[SEG_DS].limit, 0xffffffff);
	CHECK_EQ(c->seg[SEG_DS].base, 0);
	CHECK_EQ(ram[GDT + 0x58 + 5], 0x93);

	/* Not present: #NP(sel); beyond the GDT: #GP(sel); code without read: n/a; SS rules. */
	c->gpr[R_RAX] = SEL_NOTPRESENT;
	CHECK_EQ(run(c, op_mov_sreg_rm, &d), RUN_FAULT);
	CHECK_EQ(c->fault_vector, X86_NP);
	CHECK_EQ(c->fault_error, SEL_NOTPRESENT);
	c->gpr[R_RAX] = 0x60;
	CHECK_EQ(run(c, op_mov_sreg_rm, &d), RUN_FAULT);
	CHECK_EQ(c->fault_vector, X86_GP);
	CHECK_EQ(c->fault_error, 0x60);

	d.sub = SEG_SS;
	c->gpr[R_RAX] = SEL_DATA3 | 3;
	CHECK_EQ(run(c, op_mov_sreg_rm, &d), RUN_FAULT);
	CHECK_EQ(c->fault_vector, X86_GP);
	CHECK_EQ(c->fault_error, SEL_DATA3);
	c->gpr[R_RAX] = SEL_RODATA;
	CHECK_EQ(run(c, op_mov_sreg_rm, &d), RUN_FAULT);
	CHECK_EQ(c->fault_error, SEL_RODATA);
	/* Null SS: allowed in 64-bit mode at CPL 0, sets the interrupt shadow. */
	c->gpr[R_RAX] = 0;
	CHECK_EQ(run(c, op_mov_sreg_rm, &d), RUN_OK);
	CHECK(c->seg[SEG_SS].ar & AR_UNUSABLE);
	CHECK_EQ(c->intr_shadow, 1);
	CHECK_EQ(c->stack_bytes, 8);

	/* Descriptor helpers directly. */
	struct x86_segment s;
	desc_decode(0x00af9b000000ffffull, 8, &s);
	CHECK_EQ(s.ar, 0xa09b);
	desc_decode(0x12409a345678abcdull, 8, &s);
	CHECK_EQ(s.base, 0x12345678);
	CHECK_EQ(s.limit, 0xabcd);
	CHECK_EQ(s.ar, 0x409a);
	done(c);
}

static void test_seg_check(void)
{
	struct cpu *c = mk(false);
	struct x86_segment s;
	struct insn d = { .osz = 2, .rm = R_RAX, .sub = SEG_ES };

	/* Leave IA-32e mode to get segmentation: 32-bit protected mode. */
	c->efer = 0;
	c->seg[SEG_CS].ar = 0xc09b;
	cpu_update_mode(c);
	CHECK_EQ(c->mode, MODE_PROT);
	CHECK_EQ(c->seg_check, 0);
	c->gpr[R_RAX] = SEL_EXPDOWN;
	CHECK_EQ(run(c, op_mov_sreg_rm, &d), RUN_OK);
	CHECK(c->seg_check & (1u << SEG_ES));

	/* Expand-down, limit 0xfff, B = 1: valid offsets 0x1000..0xffffffff. */
	s = c->seg[SEG_ES];
	CHECK(!seg_limit_ok(&s, 0x800, 4));
	CHECK(!seg_limit_ok(&s, 0xffe, 4));
	CHECK(seg_limit_ok(&s, 0x1000, 4));
	CHECK(seg_limit_ok(&s, 0xfffffffc, 4));
	CHECK(!seg_limit_ok(&s, 0xfffffffe, 4));
	s.ar &= ~AR_DB;
	CHECK(!seg_limit_ok(&s, 0x10000, 1));
	CHECK(seg_limit_ok(&s, 0xffff, 1));
	/* Expand-up. */
	s.ar = 0x93;
	s.limit = 0xfff;
	CHECK(seg_limit_ok(&s, 0xffc, 4));
	CHECK(!seg_limit_ok(&s, 0xffd, 4));

	c->insn_rip = c->rip;
	if (cpu_setjmp(c->jb) == 0) {
		seg_check(c, SEG_ES, 0x10, 4, ACC_READ);
		CHECK(0);
	} else {
		CHECK_EQ(c->fault_vector, X86_GP);
	}
	if (cpu_setjmp(c->jb) == 0) {
		seg_check(c, SEG_ES, 0x2000, 4, ACC_WRITE);
		CHECK(1);
	} else {
		CHECK(0);
	}
	/* Read-only data: writes #GP(0); through SS: #SS(0). */
	c->seg[SEG_ES].ar = 0xc091;
	if (cpu_setjmp(c->jb) == 0) {
		seg_check(c, SEG_ES, 0x10, 4, ACC_WRITE);
		CHECK(0);
	} else {
		CHECK_EQ(c->fault_vector, X86_GP);
	}
	c->seg[SEG_SS].limit = 0xfff;
	c->seg[SEG_SS].ar = 0x4093;
	cpu_update_mode(c);
	if (cpu_setjmp(c->jb) == 0) {
		seg_check(c, SEG_SS, 0x1000, 4, ACC_WRITE);
		CHECK(0);
	} else {
		CHECK_EQ(c->fault_vector, X86_SS);
	}
	/* Unusable DS: #GP(0). */
	c->seg[SEG_DS].ar = AR_UNUSABLE;
	cpu_update_mode(c);
	if (cpu_setjmp(c->jb) == 0) {
		mem_read(c, SEG_DS, 0, 4);
		CHECK(0);
	} else {
		CHECK_EQ(c->fault_vector, X86_GP);
		CHECK_EQ(c->fault_error, 0);
	}
	done(c);
}

static void test_cr(void)
{
	struct cpu *c = mk(false);
	struct insn d = { .rm = R_RAX, .sub = 4 };

	c->gpr[R_RAX] = CR4_PAE | CR4_PKE;
	CHECK_EQ(run(c, op_mov_cr_r, &d), RUN_FAULT);
	CHECK_EQ(c->fault_vector, X86_GP);
	c->gpr[R_RAX] = CR4_PAE | CR4_PGE | CR4_SMEP | CR4_TSD;
	CHECK_EQ(run(c, op_mov_cr_r, &d), RUN_OK);
	CHECK_EQ(c->cr4, CR4_PAE | CR4_PGE | CR4_SMEP | CR4_TSD);
	c->gpr[R_RAX] = 0; /* PAE off in IA-32e mode */
	CHECK_EQ(run(c, op_mov_cr_r, &d), RUN_FAULT);

	/* Guest/host mask: owned VMXE stays set, reads show the shadow; a change exits. */
	c->ctl.cr4_guest_host_mask = CR4_VMXE;
	c->ctl.cr4_read_shadow = 0;
	c->cr4 |= CR4_VMXE;
	d.rm = R_RBX;
	c->gpr[R_RBX] = CR4_PAE;
	CHECK_EQ(run(c, op_mov_cr_r, &d), RUN_OK);
	CHECK_EQ(c->cr4, CR4_PAE | CR4_VMXE);
	CHECK_EQ(run(c, op_mov_r_cr, &d), RUN_OK);
	CHECK_EQ(c->gpr[R_RBX], CR4_PAE);
	c->gpr[R_RBX] = CR4_PAE | CR4_VMXE;
	CHECK_EQ(run(c, op_mov_cr_r, &d), RUN_EXIT);
	CHECK_EQ(ex.reason, EXIT_REASON_CR_ACCESS);
	CHECK_EQ(ex.qual, 4 | (R_RBX << 8));
	CHECK_EQ(c->rip, c->insn_rip); /* RIP of the instruction */
	CHECK_EQ(ex.rip, c->insn_rip);

	/* CR3-load exiting, CR3-store exiting. */
	d.sub = 3;
	c->ctl.proc = PROC_CR3_LOAD_EXITING;
	CHECK_EQ(run(c, op_mov_cr_r, &d), RUN_EXIT);
	CHECK_EQ(ex.qual, 3 | (R_RBX << 8));
	c->ctl.proc = PROC_CR3_STORE_EXITING;
	CHECK_EQ(run(c, op_mov_r_cr, &d), RUN_EXIT);
	CHECK_EQ(ex.qual, 3 | (1 << 4) | (R_RBX << 8));
	c->ctl.proc = 0;
	c->gpr[R_RBX] = 1ull << 60;
	CHECK_EQ(run(c, op_mov_cr_r, &d), RUN_FAULT);
	/* Bits at and above MAXPHYADDR (CPUID.80000008H: 40) are reserved in IA-32e mode. */
	c->gpr[R_RBX] = 1ull << CPU_MAXPHYADDR;
	CHECK_EQ(run(c, op_mov_cr_r, &d), RUN_FAULT);
	CHECK_EQ(c->fault_vector, X86_GP);
	c->gpr[R_RBX] = (1ull << CPU_MAXPHYADDR) - 0x1000;
	CHECK_EQ(run(c, op_mov_cr_r, &d), RUN_OK);
	CHECK_EQ(c->cr3, (1ull << CPU_MAXPHYADDR) - 0x1000);

	/* CPL 3: #GP before any exit. */
	cpu_set_cpl(c, 3);
	c->ctl.proc = PROC_CR3_LOAD_EXITING;
	CHECK_EQ(run(c, op_mov_cr_r, &d), RUN_FAULT);
	CHECK_EQ(c->fault_vector, X86_GP);
	cpu_set_cpl(c, 0);
	c->ctl.proc = 0;

	/* Entering IA-32e mode: PG with LME needs PAE; sets LMA. */
	c->efer = EFER_LME;
	c->cr0 = CR0_PE | CR0_ET;
	c->cr4 = 0;
	c->seg[SEG_CS].ar = 0xc09b;
	cpu_update_mode(c);
	d.sub = 0;
	c->gpr[R_RBX] = CR0_PE | CR0_PG;
	CHECK_EQ(run(c, op_mov_cr_r, &d), RUN_FAULT);
	c->cr4 = CR4_PAE;
	CHECK_EQ(run(c, op_mov_cr_r, &d), RUN_OK);
	CHECK(c->efer & EFER_LMA);
	CHECK_EQ(c->mode, MODE_COMPAT);
	c->gpr[R_RBX] = CR0_PG;
	CHECK_EQ(run(c, op_mov_cr_r, &d), RUN_FAULT);

	/* CR0 owned TS: CLTS exits if the shadow has TS; LMSW qualification. */
	c->ctl.cr0_guest_host_mask = CR0_TS;
	c->ctl.cr0_read_shadow = CR0_TS;
	CHECK_EQ(run(c, op_clts, &d), RUN_EXIT);
	CHECK_EQ(ex.qual, 2 << 4);
	d.rm = R_RCX;
	c->gpr[R_RCX] = 0x1;
	CHECK_EQ(run(c, op_lmsw, &d), RUN_EXIT);
	CHECK_EQ(ex.qual, (3 << 4) | (1 << 16));
	done(c);
}

static void test_msr(void)
{
	struct cpu *c = mk(false);
	struct insn d = { 0 };
	static u8 bitmap[4096];

	/* Without bitmaps every RDMSR exits. */
	c->gpr[R_RCX] = MSR_IA32_EFER;
	CHECK_EQ(run(c, op_rdmsr, &d), RUN_EXIT);
	CHECK_EQ(ex.reason, EXIT_REASON_MSR_READ);
	c->ctl.proc = PROC_USE_MSR_BITMAPS;
	c->ctl.msr_bitmap = bitmap;
	CHECK_EQ(run(c, op_rdmsr, &d), RUN_OK);
	CHECK_EQ(c->gpr[R_RAX], EFER_LME | EFER_LMA | EFER_SCE);
	bitmap[1024 + 0x80 / 8] = 1; /* read-high, MSR 0xc0000080 */
	CHECK_EQ(run(c, op_rdmsr, &d), RUN_EXIT);
	c->cr0 |= CR0_PG; /* LME cannot change while paging is on */
	c->gpr[R_RAX] = EFER_SCE;
	c->gpr[R_RDX] = 0;
	CHECK_EQ(run(c, op_wrmsr, &d), RUN_FAULT);
	c->cr0 &= ~CR0_PG;
	c->gpr[R_RAX] = EFER_LME | EFER_SCE | EFER_NXE;
	CHECK_EQ(run(c, op_wrmsr, &d), RUN_OK);
	CHECK_EQ(c->efer, EFER_LME | EFER_LMA | EFER_SCE | EFER_NXE);
	c->gpr[R_RCX] = 0x40000000;
	CHECK_EQ(run(c, op_rdmsr, &d), RUN_EXIT);
	c->gpr[R_RCX] = MSR_IA32_MISC_ENABLE; /* not held by the CPU, passed through: #GP(0) */
	CHECK_EQ(run(c, op_rdmsr, &d), RUN_FAULT);
	CHECK_EQ(c->fault_vector, X86_GP);
	bitmap[3072 + 0x100 / 8] = 1; /* write-high, FS_BASE */
	c->gpr[R_RCX] = MSR_IA32_FS_BASE;
	CHECK_EQ(run(c, op_wrmsr, &d), RUN_EXIT);
	CHECK_EQ(ex.reason, EXIT_REASON_MSR_WRITE);
	c->gpr[R_RCX] = MSR_IA32_GS_BASE;
	c->gpr[R_RAX] = 0x5000;
	c->gpr[R_RDX] = 0x7fff;
	CHECK_EQ(run(c, op_wrmsr, &d), RUN_OK);
	CHECK_EQ(c->seg_base[SEG_GS], 0x00007fff00005000ull);
	c->gpr[R_RDX] = 0x8000; /* non-canonical */
	CHECK_EQ(run(c, op_wrmsr, &d), RUN_FAULT);
	c->gpr[R_RCX] = MSR_IA32_PAT;
	c->gpr[R_RAX] = 0x00070406;
	c->gpr[R_RDX] = 0x00070406;
	CHECK_EQ(run(c, op_wrmsr, &d), RUN_OK);
	c->gpr[R_RAX] = 0x02;
	CHECK_EQ(run(c, op_wrmsr, &d), RUN_FAULT);
	c->gpr[R_RCX] = MSR_IA32_EFER;
	c->gpr[R_RAX] = EFER_SCE | BIT(3);
	c->gpr[R_RDX] = 0;
	CHECK_EQ(run(c, op_wrmsr, &d), RUN_FAULT);

	/* TSC: write sets the TSC, offsetting applies to reads. */
	c->gpr[R_RCX] = MSR_IA32_TSC;
	c->gpr[R_RAX] = 1000;
	c->gpr[R_RDX] = 0;
	CHECK_EQ(run(c, op_wrmsr, &d), RUN_OK);
	c->ctl.proc |= PROC_TSC_OFFSETTING;
	c->ctl.tsc_offset = 5;
	CHECK_EQ(run(c, op_rdtsc, &d), RUN_OK);
	CHECK_EQ(c->gpr[R_RAX], 1005);
	c->ctl.proc |= PROC_RDTSC_EXITING;
	CHECK_EQ(run(c, op_rdtsc, &d), RUN_EXIT);
	CHECK_EQ(ex.reason, EXIT_REASON_RDTSC);
	CHECK_EQ(run(c, op_rdtscp, &d), RUN_FAULT); /* enable RDTSCP is 0: #UD */
	CHECK_EQ(c->fault_vector, X86_UD);
	done(c);
}

static void test_io(void)
{
	struct cpu *c = mk(false);
	struct insn d = { .opcode = 0xee, .osz = 1, .len = 1 };
	static u8 iobm[8192];

	/* No exiting: IN reads all ones. */
	d.opcode = 0xec;
	c->gpr[R_RDX] = 0x3f8;
	c->gpr[R_RAX] = 0x1234;
	CHECK_EQ(run(c, op_in, &d), RUN_OK);
	CHECK_EQ(c->gpr[R_RAX], 0x12ff);

	/* Unconditional exiting: OUT DX, AL. */
	c->ctl.proc = PROC_UNCOND_IO_EXITING;
	c->rip = 0x4000;
	d.opcode = 0xee;
	c->gpr[R_RAX] = 0x41;
	CHECK_EQ(run(c, op_out, &d), RUN_EXIT);
	CHECK_EQ(ex.reason, EXIT_REASON_IO_INSTRUCTION);
	CHECK_EQ(ex.qual, 0x3f8ull << 16);
	CHECK_EQ(ex.io.port, 0x3f8);
	CHECK_EQ(ex.io.data, 0x41);
	CHECK_EQ(ex.io.in, 0);
	CHECK_EQ(ex.insn_len, 1);
	CHECK_EQ(c->io.pending, 1);
	c->insn = NULL;
	io_complete(c);
	CHECK_EQ(c->rip, 0x4001);
	CHECK_EQ(c->io.pending, 0);

	/* IN EAX, imm8 zero-extends RAX after completion. */
	d.opcode = 0xe5;
	d.osz = 4;
	d.imm = 0x71;
	d.len = 2;
	c->gpr[R_RAX] = ~0ull;
	CHECK_EQ(run(c, op_in, &d), RUN_EXIT);
	CHECK_EQ(ex.qual, (0x71ull << 16) | IO_QUAL_IMM | IO_QUAL_IN | 3);
	c->io.io.io.data = 0xdeadbeef;
	io_complete(c);
	CHECK_EQ(c->gpr[R_RAX], 0xdeadbeef);
	CHECK_EQ(c->rip, 0x4003);

	/* REP OUTSB: one element per exit, RIP stays until RCX reaches 0. The exit reads no
	   memory; the VMM's part (cpu_io_string) puts the element in the record. */
	struct cpu_fault f;
	struct insn s = {
		.opcode = 0x6e, .osz = 1, .asz = 8, .len = 2, .rep = REP_E, .seg = SEG_DS
	};
	ram[0x6000] = 'h';
	ram[0x6001] = 'i';
	c->gpr[R_RSI] = 0x6000;
	c->gpr[R_RCX] = 2;
	c->gpr[R_RDX] = 0xe9;
	CHECK_EQ(run(c, op_outs, &s), RUN_EXIT);
	CHECK_EQ(ex.io.data, 0);
	CHECK_EQ(cpu_io_string(c, &ex, &f), 0);
	CHECK_EQ(ex.io.data, 'h');
	CHECK_EQ(ex.qual, (0xe9ull << 16) | IO_QUAL_STRING | IO_QUAL_REP);
	CHECK_EQ(ex.guest_linear, 0x6000);
	CHECK_EQ(ex.insn_info, 2 << 7 | SEG_DS << 15);
	io_complete(c);
	CHECK_EQ(c->rip, 0x4003);
	CHECK_EQ(c->gpr[R_RCX], 1);
	CHECK_EQ(c->gpr[R_RSI], 0x6001);
	CHECK_EQ(run(c, op_outs, &s), RUN_EXIT);
	CHECK_EQ(cpu_io_string(c, &ex, &f), 0);
	CHECK_EQ(ex.io.data, 'i');
	io_complete(c);
	CHECK_EQ(c->rip, 0x4005);
	CHECK_EQ(c->gpr[R_RCX], 0);

	/* REP INSW with DF = 1. */
	struct insn in = { .opcode = 0x6d, .osz = 2, .asz = 8, .len = 2, .rep = REP_E };
	c->rflags |= X86_DF;
	c->gpr[R_RDI] = 0x7000;
	c->gpr[R_RCX] = 1;
	CHECK_EQ(run(c, op_ins, &in), RUN_EXIT);
	CHECK_EQ(cpu_io_string(c, &ex, &f), 0);
	c->io.io.io.data = 0xabcd;
	io_complete(c);
	CHECK_EQ(ram[0x7000] | ram[0x7001] << 8, 0xabcd);
	CHECK_EQ(c->gpr[R_RDI], 0x6ffe);
	c->rflags &= ~X86_DF;

	/* I/O bitmaps: every port of a 2-byte access is checked. */
	c->ctl.proc = PROC_USE_IO_BITMAPS;
	c->ctl.io_bitmap_a = iobm;
	c->ctl.io_bitmap_b = iobm + 4096;
	d.opcode = 0xed;
	d.osz = 2;
	c->gpr[R_RDX] = 0x80ff;
	c->gpr[R_RAX] = 0x12345678;
	CHECK_EQ(run(c, op_in, &d), RUN_OK);
	CHECK_EQ(c->gpr[R_RAX], 0x1234ffff); /* no exit, no device: all ones, AX only */
	iobm[4096 + 0x20] = 1; /* port 0x8100 in bitmap B */
	CHECK_EQ(run(c, op_in, &d), RUN_EXIT);
	c->gpr[R_RDX] = 0xffff; /* wraps */
	CHECK_EQ(run(c, op_in, &d), RUN_EXIT);
	/* One byte (io.c's inline lookup): its own bit in A or B, nothing else. */
	d.osz = 1;
	c->gpr[R_RDX] = 0x8100;
	CHECK_EQ(run(c, op_in, &d), RUN_EXIT);
	c->gpr[R_RDX] = 0x8101;
	CHECK_EQ(run(c, op_in, &d), RUN_OK);
	c->gpr[R_RDX] = 0x61;
	CHECK_EQ(run(c, op_in, &d), RUN_OK);
	iobm[0x61 / 8] = 1 << (0x61 % 8);
	CHECK_EQ(run(c, op_in, &d), RUN_EXIT);
	iobm[0x61 / 8] = 0;
	c->ctl.io_bitmap_a = NULL; /* no bitmap: every port exits */
	CHECK_EQ(run(c, op_in, &d), RUN_EXIT);
	c->ctl.io_bitmap_a = iobm;
	d.osz = 2;

	/* CPL 3 with IOPL 0: the TSS bitmap decides, before any exit. */
	c->ctl.proc = PROC_UNCOND_IO_EXITING;
	cpu_set_cpl(c, 3);
	c->gpr[R_RDX] = 0x60;
	CHECK_EQ(run(c, op_in, &d), RUN_EXIT);
	ram[TSS + 0x68 + 0x60 / 8] = 0x2; /* port 0x61 */
	CHECK_EQ(run(c, op_in, &d), RUN_FAULT);
	CHECK_EQ(c->fault_vector, X86_GP);
	done(c);
}

static void test_delivery(void)
{
	struct cpu *c = mk(true);
	struct insn d = { .imm = 0x80, .len = 2 };

	/* INT 0x80 from CPL 3: stack from TSS.RSP0, null SS, 5-qword frame, IF cleared. */
	c->gpr[R_RSP] = 0x8008;
	CHECK_EQ(run(c, op_int, &d), RUN_OK);
	CHECK_EQ(c->rip, HANDLER);
	CHECK_EQ(c->cpl, 0);
	CHECK_EQ(c->seg[SEG_CS].sel, SEL_CODE64);
	CHECK(c->seg[SEG_SS].ar & AR_UNUSABLE);
	CHECK_EQ(c->seg[SEG_SS].sel, 0);
	CHECK_EQ(c->gpr[R_RSP], 0x9000 - 40);
	CHECK_EQ(r64(0x9000 - 8), SEL_DATA3 | 3);
	CHECK_EQ(r64(0x9000 - 16), 0x8008);
	CHECK_EQ(r64(0x9000 - 24) & X86_IF, X86_IF);
	CHECK_EQ(r64(0x9000 - 32), SEL_CODE64_3 | 3);
	CHECK_EQ(r64(0x9000 - 40), 0x4002);
	CHECK_EQ(c->rflags & X86_IF, 0);
	CHECK_EQ(c->tlb, &c->tlbs[0][0]);

	/* IRETQ back to CPL 3. */
	struct insn ir = { .osz = 8, .len = 2 };
	CHECK_EQ(run(c, op_iret, &ir), RUN_OK);
	CHECK_EQ(c->rip, 0x4002);
	CHECK_EQ(c->cpl, 3);
	CHECK_EQ(c->gpr[R_RSP], 0x8008);
	CHECK_EQ(c->seg[SEG_SS].sel, SEL_DATA3 | 3);
	CHECK(c->rflags & X86_IF);
	CHECK_EQ(c->mode, MODE_LONG);

	/* INT n through a DPL 0 gate from CPL 3: #GP(vector * 8 + 2). */
	d.imm = 0x20;
	CHECK_EQ(run(c, op_int, &d), RUN_FAULT);
	CHECK_EQ(c->fault_vector, X86_GP);
	CHECK_EQ(c->fault_error, 0x20 * 8 + 2);
	CHECK_EQ(c->rip, 0x4002); /* fault RIP is the INT instruction */
	CHECK_EQ(c->fault_depth, 1);
	/* The run loop delivers it: #GP handler at CPL 0 with the error code. */
	CHECK_EQ(deliver(c, c->fault_vector, c->fault_error), RUN_OK);
	CHECK_EQ(c->rip, HANDLER + 0x100);
	CHECK_EQ(c->fault_depth, 0);
	CHECK_EQ(r64(c->gpr[R_RSP]), 0x20 * 8 + 2);
	CHECK_EQ(r64(c->gpr[R_RSP] + 8), 0x4002);
	done(c);
}

static void test_faults(void)
{
	struct cpu *c = mk(false);

	/* Exception bitmap: #GP exits with interruption information. */
	c->ctl.exception_bitmap = 1u << X86_GP;
	CHECK_EQ(deliver(c, X86_GP, 0x18), RUN_EXIT);
	CHECK_EQ(ex.reason, EXIT_REASON_EXCEPTION_NMI);
	CHECK_EQ(ex.intr_info, 0x80000b0d);
	CHECK_EQ(ex.intr_error, 0x18);
	CHECK_EQ(c->fault_depth, 0);

	/* #PF: error-code mask/match; the qualification is the address and CR2 is kept. */
	c->ctl.exception_bitmap = 1u << X86_PF_VEC;
	c->ctl.pf_ec_mask = PFEC_W;
	c->ctl.pf_ec_match = PFEC_W;
	c->fault_cr2 = 0xdead000;
	c->cr2 = 0;
	CHECK_EQ(deliver(c, X86_PF_VEC, PFEC_W | PFEC_P), RUN_EXIT);
	CHECK_EQ(ex.qual, 0xdead000);
	CHECK_EQ(c->cr2, 0);
	CHECK_EQ(deliver(c, X86_PF_VEC, PFEC_P), RUN_OK); /* no match: delivered */
	CHECK_EQ(c->cr2, 0xdead000);
	CHECK_EQ(c->rip, HANDLER + 0x300);
	CHECK_EQ(r64(c->gpr[R_RSP]), PFEC_P);
	CHECK_EQ(c->gpr[R_RSP] & 0xf, 0); /* 16-byte aligned frame of 6 qwords */
	done(c);

	/* #GP whose gate is missing (IDT too short) -> #DF via IST1; then no #DF gate: triple. */
	c = mk(false);
	c->idt.limit = X86_DF_VEC * 16 + 15;
	c->rip = 0x4100;
	CHECK_EQ(deliver(c, X86_GP, 0), RUN_OK);
	CHECK_EQ(c->rip, HANDLER + 0x200);
	CHECK_EQ(c->gpr[R_RSP], 0xa000 - 48);
	CHECK_EQ(r64(0xa000 - 48), 0); /* error code of #DF */
	CHECK_EQ(r64(0xa000 - 40), 0x4100);
	c->idt.limit = 0x10;
	CHECK_EQ(deliver(c, X86_GP, 0), RUN_EXIT);
	CHECK_EQ(ex.reason, EXIT_REASON_TRIPLE_FAULT);
	CHECK_EQ(c->fault_depth, 0);
	done(c);

	/* Benign first event: a #GP during INT n delivery is delivered serially, and an exit for it
	   reports the INT in the IDT-vectoring information. */
	c = mk(false);
	c->ctl.exception_bitmap = 1u << X86_GP;
	struct insn d = { .imm = 0x90, .len = 2 };
	CHECK_EQ(run(c, op_int, &d), RUN_FAULT);
	CHECK_EQ(deliver(c, c->fault_vector, c->fault_error), RUN_EXIT);
	CHECK_EQ(ex.intr_info, 0x80000b0d);
	CHECK_EQ(ex.intr_error, 0x90 * 8 + 2);
	CHECK_EQ(ex.idt_vectoring_info, 0x80000490);
	done(c);
}

static void test_injection(void)
{
	struct cpu *c = mk(false);

	/* External interrupt injection: delivered at the next check, wakes HLT. */
	c->halted = 1;
	cpu_inject_event(c, 0x20, INTR_TYPE_EXT_INTR, false, 0, 0);
	memset(&ex, 0, sizeof(ex));
	if (cpu_setjmp(c->jb) == 0)
		events_check(c);
	CHECK_EQ(c->halted, 0);
	CHECK_EQ(c->rip, HANDLER + 0x400);
	CHECK_EQ(r64(c->gpr[R_RSP] + 0), 0x4000);
	CHECK_EQ(c->event_pending, 0);

	/* Interrupt window: exits once IF = 1. */
	c->ctl.proc = PROC_INTR_WINDOW_EXITING;
	c->exiting = 0;
	if (cpu_setjmp(c->jb) == 0) {
		events_check(c);
		CHECK(c->event_pending);
		c->rflags |= X86_IF;
		events_check(c);
		CHECK(0);
	}
	CHECK_EQ(c->exiting, 1);
	CHECK_EQ(ex.reason, EXIT_REASON_INTERRUPT_WINDOW);
	c->exiting = 0;

	/* STI sets the shadow only when IF was 0. */
	struct insn d = { .len = 1 };
	c->rflags &= ~X86_IF;
	CHECK_EQ(run(c, op_sti, &d), RUN_OK);
	CHECK_EQ(c->intr_shadow, 1);
	c->intr_shadow = 0;
	CHECK_EQ(run(c, op_sti, &d), RUN_OK);
	CHECK_EQ(c->intr_shadow, 0);
	done(c);
}

static void test_syscall(void)
{
	struct cpu *c = mk(true);
	struct insn d = { .len = 2, .osz = 8 };

	c->star = (u64)SEL_CODE64 << 32 | (u64)(SEL_DATA3 - 8) << 48;
	c->lstar = 0x6000;
	c->fmask = X86_IF;
	CHECK_EQ(run(c, op_syscall, &d), RUN_OK);
	CHECK_EQ(c->rip, 0x6000);
	CHECK_EQ(c->gpr[R_RCX], 0x4002);
	CHECK_EQ(c->cpl, 0);
	CHECK_EQ(c->rflags & X86_IF, 0);
	CHECK(c->gpr[R_R11] & X86_IF);
	CHECK_EQ(c->seg[SEG_SS].sel, SEL_DATA);
	CHECK_EQ(run(c, op_sysret, &d), RUN_OK);
	CHECK_EQ(c->rip, 0x4002);
	CHECK_EQ(c->cpl, 3);
	CHECK_EQ(c->seg[SEG_CS].sel, (SEL_DATA3 + 8) | 3);
	CHECK_EQ(c->seg[SEG_SS].sel, SEL_DATA3 | 3);
	CHECK(c->rflags & X86_IF);
	CHECK_EQ(run(c, op_sysret, &d), RUN_FAULT); /* CPL 3 */
	CHECK_EQ(c->fault_vector, X86_GP);
	done(c);
}

static void test_far(void)
{
	struct cpu *c = mk(false);
	struct insn d = { .osz = 8,
			  .mem = 1,
			  .base = R_RBX,
			  .index = BASE_NONE,
			  .asz = 8,
			  .seg = SEG_DS,
			  .len = 3 };

	/* LGDT m16&64, then a far return to 32-bit compatibility code and back via far JMP. */
	w64(0x6000, 0x5f | (u64)GDT << 16);
	w64(0x6008, 0);
	c->gpr[R_RBX] = 0x6000;
	CHECK_EQ(run(c, op_lgdt, &d), RUN_OK);
	CHECK_EQ(c->gdt.base, GDT);
	CHECK_EQ(c->gdt.limit, 0x5f);

	c->gpr[R_RSP] = 0x8000 - 16;
	w64(0x8000 - 16, 0x4800);
	w64(0x8000 - 8, SEL_CODE32);
	struct insn r = { .osz = 8, .len = 2 };
	CHECK_EQ(run(c, op_ret_far, &r), RUN_OK);
	CHECK_EQ(c->mode, MODE_COMPAT);
	CHECK_EQ(c->rip, 0x4800);
	CHECK_EQ(c->gpr[R_RSP], 0x8000);

	struct insn j = { .osz = 4, .imm = 0x4900, .imm2 = SEL_CODE64, .len = 7 };
	CHECK_EQ(run(c, op_jmp_far_ptr, &j), RUN_OK);
	CHECK_EQ(c->mode, MODE_LONG);
	CHECK_EQ(c->rip, 0x4900);
	CHECK_EQ(c->seg[SEG_CS].sel, SEL_CODE64);

	/* Far JMP to a DPL 3 code segment from CPL 0: #GP(sel). */
	j.imm2 = SEL_CODE64_3;
	CHECK_EQ(run(c, op_jmp_far_ptr, &j), RUN_FAULT);
	CHECK_EQ(c->fault_error, SEL_CODE64_3);

	/* LTR marks the TSS busy. */
	struct insn t = { .osz = 2, .rm = R_RAX, .len = 3 };
	ram[GDT + SEL_TSS + 5] = 0x89;
	c->gpr[R_RAX] = SEL_TSS;
	CHECK_EQ(run(c, op_ltr, &t), RUN_OK);
	CHECK_EQ(ram[GDT + SEL_TSS + 5], 0x8b);
	CHECK_EQ(c->seg[SEG_TR].base, TSS);
	CHECK_EQ(AR_TYPE(c->seg[SEG_TR].ar), 0xb);
	CHECK_EQ(run(c, op_ltr, &t), RUN_FAULT); /* busy now */

	/* LAR/LSL/VERW. */
	struct insn l = { .osz = 4, .rm = R_RAX, .reg = R_RDX, .len = 3 };
	c->gpr[R_RAX] = SEL_DATA;
	CHECK_EQ(run(c, op_lar, &l), RUN_OK);
	CHECK_EQ(c->gpr[R_RDX], 0x00c09300);
	CHECK(flags_get(c) & X86_ZF);
	CHECK_EQ(run(c, op_lsl, &l), RUN_OK);
	CHECK_EQ(c->gpr[R_RDX], 0xffffffff);
	c->gpr[R_RAX] = SEL_RODATA;
	CHECK_EQ(run(c, op_verw, &l), RUN_OK);
	CHECK(!(flags_get(c) & X86_ZF));
	CHECK_EQ(run(c, op_verr, &l), RUN_OK);
	CHECK(flags_get(c) & X86_ZF);
	done(c);
}

/* 32-bit protected mode: interrupt gate from CPL 3 takes SS0:ESP0 from a 32-bit TSS and pushes
   SS, ESP, EFLAGS, CS, EIP (and the error code) as dwords; IRETD returns to CPL 3. */
static void test_legacy(void)
{
	struct cpu *c = mk(true);
	u32 tss[26] = { 0 };

	c->efer = 0;
	c->cr4 = 0;
	w64(GDT + 0x48, 0x0000890030000067ull);
	w64(GDT + 0x50, 0x00cffb000000ffffull); /* 32-bit code, DPL 3 */
	tss[1] = 0x9000;			/* ESP0 */
	tss[2] = SEL_DATA;			/* SS0 */
	memcpy(ram + TSS, tss, sizeof(tss));
	c->seg[SEG_TR].limit = 0x67;
	c->seg[SEG_TR].ar = 0x8b;
	c->seg[SEG_CS].sel = 0x50 | 3;
	c->seg[SEG_CS].ar = 0xc0fb;
	c->idt.limit = 0x7ff;
	w64(IDT + 0x80 * 8, (HANDLER & 0xffff) | (u64)SEL_CODE32 << 16 | (u64)0xee << 40);
	w64(IDT + X86_GP * 8,
	    ((HANDLER + 0x10) & 0xffff) | (u64)SEL_CODE32 << 16 | (u64)0x8f << 40);
	cpu_update_mode(c);
	CHECK_EQ(c->mode, MODE_PROT);

	struct insn d = { .imm = 0x80, .len = 2 };
	c->gpr[R_RSP] = 0x7ff0;
	c->rip = 0x4000;
	CHECK_EQ(run(c, op_int, &d), RUN_OK);
	CHECK_EQ(c->rip, HANDLER);
	CHECK_EQ(c->cpl, 0);
	CHECK_EQ(c->seg[SEG_SS].sel, SEL_DATA);
	CHECK_EQ(c->gpr[R_RSP], 0x9000 - 20);
	CHECK_EQ(*(u32 *)(ram + 0x9000 - 4), SEL_DATA3 | 3);
	CHECK_EQ(*(u32 *)(ram + 0x9000 - 8), 0x7ff0);
	CHECK_EQ(*(u32 *)(ram + 0x9000 - 16), 0x50 | 3);
	CHECK_EQ(*(u32 *)(ram + 0x9000 - 20), 0x4002);
	CHECK_EQ(c->rflags & X86_IF, 0);

	struct insn ir = { .osz = 4, .len = 1 };
	CHECK_EQ(run(c, op_iret, &ir), RUN_OK);
	CHECK_EQ(c->cpl, 3);
	CHECK_EQ(c->rip, 0x4002);
	CHECK_EQ(c->gpr[R_RSP], 0x7ff0);
	CHECK_EQ(c->seg[SEG_CS].sel, 0x50 | 3);
	CHECK_EQ(c->code_bits, 32);

	/* A trap gate with an error code at CPL 0 stays on the current stack; IF unchanged. */
	cpu_set_cpl(c, 0);
	c->seg[SEG_SS] = c->seg[SEG_DS];
	c->seg[SEG_SS].sel = SEL_DATA;
	c->seg[SEG_SS].ar = 0xc093;
	c->seg[SEG_CS].sel = SEL_CODE32;
	c->seg[SEG_CS].ar = 0xc09b;
	cpu_update_mode(c);
	c->gpr[R_RSP] = 0x7000;
	c->rflags |= X86_IF;
	CHECK_EQ(deliver(c, X86_GP, 0x28), RUN_OK);
	CHECK_EQ(c->rip, HANDLER + 0x10);
	CHECK_EQ(c->gpr[R_RSP], 0x7000 - 16);
	CHECK_EQ(*(u32 *)(ram + 0x7000 - 16), 0x28);
	CHECK(c->rflags & X86_IF);
	done(c);
}

/* 64-bit call gate from CPL 3 to a DPL 0 code segment: RSP0, null SS, 4 quadwords; RETF back. */
static void test_call_gate(void)
{
	struct cpu *c = mk(true);
	u64 gate = (0x6000 & 0xffff) | (u64)SEL_CODE64 << 16 | (u64)0xec << 40;

	w64(GDT + 0x60, gate); /* 64-bit call gate, DPL 3 */
	w64(GDT + 0x68, 0);
	c->gdt.limit = 0x6f;
	w64(0x7000, 0x1234); /* offset, ignored */
	w64(0x7008, 0x60 | 3);
	struct insn d = { .osz = 8, .mem = 1, .base = R_RBX, .index = BASE_NONE, .asz = 8,
			  .seg = SEG_DS, .len = 3 };
	c->gpr[R_RBX] = 0x7000;
	CHECK_EQ(run(c, op_call_far_mem, &d), RUN_OK);
	CHECK_EQ(c->cpl, 0);
	CHECK_EQ(c->rip, 0x6000);
	CHECK_EQ(c->gpr[R_RSP], 0x9000 - 32);
	CHECK(c->seg[SEG_SS].ar & AR_UNUSABLE);
	CHECK_EQ(r64(0x9000 - 8), SEL_DATA3 | 3);
	CHECK_EQ(r64(0x9000 - 16), 0x8000);
	CHECK_EQ(r64(0x9000 - 24), SEL_CODE64_3 | 3);
	CHECK_EQ(r64(0x9000 - 32), 0x4003);

	/* DS holds a DPL 3 selector, which stays loaded on the return to CPL 3. */
	struct insn r = { .osz = 8, .len = 2 };
	CHECK_EQ(run(c, op_ret_far, &r), RUN_OK);
	CHECK_EQ(c->cpl, 3);
	CHECK_EQ(c->rip, 0x4003);
	CHECK_EQ(c->gpr[R_RSP], 0x8000);
	CHECK_EQ(c->seg[SEG_SS].sel, SEL_DATA3 | 3);
	CHECK(!(c->seg[SEG_DS].ar & AR_UNUSABLE));

	/* Gate DPL < CPL: #GP(gate selector). */
	ram[GDT + 0x60 + 5] = 0x8c;
	CHECK_EQ(run(c, op_call_far_mem, &d), RUN_FAULT);
	CHECK_EQ(c->fault_vector, X86_GP);
	CHECK_EQ(c->fault_error, 0x60);
	done(c);
}

static void test_misc_exits(void)
{
	struct cpu *c = mk(false);
	struct insn d = { .len = 3 };

	CHECK_EQ(run(c, op_cpuid, &d), RUN_EXIT);
	CHECK_EQ(ex.reason, EXIT_REASON_CPUID);
	CHECK_EQ(ex.insn_len, 0); /* filled by cpu_vmexit from c->insn, NULL here */
	CHECK_EQ(run(c, op_vmcall, &d), RUN_EXIT);
	CHECK_EQ(ex.reason, EXIT_REASON_VMCALL);
	d.sub = EXIT_REASON_VMPTRLD;
	CHECK_EQ(run(c, op_vmx, &d), RUN_EXIT);
	CHECK_EQ(ex.reason, EXIT_REASON_VMPTRLD);
	d.sub = EXIT_REASON_VMFUNC;
	CHECK_EQ(run(c, op_vmx, &d), RUN_FAULT);
	CHECK_EQ(run(c, op_xsetbv, &d), RUN_FAULT);
	CHECK_EQ(c->fault_vector, X86_UD);
	CHECK_EQ(run(c, op_invd, &d), RUN_EXIT);
	CHECK_EQ(ex.reason, EXIT_REASON_INVD);
	CHECK_EQ(run(c, op_wbinvd, &d), RUN_OK);
	c->ctl.proc = PROC_SECONDARY_CONTROLS;
	c->ctl.proc2 = PROC2_WBINVD_EXITING;
	CHECK_EQ(run(c, op_wbinvd, &d), RUN_EXIT);
	CHECK_EQ(ex.reason, EXIT_REASON_WBINVD);
	CHECK_EQ(run(c, op_rdpmc, &d), RUN_FAULT);
	c->ctl.proc |= PROC_RDPMC_EXITING | PROC_PAUSE_EXITING | PROC_MWAIT_EXITING |
		       PROC_MONITOR_EXITING;
	CHECK_EQ(run(c, op_rdpmc, &d), RUN_EXIT);
	CHECK_EQ(ex.reason, EXIT_REASON_RDPMC);
	CHECK_EQ(run(c, op_pause, &d), RUN_EXIT);
	CHECK_EQ(ex.reason, EXIT_REASON_PAUSE_INSTRUCTION);
	CHECK_EQ(run(c, op_monitor, &d), RUN_EXIT);
	CHECK_EQ(ex.reason, EXIT_REASON_MONITOR_INSTRUCTION);
	CHECK_EQ(run(c, op_mwait, &d), RUN_EXIT);
	CHECK_EQ(ex.reason, EXIT_REASON_MWAIT_INSTRUCTION);
	c->ctl.proc = 0;
	c->gpr[R_RCX] = 2;
	CHECK_EQ(run(c, op_mwait, &d), RUN_FAULT);

	/* HLT: exit, or the HLT state. */
	CHECK_EQ(run(c, op_hlt, &d), RUN_OK);
	CHECK_EQ(c->halted, 1);
	c->halted = 0;
	c->ctl.proc = PROC_HLT_EXITING;
	CHECK_EQ(run(c, op_hlt, &d), RUN_EXIT);
	CHECK_EQ(ex.reason, EXIT_REASON_HLT);

	/* INVLPG: qualification = linear address (FS base applies in 64-bit mode). */
	struct insn inv = { .mem = 1, .base = R_RAX, .index = BASE_NONE, .asz = 8, .seg = SEG_FS,
			    .disp = 0x10, .len = 3 };
	c->seg[SEG_FS].base = 0x100000;
	cpu_update_mode(c);
	c->gpr[R_RAX] = 0x2000;
	c->ctl.proc = PROC_INVLPG_EXITING;
	CHECK_EQ(run(c, op_invlpg, &inv), RUN_EXIT);
	CHECK_EQ(ex.qual, 0x102010);

	/* MOV DR exiting: DR number, direction, register. */
	struct insn dr = { .sub = 7, .rm = R_RDX, .len = 3 };
	c->ctl.proc = PROC_MOV_DR_EXITING;
	CHECK_EQ(run(c, op_mov_r_dr, &dr), RUN_EXIT);
	CHECK_EQ(ex.qual, 7 | BIT(4) | (R_RDX << 8));
	CHECK_EQ(run(c, op_mov_dr_r, &dr), RUN_EXIT);
	CHECK_EQ(ex.qual, 7 | (R_RDX << 8));

	/* Descriptor-table exiting: LIDT [rbx + rcx*4 + 8] in 64-bit mode. */
	struct insn li = { .mem = 1, .base = R_RBX, .index = R_RCX, .scale = 2, .disp = 8,
			   .asz = 8, .osz = 4, .seg = SEG_DS, .len = 4 };
	c->ctl.proc = PROC_SECONDARY_CONTROLS;
	c->ctl.proc2 = PROC2_DESC_TABLE_EXITING;
	CHECK_EQ(run(c, op_lidt, &li), RUN_EXIT);
	CHECK_EQ(ex.reason, EXIT_REASON_GDTR_IDTR);
	CHECK_EQ(ex.qual, 8);
	CHECK_EQ(ex.insn_info, 2 | 2 << 7 | BIT(11) | SEG_DS << 15 | R_RCX << 18 | R_RBX << 23 |
				       3u << 28);
	struct insn lt = { .rm = R_RAX, .osz = 2, .len = 3 };
	CHECK_EQ(run(c, op_ltr, &lt), RUN_EXIT);
	CHECK_EQ(ex.reason, EXIT_REASON_LDTR_TR);
	CHECK_EQ(ex.insn_info, R_RAX << 3 | BIT(10) | 3u << 28);
	c->ctl.proc = 0;

	/* INT3 with #BP in the exception bitmap: type 6 (software exception). */
	c->ctl.exception_bitmap = 1u << X86_BP;
	CHECK_EQ(run(c, op_int3, &d), RUN_EXIT);
	CHECK_EQ(ex.intr_info, 0x80000603);
	CHECK_EQ(c->rip, c->insn_rip);
	done(c);
}

static void test_flags_sysenter(void)
{
	struct cpu *c = mk(true);
	struct insn d = { .osz = 8, .len = 1 };

	/* POPF at CPL 3, IOPL 0: IF and IOPL kept, CF and AC written. */
	c->gpr[R_RSP] = 0x8000;
	w64(0x8000, X86_FIXED1 | X86_CF | X86_AC | X86_IOPL);
	c->rflags = X86_FIXED1 | X86_IF;
	CHECK_EQ(run(c, op_popf, &d), RUN_OK);
	CHECK_EQ(flags_get(c), X86_FIXED1 | X86_CF | X86_AC | X86_IF);
	CHECK_EQ(c->gpr[R_RSP], 0x8008);
	CHECK_EQ(run(c, op_cli, &d), RUN_FAULT);
	CHECK_EQ(run(c, op_pushf, &d), RUN_OK);
	CHECK_EQ(r64(0x8000), X86_FIXED1 | X86_CF | X86_AC | X86_IF);
	CHECK_EQ(run(c, op_swapgs, &d), RUN_FAULT);
	CHECK_EQ(c->fault_vector, X86_GP);

	/* SYSENTER/SYSEXIT (64-bit). */
	c->sysenter_cs = SEL_CODE64;
	c->sysenter_esp = 0x9000;
	c->sysenter_eip = 0x6100;
	CHECK_EQ(run(c, op_sysenter, &d), RUN_OK);
	CHECK_EQ(c->cpl, 0);
	CHECK_EQ(c->rip, 0x6100);
	CHECK_EQ(c->gpr[R_RSP], 0x9000);
	CHECK_EQ(c->mode, MODE_LONG);
	CHECK_EQ(c->rflags & X86_IF, 0);
	c->gpr[R_RDX] = 0x4444;
	c->gpr[R_RCX] = 0x7770;
	CHECK_EQ(run(c, op_sysexit, &d), RUN_OK);
	CHECK_EQ(c->cpl, 3);
	CHECK_EQ(c->rip, 0x4444);
	CHECK_EQ(c->gpr[R_RSP], 0x7770);
	CHECK_EQ(c->seg[SEG_CS].sel, (SEL_CODE64 + 32) | 3);

	/* SWAPGS at CPL 0. */
	cpu_set_cpl(c, 0);
	c->seg[SEG_GS].base = 0x1000;
	c->kernel_gs_base = 0x2000;
	CHECK_EQ(run(c, op_swapgs, &d), RUN_OK);
	CHECK_EQ(c->seg_base[SEG_GS], 0x2000);
	CHECK_EQ(c->kernel_gs_base, 0x1000);
	done(c);
}

/* Injection of a software interrupt pushes RIP + insn_len; TF single-steps with DR6.BS. */
static void test_inject_soft_and_step(void)
{
	struct cpu *c = mk(false);

	cpu_inject_event(c, 0x80, INTR_TYPE_SOFT_INTR, false, 0, 2);
	memset(&ex, 0, sizeof(ex));
	if (cpu_setjmp(c->jb) == 0)
		events_check(c);
	CHECK_EQ(c->rip, HANDLER);
	CHECK_EQ(r64(c->gpr[R_RSP]), 0x4002);

	c->rip = 0x4000;
	c->gpr[R_RSP] = 0x8000;
	c->rflags |= X86_TF;
	c->event_pending = 1;
	if (cpu_setjmp(c->jb) == 0)
		events_check(c);
	CHECK_EQ(c->single_step, 1);
	CHECK_EQ(c->one_insn, 1);
	CHECK_EQ(c->event_pending, 1);
	c->rip = 0x4001; /* the stepped instruction ran */
	c->one_insn = 0;
	gate64(X86_DB, HANDLER + 0x500, 0xe, 0, 0);
	if (cpu_setjmp(c->jb) == 0)
		events_check(c);
	CHECK_EQ(c->single_step, 0);
	CHECK_EQ(c->rip, HANDLER + 0x500);
	CHECK_EQ(r64(c->gpr[R_RSP]), 0x4001);
	CHECK(c->dr[6] & BIT(14));
	CHECK_EQ(c->rflags & X86_TF, 0);
	CHECK_EQ(c->event_pending, 0);
	done(c);
}

int main(void)
{
	test_descriptors();
	test_seg_check();
	test_cr();
	test_msr();
	test_io();
	test_delivery();
	test_faults();
	test_injection();
	test_syscall();
	test_far();
	test_legacy();
	test_call_gate();
	test_misc_exits();
	test_flags_sysenter();
	test_inject_soft_and_step();
	return check_done("sys");
}
