// SPDX-License-Identifier: MIT
/* MMIO instruction decoding and emulation for EPT violations: see mmio.h. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>

#include "vmm/mmio.h"
#include "vmm/vm.h"

/* Bytes of ModRM + SIB + displacement from the ModRM byte at b[0] (SDM vol. 2A 2.1.5). */
static int mmio_modrm_len(const u8 *b, size_t n, unsigned addr_size)
{
	u8 mod = b[0] >> 6, rm = b[0] & 7;
	int len = 1;

	if (mod == 3)
		return -EINVAL; /* a register operand: no memory access, cannot be the fault */
	if (addr_size == 2)	/* 16-bit addressing (Table 2-1) */
		return len + (mod == 1 ? 1 : mod == 2 || (mod == 0 && rm == 6) ? 2 : 0);
	if (rm == 4) { /* SIB (Table 2-3): base 5 with mod 0 means disp32 and no base */
		if (n < 2)
			return -EAGAIN;
		len++;
		if (mod == 0 && (b[1] & 7) == 5)
			len += 4;
	} else if (mod == 0 && rm == 5) {
		len += 4; /* disp32, RIP-relative in 64-bit mode (2.2.1.6) */
	}
	return len + (mod == 1 ? 1 : mod == 2 ? 4 : 0);
}

int mmio_decode(const u8 *bytes, size_t n, enum mmio_mode mode, struct mmio_insn *insn)
{
	bool opsize_prefix = false, addrsize_prefix = false;
	unsigned opsize, addr_size, imm_size = 0;
	size_t i = 0;
	u8 rex = 0, op;
	int modrm_len = 0;

	*insn = (struct mmio_insn){ 0 };
	/* Legacy prefixes in any order (SDM vol. 2A 2.1.1); LOCK/REP forms are not MMIO moves. */
	for (;; i++) {
		if (i >= n)
			return -EAGAIN;
		if (i >= MMIO_INSN_MAX)
			return -EINVAL;
		if (bytes[i] == 0x66)
			opsize_prefix = true;
		else if (bytes[i] == 0x67)
			addrsize_prefix = true;
		else if (bytes[i] != 0x26 && bytes[i] != 0x2e && bytes[i] != 0x36 &&
			 bytes[i] != 0x3e && bytes[i] != 0x64 && bytes[i] != 0x65)
			break;
	}
	/* REX must come last, immediately before the opcode (2.2.1). */
	if (mode == MMIO_MODE64 && (bytes[i] & 0xf0) == 0x40) {
		rex = bytes[i++];
		if (i >= n)
			return -EAGAIN;
	}
	if (rex & 8)
		opsize = 8;
	else
		opsize = (mode == MMIO_MODE16) != opsize_prefix ? 2 : 4;
	if (mode == MMIO_MODE64)
		addr_size = addrsize_prefix ? 4 : 8;
	else
		addr_size = (mode == MMIO_MODE16) != addrsize_prefix ? 2 : 4;

	op = bytes[i++];
	if (op == 0x0f) {
		if (i >= n)
			return -EAGAIN;
		op = bytes[i++];
		if (op != 0xb6 && op != 0xb7 && op != 0xbe && op != 0xbf)
			return -EINVAL;
		/* MOVZX/MOVSX r, r/m8 or r/m16 (vol. 2B MOVZX, MOVSX) */
		insn->size = op & 1 ? 2 : 1;
		insn->reg_size = opsize;
		insn->sign_extend = op >= 0xbe;
		modrm_len = 1;
	} else {
		switch (op) {
		case 0x88: /* MOV r/m8, r8 */
		case 0x89: /* MOV r/m, r */
		case 0x8a: /* MOV r8, r/m8 */
		case 0x8b: /* MOV r, r/m */
			insn->write = op <= 0x89;
			insn->size = op & 1 ? opsize : 1;
			insn->reg_size = insn->size;
			modrm_len = 1;
			break;
		case 0xc6: /* MOV r/m8, imm8 */
		case 0xc7: /* MOV r/m, imm16/32 (imm32 sign-extended with REX.W) */
			insn->write = true;
			insn->has_imm = true;
			insn->size = op & 1 ? opsize : 1;
			imm_size = insn->size == 8 ? 4 : insn->size;
			modrm_len = 1;
			break;
		case 0xa0: /* MOV AL, moffs8 */
		case 0xa1: /* MOV eAX, moffs */
		case 0xa2: /* MOV moffs8, AL */
		case 0xa3: /* MOV moffs, eAX */
			insn->write = op >= 0xa2;
			insn->size = op & 1 ? opsize : 1;
			insn->reg_size = insn->size;
			insn->reg = 0; /* the accumulator; REX.B does not apply */
			if (i + addr_size > n)
				return -EAGAIN;
			i += addr_size;
			break;
		default:
			return -EINVAL;
		}
	}
	if (modrm_len) {
		u8 modrm;

		if (i >= n)
			return -EAGAIN;
		modrm = bytes[i];
		modrm_len = mmio_modrm_len(&bytes[i], n - i, addr_size);
		if (modrm_len < 0)
			return modrm_len;
		if (insn->has_imm && (modrm >> 3 & 7))
			return -EINVAL; /* C6/C7 with reg != 0 is not MOV */
		insn->reg = (modrm >> 3 & 7) | (rex & 4 ? 8 : 0);
		i += modrm_len;
	}
	if (i + imm_size > n)
		return i + imm_size > MMIO_INSN_MAX ? -EINVAL : -EAGAIN;
	for (unsigned k = 0; k < imm_size; k++)
		insn->imm |= (u64)bytes[i + k] << (8 * k);
	if (imm_size == 4 && insn->size == 8)
		insn->imm = (u64)(s64)(s32)insn->imm;
	i += imm_size;
	if (i > MMIO_INSN_MAX)
		return -EINVAL;
	/* Byte registers 4-7 are AH, CH, DH, BH unless a REX prefix is present (2.2.1.2). */
	insn->high8 = !insn->has_imm && !rex && insn->size == 1 && insn->reg_size == 1 &&
		      insn->reg >= 4 && insn->reg <= 7;
	insn->len = (u8)i;
	return 0;
}

