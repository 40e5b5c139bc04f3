// SPDX-License-Identifier: MIT
/*
 * Core integer handlers (ops_core.c) run on a bare struct cpu: real byte sequences are decoded
 * with x86_decode() and executed as the block loop does (c->insn_rip = c->rip; c->rip += len;
 * fn). Guest memory is a host buffer mapped through prefilled TLB entries, so no page walk and no
 * fault path is involved. Each group checks registers, memory, RIP and flags after the sequence.
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "cpu/ops_core.h"

#define MEM_BASE  0x100000ull
#define MEM_PAGES 16
#define CODE	  (MEM_BASE + 0x1000)
#define DATA	  (MEM_BASE + 0x8000)
#define STACK_TOP (MEM_BASE + 0xf000)

static struct cpu *c;
static u8 *mem;

static void map_memory(void)
{
	for (unsigned i = 0; i < TLB_SIZE; i++) {
		c->tlbs[0][i].tag_r = c->tlbs[0][i].tag_w = TLB_INVALID;
		c->tlbs[1][i].tag_r = c->tlbs[1][i].tag_w = TLB_INVALID;
	}
	for (unsigned i = 0; i < MEM_PAGES; i++) {
		u64 lin = MEM_BASE + i * PAGE_SIZE;
		struct tlb_entry *e = &c->tlbs[0][(lin >> 12) & (TLB_SIZE - 1)];

		e->tag_r = e->tag_w = lin;
		e->host = (uintptr_t)(mem + i * PAGE_SIZE) - lin;
		e->gpa = lin;
	}
	c->tlb = c->tlbs[0];
}

static void reset(unsigned bits)
{
	memset(c->gpr, 0, sizeof(c->gpr));
	memset(mem, 0, MEM_PAGES * PAGE_SIZE);
	c->rip = CODE;
	c->code_bits = bits;
	c->mode = bits == 64 ? MODE_LONG : MODE_PROT;
	c->stack_bytes = bits == 64 ? 8 : bits / 8;
	c->lin_mask = bits == 64 ? ~0ull : 0xffffffffull;
	c->seg[SEG_CS].limit = bits == 16 ? 0xffff : 0xffffffff;
	c->gpr[R_RSP] = STACK_TOP;
	flags_set(c, X86_FIXED1 | X86_IF);
}

/* Decode and execute the instructions in hex string s, one after the other. */
static void run(const char *s)
{
	u8 buf[256];
	size_t n = 0, off = 0;

	while (*s) {
		char *end;

		buf[n++] = (u8)strtoul(s, &end, 16);
		s = end;
		while (*s == ' ')
			s++;
	}
	while (off < n) {
		struct insn d;
		int len = x86_decode(&d, buf + off, n - off, c->code_bits);

		if (len <= 0 || (d.flags & INSN_INVALID)) {
			check_failed++;
			fprintf(stderr, "FAIL decode at offset %zu of the sequence\n", off);
			return;
		}
		c->insn = &d;
		c->insn_rip = c->rip;
		c->rip += d.len;
		d.fn(c, &d);
		off += (size_t)len;
	}
}

static u64 rd(u64 lin, unsigned size)
{
	u64 v = 0;

	memcpy(&v, mem + (lin - MEM_BASE), size);
	return v;
}

static void wr(u64 lin, u64 v, unsigned size)
{
	memcpy(mem + (lin - MEM_BASE), &v, size);
}

#define FLAGS(mask) (flags_get(c) & (mask))

