// SPDX-License-Identifier: MIT
/*
 * The ACPI tables (firmware/acpi.c) and the AML writer (firmware/aml.c), parsed back as an OS
 * would (ACPI 6.3: 5.2.5 RSDP, 5.2.6 headers and checksums, 5.2.8 XSDT, 5.2.9 FADT, 5.2.10 FACS,
 * 5.2.12 MADT, ch. 20 AML), then, when acpica-tools is installed, handed to ACPICA itself: every
 * table is disassembled with `iasl -d`, recompiled with `iasl`, and the result compared byte for
 * byte with ours; `acpiexec -l` loads them all as an OS's ACPICA would. Any error or warning
 * fails; iasl's remarks are printed. The files go to acpi-tables/ beside this program (the build
 * folder).
 */
#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "check.h"
#include "firmware/acpi.h"
#include "firmware/aml.h"

#define BASE 0xe0000ull

static u8 buf[ACPI_TABLES_SIZE];
static struct acpi_tables out;
static struct acpi_config cfg;

static u16 get16(const u8 *p)
{
	return (u16)(p[0] | p[1] << 8);
}

static u32 get32(const u8 *p)
{
	return get16(p) | (u32)get16(p + 2) << 16;
}

static u64 get64(const u8 *p)
{
	return get32(p) | (u64)get32(p + 4) << 32;
}

static u8 sum(const u8 *p, size_t n)
{
	u8 s = 0;

	while (n--)
		s += *p++;
	return s;
}

/* The table at a guest address, checked to lie inside what was built. */
static const u8 *at(u64 gpa, size_t len)
{
	CHECK(gpa >= BASE && gpa - BASE + len <= out.size);
	if (gpa < BASE || gpa - BASE + len > out.size)
		return buf; /* keeps the caller in bounds; the failure is counted */
	return buf + (gpa - BASE);
}

/* 5.2.6: signature, a length inside the build and a checksum that sums to zero. */
static const u8 *table(u64 gpa, const char *sig, u8 revision)
{
	const u8 *t = at(gpa, 36);
	u32 len = get32(t + 4);

	CHECK(!memcmp(t, sig, 4));
	CHECK_EQ(t[8], revision);
	t = at(gpa, len);
	CHECK_EQ(sum(t, len), 0);
	return t;
}

static int build(void)
{
	return acpi_build_tables(&cfg, BASE, buf, sizeof(buf), &out);
}

static size_t count(const u8 *p, size_t n, const void *pat, size_t m)
{
	size_t c = 0;

	for (size_t i = 0; i + m <= n; i++)
		c += !memcmp(p + i, pat, m);
	return c;
}

static const u8 *find(const u8 *p, size_t n, const void *pat, size_t m)
{
	for (size_t i = 0; i + m <= n; i++)
		if (!memcmp(p + i, pat, m))
			return p + i;
	return NULL;
}

/* ---- AML writer ---- */

static u8 amlbuf[8192];

/* 20.2.4 PkgLength: the decoded length and how many bytes encode it. */
static u32 pkglength(const u8 *p, unsigned *nbytes)
{
	unsigned n = (p[0] >> 6) + 1;
	u32 len = n == 1 ? p[0] & 0x3f : p[0] & 0xf;

	for (unsigned i = 1; i < n; i++)
		len |= (u32)p[i] << (4 + 8 * (i - 1));
	*nbytes = n;
	return len;
}

static void test_aml_integers(void)
{
	static const struct {
		u64 v;
		u8 bytes[9];
		unsigned n;
	} cases[] = {
		{ 0, { 0x00 }, 1 },
		{ 1, { 0x01 }, 1 },
		{ 2, { 0x0a, 0x02 }, 2 },
		{ 0xff, { 0x0a, 0xff }, 2 },
		{ 0x100, { 0x0b, 0x00, 0x01 }, 3 },
		{ 0x10000, { 0x0c, 0x00, 0x00, 0x01, 0x00 }, 5 },
		{ 0x100000000ull, { 0x0e, 0, 0, 0, 0, 1, 0, 0, 0 }, 9 },
		{ ~0ull, { 0x0e, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff }, 9 },
	};
	struct aml a;

	for (unsigned i = 0; i < ARRAY_SIZE(cases); i++) {
		aml_init(&a, amlbuf, sizeof(amlbuf));
		aml_integer(&a, cases[i].v);
		CHECK_EQ(aml_finish(&a), cases[i].n);
		CHECK(!memcmp(amlbuf, cases[i].bytes, cases[i].n));
	}
	/* 6.1.5: EISAID("PNP0A03") is 0x030ad041, as iasl encodes it */
	aml_init(&a, amlbuf, sizeof(amlbuf));
	aml_eisaid(&a, "PNP0A03");
	CHECK_EQ(aml_finish(&a), 5);
	CHECK(!memcmp(amlbuf, "\x0c\x41\xd0\x0a\x03", 5));
	aml_init(&a, amlbuf, sizeof(amlbuf));
	aml_eisaid(&a, "pnp0a03");
	CHECK_EQ(aml_finish(&a), -EINVAL);
	aml_init(&a, amlbuf, sizeof(amlbuf));
	aml_eisaid(&a, "PNP0A0");
	CHECK_EQ(aml_finish(&a), -EINVAL);
	/* 20.2.3 String */
	aml_init(&a, amlbuf, sizeof(amlbuf));
	aml_string(&a, "LNRO0005");
	CHECK_EQ(aml_finish(&a), 10);
	CHECK(!memcmp(amlbuf, "\x0dLNRO0005\0", 10));
}

