/* SPDX-License-Identifier: MIT */
/* The built-in demo guest, run by `tollbooth run` without IMAGE. DEMO_GUEST is its path. */
	.section .rodata
	.balign 16
	.globl demo_guest_start, demo_guest_end
demo_guest_start:
	.incbin DEMO_GUEST
demo_guest_end:
	.section .note.GNU-stack, "", @progbits
