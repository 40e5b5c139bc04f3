// SPDX-License-Identifier: MIT
/*
 * The run loop, event-driven: it runs the VM's runnable vCPUs, hands each exit to the VMM
 * (vmm/exits.c) and records its cost; between exits it fires the VM's timers (guest time,
 * devices/timer.h), delivers the interrupt controller's requests to the vCPUs, and when every
 * vCPU waits (HLT) it sleeps in ppoll until the next timer deadline or host event (terminal
 * input), as KVM's halt path and kvmtool's I/O thread together do. "Halted for good" is what
 * remains when nothing can ever wake a vCPU.
 *
 * The vCPUs of a VM run on this one host thread in turn, a time slice each (deterministic; the
 * devices need no lock). A vCPU returns at least every CPU_HOST_TICK instructions on soft (the
 * host timer's external-interrupt exit, SDM 26.2), which is when due timers fire and its slice
 * ends.
 *
 * With more than one vCPU (the default, --vcpu-threads on) each vCPU runs on a host thread of its
 * own (vm_run_threaded, at the end):
 * guest code in parallel, the VMM's state under one lock (vm->bql, QEMU's BQL), taken for every
 * exit; the calling thread becomes the I/O thread (timers and host events).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "vmm/exits.h"
#include "vmm/mmio.h"
#include "vmm/vm.h"

/* The bytes at the exit's RIP for --trace: the exiting instruction's length, or up to 15. */
static unsigned vm_fetch_insn(struct vcpu *vcpu, const struct vm_exit *exit, u8 *buf)
{
	const struct backend_ops *b = vcpu->vm->backend;
	unsigned len = exit->insn_len && exit->insn_len <= MMIO_INSN_MAX ? exit->insn_len
									 : MMIO_INSN_MAX;

	if (!b->read_guest_virt || b->read_guest_virt(vcpu, exit->rip, buf, len))
		return 0;
	return len;
}

void vm_signal_stop(struct vm *vm, int signo)
{
	if (!vm->stop_signal)
		vm->stop_signal = signo;
	for (unsigned i = 0; i < vm->nr_vcpus; i++)
		if (vm->backend->kick && vm->vcpus[i].backend)
			vm->backend->kick(&vm->vcpus[i]);
}

/* The run ends for a signal: the line and the status (128 + signo). */
static void vm_stop_for_signal(struct vm *vm)
{
	int sig = vm->stop_signal;
	const char *name = sig == SIGINT    ? "SIGINT"
			   : sig == SIGTERM ? "SIGTERM"
			   : sig == SIGHUP  ? "SIGHUP"
					    : "a signal";

	vm_request_stop(vm, 128 + sig, "stopped by %s (signal %d)", name, sig);
}

/*
 * The vCPU's INTR input (the board wires its interrupt controller's output here). A raised
 * INTR wakes a halted vCPU whose RFLAGS.IF is set (SDM vol. 2A HLT: "an enabled interrupt").
 */
void vm_vcpu_set_intr(void *opaque, unsigned pin, bool level)
{
	struct vcpu *vcpu = opaque;
	bool rose = level && !vcpu->intr;

	if (rose && vcpu->mp_state == VCPU_HALTED)
		vcpu->vm->resched = true; /* a waiting vCPU may wake: end the running one's slice */
	vcpu->intr = level;
	if (rose)
		vm_vcpu_notify(vcpu);
}

/*
 * Before an entry: a pending NMI goes in when the guest does not block NMIs, else the NMI window
 * opens (26.7.6). A pending request goes in when the guest can take it (acknowledged now, as
 * the INTA cycle would be, and injected as an external interrupt, SDM 27.6.1.1); otherwise the
 * interrupt window is opened, and its exit brings the vCPU back here when it can (26.7.5).
 */
