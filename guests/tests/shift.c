// SPDX-License-Identifier: MIT
/*
 * shift: ROL ROR RCL RCR SHL SHR SAR (8-64 bits) and SHLD SHRD (16-64 bits)
 * by CL counts 0..255 (masked by the CPU), against the build host (gen/shift_table.c).
 * Undefined results (SHLD/SHRD count > size) and undefined flags are not compared
 * (SDM vol. 2B SAL/SAR/SHL/SHR, RCL/RCR/ROL/ROR, SHLD, SHRD).
 */
#include "lib.h"
#include "alu_ops.h"
#include "shift_table.h"

int main(void)
{
	int op, si, fi, ai, ci, idx = 0, rd;
	int bad[SH_NOPS][4] = { 0 }, total[SH_NOPS][4] = { 0 };

	FOR_EACH_SHIFT_CASE(op, si, fi, ai, ci) {
		const struct alu_expect *e = &shift_table[idx++];
		u64 a = alu_values[ai], b = shift_counts[ci], fl;
		u64 r = shift_exec(op, sizes[si], a, SHIFT_B, b, flags_in[fi], &fl);
		u64 diff = (fl ^ e->flags) & shift_defined(op, sizes[si], b, &rd);

		total[op][si]++;
		if ((rd && r != e->res) || diff) {
			if (!bad[op][si])
				printf("  %s%d a=%#llx cl=%#llx fin=%#llx: got %#llx fl %#llx, want %#llx fl %#x\n",
				       shift_names[op], sizes[si], (unsigned long long)a,
				       (unsigned long long)b, (unsigned long long)flags_in[fi],
				       (unsigned long long)r, (unsigned long long)(fl & FL_ARITH),
				       (unsigned long long)e->res, e->flags);
			bad[op][si]++;
		}
	}
	for (op = 0; op < SH_NOPS; op++)
		for (si = 0; si < 4; si++)
			if (total[op][si])
				check(!bad[op][si], "%s/%d: %d cases, %d wrong", shift_names[op], sizes[si],
				      total[op][si], bad[op][si]);
	return report();
}
