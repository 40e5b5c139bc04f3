// SPDX-License-Identifier: MIT
/*
 * The PC board: the devices every guest gets, registered with the VM (vm_register_device), put
 * on the port and MMIO buses, and wired to interrupt lines, as a PC's chipset wires them
 * (QEMU's "pc" machine is the model; docs/firmware.md lists what the ACPI tables promise):
 *   COM1 16550A at 0x3f8, IRQ 4; the 8254 PIT at 0x40-0x43 (+ port 0x61), OUT0 on IRQ 0; the
 *   two 8259A PICs at 0x20/0xa0 (ELCR at 0x4d0); the MC146818 RTC at 0x70-0x71, IRQ 8; the HPET
 *   at 0xfed00000, whose legacy-replacement route sits between the PIT/RTC and IRQ 0/8; the
 *   i8042 at 0x60/0x64, IRQ 1 and 12; the ACPI PM block at 0x600, SCI on IRQ 9 (GSI 9); the
 *   reset registers at 0x92 and 0xcf9; fw_cfg at 0x510; the PCI host bridge at 0xcf8/0xcfc; the
 *   IOAPIC at 0xfec00000; a local APIC per vCPU at 0xfee00000; the debug-exit port; testdev;
 *   the boot timer at port 0x4f8 (devices/boot_timer.h).
 * That is --machine pc. The default machine, micro, has none of the legacy set (PIC, PIT, RTC,
 * i8042, HPET, PCI ports, port 0x92) nor the test device: an absent device is not initialized,
 * not on a bus and not in the ACPI tables (vm.h enum board_dev, docs/security.md).
 * A new device goes here: init, bus ranges, vm_register_device, irq_line_wire.
 *
 * The path of an interrupt (docs/architecture.md):
 *   ISA IRQ n -> the 8259A pair (pin n) and the IOAPIC (pin n; IRQ 0 on pin 2, the MADT's
 *   interrupt source override) -> the 8259A's INT on the BSP's LINT0 (virtual wire, SDM vol. 3A
 *   10.5.1, MP spec 3.6.2.1); the IOAPIC's messages over the APIC bus (devices/apic_bus.h) to
 *   the LAPICs, whose EOI of a level vector goes back to the IOAPIC (82093AA 3.2.4) -> the
 *   LAPIC of each vCPU drives its INTR (vm_vcpu_set_intr): high while a vector is deliverable
 *   (IRR above PPR, SDM 11.8.4) or ExtINT is pending; the INTA cycle (vcpu_intc.ack) asks the
 *   8259A for ExtINT, else moves the LAPIC's vector from IRR to ISR.
 * When the backend's controllers are the guest's (vm->irqchip_in_backend: KVM's in-kernel
 * irqchip), the same pins go to backend->irq_line and irqgen's MSIs to backend->msi instead.
 *
 * Firmware state: a guest loaded directly (multiboot, PVH, Linux) meets the chipset as firmware
 * leaves it. The PICs are unprogrammed with every IRQ masked (IMR 0xff), every IOAPIC entry is
 * masked (its reset state), the LAPICs are software-disabled (SVR 0xff) with the BSP's LINT0 set
 * to ExtINT, as KVM's kvm_lapic_reset and QEMU's apic_reset_common leave it for the BIOS' virtual
 * wire mode. A guest that never programs them sees no interrupt. The PIT runs as after a BIOS
 * (mode 3, count 65536, 18.2 Hz), as QEMU's does; the HPET, RTC and PM interrupts are off.
 *
 * INIT and SIPI reach the VMM (vm_accept_mp_events): an AP starts where its SIPI says. x2APIC
 * is offered (CPUID.01H:ECX[21]); Linux then reaches its LAPIC through MSRs.
 * NMIs (an NMI IPI, an LVT entry in NMI mode) are injected by the run loop, through the NMI
 * window when the vCPU blocks them. TSC-deadline mode is offered (CPUID.01H:ECX[24]) with the
 * host TSC's measured rate, except under --tsc virtual. Not yet: SMI (LAPIC_EV_SMI is left
 * pending), a relocated IA32_APIC_BASE (the page decodes only at 0xfee00000), APICv. CR8 is
 * the LAPIC's TPR[7:4] through the CR8-load/-store exits (vmm/policy.c, vmm/exits.c).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/eventfd.h>

#include "devices/console.h"
#include "firmware/acpi.h"
#include "firmware/e820.h"
#include "vmm/cpuid.h"
#include "cpu/cpu.h"
#include "vmm/vm.h"

/* The LAPIC timer's clock before its divider, KVM's and QEMU's (1 GHz). */
#define BOARD_APIC_BUS_HZ 1000000000ull
/* The guest TSC rate the LAPIC falls back on for TSC-deadline mode when none is measured. */
#define BOARD_TSC_HZ 1000000000ull
/* The RTC's wall clock in a --tsc virtual run: 2000-01-01 00:00 UTC, the same every run. */
#define BOARD_RTC_VIRTUAL_EPOCH 946684800
/* The IOAPIC's ID, the MADT's (firmware/acpi.h acpi_config_pc). */
#define BOARD_IOAPIC_ID 0

/* The optional devices' names (--device, --no-device; vm.h enum board_dev). */
static const char *const board_dev_names_tab[BOARD_NR_DEVS] = {
	[BOARD_DEV_PIC] = "pic",	 [BOARD_DEV_PIT] = "pit",   [BOARD_DEV_RTC] = "rtc",
	[BOARD_DEV_I8042] = "i8042",	 [BOARD_DEV_HPET] = "hpet", [BOARD_DEV_PCI] = "pci",
	[BOARD_DEV_PORT92] = "port92", [BOARD_DEV_TESTDEV] = "testdev",
	[BOARD_DEV_IRQGEN] = "irqgen",
};

