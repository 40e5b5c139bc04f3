/* SPDX-License-Identifier: MIT */
/*
 * Differential test of the instruction handlers in ops_shift.c, ops_muldiv.c, ops_string.c,
 * ops_bit.c and ops_atomic.c against the host CPU: each case runs the handler on a hand-made
 * `struct insn` (as decode.c would fill it) and the same instruction on the host (inline asm,
 * flags in and out through POPFQ/PUSHFQ), then compares registers, memory and every flag the SDM
 * defines for that case. Operands are random with a fixed seed, biased toward edge values.
 * Handlers without a 64-bit-mode host equivalent (ops_misc.c: BCD, BOUND, ARPL, 16-bit wrap) get
 * known-answer cases from the SDM.
 *
 * The test CPU (cpu_create, then set by hand): paging off, guest-physical = linear = offset in a
 * host buffer that is both c->ram and mapped in the TLB; 64-bit mode, flat segments. c->insn stays
 * NULL so that cpu_fault()'s instruction-count bookkeeping, which needs a block, is skipped; faults
 * land in run()'s setjmp. Host asm subtracts 128 from RSP before pushing, to keep clear of the
 * compiler's red zone.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "check.h"
#include "cpu/ops.h"
#include "cpu/ops_core.h"

#define RAM_SIZE  (2u << 20)
#define G_BITS	  0x10000u /* guest bit-string / memory-operand area, BITS_AREA bytes */
#define BITS_AREA 8192u
#define G_STR	  0x40000u /* guest string area, STR_AREA bytes */
#define STR_AREA  (256u << 10)

static struct cpu *c;
static u8 *ram;
static u8 *hbits; /* host twin of the guest bit area */
static u8 *hstr;  /* host twin of the guest string area */
static char ctx[200];
static unsigned fails_shown;

/* --- Harness --- */

static u64 rng = 0x243f6a8885a308d3ull;

static u64 rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

/* A register value: random upper bits, low `size` bytes often an edge value. */
static u64 rnd_op(unsigned size)
{
	u64 m = size_mask(size), msb = 1ull << (size * 8 - 1), v = rnd();

	switch (rnd() % 10) {
	case 0:
		return v & ~m;
	case 1:
		return v | m;
	case 2:
		return (v & ~m) | msb;
	case 3:
		return (v & ~m) | (msb - 1);
	case 4:
		return (v & ~m) | (rnd() % 16);
	case 5:
		return (v & ~m) | ((msb - 1 - rnd() % 4) & m);
	default:
		return v;
	}
}

/* Input RFLAGS: random arithmetic flags, DF clear. */
static u64 rnd_flags(void)
{
	return (rnd() & X86_ARITH_FLAGS) | X86_FIXED1;
}

static void expect(const char *what, u64 got, u64 want)
{
	if (got == want) {
		check_passed++;
		return;
	}
	check_failed++;
	if (fails_shown++ < 40)
		fprintf(stderr, "FAIL %s: %s = %#" PRIx64 ", host %#" PRIx64 "\n", ctx, what, got,
			want);
}

static void expect_flags(u64 got, u64 want, u64 defined)
{
	expect("flags", got & defined, want & defined);
}

static void cpu_reset(void)
{
	memset(c->gpr, 0, sizeof(c->gpr));
	c->rip = 0x1000;
	c->rflags = X86_FIXED1;
	c->lf_op = LF_NONE;
}

/* Guest-physical accesses outside RAM (the #GP-in-REP case passes through some). */
static u64 mmio_read(void *opaque, u64 gpa, unsigned size)
{
	return ~0ull;
}

static void mmio_write(void *opaque, u64 gpa, u64 value, unsigned size)
{
}

static void setup(void)
{
	struct cpu_config cfg = { .ram_size = RAM_SIZE,
				  .mmio_read = mmio_read,
				  .mmio_write = mmio_write };

	ram = aligned_alloc(PAGE_SIZE, RAM_SIZE);
	hbits = aligned_alloc(PAGE_SIZE, BITS_AREA);
	hstr = aligned_alloc(PAGE_SIZE, STR_AREA);
	if (!ram || !hbits || !hstr)
		abort();
	memset(ram, 0, RAM_SIZE);
	cfg.ram = ram;
	/* cpu_create() for the block cache the MMU's slow paths consult; then the test's mode. */
	c = cpu_create(&cfg);
	if (!c)
		abort();
	for (u64 p = 0; p < RAM_SIZE; p += PAGE_SIZE) {
		struct tlb_entry *e = &c->tlb[(p >> 12) & (TLB_SIZE - 1)];

		e->tag_r = e->tag_w = p;
		e->host = (uintptr_t)ram;
		e->gpa = p;
	}
	c->lin_mask = ~0ull;
	c->mode = MODE_LONG;
	c->code_bits = 64;
	c->stack_bytes = 8;
	c->seg_check = 0;
	c->seg[SEG_CS].limit = ~0u;
	cpu_reset();
}

static struct insn mk(insn_fn fn, unsigned osz)
{
	struct insn d;

	memset(&d, 0, sizeof(d));
	d.fn = fn;
	d.len = 4;
	d.osz = osz;
	d.asz = 8;
	d.base = BASE_NONE;
	d.index = BASE_NONE;
	d.seg = SEG_DS;
	return d;
}

static struct insn mk_reg(insn_fn fn, unsigned osz, unsigned reg, unsigned rm)
{
	struct insn d = mk(fn, osz);

	d.reg = reg;
	d.rm = rm;
	return d;
}

/* Memory operand at guest address ea, as [disp32]. */
static struct insn mk_mem(insn_fn fn, unsigned osz, unsigned reg, u64 ea)
{
	struct insn d = mk(fn, osz);

	d.reg = reg;
	d.mem = 1;
	d.disp = (s32)ea;
	return d;
}

/* The block loop's prologue, then the handler the decoder would install (its size-specialized
   form where there is one). Returns the fault vector, or -1. */
static int run(const struct insn *d)
{
	insn_fn fn = ops_specialize(d->fn, d->osz);

	c->insn = NULL;
	c->insn_rip = c->rip;
	c->rip += d->len;
	if (cpu_setjmp(c->jb))
		return c->fault_vector;
	fn(c, d);
	return -1;
}

/* reg_write's rule (SDM vol. 1 3.4.1.1), for expected register values. */
static u64 merge(u64 old, u64 v, unsigned size)
{
	return size == 4 ? (u32)v : (old & ~size_mask(size)) | (v & size_mask(size));
}

/* A store of `size` bytes over an 8-byte memory word. */
static u64 mem_merge(u64 old, u64 v, unsigned size)
{
	return (old & ~size_mask(size)) | (v & size_mask(size));
}

#define FIN	 "sub $128, %%rsp\n\tpush %[f]\n\tpopfq\n\t"
#define FOUT	 "\n\tpushfq\n\tpop %[f]\n\tadd $128, %%rsp"
#define FOUT_CLD "\n\tpushfq\n\tpop %[f]\n\tcld\n\tadd $128, %%rsp"

/* One asm statement per operand size: S(mnemonic, b/w/l/q suffix, register modifier). */
#define BY_SIZE(size, S, mn)                                                                       \
	do {                                                                                       \
		switch (size) {                                                                    \
		case 1:                                                                            \
			S(mn, "b", "b");                                                           \
			break;                                                                     \
		case 2:                                                                            \
			S(mn, "w", "w");                                                           \
			break;                                                                     \
		case 4:                                                                            \
			S(mn, "l", "k");                                                           \
			break;                                                                     \
		default:                                                                           \
			S(mn, "q", "q");                                                           \
		}                                                                                  \
	} while (0)

/* The same for instructions without a byte form. */
#define BY_SIZE_W(size, S, mn)                                                                     \
	do {                                                                                       \
		switch (size) {                                                                    \
		case 2:                                                                            \
			S(mn, "w", "w");                                                           \
			break;                                                                     \
		case 4:                                                                            \
			S(mn, "l", "k");                                                           \
			break;                                                                     \
		default:                                                                           \
			S(mn, "q", "q");                                                           \
		}                                                                                  \
	} while (0)

static const char *const size_name[9] = { [1] = "b", [2] = "w", [4] = "l", [8] = "q" };
static const unsigned sizes[4] = { 1, 2, 4, 8 };

/* --- Shifts and rotates --- */

/* x OP= CL on the host. */
#define HOST_SHIFT_ASM(mn, sfx, m)                                                                 \
	asm volatile(FIN mn sfx " %%cl, %" m "[x]" FOUT                                            \
		     : [x] "+r"(x), [f] "+r"(f)                                                    \
		     : "c"(cnt)                                                                    \
		     : "cc")
#define HOST_SHIFT(name, mn)                                                                       \
	static u64 name(unsigned size, u64 x, u8 cnt, u64 *fl)                                     \
	{                                                                                          \
		u64 f = *fl;                                                                       \
		BY_SIZE(size, HOST_SHIFT_ASM, mn);                                                 \
		*fl = f;                                                                           \
		return x;                                                                          \
	}
HOST_SHIFT(host_rol, "rol")
HOST_SHIFT(host_ror, "ror")
HOST_SHIFT(host_rcl, "rcl")
HOST_SHIFT(host_rcr, "rcr")
HOST_SHIFT(host_shl, "shl")
HOST_SHIFT(host_shr, "shr")
HOST_SHIFT(host_sar, "sar")

