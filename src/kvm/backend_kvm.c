// SPDX-License-Identifier: MIT
/*
 * The kvm backend: the VMM's vCPU on /dev/kvm. KVM_RUN runs on the vCPU's own thread; run()
 * hands it one KVM_RUN and waits for the exit, then translates kvm_run into the SDM exit record
 * (vmx/exit.h) so the same handlers, devices and statistics see it. docs/kvm.md has the mapping
 * and the completion rules.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "kvm/internal.h"
#include "vmm/cpuid.h"
#include "vmm/msr.h"

#define CPUID_HV_BASE 0x40000000u /* the hypervisor leaves (vmm/kvmclock.c) */

/* The vCPU thread is kicked out of KVM_RUN with this signal (immediate_exit set first). */
#define KVM_KICK_SIGNAL SIGUSR1

static const char *kvm_dev_path(void)
{
	const char *path = getenv(KVM_DEV_ENV);

	return path && *path ? path : KVM_DEV_DEFAULT;
}

static int kvm_open(char *msg, size_t len)
{
	const char *path = kvm_dev_path();
	struct stat st;
	int fd, err, version;

	/* KVM is a character device; a regular file or a directory at the path is not (and a
	   probe never creates anything: no O_CREAT). */
	if (stat(path, &st) == 0 && !S_ISCHR(st.st_mode)) {
		snprintf(msg, len,
			 "--accel kvm: %s is not KVM (not a character device); use --accel soft",
			 path);
		return -ENODEV;
	}
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		err = -errno;
		if (err == -ENOENT)
			snprintf(msg, len,
				 "--accel kvm: %s does not exist (no KVM on this host); "
				 "use --accel soft",
				 path);
		else if (err == -EACCES || err == -EPERM)
			snprintf(msg, len,
				 "--accel kvm: no permission to open %s (join the kvm "
				 "group); or use --accel soft",
				 path);
		else
			snprintf(msg, len, "--accel kvm: cannot open %s: %s", path, strerror(-err));
		return err;
	}
	version = ioctl(fd, KVM_GET_API_VERSION, 0);
	if (version != KVM_API_VERSION) {
		snprintf(msg, len, "--accel kvm: %s is not KVM (API version %d, want %d)", path,
			 version, KVM_API_VERSION);
		close(fd);
		return -ENODEV;
	}
	return fd;
}

int kvm_probe(char *msg, size_t len)
{
	int fd = kvm_open(msg, len);

	if (fd < 0)
		return fd;
	close(fd);
	return 0;
}

int kvm_parse_disable_exits(const char *list, u32 *bits)
{
	static const struct {
		const char *name;
		u32 bit;
	} words[] = {
		{ "hlt", KVM_X86_DISABLE_EXITS_HLT },
		{ "pause", KVM_X86_DISABLE_EXITS_PAUSE },
		{ "mwait", KVM_X86_DISABLE_EXITS_MWAIT },
		{ "cstate", KVM_X86_DISABLE_EXITS_CSTATE },
	};
	const char *p = list;

	*bits = 0;
	while (*p) {
		size_t n = strcspn(p, ",");
		size_t i;

		for (i = 0; i < ARRAY_SIZE(words); i++)
			if (strlen(words[i].name) == n && !strncmp(p, words[i].name, n))
				break;
		if (i == ARRAY_SIZE(words))
			return -EINVAL;
		*bits |= words[i].bit;
		p += n + (p[n] == ',');
	}
	return *bits ? 0 : -EINVAL;
}

/* ---- the vCPU thread ---- */

static void kvm_kick_handler(int sig)
{
	(void)sig;
}

static void *kvm_vcpu_thread(void *opaque)
{
	struct kvm_vcpu *k = opaque;

	pthread_mutex_lock(&k->lock);
	for (;;) {
		while (k->state != KVM_THREAD_RUN && k->state != KVM_THREAD_QUIT)
			pthread_cond_wait(&k->cond, &k->lock);
		if (k->state == KVM_THREAD_QUIT)
			break;
		pthread_mutex_unlock(&k->lock);
		k->run_errno = ioctl(k->vcpu_fd, KVM_RUN, 0) < 0 ? errno : 0;
		/* An exit from the guest: the event queued before this entry went in. */
		if (!k->run_errno)
			k->event_queued = false;
		pthread_mutex_lock(&k->lock);
		if (k->state == KVM_THREAD_RUN)
			k->state = KVM_THREAD_DONE;
		pthread_cond_broadcast(&k->cond);
	}
	pthread_mutex_unlock(&k->lock);
	return NULL;
}

/*
 * One KVM_RUN on the vCPU thread: 0 or the errno it failed with. With `until` (CLOCK_MONOTONIC)
 * the VM's next timer is due then: a KVM_RUN still running at that time is kicked out, as the
 * host's timer interrupt takes a hardware vCPU out of the guest, and returns EINTR with
 * immediate_exit set (kvm_run_vcpu makes it an external-interrupt exit, after which the run
 * loop fires the timer). Without it a guest spinning with no exit (waiting for its LAPIC
 * timer's interrupt) kept the one-thread loop, and its timers, waiting for ever.
 */
