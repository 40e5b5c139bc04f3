/* SPDX-License-Identifier: MIT */
/*
 * The software x86-64 CPU as the VMM sees it. The CPU always runs the guest as if in VMX non-root
 * operation: cpu_run() executes until something the VMX controls (arch/vmx.h) or the SDM's
 * unconditional rules say must exit, fills the exit record and returns. It knows nothing of
 * devices: port I/O leaves through exit reason 30, guest-physical addresses outside RAM reach the
 * MMIO callbacks given at creation.
 */
#pragma once
#include "common.h"
#include "arch/vmx.h"
#include "arch/x86.h"

struct cpu;

/*
 * The VMCS controls as the CPU holds them while the guest runs: VM entry (vmx/entry.c) checks the
 * VMCS and loads this; physical addresses of bitmaps and pages are already resolved to host
 * pointers. As on hardware, a VMWRITE takes effect at the next VM entry.
 */
struct vmx_controls {
	u32 pin, proc, proc2;
	u32 exit_ctls, entry_ctls;
	u32 exception_bitmap;
	u32 pf_ec_mask, pf_ec_match;
	u64 cr0_guest_host_mask, cr0_read_shadow;
	u64 cr4_guest_host_mask, cr4_read_shadow;
	u32 cr3_target_count; /* 0..4 (SDM 26.1.3 MOV to CR3) */
	u64 cr3_target[4];
	u64 tsc_offset;
	u64 tsc_multiplier;  /* 48.48 fixed point, when PROC2_TSC_SCALING (SDM 26.6.5) */
	const u8 *io_bitmap_a; /* 4 KiB each, ports 0-0x7fff and 0x8000-0xffff (SDM 25.6.4) */
	const u8 *io_bitmap_b;
	const u8 *msr_bitmap;  /* 4 KiB: read-low, read-high, write-low, write-high (SDM 25.6.9) */
	u8 *virtual_apic;      /* 4 KiB, when PROC_TPR_SHADOW; VTPR at offset 0x80 (SDM 30.1) */
	u32 tpr_threshold;
	u64 eptp;              /* when PROC2_ENABLE_EPT (SDM 25.6.11) */
	/* VMCS shadowing (SDM 25.10): VMREAD and VMWRITE whose bitmap bit is 0 read and write
	   the shadow VMCS region through shadow_access (the VT-x model's format, vmx/vmcs.h
	   vmcs_region_access) instead of exiting; NULL: no shadow VMCS (VMfailInvalid). */
	u8 *shadow_vmcs;
	const u8 *vmread_bitmap, *vmwrite_bitmap;
	int (*shadow_access)(u8 *region, u32 enc, bool write, u64 *value, bool any);
	/* Model-specific, for nested EPT (soft/nested.c): nonzero when eptp's tables and the
	   addresses it produces are guest-physical addresses of the EPT this EPTP points to. */
	u64 eptp_outer;
	u16 vpid;              /* when PROC2_ENABLE_VPID; 0 is not allowed (SDM 26.2.1.1) */
	u64 pml_address;       /* host-physical, 4 KiB aligned, when PROC2_ENABLE_PML */
	u32 ple_gap, ple_window;
	/* APIC virtualization (SDM vol. 3C chapter 30, cpu/apicv.c). */
	u64 apic_access_addr;  /* physical page, when PROC2_VIRT_APIC_ACCESSES (30.4) */
	u64 *pi_desc;          /* 64 bytes, when PIN_POSTED_INTERRUPTS (30.6) */
	u8 pi_nv;              /* the posted-interrupt notification vector */
	u64 eoi_exit[4];       /* EOI-exit bitmap, vectors 0-255, with virtual-interrupt delivery */
};

/* Address widths of the software CPU, which CPUID.80000008H:EAX reports (SDM vol. 3A 4.1.4). */
#define CPU_MAXPHYADDR 40
#define CPU_LINEAR_BITS 48

