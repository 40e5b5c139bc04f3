/* SPDX-License-Identifier: MIT */
/*
 * Inside the software CPU: its state, the decoded-instruction format, and the hot-path helpers
 * (register, memory and stack access) that every instruction handler uses.
 *
 * Execution model (exec.c):
 *   - Code is decoded once into blocks of `struct insn` (decode.c), cached by guest-physical
 *     address and found through a jump cache keyed by linear RIP and code size.
 *   - The block loop does, per instruction: c->insn = d; c->insn_rip = c->rip; c->rip += d->len;
 *     d->fn(c, d). A handler therefore sees c->rip as the address of the NEXT instruction (the
 *     base of RIP-relative operands and relative branches) and changes c->rip to branch. Only a
 *     handler that ends its block or sets c->break_block may change c->rip.
 *   - Hot blocks of 64-bit code run as compiled host code (jit.c), which inlines common forms
 *     and calls every other handler with exactly this set-up.
 *   - Faults and VM exits never return: cpu_fault()/cpu_vmexit() restore c->rip = c->insn_rip
 *     (faults are fault-like, SDM vol. 3A 6.5) and longjmp back to cpu_run(). A handler must not
 *     leave architectural state half-updated before something that can fault: read and check
 *     first, then commit.
 *   - Arithmetic flags are lazy (flags.c): handlers record the operation in c->lf_*, and
 *     flags_get() materializes RFLAGS when an instruction needs it.
 *   - A handler that changes anything the decoder or the block cache depends on (CS, CR0, CR4,
 *     EFER, paging, code bytes) sets c->break_block so the block loop stops after it; events
 *     (interrupts, the interrupt shadow, pending injections) are checked between blocks.
 */
#pragma once
#include <pthread.h>
#include <setjmp.h>

/*
 * The non-local return of faults and VM exits to cpu_run(). glibc's longjmp unwinds thread
 * cancellation handlers (_longjmp_unwind, __pthread_cleanup_upto) and setjmp saves more than
 * this needs: about 110 host instructions of every VM exit. GCC's and Clang's builtin pair keeps
 * the frame and stack pointers and the resume address; the compiler treats every register as
 * clobbered at the setjmp, so nothing else need be saved. The sanitizers intercept libc's pair
 * to keep their shadow stacks (ASan's poisoning, TSan's frames), so their builds keep it.
 */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define CPU_LIBC_JMP 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define CPU_LIBC_JMP 1
#endif
#endif
#ifdef CPU_LIBC_JMP
typedef jmp_buf cpu_jmp_buf;
#define cpu_setjmp(b)  setjmp(b)
#define cpu_longjmp(b) longjmp((b), 1)
#else
typedef void *cpu_jmp_buf[5];
#define cpu_setjmp(b)  __builtin_setjmp(b)
#define cpu_longjmp(b) __builtin_longjmp((b), 1)
#endif
#include <string.h>

#include "cpu/cpu.h"

struct cpu;
struct insn;
typedef void (*insn_fn)(struct cpu *c, const struct insn *d);

/* --- Decoded instruction (decode.c fills it; it is read-only afterwards) --- */

#define REG_AH 16 /* 8-bit register numbers 16..19 are AH, CH, DH, BH (no REX prefix) */
#define BASE_NONE 0xff
#define BASE_RIP 0xfe

#define REP_NONE 0
#define REP_E 1  /* F3: REP / REPE / REPZ */
#define REP_NE 2 /* F2: REPNE / REPNZ */

#define PFX_66 BIT(0)
#define PFX_F2 BIT(1)
#define PFX_F3 BIT(2)
#define PFX_REX BIT(3)
#define PFX_REXW BIT(4)
#define PFX_SEGOVR BIT(5) /* a segment override prefix was present */
#define PFX_67 BIT(6)

#define INSN_END_BLOCK BIT(0) /* control transfer or state change: the block ends after it */
#define INSN_INVALID BIT(1)   /* #UD when executed (unknown/invalid encoding) */

struct insn {
	insn_fn fn;
	u64 imm;  /* immediate as the instruction uses it (sign-extended where the SDM says so);
		     relative branches: the sign-extended displacement; MOV moffs: the offset */
	s32 disp; /* ModRM/SIB displacement, sign-extended */
	u16 imm2; /* second immediate: ENTER's nesting level, far pointer's selector; x87: FOP */
	u16 opcode; /* map << 8 | last opcode byte; map 0 one-byte, 1 0F, 2 0F38, 3 0F3A */
	u8 len;     /* instruction length in bytes, prefixes included (1..15) */
	u8 osz;     /* operand size in bytes: 1, 2, 4, 8 */
	u8 asz;     /* address size in bytes: 2, 4, 8 */
	u8 reg;     /* ModRM.reg + REX.R, or for "+r" opcodes opcode[2:0] + REX.B; 8-bit: REG_AH.. */
	u8 rm;      /* when !mem: ModRM.rm + REX.B; same 8-bit rule */
	u8 mem;     /* ModRM (or moffs, or a string op) names memory */
	u8 base;    /* 0..15, BASE_NONE, BASE_RIP */
	u8 index;   /* 0..15 or BASE_NONE */
	u8 scale;   /* log2 of the SIB scale */
	u8 seg;     /* segment of the memory operand after overrides (enum seg_reg) */
	u8 rep;     /* REP_NONE, REP_E, REP_NE */
	u8 lock;    /* LOCK prefix present */
	u8 sub;     /* condition code (Jcc/SETcc/CMOVcc), or ModRM.reg of group opcodes */
	u8 pfx;     /* PFX_* */
	u8 flags;   /* INSN_* */
	u8 vvvv;    /* VEX.vvvv register (0..15), for VEX-encoded integer instructions (BMI1) */
};

/*
 * Decode one instruction from `avail` bytes at p. `code_bits` is 16, 32 or 64 (CS.D/CS.L).
 * Returns the length (1..15), or -1 if more bytes are needed than available (then the caller
 * raises #PF/#GP for the fetch, or, at 15, #GP(0) for an over-long instruction). Encodings the CPU
 * does not implement still get their correct length with fn = the #UD handler and INSN_INVALID.
 * Pure function of the bytes: the Zydis length test calls it directly.
 */
int x86_decode(struct insn *d, const u8 *p, size_t avail, unsigned code_bits);

/* --- The block compiler (jit.c) --- */

/* A compiled block: runs the block's instructions as the run loop would and returns how many did
   not run (non-zero only when a handler set c->break_block). */
typedef u32 (*jit_fn)(struct cpu *c);
struct jit;
struct jit_link;
struct block;
/* Compiled blocks enter the next compiled block themselves through the jump cache `jc` (the
   run loop's fast path, exec.c), keeping *blk_end current. NULL when there is no executable
   memory: interpret only. */
struct jit *jit_create(struct block **jc, const struct insn **blk_end);
void jit_destroy(struct jit *j);
/* Host code for block b of 64-bit code (its instructions at b->lin, key b->key), or NULL when
   the arena is full (jit_full() then says so: flush every block and jit_reset()). */
jit_fn jit_compile(struct jit *j, const struct block *b);
bool jit_full(const struct jit *j);
/* b's compiled code is no longer what its address runs (dropped, re-keyed): every jump patched
   into it goes back to its probe. */
void jit_unlink(struct jit *j, struct block *b);
void jit_reset(struct jit *j);
/* cpu_set_jit_stats: code compiled from now on keeps the counters (blocks compiled before do
   not: flush them). */
void jit_set_stats(struct jit *j, bool on);
/* cpu_set_lock_atomic: locked forms stay handler calls (their compare-and-swap); off, a locked
   read-modify-write compiles as the plain one, which on one host thread it is. */