static void test_alu(void)
{
	reset(64);
	c->gpr[R_RAX] = 5;
	c->gpr[R_RBX] = 7;
	run("48 01 d8"); /* add rax, rbx */
	CHECK_EQ(c->gpr[R_RAX], 12);
	CHECK_EQ(FLAGS(X86_ARITH_FLAGS), X86_PF);
	run("48 29 c3"); /* sub rbx, rax: 7 - 12 */
	CHECK_EQ(c->gpr[R_RBX], (u64)-5);
	CHECK_EQ(FLAGS(X86_CF | X86_SF | X86_ZF | X86_OF), X86_CF | X86_SF);

	/* 128-bit add with ADC, 128-bit subtract with SBB */
	reset(64);
	c->gpr[R_RAX] = ~0ull;
	c->gpr[R_RDX] = 1;
	c->gpr[R_RCX] = 1;
	c->gpr[R_RBX] = 0;
	run("48 01 c8 48 11 da"); /* add rax, rcx; adc rdx, rbx */
	CHECK_EQ(c->gpr[R_RAX], 0);
	CHECK_EQ(c->gpr[R_RDX], 2);
	run("48 29 c8 48 19 da"); /* sub rax, rcx; sbb rdx, rbx */
	CHECK_EQ(c->gpr[R_RAX], ~0ull);
	CHECK_EQ(c->gpr[R_RDX], 1);

	/* logic ops clear CF/OF; 32-bit results zero-extend */
	reset(64);
	c->gpr[R_RAX] = 0xffffffff00000f0full;
	c->gpr[R_RCX] = 0xff;
	run("f9 21 c8"); /* stc; and eax, ecx */
	CHECK_EQ(c->gpr[R_RAX], 0x0f);
	CHECK_EQ(FLAGS(X86_CF | X86_OF | X86_ZF), 0);
	run("31 c0"); /* xor eax, eax */
	CHECK_EQ(c->gpr[R_RAX], 0);
	CHECK_EQ(FLAGS(X86_ZF | X86_PF | X86_SF), X86_ZF | X86_PF);
	run("0c 80"); /* or al, 0x80 */
	CHECK_EQ(c->gpr[R_RAX], 0x80);
	CHECK_EQ(FLAGS(X86_SF), X86_SF);

	/* 8-bit high registers and 16-bit merges */
	reset(64);
	c->gpr[R_RAX] = 0x1111111111110102ull;
	run("00 c4"); /* add ah, al */
	CHECK_EQ(c->gpr[R_RAX], 0x1111111111110302ull);
	run("66 83 c0 ff"); /* add ax, -1 */
	CHECK_EQ(c->gpr[R_RAX], 0x1111111111110301ull);
	CHECK_EQ(FLAGS(X86_CF), X86_CF);
	run("b4 80 80 ec 01"); /* mov ah, 0x80; sub ah, 1 */
	CHECK_EQ((c->gpr[R_RAX] >> 8) & 0xff, 0x7f);
	CHECK_EQ(FLAGS(X86_OF | X86_CF), X86_OF);

	/* memory forms, CMP leaves the destination, LOCK on a memory destination */
	reset(64);
	c->gpr[R_RBX] = DATA;
	c->gpr[R_RAX] = 0x10;
	wr(DATA, 0xfffffff0, 4);
	run("01 03"); /* add [rbx], eax */
	CHECK_EQ(rd(DATA, 4), 0);
	CHECK_EQ(FLAGS(X86_ZF | X86_CF), X86_ZF | X86_CF);
	run("83 03 05 03 03"); /* add dword [rbx], 5; add eax, [rbx] */
	CHECK_EQ(rd(DATA, 4), 5);
	CHECK_EQ(c->gpr[R_RAX], 0x15);
	run("80 7b 01 00"); /* cmp byte [rbx+1], 0 */
	CHECK_EQ(FLAGS(X86_ZF), X86_ZF);
	run("39 03"); /* cmp [rbx], eax */
	CHECK_EQ(rd(DATA, 4), 5);
	CHECK_EQ(FLAGS(X86_CF | X86_ZF), X86_CF);
	run("f0 48 83 2b 06"); /* lock sub qword [rbx], 6 */
	CHECK_EQ(rd(DATA, 8), ~0ull);
	CHECK_EQ(FLAGS(X86_SF | X86_CF), X86_SF | X86_CF);
	run("f0 80 33 0f"); /* lock xor byte [rbx], 0x0f */
	CHECK_EQ(rd(DATA, 8), ~0ull ^ 0x0f);
	run("48 81 2b 00 00 00 80"); /* sub qword [rbx], -0x80000000 (imm32 sign-extended) */
	CHECK_EQ(rd(DATA, 8), (~0ull ^ 0x0f) + 0x80000000ull);
}

