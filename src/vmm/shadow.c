/* SPDX-License-Identifier: MIT */
/*
 * Shadow paging: the VMM's MMU without EPT (vmm/shadow.h says what it is; docs/vmm.md "Shadow
 * paging" how it compares with KVM's).
 *
 * Shadow tables are host pages (vm_alloc_host_page) in pools (a vCPU's virtual TLB, the VM's
 * cache): a reset returns every page of a pool at once (pages are zeroed as they are taken
 * again), and a full pool resets it, as KVM zaps all when it reaches its page limit. Shadow entries are PAE/4-level
 * entries. In the virtual TLB non-leaf entries allow everything (P, R/W, U/S, A), so that the
 * leaf's rights are the translation's (SDM vol. 3A 4.6: rights combine by AND, XD by OR); in
 * cached mode (struct sp_meta) they copy the guest's. Leaves are 4 KiB, their accessed and
 * dirty flags set in advance (the guest's are the ones that count, and the VMM sets them). A
 * guest page larger than 4 KiB is shadowed by 4 KiB leaves; the table entry above them
 * carries SPTE_LARGE (bit 9, ignored by the CPU: SDM Tables 4-8, 4-15..4-17) so that INVLPG of
 * any address in it drops the whole table, as INVLPG drops the whole large translation (4.10.4.1).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "arch/x86.h"
#include "cpu/cpu.h"
#include "vmm/backend.h"
#include "vmm/shadow.h"
#include "vmm/vm.h"

#define SPTE_LARGE BIT(9) /* in a table entry: the table below shadows a guest large page */

#define MAXPHYADDR CPU_MAXPHYADDR /* the soft CPU's, which CPUID reports */
#define ADDR_MASK GENMASK(MAXPHYADDR - 1, 12)

/* Reserved bits of the guest's entries (arch/x86.h, SDM 4.7). */
#define RSVD_PSE_4M PTE_RSVD_PSE_4M
#define RSVD_PAE_PDPTE PTE_RSVD_PAE_PDPTE(MAXPHYADDR)
#define RSVD_PAE PTE_RSVD_PAE(MAXPHYADDR)
#define RSVD_4LEVEL PTE_RSVD_4LEVEL(MAXPHYADDR)
#define RSVD_1G PTE_RSVD_1G
#define RSVD_2M PTE_RSVD_2M

/* Control bits whose change changes translations (SDM 4.10.4.1 lists the CR0/CR4 ones). */
#define KEY_CR0 (CR0_PE | CR0_PG | CR0_WP)
#define KEY_CR4 (CR4_PAE | CR4_PSE | CR4_SMEP | CR4_SMAP | CR4_PCIDE)
#define KEY_EFER (EFER_LMA | EFER_NXE)

/* 16 MiB of shadow tables per pool (a vCPU's virtual TLB, the VM's cache) before it resets. */
#define SHADOW_MAX_PAGES 4096
#define SP_HASH 1024
#define RMAP_NODES (1u << 18)

/*
 * Cached mode (a 4-level guest with CR0.WP = 1): shadow tables mirror the
 * guest's, one shadow page per guest table, kept across CR3 loads. Each guest page that a shadow
 * page mirrors is write-protected in the shadow (no writable leaf maps it), so the guest's writes
 * to its tables fault; the first such write marks the mirrors of that table out of sync and lets
 * the guest write on (KVM's unsync). Out-of-sync shadow pages are brought back in line with the
 * guest's table (resync) where the architecture requires translations to follow the tables: at
 * every CR3 load and every INVLPG (4.10.4.1: INVLPG invalidates every paging-structure cache
 * entry), after which the table is write-protected again. Non-leaf shadow entries copy the guest
 * entry's R/W, U/S and XD, so the CPU combines rights as the guest's would; leaves carry their
 * own. A guest large page is mirrored by "direct" shadow pages of 4 KiB leaves.
 */
struct sp_meta {
	u64 gfn;   /* the guest table mirrored, or for a direct page the first gfn it maps */
	u8 level;  /* 1 (PT) .. 4 (PML4) */
	u8 flags;  /* SP_* */
	u32 hnext; /* next in the hash chain (pool index + 1) */
	u32 unext; /* next out-of-sync page */
};
#define SP_DIRECT 1
#define SP_UNSYNC 2

/* A leaf that may map a page writable (the rmap write protection walks). */
struct rmap_node {
	u64 *spte;
	u32 next;
};

/* Host pages for shadow tables, taken in order and all given back at a reset. */
struct shadow_pool {
	u64 **page; /* SHADOW_MAX_PAGES host pages and their host-physical addresses */
	u64 *hpa;
	unsigned used, nr;
};

/*
 * The cache of cached mode, one per VM (vm->shadow_cache), shared by its vCPUs as KVM's MMU is:
 * a soft VM's vCPUs run on one host thread, so nothing here needs a lock. The write protection
 * it keeps holds for every vCPU's leaves, cached or not: each writable leaf of any vCPU is in
 * the reverse map while the cache is in use.
 */
struct shadow_cache {
	struct shadow_pool pool;
	struct sp_meta *meta;	 /* per pool page */
	u32 *hp_idx;		 /* VM host page number -> pool index + 1 */
	u64 hp_idx_len;
	u32 hash[SP_HASH];	 /* guest table gfn -> first sp (pool index + 1) */
	u32 unsync_head;	 /* pool index + 1 */
	u32 *rmap;		 /* per RAM page: first writable-leaf node + 1 */
	struct rmap_node *nodes; /* RMAP_NODES of them */
	u32 nr_nodes, free_node;
	u64 gen;   /* bumped when a leaf lost R/W: every vCPU's TLB flushes before its next entry */
	u64 epoch; /* bumped at a reset, and when the cache comes into use: roots looked up again,
		      virtual TLBs dropped (their leaves must be in the reverse map from now) */
	int nxe;   /* the guest EFER.NXE the mirrors were made under; -1: none yet */
	unsigned users;
	u64 unsyncs, resyncs;
};

struct shadow_mmu {
	struct shadow_regs guest;
	bool valid;	  /* guest holds a state shadow_load took */
	bool need_flush;  /* translations dropped since the last shadow_load */
	u64 root_hpa;
	u64 apic_page;	  /* mapped 1:1 (shadow_set_apic_page), or 0 */
	u64 guest_pdpte[4]; /* guest PAE paging: its PDPTEs, loaded with CR3 (SDM 4.4.1) */
	struct shadow_pool pool; /* the virtual TLB's */
	struct shadow_stats stats;
	bool cr3_loaded;    /* a guest MOV CR3 since the last shadow_load */
	/* A supervisor-only writable leaf made for one write under CR0.WP = 0 with SMAP on,
	   taken back at the MTF exit after that instruction (shadow_mtf). */
	bool mtf_pending, mtf_wanted;
	u64 mtf_lin;
	bool caching;	    /* cached mode allowed (shadow_set_caching; default on) */
	bool cached;	    /* the current state runs in cached mode */
	struct shadow_cache *cache; /* the VM's */
	u64 seen_gen, seen_epoch;
};

