// SPDX-License-Identifier: MIT
/*
 * Linux loaders: bzImage through the x86 boot protocol (Documentation/arch/x86/boot.rst) and
 * PVH ELF kernels (xen docs/misc/pvh.pandoc, start_info.h), on synthetic images: the plan's
 * segments, zero page / start_info, page tables and register state; every refusal; a boot of
 * each on the soft backend that checks the entry state from inside the guest; and, when the
 * machine has one, Debian's kernel (/boot/vmlinuz-*).
 */
#include <elf.h>
#include <errno.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "loader/loader.h"
#include "vmm/backend.h"
#include "soft/soft.h"
#include "vmm/vm.h"

#define MiB	    (1ull << 20)
#define MEM	    (64 * MiB)
#define HDRS	    0x53726448
#define SETUP_SECTS 1
#define KERNEL_SIZE 0x400 /* the protected-mode part of the synthetic bzImage */
#define RSDP	    0xf0000ull
#define AR_CODE64   0xa09b /* type 0xb, S, P, L, G (VMCS access-rights format) */
#define AR_CODE32   0xc09b /* type 0xb, S, P, D/B, G */
#define AR_DATA	    0xc093 /* type 0x3, S, P, D/B, G */

static u8 image[0x4000];
static u8 initrd[3 * 4096 + 5];
static u8 big_initrd[2 * MiB];
static struct boot_plan plan;
static struct e820_entry map[E820_MAX_ENTRIES + 1];
static struct boot_config cfg;

static void put16(u8 *p, u16 v)
{
	memcpy(p, &v, 2);
}

static void put32(u8 *p, u32 v)
{
	memcpy(p, &v, 4);
}

static void put64(u8 *p, u64 v)
{
	memcpy(p, &v, 8);
}

static u16 get16(const u8 *p)
{
	u16 v;

	memcpy(&v, p, 2);
	return v;
}

static u32 get32(const u8 *p)
{
	u32 v;

	memcpy(&v, p, 4);
	return v;
}

static u64 get64(const u8 *p)
{
	u64 v;

	memcpy(&v, p, 8);
	return v;
}

/* The plan's copy of guest-physical address gpa in the boot data. */
static const u8 *data_at(u64 gpa)
{
	return plan.linux_data + (gpa - LINUX_DATA_ADDR);
}

/* A PC memory map: 640 KiB of RAM, the legacy hole, RAM from 1 MiB to mem. */
static void config_pc(u64 mem, const char *cmdline)
{
	map[0] = (struct e820_entry){ 0, 0xa0000, E820_RAM };
	map[1] = (struct e820_entry){ 0xa0000, 0x60000, E820_RESERVED };
	map[2] = (struct e820_entry){ MiB, mem - MiB, E820_RAM };
	cfg = (struct boot_config){
		.cmdline = cmdline,
		.mem_size = mem,
		.e820 = map,
		.nr_e820 = 3,
		.rsdp_addr = RSDP,
		.initrd = initrd,
		.initrd_size = sizeof(initrd),
	};
	memset(initrd, 0x11, sizeof(initrd));
	initrd[0] = 0x5a;
	initrd[sizeof(initrd) - 1] = 0xa5;
}

/* ---- bzImage ---- */

struct bz {
	u16 version;
	u8 setup_sects, loadflags, relocatable;
	u16 xloadflags;
	u32 syssize, init_size, kernel_alignment, initrd_addr_max, cmdline_size;
	u64 pref_address;
};

static struct bz bz_default(void)
{
	return (struct bz){
		.version = 0x020f,
		.setup_sects = SETUP_SECTS,
		.loadflags = 0x01,  /* LOADED_HIGH */
		.xloadflags = 0x03, /* XLF_KERNEL_64 | XLF_CAN_BE_LOADED_ABOVE_4G */
		.relocatable = 1,
		.syssize = KERNEL_SIZE / 16,
		.init_size = 8 * MiB,
		.kernel_alignment = 2 * MiB,
		.initrd_addr_max = 0x7fffffff,
		.cmdline_size = 0x7ff,
		.pref_address = 16 * MiB,
	};
}

/*
 * A bzImage: the setup header (boot.rst "The Real-Mode Kernel Header"), the protected-mode part
 * of KERNEL_SIZE bytes with `code` at its offset 0x200 (startup_64), and 0x40 bytes of trailer
 * (where a signed kernel keeps its signature) that are not the kernel's.
 */
static size_t make_bzimage(const struct bz *b, const u8 *code, size_t code_len)
{
	size_t setup = ((b->setup_sects ? b->setup_sects : 4) + 1) * 512;

	memset(image, 0, sizeof(image));
	image[0x1f1] = b->setup_sects;
	put32(image + 0x1f4, b->syssize);
	put16(image + 0x1fa, 0xffff);
	put16(image + 0x1fe, 0xaa55);
	image[0x200] = 0xeb;
	image[0x201] = 0x6a; /* the header ends at 0x26c, as in Linux 6.1 */
	put32(image + 0x202, HDRS);
	put16(image + 0x206, b->version);
	image[0x211] = b->loadflags;
	put32(image + 0x214, 0x100000);
	put32(image + 0x22c, b->initrd_addr_max);
	put32(image + 0x230, b->kernel_alignment);
	image[0x234] = b->relocatable;
	image[0x235] = 21;
	put16(image + 0x236, b->xloadflags);
	put32(image + 0x238, b->cmdline_size);
	put64(image + 0x258, b->pref_address);
	put32(image + 0x260, b->init_size);
	memset(image + 0x26c, 0xcc, 0x10); /* setup code after the header: not copied */
	memset(image + setup, 0x90, KERNEL_SIZE);
	if (code)
		memcpy(image + setup + 0x200, code, code_len);
	memset(image + setup + KERNEL_SIZE, 0xee, 0x40);
	return setup + KERNEL_SIZE + 0x40;
}

static int load_bz(const struct bz *b)
{
	return linux_load(image, make_bzimage(b, NULL, 0), &cfg, &plan);
}