static void test_unary(void)
{
	reset(64);
	c->gpr[R_RCX] = 0x7fffffff;
	run("f9 ff c1"); /* stc; inc ecx: CF kept, OF set */
	CHECK_EQ(c->gpr[R_RCX], 0x80000000);
	CHECK_EQ(FLAGS(X86_CF | X86_OF | X86_SF | X86_ZF | X86_AF),
		 X86_CF | X86_OF | X86_SF | X86_AF);
	run("f8 ff c9"); /* clc; dec ecx */
	CHECK_EQ(c->gpr[R_RCX], 0x7fffffff);
	CHECK_EQ(FLAGS(X86_CF | X86_OF), X86_OF);
	run("f7 d9"); /* neg ecx */
	CHECK_EQ(c->gpr[R_RCX], 0x80000001);
	CHECK_EQ(FLAGS(X86_CF | X86_SF), X86_CF | X86_SF);
	run("48 f7 d1"); /* not rcx */
	CHECK_EQ(c->gpr[R_RCX], 0xffffffff7ffffffeull);
	run("31 c0 f6 d8"); /* xor eax, eax; neg al: CF = 0 for 0 */
	CHECK_EQ(FLAGS(X86_CF | X86_ZF), X86_ZF);

	c->gpr[R_RBX] = DATA;
	wr(DATA, 0xff, 1);
	run("fe 03"); /* inc byte [rbx] */
	CHECK_EQ(rd(DATA, 2), 0);
	CHECK_EQ(FLAGS(X86_ZF | X86_AF), X86_ZF | X86_AF);
	run("66 ff 0b f6 13"); /* dec word [rbx]; not byte [rbx] */
	CHECK_EQ(rd(DATA, 2), 0xff00);
	run("f6 1b"); /* neg byte [rbx] */
	CHECK_EQ(rd(DATA, 1), 0);

	/* TEST sets flags only */
	c->gpr[R_RAX] = 0x80;
	run("a8 80");
	CHECK_EQ(FLAGS(X86_ZF | X86_SF | X86_CF), X86_SF);
	run("48 85 c0");
	CHECK_EQ(FLAGS(X86_ZF | X86_SF), 0);
	run("f6 03 01"); /* test byte [rbx], 1 */
	CHECK_EQ(FLAGS(X86_ZF), X86_ZF);
	CHECK_EQ(c->gpr[R_RAX], 0x80);
}

static void test_mov(void)
{
	reset(64);
	c->gpr[R_RBX] = DATA;
	run("48 b8 88 77 66 55 44 33 22 11"); /* mov rax, imm64 */
	CHECK_EQ(c->gpr[R_RAX], 0x1122334455667788ull);
	run("89 c1"); /* mov ecx, eax */
	CHECK_EQ(c->gpr[R_RCX], 0x55667788);
	run("88 e2"); /* mov dl, ah */
	CHECK_EQ(c->gpr[R_RDX], 0x77);
	run("48 89 03 8a 63 07"); /* mov [rbx], rax; mov ah, [rbx+7] */
	CHECK_EQ(rd(DATA, 8), 0x1122334455667788ull);
	CHECK_EQ(c->gpr[R_RAX], 0x1122334455661188ull);
	run("c6 43 10 aa 66 c7 43 12 bb cc"); /* mov byte [rbx+16], 0xaa; mov word [rbx+18], ... */
	CHECK_EQ(rd(DATA + 16, 4), 0xccbb00aa);
	run("48 c7 c6 fe ff ff ff"); /* mov rsi, -2 */
	CHECK_EQ(c->gpr[R_RSI], (u64)-2);
	run("b0 01"); /* mov al, 1 */
	CHECK_EQ(c->gpr[R_RAX], 0x1122334455661101ull);

	/* moffs: 8-byte offset in 64-bit mode */
	wr(DATA + 0x40, 0xdeadbeefcafef00dull, 8);
	run("48 a1 40 80 10 00 00 00 00 00"); /* mov rax, [0x108040] */
	CHECK_EQ(c->gpr[R_RAX], 0xdeadbeefcafef00dull);
	run("a2 48 80 10 00 00 00 00 00"); /* mov [0x108048], al */
	CHECK_EQ(rd(DATA + 0x48, 1), 0x0d);

	/* RIP-relative: base is the next instruction */
	wr(CODE + 0x100 + 6, 0x5a5a, 2);
	c->rip = CODE + 0x100;
	run("8b 05 00 00 00 00"); /* mov eax, [rip+0] */
	CHECK_EQ(c->gpr[R_RAX], 0x5a5a);
	CHECK_EQ(c->rip, CODE + 0x106);

	/* LEA: address-size truncation, operand-size truncation */
	c->gpr[R_RAX] = 0xffffffff;
	c->gpr[R_RCX] = 0x10;
	run("48 8d 14 48"); /* lea rdx, [rax+rcx*2] */
	CHECK_EQ(c->gpr[R_RDX], 0x10000001full);
	run("67 48 8d 14 48"); /* lea rdx, [eax+ecx*2]: 32-bit address */
	CHECK_EQ(c->gpr[R_RDX], 0x1f);
	c->gpr[R_RDX] = ~0ull;
	run("66 8d 50 02"); /* lea dx, [rax+2] */
	CHECK_EQ(c->gpr[R_RDX], 0xffffffffffff0001ull);

	/* XCHG */
	c->gpr[R_RAX] = 1;
	c->gpr[R_R8] = 2;
	run("49 90"); /* xchg r8, rax */
	CHECK_EQ(c->gpr[R_RAX], 2);
	CHECK_EQ(c->gpr[R_R8], 1);
	wr(DATA, 0x33, 8);
	run("48 87 03"); /* xchg [rbx], rax */
	CHECK_EQ(c->gpr[R_RAX], 0x33);
	CHECK_EQ(rd(DATA, 8), 2);
	c->gpr[R_RAX] = 0xffffffff00000001ull;
	run("90"); /* NOP: no zero-extension */
	CHECK_EQ(c->gpr[R_RAX], 0xffffffff00000001ull);
	run("87 c0"); /* xchg eax, eax: zero-extends */
	CHECK_EQ(c->gpr[R_RAX], 1);
}

