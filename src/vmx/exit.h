/* SPDX-License-Identifier: MIT */
/* Names of the basic exit reasons (SDM vol. 3D appendix C), for reports and traces. The reasons
   and the exit record are architectural: arch/vmx.h. */
#pragma once
#include "arch/vmx.h"

const char *exit_reason_name(u32 reason); /* "CPUID", ...; "UNKNOWN" for gaps */
