// SPDX-License-Identifier: MIT
/*
 * Unit tests of VM entry and exit (vmx/entry.c, vmx/vmexit.c): good_vmcs() builds a VMCS that
 * enters a 64-bit guest over a small RAM; each check test breaks exactly one thing and asserts
 * the SDM's outcome: VMfailValid 7 (27.2.1) or 8 (27.2.2-27.2.4) with VM_INSTRUCTION_ERROR set,
 * the exit record untouched and no guest instruction executed; or a failed entry with exit 33
 * (27.3.1) or 34 (27.4), bit 31 and the qualification, and the guest not run. Then the exit
 * sequence: exit-information fields, guest-state save, MSR lists, launch state.
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "cpu/cpu.h"
#include "arch/vmx.h"
#include "vmx/vmx.h"

#define RAM_SIZE (1u << 20)
#define MEM_SIZE (2u << 20) /* RAM, then the VMM's pages at 1 MiB */
#define CODE 0x1000
#define GDT 0x2000
#define TSS 0x3000
#define IDT 0x4000
#define PML4 0x10000
#define HOST_PAGES 0x100000
#define MSR_BITMAP_PA (HOST_PAGES + 0x0000)
#define IO_BITMAP_A_PA (HOST_PAGES + 0x1000)
#define IO_BITMAP_B_PA (HOST_PAGES + 0x2000)
#define VAPIC (HOST_PAGES + 0x3000)
#define MSR_LIST (HOST_PAGES + 0x4000)
#define MSR_STORE (HOST_PAGES + 0x5000)
#define PML_PAGE (HOST_PAGES + 0x6000)
#define EPTP_GOOD (HOST_PAGES + 0x7000 + (3 << 3) + EPTP_MT_WB)
#define SHADOW_VMCS (HOST_PAGES + 0x9000)
#define VMREAD_BM (HOST_PAGES + 0xa000)
#define VMWRITE_BM (HOST_PAGES + 0xb000)
#define SHADOW_CODE 0x5000

static u8 *mem;
static struct cpu *cpu;
static struct vmcs vmcs;
static struct vmx_vcpu vx;

static u8 *test_host_ptr(void *opaque, u64 hpa, u64 len)
{
	if (hpa >= MEM_SIZE || len > MEM_SIZE - hpa)
		return NULL;
	return mem + hpa;
}

static void w64(u64 a, u64 v)
{
	memcpy(mem + a, &v, 8);
}

static void set_seg(int i, u16 sel, u64 base, u32 limit, u32 ar)
{
	VMCS_SET(&vmcs, GUEST_ES_SELECTOR + 2 * i, sel);
	VMCS_SET(&vmcs, GUEST_ES_BASE + 2 * i, base);
	VMCS_SET(&vmcs, GUEST_ES_LIMIT + 2 * i, limit);
	VMCS_SET(&vmcs, GUEST_ES_AR_BYTES + 2 * i, ar);
}

static u64 capv(u32 msr)
{
	u64 v = 0;

	vmx_cap_msr(msr, &v);
	return v;
}

/* A VMCS that enters a 64-bit guest at CODE with flat segments and 2-MiB identity paging. */
static void good_vmcs(void)
{
	struct vmcs *v = &vmcs;

	vmcs_init(v);
	VMCS_SET(v, PIN_BASED_VM_EXEC_CONTROL, (u32)capv(MSR_IA32_VMX_TRUE_PINBASED_CTLS));
	VMCS_SET(v, CPU_BASED_VM_EXEC_CONTROL,
		 (u32)capv(MSR_IA32_VMX_TRUE_PROCBASED_CTLS) | PROC_HLT_EXITING |
			 PROC_USE_MSR_BITMAPS | PROC_USE_IO_BITMAPS | PROC_SECONDARY_CONTROLS);
	VMCS_SET(v, SECONDARY_VM_EXEC_CONTROL, PROC2_ENABLE_RDTSCP | PROC2_ENABLE_VPID);
	VMCS_SET(v, VIRTUAL_PROCESSOR_ID, 1);
	VMCS_SET(v, MSR_BITMAP, MSR_BITMAP_PA);
	VMCS_SET(v, IO_BITMAP_A, IO_BITMAP_A_PA);
	VMCS_SET(v, IO_BITMAP_B, IO_BITMAP_B_PA);
	VMCS_SET(v, VIRTUAL_APIC_PAGE_ADDR, VAPIC);
	VMCS_SET(v, EPT_POINTER, EPTP_GOOD);
	VMCS_SET(v, PML_ADDRESS, PML_PAGE);
	VMCS_SET(v, VM_EXIT_CONTROLS,
		 (u32)capv(MSR_IA32_VMX_TRUE_EXIT_CTLS) | EXIT_CTL_HOST_ADDR_SPACE_SIZE |
			 EXIT_CTL_SAVE_DEBUG_CONTROLS | EXIT_CTL_SAVE_EFER | EXIT_CTL_LOAD_EFER |
			 EXIT_CTL_SAVE_PAT | EXIT_CTL_LOAD_PAT | EXIT_CTL_ACK_INTR_ON_EXIT);
	VMCS_SET(v, VM_ENTRY_CONTROLS,
		 (u32)capv(MSR_IA32_VMX_TRUE_ENTRY_CTLS) | ENTRY_CTL_IA32E_MODE_GUEST |
			 ENTRY_CTL_LOAD_DEBUG_CONTROLS | ENTRY_CTL_LOAD_EFER | ENTRY_CTL_LOAD_PAT);

	/* Host state: a 64-bit host. */
	VMCS_SET(v, HOST_CR0, CR0_PE | CR0_MP | CR0_ET | CR0_NE | CR0_WP | CR0_PG);
	VMCS_SET(v, HOST_CR3, 0x5000);
	VMCS_SET(v, HOST_CR4, CR4_PAE | CR4_VMXE);
	VMCS_SET(v, HOST_CS_SELECTOR, 0x08);
	VMCS_SET(v, HOST_SS_SELECTOR, 0x10);
	VMCS_SET(v, HOST_DS_SELECTOR, 0x10);
	VMCS_SET(v, HOST_ES_SELECTOR, 0x10);
	VMCS_SET(v, HOST_TR_SELECTOR, 0x18);
	VMCS_SET(v, HOST_TR_BASE, 0xffff800000003000ull);
	VMCS_SET(v, HOST_GDTR_BASE, 0xffff800000002000ull);
	VMCS_SET(v, HOST_IDTR_BASE, 0xffff800000004000ull);
	VMCS_SET(v, HOST_IA32_PAT, 0x0007040600070406ull);
	VMCS_SET(v, HOST_IA32_EFER, EFER_LME | EFER_LMA | EFER_SCE);
	VMCS_SET(v, HOST_RIP, 0xffffffff81000000ull);
	VMCS_SET(v, HOST_RSP, 0xffffffff81100000ull);

	/* Guest state: 64-bit, CPL 0. */
	VMCS_SET(v, GUEST_CR0, CR0_PE | CR0_MP | CR0_ET | CR0_NE | CR0_WP | CR0_PG);
	VMCS_SET(v, GUEST_CR3, PML4);
	VMCS_SET(v, GUEST_CR4, CR4_PAE | CR4_VMXE);
	VMCS_SET(v, GUEST_DR7, 0x400);
	VMCS_SET(v, GUEST_IA32_EFER, EFER_LME | EFER_LMA | EFER_SCE | EFER_NXE);
	VMCS_SET(v, GUEST_IA32_PAT, 0x0007040600070406ull);
	set_seg(SEG_CS, 0x08, 0, 0xffffffff, 0xa09b);
	set_seg(SEG_SS, 0x10, 0, 0xffffffff, 0xc093);
	set_seg(SEG_DS, 0x10, 0, 0xffffffff, 0xc093);
	set_seg(SEG_ES, 0x10, 0, 0xffffffff, 0xc093);
	set_seg(SEG_FS, 0, 0, 0, AR_UNUSABLE);
	set_seg(SEG_GS, 0x10, 0xffff800000000000ull, 0xffffffff, 0xc093);
	set_seg(SEG_LDTR, 0, 0, 0, AR_UNUSABLE);
	set_seg(SEG_TR, 0x18, TSS, 0x67, 0x8b);
	VMCS_SET(v, GUEST_GDTR_BASE, GDT);
	VMCS_SET(v, GUEST_GDTR_LIMIT, 0x1f);
	VMCS_SET(v, GUEST_IDTR_BASE, IDT);
	VMCS_SET(v, GUEST_IDTR_LIMIT, 0xfff);
	VMCS_SET(v, GUEST_RIP, CODE);
	VMCS_SET(v, GUEST_RSP, 0x8000);
	VMCS_SET(v, GUEST_RFLAGS, X86_FIXED1);
	VMCS_SET(v, VMCS_LINK_POINTER, ~0ull);
}

static void reset_cpu(void)
{
	struct cpu_config cfg = {
		.ram = mem, .ram_size = RAM_SIZE, .host_ptr = test_host_ptr,
	};

	if (cpu)
		cpu_destroy(cpu);
	cpu = cpu_create(&cfg);
	if (!cpu) {
		fprintf(stderr, "cpu_create failed\n");
		exit(2);
	}
	vx = (struct vmx_vcpu){ .cpu = cpu, .vmcs = &vmcs, .host_ptr = test_host_ptr };
}

static void setup_memory(void)
{
	static const u8 code[] = {
		0x0f, 0xa2,		      /* cpuid */
		0xf4,			      /* hlt */
		0x48, 0xc7, 0xc0, 1, 0, 0, 0, /* mov rax, 1 */
		0xeb, 0xfe,		      /* jmp $ */
	};

	mem = aligned_alloc(4096, MEM_SIZE);
	memset(mem, 0, MEM_SIZE);
	memcpy(mem + CODE, code, sizeof(code));
	w64(PML4, (PML4 + 0x1000) | 3);
	w64(PML4 + 0x1000, (PML4 + 0x2000) | 3);
	w64(PML4 + 0x2000, 0x83); /* 2 MiB page at 0 */
	w64(GDT + 8, 0x00af9b000000ffffull);
	w64(GDT + 16, 0x00cf93000000ffffull);
}

/* Entry must fail with VMfailValid `err`: field set, record untouched, nothing executed. */
static void expect_fail_valid(int err, int line)
{
	struct vm_exit ex = { .reason = 0xdead, .qual = 0xbeef };
	u64 icount = cpu_icount(cpu);
	int got;

	vmcs.vm_instruction_error = 0;
	got = vmx_run(&vx, false, &ex);
	if (got != err || vmcs.vm_instruction_error != (u64)err || ex.reason != 0xdead ||
	    cpu_icount(cpu) != icount || vmcs.launched) {
		check_failed++;
		fprintf(stderr, "FAIL line %d: want VMfailValid %d, got %d (field %llu, reason %#x)\n",
			line, err, got, (unsigned long long)vmcs.vm_instruction_error, ex.reason);
	} else {
		check_passed++;
	}
}

