// SPDX-License-Identifier: MIT
/*
 * Soft CPUs on several host threads over one guest RAM (cpu_box.h boxes sharing their RAM).
 *
 * Requests from another thread (cpu.h): cpu_invalidate_code_async() and cpu_flush_tlb_async()
 * reach a CPU that runs a loop on its own thread, within bounded time (test_*_async).
 *
 * Locked instructions (SDM vol. 3A 9.1.2.2): two threads each run a CPU through the same loop of
 * LOCK INC, LOCK XADD, a LOCK CMPXCHG retry loop, LOCK ADD on operands that are misaligned
 * within 8 and across 8 bytes, a LOCK CMPXCHG16B retry loop, LOCK BTS/BTR used as a lock, and an
 * XCHG spinlock (implicitly locked) around plain increments; every counter must come out at
 * exactly twice the iterations. Interpreted and compiled (the block compiler sends LOCK forms to
 * the handlers), and the paging structures' accessed and dirty flags are set by both at once.
 */
#include <pthread.h>
#include <time.h>

#include "check.h"
#include "cpu_box.h"

#define ITERS 200000

/* The loop, assembled by the host's assembler: absolute addresses in BOX_DATA, RSI iterations,
   then HLT. */
#define D(off) "0x20000+" #off
__asm__(".pushsection .rodata\n"
	".globl smp_lock_code, smp_lock_code_end\n"
	"smp_lock_code:\n"
	"1:\n"
	"	lock incq " D(0x00) "\n"
	"	mov $1, %eax\n"
	"	lock xaddq %rax, " D(0x08) "\n"
	"	mov " D(0x10) ", %rax\n"
	"2:	lea 1(%rax), %rdx\n"
	"	lock cmpxchgq %rdx, " D(0x10) "\n"
	"	jnz 2b\n"
	"	lock addl $1, " D(0x1b) "\n"     /* misaligned inside an 8-byte word */
	"	lock addw $1, " D(0x27) "\n"     /* crosses an 8-byte boundary inside 16 bytes */
	"	mov " D(0x30) ", %rax\n"
	"	mov " D(0x38) ", %rdx\n"
	"3:	lea 1(%rax), %rbx\n"
	"	mov %rdx, %rcx\n"
	"	lock cmpxchg16b " D(0x30) "\n"
	"	jnz 3b\n"
	"4:	mov $1, %eax\n"
	"	xchg %eax, " D(0x40) "\n"      /* XCHG spinlock: no LOCK prefix */
	"	test %eax, %eax\n"
	"	jnz 4b\n"
	"	incq " D(0x48) "\n"
	"	movl $0, " D(0x40) "\n"
	"5:	lock btsl $3, " D(0x50) "\n"   /* BTS/BTR lock */
	"	jc 5b\n"
	"	incq " D(0x58) "\n"
	"	lock btrl $3, " D(0x50) "\n"
	"	lock decq " D(0x60) "\n"
	"	dec %rsi\n"
	"	jnz 1b\n"
	"	hlt\n"
	"smp_lock_code_end:\n"
	".popsection\n");
extern const u8 smp_lock_code[], smp_lock_code_end[];

/*
 * A CPU on its own thread until HLT. External-interrupt exiting is on so that cpu_kick() can end
 * a run (a test that fails may spin forever: a lost unlock): such exits, and the host timer's,
 * run again unless `stop` is set; HLT then ends in such an exit too (events.c).
 */
struct runner {
	struct box b;
	pthread_t t;
	int result; /* -1 halted, else the exit reason */
	unsigned done;
};

static unsigned gate; /* threads waiting to start: they start together */
static unsigned stop;

static void *run_to_hlt(void *arg)
{
	struct runner *r = arg;

	__atomic_sub_fetch(&gate, 1, __ATOMIC_SEQ_CST);
	while (__atomic_load_n(&gate, __ATOMIC_SEQ_CST))
		;
	for (;;) {
		if (cpu_run(r->b.c, &r->b.ex) == CPU_RUN_HALTED) {
			r->result = -1;
			break;
		}
		r->result = (int)(r->b.ex.reason & 0xffff);
		/* HLT with external-interrupt exiting: the host timer's exit, halted */
		if (r->b.c->halted) {
			r->result = -1;
			break;
		}
		if (r->result != EXIT_REASON_EXTERNAL_INTERRUPT || __atomic_load_n(&stop, __ATOMIC_SEQ_CST))
			break;
	}
	__atomic_store_n(&r->done, 1, __ATOMIC_SEQ_CST);
	return NULL;
}

