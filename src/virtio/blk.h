/* SPDX-License-Identifier: MIT */
/*
 * virtio-blk (virtio 1.2 §5.2) backed by a host file or block device the VMM opened: one request
 * queue; reads, writes, flushes and the device ID. The device never opens, closes or sizes files
 * itself (so it can run under a seccomp filter later): the VMM passes an open descriptor, the
 * size and whether it is read-only. Data moves with preadv/pwritev straight between the file and
 * guest RAM.
 *
 * Durability (§5.2.6.2): VIRTIO_BLK_F_FLUSH is always offered. A driver that negotiates it gets a
 * writeback cache: writes complete when the host has them, and VIRTIO_BLK_T_FLUSH completes only
 * after fdatasync(2) returned, so nothing acknowledged is lost. A driver that does not gets a
 * writethrough device: each write is synced before its status is written (case 1 of the
 * stable-write rules).
 *
 * Bad requests get a status, never a host error: VIRTIO_BLK_S_IOERR for a header shorter than 16
 * bytes, data not a multiple of 512 bytes, a range beyond the capacity, a write to a read-only
 * device, a buffer outside RAM, a misordered chain and any error of the host file;
 * VIRTIO_BLK_S_UNSUPP for a type it does not implement (DISCARD, WRITE_ZEROES, GET_LIFETIME,
 * SECURE_ERASE, zoned commands, anything unknown). The status byte is the last byte of the
 * chain's last descriptor, which must be device-writable; a request without one cannot be
 * answered and comes back with a used length of 0 (counted in stats.unanswerable).
 */
#pragma once
#include "virtio/virtio.h"

/* §5.2.3 feature bits */
#define VIRTIO_BLK_F_SIZE_MAX 1
#define VIRTIO_BLK_F_SEG_MAX  2
#define VIRTIO_BLK_F_RO	      5
#define VIRTIO_BLK_F_BLK_SIZE 6
#define VIRTIO_BLK_F_FLUSH    9

/* §5.2.6 request types and status values */
#define VIRTIO_BLK_T_IN	    0
#define VIRTIO_BLK_T_OUT    1
#define VIRTIO_BLK_T_FLUSH  4
#define VIRTIO_BLK_T_GET_ID 8
#define VIRTIO_BLK_S_OK	    0
#define VIRTIO_BLK_S_IOERR  1
#define VIRTIO_BLK_S_UNSUPP 2

#define VIRTIO_BLK_SECTOR_SIZE 512 /* the protocol's unit, whatever blk_size says */
#define VIRTIO_BLK_HDR_SIZE    16  /* type, reserved, sector */
#define VIRTIO_BLK_ID_BYTES    20
#define VIRTIO_BLK_QUEUE       0
#define VIRTIO_BLK_NUM_MAX     256
#define VIRTIO_BLK_SEG_MAX     (VIRTIO_BLK_NUM_MAX - 2) /* a chain also holds header and status */
#define VIRTIO_BLK_SIZE_MAX    (1u << 20)		 /* advertised per-segment limit, bytes */
#define VIRTIO_BLK_CONFIG_SIZE 24 /* capacity, size_max, seg_max, geometry, blk_size (§5.2.4) */

struct virtio_blk_backend {
	int fd;		/* open for reading (and writing unless read_only); the VMM's to close */
	u64 size;	/* bytes; the capacity is size / 512 */
	bool read_only; /* offer VIRTIO_BLK_F_RO and refuse writes */
	const char *serial; /* the GET_ID string, up to 20 bytes used; NULL: empty */
	/* Make completed writes durable: NULL means fdatasync(fd). 0 or -errno. The tests watch
	   the flush ordering through it. */
	int (*sync)(void *opaque, int fd);
	void *opaque;
};

struct virtio_blk_stats {
	u64 reads, writes, flushes, bytes_read, bytes_written;
	u64 ioerr, unsupp;  /* requests answered with VIRTIO_BLK_S_IOERR / S_UNSUPP */
	u64 unanswerable;   /* requests without a writable status byte */
};

struct virtio_blk {
	struct virtio_dev vdev; /* first: the queue handler's container */
	struct virtio_blk_backend be;
	u64 capacity; /* sectors */
	u8 config[VIRTIO_BLK_CONFIG_SIZE];
	char id[VIRTIO_BLK_ID_BYTES];
	struct virtio_blk_stats stats;
	struct virtq_chain chain; /* scratch */
	struct iovec iov[VIRTQ_NUM_MAX];
};

/* 0, or -EINVAL for a negative fd. The device is reset. */
int virtio_blk_init(struct virtio_blk *b, const struct guest_mem *mem,
		    const struct virtio_blk_backend *be);
