/* SPDX-License-Identifier: MIT */
/* The kvm backend's own state, shared by its files (backend_kvm.c, kvm_stats.c). */
#pragma once
#include <linux/kvm.h>
#include <pthread.h>

#include "kvm/kvm.h"
#include "vmm/vm.h"

/* Which exit's completion the next KVM_RUN owes (see docs/kvm.md "completion"). */
enum kvm_pending {
	KVM_PENDING_NONE,
	KVM_PENDING_IO,	  /* a KVM_EXIT_IO, handed over one element at a time */
	KVM_PENDING_MMIO, /* a KVM_EXIT_MMIO read: data comes back in kvm_run->mmio.data */
	KVM_PENDING_MSR,  /* KVM_EXIT_X86_RDMSR/WRMSR: KVM advances RIP itself */
};

/* The in-kernel irqchip's GSIs (kvm_irqchip_init): IOAPIC pins, then PIC pins, then MSIs. */
#define KVM_GSI_IOAPIC 0
#define KVM_GSI_PIC 24
#define KVM_GSI_MSI 40
#define KVM_MSI_ROUTES 16

enum kvm_thread_state { KVM_THREAD_IDLE, KVM_THREAD_RUN, KVM_THREAD_DONE, KVM_THREAD_QUIT };

/*
 * The KVM VM that all of one VM's vCPUs share (backend_ops.vm_init, as kvmtool's struct kvm and
 * QEMU's KVMState): /dev/kvm, one KVM_CREATE_VM, the levers and memory slots. vCPU threads enter
 * KVM_RUN without the BQL, so what they change here (the set-up at the first vCPU's realize, the
 * slots before each run) goes under `lock`.
 */
struct kvm_vm {
	int kvm_fd, vm_fd, doorbell_fd;
	pthread_mutex_t lock;
	bool set_up;	   /* kvm_vm_setup ran (once, at the first vCPU's realize) */
	int setup_err;	   /* and what it returned: every later vCPU fails the same way */
	unsigned nr_slots; /* vm->regions already given to KVM */
	bool log_dirty;	   /* slots carry KVM_MEM_LOG_DIRTY_PAGES (kvm_dirty_log) */
	/*
	 * The in-kernel irqchip's GSI routing (--kvm-irqchip kernel, kvm_irqchip_init): GSIs 0-23
	 * the IOAPIC's pins, 24-39 the 8259A pair's, then one MSI route per distinct message a
	 * device sent, each with an irqfd (msi_fd) the device's thread writes. Under `lock`.
	 */
	struct kvm_irq_routing *routing;
	unsigned nr_msi;
	struct {
		u64 address;
		u32 data;
		int fd;
	} msi[KVM_MSI_ROUTES];
};

struct kvm_vcpu {
	struct kvm_vm *kv; /* the VM's (vm->backend_vm) */
	int vcpu_fd, stats_fd;
	struct kvm_run *run;
	size_t run_size;
	bool realized;	   /* the vCPU exists in KVM (kvm_realize) */
	u64 tsc_got;	   /* IA32_TSC as get_state last read it (set_state leaves it then) */
	u64 tsc_offset;	   /* guest TSC - host TSC (kvm_read_tsc_offset) */
	u64 cr8_sent;	   /* kvm_run->cr8 as the last KVM_RUN was given it (kvm_put_tpr) */
	/* Register caches, valid until the next KVM_RUN; dirty ones are written before it. */
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	bool regs_valid, regs_dirty, sregs_valid, sregs_dirty;
	/* The exit being completed. */
	enum kvm_pending pending;
	u64 pending_rip;	/* RIP of the instruction that exited */
	bool msr_completed;	/* the handler wrote registers (completed RDMSR/WRMSR) */
	bool msr_fault;		/* the handler injected #GP instead */
	bool event_queued;	/* an exception or interrupt given to KVM, not yet in (kvm_interruptible) */
	u32 io_index;		/* element of the current KVM_EXIT_IO handed to the VMM */
	struct vm_exit io_exit; /* the record of the current KVM_EXIT_IO, element 0 */
	/* The thread that runs KVM_RUN for this vCPU. */
	pthread_t thread;
	bool thread_started;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	enum kvm_thread_state state;
	int run_errno; /* 0, or errno of the last KVM_RUN */
};

static inline struct kvm_vcpu *kvm_vcpu_of(struct vcpu *vcpu)
{
	return vcpu->backend;
}
