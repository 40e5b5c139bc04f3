// SPDX-License-Identifier: MIT
/*
 * ACPI tables (acpi.h). Section numbers are ACPI 6.3's unless another document is named; the
 * HPET table is the IA-PC HPET specification 1.0a's, 3.2.4.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "devices/fw_cfg.h"
#include "devices/uart.h"
#include "firmware/acpi.h"
#include "firmware/aml.h"
#include "firmware/e820.h"

#define ACPI_OEM_ID	    "TLBOTH"   /* 6 characters */
#define ACPI_OEM_TABLE_ID   "TOLLBOTH" /* 8 characters */
#define ACPI_OEM_REVISION   1
#define ACPI_CREATOR_ID	    "TLBT"
#define ACPI_CREATOR_REV    1
#define ACPI_HYPERVISOR_ID  "TOLLBOTH" /* FADT Hypervisor Vendor Identity (6.0+) */

/* 5.2.6 System Description Table Header */
#define ACPI_HEADER_SIZE 36
#define HDR_LENGTH	 4
#define HDR_CHECKSUM	 9

/* 5.2.5.3 RSDP, revision 2: 20 bytes of ACPI 1.0 (checksum over them), 36 in all (extended
   checksum over all). */
#define RSDP_SIZE	      36
#define RSDP_REVISION	      2
#define RSDP_V1_SIZE	      20
#define RSDP_CHECKSUM	      8
#define RSDP_OEMID	      9
#define RSDP_REV	      15
#define RSDP_RSDT	      16
#define RSDP_LENGTH	      20
#define RSDP_XSDT	      24
#define RSDP_EXT_CHECKSUM     32

/* 5.2.8 XSDT */
#define XSDT_REVISION 1

/* 5.2.9 FADT, revision 6, minor version 3 (ACPI 6.3): 276 bytes. Field offsets (Table 5-33). */
#define FADT_SIZE		 276
#define FADT_REVISION		 6
#define FADT_MINOR_VERSION	 3
#define FADT_FIRMWARE_CTRL	 36
#define FADT_DSDT		 40
#define FADT_PREFERRED_PM_PROFILE 45
#define FADT_SCI_INT		 46
#define FADT_SMI_CMD		 48
#define FADT_PM1A_EVT_BLK	 56
#define FADT_PM1A_CNT_BLK	 64
#define FADT_PM_TMR_BLK		 76
#define FADT_PM1_EVT_LEN	 88
#define FADT_PM1_CNT_LEN	 89
#define FADT_PM_TMR_LEN		 91
#define FADT_P_LVL2_LAT		 96
#define FADT_P_LVL3_LAT		 98
#define FADT_CENTURY		 108
#define FADT_IAPC_BOOT_ARCH	 109
#define FADT_FLAGS		 112
#define FADT_RESET_REG		 116
#define FADT_RESET_VALUE	 128
#define FADT_MINOR		 131
#define FADT_X_FIRMWARE_CTRL	 132
#define FADT_X_DSDT		 140
#define FADT_X_PM1A_EVT_BLK	 148
#define FADT_X_PM1A_CNT_BLK	 172
#define FADT_X_PM_TMR_BLK	 208
#define FADT_HYPERVISOR_ID	 268

/* P_LVL2_LAT > 100 and P_LVL3_LAT > 1000 say the C2 and C3 states are not supported. */
#define FADT_NO_C2 101
#define FADT_NO_C3 1001

/* FADT flags (Table 5-34) */
#define FADT_F_WBINVD		BIT(0)
#define FADT_F_PROC_C1		BIT(2)
#define FADT_F_PWR_BUTTON	BIT(4)  /* 1: no fixed-hardware power button */
#define FADT_F_SLP_BUTTON	BIT(5)  /* 1: no fixed-hardware sleep button */
#define FADT_F_TMR_VAL_EXT	BIT(8)
#define FADT_F_RESET_REG_SUP	BIT(10)
#define FADT_F_HW_REDUCED_ACPI	BIT(20)

/* IA-PC boot architecture flags (5.2.9.3, Table 5-35) */
#define IAPC_LEGACY_DEVICES BIT(0)
#define IAPC_8042	    BIT(1)
#define IAPC_VGA_NOT_PRESENT BIT(2)
#define IAPC_MSI_NOT_SUPPORTED BIT(3)
#define IAPC_CMOS_RTC_NOT_PRESENT BIT(5)

