// SPDX-License-Identifier: MIT
/*
 * fw_cfg (fw_cfg.h). Quoted sections are those of QEMU's docs/specs/fw_cfg.rst; where the
 * document is silent, QEMU's hw/nvram/fw_cfg.c is the hardware and its behaviour is named.
 */
#include <errno.h>
#include <string.h>

#include "devices/fw_cfg.h"

#define FW_CFG_DMA_DESC_SIZE 16 /* FWCfgDmaAccess: control, length (be32), address (be64) */

static u32 get_be32(const u8 *p)
{
	return (u32)p[0] << 24 | (u32)p[1] << 16 | (u32)p[2] << 8 | p[3];
}

static void put_be32(u8 *p, u32 v)
{
	p[0] = (u8)(v >> 24);
	p[1] = (u8)(v >> 16);
	p[2] = (u8)(v >> 8);
	p[3] = (u8)v;
}

static int fw_cfg_find(const struct fw_cfg *f, u16 key)
{
	for (unsigned i = 0; i < f->nr_entries; i++)
		if (f->entries[i].key == key)
			return (int)i;
	return -1;
}

static int fw_cfg_add(struct fw_cfg *f, struct fw_cfg_entry e)
{
	if (fw_cfg_find(f, e.key) >= 0)
		return -EINVAL;
	if (f->nr_entries == FW_CFG_MAX_ITEMS)
		return -ENOSPC;
	f->entries[f->nr_entries++] = e;
	return 0;
}

static struct fw_cfg_entry fw_cfg_value_entry(u16 key, u64 v, u32 size)
{
	struct fw_cfg_entry e = { .key = key, .kind = FW_CFG_KIND_VALUE, .size = size };

	for (unsigned i = 0; i < size; i++)
		e.value[i] = (u8)(v >> (8 * i));
	return e;
}

/* "File Directory": a big-endian count, then per file its size, key, a reserved half-word and
   the NUL-terminated name in 56 bytes. */
static int fw_cfg_add_file(struct fw_cfg *f, const struct fw_cfg_item *it, unsigned nr_files)
{
	u8 *d = f->dir + 4 + FW_CFG_FILE_SIZE * nr_files;
	size_t len = strlen(it->name);
	u16 key = (u16)(FW_CFG_FILE_FIRST + nr_files);

	if (!len || len >= FW_CFG_MAX_FILE_PATH || !it->data)
		return -EINVAL;
	for (unsigned i = 0; i < nr_files; i++)
		if (!strncmp((const char *)f->dir + 4 + FW_CFG_FILE_SIZE * i + 8, it->name,
			     FW_CFG_MAX_FILE_PATH))
			return -EINVAL;
	put_be32(d, it->size);
	d[4] = (u8)(key >> 8);
	d[5] = (u8)key;
	memcpy(d + 8, it->name, len);
	return fw_cfg_add(f, (struct fw_cfg_entry){ .key = key, .kind = FW_CFG_KIND_BYTES,
						   .data = it->data, .size = it->size });
}

/* A numbered item's key: a generic key below the files' range or an arch-local key, never one
   the device serves itself and never with the write-channel bit (keys are read-only here). */
static bool fw_cfg_board_key_ok(u16 key)
{
	if (key & FW_CFG_WRITE_CHANNEL)
		return false;
	if (key & FW_CFG_ARCH_LOCAL)
		return key != FW_CFG_INVALID;
	return key < FW_CFG_FILE_FIRST && key != FW_CFG_SIGNATURE && key != FW_CFG_ID &&
	       key != FW_CFG_FILE_DIR;
}

