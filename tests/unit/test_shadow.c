// SPDX-License-Identifier: MIT
/*
 * Shadow paging (vmm/shadow.c): a soft VM with --vmx ept=off, guest page tables written into its
 * RAM, #PF exits handed to shadow_page_fault() as the exit handler would, and the shadow entries
 * the CPU would walk read back through the VMCS's GUEST_CR3. The guest suite run with
 * --vmx=ept=off (tests/check.sh) covers the same paths with real code.
 */
#include <string.h>

#include "arch/vmx.h"
#include "arch/x86.h"
#include "check.h"
#include "soft/soft.h"
#include "vmm/policy.h"
#include "vmm/shadow.h"
#include "vmm/vm.h"
#include "vmx/vmcs.h"

#define P BIT(0)
#define RW BIT(1)
#define US BIT(2)
#define A BIT(5)
#define D BIT(6)
#define PS BIT(7)
#define XD BIT(63)

static void discard_tx(void *opaque, u8 byte)
{
	(void)opaque;
	(void)byte;
}

static const struct uart_host no_console = { .tx = discard_tx };
static struct vm vm_main, *vmp = &vm_main;
#define VM (*vmp) /* the VM the helpers work on */
static struct vcpu *vcpu;

static u64 *ram64(u64 gpa)
{
	return (u64 *)(VM.ram + gpa);
}

static u32 *ram32(u64 gpa)
{
	return (u32 *)(VM.ram + gpa);
}

/* The guest's paging state as the exit handlers set it (backend set_sregs). */
static void set_paging(u64 cr0, u64 cr3, u64 cr4, u64 efer)
{
	struct x86_sregs s;

	VM.backend->get_sregs(vcpu, &s);
	s.cr0 = cr0 | CR0_ET;
	s.cr3 = cr3;
	s.cr4 = cr4;
	s.efer = efer;
	/* a flat 64-bit or 32-bit code segment to match */
	s.seg[SEG_CS].ar = efer & EFER_LMA ? 0xa09b : 0xc09b;
	s.seg[SEG_SS].ar = 0xc093;
	VM.backend->set_sregs(vcpu, &s);
}

/* The shadow leaf for lin as the CPU would find it from GUEST_CR3; 0 when none. */
static u64 spte(u64 lin)
{
	const struct vmcs *v = soft_vcpu_vmcs(vcpu);
	u64 cr3 = v->guest_cr3, *t, e;
	bool lma = v->guest_ia32_efer & EFER_LMA;
	int level = lma ? 4 : 2;

	if (lma) {
		t = (u64 *)vm_host_ptr(&VM, cr3 & ~0xfffull, 4096);
	} else {
		u64 *pdpt = (u64 *)vm_host_ptr(&VM, cr3 & ~0x1full, 32);

		e = pdpt[(lin >> 30) & 3];
		if (!(e & P))
			return 0;
		t = (u64 *)vm_host_ptr(&VM, e & 0xffffffffff000ull, 4096);
	}
	for (; level >= 1; level--) {
		e = t[(lin >> (12 + 9 * (level - 1))) & 511];
		if (level == 1 || !(e & P))
			return e;
		t = (u64 *)vm_host_ptr(&VM, e & 0xffffffffff000ull, 4096);
	}
	return 0;
}

static enum shadow_fault fault(u64 lin, u32 ec, unsigned cpl, u64 rflags, u32 *gec, u64 *gpa)
{
	bool flush;

	*gec = 0xdead;
	*gpa = 0;
	return shadow_page_fault(vcpu, lin, ec, cpl, rflags, gec, gpa, &flush);
}

#define CR0_64 (CR0_PE | CR0_PG | CR0_WP)
#define EFER_64 (EFER_LME | EFER_LMA | EFER_NXE)

/* 4-level tables: PML4 0x1000, PDPT 0x2000, PD 0x3000, PT 0x4000 (linear 0-2 MiB). */
static void tables_4level(void)
{
	memset(VM.ram + 0x1000, 0, 0x4000);
	*ram64(0x1000) = 0x2000 | P | RW | US;
	*ram64(0x2000) = 0x3000 | P | RW | US;
	*ram64(0x3000) = 0x4000 | P | RW | US;
}