/* The guest's linear address space as the CPU walks the shadow: PAE or 4-level. */
static bool shadow_long(const struct shadow_mmu *sh)
{
	return sh->guest.efer & EFER_LMA;
}

static bool guest_paging(const struct shadow_mmu *sh)
{
	return sh->guest.cr0 & CR0_PG;
}

static bool pool_init(struct shadow_pool *p)
{
	p->page = calloc(SHADOW_MAX_PAGES, sizeof(*p->page));
	p->hpa = calloc(SHADOW_MAX_PAGES, sizeof(*p->hpa));
	return p->page && p->hpa;
}

static void pool_free(struct shadow_pool *p)
{
	free(p->page);
	free(p->hpa);
}

static void cache_free(struct shadow_cache *c)
{
	pool_free(&c->pool);
	free(c->meta);
	free(c->hp_idx);
	free(c->rmap);
	free(c->nodes);
	free(c);
}

int shadow_create(struct vcpu *vcpu)
{
	struct vm *vm = vcpu->vm;
	struct shadow_mmu *sh;

	if (!vm->pae_roots) {
		vm->pae_roots = aligned_alloc(4096, (VM_PAE_ROOTS_SIZE + 4095) & ~4095);
		if (!vm->pae_roots)
			return -ENOMEM;
		memset(vm->pae_roots, 0, VM_PAE_ROOTS_SIZE);
	}
	if (!vm->shadow_cache) {
		struct shadow_cache *c = calloc(1, sizeof(*c));

		if (!c || !pool_init(&c->pool) ||
		    !(c->meta = calloc(SHADOW_MAX_PAGES, sizeof(*c->meta))) ||
		    !(c->rmap = calloc(vm->ram_size >> 12, sizeof(*c->rmap))) ||
		    !(c->nodes = calloc(RMAP_NODES, sizeof(*c->nodes)))) {
			if (c)
				cache_free(c);
			return -ENOMEM;
		}
		c->nxe = -1;
		vm->shadow_cache = c;
	}
	sh = calloc(1, sizeof(*sh));
	if (!sh)
		return -ENOMEM;
	vcpu->shadow = sh;
	sh->cache = vm->shadow_cache;
	sh->cache->users++;
	sh->caching = true;
	if (!pool_init(&sh->pool)) {
		shadow_destroy(vcpu);
		return -ENOMEM;
	}
	return 0;
}

void shadow_set_caching(struct vcpu *vcpu, bool on)
{
	struct shadow_mmu *sh = vcpu->shadow;

	sh->caching = on;
	sh->valid = false; /* the next shadow_load starts over in the mode asked for */
}

void shadow_destroy(struct vcpu *vcpu)
{
	struct shadow_mmu *sh = vcpu->shadow;

	/* The pages themselves are the VM's host pages, freed with it. */
	if (!sh)
		return;
	pool_free(&sh->pool);
	if (sh->cache && !--sh->cache->users) {
		cache_free(sh->cache);
		vcpu->vm->shadow_cache = NULL;
	}
	free(sh);
	vcpu->shadow = NULL;
}

const struct shadow_stats *shadow_stats(const struct vcpu *vcpu)
{
	struct shadow_mmu *sh = vcpu->shadow;

	sh->stats.unsyncs = sh->cache->unsyncs; /* the VM's: the cache is shared */
	sh->stats.resyncs = sh->cache->resyncs;
	return &sh->stats;
}

void shadow_guest(const struct vcpu *vcpu, struct shadow_regs *guest)
{
	*guest = vcpu->shadow->guest;
}

/* A zeroed page from pool p (the vCPU's, or the cache's, whose pages are indexed by host page
   number), or NULL when it is full (or the host is out of memory). */
static u64 *pool_take(struct vcpu *vcpu, struct shadow_pool *p, u64 *hpa)
{
	struct shadow_mmu *sh = vcpu->shadow;
	struct shadow_cache *c = sh->cache;

	if (p->used == p->nr) {
		if (p->nr == SHADOW_MAX_PAGES)
			return NULL;
		p->page[p->nr] = vm_alloc_host_page(vcpu->vm, &p->hpa[p->nr]);
		if (!p->page[p->nr])
			return NULL;
		if (p == &c->pool) { /* the page's host page number -> its pool index */
			u64 n = (p->hpa[p->nr] - VM_HOSTMEM_BASE) >> 12;

			if (n >= c->hp_idx_len) {
				u64 len = 2 * n + 64;
				u32 *m = realloc(c->hp_idx, len * sizeof(*m));

				if (!m)
					return NULL;
				memset(m + c->hp_idx_len, 0, (len - c->hp_idx_len) * sizeof(*m));
				c->hp_idx = m;
				c->hp_idx_len = len;
			}
			c->hp_idx[n] = p->nr + 1;
		}
		p->nr++;
	} else {
		memset(p->page[p->used], 0, 4096);
	}
	*hpa = p->hpa[p->used];
	if (p->used + 1 > sh->stats.pages_peak)
		sh->stats.pages_peak = p->used + 1;
	return p->page[p->used++];
}

/* The shadow table at host-physical hpa (one of the pool's pages). */
static u64 *table_at(struct vm *vm, u64 hpa)
{
	return (u64 *)vm_host_ptr(vm, hpa & ADDR_MASK, 4096);
}

/* A vCPU's PAE root: 32 bytes, not a page. */
static u64 *table_at_pae(struct vm *vm, u64 hpa)
{
	return (u64 *)vm_host_ptr(vm, hpa, 32);
}

/* A guest entry of `size` bytes at guest-physical gpa: false when it is not in RAM. */
static bool guest_read(const struct vm *vm, u64 gpa, unsigned size, u64 *v)
{
	if (gpa >= vm->ram_size || size > vm->ram_size - gpa)
		return false;
	if (size == 8) {
		*v = __atomic_load_n((u64 *)(vm->ram + gpa), __ATOMIC_RELAXED);
	} else {
		*v = __atomic_load_n((u32 *)(vm->ram + gpa), __ATOMIC_RELAXED);
	}
	return true;
}

/* The guest's PDPTEs, as MOV CR3 or a paging-mode change loads them (SDM 4.4.1). An entry
   outside RAM reads as not present. */
static void load_guest_pdptes(struct vcpu *vcpu)
{
	struct shadow_mmu *sh = vcpu->shadow;

	for (unsigned i = 0; i < 4; i++)
		if (!guest_read(vcpu->vm, (sh->guest.cr3 & GENMASK(31, 5)) + 8 * i, 8,
				&sh->guest_pdpte[i]))
			sh->guest_pdpte[i] = 0;
}

