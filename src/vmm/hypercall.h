/* SPDX-License-Identifier: MIT */
/*
 * The hypercall ABI, KVM's convention (Documentation/virt/kvm/x86/hypercalls.rst): VMCALL with the
 * number in RAX and arguments in RBX, RCX, RDX, RSI; the result comes back in RAX and every other
 * register is preserved. Only CPL 0 may call; from CPL > 0 RAX = HC_EPERM.
 */
#pragma once

#define HC_GET_VERSION 0 /* -> HC_ABI_VERSION */
#define HC_ABI_VERSION 3

/*
 * RBX = field -> RAX = that field of the VMM's record of the most recent exit the guest caused:
 * how a guest test checks what the VMM saw. Not VMCALLs (the queries), nor the host's own exits
 * that can come at any instruction boundary: external interrupts and the preemption timer
 * (since version 3); HC_EXIT_COUNT counts those. Unknown field: HC_EINVAL.
 */
#define HC_LAST_EXIT 1
#define HC_EXIT_REASON 0
#define HC_EXIT_QUAL 1
#define HC_EXIT_INSN_LEN 2
#define HC_EXIT_GUEST_LINEAR 3
#define HC_EXIT_GUEST_PHYS 4
#define HC_EXIT_INSN_INFO 5
#define HC_EXIT_INTR_INFO 6
#define HC_EXIT_INTR_ERROR 7
#define HC_EXIT_IDT_VECTORING_INFO 8
#define HC_EXIT_RIP 9
/* RBX = basic exit reason -> RAX = how many exits of that reason the VMM has handled so far. */
#define HC_EXIT_COUNT 2

#define HC_ENOSYS (-1000) /* unknown hypercall number (KVM_ENOSYS) */
#define HC_EPERM  (-1)	  /* not called from CPL 0 (KVM_EPERM) */
#define HC_EINVAL (-22)	  /* bad argument */