struct cpu_config {
	u8 *ram;      /* guest-physical 0 .. ram_size-1, host memory owned by the VMM */
	u64 ram_size; /* multiple of 4 KiB */
	void *opaque; /* passed to the callbacks */
	/* Guest-physical accesses outside RAM; reads of nothing should return all ones. */
	u64 (*mmio_read)(void *opaque, u64 gpa, unsigned size);
	void (*mmio_write)(void *opaque, u64 gpa, u64 value, unsigned size);
	/*
	 * Host-physical memory for what the VMCS and EPT point at (EPT paging structures, the PML
	 * log, the targets of EPT translations): a pointer to `len` bytes at `hpa`, or NULL when
	 * nothing is there. Guest RAM is host-physical 0 .. ram_size-1 (the VMM's EPT maps it 1:1);
	 * the VMM's own pages live above it. Without EPT the guest reaches only RAM and MMIO.
	 */
	u8 *(*host_ptr)(void *opaque, u64 hpa, u64 len);
	/*
	 * The FERR# output (SDM vol. 1 Appendix D), or NULL: with CR0.NE = 0 a waiting x87 or MMX
	 * instruction that finds an unmasked exception pending asserts it (a PC wires it to IRQ 13
	 * of the PIC) and, unless IGNNE# is asserted (cpu_set_ignne), freezes: the vCPU waits in
	 * the HLT activity state, RIP on the instruction, which runs again after the interrupt. It
	 * is deasserted when the exception is cleared (FNCLEX, FNINIT, loading a state).
	 */
	void (*ferr)(void *opaque, bool asserted);
	/*
	 * Decoded code at VM level (docs/cpu.md "Self-modifying code"). With several vCPUs over one
	 * RAM, a write by any of them or by a device must drop every vCPU's blocks for the bytes it
	 * changed. `code_pages` (one byte per RAM page, owned by the VMM and shared by its vCPUs, or
	 * NULL for a CPU alone) is non-zero for a page some vCPU decoded code from; no vCPU gives
	 * such a page a fast write path. When a page becomes code the CPU sets its byte and calls
	 * code_marked(), which calls cpu_code_page_marked() on every vCPU; when a write hits a code
	 * page it calls code_written(), which calls cpu_invalidate_code() on every vCPU and clears
	 * the bytes. Both callbacks are NULL exactly when code_pages is.
	 */
	u8 *code_pages;
	void (*code_marked)(void *opaque, u64 gpa);
	void (*code_written)(void *opaque, u64 gpa, u64 len);
};

/* [gpa, gpa+len) of RAM changed behind this CPU's back: drop its decoded blocks there. */
void cpu_invalidate_code(struct cpu *c, u64 gpa, u64 len);
/* The page at gpa holds some vCPU's decoded code: no fast write to it from this CPU's TLB. */
void cpu_code_page_marked(struct cpu *c, u64 gpa);

/*
 * Requests from another host thread while c runs cpu_run() on its own (or is idle). Each returns
 * at once; c acts on it at its next block boundary, before it runs any further block, and at the
 * start of cpu_run() (events_check: no VM exit, no guest-visible event). Queued under a per-CPU
 * mutex; past CPU_ASYNC_RANGES pending ranges the request becomes "drop every block".
 *
 * cpu_invalidate_code_async: as cpu_invalidate_code(c, gpa, len) on c's own thread: c drops its
 * decoded blocks and compiled code with bytes in [gpa, gpa + len).
 * cpu_flush_tlb_async: c flushes every TLB entry and every EPT-derived (guest-physical) mapping,
 * as cpu_invept(c, 2, 0) does, whether or not EPT was on when they were made.
 * cpu_code_page_marked() may be called from another thread too (exec.c says why).
 */
#define CPU_ASYNC_RANGES 16
void cpu_invalidate_code_async(struct cpu *c, u64 gpa, u64 len);
void cpu_flush_tlb_async(struct cpu *c);
/*
 * Other CPUs run on other host threads over the same RAM: LOCK-prefixed read-modify-writes and
 * XCHG with memory become host compare-and-swaps (ops_atomic.c). Off (the default), one host
 * thread runs every vCPU, so they are atomic by construction and cost a plain access (a loop of
 * locked instructions runs 2.1x faster, and compiles as the plain forms). Accessed and dirty
 * flags are swapped either way. Set it before the CPU runs: compiled code keeps the choice.
 */