static void test_bzimage_plan(void)
{
	struct bz b = bz_default();
	size_t size = make_bzimage(&b, NULL, 0);
	const u8 *bp = data_at(LINUX_ZERO_PAGE);
	u64 initrd_at = (MEM - sizeof(initrd)) & ~0xfffull;
	const struct x86_sregs *s = &plan.sregs;

	config_pc(MEM, "console=ttyS0 root=/dev/vda");
	CHECK_EQ(linux_load(image, size, &cfg, &plan), 0);
	CHECK(!plan.error[0]);
	CHECK_EQ(plan.nr_segments, 3);
	/* The boot data, the protected-mode kernel at pref_address, the initrd at the top. */
	CHECK_EQ(plan.seg[0].gpa, LINUX_DATA_ADDR);
	CHECK(plan.seg[0].data == plan.linux_data);
	CHECK_EQ(plan.seg[0].filesz, LINUX_DATA_SIZE);
	CHECK_EQ(plan.seg[1].gpa, 16 * MiB);
	CHECK(plan.seg[1].data == image + 2 * 512);
	CHECK_EQ(plan.seg[1].filesz, KERNEL_SIZE); /* syssize * 16: not the trailer */
	CHECK_EQ(plan.seg[1].memsz, KERNEL_SIZE);
	CHECK_EQ(plan.seg[2].gpa, initrd_at);
	CHECK(plan.seg[2].data == initrd);
	CHECK_EQ(plan.seg[2].filesz, sizeof(initrd));

	/* The zero page: the setup header copied from 0x1f1 to 0x202 + image[0x201] only. */
	CHECK(!memcmp(bp + 0x1f1, image + 0x1f1, 0x210 - 0x1f1));
	CHECK_EQ(get32(bp + 0x202), HDRS);
	CHECK_EQ(get16(bp + 0x206), 0x020f);
	CHECK_EQ(get64(bp + 0x258), 16 * MiB);
	CHECK_EQ(bp[0x26c], 0);
	CHECK_EQ(bp[0x1ef], 0);	   /* sentinel: the kernel trusts the whole page */
	CHECK_EQ(bp[0x210], 0xff); /* type_of_loader: no assigned id */
	CHECK_EQ(bp[0x211], 0x01); /* LOADED_HIGH kept; no CAN_USE_HEAP: no real-mode code */
	CHECK_EQ(get32(bp + 0x214), 16 * MiB); /* code32_start: the load address */
	CHECK_EQ(get32(bp + 0x228), LINUX_CMDLINE);
	CHECK_EQ(get32(bp + 0x0c8), 0);
	CHECK(!strcmp((const char *)data_at(LINUX_CMDLINE), "console=ttyS0 root=/dev/vda"));
	CHECK_EQ(get32(bp + 0x218), initrd_at);
	CHECK_EQ(get32(bp + 0x21c), sizeof(initrd));
	CHECK_EQ(get32(bp + 0x0c0), 0);
	CHECK_EQ(get32(bp + 0x0c4), 0);
	CHECK_EQ(get64(bp + 0x070), RSDP);
	CHECK_EQ(bp[0x1e8], 3);
	CHECK(!memcmp(bp + 0x2d0, map, 3 * sizeof(struct e820_entry)));
	CHECK_EQ(get64(bp + 0x2d0 + 2 * 20 + 8), MEM - MiB);

	/* The identity map: 2 MiB pages over 4 GiB. */
	CHECK_EQ(get64(data_at(LINUX_PML4)), (LINUX_PML4 + 0x1000) | 3);
	CHECK_EQ(get64(data_at(LINUX_PML4) + 8), 0);
	CHECK_EQ(get64(data_at(LINUX_PML4 + 0x1000) + 3 * 8), (LINUX_PML4 + 0x5000) | 3);
	CHECK_EQ(get64(data_at(LINUX_PML4 + 0x1000) + 4 * 8), 0);
	CHECK_EQ(get64(data_at(LINUX_PML4 + 0x2000)), 0x83);
	CHECK_EQ(get64(data_at(LINUX_PML4 + 0x2000) + 8 * 8), 16 * MiB | 0x83);
	CHECK_EQ(get64(data_at(LINUX_PML4 + 0x5000) + 511 * 8), 0xffe00083);

	/* boot.rst "64-bit Boot Protocol". */
	CHECK_EQ(plan.regs.rip, 16 * MiB + 0x200);
	CHECK_EQ(plan.regs.gpr[R_RSI], LINUX_ZERO_PAGE);
	CHECK_EQ(plan.regs.rflags, 2);
	CHECK_EQ(s->cr0, CR0_PE | CR0_ET | CR0_PG);
	CHECK_EQ(s->cr3, LINUX_PML4);
	CHECK_EQ(s->cr4, CR4_PAE);
	CHECK_EQ(s->efer, EFER_LME | EFER_LMA);
	CHECK_EQ(s->seg[SEG_CS].sel, 0x10);
	CHECK_EQ(s->seg[SEG_CS].ar, AR_CODE64);
	CHECK_EQ(s->seg[SEG_CS].limit, 0xffffffff);
	for (int r = SEG_ES; r <= SEG_GS; r++) {
		if (r == SEG_CS)
			continue;
		CHECK_EQ(s->seg[r].sel, 0x18);
		CHECK_EQ(s->seg[r].ar, AR_DATA);
		CHECK_EQ(s->seg[r].base, 0);
		CHECK_EQ(s->seg[r].limit, 0xffffffff);
	}
	CHECK_EQ(s->gdt.base, LINUX_GDT);
	CHECK_EQ(s->gdt.limit, 0x1f);
	CHECK_EQ(get64(data_at(LINUX_GDT)), 0);
	CHECK_EQ(get64(data_at(LINUX_GDT) + 0x10), 0x00af9b000000ffffull);
	CHECK_EQ(get64(data_at(LINUX_GDT) + 0x18), 0x00cf93000000ffffull);
	CHECK_EQ(s->seg[SEG_TR].ar, 0x8b);
	CHECK_EQ(s->seg[SEG_LDTR].ar, AR_UNUSABLE);

	/* No initrd, no RSDP, no command line. */
	cfg.initrd = NULL;
	cfg.rsdp_addr = 0;
	cfg.cmdline = NULL;
	CHECK_EQ(linux_load(image, size, &cfg, &plan), 0);
	CHECK_EQ(plan.nr_segments, 2);
	CHECK_EQ(get32(bp + 0x218), 0);
	CHECK_EQ(get32(bp + 0x21c), 0);
	CHECK_EQ(get64(bp + 0x070), 0);
	CHECK_EQ(data_at(LINUX_CMDLINE)[0], 0);
	CHECK_EQ(get32(bp + 0x228), LINUX_CMDLINE);

	/* setup_sects 0 means 4 (boot.rst setup_sects). */
	config_pc(MEM, "");
	b.setup_sects = 0;
	size = make_bzimage(&b, NULL, 0);
	CHECK_EQ(linux_load(image, size, &cfg, &plan), 0);
	CHECK(plan.seg[1].data == image + 5 * 512);
}