/* 20.2.2 NameString: padded segments, root prefix, dual and multi name paths. */
static void test_aml_names(void)
{
	static const struct {
		const char *name;
		const char *bytes;
		unsigned n;
	} good[] = {
		{ "_HID", "\x08_HID", 5 },
		{ "_S5", "\x08_S5_", 5 },
		{ "\\_S5", "\x08\\_S5_", 6 },
		{ "\\_SB.PCI0", "\x08\\\x2e_SB_PCI0", 11 },
		{ "A.B.C", "\x08\x2f\x03" "A___B___C___", 15 },
	};
	static const char *const bad[] = { "_hid", "TOOLONG", "1ABC", "A..B", "", "\\" };
	struct aml a;

	for (unsigned i = 0; i < ARRAY_SIZE(good); i++) {
		aml_init(&a, amlbuf, sizeof(amlbuf));
		aml_name(&a, good[i].name);
		CHECK_EQ(aml_finish(&a), good[i].n);
		CHECK(!memcmp(amlbuf, good[i].bytes, good[i].n));
	}
	for (unsigned i = 0; i < ARRAY_SIZE(bad); i++) {
		aml_init(&a, amlbuf, sizeof(amlbuf));
		aml_name(&a, bad[i]);
		CHECK_EQ(aml_finish(&a), -EINVAL);
	}
}

/* A Package of `n` Zero elements: PackageOp, PkgLength, NumElements, the elements. The
   PkgLength counts itself (20.2.4), so a body of 62 bytes still fits one byte and 63 needs two. */
static void check_package_pkglength(unsigned n_zeros, unsigned want_bytes)
{
	struct aml a;
	unsigned nbytes;
	u32 len;

	aml_init(&a, amlbuf, sizeof(amlbuf));
	aml_package_begin(&a, 0);
	for (unsigned i = 0; i < n_zeros; i++)
		aml_integer(&a, 0);
	aml_end(&a);
	CHECK_EQ(aml_finish(&a), 1 + want_bytes + 1 + n_zeros);
	len = pkglength(amlbuf + 1, &nbytes);
	CHECK_EQ(nbytes, want_bytes);
	CHECK_EQ(len, want_bytes + 1 + n_zeros);
	CHECK_EQ(amlbuf[1 + nbytes], 0); /* NumElements follows the PkgLength */
}

static void test_aml_pkglength(void)
{
	struct aml a;

	check_package_pkglength(0, 1);
	check_package_pkglength(61, 1); /* 1 + 1 + 61 = 63 */
	check_package_pkglength(62, 2); /* 64 does not fit 6 bits */
	check_package_pkglength(4092, 2); /* 2 + 1 + 4092 = 4095 */
	check_package_pkglength(4093, 3);
	/* nesting: the inner construct's widening is inside the outer length */
	aml_init(&a, amlbuf, sizeof(amlbuf));
	aml_scope_begin(&a, "_SB");
	aml_device_begin(&a, "DEV0");
	for (unsigned i = 0; i < 100; i++)
		aml_integer(&a, 0);
	aml_end(&a);
	aml_end(&a);
	CHECK_EQ(aml_finish(&a), 1 + 2 + 4 + 2 + 2 + 4 + 100);
	{
		unsigned n;

		CHECK_EQ(pkglength(amlbuf + 1, &n), 2 + 4 + 2 + 2 + 4 + 100);
		CHECK_EQ(n, 2);
		CHECK(!memcmp(amlbuf + 3, "_SB_\x5b\x82", 6));
		CHECK_EQ(pkglength(amlbuf + 9, &n), 2 + 4 + 100);
	}
	/* errors: unbalanced, unclosed, too deep, a full buffer */
	aml_init(&a, amlbuf, sizeof(amlbuf));
	aml_end(&a);
	CHECK_EQ(aml_finish(&a), -EINVAL);
	aml_init(&a, amlbuf, sizeof(amlbuf));
	aml_scope_begin(&a, "_SB");
	CHECK_EQ(aml_finish(&a), -EINVAL);
	aml_init(&a, amlbuf, sizeof(amlbuf));
	for (unsigned i = 0; i <= AML_MAX_DEPTH; i++)
		aml_package_begin(&a, 1);
	CHECK_EQ(aml_finish(&a), -EINVAL);
	for (size_t cap = 0; cap < 8; cap++) { /* the scope needs 8 bytes */
		aml_init(&a, amlbuf, cap);
		aml_scope_begin(&a, "_SB");
		aml_integer(&a, 0x10);
		aml_end(&a);
		CHECK_EQ(aml_finish(&a), -ENOSPC);
	}
}

