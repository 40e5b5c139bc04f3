/* SPDX-License-Identifier: MIT */
/*
 * Shadow paging (`--vmx ept=off`): the VMM's MMU when the CPU has no EPT, as VMMs did before it
 * (KVM's shadow MMU, arch/x86/kvm/mmu). The guest's CR3 never reaches the CPU: GUEST_CR3 holds
 * the root of tables the VMM builds from the guest's, mapping guest-linear straight to
 * host-physical. docs/vmm.md "Shadow paging" says what it does and what it leaves out.
 *
 * The shadow is built on demand from #PF exits (the exception bitmap takes every #PF, SDM vol.
 * 3C 26.2 / 28.2.1: the qualification is the linear address); a #PF exit always walks the
 * guest's tables afresh, so a new present entry or wider rights take effect at once. Two ways to
 * keep it (shadow.c): cached mode (a 4-level guest with CR0.WP = 1; one cache per VM) mirrors
 * each guest table, keeps the mirrors across CR3 loads, write-protects the guest's tables and
 * brings the ones it wrote back in line at CR3 loads, INVLPG and INVPCID (KVM's unsync/resync);
 * otherwise a virtual TLB, dropped where the architecture lets a TLB drop translations: all of
 * it at a CR3 load or a paging-mode change, one page at INVLPG (SDM vol. 3A 4.10.4).
 *
 * The CPU always runs with paging on (VMX without unrestricted guest fixes CR0.PE and PG,
 * SDM 27.3.1.1), CR0.WP set (so that write protection of clean pages works even for a guest
 * that clears WP), CR4.PAE set (PAE shadows for guests outside IA-32e mode: 32-bit, PAE and no
 * paging at all, which the VMM maps 1:1 as KVM does without unrestricted guest) and EFER.NXE set.
 * The guest's own values are what it reads: CR0/CR4 through the read shadows, CR3 through
 * CR3-store exiting, EFER through the MSR bitmap.
 */
#pragma once
#include <stddef.h>

#include "common.h"

struct vcpu;
struct vm;

/* The paging state: the guest's view, or what the VMCS holds. */
struct shadow_regs {
	u64 cr0, cr3, cr4, efer;
};

struct shadow_stats {
	u64 faults;	/* #PF exits taken */
	u64 fills;	/* ... that the shadow answered (a translation built or widened) */
	u64 reflected;	/* ... that were the guest's own #PF, injected */
	u64 mmio;	/* ... that were MMIO, emulated */
	u64 resets;	/* shadows dropped whole (CR3 load, mode change, pool full) */
	u64 invlpg;	/* INVLPG exits */
	u64 pages_peak; /* shadow pages in use, at most */
	u64 emulated;	/* switches to real-mode emulation (the soft backend's) */
	u64 unsyncs;	/* cached mode: mirrored guest tables the guest wrote (out of sync) */
	u64 resyncs;	/* ... and brought back in line (at CR3 loads and INVLPG) */
};

/* The shadow MMU of vcpu (vcpu->shadow): 0 or -ENOMEM. */
int shadow_create(struct vcpu *vcpu);
void shadow_destroy(struct vcpu *vcpu);

/*
 * The guest's paging state as it sees it (`guest`): returns in *real what the VMCS must hold
 * (GUEST_CR0/CR3/CR4/IA32_EFER, before the VMX fixed bits). A change of the state that decides
 * translations (CR0.PG/WP, CR4.PAE/PSE/SMEP/SMAP, EFER.LMA/NXE) drops the shadow; a CR3 load or
 * a CR4.PGE change drops it too, or in cached mode resyncs and switches roots. True when the
 * caller must invalidate the vCPU's TLB (INVVPID all contexts of its VPID).
 */
bool shadow_load(struct vcpu *vcpu, const struct shadow_regs *guest, struct shadow_regs *real);
/* Cached mode (shadow tables kept across CR3 loads, shadow.c) on (the default) or off for this
   vCPU. Takes effect at the next shadow_load. */
void shadow_set_caching(struct vcpu *vcpu, bool on);

