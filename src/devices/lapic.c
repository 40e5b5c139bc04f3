// SPDX-License-Identifier: MIT
/* Local APIC (Intel SDM vol. 3A chapter 11); see devices/lapic.h for the contract. */
#include <errno.h>
#include <string.h>

#include "devices/lapic.h"

#define NS_PER_SEC 1000000000ull

static const u16 lvt_reg[LAPIC_NR_LVT] = {
	[LAPIC_LVT_CMCI] = APIC_LVT_CMCI, [LAPIC_LVT_TIMER] = APIC_LVTT,
	[LAPIC_LVT_THERMAL] = APIC_LVTTHMR, [LAPIC_LVT_PMC] = APIC_LVTPC,
	[LAPIC_LVT_LINT0] = APIC_LVT0,	    [LAPIC_LVT_LINT1] = APIC_LVT1,
	[LAPIC_LVT_ERROR] = APIC_LVTERR,
};

/* The bits software may set in each LVT entry (SDM 11.5.1, Figure 11-8): every entry has a vector
   and a mask; CMCI, thermal, PMC and LINT a delivery mode; LINT polarity and trigger mode; the
   timer its mode (TSC-deadline included: this LAPIC supports it, CPUID.01H:ECX[24]). The delivery
   status (and LINT remote IRR) bits are read-only; all other bits are reserved. */
#define LVT_DM_BITS (APIC_LVT_VECTOR | APIC_LVT_DM | APIC_LVT_MASKED)
static const u32 lvt_writable[LAPIC_NR_LVT] = {
	[LAPIC_LVT_CMCI] = LVT_DM_BITS,
	[LAPIC_LVT_TIMER] = APIC_LVT_VECTOR | APIC_LVT_MASKED | APIC_LVT_TIMER_MODE,
	[LAPIC_LVT_THERMAL] = LVT_DM_BITS,
	[LAPIC_LVT_PMC] = LVT_DM_BITS,
	[LAPIC_LVT_LINT0] = LVT_DM_BITS | APIC_LVT_POLARITY | APIC_LVT_LEVEL,
	[LAPIC_LVT_LINT1] = LVT_DM_BITS | APIC_LVT_POLARITY | APIC_LVT_LEVEL,
	[LAPIC_LVT_ERROR] = APIC_LVT_VECTOR | APIC_LVT_MASKED,
};

/* ICR low bits software sets (SDM 11.6.1): vector, delivery mode, destination mode, level,
   trigger mode, shorthand; delivery status (12) is read-only, 13, 16-17 and 20-31 reserved. */
#define ICR_LOW_WRITABLE 0x000cdfffu

/*
 * A register word. Under APIC virtualization the page is the vCPU's virtual-APIC page, which its
 * CPU writes as the guest runs (VIRR, VISR and VPPR at virtual-interrupt delivery and EOI
 * virtualization, SDM vol. 3C 30.2-30.3), while with a host thread per vCPU the VMM accepts
 * interrupts into it from other threads (a timer on the I/O thread, another vCPU's IPI, holding
 * the BQL, which the running CPU does not): words are read and written whole, as relaxed
 * atomics (the same aligned moves on x86, and no data race in C).
 */
static u32 *reg_word(const struct lapic *l, unsigned off)
{
	return (u32 *)(uintptr_t)(l->regs + off);
}

static u32 reg_get(const struct lapic *l, unsigned off)
{
	return __atomic_load_n(reg_word(l, off), __ATOMIC_RELAXED);
}

static void reg_set(struct lapic *l, unsigned off, u32 v)
{
	__atomic_store_n(reg_word(l, off), v, __ATOMIC_RELAXED);
	l->applied[off >> 4] = v;
}

/* IRR, ISR and TMR: 256 bits as eight 32-bit registers 16 bytes apart (SDM 11.8.4, Figure 11-20). */
static bool vec_test(const struct lapic *l, unsigned base, u8 v)
{
	return reg_get(l, base + (v / 32) * 16) & (1u << (v % 32));
}

/*
 * One bit, as a locked read-modify-write of its word: the running CPU sets and clears bits of
 * the same words (cpu/apicv.c vbit_set, vbit_clear: an IRR bit taken at virtual-interrupt
 * delivery), and a read-then-store here could write back a bit it has since cleared or drop one
 * it has since set: a lost or repeated interrupt (the timer's 0xec and Linux's IPIs share IRR
 * word 7).
 */
static void vec_assign(struct lapic *l, unsigned base, u8 v, bool set)
{
	unsigned off = base + (v / 32) * 16;
	u32 bit = 1u << (v % 32);

	l->applied[off >> 4] = set ? __atomic_or_fetch(reg_word(l, off), bit, __ATOMIC_SEQ_CST)
				   : __atomic_and_fetch(reg_word(l, off), ~bit, __ATOMIC_SEQ_CST);
}

/* Whether any of the 256 bits at base is set: the eight words ORed without a branch. The run
   loop asks before every VM entry (board_lapic_sync), and the answer is almost always no. */
static always_inline bool vec_any(const struct lapic *l, unsigned base)
{
	return reg_get(l, base) | reg_get(l, base + 0x10) | reg_get(l, base + 0x20) |
	       reg_get(l, base + 0x30) | reg_get(l, base + 0x40) | reg_get(l, base + 0x50) |
	       reg_get(l, base + 0x60) | reg_get(l, base + 0x70);
}

static always_inline int vec_highest(const struct lapic *l, unsigned base)
{
	if (!vec_any(l, base))
		return -1;
	for (int i = 7;; i--) {
		u32 w = reg_get(l, base + (unsigned)i * 16);

		if (w)
			return i * 32 + 31 - __builtin_clz(w);
	}
}

bool lapic_hw_enabled(const struct lapic *l)
{
	return l->apic_base & APICBASE_EN;
}

bool lapic_x2apic_mode(const struct lapic *l)
{
	return (l->apic_base & (APICBASE_EN | APICBASE_EXTD)) == (APICBASE_EN | APICBASE_EXTD);
}

static bool xapic_mode(const struct lapic *l)
{
	return (l->apic_base & (APICBASE_EN | APICBASE_EXTD)) == APICBASE_EN;
}

bool lapic_sw_enabled(const struct lapic *l)
{
	return reg_get(l, APIC_SVR) & APIC_SVR_ENABLE;
}

static void kick(struct lapic *l)
{
	if (l->host.kick)
		l->host.kick(l->host.opaque);
}

static u64 guest_tsc(struct lapic *l)
{
	return l->host.guest_tsc ? l->host.guest_tsc(l->host.opaque) : 0;
}