static u64 (*const host_shift[8])(unsigned, u64, u8, u64 *) = {
	host_rol, host_ror, host_rcl, host_rcr, host_shl, host_shr, host_shl, host_sar,
};
static const char *const shift_name[8] = { "rol", "ror", "rcl", "rcr", "shl", "shr", "sal", "sar" };

/* Flags the SDM defines after a shift or rotate by masked count n of a `bits`-wide operand. */
static u64 shift_defined(unsigned op, unsigned n, unsigned bits)
{
	u64 m;

	if (!n)
		return X86_ARITH_FLAGS; /* count 0: nothing changes */
	if (op < 4) /* rotates: SF ZF AF PF unaffected, CF defined, OF for count 1 */
		m = X86_ARITH_FLAGS & ~X86_OF;
	else if (op == 7 || n < bits) /* SAR; SHL/SHR while count < size */
		m = X86_CF | X86_SF | X86_ZF | X86_PF;
	else
		m = X86_SF | X86_ZF | X86_PF;
	return n == 1 ? m | X86_OF : m;
}

static void test_shifts(void)
{
	static const insn_fn forms[3] = { op_shift_rm_cl, op_shift_rm_imm, op_shift_rm_1 };

	for (unsigned op = 0; op < 8; op++) {
		for (unsigned si = 0; si < 4; si++) {
			unsigned size = sizes[si], bits = size * 8;

			for (unsigned cnt = 0; cnt < 256; cnt++) {
				for (unsigned k = 0; k < 3; k++) {
					unsigned form = cnt == 1 ? k : k % 2;
					u64 v = rnd_op(size), fin = rnd_flags(), fh = fin;
					unsigned n = cnt & (size == 8 ? 63 : 31);
					bool mem = rnd() % 4 == 0;
					u64 want = host_shift[op](size, v, (u8)cnt, &fh);
					struct insn d;

					snprintf(ctx, sizeof(ctx),
						 "%s%s %s v=%#" PRIx64 " cnt=%u f=%#" PRIx64,
						 shift_name[op], size_name[size],
						 mem ? "mem" : "reg", v, cnt, fin);
					cpu_reset();
					if (mem) {
						d = mk_mem(forms[form], size, 0, G_BITS + 8);
						memcpy(ram + G_BITS + 8, &v, 8);
					} else {
						d = mk_reg(forms[form], size, 0, R_RBX);
						c->gpr[R_RBX] = v;
					}
					d.sub = (u8)op;
					d.imm = cnt;
					c->gpr[R_RCX] = cnt | (rnd() << 8);
					c->rflags = fin;
					run(&d);
					if (mem) {
						u64 got;

						memcpy(&got, ram + G_BITS + 8, 8);
						expect("mem", got, mem_merge(v, want, size));
					} else {
						expect("reg", c->gpr[R_RBX], want);
					}
					expect_flags(flags_get(c), fh, shift_defined(op, n, bits));
				}
			}
		}
	}
}

#define HOST_SHXD(name, mn)                                                                        \
	static u64 name(unsigned size, u64 x, u64 s, u8 cnt, u64 *fl)                              \
	{                                                                                          \
		u64 f = *fl;                                                                       \
		BY_SIZE_W(size, HOST_SHXD_ASM, mn);                                                \
		*fl = f;                                                                           \
		return x;                                                                          \
	}
#define HOST_SHXD_ASM(mn, sfx, m)                                                                  \
	asm volatile(FIN mn sfx " %%cl, %" m "[s], %" m "[x]" FOUT                                 \
		     : [x] "+r"(x), [f] "+r"(f)                                                    \
		     : "c"(cnt), [s] "r"(s)                                                        \
		     : "cc")
HOST_SHXD(host_shld, "shld")
HOST_SHXD(host_shrd, "shrd")

static void test_shift_double(void)
{
	for (unsigned left = 0; left < 2; left++) {
		for (unsigned si = 1; si < 4; si++) {
			unsigned size = sizes[si], bits = size * 8;

			for (unsigned cnt = 0; cnt < 256; cnt++) {
				for (unsigned k = 0; k < 4; k++) {
					u64 v = rnd_op(size), s = rnd_op(size), fin = rnd_flags(),
					    fh = fin;
					unsigned n = cnt & (size == 8 ? 63 : 31);
					u64 want = (left ? host_shld : host_shrd)(size, v, s,
										  (u8)cnt, &fh);
					insn_fn fn = left ? (k & 1 ? op_shld_imm : op_shld_cl)
							  : (k & 1 ? op_shrd_imm : op_shrd_cl);
					bool mem = rnd() % 4 == 0;
					struct insn d = mem ? mk_mem(fn, size, R_RDX, G_BITS + 8)
							    : mk_reg(fn, size, R_RDX, R_RBX);
					u64 def, got;

					snprintf(ctx, sizeof(ctx),
						 "%s%s v=%#" PRIx64 " s=%#" PRIx64 " cnt=%u",
						 left ? "shld" : "shrd", size_name[size], v, s,
						 cnt);
					cpu_reset();
					d.imm = cnt;
					c->gpr[R_RBX] = v;
					memcpy(ram + G_BITS + 8, &v, 8);
					c->gpr[R_RDX] = s;
					c->gpr[R_RCX] = cnt;
					c->rflags = fin;
					run(&d);
					if (n > bits)
						continue; /* undefined result and flags (16-bit,
							     count > 16) */
					def = n ? X86_CF | X86_SF | X86_ZF | X86_PF |
							      (n == 1 ? X86_OF : 0)
						: X86_ARITH_FLAGS;
					memcpy(&got, ram + G_BITS + 8, 8);
					if (mem)
						expect("mem", got, mem_merge(v, want, size));
					else
						expect("reg", c->gpr[R_RBX], want);
					expect("src", c->gpr[R_RDX], s);
					expect_flags(flags_get(c), fh, def);
				}
			}
		}
	}
}

/* --- MUL IMUL DIV IDIV --- */

static sigjmp_buf fpe_jb;

static void on_sigfpe(int sig)
{
	siglongjmp(fpe_jb, 1);
}

/* rAX, rDX, src in; rAX, rDX, flags out. */
#define HOST_MD(name, mn)                                                                          \
	static void name(unsigned size, u64 *rax, u64 *rdx, u64 src, u64 *fl)                      \
	{                                                                                          \
		u64 a = *rax, dd = *rdx, f = *fl;                                                  \
		BY_SIZE(size, HOST_MD_ASM, mn);                                                    \
		*rax = a;                                                                          \
		*rdx = dd;                                                                         \
		*fl = f;                                                                           \
	}
#define HOST_MD_ASM(mn, sfx, m)                                                                    \
	asm volatile(FIN mn sfx " %" m "[s]" FOUT                                                  \
		     : "+a"(a), "+d"(dd), [f] "+r"(f)                                              \
		     : [s] "r"(src)                                                                \
		     : "cc")
HOST_MD(host_mul, "mul")
HOST_MD(host_imul1, "imul")
HOST_MD(host_div, "div")
HOST_MD(host_idiv, "idiv")

typedef void host_md_fn(unsigned size, u64 *rax, u64 *rdx, u64 src, u64 *fl);

/* Runs fn; false if the host raised #DE (SIGFPE). */
static bool host_md(host_md_fn *fn, unsigned size, u64 *rax, u64 *rdx, u64 src, u64 *fl)
{
	if (sigsetjmp(fpe_jb, 1))
		return false;
	fn(size, rax, rdx, src, fl);
	return true;
}

/* Divide operands: half the time a dividend whose quotient fits, so both outcomes occur. */
static void rnd_div_operands(unsigned size, bool sign, u64 *rax, u64 *rdx, u64 *src)
{
	*src = rnd_op(size);
	*rax = rnd_op(size);
	*rdx = rnd_op(size);
	if (rnd() % 2) {
		if (size == 1)
			*rax = (*rax & ~0xff00ull) |
			       ((sign ? (u64)(s64)(s8)*rax >> 8 : 0) & 0xff00);
		else
			*rdx = (*rdx & ~size_mask(size)) |
			       (sign ? (u64)((s64)sign_extend(*rax, size) >> 63) & size_mask(size)
				     : (rnd() % 3) & size_mask(size));
	}
}