/* 5.2.3.2 Generic Address Structure: space ID, bit width, bit offset, access size, address. */
#define GAS_SIZE	   12
#define GAS_SYSTEM_MEMORY  0
#define GAS_SYSTEM_IO	   1
#define GAS_ACCESS_BYTE	   1
#define GAS_ACCESS_WORD	   2
#define GAS_ACCESS_DWORD   3

/* 5.2.10 FACS: 64 bytes, 64-byte aligned, no checksum; version 2. */
#define FACS_SIZE    64
#define FACS_ALIGN   64
#define FACS_VERSION 2
#define FACS_LENGTH  4
#define FACS_VERSION_OFF 32

/* 5.2.12 MADT, revision 5 (ACPI 6.3) */
#define MADT_REVISION	   5
#define MADT_PCAT_COMPAT   BIT(0)
#define MADT_LAPIC	   0 /* 5.2.12.2, 8 bytes */
#define MADT_IOAPIC	   1 /* 5.2.12.3, 12 bytes */
#define MADT_ISO	   2 /* 5.2.12.5, 10 bytes */
#define MADT_LAPIC_NMI	   4 /* 5.2.12.7, 6 bytes */
#define MADT_X2APIC	   9 /* 5.2.12.12, 16 bytes */
#define MADT_X2APIC_NMI	   10 /* 5.2.12.13, 12 bytes */
#define MADT_LAPIC_ENABLED BIT(0)
/* APIC IDs from 255 up need the x2APIC structure (5.2.12.12); 0xff is the xAPIC broadcast ID. */
#define MADT_XAPIC_ID_LIMIT 255
#define MADT_ALL_PROCESSORS 0xff /* Local APIC NMI: ACPI Processor UID for all */
#define MADT_X2_ALL_PROCESSORS 0xffffffffu
#define MADT_NMI_LINT	   1 /* LINT1 carries NMI on a PC */

/* IA-PC HPET specification 1.0a, 3.2.4: the HPET description table, revision 1, 56 bytes. */
#define HPET_TABLE_SIZE	    56
#define HPET_TABLE_REVISION 1
#define HPET_MIN_TICK	    0x80 /* main-counter ticks, periodic mode, as PC firmware reports */

#define DSDT_REVISION 2 /* 64-bit integers (19.6.28 DefinitionBlock ComplianceRevision) */

struct acpi_out {
	u8 *buf;
	size_t cap, len;
	u64 gpa;
};

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

static void put64(u8 *p, u64 v)
{
	put32(p, (u32)v);
	put32(p + 4, (u32)(v >> 32));
}

static u8 acpi_checksum(const u8 *p, size_t n)
{
	u8 sum = 0;

	while (n--)
		sum += *p++;
	return (u8)-sum;
}

/* Reserve `size` bytes at the next `align` boundary of the guest address; NULL when it does not
   fit. The reserved bytes and the padding before them are zeroed. */
static u8 *acpi_alloc(struct acpi_out *o, size_t size, unsigned align, u64 *gpa)
{
	size_t start = o->len + (size_t)((align - (o->gpa + o->len) % align) % align);

	if (start > o->cap || size > o->cap - start)
		return NULL;
	memset(o->buf + o->len, 0, start + size - o->len);
	o->len = start + size;
	*gpa = o->gpa + start;
	return o->buf + start;
}

/* 5.2.6: the header of a table of `len` bytes; the checksum is set by acpi_seal() at the end. */
static void acpi_header(u8 *t, const char sig[4], u32 len, u8 revision)
{
	memcpy(t, sig, 4);
	put32(t + HDR_LENGTH, len);
	t[8] = revision;
	memcpy(t + 10, ACPI_OEM_ID, 6);
	memcpy(t + 16, ACPI_OEM_TABLE_ID, 8);
	put32(t + 24, ACPI_OEM_REVISION);
	memcpy(t + 28, ACPI_CREATOR_ID, 4);
	put32(t + 32, ACPI_CREATOR_REV);
}

/* 5.2.6 Checksum: the whole table sums to zero. */
static void acpi_seal(u8 *t)
{
	u32 len = t[4] | t[5] << 8 | t[6] << 16 | (u32)t[7] << 24;

	t[HDR_CHECKSUM] = 0;
	t[HDR_CHECKSUM] = acpi_checksum(t, len);
}

