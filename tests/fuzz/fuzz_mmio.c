// SPDX-License-Identifier: MIT
/*
 * MMIO emulation (src/vmm/mmio.c): the decoder on any bytes with Zydis as the oracle, and
 * mmio_emulate() on any vCPU state through a stand-in backend and bus.
 * Input:
 *   byte 0      bits 1:0 the mode (0 real mode, 1 16-bit protected, 2 32-bit, 3 64-bit);
 *               bit 2 the EPT violation reports a write; bits 7:4 how many bytes at RIP can be
 *               fetched (15: all; fewer: the next page is not mapped)
 *   bytes 1-8   general registers (register i holds this value xor i * 0x0101010101010101)
 *   bytes 9-16  what the device returns on a read
 *   bytes 17-24 RIP (its low 32 bits outside 64-bit mode), 25-28 the CS base
 *   then        the instruction bytes
 * Asserted:
 *   1. mmio_decode() returns 0, -EINVAL or -EAGAIN; on 0 the fields are in range and the length
 *      is 1..15 and at most the bytes given.
 *   2. Decoding depends on the instruction's own bytes only: cut right after it, the same
 *      result; one byte shorter, -EAGAIN.
 *   3. The CPU's decoder (x86_decode) gives the same length.
 *   4. Zydis decodes it to the same length as MOV, MOVZX or MOVSX with one memory operand of
 *      `size` bytes, written exactly when insn.write; the register operand is the one mmio.c
 *      reads or writes (same general register, AH-BH exactly when high8, width reg_size on a
 *      read and size on a write); the immediate of C6/C7 is Zydis's.
 *   5. mmio_reg_merge() and mmio_reg_value() follow SDM vol. 1 3.4.1.1: 8/16-bit destinations
 *      keep the other bits, 32-bit ones zero bits 63:32, AH-BH are bits 15:8; MOVZX zero- and
 *      MOVSX sign-extends the `size` bytes read.
 *   6. mmio_emulate() fetches only at CS:RIP (the linear address CS.base + EIP outside 64-bit
 *      mode, RIP in it) and at most 15 bytes, uses no byte of a failed fetch, and then either
 *      stops the VM with a message and changes nothing (an instruction it does not emulate, or
 *      one whose direction differs from the EPT violation's), or does exactly one bus access of
 *      the decoded size and direction at the faulting address, writes the value of the decoded
 *      source, changes only the decoded destination register and advances RIP by the length
 *      (within 32 bits outside 64-bit mode).
 */
#include <errno.h>

#include <Zydis/Zydis.h>

#include "cpu/internal.h"
#include "vmm/backend.h"
#include "vmm/mmio.h"
#include "vmm/vm.h"
#include "fuzz.h"

enum fuzz_mode { REAL, PROT16, PROT32, LONG64 };

static const struct {
	enum mmio_mode mode;
	ZydisMachineMode zmode;
	ZydisStackWidth width;
	unsigned bits;
} modes[] = {
	[REAL] = { MMIO_MODE16, ZYDIS_MACHINE_MODE_REAL_16, ZYDIS_STACK_WIDTH_16, 16 },
	[PROT16] = { MMIO_MODE16, ZYDIS_MACHINE_MODE_LEGACY_16, ZYDIS_STACK_WIDTH_16, 16 },
	[PROT32] = { MMIO_MODE32, ZYDIS_MACHINE_MODE_LEGACY_32, ZYDIS_STACK_WIDTH_32, 32 },
	[LONG64] = { MMIO_MODE64, ZYDIS_MACHINE_MODE_LONG_64, ZYDIS_STACK_WIDTH_64, 64 },
};

static u64 mask_of(unsigned size)
{
	return size >= 8 ? ~0ull : (1ull << (8 * size)) - 1;
}

static void check_fields(const struct mmio_insn *m, size_t n, const char *bytes)
{
	bool sizes_ok = m->has_imm
				? !m->reg_size
				: m->reg_size >= m->size && (m->reg_size == 1 || m->reg_size == 2 ||
							     m->reg_size == 4 || m->reg_size == 8);

	FUZZ_ASSERT(m->len >= 1 && m->len <= MMIO_INSN_MAX && m->len <= n, "length %u of %zu: %s",
		    m->len, n, bytes);
	FUZZ_ASSERT((m->size == 1 || m->size == 2 || m->size == 4 || m->size == 8) && sizes_ok,
		    "size %u, reg_size %u: %s", m->size, m->reg_size, bytes);
	FUZZ_ASSERT(m->reg < 16 && (!m->high8 || (m->reg >= 4 && m->reg <= 7 && m->size == 1)),
		    "reg %u, high8 %d: %s", m->reg, m->high8, bytes);
	FUZZ_ASSERT(!m->has_imm || (m->write && (m->size == 8 ? (u64)(s64)(s32)m->imm == m->imm
							      : !(m->imm & ~mask_of(m->size)))),
		    "immediate %#llx for size %u: %s", (unsigned long long)m->imm, m->size, bytes);
}

