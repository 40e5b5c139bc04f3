// SPDX-License-Identifier: MIT
/*
 * The Linux loaders (src/loader/linux.c: bzImage, src/loader/pvh.c: PVH ELF) on any image,
 * command line, memory map, RAM size and initrd size.
 * Input: u8 mode (bit 0: pvh_load rather than linux_load; bits 2:1 the memory map: 0 a PC map,
 * 1 the same with a reserved MiB at 16 MiB, 2 RAM in abutting entries out of order, 3 up to 8
 * entries of 20 bytes read from the input, their count in the next byte), u32 RAM selector,
 * u16 command-line length, that many command-line bytes (a NUL ends it early), u32 initrd size
 * (modulo 1 MiB; 0: none), then the image. With the selector's bit 31 clear the RAM is 2M-64M,
 * and up to APPLY_MAX the plan is then applied to a RAM buffer of that size as vm_load_boot_plan()
 * does (larger buffers would slow the target tenfold); with it set, any size up to 16G. The image
 * sits in its own buffer of exactly its size (ASan sees a read past either end).
 *
 * Asserted on success: segment 0 is the boot data; every segment lies in the memory map's RAM,
 * inside mem_size and below 4 GiB, reads only the image, the initrd or the plan's own boot data,
 * and overlaps no other; bzImage: RIP = the kernel segment + 0x200, RSI = the zero page, the
 * kernel's init_size range is RAM and clear of the initrd, the zero page names the command line
 * and the initrd where they are; PVH: EBX = start_info, its magic, the entry inside a loaded
 * segment, the memory map and module as given. On failure: one of the documented errors, with a
 * message.
 */
#include <errno.h>

#include "loader/loader.h"
#include "fuzz.h"

#define MiB	       (1ull << 20)
#define MAX_INITRD     MiB
#define MAX_INPUT_MAP  8
#define APPLY_MAX      (16 * MiB)
#define HDR_INIT_SIZE  0x260
#define HDR_RAMDISK    0x218
#define HDR_CMD_LINE   0x228
#define SI_MAGIC_VALUE 0x336ec578

static u8 initrd[MAX_INITRD];

static u64 ram_size_of(u32 sel)
{
	if (sel & BIT(31))
		return (512 + (u64)(sel & 0x7fffffff) % ((4u << 20) - 511)) << 12;
	return (2 + sel % 63) * MiB;
}

static bool inside(const void *p, u64 len, const void *base, size_t size)
{
	uintptr_t a = (uintptr_t)p, b = (uintptr_t)base;

	return a >= b && a - b <= size && len <= size - (a - b);
}

static bool overlap(u64 a, u64 a_len, u64 b, u64 b_len)
{
	return a < b + b_len && b < a + a_len;
}

/* Whether the map's RAM, clipped to mem_size, covers [start, end): an independent walk. */
static bool is_ram(const struct boot_config *cfg, u64 start, u64 end)
{
	for (u64 pos = start; pos < end;) {
		u64 next = pos;

		for (unsigned i = 0; i < cfg->nr_e820; i++) {
			u64 a = cfg->e820[i].addr, e = a + cfg->e820[i].size;

			if (e < a || e > cfg->mem_size)
				e = cfg->mem_size;
			if (cfg->e820[i].type == E820_RAM && a <= pos && e > next)
				next = e;
		}
		if (next == pos)
			return false;
		pos = next;
	}
	return true;
}

static u32 get32(const u8 *p)
{
	u32 v;

	memcpy(&v, p, sizeof(v));
	return v;
}

