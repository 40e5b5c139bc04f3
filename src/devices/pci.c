// SPDX-License-Identifier: MIT
/* PCI host bridge, mechanism #1; section numbers are the PCI Local Bus Specification 3.0's. */
#include <errno.h>
#include <string.h>

#include "devices/pci.h"

/* CONFIG_ADDRESS (3.2.2.3.2, Figure 3-2): bit 31 enable, 30:24 reserved (read-only 0), 23:16
   bus, 15:11 device, 10:8 function, 7:2 register; 1:0 read-only 0. */
#define PCI_CONFIG_ENABLE  BIT(31)
#define PCI_CONFIG_ADDRESS_MASK 0x80fffffcu

/* 82441FX PMC: revision 02h (what lspci shows on 440FX boards); PCICMD 0006h, the memory and
   bus-master enables on for good (a host bridge always forwards the CPU's memory cycles), the
   parity and SERR# enables read/write; PCISTS 0280h (fast back-to-back capable, medium DEVSEL
   timing), the datasheet's defaults. */
#define I440FX_REVISION 0x02
#define I440FX_COMMAND	0x0006
#define I440FX_STATUS	0x0280

static void put16(u8 *p, u16 v)
{
	p[0] = (u8)v;
	p[1] = (u8)(v >> 8);
}

static void put32(u8 *p, u32 v)
{
	put16(p, (u16)v);
	put16(p + 2, (u16)(v >> 16));
}

static u32 get32(const u8 *p)
{
	return p[0] | p[1] << 8 | p[2] << 16 | (u32)p[3] << 24;
}

void pci_function_init(struct pci_function *f, u16 vendor, u16 device, u8 revision,
		       u32 class_code)
{
	memset(f, 0, sizeof(*f));
	put16(f->config + PCI_VENDOR_ID, vendor);
	put16(f->config + PCI_DEVICE_ID, device);
	f->config[PCI_REVISION_ID] = revision;
	f->config[PCI_CLASS_PROG] = (u8)class_code;
	f->config[PCI_CLASS_PROG + 1] = (u8)(class_code >> 8);
	f->config[PCI_CLASS_PROG + 2] = (u8)(class_code >> 16);
	put16(f->wmask + PCI_COMMAND, PCI_COMMAND_IO | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER |
					      PCI_COMMAND_PARITY | PCI_COMMAND_SERR |
					      PCI_COMMAND_INTX_DISABLE);
	/* 6.2.4: cache line size, latency timer and interrupt line are read/write. */
	f->wmask[PCI_CACHE_LINE_SIZE] = 0xff;
	f->wmask[PCI_LATENCY_TIMER] = 0xff;
	f->wmask[PCI_INTERRUPT_LINE] = 0xff;
}

int pci_function_set_bar(struct pci_function *f, unsigned bar, u64 size, unsigned type)
{
	unsigned at = PCI_BASE_ADDRESS_0 + 4 * bar;
	u64 mask;

	if (bar >= PCI_NUM_BARS || !size || (size & (size - 1)))
		return -EINVAL;
	if (type == PCI_BAR_IO) {
		if (size < 4 || size > 256)
			return -EINVAL;
		put32(f->config + at, PCI_BAR_IO);
		put32(f->wmask + at, (u32)~(size - 1) & 0xfffc);
		return 0;
	}
	if ((type & ~(PCI_BAR_MEM64 | PCI_BAR_PREFETCH)) || size < 16)
		return -EINVAL;
	mask = ~(size - 1) & ~0xfull;
	if (type & PCI_BAR_MEM64) {
		if (bar + 1 >= PCI_NUM_BARS)
			return -EINVAL;
		put32(f->config + at + 4, 0);
		put32(f->wmask + at + 4, (u32)(mask >> 32));
	} else if (size > BIT(31)) {
		return -EINVAL;
	}
	put32(f->config + at, type);
	put32(f->wmask + at, (u32)mask);
	return 0;
}

u64 pci_function_bar_address(const struct pci_function *f, unsigned bar)
{
	const u8 *p = f->config + PCI_BASE_ADDRESS_0 + 4 * bar;
	u32 lo;

	if (bar >= PCI_NUM_BARS)
		return 0;
	lo = get32(p);
	if (lo & PCI_BAR_IO)
		return lo & ~0x3u;
	if ((lo & 0x6) == PCI_BAR_MEM64 && bar + 1 < PCI_NUM_BARS)
		return (u64)get32(p + 4) << 32 | (lo & ~0xfu);
	return lo & ~0xfu;
}

void pci_function_reset(struct pci_function *f)
{
	for (unsigned i = 0; i < PCI_CONFIG_SPACE_SIZE; i++)
		f->config[i] &= (u8)~f->wmask[i];
}

/* The 82441FX as far as an OS looks: identity, class and the header. Its device-specific
   registers (0x40-0xff: DRAM control, PAM, SMRAM) are not modelled: the VMM fixes guest memory,
   so they read 0 and ignore writes like any unimplemented register (6.1). */