static void test_muldiv(void)
{
	static const struct {
		const char *name;
		insn_fn fn;
		host_md_fn *host;
		bool div, sign;
	} t[] = {
		{ "mul", op_mul, host_mul, false, false },
		{ "imul", op_imul1, host_imul1, false, true },
		{ "div", op_div, host_div, true, false },
		{ "idiv", op_idiv, host_idiv, true, true },
	};
	struct sigaction sa;
	unsigned faults = 0;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_sigfpe;
	sigaction(SIGFPE, &sa, NULL);

	for (unsigned i = 0; i < ARRAY_SIZE(t); i++) {
		for (unsigned si = 0; si < 4; si++) {
			unsigned size = sizes[si];

			for (unsigned k = 0; k < 6000; k++) {
				u64 rax, rdx, src, fin = rnd_flags(), fh = fin;
				bool mem = k % 4 == 0;
				struct insn d;
				u64 hax, hdx;
				bool ok;
				int v;

				if (t[i].div) {
					rnd_div_operands(size, t[i].sign, &rax, &rdx, &src);
				} else {
					rax = rnd_op(size);
					rdx = rnd();
					src = rnd_op(size);
				}
				hax = rax;
				hdx = rdx;
				ok = host_md(t[i].host, size, &hax, &hdx, src, &fh);
				snprintf(ctx, sizeof(ctx),
					 "%s%s rax=%#" PRIx64 " rdx=%#" PRIx64 " src=%#" PRIx64,
					 t[i].name, size_name[size], rax, rdx, src);
				cpu_reset();
				if (mem) {
					d = mk_mem(t[i].fn, size, 0, G_BITS + 16);
					memcpy(ram + G_BITS + 16, &src, 8);
				} else {
					d = mk_reg(t[i].fn, size, 0, R_RBX);
					c->gpr[R_RBX] = src;
				}
				c->gpr[R_RAX] = rax;
				c->gpr[R_RDX] = rdx;
				c->rflags = fin;
				v = run(&d);
				expect("fault", (u64)v, ok ? (u64)-1 : X86_DE);
				if (!ok) {
					faults++;
					expect("rax kept", c->gpr[R_RAX], rax);
					expect("rdx kept", c->gpr[R_RDX], rdx);
					expect("rip kept", c->rip, c->insn_rip);
					continue;
				}
				expect("rax", c->gpr[R_RAX], hax);
				expect("rdx", c->gpr[R_RDX], hdx);
				expect_flags(flags_get(c), fh, t[i].div ? 0 : X86_CF | X86_OF);
			}
		}
	}
	CHECK(faults > 1000); /* the #DE path was exercised */
	signal(SIGFPE, SIG_DFL);
}

/* IMUL r, r/m (0F AF) and IMUL r, r/m, imm (69/6B: same product, rm * imm) on the host. */
static u64 host_imul2(unsigned size, u64 x, u64 s, u64 *fl)
{
	u64 f = *fl;

#define HOST_IMUL2_ASM(mn, sfx, m)                                                                 \
	asm volatile(FIN mn sfx " %" m "[s], %" m "[x]" FOUT                                       \
		     : [x] "+r"(x), [f] "+r"(f)                                                    \
		     : [s] "r"(s)                                                                  \
		     : "cc")
	BY_SIZE_W(size, HOST_IMUL2_ASM, "imul");
	*fl = f;
	return x;
}

static void test_imul2(void)
{
	for (unsigned si = 1; si < 4; si++) {
		unsigned size = sizes[si];

		for (unsigned k = 0; k < 8000; k++) {
			bool three = k % 2, mem = k % 3 == 0;
			u64 a = rnd_op(size), b = rnd_op(size), dst0 = rnd(), fin = rnd_flags();
			u64 fh = fin, want;
			struct insn d;

			if (three) /* imm8 or imm16/32, sign-extended as the decoder does */
				b = k % 4 == 1 ? (u64)(s64)(s8)b : (u64)(s64)(s32)b;
			want = host_imul2(size, three ? a : dst0, three ? b : a, &fh);
			snprintf(ctx, sizeof(ctx), "imul%s%s a=%#" PRIx64 " b=%#" PRIx64,
				 three ? "3" : "2", size_name[size], a, b);
			cpu_reset();
			if (mem) {
				d = mk_mem(three ? op_imul_r_rm_imm : op_imul_r_rm, size, R_RDX,
					   G_BITS);
				memcpy(ram + G_BITS, &a, 8);
			} else {
				d = mk_reg(three ? op_imul_r_rm_imm : op_imul_r_rm, size, R_RDX,
					   R_RBX);
				c->gpr[R_RBX] = a;
			}
			d.imm = b;
			c->gpr[R_RDX] = dst0;
			c->rflags = fin;
			run(&d);
			expect("dst", c->gpr[R_RDX], merge(dst0, want, size));
			expect_flags(flags_get(c), fh, X86_CF | X86_OF);
		}
	}
}

/* --- BT BTS BTR BTC --- */

/* op 0..3 = BT BTS BTR BTC; mem: x is ignored and the operand is the host bit string at p. */
#define HOST_BT(name, mn)                                                                          \
	static u64 name(unsigned size, bool mem, u64 x, u8 *p, u64 off, u64 *fl)                   \
	{                                                                                          \
		u64 f = *fl;                                                                       \
		if (mem) {                                                                         \
			BY_SIZE_W(size, HOST_BT_MEM, mn);                                          \
		} else {                                                                           \
			BY_SIZE_W(size, HOST_BT_REG, mn);                                          \
		}                                                                                  \
		*fl = f;                                                                           \
		return x;                                                                          \
	}
#define HOST_BT_REG(mn, sfx, m)                                                                    \
	asm volatile(FIN mn sfx " %" m "[o], %" m "[x]" FOUT                                       \
		     : [x] "+r"(x), [f] "+r"(f)                                                    \
		     : [o] "r"(off)                                                                \
		     : "cc")
#define HOST_BT_MEM(mn, sfx, m)                                                                    \
	asm volatile(FIN mn sfx " %" m "[o], (%[p])" FOUT                                          \
		     : [f] "+r"(f)                                                                 \
		     : [o] "r"(off), [p] "r"(p)                                                    \
		     : "cc", "memory")
HOST_BT(host_bt, "bt")
HOST_BT(host_bts, "bts")
HOST_BT(host_btr, "btr")
HOST_BT(host_btc, "btc")

static void test_bt(void)
{
	static u64 (*const host[4])(unsigned, bool, u64, u8 *, u64, u64 *) = {
		host_bt,
		host_bts,
		host_btr,
		host_btc,
	};
	static const insn_fn fn[4] = { op_bt_rm_r, op_bts_rm_r, op_btr_rm_r, op_btc_rm_r };
	static const char *const name[4] = { "bt", "bts", "btr", "btc" };

	for (unsigned i = 0; i < BITS_AREA; i++)
		hbits[i] = (u8)rnd();
	memcpy(ram + G_BITS, hbits, BITS_AREA);
	for (unsigned op = 0; op < 4; op++) {
		for (unsigned si = 1; si < 4; si++) {
			unsigned size = sizes[si];

			for (unsigned k = 0; k < 6000; k++) {
				bool mem = k % 2, imm = k % 3 == 0;
				u64 x = rnd_op(size), off = rnd(), fin = rnd_flags(), fh = fin,
				    want;
				struct insn d;

				if (imm)
					off &= 0xff;
				else if (mem && size > 2) /* keep the bit string inside the area */
					off = (off & ~size_mask(size)) |
					      ((u64)(s64)(s32)(rnd() % 60000 - 30000) &
					       size_mask(size));
				/* A register offset into memory is a signed bit-string index; an
				   immediate (and any register operand) is taken MOD the width. */
				want = host[op](size, mem, x, hbits + BITS_AREA / 2,
						imm ? off & (size * 8 - 1) : off, &fh);
				snprintf(ctx, sizeof(ctx), "%s%s %s%s off=%#" PRIx64, name[op],
					 size_name[size], mem ? "mem" : "reg", imm ? " imm" : "",
					 off);
				cpu_reset();
				if (mem)
					d = mk_mem(imm ? op_bt_rm_imm : fn[op], size, R_RDX,
						   G_BITS + BITS_AREA / 2);
				else
					d = mk_reg(imm ? op_bt_rm_imm : fn[op], size, R_RDX, R_RBX);
				d.sub = (u8)(4 + op);
				d.imm = off;
				c->gpr[R_RBX] = x;
				c->gpr[R_RDX] = off;
				c->rflags = fin;
				run(&d);
				if (mem) {
					bool same = !memcmp(ram + G_BITS, hbits, BITS_AREA);

					expect("bit string", same, 1);
					if (!same)
						memcpy(ram + G_BITS, hbits, BITS_AREA);
				} else {
					expect("reg", c->gpr[R_RBX], want);
				}
				/* CF defined, ZF unaffected; OF SF AF PF undefined */
				expect_flags(flags_get(c), fh, X86_CF | X86_ZF);
			}
		}
	}
	/* 0F BA /0../3 are #UD. */
	{
		struct insn d = mk_reg(op_bt_rm_imm, 4, 0, R_RBX);

		cpu_reset();
		d.sub = 2;
		CHECK_EQ(run(&d), X86_UD);
	}
}

/* --- BSF BSR TZCNT LZCNT POPCNT --- */

#define HOST_SCAN(name, mn)                                                                        \
	static u64 name(unsigned size, u64 x, u64 s, u64 *fl)                                      \
	{                                                                                          \
		u64 f = *fl;                                                                       \
		BY_SIZE_W(size, HOST_SCAN_ASM, mn);                                                \
		*fl = f;                                                                           \
		return x;                                                                          \
	}
#define HOST_SCAN_ASM(mn, sfx, m)                                                                  \
	asm volatile(FIN mn sfx " %" m "[s], %" m "[x]" FOUT                                       \
		     : [x] "+r"(x), [f] "+r"(f)                                                    \
		     : [s] "r"(s)                                                                  \
		     : "cc")
HOST_SCAN(host_bsf, "bsf")
HOST_SCAN(host_bsr, "bsr")
HOST_SCAN(host_tzcnt, "tzcnt")
HOST_SCAN(host_lzcnt, "lzcnt")
HOST_SCAN(host_popcnt, "popcnt")

