// SPDX-License-Identifier: MIT
/*
 * Descriptor-table instructions in VMX non-root operation: LGDT, LIDT, SGDT, SIDT, LLDT, LTR,
 * SLDT, STR, and the descriptor checks LAR, LSL, VERR, VERW. Handlers keep the order of checks of
 * cpu/internal.h ("System instructions").
 */
#include "cpu/internal.h"
#include "cpu/ops.h"

static void set_zf(struct cpu *c, bool z)
{
	u64 f = flags_get(c);

	flags_set(c, z ? f | X86_ZF : f & ~X86_ZF);
}

/* --- Descriptor tables (SDM vol. 2 LGDT/LIDT/SGDT/SIDT/LLDT/LTR/SLDT/STR) --- */

/*
 * Descriptor-table exiting (secondary control, SDM vol. 3C 26.1.3): exit 46 (GDTR/IDTR) or 47
 * (LDTR/TR) with the displacement as qualification and the instruction information of
 * SDM 27.2.5 Tables 27-10/27-11: scale 1:0, reg1 6:3, address size 9:7, register form 10,
 * operand size 11, segment 17:15, index 21:18 (+22 invalid), base 26:23 (+27 invalid),
 * instruction identity 29:28.
 */
static void desc_table_exit(struct cpu *c, const struct insn *d, u32 reason, unsigned ident)
{
	u32 info = ident << 28;

	if (!(cpu_proc2(c) & PROC2_DESC_TABLE_EXITING))
		return;
	info |= mem_insn_info(c, d);
	if (reason == EXIT_REASON_GDTR_IDTR && d->osz != 2)
		info |= BIT(11);
	c->exit->insn_info = info;
	cpu_vmexit(c, reason, d->mem ? (u64)(s64)d->disp : 0);
}

/* Limit (2 bytes) then base: 8 bytes in 64-bit mode, else 4 (24 bits with 16-bit operands). */
static void dtable_store(struct cpu *c, const struct insn *d, const struct x86_dtable *t)
{
	u64 ea;

	if (!d->mem)
		cpu_ud(c);
	ea = insn_ea(c, d);
	mem_probe_write(c, d->seg, ea, c->mode == MODE_LONG ? 10 : 6);
	mem_write(c, d->seg, ea, t->limit, 2);
	mem_write(c, d->seg, (ea + 2) & size_mask(d->asz),
		  c->mode == MODE_LONG ? t->base : (u32)t->base, c->mode == MODE_LONG ? 8 : 4);
}

static void dtable_load(struct cpu *c, const struct insn *d, struct x86_dtable *t)
{
	u64 ea, base;
	u16 limit;

	ea = insn_ea(c, d);
	limit = (u16)mem_read(c, d->seg, ea, 2);
	if (c->mode == MODE_LONG) {
		base = mem_read(c, d->seg, (ea + 2) & size_mask(d->asz), 8);
		if (!is_canonical(base))
			cpu_gp(c, 0);
	} else {
		base = mem_read(c, d->seg, (ea + 2) & size_mask(d->asz), 4);
		if (d->osz == 2)
			base &= 0xffffff;
	}
	t->base = base;
	t->limit = limit;
}

void op_sgdt(struct cpu *c, const struct insn *d)
{
	desc_table_exit(c, d, EXIT_REASON_GDTR_IDTR, 0);
	dtable_store(c, d, &c->gdt);
}

void op_sidt(struct cpu *c, const struct insn *d)
{
	desc_table_exit(c, d, EXIT_REASON_GDTR_IDTR, 1);
	dtable_store(c, d, &c->idt);
}

void op_lgdt(struct cpu *c, const struct insn *d)
{
	if (!d->mem)
		cpu_ud(c);
	need_cpl0(c);
	desc_table_exit(c, d, EXIT_REASON_GDTR_IDTR, 2);
	dtable_load(c, d, &c->gdt);
}

void op_lidt(struct cpu *c, const struct insn *d)
{
	if (!d->mem)
		cpu_ud(c);
	need_cpl0(c);
	desc_table_exit(c, d, EXIT_REASON_GDTR_IDTR, 3);
	dtable_load(c, d, &c->idt);
}

/* SLDT/STR: #UD in real mode; a register gets the selector zero-extended. */
static void store_sel(struct cpu *c, const struct insn *d, u16 sel)
{
	if (d->mem)
		mem_write(c, d->seg, insn_ea(c, d), sel, 2);
	else
		reg_write(c, d->rm, sel, d->osz == 2 ? 2 : 8);
}

void op_sldt(struct cpu *c, const struct insn *d)
{
	if (seg_real(c))
		cpu_ud(c);
	desc_table_exit(c, d, EXIT_REASON_LDTR_TR, 0);
	store_sel(c, d, c->seg[SEG_LDTR].sel);
}

void op_str(struct cpu *c, const struct insn *d)
{
	if (seg_real(c))
		cpu_ud(c);
	desc_table_exit(c, d, EXIT_REASON_LDTR_TR, 1);
	store_sel(c, d, c->seg[SEG_TR].sel);
}

/*
 * System descriptor for LLDT/LTR: in the GDT (TI = 1 #GP(sel)), of the wanted type (#GP(sel)),
 * present (#NP(sel)); 16 bytes with base 63:32 in IA-32e mode (canonical, #GP(sel)).
 */