static void vcpu_deliver_interrupt(struct vcpu *vcpu)
{
	const struct backend_ops *b = vcpu->vm->backend;
	bool virtual_delivery = vcpu->intc.sync && vcpu->intc.sync(vcpu->intc.opaque);
	int vector;

	/* An NMI first (SDM 6.9: above maskable interrupts); a pending INTR then finds the
	   injection slot taken and opens the interrupt window for after it. */
	if (vcpu->nmi_pending && b->inject_nmi) {
		if (b->nmi_allowed(vcpu)) {
			b->inject_nmi(vcpu);
			vcpu->nmi_pending = false;
		} else if (b->set_event_window) {
			b->set_event_window(vcpu, BACKEND_WINDOW_NMI, true);
		}
	}
	if (!vcpu->intr || !vcpu->intc.ack || !b->inject_interrupt)
		return;
	/* Under virtual-interrupt delivery the CPU takes the LAPIC's vectors itself (RVI, set by
	   the sync above, SDM vol. 3C 30.2): only the 8259A's ExtINT is injected. */
	if (virtual_delivery && !vcpu->intr_extint)
		return;
	if (!b->interruptible(vcpu)) {
		if (b->set_event_window)
			b->set_event_window(vcpu, BACKEND_WINDOW_INTERRUPT, true);
		return;
	}
	vector = vcpu->intc.ack(vcpu->intc.opaque);
	if (vector >= 0)
		b->inject_interrupt(vcpu, (u8)vector);
}

/* A halted vCPU wakes for a request it would take: INTR raised and RFLAGS.IF set. */
static bool vcpu_wakes(struct vcpu *vcpu)
{
	struct x86_regs r;

	if (vcpu->mp_state != VCPU_HALTED)
		return false;
	/*
	 * A posted interrupt whose notification found the vCPU inside its slice (in_guest set, so
	 * no eventfd kick: vcpu_run_once) and the vCPU then halting: PIR into IRR here, as KVM's
	 * sync_pir_to_irr before it decides whether a vCPU can wake. vcpu_leave's store came
	 * first, so the poster's ON and this load cannot both miss (the Dekker pairing).
	 */
	if (vcpu->intc.sync && vcpu_posted_pending(vcpu))
		vcpu->intc.sync(vcpu->intc.opaque);
	if (!vcpu->intr)
		return false;
	vcpu->vm->backend->get_regs(vcpu, &r);
	return r.rflags & X86_IF;
}

/* Could anything ever wake this halted vCPU? IF = 1 and an interrupt source not masked. */
static bool vcpu_may_wake(struct vcpu *vcpu)
{
	struct x86_regs r;

	vcpu->vm->backend->get_regs(vcpu, &r);
	if (!(r.rflags & X86_IF))
		return false; /* only NMI, INIT or SMI would, and nothing sends them */
	return vcpu->intr || (vcpu->intc.can_wake && vcpu->intc.can_wake(vcpu->intc.opaque));
}

/* Fire the timers that are due and take host events that are ready (timeout_ns 0: a look). */
/* At most this long in one wait: a signal's stop request is looked at in between. */
#define WAIT_MAX_NS 100000000ull

/*
 * Fire the timers that are due and take host events that are ready (timeout_ns 0: a look).
 * With --vcpu-threads this is the I/O thread: it sleeps without vm->bql and also wakes for
 * vm->wake_fd (vm_run_threaded).
 */
static void vm_poll_events(struct vm *vm, u64 timeout_ns)
{
	struct pollfd pfd[VM_MAX_EVENT_SOURCES + 1];
	struct timespec ts = { (time_t)(timeout_ns / 1000000000), (long)(timeout_ns % 1000000000) };
	unsigned n = vm->nr_events;
	int ready;

	for (unsigned i = 0; i < n; i++)
		pfd[i] = (struct pollfd){ .fd = vm->events[i].fd, .events = POLLIN };
	if (vm->threaded) {
		pfd[n] = (struct pollfd){ .fd = vm->wake_fd, .events = POLLIN };
		pthread_mutex_unlock(&vm->bql);
	}
	/* A zero timeout polls too: input reaches a guest that never idles (at the host tick). */
	ready = ppoll(pfd, n + vm->threaded, &ts, NULL);
	if (vm->threaded)
		pthread_mutex_lock(&vm->bql);
	if (ready > 0) {
		u64 drained;

		for (unsigned i = 0; i < n; i++)
			if ((pfd[i].revents & (POLLNVAL | POLLERR)) ||
			    ((pfd[i].revents & (POLLIN | POLLHUP)) &&
			     !vm->events[i].ready(vm->events[i].opaque)))
				vm->events[i].fd = -1; /* ended (EOF, closed): ppoll skips it */
		if (vm->threaded && (pfd[n].revents & POLLIN) &&
		    read(vm->wake_fd, &drained, sizeof(drained)) < 0) {
			/* nothing there after all */
		}
	}
	timer_run_expired(&vm->timers, timer_now(&vm->timers));
}