/* Entry must fail with exit `reason` | bit 31 and `qual`; nothing executed, still clear. */
static void expect_entry_exit(u32 reason, u64 qual, int line)
{
	struct vm_exit ex;
	u64 icount = cpu_icount(cpu);
	int got = vmx_run(&vx, false, &ex);
	u32 want = reason | (u32)EXIT_REASON_FAILED_VMENTRY;

	if (got != 0 || ex.reason != want || ex.qual != qual || vmcs.vm_exit_reason != want ||
	    vmcs.exit_qualification != qual || cpu_icount(cpu) != icount || vmcs.launched ||
	    (vmcs.vm_entry_intr_info_field & INTR_INFO_VALID)) {
		check_failed++;
		fprintf(stderr, "FAIL line %d: want exit %#x qual %llu, got ret %d reason %#x "
				"qual %llu\n",
			line, want, (unsigned long long)qual, got, ex.reason,
			(unsigned long long)ex.qual);
	} else {
		check_passed++;
	}
}

/* Break one thing in a good VMCS and expect the SDM's outcome. */
#define CTL(stmt)                                                                                \
	do {                                                                                     \
		good_vmcs();                                                                     \
		stmt;                                                                            \
		expect_fail_valid(VMXERR_ENTRY_INVALID_CONTROL, __LINE__);                       \
	} while (0)
#define HOST(stmt)                                                                               \
	do {                                                                                     \
		good_vmcs();                                                                     \
		stmt;                                                                            \
		expect_fail_valid(VMXERR_ENTRY_INVALID_HOST_STATE, __LINE__);                    \
	} while (0)
#define GUESTQ(stmt, qual)                                                                       \
	do {                                                                                     \
		good_vmcs();                                                                     \
		stmt;                                                                            \
		expect_entry_exit(EXIT_REASON_INVALID_STATE, (qual), __LINE__);                  \
	} while (0)
#define GUEST(stmt) GUESTQ(stmt, 0)
/* The same change must pass all checks (to show a rule is not over-strict). */
#define OK(stmt)                                                                                 \
	do {                                                                                     \
		u64 q_;                                                                          \
		good_vmcs();                                                                     \
		stmt;                                                                            \
		CHECK_EQ(vmx_check_controls(&vx), 0);                                           \
		CHECK_EQ(vmx_check_host_state(&vx), 0);                                         \
		CHECK_EQ(vmx_check_guest_state(&vx, &q_), 0);                                   \
	} while (0)

#define V (&vmcs)
#define PROC (u32)V->cpu_based_vm_exec_control
#define PROC2 (u32)V->secondary_vm_exec_control
#define PIN (u32)V->pin_based_vm_exec_control
#define EXITC (u32)V->vm_exit_controls
#define ENTRYC (u32)V->vm_entry_controls
#define EPT_UG (PROC2_ENABLE_EPT | PROC2_UNRESTRICTED_GUEST)

/*
 * VMCS shadowing (SDM vol. 3C 25.10): the controls' checks (27.2.1.1), the link pointer's with
 * the shadow-VMCS indicator (27.3.1.5), and a guest whose VMREAD and VMWRITE reach the shadow
 * VMCS without exits unless the bitmaps say so.
 */
static void test_vmcs_shadowing(void)
{
	static const u8 code[] = {
		0x48, 0xc7, 0xc0, 0x1e, 0x68, 0, 0, /* mov rax, GUEST_RIP (0x681e) */
		0x48, 0xc7, 0xc3, 0x34, 0x12, 0, 0, /* mov rbx, 0x1234 */
		0x0f, 0x79, 0xc3,		    /* vmwrite rax, rbx */
		0x0f, 0x78, 0xc1,		    /* vmread rcx, rax */
		0x48, 0xc7, 0xc0, 0x02, 0x44, 0, 0, /* mov rax, VM_EXIT_REASON (0x4402) */
		0x0f, 0x79, 0xc3,		    /* vmwrite rax, rbx: read-only, VMfailValid 13 */
		0x9c,				    /* pushf */
		0x5a,				    /* pop rdx */
		0x48, 0xc7, 0xc0, 0x1c, 0x68, 0, 0, /* mov rax, GUEST_RSP (0x681c) */
		0x0f, 0x78, 0xc1,		    /* vmread rcx, rax: in the bitmap, exits */
		0xeb, 0xfe,
	};
	u32 rev = VMCS_REVISION_ID | BIT(31);
	struct vmcs shadow;
	struct vm_exit ex;
	u64 v = 0, rip, rdx;

#define SHADOWING()                                                                              \
	do {                                                                                     \
		VMCS_SET(V, SECONDARY_VM_EXEC_CONTROL, PROC2 | PROC2_VMCS_SHADOWING);            \
		VMCS_SET(V, VMREAD_BITMAP, VMREAD_BM);                                           \
		VMCS_SET(V, VMWRITE_BITMAP, VMWRITE_BM);                                         \
		VMCS_SET(V, VMCS_LINK_POINTER, SHADOW_VMCS);                                     \
	} while (0)
	vmcs_init(&shadow);
	vmcs_to_region(&shadow, mem + SHADOW_VMCS);
	memcpy(mem + SHADOW_VMCS, &rev, 4);
	memset(mem + VMREAD_BM, 0, 4096);
	memset(mem + VMWRITE_BM, 0, 4096);
	OK(SHADOWING());
	CTL({
		SHADOWING();
		VMCS_SET(V, VMREAD_BITMAP, VMREAD_BM + 8);
	});
	CTL({
		SHADOWING();
		VMCS_SET(V, VMWRITE_BITMAP, 1ull << 50);
	});
	/* The link pointer's revision must carry bit 31 exactly when shadowing is on. */
	GUESTQ(VMCS_SET(V, VMCS_LINK_POINTER, SHADOW_VMCS), 4);
	memcpy(mem + SHADOW_VMCS, &(u32){ VMCS_REVISION_ID }, 4);
	OK(VMCS_SET(V, VMCS_LINK_POINTER, SHADOW_VMCS));
	GUESTQ(SHADOWING(), 4);
	memcpy(mem + SHADOW_VMCS, &rev, 4);

	/* The guest: VMWRITE and VMREAD of GUEST_RIP in the shadow, a read-only VMWRITE, then a
	   VMREAD whose bitmap bit is set. */
	mem[VMREAD_BM + (GUEST_RSP >> 3)] |= BIT(GUEST_RSP & 7);
	memcpy(mem + SHADOW_CODE, code, sizeof(code));
	good_vmcs();
	SHADOWING();
	VMCS_SET(V, GUEST_RIP, SHADOW_CODE);
	CHECK_EQ(vmx_run(&vx, false, &ex), 0);
	CHECK_EQ(ex.reason, EXIT_REASON_VMREAD);
	rip = vmcs.guest_rip;
	CHECK_EQ(rip, SHADOW_CODE + sizeof(code) - 5);
	CHECK_EQ(vmcs_region_access(mem + SHADOW_VMCS, GUEST_RIP, false, &v, false), 0);
	CHECK_EQ(v, 0x1234);
	CHECK_EQ(vmcs_region_access(mem + SHADOW_VMCS, VM_INSTRUCTION_ERROR, false, &v, false), 0);
	CHECK_EQ(v, VMXERR_WRITE_READONLY);
	vmcs_from_region(&shadow, mem + SHADOW_VMCS);
	CHECK_EQ(shadow.guest_rip, 0x1234);
	{
		struct x86_regs r;

		cpu_get_regs(cpu, &r);
		CHECK_EQ(r.gpr[R_RCX], 0x1234);
		rdx = r.gpr[R_RDX];
		CHECK_EQ(rdx & (X86_ZF | X86_CF), X86_ZF);
	}
	CHECK_EQ(vmcs.guest_rip, rip);
#undef SHADOWING
}

static void test_good(void)
{
	struct vm_exit ex;
	u64 q = 9;

	good_vmcs();
	CHECK_EQ(vmx_check_controls(&vx), 0);
	CHECK_EQ(vmx_check_host_state(&vx), 0);
	CHECK_EQ(vmx_check_guest_state(&vx, &q), 0);
	CHECK_EQ(q, 0);
	/* VMRESUME of a clear VMCS: 5. */
	{
		struct vm_exit e2 = { .reason = 0xdead };

		CHECK_EQ(vmx_run(&vx, true, &e2), VMXERR_VMRESUME_NONLAUNCHED);
		CHECK_EQ(vmcs.vm_instruction_error, VMXERR_VMRESUME_NONLAUNCHED);
		CHECK_EQ(e2.reason, 0xdead);
	}
	/* The guest runs CPUID: exit 10, length 2, RIP on the instruction. */
	CHECK_EQ(vmx_run(&vx, false, &ex), 0);
	CHECK_EQ(ex.reason, EXIT_REASON_CPUID);
	CHECK_EQ(ex.insn_len, 2);
	CHECK_EQ(vmcs.vm_exit_reason, EXIT_REASON_CPUID);
	CHECK_EQ(vmcs.vm_exit_instruction_len, 2);
	CHECK_EQ(vmcs.guest_rip, CODE);
	CHECK(vmcs.launched);
	CHECK(!vmcs.guest_dirty);
	CHECK_EQ(vmcs.guest_ia32_efer & EFER_LMA, EFER_LMA);
	CHECK(vmcs.vm_entry_controls & ENTRY_CTL_IA32E_MODE_GUEST);
	CHECK_EQ(vmcs.guest_cs_ar_bytes, 0xa09b);
	CHECK_EQ(vmcs.guest_tr_base, TSS);
	CHECK_EQ(vmcs.guest_rsp, 0x8000);
	CHECK_EQ(vmcs.guest_dr7, 0x400);
	/* VMLAUNCH of a launched VMCS: 4. */
	CHECK_EQ(vmx_run(&vx, false, &ex), VMXERR_VMLAUNCH_NONCLEAR);
	CHECK_EQ(vmcs.vm_instruction_error, VMXERR_VMLAUNCH_NONCLEAR);
	/* Advance past CPUID: HLT exits (12), length 1. */
	VMCS_SET(&vmcs, GUEST_RIP, vmcs.guest_rip + ex.insn_len);
	CHECK_EQ(vmx_run(&vx, true, &ex), 0);
	CHECK_EQ(ex.reason, EXIT_REASON_HLT);
	CHECK_EQ(ex.insn_len, 1);
	CHECK_EQ(vmcs.guest_rip, CODE + 2);
	/* Without touching guest state, resume again: HLT again (RIP not advanced). */
	CHECK_EQ(vmx_run(&vx, true, &ex), 0);
	CHECK_EQ(ex.reason, EXIT_REASON_HLT);
	CHECK_EQ(vmcs.guest_rip, CODE + 2);
	/* Only RIP written (the entry checks RIP's rule alone, vmcs.h VMCS_DIRTY_RIP): bits 63:48
	   not all equal fails as the full checks would (27.3.1.4), exit 33, nothing run. */
	VMCS_SET(&vmcs, GUEST_RIP, 0x0001000000000000ull);
	CHECK_EQ(vmcs.guest_dirty, VMCS_DIRTY_RIP);
	CHECK_EQ(vmx_run(&vx, true, &ex), 0);
	CHECK_EQ(ex.reason, EXIT_REASON_INVALID_STATE | EXIT_REASON_FAILED_VMENTRY);
	VMCS_SET(&vmcs, GUEST_RIP, CODE + 2);
	CHECK_EQ(vmx_run(&vx, true, &ex), 0);
	CHECK_EQ(ex.reason, EXIT_REASON_HLT);
	CHECK_EQ(vmcs.guest_rip, CODE + 2);
	/* After a successful entry, a VMWRITE to a control is checked again at the next one... */
	VMCS_SET(&vmcs, VIRTUAL_PROCESSOR_ID, 0);
	CHECK_EQ(vmx_run(&vx, true, &ex), VMXERR_ENTRY_INVALID_CONTROL);
	VMCS_SET(&vmcs, VIRTUAL_PROCESSOR_ID, 1);
	/* ... and so is a write to the guest state (exit 33, the VMCS stays launched). */
	VMCS_SET(&vmcs, GUEST_RFLAGS, 0);
	CHECK_EQ(vmx_run(&vx, true, &ex), 0);
	CHECK_EQ(ex.reason, EXIT_REASON_INVALID_STATE | EXIT_REASON_FAILED_VMENTRY);
	CHECK(vmcs.launched);
	VMCS_SET(&vmcs, GUEST_RFLAGS, X86_FIXED1);
	/*
	 * A pending MTF VM exit injected as type 7 vector 0 (SDM 27.5.2): exit 37 before the
	 * guest executes anything, RIP still on the HLT.
	 */
	VMCS_SET(&vmcs, VM_ENTRY_INTR_INFO_FIELD, INTR_INFO_VALID | INTR_TYPE_OTHER_EVENT << 8);
	CHECK_EQ(vmx_run(&vx, true, &ex), 0);
	CHECK_EQ(ex.reason, EXIT_REASON_MONITOR_TRAP_FLAG);
	CHECK_EQ(vmcs.guest_rip, CODE + 2);
	CHECK(!(vmcs.vm_entry_intr_info_field & INTR_INFO_VALID));
	/* An injected #UD with the IDT empty (limit 0) triple-faults: reason 2. */
	VMCS_SET(&vmcs, GUEST_IDTR_LIMIT, 0);
	VMCS_SET(&vmcs, VM_ENTRY_INTR_INFO_FIELD, INTR_INFO_VALID | 3 << 8 | X86_UD);
	CHECK_EQ(vmx_run(&vx, true, &ex), 0);
	CHECK_EQ(ex.reason, EXIT_REASON_TRIPLE_FAULT);
	CHECK(!(vmcs.vm_entry_intr_info_field & INTR_INFO_VALID));
	reset_cpu();
}