/* 6.4 resource descriptors as iasl encodes them. */
static void test_aml_resources(void)
{
	struct aml_rt rt;
	const u8 *b;
	size_t n;

	aml_rt_init(&rt);
	aml_rt_io(&rt, 0x3f8, 1, 8);
	aml_rt_irq_noflags(&rt, 4);
	b = aml_rt_bytes(&rt, &n);
	CHECK_EQ(n, 8 + 3 + 2);
	CHECK(b && !memcmp(b, "\x47\x01\xf8\x03\xf8\x03\x01\x08\x22\x10\x00\x79\x00", 13));
	aml_rt_init(&rt);
	aml_rt_interrupt(&rt, true, false, 16);
	aml_rt_mem32_fixed(&rt, true, 0xfeb00000, 0x200);
	b = aml_rt_bytes(&rt, &n);
	CHECK_EQ(n, 9 + 12 + 2);
	CHECK(b && !memcmp(b, "\x89\x06\x00\x01\x01\x10\x00\x00\x00", 9));
	CHECK(b && !memcmp(b + 9, "\x86\x09\x00\x01\x00\x00\xb0\xfe\x00\x02\x00\x00", 12));
	aml_rt_init(&rt);
	aml_rt_irq_noflags(&rt, 16); /* not an ISA IRQ */
	CHECK(!aml_rt_bytes(&rt, &n));
	aml_rt_init(&rt);
	for (unsigned i = 0; i < 20; i++)
		aml_rt_dword_memory(&rt, 0, 0xfff);
	CHECK(!aml_rt_bytes(&rt, &n));
}

/* ---- the tables ---- */

/* 5.2.5.3 RSDP and 5.2.8 XSDT; returns the XSDT's entries. */
static unsigned check_rsdp_xsdt(u64 *entries, unsigned max)
{
	const u8 *r = at(out.rsdp, 36), *x;
	unsigned n;

	CHECK_EQ(out.rsdp, BASE);
	CHECK(!memcmp(r, "RSD PTR ", 8));
	CHECK_EQ(sum(r, 20), 0);
	CHECK_EQ(sum(r, 36), 0);
	CHECK_EQ(r[15], 2);
	CHECK_EQ(get32(r + 16), 0); /* no RSDT */
	CHECK_EQ(get32(r + 20), 36);
	CHECK_EQ(get64(r + 24), out.xsdt);
	x = table(out.xsdt, "XSDT", 1);
	n = (get32(x + 4) - 36) / 8;
	CHECK_EQ(get32(x + 4), 36 + 8 * n);
	for (unsigned i = 0; i < n && i < max; i++)
		entries[i] = get64(x + 36 + 8 * i);
	return n;
}

/* 5.2.12: walk the MADT's structures; every one's length is right and they end exactly at the
   table's end. Returns the processors it lists. */
