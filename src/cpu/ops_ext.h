/* SPDX-License-Identifier: MIT */
/* Handlers of ops_ext.c, installed by sse_decode.c (which decodes groups 9 and 15). */
#pragma once
#include "cpu/internal.h"

void op_rdrand(struct cpu *c, const struct insn *d);   /* 0F C7 /6 /7 (RDSEED), register */
void op_rdpid(struct cpu *c, const struct insn *d);    /* F3 0F C7 /7, register */
void op_fsgsbase(struct cpu *c, const struct insn *d); /* F3 0F AE /0-/3, register; sub = /n */