static void pci_host_bridge_init(struct pci_function *f)
{
	pci_function_init(f, PCI_VENDOR_INTEL, PCI_DEVICE_I440FX, I440FX_REVISION,
			  PCI_CLASS_HOST_BRIDGE);
	put16(f->config + PCI_COMMAND, I440FX_COMMAND);
	put16(f->wmask + PCI_COMMAND, PCI_COMMAND_PARITY | PCI_COMMAND_SERR);
	put16(f->config + PCI_STATUS, I440FX_STATUS);
	f->wmask[PCI_CACHE_LINE_SIZE] = 0;
	f->wmask[PCI_INTERRUPT_LINE] = 0;
	f->wmask[PCI_LATENCY_TIMER] = 0xf8; /* MLT: bits 7:3 count 8-clock units */
}

void pci_host_init(struct pci_host *h)
{
	memset(h, 0, sizeof(*h));
	pci_host_bridge_init(&h->bridge);
	h->functions[0][0] = &h->bridge;
	pci_host_reset(h);
}

void pci_host_reset(struct pci_host *h)
{
	h->config_address = 0;
	for (unsigned d = 0; d < PCI_MAX_DEVICES; d++)
		for (unsigned fn = 0; fn < PCI_MAX_FUNCTIONS; fn++)
			if (h->functions[d][fn])
				pci_function_reset(h->functions[d][fn]);
}

int pci_host_add_function(struct pci_host *h, unsigned dev, unsigned fn, struct pci_function *f)
{
	if (dev >= PCI_MAX_DEVICES || fn >= PCI_MAX_FUNCTIONS)
		return -EINVAL;
	if (h->functions[dev][fn])
		return -EEXIST;
	if (fn && !h->functions[dev][0])
		return -EINVAL;
	h->functions[dev][fn] = f;
	if (fn)
		h->functions[dev][0]->config[PCI_HEADER_TYPE] |= PCI_HEADER_TYPE_MULTI_FUNCTION;
	return 0;
}

/*
 * 3.2.2.3.2: "Anytime a host bridge sees a full DWORD I/O write from the host to CONFIG_ADDRESS,
 * the bridge must latch the data into its CONFIG_ADDRESS register. On full DWORD I/O reads to
 * CONFIG_ADDRESS, the bridge must return the data in CONFIG_ADDRESS. Any other types of accesses
 * to this address (non-DWORD) have no effect on CONFIG_ADDRESS and are executed as normal I/O
 * transactions on the PCI bus": nothing on our bus decodes 0xcf8, so they end in master abort,
 * reads all ones and writes dropped.
 */
void pci_config_address_access(void *opaque, u64 offset, u64 *data, unsigned len, bool is_write)
{
	struct pci_host *h = opaque;

	if (offset || len != 4) {
		if (!is_write)
			*data = len >= 8 ? ~0ull : BIT(8 * len) - 1;
		return;
	}
	if (is_write)
		h->config_address = (u32)*data & PCI_CONFIG_ADDRESS_MASK;
	else
		*data = h->config_address;
}

/* The function CONFIG_ADDRESS selects: bus 0 only (no PCI-to-PCI bridges, so a type 1
   transaction to another bus ends in master abort); NULL for an empty slot. */
static struct pci_function *pci_host_target(const struct pci_host *h)
{
	u32 a = h->config_address;

	if ((a >> 16) & 0xff)
		return NULL;
	return h->functions[(a >> 11) & 0x1f][(a >> 8) & 0x7];
}

/*
 * CONFIG_DATA: a byte, word or dword at 0xcfc + offset reaches the selected dword's bytes from
 * `offset` (3.2.2.3.2, byte enables). With the enable bit clear the access is a normal I/O
 * transaction and, as an absent function (master abort, 6.1: "returning all 1's on read"), reads
 * all ones and drops writes. Unimplemented registers of a present function read 0 and ignore
 * writes (6.1); read-only bits keep their value. Bytes of an access that run past 0xcff are
 * other ports: all ones, dropped.
 */
void pci_config_data_access(void *opaque, u64 offset, u64 *data, unsigned len, bool is_write)
{
	struct pci_host *h = opaque;
	struct pci_function *f = NULL;
	unsigned reg = h->config_address & 0xfc;
	unsigned n = 0;

	if (h->config_address & PCI_CONFIG_ENABLE)
		f = pci_host_target(h);
	if (f && offset < 4)
		n = (unsigned)(4 - offset) < len ? (unsigned)(4 - offset) : len;
	if (!is_write) {
		u64 v = len >= 8 ? ~0ull : BIT(8 * len) - 1;

		for (unsigned i = 0; i < n; i++) {
			v &= ~(0xffull << (8 * i));
			v |= (u64)f->config[reg + offset + i] << (8 * i);
		}
		*data = v;
		return;
	}
	for (unsigned i = 0; i < n; i++) {
		unsigned at = reg + (unsigned)offset + i;
		u8 b = (u8)(*data >> (8 * i));

		f->config[at] = (u8)((f->config[at] & ~f->wmask[at]) | (b & f->wmask[at]));
	}
	if (n && f->written)
		f->written(f->opaque, f, reg + (unsigned)offset, n);
}