static void test_bzimage_placement(void)
{
	struct bz b = bz_default();

	/* A hole under pref_address + init_size: a relocatable kernel moves up by alignment. */
	config_pc(MEM, "");
	map[2] = (struct e820_entry){ MiB, 18 * MiB, E820_RAM };
	map[3] = (struct e820_entry){ 19 * MiB, MiB, E820_RESERVED };
	map[4] = (struct e820_entry){ 20 * MiB, MEM - 20 * MiB, E820_RAM };
	cfg.nr_e820 = 5;
	CHECK_EQ(load_bz(&b), 0);
	CHECK_EQ(plan.seg[1].gpa, 20 * MiB);
	CHECK_EQ(plan.regs.rip, 20 * MiB + 0x200);
	CHECK_EQ(data_at(LINUX_ZERO_PAGE)[0x1e8], 5);
	/* A non-relocatable one runs at pref_address or not at all. */
	b.relocatable = 0;
	CHECK_EQ(load_bz(&b), -E2BIG);
	CHECK(!strcmp(plan.error, "the kernel needs init_size 0x800000 bytes of RAM from 0x1000000 "
				  "(pref_address) up, below 4 GiB, and the memory map has none "
				  "there"));
	config_pc(MEM, "");
	CHECK_EQ(load_bz(&b), 0);
	CHECK_EQ(plan.seg[1].gpa, 16 * MiB);

	/* RAM in abutting entries, in any order, is one run. */
	b = bz_default();
	config_pc(MEM, "");
	map[2] = (struct e820_entry){ 20 * MiB, MEM - 20 * MiB, E820_RAM };
	map[3] = (struct e820_entry){ MiB, 19 * MiB, E820_RAM };
	cfg.nr_e820 = 4;
	CHECK_EQ(load_bz(&b), 0);
	CHECK_EQ(plan.seg[1].gpa, 16 * MiB);

	/* pref_address below 1 MiB: a relocatable kernel goes to the first aligned MiB above. */
	config_pc(MEM, "");
	b.pref_address = 0x10000;
	CHECK_EQ(load_bz(&b), 0);
	CHECK_EQ(plan.seg[1].gpa, 2 * MiB);
	b.relocatable = 0;
	CHECK_EQ(load_bz(&b), -EINVAL);
	CHECK(strstr(plan.error, "pref_address 0x10000 of a non-relocatable kernel"));

	/* The initrd ends at initrd_addr_max + 1 when RAM goes higher. */
	b = bz_default();
	b.initrd_addr_max = 48 * MiB - 1;
	CHECK_EQ(load_bz(&b), 0);
	CHECK_EQ(plan.seg[2].gpa, (48 * MiB - sizeof(initrd)) & ~0xfffull);
	CHECK_EQ(get32(data_at(LINUX_ZERO_PAGE) + 0x218), plan.seg[2].gpa);

	/* No room above the kernel's init_size: the initrd goes below the kernel. */
	b = bz_default();
	b.init_size = 15 * MiB;
	config_pc(32 * MiB, "");
	cfg.initrd = big_initrd;
	cfg.initrd_size = sizeof(big_initrd);
	CHECK_EQ(load_bz(&b), 0);
	CHECK_EQ(plan.seg[2].gpa, 14 * MiB);
	/* Nor below it, over 1 MiB: no room at all. */
	b.pref_address = 2 * MiB;
	b.init_size = 29 * MiB;
	CHECK_EQ(load_bz(&b), -E2BIG);
	CHECK(!strcmp(plan.error,
		      "the initrd (2048 KiB) does not fit in RAM above the kernel: use --mem 33M "
		      "or more"));
	/* An initrd larger than what fits below initrd_addr_max. */
	b = bz_default();
	b.pref_address = 2 * MiB;
	b.initrd_addr_max = 11 * MiB - 1;
	config_pc(MEM, "");
	cfg.initrd = big_initrd;
	cfg.initrd_size = sizeof(big_initrd);
	CHECK_EQ(load_bz(&b), -E2BIG);
	CHECK(!strcmp(plan.error, "the initrd (2048 KiB) does not fit between the kernel's end "
				  "0xa00000 and initrd_addr_max + 1 (0xb00000): use a smaller "
				  "initrd"));
	/* It fits below the kernel when there is room there. */
	b.pref_address = 16 * MiB;
	b.initrd_addr_max = 25 * MiB - 1;
	CHECK_EQ(load_bz(&b), 0);
	CHECK_EQ(plan.seg[2].gpa, 14 * MiB);
}

