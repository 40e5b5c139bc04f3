/* SPDX-License-Identifier: MIT */
/*
 * The execution engine: CPU objects, the run loop, the decoded-block cache, and the entry points
 * for faults and VM exits.
 *
 * Blocks. Code is decoded once into blocks of at most BLOCK_MAX_INSNS instructions that end at a
 * control transfer (INSN_END_BLOCK) or at the end of a page. A block is cached by the
 * physical address (host-physical under EPT) of its first byte (phash) and reached through a
 * jump cache keyed by the linear address of the first byte, the code size and whether CPL is 3
 * (the U/S, NX and SMEP checks of the fetch were made for that privilege). The jump cache holds
 * translations, so it is flushed with the TLB (bc_flush_jump_cache); the physical cache survives
 * address-space switches.
 *
 * Self-modifying code (SDM vol. 3A 11.6). Every RAM page that holds decoded code has a non-empty
 * block list. The MMU never gives such a page a fast write tag, so every write to it reaches
 * mmu_write_slow, which calls bc_code_written: the page's blocks are dropped and the running
 * block stops after the current instruction, so the next one is decoded from the new bytes.
 * With several vCPUs the knowledge "this page holds code" is the VM's (cpu_config.code_pages):
 * a page one vCPU decoded is write-protected in every vCPU's TLB, and a write by any of them
 * drops the blocks of all (through the VMM's code_written callback). Writes by the VMM and its
 * devices (DMA) go through the VMM's guest-memory write, which calls cpu_invalidate_code on
 * every vCPU (vm_write_phys, devices/guest_mem.h).
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "cpu/fpu.h"
#include "cpu/internal.h"
#include "cpu/sse.h"

#define BLOCK_MAX_INSNS 64
#define PH_BITS 16
#define PH_SIZE (1u << PH_BITS)
#define ARENA_SIZE (64ull << 20)
#define NO_PAGE (~0ull)


struct blockcache {
	u8 *arena;
	size_t used;
	struct block *jc[JC_SIZE];
	/* Linear pages that jc may hold blocks of (bit jc_page_bit()), the page after each
	   block's first included (a block may cross into it): an INVLPG of any other page leaves
	   jc alone (bc_flush_jump_cache_page). A hashed 16384-bit filter: Linux's hot code spans
	   hundreds of pages, and with 256 bits of page number every INVLPG emptied jc (46,000
	   times in one boot, 6 M blocks looked up again). */
#define JC_PAGE_BITS 14
	u64 jc_pages[(1u << JC_PAGE_BITS) / 64];
	/* jc slots set since the last flush, JC_TRACK at most (more: jc_nfilled only counts), so
	   that flushing a nearly empty jc (nested VMX's every exit) writes only those. */
#define JC_TRACK 256
	u16 jc_filled[JC_TRACK];
	/* jc slots whose block was fetched through global translations (every page it spans):
	   MOV CR3 keeps them (bc_flush_jump_cache_nonglobal). Meaningful while the slot is set. */
	u64 jc_global[JC_SIZE / 64];
	unsigned jc_nfilled;
	struct block *ph[PH_SIZE];
	struct block **page_head; /* per RAM page: blocks with bytes in it; non-NULL = code page */
	u64 npages;
	/* a block decoded from MMIO (never cached) */
	struct block *scratch;
	const struct insn *blk_end; /* end of the running block, for icount on faults */
	struct jit *jit;	    /* NULL: interpret only */
	unsigned jit_threshold;	    /* compile a block when it starts this often; 0 never */
};

static inline unsigned ph_index(u64 gpa, u32 code_bits)
{
	return (unsigned)(((gpa >> 2) ^ (gpa >> (PH_BITS + 2)) ^ code_bits) & (PH_SIZE - 1));
}

/* --- Faults and exits --- */

static inline bool vector_has_error(u8 v)
{
	/* SDM vol. 3A 6.3.1 Table 6-1. */
	return v == X86_DF_VEC || (v >= X86_TS && v <= X86_PF_VEC) || v == X86_AC_VEC || v == X86_CP;
}

/* The block's instructions from the one executing on did not retire (a fault or exit leaves
   the block): off icount, and off the compiled count when compiled code was running. The
   block is left: in_jit goes too. */
static inline void icount_unretire_from(struct cpu *c, const struct insn *from)
{
	if (from) {
		c->icount -= (u64)(c->bc->blk_end - from);
		if (c->in_jit)
			c->jit_stats.compiled -= (u64)(c->bc->blk_end - from);
	}
	c->insn = NULL;
	c->in_jit = 0;
}

/* The instruction being executed did not retire. */
static inline void icount_unretire(struct cpu *c)
{
	icount_unretire_from(c, c->insn);
}

noreturn void cpu_fault(struct cpu *c, u8 vector, u32 error)
{
	c->rip = c->insn_rip;
	icount_unretire(c);
	c->fault_vector = vector;
	c->fault_error = vector_has_error(vector) ? error : 0;
	cpu_longjmp(c->jb);
}

noreturn void cpu_page_fault(struct cpu *c, u64 lin, u32 err)
{
	c->fault_cr2 = lin;
	cpu_fault(c, X86_PF_VEC, err);
}

noreturn void cpu_vmexit(struct cpu *c, u32 reason, u64 qual)
{
	struct vm_exit *e = c->exit;

	c->rip = c->insn_rip;
	if (c->fault_depth) {
		/* The exit interrupted an event delivery (SDM vol. 3C 27.2.4). */
		e->idt_vectoring_info = c->inject.vector | (u32)c->inject.type << 8 |
					(c->inject.has_error ? INTR_INFO_DELIVER_CODE : 0) |
					INTR_INFO_VALID;
		e->idt_vectoring_error = c->inject.error;
		if (c->inject.type >= INTR_TYPE_SOFT_INTR)
			e->insn_len = c->inject.insn_len;
		c->fault_depth = 0;
	}
	e->reason = reason;
	e->qual = qual;
	e->rip = c->insn_rip;
	if (!e->insn_len && c->insn)
		e->insn_len = c->insn->len;
	icount_unretire(c);
	c->exiting = 1;
	cpu_longjmp(c->jb);
}

