// SPDX-License-Identifier: MIT
/*
 * Interrupt and exception delivery (SDM vol. 3A chapter 6) in VMX non-root operation (SDM vol. 3C
 * 25.2, 26.6): the exception bitmap, double and triple faults, VM-entry event injection, the
 * interrupt window, and the INT n / INT3 / INTO / INT1 instructions.
 *
 * Delivery state machine. Every delivery runs with c->fault_depth != 0 and c->inject describing
 * the event being delivered (valid = 0: it is no longer pending). A fault raised while delivering
 * longjmps to the run loop, which calls events_deliver_fault() again: depth 1 means "a fault
 * during delivery of c->inject" (combined by SDM Table 6-5 into #DF or delivered serially),
 * depth 2 means "a fault while delivering #DF": triple fault, VM exit 2. Depth returns to 0 when a
 * delivery completes or leaves through a VM exit.
 */
#include <sched.h>

#include "cpu/internal.h"

/* Fault-class exceptions (SDM vol. 3A 6.5, Table 6-1): #DE #BR #UD #NM #TS #NP #SS #GP #PF #MF
   #AC #XM #VE #CP. */
#define FAULT_CLASS_VECTORS                                                                        \
	(BIT(X86_DE) | BIT(X86_BR) | BIT(X86_UD) | BIT(X86_NM) | BIT(X86_TS) | BIT(X86_NP) |       \
	 BIT(X86_SS) | BIT(X86_GP) | BIT(X86_PF_VEC) | BIT(X86_MF) | BIT(X86_AC_VEC) |            \
	 BIT(X86_XM) | BIT(X86_VE) | BIT(X86_CP))
#include "cpu/ops.h"

#define SEL_ERR(sel)	 ((u32)(sel) & 0xfffcu)
#define SEL_IS_NULL(sel) (((sel) & 0xfffcu) == 0)

/* Vectors that push an error code (SDM vol. 3A 6.3.1, Table 6-1). */
static bool vec_has_error(u8 v)
{
	return v == X86_DF_VEC || (v >= X86_TS && v <= X86_PF_VEC) || v == X86_AC_VEC ||
	       v == X86_CP;
}

/* SDM vol. 3A 6.15, Table 6-4: benign, contributory and page-fault classes. */
enum exc_class { EXC_BENIGN, EXC_CONTRIBUTORY, EXC_PAGE_FAULT };

static enum exc_class exc_class(u8 vector, u8 type)
{
	if (type != INTR_TYPE_HARD_EXCEPTION)
		return EXC_BENIGN;
	switch (vector) {
	case X86_DE:
	case X86_TS:
	case X86_NP:
	case X86_SS:
	case X86_GP:
		return EXC_CONTRIBUTORY;
	case X86_PF_VEC:
		return EXC_PAGE_FAULT;
	default:
		return EXC_BENIGN;
	}
}

/*
 * Exception bitmap (SDM vol. 3C 25.2): bit `vector` selects exiting; for #PF the bit is combined
 * with the error-code mask/match: with the bit set the exit occurs iff (PFEC & mask) == match,
 * with it clear iff they differ.
 */
static bool exception_exits(const struct cpu *c, u8 vector, u32 error)
{
	bool bit = c->ctl.exception_bitmap & (1u << vector);

	if (vector == X86_PF_VEC)
		return bit == ((error & c->ctl.pf_ec_mask) == c->ctl.pf_ec_match);
	return bit;
}

/* Exit reason 0 for an exception (SDM vol. 3C 27.2.2); #PF: the qualification is the linear
   address and CR2 is not loaded (SDM 27.1). */
static noreturn void exception_vmexit(struct cpu *c, u8 vector, u8 type, bool has_error, u32 error,
				      u64 qual)
{
	struct vm_exit *e = c->exit;

	e->intr_info |= vector | (u32)type << 8 | (has_error ? INTR_INFO_DELIVER_CODE : 0) |
			INTR_INFO_VALID;
	e->intr_error = has_error ? error : 0;
	c->fault_depth = 0;
	cpu_vmexit(c, EXIT_REASON_EXCEPTION_NMI, qual);
}

/*
 * Writes a delivery frame, first value at the highest address, and returns the new stack pointer.
 * `ss` non-NULL: legacy stack, each slot limit-checked (#SS(err)) and the pointer wrapped to
 * `sp_mask`. Runs at the CPL of the handler: the caller has switched the TLB already.
 */
static u64 frame_push(struct cpu *c, const struct x86_segment *ss, u64 sp, u64 sp_mask,
		      const u64 *v, unsigned n, unsigned sz, u32 err)
{
	u64 lin_mask = ss ? 0xffffffffull : ~0ull;

	for (unsigned i = 0; i < n; i++) {
		sp = (sp - sz) & sp_mask;
		if (ss && !seg_limit_ok(ss, sp, sz))
			cpu_fault(c, X86_SS, err);
		lin_write(c, ((ss ? ss->base : 0) + sp) & lin_mask, v[i], sz);
	}
	return sp;
}