static void test_bzimage_refusals(void)
{
	struct bz b = bz_default();
	char cmdline[0x900];
	size_t size;

	config_pc(MEM, "");
	/* Not a bzImage: the caller tries the next loader. */
	CHECK_EQ(linux_load(image, 0, &cfg, &plan), -ENOEXEC);
	CHECK(strstr(plan.error, "too short"));
	size = make_bzimage(&b, NULL, 0);
	CHECK_EQ(linux_load(image, 0x207, &cfg, &plan), -ENOEXEC);
	image[0x1fe] = 0;
	CHECK_EQ(linux_load(image, size, &cfg, &plan), -ENOEXEC);
	CHECK(strstr(plan.error, "not a Linux bzImage"));
	make_bzimage(&b, NULL, 0);
	image[0x205] = 'T';
	CHECK_EQ(linux_load(image, size, &cfg, &plan), -ENOEXEC);

	/* A truncated setup. */
	make_bzimage(&b, NULL, 0);
	CHECK_EQ(linux_load(image, 0x3ff, &cfg, &plan), -EINVAL);
	CHECK(!strcmp(plan.error, "truncated: the setup code (setup_sects 1) ends at 0x400, past "
				  "the end of the file (0x3ff bytes)"));
	/* A truncated protected-mode kernel: syssize says more than the file has. */
	CHECK_EQ(linux_load(image, 0x400 + KERNEL_SIZE - 1, &cfg, &plan), -EINVAL);
	CHECK(strstr(plan.error, "syssize says the protected-mode kernel has 0x400 bytes"));
	b.syssize = 0;
	CHECK_EQ(load_bz(&b), -EINVAL);
	/* Too short to hold startup_64 at 0x200. */
	b.syssize = 0x200 / 16;
	CHECK_EQ(load_bz(&b), -EINVAL);
	CHECK(strstr(plan.error, "too few to hold the 64-bit entry at offset 0x200"));
	b.syssize = 0x210 / 16;
	CHECK_EQ(load_bz(&b), 0);

	/* A protocol too old for the 64-bit entry. */
	b = bz_default();
	b.version = 0x020b;
	CHECK_EQ(load_bz(&b), -EINVAL);
	CHECK(strstr(plan.error, "boot protocol 2.11 is too old"));
	/* Not 64-bit capable. */
	b = bz_default();
	b.xloadflags = 0x02;
	CHECK_EQ(load_bz(&b), -EINVAL);
	CHECK(strstr(plan.error, "not a 64-bit kernel: xloadflags 0x2 lacks XLF_KERNEL_64"));
	/* A zImage. */
	b = bz_default();
	b.loadflags = 0;
	CHECK_EQ(load_bz(&b), -EINVAL);
	CHECK(strstr(plan.error, "zImage"));
	/* A header whose jump ends it before the 2.12 fields. */
	b = bz_default();
	size = make_bzimage(&b, NULL, 0);
	image[0x201] = 0x60;
	CHECK_EQ(linux_load(image, size, &cfg, &plan), -EINVAL);
	CHECK(strstr(plan.error, "corrupt setup header"));
	image[0x201] = 0x80;
	CHECK_EQ(linux_load(image, size, &cfg, &plan), -EINVAL);
	image[0x201] = 0x6a;
	image[0x200] = 0xe9;
	CHECK_EQ(linux_load(image, size, &cfg, &plan), -EINVAL);
	/* kernel_alignment must be a power of two. */
	b.kernel_alignment = 3 * MiB;
	CHECK_EQ(load_bz(&b), -EINVAL);
	CHECK(strstr(plan.error, "kernel_alignment 0x300000 is not a power of two"));
	b.kernel_alignment = 0;
	CHECK_EQ(load_bz(&b), -EINVAL);

	/* RAM too small for init_size. */
	b = bz_default();
	config_pc(20 * MiB, "");
	CHECK_EQ(load_bz(&b), -E2BIG);
	CHECK(!strcmp(plan.error, "the kernel needs init_size 0x800000 bytes of RAM from 0x1000000 "
				  "(pref_address) up, below 4 GiB; the guest's RAM is too small: "
				  "use --mem 25M or more"));

	/* The command line: cmdline_size characters at most, without the NUL. */
	config_pc(MEM, cmdline);
	memset(cmdline, 'a', 0x7ff);
	cmdline[0x7ff] = '\0';
	CHECK_EQ(load_bz(&b), 0);
	CHECK_EQ(strlen((const char *)data_at(LINUX_CMDLINE)), 0x7ff);
	cmdline[0x7ff] = 'a';
	cmdline[0x800] = '\0';
	CHECK_EQ(load_bz(&b), -EINVAL);
	CHECK(!strcmp(plan.error, "the command line (--append) is 2048 bytes; the kernel's "
				  "cmdline_size is 2047: shorten it"));
	b.cmdline_size = 0x10000;
	CHECK_EQ(load_bz(&b), 0);

	/* The memory map: present, at most 128 entries, RAM where the boot data goes. */
	config_pc(MEM, "");
	cfg.nr_e820 = 0;
	CHECK_EQ(load_bz(&b), -EINVAL);
	CHECK(strstr(plan.error, "no memory map"));
	for (unsigned i = 3; i <= E820_MAX_ENTRIES; i++)
		map[i] = (struct e820_entry){ 8ull << 30 | (u64)i << 12, 4096, E820_RESERVED };
	cfg.nr_e820 = E820_MAX_ENTRIES;
	CHECK_EQ(load_bz(&b), 0);
	CHECK_EQ(data_at(LINUX_ZERO_PAGE)[0x1e8], E820_MAX_ENTRIES);
	CHECK_EQ(get64(data_at(LINUX_ZERO_PAGE) + 0x2d0 + 127 * 20), 8ull << 30 | 127 << 12);
	cfg.nr_e820 = E820_MAX_ENTRIES + 1;
	CHECK_EQ(load_bz(&b), -EINVAL);
	CHECK(strstr(plan.error, "the memory map has 129 entries; Linux takes at most 128"));
	config_pc(MEM, "");
	map[0].type = E820_ACPI;
	CHECK_EQ(load_bz(&b), -EINVAL);
	CHECK(strstr(plan.error, "no RAM at 0x10000-0x18fff"));
	/* RAM entries past mem_size are not RAM the VMM backs. */
	config_pc(20 * MiB, "");
	map[2].size = MEM;
	CHECK_EQ(load_bz(&b), -E2BIG);
}

