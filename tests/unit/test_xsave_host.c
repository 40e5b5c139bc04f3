// SPDX-License-Identifier: MIT
/*
 * The host CPU as the oracle for the soft CPU's XSAVE family at ring 3 (SDM vol. 1 chapter 13):
 * XRSTOR, XGETBV (ECX = 1, XINUSE), XSAVE, XSAVEOPT and XSAVEC, with and without REX.W, on state
 * components 0 (x87) and 1 (SSE), the ones both CPUs support. The same instruction sequence runs
 * natively in this process and on the soft CPU (cpu_box.h, XCR0 = 3):
 *
 *   XRSTOR64 base with RFBM 3   (a known starting state on both)
 *   XRSTOR[64] src with RFBM m1 (the image under test: standard or compacted header, random
 *                                FCW/FSW/FTW/FOP/FIP/FDP/MXCSR/registers, sometimes invalid)
 *   XGETBV with ECX = 1         (XINUSE & XCR0; bits 1:0 compared)
 *   XSAVE[OPT|C][64] dst with RFBM m2 (dst filled with the same random bytes on both)
 *
 * then whether each faulted (#GP as SIGSEGV natively), XINUSE and the whole of dst are compared.
 * The host's own state is saved before and restored after. XINUSE is tracked by hardware and
 * computed from the registers by the soft CPU (xsave.c); both agree when an image that sets
 * XSTATE_BV[i] holds a component not in its initial configuration, which the generator ensures
 * (an image with XSTATE_BV[i] = 0 tests the initial configuration). XSAVEOPT's modified
 * optimization cannot apply: dst is never the address of the last XRSTOR (SDM vol. 1 13.6).
 *
 * The run count: TEST_XSAVE_HOST_ITERS (environment, default 20000).
 *
 * The x87 pointers (FOP, FIP, FDP, FCS, FDS) are compared as this host stores them, which
 * x87_host.h measures at the start: an AMD host writes them only while FSW.ES is set, an Intel
 * host with CPUID.(7,0):EBX[13] writes FCS and FDS as 0 (same_dst). Between the XRSTOR and the
 * XSAVE no x87 instruction runs, so an Intel host that updates FDP and FOP only on unmasked
 * exceptions holds what the XRSTOR loaded, as the model does.
 */
#include <cpuid.h>
#include <setjmp.h>
#include <signal.h>

#include "check.h"
#include "cpu_box.h"
#include "cpu/xsave.h"
#include "x87_host.h"

#define AREA   1024
#define S_BASE (BOX_DATA + 0x0000)
#define S_SRC  (BOX_DATA + 0x1000)
#define S_DST  (BOX_DATA + 0x2000)

/* clang-format off */
/* The sequence, for both CPUs: RBX base, RSI src, RDI dst, R8 m1, R9 m2; R10 gets XINUSE. */
#define SEQ(rst, sv)                                                                               \
	"mov $3, %eax\n\txor %edx, %edx\n\txrstor64 (%rbx)\n\t"                                    \
	"mov %r8d, %eax\n\t" rst " (%rsi)\n\t"                                                     \
	"mov $1, %ecx\n\txgetbv\n\tmov %rax, %r10\n\t"                                             \
	"mov %r9d, %eax\n\txor %edx, %edx\n\t" sv " (%rdi)\n\t"

#define VARIANTS(X)                                                                                \
	X(0, "xrstor", "xsave") X(1, "xrstor", "xsave64") X(2, "xrstor", "xsaveopt")              \
	X(3, "xrstor", "xsaveopt64") X(4, "xrstor", "xsavec") X(5, "xrstor", "xsavec64")          \
	X(6, "xrstor64", "xsave") X(7, "xrstor64", "xsave64") X(8, "xrstor64", "xsaveopt")        \
	X(9, "xrstor64", "xsaveopt64") X(10, "xrstor64", "xsavec") X(11, "xrstor64", "xsavec64")
#define NR_VARIANTS 12