/*
 * A RIP the entry check accepts but that is not canonical (a VMM advanced RIP past the end of
 * the canonical range): the entry succeeds and fetching there is #GP(0) in the guest (SDM vol. 1
 * 3.3.7.1), here an exception-bitmap exit with RIP still on that address.
 */
static void test_rip_past_canonical(void)
{
	struct vm_exit ex;

	good_vmcs();
	VMCS_SET(&vmcs, GUEST_RIP, 0x0000800000000000ull);
	VMCS_SET(&vmcs, EXCEPTION_BITMAP, BIT(X86_GP));
	CHECK_EQ(vmx_run(&vx, false, &ex), 0);
	CHECK_EQ(ex.reason, EXIT_REASON_EXCEPTION_NMI);
	CHECK_EQ(ex.intr_info, X86_GP | INTR_TYPE_HARD_EXCEPTION << 8 | INTR_INFO_DELIVER_CODE |
				       INTR_INFO_VALID);
	CHECK_EQ(ex.intr_error, 0);
	CHECK_EQ(ex.rip, 0x0000800000000000ull);
	CHECK_EQ(vmcs.guest_rip, 0x0000800000000000ull);
	reset_cpu();
}

/*
 * HLT without HLT exiting, and nothing the model delivers can wake the guest (no external-
 * interrupt exiting, no preemption timer): there is no VM exit (SDM 26.1.3: HLT exits only with
 * "HLT exiting"; 25.4.2: the HLT activity state). vmx_run comes back with VMX_RUN_HALTED; the
 * exit-information fields keep their values; the guest-state area shows the halted guest.
 */
static void test_hlt_without_exiting(void)
{
	struct vm_exit ex;

	good_vmcs();
	VMCS_SET(V, CPU_BASED_VM_EXEC_CONTROL, PROC & ~PROC_HLT_EXITING);
	VMCS_SET(V, GUEST_RIP, CODE + 2); /* the HLT after CPUID */
	vmcs.vm_exit_reason = 0xdead;
	CHECK_EQ(vmx_run(&vx, false, &ex), VMX_RUN_HALTED);
	CHECK(ex.reason != EXIT_REASON_HLT);
	CHECK_EQ(vmcs.vm_exit_reason, 0xdead);
	CHECK_EQ(vmcs.guest_activity_state, GUEST_ACTIVITY_HLT);
	CHECK_EQ(vmcs.guest_rip, CODE + 3);
	CHECK(vmcs.launched);
	/* Resumed as it is, it stays halted; with external-interrupt exiting the model's host timer
	   ends the HLT state with exit 1. */
	CHECK_EQ(vmx_run(&vx, true, &ex), VMX_RUN_HALTED);
	VMCS_SET(V, PIN_BASED_VM_EXEC_CONTROL, PIN | PIN_EXTINT_EXITING);
	CHECK_EQ(vmx_run(&vx, true, &ex), 0);
	CHECK_EQ(ex.reason, EXIT_REASON_EXTERNAL_INTERRUPT);
	CHECK_EQ(vmcs.guest_activity_state, GUEST_ACTIVITY_HLT);
	reset_cpu();
}

static void test_msr_lists(void)
{
	struct vm_exit ex;
	u64 v;

	/* Entry MSR-load list: entry 2 bad -> exit 34 with qualification 2. */
	good_vmcs();
	w64(MSR_LIST, MSR_IA32_SYSENTER_EIP);
	w64(MSR_LIST + 8, 0x1234);
	w64(MSR_LIST + 16, MSR_IA32_FS_BASE);
	w64(MSR_LIST + 24, 0);
	VMCS_SET(V, VM_ENTRY_MSR_LOAD_ADDR, MSR_LIST);
	VMCS_SET(V, VM_ENTRY_MSR_LOAD_COUNT, 2);
	expect_entry_exit(EXIT_REASON_MSR_LOAD_FAIL, 2, __LINE__);
	/* Reserved bits set in entry 1 -> qualification 1. */
	good_vmcs();
	w64(MSR_LIST, MSR_IA32_SYSENTER_EIP | 1ull << 32);
	VMCS_SET(V, VM_ENTRY_MSR_LOAD_ADDR, MSR_LIST);
	VMCS_SET(V, VM_ENTRY_MSR_LOAD_COUNT, 1);
	expect_entry_exit(EXIT_REASON_MSR_LOAD_FAIL, 1, __LINE__);
	/* x2APIC MSR. */
	good_vmcs();
	w64(MSR_LIST, 0x808);
	VMCS_SET(V, VM_ENTRY_MSR_LOAD_ADDR, MSR_LIST);
	VMCS_SET(V, VM_ENTRY_MSR_LOAD_COUNT, 1);
	expect_entry_exit(EXIT_REASON_MSR_LOAD_FAIL, 1, __LINE__);
	/* An MSR the CPU does not have. */
	good_vmcs();
	w64(MSR_LIST, 0x12345);
	VMCS_SET(V, VM_ENTRY_MSR_LOAD_ADDR, MSR_LIST);
	VMCS_SET(V, VM_ENTRY_MSR_LOAD_COUNT, 1);
	expect_entry_exit(EXIT_REASON_MSR_LOAD_FAIL, 1, __LINE__);
	/* More than 512 entries. */
	good_vmcs();
	VMCS_SET(V, VM_ENTRY_MSR_LOAD_ADDR, MSR_LIST);
	VMCS_SET(V, VM_ENTRY_MSR_LOAD_COUNT, 513);
	expect_entry_exit(EXIT_REASON_MSR_LOAD_FAIL, 513, __LINE__);

	/* A good list loads; the exit MSR-store list stores. */
	reset_cpu();
	good_vmcs();
	w64(MSR_LIST, MSR_IA32_LSTAR);
	w64(MSR_LIST + 8, 0xffffffff81234560ull);
	VMCS_SET(V, VM_ENTRY_MSR_LOAD_ADDR, MSR_LIST);
	VMCS_SET(V, VM_ENTRY_MSR_LOAD_COUNT, 1);
	w64(MSR_STORE, MSR_IA32_LSTAR);
	w64(MSR_STORE + 8, 0);
	VMCS_SET(V, VM_EXIT_MSR_STORE_ADDR, MSR_STORE);
	VMCS_SET(V, VM_EXIT_MSR_STORE_COUNT, 1);
	CHECK_EQ(vmx_run(&vx, false, &ex), 0);
	CHECK_EQ(ex.reason, EXIT_REASON_CPUID);
	CHECK_EQ(cpu_get_msr(cpu, MSR_IA32_LSTAR, &v), 0);
	CHECK_EQ(v, 0xffffffff81234560ull);
	memcpy(&v, mem + MSR_STORE + 8, 8);
	CHECK_EQ(v, 0xffffffff81234560ull);
	CHECK_EQ(vmcs.abort_indicator, 0);
	/* A bad store entry: VMX abort indicator 1. */
	w64(MSR_STORE, 0x12345);
	CHECK_EQ(vmx_run(&vx, true, &ex), 0);
	CHECK_EQ(vmcs.abort_indicator, 1);
	reset_cpu();
}