/*
 * Halt polling (KVM's halt_poll_ns; the seeds' lever against the cost of a wake-up): when every
 * vCPU waits and the next timer is due within vm->halt_poll_ns, spin until it, looking at host
 * input on the way, instead of sleeping. A sleep in ppoll wakes tens of microseconds after its
 * deadline (the host's timer slack and scheduler latency), so the guest's timer interrupt comes
 * late; the spin delivers it on time, for a busy host CPU of at most halt_poll_ns per wait. KVM
 * polls for a guessed time because it cannot know when the next interrupt comes; the run loop
 * knows its timers, so it polls only when one is due within the window, and every poll ends with
 * that timer. Host time only (--tsc virtual: guest time does not pass while polling).
 */
static bool vm_halt_poll(struct vm *vm, u64 next, u64 now)
{
	if (!vm->halt_poll_ns || vm->tsc_virtual || next == TIMER_NEVER || next <= now ||
	    next - now > vm->halt_poll_ns)
		return false;
	vm->halt_polls++;
	do
		vm_poll_events(vm, 0);
	while (timer_now(&vm->timers) < next && !vm->resched && !vm->mp_events &&
	       !vm->stop_signal && !vm->stop);
	return true;
}

void vm_print_vcpu_stats(const struct vm *vm, FILE *out)
{
	if (vm->nr_vcpus > 1) {
		fprintf(out, "\nExits per vCPU (the tables above sum them):");
		for (unsigned i = 0; i < vm->nr_vcpus; i++) {
			u64 n = 0;

			for (unsigned r = 0; r <= EXIT_REASON_MAX; r++)
				n += vm->vcpus[i].exit_counts[r];
			fprintf(out, "%s vCPU %u: %llu", i ? "," : "", i, (unsigned long long)n);
		}
		fputc('\n', out);
	}
	fprintf(out,
		"\nHalts (every vCPU waiting): %llu waits slept in ppoll, %llu polled (halt-poll "
		"%llu ns)\n",
		(unsigned long long)vm->halt_sleeps, (unsigned long long)vm->halt_polls,
		(unsigned long long)vm->halt_poll_ns);
	/* The soft backend's shortcut (vm_exit_fast); kvm's exits all reach the run loop. */
	if (vm->fast_exits && !strcmp(vm->backend->name, "soft"))
		fprintf(out,
			"Exit path (--exit-path fast): %llu exits handled inside the backend's run, "
			"%llu of them then returned to the run loop\n",
			(unsigned long long)vm->fast_handled, (unsigned long long)vm->fast_left);
}

/*
 * Every vCPU is halted (or waits for SIPI): wait for what can wake one. With nothing that can,
 * the run ends as the HLT did ("halted for good", vmm_vcpu_stop_halted).
 */
static void vm_wait(struct vm *vm)
{
	u64 next = timer_next_deadline(&vm->timers), now = timer_now(&vm->timers);
	struct vcpu *bsp = &vm->vcpus[0];
	bool may_wake = false, events = false;

	for (unsigned i = 0; i < vm->nr_events; i++)
		events |= vm->events[i].fd >= 0;
	for (unsigned i = 0; i < vm->nr_vcpus; i++)
		if (vm->vcpus[i].mp_state == VCPU_HALTED && vcpu_may_wake(&vm->vcpus[i]))
			may_wake = true;
	if (!may_wake || (next == TIMER_NEVER && !events)) {
		vmm_vcpu_stop_halted(bsp);
		return;
	}
	if (vm_halt_poll(vm, next, now))
		return;
	vm->halt_sleeps++;
	vm_poll_events(vm, next <= now ? 0 : next - now < WAIT_MAX_NS ? next - now : WAIT_MAX_NS);
}

