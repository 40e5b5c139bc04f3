/* SPDX-License-Identifier: MIT */
/*
 * The exit record: the one interface between a backend (soft CPU or KVM) and the VMM's handlers.
 * Its fields are the VMCS exit-information fields (SDM vol. 3C 24.9 and 28.2); a backend fills
 * what the SDM says the exit reason defines and zeroes the rest.
 */
#pragma once
#include "common.h"

enum exit_reason {
#define X(n, name) EXIT_REASON_##name = n,
#include "vmx/exit_reasons.h"
#undef X
	EXIT_REASON_MAX = 70,
};

/* Bit 31 of the exit-reason field: VM-entry failure (SDM vol. 3C 24.9.1). */
#define EXIT_REASON_FAILED_VMENTRY BIT(31)

const char *exit_reason_name(u32 reason); /* "CPUID", ...; "UNKNOWN" for gaps */

/* I/O exit qualification (SDM vol. 3C Table 28-5). */
#define IO_QUAL_SIZE(q) (((q) & 7) + 1)
#define IO_QUAL_IN BIT(3)
#define IO_QUAL_STRING BIT(4)
#define IO_QUAL_REP BIT(5)
#define IO_QUAL_IMM BIT(6)
#define IO_QUAL_PORT(q) ((u16)((q) >> 16))

struct vm_exit {
	u32 reason;     /* basic exit reason in bits 15:0, plus bit 31 on entry failure */
	u32 insn_len;   /* VM-exit instruction length */
	u64 qual;       /* exit qualification */
	u64 rip;        /* guest RIP of the instruction (or event) that exited */
	u64 guest_linear;
	u64 guest_phys;
	u32 insn_info;  /* VM-exit instruction information */
	u32 intr_info;  /* VM-exit interruption information */
	u32 intr_error; /* VM-exit interruption error code */
	u32 idt_vectoring_info;
	u32 idt_vectoring_error;
	/*
	 * I/O exchange for reason 30, the contract of KVM's kvm_run.io: one element of `size`
	 * bytes. For OUT/OUTS the backend fills `data` before the exit; for IN/INS the handler fills
	 * it. The backend completes the instruction (register or memory write, RSI/RDI/RCX update,
	 * RIP advance) when the vCPU next runs, so handlers never emulate I/O instructions.
	 */
	struct {
		u16 port;
		u8 size;
		u8 in;
		u32 data;
	} io;
	/*
	 * MMIO exchange for reason 48 on an MMIO region, when the backend already decoded the access
	 * (KVM's KVM_EXIT_MMIO): `valid` set, one access of `size` bytes at `gpa`; for a write
	 * `data` holds the value, for a read the handler fills it and the backend completes the
	 * instruction on the next run. When `valid` is clear (the soft CPU's EPT violation) the VMM
	 * decodes the faulting instruction itself and completes it, as a hardware VMM must.
	 */
	struct {
		bool valid;
		bool write;
		u8 size;
		u64 gpa;
		u64 data;
	} mmio;
};