static void test_4level(void)
{
	struct x86_sregs s;
	u32 gec;
	u64 gpa, efer;

	tables_4level();
	set_paging(CR0_64, 0x1000, CR4_PAE, EFER_64);

	/* The VMCS holds the shadow; the guest reads its own CR3 and EFER back. */
	VM.backend->get_sregs(vcpu, &s);
	CHECK_EQ(s.cr3, 0x1000);
	CHECK(soft_vcpu_vmcs(vcpu)->guest_cr3 != 0x1000);
	CHECK_EQ(VM.backend->get_msr(vcpu, MSR_IA32_EFER, &efer), 0);
	CHECK_EQ(efer, EFER_64);
	CHECK(soft_vcpu_vmcs(vcpu)->guest_cr0 & CR0_WP);

	/* A read of a clean writable page: mapped read-only until the first write (SDM 4.8). */
	*ram64(0x4000 + 5 * 8) = 0x100000 | P | RW;
	CHECK_EQ(fault(0x5010, 0, 0, 0, &gec, &gpa), SHADOW_FIXED);
	CHECK_EQ(gpa, 0x100010);
	CHECK_EQ(spte(0x5000), 0x100000 | P | A | D);
	CHECK_EQ(*ram64(0x4000 + 5 * 8), 0x100000 | P | RW | A);
	CHECK(*ram64(0x1000) & A);
	CHECK(*ram64(0x2000) & A);
	CHECK(*ram64(0x3000) & A);
	CHECK_EQ(fault(0x5010, PFEC_P | PFEC_W, 0, 0, &gec, &gpa), SHADOW_FIXED);
	CHECK_EQ(spte(0x5000), 0x100000 | P | RW | A | D);
	CHECK(*ram64(0x4000 + 5 * 8) & D);
	CHECK(!(*ram64(0x3000) & D)); /* no dirty flag in a non-leaf entry */

	/* The guest's own faults, with its error codes (SDM 4.7). */
	CHECK_EQ(fault(0x5000, PFEC_P | PFEC_U, 3, 0, &gec, &gpa), SHADOW_GUEST_FAULT);
	CHECK_EQ(gec, PFEC_P | PFEC_U);
	CHECK_EQ(spte(0x5000), 0); /* the #PF invalidated lin (4.10.4.1) */
	CHECK_EQ(fault(0x6000, 0, 0, 0, &gec, &gpa), SHADOW_GUEST_FAULT);
	CHECK_EQ(gec, 0);
	CHECK_EQ(fault(0x6000, PFEC_W, 0, 0, &gec, &gpa), SHADOW_GUEST_FAULT);
	CHECK_EQ(gec, PFEC_W);
	*ram64(0x4000 + 10 * 8) = 0x100000 | P | BIT(45); /* above MAXPHYADDR */
	CHECK_EQ(fault(0xa000, 0, 0, 0, &gec, &gpa), SHADOW_GUEST_FAULT);
	CHECK_EQ(gec, PFEC_P | PFEC_RSVD);
	*ram64(0x4000 + 8 * 8) = 0x100000 | P | RW | XD;
	CHECK_EQ(fault(0x8000, PFEC_I, 0, 0, &gec, &gpa), SHADOW_GUEST_FAULT);
	CHECK_EQ(gec, PFEC_P | PFEC_I);
	CHECK_EQ(fault(0x8000, 0, 0, 0, &gec, &gpa), SHADOW_FIXED);
	CHECK(spte(0x8000) & XD);
	/* A not-present entry that became present needs no flush from the guest. */
	*ram64(0x4000 + 6 * 8) = 0x101000 | P | RW | US;
	CHECK_EQ(fault(0x6000, PFEC_U, 3, 0, &gec, &gpa), SHADOW_FIXED);
	CHECK_EQ(spte(0x6000), 0x101000 | P | US | A | D);

	/* MMIO: no shadow entry, the VMM emulates. */
	*ram64(0x4000 + 11 * 8) = 0xfeb00000 | P | RW;
	CHECK_EQ(fault(0xb008, PFEC_W, 0, 0, &gec, &gpa), SHADOW_MMIO);
	CHECK_EQ(gpa, 0xfeb00008);
	CHECK_EQ(spte(0xb000), 0);

	/* The VMM's own accesses (string I/O) and reads through the guest's tables. */
	u8 buf[4];
	memcpy(VM.ram + 0x101ffe, "\x11\x22", 2);
	*ram64(0x4000 + 7 * 8) = 0x102000 | P | RW;
	memcpy(VM.ram + 0x102000, "\x33\x44", 2);
	CHECK_EQ(shadow_read_virt(vcpu, 0x6ffe, buf, 4), 0);
	CHECK(!memcmp(buf, "\x11\x22\x33\x44", 4));
	CHECK_EQ(shadow_read_virt(vcpu, 0x9ffe, buf, 4), -EFAULT);
	u32 pfec = 0;
	CHECK_EQ(shadow_vmm_walk(vcpu, 0x9000, true, &gpa, &pfec), -1);
	CHECK_EQ(pfec, PFEC_W);
	CHECK_EQ(shadow_vmm_walk(vcpu, 0x7004, true, &gpa, &pfec), 0);
	CHECK_EQ(gpa, 0x102004);
	CHECK(*ram64(0x4000 + 7 * 8) & D);

	/* A 2 MiB page is shadowed by 4 KiB leaves; INVLPG anywhere in it drops them all. */
	*ram64(0x3000 + 8) = 0x400000 | P | RW | PS;
	CHECK_EQ(fault(0x201000, 0, 0, 0, &gec, &gpa), SHADOW_FIXED);
	CHECK_EQ(gpa, 0x401000);
	CHECK_EQ(spte(0x201000), 0x401000 | P | A | D);
	CHECK_EQ(shadow_invlpg(vcpu, 0x3ff000), true);
	CHECK_EQ(spte(0x201000), 0);
	/* a 4 KiB leaf goes alone */
	CHECK_EQ(fault(0x6000, PFEC_U, 3, 0, &gec, &gpa), SHADOW_FIXED);
	CHECK_EQ(shadow_invlpg(vcpu, 0x6000), false);
	CHECK_EQ(spte(0x6000), 0);

	/* The state API carries the guest's EFER, not the CPU's (which has NXE forced on). */
	{
		static struct x86_state st;

		set_paging(CR0_64, 0x1000, CR4_PAE, EFER_LME | EFER_LMA);
		VM.backend->get_state(vcpu, &st);
		CHECK_EQ(VM.backend->set_state(vcpu, &st), 0);
		CHECK_EQ(VM.backend->get_msr(vcpu, MSR_IA32_EFER, &efer), 0);
		CHECK_EQ(efer, EFER_LME | EFER_LMA);
		CHECK(soft_vcpu_vmcs(vcpu)->guest_ia32_efer & EFER_NXE);
		set_paging(CR0_64, 0x1000, CR4_PAE, EFER_64);
	}

	/* A CR3 load drops the shadow, even of the same value. */
	CHECK_EQ(fault(0x6000, PFEC_U, 3, 0, &gec, &gpa), SHADOW_FIXED);
	CHECK(spte(0x6000) != 0);
	shadow_cr3_load(vcpu);
	set_paging(CR0_64, 0x1000, CR4_PAE, EFER_64);
	CHECK_EQ(spte(0x6000), 0);
}

