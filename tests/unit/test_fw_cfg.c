// SPDX-License-Identifier: MIT
/*
 * fw_cfg (devices/fw_cfg.c) driven through its ports as SeaBIOS and Linux's qemu_fw_cfg driver
 * drive it. Quoted sections are QEMU's docs/specs/fw_cfg.rst.
 */
#include <errno.h>
#include <string.h>

#include "check.h"
#include "devices/bus.h"
#include "devices/fw_cfg.h"

#define RAM_SIZE 0x100000

static u8 ram[RAM_SIZE];
static u64 written_gpa, written_len;
static unsigned written_calls;

static void ram_written(void *opaque, u64 gpa, u64 len)
{
	written_gpa = gpa;
	written_len = len;
	written_calls++;
}

static const struct guest_mem mem = { .ram = ram, .size = RAM_SIZE, .written = ram_written };
static struct bus pio;
static struct fw_cfg fw;

static const char e820_blob[] = "pretend e820 entries";
static const char bootorder[] = "/pci@i0cf8/*@1\n";
static const u8 kernel[300] = { [0] = 0x4d, [1] = 0x5a, [299] = 0x99 };

static u64 in(u16 port, unsigned len)
{
	u64 v = 0;

	bus_dispatch(&pio, port, &v, len, false);
	return v;
}

static void out(u16 port, u64 v, unsigned len)
{
	bus_dispatch(&pio, port, &v, len, true);
}

static void select_key(u16 key)
{
	out(FW_CFG_PORT_SEL, key, 2);
}

static void read_data(void *buf, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		((u8 *)buf)[i] = (u8)in(FW_CFG_PORT_DATA, 1);
}

static u32 be32(const u8 *p)
{
	return (u32)p[0] << 24 | (u32)p[1] << 16 | (u32)p[2] << 8 | p[3];
}

static void put_be32(u8 *p, u32 v)
{
	p[0] = (u8)(v >> 24);
	p[1] = (u8)(v >> 16);
	p[2] = (u8)(v >> 8);
	p[3] = (u8)v;
}

/* A FWCfgDmaAccess at `desc`, started the way Linux does it: iowrite32be of the high half at
   0x514, then of the low half at 0x518 (which triggers). Returns the control field after. */
static u32 dma(u64 desc, u32 control, u32 length, u64 addr)
{
	if (desc <= RAM_SIZE - 16) {
		put_be32(ram + desc, control);
		put_be32(ram + desc + 4, length);
		put_be32(ram + desc + 8, (u32)(addr >> 32));
		put_be32(ram + desc + 12, (u32)addr);
	}
	out(FW_CFG_PORT_DMA, __builtin_bswap32((u32)(desc >> 32)), 4);
	out(FW_CFG_PORT_DMA + 4, __builtin_bswap32((u32)desc), 4);
	return desc <= RAM_SIZE - 4 ? be32(ram + desc) : 0xdead;
}

static void setup(void)
{
	const struct fw_cfg_item items[] = {
		FW_CFG_ITEM_VALUE(FW_CFG_RAM_SIZE, 0x123456789abcull, 8),
		FW_CFG_ITEM_VALUE(FW_CFG_NB_CPUS, 4, 2),
		FW_CFG_ITEM_VALUE(FW_CFG_MAX_CPUS, 8, 2),
		FW_CFG_ITEM_VALUE(FW_CFG_KERNEL_ADDR, 0x100000, 4),
		FW_CFG_ITEM_VALUE(FW_CFG_KERNEL_SIZE, sizeof(kernel), 4),
		FW_CFG_ITEM_BYTES(FW_CFG_KERNEL_DATA, kernel, sizeof(kernel)),
		FW_CFG_ITEM_VALUE(FW_CFG_ARCH_LOCAL | 3, 0x77, 1),
		FW_CFG_ITEM_FILE("etc/e820", e820_blob, sizeof(e820_blob)),
		FW_CFG_ITEM_FILE("bootorder", bootorder, sizeof(bootorder)),
	};

	memset(&pio, 0, sizeof(pio));
	memset(ram, 0, sizeof(ram));
	CHECK_EQ(fw_cfg_init(&fw, &mem, items, ARRAY_SIZE(items)), 0);
	CHECK_EQ(bus_register_range(&pio, FW_CFG_PORT_SEL, FW_CFG_IO_LEN, fw_cfg_io_access, &fw,
				    "fw_cfg"), 0);
	CHECK_EQ(bus_register_range(&pio, FW_CFG_PORT_DMA, FW_CFG_DMA_LEN, fw_cfg_dma_access, &fw,
				    "fw_cfg-dma"), 0);
}