void jit_set_lock_atomic(struct jit *j, bool on);
/* calls, blocks and code_bytes of s; the handler-call sites (cpu_get_jit_sites) */
void jit_get_stats(const struct jit *j, struct cpu_jit_stats *s);
unsigned jit_get_sites(const struct jit *j, struct cpu_jit_site *out, unsigned max);

/* --- TLB and blocks (exec.c, mmu.c) --- */

/* A decoded block (exec.c); jit.c reads it to enter compiled blocks directly. */
struct block {
	u64 lin;  /* linear address of the first byte */
	u64 gpa;  /* guest-physical address of the first byte */
	u64 gpa2; /* second page's guest-physical address if the last instruction crosses, else
		     NO_PAGE (exec.c) */
	u32 key;  /* c->block_key when it was made */
	u16 n;
	u8 valid;
	u8 heat;    /* executions so far, up to the compile threshold */
	jit_fn jit; /* compiled code for this lin and key, or NULL */
	struct jit_link *links_in; /* compiled jumps patched straight into jit (jit_unlink) */
	struct block *ph_next;
	struct block *page_next[2]; /* in the lists of the page of gpa and of gpa2 */
	struct insn insns[];
};

/* The jump cache: blocks by linear address of the first byte and key (exec.c). */
#define JC_BITS 12
#define JC_SIZE (1u << JC_BITS)
static inline unsigned jc_index(u64 lin, u32 key)
{
	return (unsigned)((lin ^ (lin >> JC_BITS) ^ key) & (JC_SIZE - 1));
}


#define PAGE_SIZE 4096ull
#define PAGE_MASK (~(PAGE_SIZE - 1))
#define TLB_BITS 10
#define TLB_SIZE (1u << TLB_BITS)
#define TLB_INVALID 1ull /* never equal to a page-aligned tag */
#define MMIO_TLB_SIZE 16u
/* mmu_ept_translate's qual from a walked final access: the walk (c->mmio_walk) may be cached in
   the MMIO TLB when EPT does not map the address. Not an SDM bit: masked off the exit's. */
#define EPT_QUAL_MMIO_CACHE BIT(62)

/*
 * One direct-mapped entry per linear page. A tag equals the linear page address when that kind of
 * access may proceed without a page walk for the TLB's privilege (c->tlb: supervisor or user).
 * tag_w is only set once the walk has set the dirty bits and the page holds no decoded code.
 * Host pointer of a linear address lin: (u8 *)(host + lin).
 */
struct tlb_entry {
	u64 tag_r;
	u64 tag_w;
	uintptr_t host; /* host address of the page minus its linear address */
	u64 gpa;        /* physical page address (host-physical with EPT, mmu_translate) */
};

/* tag_w as a relaxed atomic read: another vCPU thread may drop it while this one runs
   (exec.c page_mark_code, when the page becomes code). The same single move as a plain read. */
static inline u64 tlb_tag_w(const struct tlb_entry *e)
{
	return __atomic_load_n(&e->tag_w, __ATOMIC_RELAXED);
}

/* Access kinds for the slow path (mmu.c). */
#define ACC_READ 0
#define ACC_WRITE 1
#define ACC_FETCH 2
#define ACC_SYS BIT(2) /* implicit supervisor access (descriptor tables, TSS, IDT) */
#define ACC_SS BIT(3)  /* through SS: a non-canonical address is #SS(0), not #GP(0) (SDM 3.3.7.1) */
#define ACC_PT BIT(4)  /* EPT: a guest paging-structure access made a write by EPT A/D (ept.c) */

enum cpu_mode { MODE_REAL, MODE_PROT, MODE_COMPAT, MODE_LONG };

struct block;

#define EPT_CACHE_SIZE 512u

struct cpu {
	/* Hot: touched per instruction. */
	u64 gpr[16];
	u64 rip;
	u64 insn_rip;
	const struct insn *insn;
	u64 rflags; /* all non-arithmetic bits; arithmetic bits only when lf_op == LF_NONE */
	u64 lf_res, lf_src1, lf_src2;
	u32 lf_op; /* enum lf_op in flags.h, with the operand size */
	u32 lf_cfof; /* with LF_CFOF in lf_op: CF and OF (X86_CF | X86_OF bits) */
	u8 break_block;
	u8 cpl;
	u8 mode;      /* enum cpu_mode */
	u8 code_bits; /* 16, 32, 64 */
	u8 stack_bytes; /* 2, 4, 8: SS.B, or 8 in 64-bit mode */
	u32 block_key;  /* code_bits | (cpl == 3) << 8 | BLOCK_KEY_FLAT32: what a block was made for */
	u32 seg_check;  /* bit per segment register: accesses need limit/type checks (seg.c) */
	u64 lin_mask;   /* 0xffffffff outside 64-bit mode */
	u64 seg_base[6]; /* effective bases: 0 for ES/CS/SS/DS in 64-bit mode */
	struct tlb_entry *tlb; /* tlbs[0] supervisor, tlbs[1] user, by cpu_refresh_derived() */
	u8 *ram;
	u64 ram_size;
	u64 icount;

	/* Architectural state. */
	struct x86_segment seg[8];
	struct x86_dtable gdt, idt;
	u64 cr0, cr2, cr3, cr4, cr8, xcr0;
	u64 pdpte[4]; /* PAE paging's PDPTE registers (SDM vol. 3A 4.4.1), see mmu_load_pdptes() */
	u64 efer;
	u64 dr[8];
	u64 star, lstar, cstar, fmask, kernel_gs_base;
	u64 sysenter_cs, sysenter_esp, sysenter_eip;
	u64 tsc_aux, pat, apic_base;
	u64 tsc_base; /* IA32_TSC = cpu_tsc_raw() + tsc_base (msr.c) */
	/* x87, MMX, SSE (and later AVX) registers in the XSAVE layout (x86.h struct x86_fpu);
	   the x87 (fpu.c) and SSE (sse*.c) handlers own their parts of it. */
	struct x86_fpu fpu;
	u16 fpu_cs, fpu_ds; /* FCS and FDS: selectors of FIP and FDP (fpu.h) */
	u8 fpu_ignne;	    /* the IGNNE# input */
	u8 fpu_ferr;	    /* the FERR# output as last signalled */
	void (*ferr)(void *opaque, bool asserted);
	/* Decoded code shared with the other vCPUs (cpu_config.code_pages), or NULL. */
	u8 *code_pages;
	void (*code_marked)(void *opaque, u64 gpa);
	void (*code_written)(void *opaque, u64 gpa, u64 len);

	/* Events (events.c). */
	u8 intr_shadow; /* blocking by STI / MOV SS for one instruction (SDM 24.4.2) */
	u8 halted;
	/* Something to check between blocks. Other threads set it too (cpu_kick, cpu_send_host_ipi,
	   async_post): every access is a relaxed atomic (cpu_event_pending and the run loop's
	   read; the same plain moves on x86, and no data race in C). */
	u8 event_pending;
	u8 single_step; /* RFLAGS.TF was set when the current instruction began: #DB trap after it */
	u8 rf_step;	/* RFLAGS.RF was set when the current instruction began: clear it after */
	struct {
		u8 valid, vector, type, has_error, insn_len;
		u32 error;
	} inject; /* from cpu_inject_event() or a fault being delivered */
	u8 fault_depth; /* 0 none, 1 delivering, 2 delivering #DF (SDM 6.15 Table 6-5) */
	u8 fault_vector;
	u32 fault_error;
	u64 fault_cr2;