static int kvm_run_once(struct kvm_vcpu *k, const struct timespec *until)
{
	pthread_mutex_lock(&k->lock);
	k->state = KVM_THREAD_RUN;
	pthread_cond_broadcast(&k->cond);
	while (k->state == KVM_THREAD_RUN) {
		if (!until) {
			pthread_cond_wait(&k->cond, &k->lock);
		} else if (pthread_cond_timedwait(&k->cond, &k->lock, until) == ETIMEDOUT &&
			   k->state == KVM_THREAD_RUN) {
			__atomic_store_n(&k->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
			pthread_kill(k->thread, KVM_KICK_SIGNAL);
			until = NULL;
		}
	}
	k->state = KVM_THREAD_IDLE;
	pthread_mutex_unlock(&k->lock);
	return k->run_errno;
}

/* ---- register caches ---- */

static int kvm_load_regs(struct kvm_vcpu *k)
{
	if (!k->regs_valid && ioctl(k->vcpu_fd, KVM_GET_REGS, &k->regs) == 0)
		k->regs_valid = true;
	return k->regs_valid ? 0 : -errno;
}

static int kvm_load_sregs(struct kvm_vcpu *k)
{
	if (!k->sregs_valid && ioctl(k->vcpu_fd, KVM_GET_SREGS, &k->sregs) == 0)
		k->sregs_valid = true;
	return k->sregs_valid ? 0 : -errno;
}

/* Write dirty caches back and forget them: KVM_RUN changes the registers. 0 or -errno. */
static int kvm_flush_regs(struct kvm_vcpu *k)
{
	if (k->sregs_dirty && ioctl(k->vcpu_fd, KVM_SET_SREGS, &k->sregs) < 0)
		return -errno;
	if (k->regs_dirty && ioctl(k->vcpu_fd, KVM_SET_REGS, &k->regs) < 0)
		return -errno;
	k->regs_valid = k->regs_dirty = k->sregs_valid = k->sregs_dirty = false;
	return 0;
}

/* ---- VM setup ---- */

/* RAM region i of the memory map as KVM slot i, backed by vm->ram (dirty-logged or not). */
static int kvm_set_slot(struct kvm_vm *kv, const struct vm *vm, unsigned i)
{
	const struct mem_region *r = &vm->regions[i];
	struct kvm_userspace_memory_region slot = {
		.slot = i,
		.flags = kv->log_dirty ? KVM_MEM_LOG_DIRTY_PAGES : 0,
		.guest_phys_addr = r->gpa,
		.memory_size = r->size,
		.userspace_addr = (u64)(uintptr_t)(vm->ram + r->gpa),
	};

	if (r->gpa > vm->ram_size || r->size > vm->ram_size - r->gpa)
		return -EINVAL;
	return ioctl(kv->vm_fd, KVM_SET_USER_MEMORY_REGION, &slot) < 0 ? -errno : 0;
}

/*
 * Every RAM region of the memory map is a slot backed by vm->ram; MMIO regions stay holes. Slots
 * are the VM's: whichever vCPU enters first after a region was added gives it to KVM, under the
 * VM's lock (the count is read first without it: an entry with nothing new costs no lock).
 */
static int kvm_sync_slots(struct vcpu *vcpu)
{
	struct kvm_vm *kv = kvm_vcpu_of(vcpu)->kv;
	struct vm *vm = vcpu->vm;
	int err = 0;

	if (__atomic_load_n(&kv->nr_slots, __ATOMIC_ACQUIRE) == vm->nr_regions)
		return 0;
	pthread_mutex_lock(&kv->lock);
	while (!err && kv->nr_slots < vm->nr_regions) {
		err = vm->regions[kv->nr_slots].kind == MEM_RAM ? kvm_set_slot(kv, vm, kv->nr_slots)
								 : 0;
		if (!err)
			__atomic_store_n(&kv->nr_slots, kv->nr_slots + 1, __ATOMIC_RELEASE);
	}
	pthread_mutex_unlock(&kv->lock);
	return err;
}

/*
 * Dirty logging through KVM (Documentation/virt/kvm/api.rst: KVM_MEM_LOG_DIRTY_PAGES,
 * KVM_GET_DIRTY_LOG): the flag on every RAM slot, given now or when the slots are made at the
 * first run; a fetch reads each slot's bitmap, which KVM clears and write-protects again, and
 * ORs it into the VMM's bitmap at the slot's pages.
 */
static int kvm_dirty_log(struct vm *vm, bool start, u64 *bitmap)
{
	struct kvm_vm *kv = vm->backend_vm;

	if (start) {
		int err = 0;

		pthread_mutex_lock(&kv->lock);
		kv->log_dirty = true;
		for (unsigned i = 0; i < kv->nr_slots && !err; i++)
			err = vm->regions[i].kind == MEM_RAM ? kvm_set_slot(kv, vm, i) : 0;
		pthread_mutex_unlock(&kv->lock);
		return err;
	}
	for (unsigned i = 0; i < __atomic_load_n(&kv->nr_slots, __ATOMIC_ACQUIRE); i++) {
		const struct mem_region *r = &vm->regions[i];
		u64 pages = r->size >> 12, first = r->gpa >> 12;
		struct kvm_dirty_log log = { .slot = i };
		u64 *buf;

		if (r->kind != MEM_RAM)
			continue;
		buf = calloc((pages + 63) / 64, sizeof(u64));
		if (!buf)
			return -ENOMEM;
		log.dirty_bitmap = buf;
		if (ioctl(kv->vm_fd, KVM_GET_DIRTY_LOG, &log) < 0) {
			int err = -errno;
			free(buf);
			return err;
		}
		for (u64 p = 0; p < pages; p++)
			if (buf[p / 64] & (1ull << (p % 64)))
				bitmap[(first + p) / 64] |= 1ull << ((first + p) % 64);
		free(buf);
	}
	return 0;
}

/*
 * KVM_SET_CPUID2 from the shared policy (vmm/cpuid.c), leaf by leaf through cpuid_lookup(), the
 * table the soft CPU answers from. Leaves with subleaves (SDM vol. 2A CPUID: 4, 7, 0xb, 0xd, ...)
 * get their first eight with KVM_CPUID_FLAG_SIGNIFCANT_INDEX.
 */
static bool cpuid_leaf_indexed(u32 leaf)
{
	return leaf == 4 || leaf == 7 || leaf == 0xb || leaf == 0xd || leaf == 0xf ||
	       leaf == 0x10 || leaf == 0x12 || leaf == 0x14 || leaf == 0x17 || leaf == 0x18 ||
	       leaf == 0x1f;
}

static int kvm_check_cap(struct kvm_vm *kv, long cap)
{
	int r = ioctl(kv->vm_fd, KVM_CHECK_EXTENSION, cap);

	return r > 0 ? r : 0;
}

/*
 * The leaf-1 bits KVM decides: MONITOR, and the LAPIC's (SDM vol. 2A CPUID: ECX[21] x2APIC,
 * ECX[24] TSC-deadline). With KVM's LAPIC, KVM's: x2APIC always, TSC-deadline where
 * KVM_CAP_TSC_DEADLINE_TIMER says. With the VMM's, board_cpuid_lapic's, as for the soft
 * backend (vmm/exits.c), which the MSR filter makes true: IA32_APIC_BASE, IA32_TSC_DEADLINE
 * and the x2APIC MSRs reach that LAPIC.
 */
static void kvm_cpuid_lapic(struct vcpu *vcpu, u32 out[4])
{
	struct kvm_vcpu *k = kvm_vcpu_of(vcpu);

	/* MONITOR/MWAIT (ECX[3]) only where the guest's MWAIT really waits: KVM runs it as a NOP
	   unless --kvm-disable-exits mwait (and does not offer it in KVM_GET_SUPPORTED_CPUID
	   then), so an idle loop would spin on the host CPU instead of halting. */
	if (!(vcpu->vm->kvm.disable_exits & KVM_X86_DISABLE_EXITS_MWAIT))
		out[CPUID_ECX] &= ~CPUID_1_ECX_MONITOR;

	if (vcpu->vm->kvm.irqchip) {
		out[CPUID_ECX] |= CPUID_1_ECX_X2APIC;
		if (kvm_check_cap(k->kv, KVM_CAP_TSC_DEADLINE_TIMER))
			out[CPUID_ECX] |= CPUID_1_ECX_TSC_DEADLINE;
		return;
	}
	board_cpuid_lapic(vcpu, out);
}

static int kvm_set_cpuid(struct vcpu *vcpu)
{
	struct kvm_vcpu *k = kvm_vcpu_of(vcpu);
	enum { MAX_ENTRIES = 256 };
	struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + MAX_ENTRIES * sizeof(c->entries[0]));
	u32 out[4], max[3];
	int err = 0;

	if (!c)
		return -ENOMEM;
	/* What KVM can virtualise; we hand it our own model anyway (docs/kvm.md "CPUID"). */
	c->nent = MAX_ENTRIES;
	if (ioctl(k->kv->kvm_fd, KVM_GET_SUPPORTED_CPUID, c) < 0) {
		err = -errno;
		goto out;
	}
	cpuid_lookup(0, 0, out);
	max[0] = out[CPUID_EAX];
	cpuid_lookup(0x80000000, 0, out);
	max[1] = out[CPUID_EAX];
	/* The hypervisor leaves, when kvmclock is offered: KVM's own kvmclock then answers the
	   MSRs in the kernel (they are not in the filter), as under QEMU. */
	memset(out, 0, sizeof(out));
	kvmclock_cpuid(vcpu->vm, CPUID_HV_BASE, out);
	max[2] = out[CPUID_EAX];
	c->nent = 0;
	for (int range = 0; range < 3; range++) {
		static const u32 bases[3] = { 0, 0x80000000, CPUID_HV_BASE };
		u32 base = bases[range];

		for (u32 leaf = base; leaf <= max[range] && leaf >= base && c->nent < MAX_ENTRIES - 8;
		     leaf++) {
			bool indexed = cpuid_leaf_indexed(leaf);

			for (u32 sub = 0; sub < (indexed ? 8u : 1u); sub++) {
				struct kvm_cpuid_entry2 *e = &c->entries[c->nent++];

				cpuid_lookup(leaf, sub, out);
				cpuid_vcpu(leaf, vcpu->id, vcpu->vm->nr_vcpus, out);
				kvmclock_cpuid(vcpu->vm, leaf, out);
				if (leaf == 1)
					kvm_cpuid_lapic(vcpu, out);
				*e = (struct kvm_cpuid_entry2){
					.function = leaf,
					.index = sub,
					.flags = indexed ? KVM_CPUID_FLAG_SIGNIFCANT_INDEX : 0,
					.eax = out[CPUID_EAX],
					.ebx = out[CPUID_EBX],
					.ecx = out[CPUID_ECX],
					.edx = out[CPUID_EDX],
				};
			}
		}
	}
	if (ioctl(k->vcpu_fd, KVM_SET_CPUID2, c) < 0)
		err = -errno;
out:
	free(c);
	return err;
}

/*
 * The MSR bitmap's counterpart (SDM vol. 3C 25.6.9): the MSRs the shared policy (vmm/msr.h)
 * answers are denied in KVM's filter so they exit to user space (KVM_MSR_EXIT_REASON_FILTER);
 * MSRs KVM does not know or refuses exit too (UNKNOWN, INVAL) and the policy answers them, #GP(0)
 * included. Everything else KVM handles, as the soft CPU handles its own MSRs without an exit.
 */
static int kvm_set_msr_policy(struct kvm_vm *kv, bool lapic_msrs)
{
	/* The last two are the VMM's LAPIC's when it is the guest's (--kvm-irqchip user): KVM
	   would keep IA32_APIC_BASE itself and swallow IA32_TSC_DEADLINE without its own LAPIC.
	   The x2APIC MSRs reach the VMM anyway (KVM_MSR_EXIT_REASON_INVAL: KVM fails them). */
	static const u32 policy_msrs[] = {
#define X(index, name, reset, kind, wmask) index,
		MSR_POLICY_LIST(X)
#undef X
		MSR_IA32_APIC_BASE, MSR_IA32_TSCDEADLINE,
	};
	size_t n = ARRAY_SIZE(policy_msrs) - (lapic_msrs ? 0 : 2);
	static u8 deny[1]; /* one MSR per range, bit clear: deny */
	struct kvm_msr_filter filter = { .flags = KVM_MSR_FILTER_DEFAULT_ALLOW };
	struct kvm_enable_cap cap = {
		.cap = KVM_CAP_X86_USER_SPACE_MSR,
		.args[0] = KVM_MSR_EXIT_REASON_FILTER | KVM_MSR_EXIT_REASON_UNKNOWN |
			   KVM_MSR_EXIT_REASON_INVAL,
	};

	_Static_assert(ARRAY_SIZE(policy_msrs) <= KVM_MSR_FILTER_MAX_RANGES, "one range per MSR");
	if (ioctl(kv->vm_fd, KVM_ENABLE_CAP, &cap) < 0)
		return -errno;
	for (size_t i = 0; i < n; i++)
		filter.ranges[i] = (struct kvm_msr_filter_range){
			.flags = KVM_MSR_FILTER_READ | KVM_MSR_FILTER_WRITE,
			.nmsrs = 1,
			.base = policy_msrs[i],
			.bitmap = deny,
		};
	return ioctl(kv->vm_fd, KVM_X86_SET_MSR_FILTER, &filter) < 0 ? -errno : 0;
}

/*
 * KVM's in-kernel irqchip (--kvm-irqchip kernel; KVM API 4.24 KVM_CREATE_IRQCHIP): its 8259A
 * pair, IOAPIC and a LAPIC per vCPU are the guest's, and the board's devices drive their inputs
 * (backend_ops.irq_line). The routing (API 4.52 KVM_SET_GSI_ROUTING) replaces KVM's default,
 * where GSI n is PIC pin n and IOAPIC pin n at once, with one GSI per input, as the board has
 * them: GSI 0-23 the IOAPIC's pins, 24-39 the PICs' (the board sends ISA IRQ 0 to IOAPIC pin 2
 * itself, as the MADT's override says, and ORs a pin's sources before it drives it). MSIs get
 * routes from GSI 40 as devices send them, each with an irqfd (API 4.75 KVM_IRQFD): the
 * device's thread writes the eventfd and KVM delivers, with no exit and no VMM thread woken.
 */
static int kvm_set_routing(struct kvm_vm *kv)
{
	return ioctl(kv->vm_fd, KVM_SET_GSI_ROUTING, kv->routing) < 0 ? -errno : 0;
}

static int kvm_irqchip_init(struct vm *vm)
{
	struct kvm_vm *kv = vm->backend_vm;
	struct kvm_irq_routing *r =
		calloc(1, sizeof(*r) + (KVM_GSI_MSI + KVM_MSI_ROUTES) * sizeof(r->entries[0]));

	if (!r)
		return -ENOMEM;
	kv->routing = r;
	/* The irqfds' eventfds now: the sandbox allows no eventfd2 while the guest runs. */
	for (unsigned i = 0; i < KVM_MSI_ROUTES; i++)
		kv->msi[i].fd = -1;
	for (unsigned i = 0; i < KVM_MSI_ROUTES; i++) {
		kv->msi[i].fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (kv->msi[i].fd < 0)
			return -errno;
	}
	for (u32 pin = 0; pin < 24; pin++)
		r->entries[r->nr++] = (struct kvm_irq_routing_entry){
			.gsi = KVM_GSI_IOAPIC + pin,
			.type = KVM_IRQ_ROUTING_IRQCHIP,
			.u.irqchip = { .irqchip = KVM_IRQCHIP_IOAPIC, .pin = pin },
		};
	for (u32 pin = 0; pin < 16; pin++)
		r->entries[r->nr++] = (struct kvm_irq_routing_entry){
			.gsi = KVM_GSI_PIC + pin,
			.type = KVM_IRQ_ROUTING_IRQCHIP,
			.u.irqchip = { .irqchip = pin < 8 ? KVM_IRQCHIP_PIC_MASTER
							  : KVM_IRQCHIP_PIC_SLAVE,
				       .pin = pin % 8 },
		};
	return kvm_set_routing(kv);
}

