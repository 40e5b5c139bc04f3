// SPDX-License-Identifier: MIT
/* The VM object: RAM, memory map, buses and their devices (the device manager), boot. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "common/ranges.h"
#include "vmm/cpuid.h"
#include "vmm/exits.h"
#include "vmm/vm.h"

int vm_add_region(struct vm *vm, u64 gpa, u64 size, enum mem_region_kind kind, const char *name)
{
	int err = ranges_check_insert(RANGE_ARRAY(vm->regions, vm->nr_regions, gpa, size),
				      VM_MAX_REGIONS, gpa, size);

	if (err)
		return err;
	vm->regions[vm->nr_regions++] = (struct mem_region){
		.gpa = gpa,
		.size = size,
		.kind = kind,
		.name = name,
	};
	return 0;
}

int vm_register_device(struct vm *vm, const struct vm_device *dev)
{
	if (vm->nr_devices == VM_MAX_DEVICES)
		return -ENOSPC;
	vm->devices[vm->nr_devices++] = *dev;
	return 0;
}

void vm_reset_devices(struct vm *vm)
{
	for (unsigned i = 0; i < vm->nr_devices; i++)
		if (vm->devices[i].reset)
			vm->devices[i].reset(vm->devices[i].opaque);
}

int vm_add_event_source(struct vm *vm, int fd, bool (*ready)(void *opaque), void *opaque)
{
	if (vm->nr_events == VM_MAX_EVENT_SOURCES)
		return -ENOSPC;
	vm->events[vm->nr_events++] = (struct vm_event_source){ fd, ready, opaque };
	return 0;
}

#define VM_SMALL_PAGES_BELOW (2ull << 20)

/* Guest time (devices/timer.h): host nanoseconds since the VM was created. */
static u64 vm_guest_ns(void *opaque)
{
	const struct vm *vm = opaque;

	return stats_now_ns() - vm->created_ns;
}

u64 vm_host_tsc_at(const struct vm *vm, u64 guest_ns)
{
	return guest_ns > UINT64_MAX - vm->created_ns ? 0 : stats_tsc_at_ns(vm->created_ns + guest_ns);
}