	/* Pending I/O completion (exit reason 30 round trip). */
	struct {
		u8 pending;
		struct vm_exit io; /* copy of what left */
	} io;

	/* VMX. */
	struct vmx_controls ctl;
	struct vm_exit *exit;
	u8 exiting;
	cpu_jmp_buf jb;
	/* cpu_set_exit_hook's: the owner's look at an instruction's exit inside run_blocks. */
	bool (*exit_hook)(void *opaque);
	void *exit_hook_opaque;

	/* Memory. */
	void *opaque;
	u64 (*mmio_read)(void *opaque, u64 gpa, unsigned size);
	void (*mmio_write)(void *opaque, u64 gpa, u64 value, unsigned size);
	/* [0] CPL 0-2, [1] CPL 3, [2] never filled: CPL 3 with alignment checking, so every access
	   takes the slow path, which checks alignment (cpu_refresh_derived). */
	struct tlb_entry tlbs[3][TLB_SIZE];
	/*
	 * Under EPT, guest translations whose guest-physical address is outside RAM (MMIO, as the
	 * TLB never holds), by privilege like tlbs[]: tag_r/tag_w under tlb_fill's rules, the
	 * guest-physical page, the walk's rights. A hit skips the guest walk; the EPT translation
	 * of the address (and so the EPT-violation exit of MMIO) runs as after a walk: KVM's MMIO
	 * SPTEs in spirit. Emptied by every TLB flush (mmu.c mmio_tlb_flush).
	 */
	struct {
		u64 tag_r, tag_w, gpa, rights;
		u8 dirty, global;
		/* EPT's answer for gpa kept too (ept_known): not present, the entries' R/W/X
		   ANDed. Only for the VMM's own EPT, which gains no mapping at run time without
		   a flush (vmm/ept.c: built once; edits go through ept_changed, INVEPT); a guest
		   hypervisor's EPT (nested, eptp_outer) may map the page at any time, and
		   a processor caches mappings only from present EPT entries (SDM 29.4.1). */
		u8 ept_known, ept_perm;
	} mmio_tlb[2][MMIO_TLB_SIZE];
	u8 mmio_tlb_used;
	struct {
		u64 rights;
		u8 dirty, global;
	} mmio_walk; /* the last walk's outcome, for mmio_tlb_fill */

	/* Block cache (exec.c). */
	struct blockcache *bc;

	/* VMX non-root state that is not a register (cpu.h struct cpu_vmx_state), live here; the
	   MMU logs dirty pages through vmx.pml_index. */
	struct cpu_vmx_state vmx;
	/* Telemetry, not architectural: the RIP of the instruction whose write each PML entry
	   logged (index as in the log), for the VMM's write monitor (cpu_pml_rips). */
	u64 pml_rip[512];
	u8 *(*host_ptr)(void *opaque, u64 hpa, u64 len);
	struct cpu_vmm_walk vmm_walk; /* cpu_set_vmm_walk; .walk NULL: the CPU's own paging */
	struct cpu_mmu_stats mmu_stats; /* cpu_get_mmu_stats */
	/* cpu_get_jit_stats: compiled code adds to compiled, chained, ret_work and ret_nocode */
	struct cpu_jit_stats jit_stats;
	/* Compiled code runs (run_blocks): instructions a fault or exit unretires (exec.c) were
	   counted in jit_stats.compiled too, and come off it as well. */
	u8 in_jit;

	/* --- h2 (VMX controls, TSC, timers): fields below --- */
	/*
	 * Work checked between blocks (events.c), reached when c->icount passes work_icount: the
	 * host timer tick (icount based) and the VMX-preemption timer (its deadline converted to
	 * an icount in the virtual TSC mode, polled every TIMER_POLL_INSNS in the host mode).
	 */
	u64 work_icount;
	u64 host_tick_icount; /* icount of the next host timer interrupt (CPU_HOST_TICK) */
	u64 host_deadline;    /* host TSC of the VMM's next timer (cpu_set_host_deadline), or ~0 */
	u64 deadline_icount;  /* not looked at before this icount: each entry makes progress */
	u64 preempt_deadline; /* raw clock >> VMX_MISC_PREEMPTION_SHIFT when it expires */
	u8 preempt_armed;     /* PIN_PREEMPTION_TIMER was set at this entry */
	u8 shadow_kind;	      /* GUEST_INTR_STATE_STI or _MOV_SS while intr_shadow blocks */
	u8 one_insn;	      /* run exactly one instruction, then check events (MTF, TF) */
	u8 mtf_pending;	      /* an MTF exit is due at the next instruction boundary */
	u8 nmi_pending;	      /* an NMI arrived (cpu_raise_nmi), not yet delivered */
	u8 nmi_blocked;	      /* blocking by NMI, or virtual-NMI blocking (SDM 25.4.2) */
	u8 iret_nmi_unblocked; /* the running IRET removed NMI blocking (SDM 28.2.3) */
	u8 extint_pending;     /* an external interrupt waits (cpu_raise_external_interrupt) */
	u8 extint_vector;
	volatile u8 kicked;    /* cpu_kick(), maybe from a signal handler: a host IPI to raise */
	/* APIC virtualization (apicv.c, SDM vol. 3C chapter 30). */
	u64 apicv_page;	       /* the APIC-access page under PROC2_VIRT_APIC_ACCESSES, else ~0 */
	u8 rvi, svi;	       /* guest interrupt status (25.4.2) */
	u8 vintr;	       /* a virtual interrupt is recognized (30.2.1) */
	u16 apic_write;	       /* APIC-write emulation due after this operation (30.4.3.2) */
	u32 host_irr[8];       /* cpu_send_host_ipi() vectors not yet recognized (atomic) */
	volatile u8 host_irr_any;
	u8 tsc_mode;	      /* enum cpu_tsc_mode */
	u32 tsc_cpi;	      /* cycles per instruction in CPU_TSC_VIRTUAL */
	u64 tsc_cycles;	      /* cycles added by cpu_add_cycles() */
	u64 ple_first, ple_last; /* raw clock of the first and last PAUSE of a loop (SDM 26.1.3) */
	u8 ple_valid;
	u8 monitor_armed; /* MONITOR ran; MWAIT's exit qualification bit 0 (SDM 28.2.1) */

	/* --- h3 (EPT, PML, VPID/TLB): fields below --- */
	/* The context the TLB and jump cache were filled in (SDM 29.4): TLB_CTX_EPT | EPTP when EPT
	   was on, else 0; the VPID when VPID was on, else 0. mmu.c flushes when it changes. */
	u64 tlb_eptp;
	u16 tlb_vpid;
	/* Large pages the TLB may hold pieces of since the last full flush: their regions
	   (lin >> the paging mode's largest page shift), TLB_LARGE_MAX at most; one more and
	   tlb_large_n says "any" (TLB_LARGE_MAX + 1). INVLPG scans the TLB only inside them. */
#define TLB_LARGE_MAX 8
	u64 tlb_large[TLB_LARGE_MAX];
	unsigned tlb_large_n;
	/* TLB slots (user << TLB_BITS | index) filled since the last full flush, TLB_TRACK at most;
	   more and tlb_nfilled only counts. A flush empties just those when it can: switching
	   between a guest hypervisor and its guest (nested VMX) flushes on every exit. */
#define TLB_TRACK 256
	u16 tlb_filled[TLB_TRACK];
	unsigned tlb_nfilled;
	/* Slots (as tlbs[user][index]) holding a global translation (PTE_G with CR4.PGE): MOV CR3
	   keeps them (tlb_flush_nonglobal). Meaningful while the slot's tag is valid. */
	u64 tlb_global[2][TLB_SIZE / 64];
	/* The same for the guest-physical cache (ept_cache), by index. */
#define EPT_TRACK 64
	u16 ept_filled[EPT_TRACK];
	unsigned ept_nfilled;
	u8 ept_tlb; /* EPT_TLB_* of the last mmu_ept_translate() */
	/* Guest-physical mappings (SDM 29.4.1) by 4 KiB page, direct-mapped: the EPT R/W/X rights
	   an access may use without a walk (A flags set; W only with the leaf's D flag set). Emptied
	   with the TLB (tlb_flush_all). */
	struct {
		u64 gpa, hpa; /* page addresses; gpa TLB_INVALID when empty */
		u8 perm;
	} ept_cache[EPT_CACHE_SIZE];

