/* SPDX-License-Identifier: MIT */
/*
 * String instructions MOVS CMPS STOS LODS SCAS with and without REP/REPE/REPNE. SDM vol. 2B
 * "MOVS", "CMPS", "STOS", "LODS", "SCAS", "REP/REPE/REPZ/REPNE/REPNZ".
 *
 * Operands: element size d->osz; the address size d->asz picks SI/ESI/RSI, DI/EDI/RDI and (with a
 * REP prefix) CX/ECX/RCX, which wrap within that size; the source is d->seg:rSI (DS or the
 * override), the destination always ES:rDI; RFLAGS.DF = 1 walks downward.
 *
 * REP: the counter is tested before each iteration, so a count of 0 does nothing. F2 and F3 both
 * mean REP for MOVS/STOS/LODS; for CMPS/SCAS F3 is REPE (stop when ZF = 0) and F2 REPNE (stop when
 * ZF = 1). The registers are committed after every element (or every bulk chunk), so a fault
 * leaves rSI/rDI/rCX describing the elements already done and RIP at the instruction: the
 * instruction restarts where it stopped (SDM vol. 1 7.3.9.1).
 *
 * Interruptibility: one execution processes at most STRING_CHUNK bytes; if elements remain, RIP is
 * set back to the instruction and the block ends, so interrupts, VM exits and the instruction
 * count are handled between executions as hardware takes them between iterations (SDM vol. 2B
 * "REP/REPE/REPZ/REPNE/REPNZ"). Under single-stepping (c->single_step, vol. 3A 18.3.1.4) and the
 * monitor trap flag (SDM vol. 3C 26.5.2) an execution is one iteration, so the #DB trap or MTF
 * exit comes after each iteration with RIP still at the instruction while elements remain, as on
 * hardware.
 */
#include "cpu/ops.h"

#define STRING_CHUNK 65536u /* bytes per execution of a REP string instruction */

struct str_regs {
	u64 si, di, cx; /* current values, masked to the address size */
	u64 amask;
	s64 step; /* +osz or -osz by DF */
};

static void str_begin(struct cpu *c, const struct insn *d, struct str_regs *s)
{
	s->amask = size_mask(d->asz);
	s->si = c->gpr[R_RSI] & s->amask;
	s->di = c->gpr[R_RDI] & s->amask;
	s->cx = c->gpr[R_RCX] & s->amask;
	s->step = (c->rflags & X86_DF) ? -(s64)d->osz : (s64)d->osz;
}

/* Advances the pointers by n elements (in the direction of DF) and commits them. */
static void str_advance(struct cpu *c, const struct insn *d, struct str_regs *s, bool si, bool di,
			u64 n)
{
	if (si) {
		s->si = (s->si + s->step * (s64)n) & s->amask;
		reg_write(c, R_RSI, s->si, d->asz);
	}
	if (di) {
		s->di = (s->di + s->step * (s64)n) & s->amask;
		reg_write(c, R_RDI, s->di, d->asz);
	}
}

static void str_count(struct cpu *c, const struct insn *d, struct str_regs *s, u64 n)
{
	s->cx = (s->cx - n) & s->amask;
	reg_write(c, R_RCX, s->cx, d->asz);
}

/* Elements one execution may process: one under single-stepping and under the monitor trap flag,
   whose exit comes after each iteration (SDM vol. 3C 26.5.2). */
static u64 str_budget(const struct cpu *c, unsigned size)
{
	return c->single_step || (c->ctl.proc & PROC_MONITOR_TRAP_FLAG) ? 1 : STRING_CHUNK / size;
}

/* After a chunk: if elements remain, run the instruction again from the block loop. */
static void str_resume_later(struct cpu *c)
{
	c->rip = c->insn_rip;
	c->break_block = 1;
}

/*
 * Elements (up to max) that fit between offset `off` and the end of its page without the offset
 * wrapping within the address size; 0 if the next element already straddles.
 */
