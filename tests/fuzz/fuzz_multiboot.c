// SPDX-License-Identifier: MIT
/*
 * The multiboot loader (src/loader/multiboot.c) on any image, command line and RAM size.
 * Input: u32 RAM selector, u16 command-line length, that many command-line bytes (a NUL ends
 * it early), then the image. The RAM size is one `tollbooth run --mem` accepts (a multiple of 4K
 * from 2M to 64G): with the selector's bit 31 clear, 2M-8M, and the plan is then applied to a
 * RAM buffer of that size as vm_load_boot_plan() does; with it set, any size up to 64G.
 * The image sits in its own buffer of exactly its size, so ASan sees a read past either end.
 *
 * Asserted on success: the plan stays inside RAM (each segment's end, without wrapping), reads
 * only the image or the plan's own MBI area, has non-overlapping segments, none but the MBI in
 * the MBI area, an entry point inside a loaded segment, the multiboot machine state (spec
 * 0.6.96 3.2: EAX magic, EBX the info address) and the command line in the MBI as given.
 * On failure: one of the documented errors, with a message.
 */
#include <errno.h>

#include "loader/loader.h"
#include "fuzz.h"

#define MB_BOOTLOADER_MAGIC 0x2badb002
#define MBI_OFF_CMDLINE	    16

static u64 ram_size_of(u32 sel)
{
	if (sel & BIT(31))
		return (512 + (u64)(sel & 0x7fffffff) % ((16u << 20) - 511)) << 12;
	return (2 + sel % 7) << 20;
}

static bool inside(const void *p, u64 len, const void *base, size_t size)
{
	uintptr_t a = (uintptr_t)p, b = (uintptr_t)base;

	return a >= b && a - b <= size && len <= size - (a - b);
}

static void check_plan(const struct boot_plan *plan, const u8 *image, size_t size,
		       const char *cmdline, u64 mem_size)
{
	bool entry_loaded = false;
	u32 cmdline_gpa;

	FUZZ_ASSERT(plan->nr_segments >= 2 && plan->nr_segments <= BOOT_MAX_SEGMENTS, "%u segments",
		    plan->nr_segments);
	for (unsigned i = 0; i < plan->nr_segments; i++) {
		const struct boot_segment *s = &plan->seg[i];
		bool is_mbi = s->data == plan->mbi;

		FUZZ_ASSERT(s->filesz <= s->memsz && s->gpa + s->memsz >= s->gpa &&
				    s->gpa + s->memsz <= mem_size,
			    "segment %u: gpa %#llx filesz %#llx memsz %#llx outside %#llx bytes of "
			    "RAM",
			    i, (unsigned long long)s->gpa, (unsigned long long)s->filesz,
			    (unsigned long long)s->memsz, (unsigned long long)mem_size);
		FUZZ_ASSERT(is_mbi ? i == plan->nr_segments - 1 && s->gpa == MBI_ADDR &&
					     s->filesz == MBI_AREA_SIZE
				   : inside(s->data, s->filesz, image, size),
			    "segment %u: %#llx bytes at image offset %#llx, the image has %#zx", i,
			    (unsigned long long)s->filesz,
			    (unsigned long long)((uintptr_t)s->data - (uintptr_t)image), size);
		FUZZ_ASSERT(is_mbi || s->gpa >= MBI_ADDR + MBI_AREA_SIZE ||
				    s->gpa + s->memsz <= MBI_ADDR,
			    "segment %u at %#llx overlaps the MBI area", i,
			    (unsigned long long)s->gpa);
		for (unsigned j = 0; j < i; j++)
			FUZZ_ASSERT(s->gpa >= plan->seg[j].gpa + plan->seg[j].memsz ||
					    plan->seg[j].gpa >= s->gpa + s->memsz,
				    "segments %u and %u overlap", j, i);
		if (!is_mbi && plan->regs.rip - s->gpa < s->memsz)
			entry_loaded = true;
	}
	FUZZ_ASSERT(entry_loaded, "entry %#llx outside every image segment",
		    (unsigned long long)plan->regs.rip);
	FUZZ_ASSERT(plan->regs.gpr[R_RAX] == MB_BOOTLOADER_MAGIC &&
			    plan->regs.gpr[R_RBX] == MBI_ADDR,
		    "EAX %#llx, EBX %#llx", (unsigned long long)plan->regs.gpr[R_RAX],
		    (unsigned long long)plan->regs.gpr[R_RBX]);
	memcpy(&cmdline_gpa, plan->mbi + MBI_OFF_CMDLINE, sizeof(cmdline_gpa));
	FUZZ_ASSERT(cmdline_gpa >= MBI_ADDR && cmdline_gpa < MBI_ADDR + MBI_AREA_SIZE,
		    "command line at %#x, outside the MBI area", cmdline_gpa);
	FUZZ_ASSERT(!strncmp((const char *)plan->mbi + (cmdline_gpa - MBI_ADDR), cmdline,
			     MBI_AREA_SIZE - (cmdline_gpa - MBI_ADDR)) &&
			    memchr(plan->mbi + (cmdline_gpa - MBI_ADDR), 0,
				   MBI_AREA_SIZE - (cmdline_gpa - MBI_ADDR)),
		    "the command line in the MBI differs from the one given");
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

int LLVMFuzzerTestOneInput(const u8 *data, size_t size)
{
	struct fuzz_input in = { data, size };
	static struct boot_plan plan; /* 8 KiB MBI area: not on the stack */
	u32 sel = (u32)fuzz_uint(&in, 4);
	size_t cmdline_len = fuzz_uint(&in, 2), image_size;
	u64 mem_size = ram_size_of(sel);
	char *cmdline;
	u8 *image;
	int err;

	if (cmdline_len > in.n)
		cmdline_len = in.n;
	cmdline = malloc(cmdline_len + 1);
	image_size = in.n - cmdline_len;
	image = malloc(image_size ? image_size : 1);
	if (!cmdline || !image)
		abort();
	memcpy(cmdline, in.p, cmdline_len);
	cmdline[cmdline_len] = '\0';
	memcpy(image, in.p + cmdline_len, image_size);

	err = multiboot_load(image, image_size, cmdline, mem_size, &plan);
	FUZZ_ASSERT(err == 0 || err == -ENOEXEC || err == -EINVAL || err == -E2BIG, "returned %d",
		    err);
	if (err) {
		FUZZ_ASSERT(plan.error[0] && memchr(plan.error, 0, sizeof(plan.error)),
			    "error %d without a message", err);
	} else {
		check_plan(&plan, image, image_size, cmdline, mem_size);
		if (!(sel & BIT(31)))
			apply_plan(&plan, mem_size);
	}
	free(image);
	free(cmdline);
	return 0;
}
