// SPDX-License-Identifier: MIT
/*
 * The CPU's instruction decoder, x86_decode() (src/cpu/decode.c), on any bytes in every mode.
 * Input: one byte choosing the mode (below, modulo their number), then the instruction bytes.
 * Asserted:
 *   1. The length contract (decode.c): -1, or a length 1..avail; d->len is that length.
 *   2. Decoding depends on the instruction's own bytes only: the same bytes cut right after the
 *      instruction decode to the same struct insn, and one byte shorter to -1 ("needs more").
 *      The block decoder (exec.c) relies on this at page ends.
 *   3. Every field a handler uses as an index is in range (registers, base, index, scale,
 *      segment, address size, and the operand size of a valid encoding), invalid encodings
 *      included.
 *   4. Where Zydis, the oracle, decodes the first 15 bytes, our length equals its length.
 *      Exception, as in tests/unit/test_decode_zydis.c: Zydis 4.0 decodes some Knights Corner
 *      encodings (KNC, KNCE, KNCV) even with its KNC mode off; no x86-64 CPU runs them (#UD
 *      there), so they are not compared.
 *   5. For an encoding the CPU runs (not INSN_INVALID) whose ModRM names memory, the address
 *      the handlers compute is Zydis's: address size, base (rIP for RIP-relative), index, scale
 *      and displacement; outside 64-bit mode also the segment (in 64-bit mode only FS and GS
 *      count, SDM vol. 1 3.3.7.1). Immediates: their bytes equal Zydis's. Exceptions where
 *      Zydis 4.0 is wrong or reads differently are documented where they are made.
 */
#include <Zydis/Zydis.h>

#include "cpu/internal.h"
#include "fuzz.h"

static const struct {
	ZydisMachineMode zmode;
	ZydisStackWidth width;
	unsigned bits;
} modes[] = {
	{ ZYDIS_MACHINE_MODE_LONG_64, ZYDIS_STACK_WIDTH_64, 64 },
	{ ZYDIS_MACHINE_MODE_LONG_COMPAT_32, ZYDIS_STACK_WIDTH_32, 32 },
	{ ZYDIS_MACHINE_MODE_LEGACY_32, ZYDIS_STACK_WIDTH_32, 32 },
	{ ZYDIS_MACHINE_MODE_LONG_COMPAT_16, ZYDIS_STACK_WIDTH_16, 16 },
	{ ZYDIS_MACHINE_MODE_LEGACY_16, ZYDIS_STACK_WIDTH_16, 16 },
};

/* Zydis's decoding of the instruction at p; false when it is not one x86-64 CPUs run. */
static bool oracle_decode(unsigned mode, const u8 *p, size_t n, ZydisDecodedInstruction *zi,
			  ZydisDecodedOperand *ops)
{
	static ZydisDecoder dec[ARRAY_SIZE(modes)];
	static bool ready[ARRAY_SIZE(modes)];

	if (!ready[mode]) {
		ZydisDecoderInit(&dec[mode], modes[mode].zmode, modes[mode].width);
		ready[mode] = true;
	}
	if (!ZYAN_SUCCESS(ZydisDecoderDecodeFull(&dec[mode], p, n, zi, ops)))
		return false;
	switch (zi->meta.isa_ext) {
	case ZYDIS_ISA_EXT_KNC:
	case ZYDIS_ISA_EXT_KNCE:
	case ZYDIS_ISA_EXT_KNCV:
		return false;
	default:
		return true;
	}
}

/* Our number for Zydis's address register: 0-15, BASE_RIP or BASE_NONE. */
static unsigned our_reg(ZydisMachineMode zmode, ZydisRegister r)
{
	if (r == ZYDIS_REGISTER_NONE)
		return BASE_NONE;
	if (r == ZYDIS_REGISTER_RIP || r == ZYDIS_REGISTER_EIP || r == ZYDIS_REGISTER_IP)
		return BASE_RIP;
	return (unsigned)ZydisRegisterGetId(ZydisRegisterGetLargestEnclosing(zmode, r));
}

