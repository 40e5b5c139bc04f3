// SPDX-License-Identifier: MIT
/*
 * The kvm backend over a tiny hand-assembled 32-bit guest, driven exit by exit: the I/O exit
 * qualification (immediate, DX, REP OUTSB one element per exit), MMIO write and read, RDMSR and
 * WRMSR through the MSR filter with the handler's completion, CPUID answered by KVM from our
 * table, HLT. Skips (with the reason) when /dev/kvm cannot be opened.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "kvm/kvm.h"
#include "vmm/vm.h"

static const u8 guest_code[] = {
	0xb0, 0x5a,			    /* 1000 mov al, 0x5a */
	0xe6, 0x80,			    /* 1002 out 0x80, al */
	0x66, 0xba, 0x34, 0x12,		    /* 1004 mov dx, 0x1234 */
	0x66, 0xed,			    /* 1008 in ax, dx */
	0xbe, 0x00, 0x20, 0x00, 0x00,	    /* 100a mov esi, 0x2000 */
	0xb9, 0x03, 0x00, 0x00, 0x00,	    /* 100f mov ecx, 3 */
	0x66, 0xba, 0x35, 0x12,		    /* 1014 mov dx, 0x1235 */
	0xf3, 0x6e,			    /* 1018 rep outsb */
	0xc7, 0x05, 0x00, 0x00, 0x00, 0xd0, /* 101a mov dword [0xd0000000], */
	0x44, 0x33, 0x22, 0x11,		    /*      0x11223344 */
	0xa1, 0x04, 0x00, 0x00, 0xd0,	    /* 1024 mov eax, [0xd0000004] */
	0xb9, 0xa0, 0x01, 0x00, 0x00,	    /* 1029 mov ecx, 0x1a0 (IA32_MISC_ENABLE) */
	0x0f, 0x32,			    /* 102e rdmsr */
	0x89, 0xc5,			    /* 1030 mov ebp, eax */
	0x89, 0xd6,			    /* 1032 mov esi, edx */
	0x31, 0xc0,			    /* 1034 xor eax, eax */
	0x0f, 0xa2,			    /* 1036 cpuid */
	0x89, 0xdf,			    /* 1038 mov edi, ebx */
	0xb9, 0xff, 0x02, 0x00, 0x00,	    /* 103a mov ecx, 0x2ff (IA32_MTRR_DEF_TYPE) */
	0xb8, 0x06, 0x00, 0x00, 0x00,	    /* 103f mov eax, 6 */
	0x31, 0xd2,			    /* 1044 xor edx, edx */
	0x0f, 0x30,			    /* 1046 wrmsr */
	0xf4,				    /* 1048 hlt */
};

static void null_tx(void *opaque, u8 byte)
{
}

static const struct uart_host null_console = { .tx = null_tx };
static struct vm vm;

/* Flat 32-bit protected mode, paging off: the multiboot entry state (loader/multiboot.c). */
static void set_flat32(struct vcpu *vcpu)
{
	struct x86_sregs s = { .cr0 = CR0_PE | CR0_ET };

	for (int i = 0; i < 6; i++)
		s.seg[i] = (struct x86_segment){
			.limit = 0xffffffff,
			.sel = i == SEG_CS ? 0x08 : 0x10,
			.ar = (i == SEG_CS ? 0xb : 0x3) | AR_S | AR_P | AR_DB | AR_G,
		};
	s.seg[SEG_LDTR].ar = AR_UNUSABLE;
	s.seg[SEG_TR] = (struct x86_segment){ .limit = 0x67, .ar = 0xb | AR_P };
	backend_kvm.set_sregs(vcpu, &s);
}

/*
 * TOLLBOOTH_KVM_DEV: a missing path, a regular file (made beside this test program, in the build
 * folder) and /dev/null are each refused with their reason, and the probe creates nothing.
 */