/* The vCPU's time slice ended: device threads find it out of the guest (vcpu_run_once). */
static void vcpu_leave(struct vcpu *vcpu)
{
	if (vcpu && vcpu->in_guest)
		__atomic_store_n(&vcpu->in_guest, 0, __ATOMIC_SEQ_CST);
}

/* The VMM's handler for one exit, recorded and, when picked (stats_time_this), timed (--stats,
   --stats-sample, --trace). */
static void vcpu_handle_exit(struct vcpu *vcpu, struct vm_exit *exit)
{
	struct vm *vm = vcpu->vm;
	u8 insn[MMIO_INSN_MAX];
	unsigned insn_len = 0;
	int err;
	bool timed = stats_time_this(&vm->stats, exit->reason);
	u64 t0 = timed ? stats_now_ns() : 0;

	if (stats_tracing(&vm->stats))
		insn_len = vm_fetch_insn(vcpu, exit, insn);
	err = vmm_handle_exit(vcpu, exit);
	if (err)
		vm_request_stop(vm, EXIT_STATUS_STOPPED, "internal error handling %s exit: %s",
				exit_reason_name(exit->reason), strerror(-err));
	stats_record(&vm->stats, exit, timed ? stats_now_ns() - t0 : STATS_UNTIMED,
		     insn_len ? insn : NULL, insn_len);
}

/* One exit of one vCPU, handled and recorded; true when the vCPU's time slice ends with it. */
static bool vcpu_run_once(struct vcpu *vcpu, struct vm_exit *exit)
{
	struct vm *vm = vcpu->vm;

	vm->running = vcpu;
	/*
	 * Work a device thread queued (vm->async_pending) is taken before the entry. The thread
	 * sets the flag, then kicks the vCPU if it finds it in the guest; the loop says it is in the
	 * guest, then looks at the flag: one of the two sees the other's store (both sequentially
	 * consistent), so no request waits for the next host tick (KVM's kvm_vcpu_kick and
	 * vcpu->mode make the same handshake). in_guest stays set through the exits of one time
	 * slice (vcpu_leave clears it when the slice ends): a kick that comes while the VMM handles
	 * an exit makes the next entry exit at once on both backends (soft: cpu_kick's pending
	 * event; kvm: immediate_exit), where the loop polls, so the flag need not drop and rise
	 * around each exit. The store that raises it and the flag's exchange are the locked
	 * operations; an exit inside a slice costs neither when no work is queued.
	 */
	for (;;) {
		vcpu_deliver_interrupt(vcpu);
		if (!vcpu->in_guest)
			__atomic_store_n(&vcpu->in_guest, 1, __ATOMIC_SEQ_CST);
		if (!__atomic_load_n(&vm->async_pending, __ATOMIC_SEQ_CST) ||
		    !__atomic_exchange_n(&vm->async_pending, 0, __ATOMIC_SEQ_CST))
			break;
		vcpu_leave(vcpu);
		vm_poll_events(vm, 0);
	}
	enum backend_run_result rr = vm->backend->run(vcpu, exit);
	if (rr == BACKEND_RUN_HALTED) {
		vmm_vcpu_halted(vcpu); /* not an exit: nothing to count or trace */
		return true;
	}
	if (rr != BACKEND_RUN_HANDLED)
		vcpu_handle_exit(vcpu, exit);
	else
		vm->fast_left++;
	/* The host's timer tick (or a kick) is the loop's chance to look at timers and input,
	   and the end of the vCPU's slice; so is a PAUSE loop's exit (it waits for another). */
	switch (exit->reason & 0xffff) {
	case EXIT_REASON_EXTERNAL_INTERRUPT:
		vm_poll_events(vm, 0);
		return true;
	case EXIT_REASON_PAUSE_INSTRUCTION:
		return true;
	default:
		if (!vm->backend->deadline_exits) {
			u64 now = timer_now(&vm->timers);

			if (timer_next_deadline(&vm->timers) <= now)
				timer_run_expired(&vm->timers, now);
		}
		return false;
	}
}

