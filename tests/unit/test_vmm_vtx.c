// SPDX-License-Identifier: MIT
/*
 * The VMM's VT-x side: the EPT builder (walking the tables it built), the MMIO instruction
 * decoder and emulation, the policy (each --vmx switch, default1 bits, the model's own VM-entry
 * checks on the VMCS it programs), the hypercalls, exit-storm detection and the test device.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "cpu/cpu.h"
#include "arch/x86.h"
#include "devices/testdev.h"
#include "loader/loader.h"
#include "vmm/cpuid.h"
#include "vmm/ept.h"
#include "vmm/exits.h"
#include "vmm/hypercall.h"
#include "vmm/mmio.h"
#include "vmm/policy.h"
#include "vmm/shadow.h"
#include "soft/soft.h"
#include "vmm/vm.h"
#include "arch/vmx.h"
#include "vmx/vmcs.h"
#include "vmx/vmx.h"

/* ---- EPT ---- */

static void free_host_pages(struct vm *vm)
{
	for (unsigned i = 0; i < vm->nr_host_pages; i++)
		free(vm->host_pages[i]);
	free(vm->host_pages);
	free(vm->borrowed_pages);
}

static void test_ept(void)
{
	static struct vm vm;
	u64 eptp, *e;
	int level;

	memset(&vm, 0, sizeof(vm));
	vm.ram_size = (6ull << 20) + 0x1000;
	CHECK_EQ(vm_add_region(&vm, 0, vm.ram_size, MEM_RAM, "ram"), 0);
	CHECK_EQ(vm_add_region(&vm, TESTDEV_MMIO_BASE, TESTDEV_MMIO_SIZE, MEM_MMIO, "testdev"), 0);
	CHECK_EQ(ept_build(&vm, false, &eptp), 0);
	CHECK_EQ(eptp & 7, EPTP_MT_WB);
	CHECK_EQ(EPTP_WALK_LENGTH(eptp), 4);
	CHECK_EQ(eptp & EPTP_AD_ENABLE, 0);
	CHECK_EQ(eptp & ~0xfffull, VM_HOSTMEM_BASE); /* the first host page is the PML4 */

	e = ept_lookup(&vm, eptp, 0x1234, &level);
	CHECK(e != NULL);
	CHECK_EQ(level, 2); /* 2 MiB aligned RAM: a 2 MiB leaf */
	CHECK_EQ(*e & EPT_ADDR_MASK, 0);
	CHECK_EQ(*e & EPT_RWX, EPT_RWX);
	CHECK(*e & EPT_PS);
	CHECK_EQ((*e >> EPT_MT_SHIFT) & 7, EPTP_MT_WB);
	e = ept_lookup(&vm, eptp, (4ull << 20) + 0x10, &level);
	CHECK(e && level == 2 && (*e & EPT_ADDR_MASK) == 4ull << 20);
	e = ept_lookup(&vm, eptp, (6ull << 20) + 0xfff, &level); /* the tail: 4 KiB */
	CHECK(e && level == 1 && (*e & EPT_ADDR_MASK) == 6ull << 20);
	CHECK_EQ(*e & EPT_PS, 0);
	CHECK(ept_lookup(&vm, eptp, (6ull << 20) + 0x1000, &level) == NULL); /* past RAM */
	CHECK(ept_lookup(&vm, eptp, TESTDEV_MMIO_BASE, &level) == NULL);     /* MMIO */
	CHECK(ept_lookup(&vm, eptp, 1ull << 39, &level) == NULL);
	free_host_pages(&vm);

	/* 1 GiB of RAM: one 1 GiB leaf. */
	memset(&vm, 0, sizeof(vm));
	vm.ram_size = 1ull << 30;
	CHECK_EQ(vm_add_region(&vm, 0, vm.ram_size, MEM_RAM, "ram"), 0);
	CHECK_EQ(ept_build(&vm, false, &eptp), 0);
	e = ept_lookup(&vm, eptp, 0x3fffffff, &level);
	CHECK(e && level == 3 && (*e & EPT_ADDR_MASK) == 0);
	CHECK_EQ(vm.nr_host_pages, 2); /* PML4 and one PDPT */
	free_host_pages(&vm);

	/* With A/D flags (dirty logging): 4 KiB leaves only, and dirty flags to clear. */
	memset(&vm, 0, sizeof(vm));
	vm.ram_size = 4ull << 20;
	CHECK_EQ(vm_add_region(&vm, 0, vm.ram_size, MEM_RAM, "ram"), 0);
	CHECK_EQ(ept_build(&vm, true, &eptp), 0);
	CHECK(eptp & EPTP_AD_ENABLE);
	CHECK_EQ(vm.nr_host_pages, 5); /* PML4, PDPT, PD, two PTs */
	e = ept_lookup(&vm, eptp, 0x201000, &level);
	CHECK(e && level == 1 && (*e & EPT_ADDR_MASK) == 0x201000);
	*e |= EPT_A | EPT_D;
	*ept_lookup(&vm, eptp, 0x3ff000, &level) |= EPT_D;
	CHECK_EQ(ept_clear_dirty(&vm, eptp), 2);
	CHECK_EQ(*e & EPT_D, 0);
	CHECK(*e & EPT_A);
	CHECK_EQ(ept_clear_dirty(&vm, eptp), 0);
	free_host_pages(&vm);
}

static void test_host_memory(void)
{
	static struct vm vm;
	u64 hpa1, hpa2;
	u8 *p1, *p2;

	memset(&vm, 0, sizeof(vm));
	vm.ram_size = 1 << 20;
	vm.ram = calloc(1, vm.ram_size);
	p1 = vm_alloc_host_page(&vm, &hpa1);
	p2 = vm_alloc_host_page(&vm, &hpa2);
	CHECK(p1 && p2);
	CHECK_EQ(hpa1, VM_HOSTMEM_BASE);
	CHECK_EQ(hpa2, VM_HOSTMEM_BASE + 4096);
	CHECK(vm_host_ptr(&vm, hpa2 + 8, 8) == p2 + 8);
	CHECK(vm_host_ptr(&vm, hpa1 + 4095, 2) == NULL); /* crosses into the next page */
	CHECK(vm_host_ptr(&vm, hpa2 + 4096, 1) == NULL); /* not allocated */
	CHECK(vm_host_ptr(&vm, 0x1000, 16) == vm.ram + 0x1000);
	CHECK(vm_host_ptr(&vm, vm.ram_size - 4, 8) == NULL);
	CHECK(vm_host_ptr(&vm, vm.ram_size, 1) == NULL); /* between RAM and the VMM's pages */
	CHECK(vm_host_ptr(&vm, ~0ull - 3, 8) == NULL);
	free_host_pages(&vm);
	free(vm.ram);
}

/* ---- MMIO decoder ---- */

struct decode_case {
	enum mmio_mode mode;
	u8 bytes[16];
	u8 n;
	int ret;
	u8 len, size, reg, reg_size;
	bool write, has_imm, high8, sign;
	u64 imm;
};

