/* SPDX-License-Identifier: MIT */
/*
 * Local APIC, one per vCPU (Intel SDM vol. 3A chapter 11): xAPIC registers in a 4 KiB page at
 * IA32_APIC_BASE, x2APIC registers through MSRs 0x800-0x8ff, the local vector table, interrupt
 * acceptance and priorities (IRR/ISR/TMR, TPR/PPR/APR), EOI, the ICR, the timer (one-shot,
 * periodic, TSC-deadline) and the error status register.
 *
 * The model is the VMM's, as KVM's lapic.c: the LAPIC decides what is pending; the VMM injects it
 * (VT-x without APICv). The vCPU side, before each entry, asks lapic_pending_events() (NMI, INIT,
 * SIPI, SMI, ExtINT) and lapic_pending_vector(); when the guest can take an interrupt it calls
 * lapic_intack() and injects the vector it returns. For ExtINT it asks the 8259A (pic_intack()).
 * The LAPIC calls host.kick whenever something new became pending, from any thread holding the
 * device lock (an IPI from another vCPU, the timer, an IOAPIC or MSI message).
 *
 * Registers live in `regs`, laid out as the xAPIC register page (SDM Table 11-1), which is also
 * the layout of the VMX virtual-APIC page (SDM 3C 30.1): the TPR shadow, APIC-register
 * virtualization and virtual-interrupt delivery can later work on this page directly. In x2APIC
 * mode the ID register holds the 32-bit x2APIC ID and ICR high the 32-bit destination, as KVM does.
 *
 * Not here: IA32_TSC_ADJUST (MSR 0x3b) belongs to the CPU's TSC (SDM 17.17.3), not the LAPIC.
 */
#pragma once
#include "common.h"
#include "devices/apic.h"
#include "devices/timer.h"

#define LAPIC_DEFAULT_BASE 0xfee00000ull
#define LAPIC_MMIO_SIZE    0x1000

/* MSRs the LAPIC answers (lapic_msr_owns()). */
#define MSR_IA32_APICBASE    0x1b
#define MSR_IA32_TSCDEADLINE 0x6e0
#define MSR_X2APIC_FIRST     0x800
#define MSR_X2APIC_LAST      0x8ff

/* IA32_APIC_BASE (SDM 11.4.4, 11.12.1). */
#define APICBASE_BSP  BIT(8)
#define APICBASE_EXTD BIT(10)
#define APICBASE_EN   BIT(11)

/* xAPIC register offsets (SDM Table 11-1); the x2APIC MSR is 0x800 + offset / 16 (SDM 11.12.1.2). */
#define APIC_ID      0x020
#define APIC_LVR     0x030
#define APIC_TPR     0x080
#define APIC_APR     0x090
#define APIC_PPR     0x0a0
#define APIC_EOI     0x0b0
#define APIC_RRD     0x0c0
#define APIC_LDR     0x0d0
#define APIC_DFR     0x0e0
#define APIC_SVR     0x0f0
#define APIC_ISR     0x100
#define APIC_TMR     0x180
#define APIC_IRR     0x200
#define APIC_ESR     0x280
#define APIC_LVT_CMCI 0x2f0
#define APIC_ICR     0x300
#define APIC_ICR2    0x310
#define APIC_LVTT    0x320
#define APIC_LVTTHMR 0x330
#define APIC_LVTPC   0x340
#define APIC_LVT0    0x350
#define APIC_LVT1    0x360
#define APIC_LVTERR  0x370
#define APIC_TMICT   0x380
#define APIC_TMCCT   0x390
#define APIC_TDCR    0x3e0
#define APIC_SELF_IPI 0x3f0

/* What this LAPIC reports in the version register (SDM 11.4.8): an integrated xAPIC (0x14, as
   KVM and QEMU), 7 LVT entries (CMCI included: max LVT entry 6), EOI-broadcast suppression. */
#define LAPIC_VERSION   0x14
#define LAPIC_NR_LVT    7
#define APIC_LVR_DIRECTED_EOI BIT(24)

/* SVR (SDM 11.9, Figure 11-23). */
#define APIC_SVR_ENABLE        BIT(8)
#define APIC_SVR_FOCUS_DISABLE BIT(9)
#define APIC_SVR_DIRECTED_EOI  BIT(12)

