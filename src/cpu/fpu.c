// SPDX-License-Identifier: MIT
/*
 * The x87 FPU (SDM vol. 1 chapter 8, vol. 2 "F..." instructions): the D8-DF instructions, WAIT,
 * FXSAVE and FXRSTOR. State and conventions: fpu.h.
 *
 * Every non-control instruction (arithmetic, loads, stores, compares, FXCH, FCMOVcc, FFREE, ...)
 * runs on the host's x87 (fpu_host.c) on a copy of the state; this file does what surrounds it:
 * #NM and pending-exception checks, the memory operand (read before, written after, nothing
 * committed until every access succeeded), the flags that say whether a store happens, and the
 * instruction and data pointers. The control instructions (SDM vol. 1 8.3.11: FNINIT FNCLEX
 * FLDCW FNSTCW FNSTSW FNSTENV FLDENV FNSAVE FRSTOR WAIT) and the image formats are here.
 */
#include "cpu/fpu.h"

/* --- State helpers --- */

static always_inline unsigned fpu_top(const struct x86_fpu *f)
{
	return (f->fsw & FSW_TOP) >> FSW_TOP_SHIFT;
}

/* Tag of a non-empty register from its contents (SDM vol. 1 8.1.7, Figure 8-7): 00 valid (a
   normal number), 01 zero, 10 special (NaN, infinity, denormal, and the unsupported encodings,
   pseudo-denormals included). */
static unsigned fpu_tag_of(const u8 *v)
{
	u64 mant;
	u16 se;

	memcpy(&mant, v, 8);
	memcpy(&se, v + 8, 2);
	if ((se & 0x7fff) == 0x7fff)
		return 2;
	if ((se & 0x7fff) == 0)
		return mant ? 2 : 1;
	return mant >> 63 ? 0 : 2;
}

static u16 fpu_full_tag(const struct x86_fpu *f)
{
	unsigned top = fpu_top(f);
	u16 tw = 0;

	for (unsigned j = 0; j < 8; j++) {
		unsigned t = f->ftw & (1u << j) ? fpu_tag_of(f->st[(j - top) & 7]) : 3;

		tw |= (u16)(t << (2 * j));
	}
	return tw;
}

/* FLDENV, FRSTOR and the host image: a register is empty or not; the processor recomputes the
   rest when it stores a full tag word (SDM vol. 1 8.1.7). */
static u8 fpu_abridged_tag(u16 tw)
{
	u8 a = 0;

	for (unsigned j = 0; j < 8; j++)
		if (((tw >> (2 * j)) & 3) != 3)
			a |= (u8)(1u << j);
	return a;
}

/* ES and B from the flags and masks: the summary of unmasked flags (SDM vol. 1 8.1.3). */
static u16 fpu_fsw_summary(u16 fsw, u16 fcw)
{
	fsw &= (u16) ~(FSW_ES | FSW_B);
	if (fsw & ~fcw & FSW_EXC)
		fsw |= FSW_ES | FSW_B; /* B mirrors ES (SDM vol. 1 8.1.3) */
	return fsw;
}

/* FLDCW, FLDENV, FRSTOR, FXRSTOR: the reserved bits as the hardware keeps them. */
static u16 fpu_fcw_load(u16 v)
{
	return (v & FCW_WRITABLE) | FCW_FIXED1;
}

/* FERR# follows FSW.ES once a waiting instruction has asserted it. */
static void fpu_ferr_update(struct cpu *c)
{
	if (c->fpu_ferr && !(c->fpu.fsw & FSW_ES)) {
		c->fpu_ferr = 0;
		if (c->ferr)
			c->ferr(c->opaque, false);
	}
}

void fpu_reset(struct cpu *c)
{
	/* Power-up (SDM vol. 3A Table 9-1): FCW 0040H, FSW 0, FTW 5555H (every register +0.0,
	   tagged zero, so none empty), pointers 0, MXCSR 1F80H. */
	memset(&c->fpu, 0, sizeof(c->fpu));
	c->fpu.fcw = 0x0040;
	c->fpu.ftw = 0xff;
	c->fpu.mxcsr = X86_FPU_MXCSR_INIT;
	c->fpu.mxcsr_mask = X86_MXCSR_MASK;
	c->fpu_cs = c->fpu_ds = 0;
}

