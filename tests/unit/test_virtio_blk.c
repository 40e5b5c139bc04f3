// SPDX-License-Identifier: MIT
/*
 * virtio-blk (virtio/blk.h, virtio 1.2 §5.2) through virtio-mmio against a temporary file next to
 * this program (inside the build folder): configuration, reads and writes in any descriptor
 * framing (§2.7.4), GET_ID, the flush ordering (fdatasync before the status is written, observed
 * through the injectable sync hook), and the bad requests that must get VIRTIO_BLK_S_IOERR or
 * VIRTIO_BLK_S_UNSUPP instead of a host error.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdlib.h>
#include <unistd.h>

#include "virtio_driver.h"
#include "virtio/blk.h"

#define DISK_SIZE (64 * 1024 + 100) /* 128 sectors and a partial one, which is not exposed */
#define SECTORS	  128

static char disk_path[4096];
static int disk_fd = -1;
static struct virtio_blk blk;
static struct virtio_mmio t;
static struct vd drv;
static u64 hdr_gpa, status_gpa, data_gpa;

/* The sync hook: what the world looked like when the device asked for durability. */
static unsigned sync_calls;
static u8 status_at_sync;
static u8 file_at_sync[8];
static int sync_result;

static int sync_hook(void *opaque, int fd)
{
	sync_calls++;
	status_at_sync = vd_ram[status_gpa];
	CHECK_EQ(pread(fd, file_at_sync, sizeof(file_at_sync), 5 * 512), sizeof(file_at_sync));
	return sync_result;
}

