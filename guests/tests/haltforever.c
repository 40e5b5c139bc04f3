// SPDX-License-Identifier: MIT
/*
 * haltforever: CLI; HLT with nothing that could wake the CPU (no NMI source, IF=0).
 * Expected: tollbooth notices the vCPU can never run again and reports "halt" and exits
 * non-zero (QEMU would hang: the harness must not run this one there without a timeout).
 */
#include "lib.h"

int main(void)
{
	printf("haltforever: cli; hlt\n");
	for (;;)
		asm volatile("cli; hlt");
}
