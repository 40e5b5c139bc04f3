// SPDX-License-Identifier: MIT
/* AML writer; section numbers are ACPI 6.3's (ch. 20 the encoding, 6.4 resource descriptors). */
#include <errno.h>
#include <string.h>

#include "firmware/aml.h"

/* 20.2 opcodes and prefixes */
#define AML_ZERO_OP	     0x00
#define AML_ONE_OP	     0x01
#define AML_NAME_OP	     0x08
#define AML_BYTE_PREFIX	     0x0a
#define AML_WORD_PREFIX	     0x0b
#define AML_DWORD_PREFIX     0x0c
#define AML_STRING_PREFIX    0x0d
#define AML_QWORD_PREFIX     0x0e
#define AML_SCOPE_OP	     0x10
#define AML_BUFFER_OP	     0x11
#define AML_PACKAGE_OP	     0x12
#define AML_DUAL_NAME_PREFIX 0x2e
#define AML_MULTI_NAME_PREFIX 0x2f
#define AML_EXT_OP_PREFIX    0x5b
#define AML_DEVICE_OP	     0x82 /* after AML_EXT_OP_PREFIX */
#define AML_ROOT_CHAR	     0x5c

#define AML_PKGLENGTH_MAX ((1u << 28) - 1) /* 20.2.4: 4 bits + 3 bytes */

void aml_init(struct aml *a, u8 *buf, size_t cap)
{
	*a = (struct aml){ .buf = buf, .cap = cap };
}

long aml_finish(const struct aml *a)
{
	if (a->err)
		return a->err;
	if (a->depth)
		return -EINVAL;
	return (long)a->len;
}

/* The first error sticks. */
static void aml_fail(struct aml *a, int err)
{
	if (!a->err)
		a->err = err;
}

static void aml_put(struct aml *a, const void *p, size_t n)
{
	if (a->err)
		return;
	if (n > a->cap - a->len) {
		aml_fail(a, -ENOSPC);
		return;
	}
	memcpy(a->buf + a->len, p, n);
	a->len += n;
}

static void aml_byte(struct aml *a, u8 b)
{
	aml_put(a, &b, 1);
}

static void aml_le(struct aml *a, u64 v, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		aml_byte(a, (u8)(v >> (8 * i)));
}

/* 20.2.3 ComputationalData: ConstObj (Zero, One) or the shortest prefixed constant. OnesOp is not
   used: its width follows the DSDT revision (32 or 64 bits). */
void aml_integer(struct aml *a, u64 v)
{
	if (v <= 1) {
		aml_byte(a, v ? AML_ONE_OP : AML_ZERO_OP);
	} else if (v <= 0xff) {
		aml_byte(a, AML_BYTE_PREFIX);
		aml_le(a, v, 1);
	} else if (v <= 0xffff) {
		aml_byte(a, AML_WORD_PREFIX);
		aml_le(a, v, 2);
	} else if (v <= 0xffffffff) {
		aml_byte(a, AML_DWORD_PREFIX);
		aml_le(a, v, 4);
	} else {
		aml_byte(a, AML_QWORD_PREFIX);
		aml_le(a, v, 8);
	}
}

/* 20.2.3 String := StringPrefix AsciiCharList NullChar; AsciiChar is 0x01-0x7f. */
void aml_string(struct aml *a, const char *s)
{
	for (const char *c = s; *c; c++)
		if ((u8)*c > 0x7f)
			aml_fail(a, -EINVAL);
	aml_byte(a, AML_STRING_PREFIX);
	aml_put(a, s, strlen(s) + 1);
}

/*
 * 6.1.5: an EISA ID "UUUXXXX" (three upper-case letters, four hex digits) compressed into 32 bits:
 * the letters in 5 bits each (A = 1) in bits 30:16 of a big-endian value, the digits below them,
 * stored as the little-endian DWord iasl's EISAID() produces (PNP0A03 -> 0x030ad041).
 */
void aml_eisaid(struct aml *a, const char *id)
{
	u32 v = 0;

	if (strlen(id) != 7) {
		aml_fail(a, -EINVAL);
		return;
	}
	for (unsigned i = 0; i < 3; i++) {
		if (id[i] < 'A' || id[i] > 'Z') {
			aml_fail(a, -EINVAL);
			return;
		}
		v |= (u32)(id[i] - 'A' + 1) << (26 - 5 * i);
	}
	for (unsigned i = 3; i < 7; i++) {
		char c = id[i];
		unsigned d;

		if (c >= '0' && c <= '9')
			d = c - '0';
		else if (c >= 'A' && c <= 'F')
			d = c - 'A' + 10;
		else {
			aml_fail(a, -EINVAL);
			return;
		}
		v |= d << (4 * (6 - i));
	}
	aml_integer(a, __builtin_bswap32(v));
}

/* 20.2.2 NameSeg := LeadNameChar NameChar NameChar NameChar; shorter names are padded with '_'
   (as iasl does for "_SB" or "_S5"). */