/* The devices every machine has: named so that --no-device says why it cannot. */
static const char *const board_fixed_devs[] = {
	"lapic", "ioapic", "uart", "fw_cfg", "acpi-pm", "reset", "debug-exit", "boot-timer",
};

int board_dev_by_name(const char *name)
{
	for (unsigned d = 0; d < BOARD_NR_DEVS; d++)
		if (!strcmp(name, board_dev_names_tab[d]))
			return (int)d;
	for (unsigned i = 0; i < ARRAY_SIZE(board_fixed_devs); i++)
		if (!strcmp(name, board_fixed_devs[i]))
			return -ENOENT;
	return -EINVAL;
}

const char *board_dev_name(enum board_dev d)
{
	return d < BOARD_NR_DEVS ? board_dev_names_tab[d] : "?";
}

const char *board_dev_names(void)
{
	return "pic pit rtc i8042 hpet pci port92 testdev irqgen";
}

static bool board_has(const struct vm *vm, enum board_dev d)
{
	return vm->devs & BIT(d);
}

static void board_stop_by_debug_exit(void *opaque, int status)
{
	vm_request_stop(opaque, status, "%s", "");
}

/* The guest says it booted (devices/boot_timer.h): the time since the VM was created, guest
   time (the host clock, or the virtual TSC's count under --tsc virtual). */
static void board_booted(void *opaque)
{
	struct vm *vm = opaque;
	u64 ns = timer_now(&vm->timers);

	console_flush(); /* the guest's own lines before ours */
	fprintf(stderr, "tollbooth: boot time: %llu.%03llu ms (the guest wrote %d to port %#x)\n",
		(unsigned long long)(ns / 1000000), (unsigned long long)(ns / 1000 % 1000),
		BOOT_TIMER_MAGIC, BOOT_TIMER_PORT);
}

static void board_uart_reset(void *opaque)
{
	struct uart *u = opaque;
	struct uart_host host = u->host;
	struct irq_line irq = u->irq;

	uart_init(u, &host);
	u->irq = irq;
	irq_set_level(&u->irq, false);
}

static void board_pic_reset(void *opaque)
{
	struct pic *p = opaque;

	pic_reset(p);
	p->chip[0].imr = p->chip[1].imr = 0xff; /* as firmware leaves it, see above */
}

static void board_testdev_reset(void *opaque)
{
	*(struct testdev *)opaque = (struct testdev){ 0 };
}

/* The registry's reset hook for a device whose reset takes its own struct. */
#define BOARD_RESET_FN(name, type, fn)                                                             \
	static void board_##name##_reset(void *opaque)                                             \
	{                                                                                          \
		fn((type *)opaque);                                                                \
	}
BOARD_RESET_FN(pit, struct pit, pit_reset)
BOARD_RESET_FN(ioapic, struct ioapic, ioapic_reset)
BOARD_RESET_FN(hpet, struct hpet, hpet_reset)
BOARD_RESET_FN(rtc, struct rtc, rtc_reset)
BOARD_RESET_FN(acpi_pm, struct acpi_pm, acpi_pm_reset)
BOARD_RESET_FN(i8042, struct i8042, i8042_reset)
BOARD_RESET_FN(reset_ctl, struct reset_ctl, reset_ctl_reset)
BOARD_RESET_FN(fw_cfg, struct fw_cfg, fw_cfg_reset)
BOARD_RESET_FN(pci, struct pci_host, pci_host_reset)

static bool board_console_input(void *opaque)
{
	uart_host_input(opaque);
	return !console_input_ended();
}

/* --- the local APICs --- */

static u32 board_lapic_reg(const struct lapic *l, unsigned off)
{
	u32 v;

	memcpy(&v, l->regs + off, sizeof(v)); /* the xAPIC register page (lapic.h) */
	return v;
}

/* The vCPU's INTR: a fixed vector the LAPIC would dispatch (SDM 11.8.4) or ExtINT pending; an
   INIT, SIPI or NMI for the run loop to act on (vm_accept_mp_events). */
static void board_lapic_update(struct vcpu *vcpu)
{
	const struct lapic *l = &vcpu->lapic;
	u32 ev = lapic_pending_events(l);

	vcpu->intr_extint = ev & LAPIC_EV_EXTINT;
	vm_vcpu_set_intr(vcpu, 0, lapic_pending_vector(l) >= 0 || (ev & LAPIC_EV_EXTINT));
	if (ev & (LAPIC_EV_INIT | LAPIC_EV_SIPI | LAPIC_EV_NMI)) {
		vcpu->vm->mp_events = true;
		vcpu->vm->resched = true; /* the target may not be the vCPU running now */
		vcpu->mp_pending = true;
		vm_vcpu_notify(vcpu);
	}
}

static void board_lapic_kick(void *opaque)
{
	board_lapic_update(opaque);
}

static void board_lapic_send(void *opaque, struct lapic *from, const struct apic_msg *msg)
{
	struct vcpu *vcpu = opaque;

	apic_bus_deliver(&vcpu->vm->apic_bus, msg, from);
}

/* A LAPIC's EOI of a level-triggered vector is broadcast to the IOAPIC (SDM 11.8.5). */
static void board_lapic_eoi(void *opaque, u8 vector)
{
	struct vcpu *vcpu = opaque;

	ioapic_eoi(&vcpu->vm->ioapic, vector);
}

static u64 board_lapic_guest_tsc(void *opaque)
{
	return vm_vcpu_guest_tsc(opaque);
}

/* The guest TSC's rate for TSC-deadline mode: the host TSC's, which the guest TSC follows
   (offset 0, no scaling, vmm/policy.c), measured once (stats_tsc_hz). None under --tsc
   virtual, whose TSC counts instructions: CPUID does not offer TSC-deadline there. */
static u64 board_lapic_tsc_hz(void *opaque)
{
	struct vcpu *vcpu = opaque;

	return vcpu->vm->tsc_virtual ? 0 : stats_tsc_hz();
}

