// SPDX-License-Identifier: MIT
/*
 * Unit tests of the VMCS (vmx/vmcs.c) and the capability MSRs (vmx/caps.c): every field of
 * vmx/vmcs_fields.h round-trips at its width, 64-bit fields' high halves, error 12 for every
 * encoding the list lacks (a sweep of all 2^15 encodings plus ones with reserved bits), error 13
 * for every VM-exit information field, names, the guest-dirty flag, and the capability MSRs.
 */
#include <string.h>

#include "check.h"
#include "arch/vmx.h"
#include "vmx/vmx.h"

struct field {
	u32 enc;
	const char *name;
};

static const struct field fields[] = {
#define X(NAME, name, enc) { (enc), #NAME },
#include "vmx/vmcs_fields.h"
#undef X
};

static u64 width_mask(u32 enc)
{
	switch (VMCS_ENC_WIDTH(enc)) {
	case VMCS_WIDTH_16:
		return 0xffff;
	case VMCS_WIDTH_32:
		return 0xffffffff;
	default:
		return ~0ull;
	}
}

static bool listed(u32 enc)
{
	for (size_t i = 0; i < ARRAY_SIZE(fields); i++)
		if (fields[i].enc == enc || (VMCS_ENC_WIDTH(fields[i].enc) == VMCS_WIDTH_64 &&
					     (fields[i].enc | 1) == enc))
			return true;
	return false;
}

static void test_round_trip(void)
{
	static struct vmcs v;
	const u64 pattern = 0xfedcba9876543210ull;

	vmcs_init(&v);
	for (size_t i = 0; i < ARRAY_SIZE(fields); i++) {
		u32 enc = fields[i].enc;
		bool ro = VMCS_ENC_TYPE(enc) == VMCS_TYPE_EXIT_INFO;
		u64 got = 1;

		if (ro) {
			CHECK_EQ(vmcs_write(&v, enc, pattern), VMXERR_WRITE_READONLY);
			CHECK_EQ(vmcs_read(&v, enc, &got), 0);
			CHECK_EQ(got, 0);
			vmcs_write_exit_info(&v, enc, pattern);
		} else {
			CHECK_EQ(vmcs_write(&v, enc, pattern), 0);
		}
		CHECK_EQ(vmcs_read(&v, enc, &got), 0);
		CHECK_EQ(got, pattern & width_mask(enc)); /* truncated to the width */
		CHECK(vmcs_field_supported(enc));
		CHECK(vmcs_field_name(enc) && !strcmp(vmcs_field_name(enc), fields[i].name));

		if (VMCS_ENC_WIDTH(enc) == VMCS_WIDTH_64) {
			char high[64];

			/* High half reads bits 63:32; writes change only them. */
			CHECK_EQ(vmcs_read(&v, enc | 1, &got), 0);
			CHECK_EQ(got, pattern >> 32);
			if (ro) {
				CHECK_EQ(vmcs_write(&v, enc | 1, 0x11223344), VMXERR_WRITE_READONLY);
			} else {
				CHECK_EQ(vmcs_write(&v, enc | 1, 0xaabbccdd11223344ull), 0);
				CHECK_EQ(vmcs_read(&v, enc, &got), 0);
				CHECK_EQ(got, 0x1122334476543210ull);
			}
			snprintf(high, sizeof(high), "%s_HIGH", fields[i].name);
			CHECK(vmcs_field_name(enc | 1) && !strcmp(vmcs_field_name(enc | 1), high));
		} else {
			/* No high half outside 64-bit fields. */
			CHECK_EQ(vmcs_read(&v, enc | 1, &got), VMXERR_UNSUPPORTED_COMPONENT);
			CHECK_EQ(vmcs_write(&v, enc | 1, 0), VMXERR_UNSUPPORTED_COMPONENT);
			CHECK(!vmcs_field_name(enc | 1));
		}
		/* The neighbour just past a field, when the list lacks it. */
		if (!listed(enc + 2)) {
			CHECK_EQ(vmcs_read(&v, enc + 2, &got), VMXERR_UNSUPPORTED_COMPONENT);
			CHECK_EQ(vmcs_write(&v, enc + 2, 0), VMXERR_UNSUPPORTED_COMPONENT);
		}
		/* Reserved encoding bits (12, 15 and up) never name a field. */
		CHECK_EQ(vmcs_read(&v, enc | BIT(12), &got), VMXERR_UNSUPPORTED_COMPONENT);
		CHECK_EQ(vmcs_read(&v, enc | BIT(15), &got), VMXERR_UNSUPPORTED_COMPONENT);
		CHECK_EQ(vmcs_write(&v, enc | BIT(31), 0), VMXERR_UNSUPPORTED_COMPONENT);
	}
}

