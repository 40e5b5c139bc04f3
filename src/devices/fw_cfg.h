/* SPDX-License-Identifier: MIT */
/*
 * QEMU's firmware configuration device (fw_cfg), x86 port layout, per QEMU's
 * docs/specs/fw_cfg.rst (sections quoted in fw_cfg.c): a firmware, a boot loader or the OS
 * (Linux's qemu_fw_cfg driver, found through the QEMU0002 ACPI device) reads named blobs the
 * VMM provides: the RAM size, the CPU count, a kernel, initrd and command line, files such as
 * "etc/e820".
 *
 * Ports: 0x510 selector (16-bit write), 0x511 data (8-bit reads that advance the offset), 0x514-
 * 0x51b the DMA address register (big-endian; reads give "QEMU CFG"). The board registers
 * fw_cfg_io_access at FW_CFG_PORT_SEL for FW_CFG_IO_LEN ports and fw_cfg_dma_access at
 * FW_CFG_PORT_DMA for FW_CFG_DMA_LEN ports.
 *
 * Every item is read-only: data-port writes are ignored (as QEMU since 2.4) and a DMA write sets
 * the error bit. DMA reaches guest RAM only through `mem`; a descriptor or a buffer that is not
 * all RAM sets the error bit and nothing is copied.
 */
#pragma once
#include "common.h"
#include "devices/guest_mem.h"

#define FW_CFG_ACPI_HID	 "QEMU0002"
#define FW_CFG_PORT_SEL	 0x510
#define FW_CFG_PORT_DATA 0x511
#define FW_CFG_PORT_DMA	 0x514
#define FW_CFG_IO_LEN	 2    /* selector and data */
#define FW_CFG_DMA_LEN	 8    /* the DMA address register */
#define FW_CFG_PORT_SPAN 0x0c /* 0x510-0x51b: what the QEMU0002 device's _CRS claims */

/* Selector keys (QEMU's include/standard-headers/linux/qemu_fw_cfg.h). Integers are
   little-endian: RAM_SIZE 64 bits, NB_CPUS and MAX_CPUS 16, the *_ADDR and *_SIZE items 32. */
#define FW_CFG_SIGNATURE     0x00 /* "QEMU", served by the device */
#define FW_CFG_ID	     0x01 /* feature bits, served by the device */
#define FW_CFG_UUID	     0x02
#define FW_CFG_RAM_SIZE	     0x03
#define FW_CFG_NOGRAPHIC     0x04
#define FW_CFG_NB_CPUS	     0x05
#define FW_CFG_MACHINE_ID    0x06
#define FW_CFG_KERNEL_ADDR   0x07 /* where the protected-mode kernel goes */
#define FW_CFG_KERNEL_SIZE   0x08
#define FW_CFG_KERNEL_CMDLINE 0x09
#define FW_CFG_INITRD_ADDR   0x0a
#define FW_CFG_INITRD_SIZE   0x0b
#define FW_CFG_BOOT_DEVICE   0x0c
#define FW_CFG_NUMA	     0x0d
#define FW_CFG_BOOT_MENU     0x0e
#define FW_CFG_MAX_CPUS	     0x0f
#define FW_CFG_KERNEL_ENTRY  0x10
#define FW_CFG_KERNEL_DATA   0x11
#define FW_CFG_INITRD_DATA   0x12
#define FW_CFG_CMDLINE_ADDR  0x13
#define FW_CFG_CMDLINE_SIZE  0x14 /* with the terminating NUL */
#define FW_CFG_CMDLINE_DATA  0x15
#define FW_CFG_SETUP_ADDR    0x16 /* the bzImage's real-mode setup */
#define FW_CFG_SETUP_SIZE    0x17
#define FW_CFG_SETUP_DATA    0x18
#define FW_CFG_FILE_DIR	     0x19 /* the file directory, served by the device */
#define FW_CFG_FILE_FIRST    0x20 /* files get keys from here, in the order the board lists them */
#define FW_CFG_WRITE_CHANNEL 0x4000
#define FW_CFG_ARCH_LOCAL    0x8000
#define FW_CFG_INVALID	     0xffff

