// SPDX-License-Identifier: MIT
/*
 * difftest: the differential tester's guest (issue 4; docs/difftest.md).
 *
 * From a seed it generates blocks of random but valid integer instructions (gen.c), runs each
 * block at CPL 3 from random GPRs and arithmetic flags on a 4 KiB data page, and hashes the state
 * the block leaves: 16 GPRs, RFLAGS with the flags the SDM leaves undefined masked, the data page,
 * and the exception (vector, error code, RIP) if the block faulted.  The same seed gives the
 * same bytes on every backend, so the hashes of two backends must be equal.
 *
 * Command line (multiboot, key=value words):
 *   seed=N      the seed (default 1)
 *   start=I     first block index (default 0); blocks are independent of each other
 *   blocks=M    number of blocks (default 1000), or insns=K: run blocks until K instructions
 *   group=G     print one hash line per G blocks (default 64)
 *   dump=I      run only block I and print its input, bytes, instruction table, output, data page
 *   popcnt= lzcnt= bmi1= lahf= movbe= cx16=  0/1: use these instructions (default: CPUID)
 *   flip=I      flip bit 0 of RAX after block I: the driver's self-test of its own detection
 *   noncanon=1  also non-canonical addresses (#GP/#SS): off by default, because kvm_pvm sends
 *               CPL-3 #GP through KVM's instruction emulator (docs/difftest.md)
 * Output: "difftest ..." header, "g <group> <hash>" lines, "end blocks=.. insns=.. hash=..".
 *
 * Everything but fault delivery and output runs at CPL 3: on a KVM that emulates ring 0 (as
 * kvm_pvm does), only the ring-3 part runs on the real CPU, at full speed.  Output is formatted
 * at CPL 3 and written by the ring-0 handler of INT 0x82 (some KVMs refuse OUT at CPL 3 even
 * with IOPL 3).
 */
#include "lib.h"
#include "gen.h"

struct gen_state diff_in, diff_out; /* shared with enter.S */
void *diff_code_ptr;
u64 diff_run_block(void);
extern char diff_block_exit[], diff_fault_resume[], diff_user_ret[];
extern u64 diff_ujb[8];
u64 diff_user_call(u64 (*fn)(u64));

static u8 code_buf[GEN_CODE_SIZE] __attribute__((aligned(4096)));
static u8 data_page[4096] __attribute__((aligned(4096)));

/* Filled by the ring-0 fault handler. */
static volatile u64 fault_vector, fault_error, fault_rip, fault_cr2;
static volatile bool in_block;

static struct {
	u64 seed;
	u32 start, blocks, group;
	u64 insns;
	s64 dump, flip;
	int popcnt, lzcnt, bmi1, lahf, movbe, cx16, noncanon;
} opt = { .seed = 1, .blocks = 1000, .group = 64, .dump = -1, .flip = -1,
	  .popcnt = -1, .lzcnt = -1, .bmi1 = -1, .lahf = -1, .movbe = -1, .cx16 = -1 };

/*
 * Where the blocks run: the guest's code and data buffers; nothing is mapped above 4 GiB.  The
 * environment-dependent groups (gen.h: GEN_FAULTS, GEN_SEG, GEN_FAR, GEN_AC, GEN_TF, GEN_GS) stay
 * off: kvm_pvm's quirks for CPL 3 (docs/difftest.md) make them differ for reasons that are not
 * soft's; the host oracle (tests/diff/hostdiff.c) runs them.
 */
static struct gen_config cfg = { .wild_base = 1ULL << 32, .wild_mask = (1ULL << 46) - 1 };