static void test_probe_override(const char *self)
{
	const char *saved = getenv(KVM_DEV_ENV);
	char *keep = saved ? strdup(saved) : NULL;
	char msg[256] = "", regular[4096];
	const char *slash = strrchr(self, '/');
	struct stat st;
	int fd;

	setenv(KVM_DEV_ENV, "/nonexistent/kvm", 1);
	CHECK_EQ(kvm_probe(msg, sizeof(msg)), -ENOENT);
	CHECK(strstr(msg, "/nonexistent/kvm") != NULL);
	CHECK(stat("/nonexistent/kvm", &st) != 0);

	setenv(KVM_DEV_ENV, "/dev/null", 1);
	CHECK_EQ(kvm_probe(msg, sizeof(msg)), -ENODEV);
	CHECK(strstr(msg, "/dev/null is not KVM") != NULL);

	snprintf(regular, sizeof(regular), "%.*s/test_kvm.regular-file",
		 slash ? (int)(slash - self) : 1, slash ? self : ".");
	fd = open(regular, O_CREAT | O_WRONLY | O_TRUNC, 0644);
	CHECK(fd >= 0);
	if (fd >= 0)
		close(fd);
	setenv(KVM_DEV_ENV, regular, 1);
	CHECK_EQ(kvm_probe(msg, sizeof(msg)), -ENODEV);
	CHECK(strstr(msg, "not a character device") != NULL);
	unlink(regular);
	if (keep)
		setenv(KVM_DEV_ENV, keep, 1);
	else
		unsetenv(KVM_DEV_ENV);
	free(keep);
}

static void test_parse_disable_exits(void)
{
	u32 bits;

	CHECK_EQ(kvm_parse_disable_exits("hlt,pause", &bits), 0);
	CHECK_EQ(bits, (1u << 1) | (1u << 2));
	CHECK(kvm_parse_disable_exits("hlt,nap", &bits) < 0);
	CHECK(kvm_parse_disable_exits("", &bits) < 0);
}

static void test_guest(void)
{
	struct vcpu *vcpu;
	const struct backend_ops *b = &backend_kvm;
	struct vm_exit exit;
	struct x86_regs r = { .rip = 0x1000, .rflags = X86_FIXED1 };
	const char *out = "abc";

	CHECK_EQ(vm_create(&vm, 2 << 20, &backend_kvm, &null_console), 0);
	vcpu = &vm.vcpus[0]; /* vm_create allocates the vCPUs */
	memcpy(vm.ram + 0x1000, guest_code, sizeof(guest_code));
	memcpy(vm.ram + 0x2000, out, 3);
	set_flat32(vcpu);
	b->set_regs(vcpu, &r);
	memset(&exit, 0, sizeof(exit));

	/* OUT imm8 (SDM vol. 3C Table 28-5): size 1, bit 6 immediate, port in 31:16. */
	b->run(vcpu, &exit);
	CHECK_EQ(exit.reason, EXIT_REASON_IO_INSTRUCTION);
	CHECK_EQ(exit.qual, (0x80u << 16) | IO_QUAL_IMM);
	CHECK_EQ(exit.insn_len, 2);
	CHECK_EQ(exit.rip, 0x1002);
	CHECK_EQ(exit.io.data, 0x5a);

	/* IN AX, DX: size 2, IN; the handler's data completes it. */
	b->run(vcpu, &exit);
	CHECK_EQ(exit.qual, (0x1234u << 16) | IO_QUAL_IN | 1);
	CHECK_EQ(exit.insn_len, 2);
	CHECK(exit.io.in);
	exit.io.data = 0xbeef;

	/* REP OUTSB: one exit per element, string and REP set. */
	for (int i = 0; i < 3; i++) {
		b->run(vcpu, &exit);
		CHECK_EQ(exit.reason, EXIT_REASON_IO_INSTRUCTION);
		CHECK_EQ(exit.qual, (0x1235u << 16) | IO_QUAL_STRING | IO_QUAL_REP);
		CHECK_EQ(exit.rip, 0x1018);
		CHECK_EQ(exit.io.data, (u8)out[i]);
		if (i == 0) {
			b->get_regs(vcpu, &r);
			CHECK_EQ(r.gpr[R_RAX] & 0xffff, 0xbeef);
		}
	}

	/* MMIO write, then read, in a hole of the memory map: reason 48 with the exchange. */
	b->run(vcpu, &exit);
	CHECK_EQ(exit.reason, EXIT_REASON_EPT_VIOLATION);
	CHECK(exit.mmio.valid && exit.mmio.write);
	CHECK_EQ(exit.mmio.gpa, 0xd0000000);
	CHECK_EQ(exit.guest_phys, 0xd0000000);
	CHECK_EQ(exit.mmio.size, 4);
	CHECK_EQ(exit.mmio.data, 0x11223344);
	CHECK_EQ(exit.qual & 7, 2);
	b->run(vcpu, &exit);
	CHECK_EQ(exit.reason, EXIT_REASON_EPT_VIOLATION);
	CHECK(exit.mmio.valid && !exit.mmio.write);
	CHECK_EQ(exit.mmio.gpa, 0xd0000004);
	CHECK_EQ(exit.qual & 7, 1);
	exit.mmio.data = 0x55667788;

	/* RDMSR of a policy MSR exits; the handler's set_regs (RIP + 2) completes it once. */
	b->run(vcpu, &exit);
	CHECK_EQ(exit.reason, EXIT_REASON_MSR_READ);
	CHECK_EQ(exit.rip, 0x102e);
	b->get_regs(vcpu, &r);
	CHECK_EQ(r.gpr[R_RCX], 0x1a0);
	CHECK_EQ(r.gpr[R_RAX], 0x55667788);
	r.gpr[R_RAX] = 0x1234;
	r.gpr[R_RDX] = 0x5678;
	r.rip += exit.insn_len;
	b->set_regs(vcpu, &r);

	/* WRMSR exits; CPUID ran in KVM from our table ("Genu" in EBX). */
	b->run(vcpu, &exit);
	CHECK_EQ(exit.reason, EXIT_REASON_MSR_WRITE);
	CHECK_EQ(exit.rip, 0x1046);
	b->get_regs(vcpu, &r);
	CHECK_EQ(r.gpr[R_RBP], 0x1234);
	CHECK_EQ(r.gpr[R_RSI], 0x5678);
	CHECK_EQ(r.gpr[R_RCX], 0x2ff);
	CHECK_EQ(r.gpr[R_RAX], 6);
	CHECK_EQ(r.gpr[R_RDI], 0x756e6547);
	r.rip += exit.insn_len;
	b->set_regs(vcpu, &r);

	/* HLT: reported on the instruction (SDM vol. 3C 26.1.3), length 1. */
	b->run(vcpu, &exit);
	CHECK_EQ(exit.reason, EXIT_REASON_HLT);
	CHECK_EQ(exit.rip, 0x1048);
	CHECK_EQ(exit.insn_len, 1);
	b->get_regs(vcpu, &r);
	CHECK_EQ(r.rip, 0x1048);
	CHECK_EQ(vm.stop, false);
	vm_destroy(&vm);
}