static void threaded_timers(struct vm *vm);

/*
 * The exits the soft CPU offers inside its loop (vm.h): handled as the run loop would, then
 * everything the loop looks at between two exits: a stop, a signal, another vCPU's INIT or SIPI,
 * a halted vCPU that may wake (the one-thread loop's resched), work a device thread queued for
 * that loop, and the interrupt and NMI delivery of vcpu_deliver_interrupt (any INTR raised: the
 * loop decides). These exits are neither the host tick nor a PAUSE loop, so the slice goes on;
 * the soft backend keeps its timer deadline itself (deadline_exits), and with --vcpu-threads
 * the handler runs under vm->bql as vcpu_thread's would, the timers due then fired as there
 * (the vCPU stays "in the guest" for the kicks meanwhile: one makes the next entry exit). A
 * LAPIC under APIC virtualization, which the loops sync before every entry, is the backend's
 * to exclude.
 */
int vm_exit_fast(struct vcpu *vcpu, struct vm_exit *exit)
{
	struct vm *vm = vcpu->vm;
	bool leave;

	switch (exit->reason) {
	case EXIT_REASON_IO_INSTRUCTION:
		if (exit->qual & IO_QUAL_STRING)
			return 0;
		break;
	case EXIT_REASON_CPUID:
	case EXIT_REASON_MSR_READ:
	case EXIT_REASON_MSR_WRITE:
		break;
	default:
		return 0;
	}
	if (!vm->fast_exits)
		return 0;
	if (vm->threaded) {
		pthread_mutex_lock(&vm->bql);
		vm->running = vcpu;
	}
	vm->fast_handled++;
	vcpu_handle_exit(vcpu, exit);
	if (vm->threaded)
		threaded_timers(vm); /* before the look at INTR: a timer due may raise it */
	leave = vm->stop || vm->stop_signal || vcpu->mp_state != VCPU_RUNNABLE || vcpu->intr ||
		vcpu->nmi_pending;
	if (vm->threaded) {
		leave = leave || vcpu->mp_pending;
		vm->running = NULL;
		pthread_mutex_unlock(&vm->bql);
	} else {
		leave = leave || vm->mp_events || vm->resched ||
			__atomic_load_n(&vm->async_pending, __ATOMIC_SEQ_CST);
	}
	return leave ? -1 : 1;
}

static int vm_run_threaded(struct vm *vm);

int vm_run(struct vm *vm)
{
	/* One exit record per vCPU for the whole run: an IN completes from it. */
	struct vm_exit *exits;
	struct vcpu *cur = NULL; /* the vCPU whose time slice runs */
	unsigned next = 0;

	if (vm->threaded)
		return vm_run_threaded(vm);
	exits = calloc(vm->nr_vcpus, sizeof(*exits));

	if (!exits) {
		vm_request_stop(vm, EXIT_STATUS_STOPPED, "out of memory for %u vCPUs",
				vm->nr_vcpus);
		return vm->exit_status;
	}
	if (vm->backend->check_entry && vm->backend->check_entry(&vm->vcpus[0])) {
		free(exits);
		return vm->exit_status;
	}
	while (!vm->stop) {
		struct vcpu *vcpu = NULL;

		if (vm->stop_signal) {
			vm_stop_for_signal(vm);
			break;
		}
		if (vm->mp_events) {
			vm_accept_mp_events(vm);
			if (vm->stop)
				break;
		}
		/*
		 * The vCPU that ran keeps the thread through its exits until its slice ends (the
		 * host tick, CPU_HOST_TICK instructions on soft), it waits (HLT, a PAUSE loop) or a
		 * halted vCPU may wake; then the next runnable one in turn, as a host scheduler
		 * would time-slice vCPU threads. Switching at every exit instead starves a vCPU
		 * that exits often (a timer interrupt and its EOI each turn) while a peer spins
		 * for it through whole ticks.
		 */
		if (cur && cur->mp_state == VCPU_RUNNABLE && !vm->resched)
			vcpu = cur;
		else
			vcpu_leave(cur);
		vm->resched = false;
		for (unsigned i = 0; i < vm->nr_vcpus && !vcpu; i++) {
			struct vcpu *c = &vm->vcpus[(next + i) % vm->nr_vcpus];

			if (vcpu_wakes(c))
				c->mp_state = VCPU_RUNNABLE;
			if (c->mp_state == VCPU_RUNNABLE)
				vcpu = c;
		}
		if (!vcpu) {
			vm_wait(vm);
			continue;
		}
		next = (vcpu->id + 1) % vm->nr_vcpus;
		cur = vcpu;
		if (vcpu_run_once(vcpu, &exits[vcpu->id])) {
			vcpu_leave(vcpu);
			cur = NULL;
		}
	}
	vcpu_leave(cur);
	free(exits);
	return vm->exit_status;
}