/* Real-address mode: the IVT of 4-byte CS:IP vectors, a 16-bit frame (SDM vol. 3A 20.1.4). */
static void deliver_real(struct cpu *c, u8 vector, u64 ret_rip)
{
	struct x86_segment cs = c->seg[SEG_CS];
	u64 flags = flags_get(c), ent, sp, frame[3];

	if ((u32)vector * 4 + 3 > c->idt.limit)
		cpu_gp(c, 0);
	ent = sys_read(c, c->idt.base + (u32)vector * 4, 4);
	frame[0] = flags;
	frame[1] = cs.sel;
	frame[2] = ret_rip;
	sp = frame_push(c, &c->seg[SEG_SS], c->gpr[R_RSP], 0xffff, frame, 3, 2, 0);
	reg_write(c, R_RSP, sp, 2);
	cs.sel = (u16)(ent >> 16);
	cs.base = (u64)cs.sel << 4;
	c->seg[SEG_CS] = cs;
	c->rip = ent & 0xffff;
	flags_set(c, flags & ~(X86_IF | X86_TF | X86_AC | X86_RF));
	cpu_update_mode(c);
}

/* Records the event being delivered, which IDT-vectoring information reports if its delivery
   ends in a VM exit (SDM vol. 3C 27.2.4; cpu_vmexit). */
static void delivering(struct cpu *c, u8 vector, u8 type, bool has_error, u32 error)
{
	c->inject.valid = 0;
	c->inject.vector = vector;
	c->inject.type = type;
	c->inject.has_error = has_error;
	c->inject.error = error;
}

/*
 * Delivery through an interrupt or trap gate (SDM vol. 3A 6.12.1 protected mode, 6.14 IA-32e
 * mode). Checks in the SDM's order, then the frame is written on the handler's stack, then state
 * is committed, so a fault at any point leaves the interrupted context intact:
 *   - IDT limit #GP(vec*8+2+EXT); gate type (task gates are not supported: #GP, docs/cpu.md);
 *     software interrupts/exceptions with gate DPL < CPL #GP(vec*8+2); gate not present #NP.
 *   - Target CS: null #GP(EXT); code segment with DPL <= CPL, else #GP(sel+EXT); not present
 *     #NP(sel+EXT); IA-32e mode: a 64-bit code segment.
 *   - Inner privilege: stack from the TSS (SS:ESP of the new CPL; IA-32e: RSPn, SS = null with
 *     RPL = CPL); IA-32e IST (gate bits 34:32) always switches the stack; IA-32e aligns RSP to 16
 *     and always pushes SS:RSP.
 *   - Interrupt gates clear IF; all gates clear TF, NT, RF and VM.
 *   - From virtual-8086 mode (SDM vol. 3B 20.3.1.1, vol. 2A INT "INTERRUPT-FROM-VIRTUAL-8086-
 *     MODE"): the target must be a non-conforming code segment of DPL 0, else #GP(sel+EXT); the
 *     frame on the TSS's level-0 stack starts with GS, FS, DS and ES, which then become null.
 * EXT (error-code bit 0) is set for events external to the program (SDM 6.13).
 */
