/* SPDX-License-Identifier: MIT */
/*
 * The PC's two 8259A PICs (Intel 8259A datasheet): master at ports 0x20/0x21, slave at 0xa0/0xa1
 * cascaded on the master's IR2, and the PIIX/ICH edge/level control registers (ELCR) at ports
 * 0x4d0 (IRQ 0-7) and 0x4d1 (IRQ 8-15).
 *
 * Input: pic_set_irq(pic, irq 0..15, level), the irq_set_fn shape (IRQ 2 is the cascade and has no
 * ISA input: driving it does nothing). Output: `intr`, the master's INT pin, an irq_line the board
 * wires to LINT0 of the BSP's LAPIC (lapic_set_lint()). The vCPU that sees ExtINT pending
 * acknowledges with pic_intack(), the two INTA cycles in one call, and gets the vector.
 */
#pragma once
#include "common.h"
#include "devices/irq.h"

#define PIC_MASTER_BASE 0x20
#define PIC_SLAVE_BASE  0xa0
#define PIC_ELCR_BASE   0x4d0
#define PIC_CASCADE_IRQ 2

/* One 8259A. */
struct pic_chip {
	u8 irr, isr, imr;
	u8 lines;         /* IR input levels as driven */
	u8 elcr;          /* level-triggered IRs (ELCR) */
	u8 elcr_mask;     /* the ELCR bits that exist (IRQ 0, 1, 2, 8, 13 are always edge) */
	u8 vector_base;   /* ICW2 bits 7:3 */
	u8 icw3;
	u8 priority_add;  /* the IR with the highest priority (rotation) */
	u8 init_state;    /* 0: operational; 1, 2, 3: ICW2, ICW3, ICW4 expected next */
	bool icw4_needed, single, ltim, auto_eoi, rotate_on_auto_eoi, sfnm, special_mask;
	bool read_isr;    /* OCW3 RR/RIS: port A0=0 reads the ISR, else the IRR */
	bool poll;        /* OCW3 P: the next read is a poll */
};

struct pic {
	struct pic_chip chip[2]; /* master, slave */
	struct irq_line intr;    /* the master's INT */
};

void pic_init(struct pic *p);
/* The 8259A has no reset input; power-up leaves it in what ICW1 sets (IMR clear, IR7 lowest,
   edge, no AEOI, IRR read), unprogrammed (vector base 0), as QEMU and KVM model it; the ELCR is 0
   (PIIX4 and ICH reset value). `intr` is left wired and driven low. */
void pic_reset(struct pic *p);
/* Access functions (devices/bus.h): 2 ports each; wider accesses touch consecutive ports. */
void pic_master_access(void *opaque, u64 offset, u64 *data, unsigned len, bool is_write);
void pic_slave_access(void *opaque, u64 offset, u64 *data, unsigned len, bool is_write);
void pic_elcr_access(void *opaque, u64 offset, u64 *data, unsigned len, bool is_write);
void pic_set_irq(void *opaque, unsigned irq, bool level);
/* Interrupt acknowledge: the vector of the highest-priority request, which goes in service
   (unless AEOI); with none, the spurious IR7 vector of the master (or of the slave, IRQ 15, when
   the cascade was acknowledged) with no ISR bit set (8259A datasheet, "Interrupt sequence"). */
int pic_intack(struct pic *p);