static void test_controls(void)
{
	/* Capability-MSR enforcement (27.2.1.1-27.2.1.3). */
	CTL(VMCS_SET(V, PIN_BASED_VM_EXEC_CONTROL, PIN & ~BIT(1)));	  /* default1 */
	/* Posted interrupts without virtual-interrupt delivery (27.2.1.1). */
	CTL(VMCS_SET(V, PIN_BASED_VM_EXEC_CONTROL, PIN | PIN_POSTED_INTERRUPTS));
	CTL(VMCS_SET(V, PIN_BASED_VM_EXEC_CONTROL, PIN | BIT(8)));
	CTL(VMCS_SET(V, CPU_BASED_VM_EXEC_CONTROL, PROC & ~BIT(26)));
	CTL(VMCS_SET(V, CPU_BASED_VM_EXEC_CONTROL, PROC & ~BIT(1)));
	CTL(VMCS_SET(V, CPU_BASED_VM_EXEC_CONTROL, PROC | BIT(0)));
	/* Virtualize APIC accesses with an APIC-access address of 0 is a valid page; with
	   bits 11:0 set it is not (27.2.1.1). */
	CTL(VMCS_SET(V, SECONDARY_VM_EXEC_CONTROL, PROC2 | PROC2_VIRT_APIC_ACCESSES);
	    VMCS_SET(V, APIC_ACCESS_ADDR, 0xfee00001));
	CTL(VMCS_SET(V, SECONDARY_VM_EXEC_CONTROL, PROC2 | BIT(13))); /* enable VM functions */
	CTL(VMCS_SET(V, SECONDARY_VM_EXEC_CONTROL, PROC2 | BIT(18))); /* EPT-violation #VE */
	CTL(VMCS_SET(V, VM_EXIT_CONTROLS, EXITC & ~BIT(0)));
	CTL(VMCS_SET(V, VM_EXIT_CONTROLS, EXITC | BIT(12)));
	CTL(VMCS_SET(V, VM_EXIT_CONTROLS, EXITC | BIT(23)));
	CTL(VMCS_SET(V, VM_ENTRY_CONTROLS, ENTRYC & ~BIT(12)));
	CTL(VMCS_SET(V, VM_ENTRY_CONTROLS, ENTRYC | ENTRY_CTL_ENTRY_TO_SMM));
	CTL(VMCS_SET(V, VM_ENTRY_CONTROLS, ENTRYC | ENTRY_CTL_DEACT_DUAL_MONITOR));
	CTL(VMCS_SET(V, VM_ENTRY_CONTROLS, ENTRYC | BIT(13)));
	/* TRUE MSRs let software clear these default1 bits. */
	OK(VMCS_SET(V, CPU_BASED_VM_EXEC_CONTROL, PROC & ~(PROC_CR3_LOAD_EXITING |
							    PROC_CR3_STORE_EXITING)));
	OK(VMCS_SET(V, VM_EXIT_CONTROLS, EXITC & ~EXIT_CTL_SAVE_DEBUG_CONTROLS));
	/* Secondary controls are ignored when the primary control is 0. */
	OK({
		VMCS_SET(V, SECONDARY_VM_EXEC_CONTROL, 0xffffffff);
		VMCS_SET(V, CPU_BASED_VM_EXEC_CONTROL, PROC & ~PROC_SECONDARY_CONTROLS);
	});

	/* CR3-target count. */
	CTL(VMCS_SET(V, CR3_TARGET_COUNT, 5));
	OK(VMCS_SET(V, CR3_TARGET_COUNT, 4));
	/* I/O bitmaps: aligned, within the width, host memory. */
	CTL(VMCS_SET(V, IO_BITMAP_A, IO_BITMAP_A_PA + 8));
	CTL(VMCS_SET(V, IO_BITMAP_B, IO_BITMAP_B_PA + 0x800));
	CTL(VMCS_SET(V, IO_BITMAP_A, 1ull << CPU_MAXPHYADDR));
	CTL(VMCS_SET(V, IO_BITMAP_B, 0x10000000));
	OK({
		VMCS_SET(V, IO_BITMAP_A, 0x10000001);
		VMCS_SET(V, CPU_BASED_VM_EXEC_CONTROL, PROC & ~PROC_USE_IO_BITMAPS);
	});
	/* MSR bitmap. */
	CTL(VMCS_SET(V, MSR_BITMAP, MSR_BITMAP_PA + 0x10));
	CTL(VMCS_SET(V, MSR_BITMAP, 1ull << 52));
	CTL(VMCS_SET(V, MSR_BITMAP, 0x20000000));
	/* TPR shadow: virtual-APIC address, TPR threshold. */
	CTL({
		VMCS_SET(V, CPU_BASED_VM_EXEC_CONTROL, PROC | PROC_TPR_SHADOW);
		VMCS_SET(V, VIRTUAL_APIC_PAGE_ADDR, VAPIC + 4);
	});
	CTL({
		VMCS_SET(V, CPU_BASED_VM_EXEC_CONTROL, PROC | PROC_TPR_SHADOW);
		VMCS_SET(V, VIRTUAL_APIC_PAGE_ADDR, 1ull << 45);
	});
	CTL({
		VMCS_SET(V, CPU_BASED_VM_EXEC_CONTROL, PROC | PROC_TPR_SHADOW);
		VMCS_SET(V, TPR_THRESHOLD, 0x10);
	});
	CTL({
		VMCS_SET(V, CPU_BASED_VM_EXEC_CONTROL, PROC | PROC_TPR_SHADOW);
		mem[VAPIC + 0x80] = 0x30;
		VMCS_SET(V, TPR_THRESHOLD, 4);
	});
	OK({
		VMCS_SET(V, CPU_BASED_VM_EXEC_CONTROL, PROC | PROC_TPR_SHADOW);
		mem[VAPIC + 0x80] = 0x30;
		VMCS_SET(V, TPR_THRESHOLD, 3);
	});
	mem[VAPIC + 0x80] = 0;
	/* APIC virtualization (27.2.1.1). The TPR shadow is needed by x2APIC virtualization,
	   APIC-register virtualization and virtual-interrupt delivery. */
#define TPRS (PROC | PROC_TPR_SHADOW)
#define VIDS (PROC2 | PROC2_VIRT_INTR_DELIVERY)
	CTL(VMCS_SET(V, SECONDARY_VM_EXEC_CONTROL, PROC2 | PROC2_VIRT_X2APIC));
	CTL(VMCS_SET(V, SECONDARY_VM_EXEC_CONTROL, PROC2 | PROC2_APIC_REG_VIRT));
	CTL({
		VMCS_SET(V, PIN_BASED_VM_EXEC_CONTROL, PIN | PIN_EXTINT_EXITING);
		VMCS_SET(V, SECONDARY_VM_EXEC_CONTROL, VIDS);
	});
	OK({
		VMCS_SET(V, CPU_BASED_VM_EXEC_CONTROL, TPRS);
		VMCS_SET(V, SECONDARY_VM_EXEC_CONTROL, PROC2 | PROC2_VIRT_X2APIC | PROC2_APIC_REG_VIRT);
	});
	/* x2APIC virtualization and APIC-access virtualization exclude each other. */
	CTL({
		VMCS_SET(V, CPU_BASED_VM_EXEC_CONTROL, TPRS);
		VMCS_SET(V, SECONDARY_VM_EXEC_CONTROL,
			 PROC2 | PROC2_VIRT_X2APIC | PROC2_VIRT_APIC_ACCESSES);
	});
	CTL({
		VMCS_SET(V, SECONDARY_VM_EXEC_CONTROL, PROC2 | PROC2_VIRT_APIC_ACCESSES);
		VMCS_SET(V, APIC_ACCESS_ADDR, 1ull << 45);
	});
	OK({
		VMCS_SET(V, SECONDARY_VM_EXEC_CONTROL, PROC2 | PROC2_VIRT_APIC_ACCESSES);
		VMCS_SET(V, APIC_ACCESS_ADDR, 0xfee00000);
	});
	/* Virtual-interrupt delivery needs external-interrupt exiting; with it the TPR
	   threshold's high bits and the VTPR comparison are not checked. */
	CTL({
		VMCS_SET(V, CPU_BASED_VM_EXEC_CONTROL, TPRS);
		VMCS_SET(V, SECONDARY_VM_EXEC_CONTROL, VIDS);
	});
	OK({
		VMCS_SET(V, PIN_BASED_VM_EXEC_CONTROL, PIN | PIN_EXTINT_EXITING);
		VMCS_SET(V, CPU_BASED_VM_EXEC_CONTROL, TPRS);
		VMCS_SET(V, SECONDARY_VM_EXEC_CONTROL, VIDS);
		VMCS_SET(V, TPR_THRESHOLD, 0xfff);
	});
	/* Virtualize APIC accesses alone also skips the VTPR comparison. */
	OK({
		VMCS_SET(V, CPU_BASED_VM_EXEC_CONTROL, TPRS);
		VMCS_SET(V, SECONDARY_VM_EXEC_CONTROL, PROC2 | PROC2_VIRT_APIC_ACCESSES);
		VMCS_SET(V, TPR_THRESHOLD, 4);
	});
	/* Posted interrupts: virtual-interrupt delivery, acknowledge interrupt on exit, a
	   vector in bits 7:0, a 64-byte aligned descriptor within the width. */
#define PIS                                                                                       \
	do {                                                                                      \
		VMCS_SET(V, PIN_BASED_VM_EXEC_CONTROL,                                            \
			 PIN | PIN_EXTINT_EXITING | PIN_POSTED_INTERRUPTS);                        \
		VMCS_SET(V, CPU_BASED_VM_EXEC_CONTROL, TPRS);                                     \
		VMCS_SET(V, SECONDARY_VM_EXEC_CONTROL, VIDS);                                     \
		VMCS_SET(V, POSTED_INTR_NV, 0xf2);                                                \
		VMCS_SET(V, POSTED_INTR_DESC_ADDR, VAPIC + 0x800);                                \
	} while (0)
	OK(PIS);
	CTL({
		PIS;
		VMCS_SET(V, SECONDARY_VM_EXEC_CONTROL, PROC2 & ~PROC2_VIRT_INTR_DELIVERY);
	});
	CTL({
		PIS;
		VMCS_SET(V, VM_EXIT_CONTROLS, EXITC & ~EXIT_CTL_ACK_INTR_ON_EXIT);
	});
	CTL({
		PIS;
		VMCS_SET(V, POSTED_INTR_NV, 0x1f2);
	});
	CTL({
		PIS;
		VMCS_SET(V, POSTED_INTR_DESC_ADDR, VAPIC + 0x820);
	});
	CTL({
		PIS;
		VMCS_SET(V, POSTED_INTR_DESC_ADDR, 1ull << 45);
	});
#undef PIS
#undef TPRS
#undef VIDS
	/* NMI exiting / virtual NMIs / NMI-window exiting. */
	CTL(VMCS_SET(V, PIN_BASED_VM_EXEC_CONTROL, PIN | PIN_VIRTUAL_NMIS));
	CTL(VMCS_SET(V, CPU_BASED_VM_EXEC_CONTROL, PROC | PROC_NMI_WINDOW_EXITING));
	OK({
		VMCS_SET(V, PIN_BASED_VM_EXEC_CONTROL, PIN | PIN_NMI_EXITING | PIN_VIRTUAL_NMIS);
		VMCS_SET(V, CPU_BASED_VM_EXEC_CONTROL, PROC | PROC_NMI_WINDOW_EXITING);
	});
	/* VPID != 0. */
	CTL(VMCS_SET(V, VIRTUAL_PROCESSOR_ID, 0));
	/* EPTP: memory type, walk length, reserved bits, width. */
	OK(VMCS_SET(V, SECONDARY_VM_EXEC_CONTROL, PROC2 | PROC2_ENABLE_EPT));
	OK({
		VMCS_SET(V, SECONDARY_VM_EXEC_CONTROL, PROC2 | PROC2_ENABLE_EPT);
		VMCS_SET(V, EPT_POINTER, (EPTP_GOOD & ~7ull) | EPTP_AD_ENABLE);
	});
	CTL({
		VMCS_SET(V, SECONDARY_VM_EXEC_CONTROL, PROC2 | PROC2_ENABLE_EPT);
		VMCS_SET(V, EPT_POINTER, (EPTP_GOOD & ~7ull) | 1);
	});
	CTL({
		VMCS_SET(V, SECONDARY_VM_EXEC_CONTROL, PROC2 | PROC2_ENABLE_EPT);
		VMCS_SET(V, EPT_POINTER, (EPTP_GOOD & ~7ull) | 5);
	});
	CTL({
		VMCS_SET(V, SECONDARY_VM_EXEC_CONTROL, PROC2 | PROC2_ENABLE_EPT);
		VMCS_SET(V, EPT_POINTER, EPTP_GOOD & ~0x38ull);
	});
	CTL({
		VMCS_SET(V, SECONDARY_VM_EXEC_CONTROL, PROC2 | PROC2_ENABLE_EPT);
		VMCS_SET(V, EPT_POINTER, (EPTP_GOOD & ~0x38ull) | 4 << 3);
	});
	CTL({
		VMCS_SET(V, SECONDARY_VM_EXEC_CONTROL, PROC2 | PROC2_ENABLE_EPT);
		VMCS_SET(V, EPT_POINTER, EPTP_GOOD | BIT(7));
	});
	CTL({
		VMCS_SET(V, SECONDARY_VM_EXEC_CONTROL, PROC2 | PROC2_ENABLE_EPT);
		VMCS_SET(V, EPT_POINTER, EPTP_GOOD | 1ull << CPU_MAXPHYADDR);
	});
	/* PML needs EPT and an aligned page. */
	CTL(VMCS_SET(V, SECONDARY_VM_EXEC_CONTROL, PROC2 | PROC2_ENABLE_PML));
	CTL({
		VMCS_SET(V, SECONDARY_VM_EXEC_CONTROL, PROC2 | PROC2_ENABLE_PML | PROC2_ENABLE_EPT);
		VMCS_SET(V, PML_ADDRESS, PML_PAGE + 8);
	});
	OK(VMCS_SET(V, SECONDARY_VM_EXEC_CONTROL, PROC2 | PROC2_ENABLE_PML | PROC2_ENABLE_EPT));
	/* Unrestricted guest needs EPT. */
	CTL(VMCS_SET(V, SECONDARY_VM_EXEC_CONTROL, PROC2 | PROC2_UNRESTRICTED_GUEST));
	OK(VMCS_SET(V, SECONDARY_VM_EXEC_CONTROL, PROC2 | EPT_UG));

	/* 27.2.1.2: save preemption timer needs the timer; MSR-store/load list addresses. */
	CTL(VMCS_SET(V, VM_EXIT_CONTROLS, EXITC | EXIT_CTL_SAVE_PREEMPTION_TIMER));
	OK({
		VMCS_SET(V, VM_EXIT_CONTROLS, EXITC | EXIT_CTL_SAVE_PREEMPTION_TIMER);
		VMCS_SET(V, PIN_BASED_VM_EXEC_CONTROL, PIN | PIN_PREEMPTION_TIMER);
	});
	CTL({
		VMCS_SET(V, VM_EXIT_MSR_STORE_COUNT, 1);
		VMCS_SET(V, VM_EXIT_MSR_STORE_ADDR, MSR_STORE + 8);
	});
	CTL({
		VMCS_SET(V, VM_EXIT_MSR_STORE_COUNT, 2);
		VMCS_SET(V, VM_EXIT_MSR_STORE_ADDR, (1ull << CPU_MAXPHYADDR) - 16);
	});
	CTL({
		VMCS_SET(V, VM_EXIT_MSR_LOAD_COUNT, 1);
		VMCS_SET(V, VM_EXIT_MSR_LOAD_ADDR, MSR_LIST + 4);
	});
	OK(VMCS_SET(V, VM_EXIT_MSR_STORE_ADDR, MSR_STORE + 8)); /* count 0: not checked */

	/* 27.2.1.3: VM-entry MSR-load list address; event injection. */
	CTL({
		VMCS_SET(V, VM_ENTRY_MSR_LOAD_COUNT, 1);
		VMCS_SET(V, VM_ENTRY_MSR_LOAD_ADDR, MSR_LIST + 1);
	});
	CTL({
		VMCS_SET(V, VM_ENTRY_MSR_LOAD_COUNT, 1);
		VMCS_SET(V, VM_ENTRY_MSR_LOAD_ADDR, 0x30000000);
	});
#define INJ(x) VMCS_SET(V, VM_ENTRY_INTR_INFO_FIELD, INTR_INFO_VALID | (x))
	CTL(INJ(1 << 8 | 32));			     /* reserved type 1 */
	CTL(INJ(2 << 8 | 3));			     /* NMI with vector != 2 */
	CTL(INJ(3 << 8 | 32));			     /* hardware exception > 31 */
	CTL(INJ(7 << 8 | 1));			     /* other event, vector != 0 */
	CTL(INJ(3 << 8 | X86_GP));		     /* #GP without error code */
	CTL(INJ(3 << 8 | X86_UD | INTR_INFO_DELIVER_CODE)); /* #UD with one */
	CTL(INJ(0 << 8 | 0x20 | INTR_INFO_DELIVER_CODE));   /* external interrupt with one */
	CTL(INJ(3 << 8 | X86_UD | BIT(12)));	     /* reserved bits 30:12 */
	CTL(INJ(3 << 8 | X86_UD | BIT(30)));
	CTL(INJ(4 << 8 | 0x80));		     /* software interrupt, length 0 */
	CTL({
		INJ(6 << 8 | X86_BP);
		VMCS_SET(V, VM_ENTRY_INSTRUCTION_LEN, 16);
	});
	CTL({
		INJ(5 << 8 | X86_DB);
		VMCS_SET(V, VM_ENTRY_INSTRUCTION_LEN, 0);
	});
	OK(INJ(3 << 8 | X86_GP | INTR_INFO_DELIVER_CODE));
	OK(INJ(3 << 8 | X86_PF_VEC | INTR_INFO_DELIVER_CODE));
	OK(INJ(2 << 8 | 2));
	OK(INJ(7 << 8 | 0));
	OK({
		INJ(4 << 8 | 0x80);
		VMCS_SET(V, VM_ENTRY_INSTRUCTION_LEN, 2);
	});
	OK(VMCS_SET(V, VM_ENTRY_INTR_INFO_FIELD, 1 << 8 | 0xff)); /* not valid: not checked */
	/* Real mode under unrestricted guest: no error code delivered. */
	CTL({
		VMCS_SET(V, SECONDARY_VM_EXEC_CONTROL, PROC2 | EPT_UG);
		VMCS_SET(V, GUEST_CR0, V->guest_cr0 & ~(CR0_PE | CR0_PG));
		INJ(3 << 8 | X86_GP | INTR_INFO_DELIVER_CODE);
	});
#undef INJ
}