/* --- Cached mode (see struct sp_meta) --- */

/* The cache pool page (index + 1) holding the shadow table at host-physical hpa; 0: none. */
static u32 sp_index(const struct shadow_cache *c, u64 hpa)
{
	u64 n;

	if (hpa < VM_HOSTMEM_BASE)
		return 0;
	n = (hpa - VM_HOSTMEM_BASE) >> 12;
	return n < c->hp_idx_len ? c->hp_idx[n] : 0;
}

static u32 hash_of(u64 gfn)
{
	return (u32)((gfn ^ (gfn >> 10)) & (SP_HASH - 1));
}

/* A guest page that an in-sync shadow page mirrors: no leaf may map it writable. */
static bool gfn_protected(const struct shadow_cache *c, u64 gfn)
{
	for (u32 i = c->hash[hash_of(gfn)]; i; i = c->meta[i - 1].hnext) {
		const struct sp_meta *m = &c->meta[i - 1];

		if (m->gfn == gfn && !(m->flags & (SP_UNSYNC | SP_DIRECT)))
			return true;
	}
	return false;
}

/*
 * Clear R/W in every leaf that may map gfn writable (its rmap list, which holds every writable
 * leaf of gfn and perhaps stale entries, harmless: only a leaf that still maps gfn writable is
 * changed). When one was, every vCPU's TLB flushes before its next entry (c->gen).
 */
static void write_protect(struct shadow_cache *c, u64 gfn, u64 pages)
{
	u32 i, next;

	if (gfn >= pages)
		return;
	for (i = c->rmap[gfn]; i; i = next) {
		struct rmap_node *nd = &c->nodes[i - 1];
		u64 e = *nd->spte;

		next = nd->next;
		if ((e & (PTE_P | PTE_RW)) == (PTE_P | PTE_RW) && ((e & ADDR_MASK) >> 12) == gfn) {
			*nd->spte = e & ~(u64)PTE_RW;
			c->gen++;
		}
		nd->next = c->free_node;
		c->free_node = i;
	}
	c->rmap[gfn] = 0;
}

/* Note a writable leaf of gfn; false when the node pool is exhausted. */
static bool rmap_add(struct shadow_cache *c, u64 gfn, u64 *spte, u64 pages)
{
	u32 i;

	if (gfn >= pages)
		return true;
	if (c->free_node) {
		i = c->free_node;
		c->free_node = c->nodes[i - 1].next;
	} else if (c->nr_nodes < RMAP_NODES) {
		i = ++c->nr_nodes;
	} else {
		return false;
	}
	c->nodes[i - 1] = (struct rmap_node){ .spte = spte, .next = c->rmap[gfn] };
	c->rmap[gfn] = i;
	return true;
}

/* The cache in use (it mirrors some table): every vCPU's writable leaves are then tracked. */
static bool cache_in_use(const struct shadow_cache *c)
{
	return c->pool.used != 0;
}

/* A new shadow page from the cache's pool: its pool index + 1; 0 when the pool is full. */
static u32 sp_new(struct vcpu *vcpu, u64 gfn, unsigned level, u8 flags)
{
	struct shadow_cache *c = vcpu->shadow->cache;
	u64 hpa;

	if (!cache_in_use(c))
		c->epoch++; /* virtual TLBs drop their untracked writable leaves */
	if (!pool_take(vcpu, &c->pool, &hpa))
		return 0;
	c->meta[c->pool.used - 1] = (struct sp_meta){ .gfn = gfn, .level = (u8)level,
						     .flags = flags };
	return c->pool.used;
}

/* The shadow page mirroring the guest's table at gfn on `level`, made if there is none (the
   table then write-protected): its pool index + 1; 0 when the pool is full. */
static u32 sp_get(struct vcpu *vcpu, u64 gfn, unsigned level)
{
	struct shadow_cache *c = vcpu->shadow->cache;
	u32 h = hash_of(gfn), i;

	for (i = c->hash[h]; i; i = c->meta[i - 1].hnext)
		if (c->meta[i - 1].gfn == gfn && c->meta[i - 1].level == level &&
		    !(c->meta[i - 1].flags & SP_DIRECT))
			return i;
	i = sp_new(vcpu, gfn, level, 0);
	if (i) {
		c->meta[i - 1].hnext = c->hash[h];
		c->hash[h] = i;
		write_protect(c, gfn, vcpu->vm->ram_size >> 12);
	}
	return i;
}

/* A direct shadow page: 4 KiB pieces of a guest large page from gfn (not mirrored, not
   hashed; reached only through its parent entry). */
static u32 sp_direct(struct vcpu *vcpu, u64 gfn, unsigned level)
{
	return sp_new(vcpu, gfn, level, SP_DIRECT);
}

/* The guest's writes to the table at gfn go ahead: its mirrors are out of sync until the
   next resync. */
static void unsync_gfn(struct shadow_cache *c, u64 gfn)
{
	for (u32 i = c->hash[hash_of(gfn)]; i; i = c->meta[i - 1].hnext) {
		struct sp_meta *m = &c->meta[i - 1];

		if (m->gfn == gfn && !(m->flags & (SP_UNSYNC | SP_DIRECT))) {
			m->flags |= SP_UNSYNC;
			m->unext = c->unsync_head;
			c->unsync_head = i;
			c->unsyncs++;
		}
	}
}

/* The whole cache dropped (a full pool or reverse map): KVM's zap-all. Every vCPU finds its
   root again, and the virtual TLBs start over, at their next entry (c->epoch). */
static void cache_reset(struct vcpu *vcpu)
{
	struct shadow_cache *c = vcpu->shadow->cache;

	c->pool.used = 0;
	memset(c->hash, 0, sizeof(c->hash));
	memset(c->rmap, 0, (vcpu->vm->ram_size >> 12) * sizeof(*c->rmap));
	c->unsync_head = 0;
	c->nr_nodes = c->free_node = 0;
	c->nxe = -1;
	c->epoch++;
	c->gen++;
}

/* The root for the guest's CR3: its PML4's mirror (the cache starts over if full). An empty
   cache takes the vCPU's EFER.NXE as the one its mirrors are made under. */
static void cached_root(struct vcpu *vcpu)
{
	struct shadow_mmu *sh = vcpu->shadow;
	u64 gfn = (sh->guest.cr3 & ADDR_MASK) >> 12;
	u32 i = sp_get(vcpu, gfn, 4);

	if (!i) {
		cache_reset(vcpu);
		i = sp_get(vcpu, gfn, 4);
	}
	if (sh->cache->nxe < 0)
		sh->cache->nxe = !!(sh->guest.efer & EFER_NXE);
	sh->root_hpa = i ? sh->cache->pool.hpa[i - 1] : 0;
	sh->seen_epoch = sh->cache->epoch;
}

