/* SPDX-License-Identifier: MIT */
/*
 * Guest side of the hypercall ABI (src/vmm/hypercall.h, KVM's convention: VMCALL, number in RAX,
 * arguments in RBX..., result in RAX) and the "expect exit" helper the vmexit_* tests are made
 * of: run one instruction, then ask the VMM for its record of the most recent non-VMCALL exit
 * (HC_LAST_EXIT) and for how many exits of that reason it has handled (HC_EXIT_COUNT), and check
 * reason, qualification, instruction length and RIP against the SDM (vol. 3C 28.2.1).
 *
 * Nothing that exits may run between the instruction and the queries: no printf (the UART is
 * port I/O), which is why the record is read into a struct first and checked afterwards.
 * With the word `no-exits` on the command line (tests/guests.list: append=no-exits, with the
 * controls switched off by vmx=...), EXPECT_EXIT checks the opposite: that no such exit happened.
 * Where VMCALL itself raises #UD (QEMU TCG, bare metal: no VMM speaks this ABI), the record
 * checks print SKIP and only the guest-visible behaviour is checked.
 */
#pragma once
#include "lib.h"
#include "../../src/vmm/hypercall.h"

/* Basic exit reasons, XR_<Linux name>, from the project's one list (src/arch/exit_reasons.h). */
enum {
#define X(n, name) XR_##name = n,
#include "../../src/arch/exit_reasons.h"
#undef X
};

/* Wildcard for expect_exit(): the field is not checked. */
#define XANY (~0ull)

static inline long hypercall(ulong nr, ulong a)
{
	long r;

	asm volatile("vmcall" : "=a"(r) : "a"(nr), "b"(a) : "memory");
	return r;
}

static volatile bool vmcall_ud;
static bool expect_none; /* `no-exits` on the command line */

static inline bool cmdline_has(const char *word)
{
	const struct mb_info *mb = (const struct mb_info *)mb_info;
	const char *s = mb->flags & BIT(2) ? (const char *)(ulong)mb->cmdline : "";
	size_t n = strlen(word);

	for (; *s; s++)
		if (!memcmp(s, word, n))
			return true;
	return false;
}

/* #UD on VMCALL: note it and step over the 3-byte instruction (0F 01 C1). */
static inline void vmcall_ud_handler(struct frame *f)
{
	vmcall_ud = true;
	f->rip += 3;
}

/*
 * Whether a VMM answers VMCALL with this ABI: 1 yes, 0 VMCALL raised #UD (no such VMM),
 * -1 VMCALL returned something else (a VMM that is not tollbooth, or an old one).
 */
static inline int vmm_probe(void)
{
	static int cached = -2;
	long v;

	if (cached != -2)
		return cached;
	expect_none = cmdline_has("no-exits");
	if (expect_none)
		printf("no-exits: every expected exit must not happen\n");
	set_handler(UD_VECTOR, vmcall_ud_handler);
	v = hypercall(HC_GET_VERSION, 0);
	set_handler(UD_VECTOR, NULL);
	if (vmcall_ud)
		cached = 0;
	else
		cached = v == HC_ABI_VERSION ? 1 : -1;
	if (cached == 0)
		printf("VMCALL raised #UD: no tollbooth VMM, exit records are skipped\n");
	else if (cached < 0)
		printf("VMCALL HC_GET_VERSION returned %ld, want %d\n", v, HC_ABI_VERSION);
	return cached;
}

static inline bool vmm_present(void)
{
	return vmm_probe() != 0;
}

struct exit_rec {
	u64 reason, qual, len, linear, phys, info, rip, intr_info, intr_error;
};

static inline void last_exit(struct exit_rec *e)
{
	e->reason = hypercall(HC_LAST_EXIT, HC_EXIT_REASON);
	e->qual = hypercall(HC_LAST_EXIT, HC_EXIT_QUAL);
	e->len = hypercall(HC_LAST_EXIT, HC_EXIT_INSN_LEN);
	e->linear = hypercall(HC_LAST_EXIT, HC_EXIT_GUEST_LINEAR);
	e->phys = hypercall(HC_LAST_EXIT, HC_EXIT_GUEST_PHYS);
	e->info = hypercall(HC_LAST_EXIT, HC_EXIT_INSN_INFO);
	e->rip = hypercall(HC_LAST_EXIT, HC_EXIT_RIP);
	e->intr_info = hypercall(HC_LAST_EXIT, HC_EXIT_INTR_INFO);
	e->intr_error = hypercall(HC_LAST_EXIT, HC_EXIT_INTR_ERROR);
}

static inline u64 exit_count(u32 reason)
{
	return hypercall(HC_EXIT_COUNT, reason);
}

/*
 * One PASS/FAIL line per expectation: `n` exits of `reason` happened (the count grew by n), and
 * the last one had qualification `qual`, length `len` and RIP `rip` (XANY: not checked).
 */