/* CR0.WP = 0, SMEP and SMAP: the rights the shadow gives must make the CPU fault where the
   guest's CPU would (SDM 4.6.1). */
static void test_rights(void)
{
	u32 gec;
	u64 gpa;

	tables_4level();
	*ram64(0x4000 + 7 * 8) = 0x100000 | P | US | D; /* a user read-only page */
	set_paging(CR0_PE | CR0_PG, 0x1000, CR4_PAE, EFER_64);
	CHECK(soft_vcpu_vmcs(vcpu)->guest_cr0 & CR0_WP); /* the CPU keeps WP */
	CHECK_EQ(fault(0x7000, PFEC_P | PFEC_W, 0, 0, &gec, &gpa), SHADOW_FIXED);
	CHECK_EQ(spte(0x7000), 0x100000 | P | RW | A | D); /* writable, supervisor-only */
	CHECK_EQ(fault(0x7000, PFEC_P | PFEC_U, 3, 0, &gec, &gpa), SHADOW_FIXED);
	CHECK_EQ(spte(0x7000), 0x100000 | P | US | A | D); /* user again, read-only */
	CHECK_EQ(fault(0x7000, PFEC_P | PFEC_U | PFEC_W, 3, 0, &gec, &gpa), SHADOW_GUEST_FAULT);
	CHECK_EQ(gec, PFEC_P | PFEC_U | PFEC_W); /* WP = 0 does not help user writes */
	CHECK(!shadow_want_mtf(vcpu)); /* without SMAP the supervisor-only leaf may stay */

	/* WP = 0 with SMAP: the supervisor-only leaf serves one write (AC = 1) and goes at the
	   MTF exit after it, so that a later access with AC = 0 faults as SMAP says. */
	set_paging(CR0_PE | CR0_PG, 0x1000, CR4_PAE | CR4_SMAP, EFER_64);
	CHECK_EQ(fault(0x7000, PFEC_P | PFEC_W, 0, X86_AC, &gec, &gpa), SHADOW_FIXED);
	CHECK_EQ(spte(0x7000), 0x100000 | P | RW | A | D);
	CHECK(shadow_want_mtf(vcpu));
	u64 lin = 0;
	CHECK(shadow_mtf(vcpu, &lin));
	CHECK_EQ(lin, 0x7000);
	CHECK_EQ(spte(0x7000), 0);
	CHECK(!shadow_mtf(vcpu, &lin));
	CHECK_EQ(fault(0x7000, 0, 0, 0, &gec, &gpa), SHADOW_GUEST_FAULT);
	CHECK_EQ(gec, PFEC_P);

	tables_4level();
	*ram64(0x4000 + 9 * 8) = 0x100000 | P | RW | US | D;
	set_paging(CR0_64, 0x1000, CR4_PAE | CR4_SMEP | CR4_SMAP, EFER_64);
	CHECK_EQ(soft_vcpu_vmcs(vcpu)->guest_cr4 & (CR4_SMEP | CR4_SMAP), CR4_SMEP | CR4_SMAP);
	CHECK_EQ(fault(0x9000, 0, 0, 0, &gec, &gpa), SHADOW_GUEST_FAULT);
	CHECK_EQ(gec, PFEC_P);				/* SMAP, AC = 0 */
	CHECK_EQ(fault(0x9000, 0, 0, X86_AC, &gec, &gpa), SHADOW_FIXED);
	CHECK_EQ(fault(0x9000, 0, 3, X86_AC, &gec, &gpa), SHADOW_GUEST_FAULT); /* implicit */
	CHECK_EQ(fault(0x9000, PFEC_I, 0, 0, &gec, &gpa), SHADOW_GUEST_FAULT);
	CHECK_EQ(gec, PFEC_P | PFEC_I);		/* SMEP */
	CHECK_EQ(fault(0x9000, PFEC_I | PFEC_U, 3, 0, &gec, &gpa), SHADOW_FIXED);
}