/*
 * Every out-of-sync shadow page brought in line with the guest's table: an entry stays only if
 * the guest's entry still says what the shadow entry was made from (present, accessed, no
 * reserved bit; the same page or child table and rights; a writable leaf only while the guest's
 * is writable and dirty and its page is no mirrored table), else it goes and refills at the
 * next #PF. The table is then write-protected again. The caller's TLB flushes.
 */
static void cached_resync(struct vcpu *vcpu)
{
	struct shadow_mmu *sh = vcpu->shadow;
	struct shadow_cache *c = sh->cache;
	const struct vm *vm = vcpu->vm;
	u64 pages = vm->ram_size >> 12;
	bool nx = c->nxe > 0;
	u64 rsvd = RSVD_4LEVEL | (nx ? 0 : PTE_XD), rights = PTE_RW | PTE_US | (nx ? PTE_XD : 0);
	u32 i = c->unsync_head;

	c->unsync_head = 0;
	while (i) {
		struct sp_meta *m = &c->meta[i - 1];
		u64 *t = c->pool.page[i - 1];
		u32 next = m->unext;

		m->flags &= ~SP_UNSYNC;
		m->unext = 0;
		c->resyncs++;
		for (unsigned k = 0; k < 512; k++) {
			u64 e = t[k], ge = 0;
			bool keep;

			if (!(e & PTE_P))
				continue;
			keep = guest_read(vm, (m->gfn << 12) + 8 * k, 8, &ge) &&
			       (ge & (PTE_P | PTE_A)) == (PTE_P | PTE_A) && !(ge & rsvd);
			if (m->level == 1) {
				keep = keep && !((ge ^ e) & ADDR_MASK) && !((ge ^ e) & (rights & ~PTE_RW));
				if (keep && (e & PTE_RW) &&
				    (!(ge & PTE_RW) || !(ge & PTE_D) ||
				     gfn_protected(c, (e & ADDR_MASK) >> 12)))
					e &= ~(u64)PTE_RW;
			} else {
				u32 ch = sp_index(c, e & ADDR_MASK);

				keep = keep && ch && !(e & SPTE_LARGE) && !(ge & PTE_PS) &&
				       !(c->meta[ch - 1].flags & SP_DIRECT) &&
				       c->meta[ch - 1].gfn == (ge & ADDR_MASK) >> 12 &&
				       !((ge ^ e) & rights);
			}
			/* A leaf that loses R/W may sit writable in any vCPU's TLB: all flush. */
			if ((t[k] & PTE_RW) && !(keep && (e & PTE_RW)) && m->level == 1)
				c->gen++;
			t[k] = keep ? e : 0;
		}
		write_protect(c, m->gfn, pages);
		sh->need_flush = true;
		i = next;
	}
}

/*
 * Drop the whole shadow: a new, empty root. A PAE root gets its four PDPTEs (and their page
 * directories) now, since the CPU loads PDPTEs only at VM entry and MOV CR3 (SDM 27.3.2.4,
 * 4.4.1): entries added later would not be seen.
 */
static void shadow_reset(struct vcpu *vcpu)
{
	struct shadow_mmu *sh = vcpu->shadow;
	struct shadow_cache *c = sh->cache;
	int nxe = !!(sh->guest.efer & EFER_NXE);
	u64 *root;

	sh->pool.used = 0;
	sh->stats.resets++;
	sh->need_flush = true;
	sh->seen_epoch = c->epoch;
	/* Cached mode: a 4-level guest with CR0.WP = 1 whose EFER.NXE is the mirrors' (the
	   vCPUs of one OS agree; one that does not keeps a virtual TLB). */
	sh->cached = sh->caching && shadow_long(sh) && (sh->guest.cr0 & CR0_WP) &&
		     (c->nxe < 0 || c->nxe == nxe);
	if (sh->cached) {
		cached_root(vcpu);
	} else if (shadow_long(sh)) {
		root = pool_take(vcpu, &sh->pool, &sh->root_hpa);
	} else {
		/* A PAE CR3 is 32 bits: the vCPU's PDPT slot below 4 GiB (vm.h). */
		sh->root_hpa = VM_PAE_ROOTS_BASE + 32 * vcpu->id;
		root = table_at_pae(vcpu->vm, sh->root_hpa);
		for (unsigned i = 0; i < 4; i++) {
			u64 hpa;

			root[i] = pool_take(vcpu, &sh->pool, &hpa) ? hpa | PTE_P : 0;
		}
	}
	if (guest_paging(sh) && (sh->guest.cr4 & CR4_PAE) && !shadow_long(sh))
		load_guest_pdptes(vcpu);
}

bool shadow_load(struct vcpu *vcpu, const struct shadow_regs *guest, struct shadow_regs *real)
{
	struct shadow_mmu *sh = vcpu->shadow;
	const struct shadow_regs *old = &sh->guest;
	bool changed = !sh->valid || ((old->cr0 ^ guest->cr0) & KEY_CR0) ||
		       ((old->cr4 ^ guest->cr4) & KEY_CR4) ||
		       ((old->efer ^ guest->efer) & KEY_EFER);
	/* A CR3 load, or a change of CR4.PGE, which flushes global pages too (4.10.4.1; the
	   shadow has none: the CPU runs without PGE), asks for the same. */
	bool cr3 = (guest->cr0 & CR0_PG) &&
		   (old->cr3 != guest->cr3 || sh->cr3_loaded || ((old->cr4 ^ guest->cr4) & CR4_PGE));
	bool flush;

	sh->guest = *guest;
	sh->valid = true;
	sh->cr3_loaded = false;
	if (changed || (cr3 && !sh->cached)) {
		shadow_reset(vcpu);
	} else if (cr3) {
		/* Cached mode: the tables of the new CR3 as they are now, then its root. */
		cached_resync(vcpu);
		cached_root(vcpu);
		sh->need_flush = true;
	}
	/* What the CPU runs with (see shadow.h): paging on with PAE, WP and NXE; SMEP and SMAP
	   only while the guest pages (it has no user/supervisor pages otherwise); no global
	   pages, so that every shadow drop is a plain VPID flush; LME follows LMA (a guest with
	   LME set and paging off is in protected mode, 27.3.1.1). */
	real->cr0 = guest->cr0 | CR0_PE | CR0_PG | CR0_WP;
	real->cr4 = (guest->cr4 | CR4_PAE) & ~(u64)(CR4_PGE | CR4_PCIDE);
	if (!(guest->cr0 & CR0_PG))
		real->cr4 &= ~(u64)(CR4_SMEP | CR4_SMAP);
	real->efer = (guest->efer & ~(u64)EFER_LME) | EFER_NXE |
		     (guest->efer & EFER_LMA ? EFER_LME : 0);
	real->cr3 = sh->root_hpa;
	flush = sh->need_flush;
	sh->need_flush = false;
	return flush;
}

