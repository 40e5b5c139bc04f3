/* SPDX-License-Identifier: MIT */
/*
 * The VMM's EPT (Intel SDM vol. 3C 29.3), built in host pages (vm_alloc_host_page) from the
 * memory map: RAM identity-mapped GPA -> HPA, read/write/execute, write-back; MMIO regions and
 * holes not present, so that every access to them is an EPT violation (exit 48) for the VMM.
 */
#pragma once
#include "arch/vmx.h"
#include "common.h"

struct vm;

/* Bits 51:12 of an entry: the physical address it references (SDM 29.3.2). */
#define EPT_ADDR_MASK 0x000ffffffffff000ull

/*
 * Build the tables for vm's memory map and return the EPTP in *eptp (WB paging-structure memory
 * type, 4-level walk, A/D flags when `ad`): 0, -ENOMEM, or -EINVAL when the model's EPT lacks
 * 4-level walks or WB (IA32_VMX_EPT_VPID_CAP). Leaves are 1 GiB or 2 MiB where the region's
 * alignment and the capability MSR allow, 4 KiB elsewhere; with `ad` (dirty logging, PML) all
 * leaves are 4 KiB so that each dirtied page is logged.
 */
int ept_build(struct vm *vm, bool ad, u64 *eptp);

/*
 * The leaf entry that maps `gpa` and its level (1 = 4 KiB, 2 = 2 MiB, 3 = 1 GiB) in *level;
 * NULL when not present. For tests, dirty logging and the VMM's own checks.
 */
u64 *ept_lookup(struct vm *vm, u64 eptp, u64 gpa, int *level);

/*
 * Dirty logging: clear the dirty flag of every leaf (SDM 29.3.5) so that the next write to each
 * page sets it again and, with PML, logs the page. The caller must invalidate the EPT-derived
 * translations afterwards (INVEPT single-context; soft backend: cpu_invept), as the SDM requires
 * for any change to a present entry. Returns the number of leaves that were dirty.
 */
u64 ept_clear_dirty(struct vm *vm, u64 eptp);
/*
 * Dirty logging's read: OR a bit per dirty page (bit p of bitmap[p / 64] for the page at p << 12,
 * below `pages`) into `bitmap`, and with `clear` clean the leaves read. The number of dirty
 * leaves. The caller invalidates afterwards when it cleared any.
 */
u64 ept_collect_dirty(struct vm *vm, u64 eptp, u64 *bitmap, u64 pages, bool clear);
/* The same for the leaves that map [gpa, gpa + len) only; the number that were dirty. */
u64 ept_clear_dirty_range(struct vm *vm, u64 eptp, u64 gpa, u64 len);
/*
 * Write permission (bit 1) of the 4 KiB leaf mapping `gpa`: 0, or -EINVAL when no 4 KiB leaf maps
 * it (tables built with `ad` have only 4 KiB leaves). The caller invalidates afterwards, as for
 * ept_clear_dirty.
 */
int ept_set_write(struct vm *vm, u64 eptp, u64 gpa, bool writable);