void events_deliver(struct cpu *c, u8 vector, u8 type, bool has_error, u32 error, u64 ret_rip)
{
	bool soft = type == INTR_TYPE_SOFT_INTR || type == INTR_TYPE_SOFT_EXCEPTION;
	u32 ext = soft ? 0 : 1, idt_err = (u32)vector * 8 + 2 + ext;
	bool lm = c->efer & EFER_LMA;
	unsigned gsz = lm ? 16 : 8, gtype, ist, n = 0, sz;
	struct x86_segment cs, ss = c->seg[SEG_SS];
	u64 lo, hi = 0, off, raw, cs_raw, rsp = c->gpr[R_RSP], sp, sp_mask, rflags, frame[10];
	u8 old_cpl = c->cpl, new_cpl;
	u16 sel;
	bool new_stack = false, v86 = cpu_v86(c);

	if (c->mode == MODE_REAL) {
		deliver_real(c, vector, ret_rip);
		return;
	}
	if ((u32)vector * gsz + gsz - 1 > c->idt.limit)
		cpu_gp(c, idt_err);
	lo = sys_read(c, c->idt.base + (u32)vector * gsz, 8);
	if (lm)
		hi = sys_read(c, c->idt.base + (u32)vector * gsz + 8, 8);
	gtype = (lo >> 40) & 0x1f; /* type and S */
	if (!(gtype == 0xe || gtype == 0xf || (!lm && (gtype == 0x6 || gtype == 0x7))))
		cpu_gp(c, idt_err);
	if (soft && ((lo >> 45) & 3) < c->cpl)
		cpu_gp(c, idt_err);
	if (!(lo & BIT(47)))
		cpu_fault(c, X86_NP, idt_err);
	sel = (u16)(lo >> 16);
	off = (lo & 0xffff) | ((lo >> 32) & 0xffff0000);
	if (lm)
		off |= hi << 32;
	ist = lm ? (lo >> 32) & 7 : 0;
	sz = lm ? 8 : (gtype & 8) ? 4 : 2;

	if (SEL_IS_NULL(sel))
		cpu_gp(c, ext);
	if (!desc_fetch(c, sel, &cs_raw))
		cpu_gp(c, SEL_ERR(sel) | ext);
	desc_decode(cs_raw, sel, &cs);
	if (!(cs.ar & AR_S) || !(AR_TYPE(cs.ar) & 8) || AR_DPL(cs.ar) > c->cpl)
		cpu_gp(c, SEL_ERR(sel) | ext);
	if (!(cs.ar & AR_P))
		cpu_fault(c, X86_NP, SEL_ERR(sel) | ext);
	if (lm && (!(cs.ar & AR_L) || (cs.ar & AR_DB)))
		cpu_gp(c, SEL_ERR(sel) | ext);
	if (v86 && ((AR_TYPE(cs.ar) & 4) || AR_DPL(cs.ar) != 0))
		cpu_gp(c, SEL_ERR(sel) | ext);
	new_cpl = (AR_TYPE(cs.ar) & 4) ? c->cpl : (u8)AR_DPL(cs.ar);
	if (lm ? !is_canonical(off) : off > cs.limit)
		cpu_gp(c, ext);

	rflags = flags_get(c);
	if (lm) {
		if (new_cpl < old_cpl || ist)
			rsp = tss_read(c, ist ? 0x24 + (ist - 1) * 8 : 4 + new_cpl * 8u, 8, ext);
		if (new_cpl < old_cpl) {
			ss.sel = new_cpl;
			ss.base = 0;
			ss.limit = 0;
			ss.ar = AR_UNUSABLE | (u32)new_cpl << 5;
			new_stack = true;
		}
		rsp &= ~0xfull;
		if (!is_canonical(rsp) || !is_canonical(rsp - 48))
			cpu_fault(c, X86_SS, ext);
		frame[n++] = c->seg[SEG_SS].sel;
		frame[n++] = c->gpr[R_RSP];
		sp_mask = ~0ull;
	} else {
		if (new_cpl < old_cpl) {
			const struct x86_segment *tr = &c->seg[SEG_TR];
			bool tss32 = AR_TYPE(tr->ar) & 8;
			u16 ss_sel;

			if (tss32) {
				rsp = tss_read(c, 4 + 8u * new_cpl, 4, ext);
				ss_sel = (u16)tss_read(c, 8 + 8u * new_cpl, 2, ext);
			} else {
				rsp = tss_read(c, 2 + 4u * new_cpl, 2, ext);
				ss_sel = (u16)tss_read(c, 4 + 4u * new_cpl, 2, ext);
			}
			if (SEL_IS_NULL(ss_sel))
				cpu_fault(c, X86_TS, ext);
			if (!desc_fetch(c, ss_sel, &raw))
				cpu_fault(c, X86_TS, SEL_ERR(ss_sel) | ext);
			desc_decode(raw, ss_sel, &ss);
			if ((ss_sel & 3) != new_cpl || AR_DPL(ss.ar) != new_cpl ||
			    !(ss.ar & AR_S) || (AR_TYPE(ss.ar) & 0xa) != 2)
				cpu_fault(c, X86_TS, SEL_ERR(ss_sel) | ext);
			if (!(ss.ar & AR_P))
				cpu_fault(c, X86_SS, SEL_ERR(ss_sel) | ext);
			desc_set_accessed(c, ss_sel, raw);
			ss.ar |= 1;
			new_stack = true;
			if (v86) {
				frame[n++] = c->seg[SEG_GS].sel;
				frame[n++] = c->seg[SEG_FS].sel;
				frame[n++] = c->seg[SEG_DS].sel;
				frame[n++] = c->seg[SEG_ES].sel;
			}
			frame[n++] = c->seg[SEG_SS].sel;
			frame[n++] = c->gpr[R_RSP];
		}
		sp_mask = (ss.ar & AR_DB) ? 0xffffffffull : 0xffffull;
	}
	frame[n++] = rflags;
	frame[n++] = c->seg[SEG_CS].sel;
	frame[n++] = ret_rip;
	if (has_error)
		frame[n++] = error;
	desc_set_accessed(c, sel, cs_raw);
	cpu_set_cpl(c, new_cpl);
	sp = frame_push(c, lm ? NULL : &ss, rsp & sp_mask, sp_mask, frame, n, sz,
			new_stack ? SEL_ERR(ss.sel) | ext : ext);

	/* Commit. */
	if (new_stack)
		c->seg[SEG_SS] = ss;
	if (v86) {
		static const u8 data_segs[] = { SEG_ES, SEG_DS, SEG_FS, SEG_GS };

		for (unsigned i = 0; i < ARRAY_SIZE(data_segs); i++)
			seg_make_null(&c->seg[data_segs[i]], 0, 0);
	}
	c->gpr[R_RSP] = sp_mask == 0xffff ? (rsp & ~0xffffull) | sp : sp;
	cs.sel = (u16)((sel & ~3u) | new_cpl);
	cs.ar |= 1;
	c->seg[SEG_CS] = cs;
	c->rip = off;
	rflags &= ~(X86_TF | X86_NT | X86_RF | X86_VM);
	if (!(gtype & 1))
		rflags &= ~X86_IF;
	flags_set(c, rflags);
	cpu_update_mode(c);
}