static void test_scan(void)
{
	static const struct {
		const char *name;
		insn_fn fn;
		u64 (*host)(unsigned, u64, u64, u64 *);
		u64 defined;
	} t[] = {
		{ "bsf", op_bsf, host_bsf, X86_ZF },
		{ "bsr", op_bsr, host_bsr, X86_ZF },
		{ "tzcnt", op_tzcnt, host_tzcnt, X86_CF | X86_ZF },
		{ "lzcnt", op_lzcnt, host_lzcnt, X86_CF | X86_ZF },
		{ "popcnt", op_popcnt, host_popcnt, X86_ARITH_FLAGS },
	};

	for (unsigned i = 0; i < ARRAY_SIZE(t); i++) {
		for (unsigned si = 1; si < 4; si++) {
			unsigned size = sizes[si];

			for (unsigned k = 0; k < 4000; k++) {
				u64 s = rnd_op(size), x = rnd(), fin = rnd_flags(), fh = fin, want;
				bool mem = k % 3 == 0;
				struct insn d;

				if (k % 5 == 0) /* sparse values: one bit, or nothing, in the
						   operand */
					s = (s & ~size_mask(size)) |
					    (k % 10 ? BIT(rnd() % (size * 8)) : 0);
				want = t[i].host(size, x, s, &fh);
				snprintf(ctx, sizeof(ctx), "%s%s s=%#" PRIx64 " x=%#" PRIx64,
					 t[i].name, size_name[size], s, x);
				cpu_reset();
				if (mem) {
					d = mk_mem(t[i].fn, size, R_RDX, G_BITS);
					memcpy(ram + G_BITS, &s, 8);
				} else {
					d = mk_reg(t[i].fn, size, R_RDX, R_RBX);
					c->gpr[R_RBX] = s;
				}
				c->gpr[R_RDX] = x;
				c->rflags = fin;
				run(&d);
				expect("dst", c->gpr[R_RDX], want);
				expect_flags(flags_get(c), fh, t[i].defined);
			}
		}
	}
}

/* --- BMI1 --- */

/* ANDN/BEXTR x = f(a = vvvv, b = r/m); BLS*: x = f(b). AT&T operand order is reversed. */
#define HOST_BMI(name, tmpl32, tmpl64)                                                             \
	static u64 name(unsigned size, u64 a, u64 b, u64 *fl)                                      \
	{                                                                                          \
		u64 f = *fl, x = 0;                                                                \
		if (size == 4)                                                                     \
			asm volatile(FIN tmpl32 FOUT                                               \
				     : [x] "+r"(x), [f] "+r"(f)                                    \
				     : [a] "r"(a), [b] "r"(b)                                      \
				     : "cc");                                                      \
		else                                                                               \
			asm volatile(FIN tmpl64 FOUT                                               \
				     : [x] "+r"(x), [f] "+r"(f)                                    \
				     : [a] "r"(a), [b] "r"(b)                                      \
				     : "cc");                                                      \
		*fl = f;                                                                           \
		return x;                                                                          \
	}
HOST_BMI(host_andn, "andn %k[b], %k[a], %k[x]", "andn %q[b], %q[a], %q[x]")
HOST_BMI(host_bextr, "bextr %k[a], %k[b], %k[x]", "bextr %q[a], %q[b], %q[x]")
HOST_BMI(host_blsr, "blsr %k[b], %k[x]", "blsr %q[b], %q[x]")
HOST_BMI(host_blsmsk, "blsmsk %k[b], %k[x]", "blsmsk %q[b], %q[x]")
HOST_BMI(host_blsi, "blsi %k[b], %k[x]", "blsi %q[b], %q[x]")

static void test_bmi1(void)
{
	static const struct {
		const char *name;
		insn_fn fn;
		u64 (*host)(unsigned, u64, u64, u64 *);
		u64 defined;
		bool to_vvvv;
	} t[] = {
		{ "andn", op_andn, host_andn, X86_SF | X86_ZF | X86_CF | X86_OF, false },
		{ "bextr", op_bextr, host_bextr, X86_ZF | X86_CF | X86_OF, false },
		{ "blsr", op_blsr, host_blsr, X86_SF | X86_ZF | X86_CF | X86_OF, true },
		{ "blsmsk", op_blsmsk, host_blsmsk, X86_SF | X86_ZF | X86_CF | X86_OF, true },
		{ "blsi", op_blsi, host_blsi, X86_SF | X86_ZF | X86_CF | X86_OF, true },
	};

	for (unsigned i = 0; i < ARRAY_SIZE(t); i++) {
		for (unsigned size = 4; size <= 8; size += 4) {
			for (unsigned k = 0; k < 5000; k++) {
				u64 a = rnd_op(size), b = rnd_op(size), fin = rnd_flags(), fh = fin;
				unsigned dreg = t[i].to_vvvv ? R_RSI : R_RDX;
				bool mem = k % 3 == 0;
				struct insn d;
				u64 want;

				if (i == 1) /* BEXTR control: start and length around the width */
					a = (a & ~0xffffull) | (rnd() % 80) | (rnd() % 80) << 8;
				want = t[i].host(size, a, b, &fh);
				snprintf(ctx, sizeof(ctx), "%s%s a=%#" PRIx64 " b=%#" PRIx64,
					 t[i].name, size_name[size], a, b);
				cpu_reset();
				if (mem) {
					d = mk_mem(t[i].fn, size, R_RDX, G_BITS);
					memcpy(ram + G_BITS, &b, 8);
				} else {
					d = mk_reg(t[i].fn, size, R_RDX, R_RBX);
					c->gpr[R_RBX] = b;
				}
				d.vvvv = t[i].to_vvvv ? R_RSI : R_R9;
				c->gpr[R_R9] = a;
				c->gpr[dreg] = rnd();
				c->rflags = fin;
				run(&d);
				expect("dst", c->gpr[dreg], want);
				expect_flags(flags_get(c), fh, t[i].defined);
			}
		}
	}
}

/* --- XADD CMPXCHG CMPXCHG8B/16B BSWAP MOVBE --- */

static void host_xadd(unsigned size, bool mem, u64 *x, u64 *s, u8 *p, u64 *fl)
{
	u64 f = *fl, xv = *x, sv = *s;

#define HOST_XADD_REG(mn, sfx, m)                                                                  \
	asm volatile(FIN mn sfx " %" m "[s], %" m "[x]" FOUT                                       \
		     : [x] "+r"(xv), [s] "+r"(sv), [f] "+r"(f)                                     \
		     :                                                                             \
		     : "cc")
#define HOST_XADD_MEM(mn, sfx, m)                                                                  \
	asm volatile(FIN mn sfx " %" m "[s], (%[p])" FOUT                                          \
		     : [s] "+r"(sv), [f] "+r"(f)                                                   \
		     : [p] "r"(p)                                                                  \
		     : "cc", "memory")
	if (mem)
		BY_SIZE(size, HOST_XADD_MEM, "xadd");
	else
		BY_SIZE(size, HOST_XADD_REG, "xadd");
	*x = xv;
	*s = sv;
	*fl = f;
}

static void host_cmpxchg(unsigned size, bool mem, u64 *rax, u64 *x, u64 s, u8 *p, u64 *fl)
{
	u64 f = *fl, a = *rax, xv = *x;

#define HOST_CX_REG(mn, sfx, m)                                                                    \
	asm volatile(FIN mn sfx " %" m "[s], %" m "[x]" FOUT                                       \
		     : [x] "+r"(xv), "+a"(a), [f] "+r"(f)                                          \
		     : [s] "r"(s)                                                                  \
		     : "cc")
#define HOST_CX_MEM(mn, sfx, m)                                                                    \
	asm volatile(FIN mn sfx " %" m "[s], (%[p])" FOUT                                          \
		     : "+a"(a), [f] "+r"(f)                                                        \
		     : [s] "r"(s), [p] "r"(p)                                                      \
		     : "cc", "memory")
	if (mem)
		BY_SIZE(size, HOST_CX_MEM, "cmpxchg");
	else
		BY_SIZE(size, HOST_CX_REG, "cmpxchg");
	*rax = a;
	*x = xv;
	*fl = f;
}

