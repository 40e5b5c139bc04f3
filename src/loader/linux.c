// SPDX-License-Identifier: MIT
/*
 * Linux bzImage loader: the x86 boot protocol (Documentation/arch/x86/boot.rst; "boot.rst" below
 * names its sections) with the 64-bit entry ("64-bit Boot Protocol"), and the zero page
 * (Documentation/arch/x86/zero-page.rst).
 *
 * What tollbooth requires of a kernel and why:
 *   - boot_flag 0xAA55 and "HdrS": otherwise not a bzImage (-ENOEXEC, the caller tries the next
 *     loader);
 *   - protocol 2.12 or later with XLF_KERNEL_64: the 64-bit entry at load address + 0x200 is the
 *     only one tollbooth uses (no real-mode setup code runs: there is no BIOS), and xloadflags,
 *     the field that promises it, exists from 2.12 (Linux 3.8); 2.12 also brings every field
 *     used below (cmdline_size 2.06, pref_address and init_size 2.10);
 *   - LOADED_HIGH: a bzImage; zImages load below 1 MiB and need the real-mode code.
 *
 * Everything goes below 4 GiB (the identity map's reach; cmd_line_ptr, ramdisk_image and
 * code32_start hold 32 bits), so XLF_CAN_BE_LOADED_ABOVE_4G is never needed; ext_cmd_line_ptr,
 * ext_ramdisk_image and ext_ramdisk_size are written all the same (zero).
 */
#include <errno.h>
#include <string.h>

#include "loader/internal.h"

/* The setup header (boot.rst "The Real-Mode Kernel Header"): offsets in the file and zero page. */
#define HDR_SETUP_SECTS	     0x1f1
#define HDR_SYSSIZE	     0x1f4
#define HDR_BOOT_FLAG	     0x1fe
#define HDR_JUMP	     0x200
#define HDR_HEADER	     0x202
#define HDR_VERSION	     0x206
#define HDR_TYPE_OF_LOADER   0x210
#define HDR_LOADFLAGS	     0x211
#define HDR_CODE32_START     0x214
#define HDR_RAMDISK_IMAGE    0x218
#define HDR_RAMDISK_SIZE     0x21c
#define HDR_CMD_LINE_PTR     0x228
#define HDR_INITRD_ADDR_MAX  0x22c
#define HDR_KERNEL_ALIGNMENT 0x230
#define HDR_RELOCATABLE	     0x234
#define HDR_XLOADFLAGS	     0x236
#define HDR_CMDLINE_SIZE     0x238
#define HDR_PREF_ADDRESS     0x258
#define HDR_INIT_SIZE	     0x260
#define HDR_END_2_12	     0x268 /* handover_offset (0x264/4), the last 2.12 field, ends here */

#define BOOT_FLAG	    0xaa55
#define HDRS_MAGIC	    0x53726448 /* "HdrS" */
#define JMP_REL8	    0xeb
#define PROTOCOL_MIN	    0x020c /* 2.12 */
#define LOADED_HIGH	    BIT(0) /* loadflags bit 0 */
#define XLF_KERNEL_64	    BIT(0) /* xloadflags bit 0 */
#define TYPE_OF_LOADER_NONE 0xff   /* boot.rst type_of_loader: tollbooth has no assigned id */
#define ENTRY_64_OFFSET	    0x200  /* boot.rst "64-bit Boot Protocol": startup_64 */

/* zero-page.rst: boot_params fields outside the setup header. */
#define BP_ACPI_RSDP_ADDR    0x070
#define BP_EXT_RAMDISK_IMAGE 0x0c0
#define BP_EXT_RAMDISK_SIZE  0x0c4
#define BP_EXT_CMD_LINE_PTR  0x0c8
#define BP_E820_ENTRIES	     0x1e8
#define BP_E820_TABLE	     0x2d0


struct bzimage {
	size_t hdr_end;	   /* 0x202 + the jump's offset byte (boot.rst "64-bit Boot Protocol") */
	size_t setup_size; /* (setup_sects + 1) * 512: the protected-mode kernel starts here */
	u64 kernel_size;   /* syssize * 16 */
	u32 init_size;
	u64 pref_address;
	u32 kernel_alignment;
	bool relocatable;
	u32 initrd_addr_max;
	u32 cmdline_size;
};