#define GUEST(n, rst, sv)                                                                          \
	extern const u8 g_seq##n[], g_seq##n##_end[];                                              \
	asm(".pushsection .rodata\ng_seq" #n ":\n\t" SEQ(rst, sv) "\ng_seq" #n "_end:\n\t.popsection");
VARIANTS(GUEST)

static const struct {
	const u8 *code, *end;
	const char *name;
} guest[NR_VARIANTS] = {
#define ENTRY(n, rst, sv) { g_seq##n, g_seq##n##_end, rst " then " sv },
	VARIANTS(ENTRY)
#undef ENTRY
};

/*
 * Natively: u64 native_seqN(base, src, dst, m1, m2, keep) saves the host's x87 and SSE state at
 * keep (XSAVE64, RFBM 3), runs the sequence, restores the state and returns XINUSE.
 */
#define NATIVE(n, rst, sv)                                                                         \
	u64 native_seq##n(void *base, void *src, void *dst, u64 m1, u64 m2, void *keep);           \
	asm(".pushsection .text\nnative_seq" #n ":\n\t"                                           \
	    "push %rbx\n\tpush %r12\n\tmov %r9, %r12\n\tmov %rdi, %rbx\n\tmov %rdx, %rdi\n\t"     \
	    "mov %r8, %r9\n\tmov %rcx, %r8\n\t"                                                     \
	    "mov $3, %eax\n\txor %edx, %edx\n\txsave64 (%r12)\n\t" SEQ(rst, sv)                    \
	    "mov $3, %eax\n\txor %edx, %edx\n\txrstor64 (%r12)\n\t"                                \
	    "mov %r10, %rax\n\tpop %r12\n\tpop %rbx\n\tret\n\t.popsection");
VARIANTS(NATIVE)
#undef NATIVE
/* clang-format on */

static u64 (*const native[NR_VARIANTS])(void *, void *, void *, u64, u64, void *) = {
#define ENTRY(n, rst, sv) native_seq##n,
	VARIANTS(ENTRY)
#undef ENTRY
};

static u8 *keep, *h_base, *h_src, *h_dst;
static sigjmp_buf fault_jmp;

static void on_segv(int sig)
{
	(void)sig;
	siglongjmp(fault_jmp, 1);
}

/* Run variant v natively: 0 and XINUSE in *xinuse, or -1 when it faulted (SIGSEGV: the #GP);
   the host's state is then reloaded from keep, where the sequence saved it. */
static int host_run(unsigned v, u32 m1, u32 m2, u64 *xinuse)
{
	if (sigsetjmp(fault_jmp, 1)) {
		asm volatile("xrstor64 (%0)" : : "r"(keep), "a"(3), "d"(0) : "memory");
		return -1;
	}
	*xinuse = native[v](h_base, h_src, h_dst, m1, m2, keep);
	return 0;
}

static u64 rnd_state = 0x9e3779b97f4a7c15ull;

static u64 rnd(void)
{
	rnd_state ^= rnd_state << 13;
	rnd_state ^= rnd_state >> 7;
	rnd_state ^= rnd_state << 17;
	return rnd_state;
}

static void rnd_fill(u8 *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (u8)rnd();
}

static void put32(u8 *p, u32 v)
{
	memcpy(p, &v, 4);
}

static void put64(u8 *p, u64 v)
{
	memcpy(p, &v, 8);
}

/*
 * A random XSAVE area. `valid`: one XRSTOR accepts (standard or compacted header, MXCSR within
 * the mask); else sometimes one it refuses with #GP(0). A component with XSTATE_BV[i] = 1 is
 * never in its initial configuration (see the header comment).
 */
static void make_image(u8 *a, bool valid)
{
	u64 xstate_bv = rnd() & 3, xcomp_bv = 0;
	unsigned bad = valid ? 0 : (unsigned)(rnd() % 8);

	rnd_fill(a, 576);
	switch (rnd() % 4) { /* FCW: the usual values too */
	case 0:
		a[0] = 0x7f, a[1] = 0x03;
		break;
	case 1:
		a[0] = 0x7f, a[1] = 0x0f;
		break;
	}
	if (rnd() % 2)
		a[4] = (u8) - (rnd() % 2); /* abridged FTW all empty or all valid */
	put32(a + 24, rnd() % 2 ? 0x1f80 : (u32)rnd() & X86_MXCSR_MASK);
	/* FIP and FDP canonical: an AMD host keeps bits 56:0 of them only */
	put64(a + 8, (u64)((s64)(rnd() << 16) >> 16));
	put64(a + 16, (u64)((s64)(rnd() << 16) >> 16));
	if (rnd() % 4 == 0)
		memset(a + 160, 0, 256); /* XMM registers zero: SSE state initial unless below */
	if (rnd() % 3 == 0)
		memset(a + 160 + 16 * (rnd() % 16), 0, 16);
	if (xstate_bv & 1)
		a[32] |= 1; /* ST0 not 0: x87 state not initial */
	if (xstate_bv & 2)
		a[160 + 16 * (rnd() % 8)] |= 0x80; /* an XMM register not 0 */
	memset(a + 512, 0, 64);
	if (rnd() % 3 == 0)
		xcomp_bv = BIT(63) | xstate_bv | (rnd() & 3);
	switch (bad) {
	case 1: /* MXCSR reserved bit (not 17, which this host implements) */
		put32(a + 24, 0x1f80 | BIT(18 + rnd() % 14));
		break;
	case 2: /* XSTATE_BV bit outside XCR0 (host and soft) */
		xstate_bv |= BIT(63);
		break;
	case 3: /* standard: bytes 23:16 not 0; compacted: bytes 63:16 not 0 */
		a[512 + 16 + rnd() % (xcomp_bv ? 48 : 8)] = 1;
		break;
	case 4: /* compacted: XSTATE_BV outside XCOMP_BV */
		xcomp_bv = BIT(63) | (xstate_bv & 1);
		xstate_bv |= 2;
		break;
	}
	put64(a + 512, xstate_bv);
	put64(a + 520, xcomp_bv);
}

static struct box box;
static struct x87_host host;

/*
 * dst as the soft CPU wrote it against the host's, less the known differences between the host
 * and the model (an Intel CPU storing every pointer always, x87_host.h), as test_fpu_host.c has
 * them, where the host wrote the x87 state (bytes 23:0 not as before):
 *   - an AMD host (es_only) stores FOP (bytes 7:6), FIP (15:8, with FCS in the 32-bit layout)
 *     and FDP (23:16, with FDS) only while FSW.ES is set, and zeros otherwise: with ES clear, each
 *     of the three is skipped where the host wrote zeros;
 *   - an Intel host with FCS and FDS deprecated (fcs_fds_zero) stores them as 0 in the 32-bit
 *     layout (no REX.W): the model's are taken as 0 there;
 * MXCSR_MASK (bytes 31:28), the implementation's, is compared only for being written or not.
 */
static bool same_dst(const u8 *h, const u8 *s, const u8 *before, bool rexw)
{
	static const unsigned field[3][2] = { { 6, 2 }, { 8, 8 }, { 16, 8 } }; /* offset, size */
	static const u8 zeros[8];
	u8 a[AREA], b[AREA];

	memcpy(a, h, AREA);
	memcpy(b, s, AREA);
	if (memcmp(a, before, 24)) {
		if (host.es_only && !(a[2] & 0x80)) /* FSW.ES */
			for (unsigned i = 0; i < 3; i++)
				if (!memcmp(a + field[i][0], zeros, field[i][1]))
					memset(b + field[i][0], 0, field[i][1]);
		if (host.fcs_fds_zero && !rexw) {
			memset(b + 12, 0, 2);
			memset(b + 20, 0, 2);
		}
	}
	if (memcmp(a + 28, before + 28, 4)) {
		u32 m = X86_MXCSR_MASK;

		if (!memcmp(b + 28, &m, 4))
			memcpy(b + 28, a + 28, 4);
	}
	return !memcmp(a, b, AREA);
}

static void soft_run(unsigned v, u32 m1, u32 m2, int *fault, u64 *xinuse)
{
	struct cpu *c = box.c;

	c->gpr[R_RBX] = S_BASE;
	c->gpr[R_RSI] = S_SRC;
	c->gpr[R_RDI] = S_DST;
	c->gpr[R_R8] = m1;
	c->gpr[R_R9] = m2;
	c->gpr[R_R10] = 0;
	*fault = box_run(&box, guest[v].code, (size_t)(guest[v].end - guest[v].code));
	*xinuse = c->gpr[R_R10];
}

/*
 * One case on both CPUs from the inputs in place (h_base, h_src, h_dst = before, and their copies
 * in the box): whether each faulted and XINUSE in *hf, *sf, *hx, *sx; true when they agree.
 */
static bool run_case(unsigned v, u32 m1, u32 m2, const u8 *before, int *hf, int *sf, u64 *hx,
		     u64 *sx)
{
	*hx = *sx = 0;
	*hf = host_run(v, m1, m2, hx);
	soft_run(v, m1, m2, sf, sx);
	if (*sf != (*hf ? X86_GP : -1))
		return false;
	if (*hf)
		return true;
	/* An AMD host's XGETBV counts MXCSR not 1F80H in XINUSE[1] (its XSAVE does not): a
	   known difference, the model follows SDM vol. 1 13.6 (XMM registers only). */
	if ((*hx & 2) && !(*sx & 2) && (*hx & 1) == (*sx & 1) &&
	    box.c->fpu.mxcsr != X86_FPU_MXCSR_INIT)
		*hx &= ~2ull;
	return (*sx & 3) == (*hx & 3) && same_dst(h_dst, box.ram + S_DST, before, v & 1);
}

static bool host_ok(void)
{
	unsigned a, b, c, d;
	u32 lo, hi;

	if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & BIT(26)) || !(c & BIT(27)))
		return false; /* XSAVE, OSXSAVE */
	if (__get_cpuid_max(0, NULL) < 0xd)
		return false;
	__cpuid_count(0xd, 1, a, b, c, d);
	if ((a & 7) != 7)
		return false; /* XSAVEOPT, XSAVEC, XGETBV with ECX = 1 */
	asm volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
	return (lo & 3) == 3;
}

