/* SPDX-License-Identifier: MIT */
/*
 * What this host's x87 does with its last-instruction pointers, for the tests that take the host
 * as the oracle of the soft CPU's x87 (test_fpu_host, test_xsave_host). The soft CPU models an
 * Intel CPU that sets FIP and FCS, FOP, and with a memory operand FDP and FDS, at every
 * non-control instruction, and stores them in every image (SDM vol. 1 8.1.8, 8.1.9, with the FOP
 * compatibility mode on). The hosts CI may run on differ from it, and from each other:
 *
 *   es_only       AMD (as seen on an EPYC): FXSAVE and the XSAVE family write FOP, FIP and FDP
 *                 (with FCS and FDS) only while FSW.ES is set, and zeros otherwise; FNSTENV and
 *                 FNSAVE store them always, and the registers themselves are updated as the
 *                 model updates them.
 *   fdp_exc_only  Intel, CPUID.(EAX=7,ECX=0):EBX[6] (FDP_EXCPTN_ONLY, SDM vol. 1 8.1.8): FDP and
 *                 FDS are updated only by a non-control instruction that incurs an unmasked
 *                 exception; otherwise they keep what they held (from an earlier exception, or
 *                 loaded by FLDENV, FRSTOR, FXRSTOR, XRSTOR; 0 after FNINIT).
 *   fop_exc_only  Intel with the FOP compatibility mode off (IA32_MISC_ENABLE[2] = 0, the
 *                 default; SDM vol. 1 8.1.9): FOP likewise, only after an unmasked exception.
 *   fcs_fds_zero  Intel, CPUID.(EAX=7,ECX=0):EBX[13] (SDM vol. 1 8.1.8): FCS and FDS deprecated,
 *                 stored as 0 in every image.
 *
 * FIP is updated at every non-control instruction everywhere. The properties are measured
 * (x87_host_probe), not read from CPUID: what the comparisons need is what the host does, and a
 * hypervisor may hide the CPUID bits (the Intel Xeon this was written on has both bits set and
 * does what they say). The measurement: FLDENV an environment with marker pointers, all
 * exceptions masked, then FLD m64 (no exception), then FNSTENV, FXSAVE64: a host whose FNSTENV
 * image still has the marker FDP (FOP) did not update it, an FCS of 0 there (CS is 33H) is a
 * deprecated FCS, and an FXSAVE64 image with FIP 0 is an es_only host.
 */
#pragma once
#include <cpuid.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

struct x87_host {
	bool es_only, fdp_exc_only, fop_exc_only, fcs_fds_zero;
};

#define X87_PROBE_FIP 0x11111111u
#define X87_PROBE_FOP 0x123u
#define X87_PROBE_FDP 0x22222222u

/*
 * One measurement; false when it was disturbed: the FNSTENV image must hold the FLD's own offset
 * as FIP, which an AMD host loses when the kernel saves and restores the state (with ES clear,
 * as zeros) between the two instructions.
 */
static inline bool x87_host_measure(struct x87_host *h)
{
	static uint32_t env[7], out[7];
	static uint8_t fx[512] __attribute__((aligned(64))), keep[512] __attribute__((aligned(64)));
	static const double one = 1.0;
	uint64_t fld_at, fx_fip;

	env[0] = 0xffff037f; /* FCW: all masked, 64-bit precision */
	env[1] = 0xffff0000; /* FSW: no flags, TOP 0 */
	env[2] = 0xffffffff; /* FTW: all empty */
	env[3] = X87_PROBE_FIP;
	env[4] = X87_PROBE_FOP << 16; /* FCS 0 */
	env[5] = X87_PROBE_FDP;
	env[6] = 0xffff0000; /* FDS 0 */
	__asm__ volatile("fxsave64 %[keep]\n\t"
			 "fldenv %[env]\n\t"
			 "lea 1f(%%rip), %[at]\n"
			 "1:\tfldl %[one]\n\t"
			 "fnstenv %[out]\n\t"
			 "fxsave64 %[fx]\n\t"
			 "fxrstor64 %[keep]"
			 : [at] "=&r"(fld_at), [out] "=m"(out), [fx] "=m"(fx), [keep] "+m"(keep)
			 : [env] "m"(env), [one] "m"(one)
			 : "memory");
	memcpy(&fx_fip, fx + 8, 8);
	if (out[3] != (uint32_t)fld_at)
		return false;
	h->es_only = fx_fip == 0;
	h->fdp_exc_only = out[5] == X87_PROBE_FDP;
	h->fop_exc_only = ((out[4] >> 16) & 0x7ff) == X87_PROBE_FOP;
	h->fcs_fds_zero = (out[4] & 0xffff) == 0;
	return true;
}

/* The host's behaviour, measured until one measurement is undisturbed (the first, nearly always),
   and said on stdout with the CPUID bits beside it. */
static inline struct x87_host x87_host_probe(const char *test)
{
	struct x87_host h = { 0 };
	unsigned a = 0, b = 0, c = 0, d = 0;

	for (unsigned i = 0; i < 1000 && !x87_host_measure(&h); i++)
		;
	if (__get_cpuid_max(0, NULL) >= 7)
		__cpuid_count(7, 0, a, b, c, d);
	printf("%s: host x87 pointers: %s, FDP %s, FOP %s, FCS/FDS %s (CPUID.7:EBX[6] %u, [13] %u)\n",
	       test,
	       h.es_only ? "FXSAVE/XSAVE store FOP/FIP/FDP only with FSW.ES" : "always stored",
	       h.fdp_exc_only ? "on unmasked exceptions only" : "at every access",
	       h.fop_exc_only ? "on unmasked exceptions only" : "at every instruction",
	       h.fcs_fds_zero ? "stored as 0" : "stored", (b >> 6) & 1, (b >> 13) & 1);
	return h;
}
