// SPDX-License-Identifier: MIT
/* The run loop: run the vCPU, hand each exit to the VMM (vmm/exits.c), record its cost. */
#include <errno.h>
#include <signal.h>
#include <string.h>

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

/*
 * Without unrestricted guest (it needs EPT, SDM 27.2.1.1) VM entry requires CR0.PE and CR0.PG
 * (27.3.1.1, IA32_VMX_CR0_FIXED0). Our guests start in protected mode with paging off, which a
 * VMM without unrestricted guest would have to emulate; tollbooth does not, and says so before
 * the first entry rather than letting the guest run on with paging it never enabled.
 */
static bool vm_guest_can_enter(struct vm *vm)
{
	struct x86_sregs s;

	if (vm->backend != &backend_soft || vmm_policy_on(vm, VMM_UNRESTRICTED_GUEST))
		return true;
	vm->backend->get_sregs(&vm->vcpu, &s);
	if ((s.cr0 & (CR0_PE | CR0_PG)) == (CR0_PE | CR0_PG))
		return true;
	vm_request_stop(
		vm, EXIT_STATUS_STOPPED,
		"this guest starts with paging off (CR0 = %#llx), which VMX allows only with "
		"unrestricted guest, which needs EPT (SDM 27.3.1.1, 27.2.1.1): it cannot run "
		"with --vmx ept=off or unrestricted-guest=off",
		(unsigned long long)s.cr0);
	return false;
}

void vm_signal_stop(struct vm *vm, int signo)
{
	if (!vm->stop_signal)
		vm->stop_signal = signo;
	if (vm->backend->kick && vm->vcpu.backend)
		vm->backend->kick(&vm->vcpu);
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

int vm_run(struct vm *vm)
{
	struct vcpu *vcpu = &vm->vcpu;
	struct vm_exit exit; /* one record for the whole run: an IN completes from it */
	u8 insn[MMIO_INSN_MAX];
	int err;

	memset(&exit, 0, sizeof(exit));
	if (!vm_guest_can_enter(vm))
		return vm->exit_status;
	while (!vm->stop) {
		unsigned insn_len = 0;
		u64 t0;

		if (vm->stop_signal) {
			vm_stop_for_signal(vm);
			break;
		}
		if (vm->backend->run(vcpu, &exit) == BACKEND_RUN_HALTED) {
			vmm_vcpu_halted(vcpu); /* not an exit: nothing to count or trace */
			continue;
		}
		t0 = stats_now_ns();
		if (stats_tracing(&vm->stats))
			insn_len = vm_fetch_insn(vcpu, &exit, insn);
		err = vmm_handle_exit(vcpu, &exit);
		if (err)
			vm_request_stop(vm, EXIT_STATUS_STOPPED,
					"internal error handling %s exit: %s",
					exit_reason_name(exit.reason), strerror(-err));
		stats_record(&vm->stats, &exit, stats_now_ns() - t0, insn_len ? insn : NULL,
			     insn_len);
	}
	return vm->exit_status;
}
