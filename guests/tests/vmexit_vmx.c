// SPDX-License-Identifier: MIT
/*
 * vmexit_vmx: VMCALL (basic reason 18) and the hypercall ABI of src/vmm/hypercall.h, and the VMX
 * instructions, which exit unconditionally in VMX non-root operation (SDM vol. 3C 26.1.2:
 * VMCLEAR 19, VMLAUNCH 20, VMPTRLD 21, VMPTRST 22, VMREAD 23, VMRESUME 24, VMWRITE 25, VMXOFF 26,
 * VMXON 27, INVEPT 50, INVVPID 53). CPUID does not advertise VMX, so the VMM answers each with
 * #UD, as KVM does without nested VMX. Qualification for a memory operand is the displacement.
 */
#include "vmexit.h"

DEFINE_XREC;

static u64 region[512] __attribute__((aligned(4096)));
static u64 v;

static u64 user_vmcall(u64 nr)
{
	return hypercall(nr, 0);
}

#define VMX_INSN(name, reason, len, qual, ...)                                             \
	do {                                                                               \
		int vec = EXPECT_EXIT(name, reason, qual, len, __VA_ARGS__);               \
		check(vec == UD_VECTOR && last_fault.rip == expected_ip,                   \
		      "%s: #UD on the instruction (vector %d)", name, vec);               \
	} while (0)

int main(void)
{
	if (vmm_probe() == 1) {
		u64 before = exit_count(XR_VMCALL);
		u64 after = exit_count(XR_VMCALL);
		check_eq(after - before, 1, "each VMCALL is one exit 18");
		check_eq(hypercall(HC_GET_VERSION, 0), HC_ABI_VERSION, "HC_GET_VERSION");
		check_eq(hypercall(12345, 0), (u64)(s64)HC_ENOSYS, "unknown hypercall: HC_ENOSYS");
		check_eq(hypercall(HC_LAST_EXIT, 999), (u64)(s64)HC_EINVAL,
			 "HC_LAST_EXIT unknown field: HC_EINVAL");
		cpuid(0, 0);
		check_eq(hypercall(HC_LAST_EXIT, HC_EXIT_REASON), XR_CPUID,
			 "HC_LAST_EXIT skips VMCALLs: still CPUID");
		check_eq(user_call(user_vmcall, HC_GET_VERSION), (u64)(s64)HC_EPERM,
			 "VMCALL from CPL 3: HC_EPERM");
	} else {
		skip("VMCALL: no tollbooth VMM");
	}
	check(!has_feature(1, REG_ECX, 5), "CPUID.1:ECX.VMX is clear");

	VMX_INSN("vmxon (%rax)", XR_VMON, 4, 0,
		 asm volatile(MARK_IP "vmxon (%%rax)" : : "a"(region) : "memory", "cc"));
	VMX_INSN("vmclear (%rax)", XR_VMCLEAR, 4, 0,
		 asm volatile(MARK_IP "vmclear (%%rax)" : : "a"(region) : "memory", "cc"));
	VMX_INSN("vmptrld 8(%rax)", XR_VMPTRLD, 4, 8,
		 asm volatile(MARK_IP "vmptrld 8(%%rax)" : : "a"(region) : "memory", "cc"));
	VMX_INSN("vmptrst (%rax)", XR_VMPTRST, 3, 0,
		 asm volatile(MARK_IP "vmptrst (%%rax)" : : "a"(region) : "memory", "cc"));
	VMX_INSN("vmread %rax, %rbx", XR_VMREAD, 3, XANY,
		 asm volatile(MARK_IP "vmread %%rax, %%rbx" : "=b"(v) : "a"(0x4400ull) : "cc"));
	VMX_INSN("vmwrite %rbx, %rax", XR_VMWRITE, 3, XANY,
		 asm volatile(MARK_IP "vmwrite %%rbx, %%rax" : : "a"(0x681eull), "b"(0ull) : "cc"));
	VMX_INSN("vmlaunch", XR_VMLAUNCH, 3, XANY, asm volatile(MARK_IP "vmlaunch" : : : "cc"));
	VMX_INSN("vmresume", XR_VMRESUME, 3, XANY, asm volatile(MARK_IP "vmresume" : : : "cc"));
	VMX_INSN("vmxoff", XR_VMOFF, 3, XANY, asm volatile(MARK_IP "vmxoff" : : : "cc"));
	VMX_INSN("invept (%rax), %rbx", 50, 5, 0,
		 asm volatile(MARK_IP "invept (%%rax), %%rbx" : : "a"(region), "b"(2ull)
			      : "memory", "cc"));
	VMX_INSN("invvpid (%rax), %rbx", 53, 5, 0,
		 asm volatile(MARK_IP "invvpid (%%rax), %%rbx" : : "a"(region), "b"(2ull)
			      : "memory", "cc"));
	return report();
}