/* The physical registers stay where they are when TOP changes: ST(i), which st[i] holds, is
   R_((TOP + i) & 7) (SDM vol. 1 8.1.2). */
void fpu_rotate_to(struct x86_fpu *f, unsigned top)
{
	unsigned old = fpu_top(f);
	u8 st[8][16];

	if (top == old)
		return;
	memcpy(st, f->st, sizeof(st));
	for (unsigned i = 0; i < 8; i++)
		memcpy(f->st[i], st[(top + i - old) & 7], 16);
	f->fsw = (u16)((f->fsw & ~FSW_TOP) | top << FSW_TOP_SHIFT);
}

/* FNINIT (SDM vol. 2A FINIT/FNINIT): the data registers keep their contents. */
static void fpu_init(struct cpu *c)
{
	struct x86_fpu *f = &c->fpu;

	fpu_rotate_to(f, 0);
	f->fcw = FCW_INIT;
	f->fsw = 0;
	f->ftw = 0;
	f->fop = 0;
	f->fip = f->fdp = 0;
	c->fpu_cs = c->fpu_ds = 0;
	fpu_ferr_update(c);
}

/* --- Checks at the start of an instruction --- */

/* CR0.EM or CR0.TS: #NM, before anything else an x87 instruction does (SDM vol. 3A 2.5,
   Table 2-2; 6.15 Interrupt 7). */
static always_inline void x87_check_nm(struct cpu *c)
{
	if (unlikely(c->cr0 & (CR0_EM | CR0_TS)))
		cpu_fault(c, X86_NM, 0);
}

/*
 * With CR0.NE = 0 a pending exception asserts FERR#, which a PC wires to IRQ 13 through the
 * PIC; without IGNNE# the processor freezes before the waiting instruction until an interrupt
 * comes (SDM vol. 1 Appendix D.2.1.1 and D.2.2: the handler clears the exception or asserts
 * IGNNE# with an OUT to port F0H, and returns to the instruction, which runs again). The freeze is
 * the HLT activity state with RIP on the instruction, which did not retire.
 */
bool fpu_wait(struct cpu *c)
{
	if (likely(!(c->fpu.fsw & FSW_ES)))
		return true;
	if (c->cr0 & CR0_NE)
		cpu_fault(c, X86_MF, 0);
	if (!c->fpu_ferr) {
		c->fpu_ferr = 1;
		if (c->ferr)
			c->ferr(c->opaque, true);
	}
	if (c->fpu_ignne)
		return true;
	c->rip = c->insn_rip;
	c->icount--;
	c->single_step = 0; /* no single-step trap: the instruction did not complete */
	c->halted = 1;
	c->break_block = 1;
	return false;
}

/*
 * Memory operands: offsets wrap at the address size; an operand of several pieces is checked
 * whole (segment limit) before the first piece. An image (environment, FNSAVE, FXSAVE areas) is
 * also checked for paging before anything moves, so that only the first piece can fault
 * afterwards (#AC, which checks alignment per piece). The processor touches "the first and last
 * bytes" before it changes anything (SDM vol. 3A 22.18.6.10); the hardware we measure checks
 * the first piece of the image (4 bytes, 2 in the 16-bit formats), then its last byte, and a #PF
 * reports that address in CR2; so do we.
 */

static u64 fpu_ea_add(const struct insn *d, u64 ea, unsigned i)
{
	return (ea + i) & size_mask(d->asz);
}

static void fpu_check_image(struct cpu *c, const struct insn *d, u64 ea, unsigned n, unsigned unit,
			    int acc)
{
	u64 last = fpu_ea_add(d, ea, n - 1);

	(void)seg_lin(c, d->seg, ea, n, acc);
	if (acc == ACC_WRITE) {
		mem_probe_write(c, d->seg, ea, unit);
		mem_probe_write(c, d->seg, last, 1);
		mem_probe_write(c, d->seg, ea, n);
	} else {
		(void)mem_read(c, d->seg, ea, unit);
		(void)mem_read(c, d->seg, last, 1);
	}
}

static void fpu_read(struct cpu *c, const struct insn *d, u64 ea, u8 *buf, unsigned n,
		     unsigned unit)
{
	if (n > unit)
		(void)seg_lin(c, d->seg, ea, n, ACC_READ);
	for (unsigned i = 0; i < n; i += unit) {
		unsigned k = n - i < unit ? n - i : unit;
		u64 v = mem_read(c, d->seg, fpu_ea_add(d, ea, i), k);

		memcpy(buf + i, &v, k);
	}
}

