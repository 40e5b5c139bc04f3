// SPDX-License-Identifier: MIT
/*
 * poweroff: ACPI soft-off as Linux's acpi_power_off does it: SLP_TYPa = 5 (the DSDT's \_S5) and
 * SLP_EN in PM1a_CNT at port 0x604 (ACPI 6.4 4.8.3.2.1, 7.4.2). The run must end there with
 * status 0; reaching the next line means the write did nothing, which fails (status 3).
 */
#include "lib.h"

int main(void)
{
	check((inw(0x604) & 1) == 1, "PM1a_CNT.SCI_EN reads 1 (ACPI mode, no SMI_CMD)");
	printf("poweroff: S5 through PM1a_CNT\n");
	outw(0x604, (5 << 10) | (1 << 13));
	check(false, "the S5 write powered the machine off");
	return report();
}