/* ESR bits (SDM 11.5.3) the current architecture defines; bits 0-3 (checksum and accept errors)
   are the P6 and Pentium APIC bus's and never set here. */
#define APIC_ESR_REDIRECTABLE_IPI BIT(4)
#define APIC_ESR_SEND_ILLEGAL     BIT(5)
#define APIC_ESR_RECV_ILLEGAL     BIT(6)
#define APIC_ESR_ILLEGAL_REGISTER BIT(7)

/* LVT fields (SDM 11.5.1, Figure 11-8). */
#define APIC_LVT_VECTOR      0xffu
#define APIC_LVT_DM_SHIFT    8
#define APIC_LVT_DM          (7u << 8)
#define APIC_LVT_PENDING     BIT(12)
#define APIC_LVT_POLARITY    BIT(13)
#define APIC_LVT_REMOTE_IRR  BIT(14)
#define APIC_LVT_LEVEL       BIT(15)
#define APIC_LVT_MASKED      BIT(16)
#define APIC_LVT_TIMER_SHIFT 17
#define APIC_LVT_TIMER_MODE  (3u << 17)
enum apic_timer_mode {
	APIC_TIMER_ONESHOT = 0,
	APIC_TIMER_PERIODIC = 1,
	APIC_TIMER_TSCDEADLINE = 2, /* 3 is reserved: the timer does not count */
};

/* ICR (SDM 11.6.1, Figure 11-12; x2APIC Figure 11-28). */
#define APIC_ICR_DM_SHIFT   8
#define APIC_ICR_DEST_LOGICAL BIT(11)
#define APIC_ICR_BUSY       BIT(12)
#define APIC_ICR_LEVEL      BIT(14)
#define APIC_ICR_TRIGGER    BIT(15)
#define APIC_ICR_SH_SHIFT   18

/* The LVT entries, in register order with CMCI first (its register is apart, at 0x2f0). */
enum lapic_lvt {
	LAPIC_LVT_CMCI,
	LAPIC_LVT_TIMER,
	LAPIC_LVT_THERMAL,
	LAPIC_LVT_PMC,
	LAPIC_LVT_LINT0,
	LAPIC_LVT_LINT1,
	LAPIC_LVT_ERROR,
};

/* Events the vCPU must act on (lapic_pending_events()); fixed interrupts go through the IRR. */
#define LAPIC_EV_NMI    BIT(0)
#define LAPIC_EV_INIT   BIT(1)
#define LAPIC_EV_SIPI   BIT(2)
#define LAPIC_EV_SMI    BIT(3)
#define LAPIC_EV_EXTINT BIT(4) /* ask the 8259A for the vector (pic_intack()) */

struct lapic;

struct lapic_host {
	/* Put a message on the APIC bus (an ICR write whose shorthand is not "self"); the board
	   routes it, to this LAPIC too for "all including self" (apic_bus_deliver()). */
	void (*send)(void *opaque, struct lapic *from, const struct apic_msg *msg);
	/* EOI of a level-triggered vector, for the IOAPICs (ioapic_eoi()), unless the guest set
	   EOI-broadcast suppression in the SVR (SDM 11.8.5). */
	void (*eoi)(void *opaque, u8 vector);
	/* Something new is pending for this vCPU: wake it if it halts, make it re-check if it runs. */
	void (*kick)(void *opaque);
	/* The vCPU's guest TSC now (IA32_TIME_STAMP_COUNTER, with its offset and scaling). */
	u64 (*guest_tsc)(void *opaque);
	/* The guest TSC's ticks per second, for TSC-deadline mode, when the host knows it only
	   later (a measured rate); NULL or 0: lapic_config.tsc_hz. */
	u64 (*tsc_hz)(void *opaque);
	void *opaque;
};

struct lapic_config {
	u32 apic_id;         /* the initial (x2)APIC ID: CPUID.01H:EBX[31:24], CPUID.0BH:EDX */
	bool bsp;            /* IA32_APIC_BASE.BSP at reset */
	bool x2apic;         /* CPUID.01H:ECX.x2APIC[21] advertised: EXTD may be set */
	unsigned maxphyaddr; /* IA32_APIC_BASE bits at and above it are reserved */
	u64 bus_hz;          /* the timer's clock before the divider (KVM and QEMU: 1 GHz) */
	u64 tsc_hz;          /* the guest TSC frequency, for TSC-deadline mode */
};

