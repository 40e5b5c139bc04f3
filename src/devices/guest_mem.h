/* SPDX-License-Identifier: MIT */
/*
 * Guest-physical memory as devices see it (DMA: virtio rings and buffers, fw_cfg's DMA
 * interface, the IOAPIC-less MSI writes of later devices). Only RAM is reachable: an address range
 * that is not all inside RAM is refused with -EFAULT, which the device turns into its documented
 * error (VIRTIO_BLK_S_IOERR, a fw_cfg DMA error bit, ...), never a host access outside RAM.
 *
 * Every write goes through gmem_write()/gmem_written(): the VM invalidates the soft CPU's decoded
 * code for the written range on every vCPU (a device writing code a vCPU already decoded is
 * self-modifying code from the CPU's point of view, SDM vol. 3A 11.6), and dirty logging sees it.
 */
#pragma once
#include <errno.h>
#include <string.h>

#include "common.h"

struct guest_mem {
	u8 *ram;
	u64 size;
	/* [gpa, gpa+len) of RAM was written by a device; NULL when nothing needs to know. */
	void (*written)(void *opaque, u64 gpa, u64 len);
	void *opaque;
};

static inline bool gmem_in_ram(const struct guest_mem *m, u64 gpa, u64 len)
{
	return gpa <= m->size && len <= m->size - gpa;
}

/* A host pointer to [gpa, gpa+len) for reading, or NULL when it is not all RAM. */
static inline const void *gmem_ptr_ro(const struct guest_mem *m, u64 gpa, u64 len)
{
	return gmem_in_ram(m, gpa, len) ? m->ram + gpa : NULL;
}

/* A host pointer for writing; the caller calls gmem_written() after writing through it. */
static inline void *gmem_ptr_rw(const struct guest_mem *m, u64 gpa, u64 len)
{
	return gmem_in_ram(m, gpa, len) ? m->ram + gpa : NULL;
}

static inline void gmem_written(const struct guest_mem *m, u64 gpa, u64 len)
{
	if (m->written && len)
		m->written(m->opaque, gpa, len);
}

/* 0, or -EFAULT (nothing copied) when the range is not all RAM. */
static inline int gmem_read(const struct guest_mem *m, u64 gpa, void *buf, u64 len)
{
	const void *p = gmem_ptr_ro(m, gpa, len);

	if (!p)
		return -EFAULT;
	memcpy(buf, p, len);
	return 0;
}

static inline int gmem_write(const struct guest_mem *m, u64 gpa, const void *buf, u64 len)
{
	void *p = gmem_ptr_rw(m, gpa, len);

	if (!p)
		return -EFAULT;
	memcpy(p, buf, len);
	gmem_written(m, gpa, len);
	return 0;
}