static void fpu_write(struct cpu *c, const struct insn *d, u64 ea, const u8 *buf, unsigned n,
		      unsigned unit)
{
	for (unsigned i = 0; i < n; i += unit) {
		unsigned k = n - i < unit ? n - i : unit;
		u64 v = 0;

		memcpy(&v, buf + i, k);
		mem_write(c, d->seg, fpu_ea_add(d, ea, i), v, k);
	}
}

/* --- Non-control instructions: on the host x87 --- */

/* FIP, FCS, FOP always; FDP and FDS when there is a memory operand (SDM vol. 1 8.1.8, 8.1.9:
   the instruction's offset, prefixes included; the data pointer is undefined after a register
   instruction, and stays as it was, which is what the hardware we measure does). */
static void x87_pointers(struct cpu *c, const struct insn *d, u64 ea)
{
	c->fpu.fop = d->imm2;
	c->fpu.fip = c->insn_rip;
	c->fpu_cs = c->seg[SEG_CS].sel;
	if (d->mem) {
		c->fpu.fdp = ea;
		c->fpu_ds = c->seg[d->seg].sel;
	}
}

/* FCMOVcc reads CF ZF PF; FCOMI, FCOMIP, FUCOMI, FUCOMIP write ZF PF CF and clear OF SF AF. */
static bool x87_reads_flags(u16 fop)
{
	u8 modrm = fop & 0xff, op = fop >> 8;

	return modrm >= 0xc0 && (((op == 2 || op == 3) && modrm < 0xe0) ||
				 ((op == 3 || op == 7) && modrm >= 0xe8 && modrm < 0xf8));
}

static bool x87_writes_flags(u16 fop)
{
	u8 modrm = fop & 0xff, op = fop >> 8;

	return (op == 3 || op == 7) && modrm >= 0xe8 && modrm < 0xf8;
}

/*
 * Runs the instruction on a copy of the state; `buf` is the memory operand (read already, or
 * `store` bytes to write at ea). A store is not made when the instruction raised an unmasked
 * #I, #D, #Z, #O or #U (SDM vol. 1 8.5.1 to 8.5.5: unmasked, TOP and the destination stay
 * unchanged when the destination is memory); the host then also kept the stack as it was.
 */
static void x87_run(struct cpu *c, const struct insn *d, u8 *buf, u64 ea, unsigned store)
{
	struct x86_fpu *f = &c->fpu;
	struct fpu_host h;
	u16 raised;

	h.fcw = f->fcw;
	h.fsw = f->fsw & (FSW_CC | FSW_TOP);
	h.ftw = fpu_full_tag(f);
	for (unsigned i = 0; i < 8; i++)
		memcpy(h.st[i], f->st[i], 10);
	h.rflags = x87_reads_flags(d->imm2) ? flags_get(c) : 0;
	fpu_host_exec(&h, 0xd8 | (d->imm2 >> 8), d->mem ? (u8)(d->sub << 3) : (u8)d->imm2, buf);
	raised = h.fsw & (FSW_EXC | FSW_SF);
	if (store) {
		mem_probe_write(c, d->seg, ea, store);
		if (!(raised & ~f->fcw & (FSW_IE | FSW_DE | FSW_ZE | FSW_OE | FSW_UE)))
			fpu_write(c, d, ea, buf, store, store == 10 ? 8 : store);
	}
	/* Committed from here on. */
	f->fsw = fpu_fsw_summary((h.fsw & (FSW_CC | FSW_TOP)) | ((f->fsw | raised) & 0x7f), f->fcw);
	f->ftw = fpu_abridged_tag(h.ftw);
	for (unsigned i = 0; i < 8; i++)
		memcpy(f->st[i], h.st[i], 10);
	if (x87_writes_flags(d->imm2))
		flags_set(c, (flags_get(c) & ~X86_ARITH_FLAGS) | (h.rflags & X86_ARITH_FLAGS));
	x87_pointers(c, d, ea);
}

void op_x87_reg(struct cpu *c, const struct insn *d)
{
	x87_check_nm(c);
	if (!fpu_wait(c))
		return;
	x87_run(c, d, NULL, 0, 0);
}