static u64 sysdesc_load(struct cpu *c, u16 sel, bool ldt, struct x86_segment *s)
{
	u64 raw;
	unsigned type;

	if ((sel & 4) || !desc_fetch(c, sel, &raw))
		cpu_gp(c, sel & 0xfffc);
	desc_decode(raw, sel, s);
	type = AR_TYPE(s->ar);
	if ((s->ar & AR_S) ||
	    (ldt ? type != 2 : !(type == 9 || (type == 1 && !(c->efer & EFER_LMA)))))
		cpu_gp(c, sel & 0xfffc);
	if (!(s->ar & AR_P))
		cpu_fault(c, X86_NP, sel & 0xfffc);
	if (c->efer & EFER_LMA) {
		s->base |= desc_fetch_high(c, sel) << 32;
		if (!is_canonical(s->base))
			cpu_gp(c, sel & 0xfffc);
	}
	return raw;
}

void op_lldt(struct cpu *c, const struct insn *d)
{
	struct x86_segment s;
	u16 sel;

	if (seg_real(c))
		cpu_ud(c);
	need_cpl0(c);
	desc_table_exit(c, d, EXIT_REASON_LDTR_TR, 2);
	sel = rm16(c, d);
	if ((sel & 0xfffc) == 0) {
		s.sel = sel;
		s.base = 0;
		s.limit = 0;
		s.ar = AR_UNUSABLE;
	} else {
		sysdesc_load(c, sel, true, &s);
	}
	c->seg[SEG_LDTR] = s;
}

/* LTR: null #GP(0); an available TSS becomes busy in the GDT and in TR (SDM vol. 2 LTR). */
void op_ltr(struct cpu *c, const struct insn *d)
{
	struct x86_segment s;
	u64 raw;
	u16 sel;

	if (seg_real(c))
		cpu_ud(c);
	need_cpl0(c);
	desc_table_exit(c, d, EXIT_REASON_LDTR_TR, 3);
	sel = rm16(c, d);
	if ((sel & 0xfffc) == 0)
		cpu_gp(c, 0);
	raw = sysdesc_load(c, sel, false, &s);
	sys_write(c, c->gdt.base + (sel & ~7u) + 5, (u8)(raw >> 40) | 2, 1);
	s.ar |= 2;
	c->seg[SEG_TR] = s;
}

/*
 * Descriptor visibility for LAR/LSL/VERR/VERW (SDM vol. 2 LAR): null or beyond the table: not
 * visible; code/data other than conforming code, and system descriptors, need DPL >= CPL and
 * DPL >= RPL. System types allowed: LAR 1,2,3,4,5,9,B,C (IA-32e: 2,9,B,C); LSL 1,2,3,9,B
 * (IA-32e: 2,9,B).
 */
static bool desc_visible(struct cpu *c, u16 sel, bool lsl, u64 *raw, struct x86_segment *s)
{
	static const u16 lar_legacy = 0x1a3e, lar_lm = 0x1a04, lsl_legacy = 0x0a0e, lsl_lm = 0x0a04;
	unsigned type, dpl;

	if ((sel & 0xfffc) == 0 || !desc_fetch(c, sel, raw))
		return false;
	desc_decode(*raw, sel, s);
	type = AR_TYPE(s->ar);
	dpl = AR_DPL(s->ar);
	if (!(s->ar & AR_S)) {
		bool lm = c->efer & EFER_LMA;
		u16 ok = lsl ? (lm ? lsl_lm : lsl_legacy) : (lm ? lar_lm : lar_legacy);

		if (!(ok & (1u << type)))
			return false;
	} else if ((type & 0xc) == 0xc) {
		return true;
	}
	return dpl >= c->cpl && dpl >= (sel & 3u);
}

/* LAR loads the access rights (masked as the SDM says), LSL the byte-granular limit. */
static void lar_lsl(struct cpu *c, const struct insn *d, bool lsl)
{
	struct x86_segment s;
	u64 raw;
	u16 sel;

	if (seg_real(c))
		cpu_ud(c);
	sel = rm16(c, d);
	if (!desc_visible(c, sel, lsl, &raw, &s)) {
		set_zf(c, false);
		return;
	}
	reg_write(c, d->reg,
		  lsl ? s.limit : (raw >> 32) & (d->osz == 2 ? 0xff00 : 0x00f0ff00), d->osz);
	set_zf(c, true);
}

void op_lar(struct cpu *c, const struct insn *d)
{
	lar_lsl(c, d, false);
}

void op_lsl(struct cpu *c, const struct insn *d)
{
	lar_lsl(c, d, true);
}

/* VERR: readable code or data; VERW: writable data; with the LAR privilege rule. */
static void verify(struct cpu *c, const struct insn *d, bool write)
{
	struct x86_segment s;
	u64 raw;
	bool ok;

	if (seg_real(c))
		cpu_ud(c);
	ok = desc_visible(c, rm16(c, d), false, &raw, &s) && (s.ar & AR_S);
	if (ok && write)
		ok = (AR_TYPE(s.ar) & 0xa) == 2;
	else if (ok)
		ok = (AR_TYPE(s.ar) & 0xa) != 8;
	set_zf(c, ok);
}

void op_verr(struct cpu *c, const struct insn *d)
{
	verify(c, d, false);
}

void op_verw(struct cpu *c, const struct insn *d)
{
	verify(c, d, true);
}