/* "Signature": key 0 reads "QEMU"; at power-on it is already selected. Past the end of an item
   "any reads will return a data value of 0x00". */
static void test_signature(void)
{
	char sig[6];

	setup();
	read_data(sig, 6); /* no selection yet: reset selected the signature */
	CHECK(!memcmp(sig, "QEMU\0\0", 6));
	select_key(FW_CFG_SIGNATURE);
	read_data(sig, 4);
	CHECK(!memcmp(sig, "QEMU", 4));
}

/* "Revision / feature bitmap": 32-bit little-endian, bit 0 always, bit 1 the DMA interface. */
static void test_id(void)
{
	u8 id[4];

	setup();
	select_key(FW_CFG_ID);
	read_data(id, 4);
	CHECK_EQ(id[0] | id[1] << 8 | id[2] << 16 | (u32)id[3] << 24,
		 FW_CFG_VERSION | FW_CFG_VERSION_DMA);
}

static void test_numbered_items(void)
{
	u8 b[8];
	u64 v = 0;

	setup();
	select_key(FW_CFG_RAM_SIZE);
	read_data(b, 8);
	for (int i = 7; i >= 0; i--)
		v = v << 8 | b[i];
	CHECK_EQ(v, 0x123456789abcull);
	select_key(FW_CFG_NB_CPUS);
	read_data(b, 2);
	CHECK_EQ(b[0] | b[1] << 8, 4);
	select_key(FW_CFG_MAX_CPUS);
	read_data(b, 2);
	CHECK_EQ(b[0] | b[1] << 8, 8);
	select_key(FW_CFG_KERNEL_SIZE);
	read_data(b, 4);
	CHECK_EQ(b[0] | b[1] << 8, sizeof(kernel));
	select_key(FW_CFG_KERNEL_DATA);
	read_data(b, 2);
	CHECK_EQ(b[0], 0x4d);
	CHECK_EQ(b[1], 0x5a);
	/* "Selector": bit 14 (write channel) names the same item; bit 15 the arch-local items. */
	select_key(FW_CFG_WRITE_CHANNEL | FW_CFG_NB_CPUS);
	read_data(b, 1);
	CHECK_EQ(b[0], 4);
	select_key(FW_CFG_ARCH_LOCAL | 3);
	read_data(b, 2);
	CHECK_EQ(b[0], 0x77);
	CHECK_EQ(b[1], 0);
	/* A key nobody serves reads as zeros. */
	select_key(0x0123);
	read_data(b, 2);
	CHECK_EQ(b[0] | b[1], 0);
	select_key(FW_CFG_INVALID);
	CHECK_EQ(in(FW_CFG_PORT_DATA, 1), 0);
}

/* "File Directory": a big-endian count, then 64-byte entries (size, select big-endian, name). */
static void test_file_directory(void)
{
	u8 dir[4 + 2 * FW_CFG_FILE_SIZE];
	char buf[sizeof(bootorder)];

	setup();
	select_key(FW_CFG_FILE_DIR);
	read_data(dir, sizeof(dir));
	CHECK_EQ(be32(dir), 2);
	CHECK_EQ(be32(dir + 4), sizeof(e820_blob));
	CHECK_EQ(dir[8] << 8 | dir[9], FW_CFG_FILE_FIRST);
	CHECK(!strcmp((char *)dir + 12, "etc/e820"));
	CHECK_EQ(be32(dir + 4 + 64), sizeof(bootorder));
	CHECK_EQ(dir[8 + 64] << 8 | dir[9 + 64], FW_CFG_FILE_FIRST + 1);
	CHECK(!strcmp((char *)dir + 12 + 64, "bootorder"));
	CHECK_EQ(in(FW_CFG_PORT_DATA, 1), 0); /* the directory ends there */
	select_key(FW_CFG_FILE_FIRST + 1);
	read_data(buf, sizeof(buf));
	CHECK(!memcmp(buf, bootorder, sizeof(bootorder)));
}