/* Before each entry: the root GUEST_CR3 must hold (a reset inside an exit handler may have
   moved it), and true when translations were dropped since (flush the TLB). */
bool shadow_sync(struct vcpu *vcpu, u64 *root);

/* The guest's last view, as shadow_load took it. */
void shadow_guest(const struct vcpu *vcpu, struct shadow_regs *guest);

/* A guest MOV to CR3 (even of the value it holds: it flushes, SDM vol. 3A 4.10.4.1). */
void shadow_cr3_load(struct vcpu *vcpu);

/* After a #PF exit: true when the shadow needs an MTF exit after the instruction (a one-write
   leaf to take back, CR0.WP = 0 with SMAP). */
bool shadow_want_mtf(struct vcpu *vcpu);
/* At an MTF exit: true when that leaf was taken back (its linear address in *lin, for the
   TLB); false when the shadow had none. */
bool shadow_mtf(struct vcpu *vcpu, u64 *lin);

/* The backend runs the vCPU's real mode under emulation controls (`on`), or stops: counted. */
void shadow_note_emulation(struct vcpu *vcpu, bool on);

/* Drop the whole shadow now (INVPCID, SDM vol. 3A 4.10.4.1); the caller flushes the TLB. */
void shadow_flush(struct vcpu *vcpu);

enum shadow_fault {
	SHADOW_FIXED,	    /* the shadow now maps it: resume the guest */
	SHADOW_GUEST_FAULT, /* the guest's tables fault: inject #PF(*guest_ec), CR2 = lin */
	SHADOW_MMIO,	    /* it maps MMIO (*gpa): the VMM emulates the access */
	SHADOW_STOP,	    /* the guest's tables are outside RAM: the run was stopped */
};

/*
 * A #PF exit at linear `lin` with error code `ec` (SDM 28.2.2) from a vCPU at `cpl` with
 * `rflags` (AC decides SMAP). Walks the guest's tables as the CPU would (SDM vol. 3A 4.3-4.6),
 * sets their accessed and dirty flags (4.8) and builds the shadow entry. *flush_lin: the TLB
 * entry for lin must go (the shadow entry changed); the caller does it. Pages that are not RAM
 * get no shadow entry: every access to them faults and is MMIO, the guest-physical address in
 * *gpa, as an EPT violation is with EPT (KVM's MMIO sptes do the same). The exception is the
 * APIC-access page with "virtualize APIC accesses" (`apic_page`: its address, else 0), mapped
 * 1:1 so that the CPU virtualizes it (SDM vol. 3C 30.4).
 */
enum shadow_fault shadow_page_fault(struct vcpu *vcpu, u64 lin, u32 ec, unsigned cpl, u64 rflags,
				    u32 *guest_ec, u64 *gpa, bool *flush_lin);
/* The APIC-access page the shadow maps 1:1 (0: none), as the VMCS's control says. */
void shadow_set_apic_page(struct vcpu *vcpu, u64 gpa);

/* INVLPG lin: drop its shadow translation. True when more than that page went (a guest large
   page is shadowed by 4 KiB entries): flush the whole TLB, not just lin. */
bool shadow_invlpg(struct vcpu *vcpu, u64 lin);

/* cpu_vmm_walk's walk() (cpu/cpu.h) for the soft CPU of vcpu (`arg`): the guest's translation
   for the VMM's string-I/O accesses, with the guest's accessed and dirty flags. */
int shadow_vmm_walk(void *arg, u64 lin, bool write, u64 *gpa, u32 *pfec);

/* Read guest-linear memory through the guest's own tables, without side effects (backend.h
   read_guest_virt): 0, or -EFAULT when a byte is not mapped to RAM. */
int shadow_read_virt(struct vcpu *vcpu, u64 lin, void *buf, size_t len);

const struct shadow_stats *shadow_stats(const struct vcpu *vcpu);
/* The VM's: the vCPUs' counters summed (pages: the largest), the shared cache's once. */
void shadow_vm_stats(const struct vm *vm, struct shadow_stats *t);
