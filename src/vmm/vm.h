/* SPDX-License-Identifier: MIT */
/*
 * The VM and its vCPUs: guest RAM, the memory map, the port and MMIO buses with their devices,
 * the statistics, and why and with which status the run ended.
 */
#pragma once
#include <pthread.h>
#include <signal.h>
#include <stdio.h>

#include "common.h"
#include "devices/acpi_pm.h"
#include "devices/apic_bus.h"
#include "devices/boot_timer.h"
#include "devices/bus.h"
#include "devices/debug_exit.h"
#include "devices/fw_cfg.h"
#include "devices/hpet.h"
#include "devices/i8042.h"
#include "devices/ioapic.h"
#include "devices/irqgen.h"
#include "devices/lapic.h"
#include "devices/pci.h"
#include "devices/pic.h"
#include "devices/pit.h"
#include "devices/reset.h"
#include "devices/rtc.h"
#include "devices/testdev.h"
#include "devices/timer.h"
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
/* vCPUs per VM: the local APIC IDs a PC's xAPIC addresses (0..254; 255 is broadcast). */
#define VM_MAX_VCPUS 255

/* A vCPU's multiprocessor state (KVM's mp_state): whether the run loop may run it. */
enum vcpu_mp_state {
	VCPU_RUNNABLE,
	VCPU_HALTED,	   /* in HLT (SDM vol. 2A HLT); an interrupt wakes it */
	VCPU_WAIT_FOR_SIPI /* an AP after power-on or INIT (SDM vol. 3A 9.4.2, 10.6.1) */
};

/*
 * The interrupt controller output a vCPU listens to (its local APIC, vmm/board.c): the board
 * sets it. ack() is the interrupt acknowledge cycle and returns the vector, or -1 when nothing
 * is deliverable after all; can_wake() says whether any request could still reach the vCPU (an
 * input not masked), which tells "halted for good" from "waiting". take_events(): below. rdmsr()/wrmsr(): the MSRs the
 * controller owns (IA32_APIC_BASE, the x2APIC range, IA32_TSC_DEADLINE), asked by the RDMSR and
 * WRMSR exits before the VMM's MSR policy: 0; -ENOENT for an MSR not the controller's; -EINVAL
 * when the guest gets #GP(0). NULL: the controller owns no MSR.
 */
struct vcpu_intc {
	int (*ack)(void *opaque);
	/* INIT, SIPI and NMI (LAPIC_EV_INIT, _SIPI, _NMI) taken from the controller: the bits of
	   `mask` that were pending, the SIPI's vector in *sipi_vector. NULL: none ever comes. */
	u32 (*take_events)(void *opaque, u32 mask, u8 *sipi_vector);
	bool (*can_wake)(void *opaque);
	int (*rdmsr)(void *opaque, u32 index, u64 *value);
	int (*wrmsr)(void *opaque, u32 index, u64 value);
	/* CR8, the controller's task priority (MOV CR8 exits, vmm/exits.c); NULL: the CPU's own. */
	u8 (*get_cr8)(void *opaque);
	void (*set_cr8)(void *opaque, u8 cr8);
	/*
	 * VT-x APIC virtualization (SDM vol. 3C chapter 30; NULL: none). sync, before every entry:
	 * bring the CPU's virtual-APIC state up to date (backend_ops.apicv_sync); true when the CPU
	 * delivers the controller's fixed vectors itself, so only ExtINT is left to inject.
	 * apic_write completes an APIC-write exit (56) at `offset`; eoi_vector an EOI-induced exit
	 * (45); apic_page is the guest-physical xAPIC page an APIC-access exit (44) refers to.
	 */
	bool (*sync)(void *opaque);
	void (*apic_write)(void *opaque, unsigned offset);
	void (*eoi_vector)(void *opaque, u8 vector);
	u64 (*apic_page)(void *opaque);
	/* An EOI as the CPU itself writes it, dismissing a posted-interrupt notification it
	   acknowledged (30.6; soft/nested.c for a guest hypervisor's notification). */
	void (*eoi)(void *opaque);
	void *opaque;
};