void events_deliver_fault(struct cpu *c)
{
	u8 vec = c->fault_vector;
	u32 err = c->fault_error;
	u32 idt_info = 0, idt_error = 0;
	u8 soft_len = 0;
	bool has_error, shadow;

	c->insn_rip = c->rip; /* the faulting instruction (cpu_fault restored RIP) */
	c->single_step = 0;   /* it did not complete: no single-step trap after it */
	/* An exception ends blocking by STI and MOV SS (SDM vol. 3C 25.4.2 Table 25-3), unless
	   it leaves through a VM exit: then the instruction is still to run under it. */
	shadow = c->intr_shadow;
	c->intr_shadow = 0;
	/* A fault may interrupt a delivery or far transfer after the TLB switched to the new CPL;
	   the committed CPL is SS.DPL (SDM vol. 3C 24.4.1). */
	cpu_set_cpl(c, c->mode == MODE_REAL ? 0 : (u8)AR_DPL(c->seg[SEG_SS].ar));
	if (c->fault_depth) {
		enum exc_class first = exc_class(c->inject.vector, c->inject.type);
		enum exc_class second = exc_class(vec, INTR_TYPE_HARD_EXCEPTION);

		/* SDM 27.2.4: an exit during delivery reports the original event. */
		idt_info = c->inject.vector | (u32)c->inject.type << 8 |
			   (c->inject.has_error ? INTR_INFO_DELIVER_CODE : 0) | INTR_INFO_VALID;
		idt_error = c->inject.has_error ? c->inject.error : 0;
		/* Exits during delivery of a software interrupt or exception report the length of
		   the instruction (SDM 28.2.4). */
		if (c->inject.type >= INTR_TYPE_SOFT_INTR)
			soft_len = c->inject.insn_len;
		/*
		 * The exception bitmap decides on the exception that occurred first: only one that
		 * does not exit becomes a double fault (SDM vol. 3A 6.15 Table 6-5), or, during the
		 * delivery of a double fault, a triple fault ("an exception ... that did not itself
		 * cause a VM exit due to the exception bitmap", SDM vol. 3C 28.2.3). A shadow-paging
		 * VMM relies on it: a #PF while delivering a #PF reaches it as a #PF exit.
		 */
		if (!exception_exits(c, vec, err)) {
			if (c->fault_depth == 2) {
				c->fault_depth = 0;
				cpu_vmexit(c, EXIT_REASON_TRIPLE_FAULT, 0);
			}
			if ((first == EXC_CONTRIBUTORY && second == EXC_CONTRIBUTORY) ||
			    (first == EXC_PAGE_FAULT && second != EXC_BENIGN)) {
				vec = X86_DF_VEC;
				err = 0;
				c->fault_depth = 2;
				/* A double fault that exits is no exit during delivery (28.2.3). */
				idt_info = idt_error = 0;
				soft_len = 0;
			}
		}
	} else {
		c->fault_depth = 1;
	}
	has_error = vec_has_error(vec);
	delivering(c, vec, INTR_TYPE_HARD_EXCEPTION, has_error, err);
	if (exception_exits(c, vec, err)) {
		c->intr_shadow = shadow;
		c->exit->idt_vectoring_info = idt_info;
		c->exit->idt_vectoring_error = idt_error;
		c->exit->insn_len = soft_len;
		/* A fault in an IRET that had removed (virtual-)NMI blocking (SDM 28.2.3). */
		if (c->iret_nmi_unblocked && vec != X86_DF_VEC && !idt_info)
			c->exit->intr_info = INTR_INFO_NMI_UNBLOCKED_BY_IRET;
		c->iret_nmi_unblocked = 0;
		exception_vmexit(c, vec, INTR_TYPE_HARD_EXCEPTION, has_error, err,
				 vec == X86_PF_VEC ? c->fault_cr2 : 0);
	}
	if (vec == X86_PF_VEC)
		c->cr2 = c->fault_cr2;
	/* The RFLAGS image pushed for a fault-class exception has RF = 1 (SDM vol. 3B 17.3.1.1);
	   delivery clears RF in RFLAGS itself. Our #DB are traps (TF, INT1); #DF is an abort. */
	if (BIT(vec) & FAULT_CLASS_VECTORS)
		c->rflags |= X86_RF;
	c->iret_nmi_unblocked = 0;
	events_deliver(c, vec, INTR_TYPE_HARD_EXCEPTION, has_error, err, c->rip);
	c->fault_depth = 0;
	if (c->ctl.proc & PROC_MONITOR_TRAP_FLAG)
		c->mtf_pending = 1; /* SDM 26.5.2: after a fault's delivery */
}

#define DR6_BS BIT(14)

/*
 * Single-step trap (SDM vol. 3A 18.3.1.4): after an instruction that began with RFLAGS.TF = 1
 * completes, #DB with DR6.BS, RIP of the next instruction. An exit for it reports BS in the
 * qualification and leaves DR6 alone (SDM vol. 3C 27.1, 27.2.1).
 */
static void single_step_trap(struct cpu *c)
{
	c->single_step = 0;
	delivering(c, X86_DB, INTR_TYPE_HARD_EXCEPTION, false, 0);
	c->fault_depth = 1;
	if (exception_exits(c, X86_DB, 0))
		exception_vmexit(c, X86_DB, INTR_TYPE_HARD_EXCEPTION, false, 0, DR6_BS);
	c->dr[6] |= DR6_BS;
	events_deliver(c, X86_DB, INTR_TYPE_HARD_EXCEPTION, false, 0, c->rip);
	c->fault_depth = 0;
}

/* The timer's value: 0 when expired (SDM 26.5.1). */
static u64 preempt_remaining(const struct cpu *c)
{
	u64 now = cpu_tsc_raw(c) >> VMX_MISC_PREEMPTION_SHIFT;

	return now >= c->preempt_deadline ? 0 : c->preempt_deadline - now;
}

/* How often the host-TSC mode polls the preemption timer, in instructions. */
#define TIMER_POLL_INSNS 4096

void events_rearm(struct cpu *c)
{
	u64 w = ~0ull;

	/* The host deadline's next poll is a fixed icount (deadline_icount, moved on by each
	   poll): an entry rearming here does not push it back, so a guest that exits every few
	   instructions still has its timer looked at every TIMER_POLL_INSNS. */
	if (c->ctl.pin & PIN_EXTINT_EXITING) {
		w = c->host_tick_icount;
		if (c->host_deadline != ~0ull && c->deadline_icount < w)
			w = c->deadline_icount;
	}
	if (c->preempt_armed) {
		u64 at;

		if (c->tsc_mode == CPU_TSC_VIRTUAL) {
			/* First icount with (icount * cpi + cycles) >> shift >= deadline. */
			u64 need = c->preempt_deadline << VMX_MISC_PREEMPTION_SHIFT;
			u64 cpi = c->tsc_cpi ? c->tsc_cpi : 1;

			at = need <= c->tsc_cycles ? 0 : (need - c->tsc_cycles + cpi - 1) / cpi;
		} else {
			at = c->icount + TIMER_POLL_INSNS;
		}
		if (at < w)
			w = at;
	}
	c->work_icount = w;
}

