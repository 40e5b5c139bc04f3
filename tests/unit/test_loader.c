// SPDX-License-Identifier: MIT
/* Multiboot v1 loader: valid ELF32 and a.out-kludge images, and every kind of bad input. */
#include <elf.h>
#include <errno.h>
#include <string.h>

#include "check.h"
#include "loader/loader.h"

#define MB_MAGIC 0x1badb002
#define MEM	 (128ull << 20)
#define SEG_OFF	 0x100 /* file offset of the loadable segment in the test ELF files */

static u8 image[16384];
static struct boot_plan plan;

static void put32(u8 *p, u32 v)
{
	memcpy(p, &v, 4);
}

static u32 get32(const u8 *p)
{
	u32 v;

	memcpy(&v, p, 4);
	return v;
}

static void put_mb_header(u8 *p, u32 flags)
{
	put32(p, MB_MAGIC);
	put32(p + 4, flags);
	put32(p + 8, -(MB_MAGIC + flags));
}

/* An ELF32 file with one PT_LOAD segment at file offset SEG_OFF that starts with the header. */
static size_t make_elf(u32 paddr, u32 vaddr, u32 filesz, u32 memsz, u32 entry, u32 mb_flags)
{
	Elf32_Ehdr eh = {
		.e_type = ET_EXEC,
		.e_machine = EM_386,
		.e_version = EV_CURRENT,
		.e_entry = entry,
		.e_phoff = sizeof(Elf32_Ehdr),
		.e_ehsize = sizeof(Elf32_Ehdr),
		.e_phentsize = sizeof(Elf32_Phdr),
		.e_phnum = 1,
	};
	Elf32_Phdr ph = {
		.p_type = PT_LOAD,
		.p_offset = SEG_OFF,
		.p_vaddr = vaddr,
		.p_paddr = paddr,
		.p_filesz = filesz,
		.p_memsz = memsz,
		.p_flags = PF_R | PF_X,
	};

	memset(image, 0, sizeof(image));
	memcpy(eh.e_ident, ELFMAG, SELFMAG);
	eh.e_ident[EI_CLASS] = ELFCLASS32;
	eh.e_ident[EI_DATA] = ELFDATA2LSB;
	eh.e_ident[EI_VERSION] = EV_CURRENT;
	memcpy(image, &eh, sizeof(eh));
	memcpy(image + sizeof(eh), &ph, sizeof(ph));
	put_mb_header(image + SEG_OFF, mb_flags);
	return SEG_OFF + filesz;
}

/* A flat image with the a.out-kludge fields, header at file offset 0, loaded at 1M. */
static size_t make_aout(u32 header_addr, u32 load_addr, u32 load_end, u32 bss_end, u32 entry,
			size_t size)
{
	memset(image, 0, sizeof(image));
	put_mb_header(image, BIT(16));
	put32(image + 12, header_addr);
	put32(image + 16, load_addr);
	put32(image + 20, load_end);
	put32(image + 24, bss_end);
	put32(image + 28, entry);
	return size;
}

static int load(size_t size, const char *cmdline, u64 mem)
{
	return multiboot_load(image, size, cmdline, mem, &plan);
}

static void test_valid_elf(void)
{
	size_t size = make_elf(0x100000, 0x100000, 0x40, 0x2000, 0x100010, BIT(1));
	const struct x86_segment *cs = &plan.sregs.seg[SEG_CS];

	CHECK_EQ(load(size, "console=ttyS0", MEM), 0);
	CHECK_EQ(plan.nr_segments, 2);
	CHECK_EQ(plan.seg[0].gpa, 0x100000);
	CHECK(plan.seg[0].data == image + SEG_OFF);
	CHECK_EQ(plan.seg[0].filesz, 0x40);
	CHECK_EQ(plan.seg[0].memsz, 0x2000);
	/* Section 3.2 machine state. */
	CHECK_EQ(plan.regs.gpr[R_RAX], 0x2badb002);
	CHECK_EQ(plan.regs.gpr[R_RBX], MBI_ADDR);
	CHECK_EQ(plan.regs.rip, 0x100010);
	CHECK_EQ(plan.regs.rflags & (X86_IF | X86_VM), 0);
	CHECK_EQ(plan.sregs.cr0 & (CR0_PE | CR0_PG), CR0_PE);
	CHECK_EQ(cs->base, 0);
	CHECK_EQ(cs->limit, 0xffffffff);
	CHECK_EQ(AR_TYPE(cs->ar), 0xb);
	CHECK(cs->ar & AR_DB);
	CHECK(cs->ar & AR_P);
	for (int r = SEG_ES; r <= SEG_GS; r++) {
		if (r == SEG_CS)
			continue;
		CHECK_EQ(AR_TYPE(plan.sregs.seg[r].ar), 0x3);
		CHECK_EQ(plan.sregs.seg[r].limit, 0xffffffff);
	}
	CHECK_EQ(plan.sregs.efer, 0);
}

