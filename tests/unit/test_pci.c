// SPDX-License-Identifier: MIT
/*
 * The PCI host bridge (devices/pci.c) through ports 0xcf8/0xcfc as an OS drives it. Section
 * numbers are the PCI Local Bus Specification 3.0's.
 */
#include <errno.h>
#include <string.h>

#include "check.h"
#include "devices/bus.h"
#include "devices/pci.h"

static struct bus pio;
static struct pci_host host;
static struct pci_function nic, fn1;
static unsigned written_calls, written_offset, written_len;

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

static u32 cfg_addr(unsigned bus, unsigned dev, unsigned fn, unsigned reg)
{
	return 0x80000000u | bus << 16 | dev << 11 | fn << 8 | (reg & 0xfc);
}

static u64 cfg_read(unsigned dev, unsigned fn, unsigned reg, unsigned len)
{
	out(PCI_CONFIG_ADDRESS_PORT, cfg_addr(0, dev, fn, reg), 4);
	return in(PCI_CONFIG_DATA_PORT + (reg & 3), len);
}

static void cfg_write(unsigned dev, unsigned fn, unsigned reg, u64 v, unsigned len)
{
	out(PCI_CONFIG_ADDRESS_PORT, cfg_addr(0, dev, fn, reg), 4);
	out(PCI_CONFIG_DATA_PORT + (reg & 3), v, len);
}

static void nic_written(void *opaque, struct pci_function *f, unsigned offset, unsigned len)
{
	written_calls++;
	written_offset = offset;
	written_len = len;
}

static void setup(void)
{
	memset(&pio, 0, sizeof(pio));
	pci_host_init(&host);
	CHECK_EQ(bus_register_range(&pio, PCI_CONFIG_ADDRESS_PORT, PCI_CONFIG_ADDRESS_LEN,
				    pci_config_address_access, &host, "pci-addr"), 0);
	CHECK_EQ(bus_register_range(&pio, PCI_CONFIG_DATA_PORT, PCI_CONFIG_DATA_LEN,
				    pci_config_data_access, &host, "pci-data"), 0);
}

/* 3.2.2.3.2: only a full dword at 0xcf8 is CONFIG_ADDRESS; bits 30:24 and 1:0 read 0. Other
   accesses are ordinary I/O nobody decodes: all ones. 0xcf9 stays free for another device. */
static void test_config_address(void)
{
	setup();
	out(PCI_CONFIG_ADDRESS_PORT, 0xffffffff, 4);
	CHECK_EQ(in(PCI_CONFIG_ADDRESS_PORT, 4), 0x80fffffc);
	out(PCI_CONFIG_ADDRESS_PORT, 0x12, 1); /* a byte write does not change it */
	out(PCI_CONFIG_ADDRESS_PORT, 0x1234, 2);
	CHECK_EQ(in(PCI_CONFIG_ADDRESS_PORT, 4), 0x80fffffc);
	CHECK_EQ(in(PCI_CONFIG_ADDRESS_PORT, 1), 0xff);
	CHECK_EQ(in(PCI_CONFIG_ADDRESS_PORT, 2), 0xffff);
	CHECK_EQ(bus_register_range(&pio, 0xcf9, 1, pci_config_address_access, NULL, "rcr"), 0);
	pci_host_reset(&host);
	CHECK_EQ(in(PCI_CONFIG_ADDRESS_PORT, 4), 0);
}

/* 00:00.0 is the 82441FX: vendor 8086, device 1237, revision 02, class 060000, header type 0. */
static void test_host_bridge(void)
{
	setup();
	CHECK_EQ(cfg_read(0, 0, PCI_VENDOR_ID, 4), 0x12378086);
	CHECK_EQ(cfg_read(0, 0, PCI_REVISION_ID, 4), 0x06000002);
	CHECK_EQ(cfg_read(0, 0, PCI_HEADER_TYPE, 1), 0);
	CHECK_EQ(cfg_read(0, 0, PCI_COMMAND, 2), 0x0006);
	CHECK_EQ(cfg_read(0, 0, PCI_STATUS, 2), 0x0280);
	/* read-only fields ignore writes (6.1): the IDs, the class, the hardwired enables */
	cfg_write(0, 0, PCI_VENDOR_ID, 0, 4);
	cfg_write(0, 0, PCI_REVISION_ID, 0, 4);
	cfg_write(0, 0, PCI_COMMAND, 0, 2);
	CHECK_EQ(cfg_read(0, 0, PCI_VENDOR_ID, 4), 0x12378086);
	CHECK_EQ(cfg_read(0, 0, PCI_REVISION_ID, 4), 0x06000002);
	CHECK_EQ(cfg_read(0, 0, PCI_COMMAND, 2), 0x0006);
	cfg_write(0, 0, PCI_COMMAND, 0xffff, 2);
	CHECK_EQ(cfg_read(0, 0, PCI_COMMAND, 2), 0x0146);
	/* unimplemented registers read 0 and ignore writes (6.1) */
	cfg_write(0, 0, 0x59, 0x33, 1);
	CHECK_EQ(cfg_read(0, 0, 0x58, 4), 0);
	CHECK_EQ(cfg_read(0, 0, PCI_BASE_ADDRESS_0, 4), 0);
	pci_host_reset(&host);
	CHECK_EQ(cfg_read(0, 0, PCI_COMMAND, 2), 0x0006);
}

