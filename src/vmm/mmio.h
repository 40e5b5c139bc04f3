/* SPDX-License-Identifier: MIT */
/*
 * MMIO through EPT violations: a hardware VMM learns only the guest-physical address and the
 * access type (SDM vol. 3C 28.2.1, Table 28-7), so it decodes the faulting instruction itself,
 * does the access on the MMIO bus and completes the instruction. The forms compilers emit for
 * device registers are decoded: MOV r/m<->reg (88, 89, 8A, 8B), MOV r/m, imm (C6 /0, C7 /0),
 * MOVZX/MOVSX (0F B6, B7, BE, BF) and MOV with a memory offset (A0-A3), with the prefixes 66, 67,
 * REX and segment overrides.
 */
#pragma once
#include "common.h"

struct vcpu;
struct vm_exit;

#define MMIO_INSN_MAX 15 /* the architectural limit on instruction length */

/* The execution mode the instruction is decoded in (CS.L, CS.D, CR0.PE). */
enum mmio_mode { MMIO_MODE16, MMIO_MODE32, MMIO_MODE64 };

struct mmio_insn {
	u8 len;	      /* instruction length */
	bool write;   /* to memory */
	u8 size;      /* bytes accessed in memory: 1, 2, 4 or 8 */
	bool has_imm; /* C6/C7: the value written is `imm` (already sign-extended to `size`) */
	u64 imm;
	u8 reg;	     /* register operand: 0-15, or for 8-bit operands without REX 4-7 = AH-BH */
	bool high8;  /* reg 4-7 name AH, CH, DH, BH (8-bit operand, no REX prefix) */
	u8 reg_size; /* bytes written to the register on a read (MOVZX/MOVSX: wider than size) */
	bool sign_extend; /* MOVSX */
};

/*
 * Decode `n` bytes fetched at the faulting RIP: 0, or -EINVAL for an instruction outside the
 * forms above (or -EAGAIN when `n` bytes end before the instruction does).
 */
int mmio_decode(const u8 *bytes, size_t n, enum mmio_mode mode, struct mmio_insn *insn);

/*
 * The value a register gets from reading `data` (`insn->size` bytes) by a decoded instruction,
 * given the register's old value: 8/16-bit writes keep the other bits, 32-bit writes zero the
 * upper half (SDM vol. 1 3.4.1.1), AH-BH are bits 15:8. And the value a write takes from a
 * register.
 */
u64 mmio_reg_merge(const struct mmio_insn *insn, u64 old, u64 data);
u64 mmio_reg_value(const struct mmio_insn *insn, u64 reg);

/*
 * The EPT violation on MMIO without a backend-decoded access (exit->mmio.valid clear): fetch the
 * instruction at RIP, decode it, do the bus access at exit->guest_phys, write the registers back
 * and advance RIP. Stops the run with one message naming the bytes when it cannot.
 */
int mmio_emulate(struct vcpu *vcpu, const struct vm_exit *exit);
