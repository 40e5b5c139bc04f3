/* SPDX-License-Identifier: MIT */
/* Constants shared by the runtime's assembly and C (multiboot spec 0.6.96, SDM vol. 3A). */
#pragma once

#define MB_MAGIC 0x1BADB002
#define MB_BOOT_MAGIC 0x2BADB002
/* bit 0: modules page aligned, bit 1: memory info (mem_* and mmap) */
#define MB_FLAGS 0x00000003
#define MB_FLAGS_AOUT 0x00010003

#define SEL_KCODE 0x08
#define SEL_KDATA 0x10
#define SEL_UCODE32 0x1b
#define SEL_UDATA 0x23
#define SEL_UCODE 0x2b
#define SEL_TSS 0x30
#define SEL_KCODE32 0x40

#define VEC_USER_RETURN 0x80

#define CR0_PE 0x00000001
#define CR0_PG 0x80000000
#define CR4_PAE 0x00000020
#define MSR_EFER 0xc0000080
#define EFER_LME 0x00000100