void board_cpuid_lapic(const struct vcpu *vcpu, u32 out[4])
{
	if (vcpu->lapic.cfg.x2apic)
		out[CPUID_ECX] |= CPUID_1_ECX_X2APIC;
	/* TSC-deadline mode needs a known, invariant TSC rate. */
	if (!vcpu->vm->tsc_virtual && vcpu->lapic.host.tsc_hz && stats_tsc_invariant())
		out[CPUID_ECX] |= CPUID_1_ECX_TSC_DEADLINE;
}

/*
 * The INTA cycle: ExtINT first (the 8259A supplies the vector, SDM 10.5.1; KVM's
 * kvm_cpu_get_interrupt asks the PIC first too), else the LAPIC's highest deliverable vector
 * goes from IRR to ISR (SDM 11.8.4). -1 when neither is left (the request went away).
 */
static int board_lapic_ack(void *opaque)
{
	struct vcpu *vcpu = opaque;
	struct lapic *l = &vcpu->lapic;
	int vector = -1;

	if (lapic_take_events(l, LAPIC_EV_EXTINT, NULL))
		vector = pic_intack(&vcpu->vm->pic);
	else if (lapic_pending_vector(l) >= 0)
		vector = lapic_intack(l);
	board_lapic_update(vcpu);
	return vector;
}

/* INIT, SIPI and NMI for the VMM (vm_accept_mp_events). INIT also resets the LAPIC but for its ID
   and IA32_APIC_BASE (SDM 11.4.7.3), as it resets the rest of the processor. */
static u32 board_lapic_take_events(void *opaque, u32 mask, u8 *sipi_vector)
{
	struct vcpu *vcpu = opaque;
	u32 got = lapic_take_events(&vcpu->lapic, mask, sipi_vector);

	if (got & LAPIC_EV_INIT) {
		lapic_init_reset(&vcpu->lapic);
		board_lapic_update(vcpu);
	}
	return got;
}

/*
 * Could an interrupt still reach this vCPU? A software-enabled LAPIC accepts its timer, IPIs
 * and IOAPIC messages; otherwise only the 8259A's INTR through LINT0 can (the BSP's, while the
 * LAPIC is globally disabled or LINT0 is an unmasked ExtINT entry, SDM 11.4.3, 11.5.1), and only
 * when some IRQ is unmasked there.
 */
static bool board_lapic_can_wake(void *opaque)
{
	struct vcpu *vcpu = opaque;
	const struct lapic *l = &vcpu->lapic;
	const struct pic *p = &vcpu->vm->pic;
	u32 lvt0 = board_lapic_reg(l, APIC_LVT0);
	bool extint;

	if (lapic_hw_enabled(l) && lapic_sw_enabled(l))
		return true;
	extint = !lapic_hw_enabled(l) ||
		 (!(lvt0 & APIC_LVT_MASKED) &&
		  ((lvt0 & APIC_LVT_DM) >> APIC_LVT_DM_SHIFT) == APIC_DM_EXTINT);
	return vcpu->id == 0 && extint && p->chip[0].imr != 0xff;
}

/*
 * IA32_APIC_BASE, IA32_TSC_DEADLINE and the x2APIC MSRs (0x800-0x8ff) are the LAPIC's (they
 * exit: the MSR bitmap passes only the CPU's own, vmm/msr.c). IA32_TSC_DEADLINE reaches the
 * LAPIC although CPUID does not offer TSC-deadline mode yet; the LAPIC ignores it outside that
 * mode (SDM 11.5.4.1).
 */
static int board_lapic_rdmsr(void *opaque, u32 index, u64 *value)
{
	struct vcpu *vcpu = opaque;

	if (kvmclock_owns_msr(vcpu->vm, index))
		return kvmclock_rdmsr(vcpu, index, value);
	if (!lapic_msr_owns(index))
		return -ENOENT;
	return lapic_rdmsr(&vcpu->lapic, index, value);
}

static int board_lapic_wrmsr(void *opaque, u32 index, u64 value)
{
	struct vcpu *vcpu = opaque;
	int err;

	if (kvmclock_owns_msr(vcpu->vm, index))
		return kvmclock_wrmsr(vcpu, index, value);
	if (!lapic_msr_owns(index))
		return -ENOENT;
	err = lapic_wrmsr(&vcpu->lapic, index, value);
	board_lapic_update(vcpu); /* EOI, TPR, a disabled APIC: what is deliverable changed */
	return err;
}

/* CR8 is the LAPIC's TPR[7:4] (SDM 11.8.6.1): a lower priority may let a vector through. */
static u8 board_lapic_get_cr8(void *opaque)
{
	struct vcpu *vcpu = opaque;

	return lapic_get_cr8(&vcpu->lapic);
}

static void board_lapic_set_cr8(void *opaque, u8 cr8)
{
	struct vcpu *vcpu = opaque;

	lapic_set_cr8(&vcpu->lapic, cr8);
	board_lapic_update(vcpu);
}

/*
 * The xAPIC page: each vCPU reaches its own LAPIC at the same address (SDM 11.4.1). Timers that
 * are due fire first: the run loop otherwise looks at them only on the host tick's exit, and a
 * guest polling IRR for its timer's expiry (SDM 11.5.4: the interrupt is generated when the count
 * reaches 0) must see it set once the time has come, however rarely that tick arrives.
 */
static void board_lapic_mmio(void *opaque, u64 offset, u64 *data, unsigned len, bool is_write)
{
	struct vm *vm = opaque;
	struct vcpu *vcpu = vm_current_vcpu(vm);

	timer_run_expired(&vm->timers, timer_now(&vm->timers));
	lapic_mmio_access(&vcpu->lapic, offset, data, len, is_write);
	board_lapic_update(vcpu);
}