static void make_disk(void)
{
	u8 sector[512];

	disk_fd = open(disk_path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	CHECK(disk_fd >= 0);
	for (unsigned s = 0; s < SECTORS; s++) {
		memset(sector, (u8)s, sizeof(sector));
		CHECK_EQ(pwrite(disk_fd, sector, 512, s * 512), 512);
	}
	CHECK_EQ(ftruncate(disk_fd, DISK_SIZE), 0);
}

static void setup_with(int fd, bool read_only, u64 want, const char *serial)
{
	struct virtio_blk_backend be = { .fd = fd, .size = DISK_SIZE, .read_only = read_only,
					 .serial = serial, .sync = sync_hook };

	memset(vd_ram, 0, sizeof(vd_ram));
	sync_calls = 0;
	sync_result = 0;
	CHECK_EQ(virtio_blk_init(&blk, &vd_mem, &be), 0);
	virtio_mmio_init(&t, &blk.vdev);
	vd_wire(&t);
	CHECK(vd_init(&drv, &t, want, 1, 16));
	hdr_gpa = vd_alloc(&drv, 16, 16);
	status_gpa = vd_alloc(&drv, 1, 1);
	data_gpa = vd_alloc(&drv, 0x10000, 4096);
}

#define STD_FEATURES                                                                             \
	(BIT(VIRTIO_F_VERSION_1) | BIT(VIRTIO_F_INDIRECT_DESC) | BIT(VIRTIO_F_EVENT_IDX) |       \
	 BIT(VIRTIO_BLK_F_FLUSH) | BIT(VIRTIO_BLK_F_RO) | BIT(VIRTIO_BLK_F_BLK_SIZE) |            \
	 BIT(VIRTIO_BLK_F_SEG_MAX) | BIT(VIRTIO_BLK_F_SIZE_MAX))

static void setup(void)
{
	setup_with(disk_fd, false, STD_FEATURES, "tollbooth-disk-0");
}

static void put_hdr(u32 type, u64 sector)
{
	memcpy(vd_ram + hdr_gpa, &type, 4);
	memset(vd_ram + hdr_gpa + 4, 0, 4);
	memcpy(vd_ram + hdr_gpa + 8, &sector, 8);
}

/* Submit a chain, return the used length (~0u when nothing came back). */
static u32 submit(const struct vd_buf *b, unsigned n, bool indirect)
{
	u32 id, len;

	vd_ram[status_gpa] = 0xff;
	if (indirect)
		vd_add_indirect(&drv, 0, b, n);
	else
		vd_add(&drv, 0, b, n);
	vd_publish(&drv, 0);
	vd_kick(&drv, 0);
	if (!vd_get_used(&drv, 0, &id, &len))
		return ~0u;
	vd_ack(&drv);
	return len;
}

/* The usual layout, as Linux's virtio_blk builds it: header, data, status. */
static u32 rw(u32 type, u64 sector, u32 len)
{
	struct vd_buf b[3] = {
		{ hdr_gpa, 16, false },
		{ data_gpa, len, type == VIRTIO_BLK_T_IN || type == VIRTIO_BLK_T_GET_ID },
		{ status_gpa, 1, true },
	};

	put_hdr(type, sector);
	if (!len) {
		b[1] = b[2];
		return submit(b, 2, false);
	}
	return submit(b, 3, false);
}

/* §5.2.4 configuration layout and §5.2.3 features */
static void test_config(void)
{
	setup();
	vd_wr(&drv, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
	CHECK_EQ(vd_rd(&drv, VIRTIO_MMIO_DEVICE_FEATURES) & 0xffffff,
		 BIT(VIRTIO_BLK_F_SIZE_MAX) | BIT(VIRTIO_BLK_F_SEG_MAX) |
			 BIT(VIRTIO_BLK_F_BLK_SIZE) | BIT(VIRTIO_BLK_F_FLUSH));
	CHECK_EQ(vd_cfg(&drv, 0, 8), SECTORS); /* capacity, whole sectors only */
	CHECK_EQ(vd_cfg(&drv, 0, 4), SECTORS);
	CHECK_EQ(vd_cfg(&drv, 4, 4), 0);
	CHECK_EQ(vd_cfg(&drv, 8, 4), VIRTIO_BLK_SIZE_MAX);
	CHECK_EQ(vd_cfg(&drv, 12, 4), VIRTIO_BLK_NUM_MAX - 2);
	CHECK_EQ(vd_cfg(&drv, 20, 4), 512);
	CHECK_EQ(vd_cfg(&drv, 22, 4), 0xffffffff); /* past the end */
	/* no writable fields: a write changes nothing */
	u64 v = 0x1234;
	virtio_mmio_access(&t, VIRTIO_MMIO_CONFIG, &v, 4, true);
	CHECK_EQ(vd_cfg(&drv, 0, 8), SECTORS);
	vd_wr(&drv, VIRTIO_MMIO_QUEUE_SEL, 0);
	CHECK_EQ(vd_rd(&drv, VIRTIO_MMIO_QUEUE_NUM_MAX), VIRTIO_BLK_NUM_MAX);

	setup_with(disk_fd, true, STD_FEATURES, NULL);
	vd_wr(&drv, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
	CHECK(vd_rd(&drv, VIRTIO_MMIO_DEVICE_FEATURES) & BIT(VIRTIO_BLK_F_RO));
	struct virtio_blk_backend bad = { .fd = -1 };
	CHECK_EQ(virtio_blk_init(&blk, &vd_mem, &bad), -EINVAL);
}

/* VIRTIO_BLK_T_OUT then VIRTIO_BLK_T_IN: the data reaches the file and comes back; used lengths
   count the writable bytes written (§2.7.8.2). */
static void test_read_write(void)
{
	u8 file[1024];

	setup();
	CHECK_EQ(rw(VIRTIO_BLK_T_IN, 3, 1024), 1025);
	CHECK_EQ(vd_ram[status_gpa], VIRTIO_BLK_S_OK);
	CHECK_EQ(vd_ram[data_gpa], 3);
	CHECK_EQ(vd_ram[data_gpa + 1023], 4);
	memset(vd_ram + data_gpa, 0xc3, 1024);
	CHECK_EQ(rw(VIRTIO_BLK_T_OUT, 10, 1024), 1);
	CHECK_EQ(vd_ram[status_gpa], VIRTIO_BLK_S_OK);
	CHECK_EQ(pread(disk_fd, file, 1024, 10 * 512), 1024);
	CHECK_EQ(file[0], 0xc3);
	CHECK_EQ(file[1023], 0xc3);
	CHECK_EQ(pread(disk_fd, file, 1, 12 * 512), 1);
	CHECK_EQ(file[0], 12);
	/* the last sector */
	CHECK_EQ(rw(VIRTIO_BLK_T_IN, SECTORS - 1, 512), 513);
	CHECK_EQ(vd_ram[status_gpa], VIRTIO_BLK_S_OK);
	CHECK_EQ(vd_ram[data_gpa + 511], SECTORS - 1);
	CHECK_EQ(blk.stats.reads, 2);
	CHECK_EQ(blk.stats.writes, 1);
	CHECK_EQ(blk.stats.bytes_written, 1024);
}

/* §2.7.4.1 "The device MUST NOT make assumptions about the particular arrangement of
   descriptors": a header split in two, data in three pieces, status sharing the last data
   descriptor; and the same through an indirect table. */
static void test_framing(void)
{
	u8 file[1536];
	u64 buf;

	setup();
	buf = vd_alloc(&drv, 0x2000, 16);
	put_hdr(VIRTIO_BLK_T_IN, 20);
	memcpy(vd_ram + buf, vd_ram + hdr_gpa, 16);
	struct vd_buf in[] = {
		{ buf, 5, false },	      { buf + 5, 11, false }, { buf + 0x100, 700, true },
		{ buf + 0x500, 300, true }, { buf + 0x800, 37, true }, { buf + 0x900, 500, true },
	};
	CHECK_EQ(submit(in, ARRAY_SIZE(in), false), 1537);
	CHECK_EQ(vd_ram[buf + 0x100], 20);
	CHECK_EQ(vd_ram[buf + 0x100 + 511], 20);
	CHECK_EQ(vd_ram[buf + 0x100 + 512], 21);
	CHECK_EQ(vd_ram[buf + 0x500 + 299], 21);
	CHECK_EQ(vd_ram[buf + 0x900 + 498], 22);
	CHECK_EQ(vd_ram[buf + 0x900 + 499], VIRTIO_BLK_S_OK); /* the last byte is the status */

	/* a write with header and data in one descriptor, through an indirect table */
	put_hdr(VIRTIO_BLK_T_OUT, 30);
	memcpy(vd_ram + buf, vd_ram + hdr_gpa, 16);
	memset(vd_ram + buf + 16, 0x77, 1536);
	struct vd_buf out[] = { { buf, 16 + 1536, false }, { status_gpa, 1, true } };
	CHECK_EQ(submit(out, 2, true), 1);
	CHECK_EQ(vd_ram[status_gpa], VIRTIO_BLK_S_OK);
	CHECK_EQ(pread(disk_fd, file, sizeof(file), 30 * 512), sizeof(file));
	CHECK_EQ(file[0], 0x77);
	CHECK_EQ(file[1535], 0x77);
}

/* VIRTIO_BLK_T_GET_ID: "a NUL-padded ASCII string up to 20 bytes long" */
static void test_get_id(void)
{
	setup();
	memset(vd_ram + data_gpa, 0xee, 20);
	CHECK_EQ(rw(VIRTIO_BLK_T_GET_ID, 0, 20), 21);
	CHECK_EQ(vd_ram[status_gpa], VIRTIO_BLK_S_OK);
	CHECK(!memcmp(vd_ram + data_gpa, "tollbooth-disk-0\0\0\0\0", 20));
	setup_with(disk_fd, false, STD_FEATURES, "0123456789abcdefghijKLMN");
	CHECK_EQ(rw(VIRTIO_BLK_T_GET_ID, 0, 20), 21);
	CHECK(!memcmp(vd_ram + data_gpa, "0123456789abcdefghij", 20));
	CHECK_EQ(rw(VIRTIO_BLK_T_GET_ID, 0, 8), 9); /* a short buffer gets the start */
	CHECK_EQ(rw(VIRTIO_BLK_T_GET_ID, 0, 64), 0); /* only 20 of 64 written: len 0 */
	CHECK_EQ(vd_ram[status_gpa], VIRTIO_BLK_S_OK);
}

/*
 * §5.2.6.2 stable writes. FLUSH negotiated: a write does not sync; a flush syncs, and its status
 * is still unwritten (0xff) while the sync runs, the written data already in the file. FLUSH not
 * negotiated (writethrough, case 1): every write syncs before its status.
 */
static void test_flush_ordering(void)
{
	setup();
	memset(vd_ram + data_gpa, 0x42, 512);
	CHECK_EQ(rw(VIRTIO_BLK_T_OUT, 5, 512), 1);
	CHECK_EQ(sync_calls, 0);
	CHECK_EQ(rw(VIRTIO_BLK_T_FLUSH, 0, 0), 1);
	CHECK_EQ(sync_calls, 1);
	CHECK_EQ(status_at_sync, 0xff);
	CHECK_EQ(file_at_sync[0], 0x42);
	CHECK_EQ(vd_ram[status_gpa], VIRTIO_BLK_S_OK);
	CHECK_EQ(blk.stats.flushes, 1);
	/* a failed sync is an I/O error */
	sync_result = -EIO;
	CHECK_EQ(rw(VIRTIO_BLK_T_FLUSH, 0, 0), 1);
	CHECK_EQ(vd_ram[status_gpa], VIRTIO_BLK_S_IOERR);

	setup_with(disk_fd, false, STD_FEATURES & ~BIT(VIRTIO_BLK_F_FLUSH), NULL);
	memset(vd_ram + data_gpa, 0x43, 512);
	CHECK_EQ(rw(VIRTIO_BLK_T_OUT, 5, 512), 1);
	CHECK_EQ(sync_calls, 1);
	CHECK_EQ(status_at_sync, 0xff);
	CHECK_EQ(file_at_sync[0], 0x43);
	CHECK_EQ(vd_ram[status_gpa], VIRTIO_BLK_S_OK);
	sync_result = -EIO;
	CHECK_EQ(rw(VIRTIO_BLK_T_OUT, 5, 512), 1);
	CHECK_EQ(vd_ram[status_gpa], VIRTIO_BLK_S_IOERR);
	/* reads never sync */
	CHECK_EQ(rw(VIRTIO_BLK_T_IN, 5, 512), 513);
	CHECK_EQ(sync_calls, 2);
}

static u8 file_byte(u64 off)
{
	u8 b = 0;

	CHECK_EQ(pread(disk_fd, &b, 1, (off_t)off), 1);
	return b;
}

/* Requests a driver must not send (§5.2.6.1) and the device's answers (§5.2.6.2). */
static void test_bad_requests(void)
{
	u8 before;

	setup();
	memset(vd_ram + data_gpa, 0x99, 0x1000);
	before = file_byte(0);
	/* beyond the capacity, overflowing sector arithmetic, not whole sectors */
	CHECK_EQ(rw(VIRTIO_BLK_T_IN, SECTORS, 512), 0);
	CHECK_EQ(vd_ram[status_gpa], VIRTIO_BLK_S_IOERR);
	CHECK_EQ(rw(VIRTIO_BLK_T_IN, SECTORS - 1, 1024), 0);
	CHECK_EQ(vd_ram[status_gpa], VIRTIO_BLK_S_IOERR);
	CHECK_EQ(rw(VIRTIO_BLK_T_OUT, 0x8000000000000000ull, 512), 1);
	CHECK_EQ(vd_ram[status_gpa], VIRTIO_BLK_S_IOERR);
	CHECK_EQ(rw(VIRTIO_BLK_T_OUT, 0xffffffffffffffffull, 512), 1);
	CHECK_EQ(vd_ram[status_gpa], VIRTIO_BLK_S_IOERR);
	CHECK_EQ(rw(VIRTIO_BLK_T_OUT, 0, 100), 1);
	CHECK_EQ(vd_ram[status_gpa], VIRTIO_BLK_S_IOERR);
	CHECK_EQ(file_byte(0), before);
	/* types it does not implement */
	CHECK_EQ(rw(11 /* DISCARD */, 0, 16), 1);
	CHECK_EQ(vd_ram[status_gpa], VIRTIO_BLK_S_UNSUPP);
	CHECK_EQ(rw(0x7fffffff, 0, 0), 1);
	CHECK_EQ(vd_ram[status_gpa], VIRTIO_BLK_S_UNSUPP);
	/* a header shorter than 16 bytes */
	put_hdr(VIRTIO_BLK_T_IN, 0);
	struct vd_buf shorthdr[] = { { hdr_gpa, 8, false }, { status_gpa, 1, true } };
	CHECK_EQ(submit(shorthdr, 2, false), 1);
	CHECK_EQ(vd_ram[status_gpa], VIRTIO_BLK_S_IOERR);
	/* a data buffer outside RAM: IOERR, nothing written to the file */
	put_hdr(VIRTIO_BLK_T_OUT, 0);
	struct vd_buf outside[] = { { hdr_gpa, 16, false },
				    { VD_RAM_SIZE - 256, 512, false },
				    { status_gpa, 1, true } };
	CHECK_EQ(submit(outside, 3, false), 1);
	CHECK_EQ(vd_ram[status_gpa], VIRTIO_BLK_S_IOERR);
	CHECK_EQ(file_byte(0), before);
	put_hdr(VIRTIO_BLK_T_IN, 0);
	outside[1] = (struct vd_buf){ 0xfffffffffffff000ull, 512, true };
	CHECK_EQ(submit(outside, 3, false), 0);
	CHECK_EQ(vd_ram[status_gpa], VIRTIO_BLK_S_IOERR);
	/* a readable descriptor after a writable one (§2.7.4.2) */
	struct vd_buf misordered[] = { { hdr_gpa, 16, false },
				       { data_gpa, 512, true },
				       { data_gpa + 512, 512, false },
				       { status_gpa, 1, true } };
	CHECK_EQ(submit(misordered, 4, false), 0);
	CHECK_EQ(vd_ram[status_gpa], VIRTIO_BLK_S_IOERR);
	/* no writable status byte: nothing can be answered; the request still comes back */
	struct vd_buf nostatus[] = { { hdr_gpa, 16, false }, { data_gpa, 512, false } };
	CHECK_EQ(submit(nostatus, 2, false), 0);
	CHECK_EQ(vd_ram[status_gpa], 0xff);
	struct vd_buf status_outside[] = { { hdr_gpa, 16, false }, { VD_RAM_SIZE, 1, true } };
	CHECK_EQ(submit(status_outside, 2, false), 0);
	struct vd_buf empty_status[] = { { hdr_gpa, 16, false }, { status_gpa, 0, true } };
	CHECK_EQ(submit(empty_status, 2, false), 0);
	CHECK_EQ(blk.stats.unanswerable, 3);
	CHECK_EQ(file_byte(0), before);
	/* the device is still fine */
	CHECK_EQ(vd_rd(&drv, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_DEVICE_NEEDS_RESET, 0);
	CHECK_EQ(rw(VIRTIO_BLK_T_IN, 1, 512), 513);
	CHECK_EQ(vd_ram[status_gpa], VIRTIO_BLK_S_OK);
}

/* §5.2.6.2: a write to a read-only device is VIRTIO_BLK_S_IOERR "and MUST NOT write any data";
   errors of the host file are VIRTIO_BLK_S_IOERR too. */
static void test_read_only_and_host_errors(void)
{
	int ro_fd = open(disk_path, O_RDONLY);
	u8 before = file_byte(7 * 512);

	CHECK(ro_fd >= 0);
	setup_with(disk_fd, true, STD_FEATURES, NULL);
	memset(vd_ram + data_gpa, 0x55, 512);
	CHECK_EQ(rw(VIRTIO_BLK_T_OUT, 7, 512), 1);
	CHECK_EQ(vd_ram[status_gpa], VIRTIO_BLK_S_IOERR);
	CHECK_EQ(file_byte(7 * 512), before);
	CHECK_EQ(rw(VIRTIO_BLK_T_IN, 7, 512), 513);
	CHECK_EQ(vd_ram[status_gpa], VIRTIO_BLK_S_OK);

	/* the VMM said writable but the descriptor is not: pwritev fails with EBADF */
	setup_with(ro_fd, false, STD_FEATURES, NULL);
	CHECK_EQ(rw(VIRTIO_BLK_T_OUT, 7, 512), 1);
	CHECK_EQ(vd_ram[status_gpa], VIRTIO_BLK_S_IOERR);
	CHECK_EQ(file_byte(7 * 512), before);
	CHECK_EQ(blk.stats.ioerr, 1);

	/* the file shrank under the device: reading past its end is an I/O error */
	setup();
	CHECK_EQ(ftruncate(disk_fd, 100 * 512), 0);
	CHECK_EQ(rw(VIRTIO_BLK_T_IN, 100, 512), 0);
	CHECK_EQ(vd_ram[status_gpa], VIRTIO_BLK_S_IOERR);
	CHECK_EQ(ftruncate(disk_fd, DISK_SIZE), 0);
	close(ro_fd);
}

int main(int argc, char **argv)
{
	char dir[4096];

	(void)argc;
	snprintf(dir, sizeof(dir), "%s", argv[0]);
	snprintf(disk_path, sizeof(disk_path), "%s/test_virtio_blk.img", dirname(dir));
	make_disk();
	test_config();
	test_read_write();
	test_framing();
	test_get_id();
	test_flush_ordering();
	test_bad_requests();
	test_read_only_and_host_errors();
	close(disk_fd);
	unlink(disk_path);
	return check_done("test_virtio_blk");
}