	/* Requests from other threads (cpu_invalidate_code_async, cpu_flush_tlb_async; exec.c):
	   async_pending (atomic) says that `async` holds some, under async.lock. */
	u8 async_pending;
	/* cpu_set_lock_atomic: locked instructions are host compare-and-swaps (rmw_read). */
	u8 lock_atomic;
	struct {
		pthread_mutex_t lock;
		u8 all;	     /* drop every block (the ranges overflowed) */
		u8 flush_tlb;
		unsigned n;
		struct {
			u64 gpa, len;
		} range[CPU_ASYNC_RANGES];
	} async;
};

/* Act on other threads' requests (exec.c): at block boundaries, from events_check(). */
void cpu_async_run(struct cpu *c);

/* --- Faults and exits (exec.c, events.c) --- */

/* Raise exception `vector` (error code used when the vector has one). Restores RIP; no return. */
noreturn void cpu_fault(struct cpu *c, u8 vector, u32 error);
/* #PF for linear address `lin` with error code `err` (CR2 is loaded at delivery). */
noreturn void cpu_page_fault(struct cpu *c, u64 lin, u32 err);
#define cpu_gp(c, err) cpu_fault((c), X86_GP, (err))
#define cpu_ud(c) cpu_fault((c), X86_UD, 0)
/*
 * VM exit caused by the current instruction (fault-like: guest RIP is the instruction's, SDM
 * 27.1). Fills the record with reason, qualification and length; the caller sets further fields
 * in c->exit before calling. No return.
 */
noreturn void cpu_vmexit(struct cpu *c, u32 reason, u64 qual);
/*
 * The same exit from an instruction's own handler, which must return at once after it: the
 * record is filled and the block loop (interpreted or compiled, which looks at break_block
 * after every handler call) returns to cpu_run() instead of a longjmp. A longjmp leaves the
 * host's return-address predictor pointing into the frames it skipped, so every return after
 * it mispredicts: the exits a guest makes most (CPUID, port I/O) take this way. Falls back to
 * cpu_vmexit() where no instruction is being executed or an event delivery is under way.
 */
void cpu_vmexit_insn(struct cpu *c, u32 reason, u64 qual);

/* --- h2: VMX controls, TSC and timers (exec.c, events.c, msr.c) --- */

/* The host timer the soft CPU models (events.c): an external interrupt with Linux's
   LOCAL_TIMER_VECTOR every CPU_HOST_TICK retired instructions, while PIN_EXTINT_EXITING is set. */
#define CPU_HOST_TICK (1ull << 22)
#define CPU_HOST_TIMER_VECTOR 0xec
/* cpu_kick(): the host's reschedule IPI, Linux's RESCHEDULE_VECTOR, as a KVM vCPU kick is. */
#define CPU_HOST_KICK_VECTOR 0xfd
/* Trap-like VM exit after the current instruction retired (guest RIP = the next one). */
noreturn void cpu_vmexit_trap(struct cpu *c, u32 reason, u64 qual);
/* VM entry (timers, windows) and VM exit (saved preemption-timer value) around cpu_run. */
void events_vmentry(struct cpu *c);
void events_vmexit(struct cpu *c);
/* Recompute c->work_icount after a timer or the clock changed. */
void events_rearm(struct cpu *c);
/* Instructions retired before the current one (exec.c). */
u64 cpu_icount_now(const struct cpu *c);
/* The clock the TSC and the VMX-preemption timer count, without IA32_TSC writes (msr.c). */
u64 cpu_tsc_raw(const struct cpu *c);

/* --- State changes that other parts must see (exec.c, mmu.c, seg.c) --- */

/* Translate for an access of kind acc (ACC_*) with the current CPL, paging mode, CR0.WP, EFER.NXE,
   SMEP/SMAP; sets accessed/dirty bits; raises #PF (or #GP for non-canonical) as the access would.
   Returns the physical address: guest-physical, or with EPT on the host-physical address after
   EPT (which may exit instead: 48, 49, 62). (mmu.c) */
u64 mmu_translate(struct cpu *c, u64 lin, int acc);

/* Block cache hooks the MMU calls (exec.c). */
bool bc_page_has_code(struct cpu *c, u64 gpa);         /* never install tag_w for such pages */
void bc_invalidate_phys(struct cpu *c, u64 gpa, u64 size); /* drop this CPU's blocks there */
void bc_code_written(struct cpu *c, u64 gpa, u64 size); /* a write hit code: every vCPU drops */
void bc_flush_jump_cache(struct cpu *c);               /* with every TLB flush */
void bc_flush_jump_cache_page(struct cpu *c, u64 lin); /* INVLPG of a 4 KiB page */

void cpu_update_mode(struct cpu *c);  /* after CR0, EFER, CS or SS changes: mode, sizes, bases */
void cpu_set_cpl(struct cpu *c, u8 cpl);

/*
 * Block-key bit: 32-bit code (protected or compatibility mode) with CS, DS, ES and SS flat (base
 * 0, 4 GiB limit, no checks: seg.c seg_is_flat) and a 32-bit stack (SS.B). The block compiler
 * compiles such blocks (jit.c); virtual-8086 mode never has it (its segments' limit is FFFFH).
 */
#define BLOCK_KEY_FLAT32 (1u << 9)
#define BLOCK_FLAT_SEGS (1u << SEG_ES | 1u << SEG_CS | 1u << SEG_SS | 1u << SEG_DS)

/*
 * State derived from CPL, CR0, RFLAGS.AC, the code size and the segments, refreshed wherever
 * those change (cpu_set_cpl, cpu_update_mode, flags_set, seg_commit):
 *   - the TLB in use. CPL 3 with CR0.AM and RFLAGS.AC set checks alignment (SDM vol. 3A 6.15,
 *     #AC): such accesses use the never-filled tlbs[2], so all reach the slow path, which checks;
 *   - the block-cache key: code size, user or supervisor, and BLOCK_KEY_FLAT32 (exec.c).
 */
/* Look at events before the next block (see event_pending). */
static inline void cpu_event_pending(struct cpu *c)
{
	__atomic_store_n(&c->event_pending, 1, __ATOMIC_RELAXED);
}

static inline void cpu_refresh_derived(struct cpu *c)
{
	unsigned t = c->cpl == 3;
	if (t && (c->cr0 & CR0_AM) && (c->rflags & X86_AC))
		t = 2;
	c->tlb = c->tlbs[t];
	c->block_key = c->code_bits | (u32)(c->cpl == 3) << 8;
	if (c->code_bits == 32 && c->stack_bytes == 4 && c->mode != MODE_REAL &&
	    !(c->seg_check & BLOCK_FLAT_SEGS))
		c->block_key |= BLOCK_KEY_FLAT32;
}
/* Alignment checking is on (see above): an instruction that accesses one operand in parts checks
   the alignment of the whole operand itself. */
