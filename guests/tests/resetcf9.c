// SPDX-License-Identifier: MIT
/*
 * resetcf9: the FADT's RESET_REG, 0x06 to port 0xcf9 (SYS_RST with RST_CPU: a hard reset, ICH
 * "RST_CNT"), as Linux's reboot=acpi does. tollbooth ends the run with status 0 there, as QEMU
 * with -no-reboot does (a directly loaded guest has no firmware to restart into); reaching the
 * next line means the write did nothing, which fails (status 3).
 */
#include "lib.h"

int main(void)
{
	printf("resetcf9: 0x06 to port 0xcf9\n");
	outb(0xcf9, 0x06);
	check(false, "the reset control register ended the run");
	return report();
}