static void test_xadd_cmpxchg(void)
{
	u8 *hp = hbits + 64;
	u64 gp = G_BITS + 64;

	for (unsigned cx = 0; cx < 2; cx++) {
		for (unsigned si = 0; si < 4; si++) {
			unsigned size = sizes[si];

			for (unsigned k = 0; k < 5000; k++) {
				bool mem = k % 2;
				u64 x = rnd_op(size), s = rnd_op(size), a = rnd_op(size), mv;
				u64 fin = rnd_flags(), fh = fin, hx = x, hs = s, ha = a;
				struct insn d;

				if (k % 3 == 0) /* CMPXCHG: equal half of the time or so */
					a = ha = (a & ~size_mask(size)) | (x & size_mask(size));
				memcpy(hp, &x, 8);
				memcpy(ram + gp, &x, 8);
				if (cx)
					host_cmpxchg(size, mem, &ha, &hx, s, hp, &fh);
				else
					host_xadd(size, mem, &hx, &hs, hp, &fh);
				snprintf(ctx, sizeof(ctx),
					 "%s%s %s x=%#" PRIx64 " s=%#" PRIx64 " a=%#" PRIx64,
					 cx ? "cmpxchg" : "xadd", size_name[size],
					 mem ? "mem" : "reg", x, s, a);
				cpu_reset();
				if (mem)
					d = mk_mem(cx ? op_cmpxchg : op_xadd, size, R_RDX, gp);
				else
					d = mk_reg(cx ? op_cmpxchg : op_xadd, size, R_RDX, R_RBX);
				c->gpr[R_RBX] = x;
				c->gpr[R_RDX] = s;
				c->gpr[R_RAX] = a;
				c->rflags = fin;
				run(&d);
				if (mem) {
					u64 hm;

					memcpy(&mv, ram + gp, 8);
					memcpy(&hm, hp, 8);
					expect("mem", mv, hm);
				} else {
					expect("dst", c->gpr[R_RBX], hx);
				}
				expect("src", c->gpr[R_RDX], hs);
				expect("rax", c->gpr[R_RAX], ha);
				expect_flags(flags_get(c), fh, X86_ARITH_FLAGS);
			}
		}
	}
}

static void test_cmpxchg8b16b(void)
{
	u8 *hp = hbits + 128;
	u64 gp = G_BITS + 128;

	for (unsigned wide = 0; wide < 2; wide++) {
		for (unsigned k = 0; k < 4000; k++) {
			u64 m[2] = { rnd(), rnd() }, hm[2];
			u64 a = rnd(), dd = rnd(), b = rnd(), cc = rnd(), fin = rnd_flags(),
			    fh = fin;
			u64 ha = a, hd = dd;
			struct insn d = mk_mem(op_cmpxchg8b16b, wide ? 8 : 4, 1, gp);

			if (k % 2) { /* equal */
				if (wide) {
					m[0] = a;
					m[1] = dd;
				} else {
					m[0] = (u32)a | dd << 32;
				}
			}
			memcpy(hp, m, 16);
			memcpy(ram + gp, m, 16);
			if (wide)
				asm volatile(FIN "cmpxchg16b (%[p])" FOUT
					     : "+a"(ha), "+d"(hd), [f] "+r"(fh)
					     : "b"(b), "c"(cc), [p] "r"(hp)
					     : "cc", "memory");
			else
				asm volatile(FIN "cmpxchg8b (%[p])" FOUT
					     : "+a"(ha), "+d"(hd), [f] "+r"(fh)
					     : "b"(b), "c"(cc), [p] "r"(hp)
					     : "cc", "memory");
			snprintf(ctx, sizeof(ctx),
				 "cmpxchg%s m=%#" PRIx64 ":%#" PRIx64 " a=%#" PRIx64,
				 wide ? "16b" : "8b", m[1], m[0], a);
			cpu_reset();
			c->gpr[R_RAX] = a;
			c->gpr[R_RDX] = dd;
			c->gpr[R_RBX] = b;
			c->gpr[R_RCX] = cc;
			c->rflags = fin;
			run(&d);
			memcpy(m, ram + gp, 16);
			memcpy(hm, hp, 16);
			expect("mem lo", m[0], hm[0]);
			expect("mem hi", m[1], hm[1]);
			expect("rax", c->gpr[R_RAX], ha);
			expect("rdx", c->gpr[R_RDX], hd);
			expect_flags(flags_get(c), fh, X86_ARITH_FLAGS);
		}
	}
	{
		struct insn d = mk_mem(op_cmpxchg8b16b, 8, 1, gp + 8);

		cpu_reset();
		CHECK_EQ(run(&d), X86_GP); /* CMPXCHG16B: misaligned */
		d = mk_reg(op_cmpxchg8b16b, 4, 1, R_RBX);
		cpu_reset();
		CHECK_EQ(run(&d), X86_UD); /* register operand */
	}
}

static void test_bswap_movbe(void)
{
	for (unsigned k = 0; k < 3000; k++) {
		u64 x = rnd(), hx = x, m;
		unsigned size = sizes[1 + k % 3];
		struct insn d = mk_reg(op_bswap, size, R_R10, 0);

		snprintf(ctx, sizeof(ctx), "bswap%s %#" PRIx64, size_name[size], x);
		cpu_reset();
		c->gpr[R_R10] = x;
		run(&d);
		if (size == 2) {
			expect("bswap16 (our choice)", c->gpr[R_R10], x & ~0xffffull);
		} else {
			if (size == 4)
				asm("bswap %k0" : "+r"(hx));
			else
				asm("bswap %q0" : "+r"(hx));
			expect("bswap", c->gpr[R_R10], hx);
		}

		/* MOVBE load and store */
		m = rnd();
		memcpy(hbits, &m, 8);
		memcpy(ram + G_BITS, &m, 8);
		hx = x;
		snprintf(ctx, sizeof(ctx), "movbe%s m=%#" PRIx64 " x=%#" PRIx64, size_name[size], m,
			 x);
		switch (size) {
		case 2:
			asm volatile("movbew (%1), %w0" : "+r"(hx) : "r"(hbits) : "memory");
			break;
		case 4:
			asm volatile("movbel (%1), %k0" : "+r"(hx) : "r"(hbits) : "memory");
			break;
		default:
			asm volatile("movbeq (%1), %q0" : "+r"(hx) : "r"(hbits) : "memory");
		}
		d = mk_mem(op_movbe_r_m, size, R_R10, G_BITS);
		cpu_reset();
		c->gpr[R_R10] = x;
		run(&d);
		expect("movbe load", c->gpr[R_R10], hx);
		switch (size) {
		case 2:
			asm volatile("movbew %w0, (%1)" : : "r"(x), "r"(hbits) : "memory");
			break;
		case 4:
			asm volatile("movbel %k0, (%1)" : : "r"(x), "r"(hbits) : "memory");
			break;
		default:
			asm volatile("movbeq %q0, (%1)" : : "r"(x), "r"(hbits) : "memory");
		}
		d = mk_mem(op_movbe_m_r, size, R_R10, G_BITS);
		cpu_reset();
		c->gpr[R_R10] = x;
		run(&d);
		memcpy(&m, ram + G_BITS, 8);
		memcpy(&hx, hbits, 8);
		expect("movbe store", m, hx);
	}
	{
		struct insn d = mk_reg(op_movbe_r_m, 4, 0, R_RBX);

		cpu_reset();
		CHECK_EQ(run(&d), X86_UD);
	}
}

/* --- String instructions --- */

enum str_op { S_MOVS, S_CMPS, S_STOS, S_LODS, S_SCAS };

struct str_state {
	u64 si, di, cx, ax, f;
};

#define STR_ASM(pfx, mn)                                                                           \
	asm volatile(FIN pfx mn FOUT_CLD                                                           \
		     : "+S"(s->si), "+D"(s->di), "+c"(s->cx), "+a"(s->ax), [f] "+r"(s->f)          \
		     :                                                                             \
		     : "cc", "memory")
#define STR_SIZES(pfx, mn)                                                                         \
	do {                                                                                       \
		switch (size) {                                                                    \
		case 1:                                                                            \
			STR_ASM(pfx, mn "b");                                                      \
			break;                                                                     \
		case 2:                                                                            \
			STR_ASM(pfx, mn "w");                                                      \
			break;                                                                     \
		case 4:                                                                            \
			STR_ASM(pfx, mn "l");                                                      \
			break;                                                                     \
		default:                                                                           \
			STR_ASM(pfx, mn "q");                                                      \
		}                                                                                  \
	} while (0)
#define STR_PFX(mn)                                                                                \
	do {                                                                                       \
		if (rep == REP_NONE)                                                               \
			STR_SIZES("", mn);                                                         \
		else if (rep == REP_E)                                                             \
			STR_SIZES(".byte 0xf3\n\t", mn);                                           \
		else                                                                               \
			STR_SIZES(".byte 0xf2\n\t", mn);                                           \
	} while (0)

static void host_string(enum str_op op, unsigned size, unsigned rep, struct str_state *s)
{
	switch (op) {
	case S_MOVS:
		STR_PFX("movs");
		break;
	case S_CMPS:
		STR_PFX("cmps");
		break;
	case S_STOS:
		STR_PFX("stos");
		break;
	case S_LODS:
		STR_PFX("lods");
		break;
	default:
		STR_PFX("scas");
	}
}