/* The x2APIC logical ID (SDM 11.12.10.2): cluster ID[19:4] in bits 31:16, bit ID[3:0] set in the
   low 16 bits. */
static u32 x2apic_ldr(u32 id)
{
	return ((id >> 4) << 16) | (1u << (id & 0xf));
}

/* PPR (SDM 11.8.3.1): the TPR if its class is at least the highest in-service vector's, else
   that vector's class. Kept in the page as the virtual-APIC page holds it. */
static void update_ppr(struct lapic *l)
{
	u32 tpr = reg_get(l, APIC_TPR);
	int isrv = vec_highest(l, APIC_ISR);
	u32 isr_class = isrv < 0 ? 0 : (u32)isrv & 0xf0;

	reg_set(l, APIC_PPR, (tpr & 0xf0) >= isr_class ? tpr : isr_class);
}

u8 lapic_apr(const struct lapic *l)
{
	u32 tpr = reg_get(l, APIC_TPR) & 0xff;
	int irrv = vec_highest(l, APIC_IRR), isrv = vec_highest(l, APIC_ISR);
	u32 irr_c = irrv < 0 ? 0 : (u32)irrv >> 4, isr_c = isrv < 0 ? 0 : (u32)isrv >> 4;
	u32 tpr_c = tpr >> 4, c;

	/* SDM 11.6.2.4 (arbitration priority, the APR): IF TPR[7:4] >= IRRV[7:4] AND
	   TPR[7:4] > ISRV[7:4] THEN APR = TPR ELSE APR[7:4] = max(TPR[7:4] AND ISRV[7:4],
	   IRRV[7:4]), APR[3:0] = 0. */
	if (tpr_c >= irr_c && tpr_c > isr_c)
		return (u8)tpr;
	c = tpr_c & isr_c;
	return (u8)((c > irr_c ? c : irr_c) << 4);
}

bool lapic_is_focus(const struct lapic *l, u8 vector)
{
	/* SDM 11.6.2.4: the focus processor is one servicing or holding pending the vector;
	   SVR bit 9 set disables focus checking (SDM 11.9). */
	if (reg_get(l, APIC_SVR) & APIC_SVR_FOCUS_DISABLE)
		return false;
	return vec_test(l, APIC_IRR, vector) || vec_test(l, APIC_ISR, vector);
}

/* --- errors (SDM 11.5.3) --- */

static void lvt_deliver(struct lapic *l, enum lapic_lvt lvt, bool level);

/* Record an error. The LVT error interrupt is raised for the first error after the ESR was last
   written: the write "rearms the APIC error interrupt triggering mechanism" (SDM 11.5.3), so a
   burst of errors gives one interrupt, and an error in delivering the error interrupt itself (an
   illegal vector in the LVT error entry) cannot recurse. */
static void lapic_error(struct lapic *l, u32 bit)
{
	l->esr_pending |= bit;
	if (!l->error_armed || (reg_get(l, APIC_LVTERR) & APIC_LVT_MASKED))
		return;
	l->error_armed = false;
	lvt_deliver(l, LAPIC_LVT_ERROR, false);
}

/* A fixed interrupt generated in this LAPIC or accepted from the bus (SDM 11.8.4): vectors 0-15
   are illegal (SDM 11.5.3, "Received Illegal Vector": never set in the IRR); otherwise the IRR bit
   is set (a second one before the first is taken merges with it) and the TMR bit records the
   trigger mode. */
static bool accept_fixed(struct lapic *l, u8 vector, bool level)
{
	if (vector < 16) {
		lapic_error(l, APIC_ESR_RECV_ILLEGAL);
		return false;
	}
	vec_assign(l, APIC_IRR, vector, true);
	vec_assign(l, APIC_TMR, vector, level);
	kick(l);
	return true;
}

static void raise_event(struct lapic *l, u32 ev)
{
	l->events |= ev;
	kick(l);
}

/* --- the local vector table (SDM 11.5.1) --- */

static bool lvt_has_dm(enum lapic_lvt lvt)
{
	return lvt != LAPIC_LVT_TIMER && lvt != LAPIC_LVT_ERROR;
}

static bool lvt_is_lint(enum lapic_lvt lvt)
{
	return lvt == LAPIC_LVT_LINT0 || lvt == LAPIC_LVT_LINT1;
}

/* Signal the interrupt an LVT entry describes (`level`: a level-triggered LINT0 fixed interrupt).
   Delivery modes per SDM 11.5.1: fixed, SMI, NMI everywhere a mode exists; INIT and ExtINT only on
   LINT0/LINT1 (ExtINT is sampled as a level, lapic_pending_events()); reserved modes signal
   nothing. */
static void lvt_deliver(struct lapic *l, enum lapic_lvt lvt, bool level)
{
	u32 e = reg_get(l, lvt_reg[lvt]);
	unsigned dm = lvt_has_dm(lvt) ? (e & APIC_LVT_DM) >> APIC_LVT_DM_SHIFT : APIC_DM_FIXED;

	if (e & APIC_LVT_MASKED)
		return;
	switch (dm) {
	case APIC_DM_FIXED:
		accept_fixed(l, e & APIC_LVT_VECTOR, level);
		break;
	case APIC_DM_SMI:
		raise_event(l, LAPIC_EV_SMI);
		break;
	case APIC_DM_NMI:
		raise_event(l, LAPIC_EV_NMI);
		break;
	case APIC_DM_INIT:
		if (lvt_is_lint(lvt))
			raise_event(l, LAPIC_EV_INIT);
		break;
	default:
		break;
	}
	/* SDM 11.5.1: "When a performance-monitoring counters interrupt is generated, the mask bit
	   for its associated LVT entry is set." */
	if (lvt == LAPIC_LVT_PMC)
		reg_set(l, APIC_LVTPC, reg_get(l, APIC_LVTPC) | APIC_LVT_MASKED);
}

void lapic_raise_lvt(struct lapic *l, enum lapic_lvt lvt)
{
	if (!lapic_hw_enabled(l) ||
	    (lvt != LAPIC_LVT_CMCI && lvt != LAPIC_LVT_THERMAL && lvt != LAPIC_LVT_PMC))
		return;
	lvt_deliver(l, lvt, false);
}

/* The level a LINT pin presents after the LVT's polarity (SDM 11.5.1: 1 = active low). */
static bool lint_active(const struct lapic *l, unsigned pin, bool raw)
{
	return raw ^ !!(reg_get(l, lvt_reg[LAPIC_LVT_LINT0 + pin]) & APIC_LVT_POLARITY);
}