int vm_create(struct vm *vm, u64 ram_size, const struct backend_ops *backend,
	      const struct uart_host *console)
{
	/* Set before vm_create(): --vmx switches (vmm_policy_set), --tsc, --jit, --debug-dump,
	   --machine, --device, --vcpu-threads, --exit-path and the --kvm-* levers (backend_kvm's vm_init
	   applies them). */
	struct vmm_policy policy = vm->policy;
	struct vm_kvm_levers kvm = vm->kvm;
	bool tsc_virtual = vm->tsc_virtual, debug_dump = vm->debug_dump, threaded = vm->threaded;
	bool fast_exits = vm->fast_exits;
	u32 tsc_cpi = vm->tsc_cpi;
	int jit = vm->jit;
	bool jit_stats = vm->jit_stats;
	u64 halt_poll_ns = vm->halt_poll_ns;
	u32 devs = vm->devs;
	struct vm_watch watch = vm->watch;
	unsigned nr_vcpus = vm->nr_vcpus ? vm->nr_vcpus : 1;
	void *ram;
	int err;

	memset(vm, 0, sizeof(*vm));
	vm->policy = policy;
	vm->tsc_virtual = tsc_virtual;
	vm->tsc_cpi = tsc_cpi;
	vm->jit = jit;
	vm->jit_stats = jit_stats;
	vm->halt_poll_ns = halt_poll_ns;
	vm->devs = devs;
	vm->watch = watch;
	vm->debug_dump = debug_dump;
	vm->threaded = threaded;
	vm->fast_exits = fast_exits;
	vm->kvm = kvm;
	vm->pio.name = "pio";
	vm->mmio.name = "mmio";
	vm->backend = backend;
	if (nr_vcpus > VM_MAX_VCPUS)
		return -EINVAL;
	/* struct vcpu holds the LAPIC's page-aligned register page (devices/lapic.h). */
	vm->vcpus = aligned_alloc(_Alignof(struct vcpu), nr_vcpus * sizeof(*vm->vcpus));
	if (!vm->vcpus)
		return -ENOMEM;
	memset(vm->vcpus, 0, nr_vcpus * sizeof(*vm->vcpus));
	vm->nr_vcpus = nr_vcpus;
	for (unsigned i = 0; i < nr_vcpus; i++) {
		vm->vcpus[i].vm = vm;
		vm->vcpus[i].id = i;
		vm->vcpus[i].mp_state = i ? VCPU_WAIT_FOR_SIPI : VCPU_RUNNABLE;
		msr_policy_reset(vm->vcpus[i].msr_values);
		/* Firmware leaves IA32_FEATURE_CONTROL locked; with VMX offered, VMXON outside SMX
		   enabled (SDM vol. 3C 24.7), as SeaBIOS does for a VMX-capable CPU. */
		if (vmm_nested(vm))
			vm->vcpus[i].msr_values[MSR_SLOT_IA32_FEATURE_CONTROL] |= BIT(2);
	}
	ram = mmap(NULL, ram_size, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (ram == MAP_FAILED)
		return -errno;
	/*
	 * Transparent huge pages for guest RAM, as QEMU asks for its RAM: a guest sweeping many
	 * pages otherwise misses the host's TLB at every 4 KiB page of RAM it touches (bench-mem:
	 * 3x the time). The first 2 MiB stay small pages: a small guest lives there (the
	 * multiboot image at 1 MiB, its stack and page tables) and is not charged a whole 2 MiB
	 * page of resident memory for it. Advice only: a host with THP off ignores it.
	 */
	if (ram_size > VM_SMALL_PAGES_BELOW)
		(void)madvise(ram + VM_SMALL_PAGES_BELOW, ram_size - VM_SMALL_PAGES_BELOW,
			      MADV_HUGEPAGE);
	vm->ram = ram;
	vm->ram_size = ram_size;
	err = vm_add_region(vm, 0, ram_size, MEM_RAM, "ram");
	if (!err)
		err = stats_init(&vm->stats);
	vm->created_ns = stats_now_ns();
	if (!err)
		err = timer_queue_init(&vm->timers, vm_guest_ns, vm);
	if (!err && backend->vm_init)
		err = backend->vm_init(vm);
	/* The backend's LAPICs take INIT and SIPI (KVM's: its KVM_RUN holds an AP until then). */
	for (unsigned i = 0; !err && vm->irqchip_in_backend && i < nr_vcpus; i++)
		vm->vcpus[i].mp_state = VCPU_RUNNABLE;
	for (unsigned i = 0; !err && i < nr_vcpus; i++)
		err = backend->vcpu_create(&vm->vcpus[i]);
	/* The APs wait for SIPI in the state INIT leaves (SDM vol. 3A 9.4.2); the BSP's state is
	   the boot plan's (vm_load_boot_plan). */
	for (unsigned i = 1; !err && i < nr_vcpus; i++)
		vm_vcpu_init_state(&vm->vcpus[i]);
	if (!err)
		err = board_create(vm, console);
	return err;
}

u64 vm_vcpu_guest_tsc(struct vcpu *vcpu)
{
	const struct backend_ops *b = vcpu->vm->backend;

	return b->guest_tsc ? b->guest_tsc(vcpu) : __builtin_ia32_rdtsc();
}

void vm_destroy(struct vm *vm)
{
	board_destroy(vm);
	for (unsigned i = 0; vm->vcpus && i < vm->nr_vcpus; i++)
		if (vm->vcpus[i].backend)
			vm->backend->destroy(&vm->vcpus[i]);
	if (vm->backend_vm && vm->backend->vm_destroy)
		vm->backend->vm_destroy(vm);
	vm->backend_vm = NULL;
	free(vm->vcpus);
	vm->vcpus = NULL;
	vm->nr_vcpus = 0;
	stats_free(&vm->stats);
	timer_queue_free(&vm->timers);
	if (vm->ram)
		munmap(vm->ram, vm->ram_size);
	vm->ram = NULL;
	for (unsigned i = 0; i < vm->nr_host_pages; i++)
		if (!(vm->borrowed_pages && vm->borrowed_pages[i]))
			free(vm->host_pages[i]);
	free(vm->borrowed_pages);
	vm->borrowed_pages = NULL;
	free(vm->pae_roots);
	vm->pae_roots = NULL;
	free(vm->host_pages);
	free(vm->dirty_bitmap);
	vm->host_pages = NULL;
	vm->dirty_bitmap = NULL;
	vm->nr_host_pages = vm->cap_host_pages = 0;
	/* The policy stays: a VM re-created in the same struct keeps its --vmx switches. */
}

/*
 * Host-physical memory: RAM at 0 (the EPT maps GPA to the same HPA), the VMM's pages at
 * VM_HOSTMEM_BASE + 4096 * n in allocation order, the shadow MMU's PAE roots at VM_PAE_ROOTS_BASE. A range must lie in one of them: structures
 * the VMCS points at never cross a page, and a guest-chosen HPA (a bad EPT entry) gets NULL.
 */
u8 *vm_host_ptr(void *opaque, u64 hpa, u64 len)
{
	struct vm *vm = opaque;
	u64 page;

	if (hpa < vm->ram_size && len <= vm->ram_size - hpa)
		return vm->ram + hpa;
	if (vm->pae_roots && hpa >= VM_PAE_ROOTS_BASE && hpa - VM_PAE_ROOTS_BASE < VM_PAE_ROOTS_SIZE &&
	    len <= VM_PAE_ROOTS_SIZE - (hpa - VM_PAE_ROOTS_BASE))
		return vm->pae_roots + (hpa - VM_PAE_ROOTS_BASE);
	if (hpa < VM_HOSTMEM_BASE)
		return NULL;
	page = (hpa - VM_HOSTMEM_BASE) >> 12;
	if (page >= vm->nr_host_pages || len > 4096 - (hpa & 0xfff))
		return NULL;
	return vm->host_pages[page] + (hpa & 0xfff);
}

/* Room for one more host page; false on ENOMEM. */
static bool host_pages_grow(struct vm *vm)
{
	if (vm->nr_host_pages == vm->cap_host_pages) {
		unsigned cap = vm->cap_host_pages ? 2 * vm->cap_host_pages : 16;
		u8 **pages = realloc(vm->host_pages, cap * sizeof(*pages));
		bool *borrowed;

		if (!pages)
			return false;
		vm->host_pages = pages;
		borrowed = realloc(vm->borrowed_pages, cap * sizeof(*borrowed));
		if (!borrowed)
			return false;
		memset(borrowed + vm->cap_host_pages, 0,
		       (cap - vm->cap_host_pages) * sizeof(*borrowed));
		vm->borrowed_pages = borrowed;
		vm->cap_host_pages = cap;
	}
	return true;
}

void *vm_alloc_host_page(struct vm *vm, u64 *hpa)
{
	u8 *page;

	if (!host_pages_grow(vm))
		return NULL;
	page = aligned_alloc(4096, 4096);
	if (!page)
		return NULL;
	memset(page, 0, 4096);
	*hpa = VM_HOSTMEM_BASE + ((u64)vm->nr_host_pages << 12);
	vm->host_pages[vm->nr_host_pages++] = page;
	return page;
}

int vm_map_host_page(struct vm *vm, void *page, u64 *hpa)
{
	if (((uintptr_t)page & 0xfff) || !host_pages_grow(vm))
		return -ENOMEM;
	*hpa = VM_HOSTMEM_BASE + ((u64)vm->nr_host_pages << 12);
	vm->borrowed_pages[vm->nr_host_pages] = true;
	vm->host_pages[vm->nr_host_pages++] = page;
	return 0;
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
		vm_mem_written(vm, s->gpa, s->memsz);
	}
	vm->backend->set_sregs(&vm->vcpus[0], &plan->sregs);
	vm->backend->set_regs(&vm->vcpus[0], &plan->regs);
	return 0;
}