void cpu_set_lock_atomic(struct cpu *c, bool on);

/* 0 when this host can run the soft CPU, else -ENOTSUP: SIMD floating point runs on the host's
   SSE unit and needs SSE4.1 (docs/cpu.md, "SSE"). cpu_create() fails on such a host. */
int cpu_host_check(void);
struct cpu *cpu_create(const struct cpu_config *cfg); /* NULL on allocation failure or cpu_host_check() */
void cpu_destroy(struct cpu *c);

/* Controls consulted while the guest runs; the VMM owns the bitmaps they point to. */
void cpu_set_controls(struct cpu *c, const struct vmx_controls *ctl);

/*
 * Run the guest until a VM exit; *exit is filled as the SDM's exit sequence would fill the VMCS.
 * A HLT that does not exit puts the vCPU in the HLT activity state (SDM vol. 3C 25.4.2), which
 * only an event ends; when nothing the CPU models can deliver one (no injection or pending event
 * it may take, no external-interrupt exiting for the host timer, no preemption timer), hardware
 * would sleep in VMX non-root operation. cpu_run() returns CPU_RUN_HALTED instead: no VM exit
 * happened, *exit holds nothing, and the vCPU stays halted until someone gives it an event.
 */
enum cpu_run_result { CPU_RUN_EXIT, CPU_RUN_HALTED };
enum cpu_run_result cpu_run(struct cpu *c, struct vm_exit *exit);

/*
 * The x87, MMX and SSE state in the exchange format (x86.h struct x86_fpu: FXSAVE's layout, ST(i)
 * relative to TOP, 64-bit FIP/FDP). The selectors of the 32-bit formats (FCS, FDS) are not part of
 * it. cpu_set_fpu loads as FXRSTOR would: FCW's reserved bits fixed, FSW.ES and B from the flags.
 */
void cpu_get_fpu(struct cpu *c, struct x86_fpu *f);
void cpu_set_fpu(struct cpu *c, const struct x86_fpu *f);
/* The IGNNE# input (SDM vol. 1 Appendix D.2): sampled when a waiting instruction finds an
   exception pending with CR0.NE = 0; asserted, the instruction runs. */
void cpu_set_ignne(struct cpu *c, bool asserted);

void cpu_get_regs(struct cpu *c, struct x86_regs *r);
void cpu_set_regs(struct cpu *c, const struct x86_regs *r);
void cpu_set_rip(struct cpu *c, u64 rip); /* RIP alone (a VM entry that changed nothing else) */
/* The 16 GPRs alone: the exit path's registers, where RIP and RFLAGS come from the VMCS and
   computing RFLAGS from the lazy flags would be wasted. */
void cpu_get_gprs(const struct cpu *c, u64 gpr[16]);
/* What a VM exit saves of the registers (SDM 28.3.3), without copying the other GPRs: RIP and
   RSP, and RFLAGS alone, its arithmetic flags materialized from the lazy state (the part that
   costs, left for when it is read). */
void cpu_get_rip_rsp(const struct cpu *c, u64 *rip, u64 *rsp);
u64 cpu_get_rflags(struct cpu *c);
/* 64-bit code: IA-32e mode and CS.L (a RIP must then be canonical, else below 4 GiB). */
bool cpu_code64(const struct cpu *c);
void cpu_set_gprs(struct cpu *c, const u64 gpr[16]);
/* RAX, RCX, RDX and RBX (gpr[0..3]): what CPUID and RDMSR/WRMSR read and write. */
void cpu_get_gprs4(const struct cpu *c, u64 gpr[4]);
void cpu_set_gprs4(struct cpu *c, const u64 gpr[4]);
void cpu_get_sregs(struct cpu *c, struct x86_sregs *s);
/* Loads segment caches, control registers and EFER as given, like VM entry's guest-state load. */
void cpu_set_sregs(struct cpu *c, const struct x86_sregs *s);

/* MSRs the CPU holds itself (EFER, STAR, LSTAR, ..., SYSENTER_*, TSC, PAT): 0, or -ENOENT. */
int cpu_get_msr(struct cpu *c, u32 index, u64 *value);
int cpu_set_msr(struct cpu *c, u32 index, u64 value);