static unsigned check_madt(bool x2apic_nmi_expected)
{
	const u8 *m = table(out.madt, "APIC", 5);
	u32 len = get32(m + 4);
	unsigned cpus = 0, ioapics = 0, isos = 0, nmis = 0, x2nmis = 0;
	u32 off = 44;

	CHECK_EQ(get32(m + 36), ACPI_LAPIC_ADDR);
	CHECK_EQ(get32(m + 40), cfg.pic ? 1 : 0);
	while (off + 2 <= len) {
		const u8 *e = m + off;

		switch (e[0]) {
		case 0:
			CHECK_EQ(e[1], 8);
			CHECK_EQ(e[2], cpus); /* UID = vCPU index */
			CHECK_EQ(e[3], cfg.apic_ids[cpus]);
			CHECK_EQ(get32(e + 4), 1);
			cpus++;
			break;
		case 9:
			CHECK_EQ(e[1], 16);
			CHECK_EQ(get32(e + 4), cfg.apic_ids[cpus]);
			CHECK(cfg.apic_ids[cpus] >= 255);
			CHECK_EQ(get32(e + 8), 1);
			CHECK_EQ(get32(e + 12), cpus);
			cpus++;
			break;
		case 1:
			CHECK_EQ(e[1], 12);
			CHECK_EQ(e[2], cfg.ioapic.id);
			CHECK_EQ(get32(e + 4), cfg.ioapic.addr);
			CHECK_EQ(get32(e + 8), cfg.ioapic.gsi_base);
			ioapics++;
			break;
		case 2:
			CHECK_EQ(e[1], 10);
			CHECK_EQ(e[2], 0);
			CHECK_EQ(e[3], cfg.isos[isos].irq);
			CHECK_EQ(get32(e + 4), cfg.isos[isos].gsi);
			CHECK_EQ(get16(e + 8), cfg.isos[isos].flags);
			isos++;
			break;
		case 4:
			CHECK_EQ(e[1], 6);
			CHECK_EQ(e[2], 0xff);
			CHECK_EQ(e[5], 1); /* LINT1 */
			nmis++;
			break;
		case 10:
			CHECK_EQ(e[1], 12);
			CHECK_EQ(get32(e + 4), 0xffffffff);
			CHECK_EQ(e[8], 1);
			x2nmis++;
			break;
		default:
			CHECK(!"unexpected MADT structure");
		}
		if (e[1] < 2)
			break;
		off += e[1];
	}
	CHECK_EQ(off, len);
	CHECK_EQ(ioapics, 1);
	CHECK_EQ(isos, cfg.nr_isos);
	CHECK_EQ(nmis, 1);
	CHECK_EQ(x2nmis, x2apic_nmi_expected);
	return cpus;
}

static void check_gas(const u8 *g, u8 space, u8 width, u64 addr)
{
	CHECK_EQ(g[0], space);
	CHECK_EQ(g[1], width);
	CHECK_EQ(g[2], 0);
	CHECK_EQ(get64(g + 4), addr);
}