static void test_extend(void)
{
	reset(64);
	c->gpr[R_RBX] = DATA;
	c->gpr[R_RAX] = 0x8081;
	run("0f b6 cc"); /* movzx ecx, ah */
	CHECK_EQ(c->gpr[R_RCX], 0x80);
	run("48 0f be c8"); /* movsx rcx, al */
	CHECK_EQ(c->gpr[R_RCX], 0xffffffffffffff81ull);
	run("0f bf c8"); /* movsx ecx, ax */
	CHECK_EQ(c->gpr[R_RCX], 0xffff8081);
	wr(DATA, 0x80000000, 4);
	run("48 63 0b"); /* movsxd rcx, [rbx] */
	CHECK_EQ(c->gpr[R_RCX], 0xffffffff80000000ull);
	run("0f b7 0b"); /* movzx ecx, word [rbx] */
	CHECK_EQ(c->gpr[R_RCX], 0);
	run("66 0f be 4b 03"); /* movsx cx, byte [rbx+3] */
	CHECK_EQ(c->gpr[R_RCX], 0xff80);

	c->gpr[R_RAX] = 0x80;
	run("66 98"); /* cbw */
	CHECK_EQ(c->gpr[R_RAX], 0xff80);
	run("98"); /* cwde */
	CHECK_EQ(c->gpr[R_RAX], 0xffffff80);
	run("48 98"); /* cdqe */
	CHECK_EQ(c->gpr[R_RAX], ~0ull - 0x7f);
	run("48 99"); /* cqo */
	CHECK_EQ(c->gpr[R_RDX], ~0ull);
	c->gpr[R_RAX] = 0x7fffffff;
	run("99"); /* cdq */
	CHECK_EQ(c->gpr[R_RDX], 0);
	c->gpr[R_RDX] = 0x1234;
	c->gpr[R_RAX] = 0x8000;
	run("66 99"); /* cwd */
	CHECK_EQ(c->gpr[R_RDX], 0xffff);
}

static void test_flag_insns(void)
{
	reset(64);
	run("f9"); /* stc */
	CHECK_EQ(FLAGS(X86_CF), X86_CF);
	run("f5"); /* cmc */
	CHECK_EQ(FLAGS(X86_CF), 0);
	run("fd"); /* std */
	CHECK_EQ(FLAGS(X86_DF), X86_DF);
	run("fc"); /* cld */
	CHECK_EQ(FLAGS(X86_DF), 0);
	c->gpr[R_RAX] = 0;
	run("3c 01 9f"); /* cmp al, 1; lahf */
	CHECK_EQ((c->gpr[R_RAX] >> 8) & 0xff, X86_SF | X86_AF | X86_PF | X86_CF | X86_FIXED1);
	c->gpr[R_RAX] = (X86_ZF | X86_CF) << 8;
	run("9e"); /* sahf */
	CHECK_EQ(FLAGS(X86_ARITH_FLAGS), X86_ZF | X86_CF);
	CHECK_EQ(FLAGS(X86_IF | X86_FIXED1), X86_IF | X86_FIXED1);
}