static void acpi_gas(u8 *p, u8 space, u8 bit_width, u8 access, u64 addr)
{
	p[0] = space;
	p[1] = bit_width;
	p[2] = 0;
	p[3] = access;
	put64(p + 4, addr);
}

static bool acpi_has_x2apic(const struct acpi_config *c)
{
	for (unsigned i = 0; i < c->nr_cpus; i++)
		if (c->apic_ids[i] >= MADT_XAPIC_ID_LIMIT)
			return true;
	return false;
}

static size_t acpi_madt_size(const struct acpi_config *c)
{
	size_t n = ACPI_HEADER_SIZE + 8 + 12 + 10 * c->nr_isos + 6;

	for (unsigned i = 0; i < c->nr_cpus; i++)
		n += c->apic_ids[i] >= MADT_XAPIC_ID_LIMIT ? 16 : 8;
	if (acpi_has_x2apic(c))
		n += 12;
	return n;
}

/*
 * 5.2.12 MADT: the local APIC address and PCAT_COMPAT (the 8259s exist and the OS must mask them
 * before using the APICs), one processor structure per vCPU in order with ACPI Processor UID i
 * (the _UID of the DSDT's processor device), the IOAPIC, the overrides and LINT1 as NMI on all
 * processors (5.2.12.7; 5.2.12.13 too when x2APIC structures exist, which the OS matches by UID).
 */
static void acpi_build_madt(const struct acpi_config *c, u8 *t, size_t len)
{
	u8 *p = t + ACPI_HEADER_SIZE;

	acpi_header(t, "APIC", (u32)len, MADT_REVISION);
	put32(p, ACPI_LAPIC_ADDR);
	put32(p + 4, c->pic ? MADT_PCAT_COMPAT : 0);
	p += 8;
	for (unsigned i = 0; i < c->nr_cpus; i++) {
		u32 id = c->apic_ids[i];

		if (id < MADT_XAPIC_ID_LIMIT) {
			p[0] = MADT_LAPIC;
			p[1] = 8;
			p[2] = (u8)i;
			p[3] = (u8)id;
			put32(p + 4, MADT_LAPIC_ENABLED);
			p += 8;
		} else {
			p[0] = MADT_X2APIC;
			p[1] = 16;
			put32(p + 4, id);
			put32(p + 8, MADT_LAPIC_ENABLED);
			put32(p + 12, i);
			p += 16;
		}
	}
	p[0] = MADT_IOAPIC;
	p[1] = 12;
	p[2] = c->ioapic.id;
	put32(p + 4, c->ioapic.addr);
	put32(p + 8, c->ioapic.gsi_base);
	p += 12;
	for (unsigned i = 0; i < c->nr_isos; i++) {
		p[0] = MADT_ISO;
		p[1] = 10;
		p[2] = 0; /* bus: ISA */
		p[3] = c->isos[i].irq;
		put32(p + 4, c->isos[i].gsi);
		put16(p + 8, c->isos[i].flags);
		p += 10;
	}
	p[0] = MADT_LAPIC_NMI;
	p[1] = 6;
	p[2] = MADT_ALL_PROCESSORS;
	put16(p + 3, 0); /* conforms to the bus: edge, active high */
	p[5] = MADT_NMI_LINT;
	p += 6;
	if (acpi_has_x2apic(c)) {
		p[0] = MADT_X2APIC_NMI;
		p[1] = 12;
		put16(p + 2, 0);
		put32(p + 4, MADT_X2_ALL_PROCESSORS);
		p[8] = MADT_NMI_LINT;
	}
	acpi_seal(t);
}

/* 5.2.10 FACS: nothing to say yet (no waking vector, no S4BIOS, no global lock owner). */
static void acpi_build_facs(u8 *t)
{
	memcpy(t, "FACS", 4);
	put32(t + FACS_LENGTH, FACS_SIZE);
	t[FACS_VERSION_OFF] = FACS_VERSION;
}

/*
 * 5.2.9 FADT. With the PM block: the fixed registers in both the 32-bit fields and the X_ generic
 * addresses (5.2.3.2; X_ bit widths are 8 times the 32-bit lengths, as ACPICA checks), SCI_INT,
 * SMI_CMD 0 (no SMM: always in ACPI mode), the FACS. Without it the platform is hardware-reduced
 * (4.1, flag HW_REDUCED_ACPI): no fixed registers, no FACS. The 32-bit DSDT and FIRMWARE_CTRL
 * hold the same addresses as their X_ fields (the tables lie below 4 GiB).
 */