/* Check and read the setup header. */
static int bzimage_parse(const u8 *image, size_t size, struct bzimage *bz, struct boot_plan *plan)
{
	unsigned setup_sects;
	u16 version, xloadflags;

	if (size < HDR_VERSION + 2)
		return loader_fail(plan, -ENOEXEC,
				   "the file (%zu bytes) is too short to hold a Linux setup header",
				   size);
	if (get16(image + HDR_BOOT_FLAG) != BOOT_FLAG || get32(image + HDR_HEADER) != HDRS_MAGIC)
		return loader_fail(plan, -ENOEXEC,
				   "not a Linux bzImage: no boot_flag 0xAA55 at 0x1fe and \"HdrS\" "
				   "at 0x202");
	/* boot.rst setup_sects: "If this field is 0, the real value is 4." */
	setup_sects = image[HDR_SETUP_SECTS] ? image[HDR_SETUP_SECTS] : 4;
	bz->setup_size = (setup_sects + 1) * 512;
	if (bz->setup_size > size)
		return loader_fail(
			plan, -EINVAL,
			"truncated: the setup code (setup_sects %u) ends at %#zx, past the "
			"end of the file (%#zx bytes)",
			setup_sects, bz->setup_size, size);
	version = get16(image + HDR_VERSION);
	if (version < PROTOCOL_MIN)
		return loader_fail(
			plan, -EINVAL,
			"boot protocol %u.%02u is too old: tollbooth enters the 64-bit "
			"entry point, which kernels announce from protocol 2.12 (Linux 3.8)",
			version >> 8, version & 0xff);
	/* boot.rst jump: 0xEB and a signed offset from 0x202, which gives the header's length. */
	bz->hdr_end = HDR_HEADER + (size_t)(s8)image[HDR_JUMP + 1];
	if (image[HDR_JUMP] != JMP_REL8 || (s8)image[HDR_JUMP + 1] < 0 ||
	    bz->hdr_end < HDR_END_2_12)
		return loader_fail(
			plan, -EINVAL,
			"corrupt setup header: the jump at 0x200 (%02x %02x) puts its end "
			"before the protocol 2.12 fields end at %#x",
			image[HDR_JUMP], image[HDR_JUMP + 1], HDR_END_2_12);
	if (!(image[HDR_LOADFLAGS] & LOADED_HIGH))
		return loader_fail(plan, -EINVAL,
				   "a zImage (loadflags bit 0 LOADED_HIGH clear) loads below 1 MiB "
				   "through its real-mode code: tollbooth boots bzImages only");
	xloadflags = get16(image + HDR_XLOADFLAGS);
	if (!(xloadflags & XLF_KERNEL_64))
		return loader_fail(plan, -EINVAL,
				   "not a 64-bit kernel: xloadflags %#x lacks XLF_KERNEL_64 (the "
				   "64-bit entry point tollbooth uses): boot an x86-64 kernel",
				   xloadflags);
	/* boot.rst syssize: the protected-mode code in 16-byte paragraphs; what follows is not
	   the kernel's (a signed kernel carries its PE signature there). */
	bz->kernel_size = (u64)get32(image + HDR_SYSSIZE) * 16;
	if (bz->kernel_size <= ENTRY_64_OFFSET)
		return loader_fail(
			plan, -EINVAL,
			"syssize says the protected-mode kernel has %#llx bytes, too few "
			"to hold the 64-bit entry at offset 0x200: the header is corrupt",
			(unsigned long long)bz->kernel_size);
	if (bz->kernel_size > size - bz->setup_size)
		return loader_fail(
			plan, -EINVAL,
			"truncated: syssize says the protected-mode kernel has %#llx bytes, "
			"the file has %#zx after the setup code",
			(unsigned long long)bz->kernel_size, size - bz->setup_size);
	bz->init_size = get32(image + HDR_INIT_SIZE);
	bz->pref_address = get64(image + HDR_PREF_ADDRESS);
	bz->kernel_alignment = get32(image + HDR_KERNEL_ALIGNMENT);
	bz->relocatable = image[HDR_RELOCATABLE];
	bz->initrd_addr_max = get32(image + HDR_INITRD_ADDR_MAX);
	bz->cmdline_size = get32(image + HDR_CMDLINE_SIZE);
	return 0;
}

