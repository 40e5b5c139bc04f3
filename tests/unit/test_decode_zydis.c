// SPDX-License-Identifier: MIT
/*
 * Instruction lengths from x86_decode() against Zydis, the oracle (issue 2).
 *
 * 1. Real code: the .text sections of a fixed list of ELF64 x86-64 programs from /usr/bin that a
 *    fresh Debian 12 with our build dependencies has. Each .text is swept linearly in 64-bit mode;
 *    where Zydis decodes an instruction our length must equal its length, and the sweep advances
 *    by Zydis's length; where Zydis says invalid (data, padding, a truncated tail) the sweep skips
 *    one byte without comparing. A .text larger than TEXT_CAP is sampled in TEXT_CHUNKS evenly
 *    spaced windows (a sweep that starts mid-instruction resynchronizes within a few bytes).
 * 2. Random bytes in 32-bit mode (IA-32e compatibility mode, CS.D=1) and in 64-bit mode:
 *    FUZZ_COUNT 15-byte buffers each, from a fixed seed; where Zydis decodes, lengths must agree.
 *
 * Zydis 4.0 decodes some Knights Corner (KNC) VEX encodings, such as JKNZD (c5 xx 85 ...), even
 * with its KNC mode off; no x86-64 CPU runs them (they are #UD there), so they count as invalid.
 *
 * One CHECK per program and one for the fuzz pass. Disagreements are printed (bytes, Zydis's
 * disassembly, both lengths): the first MAX_PRINT in full, then a table by Zydis mnemonic with one
 * example each, so the decoder's author sees at a glance which opcode families are off.
 */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <Zydis/Zydis.h>

#include "check.h"
#include "cpu/internal.h"

#define MIN_PROGRAMS   20
#define TEXT_CAP       (1u << 20)
#define TEXT_CHUNKS    16
#define FUZZ_COUNT     100000
#define FUZZ_SEED      0x7011b007u
#define MAX_PRINT      20 /* mismatches printed in full per pass */
#define MAX_PRINT_EACH 4  /* and per program, so the list spans several programs */
#define MAX_INSN       15

/* Packages: coreutils, bash, make, binutils, tar, sed, grep, findutils, gzip, xz-utils, bzip2,
   perl-base, dpkg, diffutils, gcc -- all on Debian 12 once build-essential is installed. */
static const char *const programs[] = {
	"bash", "ls",	   "cp",   "mv", "cat",	    "sort", "date",  "du",   "stat", "tr",
	"make", "objdump", "ld",   "as", "readelf", "nm",   "strip", "tar",  "sed",  "grep",
	"find", "xargs",   "gzip", "xz", "bzip2",   "perl", "dpkg",  "diff", "gcc",
};

struct example {
	u8 bytes[MAX_INSN];
	u8 zlen;
	int ours;
	u64 count;
	const char *where;
};

static ZydisFormatter formatter;
static unsigned printed, printed_here;
static struct example by_mnemonic[ZYDIS_MNEMONIC_MAX_VALUE + 1];

static void format_bytes(char *out, const u8 *p, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		out += sprintf(out, "%s%02x", i ? " " : "", p[i]);
}

static void record_mismatch(const ZydisDecoder *dec, const char *where, u64 addr, const u8 *p,
			    size_t avail, unsigned zlen, int ours)
{
	ZydisDecodedInstruction insn;
	ZydisDecodedOperand ops[ZYDIS_MAX_OPERAND_COUNT];
	char text[256] = "?", hex[3 * MAX_INSN + 1];
	unsigned show = avail < MAX_INSN ? (unsigned)avail : MAX_INSN;

	memset(&insn, 0, sizeof(insn));
	if (ZYAN_SUCCESS(ZydisDecoderDecodeFull(dec, p, avail, &insn, ops)))
		ZydisFormatterFormatInstruction(&formatter, &insn, ops, insn.operand_count_visible,
						text, sizeof(text), addr, NULL);
	if (printed < MAX_PRINT && printed_here < MAX_PRINT_EACH) {
		format_bytes(hex, p, show);
		printf("  mismatch %s+%#" PRIx64 ": %-44s zydis %u, ours %d: %s\n", where, addr,
		       hex, zlen, ours, text);
		printed++;
		printed_here++;
	}
	struct example *e =
		&by_mnemonic[insn.mnemonic <= ZYDIS_MNEMONIC_MAX_VALUE ? insn.mnemonic
								       : ZYDIS_MNEMONIC_INVALID];
	if (!e->count++) {
		memcpy(e->bytes, p, show);
		e->zlen = zlen;
		e->ours = ours;
		e->where = where;
	}
}