static void acpi_build_fadt(const struct acpi_config *c, u8 *t, u64 facs, u64 dsdt)
{
	u32 flags = FADT_F_WBINVD | FADT_F_PROC_C1 | FADT_F_PWR_BUTTON | FADT_F_SLP_BUTTON;
	u16 iapc = IAPC_VGA_NOT_PRESENT;

	acpi_header(t, "FACP", FADT_SIZE, FADT_REVISION);
	put32(t + FADT_FIRMWARE_CTRL, (u32)facs);
	put64(t + FADT_X_FIRMWARE_CTRL, facs);
	put32(t + FADT_DSDT, (u32)dsdt);
	put64(t + FADT_X_DSDT, dsdt);
	t[FADT_PREFERRED_PM_PROFILE] = 0; /* unspecified */
	if (c->pm) {
		put16(t + FADT_SCI_INT, ACPI_SCI_IRQ);
		put32(t + FADT_SMI_CMD, 0);
		put32(t + FADT_PM1A_EVT_BLK, ACPI_PM1A_EVT_BLK);
		t[FADT_PM1_EVT_LEN] = ACPI_PM1_EVT_LEN;
		acpi_gas(t + FADT_X_PM1A_EVT_BLK, GAS_SYSTEM_IO, 8 * ACPI_PM1_EVT_LEN,
			 GAS_ACCESS_WORD, ACPI_PM1A_EVT_BLK);
		put32(t + FADT_PM1A_CNT_BLK, ACPI_PM1A_CNT_BLK);
		t[FADT_PM1_CNT_LEN] = ACPI_PM1_CNT_LEN;
		acpi_gas(t + FADT_X_PM1A_CNT_BLK, GAS_SYSTEM_IO, 8 * ACPI_PM1_CNT_LEN,
			 GAS_ACCESS_WORD, ACPI_PM1A_CNT_BLK);
		if (c->pm_timer) {
			put32(t + FADT_PM_TMR_BLK, ACPI_PM_TMR_BLK);
			t[FADT_PM_TMR_LEN] = ACPI_PM_TMR_LEN;
			acpi_gas(t + FADT_X_PM_TMR_BLK, GAS_SYSTEM_IO, 8 * ACPI_PM_TMR_LEN,
				 GAS_ACCESS_DWORD, ACPI_PM_TMR_BLK);
			if (c->pm_timer_32bit)
				flags |= FADT_F_TMR_VAL_EXT;
		}
	} else {
		flags |= FADT_F_HW_REDUCED_ACPI;
	}
	put16(t + FADT_P_LVL2_LAT, FADT_NO_C2);
	put16(t + FADT_P_LVL3_LAT, FADT_NO_C3);
	if (c->rtc)
		t[FADT_CENTURY] = ACPI_RTC_CENTURY;
	else
		iapc |= IAPC_CMOS_RTC_NOT_PRESENT;
	/* User-visible ISA devices: a serial port, a keyboard connector (Table 5-35). */
	if (c->com1 || c->i8042)
		iapc |= IAPC_LEGACY_DEVICES;
	if (c->i8042)
		iapc |= IAPC_8042;
	if (!c->msi)
		iapc |= IAPC_MSI_NOT_SUPPORTED;
	put16(t + FADT_IAPC_BOOT_ARCH, iapc);
	if (c->reset_reg) {
		acpi_gas(t + FADT_RESET_REG, GAS_SYSTEM_IO, 8, GAS_ACCESS_BYTE, ACPI_RESET_PORT);
		t[FADT_RESET_VALUE] = ACPI_RESET_VALUE;
		flags |= FADT_F_RESET_REG_SUP;
	}
	put32(t + FADT_FLAGS, flags);
	t[FADT_MINOR] = FADT_MINOR_VERSION;
	memcpy(t + FADT_HYPERVISOR_ID, ACPI_HYPERVISOR_ID, 8);
	acpi_seal(t);
}

/* HPET 1.0a 3.2.4: the Event Timer Block ID (GCAP_ID 31:0), the base as a generic address in
   system memory, HPET number 0, the minimum periodic tick, no page protection. */
