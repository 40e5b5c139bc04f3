// SPDX-License-Identifier: MIT
/*
 * Port I/O in VMX non-root operation: IN, OUT, INS, OUTS, the I/O permission checks, the I/O
 * exit and the instruction's completion when the vCPU next runs. Handlers keep the order of
 * checks of cpu/internal.h ("System instructions").
 *
 * Model-specific choices (see docs/cpu.md): port I/O with no exit reaches no device: IN reads all
 * ones, OUT is dropped.
 */
#include "cpu/internal.h"
#include "cpu/ops.h"

/* --- Port I/O (SDM vol. 1 19.5, vol. 3C 26.1.3, 27.2.1 Table 27-5, 27.2.5 Table 27-8) --- */

/* Protected mode with CPL > IOPL, and virtual-8086 mode whatever IOPL (SDM vol. 1 19.5.2, vol.
   3B 20.2.8.1): every port of the access must be clear in the I/O permission bitmap of a
   32/64-bit TSS, else #GP(0). */
static void io_permission_tss(struct cpu *c, u16 port, unsigned size)
{
	const struct x86_segment *tr = &c->seg[SEG_TR];
	u64 base, bits;

	if ((tr->ar & AR_UNUSABLE) || (AR_TYPE(tr->ar) & 9) != 9 || tr->limit < 103)
		cpu_gp(c, 0);
	base = sys_read(c, tr->base + 102, 2) + port / 8;
	if (base + 1 > tr->limit)
		cpu_gp(c, 0);
	bits = sys_read(c, tr->base + base, 2);
	if (bits & (((1u << size) - 1) << (port & 7)))
		cpu_gp(c, 0);
}

static always_inline void io_permission(struct cpu *c, u16 port, unsigned size)
{
	if (unlikely(!iopl_ok(c) || cpu_v86(c)))
		io_permission_tss(c, port, size);
}

bool cpu_io_bitmap_exits(u32 proc, const u8 *bitmap_a, const u8 *bitmap_b, u16 port,
			 unsigned size)
{
	if (!(proc & PROC_USE_IO_BITMAPS))
		return proc & PROC_UNCOND_IO_EXITING;
	for (unsigned i = 0; i < size; i++) {
		u32 p = (u32)port + i;
		const u8 *bm = p < 0x8000 ? bitmap_a : bitmap_b;

		if (p > 0xffff || !bm || ((bm[(p & 0x7fff) / 8] >> (p & 7)) & 1))
			return true;
	}
	return false;
}

/*
 * Finishes one element of an I/O instruction described by an exit record (c->insn_rip is the
 * instruction): IN writes AL/AX/EAX (EAX zero-extends into RAX); INS stores the element at
 * ES:rDI, as the instruction's own store or, `vmm`, as the VMM's (mmu_vmm_write: completing an
 * exit, see cpu_io_string); string forms step rSI/rDI by the element size (down if DF) in the
 * address size; REP decrements rCX and, until it reaches 0, leaves RIP on the instruction so it
 * runs again.
 */
static void io_finish_string(struct cpu *c, const struct vm_exit *io, bool vmm)
{
	unsigned size = io->io.size, asz = 2u << ((io->insn_info >> 7) & 7);
	u64 delta = (c->rflags & X86_DF) ? -(u64)size : size;

	if (io->qual & IO_QUAL_IN) {
		u64 di = reg_read(c, R_RDI, asz), v = io->io.data;

		if (vmm)
			mmu_vmm_write(c, SEG_ES, di, size, &v);
		else
			mem_write(c, SEG_ES, di, v, size);
		reg_write(c, R_RDI, di + delta, asz);
	} else {
		reg_write(c, R_RSI, reg_read(c, R_RSI, asz) + delta, asz);
	}
	c->break_block = 1;
	if (io->qual & IO_QUAL_REP) {
		u64 cx = reg_read(c, R_RCX, asz) - 1;

		reg_write(c, R_RCX, cx, asz);
		if (cx & size_mask(asz)) {
			c->rip = c->insn_rip;
			return;
		}
	}
	c->rip = c->insn_rip + io->insn_len;
}

static always_inline void io_finish(struct cpu *c, const struct vm_exit *io, bool vmm)
{
	if (unlikely(io->qual & IO_QUAL_STRING)) {
		io_finish_string(c, io, vmm);
		return;
	}
	if (io->qual & IO_QUAL_IN)
		reg_write(c, R_RAX, io->io.data, io->io.size);
	c->rip = c->insn_rip + io->insn_len;
}

void cpu_io_cancel(struct cpu *c)
{
	c->io.pending = 0;
}

void io_complete(struct cpu *c)
{
	c->io.pending = 0;
	c->insn_rip = c->rip;
	io_finish(c, &c->io.io, true);
}