/*
 * Whether events_check has anything to do before the entry's first instruction: every state
 * it acts on that no sender flags in event_pending itself. An injection, a pending debug trap,
 * TF or RF to step, MTF, the preemption timer, NMI- or interrupt-window exiting, an NMI, an
 * external or virtual interrupt, APIC-write emulation, the HLT state, a kick, a host IPI or
 * another thread's request; the host tick and the host deadline's poll come at work_icount,
 * the interrupt shadow is the block loop's own test. Without any of them the check would
 * change nothing (and an exit-heavy guest would pay for it at every entry).
 */
static bool entry_has_events(const struct cpu *c)
{
	return c->inject.valid | c->single_step | c->preempt_armed | c->nmi_pending |
	       c->extint_pending | c->vintr | c->halted | (c->apic_write != 0) |
	       ((c->rflags & (X86_TF | X86_RF)) != 0) |
	       ((c->ctl.proc & (PROC_MONITOR_TRAP_FLAG | PROC_NMI_WINDOW_EXITING |
				PROC_INTR_WINDOW_EXITING)) != 0) |
	       __atomic_load_n(&c->kicked, __ATOMIC_RELAXED) |
	       __atomic_load_n(&c->host_irr_any, __ATOMIC_RELAXED) |
	       __atomic_load_n(&c->async_pending, __ATOMIC_ACQUIRE);
}

/*
 * VM entry (SDM 27.7, 26.5.1): the VMX-preemption timer starts from the value loaded at entry
 * (exit 52 before the first instruction if it is 0); the first PAUSE after entry starts a new
 * PAUSE loop (SDM 26.1.3); everything pending is checked before the first instruction.
 */
void events_vmentry(struct cpu *c)
{
	c->preempt_armed = !!(c->ctl.pin & PIN_PREEMPTION_TIMER);
	if (c->preempt_armed)
		c->preempt_deadline = (cpu_tsc_raw(c) >> VMX_MISC_PREEMPTION_SHIFT) +
				      c->vmx.preemption_timer;
	c->ple_valid = 0;
	c->mtf_pending = 0;
	c->rf_step = 0; /* an exit before the instruction completed: RF stays for it */
	c->iret_nmi_unblocked = 0;
	apicv_vmentry(c);
	events_rearm(c);
	if (entry_has_events(c))
		cpu_event_pending(c);
}

/* VM exit: with "save VMX-preemption timer value" the field gets what is left (SDM 28.3.4). */
void events_vmexit(struct cpu *c)
{
	if (c->preempt_armed && (c->ctl.exit_ctls & EXIT_CTL_SAVE_PREEMPTION_TIMER))
		c->vmx.preemption_timer = (u32)preempt_remaining(c);
	c->preempt_armed = 0;
	c->work_icount = ~0ull;
	/* A VM exit ends the recognition of a virtual interrupt, and the APIC-write emulation of
	   an operation that exited does not occur (SDM vol. 3C 30.4.3.2). */
	c->vintr = 0;
	c->apic_write = 0;
}

/*
 * The highest host interrupt pending (cpu_send_host_ipi), as the host's local APIC would
 * present it, taken off c->host_irr. The posted-interrupt notification vector, with "process
 * posted interrupts", is posted-interrupt processing and the next one is looked at; any other
 * becomes the external interrupt that exits.
 */
static void host_ipi_take(struct cpu *c, bool *pending)
{
	__atomic_store_n(&c->host_irr_any, 0, __ATOMIC_SEQ_CST);
	for (int i = 7; i >= 0; i--) {
		u32 w = __atomic_load_n(&c->host_irr[i], __ATOMIC_SEQ_CST);

		while (w) {
			unsigned bit = 31 - (unsigned)__builtin_clz(w);
			u8 vector = (u8)(i * 32 + bit);

			__atomic_fetch_and(&c->host_irr[i], ~(1u << bit), __ATOMIC_SEQ_CST);
			w &= ~(1u << bit);
			if ((c->ctl.pin & PIN_POSTED_INTERRUPTS) && c->ctl.pi_desc &&
			    vector == c->ctl.pi_nv) {
				apicv_posted(c);
				*pending = true; /* a virtual interrupt may now be recognized */
				continue;
			}
			/* Others stay for the next boundary. */
			__atomic_store_n(&c->host_irr_any, 1, __ATOMIC_SEQ_CST);
			cpu_raise_external_interrupt(c, vector);
			return;
		}
	}
}

/* Exits taken between instructions have no instruction length (SDM 28.2.5). */
static noreturn void event_exit(struct cpu *c, u32 reason)
{
	c->insn = NULL;
	c->insn_rip = c->rip;
	c->exit->insn_len = 0;
	cpu_vmexit(c, reason, 0);
}

/* Deliver an NMI or external interrupt through the guest IDT; wakes the HLT state. */
static void deliver_hw_event(struct cpu *c, u8 vector, u8 type)
{
	c->halted = 0;
	delivering(c, vector, type, false, 0);
	c->fault_depth = 1;
	events_deliver(c, vector, type, false, 0, c->rip);
	c->fault_depth = 0;
	if (c->ctl.proc & PROC_MONITOR_TRAP_FLAG)
		c->mtf_pending = 1; /* after delivery, before the handler's first instruction */
}

