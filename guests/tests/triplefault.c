// SPDX-License-Identifier: MIT
/*
 * triplefault: loads an empty IDT (limit 0) and raises #UD: the #UD gate is beyond the limit
 * (#GP), the #GP gate too (#DF), and the #DF gate too: shutdown (SDM 3A 7.15 interrupt 8,
 * "triple fault").  Expected: tollbooth reports a triple fault (VM exit reason 2) and exits
 * non-zero; QEMU with -no-reboot just exits with status 0.  Nothing after UD2 may run.
 */
#include "lib.h"

int main(void)
{
	static const struct __attribute__((packed)) { u16 limit; u64 base; } empty = { 0, 0 };

	printf("triplefault: loading an empty IDT and executing UD2\n");
	asm volatile("lidt %0; ud2" : : "m"(empty));
	printf("FAIL execution continued after the triple fault\n");
	return 1;
}