/*
 * Event injection as the VM-entry interruption-information field does it (SDM vol. 3C 24.8.3):
 * delivered through the guest IDT before the next instruction when cpu_run() resumes.
 * type: 0 external interrupt, 2 NMI, 3 hardware exception, 4 software interrupt, 6 software
 * exception. insn_len is used for the software types.
 */
void cpu_inject_event(struct cpu *c, u8 vector, u8 type, bool has_error, u32 error, u8 insn_len);

/* A fault an access on the guest's behalf raised, for the VMM to inject as a hardware exception
   (an injected #PF does not load CR2: the VMM sets CR2 = cr2 first, SDM vol. 3C 27.6.1.1). */
struct cpu_fault {
	u8 vector;
	bool has_error;
	u32 error;
	u64 cr2;
};

/*
 * The VMM's part of an INS/OUTS exit (reason 30 with IO_QUAL_STRING), called after the exit and
 * before the handler. The exit comes before the memory operand is checked or touched (SDM vol. 3C
 * 26.1.1), so, as a hardware VMM's string-I/O emulation does, the VMM reads the OUTS element at
 * seg:rSI into exit->io.data and checks that the INS element can be written at ES:rDI (the write
 * itself completes the instruction when cpu_run() resumes). The accesses are the guest's own at
 * its CPL: segment limit and usability (#GP(0), #SS(0)), paging with accessed and dirty flags
 * (#PF), alignment checking (#AC); guest-physical addresses are RAM or the MMIO callbacks, as the
 * VMM maps them, not translated through EPT. Returns 0, or 1 with *f: the fault the guest gets
 * instead; the instruction is then not completed and the VMM injects *f with RIP on it. Other
 * exits: 0, nothing done.
 */
int cpu_io_string(struct cpu *c, struct vm_exit *exit, struct cpu_fault *f);
/*
 * Whether an access exits under these controls (SDM vol. 3C 26.1.3), for the CPU and for a guest
 * hypervisor's controls (nested VMX). I/O: unconditional I/O exiting, or the I/O bitmaps (A:
 * 0-0x7fff, B: 0x8000-0xffff) for every port of the access, an access wrapping past 0xffff
 * exiting. MSRs: the bitmap's read-low, read-high, write-low and write-high KiB; MSRs outside
 * 0-0x1fff and 0xc0000000-0xc0001fff exit, and so does everything without bitmaps. A NULL
 * bitmap (no memory there) exits.
 */
bool cpu_io_bitmap_exits(u32 proc, const u8 *bitmap_a, const u8 *bitmap_b, u16 port,
			 unsigned size);
bool cpu_msr_bitmap_exits(u32 proc, const u8 *bitmap, u32 msr, bool write);
/* Forget the I/O exit the CPU would complete at the next run (the record's IN data): a
   guest hypervisor took the exit (nested VMX) and completes the instruction itself. */
void cpu_io_cancel(struct cpu *c);

/*
 * An external interrupt arriving at the vCPU (from a future interrupt controller, or the host's
 * own timer that the soft CPU models): with PIN_EXTINT_EXITING it causes exit 1 (SDM 26.2);
 * otherwise it is delivered through the guest IDT when RFLAGS.IF and interruptibility allow.
 */
void cpu_raise_external_interrupt(struct cpu *c, u8 vector);
/*
 * The host interrupts the vCPU, as a signal kicks a KVM vCPU thread out of the guest with an IPI:
 * with PIN_EXTINT_EXITING, exit 1 at the next block boundary (SDM 26.2). Async-signal-safe: it
 * only sets flags that the run loop reads between blocks, so the VMM's signal handler can end a
 * run with it (vmm/run.c).
 */