/*
 * --vcpu-threads: a host thread per vCPU.
 *
 * Each vCPU thread holds vm->bql except while the backend runs its guest code, so everything
 * the VMM does (exit handlers, devices, timers, stats) happens under the lock, as QEMU's
 * iothread lock; the soft CPU's MMIO callbacks take it too (soft/backend_soft.c). A vCPU that
 * cannot run (HLT, waiting for SIPI) waits on its condition variable; whoever raises its INTR
 * or gives its LAPIC an INIT, SIPI or NMI holds the lock and signals it (vm_vcpu_notify), and
 * kicks it out of the guest when it runs, as KVM's kvm_vcpu_kick. The thread that called vm_run
 * is the I/O thread: it fires timers at their deadlines and takes host events (terminal input,
 * irqgen's eventfd) in ppoll, and a vCPU that arms a timer earlier than the deadline the I/O
 * thread sleeps until wakes it through vm->wake_fd. Waits are bounded (100 ms) so a stop is
 * always seen. Guest-visible atomicity across the threads is the soft CPU's (LOCK, accessed and
 * dirty flags, cross-vCPU code invalidation: docs/cpu.md); the run is not deterministic, which
 * the one-thread mode (--vcpu-threads off) is.
 */
static __thread struct vcpu *thread_vcpu;

struct vcpu *vm_thread_vcpu(void)
{
	return thread_vcpu;
}

struct vcpu *vm_current_vcpu(struct vm *vm)
{
	if (thread_vcpu && thread_vcpu->vm == vm)
		return thread_vcpu;
	return vm->running ? vm->running : &vm->vcpus[0];
}

void vm_bql_lock(struct vm *vm)
{
	if (vm->threaded)
		pthread_mutex_lock(&vm->bql);
}

static void wake_io_thread(struct vm *vm)
{
	const u64 one = 1;

	if (vm->threaded && write(vm->wake_fd, &one, sizeof(one)) < 0) {
		/* the counter is full: the I/O thread is awake anyway */
	}
}

/* A device reached from a running vCPU's MMIO callback may have armed a timer earlier than
   the one the I/O thread sleeps until. */
void vm_bql_unlock(struct vm *vm)
{
	if (!vm->threaded)
		return;
	if (timer_next_deadline(&vm->timers) < vm->io_deadline)
		wake_io_thread(vm);
	pthread_mutex_unlock(&vm->bql);
}

void vm_vcpu_notify(struct vcpu *vcpu)
{
	struct vm *vm = vcpu->vm;

	if (!vm->threaded || !vcpu->thread_created)
		return;
	__atomic_store_n(&vcpu->notified, vcpu->notified + 1, __ATOMIC_RELAXED);
	pthread_cond_signal(&vcpu->wake);
	if (vcpu != thread_vcpu && __atomic_load_n(&vcpu->in_guest, __ATOMIC_SEQ_CST) &&
	    vm->backend->kick)
		vm->backend->kick(vcpu);
}

/* The run ends: every thread looks at vm->stop. */
static void threads_wake_all(struct vm *vm)
{
	for (unsigned i = 0; i < vm->nr_vcpus; i++) {
		struct vcpu *v = &vm->vcpus[i];

		if (!v->thread_created)
			continue;
		pthread_cond_broadcast(&v->wake);
		if (vm->backend->kick && v->backend)
			vm->backend->kick(v);
	}
	wake_io_thread(vm);
}