static const struct decode_case decode_cases[] = {
	/* MOV r, r/m and r/m, r in every size */
	{ .mode = MMIO_MODE64,
	  .bytes = { 0x8b, 0x07 },
	  .n = 2,
	  .ret = 0,
	  .len = 2,
	  .size = 4,
	  .reg = 0,
	  .reg_size = 4 }, /* mov eax,[rdi] */
	{ .mode = MMIO_MODE64,
	  .bytes = { 0x48, 0x8b, 0x47, 0x08 },
	  .n = 4,
	  .ret = 0,
	  .len = 4,
	  .size = 8,
	  .reg = 0,
	  .reg_size = 8 }, /* mov rax,[rdi+8] */
	{ .mode = MMIO_MODE64,
	  .bytes = { 0x66, 0x89, 0x07 },
	  .n = 3,
	  .ret = 0,
	  .len = 3,
	  .size = 2,
	  .reg = 0,
	  .reg_size = 2,
	  .write = true }, /* mov [rdi],ax */
	{ .mode = MMIO_MODE64,
	  .bytes = { 0x88, 0x27 },
	  .n = 2,
	  .ret = 0,
	  .len = 2,
	  .size = 1,
	  .reg = 4,
	  .reg_size = 1,
	  .write = true,
	  .has_imm = false,
	  .high8 = true }, /* mov [rdi],ah */
	{ .mode = MMIO_MODE64,
	  .bytes = { 0x40, 0x88, 0x27 },
	  .n = 3,
	  .ret = 0,
	  .len = 3,
	  .size = 1,
	  .reg = 4,
	  .reg_size = 1,
	  .write = true }, /* mov [rdi],spl */
	{ .mode = MMIO_MODE64,
	  .bytes = { 0x8a, 0x0f },
	  .n = 2,
	  .ret = 0,
	  .len = 2,
	  .size = 1,
	  .reg = 1,
	  .reg_size = 1 }, /* mov cl,[rdi] */
	{ .mode = MMIO_MODE64,
	  .bytes = { 0x44, 0x8b, 0x07 },
	  .n = 3,
	  .ret = 0,
	  .len = 3,
	  .size = 4,
	  .reg = 8,
	  .reg_size = 4 }, /* mov r8d,[rdi] (REX.R) */
	{ .mode = MMIO_MODE64,
	  .bytes = { 0x4d, 0x89, 0x38 },
	  .n = 3,
	  .ret = 0,
	  .len = 3,
	  .size = 8,
	  .reg = 15,
	  .reg_size = 8,
	  .write = true }, /* mov [r8],r15 */
	{ .mode = MMIO_MODE64,
	  .bytes = { 0x41, 0x8b, 0x00 },
	  .n = 3,
	  .ret = 0,
	  .len = 3,
	  .size = 4,
	  .reg = 0,
	  .reg_size = 4 }, /* mov eax,[r8] (REX.B) */
	/* MOV r/m, imm: imm32 sign-extended with REX.W */
	{ .mode = MMIO_MODE64,
	  .bytes = { 0xc6, 0x07, 0x5a },
	  .n = 3,
	  .ret = 0,
	  .len = 3,
	  .size = 1,
	  .reg = 0,
	  .reg_size = 0,
	  .write = true,
	  .has_imm = true,
	  .high8 = false,
	  .sign = false,
	  .imm = 0x5a },
	{ .mode = MMIO_MODE64,
	  .bytes = { 0x66, 0xc7, 0x07, 0x34, 0x12 },
	  .n = 5,
	  .ret = 0,
	  .len = 5,
	  .size = 2,
	  .reg = 0,
	  .reg_size = 0,
	  .write = true,
	  .has_imm = true,
	  .high8 = false,
	  .sign = false,
	  .imm = 0x1234 },
	{ .mode = MMIO_MODE64,
	  .bytes = { 0xc7, 0x07, 0x78, 0x56, 0x34, 0x12 },
	  .n = 6,
	  .ret = 0,
	  .len = 6,
	  .size = 4,
	  .reg = 0,
	  .reg_size = 0,
	  .write = true,
	  .has_imm = true,
	  .high8 = false,
	  .sign = false,
	  .imm = 0x12345678 },
	{ .mode = MMIO_MODE64,
	  .bytes = { 0x48, 0xc7, 0x07, 0xfe, 0xff, 0xff, 0xff },
	  .n = 7,
	  .ret = 0,
	  .len = 7,
	  .size = 8,
	  .reg = 0,
	  .reg_size = 0,
	  .write = true,
	  .has_imm = true,
	  .high8 = false,
	  .sign = false,
	  .imm = ~1ull },
	{ .mode = MMIO_MODE64,
	  .bytes = { 0xc7, 0x47, 0x10, 1, 0, 0, 0 },
	  .n = 7,
	  .ret = 0,
	  .len = 7,
	  .size = 4,
	  .reg = 0,
	  .reg_size = 0,
	  .write = true,
	  .has_imm = true,
	  .high8 = false,
	  .sign = false,
	  .imm = 1 }, /* disp8 before the immediate */
	/* MOVZX/MOVSX */
	{ .mode = MMIO_MODE64,
	  .bytes = { 0x0f, 0xb6, 0x07 },
	  .n = 3,
	  .ret = 0,
	  .len = 3,
	  .size = 1,
	  .reg = 0,
	  .reg_size = 4 },
	{ .mode = MMIO_MODE64,
	  .bytes = { 0x0f, 0xb7, 0x17 },
	  .n = 3,
	  .ret = 0,
	  .len = 3,
	  .size = 2,
	  .reg = 2,
	  .reg_size = 4 },
	{ .mode = MMIO_MODE64,
	  .bytes = { 0x48, 0x0f, 0xbf, 0x07 },
	  .n = 4,
	  .ret = 0,
	  .len = 4,
	  .size = 2,
	  .reg = 0,
	  .reg_size = 8,
	  .write = false,
	  .has_imm = false,
	  .high8 = false,
	  .sign = true },
	{ .mode = MMIO_MODE64,
	  .bytes = { 0x66, 0x0f, 0xbe, 0x27 },
	  .n = 4,
	  .ret = 0,
	  .len = 4,
	  .size = 1,
	  .reg = 4,
	  .reg_size = 2,
	  .write = false,
	  .has_imm = false,
	  .high8 = false,
	  .sign = true },
	{ .mode = MMIO_MODE64,
	  .bytes = { 0x44, 0x0f, 0xb6, 0x0f },
	  .n = 4,
	  .ret = 0,
	  .len = 4,
	  .size = 1,
	  .reg = 9,
	  .reg_size = 4 }, /* movzx r9d, byte */
	/* MOV with moffs: the offset is address-sized */
	{ .mode = MMIO_MODE64,
	  .bytes = { 0xa1, 0, 0, 0xb0, 0xfe, 0, 0, 0, 0 },
	  .n = 9,
	  .ret = 0,
	  .len = 9,
	  .size = 4,
	  .reg = 0,
	  .reg_size = 4 },
	{ .mode = MMIO_MODE64,
	  .bytes = { 0x48, 0xa3, 0, 0, 0xb0, 0xfe, 0, 0, 0, 0 },
	  .n = 10,
	  .ret = 0,
	  .len = 10,
	  .size = 8,
	  .reg = 0,
	  .reg_size = 8,
	  .write = true },
	{ .mode = MMIO_MODE64,
	  .bytes = { 0x67, 0xa0, 0, 0, 0xb0, 0xfe },
	  .n = 6,
	  .ret = 0,
	  .len = 6,
	  .size = 1,
	  .reg = 0,
	  .reg_size = 1 },
	{ .mode = MMIO_MODE32,
	  .bytes = { 0xa2, 0, 0, 0xb0, 0xfe },
	  .n = 5,
	  .ret = 0,
	  .len = 5,
	  .size = 1,
	  .reg = 0,
	  .reg_size = 1,
	  .write = true },
	{ .mode = MMIO_MODE32,
	  .bytes = { 0x67, 0xa1, 0x10, 0 },
	  .n = 4,
	  .ret = 0,
	  .len = 4,
	  .size = 4,
	  .reg = 0,
	  .reg_size = 4 },
	/* ModRM forms: SIB, disp32 absolute, RIP-relative, segment override */
	{ .mode = MMIO_MODE64,
	  .bytes = { 0x8b, 0x04, 0x25, 0, 0, 0xb0, 0xfe },
	  .n = 7,
	  .ret = 0,
	  .len = 7,
	  .size = 4,
	  .reg = 0,
	  .reg_size = 4 },
	{ .mode = MMIO_MODE64,
	  .bytes = { 0x8b, 0x05, 1, 2, 3, 4 },
	  .n = 6,
	  .ret = 0,
	  .len = 6,
	  .size = 4,
	  .reg = 0,
	  .reg_size = 4 },
	{ .mode = MMIO_MODE64,
	  .bytes = { 0x8b, 0x44, 0x24, 0x08 },
	  .n = 4,
	  .ret = 0,
	  .len = 4,
	  .size = 4,
	  .reg = 0,
	  .reg_size = 4 },
	{ .mode = MMIO_MODE64,
	  .bytes = { 0x8b, 0x87, 0, 0x10, 0, 0 },
	  .n = 6,
	  .ret = 0,
	  .len = 6,
	  .size = 4,
	  .reg = 0,
	  .reg_size = 4 },
	{ .mode = MMIO_MODE64,
	  .bytes = { 0x8b, 0x84, 0x88, 0, 0x10, 0, 0 },
	  .n = 7,
	  .ret = 0,
	  .len = 7,
	  .size = 4,
	  .reg = 0,
	  .reg_size = 4 },
	{ .mode = MMIO_MODE64,
	  .bytes = { 0x64, 0x8b, 0x07 },
	  .n = 3,
	  .ret = 0,
	  .len = 3,
	  .size = 4,
	  .reg = 0,
	  .reg_size = 4 },
	{ .mode = MMIO_MODE32,
	  .bytes = { 0x3e, 0x66, 0x89, 0x1d, 0, 0, 0xb0, 0xfe },
	  .n = 8,
	  .ret = 0,
	  .len = 8,
	  .size = 2,
	  .reg = 3,
	  .reg_size = 2,
	  .write = true },
	/* 16-bit code: operand and address size 16 by default */
	{ .mode = MMIO_MODE16,
	  .bytes = { 0x8b, 0x07 },
	  .n = 2,
	  .ret = 0,
	  .len = 2,
	  .size = 2,
	  .reg = 0,
	  .reg_size = 2 },
	{ .mode = MMIO_MODE16,
	  .bytes = { 0x8b, 0x06, 0x34, 0x12 },
	  .n = 4,
	  .ret = 0,
	  .len = 4,
	  .size = 2,
	  .reg = 0,
	  .reg_size = 2 },
	{ .mode = MMIO_MODE16,
	  .bytes = { 0x66, 0x8b, 0x47, 0x02 },
	  .n = 4,
	  .ret = 0,
	  .len = 4,
	  .size = 4,
	  .reg = 0,
	  .reg_size = 4 },
	{ .mode = MMIO_MODE16,
	  .bytes = { 0x67, 0x8b, 0x04, 0x24 },
	  .n = 4,
	  .ret = 0,
	  .len = 4,
	  .size = 2,
	  .reg = 0,
	  .reg_size = 2 },
	/* Not decodable: string moves, register operands, C7 /1, other opcodes, 0x48 in 32-bit
	   mode (DEC EAX), a truncated fetch, a 16-byte instruction. */
	{ .mode = MMIO_MODE64, .bytes = { 0xf3, 0xa4 }, .n = 2, .ret = -EINVAL },
	{ .mode = MMIO_MODE64, .bytes = { 0x8b, 0xc0 }, .n = 2, .ret = -EINVAL },
	{ .mode = MMIO_MODE64, .bytes = { 0xc7, 0x4f, 0, 1, 0, 0, 0 }, .n = 7, .ret = -EINVAL },
	{ .mode = MMIO_MODE64, .bytes = { 0x0f, 0x0b }, .n = 2, .ret = -EINVAL },
	{ .mode = MMIO_MODE64, .bytes = { 0x01, 0x07 }, .n = 2, .ret = -EINVAL },
	{ .mode = MMIO_MODE32, .bytes = { 0x48, 0x8b, 0x07 }, .n = 3, .ret = -EINVAL },
	{ .mode = MMIO_MODE64, .bytes = { 0x8b }, .n = 1, .ret = -EAGAIN },
	{ .mode = MMIO_MODE64, .bytes = { 0x8b, 0x87, 0 }, .n = 3, .ret = -EAGAIN },
	{ .mode = MMIO_MODE64, .bytes = { 0x48, 0xa1, 0, 0 }, .n = 4, .ret = -EAGAIN },
	{ .mode = MMIO_MODE64,
	  .bytes = { 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66,
		     0x8b, 0x87, 0 },
	  .n = 16,
	  .ret = -EINVAL },
};

static void test_mmio_decode(void)
{
	for (size_t i = 0; i < ARRAY_SIZE(decode_cases); i++) {
		const struct decode_case *c = &decode_cases[i];
		unsigned failed = check_failed;
		struct mmio_insn insn;
		int ret = mmio_decode(c->bytes, c->n, c->mode, &insn);

		CHECK_EQ(ret, c->ret);
		if (ret || c->ret) {
			if (ret != c->ret)
				fprintf(stderr, "  decode case %zu\n", i);
			continue;
		}
		CHECK_EQ(insn.len, c->len);
		CHECK_EQ(insn.size, c->size);
		CHECK_EQ(insn.write, c->write);
		CHECK_EQ(insn.has_imm, c->has_imm);
		if (c->has_imm) {
			CHECK_EQ(insn.imm, c->imm);
		} else {
			CHECK_EQ(insn.reg, c->reg);
			CHECK_EQ(insn.high8, c->high8);
			CHECK_EQ(insn.sign_extend, c->sign);
			if (!c->write)
				CHECK_EQ(insn.reg_size, c->reg_size);
		}
		if (check_failed != failed)
			fprintf(stderr, "  (decode case %zu)\n", i);
	}
}

static void test_mmio_regs(void)
{
	struct mmio_insn i = { .size = 1, .reg_size = 8, .sign_extend = true };
	const u64 old = 0x1122334455667788ull;

	CHECK_EQ(mmio_reg_merge(&i, old, 0x80), 0xffffffffffffff80ull);
	i.reg_size = 4;
	CHECK_EQ(mmio_reg_merge(&i, old, 0x80), 0xffffff80ull); /* 32-bit: upper half zeroed */
	i.reg_size = 2;
	CHECK_EQ(mmio_reg_merge(&i, old, 0x7f), 0x112233445566007full);
	i.sign_extend = false;
	CHECK_EQ(mmio_reg_merge(&i, old, 0x80), 0x1122334455660080ull);
	i = (struct mmio_insn){ .size = 4, .reg_size = 4 };
	CHECK_EQ(mmio_reg_merge(&i, old, 0xdeadbeefcafef00dull), 0xcafef00dull);
	i = (struct mmio_insn){ .size = 2, .reg_size = 2 };
	CHECK_EQ(mmio_reg_merge(&i, old, 0xabcd), 0x112233445566abcdull);
	i = (struct mmio_insn){ .size = 1, .reg_size = 1 };
	CHECK_EQ(mmio_reg_merge(&i, old, 0xff), 0x11223344556677ffull);
	i.high8 = true;
	CHECK_EQ(mmio_reg_merge(&i, old, 0xab), 0x112233445566ab88ull);
	CHECK_EQ(mmio_reg_value(&i, old), 0x77);
	i = (struct mmio_insn){ .size = 8, .reg_size = 8 };
	CHECK_EQ(mmio_reg_merge(&i, old, 5), 5);
	CHECK_EQ(mmio_reg_value(&i, old), old);
	i.size = 2;
	CHECK_EQ(mmio_reg_value(&i, old), 0x7788);
}

/* ---- the scripted backend: exits, registers, and guest code at RIP ---- */

struct step {
	struct vm_exit exit;
	u64 rax, rbx, rcx, rdx;
};

static const struct step *script;
static unsigned script_len, script_pos;
static struct x86_regs regs;
static struct x86_sregs sregs;
static u8 code[64]; /* guest code at linear 0x1000 */
static int injected_vector = -1;

static int script_vcpu_create(struct vcpu *vcpu)
{
	return 0;
}

static enum backend_run_result script_run(struct vcpu *vcpu, struct vm_exit *exit)
{
	const struct step *s;

	if (script_pos == script_len) {
		*exit = (struct vm_exit){ .reason = EXIT_REASON_TRIPLE_FAULT };
		return BACKEND_RUN_EXIT;
	}
	s = &script[script_pos++];
	*exit = s->exit;
	regs.rip = s->exit.rip;
	regs.gpr[R_RAX] = s->rax;
	regs.gpr[R_RBX] = s->rbx;
	regs.gpr[R_RCX] = s->rcx;
	regs.gpr[R_RDX] = s->rdx;
	regs.rflags = X86_FIXED1;
	return BACKEND_RUN_EXIT;
}