/* A virtual CPU: what the VMM keeps per vCPU; the backend keeps the rest in `backend`. */
struct vcpu {
	struct vm *vm;
	unsigned id; /* 0 is the bootstrap processor; the initial APIC ID */
	enum vcpu_mp_state mp_state;
	/* The INTR input (vcpu_intc's output level) and who drives it; no intc: never raised. */
	bool intr;
	bool intr_extint; /* of which an ExtINT (the 8259A's), which is injected even under APICv */
	u64 *pi_desc;     /* the posted-interrupt descriptor, with --vmx posted-interrupts=on */
	u8 in_guest;      /* backend->run is running it (atomic: device threads read it) */
	bool nmi_pending; /* an NMI taken from the controller, not yet injected (vmm/run.c) */
	struct vcpu_intc intc;
	struct lapic lapic; /* its local APIC (vmm/board.c wires it as `intc`) */
	/* The most recent exit the guest caused: not a VMCALL, an external interrupt or the
	   preemption timer (HC_LAST_EXIT reports it to the guest). */
	struct vm_exit last_exit;
	void *backend;			  /* the backend's own vCPU state */
	u64 msr_values[MSR_POLICY_COUNT]; /* the VMM-held MSRs (vmm/msr.c) */
	u64 kvmclock_msr; /* MSR_KVM_SYSTEM_TIME_NEW as written (vmm/kvmclock.c) */
	u64 exit_counts[EXIT_REASON_MAX + 1]; /* handled exits by basic reason (HC_EXIT_COUNT) */
	/* Exit-storm detection (vmm/exits.c): the last exit's key and how often it repeated. */
	struct {
		u32 reason, count;
		bool has_regs; /* rflags and gpr hold the last exit's registers */
		u64 rip, qual, icount, rflags;
		u64 gpr[16];
	} storm;
	/* The VMX-preemption timer's quantum, re-armed at each of its exits; 0 = timer off. */
	u64 preemption_quantum;
	u8 *pml_log; /* the vCPU's PML page (512 GPAs), NULL without PML (vmm/policy.c) */
	struct shadow_mmu *shadow; /* shadow paging, with EPT off (vmm/shadow.h); else NULL */
	/* --vcpu-threads (vmm/run.c): the vCPU's host thread, where it waits while it cannot run
	   (with vm->bql), and whether its LAPIC holds an INIT, SIPI or NMI for it to take. */
	pthread_t thread;
	pthread_cond_t wake;
	bool thread_created;
	bool mp_pending;
	u32 notified; /* vm_vcpu_notify calls: what a halt-polling thread watches */
};

/* The vCPU's posted-interrupt descriptor has ON set: interrupts posted that the CPU has not
   taken (SDM vol. 3C 30.6). A sequentially consistent load, for the poster's handshake. */
static inline bool vcpu_posted_pending(const struct vcpu *vcpu)
{
	return vcpu->pi_desc && (__atomic_load_n(&vcpu->pi_desc[PI_DESC_ON_BIT / 64],
						 __ATOMIC_SEQ_CST) &
				 (1ull << (PI_DESC_ON_BIT % 64)));
}

/* The --vmx what-if switches (vmm/policy.c): bit n of `set` = switch n was given, of `on` = on. */
struct vmm_policy {
	u64 set, on;
};

/*
 * A device the VM owns (the registry the VM walks; kvmtool's device__register): its name for
 * messages and --stats, its state, and the hooks the VM calls for all devices at once: reset
 * (a platform reset, e.g. through port 0xcf9), save and restore (snapshots; NULL: the device
 * cannot be saved yet, and a snapshot of this VM is refused). Ranges are the buses' (bus.h).
 */
struct vm_device {
	const char *name;
	void *opaque;
	void (*reset)(void *opaque);
	int (*save)(void *opaque, void *buf, size_t len);
	int (*restore)(void *opaque, const void *buf, size_t len);
};

#define VM_MAX_DEVICES 64

/* A host file descriptor the run loop watches (terminal input, a TAP device, an eventfd). */
struct vm_event_source {
	int fd;
	/* fd is readable (or hung up): take the input; false when the source has ended (EOF),
	   so the loop stops watching it rather than waking for it forever. */
	bool (*ready)(void *opaque);
	void *opaque;
};

#define VM_MAX_EVENT_SOURCES 8

/* The board's virtio-mmio devices (vmm/board_virtio.c): one 4 KiB page each from
   BOARD_VIRTIO_BASE (platform MMIO, e820.h), IOAPIC input BOARD_VIRTIO_GSI + n. */
