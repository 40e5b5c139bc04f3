// SPDX-License-Identifier: MIT
/*
 * fw_cfg (src/devices/fw_cfg.c) under the device harness (device.h): the selector and data ports
 * and the DMA address register, over 4 KiB of guest RAM the script fills: an event writes its
 * argument bytes 2.. into RAM at the offset in bytes 0-1 (a DMA descriptor, FWCfgDmaAccess: be32
 * control, be32 length, be64 address, or anything else). The items: the RAM size and CPU count
 * (values), a command line (bytes) and two files. Beyond the harness's checks (and ASan's on
 * the RAM buffer, allocated to its exact size), asserted: the device writes guest memory only
 * inside RAM and tells the VM about each write (guest_mem.h: gmem_written).
 */
#include "devices/fw_cfg.h"
#include "devices/guest_mem.h"
#include "device.h"

#define FW_CFG_FUZZ_RAM 0x1000

static const char fw_cfg_fuzz_cmdline[] = "console=ttyS0 earlyprintk=serial";
static const u8 fw_cfg_fuzz_e820[40] = {
	[8] = 0x00, [9] = 0xfc, [10] = 0x09, [16] = 1, [22] = 0x10, [26] = 0xf0, [32] = 1
};
static const u8 fw_cfg_fuzz_order[] = "/rom@genroms/linuxboot_dma.bin\n";

struct fw_cfg_fuzz {
	struct fw_cfg fw_cfg;
	struct guest_mem mem;
	u8 *ram;
	u8 *shadow; /* RAM as the script and the device's reported writes left it */
};

static void fw_cfg_fuzz_written(void *opaque, u64 gpa, u64 len)
{
	struct fw_cfg_fuzz *f = opaque;

	FUZZ_ASSERT(gpa <= FW_CFG_FUZZ_RAM && len <= FW_CFG_FUZZ_RAM - gpa,
		    "reported a write of %#llx bytes at %#llx, outside RAM",
		    (unsigned long long)len, (unsigned long long)gpa);
	memcpy(f->shadow + gpa, f->ram + gpa, len);
}

static void *fw_cfg_fuzz_create(void)
{
	static const struct fw_cfg_item items[] = {
		{ .key = FW_CFG_RAM_SIZE, .value = FW_CFG_FUZZ_RAM, .size = 8 },
		{ .key = FW_CFG_NB_CPUS, .value = 2, .size = 2 },
		{ .key = FW_CFG_CMDLINE_SIZE, .value = sizeof(fw_cfg_fuzz_cmdline), .size = 4 },
		{ .key = FW_CFG_CMDLINE_DATA,
		  .data = fw_cfg_fuzz_cmdline,
		  .size = sizeof(fw_cfg_fuzz_cmdline) },
		{ .name = "etc/e820", .data = fw_cfg_fuzz_e820, .size = sizeof(fw_cfg_fuzz_e820) },
		{ .name = "bootorder",
		  .data = fw_cfg_fuzz_order,
		  .size = sizeof(fw_cfg_fuzz_order) - 1 },
	};
	struct fw_cfg_fuzz *f = calloc(1, sizeof(*f));

	if (!f)
		abort();
	f->ram = calloc(1, FW_CFG_FUZZ_RAM);
	f->shadow = calloc(1, FW_CFG_FUZZ_RAM);
	if (!f->ram || !f->shadow)
		abort();
	f->mem = (struct guest_mem){
		.ram = f->ram, .size = FW_CFG_FUZZ_RAM, .written = fw_cfg_fuzz_written, .opaque = f
	};
	if (fw_cfg_init(&f->fw_cfg, &f->mem, items, ARRAY_SIZE(items)))
		abort();
	return f;
}

static void fw_cfg_fuzz_destroy(void *dev)
{
	struct fw_cfg_fuzz *f = dev;

	free(f->ram);
	free(f->shadow);
	free(f);
}

static void fw_cfg_fuzz_poke(void *dev, const u8 *arg, size_t n)
{
	struct fw_cfg_fuzz *f = dev;
	u64 gpa;

	if (n < 2)
		return;
	gpa = (arg[0] | (u64)arg[1] << 8) % FW_CFG_FUZZ_RAM;
	n -= 2;
	if (n > FW_CFG_FUZZ_RAM - gpa)
		n = FW_CFG_FUZZ_RAM - gpa;
	memcpy(f->ram + gpa, arg + 2, n);
	memcpy(f->shadow + gpa, arg + 2, n);
}

static void fw_cfg_fuzz_check(void *dev)
{
	const struct fw_cfg_fuzz *f = dev;

	FUZZ_ASSERT(!memcmp(f->ram, f->shadow, FW_CFG_FUZZ_RAM),
		    "guest RAM changed without gmem_written()");
}

static const struct fuzz_device fw_cfg_device = {
	.ranges = { { FW_CFG_IO_LEN, fw_cfg_io_access }, { FW_CFG_DMA_LEN, fw_cfg_dma_access } },
	.create = fw_cfg_fuzz_create,
	.destroy = fw_cfg_fuzz_destroy,
	.event = fw_cfg_fuzz_poke,
	.check = fw_cfg_fuzz_check,
};

FUZZ_DEVICE_TARGET(fw_cfg_device)