/* Byte and word accesses at 0xcfc-0xcff reach the matching bytes of the dword (byte enables). */
static void test_data_widths(void)
{
	setup();
	CHECK_EQ(cfg_read(0, 0, PCI_VENDOR_ID, 1), 0x86);
	CHECK_EQ(cfg_read(0, 0, PCI_VENDOR_ID + 1, 1), 0x80);
	CHECK_EQ(cfg_read(0, 0, PCI_DEVICE_ID, 2), 0x1237);
	CHECK_EQ(cfg_read(0, 0, PCI_CLASS_PROG + 2, 1), 0x06);
	out(PCI_CONFIG_ADDRESS_PORT, cfg_addr(0, 0, 0, 0), 4);
	/* a word at 0xcff: its second byte is port 0xd00, not ours */
	CHECK_EQ(in(PCI_CONFIG_DATA_PORT + 3, 2), 0xff12);
	CHECK_EQ(in(PCI_CONFIG_DATA_PORT + 2, 4), 0xffff1237);
}

/* A function nobody implements: master abort, all ones (6.1); also with the enable bit clear,
   on another bus, or for a register of an absent function. Writes go nowhere. */
static void test_absent(void)
{
	setup();
	CHECK_EQ(cfg_read(1, 0, PCI_VENDOR_ID, 4), 0xffffffff);
	CHECK_EQ(cfg_read(0, 1, PCI_VENDOR_ID, 2), 0xffff);
	CHECK_EQ(cfg_read(31, 7, 0xfc, 1), 0xff);
	out(PCI_CONFIG_ADDRESS_PORT, cfg_addr(1, 0, 0, 0), 4); /* bus 1 */
	CHECK_EQ(in(PCI_CONFIG_DATA_PORT, 4), 0xffffffff);
	out(PCI_CONFIG_ADDRESS_PORT, cfg_addr(0, 0, 0, 0) & ~0x80000000u, 4); /* disabled */
	CHECK_EQ(in(PCI_CONFIG_DATA_PORT, 4), 0xffffffff);
	out(PCI_CONFIG_DATA_PORT, 0, 4);
	CHECK_EQ(cfg_read(0, 0, PCI_VENDOR_ID, 4), 0x12378086);
	cfg_write(5, 0, PCI_COMMAND, 0xffff, 2); /* nothing there: nothing happens */
}