void cpu_kick(struct cpu *c);
/*
 * The owner's look at a VM exit without leaving the CPU's run loop (vmx/entry.c's fast exits):
 * after an instruction exits (cpu_vmexit_insn: CPUID, I/O, RDMSR, ...; not an exit during event
 * delivery), with the exit record complete, the CPU calls hook(opaque) where cpu_run would
 * return. true: the owner answered the exit and entered again changing nothing the CPU holds
 * but the GPRs, RIP (cpu_set_rip) and the I/O record; the CPU runs on as after a new cpu_run
 * on the same record (an IN completes from it, the TLB transition and entry events as there).
 * false: cpu_run returns CPU_RUN_EXIT as without a hook. NULL: no hook.
 */
void cpu_set_exit_hook(struct cpu *c, bool (*hook)(void *opaque), void *opaque);
/*
 * An NMI arriving at the vCPU: with PIN_NMI_EXITING it causes exit 0 (NMI, vector 2); otherwise it
 * is delivered through the guest IDT unless blocked by NMI (SDM 26.2, 25.4.2).
 */
void cpu_raise_nmi(struct cpu *c);
/*
 * A host interrupt with `vector` for the physical CPU this vCPU runs on, from any host thread
 * (a device thread posting an interrupt, SDM vol. 3C 30.6): recognized at the next instruction
 * boundary as an external interrupt. With "process posted interrupts" and the notification
 * vector it is posted-interrupt processing, with no VM exit; any other vector exits (reason 1).
 */
void cpu_send_host_ipi(struct cpu *c, u8 vector);
/* Whether "virtualize x2APIC mode" under these secondary controls virtualizes RDMSR (write
   false) or WRMSR of x2APIC MSR `msr` (SDM vol. 3C 30.5), rather than letting it operate
   normally: what a VMM merging MSR bitmaps for a nested guest passes through (soft/nested.c). */
bool cpu_x2apic_virtualized(u32 proc2, u32 msr, bool write);
/* The data steps of posted-interrupt processing (SDM vol. 3C 30.6) on a 64-byte descriptor and
   a virtual-APIC page: ON cleared, each PIR word read and cleared in one atomic step and ORed
   into VIRR. Returns the highest vector posted, -1 for none; RVI and the evaluation are the
   caller's (apicv.c for the CPU's own notification, soft/nested.c for a guest hypervisor's). */
int cpu_pir_to_virr(u64 *desc, u8 *vapic);
/*
 * The VMM's next timer, as a host TSC value (~0: none): with PIN_EXTINT_EXITING, once the host's
 * TSC reaches it the host timer's interrupt arrives (exit 1, vector CPU_HOST_TIMER_VECTOR), as
 * a host hrtimer makes a KVM vCPU exit (SDM 26.2). The CPU looks at the TSC every few thousand
 * instructions, so a busy guest's timers fire within microseconds of their deadline rather than
 * at the next host tick. Each deadline fires once; the VMM sets the next one before each entry.
 */
void cpu_set_host_deadline(struct cpu *c, u64 host_tsc);
/* The host's TSC (the clock of cpu_set_host_deadline and of CPU_TSC_HOST). */
u64 cpu_host_rdtsc(void);

/*
 * XCR0 as XSETBV loads it, for the VMM's XSETBV exit handler (SDM vol. 3C 26.1.2): 0, or -EINVAL
 * for a value XSETBV would refuse with #GP(0) (SDM vol. 1 13.3: bit 0 set, only supported
 * components, AVX only with SSE). The kvm backend's equivalent is KVM_SET_XCRS (KVM handles
 * XSETBV itself).
 */
int cpu_set_xcr0(struct cpu *c, u64 xcr0);

/* XCR0 as XGETBV(0) reads it. */
u64 cpu_get_xcr0(const struct cpu *c);
/* DR0-DR3 and DR6 (dr[0..3], dr[6]); DR7 is the VMCS's (guest-state area, SDM 25.4.1). */
void cpu_get_debugregs(const struct cpu *c, u64 dr[8]);
void cpu_set_debugregs(struct cpu *c, const u64 dr[8]);

/* Instructions retired since creation. */
u64 cpu_icount(const struct cpu *c);

/*
 * Guest state that is not a register, as the guest-state area holds it (SDM vol. 3C 25.4.2):
 * VM entry loads it, VM exit saves it (vmx/entry.c, vmx/vmexit.c).
 */