static void test_mbi(void)
{
	size_t size = make_elf(0x100000, 0x100000, 0x40, 0x40, 0x100000, 0);
	const u8 *mbi = plan.mbi, *mmap;

	CHECK_EQ(load(size, "hello world", 256ull << 20), 0);
	CHECK_EQ(plan.seg[1].gpa, MBI_ADDR);
	CHECK(plan.seg[1].data == plan.mbi);
	CHECK_EQ(get32(mbi), BIT(0) | BIT(2) | BIT(6) | BIT(9));
	CHECK_EQ(get32(mbi + 4), 640);
	CHECK_EQ(get32(mbi + 8), (256 << 10) - 1024);
	CHECK(!strcmp((const char *)mbi + get32(mbi + 16) - MBI_ADDR, "hello world"));
	CHECK(!strcmp((const char *)mbi + get32(mbi + 64) - MBI_ADDR, "tollbooth"));
	CHECK_EQ(get32(mbi + 44), 3 * 24);
	mmap = mbi + get32(mbi + 48) - MBI_ADDR;
	/* 640K RAM, the 0xa0000-0xfffff hole reserved, RAM from 1M to the end. */
	CHECK_EQ(get32(mmap), 20);
	CHECK_EQ(get32(mmap + 4), 0);
	CHECK_EQ(get32(mmap + 12), 0xa0000);
	CHECK_EQ(get32(mmap + 20), 1);
	CHECK_EQ(get32(mmap + 24 + 4), 0xa0000);
	CHECK_EQ(get32(mmap + 24 + 12), 0x60000);
	CHECK_EQ(get32(mmap + 24 + 20), 2);
	CHECK_EQ(get32(mmap + 48 + 4), 0x100000);
	CHECK_EQ(get32(mmap + 48 + 12), (256 << 20) - 0x100000);
	CHECK_EQ(get32(mmap + 48 + 20), 1);
}

/* Entry points are virtual; load addresses physical: a higher-half kernel starts at p_paddr. */
static void test_entry_translation(void)
{
	size_t size = make_elf(0x200000, 0xc0200000, 0x40, 0x40, 0xc0200020, 0);

	CHECK_EQ(load(size, "", MEM), 0);
	CHECK_EQ(plan.seg[0].gpa, 0x200000);
	CHECK_EQ(plan.regs.rip, 0x200020);
}

static void test_aout_kludge(void)
{
	size_t size = make_aout(0x100000, 0x100000, 0, 0x104000, 0x100020, 0x1000);

	CHECK_EQ(load(size, "", MEM), 0);
	CHECK_EQ(plan.seg[0].gpa, 0x100000);
	CHECK(plan.seg[0].data == image);
	CHECK_EQ(plan.seg[0].filesz, 0x1000);
	CHECK_EQ(plan.seg[0].memsz, 0x4000);
	CHECK_EQ(plan.regs.rip, 0x100020);

	/* Header 0x40 bytes into the image: the load starts 0x40 bytes before it in the file. */
	size = make_aout(0x100040, 0x100000, 0x100800, 0, 0x100000, 0x1000);
	CHECK_EQ(load(size, "", MEM), -EINVAL);
	CHECK(strstr(plan.error, "before the start of the file"));
}

/* A failed load: the expected errno and a message that names the problem. */
static void check_fails(int err, int want, const char *words)
{
	CHECK_EQ(err, want);
	if (!strstr(plan.error, words)) {
		check_failed++;
		fprintf(stderr, "FAIL: error \"%s\" lacks \"%s\"\n", plan.error, words);
	} else {
		check_passed++;
	}
}

