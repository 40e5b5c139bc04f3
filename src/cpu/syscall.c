// SPDX-License-Identifier: MIT
/*
 * Fast system calls in VMX non-root operation: SYSCALL, SYSRET, SYSENTER, SYSEXIT. Handlers keep
 * the order of checks of cpu/internal.h ("System instructions").
 */
#include "cpu/internal.h"
#include "cpu/ops.h"

/* --- Fast system calls (SDM vol. 2 SYSCALL, SYSRET, SYSENTER, SYSEXIT) --- */

static void flat_seg(struct x86_segment *s, u16 sel, unsigned type, u8 dpl, u32 flags)
{
	s->sel = sel;
	s->base = 0;
	s->limit = 0xffffffff;
	s->ar = type | AR_S | (u32)dpl << 5 | AR_P | AR_G | flags;
}

static void load_flat(struct cpu *c, const struct x86_segment *cs, const struct x86_segment *ss,
		      u8 cpl)
{
	c->seg[SEG_CS] = *cs;
	c->seg[SEG_SS] = *ss;
	cpu_set_cpl(c, cpl);
	cpu_update_mode(c);
}

/* SYSCALL: 64-bit mode with EFER.SCE, else #UD. RCX = next RIP, R11 = RFLAGS (RF clear);
   CS = STAR[47:32], SS = +8, flat, CPL 0; RFLAGS &= ~FMASK; RIP = LSTAR. */
void op_syscall(struct cpu *c, const struct insn *d)
{
	struct x86_segment cs, ss;
	u16 sel = (u16)(c->star >> 32) & 0xfffc;
	u64 f;

	if (c->mode != MODE_LONG || !(c->efer & EFER_SCE))
		cpu_ud(c);
	f = flags_get(c);
	c->gpr[R_RCX] = c->rip;
	c->gpr[R_R11] = f & ~X86_RF;
	flat_seg(&cs, sel, 0xb, 0, AR_L);
	flat_seg(&ss, sel + 8, 0x3, 0, AR_DB);
	flags_set(c, f & ~c->fmask & ~X86_RF);
	c->rip = c->lstar;
	load_flat(c, &cs, &ss, 0);
}

/* SYSRET: #UD outside 64-bit mode or without SCE; CPL 0 (#GP(0)); REX.W returns to 64-bit code
   at STAR[63:48]+16 (non-canonical RCX: #GP(0) before any change, as Intel does), otherwise to
   compatibility mode at STAR[63:48]; SS = STAR[63:48]+8; RFLAGS from R11. */
void op_sysret(struct cpu *c, const struct insn *d)
{
	struct x86_segment cs, ss;
	u16 base = (u16)(c->star >> 48);

	if (c->mode != MODE_LONG || !(c->efer & EFER_SCE))
		cpu_ud(c);
	need_cpl0(c);
	if (d->osz == 8) {
		if (!is_canonical(c->gpr[R_RCX]))
			cpu_gp(c, 0);
		flat_seg(&cs, (u16)(base + 16) | 3, 0xb, 3, AR_L);
		c->rip = c->gpr[R_RCX];
	} else {
		flat_seg(&cs, base | 3, 0xb, 3, AR_DB);
		c->rip = (u32)c->gpr[R_RCX];
	}
	flat_seg(&ss, (u16)(base + 8) | 3, 0x3, 3, AR_DB);
	flags_set(c, (c->gpr[R_R11] & 0x3c7fd7) | X86_FIXED1);
	load_flat(c, &cs, &ss, 3);
	if (c->rflags & X86_TF)
		cpu_event_pending(c);
}

/* SYSENTER: #GP(0) in real mode or with a null SYSENTER_CS; CS = SYSENTER_CS (64-bit code if
   IA-32e mode), SS = +8, CPL 0; VM, IF, RF cleared. */
void op_sysenter(struct cpu *c, const struct insn *d)
{
	struct x86_segment cs, ss;
	u16 sel = (u16)c->sysenter_cs & 0xfffc;
	bool lm = c->efer & EFER_LMA;

	if (c->mode == MODE_REAL || !sel)
		cpu_gp(c, 0);
	flat_seg(&cs, sel, 0xb, 0, lm ? AR_L : AR_DB);
	flat_seg(&ss, sel + 8, 0x3, 0, AR_DB);
	flags_set(c, flags_get(c) & ~(X86_VM | X86_IF | X86_RF));
	c->gpr[R_RSP] = lm ? c->sysenter_esp : (u32)c->sysenter_esp;
	c->rip = lm ? c->sysenter_eip : (u32)c->sysenter_eip;
	load_flat(c, &cs, &ss, 0);
}

/* SYSEXIT: CPL 0, non-null SYSENTER_CS (#GP(0)); REX.W: 64-bit code at +32, SS +40, RIP = RDX,
   RSP = RCX (canonical, #GP(0)); else 32-bit code at +16, SS +24, EIP = EDX, ESP = ECX. */
void op_sysexit(struct cpu *c, const struct insn *d)
{
	struct x86_segment cs, ss;
	u16 sel = (u16)c->sysenter_cs & 0xfffc;

	if (c->mode == MODE_REAL || !sel)
		cpu_gp(c, 0);
	need_cpl0(c);
	if (d->osz == 8) {
		if (!is_canonical(c->gpr[R_RDX]) || !is_canonical(c->gpr[R_RCX]))
			cpu_gp(c, 0);
		flat_seg(&cs, (u16)(sel + 32) | 3, 0xb, 3, AR_L);
		flat_seg(&ss, (u16)(sel + 40) | 3, 0x3, 3, AR_DB);
		c->rip = c->gpr[R_RDX];
		c->gpr[R_RSP] = c->gpr[R_RCX];
	} else {
		flat_seg(&cs, (u16)(sel + 16) | 3, 0xb, 3, AR_DB);
		flat_seg(&ss, (u16)(sel + 24) | 3, 0x3, 3, AR_DB);
		c->rip = (u32)c->gpr[R_RDX];
		c->gpr[R_RSP] = (u32)c->gpr[R_RCX];
	}
	load_flat(c, &cs, &ss, 3);
}