void vm_mem_written(struct vm *vm, u64 gpa, u64 len)
{
	if (len && vm->backend->mem_written)
		vm->backend->mem_written(vm, gpa, len);
	watch_mem_written(vm, gpa, len);
	vm_dirty_mark(vm, gpa, len);
}

int vm_write_phys(struct vm *vm, u64 gpa, const void *buf, u64 len)
{
	if (gpa > vm->ram_size || len > vm->ram_size - gpa)
		return -EFAULT;
	memcpy(vm->ram + gpa, buf, len);
	vm_mem_written(vm, gpa, len);
	return 0;
}

void vm_request_stop(struct vm *vm, int status, const char *fmt, ...)
{
	va_list ap;

	if (vm->stop)
		return;
	/* Under the BQL, but a vCPU thread's halt poll looks at it without (run.c
	   vcpu_thread_poll): an atomic store. */
	__atomic_store_n(&vm->stop, true, __ATOMIC_RELAXED);
	vm->exit_status = status;
	va_start(ap, fmt);
	vsnprintf(vm->stop_msg, sizeof(vm->stop_msg), fmt, ap);
	va_end(ap);
}

void vm_vcpu_init_state(struct vcpu *vcpu)
{
	const struct backend_ops *b = vcpu->vm->backend;
	const struct x86_segment data = { .base = 0, .limit = 0xffff, .sel = 0, .ar = 0x93 };
	struct x86_state st;
	u32 sig[4];

	if (!b->get_state || !b->set_state) {
		vm_request_stop(vcpu->vm, EXIT_STATUS_STOPPED,
				"vCPU %u: the %s backend cannot set a vCPU's state for INIT",
				vcpu->id, b->name);
		return;
	}
	b->get_state(vcpu, &st);
	/* SDM vol. 3A 9.1.1, Table 9-1 ("Following INIT"): GPRs 0 but EDX, the processor's
	   signature (CPUID.01H:EAX); EFLAGS 2; EIP FFF0H; CS F000H with base FFFF0000H; the other
	   segments 0 with limit FFFFH, read/write data, accessed; GDTR and IDTR base 0 limit FFFFH;
	   LDTR and TR selector 0 limit FFFFH, present, LDT and busy TSS; CR0 60000010H, CR2-CR4 0;
	   DR0-DR3 0, DR6 FFFF0FF0H, DR7 400H; EFER 0. The x87, SSE and MSRs other than EFER keep
	   their values ("unchanged" in Table 9-1), and so does IA32_APIC_BASE (11.4.7.3). XCR0 is
	   1, as on KVM's INIT (with CR4.OSXSAVE 0 no instruction can see it). */
	memset(&st.regs, 0, sizeof(st.regs));
	cpuid_lookup(1, 0, sig);
	st.regs.gpr[R_RDX] = sig[CPUID_EAX];
	st.regs.rip = 0xfff0;
	st.regs.rflags = X86_FIXED1;
	for (unsigned i = 0; i < ARRAY_SIZE(st.sregs.seg); i++)
		st.sregs.seg[i] = data;
	st.sregs.seg[SEG_CS] = (struct x86_segment){
		.base = 0xffff0000, .limit = 0xffff, .sel = 0xf000, .ar = 0x9b
	};
	st.sregs.seg[SEG_LDTR].ar = 0x82;
	st.sregs.seg[SEG_TR].ar = 0x8b;
	st.sregs.gdt = (struct x86_dtable){ .base = 0, .limit = 0xffff };
	st.sregs.idt = st.sregs.gdt;
	st.sregs.cr0 = 0x60000010;
	st.sregs.cr2 = st.sregs.cr3 = st.sregs.cr4 = st.sregs.cr8 = 0;
	st.sregs.efer = 0;
	st.xcr0 = 1;
	memset(st.dr, 0, sizeof(st.dr));
	st.dr[6] = 0xffff0ff0;
	st.dr[7] = 0x400;
	memset(&st.events, 0, sizeof(st.events));
	/* After INIT an AP waits for SIPI (SDM vol. 3A 9.4.2; activity state 3, vol. 3C 25.4.2).
	   Where the VMM keeps that wait (vcpu->mp_state) the CPU's own state stays active and the
	   run loop holds the vCPU back; where the backend's LAPICs take SIPI, the backend must. */
	if (vcpu->vm->irqchip_in_backend)
		st.events.activity = GUEST_ACTIVITY_WAIT_SIPI;
	if (b->set_state(vcpu, &st))
		vm_request_stop(vcpu->vm, EXIT_STATUS_STOPPED,
				"vCPU %u: the backend refused the INIT state", vcpu->id);
}

