// SPDX-License-Identifier: MIT
/*
 * vmexit_invlpg: with --vmx invlpg-exiting=on, INVLPG exits with basic reason 14 and the linear
 * address as qualification (SDM vol. 3C 26.1.3, Table 28-1). With invpcid=on as well, INVPCID
 * exits with 58 (it exits only when both "enable INVPCID" and "INVLPG exiting" are 1; without
 * "enable INVPCID" it is #UD); qualification = displacement, instruction information
 * (Table 28-13): 1:0 scale, 9:7 address size, 17:15 segment, 21:18 index, 22 index invalid,
 * 26:23 base, 27 base invalid, 31:28 reg2.
 */
#include "vmexit.h"

DEFINE_XREC;

static u8 page[4096] __attribute__((aligned(4096)));
static struct { u64 pcid, addr; } desc __attribute__((aligned(16)));

int main(void)
{
	vmm_probe();
	page[0] = 1;
	EXPECT_EXIT("invlpg (%rax)", XR_INVLPG, (u64)page, 3,
		    asm volatile(MARK_IP "invlpg (%%rax)" : : "a"(page) : "memory"));
	EXPECT_EXIT("invlpg 0x10(%r9)", XR_INVLPG, (u64)page + 0x10, 5,
		    asm volatile("mov %0, %%r9\n\t" MARK_IP "invlpg 0x10(%%r9)" : : "r"(page)
				 : "r9", "memory"));
	EXPECT_EXIT("invlpg of an unmapped address", XR_INVLPG, 0x7000000000ull, 3,
		    asm volatile(MARK_IP "invlpg (%%rax)" : : "a"(0x7000000000ull) : "memory"));
	check(page[0] == 1, "memory intact after INVLPG");

	if (!has_feature(7, REG_EBX, 10)) {
		/*
		 * Not advertised: with "enable INVPCID" = 0 it is #UD before any exit (26.3); with 1
		 * a CPU that has it exits anyway. Either is faithful; anything else is not.
		 */
		volatile u64 before = vmm_present() ? exit_count(XR_INVPCID) : 0;
		int vec = CATCH(asm volatile("invpcid (%%rax), %%rbx"
					     : : "a"(&desc), "b"(2ull) : "memory"));
		u64 n = vmm_present() ? exit_count(XR_INVPCID) - before : 0;
		check((vec == UD_VECTOR && n == 0) || (vec == -1 && n == 1 && !expect_none) ||
		      (vec == -1 && expect_none),
		      "INVPCID not advertised: #UD without exit, or exit 58 (vector %d, exits %llu)",
		      vec, (unsigned long long)n);
		return report();
	}
	int vec = EXPECT_EXIT("invpcid type 2", XR_INVPCID, 0, 5,
			      asm volatile(MARK_IP "invpcid (%%rax), %%rbx"
					   : : "a"(&desc), "b"(2ull) : "memory"));
	check(vec == -1, "INVPCID type 2 completes (vector %d)", vec);
	if (vmm_present() && !expect_none) {
		u32 info = (u32)xrec.info;
		check((info >> 7 & 7) == 2 && (info >> 15 & 7) == 3 && (info & BIT(22)) &&
		      (info >> 23 & 15) == 0 && !(info & BIT(27)) && info >> 28 == 3,
		      "INVPCID info: 64-bit address, DS, no index, base RAX, reg2 RBX (%#x)", info);
	}
	return report();
}
