// SPDX-License-Identifier: MIT
/*
 * MSR policy. Kinds:
 *   MSR_RO            reads give the value; any WRMSR raises #GP (IA32_FEATURE_CONTROL reads
 *                     locked with VMX off, SDM vol. 3C 23.7: writes to it once locked #GP).
 *   MSR_RW            writes store the bits in the writable mask; the other bits must be written
 *                     with their current value, or #GP (reserved and read-only bits).
 *   MSR_WRITE_IGNORED writes are accepted and change nothing (IA32_BIOS_SIGN_ID: no microcode).
 */
#include <errno.h>
#include <string.h>

#include "arch/x86.h"
#include "vmm/msr.h"

enum msr_kind { MSR_RO, MSR_RW, MSR_WRITE_IGNORED };

static const struct msr_policy {
	u32 index;
	enum msr_kind kind;
	u64 reset, wmask;
} msr_policy[MSR_POLICY_COUNT] = {
#define X(i, name, r, k, w) [MSR_SLOT_##name] = { .index = i, .kind = k, .reset = r, .wmask = w },
	MSR_POLICY_LIST(X)
#undef X
};

/* The MSRs the soft CPU holds itself (cpu_get_msr/cpu_set_msr): the guest reaches them without
 * an exit. Keep this in step with the CPU's list. */
static const u32 msr_passthrough[] = {
	MSR_IA32_TSC,
	MSR_IA32_SYSENTER_CS,
	MSR_IA32_SYSENTER_ESP,
	MSR_IA32_SYSENTER_EIP,
	MSR_IA32_PAT,
	MSR_IA32_EFER,
	MSR_IA32_STAR,
	MSR_IA32_LSTAR,
	MSR_IA32_CSTAR,
	MSR_IA32_FMASK,
	MSR_IA32_FS_BASE,
	MSR_IA32_GS_BASE,
	MSR_IA32_KERNEL_GS_BASE,
	MSR_IA32_TSC_AUX,
	MSR_IA32_XSS,
};

bool msr_is_passthrough(u32 index)
{
	for (size_t i = 0; i < ARRAY_SIZE(msr_passthrough); i++)
		if (msr_passthrough[i] == index)
			return true;
	return false;
}

static int msr_find_slot(u32 index)
{
	for (int i = 0; i < MSR_POLICY_COUNT; i++)
		if (msr_policy[i].index == index)
			return i;
	return -ENOENT;
}

void msr_policy_reset(u64 values[MSR_POLICY_COUNT])
{
	for (int i = 0; i < MSR_POLICY_COUNT; i++)
		values[i] = msr_policy[i].reset;
}

int msr_policy_read(const u64 values[MSR_POLICY_COUNT], u32 index, u64 *value)
{
	int slot = msr_find_slot(index);

	if (slot < 0)
		return slot;
	*value = values[slot];
	return 0;
}

int msr_policy_write(u64 values[MSR_POLICY_COUNT], u32 index, u64 value)
{
	int slot = msr_find_slot(index);
	const struct msr_policy *p;

	if (slot < 0)
		return slot;
	p = &msr_policy[slot];
	switch (p->kind) {
	case MSR_RO:
		return -EPERM;
	case MSR_RW:
		if ((value ^ values[slot]) & ~p->wmask)
			return -EPERM;
		values[slot] = value;
		return 0;
	case MSR_WRITE_IGNORED:
		return 0;
	}
	return -EPERM;
}

/*
 * Bitmap layout (SDM vol. 3C 24.6.9): read-low (MSRs 0-0x1fff) at 0, read-high
 * (0xc0000000-0xc0001fff) at 1024, write-low at 2048, write-high at 3072; a set bit exits.
 */
void msr_bitmap_pass(u8 bitmap[4096], u32 msr, bool read, bool write)
{
	u32 base = msr >= 0xc0000000 ? 1024 : 0;
	u32 bit = msr & 0x1fff;

	if (read)
		bitmap[base + bit / 8] &= (u8) ~(1u << (bit % 8));
	if (write)
		bitmap[2048 + base + bit / 8] &= (u8) ~(1u << (bit % 8));
}

void msr_bitmap_intercept(u8 bitmap[4096], u32 msr)
{
	u32 base = msr >= 0xc0000000 ? 1024 : 0;
	u32 bit = msr & 0x1fff;

	bitmap[base + bit / 8] |= (u8)(1u << (bit % 8));
	bitmap[2048 + base + bit / 8] |= (u8)(1u << (bit % 8));
}

void msr_build_bitmap(u8 bitmap[4096])
{
	memset(bitmap, 0xff, 4096);
	for (size_t i = 0; i < ARRAY_SIZE(msr_passthrough); i++)
		msr_bitmap_pass(bitmap, msr_passthrough[i], true, true);
}