/*
 * startup_64 of the synthetic kernel, run on the soft backend: checks from inside the guest
 * what the 64-bit boot protocol promises it, then writes 0x21 (all good) or 0x13 to the
 * debug-exit port 0xf4.
 *	cmpl $0x53726448, 0x202(%rsi); jne fail	-- RSI: the zero page, its "HdrS"
 *	mov %cs, %eax; cmp $0x10, %ax; jne fail	-- __BOOT_CS
 *	mov %ds, %eax; cmp $0x18, %ax; jne fail	-- __BOOT_DS
 *	mov %ss, %eax; cmp $0x18, %ax; jne fail
 *	movabs $0x100000000, %rax; shr $32, %rax; cmp $1, %eax; jne fail -- 64-bit mode
 *	movl 0x228(%rsi), %eax; cmpb $'t', (%rax); jne fail	-- cmd_line_ptr, mapped
 *	movl 0x218(%rsi), %eax; cmpb $0x5a, (%rax); jne fail	-- the initrd's first byte
 *	movl 0x21c(%rsi), %ecx; cmpb $0xa5, -1(%rax,%rcx); jne fail -- and its last
 *	mov $0x21, %al; out %al, $0xf4; hlt
 * fail: mov $0x13, %al; out %al, $0xf4; hlt
 */
static const u8 startup_64[] = {
	0x81, 0xbe, 0x02, 0x02, 0x00, 0x00, 0x48, 0x64, 0x72, 0x53, 0x75, 0x53, 0x8c, 0xc8, 0x66,
	0x83, 0xf8, 0x10, 0x75, 0x4b, 0x8c, 0xd8, 0x66, 0x83, 0xf8, 0x18, 0x75, 0x43, 0x8c, 0xd0,
	0x66, 0x83, 0xf8, 0x18, 0x75, 0x3b, 0x48, 0xb8, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00,
	0x00, 0x48, 0xc1, 0xe8, 0x20, 0x83, 0xf8, 0x01, 0x75, 0x28, 0x8b, 0x86, 0x28, 0x02, 0x00,
	0x00, 0x80, 0x38, 0x74, 0x75, 0x1d, 0x8b, 0x86, 0x18, 0x02, 0x00, 0x00, 0x80, 0x38, 0x5a,
	0x75, 0x12, 0x8b, 0x8e, 0x1c, 0x02, 0x00, 0x00, 0x80, 0x7c, 0x08, 0xff, 0xa5, 0x75, 0x05,
	0xb0, 0x21, 0xe6, 0xf4, 0xf4, 0xb0, 0x13, 0xe6, 0xf4, 0xf4,
};

static void discard_tx(void *opaque, u8 byte)
{
}

static const struct uart_host no_console = { .tx = discard_tx };

/* Create a soft-backend VM of cfg.mem_size, apply the plan, run it: the exit status. */
static int boot_soft(void)
{
	static struct vm vm;
	int status = -1;

	memset(&vm, 0, sizeof(vm));
	CHECK_EQ(vm_create(&vm, cfg.mem_size, &backend_soft, &no_console), 0);
	CHECK_EQ(vm_load_boot_plan(&vm, &plan), 0);
	if (!vm.stop)
		status = vm_run(&vm);
	if (status != ((0x21 << 1) | 1) && status != ((0x22 << 1) | 1))
		fprintf(stderr, "boot_soft: status %d: %s\n", status, vm.stop_msg);
	vm_destroy(&vm);
	return status;
}

static void test_bzimage_boot_soft(void)
{
	struct bz b = bz_default();
	size_t size = make_bzimage(&b, startup_64, sizeof(startup_64));

	config_pc(MEM, "tollbooth");
	CHECK_EQ(linux_load(image, size, &cfg, &plan), 0);
	CHECK_EQ(boot_soft(), (0x21 << 1) | 1);
}

/*
 * Debian's kernel, when installed (apt-get install linux-image-amd64): what its header says,
 * and that its plan is what the protocol asks for.
 */
static void test_bzimage_real_kernel(void)
{
	glob_t g;
	FILE *f;
	u8 *k;
	long n;
	const u8 *bp = data_at(LINUX_ZERO_PAGE);

	if (glob("/boot/vmlinuz-*", 0, NULL, &g) || !g.gl_pathc) {
		printf("linux_loader: skip real kernel: no /boot/vmlinuz-* (apt-get install "
		       "linux-image-amd64 provides one)\n");
		return;
	}
	f = fopen(g.gl_pathv[0], "rb");
	CHECK(f);
	if (!f) {
		globfree(&g);
		return;
	}
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	k = malloc(n);
	CHECK(k && fread(k, 1, n, f) == (size_t)n);
	fclose(f);
	config_pc(256 * MiB, "console=ttyS0");
	CHECK_EQ(linux_load(k, n, &cfg, &plan), 0);
	printf("linux_loader: %s: protocol %u.%02u, xloadflags %#x, init_size %#x, "
	       "pref_address %#llx, kernel_alignment %#x, relocatable %u, initrd_addr_max %#x, "
	       "cmdline_size %#x, setup_sects %u, syssize %#x (file %#lx)\n",
	       g.gl_pathv[0], k[0x207], k[0x206], get16(k + 0x236), get32(k + 0x260),
	       (unsigned long long)get64(k + 0x258), get32(k + 0x230), k[0x234], get32(k + 0x22c),
	       get32(k + 0x238), k[0x1f1], get32(k + 0x1f4), n);
	CHECK(get16(k + 0x206) >= 0x020c);
	CHECK_EQ(plan.seg[1].gpa, get64(k + 0x258));
	CHECK_EQ(plan.regs.rip, get64(k + 0x258) + 0x200);
	CHECK(plan.seg[1].data == k + (k[0x1f1] + 1) * 512);
	CHECK_EQ(plan.seg[1].filesz, (u64)get32(k + 0x1f4) * 16);
	CHECK(plan.seg[2].gpa >= get64(k + 0x258) + get32(k + 0x260));
	CHECK(plan.seg[2].gpa + plan.seg[2].filesz <= 256 * MiB);
	CHECK_EQ(get32(bp + 0x202), HDRS);
	CHECK(!memcmp(bp + 0x1f1, k + 0x1f1, 0x210 - 0x1f1));
	CHECK(!memcmp(bp + 0x230, k + 0x230, 0x202 + k[0x201] - 0x230));
	free(k);
	globfree(&g);
}

/* ---- PVH ---- */

#define PVH_PADDR 0x100000ull
#define PVH_MEMSZ 0x3000
#define CODE_OFF  0x400
#define NOTES_OFF 0x200