/*
 * The exit record of one element of IN/OUT/INS/OUTS after the permission checks: port, size,
 * direction, OUT data (OUTS: none yet, see cpu_io_string); string forms: address size and
 * segment in the instruction information (SDM vol. 3C 28.2.5 Table 28-8) and the element's
 * linear address (28.2.4). IN data reads all ones until someone answers.
 */
static void io_record(const struct insn *d, struct vm_exit *io, u16 port, unsigned size, u64 qual,
		      u32 data, u64 lin)
{
	memset(io, 0, sizeof(*io));
	io->qual = qual | (size - 1) | (u64)port << 16;
	io->insn_len = d->len;
	io->io.port = port;
	io->io.size = (u8)size;
	io->io.in = !!(qual & IO_QUAL_IN);
	io->io.data = io->io.in ? (u32)size_mask(size) : data;
	if (qual & IO_QUAL_STRING) {
		io->insn_info = asz_code(d->asz) << 7 | (u32)((qual & IO_QUAL_IN) ? SEG_ES : d->seg)
							       << 15;
		io->guest_linear = lin;
	}
}

/* Exit 30 if the controls say so, keeping a copy of the record for io_complete(), and true: the
   handler returns at once (cpu_vmexit_insn). Else false: there is no device, so the instruction
   completes with IN reading all ones, OUT dropped. */
static bool io_maybe_exit(struct cpu *c, const struct vm_exit *io)
{
	struct vm_exit *e = c->exit;

	if (!cpu_io_bitmap_exits(c->ctl.proc, c->ctl.io_bitmap_a, c->ctl.io_bitmap_b, io->io.port,
				 io->io.size))
		return false;
	c->io.io = *io;
	c->io.io.reason = EXIT_REASON_IO_INSTRUCTION;
	c->io.io.rip = c->insn_rip;
	c->io.pending = 1;
	e->insn_len = io->insn_len;
	e->insn_info = io->insn_info;
	e->guest_linear = io->guest_linear;
	e->io = io->io;
	cpu_vmexit_insn(c, EXIT_REASON_IO_INSTRUCTION, io->qual);
	return true;
}

/* cpu_io_bitmap_exits with a one-byte access looked up inline: the common IN/OUT AL. */
static always_inline bool io_exits(const struct cpu *c, u16 port, unsigned size)
{
	u32 proc = c->ctl.proc;
	const u8 *bm = port < 0x8000 ? c->ctl.io_bitmap_a : c->ctl.io_bitmap_b;

	if (size != 1 || !(proc & PROC_USE_IO_BITMAPS) || !bm)
		return cpu_io_bitmap_exits(proc, c->ctl.io_bitmap_a, c->ctl.io_bitmap_b, port, size);
	return (bm[(port & 0x7fff) / 8] >> (port & 7)) & 1;
}

/*
 * IN/OUT (not INS/OUTS): io_record and io_maybe_exit without building a whole record to copy
 * twice. Like io_maybe_exit it writes c->io.io only when the instruction exits: recording every
 * element there (one path for all forms) lost nested posted interrupts in the Linux test's
 * nested KVM (0 processed in 2 of 6 boots against 80-300), so a pending record can be live
 * while other I/O instructions run. The exit record gets what io_maybe_exit gives it (its other fields are the entry's
 * zeros), the completion copy what io_finish reads of a non-string element. False: no exit.
 */
static always_inline bool io_exit_simple(struct cpu *c, const struct insn *d, u16 port,
					 unsigned size, u64 qual, u32 data)
{
	struct vm_exit *e = c->exit, *io = &c->io.io;
	bool in = qual & IO_QUAL_IN;

	if (!io_exits(c, port, size))
		return false;
	qual |= (size - 1) | (u64)port << 16;
	io->reason = EXIT_REASON_IO_INSTRUCTION;
	io->qual = qual;
	io->rip = c->insn_rip;
	io->insn_len = d->len;
	io->insn_info = 0;
	io->guest_linear = 0;
	io->io.port = port;
	io->io.size = (u8)size;
	io->io.in = in;
	io->io.data = in ? (u32)size_mask(size) : data;
	c->io.pending = 1;
	e->insn_len = d->len;
	e->insn_info = 0;
	e->guest_linear = 0;
	e->io = io->io;
	cpu_vmexit_insn(c, EXIT_REASON_IO_INSTRUCTION, qual);
	return true;
}

/* E4-E7 take the port from imm8 (qualification bit 6), EC-EF from DX. Operand size 1/2/4. */
static u16 io_port(struct cpu *c, const struct insn *d, u64 *qual)
{
	if ((d->opcode & 0xff) < 0xec) {
		*qual |= IO_QUAL_IMM;
		return (u16)d->imm;
	}
	return (u16)c->gpr[R_RDX];
}