/* backend_ops.irq_line: KVM_IRQ_LINE (API 4.25) on the input's GSI. */
static int kvm_irq_line(struct vm *vm, enum backend_irqchip chip, unsigned pin, bool level)
{
	struct kvm_vm *kv = vm->backend_vm;
	struct kvm_irq_level l = { .level = level };

	if (chip == BACKEND_IRQCHIP_IOAPIC ? pin >= 24 : pin >= 16)
		return -EINVAL;
	l.irq = (chip == BACKEND_IRQCHIP_IOAPIC ? KVM_GSI_IOAPIC : KVM_GSI_PIC) + pin;
	return ioctl(kv->vm_fd, KVM_IRQ_LINE, &l) < 0 ? -errno : 0;
}

/*
 * backend_ops.msi: the message's irqfd, made with its route the first time it is sent. Once
 * every route is taken, KVM_SIGNAL_MSI (API 4.71) delivers the message directly.
 */
static int kvm_msi(struct vm *vm, u64 address, u32 data)
{
	struct kvm_vm *kv = vm->backend_vm;
	const u64 one = 1;
	int fd = -1, err = 0;

	pthread_mutex_lock(&kv->lock);
	for (unsigned i = 0; i < kv->nr_msi && fd < 0; i++)
		if (kv->msi[i].address == address && kv->msi[i].data == data)
			fd = kv->msi[i].fd;
	if (fd < 0 && kv->nr_msi < KVM_MSI_ROUTES) {
		unsigned i = kv->nr_msi;
		struct kvm_irqfd irqfd = { .gsi = KVM_GSI_MSI + i };

		kv->routing->entries[kv->routing->nr] = (struct kvm_irq_routing_entry){
			.gsi = KVM_GSI_MSI + i,
			.type = KVM_IRQ_ROUTING_MSI,
			.u.msi = { .address_lo = (u32)address, .address_hi = (u32)(address >> 32),
				   .data = data },
		};
		kv->routing->nr++;
		err = kvm_set_routing(kv);
		irqfd.fd = kv->msi[i].fd;
		if (!err && ioctl(kv->vm_fd, KVM_IRQFD, &irqfd) == 0) {
			kv->msi[i].address = address;
			kv->msi[i].data = data;
			kv->nr_msi++;
			fd = irqfd.fd;
		} else {
			kv->routing->nr--;
			kvm_set_routing(kv);
		}
	}
	pthread_mutex_unlock(&kv->lock);
	if (fd >= 0)
		return write(fd, &one, sizeof(one)) < 0 ? -errno : 0;
	struct kvm_msi m = { .address_lo = (u32)address, .address_hi = (u32)(address >> 32),
			     .data = data };
	return ioctl(kv->vm_fd, KVM_SIGNAL_MSI, &m) < 0 ? -errno : 0;
}

/*
 * The VM-level set-up, before any vCPU (KVM_CREATE_IRQCHIP must precede KVM_CREATE_VCPU, API
 * 4.24): the TSS page the Intel KVM needs for real mode without unrestricted guest (as QEMU
 * sets it), the levers of vm->kvm (set before vm_create) and the MSR filter. 0, or -EOPNOTSUPP
 * after vm_request_stop() with the one line naming what KVM lacks.
 */
static int kvm_vm_setup(struct vm *vm)
{
	struct kvm_vm *kv = vm->backend_vm;
	int err;

	ioctl(kv->vm_fd, KVM_SET_TSS_ADDR, 0xfffbd000ul);
	if (vm->kvm.irqchip &&
	    (!kvm_check_cap(kv, KVM_CAP_IRQCHIP) || !kvm_check_cap(kv, KVM_CAP_IRQ_ROUTING) ||
	     !kvm_check_cap(kv, KVM_CAP_IRQFD) || ioctl(kv->vm_fd, KVM_CREATE_IRQCHIP) < 0 ||
	     kvm_irqchip_init(vm) < 0)) {
		vm_request_stop(vm, EXIT_STATUS_STOPPED,
				"--kvm-irqchip kernel: this KVM cannot create an in-kernel irqchip "
				"with GSI routing and irqfd (KVM_CAP_IRQCHIP, KVM_CAP_IRQ_ROUTING, "
				"KVM_CAP_IRQFD); use --kvm-irqchip user");
		return -EOPNOTSUPP;
	}
	vm->irqchip_in_backend = vm->kvm.irqchip;
	if (vm->kvm.disable_exits) {
		struct kvm_enable_cap cap = {
			.cap = KVM_CAP_X86_DISABLE_EXITS,
			.args[0] = vm->kvm.disable_exits,
		};
		u32 have = (u32)kvm_check_cap(kv, KVM_CAP_X86_DISABLE_EXITS);

		if ((have & vm->kvm.disable_exits) != vm->kvm.disable_exits ||
		    ioctl(kv->vm_fd, KVM_ENABLE_CAP, &cap) < 0) {
			vm_request_stop(vm, EXIT_STATUS_STOPPED,
					"--kvm-disable-exits: this KVM can disable only %#x of %#x "
					"(KVM_CAP_X86_DISABLE_EXITS); drop the option",
					have, vm->kvm.disable_exits);
			return -EOPNOTSUPP;
		}
	}
	if (vm->kvm.ioeventfd) {
		struct kvm_ioeventfd io = {
			.addr = KVM_DOORBELL_PORT,
			.flags = KVM_IOEVENTFD_FLAG_PIO,
			.len = kvm_check_cap(kv, KVM_CAP_IOEVENTFD_ANY_LENGTH) ? 0 : 1,
		};

		kv->doorbell_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		io.fd = kv->doorbell_fd;
		if (!kvm_check_cap(kv, KVM_CAP_IOEVENTFD) || kv->doorbell_fd < 0 ||
		    ioctl(kv->vm_fd, KVM_IOEVENTFD, &io) < 0) {
			vm_request_stop(vm, EXIT_STATUS_STOPPED,
					"--kvm-ioeventfd: this KVM cannot register the doorbell at "
					"port %#x (KVM_CAP_IOEVENTFD): %s; drop the option",
					KVM_DOORBELL_PORT, strerror(errno));
			return -EOPNOTSUPP;
		}
	}
	err = kvm_set_msr_policy(kv, !vm->kvm.irqchip);
	if (err)
		vm_request_stop(vm, EXIT_STATUS_STOPPED,
				"--accel kvm: cannot set the MSR filter (KVM_X86_SET_MSR_FILTER): %s",
				strerror(-err));
	return err;
}

/* The VM's KVM (backend_ops.vm_init): /dev/kvm, KVM_CREATE_VM and the set-up above. */
static int kvm_vm_init(struct vm *vm)
{
	struct kvm_vm *kv = calloc(1, sizeof(*kv));
	char msg[256];

	if (!kv)
		return -ENOMEM;
	kv->kvm_fd = kv->vm_fd = kv->doorbell_fd = -1;
	pthread_mutex_init(&kv->lock, NULL);
	vm->backend_vm = kv;
	kv->kvm_fd = kvm_open(msg, sizeof(msg)); /* main.c probed it: its line is said */
	if (kv->kvm_fd < 0)
		return kv->kvm_fd;
	kv->vm_fd = ioctl(kv->kvm_fd, KVM_CREATE_VM, 0);
	if (kv->vm_fd < 0)
		return -errno;
	return kvm_vm_setup(vm);
}

static void kvm_vm_destroy(struct vm *vm)
{
	struct kvm_vm *kv = vm->backend_vm;

	if (kv->doorbell_fd >= 0)
		close(kv->doorbell_fd);
	for (unsigned i = 0; kv->routing && i < KVM_MSI_ROUTES; i++)
		if (kv->msi[i].fd >= 0)
			close(kv->msi[i].fd);
	free(kv->routing);
	if (kv->vm_fd >= 0)
		close(kv->vm_fd);
	if (kv->kvm_fd >= 0)
		close(kv->kvm_fd);
	pthread_mutex_destroy(&kv->lock);
	free(kv);
}

/*
 * The guest's TSC is the host's plus KVM's offset for the vCPU (SDM vol. 3C 26.6.5; KVM sets it
 * at KVM_CREATE_VCPU so that the guest's starts near 0, and moves it when the guest or
 * set_state writes IA32_TSC or IA32_TSC_ADJUST). The VMM's LAPIC needs it for TSC-deadline mode
 * (--kvm-irqchip user): the offset is read at realize, after set_state, and at every
 * IA32_TSC_DEADLINE write, which exits to the VMM, so the deadline is armed against the TSC the
 * guest reads. KVM_VCPU_TSC_OFFSET (API 4.126, vCPU attribute); on an older KVM, IA32_TSC
 * read between two host TSC reads (off by half that window at most).
 */
static void kvm_read_tsc_offset(struct kvm_vcpu *k)
{
	u64 off = 0, t0, t1;
	struct kvm_device_attr a = {
		.group = KVM_VCPU_TSC_CTRL,
		.attr = KVM_VCPU_TSC_OFFSET,
		.addr = (u64)(uintptr_t)&off,
	};
	struct {
		struct kvm_msrs h;
		struct kvm_msr_entry e;
	} m = { .h.nmsrs = 1, .e.index = MSR_IA32_TSC };

	if (ioctl(k->vcpu_fd, KVM_GET_DEVICE_ATTR, &a) == 0) {
		k->tsc_offset = off;
		return;
	}
	t0 = __builtin_ia32_rdtsc();
	if (ioctl(k->vcpu_fd, KVM_GET_MSRS, &m) == 1) {
		t1 = __builtin_ia32_rdtsc();
		k->tsc_offset = m.e.data - (t0 + (t1 - t0) / 2);
	}
}

