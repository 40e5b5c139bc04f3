// SPDX-License-Identifier: MIT
/*
 * Multiboot v1 loader (Multiboot Specification 0.6.96). Section numbers below are the spec's:
 * 3.1 the OS image format and header, 3.2 the machine state at entry, 3.3 the boot information.
 */
#include <elf.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "common/ranges.h"
#include "loader/loader.h"

#define MB_HEADER_MAGIC	    0x1badb002
#define MB_BOOTLOADER_MAGIC 0x2badb002
#define MB_SEARCH_LIMIT	    8192  /* 3.1.1: the header lies within the first 8192 bytes */
#define LINUX_HDRS_OFFSET   0x202 /* a bzImage's setup header signature, named in the error */

/* 3.1.2 header flags: bits 0-15 are requirements, bits 16-31 optional features. */
#define MB_FLAG_PAGE_ALIGN  BIT(0) /* modules page aligned: we load no modules */
#define MB_FLAG_MEMORY_INFO BIT(1)
#define MB_FLAG_VIDEO_MODE  BIT(2)
#define MB_FLAG_AOUT_KLUDGE BIT(16)
#define MB_FLAGS_SUPPORTED  (MB_FLAG_PAGE_ALIGN | MB_FLAG_MEMORY_INFO)

/* 3.3 boot information flags and field offsets. */
#define MBI_FLAG_MEM	     BIT(0)
#define MBI_FLAG_CMDLINE     BIT(2)
#define MBI_FLAG_MMAP	     BIT(6)
#define MBI_FLAG_LOADER_NAME BIT(9)
#define MBI_OFF_FLAGS	     0
#define MBI_OFF_MEM_LOWER    4
#define MBI_OFF_MEM_UPPER    8
#define MBI_OFF_CMDLINE	     16
#define MBI_OFF_MMAP_LENGTH  44
#define MBI_OFF_MMAP_ADDR    48
#define MBI_OFF_LOADER_NAME  64
/* Where the pieces sit inside the MBI area. */
#define MBI_AREA_MMAP	 0x100
#define MBI_AREA_NAME	 0x1c0
#define MBI_AREA_CMDLINE 0x200

#define MMAP_TYPE_RAM	   1
#define MMAP_TYPE_RESERVED 2
#define LOW_RAM_END	   0xa0000 /* 640 KiB */
#define HIGH_RAM_START	   0x100000

struct mb_header {
	u32 magic, flags, checksum;
	u32 header_addr, load_addr, load_end_addr, bss_end_addr, entry_addr; /* flags bit 16 */
};