static void test_string(void)
{
	static const insn_fn fn[5] = { op_movs, op_cmps, op_stos, op_lods, op_scas };
	static const char *const name[5] = { "movs", "cmps", "stos", "lods", "scas" };
	unsigned restarts = 0;

	for (unsigned i = 0; i < STR_AREA; i++)
		hstr[i] = rnd() % 32 ? 0 : (u8)rnd();
	memcpy(ram + G_STR, hstr, STR_AREA);

	for (unsigned k = 0; k < 6000; k++) {
		enum str_op op = k % 5;
		unsigned size = sizes[rnd() % 4], rep = rnd() % 3, r = rnd() % 16;
		bool down = rnd() % 2;
		u64 n = r == 0	 ? 0
			: r < 6	 ? rnd() % 16
			: r < 15 ? rnd() % 2000
				 : rnd() % (90000 / size);
		u64 bytes = n * size, span = bytes + 64, so, dof;
		struct str_state h, g;
		struct insn d = mk(fn[op], size);
		int v;

		if (!rep)
			n = 1 + rnd() % 3; /* RCX is ignored without REP; keep it anything */
		/* Offsets that keep the whole run inside the area in either direction; a quarter
		   of the runs overlap source and destination closely. */
		so = span + rnd() % (STR_AREA - 2 * span);
		dof = rnd() % 4 == 0 ? so + rnd() % 48 - 24 : span + rnd() % (STR_AREA - 2 * span);
		h.si = (u64)(uintptr_t)hstr + so;
		h.di = (u64)(uintptr_t)hstr + dof;
		h.cx = n;
		h.ax = op == S_SCAS && rnd() % 2 ? rnd() & ~0xffffull : rnd();
		h.f = rnd_flags() | (down ? X86_DF : 0);
		g = h;
		g.si = G_STR + so;
		g.di = G_STR + dof;
		host_string(op, size, rep, &h);
		snprintf(ctx, sizeof(ctx),
			 "%s%s rep=%u df=%d n=%" PRIu64 " si=%#" PRIx64 " di=%#" PRIx64, name[op],
			 size_name[size], rep, down, n, so, dof);

		cpu_reset();
		d.rep = (u8)rep;
		c->gpr[R_RSI] = g.si;
		c->gpr[R_RDI] = g.di;
		c->gpr[R_RCX] = g.cx;
		c->gpr[R_RAX] = g.ax;
		c->rflags = g.f;
		do {
			v = run(&d);
			restarts += c->rip == c->insn_rip;
		} while (v < 0 && c->rip == c->insn_rip);
		expect("fault", (u64)v, (u64)-1);
		expect("rsi", c->gpr[R_RSI] - G_STR, h.si - (u64)(uintptr_t)hstr);
		expect("rdi", c->gpr[R_RDI] - G_STR, h.di - (u64)(uintptr_t)hstr);
		expect("rcx", c->gpr[R_RCX], h.cx);
		expect("rax", c->gpr[R_RAX], h.ax);
		expect_flags(flags_get(c), h.f, X86_ARITH_FLAGS | X86_DF);
		if (memcmp(ram + G_STR, hstr, STR_AREA)) {
			expect("memory", 0, 1);
			memcpy(ram + G_STR, hstr, STR_AREA);
		} else {
			check_passed++;
		}
	}
	CHECK(restarts > 10); /* long runs went through the 64 KiB re-execution */
}

/* 16-bit addressing wraps SI/DI/CX within 64 KiB and keeps the upper register bits. */
static void test_string_asz(void)
{
	struct insn d = mk(op_movs, 1);

	cpu_reset();
	d.asz = 2;
	d.rep = REP_E;
	ram[0xffff] = 0xaa;
	ram[0x0000] = 0xbb;
	c->gpr[R_RSI] = 0x12340000ffffull;
	c->gpr[R_RDI] = 0x5678000a0000ull | 0x2000;
	c->gpr[R_RCX] = 0xabcd00000002ull;
	run(&d);
	CHECK_EQ(ram[0x2000], 0xaa);
	CHECK_EQ(ram[0x2001], 0xbb);
	CHECK_EQ(c->gpr[R_RSI], 0x123400000001ull);
	CHECK_EQ(c->gpr[R_RDI], 0x5678000a2002ull);
	CHECK_EQ(c->gpr[R_RCX], 0xabcd00000000ull);

	/* 32-bit addressing in 64-bit mode: ESI/EDI/ECX writes zero-extend. */
	d = mk(op_stos, 2);
	cpu_reset();
	d.asz = 4;
	d.rep = REP_E;
	c->gpr[R_RDI] = 0xffff00000000ull | 0x3000;
	c->gpr[R_RCX] = 0xffff00000003ull;
	c->gpr[R_RAX] = 0x1234;
	run(&d);
	CHECK_EQ(c->gpr[R_RDI], 0x3006);
	CHECK_EQ(c->gpr[R_RCX], 0);
	CHECK_EQ(ram[0x3004] | ram[0x3005] << 8, 0x1234);
}

/* Single-stepping: one iteration per execution, RIP back at the instruction until the last. */
static void test_string_single_step(void)
{
	struct insn d = mk(op_cmps, 1);
	unsigned steps = 0;

	cpu_reset();
	d.rep = REP_E;
	c->single_step = 1;
	c->gpr[R_RSI] = G_BITS;
	c->gpr[R_RDI] = G_BITS + 0x100;
	c->gpr[R_RCX] = 3;
	memset(ram + G_BITS, 0x5a, 4);
	memset(ram + G_BITS + 0x100, 0x5a, 4);
	do {
		CHECK_EQ(run(&d), -1);
		steps++;
		CHECK_EQ(c->gpr[R_RCX], 3 - steps);
	} while (c->rip == c->insn_rip && steps < 5);
	CHECK_EQ(steps, 3);
	CHECK_EQ(c->rip, c->insn_rip + d.len);
	CHECK_EQ(c->gpr[R_RSI], G_BITS + 3);
	c->single_step = 0;
}

/*
 * A fault in the middle of REP STOS (32-bit protected mode, ES limit 2007H): EDI/ECX describe the
 * two elements done, RIP the instruction; re-executed with a larger limit, it completes.
 */
static void test_string_fault(void)
{
	struct insn d = mk(op_stos, 4);

	cpu_reset();
	c->mode = MODE_PROT;
	c->code_bits = 32;
	c->lin_mask = 0xffffffffull;
	c->seg[SEG_ES] = (struct x86_segment){ .limit = 0x2007, .ar = AR_P | AR_S | 3 };
	c->seg_check = 1u << SEG_ES;
	d.asz = 4;
	d.rep = REP_E;
	c->gpr[R_RDI] = 0x2000;
	c->gpr[R_RCX] = 10;
	c->gpr[R_RAX] = 0x11223344;
	CHECK_EQ(run(&d), X86_GP);
	CHECK_EQ(c->gpr[R_RDI], 0x2008);
	CHECK_EQ(c->gpr[R_RCX], 8);
	CHECK_EQ(c->rip, c->insn_rip);
	c->seg[SEG_ES].limit = 0xffff;
	CHECK_EQ(run(&d), -1);
	CHECK_EQ(c->gpr[R_RDI], 0x2028);
	CHECK_EQ(c->gpr[R_RCX], 0);
	CHECK_EQ(ram[0x2024], 0x44);
	c->mode = MODE_LONG;
	c->code_bits = 64;
	c->lin_mask = ~0ull;
	c->seg_check = 0;
}

/* --- ops_misc.c: known answers (these do not exist in the host's 64-bit mode) --- */

static u64 run_flags(const struct insn *d, u64 fin)
{
	c->rflags = fin;
	c->lf_op = LF_NONE;
	run(d);
	return flags_get(c);
}

/*
 * The BCD instructions do not exist in 64-bit mode, so the host runs them in compatibility mode:
 * a far jump to the 32-bit user code segment (Linux: selector 23H) runs a stub in MAP_32BIT
 * memory that loads EAX and EFLAGS from a data block, executes the instruction, stores EAX and
 * EFLAGS, and far-jumps (selector 33H) to a 64-bit stub that restores RSP and returns. Kernels
 * without 32-bit support make the first far jump fault (SIGSEGV): the test then says so and
 * skips to the known answers.
 */
struct compat_data {
	u32 eax, flags, out_eax, out_flags;
	u64 saved_rsp;
};

static u8 *compat;     /* code at 0, 64-bit stub at 100H, data at 2000H, stack below 4000H */
#define COMPAT_INSN 14 /* offset of the two instruction bytes in the 32-bit stub */

static void put32(u8 *p, u32 v)
{
	memcpy(p, &v, 4);
}

static bool compat_setup(void)
{
	u32 d, c64;
	u8 *p;

	compat = mmap(NULL, 0x4000, PROT_READ | PROT_WRITE | PROT_EXEC,
		      MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT, -1, 0);
	if (compat == MAP_FAILED)
		return false;
	d = (u32)(uintptr_t)(compat + 0x2000);
	c64 = (u32)(uintptr_t)(compat + 0x100);
	p = compat;
	*p++ = 0x16; /* push ss; pop ds: DS is null in a 64-bit process */
	*p++ = 0x1f;
	*p++ = 0xa1; /* mov eax, [d] */
	put32(p, d);
	p += 4;
	*p++ = 0xff; /* push dword [d + 4]; popfd */
	*p++ = 0x35;
	put32(p, d + 4);
	p += 4;
	*p++ = 0x9d;
	*p++ = 0x90; /* COMPAT_INSN: the instruction under test */
	*p++ = 0x90;
	*p++ = 0x9c; /* pushfd; pop dword [d + 12] */
	*p++ = 0x8f;
	*p++ = 0x05;
	put32(p, d + 12);
	p += 4;
	*p++ = 0xa3; /* mov [d + 8], eax */
	put32(p, d + 8);
	p += 4;
	*p++ = 0xea; /* jmp far 33H:c64 */
	put32(p, c64);
	p += 4;
	*p++ = 0x33;
	*p++ = 0;
	p = compat + 0x100;
	*p++ = 0x48; /* mov rsp, [d + 16]; ret */
	*p++ = 0x8b;
	*p++ = 0x24;
	*p++ = 0x25;
	put32(p, d + 16);
	p += 4;
	*p++ = 0xc3;
	put32(compat + 0x2100, (u32)(uintptr_t)compat); /* far pointer 23H:stub */
	compat[0x2104] = 0x23;
	compat[0x2105] = 0;
	return true;
}