static bool aml_name_seg(struct aml *a, const char *s, size_t n)
{
	char seg[4] = { '_', '_', '_', '_' };

	if (!n || n > 4)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		bool lead = (c >= 'A' && c <= 'Z') || c == '_';

		if (!lead && !(i && c >= '0' && c <= '9'))
			return false;
		seg[i] = c;
	}
	aml_put(a, seg, 4);
	return true;
}

/* 20.2.2 NameString := <RootChar NamePath> | <PrefixPath NamePath>, NamePath a NameSeg, a
   DualNamePath or a MultiNamePath; segments are separated by '.' in `name`. */
static void aml_name_string(struct aml *a, const char *name)
{
	unsigned nr_segs = 1;
	const char *p = name;

	if (*p == '\\') {
		aml_byte(a, AML_ROOT_CHAR);
		p++;
	}
	for (const char *c = p; *c; c++)
		nr_segs += *c == '.';
	if (nr_segs == 2) {
		aml_byte(a, AML_DUAL_NAME_PREFIX);
	} else if (nr_segs > 2) {
		aml_byte(a, AML_MULTI_NAME_PREFIX);
		aml_byte(a, (u8)nr_segs);
	}
	for (;;) {
		const char *dot = strchr(p, '.');
		size_t n = dot ? (size_t)(dot - p) : strlen(p);

		if (!aml_name_seg(a, p, n)) {
			aml_fail(a, -EINVAL);
			return;
		}
		if (!dot)
			return;
		p = dot + 1;
	}
}

/* 20.2.5.1 DefName := NameOp NameString DataRefObject */
void aml_name(struct aml *a, const char *name)
{
	aml_byte(a, AML_NAME_OP);
	aml_name_string(a, name);
}

/* Open a PkgLength: one byte now, widened by aml_end() when the body needs more. */
static void aml_open(struct aml *a)
{
	if (a->err)
		return;
	if (a->depth == AML_MAX_DEPTH) {
		a->err = -EINVAL;
		return;
	}
	a->open[a->depth++] = a->len;
	aml_byte(a, 0);
}

/*
 * 20.2.4 PkgLength: the length of the construct from the PkgLength's first byte to its end. Up
 * to 63 it fits the lead byte's bits 5:0; otherwise bits 7:6 count the 1-3 bytes that follow,
 * the lead byte's bits 3:0 are the low nibble and the following bytes the next 8 bits each.
 */
void aml_end(struct aml *a)
{
	size_t at, body;
	unsigned n;
	u64 len;

	if (a->err)
		return;
	if (!a->depth) {
		a->err = -EINVAL;
		return;
	}
	at = a->open[--a->depth];
	body = a->len - at - 1;
	if (body + 1 <= 0x3f)
		n = 1;
	else if (body + 2 < (1u << 12))
		n = 2;
	else if (body + 3 < (1u << 20))
		n = 3;
	else
		n = 4;
	len = body + n;
	if (len > AML_PKGLENGTH_MAX) {
		a->err = -ENOSPC;
		return;
	}
	if (n - 1 > a->cap - a->len) {
		a->err = -ENOSPC;
		return;
	}
	memmove(a->buf + at + n, a->buf + at + 1, body);
	a->len += n - 1;
	if (n == 1) {
		a->buf[at] = (u8)len;
		return;
	}
	a->buf[at] = (u8)((n - 1) << 6 | (len & 0xf));
	for (unsigned i = 1; i < n; i++)
		a->buf[at + i] = (u8)(len >> (4 + 8 * (i - 1)));
}

/* 20.2.5.1 DefScope := ScopeOp PkgLength NameString TermList */
void aml_scope_begin(struct aml *a, const char *name)
{
	aml_byte(a, AML_SCOPE_OP);
	aml_open(a);
	aml_name_string(a, name);
}

/* 20.2.5.2 DefDevice := DeviceOp PkgLength NameString TermList; DeviceOp := ExtOpPrefix 0x82 */
void aml_device_begin(struct aml *a, const char *name)
{
	aml_byte(a, AML_EXT_OP_PREFIX);
	aml_byte(a, AML_DEVICE_OP);
	aml_open(a);
	aml_name_string(a, name);
}

/* 20.2.5.4 DefPackage := PackageOp PkgLength NumElements PackageElementList */
void aml_package_begin(struct aml *a, u8 nr_elements)
{
	aml_byte(a, AML_PACKAGE_OP);
	aml_open(a);
	aml_byte(a, nr_elements);
}

/* 20.2.5.4 DefBuffer := BufferOp PkgLength BufferSize ByteList; NULL bytes: an overflowed
   ResourceTemplate, reported as -ENOSPC. */
void aml_buffer(struct aml *a, const u8 *bytes, size_t n)
{
	if (!bytes) {
		aml_fail(a, -ENOSPC);
		return;
	}
	aml_byte(a, AML_BUFFER_OP);
	aml_open(a);
	aml_integer(a, n);
	aml_put(a, bytes, n);
	aml_end(a);
}

