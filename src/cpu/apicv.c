// SPDX-License-Identifier: MIT
/*
 * APIC virtualization and virtual interrupts (Intel SDM vol. 3C chapter 30): what the CPU does in
 * VMX non-root operation with the virtual-APIC page, so that a guest reads and writes its local
 * APIC, takes interrupts and signals EOI without VM exits.
 *
 *   - The virtual-APIC page (c->ctl.virtual_apic, 30.1.1) holds VTPR (080H), VPPR (0A0H), VEOI
 *     (0B0H), VISR (100H-170H), VIRR (200H-270H) and VICR (300H, 310H), laid out as the xAPIC
 *     register page; RVI and SVI, the guest interrupt status (25.4.2), are CPU state that VM
 *     entry loads and VM exit saves.
 *   - TPR, PPR, EOI and self-IPI virtualization (30.1.2-30.1.5), the evaluation and delivery of
 *     pending virtual interrupts (30.2), accesses to the APIC-access page (30.4) and to the
 *     x2APIC MSRs (30.5), and posted-interrupt processing (30.6).
 *
 * An "operation" (30.4) is one instruction here: a REP string instruction that writes the page
 * twice ends in an APIC-access exit at the second write, which the SDM allows for a write of
 * another offset or size and which we also take for the same one.
 */
#include "cpu/internal.h"

#define VTPR 0x080
#define VPPR 0x0a0
#define VEOI 0x0b0
#define VISR 0x100
#define VIRR 0x200
#define VICR_LO 0x300
#define VICR_HI 0x310
#define VSELF_IPI 0x3f0

static u32 *vreg(struct cpu *c, unsigned off)
{
	return (u32 *)(c->ctl.virtual_apic + off);
}

/* Words of the page, read and written whole as relaxed atomics: the VMM's LAPIC model changes
   the same page from other threads (devices/lapic.c reg_get). */
static u32 vget(struct cpu *c, unsigned off)
{
	return __atomic_load_n(vreg(c, off), __ATOMIC_RELAXED);
}

static void vput(struct cpu *c, unsigned off, u32 v)
{
	__atomic_store_n(vreg(c, off), v, __ATOMIC_RELAXED);
}

/* Bit x of a 256-bit register: bit (x & 1FH) of the 32-bit field at base | ((x & E0H) >> 1)
   (30.1.1). Locked: with a host thread per vCPU the VMM sets IRR bits of this page from other
   threads while the guest runs (devices/lapic.c vec_assign); a plain read-modify-write here
   could undo one, and the interrupt would be lost. */
static void vbit_set(struct cpu *c, unsigned base, unsigned x)
{
	__atomic_fetch_or(vreg(c, base | (x & 0xe0) >> 1), 1u << (x & 31), __ATOMIC_SEQ_CST);
}

static void vbit_clear(struct cpu *c, unsigned base, unsigned x)
{
	__atomic_fetch_and(vreg(c, base | (x & 0xe0) >> 1), ~(1u << (x & 31)), __ATOMIC_SEQ_CST);
}

/* The highest bit set, or -1. */
static int vbit_highest(struct cpu *c, unsigned base)
{
	for (int i = 7; i >= 0; i--) {
		u32 w = vget(c, base + 0x10 * (unsigned)i);
		if (w)
			return i * 32 + 31 - __builtin_clz(w);
	}
	return -1;
}

static bool vid(const struct cpu *c)
{
	return c->ctl.proc2 & PROC2_VIRT_INTR_DELIVERY;
}

/*
 * The exits of this chapter that follow an operation (TPR below threshold, EOI-induced, APIC
 * write) are trap-like (30.1.2, 30.1.4, 30.4.3.3): inside an instruction the guest RIP is the
 * next one's; between instructions (APIC-write emulation) it is the current RIP.
 */
static noreturn void trap_exit(struct cpu *c, u32 reason, u64 qual)
{
	if (c->insn)
		cpu_vmexit_trap(c, reason, qual);
	c->insn_rip = c->rip;
	c->exit->insn_len = 0;
	cpu_vmexit(c, reason, qual);
}

/* 30.2.1: recognize a pending virtual interrupt when interrupt-window exiting is 0 and
   RVI[7:4] > VPPR[7:4]. Recognition lasts until delivery or a VM exit. */
static void evaluate(struct cpu *c)
{
	if (!(c->ctl.proc & PROC_INTR_WINDOW_EXITING) &&
	    (c->rvi >> 4) > ((vget(c, VPPR) & 0xff) >> 4)) {
		c->vintr = 1;
		cpu_event_pending(c);
		if (c->insn)
			c->break_block = 1; /* delivered at the boundary after this instruction */
	}
}