/* Outside IA-32e mode: PAE shadows below 4 GiB for PAE, 32-bit and no paging. */
static void test_legacy(void)
{
	const struct vmcs *v = soft_vcpu_vmcs(vcpu);
	u32 gec;
	u64 gpa;

	/* no paging: 1:1, everything allowed, no SMEP/SMAP in the CPU */
	set_paging(CR0_PE, 0, CR4_SMEP, 0);
	CHECK_EQ(v->guest_cr0 & (CR0_PE | CR0_PG), CR0_PE | CR0_PG);
	CHECK_EQ(v->guest_cr4 & (CR4_PAE | CR4_SMEP), CR4_PAE);
	CHECK(v->guest_cr3 >= VM_PAE_ROOTS_BASE && v->guest_cr3 < 0x100000000ull);
	CHECK_EQ(v->guest_ia32_efer & (EFER_LME | EFER_LMA), 0);
	CHECK_EQ(fault(0x123456, PFEC_W | PFEC_U, 3, 0, &gec, &gpa), SHADOW_FIXED);
	CHECK_EQ(gpa, 0x123456);
	CHECK_EQ(spte(0x123000), 0x123000 | P | RW | US | A | D);

	/* LME without paging stays out of the CPU's EFER (27.3.1.1) */
	set_paging(CR0_PE, 0, CR4_PAE, EFER_LME);
	CHECK_EQ(v->guest_ia32_efer & EFER_LME, 0);

	/* PAE: PDPT at 0x6000, PD 0x7000, PT 0x8000 */
	memset(VM.ram + 0x6000, 0, 0x3000);
	*ram64(0x6000) = 0x7000 | P;
	*ram64(0x7000) = 0x8000 | P | RW;
	*ram64(0x8000 + 5 * 8) = 0x100000 | P | RW;
	set_paging(CR0_PE | CR0_PG | CR0_WP, 0x6000, CR4_PAE, 0);
	CHECK_EQ(fault(0x5000, PFEC_W, 0, 0, &gec, &gpa), SHADOW_FIXED);
	CHECK_EQ(spte(0x5000), 0x100000 | P | RW | A | D);
	CHECK(*ram64(0x8000 + 5 * 8) & D);
	CHECK_EQ(fault(0x40005000, 0, 0, 0, &gec, &gpa), SHADOW_GUEST_FAULT); /* PDPTE 1 */
	CHECK_EQ(gec, 0);

	/* 32-bit paging with a 4 MiB page (PSE): two shadow directory entries, both dropped */
	memset(VM.ram + 0x9000, 0, 0x1000);
	*ram32(0x9000 + 4) = 0x400000 | P | RW | PS;
	set_paging(CR0_PE | CR0_PG | CR0_WP, 0x9000, CR4_PSE, 0);
	CHECK_EQ(fault(0x401234, 0, 0, 0, &gec, &gpa), SHADOW_FIXED);
	CHECK_EQ(gpa, 0x401234);
	CHECK_EQ(fault(0x601234, 0, 0, 0, &gec, &gpa), SHADOW_FIXED);
	CHECK_EQ(gpa, 0x601234);
	CHECK(*ram32(0x9000 + 4) & A);
	CHECK_EQ(shadow_invlpg(vcpu, 0x400000), true);
	CHECK_EQ(spte(0x401000), 0);
	CHECK_EQ(spte(0x601000), 0);
}