static void test_pc(void)
{
	static const u8 s5[] = { '_', 'S', '5', '_', 0x12, 0x08, 0x04, 0x0a, ACPI_SLP_TYP_S5,
				 0x0a, ACPI_SLP_TYP_S5, 0x00, 0x00 };
	u64 xsdt[8];
	const u8 *f, *facs, *d, *h;
	u32 dlen;

	acpi_config_pc(&cfg, 4);
	cfg.virtio[0] = (struct acpi_virtio_mmio){ .base = 0xfeb00000, .gsi = 16 };
	cfg.virtio[1] = (struct acpi_virtio_mmio){ .base = 0xfeb00200, .gsi = 17 };
	cfg.nr_virtio = 2;
	CHECK_EQ(build(), 0);
	CHECK(out.size > 0 && out.size < 4096);

	CHECK_EQ(check_rsdp_xsdt(xsdt, 8), 3);
	CHECK_EQ(xsdt[0], out.fadt);
	CHECK_EQ(xsdt[1], out.madt);
	CHECK_EQ(xsdt[2], out.hpet);

	/* 5.2.9 FADT, revision 6.3 */
	f = table(out.fadt, "FACP", 6);
	CHECK_EQ(get32(f + 4), 276);
	CHECK_EQ(f[131], 3);
	CHECK_EQ(get32(f + 36), out.facs);
	CHECK_EQ(get64(f + 132), out.facs);
	CHECK_EQ(get32(f + 40), out.dsdt);
	CHECK_EQ(get64(f + 140), out.dsdt);
	CHECK_EQ(get16(f + 46), 9);  /* SCI_INT */
	CHECK_EQ(get32(f + 48), 0);  /* SMI_CMD: always in ACPI mode */
	CHECK_EQ(get32(f + 56), 0x600);
	CHECK_EQ(get32(f + 64), 0x604);
	CHECK_EQ(get32(f + 76), 0x608);
	CHECK_EQ(f[88], 4);
	CHECK_EQ(f[89], 2);
	CHECK_EQ(f[91], 4);
	check_gas(f + 148, 1, 32, 0x600);
	check_gas(f + 172, 1, 16, 0x604);
	check_gas(f + 208, 1, 32, 0x608);
	CHECK_EQ(f[108], 0x32); /* CENTURY */
	/* IAPC_BOOT_ARCH: legacy devices, 8042, no VGA, no MSI; the RTC is there */
	CHECK_EQ(get16(f + 109), 0x0f);
	CHECK(get32(f + 112) & BIT(10));   /* RESET_REG_SUP */
	CHECK(!(get32(f + 112) & BIT(20))); /* not hardware-reduced */
	CHECK(!(get32(f + 112) & BIT(8)));  /* 24-bit PM timer */
	check_gas(f + 116, 1, 8, ACPI_RESET_PORT);
	CHECK_EQ(f[128], ACPI_RESET_VALUE);

	/* 5.2.10 FACS: 64 bytes, 64-byte aligned */
	facs = at(out.facs, 64);
	CHECK(!memcmp(facs, "FACS", 4));
	CHECK_EQ(get32(facs + 4), 64);
	CHECK_EQ(out.facs % 64, 0);
	CHECK_EQ(facs[32], 2);

	/* 5.2.12: one processor structure per vCPU */
	CHECK_EQ(check_madt(false), cfg.nr_cpus);

	/* HPET 1.0a 3.2.4 */
	h = table(out.hpet, "HPET", 1);
	CHECK_EQ(get32(h + 4), 56);
	CHECK_EQ(get32(h + 36), 0x8086a201);
	check_gas(h + 40, 0, 64, ACPI_HPET_ADDR);

	/* the DSDT: devices by _HID, \_S5 with the PM block's SLP_TYP */
	d = table(out.dsdt, "DSDT", 2);
	dlen = get32(d + 4);
	CHECK_EQ(count(d, dlen, "ACPI0007", 8), 4);
	CHECK_EQ(count(d, dlen, "LNRO0005", 8), 2);
	CHECK_EQ(count(d, dlen, "QEMU0002", 8), 1);
	CHECK_EQ(count(d, dlen, "\x0c\x41\xd0\x0a\x03", 5), 1); /* PNP0A03 */
	CHECK_EQ(count(d, dlen, "\x0c\x41\xd0\x05\x01", 5), 1); /* PNP0501 */
	CHECK_EQ(count(d, dlen, "\x0c\x41\xd0\x01\x03", 5), 1); /* PNP0103 */
	CHECK(find(d, dlen, s5, sizeof(s5)) != NULL);
	/* virtio-mmio 1: Memory32Fixed(ReadWrite, 0xfeb00200, 0x200), Interrupt(Level, High) {17} */
	CHECK(find(d, dlen, "\x86\x09\x00\x01\x00\x02\xb0\xfe\x00\x02\x00\x00", 12) != NULL);
	CHECK(find(d, dlen, "\x89\x06\x00\x01\x01\x11\x00\x00\x00", 9) != NULL);

	/* everything up to out.size is ours and the tables do not overlap */
	CHECK(out.rsdp < out.facs && out.facs < out.xsdt && out.xsdt < out.fadt &&
	      out.fadt < out.madt && out.madt < out.hpet && out.hpet < out.dsdt);
	CHECK_EQ(out.dsdt + dlen, BASE + out.size);
}

/* Without the PM block: hardware-reduced (4.1), no FACS, no fixed registers, no \_S5. */
static void test_hw_reduced(void)
{
	u64 xsdt[8];
	const u8 *f, *d;
	u32 dlen;

	cfg = (struct acpi_config){ .nr_cpus = 1, .ioapic = { .addr = 0xfec00000 }, .com1 = true };
	CHECK_EQ(build(), 0);
	CHECK_EQ(check_rsdp_xsdt(xsdt, 8), 2);
	CHECK_EQ(out.facs, 0);
	CHECK_EQ(out.hpet, 0);
	f = table(out.fadt, "FACP", 6);
	CHECK(get32(f + 112) & BIT(20));
	CHECK(!(get32(f + 112) & BIT(10)));
	CHECK_EQ(get32(f + 36), 0);
	CHECK_EQ(get64(f + 132), 0);
	CHECK_EQ(get16(f + 46), 0);
	CHECK_EQ(get32(f + 56), 0);
	CHECK_EQ(get64(f + 148 + 4), 0);
	CHECK_EQ(f[108], 0); /* no century byte */
	/* legacy devices (COM1), no 8042, no VGA, no MSI, no CMOS RTC */
	CHECK_EQ(get16(f + 109), 0x2d);
	CHECK_EQ(check_madt(false), 1);
	d = table(out.dsdt, "DSDT", 2);
	dlen = get32(d + 4);
	CHECK(!find(d, dlen, "_S5_", 4));
	CHECK(!find(d, dlen, "PCI0", 4));
	CHECK(find(d, dlen, "COM1", 4) != NULL);
}