static bool same_insn(const struct mmio_insn *a, const struct mmio_insn *b)
{
	return a->len == b->len && a->write == b->write && a->size == b->size &&
	       a->has_imm == b->has_imm && a->imm == b->imm && a->reg == b->reg &&
	       a->high8 == b->high8 && a->reg_size == b->reg_size &&
	       a->sign_extend == b->sign_extend;
}

static void check_with_zydis(enum fuzz_mode mode, const struct mmio_insn *m, const u8 *p,
			     const char *bytes)
{
	static ZydisDecoder dec[ARRAY_SIZE(modes)];
	static bool ready[ARRAY_SIZE(modes)];
	ZydisDecodedInstruction zi;
	ZydisDecodedOperand ops[ZYDIS_MAX_OPERAND_COUNT];
	const ZydisDecodedOperand *mem = NULL, *reg = NULL, *imm = NULL;
	ZydisRegister r;

	if (!ready[mode]) {
		ZydisDecoderInit(&dec[mode], modes[mode].zmode, modes[mode].width);
		ready[mode] = true;
	}
	FUZZ_ASSERT(ZYAN_SUCCESS(ZydisDecoderDecodeFull(&dec[mode], p, m->len, &zi, ops)),
		    "Zydis cannot decode %u bytes: %s", m->len, bytes);
	FUZZ_ASSERT(zi.length == m->len, "length %u, Zydis %u: %s", m->len, zi.length, bytes);
	/* MOVZX/MOVSX to a register of the operand's own width act as MOV: both allowed. */
	FUZZ_ASSERT(m->sign_extend ? zi.mnemonic == ZYDIS_MNEMONIC_MOVSX
		    : m->reg_size > m->size
			    ? zi.mnemonic == ZYDIS_MNEMONIC_MOVZX
			    : zi.mnemonic == ZYDIS_MNEMONIC_MOV ||
				      (zi.mnemonic == ZYDIS_MNEMONIC_MOVZX && !m->has_imm),
		    "Zydis decodes %s; ours: %u bytes into %u, sign-extend %d: %s",
		    ZydisMnemonicGetString(zi.mnemonic), m->size, m->reg_size, m->sign_extend,
		    bytes);
	for (unsigned i = 0; i < zi.operand_count_visible; i++) {
		if (ops[i].type == ZYDIS_OPERAND_TYPE_MEMORY)
			mem = &ops[i];
		else if (ops[i].type == ZYDIS_OPERAND_TYPE_REGISTER)
			reg = &ops[i];
		else if (ops[i].type == ZYDIS_OPERAND_TYPE_IMMEDIATE)
			imm = &ops[i];
	}
	FUZZ_ASSERT(mem && mem->size == 8 * m->size &&
			    !!(mem->actions & ZYDIS_OPERAND_ACTION_MASK_WRITE) == m->write,
		    "memory operand: %u bits, actions %#x; ours: %u bytes, write %d: %s",
		    mem ? mem->size : 0, mem ? mem->actions : 0, m->size, m->write, bytes);
	if (m->has_imm) {
		FUZZ_ASSERT(imm && !reg && (imm->imm.value.u & mask_of(m->size)) == m->imm,
			    "immediate %#llx, Zydis %#llx: %s", (unsigned long long)m->imm,
			    imm ? (unsigned long long)imm->imm.value.u : 0ull, bytes);
		return;
	}
	FUZZ_ASSERT(reg, "no register operand: %s", bytes);
	r = reg->reg.value;
	FUZZ_ASSERT(ZydisRegisterGetId(ZydisRegisterGetLargestEnclosing(zi.machine_mode, r)) ==
				    (m->high8 ? m->reg - 4 : m->reg) &&
			    (r >= ZYDIS_REGISTER_AH && r <= ZYDIS_REGISTER_BH) == m->high8 &&
			    reg->size == 8 * (m->write ? m->size : m->reg_size),
		    "register %s (%u bits); ours: %u%s, %u bytes: %s", ZydisRegisterGetString(r),
		    reg->size, m->reg, m->high8 ? " (high byte)" : "", m->reg_size, bytes);
}

