// SPDX-License-Identifier: MIT
/*
 * PVH loader: Xen's x86/HVM direct boot ABI (xen docs/misc/pvh.pandoc, "pvh.pandoc" below) as
 * Linux implements it (arch/x86/platform/pvh/head.S and enlighten.c): an ELF kernel whose
 * XEN_ELFNOTE_PHYS32_ENTRY note gives a 32-bit entry point, PT_LOAD segments at their physical
 * addresses, and struct hvm_start_info (include/xen/interface/hvm/start_info.h, "start_info.h"
 * below) in EBX.
 */
#include <elf.h>
#include <errno.h>
#include <string.h>

#include "common/ranges.h"
#include "loader/internal.h"

#define XEN_ELFNOTE_PHYS32_ENTRY  18 /* xen/include/public/elfnote.h */
#define XEN_HVM_START_MAGIC_VALUE 0x336ec578
#define HVM_START_INFO_VERSION	  1 /* version 1 carries the memory map */

/* start_info.h: struct hvm_start_info, hvm_modlist_entry and hvm_memmap_table_entry. */
#define SI_MAGIC	  0
#define SI_VERSION	  4
#define SI_NR_MODULES	  12
#define SI_MODLIST_PADDR  16
#define SI_CMDLINE_PADDR  24
#define SI_RSDP_PADDR	  32
#define SI_MEMMAP_PADDR	  40
#define SI_MEMMAP_ENTRIES 48
#define MOD_PADDR	  0
#define MOD_SIZE	  8
#define MEMMAP_ENTRY_SIZE 24 /* addr 0, size 8, type 16, reserved 20 */

/* The fields of an ELF32 or ELF64 program header that matter here. */
struct pvh_phdr {
	u32 type;
	u64 offset, paddr, filesz, memsz, align;
};

struct pvh_elf {
	bool is64;
	u64 phoff;
	unsigned phnum, phentsize;
};

static int pvh_parse_ehdr(const u8 *image, size_t size, struct pvh_elf *elf, struct boot_plan *plan)
{
	u16 machine;

	if (size < EI_NIDENT || memcmp(image, ELFMAG, SELFMAG))
		return loader_fail(plan, -ENOEXEC, "not an ELF file, so not a PVH kernel");
	elf->is64 = image[EI_CLASS] == ELFCLASS64;
	if ((image[EI_CLASS] != ELFCLASS32 && !elf->is64) || image[EI_DATA] != ELFDATA2LSB)
		return loader_fail(plan, -EINVAL,
				   "not a little-endian ELF32 or ELF64 file (class %u, data %u)",
				   image[EI_CLASS], image[EI_DATA]);
	if (size < (elf->is64 ? sizeof(Elf64_Ehdr) : sizeof(Elf32_Ehdr)))
		return loader_fail(plan, -EINVAL,
				   "truncated: the ELF header is cut short (%zu bytes)", size);
	if (elf->is64) {
		Elf64_Ehdr eh;

		memcpy(&eh, image, sizeof(eh));
		machine = eh.e_machine;
		elf->phoff = eh.e_phoff;
		elf->phnum = eh.e_phnum;
		elf->phentsize = eh.e_phentsize;
	} else {
		Elf32_Ehdr eh;

		memcpy(&eh, image, sizeof(eh));
		machine = eh.e_machine;
		elf->phoff = eh.e_phoff;
		elf->phnum = eh.e_phnum;
		elf->phentsize = eh.e_phentsize;
	}
	if (machine != EM_X86_64 && machine != EM_386)
		return loader_fail(plan, -EINVAL, "not an x86 ELF file (machine %u)", machine);
	if (elf->phnum && elf->phentsize < (elf->is64 ? sizeof(Elf64_Phdr) : sizeof(Elf32_Phdr)))
		return loader_fail(plan, -EINVAL, "ELF program header size %u is too small",
				   elf->phentsize);
	if (elf->phoff > size || (u64)elf->phnum * elf->phentsize > size - elf->phoff)
		return loader_fail(
			plan, -EINVAL,
			"truncated: the ELF program headers end past the end of the file "
			"(%#zx bytes)",
			size);
	return 0;
}

static struct pvh_phdr pvh_phdr(const u8 *image, const struct pvh_elf *elf, unsigned i)
{
	const u8 *p = image + elf->phoff + (u64)i * elf->phentsize;

	if (elf->is64) {
		Elf64_Phdr ph;

		memcpy(&ph, p, sizeof(ph));
		return (struct pvh_phdr){ .type = ph.p_type,
					  .offset = ph.p_offset,
					  .paddr = ph.p_paddr,
					  .filesz = ph.p_filesz,
					  .memsz = ph.p_memsz,
					  .align = ph.p_align };
	} else {
		Elf32_Phdr ph;

		memcpy(&ph, p, sizeof(ph));
		return (struct pvh_phdr){ .type = ph.p_type,
					  .offset = ph.p_offset,
					  .paddr = ph.p_paddr,
					  .filesz = ph.p_filesz,
					  .memsz = ph.p_memsz,
					  .align = ph.p_align };
	}
}

