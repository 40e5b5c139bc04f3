/* SPDX-License-Identifier: MIT */
/*
 * The hypercall ABI, KVM's convention (Documentation/virt/kvm/x86/hypercalls.rst): VMCALL with the
 * number in RAX and arguments in RBX, RCX, RDX, RSI; the result comes back in RAX and every other
 * register is preserved. Only CPL 0 may call; from CPL > 0 RAX = HC_EPERM.
 */
#pragma once

#define HC_GET_VERSION 0 /* -> HC_ABI_VERSION */
#define HC_ABI_VERSION 1

#define HC_ENOSYS (-1000) /* unknown hypercall number (KVM_ENOSYS) */
#define HC_EPERM  (-1)	  /* not called from CPL 0 (KVM_EPERM) */
