// SPDX-License-Identifier: MIT
/*
 * v86_32: virtual-8086 mode (SDM vol. 3B 20.2-20.3, no VME), entered by IRETD from CPL 0 and
 * left through interrupts and exceptions, as a v86 monitor uses it:
 *   - segments load as in real mode (base = selector << 4, all 16 bits of the selector kept),
 *     far CALL/RET, LDS, IRET at IOPL 3, which cannot change IOPL; POPF neither;
 *   - an interrupt or exception pushes GS, FS, DS, ES, SS, ESP, EFLAGS (VM = 1), CS, EIP on the
 *     TSS's ring-0 stack, the handler finds DS..GS null, and its IRETD restores all of them;
 *   - at IOPL < 3, CLI, STI, PUSHF, POPF, INT n and IRET are #GP(0); INT3 is not IOPL-sensitive
 *     (its DPL-0 gate gives #GP(vector * 8 + 2)); HLT and MOV CR are #GP(0) (CPL 3); IN/OUT
 *     consult the I/O permission bitmap whatever IOPL (this TSS has none: #GP(0));
 *   - ARPL, SLDT and LAR are #UD; a gate to a DPL-3 code segment is #GP(selector);
 *   - offsets beyond FFFFH: #GP(0) through DS, #SS(0) through SS, #GP(0) for a far JMP.
 * The v86 code is copied to linear 20000H (CS 2000H), data at 30000H (DS and ES 3000H), the
 * stack at 4FFF0H (SS 4000H); paging stays off.
 */
#include "lib.h"

#define V86_CS 0x2000
#define V86_DS 0x3000
#define V86_SS 0x4000
#define EFLAGS_VM (1u << 17)

extern u32 user_jb[8];
void jb_longjmp(u32 *jb, u32 ret) __attribute__((noreturn));
u32 v86_call(u32 ip, u32 eflags);
extern u8 v86_code[], v86_code_end[], v86_seg[], v86_far[], v86_sens[], v86_iopl3[];

/* u32 v86_call(ip, eflags): IRETD to V86_CS:ip with EFLAGS | VM; returns EDI when the v86 code
   leaves through INT 80H (through its gate at IOPL 3, through on_fault at IOPL < 3). */
asm(".text\n"
    ".globl v86_call\n"
    "v86_call:\n"
    "	movl (%esp), %ecx; movl %ecx, user_jb\n"
    "	leal 4(%esp), %ecx; movl %ecx, user_jb+4\n"
    "	movl %ebx, user_jb+8; movl %esi, user_jb+12; movl %edi, user_jb+16; movl %ebp, user_jb+20\n"
    "	movl 4(%esp), %eax\n"
    "	movl 8(%esp), %ecx\n"
    "	orl $0x20002, %ecx\n"
    "	pushl $0\n"      /* GS */
    "	pushl $0\n"      /* FS */
    "	pushl $0x3000\n" /* DS */
    "	pushl $0x3000\n" /* ES */
    "	pushl $0x4000\n" /* SS */
    "	pushl $0xfff0\n" /* ESP */
    "	pushl %ecx\n"    /* EFLAGS */
    "	pushl $0x2000\n" /* CS */
    "	pushl %eax\n"    /* EIP */
    "	iretl\n");