bool shadow_sync(struct vcpu *vcpu, u64 *root)
{
	struct shadow_mmu *sh = vcpu->shadow;
	struct shadow_cache *c = sh->cache;
	bool flush = sh->need_flush || sh->seen_gen != c->gen;

	/* The cache was dropped, or came into use: a cached vCPU finds its root again, a
	   virtual TLB starts over (its writable leaves must be tracked from now on). */
	if (sh->seen_epoch != c->epoch && sh->valid) {
		if (sh->cached)
			cached_root(vcpu);
		else
			shadow_reset(vcpu);
		flush = true;
	}
	sh->seen_epoch = c->epoch;
	sh->seen_gen = c->gen;
	sh->need_flush = false;
	*root = sh->root_hpa;
	return flush;
}

bool shadow_want_mtf(struct vcpu *vcpu)
{
	struct shadow_mmu *sh = vcpu->shadow;
	bool want = sh->mtf_wanted;

	sh->mtf_wanted = false;
	return want;
}

void shadow_note_emulation(struct vcpu *vcpu, bool on)
{
	if (on)
		vcpu->shadow->stats.emulated++;
}

void shadow_flush(struct vcpu *vcpu)
{
	/* Cached mode keeps its mirrors, brought in line; else the shadow goes. */
	if (vcpu->shadow->cached)
		cached_resync(vcpu);
	else
		shadow_reset(vcpu);
	vcpu->shadow->need_flush = false; /* the caller flushes the TLB */
}

void shadow_cr3_load(struct vcpu *vcpu)
{
	struct shadow_mmu *sh = vcpu->shadow;

	/* The next shadow_load sees the load (even of the same CR3): a new shadow, or in cached
	   mode the tables brought in line and the new root. */
	sh->cr3_loaded = true;
}

/* The guest's translation of a linear address (SDM 4.3-4.5). */
struct gwalk {
	u64 gpa;	  /* of the 4 KiB page holding lin */
	unsigned shift;	  /* the guest page's size: 12, 21, 22 or 30 */
	u64 entry[4];	  /* guest-physical addresses of the entries used, top first */
	u64 val[4];	  /* and their values as the walk read them */
	unsigned esize, n;
	u64 and_, or_;	  /* R/W, U/S ANDed over the levels; XD ORed */
	bool dirty;	  /* the leaf's D flag */
	u32 fault;	  /* when the walk fails: P and RSVD of the error code (SDM 4.7) */
};

enum { WALK_OK, WALK_FAULT, WALK_OUTSIDE };

/* PAE (from a page directory, level 2) and 4-level (from the PML4, level 4) levels. */
static int walk_levels(const struct vm *vm, u64 lin, u64 table, unsigned level, u64 rsvd,
		       struct gwalk *w)
{
	for (unsigned shift = 12 + 9 * (level - 1);; level--, shift -= 9) {
		u64 addr = table + (((lin >> shift) & 511) << 3), e;
		u64 r = rsvd;

		if (!guest_read(vm, addr, 8, &e))
			return WALK_OUTSIDE;
		if (!(e & PTE_P))
			return WALK_FAULT;
		bool leaf = level == 1 || (level <= 3 && (e & PTE_PS));
		if (level == 4)
			r |= PTE_PS;
		else if (leaf && level == 3)
			r |= RSVD_1G;
		else if (leaf && level == 2)
			r |= RSVD_2M;
		if (e & r) {
			w->fault = PFEC_P | PFEC_RSVD;
			return WALK_FAULT;
		}
		w->entry[w->n] = addr;
		w->val[w->n++] = e;
		w->and_ &= e;
		w->or_ |= e;
		if (leaf) {
			w->shift = shift;
			w->gpa = (e & ADDR_MASK & ~((1ull << shift) - 1)) |
				 (lin & ((1ull << shift) - 1) & ~0xfffull);
			w->dirty = e & PTE_D;
			return WALK_OK;
		}
		table = e & ADDR_MASK;
	}
}

static int walk_guest(struct vcpu *vcpu, u64 lin, struct gwalk *w)
{
	const struct shadow_mmu *sh = vcpu->shadow;
	const struct vm *vm = vcpu->vm;
	const struct shadow_regs *g = &sh->guest;
	u64 nx_rsvd = g->efer & EFER_NXE ? 0 : PTE_XD;

	*w = (struct gwalk){ .and_ = PTE_RW | PTE_US, .shift = 12, .esize = 8 };
	if (!(g->cr0 & CR0_PG)) {
		/* No paging: linear is physical (32 bits outside IA-32e mode, SDM 4.1.1). */
		w->gpa = lin & GENMASK(31, 12);
		w->dirty = true;
		return WALK_OK;
	}
	if (g->efer & EFER_LMA)
		return walk_levels(vm, lin, g->cr3 & ADDR_MASK, 4, RSVD_4LEVEL | nx_rsvd, w);
	if (g->cr4 & CR4_PAE) {
		u64 pdpte = sh->guest_pdpte[(lin >> 30) & 3];

		if (!(pdpte & PTE_P))
			return WALK_FAULT;
		if (pdpte & RSVD_PAE_PDPTE) {
			w->fault = PFEC_P | PFEC_RSVD;
			return WALK_FAULT;
		}
		return walk_levels(vm, lin, pdpte & ADDR_MASK, 2, RSVD_PAE | nx_rsvd, w);
	}
	/* 32-bit paging (SDM 4.3): 4-byte entries, no XD; PSE-36 4 MiB pages with CR4.PSE. */
	u64 addr = (g->cr3 & GENMASK(31, 12)) + (((lin >> 22) & 1023) << 2), pde, pte;

	w->esize = 4;
	if (!guest_read(vm, addr, 4, &pde))
		return WALK_OUTSIDE;
	if (!(pde & PTE_P))
		return WALK_FAULT;
	w->entry[w->n] = addr;
	w->val[w->n++] = pde;
	w->and_ &= pde;
	if ((pde & PTE_PS) && (g->cr4 & CR4_PSE)) {
		if (pde & RSVD_PSE_4M) {
			w->fault = PFEC_P | PFEC_RSVD;
			return WALK_FAULT;
		}
		w->shift = 22;
		w->gpa = (pde & GENMASK(31, 22)) | ((pde & GENMASK(20, 13)) << 19) |
			 (lin & GENMASK(21, 12));
		w->dirty = pde & PTE_D;
		return WALK_OK;
	}
	addr = (pde & GENMASK(31, 12)) + (((lin >> 12) & 1023) << 2);
	if (!guest_read(vm, addr, 4, &pte))
		return WALK_OUTSIDE;
	if (!(pte & PTE_P))
		return WALK_FAULT;
	w->entry[w->n] = addr;
	w->val[w->n++] = pte;
	w->and_ &= pte;
	w->gpa = pte & GENMASK(31, 12);
	w->dirty = pte & PTE_D;
	return WALK_OK;
}

