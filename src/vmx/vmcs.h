/* SPDX-License-Identifier: MIT */
/*
 * The VMCS (Intel SDM vol. 3C chapter 25), generated from vmx/vmcs_fields.h. Every field is held
 * as a u64 in struct vmcs; VMWRITE stores only the field's width (25.11.2), VMREAD zero-extends.
 * The VMM may read struct members directly on hot paths; it writes through vmcs_write() or
 * VMCS_SET() so that widths and read-only rules hold for it as for a guest hypervisor.
 */
#pragma once
#include <stdio.h>

#include "arch/vmx.h"
#include "common.h"

enum vmcs_field {
#define X(NAME, name, enc) NAME = (enc),
#include "vmx/vmcs_fields.h"
#undef X
};

/* Encoding components (SDM vol. 3C 25.11.2, Table 25-21). */
#define VMCS_ENC_HIGH(enc)  ((enc) & 1)
#define VMCS_ENC_INDEX(enc) (((enc) >> 1) & 0x1ff)
#define VMCS_ENC_TYPE(enc)  (((enc) >> 10) & 3) /* 0 control, 1 exit info, 2 guest, 3 host */
#define VMCS_ENC_WIDTH(enc) (((enc) >> 13) & 3) /* 0 16, 1 64, 2 32, 3 natural */
#define VMCS_TYPE_CONTROL 0
#define VMCS_TYPE_EXIT_INFO 1
#define VMCS_TYPE_GUEST 2
#define VMCS_TYPE_HOST 3
#define VMCS_WIDTH_16 0
#define VMCS_WIDTH_64 1
#define VMCS_WIDTH_32 2
#define VMCS_WIDTH_NATURAL 3

/* The VMCS region's first words (SDM vol. 3C 25.2) and the model's launch state (25.1). */
struct vmcs {
	u32 revision_id;
	u32 abort_indicator;
	bool launched; /* "clear" vs "launched" launch state */
	/*
	 * Which guest-state fields changed since the last exit saved them (VMCS_DIRTY_*): a write
	 * of a new value to GUEST_RIP sets VMCS_DIRTY_RIP, to any other guest-state field
	 * VMCS_DIRTY_STATE; a write of the value already there sets nothing. The soft backend
	 * reloads the CPU from the guest-state area at VM entry only for what is set, and checks
	 * it (SDM 27.3.1) likewise: an exit the VMM completes by advancing RIP (CPUID, I/O, MSRs)
	 * costs the RIP rule and one register, not every check and a reload. GUEST_INTR_STATUS
	 * sets VMCS_DIRTY_INTR: no check reads it (27.3.1.5), and a VMM adding a virtual
	 * interrupt (RVI) should not pay for a full reload.
	 */
	u8 guest_dirty;
	/*
	 * Set by a VM entry whose checks of the controls and host state (SDM 27.2) passed; cleared
	 * by every write to a control or host-state field, so the next entry checks again only
	 * what a VMWRITE may have changed.
	 */
	bool ctls_checked;
	/*
	 * Not a VMCS field: the model's nested EPT (soft/nested.c). With "enable EPT", nonzero
	 * when EPT_POINTER is a guest hypervisor's EPT, whose tables and results are in the
	 * guest-physical space that the EPT at eptp_outer maps (the VMM's own).
	 */
	u64 eptp_outer;
#define VMCS_DIRTY_RIP	 1u
#define VMCS_DIRTY_STATE 2u
#define VMCS_DIRTY_INTR	 4u
#define VMCS_DIRTY_ALL	 (VMCS_DIRTY_RIP | VMCS_DIRTY_STATE | VMCS_DIRTY_INTR)
#define X(NAME, name, enc) u64 name;
#include "vmx/vmcs_fields.h"
#undef X
};

