// SPDX-License-Identifier: MIT
/*
 * vmexit_desc: with --vmx desc-table-exiting=on, LGDT LIDT SGDT SIDT exit with basic reason 46
 * and LLDT LTR SLDT STR with 47 (SDM vol. 3C 26.1.3). Qualification = displacement of a memory
 * operand. Instruction information: Table 28-10 (GDTR/IDTR) and 28-11 (LDTR/TR): 1:0 scale,
 * 6:3 reg1 (LDTR/TR register operand), 9:7 address size (2 = 64-bit), 10 reg/mem
 * (LDTR/TR), 17:15 segment (3 = DS), 21:18 index, 22 index invalid, 26:23 base, 27 base
 * invalid, 29:28 identity (SGDT SIDT LGDT LIDT; SLDT STR LLDT LTR).
 */
#include "vmexit.h"

DEFINE_XREC;

static struct __attribute__((packed)) { u16 limit; u64 base; } dt, dt2;
static u8 buf[32];
static u16 sel;

/* Memory form through (%rax) or disp(%rax): 64-bit address, DS, no index, base RAX. */
static void check_mem_info(const char *what, u32 identity)
{
	u32 info = (u32)xrec.info;

	if (!vmm_present())
		return;
	check((info >> 7 & 7) == 2 && (info >> 15 & 7) == 3 && (info & BIT(22)) &&
	      (info >> 23 & 15) == 0 && !(info & BIT(27)) && (info >> 28 & 3) == identity &&
	      !(info & BIT(10)),
	      "%s info: 64-bit address, DS, base RAX, no index, identity %u (%#x)", what, identity,
	      info);
}

static void check_reg_info(const char *what, u32 identity, u32 reg)
{
	u32 info = (u32)xrec.info;

	if (!vmm_present())
		return;
	check((info & BIT(10)) && (info >> 3 & 15) == reg && (info >> 28 & 3) == identity,
	      "%s info: register %u, identity %u (%#x)", what, reg, identity, info);
}

int main(void)
{
	vmm_probe();
	EXPECT_EXIT("sgdt (%rax)", XR_GDTR_IDTR, 0, 3,
		    asm volatile(MARK_IP "sgdt (%%rax)" : : "a"(&dt) : "memory"));
	check_mem_info("sgdt", 0);
	check(dt.base == (u64)gdt && dt.limit >= 8 * 8 - 1, "SGDT stored the GDT (%#llx/%#x)",
	      (unsigned long long)dt.base, dt.limit);
	EXPECT_EXIT("sidt 8(%rax)", XR_GDTR_IDTR, 8, 4,
		    asm volatile(MARK_IP "sidt 8(%%rax)" : : "a"(buf) : "memory"));
	check_mem_info("sidt", 1);
	memcpy(&dt2, buf + 8, sizeof(dt2));
	check(dt2.limit == 256 * 16 - 1, "SIDT stored a 256-entry IDT (%#x)", dt2.limit);
	EXPECT_EXIT("lgdt (%rax)", XR_GDTR_IDTR, 0, 3,
		    asm volatile(MARK_IP "lgdt (%%rax)" : : "a"(&dt) : "memory"));
	check_mem_info("lgdt", 2);
	EXPECT_EXIT("lidt 8(%rax)", XR_GDTR_IDTR, 8, 4,
		    asm volatile(MARK_IP "lidt 8(%%rax)" : : "a"(buf) : "memory"));
	check_mem_info("lidt", 3);
	memset(&dt, 0, sizeof(dt));
	asm volatile("sidt %0" : "=m"(dt));
	check(dt.base == dt2.base && dt.limit == dt2.limit, "LIDT loaded the same IDT back");
	check(CATCH(asm volatile("int3")) == BP_VECTOR, "exceptions still delivered after LIDT");

	EXPECT_EXIT("sldt %ax", XR_LDTR_TR, XANY, 4,
		    asm volatile(MARK_IP "sldt %%ax" : "=a"(sel)));
	check_reg_info("sldt", 0, 0);
	EXPECT_EXIT("str %bx", XR_LDTR_TR, XANY, 4, asm volatile(MARK_IP "str %%bx" : "=b"(sel)));
	check_reg_info("str", 1, 3);
	check_eq(sel, SEL_TSS, "STR reads the TSS selector");
	EXPECT_EXIT("sldt (%rax)", XR_LDTR_TR, 0, 3,
		    asm volatile(MARK_IP "sldt (%%rax)" : : "a"(buf) : "memory"));
	check_mem_info("sldt (mem)", 0);
	EXPECT_EXIT("lldt %cx (null selector)", XR_LDTR_TR, XANY, 3,
		    asm volatile(MARK_IP "lldt %%cx" : : "c"(0)));
	check_reg_info("lldt", 2, 1);
	return report();
}
