// SPDX-License-Identifier: MIT
/*
 * vmexit_exception: an exception whose bit is set in the exception bitmap exits with basic reason
 * 0 (SDM vol. 3C 26.2), the VM-exit interruption information giving the vector, type 3 (hardware
 * exception), "error code valid" and the valid bit, and the interruption error code (28.2.2);
 * the VMM reflects it into the guest, which then sees an ordinary exception. The VMM's policy
 * intercepts #AC as KVM does (a guest could otherwise hang the host CPU in an endless #AC
 * delivery, CVE-2015-5307), so a misaligned load at CPL 3 with CR0.AM and RFLAGS.AC set is the
 * test (SDM vol. 3A 6.15, Interrupt 17). An aligned load with AC set must not exit.
 */
#include "vmexit.h"

DEFINE_XREC;

static u64 data[2];

static u64 u_misaligned_load(u64 addr)
{
	u64 v;

	asm volatile("pushfq; orq %2, (%%rsp); popfq\n\t"
		     "movl (%1), %k0\n\t"
		     "pushfq; andq %3, (%%rsp); popfq"
		     : "=&r"(v)
		     : "r"(addr), "i"(RFLAGS_AC), "i"(~RFLAGS_AC)
		     : "memory", "cc");
	return v;
}

int main(void)
{
	vmm_probe();
	write_cr0(read_cr0() | CR0_AM);
	u64 aligned = (u64)&data[0], misaligned = aligned + 1;

	/* An aligned access: no #AC, no exit. Once first, untimed: under shadow paging (--vmx
	   ept=off) the first touch of the user pages is a #PF exit that fills the shadow. */
	(void)CATCH(user_call(u_misaligned_load, aligned));
	volatile u64 before = vmm_present() ? exit_count(XR_EXCEPTION_NMI) : 0;
	int vec = CATCH(user_call(u_misaligned_load, aligned));
	check(vec == -1, "aligned load with AC set at CPL 3: no fault (vector %d)", vec);
	if (vmm_present())
		check(exit_count(XR_EXCEPTION_NMI) == before,
		      "aligned load: no exception exit");

	vec = EXPECT_EXIT("misaligned load at CPL 3 with AC", XR_EXCEPTION_NMI, 0, XANY,
			  user_call(u_misaligned_load, misaligned));
	check(vec == AC_VECTOR && last_fault.error == 0,
	      "the guest gets #AC(0) after the VMM reflects it (vector %d error %#llx)", vec,
	      (unsigned long long)last_fault.error);
	if (vmm_present()) {
		u64 info = xrec.intr_info, err = xrec.intr_error;

		/* Table 25-17: bits 7:0 vector, 10:8 type, 11 error code valid, 31 valid. */
		check(info == (BIT(31) | BIT(11) | 3u << 8 | AC_VECTOR),
		      "interruption information: valid, error code, hardware exception, 17 (%#llx)",
		      (unsigned long long)info);
		check(err == 0, "interruption error code 0 (%#llx)", (unsigned long long)err);
	}
	write_cr0(read_cr0() & ~CR0_AM);
	return report();
}