/* Act on LINT`pin` after its input or its LVT entry changed; `was` is the raw level before. */
static void lint_eval(struct lapic *l, unsigned pin, bool was)
{
	enum lapic_lvt lvt = LAPIC_LVT_LINT0 + pin;
	bool raw = l->lint[pin], now, before;
	u32 e;

	if (!lapic_hw_enabled(l)) {
		/* Globally disabled (SDM 11.4.3): LINT0 is the processor's INTR, LINT1 its NMI. */
		if (pin == 0 && raw)
			kick(l);
		else if (pin == 1 && raw && !was)
			raise_event(l, LAPIC_EV_NMI);
		return;
	}
	e = reg_get(l, lvt_reg[lvt]);
	now = lint_active(l, pin, raw);
	before = lint_active(l, pin, was);
	if (e & APIC_LVT_MASKED)
		return;
	switch ((e & APIC_LVT_DM) >> APIC_LVT_DM_SHIFT) {
	case APIC_DM_FIXED:
		/* Level-sensitive only on LINT0: "Level-sensitive interrupts are not supported for
		   LINT1" (SDM 11.5.1), which is edge-sensitive whatever its trigger bit. The remote
		   IRR is set on acceptance and cleared by the EOI of the vector. */
		if (pin == 0 && (e & APIC_LVT_LEVEL)) {
			if (now && !(e & APIC_LVT_REMOTE_IRR) &&
			    accept_fixed(l, e & APIC_LVT_VECTOR, true))
				reg_set(l, APIC_LVT0, e | APIC_LVT_REMOTE_IRR);
		} else if (now && !before) {
			accept_fixed(l, e & APIC_LVT_VECTOR, false);
		}
		break;
	case APIC_DM_EXTINT:
		/* Always level-sensitive (SDM 11.5.1): pending while asserted. */
		if (now)
			kick(l);
		break;
	case APIC_DM_NMI:
	case APIC_DM_SMI:
	case APIC_DM_INIT:
		/* Always edge-sensitive for these modes (SDM 11.5.1, trigger mode). */
		if (now && !before)
			lvt_deliver(l, lvt, false);
		break;
	default:
		break;
	}
}

void lapic_set_lint(void *opaque, unsigned pin, bool level)
{
	struct lapic *l = opaque;
	bool was;

	if (pin > 1)
		return;
	was = l->lint[pin];
	l->lint[pin] = level;
	lint_eval(l, pin, was);
}

/* LINT0 routes the 8259A's INTR to the processor: while globally disabled, or through an
   unmasked ExtINT entry (SDM 11.4.3, 11.5.1). */
static bool lint0_extint(const struct lapic *l)
{
	u32 e = reg_get(l, APIC_LVT0);

	if (!lapic_hw_enabled(l))
		return l->lint[0];
	if ((e & APIC_LVT_MASKED) || ((e & APIC_LVT_DM) >> APIC_LVT_DM_SHIFT) != APIC_DM_EXTINT)
		return false;
	return lint_active(l, 0, l->lint[0]);
}

/* --- the timer (SDM 11.5.4) --- */

static unsigned timer_mode(const struct lapic *l)
{
	return (reg_get(l, APIC_LVTT) & APIC_LVT_TIMER_MODE) >> APIC_LVT_TIMER_SHIFT;
}

/* Divide configuration (SDM 11.5.4, Figure 11-10): bits 3 and 1:0 select 2, 4, ..., 128, 1. */
static u64 timer_divisor(const struct lapic *l)
{
	u32 d = reg_get(l, APIC_TDCR);
	unsigned sel = ((d & 8) >> 1) | (d & 3);

	return 1ull << ((sel + 1) & 7);
}

/* Whole counter decrements in `ns` of guest time. */
static u64 ns_to_ticks(const struct lapic *l, u64 ns)
{
	return (u64)((u128)ns * l->cfg.bus_hz / ((u128)timer_divisor(l) * NS_PER_SEC));
}

/* The first guest ns (from the load) at which `ticks` decrements have happened. */
static u64 ticks_to_ns(const struct lapic *l, u64 ticks)
{
	u128 n = (u128)ticks * timer_divisor(l) * NS_PER_SEC;

	return (u64)((n + l->cfg.bus_hz - 1) / l->cfg.bus_hz);
}

static u32 timer_current(const struct lapic *l, u64 now)
{
	u32 initial = reg_get(l, APIC_TMICT);
	u64 ticks;

	if (!l->counting)
		return 0;
	ticks = ns_to_ticks(l, now - l->load_ns);
	if (ticks < l->load_count)
		return l->load_count - (u32)ticks;
	/* One-shot: stopped at 0. Periodic: "the current-count register is automatically reloaded
	   from the initial-count register" on reaching 0 (SDM 11.5.4). */
	if (timer_mode(l) != APIC_TIMER_PERIODIC || !initial)
		return 0;
	return initial - (u32)((ticks - l->load_count) % initial);
}

/* The guest time of the first expiry after `now` (or at it, for the first one). */
static u64 timer_next_expiry(const struct lapic *l, u64 now)
{
	u32 initial = reg_get(l, APIC_TMICT);
	u64 ticks = ns_to_ticks(l, now - l->load_ns), t = l->load_count;

	if (ticks >= t && timer_mode(l) == APIC_TIMER_PERIODIC && initial)
		t += ((ticks - t) / initial + 1) * initial;
	return l->load_ns + ticks_to_ns(l, t);
}

static u64 now_ns(const struct lapic *l)
{
	return timer_now(l->timer.q);
}

static void timer_stop(struct lapic *l)
{
	l->counting = false;
	timer_cancel(&l->timer);
}

/* Load the count: a TMICT write (`count` 0 stops the timer). */
static void timer_load(struct lapic *l, u32 count, u64 now)
{
	l->load_ns = now;
	l->load_count = count;
	l->counting = count != 0;
	if (l->counting)
		timer_arm(&l->timer, timer_next_expiry(l, now));
	else
		timer_cancel(&l->timer);
}

/* Go on counting from `cur` (the count now, under the old divider or mode) under the new ones;
   a one-shot count already at 0 whose expiry has not fired yet fires at once. */
static void timer_rebase(struct lapic *l, u32 cur, u64 now)
{
	if (!l->counting)
		return;
	l->load_ns = now;
	l->load_count = cur;
	timer_arm(&l->timer, timer_next_expiry(l, now));
}