static int cmp_count_desc(const void *a, const void *b)
{
	const struct example *x = *(const struct example *const *)a;
	const struct example *y = *(const struct example *const *)b;
	return x->count < y->count ? 1 : x->count > y->count ? -1 : 0;
}

/* The mismatch table by mnemonic, most frequent first; resets it for the next pass. */
static void print_mismatch_table(const char *title)
{
	static const struct example *order[ZYDIS_MNEMONIC_MAX_VALUE + 1];
	unsigned n = 0;

	for (unsigned m = 0; m <= ZYDIS_MNEMONIC_MAX_VALUE; m++)
		if (by_mnemonic[m].count)
			order[n++] = &by_mnemonic[m];
	if (n) {
		qsort(order, n, sizeof(order[0]), cmp_count_desc);
		printf("  %s mismatches by Zydis mnemonic (count, example bytes, zydis/ours length):\n",
		       title);
		for (unsigned i = 0; i < n; i++) {
			const struct example *e = order[i];
			char hex[3 * MAX_INSN + 1];
			format_bytes(hex, e->bytes, MAX_INSN);
			printf("    %-16s %8" PRIu64 "  %-44s %u/%d  (%s)\n",
			       ZydisMnemonicGetString((ZydisMnemonic)(e - by_mnemonic)), e->count,
			       hex, e->zlen, e->ours, e->where);
		}
	}
	memset(by_mnemonic, 0, sizeof(by_mnemonic));
	printed = 0;
}

struct sweep {
	u64 insns, skipped, mismatches;
};

/* Zydis's length for the instruction at p, or 0 when it is not a valid x86-64 encoding. */
static unsigned oracle_length(const ZydisDecoder *dec, const u8 *p, size_t avail)
{
	ZydisDecodedInstruction insn;

	if (!ZYAN_SUCCESS(ZydisDecoderDecodeInstruction(dec, NULL, p, avail, &insn)))
		return 0;
	switch (insn.meta.isa_ext) {
	case ZYDIS_ISA_EXT_KNC:
	case ZYDIS_ISA_EXT_KNCE:
	case ZYDIS_ISA_EXT_KNCV:
		return 0;
	default:
		return insn.length;
	}
}

/* Linear sweep of text[start, end); the last instruction may extend up to text_size. */
static void sweep_range(const ZydisDecoder *dec, const char *where, const u8 *text,
			size_t text_size, u64 vaddr, size_t start, size_t end, unsigned bits,
			struct sweep *s)
{
	size_t off = start;

	while (off < end) {
		struct insn d;
		const u8 *p = text + off;
		size_t avail = text_size - off;
		unsigned zlen = oracle_length(dec, p, avail);

		if (!zlen) {
			s->skipped++;
			off++;
			continue;
		}
		memset(&d, 0, sizeof(d));
		int ours = x86_decode(&d, p, avail, bits);
		s->insns++;
		if (ours != (int)zlen) {
			s->mismatches++;
			record_mismatch(dec, where, vaddr + off, p, avail, zlen, ours);
		}
		off += zlen;
	}
}