/* The port-width rules of fw_cfg_io_access (QEMU's combined 0x510-0x511 region). */
static void test_port_widths(void)
{
	setup();
	select_key(FW_CFG_SIGNATURE);
	CHECK_EQ(in(FW_CFG_PORT_SEL, 1), 'Q'); /* a byte read at 0x510 reads data too */
	CHECK_EQ(in(FW_CFG_PORT_SEL, 2), 'E' | 'M' << 8); /* one data byte per port */
	CHECK_EQ(in(FW_CFG_PORT_DATA, 2), 'U' | 0xff00); /* 0x512 is not ours */
	/* "Data Register": writes are ignored (QEMU 2.4+): the offset does not move. */
	select_key(FW_CFG_SIGNATURE);
	out(FW_CFG_PORT_DATA, 0x41, 1);
	out(FW_CFG_PORT_SEL, 0x41, 1);
	CHECK_EQ(in(FW_CFG_PORT_DATA, 1), 'Q');
	/* A dword write is not a selector write. */
	out(FW_CFG_PORT_SEL, FW_CFG_ID, 4);
	CHECK_EQ(in(FW_CFG_PORT_DATA, 1), 'E');
}

/* "If the DMA interface is available, then reading the DMA Address Register returns
   0x51454d5520434647 (QEMU CFG in big-endian format)". */
static void test_dma_signature(void)
{
	setup();
	CHECK_EQ(in(FW_CFG_PORT_DMA, 4), 0x554d4551);	   /* "QEMU" in port order */
	CHECK_EQ(in(FW_CFG_PORT_DMA + 4, 4), 0x47464320); /* " CFG" */
	CHECK_EQ(__builtin_bswap64(in(FW_CFG_PORT_DMA, 8)), FW_CFG_DMA_SIGNATURE);
	CHECK_EQ(in(FW_CFG_PORT_DMA + 6, 2), 'F' | 'G' << 8);
	CHECK_EQ(in(FW_CFG_PORT_DMA + 7, 2), 'G' | 0xff00); /* 0x51c is not ours */
}

/* "Guest-side DMA Interface": select + read; the control field becomes 0; the offset moves on so
   the next read continues; reads past the end fill zeros. */
static void test_dma_read(void)
{
	setup();
	memset(ram + 0x2000, 0xcc, 0x200);
	written_calls = 0;
	CHECK_EQ(dma(0x1000, FW_CFG_FILE_FIRST << 16 | FW_CFG_DMA_CTL_SELECT | FW_CFG_DMA_CTL_READ,
		     4, 0x2000),
		 0);
	CHECK(!memcmp(ram + 0x2000, "pret", 4));
	CHECK_EQ(ram[0x2004], 0xcc);
	CHECK_EQ(written_calls, 2); /* the buffer, then the control field */
	CHECK_EQ(dma(0x1000, FW_CFG_DMA_CTL_READ, 4, 0x2004), 0);
	CHECK(!memcmp(ram + 0x2000, "pretend ", 8));
	/* past the end: the remaining bytes, then zeros */
	CHECK_EQ(dma(0x1000, FW_CFG_DMA_CTL_READ, 0x40, 0x2000), 0);
	CHECK(!memcmp(ram + 0x2000, "e820 entries", 13));
	CHECK_EQ(ram[0x203f], 0);
	CHECK_EQ(ram[0x2040], 0xcc);
	/* The register is 0 after an operation: a lone low-half write uses only the low half. */
	CHECK_EQ(dma(0x1000, FW_CFG_DMA_CTL_SELECT | FW_CFG_DMA_CTL_READ, 4, 0x2100), 0);
	CHECK(!memcmp(ram + 0x2100, "QEMU", 4));
}

/* One 64-bit write at offset 0 starts an operation too (the MMIO form, and our bus allows it). */
static void test_dma_64bit_write(void)
{
	setup();
	put_be32(ram + 0x1000, FW_CFG_ID << 16 | FW_CFG_DMA_CTL_SELECT | FW_CFG_DMA_CTL_READ);
	put_be32(ram + 0x1004, 4);
	put_be32(ram + 0x1008, 0);
	put_be32(ram + 0x100c, 0x3000);
	out(FW_CFG_PORT_DMA, __builtin_bswap64(0x1000), 8);
	CHECK_EQ(be32(ram + 0x1000), 0);
	CHECK_EQ(ram[0x3000], FW_CFG_VERSION | FW_CFG_VERSION_DMA);
}