/* Dirty logging through KVM_GET_DIRTY_LOG (vmm/dirty.c, backend dirty_log): the pages the guest
   wrote since the last look, and only those. */
static void test_dirty_log(void)
{
	static const u8 code[] = {
		0xa3, 0x00, 0x50, 0x00, 0x00, /* 1000 mov [0x5000], eax */
		0xa3, 0x08, 0x70, 0x00, 0x00, /* 1005 mov [0x7008], eax */
		0xf4,			      /* 100a hlt */
		0xa3, 0x00, 0x90, 0x00, 0x00, /* 100b mov [0x9000], eax */
		0xf4,			      /* 1010 hlt */
	};
	const struct backend_ops *b = &backend_kvm;
	struct x86_regs r = { .rip = 0x1000, .rflags = X86_FIXED1 };
	u64 bits[(2 << 20) / 4096 / 64];
	struct vm_exit exit;
	struct vcpu *vcpu;

	CHECK_EQ(vm_create(&vm, 2 << 20, &backend_kvm, &null_console), 0);
	vcpu = &vm.vcpus[0];
	memcpy(vm.ram + 0x1000, code, sizeof(code));
	set_flat32(vcpu);
	b->set_regs(vcpu, &r);
	CHECK_EQ(vm_dirty_log_start(&vm), 0); /* before the slots exist: they get the flag */
	memset(&exit, 0, sizeof(exit));
	b->run(vcpu, &exit);
	CHECK_EQ(exit.reason, EXIT_REASON_HLT);
	CHECK(vm_dirty_log_get(&vm, bits, ARRAY_SIZE(bits), true) >= 2);
	CHECK(bits[0] & (1ull << 5));
	CHECK(bits[0] & (1ull << 7));
	CHECK(!(bits[0] & (1ull << 9)));
	b->get_regs(vcpu, &r);
	r.rip = 0x100b;
	b->set_regs(vcpu, &r);
	b->run(vcpu, &exit);
	CHECK_EQ(exit.reason, EXIT_REASON_HLT);
	CHECK(vm_dirty_log_get(&vm, bits, ARRAY_SIZE(bits), true) >= 1);
	CHECK(bits[0] & (1ull << 9));
	CHECK(!(bits[0] & (1ull << 5)));
	CHECK(!(bits[0] & (1ull << 7)));
	vm_destroy(&vm);
}