struct pvh {
	bool is64;
	u64 entry;	     /* the PHYS32_ENTRY note's value */
	unsigned desc_size;  /* 4 or 8 */
	unsigned note_align; /* the PT_NOTE segment's p_align: 4 or 8 */
	u64 paddr, memsz;
	u16 machine;
};

static struct pvh pvh_default(bool is64)
{
	return (struct pvh){
		.is64 = is64,
		.entry = PVH_PADDR,
		.desc_size = is64 ? 8 : 4,
		.note_align = 4,
		.paddr = PVH_PADDR,
		.memsz = PVH_MEMSZ,
		.machine = is64 ? EM_X86_64 : EM_386,
	};
}

static size_t put_note(u8 *p, const char *name, u32 type, const void *desc, u32 descsz,
		       unsigned align)
{
	u32 namesz = strlen(name) + 1;
	size_t name_pad = (namesz + align - 1) & ~(align - 1);

	put32(p, namesz);
	put32(p + 4, descsz);
	put32(p + 8, type);
	memcpy(p + 12, name, namesz);
	memcpy(p + 12 + name_pad, desc, descsz);
	return 12 + name_pad + ((descsz + align - 1) & ~(align - 1));
}

/*
 * An ELF file with a PT_NOTE segment (a GNU build-id note, a Xen note of another type, then
 * the PHYS32_ENTRY note) and one PT_LOAD segment with `code` at its start, at a higher virtual
 * address (as vmlinux links) than its physical one.
 */
static size_t make_pvh(const struct pvh *p, const u8 *code, size_t code_len)
{
	u8 *n = image + NOTES_OFF;
	u8 build_id[20] = { 1, 2, 3 };
	u64 entry = p->entry;
	size_t notes;

	memset(image, 0, sizeof(image));
	notes = put_note(n, "GNU", NT_GNU_BUILD_ID, build_id, sizeof(build_id), p->note_align);
	notes += put_note(n + notes, "Xen", 6, "xen-3.0", 8, p->note_align);
	notes += put_note(n + notes, "Xen", 18, &entry, p->desc_size, p->note_align);
	if (p->is64) {
		Elf64_Ehdr eh = { .e_type = ET_EXEC,
				  .e_machine = p->machine,
				  .e_version = EV_CURRENT,
				  .e_entry = 0xffffffff81000000ull,
				  .e_phoff = sizeof(eh),
				  .e_ehsize = sizeof(eh),
				  .e_phentsize = sizeof(Elf64_Phdr),
				  .e_phnum = 2 };
		Elf64_Phdr ph[2] = {
			{ .p_type = PT_NOTE,
			  .p_offset = NOTES_OFF,
			  .p_vaddr = 0xffffffff81800000,
			  .p_paddr = 0x1800000,
			  .p_filesz = notes,
			  .p_memsz = notes,
			  .p_align = p->note_align },
			{ .p_type = PT_LOAD,
			  .p_offset = CODE_OFF,
			  .p_vaddr = 0xffffffff81000000,
			  .p_paddr = p->paddr,
			  .p_filesz = 0x100,
			  .p_memsz = p->memsz,
			  .p_flags = PF_R | PF_X,
			  .p_align = 0x200000 },
		};

		memcpy(eh.e_ident, ELFMAG, SELFMAG);
		eh.e_ident[EI_CLASS] = ELFCLASS64;
		eh.e_ident[EI_DATA] = ELFDATA2LSB;
		eh.e_ident[EI_VERSION] = EV_CURRENT;
		memcpy(image, &eh, sizeof(eh));
		memcpy(image + sizeof(eh), ph, sizeof(ph));
	} else {
		Elf32_Ehdr eh = { .e_type = ET_EXEC,
				  .e_machine = p->machine,
				  .e_version = EV_CURRENT,
				  .e_entry = 0xc1000000,
				  .e_phoff = sizeof(eh),
				  .e_ehsize = sizeof(eh),
				  .e_phentsize = sizeof(Elf32_Phdr),
				  .e_phnum = 2 };
		Elf32_Phdr ph[2] = {
			{ .p_type = PT_NOTE,
			  .p_offset = NOTES_OFF,
			  .p_vaddr = 0xc1800000,
			  .p_paddr = 0x1800000,
			  .p_filesz = notes,
			  .p_memsz = notes,
			  .p_align = p->note_align },
			{ .p_type = PT_LOAD,
			  .p_offset = CODE_OFF,
			  .p_vaddr = 0xc1000000,
			  .p_paddr = (u32)p->paddr,
			  .p_filesz = 0x100,
			  .p_memsz = (u32)p->memsz,
			  .p_flags = PF_R | PF_X,
			  .p_align = 0x1000 },
		};

		memcpy(eh.e_ident, ELFMAG, SELFMAG);
		eh.e_ident[EI_CLASS] = ELFCLASS32;
		eh.e_ident[EI_DATA] = ELFDATA2LSB;
		eh.e_ident[EI_VERSION] = EV_CURRENT;
		memcpy(image, &eh, sizeof(eh));
		memcpy(image + sizeof(eh), ph, sizeof(ph));
	}
	memset(image + CODE_OFF, 0x90, 0x100);
	if (code)
		memcpy(image + CODE_OFF, code, code_len);
	return CODE_OFF + 0x100;
}

static int load_pvh(const struct pvh *p)
{
	return pvh_load(image, make_pvh(p, NULL, 0), &cfg, &plan);
}