/* Skip (bit 2 without 1 and 4) moves the offset; beyond the end it stops there. */
static void test_dma_skip(void)
{
	setup();
	CHECK_EQ(dma(0x1000, FW_CFG_SIGNATURE << 16 | FW_CFG_DMA_CTL_SELECT | FW_CFG_DMA_CTL_SKIP,
		     2, 0),
		 0);
	CHECK_EQ(in(FW_CFG_PORT_DATA, 1), 'M');
	CHECK_EQ(dma(0x1000, FW_CFG_DMA_CTL_SKIP, 100, 0), 0);
	CHECK_EQ(in(FW_CFG_PORT_DATA, 1), 0);
	/* select alone: the offset goes back to 0 */
	CHECK_EQ(dma(0x1000, FW_CFG_SIGNATURE << 16 | FW_CFG_DMA_CTL_SELECT, 0, 0), 0);
	CHECK_EQ(in(FW_CFG_PORT_DATA, 1), 'Q');
}

/* "Writes to read-only items are also rejected ... set bit 0 (the error bit)": every item here
   is read-only, and the item stays as it was. */
static void test_dma_write_refused(void)
{
	setup();
	memcpy(ram + 0x2000, "XXXX", 4);
	CHECK_EQ(dma(0x1000, FW_CFG_FILE_FIRST << 16 | FW_CFG_DMA_CTL_SELECT | FW_CFG_DMA_CTL_WRITE,
		     4, 0x2000),
		 FW_CFG_DMA_CTL_ERROR);
	CHECK(!memcmp(e820_blob, "pret", 4));
	CHECK_EQ(in(FW_CFG_PORT_DATA, 1), 'p'); /* selected, offset untouched */
	/* length 0 moves nothing: no error (as QEMU) */
	CHECK_EQ(dma(0x1000, FW_CFG_DMA_CTL_WRITE, 0, 0x2000), 0);
}

/* A hostile guest: descriptors and buffers outside RAM get the error bit (when there is a control
   field in RAM to put it in) and never a host access outside RAM. */
static void test_dma_outside_ram(void)
{
	setup();
	/* the buffer runs past the end of RAM: error, nothing copied */
	memset(ram + RAM_SIZE - 2, 0xcc, 2);
	written_calls = 0;
	CHECK_EQ(dma(0x1000, FW_CFG_SIGNATURE << 16 | FW_CFG_DMA_CTL_SELECT | FW_CFG_DMA_CTL_READ,
		     4, RAM_SIZE - 2),
		 FW_CFG_DMA_CTL_ERROR);
	CHECK_EQ(ram[RAM_SIZE - 2], 0xcc);
	CHECK_EQ(written_calls, 1); /* only the control field */
	CHECK_EQ(in(FW_CFG_PORT_DATA, 1), 'Q'); /* the failed read did not advance */
	/* a buffer far above RAM and one that wraps the address space */
	CHECK_EQ(dma(0x1000, FW_CFG_DMA_CTL_READ, 4, 0xfffffffffffffffeull), FW_CFG_DMA_CTL_ERROR);
	CHECK_EQ(dma(0x1000, FW_CFG_DMA_CTL_READ, 0xffffffff, 0x2000), FW_CFG_DMA_CTL_ERROR);
	/* the descriptor straddles the end of RAM: its control field is in RAM and says error */
	put_be32(ram + RAM_SIZE - 8, FW_CFG_DMA_CTL_READ);
	CHECK_EQ(dma(RAM_SIZE - 8, 0, 0, 0), FW_CFG_DMA_CTL_ERROR);
	/* a descriptor wholly outside RAM: nothing to report to, nothing written */
	written_calls = 0;
	dma(0xfee00000ull, 0, 0, 0);
	dma(0xfffffffffffffff8ull, 0, 0, 0);
	CHECK_EQ(written_calls, 0);
	/* writes to the DMA register other than the documented ones are ignored */
	out(FW_CFG_PORT_DMA + 2, 0x1234, 2);
	out(FW_CFG_PORT_DMA + 4, 0x1234, 8);
	CHECK_EQ(fw.dma_addr, 0);
}

static void test_reset(void)
{
	setup();
	select_key(FW_CFG_RAM_SIZE);
	in(FW_CFG_PORT_DATA, 1);
	out(FW_CFG_PORT_DMA, 0x01000000, 4); /* high half 1 latched */
	CHECK_EQ(fw.dma_addr, 1ull << 32);
	fw_cfg_reset(&fw);
	CHECK_EQ(fw.dma_addr, 0);
	CHECK_EQ(in(FW_CFG_PORT_DATA, 1), 'Q');
}

