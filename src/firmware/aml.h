/* SPDX-License-Identifier: MIT */
/*
 * A small AML writer for the DSDT (ACPI 6.3 ch. 20, "ACPI Machine Language (AML) Specification";
 * resource descriptors from 6.4). It emits what iasl would for the same ASL: the shortest integer
 * encodings (20.2.3 ComputationalData) and the shortest PkgLength (20.2.4), so a disassembled
 * and recompiled DSDT comes back byte for byte.
 *
 * Usage: aml_init() over a buffer, then emit terms; a construct with a PkgLength (Scope, Device,
 * Package) is opened with its _begin() and closed with aml_end(), which writes the length. Errors
 * are sticky: a full buffer, a bad name or unbalanced nesting set `err` (-ENOSPC, -EINVAL) and
 * later calls do nothing; the caller checks aml_finish().
 */
#pragma once
#include "common.h"

#define AML_MAX_DEPTH 8

struct aml {
	u8 *buf;
	size_t cap, len;
	size_t open[AML_MAX_DEPTH]; /* where each open construct's PkgLength goes */
	unsigned depth;
	int err;
};

void aml_init(struct aml *a, u8 *buf, size_t cap);
/* The number of bytes written, or the first error (also when a construct is still open). */
long aml_finish(const struct aml *a);

/* Data: an Integer in its shortest form (Zero, One, Byte/Word/DWord/QWordConst), a String. */
void aml_integer(struct aml *a, u64 v);
void aml_string(struct aml *a, const char *s);
/* EISAID("PNP0A03"): the compressed EISA ID as a DWord integer (6.1.5 _HID). */
void aml_eisaid(struct aml *a, const char *id);
/* Buffer () { bytes }: ResourceTemplates are built with struct aml_rt and emitted with this. */
void aml_buffer(struct aml *a, const u8 *bytes, size_t n);

/* Name (NAME, ...): write the value next. `name` is a NameString: "_HID", "\\_S5", "\\_SB.PCI0". */
void aml_name(struct aml *a, const char *name);

/* Scope (NAME) { ... }, Device (NAME) { ... }, Package (n) { ... }: close with aml_end(). */
void aml_scope_begin(struct aml *a, const char *name);
void aml_device_begin(struct aml *a, const char *name);
void aml_package_begin(struct aml *a, u8 nr_elements);
void aml_end(struct aml *a);

/*
 * A ResourceTemplate (ACPI 6.3 6.4): descriptors appended in order; aml_rt_bytes() adds the End
 * Tag and returns the buffer for aml_buffer(), or NULL when it overflowed.
 */
struct aml_rt {
	u8 b[256];
	size_t len;
	bool overflow;
};

void aml_rt_init(struct aml_rt *rt);
/* 6.4.2.5 I/O Port Descriptor, Decode16: IO (Decode16, base, base, align, len). */
void aml_rt_io(struct aml_rt *rt, u16 base, u8 align, u8 len);
/* 6.4.2.1 IRQ Descriptor without the information byte: IRQNoFlags () { irq }. */
void aml_rt_irq_noflags(struct aml_rt *rt, unsigned irq);
/* 6.4.3.4 32-Bit Fixed Memory Range Descriptor: Memory32Fixed (ReadWrite|ReadOnly, base, len). */
void aml_rt_mem32_fixed(struct aml_rt *rt, bool writable, u32 base, u32 len);
/* 6.4.3.6 Extended Interrupt Descriptor, one interrupt, consumer, exclusive, not wake capable. */
void aml_rt_interrupt(struct aml_rt *rt, bool level, bool active_low, u32 gsi);
/* 6.4.3.5.3 Word Address Space Descriptor for a bus-number range a bridge produces:
   WordBusNumber (ResourceProducer, MinFixed, MaxFixed, PosDecode, 0, min, max, 0, count). */
void aml_rt_word_bus_number(struct aml_rt *rt, u16 min, u16 max);
/* The same for an I/O window a bridge produces: WordIO (..., EntireRange) over [min, max]. */
void aml_rt_word_io(struct aml_rt *rt, u16 min, u16 max);
/* 6.4.3.5.2 DWord Address Space Descriptor, a memory window a bridge produces:
   DWordMemory (ResourceProducer, PosDecode, MinFixed, MaxFixed, NonCacheable, ReadWrite, ...). */
void aml_rt_dword_memory(struct aml_rt *rt, u32 min, u32 max);
const u8 *aml_rt_bytes(struct aml_rt *rt, size_t *len);