void cpu_vmexit_insn(struct cpu *c, u32 reason, u64 qual)
{
	struct vm_exit *e = c->exit;

	if (c->fault_depth || !c->insn)
		cpu_vmexit(c, reason, qual);
	c->rip = c->insn_rip;
	e->reason = reason;
	e->qual = qual;
	e->rip = c->insn_rip;
	if (!e->insn_len)
		e->insn_len = c->insn->len;
	/* This instruction did not retire; the block loop takes off the ones after it (`left`
	   of compiled code, end - d of the interpreter), as it does for any break_block. */
	c->icount--;
	if (c->in_jit)
		c->jit_stats.compiled--;
	c->exiting = 1;
	c->break_block = 1;
}

/* A trap-like VM exit after the current instruction completed (TPR below threshold, SDM 30.1.2):
   guest RIP is the next instruction's, the instruction retired. */
noreturn void cpu_vmexit_trap(struct cpu *c, u32 reason, u64 qual)
{
	struct vm_exit *e = c->exit;

	e->reason = reason;
	e->qual = qual;
	e->rip = c->rip;
	icount_unretire_from(c, c->insn ? c->insn + 1 : NULL);
	c->exiting = 1;
	cpu_longjmp(c->jb);
}

void op_ud(struct cpu *c, const struct insn *d)
{
	cpu_ud(c);
}

/* More than 15 bytes of prefixes and opcode: #GP(0) (SDM vol. 2A 2.3.11). */
static void op_too_long(struct cpu *c, const struct insn *d)
{
	cpu_gp(c, 0);
}

/* --- Block cache --- */

static void bc_flush_all(struct blockcache *bc)
{
	/* Every table entry points at a block of the arena: with none built since the last flush
	   (or the calloc) they are all empty. Zeroing them again would only fault in their pages:
	   the vCPU's set-up flushes twice (cpu_set_jit, cpu_set_jit_stats), which was a fifth of a
	   small guest's start-up with 256 MiB of RAM. */
	if (!bc->used)
		return;
	bc->used = 0;
	if (bc->jit)
		jit_reset(bc->jit);
	memset(bc->jc, 0, sizeof(bc->jc));
	memset(bc->ph, 0, sizeof(bc->ph));
	memset(bc->page_head, 0, bc->npages * sizeof(*bc->page_head));
}

void bc_flush_jump_cache(struct cpu *c)
{
	struct blockcache *bc = c->bc;

	if (bc->jc_nfilled <= JC_TRACK)
		for (unsigned i = 0; i < bc->jc_nfilled; i++)
			bc->jc[bc->jc_filled[i]] = NULL;
	else
		memset(bc->jc, 0, sizeof(bc->jc));
	bc->jc_nfilled = 0;
	memset(bc->jc_pages, 0, sizeof(bc->jc_pages));
	/* The running block ends after this instruction: its jumps to blocks in its own page are
	   linked without the jump cache (jit.c), and those were fetched through what is gone. */
	c->break_block = 1;
}

static unsigned jc_page_bit(u64 lin)
{
	return (unsigned)(((lin >> 12) * 0x9e3779b97f4a7c15ull) >> (64 - JC_PAGE_BITS));
}

static void jc_set(struct cpu *c, u64 lin, struct block *b, u32 key)
{
	struct blockcache *bc = c->bc;
	unsigned p = jc_page_bit(lin), q = jc_page_bit(lin + PAGE_SIZE), i = jc_index(lin, key);
	bool global = tlb_is_global(c, lin) &&
		      (b->gpa2 == NO_PAGE || tlb_is_global(c, (lin & PAGE_MASK) + PAGE_SIZE));

	bc->jc[i] = b;
	if (global)
		bc->jc_global[i / 64] |= 1ull << (i % 64);
	else
		bc->jc_global[i / 64] &= ~(1ull << (i % 64));
	if (bc->jc_nfilled < JC_TRACK)
		bc->jc_filled[bc->jc_nfilled] = (u16)i;
	bc->jc_nfilled++;
	bc->jc_pages[p / 64] |= 1ull << (p % 64);
	bc->jc_pages[q / 64] |= 1ull << (q % 64);
}

/* MOV CR3 (mmu.c tlb_flush_nonglobal): the blocks fetched through global translations stay,
   linked code to them included. jc_pages keeps its bits (it only filters). */
void bc_flush_jump_cache_nonglobal(struct cpu *c)
{
	struct blockcache *bc = c->bc;
	unsigned kept = 0;

	if (bc->jc_nfilled <= JC_TRACK) {
		for (unsigned k = 0; k < bc->jc_nfilled; k++) {
			u16 i = bc->jc_filled[k];
			if (bc->jc[i] && (bc->jc_global[i / 64] >> (i % 64) & 1))
				bc->jc_filled[kept++] = i;
			else
				bc->jc[i] = NULL;
		}
	} else {
		for (unsigned i = 0; i < JC_SIZE; i++) {
			if (!bc->jc[i])
				continue;
			if (!(bc->jc_global[i / 64] >> (i % 64) & 1)) {
				bc->jc[i] = NULL;
				continue;
			}
			if (kept < JC_TRACK)
				bc->jc_filled[kept] = (u16)i;
			kept++;
		}
	}
	bc->jc_nfilled = kept;
	c->break_block = 1; /* as bc_flush_jump_cache */
}