struct cpu_vmx_state {
	u32 interruptibility; /* GUEST_INTR_STATE_* (vmx/vmcs.h) */
	u32 activity;	      /* GUEST_ACTIVITY_* */
	u64 pending_dbg;
	u64 dr7, debugctl;
	u32 preemption_timer; /* counts down while PIN_PREEMPTION_TIMER is set (SDM 26.5.1) */
	u16 pml_index;	      /* next PML entry; counts down from 511 (SDM 29.3.6) */
	u64 pdpte[4];	      /* PAE PDPTEs, used when EPT is on (SDM 27.3.2.4) */
	u16 intr_status;      /* guest interrupt status: RVI bits 7:0, SVI bits 15:8 (25.4.2) */
};
void cpu_get_vmx_state(struct cpu *c, struct cpu_vmx_state *s);
/* Of cpu_get_vmx_state, the two fields every VM exit's handler may read (interruptibility,
   activity), without copying the rest. */
void cpu_get_intr_activity(const struct cpu *c, u32 *interruptibility, u32 *activity);
void cpu_set_vmx_state(struct cpu *c, const struct cpu_vmx_state *s);
/* The MSRs every VM exit saves to the guest-state area (SDM 28.3.1: IA32_SYSENTER_CS/ESP/EIP,
   and IA32_PAT when "save IA32_PAT" is set), in one call rather than four RDMSR lookups. */
struct cpu_exit_msrs {
	u64 sysenter_cs, sysenter_esp, sysenter_eip, pat;
};
void cpu_get_exit_msrs(const struct cpu *c, struct cpu_exit_msrs *m);

/*
 * The time-stamp counter. CPU_TSC_HOST follows the host's TSC. CPU_TSC_VIRTUAL is deterministic:
 * instructions retired times `cpi`, plus the cycles cpu_add_cycles() charges (the VMM's model of
 * exit costs). Either way the guest sees it through TSC offsetting and scaling (SDM 26.6.5).
 * The VMX-preemption timer counts this clock divided by 2^VMX_MISC_PREEMPTION_SHIFT.
 */
enum cpu_tsc_mode { CPU_TSC_HOST, CPU_TSC_VIRTUAL };
/*
 * The block compiler (jit.c): a block of 64-bit code is compiled to host code when it has started
 * `threshold` times (1: at once; 0: never, interpret everything). Default CPU_JIT_THRESHOLD. Where
 * the host gives no executable memory the CPU interprets whatever this says.
 */
#define CPU_JIT_THRESHOLD 8
void cpu_set_jit(struct cpu *c, unsigned threshold);
/*
 * The VMM's own guest-linear translation for its accesses on the guest's behalf (the memory side
 * of string I/O, cpu_io_string), where the CPU's paging is not the guest's: a shadow-paging VMM
 * (vmm/shadow.h) translates through the guest's tables, as a hardware VMM's emulator does.
 * walk(): 0 and the guest-physical address in *gpa, or the #PF error code to deliver (nonzero:
 * PFEC bits of SDM vol. 3A 4.7, P set or not, with W/U). NULL (the default): the CPU's paging.
 */
struct cpu_vmm_walk {
	int (*walk)(void *arg, u64 lin, bool write, u64 *gpa, u32 *pfec);
	void *arg;
};
void cpu_set_vmm_walk(struct cpu *c, const struct cpu_vmm_walk *w);

/*
 * Page-walk counters (telemetry for --stats and the EPT-vs-shadow figure): walks of the paging
 * structures the CPU runs on (TLB misses that walked: the guest's, or a shadow VMM's), the
 * entries those walks read, and the EPT walks and EPT entries read. The CPU caches EPT
 * translations (ept.c), so ept_refs is what it did, not the architectural two-dimensional cost,
 * which is 5n + 4 references for a walk of n levels with 4-level EPT (SDM 29.3.2).
 */
struct cpu_mmu_stats {
	u64 walks, walk_refs, ept_walks, ept_refs;
	u64 mmio_hits; /* translations to MMIO taken from the MMIO TLB, no walk */
};
void cpu_get_mmu_stats(const struct cpu *c, struct cpu_mmu_stats *s);