/* Arm for IA32_TSC_DEADLINE: the guest time the guest TSC reaches it. */
static void tscdeadline_arm(struct lapic *l, u64 now)
{
	u64 tsc = guest_tsc(l), hz = l->host.tsc_hz ? l->host.tsc_hz(l->host.opaque) : 0;
	u128 ns;

	if (l->tsc_deadline <= tsc) {
		timer_arm(&l->timer, now);
		return;
	}
	if (!hz)
		hz = l->cfg.tsc_hz;
	ns = ((u128)(l->tsc_deadline - tsc) * NS_PER_SEC + hz - 1) / hz;
	timer_arm(&l->timer, ns > TIMER_NEVER - 1 - now ? TIMER_NEVER - 1 : now + (u64)ns);
}

static void timer_fire(void *opaque, u64 now)
{
	struct lapic *l = opaque;

	if (timer_mode(l) == APIC_TIMER_TSCDEADLINE) {
		if (!l->tsc_deadline)
			return;
		/* Never early (SDM 11.5.4.1: when the TSC "is greater than or equal to" the target):
		   if guest time and TSC rounding disagree, wait for the rest. */
		if (guest_tsc(l) < l->tsc_deadline) {
			tscdeadline_arm(l, now + 1);
			return;
		}
		/* The timer "disarms itself and clears the IA32_TSC_DEADLINE MSR" (SDM 11.5.4.1). */
		l->tsc_deadline = 0;
		lvt_deliver(l, LAPIC_LVT_TIMER, false);
		return;
	}
	if (!l->counting)
		return;
	if (ns_to_ticks(l, now - l->load_ns) < l->load_count) {
		timer_arm(&l->timer, timer_next_expiry(l, now));
		return;
	}
	/* One interrupt per expiry; periods the vCPU did not run to see merge in the IRR bit, as
	   they would on hardware. The mask only suppresses the interrupt (SDM 11.5.4). */
	lvt_deliver(l, LAPIC_LVT_TIMER, false);
	if (timer_mode(l) == APIC_TIMER_PERIODIC && reg_get(l, APIC_TMICT))
		timer_arm(&l->timer, timer_next_expiry(l, now));
	else
		l->counting = false;
}

/* LVT timer written: a switch between TSC-deadline mode and the other modes disarms the timer
   (SDM 11.5.4.1), as KVM: TMICT and IA32_TSC_DEADLINE become 0. Between one-shot and periodic the
   count goes on under the new mode's reload rule. */
static void timer_lvt_changed(struct lapic *l, unsigned old_mode, u32 cur, u64 now)
{
	unsigned mode = timer_mode(l);

	if (mode == old_mode)
		return;
	if ((old_mode == APIC_TIMER_TSCDEADLINE) != (mode == APIC_TIMER_TSCDEADLINE) ||
	    mode == 3) {
		timer_stop(l);
		reg_set(l, APIC_TMICT, 0);
		l->tsc_deadline = 0;
		return;
	}
	timer_rebase(l, cur, now);
}

static void timer_set_divide(struct lapic *l, u32 val)
{
	u64 now = now_ns(l);
	u32 cur = timer_current(l, now);

	reg_set(l, APIC_TDCR, val & 0xb);
	timer_rebase(l, cur, now);
}

static void timer_set_initial(struct lapic *l, u32 val)
{
	unsigned mode = timer_mode(l);

	/* SDM 11.5.4.1: in TSC-deadline mode, writes to the initial-count register are ignored. */
	if (mode == APIC_TIMER_TSCDEADLINE)
		return;
	reg_set(l, APIC_TMICT, val);
	/* A write of 0 stops the timer, in one-shot and periodic mode (SDM 11.5.4); the reserved
	   mode 3 does not count. */
	if (mode == 3)
		val = 0;
	timer_load(l, val, now_ns(l));
}

/* --- EOI (SDM 11.8.5) --- */

static void eoi_level(struct lapic *l, int v);

static void do_eoi(struct lapic *l)
{
	int v = vec_highest(l, APIC_ISR);

	if (v < 0)
		return;
	vec_assign(l, APIC_ISR, (u8)v, false);
	update_ppr(l);
	eoi_level(l, v);
}

/* What an EOI of vector v does beyond ISR and PPR: for a level-triggered vector, LINT0's remote
   IRR and the EOI message (SDM 11.8.5). */
static void eoi_level(struct lapic *l, int v)
{
	if (!vec_test(l, APIC_TMR, (u8)v))
		return;
	/* A level-triggered LINT0 interrupt of this vector: its remote IRR clears (SDM 11.5.1) and
	   a line still asserted is taken again. */
	u32 e = reg_get(l, APIC_LVT0);
	if ((e & APIC_LVT_REMOTE_IRR) && (e & APIC_LVT_VECTOR) == (u32)v) {
		reg_set(l, APIC_LVT0, e & ~APIC_LVT_REMOTE_IRR);
		lint_eval(l, 0, l->lint[0]);
	}
	/* The EOI message to the IOAPICs, unless suppressed (SDM 11.8.5). */
	if (!(reg_get(l, APIC_SVR) & APIC_SVR_DIRECTED_EOI) && l->host.eoi)
		l->host.eoi(l->host.opaque, (u8)v);
}

/* --- interrupts between processors (SDM 11.6) --- */

/* Send what the ICR (or, x2APIC, the SELF IPI register) describes. */
static void icr_send(struct lapic *l, u32 low, u32 dest, bool x2)
{
	struct apic_msg m = {
		.dest = dest,
		.vector = low & 0xff,
		.delivery_mode = (low >> APIC_ICR_DM_SHIFT) & 7,
		.shorthand = (low >> APIC_ICR_SH_SHIFT) & 3,
		.dest_logical = low & APIC_ICR_DEST_LOGICAL,
		.level = low & APIC_ICR_LEVEL,
		.trigger_level = low & APIC_ICR_TRIGGER,
		.x2apic_dest = x2,
	};

	/* Delivery modes 011 and 111 are reserved in the ICR (SDM 11.6.1): nothing is sent. */
	if (m.delivery_mode == APIC_DM_RESERVED || m.delivery_mode == APIC_DM_EXTINT)
		return;
	/* SDM Table 11-3 (Pentium 4 and later xAPIC; x2APIC the same, 11.12.9): with the "self"
	   and "all including self" shorthands only fixed IPIs are valid; the SDM gives no result
	   for the invalid ones, and this LAPIC sends nothing. */
	if ((m.shorthand == APIC_SH_SELF || m.shorthand == APIC_SH_ALL_INCL_SELF) &&
	    m.delivery_mode != APIC_DM_FIXED)
		return;
	/* Table 11-3 note 2: a level-triggered IPI is issued as edge-triggered. The one level
	   message left is INIT level de-assert (trigger level, level 0, SDM 11.6.1), which receivers
	   of the current architecture ignore (lapic_accept()). */
	if (!(m.delivery_mode == APIC_DM_INIT && m.trigger_level && !m.level)) {
		m.trigger_level = false;
		m.level = true;
	}
	/* SDM 11.5.3, "Send Illegal Vector": vectors 0-15 of fixed and lowest-priority IPIs are
	   not sent. Lowest-priority IPIs are supported, so "Redirectable IPI" is never set. */
	if ((m.delivery_mode == APIC_DM_FIXED || m.delivery_mode == APIC_DM_LOWEST) &&
	    m.vector < 16) {
		lapic_error(l, APIC_ESR_SEND_ILLEGAL);
		return;
	}
	if (m.shorthand == APIC_SH_SELF) {
		lapic_accept(l, &m);
		return;
	}
	if (l->host.send)
		l->host.send(l->host.opaque, l, &m);
}