int fw_cfg_init(struct fw_cfg *f, const struct guest_mem *mem, const struct fw_cfg_item *items,
		unsigned nr_items)
{
	unsigned nr_files = 0;
	int err;

	memset(f, 0, sizeof(*f));
	f->mem = mem;
	/* "Signature": "QEMU"; "Revision / feature bitmap": a 32-bit little-endian value, bit 0
	   the traditional interface (always), bit 1 the DMA interface. */
	fw_cfg_add(f, fw_cfg_value_entry(FW_CFG_SIGNATURE, 0x554d4551, 4)); /* 'Q' 'E' 'M' 'U' */
	fw_cfg_add(f, fw_cfg_value_entry(FW_CFG_ID, FW_CFG_VERSION | FW_CFG_VERSION_DMA, 4));
	for (unsigned i = 0; i < nr_items; i++) {
		const struct fw_cfg_item *it = &items[i];

		if (it->name) {
			if (nr_files == FW_CFG_MAX_FILES)
				return -ENOSPC;
			err = fw_cfg_add_file(f, it, nr_files++);
		} else if (!fw_cfg_board_key_ok(it->key)) {
			err = -EINVAL;
		} else if (it->data) {
			err = fw_cfg_add(f, (struct fw_cfg_entry){ .key = it->key,
								   .kind = FW_CFG_KIND_BYTES,
								   .data = it->data,
								   .size = it->size });
		} else if (!it->size || it->size > 8) {
			err = -EINVAL;
		} else {
			err = fw_cfg_add(f, fw_cfg_value_entry(it->key, it->value, it->size));
		}
		if (err)
			return err;
	}
	put_be32(f->dir, nr_files);
	f->dir_size = 4 + FW_CFG_FILE_SIZE * nr_files;
	err = fw_cfg_add(f, (struct fw_cfg_entry){ .key = FW_CFG_FILE_DIR, .kind = FW_CFG_KIND_DIR,
						  .size = f->dir_size });
	if (err)
		return err;
	fw_cfg_reset(f);
	return 0;
}

/* "Selector (Control) Register": selecting resets the data offset to 0. Bit 14 (write channel)
   names the same item; a key nobody serves selects nothing, whose data reads as 0 (QEMU's
   FW_CFG_INVALID). */
static void fw_cfg_select(struct fw_cfg *f, u16 key)
{
	f->selector = key;
	f->offset = 0;
	f->cur = fw_cfg_find(f, key & ~FW_CFG_WRITE_CHANNEL);
}

void fw_cfg_reset(struct fw_cfg *f)
{
	fw_cfg_select(f, FW_CFG_SIGNATURE);
	f->dma_addr = 0;
}

static const u8 *fw_cfg_bytes(const struct fw_cfg *f, const struct fw_cfg_entry *e)
{
	switch (e->kind) {
	case FW_CFG_KIND_VALUE:
		return e->value;
	case FW_CFG_KIND_DIR:
		return f->dir;
	default:
		return e->data;
	}
}

/* Bytes left in the selected item from the offset (0 when nothing is selected). */
static u32 fw_cfg_left(const struct fw_cfg *f)
{
	return f->cur < 0 ? 0 : f->entries[f->cur].size - f->offset;
}

/* "Data Register": each read returns the next byte and advances the offset; past the end of the
   item reads return 0x00 and the offset stays. */
static u8 fw_cfg_read_byte(struct fw_cfg *f)
{
	if (!fw_cfg_left(f))
		return 0;
	return fw_cfg_bytes(f, &f->entries[f->cur])[f->offset++];
}

/*
 * Ports 0x510-0x511. As in QEMU, which maps both ports as one region: a 16-bit write selects
 * (the 16-bit selector, little-endian as an I/O port), other writes are data-register writes,
 * ignored since QEMU 2.4 ("Data Register"). A read returns data bytes, one per port of the access
 * that falls on 0x510 or 0x511 (the byte cycles an 8-bit ISA device sees); ports past 0x511 are
 * not this device's and read as all ones.
 */
void fw_cfg_io_access(void *opaque, u64 offset, u64 *data, unsigned len, bool is_write)
{
	struct fw_cfg *f = opaque;

	if (is_write) {
		if (len == 2)
			fw_cfg_select(f, (u16)*data);
		return;
	}
	*data = 0;
	for (unsigned i = 0; i < len; i++) {
		u64 b = offset + i < FW_CFG_IO_LEN ? fw_cfg_read_byte(f) : 0xff;

		*data |= b << (8 * i);
	}
}

/* Write the descriptor's control field back (big-endian); a descriptor outside RAM gets
   nothing (there is nowhere to report to). */