/* Memory forms: d->imm holds the operand's size in bytes (decode.c). An 80-bit operand is read
   as 8 + 2 bytes: its alignment for #AC is 8 (SDM vol. 3A Table 6-7). */
void op_x87_load(struct cpu *c, const struct insn *d)
{
	unsigned n = (unsigned)d->imm;
	u8 buf[10];
	u64 ea;

	x87_check_nm(c);
	if (!fpu_wait(c))
		return;
	ea = insn_ea(c, d);
	fpu_read(c, d, ea, buf, n, n == 10 ? 8 : n);
	x87_run(c, d, buf, ea, 0);
}

void op_x87_store(struct cpu *c, const struct insn *d)
{
	u8 buf[10];

	x87_check_nm(c);
	if (!fpu_wait(c))
		return;
	x87_run(c, d, buf, insn_ea(c, d), (unsigned)d->imm);
}

/* --- Control instructions --- */

void op_fnstsw_ax(struct cpu *c, const struct insn *d)
{
	x87_check_nm(c);
	reg_write(c, R_RAX, c->fpu.fsw, 2);
}

void op_fnstsw_m(struct cpu *c, const struct insn *d)
{
	x87_check_nm(c);
	mem_write(c, d->seg, insn_ea(c, d), c->fpu.fsw, 2);
}

void op_fnstcw(struct cpu *c, const struct insn *d)
{
	x87_check_nm(c);
	mem_write(c, d->seg, insn_ea(c, d), c->fpu.fcw, 2);
}

/* FLDCW waits (measured: it takes #MF for a pending exception); unmasking a set flag makes it
   pending (SDM vol. 2A FLDCW). */
void op_fldcw(struct cpu *c, const struct insn *d)
{
	u16 v;

	x87_check_nm(c);
	if (!fpu_wait(c))
		return;
	v = (u16)mem_read(c, d->seg, insn_ea(c, d), 2);
	c->fpu.fcw = fpu_fcw_load(v);
	c->fpu.fsw = fpu_fsw_summary(c->fpu.fsw, c->fpu.fcw);
	fpu_ferr_update(c);
}

/* FNCLEX clears the flags, ES and B; C0-C3 and TOP stay (SDM vol. 2A FCLEX/FNCLEX). */
void op_fnclex(struct cpu *c, const struct insn *d)
{
	x87_check_nm(c);
	c->fpu.fsw &= (u16)(FSW_CC | FSW_TOP);
	fpu_ferr_update(c);
}

void op_fninit(struct cpu *c, const struct insn *d)
{
	x87_check_nm(c);
	fpu_init(c);
}

/* FNENI, FNDISI, FNSETPM (DB E0, E1, E4): no operation since the Intel 387, no state touched,
   not even the instruction pointer (SDM vol. 1 8.3.13; measured). */
void op_fnop_ctl(struct cpu *c, const struct insn *d)
{
	x87_check_nm(c);
}

/* WAIT/FWAIT: #NM only when both CR0.MP and CR0.TS are set (SDM vol. 3A Table 2-2). */
void op_fwait(struct cpu *c, const struct insn *d)
{
	if ((c->cr0 & (CR0_MP | CR0_TS)) == (CR0_MP | CR0_TS))
		cpu_fault(c, X86_NM, 0);
	(void)fpu_wait(c);
}

/* --- FNSTENV / FLDENV / FNSAVE / FRSTOR images (SDM vol. 1 8.1.10, Figures 8-9 to 8-12) --- */

struct x87_env {
	u16 fcw, fsw, ftw, fop, fcs, fds;
	u32 fip, fdp;
};

/* The 16-bit formats when the operand size is 16 (66 prefix in 32/64-bit code); the real-mode
   formats in real-address and virtual-8086 mode. */
static unsigned env_size(const struct insn *d)
{
	return d->osz == 2 ? 14 : 28;
}

static bool env_real(const struct cpu *c)
{
	return c->mode == MODE_REAL || (c->rflags & X86_VM);
}

static void put16(u8 *p, unsigned off, u32 v)
{
	u16 x = (u16)v;

	memcpy(p + off, &x, 2);
}

static void put32(u8 *p, unsigned off, u32 v)
{
	memcpy(p + off, &v, 4);
}

static u16 get16(const u8 *p, unsigned off)
{
	u16 x;

	memcpy(&x, p + off, 2);
	return x;
}