static void test_branches(void)
{
	/* Jcc: a loop of 5 iterations: dec ecx; jnz -4 */
	reset(64);
	c->gpr[R_RCX] = 5;
	for (int i = 0; i < 5; i++) {
		c->rip = CODE;
		run("ff c9 75 fc");
	}
	CHECK_EQ(c->gpr[R_RCX], 0);
	CHECK_EQ(c->rip, CODE + 4);
	c->rip = CODE;
	c->gpr[R_RCX] = 2;
	run("ff c9 75 fc");
	CHECK_EQ(c->rip, CODE);

	/* signed/unsigned conditions after CMP */
	c->gpr[R_RAX] = (u64)-1;
	c->rip = CODE;
	run("48 83 f8 01 7c 10"); /* cmp rax, 1; jl +16 */
	CHECK_EQ(c->rip, CODE + 6 + 16);
	c->rip = CODE;
	run("48 83 f8 01 0f 82 00 01 00 00"); /* cmp rax, 1; jb +0x100: not taken */
	CHECK_EQ(c->rip, CODE + 10);

	/* JMP rel8/rel32 and indirect */
	c->rip = CODE;
	run("eb 10");
	CHECK_EQ(c->rip, CODE + 0x12);
	c->rip = CODE;
	run("e9 00 f0 ff ff");
	CHECK_EQ(c->rip, CODE + 5 - 0x1000);
	c->gpr[R_RAX] = CODE + 0x800;
	run("ff e0");
	CHECK_EQ(c->rip, CODE + 0x800);

	/* CALL/RET */
	c->rip = CODE;
	run("e8 fb 0f 00 00"); /* call +0xffb */
	CHECK_EQ(c->rip, CODE + 0x1000);
	CHECK_EQ(c->gpr[R_RSP], STACK_TOP - 8);
	CHECK_EQ(rd(STACK_TOP - 8, 8), CODE + 5);
	run("c3");
	CHECK_EQ(c->rip, CODE + 5);
	CHECK_EQ(c->gpr[R_RSP], STACK_TOP);

	c->gpr[R_RBX] = DATA;
	wr(DATA + 8, CODE + 0x300, 8);
	c->rip = CODE;
	run("ff 53 08"); /* call [rbx+8] */
	CHECK_EQ(c->rip, CODE + 0x300);
	CHECK_EQ(rd(STACK_TOP - 8, 8), CODE + 3);
	run("c2 10 00"); /* ret 16 */
	CHECK_EQ(c->rip, CODE + 3);
	CHECK_EQ(c->gpr[R_RSP], STACK_TOP + 16);
	c->gpr[R_RSP] = STACK_TOP;
	c->gpr[R_RDX] = CODE + 0x40;
	run("ff d2"); /* call rdx */
	CHECK_EQ(c->rip, CODE + 0x40);
	run("66 c3"); /* ret: 66 ignored in 64-bit mode */
	CHECK_EQ(c->gpr[R_RSP], STACK_TOP);

	/* SETcc, CMOVcc */
	c->gpr[R_RAX] = 3;
	c->gpr[R_RCX] = 0xffffffff00000007ull;
	c->gpr[R_RDX] = 9;
	run("83 f8 03 0f 94 c4"); /* cmp eax, 3; sete ah */
	CHECK_EQ(c->gpr[R_RAX], 0x103);
	run("0f 9f 03"); /* setg [rbx] */
	CHECK_EQ(rd(DATA, 1), 0);
	run("0f 45 ca"); /* cmovne ecx, edx: not taken, still zero-extends */
	CHECK_EQ(c->gpr[R_RCX], 7);
	run("48 0f 44 ca"); /* cmove rcx, rdx */
	CHECK_EQ(c->gpr[R_RCX], 9);
	wr(DATA, 0x55, 8);
	run("48 0f 4e 03"); /* cmovle rax, [rbx] */
	CHECK_EQ(c->gpr[R_RAX], 0x55);
}