/* 5.2.12.12: APIC IDs of 255 and up get x2APIC structures (and the x2APIC NMI structure). The
   largest configuration fits the area the board reserves (ACPI_TABLES_SIZE, the size of buf). */
static void test_x2apic(void)
{
	const u8 *d;

	acpi_config_pc(&cfg, ACPI_MAX_CPUS);
	for (unsigned i = 0; i < ACPI_MAX_CPUS; i++)
		cfg.apic_ids[i] = 2 * i; /* 0..508 */
	for (unsigned i = 0; i < ACPI_MAX_VIRTIO_MMIO; i++)
		cfg.virtio[i] = (struct acpi_virtio_mmio){ .base = 0xfeb00000 + 0x200 * i,
							   .gsi = 16 + i % 8 };
	cfg.nr_virtio = ACPI_MAX_VIRTIO_MMIO;
	for (unsigned i = cfg.nr_isos; i < ACPI_MAX_ISOS; i++)
		cfg.isos[i] = (struct acpi_iso){ .irq = 5, .gsi = 5 + i,
						 .flags = ACPI_MPS_LEVEL | ACPI_MPS_ACTIVE_LOW };
	cfg.nr_isos = ACPI_MAX_ISOS;
	CHECK_EQ(build(), 0);
	CHECK_EQ(check_madt(true), ACPI_MAX_CPUS);
	d = table(out.dsdt, "DSDT", 2);
	CHECK_EQ(count(d, get32(d + 4), "ACPI0007", 8), ACPI_MAX_CPUS);
	CHECK_EQ(count(d, get32(d + 4), "LNRO0005", 8), ACPI_MAX_VIRTIO_MMIO);
	CHECK(find(d, get32(d + 4), "C0FE", 4) != NULL);
	CHECK(find(d, get32(d + 4), "VR31", 4) != NULL);
}

static void test_refusals(void)
{
	acpi_config_pc(&cfg, 0);
	CHECK_EQ(build(), -EINVAL);
	acpi_config_pc(&cfg, ACPI_MAX_CPUS + 1);
	CHECK_EQ(build(), -EINVAL);
	acpi_config_pc(&cfg, 2);
	cfg.apic_ids[1] = 0; /* duplicate */
	CHECK_EQ(build(), -EINVAL);
	cfg.apic_ids[1] = 0xffffffff; /* the x2APIC broadcast */
	CHECK_EQ(build(), -EINVAL);
	acpi_config_pc(&cfg, 2);
	CHECK_EQ(acpi_build_tables(&cfg, BASE + 8, buf, sizeof(buf), &out), -EINVAL);
	CHECK_EQ(acpi_build_tables(&cfg, 0xfffffc00, buf, sizeof(buf), &out), -EINVAL); /* 4 GiB */
	CHECK_EQ(acpi_build_tables(&cfg, 1ull << 32, buf, sizeof(buf), &out), -EINVAL);
	cfg.pm = false; /* a PM timer without the PM block */
	CHECK_EQ(build(), -EINVAL);
	acpi_config_pc(&cfg, 2);
	cfg.nr_isos = ACPI_MAX_ISOS + 1;
	CHECK_EQ(build(), -EINVAL);
	acpi_config_pc(&cfg, 2);
	cfg.nr_virtio = ACPI_MAX_VIRTIO_MMIO + 1;
	CHECK_EQ(build(), -EINVAL);
	acpi_config_pc(&cfg, 2);
	cfg.pci_mmio_end = cfg.pci_mmio_base;
	CHECK_EQ(build(), -EINVAL);
	acpi_config_pc(&cfg, 2);
	cfg.virtio[0].base = 0xffffff00; /* the 0x200 registers pass 4 GiB */
	cfg.nr_virtio = 1;
	CHECK_EQ(build(), -EINVAL);
}

/* Every buffer too small by any amount is refused, and nothing is written past it (an exact heap
   buffer per size, so the sanitizer build sees any overrun). */
static void test_small_buffers(void)
{
	size_t need;

	acpi_config_pc(&cfg, 8);
	cfg.virtio[0] = (struct acpi_virtio_mmio){ .base = 0xfeb00000, .gsi = 16 };
	cfg.nr_virtio = 1;
	CHECK_EQ(build(), 0);
	need = out.size;
	for (size_t cap = 0; cap < need; cap++) {
		u8 *small = malloc(cap ? cap : 1);
		struct acpi_tables t;

		CHECK_EQ(acpi_build_tables(&cfg, BASE, small, cap, &t), -ENOSPC);
		free(small);
	}
	{
		u8 *exact = malloc(need);
		struct acpi_tables t;

		CHECK_EQ(acpi_build_tables(&cfg, BASE, exact, need, &t), 0);
		CHECK(!memcmp(exact, buf, need));
		free(exact);
	}
}