static u64 mmio_mask(unsigned size)
{
	return size >= 8 ? ~0ull : (1ull << (8 * size)) - 1;
}

u64 mmio_reg_merge(const struct mmio_insn *insn, u64 old, u64 data)
{
	u64 mask;

	data &= mmio_mask(insn->size);
	if (insn->sign_extend && (data & (1ull << (8 * insn->size - 1))))
		data |= ~mmio_mask(insn->size);
	if (insn->high8)
		return (old & ~0xff00ull) | (data & 0xff) << 8;
	if (insn->reg_size == 4)
		return (u32)data; /* 32-bit destinations zero-extend (SDM vol. 1 3.4.1.1) */
	mask = mmio_mask(insn->reg_size);
	return (old & ~mask) | (data & mask);
}

u64 mmio_reg_value(const struct mmio_insn *insn, u64 reg)
{
	if (insn->high8)
		return (reg >> 8) & 0xff;
	return reg & mmio_mask(insn->size);
}

static enum mmio_mode mmio_mode_of(const struct x86_sregs *s)
{
	if (!(s->cr0 & CR0_PE))
		return MMIO_MODE16;
	if ((s->efer & EFER_LMA) && (s->seg[SEG_CS].ar & AR_L))
		return MMIO_MODE64;
	return s->seg[SEG_CS].ar & AR_DB ? MMIO_MODE32 : MMIO_MODE16;
}

/* Fetch up to MMIO_INSN_MAX bytes at CS:RIP, fewer when the next page is not mapped. */
static size_t mmio_fetch(struct vcpu *vcpu, const struct x86_sregs *s, u64 rip, enum mmio_mode mode,
			 u8 *buf)
{
	const struct backend_ops *b = vcpu->vm->backend;
	u64 lin = mode == MMIO_MODE64 ? rip : (u32)(s->seg[SEG_CS].base + rip);
	size_t n;

	if (!b->read_guest_virt)
		return 0;
	if (!b->read_guest_virt(vcpu, lin, buf, MMIO_INSN_MAX))
		return MMIO_INSN_MAX;
	for (n = 0; n < MMIO_INSN_MAX; n++)
		if (b->read_guest_virt(vcpu, lin + n, buf + n, 1))
			break;
	return n;
}

int mmio_emulate(struct vcpu *vcpu, const struct vm_exit *exit)
{
	const struct backend_ops *b = vcpu->vm->backend;
	struct mmio_insn insn;
	struct x86_sregs s;
	struct x86_regs r;
	u8 bytes[MMIO_INSN_MAX];
	char hex[3 * MMIO_INSN_MAX + 1] = "";
	enum mmio_mode mode;
	unsigned gpr;
	size_t n;
	u64 data = 0;
	/* EPT-violation qualification bit 1: the access was a data write (SDM 28.2.1, Table 28-7).
	 */
	bool qual_write = exit->qual & BIT(1);

	b->get_regs(vcpu, &r);
	b->get_sregs(vcpu, &s);
	mode = mmio_mode_of(&s);
	n = mmio_fetch(vcpu, &s, r.rip, mode, bytes);
	if (mmio_decode(bytes, n, mode, &insn)) {
		for (size_t i = 0, pos = 0; i < n && i < 8; i++)
			pos += (size_t)snprintf(hex + pos, sizeof(hex) - pos, "%s%02x",
						i ? " " : "", bytes[i]);
		vm_request_stop(vcpu->vm, EXIT_STATUS_STOPPED,
				"MMIO at GPA %#" PRIx64
				": cannot emulate the instruction at RIP %#" PRIx64
				" (bytes: %s%s)",
				exit->guest_phys, r.rip, n ? hex : "unreadable",
				n > 8 ? " ..." : "");
		return 0;
	}
	if (insn.write != qual_write) {
		vm_request_stop(vcpu->vm, EXIT_STATUS_STOPPED,
				"MMIO at GPA %#" PRIx64 ": the instruction at RIP %#" PRIx64
				" is a %s but the EPT violation reports a %s",
				exit->guest_phys, r.rip, insn.write ? "write" : "read",
				qual_write ? "write" : "read");
		return 0;
	}
	gpr = insn.high8 ? insn.reg - 4u : insn.reg;
	if (insn.write)
		data = insn.has_imm ? insn.imm : mmio_reg_value(&insn, r.gpr[gpr]);
	bus_dispatch(&vcpu->vm->mmio, exit->guest_phys, &data, insn.size, insn.write);
	if (!insn.write)
		r.gpr[gpr] = mmio_reg_merge(&insn, r.gpr[gpr], data);
	r.rip += insn.len;
	if (mode != MMIO_MODE64)
		r.rip = (u32)r.rip;
	b->set_regs(vcpu, &r);
	return 0;
}