/*
 * get_state/set_state (docs/kvm.md "The whole state") on the AP of a two-vCPU VM, one KVM VM
 * for both: the AP has INIT's state from vm_create (SDM vol. 3A Table 9-1), and every kind of
 * part given comes back (GPRs, segments, the XSAVE area, debug registers, MSRs, NMI blocking).
 * A pending debug exception, which KVM cannot hold, is refused.
 */
static void test_state(void)
{
#define TEST_STATE_MSR(m) m,
	static const u32 msrs[X86_STATE_NR_MSRS] = { X86_STATE_MSRS(TEST_STATE_MSR) };
#undef TEST_STATE_MSR
	const struct backend_ops *b = &backend_kvm;
	struct x86_state st, back;
	struct vcpu *ap;

	vm.nr_vcpus = 2;
	CHECK_EQ(vm_create(&vm, 2 << 20, &backend_kvm, &null_console), 0);
	ap = &vm.vcpus[1];
	b->get_state(ap, &st);
	CHECK_EQ(st.regs.rip, 0xfff0);
	CHECK_EQ(st.regs.rflags, X86_FIXED1);
	CHECK_EQ(st.sregs.seg[SEG_CS].sel, 0xf000);
	CHECK_EQ(st.sregs.seg[SEG_CS].base, 0xffff0000);
	CHECK_EQ(st.sregs.cr0, 0x60000010);
	CHECK_EQ(st.dr[6] & 0xffff0ff0, 0xffff0ff0);
	CHECK_EQ(st.dr[7], 0x400);
	CHECK_EQ(st.xcr0, 1);

	st.regs.gpr[R_RBX] = 0x1122334455667788ull;
	st.regs.rip = 0x1234;
	st.sregs.seg[SEG_DS] = (struct x86_segment){ .sel = 0x18, .base = 0x180, .limit = 0xffff,
						     .ar = 0x93 };
	st.fpu.mxcsr = 0x7f80; /* round toward zero (SDM vol. 1 10.2.3) */
	memset(st.fpu.xmm[3], 0xa5, 16);
	st.fpu.xstate_bv |= 2; /* SSE state in use */
	st.dr[0] = 0x5000;
	st.dr[7] = 0x401;
	for (unsigned i = 0; i < X86_STATE_NR_MSRS; i++)
		if (msrs[i] == MSR_IA32_LSTAR)
			st.msrs[i] = 0xffffffff81000000ull;
		else if (msrs[i] == MSR_IA32_SYSENTER_CS)
			st.msrs[i] = 0x10;
	st.events.interruptibility = GUEST_INTR_STATE_NMI;
	CHECK_EQ(b->set_state(ap, &st), 0);
	b->get_state(ap, &back);
	CHECK_EQ(back.regs.gpr[R_RBX], 0x1122334455667788ull);
	CHECK_EQ(back.regs.rip, 0x1234);
	CHECK_EQ(back.sregs.seg[SEG_DS].sel, 0x18);
	CHECK_EQ(back.sregs.seg[SEG_DS].base, 0x180);
	CHECK_EQ(back.fpu.mxcsr, 0x7f80);
	CHECK(!memcmp(back.fpu.xmm[3], st.fpu.xmm[3], 16));
	CHECK_EQ(back.dr[0], 0x5000);
	CHECK_EQ(back.dr[7], 0x401);
	for (unsigned i = 0; i < X86_STATE_NR_MSRS; i++)
		if (msrs[i] == MSR_IA32_LSTAR || msrs[i] == MSR_IA32_SYSENTER_CS)
			CHECK_EQ(back.msrs[i], st.msrs[i]);
	CHECK_EQ(back.events.interruptibility, GUEST_INTR_STATE_NMI);
	CHECK_EQ(back.events.inject_info, 0);

	st.events.pending_dbg = 1ull << 14; /* BS (SDM vol. 3C 25.4.2) */
	CHECK_EQ(b->set_state(ap, &st), -EOPNOTSUPP);
	/* The BSP is vCPU 0 of the same KVM VM: it runs the guest of test_guest's first exit. */
	{
		struct x86_regs r = { .rip = 0x1000, .rflags = X86_FIXED1 };
		struct vm_exit exit = { 0 };

		memcpy(vm.ram + 0x1000, guest_code, sizeof(guest_code));
		set_flat32(&vm.vcpus[0]);
		b->set_regs(&vm.vcpus[0], &r);
		b->run(&vm.vcpus[0], &exit);
		CHECK_EQ(exit.reason, EXIT_REASON_IO_INSTRUCTION);
		CHECK_EQ(exit.rip, 0x1002);
	}
	vm_destroy(&vm);
}