/* backend_ops.guest_tsc. */
static u64 kvm_guest_tsc(struct vcpu *vcpu)
{
	return __builtin_ia32_rdtsc() + kvm_vcpu_of(vcpu)->tsc_offset;
}

/*
 * Create the KVM vCPU, lazily on the vCPU's first operation (its id is vcpu->id: KVM's BSP is
 * vCPU 0, KVM_SET_BOOT_CPU_ID's default).
 */
static int kvm_realize(struct vcpu *vcpu)
{
	struct kvm_vcpu *k = kvm_vcpu_of(vcpu);
	struct sigaction sa = { .sa_handler = kvm_kick_handler };
	int err, size;

	if (k->realized)
		return 0;
	k->realized = true;
	k->vcpu_fd = ioctl(k->kv->vm_fd, KVM_CREATE_VCPU, (unsigned long)vcpu->id);
	if (k->vcpu_fd < 0)
		return -errno;
	size = ioctl(k->kv->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (size < (int)sizeof(struct kvm_run))
		return size < 0 ? -errno : -EINVAL;
	k->run_size = (size_t)size;
	k->run = mmap(NULL, k->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, k->vcpu_fd, 0);
	if (k->run == MAP_FAILED) {
		k->run = NULL;
		return -errno;
	}
	err = kvm_set_cpuid(vcpu);
	if (!err)
		err = kvm_sync_slots(vcpu);
	if (err)
		return err;
	kvm_read_tsc_offset(k);
	k->stats_fd = ioctl(k->vcpu_fd, KVM_GET_STATS_FD, 0); /* -1: no in-kernel table */
	sigemptyset(&sa.sa_mask);
	if (sigaction(KVM_KICK_SIGNAL, &sa, NULL) < 0)
		return -errno;
	if (pthread_create(&k->thread, NULL, kvm_vcpu_thread, k))
		return -EAGAIN;
	k->thread_started = true;
	return 0;
}

/* A failed realize ends the run (once); every vCPU operation checks it first. */
static bool kvm_ready(struct vcpu *vcpu)
{
	struct kvm_vcpu *k = kvm_vcpu_of(vcpu);
	int err;

	if (k->realized)
		return k->thread_started;
	err = kvm_realize(vcpu);
	if (err)
		vm_request_stop(vcpu->vm, EXIT_STATUS_STOPPED,
				"--accel kvm: cannot set up the vCPU: %s", strerror(-err));
	return !err;
}

/* A vCPU of the VM's KVM VM (kvm_vm_init ran first); KVM_CREATE_VCPU waits for kvm_realize. */
static int kvm_vcpu_create(struct vcpu *vcpu)
{
	struct kvm_vcpu *k = calloc(1, sizeof(*k));
	pthread_condattr_t attr;

	if (!k)
		return -ENOMEM;
	k->kv = vcpu->vm->backend_vm;
	k->vcpu_fd = k->stats_fd = -1;
	pthread_mutex_init(&k->lock, NULL);
	/* kvm_run_once's wait until the next timer counts CLOCK_MONOTONIC, as the VM's clock. */
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&k->cond, &attr);
	pthread_condattr_destroy(&attr);
	vcpu->backend = k;
	return 0;
}

static void kvm_destroy(struct vcpu *vcpu)
{
	struct kvm_vcpu *k = kvm_vcpu_of(vcpu);

	if (!k)
		return;
	if (k->thread_started) {
		pthread_mutex_lock(&k->lock);
		k->state = KVM_THREAD_QUIT;
		pthread_cond_broadcast(&k->cond);
		pthread_mutex_unlock(&k->lock);
		k->run->immediate_exit = 1;
		pthread_kill(k->thread, KVM_KICK_SIGNAL);
		pthread_join(k->thread, NULL);
	}
	if (k->run)
		munmap(k->run, k->run_size);
	if (k->stats_fd >= 0)
		close(k->stats_fd);
	if (k->vcpu_fd >= 0)
		close(k->vcpu_fd);
	pthread_mutex_destroy(&k->lock);
	pthread_cond_destroy(&k->cond);
	free(k);
	vcpu->backend = NULL;
}

/* ---- register access ---- */

static void kvm_get_regs(struct vcpu *vcpu, struct x86_regs *r)
{
	struct kvm_vcpu *k = kvm_vcpu_of(vcpu);
	const struct kvm_regs *g = &k->regs;

	memset(r, 0, sizeof(*r));
	if (!kvm_ready(vcpu) || kvm_load_regs(k))
		return;
	r->gpr[R_RAX] = g->rax, r->gpr[R_RCX] = g->rcx, r->gpr[R_RDX] = g->rdx;
	r->gpr[R_RBX] = g->rbx, r->gpr[R_RSP] = g->rsp, r->gpr[R_RBP] = g->rbp;
	r->gpr[R_RSI] = g->rsi, r->gpr[R_RDI] = g->rdi, r->gpr[R_R8] = g->r8;
	r->gpr[R_R9] = g->r9, r->gpr[R_R10] = g->r10, r->gpr[R_R11] = g->r11;
	r->gpr[R_R12] = g->r12, r->gpr[R_R13] = g->r13, r->gpr[R_R14] = g->r14;
	r->gpr[R_R15] = g->r15, r->rip = g->rip, r->rflags = g->rflags;
}

/*
 * While an RDMSR/WRMSR exit is pending, writing the registers is how the handler completes it
 * (vmm/run.c: RAX/RDX and RIP past the instruction). KVM completes the instruction itself from
 * kvm_run->msr and advances RIP, so RIP stays on the instruction here and RDX:RAX of an RDMSR
 * become msr.data (docs/kvm.md "MSR completion").
 */
static void kvm_set_regs(struct vcpu *vcpu, const struct x86_regs *r)
{
	struct kvm_vcpu *k = kvm_vcpu_of(vcpu);
	struct kvm_regs *g = &k->regs;
	struct kvm_regs before = *g;

	if (!kvm_ready(vcpu))
		return;
	g->rax = r->gpr[R_RAX], g->rcx = r->gpr[R_RCX], g->rdx = r->gpr[R_RDX];
	g->rbx = r->gpr[R_RBX], g->rsp = r->gpr[R_RSP], g->rbp = r->gpr[R_RBP];
	g->rsi = r->gpr[R_RSI], g->rdi = r->gpr[R_RDI], g->r8 = r->gpr[R_R8];
	g->r9 = r->gpr[R_R9], g->r10 = r->gpr[R_R10], g->r11 = r->gpr[R_R11];
	g->r12 = r->gpr[R_R12], g->r13 = r->gpr[R_R13], g->r14 = r->gpr[R_R14];
	g->r15 = r->gpr[R_R15], g->rip = r->rip, g->rflags = r->rflags;
	if (k->pending == KVM_PENDING_MSR) {
		/* KVM_SET_REGS only when the handler changed more than RAX, RDX and RIP. */
		k->msr_completed = true;
		if (k->run->exit_reason == KVM_EXIT_X86_RDMSR)
			k->run->msr.data = (u32)g->rax | (g->rdx << 32);
		g->rip = k->pending_rip;
		before.rax = g->rax, before.rdx = g->rdx;
		if (k->regs_valid && !memcmp(&before, g, sizeof(before)))
			return;
	}
	k->regs_valid = k->regs_dirty = true;
}

/* VMCS access rights (SDM vol. 3C 25.4.1, Table 25-2) <-> KVM's unpacked kvm_segment. */
static void seg_to_kvm(const struct x86_segment *s, struct kvm_segment *k)
{
	*k = (struct kvm_segment){
		.base = s->base,
		.limit = s->limit,
		.selector = s->sel,
		.type = AR_TYPE(s->ar),
		.s = !!(s->ar & AR_S),
		.dpl = AR_DPL(s->ar),
		.present = !!(s->ar & AR_P),
		.avl = !!(s->ar & AR_AVL),
		.l = !!(s->ar & AR_L),
		.db = !!(s->ar & AR_DB),
		.g = !!(s->ar & AR_G),
		.unusable = !!(s->ar & AR_UNUSABLE),
	};
}

static void seg_from_kvm(const struct kvm_segment *k, struct x86_segment *s)
{
	*s = (struct x86_segment){
		.base = k->base,
		.limit = k->limit,
		.sel = k->selector,
		.ar = (k->type & 0xf) | (k->s ? AR_S : 0) | (u32)(k->dpl & 3) << 5 |
		      (k->present ? AR_P : 0) | (k->avl ? AR_AVL : 0) | (k->l ? AR_L : 0) |
		      (k->db ? AR_DB : 0) | (k->g ? AR_G : 0) |
		      (k->unusable || !k->present ? AR_UNUSABLE : 0),
	};
}

static struct kvm_segment *kvm_seg(struct kvm_sregs *s, int i)
{
	struct kvm_segment *const segs[8] = {
		[SEG_ES] = &s->es, [SEG_CS] = &s->cs, [SEG_SS] = &s->ss,    [SEG_DS] = &s->ds,
		[SEG_FS] = &s->fs, [SEG_GS] = &s->gs, [SEG_LDTR] = &s->ldt, [SEG_TR] = &s->tr,
	};

	return segs[i];
}

static void kvm_get_sregs(struct vcpu *vcpu, struct x86_sregs *s)
{
	struct kvm_vcpu *k = kvm_vcpu_of(vcpu);
	struct kvm_sregs *g = &k->sregs;

	memset(s, 0, sizeof(*s));
	if (!kvm_ready(vcpu) || kvm_load_sregs(k))
		return;
	for (int i = 0; i < 8; i++)
		seg_from_kvm(kvm_seg(g, i), &s->seg[i]);
	s->gdt = (struct x86_dtable){ .base = g->gdt.base, .limit = g->gdt.limit };
	s->idt = (struct x86_dtable){ .base = g->idt.base, .limit = g->idt.limit };
	s->cr0 = g->cr0, s->cr2 = g->cr2, s->cr3 = g->cr3, s->cr4 = g->cr4, s->cr8 = g->cr8;
	s->efer = g->efer, s->apic_base = g->apic_base;
}