static void script_get_regs(struct vcpu *vcpu, struct x86_regs *r)
{
	*r = regs;
}

static void script_set_regs(struct vcpu *vcpu, const struct x86_regs *r)
{
	regs = *r;
}

static void script_get_sregs(struct vcpu *vcpu, struct x86_sregs *s)
{
	*s = sregs;
}

static void script_set_sregs(struct vcpu *vcpu, const struct x86_sregs *s)
{
	sregs = *s;
}

static void script_inject_exception(struct vcpu *vcpu, u8 vector, bool has_error, u32 error)
{
	injected_vector = vector;
}

static void script_destroy(struct vcpu *vcpu)
{
}

static int script_read_guest_virt(struct vcpu *vcpu, u64 gva, void *buf, size_t len)
{
	if (gva < 0x1000 || gva - 0x1000 + len > sizeof(code))
		return -EFAULT;
	memcpy(buf, code + (gva - 0x1000), len);
	return 0;
}

static const struct backend_ops backend_script = {
	.name = "script",
	.vcpu_create = script_vcpu_create,
	.run = script_run,
	.get_regs = script_get_regs,
	.set_regs = script_set_regs,
	.get_sregs = script_get_sregs,
	.set_sregs = script_set_sregs,
	.inject_exception = script_inject_exception,
	.destroy = script_destroy,
	.read_guest_virt = script_read_guest_virt,
};

static void discard_tx(void *opaque, u8 byte)
{
}

static const struct uart_host no_console = { .tx = discard_tx };

static struct vm vm;

static int run_script(const struct step *steps, unsigned n)
{
	script = steps;
	script_len = n;
	script_pos = 0;
	injected_vector = -1;
	memset(&regs, 0, sizeof(regs));
	vm.devs = BIT(BOARD_DEV_TESTDEV); /* the MMIO scripts reach the test device */
	CHECK_EQ(vm_create(&vm, 4 << 20, &backend_script, &no_console), 0);
	return vm_run(&vm);
}

#define EXIT(reason_, len, rip_) .exit = { .reason = reason_, .insn_len = len, .rip = rip_ }
#define EXITQ(reason_, len, rip_, q)                                                               \
	.exit = { .reason = reason_, .insn_len = len, .rip = rip_, .qual = q }

/* An EPT violation on the test device with qualification `q`, the instruction at 0x1000. */
#define MMIO_EXIT(off, q)                                                                          \
	{                                                                                          \
		.exit = {                                                                          \
			.reason = EXIT_REASON_EPT_VIOLATION,                                       \
			.rip = 0x1000,                                                             \
			.qual = (q) | BIT(7) | BIT(8),                                             \
			.guest_phys = TESTDEV_MMIO_BASE + (off)                                    \
		}                                                                                  \
	}
#define EPT_R BIT(0)
#define EPT_W BIT(1)

static void long_mode_sregs(void)
{
	memset(&sregs, 0, sizeof(sregs));
	sregs.cr0 = CR0_PE | CR0_PG;
	sregs.efer = EFER_LME | EFER_LMA;
	sregs.seg[SEG_CS].ar = AR_L | AR_P | AR_S | 0xb;
}

static void test_mmio_emulate(void)
{
	static const struct step rd[] = { MMIO_EXIT(TESTDEV_REG_MAGIC, EPT_R) };
	static const struct step wr[] = { MMIO_EXIT(TESTDEV_REG_SCRATCH, EPT_W) };
	static const struct step rd8[] = { MMIO_EXIT(TESTDEV_REG_SCRATCH + 3, EPT_R) };
	static const struct step hole[] = {
		{ .exit = { .reason = EXIT_REASON_EPT_VIOLATION,
			    .rip = 0x1000,
			    .qual = EPT_R | BIT(7) | BIT(8),
			    .guest_phys = 0xc0000000 } },
	};
	static const struct step walk[] = { MMIO_EXIT(0, EPT_R) };
	struct step w = walk[0];

	long_mode_sregs();
	memcpy(code, (u8[]){ 0x8b, 0x07 }, 2); /* mov eax,[rdi] */
	CHECK_EQ(run_script(rd, 1), EXIT_STATUS_STOPPED);
	CHECK_EQ(regs.gpr[R_RAX], TESTDEV_MAGIC);
	CHECK_EQ(regs.rip, 0x1002);
	CHECK(strstr(vm.stop_msg, "triple fault"));
	vm_destroy(&vm);

	memcpy(code, (u8[]){ 0x48, 0xc7, 0x07, 0x88, 0x77, 0x66, 0x85 }, 7); /* mov qword, imm */
	CHECK_EQ(run_script(wr, 1), EXIT_STATUS_STOPPED);
	CHECK_EQ(regs.rip, 0x1007);
	CHECK_EQ(vm.testdev.scratch, 0xffffffff85667788ull);
	/* movsx ebx, byte [rdi] at SCRATCH+1 in the same VM's device */
	memcpy(code, (u8[]){ 0x0f, 0xbe, 0x1f }, 3);
	script = rd8, script_len = 1, script_pos = 0, vm.stop = false;
	regs.gpr[R_RBX] = 0x1234567812345678ull;
	vm_run(&vm);
	CHECK_EQ(regs.gpr[R_RBX], 0xffffff85ull); /* sign-extended to 32, zero above */
	vm_destroy(&vm);

	/* A hole reads as all ones (nothing on the bus), through mov ah,[rdi] */
	memcpy(code, (u8[]){ 0x8a, 0x27 }, 2);
	CHECK_EQ(run_script(hole, 1), EXIT_STATUS_STOPPED);
	CHECK_EQ(regs.gpr[R_RAX], 0xff00);
	CHECK_EQ(vm.mmio.unclaimed_reads, 1);
	vm_destroy(&vm);

	/* Undecodable: one message naming the bytes, RIP unchanged */
	memcpy(code, (u8[]){ 0xf3, 0xa5, 0x90 }, 3);
	CHECK_EQ(run_script(rd, 1), EXIT_STATUS_STOPPED);
	CHECK(strstr(vm.stop_msg, "cannot emulate the instruction at RIP 0x1000 (bytes: f3 a5 90"));
	CHECK_EQ(regs.rip, 0x1000);
	vm_destroy(&vm);

	/* The decoded direction must match the EPT violation's */
	memcpy(code, (u8[]){ 0x89, 0x07 }, 2);
	CHECK_EQ(run_script(rd, 1), EXIT_STATUS_STOPPED);
	CHECK(strstr(vm.stop_msg, "is a write but the EPT violation reports a read"));
	vm_destroy(&vm);

	/* A guest page walk into MMIO (bit 8 clear) stops with a dump */
	w.exit.qual = EPT_R | BIT(7);
	{
		FILE *saved = stderr;

		stderr = fopen("/dev/null", "w");
		CHECK_EQ(run_script(&w, 1), EXIT_STATUS_STOPPED);
		fclose(stderr);
		stderr = saved;
	}
	CHECK(strstr(vm.stop_msg, "page walk"));
	vm_destroy(&vm);
}

static void test_hypercalls(void)
{
	static const struct step steps[] = {
		{ EXIT(EXIT_REASON_CPUID, 2, 0x2000), .rax = 0 },
		{ EXIT(EXIT_REASON_VMCALL, 3, 0x2002), .rax = HC_LAST_EXIT, .rbx = HC_EXIT_REASON },
		{ EXIT(EXIT_REASON_VMCALL, 3, 0x2005), .rax = HC_LAST_EXIT, .rbx = HC_EXIT_RIP },
		{ EXIT(EXIT_REASON_VMCALL, 3, 0x2008), .rax = HC_LAST_EXIT,
		  .rbx = HC_EXIT_INSN_LEN },
		{ EXIT(EXIT_REASON_VMCALL, 3, 0x200b), .rax = HC_EXIT_COUNT, .rbx = 10 },
		{ EXIT(EXIT_REASON_VMCALL, 3, 0x200e), .rax = HC_EXIT_COUNT, .rbx = 18 },
		{ EXIT(EXIT_REASON_VMCALL, 3, 0x2011), .rax = HC_LAST_EXIT, .rbx = 99 },
		{ EXIT(EXIT_REASON_VMCALL, 3, 0x2014), .rax = HC_EXIT_COUNT, .rbx = 1000 },
	};
	u64 want[] = { 0, 10, 0x2000, 2, 1, 5, (u64)(s64)HC_EINVAL, (u64)(s64)HC_EINVAL };

	memset(&sregs, 0, sizeof(sregs));
	for (unsigned n = 2; n <= ARRAY_SIZE(steps); n++) {
		CHECK_EQ(run_script(steps, n), EXIT_STATUS_STOPPED);
		CHECK_EQ(regs.gpr[R_RAX], want[n - 1]);
		vm_destroy(&vm);
	}
}