static unsigned our_seg(ZydisRegister r)
{
	switch (r) {
	case ZYDIS_REGISTER_ES:
		return SEG_ES;
	case ZYDIS_REGISTER_CS:
		return SEG_CS;
	case ZYDIS_REGISTER_SS:
		return SEG_SS;
	case ZYDIS_REGISTER_FS:
		return SEG_FS;
	case ZYDIS_REGISTER_GS:
		return SEG_GS;
	default:
		return SEG_DS;
	}
}

static void check_operands(const struct insn *d, unsigned bits, const ZydisDecodedInstruction *zi,
			   const ZydisDecodedOperand *ops, const char *bytes)
{
	const ZydisDecodedOperand *m = NULL;

	for (unsigned i = 0; i < zi->operand_count_visible && !m; i++)
		if (ops[i].type == ZYDIS_OPERAND_TYPE_MEMORY &&
		    (ops[i].mem.type == ZYDIS_MEMOP_TYPE_MEM ||
		     ops[i].mem.type == ZYDIS_MEMOP_TYPE_AGEN))
			m = &ops[i];
	/* 0F 18-1F run as NOPs that compute no address (decode.c; SDM vol. 2B NOP): the soft CPU
	   has none of the prefetch hints, MPX, CET or CLDEMOTE that Zydis decodes there, and MPX's
	   rules give a different address size (Zydis: 67 does not apply in 64-bit mode). */
	if (d->opcode >= 0x118 && d->opcode <= 0x11f)
		m = NULL;
	if (m && (zi->attributes & ZYDIS_ATTRIB_HAS_MODRM) && zi->raw.modrm.mod != 3) {
		unsigned seg = our_seg(m->mem.segment),
			 base = our_reg(zi->machine_mode, m->mem.base);
		s64 disp = m->mem.disp.value;

		/* SIB base 101 with mod 00 is disp32 and no base, REX.B or not (SDM vol.
		   2A 2.2.1.2, Table 2-5). Zydis 4.0 gets it wrong with a 32-bit address size and
		   REX.B: it reports base r13d and drops the displacement (zyantific/zydis#592,
		   fixed after 4.0). */
		if (zi->address_width != 16 && zi->raw.modrm.mod == 0 && zi->raw.modrm.rm == 4 &&
		    zi->raw.sib.base == 5) {
			base = BASE_NONE;
			disp = zi->raw.disp.value;
		}
		FUZZ_ASSERT(d->mem && d->asz * 8 == zi->address_width && d->base == base &&
				    d->index == our_reg(zi->machine_mode, m->mem.index) &&
				    (d->index == BASE_NONE || 1u << d->scale == m->mem.scale) &&
				    d->disp == disp,
			    "%u-bit: memory operand: mem %u asz %u base %u index %u scale %u disp "
			    "%d; Zydis: asz %u base %s index %s scale %u disp %lld: %s",
			    bits, d->mem, d->asz, d->base, d->index, 1u << d->scale, d->disp,
			    zi->address_width, ZydisRegisterGetString(m->mem.base),
			    ZydisRegisterGetString(m->mem.index), m->mem.scale,
			    (long long)m->mem.disp.value, bytes);
		/* LEA computes no linear address: its segment is meaningless. Zydis reads 3E on an
		   indirect CALL/JMP as NOTRACK (CET) alone; on a CPU without CET, as the soft CPU
		   is, it is the DS override (SDM vol. 2A 2.1.1). */
		FUZZ_ASSERT(m->mem.type == ZYDIS_MEMOP_TYPE_AGEN ||
				    (zi->attributes & ZYDIS_ATTRIB_HAS_NOTRACK) ||
				    (bits == 64 ? (d->seg >= SEG_FS) == (seg >= SEG_FS) &&
							  (seg < SEG_FS || d->seg == seg)
						: d->seg == seg),
			    "%u-bit: segment %u, Zydis %s: %s", bits, d->seg,
			    ZydisRegisterGetString(m->mem.segment), bytes);
	}
	for (unsigned i = 0; i < 2; i++) {
		unsigned size = zi->raw.imm[i].size;
		u64 ours = i ? d->imm2 : d->imm, mask = size >= 64 ? ~0ull : (1ull << size) - 1;

		if (size)
			FUZZ_ASSERT((ours & mask) == (zi->raw.imm[i].value.u & mask),
				    "%u-bit: immediate %u: %#llx, Zydis %#llx (%u bits): %s", bits,
				    i, (unsigned long long)ours,
				    (unsigned long long)zi->raw.imm[i].value.u, size, bytes);
	}
}