/*
 * pvh.pandoc: the note's presence says the kernel supports the ABI. ELF notes (gABI "Note
 * Section"): namesz, descsz, type, then the name and the descriptor, each padded to 4 bytes (to
 * 8 in a segment aligned to 8, as binutils reads them). The descriptor is the entry's physical
 * address: 8 bytes in 64-bit Linux 6.1 (_ASM_PTR; QEMU reads it by ELF class), 4 bytes in later
 * kernels and in Xen (.long): its size tells which.
 */
static bool pvh_find_entry(const u8 *image, size_t size, const struct pvh_elf *elf, u64 *entry)
{
	for (unsigned i = 0; i < elf->phnum; i++) {
		struct pvh_phdr ph = pvh_phdr(image, elf, i);
		u64 pad = ph.align == 8 ? 8 : 4, pos, end;

		if (ph.type != PT_NOTE || ph.offset > size || ph.filesz > size - ph.offset)
			continue;
		end = ph.offset + ph.filesz;
		for (pos = ph.offset; end - pos >= 12;) {
			u32 namesz = get32(image + pos), descsz = get32(image + pos + 4);
			u32 type = get32(image + pos + 8);
			u64 name = pos + 12, desc = name + ((namesz + pad - 1) & ~(pad - 1));

			if (desc > end || descsz > end - desc)
				break;
			if (namesz == 4 && !memcmp(image + name, "Xen", 4) &&
			    type == XEN_ELFNOTE_PHYS32_ENTRY && (descsz == 4 || descsz == 8)) {
				*entry = descsz == 4 ? get32(image + desc) : get64(image + desc);
				return true;
			}
			pos = desc + ((descsz + pad - 1) & ~(pad - 1));
			if (pos > end)
				break;
		}
	}
	return false;
}

/*
 * PT_LOAD segments at p_paddr, in RAM below 4 GiB (the entry runs with paging off), clear of the
 * boot data and of each other; the entry inside one of them.
 */
static int pvh_add_segments(const u8 *image, size_t size, const struct pvh_elf *elf,
			    const struct boot_config *cfg, u64 entry, struct boot_plan *plan)
{
	bool entry_loaded = false;
	int err, j;

	for (unsigned i = 0; i < elf->phnum; i++) {
		struct pvh_phdr ph = pvh_phdr(image, elf, i);

		if (ph.type != PT_LOAD || !ph.memsz)
			continue;
		if (ph.filesz > ph.memsz)
			return loader_fail(plan, -EINVAL,
					   "ELF program header %u: p_filesz %#llx exceeds p_memsz "
					   "%#llx",
					   i, (unsigned long long)ph.filesz,
					   (unsigned long long)ph.memsz);
		if (ph.offset > size || ph.filesz > size - ph.offset)
			return loader_fail(
				plan, -EINVAL,
				"truncated: ELF program header %u needs file bytes up to "
				"%#llx, the file has %#zx",
				i, (unsigned long long)(ph.offset + ph.filesz), size);
		if (ph.paddr >= SZ_4G || ph.memsz > SZ_4G - ph.paddr)
			return loader_fail(
				plan, -EINVAL,
				"ELF segment %u (physical %#llx, %#llx bytes) ends above "
				"4 GiB, out of reach of the PVH entry's 32-bit mode",
				i, (unsigned long long)ph.paddr, (unsigned long long)ph.memsz);
		if (ph.paddr + ph.memsz > cfg->mem_size)
			return loader_fail(
				plan, -E2BIG,
				"ELF segment %u at %#llx-%#llx ends past the guest's RAM: "
				"use --mem %lluM or more",
				i, (unsigned long long)ph.paddr,
				(unsigned long long)(ph.paddr + ph.memsz - 1),
				(unsigned long long)((ph.paddr + ph.memsz + SZ_1M - 1) >> 20));
		if (!loader_ram_covers(cfg, ph.paddr, ph.paddr + ph.memsz))
			return loader_fail(
				plan, -EINVAL,
				"ELF segment %u at %#llx-%#llx is not all RAM in the memory "
				"map: link the kernel elsewhere",
				i, (unsigned long long)ph.paddr,
				(unsigned long long)(ph.paddr + ph.memsz - 1));
		j = ranges_find_overlap(RANGE_ARRAY(plan->seg, plan->nr_segments, gpa, memsz),
					ph.paddr, ph.memsz);
		if (j >= 0)
			return loader_fail(plan, -EINVAL,
					   "ELF segment %u at %#llx-%#llx overlaps %s at %#llx-%#llx", i,
					   (unsigned long long)ph.paddr,
					   (unsigned long long)(ph.paddr + ph.memsz - 1),
					   j ? "another segment" : "the boot data",
					   (unsigned long long)plan->seg[j].gpa,
					   (unsigned long long)(plan->seg[j].gpa + plan->seg[j].memsz - 1));
		if (entry - ph.paddr < ph.memsz)
			entry_loaded = true;
		err = loader_add_segment(plan, ph.paddr, image + ph.offset, ph.filesz, ph.memsz);
		if (err)
			return err;
	}
	if (!entry_loaded)
		return loader_fail(plan, -EINVAL,
				   "the PVH entry point %#llx is outside every loaded segment",
				   (unsigned long long)entry);
	return 0;
}