/* 30.1.3 PPR virtualization: VPPR = VTPR when VTPR[7:4] >= SVI[7:4], else SVI & F0H. */
static void ppr_virtualize(struct cpu *c)
{
	u32 vtpr = vget(c, VTPR) & 0xff;

	vput(c, VPPR, (vtpr >> 4) >= (unsigned)(c->svi >> 4) ? vtpr : (u32)(c->svi & 0xf0));
}

/* 30.1.2 TPR virtualization: without virtual-interrupt delivery, a trap-like exit 43 when
   VTPR[7:4] < TPR threshold[3:0]; with it, PPR virtualization and evaluation. */
void apicv_tpr_virtualize(struct cpu *c)
{
	if (!vid(c)) {
		if (((vget(c, VTPR) >> 4) & 0xf) < (c->ctl.tpr_threshold & 0xf))
			trap_exit(c, EXIT_REASON_TPR_BELOW_THRESHOLD, 0);
		return;
	}
	ppr_virtualize(c);
	evaluate(c);
}

/* 30.1.4 EOI virtualization; the EOI-induced exit (45) carries the vector and is trap-like. */
static void eoi_virtualize(struct cpu *c)
{
	unsigned vector = c->svi;
	int next;

	vbit_clear(c, VISR, vector);
	next = vbit_highest(c, VISR);
	c->svi = next < 0 ? 0 : (u8)next;
	ppr_virtualize(c);
	if (c->ctl.eoi_exit[vector / 64] >> (vector % 64) & 1)
		trap_exit(c, EXIT_REASON_EOI_INDUCED, vector);
	evaluate(c);
}

/* 30.1.5 self-IPI virtualization. */
static void self_ipi_virtualize(struct cpu *c, u8 vector)
{
	vbit_set(c, VIRR, vector);
	if (vector > c->rvi)
		c->rvi = vector;
	evaluate(c);
}

/*
 * 30.2.2 virtual-interrupt delivery, when a recognized virtual interrupt meets RFLAGS.IF = 1, no
 * blocking by STI or MOV SS and interrupt-window exiting 0 (events.c checks those): the
 * registers move the vector from VIRR to VISR; the caller delivers it through the IDT as an
 * external interrupt.
 */
void apicv_deliver(struct cpu *c)
{
	u8 vector = c->rvi;
	int next;

	vbit_set(c, VISR, vector);
	c->svi = vector;
	vput(c, VPPR, vector & 0xf0);
	vbit_clear(c, VIRR, vector);
	next = vbit_highest(c, VIRR);
	c->rvi = next < 0 ? 0 : (u8)next;
	c->vintr = 0;
}

/*
 * 30.6 posted-interrupt processing, for the notification vector: clear ON (atomically, leaving
 * the rest of the descriptor), dismiss the notification (the host IPI was taken off
 * c->host_irr), move PIR into VIRR with each word read and cleared in one atomic step, raise RVI
 * to the highest vector posted, evaluate. No VM exit.
 */
int cpu_pir_to_virr(u64 *desc, u8 *vapic)
{
	int high = -1;

	__atomic_fetch_and(&desc[PI_DESC_ON_BIT / 64], ~(1ull << (PI_DESC_ON_BIT % 64)),
			   __ATOMIC_SEQ_CST);
	for (unsigned i = 0; i < 4; i++) {
		u64 pir = __atomic_exchange_n(&desc[i], 0, __ATOMIC_SEQ_CST);

		if (!pir)
			continue;
		/* VIRR bits 32j..32j+31 at 200H + 10H * j (30.1.1). */
		__atomic_fetch_or((u32 *)(vapic + VIRR + 0x20 * i), (u32)pir, __ATOMIC_SEQ_CST);
		__atomic_fetch_or((u32 *)(vapic + VIRR + 0x20 * i + 0x10), (u32)(pir >> 32),
				  __ATOMIC_SEQ_CST);
		high = (int)(i * 64 + 63 - (unsigned)__builtin_clzll(pir));
	}
	return high;
}

void apicv_posted(struct cpu *c)
{
	int high = cpu_pir_to_virr(c->ctl.pi_desc, c->ctl.virtual_apic);

	if (high > c->rvi)
		c->rvi = (u8)high;
	evaluate(c);
}

/* VM entry with virtual-interrupt delivery (27.3.2.5): RVI and SVI are loaded (cpu_set_vmx_state),
   then PPR virtualization and evaluation of pending virtual interrupts. */
void apicv_vmentry(struct cpu *c)
{
	c->vintr = 0;
	c->apic_write = 0;
	if (!vid(c) || !c->ctl.virtual_apic)
		return;
	ppr_virtualize(c);
	evaluate(c);
}