static inline bool cpu_align_checking(const struct cpu *c)
{
	return c->tlb == c->tlbs[2];
}
void tlb_flush_all(struct cpu *c);    /* CR0.PG,WP / CR4 paging bits / VMX (SDM 4.10.4) */
/* MOV CR3 without PCIDs: every translation but the global ones, and the jump cache but the
   blocks fetched through global ones (SDM 4.10.4.1). */
void tlb_flush_nonglobal(struct cpu *c);
/* The TLB of the current privilege (tlbs[cpl == 3]) holds a global translation of lin's page. */
bool tlb_is_global(const struct cpu *c, u64 lin);
/* The jump cache but its blocks fetched through global translations (exec.c). */
void bc_flush_jump_cache_nonglobal(struct cpu *c);
/* Load the PDPTE registers from the PDPT at cr3 (SDM vol. 3A 4.4.1); false, changing nothing,
   if a present entry has reserved bits set (the caller raises #GP(0)). (mmu.c) */
bool mmu_load_pdptes(struct cpu *c, u64 cr3);
/* PAE paging would be in use with these CR0, CR4 and EFER values (SDM vol. 3A 4.1.1). */
static inline bool pae_paging(u64 cr0, u64 cr4, u64 efer)
{
	return (cr0 & CR0_PG) && (cr4 & CR4_PAE) && !(efer & EFER_LMA);
}
void tlb_flush_page(struct cpu *c, u64 lin); /* INVLPG */

/* --- EPT, PML and VPID (h3: ept.c, mmu.c) --- */

#define TLB_CTX_EPT BIT(63) /* never set in a valid EPTP: bits 63:52 are reserved */

/* EPT is in use (SDM 25.6.2, Table 25-7: "enable EPT" counts only with secondary controls). */
static always_inline bool ept_enabled(const struct cpu *c)
{
	return (c->ctl.proc & PROC_SECONDARY_CONTROLS) && (c->ctl.proc2 & PROC2_ENABLE_EPT);
}


/*
 * Translate guest-physical gpa through EPT for an access of kind acc & 3 (ACC_READ, ACC_WRITE,
 * ACC_FETCH), setting EPT accessed/dirty flags and logging to the PML. `qual` holds bits 7 and 8
 * of the EPT-violation qualification and `lin` the guest-linear address (when bit 7 is set).
 * Exits 48, 49 or 62 as SDM 29.3.3 and 29.3.6 say; returns the host-physical address. (ept.c)
 */
u64 mmu_ept_translate(struct cpu *c, u64 gpa, int acc, u64 lin, u64 qual);
/* mmu.c: keep lin -> gpa, with the walk's c->mmio_walk, as a translation to MMIO (c->mmio_tlb). */
void mmio_tlb_fill(struct cpu *c, u64 lin, int acc, u64 gpa, u8 ept_perm);
/* ept.c: the EPT-violation exit of an access to gpa (qual: EPT_QUAL_LIN_VALID, EPT_QUAL_FINAL;
   perm: the R/W/X of the EPT entries used, ANDed). */
noreturn void ept_violation(struct cpu *c, u64 gpa, int acc, u64 lin, u64 qual, u8 perm);
/* The same without side effects and exits: true and *hpa if some permission maps gpa. */
bool mmu_ept_lookup(struct cpu *c, u64 gpa, u64 *hpa);
/* Host pointer to len bytes at host-physical hpa (RAM, then c->host_ptr), or NULL. (ept.c) */
u8 *mmu_hpa_ptr(struct cpu *c, u64 hpa, u64 len);
/* What the TLB may cache of the last mmu_ept_translate() (c->ept_tlb): read (EPT R) and write
   (EPT W and, with EPT A/D flags, the dirty flag already set, so the first write logs). */
#define EPT_TLB_R BIT(0)
#define EPT_TLB_W BIT(1)

/* VM entry and VM exit: flush the TLB when VPID is off or the context changed (SDM 29.4.3.3).
   Call after c->ctl holds the controls of the entry. (mmu.c) */
void mmu_vmx_transition(struct cpu *c);
/* Bytes of code at physical pa (guest-physical, or host-physical under EPT) as mmu_translate
   returned it: RAM, host memory under EPT, else MMIO. (mmu.c) */
void mmu_fetch_phys(struct cpu *c, u64 pa, u8 *buf, unsigned n);

/* --- Registers --- */

static always_inline u64 reg_read(struct cpu *c, unsigned r, unsigned size)
{
	switch (size) {
	case 1:
		return r < 16 ? (u8)c->gpr[r] : (u8)(c->gpr[r - 16] >> 8);
	case 2:
		return (u16)c->gpr[r];
	case 4:
		return (u32)c->gpr[r];
	default:
		return c->gpr[r];
	}
}

/* 32-bit writes zero-extend into 64 bits; 8- and 16-bit writes merge (SDM vol. 1 3.4.1.1). */
static always_inline void reg_write(struct cpu *c, unsigned r, u64 v, unsigned size)
{
	switch (size) {
	case 1:
		if (r < 16)
			c->gpr[r] = (c->gpr[r] & ~0xffull) | (u8)v;
		else
			c->gpr[r - 16] = (c->gpr[r - 16] & ~0xff00ull) | ((u64)(u8)v << 8);
		break;
	case 2:
		c->gpr[r] = (c->gpr[r] & ~0xffffull) | (u16)v;
		break;
	case 4:
		c->gpr[r] = (u32)v;
		break;
	default:
		c->gpr[r] = v;
	}
}

/* 48-bit canonical form (SDM vol. 1 3.3.7.1); 57-bit LA57 is not offered, so CR4.LA57 is 0. */
static always_inline bool is_canonical(u64 a)
{
	return (u64)((s64)(a << 16) >> 16) == a;
}

static always_inline u64 size_mask(unsigned size)
{
	return size == 8 ? ~0ull : (1ull << (size * 8)) - 1;
}

static always_inline u64 sign_extend(u64 v, unsigned size)
{
	switch (size) {
	case 1:
		return (u64)(s64)(s8)v;
	case 2:
		return (u64)(s64)(s16)v;
	case 4:
		return (u64)(s64)(s32)v;
	default:
		return v;
	}
}

/* Effective address (offset within the segment) of the ModRM memory operand, SDM vol. 2 2.1.5. */
static always_inline u64 insn_ea(const struct cpu *c, const struct insn *d)
{
	u64 ea = (u64)(s64)d->disp;
	if (d->base == BASE_RIP)
		ea += c->rip;
	else if (d->base != BASE_NONE)
		ea += c->gpr[d->base];
	if (d->index != BASE_NONE)
		ea += c->gpr[d->index] << d->scale;
	return d->asz == 8 ? ea : ea & size_mask(d->asz);
}

/* --- Memory (fast paths here, slow paths in mmu.c and seg.c) --- */

/* Segment check for non-flat segments outside 64-bit mode: limit, type, #GP/#SS (seg.c). */
void seg_check(struct cpu *c, unsigned seg, u64 off, unsigned size, int acc);
/* Slow paths: walk, fill the TLB, raise #PF, or go to MMIO; handle page-crossing accesses. */
u64 mmu_read_slow(struct cpu *c, u64 lin, unsigned size, int acc);
void mmu_write_slow(struct cpu *c, u64 lin, u64 v, unsigned size, int acc);
/* Host pointer to `size` bytes at lin for an access that stays within one RAM page, or NULL
   (then use the read/write functions). Raises #PF as a real access would. */
void *mmu_ptr(struct cpu *c, u64 lin, unsigned size, int acc);
/* n bytes (n <= 4096, so at most two pages) at lin for accesses wider than 8 bytes (SSE, XSAVE):
   every page is translated before any byte moves; no alignment checking (callers apply their
   instruction's alignment rule). */