static int plan_fail(struct boot_plan *plan, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int plan_fail(struct boot_plan *plan, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(plan->error, sizeof(plan->error), fmt, ap);
	va_end(ap);
	return err;
}

static u32 get32(const u8 *p)
{
	u32 v;

	memcpy(&v, p, sizeof(v));
	return v;
}

static void put32(u8 *p, u32 v)
{
	memcpy(p, &v, sizeof(v));
}

static void put64(u8 *p, u64 v)
{
	memcpy(p, &v, sizeof(v));
}

/* 3.1.1: the first 4-byte aligned magic with a valid checksum; *offset is its file offset. */
static int multiboot_find_header(const u8 *image, size_t size, struct boot_plan *plan,
				 struct mb_header *h, size_t *offset)
{
	size_t limit = size < MB_SEARCH_LIMIT ? size : MB_SEARCH_LIMIT;
	long bad_checksum_at = -1;

	for (size_t off = 0; off + 12 <= limit; off += 4) {
		if (get32(image + off) != MB_HEADER_MAGIC)
			continue;
		if (get32(image + off) + get32(image + off + 4) + get32(image + off + 8) != 0) {
			if (bad_checksum_at < 0)
				bad_checksum_at = (long)off;
			continue;
		}
		memset(h, 0, sizeof(*h));
		memcpy(h, image + off, off + sizeof(*h) <= size ? sizeof(*h) : 12);
		*offset = off;
		return 0;
	}
	/* Linux boot protocol (Documentation/arch/x86/boot.rst): setup header magic "HdrS" at
	   0x202 since protocol 2.00. A Linux image is another loader's, even if its bytes happen to
	   hold the multiboot magic. */
	if (size >= LINUX_HDRS_OFFSET + 4 && !memcmp(image + LINUX_HDRS_OFFSET, "HdrS", 4))
		return plan_fail(plan, -ENOEXEC, "a Linux bzImage (setup header \"HdrS\" at %#x)",
				 LINUX_HDRS_OFFSET);
	/* A magic with a bad checksum is a broken multiboot image, not some other kind. */
	if (bad_checksum_at >= 0)
		return plan_fail(
			plan, -EINVAL,
			"multiboot header at offset %#lx has a bad checksum (magic + flags + "
			"checksum must be 0 mod 2^32): fix the header and rebuild",
			bad_checksum_at);
	return plan_fail(plan, -ENOEXEC,
			 "no multiboot header in the first %d bytes: tollbooth boots multiboot v1 "
			 "images (magic 0x1badb002, as for qemu -kernel)",
			 MB_SEARCH_LIMIT);
}

static int plan_add_segment(struct boot_plan *plan, u64 gpa, const u8 *data, u64 filesz, u64 memsz)
{
	if (plan->nr_segments == BOOT_MAX_SEGMENTS)
		return plan_fail(plan, -EINVAL, "more than %d loadable segments: merge them",
				 BOOT_MAX_SEGMENTS);
	plan->seg[plan->nr_segments++] = (struct boot_segment){
		.gpa = gpa,
		.data = data,
		.filesz = filesz,
		.memsz = memsz,
	};
	return 0;
}

/* 3.1.3: flags bit 16, load from the header's address fields. */
static int multiboot_plan_aout(const u8 *image, size_t size, const struct mb_header *h,
			       size_t header_off, struct boot_plan *plan, u32 *entry)
{
	u64 file_off, load_end, filesz, memsz;

	if (header_off + sizeof(*h) > size)
		return plan_fail(plan, -EINVAL,
				 "truncated: the multiboot header's address fields (flags bit 16) "
				 "end past the end of the file");
	if (h->load_addr > h->header_addr || h->header_addr - h->load_addr > header_off)
		return plan_fail(
			plan, -EINVAL,
			"multiboot header: load_addr %#x and header_addr %#x put the start "
			"of the image before the start of the file",
			h->load_addr, h->header_addr);
	file_off = header_off - (h->header_addr - h->load_addr);
	load_end = h->load_end_addr ? h->load_end_addr : h->load_addr + (size - file_off);
	if (load_end < h->load_addr)
		return plan_fail(plan, -EINVAL,
				 "multiboot header: load_end_addr %#x is below "
				 "load_addr %#x",
				 h->load_end_addr, h->load_addr);
	filesz = load_end - h->load_addr;
	if (file_off + filesz > size)
		return plan_fail(
			plan, -EINVAL,
			"truncated: load_end_addr %#x needs %#llx bytes of file, it has %#zx",
			h->load_end_addr, (unsigned long long)(file_off + filesz), size);
	memsz = filesz;
	if (h->bss_end_addr) {
		if (h->bss_end_addr < load_end)
			return plan_fail(plan, -EINVAL,
					 "multiboot header: bss_end_addr %#x is below "
					 "the end of the loaded image %#llx",
					 h->bss_end_addr, (unsigned long long)load_end);
		memsz = h->bss_end_addr - h->load_addr;
	}
	*entry = h->entry_addr;
	/* An a.out kludge image has no sections: its text is all it loads from the file. */
	plan->text_start = h->load_addr;
	plan->text_end = h->load_addr + filesz;
	return plan_add_segment(plan, h->load_addr, image + file_off, filesz, memsz);
}

/*
 * The kernel's text for --watch kernel: the allocated, executable sections (SHF_ALLOC |
 * SHF_EXECINSTR; ELF gABI "Sections"), from their lowest to their highest address, moved from
 * virtual to physical through the PT_LOAD that holds them. Left 0 when the file has no section
 * headers or they do not fit it: the headers are optional for loading, so never an error.
 */
static void multiboot_elf_text(const u8 *image, size_t size, const Elf32_Ehdr *eh,
			       struct boot_plan *plan)
{
	u64 lo = UINT64_MAX, hi = 0;

	if (!eh->e_shoff || eh->e_shentsize < sizeof(Elf32_Shdr) ||
	    (u64)eh->e_shoff + (u64)eh->e_shnum * eh->e_shentsize > size)
		return;
	for (unsigned i = 0; i < eh->e_shnum; i++) {
		Elf32_Shdr sh;

		memcpy(&sh, image + eh->e_shoff + (size_t)i * eh->e_shentsize, sizeof(sh));
		if ((sh.sh_flags & (SHF_ALLOC | SHF_EXECINSTR)) != (SHF_ALLOC | SHF_EXECINSTR) ||
		    !sh.sh_size)
			continue;
		lo = sh.sh_addr < lo ? sh.sh_addr : lo;
		hi = (u64)sh.sh_addr + sh.sh_size > hi ? (u64)sh.sh_addr + sh.sh_size : hi;
	}
	if (hi <= lo)
		return;
	for (unsigned i = 0; i < eh->e_phnum; i++) {
		Elf32_Phdr ph;

		memcpy(&ph, image + eh->e_phoff + (size_t)i * eh->e_phentsize, sizeof(ph));
		if (ph.p_type == PT_LOAD && lo >= ph.p_vaddr && hi <= (u64)ph.p_vaddr + ph.p_memsz) {
			plan->text_start = lo - ph.p_vaddr + ph.p_paddr;
			plan->text_end = hi - ph.p_vaddr + ph.p_paddr;
			return;
		}
	}
}

/* ELF32 program headers: PT_LOAD segments at their physical addresses (p_paddr). */
static int multiboot_plan_elf(const u8 *image, size_t size, struct boot_plan *plan, u32 *entry)
{
	Elf32_Ehdr eh;
	int err;

	if (size < EI_NIDENT || memcmp(image, ELFMAG, SELFMAG))
		return plan_fail(
			plan, -EINVAL,
			"not an ELF file, and its multiboot header does not set flags bit 16 "
			"(load addresses): add the address fields or link as ELF32");
	if (image[EI_CLASS] == ELFCLASS64)
		return plan_fail(plan, -EINVAL,
				 "ELF64 image: multiboot v1 loads ELF32; convert it with "
				 "`objcopy -O elf32-i386` as kvm-unit-tests do");
	if (size < sizeof(eh))
		return plan_fail(plan, -EINVAL,
				 "truncated: the ELF header needs %zu bytes, the "
				 "file has %zu",
				 sizeof(eh), size);
	memcpy(&eh, image, sizeof(eh));
	if (image[EI_CLASS] != ELFCLASS32 || image[EI_DATA] != ELFDATA2LSB ||
	    (eh.e_machine != EM_386 && eh.e_machine != EM_X86_64))
		return plan_fail(plan, -EINVAL,
				 "not a little-endian x86 ELF32 file (class %u, "
				 "data %u, machine %u)",
				 image[EI_CLASS], image[EI_DATA], eh.e_machine);
	if (eh.e_phnum && eh.e_phentsize < sizeof(Elf32_Phdr))
		return plan_fail(plan, -EINVAL, "ELF program header size %u is below %zu",
				 eh.e_phentsize, sizeof(Elf32_Phdr));
	if ((u64)eh.e_phoff + (u64)eh.e_phnum * eh.e_phentsize > size)
		return plan_fail(plan, -EINVAL,
				 "truncated: the ELF program headers end at %#llx, "
				 "past the end of the file (%#zx bytes)",
				 (unsigned long long)eh.e_phoff +
					 (unsigned long long)eh.e_phnum * eh.e_phentsize,
				 size);
	*entry = eh.e_entry;
	for (unsigned i = 0; i < eh.e_phnum; i++) {
		Elf32_Phdr ph;

		memcpy(&ph, image + eh.e_phoff + (size_t)i * eh.e_phentsize, sizeof(ph));
		if (ph.p_type != PT_LOAD || !ph.p_memsz)
			continue;
		if (ph.p_filesz > ph.p_memsz)
			return plan_fail(plan, -EINVAL,
					 "ELF program header %u: p_filesz %#x exceeds "
					 "p_memsz %#x",
					 i, ph.p_filesz, ph.p_memsz);
		if ((u64)ph.p_offset + ph.p_filesz > size)
			return plan_fail(plan, -EINVAL,
					 "truncated: ELF program header %u needs file "
					 "bytes up to %#llx, the file has %#zx",
					 i, (unsigned long long)ph.p_offset + ph.p_filesz, size);
		/* The entry point is virtual; load addresses are physical (p_paddr). */
		if (eh.e_entry - ph.p_vaddr < ph.p_memsz)
			*entry = eh.e_entry - ph.p_vaddr + ph.p_paddr;
		err = plan_add_segment(plan, ph.p_paddr, image + ph.p_offset, ph.p_filesz,
				       ph.p_memsz);
		if (err)
			return err;
	}
	if (!plan->nr_segments)
		return plan_fail(plan, -EINVAL, "the ELF file has no loadable (PT_LOAD) segment");
	multiboot_elf_text(image, size, &eh, plan);
	return 0;
}

static int multiboot_check_segments(struct boot_plan *plan, u64 mem_size, u32 entry)
{
	bool entry_loaded = false;

	for (unsigned i = 0; i < plan->nr_segments; i++) {
		const struct boot_segment *s = &plan->seg[i];
		u64 end = s->gpa + s->memsz;
		int j;

		if (end > mem_size)
			return plan_fail(plan, -E2BIG,
					 "segment %#llx-%#llx does not fit in %lluM of "
					 "guest RAM: use --mem %lluM or more",
					 (unsigned long long)s->gpa, (unsigned long long)end - 1,
					 (unsigned long long)(mem_size >> 20),
					 (unsigned long long)((end + (1 << 20) - 1) >> 20));
		if (range_overlaps(s->gpa, s->memsz, MBI_ADDR, MBI_AREA_SIZE))
			return plan_fail(plan, -EINVAL,
					 "segment %#llx-%#llx overlaps the multiboot "
					 "information at %#x-%#x: link the image at 1M or above",
					 (unsigned long long)s->gpa, (unsigned long long)end - 1,
					 MBI_ADDR, MBI_ADDR + MBI_AREA_SIZE - 1);
		j = ranges_find_overlap(RANGE_ARRAY(plan->seg, i, gpa, memsz), s->gpa, s->memsz);
		if (j >= 0)
			return plan_fail(plan, -EINVAL, "segments %d and %u overlap", j, i);
		if (entry - s->gpa < s->memsz)
			entry_loaded = true;
	}
	if (!entry_loaded)
		return plan_fail(plan, -EINVAL, "entry point %#x is outside every loaded segment",
				 entry);
	return 0;
}

/* 3.3: the information structure, with a memory map of 640K low RAM, the hole, RAM above 1M. */
static int multiboot_build_info(struct boot_plan *plan, const char *cmdline, u64 mem_size)
{
	static const char loader_name[] = "tollbooth";
	const u64 mmap[][3] = {
		{ 0, LOW_RAM_END, MMAP_TYPE_RAM },
		{ LOW_RAM_END, HIGH_RAM_START - LOW_RAM_END, MMAP_TYPE_RESERVED },
		{ HIGH_RAM_START, mem_size - HIGH_RAM_START, MMAP_TYPE_RAM },
	};
	size_t cmdline_len = strlen(cmdline);
	u8 *mbi = plan->mbi;

	if (cmdline_len > MBI_CMDLINE_MAX)
		return plan_fail(plan, -EINVAL,
				 "the command line (--append) is %zu bytes; at most "
				 "%d fit",
				 cmdline_len, MBI_CMDLINE_MAX);
	memset(mbi, 0, sizeof(plan->mbi));
	put32(mbi + MBI_OFF_FLAGS,
	      MBI_FLAG_MEM | MBI_FLAG_CMDLINE | MBI_FLAG_MMAP | MBI_FLAG_LOADER_NAME);
	put32(mbi + MBI_OFF_MEM_LOWER, LOW_RAM_END >> 10);
	put32(mbi + MBI_OFF_MEM_UPPER, (u32)((mem_size - HIGH_RAM_START) >> 10));
	put32(mbi + MBI_OFF_CMDLINE, MBI_ADDR + MBI_AREA_CMDLINE);
	memcpy(mbi + MBI_AREA_CMDLINE, cmdline, cmdline_len + 1);
	put32(mbi + MBI_OFF_LOADER_NAME, MBI_ADDR + MBI_AREA_NAME);
	memcpy(mbi + MBI_AREA_NAME, loader_name, sizeof(loader_name));
	/* Each entry: size (of the rest, 20), base_addr, length, type. */
	for (size_t i = 0; i < ARRAY_SIZE(mmap); i++) {
		u8 *e = mbi + MBI_AREA_MMAP + i * 24;

		put32(e, 20);
		put64(e + 4, mmap[i][0]);
		put64(e + 12, mmap[i][1]);
		put32(e + 20, (u32)mmap[i][2]);
	}
	put32(mbi + MBI_OFF_MMAP_LENGTH, (u32)(ARRAY_SIZE(mmap) * 24));
	put32(mbi + MBI_OFF_MMAP_ADDR, MBI_ADDR + MBI_AREA_MMAP);
	return plan_add_segment(plan, MBI_ADDR, mbi, sizeof(plan->mbi), sizeof(plan->mbi));
}

static struct x86_segment flat_segment(u16 sel, u32 type)
{
	return (struct x86_segment){
		.base = 0,
		.limit = 0xffffffff,
		.sel = sel,
		.ar = type | AR_S | AR_P | AR_DB | AR_G,
	};
}

/*
 * 3.2 machine state: EAX magic, EBX the information's physical address; CS a 32-bit flat
 * execute/read segment, DS ES FS GS SS 32-bit flat read/write; A20 enabled (there is no A20 gate
 * in tollbooth); CR0 PG clear, PE set; EFLAGS VM and IF clear. Selector values are undefined by
 * the spec; ESP, GDTR and IDTR are the OS image's to set up.
 */
static void multiboot_set_state(struct boot_plan *plan, u32 entry)
{
	struct x86_sregs *s = &plan->sregs;

	memset(&plan->regs, 0, sizeof(plan->regs));
	plan->regs.gpr[R_RAX] = MB_BOOTLOADER_MAGIC;
	plan->regs.gpr[R_RBX] = MBI_ADDR;
	plan->regs.rip = entry;
	plan->regs.rflags = X86_FIXED1;

	memset(s, 0, sizeof(*s));
	s->seg[SEG_CS] = flat_segment(0x10, 0xb); /* execute/read, accessed */
	for (int r = SEG_ES; r <= SEG_GS; r++)
		if (r != SEG_CS)
			s->seg[r] = flat_segment(0x18, 0x3); /* read/write, accessed */
	s->seg[SEG_LDTR].ar = AR_UNUSABLE;
	/* VM entry wants a usable busy TSS in TR (SDM vol. 3C 26.3.1.2): a 32-bit one at 0. */
	s->seg[SEG_TR] = (struct x86_segment){ .limit = 0x67, .ar = 0xb | AR_P };
	s->gdt.limit = 0xffff; /* power-up values (SDM vol. 3A 9.1.1) */
	s->idt.limit = 0xffff;
	s->cr0 = CR0_PE | CR0_ET;
	s->apic_base = 0xfee00900; /* power-up value: enabled, BSP (SDM vol. 3A 10.4.4) */
}

int multiboot_load(const u8 *image, size_t size, const char *cmdline, u64 mem_size,
		   struct boot_plan *plan)
{
	struct mb_header h;
	size_t header_off = 0;
	u32 entry = 0;
	int err;

	memset(plan, 0, offsetof(struct boot_plan, mbi));
	plan->error[0] = '\0';
	if (!size)
		return plan_fail(plan, -EINVAL, "the file is empty");
	err = multiboot_find_header(image, size, plan, &h, &header_off);
	if (err)
		return err;
	if (h.flags & MB_FLAG_VIDEO_MODE)
		return plan_fail(plan, -EINVAL,
				 "the multiboot header requests a video mode (flags "
				 "bit 2) and tollbooth has no display: clear bit 2 in the header");
	if (h.flags & 0xffff & ~MB_FLAGS_SUPPORTED)
		return plan_fail(plan, -EINVAL,
				 "the multiboot header requires features tollbooth "
				 "does not know (flags %#x): only bits 0, 1 and 16 are supported",
				 (unsigned)(h.flags & 0xffff & ~MB_FLAGS_SUPPORTED));
	/* With bit 16 the address fields win, even in an ELF file (as GRUB does). */
	if (h.flags & MB_FLAG_AOUT_KLUDGE)
		err = multiboot_plan_aout(image, size, &h, header_off, plan, &entry);
	else
		err = multiboot_plan_elf(image, size, plan, &entry);
	if (err)
		return err;
	err = multiboot_check_segments(plan, mem_size, entry);
	if (err)
		return err;
	err = multiboot_build_info(plan, cmdline, mem_size);
	if (err)
		return err;
	multiboot_set_state(plan, entry);
	return 0;
}