static void fw_cfg_dma_status(struct fw_cfg *f, u64 desc, u32 control)
{
	u8 b[4];

	put_be32(b, control);
	gmem_write(f->mem, desc, b, sizeof(b));
}

/*
 * "Guest-side DMA Interface": read the FWCfgDmaAccess at `desc`; select when bit 3 says so; then
 * read (bit 1), else write (bit 4), else skip (bit 2) `length` bytes at the offset; the control
 * field becomes 0, or the error bit. Reads past the item's end fill the buffer with zeros, skips
 * past it stop at the end (QEMU's fw_cfg_dma_transfer). Every item is read-only, so a write of
 * any length but 0 is an error ("Writes to read-only items are also rejected"). A buffer that is
 * not all RAM is an error and nothing is copied.
 */
static void fw_cfg_dma_run(struct fw_cfg *f, u64 desc)
{
	u8 d[FW_CFG_DMA_DESC_SIZE];
	u32 control, length, n;
	u64 addr;
	u8 *dst;

	if (gmem_read(f->mem, desc, d, sizeof(d))) {
		fw_cfg_dma_status(f, desc, FW_CFG_DMA_CTL_ERROR);
		return;
	}
	control = get_be32(d);
	length = get_be32(d + 4);
	addr = (u64)get_be32(d + 8) << 32 | get_be32(d + 12);
	if (control & FW_CFG_DMA_CTL_SELECT)
		fw_cfg_select(f, (u16)(control >> 16));
	n = length < fw_cfg_left(f) ? length : fw_cfg_left(f);
	if (!length) {
		/* nothing to move, whatever the operation and wherever `address` points */
	} else if (control & FW_CFG_DMA_CTL_READ) {
		dst = gmem_ptr_rw(f->mem, addr, length);
		if (!dst) {
			fw_cfg_dma_status(f, desc, FW_CFG_DMA_CTL_ERROR);
			return;
		}
		if (n)
			memcpy(dst, fw_cfg_bytes(f, &f->entries[f->cur]) + f->offset, n);
		memset(dst + n, 0, length - n);
		gmem_written(f->mem, addr, length);
		f->offset += n;
	} else if (control & FW_CFG_DMA_CTL_WRITE) {
		fw_cfg_dma_status(f, desc, FW_CFG_DMA_CTL_ERROR);
		return;
	} else if (control & FW_CFG_DMA_CTL_SKIP) {
		f->offset += n;
	}
	fw_cfg_dma_status(f, desc, 0);
}

/*
 * Ports 0x514-0x51b, the DMA address register, big-endian: the byte at 0x514 is the address's
 * most significant. "A write to the least significant half (at offset 4) triggers an operation":
 * a 32-bit write at offset 0 sets the high half (and clears the low, as QEMU), a 32-bit write at
 * offset 4 adds the low half and starts, a 64-bit write at offset 0 starts with the whole address;
 * the register is 0 again after an operation. Other writes are ignored (QEMU refuses them).
 * Reads return the bytes of "QEMU CFG" (the DMA signature) at the ports read.
 */
void fw_cfg_dma_access(void *opaque, u64 offset, u64 *data, unsigned len, bool is_write)
{
	struct fw_cfg *f = opaque;
	u64 desc;

	if (!is_write) {
		*data = 0;
		for (unsigned i = 0; i < len; i++) {
			u64 pos = offset + i;
			u64 b = pos < 8 ? (FW_CFG_DMA_SIGNATURE >> (8 * (7 - pos))) & 0xff : 0xff;

			*data |= b << (8 * i);
		}
		return;
	}
	if (len == 4 && offset == 0) {
		f->dma_addr = (u64)__builtin_bswap32((u32)*data) << 32;
		return;
	}
	if (len == 4 && offset == 4)
		desc = f->dma_addr | __builtin_bswap32((u32)*data);
	else if (len == 8 && offset == 0)
		desc = __builtin_bswap64(*data);
	else
		return;
	f->dma_addr = 0;
	fw_cfg_dma_run(f, desc);
}