/* Every vCPU waits and nothing can ever wake one: the run ends as vm_wait's does. */
static bool all_halted_for_good(struct vm *vm)
{
	bool events = false;

	for (unsigned i = 0; i < vm->nr_vcpus; i++) {
		struct vcpu *v = &vm->vcpus[i];

		if (v->mp_state == VCPU_RUNNABLE || v->mp_pending || v->nmi_pending)
			return false;
		if (v->mp_state == VCPU_HALTED && vcpu_may_wake(v))
			events = true; /* it may: only if something can raise it */
	}
	if (!events)
		return true;
	if (timer_next_deadline(&vm->timers) != TIMER_NEVER)
		return false;
	for (unsigned i = 0; i < vm->nr_events; i++)
		if (vm->events[i].fd >= 0)
			return false;
	return true;
}

/*
 * Halt polling for a vCPU thread (KVM's halt_poll_ns): before it sleeps, spin up to
 * vm->halt_poll_ns without the lock for what would wake it (a vm_vcpu_notify: INTR rose, an
 * INIT/SIPI/NMI; a posted interrupt; the end of the run). An IPI from a vCPU that then waits
 * for the answer (a TLB shootdown) is taken at once instead of after a futex wake-up. True
 * when something came.
 */
static bool vcpu_thread_poll(struct vcpu *vcpu, u32 seen)
{
	struct vm *vm = vcpu->vm;
	u64 end;

	if (!vm->halt_poll_ns)
		return false;
	end = stats_now_ns() + vm->halt_poll_ns;
	pthread_mutex_unlock(&vm->bql);
	do {
		if (__atomic_load_n(&vcpu->notified, __ATOMIC_RELAXED) != seen ||
		    (vcpu->pi_desc && vcpu_posted_pending(vcpu)) ||
		    __atomic_load_n(&vm->stop, __ATOMIC_RELAXED)) {
			pthread_mutex_lock(&vm->bql);
			vm->halt_polls++;
			return true;
		}
		__builtin_ia32_pause();
	} while (stats_now_ns() < end);
	pthread_mutex_lock(&vm->bql);
	return false;
}

/* Wait on the vCPU's condition variable (vm->bql held) at most WAIT_MAX_NS. A notify that came
   while the poll had dropped the lock is seen here, under it, before the wait. */
static void vcpu_thread_wait(struct vcpu *vcpu)
{
	u32 seen = vcpu->notified;
	struct timespec ts;
	u64 ns;

	if (vcpu_thread_poll(vcpu, seen) || vcpu->notified != seen)
		return;
	vcpu->vm->halt_sleeps++;
	clock_gettime(CLOCK_REALTIME, &ts);
	ns = (u64)ts.tv_nsec + WAIT_MAX_NS;
	ts.tv_sec += (time_t)(ns / 1000000000);
	ts.tv_nsec = (long)(ns % 1000000000);
	pthread_cond_timedwait(&vcpu->wake, &vcpu->vm->bql, &ts);
}

/* Timers due now fire; a new earlier deadline wakes the I/O thread (vm->bql held). */
static void threaded_timers(struct vm *vm)
{
	u64 now = timer_now(&vm->timers), next = timer_next_deadline(&vm->timers);

	if (next <= now) {
		timer_run_expired(&vm->timers, now);
		next = timer_next_deadline(&vm->timers);
	}
	if (next < vm->io_deadline)
		wake_io_thread(vm);
}