int main(void)
{
	const char *env = getenv("TEST_XSAVE_HOST_ITERS");
	unsigned long iters = env ? strtoul(env, NULL, 0) : 20000;
	unsigned long reported = 0, host_noise = 0;
	static u8 before[AREA];
	struct sigaction sa = { .sa_handler = on_segv };

	if (!host_ok()) {
		printf("test_xsave_host: 0 passed, 0 failed (host without XSAVE, XSAVEOPT, XSAVEC or "
		       "XGETBV1 enabled: skipped)\n");
		return 0;
	}
	keep = aligned_alloc(64, 4 * 4096);
	if (!keep)
		abort();
	memset(keep, 0, 4 * 4096);
	h_base = keep + 4096;
	h_src = keep + 2 * 4096;
	h_dst = keep + 3 * 4096;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_NODEFER;
	sigaction(SIGSEGV, &sa, NULL);

	host = x87_host_probe("test_xsave_host");
	box_init(&box);
	box.c->cr4 |= CR4_OSXSAVE;
	CHECK_EQ(cpu_set_xcr0(box.c, 3), 0);

	for (unsigned long i = 0; i < iters; i++) {
		unsigned v = (unsigned)(rnd() % NR_VARIANTS);
		u32 m1 = (u32)(rnd() & 3), m2 = (u32)(rnd() & 3);
		int hf, sf;
		u64 hx = 0, sx = 0;
		bool agree;

		make_image(h_base, true);
		make_image(h_src, rnd() % 8 != 0);
		rnd_fill(h_dst, AREA);
		memcpy(before, h_dst, AREA);
		memcpy(box.ram + S_BASE, h_base, AREA);
		memcpy(box.ram + S_SRC, h_src, AREA);
		memcpy(box.ram + S_DST, h_dst, AREA);
		/* A difference must happen again, three times: the host's XINUSE[1] is now and then
		   set with the SSE state initial (about 3 runs in 10^5 on an Intel Xeon, after the
		   kernel or a hypervisor saved and restored the state between the XRSTOR and the
		   XGETBV or XSAVE, presumably), which SDM vol. 1 13.6 allows (XINUSE[i] = 1 does
		   not say the component is not initial); then XSAVEOPT and XSAVEC write SSE state
		   too. */
		agree = run_case(v, m1, m2, before, &hf, &sf, &hx, &sx);
		for (unsigned again = 0; !agree && again < 3; again++) {
			memcpy(h_dst, before, AREA);
			memcpy(box.ram + S_DST, before, AREA);
			if (run_case(v, m1, m2, before, &hf, &sf, &hx, &sx)) {
				host_noise++;
				agree = true;
			}
		}
		CHECK_EQ(sf, hf ? X86_GP : -1);
		if (sf != (hf ? X86_GP : -1))
			goto report;
		if (hf)
			continue;
		CHECK_EQ(sx & 3, hx & 3);
		CHECK(same_dst(h_dst, box.ram + S_DST, before, v & 1));
		if (agree)
			continue;
	report:
		if (reported++ < 5) {
			u64 h[8];

			memcpy(h, h_src + 512, sizeof(h));
			printf("  src: MXCSR %08x XSTATE_BV %016llx XCOMP_BV %016llx, rest %s\n",
			       *(const u32 *)(h_src + 24), (unsigned long long)h[0],
			       (unsigned long long)h[1],
			       h[2] | h[3] | h[4] | h[5] | h[6] | h[7] ? "not 0" : "0");
			printf("divergence %lu: %s, m1 %u, m2 %u, host %s xinuse %llx, soft %d xinuse "
			       "%llx\n",
			       i, guest[v].name, m1, m2, hf ? "#GP" : "ok", (unsigned long long)hx,
			       sf, (unsigned long long)sx);
			for (unsigned o = 0; o < AREA; o++)
				if (box.ram[S_DST + o] != h_dst[o] &&
				    (o == 0 || box.ram[S_DST + o - 1] == h_dst[o - 1]))
					printf("  from dst+%u: host %02x soft %02x (before %02x)\n",
					       o, h_dst[o], box.ram[S_DST + o], before[o]);
		}
	}
	box_free(&box);
	free(keep);
	printf("test_xsave_host: %lu runs, %lu host results not reproduced\n", iters, host_noise);
	return check_done("test_xsave_host");
}
