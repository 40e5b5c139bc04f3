// SPDX-License-Identifier: MIT
/* Exit reason names, generated from the one list in arch/exit_reasons.h. */
#include "vmx/exit.h"

static const char *const exit_reason_names[EXIT_REASON_MAX] = {
#define X(n, name) [n] = #name,
#include "arch/exit_reasons.h"
#undef X
};

const char *exit_reason_name(u32 reason)
{
	u32 basic = reason & 0xffff;

	if (basic < EXIT_REASON_MAX && exit_reason_names[basic])
		return exit_reason_names[basic];
	return "UNKNOWN";
}