static void test_bad_headers(void)
{
	size_t size;

	check_fails(load(0, "", MEM), -EINVAL, "empty");
	memset(image, 0x90, sizeof(image));
	check_fails(load(sizeof(image), "", MEM), -ENOEXEC, "no multiboot header");

	/* Past the first 8192 bytes the header does not count (spec 3.1.1). */
	memset(image, 0, sizeof(image));
	put_mb_header(image + 8192, 0);
	check_fails(load(sizeof(image), "", MEM), -ENOEXEC, "no multiboot header");

	/* Not 4-byte aligned. */
	memset(image, 0, sizeof(image));
	put_mb_header(image + 2, 0);
	check_fails(load(64, "", MEM), -ENOEXEC, "no multiboot header");

	/* A Linux bzImage is named for what it is (boot protocol: "HdrS" at 0x202). */
	memset(image, 0, sizeof(image));
	memcpy(image + 0x202, "HdrS", 4);
	check_fails(load(4096, "", MEM), -ENOEXEC, "a Linux bzImage");
	check_fails(load(0x205, "", MEM), -ENOEXEC, "no multiboot header");

	size = make_elf(0x100000, 0x100000, 0x40, 0x40, 0x100000, 0);
	put32(image + SEG_OFF + 8, 0x12345678);
	check_fails(load(size, "", MEM), -EINVAL, "bad checksum");

	size = make_elf(0x100000, 0x100000, 0x40, 0x40, 0x100000, BIT(2));
	check_fails(load(size, "", MEM), -EINVAL, "video mode");

	size = make_elf(0x100000, 0x100000, 0x40, 0x40, 0x100000, BIT(5));
	check_fails(load(size, "", MEM), -EINVAL, "flags 0x20");

	/* Optional bits 17-31 are ignored (spec 3.1.2). */
	size = make_elf(0x100000, 0x100000, 0x40, 0x40, 0x100000, BIT(20));
	CHECK_EQ(load(size, "", MEM), 0);
}

static void test_bad_elf(void)
{
	size_t size;

	size = make_elf(0x100000, 0x100000, 0x40, 0x40, 0x100000, 0);
	image[EI_CLASS] = ELFCLASS64;
	check_fails(load(size, "", MEM), -EINVAL, "ELF64");

	size = make_elf(0x100000, 0x100000, 0x40, 0x40, 0x100000, 0);
	image[0] = 0;
	check_fails(load(size, "", MEM), -EINVAL, "not an ELF file");

	/* The segment's bytes run past the end of the file. */
	size = make_elf(0x100000, 0x100000, 0x40, 0x40, 0x100000, 0);
	check_fails(load(size - 1, "", MEM), -EINVAL, "truncated");

	/* The program header table runs past the end of the file. */
	size = make_elf(0x100000, 0x100000, 0x40, 0x40, 0x100000, 0);
	put32(image + offsetof(Elf32_Ehdr, e_phoff), (u32)size);
	check_fails(load(size, "", MEM), -EINVAL, "truncated");

	size = make_elf(0x100000, 0x100000, 0x80, 0x40, 0x100000, 0);
	check_fails(load(size, "", MEM), -EINVAL, "p_filesz");

	size = make_elf(0x100000, 0x100000, 0x40, 0x40, 0x300000, 0);
	check_fails(load(size, "", MEM), -EINVAL, "entry point");
}

static void test_bad_placement(void)
{
	size_t size;

	size = make_elf(0x100000, 0x100000, 0x40, 0x800000, 0x100000, 0);
	check_fails(load(size, "", 4ull << 20), -E2BIG, "--mem 9M");

	size = make_elf(0x8800, 0x8800, 0x40, 0x40, 0x8800, 0);
	check_fails(load(size, "", MEM), -EINVAL, "multiboot information");

	/* 4 GiB wrap-around of a 32-bit segment must not pass the size check. */
	size = make_elf(0xfffff000, 0xfffff000, 0x40, 0x2000, 0xfffff000, 0);
	check_fails(load(size, "", MEM), -E2BIG, "does not fit");
}

static void test_bad_aout(void)
{
	size_t size;

	size = make_aout(0x100000, 0x100000, 0, 0x100800, 0x100000, 0x1000);
	check_fails(load(size, "", MEM), -EINVAL, "bss_end_addr");

	size = make_aout(0x100000, 0x100000, 0x102000, 0, 0x100000, 0x1000);
	check_fails(load(size, "", MEM), -EINVAL, "truncated");

	size = make_aout(0x100000, 0x100000, 0, 0, 0x100000, 0x1000);
	check_fails(load(20, "", MEM), -EINVAL, "truncated");

	size = make_aout(0x100000, 0x100000, 0x0f0000, 0, 0x100000, 0x1000);
	check_fails(load(size, "", MEM), -EINVAL, "load_end_addr");
}

static void test_cmdline_limit(void)
{
	static char cmdline[MBI_CMDLINE_MAX + 2];
	size_t size = make_elf(0x100000, 0x100000, 0x40, 0x40, 0x100000, 0);

	memset(cmdline, 'x', MBI_CMDLINE_MAX);
	CHECK_EQ(load(size, cmdline, MEM), 0);
	cmdline[MBI_CMDLINE_MAX] = 'x';
	check_fails(load(size, cmdline, MEM), -EINVAL, "--append");
}

int main(void)
{
	test_valid_elf();
	test_mbi();
	test_entry_translation();
	test_aout_kludge();
	test_bad_headers();
	test_bad_elf();
	test_bad_placement();
	test_bad_aout();
	test_cmdline_limit();
	return check_done("loader");
}