/* apic_base 0 (the loader leaves it) keeps KVM's reset value: the APIC enabled at 0xfee00000. */
static void kvm_set_sregs(struct vcpu *vcpu, const struct x86_sregs *s)
{
	struct kvm_vcpu *k = kvm_vcpu_of(vcpu);
	struct kvm_sregs *g = &k->sregs;

	if (!kvm_ready(vcpu) || kvm_load_sregs(k))
		return;
	for (int i = 0; i < 8; i++)
		seg_to_kvm(&s->seg[i], kvm_seg(g, i));
	g->gdt.base = s->gdt.base, g->gdt.limit = s->gdt.limit;
	g->idt.base = s->idt.base, g->idt.limit = s->idt.limit;
	g->cr0 = s->cr0, g->cr2 = s->cr2, g->cr3 = s->cr3, g->cr4 = s->cr4, g->cr8 = s->cr8;
	g->efer = s->efer;
	if (s->apic_base)
		g->apic_base = s->apic_base;
	k->sregs_dirty = true;
}

/*
 * A hardware exception (interruption type 3, SDM vol. 3C 25.8.3) through KVM_SET_VCPU_EVENTS.
 * For a pending RDMSR/WRMSR the #GP is KVM's to raise: msr.error = 1.
 */
static void kvm_inject_exception(struct vcpu *vcpu, u8 vector, bool has_error, u32 error)
{
	struct kvm_vcpu *k = kvm_vcpu_of(vcpu);
	struct kvm_vcpu_events ev;

	if (!kvm_ready(vcpu))
		return;
	k->event_queued = true;
	if (k->pending == KVM_PENDING_MSR && vector == X86_GP) {
		k->msr_fault = true;
		return;
	}
	if (ioctl(k->vcpu_fd, KVM_GET_VCPU_EVENTS, &ev) < 0)
		goto fail;
	ev.exception.injected = 0;
	ev.exception.pending = 1;
	ev.exception.nr = vector;
	ev.exception.has_error_code = has_error;
	ev.exception.error_code = error;
	ev.flags &= KVM_VCPUEVENT_VALID_PAYLOAD;
	if (ioctl(k->vcpu_fd, KVM_SET_VCPU_EVENTS, &ev) == 0)
		return;
	/* Without KVM_CAP_EXCEPTION_PAYLOAD "pending" is spelled "injected". */
	ev.exception.pending = 0;
	ev.exception.injected = 1;
	if (ioctl(k->vcpu_fd, KVM_SET_VCPU_EVENTS, &ev) == 0)
		return;
fail:
	vm_request_stop(vcpu->vm, EXIT_STATUS_STOPPED,
			"--accel kvm: cannot inject exception %u: %s", vector, strerror(errno));
}

/* ---- the whole architectural state (arch/x86.h struct x86_state) ---- */

#define KVM_STATE_MSR(m) m,
static const u32 kvm_state_msrs[X86_STATE_NR_MSRS] = { X86_STATE_MSRS(KVM_STATE_MSR) };
#undef KVM_STATE_MSR

/* One vCPU ioctl of get_state/set_state: 0, or -errno after the run is stopped with its name. */
static int kvm_state_ioctl(struct vcpu *vcpu, unsigned long req, void *arg, const char *name)
{
	if (ioctl(kvm_vcpu_of(vcpu)->vcpu_fd, req, arg) >= 0)
		return 0;
	vm_request_stop(vcpu->vm, EXIT_STATUS_STOPPED, "--accel kvm: vCPU %u: %s: %s", vcpu->id,
			name, strerror(errno));
	return -errno;
}

static int kvm_msr_io(struct vcpu *vcpu, bool write, u32 index, u64 *value)
{
	struct {
		struct kvm_msrs h;
		struct kvm_msr_entry e;
	} m = { .h.nmsrs = 1, .e = { .index = index, .data = write ? *value : 0 } };
	int n = ioctl(kvm_vcpu_of(vcpu)->vcpu_fd, write ? KVM_SET_MSRS : KVM_GET_MSRS, &m);

	if (n != 1)
		return n < 0 ? -errno : -EINVAL;
	if (!write)
		*value = m.e.data;
	return 0;
}

/*
 * KVM spreads the state over KVM_GET_REGS/SREGS (the caches), KVM_GET_XSAVE (the standard-format
 * XSAVE area: its first 832 bytes are struct x86_fpu's layout, SDM vol. 1 13.4), KVM_GET_XCRS,
 * KVM_GET_DEBUGREGS, KVM_GET_MSRS (one MSR at a time: a multi-MSR read stops at the first KVM
 * refuses) and KVM_GET_VCPU_EVENTS (Documentation/virt/kvm/api.rst 4.x). The event KVM will
 * inject next becomes the VM-entry interruption information (SDM vol. 3C 25.8.3); the STI and
 * MOV SS shadows and NMI blocking the interruptibility state (25.4.2). The activity state is
 * the VMM's (vcpu->mp_state): without an in-kernel irqchip KVM keeps none (KVM_GET_MP_STATE
 * needs one); with one, KVM's. KVM has no pending-debug-exceptions field: 0.
 */
static void kvm_get_state(struct vcpu *vcpu, struct x86_state *st)
{
	struct kvm_vcpu *k = kvm_vcpu_of(vcpu);
	struct kvm_xsave *xs;
	struct kvm_xcrs xcrs;
	struct kvm_debugregs dr;
	struct kvm_vcpu_events ev;
	u32 info = 0;

	memset(st, 0, sizeof(*st));
	kvm_get_regs(vcpu, &st->regs);
	kvm_get_sregs(vcpu, &st->sregs);
	if (!kvm_ready(vcpu))
		return;
	xs = calloc(1, sizeof(*xs));
	if (!xs) {
		vm_request_stop(vcpu->vm, EXIT_STATUS_STOPPED, "out of memory for the XSAVE area");
		return;
	}
	if (!kvm_state_ioctl(vcpu, KVM_GET_XSAVE, xs, "KVM_GET_XSAVE"))
		memcpy(&st->fpu, xs->region, sizeof(st->fpu));
	free(xs);
	if (!kvm_state_ioctl(vcpu, KVM_GET_XCRS, &xcrs, "KVM_GET_XCRS"))
		for (u32 i = 0; i < xcrs.nr_xcrs && i < KVM_MAX_XCRS; i++)
			if (xcrs.xcrs[i].xcr == 0)
				st->xcr0 = xcrs.xcrs[i].value;
	if (!kvm_state_ioctl(vcpu, KVM_GET_DEBUGREGS, &dr, "KVM_GET_DEBUGREGS")) {
		memcpy(st->dr, dr.db, sizeof(dr.db));
		st->dr[6] = dr.dr6;
		st->dr[7] = dr.dr7;
	}
	for (unsigned i = 0; i < X86_STATE_NR_MSRS; i++)
		if (kvm_msr_io(vcpu, false, kvm_state_msrs[i], &st->msrs[i]))
			st->msrs[i] = 0; /* one this KVM does not have (TSC_AUX without RDTSCP) */
		else if (kvm_state_msrs[i] == MSR_IA32_TSC)
			k->tsc_got = st->msrs[i];
	if (kvm_state_ioctl(vcpu, KVM_GET_VCPU_EVENTS, &ev, "KVM_GET_VCPU_EVENTS"))
		return;
	if (ev.exception.injected || ev.exception.pending) {
		info = INTR_INFO_VALID | ev.exception.nr | INTR_TYPE_HARD_EXCEPTION << 8 |
		       (ev.exception.has_error_code ? INTR_INFO_DELIVER_CODE : 0);
		st->events.inject_error = ev.exception.error_code;
	} else if (ev.nmi.injected) {
		info = INTR_INFO_VALID | X86_NMI | INTR_TYPE_NMI << 8;
	} else if (ev.interrupt.injected) {
		info = INTR_INFO_VALID | ev.interrupt.nr |
		       (ev.interrupt.soft ? INTR_TYPE_SOFT_INTR : INTR_TYPE_EXT_INTR) << 8;
	}
	st->events.inject_info = info;
	st->events.interruptibility =
		(ev.interrupt.shadow & KVM_X86_SHADOW_INT_STI ? GUEST_INTR_STATE_STI : 0) |
		(ev.interrupt.shadow & KVM_X86_SHADOW_INT_MOV_SS ? GUEST_INTR_STATE_MOV_SS : 0) |
		(ev.nmi.masked ? GUEST_INTR_STATE_NMI : 0);
	st->events.activity = vcpu->mp_state == VCPU_HALTED	    ? GUEST_ACTIVITY_HLT
			      : vcpu->mp_state == VCPU_WAIT_FOR_SIPI ? GUEST_ACTIVITY_WAIT_SIPI
								     : GUEST_ACTIVITY_ACTIVE;
	/* With KVM's LAPICs, HLT, INIT and SIPI stay in KVM: its mp_state (API 4.38). */
	struct kvm_mp_state mp;

	if (vcpu->vm->kvm.irqchip && ioctl(k->vcpu_fd, KVM_GET_MP_STATE, &mp) == 0)
		st->events.activity =
			mp.mp_state == KVM_MP_STATE_HALTED ? GUEST_ACTIVITY_HLT
			: mp.mp_state == KVM_MP_STATE_UNINITIALIZED ||
					mp.mp_state == KVM_MP_STATE_INIT_RECEIVED
				? GUEST_ACTIVITY_WAIT_SIPI
				: GUEST_ACTIVITY_ACTIVE;
}

/*
 * The reverse, in the order KVM checks: XCR0 before the XSAVE area it bounds, the rest after.
 * The XSAVE area keeps whatever KVM holds beyond struct x86_fpu (components above AVX, which
 * the CPUID policy does not offer) and is given in the standard format (XCOMP_BV 0). IA32_TSC
 * is left alone when it is what get_state read (the counter ran on meanwhile: an AP's INIT
 * must not set its TSC back). The activity state is the VMM's to keep (vcpu->mp_state), as
 * above, or KVM's with its irqchip (KVM_SET_MP_STATE). A pending debug exception cannot be
 * given to KVM: -EOPNOTSUPP, nothing lost silently.
 */