static void acpi_build_hpet(const struct acpi_config *c, u8 *t)
{
	acpi_header(t, "HPET", HPET_TABLE_SIZE, HPET_TABLE_REVISION);
	put32(t + 36, c->hpet_block_id);
	acpi_gas(t + 40, GAS_SYSTEM_MEMORY, 64, 0, ACPI_HPET_ADDR);
	t[52] = 0;
	put16(t + 53, HPET_MIN_TICK);
	t[55] = 0;
	acpi_seal(t);
}

static void dsdt_crs(struct aml *a, struct aml_rt *rt)
{
	size_t n;
	const u8 *b = aml_rt_bytes(rt, &n);

	aml_name(a, "_CRS");
	aml_buffer(a, b, n);
}

/* A device with an EISA-ID _HID and its resources; `uid` < 0: no _UID. */
static void dsdt_pnp_device(struct aml *a, const char *name, const char *eisaid, int uid,
			    struct aml_rt *rt)
{
	aml_device_begin(a, name);
	aml_name(a, "_HID");
	aml_eisaid(a, eisaid);
	if (uid >= 0) {
		aml_name(a, "_UID");
		aml_integer(a, (u64)uid);
	}
	dsdt_crs(a, rt);
	aml_end(a);
}

/*
 * 5.2.11.1 DSDT: the \_SB scope with a device object per device (6.1 _HID/_UID, 6.2.2 _CRS), the
 * way QEMU's PC describes them: processors as ACPI0007 devices (8.4, _UID = ACPI Processor UID
 * of the MADT), the PCI root bridge with the windows it forwards, the ISA devices, the HPET,
 * fw_cfg (QEMU0002, docs/specs/fw_cfg.rst "ACPI Interface"), virtio-mmio devices as LNRO0005
 * (Linux's virtio_mmio driver matches that _HID, as on QEMU's microvm); and \_S5 (7.4.2).
 */