/* Finds .text in an ELF64 little-endian x86-64 image; 0 or a negative errno with *why set. */
static int elf_find_text(const u8 *img, size_t size, const u8 **text, size_t *text_size, u64 *vaddr,
			 const char **why)
{
	const Elf64_Ehdr *eh = (const Elf64_Ehdr *)img;

	*why = "not an ELF64 little-endian x86-64 file";
	if (size < sizeof(*eh) || memcmp(eh->e_ident, ELFMAG, SELFMAG) ||
	    eh->e_ident[EI_CLASS] != ELFCLASS64 || eh->e_ident[EI_DATA] != ELFDATA2LSB ||
	    eh->e_machine != EM_X86_64)
		return -EINVAL;
	*why = "section headers out of bounds";
	if (eh->e_shentsize != sizeof(Elf64_Shdr) || eh->e_shoff > size ||
	    (size - eh->e_shoff) / sizeof(Elf64_Shdr) < eh->e_shnum ||
	    eh->e_shstrndx >= eh->e_shnum)
		return -EINVAL;
	const Elf64_Shdr *sh = (const Elf64_Shdr *)(img + eh->e_shoff);
	const Elf64_Shdr *strtab = &sh[eh->e_shstrndx];
	if (strtab->sh_offset > size || strtab->sh_size > size - strtab->sh_offset)
		return -EINVAL;
	const char *names = (const char *)img + strtab->sh_offset;

	for (unsigned i = 0; i < eh->e_shnum; i++) {
		if (sh[i].sh_type != SHT_PROGBITS || sh[i].sh_name >= strtab->sh_size ||
		    strncmp(names + sh[i].sh_name, ".text", strtab->sh_size - sh[i].sh_name))
			continue;
		*why = ".text out of bounds";
		if (sh[i].sh_offset > size || sh[i].sh_size > size - sh[i].sh_offset)
			return -EINVAL;
		*text = img + sh[i].sh_offset;
		*text_size = sh[i].sh_size;
		*vaddr = sh[i].sh_addr;
		return 0;
	}
	*why = "no .text section";
	return -ENOENT;
}