/*
 * start_info.h: version 1 with the memory map (Linux refuses a version 0 start_info outside
 * Xen: enlighten.c init_pvh_bootparams), the initrd as the first module ("The first module is
 * always ramdisk"), the command line, the RSDP. Flags stay 0: no SIF_PRIVILEGED or
 * SIF_INITDOMAIN, this is no Xen domain.
 */
static void pvh_fill_start_info(const struct boot_config *cfg, struct boot_plan *plan, u64 initrd)
{
	u8 *si = LINUX_DATA(plan, LINUX_ZERO_PAGE);
	u8 *map = LINUX_DATA(plan, LINUX_PVH_MEMMAP);

	put32(si + SI_MAGIC, XEN_HVM_START_MAGIC_VALUE);
	put32(si + SI_VERSION, HVM_START_INFO_VERSION);
	if (initrd) {
		u8 *mod = LINUX_DATA(plan, LINUX_PVH_MODLIST);

		put32(si + SI_NR_MODULES, 1);
		put64(si + SI_MODLIST_PADDR, LINUX_PVH_MODLIST);
		put64(mod + MOD_PADDR, initrd);
		put64(mod + MOD_SIZE, cfg->initrd_size);
	}
	put64(si + SI_CMDLINE_PADDR, LINUX_CMDLINE);
	put64(si + SI_RSDP_PADDR, cfg->rsdp_addr);
	put64(si + SI_MEMMAP_PADDR, LINUX_PVH_MEMMAP);
	put32(si + SI_MEMMAP_ENTRIES, cfg->nr_e820);
	/* The memory map's types are the ACPI address range types (start_info.h), as E820's. */
	for (unsigned i = 0; i < cfg->nr_e820; i++) {
		put64(map + i * MEMMAP_ENTRY_SIZE, cfg->e820[i].addr);
		put64(map + i * MEMMAP_ENTRY_SIZE + 8, cfg->e820[i].size);
		put32(map + i * MEMMAP_ENTRY_SIZE + 16, cfg->e820[i].type);
	}
}

/*
 * pvh.pandoc machine state: EBX = start_info; CR0.PE set, the other writable bits clear (ET is
 * fixed to 1 on every processor since the P6, SDM vol. 3A 2.5); CR4 0; CS a flat 32-bit
 * execute/read segment, DS, ES (and here SS, FS, GS, which Linux's head.S reloads) flat
 * read/write, selectors unspecified: the boot GDT's; TR a busy 32-bit TSS at 0 with limit 0x67;
 * EFLAGS VM, IF and TF clear. Paging is off, EFER 0.
 */
static void pvh_set_state(struct boot_plan *plan, u64 entry)
{
	loader_set_segments(plan,
			    loader_flat_segment(LINUX_BOOT_CS, 0xb | AR_S | AR_P | AR_DB | AR_G),
			    loader_flat_segment(LINUX_BOOT_DS, 0x3 | AR_S | AR_P | AR_DB | AR_G));
	plan->sregs.cr0 = CR0_PE | CR0_ET;
	memset(&plan->regs, 0, sizeof(plan->regs));
	plan->regs.gpr[R_RBX] = LINUX_ZERO_PAGE;
	plan->regs.rip = entry;
	plan->regs.rflags = X86_FIXED1;
}

int pvh_load(const u8 *image, size_t size, const struct boot_config *cfg, struct boot_plan *plan)
{
	struct pvh_elf elf = { 0 };
	u64 entry, initrd;
	int err;

	memset(plan, 0, offsetof(struct boot_plan, mbi));
	plan->error[0] = '\0';
	err = pvh_parse_ehdr(image, size, &elf, plan);
	if (err)
		return err;
	if (!pvh_find_entry(image, size, &elf, &entry))
		return loader_fail(
			plan, -ENOEXEC,
			"an ELF file without a PVH entry note (Xen, "
			"XEN_ELFNOTE_PHYS32_ENTRY): build Linux with CONFIG_PVH, or boot "
			"its bzImage");
	if (entry >= SZ_4G)
		return loader_fail(plan, -EINVAL,
				   "the PVH entry point %#llx is above 4 GiB: it must be a 32-bit "
				   "physical address",
				   (unsigned long long)entry);
	err = loader_begin(cfg, LINUX_CMDLINE_MAX, "tollbooth passes at most", plan);
	if (err)
		return err;
	err = pvh_add_segments(image, size, &elf, cfg, entry, plan);
	if (err)
		return err;
	/* Linux copies the module's paddr into the 32-bit ramdisk_image (enlighten.c). */
	err = loader_place_initrd(cfg, plan, SZ_4G, "4 GiB", 0, 0, &initrd);
	if (err)
		return err;
	pvh_fill_start_info(cfg, plan, initrd);
	pvh_set_state(plan, entry);
	return 0;
}