/*
 * VT-x APIC virtualization (SDM vol. 3C chapter 30, docs/vmx.md): the LAPIC's register page is the
 * CPU's virtual-APIC page. Before each entry the backend gets RVI and SVI from IRR and ISR, the
 * EOI-exit bitmap from TMR (an EOI of a level-triggered vector exits, for the IOAPIC), the TPR
 * threshold (with the TPR shadow alone: the class of the highest request the TPR holds back, so
 * that lowering TPR below it exits) and which of the xAPIC page or the x2APIC MSRs to
 * virtualize. Then INTR is computed anew: the guest may have changed TPR or EOI'd without exits.
 */
static bool board_lapic_sync(void *opaque)
{
	struct vcpu *vcpu = opaque;
	struct lapic *l = &vcpu->lapic;
	const struct backend_ops *b = vcpu->vm->backend;
	int irr, tpr, mode;

	/* Without APIC virtualization (the default), nothing to bring up to date: none of the
	   LAPIC's scans below, which were a sixth of a CPUID exit's instructions. */
	if (!b->apicv_sync || b->apicv_sync(vcpu, NULL) < 0)
		return false;
	struct backend_apicv s = { 0 };
	irr = lapic_highest_irr(l);
	tpr = (int)board_lapic_reg(l, APIC_TPR) & 0xf0;
	/* Posted interrupts the CPU has not taken (the vCPU waited in the run loop): into IRR
	   now, as KVM's sync_pir_to_irr does before it decides whether a vCPU can wake. */
	if (vcpu_posted_pending(vcpu)) {
		u64 pir[4];

		__atomic_fetch_and(&vcpu->pi_desc[PI_DESC_ON_BIT / 64],
				   ~(1ull << (PI_DESC_ON_BIT % 64)), __ATOMIC_SEQ_CST);
		for (unsigned i = 0; i < 4; i++)
			pir[i] = __atomic_exchange_n(&vcpu->pi_desc[i], 0, __ATOMIC_SEQ_CST);
		lapic_or_irr(l, pir);
		irr = lapic_highest_irr(l);
	}
	s.max_irr = irr;
	s.max_isr = lapic_highest_isr(l);
	lapic_tmr(l, s.tmr);
	if (irr >= 0 && (irr & 0xf0) <= tpr)
		s.tpr_threshold = (u8)(irr >> 4);
	s.x2apic = lapic_x2apic_mode(l);
	s.xapic_page = lapic_hw_enabled(l) && !s.x2apic &&
		       (l->apic_base & ~0xfffull) == LAPIC_DEFAULT_BASE;
	mode = b->apicv_sync(vcpu, &s);
	if (mode >= 0)
		board_lapic_update(vcpu);
	return mode > 0;
}

static void board_lapic_apic_write(void *opaque, unsigned offset)
{
	struct vcpu *vcpu = opaque;

	lapic_apic_write(&vcpu->lapic, offset);
	board_lapic_update(vcpu);
}

static void board_lapic_eoi_vector(void *opaque, u8 vector)
{
	struct vcpu *vcpu = opaque;

	lapic_eoi_vector(&vcpu->lapic, vector);
	board_lapic_update(vcpu);
}

static void board_lapic_eoi_write(void *opaque)
{
	struct vcpu *vcpu = opaque;

	lapic_eoi(&vcpu->lapic);
	board_lapic_update(vcpu);
}

static u64 board_lapic_page(void *opaque)
{
	struct vcpu *vcpu = opaque;

	return vcpu->lapic.apic_base & ~0xfffull;
}

/*
 * irqgen's interrupts, raised on its thread (devices/irqgen.h): an MSI to APIC ID 0, fixed and
 * edge-triggered. With posted interrupts (SDM vol. 3C 30.6) the thread posts it itself: the
 * vector into the descriptor's PIR, ON set, and when ON was clear the notification vector as a
 * host interrupt to the vCPU, which takes it without an exit if it runs; if it waits in the run
 * loop, the eventfd wakes the loop, which moves PIR into IRR (board_lapic_sync). Without, the
 * raise is counted for the run loop (the eventfd) and the running vCPU kicked out, as KVM's
 * irqfd does for a vCPU in the guest: the loop then delivers the MSI through the APIC bus.
 */
static void board_irqgen_raise(void *opaque, u8 vector)
{
	struct vm *vm = opaque;
	struct vcpu *vcpu = &vm->vcpus[0];
	const u64 one = 1;
	u64 *pi = vcpu->pi_desc;

	/* The backend's LAPICs: its MSI path from this thread (KVM: an irqfd), no exit, no loop. */
	if (vm->irqchip_in_backend) {
		vm->backend->msi(vm, MSI_ADDR_BASE | 0u << MSI_ADDR_DEST_SHIFT,
				 APIC_DM_FIXED << MSI_DATA_DM_SHIFT | vector);
		return;
	}
	if (pi) {
		__atomic_fetch_or(&pi[vector / 64], 1ull << (vector % 64), __ATOMIC_SEQ_CST);
		if (!(__atomic_fetch_or(&pi[PI_DESC_ON_BIT / 64], 1ull << (PI_DESC_ON_BIT % 64),
					__ATOMIC_SEQ_CST) &
		      (1ull << (PI_DESC_ON_BIT % 64)))) {
			if (vm->backend->post_notify)
				vm->backend->post_notify(vcpu, VMM_POSTED_INTR_VECTOR);
			/* Not in the guest: it may wait in the run loop, which must look. */
			if (!__atomic_load_n(&vcpu->in_guest, __ATOMIC_SEQ_CST)) {
				__atomic_store_n(&vm->async_pending, 1, __ATOMIC_SEQ_CST);
				if (write(vm->irqgen_fd, &one, sizeof(one)) < 0) {
					/* the counter is full: the loop is awake anyway */
				}
			}
		}
		return;
	}
	__atomic_fetch_add(&vm->irqgen_pending, 1, __ATOMIC_SEQ_CST);
	if (write(vm->irqgen_fd, &one, sizeof(one)) < 0) {
		/* as above */
	}
	__atomic_store_n(&vm->async_pending, 1, __ATOMIC_SEQ_CST);
	if (vm->backend->kick && __atomic_load_n(&vcpu->in_guest, __ATOMIC_SEQ_CST))
		vm->backend->kick(vcpu);
}