void bc_flush_jump_cache_page(struct cpu *c, u64 lin)
{
	unsigned p = jc_page_bit(lin);

	if (c->bc->jc_pages[p / 64] & (1ull << (p % 64)))
		bc_flush_jump_cache(c);
}

bool bc_page_has_code(struct cpu *c, u64 gpa)
{
	u64 pfn = gpa >> 12;

	if (pfn >= c->bc->npages)
		return false;
	/* code_pages is the VM's, shared by the vCPU threads: a relaxed atomic read. */
	return c->code_pages ? __atomic_load_n(&c->code_pages[pfn], __ATOMIC_RELAXED)
			     : c->bc->page_head[pfn] != NULL;
}

static void page_unlink(struct blockcache *bc, u64 gpa, struct block *b)
{
	struct block **pp = &bc->page_head[gpa >> 12];
	while (*pp) {
		struct block *x = *pp;
		unsigned side = x->gpa >> 12 == gpa >> 12 ? 0 : 1;
		if (x == b) {
			*pp = x->page_next[side];
			return;
		}
		pp = &x->page_next[side];
	}
}

/* b is no longer what the jump cache may give for its address and key: out of its slot. Compiled
   code linked to b (jit.c gen_chain_known) compares the slot with b, so this unlinks it too. */
static void jc_unset(struct blockcache *bc, struct block *b)
{
	struct block **slot = &bc->jc[jc_index(b->lin, b->key)];
	if (*slot == b)
		*slot = NULL;
}

static void block_drop(struct blockcache *bc, struct block *b)
{
	struct block **pp = &bc->ph[ph_index(b->gpa, b->key & 0xff)];
	while (*pp && *pp != b)
		pp = &(*pp)->ph_next;
	if (*pp)
		*pp = b->ph_next;
	b->valid = 0;
	jc_unset(bc, b);
	if (bc->jit)
		jit_unlink(bc->jit, b);
}

void bc_invalidate_phys(struct cpu *c, u64 gpa, u64 size)
{
	struct blockcache *bc = c->bc;
	u64 first = gpa >> 12, last = (gpa + size - 1) >> 12;

	for (u64 pfn = first; pfn <= last && pfn < bc->npages; pfn++) {
		struct block *b = bc->page_head[pfn];
		bc->page_head[pfn] = NULL;
		while (b) {
			unsigned side = b->gpa >> 12 == pfn ? 0 : 1;
			struct block *next = b->page_next[side];
			block_drop(bc, b);
			u64 other = side == 0 ? b->gpa2 : b->gpa;
			if (other != NO_PAGE && other >> 12 != pfn && (other >> 12) < bc->npages)
				page_unlink(bc, other, b);
			b = next;
		}
		/* The running block may be among them: stop it after this instruction. */
		c->break_block = 1;
	}
}

void bc_code_written(struct cpu *c, u64 gpa, u64 size)
{
	if (c->code_written)
		c->code_written(c->opaque, gpa, size); /* every vCPU, this one included */
	else
		bc_invalidate_phys(c, gpa, size);
}

void cpu_invalidate_code(struct cpu *c, u64 gpa, u64 len)
{
	if (len && gpa < c->ram_size)
		bc_invalidate_phys(c, gpa, len < c->ram_size - gpa ? len : c->ram_size - gpa);
}

/*
 * A page becomes a code page: no TLB entry may write it without the slow path. Another vCPU's
 * thread may call this (cpu_code_page_marked) while c runs: its loads and stores of c's entries
 * are single aligned 8-byte accesses (relaxed atomics, plain MOVs on x86), so c sees either the
 * old tag or TLB_INVALID, never a torn one. c may meanwhile fill an entry whose code check
 * (tlb_fill's bc_page_has_code) ran just before the page was marked, or be in the middle of a
 * store through a tag it already read: a write in that window lands without dropping the new
 * block, which is the window of cross-modifying code that SDM vol. 3A 9.1.3 already requires
 * software to close (the modifying processor signals, the executing one runs a serializing
 * instruction), as QEMU's tlb_reset_dirty accepts for its TCG threads.
 */
static void page_mark_code(struct cpu *c, u64 gpa)
{
	u64 page = gpa & PAGE_MASK;
	for (unsigned t = 0; t < 2; t++)
		for (unsigned i = 0; i < TLB_SIZE; i++) {
			struct tlb_entry *e = &c->tlbs[t][i];

			if (__atomic_load_n(&e->gpa, __ATOMIC_RELAXED) == page &&
			    __atomic_load_n(&e->tag_w, __ATOMIC_RELAXED) != TLB_INVALID)
				__atomic_store_n(&e->tag_w, TLB_INVALID, __ATOMIC_RELAXED);
		}
}

void cpu_code_page_marked(struct cpu *c, u64 gpa)
{
	if (gpa < c->ram_size)
		page_mark_code(c, gpa);
}

/* --- Requests from other threads (cpu.h) --- */

static void async_post(struct cpu *c)
{
	__atomic_store_n(&c->async_pending, 1, __ATOMIC_SEQ_CST);
	__atomic_store_n(&c->event_pending, 1, __ATOMIC_SEQ_CST);
}

void cpu_invalidate_code_async(struct cpu *c, u64 gpa, u64 len)
{
	if (!len || gpa >= c->ram_size)
		return;
	pthread_mutex_lock(&c->async.lock);
	if (c->async.n < CPU_ASYNC_RANGES) {
		c->async.range[c->async.n].gpa = gpa;
		c->async.range[c->async.n++].len = len;
	} else {
		c->async.all = 1;
	}
	pthread_mutex_unlock(&c->async.lock);
	async_post(c);
}

void cpu_flush_tlb_async(struct cpu *c)
{
	pthread_mutex_lock(&c->async.lock);
	c->async.flush_tlb = 1;
	pthread_mutex_unlock(&c->async.lock);
	async_post(c);
}