void mmu_read_bytes(struct cpu *c, u64 lin, void *buf, unsigned n, int acc);
void mmu_write_bytes(struct cpu *c, u64 lin, const void *buf, unsigned n, int acc);

static always_inline u64 seg_lin(struct cpu *c, unsigned seg, u64 off, unsigned size, int acc)
{
	if (unlikely(c->seg_check & (1u << seg)))
		seg_check(c, seg, off, size, acc);
	return (c->seg_base[seg] + off) & c->lin_mask;
}

/* Loads and stores of access sizes through a host pointer (guest RAM is little-endian too). */
static always_inline u64 host_load(const u8 *p, unsigned size)
{
	u64 v = 0;
	switch (size) {
	case 1:
		return *p;
	case 2:
		memcpy(&v, p, 2);
		return v;
	case 4:
		memcpy(&v, p, 4);
		return v;
	case 8:
		memcpy(&v, p, 8);
		return v;
	default:
		memcpy(&v, p, size);
		return v;
	}
}

static always_inline void host_store(u8 *p, u64 v, unsigned size)
{
	switch (size) {
	case 1:
		*p = (u8)v;
		break;
	case 2:
		memcpy(p, &v, 2);
		break;
	case 4:
		memcpy(p, &v, 4);
		break;
	case 8:
		memcpy(p, &v, 8);
		break;
	default:
		memcpy(p, &v, size);
	}
}

static always_inline u64 lin_read_acc(struct cpu *c, u64 lin, unsigned size, int acc)
{
	struct tlb_entry *e = &c->tlb[(lin >> 12) & (TLB_SIZE - 1)];
	if (likely(e->tag_r == (lin & PAGE_MASK) && (lin & 0xfff) <= PAGE_SIZE - size))
		return host_load((const u8 *)(e->host + lin), size);
	return mmu_read_slow(c, lin, size, acc);
}

static always_inline u64 lin_read(struct cpu *c, u64 lin, unsigned size)
{
	return lin_read_acc(c, lin, size, ACC_READ);
}

static always_inline void lin_write_acc(struct cpu *c, u64 lin, u64 v, unsigned size, int acc)
{
	struct tlb_entry *e = &c->tlb[(lin >> 12) & (TLB_SIZE - 1)];
	if (likely(tlb_tag_w(e) == (lin & PAGE_MASK) && (lin & 0xfff) <= PAGE_SIZE - size)) {
		host_store((u8 *)(e->host + lin), v, size);
		return;
	}
	mmu_write_slow(c, lin, v, size, acc);
}

/*
 * Host pointer for a read-modify-write of `size` bytes at lin when the TLB lets the write through
 * without the slow path, else NULL. A write tag implies the read is allowed too: x86 paging has
 * no write-only pages, and pages that need checks (SMAP, #AC, code) never get write tags.
 */
static always_inline u8 *lin_rmw_ptr(struct cpu *c, u64 lin, unsigned size)
{
	struct tlb_entry *e = &c->tlb[(lin >> 12) & (TLB_SIZE - 1)];
	if (likely(tlb_tag_w(e) == (lin & PAGE_MASK) && (lin & 0xfff) <= PAGE_SIZE - size))
		return (u8 *)(e->host + lin);
	return NULL;
}

static always_inline void lin_write(struct cpu *c, u64 lin, u64 v, unsigned size)
{
	lin_write_acc(c, lin, v, size, ACC_WRITE);
}

static always_inline u64 mem_read(struct cpu *c, unsigned seg, u64 off, unsigned size)
{
	return lin_read_acc(c, seg_lin(c, seg, off, size, ACC_READ), size,
			    seg == SEG_SS ? ACC_READ | ACC_SS : ACC_READ);
}

static always_inline void mem_write(struct cpu *c, unsigned seg, u64 off, u64 v, unsigned size)
{
	lin_write_acc(c, seg_lin(c, seg, off, size, ACC_WRITE), v, size,
		      seg == SEG_SS ? ACC_WRITE | ACC_SS : ACC_WRITE);
}

/* Check that a write of `size` bytes at seg:off would succeed, without writing (for RMW and
   instructions that must not fault after committing state). Raises what the write would. */
void mem_probe_write(struct cpu *c, unsigned seg, u64 off, unsigned size);

/*
 * The VMM's access to guest memory on the guest's behalf (string I/O after an INS/OUTS exit,
 * io.c), as a hardware VMM emulates it: the checks of the guest's own access at its CPL
 * (segment limits and usability, paging with accessed and dirty flags, SMAP, alignment), raising
 * #GP/#SS/#PF/#AC through cpu_fault(); guest-physical addresses are RAM or the MMIO callbacks as
 * the VMM maps them, never translated through EPT, and the TLB is neither used nor filled.
 * mmu_vmm_write with v NULL only checks (translating for a write, setting the flags). (mmu.c)
 */
u64 mmu_vmm_read(struct cpu *c, unsigned seg, u64 off, unsigned size);
void mmu_vmm_write(struct cpu *c, unsigned seg, u64 off, unsigned size, const u64 *v);

/*
 * The read of a read-modify-write operand is checked as a write: a fault reports W = 1 in the #PF
 * error code (SDM vol. 3A 5.7), as the hardware does (found by the differential tester,
 * docs/difftest.md).
 */
static always_inline u64 mem_read_rmw(struct cpu *c, unsigned seg, u64 off, unsigned size)
{
	return lin_read_acc(c, seg_lin(c, seg, off, size, ACC_WRITE), size,
			    seg == SEG_SS ? ACC_WRITE | ACC_SS : ACC_WRITE);
}

/*
 * Read-modify-write memory operands: the destination of ADD ADC AND OR SBB SUB XOR, NOT NEG INC
 * DEC, BTS BTR BTC, XCHG, XADD and CMPXCHG. A handler reads with rmw_read(), computes, and commits
 * with rmw_write() as its FIRST commit, repeating all three while rmw_write() returns false:
 *
 *	do {
 *		a = rmw_read(c, &m, d->lock, d->seg, ea, size);
 *		r = f(a);
 *	} while (!rmw_write(c, &m, r));
 *
 * The read is checked as a write (see mem_read_rmw). Without `lock` rmw_write() always succeeds.
 * With it (a LOCK prefix, or XCHG's implicit lock) the pair is one atomic operation with respect
 * to every other access by any host thread (SDM vol. 3A 9.1.2.2 "Software Controlled Bus
 * Locking", vol. 2A LOCK): the read records the value of the naturally aligned 8- or 16-byte
 * window of host memory holding the operand, and the write is a host compare-and-swap of that
 * window (a LOCK CMPXCHG or CMPXCHG16B on the host, itself a full barrier as the guest's locked
 * instruction is, SDM vol. 3A 9.2.3.8). When another thread changed the window in between, the
 * swap fails, nothing is committed, and the handler starts over from the read, as if the
 * locked instruction had come after that write. An operand that is not RAM through one host
 * pointer (MMIO, the APIC-access page, a page crossing) or that crosses a 16-byte boundary (a
 * split lock) is read and written as without `lock`: not atomic across threads (docs/cpu.md,
 * "Known differences").
 */
struct rmw {
	u8 *p;	    /* host pointer of the operand, NULL: through the slow paths */
	u64 lin;
	int acc;    /* ACC_WRITE, with ACC_SS through SS */
	u8 size;
	u8 locked;  /* the write is a compare-and-swap of the window */
	u8 wide;    /* the window is 16 bytes (else 8) */
	u8 code;    /* the page holds decoded code: dropped after the write (mmu.c) */
	u8 *win;    /* the window's host address */
	u64 old[2]; /* the window as read */
	u64 pa;     /* physical address of the operand (for `code`) */
};

