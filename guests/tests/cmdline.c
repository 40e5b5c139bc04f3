// SPDX-License-Identifier: MIT
/*
 * cmdline: reads the multiboot information (spec 3.3): flags, mem_lower/mem_upper, the
 * command line (--append / -append) and the BIOS-style memory map, and prints them.  Checks
 * that the command line contains "tollbooth-cmdline-test" (run with
 * --append "tollbooth-cmdline-test"), that the map has a usable region covering this image
 * at 1 MiB and that mem_upper agrees with it.
 */
#include "lib.h"

struct __attribute__((packed)) mmap_entry {
	u32 size;
	u64 addr, len;
	u32 type;
};

static bool contains(const char *s, const char *w)
{
	size_t n = strlen(w);
	for (; *s; s++)
		if (!memcmp(s, w, n))
			return true;
	return false;
}

int main(void)
{
	const struct mb_info *mb = (const struct mb_info *)mb_info;
	extern char __bss_end[];

	check(mb_magic == MB_BOOT_MAGIC, "EAX = 0x2BADB002");
	printf("multiboot info at %#lx, flags %#x\n", mb_info, mb->flags);
	check(mb->flags & BIT(0), "flags bit 0: mem_lower/mem_upper valid");
	printf("mem_lower %u KiB, mem_upper %u KiB\n", mb->mem_lower, mb->mem_upper);
	check(mb->mem_lower <= 640 && mb->mem_upper >= ((u64)__bss_end >> 10) - 1024,
	      "mem_lower <= 640 KiB, mem_upper covers the image");
	if (check(mb->flags & BIT(2), "flags bit 2: command line present")) {
		const char *cmd = (const char *)(ulong)mb->cmdline;
		printf("cmdline \"%s\"\n", cmd);
		check(contains(cmd, "tollbooth-cmdline-test"), "cmdline contains tollbooth-cmdline-test");
	}
	if (check(mb->flags & BIT(6), "flags bit 6: memory map present")) {
		u64 usable = 0;
		bool covers = false;
		for (u32 off = 0; off < mb->mmap_length;) {
			const struct mmap_entry *e = (const void *)(ulong)(mb->mmap_addr + off);
			printf("  mmap %#014llx-%#014llx type %u\n", (unsigned long long)e->addr,
			       (unsigned long long)(e->addr + e->len - 1), e->type);
			if (e->type == 1) {
				usable += e->len;
				if (e->addr <= 0x100000 && e->addr + e->len >= (u64)__bss_end)
					covers = true;
			}
			off += e->size + 4;
		}
		check(covers, "a usable (type 1) region covers the image at 1 MiB");
		check(usable >= (u64)mb->mem_upper << 10, "usable memory >= mem_upper (%llu KiB)",
		      (unsigned long long)(usable >> 10));
	}
	return report();
}
