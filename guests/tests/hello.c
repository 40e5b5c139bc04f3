// SPDX-License-Identifier: MIT
/* hello: the smallest guest; checks the multiboot hand-off (EAX = 0x2BADB002, spec 3.2). */
#include "lib.h"

int main(void)
{
	printf("hello from tollbooth guest\n");
	check(mb_magic == MB_BOOT_MAGIC, "multiboot magic in EAX (%#lx)", mb_magic);
	check(read_cr0() & CR0_PG, "long mode paging on");
	return report();
}