/* The v86 code; offsets from v86_code are its IPs. */
asm(".text\n"
    ".code16\n"
    ".globl v86_code, v86_code_end, v86_seg, v86_far, v86_sens, v86_iopl3\n"
    "v86_code:\n"
    /* IOPL 3: segments, far transfers, IRET, the IOPL kept. DI collects one bit per check. */
    "v86_seg:\n"
    "	xorl %edi, %edi\n"
    "	movw $0x5000, %ax; movw %ax, %fs\n"
    "	movw $0x6000, %ax; movw %ax, %gs\n"
    "	movw $0x1234, 0x10\n"
    "	pushw %ds; popw %es\n"
    "	movw %es:0x10, %ax; cmpw $0x1234, %ax; jne 1f; orw $1, %di\n"
    "1:	movw $0xbeef, %fs:4\n"
    "	movw %cs, %ax; cmpw $0x2000, %ax; jne 1f; orw $2, %di\n"
    "1:	lcall $0x2000, $(v86_far - v86_code)\n"
    "	cmpw $0x2000, %bx; jne 1f; orw $4, %di\n"
    /* CS 2001H: base 20010H, the selector kept whole */
    "1:	lcall $0x2001, $(v86_far - v86_code - 0x10)\n"
    "	cmpw $0x2001, %bx; jne 1f; orw $8, %di\n"
    "1:	movw $0x22, 0x40; movw $0x5001, 0x42\n"
    "	lds 0x40, %si\n"
    "	movw %ds, %ax; pushw $0x3000; popw %ds\n"
    "	cmpw $0x5001, %ax; jne 1f; cmpw $0x22, %si; jne 1f; orw $16, %di\n"
    /* IRET within v86 at IOPL 3: the image's IOPL 0 is not loaded */
    "1:	pushfw; andw $0xcfff, (%esp)\n"
    "	pushw %cs; pushw $(2f - v86_code); iretw\n"
    "2:	pushfw; popw %ax; andw $0x3000, %ax; cmpw $0x3000, %ax; jne 1f; orw $32, %di\n"
    /* POPF cannot clear IOPL either; 32-bit operands work (66H) */
    "1:	pushfl; andl $0xffffcfff, (%esp); popfl\n"
    "	pushfl; popl %eax; andl $0x3000, %eax; cmpl $0x3000, %eax; jne 1f; orw $64, %di\n"
    "1:	movl $0x89abcdef, %eax; roll $16, %eax; cmpw $0x89ab, %ax; jne 1f; orw $128, %di\n"
    /* CPUID exits to the VMM (soft) and VM entry returns to v86: its guest-state checks for
       virtual-8086 segments (SDM vol. 3C 26.3.1.2) pass */
    "1:	xorl %eax, %eax; xorl %ebx, %ebx; cpuid; testl %ebx, %ebx; jz 1f; orw $256, %di\n"
    "1:	int $0x80\n"
    "v86_far:\n"
    "	movw %cs, %bx\n"
    "	lret\n"
    /* IOPL 0: the sensitive, privileged and unrecognized instructions; on_fault steps over */
    "v86_sens:\n"
    "	movw $0x5000, %ax; movw %ax, %fs\n"
    "	movw $0x6000, %ax; movw %ax, %gs\n"
    "	movl $0x600d, %edi\n"
    "	cli\n"
    "	sti\n"
    "	pushfw\n"
    "	popfw\n"
    "	int $0x21\n"
    "	iretw\n"
    "	int3\n"
    "	hlt\n"
    "	outb %al, $0x80\n"
    "	inb $0x80, %al\n"
    "	arpl %ax, %ax\n"
    "	sldt %ax\n"
    "	larw %ax, %ax\n"
    "	movl %cr0, %eax\n"
    /* FS and GS survived the exits (each handler saw them null) */
    "	movw %fs, %ax; cmpw $0x5000, %ax; jne 1f\n"
    "	movw %gs, %ax; cmpw $0x6000, %ax; jne 1f\n"
    "	movl $0x900d, %edi\n"
    "1:	int $0x80\n"
    /* IOPL 3: what still faults */
    "v86_iopl3:\n"
    "	xorl %edi, %edi\n"
    "	cli; sti; cli\n"
    "	outb %al, $0x80\n"
    "	int3\n"
    "	int $0x81\n"
    "	movl $0x10000, %ebx; movl $0x10000, %ebp\n"
    "	addr32 movb (%ebx), %al\n"
    "	addr32 movb 0(%ebp), %al\n"
    "	ljmpl $0x2000, $0x10000\n"
    "	movl $0x3333, %edi\n"
    "	int $0x80\n"
    "v86_code_end:\n"
    ".code32\n");

struct event {
	u32 vector, error, eip, op, eflags;
	u32 es, ds, fs, gs; /* the frame's v86 selectors */
	u32 ds_in, es_in;   /* DS and ES as the handler found them */
};
static struct event ev[32];
static unsigned nev;