static u32 get32(const u8 *p, unsigned off)
{
	u32 x;

	memcpy(&x, p + off, 4);
	return x;
}

/*
 * The environment as FNSTENV stores it. Reserved halves of the 32-bit formats read as FFFFH, as
 * the hardware writes them (measured). In real mode the pointers are 20-bit linear addresses
 * (selector * 16 + offset), with FOP beside the instruction pointer's top bits.
 */
static void env_store(const struct cpu *c, u8 *p, bool size16, bool real)
{
	const struct x86_fpu *f = &c->fpu;
	u16 tw = fpu_full_tag(f);
	u32 ip = (u32)f->fip, dp = (u32)f->fdp, fop = f->fop & 0x7ff;

	if (real) {
		ip = (u32)(c->fpu_cs << 4) + ip;
		dp = (u32)(c->fpu_ds << 4) + dp;
	}
	if (size16) {
		put16(p, 0, f->fcw);
		put16(p, 2, f->fsw);
		put16(p, 4, tw);
		put16(p, 6, ip);
		put16(p, 10, dp);
		if (real) {
			put16(p, 8, ((ip >> 16) & 0xf) << 12 | fop);
			put16(p, 12, ((dp >> 16) & 0xf) << 12);
		} else {
			put16(p, 8, c->fpu_cs);
			put16(p, 12, c->fpu_ds);
		}
		return;
	}
	put32(p, 0, 0xffff0000u | f->fcw);
	put32(p, 4, 0xffff0000u | f->fsw);
	put32(p, 8, 0xffff0000u | tw);
	if (real) {
		put32(p, 12, 0xffff0000u | (ip & 0xffff));
		put32(p, 16, (ip >> 16) << 12 | fop);
		put32(p, 20, 0xffff0000u | (dp & 0xffff));
		put32(p, 24, (dp >> 16) << 12);
	} else {
		put32(p, 12, ip);
		put32(p, 16, (u32)c->fpu_cs | fop << 16);
		put32(p, 20, dp);
		put32(p, 24, 0xffff0000u | c->fpu_ds);
	}
}

/* The inverse; the 16-bit protected-mode format has no FOP, which loads as 0 (measured). */
static void env_parse(struct x87_env *e, const u8 *p, bool size16, bool real)
{
	memset(e, 0, sizeof(*e));
	e->fcw = get16(p, 0);
	if (size16) {
		e->fsw = get16(p, 2);
		e->ftw = get16(p, 4);
		e->fip = get16(p, 6);
		e->fdp = get16(p, 10);
		if (real) {
			e->fip |= (u32)(get16(p, 8) >> 12) << 16;
			e->fop = get16(p, 8) & 0x7ff;
			e->fdp |= (u32)(get16(p, 12) >> 12) << 16;
		} else {
			e->fcs = get16(p, 8);
			e->fds = get16(p, 12);
		}
		return;
	}
	e->fsw = get16(p, 4);
	e->ftw = get16(p, 8);
	if (real) {
		e->fip = get16(p, 12) | (get32(p, 16) >> 12) << 16;
		e->fop = get32(p, 16) & 0x7ff;
		e->fdp = get16(p, 20) | (get32(p, 24) >> 12) << 16;
	} else {
		e->fip = get32(p, 12);
		e->fcs = get16(p, 16);
		e->fop = get16(p, 18) & 0x7ff;
		e->fdp = get32(p, 20);
		e->fds = get16(p, 24);
	}
}

/* Load a parsed environment. FLDENV keeps the physical registers (so ST(i) moves with a new
   TOP); FRSTOR then loads ST(0)..ST(7) relative to the new TOP. */
static void env_commit(struct cpu *c, const struct x87_env *e)
{
	struct x86_fpu *f = &c->fpu;

	fpu_rotate_to(f, (e->fsw & FSW_TOP) >> FSW_TOP_SHIFT);
	f->fcw = fpu_fcw_load(e->fcw);
	f->fsw = fpu_fsw_summary(e->fsw, f->fcw);
	f->ftw = fpu_abridged_tag(e->ftw);
	f->fop = e->fop;
	f->fip = e->fip;
	f->fdp = e->fdp;
	c->fpu_cs = e->fcs;
	c->fpu_ds = e->fds;
	fpu_ferr_update(c);
}