static long acpi_build_dsdt(const struct acpi_config *c, u8 *aml_buf, size_t cap)
{
	struct aml a;
	struct aml_rt rt;
	char name[16];

	aml_init(&a, aml_buf, cap);
	aml_scope_begin(&a, "_SB"); /* names relative to the root, as iasl writes them */
	for (unsigned i = 0; i < c->nr_cpus; i++) {
		snprintf(name, sizeof(name), "C%03X", i);
		aml_device_begin(&a, name);
		aml_name(&a, "_HID");
		aml_string(&a, "ACPI0007");
		aml_name(&a, "_UID");
		aml_integer(&a, i);
		aml_end(&a);
	}
	if (c->pci) {
		/* A root bridge's _CRS lists what it decodes (6.2.2, 6.4.3.5): the bus numbers and
		   the I/O and memory windows it produces, the configuration ports it consumes. */
		aml_rt_init(&rt);
		aml_rt_word_bus_number(&rt, 0, 0xff);
		aml_rt_io(&rt, 0xcf8, 1, 8);
		aml_rt_word_io(&rt, 0x0000, 0x0cf7);
		aml_rt_word_io(&rt, 0x0d00, 0xffff);
		aml_rt_dword_memory(&rt, c->pci_mmio_base, c->pci_mmio_end - 1);
		dsdt_pnp_device(&a, "PCI0", "PNP0A03", 0, &rt);
	}
	if (c->com1) {
		aml_rt_init(&rt);
		aml_rt_io(&rt, UART_COM1_BASE, 1, UART_NR_REGS);
		aml_rt_irq_noflags(&rt, UART_COM1_IRQ);
		dsdt_pnp_device(&a, "COM1", "PNP0501", 1, &rt);
	}
	if (c->rtc) {
		aml_rt_init(&rt);
		aml_rt_io(&rt, 0x70, 1, 2);
		aml_rt_irq_noflags(&rt, 8);
		dsdt_pnp_device(&a, "RTC", "PNP0B00", -1, &rt);
	}
	if (c->i8042) {
		aml_rt_init(&rt);
		aml_rt_io(&rt, 0x60, 1, 1);
		aml_rt_io(&rt, 0x64, 1, 1);
		aml_rt_irq_noflags(&rt, 1);
		dsdt_pnp_device(&a, "KBD", "PNP0303", -1, &rt);
		aml_rt_init(&rt);
		aml_rt_irq_noflags(&rt, 12);
		dsdt_pnp_device(&a, "MOU", "PNP0F13", -1, &rt);
	}
	if (c->pic) {
		aml_rt_init(&rt);
		aml_rt_io(&rt, 0x20, 1, 2);
		aml_rt_io(&rt, 0xa0, 1, 2);
		aml_rt_irq_noflags(&rt, 2); /* the cascade */
		dsdt_pnp_device(&a, "PIC", "PNP0000", -1, &rt);
	}
	if (c->pit) {
		aml_rt_init(&rt);
		aml_rt_io(&rt, 0x40, 1, 4);
		aml_rt_irq_noflags(&rt, 0);
		dsdt_pnp_device(&a, "TIMR", "PNP0100", -1, &rt);
	}
	if (c->hpet) {
		aml_rt_init(&rt);
		aml_rt_mem32_fixed(&rt, false, ACPI_HPET_ADDR, ACPI_HPET_SIZE);
		dsdt_pnp_device(&a, "HPET", "PNP0103", 0, &rt);
	}
	if (c->fw_cfg) {
		aml_device_begin(&a, "FWCF");
		aml_name(&a, "_HID");
		aml_string(&a, FW_CFG_ACPI_HID);
		/* 6.3.7 _STA: present, enabled, functioning, hidden from the UI (as QEMU). */
		aml_name(&a, "_STA");
		aml_integer(&a, 0x0b);
		aml_rt_init(&rt);
		aml_rt_io(&rt, FW_CFG_PORT_SEL, 1, FW_CFG_PORT_SPAN);
		dsdt_crs(&a, &rt);
		aml_end(&a);
	}
	for (unsigned i = 0; i < c->nr_virtio; i++) {
		snprintf(name, sizeof(name), "VR%02u", i);
		aml_device_begin(&a, name);
		aml_name(&a, "_HID");
		aml_string(&a, "LNRO0005");
		aml_name(&a, "_UID");
		aml_integer(&a, i);
		aml_rt_init(&rt);
		aml_rt_mem32_fixed(&rt, true, c->virtio[i].base, ACPI_VIRTIO_MMIO_SIZE);
		aml_rt_interrupt(&rt, true, false, c->virtio[i].gsi);
		dsdt_crs(&a, &rt);
		aml_end(&a);
	}
	aml_end(&a);
	if (c->pm) {
		/* 7.4.2: Package {SLP_TYPa, SLP_TYPb, reserved, reserved}; there is no PM1b. */
		aml_name(&a, "_S5");
		aml_package_begin(&a, 4);
		aml_integer(&a, ACPI_SLP_TYP_S5);
		aml_integer(&a, ACPI_SLP_TYP_S5);
		aml_integer(&a, 0);
		aml_integer(&a, 0);
		aml_end(&a);
	}
	return aml_finish(&a);
}

static int acpi_check_config(const struct acpi_config *c, u64 gpa)
{
	if (!c->nr_cpus || c->nr_cpus > ACPI_MAX_CPUS || c->nr_isos > ACPI_MAX_ISOS ||
	    c->nr_virtio > ACPI_MAX_VIRTIO_MMIO || gpa % 16)
		return -EINVAL;
	if (c->pm_timer && !c->pm)
		return -EINVAL;
	if (c->pci && c->pci_mmio_base >= c->pci_mmio_end)
		return -EINVAL;
	for (unsigned i = 0; i < c->nr_cpus; i++) {
		if (c->apic_ids[i] == MADT_X2_ALL_PROCESSORS) /* the x2APIC broadcast ID */
			return -EINVAL;
		for (unsigned j = 0; j < i; j++)
			if (c->apic_ids[i] == c->apic_ids[j])
				return -EINVAL;
	}
	for (unsigned i = 0; i < c->nr_virtio; i++)
		if (c->virtio[i].base > UINT32_MAX - ACPI_VIRTIO_MMIO_SIZE + 1)
			return -EINVAL;
	return 0;
}

int acpi_build_tables(const struct acpi_config *c, u64 gpa, u8 *buf, size_t cap,
		      struct acpi_tables *out)
{
	struct acpi_out o = { .buf = buf, .cap = cap, .gpa = gpa };
	unsigned nr_xsdt = 2 + c->hpet;
	size_t madt_len;
	u8 *rsdp, *facs = NULL, *xsdt, *fadt, *madt, *hpet = NULL, *dsdt;
	long aml_len;
	int err;

