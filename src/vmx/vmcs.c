// SPDX-License-Identifier: MIT
/*
 * The VMCS (Intel SDM vol. 3C chapter 25) generated from vmx/vmcs_fields.h: an O(1) table from an
 * encoding's (width, type, index) to the field, the fields' names, and the VMREAD/VMWRITE rules
 * of SDM vol. 3C 31.3 (VMREAD, VMWRITE) and 25.11.2.
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "vmx/vmcs.h"

struct vmcs_field_desc {
	u16 offset; /* of the u64 member in struct vmcs */
	u16 enc;
	const char *name, *name_high;
};

static const struct vmcs_field_desc vmcs_fields[] = {
#define X(NAME, name, enc) { offsetof(struct vmcs, name), (enc), #NAME, #NAME "_HIGH" },
#include "vmx/vmcs_fields.h"
#undef X
};

/*
 * Slot of an encoding: width (bits 14:13), type (11:10), index (9:1); 2 + 2 + 9 bits. Encodings
 * with bit 12 or any bit above 14 set name no field (SDM vol. 3C 25.11.2, Table 25-21).
 */
#define VMCS_SLOT(enc) \
	((VMCS_ENC_WIDTH(enc) << 11) | (VMCS_ENC_TYPE(enc) << 9) | VMCS_ENC_INDEX(enc))
#define VMCS_ENC_RESERVED 0xffff9000u

/*
 * Index into vmcs_fields[] + 1 by slot; 0 = unsupported. __COUNTER__ numbers the list's lines in
 * the order vmcs_fields[] has them, so the table is a compile-time constant.
 */
enum { VMCS_COUNTER_BASE = __COUNTER__ };
static const u8 vmcs_slot_field[1 << 13] = {
#define X(NAME, name, enc) [VMCS_SLOT(enc)] = __COUNTER__ - VMCS_COUNTER_BASE,
#include "vmx/vmcs_fields.h"
#undef X
};

_Static_assert(ARRAY_SIZE(vmcs_fields) < 255, "vmcs_slot_field holds a u8");

/* The field an encoding names, or NULL (a high half only of a 64-bit field). */
static const struct vmcs_field_desc *vmcs_lookup(u32 enc)
{
	u8 n;

	if (enc & VMCS_ENC_RESERVED)
		return NULL;
	n = vmcs_slot_field[VMCS_SLOT(enc)];
	if (!n)
		return NULL;
	if (VMCS_ENC_HIGH(enc) && VMCS_ENC_WIDTH(enc) != VMCS_WIDTH_64)
		return NULL;
	return &vmcs_fields[n - 1];
}

static u64 *vmcs_slot(struct vmcs *v, const struct vmcs_field_desc *f)
{
	return (u64 *)((u8 *)v + f->offset);
}

u32 vmcs_max_index(void)
{
	u32 max = 0;

	for (size_t i = 0; i < ARRAY_SIZE(vmcs_fields); i++)
		if (VMCS_ENC_INDEX(vmcs_fields[i].enc) > max)
			max = VMCS_ENC_INDEX(vmcs_fields[i].enc);
	return max;
}

void vmcs_init(struct vmcs *v)
{
	memset(v, 0, sizeof(*v));
	v->revision_id = VMCS_REVISION_ID;
}

bool vmcs_field_supported(u32 enc)
{
	return vmcs_lookup(enc) != NULL;
}

const char *vmcs_field_name(u32 enc)
{
	const struct vmcs_field_desc *f = vmcs_lookup(enc);

	if (!f)
		return NULL;
	return VMCS_ENC_HIGH(enc) ? f->name_high : f->name;
}

/* VMREAD (SDM vol. 3C 31.3): zero-extended; the high half of a 64-bit field reads bits 63:32. */
int vmcs_read(const struct vmcs *v, u32 enc, u64 *value)
{
	const struct vmcs_field_desc *f = vmcs_lookup(enc);
	u64 x;

	if (!f)
		return VMXERR_UNSUPPORTED_COMPONENT;
	x = *vmcs_slot((struct vmcs *)v, f);
	*value = VMCS_ENC_HIGH(enc) ? x >> 32 : x;
	return 0;
}

/* A field's new contents when `value` is written through `enc` over `old` (SDM vol. 3C
   25.11.2): cut to the field's width; a high-half write keeps bits 31:0. */
static u64 vmcs_field_value(u32 enc, u64 old, u64 value)
{
	switch (VMCS_ENC_WIDTH(enc)) {
	case VMCS_WIDTH_16:
		return (u16)value;
	case VMCS_WIDTH_32:
		return (u32)value;
	case VMCS_WIDTH_64:
		return VMCS_ENC_HIGH(enc) ? (old & 0xffffffffull) | value << 32 : value;
	default: /* natural width: 64 bits on this 64-bit model */
		return value;
	}
}

static void vmcs_store(struct vmcs *v, const struct vmcs_field_desc *f, u32 enc, u64 value)
{
	u64 *p = vmcs_slot(v, f), old = *p;

	*p = vmcs_field_value(enc, old, value);
	if (VMCS_ENC_TYPE(enc) != VMCS_TYPE_GUEST)
		v->ctls_checked = false;
	else if (*p != old)
		v->guest_dirty |= enc == GUEST_RIP	     ? VMCS_DIRTY_RIP
				  : enc == GUEST_INTR_STATUS ? VMCS_DIRTY_INTR
							     : VMCS_DIRTY_STATE;
}