/*
 * boot.rst init_size: the kernel needs init_size bytes from its runtime start, which is
 * align_up(load address, kernel_alignment) for a relocatable kernel and pref_address otherwise.
 * A relocatable kernel entered at 64 bits runs no lower than pref_address either (its
 * LOAD_PHYSICAL_ADDR, arch/x86/boot/compressed/head_64.S), so both load at pref_address; a
 * relocatable one moves up by kernel_alignment steps past holes in RAM. Protocols before 2.10
 * had no pref_address and loaded bzImages at 0x100000 (boot.rst "Loading The Rest of The
 * Kernel"), the default when the field is 0.
 */
static int bzimage_place(const struct bzimage *bz, const struct boot_config *cfg,
			 struct boot_plan *plan, u64 *load, u64 *span)
{
	u64 base = bz->pref_address ? bz->pref_address : SZ_1M;
	u64 align = bz->kernel_alignment, need;

	*span = bz->init_size > bz->kernel_size ? bz->init_size : bz->kernel_size;
	if (bz->relocatable) {
		if (!align || (align & (align - 1)))
			return loader_fail(
				plan, -EINVAL,
				"kernel_alignment %#llx is not a power of two: the setup "
				"header is corrupt",
				(unsigned long long)align);
		if (base < SZ_1M)
			base = SZ_1M;
		if (loader_ram_find_low(cfg, base, align, *span, SZ_4G, load))
			return 0;
	} else {
		if (base < SZ_1M)
			return loader_fail(
				plan, -EINVAL,
				"pref_address %#llx of a non-relocatable kernel is below "
				"1 MiB, where the boot data and BIOS areas are",
				(unsigned long long)base);
		*load = base;
		if (base < SZ_4G && *span <= SZ_4G - base &&
		    loader_ram_covers(cfg, base, base + *span))
			return 0;
	}
	need = base + *span + cfg->initrd_size;
	if (need > cfg->mem_size)
		return loader_fail(plan, -E2BIG,
				   "the kernel needs init_size %#llx bytes of RAM from %#llx "
				   "(pref_address) up, below 4 GiB; the guest's RAM is too small: "
				   "use --mem %lluM or more",
				   (unsigned long long)*span, (unsigned long long)base,
				   (unsigned long long)((need + SZ_1M - 1) >> 20));
	return loader_fail(
		plan, -E2BIG,
		"the kernel needs init_size %#llx bytes of RAM from %#llx (pref_address) "
		"up, below 4 GiB, and the memory map has none there",
		(unsigned long long)*span, (unsigned long long)base);
}

/* zero-page.rst and boot.rst "Details of Header Fields": what a boot loader writes. */
static void bzimage_fill_zero_page(const u8 *image, const struct bzimage *bz,
				   const struct boot_config *cfg, struct boot_plan *plan, u64 load,
				   u64 initrd)
{
	u8 *bp = LINUX_DATA(plan, LINUX_ZERO_PAGE);

	/* boot.rst "64-bit Boot Protocol": the setup header, from 0x1f1 to its end. */
	memcpy(bp + HDR_SETUP_SECTS, image + HDR_SETUP_SECTS, bz->hdr_end - HDR_SETUP_SECTS);
	bp[HDR_TYPE_OF_LOADER] = TYPE_OF_LOADER_NONE;
	/* No real-mode code runs, so no heap (CAN_USE_HEAP stays clear) and no hooks; the load
	   address goes to code32_start (boot.rst code32_start, "reloc"). */
	put32(bp + HDR_CODE32_START, (u32)load);
	put32(bp + HDR_CMD_LINE_PTR, (u32)LINUX_CMDLINE);
	put32(bp + BP_EXT_CMD_LINE_PTR, (u32)((u64)LINUX_CMDLINE >> 32));
	put32(bp + HDR_RAMDISK_IMAGE, (u32)initrd);
	put32(bp + BP_EXT_RAMDISK_IMAGE, (u32)(initrd >> 32));
	put32(bp + HDR_RAMDISK_SIZE, initrd ? (u32)cfg->initrd_size : 0);
	put32(bp + BP_EXT_RAMDISK_SIZE, initrd ? (u32)(cfg->initrd_size >> 32) : 0);
	/* zero-page.rst acpi_rsdp_addr (used since Linux 4.20; older kernels ignore it) */
	put64(bp + BP_ACPI_RSDP_ADDR, cfg->rsdp_addr);
	bp[BP_E820_ENTRIES] = (u8)cfg->nr_e820;
	memcpy(bp + BP_E820_TABLE, cfg->e820, cfg->nr_e820 * sizeof(struct e820_entry));
}