/*
 * On c's own thread, at a block boundary (events_check) where no block runs: so the running block
 * need not stop, and break_block, which the invalidations set for a block that might be
 * running, is put back as it was.
 */
void cpu_async_run(struct cpu *c)
{
	typeof(c->async) req;
	u8 bb = c->break_block;

	pthread_mutex_lock(&c->async.lock);
	__atomic_store_n(&c->async_pending, 0, __ATOMIC_RELAXED);
	req.all = c->async.all;
	req.flush_tlb = c->async.flush_tlb;
	req.n = c->async.n;
	memcpy(req.range, c->async.range, req.n * sizeof(req.range[0]));
	c->async.all = c->async.flush_tlb = 0;
	c->async.n = 0;
	pthread_mutex_unlock(&c->async.lock);
	if (req.all)
		bc_flush_all(c->bc);
	else
		for (unsigned i = 0; i < req.n; i++)
			cpu_invalidate_code(c, req.range[i].gpa, req.range[i].len);
	if (req.flush_tlb)
		tlb_flush_all(c);
	c->break_block = bb;
}

static void page_link(struct cpu *c, u64 gpa, struct block *b, unsigned side)
{
	struct blockcache *bc = c->bc;
	u64 pfn = gpa >> 12;
	if (c->code_pages && !__atomic_load_n(&c->code_pages[pfn], __ATOMIC_RELAXED)) {
		__atomic_store_n(&c->code_pages[pfn], 1, __ATOMIC_RELAXED);
		c->code_marked(c->opaque, gpa); /* every vCPU, this one included */
	} else if (!bc->page_head[pfn]) {
		page_mark_code(c, gpa);
	}
	b->page_next[side] = bc->page_head[pfn];
	bc->page_head[pfn] = b;
}

/* Bytes of code at physical address pa (host-physical under EPT): RAM directly, else through
   the MMU (the VMM's host pages an EPT may map, or uncached MMIO). */
static void fetch_phys(struct cpu *c, u64 pa, u8 *buf, unsigned n)
{
	if (pa + n <= c->ram_size) {
		memcpy(buf, c->ram + pa, n);
		return;
	}
	mmu_fetch_phys(c, pa, buf, n);
}

static size_t block_bytes(unsigned n)
{
	return sizeof(struct block) + n * sizeof(struct insn);
}

/* Room for a block in the arena (the caller made sure it fits). */
static struct block *block_alloc(struct blockcache *bc, size_t bytes)
{
	struct block *b = (struct block *)(bc->arena + bc->used);

	bc->used += (bytes + 15) & ~(size_t)15;
	return b;
}

/* A valid block joins the physical cache, the lists of its pages (which become code pages,
   watched for writes) and the jump cache. */
static void block_insert(struct cpu *c, struct block *b)
{
	struct blockcache *bc = c->bc;
	unsigned h = ph_index(b->gpa, b->key & 0xff);

	b->ph_next = bc->ph[h];
	bc->ph[h] = b;
	page_link(c, b->gpa, b, 0);
	if (b->gpa2 != NO_PAGE)
		page_link(c, b->gpa2, b, 1);
	jc_set(c, b->lin, b, b->key);
}

static struct block *block_build(struct cpu *c, u64 lin, u32 key)
{
	struct blockcache *bc = c->bc;
	struct insn tmp[BLOCK_MAX_INSNS];
	unsigned n = 0;
	u64 gpa = mmu_translate(c, lin, ACC_FETCH);
	u64 gpa2 = NO_PAGE;
	bool in_ram = gpa < c->ram_size;
	u64 off = lin & 0xfff;

	while (n < BLOCK_MAX_INSNS) {
		u8 buf[16];
		unsigned avail = (unsigned)(PAGE_SIZE - off);
		const u8 *p;
		if (in_ram && avail >= 15) {
			p = c->ram + (gpa & PAGE_MASK) + off;
		} else {
			unsigned here = avail < 15 ? avail : 15;
			fetch_phys(c, (gpa & PAGE_MASK) + off, buf, here);
			p = buf;
			if (here < 15) {
				/* Only fetch the next page if this instruction needs it; a
				   fault then belongs to this instruction, so it must be the
				   block's first (SDM vol. 3A 6.5: faults report the RIP). */
				struct insn probe;
				if (x86_decode(&probe, buf, here, c->code_bits) < 0) {
					if (n > 0)
						break;
					gpa2 = mmu_translate(c, (lin & PAGE_MASK) + PAGE_SIZE,
							     ACC_FETCH);
					fetch_phys(c, gpa2, buf + here, 15 - here);
					avail = 15;
				}
			} else {
				avail = 15;
			}
		}
		struct insn *d = &tmp[n];
		int len = x86_decode(d, p, avail < 15 ? avail : 15, c->code_bits);
		if (len < 0) {
			memset(d, 0, sizeof(*d));
			d->fn = op_too_long;
			d->len = 15;
			d->flags = INSN_END_BLOCK | INSN_INVALID;
			len = 15;
		}
		n++;
		off += (unsigned)len;
		if ((d->flags & INSN_END_BLOCK) || off >= PAGE_SIZE || gpa2 != NO_PAGE)
			break;
	}

	size_t bytes = block_bytes(n);
	struct block *b;
	if (!in_ram || (gpa2 != NO_PAGE && gpa2 >= c->ram_size)) {
		/* Code in MMIO is re-read on every execution: keep it out of the cache. */
		b = realloc(bc->scratch, bytes);
		if (!b)
			abort();
		bc->scratch = b;
		b->valid = 0;
	} else {
		if (bc->used + bytes > ARENA_SIZE)
			bc_flush_all(bc);
		b = block_alloc(bc, bytes);
		b->valid = 1;
	}
	b->lin = lin;
	b->gpa = gpa;
	b->gpa2 = gpa2;
	b->key = key;
	b->n = (u16)n;
	b->heat = 0;
	b->jit = NULL;
	b->links_in = NULL;
	memcpy(b->insns, tmp, n * sizeof(struct insn));
	if (b->valid)
		block_insert(c, b);
	return b;
}