/*
 * VMWRITE (SDM vol. 3C 31.3): error 12 for an unsupported encoding, 13 for a VM-exit information
 * field, as IA32_VMX_MISC bit 29 is 0 (SDM vol. 3D A.6).
 */
int vmcs_write(struct vmcs *v, u32 enc, u64 value)
{
	const struct vmcs_field_desc *f = vmcs_lookup(enc);

	if (!f)
		return VMXERR_UNSUPPORTED_COMPONENT;
	if (VMCS_ENC_TYPE(enc) == VMCS_TYPE_EXIT_INFO)
		return VMXERR_WRITE_READONLY;
	vmcs_store(v, f, enc, value);
	return 0;
}

void vmcs_write_exit_info(struct vmcs *v, u32 enc, u64 value)
{
	const struct vmcs_field_desc *f = vmcs_lookup(enc);

	if (!f) {
		fprintf(stderr, "tollbooth: internal error: VMCS field %#x is not supported\n", enc);
		abort();
	}
	vmcs_store(v, f, enc, value);
}

void vmcs_set_checked(struct vmcs *v, u32 enc, u64 value, const char *what)
{
	int err = vmcs_write(v, enc, value);

	if (err) {
		fprintf(stderr, "tollbooth: internal error: VMWRITE %s (%#x) failed with VM-instruction "
				"error %d\n",
			what, enc, err);
		abort();
	}
}

void vmcs_dump(const struct vmcs *v, FILE *f)
{
	fprintf(f, "VMCS revision %#x, %s\n", v->revision_id, v->launched ? "launched" : "clear");
	for (size_t i = 0; i < ARRAY_SIZE(vmcs_fields); i++)
		fprintf(f, "%-32s = %#llx\n", vmcs_fields[i].name,
			(unsigned long long)*vmcs_slot((struct vmcs *)v, &vmcs_fields[i]));
}

/*
 * The VMCS region's format is the processor's own (SDM vol. 3C 25.2): this model's is the
 * revision identifier and abort indicator (the two words the SDM fixes), then a launch-state
 * byte at offset 8, then every field as a little-endian u64 from offset 16, in vmcs_fields[]'s
 * order. Nothing of the host process (no padding) goes into guest memory.
 */
#define VMCS_REGION_FIELDS 16

_Static_assert(VMCS_REGION_FIELDS + 8 * ARRAY_SIZE(vmcs_fields) <= VMCS_REGION_SIZE,
	       "the serialized VMCS fits the 4-KiB region IA32_VMX_BASIC reports");

void vmcs_to_region(const struct vmcs *v, u8 *region)
{
	memset(region, 0, VMCS_REGION_SIZE);
	memcpy(region, &v->revision_id, 4);
	memcpy(region + 4, &v->abort_indicator, 4);
	region[8] = v->launched;
	for (size_t i = 0; i < ARRAY_SIZE(vmcs_fields); i++)
		memcpy(region + VMCS_REGION_FIELDS + 8 * i,
		       (const u8 *)v + vmcs_fields[i].offset, 8);
}

/* Software that wrote the region directly gets what the SDM promises it (undefined behaviour,
   25.2) but never a host fault: each field is cut to its width as VMWRITE would. */
void vmcs_from_region(struct vmcs *v, const u8 *region)
{
	vmcs_init(v);
	memcpy(&v->revision_id, region, 4);
	memcpy(&v->abort_indicator, region + 4, 4);
	v->launched = region[8] & 1;
	for (size_t i = 0; i < ARRAY_SIZE(vmcs_fields); i++) {
		u32 enc = vmcs_fields[i].enc;
		u64 value;

		memcpy(&value, region + VMCS_REGION_FIELDS + 8 * i, 8);
		*vmcs_slot(v, &vmcs_fields[i]) = vmcs_field_value(enc, 0, value);
	}
	v->guest_dirty = VMCS_DIRTY_ALL;
	v->ctls_checked = false;
}

/*
 * A field of a VMCS region in memory, in the format above: what the processor does for VMREAD
 * and VMWRITE of a shadow VMCS (SDM vol. 3C 25.10, 31.3), with VMREAD/VMWRITE's rules (errors 12
 * and 13, widths, high halves). `any`: the processor's own write (the VM-instruction error).
 */
int vmcs_region_access(u8 *region, u32 enc, bool write, u64 *value, bool any)
{
	const struct vmcs_field_desc *f = vmcs_lookup(enc);
	u8 *slot;
	u64 cur, v;

	if (!f)
		return VMXERR_UNSUPPORTED_COMPONENT;
	if (write && !any && VMCS_ENC_TYPE(enc) == VMCS_TYPE_EXIT_INFO)
		return VMXERR_WRITE_READONLY;
	slot = region + VMCS_REGION_FIELDS + 8 * (size_t)(f - vmcs_fields);
	memcpy(&cur, slot, 8);
	if (!write) {
		*value = VMCS_ENC_HIGH(enc) ? cur >> 32 : cur;
		return 0;
	}
	v = vmcs_field_value(enc, cur, *value);
	memcpy(slot, &v, 8);
	return 0;
}