static void test_pvh_plan(void)
{
	const u8 *si = data_at(LINUX_ZERO_PAGE), *mm = data_at(LINUX_PVH_MEMMAP);
	const struct x86_sregs *s = &plan.sregs;
	u64 initrd_at = (MEM - sizeof(initrd)) & ~0xfffull;

	for (int is64 = 0; is64 <= 1; is64++) {
		struct pvh p = pvh_default(is64);

		config_pc(MEM, "console=hvc0");
		CHECK_EQ(load_pvh(&p), 0);
		CHECK(!plan.error[0]);
		CHECK_EQ(plan.nr_segments, 3);
		CHECK_EQ(plan.seg[0].gpa, LINUX_DATA_ADDR);
		CHECK_EQ(plan.seg[1].gpa, PVH_PADDR); /* p_paddr, not p_vaddr */
		CHECK(plan.seg[1].data == image + CODE_OFF);
		CHECK_EQ(plan.seg[1].filesz, 0x100);
		CHECK_EQ(plan.seg[1].memsz, PVH_MEMSZ);
		CHECK_EQ(plan.seg[2].gpa, initrd_at);

		/* start_info.h, version 1. */
		CHECK_EQ(get32(si), 0x336ec578);
		CHECK_EQ(get32(si + 4), 1);
		CHECK_EQ(get32(si + 8), 0);
		CHECK_EQ(get32(si + 12), 1);
		CHECK_EQ(get64(si + 16), LINUX_PVH_MODLIST);
		CHECK_EQ(get64(data_at(LINUX_PVH_MODLIST)), initrd_at);
		CHECK_EQ(get64(data_at(LINUX_PVH_MODLIST) + 8), sizeof(initrd));
		CHECK_EQ(get64(data_at(LINUX_PVH_MODLIST) + 16), 0);
		CHECK_EQ(get64(si + 24), LINUX_CMDLINE);
		CHECK(!strcmp((const char *)data_at(LINUX_CMDLINE), "console=hvc0"));
		CHECK_EQ(get64(si + 32), RSDP);
		CHECK_EQ(get64(si + 40), LINUX_PVH_MEMMAP);
		CHECK_EQ(get32(si + 48), 3);
		CHECK_EQ(get32(si + 52), 0);
		for (unsigned i = 0; i < 3; i++) {
			CHECK_EQ(get64(mm + i * 24), map[i].addr);
			CHECK_EQ(get64(mm + i * 24 + 8), map[i].size);
			CHECK_EQ(get32(mm + i * 24 + 16), map[i].type);
			CHECK_EQ(get32(mm + i * 24 + 20), 0);
		}

		/* pvh.pandoc machine state. */
		CHECK_EQ(plan.regs.rip, PVH_PADDR);
		CHECK_EQ(plan.regs.gpr[R_RBX], LINUX_ZERO_PAGE);
		CHECK_EQ(plan.regs.rflags, 2);
		CHECK_EQ(s->cr0, CR0_PE | CR0_ET);
		CHECK_EQ(s->cr4, 0);
		CHECK_EQ(s->efer, 0);
		CHECK_EQ(s->seg[SEG_CS].ar, AR_CODE32);
		CHECK_EQ(s->seg[SEG_CS].limit, 0xffffffff);
		CHECK_EQ(s->seg[SEG_DS].ar, AR_DATA);
		CHECK_EQ(s->seg[SEG_ES].ar, AR_DATA);
		CHECK_EQ(s->seg[SEG_SS].ar, AR_DATA);
		CHECK_EQ(s->seg[SEG_TR].base, 0);
		CHECK_EQ(s->seg[SEG_TR].limit, 0x67);
		CHECK_EQ(s->seg[SEG_TR].ar, 0x8b);
		CHECK_EQ(get64(data_at(LINUX_GDT) + 0x10), 0x00cf9b000000ffffull);
		CHECK_EQ(get64(data_at(LINUX_GDT) + 0x18), 0x00cf93000000ffffull);
		CHECK_EQ(get64(data_at(LINUX_PML4)), 0); /* no page tables */
	}

	/* No initrd: no module. */
	struct pvh p = pvh_default(true);

	config_pc(MEM, "");
	cfg.initrd = NULL;
	CHECK_EQ(load_pvh(&p), 0);
	CHECK_EQ(plan.nr_segments, 2);
	CHECK_EQ(get32(si + 12), 0);
	CHECK_EQ(get64(si + 16), 0);

	/* Notes padded to 8 in a segment aligned to 8; a 4-byte entry in an ELF64 file. */
	{
		config_pc(MEM, "");
		p.note_align = 8;
		p.entry = PVH_PADDR + 0x10;
		CHECK_EQ(load_pvh(&p), 0);
		CHECK_EQ(plan.regs.rip, PVH_PADDR + 0x10);
		p.note_align = 4;
		p.desc_size = 4;
		CHECK_EQ(load_pvh(&p), 0);
		CHECK_EQ(plan.regs.rip, PVH_PADDR + 0x10);
	}
}