void apicv_set_controls(struct cpu *c)
{
	u64 page = c->ctl.proc2 & PROC2_VIRT_APIC_ACCESSES ? c->ctl.apic_access_addr & PAGE_MASK
							     : ~0ull;

	/* Translations to the page were cached as memory: drop them (no TLB entry maps it). */
	if (page != c->apicv_page)
		tlb_flush_all(c);
	c->apicv_page = page;
}

/* --- The APIC-access page (30.4) --- */

noreturn void apicv_access_exit(struct cpu *c, unsigned type, unsigned off)
{
	/* Bit 16 (NMI unblocking by IRET) stays 0: the model never has it at such an exit. */
	cpu_vmexit(c, EXIT_REASON_APIC_ACCESS, APIC_ACCESS_QUAL(type, off));
}

/* The access lies in the low 4 bytes of a naturally aligned 16-byte region (30.4.2, 30.4.3.1):
   bits 3:2 of its first and last byte are 0. */
static bool in_low_dword(unsigned off, unsigned size)
{
	return size <= 4 && !(off & 0xc) && !((off + size - 1) & 0xc) &&
	       (off & ~0xfu) == ((off + size - 1) & ~0xfu);
}

/* Register offsets (bits 11:4) that APIC-register virtualization reads (30.4.2). */
static bool reg_virt_readable(unsigned reg)
{
	switch (reg) {
	case 0x020: case 0x030: case 0x080: case 0x0b0: case 0x0d0: case 0x0e0: case 0x0f0:
	case 0x280: case 0x300: case 0x310: case 0x380: case 0x3e0:
		return true;
	}
	return (reg >= 0x100 && reg <= 0x270) || (reg >= 0x320 && reg <= 0x370);
}

/* ... and writes (30.4.3.1). */
static bool reg_virt_writable(unsigned reg)
{
	switch (reg) {
	case 0x080: case 0x0b0: case 0x0d0: case 0x0e0: case 0x0f0: case 0x280: case 0x300:
	case 0x310: case 0x380: case 0x3e0:
		return true;
	}
	return reg >= 0x320 && reg <= 0x370;
}

/*
 * A linear read (30.4.2). It exits when "use TPR shadow" is 0, during event delivery (type 3), or
 * when it is more than 32 bits or leaves the low 4 bytes of its 16-byte region; otherwise it reads
 * the virtual-APIC page at VTPR alone, or at every register APIC-register virtualization lists.
 */
u64 apicv_read(struct cpu *c, unsigned off, unsigned size)
{
	unsigned reg = off & 0xff0;
	u64 v = 0;

	if (c->fault_depth)
		apicv_access_exit(c, APIC_ACCESS_LINEAR_EVENT, off);
	if (!(c->ctl.proc & PROC_TPR_SHADOW) || !c->ctl.virtual_apic || !in_low_dword(off, size) ||
	    !(c->ctl.proc2 & PROC2_APIC_REG_VIRT ? reg_virt_readable(reg) : reg == VTPR))
		apicv_access_exit(c, APIC_ACCESS_LINEAR_READ, off);
	memcpy(&v, c->ctl.virtual_apic + off, size);
	return v;
}

/*
 * A linear write (30.4.3.1). Besides the read rules: without APIC-register virtualization only
 * VTPR, and with virtual-interrupt delivery VEOI and VICR_LO, are written; with it, the writable
 * registers listed there. A second write in the same operation exits. A virtualized write lands
 * on the virtual-APIC page and APIC-write emulation follows the instruction (events.c).
 */
void apicv_write(struct cpu *c, unsigned off, u64 v, unsigned size)
{
	unsigned reg = off & 0xff0;
	bool ok;

	if (c->fault_depth)
		apicv_access_exit(c, APIC_ACCESS_LINEAR_EVENT, off);
	if (c->ctl.proc2 & PROC2_APIC_REG_VIRT)
		ok = reg_virt_writable(reg);
	else
		ok = reg == VTPR || (vid(c) && (reg == VEOI || reg == VICR_LO));
	if (!(c->ctl.proc & PROC_TPR_SHADOW) || !c->ctl.virtual_apic || !in_low_dword(off, size) ||
	    !ok || (c->apic_write & APICV_WRITE_DUE))
		apicv_access_exit(c, APIC_ACCESS_LINEAR_WRITE, off);
	memcpy(c->ctl.virtual_apic + off, &v, size);
	c->apic_write = (u16)(off | APICV_WRITE_DUE);
	cpu_event_pending(c);
	c->break_block = 1;
}

/*
 * 30.4.3.2 APIC-write emulation, after the operation that wrote the page, before anything else
 * at that boundary: TPR (bytes 3:1 cleared, TPR virtualization), EOI with virtual-interrupt
 * delivery (VEOI cleared, EOI virtualization), ICR low with virtual-interrupt delivery and a
 * fixed, edge, self IPI of a vector above 15 with no reserved or delivery-status bit (self-IPI
 * virtualization), ICR high (bytes 2:0 cleared); anything else is an APIC-write exit (56) with
 * the offset as its qualification.
 */