/*
 * The block compiler's view (telemetry for --stats, docs/cpu.md "The block compiler"): of the
 * instructions run, how many ran in compiled blocks and how many of those went through a
 * handler call; how compiled blocks ended: entering the next compiled block themselves
 * (chained) or returning to the run loop for pending work (events, HLT, the interrupt shadow, a
 * timer), for want of a compiled block at the target, or after a handler (it ended the block or
 * was its last instruction). The counters that cost host instructions in compiled code (chains,
 * the return reasons, handler calls by site) are kept only after cpu_set_jit_stats(c, true).
 */
struct cpu_jit_stats {
	u64 icount;	    /* every instruction retired, compiled or interpreted */
	u64 compiled;	    /* instructions of compiled blocks that ran */
	u64 calls;	    /* handler calls from compiled code (cpu_set_jit_stats) */
	u64 chained;	    /* block ends that entered the next compiled block (ditto) */
	u64 ret_work;	    /* returns to the run loop for pending work (ditto) */
	u64 ret_nocode;	    /* returns with no compiled block for the target (ditto) */
	u64 returns;	    /* every return of compiled code to the run loop */
	u64 blocks;	    /* blocks compiled */
	u64 code_bytes;	    /* host code emitted */
};
/* One kind of handler call from compiled code: the instruction form (its opcode, map << 8 |
   byte, ModRM.reg for group opcodes, operand size, memory operand) and whether it was the slow
   path of an inline memory form (a TLB miss, MMIO, a page crossing). */
struct cpu_jit_site {
	u16 opcode;
	u8 sub, osz, mem, slow;
	u64 calls;
};
void cpu_set_jit_stats(struct cpu *c, bool on);
void cpu_get_jit_stats(const struct cpu *c, struct cpu_jit_stats *s);
/* Up to max sites with calls, in no order; returns how many. */
unsigned cpu_get_jit_sites(const struct cpu *c, struct cpu_jit_site *out, unsigned max);
/* The opcode (map << 8 | byte) is a group: ModRM.reg names the operation (SDM vol. 2 A.4). */
bool x86_opcode_group(u16 opcode);
/* A mnemonic for an opcode (map << 8 | byte) and ModRM.reg, into buf: "shr", "cmovnz", "?". */
const char *x86_opcode_name(u16 opcode, u8 sub, char *buf, size_t size);
void cpu_set_tsc_mode(struct cpu *c, enum cpu_tsc_mode mode, u32 cpi);
/* c's IA32_TSC becomes from's, on the same clock: the processors of one system count in step
   from the same power-up (SDM vol. 3B 18.17). Under CPU_TSC_VIRTUAL each then counts its own
   instructions, so they part as their instruction counts do. */
void cpu_tsc_follow(struct cpu *c, const struct cpu *from);
void cpu_add_cycles(struct cpu *c, u64 cycles);
u64 cpu_tsc(const struct cpu *c); /* before offsetting and scaling */

/*
 * For debuggers, tracers and the VMM's MMIO decoder: translate a guest linear address as the
 * guest's paging (and EPT, when on) would for a supervisor read, with no side effects (no A/D
 * bits, no faults, no exits). 0 and *gpa, or -EFAULT.
 */
int cpu_debug_translate(struct cpu *c, u64 lin, u64 *gpa);
/* Read guest-linear memory through cpu_debug_translate(): 0, or -EFAULT if any byte is unmapped. */
int cpu_read_virt(struct cpu *c, u64 lin, void *buf, size_t len);

/*
 * The effect of INVEPT and INVVPID executed by the VMM (SDM vol. 3C 31.3): type 1 single-context
 * (by EPTP / VPID), 2 all-context, 0 (INVVPID only) individual address, 3 (INVVPID only)
 * single-context retaining globals.
 */
void cpu_invept(struct cpu *c, int type, u64 eptp);
/* Per PML log entry (SDM 29.3.6, 512 of them), the RIP of the instruction whose write logged
   it: what the hardware does not record, kept for the VMM's --watch reports. */
const u64 *cpu_pml_rips(const struct cpu *c);
void cpu_invvpid(struct cpu *c, int type, u16 vpid, u64 lin);
