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

/* Zydis's length for the instruction at p, or 0 when it is not one x86-64 CPUs run. */
static unsigned oracle_length(unsigned mode, const u8 *p, size_t n)
{
	static ZydisDecoder dec[ARRAY_SIZE(modes)];
	static bool ready[ARRAY_SIZE(modes)];
	ZydisDecodedInstruction insn;

	if (!ready[mode]) {
		ZydisDecoderInit(&dec[mode], modes[mode].zmode, modes[mode].width);
		ready[mode] = true;
	}
	if (!ZYAN_SUCCESS(ZydisDecoderDecodeInstruction(&dec[mode], NULL, p, n, &insn)))
		return 0;
	switch (insn.meta.isa_ext) {
	case ZYDIS_ISA_EXT_KNC:
	case ZYDIS_ISA_EXT_KNCE:
	case ZYDIS_ISA_EXT_KNCV:
		return 0;
	default:
		return insn.length;
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
	unsigned mode, bits, zlen;
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

	zlen = oracle_length(mode, p, n < 15 ? n : 15);
	FUZZ_ASSERT(!zlen || len == (int)zlen,
		    "%u-bit (Zydis machine mode %d): length %d, Zydis %u: %s", bits,
		    modes[mode].zmode, len, zlen, bytes);
	return 0;
}
