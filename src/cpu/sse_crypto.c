// SPDX-License-Identifier: MIT
/*
 * AES-NI (AESENC, AESENCLAST, AESDEC, AESDECLAST, AESIMC, AESKEYGENASSIST), PCLMULQDQ and
 * CRC32 (SDM vol. 2, each instruction's page; AES as FIPS-197 defines its round steps). The host
 * instruction runs when the host has it (sse_host.c); otherwise these C versions do, so the
 * guest's CPUID advertises the instructions whatever the host. AESKEYGENASSIST is C only (its
 * immediate would need 256 host stubs).
 */
#include <pthread.h>

#include "cpu/sse.h"
#include "cpu/sse_ops.h"

/* --- AES (FIPS-197 5.1, 5.3) --- */

static u8 aes_sbox[256], aes_inv_sbox[256];

/* Multiplication in GF(2^8) modulo x^8 + x^4 + x^3 + x + 1. */
static u8 gf_mul(u8 a, u8 b)
{
	u8 r = 0;

	while (b) {
		if (b & 1)
			r ^= a;
		a = (u8)(a << 1 ^ (a & 0x80 ? 0x1b : 0));
		b >>= 1;
	}
	return r;
}

/* The S-box: the multiplicative inverse (0 for 0), then the affine map of FIPS-197 5.1.1. */
static void aes_tables_init(void)
{
	for (unsigned x = 0; x < 256; x++) {
		u8 inv = 0, s;

		for (unsigned y = 1; y < 256 && x; y++)
			if (gf_mul((u8)x, (u8)y) == 1) {
				inv = (u8)y;
				break;
			}
		s = inv;
		for (unsigned k = 1; k < 5; k++)
			s ^= (u8)(inv << k | inv >> (8 - k));
		s ^= 0x63;
		aes_sbox[x] = s;
		aes_inv_sbox[s] = (u8)x;
	}
}

static void aes_init_once(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;

	pthread_once(&once, aes_tables_init);
}

/* The state is column-major: byte 4c + r is row r of column c. */
static void shift_rows(xmm_t *s, bool inv)
{
	xmm_t t = *s;

	for (unsigned r = 1; r < 4; r++)
		for (unsigned col = 0; col < 4; col++)
			s->b[4 * col + r] = t.b[4 * ((inv ? col + 4 - r : col + r) & 3) + r];
}

static void sub_bytes(xmm_t *s, bool inv)
{
	for (unsigned i = 0; i < 16; i++)
		s->b[i] = inv ? aes_inv_sbox[s->b[i]] : aes_sbox[s->b[i]];
}

static void mix_columns(xmm_t *s, bool inv)
{
	static const u8 fwd[4] = { 2, 3, 1, 1 }, bwd[4] = { 14, 11, 13, 9 };
	const u8 *k = inv ? bwd : fwd;

	for (unsigned col = 0; col < 4; col++) {
		u8 a[4], *p = &s->b[4 * col];

		memcpy(a, p, 4);
		for (unsigned r = 0; r < 4; r++)
			p[r] = gf_mul(a[r], k[0]) ^ gf_mul(a[(r + 1) & 3], k[1]) ^
			       gf_mul(a[(r + 2) & 3], k[2]) ^ gf_mul(a[(r + 3) & 3], k[3]);
	}
}

/* op: 0 AESENC, 1 AESENCLAST, 2 AESDEC, 3 AESDECLAST, 4 AESIMC (SDM vol. 2 AESENC...). */
static void aes_c(unsigned op, xmm_t *a, const xmm_t *b)
{
	aes_init_once();
	if (op == 4) {
		*a = *b;
		mix_columns(a, true);
		return;
	}
	shift_rows(a, op >= 2);
	sub_bytes(a, op >= 2);
	if (!(op & 1))
		mix_columns(a, op >= 2);
	a->q[0] ^= b->q[0];
	a->q[1] ^= b->q[1];
}

