// SPDX-License-Identifier: MIT
/*
 * machine: which devices the machine has (tollbooth --machine, --device, --no-device;
 * docs/security.md). Every machine has the IOAPIC, the LAPIC, COM1 and the ACPI PM timer. The
 * legacy PC devices answer only on --machine pc (cmdline "pc=1"; QEMU's pc has them all too):
 * on micro, the default, each of their ports and the HPET's page read as an empty bus does, all
 * ones, and writes to them are dropped (a read after the write is still all ones). The checks
 * per device: the 8259A's IMR reads back what was written (0x21, 0xa1), the 8254's latched count
 * (0x40, 0x43) and port 0x61, the RTC's CMOS register A (0x70, 0x71), the i8042's status (0x64),
 * port 0x92, the PCI host bridge's CONFIG_ADDRESS (0xcf8), the HPET's GCAP_ID.
 */
#include "lib.h"
#include "vmexit.h"

#define IOAPIC 0xfec00000ul
#define HPET 0xfed00000ul
#define LAPIC 0xfee00000ul
#define PM_TMR 0x608

static u32 mmio_read32(u64 addr) { return *(volatile u32 *)addr; }

/* The PM timer (ACPI 4.7.3.3) counts at 3.579545 MHz whatever the machine. */
static bool pm_timer_runs(void)
{
	u32 t0 = inl(PM_TMR) & 0xffffff;

	for (int i = 0; i < 1000000; i++)
		if ((inl(PM_TMR) & 0xffffff) != t0)
			return true;
	return false;
}

static void check_always_there(void)
{
	*(volatile u32 *)IOAPIC = 1;
	u32 ver = mmio_read32(IOAPIC + 0x10) & 0xff;

	/* 0x20: the VMM's IOAPIC; 0x11: KVM's in-kernel one (82093AA), --kvm-irqchip kernel. */
	check(ver == 0x20 || ver == 0x11, "the IOAPIC answers (version %#x)", ver);
	check((mmio_read32(LAPIC + 0x30) & 0xff) != 0xff, "the LAPIC answers (version %#x)",
	      mmio_read32(LAPIC + 0x30));
	outb(0x3f8 + 7, 0x5a); /* the 16550's scratch register */
	check(inb(0x3f8 + 7) == 0x5a, "COM1's scratch register holds what was written");
	check(pm_timer_runs(), "the ACPI PM timer counts");
}

static void check_legacy(bool present)
{
	const char *want = present ? "answers" : "reads all ones, writes dropped";
	u8 imr;

	outb(0x21, 0xa5);
	imr = inb(0x21);
	check(present ? imr == 0xa5 : imr == 0xff, "8259A master IMR %s (%#x)", want, imr);
	outb(0xa1, 0x5a);
	imr = inb(0xa1);
	check(present ? imr == 0x5a : imr == 0xff, "8259A slave IMR %s (%#x)", want, imr);
	outb(0x21, 0xff);
	outb(0xa1, 0xff);

	/* Channel 2, lobyte/hibyte, mode 0, count 0x1234: latched back unchanged with the gate
	   low (port 0x61 bit 0 clear). */
	outb(0x61, inb(0x61) & ~3);
	outb(0x43, 0xb0);
	outb(0x42, 0x34);
	outb(0x42, 0x12);
	/* The count reaches the counting element at the next CLK (838 ns at 1.193 MHz; 8254
	   datasheet, mode 0): until then a latch reads the old one. Let some clocks pass. */
	for (int i = 0; i < 100; i++)
		inb(0x61);
	outb(0x43, 0x80);
	u16 count = inb(0x42) | inb(0x42) << 8;
	check(present ? count == 0x1234 : count == 0xffff, "8254 channel 2's count %s (%#x)", want,
	      count);
	u8 p61 = inb(0x61);
	check(present ? p61 != 0xff : p61 == 0xff, "port 0x61 %s (%#x)", want, p61);

	outb(0x70, 0x0a);
	u8 rega = inb(0x71);
	check(present ? (rega & 0x70) == 0x20 : rega == 0xff,
	      "RTC register A %s (%#x; the 32.768 kHz divider when present)", want, rega);

	u8 kbd = inb(0x64);
	check(present ? kbd != 0xff : kbd == 0xff, "i8042 status %s (%#x)", want, kbd);
	u8 p92 = inb(0x92);
	check(present ? p92 != 0xff : p92 == 0xff, "port 0x92 %s (%#x)", want, p92);

	outl(0xcf8, 0x80000000);
	u32 addr = inl(0xcf8);
	check(present ? addr == 0x80000000 : addr == 0xffffffff,
	      "PCI CONFIG_ADDRESS %s (%#x)", want, addr);
	outl(0xcf8, 0);

	u32 gcap = mmio_read32(HPET);
	check(present ? gcap != 0xffffffff && gcap != 0 : gcap == 0xffffffff,
	      "HPET GCAP_ID %s (%#x)", want, gcap);
	*(volatile u32 *)(HPET + 0x10) = 1; /* ENABLE_CNF; dropped when absent */
	gcap = mmio_read32(HPET + 0x10);
	check(present ? gcap == 1 : gcap == 0xffffffff, "HPET GEN_CONF %s (%#x)", want, gcap);
	*(volatile u32 *)(HPET + 0x10) = 0;
}

int main(void)
{
	/* QEMU's machines have the legacy set whatever we ask (check_qemu.sh). */
	bool pc = cmdline_u64("pc", 0) || !vmm_present();

	printf("machine: %s\n", pc ? "pc (legacy devices present)" : "micro (legacy devices absent)");
	check_always_there();
	check_legacy(pc);
	return report();
}