static void test_handlers(void)
{
	static const struct step vmx[] = { { EXIT(EXIT_REASON_VMREAD, 3, 0x3000) } };
	static const struct step rdpmc[] = { { EXIT(EXIT_REASON_RDPMC, 2, 0x3000) } };
	static const struct step skip[] = {
		{ EXIT(EXIT_REASON_PAUSE_INSTRUCTION, 2, 0x3000) },
		{ EXIT(EXIT_REASON_MWAIT_INSTRUCTION, 3, 0x3002) },
		{ EXIT(EXIT_REASON_WBINVD, 2, 0x3005) },
	};
	static const struct step xsetbv_ok[] = {
		{ EXIT(EXIT_REASON_XSETBV, 3, 0x3000), .rax = 1, .rcx = 0 },
	};
	static const struct step xsetbv_sse[] = {
		{ EXIT(EXIT_REASON_XSETBV, 3, 0x3000), .rax = 3, .rcx = 0 },
	};
	static const struct step xsetbv_bad[] = {
		{ EXIT(EXIT_REASON_XSETBV, 3, 0x3000), .rax = 7, .rcx = 0 }, /* AVX: not offered */
	};
	static const struct step xsetbv_no_x87[] = {
		{ EXIT(EXIT_REASON_XSETBV, 3, 0x3000), .rax = 2, .rcx = 0 },
	};
	static const struct step xsetbv_xcr1[] = {
		{ EXIT(EXIT_REASON_XSETBV, 3, 0x3000), .rax = 1, .rcx = 1 },
	};
	static const struct step cr[] = {
		/* mov cr3, rbx; mov rax, cr3 (CR3 exiting: EPT off); CLTS; LMSW ax=0 (keeps PE) */
		{ EXITQ(EXIT_REASON_CR_ACCESS, 3, 0x3000, 3 | 0 << 4 | R_RBX << 8), .rbx = 0x5000 },
		{ EXITQ(EXIT_REASON_CR_ACCESS, 3, 0x3003, 3 | 1 << 4 | R_RAX << 8) },
		{ EXITQ(EXIT_REASON_CR_ACCESS, 2, 0x3006, 0 | 2 << 4) },
		{ EXITQ(EXIT_REASON_CR_ACCESS, 3, 0x3008, 0 | 3 << 4 | 0x0000ull << 16) },
		/* mov cr4, rbx with VMXE: #GP, RIP stays */
		{ EXITQ(EXIT_REASON_CR_ACCESS, 3, 0x300b, 4 | R_RBX << 8), .rbx = CR4_VMXE },
	};

	static const struct step ac[] = {
		{ .exit = { .reason = EXIT_REASON_EXCEPTION_NMI,
			    .rip = 0x3000,
			    .intr_info = X86_AC_VEC | INTR_TYPE_HARD_EXCEPTION << 8 |
					 INTR_INFO_DELIVER_CODE | INTR_INFO_VALID } },
	};
	static const struct step bp[] = {
		{ .exit = { .reason = EXIT_REASON_EXCEPTION_NMI,
			    .rip = 0x3000,
			    .intr_info = X86_BP | INTR_TYPE_SOFT_EXCEPTION << 8 |
					 INTR_INFO_VALID } },
	};
	static const struct step nmi[] = {
		{ .exit = { .reason = EXIT_REASON_EXCEPTION_NMI,
			    .rip = 0x3000,
			    .intr_info = 2 | INTR_TYPE_NMI << 8 | INTR_INFO_VALID } },
		{ .exit = { .reason = EXIT_REASON_EXTERNAL_INTERRUPT,
			    .rip = 0x3000,
			    .intr_info = 0xec | INTR_INFO_VALID } },
	};
	FILE *saved = stderr;

	memset(&sregs, 0, sizeof(sregs));
	/* #AC is in the exception bitmap: reflected with its error code */
	CHECK_EQ(run_script(ac, 1), EXIT_STATUS_STOPPED);
	CHECK_EQ(injected_vector, X86_AC_VEC);
	vm_destroy(&vm);
	/* #BP is not: the policy did not expect it, stop */
	stderr = fopen("/dev/null", "w");
	CHECK_EQ(run_script(bp, 1), EXIT_STATUS_STOPPED);
	fclose(stderr);
	stderr = saved;
	CHECK_EQ(injected_vector, -1);
	CHECK(!strcmp(vm.stop_msg, "unexpected VM exit 0 (EXCEPTION_NMI) at RIP 0x3000 "
				   "(--debug-dump prints the vCPU state)"));
	vm_destroy(&vm);
	/* A host NMI and the host's timer: nothing for the guest, it runs on */
	CHECK_EQ(run_script(nmi, 2), EXIT_STATUS_STOPPED);
	CHECK_EQ(script_pos, 2);
	CHECK_EQ(injected_vector, -1);
	CHECK(strstr(vm.stop_msg, "triple fault"));
	vm_destroy(&vm);

	CHECK_EQ(run_script(vmx, 1), EXIT_STATUS_STOPPED);
	CHECK_EQ(injected_vector, X86_UD);
	CHECK_EQ(regs.rip, 0x3000);
	vm_destroy(&vm);

	CHECK_EQ(run_script(rdpmc, 1), EXIT_STATUS_STOPPED);
	CHECK_EQ(injected_vector, X86_GP);
	vm_destroy(&vm);

	CHECK_EQ(run_script(skip, 3), EXIT_STATUS_STOPPED);
	CHECK_EQ(regs.rip, 0x3007);
	CHECK(strstr(vm.stop_msg, "triple fault"));
	vm_destroy(&vm);

	CHECK_EQ(run_script(xsetbv_ok, 1), EXIT_STATUS_STOPPED);
	CHECK_EQ(injected_vector, -1);
	CHECK_EQ(regs.rip, 0x3003);
	vm_destroy(&vm);
	CHECK_EQ(run_script(xsetbv_sse, 1), EXIT_STATUS_STOPPED);
	CHECK_EQ(injected_vector, -1);
	CHECK_EQ(regs.rip, 0x3003);
	vm_destroy(&vm);
	CHECK_EQ(run_script(xsetbv_bad, 1), EXIT_STATUS_STOPPED);
	CHECK_EQ(injected_vector, X86_GP);
	CHECK_EQ(regs.rip, 0x3000);
	vm_destroy(&vm);
	CHECK_EQ(run_script(xsetbv_no_x87, 1), EXIT_STATUS_STOPPED);
	CHECK_EQ(injected_vector, X86_GP);
	vm_destroy(&vm);
	CHECK_EQ(run_script(xsetbv_xcr1, 1), EXIT_STATUS_STOPPED);
	CHECK_EQ(injected_vector, X86_GP);
	vm_destroy(&vm);

	sregs.cr0 = CR0_PE | CR0_TS | CR0_MP;
	CHECK_EQ(run_script(cr, 1), EXIT_STATUS_STOPPED);
	CHECK_EQ(sregs.cr3, 0x5000);
	CHECK_EQ(regs.rip, 0x3003);
	vm_destroy(&vm);
	CHECK_EQ(run_script(cr, 2), EXIT_STATUS_STOPPED);
	CHECK_EQ(regs.gpr[R_RAX], 0x5000);
	vm_destroy(&vm);
	CHECK_EQ(run_script(cr, 3), EXIT_STATUS_STOPPED);
	CHECK_EQ(sregs.cr0 & CR0_TS, 0);
	vm_destroy(&vm);
	CHECK_EQ(run_script(cr, 4), EXIT_STATUS_STOPPED);
	CHECK_EQ(sregs.cr0 & (CR0_PE | CR0_MP), CR0_PE); /* LMSW cleared MP, cannot clear PE */
	vm_destroy(&vm);
	CHECK_EQ(run_script(cr, 5), EXIT_STATUS_STOPPED);
	CHECK_EQ(injected_vector, X86_GP);
	CHECK_EQ(regs.rip, 0x300b);
	CHECK_EQ(sregs.cr4 & CR4_VMXE, 0);
	vm_destroy(&vm);
}

/* ---- exit storms ---- */

static void test_exit_storm(void)
{
	const unsigned n = VMM_EXIT_STORM_LIMIT + 10;
	struct step *steps = calloc(n, sizeof(*steps));

	memset(&sregs, 0, sizeof(sregs));
	for (unsigned i = 0; i < n; i++)
		steps[i] = (struct step){ EXIT(EXIT_REASON_PAUSE_INSTRUCTION, 2, 0x4000) };
	/* The first exit's registers are not read (nothing to compare with): the storm's
	   repeats count from its second exit (exits.h). */
	CHECK_EQ(run_script(steps, n), EXIT_STATUS_STOPPED);
	CHECK_EQ(script_pos, VMM_EXIT_STORM_LIMIT + 1);
	CHECK(!strcmp(vm.stop_msg, "exit storm: PAUSE_INSTRUCTION at RIP 0x4000 (qualification 0) "
				   "repeated 100000 times without progress"));
	vm_destroy(&vm);

	/* Progress in a register (a counter the guest changes) is not a storm. */
	for (unsigned i = 0; i < n; i++)
		steps[i].rcx = i;
	CHECK_EQ(run_script(steps, n), EXIT_STATUS_STOPPED);
	CHECK_EQ(script_pos, n);
	CHECK(strstr(vm.stop_msg, "triple fault"));
	vm_destroy(&vm);

	/* Polling a port at one RIP with nothing changing is what a UART wait loop looks like. */
	for (unsigned i = 0; i < n; i++)
		steps[i] = (struct step){ .exit = { .reason = EXIT_REASON_IO_INSTRUCTION,
						    .insn_len = 1,
						    .rip = 0x4000,
						    .qual = 0x3fd0008,
						    .io = { .port = 0x3fd, .size = 1, .in = 1 } } };
	CHECK_EQ(run_script(steps, n), EXIT_STATUS_STOPPED);
	CHECK_EQ(script_pos, n);
	vm_destroy(&vm);

	/* Polling a port where no device is reads all ones forever: the guest spins on nothing. */
	for (unsigned i = 0; i < n; i++)
		steps[i].exit.io.port = 0x80, steps[i].exit.qual = 0x800008;
	CHECK_EQ(run_script(steps, n), EXIT_STATUS_STOPPED);
	CHECK_EQ(script_pos, VMM_EXIT_STORM_LIMIT + 1);
	CHECK(!strcmp(vm.stop_msg, "guest spins on a read of port 0x80 at RIP 0x4000, where no "
				   "device is (it reads all ones): 100000 times with the same "
				   "registers"));
	vm_destroy(&vm);
	free(steps);
}

/*
 * Exit storms on the soft CPU, which counts retired instructions: a multiboot image (a.out
 * kludge, loaded at 1 MiB, entry after the 32-byte header) with `code`.
 */
static void (*soft_setup)(void); /* called before the run, when set */
static bool soft_fast; /* vm.fast_exits (--exit-path fast) for the run */

static void load_soft_code(const u8 *insns, size_t len)
{
	static struct boot_plan plan;
	u8 img[512] = { 0 };
	u32 hdr[8] = { 0x1badb002,	  1u << 16, (u32) - (0x1badb002 + (1u << 16)),
		       0x100000,	  0x100000, 0x100000 + 32 + (u32)len,
		       0x100000 + 0x1000, 0x100020 };

	memcpy(img, hdr, sizeof(hdr));
	memcpy(img + 32, insns, len);
	memset(&vm, 0, sizeof(vm));
	vm.fast_exits = soft_fast;
	CHECK_EQ(multiboot_load(img, 32 + len, "storm", 4 << 20, &plan), 0);
	CHECK_EQ(vm_create(&vm, 4 << 20, &backend_soft, &no_console), 0);
	CHECK_EQ(vm_load_boot_plan(&vm, &plan), 0);
}

static int run_soft_code(const u8 *insns, size_t len)
{
	load_soft_code(insns, len);
	if (soft_setup)
		soft_setup();
	return vm_run(&vm);
}

/*
 * cpu_kick() (what the VMM's signal handler calls): the next run of a guest spinning without
 * exits ends at once with exit 1, the kick's vector acknowledged (SDM 26.2, 28.2.2); the run
 * after that goes on until the host's timer tick.
 */
static void test_cpu_kick(void)
{
	static const u8 spin[] = { 0xeb, 0xfe }; /* 1: jmp 1b */
	struct vm_exit exit = { 0 };

	load_soft_code(spin, sizeof(spin));
	cpu_kick(soft_vcpu_cpu(&vm.vcpus[0]));
	backend_soft.run(&vm.vcpus[0], &exit);
	CHECK_EQ(exit.reason, EXIT_REASON_EXTERNAL_INTERRUPT);
	CHECK_EQ(exit.intr_info, 0xfd | INTR_TYPE_EXT_INTR << 8 | INTR_INFO_VALID);
	CHECK_EQ(exit.rip, 0x100020);
	backend_soft.run(&vm.vcpus[0], &exit);
	CHECK_EQ(exit.reason, EXIT_REASON_EXTERNAL_INTERRUPT);
	CHECK_EQ(exit.intr_info & 0xff, 0xec); /* the host timer, 2^22 instructions later */
	vm_destroy(&vm);
}

/*
 * soft_get_sregs after an exit takes the segments, descriptor tables and CRs from the CPU,
 * which the exit has just saved to the VMCS unchanged; once the VMM writes guest state, from
 * the VMCS. Both must equal the guest-state area field by field.
 */
static void check_sregs_are_vmcs(const struct x86_sregs *s, const struct vmcs *v)
{
	const u64 *sel = &v->guest_es_selector, *base = &v->guest_es_base;
	const u64 *limit = &v->guest_es_limit, *ar = &v->guest_es_ar_bytes;

	for (int i = 0; i < 8; i++) {
		CHECK_EQ(s->seg[i].sel, sel[i]);
		CHECK_EQ(s->seg[i].base, base[i]);
		CHECK_EQ(s->seg[i].limit, limit[i]);
		CHECK_EQ(s->seg[i].ar, ar[i]);
	}
	CHECK_EQ(s->gdt.base, v->guest_gdtr_base);
	CHECK_EQ(s->gdt.limit, v->guest_gdtr_limit);
	CHECK_EQ(s->idt.base, v->guest_idtr_base);
	CHECK_EQ(s->idt.limit, v->guest_idtr_limit);
	CHECK_EQ(s->cr3, v->guest_cr3);
	CHECK_EQ(s->cr0, (v->guest_cr0 & ~v->cr0_guest_host_mask) |
				 (v->cr0_read_shadow & v->cr0_guest_host_mask));
}