static struct block *block_find_slow(struct cpu *c, u64 lin, u32 key)
{
	struct blockcache *bc = c->bc;
	u64 gpa = mmu_translate(c, lin, ACC_FETCH);

	for (struct block *b = bc->ph[ph_index(gpa, key & 0xff)]; b; b = b->ph_next) {
		if (b->gpa != gpa || (b->key & 0xff) != (key & 0xff))
			continue;
		if (b->gpa2 != NO_PAGE &&
		    mmu_translate(c, (lin & PAGE_MASK) + PAGE_SIZE, ACC_FETCH) != b->gpa2)
			continue;
		if (b->lin != lin || b->key != key) {
			/* Same code reached through another linear address or privilege: the
			   decoded instructions do not depend on either; compiled code embeds
			   RIPs, so it goes. */
			jc_unset(bc, b);
			if (bc->jit)
				jit_unlink(bc->jit, b);
			b->lin = lin;
			b->key = key;
			b->jit = NULL;
			b->heat = 0;
		}
		jc_set(c, lin, b, key);
		return b;
	}
	return block_build(c, lin, key);
}

static always_inline struct block *block_find(struct cpu *c)
{
	u64 lin = (c->seg_base[SEG_CS] + c->rip) & c->lin_mask;
	u32 key = c->block_key;
	struct block *b = c->bc->jc[jc_index(lin, key)];
	if (likely(b && b->lin == lin && b->key == key && b->valid))
		return b;
	return block_find_slow(c, lin, key);
}

/* --- The run loop --- */

/*
 * 64-bit code and flat 32-bit code (jit.c): there the block's linear address is its RIP. Returns
 * the block to run: b, or when the code arena was full, b moved into the emptied block arena.
 * Flushing drops every block and empties both arenas, but b is about to run: left behind, its
 * page would no longer be a code page, so a store into the code after it would neither stop the
 * block nor be seen (SDM vol. 3A 11.6), and its instructions would sit in arena memory that the
 * next block_build reuses. So b is copied to the start of the emptied arena first, linked like a new
 * block (its pages watched again) and compiled there.
 */
static __attribute__((noinline)) struct block *block_compile(struct cpu *c, struct block *b)
{
	struct blockcache *bc = c->bc;
	size_t bytes = block_bytes(b->n);
	struct block *nb;

	b->jit = jit_compile(bc->jit, b);
	if (b->jit || !jit_full(bc->jit))
		return b;
	bc_flush_all(bc);
	nb = block_alloc(bc, bytes);
	memmove(nb, b, bytes); /* the old place may overlap the new one */
	nb->links_in = NULL;   /* the links went with the code */
	block_insert(c, nb);
	nb->jit = jit_compile(bc->jit, nb);
	return nb;
}

/* What every entry does before the first block (cpu_run, exit_in_loop). */
static void entry_begin(struct cpu *c, struct vm_exit *exit)
{
	/* The handler of an IN answered in the record that left (vmx/exit.h I/O contract). */
	if (c->io.pending)
		c->io.io.io.data = exit->io.data;
	*exit = (struct vm_exit){ 0 }; /* inline stores: memset's call cost more than the clearing */
	c->exit = exit;
	c->exiting = 0;
	c->fault_depth = 0;
	/* VM entry: without VPID the TLB is flushed (SDM 29.4.3.3); the flush VM exit would also
	   make is the same one, as nothing uses the TLB between an exit and the next entry. */
	mmu_vmx_transition(c);
	events_vmentry(c);
}

/*
 * An instruction's exit offered to the owner's hook (cpu_set_exit_hook) where run_blocks would
 * return: the exit half of cpu_run first; when the owner entered again, the entry half
 * (cpu_run's setjmp stays armed: this frame is below it). true: run on.
 */
static bool exit_in_loop(struct cpu *c)
{
	if (!c->exit_hook)
		return false;
	events_vmexit(c);
	if (!c->exit_hook(c->exit_hook_opaque))
		return false; /* cpu_run's events_vmexit again changes nothing */
	entry_begin(c, c->exit);
	if (c->io.pending)
		io_complete(c);
	if (__atomic_load_n(&c->async_pending, __ATOMIC_ACQUIRE))
		cpu_async_run(c);
	return true;
}

void cpu_set_exit_hook(struct cpu *c, bool (*hook)(void *opaque), void *opaque)
{
	c->exit_hook = hook;
	c->exit_hook_opaque = opaque;
}

/*
 * Its own frame, apart from cpu_run's setjmp, so the loop keeps its state in registers.
 *
 * Between blocks one test covers all pending work: events (c->event_pending), the HLT state, the
 * interrupt shadow, one-instruction stepping (TF, the monitor trap flag) and the timers (icount
 * past c->work_icount). Timers are therefore checked at block boundaries: an expiry is seen at
 * most BLOCK_MAX_INSNS - 1 instructions late.
 */