struct lapic {
	/* The xAPIC register page; page-aligned, as it is the VMX virtual-APIC page under APIC
	   virtualization (the VMM maps it for the soft CPU, vmm/board.c). */
	u8 regs[LAPIC_MMIO_SIZE] __attribute__((aligned(4096)));
	/* Each register as the model last stored it (lapic_apic_write: under APIC-register
	   virtualization the CPU writes the page before the VMM sees the write). */
	u32 applied[LAPIC_MMIO_SIZE / 16];
	u64 apic_base;    /* IA32_APIC_BASE */
	u64 tsc_deadline; /* IA32_TSC_DEADLINE; 0: disarmed */
	/* The count: it held `load_count` at guest time `load_ns`, decrementing once per
	   (divider / bus_hz) since; in periodic mode it reloads TMICT on reaching 0. */
	u64 load_ns;
	u32 load_count;
	bool counting;     /* one-shot/periodic count running (not stopped at 0 or by TMICT 0) */
	u32 esr_pending;   /* errors detected since the last ESR write (SDM 11.5.3) */
	bool error_armed;  /* an error may raise the LVT error interrupt (rearmed by ESR writes) */
	u32 events;        /* LAPIC_EV_* latched by messages */
	u8 sipi_vector;
	bool lint[2];      /* LINT0/LINT1 input levels, as driven */
	u64 lp_last;       /* apic_bus: when this LAPIC last won a lowest-priority arbitration */
	struct timer timer;
	struct lapic_config cfg;
	struct lapic_host host;
};

/* 0, or -EINVAL for a bad configuration (bus_hz or tsc_hz 0, maxphyaddr outside 36..52, an
   x2APIC ID above 0xfe without x2APIC, 0xffffffff). Then lapic_reset(). */
int lapic_init(struct lapic *l, const struct lapic_config *cfg, const struct lapic_host *host,
	       struct timer_queue *q);
/* Power-up/RESET (SDM 11.4.7.1): xAPIC mode at 0xfee00000, software-disabled, LVTs masked. */
void lapic_reset(struct lapic *l);
/* INIT (SDM 11.4.7.3): as reset, except the APIC ID and IA32_APIC_BASE (and the x2APIC mode it
   holds) are kept. The VMM calls it when it processes LAPIC_EV_INIT. */
void lapic_init_reset(struct lapic *l);

/* --- the guest's accesses --- */

/* Does the xAPIC page decode guest-physical `gpa`? Only in xAPIC mode (EN=1, EXTD=0); a disabled
   or x2APIC-mode LAPIC leaves the range to the rest of the platform (SDM 11.4.3, 11.12.1.2). */
bool lapic_mmio_decodes(const struct lapic *l, u64 gpa);
/* The xAPIC page's access function (devices/bus.h), offset from IA32_APIC_BASE. */
void lapic_mmio_access(void *opaque, u64 offset, u64 *data, unsigned len, bool is_write);
/* IA32_APIC_BASE, IA32_TSC_DEADLINE and the x2APIC range. */
bool lapic_msr_owns(u32 msr);
/* 0, or -EINVAL: the CPU raises #GP(0) (SDM 11.12.1.2, 11.12.1.3, 11.12.5, 11.5.4.1). */
int lapic_rdmsr(struct lapic *l, u32 msr, u64 *val);
int lapic_wrmsr(struct lapic *l, u32 msr, u64 val);

/* --- the APIC bus side --- */

bool lapic_hw_enabled(const struct lapic *l);  /* IA32_APIC_BASE.EN */
bool lapic_x2apic_mode(const struct lapic *l); /* EN and EXTD */
bool lapic_sw_enabled(const struct lapic *l);  /* SVR bit 8 (SDM 11.4.7.2) */
/* Does this LAPIC's ID/LDR/DFR select it for `msg`'s destination field (SDM 11.6.2; x2APIC
   11.12.10)? Shorthands are the bus's business, not this function's. */
