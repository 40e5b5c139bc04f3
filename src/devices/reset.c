// SPDX-License-Identifier: MIT
/* Port 0x92 and the 0xcf9 reset control register (ICH PORT92 and RST_CNT; see reset.h). */
#include "devices/reset.h"

#define P92_INIT_NOW BIT(0)
#define P92_A20	     BIT(1)
#define P92_BITS     (P92_INIT_NOW | P92_A20) /* bits 7:2 reserved, read 0 */

#define RC_SYS_RST  BIT(1)
#define RC_RST_CPU  BIT(2)
#define RC_FULL_RST BIT(3)
#define RC_BITS	    (RC_SYS_RST | RC_RST_CPU | RC_FULL_RST) /* bits 7:4 and 0 reserved */

/* A one-byte register; the bytes of a wider read above it float. */
static u64 reset_read_byte(u8 v, unsigned len)
{
	return ((len >= 8 ? ~0ull : (1ull << (8 * len)) - 1) & ~0xffull) | v;
}

void reset_port92_access(void *opaque, u64 offset, u64 *data, unsigned len, bool is_write)
{
	struct reset_ctl *r = opaque;
	u8 old = r->port92, v;

	if (!is_write) {
		*data = reset_read_byte(r->port92, len);
		return;
	}
	v = (u8)*data & P92_BITS;
	r->port92 = v;
	if ((v ^ old) & P92_A20 && r->host.a20)
		r->host.a20(r->host.opaque, v & P92_A20);
	/* INIT_NOW: "When this bit transitions from a 0 to a 1, the ICH will force INIT# active".
	 */
	if ((v & P92_INIT_NOW) && !(old & P92_INIT_NOW) && r->host.reset)
		r->host.reset(r->host.opaque, RESET_INIT);
}

void reset_cf9_access(void *opaque, u64 offset, u64 *data, unsigned len, bool is_write)
{
	struct reset_ctl *r = opaque;
	u8 old = r->rst_cnt, v;

	if (!is_write) {
		*data = reset_read_byte(r->rst_cnt, len);
		return;
	}
	v = (u8)*data & RC_BITS;
	r->rst_cnt = v;
	/* RST_CPU 0->1 starts the reset SYS_RST selects; FULL_RST makes it a power cycle. */
	if ((v & RC_RST_CPU) && !(old & RC_RST_CPU) && r->host.reset)
		r->host.reset(r->host.opaque,
			      v & (RC_SYS_RST | RC_FULL_RST) ? RESET_HARD : RESET_INIT);
}

bool reset_ctl_a20(const struct reset_ctl *r)
{
	return r->port92 & P92_A20;
}

void reset_ctl_reset(struct reset_ctl *r)
{
	r->port92 = 0;
	r->rst_cnt = 0;
}

void reset_ctl_init(struct reset_ctl *r, const struct reset_host *host)
{
	r->host = *host;
	reset_ctl_reset(r);
}