void apicv_write_emulate(struct cpu *c)
{
	unsigned off = c->apic_write & 0xfff, reg = off & 0xff0;
	u32 icr;

	c->apic_write = 0;
	switch (reg) {
	case VTPR:
		vput(c, VTPR, vget(c, VTPR) & 0xff);
		apicv_tpr_virtualize(c);
		return;
	case VEOI:
		if (!vid(c))
			break;
		vput(c, VEOI, 0);
		eoi_virtualize(c);
		return;
	case VICR_LO:
		icr = vget(c, VICR_LO);
		/* Reserved bits 31:20, 17:16 and 13, delivery status (12) 0; shorthand (19:18)
		   self; trigger mode (15) edge; delivery mode (10:8) fixed; vector[7:4] != 0. */
		if (!vid(c) || (icr & 0xfff3b000u) || ((icr >> 18) & 3) != 1 || (icr & 0x8700) ||
		    !(icr & 0xf0))
			break;
		self_ipi_virtualize(c, (u8)icr);
		return;
	case VICR_HI:
		vput(c, VICR_HI, vget(c, VICR_HI) & 0xff000000u);
		return;
	}
	trap_exit(c, EXIT_REASON_APIC_WRITE, off);
}

/* --- x2APIC MSRs (30.5) --- */

/* The x2APIC registers APIC-register virtualization reads: the MSR is 800H + offset / 16. */
static bool x2apic_readable(u32 msr)
{
	unsigned reg = (msr & 0xff) << 4;

	/* 0x80A (PPR) is readable in x2APIC mode, 0x80B (EOI) and the xAPIC-only DFR (0x80E) and
	   ICR high (0x831) are not (SDM 11.12.1.2 Table 11-6). */
	switch (reg) {
	case 0x0a0:
		return true;
	case 0x0b0: case 0x0e0: case 0x310:
		return false;
	}
	return reg_virt_readable(reg);
}

/*
 * Whether "virtualize x2APIC mode" with these secondary controls virtualizes RDMSR (write
 * false) or WRMSR of `msr` (30.5): reads with APIC-register virtualization, the readable
 * registers, without it only 808H (VTPR); writes 808H (TPR) always, 80BH (EOI) and 83FH (self
 * IPI) with virtual-interrupt delivery. Any other access in 800H-8FFH operates normally.
 */
bool cpu_x2apic_virtualized(u32 proc2, u32 msr, bool write)
{
	if (!(proc2 & PROC2_VIRT_X2APIC) || msr - 0x800 > 0xff)
		return false;
	if (!write)
		return proc2 & PROC2_APIC_REG_VIRT ? x2apic_readable(msr) : msr == 0x808;
	return msr == 0x808 || ((msr == 0x80b || msr == 0x83f) && (proc2 & PROC2_VIRT_INTR_DELIVERY));
}

/* RDMSR (30.5.1): 8 bytes of the virtual-APIC page at offset (ECX & FFH) << 4. */
bool apicv_rdmsr(struct cpu *c, u32 msr, u64 *v)
{
	if (!c->ctl.virtual_apic || !cpu_x2apic_virtualized(c->ctl.proc2, msr, false))
		return false;
	memcpy(v, c->ctl.virtual_apic + ((msr & 0xff) << 4), 8);
	return true;
}

/*
 * WRMSR (30.5.2). Set reserved bits are #GP(0) (TPR and self IPI: bits 63:8; EOI: any bit). The
 * value lands on the page, then TPR virtualization, EOI virtualization, or self-IPI
 * virtualization when the vector is above 15 and an APIC-write exit (qualification 3F0H) when
 * it is not.
 */
bool apicv_wrmsr(struct cpu *c, u32 msr, u64 v)
{
	if (!c->ctl.virtual_apic || !cpu_x2apic_virtualized(c->ctl.proc2, msr, true))
		return false;
	switch (msr) {
	case 0x808:
		if (v >> 8)
			cpu_gp(c, 0);
		memcpy(c->ctl.virtual_apic + VTPR, &v, 8);
		apicv_tpr_virtualize(c);
		return true;
	case 0x80b:
		if (v)
			cpu_gp(c, 0);
		memcpy(c->ctl.virtual_apic + VEOI, &v, 8);
		eoi_virtualize(c);
		return true;
	case 0x83f:
		if (v >> 8)
			cpu_gp(c, 0);
		memcpy(c->ctl.virtual_apic + VSELF_IPI, &v, 8);
		if (!(v & 0xf0))
			trap_exit(c, EXIT_REASON_APIC_WRITE, VSELF_IPI);
		self_ipi_virtualize(c, (u8)v);
		return true;
	}
	return false;
}