static void test_sregs_after_exit(void)
{
	static const u8 cpuid_loop[] = { 0x0f, 0xa2, 0xeb, 0xfc }; /* 1: cpuid; jmp 1b */
	struct vm_exit exit = { 0 };
	struct vcpu *vcpu;
	struct vmcs *v;
	struct x86_sregs s;

	load_soft_code(cpuid_loop, sizeof(cpuid_loop));
	vcpu = &vm.vcpus[0];
	v = soft_vcpu_vmcs(vcpu);
	backend_soft.run(vcpu, &exit);
	CHECK_EQ(exit.reason, EXIT_REASON_CPUID);
	CHECK(!(v->guest_dirty & VMCS_DIRTY_STATE));
	backend_soft.get_sregs(vcpu, &s);
	check_sregs_are_vmcs(&s, v);
	/* The VMM's write goes to the VMCS; the CPU has it only at the next entry. */
	s.seg[SEG_DS].base = 0x12345000;
	s.gdt.limit = 0x3f;
	backend_soft.set_sregs(vcpu, &s);
	CHECK(v->guest_dirty & VMCS_DIRTY_STATE);
	memset(&s, 0, sizeof(s));
	backend_soft.get_sregs(vcpu, &s);
	CHECK_EQ(s.seg[SEG_DS].base, 0x12345000);
	CHECK_EQ(s.gdt.limit, 0x3f);
	check_sregs_are_vmcs(&s, v);
	vm_destroy(&vm);
}

/* A device on port 0x80 that ends the run after 150000 writes (more than the storm limit). */
static unsigned port80_writes;

static void port80_access(void *opaque, u64 offset, u64 *data, unsigned len, bool is_write)
{
	if (is_write && ++port80_writes == 150000)
		vm_request_stop(&vm, 0x42, "port 0x80 written %u times", port80_writes);
}

static void port80_add(void)
{
	port80_writes = 0;
	CHECK_EQ(bus_register_range(&vm.pio, 0x80, 1, port80_access, NULL, "port80"), 0);
}

/*
 * Decoded code at VM level: the guest loops "mov eax, imm32; out 0x80, al"; after its first OUT
 * the VMM rewrites the immediate through vm_write_phys (as a device's DMA would), and the next
 * pass must run the new bytes, not the block decoded before (SDM vol. 3A 11.6).
 */
static u64 smc_values[2];
static unsigned smc_count;

static void smc_port80(void *opaque, u64 offset, u64 *data, unsigned len, bool is_write)
{
	static const u8 two = 2;

	if (!is_write || smc_count >= 2)
		return;
	smc_values[smc_count++] = *data & 0xff;
	if (smc_count == 1)
		CHECK_EQ(vm_write_phys(&vm, 0x100021, &two, 1), 0);
	else
		vm_request_stop(&vm, 0x42, "%s", "");
}

static void test_vm_code_written(void)
{
	/* 1: mov eax, 1; out 0x80, al; jmp 1b */
	static const u8 loop[] = { 0xb8, 0x01, 0, 0, 0, 0xe6, 0x80, 0xeb, 0xf7 };

	smc_count = 0;
	load_soft_code(loop, sizeof(loop));
	CHECK_EQ(bus_register_range(&vm.pio, 0x80, 1, smc_port80, NULL, "port80"), 0);
	CHECK_EQ(vm_run(&vm), 0x42);
	CHECK_EQ(smc_count, 2);
	CHECK_EQ(smc_values[0], 1);
	CHECK_EQ(smc_values[1], 2);
	CHECK_EQ(vm_write_phys(&vm, vm.ram_size - 1, loop, 2), -EFAULT);
	vm_destroy(&vm);
}

/*
 * The architectural state through the backend (get_state/set_state): what is set reads back,
 * and the guest runs on from it: "out 0x80, al" sends the AL that set_state gave.
 */
static u64 state_port_value;

static void state_port80(void *opaque, u64 offset, u64 *data, unsigned len, bool is_write)
{
	if (is_write) {
		state_port_value = *data & 0xff;
		vm_request_stop(&vm, 0x42, "%s", "");
	}
}

static void test_state_round_trip(void)
{
	static const u8 out_loop[] = { 0xe6, 0x80, 0xeb, 0xfc }; /* 1: out 0x80, al; jmp 1b */
	struct x86_state st, back;
	const struct backend_ops *b = &backend_soft;

	load_soft_code(out_loop, sizeof(out_loop));
	CHECK_EQ(bus_register_range(&vm.pio, 0x80, 1, state_port80, NULL, "port80"), 0);
	b->get_state(&vm.vcpus[0], &st);
	CHECK_EQ(st.regs.rip, 0x100020);
	CHECK_EQ(st.xcr0, 1); /* x87 only at reset (SDM vol. 1 13.3) */
	st.regs.gpr[R_RAX] = 0x5a;
	st.regs.gpr[R_R15] = 0x0123456789abcdefull;
	st.fpu.xmm[3][0] = 0xa5;
	st.fpu.mxcsr = 0x1f80 | 0x6000; /* RC = toward zero */
	st.dr[0] = 0x1000;
	st.dr[7] = 0x400; /* bit 10 reads as 1, no breakpoint enabled */
	for (unsigned i = 0; i < X86_STATE_NR_MSRS; i++)
		if (i) /* not the TSC: it runs on */
			st.msrs[i] = 0x1000 * i;
	st.msrs[4] = 0x0007040600070406ull; /* PAT at its reset value: valid */
	st.events.interruptibility = GUEST_INTR_STATE_STI; /* needs IF = 1 (SDM 27.3.1.5) */
	st.regs.rflags |= X86_IF;
	CHECK_EQ(b->set_state(&vm.vcpus[0], &st), 0);
	b->get_state(&vm.vcpus[0], &back);
	CHECK(!memcmp(&st.regs, &back.regs, sizeof(st.regs)));
	CHECK(!memcmp(&st.sregs, &back.sregs, sizeof(st.sregs)));
	CHECK(!memcmp(st.fpu.xmm, back.fpu.xmm, sizeof(st.fpu.xmm)));
	CHECK_EQ(back.fpu.mxcsr, st.fpu.mxcsr);
	CHECK(!memcmp(st.dr, back.dr, sizeof(st.dr)));
	CHECK(!memcmp(&st.msrs[1], &back.msrs[1], sizeof(st.msrs) - sizeof(st.msrs[0])));
	CHECK_EQ(back.events.interruptibility, GUEST_INTR_STATE_STI);
	st.xcr0 = 2; /* x87 bit clear: XSETBV would #GP, set_state refuses */
	CHECK_EQ(b->set_state(&vm.vcpus[0], &st), -EINVAL);
	CHECK_EQ(vm_run(&vm), 0x42);
	CHECK_EQ(state_port_value, 0x5a);
	vm_destroy(&vm);
}

/* A VM of several vCPUs: each its own CPU, VMCS and VPID; only the BSP runs at power-on. */
static void test_vcpus(void)
{
	memset(&vm, 0, sizeof(vm));
	vm.nr_vcpus = 3;
	CHECK_EQ(vm_create(&vm, 4 << 20, &backend_soft, &no_console), 0);
	CHECK_EQ(vm.nr_vcpus, 3);
	for (unsigned i = 0; i < 3; i++) {
		CHECK_EQ(vm.vcpus[i].id, i);
		CHECK(vm.vcpus[i].vm == &vm);
		CHECK_EQ(vm.vcpus[i].mp_state, i ? VCPU_WAIT_FOR_SIPI : VCPU_RUNNABLE);
		CHECK(soft_vcpu_cpu(&vm.vcpus[i]) != NULL);
		if (soft_vcpu_vmcs(&vm.vcpus[i])->secondary_vm_exec_control & PROC2_ENABLE_VPID)
			CHECK_EQ(soft_vcpu_vmcs(&vm.vcpus[i])->virtual_processor_id, i + 1);
		if (i)
			CHECK(soft_vcpu_cpu(&vm.vcpus[i]) != soft_vcpu_cpu(&vm.vcpus[0]));
	}
	CHECK_EQ(soft_vcpu_vmcs(&vm.vcpus[1])->ept_pointer, soft_vcpu_vmcs(&vm.vcpus[0])->ept_pointer);
	vm_destroy(&vm);
	memset(&vm, 0, sizeof(vm));
	vm.nr_vcpus = VM_MAX_VCPUS + 1;
	CHECK_EQ(vm_create(&vm, 4 << 20, &backend_soft, &no_console), -EINVAL);
	vm_destroy(&vm);
}

/* An IPI from vCPU `from` as its ICR write would send it (SDM 11.6.1). */
static void send_icr(unsigned from, u32 dest, u32 icr)
{
	u64 hi = dest << 24, lo = icr;

	lapic_mmio_access(&vm.vcpus[from].lapic, APIC_ICR2, &hi, 4, true);
	lapic_mmio_access(&vm.vcpus[from].lapic, APIC_ICR, &lo, 4, true);
}

/*
 * INIT and SIPI at the VMM (vm_accept_mp_events): an AP waits for SIPI in the INIT state (SDM
 * 9.1.1 Table 9-1), a SIPI starts it at vector * 4 KiB in real mode, a second SIPI to the running
 * AP is ignored, INIT puts it back, and its TSC is the BSP's. INIT to the BSP ends the run.
 */
static void test_init_sipi(void)
{
	struct x86_sregs s;
	struct x86_regs r;
	u64 tsc0, tsc1;

	memset(&vm, 0, sizeof(vm));
	vm.nr_vcpus = 2;
	CHECK_EQ(vm_create(&vm, 4 << 20, &backend_soft, &no_console), 0);
	backend_soft.get_sregs(&vm.vcpus[1], &s);
	backend_soft.get_regs(&vm.vcpus[1], &r);
	CHECK_EQ(s.cr0, 0x60000010);
	CHECK_EQ(s.seg[SEG_CS].sel, 0xf000);
	CHECK_EQ(s.seg[SEG_CS].base, 0xffff0000);
	CHECK_EQ(s.seg[SEG_TR].ar, 0x8b);
	CHECK_EQ(s.efer, 0);
	CHECK_EQ(r.rip, 0xfff0);
	CHECK_EQ(r.rflags, 2);
	CHECK_EQ(r.gpr[R_RDX] & 0xf00, 0x600); /* family 6: the processor signature */
	/* One power-up: the AP's TSC is the BSP's (read in this order, never below it). */
	tsc0 = vm_vcpu_guest_tsc(&vm.vcpus[0]);
	tsc1 = vm_vcpu_guest_tsc(&vm.vcpus[1]);
	CHECK(tsc1 >= tsc0 && tsc1 - tsc0 < 1000000);

	/* A SIPI alone while waiting starts it: CS 0x9a00, base 0x9a000, IP 0. */
	send_icr(0, 1, (6u << 8) | 0x9a);
	CHECK(vm.mp_events);
	vm_accept_mp_events(&vm);
	CHECK(!vm.mp_events);
	CHECK_EQ(vm.vcpus[1].mp_state, VCPU_RUNNABLE);
	backend_soft.get_sregs(&vm.vcpus[1], &s);
	backend_soft.get_regs(&vm.vcpus[1], &r);
	CHECK_EQ(s.seg[SEG_CS].sel, 0x9a00);
	CHECK_EQ(s.seg[SEG_CS].base, 0x9a000);
	CHECK_EQ(r.rip, 0);
	/* Running: the next SIPI is ignored. */
	r.rip = 0x1234;
	backend_soft.set_regs(&vm.vcpus[1], &r);
	send_icr(0, 1, (6u << 8) | 0x10);
	vm_accept_mp_events(&vm);
	backend_soft.get_regs(&vm.vcpus[1], &r);
	CHECK_EQ(r.rip, 0x1234);
	/* INIT (assert, then the level de-assert, which does nothing): back to waiting, at
	   F000:FFF0, with its LAPIC reset but for the ID. */
	send_icr(0, 1, (5u << 8) | BIT(14) | BIT(15));
	send_icr(0, 1, (5u << 8) | BIT(15));
	vm_accept_mp_events(&vm);
	CHECK_EQ(vm.vcpus[1].mp_state, VCPU_WAIT_FOR_SIPI);
	backend_soft.get_regs(&vm.vcpus[1], &r);
	CHECK_EQ(r.rip, 0xfff0);
	CHECK(vm_vcpu_guest_tsc(&vm.vcpus[1]) >= tsc1);
	CHECK_EQ(vm.stop, false);
	/* INIT to the BSP (from the AP's LAPIC): the run ends, status 0. */
	send_icr(1, 0, (5u << 8) | BIT(14));
	vm_accept_mp_events(&vm);
	CHECK(vm.stop);
	CHECK_EQ(vm.exit_status, 0);
	vm_destroy(&vm);
}

