// SPDX-License-Identifier: MIT
/*
 * The PCI host bridge's configuration mechanism #1 (src/devices/pci.c) under the device harness
 * (device.h): CONFIG_ADDRESS (0xcf8, one port: wider accesses run past it, as the bus hands
 * them over) and CONFIG_DATA (0xcfc-0xcff), with the 440FX bridge at 00:00.0 and a function at
 * 00:03.0 with an I/O BAR, a 32-bit memory BAR and a 64-bit prefetchable one. Beyond the
 * harness's checks, asserted: the read-only bytes of the function's header keep their values
 * (wmask, PCI Local Bus Specification 3.0 6.1), and each BAR reads back aligned to its size
 * (6.2.5.1).
 */
#include "devices/pci.h"
#include "device.h"

struct pci_fuzz {
	struct pci_host host;
	struct pci_function fn;
	u8 initial[PCI_CONFIG_SPACE_SIZE];
};

static void *pci_fuzz_create(void)
{
	struct pci_fuzz *f = calloc(1, sizeof(*f));

	if (!f)
		abort();
	pci_host_init(&f->host);
	pci_function_init(&f->fn, 0x1af4, 0x1000, 1, 0x020000);
	if (pci_function_set_bar(&f->fn, 0, 32, PCI_BAR_IO) ||
	    pci_function_set_bar(&f->fn, 1, 0x1000, PCI_BAR_MEM32) ||
	    pci_function_set_bar(&f->fn, 2, 0x4000, PCI_BAR_MEM64 | PCI_BAR_PREFETCH) ||
	    pci_host_add_function(&f->host, 3, 0, &f->fn))
		abort();
	memcpy(f->initial, f->fn.config, sizeof(f->initial));
	return f;
}

static void pci_fuzz_check(void *dev)
{
	const struct pci_fuzz *f = dev;
	static const u64 sizes[] = { 32, 0x1000, 0x4000 };

	for (unsigned i = 0; i < PCI_CONFIG_SPACE_SIZE; i++)
		FUZZ_ASSERT(!(((f->fn.config[i] ^ f->initial[i]) & ~f->fn.wmask[i])),
			    "read-only bits of config byte %#x changed: %#x, was %#x", i,
			    f->fn.config[i], f->initial[i]);
	for (unsigned b = 0; b < ARRAY_SIZE(sizes); b++)
		FUZZ_ASSERT(!(pci_function_bar_address(&f->fn, b) & (sizes[b] - 1)),
			    "BAR %u at %#llx, size %#llx", b,
			    (unsigned long long)pci_function_bar_address(&f->fn, b),
			    (unsigned long long)sizes[b]);
}

static const struct fuzz_device pci_device = {
	.ranges = { { PCI_CONFIG_ADDRESS_LEN, pci_config_address_access },
		    { PCI_CONFIG_DATA_LEN, pci_config_data_access } },
	.create = pci_fuzz_create,
	.destroy = free,
	.check = pci_fuzz_check,
};

FUZZ_DEVICE_TARGET(pci_device)