/* Returns 1 if the program was checked, 0 if it was skipped (with a note). */
static int check_program(const ZydisDecoder *dec, const char *name, struct sweep *total)
{
	char path[256];
	struct stat st;
	const u8 *text;
	size_t text_size;
	u64 vaddr;
	const char *why;
	int fd, ret = 0;

	snprintf(path, sizeof(path), "/usr/bin/%s", name);
	fd = open(path, O_RDONLY);
	if (fd < 0) {
		printf("  note: skipping %s: %s\n", path, strerror(errno));
		return 0;
	}
	if (fstat(fd, &st) || st.st_size == 0) {
		printf("  note: skipping %s: cannot stat or empty\n", path);
		close(fd);
		return 0;
	}
	u8 *img = mmap(NULL, st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (img == MAP_FAILED) {
		printf("  note: skipping %s: mmap: %s\n", path, strerror(errno));
		return 0;
	}
	if (elf_find_text(img, st.st_size, &text, &text_size, &vaddr, &why)) {
		printf("  note: skipping %s: %s\n", path, why);
		goto out;
	}

	struct sweep s = { 0 };
	size_t swept = 0;
	printed_here = 0;
	if (text_size <= TEXT_CAP) {
		sweep_range(dec, name, text, text_size, vaddr, 0, text_size, 64, &s);
		swept = text_size;
	} else {
		size_t win = TEXT_CAP / TEXT_CHUNKS, stride = text_size / TEXT_CHUNKS;
		for (unsigned i = 0; i < TEXT_CHUNKS; i++)
			sweep_range(dec, name, text, text_size, vaddr, i * stride, i * stride + win,
				    64, &s);
		swept = TEXT_CAP;
	}
	printf("  %-8s .text %7zu KiB, swept %5zu KiB: %8" PRIu64 " insns, %6" PRIu64
	       " bytes skipped (Zydis: invalid), %" PRIu64 " mismatches\n",
	       name, text_size >> 10, swept >> 10, s.insns, s.skipped, s.mismatches);
	if (s.mismatches)
		fprintf(stderr, "FAIL decode_zydis: %s: %" PRIu64 " length mismatches\n", path,
			s.mismatches);
	CHECK(s.mismatches == 0);
	total->insns += s.insns;
	total->skipped += s.skipped;
	total->mismatches += s.mismatches;
	ret = 1;
out:
	munmap(img, st.st_size);
	return ret;
}

/* xorshift64*: a fixed sequence on every host. */
static u64 rng_next(u64 *state)
{
	u64 x = *state;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*state = x;
	return x * 0x2545f4914f6cdd1dull;
}

/* Random 15-byte buffers decoded in `bits`-bit code (32: compatibility mode, 64: 64-bit mode). */
static void fuzz(unsigned bits)
{
	ZydisDecoder dec;
	struct sweep s = { 0 };
	u64 state = FUZZ_SEED + bits;
	u8 buf[MAX_INSN];
	char where[16];

	snprintf(where, sizeof(where), "fuzz%u", bits);
	if (bits == 64)
		ZydisDecoderInit(&dec, ZYDIS_MACHINE_MODE_LONG_64, ZYDIS_STACK_WIDTH_64);
	else
		ZydisDecoderInit(&dec, ZYDIS_MACHINE_MODE_LONG_COMPAT_32, ZYDIS_STACK_WIDTH_32);
	printed_here = 0;
	for (unsigned i = 0; i < FUZZ_COUNT; i++) {
		struct insn d;

		for (unsigned j = 0; j < sizeof(buf); j += 8) {
			u64 r = rng_next(&state);
			memcpy(buf + j, &r, sizeof(buf) - j < 8 ? sizeof(buf) - j : 8);
		}
		unsigned zlen = oracle_length(&dec, buf, sizeof(buf));
		if (!zlen) {
			s.skipped++;
			continue;
		}
		memset(&d, 0, sizeof(d));
		int ours = x86_decode(&d, buf, sizeof(buf), bits);
		s.insns++;
		if (ours != (int)zlen) {
			s.mismatches++;
			record_mismatch(&dec, where, i, buf, sizeof(buf), zlen, ours);
		}
	}
	printf("  %s: %u random 15-byte buffers (seed %#x): %" PRIu64 " decoded by Zydis, %" PRIu64
	       " invalid, %" PRIu64 " mismatches\n",
	       where, FUZZ_COUNT, FUZZ_SEED + bits, s.insns, s.skipped, s.mismatches);
	if (s.mismatches)
		fprintf(stderr, "FAIL decode_zydis: %s: %" PRIu64 " length mismatches\n", where,
			s.mismatches);
	CHECK(s.mismatches == 0);
	print_mismatch_table(where);
}

int main(void)
{
	ZydisDecoder dec;
	struct sweep total = { 0 };
	unsigned checked = 0;

	setvbuf(stdout, NULL, _IOLBF, 0);
	ZydisDecoderInit(&dec, ZYDIS_MACHINE_MODE_LONG_64, ZYDIS_STACK_WIDTH_64);
	ZydisFormatterInit(&formatter, ZYDIS_FORMATTER_STYLE_INTEL);

	printf("decode_zydis: 64-bit .text sweeps of /usr/bin programs\n");
	for (unsigned i = 0; i < ARRAY_SIZE(programs); i++)
		checked += check_program(&dec, programs[i], &total);
	printf("  total: %u programs, %" PRIu64 " instructions compared, %" PRIu64 " mismatches\n",
	       checked, total.insns, total.mismatches);
	if (checked < MIN_PROGRAMS)
		fprintf(stderr,
			"FAIL: only %u of the listed /usr/bin programs are present (need %d)\n",
			checked, MIN_PROGRAMS);
	CHECK(checked >= MIN_PROGRAMS);
	print_mismatch_table("64-bit");

	printf("decode_zydis: random bytes (buffer index shown in place of an address)\n");
	fuzz(32);
	fuzz(64);
	return check_done("decode_zydis");
}