static void test_outside_ram(void)
{
	u32 gec;
	u64 gpa;

	tables_4level();
	*ram64(0x3000 + 2 * 8) = 0x40000000 | P | RW; /* a page table past RAM */
	set_paging(CR0_64, 0x1000, CR4_PAE, EFER_64);
	CHECK_EQ(fault(0x400000, 0, 0, 0, &gec, &gpa), SHADOW_STOP);
	CHECK(VM.stop);
	CHECK(strstr(VM.stop_msg, "outside RAM") != NULL);
}

/*
 * Cached mode (one vCPU, 4-level, CR0.WP = 1): mirrors kept across CR3 loads, guest tables
 * write-protected, a write to one unsyncs its mirror, CR3 loads and INVLPG resync.
 */
static void test_cached(void)
{
	u32 gec;
	u64 gpa, pml4b = 0xa000;

	shadow_set_caching(vcpu, true);
	tables_4level();
	*ram64(0x4000 + 5 * 8) = 0x100000 | P | RW | A | D;
	*ram64(0x4000 + 4 * 8) = 0x4000 | P | RW | A | D; /* the PT, mapped at 0x4000 */
	*ram64(0x4000 + 3 * 8) = 0x3000 | P | RW | A | D; /* the PD, mapped at 0x3000 */
	set_paging(CR0_64, 0x1000, CR4_PAE, EFER_64);

	/* A dirty writable page gets a writable leaf; the PT's own page does not: it is a
	   mirrored table, write-protected. */
	CHECK_EQ(fault(0x5000, 0, 0, 0, &gec, &gpa), SHADOW_FIXED);
	CHECK_EQ(spte(0x5000), 0x100000 | P | RW | A | D);
	CHECK_EQ(fault(0x4000, 0, 0, 0, &gec, &gpa), SHADOW_FIXED);
	CHECK_EQ(spte(0x4000), 0x4000 | P | A | D);
	/* The guest writes its PT: the mirror goes out of sync and the write goes ahead. */
	CHECK_EQ(fault(0x4000, PFEC_P | PFEC_W, 0, 0, &gec, &gpa), SHADOW_FIXED);
	CHECK_EQ(spte(0x4000), 0x4000 | P | RW | A | D);
	CHECK_EQ(shadow_stats(vcpu)->unsyncs, 1);
	*ram64(0x4000 + 5 * 8) = 0x200000 | P | RW | A | D; /* as the guest would */
	CHECK_EQ(spte(0x5000), 0x100000 | P | RW | A | D); /* stale until invalidated: a TLB's */

	/* Another address space and back: the first one's shadow is kept... */
	memset(VM.ram + pml4b, 0, 0x1000);
	*ram64(pml4b) = 0x2000 | P | RW | US; /* shares the PDPT */
	shadow_cr3_load(vcpu);
	set_paging(CR0_64, pml4b, CR4_PAE, EFER_64);
	CHECK(soft_vcpu_vmcs(vcpu)->guest_cr3 != 0);
	shadow_cr3_load(vcpu);
	set_paging(CR0_64, 0x1000, CR4_PAE, EFER_64);
	/* ... but the loads resynced the PT: the changed entry went, the PT is protected again */
	CHECK_EQ(shadow_stats(vcpu)->resyncs, 1);
	CHECK_EQ(spte(0x5000), 0);
	CHECK_EQ(spte(0x4000), 0x4000 | P | A | D);
	CHECK_EQ(fault(0x5000, 0, 0, 0, &gec, &gpa), SHADOW_FIXED);
	CHECK_EQ(gpa, 0x200000);

	/* A write to an upper table (the PD) unsyncs it too; INVLPG resyncs: the directory entry
	   the guest changed goes, and the next fault follows the guest's new PT. */
	CHECK_EQ(fault(0x3000, PFEC_P | PFEC_W, 0, 0, &gec, &gpa), SHADOW_FIXED);
	memset(VM.ram + 0x9000, 0, 0x1000);
	*ram64(0x9000 + 5 * 8) = 0x300000 | P | RW | A | D;
	*ram64(0x3000) = 0x9000 | P | RW | US;
	CHECK_EQ(shadow_invlpg(vcpu, 0x123000), true);
	CHECK_EQ(spte(0x5000), 0);
	CHECK_EQ(fault(0x5000, 0, 0, 0, &gec, &gpa), SHADOW_FIXED);
	CHECK_EQ(gpa, 0x300000);
	CHECK_EQ(spte(0x5000), 0x300000 | P | RW | A | D);
	shadow_set_caching(vcpu, false);
}