bool lapic_match_dest(const struct lapic *l, const struct apic_msg *m)
{
	u32 dest = m->dest, ldr;

	if (!lapic_hw_enabled(l))
		return false;
	if (m->x2apic_dest ? dest == APIC_BROADCAST_X2APIC : (dest &= 0xff) == APIC_BROADCAST_XAPIC)
		return true;
	if (lapic_x2apic_mode(l)) {
		/* An 8-bit destination (IOAPIC, MSI without remapping) reaches x2APIC IDs 0-254 and
		   logical cluster 0, as KVM's kvm_apic_match_dest(). */
		if (!m->dest_logical)
			return dest == reg_get(l, APIC_ID);
		ldr = reg_get(l, APIC_LDR);
		/* SDM 11.12.10.2: cluster (bits 31:16) equal, and a common bit in 15:0. */
		return (dest >> 16) == (ldr >> 16) && (dest & ldr & 0xffff);
	}
	if (dest > 0xff)
		return false;
	if (!m->dest_logical)
		return dest == reg_get(l, APIC_ID) >> 24; /* SDM 11.6.2.1 */
	ldr = reg_get(l, APIC_LDR) >> 24;
	/* SDM 11.6.2.2: the DFR's model, flat (1111b) or cluster (0000b); others are reserved and
	   select nobody. */
	switch (reg_get(l, APIC_DFR) >> 28) {
	case 0xf:
		return ldr & dest;
	case 0x0:
		return (ldr >> 4) == (dest >> 4) && (ldr & dest & 0xf);
	default:
		return false;
	}
}

bool lapic_accept(struct lapic *l, const struct apic_msg *m)
{
	if (!lapic_hw_enabled(l))
		return false;
	switch (m->delivery_mode) {
	case APIC_DM_FIXED:
	case APIC_DM_LOWEST:
		/* A software-disabled LAPIC takes no fixed interrupts; it still responds to NMI,
		   SMI, INIT and StartUp (SDM 11.4.7.2). */
		if (!lapic_sw_enabled(l))
			return false;
		return accept_fixed(l, m->vector, m->trigger_level);
	case APIC_DM_SMI:
		raise_event(l, LAPIC_EV_SMI);
		return true;
	case APIC_DM_NMI:
		raise_event(l, LAPIC_EV_NMI);
		return true;
	case APIC_DM_INIT:
		/* INIT level de-assert only resynchronised the P6 arbitration IDs; "not supported
		   in the Pentium 4 and Intel Xeon processors" (SDM 11.6.1): no effect. */
		if (m->trigger_level && !m->level)
			return true;
		raise_event(l, LAPIC_EV_INIT);
		return true;
	case APIC_DM_STARTUP:
		/* Recorded whatever the vCPU's state; the VMM ignores it unless the vCPU waits for a
		   SIPI (SDM 9.4.4, as KVM's KVM_APIC_SIPI). */
		l->sipi_vector = m->vector;
		raise_event(l, LAPIC_EV_SIPI);
		return true;
	case APIC_DM_EXTINT:
		raise_event(l, LAPIC_EV_EXTINT);
		return true;
	default:
		return false;
	}
}

/* --- registers --- */

/* Offsets that hold a register in xAPIC mode (SDM Table 11-1); the others are reserved. */
static bool xapic_reg_valid(unsigned reg)
{
	switch (reg) {
	case APIC_ID: case APIC_LVR: case APIC_TPR: case APIC_APR: case APIC_PPR: case APIC_EOI:
	case APIC_RRD: case APIC_LDR: case APIC_DFR: case APIC_SVR: case APIC_ESR:
	case APIC_LVT_CMCI: case APIC_ICR: case APIC_ICR2: case APIC_LVTT: case APIC_LVTTHMR:
	case APIC_LVTPC: case APIC_LVT0: case APIC_LVT1: case APIC_LVTERR: case APIC_TMICT:
	case APIC_TMCCT: case APIC_TDCR:
		return true;
	default:
		return reg >= APIC_ISR && reg < APIC_ESR;
	}
}

static int lvt_index(unsigned reg)
{
	for (int i = 0; i < LAPIC_NR_LVT; i++)
		if (lvt_reg[i] == reg)
			return i;
	return -1;
}

/* Read a register both modes share (the caller checked it exists in the current mode). */
static u32 reg_read(struct lapic *l, unsigned reg)
{
	switch (reg) {
	case APIC_APR:
		return lapic_apr(l);
	case APIC_TMCCT:
		/* SDM 11.5.4.1: reads 0 in TSC-deadline mode (counting is off there). */
		return timer_current(l, now_ns(l));
	case APIC_EOI:
	case APIC_RRD:
	case APIC_SELF_IPI:
		return 0;
	default:
		return reg_get(l, reg);
	}
}