	*out = (struct acpi_tables){ 0 };
	err = acpi_check_config(c, gpa);
	if (err)
		return err;
	madt_len = acpi_madt_size(c);
	rsdp = acpi_alloc(&o, RSDP_SIZE, 16, &out->rsdp);
	if (c->pm)
		facs = acpi_alloc(&o, FACS_SIZE, FACS_ALIGN, &out->facs);
	xsdt = acpi_alloc(&o, ACPI_HEADER_SIZE + 8 * nr_xsdt, 8, &out->xsdt);
	fadt = acpi_alloc(&o, FADT_SIZE, 8, &out->fadt);
	madt = acpi_alloc(&o, madt_len, 8, &out->madt);
	if (c->hpet)
		hpet = acpi_alloc(&o, HPET_TABLE_SIZE, 8, &out->hpet);
	dsdt = acpi_alloc(&o, ACPI_HEADER_SIZE, 8, &out->dsdt);
	if (!rsdp || (c->pm && !facs) || !xsdt || !fadt || !madt || (c->hpet && !hpet) || !dsdt)
		return -ENOSPC;
	aml_len = acpi_build_dsdt(c, dsdt + ACPI_HEADER_SIZE, o.cap - o.len);
	if (aml_len < 0)
		return (int)aml_len;
	o.len += (size_t)aml_len;
	if (gpa + o.len > PC_MMIO_HOLE_END)
		return -EINVAL;
	acpi_header(dsdt, "DSDT", (u32)(ACPI_HEADER_SIZE + aml_len), DSDT_REVISION);
	acpi_seal(dsdt);

	if (facs)
		acpi_build_facs(facs);
	acpi_build_fadt(c, fadt, out->facs, out->dsdt);
	acpi_build_madt(c, madt, madt_len);
	if (hpet)
		acpi_build_hpet(c, hpet);

	/* 5.2.8 XSDT: 64-bit pointers to the tables other than the DSDT and FACS. */
	acpi_header(xsdt, "XSDT", ACPI_HEADER_SIZE + 8 * nr_xsdt, XSDT_REVISION);
	put64(xsdt + ACPI_HEADER_SIZE, out->fadt);
	put64(xsdt + ACPI_HEADER_SIZE + 8, out->madt);
	if (hpet)
		put64(xsdt + ACPI_HEADER_SIZE + 16, out->hpet);
	acpi_seal(xsdt);

	/* 5.2.5.3 RSDP: no RSDT (an ACPI 2.0+ OS uses the XSDT; QEMU's microvm does the same). */
	memcpy(rsdp, "RSD PTR ", 8);
	memcpy(rsdp + RSDP_OEMID, ACPI_OEM_ID, 6);
	rsdp[RSDP_REV] = RSDP_REVISION;
	put32(rsdp + RSDP_LENGTH, RSDP_SIZE);
	put64(rsdp + RSDP_XSDT, out->xsdt);
	rsdp[RSDP_CHECKSUM] = acpi_checksum(rsdp, RSDP_V1_SIZE);
	rsdp[RSDP_EXT_CHECKSUM] = acpi_checksum(rsdp, RSDP_SIZE);

	out->size = o.len;
	return 0;
}

void acpi_config_pc(struct acpi_config *c, unsigned nr_cpus)
{
	*c = (struct acpi_config){
		.nr_cpus = nr_cpus,
		.ioapic = { .id = 0, .addr = 0xfec00000, .gsi_base = 0 },
		.isos = {
			{ .irq = 0, .gsi = 2, .flags = 0 },
			{ .irq = ACPI_SCI_IRQ, .gsi = ACPI_SCI_IRQ,
			  .flags = ACPI_MPS_LEVEL | ACPI_MPS_ACTIVE_HIGH },
		},
		.nr_isos = 2,
		.pic = true,
		.pit = true,
		.rtc = true,
		.i8042 = true,
		.com1 = true,
		.fw_cfg = true,
		.hpet = true,
		.hpet_block_id = 0x8086a201,
		.pm = true,
		.pm_timer = true,
		.reset_reg = true,
		.pci = true,
		.pci_mmio_base = PC_PCI_MMIO_BASE,
		.pci_mmio_end = PC_PCI_MMIO_END,
	};
	for (unsigned i = 0; i < nr_cpus && i < ACPI_MAX_CPUS; i++)
		c->apic_ids[i] = i;
}