bool lapic_match_dest(const struct lapic *l, const struct apic_msg *msg);
/* The arbitration priority (SDM 11.6.2.4, the APR) and whether this LAPIC is the focus for
   `vector` (the vector is in service or pending, and focus checking is on). */
u8 lapic_apr(const struct lapic *l);
bool lapic_is_focus(const struct lapic *l, u8 vector);
/* Receive a message this LAPIC was selected for. Returns whether it accepted it (false: globally
   or (fixed, lowest priority) software-disabled, illegal vector, reserved delivery mode). */
bool lapic_accept(struct lapic *l, const struct apic_msg *msg);
/* The LINT0/LINT1 input pins (irq_set_fn shape): the 8259A's INTR on LINT0 of the BSP, NMI on
   LINT1. With the APIC globally disabled LINT0 is INTR and LINT1 NMI (SDM 11.4.3). */
void lapic_set_lint(void *opaque, unsigned pin, bool level);
/* A CMCI, thermal or performance-monitoring interrupt from the CPU (SDM 11.5.1). */
void lapic_raise_lvt(struct lapic *l, enum lapic_lvt lvt);

/* --- the vCPU side --- */

/* The highest IRR vector whose priority class is above the PPR's (SDM 11.8.4), or -1. */
int lapic_pending_vector(const struct lapic *l);
/* Interrupt acknowledge: the pending vector moves from IRR to ISR and is returned; with nothing
   deliverable the spurious vector (SVR[7:0], SDM 11.9) is returned and nothing is set in service. */
/* CR8 in 64-bit mode is the TPR's task-priority class (SDM vol. 3A 11.8.6.1): MOV to CR8 sets
   TPR[7:4] to CR8[3:0] and TPR[3:0] to 0; MOV from CR8 reads TPR[7:4]. */
void lapic_set_cr8(struct lapic *l, u8 cr8);
u8 lapic_get_cr8(const struct lapic *l);
int lapic_intack(struct lapic *l);
/*
 * Under VT-x APIC virtualization (SDM vol. 3C chapter 30) the CPU works on `regs` itself: it moves
 * vectors from IRR to ISR (virtual-interrupt delivery), clears ISR at EOI and keeps TPR and PPR.
 * The VMM then asks for the highest IRR vector (RVI, -1 for none) and the level-triggered vectors
 * (TMR, for the EOI-exit bitmap), finishes an EOI the CPU virtualized for a vector of the
 * EOI-exit bitmap (lapic_eoi_vector: remote IRR, the IOAPIC's EOI), and completes a register
 * write the CPU left on the page with an APIC-write exit (lapic_apic_write: ICR low, and the
 * x2APIC SELF IPI at 3F0H).
 */
int lapic_highest_irr(const struct lapic *l);
int lapic_highest_isr(const struct lapic *l);
/* Vectors posted for this LAPIC (a PIR the CPU did not take, 30.6) into IRR, as KVM's
   sync_pir_to_irr: 256 bits, vector v at bit v % 64 of word v / 64. */
void lapic_or_irr(struct lapic *l, const u64 vectors[4]);
void lapic_tmr(const struct lapic *l, u64 tmr[4]);
void lapic_eoi_vector(struct lapic *l, u8 vector);
/* A write of 0 to the EOI register by the CPU itself (SDM 11.8.5): how posted-interrupt
   processing dismisses the notification vector it was given (SDM vol. 3C 30.6). */
void lapic_eoi(struct lapic *l);
void lapic_apic_write(struct lapic *l, unsigned offset);
/* Store a register's value as firmware would leave it (no side effects): board reset's LVT0. */
void lapic_poke(struct lapic *l, unsigned offset, u32 v);
/* LAPIC_EV_* pending (EXTINT also while LINT0 routes the 8259A's INTR and it is high). */
u32 lapic_pending_events(const struct lapic *l);
/* Clear the events in `mask` the vCPU has taken; returns which of them were pending. For SIPI the
   vector goes to *sipi_vector. EXTINT clears a latched ExtINT message; the LINT0 level stays. */
u32 lapic_take_events(struct lapic *l, u32 mask, u8 *sipi_vector);
