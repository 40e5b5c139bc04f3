// SPDX-License-Identifier: MIT
/*
 * The differential tester's block generator (gen.h, docs/difftest.md): random ring-3 integer
 * instruction blocks, their input state, and the arithmetic flags each instruction leaves
 * undefined. Freestanding: no library calls, no floating point, so the guest and the host program
 * produce the same bytes.
 *
 * Adding an instruction group: write a gen_<group>() that emits the instructions (insn_begin,
 * the bytes, insn_end with the flags it defines and leaves undefined), add it to classes[] with a
 * weight, the feature bit it needs (gen.h) and whether it may be skipped by a branch (`straight`:
 * no control transfer, no change of stack depth), and list it in docs/difftest.md.
 *
 * In soft but not generated (the reasons are in docs/difftest.md): CPUID, RDTSC, RDTSCP, RDPMC,
 * SGDT, SIDT, XGETBV (their values differ between machines); SYSCALL, SYSENTER, SYSEXIT, INT 0x80,
 * VMCALL and the other VMX instructions (they leave the oracle's process or the VM);
 * POP FS/GS, LFS, LGS, MOV to FS/GS (the oracle's thread pointer); MONITOR/MWAIT, CLAC/STAC,
 * INVPCID (they depend on host settings or CPUID); far transfers to compatibility mode. Not in
 * soft, so not generated: x87, MMX, SSE, AVX (a later issue), BMI2 (BZHI MULX PDEP PEXT RORX SARX
 * SHLX SHRX), ADX (ADCX ADOX), RDRAND, RDSEED, RDPID, CLFLUSHOPT, CLWB, CRC32, FSGSBASE, RTM.
 */
#include "gen.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#define F_CF GEN_CF
#define F_PF GEN_PF
#define F_AF GEN_AF
#define F_ZF GEN_ZF
#define F_SF GEN_SF
#define F_OF GEN_OF
#define F_ALL GEN_ARITH

/* Other RFLAGS bits (SDM vol. 1 3.4.3). */
#define FL_TF 0x100
#define FL_IF 0x200
#define FL_DF 0x400
#define FL_IOPL 0x3000
#define FL_NT 0x4000
#define FL_RF 0x10000
#define FL_VM 0x20000
#define FL_AC 0x40000
#define FL_VIF 0x80000
#define FL_VIP 0x100000
#define FL_ID 0x200000

#define CODE_LIMIT 3900 /* room for the closing JMP and one more instruction */
#define STACK_LIMIT 384 /* bytes a block may push or pop away from its starting RSP */

/* ---- random numbers: splitmix64 ---- */