/*
 * FNSTENV: stores the environment, then masks every exception (SDM vol. 2A FSTENV/FNSTENV).
 * Alignment for #AC: 4 for the 32-bit formats, 2 for the 16-bit ones (SDM vol. 3A Table 6-7),
 * hence pieces of that size.
 */
void op_fnstenv(struct cpu *c, const struct insn *d)
{
	unsigned n = env_size(d);
	u64 ea;
	u8 img[28];

	x87_check_nm(c);
	ea = insn_ea(c, d);
	env_store(c, img, n == 14, env_real(c));
	fpu_check_image(c, d, ea, n, n == 14 ? 2 : 4, ACC_WRITE);
	fpu_write(c, d, ea, img, n, n == 14 ? 2 : 4);
	c->fpu.fcw |= FSW_EXC;
	c->fpu.fsw = fpu_fsw_summary(c->fpu.fsw, c->fpu.fcw);
	fpu_ferr_update(c);
}

void op_fldenv(struct cpu *c, const struct insn *d)
{
	unsigned n = env_size(d);
	struct x87_env e;
	u8 img[28];

	u64 ea;

	x87_check_nm(c);
	if (!fpu_wait(c))
		return;
	ea = insn_ea(c, d);
	fpu_check_image(c, d, ea, n, n == 14 ? 2 : 4, ACC_READ);
	fpu_read(c, d, ea, img, n, n == 14 ? 2 : 4);
	env_parse(&e, img, n == 14, env_real(c));
	env_commit(c, &e);
}

/* FNSAVE: the environment, ST(0)..ST(7), then FNINIT (SDM vol. 2A FSAVE/FNSAVE). */
void op_fnsave(struct cpu *c, const struct insn *d)
{
	unsigned n = env_size(d);
	u64 ea;
	u8 img[108];

	x87_check_nm(c);
	ea = insn_ea(c, d);
	env_store(c, img, n == 14, env_real(c));
	for (unsigned i = 0; i < 8; i++)
		memcpy(img + n + 10 * i, c->fpu.st[i], 10);
	fpu_check_image(c, d, ea, n + 80, n == 14 ? 2 : 4, ACC_WRITE);
	fpu_write(c, d, ea, img, n + 80, n == 14 ? 2 : 4);
	fpu_init(c);
}

void op_frstor(struct cpu *c, const struct insn *d)
{
	unsigned n = env_size(d);
	struct x87_env e;
	u8 img[108];

	u64 ea;

	x87_check_nm(c);
	if (!fpu_wait(c))
		return;
	ea = insn_ea(c, d);
	fpu_check_image(c, d, ea, n + 80, n == 14 ? 2 : 4, ACC_READ);
	fpu_read(c, d, ea, img, n + 80, n == 14 ? 2 : 4);
	env_parse(&e, img, n == 14, env_real(c));
	env_commit(c, &e);
	for (unsigned i = 0; i < 8; i++)
		memcpy(c->fpu.st[i], img + n + 10 * i, 10);
}

/* --- FXSAVE / FXRSTOR (SDM vol. 2A FXSAVE, FXRSTOR; Tables 10-2, 10-3) --- */

/*
 * The image's bytes 0-415 (64-bit mode) or 0-287 (other modes): FXSAVE writes them all, reserved
 * bytes as 0, and leaves the rest alone (measured). REX.W selects 64-bit FIP/FDP, else FIP[31:0]
 * and FCS, FDP[31:0] and FDS. MXCSR, MXCSR_MASK and the XMM registers only with CR4.OSFXSR:
 * without it the SDM leaves saving them to the implementation; this one leaves those bytes
 * unwritten and does not load them.
 */
static unsigned fx_size(const struct cpu *c)
{
	return c->mode == MODE_LONG ? 416 : 288;
}

/* #GP(0) for an operand not 16-byte aligned, whatever the segment (SDM vol. 2A FXSAVE). */
static u64 fx_ea(struct cpu *c, const struct insn *d)
{
	u64 ea = insn_ea(c, d);

	if ((c->seg_base[d->seg] + ea) & 15)
		cpu_gp(c, 0);
	return ea;
}