static void test_pvh_refusals(void)
{
	struct pvh p = pvh_default(true);
	size_t size;

	config_pc(MEM, "");
	/* Not this format: the caller tries the next loader. */
	CHECK_EQ(pvh_load(image, 0, &cfg, &plan), -ENOEXEC);
	CHECK_EQ(linux_load(image, make_pvh(&p, NULL, 0), &cfg, &plan), -ENOEXEC);
	make_bzimage(&(struct bz){ 0 }, NULL, 0);
	CHECK_EQ(pvh_load(image, sizeof(image), &cfg, &plan), -ENOEXEC);
	CHECK(strstr(plan.error, "not an ELF file"));
	/* No PHYS32_ENTRY note: an entry of another size, or a note cut by the segment's end. */
	p.desc_size = 2;
	CHECK_EQ(load_pvh(&p), -ENOEXEC);
	CHECK(strstr(plan.error, "XEN_ELFNOTE_PHYS32_ENTRY"));
	p = pvh_default(false);
	size = make_pvh(&p, NULL, 0);
	put32(image + sizeof(Elf32_Ehdr) + offsetof(Elf32_Phdr, p_filesz),
	      get32(image + sizeof(Elf32_Ehdr) + offsetof(Elf32_Phdr, p_filesz)) - 1);
	CHECK_EQ(pvh_load(image, size, &cfg, &plan), -ENOEXEC);
	put32(image + sizeof(Elf32_Ehdr) + offsetof(Elf32_Phdr, p_type), PT_NULL);
	CHECK_EQ(pvh_load(image, size, &cfg, &plan), -ENOEXEC);

	/* Malformed ELF. */
	p = pvh_default(true);
	size = make_pvh(&p, NULL, 0);
	CHECK_EQ(pvh_load(image, 40, &cfg, &plan), -EINVAL);
	CHECK(strstr(plan.error, "the ELF header is cut short"));
	CHECK_EQ(pvh_load(image, sizeof(Elf64_Ehdr) + sizeof(Elf64_Phdr), &cfg, &plan), -EINVAL);
	CHECK(strstr(plan.error, "program headers end past the end of the file"));
	CHECK_EQ(pvh_load(image, CODE_OFF + 0xff, &cfg, &plan), -EINVAL);
	CHECK(strstr(plan.error, "truncated: ELF program header 1 needs file bytes up to 0x500"));
	image[EI_DATA] = ELFDATA2MSB;
	CHECK_EQ(pvh_load(image, size, &cfg, &plan), -EINVAL);
	p.machine = EM_AARCH64;
	CHECK_EQ(load_pvh(&p), -EINVAL);
	CHECK(strstr(plan.error, "not an x86 ELF file"));
	p = pvh_default(true);
	p.memsz = 0x80;
	CHECK_EQ(load_pvh(&p), -EINVAL);
	CHECK(strstr(plan.error, "p_filesz 0x100 exceeds p_memsz 0x80"));

	/* Entry and segments: in RAM, below 4 GiB, clear of the boot data, entry inside. */
	p = pvh_default(true);
	p.entry = 0x100000000ull;
	CHECK_EQ(load_pvh(&p), -EINVAL);
	CHECK(strstr(plan.error, "above 4 GiB"));
	p.entry = PVH_PADDR + PVH_MEMSZ;
	CHECK_EQ(load_pvh(&p), -EINVAL);
	CHECK(strstr(plan.error, "the PVH entry point 0x103000 is outside every loaded segment"));
	p = pvh_default(true);
	p.paddr = p.entry = 0xfffff000;
	CHECK_EQ(load_pvh(&p), -EINVAL);
	CHECK(strstr(plan.error, "ends above 4 GiB"));
	p.paddr = p.entry = MEM - 0x1000;
	CHECK_EQ(load_pvh(&p), -E2BIG);
	CHECK(strstr(plan.error, "ends past the guest's RAM: use --mem 65M or more"));
	p.paddr = p.entry = 0x9f000;
	CHECK_EQ(load_pvh(&p), -EINVAL);
	CHECK(strstr(plan.error, "at 0x9f000-0xa1fff is not all RAM in the memory map"));
	p.paddr = p.entry = LINUX_DATA_ADDR + 0x8000;
	CHECK_EQ(load_pvh(&p), -EINVAL);
	CHECK(strstr(plan.error, "overlaps the boot data at 0x10000-0x18fff"));

	/* The command line and the memory map, as for bzImages. */
	p = pvh_default(true);
	{
		static char cmdline[LINUX_CMDLINE_MAX + 2];

		memset(cmdline, 'a', LINUX_CMDLINE_MAX + 1);
		config_pc(MEM, cmdline);
		CHECK_EQ(load_pvh(&p), -EINVAL);
		CHECK(strstr(plan.error, "tollbooth passes at most 4095"));
	}
	config_pc(MEM, "");
	cfg.nr_e820 = E820_MAX_ENTRIES + 1;
	CHECK_EQ(load_pvh(&p), -EINVAL);
	/* An initrd that does not fit. */
	config_pc(4 * MiB, "");
	cfg.initrd = big_initrd;
	cfg.initrd_size = 3 * MiB;
	CHECK_EQ(load_pvh(&p), -E2BIG);
	CHECK(!strcmp(plan.error, "the initrd (3072 KiB) does not fit in RAM above the kernel: use "
				  "--mem 5M or more"));
}

/*
 * The PVH entry of the synthetic kernel, on the soft backend, writes 0x22 (all good) or 0x13:
 *	cmpl $0x336ec578, (%ebx); jne fail	-- EBX: start_info, its magic
 *	cmpl $1, 4(%ebx); jne fail		-- version 1
 *	mov %cr0, %eax; test $0x80000000, %eax; jnz fail -- paging off
 *	mov %cs, %eax; cmp $0x10, %ax; jne fail
 *	mov 24(%ebx), %eax; cmpb $'p', (%eax); jne fail	-- cmdline_paddr
 *	mov 16(%ebx), %eax; mov (%eax), %eax; cmpb $0x5a, (%eax); jne fail -- module 0: initrd
 *	cmpl $3, 48(%ebx); jne fail		-- memmap_entries
 *	mov $0x22, %al; out %al, $0xf4; hlt
 * fail: mov $0x13, %al; out %al, $0xf4; hlt
 */
static const u8 pvh_entry_32[] = {
	0x81, 0x3b, 0x78, 0xc5, 0x6e, 0x33, 0x75, 0x35, 0x83, 0x7b, 0x04, 0x01, 0x75, 0x2f,
	0x0f, 0x20, 0xc0, 0xa9, 0x00, 0x00, 0x00, 0x80, 0x75, 0x25, 0x8c, 0xc8, 0x66, 0x83,
	0xf8, 0x10, 0x75, 0x1d, 0x8b, 0x43, 0x18, 0x80, 0x38, 0x70, 0x75, 0x15, 0x8b, 0x43,
	0x10, 0x8b, 0x00, 0x80, 0x38, 0x5a, 0x75, 0x0b, 0x83, 0x7b, 0x30, 0x03, 0x75, 0x05,
	0xb0, 0x22, 0xe6, 0xf4, 0xf4, 0xb0, 0x13, 0xe6, 0xf4, 0xf4,
};

static void test_pvh_boot_soft(void)
{
	struct pvh p = pvh_default(false);
	size_t size = make_pvh(&p, pvh_entry_32, sizeof(pvh_entry_32));

	config_pc(MEM, "pvh");
	CHECK_EQ(pvh_load(image, size, &cfg, &plan), 0);
	CHECK_EQ(boot_soft(), (0x22 << 1) | 1);
}

int main(void)
{
	test_bzimage_plan();
	test_bzimage_placement();
	test_bzimage_refusals();
	test_bzimage_boot_soft();
	test_bzimage_real_kernel();
	test_pvh_plan();
	test_pvh_refusals();
	test_pvh_boot_soft();
	return check_done("linux_loader");
}