static void test_exit_storm_soft(void)
{
	/* 1: wbinvd; jmp 1b -- one instruction retired per exit, nothing changes */
	static const u8 spin[] = { 0x0f, 0x09, 0xeb, 0xfc };
	/*
	 * mov dx, 0x3fd; 1: in al, dx; inc dword [0x100100]; cmp dword [0x100100], 150000;
	 * jne 1b; out 0xf4, al -- polling a port at one RIP with registers unchanged, but with
	 * progress in memory: four instructions per exit.
	 */
	static const u8 poll[] = { 0x66, 0xba, 0xfd, 0x03, 0xec, 0xff, 0x05, 0x00, 0x01,
				   0x10, 0x00, 0x81, 0x3d, 0x00, 0x01, 0x10, 0x00, 0xf0,
				   0x49, 0x02, 0x00, 0x75, 0xed, 0xe6, 0xf4, 0xf4 };

	CHECK_EQ(run_soft_code(spin, sizeof(spin)), EXIT_STATUS_STOPPED);
	CHECK(!strcmp(vm.stop_msg, "exit storm: WBINVD at RIP 0x100020 (qualification 0) repeated "
				   "100000 times without progress"));
	vm_destroy(&vm);
	CHECK_EQ(run_soft_code(poll, sizeof(poll)), (0x60 << 1) | 1);
	CHECK_EQ(vm.stats.exits[EXIT_REASON_IO_INSTRUCTION], 150001);
	vm_destroy(&vm);

	/* 1: out 0x80, al; jmp 1b -- one instruction retired per exit, nothing changes, but each
	   OUT reaches a device: progress (a UART byte per pass is output), not a storm. */
	static const u8 out_loop[] = { 0xe6, 0x80, 0xeb, 0xfc };
	soft_setup = port80_add;
	CHECK_EQ(run_soft_code(out_loop, sizeof(out_loop)), 0x42);
	CHECK_EQ(port80_writes, 150000);
	soft_setup = NULL;
	vm_destroy(&vm);

	/* 1: mov eax, [0xfe000000]; cmp eax, 0x1234; jne 1b -- three instructions per exit, the
	   same registers each time: a spin on an MMIO read where no device is (all ones). */
	static const u8 hole_loop[] = { 0xa1, 0x00, 0x00, 0x00, 0xfe, 0x3d,
					0x34, 0x12, 0x00, 0x00, 0x75, 0xf4 };
	CHECK_EQ(run_soft_code(hole_loop, sizeof(hole_loop)), EXIT_STATUS_STOPPED);
	CHECK(!strcmp(vm.stop_msg, "guest spins on a read of guest-physical 0xfe000000 at RIP "
				   "0x100020, where no device is (it reads all ones): 100000 "
				   "times with the same registers"));
	vm_destroy(&vm);
}

/*
 * INS/OUTS on the soft backend: the exit comes before the memory operand (SDM 26.1.1), the
 * backend reads the OUTS element as the VMM (cpu_io_string) before the handler sends it to the
 * port, and a faulting access is injected into the guest instead of reaching the handlers.
 */
static void test_string_io_soft(void)
{
	/* mov esi, 0x100020 + 17; mov ecx, 1; mov dx, 0xf4; rep outsb; hlt; data 0x21 */
	static const u8 outs[] = { 0xbe, 0x31, 0x00, 0x10, 0x00, 0xb9, 0x01, 0x00, 0x00,
				   0x00, 0x66, 0xba, 0xf4, 0x00, 0xf3, 0x6e, 0xf4, 0x21 };
	/* xor eax, eax; mov fs, ax; ... fs rep outsb: FS is unusable, #GP(0), no IDT: triple */
	static const u8 outs_fs[] = { 0x31, 0xc0, 0x8e, 0xe0, 0xbe, 0x00, 0x00, 0x10, 0x00,
				      0xb9, 0x01, 0x00, 0x00, 0x00, 0x66, 0xba, 0xf4, 0x00,
				      0x64, 0xf3, 0x6e, 0xf4 };

	CHECK_EQ(run_soft_code(outs, sizeof(outs)), (0x21 << 1) | 1);
	CHECK_EQ(vm.stats.exits[EXIT_REASON_IO_INSTRUCTION], 1);
	vm_destroy(&vm);
	CHECK_EQ(run_soft_code(outs_fs, sizeof(outs_fs)), EXIT_STATUS_STOPPED);
	CHECK(strstr(vm.stop_msg, "triple fault"));
	CHECK_EQ(vm.stats.exits[EXIT_REASON_IO_INSTRUCTION], 0);
	CHECK_EQ(vm.stats.exits[EXIT_REASON_TRIPLE_FAULT], 1);
	vm_destroy(&vm);
}

/*
 * --exit-path fast (vmm/run.c vm_exit_fast): CPUID, port I/O and RDMSR/WRMSR answered inside the
 * soft CPU's loop give the guest the same answers, the same counts and the same instructions
 * retired as the full path; the fast run takes nearly all of them there.
 */
static void test_fast_exits_soft(void)
{
	/*
	 * mov esi, 3000; xor edi, edi; 1: xor eax, eax; cpuid; add edi, ebx; in al, 0x80;
	 * movzx eax, al; add edi, eax; mov ecx, 0x1a0; rdmsr; add edi, eax; wrmsr; dec esi;
	 * jnz 1b; mov eax, edi; out 0xf4, al; hlt
	 */
	static const u8 loop[] = { 0xbe, 0xb8, 0x0b, 0x00, 0x00, 0x31, 0xff, 0x31, 0xc0, 0x0f,
				   0xa2, 0x01, 0xdf, 0xe4, 0x80, 0x0f, 0xb6, 0xc0, 0x01, 0xc7,
				   0xb9, 0xa0, 0x01, 0x00, 0x00, 0x0f, 0x32, 0x01, 0xc7, 0x0f,
				   0x30, 0x4e, 0x75, 0xe5, 0x89, 0xf8, 0xe6, 0xf4, 0xf4 };
	static const u32 reasons[] = { EXIT_REASON_CPUID, EXIT_REASON_IO_INSTRUCTION,
				       EXIT_REASON_MSR_READ, EXIT_REASON_MSR_WRITE };
	u64 full_exits[4], full_retired, retired;
	int full_status, status;

	soft_fast = false;
	full_status = run_soft_code(loop, sizeof(loop));
	for (unsigned i = 0; i < 4; i++)
		full_exits[i] = vm.stats.exits[reasons[i]];
	full_retired = vm.backend->retired(&vm.vcpus[0]);
	CHECK_EQ(vm.fast_handled, 0);
	CHECK_EQ(full_exits[0], 3000);
	CHECK_EQ(full_exits[1], 3001);
	vm_destroy(&vm);

	soft_fast = true;
	status = run_soft_code(loop, sizeof(loop));
	retired = vm.backend->retired(&vm.vcpus[0]);
	CHECK_EQ(status, full_status);
	CHECK(status & 1); /* the guest's OUT 0xf4, not a stop */
	for (unsigned i = 0; i < 4; i++)
		CHECK_EQ(vm.stats.exits[reasons[i]], full_exits[i]);
	CHECK_EQ(retired, full_retired);
	CHECK(vm.fast_handled >= 12000 && vm.fast_handled <= 12001);
	CHECK(vm.fast_left < 10);
	vm_destroy(&vm);
	soft_fast = false;
}

/* ---- the policy, on the soft backend's VMCS ---- */

static struct vmcs *create_soft(struct vmm_policy policy, int want)
{
	memset(&vm, 0, sizeof(vm));
	vm.policy = policy;
	CHECK_EQ(vm_create(&vm, 4 << 20, &backend_soft, &no_console), want);
	return want ? NULL : soft_vcpu_vmcs(&vm.vcpus[0]);
}

static u64 cap(u32 msr)
{
	u64 v = 0;

	vmx_cap_msr(msr, &v);
	return v;
}

/*
 * The soft backend's four-register completion (backend.h complete_gprs4, CPUID and RDMSR/WRMSR)
 * against what set_regs does with the same change: RAX/RCX/RDX/RBX written, the other GPRs,
 * RSP and RFLAGS kept, RIP advanced, and a new RIP ending the STI shadow (a length of 0 keeps it).
 */
static void test_complete_gprs4(void)
{
	static const u64 want4[4] = { 0x1111, 0x2222, 0x3333, 0x4444 };
	struct vmcs *v = create_soft((struct vmm_policy){ 0 }, 0);
	struct vcpu *vcpu = &vm.vcpus[0];
	struct x86_regs r, back;
	u64 got4[4];

	if (!v)
		return;
	vm.backend->get_regs(vcpu, &r);
	for (unsigned i = 0; i < 16; i++)
		if (i != R_RSP)
			r.gpr[i] = 0xa000 + i;
	vm.backend->set_regs(vcpu, &r);
	vm.backend->get_regs(vcpu, &r);
	vm.backend->get_gprs4(vcpu, got4);
	CHECK(!memcmp(got4, r.gpr, sizeof(got4)));
	VMCS_SET(v, GUEST_INTERRUPTIBILITY_INFO, GUEST_INTR_STATE_STI);
	vm.backend->complete_gprs4(vcpu, want4, 0);
	CHECK_EQ(v->guest_interruptibility_info, GUEST_INTR_STATE_STI);
	vm.backend->complete_gprs4(vcpu, want4, 2);
	vm.backend->get_regs(vcpu, &back);
	CHECK(!memcmp(back.gpr, want4, sizeof(want4)));
	CHECK(!memcmp(back.gpr + 4, r.gpr + 4, 12 * sizeof(u64)));
	CHECK_EQ(back.rip, r.rip + 2);
	CHECK_EQ(back.rflags, r.rflags);
	CHECK_EQ(v->guest_interruptibility_info, 0);
	vm_destroy(&vm);
}

