// SPDX-License-Identifier: MIT
/*
 * The PC board: the devices every guest gets, registered with the VM (vm_register_device), put
 * on the port and MMIO buses, and wired to interrupt lines, as a PC's chipset wires them:
 *   COM1 16550A at 0x3f8, IRQ 4; the 8254 PIT at 0x40-0x43 (+ port 0x61), OUT0 on IRQ 0; the
 *   two 8259A PICs at 0x20/0xa0 (ELCR at 0x4d0), whose INT goes to the BSP's INTR (virtual-wire
 *   mode through LINT0, SDM vol. 3A 10.5.1, MP spec 3.6.2.1); the debug-exit port; testdev.
 * A new device goes here: init, bus ranges, vm_register_device, irq_line_wire.
 *
 * Firmware state: a guest loaded directly (multiboot, PVH, Linux) meets the chipset as firmware
 * leaves it. The PICs are unprogrammed with every IRQ masked (IMR 0xff): Linux and every OS
 * program them before unmasking, and a guest that never does sees no interrupt, as before the
 * PICs existed. The PIT runs as after a BIOS (mode 3, count 65536, 18.2 Hz), as QEMU's does.
 */
#include "vmm/vm.h"

static void board_stop_by_debug_exit(void *opaque, int status)
{
	vm_request_stop(opaque, status, "%s", "");
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

static void board_pit_reset(void *opaque)
{
	pit_reset(opaque);
}

static void board_testdev_reset(void *opaque)
{
	*(struct testdev *)opaque = (struct testdev){ 0 };
}

/* The 8259A pair as the BSP's interrupt controller: INTA cycle, and is any IRQ unmasked? */
static int board_pic_ack(void *opaque)
{
	return pic_intack(opaque);
}

static bool board_pic_can_wake(void *opaque)
{
	const struct pic *p = opaque;

	return p->chip[0].imr != 0xff;
}

static void board_console_input(void *opaque)
{
	uart_host_input(opaque);
}

static int board_register(struct vm *vm, const char *name, void *opaque, void (*reset)(void *))
{
	return vm_register_device(vm, &(struct vm_device){
						      .name = name,
						      .opaque = opaque,
						      .reset = reset,
					      });
}

int board_create(struct vm *vm, const struct uart_host *console)
{
	struct bus *pio = &vm->pio;
	int err;

	uart_init(&vm->uart, console);
	pic_init(&vm->pic);
	pit_init(&vm->pit, &vm->timers);
	board_pic_reset(&vm->pic);
	vm->debug_exit = (struct debug_exit){ .on_exit = board_stop_by_debug_exit, .opaque = vm };

	/* Interrupt lines: ISA IRQs into the PIC pair, its INT into the BSP. */
	irq_line_wire(&vm->uart.irq, pic_set_irq, &vm->pic, UART_COM1_IRQ);
	irq_line_wire(&vm->pit.irq, pic_set_irq, &vm->pic, 0);
	irq_line_wire(&vm->pic.intr, vm_vcpu_set_intr, &vm->vcpus[0], 0);
	vm->vcpus[0].intc = (struct vcpu_intc){
		.ack = board_pic_ack,
		.can_wake = board_pic_can_wake,
		.opaque = &vm->pic,
	};

	err = bus_register_range(pio, UART_COM1_BASE, UART_NR_REGS, uart_access, &vm->uart,
				 "uart");
	if (!err)
		err = board_register(vm, "uart", &vm->uart, board_uart_reset);
	if (!err)
		err = bus_register_range(pio, PIC_MASTER_BASE, 2, pic_master_access, &vm->pic,
					 "pic-master");
	if (!err)
		err = bus_register_range(pio, PIC_SLAVE_BASE, 2, pic_slave_access, &vm->pic,
					 "pic-slave");
	if (!err)
		err = bus_register_range(pio, PIC_ELCR_BASE, 2, pic_elcr_access, &vm->pic, "elcr");
	if (!err)
		err = board_register(vm, "pic", &vm->pic, board_pic_reset);
	if (!err)
		err = bus_register_range(pio, PIT_BASE, PIT_NR_PORTS, pit_access, &vm->pit, "pit");
	if (!err)
		err = bus_register_range(pio, PIT_PORT61, 1, pit_port61_access, &vm->pit,
					 "port61");
	if (!err)
		err = board_register(vm, "pit", &vm->pit, board_pit_reset);
	if (!err)
		err = bus_register_range(pio, DEBUG_EXIT_PORT, DEBUG_EXIT_SIZE, debug_exit_access,
					 &vm->debug_exit, "debug-exit");
	if (!err)
		err = board_register(vm, "debug-exit", &vm->debug_exit, NULL);
	if (!err && console->rx)
		err = vm_add_event_source(vm, 0 /* stdin */, board_console_input, &vm->uart);
	if (err || TESTDEV_MMIO_BASE + TESTDEV_MMIO_SIZE <= vm->ram_size)
		return err; /* RAM covers it (a guest with more than 4 GiB): no test device */
	err = vm_add_region(vm, TESTDEV_MMIO_BASE, TESTDEV_MMIO_SIZE, MEM_MMIO, "testdev");
	if (!err)
		err = bus_register_range(&vm->mmio, TESTDEV_MMIO_BASE, TESTDEV_MMIO_SIZE,
					 testdev_access, &vm->testdev, "testdev");
	if (!err)
		err = board_register(vm, "testdev", &vm->testdev, board_testdev_reset);
	return err;
}
