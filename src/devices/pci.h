/* SPDX-License-Identifier: MIT */
/*
 * The PCI host bridge: configuration mechanism #1 (PCI Local Bus Specification 3.0, 3.2.2.3.2)
 * over bus 0, and the type 0 configuration header of the functions on it (6.1, 6.2).
 *
 * Device 0 function 0 is the host bridge itself, an Intel 82441FX PMC (440FX, 8086:1237, the
 * host bridge of QEMU's "pc" machine): a conventional PCI host bridge that offers only
 * mechanism #1, which matches what we build (no ECAM, a PNP0A03 root in the DSDT). A Q35 MCH
 * (8086:29c0) would promise PCI Express, an MCFG table and a PCIEXBAR.
 *
 * Ports: CONFIG_ADDRESS at 0xcf8, CONFIG_DATA at 0xcfc-0xcff. The board registers
 * pci_config_address_access at PCI_CONFIG_ADDRESS_PORT for PCI_CONFIG_ADDRESS_LEN (1) port: only
 * a full dword at 0xcf8 is CONFIG_ADDRESS (3.2.2.3.2), the bus hands an access to the range
 * holding its first port, and 0xcf9 stays free for the reset control register (acpi.h). It
 * registers pci_config_data_access at PCI_CONFIG_DATA_PORT for PCI_CONFIG_DATA_LEN ports.
 *
 * Functions are added by their owners with pci_host_add_function(); the host keeps pointers to
 * them (the owners' structs) and never frees them. There is no interrupt routing yet (_PRT).
 */
#pragma once
#include "common.h"

#define PCI_CONFIG_ADDRESS_PORT 0xcf8
#define PCI_CONFIG_ADDRESS_LEN	1
#define PCI_CONFIG_DATA_PORT	0xcfc
#define PCI_CONFIG_DATA_LEN	4

#define PCI_CONFIG_SPACE_SIZE 256
#define PCI_MAX_DEVICES	      32
#define PCI_MAX_FUNCTIONS     8
#define PCI_NUM_BARS	      6

/* Type 0 configuration header (6.1, Figure 6-1) */
#define PCI_VENDOR_ID	     0x00
#define PCI_DEVICE_ID	     0x02
#define PCI_COMMAND	     0x04
#define PCI_STATUS	     0x06
#define PCI_REVISION_ID	     0x08
#define PCI_CLASS_PROG	     0x09
#define PCI_CACHE_LINE_SIZE  0x0c
#define PCI_LATENCY_TIMER    0x0d
#define PCI_HEADER_TYPE	     0x0e
#define PCI_BASE_ADDRESS_0   0x10
#define PCI_SUBSYSTEM_VENDOR_ID 0x2c
#define PCI_SUBSYSTEM_ID     0x2e
#define PCI_ROM_ADDRESS	     0x30
#define PCI_CAPABILITY_LIST  0x34
#define PCI_INTERRUPT_LINE   0x3c
#define PCI_INTERRUPT_PIN    0x3d

/* Command register (6.2.2) */
#define PCI_COMMAND_IO		 BIT(0)
#define PCI_COMMAND_MEMORY	 BIT(1)
#define PCI_COMMAND_MASTER	 BIT(2)
#define PCI_COMMAND_PARITY	 BIT(6)
#define PCI_COMMAND_SERR	 BIT(8)
#define PCI_COMMAND_INTX_DISABLE BIT(10)

#define PCI_HEADER_TYPE_MULTI_FUNCTION BIT(7)

/* Base address register type bits (6.2.5.1) */
#define PCI_BAR_IO	     0x1 /* bit 0: I/O space */
#define PCI_BAR_MEM32	     0x0 /* bits 2:1 = 00: anywhere in 32-bit space */
#define PCI_BAR_MEM64	     0x4 /* bits 2:1 = 10: 64-bit, takes this BAR and the next */
#define PCI_BAR_PREFETCH     0x8 /* bit 3 */

/* 82441FX identity */
#define PCI_VENDOR_INTEL     0x8086
#define PCI_DEVICE_I440FX    0x1237
#define PCI_CLASS_HOST_BRIDGE 0x060000 /* base class 06 bridge, subclass 00 host, prog-if 00 */

struct pci_function {
	u8 config[PCI_CONFIG_SPACE_SIZE];
	u8 wmask[PCI_CONFIG_SPACE_SIZE]; /* bits software may write; all others are read-only */
	/* Called after every configuration write, with the bytes written (the owner remaps a BAR
	   or reacts to the command register); NULL when the owner does not care. */
	void (*written)(void *opaque, struct pci_function *f, unsigned offset, unsigned len);
	void *opaque;
};

struct pci_host {
	u32 config_address;
	struct pci_function *functions[PCI_MAX_DEVICES][PCI_MAX_FUNCTIONS]; /* bus 0 */
	struct pci_function bridge; /* 00:00.0 */
};

/*
 * A function with a type 0 header: IDs, revision and class code (base class << 16 | subclass <<
 * 8 | programming interface) read-only; the command register's I/O, memory, bus-master, parity,
 * SERR# and interrupt-disable enables writable; cache line size, latency timer and interrupt line
 * writable; every other byte reads 0 and ignores writes until the owner adds BARs or its own
 * registers (by setting config[] and wmask[]).
 */
void pci_function_init(struct pci_function *f, u16 vendor, u16 device, u8 revision,
		       u32 class_code);
/*
 * Base address register `bar` (0-5) of `size` bytes (a power of two: I/O 4 to 256, memory at
 * least 16), type PCI_BAR_IO, PCI_BAR_MEM32 or PCI_BAR_MEM64 (bars `bar` and `bar` + 1), with
 * PCI_BAR_PREFETCH for memory. Sizing works by the spec (6.2.5.1): the address bits below the
 * size are read-only 0, so writing all ones reads back ~(size - 1) with the type bits. I/O BARs
 * decode 16 bits (x86 I/O space): bits 31:16 read 0. 0, or -EINVAL.
 */
int pci_function_set_bar(struct pci_function *f, unsigned bar, u64 size, unsigned type);
/* The address a BAR holds now (type bits masked off); whether it decodes is the command
   register's business (PCI_COMMAND_IO, PCI_COMMAND_MEMORY). */
u64 pci_function_bar_address(const struct pci_function *f, unsigned bar);
/* RST#: every writable bit back to 0, which is the reset value of each writable field of the
   type 0 header (command, BARs, cache line size, latency timer, interrupt line). */
void pci_function_reset(struct pci_function *f);

/* The host bridge at 00:00.0 and an empty bus; then pci_host_reset(). */
void pci_host_init(struct pci_host *h);
/* CONFIG_ADDRESS 0 and every function reset. */
void pci_host_reset(struct pci_host *h);
/* Put `f` at bus 0 device `dev` function `fn`; a function other than 0 sets the multi-function
   bit of function 0's header type (6.2.1). 0; -EINVAL for dev/fn out of range or a function > 0
   without function 0; -EEXIST when the slot is taken (00:00.0 is the host bridge). */
int pci_host_add_function(struct pci_host *h, unsigned dev, unsigned fn, struct pci_function *f);

void pci_config_address_access(void *opaque, u64 offset, u64 *data, unsigned len, bool is_write);
void pci_config_data_access(void *opaque, u64 offset, u64 *data, unsigned len, bool is_write);