static void test_host_state(void)
{
	HOST(VMCS_SET(V, HOST_CR0, V->host_cr0 & ~CR0_PE));
	HOST(VMCS_SET(V, HOST_CR0, V->host_cr0 & ~CR0_NE));
	HOST(VMCS_SET(V, HOST_CR0, V->host_cr0 & ~CR0_PG));
	HOST(VMCS_SET(V, HOST_CR4, V->host_cr4 & ~CR4_VMXE));
	HOST(VMCS_SET(V, HOST_CR4, V->host_cr4 | CR4_LA57));
	HOST(VMCS_SET(V, HOST_CR4, V->host_cr4 & ~CR4_PAE));
	HOST(VMCS_SET(V, HOST_CR3, 1ull << CPU_MAXPHYADDR));
	HOST(VMCS_SET(V, HOST_IA32_SYSENTER_ESP, 0x0000800000000000ull));
	HOST(VMCS_SET(V, HOST_IA32_SYSENTER_EIP, 0x8000000000000000ull));
	HOST(VMCS_SET(V, HOST_IA32_PAT, 0x0007040600070402ull));
	HOST(VMCS_SET(V, HOST_IA32_PAT, 0x0807040600070406ull));
	OK({
		VMCS_SET(V, HOST_IA32_PAT, 0x0807040600070402ull);
		VMCS_SET(V, VM_EXIT_CONTROLS, EXITC & ~EXIT_CTL_LOAD_PAT);
	});
	HOST(VMCS_SET(V, HOST_IA32_EFER, V->host_ia32_efer | BIT(1)));
	HOST(VMCS_SET(V, HOST_IA32_EFER, V->host_ia32_efer & ~EFER_LMA));
	HOST(VMCS_SET(V, HOST_IA32_EFER, V->host_ia32_efer & ~EFER_LME));
	OK({
		VMCS_SET(V, HOST_IA32_EFER, 0);
		VMCS_SET(V, VM_EXIT_CONTROLS, EXITC & ~EXIT_CTL_LOAD_EFER);
	});
	HOST(VMCS_SET(V, HOST_ES_SELECTOR, 0x13));
	HOST(VMCS_SET(V, HOST_CS_SELECTOR, 0x09));
	HOST(VMCS_SET(V, HOST_SS_SELECTOR, 0x14));
	HOST(VMCS_SET(V, HOST_DS_SELECTOR, 0x12));
	HOST(VMCS_SET(V, HOST_FS_SELECTOR, 0x04));
	HOST(VMCS_SET(V, HOST_GS_SELECTOR, 0x03));
	HOST(VMCS_SET(V, HOST_TR_SELECTOR, 0x1c));
	HOST(VMCS_SET(V, HOST_CS_SELECTOR, 0));
	HOST(VMCS_SET(V, HOST_TR_SELECTOR, 0));
	OK(VMCS_SET(V, HOST_SS_SELECTOR, 0)); /* null SS is fine in a 64-bit host */
	HOST(VMCS_SET(V, HOST_FS_BASE, 0x0000800000000000ull));
	HOST(VMCS_SET(V, HOST_GS_BASE, 0x0001000000000000ull));
	HOST(VMCS_SET(V, HOST_TR_BASE, 0x7fff800000000000ull));
	HOST(VMCS_SET(V, HOST_GDTR_BASE, 0x0000900000000000ull));
	HOST(VMCS_SET(V, HOST_IDTR_BASE, 0xfff0000000000000ull));
	HOST(VMCS_SET(V, HOST_RIP, 0x0000800000000000ull));
	HOST({
		VMCS_SET(V, VM_EXIT_CONTROLS, EXITC & ~(EXIT_CTL_HOST_ADDR_SPACE_SIZE |
							EXIT_CTL_LOAD_EFER));
	});
}

