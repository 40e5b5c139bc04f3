/* SPDX-License-Identifier: MIT */
/*
 * The XSAVE feature set as the soft CPU implements it (xsave.c): what XCR0 may hold and the
 * instructions' handlers. CPUID leaf 0DH (vmm/cpuid.c) must agree with these numbers.
 */
#pragma once
#include "cpu/internal.h"

/* XCR0 bits the CPU supports: x87 (0) and SSE (1) (SDM vol. 1 13.3). */
#define XSAVE_XCR0_SUPPORTED 3ull
/* Size of the XSAVE area for any XCR0 it allows, standard or compacted: the legacy region and
   the header (13.4), no extended components. */
#define XSAVE_AREA_SIZE 576u

/* XINUSE (13.6): bit i clear only when component i is in its initial configuration. */
u64 xsave_xinuse(const struct cpu *c);
/* A value XSETBV may load into XCR0 (13.3). */
bool xsave_xcr0_valid(u64 xcr0);

void op_xsave(struct cpu *c, const struct insn *d);  /* 0F AE /4 /6, 0F C7 /4 /5 (memory) */
void op_xrstor(struct cpu *c, const struct insn *d); /* 0F AE /5, 0F C7 /3 (memory) */