/* All 2^15 encodings: supported exactly when listed. */
static void test_sweep(void)
{
	static struct vmcs v;
	unsigned wrong = 0, supported = 0, want = 0;
	u64 got;

	vmcs_init(&v);
	for (size_t i = 0; i < ARRAY_SIZE(fields); i++)
		want += VMCS_ENC_WIDTH(fields[i].enc) == VMCS_WIDTH_64 ? 2 : 1;
	for (u32 enc = 0; enc < 0x8000; enc++) {
		bool sup = vmcs_read(&v, enc, &got) == 0;

		supported += sup;
		if (sup != listed(enc) || sup != vmcs_field_supported(enc) ||
		    sup != (vmcs_field_name(enc) != NULL))
			wrong++;
	}
	CHECK_EQ(wrong, 0);
	CHECK_EQ(supported, want);
}

/* Width truncation of each width, by example. */
static void test_widths(void)
{
	static struct vmcs v;
	u64 got;

	vmcs_init(&v);
	CHECK_EQ(vmcs_write(&v, GUEST_CS_SELECTOR, 0x123456789ull), 0);
	CHECK_EQ(v.guest_cs_selector, 0x6789);
	CHECK_EQ(vmcs_write(&v, GUEST_CS_LIMIT, 0x123456789ull), 0);
	CHECK_EQ(v.guest_cs_limit, 0x23456789);
	CHECK_EQ(vmcs_write(&v, TSC_OFFSET, 0x8000000000000001ull), 0);
	CHECK_EQ(v.tsc_offset, 0x8000000000000001ull);
	CHECK_EQ(vmcs_write(&v, GUEST_RIP, 0xffffffff80001000ull), 0);
	CHECK_EQ(v.guest_rip, 0xffffffff80001000ull);
	CHECK_EQ(vmcs_read(&v, TSC_OFFSET | 1, &got), 0);
	CHECK_EQ(got, 0x80000000);
}

static void test_dirty_and_init(void)
{
	static struct vmcs v;

	memset(&v, 0xa5, sizeof(v));
	vmcs_init(&v);
	CHECK_EQ(v.revision_id, VMCS_REVISION_ID);
	CHECK(!v.launched);
	CHECK(!v.guest_dirty);
	CHECK_EQ(v.guest_rip, 0);
	CHECK_EQ(vmcs_write(&v, CPU_BASED_VM_EXEC_CONTROL, 1), 0);
	CHECK(!v.guest_dirty);
	CHECK_EQ(vmcs_write(&v, HOST_RIP, 1), 0);
	CHECK(!v.guest_dirty);
	CHECK_EQ(vmcs_write(&v, GUEST_RIP, 1), 0);
	CHECK_EQ(v.guest_dirty, VMCS_DIRTY_RIP); /* RIP alone: the entry checks only its rule */
	v.guest_dirty = 0;
	CHECK_EQ(vmcs_write(&v, GUEST_RIP, 1), 0);
	CHECK_EQ(v.guest_dirty, 0); /* the value already there: nothing changed */
	CHECK_EQ(vmcs_write(&v, GUEST_IA32_EFER | 1, 0), 0);
	CHECK_EQ(v.guest_dirty, 0);
	CHECK_EQ(vmcs_write(&v, GUEST_IA32_EFER | 1, 1), 0);
	CHECK_EQ(v.guest_dirty, VMCS_DIRTY_STATE);
	CHECK_EQ(vmcs_write(&v, GUEST_RIP, 2), 0);
	CHECK_EQ(v.guest_dirty, VMCS_DIRTY_RIP | VMCS_DIRTY_STATE);
	v.guest_dirty = 0;
	/* The guest interrupt status alone: RVI/SVI are reloaded, nothing is checked. */
	CHECK_EQ(vmcs_write(&v, GUEST_INTR_STATUS, 0x2031), 0);
	CHECK_EQ(v.guest_dirty, VMCS_DIRTY_INTR);
	v.guest_dirty = 0;
	CHECK_EQ(vmcs_write(&v, 0x2802 + 0x100, 0), VMXERR_UNSUPPORTED_COMPONENT);
	CHECK(!v.guest_dirty);
	VMCS_SET(&v, GUEST_CS_SELECTOR, 8);
	CHECK(v.guest_dirty);
}

static void test_dump(void)
{
	static struct vmcs v;
	char buf[65536];
	FILE *f = fmemopen(buf, sizeof(buf), "w");

	vmcs_init(&v);
	VMCS_SET(&v, GUEST_RIP, 0x1234);
	vmcs_dump(&v, f);
	fclose(f);
	CHECK(strstr(buf, "GUEST_RIP") != NULL);
	CHECK(strstr(buf, "0x1234") != NULL);
	CHECK(strstr(buf, "HOST_RIP") != NULL);
}

static u64 capv(u32 msr)
{
	u64 v = 0;

	CHECK_EQ(vmx_cap_msr(msr, &v), 0);
	return v;
}

