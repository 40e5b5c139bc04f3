/* SPDX-License-Identifier: MIT */
/*
 * The VM and its vCPU: guest RAM, the memory map, the port and MMIO buses with their devices,
 * the statistics, and why and with which status the run ended.
 */
#pragma once
#include <signal.h>

#include "common.h"
#include "devices/bus.h"
#include "devices/debug_exit.h"
#include "devices/testdev.h"
#include "devices/uart.h"
#include "loader/loader.h"
#include "stats/stats.h"
#include "vmm/backend.h"
#include "vmm/msr.h"

/*
 * Process exit statuses tollbooth itself chooses. They are even, so they never collide with a
 * guest's (V << 1) | 1: a guest reporting failure with V = 1 exits 3, and that must not be
 * mistaken for a triple fault.
 */
#define EXIT_STATUS_USAGE   2 /* bad command line or image */
#define EXIT_STATUS_STOPPED 4 /* tollbooth ended the run: triple fault, halted for good, ... */

#define VM_MEM_DEFAULT (128ull << 20)
#define VM_MEM_MIN     (2ull << 20)
#define VM_MEM_MAX     (64ull << 30)

enum mem_region_kind { MEM_RAM, MEM_MMIO };

struct mem_region {
	u64 gpa, size;
	enum mem_region_kind kind;
	const char *name;
};

#define VM_MAX_REGIONS 16

struct vcpu {
	struct vm *vm;
	/* The most recent exit the guest caused: not a VMCALL, an external interrupt or the
	   preemption timer (HC_LAST_EXIT reports it to the guest). */
	struct vm_exit last_exit;
	void *backend;			  /* the backend's own vCPU state */
	u64 msr_values[MSR_POLICY_COUNT]; /* the VMM-held MSRs (vmm/msr.c) */
	u64 exit_counts[EXIT_REASON_MAX + 1]; /* handled exits by basic reason (HC_EXIT_COUNT) */
	/* Exit-storm detection (vmm/exits.c): the last exit's key and how often it repeated. */
	struct {
		u32 reason, count;
		u64 rip, qual, icount, rflags;
		u64 gpr[16];
	} storm;
};

/* The --vmx what-if switches (vmm/policy.c): bit n of `set` = switch n was given, of `on` = on. */
struct vmm_policy {
	u32 set, on;
};

struct vm {
	u8 *ram;
	u64 ram_size;
	struct mem_region regions[VM_MAX_REGIONS];
	unsigned nr_regions;
	struct bus pio, mmio;
	struct uart uart;
	struct debug_exit debug_exit;
	struct testdev testdev;
	struct stats stats;
	const struct backend_ops *backend;
	struct vcpu vcpu;
	/* --tsc virtual: the guest TSC counts retired instructions times tsc_cpi plus modeled exit
	   cycles (cpu.h CPU_TSC_VIRTUAL); otherwise it follows the host TSC. */
	bool tsc_virtual;
	u32 tsc_cpi;
	/* soft, --jit: the block compiler's threshold (cpu_set_jit); 0 keeps the CPU's default,
	   -1 interprets only */
	int jit;
	/* --accel kvm levers (src/kvm, docs/kvm.md); set before the first vCPU operation. */
	struct vm_kvm_levers {
		bool ioeventfd;	   /* --kvm-ioeventfd: doorbell port KVM_DOORBELL_PORT */
		u32 disable_exits; /* --kvm-disable-exits: KVM_X86_DISABLE_EXITS_* bits */
		bool irqchip;	   /* --kvm-irqchip kernel: KVM_CREATE_IRQCHIP */
	} kvm;
	/* Host-physical pages the VMM allocated for VMCS-referenced structures (vm_alloc_host_page) */
	u8 **host_pages;
	unsigned nr_host_pages, cap_host_pages;
	/* Set before vm_create(), which keeps it (vmm_policy_set); zero is the default policy. */
	struct vmm_policy policy;
	u64 eptp;		/* 0 when EPT is off (vmm/ept.c) */
	u64 *dirty_bitmap;	/* a bit per 4 KiB of RAM, from the PML log; NULL without PML */
	u8 *pml_log;		/* the PML page (512 GPAs) */
	u64 preemption_quantum; /* re-armed at each preemption-timer exit */
	/* --debug-dump (set before vm_create()): a run the VMM stops dumps the vCPU (and the soft
	   VMCS) to stderr first */
	bool debug_dump;
	/* vm_signal_stop(), from a signal handler: the signal that asked the run to end, or 0. */
	volatile sig_atomic_t stop_signal;
	/* Set by whatever ends the run; the message (may be empty) is printed once, by the caller.
	 */
	bool stop;
	int exit_status;
	char stop_msg[512];
};

/* 0 or negative errno; on error the VM is left for vm_destroy(). */
int vm_create(struct vm *vm, u64 ram_size, const struct backend_ops *backend,
	      const struct uart_host *console);
void vm_destroy(struct vm *vm);

/* Add [gpa, gpa+size) to the memory map: 0, -EEXIST on overlap, -ENOSPC. */
int vm_add_region(struct vm *vm, u64 gpa, u64 size, enum mem_region_kind kind, const char *name);

/* Copy the plan's segments into RAM and load its register state into the vCPU. */
int vm_load_boot_plan(struct vm *vm, const struct boot_plan *plan);

/*
 * From a signal handler (async-signal-safe): end the run at the vCPU's next exit, which the
 * backend's kick brings about at once; the run ends with status 128 + signo, the shell's
 * convention for "ended by a signal", and one line naming the signal. The first signal wins.
 */
void vm_signal_stop(struct vm *vm, int signo);

/* End the run with `status`; the first request wins. */
void vm_request_stop(struct vm *vm, int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/*
 * Host-physical memory (the contract of cpu_config.host_ptr): guest RAM at HPA 0 .. ram_size-1,
 * which the VMM's EPT maps 1:1, and the VMM's own pages (EPT tables, bitmaps, virtual-APIC page,
 * PML log) from VM_HOSTMEM_BASE up. NULL when [hpa, hpa+len) is not all in one of them.
 */
#define VM_HOSTMEM_BASE 0xf000000000ull
u8 *vm_host_ptr(void *vm, u64 hpa, u64 len);
/* A zeroed 4 KiB host page: its pointer, its HPA in *hpa; NULL on ENOMEM. Freed by vm_destroy. */
void *vm_alloc_host_page(struct vm *vm, u64 *hpa);

/* Run the vCPU until something stops it; returns the process exit status. */
int vm_run(struct vm *vm);