/*
 * Between instructions (the run loop calls this when c->event_pending, the HLT state, the
 * interrupt shadow, stepping or a timer asks for it), in the priority order of SDM vol. 3C 26.2
 * and 26.7 (and vol. 3A 6.9):
 *   - A VM-entry injection (cpu_inject_event) is delivered now, whatever RFLAGS.IF says: checking
 *     interruptibility is the VMM's job (SDM vol. 3C 26.6.1). Software interrupts and exceptions
 *     push RIP + insn_len. Delivery wakes a halted CPU and ends any interrupt shadow. An injected
 *     NMI sets blocking by NMI, or virtual-NMI blocking with "virtual NMIs" (SDM 27.6.1).
 *     An injected #PF does not load CR2: CR2 is guest state the VMM sets. A vectoring entry
 *     drops a pending single-step trap (SDM 27.7.3).
 *   - Monitor trap flag (SDM 26.5.2): exit 37 on the boundary after an instruction or a delivery.
 *   - A single-step trap (TF) due from the previous instruction; MTF exits come first.
 *   - VMX-preemption timer (SDM 26.5.1): exit 52 when it reaches 0, also in the HLT state.
 *   - NMI-window exiting (SDM 26.7.6): exit 8 when there is no (virtual-)NMI blocking and no
 *     blocking by MOV SS or STI.
 *   - An NMI (cpu_raise_nmi): exit 0 with "NMI exiting" (unless blocked by NMI without virtual
 *     NMIs), else delivery through the IDT when not blocked, setting blocking by NMI.
 *   - Interrupt-window exiting (SDM 26.7.5): exit 7 once RFLAGS.IF = 1 and nothing blocks.
 *   - An external interrupt: exit 1 with "external-interrupt exiting" whatever RFLAGS.IF says
 *     (SDM 26.2; with "acknowledge interrupt on exit" the vector is in the interruption
 *     information, SDM 28.2.2); else delivered when RFLAGS.IF = 1.
 *   - The host timer tick (CPU_HOST_TICK), also at once when halted with nothing to wake it.
 * The interrupt shadow of STI / MOV SS blocks the last five (SDM 25.4.2 Table 25-3).
 * Single stepping and MTF leave c->one_insn set so that the run loop runs one instruction.
 */