static void check_plan(const struct boot_plan *plan, const struct boot_config *cfg, bool pvh,
		       const u8 *image, size_t size)
{
	const u8 *bp = plan->linux_data;
	bool entry_loaded = false;
	unsigned nr_initrd = 0;

	FUZZ_ASSERT(plan->nr_segments >= 2 && plan->seg[0].gpa == LINUX_DATA_ADDR &&
			    plan->seg[0].data == plan->linux_data,
		    "%u segments, the first at %#llx", plan->nr_segments,
		    (unsigned long long)plan->seg[0].gpa);
	for (unsigned i = 0; i < plan->nr_segments; i++) {
		const struct boot_segment *s = &plan->seg[i];
		bool is_initrd = cfg->initrd && s->data == cfg->initrd;

		FUZZ_ASSERT(s->filesz <= s->memsz && s->gpa + s->memsz >= s->gpa &&
				    s->gpa + s->memsz <= cfg->mem_size &&
				    s->gpa + s->memsz <= (4ull << 30) &&
				    is_ram(cfg, s->gpa, s->gpa + s->memsz),
			    "segment %u: gpa %#llx memsz %#llx is not RAM below 4 GiB", i,
			    (unsigned long long)s->gpa, (unsigned long long)s->memsz);
		FUZZ_ASSERT(i == 0 || (is_initrd ? s->filesz == cfg->initrd_size
						 : inside(s->data, s->filesz, image, size)),
			    "segment %u reads outside the image and the initrd", i);
		for (unsigned j = 0; j < i; j++)
			FUZZ_ASSERT(!overlap(s->gpa, s->memsz, plan->seg[j].gpa,
					     plan->seg[j].memsz),
				    "segments %u and %u overlap", j, i);
		if (is_initrd) {
			nr_initrd++;
			FUZZ_ASSERT(s->gpa >= MiB && !(s->gpa & 0xfff), "initrd at %#llx",
				    (unsigned long long)s->gpa);
			FUZZ_ASSERT(pvh ? get32(bp + LINUX_PVH_MODLIST - LINUX_DATA_ADDR) == s->gpa
					: get32(bp + HDR_RAMDISK) == s->gpa &&
						    get32(bp + HDR_RAMDISK + 4) == s->filesz,
				    "the initrd at %#llx is not where the boot data says",
				    (unsigned long long)s->gpa);
		} else if (i && plan->regs.rip - s->gpa < s->memsz) {
			entry_loaded = true;
		}
	}
	FUZZ_ASSERT(nr_initrd == (cfg->initrd_size != 0), "%u initrd segments", nr_initrd);
	FUZZ_ASSERT(!strcmp((const char *)bp + (LINUX_CMDLINE - LINUX_DATA_ADDR), cfg->cmdline),
		    "the command line differs from the one given");
	if (pvh) {
		FUZZ_ASSERT(entry_loaded && plan->regs.gpr[R_RBX] == LINUX_ZERO_PAGE &&
				    get32(bp) == SI_MAGIC_VALUE && get32(bp + 48) == cfg->nr_e820 &&
				    !(plan->sregs.cr0 & CR0_PG),
			    "PVH entry %#llx, EBX %#llx, memmap entries %u",
			    (unsigned long long)plan->regs.rip,
			    (unsigned long long)plan->regs.gpr[R_RBX], get32(bp + 48));
	} else {
		const struct boot_segment *k = &plan->seg[1];
		u64 span = get32(bp + HDR_INIT_SIZE) > k->memsz ? get32(bp + HDR_INIT_SIZE)
								: k->memsz;

		FUZZ_ASSERT(plan->regs.rip == k->gpa + 0x200 && k->memsz > 0x200 &&
				    plan->regs.gpr[R_RSI] == LINUX_ZERO_PAGE &&
				    get32(bp + HDR_CMD_LINE) == LINUX_CMDLINE,
			    "RIP %#llx, kernel at %#llx, RSI %#llx",
			    (unsigned long long)plan->regs.rip, (unsigned long long)k->gpa,
			    (unsigned long long)plan->regs.gpr[R_RSI]);
		FUZZ_ASSERT(is_ram(cfg, k->gpa, k->gpa + span) &&
				    (plan->nr_segments < 3 ||
				     !overlap(k->gpa, span, plan->seg[2].gpa, plan->seg[2].memsz)),
			    "the kernel's init_size range %#llx+%#llx", (unsigned long long)k->gpa,
			    (unsigned long long)span);
	}
}

