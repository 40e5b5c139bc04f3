// SPDX-License-Identifier: MIT
/*
 * kvmclock, KVM's paravirtual clock, as Linux's guest side (arch/x86/kernel/kvmclock.c) and
 * KVM's documentation (Documentation/virt/kvm/x86/msr.rst, cpuid.rst) define it:
 *   - CPUID.1:ECX[31], "hypervisor present"; leaf 0x40000000: EAX the largest hypervisor leaf,
 *     EBX:ECX:EDX "KVMKVMKVM\0\0\0"; leaf 0x40000001 EAX: KVM_FEATURE_CLOCKSOURCE2 (bit 3, the
 *     MSRs at 0x4b564d00) and KVM_FEATURE_CLOCKSOURCE_STABLE_BIT (bit 24);
 *   - MSR_KVM_WALL_CLOCK_NEW (0x4b564d00): the guest writes the address of a struct
 *     pvclock_wall_clock {u32 version, sec, nsec}, the wall time at guest system time 0, which
 *     the VMM fills in at once;
 *   - MSR_KVM_SYSTEM_TIME_NEW (0x4b564d01): the address of this vCPU's struct
 *     pvclock_vcpu_time_info (32 bytes, not crossing a page) with bit 0 "enabled": the guest
 *     reads system time = system_time + scale(TSC - tsc_timestamp) with
 *     scale(d) = ((shift >= 0 ? d << shift : d >> -shift) * tsc_to_system_mul) >> 32 and an even
 *     version (odd: an update in progress), and trusts it across vCPUs when flags has
 *     PVCLOCK_TSC_STABLE_BIT (bit 0).
 * Guest system time is the VMM's guest time (timer_now: host ns since the VM was created), so the
 * clock agrees with the LAPIC timer, the HPET and the PM timer. The guest TSC's rate is measured
 * against that same clock from the VM's creation to the MSR write (seconds into the boot: the
 * bzImage decompresses first) once, at the first enable, for the VM's master clock (below); each
 * vCPU's structure is written once per enable, as KVM does while its master clock is stable.
 * Not offered under --tsc virtual, whose TSC counts instructions.
 */
#include <errno.h>
#include <string.h>
#include <time.h>

#include "vmm/vm.h"

#define CPUID_KVM_SIGNATURE 0x40000000u
#define CPUID_KVM_FEATURES  0x40000001u
#define KVM_FEATURE_CLOCKSOURCE2	   BIT(3)
#define KVM_FEATURE_CLOCKSOURCE_STABLE_BIT BIT(24)
#define CPUID1_ECX_HYPERVISOR		   BIT(31)
#define PVCLOCK_TSC_STABLE_BIT		   1

struct pvclock_vcpu_time_info {
	u32 version;
	u32 pad0;
	u64 tsc_timestamp;
	u64 system_time;
	u32 tsc_to_system_mul;
	s8 tsc_shift;
	u8 flags;
	u8 pad[2];
} __attribute__((packed));

struct pvclock_wall_clock {
	u32 version;
	u32 sec;
	u32 nsec;
} __attribute__((packed));

static bool kvmclock_offered(const struct vm *vm)
{
	return !vm->tsc_virtual;
}

void kvmclock_start(struct vcpu *bsp)
{
	struct vm *vm = bsp->vm;

	vm->kvmclock.tsc0 = vm_vcpu_guest_tsc(bsp);
	vm->kvmclock.ns0 = timer_now(&vm->timers);
}

void kvmclock_cpuid(const struct vm *vm, u32 leaf, u32 out[4])
{
	if (!kvmclock_offered(vm))
		return;
	if (leaf == 1)
		out[2] |= CPUID1_ECX_HYPERVISOR;
	if ((leaf & 0xffffff00u) != CPUID_KVM_SIGNATURE)
		return;
	memset(out, 0, 4 * sizeof(u32));
	if (leaf == CPUID_KVM_SIGNATURE) {
		out[0] = CPUID_KVM_FEATURES;
		memcpy(&out[1], "KVMK", 4);
		memcpy(&out[2], "VMKV", 4);
		memcpy(&out[3], "M\0\0\0", 4);
	} else if (leaf == CPUID_KVM_FEATURES) {
		out[0] = KVM_FEATURE_CLOCKSOURCE2 | KVM_FEATURE_CLOCKSOURCE_STABLE_BIT;
	}
}

bool kvmclock_owns_msr(const struct vm *vm, u32 index)
{
	return kvmclock_offered(vm) &&
	       (index == MSR_KVM_WALL_CLOCK_NEW || index == MSR_KVM_SYSTEM_TIME_NEW);
}

/* mul and shift with ns = scale(ticks) for a clock of hz ticks per second (hz > 0): the
   shifted rate lies in (1e9, 2e9], so mul = 2^32 * 1e9 / rate is below 2^32. */