/* The run loop's side of irqgen's eventfd: the MSIs raised, or PIR moved into IRR. */
static bool board_irqgen_ready(void *opaque)
{
	struct vm *vm = opaque;
	struct vcpu *vcpu = &vm->vcpus[0];
	u64 n;
	const struct apic_msg msg_base = { 0 };

	if (read(vm->irqgen_fd, &n, sizeof(n)) < 0) {
		/* nothing there after all */
	}
	n = __atomic_exchange_n(&vm->irqgen_pending, 0, __ATOMIC_SEQ_CST);
	if (n) {
		struct apic_msg m = msg_base;
		u8 vector;

		pthread_mutex_lock(&vm->irqgen.lock);
		vector = vm->irqgen.vector;
		pthread_mutex_unlock(&vm->irqgen.lock);
		m.vector = vector;
		m.delivery_mode = APIC_DM_FIXED;
		m.dest = 0;
		m.level = true;
		/* Edge-triggered: one accept sets IRR however many were raised meanwhile. */
		apic_bus_deliver(&vm->apic_bus, &m, NULL);
	}
	/* With --vcpu-threads this is the I/O thread and vCPU 0's state is its own thread's:
	   it moves PIR into IRR itself (vcpu_wakes, vcpu_deliver_interrupt) once told. */
	if (vm->threaded)
		vm_vcpu_notify(vcpu);
	else if (vcpu->pi_desc)
		board_lapic_sync(vcpu);
	return true;
}

/* The 8259A's INT on the BSP's LINT0 (virtual wire, SDM 10.5.1). */
static void board_pic_intr(void *opaque, unsigned pin, bool level)
{
	struct vcpu *vcpu = opaque;

	lapic_set_lint(&vcpu->lapic, 0, level);
	board_lapic_update(vcpu);
}

/* Power-up of every LAPIC (SDM 11.4.7.1), then the BSP's LINT0 as the BIOS leaves it (above). */
static void board_lapics_reset(void *opaque)
{
	struct vm *vm = opaque;
	u32 lvt0 = APIC_DM_EXTINT << APIC_LVT_DM_SHIFT;

	for (unsigned i = 0; i < vm->nr_vcpus; i++)
		lapic_reset(&vm->vcpus[i].lapic);
	lapic_poke(&vm->vcpus[0].lapic, APIC_LVT0, lvt0);
	for (unsigned i = 0; i < vm->nr_vcpus; i++)
		board_lapic_update(&vm->vcpus[i]);
}

static int board_lapics_create(struct vm *vm)
{
	for (unsigned i = 0; i < vm->nr_vcpus; i++) {
		struct vcpu *vcpu = &vm->vcpus[i];
		const struct lapic_config cfg = {
			.apic_id = vcpu->id,
			.bsp = vcpu->id == 0,
			.x2apic = true, /* CPUID offers it (vmm/exits.c): MSR access, no MMIO decode */
			.maxphyaddr = CPU_MAXPHYADDR,
			.bus_hz = BOARD_APIC_BUS_HZ,
			.tsc_hz = BOARD_TSC_HZ,
		};
		const struct lapic_host host = {
			.send = board_lapic_send,
			.eoi = board_lapic_eoi,
			.kick = board_lapic_kick,
			.guest_tsc = board_lapic_guest_tsc,
			.tsc_hz = board_lapic_tsc_hz,
			.opaque = vcpu,
		};
		int err = lapic_init(&vcpu->lapic, &cfg, &host, &vm->timers);

		if (err)
			return err;
		vm->lapics[i] = &vcpu->lapic;
		vcpu->intc = (struct vcpu_intc){
			.ack = board_lapic_ack,
			.take_events = board_lapic_take_events,
			.can_wake = board_lapic_can_wake,
			.rdmsr = board_lapic_rdmsr,
			.wrmsr = board_lapic_wrmsr,
			.get_cr8 = board_lapic_get_cr8,
			.set_cr8 = board_lapic_set_cr8,
			.sync = board_lapic_sync,
			.apic_write = board_lapic_apic_write,
			.eoi_vector = board_lapic_eoi_vector,
			.apic_page = board_lapic_page,
			.eoi = board_lapic_eoi_write,
			.opaque = vcpu,
		};
	}
	apic_bus_init(&vm->apic_bus, vm->lapics, vm->nr_vcpus);
	board_lapics_reset(vm);
	return 0;
}

/* --- the IOAPIC and the ISA IRQs --- */

static unsigned board_ioapic_deliver(void *opaque, const struct apic_msg *msg)
{
	struct vm *vm = opaque;

	return apic_bus_deliver(&vm->apic_bus, msg, NULL);
}

/* One source of IOAPIC input `pin` changed: the pin sees the OR of its sources. */
void board_gsi_set(struct vm *vm, unsigned pin, u8 source, bool level)
{
	if (pin >= IOAPIC_NR_PINS)
		return;
	if (level)
		vm->gsi_sources[pin] |= source;
	else
		vm->gsi_sources[pin] &= (u8)~source;
	if (vm->irqchip_in_backend)
		vm->backend->irq_line(vm, BACKEND_IRQCHIP_IOAPIC, pin, vm->gsi_sources[pin] != 0);
	else
		ioapic_set_irq(&vm->ioapic, pin, vm->gsi_sources[pin] != 0);
}