#define BOARD_VIRTIO_BASE   0xfe000000ull
#define BOARD_VIRTIO_STRIDE 0x1000ull
#define BOARD_VIRTIO_GSI    16
#define BOARD_MAX_VIRTIO    8
struct board_virtio;

/* --watch (vmm/watch.c): guest-physical ranges whose writes are reported. */
#define VM_MAX_WATCH 8
struct vm_watch {
	u64 start[VM_MAX_WATCH], end[VM_MAX_WATCH]; /* whole pages, end inclusive */
	unsigned nr;
	bool wp;      /* --watch-method wp: EPT write protection, not PML */
	bool started; /* watch_start ran: writes are reported from now on */
	/* wp: the pages one instruction may write until its MTF exit (two when its write
	   straddles a page boundary: the second violation comes before the MTF exit) */
	u64 wp_pages[2];
	unsigned nr_wp_pages;
	u64 reports, shown, pml_entries, drains, wp_exits, mtf_exits;
	u64 window_ns, window_shown, hidden; /* the report lines' rate limit */
	struct timer tick; /* pml: the periodic drain */
};
struct vm {
	u8 *ram;
	u64 ram_size;
	struct mem_region regions[VM_MAX_REGIONS];
	unsigned nr_regions;
	struct bus pio, mmio;
	struct vm_device devices[VM_MAX_DEVICES];
	unsigned nr_devices;
	/* Timers in guest time (devices/timer.h), fired by the run loop (vmm/run.c). */
	struct timer_queue timers;
	u64 created_ns; /* the host clock at creation: guest time 0 */
	struct vm_event_source events[VM_MAX_EVENT_SOURCES];
	unsigned nr_events;
	/* The PC board's devices (vmm/board.c); each is in `devices`. */
	struct uart uart;
	struct debug_exit debug_exit;
	struct boot_timer boot_timer;
	struct testdev testdev;
	/* irqgen and what its thread hands the run loop: interrupts raised (not posted) and the
	   eventfd that wakes the loop for them (vmm/board.c). */
	struct irqgen irqgen;
	int irqgen_fd;
	u64 irqgen_pending;
	/* A device thread queued work for the run loop (its eventfd is readable): the loop polls
	   before the next entry (vmm/run.c). */
	u8 async_pending;
	struct pic pic;
	struct pit pit;
	struct ioapic ioapic;
	/* Per IOAPIC input, which sources drive it high (vmm/board.c: an ISA IRQ and an HPET route
	   may share a pin; the pin sees their OR, as a shared wire would). */
	u8 gsi_sources[IOAPIC_NR_PINS];
	struct apic_bus apic_bus;
	struct lapic *lapics[VM_MAX_VCPUS]; /* &vcpus[i].lapic, for the APIC bus */
	struct hpet hpet;
	struct rtc rtc;
	struct acpi_pm acpi_pm;
	struct i8042 i8042;
	struct reset_ctl reset_ctl;
	struct guest_mem guest_mem; /* RAM as devices see it (fw_cfg DMA) */
	struct fw_cfg fw_cfg;
	struct pci_host pci;
	/* kvmclock (vmm/kvmclock.c): the guest TSC and guest time at creation,
	   MSR_KVM_WALL_CLOCK_NEW as written, the master clock every vCPU's structure gets */
	struct {
		u64 tsc0, ns0, wall_msr;
		u64 master_tsc, master_ns;
		u32 mul;
		s8 shift;
		bool master_set;
	} kvmclock;
	struct board_virtio *virtio[BOARD_MAX_VIRTIO];
	unsigned nr_virtio;
	struct vm_watch watch; /* --watch (vmm/watch.c); set before vm_create */
	/* The board's optional devices present, BIT(enum board_dev) each (--machine, --device,
	   --no-device). Set before vm_create; 0 is the micro machine. */
	u32 devs;
	/* The vCPU whose exit is being handled (vmm/run.c): an access to the LAPIC page reaches
	   this vCPU's LAPIC, each vCPU seeing its own at the same address (SDM vol. 3A 11.4.1). */
	struct vcpu *running;
	/* An INIT, SIPI or NMI is pending at some vCPU (vm_accept_mp_events, by the run loop). */
	bool mp_events;
	/* The backend's interrupt controllers take the VM's interrupt lines (backend_ops.irq_line;
	   set by its vm_init): the board's PIC, IOAPIC and LAPICs are not the guest's. */
	bool irqchip_in_backend;
	/*
	 * --vcpu-threads (vmm/run.c): each vCPU on a host thread of its own, guest code in
	 * parallel; the VMM's state (devices, timers, exit handlers, stats) under `bql`, the big
	 * VMM lock (recursive: a soft vCPU's MMIO callback takes it, and so may the VMM's own
	 * emulation that reaches the same callback). The thread that called vm_run becomes the
	 * I/O thread: timers and host events; `wake_fd` (an eventfd) wakes it for a deadline
	 * earlier than `io_deadline`, the one it sleeps until, or for the end of the run.
	 */
	bool threaded;
	bool threads_go;
	pthread_mutex_t bql;
	pthread_cond_t go;
	int wake_fd;
	u64 io_deadline;
	/* A halted vCPU's INTR rose: the running vCPU's time slice ends (vmm/run.c). */
	bool resched;
	/* --exit-path fast: the backend may hand the common exits to vm_exit_fast inside its
	   run (soft). Set before vm_run. */
	bool fast_exits;
	u64 fast_handled, fast_left; /* for --stats: taken by vm_exit_fast, then run-loop returns */
	/* --halt-poll: spin, not sleep, when every vCPU waits for a timer due within this many ns
	   (vmm/run.c; 0 = off). Set before vm_create, which keeps it. Counts for --stats. */
	u64 halt_poll_ns;
	u64 halt_polls, halt_sleeps;
	struct stats stats;
	const struct backend_ops *backend;
	void *backend_vm; /* the backend's VM-level state (backend_ops.vm_init) */
	/* vCPU 0 is the bootstrap processor, the only one that runs at power-on; the others wait
	   for INIT-SIPI-SIPI (SDM vol. 3A 9.4). Set nr_vcpus before vm_create(); 0 means 1. */
	struct vcpu *vcpus;
	unsigned nr_vcpus;
	/* --tsc virtual: the guest TSC counts retired instructions times tsc_cpi plus modeled exit
	   cycles (cpu.h CPU_TSC_VIRTUAL); otherwise it follows the host TSC. */
	bool tsc_virtual;
	u32 tsc_cpi;
	/* soft, --jit: the block compiler's threshold (cpu_set_jit); 0 keeps the CPU's default,
	   -1 interprets only */
	int jit;
	/* soft, --stats: the block compiler keeps its counters (cpu_set_jit_stats) */
	bool jit_stats;
	/* --accel kvm levers (src/kvm, docs/kvm.md); set before the first vCPU operation. */
	struct vm_kvm_levers {
		bool ioeventfd;	   /* --kvm-ioeventfd: doorbell port KVM_DOORBELL_PORT */
		u32 disable_exits; /* --kvm-disable-exits: KVM_X86_DISABLE_EXITS_* bits */
		bool irqchip;	   /* --kvm-irqchip kernel: KVM_CREATE_IRQCHIP */
	} kvm;
	/* Host-physical pages the VMM allocated for VMCS-referenced structures (vm_alloc_host_page) */
	u8 **host_pages;
	bool *borrowed_pages; /* vm_map_host_page's: not freed */
	unsigned nr_host_pages, cap_host_pages;
	u8 *pae_roots; /* VM_PAE_ROOTS_SIZE bytes at VM_PAE_ROOTS_BASE (shadow paging), or NULL */
	struct shadow_cache *shadow_cache; /* shadow paging's, shared by the vCPUs (vmm/shadow.c) */
	/* Set before vm_create(), which keeps it (vmm_policy_set); zero is the default policy. */
	struct vmm_policy policy;
	u64 eptp;		/* 0 when EPT is off (vmm/ept.c) */
	u64 *dirty_bitmap;	/* a bit per 4 KiB of RAM, from the PML logs; NULL without PML */
	bool dirty_logging;	/* vm_dirty_log_start ran (vmm/dirty.c) */
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

/* The registry: 0, or -ENOSPC. */
int vm_register_device(struct vm *vm, const struct vm_device *dev);
/* Reset every registered device, in registration order. */
void vm_reset_devices(struct vm *vm);
/* Watch fd: ready() runs from the run loop when it is readable. 0, or -ENOSPC. */
int vm_add_event_source(struct vm *vm, int fd, bool (*ready)(void *opaque), void *opaque);

/*
 * The machine (vmm/board.c). Every machine has the LAPICs, the IOAPIC, COM1, fw_cfg, the ACPI
 * PM block with its reset register (port 0xcf9) and S5, the debug-exit and boot-timer ports and
 * the virtio-mmio devices asked for: Firecracker's and QEMU microvm's set, which Linux boots on.
 * The legacy PC devices are optional: --machine pc has them all but testdev, --machine micro
 * (the default) none; --device NAME / --no-device NAME add or remove one. A guest touching an
 * absent device meets an empty bus (all ones, writes dropped; counted in --stats), and the ACPI
 * tables do not describe it (docs/security.md).
 */
enum board_dev {
	BOARD_DEV_PIC,	   /* the 8259A pair and the ELCR */
	BOARD_DEV_PIT,	   /* the 8254 and port 0x61 */
	BOARD_DEV_RTC,	   /* the MC146818 RTC/CMOS */
	BOARD_DEV_I8042,   /* the keyboard controller */
	BOARD_DEV_HPET,	   /* the HPET */
	BOARD_DEV_PCI,	   /* the PCI host bridge's configuration ports */
	BOARD_DEV_PORT92,  /* port 0x92: fast A20 and INIT */
	BOARD_DEV_TESTDEV, /* the MMIO test device (devices/testdev.h) */
	BOARD_DEV_IRQGEN,  /* interrupts from a host thread (devices/irqgen.h) */
	BOARD_NR_DEVS
};
#define BOARD_MACHINE_MICRO 0u
#define BOARD_MACHINE_PC    ((u32)BIT(BOARD_DEV_TESTDEV) - 1)
/* The optional device named `name`: its enum board_dev; -ENOENT for a device every machine has
   (it cannot be removed), -EINVAL for no device of the board. */
int board_dev_by_name(const char *name);
const char *board_dev_name(enum board_dev d);
/* Every device name --device and --no-device take, space-separated, for messages. */
const char *board_dev_names(void);
/* Create, register and wire the machine's devices (vm->devs says which optional ones). */
int board_create(struct vm *vm, const struct uart_host *console);
/* The device inventory (vmm/inventory.c): --devices' table, and --stats' first line. */
void board_print_inventory(const struct vm *vm, FILE *f);
void board_print_devices_line(const struct vm *vm, FILE *f);
/*
 * Dirty-page logging (vmm/dirty.c): start cleans every page; get ORs the pages written since
 * (EPT dirty flags, PML logs, DMA) into out[words] as a bit per 4 KiB page and returns how many,
 * cleaning them again with `reset`. -ENOTSUP without EPT A/D and PML (--vmx pml=on), -EINVAL
 * before start, -ENOSPC when out is too small. mark: a write that bypassed EPT.
 */
int vm_dirty_log_start(struct vm *vm);
long vm_dirty_log_get(struct vm *vm, u64 *out, size_t words, bool reset);
void vm_dirty_mark(struct vm *vm, u64 gpa, u64 len);
/* The write monitor (vmm/watch.c). */
int watch_add(struct vm_watch *w, u64 start, u64 end, char *why, size_t len);
/* After the guest is loaded: clean or protect the pages. 0, or negative errno and why. */
int watch_start(struct vm *vm, char *why, size_t len);
void watch_pml_full(struct vcpu *vcpu, const u64 *log, u16 index);
void watch_drain(struct vm *vm);
void watch_mem_written(struct vm *vm, u64 gpa, u64 len);
struct vm_exit;
bool watch_ept_violation(struct vcpu *vcpu, const struct vm_exit *exit);
void watch_mtf(struct vcpu *vcpu);
void watch_print_stats(const struct vm *vm, FILE *f);
/* Who drives an IOAPIC input (vm->gsi_sources): the pin sees the OR of its sources. */
#define GSI_SRC_ISA    BIT(0)
#define GSI_SRC_HPET   BIT(1)
#define GSI_SRC_VIRTIO BIT(2)
void board_gsi_set(struct vm *vm, unsigned pin, u8 source, bool level);
/* CPUID.01H:ECX's bits of the vCPU's LAPIC, as the VMM's LAPIC offers them: x2APIC (ECX[21])
   and TSC-deadline mode (ECX[24]), for both backends' CPUID (vmm/exits.c, kvm's without KVM's
   LAPIC). */
void board_cpuid_lapic(const struct vcpu *vcpu, u32 out[4]);

/* A virtio device for board_add_virtio (vmm/board_virtio.c). */
enum board_virtio_kind { BOARD_VIRTIO_BLK, BOARD_VIRTIO_RNG, BOARD_VIRTIO_CONSOLE, BOARD_VIRTIO_NET };
struct board_virtio_spec {
	enum board_virtio_kind kind;
	const char *file; /* blk: the image */
	bool read_only;	  /* blk */
	const char *tap;  /* net: a TAP interface's name; NULL: the loopback network */
	bool no_event_idx; /* do not offer VIRTIO_F_EVENT_IDX (the seeds' doorbell figure) */
	bool async;	   /* queues run from the run loop, not in the doorbell's exit */
};
/* After vm_create, before board_install_firmware (which describes the devices in the DSDT).
   0, or negative errno with one line in err naming what is wrong. */
int board_add_virtio(struct vm *vm, const struct board_virtio_spec *s, char *err, size_t len);
struct acpi_virtio_mmio;
void board_virtio_acpi(const struct vm *vm, struct acpi_virtio_mmio *out, unsigned *n);
void board_virtio_print_stats(const struct vm *vm, FILE *out);
/* kvmclock (vmm/kvmclock.c): the hypervisor CPUID leaves and the two MSRs. */
#define MSR_KVM_WALL_CLOCK_NEW	0x4b564d00
#define MSR_KVM_SYSTEM_TIME_NEW 0x4b564d01
void kvmclock_start(struct vcpu *bsp);
void kvmclock_cpuid(const struct vm *vm, u32 leaf, u32 out[4]);
bool kvmclock_owns_msr(const struct vm *vm, u32 index);
int kvmclock_rdmsr(struct vcpu *vcpu, u32 index, u64 *value);
int kvmclock_wrmsr(struct vcpu *vcpu, u32 index, u64 value);
void kvmclock_scale(u64 hz, u32 *mul, s8 *shift);
/* What board_add_virtio made: freed, files closed (vm_destroy). */
void board_destroy(struct vm *vm);
/* The ACPI tables into RAM at ACPI_TABLES_BASE (the RSDP's address): 0 or negative errno. */
int board_install_firmware(struct vm *vm);
/* The board's e820 table for ram_size (e820_build): the number of entries or negative errno. */
int board_e820(u64 ram_size, struct e820_entry *out, unsigned max);

/* The guest's TSC as RDTSC would read it (SDM 26.6.5): scaled, then offset by the backend. */
u64 vm_vcpu_guest_tsc(struct vcpu *vcpu);
/* The host TSC value at which the timer queue's clock (guest ns, devices/timer.h) reaches
   guest_ns; 0 when the host clock is not read from the TSC (stats_tsc_at_ns). */
u64 vm_host_tsc_at(const struct vm *vm, u64 guest_ns);

/*
 * INIT and SIPI (SDM vol. 3A 9.4.4 and 11.6.1, as KVM's kvm_apic_accept_events): an AP that
 * takes INIT goes to its INIT state (vm_vcpu_init_state) and waits for SIPI; a SIPI starts a
 * waiting AP in real mode at vector * 4 KiB; a SIPI to any other vCPU is ignored. INIT to the
 * BSP would restart the firmware at the reset vector, which a directly loaded guest lacks: the
 * run ends, as for the other reset requests. An NMI becomes the vCPU's nmi_pending (injected by
 * the run loop when the vCPU can take it, SDM 6.7.1) and wakes it from HLT; a vCPU waiting for
 * SIPI drops it (it takes nothing but SIPI, 25.4.2 Table 25-2 "wait-for-SIPI"). The run loop
 * calls it while vm->mp_events is set.
 */
void vm_accept_mp_events(struct vm *vm);
/* The same for one vCPU (with --vcpu-threads each vCPU's thread takes its own). */
void vm_vcpu_accept_mp_events(struct vcpu *vcpu);
/* The register state after INIT (SDM vol. 3A 9.1.1, Table 9-1): real mode at F000:FFF0. */
void vm_vcpu_init_state(struct vcpu *vcpu);

/* Drive a vCPU's INTR input (the board wires its interrupt controller's output here). */
void vm_vcpu_set_intr(void *opaque, unsigned pin, bool level);

/* Add [gpa, gpa+size) to the memory map: 0, -EEXIST on overlap, -ENOSPC. */
int vm_add_region(struct vm *vm, u64 gpa, u64 size, enum mem_region_kind kind, const char *name);

/*
 * The VMM's and devices' write to guest RAM while vCPUs may run (DMA, emulated instructions): the
 * bytes land and every vCPU forgets code it decoded from them (backend mem_written). 0, or
 * -EFAULT when [gpa, gpa+len) is not all RAM (nothing is written).
 */
int vm_write_phys(struct vm *vm, u64 gpa, const void *buf, u64 len);
/* The same for bytes already written through a host pointer into RAM. */
void vm_mem_written(struct vm *vm, u64 gpa, u64 len);

/* Copy the plan's segments into RAM and load its register state into the BSP. */
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
/*
 * And below 4 GiB, where a PAE CR3 can point (SDM vol. 3A 4.4: CR3 bits 31:5), the shadow MMU's
 * PAE roots: 32 bytes (four PDPTEs) per vCPU, in the platform MMIO hole (e820.h) where nothing
 * else lives; shadow paging therefore needs RAM to end below it (vmm/policy.c says so).
 */
#define VM_PAE_ROOTS_BASE 0xfe800000ull
#define VM_PAE_ROOTS_SIZE (32 * VM_MAX_VCPUS)
/* The posted-interrupt notification vector (SDM vol. 3C 30.6), Linux's POSTED_INTR_VECTOR. */
#define VMM_POSTED_INTR_VECTOR 0xf2
u8 *vm_host_ptr(void *vm, u64 hpa, u64 len);
/* A zeroed 4 KiB host page: its pointer, its HPA in *hpa; NULL on ENOMEM. Freed by vm_destroy. */
void *vm_alloc_host_page(struct vm *vm, u64 *hpa);
/* A page-aligned 4 KiB page the VMM already has (a LAPIC's register page, the virtual-APIC page
   under APIC virtualization) given an HPA too; vm_destroy leaves it. 0 or -ENOMEM. */
int vm_map_host_page(struct vm *vm, void *page, u64 *hpa);

/* Run the vCPUs until something stops the VM; returns the process exit status. */
int vm_run(struct vm *vm);
/*
 * An exit the backend offers the VMM without returning from its run (soft: inside the CPU's
 * loop; docs/vmx.md "Exits inside the CPU's run loop"): CPUID, RDMSR, WRMSR and port I/O that
 * is not a string instruction, handled and recorded exactly as the run loop would. 0: not
 * taken, the backend returns it as usual; 1: handled, and nothing waits for the run loop (no
 * stop, no interrupt or NMI to deliver, no other vCPU to schedule, no queued work), so the
 * vCPU may enter again at once; -1: handled, the backend returns BACKEND_RUN_HANDLED.
 */
int vm_exit_fast(struct vcpu *vcpu, struct vm_exit *exit);
/*
 * --vcpu-threads: create each vCPU's host thread, parked until vm_run starts them. Called after
 * vm_create and before the sandbox (which refuses clone). 0, or -errno with the reason in why.
 */
int vm_threads_prepare(struct vm *vm, char *why, size_t len);
/*
 * Something for the vCPU to look at (its INTR rose, an INIT/SIPI/NMI for it): with
 * --vcpu-threads, its thread wakes if it waits and leaves the guest if it runs (the backend's
 * kick); nothing otherwise (the run loop looks between exits). Called with vm->bql held.
 */
void vm_vcpu_notify(struct vcpu *vcpu);
/* The vCPU whose exit or access is being handled: the calling thread's own with
   --vcpu-threads, else vm->running (vCPU 0 before the run). */
struct vcpu *vm_current_vcpu(struct vm *vm);
/* With --vcpu-threads, the vCPU whose thread calls; NULL on any other thread (the I/O thread,
   a device's) and without threads. */
struct vcpu *vm_thread_vcpu(void);
/* The big VMM lock, with --vcpu-threads; nothing otherwise. */
void vm_bql_lock(struct vm *vm);
void vm_bql_unlock(struct vm *vm);
/* --stats: exits per vCPU (with several) and how the waits went (slept, polled). */
void vm_print_vcpu_stats(const struct vm *vm, FILE *out);
/* KVM's default halt_poll_ns (virt/kvm/kvm_main.c): 200 microseconds. */
#define VM_HALT_POLL_DEFAULT_NS 200000ull
