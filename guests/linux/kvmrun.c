// SPDX-License-Identifier: MIT
/*
 * kvmrun: the smallest KVM user (Documentation/virt/kvm/api.rst), for Linux's kvm_intel running
 * as a guest hypervisor on tollbooth (nested VMX): a VM with 64 KiB of memory, one vCPU in real
 * mode at 0x1000 running "mov $'K', %al; out %al, $0x10; mov $'!', %al; out %al, $0x10; hlt".
 * It prints each KVM exit and "kvmrun: ok" when the guest's two bytes and its HLT arrived.
 */
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

static int fail(const char *what)
{
	perror(what);
	return 1;
}

int main(void)
{
	static const unsigned char code[] = { 0xb0, 'K', 0xe6, 0x10, 0xb0, '!', 0xe6, 0x10, 0xf4 };
	struct kvm_userspace_memory_region region = { .slot = 0, .guest_phys_addr = 0,
						      .memory_size = 0x10000 };
	struct kvm_sregs sregs;
	struct kvm_regs regs = { .rip = 0x1000, .rflags = 2 };
	struct kvm_run *run;
	char got[8] = { 0 };
	int kvm, vm, vcpu, n = 0, size;
	unsigned char *mem;

	kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (kvm < 0)
		return fail("open /dev/kvm");
	printf("kvmrun: KVM API version %d\n", ioctl(kvm, KVM_GET_API_VERSION, 0));
	vm = ioctl(kvm, KVM_CREATE_VM, 0);
	if (vm < 0)
		return fail("KVM_CREATE_VM");
	mem = mmap(NULL, 0x10000, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED)
		return fail("mmap");
	memcpy(mem + 0x1000, code, sizeof(code));
	region.userspace_addr = (unsigned long)mem;
	if (ioctl(vm, KVM_SET_USER_MEMORY_REGION, &region) < 0)
		return fail("KVM_SET_USER_MEMORY_REGION");
	vcpu = ioctl(vm, KVM_CREATE_VCPU, 0);
	if (vcpu < 0)
		return fail("KVM_CREATE_VCPU");
	size = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
	run = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
	if (run == MAP_FAILED)
		return fail("mmap kvm_run");
	if (ioctl(vcpu, KVM_GET_SREGS, &sregs) < 0)
		return fail("KVM_GET_SREGS");
	sregs.cs.base = 0;
	sregs.cs.selector = 0;
	if (ioctl(vcpu, KVM_SET_SREGS, &sregs) < 0 || ioctl(vcpu, KVM_SET_REGS, &regs) < 0)
		return fail("KVM_SET_SREGS/REGS");
	for (int i = 0; i < 16; i++) {
		if (ioctl(vcpu, KVM_RUN, 0) < 0)
			return fail("KVM_RUN");
		printf("kvmrun: exit %u", run->exit_reason);
		if (run->exit_reason == KVM_EXIT_IO) {
			char c = *((char *)run + run->io.data_offset);

			printf(" (I/O %s port %#x: '%c')\n", run->io.direction ? "out" : "in",
			       run->io.port, c);
			if (n < 7)
				got[n++] = c;
			continue;
		}
		if (run->exit_reason == KVM_EXIT_HLT) {
			printf(" (HLT)\n");
			if (!strcmp(got, "K!")) {
				printf("kvmrun: ok\n");
				return 0;
			}
			break;
		}
		if (run->exit_reason == KVM_EXIT_FAIL_ENTRY)
			printf(" (entry failure, reason %#llx)\n",
			       (unsigned long long)run->fail_entry.hardware_entry_failure_reason);
		else if (run->exit_reason == KVM_EXIT_INTERNAL_ERROR)
			printf(" (internal error %u)\n", run->internal.suberror);
		else
			printf("\n");
		break;
	}
	printf("kvmrun: failed (got \"%s\")\n", got);
	return 1;
}
