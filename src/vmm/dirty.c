// SPDX-License-Identifier: MIT
/*
 * Dirty-page logging, for snapshots and migration to copy only the pages written since the last
 * look (KVM's KVM_GET_DIRTY_LOG with KVM_DIRTY_LOG_INITIALLY_SET off is the model). No single
 * source sees every write, so three are read together:
 *   - the EPT dirty flags (SDM vol. 3C 29.3.5), which the CPU sets on the first write through
 *     each leaf (the tables have 4 KiB leaves whenever A/D flags are on, vmm/ept.c);
 *   - the PML logs (29.3.6): the same writes as guest-physical addresses; PML-full exits and
 *     --watch drain them into vm->dirty_bitmap, and a vCPU's partly filled log is drained here;
 *   - writes that bypass EPT, by devices (DMA) and by the VMM, through vm_mem_written.
 * Logging needs EPT with A/D flags and PML (--vmx pml=on, or --watch): -ENOTSUP otherwise.
 * A backend that keeps the log itself (backend_ops.dirty_log: the kvm backend's
 * KVM_GET_DIRTY_LOG) is read instead of the first two; DMA and VMM writes are still ours.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "vmm/ept.h"
#include "vmm/vm.h"

static u64 dirty_pages(const struct vm *vm)
{
	return vm->ram_size >> 12;
}

/* Every vCPU's PML log into vm->dirty_bitmap, and the logs started over. */
static void dirty_drain_pml(struct vm *vm)
{
	const struct backend_ops *b = vm->backend;

	if (vm->watch.nr) { /* the monitor drains the logs and fills the bitmap as it goes */
		watch_drain(vm);
		return;
	}
	for (unsigned v = 0; v < vm->nr_vcpus; v++) {
		struct vcpu *vcpu = &vm->vcpus[v];
		const u64 *log = (const u64 *)vcpu->pml_log;
		u16 index;

		if (!log || !b->pml_reset || b->pml_reset(vcpu, &index))
			continue;
		for (u32 i = index >= 512 ? 0 : index + 1u; i < 512; i++)
			if (log[i] >> 12 < dirty_pages(vm))
				vm->dirty_bitmap[(log[i] >> 12) / 64] |= 1ull << ((log[i] >> 12) % 64);
	}
}

int vm_dirty_log_start(struct vm *vm)
{
	if (vm->backend->dirty_log) {
		int err;

		if (!vm->dirty_bitmap)
			vm->dirty_bitmap = calloc((dirty_pages(vm) + 63) / 64, sizeof(u64));
		if (!vm->dirty_bitmap)
			return -ENOMEM;
		err = vm->backend->dirty_log(vm, true, NULL);
		if (!err) /* what the backend logged before now is not this log's */
			err = vm->backend->dirty_log(vm, false, vm->dirty_bitmap);
		if (err)
			return err;
		memset(vm->dirty_bitmap, 0, (dirty_pages(vm) + 63) / 64 * sizeof(u64));
		vm->dirty_logging = true;
		return 0;
	}
	if (!vm->eptp || !vm->dirty_bitmap)
		return -ENOTSUP;
	dirty_drain_pml(vm);
	if (ept_clear_dirty(vm, vm->eptp) && vm->backend->ept_changed)
		vm->backend->ept_changed(vm);
	memset(vm->dirty_bitmap, 0, (dirty_pages(vm) + 63) / 64 * sizeof(u64));
	vm->dirty_logging = true;
	return 0;
}

long vm_dirty_log_get(struct vm *vm, u64 *out, size_t words, bool reset)
{
	size_t n = (dirty_pages(vm) + 63) / 64;
	long count = 0;

	if (!vm->dirty_logging)
		return -EINVAL;
	if (words < n)
		return -ENOSPC;
	if (vm->backend->dirty_log) {
		int err = vm->backend->dirty_log(vm, false, vm->dirty_bitmap);
		if (err)
			return err;
	} else {
		dirty_drain_pml(vm);
		if (ept_collect_dirty(vm, vm->eptp, vm->dirty_bitmap, dirty_pages(vm), reset) &&
		    reset && vm->backend->ept_changed)
			vm->backend->ept_changed(vm);
	}
	for (size_t i = 0; i < n; i++) {
		out[i] = vm->dirty_bitmap[i];
		count += __builtin_popcountll(out[i]);
	}
	if (reset)
		memset(vm->dirty_bitmap, 0, n * sizeof(u64));
	return count;
}

void vm_dirty_mark(struct vm *vm, u64 gpa, u64 len)
{
	if (!vm->dirty_logging || !len || gpa >= vm->ram_size)
		return;
	if (len > vm->ram_size - gpa)
		len = vm->ram_size - gpa;
	for (u64 p = gpa >> 12; p <= (gpa + len - 1) >> 12; p++)
		vm->dirty_bitmap[p / 64] |= 1ull << (p % 64);
}