/* Set flags in a guest entry (SDM 4.8), atomically as the CPU's locked update does. */
static void guest_set_flags(struct vm *vm, u64 gpa, unsigned size, u64 flags)
{
	u64 old;

	if (size == 8)
		old = __atomic_fetch_or((u64 *)(vm->ram + gpa), flags, __ATOMIC_SEQ_CST);
	else
		old = __atomic_fetch_or((u32 *)(vm->ram + gpa), (u32)flags, __ATOMIC_SEQ_CST);
	if ((old & flags) != flags)
		vm_mem_written(vm, gpa, size);
}

/*
 * The table entry at index `idx` of `table` (a shadow page), a new table below it when it has
 * none; NULL when the pool is full. A PAE root's PDPTEs are made at reset.
 */
static u64 *shadow_next(struct vcpu *vcpu, u64 *table, unsigned idx, bool large, bool create)
{
	u64 e = table[idx], hpa;
	u64 *next;

	if (e & PTE_P) {
		if (large)
			table[idx] |= SPTE_LARGE;
		return table_at(vcpu->vm, e);
	}
	if (!create)
		return NULL;
	next = pool_take(vcpu, &vcpu->shadow->pool, &hpa);
	if (next)
		table[idx] = hpa | PTE_P | PTE_RW | PTE_US | PTE_A | (large ? SPTE_LARGE : 0);
	return next;
}

/* The shadow leaf for lin, its tables made on the way with `create`; NULL when the pool is
   full (or, without `create`, when no table holds it). */
static u64 *shadow_leaf(struct vcpu *vcpu, u64 lin, unsigned guest_shift, bool create)
{
	struct shadow_mmu *sh = vcpu->shadow;
	u64 *t = shadow_long(sh) ? table_at(vcpu->vm, sh->root_hpa)
				 : table_at_pae(vcpu->vm, sh->root_hpa);

	if (!t)
		return NULL;
	if (shadow_long(sh)) {
		t = shadow_next(vcpu, t, (lin >> 39) & 511, false, create);
		if (t)
			t = shadow_next(vcpu, t, (lin >> 30) & 511, guest_shift >= 30, create);
	} else {
		u64 e = t[(lin >> 30) & 3];

		t = e & PTE_P ? table_at(vcpu->vm, e) : NULL;
		/* A PAE root whose directories the pool could not give. */
		if (!t)
			return NULL;
	}
	if (t)
		t = shadow_next(vcpu, t, (lin >> 21) & 511, guest_shift > 12, create);
	return t ? &t[(lin >> 12) & 511] : NULL;
}

/* The leaf slot for lin in cached mode, the shadow pages on the way made or fixed to match
   the guest's entries of the walk w; NULL when the pool is full. */
static u64 *cached_leaf(struct vcpu *vcpu, u64 lin, const struct gwalk *w)
{
	struct shadow_mmu *sh = vcpu->shadow;
	struct shadow_cache *c = sh->cache;
	u32 root = sp_index(c, sh->root_hpa);
	u64 *t = root ? c->pool.page[root - 1] : NULL;
	unsigned large_level = 5 - w->n; /* the guest's leaf level: 1, or 2/3 for a large page */

	for (unsigned level = 4; t && level > 1; level--) {
		unsigned k = (lin >> (12 + 9 * (level - 1))) & 511;
		u64 e = t[k], ge = level >= large_level ? w->val[4 - level] : 0, rights, want;
		u32 ch = e & PTE_P ? sp_index(c, e & ADDR_MASK) : 0;
		bool direct = level <= large_level;
		const struct sp_meta *m = ch ? &c->meta[ch - 1] : NULL;

		if (direct) {
			/* Under a guest large page: its pieces, from the 4 KiB page of lin. */
			want = (w->gpa >> 12) & ~((1ull << (9 * (level - 1))) - 1);
			rights = level == large_level ? ge & (PTE_RW | PTE_US | PTE_XD)
						      : PTE_RW | PTE_US;
		} else {
			want = (ge & ADDR_MASK) >> 12;
			rights = ge & (PTE_RW | PTE_US | PTE_XD);
		}
		if (!m || !(m->flags & SP_DIRECT) != !direct || m->gfn != want ||
		    m->level != level - 1 || (e & (PTE_RW | PTE_US | PTE_XD)) != rights) {
			ch = direct ? sp_direct(vcpu, want, level - 1) : sp_get(vcpu, want, level - 1);
			if (!ch)
				return NULL;
			t[k] = c->pool.hpa[ch - 1] | PTE_P | PTE_A | rights |
			       (level == large_level ? SPTE_LARGE : 0);
		}
		t = c->pool.page[ch - 1];
	}
	return t ? &t[(lin >> 12) & 511] : NULL;
}

/*
 * Write protection for a leaf about to map tgfn with `spte` (any vCPU's, cached or not, while
 * the cache is in use): a write to a mirrored table unsyncs it; a read maps it read-only; a
 * writable leaf goes into the reverse map. False when that is full and the access a write.
 */
static bool leaf_protect(struct vcpu *vcpu, u64 tgfn, bool write, u64 *leaf, u64 *spte)
{
	struct shadow_cache *c = vcpu->shadow->cache;

	if (!cache_in_use(c) || !(*spte & PTE_RW))
		return true;
	if (gfn_protected(c, tgfn)) {
		if (!write) {
			*spte &= ~(u64)PTE_RW;
			return true;
		}
		unsync_gfn(c, tgfn);
	}
	if (rmap_add(c, tgfn, leaf, vcpu->vm->ram_size >> 12))
		return true;
	*spte &= ~(u64)PTE_RW; /* no room to track it writable: read-only will do for a read */
	return !write;
}

void shadow_set_apic_page(struct vcpu *vcpu, u64 gpa)
{
	vcpu->shadow->apic_page = gpa;
}

/*
 * The guest's translation of lin for an access described by a #PF error code's W, U, I bits
 * (ec), at `cpl` with `rflags`: WALK_OK (w filled, rights allow it), WALK_FAULT (*fault_ec: the
 * error code the guest's CPU would give, SDM 4.7) or WALK_OUTSIDE.
 */
static int guest_access(struct vcpu *vcpu, u64 lin, u32 ec, unsigned cpl, u64 rflags,
			struct gwalk *w, u32 *fault_ec)
{
	const struct shadow_regs *g = &vcpu->shadow->guest;
	bool write = ec & PFEC_W, user = ec & PFEC_U, fetch = ec & PFEC_I;
	bool paging = g->cr0 & CR0_PG, nx = paging && (g->cr4 & CR4_PAE) && (g->efer & EFER_NXE);
	bool smep = paging && (g->cr4 & CR4_SMEP), smap = paging && (g->cr4 & CR4_SMAP);
	bool denied;
	int r = walk_guest(vcpu, lin, w);