static int kvm_set_state(struct vcpu *vcpu, const struct x86_state *st)
{
	struct kvm_vcpu *k = kvm_vcpu_of(vcpu);
	struct kvm_xcrs xcrs = { .nr_xcrs = 1, .xcrs[0] = { .xcr = 0, .value = st->xcr0 } };
	struct kvm_debugregs dr = { .dr6 = st->dr[6], .dr7 = st->dr[7] };
	struct kvm_vcpu_events ev;
	struct kvm_xsave *xs;
	u32 info = st->events.inject_info;
	int err;

	if (!kvm_ready(vcpu))
		return -EIO;
	if (st->events.pending_dbg)
		return -EOPNOTSUPP;
	/* An exit whose completion KVM still owes (an IN's data, the RIP past an RDMSR) finishes
	   first, in a KVM_RUN that runs no guest instruction (immediate_exit: API 5 "KVM_RUN",
	   "complete pending operations without allowing any further instructions"); else KVM
	   would complete it on the new state, moving its RIP. */
	if (k->pending != KVM_PENDING_NONE) {
		if (k->pending == KVM_PENDING_MSR)
			k->run->msr.error = 0;
		k->pending = KVM_PENDING_NONE;
		k->msr_completed = k->msr_fault = false;
		k->regs_valid = k->regs_dirty = k->sregs_valid = k->sregs_dirty = false;
		__atomic_store_n(&k->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
		err = kvm_run_once(k, NULL);
		__atomic_store_n(&k->run->immediate_exit, 0, __ATOMIC_SEQ_CST);
		if (err && err != EINTR) {
			vm_request_stop(vcpu->vm, EXIT_STATUS_STOPPED,
					"--accel kvm: vCPU %u: completing an exit before INIT: %s",
					vcpu->id, strerror(err));
			return -err;
		}
	}
	kvm_set_sregs(vcpu, &st->sregs);
	kvm_set_regs(vcpu, &st->regs);
	err = kvm_flush_regs(k);
	if (err) {
		vm_request_stop(vcpu->vm, EXIT_STATUS_STOPPED,
				"--accel kvm: vCPU %u: KVM_SET_REGS/SREGS: %s", vcpu->id,
				strerror(-err));
		return err;
	}
	err = kvm_state_ioctl(vcpu, KVM_SET_XCRS, &xcrs, "KVM_SET_XCRS");
	if (err)
		return err;
	xs = calloc(1, sizeof(*xs));
	if (!xs)
		return -ENOMEM;
	err = kvm_state_ioctl(vcpu, KVM_GET_XSAVE, xs, "KVM_GET_XSAVE");
	if (!err) {
		memcpy(xs->region, &st->fpu, sizeof(st->fpu));
		((struct x86_fpu *)(void *)xs->region)->xcomp_bv = 0;
		err = kvm_state_ioctl(vcpu, KVM_SET_XSAVE, xs, "KVM_SET_XSAVE");
	}
	free(xs);
	if (err)
		return err;
	memcpy(dr.db, st->dr, sizeof(dr.db));
	err = kvm_state_ioctl(vcpu, KVM_SET_DEBUGREGS, &dr, "KVM_SET_DEBUGREGS");
	if (err)
		return err;
	for (unsigned i = 0; i < X86_STATE_NR_MSRS; i++) {
		u64 v = st->msrs[i];

		if (kvm_state_msrs[i] == MSR_IA32_TSC && v == k->tsc_got)
			continue;
		/* An MSR KVM refuses to read (kvm_get_state left 0) is not written back. */
		if (kvm_msr_io(vcpu, true, kvm_state_msrs[i], &v) && st->msrs[i])
			return -EINVAL;
	}
	kvm_read_tsc_offset(k);
	if (vcpu->vm->kvm.irqchip) {
		struct kvm_mp_state mp = {
			.mp_state = st->events.activity == GUEST_ACTIVITY_HLT ? KVM_MP_STATE_HALTED
				    : st->events.activity == GUEST_ACTIVITY_WAIT_SIPI
					? KVM_MP_STATE_INIT_RECEIVED
					: KVM_MP_STATE_RUNNABLE,
		};

		err = kvm_state_ioctl(vcpu, KVM_SET_MP_STATE, &mp, "KVM_SET_MP_STATE");
		if (err)
			return err;
	}
	err = kvm_state_ioctl(vcpu, KVM_GET_VCPU_EVENTS, &ev, "KVM_GET_VCPU_EVENTS");
	if (err)
		return err;
	memset(&ev.exception, 0, sizeof(ev.exception));
	memset(&ev.interrupt, 0, sizeof(ev.interrupt));
	ev.nmi.injected = ev.nmi.pending = 0;
	if (info & INTR_INFO_VALID) {
		switch (INTR_INFO_TYPE(info)) {
		case INTR_TYPE_NMI:
			ev.nmi.injected = 1;
			break;
		case INTR_TYPE_EXT_INTR:
		case INTR_TYPE_SOFT_INTR:
			ev.interrupt.injected = 1;
			ev.interrupt.nr = (u8)INTR_INFO_VECTOR(info);
			ev.interrupt.soft = INTR_INFO_TYPE(info) == INTR_TYPE_SOFT_INTR;
			break;
		default: /* hardware, software and privileged software exceptions */
			ev.exception.injected = 1;
			ev.exception.nr = (u8)INTR_INFO_VECTOR(info);
			ev.exception.has_error_code = !!(info & INTR_INFO_DELIVER_CODE);
			ev.exception.error_code = st->events.inject_error;
			break;
		}
	}
	ev.interrupt.shadow =
		(st->events.interruptibility & GUEST_INTR_STATE_STI ? KVM_X86_SHADOW_INT_STI : 0) |
		(st->events.interruptibility & GUEST_INTR_STATE_MOV_SS ? KVM_X86_SHADOW_INT_MOV_SS
									: 0);
	ev.nmi.masked = !!(st->events.interruptibility & GUEST_INTR_STATE_NMI);
	ev.flags = KVM_VCPUEVENT_VALID_SHADOW | KVM_VCPUEVENT_VALID_NMI_PENDING;
	return kvm_state_ioctl(vcpu, KVM_SET_VCPU_EVENTS, &ev, "KVM_SET_VCPU_EVENTS");
}

/*
 * NMIs from the VMM's LAPIC (an NMI IPI, LINT1): KVM_NMI queues one, and KVM delivers it when the
 * guest does not block NMIs (its own NMI window, API 4.62), so the VMM may always hand it over.
 * With KVM's in-kernel irqchip the LAPIC is KVM's, and so are its NMIs.
 */
static bool kvm_nmi_allowed(struct vcpu *vcpu)
{
	return !vcpu->vm->kvm.irqchip && kvm_ready(vcpu);
}

static void kvm_inject_nmi(struct vcpu *vcpu)
{
	if (ioctl(kvm_vcpu_of(vcpu)->vcpu_fd, KVM_NMI) < 0)
		vm_request_stop(vcpu->vm, EXIT_STATUS_STOPPED, "--accel kvm: vCPU %u: KVM_NMI: %s",
				vcpu->id, strerror(errno));
}

/* Guest-linear reads: KVM_TRANSLATE page by page, then guest RAM. */
static int kvm_read_guest_virt(struct vcpu *vcpu, u64 gva, void *buf, size_t len)
{
	struct kvm_vcpu *k = kvm_vcpu_of(vcpu);
	struct vm *vm = vcpu->vm;
	u8 *out = buf;

	if (!kvm_ready(vcpu))
		return -EFAULT;
	while (len) {
		struct kvm_translation t = { .linear_address = gva };
		size_t n = 4096 - (gva & 4095);

		if (n > len)
			n = len;
		if (ioctl(k->vcpu_fd, KVM_TRANSLATE, &t) < 0 || !t.valid ||
		    t.physical_address >= vm->ram_size || n > vm->ram_size - t.physical_address)
			return -EFAULT;
		memcpy(out, vm->ram + t.physical_address, n);
		out += n, gva += n, len -= n;
	}
	return 0;
}

/* ---- exits ---- */

/*
 * Decode the I/O instruction in insn[0..n) (SDM vol. 3C 28.2.1, Table 28-5; vol. 2B IN, OUT,
 * INS, OUTS): its length, or 0 when it is not an IN/OUT/INS/OUTS for this exit's port and
 * direction. *qual gets the string, REP and immediate bits.
 */
static u32 io_insn_decode(const u8 *insn, u32 n, bool long_mode, const struct kvm_run *run, u64 dx,
			  u64 *qual)
{
	bool rep = false, in = run->io.direction == KVM_EXIT_IO_IN;

	for (u32 i = 0; i < n; i++) {
		u8 b = insn[i];

		switch (b) {
		case 0xf2:
		case 0xf3:
			rep = true;
			continue;
		case 0x66:
		case 0x67:
		case 0x26:
		case 0x2e:
		case 0x36:
		case 0x3e:
		case 0x64:
		case 0x65:
			continue;
		}
		if (long_mode && (b & 0xf0) == 0x40)
			continue;
		if (((b & 0xf4) != 0xe4 && (b & 0xfc) != 0x6c) ||
		    in != ((b & 0xfe) == 0x6c || (b & 0xf6) == 0xe4))
			return 0;
		if ((b & 0xf4) == 0xe4 && !(b & 8)) { /* E4-E7: port in imm8 */
			if (i + 1 >= n || insn[i + 1] != run->io.port)
				return 0;
			*qual = IO_QUAL_IMM;
			return i + 2;
		}
		if ((u16)dx != run->io.port)
			return 0;
		*qual = (b & 0xfc) == 0x6c ? IO_QUAL_STRING | (rep ? IO_QUAL_REP : 0) : 0;
		return i + 1;
	}
	return 0;
}

/*
 * The exit's RIP, length and string/REP/immediate bits, which kvm_run.io does not carry. Intel
 * KVM's fast path exits with RIP on the instruction; KVM's instruction emulator (every ring-0
 * instruction on kvm_pvm) has already retired a plain OUT, so then the instruction is the one
 * that ends at RIP (docs/kvm.md). When no bytes match, count > 1 means REP INS/OUTS.
 */
static void kvm_decode_io(struct vcpu *vcpu, struct vm_exit *exit)
{
	struct kvm_vcpu *k = kvm_vcpu_of(vcpu);
	const struct kvm_run *run = k->run;
	u8 insn[15 + 4];
	bool long_mode;
	u64 linear, qual = 0;
	u32 len;

	if (kvm_load_sregs(k))
		goto guess;
	long_mode = k->sregs.cs.l && (k->sregs.efer & EFER_LMA);
	linear = exit->rip + (long_mode ? 0 : k->sregs.cs.base);
	if (!kvm_read_guest_virt(vcpu, linear, insn + 4, 15) ||
	    !kvm_read_guest_virt(vcpu, linear, insn + 4, 2)) {
		len = io_insn_decode(insn + 4, 15, long_mode, run, k->regs.rdx, &qual);
		if (len) {
			exit->insn_len = len;
			exit->qual |= qual;
			return;
		}
	}
	if (run->io.direction == KVM_EXIT_IO_OUT && run->io.count == 1 &&
	    !kvm_read_guest_virt(vcpu, linear - 4, insn, 4)) {
		for (len = 1; len <= 4; len++) {
			if (io_insn_decode(insn + 4 - len, len, long_mode, run, k->regs.rdx,
					   &qual) == len) {
				exit->rip -= len;
				exit->insn_len = len;
				exit->qual |= qual;
				return;
			}
		}
	}
guess:
	if (run->io.count > 1)
		exit->qual |= IO_QUAL_STRING | IO_QUAL_REP;
}

/* Element i of the current KVM_EXIT_IO, as the exit record holds one (vmx/exit.h). */
static void kvm_io_element(struct kvm_vcpu *k, struct vm_exit *exit)
{
	const struct kvm_run *run = k->run;
	u32 data = 0;

	*exit = k->io_exit;
	if (run->io.direction == KVM_EXIT_IO_OUT)
		memcpy(&data, (u8 *)run + run->io.data_offset + k->io_index * run->io.size,
		       run->io.size);
	exit->io.data = data;
}

static void kvm_fill_io(struct vcpu *vcpu, struct vm_exit *exit)
{
	struct kvm_vcpu *k = kvm_vcpu_of(vcpu);
	const struct kvm_run *run = k->run;

	exit->reason = EXIT_REASON_IO_INSTRUCTION;
	exit->qual = (u64)(run->io.size - 1) |
		     (run->io.direction == KVM_EXIT_IO_IN ? IO_QUAL_IN : 0) |
		     (u64)run->io.port << 16;
	kvm_decode_io(vcpu, exit);
	exit->io.port = run->io.port;
	exit->io.size = run->io.size;
	exit->io.in = run->io.direction == KVM_EXIT_IO_IN;
	k->io_exit = *exit;
	k->io_index = 0;
	k->pending = KVM_PENDING_IO;
	kvm_io_element(k, exit);
}

/*
 * Finish what the previous exit left for the VMM: IN data into the data page, MMIO read data,
 * MSR result. Returns true when the next element of a string I/O exit is already in *exit and
 * run() must not enter the guest.
 */
static bool kvm_complete(struct vcpu *vcpu, struct vm_exit *exit)
{
	struct kvm_vcpu *k = kvm_vcpu_of(vcpu);
	struct kvm_run *run = k->run;

	switch (k->pending) {
	case KVM_PENDING_NONE:
		break;
	case KVM_PENDING_IO:
		if (run->io.direction == KVM_EXIT_IO_IN)
			memcpy((u8 *)run + run->io.data_offset + k->io_index * run->io.size,
			       &exit->io.data, run->io.size);
		if (++k->io_index < run->io.count) {
			kvm_io_element(k, exit);
			return true;
		}
		break;
	case KVM_PENDING_MMIO:
		memcpy(run->mmio.data, &exit->mmio.data, run->mmio.len);
		break;
	case KVM_PENDING_MSR:
		/* A handler that neither completed nor faulted: #GP(0), as for an unknown MSR. */
		run->msr.error = k->msr_fault || !k->msr_completed;
		break;
	}
	k->pending = KVM_PENDING_NONE;
	k->msr_completed = k->msr_fault = false;
	return false;
}

/* The one clear line for KVM_EXIT_INTERNAL_ERROR, with the instruction bytes when known. */
static void kvm_internal_error(struct vcpu *vcpu, u64 rip)
{
	struct kvm_vcpu *k = kvm_vcpu_of(vcpu);
	const struct kvm_run *run = k->run;
	char bytes[15 * 3 + 1] = "";
	u8 insn[15];
	u32 n = 0;

	if (run->internal.suberror == KVM_INTERNAL_ERROR_EMULATION &&
	    (run->emulation_failure.flags & KVM_INTERNAL_ERROR_EMULATION_FLAG_INSTRUCTION_BYTES)) {
		n = run->emulation_failure.insn_size;
		if (n > sizeof(insn))
			n = sizeof(insn);
		memcpy(insn, run->emulation_failure.insn_bytes, n);
	} else if (!kvm_load_sregs(k)) {
		u64 linear =
			rip + ((k->sregs.efer & EFER_LMA) && k->sregs.cs.l ? 0 : k->sregs.cs.base);

		for (n = sizeof(insn); n && kvm_read_guest_virt(vcpu, linear, insn, n); n--)
			;
	}
	for (u32 i = 0; i < n; i++)
		snprintf(bytes + 3 * i, sizeof(bytes) - 3 * i, " %02x", insn[i]);
	vm_request_stop(vcpu->vm, EXIT_STATUS_STOPPED,
			"KVM internal error, suberror %u (%s) at RIP %#" PRIx64 "%s%s",
			run->internal.suberror,
			run->internal.suberror == KVM_INTERNAL_ERROR_EMULATION ? "emulation failure"
			: run->internal.suberror == KVM_INTERNAL_ERROR_SIMUL_EX
				? "exception while delivering an exception"
			: run->internal.suberror == KVM_INTERNAL_ERROR_DELIVERY_EV
				? "event delivery failed"
				: "unexpected exit",
			rip, n ? ", instruction bytes" : "", bytes);
}

/*
 * An MSR the soft CPU holds itself (vmm/msr.c's pass-through list) that this KVM refuses for the
 * guest's CPUID (kvm_pvm: TSC_AUX without RDTSCP support): KVM_MSR_EXIT_REASON_INVAL. The CPU
 * holds it, so the backend does the access host-initiated (KVM_GET_MSRS/KVM_SET_MSRS, which skip
 * the guest-CPUID checks) and the VMM never sees the exit, as on soft. True when done.
 */
static bool kvm_cpu_held_msr(struct kvm_vcpu *k)
{
	struct kvm_run *run = k->run;
	struct {
		struct kvm_msrs hdr;
		struct kvm_msr_entry e;
	} m = { .hdr.nmsrs = 1, .e = { .index = run->msr.index, .data = run->msr.data } };

	if (run->msr.reason != KVM_MSR_EXIT_REASON_INVAL || !msr_is_passthrough(run->msr.index))
		return false;
	if (ioctl(k->vcpu_fd, run->exit_reason == KVM_EXIT_X86_RDMSR ? KVM_GET_MSRS : KVM_SET_MSRS,
		  &m) != 1)
		return false;
	run->msr.data = m.e.data;
	run->msr.error = 0;
	return true;
}

/*
 * Translate the kvm_run exit into the record: true when it is one for the VMM, false for exits
 * KVM asks user space nothing about (signals, interrupt windows), after which run() re-enters.
 */
static bool kvm_translate_exit(struct vcpu *vcpu, struct vm_exit *exit)
{
	struct kvm_vcpu *k = kvm_vcpu_of(vcpu);
	struct kvm_run *run = k->run;

	memset(exit, 0, sizeof(*exit));
	if (kvm_load_regs(k))
		memset(&k->regs, 0, sizeof(k->regs));
	exit->rip = k->regs.rip;
	switch (run->exit_reason) {
	case KVM_EXIT_IO:
		kvm_fill_io(vcpu, exit);
		return true;
	case KVM_EXIT_MMIO:
		/* An access to a hole in the memory map (SDM vol. 3C 29.3.3.2): bits 0/1
		   read/write, no permissions (bits 5:3 clear), linear address unknown (bit 7
		   clear). */
		exit->reason = EXIT_REASON_EPT_VIOLATION;
		exit->qual = run->mmio.is_write ? BIT(1) : BIT(0);
		exit->guest_phys = run->mmio.phys_addr;
		exit->mmio.valid = true;
		exit->mmio.write = run->mmio.is_write;
		exit->mmio.size = (u8)run->mmio.len;
		exit->mmio.gpa = run->mmio.phys_addr;
		if (run->mmio.is_write)
			memcpy(&exit->mmio.data, run->mmio.data, run->mmio.len);
		else
			k->pending = KVM_PENDING_MMIO;
		return true;
	case KVM_EXIT_HLT:
		/* KVM has retired the HLT; the SDM's exit is before it (vol. 3C 26.1.3): step back
		   so a handler that resumes without advancing RIP halts again, as on soft. */
		exit->reason = EXIT_REASON_HLT;
		exit->insn_len = 1;
		exit->rip = --k->regs.rip;
		k->regs_dirty = true;
		return true;
	case KVM_EXIT_SHUTDOWN:
		exit->reason = EXIT_REASON_TRIPLE_FAULT;
		return true;
	case KVM_EXIT_SYSTEM_EVENT:
		if (run->system_event.type != KVM_SYSTEM_EVENT_SHUTDOWN &&
		    run->system_event.type != KVM_SYSTEM_EVENT_RESET)
			return false;
		exit->reason = EXIT_REASON_TRIPLE_FAULT;
		return true;
	case KVM_EXIT_X86_RDMSR:
	case KVM_EXIT_X86_WRMSR:
		if (kvm_cpu_held_msr(k))
			return false;
		if (run->exit_reason == KVM_EXIT_X86_WRMSR && run->msr.index == MSR_IA32_TSCDEADLINE)
			kvm_read_tsc_offset(k);
		/* SDM vol. 3C 26.1.3: RDMSR/WRMSR exits; RCX/RAX/RDX are read with get_regs. */
		exit->reason = run->exit_reason == KVM_EXIT_X86_RDMSR ? EXIT_REASON_MSR_READ
								      : EXIT_REASON_MSR_WRITE;
		exit->insn_len = 2;
		k->pending = KVM_PENDING_MSR;
		k->pending_rip = exit->rip;
		return true;
	case KVM_EXIT_HYPERCALL:
		exit->reason = EXIT_REASON_VMCALL;
		exit->insn_len = 3;
		return true;
	case KVM_EXIT_FAIL_ENTRY:
		vm_request_stop(vcpu->vm, EXIT_STATUS_STOPPED,
				"KVM could not enter the guest at RIP %#" PRIx64
				": hardware entry failure reason %#llx",
				exit->rip,
				(unsigned long long)run->fail_entry.hardware_entry_failure_reason);
		exit->reason = EXIT_REASON_FAILED_VMENTRY | EXIT_REASON_INVALID_STATE;
		return true;
	case KVM_EXIT_INTERNAL_ERROR:
		kvm_internal_error(vcpu, exit->rip);
		exit->reason = EXIT_REASON_MAX; /* no SDM reason: the unexpected-exit dump */
		return true;
	case KVM_EXIT_SET_TPR:
		/* The guest lowered CR8 (KVM keeps CR8 itself without an in-kernel LAPIC; the TPR
		   came back in kvm_run->cr8, kvm_sync_tpr): an interrupt it held back may go in now,
		   as after VT-x's TPR-below-threshold exit (SDM vol. 3C 30.1.2), trap-like. */
		exit->reason = EXIT_REASON_TPR_BELOW_THRESHOLD;
		return true;
	case KVM_EXIT_IRQ_WINDOW_OPEN:
		/* request_interrupt_window was set (kvm_set_event_window): the VMM's interrupt-window
		   exit (SDM 26.7.5), after which the run loop injects. */
		exit->reason = EXIT_REASON_INTERRUPT_WINDOW;
		return true;
	case KVM_EXIT_INTR:
	case KVM_EXIT_DEBUG:
		return false;
	default:
		vm_request_stop(vcpu->vm, EXIT_STATUS_STOPPED,
				"KVM exit %u at RIP %#" PRIx64 " that tollbooth does not know",
				run->exit_reason, exit->rip);
		exit->reason = EXIT_REASON_MAX;
		return true;
	}
}

/*
 * When the VM's next timer is due, on CLOCK_MONOTONIC, for kvm_run_once; NULL when none is armed
 * or the I/O thread keeps the timers (--vcpu-threads: it kicks the vCPU an interrupt is for).
 */
static const struct timespec *kvm_next_timer(struct vcpu *vcpu, struct timespec *until)
{
	struct vm *vm = vcpu->vm;
	u64 next, now, delta;

	if (vm->threaded)
		return NULL;
	next = timer_next_deadline(&vm->timers);
	if (next == TIMER_NEVER)
		return NULL;
	now = timer_now(&vm->timers);
	delta = next > now ? next - now : 0;
	clock_gettime(CLOCK_MONOTONIC, until);
	delta += (u64)until->tv_nsec;
	until->tv_sec += (time_t)(delta / 1000000000ull);
	until->tv_nsec = (long)(delta % 1000000000ull);
	return until;
}

/*
 * CR8 is the LAPIC's TPR[7:4] (SDM vol. 3A 11.8.6.1). Without an in-kernel LAPIC, KVM keeps CR8
 * itself (a MOV to or from CR8 does not exit) and exchanges it in kvm_run->cr8: read at each
 * KVM_RUN, written at each exit (API 5 "kvm_run", as QEMU's kvm_arch_pre_run/post_run). So the
 * VMM's TPR goes in before and comes back after, and a TPR written through the APIC page
 * reaches CR8 as well.
 */
static void kvm_put_tpr(struct vcpu *vcpu)
{
	struct kvm_vcpu *k = kvm_vcpu_of(vcpu);

	if (!vcpu->vm->kvm.irqchip && vcpu->intc.get_cr8)
		k->run->cr8 = k->cr8_sent = vcpu->intc.get_cr8(vcpu->intc.opaque);
}

static void kvm_take_tpr(struct vcpu *vcpu)
{
	struct kvm_vcpu *k = kvm_vcpu_of(vcpu);

	if (!vcpu->vm->kvm.irqchip && vcpu->intc.set_cr8 && k->run->cr8 != k->cr8_sent)
		vcpu->intc.set_cr8(vcpu->intc.opaque, (u8)k->run->cr8);
}

/* KVM reports a halted vCPU itself (KVM_EXIT_HLT, or it waits in the kernel): always an exit. */
static enum backend_run_result kvm_run_vcpu(struct vcpu *vcpu, struct vm_exit *exit)
{
	struct kvm_vcpu *k = kvm_vcpu_of(vcpu);
	struct timespec until;
	int err;

	if (!kvm_ready(vcpu))
		goto stopped;
	if (kvm_complete(vcpu, exit))
		return BACKEND_RUN_EXIT;
	for (;;) {
		/* Kicked (kvm_kick): report the IPI's exit instead of entering again. */
		if (vcpu->vm->stop_signal)
			goto kicked;
		err = kvm_sync_slots(vcpu);
		if (!err)
			err = kvm_flush_regs(k);
		if (!err) {
			kvm_put_tpr(vcpu);
			err = kvm_run_once(k, kvm_next_timer(vcpu, &until));
			kvm_take_tpr(vcpu);
		}
		if (err == EINTR || err == EAGAIN) {
			/* immediate_exit is the kick's flag (kvm_kick): taken back before the next
			   entry, and the kick becomes an exit, so the VMM sees what the kicker queued
			   (an IPI, a stop). Another signal: enter again. */
			if (__atomic_exchange_n(&k->run->immediate_exit, 0, __ATOMIC_SEQ_CST))
				goto kicked;
			continue;
		}
		if (err) {
			vm_request_stop(vcpu->vm, EXIT_STATUS_STOPPED, "KVM_RUN failed: %s",
					strerror(err < 0 ? -err : err));
			goto stopped;
		}
		if (kvm_translate_exit(vcpu, exit))
			return BACKEND_RUN_EXIT;
		if (vcpu->vm->stop)
			goto stopped;
	}
stopped:
	memset(exit, 0, sizeof(*exit));
	exit->reason = EXIT_REASON_MAX;
	return BACKEND_RUN_EXIT;
kicked:
	memset(exit, 0, sizeof(*exit));
	exit->reason = EXIT_REASON_EXTERNAL_INTERRUPT;
	if (!kvm_load_regs(k))
		exit->rip = k->regs.rip;
	return BACKEND_RUN_EXIT;
}

/*
 * As QEMU kicks a vCPU (kvm_cpu_kick() sets immediate_exit, qemu_cpu_kick_thread() sends
 * SIG_IPI): immediate_exit makes a KVM_RUN that has not started yet return EINTR at once
 * (Documentation/virt/kvm/api.rst, KVM_CAP_IMMEDIATE_EXIT), and the signal interrupts one that
 * runs (the host's IPI makes the guest exit). Async-signal-safe: a store and pthread_kill().
 * run() then returns an external-interrupt exit (kvm_run_vcpu).
 */
static void kvm_kick(struct vcpu *vcpu)
{
	struct kvm_vcpu *k = kvm_vcpu_of(vcpu);

	if (!k || !k->run)
		return;
	__atomic_store_n(&k->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
	if (k->thread_started)
		pthread_kill(k->thread, KVM_KICK_SIGNAL);
}

/*
 * The VMM's interrupt controller (vmm/board.c) with KVM's userspace irqchip (KVM API 4.16
 * KVM_INTERRUPT, 5 "kvm_run": request_interrupt_window, ready_for_interrupt_injection, if_flag).
 * One event per entry, as VT-x's VM-entry interruption information holds one (SDM vol. 3C
 * 25.8.3): while an exception or interrupt given to KVM has not gone in yet (event_queued,
 * until KVM_RUN returns an exit), the vCPU is not interruptible and the window opens instead.
 * KVM would otherwise let the exception take the entry and then drop the interrupt it had
 * queued at the next exit (vmx_complete_interrupts clears the queue and re-queues only what
 * the IDT-vectoring information holds): the ISR kept the vector and nothing of a lower class
 * ever came again (Linux on the nested KVM after an RDMSR the VMM answered with #GP).
 * With --kvm-irqchip kernel, KVM's own PIC and IOAPIC take the lines and these do nothing.
 */
static void kvm_inject_interrupt(struct vcpu *vcpu, u8 vector)
{
	struct kvm_vcpu *k = kvm_vcpu_of(vcpu);
	struct kvm_interrupt irq = { .irq = vector };

	if (vcpu->vm->kvm.irqchip || !kvm_ready(vcpu))
		return;
	k->event_queued = true;
	if (ioctl(k->vcpu_fd, KVM_INTERRUPT, &irq) < 0)
		vm_request_stop(vcpu->vm, EXIT_STATUS_STOPPED, "KVM_INTERRUPT vector %u: %s",
				vector, strerror(errno));
}

static bool kvm_interruptible(struct vcpu *vcpu)
{
	struct kvm_vcpu *k = kvm_vcpu_of(vcpu);

	if (vcpu->vm->kvm.irqchip || !kvm_ready(vcpu) || k->event_queued)
		return false;
	return k->run->ready_for_interrupt_injection && k->run->if_flag;
}

static void kvm_set_event_window(struct vcpu *vcpu, enum backend_window window, bool open)
{
	struct kvm_vcpu *k = kvm_vcpu_of(vcpu);

	/* KVM has no NMI-window request for userspace; NMIs go in with KVM_NMI. */
	if (window == BACKEND_WINDOW_INTERRUPT && !vcpu->vm->kvm.irqchip && kvm_ready(vcpu))
		k->run->request_interrupt_window = open;
}

const struct backend_ops backend_kvm = {
	.name = "kvm",
	.vm_init = kvm_vm_init,
	.vm_destroy = kvm_vm_destroy,
	.irq_line = kvm_irq_line,
	.msi = kvm_msi,
	.vcpu_create = kvm_vcpu_create,
	.run = kvm_run_vcpu,
	.dirty_log = kvm_dirty_log,
	.get_state = kvm_get_state,
	.set_state = kvm_set_state,
	.guest_tsc = kvm_guest_tsc,
	.inject_nmi = kvm_inject_nmi,
	.nmi_allowed = kvm_nmi_allowed,
	.get_regs = kvm_get_regs,
	.set_regs = kvm_set_regs,
	.get_sregs = kvm_get_sregs,
	.set_sregs = kvm_set_sregs,
	.inject_exception = kvm_inject_exception,
	.destroy = kvm_destroy,
	.read_guest_virt = kvm_read_guest_virt,
	.kick = kvm_kick,
	.inject_interrupt = kvm_inject_interrupt,
	.interruptible = kvm_interruptible,
	.set_event_window = kvm_set_event_window,
};