/* The control word a switch lives in, by its VMCS field. */
static const struct {
	const char *name;
	u32 field;
	u32 bits;
} switch_bits[] = {
	{ "rdtsc-exiting", CPU_BASED_VM_EXEC_CONTROL, PROC_RDTSC_EXITING },
	{ "hlt-exiting", CPU_BASED_VM_EXEC_CONTROL, PROC_HLT_EXITING },
	{ "msr-bitmap", CPU_BASED_VM_EXEC_CONTROL, PROC_USE_MSR_BITMAPS },
	{ "io-bitmap", CPU_BASED_VM_EXEC_CONTROL, PROC_USE_IO_BITMAPS },
	{ "ept", SECONDARY_VM_EXEC_CONTROL, PROC2_ENABLE_EPT },
	{ "vpid", SECONDARY_VM_EXEC_CONTROL, PROC2_ENABLE_VPID },
	{ "pause-exiting", CPU_BASED_VM_EXEC_CONTROL, PROC_PAUSE_EXITING },
	{ "ple", SECONDARY_VM_EXEC_CONTROL, PROC2_PAUSE_LOOP_EXITING },
	{ "cr3-exiting", CPU_BASED_VM_EXEC_CONTROL,
	  PROC_CR3_LOAD_EXITING | PROC_CR3_STORE_EXITING },
	{ "cr8-exiting", CPU_BASED_VM_EXEC_CONTROL,
	  PROC_CR8_LOAD_EXITING | PROC_CR8_STORE_EXITING },
	{ "tpr-shadow", CPU_BASED_VM_EXEC_CONTROL, PROC_TPR_SHADOW },
	{ "invlpg-exiting", CPU_BASED_VM_EXEC_CONTROL, PROC_INVLPG_EXITING },
	{ "rdpmc-exiting", CPU_BASED_VM_EXEC_CONTROL, PROC_RDPMC_EXITING },
	{ "mwait-exiting", CPU_BASED_VM_EXEC_CONTROL, PROC_MWAIT_EXITING },
	{ "monitor-exiting", CPU_BASED_VM_EXEC_CONTROL, PROC_MONITOR_EXITING },
	{ "mov-dr-exiting", CPU_BASED_VM_EXEC_CONTROL, PROC_MOV_DR_EXITING },
	{ "wbinvd-exiting", SECONDARY_VM_EXEC_CONTROL, PROC2_WBINVD_EXITING },
	{ "rdtscp", SECONDARY_VM_EXEC_CONTROL, PROC2_ENABLE_RDTSCP },
	{ "invpcid", SECONDARY_VM_EXEC_CONTROL, PROC2_ENABLE_INVPCID },
	{ "tsc-offsetting", CPU_BASED_VM_EXEC_CONTROL, PROC_TSC_OFFSETTING },
	{ "tsc-scaling", SECONDARY_VM_EXEC_CONTROL, PROC2_TSC_SCALING },
	{ "preemption-timer", PIN_BASED_VM_EXEC_CONTROL, PIN_PREEMPTION_TIMER },
	{ "desc-table-exiting", SECONDARY_VM_EXEC_CONTROL, PROC2_DESC_TABLE_EXITING },
	{ "pml", SECONDARY_VM_EXEC_CONTROL, PROC2_ENABLE_PML },
	{ "unrestricted-guest", SECONDARY_VM_EXEC_CONTROL, PROC2_UNRESTRICTED_GUEST },
	{ "rdrand-exiting", SECONDARY_VM_EXEC_CONTROL, PROC2_RDRAND_EXITING },
	{ "rdseed-exiting", SECONDARY_VM_EXEC_CONTROL, PROC2_RDSEED_EXITING },
	{ "xsaves", SECONDARY_VM_EXEC_CONTROL, PROC2_ENABLE_XSAVES },
	{ "apicv", SECONDARY_VM_EXEC_CONTROL, PROC2_VIRT_INTR_DELIVERY },
	{ "posted-interrupts", PIN_BASED_VM_EXEC_CONTROL, PIN_POSTED_INTERRUPTS },
	{ "apic-register-virt", SECONDARY_VM_EXEC_CONTROL, PROC2_APIC_REG_VIRT },
	{ "nested", 0, 0 }, /* no control: test_policy_nested */
	{ "vmcs-shadowing", 0, 0 }, /* no control of vmcs01's own: nested VMX sets it */
};

static u32 field(struct vmcs *v, u32 enc)
{
	u64 x = 0;

	vmcs_read(v, enc, &x);
	return (u32)x;
}

/* The model's own VM-entry checks of controls and host state (SDM 27.2.1, 27.2.2, 27.2.3). */
static void check_entry_checks(struct vmcs *v)
{
	struct vmx_vcpu x = {
		.cpu = soft_vcpu_cpu(&vm.vcpus[0]), .vmcs = v, .opaque = &vm, .host_ptr = vm_host_ptr
	};

	CHECK_EQ(vmx_check_controls(&x), 0);
	CHECK_EQ(vmx_check_host_state(&x), 0);
	CHECK(vmx_ctls_allowed(cap(MSR_IA32_VMX_TRUE_PINBASED_CTLS),
			       field(v, PIN_BASED_VM_EXEC_CONTROL)));
	CHECK(vmx_ctls_allowed(cap(MSR_IA32_VMX_TRUE_PROCBASED_CTLS),
			       field(v, CPU_BASED_VM_EXEC_CONTROL)));
	CHECK(vmx_ctls_allowed(cap(MSR_IA32_VMX_PROCBASED_CTLS2),
			       field(v, SECONDARY_VM_EXEC_CONTROL)));
	CHECK(vmx_ctls_allowed(cap(MSR_IA32_VMX_TRUE_EXIT_CTLS), field(v, VM_EXIT_CONTROLS)));
	CHECK(vmx_ctls_allowed(cap(MSR_IA32_VMX_TRUE_ENTRY_CTLS), field(v, VM_ENTRY_CONTROLS)));
}

static void test_policy_default(void)
{
	struct vmcs *v = create_soft((struct vmm_policy){ 0 }, 0);
	u32 proc, proc2, pin;
	const u8 *bm;

	if (!v)
		return;
	pin = field(v, PIN_BASED_VM_EXEC_CONTROL);
	proc = field(v, CPU_BASED_VM_EXEC_CONTROL);
	proc2 = field(v, SECONDARY_VM_EXEC_CONTROL);
	CHECK_EQ(pin & (u32)cap(MSR_IA32_VMX_TRUE_PINBASED_CTLS),
		 (u32)cap(MSR_IA32_VMX_TRUE_PINBASED_CTLS)); /* default1 bits */
	CHECK_EQ(proc & (u32)cap(MSR_IA32_VMX_TRUE_PROCBASED_CTLS),
		 (u32)cap(MSR_IA32_VMX_TRUE_PROCBASED_CTLS));
	CHECK(pin & PIN_EXTINT_EXITING);
	CHECK_EQ(proc & (PROC_HLT_EXITING | PROC_MWAIT_EXITING | PROC_MONITOR_EXITING |
			 PROC_RDPMC_EXITING | PROC_USE_IO_BITMAPS | PROC_USE_MSR_BITMAPS |
			 PROC_TSC_OFFSETTING | PROC_SECONDARY_CONTROLS),
		 PROC_HLT_EXITING | PROC_MWAIT_EXITING | PROC_MONITOR_EXITING | PROC_RDPMC_EXITING |
			 PROC_USE_IO_BITMAPS | PROC_USE_MSR_BITMAPS | PROC_TSC_OFFSETTING |
			 PROC_SECONDARY_CONTROLS);
	CHECK_EQ(proc & (PROC_RDTSC_EXITING | PROC_INVLPG_EXITING | PROC_CR3_LOAD_EXITING |
			 PROC_UNCOND_IO_EXITING),
		 0);
	CHECK_EQ(proc2, PROC2_ENABLE_EPT | PROC2_ENABLE_VPID | PROC2_UNRESTRICTED_GUEST |
				PROC2_WBINVD_EXITING | PROC2_ENABLE_RDTSCP | PROC2_ENABLE_INVPCID |
				PROC2_PAUSE_LOOP_EXITING | PROC2_ENABLE_XSAVES);
	CHECK(field(v, VM_EXIT_CONTROLS) & EXIT_CTL_HOST_ADDR_SPACE_SIZE);
	CHECK(field(v, VM_EXIT_CONTROLS) & EXIT_CTL_ACK_INTR_ON_EXIT);
	CHECK(field(v, VM_ENTRY_CONTROLS) & ENTRY_CTL_LOAD_EFER);
	CHECK_EQ(v->virtual_processor_id, 1);
	CHECK_EQ(v->ple_gap, 128);
	CHECK_EQ(v->ple_window, 4096);
	CHECK_EQ(v->vmcs_link_pointer, ~0ull);
	CHECK_EQ(v->ept_pointer, vm.eptp);
	CHECK_EQ(v->ept_pointer & EPTP_AD_ENABLE, 0);
	/* The exit entry point in the described host, never a real host address (a dump shows it).
	 */
	CHECK_EQ(v->host_rip, VMM_HOST_RIP);
	CHECK(v->host_rip != (u64)(uintptr_t)vmm_handle_exit);
	CHECK_EQ(v->host_cs_selector, 8);
	CHECK_EQ(v->host_tr_selector, 0x10);
	CHECK(v->host_cr4 & CR4_VMXE);
	CHECK(v->host_cr4 & CR4_PAE);
	CHECK_EQ(v->cr4_guest_host_mask, CR4_VMXE);
	CHECK_EQ(v->cr0_guest_host_mask, CR0_NE); /* unrestricted guest frees PE and PG */
	CHECK_EQ(v->exception_bitmap, BIT(X86_AC_VEC) | BIT(X86_MC));
	bm = vm_host_ptr(&vm, v->io_bitmap_b, 4096);
	CHECK(bm && bm[0] == 0xff && bm[4095] == 0xff);
	bm = vm_host_ptr(&vm, v->msr_bitmap, 4096);
	CHECK(bm && !(bm[MSR_IA32_EFER - 0xc0000000 + 1024 * 8 / 8 / 8] & 0)); /* present */
	CHECK(ept_lookup(&vm, vm.eptp, TESTDEV_MMIO_BASE, &(int){ 0 }) == NULL);
	CHECK(ept_lookup(&vm, vm.eptp, 0, &(int){ 0 }) != NULL);
	check_entry_checks(v);
	vm_destroy(&vm);
}

static void test_policy_switches(void)
{
	const char *const *names = vmm_policy_names();
	unsigned n = 0;

	for (; names[n]; n++)
		CHECK(!strcmp(names[n], switch_bits[n].name));
	CHECK_EQ(n, ARRAY_SIZE(switch_bits));
	CHECK_EQ(vmm_policy_set(&vm, "no-such-control", true), -ENOENT);

	/* Each switch flipped from its default changes its bits and only what it must. */
	for (unsigned i = 0; i < ARRAY_SIZE(switch_bits); i++) {
		struct vmcs *v = create_soft((struct vmm_policy){ 0 }, 0);
		unsigned failed = check_failed;
		bool was_on;
		struct vmm_policy p = { 0 };

		if (!v)
			return;
		if (!switch_bits[i].bits) {
			vm_destroy(&vm);
			continue;
		}
		was_on = (field(v, switch_bits[i].field) & switch_bits[i].bits) ==
			 switch_bits[i].bits;
		vm_destroy(&vm);
		memset(&vm, 0, sizeof(vm));
		CHECK_EQ(vmm_policy_set(&vm, switch_bits[i].name, !was_on), 0);
		if (!strcmp(switch_bits[i].name, "posted-interrupts") ||
		    !strcmp(switch_bits[i].name, "apic-register-virt"))
			CHECK_EQ(vmm_policy_set(&vm, "apicv", true), 0); /* it needs apicv */
		p = vm.policy;
		if (!strcmp(switch_bits[i].name, "pml")) {
			v = create_soft(p, 0);
		} else if (!strcmp(switch_bits[i].name, "unrestricted-guest")) {
			v = create_soft(p, 0);
		} else {
			v = create_soft(p, 0);
		}
		if (!v)
			continue;
		CHECK_EQ(field(v, switch_bits[i].field) & switch_bits[i].bits,
			 was_on ? 0 : switch_bits[i].bits);
		if (check_failed != failed)
			fprintf(stderr, "  (switch %s)\n", switch_bits[i].name);
		check_entry_checks(v);
		vm_destroy(&vm);
	}
}

/* --vmx nested: what the guest is offered (CPUID.1:ECX.VMX, IA32_FEATURE_CONTROL bit 2), the
   defaults that turn it off, and the combinations refused. */
static bool guest_has_vmx(void)
{
	u32 out[4] = { 0 };

	vmm_policy_cpuid(&vm, 1, 0, out);
	return out[CPUID_ECX] & BIT(5);
}

static void test_policy_nested(void)
{
	static const char *const off_with[] = { "apicv", "pml" };
	char msg[200];
	u64 fc = 0;

	create_soft((struct vmm_policy){ 0 }, 0);
	CHECK(vmm_nested(&vm) && guest_has_vmx());
	msr_policy_read(vm.vcpus[0].msr_values, MSR_IA32_FEATURE_CONTROL, &fc);
	CHECK_EQ(fc, BIT(0) | BIT(2));
	vm_destroy(&vm);
	memset(&vm, 0, sizeof(vm));
	CHECK_EQ(vmm_policy_set(&vm, "nested", false), 0);
	create_soft(vm.policy, 0);
	CHECK(!vmm_nested(&vm) && !guest_has_vmx());
	msr_policy_read(vm.vcpus[0].msr_values, MSR_IA32_FEATURE_CONTROL, &fc);
	CHECK_EQ(fc, BIT(0));
	vm_destroy(&vm);
	/* ept=off, apicv, pml: off by default; asked for, refused in one line */
	memset(&vm, 0, sizeof(vm));
	CHECK_EQ(vmm_policy_set(&vm, "ept", false), 0);
	CHECK(!vmm_policy_on(&vm, VMM_NESTED));
	CHECK_EQ(vmm_policy_set(&vm, "nested", true), 0);
	CHECK_EQ(vmm_policy_check(&vm, msg, sizeof(msg)), -EINVAL);
	CHECK(strstr(msg, "nested=on needs ept=on"));
	for (unsigned i = 0; i < ARRAY_SIZE(off_with); i++) {
		memset(&vm, 0, sizeof(vm));
		CHECK_EQ(vmm_policy_set(&vm, off_with[i], true), 0);
		CHECK(!vmm_policy_on(&vm, VMM_NESTED));
		CHECK_EQ(vmm_policy_set(&vm, "nested", true), 0);
		CHECK_EQ(vmm_policy_check(&vm, msg, sizeof(msg)), -EINVAL);
	}
	memset(&vm, 0, sizeof(vm));
}