static __attribute__((noinline)) void run_blocks(struct cpu *c)
{
	struct blockcache *bc = c->bc;

	for (;;) {
		/* events_check() sets event_pending whenever it sets one_insn. */
		if (unlikely(__atomic_load_n(&c->event_pending, __ATOMIC_RELAXED) | c->halted |
			     c->intr_shadow) ||
		    unlikely(c->icount >= c->work_icount)) {
			u8 shadow = c->intr_shadow;

			c->insn = NULL;
			c->insn_rip = c->rip;
			events_check(c);
			/* Halted and nothing to wake the CPU: no exit, cpu_run() says halted. */
			if (c->halted)
				return;
			if (shadow | c->one_insn) {
				/* The instruction after STI / MOV SS runs before any event (SDM
				   vol. 3A 6.8.3); TF and MTF step one instruction at a time. */
				struct block *b = block_find(c);
				const struct insn *d = b->insns;

				bc->blk_end = d + 1;
				c->icount++;
				c->insn = d;
				c->insn_rip = c->rip;
				c->rip += d->len;
				c->one_insn = 0;
				d->fn(c, d);
				c->insn = NULL;
				if (unlikely(c->exiting))
					return; /* cpu_vmexit_insn: the shadow stays, no MTF */
				if (shadow)
					c->intr_shadow = 0;
				c->break_block = 0;
				/* MTF: an exit is pending after an instruction that completed
				   (SDM 26.5.2). */
				if (c->ctl.proc & PROC_MONITOR_TRAP_FLAG)
					c->mtf_pending = 1;
				continue;
			}
		}
		c->insn_rip = c->rip;
		struct block *b = block_find(c);
		if (!b->jit && b->heat < bc->jit_threshold && ++b->heat == bc->jit_threshold &&
		    b->valid && ((b->key & 0xff) == 64 || (b->key & BLOCK_KEY_FLAT32)))
			b = block_compile(c, b);
		const struct insn *d = b->insns, *end = d + b->n;
		bc->blk_end = end;
		c->icount += b->n;
		/* Compiled code embeds RIPs from b->lin: in 32-bit code, after falling through past
		   4 GiB, RIP is not yet wrapped (the loop below adds lengths unmasked) and the block
		   found at the wrapped address is interpreted. */
		if (b->jit && likely(c->rip == b->lin)) {
			c->jit_stats.compiled += b->n;
			c->in_jit = 1;
			u32 left = b->jit(c);
			c->in_jit = 0;
			c->insn = NULL;
			c->jit_stats.returns++;
			if (c->break_block) {
				c->icount -= left;
				c->jit_stats.compiled -= left;
				c->break_block = 0;
				if (unlikely(c->exiting) && !exit_in_loop(c))
					return;
			}
			continue;
		}
		/* RIP lives in a register here: only an instruction that ends the block or sets
		   break_block changes c->rip, so between those the next RIP is known without
		   reading it back (which would chain every instruction through a store). */
		u64 rip = c->rip;
		do {
			c->insn = d;
			c->insn_rip = rip;
			rip += d->len;
			c->rip = rip;
			d->fn(c, d);
			d++;
		} while (d < end && !c->break_block);
		c->insn = NULL;
		if (c->break_block) {
			c->icount -= (u64)(end - d);
			c->break_block = 0;
			if (unlikely(c->exiting) && !exit_in_loop(c))
				return;
		}
	}
}

enum cpu_run_result cpu_run(struct cpu *c, struct vm_exit *exit)
{
	entry_begin(c, exit);
	if (cpu_setjmp(c->jb)) {
		c->insn = NULL;
		c->break_block = 0;
		if (c->exiting) {
			c->exiting = 0;
			events_vmexit(c);
			return CPU_RUN_EXIT;
		}
		events_deliver_fault(c);
	}
	if (c->io.pending)
		io_complete(c);
	if (__atomic_load_n(&c->async_pending, __ATOMIC_ACQUIRE))
		cpu_async_run(c);
	run_blocks(c);
	events_vmexit(c);
	if (c->exiting) { /* cpu_vmexit_insn */
		c->exiting = 0;
		c->break_block = 0;
		return CPU_RUN_EXIT;
	}
	return CPU_RUN_HALTED;
}

/* --- Object and register API --- */

int cpu_host_check(void)
{
	return sse_host_init();
}

struct cpu *cpu_create(const struct cpu_config *cfg)
{
	/* struct cpu holds the 64-byte aligned XSAVE area (x86.h struct x86_fpu). */
	struct cpu *c = aligned_alloc(_Alignof(struct cpu), sizeof(*c));
	struct blockcache *bc = calloc(1, sizeof(*bc));
	if (c)
		memset(c, 0, sizeof(*c));
	if (!c || !bc || cpu_host_check())
		goto fail;
	bc->npages = cfg->ram_size >> 12;
	bc->page_head = calloc(bc->npages ? bc->npages : 1, sizeof(*bc->page_head));
	bc->arena = mmap(NULL, ARENA_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS |
			 MAP_NORESERVE, -1, 0);
	if (!bc->page_head || bc->arena == MAP_FAILED) {
		bc->arena = NULL;
		goto fail;
	}
	c->bc = bc;
	pthread_mutex_init(&c->async.lock, NULL);
	bc->jit = jit_create(bc->jc, &bc->blk_end);
	bc->jit_threshold = bc->jit ? CPU_JIT_THRESHOLD : 0;
	c->ram = cfg->ram;
	c->ram_size = cfg->ram_size;
	c->opaque = cfg->opaque;
	c->host_ptr = cfg->host_ptr;
	c->mmio_read = cfg->mmio_read;
	c->mmio_write = cfg->mmio_write;
	c->ferr = cfg->ferr;
	c->code_pages = cfg->code_pages;
	c->code_marked = cfg->code_marked;
	c->code_written = cfg->code_written;
	fpu_reset(c);
	for (unsigned t = 0; t < ARRAY_SIZE(c->tlbs); t++)
		for (unsigned i = 0; i < TLB_SIZE; i++)
			c->tlbs[t][i].tag_r = c->tlbs[t][i].tag_w = TLB_INVALID;
	for (unsigned t = 0; t < 2; t++)
		for (unsigned i = 0; i < MMIO_TLB_SIZE; i++)
			c->mmio_tlb[t][i].tag_r = c->mmio_tlb[t][i].tag_w = TLB_INVALID;
	c->tlb = c->tlbs[0];
	c->rflags = X86_FIXED1;
	c->lin_mask = 0xffffffffull;
	c->code_bits = 32;
	c->stack_bytes = 4;
	cpu_refresh_derived(c);
	c->pat = X86_PAT_POWER_UP;
	c->xcr0 = 1; /* x87 only, its reset value (SDM vol. 1 13.3) */
	c->dr[6] = 0xffff0ff0;
	c->dr[7] = 0x400;
	c->tsc_mode = CPU_TSC_VIRTUAL;
	c->tsc_cpi = 1;
	c->host_tick_icount = CPU_HOST_TICK;
	c->work_icount = ~0ull;
	c->vmx.pml_index = 511;
	c->apicv_page = ~0ull;
	c->host_deadline = ~0ull;
	return c;
fail:
	if (bc) {
		free(bc->page_head);
		if (bc->arena)
			munmap(bc->arena, ARENA_SIZE);
	}
	free(bc);
	free(c);
	return NULL;
}

