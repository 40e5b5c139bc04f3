/* SPDX-License-Identifier: MIT */
/*
 * ACPI fixed hardware (ACPI 6.4, 4.8): the PM1a event block, the PM1a control block and the
 * power management timer, laid out as the board's FADT will describe them (platform contract):
 * PM1a_EVT_BLK at 0x600 (PM1_STS 0x600, PM1_EN 0x602), PM1a_CNT_BLK at 0x604, PM_TMR_BLK at
 * 0x608. The SCI is a level: high while an enabled status bit is set.
 *
 * Choices the firmware tables must match:
 * - The PM timer is 24 bits wide (FADT flags TMR_VAL_EXT = 0), as on PIIX4, ICH and QEMU, and
 *   runs at 3.579545 MHz from guest time 0.
 * - There is no SMM: the platform is always in ACPI mode, SCI_EN reads 1 and cannot be cleared
 *   (FADT SMI_CMD = 0, ACPI_ENABLE = ACPI_DISABLE = 0).
 * - S5 is SLP_TYP 5 (ACPI_SLP_TYP_S5; the DSDT's \_S5 package carries it). Writing SLP_EN with
 *   it powers off through the host callback; no other sleep state exists, so SLP_EN with any
 *   other type does nothing (the DSDT declares no other \_Sx).
 *
 * Wiring (board): acpi_pm_access for ports ACPI_PM_BASE .. + ACPI_PM_SIZE; `sci` to GSI 9, wired
 * before acpi_pm_init (init keeps it).
 */
#pragma once
#include "common.h"
#include "devices/irq.h"
#include "devices/timer.h"

#define ACPI_PM_BASE	0x600
#define ACPI_PM_SIZE	12 /* PM1a_EVT 0-3, PM1a_CNT 4-5, reserved 6-7, PM_TMR 8-11 */
#define ACPI_PM_SCI_GSI 9
#define ACPI_PM_TMR_HZ	3579545
#define ACPI_SLP_TYP_S5 5

/* Offsets in the block (the FADT's PM1a_EVT_BLK, PM1a_CNT_BLK and PM_TMR_BLK). */
#define ACPI_PM1_STS 0
#define ACPI_PM1_EN  2
#define ACPI_PM1_CNT 4
#define ACPI_PM_TMR  8

struct acpi_pm_host {
	void (*poweroff)(void *opaque); /* the guest entered S5 */
	void *opaque;
};

struct acpi_pm {
	struct timer_queue *q;
	struct timer timer; /* the next TMR_STS carry while TMR_EN could make it an SCI */
	struct irq_line sci;
	struct acpi_pm_host host;
	u16 sts, en, cnt;
	u64 tmr_seen; /* PM timer ticks up to which carries are in TMR_STS */
};

void acpi_pm_init(struct acpi_pm *pm, struct timer_queue *q, const struct acpi_pm_host *host);
/* Power-on: status and enables clear, SCI_EN set, SLP_TYP 0. The PM timer keeps running. */
void acpi_pm_reset(struct acpi_pm *pm);
/* Byte-addressable registers; a wider access covers consecutive bytes. Reserved bytes float. */
void acpi_pm_access(void *opaque, u64 offset, u64 *data, unsigned len, bool is_write);
/* The fixed power button (4.8.3.1.1 PWRBTN_STS): the host asks the guest to shut down. */
void acpi_pm_press_power_button(struct acpi_pm *pm);