/* Another base moves every pointer by the same amount and nothing else. */
static void test_relocation(void)
{
	static u8 other[ACPI_TABLES_SIZE];
	struct acpi_tables t;
	const u64 delta = 0x7ff0000 - BASE;

	acpi_config_pc(&cfg, 2);
	CHECK_EQ(build(), 0);
	CHECK_EQ(acpi_build_tables(&cfg, BASE + delta, other, sizeof(other), &t), 0);
	CHECK_EQ(t.size, out.size);
	CHECK_EQ(t.rsdp, out.rsdp + delta);
	CHECK_EQ(t.dsdt, out.dsdt + delta);
	CHECK_EQ(get64(other + 24), out.xsdt + delta);
	CHECK(!memcmp(other + (out.dsdt - BASE), buf + (out.dsdt - BASE), out.size - (out.dsdt - BASE)));
}

/* ---- ACPICA ---- */

static char tool_out[1 << 20];

/* Run a shell command, its output (stdout and stderr) in tool_out; the exit status. Output
   beyond tool_out is read and dropped (the tool must not die of SIGPIPE) and fails the check. */
static int run(const char *cmd)
{
	FILE *p = popen(cmd, "r");
	size_t n = 0, r;
	char drop[4096];

	tool_out[0] = 0;
	if (!p)
		return -1;
	while ((r = fread(tool_out + n, 1, sizeof(tool_out) - 1 - n, p)) > 0)
		n += r;
	tool_out[n] = 0;
	CHECK(n < sizeof(tool_out) - 1);
	while (fread(drop, 1, sizeof(drop), p) > 0)
		;
	return pclose(p);
}