static int init_one(struct fw_cfg_item it)
{
	return fw_cfg_init(&fw, &mem, &it, 1);
}

static void test_init_refusals(void)
{
	char long_name[FW_CFG_MAX_FILE_PATH + 1];
	struct fw_cfg_item many[FW_CFG_MAX_ITEMS];
	struct fw_cfg_item two[2];
	struct fw_cfg_item files[FW_CFG_MAX_FILES + 1];
	char names[FW_CFG_MAX_FILES + 1][8];

	CHECK_EQ(init_one(FW_CFG_ITEM_VALUE(FW_CFG_SIGNATURE, 1, 4)), -EINVAL);
	CHECK_EQ(init_one(FW_CFG_ITEM_VALUE(FW_CFG_ID, 1, 4)), -EINVAL);
	CHECK_EQ(init_one(FW_CFG_ITEM_VALUE(FW_CFG_FILE_DIR, 1, 4)), -EINVAL);
	CHECK_EQ(init_one(FW_CFG_ITEM_VALUE(FW_CFG_FILE_FIRST, 1, 4)), -EINVAL);
	CHECK_EQ(init_one(FW_CFG_ITEM_VALUE(FW_CFG_WRITE_CHANNEL | 3, 1, 4)), -EINVAL);
	CHECK_EQ(init_one(FW_CFG_ITEM_VALUE(FW_CFG_INVALID, 1, 4)), -EINVAL);
	CHECK_EQ(init_one(FW_CFG_ITEM_VALUE(FW_CFG_RAM_SIZE, 1, 9)), -EINVAL);
	CHECK_EQ(init_one(FW_CFG_ITEM_VALUE(FW_CFG_RAM_SIZE, 1, 0)), -EINVAL);
	CHECK_EQ(init_one(FW_CFG_ITEM_FILE("", "x", 1)), -EINVAL);
	CHECK_EQ(init_one(FW_CFG_ITEM_FILE("etc/x", NULL, 1)), -EINVAL);
	memset(long_name, 'a', sizeof(long_name) - 1);
	long_name[FW_CFG_MAX_FILE_PATH] = 0;
	CHECK_EQ(init_one(FW_CFG_ITEM_FILE(long_name, "x", 1)), -EINVAL);
	long_name[FW_CFG_MAX_FILE_PATH - 1] = 0; /* 55 characters and the NUL: fits */
	CHECK_EQ(init_one(FW_CFG_ITEM_FILE(long_name, "x", 1)), 0);
	two[0] = FW_CFG_ITEM_VALUE(FW_CFG_RAM_SIZE, 1, 8);
	two[1] = FW_CFG_ITEM_VALUE(FW_CFG_RAM_SIZE, 2, 8);
	CHECK_EQ(fw_cfg_init(&fw, &mem, two, 2), -EINVAL);
	two[0] = FW_CFG_ITEM_FILE("etc/a", "x", 1);
	two[1] = FW_CFG_ITEM_FILE("etc/a", "y", 1);
	CHECK_EQ(fw_cfg_init(&fw, &mem, two, 2), -EINVAL);
	for (unsigned i = 0; i < ARRAY_SIZE(many); i++)
		many[i] = FW_CFG_ITEM_VALUE(FW_CFG_ARCH_LOCAL | i, i, 1);
	CHECK_EQ(fw_cfg_init(&fw, &mem, many, ARRAY_SIZE(many)), -ENOSPC);
	for (unsigned i = 0; i < ARRAY_SIZE(files); i++) {
		snprintf(names[i], sizeof(names[i]), "f%u", i);
		files[i] = FW_CFG_ITEM_FILE(names[i], "x", 1);
	}
	CHECK_EQ(fw_cfg_init(&fw, &mem, files, FW_CFG_MAX_FILES), 0);
	CHECK_EQ(fw_cfg_init(&fw, &mem, files, FW_CFG_MAX_FILES + 1), -ENOSPC);
}

int main(void)
{
	test_signature();
	test_id();
	test_numbered_items();
	test_file_directory();
	test_port_widths();
	test_dma_signature();
	test_dma_read();
	test_dma_64bit_write();
	test_dma_skip();
	test_dma_write_refused();
	test_dma_outside_ram();
	test_reset();
	test_init_refusals();
	return check_done("test_fw_cfg");
}