static u64 mix64(u64 z)
{
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* ---- state hashing and output ---- */

#define MIN(a, b) ((a) < (b) ? (a) : (b))

static u64 hash_words(u64 h, const u64 *w, int n)
{
	for (int i = 0; i < n; i++)
		h = mix64(h ^ w[i]) + 0x9e3779b97f4a7c15ULL;
	return h;
}

struct result {
	u64 vector, error, rip_off, cr2, undef, flags, data;
};

static void block_result(struct gen *g, u64 faulted, struct result *r)
{
	r->vector = faulted ? fault_vector : 0xff;
	r->error = faulted ? fault_error : 0;
	r->rip_off = faulted ? fault_rip - (u64)code_buf : (u64)g->off[g->n];
	r->cr2 = faulted ? fault_cr2 : 0;
	r->undef = gen_undef_at(g, r->rip_off);
	/* IF: kvm_pvm runs CPL 3 with IF = 1 whatever RFLAGS says; blocks never set it */
	r->flags = diff_out.rflags & ~r->undef & ~RFLAGS_IF;
	r->data = hash_words(0, (const u64 *)data_page, 512);
}

static u64 result_hash(const struct result *r)
{
	u64 w[6] = { r->vector, r->error, r->rip_off, r->cr2, r->flags, r->data };
	return hash_words(hash_words(1, diff_out.r, 16), w, 6);
}

/*
 * Output is formatted at CPL 3 into out_buf and written by ring 0 between user_call()s: the
 * KVM here (kvm_pvm) refuses OUT at CPL 3 even with IOPL 3 and INT n for vectors but 0x80.
 */
static char out_buf[16384];
static u32 out_len;

static void uprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void uprintf(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	int n = vsnprintf(out_buf + out_len, sizeof(out_buf) - out_len, fmt, ap);
	va_end(ap);
	out_len = MIN(out_len + n, sizeof(out_buf) - 1);
}

static const char *const reg_names[16] = { "rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi",
					   "rdi", "r8", "r9", "r10", "r11", "r12", "r13",
					   "r14", "r15" };

/* n <= 128 bytes as hex, in a static buffer. */
static const char *hex(const u8 *p, int n)
{
	static char buf[257];

	for (int i = 0; i < n; i++) {
		buf[2 * i] = "0123456789abcdef"[p[i] >> 4];
		buf[2 * i + 1] = "0123456789abcdef"[p[i] & 15];
	}
	buf[2 * n] = 0;
	return buf;
}

static void dump_block(struct gen *g, u32 index, const struct result *r)
{
	uprintf("dump block %u seed %llu insns %d\n", index, (unsigned long long)opt.seed, g->n);
	for (int i = 0; i < g->off[g->n]; i += 128)
		uprintf("code %s\n", hex(code_buf + i, MIN(128, g->off[g->n] - i)));
	for (int i = 0; i < g->n; i++)
		uprintf("insn %d %u %u %#x\n", i, g->off[i], g->off[i + 1] - g->off[i],
			g->undef[i]);
	for (int i = 0; i < 16; i++)
		uprintf("reg %s %016llx %016llx\n", reg_names[i], (unsigned long long)diff_in.r[i],
		       (unsigned long long)diff_out.r[i]);
	uprintf("rflags %016llx %016llx undef %#llx masked %016llx\n",
	       (unsigned long long)diff_in.rflags, (unsigned long long)diff_out.rflags,
	       (unsigned long long)r->undef, (unsigned long long)r->flags);
	uprintf("exit vector %#llx error %#llx rip +%#llx cr2 %#llx\n",
		(unsigned long long)r->vector, (unsigned long long)r->error,
		(unsigned long long)r->rip_off, (unsigned long long)r->cr2);
	uprintf("data %016llx\n", (unsigned long long)r->data);
	for (int i = 0; i < 4096; i += 64)
		uprintf("page %03x %s\n", i, hex(data_page + i, 64));
	uprintf("hash %016llx\n", (unsigned long long)result_hash(r));
}

static struct gen gen;

static struct {
	u32 b, end;
	u64 insns, faults, group_hash, all;
	bool started;
} run;

static u64 run_one(struct gen *g, u32 b, struct result *r)
{
	gen_block(g, &cfg, code_buf, opt.seed, b);
	gen_input(g, &diff_in, data_page);
	diff_code_ptr = code_buf;
	in_block = true;
	u64 f = diff_run_block();
	in_block = false;
	if ((s64)b == opt.flip)
		diff_out.r[0] ^= 1;
	block_result(g, f, r);
	return f;
}

/*
 * One step of the run, at CPL 3: blocks until out_buf holds about a kilobyte (ring 0 prints it
 * after each step); returns 0 when the run is over.
 */
static u64 diff_step(u64 unused)
{
	struct gen *g = &gen;
	struct result r;

	if (!run.started) {
		run.started = true;
		run.b = opt.start;
		run.end = opt.start + opt.blocks;
		uprintf("difftest seed=%llu start=%u group=%u popcnt=%d lzcnt=%d bmi1=%d "
			"lahf=%d movbe=%d cx16=%d\n",
			(unsigned long long)opt.seed, opt.start, opt.group, opt.popcnt, opt.lzcnt,
			opt.bmi1, opt.lahf, opt.movbe, opt.cx16);
		if (opt.dump >= 0) {
			run_one(g, opt.dump, &r);
			dump_block(g, opt.dump, &r);
			return 0;
		}
	}
	for (; opt.insns ? run.insns < opt.insns : run.b < run.end; run.b++) {
		if (out_len > 1024)
			return 1;
		run.faults += run_one(g, run.b, &r);
		run.insns += g->n;
		u64 h = result_hash(&r);
		run.group_hash = hash_words(run.group_hash, &h, 1);
		if ((run.b + 1 - opt.start) % opt.group == 0) {
			uprintf("g %u %016llx\n", run.b / opt.group,
				(unsigned long long)run.group_hash);
			run.all = hash_words(run.all, &run.group_hash, 1);
			run.group_hash = 0;
		}
	}
	if ((run.b - opt.start) % opt.group) {
		uprintf("g %u %016llx\n", (run.b - 1) / opt.group,
			(unsigned long long)run.group_hash);
		run.all = hash_words(run.all, &run.group_hash, 1);
	}
	uprintf("end blocks=%u insns=%llu faults=%llu hash=%016llx\n", run.b - opt.start,
		(unsigned long long)run.insns, (unsigned long long)run.faults,
		(unsigned long long)run.all);
	return 0;
}

/* Ring 0: an exception inside a block ends it; anything else is a harness bug. */
static void diff_trap(struct frame *f)
{
	if (f->vector == UD_VECTOR && f->rip == (u64)diff_user_ret && f->cs == SEL_UCODE) {
		/* diff_user_call() returns f->rax at CPL 0 */
		f->rip = diff_ujb[0];
		f->rsp = diff_ujb[1];
		f->rbx = diff_ujb[2];
		f->rbp = diff_ujb[3];
		f->r12 = diff_ujb[4];
		f->r13 = diff_ujb[5];
		f->r14 = diff_ujb[6];
		f->r15 = diff_ujb[7];
		f->cs = SEL_KCODE;
		f->ss = SEL_KDATA;
		f->rflags = 0x2;
		return;
	}
	if (!in_block || f->cs != SEL_UCODE) {
		printf("FAIL unexpected exception %llu error %#llx at rip %#llx cs %#llx\n",
		       (unsigned long long)f->vector, (unsigned long long)f->error,
		       (unsigned long long)f->rip, (unsigned long long)f->cs);
		exit(1);
	}
	u64 regs[16] = { f->rax, f->rcx, f->rdx, f->rbx, f->rsp, f->rbp, f->rsi, f->rdi,
			 f->r8, f->r9, f->r10, f->r11, f->r12, f->r13, f->r14, f->r15 };
	memcpy(diff_out.r, regs, sizeof(regs));
	diff_out.rflags = f->rflags;
	fault_vector = f->vector;
	fault_error = f->error;
	fault_rip = f->rip;
	fault_cr2 = f->vector == PF_VECTOR ? read_cr2() : 0;
	f->rip = (u64)diff_fault_resume;
	f->rflags = 0x2;
}

static u64 parse_u64(const char *s)
{
	u64 v = 0;

	while (*s >= '0' && *s <= '9')
		v = v * 10 + (u64)(*s++ - '0');
	return v;
}

static void parse_cmdline(const char *s)
{
	static const struct { const char *key; int kind; void *p; } keys[] = {
		{ "seed=", 8, &opt.seed }, { "start=", 4, &opt.start },
		{ "blocks=", 4, &opt.blocks },
		{ "group=", 4, &opt.group }, { "insns=", 8, &opt.insns }, { "dump=", 8, &opt.dump },
		{ "flip=", 8, &opt.flip },
		{ "popcnt=", 1, &opt.popcnt }, { "lzcnt=", 1, &opt.lzcnt },
		{ "bmi1=", 1, &opt.bmi1 }, { "lahf=", 1, &opt.lahf },
		{ "movbe=", 1, &opt.movbe }, { "cx16=", 1, &opt.cx16 },
		{ "noncanon=", 1, &opt.noncanon },
	};

	while (*s) {
		while (*s == ' ')
			s++;
		for (unsigned i = 0; i < ARRAY_SIZE(keys); i++) {
			size_t n = strlen(keys[i].key);
			if (memcmp(s, keys[i].key, n))
				continue;
			u64 v = parse_u64(s + n);
			if (keys[i].kind == 8)
				*(u64 *)keys[i].p = v;
			else if (keys[i].kind == 4)
				*(u32 *)keys[i].p = v;
			else
				*(int *)keys[i].p = v != 0;
		}
		while (*s && *s != ' ')
			s++;
	}
}

int main(void)
{
	const struct mb_info *mb = (const struct mb_info *)mb_info;

	if (mb->flags & BIT(2))
		parse_cmdline((const char *)(ulong)mb->cmdline);
	if (!opt.group)
		opt.group = 1;
	if (opt.popcnt < 0)
		opt.popcnt = HAS_POPCNT();
	if (opt.lzcnt < 0)
		opt.lzcnt = HAS_LZCNT();
	if (opt.bmi1 < 0)
		opt.bmi1 = HAS_BMI1();
	if (opt.lahf < 0)
		opt.lahf = has_feature(0x80000001, REG_ECX, 0);
	if (opt.movbe < 0)
		opt.movbe = HAS_MOVBE();
	if (opt.cx16 < 0)
		opt.cx16 = HAS_CX16();
	cfg.code_addr = (u64)code_buf;
	cfg.data_addr = (u64)data_page;
	cfg.exit_addr = (u64)diff_block_exit;
	cfg.features = (opt.popcnt ? GEN_POPCNT : 0) | (opt.lzcnt ? GEN_LZCNT : 0) |
		       (opt.bmi1 ? GEN_BMI1 : 0) | (opt.lahf ? GEN_LAHF : 0) |
		       (opt.movbe ? GEN_MOVBE : 0) | (opt.cx16 ? GEN_CX16 : 0) |
		       (opt.noncanon ? GEN_NONCANON : 0);
	for (int v = 0; v < 32; v++)
		if (v != DF_VECTOR)
			set_handler(v, diff_trap);
	for (bool more = true; more;) {
		more = diff_user_call(diff_step);
		puts(out_buf);
		out_len = 0;
		out_buf[0] = 0;
	}
	return 0;
}