void events_check(struct cpu *c)
{
	bool pending = false, shadow = c->intr_shadow;
	u32 pin = c->ctl.pin;

	c->insn_rip = c->rip;
	/* Other threads' requests, before any further block runs (cpu.h). */
	if (__atomic_load_n(&c->async_pending, __ATOMIC_ACQUIRE))
		cpu_async_run(c);
	/* The instruction that began with RF = 1 completed: RF is cleared (SDM vol. 3B 19.3.1.1),
	   before a single-step trap or an MTF exit saves RFLAGS. IRET, which loads RF, cancels this. */
	if (c->rf_step) {
		c->rf_step = 0;
		c->rflags &= ~X86_RF;
	}
	/* APIC-write emulation comes first after the operation that wrote the APIC-access page
	   (SDM vol. 3C 30.4.3.2: above SMIs, INIT and lower events, whatever IF and shadows). */
	if (c->apic_write)
		apicv_write_emulate(c);
	if (c->inject.valid && c->inject.type == INTR_TYPE_OTHER_EVENT) {
		/* Type 7 vector 0 injects a pending MTF VM exit, whatever the control says
		   (SDM 27.5.2); it is not a vectoring entry. */
		c->inject.valid = 0;
		c->mtf_pending = !c->inject.vector;
	}
	if (c->inject.valid) {
		u8 type = c->inject.type;
		u64 ret = c->rip;

		if (type == INTR_TYPE_SOFT_INTR || type == INTR_TYPE_PRIV_SW_EXCEPTION ||
		    type == INTR_TYPE_SOFT_EXCEPTION)
			ret += c->inject.insn_len;
		/*
		 * SDM 27.7.3: after a vectoring entry no debug exception is pending, except with
		 * blocking by MOV SS and an injected software interrupt or software exception:
		 * then it is treated as after a MOV SS that trapped and the INT n / INT3 / INTO
		 * following it, and delivered once the injected event is (below). For software
		 * exceptions other than #BP and #OF the SDM lets it be lost or delivered; we
		 * deliver it.
		 */
		if (!(shadow && c->shadow_kind == GUEST_INTR_STATE_MOV_SS &&
		      (type == INTR_TYPE_SOFT_INTR || type == INTR_TYPE_SOFT_EXCEPTION)))
			c->single_step = 0;
		if (type == INTR_TYPE_NMI)
			c->nmi_blocked = 1;
		c->inject.valid = 0;
		c->halted = 0;
		c->intr_shadow = 0;
		shadow = false;
		c->fault_depth = 1;
		events_deliver(c, c->inject.vector, type, c->inject.has_error, c->inject.error,
			       ret);
		c->fault_depth = 0;
		if (c->ctl.proc & PROC_MONITOR_TRAP_FLAG)
			c->mtf_pending = 1;
	}
	/* MTF exits have priority over debug traps (SDM 26.5.2): a single-step #DB stays pending
	   and the exit saves it as pending debug exception BS (SDM 28.3.4). */
	if (c->mtf_pending) {
		c->mtf_pending = 0;
		event_exit(c, EXIT_REASON_MONITOR_TRAP_FLAG);
	}
	/* MOV SS blocks debug exceptions for one instruction; STI does not (SDM vol. 3A 6.8.3). */
	if (c->single_step && !(shadow && c->shadow_kind == GUEST_INTR_STATE_MOV_SS)) {
		single_step_trap(c);
		c->intr_shadow = 0;
		shadow = false;
	}
	if (c->preempt_armed) {
		if (!preempt_remaining(c))
			event_exit(c, EXIT_REASON_PREEMPTION_TIMER);
		events_rearm(c);
	}
	if (__atomic_load_n(&c->kicked, __ATOMIC_RELAXED) && (pin & PIN_EXTINT_EXITING)) {
		__atomic_store_n(&c->kicked, 0, __ATOMIC_RELAXED);
		cpu_raise_external_interrupt(c, CPU_HOST_KICK_VECTOR);
	}
	if (c->ctl.pin & PIN_EXTINT_EXITING && c->icount >= c->host_tick_icount) {
		c->host_tick_icount = c->icount + CPU_HOST_TICK;
		cpu_raise_external_interrupt(c, CPU_HOST_TIMER_VECTOR);
		events_rearm(c);
	}
	/* The VMM's timer (cpu_set_host_deadline): the host timer interrupt, once, and only after
	   TIMER_POLL_INSNS instructions of this entry, so that a timer the guest keeps due (a
	   period shorter than an exit) cannot stop it from running at all. */
	if ((c->ctl.pin & PIN_EXTINT_EXITING) && c->host_deadline != ~0ull &&
	    c->icount >= c->deadline_icount) {
		if (cpu_host_rdtsc() >= c->host_deadline) {
			c->host_deadline = ~0ull;
			c->host_tick_icount = c->icount + CPU_HOST_TICK;
			cpu_raise_external_interrupt(c, CPU_HOST_TIMER_VECTOR);
		} else {
			c->deadline_icount = c->icount + TIMER_POLL_INSNS;
		}
		events_rearm(c);
	}
	if (!shadow) {
		if (c->ctl.proc & PROC_NMI_WINDOW_EXITING) {
			if (!c->nmi_blocked) {
				c->halted = 0;
				event_exit(c, EXIT_REASON_NMI_WINDOW);
			}
			pending = true;
		}
		if (c->nmi_pending) {
			if ((pin & PIN_NMI_EXITING) &&
			    ((pin & PIN_VIRTUAL_NMIS) || !c->nmi_blocked)) {
				c->nmi_pending = 0;
				c->exit->intr_info = X86_NMI | INTR_TYPE_NMI << 8 | INTR_INFO_VALID;
				event_exit(c, EXIT_REASON_EXCEPTION_NMI);
			}
			if (!(pin & PIN_NMI_EXITING) && !c->nmi_blocked) {
				c->nmi_pending = 0;
				c->nmi_blocked = 1;
				deliver_hw_event(c, X86_NMI, INTR_TYPE_NMI);
			} else {
				pending = true;
			}
		}
		if (c->ctl.proc & PROC_INTR_WINDOW_EXITING) {
			if (c->rflags & X86_IF) {
				c->halted = 0;
				event_exit(c, EXIT_REASON_INTERRUPT_WINDOW);
			}
			pending = true;
		}
		/* Host interrupts from other threads (cpu_send_host_ipi), external interrupts
		   for this CPU: the notification vector is posted-interrupt processing (30.6),
		   whose virtual interrupt may be delivered at once. */
		if (__atomic_load_n(&c->host_irr_any, __ATOMIC_RELAXED) && (pin & PIN_EXTINT_EXITING))
			host_ipi_take(c, &pending);
		/* A recognized virtual interrupt, at the priority of interrupt-window exiting
		   (SDM vol. 3C 30.2.2): delivered when RFLAGS.IF = 1; it wakes the HLT state. */
		if (c->vintr && !(c->ctl.proc & PROC_INTR_WINDOW_EXITING)) {
			if (c->rflags & X86_IF) {
				u8 vector = c->rvi;

				apicv_deliver(c);
				deliver_hw_event(c, vector, INTR_TYPE_EXT_INTR);
			} else {
				pending = true;
			}
		}
		if (c->extint_pending) {
			if (pin & PIN_EXTINT_EXITING) {
				c->extint_pending = 0;
				if (c->ctl.exit_ctls & EXIT_CTL_ACK_INTR_ON_EXIT)
					c->exit->intr_info = c->extint_vector |
							     INTR_TYPE_EXT_INTR << 8 |
							     INTR_INFO_VALID;
				event_exit(c, EXIT_REASON_EXTERNAL_INTERRUPT);
			}
			if (c->rflags & X86_IF) {
				c->extint_pending = 0;
				deliver_hw_event(c, c->extint_vector, INTR_TYPE_EXT_INTR);
			} else {
				pending = true;
			}
		}
	} else {
		pending = true; /* look again after the shadowed instruction */
	}
	if (c->halted) {
		/*
		 * Nothing woke the HLT state. In the virtual TSC mode time passes while halted: a
		 * running preemption timer is what ends it. Otherwise the host timer tick does,
		 * which with external-interrupt exiting is exit 1; in the host TSC mode without
		 * it, the vCPU waits for the timer as HLT would.
		 */
		if (c->preempt_armed && c->tsc_mode == CPU_TSC_VIRTUAL) {
			u64 at = c->preempt_deadline << VMX_MISC_PREEMPTION_SHIFT;
			u64 raw = cpu_tsc_raw(c);

			if (at > raw)
				c->tsc_cycles += at - raw;
			event_exit(c, EXIT_REASON_PREEMPTION_TIMER);
		}
		if (c->preempt_armed && !(pin & PIN_EXTINT_EXITING)) {
			while (preempt_remaining(c))
				sched_yield();
			event_exit(c, EXIT_REASON_PREEMPTION_TIMER);
		}
		if (pin & PIN_EXTINT_EXITING) {
			c->host_tick_icount = c->icount + CPU_HOST_TICK;
			if (c->ctl.exit_ctls & EXIT_CTL_ACK_INTR_ON_EXIT)
				c->exit->intr_info = CPU_HOST_TIMER_VECTOR |
						     INTR_TYPE_EXT_INTR << 8 | INTR_INFO_VALID;
			event_exit(c, EXIT_REASON_EXTERNAL_INTERRUPT);
		}
	}
	/* TF: arm the trap for the next instruction and have the run loop execute exactly one,
	   then come back here. MTF likewise steps one instruction at a time. */
	if ((c->rflags & X86_TF) && !c->halted) {
		c->single_step = 1;
		c->one_insn = 1;
		pending = true;
	}
	if (c->ctl.proc & PROC_MONITOR_TRAP_FLAG) {
		c->one_insn = 1;
		pending = true;
	}
	/* RF (set by IRET or VM entry) lasts until the next instruction completes: step it. */
	if ((c->rflags & X86_RF) && !c->halted) {
		c->rf_step = 1;
		c->one_insn = 1;
		pending = true;
	}
	/* A kick or a host interrupt (cpu_send_host_ipi, another thread's) that came while this
	   ran, or another thread's request (cpu_invalidate_code_async), is looked at before the
	   next block: their flags are read after event_pending's store could have overwritten
	   the sender's. */
	__atomic_store_n(&c->event_pending,
			 pending || (__atomic_load_n(&c->kicked, __ATOMIC_RELAXED) &&
				     (pin & PIN_EXTINT_EXITING)),
			 __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_SEQ_CST); /* the store above before the loads */
	if (__atomic_load_n(&c->async_pending, __ATOMIC_RELAXED) ||
	    ((pin & PIN_EXTINT_EXITING) && (__atomic_load_n(&c->host_irr_any, __ATOMIC_SEQ_CST) ||
					     __atomic_load_n(&c->kicked, __ATOMIC_RELAXED))))
		cpu_event_pending(c); /* a kick between the read of kicked and the store, too */
}

