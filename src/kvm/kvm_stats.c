// SPDX-License-Identifier: MIT
/*
 * The exits KVM handles in the kernel, from its binary statistics (KVM_GET_STATS_FD,
 * Documentation/virt/kvm/api.rst 4.133): header, descriptors and values read from the vCPU's
 * stats file, printed beside the user-space table of `--stats`.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kvm/internal.h"

/* The counters shown: every "*exits" one, and these. */
static bool kvm_stat_shown(const char *name)
{
	static const char *const extra[] = {
		"insn_emulation", "insn_emulation_fail", "hypercalls",	"halt_wakeup",
		"pf_taken",	  "pf_emulate",		 "pf_spurious", "tlb_flush",
		"nmi_injections", "irq_injections",	 "exceptions",
	};
	size_t n = strlen(name);

	if (n >= 5 && !strcmp(name + n - 5, "exits"))
		return true;
	for (size_t i = 0; i < ARRAY_SIZE(extra); i++)
		if (!strcmp(name, extra[i]))
			return true;
	return false;
}

static int kvm_pread_all(int fd, void *buf, size_t len, off_t off)
{
	ssize_t n = pread(fd, buf, len, off);

	return n == (ssize_t)len ? 0 : -1;
}

void kvm_print_kernel_stats(struct vcpu *vcpu, FILE *f)
{
	struct kvm_vcpu *k = kvm_vcpu_of(vcpu);
	struct kvm_stats_header h;
	size_t desc_size;
	u8 *descs = NULL;
	u64 doorbell;

	if (vcpu->vm->backend != &backend_kvm || !k)
		return;
	fprintf(f, "\nin-kernel (KVM's own counters for this vCPU, exits user space never saw)\n");
	if (k->stats_fd < 0 || kvm_pread_all(k->stats_fd, &h, sizeof(h), 0)) {
		fprintf(f, "  not available: this KVM has no KVM_GET_STATS_FD\n");
		goto doorbell;
	}
	desc_size = sizeof(struct kvm_stats_desc) + h.name_size;
	descs = calloc(h.num_desc, desc_size);
	if (!descs || kvm_pread_all(k->stats_fd, descs, h.num_desc * desc_size, h.desc_offset))
		goto doorbell;
	fprintf(f, "%24s %12s\n", "counter", "value");
	for (u32 i = 0; i < h.num_desc; i++) {
		const struct kvm_stats_desc *d = (const void *)(descs + i * desc_size);
		char name[256];
		u64 value;

		snprintf(name, sizeof(name), "%.*s", (int)h.name_size, d->name);
		if ((d->flags & KVM_STATS_TYPE_MASK) != KVM_STATS_TYPE_CUMULATIVE || d->size != 1 ||
		    !kvm_stat_shown(name))
			continue;
		if (kvm_pread_all(k->stats_fd, &value, sizeof(value), h.data_offset + d->offset))
			continue;
		fprintf(f, "%24s %12" PRIu64 "\n", name, value);
	}
doorbell:
	free(descs);
	if (k->kv->doorbell_fd >= 0) {
		if (read(k->kv->doorbell_fd, &doorbell, sizeof(doorbell)) != sizeof(doorbell))
			doorbell = 0;
		fprintf(f, "%24s %12" PRIu64 "   (port %#x, --kvm-ioeventfd)\n", "doorbell",
			doorbell, KVM_DOORBELL_PORT);
	}
}