void kvmclock_scale(u64 hz, u32 *mul, s8 *shift)
{
	const u64 ns_per_s = 1000000000ull;
	int s = 0;
	u64 rate = hz;

	while (rate > 2 * ns_per_s) {
		rate >>= 1;
		s--;
	}
	while (rate <= ns_per_s) {
		rate <<= 1;
		s++;
	}
	*mul = (u32)((ns_per_s << 32) / rate);
	*shift = (s8)s;
}

/* A structure of `len` bytes at gpa the guest named: in RAM and not crossing a page. */
static bool kvmclock_gpa_ok(const struct vm *vm, u64 gpa, u64 len)
{
	return gpa < vm->ram_size && len <= vm->ram_size - gpa &&
	       (gpa & 0xfff) + len <= 0x1000;
}

static void kvmclock_write_wall(struct vcpu *vcpu, u64 gpa)
{
	struct vm *vm = vcpu->vm;
	struct pvclock_wall_clock w = { 0 };
	struct timespec now;
	u64 boot_ns;

	if (!kvmclock_gpa_ok(vm, gpa, sizeof(w)))
		return; /* KVM too leaves a bad address alone */
	memcpy(&w, vm->ram + gpa, sizeof(w));
	clock_gettime(CLOCK_REALTIME, &now);
	/* The wall time at guest system time 0: now minus the guest time elapsed. */
	boot_ns = (u64)now.tv_sec * 1000000000ull + (u64)now.tv_nsec - timer_now(&vm->timers);
	w.version = (w.version | 1) + 1; /* even: complete */
	w.sec = (u32)(boot_ns / 1000000000ull);
	w.nsec = (u32)(boot_ns % 1000000000ull);
	vm_write_phys(vm, gpa, &w, sizeof(w));
}

/*
 * The VM's master clock: one (TSC, system time, scale) triple for every vCPU, fixed at the first
 * enable, as KVM's master clock (kvm_guest_time_update with use_master_clock). The vCPUs' TSCs
 * count in step (soft: cpu_tsc_follow), so one triple gives every vCPU the same time; each vCPU
 * computing its own (its TSC rate measured at its own enable) would give clocks that disagree by
 * microseconds, which PVCLOCK_TSC_STABLE_BIT tells the guest never happens.
 */
static void kvmclock_master(struct vcpu *vcpu)
{
	struct vm *vm = vcpu->vm;
	u64 ns = timer_now(&vm->timers), tsc = vm_vcpu_guest_tsc(vcpu), hz;

	if (vm->kvmclock.master_set)
		return;
	/* The guest TSC's rate over the VM's life so far (at least a millisecond of it; before
	   that, 1 GHz: a guest cannot get here that early, its kernel is still being set up). */
	if (ns - vm->kvmclock.ns0 >= 1000000 && tsc > vm->kvmclock.tsc0)
		hz = (u64)((unsigned __int128)(tsc - vm->kvmclock.tsc0) * 1000000000ull /
			   (ns - vm->kvmclock.ns0));
	else
		hz = 1000000000ull;
	if (!hz)
		hz = 1;
	kvmclock_scale(hz, &vm->kvmclock.mul, &vm->kvmclock.shift);
	vm->kvmclock.master_tsc = tsc;
	vm->kvmclock.master_ns = ns;
	vm->kvmclock.master_set = true;
}

static void kvmclock_write_system_time(struct vcpu *vcpu, u64 gpa)
{
	struct vm *vm = vcpu->vm;
	struct pvclock_vcpu_time_info t = { 0 };

	if (!kvmclock_gpa_ok(vm, gpa, sizeof(t)))
		return;
	kvmclock_master(vcpu);
	memcpy(&t, vm->ram + gpa, sizeof(t));
	t.version = (t.version | 1) + 1;
	t.tsc_timestamp = vm->kvmclock.master_tsc;
	t.system_time = vm->kvmclock.master_ns;
	t.tsc_to_system_mul = vm->kvmclock.mul;
	t.tsc_shift = vm->kvmclock.shift;
	t.flags = PVCLOCK_TSC_STABLE_BIT;
	vm_write_phys(vm, gpa, &t, sizeof(t));
}

int kvmclock_rdmsr(struct vcpu *vcpu, u32 index, u64 *value)
{
	*value = index == MSR_KVM_WALL_CLOCK_NEW ? vcpu->vm->kvmclock.wall_msr
						 : vcpu->kvmclock_msr;
	return 0;
}

int kvmclock_wrmsr(struct vcpu *vcpu, u32 index, u64 value)
{
	if (index == MSR_KVM_WALL_CLOCK_NEW) {
		vcpu->vm->kvmclock.wall_msr = value;
		kvmclock_write_wall(vcpu, value);
		return 0;
	}
	vcpu->kvmclock_msr = value;
	if (value & 1)
		kvmclock_write_system_time(vcpu, value & ~1ull);
	return 0;
}