static void compat_call(void)
{
	struct compat_data *cd = (struct compat_data *)(compat + 0x2000);

	asm volatile("sub $128, %%rsp\n\t"
		     "lea 1f(%%rip), %%rax\n\t"
		     "push %%rax\n\t"
		     "mov %%rsp, (%0)\n\t"
		     "mov %2, %%rsp\n\t"
		     "ljmpl *(%1)\n"
		     "1:\tadd $128, %%rsp"
		     :
		     : "r"(&cd->saved_rsp), "r"(compat + 0x2100), "r"(compat + 0x4000)
		     : "rax", "memory", "cc");
}

static sigjmp_buf segv_jb;

static void on_sigsegv(int sig)
{
	siglongjmp(segv_jb, 1);
}

static bool compat_works(void)
{
	struct sigaction sa, old;
	bool ok = true;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_sigsegv;
	sigaction(SIGSEGV, &sa, &old);
	if (sigsetjmp(segv_jb, 1))
		ok = false;
	else
		compat_call();
	sigaction(SIGSEGV, &old, NULL);
	return ok;
}

/* Every AL (and a spread of AH) with every CF/AF, against the host in compatibility mode. */
static void test_bcd_host(void)
{
	static const struct {
		const char *name;
		insn_fn fn;
		u8 op, imm;
		u64 defined;
	} t[] = {
		{ "daa", op_daa, 0x27, 0x90, X86_ARITH_FLAGS & ~X86_OF },
		{ "das", op_das, 0x2f, 0x90, X86_ARITH_FLAGS & ~X86_OF },
		{ "aaa", op_aaa, 0x37, 0x90, X86_AF | X86_CF },
		{ "aas", op_aas, 0x3f, 0x90, X86_AF | X86_CF },
		{ "aam", op_aam, 0xd4, 10, X86_SF | X86_ZF | X86_PF },
		{ "aam 7", op_aam, 0xd4, 7, X86_SF | X86_ZF | X86_PF },
		{ "aad", op_aad, 0xd5, 10, X86_SF | X86_ZF | X86_PF },
		{ "aad 13", op_aad, 0xd5, 13, X86_SF | X86_ZF | X86_PF },
	};
	struct compat_data *cd;

	if (!compat_setup() || !compat_works()) {
		printf("ops_host: no 32-bit user code segment on this host, BCD host test skipped\n");
		return;
	}
	cd = (struct compat_data *)(compat + 0x2000);
	for (unsigned i = 0; i < ARRAY_SIZE(t); i++) {
		compat[COMPAT_INSN] = t[i].op;
		compat[COMPAT_INSN + 1] = t[i].imm;
		for (unsigned k = 0; k < 256 * 4 * 4; k++) {
			/* AL: all 256 values; CF and AF: all four; AH: random or 0 */
			u32 eax = (u32)(rnd() & ~0xffffull) | k >> 4 |
				  (u32)(k & 12 ? rnd() % 256 : 0) << 8;
			u64 fin = (rnd() & X86_ARITH_FLAGS & ~(X86_CF | X86_AF)) | X86_FIXED1 |
				  (k & 1 ? X86_CF : 0) | (k & 2 ? X86_AF : 0);
			struct insn d = mk(t[i].fn, 1);

			cd->eax = eax;
			cd->flags = (u32)fin;
			compat_call();
			snprintf(ctx, sizeof(ctx), "%s eax=%#x f=%#" PRIx64, t[i].name, eax, fin);
			cpu_reset();
			d.imm = t[i].imm;
			c->gpr[R_RAX] = eax;
			c->rflags = fin;
			run(&d);
			expect("eax", c->gpr[R_RAX], cd->out_eax);
			expect_flags(flags_get(c), cd->out_flags, t[i].defined);
		}
	}
}

static void test_bcd(void)
{
	struct insn d = mk(op_daa, 1);
	u64 f;

	/* SDM "DAA" example: ADD AL, BL with 79H + 35H = AEH, then DAA: AL = 14H, CF = 1. */
	cpu_reset();
	c->gpr[R_RAX] = 0xae;
	f = run_flags(&d, X86_FIXED1);
	CHECK_EQ(c->gpr[R_RAX], 0x14);
	CHECK(f & X86_CF);
	CHECK(f & X86_AF);
	/* SDM "DAS" example: SUB AL, BL with 35H - 47H = EEH (CF = AF = 1): DAS gives 88H, CF = 1.
	 */
	d = mk(op_das, 1);
	cpu_reset();
	c->gpr[R_RAX] = 0xee;
	f = run_flags(&d, X86_FIXED1 | X86_CF | X86_AF);
	CHECK_EQ(c->gpr[R_RAX], 0x88);
	CHECK(f & X86_CF);
	CHECK(f & X86_SF);
	/* AAA after 9 + 2: AL = 0BH -> AX = 0101H, CF = AF = 1. */
	d = mk(op_aaa, 1);
	cpu_reset();
	c->gpr[R_RAX] = 0x000b;
	f = run_flags(&d, X86_FIXED1);
	CHECK_EQ(c->gpr[R_RAX], 0x0101);
	CHECK_EQ(f & (X86_CF | X86_AF), X86_CF | X86_AF);
	/* AAS after 2 - 3 (AL = FFH, AF = 1) with AH = 2: AX = 0109H, CF = AF = 1. */
	d = mk(op_aas, 1);
	cpu_reset();
	c->gpr[R_RAX] = 0x02ff;
	f = run_flags(&d, X86_FIXED1 | X86_AF);
	CHECK_EQ(c->gpr[R_RAX], 0x0109);
	CHECK_EQ(f & (X86_CF | X86_AF), X86_CF | X86_AF);
	/* AAM 10: AL = 63 -> AH = 6, AL = 3. AAD 10: AX = 0603H -> AL = 63, AH = 0. */
	d = mk(op_aam, 1);
	d.imm = 10;
	cpu_reset();
	c->gpr[R_RAX] = 0xff3f;
	f = run_flags(&d, X86_FIXED1);
	CHECK_EQ(c->gpr[R_RAX], 0x0603);
	CHECK(!(f & X86_ZF));
	d = mk(op_aad, 1);
	d.imm = 10;
	cpu_reset();
	c->gpr[R_RAX] = 0x0603;
	f = run_flags(&d, X86_FIXED1);
	CHECK_EQ(c->gpr[R_RAX], 0x3f);
	CHECK(f & X86_PF); /* 3FH has six bits set */
	/* AAM 0 is #DE. */
	d = mk(op_aam, 1);
	cpu_reset();
	c->gpr[R_RAX] = 0x12;
	CHECK_EQ(run(&d), X86_DE);
	CHECK_EQ(c->gpr[R_RAX], 0x12);
}

static void test_misc(void)
{
	struct insn d;
	u64 f;

	/* BOUND: [lower, upper] = [-5, 100], signed. */
	d = mk_mem(op_bound, 4, R_RDX, G_BITS);
	memcpy(ram + G_BITS, &(s32[2]){ -5, 100 }, 8);
	cpu_reset();
	c->gpr[R_RDX] = (u32)-5;
	CHECK_EQ(run(&d), -1);
	cpu_reset();
	c->gpr[R_RDX] = 101;
	CHECK_EQ(run(&d), X86_BR);
	cpu_reset();
	c->gpr[R_RDX] = (u32)-6;
	CHECK_EQ(run(&d), X86_BR);

	/* ARPL: RPL 1 raised to 3, ZF = 1; then nothing to raise, ZF = 0. */
	d = mk_reg(op_arpl, 2, R_RDX, R_RBX);
	cpu_reset();
	c->mode = MODE_PROT;
	c->gpr[R_RBX] = 0xffff0011;
	c->gpr[R_RDX] = 0x0003;
	f = run_flags(&d, X86_FIXED1);
	CHECK_EQ(c->gpr[R_RBX], 0xffff0013);
	CHECK(f & X86_ZF);
	f = run_flags(&d, X86_FIXED1 | X86_ZF);
	CHECK(!(f & X86_ZF));
	c->mode = MODE_REAL;
	CHECK_EQ(run(&d), X86_UD);
	c->mode = MODE_LONG;

	/* XLAT with 16-bit addressing: BX + AL wraps at 64 KiB. */
	d = mk(op_xlat, 1);
	d.asz = 2;
	cpu_reset();
	ram[0x0005] = 0x77;
	c->gpr[R_RBX] = 0x1fff0;
	c->gpr[R_RAX] = 0x4415;
	run(&d);
	CHECK_EQ(c->gpr[R_RAX], 0x4477);

	/* LOOP with ECX (asz 4): 1 -> 0 falls through; RCX upper bits cleared by the 32-bit write.
	 */
	d = mk(op_loop, 8);
	d.len = 2;
	d.asz = 4;
	d.imm = (u64)-16;
	cpu_reset();
	c->gpr[R_RCX] = 0x500000001ull;
	run(&d);
	CHECK_EQ(c->gpr[R_RCX], 0);
	CHECK_EQ(c->rip, 0x1002);
	cpu_reset();
	c->gpr[R_RCX] = 0; /* 0 -> FFFFFFFFH: taken */
	run(&d);
	CHECK_EQ(c->gpr[R_RCX], 0xffffffff);
	CHECK_EQ(c->rip, 0x1002 - 16);
	/* LOOPE/LOOPNE follow ZF; JRCXZ tests without decrementing. */
	d.fn = op_loope;
	cpu_reset();
	c->gpr[R_RCX] = 5;
	c->rflags |= X86_ZF;
	run(&d);
	CHECK_EQ(c->rip, 0x1002 - 16);
	d.fn = op_loopne;
	cpu_reset();
	c->gpr[R_RCX] = 5;
	c->rflags |= X86_ZF;
	run(&d);
	CHECK_EQ(c->rip, 0x1002);
	CHECK_EQ(c->gpr[R_RCX], 4);
	d.fn = op_jrcxz;
	d.asz = 8;
	cpu_reset();
	c->gpr[R_RCX] = 0;
	run(&d);
	CHECK_EQ(c->rip, 0x1002 - 16);
	/* 16-bit code: the target is truncated to IP, and must lie within the CS limit. */
	d.fn = op_loop;
	d.osz = 2;
	d.asz = 2;
	d.imm = (u64)-0x2000;
	cpu_reset();
	c->code_bits = 16;
	c->seg[SEG_CS].limit = 0xffff;
	c->gpr[R_RCX] = 3;
	run(&d);
	CHECK_EQ(c->rip, 0x10000 + 0x1002 - 0x2000);
	CHECK_EQ(c->gpr[R_RCX], 2);
	c->seg[SEG_CS].limit = 0x8000;
	c->rip = 0x1000;
	CHECK_EQ(run(&d), X86_GP);
	CHECK_EQ(c->gpr[R_RCX], 2); /* not committed */
	c->code_bits = 64;
	c->seg[SEG_CS].limit = ~0u;
}