void cpu_destroy(struct cpu *c)
{
	if (!c)
		return;
	pthread_mutex_destroy(&c->async.lock);
	jit_destroy(c->bc->jit);
	munmap(c->bc->arena, ARENA_SIZE);
	free(c->bc->page_head);
	free(c->bc->scratch);
	free(c->bc);
	free(c);
}

void cpu_set_lock_atomic(struct cpu *c, bool on)
{
	c->lock_atomic = on;
	if (c->bc->jit)
		jit_set_lock_atomic(c->bc->jit, on);
}

void cpu_set_jit(struct cpu *c, unsigned threshold)
{
	struct blockcache *bc = c->bc;

	if (threshold > 255)
		threshold = 255;
	bc->jit_threshold = bc->jit ? threshold : 0;
	/* Start from an empty cache, so no block keeps code compiled under the old setting. */
	bc_flush_all(bc);
}

void cpu_set_jit_stats(struct cpu *c, bool on)
{
	if (!c->bc->jit)
		return;
	jit_set_stats(c->bc->jit, on);
	bc_flush_all(c->bc); /* recompile with (or without) the counters */
}

void cpu_get_jit_stats(const struct cpu *c, struct cpu_jit_stats *s)
{
	*s = c->jit_stats;
	s->icount = c->icount;
	if (c->bc->jit)
		jit_get_stats(c->bc->jit, s);
}

unsigned cpu_get_jit_sites(const struct cpu *c, struct cpu_jit_site *out, unsigned max)
{
	return c->bc->jit ? jit_get_sites(c->bc->jit, out, max) : 0;
}

void cpu_set_controls(struct cpu *c, const struct vmx_controls *ctl)
{
	c->ctl = *ctl;
	cpu_event_pending(c); /* windows, MTF, NMI and interrupt exiting are checked anew */
	apicv_set_controls(c);
}

u64 cpu_get_xcr0(const struct cpu *c)
{
	return c->xcr0;
}

void cpu_get_debugregs(const struct cpu *c, u64 dr[8])
{
	for (int i = 0; i < 8; i++)
		dr[i] = i == 4 || i == 5 || i == 7 ? 0 : c->dr[i];
}

void cpu_set_debugregs(struct cpu *c, const u64 dr[8])
{
	for (int i = 0; i < 4; i++)
		c->dr[i] = dr[i];
	c->dr[6] = dr[6];
	cpu_event_pending(c); /* breakpoints may now match */
}

void cpu_get_regs(struct cpu *c, struct x86_regs *r)
{
	memcpy(r->gpr, c->gpr, sizeof(r->gpr));
	r->rip = c->rip;
	r->rflags = flags_get(c);
}

void cpu_set_regs(struct cpu *c, const struct x86_regs *r)
{
	memcpy(c->gpr, r->gpr, sizeof(c->gpr));
	c->rip = r->rip;
	flags_set(c, (r->rflags | X86_FIXED1) & ~(BIT(3) | BIT(5) | BIT(15)));
	cpu_event_pending(c); /* RFLAGS.TF or IF may have changed what is deliverable */
}

void cpu_get_gprs(const struct cpu *c, u64 gpr[16])
{
	memcpy(gpr, c->gpr, sizeof(c->gpr));
}

void cpu_get_rip_rsp(const struct cpu *c, u64 *rip, u64 *rsp)
{
	*rip = c->rip;
	*rsp = c->gpr[R_RSP];
}

u64 cpu_get_rflags(struct cpu *c)
{
	return flags_get(c);
}

bool cpu_code64(const struct cpu *c)
{
	return (c->efer & EFER_LMA) && (c->seg[SEG_CS].ar & AR_L);
}

void cpu_set_gprs(struct cpu *c, const u64 gpr[16])
{
	memcpy(c->gpr, gpr, sizeof(c->gpr));
}

void cpu_get_gprs4(const struct cpu *c, u64 gpr[4])
{
	memcpy(gpr, c->gpr, 4 * sizeof(u64));
}

void cpu_set_gprs4(struct cpu *c, const u64 gpr[4])
{
	memcpy(c->gpr, gpr, 4 * sizeof(u64));
}

void cpu_set_rip(struct cpu *c, u64 rip)
{
	c->rip = rip;
}

void cpu_get_sregs(struct cpu *c, struct x86_sregs *s)
{
	memcpy(s->seg, c->seg, sizeof(s->seg));
	s->gdt = c->gdt;
	s->idt = c->idt;
	s->cr0 = c->cr0;
	s->cr2 = c->cr2;
	s->cr3 = c->cr3;
	s->cr4 = c->cr4;
	s->cr8 = c->cr8;
	s->efer = c->efer;
	s->apic_base = c->apic_base;
}