/* ISA IRQ `irq` (0-15): 8259A input `irq` and IOAPIC input `irq`, IRQ 0 on pin 2 (the ISA
   override QEMU, KVM and the MADT use). IRQ 2 is the cascade: no ISA device drives it. */
static void board_isa_irq(void *opaque, unsigned irq, bool level)
{
	struct vm *vm = opaque;

	if (irq == PIC_CASCADE_IRQ)
		return;
	/* The backend's 8259A pair is there whatever the machine (KVM_CREATE_IRQCHIP makes it). */
	if (vm->irqchip_in_backend)
		vm->backend->irq_line(vm, BACKEND_IRQCHIP_PIC, irq, level);
	else if (board_has(vm, BOARD_DEV_PIC))
		pic_set_irq(&vm->pic, irq, level);
	board_gsi_set(vm, irq == 0 ? 2 : irq, GSI_SRC_ISA, level);
}

/* An HPET route (IA-PC HPET 1.0a 2.3.8: Tn_INT_ROUTE_CNF selects the IOAPIC input). */
static void board_hpet_gsi(void *opaque, unsigned pin, bool level)
{
	board_gsi_set(opaque, pin, GSI_SRC_HPET, level);
}

/* --- power and reset --- */

/* S5 (ACPI 6.4 7.4.2.6, soft off): the run ends, status 0, as QEMU exits on power-off. */
static void board_poweroff(void *opaque)
{
	vm_request_stop(opaque, 0, "guest powered off (ACPI S5)");
}

/*
 * A reset request (port 0xcf9, port 0x92 INIT_NOW, the i8042's output port): the run ends with
 * status 0 and one line, as QEMU with -no-reboot and a KVM VMM without firmware to restart do
 * (a directly loaded guest has no BIOS at the reset vector to come back to).
 */
static void board_reset_request(void *opaque, enum reset_kind kind)
{
	vm_request_stop(opaque, 0, "guest requested a %s: run ended",
			kind == RESET_INIT ? "CPU reset (INIT)" : "platform reset");
}

static void board_i8042_cpu_reset(void *opaque)
{
	vm_request_stop(opaque, 0, "guest requested a reset through the i8042: run ended");
}

static void board_guest_mem_written(void *opaque, u64 gpa, u64 len)
{
	vm_mem_written(opaque, gpa, len);
}

/* --- registration --- */

static int board_register(struct vm *vm, const char *name, void *opaque, void (*reset)(void *))
{
	return vm_register_device(vm, &(struct vm_device){
						      .name = name,
						      .opaque = opaque,
						      .reset = reset,
					      });
}

/* An MMIO device above RAM: its region, its range. RAM that covers it (a guest with more than
   4 GiB, RAM being one slot from 0 today) leaves the device out: 0, nothing registered. */
static int board_mmio(struct vm *vm, u64 base, u64 size, bus_access_fn access, void *opaque,
		      const char *name)
{
	int err;

	if (base < vm->ram_size)
		return 0;
	err = vm_add_region(vm, base, size, MEM_MMIO, name);
	if (!err)
		err = bus_register_range(&vm->mmio, base, size, access, opaque, name);
	return err;
}

static int board_pio(struct vm *vm, u64 port, u64 n, bus_access_fn access, void *opaque,
		     const char *name)
{
	return bus_register_range(&vm->pio, port, n, access, opaque, name);
}

/* The interrupt controllers and timers, wired before their inits (each keeps its wiring). */
static int board_wire_interrupts(struct vm *vm)
{
	int err;

	/* Without the 8259A its state stays as firmware leaves it (every IRQ masked), unwired:
	   nothing reaches LINT0, and board_lapic_can_wake sees no unmasked IRQ. */
	pic_init(&vm->pic);
	board_pic_reset(&vm->pic);
	if (board_has(vm, BOARD_DEV_PIC))
		irq_line_wire(&vm->pic.intr, board_pic_intr, &vm->vcpus[0], 0);
	err = ioapic_init(&vm->ioapic, BOARD_IOAPIC_ID,
			  &(struct ioapic_host){ .deliver = board_ioapic_deliver, .opaque = vm });
	if (!err)
		err = board_lapics_create(vm);
	if (err)
		return err;

	/* The HPET's routes into the IOAPIC, and its legacy-replacement outputs onto ISA IRQ 0
	   and 8; the PIT's OUT0 and the RTC's IRQ8 go through it (hpet.h), or straight to their
	   ISA IRQs on a machine without it. An absent device is never initialized: it arms no
	   timer and drives no line. */
	if (board_has(vm, BOARD_DEV_HPET)) {
		for (unsigned n = 0; n < HPET_NR_ROUTES; n++)
			if (HPET_ROUTE_CAP & BIT(n))
				irq_line_wire(&vm->hpet.irq[n], board_hpet_gsi, vm, n);
		irq_line_wire(&vm->hpet.isa_irq0, board_isa_irq, vm, 0);
		irq_line_wire(&vm->hpet.isa_irq8, board_isa_irq, vm, RTC_IRQ);
		hpet_init(&vm->hpet, &vm->timers);
	}
	if (board_has(vm, BOARD_DEV_PIT)) {
		if (board_has(vm, BOARD_DEV_HPET))
			irq_line_wire(&vm->pit.irq, hpet_set_legacy_input, &vm->hpet, HPET_IN_PIT);
		else
			irq_line_wire(&vm->pit.irq, board_isa_irq, vm, 0);
		pit_init(&vm->pit, &vm->timers);
	}
	if (board_has(vm, BOARD_DEV_RTC)) {
		if (board_has(vm, BOARD_DEV_HPET))
			irq_line_wire(&vm->rtc.irq, hpet_set_legacy_input, &vm->hpet, HPET_IN_RTC);
		else
			irq_line_wire(&vm->rtc.irq, board_isa_irq, vm, RTC_IRQ);
		rtc_init(&vm->rtc, &vm->timers,
			 vm->tsc_virtual ? BOARD_RTC_VIRTUAL_EPOCH : time(NULL),
			 pc_ram_below_4g(vm->ram_size), pc_ram_above_4g(vm->ram_size));
	}

	irq_line_wire(&vm->uart.irq, board_isa_irq, vm, UART_COM1_IRQ);
	if (board_has(vm, BOARD_DEV_I8042)) {
		irq_line_wire(&vm->i8042.irq_kbd, board_isa_irq, vm, I8042_IRQ_KBD);
		irq_line_wire(&vm->i8042.irq_aux, board_isa_irq, vm, I8042_IRQ_AUX);
		i8042_init(&vm->i8042,
			   &(struct i8042_host){ .reset = board_i8042_cpu_reset, .opaque = vm });
	}
	irq_line_wire(&vm->acpi_pm.sci, board_isa_irq, vm, ACPI_PM_SCI_GSI);
	acpi_pm_init(&vm->acpi_pm, &vm->timers,
		     &(struct acpi_pm_host){ .poweroff = board_poweroff, .opaque = vm });
	return 0;
}