void aml_rt_init(struct aml_rt *rt)
{
	rt->len = 0;
	rt->overflow = false;
}

static void aml_rt_put(struct aml_rt *rt, const u8 *p, size_t n)
{
	if (n > sizeof(rt->b) - rt->len) {
		rt->overflow = true;
		return;
	}
	memcpy(rt->b + rt->len, p, n);
	rt->len += n;
}

#define LE16(v) (u8)(v), (u8)((v) >> 8)
#define LE32(v) (u8)(v), (u8)((v) >> 8), (u8)((v) >> 16), (u8)((v) >> 24)

/* 6.4.2.5: tag 0x47 (small item 8, length 7); information bit 0 = 16-bit decode. */
void aml_rt_io(struct aml_rt *rt, u16 base, u8 align, u8 len)
{
	const u8 d[] = { 0x47, 0x01, LE16(base), LE16(base), align, len };

	aml_rt_put(rt, d, sizeof(d));
}

/* 6.4.2.1: tag 0x22 (small item 4, length 2): the IRQ mask, edge-triggered active-high. */
void aml_rt_irq_noflags(struct aml_rt *rt, unsigned irq)
{
	u16 mask = irq < 16 ? (u16)(1u << irq) : 0;
	const u8 d[] = { 0x22, LE16(mask) };

	if (irq >= 16)
		rt->overflow = true;
	aml_rt_put(rt, d, sizeof(d));
}

/* 6.4.3.4: large item 0x06, length 9; information bit 0 = read-write. */
void aml_rt_mem32_fixed(struct aml_rt *rt, bool writable, u32 base, u32 len)
{
	const u8 d[] = { 0x86, LE16(9), writable, LE32(base), LE32(len) };

	aml_rt_put(rt, d, sizeof(d));
}

/* 6.4.3.6: large item 0x09; flags bit 0 consumer, bit 1 edge (0 = level), bit 2 active-low,
   bit 3 shared; then the table length and the interrupt numbers (GSIs on x86). */
void aml_rt_interrupt(struct aml_rt *rt, bool level, bool active_low, u32 gsi)
{
	u8 flags = BIT(0) | (level ? 0 : BIT(1)) | (active_low ? BIT(2) : 0);
	const u8 d[] = { 0x89, LE16(6), flags, 1, LE32(gsi) };

	aml_rt_put(rt, d, sizeof(d));
}

/* General flags of the address space descriptors a bridge produces (6.4.3.5.1-3):
   bit 3 _MAF, bit 2 _MIF, bit 1 _DEC = 0 (positive decode), bit 0 = 0 (producer). */
#define AML_ADDR_PRODUCER_FIXED 0x0c
#define AML_ADDR_TYPE_MEMORY	0
#define AML_ADDR_TYPE_IO	1
#define AML_ADDR_TYPE_BUS	2

/* 6.4.3.5.3: large item 0x08, length 13. */
static void aml_rt_word(struct aml_rt *rt, u8 type, u8 type_flags, u16 min, u16 max)
{
	u16 len = (u16)(max - min + 1);
	const u8 d[] = { 0x88, LE16(13), type, AML_ADDR_PRODUCER_FIXED, type_flags,
			 LE16(0), LE16(min), LE16(max), LE16(0), LE16(len) };

	aml_rt_put(rt, d, sizeof(d));
}

void aml_rt_word_bus_number(struct aml_rt *rt, u16 min, u16 max)
{
	aml_rt_word(rt, AML_ADDR_TYPE_BUS, 0, min, max);
}

/* I/O type-specific flags (6.4.3.5.3): _RNG = 3, both ISA and non-ISA ranges. */
void aml_rt_word_io(struct aml_rt *rt, u16 min, u16 max)
{
	aml_rt_word(rt, AML_ADDR_TYPE_IO, 0x03, min, max);
}

/* 6.4.3.5.2: large item 0x07, length 23; memory type-specific flags: bit 0 _RW,
   _MEM = 0 non-cacheable, _MTP = 0 AddressRangeMemory, _TTP = 0 TypeStatic. */
void aml_rt_dword_memory(struct aml_rt *rt, u32 min, u32 max)
{
	u32 len = max - min + 1;
	const u8 d[] = { 0x87, LE16(23), AML_ADDR_TYPE_MEMORY, AML_ADDR_PRODUCER_FIXED, 0x01,
			 LE32(0), LE32(min), LE32(max), LE32(0), LE32(len) };

	aml_rt_put(rt, d, sizeof(d));
}

/* 6.4.2.9 End Tag: 0x79 and a checksum byte; 0 means "treat the checksum as valid", as iasl
   writes it. */
const u8 *aml_rt_bytes(struct aml_rt *rt, size_t *len)
{
	static const u8 end[] = { 0x79, 0x00 };

	aml_rt_put(rt, end, sizeof(end));
	*len = rt->len;
	return rt->overflow ? NULL : rt->b;
}
