// SPDX-License-Identifier: MIT
/*
 * demo: the guest tollbooth runs when given no image (`make run` = `tollbooth run --stats`).
 * A short tour of the VM exits the default policy takes: each step does one thing, then asks
 * the VMM (VMCALL HC_LAST_EXIT, guests/lib/vmexit.h) what it saw and prints it, so the output
 * pairs each instruction with its basic exit reason and qualification (Intel SDM vol. 3C 28.2),
 * and the --stats table afterwards shows the same reasons counted. A page fault handled in the
 * guest closes the tour: exceptions the guest handles cause no exit. Exits with code 0
 * (process status 1). Runs on QEMU too, without the VMM's side of the story.
 */
#include "vmexit.h"

DEFINE_XREC;

/* The IOAPIC every machine has (src/devices/ioapic.h): IOREGSEL at 0, IOWIN at 0x10; register 1
   is the version (0x20) with the highest redirection entry (23) in bits 23:16. */
#define IOAPIC 0xfec00000ull
#define IOAPIC_VERSION_REG 0x00170020u
#define LAZY_VA 0x8000000000ull
#define CR4_VMXE BIT(13)
#define CR4_OSXSAVE BIT(18)

static u64 l_pdpt[512] __attribute__((aligned(4096)));
static u64 l_pd[512] __attribute__((aligned(4096)));
static u64 l_pt[512] __attribute__((aligned(4096)));
static u8 lazy_page[4096] __attribute__((aligned(4096)));
static u64 vmxon_region[512] __attribute__((aligned(4096)));
static volatile int faults;
static int step;

static const char *reason_name(u64 r)
{
	switch (r) {
	case XR_CPUID: return "CPUID";
	case XR_RDPMC: return "RDPMC";
	case XR_RDTSC: return "RDTSC";
	case XR_VMON: return "VMON";
	case XR_CR_ACCESS: return "CR_ACCESS";
	case XR_IO_INSTRUCTION: return "IO_INSTRUCTION";
	case XR_MSR_READ: return "MSR_READ";
	case XR_MSR_WRITE: return "MSR_WRITE";
	case XR_MWAIT_INSTRUCTION: return "MWAIT_INSTRUCTION";
	case XR_MONITOR_INSTRUCTION: return "MONITOR_INSTRUCTION";
	case XR_EPT_VIOLATION: return "EPT_VIOLATION";
	case XR_WBINVD: return "WBINVD";
	case XR_XSETBV: return "XSETBV";
	}
	return "?";
}

/* Print what the VMM recorded for the step just done (read before printf: the UART exits). */
static void said(const char *what, const char *outcome)
{
	struct exit_rec e = { 0 };
	bool vmm = vmm_present();

	if (vmm)
		last_exit(&e);
	printf("%2d. %-30s %s\n", ++step, what, outcome);
	if (vmm)
		printf("    exit %llu %s, qualification %#llx, length %llu\n",
		       (unsigned long long)e.reason, reason_name(e.reason),
		       (unsigned long long)e.qual, (unsigned long long)e.len);
}

/* A step that exits nowhere: nothing of the VMM's to show. */
static void said_no_exit(const char *what, const char *outcome)
{
	printf("%2d. %-30s %s\n", ++step, what, outcome);
}

/* #PF handler: map the faulting page and retry the access (SDM 3A 7.15: #PF is a fault). */
static void pf_map_on_demand(struct frame *f)
{
	u64 va = read_cr2();

	faults++;
	l_pt[(va >> 12) & 511] = (u64)lazy_page | 3;
	invlpg((void *)va);
}