/* --kvm-ioeventfd: doorbell writes complete in the kernel, no I/O exit; --stats counts them. */
static void test_doorbell(void)
{
	static const u8 code[] = {
		0x66, 0xba, 0xf0, 0x04, /* mov dx, KVM_DOORBELL_PORT */
		0xee,			/* out dx, al */
		0xee,			/* out dx, al */
		0xf4,			/* hlt */
	};
	struct x86_regs r = { .rip = 0x1000, .rflags = X86_FIXED1 };
	struct vm_exit exit = { 0 };
	char *text = NULL;
	size_t len = 0;
	FILE *f;

	vm.kvm.ioeventfd = true; /* before vm_create: the VM-level set-up applies it */
	CHECK_EQ(vm_create(&vm, 2 << 20, &backend_kvm, &null_console), 0);
	memcpy(vm.ram + 0x1000, code, sizeof(code));
	set_flat32(&vm.vcpus[0]);
	backend_kvm.set_regs(&vm.vcpus[0], &r);
	backend_kvm.run(&vm.vcpus[0], &exit);
	CHECK_EQ(exit.reason, EXIT_REASON_HLT);
	CHECK_EQ(exit.rip, 0x1006);
	f = open_memstream(&text, &len);
	kvm_print_kernel_stats(&vm.vcpus[0], f);
	fclose(f);
	CHECK(strstr(text, "in-kernel") != NULL);
	CHECK(strstr(text, "doorbell            2") != NULL);
	free(text);
	vm_destroy(&vm);
}

/*
 * --kvm-irqchip kernel (docs/kvm.md "KVM's in-kernel irqchip"): the backend takes the VM's
 * interrupt lines (irqchip_in_backend), N vCPUs are allowed and every one is runnable for the
 * VMM while KVM holds the AP in wait-for-SIPI; irq_line reaches every IOAPIC and PIC input and
 * refuses one past them; an MSI goes through an irqfd, also past the irqfds' number.
 */
static void test_irqchip(void)
{
	const struct backend_ops *b = &backend_kvm;
	struct x86_state st;

	vm.nr_vcpus = 2;
	vm.kvm.irqchip = true; /* before vm_create: the VM-level set-up applies it */
	CHECK_EQ(vm_create(&vm, 2 << 20, &backend_kvm, &null_console), 0);
	CHECK(vm.irqchip_in_backend);
	CHECK_EQ(vm.vcpus[1].mp_state, VCPU_RUNNABLE);
	b->get_state(&vm.vcpus[1], &st);
	CHECK_EQ(st.events.activity, GUEST_ACTIVITY_WAIT_SIPI);
	for (unsigned pin = 0; pin < 24; pin++) {
		CHECK_EQ(b->irq_line(&vm, BACKEND_IRQCHIP_IOAPIC, pin, true), 0);
		CHECK_EQ(b->irq_line(&vm, BACKEND_IRQCHIP_IOAPIC, pin, false), 0);
	}
	for (unsigned pin = 0; pin < 16; pin++)
		CHECK_EQ(b->irq_line(&vm, BACKEND_IRQCHIP_PIC, pin, false), 0);
	CHECK_EQ(b->irq_line(&vm, BACKEND_IRQCHIP_IOAPIC, 24, true), -EINVAL);
	CHECK_EQ(b->irq_line(&vm, BACKEND_IRQCHIP_PIC, 16, true), -EINVAL);
	/* 20 distinct messages: 16 irqfds, then KVM_SIGNAL_MSI; the first again reuses its irqfd. */
	for (u32 v = 0x40; v < 0x54; v++)
		CHECK_EQ(b->msi(&vm, 0xfee00000, v), 0);
	CHECK_EQ(b->msi(&vm, 0xfee00000, 0x40), 0);
	vm_destroy(&vm);
	vm.kvm.irqchip = false;
	vm.nr_vcpus = 1;
}

int main(int argc, char **argv)
{
	char msg[256];

	test_probe_override(argc > 0 ? argv[0] : "./test_kvm");
	test_parse_disable_exits();
	if (kvm_probe(msg, sizeof(msg))) {
		printf("skip: /dev/kvm guest tests: %s\n", msg);
	} else {
		test_guest();
		test_dirty_log();
		test_state();
		test_doorbell();
		test_irqchip();
	}
	return check_done("test_kvm");
}