/* AESIMC (66 0F 38 DB), AESENC (DC), AESENCLAST (DD), AESDEC (DE), AESDECLAST (DF). */
void sse_aes(struct cpu *c, const struct insn *d)
{
	static const u8 ops[5] = { 4, 0, 1, 2, 3 };
	unsigned op = ops[(d->opcode & 0xff) - 0xdb];
	xmm_t a, b;

	sse_check(c);
	sse_src128(c, d, &b);
	xmm_get(c, d->reg, &a);
	if (sse_host_has_aes)
		sse_host_aes_op(op, &a, &b);
	else
		aes_c(op, &a, &b);
	xmm_put(c, d->reg, &a);
}

static u32 sub_word(u32 w)
{
	return (u32)aes_sbox[w & 0xff] | (u32)aes_sbox[(w >> 8) & 0xff] << 8 |
	       (u32)aes_sbox[(w >> 16) & 0xff] << 16 | (u32)aes_sbox[w >> 24] << 24;
}

/* AESKEYGENASSIST xmm, xmm/m128, imm8 (66 0F 3A DF): SubWord of X1 and X3, and each rotated
   right by 8 and XORed with the zero-extended imm8. */
void sse_aeskeygenassist(struct cpu *c, const struct insn *d)
{
	u32 rcon = (u8)d->imm, x1, x3;
	xmm_t b, r;

	sse_check(c);
	sse_src128(c, d, &b);
	aes_init_once();
	x1 = sub_word(b.d[1]);
	x3 = sub_word(b.d[3]);
	r.d[0] = x1;
	r.d[1] = (x1 >> 8 | x1 << 24) ^ rcon;
	r.d[2] = x3;
	r.d[3] = (x3 >> 8 | x3 << 24) ^ rcon;
	xmm_put(c, d->reg, &r);
}

/* --- PCLMULQDQ xmm, xmm/m128, imm8 (66 0F 3A 44) --- */

static void clmul_c(xmm_t *a, const xmm_t *b, u8 imm)
{
	u64 x = a->q[imm & 1], y = b->q[(imm >> 4) & 1], lo = 0, hi = 0;

	for (unsigned i = 0; i < 64; i++)
		if (y >> i & 1) {
			lo ^= x << i;
			hi ^= i ? x >> (64 - i) : 0;
		}
	a->q[0] = lo;
	a->q[1] = hi;
}

void sse_pclmulqdq(struct cpu *c, const struct insn *d)
{
	xmm_t a, b;

	sse_check(c);
	sse_src128(c, d, &b);
	xmm_get(c, d->reg, &a);
	if (sse_host_has_pclmul)
		sse_host_pclmul(&a, &b, (u8)d->imm);
	else
		clmul_c(&a, &b, (u8)d->imm);
	xmm_put(c, d->reg, &a);
}

/* --- CRC32 (F2 0F 38 F0/F1) --- */

/* CRC-32C (Castagnoli, polynomial 11EDC6F41H) as CRC32 computes it: bit-reflected, no final
   inversion (SDM vol. 2 CRC32). */
static u32 crc32c_c(u32 crc, u64 v, unsigned size)
{
	for (unsigned i = 0; i < size * 8; i++) {
		crc ^= (u32)(v >> i) & 1;
		crc = crc >> 1 ^ (crc & 1 ? 0x82f63b78u : 0);
	}
	return crc;
}

/*
 * CRC32 r32, r/m8 (F0) and r32, r/m16/32 (F1; 66 for 16), r64, r/m8/64 with REX.W: not an SSE
 * instruction (no CR0/CR4 checks). The accumulator is the low 32 bits of the destination; the
 * result is zero-extended into it. Without REX, byte registers 4-7 are AH, CH, DH, BH.
 */
void sse_crc32(struct cpu *c, const struct insn *d)
{
	unsigned n = (d->opcode & 0xff) == 0xf0 ? 1 : d->osz;
	u32 crc = (u32)c->gpr[d->reg];
	unsigned rm = d->rm;
	u64 v;

	if (n == 1 && !(d->pfx & PFX_REX) && !d->mem && rm >= 4 && rm < 8)
		rm += REG_AH - 4;
	v = d->mem ? mem_read(c, d->seg, insn_ea(c, d), n) : reg_read(c, rm, n);
	crc = sse_host_has_crc32 ? sse_host_crc32(crc, v, n) : crc32c_c(crc, v, n);
	reg_write(c, d->reg, crc, 8);
}