static void test_guest_cr_msr(void)
{
	GUEST(VMCS_SET(V, GUEST_CR0, V->guest_cr0 & ~CR0_NE));
	GUEST(VMCS_SET(V, GUEST_CR0, V->guest_cr0 & ~CR0_PE));
	GUEST(VMCS_SET(V, GUEST_CR0, V->guest_cr0 & ~CR0_PG));
	GUEST(VMCS_SET(V, GUEST_CR0, V->guest_cr0 | BIT(32)));
	GUEST(VMCS_SET(V, GUEST_CR4, V->guest_cr4 & ~CR4_VMXE));
	GUEST(VMCS_SET(V, GUEST_CR4, V->guest_cr4 | CR4_PKE));
	/* Unrestricted guest relaxes PE and PG but not PG without PE. */
	GUEST({
		VMCS_SET(V, SECONDARY_VM_EXEC_CONTROL, PROC2 | EPT_UG);
		VMCS_SET(V, GUEST_CR0, (V->guest_cr0 & ~CR0_PE));
	});
	GUEST({
		VMCS_SET(V, SECONDARY_VM_EXEC_CONTROL, PROC2 | EPT_UG);
		VMCS_SET(V, GUEST_CR0, V->guest_cr0 & ~CR0_NE);
	});
	/* IA-32e mode guest needs CR0.PG and CR4.PAE. */
	GUEST({
		VMCS_SET(V, SECONDARY_VM_EXEC_CONTROL, PROC2 | EPT_UG);
		VMCS_SET(V, GUEST_CR0, V->guest_cr0 & ~CR0_PG);
	});
	GUEST(VMCS_SET(V, GUEST_CR4, V->guest_cr4 & ~CR4_PAE));
	/* DEBUGCTL and DR7 when loaded. */
	GUEST(VMCS_SET(V, GUEST_IA32_DEBUGCTL, BIT(2)));
	GUEST(VMCS_SET(V, GUEST_IA32_DEBUGCTL, BIT(20)));
	GUEST(VMCS_SET(V, GUEST_DR7, 1ull << 32));
	OK({
		VMCS_SET(V, GUEST_DR7, 1ull << 32);
		VMCS_SET(V, VM_ENTRY_CONTROLS, ENTRYC & ~ENTRY_CTL_LOAD_DEBUG_CONTROLS);
	});
	GUEST(VMCS_SET(V, GUEST_CR3, 1ull << CPU_MAXPHYADDR));
	GUEST(VMCS_SET(V, GUEST_SYSENTER_ESP, 0x0000800000000000ull));
	GUEST(VMCS_SET(V, GUEST_SYSENTER_EIP, 0x1234000000000000ull));
	GUEST(VMCS_SET(V, GUEST_IA32_PAT, 0x0007040600070403ull));
	OK({
		VMCS_SET(V, GUEST_IA32_PAT, 2);
		VMCS_SET(V, VM_ENTRY_CONTROLS, ENTRYC & ~ENTRY_CTL_LOAD_PAT);
	});
	GUEST(VMCS_SET(V, GUEST_IA32_EFER, V->guest_ia32_efer | BIT(2)));
	GUEST(VMCS_SET(V, GUEST_IA32_EFER, V->guest_ia32_efer & ~EFER_LMA));
	GUEST(VMCS_SET(V, GUEST_IA32_EFER, V->guest_ia32_efer & ~EFER_LME));
	OK({ /* LME without LMA is fine while CR0.PG = 0 */
		VMCS_SET(V, GUEST_IA32_EFER, EFER_LME);
		VMCS_SET(V, SECONDARY_VM_EXEC_CONTROL, PROC2 | EPT_UG);
		VMCS_SET(V, GUEST_CR0, V->guest_cr0 & ~CR0_PG);
		VMCS_SET(V, VM_ENTRY_CONTROLS, ENTRYC & ~ENTRY_CTL_IA32E_MODE_GUEST);
		VMCS_SET(V, GUEST_CS_AR_BYTES, 0xc09b);
	});
}

/* A 32-bit protected-mode guest (IA-32e mode guest 0), for the rules that differ. */
static void prot32(void)
{
	VMCS_SET(V, VM_ENTRY_CONTROLS, ENTRYC & ~ENTRY_CTL_IA32E_MODE_GUEST);
	VMCS_SET(V, GUEST_IA32_EFER, 0);
	VMCS_SET(V, GUEST_CR4, CR4_VMXE | CR4_PSE);
	VMCS_SET(V, GUEST_CS_AR_BYTES, 0xc09b);
}

static void test_guest_segments(void)
{
	OK(prot32());
	GUEST(VMCS_SET(V, GUEST_TR_SELECTOR, 0x1c));
	GUEST({
		VMCS_SET(V, GUEST_LDTR_AR_BYTES, 0x82);
		VMCS_SET(V, GUEST_LDTR_SELECTOR, 0x24);
	});
	OK(VMCS_SET(V, GUEST_LDTR_SELECTOR, 0x24)); /* unusable: not checked */
	GUEST(VMCS_SET(V, GUEST_SS_SELECTOR, 0x13));
	GUEST(VMCS_SET(V, GUEST_TR_BASE, 0x0000800000000000ull));
	GUEST(VMCS_SET(V, GUEST_FS_BASE, 0x0000800000000000ull));
	GUEST(VMCS_SET(V, GUEST_GS_BASE, 0x0000800000000000ull));
	GUEST({
		VMCS_SET(V, GUEST_LDTR_AR_BYTES, 0x82);
		VMCS_SET(V, GUEST_LDTR_BASE, 0x0000800000000000ull);
	});
	GUEST(VMCS_SET(V, GUEST_CS_BASE, 1ull << 32));
	GUEST(VMCS_SET(V, GUEST_SS_BASE, 1ull << 32));
	GUEST(VMCS_SET(V, GUEST_DS_BASE, 1ull << 32));
	GUEST(VMCS_SET(V, GUEST_ES_BASE, 1ull << 32));
	OK({
		VMCS_SET(V, GUEST_ES_BASE, 1ull << 32);
		VMCS_SET(V, GUEST_ES_AR_BYTES, AR_UNUSABLE);
	});
	/* CS type, S, P, DPL, reserved, L and D, limit and G. */
	GUEST(VMCS_SET(V, GUEST_CS_AR_BYTES, 0xa09a)); /* not accessed */
	GUEST(VMCS_SET(V, GUEST_CS_AR_BYTES, 0xa093)); /* data */
	GUEST(VMCS_SET(V, GUEST_CS_AR_BYTES, 0xa08b)); /* S = 0 */
	GUEST(VMCS_SET(V, GUEST_CS_AR_BYTES, 0xa01b)); /* P = 0 */
	GUEST(VMCS_SET(V, GUEST_CS_AR_BYTES, 0xa19b)); /* reserved 11:8 */
	GUEST(VMCS_SET(V, GUEST_CS_AR_BYTES, 0x2a09b)); /* reserved 31:17 */
	GUEST(VMCS_SET(V, GUEST_CS_AR_BYTES, 0x1a09b)); /* unusable */
	GUEST(VMCS_SET(V, GUEST_CS_AR_BYTES, 0xe09b)); /* L and D */
	GUEST(VMCS_SET(V, GUEST_CS_AR_BYTES, 0xa0bb)); /* DPL 1 != SS.DPL 0 */
	OK(VMCS_SET(V, GUEST_CS_AR_BYTES, 0xa09f));	/* conforming DPL 0 <= 0 */
	GUEST({
		VMCS_SET(V, GUEST_CS_AR_BYTES, 0xa0bf); /* conforming DPL 1 > SS.DPL 0 */
		VMCS_SET(V, GUEST_CS_SELECTOR, 0x08);
	});
	GUEST(VMCS_SET(V, GUEST_CS_AR_BYTES, 0xa093)); /* type 3 without UG */
	OK({
		VMCS_SET(V, SECONDARY_VM_EXEC_CONTROL, PROC2 | EPT_UG);
		VMCS_SET(V, GUEST_CS_AR_BYTES, 0xa093);
	});
	GUEST({
		VMCS_SET(V, SECONDARY_VM_EXEC_CONTROL, PROC2 | EPT_UG);
		VMCS_SET(V, GUEST_CS_AR_BYTES, 0xa0b3); /* type 3 with DPL 1 */
	});
	GUEST(VMCS_SET(V, GUEST_CS_LIMIT, 0xfffff000)); /* G = 1, limit 11:0 not all ones */
	GUEST({
		VMCS_SET(V, GUEST_CS_AR_BYTES, 0x209b);
		VMCS_SET(V, GUEST_CS_LIMIT, 0x100000); /* limit 31:20 set, G = 0 */
	});
	/* SS: type, DPL = RPL, DPL 0 with PE 0. */
	GUEST(VMCS_SET(V, GUEST_SS_AR_BYTES, 0xc091 | 0)); /* type 1 */
	GUEST(VMCS_SET(V, GUEST_SS_AR_BYTES, 0xc09b));	    /* code */
	OK(VMCS_SET(V, GUEST_SS_AR_BYTES, 0xc097));	    /* expand-down */
	GUEST(VMCS_SET(V, GUEST_SS_AR_BYTES, 0xc0f3)); /* DPL 3 != RPL 0 */
	GUEST(VMCS_SET(V, GUEST_SS_AR_BYTES, 0xc013)); /* P = 0 */
	GUEST(VMCS_SET(V, GUEST_SS_AR_BYTES, 0xc083)); /* S = 0 */
	OK(VMCS_SET(V, GUEST_SS_AR_BYTES, AR_UNUSABLE)); /* unusable SS in 64-bit mode */
	GUEST({
		VMCS_SET(V, SECONDARY_VM_EXEC_CONTROL, PROC2 | EPT_UG);
		VMCS_SET(V, GUEST_CR0, V->guest_cr0 & ~(CR0_PE | CR0_PG));
		VMCS_SET(V, VM_ENTRY_CONTROLS, ENTRYC & ~(ENTRY_CTL_IA32E_MODE_GUEST |
							  ENTRY_CTL_LOAD_EFER));
		VMCS_SET(V, GUEST_CR4, CR4_VMXE);
		VMCS_SET(V, GUEST_CS_AR_BYTES, 0x9b);
		VMCS_SET(V, GUEST_CS_LIMIT, 0xffff);
		VMCS_SET(V, GUEST_TR_AR_BYTES, 0x83);
		VMCS_SET(V, GUEST_SS_AR_BYTES, 0xc0f3);
	});
	/* DS/ES/FS/GS: accessed, readable code, DPL >= RPL, S, P, reserved, limit/G. */
	GUEST(VMCS_SET(V, GUEST_DS_AR_BYTES, 0xc092)); /* not accessed */
	GUEST(VMCS_SET(V, GUEST_ES_AR_BYTES, 0xc099)); /* execute-only code */
	OK(VMCS_SET(V, GUEST_ES_AR_BYTES, 0xc09b));    /* readable code */
	GUEST(VMCS_SET(V, GUEST_GS_SELECTOR, 0x13));   /* RPL 3 > DPL 0 */
	OK({
		VMCS_SET(V, GUEST_GS_SELECTOR, 0x13);
		VMCS_SET(V, GUEST_GS_AR_BYTES, 0xc09f); /* conforming code: no DPL rule */
	});
	GUEST(VMCS_SET(V, GUEST_DS_AR_BYTES, 0xc083)); /* S = 0 */
	GUEST(VMCS_SET(V, GUEST_ES_AR_BYTES, 0xc013)); /* P = 0 */
	GUEST(VMCS_SET(V, GUEST_GS_AR_BYTES, 0xc893)); /* reserved 11:8 */
	GUEST(VMCS_SET(V, GUEST_DS_AR_BYTES, 0x40c093)); /* reserved 31:17 */
	GUEST(VMCS_SET(V, GUEST_DS_LIMIT, 0xffff0000)); /* G = 1 with 11:0 != fff */
	GUEST({
		VMCS_SET(V, GUEST_FS_AR_BYTES, 0x4093);
		VMCS_SET(V, GUEST_FS_LIMIT, 0x200000);
	});
	/* Virtual-8086 guest. */
	GUEST({
		prot32();
		VMCS_SET(V, GUEST_RFLAGS, X86_FIXED1 | X86_VM);
	});
	/* TR: type, S, P, reserved, unusable, limit/G. */
	GUEST(VMCS_SET(V, GUEST_TR_AR_BYTES, 0x83)); /* 16-bit busy TSS in IA-32e mode */
	OK({
		prot32();
		VMCS_SET(V, GUEST_TR_AR_BYTES, 0x83);
	});
	GUEST({
		prot32();
		VMCS_SET(V, GUEST_TR_AR_BYTES, 0x89); /* available TSS */
	});
	GUEST(VMCS_SET(V, GUEST_TR_AR_BYTES, 0x9b));
	GUEST(VMCS_SET(V, GUEST_TR_AR_BYTES, 0x0b));
	GUEST(VMCS_SET(V, GUEST_TR_AR_BYTES, 0x20b | 0x80));
	GUEST(VMCS_SET(V, GUEST_TR_AR_BYTES, 0x1008b));
	GUEST(VMCS_SET(V, GUEST_TR_LIMIT, 0x100067));
	/* LDTR when usable: type 2, S 0, P 1, reserved. */
	OK(VMCS_SET(V, GUEST_LDTR_AR_BYTES, 0x82));
	GUEST(VMCS_SET(V, GUEST_LDTR_AR_BYTES, 0x83));
	GUEST(VMCS_SET(V, GUEST_LDTR_AR_BYTES, 0x92));
	GUEST(VMCS_SET(V, GUEST_LDTR_AR_BYTES, 0x02));
	GUEST(VMCS_SET(V, GUEST_LDTR_AR_BYTES, 0x482));
	GUEST({
		VMCS_SET(V, GUEST_LDTR_AR_BYTES, 0x8082);
		VMCS_SET(V, GUEST_LDTR_LIMIT, 0x100);
	});
}