static u64 elems_in_page(u64 lin, u64 off, u64 amask, unsigned size, u64 max)
{
	u64 room = PAGE_SIZE - (lin & (PAGE_SIZE - 1));
	u64 to_wrap = amask - off + 1; /* amask = ~0: wraps to 0, meaning no limit */
	u64 n = room / size;

	if (to_wrap && to_wrap / size < n)
		n = to_wrap / size;
	return n < max ? n : max;
}

/*
 * Bulk forward MOVS/STOS: the largest run that stays in one page on each side, through host
 * pointers. Returns the number of elements done (0: take the element-by-element path). A run in
 * one page faults (#PF) exactly when its first element would, so no element is lost to a fault;
 * segments with limits (c->seg_check) could stop a run in the middle, so they take the element
 * path.
 */
static u64 movs_bulk(struct cpu *c, const struct insn *d, struct str_regs *s, u64 max)
{
	unsigned size = d->osz;
	u64 slin = (c->seg_base[d->seg] + s->si) & c->lin_mask;
	u64 dlin = (c->seg_base[SEG_ES] + s->di) & c->lin_mask;
	u64 n = elems_in_page(slin, s->si, s->amask, size, max);
	u8 *src, *dst;
	u64 bytes;

	if (c->seg_check & (1u << d->seg | 1u << SEG_ES))
		return 0;
	n = elems_in_page(dlin, s->di, s->amask, size, n);
	if (!n)
		return 0;
	bytes = n * size;
	/* Flat segments: seg_lin only adds the base (the run does not wrap, see elems_in_page). */
	slin = seg_lin(c, d->seg, s->si, bytes, ACC_READ);
	dlin = seg_lin(c, SEG_ES, s->di, bytes, ACC_WRITE);
	src = mmu_ptr(c, slin, bytes, ACC_READ);
	if (!src)
		return 0;
	dst = mmu_ptr(c, dlin, bytes, ACC_WRITE);
	if (!dst)
		return 0;
	if (dst > src && dst < src + bytes) {
		/* Overlap with the destination ahead: element order makes the copy repeat the
		   leading elements, which one memmove would not. */
		for (u64 i = 0; i < bytes; i += size)
			memmove(dst + i, src + i, size);
	} else {
		memmove(dst, src, bytes);
	}
	return n;
}

static u64 stos_bulk(struct cpu *c, const struct insn *d, struct str_regs *s, u64 max)
{
	unsigned size = d->osz;
	u64 dlin = (c->seg_base[SEG_ES] + s->di) & c->lin_mask;
	u64 n = elems_in_page(dlin, s->di, s->amask, size, max);
	u64 v = c->gpr[R_RAX];
	u8 *dst;

	if (!n || (c->seg_check & 1u << SEG_ES))
		return 0;
	dlin = seg_lin(c, SEG_ES, s->di, n * size, ACC_WRITE);
	dst = mmu_ptr(c, dlin, n * size, ACC_WRITE);
	if (!dst)
		return 0;
	/* A fill of one repeated byte (zero: Linux's clear_page is REP STOSQ of 0) is a memset;
	   otherwise each element size has its own loop, whose constant-size copies compile to
	   single (vectorized) stores. A loop over memcpy of a variable size compiled to a REP MOVSQ
	   per element: 5% of a Linux boot. Little-endian host. */
	if (size == 1 || v == 0) {
		memset(dst, (u8)v, n * size);
	} else if (size == 2) {
		u16 x = (u16)v;

		for (u64 i = 0; i < n; i++)
			memcpy(dst + 2 * i, &x, 2);
	} else if (size == 4) {
		u32 x = (u32)v;

		for (u64 i = 0; i < n; i++)
			memcpy(dst + 4 * i, &x, 4);
	} else {
		for (u64 i = 0; i < n; i++)
			memcpy(dst + 8 * i, &v, 8);
	}
	return n;
}