void cpu_set_sregs(struct cpu *c, const struct x86_sregs *s)
{
	memcpy(c->seg, s->seg, sizeof(c->seg));
	c->gdt = s->gdt;
	c->idt = s->idt;
	c->cr0 = s->cr0;
	c->cr2 = s->cr2;
	c->cr3 = s->cr3;
	c->cr4 = s->cr4;
	c->cr8 = s->cr8;
	c->efer = s->efer;
	c->apic_base = s->apic_base;
	/* CPL is SS.DPL (SDM vol. 3C 24.4.1). */
	cpu_set_cpl(c, (u8)AR_DPL(s->seg[SEG_SS].ar));
	/* As VM entry without EPT loads them (SDM vol. 3C 26.3.2.4); reserved bits in them are the
	   VM-entry checks' business, so a bad PDPT leaves not-present entries here. */
	memset(c->pdpte, 0, sizeof(c->pdpte));
	if (pae_paging(c->cr0, c->cr4, c->efer))
		mmu_load_pdptes(c, c->cr3);
	cpu_update_mode(c);
	tlb_flush_all(c);
	c->break_block = 0;
}

int cpu_get_msr(struct cpu *c, u32 index, u64 *value)
{
	return msr_read(c, index, value) ? 0 : -ENOENT;
}

/* The VMM's write of a value the guest could not write gets -EINVAL instead of a guest #GP. */
int cpu_set_msr(struct cpu *c, u32 index, u64 value)
{
	cpu_jmp_buf saved;
	int ret;

	memcpy(saved, c->jb, sizeof(saved));
	c->insn = NULL;
	c->insn_rip = c->rip; /* a #GP restores RIP from here */
	if (cpu_setjmp(c->jb))
		ret = -EINVAL;
	else
		ret = msr_write(c, index, value) ? 0 : -ENOENT;
	memcpy(c->jb, saved, sizeof(saved));
	return ret;
}

void cpu_inject_event(struct cpu *c, u8 vector, u8 type, bool has_error, u32 error, u8 insn_len)
{
	c->inject.valid = 1;
	c->inject.vector = vector;
	c->inject.type = type;
	c->inject.has_error = has_error;
	c->inject.error = error;
	c->inject.insn_len = insn_len;
	cpu_event_pending(c);
}

u64 cpu_icount(const struct cpu *c)
{
	return c->icount;
}

/* Instructions retired before the one executing: the run loop counts a block when it starts. */
u64 cpu_icount_now(const struct cpu *c)
{
	return c->insn ? c->icount - (u64)(c->bc->blk_end - c->insn) : c->icount;
}

void cpu_get_exit_msrs(const struct cpu *c, struct cpu_exit_msrs *m)
{
	m->sysenter_cs = c->sysenter_cs;
	m->sysenter_esp = c->sysenter_esp;
	m->sysenter_eip = c->sysenter_eip;
	m->pat = c->pat;
}

void cpu_get_intr_activity(const struct cpu *c, u32 *interruptibility, u32 *activity)
{
	u32 intr = 0;

	if (c->intr_shadow)
		intr = c->shadow_kind ? c->shadow_kind : GUEST_INTR_STATE_STI;
	if (c->nmi_blocked)
		intr |= GUEST_INTR_STATE_NMI;
	*interruptibility = intr;
	*activity = c->halted ? GUEST_ACTIVITY_HLT : GUEST_ACTIVITY_ACTIVE;
}

/*
 * Guest non-register state (SDM vol. 3C 25.4.2) as VM exit saves it: interruptibility from the
 * interrupt shadow and NMI blocking, the HLT activity state, a pending single-step trap as
 * pending debug exception BS, DR7, the preemption timer's remaining value while it runs.
 */
void cpu_get_vmx_state(struct cpu *c, struct cpu_vmx_state *s)
{
	*s = c->vmx;
	cpu_get_intr_activity(c, &s->interruptibility, &s->activity);
	s->pending_dbg = (c->vmx.pending_dbg & ~BIT(14)) | (c->single_step ? BIT(14) : 0);
	s->dr7 = c->dr[7];
	memcpy(s->pdpte, c->pdpte, sizeof(s->pdpte));
	s->intr_status = (u16)(c->rvi | c->svi << 8);
}

/*
 * As VM entry loads it (SDM 27.3.2.5, 27.3.2.4). Call after cpu_set_sregs(). The PDPTEs are
 * taken from here with PAE paging: VM entry passes the VMCS values with EPT and, without EPT, the
 * ones cpu_set_sregs() loaded from CR3 (as cpu_get_vmx_state() returns them). Activity states
 * other than active and HLT are not modelled and run as active.
 */
void cpu_set_vmx_state(struct cpu *c, const struct cpu_vmx_state *s)
{
	u32 intr = s->interruptibility;

	c->vmx = *s;
	c->intr_shadow = !!(intr & (GUEST_INTR_STATE_STI | GUEST_INTR_STATE_MOV_SS));
	c->shadow_kind = intr & GUEST_INTR_STATE_MOV_SS ? GUEST_INTR_STATE_MOV_SS
							: intr & GUEST_INTR_STATE_STI;
	c->nmi_blocked = !!(intr & GUEST_INTR_STATE_NMI);
	c->halted = s->activity == GUEST_ACTIVITY_HLT;
	c->single_step = !!(s->pending_dbg & BIT(14));
	c->rvi = (u8)s->intr_status;
	c->svi = (u8)(s->intr_status >> 8);
	c->dr[7] = (s->dr7 & ~0xd800ull) | 0x400;
	if (pae_paging(c->cr0, c->cr4, c->efer))
		memcpy(c->pdpte, s->pdpte, sizeof(c->pdpte));
	cpu_event_pending(c);
}