/*
 * boot.rst "64-bit Boot Protocol": the kernel (init_size from its start), the zero page and the
 * command line must be identity mapped. 2 MiB pages over the first 4 GiB cover them, the initrd
 * and the GDT: PML4[0] -> PDPT, PDPT[0..3] -> four PDs of 512 2 MiB pages (SDM vol. 3A 4.5).
 * tollbooth's CPU (src/cpu/mmu.c) and every x86-64 CPU map 2 MiB pages in 4-level paging;
 * 1 GiB pages would need CPUID.80000001H:EDX.Page1GB, which the kvm backend's host may lack.
 */
static void bzimage_build_page_tables(struct boot_plan *plan)
{
	const u64 pml4 = LINUX_PML4, pdpt = pml4 + 0x1000, pd = pdpt + 0x1000;

	put64(LINUX_DATA(plan, pml4), pdpt | PTE_P | PTE_RW);
	for (u64 g = 0; g < 4; g++) {
		put64(LINUX_DATA(plan, pdpt) + g * 8, (pd + g * 0x1000) | PTE_P | PTE_RW);
		for (u64 i = 0; i < 512; i++)
			put64(LINUX_DATA(plan, pd) + g * 0x1000 + i * 8,
			      (g << 30 | i << 21) | PTE_P | PTE_RW | PTE_PS);
	}
}

/*
 * boot.rst "64-bit Boot Protocol": 64-bit mode with paging on; a GDT with __BOOT_CS (0x10) and
 * __BOOT_DS (0x18), 4G flat, execute/read and read/write; CS = __BOOT_CS, DS = ES = SS =
 * __BOOT_DS (FS and GS too); interrupts disabled; RSI = the zero page. Long mode is CR0.PE|PG,
 * CR4.PAE and EFER.LME|LMA (SDM vol. 3A 10.8.5); the code segment has L set and D clear (SDM
 * vol. 3A 5.2.1).
 */
static void bzimage_set_state(struct boot_plan *plan, u64 load)
{
	struct x86_sregs *s = &plan->sregs;

	loader_set_segments(plan,
			    loader_flat_segment(LINUX_BOOT_CS, 0xb | AR_S | AR_P | AR_L | AR_G),
			    loader_flat_segment(LINUX_BOOT_DS, 0x3 | AR_S | AR_P | AR_DB | AR_G));
	s->cr0 = CR0_PE | CR0_ET | CR0_PG;
	s->cr3 = LINUX_PML4;
	s->cr4 = CR4_PAE;
	s->efer = EFER_LME | EFER_LMA;
	memset(&plan->regs, 0, sizeof(plan->regs));
	plan->regs.gpr[R_RSI] = LINUX_ZERO_PAGE;
	plan->regs.rip = load + ENTRY_64_OFFSET;
	plan->regs.rflags = X86_FIXED1;
}

int linux_load(const u8 *image, size_t size, const struct boot_config *cfg, struct boot_plan *plan)
{
	struct bzimage bz = { 0 };
	u64 load, span, initrd_limit, initrd;
	int err;

	memset(plan, 0, offsetof(struct boot_plan, mbi));
	plan->error[0] = '\0';
	err = bzimage_parse(image, size, &bz, plan);
	if (err)
		return err;
	/* boot.rst cmdline_size: the most characters, without the NUL, the kernel takes. */
	err = loader_begin(
		cfg, bz.cmdline_size < LINUX_CMDLINE_MAX ? bz.cmdline_size : LINUX_CMDLINE_MAX,
		bz.cmdline_size < LINUX_CMDLINE_MAX ? "the kernel's cmdline_size is"
						    : "tollbooth passes at most",
		plan);
	if (err)
		return err;
	err = bzimage_place(&bz, cfg, plan, &load, &span);
	if (err)
		return err;
	err = loader_add_segment(plan, load, image + bz.setup_size, bz.kernel_size, bz.kernel_size);
	if (err)
		return err;
	/* boot.rst initrd_addr_max: the highest byte the initrd may occupy. */
	initrd_limit = (u64)bz.initrd_addr_max + 1 < SZ_4G ? (u64)bz.initrd_addr_max + 1 : SZ_4G;
	err = loader_place_initrd(cfg, plan, initrd_limit, "initrd_addr_max + 1", load, load + span,
				  &initrd);
	if (err)
		return err;
	bzimage_fill_zero_page(image, &bz, cfg, plan, load, initrd);
	bzimage_build_page_tables(plan);
	bzimage_set_state(plan, load);
	return 0;
}