/* The locked read and write (mmu.c): the operand's value; the write's outcome. */
u64 mmu_rmw_lock_read(struct cpu *c, struct rmw *m);
bool mmu_rmw_lock_write(struct cpu *c, struct rmw *m, u64 v);
/* The same for CMPXCHG16B's 16 bytes (m->lin, m->acc set, m->size 16; low quadword first):
   false, with nothing read, when the operand cannot be locked (the caller takes the slow paths). */
bool mmu_rmw_lock_read16(struct cpu *c, struct rmw *m, u64 v[2]);
bool mmu_rmw_lock_write16(struct cpu *c, struct rmw *m, const u64 v[2]);

static always_inline u64 rmw_read(struct cpu *c, struct rmw *m, bool lock, unsigned seg, u64 off,
				  unsigned size)
{
	m->lin = seg_lin(c, seg, off, size, ACC_WRITE);
	m->acc = seg == SEG_SS ? ACC_WRITE | ACC_SS : ACC_WRITE;
	m->size = (u8)size;
	m->locked = 0;
	if (unlikely(lock) && c->lock_atomic)
		return mmu_rmw_lock_read(c, m);
	m->p = lin_rmw_ptr(c, m->lin, size);
	return m->p ? host_load(m->p, size) : lin_read_acc(c, m->lin, size, m->acc);
}

static always_inline bool rmw_write(struct cpu *c, struct rmw *m, u64 v)
{
	if (unlikely(m->locked))
		return mmu_rmw_lock_write(c, m, v);
	if (m->p)
		host_store(m->p, v, m->size);
	else
		lin_write_acc(c, m->lin, v, m->size, m->acc);
	return true;
}

/* --- Stack (SS, with the stack-address size of SS.B or 64-bit mode) --- */

static always_inline u64 stack_off(const struct cpu *c, u64 rsp)
{
	return c->stack_bytes == 8 ? rsp : rsp & size_mask(c->stack_bytes);
}

/* Pushes `size` bytes (2, 4 or 8). RSP is updated only after the write succeeded. */
static always_inline void cpu_push(struct cpu *c, u64 v, unsigned size)
{
	u64 rsp = c->gpr[R_RSP] - size;
	mem_write(c, SEG_SS, stack_off(c, rsp), v, size);
	if (c->stack_bytes == 8)
		c->gpr[R_RSP] = rsp;
	else
		reg_write(c, R_RSP, rsp, c->stack_bytes);
}

/* Reads the top of stack without popping (pop = peek, then cpu_pop_commit). */
static always_inline u64 cpu_peek(struct cpu *c, unsigned size, u64 offset)
{
	return mem_read(c, SEG_SS, stack_off(c, c->gpr[R_RSP] + offset), size);
}

static always_inline void cpu_pop_commit(struct cpu *c, u64 bytes)
{
	u64 rsp = c->gpr[R_RSP] + bytes;
	if (c->stack_bytes == 8)
		c->gpr[R_RSP] = rsp;
	else
		reg_write(c, R_RSP, rsp, c->stack_bytes);
}

static always_inline u64 cpu_pop(struct cpu *c, unsigned size)
{
	u64 v = cpu_peek(c, size, 0);
	cpu_pop_commit(c, size);
	return v;
}

/* --- Flags (flags.c) --- */

/*
 * Lazy arithmetic flags. A handler that sets flags the standard way stores the masked operands and
 * result and c->lf_op = LF(kind, size in bytes); flags.c computes CF PF AF ZF SF OF from them on
 * demand. Per kind (all values masked to the operand size):
 *   LF_ADD  res = src1 + src2             LF_ADC  res = src1 + src2 + 1 (ADC with CF=1)
 *   LF_SUB  res = src1 - src2 (also CMP)  LF_SBB  res = src1 - src2 - 1 (SBB with CF=1)
 *   LF_LOGIC res; CF = OF = 0, AF = 0 (undefined in the SDM; we choose 0)
 *   LF_INC/LF_DEC  src1 = operand, src2 = the CF before (INC/DEC preserve CF)
 *   LF_NEG  src1 = operand, res = -operand
 *   LF_SHL/LF_SHR/LF_SAR  src1 = value before, src2 = masked count (1..63, never 0), res.
 *           CF = last bit out; OF = for SHL MSB(res)^CF, SHR MSB(src1), SAR 0 -- the SDM defines
 *           OF only for count 1; we use the same formula for all counts; AF = 0 (undefined).
 *   LF_MUL  res = the low half of a product, src2 = 1 if it overflowed: CF = OF = src2; SF ZF PF
 *           from res and AF = 0 (all four undefined in the SDM: our choice).
 * Anything else (MUL, BT, ...) materializes: f = flags_get(c); change bits; flags_set(c, f).
 * LF_CFOF, or'd into a recorded kind (never into LF_NONE): CF and OF are c->lf_cfof, the other
 * four the record's. Compiled ROL/ROR (jit.c) set it: a rotate changes CF and OF alone (SDM
 * vol. 2B RCL/RCR/ROL/ROR "Flags Affected"), and keeping the record beneath spares the
 * materialization. Whoever reads the record by kind (flags.c, carry_in) looks at it first.
 * Invariant: when lf_op != LF_NONE, the arithmetic bits of c->rflags are stale.
 */
enum lf_kind { LF_NONE, LF_ADD, LF_ADC, LF_SUB, LF_SBB, LF_LOGIC, LF_INC, LF_DEC, LF_NEG,
	       LF_SHL, LF_SHR, LF_SAR, LF_MUL };
#define LF(kind, size) ((u32)(kind) | ((u32)(size) << 8))
#define LF_KIND(op) ((op) & 0xff)
#define LF_SIZE(op) (((op) >> 8) & 0xff)
#define LF_CFOF 0x80000000u

u64 flags_get(struct cpu *c);             /* full RFLAGS, arithmetic bits materialized */
void flags_set(struct cpu *c, u64 rflags); /* all bits; lazy state becomes LF_NONE */
bool flags_cond(struct cpu *c, unsigned cc); /* condition code 0..15 (SDM vol. 1 Table B-1) */

/* --- System (seg.c, msr.c, io.c, events.c) used across files --- */

/* Load a segment register from a selector with the SDM's checks (MOV Sreg, POP Sreg, far
   transfers use their own checks in seg.c). Raises #GP/#NP/#SS/#TS as the SDM says. */
void seg_load(struct cpu *c, unsigned seg, u16 sel);
/* Architectural MSR access by the guest (RDMSR/WRMSR after the MSR-bitmap check): false if
   the CPU does not hold this MSR (then it exits to the VMM). */
bool msr_read(struct cpu *c, u32 index, u64 *v);
bool msr_write(struct cpu *c, u32 index, u64 v); /* raises #GP on invalid values */
u64 cpu_guest_tsc(struct cpu *c); /* guest TSC as RDTSC returns it (TSC offsetting applied) */

/* Between blocks: pending injections, interrupts, halted state (events.c). */
void events_check(struct cpu *c);

/* --- APIC virtualization (apicv.c, SDM vol. 3C chapter 30) --- */

/* APIC-write emulation due (c->apic_write): the flag beside the page offset. */
#define APICV_WRITE_DUE 0x8000
/* Reads and writes of the APIC-access page at page offset `off` (30.4.2, 30.4.3): virtualized
   on the virtual-APIC page or an APIC-access VM exit. The caller checked c->apicv_page. */
