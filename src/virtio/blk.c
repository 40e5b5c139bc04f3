// SPDX-License-Identifier: MIT
/* virtio-blk (virtio 1.2 §5.2): see blk.h. */
#include <errno.h>
#include <unistd.h>

#include "virtio/blk.h"

struct virtio_blk_hdr {
	u32 type;
	u32 reserved;
	u64 sector;
};
_Static_assert(sizeof(struct virtio_blk_hdr) == VIRTIO_BLK_HDR_SIZE, "virtio_blk_req header");

static int virtio_blk_fdatasync(void *opaque, int fd)
{
	return fdatasync(fd) ? -errno : 0;
}

/* Move `len` bytes between the file at `off` and the iovecs, through short transfers and
   EINTR. The end of the file before `len` is an I/O error (the VMM promised `size`). */
static int virtio_blk_rw(struct virtio_blk *b, bool write, struct iovec *iov, int nr, u64 off,
			 u64 len)
{
	while (len) {
		ssize_t n = write ? pwritev(b->be.fd, iov, nr, (off_t)off)
				  : preadv(b->be.fd, iov, nr, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EIO;
		off += (u64)n;
		len -= (u64)n;
		while (nr && (size_t)n >= iov->iov_len) {
			n -= (ssize_t)iov->iov_len;
			iov++;
			nr--;
		}
		if (nr) {
			iov->iov_base = (u8 *)iov->iov_base + n;
			iov->iov_len -= (size_t)n;
		}
	}
	return 0;
}

/* §5.2.6.1: data "in multiples of 512 bytes", never "beyond capacity". */
static bool virtio_blk_range_ok(const struct virtio_blk *b, u64 sector, u64 len)
{
	return !(len % VIRTIO_BLK_SECTOR_SIZE) && sector <= b->capacity &&
	       len / VIRTIO_BLK_SECTOR_SIZE <= b->capacity - sector;
}

/* VIRTIO_BLK_T_IN into the writable bytes before the status; *done = whether all were read. */
static u8 virtio_blk_read(struct virtio_blk *b, u64 sector, u64 len, bool *done)
{
	const struct guest_mem *m = b->vdev.mem;
	int nr;

	if (!virtio_blk_range_ok(b, sector, len))
		return VIRTIO_BLK_S_IOERR;
	nr = virtq_chain_iov(&b->chain, m, true, 0, len, b->iov, VIRTQ_NUM_MAX);
	if (nr < 0)
		return VIRTIO_BLK_S_IOERR;
	if (virtio_blk_rw(b, false, b->iov, nr, sector * VIRTIO_BLK_SECTOR_SIZE, len))
		return VIRTIO_BLK_S_IOERR;
	/* virtio_blk_rw advanced the iovecs: map them again to report the written ranges */
	virtq_chain_iov(&b->chain, m, true, 0, len, b->iov, VIRTQ_NUM_MAX);
	virtq_iov_written(m, b->iov, (unsigned)nr, len);
	b->stats.reads++;
	b->stats.bytes_read += len;
	*done = true;
	return VIRTIO_BLK_S_OK;
}

/* §5.2.6.2: "A device MUST set the status byte to VIRTIO_BLK_S_IOERR for a write request if the
   VIRTIO_BLK_F_RO feature if offered, and MUST NOT write any data." */
static u8 virtio_blk_write(struct virtio_blk *b, u64 sector, u64 len)
{
	int nr;

	if (b->be.read_only || !virtio_blk_range_ok(b, sector, len))
		return VIRTIO_BLK_S_IOERR;
	nr = virtq_chain_iov(&b->chain, b->vdev.mem, false, VIRTIO_BLK_HDR_SIZE, len, b->iov,
			     VIRTQ_NUM_MAX);
	if (nr < 0)
		return VIRTIO_BLK_S_IOERR;
	if (virtio_blk_rw(b, true, b->iov, nr, sector * VIRTIO_BLK_SECTOR_SIZE, len))
		return VIRTIO_BLK_S_IOERR;
	b->stats.writes++;
	b->stats.bytes_written += len;
	/* §5.2.6.2 case 1: FLUSH offered but not negotiated makes every completed write stable */
	if (!virtio_dev_has_feature(&b->vdev, VIRTIO_BLK_F_FLUSH) &&
	    b->be.sync(b->be.opaque, b->be.fd))
		return VIRTIO_BLK_S_IOERR;
	return VIRTIO_BLK_S_OK;
}

/* §5.2.6.2 case 3: the flush completes (its status is written) only after the host's sync. */
static u8 virtio_blk_flush(struct virtio_blk *b)
{
	b->stats.flushes++;
	return b->be.sync(b->be.opaque, b->be.fd) ? VIRTIO_BLK_S_IOERR : VIRTIO_BLK_S_OK;
}

/* "The device ID string is a NUL-padded ASCII string up to 20 bytes long"; a shorter buffer
   gets its start. *done = whether the whole data area was written. */
static u8 virtio_blk_get_id(struct virtio_blk *b, u64 len, bool *done)
{
	u64 n = len < VIRTIO_BLK_ID_BYTES ? len : VIRTIO_BLK_ID_BYTES;

	if (virtq_chain_write(&b->chain, b->vdev.mem, 0, b->id, n))
		return VIRTIO_BLK_S_IOERR;
	*done = n == len;
	return VIRTIO_BLK_S_OK;
}

/* One request; returns the used length (§2.7.8.2: the writable bytes written from the first:
   data and status when all data was written, else the status only when it is the sole writable
   byte, else 0). */
static u32 virtio_blk_request(struct virtio_blk *b)
{
	const struct virtq_chain *c = &b->chain;
	const struct virtq_buf *last = &c->bufs[c->nr - 1];
	struct virtio_blk_hdr hdr;
	u64 status_gpa, data_in;
	bool done = false;
	u8 status;

	if (!last->writable || !last->len ||
	    !gmem_in_ram(b->vdev.mem, last->gpa, last->len)) {
		b->stats.unanswerable++;
		return 0;
	}
	status_gpa = last->gpa + last->len - 1;
	data_in = c->writable_len - 1;
	if (c->malformed || virtq_chain_read(c, b->vdev.mem, 0, &hdr, sizeof(hdr))) {
		status = VIRTIO_BLK_S_IOERR;
	} else {
		switch (hdr.type) {
		case VIRTIO_BLK_T_IN:
			status = virtio_blk_read(b, hdr.sector, data_in, &done);
			break;
		case VIRTIO_BLK_T_OUT:
			status = virtio_blk_write(b, hdr.sector,
						  c->readable_len - VIRTIO_BLK_HDR_SIZE);
			break;
		case VIRTIO_BLK_T_FLUSH:
			status = virtio_blk_flush(b);
			break;
		case VIRTIO_BLK_T_GET_ID:
			status = virtio_blk_get_id(b, data_in, &done);
			break;
		default:
			status = VIRTIO_BLK_S_UNSUPP;
			break;
		}
	}
	if (status == VIRTIO_BLK_S_IOERR)
		b->stats.ioerr++;
	else if (status == VIRTIO_BLK_S_UNSUPP)
		b->stats.unsupp++;
	gmem_write(b->vdev.mem, status_gpa, &status, 1);
	if (done || !data_in)
		return (u32)(data_in + 1);
	return 0;
}

static void virtio_blk_queue_notify(struct virtio_dev *d, unsigned q)
{
	struct virtio_blk *b = (struct virtio_blk *)d;
	int ret;

	do {
		virtq_notify_disable(&d->vq[q], d->mem);
		while ((ret = virtio_dev_pop(d, q, &b->chain)) > 0)
			virtio_dev_push(d, q, b->chain.head, virtio_blk_request(b));
	} while (!ret && virtq_notify_enable(&d->vq[q], d->mem));
	virtio_dev_interrupt(d, q);
}

static const struct virtio_dev_ops virtio_blk_ops = {
	.name = "virtio-blk",
	.device_id = VIRTIO_ID_BLOCK,
	.queue_notify = virtio_blk_queue_notify,
};

int virtio_blk_init(struct virtio_blk *b, const struct guest_mem *mem,
		    const struct virtio_blk_backend *be)
{
	u64 features = BIT(VIRTIO_BLK_F_SIZE_MAX) | BIT(VIRTIO_BLK_F_SEG_MAX) |
		       BIT(VIRTIO_BLK_F_BLK_SIZE) | BIT(VIRTIO_BLK_F_FLUSH);
	size_t n;

	if (be->fd < 0)
		return -EINVAL;
	if (be->read_only)
		features |= BIT(VIRTIO_BLK_F_RO);
	b->be = *be;
	if (!b->be.sync)
		b->be.sync = virtio_blk_fdatasync;
	b->capacity = be->size / VIRTIO_BLK_SECTOR_SIZE;
	memset(b->id, 0, sizeof(b->id));
	n = be->serial ? strnlen(be->serial, VIRTIO_BLK_ID_BYTES) : 0;
	if (n)
		memcpy(b->id, be->serial, n);
	memset(&b->stats, 0, sizeof(b->stats));
	/* §5.2.4 struct virtio_blk_config, up to blk_size; geometry not offered, left 0 */
	memset(b->config, 0, sizeof(b->config));
	virtio_put_le64(b->config + 0, b->capacity);
	virtio_put_le32(b->config + 8, VIRTIO_BLK_SIZE_MAX);
	virtio_put_le32(b->config + 12, VIRTIO_BLK_SEG_MAX);
	virtio_put_le32(b->config + 20, VIRTIO_BLK_SECTOR_SIZE);
	return virtio_dev_init(&b->vdev, &virtio_blk_ops, mem, features, b->config,
			       sizeof(b->config), 1, VIRTIO_BLK_NUM_MAX);
}
