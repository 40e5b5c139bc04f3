// SPDX-License-Identifier: MIT
/*
 * Soft CPUs on several host threads over one guest RAM (cpu_box.h boxes sharing their RAM).
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

/* Start n runners together; join them, kicking out any still running after `seconds`. False if
   any had to be kicked. */
static bool run_all(struct runner *r, unsigned n, double seconds)
{
	double end = now() + seconds;
	bool ok = true;

	gate = n;
	stop = 0;
	for (unsigned i = 0; i < n; i++)
		pthread_create(&r[i].t, NULL, run_to_hlt, &r[i]);
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

int main(void)
{
	test_lock(0);
	test_lock(1);
	return check_done("smp");
}