/* Lines of tool_out that report a problem; printed with the tool's name. */
static unsigned problems(const char *what, const char *const *words, unsigned nr_words)
{
	unsigned n = 0;
	char *save, *line;
	static char copy[sizeof(tool_out)];

	strcpy(copy, tool_out);
	for (line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
		for (unsigned i = 0; i < nr_words; i++)
			if (strstr(line, words[i])) {
				fprintf(stderr, "%s: %s\n", what, line);
				n++;
				break;
			}
	return n;
}

static const char *const bad_words[] = { "Error", "Warning", "Invalid", "Incorrect", "****",
					 "error", "warning" };

static bool write_file(const char *path, const void *p, size_t n)
{
	FILE *f = fopen(path, "wb");
	bool ok = f && fwrite(p, 1, n, f) == n;

	if (f)
		ok = !fclose(f) && ok;
	return ok;
}

static bool read_file(const char *path, u8 *p, size_t cap, size_t *n)
{
	FILE *f = fopen(path, "rb");

	if (!f)
		return false;
	*n = fread(p, 1, cap, f);
	fclose(f);
	return true;
}

/* One table through iasl: disassemble, look for complaints in the output and the .dsl,
   recompile, compare with ours (bar the checksum and the compiler's ID and revision, which iasl
   writes as its own: 5.2.6 offsets 9 and 28-35; the FACS has no header). */
static void iasl_one(const char *dir, const char *name, const u8 *t, size_t len)
{
	char cmd[1024], path[512];
	static u8 again[ACPI_TABLES_SIZE];
	size_t n = 0;
	int status;

	snprintf(path, sizeof(path), "%s/%s.dat", dir, name);
	CHECK(write_file(path, t, len));
	snprintf(cmd, sizeof(cmd), "cd '%s' && iasl -d %s.dat 2>&1", dir, name);
	status = run(cmd);
	CHECK_EQ(status, 0);
	CHECK_EQ(problems("iasl -d", bad_words, ARRAY_SIZE(bad_words)), 0);
	snprintf(path, sizeof(path), "%s/%s.dsl", dir, name);
	CHECK(read_file(path, (u8 *)tool_out, sizeof(tool_out) - 1, &n));
	CHECK(n < sizeof(tool_out) - 1);
	tool_out[n] = 0;
	CHECK_EQ(problems("disassembly", bad_words, ARRAY_SIZE(bad_words)), 0);
	snprintf(cmd, sizeof(cmd), "cd '%s' && iasl -p %s-again %s.dsl 2>&1", dir, name, name);
	status = run(cmd);
	CHECK_EQ(status, 0);
	CHECK(strstr(tool_out, " 0 Errors, 0 Warnings,") != NULL);
	{
		const char *remarks = strstr(tool_out, "Warnings, ");

		if (remarks && strncmp(remarks, "Warnings, 0 Remarks", 19))
			fprintf(stderr, "iasl remark on %s/%s: %s", dir, name, tool_out);
	}
	snprintf(path, sizeof(path), "%s/%s-again.aml", dir, name);
	CHECK(read_file(path, again, sizeof(again), &n));
	CHECK_EQ(n, len);
	if (n == len) {
		bool header = strcmp(name, "facs") != 0;

		for (size_t i = 0; i < len; i++) {
			if (header && (i == 9 || (i >= 28 && i < 36)))
				continue;
			if (again[i] != t[i]) {
				fprintf(stderr, "FAIL %s/%s: byte %zu is %#x, iasl rebuilt %#x\n", dir,
					name, i, t[i], again[i]);
				CHECK_EQ(again[i], t[i]);
				break;
			}
		}
	}
}

/* The configuration's tables through iasl, then all of them through acpiexec (ACPICA's table
   manager: FADT consistency, the namespace load). */
static void iasl_config(const char *root, const char *config)
{
	static const char *const acpiexec_bad[] = { "Error", "Warning", "error", "warning" };
	char dir[512], cmd[1400];
	const u8 *t;

	snprintf(dir, sizeof(dir), "%s/%s", root, config);
	mkdir(dir, 0755);
#define TABLE(gpa, name)                                                                         \
	do {                                                                                     \
		if (gpa) {                                                                       \
			t = at(gpa, 8);                                                           \
			iasl_one(dir, name, t, !strcmp(name, "facs") ? 64 : get32(t + 4));        \
		}                                                                                \
	} while (0)
	TABLE(out.xsdt, "xsdt");
	TABLE(out.fadt, "facp");
	TABLE(out.facs, "facs");
	TABLE(out.madt, "apic");
	TABLE(out.hpet, "hpet");
	TABLE(out.dsdt, "dsdt");
#undef TABLE
	snprintf(cmd, sizeof(cmd), "cd '%s' && acpiexec -l dsdt.dat facp.dat apic.dat%s%s 2>&1",
		 dir, out.hpet ? " hpet.dat" : "", out.facs ? " facs.dat" : "");
	CHECK_EQ(run(cmd), 0);
	CHECK(strstr(tool_out, "successfully acquired and loaded") != NULL);
	CHECK_EQ(problems("acpiexec", acpiexec_bad, ARRAY_SIZE(acpiexec_bad)), 0);
}

static void test_acpica(const char *argv0)
{
	char self[512], root[600];

	if (system("command -v iasl >/dev/null 2>&1 && command -v acpiexec >/dev/null 2>&1")) {
		printf("test_acpi: skipped the ACPICA checks: iasl or acpiexec not found "
		       "(apt-get install acpica-tools)\n");
		return;
	}
	snprintf(self, sizeof(self), "%s", argv0);
	snprintf(root, sizeof(root), "%s/acpi-tables", dirname(self));
	mkdir(root, 0755);

	acpi_config_pc(&cfg, 4);
	cfg.virtio[0] = (struct acpi_virtio_mmio){ .base = 0xfeb00000, .gsi = 16 };
	cfg.virtio[1] = (struct acpi_virtio_mmio){ .base = 0xfeb00200, .gsi = 17 };
	cfg.nr_virtio = 2;
	CHECK_EQ(build(), 0);
	iasl_config(root, "pc");

	cfg = (struct acpi_config){ .nr_cpus = 1, .ioapic = { .addr = 0xfec00000 }, .com1 = true,
				    .virtio = { { 0xfeb00000, 5 } }, .nr_virtio = 1 };
	CHECK_EQ(build(), 0);
	iasl_config(root, "reduced");

	acpi_config_pc(&cfg, ACPI_MAX_CPUS);
	for (unsigned i = 0; i < ACPI_MAX_CPUS; i++)
		cfg.apic_ids[i] = 2 * i;
	cfg.pm_timer_32bit = true;
	cfg.msi = true;
	CHECK_EQ(build(), 0);
	iasl_config(root, "x2apic");
}

int main(int argc, char **argv)
{
	test_aml_integers();
	test_aml_names();
	test_aml_pkglength();
	test_aml_resources();
	test_pc();
	test_hw_reduced();
	test_x2apic();
	test_refusals();
	test_small_buffers();
	test_relocation();
	test_acpica(argv[0]);
	return check_done("test_acpi");
}