/* Length of the instructions v86_sens and v86_iopl3 fault on (opcode bytes at CS:IP). */
static unsigned insn_len(const u8 *ip)
{
	switch (ip[0]) {
	case 0xfa: case 0xfb: case 0x9c: case 0x9d: case 0xcf: case 0xcc: case 0xf4:
		return 1;
	case 0xcd: case 0xe6: case 0xe4: case 0x63:
		return 2;
	case 0x0f:
		return 3; /* 0F 00 C0, 0F 02 C0, 0F 20 C0 */
	case 0x67:
		return ip[2] == 0x45 ? 4 : 3; /* 67 8A 45 00, 67 8A 07 */
	case 0x66:
		return 8; /* 66 EA imm32 imm16 */
	}
	printf("FAIL v86: fault at an unexpected instruction %02x %02x\n", ip[0], ip[1]);
	exit(1);
}

static void on_fault(struct frame *f)
{
	u32 *v86 = &f->ss + 1, *pushed = (u32 *)f;
	const u8 *ip = (const u8 *)((f->cs << 4) + f->rip);
	struct event *e = &ev[nev < ARRAY_SIZE(ev) ? nev++ : nev - 1];

	e->vector = f->vector;
	e->error = f->error;
	e->eip = f->rip;
	e->op = ip[0] == 0xcd || ip[0] == 0x0f ? (u32)ip[0] << 8 | ip[1] : ip[0];
	e->eflags = f->rflags;
	e->es = v86[0];
	e->ds = v86[1];
	e->fs = v86[2];
	e->gs = v86[3];
	e->ds_in = pushed[-1] & 0xffff;
	e->es_in = pushed[-2] & 0xffff;
	if (!(f->rflags & EFLAGS_VM)) {
		printf("FAIL v86: vector %u outside v86 at %#x\n", f->vector, f->rip);
		exit(1);
	}
	if (ip[0] == 0xcd && ip[1] == VEC_USER_RETURN)
		jb_longjmp(user_jb, f->edi);
	f->rip += insn_len(ip);
}

static u32 ip_of(const u8 *label)
{
	return (u32)(label - v86_code);
}

static void test_segments(void)
{
	u32 r = v86_call(ip_of(v86_seg), RFLAGS_IOPL(3));
	struct frame *f = (struct frame *)last_fault.frame;
	u32 *v86 = &f->ss + 1, *pushed = (u32 *)f;

	check(r == 0x1ff, "v86 at IOPL 3: segments, far CALL/RET, LDS, IRET, IOPL kept, 32-bit operands, CPUID (%#x of 0x1ff)", r);
	check(*(volatile u16 *)0x30010 == 0x1234 && *(volatile u16 *)0x50004 == 0xbeef,
	      "v86 stores land at selector << 4 + offset");
	check(last_fault.vector == VEC_USER_RETURN && (f->rflags & EFLAGS_VM) && (f->rflags & 0x3000) == 0x3000,
	      "INT 80H from v86 at IOPL 3 reaches its DPL-3 gate, EFLAGS image with VM (%#x)", f->rflags);
	check(f->cs == V86_CS && f->rip == ip_of(v86_far) && f->ss == V86_SS && f->rsp == 0xfff0,
	      "frame: CS:EIP after INT, SS:ESP of v86 (cs %#x eip %#x ss %#x esp %#x)", f->cs, f->rip, f->ss, f->rsp);
	check(v86[0] == V86_DS && v86[1] == V86_DS && v86[2] == 0x5000 && v86[3] == 0x6000,
	      "frame: ES, DS, FS, GS above SS (%#x %#x %#x %#x)", v86[0], v86[1], v86[2], v86[3]);
	check((pushed[-1] & 0xffff) == 0 && (pushed[-2] & 0xffff) == 0, "the handler found DS and ES null");
}

static void expect(unsigned i, u32 vector, u32 op, u32 error, const char *what)
{
	if (i >= nev) {
		check(false, "%s: no fault (only %u)", what, nev);
		return;
	}
	check(ev[i].vector == vector && ev[i].op == op && ev[i].error == error, "%s: vector %u error %#x at %#x (got %u %#x at %#x)",
	      what, vector, error, op, ev[i].vector, ev[i].error, ev[i].op);
}