static void test_guest_other(void)
{
	/* 27.3.1.3 GDTR/IDTR. */
	GUEST(VMCS_SET(V, GUEST_GDTR_BASE, 0x0000800000000000ull));
	GUEST(VMCS_SET(V, GUEST_IDTR_BASE, 0xf000000000000000ull));
	GUEST(VMCS_SET(V, GUEST_GDTR_LIMIT, 0x10000));
	GUEST(VMCS_SET(V, GUEST_IDTR_LIMIT, 0x10000));
	/* 27.3.1.4 RIP: in IA-32e mode with CS.L, bits 63:48 identical. That is weaker than
	   canonical (bit 47 need not match): a RIP just past either end of the canonical range
	   enters, and the guest's fetch raises #GP (test_rip_past_canonical). */
	OK(VMCS_SET(V, GUEST_RIP, 0x0000800000000000ull));
	OK(VMCS_SET(V, GUEST_RIP, 0xffff7ffffffff000ull));
	OK(VMCS_SET(V, GUEST_RIP, 0xffff800000000000ull));
	GUEST(VMCS_SET(V, GUEST_RIP, 0x0001000000000000ull));
	GUEST(VMCS_SET(V, GUEST_RIP, 0xfffe800000000000ull));
	GUEST({
		prot32();
		VMCS_SET(V, GUEST_RIP, 1ull << 32);
	});
	GUEST(VMCS_SET(V, GUEST_CS_AR_BYTES, 0xc09b) ; VMCS_SET(V, GUEST_RIP, 1ull << 32));
	/* RFLAGS: bit 1, reserved bits, VM in IA-32e or PE 0, IF for an external interrupt. */
	GUEST(VMCS_SET(V, GUEST_RFLAGS, 0));
	GUEST(VMCS_SET(V, GUEST_RFLAGS, X86_FIXED1 | BIT(3)));
	GUEST(VMCS_SET(V, GUEST_RFLAGS, X86_FIXED1 | BIT(5)));
	GUEST(VMCS_SET(V, GUEST_RFLAGS, X86_FIXED1 | BIT(15)));
	GUEST(VMCS_SET(V, GUEST_RFLAGS, X86_FIXED1 | BIT(22)));
	GUEST(VMCS_SET(V, GUEST_RFLAGS, X86_FIXED1 | BIT(63)));
	GUEST(VMCS_SET(V, GUEST_RFLAGS, X86_FIXED1 | X86_VM));
	GUEST(VMCS_SET(V, VM_ENTRY_INTR_INFO_FIELD, INTR_INFO_VALID | 0x20));
	OK({
		VMCS_SET(V, VM_ENTRY_INTR_INFO_FIELD, INTR_INFO_VALID | 0x20);
		VMCS_SET(V, GUEST_RFLAGS, X86_FIXED1 | X86_IF);
	});
	/* 27.3.1.5 activity state. */
	GUEST(VMCS_SET(V, GUEST_ACTIVITY_STATE, GUEST_ACTIVITY_SHUTDOWN));
	GUEST(VMCS_SET(V, GUEST_ACTIVITY_STATE, GUEST_ACTIVITY_WAIT_SIPI));
	GUEST(VMCS_SET(V, GUEST_ACTIVITY_STATE, 4));
	OK(VMCS_SET(V, GUEST_ACTIVITY_STATE, GUEST_ACTIVITY_HLT));
	GUEST({
		VMCS_SET(V, GUEST_ACTIVITY_STATE, GUEST_ACTIVITY_HLT);
		VMCS_SET(V, GUEST_SS_AR_BYTES, 0xc0f3);
		VMCS_SET(V, GUEST_SS_SELECTOR, 0x13);
		VMCS_SET(V, GUEST_CS_AR_BYTES, 0xa0fb);
		VMCS_SET(V, GUEST_CS_SELECTOR, 0x0b);
	});
	OK({ /* the same at activity state active is a good CPL-3 guest */
		VMCS_SET(V, GUEST_SS_AR_BYTES, 0xc0f3);
		VMCS_SET(V, GUEST_SS_SELECTOR, 0x13);
		VMCS_SET(V, GUEST_CS_AR_BYTES, 0xa0fb);
		VMCS_SET(V, GUEST_CS_SELECTOR, 0x0b);
		VMCS_SET(V, GUEST_DS_SELECTOR, 0x13);
		VMCS_SET(V, GUEST_DS_AR_BYTES, 0xc0f3);
		VMCS_SET(V, GUEST_ES_SELECTOR, 0x13);
		VMCS_SET(V, GUEST_ES_AR_BYTES, 0xc0f3);
		VMCS_SET(V, GUEST_GS_SELECTOR, 0x13);
		VMCS_SET(V, GUEST_GS_AR_BYTES, 0xc0f3);
	});
	GUEST({
		VMCS_SET(V, GUEST_ACTIVITY_STATE, GUEST_ACTIVITY_HLT);
		VMCS_SET(V, GUEST_RFLAGS, X86_FIXED1 | X86_IF);
		VMCS_SET(V, GUEST_INTERRUPTIBILITY_INFO, GUEST_INTR_STATE_STI);
	});
	GUEST({
		VMCS_SET(V, GUEST_ACTIVITY_STATE, GUEST_ACTIVITY_HLT);
		VMCS_SET(V, VM_ENTRY_INTR_INFO_FIELD, INTR_INFO_VALID | 3 << 8 | X86_UD);
	});
	OK({
		VMCS_SET(V, GUEST_ACTIVITY_STATE, GUEST_ACTIVITY_HLT);
		VMCS_SET(V, VM_ENTRY_INTR_INFO_FIELD, INTR_INFO_VALID | 3 << 8 | X86_MC);
	});
	OK({
		VMCS_SET(V, GUEST_ACTIVITY_STATE, GUEST_ACTIVITY_HLT);
		VMCS_SET(V, VM_ENTRY_INTR_INFO_FIELD, INTR_INFO_VALID | 2 << 8 | 2);
	});
	/* Interruptibility state. */
	GUEST(VMCS_SET(V, GUEST_INTERRUPTIBILITY_INFO, BIT(4)));
	GUEST(VMCS_SET(V, GUEST_INTERRUPTIBILITY_INFO, BIT(5)));
	GUEST({
		VMCS_SET(V, GUEST_RFLAGS, X86_FIXED1 | X86_IF);
		VMCS_SET(V, GUEST_INTERRUPTIBILITY_INFO,
			 GUEST_INTR_STATE_STI | GUEST_INTR_STATE_MOV_SS);
	});
	GUEST(VMCS_SET(V, GUEST_INTERRUPTIBILITY_INFO, GUEST_INTR_STATE_STI));
	OK({
		VMCS_SET(V, GUEST_RFLAGS, X86_FIXED1 | X86_IF);
		VMCS_SET(V, GUEST_INTERRUPTIBILITY_INFO, GUEST_INTR_STATE_STI);
	});
	GUEST(VMCS_SET(V, GUEST_INTERRUPTIBILITY_INFO, GUEST_INTR_STATE_SMI));
	GUEST({
		VMCS_SET(V, GUEST_RFLAGS, X86_FIXED1 | X86_IF);
		VMCS_SET(V, GUEST_INTERRUPTIBILITY_INFO, GUEST_INTR_STATE_STI);
		VMCS_SET(V, VM_ENTRY_INTR_INFO_FIELD, INTR_INFO_VALID | 0x20);
	});
	GUEST({
		VMCS_SET(V, GUEST_RFLAGS, X86_FIXED1 | X86_IF);
		VMCS_SET(V, GUEST_INTERRUPTIBILITY_INFO, GUEST_INTR_STATE_MOV_SS);
		VMCS_SET(V, VM_ENTRY_INTR_INFO_FIELD, INTR_INFO_VALID | 0x20);
	});
	GUEST({
		VMCS_SET(V, GUEST_INTERRUPTIBILITY_INFO, GUEST_INTR_STATE_MOV_SS);
		VMCS_SET(V, VM_ENTRY_INTR_INFO_FIELD, INTR_INFO_VALID | 2 << 8 | 2);
	});
	GUEST({
		VMCS_SET(V, PIN_BASED_VM_EXEC_CONTROL, PIN | PIN_NMI_EXITING | PIN_VIRTUAL_NMIS);
		VMCS_SET(V, GUEST_INTERRUPTIBILITY_INFO, GUEST_INTR_STATE_NMI);
		VMCS_SET(V, VM_ENTRY_INTR_INFO_FIELD, INTR_INFO_VALID | 2 << 8 | 2);
	});
	OK({
		VMCS_SET(V, GUEST_INTERRUPTIBILITY_INFO, GUEST_INTR_STATE_NMI);
		VMCS_SET(V, VM_ENTRY_INTR_INFO_FIELD, INTR_INFO_VALID | 2 << 8 | 2);
	});
	/* Pending debug exceptions: reserved bits; BS vs TF/BTF when blocked. */
	GUEST(VMCS_SET(V, GUEST_PENDING_DBG_EXCEPTIONS, BIT(4)));
	GUEST(VMCS_SET(V, GUEST_PENDING_DBG_EXCEPTIONS, BIT(13)));
	GUEST(VMCS_SET(V, GUEST_PENDING_DBG_EXCEPTIONS, BIT(15)));
	GUEST(VMCS_SET(V, GUEST_PENDING_DBG_EXCEPTIONS, BIT(17)));
	OK(VMCS_SET(V, GUEST_PENDING_DBG_EXCEPTIONS, BIT(14) | BIT(12) | 0xf));
	GUEST({
		VMCS_SET(V, GUEST_RFLAGS, X86_FIXED1 | X86_IF | X86_TF);
		VMCS_SET(V, GUEST_INTERRUPTIBILITY_INFO, GUEST_INTR_STATE_STI);
	});
	OK({
		VMCS_SET(V, GUEST_RFLAGS, X86_FIXED1 | X86_IF | X86_TF);
		VMCS_SET(V, GUEST_INTERRUPTIBILITY_INFO, GUEST_INTR_STATE_STI);
		VMCS_SET(V, GUEST_PENDING_DBG_EXCEPTIONS, BIT(14));
	});
	GUEST({
		VMCS_SET(V, GUEST_ACTIVITY_STATE, GUEST_ACTIVITY_HLT);
		VMCS_SET(V, GUEST_PENDING_DBG_EXCEPTIONS, BIT(14));
	});
	/* VMCS link pointer: qualification 4. */
	GUESTQ(VMCS_SET(V, VMCS_LINK_POINTER, 0), 4);
	GUESTQ(VMCS_SET(V, VMCS_LINK_POINTER, 0x5000), 4);
}