int main(void)
{
	char buf[64];
	static bool ok = true;
	u32 lo, hi;

	printf("tollbooth demo guest: a tour of VM exits\n");
	if (vmm_probe() == 1)
		printf("hypercall ABI version %d: each step shows the VMM's exit record\n",
		       HC_ABI_VERSION);

	struct cpuid c = cpuid(0, 0);
	memcpy(buf, &c.b, 4);
	memcpy(buf + 4, &c.d, 4);
	memcpy(buf + 8, &c.c, 4);
	buf[12] = 0;
	ok &= buf[0] != 0;
	snprintf(buf + 16, 40, "vendor \"%s\"", buf);
	said("CPUID leaf 0", buf + 16);

	outb(0x3ff, 0x42);
	u8 scr = inb(0x3ff);
	ok &= scr == 0x42;
	snprintf(buf, sizeof(buf), "UART scratch register reads %#x", scr);
	said("OUT then IN, port 0x3ff", buf);

	asm volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(0x3a));
	snprintf(buf, sizeof(buf), "IA32_FEATURE_CONTROL = %#x", lo);
	said("RDMSR 0x3a", buf);
	asm volatile("wrmsr" : : "a"(0), "d"(0), "c"(0x8b));
	said("WRMSR 0x8b", "IA32_BIOS_SIGN_ID write ignored");

	int vec;
	if (vmm_present()) {
		/* Only under tollbooth: a CPU with VMX would accept it. */
		vec = CATCH(write_cr4(read_cr4() | CR4_VMXE));
		said("MOV to CR4 setting VMXE", vec == GP_VECTOR ? "#GP: no VMX for guests" : "accepted");
		if (vec != GP_VECTOR)
			write_cr4(read_cr4() & ~CR4_VMXE);

		volatile u32 *ioapic = (volatile u32 *)IOAPIC;
		ioapic[0] = 1;
		said("MMIO store at 0xfec00000", "IOAPIC IOREGSEL = 1 (version)");
		u32 version = ioapic[4];
		ok &= version == IOAPIC_VERSION_REG;
		snprintf(buf, sizeof(buf), "IOAPIC version %#x, 24 pins", version);
		said("MMIO load at 0xfec00010", buf);
	}

	vec = CATCH(asm volatile("rdpmc" : "=a"(lo), "=d"(hi) : "c"(0)));
	said("RDPMC", vec == GP_VECTOR ? "#GP: no performance counters" : "read a counter");

	vec = CATCH(asm volatile("vmxon (%%rax)" : : "a"(vmxon_region) : "memory", "cc"));
	said("VMXON", vec == UD_VECTOR ? "#UD: CPUID has no VMX" : "no #UD");

	asm volatile("wbinvd" : : : "memory");
	said("WBINVD", "caches are the host's: done nothing");

	if (has_feature(1, REG_ECX, 26)) {
		write_cr4(read_cr4() | CR4_OSXSAVE);
		asm volatile("xsetbv" : : "a"(1), "d"(0), "c"(0));
		said("XSETBV XCR0 = 1", "x87 state enabled");
	}

	u64 t0 = rdtsc(), t1 = rdtsc();
	snprintf(buf, sizeof(buf), "no exit with TSC offsetting (+%llu)",
		 (unsigned long long)(t1 - t0));
	said_no_exit("RDTSC twice", buf);

	if (vmm_present()) {
		u64 n0 = exit_count(XR_VMCALL), n1 = exit_count(XR_VMCALL);
		printf("%2d. %-30s VMCALL count %llu -> %llu\n", ++step, "VMCALL HC_EXIT_COUNT twice",
		       (unsigned long long)n0, (unsigned long long)n1);
	}

	pml4[1] = (u64)l_pdpt | 3;
	l_pdpt[0] = (u64)l_pd | 3;
	l_pd[0] = (u64)l_pt | 3;
	flush_tlb();
	set_handler(PF_VECTOR, pf_map_on_demand);
	*(volatile u64 *)(LAZY_VA + 0x10) = 0x7011b007;
	set_handler(PF_VECTOR, NULL);
	ok &= faults == 1 && *(u64 *)(lazy_page + 0x10) == 0x7011b007;
	said_no_exit("store to an unmapped page", "#PF mapped in the guest: no exit");

	printf("demo %s, exiting with code %d\n", ok ? "complete" : "FAILED", ok ? 0 : 1);
	return ok ? 0 : 1;
}
