// SPDX-License-Identifier: MIT
/*
 * Unit tests of APIC virtualization in the software CPU (SDM vol. 3C chapter 30): the
 * virtual-APIC page, virtual-interrupt delivery, TPR/EOI/self-IPI virtualization, the
 * APIC-access page with and without APIC-register virtualization, x2APIC MSR virtualization,
 * and posted-interrupt processing, including a post from another host thread while the guest
 * runs. Code runs through cpu_run() from guest RAM in 64-bit mode at CPL 0 (paging off, as
 * test_vmxctl's CPU); the APIC-access page is 0xfee00000, above RAM.
 */
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "check.h"
#include "cpu/internal.h"
#include "vmx/vmx.h"

#define RAM_SIZE (1u << 20)
#define GDT 0x1000
#define IDT 0x2000
#define TSS 0x3000
#define CODE 0x4000
#define HANDLER 0x5000 /* 0x20 bytes per vector 0x30-0x6f */
#define VAPIC 0x9000
#define BITMAPS 0xa000 /* MSR bitmap */
#define PIDESC 0xb000
#define DATA 0xc000
#define APIC 0xfee00000u

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

static u32 r32(u64 a)
{
	u32 v;

	memcpy(&v, ram + a, 4);
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

/* A virtual-APIC register bit (SDM 30.1.1). */
static bool vbit(unsigned base, unsigned x)
{
	return r32(VAPIC + base + ((x & 0xe0) >> 1)) >> (x & 31) & 1;
}

static void vbit_set(unsigned base, unsigned x)
{
	u32 w = r32(VAPIC + base + ((x & 0xe0) >> 1)) | 1u << (x & 31);

	memcpy(ram + VAPIC + base + ((x & 0xe0) >> 1), &w, 4);
}

/* The handler of every vector 0x30-0x6f: count, EOI through the APIC-access page, halt. */
static const u8 handler_eoi_hlt[] = {
	0xb9, DATA & 0xff, DATA >> 8, 0, 0,     /* mov ecx, DATA */
	0x48, 0xff, 0x01,                       /* inc qword [rcx] */
	0xb8, 0xb0, 0x00, 0xe0, 0xfe,           /* mov eax, 0xfee000b0 */
	0xc7, 0x00, 0, 0, 0, 0,                 /* mov dword [rax], 0 */
	0xf4,                                   /* hlt */
};

static struct cpu *mk(void)
{
	struct cpu_config cfg = { 0 };
	struct x86_sregs s;
	struct cpu *c;

	ram = calloc(1, RAM_SIZE);
	cfg.ram = ram;
	cfg.ram_size = RAM_SIZE;
	c = cpu_create(&cfg);
	cpu_set_jit(c, 0);
	w64(GDT + 0x08, 0x00af9b000000ffffull);
	w64(GDT + 0x10, 0x00cf93000000ffffull);
	w64(GDT + 0x48, 0x0000890030002067ull);
	w64(TSS + 4, 0x9000);
	for (unsigned v = 0; v < 0x30; v++) {
		gate64(v, HANDLER - 0x100 + v * 4);
		ram[HANDLER - 0x100 + v * 4] = 0xf4;
	}
	for (unsigned v = 0x30; v < 0x70; v++) {
		gate64(v, HANDLER + (v - 0x30) * 0x20);
		memcpy(ram + HANDLER + (v - 0x30) * 0x20, handler_eoi_hlt, sizeof(handler_eoi_hlt));
	}
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
	/* The common APICv setup: TPR shadow, virtual-interrupt delivery (which needs
	   external-interrupt exiting), APIC accesses virtualized at 0xfee00000. */
	memset(&ctl, 0, sizeof(ctl));
	ctl.pin = PIN_EXTINT_EXITING;
	ctl.proc = PROC_TPR_SHADOW | PROC_SECONDARY_CONTROLS | PROC_USE_MSR_BITMAPS;
	ctl.proc2 = PROC2_VIRT_INTR_DELIVERY | PROC2_VIRT_APIC_ACCESSES;
	ctl.exit_ctls = EXIT_CTL_ACK_INTR_ON_EXIT;
	ctl.virtual_apic = ram + VAPIC;
	ctl.msr_bitmap = ram + BITMAPS;
	ctl.apic_access_addr = APIC;
	cpu_set_controls(c, &ctl);
	return c;
}

static void done(struct cpu *c)
{
	cpu_destroy(c);
	free(ram);
}

static void code(struct cpu *c, const void *bytes, size_t n)
{
	memcpy(ram + CODE, bytes, n);
	bc_invalidate_phys(c, CODE, 0x100);
	c->rip = CODE;
	c->halted = 0;
	c->rflags |= X86_IF; /* a handler that halted left it clear */
}

static enum cpu_run_result ran;

/* 0xffff when the guest halted: with external-interrupt exiting (which virtual-interrupt
   delivery needs) a halted CPU leaves through the host timer's exit 1. */
static u32 go(struct cpu *c)
{
	cpu_set_controls(c, &ctl);
	ran = cpu_run(c, &ex);
	if (ran == CPU_RUN_HALTED ||
	    (ex.reason == EXIT_REASON_EXTERNAL_INTERRUPT && c->halted))
		return 0xffff;
	return ex.reason;
}

static void set_status(struct cpu *c, u8 rvi, u8 svi)
{
	struct cpu_vmx_state st;

	cpu_get_vmx_state(c, &st);
	st.intr_status = (u16)(rvi | svi << 8);
	cpu_set_vmx_state(c, &st);
}

static u16 status(struct cpu *c)
{
	struct cpu_vmx_state st;

	cpu_get_vmx_state(c, &st);
	return st.intr_status;
}

/* RIP after the HLT of vector v's handler. */
#define IN_HANDLER(v) (HANDLER + ((v)-0x30) * 0x20 + sizeof(handler_eoi_hlt))

/* --- Virtual-interrupt delivery, PPR, EOI (30.1.3, 30.1.4, 30.2) --- */

static void test_delivery_and_eoi(void)
{
	struct cpu *c = mk();
	static const u8 nop_hlt[] = { 0x90, 0xf4 };

	/* Two virtual interrupts pending: 0x52 is delivered at entry; its handler's EOI
	   (virtualized, no exit) empties VISR and recognizes 0x31, which waits for RFLAGS.IF
	   (the gate cleared it): the handler halts with RVI 0x31. */
	vbit_set(0x200, 0x31);
	vbit_set(0x200, 0x52);
	set_status(c, 0x52, 0);
	code(c, nop_hlt, sizeof(nop_hlt));
	CHECK_EQ(go(c), 0xffff);
	CHECK_EQ(r64(DATA), 1);
	CHECK_EQ(c->rip, IN_HANDLER(0x52));
	CHECK(!vbit(0x100, 0x52) && !vbit(0x200, 0x52));
	CHECK(vbit(0x200, 0x31));
	CHECK_EQ(status(c), 0x31);
	CHECK_EQ(r32(VAPIC + 0xa0), 0);
	/* With IF set again, 0x31 wakes the HLT state; its EOI leaves nothing. */
	c->rflags |= X86_IF;
	CHECK_EQ(go(c), 0xffff);
	CHECK_EQ(r64(DATA), 2);
	CHECK_EQ(c->rip, IN_HANDLER(0x31));
	CHECK(!vbit(0x100, 0x31) && !vbit(0x200, 0x31));
	CHECK_EQ(status(c), 0);
	c->rflags |= X86_IF;

	/* A handler without EOI: VISR, SVI and VPPR keep the vector (30.2.2). */
	vbit_set(0x200, 0x44);
	set_status(c, 0x44, 0);
	code(c, nop_hlt, sizeof(nop_hlt));
	ram[HANDLER + (0x44 - 0x30) * 0x20] = 0xf4;
	CHECK_EQ(go(c), 0xffff);
	CHECK_EQ(c->rip, HANDLER + (0x44 - 0x30) * 0x20 + 1);
	CHECK(vbit(0x100, 0x44));
	CHECK(!vbit(0x200, 0x44));
	CHECK_EQ(status(c), 0x4400);
	CHECK_EQ(r32(VAPIC + 0xa0), 0x40);
	/* A lower vector is not delivered while 0x44 is in service (PPR class 4)... */
	vbit_set(0x200, 0x3a);
	set_status(c, 0x3a, 0x44);
	code(c, nop_hlt, sizeof(nop_hlt));
	CHECK_EQ(go(c), 0xffff);
	CHECK_EQ(c->rip, CODE + 2);
	CHECK(vbit(0x200, 0x3a));
	/* ...and RFLAGS.IF = 0 holds back a higher one. */
	vbit_set(0x200, 0x61);
	set_status(c, 0x61, 0x44);
	code(c, nop_hlt, sizeof(nop_hlt));
	c->rflags &= ~X86_IF;
	CHECK_EQ(go(c), 0xffff);
	CHECK_EQ(c->rip, CODE + 2);
	CHECK_EQ(status(c), 0x4461);
	done(c);
}

/* TPR virtualization with virtual-interrupt delivery (30.1.2): MOV to CR8 lowers VTPR, the
   pending interrupt is delivered after that instruction; without it, exit 43 below the
   threshold. */
static void test_tpr(void)
{
	struct cpu *c = mk();
	static const u8 lower[] = {
		0x31, 0xc0,             /* xor eax, eax */
		0x44, 0x0f, 0x22, 0xc0, /* mov cr8, rax */
		0xf4,                   /* hlt (not reached) */
	};
	static const u8 tpr_page[] = {
		0xb8, 0x80, 0x00, 0xe0, 0xfe, /* mov eax, 0xfee00080 */
		0xc7, 0x00, 0x10, 0, 0, 0,    /* mov dword [rax], 0x10 */
		0xf4,
	};

	ram[VAPIC + 0x80] = 0x50;
	vbit_set(0x200, 0x45);
	set_status(c, 0x45, 0);
	code(c, lower, sizeof(lower));
	CHECK_EQ(go(c), 0xffff);
	CHECK_EQ(r64(DATA), 1);
	CHECK_EQ(r64(0x8000 - 40), CODE + 6); /* the interrupted RIP: after MOV CR8 */
	CHECK_EQ(ram[VAPIC + 0x80], 0);

	/* A write of VTPR through the APIC-access page: bytes 3:1 cleared; without
	   virtual-interrupt delivery, TPR below threshold (trap-like exit 43). */
	ctl.pin = 0;
	ctl.proc2 = PROC2_VIRT_APIC_ACCESSES;
	ctl.tpr_threshold = 2;
	code(c, tpr_page, sizeof(tpr_page));
	CHECK_EQ(go(c), EXIT_REASON_TPR_BELOW_THRESHOLD);
	CHECK_EQ(ex.rip, CODE + 11);
	CHECK_EQ(r32(VAPIC + 0x80), 0x10);
	done(c);
}

/* --- The APIC-access page (30.4) --- */

static void test_apic_access(void)
{
	struct cpu *c = mk();
	static const u8 rd300[] = {
		0xb8, 0x00, 0x03, 0xe0, 0xfe, /* mov eax, 0xfee00300 */
		0x8b, 0x18,                   /* mov ebx, [rax] */
		0xf4,
	};
	static const u8 wr380[] = {
		0xb8, 0x80, 0x03, 0xe0, 0xfe, /* mov eax, 0xfee00380 */
		0xc7, 0x00, 0x78, 0x56, 0x34, 0x12, /* mov dword [rax], 0x12345678 */
		0xf4,
	};
	static const u8 rd82[] = {
		0xb8, 0x82, 0x00, 0xe0, 0xfe, /* mov eax, 0xfee00082 */
		0x8b, 0x18,                   /* mov ebx, [rax]: bytes 82H-85H */
		0xf4,
	};
	static const u8 fetch[] = {
		0xb8, 0x00, 0x00, 0xe0, 0xfe, /* mov eax, 0xfee00000 */
		0xff, 0xe0,                   /* jmp rax */
	};
	static const u8 icr_self[] = {
		0xb8, 0x00, 0x03, 0xe0, 0xfe,       /* mov eax, 0xfee00300 */
		0xc7, 0x00, 0x33, 0x40, 0x04, 0x00, /* mov dword [rax], 0x44033: self, fixed */
		0xf4,
	};
	static const u8 icr_other[] = {
		0xb8, 0x00, 0x03, 0xe0, 0xfe,       /* mov eax, 0xfee00300 */
		0xc7, 0x00, 0x33, 0x40, 0x00, 0x00, /* mov dword [rax], 0x4033: no shorthand */
		0xf4,
	};

	/* Without APIC-register virtualization only VTPR reads: ICR is an APIC-access exit,
	   fault-like, type 0 (linear read) with the offset. */
	memcpy(ram + VAPIC + 0x300, "\x11\x22\x33\x44", 4);
	code(c, rd300, sizeof(rd300));
	CHECK_EQ(go(c), EXIT_REASON_APIC_ACCESS);
	CHECK_EQ(ex.qual, 0x300);
	CHECK_EQ(ex.rip, CODE + 5);
	CHECK_EQ(ex.insn_len, 2);
	code(c, wr380, sizeof(wr380));
	CHECK_EQ(go(c), EXIT_REASON_APIC_ACCESS);
	CHECK_EQ(ex.qual, 0x1380);
	CHECK_EQ(ex.rip, CODE + 5);
	/* With it: the read comes from the virtual-APIC page; the write lands there and ends in
	   an APIC-write exit (trap-like) with the offset. */
	ctl.proc2 |= PROC2_APIC_REG_VIRT;
	code(c, rd300, sizeof(rd300));
	CHECK_EQ(go(c), 0xffff);
	CHECK_EQ(c->gpr[R_RBX], 0x44332211);
	code(c, wr380, sizeof(wr380));
	CHECK_EQ(go(c), EXIT_REASON_APIC_WRITE);
	CHECK_EQ(ex.qual, 0x380);
	CHECK_EQ(ex.rip, CODE + 11);
	CHECK_EQ(r32(VAPIC + 0x380), 0x12345678);
	/* Outside the low 4 bytes of its 16-byte region: exit. */
	code(c, rd82, sizeof(rd82));
	CHECK_EQ(go(c), EXIT_REASON_APIC_ACCESS);
	CHECK_EQ(ex.qual, 0x082);
	/* An instruction fetch: type 2. */
	code(c, fetch, sizeof(fetch));
	CHECK_EQ(go(c), EXIT_REASON_APIC_ACCESS);
	CHECK_EQ(ex.qual, 0x2000);
	CHECK_EQ(ex.rip, APIC);
	/* A self IPI through ICR low is virtualized: vector 0x33 delivered after the write. */
	memset(ram + DATA, 0, 8);
	code(c, icr_self, sizeof(icr_self));
	CHECK_EQ(go(c), 0xffff);
	CHECK_EQ(r64(DATA), 1);
	CHECK_EQ(c->rip, IN_HANDLER(0x33));
	/* An IPI to another destination is an APIC-write exit for the VMM to send. */
	code(c, icr_other, sizeof(icr_other));
	CHECK_EQ(go(c), EXIT_REASON_APIC_WRITE);
	CHECK_EQ(ex.qual, 0x300);
	CHECK_EQ(r32(VAPIC + 0x300), 0x4033);
	/* Without the TPR shadow every access exits; without the control, nothing is virtual. */
	ctl.proc &= ~PROC_TPR_SHADOW;
	ctl.proc2 = PROC2_VIRT_APIC_ACCESSES;
	ctl.pin = 0;
	code(c, rd300, sizeof(rd300));
	CHECK_EQ(go(c), EXIT_REASON_APIC_ACCESS);
	done(c);
}

/* EOI-exit bitmap: the EOI of such a vector is a trap-like EOI-induced exit (45). */
static void test_eoi_exit(void)
{
	struct cpu *c = mk();
	static const u8 nop_hlt[] = { 0x90, 0xf4 };

	ctl.eoi_exit[0x47 / 64] |= 1ull << (0x47 % 64);
	vbit_set(0x200, 0x47);
	set_status(c, 0x47, 0);
	code(c, nop_hlt, sizeof(nop_hlt));
	CHECK_EQ(go(c), EXIT_REASON_EOI_INDUCED);
	CHECK_EQ(ex.qual, 0x47);
	CHECK_EQ(ex.rip, HANDLER + (0x47 - 0x30) * 0x20 + 19); /* after the EOI write */
	CHECK(!vbit(0x100, 0x47));
	CHECK_EQ(status(c), 0);
	done(c);
}

/* --- x2APIC MSRs (30.5) --- */

static void test_x2apic(void)
{
	struct cpu *c = mk();
	static const u8 rd[] = {
		0x0f, 0x32, /* rdmsr */
		0xf4,
	};
	static const u8 wr[] = {
		0x0f, 0x30, /* wrmsr */
		0xf4,
	};

	ctl.proc2 = PROC2_VIRT_INTR_DELIVERY | PROC2_VIRT_X2APIC | PROC2_APIC_REG_VIRT;
	ram[VAPIC + 0x80] = 0x20;
	memcpy(ram + VAPIC + 0x300, "\x01\x02\x03\x04\x05\x06\x07\x08", 8);
	c->gpr[R_RCX] = 0x808;
	code(c, rd, sizeof(rd));
	CHECK_EQ(go(c), 0xffff);
	CHECK_EQ(c->gpr[R_RAX], 0x20);
	CHECK_EQ(c->gpr[R_RDX], 0);
	c->gpr[R_RCX] = 0x830; /* ICR: 8 bytes at 300H */
	code(c, rd, sizeof(rd));
	CHECK_EQ(go(c), 0xffff);
	CHECK_EQ(c->gpr[R_RAX], 0x04030201);
	CHECK_EQ(c->gpr[R_RDX], 0x08070605);
	/* EOI (80BH) is not readable: not virtualized, so #GP(0) as an unknown MSR. */
	c->gpr[R_RCX] = 0x80b;
	code(c, rd, sizeof(rd));
	CHECK_EQ(go(c), 0xffff);
	CHECK_EQ(c->rip, HANDLER - 0x100 + 13 * 4 + 1);
	/* A self IPI: 83FH with vector 0x51 (its handler's EOI goes to the APIC-access page,
	   which is off with x2APIC virtualization: halt at once instead). */
	ram[HANDLER + (0x51 - 0x30) * 0x20] = 0xf4;
	c->gpr[R_RCX] = 0x83f;
	c->gpr[R_RAX] = 0x51;
	c->gpr[R_RDX] = 0;
	ram[VAPIC + 0x80] = 0;
	code(c, wr, sizeof(wr));
	CHECK_EQ(go(c), 0xffff);
	CHECK_EQ(c->rip, HANDLER + (0x51 - 0x30) * 0x20 + 1);
	CHECK(vbit(0x100, 0x51));
	/* EOI through 80BH with 0. */
	c->gpr[R_RCX] = 0x80b;
	c->gpr[R_RAX] = 0;
	code(c, wr, sizeof(wr));
	CHECK_EQ(go(c), 0xffff);
	CHECK(!vbit(0x100, 0x51));
	CHECK_EQ(status(c), 0);
	/* EOI with a non-zero value: #GP(0). */
	c->gpr[R_RAX] = 1;
	code(c, wr, sizeof(wr));
	CHECK_EQ(go(c), 0xffff);
	CHECK_EQ(c->rip, HANDLER - 0x100 + 13 * 4 + 1);
	/* Self IPI of a vector below 16: APIC-write exit with 3F0H. */
	c->gpr[R_RCX] = 0x83f;
	c->gpr[R_RAX] = 0x05;
	code(c, wr, sizeof(wr));
	CHECK_EQ(go(c), EXIT_REASON_APIC_WRITE);
	CHECK_EQ(ex.qual, 0x3f0);
	CHECK_EQ(ex.rip, CODE + 2);
	/* TPR through 808H, reserved bits: #GP. */
	c->gpr[R_RCX] = 0x808;
	c->gpr[R_RAX] = 0x100;
	code(c, wr, sizeof(wr));
	CHECK_EQ(go(c), 0xffff);
	CHECK_EQ(c->rip, HANDLER - 0x100 + 13 * 4 + 1);
	/* The MSR bitmap still decides first. */
	ram[BITMAPS + 0x808 / 8] |= 1u << (0x808 % 8);
	code(c, rd, sizeof(rd));
	CHECK_EQ(go(c), EXIT_REASON_MSR_READ);
	done(c);
}

/* --- Posted interrupts (30.6) --- */

static void posted_setup(struct cpu *c)
{
	ctl.pin |= PIN_POSTED_INTERRUPTS;
	ctl.pi_desc = (u64 *)(ram + PIDESC);
	ctl.pi_nv = 0xf2;
	(void)c;
}

static void test_posted(void)
{
	struct cpu *c = mk();
	static const u8 nop_hlt[] = { 0x90, 0xf4 };

	posted_setup(c);
	/* PIR 0x38 and 0x66, ON: the notification vector moves both into VIRR, with no exit. */
	w64(PIDESC + 0, 1ull << 0x38);
	w64(PIDESC + 8, 1ull << (0x66 - 64));
	w64(PIDESC + 32, 1 | 0xf2ull << 16); /* ON, and the notification vector (VT-d's) */
	cpu_send_host_ipi(c, 0xf2);
	code(c, nop_hlt, sizeof(nop_hlt));
	CHECK_EQ(go(c), 0xffff);
	CHECK_EQ(r64(DATA), 1); /* 0x66; 0x38 is recognized at its EOI and waits for IF */
	CHECK_EQ(c->rip, IN_HANDLER(0x66));
	CHECK_EQ(status(c), 0x38);
	c->rflags |= X86_IF;
	CHECK_EQ(go(c), 0xffff);
	CHECK_EQ(r64(DATA), 2);
	CHECK_EQ(r64(PIDESC), 0);
	CHECK_EQ(r64(PIDESC + 8), 0);
	CHECK_EQ(r64(PIDESC + 32), 0xf2ull << 16); /* ON cleared, the rest kept */
	CHECK_EQ(status(c), 0);
	/* Another vector is an external interrupt: exit 1 with the vector acknowledged. */
	cpu_send_host_ipi(c, 0xec);
	code(c, nop_hlt, sizeof(nop_hlt));
	CHECK_EQ(go(c), EXIT_REASON_EXTERNAL_INTERRUPT);
	CHECK_EQ(ex.intr_info, 0xec | INTR_INFO_VALID);
	/* Without "process posted interrupts" the notification vector exits too. */
	ctl.pin &= ~PIN_POSTED_INTERRUPTS;
	cpu_send_host_ipi(c, 0xf2);
	code(c, nop_hlt, sizeof(nop_hlt));
	CHECK_EQ(go(c), EXIT_REASON_EXTERNAL_INTERRUPT);
	CHECK_EQ(ex.intr_info, 0xf2 | INTR_INFO_VALID);
	done(c);
}

/* A device thread posts while the vCPU runs a loop: the loop ends without a VM exit for it. */
struct poster {
	struct cpu *c;
	volatile int stop;
};

/* Post vector 0x3c every millisecond until the guest counted 3 (posts may coalesce). */
static void *post_thread(void *arg)
{
	struct poster *p = arg;
	u64 *desc = (u64 *)(ram + PIDESC);
	struct timespec ts = { 0, 1000000 };

	while (!p->stop && __atomic_load_n((u64 *)(ram + DATA), __ATOMIC_SEQ_CST) < 3) {
		nanosleep(&ts, NULL);
		__atomic_fetch_or(&desc[0x3c / 64], 1ull << (0x3c % 64), __ATOMIC_SEQ_CST);
		if (!(__atomic_fetch_or(&desc[4], 1, __ATOMIC_SEQ_CST) & 1))
			cpu_send_host_ipi(p->c, 0xf2);
	}
	return NULL;
}

static void test_posted_thread(void)
{
	struct cpu *c = mk();
	/* Spin until the handler has counted 3 interrupts; the handler EOIs and returns. */
	static const u8 spin[] = {
		0xb9, DATA & 0xff, DATA >> 8, 0, 0, /* mov ecx, DATA */
		0x48, 0x83, 0x39, 0x03,             /* 1: cmp qword [rcx], 3 */
		0x72, 0xfa,                         /* jb 1b */
		0xf4,
	};
	static const u8 handler_iret[] = {
		0x50, 0x51,                         /* push rax; push rcx */
		0xb9, DATA & 0xff, DATA >> 8, 0, 0, /* mov ecx, DATA */
		0xf0, 0x48, 0xff, 0x01,             /* lock inc qword [rcx] */
		0xb8, 0xb0, 0x00, 0xe0, 0xfe,       /* mov eax, 0xfee000b0 */
		0xc7, 0x00, 0, 0, 0, 0,             /* mov dword [rax], 0 */
		0x59, 0x58,                         /* pop rcx; pop rax */
		0x48, 0xcf,                         /* iretq */
	};
	struct poster p = { c, 0 };
	pthread_t t;
	unsigned other = 0, exits = 0;

	posted_setup(c);
	memcpy(ram + HANDLER + (0x3c - 0x30) * 0x20, handler_iret, sizeof(handler_iret));
	bc_invalidate_phys(c, HANDLER, 0x1000);
	cpu_set_jit(c, CPU_JIT_THRESHOLD);
	code(c, spin, sizeof(spin));
	pthread_create(&t, NULL, post_thread, &p);
	/* The host timer tick (vector 0xec) may exit on the way; nothing else does. */
	while (go(c) != 0xffff && ++exits < 100000) {
		if (ex.reason != EXIT_REASON_EXTERNAL_INTERRUPT ||
		    ex.intr_info != (0xec | INTR_INFO_VALID)) {
			other++;
			break;
		}
	}
	p.stop = 1;
	pthread_join(t, NULL);
	CHECK_EQ(other, 0);
	CHECK(exits < 100000);
	CHECK(r64(DATA) >= 3);
	CHECK_EQ(c->rip, CODE + sizeof(spin));
	done(c);
}

/* Which x2APIC MSR accesses "virtualize x2APIC mode" virtualizes (30.5), the set a VMM merging
   MSR bitmaps for a nested guest passes through (soft/nested.c). */
static void test_x2apic_virtualized(void)
{
	const u32 x2 = PROC2_VIRT_X2APIC, reg = x2 | PROC2_APIC_REG_VIRT,
		  vid = x2 | PROC2_VIRT_INTR_DELIVERY;

	/* Without virtualize x2APIC mode, or outside 800H-8FFH: nothing. */
	CHECK(!cpu_x2apic_virtualized(PROC2_APIC_REG_VIRT | PROC2_VIRT_INTR_DELIVERY, 0x808, false));
	CHECK(!cpu_x2apic_virtualized(reg, 0x7ff, false) && !cpu_x2apic_virtualized(reg, 0x900, false));
	/* Reads: only TPR without APIC-register virtualization; with it the readable registers,
	   PPR among them, never EOI, DFR or ICR high (Table 11-6). */
	CHECK(cpu_x2apic_virtualized(x2, 0x808, false) && !cpu_x2apic_virtualized(x2, 0x802, false));
	CHECK(cpu_x2apic_virtualized(reg, 0x802, false) && cpu_x2apic_virtualized(reg, 0x80a, false));
	CHECK(cpu_x2apic_virtualized(reg, 0x830, false) && cpu_x2apic_virtualized(reg, 0x838, false));
	CHECK(!cpu_x2apic_virtualized(reg, 0x839, false)); /* the timer's current count */
	CHECK(!cpu_x2apic_virtualized(reg, 0x80b, false) && !cpu_x2apic_virtualized(reg, 0x80e, false));
	CHECK(!cpu_x2apic_virtualized(reg, 0x831, false));
	/* Writes: TPR always; EOI and SELF IPI with virtual-interrupt delivery; nothing else. */
	CHECK(cpu_x2apic_virtualized(x2, 0x808, true) && !cpu_x2apic_virtualized(x2, 0x80b, true));
	CHECK(!cpu_x2apic_virtualized(x2, 0x83f, true));
	CHECK(cpu_x2apic_virtualized(vid, 0x80b, true) && cpu_x2apic_virtualized(vid, 0x83f, true));
	CHECK(!cpu_x2apic_virtualized(vid | PROC2_APIC_REG_VIRT, 0x830, true));
	CHECK(!cpu_x2apic_virtualized(vid | PROC2_APIC_REG_VIRT, 0x80f, true));
}

int main(void)
{
	test_x2apic_virtualized();
	test_delivery_and_eoi();
	test_tpr();
	test_apic_access();
	test_eoi_exit();
	test_x2apic();
	test_posted();
	test_posted_thread();
	return check_done("apicv");
}