/* What vm_load_boot_plan() does, into a RAM buffer of exactly mem_size bytes. */
static void apply_plan(const struct boot_plan *plan, u64 mem_size)
{
	u8 *ram = malloc(mem_size);

	if (!ram)
		abort();
	for (unsigned i = 0; i < plan->nr_segments; i++) {
		const struct boot_segment *s = &plan->seg[i];

		memcpy(ram + s->gpa, s->data, s->filesz);
		memset(ram + s->gpa + s->filesz, 0, s->memsz - s->filesz);
	}
	free(ram);
}

static unsigned make_map(struct fuzz_input *in, unsigned kind, u64 mem, struct e820_entry *map)
{
	unsigned n;

	switch (kind) {
	case 0:
	case 1:
		map[0] = (struct e820_entry){ 0, 0x9fc00, E820_RAM };
		map[1] = (struct e820_entry){ 0x9fc00, 0x60400, E820_RESERVED };
		map[2] = (struct e820_entry){ MiB, mem - MiB, E820_RAM };
		map[3] = (struct e820_entry){ 16 * MiB, MiB, E820_RESERVED };
		return kind ? 4 : 3;
	case 2:
		map[0] =
			(struct e820_entry){ 8 * MiB, mem > 8 * MiB ? mem - 8 * MiB : 0, E820_RAM };
		map[1] = (struct e820_entry){ 0, 0xa0000, E820_RAM };
		map[2] = (struct e820_entry){ MiB, 7 * MiB, E820_RAM };
		return 3;
	default:
		n = fuzz_u8(in) % (MAX_INPUT_MAP + 1);
		for (unsigned i = 0; i < n; i++) {
			map[i].addr = fuzz_uint(in, 8);
			map[i].size = fuzz_uint(in, 8);
			map[i].type = (u32)fuzz_uint(in, 4);
		}
		return n;
	}
}

int LLVMFuzzerTestOneInput(const u8 *data, size_t size)
{
	struct fuzz_input in = { data, size };
	static struct boot_plan plan; /* 36 KiB of boot data: not on the stack */
	struct e820_entry map[MAX_INPUT_MAP];
	u8 mode = fuzz_u8(&in);
	u32 sel = (u32)fuzz_uint(&in, 4);
	bool pvh = mode & 1;
	struct boot_config cfg = { .mem_size = ram_size_of(sel),
				   .e820 = map,
				   .rsdp_addr = 0xf0000 };
	size_t cmdline_len, image_size;
	char *cmdline;
	u8 *image;
	int err;

	cfg.nr_e820 = make_map(&in, (mode >> 1) & 3, cfg.mem_size, map);
	cmdline_len = fuzz_uint(&in, 2);
	if (cmdline_len > in.n)
		cmdline_len = in.n;
	cmdline = malloc(cmdline_len + 1);
	if (!cmdline)
		abort();
	memcpy(cmdline, in.p, cmdline_len);
	cmdline[cmdline_len] = '\0';
	in.p += cmdline_len;
	in.n -= cmdline_len;
	cfg.cmdline = cmdline;
	cfg.initrd_size = fuzz_uint(&in, 4) % MAX_INITRD;
	cfg.initrd = cfg.initrd_size ? initrd : NULL;
	image_size = in.n;
	image = malloc(image_size ? image_size : 1);
	if (!image)
		abort();
	memcpy(image, in.p, image_size);

	err = pvh ? pvh_load(image, image_size, &cfg, &plan)
		  : linux_load(image, image_size, &cfg, &plan);
	FUZZ_ASSERT(err == 0 || err == -ENOEXEC || err == -EINVAL || err == -E2BIG, "returned %d",
		    err);
	if (err) {
		FUZZ_ASSERT(plan.error[0] && memchr(plan.error, 0, sizeof(plan.error)),
			    "error %d without a message", err);
	} else {
		FUZZ_ASSERT(!plan.error[0], "success with a message: %s", plan.error);
		check_plan(&plan, &cfg, pvh, image, image_size);
		if (cfg.mem_size <= APPLY_MAX)
			apply_plan(&plan, cfg.mem_size);
	}
	free(image);
	free(cmdline);
	return 0;
}