/* FW_CFG_ID bits */
#define FW_CFG_VERSION	   BIT(0) /* the port interface */
#define FW_CFG_VERSION_DMA BIT(1)

/* FWCfgDmaAccess.control bits */
#define FW_CFG_DMA_CTL_ERROR  BIT(0)
#define FW_CFG_DMA_CTL_READ   BIT(1)
#define FW_CFG_DMA_CTL_SKIP   BIT(2)
#define FW_CFG_DMA_CTL_SELECT BIT(3) /* the key in bits 31:16 */
#define FW_CFG_DMA_CTL_WRITE  BIT(4)
#define FW_CFG_DMA_SIGNATURE  0x51454d5520434647ull /* "QEMU CFG", big-endian */

#define FW_CFG_MAX_FILE_PATH 56 /* with the NUL */
#define FW_CFG_FILE_SIZE     64 /* one directory entry: size, select (big-endian), name */
#define FW_CFG_MAX_ITEMS     64
#define FW_CFG_MAX_FILES     32

/*
 * An item the board provides: a numbered item (`name` NULL, `key` one of the FW_CFG_* keys
 * below FW_CFG_FILE_FIRST or an arch-local key FW_CFG_ARCH_LOCAL | k) or a file (`name` set,
 * listed in the directory; the device assigns its key). The bytes are `data[0, size)`, which the
 * board owns and keeps alive and unchanged while the device lives; or, with `data` NULL, the
 * `size` (1 to 8) low bytes of `value` in little-endian order, copied at init.
 */
struct fw_cfg_item {
	u16 key;
	const char *name;
	const void *data;
	u64 value;
	u32 size;
};

#define FW_CFG_ITEM_VALUE(k, v, n) ((struct fw_cfg_item){ .key = (k), .value = (v), .size = (n) })
#define FW_CFG_ITEM_BYTES(k, p, n) ((struct fw_cfg_item){ .key = (k), .data = (p), .size = (n) })
#define FW_CFG_ITEM_FILE(nm, p, n) ((struct fw_cfg_item){ .name = (nm), .data = (p), .size = (n) })

enum fw_cfg_kind { FW_CFG_KIND_BYTES, FW_CFG_KIND_VALUE, FW_CFG_KIND_DIR };

struct fw_cfg_entry {
	u16 key;
	enum fw_cfg_kind kind;
	const u8 *data; /* FW_CFG_KIND_BYTES */
	u8 value[8];	/* FW_CFG_KIND_VALUE */
	u32 size;
};

struct fw_cfg {
	const struct guest_mem *mem;
	struct fw_cfg_entry entries[FW_CFG_MAX_ITEMS];
	unsigned nr_entries;
	u8 dir[4 + FW_CFG_FILE_SIZE * FW_CFG_MAX_FILES]; /* FW_CFG_FILE_DIR's bytes */
	u32 dir_size;
	/* Guest-visible state */
	u16 selector;
	int cur; /* index into entries[] of the selected item, -1 when none */
	u32 offset;
	u64 dma_addr;
};

/*
 * Serve the device's own items (signature, ID with the DMA bit, the directory) and `items`.
 * 0; -EINVAL for a key the device owns or that a file would get, a key with the write-channel
 * bit, a duplicate key or name, an empty name or one of FW_CFG_MAX_FILE_PATH characters or more,
 * a value item of size 0 or above 8, a file with NULL data; -ENOSPC beyond FW_CFG_MAX_ITEMS
 * items in all (the device's three included) or FW_CFG_MAX_FILES files. Then fw_cfg_reset().
 */
int fw_cfg_init(struct fw_cfg *f, const struct guest_mem *mem, const struct fw_cfg_item *items,
		unsigned nr_items);
/* Power-on state: the signature selected at offset 0, the DMA address 0 (as QEMU's reset). */
void fw_cfg_reset(struct fw_cfg *f);

void fw_cfg_io_access(void *opaque, u64 offset, u64 *data, unsigned len, bool is_write);
void fw_cfg_dma_access(void *opaque, u64 offset, u64 *data, unsigned len, bool is_write);