static void test_policy_adapts(void)
{
	struct vmm_policy p;
	struct vmcs *v;
	char msg[160];

	/* ept=off: a shadow-paging VMM's exits, no unrestricted guest, #PF intercepted */
	memset(&vm, 0, sizeof(vm));
	CHECK_EQ(vmm_policy_set(&vm, "ept", false), 0);
	p = vm.policy;
	v = create_soft(p, 0);
	if (v) {
		u32 proc = field(v, CPU_BASED_VM_EXEC_CONTROL);

		CHECK_EQ(proc & (PROC_INVLPG_EXITING | PROC_CR3_LOAD_EXITING |
				 PROC_CR3_STORE_EXITING),
			 PROC_INVLPG_EXITING | PROC_CR3_LOAD_EXITING | PROC_CR3_STORE_EXITING);
		CHECK_EQ(field(v, SECONDARY_VM_EXEC_CONTROL) &
				 (PROC2_ENABLE_EPT | PROC2_UNRESTRICTED_GUEST | PROC2_ENABLE_PML),
			 0);
		CHECK(v->exception_bitmap & BIT(X86_PF_VEC));
		CHECK_EQ(vm.eptp, 0);
		/* PE and PG are forced on in the guest, so the host owns them (27.3.1.1); so
		   are the bits that decide translations, which the shadow MMU owns */
		CHECK_EQ(v->cr0_guest_host_mask & (CR0_PE | CR0_PG | CR0_NE | CR0_WP),
			 CR0_PE | CR0_PG | CR0_NE | CR0_WP);
		CHECK_EQ(v->cr4_guest_host_mask & (CR4_PAE | CR4_PGE | CR4_PSE | CR4_SMEP | CR4_SMAP),
			 CR4_PAE | CR4_PGE | CR4_PSE | CR4_SMEP | CR4_SMAP);
		CHECK(vm.vcpus[0].shadow != NULL);
		check_entry_checks(v);
		/* a vCPU in real mode (power-up) runs emulated (soft_shadow_emulate): here
		   "mov al, 21; out 0xf4, al" at 0:1000 ends the run with status 21 * 2 + 1 */
		{
			static const u8 prog[] = { 0xb0, 21, 0xe6, 0xf4 };
			struct x86_sregs sr;
			struct x86_regs r;

			memcpy(vm.ram + 0x1000, prog, sizeof(prog));
			vm_vcpu_init_state(&vm.vcpus[0]); /* the state INIT leaves (SDM 9.1.1) */
			vm.backend->get_sregs(&vm.vcpus[0], &sr);
			sr.seg[SEG_CS].base = 0;
			sr.seg[SEG_CS].sel = 0;
			vm.backend->set_sregs(&vm.vcpus[0], &sr);
			vm.backend->get_regs(&vm.vcpus[0], &r);
			r.rip = 0x1000;
			vm.backend->set_regs(&vm.vcpus[0], &r);
			CHECK(!(sr.cr0 & CR0_PE));
			CHECK_EQ(vm_run(&vm), 43);
			CHECK(shadow_stats(&vm.vcpus[0])->emulated >= 1);
		}
		vm_destroy(&vm);
	}

	/* shadow paging cannot do without CR3-load or INVLPG exiting */
	for (unsigned i = 0; i < 2; i++) {
		static const char *const sw[] = { "cr3-exiting", "invlpg-exiting" };
		char want[64];

		memset(&vm, 0, sizeof(vm));
		CHECK_EQ(vmm_policy_set(&vm, "ept", false), 0);
		CHECK_EQ(vmm_policy_set(&vm, sw[i], false), 0);
		CHECK_EQ(vmm_policy_check(&vm, msg, sizeof(msg)), -EINVAL);
		snprintf(want, sizeof(want), "%s=off needs ept=on", sw[i]);
		CHECK(strstr(msg, want));
		vm_destroy(&vm);
	}

	/* ... and contradictions are refused with one message */
	memset(&vm, 0, sizeof(vm));
	CHECK_EQ(vmm_policy_set(&vm, "ept", false), 0);
	CHECK_EQ(vmm_policy_set(&vm, "unrestricted-guest", true), 0);
	CHECK_EQ(vmm_policy_check(&vm, msg, sizeof(msg)), -EINVAL);
	CHECK(strstr(msg, "unrestricted-guest=on needs ept=on"));
	p = vm.policy;
	create_soft(p, -EINVAL);
	vm_destroy(&vm);
	memset(&vm, 0, sizeof(vm));
	CHECK_EQ(vmm_policy_set(&vm, "ept", false), 0);
	CHECK_EQ(vmm_policy_set(&vm, "pml", true), 0);
	CHECK_EQ(vmm_policy_check(&vm, msg, sizeof(msg)), -EINVAL);
	CHECK(strstr(msg, "pml=on"));

	/* io-bitmap=off: unconditional I/O exiting instead */
	memset(&vm, 0, sizeof(vm));
	CHECK_EQ(vmm_policy_set(&vm, "io-bitmap", false), 0);
	p = vm.policy;
	v = create_soft(p, 0);
	if (v) {
		CHECK(field(v, CPU_BASED_VM_EXEC_CONTROL) & PROC_UNCOND_IO_EXITING);
		vm_destroy(&vm);
	}

	/* pml=on: EPT A/D flags, the log at index 511, a dirty bitmap */
	memset(&vm, 0, sizeof(vm));
	CHECK_EQ(vmm_policy_set(&vm, "pml", true), 0);
	p = vm.policy;
	v = create_soft(p, 0);
	if (v) {
		CHECK(v->ept_pointer & EPTP_AD_ENABLE);
		CHECK_EQ(v->guest_pml_index, 511);
		CHECK(vm_host_ptr(&vm, v->pml_address, 4096) == vm.vcpus[0].pml_log);
		CHECK(vm.dirty_bitmap != NULL);
		vm_destroy(&vm);
	}

	/* preemption-timer=on: the quantum armed, saved on exit */
	memset(&vm, 0, sizeof(vm));
	CHECK_EQ(vmm_policy_set(&vm, "preemption-timer", true), 0);
	p = vm.policy;
	v = create_soft(p, 0);
	if (v) {
		CHECK(v->vmx_preemption_timer_value != 0);
		CHECK(field(v, VM_EXIT_CONTROLS) & EXIT_CTL_SAVE_PREEMPTION_TIMER);
		vm_destroy(&vm);
	}
}

static void test_testdev(void)
{
	struct testdev t = { 0 };
	u64 d = 0;

	testdev_access(&t, TESTDEV_REG_MAGIC, &d, 4, false);
	CHECK_EQ(d, TESTDEV_MAGIC);
	d = 0x1234;
	testdev_access(&t, TESTDEV_REG_MAGIC, &d, 4, true); /* read-only */
	testdev_access(&t, TESTDEV_REG_MAGIC, &d, 4, false);
	CHECK_EQ(d, TESTDEV_MAGIC);
	testdev_access(&t, TESTDEV_REG_VERSION, &d, 4, false);
	CHECK_EQ(d, TESTDEV_VERSION);
	d = 0x1122334455667788ull;
	testdev_access(&t, TESTDEV_REG_SCRATCH, &d, 8, true);
	d = 0xbeef;
	testdev_access(&t, TESTDEV_REG_SCRATCH + 2, &d, 2, true);
	testdev_access(&t, TESTDEV_REG_SCRATCH, &d, 8, false);
	CHECK_EQ(d, 0x11223344beef7788ull);
	testdev_access(&t, TESTDEV_REG_SCRATCH + 4, &d, 4, false);
	CHECK_EQ(d, 0x11223344);
	testdev_access(&t, TESTDEV_REG_COUNT, &d, 8, false);
	CHECK_EQ(d, 8); /* eight accesses before this one */
	testdev_access(&t, TESTDEV_REG_COUNT, &d, 8, true);
	testdev_access(&t, 0x800, &d, 4, false);
	CHECK_EQ(d, 0);
	testdev_access(&t, TESTDEV_REG_COUNT, &d, 4, false);
	CHECK_EQ(d, 1);
}

/*
 * Dirty-page logging (vmm/dirty.c): start cleans every page; a page the CPU dirtied (its EPT
 * dirty flag, set here as the CPU would) and a DMA write (vm_write_phys, which bypasses EPT)
 * are what get returns; reset cleans them; without PML it is refused.
 */
static void test_dirty_log(void)
{
	static u64 bits[(4 << 20) / 4096 / 64];
	static struct vm dvm;
	int level;
	u64 *e;

	CHECK_EQ(vmm_policy_set(&dvm, "pml", true), 0);
	CHECK_EQ(vm_create(&dvm, 4 << 20, &backend_soft, &no_console), 0);
	CHECK_EQ(vm_dirty_log_get(&dvm, bits, ARRAY_SIZE(bits), false), -EINVAL);
	CHECK_EQ(vm_dirty_log_start(&dvm), 0);
	CHECK_EQ(vm_dirty_log_get(&dvm, bits, ARRAY_SIZE(bits), false), 0);
	CHECK_EQ(vm_dirty_log_get(&dvm, bits, 1, false), -ENOSPC);
	e = ept_lookup(&dvm, dvm.eptp, 0x201000, &level);
	CHECK(e && level == 1);
	if (e)
		*e |= EPT_D;
	CHECK_EQ(vm_write_phys(&dvm, 0x5ffe, "dma", 3), 0); /* two pages: 0x5000 and 0x6000 */
	CHECK_EQ(vm_dirty_log_get(&dvm, bits, ARRAY_SIZE(bits), false), 3);
	CHECK_EQ(bits[0], (1ull << 5) | (1ull << 6));
	CHECK_EQ(bits[0x201 / 64], 1ull << (0x201 % 64));
	CHECK_EQ(vm_dirty_log_get(&dvm, bits, ARRAY_SIZE(bits), true), 3);
	CHECK(e && !(*e & EPT_D));
	CHECK_EQ(vm_dirty_log_get(&dvm, bits, ARRAY_SIZE(bits), true), 0);
	CHECK_EQ(bits[0], 0);
	vm_destroy(&dvm);

	memset(&dvm, 0, sizeof(dvm));
	CHECK_EQ(vm_create(&dvm, 4 << 20, &backend_soft, &no_console), 0);
	CHECK_EQ(vm_dirty_log_start(&dvm), -ENOTSUP); /* no PML: no dirty flags to read */
	vm_destroy(&dvm);
}

int main(void)
{
	test_host_memory();
	test_ept();
	test_mmio_decode();
	test_mmio_regs();
	test_mmio_emulate();
	test_hypercalls();
	test_handlers();
	test_exit_storm();
	test_exit_storm_soft();
	test_string_io_soft();
	test_fast_exits_soft();
	test_complete_gprs4();
	test_cpu_kick();
	test_sregs_after_exit();
	test_vm_code_written();
	test_vcpus();
	test_init_sipi();
	test_state_round_trip();
	test_testdev();
	test_policy_default();
	test_policy_switches();
	test_policy_nested();
	test_policy_adapts();
	test_dirty_log();
	return check_done("vmm_vtx");
}