static int lvt_write(struct lapic *l, enum lapic_lvt lvt, u32 val, bool x2)
{
	unsigned reg = lvt_reg[lvt];
	u32 ro = APIC_LVT_PENDING | (lvt_is_lint(lvt) ? APIC_LVT_REMOTE_IRR : 0);
	u32 old = reg_get(l, reg), e, cur = 0;
	unsigned old_mode = timer_mode(l);
	u64 now = 0;

	/* x2APIC: non-zero reserved bits raise #GP (SDM 11.12.1.3); xAPIC: they are dropped. */
	if (x2 && (val & ~(lvt_writable[lvt] | ro)))
		return -EINVAL;
	e = (val & lvt_writable[lvt]) | (old & APIC_LVT_REMOTE_IRR & ro);
	/* "The mask bits for all the LVT entries are set" and cannot be cleared while the APIC is
	   software-disabled (SDM 11.4.7.2). */
	if (!lapic_sw_enabled(l))
		e |= APIC_LVT_MASKED;
	/* The remote IRR belongs to a fixed level-triggered LINT0 only. */
	if (((e & APIC_LVT_DM) >> APIC_LVT_DM_SHIFT) != APIC_DM_FIXED || !(e & APIC_LVT_LEVEL))
		e &= ~APIC_LVT_REMOTE_IRR;
	if (lvt == LAPIC_LVT_TIMER) {
		now = now_ns(l);
		cur = timer_current(l, now);
	}
	reg_set(l, reg, e);
	if (lvt == LAPIC_LVT_TIMER)
		timer_lvt_changed(l, old_mode, cur, now);
	else if (lvt_is_lint(lvt))
		lint_eval(l, lvt - LAPIC_LVT_LINT0, l->lint[lvt - LAPIC_LVT_LINT0]);
	return 0;
}

/*
 * Write a register. In x2APIC mode (`x2`) the caller already refused registers that are absent or
 * read-only there; here reserved bits raise #GP (-EINVAL) in x2APIC mode and are dropped in xAPIC
 * mode, where read-only registers ignore writes (SDM 11.4.1).
 */
static int reg_write(struct lapic *l, unsigned reg, u32 val, bool x2)
{
	int lvt = lvt_index(reg);

	if (lvt >= 0)
		return lvt_write(l, lvt, val, x2);
	switch (reg) {
	case APIC_ID:
		/* xAPIC: bits 31:24 (SDM 11.4.6); read-only in x2APIC mode. */
		reg_set(l, APIC_ID, val & 0xff000000u);
		return 0;
	case APIC_TPR:
		if (x2 && (val & ~0xffu))
			return -EINVAL;
		reg_set(l, APIC_TPR, val & 0xff);
		update_ppr(l);
		return 0;
	case APIC_EOI:
		/* x2APIC: "WRMSR of a non-zero value causes #GP(0)" (SDM Table 11-6). */
		if (x2 && val)
			return -EINVAL;
		do_eoi(l);
		return 0;
	case APIC_LDR:
		reg_set(l, APIC_LDR, val & 0xff000000u); /* SDM 11.6.2.2, Figure 11-13 */
		return 0;
	case APIC_DFR:
		reg_set(l, APIC_DFR, val | 0x0fffffffu); /* bits 27:0 reserved, read as 1s */
		return 0;
	case APIC_SVR: {
		u32 mask = 0xff | APIC_SVR_ENABLE | APIC_SVR_FOCUS_DISABLE | APIC_SVR_DIRECTED_EOI;

		if (x2 && (val & ~mask))
			return -EINVAL;
		reg_set(l, APIC_SVR, val & mask);
		/* Software disable masks every LVT entry (SDM 11.4.7.2); the timer keeps counting. */
		if (!(val & APIC_SVR_ENABLE))
			for (int i = 0; i < LAPIC_NR_LVT; i++)
				reg_set(l, lvt_reg[i], reg_get(l, lvt_reg[i]) | APIC_LVT_MASKED);
		return 0;
	}
	case APIC_ESR:
		/* SDM 11.5.3: a write (only 0 in x2APIC mode) latches the errors detected since the
		   previous write into the ESR, clears them and rearms the error interrupt. */
		if (x2 && val)
			return -EINVAL;
		reg_set(l, APIC_ESR, l->esr_pending);
		l->esr_pending = 0;
		l->error_armed = true;
		return 0;
	case APIC_ICR:
		reg_set(l, APIC_ICR, val & ICR_LOW_WRITABLE);
		icr_send(l, val & ICR_LOW_WRITABLE, reg_get(l, APIC_ICR2) >> 24, false);
		return 0;
	case APIC_ICR2:
		reg_set(l, APIC_ICR2, val & 0xff000000u);
		return 0;
	case APIC_TMICT:
		timer_set_initial(l, val);
		return 0;
	case APIC_TDCR:
		/* Bits 0, 1 and 3 (SDM Figure 11-10); bit 2 and 31:4 reserved. */
		if (x2 && (val & ~0xbu))
			return -EINVAL;
		timer_set_divide(l, val);
		return 0;
	case APIC_SELF_IPI:
		/* x2APIC only (SDM 11.12.11): a fixed, edge-triggered IPI to self; 31:8 reserved. */
		if (val & ~0xffu)
			return -EINVAL;
		icr_send(l, (val & 0xff) | (APIC_SH_SELF << APIC_ICR_SH_SHIFT), 0, true);
		return 0;
	default:
		/* Read-only registers (xAPIC): the write is ignored. */
		return x2 ? -EINVAL : 0;
	}
}

/* --- xAPIC: the MMIO page (SDM 11.4.1) --- */

bool lapic_mmio_decodes(const struct lapic *l, u64 gpa)
{
	return xapic_mode(l) && (gpa & ~0xfffull) == (l->apic_base & ~0xfffull);
}

/*
 * Registers are 32 bits wide at 16-byte-aligned offsets (SDM 11.4.1). Reads of other sizes or
 * alignments are model specific: they return the bytes asked for, those beyond a register's four
 * bytes reading 0. Writes other than aligned 32-bit ones are ignored (KVM does the same). Touching
 * a reserved offset sets "Illegal Register Address" (SDM 11.5.3) and reads 0.
 */
void lapic_mmio_access(void *opaque, u64 offset, u64 *data, unsigned len, bool is_write)
{
	struct lapic *l = opaque;

	if (!xapic_mode(l) || offset >= LAPIC_MMIO_SIZE) {
		if (!is_write)
			*data = len >= 8 ? ~0ull : (1ull << (len * 8)) - 1;
		return;
	}
	if (is_write) {
		unsigned reg = (unsigned)offset & 0xff0;

		if (len != 4 || (offset & 0xf))
			return;
		if (!xapic_reg_valid(reg) || reg == APIC_SELF_IPI) {
			lapic_error(l, APIC_ESR_ILLEGAL_REGISTER);
			return;
		}
		reg_write(l, reg, (u32)*data, false);
		return;
	}
	u64 v = 0;
	unsigned cached = ~0u;
	u32 word = 0;
	for (unsigned i = 0; i < len && offset + i < LAPIC_MMIO_SIZE; i++) {
		unsigned off = (unsigned)offset + i, reg = off & 0xff0;

		if (reg != cached) {
			cached = reg;
			word = 0;
			if (!xapic_reg_valid(reg))
				lapic_error(l, APIC_ESR_ILLEGAL_REGISTER);
			else
				word = reg_read(l, reg);
		}
		if ((off & 0xf) < 4)
			v |= (u64)((word >> ((off & 3) * 8)) & 0xff) << (i * 8);
	}
	*data = v;
}

