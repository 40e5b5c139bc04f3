// SPDX-License-Identifier: MIT
/*
 * RDRAND, RDSEED, RDPID and RDFSBASE/RDGSBASE/WRFSBASE/WRGSBASE (SDM vol. 2, each instruction's
 * page; VMX behaviour from vol. 3C 26.1.3 and 26.3).
 *
 * RDRAND and RDSEED take their bytes from the host's getrandom(2) without blocking; when it has
 * none to give (early boot of the host) the instruction reports failure as the hardware may:
 * CF = 0 and a zero destination, which software retries. The guest's random numbers are the
 * one input that makes runs differ (a deterministic --tsc virtual run included).
 */
#include <sys/random.h>

#include "cpu/ops.h"
#include "cpu/ops_ext.h"

static u32 proc2_enabled(const struct cpu *c)
{
	return (c->ctl.proc & PROC_SECONDARY_CONTROLS) ? c->ctl.proc2 : 0;
}

/*
 * RDRAND r16/32/64 (0F C7 /6), RDSEED (0F C7 /7), register forms, operand size by 66 and REX.W.
 * "RDRAND exiting" / "RDSEED exiting" make them exit (reasons 57, 61) with the destination
 * register in bits 6:3 and the operand size in bits 12:11 of the instruction information (SDM
 * vol. 3C 26.1.3, 28.2.5). Success: the value, CF = 1; failure: 0, CF = 0; OF SF ZF AF PF are
 * cleared either way.
 */
void op_rdrand(struct cpu *c, const struct insn *d)
{
	bool seed = d->sub == 7;
	u32 ctl = seed ? PROC2_RDSEED_EXITING : PROC2_RDRAND_EXITING;
	u64 v = 0, f;

	if (proc2_enabled(c) & ctl) {
		c->exit->insn_info = (u32)d->rm << 3 | (u32)(d->osz == 2   ? 0
							     : d->osz == 4 ? 1
									   : 2)
							       << 11;
		cpu_vmexit(c, seed ? EXIT_REASON_RDSEED : EXIT_REASON_RDRAND, 0);
	}
	f = flags_get(c) & ~X86_ARITH_FLAGS;
	if (getrandom(&v, d->osz, GRND_NONBLOCK) == (ssize_t)d->osz)
		f |= X86_CF;
	else
		v = 0;
	reg_write(c, d->rm, v, d->osz);
	flags_set(c, f);
}

/* RDPID r32/r64 (F3 0F C7 /7, register form): IA32_TSC_AUX, 64 bits in 64-bit mode. It is #UD
   unless "enable RDTSCP" (SDM vol. 3C 26.3). */
void op_rdpid(struct cpu *c, const struct insn *d)
{
	if (!(proc2_enabled(c) & PROC2_ENABLE_RDTSCP))
		cpu_ud(c);
	reg_write(c, d->rm, (u32)c->tsc_aux, c->code_bits == 64 ? 8 : 4);
}

/*
 * RDFSBASE, RDGSBASE, WRFSBASE, WRGSBASE (F3 0F AE /0-/3, register forms): 64-bit mode only and
 * with CR4.FSGSBASE, else #UD; 32-bit operands (zero-extended) unless REX.W; a write of a
 * non-canonical address is #GP(0).
 */
void op_fsgsbase(struct cpu *c, const struct insn *d)
{
	unsigned seg = d->sub & 1 ? SEG_GS : SEG_FS, n = d->pfx & PFX_REXW ? 8 : 4;
	struct x86_segment s;
	u64 v;

	if (c->code_bits != 64 || !(c->cr4 & CR4_FSGSBASE))
		cpu_ud(c);
	if (d->sub < 2) {
		reg_write(c, d->rm, c->seg[seg].base & size_mask(n), n);
		return;
	}
	v = reg_read(c, d->rm, n);
	if (!is_canonical(v))
		cpu_gp(c, 0);
	s = c->seg[seg];
	s.base = v;
	seg_commit(c, seg, &s);
}