static void test_caps(void)
{
	u64 v;

	CHECK_EQ(vmx_cap_msr(0x491, &v), -2);
	CHECK_EQ(vmx_cap_msr(0x47f, &v), -2);
	v = capv(MSR_IA32_VMX_BASIC);
	CHECK_EQ(v & 0x7fffffff, VMCS_REVISION_ID);
	CHECK_EQ((v >> 32) & 0x1fff, 4096);
	CHECK_EQ((v >> 50) & 0xf, 6);
	CHECK(v & BIT(54));
	CHECK(v & BIT(55));
	CHECK(!(v & BIT(48)));
	/* Default1 bits: pin 1, 2, 4 in both; proc 15, 16 clearable in TRUE only. */
	CHECK_EQ((u32)capv(MSR_IA32_VMX_PINBASED_CTLS), 0x16);
	CHECK_EQ((u32)capv(MSR_IA32_VMX_TRUE_PINBASED_CTLS), 0x16);
	CHECK_EQ(capv(MSR_IA32_VMX_PINBASED_CTLS) >> 32, 0xff);
	CHECK_EQ((u32)capv(MSR_IA32_VMX_PROCBASED_CTLS), 0x0401e172);
	CHECK_EQ((u32)capv(MSR_IA32_VMX_TRUE_PROCBASED_CTLS), 0x04006172);
	CHECK_EQ((u32)capv(MSR_IA32_VMX_EXIT_CTLS), 0x00036dff);
	CHECK_EQ((u32)capv(MSR_IA32_VMX_TRUE_EXIT_CTLS), 0x00036dfb);
	CHECK_EQ((u32)capv(MSR_IA32_VMX_ENTRY_CTLS), 0x000011ff);
	CHECK_EQ((u32)capv(MSR_IA32_VMX_TRUE_ENTRY_CTLS), 0x000011fb);
	CHECK_EQ(capv(MSR_IA32_VMX_PROCBASED_CTLS2),
		 (u64)(PROC2_VIRT_APIC_ACCESSES | PROC2_VIRT_X2APIC | PROC2_APIC_REG_VIRT |
		       PROC2_VIRT_INTR_DELIVERY | PROC2_ENABLE_EPT | PROC2_DESC_TABLE_EXITING |
		       PROC2_ENABLE_RDTSCP |
		       PROC2_ENABLE_VPID | PROC2_WBINVD_EXITING | PROC2_UNRESTRICTED_GUEST |
		       PROC2_PAUSE_LOOP_EXITING | PROC2_RDRAND_EXITING | PROC2_ENABLE_INVPCID |
		       PROC2_RDSEED_EXITING | PROC2_ENABLE_PML | PROC2_ENABLE_XSAVES |
		       PROC2_TSC_SCALING | PROC2_VMCS_SHADOWING)
			 << 32);
	CHECK(capv(MSR_IA32_VMX_PINBASED_CTLS) >> 32 & PIN_POSTED_INTERRUPTS);
	CHECK((capv(MSR_IA32_VMX_PROCBASED_CTLS) >> 32 & PROC_MONITOR_TRAP_FLAG));
	CHECK(!(capv(MSR_IA32_VMX_ENTRY_CTLS) >> 32 & ENTRY_CTL_ENTRY_TO_SMM));
	v = capv(MSR_IA32_VMX_MISC);
	CHECK_EQ(v & 0x1f, VMX_MISC_PREEMPTION_SHIFT);
	CHECK(v & BIT(5));
	CHECK_EQ((v >> 6) & 7, 1);
	CHECK_EQ((v >> 16) & 0x1ff, 4);
	CHECK_EQ((v >> 25) & 7, 0);
	CHECK(!(v & BIT(29)));
	CHECK_EQ(capv(MSR_IA32_VMX_CR0_FIXED0), 0x80000021);
	CHECK_EQ(capv(MSR_IA32_VMX_CR0_FIXED1), 0xffffffff);
	CHECK_EQ(capv(MSR_IA32_VMX_CR4_FIXED0), 0x2000);
	CHECK(capv(MSR_IA32_VMX_CR4_FIXED1) & 0x2000);
	CHECK_EQ(capv(MSR_IA32_VMX_VMCS_ENUM), vmcs_max_index() << 1);
	CHECK_EQ(vmcs_max_index(), 0x19); /* TSC_MULTIPLIER 0x2032 */
	v = capv(MSR_IA32_VMX_EPT_VPID_CAP);
	CHECK_EQ(v, 0x00000f0106334141ull);

	/* vmx_ctls_allowed: must-be-1 and may-be-1 halves. */
	CHECK(vmx_ctls_allowed(0x000000ff00000016ull, 0x16));
	CHECK(vmx_ctls_allowed(0x000000ff00000016ull, 0xff));
	CHECK(!vmx_ctls_allowed(0x000000ff00000016ull, 0x14));
	CHECK(!vmx_ctls_allowed(0x000000ff00000016ull, 0x116));
}

int main(void)
{
	test_round_trip();
	test_sweep();
	test_widths();
	test_dirty_and_init();
	test_dump();
	test_caps();
	return check_done("test_vmcs");
}
