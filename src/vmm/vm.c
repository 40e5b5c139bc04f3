// SPDX-License-Identifier: MIT
/* The VM object: RAM, memory map, buses and their devices (the device manager), boot. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "vmm/vm.h"

int vm_add_region(struct vm *vm, u64 gpa, u64 size, enum mem_region_kind kind, const char *name)
{
	for (unsigned i = 0; i < vm->nr_regions; i++) {
		const struct mem_region *r = &vm->regions[i];

		if (gpa < r->gpa + r->size && r->gpa < gpa + size)
			return -EEXIST;
	}
	if (vm->nr_regions == VM_MAX_REGIONS)
		return -ENOSPC;
	vm->regions[vm->nr_regions++] = (struct mem_region){
		.gpa = gpa,
		.size = size,
		.kind = kind,
		.name = name,
	};
	return 0;
}

static void vm_stop_by_debug_exit(void *opaque, int status)
{
	vm_request_stop(opaque, status, "%s", "");
}

/* The PC devices every guest gets: COM1 and the debug-exit port; and the MMIO test device. */
static int vm_add_devices(struct vm *vm, const struct uart_host *console)
{
	int err;

	uart_init(&vm->uart, console);
	err = bus_register_range(&vm->pio, UART_COM1_BASE, UART_NR_REGS, uart_access, &vm->uart,
				 "uart");
	if (err)
		return err;
	vm->debug_exit = (struct debug_exit){ .on_exit = vm_stop_by_debug_exit, .opaque = vm };
	err = bus_register_range(&vm->pio, DEBUG_EXIT_PORT, DEBUG_EXIT_SIZE, debug_exit_access,
				 &vm->debug_exit, "debug-exit");
	if (err)
		return err;
	if (TESTDEV_MMIO_BASE + TESTDEV_MMIO_SIZE <= vm->ram_size)
		return 0; /* RAM covers it (a guest with more than 4 GiB): no test device */
	err = vm_add_region(vm, TESTDEV_MMIO_BASE, TESTDEV_MMIO_SIZE, MEM_MMIO, "testdev");
	if (!err)
		err = bus_register_range(&vm->mmio, TESTDEV_MMIO_BASE, TESTDEV_MMIO_SIZE,
					 testdev_access, &vm->testdev, "testdev");
	return err;
}

int vm_create(struct vm *vm, u64 ram_size, const struct backend_ops *backend,
	      const struct uart_host *console)
{
	/* Set before vm_create(): --vmx switches (vmm_policy_set), --tsc, --jit, --debug-dump. */
	struct vmm_policy policy = vm->policy;
	bool tsc_virtual = vm->tsc_virtual, debug_dump = vm->debug_dump;
	u32 tsc_cpi = vm->tsc_cpi;
	int jit = vm->jit;
	void *ram;
	int err;

	memset(vm, 0, sizeof(*vm));
	vm->policy = policy;
	vm->tsc_virtual = tsc_virtual;
	vm->tsc_cpi = tsc_cpi;
	vm->jit = jit;
	vm->debug_dump = debug_dump;
	vm->pio.name = "pio";
	vm->mmio.name = "mmio";
	vm->backend = backend;
	vm->vcpu.vm = vm;
	msr_policy_reset(vm->vcpu.msr_values);
	ram = mmap(NULL, ram_size, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (ram == MAP_FAILED)
		return -errno;
	vm->ram = ram;
	vm->ram_size = ram_size;
	err = vm_add_region(vm, 0, ram_size, MEM_RAM, "ram");
	if (!err)
		err = stats_init(&vm->stats);
	if (!err)
		err = vm_add_devices(vm, console);
	if (!err)
		err = backend->vcpu_create(&vm->vcpu);
	return err;
}

void vm_destroy(struct vm *vm)
{
	if (vm->vcpu.backend)
		vm->backend->destroy(&vm->vcpu);
	stats_free(&vm->stats);
	if (vm->ram)
		munmap(vm->ram, vm->ram_size);
	vm->ram = NULL;
	for (unsigned i = 0; i < vm->nr_host_pages; i++)
		free(vm->host_pages[i]);
	free(vm->host_pages);
	free(vm->dirty_bitmap);
	vm->host_pages = NULL;
	vm->dirty_bitmap = NULL;
	vm->nr_host_pages = vm->cap_host_pages = 0;
	/* The policy stays: a VM re-created in the same struct keeps its --vmx switches. */
}

/*
 * Host-physical memory: RAM at 0 (the EPT maps GPA to the same HPA), the VMM's pages at
 * VM_HOSTMEM_BASE + 4096 * n in allocation order. A range must lie in one of them: structures
 * the VMCS points at never cross a page, and a guest-chosen HPA (a bad EPT entry) gets NULL.
 */
u8 *vm_host_ptr(void *opaque, u64 hpa, u64 len)
{
	struct vm *vm = opaque;
	u64 page;

	if (hpa < vm->ram_size && len <= vm->ram_size - hpa)
		return vm->ram + hpa;
	if (hpa < VM_HOSTMEM_BASE)
		return NULL;
	page = (hpa - VM_HOSTMEM_BASE) >> 12;
	if (page >= vm->nr_host_pages || len > 4096 - (hpa & 0xfff))
		return NULL;
	return vm->host_pages[page] + (hpa & 0xfff);
}

void *vm_alloc_host_page(struct vm *vm, u64 *hpa)
{
	u8 *page;

	if (vm->nr_host_pages == vm->cap_host_pages) {
		unsigned cap = vm->cap_host_pages ? 2 * vm->cap_host_pages : 16;
		u8 **pages = realloc(vm->host_pages, cap * sizeof(*pages));

		if (!pages)
			return NULL;
		vm->host_pages = pages;
		vm->cap_host_pages = cap;
	}
	page = aligned_alloc(4096, 4096);
	if (!page)
		return NULL;
	memset(page, 0, 4096);
	*hpa = VM_HOSTMEM_BASE + ((u64)vm->nr_host_pages << 12);
	vm->host_pages[vm->nr_host_pages++] = page;
	return page;
}

int vm_load_boot_plan(struct vm *vm, const struct boot_plan *plan)
{
	for (unsigned i = 0; i < plan->nr_segments; i++) {
		const struct boot_segment *s = &plan->seg[i];

		if (s->gpa > vm->ram_size || s->memsz > vm->ram_size - s->gpa ||
		    s->filesz > s->memsz)
			return -E2BIG;
		memcpy(vm->ram + s->gpa, s->data, s->filesz);
		memset(vm->ram + s->gpa + s->filesz, 0, s->memsz - s->filesz);
	}
	vm->backend->set_sregs(&vm->vcpu, &plan->sregs);
	vm->backend->set_regs(&vm->vcpu, &plan->regs);
	return 0;
}

void vm_request_stop(struct vm *vm, int status, const char *fmt, ...)
{
	va_list ap;

	if (vm->stop)
		return;
	vm->stop = true;
	vm->exit_status = status;
	va_start(ap, fmt);
	vsnprintf(vm->stop_msg, sizeof(vm->stop_msg), fmt, ap);
	va_end(ap);
}