void fpu_x87_save(const struct cpu *c, u8 *img, bool rexw)
{
	const struct x86_fpu *f = &c->fpu;

	memset(img + 6, 0, 18);
	put16(img, 0, f->fcw);
	put16(img, 2, f->fsw);
	img[4] = f->ftw;
	img[5] = 0;
	put16(img, 6, f->fop);
	if (rexw) {
		memcpy(img + 8, &f->fip, 8);
		memcpy(img + 16, &f->fdp, 8);
	} else {
		put32(img, 8, (u32)f->fip);
		put16(img, 12, c->fpu_cs);
		put32(img, 16, (u32)f->fdp);
		put16(img, 20, c->fpu_ds);
	}
	for (unsigned i = 0; i < 8; i++) {
		memcpy(img + 32 + 16 * i, f->st[i], 10);
		memset(img + 42 + 16 * i, 0, 6);
	}
}

void fpu_x87_load(struct cpu *c, const u8 *img, bool rexw)
{
	struct x86_fpu *f = &c->fpu;

	f->fcw = fpu_fcw_load(get16(img, 0));
	f->fsw = fpu_fsw_summary(get16(img, 2), f->fcw);
	f->ftw = img[4];
	f->fop = get16(img, 6) & 0x7ff;
	if (rexw) {
		memcpy(&f->fip, img + 8, 8);
		memcpy(&f->fdp, img + 16, 8);
		c->fpu_cs = c->fpu_ds = 0;
	} else {
		f->fip = get32(img, 8);
		c->fpu_cs = get16(img, 12);
		f->fdp = get32(img, 16);
		c->fpu_ds = get16(img, 20);
	}
	for (unsigned i = 0; i < 8; i++)
		memcpy(f->st[i], img + 32 + 16 * i, 10);
	fpu_ferr_update(c);
}

void op_fxsave(struct cpu *c, const struct insn *d)
{
	const struct x86_fpu *f = &c->fpu;
	bool sse = c->cr4 & CR4_OSFXSR;
	unsigned n = fx_size(c);
	u8 img[416];
	u64 ea;

	x87_check_nm(c);
	ea = fx_ea(c, d);
	memset(img, 0, sizeof(img));
	fpu_x87_save(c, img, d->pfx & PFX_REXW);
	put32(img, 24, f->mxcsr);
	put32(img, 28, X86_MXCSR_MASK);
	memcpy(img + 160, f->xmm, n - 160);
	fpu_check_image(c, d, ea, 512, 8, ACC_WRITE);
	if (sse) {
		fpu_write(c, d, ea, img, n, 8);
	} else {
		fpu_write(c, d, ea, img, 24, 8);
		fpu_write(c, d, fpu_ea_add(d, ea, 32), img + 32, 128, 8);
	}
}

/* #GP(0) when MXCSR sets a bit MXCSR_MASK does not allow (SDM vol. 2A FXRSTOR). */
void op_fxrstor(struct cpu *c, const struct insn *d)
{
	bool sse = c->cr4 & CR4_OSFXSR;
	unsigned n = fx_size(c);
	u8 img[416];
	u32 mxcsr;
	u64 ea;

	x87_check_nm(c);
	ea = fx_ea(c, d);
	fpu_check_image(c, d, ea, 512, 8, ACC_READ);
	fpu_read(c, d, ea, img, n, 8);
	mxcsr = get32(img, 24);
	if (sse && (mxcsr & ~X86_MXCSR_MASK))
		cpu_gp(c, 0);
	fpu_x87_load(c, img, d->pfx & PFX_REXW);
	if (sse) {
		c->fpu.mxcsr = mxcsr;
		memcpy(c->fpu.xmm, img + 160, n - 160);
	}
}

/* --- The VMM's view (cpu.h) --- */

void cpu_get_fpu(struct cpu *c, struct x86_fpu *f)
{
	*f = c->fpu;
}

/* The state as FXRSTOR64 would leave it: reserved FCW bits, ES and B from the flags, no FCS or
   FDS. */
void cpu_set_fpu(struct cpu *c, const struct x86_fpu *f)
{
	c->fpu = *f;
	c->fpu_cs = c->fpu_ds = 0;
	c->fpu.fcw = fpu_fcw_load(f->fcw);
	c->fpu.fsw = fpu_fsw_summary(f->fsw, c->fpu.fcw);
	c->fpu.fop &= 0x7ff;
	for (unsigned i = 0; i < 8; i++)
		memset(c->fpu.st[i] + 10, 0, 6);
	fpu_ferr_update(c);
}

void cpu_set_ignne(struct cpu *c, bool asserted)
{
	c->fpu_ignne = asserted;
}