	if (r == WALK_OUTSIDE)
		return r;
	/* Access rights (SDM 4.6.1): user accesses need U/S at every level, and R/W for writes;
	   supervisor writes need R/W when CR0.WP = 1; fetches need XD clear (NXE); SMEP forbids
	   supervisor fetches from user pages, SMAP supervisor data accesses to them when
	   implicit (at CPL 3) or with RFLAGS.AC = 0. */
	bool rw = !paging || (w->and_ & PTE_RW), us = !paging || (w->and_ & PTE_US);
	bool xd = nx && (w->or_ & PTE_XD);
	denied = r == WALK_FAULT;
	if (!denied) {
		if (user)
			denied = !us || (write && !rw) || (fetch && xd);
		else
			denied = (write && !rw && (g->cr0 & CR0_WP)) ||
				 (fetch && (xd || (smep && us))) ||
				 (!fetch && smap && us && (cpl == 3 || !(rflags & X86_AC)));
		if (denied)
			w->fault = PFEC_P;
	}
	if (!denied)
		return WALK_OK;
	*fault_ec = w->fault | (ec & (PFEC_W | PFEC_U)) | (fetch && (smep || nx) ? PFEC_I : 0);
	return WALK_FAULT;
}

/* The accessed flags of every entry used, the dirty flag of the leaf on a write (4.8). */
static void guest_mark(struct vcpu *vcpu, const struct gwalk *w, bool write)
{
	for (unsigned i = 0; i < w->n; i++)
		guest_set_flags(vcpu->vm, w->entry[i], w->esize,
				PTE_A | (write && i == w->n - 1 ? PTE_D : 0));
}

static void stop_outside(struct vcpu *vcpu, u64 lin)
{
	vm_request_stop(vcpu->vm, EXIT_STATUS_STOPPED,
			"guest page tables for linear %#llx lie outside RAM (CR3 %#llx): "
			"shadow paging (--vmx ept=off) walks only tables in guest RAM",
			(unsigned long long)lin, (unsigned long long)vcpu->shadow->guest.cr3);
}

int shadow_vmm_walk(void *arg, u64 lin, bool write, u64 *gpa, u32 *pfec)
{
	struct vcpu *vcpu = arg;
	struct x86_sregs s;
	struct x86_regs regs;
	struct gwalk w;
	unsigned cpl;
	int r;

	/* CPL and RFLAGS.AC decide user and SMAP: the string instruction's, from the backend. */
	vcpu->vm->backend->get_sregs(vcpu, &s);
	vcpu->vm->backend->get_regs(vcpu, &regs);
	cpl = (s.seg[SEG_SS].ar >> 5) & 3;
	if (!(vcpu->shadow->guest.efer & EFER_LMA))
		lin = (u32)lin;
	r = guest_access(vcpu, lin, (write ? PFEC_W : 0) | (cpl == 3 ? PFEC_U : 0), cpl,
			 regs.rflags, &w, pfec);
	if (r == WALK_OUTSIDE) {
		stop_outside(vcpu, lin);
		*gpa = ~0ull; /* MMIO that nothing claims, while the run stops */
		return 0;
	}
	if (r == WALK_FAULT)
		return -1;
	guest_mark(vcpu, &w, write);
	*gpa = w.gpa | (lin & 0xfff);
	return 0;
}

/*
 * Cached mode's fill for an access the guest's tables allow (w, their flags set): the leaf
 * with the guest leaf's own rights (the mirrored tables above carry the rest), writable only
 * once the guest's entry is dirty and while its page is no mirrored table. A write to a
 * mirrored table unsyncs it first: the guest writes its tables freely until the next resync.
 */
static enum shadow_fault cached_fill(struct vcpu *vcpu, u64 lin, bool write, const struct gwalk *w,
				     bool *flush_lin)
{
	struct shadow_mmu *sh = vcpu->shadow;
	u64 gl = w->val[w->n - 1], want = w->gpa | PTE_P | PTE_A | PTE_D, spte, tgfn = w->gpa >> 12;
	bool large = w->n < 4, nx = sh->guest.efer & EFER_NXE;
	u64 *leaf;

	if (!large)
		want |= (gl & PTE_US) | (nx ? gl & PTE_XD : 0);
	else
		want |= PTE_US; /* the guest's rights are in the directory entry above */
	if ((gl & PTE_RW) && (write || w->dirty))
		want |= PTE_RW;
	for (int attempt = 0;; attempt++) {
		/* The walk may make the target page a mirrored table: protection after it. */
		leaf = cached_leaf(vcpu, lin, w);
		spte = want;
		if (leaf && leaf_protect(vcpu, tgfn, write, leaf, &spte))
			break;
		if (attempt) {
			vm_request_stop(vcpu->vm, EXIT_STATUS_STOPPED,
					"shadow paging: out of host memory for shadow page tables");
			return SHADOW_STOP;
		}
		/* The pool or the reverse map is full: start over (KVM's zap-all). */
		cache_reset(vcpu);
		cached_root(vcpu);
	}
	*flush_lin = true;
	*leaf = spte;
	sh->stats.fills++;
	return SHADOW_FIXED;
}

