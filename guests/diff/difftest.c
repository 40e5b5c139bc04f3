// SPDX-License-Identifier: MIT
/*
 * difftest: the differential tester's guest (issue 4; docs/difftest.md).
 *
 * From a seed it generates blocks of random but valid integer instructions, runs each block at
 * CPL 3 from random GPRs and arithmetic flags on a 4 KiB data page, and hashes the state the
 * block leaves: 16 GPRs, RFLAGS with the flags the SDM leaves undefined masked, the data page,
 * and the exception (vector, error code, RIP) if the block faulted.  The same seed gives the
 * same bytes on every backend, so the hashes of two backends must be equal.
 *
 * Command line (multiboot, key=value words):
 *   seed=N      the seed (default 1)
 *   start=I     first block index (default 0); blocks are independent of each other
 *   blocks=M    number of blocks (default 1000), or insns=K: run blocks until K instructions
 *   group=G     print one hash line per G blocks (default 64)
 *   dump=I      run only block I and print its input, bytes, instruction table, output, data page
 *   popcnt= lzcnt= tzcnt= lahf=  0/1: use these instructions (default: what CPUID says)
 *   flip=I      flip bit 0 of RAX after block I: the driver's self-test of its own detection
 *   noncanon=1  also non-canonical addresses (#GP/#SS): off by default, because kvm_pvm sends
 *               CPL-3 #GP through KVM's instruction emulator (docs/difftest.md)
 * Output: "difftest ..." header, "g <group> <hash>" lines, "end blocks=.. insns=.. hash=..".
 *
 * Everything but fault delivery and output runs at CPL 3: on a KVM that emulates ring 0 (as
 * kvm_pvm does), only the ring-3 part runs on the real CPU, at full speed.  Output is formatted
 * at CPL 3 and written by the ring-0 handler of INT 0x82 (some KVMs refuse OUT at CPL 3 even
 * with IOPL 3).
 */
#include "lib.h"

/* The arithmetic flags as RFLAGS bits (SDM vol. 1 3.4.3.1). */
#define F_CF 0x001
#define F_PF 0x004
#define F_AF 0x010
#define F_ZF 0x040
#define F_SF 0x080
#define F_OF 0x800
#define F_ALL (F_CF | F_PF | F_AF | F_ZF | F_SF | F_OF)

#define MAX_INSNS 400
#define CODE_LIMIT 3900 /* room for the closing JMP and one more instruction */
#define STACK_LIMIT 384 /* bytes a block may push or pop away from its starting RSP */

struct cpu_state {
	u64 r[16]; /* RAX RCX RDX RBX RSP RBP RSI RDI R8-R15: the ModRM numbering */
	u64 rflags;
};

/* Shared with enter.S. */
struct cpu_state diff_in, diff_out;
void *diff_code_ptr;
u64 diff_run_block(void);
extern char diff_block_exit[], diff_fault_resume[], diff_user_ret[];
extern u64 diff_ujb[8];
u64 diff_user_call(u64 (*fn)(u64));

static u8 code_buf[4096] __attribute__((aligned(4096)));
static u8 data_page[4096] __attribute__((aligned(4096)));

/* Filled by the ring-0 fault handler. */
static volatile u64 fault_vector, fault_error, fault_rip, fault_cr2;
static volatile bool in_block;

static struct {
	u64 seed;
	u32 start, blocks, group;
	u64 insns;
	s64 dump, flip;
	int popcnt, lzcnt, tzcnt, lahf, noncanon;
} opt = { .seed = 1, .blocks = 1000, .group = 64, .dump = -1, .flip = -1,
	  .popcnt = -1, .lzcnt = -1, .tzcnt = -1, .lahf = -1 };

/* ---- random numbers: splitmix64 ---- */

