// SPDX-License-Identifier: MIT
/*
 * alu: ADD ADC SUB SBB AND OR XOR CMP TEST INC DEC NEG NOT at 8/16/32/64 bits, with all
 * arithmetic flags clear and set on input, against results the build host's CPU produced
 * (guests/gen/alu_table.c).  Only flags the SDM defines are compared (vol. 1 3.4.3, vol. 2 per
 * instruction "Flags Affected").  One line per (operation, size).
 */
#include "lib.h"
#include "alu_ops.h"
#include "alu_table.h"

int main(void)
{
	int op, si, fi, ai, bi, idx = 0;
	int bad[ALU_NOPS][4] = { 0 }, total[ALU_NOPS][4] = { 0 };

	FOR_EACH_ALU_CASE(op, si, fi, ai, bi) {
		const struct alu_expect *e = &alu_table[idx++];
		u64 a = alu_values[ai], b = alu_values[bi], fl;
		u64 r = alu_exec(op, sizes[si], a, b, flags_in[fi], &fl);
		u64 diff = (fl ^ e->flags) & alu_defined(op);

		total[op][si]++;
		if (r != e->res || diff) {
			if (!bad[op][si])
				printf("  %s%d a=%#llx b=%#llx fin=%#llx: got %#llx fl %#llx, want %#llx fl %#x\n",
				       alu_names[op], sizes[si], (unsigned long long)a,
				       (unsigned long long)b, (unsigned long long)flags_in[fi],
				       (unsigned long long)r, (unsigned long long)(fl & FL_ARITH),
				       (unsigned long long)e->res, e->flags);
			bad[op][si]++;
		}
	}
	for (op = 0; op < ALU_NOPS; op++)
		for (si = 0; si < 4; si++)
			if (total[op][si])
				check(!bad[op][si], "%s/%d: %d cases, %d wrong", alu_names[op], sizes[si],
				      total[op][si], bad[op][si]);
	return report();
}