/* The registers nothing interrupts: reset control, fw_cfg, the PCI host bridge. */
static int board_create_chipset(struct vm *vm)
{
	const struct fw_cfg_item items[] = {
		FW_CFG_ITEM_VALUE(FW_CFG_RAM_SIZE, vm->ram_size, 8),
		FW_CFG_ITEM_VALUE(FW_CFG_NB_CPUS, vm->nr_vcpus, 2),
		FW_CFG_ITEM_VALUE(FW_CFG_MAX_CPUS, vm->nr_vcpus, 2),
	};
	int err;

	reset_ctl_init(&vm->reset_ctl,
		       &(struct reset_host){ .reset = board_reset_request, .opaque = vm });
	vm->guest_mem = (struct guest_mem){
		.ram = vm->ram,
		.size = vm->ram_size,
		.written = board_guest_mem_written,
		.opaque = vm,
	};
	err = fw_cfg_init(&vm->fw_cfg, &vm->guest_mem, items, ARRAY_SIZE(items));
	if (err)
		return err;

	if (board_has(vm, BOARD_DEV_PORT92))
		err = board_pio(vm, RESET_PORT92, 1, reset_port92_access, &vm->reset_ctl, "port92");
	if (!err)
		err = board_pio(vm, RESET_CF9, 1, reset_cf9_access, &vm->reset_ctl, "reset-cf9");
	if (!err)
		err = board_register(vm, "reset", &vm->reset_ctl, board_reset_ctl_reset);
	if (!err)
		err = board_pio(vm, FW_CFG_PORT_SEL, FW_CFG_IO_LEN, fw_cfg_io_access, &vm->fw_cfg,
				"fw_cfg");
	if (!err)
		err = board_pio(vm, FW_CFG_PORT_DMA, FW_CFG_DMA_LEN, fw_cfg_dma_access,
				&vm->fw_cfg, "fw_cfg-dma");
	if (!err)
		err = board_register(vm, "fw_cfg", &vm->fw_cfg, board_fw_cfg_reset);
	if (err || !board_has(vm, BOARD_DEV_PCI))
		return err;
	pci_host_init(&vm->pci);
	err = board_pio(vm, PCI_CONFIG_ADDRESS_PORT, PCI_CONFIG_ADDRESS_LEN,
			pci_config_address_access, &vm->pci, "pci-address");
	if (!err)
		err = board_pio(vm, PCI_CONFIG_DATA_PORT, PCI_CONFIG_DATA_LEN,
				pci_config_data_access, &vm->pci, "pci-data");
	if (!err)
		err = board_register(vm, "pci", &vm->pci, board_pci_reset);
	return err;
}

static int board_create_irqgen(struct vm *vm)
{
	const struct irqgen_host host = { .raise = board_irqgen_raise, .opaque = vm };
	int err;

	vm->irqgen_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (vm->irqgen_fd < 0)
		return -errno;
	err = irqgen_init(&vm->irqgen, &host);
	if (!err)
		err = board_mmio(vm, IRQGEN_MMIO_BASE, IRQGEN_MMIO_SIZE, irqgen_access, &vm->irqgen,
				 "irqgen");
	if (!err)
		err = board_register(vm, "irqgen", &vm->irqgen, irqgen_reset);
	if (!err)
		err = vm_add_event_source(vm, vm->irqgen_fd, board_irqgen_ready, vm);
	return err;
}

/* The optional devices' ranges and registry entries (vm->devs says which are present). */
static int board_create_legacy(struct vm *vm)
{
	int err = 0;

	if (board_has(vm, BOARD_DEV_PIC)) {
		err = board_pio(vm, PIC_MASTER_BASE, 2, pic_master_access, &vm->pic, "pic-master");
		if (!err)
			err = board_pio(vm, PIC_SLAVE_BASE, 2, pic_slave_access, &vm->pic,
					"pic-slave");
		if (!err)
			err = board_pio(vm, PIC_ELCR_BASE, 2, pic_elcr_access, &vm->pic, "elcr");
		if (!err)
			err = board_register(vm, "pic", &vm->pic, board_pic_reset);
	}
	if (!err && board_has(vm, BOARD_DEV_HPET)) {
		err = board_mmio(vm, HPET_BASE, HPET_SIZE, hpet_access, &vm->hpet, "hpet");
		if (!err)
			err = board_register(vm, "hpet", &vm->hpet, board_hpet_reset);
	}
	if (!err && board_has(vm, BOARD_DEV_PIT)) {
		err = board_pio(vm, PIT_BASE, PIT_NR_PORTS, pit_access, &vm->pit, "pit");
		if (!err)
			err = board_pio(vm, PIT_PORT61, 1, pit_port61_access, &vm->pit, "port61");
		if (!err)
			err = board_register(vm, "pit", &vm->pit, board_pit_reset);
	}
	if (!err && board_has(vm, BOARD_DEV_RTC)) {
		err = board_pio(vm, RTC_BASE, RTC_NR_PORTS, rtc_access, &vm->rtc, "rtc");
		if (!err)
			err = board_register(vm, "rtc", &vm->rtc, board_rtc_reset);
	}
	if (!err && board_has(vm, BOARD_DEV_I8042)) {
		err = board_pio(vm, I8042_DATA_PORT, 1, i8042_data_access, &vm->i8042,
				"i8042-data");
		if (!err)
			err = board_pio(vm, I8042_CMD_PORT, 1, i8042_cmd_access, &vm->i8042,
					"i8042-cmd");
		if (!err)
			err = board_register(vm, "i8042", &vm->i8042, board_i8042_reset);
	}
	if (!err && board_has(vm, BOARD_DEV_TESTDEV)) {
		err = board_mmio(vm, TESTDEV_MMIO_BASE, TESTDEV_MMIO_SIZE, testdev_access,
				 &vm->testdev, "testdev");
		if (!err)
			err = board_register(vm, "testdev", &vm->testdev, board_testdev_reset);
	}
	if (!err && board_has(vm, BOARD_DEV_IRQGEN))
		err = board_create_irqgen(vm);
	return err;
}

