/* SPDX-License-Identifier: MIT */
/*
 * The virtio-mmio transport, version 2 (virtio 1.2 §4.2, the non-legacy register layout): a
 * 0x200-byte register window with the device configuration space at 0x100, and one level-
 * triggered interrupt line asserted while InterruptStatus is not 0 (§4.2.3.4). The guest finds it
 * through an ACPI "LNRO0005" device (firmware/acpi.h, struct acpi_virtio_mmio), as on QEMU's
 * microvm; Linux's virtio_mmio driver binds to it.
 *
 * The board, for each device:
 *
 *	virtio_blk_init(&blk, &mem, &backend);          // or console, rng, net
 *	virtio_mmio_init(&t, &blk.vdev);
 *	irq_line_wire(&t.irq, ioapic_set_irq, &ioapic, gsi);
 *	bus_register_range(&mmio_bus, base, VIRTIO_MMIO_SIZE, virtio_mmio_access, &t, "virtio-blk");
 *
 * and virtio_mmio_reset(&t) on a machine reset.
 *
 * Register accesses (§4.2.2.2: "The driver MUST only use 32 bit wide and aligned reads and writes
 * to access the control registers"; the configuration space by field width). The specification
 * leaves the device's answer to anything else open; tollbooth gives QEMU's (hw/virtio/
 * virtio-mmio.c): below 0x100 an access that is not 32 bits wide and aligned, a read of a
 * write-only register or an unknown offset reads 0 and a write there is ignored, as is a write to
 * a read-only register; configuration space accesses of 1, 2, 4 or 8 bytes at any offset are
 * served when wholly inside the space, else read all ones and write nothing.
 */
#pragma once
#include "common.h"
#include "devices/irq.h"
#include "virtio/virtio.h"

#define VIRTIO_MMIO_ACPI_HID "LNRO0005"
#define VIRTIO_MMIO_SIZE     0x200

#define VIRTIO_MMIO_MAGIC     0x74726976 /* "virt" */
#define VIRTIO_MMIO_VERSION_2 2
#define VIRTIO_MMIO_VENDOR_ID 0x48544254 /* "TBTH" */

/* §4.2.2, table 4.1 */
#define VIRTIO_MMIO_MAGIC_VALUE		0x000
#define VIRTIO_MMIO_VERSION		0x004
#define VIRTIO_MMIO_DEVICE_ID		0x008
#define VIRTIO_MMIO_VENDOR		0x00c
#define VIRTIO_MMIO_DEVICE_FEATURES	0x010
#define VIRTIO_MMIO_DEVICE_FEATURES_SEL 0x014
#define VIRTIO_MMIO_DRIVER_FEATURES	0x020
#define VIRTIO_MMIO_DRIVER_FEATURES_SEL 0x024
#define VIRTIO_MMIO_QUEUE_SEL		0x030
#define VIRTIO_MMIO_QUEUE_NUM_MAX	0x034
#define VIRTIO_MMIO_QUEUE_NUM		0x038
#define VIRTIO_MMIO_QUEUE_READY		0x044
#define VIRTIO_MMIO_QUEUE_NOTIFY	0x050
#define VIRTIO_MMIO_INTERRUPT_STATUS	0x060
#define VIRTIO_MMIO_INTERRUPT_ACK	0x064
#define VIRTIO_MMIO_STATUS		0x070
#define VIRTIO_MMIO_QUEUE_DESC_LOW	0x080
#define VIRTIO_MMIO_QUEUE_DESC_HIGH	0x084
#define VIRTIO_MMIO_QUEUE_DRIVER_LOW	0x090
#define VIRTIO_MMIO_QUEUE_DRIVER_HIGH	0x094
#define VIRTIO_MMIO_QUEUE_DEVICE_LOW	0x0a0
#define VIRTIO_MMIO_QUEUE_DEVICE_HIGH	0x0a4
#define VIRTIO_MMIO_SHM_SEL		0x0ac
#define VIRTIO_MMIO_SHM_LEN_LOW		0x0b0
#define VIRTIO_MMIO_SHM_LEN_HIGH	0x0b4
#define VIRTIO_MMIO_SHM_BASE_LOW	0x0b8
#define VIRTIO_MMIO_SHM_BASE_HIGH	0x0bc
#define VIRTIO_MMIO_QUEUE_RESET		0x0c0
#define VIRTIO_MMIO_CONFIG_GENERATION	0x0fc
#define VIRTIO_MMIO_CONFIG		0x100

struct virtio_mmio {
	struct virtio_dev *dev;
	struct irq_line irq; /* wired by the board; high while interrupt_status != 0 */
	u32 interrupt_status; /* VIRTIO_INT_USED | VIRTIO_INT_CONFIG */
	u32 device_features_sel, driver_features_sel, queue_sel, shm_sel;
	/* NULL: a QueueNotify write runs the queue at once (in the doorbell's exit). Else the
	   write only calls defer(defer_opaque, queue), and the VMM runs the queue later with
	   virtio_dev_queue_notify(), as an I/O thread would. Survives virtio_mmio_reset. */
	void (*defer)(void *opaque, unsigned queue);
	void *defer_opaque;
};

/* Attach the transport to an initialised device; the line is left unwired. */
void virtio_mmio_init(struct virtio_mmio *t, struct virtio_dev *dev);
/* Power-on: the device reset (§2.4) and the transport's registers cleared, the line lowered. */
void virtio_mmio_reset(struct virtio_mmio *t);
/* The MMIO bus access function for [base, base + VIRTIO_MMIO_SIZE). */
void virtio_mmio_access(void *opaque, u64 offset, u64 *data, unsigned len, bool is_write);

/*
 * For fuzz targets (and the unit tests' random scripts): run `script` as a sequence of register
 * accesses. Each is a control byte (bit 7: write; bits 1:0: log2 of the size, 1 to 8 bytes), a
 * 16-bit little-endian offset taken modulo VIRTIO_MMIO_SIZE, and for a write the value in `size`
 * little-endian bytes. A truncated last access is dropped. Returns the number of accesses run.
 * The target puts the rest of its input in the guest RAM behind the device's guest_mem.
 */
unsigned virtio_mmio_run_script(struct virtio_mmio *t, const u8 *script, size_t len);