static u64 mix64(u64 z)
{
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

struct gen {
	u64 rng;
	u8 *p;
	int n;                     /* instructions emitted */
	u16 off[MAX_INSNS + 1];    /* start offset of each instruction; off[n] = end */
	u16 undef[MAX_INSNS + 1];  /* arithmetic flags undefined before instruction i */
	u16 cur_undef;
	int depth;                 /* bytes pushed so far (negative: popped) */
	bool hi8;                  /* this instruction uses AH..BH: no REX at all */
};

static u64 rnd(struct gen *g)
{
	g->rng += 0x9e3779b97f4a7c15ULL;
	return mix64(g->rng);
}

static u32 below(struct gen *g, u32 n) { return (u32)((rnd(g) >> 32) * n >> 32); }
static bool chance(struct gen *g, u32 n) { return below(g, n) == 0; }

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
	case 3:
		return edge[below(g, ARRAY_SIZE(edge))] ^ (1ULL << below(g, 64));
	default:
		return rnd(g);
	}
}

/* ---- the encoder (SDM vol. 2A chapter 2: prefixes, REX, ModRM, SIB, displacement) ---- */

enum { P_66 = 1, P_F2 = 2, P_F3 = 4, P_LOCK = 8, P_67 = 16 };

struct rm {
	bool mem;
	int reg;              /* register operand when !mem */
	int base, index;      /* -1: none (both -1: [disp32]) */
	int scale;            /* log2 */
	s32 disp;
	bool disp32;
	bool wild;            /* points outside guest RAM on purpose: no 67h (it would wrap back) */
};

static void put(struct gen *g, u64 v, int bytes)
{
	for (int i = 0; i < bytes; i++)
		*g->p++ = v >> (8 * i);
}

static void insn_begin(struct gen *g)
{
	g->off[g->n] = g->p - code_buf;
	g->undef[g->n] = g->cur_undef;
}

/* Instruction done: flags in def now hold defined values, flags in undef are undefined. */
static void insn_end(struct gen *g, u16 def, u16 undef)
{
	g->cur_undef = (g->cur_undef & ~def) | undef;
	g->n++;
	g->off[g->n] = g->p - code_buf;
	g->undef[g->n] = g->cur_undef;
}

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
		put(g, ((const u8[]){ 0x26, 0x2e, 0x36, 0x3e })[below(g, 4)], 1);
	}
	if (pfx & P_LOCK)
		put(g, 0xf0, 1);
	/* 32-bit addressing (SDM vol. 1 3.3.7): the effective address wraps at 4 GiB, same place */
	if ((pfx & P_67) || (rm->mem && !rm->wild && chance(g, 10)))
		put(g, 0x67, 1);
	if (w == 2 || (pfx & P_66))
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
	if (rex != 0x40 || (byteregs && !g->hi8))
		put(g, rex, 1);
	for (int i = 0; i < oplen; i++)
		put(g, op[i], 1);
	if (!rm->mem) {
		put(g, 0xc0 | (regf & 7) << 3 | (rm->reg & 7), 1);
	} else if (rm->base < 0) {
		put(g, 0x04 | (regf & 7) << 3, 1);
		put(g, (rm->index < 0 ? 4 : rm->index & 7) << 3 | rm->scale << 6 | 5, 1);
		put(g, (u32)rm->disp, 4);
	} else {
		int mod = rm->disp32 ? 2 : 1;
		if (rm->index < 0 && (rm->base & 7) != 4) {
			put(g, mod << 6 | (regf & 7) << 3 | (rm->base & 7), 1);
		} else {
			put(g, mod << 6 | (regf & 7) << 3 | 4, 1);
			put(g, rm->scale << 6 | (rm->index < 0 ? 4 : rm->index & 7) << 3 |
				       (rm->base & 7), 1);
		}
		put(g, (u32)rm->disp, rm->disp32 ? 4 : 1);
	}
	put(g, imm, immlen);
}

/* A register this instruction may write: never RSP (the stack stays on the data page). */
static int pick_dst(struct gen *g)
{
	int r;

	if (g->hi8)
		return below(g, 8); /* 4..7 are AH..BH here */
	do
		r = below(g, 16);
	while (r == 4);
	return r;
}