static inline bool expect_exit(const char *what, const struct exit_rec *e, u64 delta, u64 n,
			       u32 reason, u64 qual, u64 len, u64 rip)
{
	char why[160];
	int k = 0;

	why[0] = 0;
	if ((s64)e->reason < 0)
		return check(false, "%s: HC_LAST_EXIT answered %lld (count +%llu)", what,
			     (long long)e->reason, (unsigned long long)delta);
	if (delta != n)
		k += snprintf(why + k, sizeof(why) - k, " count +%llu want +%llu;",
			      (unsigned long long)delta, (unsigned long long)n);
	if (e->reason != reason)
		k += snprintf(why + k, sizeof(why) - k, " reason %lld want %u;",
			      (long long)e->reason, reason);
	if (qual != XANY && e->qual != qual)
		k += snprintf(why + k, sizeof(why) - k, " qual %#llx want %#llx;",
			      (unsigned long long)e->qual, (unsigned long long)qual);
	if (len != XANY && e->len != len)
		k += snprintf(why + k, sizeof(why) - k, " len %llu want %llu;",
			      (unsigned long long)e->len, (unsigned long long)len);
	if (rip != XANY && e->rip != rip)
		k += snprintf(why + k, sizeof(why) - k, " rip %#llx want %#llx;",
			      (unsigned long long)e->rip, (unsigned long long)rip);
	return check(k == 0, "%s: exit %u qual %#llx len %llu%s", what, reason,
		     (unsigned long long)e->qual, (unsigned long long)e->len, why);
}

/*
 * EXPECT_EXIT(what, reason, qual, len, stmt...): run stmt (which must exit exactly once with
 * `reason` and nothing else that exits; may use MARK_IP, then RIP is checked too; may fault),
 * leave the record in `xrec` and return the vector stmt raised or -1, like CATCH.
 */
extern struct exit_rec xrec;
#define EXPECT_EXIT(what, reason, qual, len, ...)                                          \
	({                                                                                 \
		volatile bool __vmm = vmm_present();                                       \
		expected_ip = 0; /* before the count: a shadow fill of its page must not count */ \
		volatile u64 __before = __vmm ? exit_count(reason) : 0;                            \
		int __vec = CATCH(__VA_ARGS__);                                            \
		if (__vmm && expect_none) {                                                \
			u64 __d = exit_count(reason) - __before;                           \
			memset(&xrec, 0, sizeof(xrec));                                    \
			check(__d == 0, "%s: no exit %u with the control off (count +%llu)", \
			      what, reason, (unsigned long long)__d);                      \
		} else if (__vmm) {                                                        \
			last_exit(&xrec);                                                  \
			u64 __after = exit_count(reason);                                  \
			expect_exit(what, &xrec, __after - __before, 1, reason, qual, len, \
				    expected_ip ? expected_ip : XANY);                     \
		} else {                                                                   \
			memset(&xrec, 0, sizeof(xrec));                                    \
			skip("%s: no VMM exit record", what);                              \
		}                                                                          \
		__vec;                                                                     \
	})

/*
 * EXPECT_EXIT_OPT: the same for an exit the VMM's policy may legitimately not ask for (CLTS when
 * the guest owns CR0.TS): no exit at all is a SKIP naming `why_none`; one exit is checked.
 */
#define EXPECT_EXIT_OPT(what, why_none, reason, qual, len, ...)                            \
	({                                                                                 \
		volatile bool __vmm = vmm_present();                                       \
		expected_ip = 0; /* before the count: a shadow fill of its page must not count */ \
		volatile u64 __before = __vmm ? exit_count(reason) : 0;                            \
		int __vec = CATCH(__VA_ARGS__);                                            \
		if (__vmm) {                                                               \
			last_exit(&xrec);                                                  \
			u64 __after = exit_count(reason);                                  \
			if (__after == __before)                                           \
				skip("%s: no exit (%s)", what, why_none);                  \
			else                                                               \
				expect_exit(what, &xrec, __after - __before, 1, reason,    \
					    qual, len, expected_ip ? expected_ip : XANY);  \
		} else {                                                                   \
			memset(&xrec, 0, sizeof(xrec));                                    \
			skip("%s: no VMM exit record", what);                              \
		}                                                                          \
		__vec;                                                                     \
	})

/* EXPECT_NO_EXIT(what, reason, stmt...): stmt must not exit with `reason`; returns the vector. */
#define EXPECT_NO_EXIT(what, reason, ...)                                                  \
	({                                                                                 \
		volatile bool __vmm = vmm_present();                                       \
		volatile u64 __before = __vmm ? exit_count(reason) : 0;                            \
		int __vec = CATCH(__VA_ARGS__);                                            \
		if (__vmm) {                                                               \
			u64 __d = exit_count(reason) - __before;                           \
			check(__d == 0, "%s: no exit %u (count +%llu)", what, reason,      \
			      (unsigned long long)__d);                                    \
		}                                                                          \
		__vec;                                                                     \
	})

/* Checks of the VMM's record beyond expect_exit(): nothing when there is no VMM. */
#define CHECK_REC(cond, ...)                                                               \
	do {                                                                               \
		if (vmm_present() && !expect_none)                                         \
			check(cond, __VA_ARGS__);                                          \
	} while (0)
#define CHECK_REC_EQ(got, want, name)                                                      \
	do {                                                                               \
		if (vmm_present() && !expect_none)                                         \
			check_eq(got, want, name);                                         \
	} while (0)

#define DEFINE_XREC struct exit_rec xrec