static void check_registers(const struct mmio_insn *m, u64 old, u64 data)
{
	u64 v = data & mask_of(m->size), want;

	if (m->sign_extend)
		v = m->size == 1 ? (u64)(s64)(s8)v : (u64)(s64)(s16)v;
	if (m->high8)
		want = (old & ~0xff00ull) | (v & 0xff) << 8;
	else if (m->reg_size == 4)
		want = (u32)v;
	else
		want = (old & ~mask_of(m->reg_size)) | (v & mask_of(m->reg_size));
	FUZZ_ASSERT(mmio_reg_merge(m, old, data) == want,
		    "merging %#llx into %#llx gives %#llx, want %#llx", (unsigned long long)data,
		    (unsigned long long)old, (unsigned long long)mmio_reg_merge(m, old, data),
		    (unsigned long long)want);
	want = m->high8 ? (old >> 8) & 0xff : old & mask_of(m->size);
	FUZZ_ASSERT(mmio_reg_value(m, old) == want, "value of %#llx: %#llx, want %#llx",
		    (unsigned long long)old, (unsigned long long)mmio_reg_value(m, old),
		    (unsigned long long)want);
}

/* --- mmio_emulate() through a stand-in backend and bus --- */

#define MMIO_GPA 0xfeb00010ull /* any address of the device's range */

static struct {
	struct x86_regs regs, set;
	struct x86_sregs sregs;
	unsigned set_calls;
	u64 fetch_lin; /* where CS:RIP is */
	const u8 *code;
	size_t fetchable; /* bytes at fetch_lin the backend can read */
	u64 device_data;  /* the device's answer to a read */
	unsigned accesses;
	u64 offset, data;
	unsigned len;
	bool is_write;
} fake;

static void fake_get_regs(struct vcpu *vcpu, struct x86_regs *regs)
{
	*regs = fake.regs;
}

static void fake_set_regs(struct vcpu *vcpu, const struct x86_regs *regs)
{
	fake.set = *regs;
	fake.set_calls++;
}

static void fake_get_sregs(struct vcpu *vcpu, struct x86_sregs *sregs)
{
	*sregs = fake.sregs;
}

static int fake_read_guest_virt(struct vcpu *vcpu, u64 gva, void *buf, size_t len)
{
	u64 k = gva - fake.fetch_lin;

	FUZZ_ASSERT(k < MMIO_INSN_MAX && len <= MMIO_INSN_MAX - k,
		    "fetch of %zu bytes at %#llx; the instruction is at %#llx", len,
		    (unsigned long long)gva, (unsigned long long)fake.fetch_lin);
	if (k + len > fake.fetchable) {
		memset(buf, 0xcc, len); /* whatever is there must not be used */
		return -EFAULT;
	}
	memcpy(buf, fake.code + k, len);
	return 0;
}

static void fake_device(void *opaque, u64 offset, u64 *data, unsigned len, bool is_write)
{
	fake.accesses++;
	fake.offset = offset;
	fake.len = len;
	fake.is_write = is_write;
	if (is_write)
		fake.data = *data & mask_of(len);
	else
		*data = fake.device_data & mask_of(len);
}

static const struct backend_ops fake_backend = {
	.name = "fuzz",
	.get_regs = fake_get_regs,
	.set_regs = fake_set_regs,
	.get_sregs = fake_get_sregs,
	.read_guest_virt = fake_read_guest_virt,
};