/* 27.3.1.6: PDPTEs of a PAE guest, from the VMCS with EPT, from guest memory without. */
static void test_pdptes(void)
{
#define PAE()                                                                                    \
	do {                                                                                     \
		prot32();                                                                        \
		VMCS_SET(V, GUEST_CR4, CR4_VMXE | CR4_PAE);                                      \
		VMCS_SET(V, GUEST_CR3, 0x20000);                                                 \
	} while (0)
	w64(0x20000, 0x21001);
	w64(0x20008, 0);
	w64(0x20010, 0x22001);
	w64(0x20018, 0x6); /* not present: reserved bits ignored */
	OK(PAE());
	w64(0x20008, 0x23001 | BIT(5));
	GUESTQ(PAE(), 2);
	w64(0x20008, 0x23001 | (1ull << CPU_MAXPHYADDR));
	GUESTQ(PAE(), 2);
	w64(0x20008, 0);
	GUESTQ({
		PAE();
		VMCS_SET(V, SECONDARY_VM_EXEC_CONTROL, PROC2 | PROC2_ENABLE_EPT);
		VMCS_SET(V, GUEST_PDPTR2, 0x1001 | BIT(2));
	}, 2);
	OK({
		PAE();
		VMCS_SET(V, SECONDARY_VM_EXEC_CONTROL, PROC2 | PROC2_ENABLE_EPT);
		VMCS_SET(V, GUEST_PDPTR2, 0x1001);
	});
#undef PAE
}

/*
 * The deferred guest-state save (vmx.h lazy_save) and exits answered inside the CPU's loop
 * (vmx.h fast_exit). With the save deferred, what the VMM reads after vmx_guest_sync is what the
 * whole save writes; a fast exit the owner resumes runs the guest on within one vmx_run; one it
 * leaves, or whose entry would load more than RIP, comes back as VMX_RUN_HANDLED.
 */
static int fast_answer, fast_calls;
static bool fast_write_rflags;

static int fast_cpuid(void *opaque, struct vm_exit *exit)
{
	(void)opaque;
	if (exit->reason != EXIT_REASON_CPUID)
		return VMX_FAST_NO; /* the HLT after it: as the VMM's vm_exit_fast */
	fast_calls++;
	CHECK_EQ(vmcs.vm_exit_reason, EXIT_REASON_CPUID);
	CHECK_EQ(vmcs.vm_exit_instruction_len, 2);
	CHECK_EQ(vmcs.guest_rip, CODE);
	if (fast_answer == VMX_FAST_NO)
		return VMX_FAST_NO;
	VMCS_SET(&vmcs, GUEST_RIP, vmcs.guest_rip + exit->insn_len);
	if (fast_write_rflags) {
		vmx_guest_sync(&vx);
		VMCS_SET(&vmcs, GUEST_RFLAGS, X86_FIXED1 | X86_CF);
	}
	return fast_answer;
}

static void fast_setup(int answer, bool write_rflags)
{
	reset_cpu();
	good_vmcs();
	vx.lazy_save = true;
	vx.fast_exit = fast_cpuid;
	fast_answer = answer;
	fast_write_rflags = write_rflags;
	fast_calls = 0;
}

static void test_lazy_and_fast(void)
{
	struct vm_exit ex;
	struct vmcs eager;

	/* The whole save at the exit, for reference. */
	reset_cpu();
	good_vmcs();
	CHECK_EQ(vmx_run(&vx, false, &ex), 0);
	CHECK_EQ(ex.reason, EXIT_REASON_CPUID);
	CHECK(!vx.unsaved);
	eager = vmcs;

	/* Deferred: RIP, RSP, interruptibility and activity at the exit, the rest when read. */
	reset_cpu();
	good_vmcs();
	vx.lazy_save = true;
	CHECK_EQ(vmx_run(&vx, false, &ex), 0);
	CHECK_EQ(ex.reason, EXIT_REASON_CPUID);
	CHECK_EQ(vx.unsaved, VMX_UNSAVED_RFLAGS | VMX_UNSAVED_REST);
	CHECK_EQ(vmcs.guest_rip, CODE);
	CHECK_EQ(vmcs.guest_rsp, 0x8000);
	CHECK_EQ(vmcs.guest_activity_state, GUEST_ACTIVITY_ACTIVE);
	CHECK_EQ(vmx_guest_rflags(&vx), eager.guest_rflags);
	CHECK_EQ(vx.unsaved, VMX_UNSAVED_REST);
	vmx_guest_sync(&vx);
	CHECK(!vx.unsaved);
	CHECK(!memcmp(&vmcs, &eager, sizeof(vmcs)));
	/* The RIP-only check while the rest is unsaved: 27.3.1.4 as with the whole save. */
	VMCS_SET(&vmcs, GUEST_RIP, CODE + 2);
	CHECK_EQ(vmx_run(&vx, true, &ex), 0);
	CHECK_EQ(ex.reason, EXIT_REASON_HLT);
	CHECK(vx.unsaved);
	VMCS_SET(&vmcs, GUEST_RIP, 0x0001000000000000ull);
	CHECK_EQ(vmx_run(&vx, true, &ex), 0);
	CHECK_EQ(ex.reason, EXIT_REASON_INVALID_STATE | EXIT_REASON_FAILED_VMENTRY);
	/* A write to deferred state after vmx_guest_sync is what the next entry checks. */
	VMCS_SET(&vmcs, GUEST_RIP, CODE + 2);
	vmx_guest_sync(&vx);
	VMCS_SET(&vmcs, GUEST_RFLAGS, 0);
	CHECK_EQ(vmx_run(&vx, true, &ex), 0);
	CHECK_EQ(ex.reason, EXIT_REASON_INVALID_STATE | EXIT_REASON_FAILED_VMENTRY);

	/* Fast, resumed: CPUID answered inside the loop, the guest runs on to the HLT. */
	fast_setup(VMX_FAST_RESUME, false);
	CHECK_EQ(vmx_run(&vx, false, &ex), 0);
	CHECK_EQ(fast_calls, 1);
	CHECK_EQ(ex.reason, EXIT_REASON_HLT);
	CHECK_EQ(vmcs.vm_exit_reason, EXIT_REASON_HLT);
	CHECK_EQ(vmcs.guest_rip, CODE + 2);
	CHECK(!vmcs.guest_dirty);
	/* Not taken: the exit returns as always, saved once. */
	fast_setup(VMX_FAST_NO, false);
	CHECK_EQ(vmx_run(&vx, false, &ex), 0);
	CHECK_EQ(fast_calls, 1);
	CHECK_EQ(ex.reason, EXIT_REASON_CPUID);
	CHECK_EQ(vmcs.guest_rip, CODE);
	/* Left: handled (RIP moved), vmx_run says so, and the next entry runs the HLT. */
	fast_setup(VMX_FAST_LEAVE, false);
	CHECK_EQ(vmx_run(&vx, false, &ex), VMX_RUN_HANDLED);
	CHECK_EQ(ex.reason, EXIT_REASON_CPUID);
	CHECK_EQ(vmcs.guest_rip, CODE + 2);
	CHECK_EQ(vmx_run(&vx, true, &ex), 0);
	CHECK_EQ(ex.reason, EXIT_REASON_HLT);
	/* Resumed, but guest state beyond RIP written: vmx_run's entry checks and loads it. */
	fast_setup(VMX_FAST_RESUME, true);
	CHECK_EQ(vmx_run(&vx, false, &ex), VMX_RUN_HANDLED);
	CHECK_EQ(fast_calls, 1);
	CHECK_EQ(vmx_run(&vx, true, &ex), 0);
	CHECK_EQ(ex.reason, EXIT_REASON_HLT);
	vmx_guest_sync(&vx);
	CHECK_EQ(vmcs.guest_rflags & X86_CF, X86_CF);
	reset_cpu();
}

int main(void)
{
	setup_memory();
	reset_cpu();
	test_good();
	test_controls();
	test_host_state();
	test_guest_cr_msr();
	test_guest_segments();
	test_guest_other();
	test_pdptes();
	test_rip_past_canonical();
	test_hlt_without_exiting();
	test_msr_lists();
	test_vmcs_shadowing();
	test_lazy_and_fast();
	cpu_destroy(cpu);
	free(mem);
	return check_done("test_vmentry");
}