static void test_stack(void)
{
	reset(64);
	c->gpr[R_RBX] = DATA;
	c->gpr[R_RAX] = 0x1122334455667788ull;
	run("50 41 57"); /* push rax; push r15 */
	CHECK_EQ(c->gpr[R_RSP], STACK_TOP - 16);
	CHECK_EQ(rd(STACK_TOP - 8, 8), 0x1122334455667788ull);
	run("41 5e 5a"); /* pop r14; pop rdx */
	CHECK_EQ(c->gpr[R_R14], 0);
	CHECK_EQ(c->gpr[R_RDX], 0x1122334455667788ull);
	CHECK_EQ(c->gpr[R_RSP], STACK_TOP);
	run("6a 80"); /* push -128 */
	CHECK_EQ(rd(STACK_TOP - 8, 8), (u64)-128);
	run("66 68 34 12"); /* push word 0x1234 */
	CHECK_EQ(c->gpr[R_RSP], STACK_TOP - 10);
	CHECK_EQ(rd(STACK_TOP - 10, 2), 0x1234);
	run("66 58"); /* pop ax */
	CHECK_EQ(c->gpr[R_RAX], 0x1122334455661234ull);
	run("54"); /* push rsp: the value before */
	CHECK_EQ(rd(STACK_TOP - 16, 8), STACK_TOP - 8);
	run("5c"); /* pop rsp */
	CHECK_EQ(c->gpr[R_RSP], STACK_TOP - 8);
	c->gpr[R_RSP] = STACK_TOP;
	wr(DATA, 0xabcdef, 8);
	run("ff 33 8f 43 08"); /* push [rbx]; pop [rbx+8] */
	CHECK_EQ(rd(DATA + 8, 8), 0xabcdef);
	CHECK_EQ(c->gpr[R_RSP], STACK_TOP);
	run("ff 33 8f 04 24"); /* push [rbx]; pop [rsp]: address after the increment */
	CHECK_EQ(rd(STACK_TOP, 8), 0xabcdef);
	CHECK_EQ(c->gpr[R_RSP], STACK_TOP);
	run("6a 07 8f c1"); /* push 7; pop rcx (8F /0 register form) */
	CHECK_EQ(c->gpr[R_RCX], 7);
}

static void test_32bit(void)
{
	reset(32);
	for (unsigned i = 0; i < 8; i++)
		c->gpr[i] = i == R_RSP ? STACK_TOP : 0x100 + i;
	run("60"); /* pusha */
	CHECK_EQ(c->gpr[R_RSP], STACK_TOP - 32);
	CHECK_EQ(rd(STACK_TOP - 4, 4), 0x100);
	CHECK_EQ(rd(STACK_TOP - 20, 4), STACK_TOP);
	CHECK_EQ(rd(STACK_TOP - 32, 4), 0x107);
	for (unsigned i = 0; i < 8; i++)
		if (i != R_RSP)
			c->gpr[i] = 0;
	run("61"); /* popa */
	CHECK_EQ(c->gpr[R_RAX], 0x100);
	CHECK_EQ(c->gpr[R_RDI], 0x107);
	CHECK_EQ(c->gpr[R_RBP], 0x105);
	CHECK_EQ(c->gpr[R_RSP], STACK_TOP);

	run("40 4b"); /* inc eax; dec ebx */
	CHECK_EQ(c->gpr[R_RAX], 0x101);
	CHECK_EQ(c->gpr[R_RBX], 0x102);

	c->rip = CODE;
	run("e8 10 00 00 00"); /* call: 4-byte return address */
	CHECK_EQ(c->gpr[R_RSP], STACK_TOP - 4);
	CHECK_EQ(rd(STACK_TOP - 4, 4), CODE + 5);
	CHECK_EQ(c->rip, CODE + 0x15);
	run("c3");
	CHECK_EQ(c->rip, CODE + 5);
	c->rip = CODE;
	run("66 eb 00"); /* jmp with osz 16: IP wraps to 16 bits */
	CHECK_EQ(c->rip, (CODE + 3) & 0xffff);
	c->rip = CODE;
	run("e9 00 00 00 80"); /* 32-bit EIP wraps */
	CHECK_EQ(c->rip, (CODE + 5 + 0x80000000ull) & 0xffffffff);
	c->rip = CODE;
	c->gpr[R_RAX] = 0;
	run("66 83 c0 01 a8 00 75 00"); /* osz 16 stack ops */
	run("66 50");
	CHECK_EQ(c->gpr[R_RSP], STACK_TOP - 2);
}

int main(void)
{
	c = calloc(1, sizeof(*c));
	mem = aligned_alloc(PAGE_SIZE, MEM_PAGES * PAGE_SIZE);
	if (!c || !mem)
		return 1;
	map_memory();
	test_alu();
	test_unary();
	test_mov();
	test_extend();
	test_flag_insns();
	test_branches();
	test_stack();
	test_32bit();
	free(mem);
	free(c);
	return check_done("ops_core");
}