/* VM-instruction error numbers (SDM vol. 3C 31.4, Table 31-1). */
enum vmx_insn_error {
	VMXERR_VMCALL_IN_ROOT = 1,
	VMXERR_VMCLEAR_INVALID_ADDR = 2,
	VMXERR_VMCLEAR_VMXON_PTR = 3,
	VMXERR_VMLAUNCH_NONCLEAR = 4,
	VMXERR_VMRESUME_NONLAUNCHED = 5,
	VMXERR_VMRESUME_AFTER_VMXOFF = 6,
	VMXERR_ENTRY_INVALID_CONTROL = 7,
	VMXERR_ENTRY_INVALID_HOST_STATE = 8,
	VMXERR_VMPTRLD_INVALID_ADDR = 9,
	VMXERR_VMPTRLD_VMXON_PTR = 10,
	VMXERR_VMPTRLD_BAD_REVISION = 11,
	VMXERR_UNSUPPORTED_COMPONENT = 12,
	VMXERR_WRITE_READONLY = 13,
	VMXERR_VMXON_IN_ROOT = 15,
	VMXERR_ENTRY_INVALID_EXEC_VMCS = 16,
	VMXERR_ENTRY_NONLAUNCHED_EXEC_VMCS = 17,
	VMXERR_ENTRY_EXEC_VMCS_NOT_VMXON = 18,
	VMXERR_VMCALL_NONCLEAR_VMCS = 19,
	VMXERR_VMCALL_INVALID_EXIT_CONTROLS = 20,
	VMXERR_VMCALL_BAD_MSEG_REVISION = 22,
	VMXERR_VMXOFF_DUAL_MONITOR = 23,
	VMXERR_VMCALL_INVALID_SMM_FEATURES = 24,
	VMXERR_ENTRY_INVALID_EXEC_CONTROLS = 25,
	VMXERR_ENTRY_EVENTS_BLOCKED_BY_MOV_SS = 26,
	VMXERR_INVALID_INVEPT_INVVPID = 28,
};

/* The value the model's VMCS revision identifier takes (IA32_VMX_BASIC bits 30:0). */
#define VMCS_REVISION_ID 0x7b00 /* "tb" */

/* The VMCS region's size (IA32_VMX_BASIC bits 44:32). */
#define VMCS_REGION_SIZE 4096

/* The current VMCS to its region in memory (VMCLEAR) and back (VMPTRLD): the model's own
   format of SDM 25.2, the launch state included; loading cuts every field to its width. */
void vmcs_to_region(const struct vmcs *v, u8 *region);
void vmcs_from_region(struct vmcs *v, const u8 *region);

/* VMREAD (write = false) or VMWRITE of a field in a region of that format, as the processor
   reads and writes a shadow VMCS (25.10): 0, VMXERR_UNSUPPORTED_COMPONENT, or
   VMXERR_WRITE_READONLY (not when `any`: the processor's own write of the error field). */
int vmcs_region_access(u8 *region, u32 enc, bool write, u64 *value, bool any);

/* Highest index of any supported field (IA32_VMX_VMCS_ENUM bits 9:1, SDM vol. 3D A.9). */
u32 vmcs_max_index(void);

/* A fresh VMCS as VMCLEAR leaves it: launch state clear, every field 0, the revision set. */
void vmcs_init(struct vmcs *v);

/* Is `enc` a field of this model (either half of a 64-bit field counts)? */
bool vmcs_field_supported(u32 enc);
/* "GUEST_RIP"; NULL when unsupported. The high half of a 64-bit field is "NAME_HIGH". */
const char *vmcs_field_name(u32 enc);

/*
 * VMREAD/VMWRITE semantics (SDM vol. 3C 31.3, VMREAD/VMWRITE): 0 on success, or the
 * VM-instruction error: VMXERR_UNSUPPORTED_COMPONENT for an encoding the model lacks,
 * VMXERR_WRITE_READONLY for a write to a VM-exit information field (the model does not report
 * "VMWRITE to any supported field" in IA32_VMX_MISC bit 29). Writes keep only the field's width;
 * a write to the high half of a 64-bit field changes bits 63:32 only.
 */
int vmcs_read(const struct vmcs *v, u32 enc, u64 *value);
int vmcs_write(struct vmcs *v, u32 enc, u64 value);
/* For the model's own VM-exit sequence: writes exit-information fields too. */
void vmcs_write_exit_info(struct vmcs *v, u32 enc, u64 value);

/* Write a field the VMM knows is supported and writable; aborts the process if it is not. */
#define VMCS_SET(v, FIELD, value) vmcs_set_checked((v), (FIELD), (value), #FIELD)
void vmcs_set_checked(struct vmcs *v, u32 enc, u64 value, const char *what);
/* VMCS_SET(v, GUEST_RIP, rip) without the field lookup: the write an exit handler makes most
   (natural width, a guest-state field: VMCS_DIRTY_RIP when it changes, as vmcs_store). */
static inline void vmcs_set_guest_rip(struct vmcs *v, u64 rip)
{
	if (v->guest_rip != rip) {
		v->guest_rip = rip;
		v->guest_dirty |= VMCS_DIRTY_RIP;
	}
}

/* Every supported field, one line "NAME = 0x...", for the stop report of an unexpected exit. */
void vmcs_dump(const struct vmcs *v, FILE *f);