enum shadow_fault shadow_page_fault(struct vcpu *vcpu, u64 lin, u32 ec, unsigned cpl, u64 rflags,
				    u32 *guest_ec, u64 *gpa, bool *flush_lin)
{
	struct shadow_mmu *sh = vcpu->shadow;
	const struct shadow_regs *g = &sh->guest;
	bool write = ec & PFEC_W, user = ec & PFEC_U;
	bool paging = g->cr0 & CR0_PG, nx = paging && (g->cr4 & CR4_PAE) && (g->efer & EFER_NXE);
	bool smep = paging && (g->cr4 & CR4_SMEP), wp = g->cr0 & CR0_WP;
	struct gwalk w;
	u64 spte, want, *leaf;
	int r;

	sh->stats.faults++;
	*flush_lin = false;
	if (!(g->efer & EFER_LMA))
		lin = (u32)lin;
	r = guest_access(vcpu, lin, ec, cpl, rflags, &w, guest_ec);
	if (r == WALK_OUTSIDE) {
		stop_outside(vcpu, lin);
		return SHADOW_STOP;
	}
	if (r == WALK_FAULT) {
		/* The guest's own fault; the #PF also invalidates lin's translations (4.10.4.1). */
		sh->stats.reflected++;
		if ((leaf = shadow_leaf(vcpu, lin, 12, false)) && *leaf) {
			*leaf = 0;
			*flush_lin = true;
		}
		return SHADOW_GUEST_FAULT;
	}
	bool rw = !paging || (w.and_ & PTE_RW), us = !paging || (w.and_ & PTE_US);
	bool xd = nx && (w.or_ & PTE_XD);
	*gpa = w.gpa | (lin & 0xfff);
	guest_mark(vcpu, &w, write);
	/*
	 * The shadow leaf: the page's host-physical address (RAM is host-physical 0..ram_size;
	 * beyond it the CPU's physical accesses without EPT reach MMIO only, never the VMM's
	 * pages), U/S and XD as the guest's. R/W only once the guest's D is set, so that the
	 * first write faults and sets it. A supervisor write that CR0.WP = 0 allows to a page
	 * R/W forbids gets a supervisor-only writable leaf (and XD under SMEP), as KVM does: user
	 * accesses then fault and get the user's read-only leaf back.
	 */
	if (w.gpa >= vcpu->vm->ram_size && !(sh->apic_page && w.gpa == sh->apic_page)) {
		sh->stats.mmio++;
		return SHADOW_MMIO;
	}
	if (sh->cached)
		return cached_fill(vcpu, lin, write, &w, flush_lin);
	spte = w.gpa | PTE_P | PTE_A | PTE_D | (us ? PTE_US : 0) | (xd ? PTE_XD : 0);
	if (rw && (write || w.dirty))
		spte |= PTE_RW;
	else if (write && !user && !wp) {
		spte = (spte & ~(u64)PTE_US) | PTE_RW;
		if (smep && us)
			spte |= PTE_XD;
		/* With SMAP the leaf must not outlive this write: a later supervisor access with
		   RFLAGS.AC = 0 to this user page has to fault (SDM 4.6.1), and a supervisor-only
		   leaf would not. The MTF exit after the instruction takes it back. */
		if (us && (g->cr4 & CR4_SMAP) && paging) {
			sh->mtf_pending = sh->mtf_wanted = true;
			sh->mtf_lin = lin;
		}
	}
	want = spte;
	for (int attempt = 0;; attempt++) {
		leaf = shadow_leaf(vcpu, lin, w.shift, true);
		spte = want;
		if (leaf && leaf_protect(vcpu, w.gpa >> 12, write, leaf, &spte))
			break;
		if (attempt == 2) {
			vm_request_stop(vcpu->vm, EXIT_STATUS_STOPPED,
					"shadow paging: out of host memory for shadow page tables");
			return SHADOW_STOP;
		}
		/* Start over (KVM's zap-all): the pool is full, or the reverse map. */
		if (!leaf)
			shadow_reset(vcpu);
		else
			cache_reset(vcpu);
	}
	if (*leaf != spte) {
		*flush_lin = *leaf != 0;
		*leaf = spte;
	} else {
		/* The CPU faulted on what the shadow already maps: a stale TLB entry. */
		*flush_lin = true;
	}
	sh->stats.fills++;
	return SHADOW_FIXED;
}

bool shadow_invlpg(struct vcpu *vcpu, u64 lin)
{
	struct shadow_mmu *sh = vcpu->shadow;
	unsigned level = shadow_long(sh) ? 4 : 3;
	bool all = false;
	u64 *t, e;

	sh->stats.invlpg++;
	if (!(sh->guest.efer & EFER_LMA))
		lin = (u32)lin;
	/* INVLPG drops every paging-structure cache entry too (4.10.4.1): out-of-sync mirrors
	   are brought in line, and the whole TLB goes. */
	if (sh->cached && sh->cache->unsync_head) {
		cached_resync(vcpu);
		all = true;
	}
	t = shadow_long(sh) ? table_at(vcpu->vm, sh->root_hpa) : table_at_pae(vcpu->vm, sh->root_hpa);
	/* Down the shadow; a table entry marked SPTE_LARGE goes whole. The PAE root's PDPTEs
	   stay (they were loaded at entry); their directories' entries go instead. */
	for (; t; level--) {
		unsigned idx = level == 3 && !shadow_long(sh) ? (lin >> 30) & 3
							     : (lin >> (12 + 9 * (level - 1))) & 511;
		e = t[idx];
		if (!(e & PTE_P))
			return all;
		if (level == 1) {
			t[idx] = 0;
			return all;
		}
		if ((e & SPTE_LARGE) && !(level == 3 && !shadow_long(sh))) {
			t[idx] = 0;
			/* A 4 MiB page of 32-bit paging spans two directory entries. */
			if (level == 2 && (sh->guest.cr0 & CR0_PG) && !(sh->guest.cr4 & CR4_PAE))
				t[idx ^ 1] = 0;
			return true;
		}
		t = table_at(vcpu->vm, e);
	}
	return all;
}

int shadow_read_virt(struct vcpu *vcpu, u64 lin, void *buf, size_t len)
{
	const struct vm *vm = vcpu->vm;
	u8 *out = buf;

	while (len) {
		size_t n = 4096 - (lin & 0xfff);
		struct gwalk w;
		u64 gpa;

		if (n > len)
			n = len;
		if (walk_guest(vcpu, vcpu->shadow->guest.efer & EFER_LMA ? lin : (u32)lin, &w) !=
		    WALK_OK)
			return -EFAULT;
		gpa = w.gpa | (lin & 0xfff);
		if (gpa >= vm->ram_size || n > vm->ram_size - gpa)
			return -EFAULT;
		memcpy(out, vm->ram + gpa, n);
		out += n;
		lin += n;
		len -= n;
	}
	return 0;
}

bool shadow_mtf(struct vcpu *vcpu, u64 *lin)
{
	struct shadow_mmu *sh = vcpu->shadow;
	u64 *leaf;

	if (!sh->mtf_pending)
		return false;
	sh->mtf_pending = false;
	*lin = sh->mtf_lin;
	leaf = shadow_leaf(vcpu, sh->mtf_lin, 12, false);
	if (leaf)
		*leaf = 0; /* the next access refills it with the rights it then needs */
	return true;
}

void shadow_vm_stats(const struct vm *vm, struct shadow_stats *t)
{
	*t = (struct shadow_stats){ 0 };
	for (unsigned i = 0; i < vm->nr_vcpus; i++) {
		const struct shadow_stats *s = vm->vcpus[i].shadow ? &vm->vcpus[i].shadow->stats : NULL;

		if (!s)
			continue;
		t->faults += s->faults;
		t->fills += s->fills;
		t->reflected += s->reflected;
		t->mmio += s->mmio;
		t->resets += s->resets;
		t->invlpg += s->invlpg;
		t->emulated += s->emulated;
		if (s->pages_peak > t->pages_peak)
			t->pages_peak = s->pages_peak;
	}
	if (vm->shadow_cache) { /* the VM's, counted once */
		t->unsyncs = vm->shadow_cache->unsyncs;
		t->resyncs = vm->shadow_cache->resyncs;
	}
}