static void *vcpu_thread(void *opaque)
{
	struct vcpu *vcpu = opaque;
	struct vm *vm = vcpu->vm;
	struct vm_exit exit; /* the vCPU's exit record for the whole run: an IN completes from it */

	memset(&exit, 0, sizeof(exit));
	thread_vcpu = vcpu;
	pthread_mutex_lock(&vm->bql);
	while (!vm->threads_go && !vm->stop)
		pthread_cond_wait(&vm->go, &vm->bql);
	while (!vm->stop) {
		enum backend_run_result rr;

		if (vcpu->mp_pending) {
			vcpu->mp_pending = false;
			vm_vcpu_accept_mp_events(vcpu);
			continue;
		}
		if (vcpu->mp_state != VCPU_RUNNABLE) {
			if (vcpu_wakes(vcpu)) {
				vcpu->mp_state = VCPU_RUNNABLE;
				continue;
			}
			if (all_halted_for_good(vm)) {
				vmm_vcpu_stop_halted(&vm->vcpus[0]);
				break;
			}
			vcpu_thread_wait(vcpu);
			continue;
		}
		vcpu_deliver_interrupt(vcpu);
		__atomic_store_n(&vcpu->in_guest, 1, __ATOMIC_SEQ_CST);
		vm->running = NULL;
		pthread_mutex_unlock(&vm->bql);
		rr = vm->backend->run(vcpu, &exit);
		pthread_mutex_lock(&vm->bql);
		__atomic_store_n(&vcpu->in_guest, 0, __ATOMIC_SEQ_CST);
		vm->running = vcpu;
		if (rr == BACKEND_RUN_HALTED)
			vmm_vcpu_halted(vcpu);
		else if (rr != BACKEND_RUN_HANDLED)
			vcpu_handle_exit(vcpu, &exit);
		else
			vm->fast_left++;
		threaded_timers(vm);
	}
	threads_wake_all(vm);
	pthread_mutex_unlock(&vm->bql);
	return NULL;
}

int vm_threads_prepare(struct vm *vm, char *why, size_t len)
{
	pthread_mutexattr_t attr;
	sigset_t all, old;
	int err = 0;

	if (!vm->threaded)
		return 0;
	vm->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (vm->wake_fd < 0) {
		snprintf(why, len, "--vcpu-threads: eventfd: %s", strerror(errno));
		return -errno;
	}
	vm->io_deadline = TIMER_NEVER;
	pthread_mutexattr_init(&attr);
	pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE);
	pthread_mutex_init(&vm->bql, &attr);
	pthread_mutexattr_destroy(&attr);
	pthread_cond_init(&vm->go, NULL);
	/* The vCPU threads take no signals: SIGINT and friends reach the I/O thread's ppoll. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	for (unsigned i = 0; i < vm->nr_vcpus && !err; i++) {
		struct vcpu *v = &vm->vcpus[i];

		pthread_cond_init(&v->wake, NULL);
		err = pthread_create(&v->thread, NULL, vcpu_thread, v);
		if (err) {
			snprintf(why, len, "--vcpu-threads: cannot create vCPU %u's thread: %s", i,
				 strerror(err));
			err = -err;
		} else {
			v->thread_created = true;
		}
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (err) {
		pthread_mutex_lock(&vm->bql);
		vm_request_stop(vm, EXIT_STATUS_STOPPED, "%s", why);
		pthread_cond_broadcast(&vm->go);
		pthread_mutex_unlock(&vm->bql);
	}
	return err;
}

static int vm_run_threaded(struct vm *vm)
{
	pthread_mutex_lock(&vm->bql);
	if (vm->backend->check_entry && vm->backend->check_entry(&vm->vcpus[0]))
		goto out;
	vm->threads_go = true;
	pthread_cond_broadcast(&vm->go);
	while (!vm->stop) {
		u64 now = timer_now(&vm->timers), next = timer_next_deadline(&vm->timers);

		if (vm->stop_signal) {
			vm_stop_for_signal(vm);
			break;
		}
		vm->io_deadline = next;
		vm_poll_events(vm, next <= now ? 0 : next - now < WAIT_MAX_NS ? next - now
									: WAIT_MAX_NS);
		vm->io_deadline = TIMER_NEVER;
		vm->running = NULL;
	}
out:
	threads_wake_all(vm);
	pthread_mutex_unlock(&vm->bql);
	for (unsigned i = 0; i < vm->nr_vcpus; i++)
		if (vm->vcpus[i].thread_created)
			pthread_join(vm->vcpus[i].thread, NULL);
	return vm->exit_status;
}