static u64 mix64(u64 z)
{
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static u64 rnd(struct gen *g)
{
	g->rng += 0x9e3779b97f4a7c15ULL;
	return mix64(g->rng);
}

static u32 below(struct gen *g, u32 n) { return (u32)((rnd(g) >> 32) * n >> 32); }
static bool chance(struct gen *g, u32 n) { return below(g, n) == 0; }
static bool has(const struct gen *g, u32 f) { return g->cfg->features & f; }

/* Values that reach the edges of every width (carries, overflows, signs, zero). */
static u64 rnd_value(struct gen *g)
{
	static const u64 edge[] = { 0, 1, 2, 0x7f, 0x80, 0xff, 0x7fff, 0x8000, 0xffff,
				    0x7fffffff, 0x80000000, 0xffffffff, 0x7fffffffffffffffULL,
				    0x8000000000000000ULL, ~0ULL, ~1ULL };
	switch (below(g, 6)) {
	case 0:
		return edge[below(g, ARRAY_SIZE(edge))];
	case 1:
		return below(g, 64);
	case 2:
		return (u64)-(s64)below(g, 64);
	case 3: {
		u64 v = edge[below(g, ARRAY_SIZE(edge))];

		return v ^ 1ULL << below(g, 64);
	}
	default:
		return rnd(g);
	}
}

/* ---- the encoder (SDM vol. 2A chapter 2: prefixes, REX, ModRM, SIB, displacement) ---- */

enum { P_66 = 1, P_F2 = 2, P_F3 = 4, P_LOCK = 8, P_67 = 16 };

struct rm {
	bool mem;
	int reg;	 /* register operand when !mem */
	int base, index; /* -1: none (both -1: [disp32]) */
	int scale;	 /* log2 */
	s32 disp;
	bool disp32;
	bool nodisp;	 /* mod 00 with a base: no displacement byte (disp is 0) */
	bool a32;	 /* 67h: 32-bit addressing, the registers' upper halves are ignored */
	bool wild;	 /* points where nothing is mapped on purpose */
	bool rip;	 /* RIP-relative to `target` (SDM vol. 2A 2.2.1.6) */
	bool gs;	 /* GS override: the address is GS.base + effective address */
	u64 target;
};

static void put(struct gen *g, u64 v, int bytes)
{
	for (int i = 0; i < bytes; i++)
		*g->p++ = v >> (8 * i);
}

static u64 here(const struct gen *g) { return g->cfg->code_addr + (u64)(g->p - g->buf); }

static void insn_begin(struct gen *g)
{
	g->off[g->n] = g->p - g->buf;
	g->undef[g->n] = g->cur_undef;
}

/* Instruction done: flags in def now hold defined values, flags in undef are undefined. */
static void insn_end(struct gen *g, u16 def, u16 undef)
{
	g->cur_undef = (g->cur_undef & ~def) | undef;
	g->n++;
	g->off[g->n] = g->p - g->buf;
	g->undef[g->n] = g->cur_undef;
}

static const u8 null_seg[4] = { 0x26, 0x2e, 0x36, 0x3e };

/*
 * Emit prefixes, REX, opcode, ModRM/SIB/displacement and immediate.  w is the operand size
 * (1, 2, 4, 8); regf the ModRM reg field (a register or an opcode extension); byteregs: a
 * register operand is 8-bit, so without hi8 a REX prefix is forced (SPL..DIL, not AH..BH).
 */
static void emit_modrm(struct gen *g, int w, unsigned pfx, const u8 *op, int oplen, int regf,
		       const struct rm *rm, bool byteregs, u64 imm, int immlen)
{
	u8 rex = 0x40;

	/* ES CS SS DS overrides: no base in 64-bit mode (SDM vol. 1 3.3.7.1); decoders skip them */
	if (rm->mem && chance(g, 12)) {
		/* a REX not directly before the opcode is ignored (SDM vol. 2A 2.2.1) */
		if (chance(g, 3))
			put(g, 0x40 | below(g, 16), 1);
		put(g, null_seg[below(g, 4)], 1);
	}
	if (rm->gs) {
		put(g, 0x65, 1);
		/* a null override after GS: which one counts is the question (docs/difftest.md) */
		if (chance(g, 8))
			put(g, null_seg[below(g, 4)], 1);
	}
	if (pfx & P_LOCK)
		put(g, 0xf0, 1);
	if ((pfx & P_67) || rm->a32)
		put(g, 0x67, 1);
	/* 66h also where it changes nothing: on byte operations, and under REX.W, which wins
	   (SDM vol. 2A 2.2.1.2) */
	if (w == 2 || (pfx & P_66) || ((w == 1 || w == 8) && oplen == 1 && chance(g, 32)))
		put(g, 0x66, 1);
	if (pfx & P_F2)
		put(g, 0xf2, 1);
	if (pfx & P_F3)
		put(g, 0xf3, 1);
	if (w == 8)
		rex |= 8;
	if (regf >= 8)
		rex |= 4;
	if (rm->mem) {
		if (rm->index >= 8)
			rex |= 2;
		if (rm->base >= 8)
			rex |= 1;
	} else if (rm->reg >= 8) {
		rex |= 1;
	}
	/* an empty REX changes nothing where no byte register is named */
	if (rex != 0x40 || (byteregs && !g->hi8) || (!byteregs && chance(g, 32)))
		put(g, rex, 1);
	for (int i = 0; i < oplen; i++)
		put(g, op[i], 1);
	if (!rm->mem) {
		put(g, 0xc0 | (regf & 7) << 3 | (rm->reg & 7), 1);
	} else if (rm->rip) {
		put(g, 0x05 | (regf & 7) << 3, 1);
		put(g, rm->target - (here(g) + 4 + immlen), 4);
	} else if (rm->base < 0) {
		put(g, 0x04 | (regf & 7) << 3, 1);
		put(g, (rm->index < 0 ? 4 : rm->index & 7) << 3 | rm->scale << 6 | 5, 1);
		put(g, (u32)rm->disp, 4);
	} else {
		int mod = rm->nodisp ? 0 : rm->disp32 ? 2 : 1;
		if (rm->index < 0 && (rm->base & 7) != 4) {
			put(g, mod << 6 | (regf & 7) << 3 | (rm->base & 7), 1);
		} else {
			put(g, mod << 6 | (regf & 7) << 3 | 4, 1);
			put(g, rm->scale << 6 | (rm->index < 0 ? 4 : rm->index & 7) << 3 |
				       (rm->base & 7), 1);
		}
		if (!rm->nodisp)
			put(g, (u32)rm->disp, rm->disp32 ? 4 : 1);
	}
	put(g, imm, immlen);
}

/*
 * VEX-encoded instruction of map 0F38, L = 0, no implied prefix (SDM vol. 2A 2.3.5), as the BMI1
 * group uses it: C4 [R X B map] [W vvvv L pp] opcode ModRM...
 */
static void emit_vex(struct gen *g, int w, u8 opc, int regf, int vvvv, const struct rm *rm)
{
	int x = rm->mem && rm->index >= 8, b = rm->mem ? rm->base >= 8 : rm->reg >= 8;

	if (rm->mem && chance(g, 12))
		put(g, null_seg[below(g, 4)], 1);
	if (rm->gs)
		put(g, 0x65, 1);
	if (rm->a32)
		put(g, 0x67, 1);
	put(g, 0xc4, 1);
	put(g, (regf >= 8 ? 0 : 0x80) | (x ? 0 : 0x40) | (b ? 0 : 0x20) | 2, 1);
	put(g, (w == 8 ? 0x80 : 0) | (~vvvv & 15) << 3, 1);
	struct rm r = *rm;
	if (!r.mem)
		r.reg &= 7;
	/* the rest is ModRM/SIB/displacement as without VEX; REX bits are in the VEX bytes */
	put(g, opc, 1);
	if (!r.mem) {
		put(g, 0xc0 | (regf & 7) << 3 | (r.reg & 7), 1);
	} else if (r.rip) {
		put(g, 0x05 | (regf & 7) << 3, 1);
		put(g, r.target - (here(g) + 4), 4);
	} else if (r.base < 0) {
		put(g, 0x04 | (regf & 7) << 3, 1);
		put(g, (r.index < 0 ? 4 : r.index & 7) << 3 | r.scale << 6 | 5, 1);
		put(g, (u32)r.disp, 4);
	} else {
		int mod = r.nodisp ? 0 : r.disp32 ? 2 : 1;
		if (r.index < 0 && (r.base & 7) != 4) {
			put(g, mod << 6 | (regf & 7) << 3 | (r.base & 7), 1);
		} else {
			put(g, mod << 6 | (regf & 7) << 3 | 4, 1);
			put(g, r.scale << 6 | (r.index < 0 ? 4 : r.index & 7) << 3 | (r.base & 7), 1);
		}
		if (!r.nodisp)
			put(g, (u32)r.disp, r.disp32 ? 4 : 1);
	}
}

/* A register this instruction may write: never RSP (the stack stays on the data page). */
static int pick_dst(struct gen *g)
{
	int r;

	if (g->hi8)
		return below(g, 8); /* 4..7 are AH..BH here */
	do
		r = below(g, 16);
	while (r == 4 || (g->keep >> r & 1));
	return r;
}

/* A destination wider than a byte in an instruction that may also use AH..BH. */
static int pick_dst_wide(struct gen *g)
{
	int r;

	do
		r = below(g, g->hi8 ? 8 : 16);
	while (r == 4 || (g->keep >> r & 1));
	return r;
}

static int pick_src(struct gen *g) { return below(g, g->hi8 ? 8 : 16); }

/* A register for an address or a scratch value: not RSP, not in avoid or g->keep. */
static int pick_scratch(struct gen *g, unsigned avoid)
{
	int r;

	do
		r = below(g, 16);
	while (r == 4 || ((avoid | g->keep) >> r & 1));
	return r;
}

/* mov $v, %r32 (B8+r, zero-extends) or mov $v, %r64 (REX.W C7 /0, sign-extends imm32). */
static void emit_mov_imm(struct gen *g, int r, s64 v, bool sext64)
{
	insn_begin(g);
	if (sext64) {
		put(g, 0x48 | (r >= 8), 1);
		put(g, 0xc7, 1);
		put(g, 0xc0 | (r & 7), 1);
	} else {
		if (r >= 8)
			put(g, 0x41, 1);
		put(g, 0xb8 | (r & 7), 1);
	}
	put(g, (u64)v, 4);
	insn_end(g, 0, 0);
}

/* mov $v, %r: B8+r imm32 when v fits in 32 bits, else REX.W B8+r imm64. */
static void emit_mov_reg(struct gen *g, int r, u64 v)
{
	if (v >> 32) {
		insn_begin(g);
		put(g, 0x48 | (r >= 8), 1);
		put(g, 0xb8 | (r & 7), 1);
		put(g, v, 8);
		insn_end(g, 0, 0);
	} else {
		emit_mov_imm(g, r, v, false);
	}
}

/* An address where nothing is mapped: #PF, or with GEN_NONCANON sometimes non-canonical
   (#GP(0), #SS(0) through SS; SDM vol. 1 3.3.7.1). Bit 62 set, bit 61 clear: never canonical. */
static u64 wild_address(struct gen *g)
{
	if (has(g, GEN_NONCANON) && chance(g, 2))
		return (rnd(g) | 1ULL << 62) & ~(1ULL << 61);
	return g->cfg->wild_base + (rnd(g) & g->cfg->wild_mask);
}

/*
 * A memory operand of `size` bytes landing inside the data page at least `margin` bytes from
 * its edges (without a margin, one in 64 straddles an edge); base and index registers are loaded
 * just before (those loads are instructions of the block too). Registers in `avoid` are not used
 * for the address.
 */
static void mem_operand_aligned(struct gen *g, struct rm *m, int size, int margin,
				unsigned avoid, int align)
{
	u64 page = g->cfg->data_addr;
	s64 t = (margin + below(g, 4096 - size - 2 * margin + 1)) & ~(s64)(align - 1);
	int lim = g->hi8 ? 8 : 16;

	/* across an edge of the page into an unmapped one: #PF, and a split write writes nothing */
	if (size > 1 && !margin && align == 1 && chance(g, 64))
		t = chance(g, 2) ? 4096 - size + 1 + below(g, size - 1) : -1 - (s64)below(g, size - 1);

	*m = (struct rm){ .mem = true, .base = -1, .index = -1 };
	avoid |= 1u << 4 | g->keep;
	if (chance(g, 80)) {
		/* Outside the data page on purpose: disp8 from a base register. */
		do
			m->base = below(g, lim);
		while (avoid >> m->base & 1);
		m->disp = (s32)below(g, 256) - 128;
		emit_mov_reg(g, m->base, wild_address(g));
		m->wild = true;
		return;
	}
	if (chance(g, 16)) { /* [disp32]: SIB with no base and no index */
		m->disp = page + t;
		return;
	}
	if (chance(g, 10)) {
		m->rip = true;
		m->target = page + t;
		return;
	}
	u64 seg_base = 0;
	if (has(g, GEN_GS) && chance(g, 10)) {
		m->gs = true;
		seg_base = g->cfg->gs_base;
	}
	m->a32 = chance(g, 10);
	do
		m->base = below(g, lim);
	while (avoid >> m->base & 1);
	m->disp32 = chance(g, 2);
	m->disp = m->disp32 ? (s32)below(g, 4096) - 2048 : (s32)below(g, 256) - 128;
	s64 ix = 0;
	if (chance(g, 2)) {
		do
			m->index = below(g, lim);
		while ((avoid >> m->index & 1) || m->index == m->base);
		m->scale = below(g, 4);
		ix = (s64)below(g, 65) - 32;
		emit_mov_imm(g, m->index, ix, true);
	}
	/* mod 00: no displacement; base 5 (RBP/R13) has no such form */
	if ((m->base & 7) != 5 && chance(g, 4)) {
		m->nodisp = true;
		m->disp = 0;
		m->disp32 = false;
	}
	u64 b = page + t - seg_base - m->disp - ix * (1 << m->scale);
	/* 32-bit addressing: what is above bit 31 of the registers does not count */
	if (m->a32 && chance(g, 2))
		emit_mov_reg(g, m->base, (u32)b | rnd(g) << 32);
	else
		emit_mov_imm(g, m->base, b, false);
}

static void mem_operand(struct gen *g, struct rm *m, int size, int margin, unsigned avoid)
{
	mem_operand_aligned(g, m, size, margin, avoid, 1);
}

/* The same operand `delta` bytes further on (a second field of the same structure). */
static struct rm rm_plus(struct rm m, int delta)
{
	if (m.rip)
		m.target += delta;
	else
		m.disp += delta;
	if (m.nodisp) {
		m.nodisp = false;
		m.disp32 = false;
	}
	if (m.base >= 0 && !m.disp32 && m.disp != (s8)m.disp)
		m.disp32 = true;
	return m;
}

/*
 * The r/m operand: a register (written if dst) or memory whose address registers are not in
 * avoid (registers the instruction's own set-up has loaded).
 */
static void pick_rm_avoid(struct gen *g, struct rm *m, int w, bool dst, unsigned avoid)
{
	if (chance(g, 3)) {
		mem_operand(g, m, w, 0, avoid);
		return;
	}
	*m = (struct rm){ .reg = dst ? pick_dst(g) : pick_src(g) };
}

static void pick_rm(struct gen *g, struct rm *m, int w, bool dst)
{
	pick_rm_avoid(g, m, w, dst, 0);
}

static int pick_w(struct gen *g) { return 1 << below(g, 4); }
static int pick_w16(struct gen *g) { return 2 << below(g, 3); }

/* A byte-register instruction without REX may name AH..BH (SDM vol. 2A 2.2.1.2). */
static void pick_hi8(struct gen *g, int w) { g->hi8 = w == 1 && chance(g, 3); }

static int imm_len(int w) { return w == 1 ? 1 : w == 2 ? 2 : 4; }

/* Flags read by condition code cc (SDM vol. 1 appendix B). */
static u16 cc_flags(int cc)
{
	static const u16 f[8] = { F_OF, F_CF, F_ZF, F_CF | F_ZF, F_SF, F_PF, F_SF | F_OF,
				  F_ZF | F_SF | F_OF };
	return f[cc >> 1];
}

/* Before an instruction that reads flags: if any of them is undefined, CMP redefines all. */
static void need_flags(struct gen *g, u16 mask)
{
	if (!(g->cur_undef & mask))
		return;
	g->hi8 = false;
	struct rm m = { .reg = pick_src(g) };
	int w = pick_w(g);
	u8 op = w == 1 ? 0x38 : 0x39;
	insn_begin(g);
	emit_modrm(g, w, 0, &op, 1, pick_src(g), &m, w == 1, 0, 0);
	insn_end(g, F_ALL, 0);
}

/*
 * RFLAGS bits a POPF or IRET loads: the arithmetic flags, DF and ID; AC and TF when the
 * environment compares them; with GEN_FAULTS also the bits CPL 3 cannot change (IF, IOPL, VM,
 * VIF, VIP, RF) and NT, which makes a later IRET fault (SDM vol. 2B POPF, IRET).
 */
static u32 rnd_flags(struct gen *g)
{
	u32 mask = F_ALL | FL_DF | FL_ID;

	if (has(g, GEN_AC) && chance(g, 4))
		mask |= FL_AC;
	if (has(g, GEN_TF) && chance(g, 8))
		mask |= FL_TF;
	if (has(g, GEN_FAULTS)) {
		mask |= FL_IF | FL_IOPL | FL_VM | FL_VIF | FL_VIP | FL_RF;
		if (chance(g, 8))
			mask |= FL_NT;
	}
	return rnd(g) & mask;
}

/* Room on the stack for `bytes` more pushed (or popped, if negative). */
static bool stack_room(const struct gen *g, int bytes)
{
	return g->depth + bytes <= STACK_LIMIT && g->depth + bytes >= -STACK_LIMIT;
}

/* ---- instruction classes ---- */

/* ADD OR ADC SBB AND SUB XOR CMP (SDM vol. 2A/2B: logic ops leave AF undefined). */
static void gen_alu(struct gen *g)
{
	int op = below(g, 8), w = pick_w(g), form = below(g, 4);
	bool logic = op == 1 || op == 4 || op == 6;
	unsigned pfx = 0;
	struct rm m;
	u8 opc;

	if (op == 2 || op == 3)
		need_flags(g, F_CF);
	pick_hi8(g, w);
	if (form == 3) { /* rAX, imm */
		insn_begin(g);
		if (w == 2)
			put(g, 0x66, 1);
		if (w == 8)
			put(g, 0x48, 1);
		put(g, op * 8 + (w == 1 ? 4 : 5), 1);
		put(g, rnd_value(g), imm_len(w));
		insn_end(g, logic ? F_ALL & ~F_AF : F_ALL, logic ? F_AF : 0);
		return;
	}
	pick_rm(g, &m, w, true);
	if (m.mem && op != 7 && chance(g, 4) && form != 1)
		pfx |= P_LOCK;
	if (!m.mem && chance(g, 100))
		pfx |= P_LOCK; /* #UD: LOCK without a memory destination (SDM vol. 2A LOCK) */
	/* F2/F3 mean nothing here (with LOCK, the XACQUIRE/XRELEASE hints without HLE) */
	if (chance(g, 32))
		pfx |= chance(g, 2) ? P_F2 : P_F3;
	insn_begin(g);
	if (form == 2) {
		int ilen = imm_len(w);
		opc = w == 1 ? 0x80 : 0x81;
		if (w > 1 && chance(g, 2)) {
			opc = 0x83;
			ilen = 1;
		}
		emit_modrm(g, w, pfx, &opc, 1, op, &m, w == 1, rnd_value(g), ilen);
	} else if (form == 0) {
		opc = op * 8 + (w == 1 ? 0 : 1);
		emit_modrm(g, w, pfx, &opc, 1, pick_src(g), &m, w == 1, 0, 0);
	} else {
		opc = op * 8 + (w == 1 ? 2 : 3);
		emit_modrm(g, w, 0, &opc, 1, pick_dst(g), &m, w == 1, 0, 0);
	}
	insn_end(g, logic ? F_ALL & ~F_AF : F_ALL, logic ? F_AF : 0);
}

/* TEST: OF = CF = 0, AF undefined (SDM vol. 2B TEST). */
static void gen_test(struct gen *g)
{
	int w = pick_w(g);
	struct rm m;
	u8 opc;

	pick_hi8(g, w);
	pick_rm(g, &m, w, false);
	insn_begin(g);
	if (chance(g, 2)) {
		opc = w == 1 ? 0x84 : 0x85;
		emit_modrm(g, w, 0, &opc, 1, pick_src(g), &m, w == 1, 0, 0);
	} else {
		opc = w == 1 ? 0xf6 : 0xf7;
		/* F6/F7 /1 is an alias of /0 (SDM vol. 2D Table A-6) */
		int reg = chance(g, 8);
		u64 imm = rnd_value(g);

		emit_modrm(g, w, 0, &opc, 1, reg, &m, w == 1, imm, imm_len(w));
	}
	insn_end(g, F_ALL & ~F_AF, F_AF);
}

/* NOT (no flags), NEG (all), INC/DEC (CF unaffected). */
static void gen_unary(struct gen *g)
{
	int w = pick_w(g), k = below(g, 4);
	struct rm m;
	u8 opc;

	pick_hi8(g, w);
	pick_rm(g, &m, w, true);
	unsigned pfx = m.mem && chance(g, 4) ? P_LOCK : 0;
	insn_begin(g);
	if (k < 2) {
		opc = w == 1 ? 0xf6 : 0xf7;
		emit_modrm(g, w, pfx, &opc, 1, 2 + k, &m, w == 1, 0, 0);
		insn_end(g, k ? F_ALL : 0, 0);
	} else {
		opc = w == 1 ? 0xfe : 0xff;
		emit_modrm(g, w, pfx, &opc, 1, k - 2, &m, w == 1, 0, 0);
		insn_end(g, F_ALL & ~F_CF, 0);
	}
}

/*
 * MUL/IMUL (CF, OF defined; SF ZF AF PF undefined), DIV/IDIV (all six undefined; #DE on a zero
 * divisor or a quotient too large, SDM vol. 2A DIV/IDIV).  Usually RDX/AH is prepared so the
 * quotient fits; one time in eight it is not, and #DE is likely.
 */
static void gen_muldiv(struct gen *g)
{
	int w = pick_w(g), k = below(g, 4);
	struct rm m;
	u8 opc = w == 1 ? 0xf6 : 0xf7;

	pick_hi8(g, w);
	if (k >= 2 && !chance(g, 8)) {
		insn_begin(g);
		if (k == 2 && w == 1) {
			put(g, 0xb4, 1); /* mov $0, %ah */
			put(g, 0, 1);
		} else if (k == 2) {
			put(g, 0xba, 1); /* mov $0, %edx */
			put(g, 0, 4);
		} else {
			if (w <= 2)
				put(g, 0x66, 1);
			if (w == 8)
				put(g, 0x48, 1);
			put(g, w == 1 ? 0x98 : 0x99, 1); /* CBW / CWD / CDQ / CQO */
		}
		insn_end(g, 0, 0);
	}
	pick_rm_avoid(g, &m, w, false, 1u << 0 | 1u << 2);
	insn_begin(g);
	emit_modrm(g, w, 0, &opc, 1, 4 + k, &m, w == 1, 0, 0);
	if (k < 2)
		insn_end(g, F_CF | F_OF, F_SF | F_ZF | F_AF | F_PF);
	else
		insn_end(g, 0, F_ALL);
}

/* IMUL r, r/m (0F AF) and IMUL r, r/m, imm (69, 6B): flags as one-operand IMUL. */
static void gen_imul(struct gen *g)
{
	int w = pick_w16(g), form = below(g, 3);
	struct rm m;

	g->hi8 = false;
	pick_rm(g, &m, w, false);
	insn_begin(g);
	if (form == 0) {
		static const u8 op[] = { 0x0f, 0xaf };
		emit_modrm(g, w, 0, op, 2, pick_dst(g), &m, false, 0, 0);
	} else {
		u8 opc = form == 1 ? 0x6b : 0x69;
		int dst = pick_dst(g);
		u64 imm = rnd_value(g);

		emit_modrm(g, w, 0, &opc, 1, dst, &m, false, imm, form == 1 ? 1 : imm_len(w));
	}
	insn_end(g, F_CF | F_OF, F_SF | F_ZF | F_AF | F_PF);
}

/* A count for a shift: mostly small or around the operand size, sometimes anything. */
static int pick_count(struct gen *g, int w)
{
	switch (below(g, 4)) {
	case 0:
		return below(g, 4);
	case 1:
		return w * 8 - 2 + below(g, 5);
	case 2:
		return below(g, 256);
	default:
		return below(g, w * 8 + 1);
	}
}

/* mov $count, %cl */
static void emit_set_cl(struct gen *g, int count)
{
	insn_begin(g);
	put(g, 0xb1, 1);
	put(g, count, 1);
	insn_end(g, 0, 0);
}

/*
 * ROL ROR RCL RCR SHL SHR SAR (and SAL, /6, an alias of SHL) by 1, imm8 or CL (SDM vol. 2B
 * RCL/RCR/ROL/ROR, SAL/SAR/SHL/SHR): the count is masked to 5 bits (6 with REX.W); a masked count
 * of 0 changes no flag; OF is defined only for a masked count of 1; rotates change only CF and OF;
 * shifts leave AF undefined, and SHL/SHR leave CF undefined when the count is >= the operand size.
 * RCL/RCR of 8 and 16 bits rotate through CF modulo 9 and 17: with a count above the size, CF is
 * still defined (the SDM's pseudocode; the generator keeps the rule).
 */
static void gen_shift(struct gen *g)
{
	static const int ops[] = { 0, 1, 2, 3, 4, 5, 7, 4, 5, 7, 6 };
	int w = pick_w(g), op = ops[below(g, ARRAY_SIZE(ops))], form = below(g, 3), count;
	struct rm m;
	u8 opc;

	if (op == 2 || op == 3)
		need_flags(g, F_CF);
	count = form == 0 ? 1 : pick_count(g, w);
	if (form == 2)
		emit_set_cl(g, count);
	pick_hi8(g, w);
	pick_rm_avoid(g, &m, w, true, 1u << 1);
	insn_begin(g);
	opc = (form == 0 ? 0xd0 : form == 1 ? 0xc0 : 0xd2) + (w != 1);
	emit_modrm(g, w, 0, &opc, 1, op, &m, w == 1, count, form == 1);
	int masked = count & (w == 8 ? 63 : 31);
	u16 def = 0, undef = 0;
	if (masked) {
		if (op < 4) {
			def = F_CF;
		} else {
			def = F_CF | F_SF | F_ZF | F_PF;
			undef = F_AF;
			if (op != 7 && masked >= w * 8)
				undef |= F_CF;
		}
		if (masked == 1)
			def |= F_OF;
		else
			undef |= F_OF;
	}
	insn_end(g, def & ~undef, undef);
}

/*
 * SHLD/SHRD by imm8 or CL (SDM vol. 2B): count masked to 5/6 bits; 0 changes nothing; a count
 * above the operand size (16-bit only) gives an undefined result, so 16-bit counts stay <= 15;
 * AF undefined, OF defined only for a count of 1.
 */
static void gen_shxd(struct gen *g)
{
	int w = pick_w16(g), right = below(g, 2), cl = below(g, 2);
	int count = w == 2 ? (int)below(g, 16) : pick_count(g, w);
	struct rm m;
	u8 op[2] = { 0x0f, (right ? 0xac : 0xa4) + cl };

	if (w == 2)
		count += 32 * below(g, 8); /* masked to 5 bits: the count stays <= 15 */
	if (cl)
		emit_set_cl(g, count);
	g->hi8 = false;
	pick_rm_avoid(g, &m, w, true, 1u << 1);
	insn_begin(g);
	emit_modrm(g, w, 0, op, 2, pick_src(g), &m, false, count, !cl);
	int masked = count & (w == 8 ? 63 : 31);
	if (!masked)
		insn_end(g, 0, 0);
	else if (masked == 1)
		insn_end(g, F_ALL & ~F_AF, F_AF);
	else
		insn_end(g, F_ALL & ~(F_AF | F_OF), F_AF | F_OF);
}

/*
 * BT BTS BTR BTC r/m, r and r/m, imm8 (SDM vol. 2A BT): CF defined, ZF unchanged, OF SF AF PF
 * undefined.  With a memory operand and a register offset the offset is signed and reaches
 * other bytes: it is loaded with a small value first.
 */
static void gen_bt(struct gen *g)
{
	int w = pick_w16(g), k = below(g, 4);
	struct rm m;
	unsigned pfx = 0;

	g->hi8 = false;
	if (chance(g, 2)) {
		int r;
		if (chance(g, 3)) {
			mem_operand(g, &m, w, 64, 0);
			do
				r = pick_dst(g);
			while (r == m.base || r == m.index);
			emit_mov_imm(g, r, (s64)below(g, 512) - 256, true);
			if (k && chance(g, 3))
				pfx = P_LOCK;
		} else {
			m = (struct rm){ .reg = pick_dst(g) };
			r = pick_src(g);
		}
		u8 op[2] = { 0x0f, 0xa3 + 8 * k };
		insn_begin(g);
		emit_modrm(g, w, pfx, op, 2, r, &m, false, 0, 0);
	} else {
		static const u8 op[2] = { 0x0f, 0xba };
		pick_rm(g, &m, w, true);
		if (m.mem && k && chance(g, 3))
			pfx = P_LOCK;
		insn_begin(g);
		emit_modrm(g, w, pfx, op, 2, 4 + k, &m, false, below(g, 256), 1);
	}
	insn_end(g, F_CF, F_OF | F_SF | F_AF | F_PF);
}

/*
 * BSF/BSR (ZF defined, the rest undefined), POPCNT (all defined), LZCNT/TZCNT (ZF, CF defined;
 * OF SF PF AF undefined) — SDM vol. 2A BSF/BSR/LZCNT/POPCNT, 2B TZCNT.
 */
static void gen_bitscan(struct gen *g)
{
	int w = pick_w16(g), k = below(g, 5);
	struct rm m;
	u8 op[2] = { 0x0f, 0xbc };
	unsigned pfx = 0;
	u16 def = F_ZF, undef = F_ALL & ~F_ZF;

	if ((k == 2 && !has(g, GEN_POPCNT)) || (k == 3 && !has(g, GEN_LZCNT)) ||
	    (k == 4 && !has(g, GEN_BMI1)))
		k &= 1;
	g->hi8 = false;
	pick_rm(g, &m, w, false);
	if (k == 1 || k == 3)
		op[1] = 0xbd;
	if (k == 2) {
		op[1] = 0xb8;
		def = F_ALL;
		undef = 0;
	}
	if (k >= 2)
		pfx = P_F3;
	if (k >= 3) {
		def = F_ZF | F_CF;
		undef = F_OF | F_SF | F_PF | F_AF;
	}
	insn_begin(g);
	emit_modrm(g, w, pfx, op, 2, pick_dst(g), &m, false, 0, 0);
	insn_end(g, def, undef);
}

/*
 * BMI1 (SDM vol. 2A ANDN, BEXTR, BLSI, BLSMSK, BLSR), 32 and 64 bits. ANDN: SF ZF, CF = OF = 0;
 * BEXTR: ZF, CF = OF = 0; BLSI/BLSMSK/BLSR: SF ZF CF, OF = 0 (BLSMSK: ZF = 0); AF and PF are
 * undefined everywhere, SF too for BEXTR.
 */
static void gen_bmi1(struct gen *g)
{
	int w = 4 << below(g, 2), k = below(g, 5), dst, v;
	struct rm m;

	g->hi8 = false;
	if (k == 1 && chance(g, 2)) {
		/* BEXTR control: start and length around the operand size */
		v = pick_scratch(g, 0);
		u64 start = below(g, w * 8 + 8), len = below(g, w * 8 + 8);

		emit_mov_imm(g, v, start | len << 8 | (chance(g, 4) ? rnd(g) << 16 : 0), false);
	} else {
		v = pick_src(g);
	}
	pick_rm_avoid(g, &m, w, false, 1u << v);
	dst = pick_dst(g);
	insn_begin(g);
	if (k == 0) {
		emit_vex(g, w, 0xf2, dst, v, &m);
		insn_end(g, F_SF | F_ZF | F_CF | F_OF, F_AF | F_PF);
	} else if (k == 1) {
		emit_vex(g, w, 0xf7, dst, v, &m);
		insn_end(g, F_ZF | F_CF | F_OF, F_AF | F_PF | F_SF);
	} else {
		/* F3 /1 BLSR, /2 BLSMSK, /3 BLSI: the destination is VEX.vvvv */
		emit_vex(g, w, 0xf3, k - 1, dst, &m);
		insn_end(g, F_SF | F_ZF | F_CF | F_OF, F_AF | F_PF);
	}
}

/* CMOVcc (always writes a 32-bit destination) and SETcc (SDM vol. 2A CMOVcc, 2B SETcc). */
static void gen_cond(struct gen *g)
{
	int cc = below(g, 16);
	struct rm m;

	need_flags(g, cc_flags(cc));
	if (chance(g, 2)) {
		int w = pick_w16(g);
		u8 op[2] = { 0x0f, 0x40 + cc };
		g->hi8 = false;
		pick_rm(g, &m, w, false);
		insn_begin(g);
		emit_modrm(g, w, 0, op, 2, pick_dst(g), &m, false, 0, 0);
	} else {
		u8 op[2] = { 0x0f, 0x90 + cc };
		pick_hi8(g, 1);
		pick_rm(g, &m, 1, true);
		insn_begin(g);
		/* SETcc ignores ModRM.reg (SDM vol. 2D Table A-3: 0F 90 /r with reg 000b); others
		   are what the CPUs do, so the reg field is random at times */
		emit_modrm(g, 4, 0, op, 2, chance(g, 8) ? below(g, 8) : 0, &m, true, 0, 0);
	}
	insn_end(g, 0, 0);
}

/* XCHG (86/87, 90+r), XADD, CMPXCHG (SDM vol. 2B XCHG/XADD, 2A CMPXCHG). */
static void gen_xchg(struct gen *g)
{
	int w = pick_w(g), k = below(g, 4);
	struct rm m;
	unsigned pfx = 0;

	if (k == 3) {
		/* 90+r: 90 itself is NOP (no zero-extension of EAX), 41 90 is XCHG r8d, eax. */
		int r;
		if (w == 1)
			w = 4;
		r = pick_scratch(g, 0);
		insn_begin(g);
		if (w == 2)
			put(g, 0x66, 1);
		if (w == 8 || r >= 8)
			put(g, 0x40 | (w == 8 ? 8 : 0) | (r >= 8), 1);
		put(g, 0x90 + (r & 7), 1);
		insn_end(g, 0, 0);
		return;
	}
	pick_hi8(g, w);
	pick_rm(g, &m, w, true);
	if (m.mem && k && chance(g, 2))
		pfx = P_LOCK;
	insn_begin(g);
	if (k == 0) {
		u8 opc = w == 1 ? 0x86 : 0x87;
		emit_modrm(g, w, pfx, &opc, 1, pick_dst(g), &m, w == 1, 0, 0);
		insn_end(g, 0, 0);
	} else {
		u8 op[2] = { 0x0f, (k == 1 ? 0xc0 : 0xb0) + (w != 1) };
		emit_modrm(g, w, pfx, op, 2, pick_dst(g), &m, w == 1, 0, 0);
		insn_end(g, F_ALL, 0);
	}
}

/* MOV, MOVZX, MOVSX, MOVSXD, BSWAP, CBW/CWDE/CDQE, CWD/CDQ/CQO, MOV moffs, MOVBE: no flags. */
static void gen_mov(struct gen *g)
{
	int k = below(g, 9), w;
	struct rm m;

	switch (k) {
	case 0: /* MOVZX/MOVSX from 8 or 16 bits */
	case 1: {
		int from8 = below(g, 2);
		u8 op[2] = { 0x0f, (k ? 0xbe : 0xb6) + !from8 };
		w = pick_w16(g);
		g->hi8 = from8 && w != 8 && chance(g, 3);
		pick_rm(g, &m, from8 ? 1 : 2, false);
		insn_begin(g);
		emit_modrm(g, w, 0, op, 2, pick_dst_wide(g), &m, from8, 0, 0);
		break;
	}
	case 2: { /* MOVSXD r64, r/m32; without REX.W a 32-bit (or 16-bit) move (SDM vol. 2B) */
		u8 opc = 0x63;
		w = chance(g, 3) ? pick_w16(g) : 8;
		g->hi8 = false;
		pick_rm(g, &m, w == 8 ? 4 : w, false);
		/* AMD reads 32 bits for the 16-bit form (#AC, #PF differ): register source only */
		if (w == 2 && m.mem && has(g, GEN_AMD))
			m = (struct rm){ .reg = pick_src(g) };
		insn_begin(g);
		emit_modrm(g, w, 0, &opc, 1, pick_dst(g), &m, false, 0, 0);
		break;
	}
	case 3: { /* BSWAP r32/r64 (16-bit: undefined, SDM vol. 2A BSWAP) */
		int r;
		w = 4 << below(g, 2);
		g->hi8 = false;
		r = pick_dst(g);
		insn_begin(g);
		if (w == 8 || r >= 8)
			put(g, 0x40 | (w == 8 ? 8 : 0) | (r >= 8), 1);
		put(g, 0x0f, 1);
		put(g, 0xc8 + (r & 7), 1);
		break;
	}
	case 4: /* CBW/CWDE/CDQE, CWD/CDQ/CQO */
		w = pick_w16(g);
		insn_begin(g);
		if (w == 2)
			put(g, 0x66, 1);
		if (w == 8)
			put(g, 0x48, 1);
		put(g, 0x98 + below(g, 2), 1);
		break;
	case 5: { /* MOV r/m, r | r, r/m | r/m, imm */
		int form = below(g, 3);
		w = pick_w(g);
		pick_hi8(g, w);
		pick_rm(g, &m, w, form != 1);
		insn_begin(g);
		if (form == 2) {
			u8 opc = w == 1 ? 0xc6 : 0xc7;
			emit_modrm(g, w, 0, &opc, 1, 0, &m, w == 1, rnd_value(g), imm_len(w));
		} else {
			u8 opc = (form ? 0x8a : 0x88) + (w != 1);
			emit_modrm(g, w, 0, &opc, 1, form ? pick_dst(g) : pick_src(g), &m, w == 1,
				   0, 0);
		}
		break;
	}
	case 6: { /* MOV rAX, moffs and back (A0-A3): a 64-bit address, or 32-bit with 67h */
		bool a32 = chance(g, 4), store = below(g, 2);
		u64 a = g->cfg->data_addr + below(g, 4089);
		w = pick_w(g);
		insn_begin(g);
		if (a32)
			put(g, 0x67, 1);
		if (w == 2)
			put(g, 0x66, 1);
		if (w == 8)
			put(g, 0x48, 1);
		put(g, 0xa0 + 2 * store + (w != 1), 1);
		put(g, a, a32 ? 4 : 8);
		break;
	}
	case 7: /* MOVBE r, m / m, r (SDM vol. 2B MOVBE): memory only */
		if (has(g, GEN_MOVBE)) {
			u8 op[3] = { 0x0f, 0x38, 0xf0 + below(g, 2) };
			w = pick_w16(g);
			g->hi8 = false;
			mem_operand(g, &m, w, 0, 0);
			insn_begin(g);
			emit_modrm(g, w, 0, op, 3, op[2] == 0xf0 ? pick_dst(g) : pick_src(g), &m,
				   false, 0, 0);
			break;
		}
		/* fall through */
	default: { /* MOV r, imm: B0+r, B8+r, REX.W B8+r imm64 */
		int r;
		w = pick_w(g);
		pick_hi8(g, w);
		r = pick_dst(g);
		insn_begin(g);
		if (w == 2)
			put(g, 0x66, 1);
		if (w == 8 || r >= 8 || (w == 1 && !g->hi8))
			put(g, 0x40 | (w == 8 ? 8 : 0) | (r >= 8), 1);
		put(g, (w == 1 ? 0xb0 : 0xb8) + (r & 7), 1);
		put(g, rnd_value(g), w);
		break;
	}
	}
	insn_end(g, 0, 0);
}

/* LEA with any base and index registers: no memory access, no flags; sometimes 32-bit. */
static void gen_lea(struct gen *g)
{
	int w = pick_w16(g);
	u8 opc = 0x8d;
	struct rm m = { .mem = true };

	m.base = below(g, 16);
	m.scale = below(g, 4);
	g->hi8 = false;
	do
		m.index = (int)below(g, 17) - 1;
	while (m.index == 4);
	m.disp32 = chance(g, 2);
	m.disp = m.disp32 ? (s32)rnd(g) : (s32)below(g, 256) - 128;
	if (chance(g, 8)) {
		m.rip = true;
		m.target = g->cfg->code_addr + rnd(g) % (1u << 20);
	}
	u8 pfx = chance(g, 4) ? P_67 : 0;
	int dst = pick_dst(g);

	insn_begin(g);
	emit_modrm(g, w, pfx, &opc, 1, dst, &m, false, 0, 0);
	insn_end(g, 0, 0);
}

/* LAHF (reads SF ZF AF PF CF), SAHF (writes them; SDM vol. 2A LAHF, 2B SAHF), CLC STC CMC,
   CLD STD. */
static void gen_flagops(struct gen *g)
{
	static const u8 op[] = { 0xf8, 0xf9, 0xf5, 0xfc, 0xfd, 0x9f, 0x9e };
	int k = below(g, has(g, GEN_LAHF) ? 7 : 5);

	if (k == 2)
		need_flags(g, F_CF);
	if (k == 5)
		need_flags(g, F_ALL & ~F_OF);
	insn_begin(g);
	put(g, op[k], 1);
	insn_end(g, k == 6 ? F_ALL & ~F_OF : k < 3 ? F_CF : 0, 0);
}

/* PUSH/POP (register, imm, memory, RSP-based memory; 16- and 64-bit), PUSHF, POPF. */
static void gen_stack(struct gen *g)
{
	int k = below(g, 7), w = chance(g, 6) ? 2 : 8;
	bool push = g->depth < STACK_LIMIT - 16 && (g->depth <= -STACK_LIMIT || chance(g, 2));
	struct rm m;

	g->hi8 = false;
	/*
	 * push $flags; popfq.  AC only with GEN_AC: kvm_pvm runs CPL 3 with CR0.AM set whatever the
	 * guest's CR0 says, so AC would make misaligned accesses fault there only.
	 */
	if (k == 5) {
		if (!push) {
			need_flags(g, F_ALL);
			insn_begin(g);
			if (w == 2)
				put(g, 0x66, 1);
			put(g, 0x9c, 1);
			insn_end(g, 0, 0);
			g->depth += w;
			/*
			 * andl $~IF, (%rsp): kvm_pvm runs CPL 3 with IF = 1 and PUSHF stores it;
			 * keep the pushed image comparable (AND leaves AF undefined).
			 */
			insn_begin(g);
			if (w == 2)
				put(g, 0x66, 1);
			put(g, 0x242481, 3);
			put(g, ~(u32)FL_IF, w == 2 ? 2 : 4);
			insn_end(g, F_ALL & ~F_AF, F_AF);
			return;
		}
		u32 f = rnd_flags(g);
		insn_begin(g);
		if (w == 2)
			put(g, 0x66, 1);
		put(g, 0x68, 1);
		put(g, f, w == 2 ? 2 : 4);
		insn_end(g, 0, 0);
		insn_begin(g);
		if (w == 2)
			put(g, 0x66, 1);
		put(g, 0x9d, 1);
		insn_end(g, F_ALL, 0);
		return;
	}
	if (k == 6) {
		/*
		 * push/pop disp8(%rsp): POP computes the address after incrementing RSP (SDM vol.
		 * 2B POP); push %rsp pushes the value before the push (SDM vol. 2B PUSH).
		 */
		u8 opc = push ? 0xff : 0x8f;
		insn_begin(g);
		if (w == 2)
			put(g, 0x66, 1);
		if (push && chance(g, 3)) {
			put(g, 0x54, 1);
		} else {
			put(g, opc, 1);
			put(g, 0x44 | (push ? 6 : 0) << 3, 1);
			put(g, 0x24, 1);
			put(g, (s8)(below(g, 128) - 64), 1);
		}
		insn_end(g, 0, 0);
		g->depth += push ? w : -w;
		return;
	}
	if (k >= 3) { /* memory operand */
		u8 opc = push ? 0xff : 0x8f;
		mem_operand(g, &m, w, 0, 0);
		insn_begin(g);
		emit_modrm(g, w == 2 ? 2 : 4, 0, &opc, 1, push ? 6 : 0, &m, false, 0, 0);
	} else if (k == 2 && push) { /* push imm8 / imm32 (sign-extended) */
		bool i8 = chance(g, 2);
		insn_begin(g);
		if (w == 2)
			put(g, 0x66, 1);
		put(g, i8 ? 0x6a : 0x68, 1);
		put(g, rnd_value(g), i8 ? 1 : w == 2 ? 2 : 4);
	} else {
		int r = push ? pick_src(g) : pick_dst(g);
		insn_begin(g);
		if (w == 2)
			put(g, 0x66, 1);
		if (r >= 8)
			put(g, 0x41, 1);
		put(g, (push ? 0x50 : 0x58) + (r & 7), 1);
	}
	insn_end(g, 0, 0);
	g->depth += push ? w : -w;
}

/*
 * MOVS STOS LODS CMPS SCAS, with REP (F3) or, for CMPS/SCAS, REPE/REPNE (F3/F2), either
 * direction, RCX 0..8 (SDM vol. 2B REP/REPE/REPNE): RSI, RDI, RCX and DF are set first.
 * CMPS/SCAS define all six flags when they compare at least once. The source segment (DS) may be
 * overridden, by GS too; the destination is always ES.
 */
static void gen_string(struct gen *g)
{
	int k = below(g, 5), w = pick_w(g), rep = below(g, 3), n = below(g, 9);
	u64 page = g->cfg->data_addr;
	u32 si = page + 512 + below(g, 3072), di = chance(g, 4) ? si : page + 512 + below(g, 3072);
	static const u8 opc[] = { 0xa4, 0xaa, 0xac, 0xa6, 0xae };
	unsigned pfx = 0;
	bool a32 = chance(g, 4), gs = has(g, GEN_GS) && (k == 0 || k == 2 || k == 3) &&
				      chance(g, 6);

	bool down = chance(g, 2);
	insn_begin(g);
	put(g, down ? 0xfd : 0xfc, 1); /* STD / CLD */
	insn_end(g, 0, 0);
	/* at times one pointer walks off the data page: a #PF in the middle of a REP, with RCX,
	   RSI and RDI as far as the completed iterations took them (SDM vol. 2B REP) */
	if (chance(g, 16)) {
		u32 edge = down ? page + below(g, 24) : page + 4096 - 1 - below(g, 24);
		if (chance(g, 2))
			si = edge;
		else
			di = edge;
	}
	if (gs)
		si -= g->cfg->gs_base;
	/*
	 * With 67h the instruction uses ESI, EDI, ECX only (SDM vol. 2B MOVS, REP): the upper
	 * halves are loaded with garbage to show what it does to them.  Except for REP with
	 * ECX = 0: the SDM's REP pseudocode then writes nothing (soft), but Intel CPUs zero RCX and
	 * the upper halves of RSI/RDI (non-architectural; KVM's emulator copies it as
	 * string_registers_quirk()), see docs/difftest.md.
	 */
	u64 junk = a32 && !(rep && n == 0) ? ~0ULL << 32 : 0;
	emit_mov_reg(g, 6, si | (rnd(g) & junk));
	emit_mov_reg(g, 7, di | (rnd(g) & junk));
	if (rep)
		emit_mov_reg(g, 1, n | (rnd(g) & junk));
	if (rep == 1 || (rep == 2 && k < 3))
		pfx = P_F3;
	else if (rep == 2)
		pfx = P_F2;
	insn_begin(g);
	if (!gs && chance(g, 12))
		put(g, null_seg[below(g, 4)], 1);
	if (gs)
		put(g, 0x65, 1);
	if (a32)
		put(g, 0x67, 1);
	if (w == 2)
		put(g, 0x66, 1);
	if (pfx & P_F2)
		put(g, 0xf2, 1);
	if (pfx & P_F3)
		put(g, 0xf3, 1);
	if (w == 8)
		put(g, 0x48, 1);
	put(g, opc[k] + (w != 1), 1);
	insn_end(g, k >= 3 && (!rep || n) ? F_ALL : 0, 0);
}

/*
 * CMPXCHG8B m64 and CMPXCHG16B m128 (SDM vol. 2A CMPXCHG8B/CMPXCHG16B): ZF defined, other flags
 * unchanged; on a mismatch EDX:EAX (RDX:RAX) are loaded.  Half the time they are loaded from the
 * operand first ([disp32] loads), so the exchange happens. CMPXCHG16B needs a 16-byte aligned
 * operand (#GP(0)); it is misaligned one time in eight.
 */
static void gen_cmpxchg8b(struct gen *g)
{
	static const u8 op[2] = { 0x0f, 0xc7 };
	bool x16 = has(g, GEN_CX16) && chance(g, 2);
	int w = x16 ? 8 : 4;
	struct rm m;

	g->hi8 = false;
	mem_operand_aligned(g, &m, 2 * w, 0, 1u << 0 | 1u << 2, x16 && !chance(g, 8) ? 16 : 1);
	if (chance(g, 2)) {
		u64 a = g->cfg->data_addr + below(g, 4097 - 2 * w);
		for (int i = 0; i < 2; i++) {
			insn_begin(g);
			if (x16)
				put(g, 0x48, 1);
			put(g, 0x8b, 1); /* mov disp32, %eax / %edx: ModRM 04/14, SIB 25 */
			put(g, i ? 0x14 : 0x04, 1);
			put(g, 0x25, 1);
			put(g, a + w * i, 4);
			insn_end(g, 0, 0);
		}
	}
	insn_begin(g);
	emit_modrm(g, w, chance(g, 2) ? P_LOCK : 0, op, 2, 1, &m, false, 0, 0);
	insn_end(g, F_ZF, 0);
}

/* XLAT: AL = [RBX + AL] (SDM vol. 2B XLAT), [EBX + AL] with 67h; RBX is loaded first. */
static void gen_xlat(struct gen *g)
{
	bool a32 = chance(g, 4);
	u64 b = g->cfg->data_addr + below(g, 4096 - 256);

	if (a32)
		emit_mov_reg(g, 3, b | rnd(g) << 32);
	else
		emit_mov_imm(g, 3, b, false);
	insn_begin(g);
	if (a32)
		put(g, 0x67, 1);
	if (chance(g, 2))
		put(g, 0x48, 1);
	put(g, 0xd7, 1);
	insn_end(g, 0, 0);
}

/*
 * NOPs and hints (SDM vol. 2B NOP, PAUSE, PREFETCHh, PREFETCHW, LFENCE/MFENCE/SFENCE, CLFLUSH,
 * ENDBR64): no architectural effect, except CLFLUSH, which faults like a byte read.
 */
static void gen_nop(struct gen *g)
{
	struct rm m;
	int k = below(g, 7);

	g->hi8 = false;
	switch (k) {
	case 0: { /* 0F 1F /0: the multi-byte NOP; 0F 19-1E: the reserved NOPs (no access) */
		u8 op[2] = { 0x0f, 0x1f };
		if (chance(g, 4))
			op[1] = 0x19 + below(g, 6);
		int w = pick_w16(g);
		if (chance(g, 3)) {
			m = (struct rm){ .reg = pick_src(g) };
		} else {
			m = (struct rm){ .mem = true, .index = -1 };
			m.base = below(g, 16);
			m.disp32 = chance(g, 2);
			m.disp = (s32)rnd(g);
			if (chance(g, 2))
				m.index = pick_scratch(g, 0);
			if (!m.disp32)
				m.disp = (s8)m.disp;
		}
		insn_begin(g);
		emit_modrm(g, w, 0, op, 2, op[1] == 0x1f ? 0 : below(g, 8), &m, false, 0, 0);
		break;
	}
	case 1: /* PREFETCHT0/T1/T2/NTA (0F 18 /1-/0), PREFETCHW (0F 0D /1): never fault */
	case 2: {
		u8 op[2] = { 0x0f, k == 1 ? 0x18 : 0x0d };
		mem_operand(g, &m, 1, 0, 0);
		insn_begin(g);
		emit_modrm(g, 4, 0, op, 2, k == 1 ? below(g, 4) : 1, &m, false, 0, 0);
		break;
	}
	case 3: /* CLFLUSH m8 (0F AE /7) */
		mem_operand(g, &m, 1, 0, 0);
		insn_begin(g);
		emit_modrm(g, 4, 0, (const u8[]){ 0x0f, 0xae }, 2, 7, &m, false, 0, 0);
		break;
	case 4: /* LFENCE MFENCE SFENCE */
		insn_begin(g);
		put(g, 0xe8ae0f + (below(g, 3) << 19), 3);
		break;
	case 5: /* PAUSE, NOP with 66 */
		insn_begin(g);
		put(g, chance(g, 2) ? 0x90f3 : 0x9066, 2);
		break;
	default: /* ENDBR64: a NOP without CET */
		insn_begin(g);
		put(g, 0xfa1e0ff3, 4);
		break;
	}
	insn_end(g, 0, 0);
}

static void gen_one(struct gen *g, bool straight);

/*
 * Jcc rel8/rel32, JMP rel8/rel32, JRCXZ/JECXZ, LOOP/LOOPE/LOOPNE (SDM vol. 2A Jcc, JMP, LOOPcc)
 * over one generated instruction (with its set-up): both paths are possible, so afterwards a flag
 * is undefined if it is undefined on either path.
 */
static void gen_branch(struct gen *g)
{
	int k = below(g, 11), cc = below(g, 16);
	u16 before;
	u8 *rel;
	bool rel32 = false;

	if (k < 5 || k == 9)
		need_flags(g, cc_flags(cc));
	else if (k == 6 || k == 7)
		need_flags(g, F_ZF);
	insn_begin(g);
	if (k < 5) {
		put(g, 0x70 + cc, 1);
	} else if (k == 9) {
		put(g, 0x800f + (cc << 8), 2);
		rel32 = true;
	} else if (k == 10) {
		rel32 = chance(g, 2);
		put(g, rel32 ? 0xe9 : 0xeb, 1);
	} else {
		if (chance(g, 4))
			put(g, 0x67, 1); /* ECX instead of RCX */
		put(g, ((const u8[]){ 0xe3, 0xe1, 0xe0, 0xe2 })[k - 5], 1);
	}
	rel = g->p;
	put(g, 0, rel32 ? 4 : 1);
	insn_end(g, 0, 0);
	before = g->cur_undef;
	g->nested = true;
	gen_one(g, true);
	g->nested = false;
	s32 d = g->p - (rel + (rel32 ? 4 : 1));
	for (int i = 0; i < (rel32 ? 4 : 1); i++)
		rel[i] = d >> (8 * i);
	g->cur_undef |= before;
}

/* Patch a rel8 or rel32 field at `rel` to reach the current position. */
static void patch_rel(struct gen *g, u8 *rel, int bytes)
{
	s32 d = g->p - (rel + bytes);
	for (int i = 0; i < bytes; i++)
		rel[i] = d >> (8 * i);
}

/*
 * A subroutine called and returned from (SDM vol. 2A CALL, 2B RET): CALL rel32, or through a
 * register or memory loaded with the address (LEA RIP-relative), then JMP over the body, which is
 * one straight instruction and RET or RET imm16 (releasing that many more bytes). JMP through a
 * register or memory over one instruction too.
 */
static void gen_call(struct gen *g)
{
	int k = below(g, 4), r = -1;
	u8 *lea_disp = NULL, *rel, *over;
	struct rm m;
	u16 imm = chance(g, 3) ? (chance(g, 2) ? 8 * below(g, 4) : below(g, 32)) : 0;

	g->hi8 = false;
	if (!stack_room(g, 8) || !stack_room(g, -(int)imm))
		imm = 0;
	if (!stack_room(g, 8))
		return;
	if (k) { /* lea target(%rip), %r; target patched below */
		r = pick_scratch(g, 0);
		insn_begin(g);
		put(g, 0x48 | (r >= 8) << 2, 1);
		put(g, 0x8d, 1);
		put(g, 0x05 | (r & 7) << 3, 1);
		lea_disp = g->p;
		put(g, 0, 4);
		insn_end(g, 0, 0);
	}
	if (k >= 2) { /* store it: call/jmp *m */
		mem_operand(g, &m, 8, 0, 1u << r);
		insn_begin(g);
		emit_modrm(g, 8, 0, (const u8[]){ 0x89 }, 1, r, &m, false, 0, 0);
		insn_end(g, 0, 0);
	}
	bool jmp = k && chance(g, 3);
	insn_begin(g);
	if (k == 0) {
		put(g, 0xe8, 1);
		rel = g->p;
		put(g, 0, 4);
	} else if (k == 1) {
		/* FF /2 or /4 with a register */
		struct rm rr = { .reg = r };
		emit_modrm(g, 4, 0, (const u8[]){ 0xff }, 1, jmp ? 4 : 2, &rr, false, 0, 0);
	} else {
		emit_modrm(g, 4, 0, (const u8[]){ 0xff }, 1, jmp ? 4 : 2, &m, false, 0, 0);
	}
	insn_end(g, 0, 0);
	if (jmp) { /* skip one instruction */
		u16 before = g->cur_undef;
		g->nested = true;
		gen_one(g, true);
		g->nested = false;
		g->cur_undef |= before;
		s32 d = here(g) - (lea_disp + 4 - g->buf + g->cfg->code_addr);
		for (int i = 0; i < 4; i++)
			lea_disp[i] = d >> (8 * i);
		return;
	}
	g->depth += 8;
	/* jmp over the body: the return lands here */
	insn_begin(g);
	put(g, 0xeb, 1);
	over = g->p;
	put(g, 0, 1);
	insn_end(g, 0, 0);
	if (k == 0)
		patch_rel(g, rel, 4);
	else {
		s32 d = here(g) - (lea_disp + 4 - g->buf + g->cfg->code_addr);
		for (int i = 0; i < 4; i++)
			lea_disp[i] = d >> (8 * i);
	}
	g->nested = true;
	gen_one(g, true);
	g->nested = false;
	insn_begin(g);
	if (imm) {
		put(g, 0xc2, 1);
		put(g, imm, 2);
	} else {
		put(g, 0xc3, 1);
	}
	insn_end(g, 0, 0);
	g->depth -= 8 + imm;
	patch_rel(g, over, 1);
}

/*
 * ENTER size, level and LEAVE around one straight instruction (SDM vol. 2A ENTER, 2B LEAVE):
 * RBP is pointed into the data page first (ENTER copies level-1 frame pointers from below it);
 * 16-bit forms (66h) at times, on either, so the pair does not always restore RSP and RBP.
 */
static void gen_enter(struct gen *g)
{
	int level = chance(g, 8) ? below(g, 256) : below(g, 5), size = below(g, 256);
	bool e16 = chance(g, 6), l16 = chance(g, 6);
	int push = e16 ? 2 : 8, lv = level & 31;
	int grow = push + (lv ? lv * push : 0) + size;

	if (!stack_room(g, grow) || !stack_room(g, push - (l16 ? 2 : 8)) ||
	    g->depth + lv * 8 > STACK_LIMIT - 64) {
		level = lv = 0;
		grow = push + size;
		if (!stack_room(g, grow))
			return;
	}
	g->hi8 = false;
	/* lea disp8(%rsp), %rbp: RBP near RSP */
	insn_begin(g);
	put(g, 0x246c8d48, 4);
	put(g, (s8)(below(g, 128) - 32), 1);
	insn_end(g, 0, 0);
	insn_begin(g);
	if (e16)
		put(g, 0x66, 1);
	put(g, 0xc8, 1);
	put(g, size, 2);
	put(g, level, 1);
	insn_end(g, 0, 0);
	/* LEAVE loads RSP from RBP: the body must not change it */
	g->nested = true;
	g->keep |= 1u << 5;
	gen_one(g, true);
	g->keep &= ~(1u << 5);
	g->nested = false;
	insn_begin(g);
	if (l16)
		put(g, 0x66, 1);
	put(g, 0xc9, 1);
	insn_end(g, 0, 0);
	/* LEAVE: RSP = RBP (ENTER's frame pointer, just below the RBP it pushed), then POP RBP */
	g->depth += push - (l16 ? 2 : 8);
}

/*
 * IRETQ to the next instruction at the same privilege (SDM vol. 2A IRET, IA-32e mode): SS, RSP,
 * RFLAGS, CS, RIP pushed first. RSP goes back to where it was, or 8-16 bytes off; SS is at times
 * another selector (#GP(selector) unless it is the stack selector). Far RET (48 CB, 48 CA imm16,
 * and CB with a 32-bit offset and selector), far JMP and CALL through memory (FF /5, FF /3 m16:32;
 * m16:64 with REX.W, which AMD does not have) to the next instruction or a subroutine.
 */
static void gen_far(struct gen *g)
{
	int k = below(g, 5), r = pick_scratch(g, 0);
	u16 cs = g->cfg->sel_code;
	u8 *tgt;

	g->hi8 = false;
	if (k == 0) {
		int off = 8 * (below(g, 5) - 2);
		u16 ss = g->cfg->sel_stack;
		if (!stack_room(g, 40) || !stack_room(g, -off))
			return;
		if (g->cfg->nsels && chance(g, 8)) {
			ss = g->cfg->sels[below(g, g->cfg->nsels)];
			ss |= below(g, 4);
		}
		insn_begin(g); /* lea off(%rsp), %r */
		put(g, 0x48 | (r >= 8) << 2, 1);
		put(g, 0x8d, 1);
		put(g, 0x44 | (r & 7) << 3, 1);
		put(g, 0x24, 1);
		put(g, off, 1);
		insn_end(g, 0, 0);
		insn_begin(g);
		put(g, 0x68, 1);
		put(g, ss, 4);
		insn_end(g, 0, 0);
		insn_begin(g);
		if (r >= 8)
			put(g, 0x41, 1);
		put(g, 0x50 + (r & 7), 1);
		insn_end(g, 0, 0);
		insn_begin(g);
		put(g, 0x68, 1);
		put(g, rnd_flags(g), 4);
		insn_end(g, 0, 0);
		insn_begin(g);
		put(g, 0x68, 1);
		put(g, cs, 4);
		insn_end(g, 0, 0);
		insn_begin(g);
		put(g, 0x68, 1);
		tgt = g->p;
		put(g, 0, 4);
		insn_end(g, 0, 0);
		insn_begin(g);
		put(g, 0xcf48, 2);
		insn_end(g, F_ALL, 0);
		u32 t = here(g);
		for (int i = 0; i < 4; i++)
			tgt[i] = t >> (8 * i);
		g->depth -= off;
		return;
	}
	if (k == 1) { /* far RET */
		bool o32 = chance(g, 3);
		u16 imm = chance(g, 3) ? 8 * below(g, 4) : 0;
		if (!stack_room(g, 16) || !stack_room(g, -(int)imm))
			return;
		if (o32) { /* mov $(cs << 32 | target), %r; push %r; lret */
			insn_begin(g);
			put(g, 0x48 | (r >= 8), 1);
			put(g, 0xb8 + (r & 7), 1);
			tgt = g->p;
			put(g, (u64)cs << 32, 8);
			insn_end(g, 0, 0);
			insn_begin(g);
			if (r >= 8)
				put(g, 0x41, 1);
			put(g, 0x50 + (r & 7), 1);
			insn_end(g, 0, 0);
		} else {
			insn_begin(g);
			put(g, 0x68, 1);
			put(g, cs, 4);
			insn_end(g, 0, 0);
			insn_begin(g);
			put(g, 0x68, 1);
			tgt = g->p;
			put(g, 0, 4);
			insn_end(g, 0, 0);
		}
		insn_begin(g);
		if (!o32)
			put(g, 0x48, 1);
		if (imm) {
			put(g, 0xca, 1);
			put(g, imm, 2);
		} else {
			put(g, 0xcb, 1);
		}
		insn_end(g, 0, 0);
		u32 t = here(g);
		for (int i = 0; i < 4; i++)
			tgt[i] = t >> (8 * i);
		g->depth -= imm;
		return;
	}
	/* far JMP (k == 2) or CALL (k >= 3) through m16:32 (or m16:64) */
	bool w64 = !has(g, GEN_AMD) && chance(g, 3), call = k >= 3;
	int osz = w64 ? 8 : 4;
	struct rm m, m2;
	u8 *over = NULL;
	if (call && !stack_room(g, 2 * osz))
		return;
	mem_operand(g, &m, osz + 2, 0, 0);
	/* mov $target, (m) (patched); movw $cs, osz(m) */
	insn_begin(g);
	emit_modrm(g, 4, 0, (const u8[]){ 0xc7 }, 1, 0, &m, false, 0, 4);
	tgt = g->p - 4;
	insn_end(g, 0, 0);
	if (w64) {
		m2 = rm_plus(m, 4);
		insn_begin(g);
		emit_modrm(g, 4, 0, (const u8[]){ 0xc7 }, 1, 0, &m2, false, 0, 4);
		insn_end(g, 0, 0);
	}
	m2 = rm_plus(m, osz);
	insn_begin(g);
	emit_modrm(g, 2, 0, (const u8[]){ 0xc7 }, 1, 0, &m2, false, cs, 2);
	insn_end(g, 0, 0);
	insn_begin(g);
	emit_modrm(g, osz, 0, (const u8[]){ 0xff }, 1, call ? 3 : 5, &m, false, 0, 0);
	insn_end(g, 0, 0);
	if (call) {
		g->depth += 2 * osz;
		insn_begin(g); /* the return lands here: jmp over the body */
		put(g, 0xeb, 1);
		over = g->p;
		put(g, 0, 1);
		insn_end(g, 0, 0);
	}
	u32 t = here(g);
	for (int i = 0; i < 4; i++)
		tgt[i] = t >> (8 * i);
	if (call) {
		g->nested = true;
		gen_one(g, true);
		g->nested = false;
		insn_begin(g);
		if (w64)
			put(g, 0x48, 1);
		put(g, 0xcb, 1);
		insn_end(g, 0, 0);
		g->depth -= 2 * osz;
		patch_rel(g, over, 1);
	}
}

/*
 * Instructions that fault at CPL 3 in 64-bit mode: privileged ones (#GP(0); SDM vol. 3A 5.9 and
 * each instruction's page), I/O with IOPL 0 and no I/O permission bitmap (#GP(0)), INT n (#GP
 * through a DPL-0 gate, SDM vol. 3A 6.12.1.1), INT3 (#BP), INT1 (#DB), INTO and the other
 * opcodes invalid in 64-bit mode (#UD), UD0 UD1 UD2, LOCK on what cannot be locked, LEA with a
 * register operand (#UD). SYSENTER/SYSEXIT are left out (AMD: #UD in long mode, Intel: #GP),
 * MONITOR/MWAIT, CLAC/STAC and RDPMC too (they depend on host settings), and INT 0x80 (a system
 * call under Linux).
 */
static void gen_privileged(struct gen *g)
{
	static const u32 priv[] = {
		0xf4, 0xfa, 0xfb, 0xec, 0xed, 0xee, 0xef, 0x6c, 0x6d, 0x6e, 0x6f,
		0x060f, 0x080f, 0x090f, 0x300f, 0x320f, 0xf8010f, 0x070f,
	};
	static const u8 invalid64[] = { 0x06, 0x07, 0x0e, 0x16, 0x17, 0x1e, 0x1f, 0x27, 0x2f,
					0x37, 0x3f, 0x60, 0x61, 0x82, 0x9a, 0xce, 0xd4, 0xd5,
					0xd6, 0xea };
	int k = below(g, 12);
	struct rm m;

	g->hi8 = false;
	switch (k) {
	case 0:
	case 1: { /* one- to three-byte privileged forms without operands */
		u32 op = priv[below(g, ARRAY_SIZE(priv))];
		insn_begin(g);
		if (op <= 0xff && op >= 0x6c && op <= 0x6f && chance(g, 2))
			put(g, 0xf3, 1);
		while (op) {
			put(g, op & 0xff, 1);
			op >>= 8;
		}
		break;
	}
	case 2: /* IN/OUT imm8 */
		insn_begin(g);
		put(g, 0xe4 + below(g, 4), 1);
		put(g, below(g, 256), 1);
		break;
	case 3: { /* MOV to/from CR0 CR2 CR3 CR4 CR8, DR0-3 DR6 DR7 */
		static const u8 cr[] = { 0, 2, 3, 4, 8 }, dr[] = { 0, 1, 2, 3, 6, 7 };
		bool isdr = chance(g, 2);
		int n = isdr ? dr[below(g, 6)] : cr[below(g, 5)], r = below(g, 16);
		insn_begin(g);
		if (n >= 8 || r >= 8)
			put(g, 0x40 | (n >= 8) << 2 | (r >= 8), 1);
		put(g, 0x0f, 1);
		put(g, 0x20 + isdr + 2 * below(g, 2), 1);
		put(g, 0xc0 | (n & 7) << 3 | (r & 7), 1);
		break;
	}
	case 4: /* LGDT LIDT m (0F 01 /2 /3), INVLPG m (/7), LMSW (/6), LLDT LTR (0F 00 /2 /3) */
		pick_rm(g, &m, 2, false);
		insn_begin(g);
		if (chance(g, 2)) {
			static const u8 sub[] = { 2, 3, 6, 7 };
			int s = sub[below(g, 4)];
			if (!m.mem && s != 6)
				s = 6;
			emit_modrm(g, 4, 0, (const u8[]){ 0x0f, 0x01 }, 2, s, &m, false, 0, 0);
		} else {
			emit_modrm(g, 4, 0, (const u8[]){ 0x0f, 0x00 }, 2, 2 + below(g, 2), &m,
				   false, 0, 0);
		}
		break;
	case 5:
	case 6: { /* INT n, those the environment allows */
		int n, tries = 0;
		do
			n = chance(g, 2) ? below(g, 32) : below(g, 256);
		while (!(g->cfg->int_ok[n / 32] >> (n % 32) & 1) && ++tries < 64);
		if (tries == 64)
			n = 3;
		insn_begin(g);
		put(g, 0xcd, 1);
		put(g, n, 1);
		break;
	}
	case 7: /* INT3, INT1 */
		insn_begin(g);
		put(g, chance(g, 2) ? 0xcc : 0xf1, 1);
		break;
	case 8: /* invalid in 64-bit mode */
		insn_begin(g);
		put(g, invalid64[below(g, ARRAY_SIZE(invalid64))], 1);
		break;
	case 9: /* UD2, UD1 r, r/m, UD0 (AMD: no ModRM; the fault comes first either way) */
		insn_begin(g);
		if (chance(g, 2)) {
			put(g, 0x0b0f, 2);
		} else {
			struct rm rr = { .reg = below(g, 16) };
			u8 op[2] = { 0x0f, chance(g, 2) ? 0xb9 : 0xff };

			emit_modrm(g, 4, 0, op, 2, below(g, 8), &rr, false, 0, 0);
		}
		break;
	case 10: { /* LOCK with no memory destination or an instruction that cannot lock */
		static const u8 ops[] = { 0x89, 0x8b, 0x85, 0x84, 0x88 };
		pick_rm(g, &m, 4, true);
		insn_begin(g);
		const u8 *op = &ops[below(g, ARRAY_SIZE(ops))];

		emit_modrm(g, 4, P_LOCK, op, 1, pick_dst(g), &m, false, 0, 0);
		break;
	}
	default: { /* LEA with a register operand */
		struct rm rr = { .reg = pick_src(g) };
		insn_begin(g);
		int w = pick_w16(g);

		emit_modrm(g, w, 0, (const u8[]){ 0x8d }, 1, pick_dst(g), &rr, false, 0, 0);
		break;
	}
	}
	insn_end(g, 0, 0);
}

/* A selector for a segment instruction: from the list (random RPL), or any 16-bit value. */
static u16 pick_sel(struct gen *g)
{
	if (g->cfg->nsels && !chance(g, 6)) {
		u16 sel = g->cfg->sels[below(g, g->cfg->nsels)];

		return sel | below(g, 4);
	}
	return chance(g, 2) ? below(g, 0x100) : rnd(g);
}

/*
 * Segment registers and descriptors at CPL 3 (SDM vol. 2B MOV, PUSH; 2A LAR, LSL, LDS/LSS; 2B
 * VERR/VERW): MOV r/m, Sreg (a register destination gets the zero-extended selector, memory 16
 * bits); MOV ES/SS/DS, r/m and LSS (the descriptor checks: #GP(selector), #NP, null loads); PUSH
 * FS/GS; LAR and
 * LSL (ZF says whether the selector is accessible; the destination is written only if so) and
 * VERR/VERW (only ZF). FS and GS are never loaded: they hold the oracle's thread pointer.
 */
static void gen_seg(struct gen *g)
{
	int k = below(g, 7), r;
	struct rm m;

	g->hi8 = false;
	r = pick_dst(g);
	switch (k) {
	case 3: { /* LSS r, m16:16/m16:32 (m16:64 with REX.W, which AMD does not have) */
		int w = has(g, GEN_AMD) ? 2 << below(g, 2) : pick_w16(g);
		u16 sel = chance(g, 4) ? pick_sel(g) : g->cfg->sel_stack;
		int s = pick_scratch(g, 1u << r);
		emit_mov_reg(g, s, rnd_value(g));
		mem_operand(g, &m, w + 2, 0, 1u << s);
		insn_begin(g);
		emit_modrm(g, w, 0, (const u8[]){ 0x89 }, 1, s, &m, false, 0, 0);
		insn_end(g, 0, 0);
		struct rm m2 = rm_plus(m, w);
		insn_begin(g);
		emit_modrm(g, 2, 0, (const u8[]){ 0xc7 }, 1, 0, &m2, false, sel, 2);
		insn_end(g, 0, 0);
		insn_begin(g);
		emit_modrm(g, w, 0, (const u8[]){ 0x0f, 0xb2 }, 2, r, &m, false, 0, 0);
		insn_end(g, 0, 0);
		return;
	}
	case 0: { /* MOV r/m, Sreg (6 and 7 are no segment registers: #UD) */
		int w = chance(g, 2) ? pick_w16(g) : 4;
		pick_rm(g, &m, 2, true);
		insn_begin(g);
		emit_modrm(g, w, 0, (const u8[]){ 0x8c }, 1, chance(g, 16) ? 6 + below(g, 2) :
			   below(g, 6), &m, false, 0, 0);
		insn_end(g, 0, 0);
		return;
	}
	case 1: { /* MOV ES/SS/DS, r/m16 */
		static const u8 sreg[] = { 0, 2, 3, 3 };
		u16 sel = pick_sel(g);
		int s = sreg[below(g, 4)];
		if (s == 2 && chance(g, 2))
			sel = g->cfg->sel_stack;
		emit_mov_imm(g, r, sel | (chance(g, 4) ? rnd(g) << 16 : 0), false);
		if (chance(g, 3)) { /* through memory */
			mem_operand(g, &m, 2, 0, 1u << r);
			insn_begin(g);
			emit_modrm(g, 2, 0, (const u8[]){ 0x89 }, 1, r, &m, false, 0, 0);
			insn_end(g, 0, 0);
		} else {
			m = (struct rm){ .reg = r };
		}
		/*
		 * Single-stepping into MOV SS: it blocks debug exceptions for one instruction, so the
		 * #DB comes after the instruction that follows it (SDM vol. 3A 6.8.3).
		 */
		if (s == 2 && has(g, GEN_TF) && chance(g, 3)) {
			insn_begin(g);
			put(g, 0x68, 1);
			put(g, (rnd(g) & (F_ALL | FL_DF)) | FL_TF, 4);
			insn_end(g, 0, 0);
			insn_begin(g);
			put(g, 0x9d, 1);
			insn_end(g, F_ALL, 0);
		}
		insn_begin(g);
		emit_modrm(g, chance(g, 4) ? 8 : 4, 0, (const u8[]){ 0x8e }, 1, s, &m, false, 0, 0);
		insn_end(g, 0, 0);
		return;
	}
	case 2: /* PUSH FS, PUSH GS (16-bit with 66h) */
		if (!stack_room(g, 8))
			return;
		insn_begin(g);
		if (chance(g, 6)) {
			put(g, 0x66, 1);
			g->depth += 2;
		} else {
			g->depth += 8;
		}
		put(g, chance(g, 2) ? 0xa00f : 0xa80f, 2);
		insn_end(g, 0, 0);
		return;
	default: { /* LAR, LSL r, r/m16; VERR, VERW r/m16 */
		int op = below(g, 4), w = pick_w16(g);
		u16 sel = pick_sel(g);
		if (op == 1 && g->cfg->lsl_avoid && (sel >> 3) == g->cfg->lsl_avoid)
			sel = 0;
		int s = pick_scratch(g, 1u << r);
		emit_mov_imm(g, s, sel | (chance(g, 4) ? rnd(g) << 16 : 0), false);
		if (chance(g, 3)) {
			mem_operand(g, &m, 2, 0, 1u << s);
			insn_begin(g);
			emit_modrm(g, 2, 0, (const u8[]){ 0x89 }, 1, s, &m, false, 0, 0);
			insn_end(g, 0, 0);
		} else {
			m = (struct rm){ .reg = s };
		}
		insn_begin(g);
		if (op < 2)
			emit_modrm(g, w, 0, (const u8[]){ 0x0f, 0x02 + op }, 2, r, &m, false, 0, 0);
		else
			emit_modrm(g, w, 0, (const u8[]){ 0x0f, 0x00 }, 2, 2 + op, &m, false, 0, 0);
		insn_end(g, F_ZF, 0);
		if (op == 0 && w > 2) {
			/*
			 * LAR r32/r64: bits 19:16 (the limit's) are undefined (SDM vol. 2A LAR:
			 * "00FxFF00H"). Keep ZF in a byte register and clear them.
			 */
			int b = pick_scratch(g, 1u << r | 0xf0);
			insn_begin(g);
			emit_modrm(g, 4, 0, (const u8[]){ 0x0f, 0x94 }, 2, 0,
				   &(struct rm){ .reg = b }, true, 0, 0);
			insn_end(g, 0, 0);
			insn_begin(g);
			emit_modrm(g, 4, 0, (const u8[]){ 0x81 }, 1, 4, &(struct rm){ .reg = r },
				   false, 0xfff0ffff, 4);
			insn_end(g, F_ALL & ~F_AF, F_AF);
		}
		return;
	}
	}
}

/* SMSW (CR0's low bits; 0F 01 /4), STR, SLDT (0F 00 /1 /0): readable at CPL 3 without UMIP. */
static void gen_sysread(struct gen *g)
{
	struct rm m;
	int k = below(g, 3);

	g->hi8 = false;
	pick_rm(g, &m, 2, true);
	insn_begin(g);
	emit_modrm(g, m.mem ? 2 : pick_w16(g), 0, (const u8[]){ 0x0f, k ? 0x00 : 0x01 }, 2,
		   k == 0 ? 4 : k == 1 ? 1 : 0, &m, false, 0, 0);
	insn_end(g, 0, 0);
}

typedef void (*gen_fn)(struct gen *);
static const struct {
	gen_fn fn;
	u8 weight;   /* relative; a block draws 8-32 times, so 1 is about one block in 20 */
	u8 straight; /* no control transfer, no stack depth: may be skipped by a branch */
	u32 needs;   /* GEN_* features, all of them */
} classes[] = {
	{ gen_alu, 40, 1, 0 },
	{ gen_test, 8, 1, 0 },
	{ gen_unary, 12, 1, 0 },
	{ gen_muldiv, 12, 1, 0 },
	{ gen_imul, 8, 1, 0 },
	{ gen_shift, 24, 1, 0 },
	{ gen_shxd, 12, 1, 0 },
	{ gen_bt, 12, 1, 0 },
	{ gen_bitscan, 12, 1, 0 },
	{ gen_bmi1, 6, 1, GEN_BMI1 },
	{ gen_cond, 16, 1, 0 },
	{ gen_xchg, 12, 1, 0 },
	{ gen_mov, 16, 1, 0 },
	{ gen_lea, 8, 1, 0 },
	{ gen_flagops, 8, 1, 0 },
	{ gen_cmpxchg8b, 4, 1, 0 },
	{ gen_xlat, 3, 1, 0 },
	{ gen_string, 12, 1, 0 },
	{ gen_nop, 4, 1, 0 },
	{ gen_privileged, 1, 1, GEN_FAULTS },
	{ gen_sysread, 2, 1, GEN_SYSREAD },
	{ gen_seg, 4, 0, GEN_SEG },
	{ gen_stack, 16, 0, 0 },
	{ gen_branch, 12, 0, 0 },
	{ gen_call, 6, 0, 0 },
	{ gen_enter, 3, 0, 0 },
	{ gen_far, 3, 0, GEN_FAR },
};

static void gen_one(struct gen *g, bool straight)
{
	unsigned total = 0, pick, c = 0;

	for (unsigned i = 0; i < ARRAY_SIZE(classes); i++)
		if ((classes[i].needs & g->cfg->features) == classes[i].needs &&
		    (!straight || classes[i].straight))
			total += classes[i].weight;
	pick = below(g, total);
	for (;; c++) {
		if ((classes[c].needs & g->cfg->features) != classes[c].needs ||
		    (straight && !classes[c].straight))
			continue;
		if (pick < classes[c].weight)
			break;
		pick -= classes[c].weight;
	}
	classes[c].fn(g);
}

void gen_block(struct gen *g, const struct gen_config *cfg, u8 *buf, u64 seed, u32 index)
{
	g->cfg = cfg;
	g->rng = mix64(seed ^ 0x5eed0000deadbeefULL) ^ mix64(index + 0x1234567ULL);
	g->buf = g->p = buf;
	g->n = 0;
	g->cur_undef = 0;
	g->depth = 0;
	g->hi8 = false;
	g->nested = false;
	g->keep = 0;
	g->off[0] = 0;
	g->undef[0] = 0;

	int len = 8 + below(g, 25);
	for (int i = 0; i < len && g->p - buf < CODE_LIMIT - 300 && g->n < GEN_MAX_INSNS - 40;
	     i++)
		gen_one(g, false);
	/* jmp exit (not counted: it is the harness's) */
	s64 rel = (s64)cfg->exit_addr - (s64)(here(g) + 5);
	*g->p++ = 0xe9;
	put(g, (u32)rel, 4);
}

/*
 * Initial state: random GPRs, RSP on the data page, random arithmetic flags and DF (AC one time
 * in 32 with GEN_AC), a data page of random bytes.
 */
void gen_input(struct gen *g, struct gen_state *in, u8 *data)
{
	for (int i = 0; i < 16; i++)
		in->r[i] = rnd_value(g);
	in->r[4] = g->cfg->data_addr + 1536 + below(g, 1024);
	in->rflags = 0x2 | (rnd(g) & (F_ALL | FL_DF));
	if (has(g, GEN_AC) && chance(g, 32))
		in->rflags |= FL_AC;
	for (int i = 0; i < 4096; i += 8) {
		u64 v = chance(g, 8) ? rnd_value(g) : rnd(g);
		for (int j = 0; j < 8; j++)
			data[i + j] = v >> (8 * j);
	}
}

u16 gen_undef_at(const struct gen *g, u64 off)
{
	if (off >= g->off[g->n])
		return g->cur_undef;
	for (int i = 0; i <= g->n; i++)
		if (g->off[i] == off)
			return g->undef[i];
	return F_ALL; /* no instruction boundary: trust nothing */
}