void cpu_send_host_ipi(struct cpu *c, u8 vector)
{
	__atomic_fetch_or(&c->host_irr[vector / 32], 1u << (vector % 32), __ATOMIC_SEQ_CST);
	__atomic_store_n(&c->host_irr_any, 1, __ATOMIC_SEQ_CST);
	cpu_event_pending(c);
}

void cpu_set_host_deadline(struct cpu *c, u64 host_tsc)
{
	c->host_deadline = host_tsc;
	c->deadline_icount = c->icount + TIMER_POLL_INSNS;
	events_rearm(c);
}

void cpu_raise_external_interrupt(struct cpu *c, u8 vector)
{
	c->extint_pending = 1;
	c->extint_vector = vector;
	cpu_event_pending(c);
}

void cpu_kick(struct cpu *c)
{
	__atomic_store_n(&c->kicked, 1, __ATOMIC_RELAXED);
	cpu_event_pending(c);
}

void cpu_raise_nmi(struct cpu *c)
{
	c->nmi_pending = 1;
	cpu_event_pending(c);
}

/*
 * Software interrupts from instructions (SDM vol. 2 INT n/INTO/INT3/INT1): delivered with the RIP
 * of the next instruction. INT3 and INTO are software exceptions and INT1 a privileged software
 * exception: the exception bitmap applies to them (exit type 6 / 5 with the instruction length,
 * SDM vol. 3C 27.2.2); INT n never exits. A fault during delivery is handled by
 * events_deliver_fault() with this event as the first one.
 */
static void soft_event(struct cpu *c, u8 vector, u8 type)
{
	if (type != INTR_TYPE_SOFT_INTR && exception_exits(c, vector, 0))
		exception_vmexit(c, vector, type, false, 0, 0);
	delivering(c, vector, type, false, 0);
	c->inject.insn_len = c->insn ? c->insn->len : 0;
	c->fault_depth = 1;
	c->single_step = 0; /* the gate clears TF; no single-step trap after INT n */
	/* The instruction completes into the delivery: the image has RF = 0, as for any trap after
	   an instruction (SDM vol. 3B 19.3.1.1; a fault in the delivery pushes RF = 1 anyway). */
	c->rflags &= ~X86_RF;
	events_deliver(c, vector, type, false, 0, c->rip);
	c->fault_depth = 0;
	c->break_block = 1;
}

/* INT n is IOPL-sensitive in virtual-8086 mode: IOPL < 3 is #GP(0) (no VME; SDM vol. 2A INT,
   vol. 3B 20.3.3 method 1). INT3, INTO and INT1 are not. */
void op_int(struct cpu *c, const struct insn *d)
{
	if (cpu_v86(c) && iopl(c) < 3)
		cpu_gp(c, 0);
	soft_event(c, (u8)d->imm, INTR_TYPE_SOFT_INTR);
}

void op_int3(struct cpu *c, const struct insn *d)
{
	soft_event(c, X86_BP, INTR_TYPE_SOFT_EXCEPTION);
}

void op_into(struct cpu *c, const struct insn *d)
{
	if (flags_get(c) & X86_OF)
		soft_event(c, X86_OF_VEC, INTR_TYPE_SOFT_EXCEPTION);
}

void op_int1(struct cpu *c, const struct insn *d)
{
	soft_event(c, X86_DB, INTR_TYPE_PRIV_SW_EXCEPTION);
}