int board_create(struct vm *vm, const struct uart_host *console)
{
	int err;

	uart_init(&vm->uart, console);
	vm->debug_exit = (struct debug_exit){ .on_exit = board_stop_by_debug_exit, .opaque = vm };
	err = board_wire_interrupts(vm);
	if (err)
		return err;
	kvmclock_start(&vm->vcpus[0]);

	err = board_pio(vm, UART_COM1_BASE, UART_NR_REGS, uart_access, &vm->uart, "uart");
	if (!err)
		err = board_register(vm, "uart", &vm->uart, board_uart_reset);
	if (!err)
		err = board_mmio(vm, IOAPIC_DEFAULT_BASE, IOAPIC_MMIO_SIZE, ioapic_access,
				 &vm->ioapic, "ioapic");
	if (!err)
		err = board_register(vm, "ioapic", &vm->ioapic, board_ioapic_reset);
	if (!err)
		err = board_mmio(vm, LAPIC_DEFAULT_BASE, LAPIC_MMIO_SIZE, board_lapic_mmio, vm,
				 "lapic");
	if (!err)
		err = board_register(vm, "lapic", vm, board_lapics_reset);
	if (!err)
		err = board_pio(vm, ACPI_PM_BASE, ACPI_PM_SIZE, acpi_pm_access, &vm->acpi_pm,
				"acpi-pm");
	if (!err)
		err = board_register(vm, "acpi-pm", &vm->acpi_pm, board_acpi_pm_reset);
	if (!err)
		err = board_create_chipset(vm);
	if (!err)
		err = board_pio(vm, DEBUG_EXIT_PORT, DEBUG_EXIT_SIZE, debug_exit_access,
				&vm->debug_exit, "debug-exit");
	if (!err)
		err = board_register(vm, "debug-exit", &vm->debug_exit, NULL);
	vm->boot_timer = (struct boot_timer){ .booted = board_booted, .opaque = vm };
	if (!err)
		err = board_pio(vm, BOOT_TIMER_PORT, 1, boot_timer_access, &vm->boot_timer,
				"boot-timer");
	if (!err)
		err = board_register(vm, "boot-timer", &vm->boot_timer, NULL);
	if (!err)
		err = board_create_legacy(vm);
	if (!err && console->rx)
		err = vm_add_event_source(vm, 0 /* stdin */, board_console_input, &vm->uart);
	return err;
}

/*
 * The firmware tables a PC's BIOS leaves in RAM: the ACPI tables at ACPI_TABLES_BASE, in the
 * 0xe0000 segment where Linux's scan for the RSDP looks (ACPI 6.3 5.2.5.1) and that the e820
 * table reports as ACPI (board_e820). They describe this board: its vCPUs, the IOAPIC and the
 * interrupt overrides, the legacy devices, the HPET, the PM block and the virtio-mmio devices.
 */
int board_install_firmware(struct vm *vm)
{
	static struct acpi_config cfg;
	struct acpi_tables t;
	u8 *buf;
	int err;

	acpi_config_pc(&cfg, vm->nr_vcpus);
	/* Only what is there (a machine without the legacy devices is QEMU microvm's, whose
	   tables Linux reads the same way: no PCAT_COMPAT, CMOS_RTC_NOT_PRESENT, no 8042). */
	cfg.pic = board_has(vm, BOARD_DEV_PIC);
	cfg.pit = board_has(vm, BOARD_DEV_PIT);
	cfg.rtc = board_has(vm, BOARD_DEV_RTC);
	cfg.i8042 = board_has(vm, BOARD_DEV_I8042);
	cfg.hpet = board_has(vm, BOARD_DEV_HPET);
	cfg.pci = board_has(vm, BOARD_DEV_PCI);
	board_virtio_acpi(vm, cfg.virtio, &cfg.nr_virtio);
	buf = calloc(1, ACPI_TABLES_SIZE);
	if (!buf)
		return -ENOMEM;
	err = acpi_build_tables(&cfg, ACPI_TABLES_BASE, buf, ACPI_TABLES_SIZE, &t);
	if (!err)
		err = vm_write_phys(vm, ACPI_TABLES_BASE, buf, t.size);
	free(buf);
	return err;
}

int board_e820(u64 ram_size, struct e820_entry *out, unsigned max)
{
	const struct e820_layout l = {
		.ram_size = ram_size,
		.acpi_base = ACPI_TABLES_BASE,
		.acpi_size = ACPI_TABLES_SIZE,
	};

	return e820_build(&l, out, max);
}