/* ENTER and LEAVE against the host, on a private stack inside the bit area's twin. */
struct stack_io {
	u64 save_sp, save_bp, sp, bp, out_sp, out_bp;
};

#define HOST_ENTER(name, insn)                                                                     \
	static void name(struct stack_io *io)                                                      \
	{                                                                                          \
		asm volatile("mov %%rsp, 0(%0)\n\tmov %%rbp, 8(%0)\n\t"                            \
			     "mov 16(%0), %%rsp\n\tmov 24(%0), %%rbp\n\t" insn "\n\t"              \
			     "mov %%rsp, 32(%0)\n\tmov %%rbp, 40(%0)\n\t"                          \
			     "mov 0(%0), %%rsp\n\tmov 8(%0), %%rbp"                                \
			     :                                                                     \
			     : "D"(io)                                                             \
			     : "memory");                                                          \
	}
HOST_ENTER(host_enter_0, "enterq $0x10, $0")
HOST_ENTER(host_enter_1, "enterq $0x20, $1")
HOST_ENTER(host_enter_3, "enterq $0x0, $3")
HOST_ENTER(host_enter_33, "enterq $0x123, $33")
HOST_ENTER(host_enterw_2, "enterw $0x8, $2")
HOST_ENTER(host_leave, "leaveq")
HOST_ENTER(host_leavew, "leavew")

static void test_enter_leave(void)
{
	static const struct {
		void (*host)(struct stack_io *);
		insn_fn fn;
		unsigned osz;
		u16 size, level;
	} t[] = {
		{ host_enter_0, op_enter, 8, 0x10, 0 }, { host_enter_1, op_enter, 8, 0x20, 1 },
		{ host_enter_3, op_enter, 8, 0, 3 },	{ host_enter_33, op_enter, 8, 0x123, 33 },
		{ host_enterw_2, op_enter, 2, 8, 2 },	{ host_leave, op_leave, 8, 0, 0 },
		{ host_leavew, op_leave, 2, 0, 0 },
	};

	for (unsigned i = 0; i < ARRAY_SIZE(t); i++) {
		for (unsigned k = 0; k < 20; k++) {
			u64 so = 4096 + 8 * (rnd() % 64), bo = so + 8 * (rnd() % 64);
			struct stack_io io = { 0 };
			struct insn d = mk(t[i].fn, t[i].osz);
			unsigned lvl = t[i].level & 31, npush = t[i].fn == op_enter ? 1 + lvl : 0;

			for (unsigned j = 0; j < BITS_AREA; j++)
				hbits[j] = (u8)rnd();
			/* Frame pointers that stay inside the area when followed. */
			memcpy(ram + G_BITS, hbits, BITS_AREA);
			io.sp = (u64)(uintptr_t)hbits + so;
			io.bp = (u64)(uintptr_t)hbits + bo;
			if (t[i].fn == op_leave)
				memcpy(hbits + bo, &(u64){ (u64)(uintptr_t)hbits + 6000 }, 8);
			memcpy(ram + G_BITS, hbits, BITS_AREA);
			t[i].host(&io);
			snprintf(ctx, sizeof(ctx),
				 "enter/leave case %u sp=%#" PRIx64 " bp=%#" PRIx64, i, so, bo);
			cpu_reset();
			d.imm = t[i].size;
			d.imm2 = t[i].level;
			c->gpr[R_RSP] = G_BITS + so;
			c->gpr[R_RBP] = G_BITS + bo;
			if (t[i].fn == op_leave)
				memcpy(ram + G_BITS + bo, &(u64){ G_BITS + 6000 }, 8);
			CHECK_EQ(run(&d), -1);
			expect("rsp", c->gpr[R_RSP] - G_BITS, io.out_sp - (u64)(uintptr_t)hbits);
			if (t[i].osz == 8)
				expect("rbp", c->gpr[R_RBP] - G_BITS,
				       io.out_bp - (u64)(uintptr_t)hbits);
			else /* 16-bit: only BP is defined relative to the area */
				expect("bp", (u16)(c->gpr[R_RBP] - G_BITS),
				       (u16)(io.out_bp - (uintptr_t)hbits));
			/* The 64-bit pushes: frame pointers are host addresses on one side and
			   guest addresses on the other, so they compare as offsets into the area.
			 */
			for (u64 off = so - 8 * npush; t[i].osz == 8 && off < so; off += 8) {
				u64 hv, gv;

				memcpy(&hv, hbits + off, 8);
				memcpy(&gv, ram + G_BITS + off, 8);
				if (hv - (uintptr_t)hbits < BITS_AREA)
					expect("stack", gv - G_BITS, hv - (uintptr_t)hbits);
				else
					expect("stack", gv, hv);
			}
		}
	}
}

/* ENTER with a 16-bit operand in 64-bit mode writes BP only (measured on hardware); 16-bit stack.
 */
static void test_enter16(void)
{
	struct insn d = mk(op_enter, 2);

	cpu_reset();
	d.imm = 8;
	c->gpr[R_RSP] = G_BITS + 0x800;
	c->gpr[R_RBP] = 0xdead00000000beefull;
	CHECK_EQ(run(&d), -1);
	CHECK_EQ(c->gpr[R_RBP], 0xdead000000000000ull | (u16)(G_BITS + 0x7fe));
	CHECK_EQ(c->gpr[R_RSP], G_BITS + 0x7fe - 8);
	CHECK_EQ(ram[G_BITS + 0x7fe] | ram[G_BITS + 0x7ff] << 8, 0xbeef);

	/* 16-bit stack (SS.B = 0): ENTER 4, 2 copies [BP - 2], SP wraps below 0; LEAVE undoes it.
	 */
	d = mk(op_enter, 2);
	d.imm = 4;
	d.imm2 = 2;
	cpu_reset();
	c->stack_bytes = 2;
	c->gpr[R_RSP] = 0xabcd00000006ull;
	c->gpr[R_RBP] = 0x11110010;
	ram[0x0e] = 0x77;
	ram[0x0f] = 0x77;
	CHECK_EQ(run(&d), -1);
	CHECK_EQ(c->gpr[R_RSP], 0xabcd0000fffcull);
	CHECK_EQ(c->gpr[R_RBP], 0x11110004);
	CHECK_EQ(ram[4] | ram[5] << 8, 0x0010); /* old BP */
	CHECK_EQ(ram[2] | ram[3] << 8, 0x7777); /* copied frame pointer */
	CHECK_EQ(ram[0] | ram[1] << 8, 0x0004); /* FrameTemp */
	d = mk(op_leave, 2);
	CHECK_EQ(run(&d), -1);
	CHECK_EQ(c->gpr[R_RSP], 0xabcd00000006ull);
	CHECK_EQ(c->gpr[R_RBP], 0x11110010);
	c->stack_bytes = 8;
}

int main(void)
{
	setup();
	test_shifts();
	test_shift_double();
	test_muldiv();
	test_imul2();
	test_bt();
	test_scan();
	test_bmi1();
	test_xadd_cmpxchg();
	test_cmpxchg8b16b();
	test_bswap_movbe();
	test_string();
	test_string_asz();
	test_string_fault();
	test_string_single_step();
	test_bcd();
	test_bcd_host();
	test_misc();
	test_enter_leave();
	test_enter16();
	return check_done("ops_host");
}
