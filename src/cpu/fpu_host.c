// SPDX-License-Identifier: MIT
/*
 * The host's x87 runs the guest's x87 arithmetic: the one file that knows the host is x86-64.
 *
 * Why. tollbooth runs only on x86-64 hosts (the block compiler emits host code), and the host's
 * x87 is the reference implementation of what the guest asks for: 80-bit extended arithmetic with
 * the guest's precision and rounding control, the IEEE results and flags, the masked responses
 * and, with the guest's masks loaded, the unmasked ones (no write for #I #D #Z, the bias-adjusted
 * result of #O and #U on the stack, no store to memory, SDM vol. 1 8.5), the stack fault rules,
 * C0-C3, and the transcendental instructions to the hardware's own accuracy. A soft-float would
 * have to reproduce each of those; here they are right by construction. A port to a host without
 * an x87 replaces this file with a soft-float behind fpu_host_exec() (fpu.h).
 *
 * How. The guest's state goes into an FNSAVE image (32-bit protected-mode format, SDM vol. 1
 * Figure 8-10) that FRSTOR loads with the exception flags clear, so no exception is pending when
 * the instruction starts. The instruction itself is the guest's two bytes, opcode and ModRM, from a
 * table of stubs; a memory form's ModRM is rewritten to [rax], which points at a buffer of the
 * operand. Afterwards only non-waiting instructions touch the x87 (FNSAVE, FLDCW) so an
 * unmasked exception the instruction raised stays pending in the image and never traps on the
 * host; FNSAVE leaves the host x87 initialized, and FLDCW gives back the caller's control word.
 */
#include <string.h>

#include "cpu/fpu.h"

/* FNSAVE/FRSTOR image, 32-bit protected mode (SDM vol. 1 8.1.10, Figures 8-10 and 8-12). */
struct fnsave32 {
	u32 fcw, fsw, ftw, fip, fop_fcs, fdp, fds;
	u8 st[8][10];
} __attribute__((packed));
_Static_assert(sizeof(struct fnsave32) == 108, "FNSAVE image");

/*
 * Stubs: for each first byte D8-DF, 8 memory forms (ModRM mod 00, rm 000: [rax], by ModRM.reg)
 * then the 64 register forms (ModRM C0-FF), each "opcode, ModRM, RET, INT3" (4 bytes). The table
 * holds every encoding; the decoder only lets valid non-control ones reach it.
 *
 * tb_fpu_host_call(image, stub, mem, rflags): FRSTOR image, load the arithmetic flags from
 * *rflags (unless rflags is NULL), call the stub with RAX = mem, store the flags to *rflags,
 * FNSAVE image. FNSAVE leaves the x87 initialized, FCW 037FH; the caller's control word, which
 * the ABI makes callee-saved, is reloaded only when it was something else (FLDCW costs as much as
 * a third of the round trip). POPFQ/PUSHFQ only for FCMOVcc and FCOMI.
 */
__asm__(".pushsection .text\n"
	".p2align 4\n"
	".globl tb_fpu_host_stubs\n"
	".hidden tb_fpu_host_stubs\n"
	"tb_fpu_host_stubs:\n"
	".irp op, 0xd8, 0xd9, 0xda, 0xdb, 0xdc, 0xdd, 0xde, 0xdf\n"
	".irp r, 0, 1, 2, 3, 4, 5, 6, 7\n"
	".byte \\op, \\r << 3, 0xc3, 0xcc\n"
	".endr\n"
	".set tb_fpu_modrm, 0xc0\n"
	".rept 64\n"
	".byte \\op, tb_fpu_modrm, 0xc3, 0xcc\n"
	".set tb_fpu_modrm, tb_fpu_modrm + 1\n"
	".endr\n"
	".endr\n"
	"\n"
	".p2align 4\n"
	".globl tb_fpu_host_call\n"
	".hidden tb_fpu_host_call\n"
	".type tb_fpu_host_call, @function\n"
	"tb_fpu_host_call:\n"
	"	push %rbx\n"
	"	sub $16, %rsp\n"
	"	fnstcw (%rsp)\n"
	"	mov %rcx, 8(%rsp)\n"
	"	mov %rdi, %rbx\n"
	"	frstor (%rbx)\n"
	"	mov %rdx, %rax\n"
	"	test %rcx, %rcx\n"
	"	jz 1f\n"
	"	pushq (%rcx)\n"
	"	popfq\n"
	"	call *%rsi\n"
	"	pushfq\n"
	"	mov 16(%rsp), %rcx\n"
	"	popq (%rcx)\n"
	"	jmp 2f\n"
	"1:	call *%rsi\n"
	"2:	fnsave (%rbx)\n"
	"	cmpw $0x37f, (%rsp)\n"
	"	je 3f\n"
	"	fldcw (%rsp)\n"
	"3:	add $16, %rsp\n"
	"	pop %rbx\n"
	"	ret\n"
	".size tb_fpu_host_call, . - tb_fpu_host_call\n"
	".popsection\n");

extern const u8 tb_fpu_host_stubs[];
void tb_fpu_host_call(struct fnsave32 *img, const void *stub, void *mem, u64 *rflags);

void fpu_host_exec(struct fpu_host *h, u8 opc, u8 modrm, void *mem)
{
	unsigned op = opc & 7, idx;
	struct fnsave32 img;
	/* Only the arithmetic flags reach the host: DF, TF, AC and the rest stay the host's. */
	u64 fl = (h->rflags & X86_ARITH_FLAGS) | X86_FIXED1;
	/* FCMOVcc reads them, FCOMI and friends write them: DA/DB C0-DF, DB/DF E8-F7. */
	bool flags = modrm >= 0xc0 && (((op == 2 || op == 3) && modrm < 0xe0) ||
				       ((op == 3 || op == 7) && modrm >= 0xe8 && modrm < 0xf8));

	if (modrm >= 0xc0)
		idx = op * 72 + 8 + (modrm & 0x3f);
	else
		idx = op * 72 + ((modrm >> 3) & 7);
	memset(&img, 0, sizeof(img));
	img.fcw = h->fcw;
	img.fsw = h->fsw;
	img.ftw = h->ftw;
	memcpy(img.st, h->st, sizeof(img.st));
	tb_fpu_host_call(&img, tb_fpu_host_stubs + 4 * idx, mem, flags ? &fl : NULL);
	h->fsw = (u16)img.fsw;
	h->ftw = (u16)img.ftw;
	memcpy(h->st, img.st, sizeof(h->st));
	h->rflags = fl;
}