/* MOVS/STOS share the REP driver: `bulk` may do many elements, `one` does exactly one. */
static void rep_store(struct cpu *c, const struct insn *d, bool movs)
{
	struct str_regs s;
	u64 budget = str_budget(c, d->osz);

	str_begin(c, d, &s);
	while (s.cx && budget) {
		u64 max = s.cx < budget ? s.cx : budget;
		u64 n = 0;

		if (s.step > 0)
			n = movs ? movs_bulk(c, d, &s, max) : stos_bulk(c, d, &s, max);
		if (!n) {
			u64 v = movs ? mem_read(c, d->seg, s.si, d->osz) : c->gpr[R_RAX];

			mem_write(c, SEG_ES, s.di, v, d->osz);
			n = 1;
		}
		str_advance(c, d, &s, movs, true, n);
		str_count(c, d, &s, n);
		budget -= n;
	}
	if (s.cx)
		str_resume_later(c);
}

void op_movs(struct cpu *c, const struct insn *d)
{
	struct str_regs s;
	u64 v;

	if (d->rep) {
		rep_store(c, d, true);
		return;
	}
	str_begin(c, d, &s);
	v = mem_read(c, d->seg, s.si, d->osz);
	mem_write(c, SEG_ES, s.di, v, d->osz);
	str_advance(c, d, &s, true, true, 1);
}

void op_stos(struct cpu *c, const struct insn *d)
{
	struct str_regs s;

	if (d->rep) {
		rep_store(c, d, false);
		return;
	}
	str_begin(c, d, &s);
	mem_write(c, SEG_ES, s.di, c->gpr[R_RAX], d->osz);
	str_advance(c, d, &s, false, true, 1);
}

/* LODS: REP LODS is legal and loads every element in turn; only the last one stays in rAX. */
void op_lods(struct cpu *c, const struct insn *d)
{
	struct str_regs s;
	u64 budget = str_budget(c, d->osz);

	str_begin(c, d, &s);
	if (!d->rep) {
		reg_write(c, R_RAX, mem_read(c, d->seg, s.si, d->osz), d->osz);
		str_advance(c, d, &s, true, false, 1);
		return;
	}
	while (s.cx && budget--) {
		reg_write(c, R_RAX, mem_read(c, d->seg, s.si, d->osz), d->osz);
		str_advance(c, d, &s, true, false, 1);
		str_count(c, d, &s, 1);
	}
	if (s.cx)
		str_resume_later(c);
}

/*
 * CMPS (compare [src] with ES:[rDI]) and SCAS (compare rAX with ES:[rDI]): flags as CMP of the
 * first operand with the second. With REPE/REPNE, the count is decremented for the element just
 * compared before ZF ends the loop (SDM "REP" pseudo-code).
 *
 * The flags of the last element compared become RFLAGS when the instruction ends, completed or
 * paused. A fault on a later element leaves RFLAGS as they were before the instruction: "When a
 * fault occurs during the execution of a CMPS or SCAS instruction that is prefixed with REPE or
 * REPNE, the EFLAGS value is restored to the state prior to the execution of the instruction"
 * (SDM vol. 2B REP/REPE/REPZ/REPNE/REPNZ), as the Intel host of tests/diff does; AMD keeps the
 * last element's.
 */
static void compare(struct cpu *c, const struct insn *d, bool cmps)
{
	unsigned size = d->osz;
	struct str_regs s;
	u64 budget = str_budget(c, size), a, b, res;
	bool paused = false;

	str_begin(c, d, &s);
	if (d->rep && !s.cx)
		return;
	for (;;) {
		a = cmps ? mem_read(c, d->seg, s.si, size) : reg_read(c, R_RAX, size);
		b = mem_read(c, SEG_ES, s.di, size);
		res = (a - b) & size_mask(size);
		str_advance(c, d, &s, cmps, true, 1);
		if (!d->rep)
			break;
		str_count(c, d, &s, 1);
		if (!s.cx || (d->rep == REP_E) != (res == 0))
			break;
		if (!--budget) {
			paused = true;
			break;
		}
	}
	c->lf_src1 = a;
	c->lf_src2 = b;
	c->lf_res = res;
	c->lf_op = LF(LF_SUB, size);
	if (paused)
		str_resume_later(c);
}

void op_cmps(struct cpu *c, const struct insn *d)
{
	compare(c, d, true);
}

void op_scas(struct cpu *c, const struct insn *d)
{
	compare(c, d, false);
}