static void check_emulate(enum fuzz_mode mode, bool qual_write, unsigned fetchable, u64 gprs,
			  u64 bus, u64 rip, u32 cs_base, const u8 *code, size_t n,
			  const char *bytes)
{
	static struct vm vm;
	struct vcpu vcpu = { .vm = &vm };
	struct vm_exit exit = { .qual = qual_write ? BIT(1) : BIT(0), .guest_phys = MMIO_GPA };
	struct mmio_insn m;
	u64 want_rip;

	memset(&vm, 0, sizeof(vm));
	vm.backend = &fake_backend;
	if (bus_register_range(&vm.mmio, MMIO_GPA & ~0xfffull, 0x1000, fake_device, NULL, "fake"))
		abort();
	memset(&fake, 0, sizeof(fake));
	for (unsigned i = 0; i < 16; i++)
		fake.regs.gpr[i] = gprs ^ (i * 0x0101010101010101ull);
	fake.regs.rip = mode == LONG64 ? rip : (u32)rip;
	fake.regs.rflags = X86_FIXED1;
	fake.sregs.seg[SEG_CS].base = cs_base;
	if (mode != REAL)
		fake.sregs.cr0 = CR0_PE;
	if (mode == PROT32)
		fake.sregs.seg[SEG_CS].ar = AR_DB;
	if (mode == LONG64) {
		fake.sregs.efer = EFER_LME | EFER_LMA;
		fake.sregs.seg[SEG_CS].ar = AR_L;
	}
	/* SDM vol. 3A 3.4.3: CS.base + EIP in 32 bits outside 64-bit mode, where bases are 0. */
	fake.fetch_lin = mode == LONG64 ? fake.regs.rip : (u32)(cs_base + fake.regs.rip);
	fake.code = code;
	fake.fetchable = fetchable < n ? fetchable : n;
	fake.device_data = bus;

	mmio_emulate(&vcpu, &exit);
	if (mmio_decode(code, fake.fetchable, modes[mode].mode, &m) || m.write != qual_write) {
		FUZZ_ASSERT(vm.stop && vm.stop_msg[0] && !fake.accesses && !fake.set_calls,
			    "%u-bit, %zu bytes fetchable, write %d: not emulated, yet stop %d, "
			    "%u accesses, registers set %u times: %s",
			    modes[mode].bits, fake.fetchable, qual_write, vm.stop, fake.accesses,
			    fake.set_calls, bytes);
		return;
	}
	FUZZ_ASSERT(
		!vm.stop && fake.accesses == 1 && fake.set_calls == 1 &&
			fake.offset == (MMIO_GPA & 0xfff) && fake.len == m.size &&
			fake.is_write == m.write,
		"stop %d (%s), %u accesses of %u bytes at offset %#llx, write %d, registers set "
		"%u times: %s",
		vm.stop, vm.stop_msg, fake.accesses, fake.len, (unsigned long long)fake.offset,
		fake.is_write, fake.set_calls, bytes);
	want_rip = fake.regs.rip + m.len;
	if (mode != LONG64)
		want_rip = (u32)want_rip;
	FUZZ_ASSERT(fake.set.rip == want_rip && fake.set.rflags == fake.regs.rflags,
		    "RIP %#llx after %#llx and %u bytes: %s", (unsigned long long)fake.set.rip,
		    (unsigned long long)fake.regs.rip, m.len, bytes);
	for (unsigned i = 0; i < 16; i++) {
		unsigned dst = m.high8 ? m.reg - 4u : m.reg;
		u64 want = fake.regs.gpr[i];

		if (!m.write && i == dst)
			want = mmio_reg_merge(&m, want, bus & mask_of(m.size));
		FUZZ_ASSERT(fake.set.gpr[i] == want, "register %u: %#llx, want %#llx: %s", i,
			    (unsigned long long)fake.set.gpr[i], (unsigned long long)want, bytes);
	}
	if (m.write) {
		u64 src = fake.regs.gpr[m.high8 ? m.reg - 4u : m.reg];
		u64 want = m.has_imm ? m.imm : m.high8 ? (src >> 8) & 0xff : src;

		FUZZ_ASSERT(fake.data == (want & mask_of(m.size)), "wrote %#llx, want %#llx: %s",
			    (unsigned long long)fake.data,
			    (unsigned long long)(want & mask_of(m.size)), bytes);
	}
}

int LLVMFuzzerTestOneInput(const u8 *data, size_t size)
{
	struct fuzz_input in = { data, size };
	u8 ctl = fuzz_u8(&in);
	enum fuzz_mode fmode = (enum fuzz_mode)(ctl & 3);
	enum mmio_mode mode = modes[fmode].mode;
	bool qual_write = ctl & 4;
	unsigned fetchable = ctl >> 4;
	u64 gprs = fuzz_uint(&in, 8), bus = fuzz_uint(&in, 8), rip = fuzz_uint(&in, 8);
	u32 cs_base = (u32)fuzz_uint(&in, 4);
	struct mmio_insn m, again;
	struct insn d;
	char bytes[64] = "";
	int err;

	for (size_t i = 0, pos = 0; i < in.n && i < 16; i++)
		pos += (size_t)sprintf(bytes + pos, "%02x ", in.p[i]);
	check_emulate(fmode, qual_write, fetchable, gprs, bus, rip, cs_base, in.p, in.n, bytes);
	err = mmio_decode(in.p, in.n, mode, &m);
	FUZZ_ASSERT(err == 0 || err == -EINVAL || err == -EAGAIN, "returned %d: %s", err, bytes);
	if (err)
		return 0;
	check_fields(&m, in.n, bytes);
	FUZZ_ASSERT(!mmio_decode(in.p, m.len, mode, &again) && same_insn(&m, &again),
		    "decodes differently with only its own %u bytes: %s", m.len, bytes);
	FUZZ_ASSERT(mmio_decode(in.p, m.len - 1u, mode, &again) == -EAGAIN,
		    "does not need its last byte: %s", bytes);
	FUZZ_ASSERT(x86_decode(&d, in.p, m.len, modes[fmode].bits) == m.len,
		    "the CPU's decoder says %d bytes, mmio.c %u: %s",
		    x86_decode(&d, in.p, m.len, modes[fmode].bits), m.len, bytes);
	check_with_zydis(fmode, &m, in.p, bytes);
	check_registers(&m, gprs, bus);
	return 0;
}