/* --- MSRs --- */

bool lapic_msr_owns(u32 msr)
{
	return msr == MSR_IA32_APICBASE || msr == MSR_IA32_TSCDEADLINE ||
	       (msr >= MSR_X2APIC_FIRST && msr <= MSR_X2APIC_LAST);
}

enum { X2_R = 1, X2_W = 2 };

/* The x2APIC registers (SDM Table 11-6): what RDMSR and WRMSR may do. Everything else in
   0x800-0x8ff, 0x809 (APR), 0x80c (RRD), 0x80e (DFR) and 0x831 included, raises #GP. */
static unsigned x2apic_access(unsigned reg)
{
	switch (reg) {
	case APIC_ID: case APIC_LVR: case APIC_PPR: case APIC_LDR: case APIC_TMCCT:
		return X2_R;
	case APIC_EOI: case APIC_SELF_IPI:
		return X2_W;
	case APIC_TPR: case APIC_SVR: case APIC_ESR: case APIC_LVT_CMCI: case APIC_ICR:
	case APIC_LVTT: case APIC_LVTTHMR: case APIC_LVTPC: case APIC_LVT0: case APIC_LVT1:
	case APIC_LVTERR: case APIC_TMICT: case APIC_TDCR:
		return X2_R | X2_W;
	default:
		return reg >= APIC_ISR && reg < APIC_ESR ? X2_R : 0;
	}
}

static u64 apicbase_reserved(const struct lapic *l)
{
	/* SDM 11.4.4, 11.12.1: bits 7:0 and 9, EXTD without x2APIC support, and the base's bits at
	   and above MAXPHYADDR. */
	u64 r = 0x2ffull | (~0ull << l->cfg.maxphyaddr);

	if (!l->cfg.x2apic)
		r |= APICBASE_EXTD;
	return r;
}

static void regs_reset(struct lapic *l);

/* IA32_APIC_BASE writes and the transitions of SDM 11.12.5 (Figure 11-29). */
static int apicbase_write(struct lapic *l, u64 val)
{
	u64 old = l->apic_base;
	bool old_en = old & APICBASE_EN, old_x2 = lapic_x2apic_mode(l);
	bool en = val & APICBASE_EN, extd = val & APICBASE_EXTD;

	if (val & apicbase_reserved(l))
		return -EINVAL;
	if (extd && !en)
		return -EINVAL; /* the invalid state */
	if (old_x2 && en && !extd)
		return -EINVAL; /* x2APIC -> xAPIC */
	if (!old_en && en && extd)
		return -EINVAL; /* disabled -> x2APIC */
	l->apic_base = val;
	if (old_en && !en) {
		/* Globally disabled: "the APIC may return to the state described in 11.4.7.1"
		   (SDM 11.4.3), and register state is not preserved across the disabled state
		   (SDM 11.12.5.1). This LAPIC returns to it, IDs included. */
		regs_reset(l);
		reg_set(l, APIC_ID, l->cfg.apic_id << 24);
	} else if (!old_x2 && en && extd) {
		/* xAPIC -> x2APIC (SDM 11.12.5.1): the x2APIC ID is the initial one (a value written
		   to the xAPIC ID register is not kept), the LDR is derived from it, the ICR's high
		   half is not preserved. */
		reg_set(l, APIC_ID, l->cfg.apic_id);
		reg_set(l, APIC_LDR, x2apic_ldr(l->cfg.apic_id));
		reg_set(l, APIC_ICR2, 0);
	}
	return 0;
}

int lapic_rdmsr(struct lapic *l, u32 msr, u64 *val)
{
	unsigned reg = (msr - MSR_X2APIC_FIRST) << 4;

	if (msr == MSR_IA32_APICBASE) {
		*val = l->apic_base;
		return 0;
	}
	if (msr == MSR_IA32_TSCDEADLINE) {
		/* SDM 11.5.4.1: reads 0 outside TSC-deadline mode. */
		*val = timer_mode(l) == APIC_TIMER_TSCDEADLINE ? l->tsc_deadline : 0;
		return 0;
	}
	/* SDM 11.12.1.2: x2APIC MSRs #GP unless x2APIC mode; RDMSR of a write-only one #GPs. */
	if (!lapic_msr_owns(msr) || !lapic_x2apic_mode(l) || !(x2apic_access(reg) & X2_R))
		return -EINVAL;
	*val = reg_read(l, reg);
	if (reg == APIC_ICR)
		*val |= (u64)reg_get(l, APIC_ICR2) << 32;
	return 0;
}

int lapic_wrmsr(struct lapic *l, u32 msr, u64 val)
{
	unsigned reg = (msr - MSR_X2APIC_FIRST) << 4;

	if (msr == MSR_IA32_APICBASE)
		return apicbase_write(l, val);
	if (msr == MSR_IA32_TSCDEADLINE) {
		/* SDM 11.5.4.1: ignored outside TSC-deadline mode; 0 disarms; any other value arms
		   (one already passed fires at once). */
		if (timer_mode(l) != APIC_TIMER_TSCDEADLINE || !lapic_hw_enabled(l))
			return 0;
		l->tsc_deadline = val;
		if (val)
			tscdeadline_arm(l, now_ns(l));
		else
			timer_cancel(&l->timer);
		return 0;
	}
	if (!lapic_msr_owns(msr) || !lapic_x2apic_mode(l) || !(x2apic_access(reg) & X2_W))
		return -EINVAL;
	if (reg == APIC_ICR) {
		/* One 64-bit register (SDM 11.12.9): "WRMSR to the ICR MSR ignores bit 12"; bits 13,
		   17:16 and 31:20 are reserved. */
		u32 low = (u32)val & ~APIC_ICR_BUSY;

		if (low & ~ICR_LOW_WRITABLE)
			return -EINVAL;
		reg_set(l, APIC_ICR, low);
		reg_set(l, APIC_ICR2, (u32)(val >> 32));
		icr_send(l, low, (u32)(val >> 32), true);
		return 0;
	}
	/* "The upper 32-bits of all x2APIC MSRs (except for the ICR) are reserved" (11.12.1.2). */
	if (val >> 32)
		return -EINVAL;
	return reg_write(l, reg, (u32)val, true);
}

/* --- the vCPU side --- */

int lapic_highest_irr(const struct lapic *l)
{
	return vec_highest(l, APIC_IRR);
}

int lapic_highest_isr(const struct lapic *l)
{
	return vec_highest(l, APIC_ISR);
}