/* A destination wider than a byte in an instruction that may also use AH..BH. */
static int pick_dst_wide(struct gen *g)
{
	int r;

	do
		r = below(g, g->hi8 ? 8 : 16);
	while (r == 4);
	return r;
}

static int pick_src(struct gen *g) { return below(g, g->hi8 ? 8 : 16); }

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

/*
 * A memory operand of `size` bytes landing inside the data page at least `margin` bytes from
 * its edges; base and index registers are loaded just before (those loads are instructions of
 * the block too).
 */
static void mem_operand(struct gen *g, struct rm *m, int size, int margin, unsigned avoid)
{
	u64 page = (u64)data_page;
	s64 t = margin + below(g, 4096 - size - 2 * margin + 1);
	int lim = g->hi8 ? 8 : 16;

	*m = (struct rm){ .mem = true, .base = -1, .index = -1 };
	if (chance(g, 80)) {
		/*
		 * Outside the data page on purpose: above 4 GiB (not mapped: #PF, SDM vol. 3A 5.7
		 * error code, CR2) or, with noncanon=1, non-canonical (#GP(0) or #SS(0), vol. 3A
		 * 3.3.7.1); disp8 only.
		 */
		do
			m->base = below(g, lim);
		while (avoid >> m->base & 1 || m->base == 4);
		m->disp = (s32)below(g, 256) - 128;
		u64 a = !opt.noncanon || chance(g, 2) ? (1ULL << 32) + (rnd(g) & 0x7fffffffffffULL)
						       : rnd(g) | 1ULL << 62;
		emit_mov_reg(g, m->base, a | (1ULL << 32));
		m->wild = true;
		return;
	}
	if (chance(g, 16)) { /* [disp32]: SIB with no base and no index */
		m->disp = page + t;
		return;
	}
	avoid |= 1u << 4;
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
	emit_mov_imm(g, m->base, page + t - m->disp - ix * (1 << m->scale), false);
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
		emit_modrm(g, w, 0, &opc, 1, 0, &m, w == 1, rnd_value(g), imm_len(w));
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
		emit_modrm(g, w, 0, &opc, 1, pick_dst(g), &m, false, rnd_value(g),
			   form == 1 ? 1 : imm_len(w));
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
 * ROL ROR RCL RCR SHL SHR SAR by 1, imm8 or CL (SDM vol. 2B RCL/RCR/ROL/ROR, SAL/SAR/SHL/SHR):
 * the count is masked to 5 bits (6 with REX.W); a masked count of 0 changes no flag; OF is
 * defined only for a masked count of 1; rotates change only CF and OF; shifts leave AF
 * undefined, and SHL/SHR leave CF undefined when the count is >= the operand size.
 */
static void gen_shift(struct gen *g)
{
	static const int ops[] = { 0, 1, 2, 3, 4, 5, 7 };
	int w = pick_w(g), op = ops[below(g, 7)], form = below(g, 3), count;
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
	int count = w == 2 ? (int)(below(g, 16) + 32 * below(g, 8)) : pick_count(g, w);
	struct rm m;
	u8 op[2] = { 0x0f, (right ? 0xac : 0xa4) + cl };

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

	if ((k == 2 && !opt.popcnt) || (k == 3 && !opt.lzcnt) || (k == 4 && !opt.tzcnt))
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
		emit_modrm(g, 4, 0, op, 2, 0, &m, true, 0, 0);
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
		do
			r = below(g, 16);
		while (r == 4);
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

/* MOV, MOVZX, MOVSX, MOVSXD, BSWAP, CBW/CWDE/CDQE, CWD/CDQ/CQO: no flags. */
static void gen_mov(struct gen *g)
{
	int k = below(g, 7), w;
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
	case 2: { /* MOVSXD r64, r/m32 */
		u8 opc = 0x63;
		g->hi8 = false;
		pick_rm(g, &m, 4, false);
		insn_begin(g);
		emit_modrm(g, 8, 0, &opc, 1, pick_dst(g), &m, false, 0, 0);
		break;
	}
	case 3: { /* BSWAP r32/r64 */
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
	struct rm m = { .mem = true, .base = below(g, 16), .scale = below(g, 4) };

	g->hi8 = false;
	do
		m.index = (int)below(g, 17) - 1;
	while (m.index == 4);
	m.disp32 = chance(g, 2);
	m.disp = m.disp32 ? (s32)rnd(g) : (s32)below(g, 256) - 128;
	insn_begin(g);
	emit_modrm(g, w, chance(g, 4) ? P_67 : 0, &opc, 1, pick_dst(g), &m, false, 0, 0);
	insn_end(g, 0, 0);
}

/* LAHF (reads SF ZF AF PF CF), SAHF (writes them; SDM vol. 2A LAHF, 2B SAHF), CLC STC CMC. */
static void gen_flagops(struct gen *g)
{
	int k = below(g, opt.lahf ? 5 : 3);

	if (k == 2)
		need_flags(g, F_CF);
	if (k == 3)
		need_flags(g, F_ALL & ~F_OF);
	insn_begin(g);
	put(g, ((const u8[]){ 0xf8, 0xf9, 0xf5, 0x9f, 0x9e })[k], 1);
	insn_end(g, k == 3 ? 0 : k == 4 ? F_ALL & ~F_OF : F_CF, 0);
}

/* PUSH/POP (register, imm, memory; 16- and 64-bit), PUSHF, POPF of a pushed immediate. */
static void gen_stack(struct gen *g)
{
	int k = below(g, 6), w = chance(g, 6) ? 2 : 8;
	bool push = g->depth < STACK_LIMIT && (g->depth <= -STACK_LIMIT || chance(g, 2));
	struct rm m;

	g->hi8 = false;
	/*
	 * push $flags; popfq: arithmetic flags, DF, ID.  Not AC: kvm_pvm runs CPL 3 with CR0.AM
	 * set whatever the guest's CR0 says, so AC would make misaligned accesses fault there only.
	 */
	if (k == 5) {
		if (!push) {
			need_flags(g, F_ALL);
			insn_begin(g);
			put(g, 0x9c, 1);
			insn_end(g, 0, 0);
			g->depth += 8;
			/*
			 * andl $~IF, (%rsp): kvm_pvm runs CPL 3 with IF = 1 and PUSHF stores it;
			 * keep the pushed image comparable (AND leaves AF undefined).
			 */
			insn_begin(g);
			put(g, 0x242481, 3);
			put(g, ~(u32)RFLAGS_IF, 4);
			insn_end(g, F_ALL & ~F_AF, F_AF);
			return;
		}
		insn_begin(g);
		put(g, 0x68, 1);
		put(g, rnd(g) & (F_ALL | RFLAGS_DF | RFLAGS_ID), 4);
		insn_end(g, 0, 0);
		insn_begin(g);
		put(g, 0x9d, 1);
		insn_end(g, F_ALL, 0);
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
 * CMPS/SCAS define all six flags when they compare at least once.
 */
static void gen_string(struct gen *g)
{
	int k = below(g, 5), w = pick_w(g), rep = below(g, 3), n = below(g, 9);
	u64 page = (u64)data_page;
	u32 si = page + 512 + below(g, 3072), di = chance(g, 4) ? si : page + 512 + below(g, 3072);
	static const u8 opc[] = { 0xa4, 0xaa, 0xac, 0xa6, 0xae };
	unsigned pfx = 0;

	bool a32 = chance(g, 4);

	insn_begin(g);
	put(g, chance(g, 2) ? 0xfc : 0xfd, 1); /* CLD / STD */
	insn_end(g, 0, 0);
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
 * CMPXCHG8B m64 (SDM vol. 2A CMPXCHG8B/CMPXCHG16B): ZF defined, other flags unchanged; on a
 * mismatch EDX:EAX are loaded (zero-extended).  Half the time EDX:EAX are loaded from the operand
 * first ([disp32] loads), so the exchange happens.
 */
static void gen_cmpxchg8b(struct gen *g)
{
	static const u8 op[2] = { 0x0f, 0xc7 };
	struct rm m;

	g->hi8 = false;
	mem_operand(g, &m, 8, 0, 1u << 0 | 1u << 2);
	if (chance(g, 2)) {
		u64 a = (u64)data_page + below(g, 4089);
		for (int i = 0; i < 2; i++) {
			insn_begin(g);
			put(g, 0x8b, 1); /* mov disp32, %eax / %edx: ModRM 04/14, SIB 25 */
			put(g, i ? 0x14 : 0x04, 1);
			put(g, 0x25, 1);
			put(g, a + 4 * i, 4);
			insn_end(g, 0, 0);
		}
	}
	insn_begin(g);
	emit_modrm(g, 4, chance(g, 2) ? P_LOCK : 0, op, 2, 1, &m, false, 0, 0);
	insn_end(g, F_ZF, 0);
}

/* XLAT: AL = [RBX + AL] (SDM vol. 2B XLAT); RBX is loaded first. */
static void gen_xlat(struct gen *g)
{
	emit_mov_imm(g, 3, (u64)data_page + below(g, 4096 - 256), false);
	insn_begin(g);
	if (chance(g, 2))
		put(g, 0x48, 1);
	put(g, 0xd7, 1);
	insn_end(g, 0, 0);
}

static void gen_branch(struct gen *g);

typedef void (*gen_fn)(struct gen *);
static const struct {
	gen_fn fn;
	int weight;
} classes[] = {
	{ gen_alu, 10 }, { gen_test, 2 }, { gen_unary, 3 }, { gen_muldiv, 3 },
	{ gen_imul, 2 }, { gen_shift, 6 }, { gen_shxd, 3 }, { gen_bt, 3 },
	{ gen_bitscan, 3 }, { gen_cond, 4 }, { gen_xchg, 3 }, { gen_mov, 4 },
	{ gen_lea, 2 }, { gen_flagops, 2 }, { gen_cmpxchg8b, 1 }, { gen_xlat, 1 },
	{ gen_string, 3 }, { gen_stack, 4 }, { gen_branch, 3 },
};
#define N_STRAIGHT (ARRAY_SIZE(classes) - 2) /* classes without stack depth or branches */

static void gen_one(struct gen *g, unsigned n)
{
	int total = 0, pick;
	unsigned c = 0;

	for (unsigned i = 0; i < n; i++)
		total += classes[i].weight;
	pick = below(g, total);
	while (pick >= classes[c].weight)
		pick -= classes[c++].weight;
	classes[c].fn(g);
}

/*
 * Jcc rel8, JRCXZ/JECXZ, LOOP/LOOPE/LOOPNE (SDM vol. 2A Jcc, LOOPcc) over one generated
 * instruction (with its set-up): both paths are possible, so afterwards a flag is undefined if
 * it is undefined on either path.
 */
static void gen_branch(struct gen *g)
{
	int k = below(g, 9), cc = below(g, 16);
	u16 before;
	u8 *rel;

	if (k < 5)
		need_flags(g, cc_flags(cc));
	else if (k == 6 || k == 7)
		need_flags(g, F_ZF);
	insn_begin(g);
	if (k < 5) {
		put(g, 0x70 + cc, 1);
	} else {
		if (chance(g, 4))
			put(g, 0x67, 1); /* ECX instead of RCX */
		put(g, ((const u8[]){ 0xe3, 0xe1, 0xe0, 0xe2 })[k - 5], 1);
	}
	rel = g->p;
	put(g, 0, 1);
	insn_end(g, 0, 0);
	before = g->cur_undef;
	gen_one(g, N_STRAIGHT);
	*rel = g->p - (rel + 1);
	g->cur_undef |= before;
}

static void gen_block(struct gen *g, u64 seed, u32 index)
{
	g->rng = mix64(seed ^ 0x5eed0000deadbeefULL) ^ mix64(index + 0x1234567ULL);
	g->p = code_buf;
	g->n = 0;
	g->cur_undef = 0;
	g->depth = 0;
	g->off[0] = 0;
	g->undef[0] = 0;

	int len = 8 + below(g, 25);
	for (int i = 0; i < len && g->p - code_buf < CODE_LIMIT - 200 && g->n < MAX_INSNS - 24;
	     i++)
		gen_one(g, ARRAY_SIZE(classes));
	/* jmp diff_block_exit (not counted: it is the harness's) */
	s64 rel = (s64)diff_block_exit - (s64)(g->p + 5);
	*g->p++ = 0xe9;
	put(g, (u32)rel, 4);
}

/* Initial state: random GPRs, RSP on the data page, random arithmetic flags and DF. */
static void gen_state(struct gen *g)
{
	for (int i = 0; i < 16; i++)
		diff_in.r[i] = rnd_value(g);
	diff_in.r[4] = (u64)data_page + 1536 + below(g, 1024);
	diff_in.rflags = 0x2 | (rnd(g) & (F_ALL | RFLAGS_DF));
	u64 *d = (u64 *)data_page;
	for (int i = 0; i < 512; i++)
		d[i] = chance(g, 8) ? rnd_value(g) : rnd(g);
}

/* ---- state hashing and output ---- */

#define MIN(a, b) ((a) < (b) ? (a) : (b))

static u64 hash_words(u64 h, const u64 *w, int n)
{
	for (int i = 0; i < n; i++)
		h = mix64(h ^ w[i]) + 0x9e3779b97f4a7c15ULL;
	return h;
}

struct result {
	u64 vector, error, rip_off, cr2, undef, flags, data;
};

static void block_result(struct gen *g, u64 faulted, struct result *r)
{
	r->vector = faulted ? fault_vector : 0xff;
	r->error = faulted ? fault_error : 0;
	r->rip_off = faulted ? fault_rip - (u64)code_buf : (u64)g->off[g->n];
	r->cr2 = faulted ? fault_cr2 : 0;
	r->undef = g->cur_undef;
	if (faulted) {
		r->undef = F_ALL; /* no instruction boundary: trust nothing */
		for (int i = 0; i <= g->n; i++)
			if (g->off[i] == r->rip_off)
				r->undef = g->undef[i];
	}
	/* IF: kvm_pvm runs CPL 3 with IF = 1 whatever RFLAGS says; blocks never set it */
	r->flags = diff_out.rflags & ~r->undef & ~RFLAGS_IF;
	r->data = hash_words(0, (const u64 *)data_page, 512);
}

static u64 result_hash(const struct result *r)
{
	u64 w[6] = { r->vector, r->error, r->rip_off, r->cr2, r->flags, r->data };
	return hash_words(hash_words(1, diff_out.r, 16), w, 6);
}

/*
 * Output is formatted at CPL 3 into out_buf and written by ring 0 between user_call()s: the
 * KVM here (kvm_pvm) refuses OUT at CPL 3 even with IOPL 3 and INT n for vectors but 0x80.
 */
static char out_buf[16384];
static u32 out_len;

static void uprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void uprintf(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	int n = vsnprintf(out_buf + out_len, sizeof(out_buf) - out_len, fmt, ap);
	va_end(ap);
	out_len = MIN(out_len + n, sizeof(out_buf) - 1);
}

static const char *const reg_names[16] = { "rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi",
					   "rdi", "r8", "r9", "r10", "r11", "r12", "r13",
					   "r14", "r15" };

/* n <= 128 bytes as hex, in a static buffer. */
static const char *hex(const u8 *p, int n)
{
	static char buf[257];

	for (int i = 0; i < n; i++) {
		buf[2 * i] = "0123456789abcdef"[p[i] >> 4];
		buf[2 * i + 1] = "0123456789abcdef"[p[i] & 15];
	}
	buf[2 * n] = 0;
	return buf;
}

static void dump_block(struct gen *g, u32 index, const struct result *r)
{
	uprintf("dump block %u seed %llu insns %d\n", index, (unsigned long long)opt.seed, g->n);
	for (int i = 0; i < g->off[g->n]; i += 128)
		uprintf("code %s\n", hex(code_buf + i, MIN(128, g->off[g->n] - i)));
	for (int i = 0; i < g->n; i++)
		uprintf("insn %d %u %u %#x\n", i, g->off[i], g->off[i + 1] - g->off[i],
			g->undef[i]);
	for (int i = 0; i < 16; i++)
		uprintf("reg %s %016llx %016llx\n", reg_names[i], (unsigned long long)diff_in.r[i],
		       (unsigned long long)diff_out.r[i]);
	uprintf("rflags %016llx %016llx undef %#llx masked %016llx\n",
	       (unsigned long long)diff_in.rflags, (unsigned long long)diff_out.rflags,
	       (unsigned long long)r->undef, (unsigned long long)r->flags);
	uprintf("exit vector %#llx error %#llx rip +%#llx cr2 %#llx\n",
		(unsigned long long)r->vector, (unsigned long long)r->error,
		(unsigned long long)r->rip_off, (unsigned long long)r->cr2);
	uprintf("data %016llx\n", (unsigned long long)r->data);
	for (int i = 0; i < 4096; i += 64)
		uprintf("page %03x %s\n", i, hex(data_page + i, 64));
	uprintf("hash %016llx\n", (unsigned long long)result_hash(r));
}

static struct gen gen;

static struct {
	u32 b, end;
	u64 insns, faults, group_hash, all;
	bool started;
} run;

static u64 run_one(struct gen *g, u32 b, struct result *r)
{
	gen_block(g, opt.seed, b);
	gen_state(g);
	diff_code_ptr = code_buf;
	in_block = true;
	u64 f = diff_run_block();
	in_block = false;
	if ((s64)b == opt.flip)
		diff_out.r[0] ^= 1;
	block_result(g, f, r);
	return f;
}

/*
 * One step of the run, at CPL 3: blocks until out_buf holds about a kilobyte (ring 0 prints it
 * after each step); returns 0 when the run is over.
 */
static u64 diff_step(u64 unused)
{
	struct gen *g = &gen;
	struct result r;

	if (!run.started) {
		run.started = true;
		run.b = opt.start;
		run.end = opt.start + opt.blocks;
		uprintf("difftest seed=%llu start=%u group=%u popcnt=%d lzcnt=%d tzcnt=%d "
			"lahf=%d\n",
			(unsigned long long)opt.seed, opt.start, opt.group, opt.popcnt, opt.lzcnt,
			opt.tzcnt, opt.lahf);
		if (opt.dump >= 0) {
			run_one(g, opt.dump, &r);
			dump_block(g, opt.dump, &r);
			return 0;
		}
	}
	for (; opt.insns ? run.insns < opt.insns : run.b < run.end; run.b++) {
		if (out_len > 1024)
			return 1;
		run.faults += run_one(g, run.b, &r);
		run.insns += g->n;
		u64 h = result_hash(&r);
		run.group_hash = hash_words(run.group_hash, &h, 1);
		if ((run.b + 1 - opt.start) % opt.group == 0) {
			uprintf("g %u %016llx\n", run.b / opt.group,
				(unsigned long long)run.group_hash);
			run.all = hash_words(run.all, &run.group_hash, 1);
			run.group_hash = 0;
		}
	}
	if ((run.b - opt.start) % opt.group) {
		uprintf("g %u %016llx\n", (run.b - 1) / opt.group,
			(unsigned long long)run.group_hash);
		run.all = hash_words(run.all, &run.group_hash, 1);
	}
	uprintf("end blocks=%u insns=%llu faults=%llu hash=%016llx\n", run.b - opt.start,
		(unsigned long long)run.insns, (unsigned long long)run.faults,
		(unsigned long long)run.all);
	return 0;
}

/* Ring 0: an exception inside a block ends it; anything else is a harness bug. */
static void diff_trap(struct frame *f)
{
	if (f->vector == UD_VECTOR && f->rip == (u64)diff_user_ret && f->cs == SEL_UCODE) {
		/* diff_user_call() returns f->rax at CPL 0 */
		f->rip = diff_ujb[0];
		f->rsp = diff_ujb[1];
		f->rbx = diff_ujb[2];
		f->rbp = diff_ujb[3];
		f->r12 = diff_ujb[4];
		f->r13 = diff_ujb[5];
		f->r14 = diff_ujb[6];
		f->r15 = diff_ujb[7];
		f->cs = SEL_KCODE;
		f->ss = SEL_KDATA;
		f->rflags = 0x2;
		return;
	}
	if (!in_block || f->cs != SEL_UCODE) {
		printf("FAIL unexpected exception %llu error %#llx at rip %#llx cs %#llx\n",
		       (unsigned long long)f->vector, (unsigned long long)f->error,
		       (unsigned long long)f->rip, (unsigned long long)f->cs);
		exit(1);
	}
	u64 regs[16] = { f->rax, f->rcx, f->rdx, f->rbx, f->rsp, f->rbp, f->rsi, f->rdi,
			 f->r8, f->r9, f->r10, f->r11, f->r12, f->r13, f->r14, f->r15 };
	memcpy(diff_out.r, regs, sizeof(regs));
	diff_out.rflags = f->rflags;
	fault_vector = f->vector;
	fault_error = f->error;
	fault_rip = f->rip;
	fault_cr2 = f->vector == PF_VECTOR ? read_cr2() : 0;
	f->rip = (u64)diff_fault_resume;
	f->rflags = 0x2;
}

static u64 parse_u64(const char *s)
{
	u64 v = 0;

	while (*s >= '0' && *s <= '9')
		v = v * 10 + (u64)(*s++ - '0');
	return v;
}

static void parse_cmdline(const char *s)
{
	static const struct { const char *key; int kind; void *p; } keys[] = {
		{ "seed=", 8, &opt.seed }, { "start=", 4, &opt.start },
		{ "blocks=", 4, &opt.blocks },
		{ "group=", 4, &opt.group }, { "insns=", 8, &opt.insns }, { "dump=", 8, &opt.dump },
		{ "flip=", 8, &opt.flip },
		{ "popcnt=", 1, &opt.popcnt }, { "lzcnt=", 1, &opt.lzcnt },
		{ "tzcnt=", 1, &opt.tzcnt }, { "lahf=", 1, &opt.lahf },
		{ "noncanon=", 1, &opt.noncanon },
	};

	while (*s) {
		while (*s == ' ')
			s++;
		for (unsigned i = 0; i < ARRAY_SIZE(keys); i++) {
			size_t n = strlen(keys[i].key);
			if (memcmp(s, keys[i].key, n))
				continue;
			u64 v = parse_u64(s + n);
			if (keys[i].kind == 8)
				*(u64 *)keys[i].p = v;
			else if (keys[i].kind == 4)
				*(u32 *)keys[i].p = v;
			else
				*(int *)keys[i].p = v != 0;
		}
		while (*s && *s != ' ')
			s++;
	}
}

int main(void)
{
	const struct mb_info *mb = (const struct mb_info *)mb_info;

	if (mb->flags & BIT(2))
		parse_cmdline((const char *)(ulong)mb->cmdline);
	if (!opt.group)
		opt.group = 1;
	if (opt.popcnt < 0)
		opt.popcnt = HAS_POPCNT();
	if (opt.lzcnt < 0)
		opt.lzcnt = HAS_LZCNT();
	if (opt.tzcnt < 0)
		opt.tzcnt = HAS_BMI1();
	if (opt.lahf < 0)
		opt.lahf = has_feature(0x80000001, REG_ECX, 0);
	for (int v = 0; v < 32; v++)
		if (v != DF_VECTOR)
			set_handler(v, diff_trap);
	for (bool more = true; more;) {
		more = diff_user_call(diff_step);
		puts(out_buf);
		out_len = 0;
		out_buf[0] = 0;
	}
	return 0;
}