static void hex(char *out, const u8 *p, size_t n)
{
	for (size_t i = 0; i < n && i < 16; i++)
		out += sprintf(out, "%02x ", p[i]);
	*out = '\0';
}

static void check_fields(const struct insn *d, const char *bytes)
{
	FUZZ_ASSERT(d->fn, "no handler: %s", bytes);
	/* An invalid encoding runs only the #UD handler, which reads no operand size. */
	FUZZ_ASSERT((d->flags & INSN_INVALID) || d->osz == 1 || d->osz == 2 || d->osz == 4 ||
			    d->osz == 8,
		    "osz %u: %s", d->osz, bytes);
	FUZZ_ASSERT(d->asz == 2 || d->asz == 4 || d->asz == 8, "asz %u: %s", d->asz, bytes);
	FUZZ_ASSERT(d->reg < REG_AH + 4 && d->rm < REG_AH + 4, "reg %u, rm %u: %s", d->reg, d->rm,
		    bytes);
	FUZZ_ASSERT(d->base < 16 || d->base == BASE_NONE || d->base == BASE_RIP, "base %u: %s",
		    d->base, bytes);
	FUZZ_ASSERT(d->index < 16 || d->index == BASE_NONE, "index %u: %s", d->index, bytes);
	FUZZ_ASSERT(d->scale <= 3 && d->seg <= SEG_GS && d->vvvv < 16 && d->rep <= REP_NE,
		    "scale %u, seg %u, vvvv %u, rep %u: %s", d->scale, d->seg, d->vvvv, d->rep,
		    bytes);
}

int LLVMFuzzerTestOneInput(const u8 *data, size_t size)
{
	struct insn d, again;
	ZydisDecodedInstruction zi;
	ZydisDecodedOperand ops[ZYDIS_MAX_OPERAND_COUNT];
	unsigned mode, bits;
	const u8 *p = data + 1;
	size_t n;
	char bytes[64];
	int len;

	if (!size)
		return 0;
	mode = data[0] % ARRAY_SIZE(modes);
	bits = modes[mode].bits;
	n = size - 1;
	hex(bytes, p, n);

	len = x86_decode(&d, p, n, bits);
	FUZZ_ASSERT(len == -1 || (len >= 1 && (size_t)len <= n),
		    "%u-bit: returned %d for %zu bytes: %s", bits, len, n, bytes);
	if (len > 0) {
		FUZZ_ASSERT(d.len == (len > 255 ? 255 : len), "%u-bit: d.len %u, returned %d: %s",
			    bits, d.len, len, bytes);
		check_fields(&d, bytes);
		FUZZ_ASSERT(x86_decode(&again, p, (size_t)len, bits) == len &&
				    !memcmp(&d, &again, sizeof(d)),
			    "%u-bit: decodes differently with only its own %d bytes: %s", bits, len,
			    bytes);
		FUZZ_ASSERT(x86_decode(&again, p, (size_t)len - 1, bits) == -1,
			    "%u-bit: decodes with %d of its %d bytes: %s", bits, len - 1, len,
			    bytes);
	}

	if (!oracle_decode(mode, p, n < 15 ? n : 15, &zi, ops))
		return 0;
	FUZZ_ASSERT(len == zi.length, "%u-bit (Zydis machine mode %d): length %d, Zydis %u: %s",
		    bits, modes[mode].zmode, len, zi.length, bytes);
	if (!(d.flags & INSN_INVALID))
		check_operands(&d, bits, &zi, ops, bytes);
	return 0;
}
