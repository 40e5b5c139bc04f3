// SPDX-License-Identifier: MIT
/*
 * The MMIO instruction decoder (src/vmm/mmio.c) on any bytes, with Zydis as the oracle.
 * Input: one byte choosing the mode (16, 32, 64-bit, modulo 3), 8 bytes of the register's old
 * value, 8 bytes of bus data, then the instruction bytes. Asserted:
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
 */
#include <errno.h>

#include <Zydis/Zydis.h>

#include "cpu/internal.h"
#include "vmm/mmio.h"
#include "fuzz.h"

static const struct {
	ZydisMachineMode zmode;
	ZydisStackWidth width;
	unsigned bits;
} modes[] = {
	[MMIO_MODE16] = { ZYDIS_MACHINE_MODE_LEGACY_16, ZYDIS_STACK_WIDTH_16, 16 },
	[MMIO_MODE32] = { ZYDIS_MACHINE_MODE_LEGACY_32, ZYDIS_STACK_WIDTH_32, 32 },
	[MMIO_MODE64] = { ZYDIS_MACHINE_MODE_LONG_64, ZYDIS_STACK_WIDTH_64, 64 },
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

static void check_with_zydis(enum mmio_mode mode, const struct mmio_insn *m, const u8 *p,
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

int LLVMFuzzerTestOneInput(const u8 *data, size_t size)
{
	struct fuzz_input in = { data, size };
	enum mmio_mode mode = (enum mmio_mode)(fuzz_u8(&in) % ARRAY_SIZE(modes));
	u64 old = fuzz_uint(&in, 8), bus = fuzz_uint(&in, 8);
	struct mmio_insn m, again;
	struct insn d;
	char bytes[64] = "";
	int err;

	for (size_t i = 0, pos = 0; i < in.n && i < 16; i++)
		pos += (size_t)sprintf(bytes + pos, "%02x ", in.p[i]);
	err = mmio_decode(in.p, in.n, mode, &m);
	FUZZ_ASSERT(err == 0 || err == -EINVAL || err == -EAGAIN, "returned %d: %s", err, bytes);
	if (err)
		return 0;
	check_fields(&m, in.n, bytes);
	FUZZ_ASSERT(!mmio_decode(in.p, m.len, mode, &again) && same_insn(&m, &again),
		    "decodes differently with only its own %u bytes: %s", m.len, bytes);
	FUZZ_ASSERT(mmio_decode(in.p, m.len - 1u, mode, &again) == -EAGAIN,
		    "does not need its last byte: %s", bytes);
	FUZZ_ASSERT(x86_decode(&d, in.p, m.len, modes[mode].bits) == m.len,
		    "the CPU's decoder says %d bytes, mmio.c %u: %s",
		    x86_decode(&d, in.p, m.len, modes[mode].bits), m.len, bytes);
	check_with_zydis(mode, &m, in.p, bytes);
	check_registers(&m, old, bus);
	return 0;
}