static void runner_init(struct runner *r, u8 *ram, unsigned jit)
{
	box_init_ram(&r->b, ram);
	cpu_set_lock_atomic(r->b.c, true);
	cpu_set_jit(r->b.c, jit);
	r->b.ctl.pin |= PIN_EXTINT_EXITING;
	cpu_set_controls(r->b.c, &r->b.ctl);
	r->done = 0;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Start n runners together. */
static void start_all(struct runner *r, unsigned n)
{
	gate = n;
	stop = 0;
	for (unsigned i = 0; i < n; i++)
		pthread_create(&r[i].t, NULL, run_to_hlt, &r[i]);
}

/* Join n runners, kicking out any still running after `seconds`. False if any had to be. */
static bool join_all(struct runner *r, unsigned n, double seconds)
{
	double end = now() + seconds;
	bool ok = true;

	for (unsigned i = 0; i < n; i++) {
		while (!__atomic_load_n(&r[i].done, __ATOMIC_SEQ_CST) && now() < end)
			nanosleep(&(struct timespec){ .tv_nsec = 1000000 }, NULL);
		if (!__atomic_load_n(&r[i].done, __ATOMIC_SEQ_CST)) {
			ok = false;
			__atomic_store_n(&stop, 1, __ATOMIC_SEQ_CST);
			for (unsigned k = 0; k < n; k++)
				cpu_kick(r[k].b.c);
		}
	}
	for (unsigned i = 0; i < n; i++)
		pthread_join(r[i].t, NULL);
	return ok;
}

static bool run_all(struct runner *r, unsigned n, double seconds)
{
	start_all(r, n);
	return join_all(r, n, seconds);
}

/* Wait until the u64 at ram + a is v, for at most `seconds`. */
static bool wait_u64(const u8 *ram, u64 a, u64 v, double seconds)
{
	double end = now() + seconds;

	while (__atomic_load_n((const u64 *)(ram + a), __ATOMIC_SEQ_CST) != v)
		if (now() > end)
			return false;
	return true;
}

static u64 r64(const u8 *ram, u64 a)
{
	u64 v;

	memcpy(&v, ram + a, 8);
	return v;
}

static u32 r32(const u8 *ram, u64 a)
{
	u32 v;

	memcpy(&v, ram + a, 4);
	return v;
}

static u16 r16(const u8 *ram, u64 a)
{
	u16 v;

	memcpy(&v, ram + a, 2);
	return v;
}

static void test_lock(unsigned jit)
{
	u8 *ram = calloc(1, BOX_RAM);
	struct runner r[2];
	u64 n = ITERS;

	for (unsigned i = 0; i < 2; i++)
		runner_init(&r[i], ram, jit);
	memcpy(ram + BOX_CODE, smp_lock_code, (size_t)(smp_lock_code_end - smp_lock_code));
	/* The page-directory entry without A and D: both CPUs set them at once. */
	box_w64(ram, BOX_PML4 + 0x2000, 0x83);
	for (unsigned i = 0; i < 2; i++) {
		r[i].b.c->rip = BOX_CODE;
		r[i].b.c->gpr[R_RSI] = n;
	}
	CHECK(run_all(r, 2, 20));
	for (unsigned i = 0; i < 2; i++)
		CHECK_EQ(r[i].result, -1);
	CHECK_EQ(r64(ram, BOX_DATA + 0x00), 2 * n);		/* LOCK INC */
	CHECK_EQ(r64(ram, BOX_DATA + 0x08), 2 * n);		/* LOCK XADD */
	CHECK_EQ(r64(ram, BOX_DATA + 0x10), 2 * n);		/* LOCK CMPXCHG */
	CHECK_EQ(r32(ram, BOX_DATA + 0x1b), 2 * n);		/* LOCK ADD, misaligned */
	CHECK_EQ(r16(ram, BOX_DATA + 0x27), (u16)(2 * n)); /* across 8 bytes */
	CHECK_EQ(r64(ram, BOX_DATA + 0x30), 2 * n);		/* LOCK CMPXCHG16B */
	CHECK_EQ(r64(ram, BOX_DATA + 0x38), 0);
	CHECK_EQ(r64(ram, BOX_DATA + 0x48), 2 * n);		/* under the XCHG lock */
	CHECK_EQ(r64(ram, BOX_DATA + 0x58), 2 * n);		/* under the BTS lock */
	CHECK_EQ(r64(ram, BOX_DATA + 0x60), -2 * n);		/* LOCK DEC */
	CHECK_EQ(ram[BOX_PML4 + 0x2000] & 0x60, 0x60);	/* A and D */
	for (unsigned i = 0; i < 2; i++)
		cpu_destroy(r[i].b.c);
	free(ram);
}

/*
 * cpu_invalidate_code_async: a CPU loops storing an immediate; another thread rewrites the
 * immediate in RAM (behind the CPU's back: no write through its TLB) and asks for the page's
 * blocks to be dropped. The new immediate must be stored within bounded time, then a HLT written
 * the same way must end the run. Interpreted and compiled (a compiled block chained to itself).
 */
static void test_invalidate_async(unsigned jit)
{
	/* 1: movq $1, 0x20100; jmp 1b */
	static const u8 loop[] = { 0x48, 0xc7, 0x04, 0x25, 0x00, 0x01, 0x02, 0x00,
				   0x01, 0x00, 0x00, 0x00, 0xeb, 0xf2 };
	u8 *ram = calloc(1, BOX_RAM);
	struct runner r;

	runner_init(&r, ram, jit);
	memcpy(ram + BOX_CODE, loop, sizeof(loop));
	r.b.c->rip = BOX_CODE;
	start_all(&r, 1);
	CHECK(wait_u64(ram, BOX_DATA + 0x100, 1, 10));
	__atomic_store_n(&ram[BOX_CODE + 8], 2, __ATOMIC_SEQ_CST);
	cpu_invalidate_code_async(r.b.c, BOX_CODE + 8, 1);
	CHECK(wait_u64(ram, BOX_DATA + 0x100, 2, 10));
	__atomic_store_n(&ram[BOX_CODE], 0xf4, __ATOMIC_SEQ_CST);
	cpu_invalidate_code_async(r.b.c, BOX_CODE, 1);
	CHECK(join_all(&r, 1, 10));
	CHECK_EQ(r.result, -1);
	cpu_destroy(r.b.c);
	free(ram);
}

/*
 * cpu_flush_tlb_async: a CPU loops copying the quadword at linear 2 MiB, mapped by a 4 KiB page,
 * to 0x20100; another thread points the PTE at another page and asks for a TLB flush. The new
 * page's value must arrive within bounded time (the old translation stays cached without the
 * flush: no INVLPG in the loop). Then the PTE is made not present: the #PF exit ends the run.
 */
static void test_flush_tlb_async(unsigned jit)
{
	/* 1: mov 0x200000, %rax; mov %rax, 0x20100; jmp 1b */
	static const u8 loop[] = { 0x48, 0x8b, 0x04, 0x25, 0x00, 0x00, 0x20, 0x00,
				   0x48, 0x89, 0x04, 0x25, 0x00, 0x01, 0x02, 0x00, 0xeb, 0xee };
	u64 pt = BOX_DATA + 0x1000, page_a = BOX_DATA + 0x2000, page_b = BOX_DATA + 0x3000;
	u8 *ram = calloc(1, BOX_RAM);
	struct runner r;

	runner_init(&r, ram, jit);
	/* VPID on: re-entering cpu_run after the host timer's exits keeps the TLB (SDM 29.4.3.3) */
	r.b.ctl.proc |= PROC_SECONDARY_CONTROLS;
	r.b.ctl.proc2 |= PROC2_ENABLE_VPID;
	r.b.ctl.vpid = 1;
	cpu_set_controls(r.b.c, &r.b.ctl);
	memcpy(ram + BOX_CODE, loop, sizeof(loop));
	box_w64(ram, BOX_PML4 + 0x2000 + 8, pt | 3); /* PD entry 1: linear 2 MiB */
	box_w64(ram, pt, page_a | 3);
	box_w64(ram, page_a, 7);
	box_w64(ram, page_b, 9);
	r.b.c->rip = BOX_CODE;
	start_all(&r, 1);
	CHECK(wait_u64(ram, BOX_DATA + 0x100, 7, 10));
	__atomic_store_n((u64 *)(ram + pt), page_b | 3, __ATOMIC_SEQ_CST);
	cpu_flush_tlb_async(r.b.c);
	CHECK(wait_u64(ram, BOX_DATA + 0x100, 9, 10));
	__atomic_store_n((u64 *)(ram + pt), 0, __ATOMIC_SEQ_CST);
	cpu_flush_tlb_async(r.b.c);
	CHECK(join_all(&r, 1, 10));
	CHECK_EQ(r.result, EXIT_REASON_EXCEPTION_NMI);
	CHECK_EQ(r.b.ex.intr_info & 0xff, X86_PF_VEC);
	cpu_destroy(r.b.c);
	free(ram);
}

int main(void)
{
	test_lock(0);
	test_lock(1);
	for (unsigned jit = 0; jit < 2; jit++) {
		test_invalidate_async(jit);
		test_flush_tlb_async(jit);
	}
	return check_done("smp");
}