/* One vCPU's INIT, SIPI and NMI (vm.h). */
void vm_vcpu_accept_mp_events(struct vcpu *vcpu)
{
	struct x86_sregs s;
	struct x86_regs r;
	u8 vector = 0;
	u32 ev;

	if (!vcpu->intc.take_events)
		return;
	ev = vcpu->intc.take_events(vcpu->intc.opaque, LAPIC_EV_INIT | LAPIC_EV_SIPI | LAPIC_EV_NMI,
				    &vector);
	if (ev & LAPIC_EV_INIT) {
		if (vcpu->id == 0) {
			vm_request_stop(vcpu->vm, 0,
					"guest sent INIT to the bootstrap processor (a CPU reset): "
					"run ended");
			return;
		}
		vm_vcpu_init_state(vcpu);
		vcpu->mp_state = VCPU_WAIT_FOR_SIPI;
		vcpu->nmi_pending = false;
	}
	if ((ev & LAPIC_EV_NMI) && vcpu->mp_state != VCPU_WAIT_FOR_SIPI) {
		vcpu->nmi_pending = true;
		/* An NMI ends HLT whatever RFLAGS.IF says. */
		if (vcpu->mp_state == VCPU_HALTED)
			vcpu->mp_state = VCPU_RUNNABLE;
	}
	if (!(ev & LAPIC_EV_SIPI) || vcpu->mp_state != VCPU_WAIT_FOR_SIPI)
		return;
	/* SDM vol. 3A 9.4.4.1 and 11.6.1 (StartUp): the AP starts in real mode at 000VV000H,
	   CS selector VV00H with base VV000H, IP 0 (as KVM's kvm_vcpu_deliver_sipi_vector). */
	vcpu->vm->backend->get_sregs(vcpu, &s);
	s.seg[SEG_CS].sel = (u16)(vector << 8);
	s.seg[SEG_CS].base = (u64)vector << 12;
	vcpu->vm->backend->set_sregs(vcpu, &s);
	vcpu->vm->backend->get_regs(vcpu, &r);
	r.rip = 0;
	vcpu->vm->backend->set_regs(vcpu, &r);
	vcpu->mp_state = VCPU_RUNNABLE;
}

void vm_accept_mp_events(struct vm *vm)
{
	vm->mp_events = false;
	for (unsigned i = 0; i < vm->nr_vcpus && !vm->stop; i++)
		vm_vcpu_accept_mp_events(&vm->vcpus[i]);
}