/*
 * Two vCPUs share the cache (KVM's one MMU per VM): a table vCPU 0's shadow mirrors is
 * write-protected in vCPU 1's leaves too, so vCPU 1's write to it unsyncs it.
 */
static void test_shared(void)
{
	static struct vm vm2;
	struct vcpu *v0, *v1;
	u32 gec;
	u64 gpa;

	memset(&vm2, 0, sizeof(vm2));
	vm2.nr_vcpus = 2;
	CHECK_EQ(vmm_policy_set(&vm2, "ept", false), 0);
	CHECK_EQ(vm_create(&vm2, 8 << 20, &backend_soft, &no_console), 0);
	vmp = &vm2; /* the helpers work on VM and vcpu */
	v0 = &VM.vcpus[0];
	v1 = &VM.vcpus[1];
	CHECK(v0->shadow && v1->shadow && VM.shadow_cache);
	if (v0->shadow && v1->shadow) {
		tables_4level();
		*ram64(0x4000 + 5 * 8) = 0x100000 | P | RW | A | D;
		*ram64(0x4000 + 4 * 8) = 0x4000 | P | RW | A | D;
		vcpu = v0;
		set_paging(CR0_64, 0x1000, CR4_PAE, EFER_64);
		vcpu = v1;
		set_paging(CR0_64, 0x1000, CR4_PAE, EFER_64);
		vcpu = v0;
		CHECK_EQ(fault(0x5000, 0, 0, 0, &gec, &gpa), SHADOW_FIXED); /* mirrors the PT */
		vcpu = v1;
		CHECK_EQ(fault(0x4000, 0, 0, 0, &gec, &gpa), SHADOW_FIXED);
		CHECK_EQ(spte(0x4000), 0x4000 | P | A | D); /* read-only in vCPU 1 too */
		CHECK_EQ(fault(0x4000, PFEC_P | PFEC_W, 0, 0, &gec, &gpa), SHADOW_FIXED);
		CHECK_EQ(spte(0x4000), 0x4000 | P | RW | A | D);
		CHECK_EQ(shadow_stats(v0)->unsyncs, 1); /* seen by the VM's cache */
		/* vCPU 0's CR3 load resyncs it, and both vCPUs' TLBs flush (the write lost R/W) */
		vcpu = v0;
		shadow_cr3_load(vcpu);
		set_paging(CR0_64, 0x1000, CR4_PAE, EFER_64);
		CHECK_EQ(shadow_stats(v0)->resyncs, 1);
		vcpu = v1;
		CHECK_EQ(spte(0x4000), 0x4000 | P | A | D);
		u64 root;
		CHECK(shadow_sync(v1, &root)); /* its TLB must flush before it runs again */
	}
	vm_destroy(&VM);
	vmp = &vm_main;
	vcpu = &VM.vcpus[0];
}

int main(void)
{
	memset(&VM, 0, sizeof(VM));
	CHECK_EQ(vmm_policy_set(&VM, "ept", false), 0);
	CHECK_EQ(vm_create(&VM, 8 << 20, &backend_soft, &no_console), 0);
	vcpu = &VM.vcpus[0];
	CHECK(vcpu->shadow != NULL);
	if (vcpu->shadow) {
		shadow_set_caching(vcpu, false); /* the virtual TLB first: */
		test_4level();
		test_rights();
		test_legacy();
		test_cached();
		test_outside_ram();
		test_shared();
	}
	vm_destroy(&VM);
	return check_done("shadow");
}
