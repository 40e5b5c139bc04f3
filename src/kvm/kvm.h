/* SPDX-License-Identifier: MIT */
/*
 * The KVM backend (docs/kvm.md): the same guests, devices and exit handlers on /dev/kvm. KVM's
 * exits (kvm_run) are translated into the SDM exit record (vmx/exit.h); the levers of struct
 * vm's kvm block choose what KVM keeps in the kernel.
 */
#pragma once
#include <stdio.h>

#include "common.h"
#include "vmm/backend.h"

extern const struct backend_ops backend_kvm;

/* The device node; the environment variable TOLLBOOTH_KVM_DEV overrides it (tests). */
#define KVM_DEV_DEFAULT "/dev/kvm"
#define KVM_DEV_ENV	"TOLLBOOTH_KVM_DEV"

/*
 * --kvm-ioeventfd: a write of any size to this port is a doorbell that KVM completes in the
 * kernel (KVM_IOEVENTFD) without an exit; the rings are counted and shown by --stats. Nothing
 * else on the PC uses it.
 */
#define KVM_DOORBELL_PORT 0x4f0

/*
 * Whether the KVM device can be opened and speaks KVM_API_VERSION 12: 0, or a negative errno
 * with one line (without "tollbooth: ") in msg saying what is wrong and what to do.
 */
int kvm_probe(char *msg, size_t len);

/*
 * Parse --kvm-disable-exits LIST ("hlt,pause", also "mwait", "cstate"): 0 with the
 * KVM_X86_DISABLE_EXITS_* bits in *bits, or -EINVAL for an unknown word.
 */
int kvm_parse_disable_exits(const char *list, u32 *bits);

/*
 * --stats on kvm: the exits KVM handled itself, from its binary statistics (KVM_GET_STATS_FD),
 * printed as a table marked "in-kernel" beside the user-space one. Nothing when vcpu does not
 * run on the kvm backend.
 */
void kvm_print_kernel_stats(struct vcpu *vcpu, FILE *f);
