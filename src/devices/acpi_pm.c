// SPDX-License-Identifier: MIT
/*
 * ACPI PM1a event and control blocks and the PM timer; sections of ACPI 6.4: 4.8.3.1.1 PM1
 * Status Registers, 4.8.3.1.2 PM1 Enable Registers, 4.8.3.2.1 PM1 Control Registers, 4.8.3.3
 * Power Management Timer, 4.8.2.1 (TMR_STS on the timer's most significant bit changing).
 */
#include <string.h>

#include "devices/acpi_pm.h"

#define NS_PER_S 1000000000ull

#define TMR_STS		BIT(0)
#define BM_STS		BIT(4)
#define GBL_STS		BIT(5)
#define PWRBTN_STS	BIT(8)
#define SLPBTN_STS	BIT(9)
#define RTC_STS		BIT(10)
#define PCIEXP_WAKE_STS BIT(14)
#define WAK_STS		BIT(15)
/* Status bits of the PM1_STS layout; of these, this platform sets TMR_STS and PWRBTN_STS (no
   bus master, global lock, sleep button, RTC wake, PCIe wake or sleep states). */
#define STS_BITS                                                                                   \
	(TMR_STS | BM_STS | GBL_STS | PWRBTN_STS | SLPBTN_STS | RTC_STS | PCIEXP_WAKE_STS | WAK_STS)

#define TMR_EN		BIT(0)
#define GBL_EN		BIT(5)
#define PWRBTN_EN	BIT(8)
#define SLPBTN_EN	BIT(9)
#define RTC_EN		BIT(10)
#define PCIEXP_WAKE_DIS BIT(14)
#define EN_BITS		(TMR_EN | GBL_EN | PWRBTN_EN | SLPBTN_EN | RTC_EN | PCIEXP_WAKE_DIS)
/* Events that raise the SCI when both status and enable are set. */
#define SCI_EVENTS (TMR_STS | GBL_STS | PWRBTN_STS | SLPBTN_STS | RTC_STS)

#define SCI_EN	      BIT(0)
#define BM_RLD	      BIT(1)
#define GBL_RLS	      BIT(2) /* write-only: releases the global lock to an SMI handler */
#define SLP_TYP_SHIFT 10
#define SLP_TYP	      (7u << SLP_TYP_SHIFT)
#define SLP_EN	      BIT(13) /* write-only, reads 0 */
#define CNT_WRITABLE  (BM_RLD | SLP_TYP)

#define TMR_BITS  24
#define TMR_CARRY (1ull << (TMR_BITS - 1))

static u64 pm_ticks(u64 now)
{
	return (u64)((u128)now * ACPI_PM_TMR_HZ / NS_PER_S);
}

static u64 pm_tick_ns(u64 tick)
{
	return (u64)(((u128)tick * NS_PER_S + ACPI_PM_TMR_HZ - 1) / ACPI_PM_TMR_HZ);
}

/* TMR_STS sets whenever bit 23 of the timer changes, counted from the last look. */
static void pm_sync(struct acpi_pm *pm, u64 now)
{
	u64 t = pm_ticks(now);

	if (t / TMR_CARRY != pm->tmr_seen / TMR_CARRY)
		pm->sts |= TMR_STS;
	pm->tmr_seen = t;
}

/* SCI as a level: an enabled event with SCI_EN set (4.8.3.2.1: SCI_EN = 0 would make them SMIs,
   which this platform has not). The timer waits for the carry that would raise it. */
static void pm_settle(struct acpi_pm *pm)
{
	bool sci = (pm->cnt & SCI_EN) && (pm->sts & pm->en & SCI_EVENTS);

	if (sci != pm->sci.level)
		irq_set_level(&pm->sci, sci);
	if ((pm->en & TMR_EN) && !(pm->sts & TMR_STS))
		timer_arm(&pm->timer, pm_tick_ns((pm->tmr_seen / TMR_CARRY + 1) * TMR_CARRY));
	else
		timer_cancel(&pm->timer);
}

