// SPDX-License-Identifier: MIT
/*
 * cond: all 16 conditions of SETcc, CMOVcc (register and memory source; 32-bit CMOV zero-
 * extends even when false) and Jcc (short and near) for every combination of CF PF ZF SF OF,
 * against the condition table of SDM vol. 2 appendix B.1.4; LOOP/LOOPE/LOOPNE and
 * JRCXZ/JECXZ (address size picks RCX or ECX).
 */
#include "lib.h"

static bool cond_eval(int cc, u64 f)
{
	bool cf = f & RFLAGS_CF, zf = f & RFLAGS_ZF, sf = f & RFLAGS_SF, of = f & RFLAGS_OF,
	     pf = f & RFLAGS_PF, r;
	switch (cc >> 1) {
	case 0: r = of; break;
	case 1: r = cf; break;
	case 2: r = zf; break;
	case 3: r = cf || zf; break;
	case 4: r = sf; break;
	case 5: r = pf; break;
	case 6: r = sf != of; break;
	default: r = zf || sf != of; break;
	}
	return cc & 1 ? !r : r;
}

#define CC_LIST(X) X(o) X(no) X(b) X(ae) X(e) X(ne) X(be) X(a) X(s) X(ns) X(p) X(np) X(l) X(ge) X(le) X(g)
static const char *const cc_names[] = {
#define X(c) #c,
	CC_LIST(X)
#undef X
};

struct cc_result {
	u8 set, jshort, jnear;
	u64 cmov_r, cmov_m32;
};

#define X(c)                                                                                   \
	static void run_##c(u64 f, struct cc_result *r)                                        \
	{                                                                                      \
		u64 a = 0x1111, b = 0x2222, m32 = 0xffffffff00000000ull | 0x3333;              \
		u32 mem = 0x4444;                                                              \
		u8 s, js, jn;                                                                  \
		asm volatile("push %[f]; popf\n\t"                                             \
			     "set" #c " %[s]\n\t"                                              \
			     "cmov" #c "q %[b], %[a]\n\t"                                      \
			     "cmov" #c "l %[mem], %k[m32]\n\t"                                 \
			     "movb $1, %[js]\n\t"                                              \
			     "j" #c " 1f\n\t"                                                  \
			     "movb $0, %[js]\n"                                                \
			     "1: movb $1, %[jn]\n\t"                                           \
			     "j" #c " 2f\n\t"                                                  \
			     ".fill 200, 1, 0x90\n\t"                                          \
			     "movb $0, %[jn]\n"                                                \
			     "2:"                                                              \
			     : [s] "=&q"(s), [a] "+r"(a), [m32] "+r"(m32), [js] "=&q"(js),       \
			       [jn] "=&q"(jn)                                                  \
			     : [b] "r"(b), [mem] "m"(mem), [f] "r"(f)                          \
			     : "cc");                                                          \
		r->set = s;                                                                    \
		r->jshort = js;                                                                \
		r->jnear = jn;                                                                 \
		r->cmov_r = a;                                                                 \
		r->cmov_m32 = m32;                                                             \
	}
CC_LIST(X)
#undef X

static void (*const runners[16])(u64, struct cc_result *) = {
#define X(c) run_##c,
	CC_LIST(X)
#undef X
};

static void test_cc(void)
{
	static const u64 bits[5] = { RFLAGS_CF, RFLAGS_PF, RFLAGS_ZF, RFLAGS_SF, RFLAGS_OF };

	for (int cc = 0; cc < 16; cc++) {
		int bad = 0;
		for (int m = 0; m < 32; m++) {
			u64 f = 2;
			struct cc_result r;
			for (int i = 0; i < 5; i++)
				if (m >> i & 1)
					f |= bits[i];
			runners[cc](f, &r);
			bool want = cond_eval(cc, f);
			if (r.set != want || r.jshort != want || r.jnear != want ||
			    r.cmov_r != (want ? 0x2222 : 0x1111) ||
			    r.cmov_m32 != (want ? 0x4444 : 0x3333)) {
				if (!bad)
					printf("  %s flags %#llx: set %d jshort %d jnear %d cmov %#llx cmov32 %#llx want %d\n",
					       cc_names[cc], (unsigned long long)f, r.set, r.jshort, r.jnear,
					       (unsigned long long)r.cmov_r, (unsigned long long)r.cmov_m32, want);
				bad++;
			}
		}
		check(!bad, "set%s/cmov%s/j%s over 32 flag combinations (%d wrong)", cc_names[cc],
		      cc_names[cc], cc_names[cc], bad);
	}
}

static void test_loops(void)
{
	u64 c, n, fl;

	asm volatile("xor %[n], %[n]\n1: inc %[n]\n\tloop 1b" : [n] "=&r"(n), "=c"(c) : "c"(10ull));
	check(n == 10 && c == 0, "loop runs RCX times");
	asm volatile("xor %[n], %[n]\n1: inc %[n]\n\tcmp $4, %[n]\n\tloope 1b" : [n] "=&r"(n), "=c"(c) : "c"(10ull));
	check(n == 1 && c == 9, "loope exits when ZF=0 (n %llu c %llu)", (unsigned long long)n, (unsigned long long)c);
	asm volatile("xor %[n], %[n]\n1: inc %[n]\n\tcmp $4, %[n]\n\tloopne 1b" : [n] "=&r"(n), "=c"(c) : "c"(10ull));
	check(n == 4 && c == 6, "loopne exits when ZF=1 (n %llu c %llu)", (unsigned long long)n, (unsigned long long)c);
	asm volatile("xor %[n], %[n]\n1: inc %[n]\n\t.byte 0x67; loop 1b" : [n] "=&r"(n), "=c"(c) : "c"(0x100000003ull));
	check(n == 3 && (u32)c == 0, "a32 loop counts ECX only, 3 iterations (RCX %#llx)", (unsigned long long)c);
	asm volatile("mov $5, %[n]\n\tjrcxz 1f\n\tmov $7, %[n]\n1:" : [n] "=&r"(n) : "c"(0ull));
	check(n == 5, "jrcxz taken for RCX = 0");
	asm volatile("mov $5, %[n]\n\tjrcxz 1f\n\tmov $7, %[n]\n1:" : [n] "=&r"(n) : "c"(0x100000000ull));
	check(n == 7, "jrcxz not taken for RCX = 2^32");
	asm volatile("mov $5, %[n]\n\tjecxz 1f\n\tmov $7, %[n]\n1:" : [n] "=&r"(n) : "c"(0x100000000ull));
	check(n == 5, "jecxz taken for ECX = 0");
	asm volatile("push %[f]; popf\n\tloop 1f\n1: pushf; pop %[fl]" : [fl] "=r"(fl), "+c"(c) : [f] "r"(0x8d7ull));
	check((fl & 0x8d5) == 0x8d5, "loop leaves flags alone");
}

int main(void)
{
	test_cc();
	test_loops();
	return report();
}