static void test_sensitive(void)
{
	u32 r;

	nev = 0;
	r = v86_call(ip_of(v86_sens), RFLAGS_IOPL(0));
	expect(0, GP_VECTOR, 0xfa, 0, "CLI at IOPL 0");
	expect(1, GP_VECTOR, 0xfb, 0, "STI at IOPL 0");
	expect(2, GP_VECTOR, 0x9c, 0, "PUSHF at IOPL 0");
	expect(3, GP_VECTOR, 0x9d, 0, "POPF at IOPL 0");
	expect(4, GP_VECTOR, 0xcd21, 0, "INT 21H at IOPL 0");
	expect(5, GP_VECTOR, 0xcf, 0, "IRET at IOPL 0");
	expect(6, GP_VECTOR, 0xcc, 3 * 8 + 2, "INT3 is not IOPL-sensitive: its DPL-0 gate");
	expect(7, GP_VECTOR, 0xf4, 0, "HLT at CPL 3");
	expect(8, GP_VECTOR, 0xe6, 0, "OUT: no I/O bitmap");
	expect(9, GP_VECTOR, 0xe4, 0, "IN: no I/O bitmap");
	expect(10, UD_VECTOR, 0x63, 0, "ARPL is #UD");
	expect(11, UD_VECTOR, 0x0f00, 0, "SLDT is #UD");
	expect(12, UD_VECTOR, 0x0f02, 0, "LAR is #UD");
	expect(13, GP_VECTOR, 0x0f20, 0, "MOV from CR0 is #GP(0)");
	expect(14, GP_VECTOR, 0xcd80, 0, "INT 80H at IOPL 0");
	check(nev == 15, "15 faults (%u)", nev);
	check(r == 0x900d, "FS and GS back after each IRETD to v86 (%#x)", r);
	check(ev[0].eflags & EFLAGS_VM && ev[0].fs == 0x5000 && ev[0].gs == 0x6000 && ev[0].ds == V86_DS &&
	      ev[0].es == V86_DS && ev[0].ds_in == 0 && ev[0].es_in == 0,
	      "#GP frame holds v86 ES DS FS GS; the handler sees them null");
	check(ev[1].eip == ev[0].eip + 1, "#GP at the instruction (eip %#x, %#x)", ev[0].eip, ev[1].eip);
}

static void test_iopl3(void)
{
	u64 *idt_base, saved;
	struct __attribute__((packed)) { u16 limit; u32 base; } idtr;
	u32 r;

	/* vector 81H: a DPL-3 interrupt gate to the DPL-3 code segment (SDM 20.3.1.1: #GP(sel)) */
	asm volatile("sidt %0" : "=m"(idtr));
	idt_base = (u64 *)idtr.base;
	saved = idt_base[0x81];
	idt_base[0x81] = (u64)SEL_UCODE32 << 16 | (u64)0xee << 40;
	nev = 0;
	r = v86_call(ip_of(v86_iopl3), RFLAGS_IOPL(3));
	idt_base[0x81] = saved;
	expect(0, GP_VECTOR, 0xe6, 0, "OUT at IOPL 3 still consults the bitmap");
	expect(1, GP_VECTOR, 0xcc, 3 * 8 + 2, "INT3 at IOPL 3: DPL-0 gate");
	expect(2, GP_VECTOR, 0xcd81, SEL_UCODE32 & ~3u, "INT to a DPL-3 code segment: #GP(selector)");
	expect(3, GP_VECTOR, 0x67, 0, "DS offset 10000H: #GP(0)");
	expect(4, SS_VECTOR, 0x67, 0, "SS offset 10000H: #SS(0)");
	expect(5, GP_VECTOR, 0x66, 0, "far JMP to offset 10000H: #GP(0)");
	check(nev == 6, "6 faults, CLI and STI allowed at IOPL 3 (%u)", nev);
	check(r == 0x3333, "INT 80H at IOPL 3 through its gate (%#x)", r);
}

int main(void)
{
	memcpy((void *)(V86_CS << 4), v86_code, v86_code_end - v86_code);
	set_handler(GP_VECTOR, on_fault);
	set_handler(UD_VECTOR, on_fault);
	set_handler(SS_VECTOR, on_fault);
	test_segments();
	test_sensitive();
	test_iopl3();
	set_handler(GP_VECTOR, NULL);
	set_handler(UD_VECTOR, NULL);
	set_handler(SS_VECTOR, NULL);
	return report();
}