void lapic_or_irr(struct lapic *l, const u64 vectors[4])
{
	for (unsigned i = 0; i < 4; i++) {
		unsigned off = APIC_IRR + 0x20 * i;

		reg_set(l, off, reg_get(l, off) | (u32)vectors[i]);
		reg_set(l, off + 0x10, reg_get(l, off + 0x10) | (u32)(vectors[i] >> 32));
	}
}

void lapic_tmr(const struct lapic *l, u64 tmr[4])
{
	if (!vec_any(l, APIC_TMR)) {
		memset(tmr, 0, 4 * sizeof(*tmr));
		return;
	}
	for (unsigned i = 0; i < 4; i++)
		tmr[i] = reg_get(l, APIC_TMR + 0x20 * i) |
			 (u64)reg_get(l, APIC_TMR + 0x20 * i + 0x10) << 32;
}

/* EOI virtualization already cleared ISR and set PPR (SDM vol. 3C 30.1.4); what is left. */
void lapic_eoi_vector(struct lapic *l, u8 vector)
{
	update_ppr(l);
	eoi_level(l, vector);
	if (l->host.kick)
		l->host.kick(l->host.opaque);
}

void lapic_eoi(struct lapic *l)
{
	do_eoi(l);
	if (l->host.kick)
		l->host.kick(l->host.opaque);
}

/*
 * An APIC-write exit (SDM vol. 3C 30.4.3.3): the guest's write is on the page; do what writing
 * the register does. The page holds the new value already, and some writes depend on the old
 * one (the LVT timer's mode, the divide configuration, LINT remote IRR): the value the model
 * last stored (`applied`) goes back first, then the write runs as a guest write would, with
 * its masking and side effects. Without APIC-register virtualization only ICR low (an IPI that
 * is not a fixed self IPI) and the x2APIC SELF IPI with a vector below 16 come here.
 */
void lapic_apic_write(struct lapic *l, unsigned offset)
{
	unsigned reg = offset & 0xff0;
	u64 v = reg_get(l, reg);

	memcpy(l->regs + reg, &l->applied[reg >> 4], 4);
	if (lapic_x2apic_mode(l)) {
		if (reg == APIC_SELF_IPI)
			lapic_wrmsr(l, MSR_X2APIC_FIRST + (reg >> 4), v);
		return;
	}
	lapic_mmio_access(l, reg, &v, 4, true);
}

void lapic_poke(struct lapic *l, unsigned offset, u32 v)
{
	reg_set(l, offset & 0xff0, v);
}

int lapic_pending_vector(const struct lapic *l)
{
	int v = vec_highest(l, APIC_IRR);

	/* SDM 11.8.4: dispatched when its priority class is above the PPR's. */
	if (v < 0 || ((u32)v & 0xf0) <= (reg_get(l, APIC_PPR) & 0xf0))
		return -1;
	return v;
}

void lapic_set_cr8(struct lapic *l, u8 cr8)
{
	reg_set(l, APIC_TPR, (u32)(cr8 & 0xf) << 4);
	update_ppr(l);
}

u8 lapic_get_cr8(const struct lapic *l)
{
	return (reg_get(l, APIC_TPR) >> 4) & 0xf;
}

int lapic_intack(struct lapic *l)
{
	int v = lapic_pending_vector(l);

	/* SDM 11.9: an acknowledge that finds nothing to dispatch gets the spurious vector, which
	   sets no ISR bit. */
	if (v < 0)
		return reg_get(l, APIC_SVR) & 0xff;
	vec_assign(l, APIC_IRR, (u8)v, false);
	vec_assign(l, APIC_ISR, (u8)v, true);
	update_ppr(l);
	return v;
}

u32 lapic_pending_events(const struct lapic *l)
{
	return l->events | (lint0_extint(l) ? LAPIC_EV_EXTINT : 0);
}

u32 lapic_take_events(struct lapic *l, u32 mask, u8 *sipi_vector)
{
	u32 got = lapic_pending_events(l) & mask;

	l->events &= ~mask;
	if ((got & LAPIC_EV_SIPI) && sipi_vector)
		*sipi_vector = l->sipi_vector;
	return got;
}

/* --- lifecycle --- */

/* Every register but the ID to its power-up value (SDM 11.4.7.1), the timer stopped. */
static void regs_reset(struct lapic *l)
{
	u32 id = reg_get(l, APIC_ID);

	memset(l->regs, 0, sizeof(l->regs));
	memset(l->applied, 0, sizeof(l->applied));
	reg_set(l, APIC_ID, id);
	reg_set(l, APIC_LVR, LAPIC_VERSION | ((LAPIC_NR_LVT - 1) << 16) | APIC_LVR_DIRECTED_EOI);
	reg_set(l, APIC_DFR, 0xffffffffu);
	reg_set(l, APIC_SVR, 0xff);
	for (int i = 0; i < LAPIC_NR_LVT; i++)
		reg_set(l, lvt_reg[i], APIC_LVT_MASKED);
	if (lapic_x2apic_mode(l))
		reg_set(l, APIC_LDR, x2apic_ldr(id));
	timer_stop(l);
	l->load_ns = 0;
	l->load_count = 0;
	l->tsc_deadline = 0;
	l->esr_pending = 0;
	l->error_armed = true;
	l->events = 0;
	l->sipi_vector = 0;
	l->lp_last = 0;
}

void lapic_reset(struct lapic *l)
{
	l->apic_base = LAPIC_DEFAULT_BASE | APICBASE_EN | (l->cfg.bsp ? APICBASE_BSP : 0);
	reg_set(l, APIC_ID, l->cfg.apic_id << 24);
	regs_reset(l);
}

void lapic_init_reset(struct lapic *l)
{
	/* SDM 11.4.7.3 and 11.12.5.1: INIT keeps the ID and IA32_APIC_BASE (the mode with it). */
	regs_reset(l);
}

int lapic_init(struct lapic *l, const struct lapic_config *cfg, const struct lapic_host *host,
	       struct timer_queue *q)
{
	if (!cfg->bus_hz || !cfg->tsc_hz || cfg->maxphyaddr < 36 || cfg->maxphyaddr > 52 ||
	    cfg->apic_id == APIC_BROADCAST_X2APIC || (!cfg->x2apic && cfg->apic_id >= 0xff))
		return -EINVAL;
	memset(l, 0, sizeof(*l));
	l->cfg = *cfg;
	l->host = *host;
	timer_init(&l->timer, q, timer_fire, l, "lapic-timer");
	lapic_reset(l);
	return 0;
}