static void pm_fire(void *opaque, u64 now)
{
	struct acpi_pm *pm = opaque;

	pm_sync(pm, now);
	pm_settle(pm);
}

/* PM1_CNT: SLP_EN with SLP_TYP = S5 is the soft-off transition (16.1.7, 7.4.2.5 \_S5). */
static void pm_write_cnt(struct acpi_pm *pm, u16 v)
{
	pm->cnt = (u16)((pm->cnt & ~CNT_WRITABLE) | (v & CNT_WRITABLE));
	if ((v & SLP_EN) && ((v & SLP_TYP) >> SLP_TYP_SHIFT) == ACPI_SLP_TYP_S5 &&
	    pm->host.poweroff)
		pm->host.poweroff(pm->host.opaque);
}

static u8 pm_read_byte(const struct acpi_pm *pm, unsigned off)
{
	switch (off) {
	case ACPI_PM1_STS:
	case ACPI_PM1_STS + 1:
		return (u8)(pm->sts >> (8 * (off & 1)));
	case ACPI_PM1_EN:
	case ACPI_PM1_EN + 1:
		return (u8)(pm->en >> (8 * (off & 1)));
	case ACPI_PM1_CNT:
	case ACPI_PM1_CNT + 1:
		return (u8)(pm->cnt >> (8 * (off & 1)));
	case ACPI_PM_TMR:
	case ACPI_PM_TMR + 1:
	case ACPI_PM_TMR + 2:
		return (u8)(pm->tmr_seen >> (8 * (off - ACPI_PM_TMR)));
	case ACPI_PM_TMR + 3: /* TMR_VAL bits 31:24 read 0 with a 24-bit timer */
		return 0;
	default:
		return 0xff;
	}
}

void acpi_pm_access(void *opaque, u64 offset, u64 *data, unsigned len, bool is_write)
{
	struct acpi_pm *pm = opaque;
	u64 v = 0;

	pm_sync(pm, timer_now(pm->q));
	for (unsigned i = 0; i < len; i++) {
		u64 off = offset + i;
		unsigned shift = 8 * (off & 1);
		u16 b = (u16)((u8)(*data >> (8 * i)) << shift), lane = (u16)(0xff << shift);

		if (!is_write) {
			v |= (u64)(off < ACPI_PM_SIZE ? pm_read_byte(pm, (unsigned)off) : 0xff)
			     << (8 * i);
		} else if (off == ACPI_PM1_STS || off == ACPI_PM1_STS + 1) {
			pm->sts &= (u16) ~(b & STS_BITS); /* write 1 to clear */
		} else if (off == ACPI_PM1_EN || off == ACPI_PM1_EN + 1) {
			pm->en = (u16)((pm->en & ~lane) | (b & EN_BITS));
		} else if (off == ACPI_PM1_CNT || off == ACPI_PM1_CNT + 1) {
			pm_write_cnt(pm, (u16)((pm->cnt & ~lane) | b));
		}
		/* PM_TMR is read-only; reserved bytes ignore writes. */
	}
	if (!is_write)
		*data = v;
	pm_settle(pm);
}

void acpi_pm_press_power_button(struct acpi_pm *pm)
{
	pm_sync(pm, timer_now(pm->q));
	pm->sts |= PWRBTN_STS;
	pm_settle(pm);
}

void acpi_pm_reset(struct acpi_pm *pm)
{
	pm_sync(pm, timer_now(pm->q));
	pm->sts = 0;
	pm->en = 0;
	pm->cnt = SCI_EN;
	pm_settle(pm);
}

void acpi_pm_init(struct acpi_pm *pm, struct timer_queue *q, const struct acpi_pm_host *host)
{
	struct irq_line sci = pm->sci;

	memset(pm, 0, sizeof(*pm));
	pm->sci = sci;
	pm->q = q;
	pm->host = *host;
	timer_init(&pm->timer, q, pm_fire, pm, "acpi-pm");
	pm->tmr_seen = pm_ticks(timer_now(q));
	acpi_pm_reset(pm);
}