/* 6.2.5.1: sizing a BAR by writing all ones; the type bits are read-only. */
static void test_bars(void)
{
	setup();
	pci_function_init(&nic, 0x1af4, 0x1000, 0, 0x020000);
	CHECK_EQ(pci_function_set_bar(&nic, 0, 0x20, PCI_BAR_IO), 0);
	CHECK_EQ(pci_function_set_bar(&nic, 1, 0x1000, PCI_BAR_MEM32), 0);
	CHECK_EQ(pci_function_set_bar(&nic, 2, 0x4000, PCI_BAR_MEM64 | PCI_BAR_PREFETCH), 0);
	nic.written = nic_written;
	CHECK_EQ(pci_host_add_function(&host, 3, 0, &nic), 0);

	CHECK_EQ(cfg_read(3, 0, PCI_VENDOR_ID, 4), 0x10001af4);
	CHECK_EQ(cfg_read(3, 0, PCI_BASE_ADDRESS_0, 4), PCI_BAR_IO);
	cfg_write(3, 0, PCI_BASE_ADDRESS_0, 0xffffffff, 4);
	CHECK_EQ(cfg_read(3, 0, PCI_BASE_ADDRESS_0, 4), 0x0000ffe1); /* 16-bit I/O decode */
	cfg_write(3, 0, PCI_BASE_ADDRESS_0 + 4, 0xffffffff, 4);
	CHECK_EQ(cfg_read(3, 0, PCI_BASE_ADDRESS_0 + 4, 4), 0xfffff000);
	cfg_write(3, 0, PCI_BASE_ADDRESS_0 + 8, 0xffffffff, 4);
	cfg_write(3, 0, PCI_BASE_ADDRESS_0 + 12, 0xffffffff, 4);
	CHECK_EQ(cfg_read(3, 0, PCI_BASE_ADDRESS_0 + 8, 4), 0xffffc00c);
	CHECK_EQ(cfg_read(3, 0, PCI_BASE_ADDRESS_0 + 12, 4), 0xffffffff);
	CHECK_EQ(cfg_read(3, 0, PCI_BASE_ADDRESS_0 + 16, 4), 0); /* no BAR 4 */

	cfg_write(3, 0, PCI_BASE_ADDRESS_0, 0xc041, 4);
	cfg_write(3, 0, PCI_BASE_ADDRESS_0 + 4, 0xfe000123, 4);
	cfg_write(3, 0, PCI_BASE_ADDRESS_0 + 8, 0x40000000, 4);
	cfg_write(3, 0, PCI_BASE_ADDRESS_0 + 12, 0x1, 4);
	CHECK_EQ(pci_function_bar_address(&nic, 0), 0xc040);
	CHECK_EQ(pci_function_bar_address(&nic, 1), 0xfe000000);
	CHECK_EQ(pci_function_bar_address(&nic, 2), 0x140000000ull);
	CHECK_EQ(written_offset, PCI_BASE_ADDRESS_0 + 12);
	CHECK_EQ(written_len, 4);

	/* the command register's enables are writable, its reserved bits are not */
	written_calls = 0;
	cfg_write(3, 0, PCI_COMMAND, 0xffff, 2);
	CHECK_EQ(cfg_read(3, 0, PCI_COMMAND, 2), 0x0547);
	CHECK_EQ(written_calls, 1);
	CHECK_EQ(written_offset, PCI_COMMAND);
	CHECK_EQ(written_len, 2);
	/* RST#: command and BARs to 0, the type bits stay */
	pci_host_reset(&host);
	CHECK_EQ(cfg_read(3, 0, PCI_COMMAND, 2), 0);
	CHECK_EQ(cfg_read(3, 0, PCI_BASE_ADDRESS_0, 4), PCI_BAR_IO);
	CHECK_EQ(cfg_read(3, 0, PCI_BASE_ADDRESS_0 + 8, 4), 0xc);

	CHECK_EQ(pci_function_set_bar(&nic, 0, 3, PCI_BAR_IO), -EINVAL);
	CHECK_EQ(pci_function_set_bar(&nic, 0, 512, PCI_BAR_IO), -EINVAL);
	CHECK_EQ(pci_function_set_bar(&nic, 0, 8, PCI_BAR_MEM32), -EINVAL);
	CHECK_EQ(pci_function_set_bar(&nic, 5, 0x1000, PCI_BAR_MEM64), -EINVAL);
	CHECK_EQ(pci_function_set_bar(&nic, 6, 0x1000, PCI_BAR_MEM32), -EINVAL);
	CHECK_EQ(pci_function_set_bar(&nic, 0, 1ull << 32, PCI_BAR_MEM32), -EINVAL);
	CHECK_EQ(pci_function_set_bar(&nic, 0, 0x1000, PCI_BAR_IO | PCI_BAR_PREFETCH), -EINVAL);
}

/* 6.2.1: a multi-function device sets bit 7 of function 0's header type. */
static void test_functions(void)
{
	setup();
	pci_function_init(&nic, 0x8086, 0x100e, 3, 0x020000);
	pci_function_init(&fn1, 0x8086, 0x100f, 3, 0x020000);
	CHECK_EQ(pci_host_add_function(&host, 0, 0, &nic), -EEXIST); /* the host bridge */
	CHECK_EQ(pci_host_add_function(&host, 4, 1, &fn1), -EINVAL);  /* no function 0 */
	CHECK_EQ(pci_host_add_function(&host, 32, 0, &nic), -EINVAL);
	CHECK_EQ(pci_host_add_function(&host, 4, 8, &nic), -EINVAL);
	CHECK_EQ(pci_host_add_function(&host, 4, 0, &nic), 0);
	CHECK_EQ(cfg_read(4, 0, PCI_HEADER_TYPE, 1), 0);
	CHECK_EQ(pci_host_add_function(&host, 4, 1, &fn1), 0);
	CHECK_EQ(pci_host_add_function(&host, 4, 1, &fn1), -EEXIST);
	CHECK_EQ(cfg_read(4, 0, PCI_HEADER_TYPE, 1), PCI_HEADER_TYPE_MULTI_FUNCTION);
	CHECK_EQ(cfg_read(4, 1, PCI_DEVICE_ID, 2), 0x100f);
	CHECK_EQ(cfg_read(4, 2, PCI_DEVICE_ID, 2), 0xffff);
	/* interrupt line is scratch for software, interrupt pin read-only (6.2.4) */
	cfg_write(4, 1, PCI_INTERRUPT_LINE, 0x0b0b, 2);
	CHECK_EQ(cfg_read(4, 1, PCI_INTERRUPT_LINE, 2), 0x000b);
}

int main(void)
{
	test_config_address();
	test_host_bridge();
	test_data_widths();
	test_absent();
	test_bars();
	test_functions();
	return check_done("test_pci");
}