static unsigned io_size(const struct insn *d)
{
	return d->osz > 4 ? 4 : d->osz;
}

void op_in(struct cpu *c, const struct insn *d)
{
	u64 qual = IO_QUAL_IN;
	u16 port = io_port(c, d, &qual);
	unsigned size = io_size(d);

	io_permission(c, port, size);
	if (io_exit_simple(c, d, port, size, qual, 0))
		return;
	reg_write(c, R_RAX, size_mask(size), size); /* no device: all ones */
}

void op_out(struct cpu *c, const struct insn *d)
{
	u64 qual = 0;
	u16 port = io_port(c, d, &qual);
	unsigned size = io_size(d);

	io_permission(c, port, size);
	io_exit_simple(c, d, port, size, qual, (u32)reg_read(c, R_RAX, size));
	/* no exit: no device, the byte is dropped */
}

/*
 * INS/OUTS. The I/O exit has priority over the faults of the memory operand: #GP for an
 * unusable segment or an offset beyond its limit, #AC (SDM vol. 3C 26.1.1), and, being a
 * fault-like exit, over #PF too. So the exit comes before memory is touched or checked, and
 * the VMM makes the memory access (cpu_io_string). Without an exit the instruction makes its
 * own: INS checks ES:rDI for writing before the port is read; OUTS reads seg:rSI. A REP form
 * with rCX = 0 does nothing.
 */
void op_ins(struct cpu *c, const struct insn *d)
{
	u16 port = (u16)c->gpr[R_RDX];
	unsigned size = io_size(d);
	u64 qual = IO_QUAL_IN | IO_QUAL_STRING, di = reg_read(c, R_RDI, d->asz);
	struct vm_exit io;

	io_permission(c, port, size);
	if (d->rep != REP_NONE) {
		if (!reg_read(c, R_RCX, d->asz))
			return;
		qual |= IO_QUAL_REP;
	}
	io_record(d, &io, port, size, qual, 0, (c->seg_base[SEG_ES] + di) & c->lin_mask);
	if (io_maybe_exit(c, &io))
		return;
	mem_probe_write(c, SEG_ES, di, size);
	io_finish(c, &io, false);
}

void op_outs(struct cpu *c, const struct insn *d)
{
	u16 port = (u16)c->gpr[R_RDX];
	unsigned size = io_size(d);
	u64 qual = IO_QUAL_STRING, si = reg_read(c, R_RSI, d->asz);
	struct vm_exit io;

	io_permission(c, port, size);
	if (d->rep != REP_NONE) {
		if (!reg_read(c, R_RCX, d->asz))
			return;
		qual |= IO_QUAL_REP;
	}
	io_record(d, &io, port, size, qual, 0, (c->seg_base[d->seg] + si) & c->lin_mask);
	if (io_maybe_exit(c, &io))
		return;
	mem_read(c, d->seg, si, size);
	io_finish(c, &io, false);
}

/*
 * The VMM's memory access for an INS/OUTS exit (cpu.h). Runs outside cpu_run(), so faults come
 * back through a setjmp of its own, as in cpu_set_msr(). #GP, #SS, #PF and #AC all push an
 * error code (SDM vol. 3A Table 6-1).
 */
int cpu_io_string(struct cpu *c, struct vm_exit *exit, struct cpu_fault *f)
{
	const struct vm_exit *io = &c->io.io;
	unsigned size = io->io.size, asz = 2u << ((io->insn_info >> 7) & 7);
	unsigned seg = (io->insn_info >> 15) & 7;
	cpu_jmp_buf saved;
	int ret = 0;

	if (!c->io.pending || !(io->qual & IO_QUAL_STRING))
		return 0;
	memcpy(saved, c->jb, sizeof(saved));
	c->insn = NULL;
	c->insn_rip = c->rip; /* a fault restores RIP from here: it stays on the instruction */
	if (cpu_setjmp(c->jb)) {
		f->vector = c->fault_vector;
		f->has_error = true;
		f->error = c->fault_error;
		f->cr2 = c->fault_vector == X86_PF_VEC ? c->fault_cr2 : 0;
		c->io.pending = 0;
		ret = 1;
	} else if (io->qual & IO_QUAL_IN) {
		mmu_vmm_write(c, SEG_ES, reg_read(c, R_RDI, asz), size, NULL);
	} else {
		exit->io.data = (u32)mmu_vmm_read(c, seg, reg_read(c, R_RSI, asz), size);
	}
	memcpy(c->jb, saved, sizeof(saved));
	return ret;
}