u64 apicv_read(struct cpu *c, unsigned off, unsigned size);
void apicv_write(struct cpu *c, unsigned off, u64 v, unsigned size);
/* An instruction fetch from the page, or a page-walk access to it under EPT (30.4.6). */
noreturn void apicv_access_exit(struct cpu *c, unsigned type, unsigned off);
/* MOV to CR8 with the TPR shadow stored VTPR: TPR virtualization (30.1.2), inside the
   instruction (its exits are trap-like). */
void apicv_tpr_virtualize(struct cpu *c);
/* RDMSR/WRMSR of 800H-8FFH that the MSR bitmap lets through, with "virtualize x2APIC mode"
   (30.5): true when virtualized (*v read, or the write done); false: not virtualized. */
bool apicv_rdmsr(struct cpu *c, u32 msr, u64 *v);
bool apicv_wrmsr(struct cpu *c, u32 msr, u64 v);
/* Between instructions (events.c): APIC-write emulation, virtual-interrupt delivery, host
   interrupts (posted-interrupt processing or exit 1). */
void apicv_write_emulate(struct cpu *c);
void apicv_deliver(struct cpu *c);
void apicv_posted(struct cpu *c);
/* VM entry with virtual-interrupt delivery: PPR virtualization and evaluation (27.3.2.5). */
void apicv_vmentry(struct cpu *c);
/* The controls changed: the APIC-access page (c->apicv_page) and the TLB. */
void apicv_set_controls(struct cpu *c);
/* Deliver the fault recorded in c->fault_* (after cpu_fault's longjmp). */
void events_deliver_fault(struct cpu *c);
/* Complete an I/O instruction after its exit came back (io.c). */
void io_complete(struct cpu *c);

/* Handler for invalid or unimplemented encodings: #UD. */
void op_ud(struct cpu *c, const struct insn *d);

/* --- Descriptors and event delivery shared by seg.c, desc.c, io.c and events.c --- */


/* Implicit supervisor accesses to system structures: GDT, LDT, IDT, TSS (SDM vol. 3A 4.6). */
u64 sys_read(struct cpu *c, u64 lin, unsigned size);
void sys_write(struct cpu *c, u64 lin, u64 v, unsigned size);
/* The 8-byte descriptor a selector names in the GDT or LDT; false if beyond the table limit. */
bool desc_fetch(struct cpu *c, u16 sel, u64 *raw);
/* Upper 8 bytes of a 16-byte system descriptor in IA-32e mode (SDM vol. 3A 7.2.3, 5.8.3.1). */
u64 desc_fetch_high(struct cpu *c, u16 sel);
/* Descriptor -> segment cache in the VMCS access-rights format (x86.h). */
void desc_decode(u64 raw, u16 sel, struct x86_segment *s);
void desc_set_accessed(struct cpu *c, u16 sel, u64 raw);
bool seg_limit_ok(const struct x86_segment *s, u64 off, unsigned size);
/* Install a segment cache; updates effective base and seg_check (cpu_update_mode for CS/SS). */
void seg_commit(struct cpu *c, unsigned seg, const struct x86_segment *s);
/* An unusable (null) segment with this selector and DPL. */
void seg_make_null(struct x86_segment *s, u16 sel, u8 dpl);
/* After a return to an outer level (c->cpl already the new CPL): ES/DS/FS/GS with DPL < CPL
   become null (SDM vol. 2 RET, IRET). */
void seg_null_outer(struct cpu *c);
/* Bytes of the current TSS; #TS(TR selector | ext) beyond its limit (SDM vol. 3A 7.2). */
u64 tss_read(struct cpu *c, u32 off, unsigned size, u32 ext);
/* Deliver `vector` through the IDT (SDM vol. 3A 6.12, 6.14); `ret_rip` is the RIP pushed. */
void events_deliver(struct cpu *c, u8 vector, u8 type, bool has_error, u32 error, u64 ret_rip);

/* --- System instructions (sys.c, cr.c, desc.c, msr.c, syscall.c, io.c) --- */

/*
 * Each handler applies, in the SDM's order (SDM vol. 3C 25.1.1): #UD for the mode, privilege
 * faults (CPL, CR4.TSD, TSS I/O permission bitmap), then the VM exit the controls ask for (SDM
 * vol. 3C 26.1), then the instruction's own checks and work. Exit qualifications follow SDM
 * vol. 3C 27.2.1. The helpers they share:
 */

/* Secondary controls act only when activated (SDM vol. 3C 24.6.2). */
static inline u32 cpu_proc2(const struct cpu *c)
{
	return (c->ctl.proc & PROC_SECONDARY_CONTROLS) ? c->ctl.proc2 : 0;
}

static inline void need_cpl0(struct cpu *c)
{
	if (c->cpl)
		cpu_gp(c, 0);
}

static inline unsigned iopl(const struct cpu *c)
{
	return (c->rflags & X86_IOPL) >> X86_IOPL_SHIFT;
}

/*
 * Virtual-8086 mode: protected mode with RFLAGS.VM = 1 (never in IA-32e mode), CPL 3, every
 * segment as in real-address mode (base = selector << 4, limit FFFFH, a 16-bit read/write data
 * segment of DPL 3: the access rights F3H that VMX requires too, SDM vol. 3C 26.3.1.2) (SDM vol.
 * 3B 20.2). c->mode stays MODE_PROT: only the rules below differ. No VME/PVI (CR4 refuses them).
 */
static inline bool cpu_v86(const struct cpu *c)
{
	return c->rflags & X86_VM;
}

#define V86_SEG_AR 0xf3u

/* Segment registers load as in real-address mode: real mode and virtual-8086 mode. */
static inline bool seg_real(const struct cpu *c)
{
	return c->mode == MODE_REAL || cpu_v86(c);
}

/* Address-size field of the VM-exit instruction information (SDM vol. 3C 27.2.5). */
static inline u32 asz_code(unsigned asz)
{
	return asz == 2 ? 0 : asz == 4 ? 1 : 2;
}

/*
 * The operand fields shared by the VM-exit instruction information formats (SDM vol. 3C 28.2.5):
 * scaling 1:0, address size 9:7, segment 17:15, index 21:18 (22: invalid), base 26:23 (27:
 * invalid); a register operand instead: reg1 in 6:3 and bit 10.
 */
static inline u32 mem_insn_info(const struct cpu *c, const struct insn *d)
{
	u32 info;

	if (!d->mem)
		return (u32)d->rm << 3 | BIT(10);
	info = d->scale | asz_code(d->asz) << 7 | (u32)d->seg << 15;
	info |= d->index == BASE_NONE ? BIT(22) : (u32)d->index << 18;
	info |= (d->base == BASE_NONE || d->base == BASE_RIP) ? BIT(27) : (u32)d->base << 23;
	return info;
}

/* The 16-bit selector or word operand of r/m16 instructions. */
static inline u16 rm16(struct cpu *c, const struct insn *d)
{
	return d->mem ? (u16)mem_read(c, d->seg, insn_ea(c, d), 2) : (u16)reg_read(c, d->rm, 2);
}

/* CLI, STI and port I/O without a permission-bitmap check: real mode or CPL <= IOPL (in
   virtual-8086 mode, CPL 3: IOPL 3; port I/O there always checks the bitmap, io.c). */
static inline bool iopl_ok(const struct cpu *c)
{
	return c->mode == MODE_REAL || c->cpl <= iopl(c);
}

/* A new base for segment register `seg`, the rest of its cache kept (SWAPGS, WRMSR). */
static inline void set_seg_base(struct cpu *c, unsigned seg, u64 base)
{
	struct x86_segment s = c->seg[seg];

	s.base = base;
	seg_commit(c, seg, &s);
}
