/* SPDX-License-Identifier: MIT */
/*
 * The freestanding guest runtime: port I/O, serial printf, the test reporter, fault catching,
 * CPUID/MSR/CR helpers.  Built twice: for 64-bit guests (boot64.S, trap64.c) and for 32-bit
 * protected-mode guests (boot32.S, trap32.c); the word size is `ulong`.
 */
#pragma once
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "asm.h"

typedef uint8_t u8;
typedef uint16_t u16;
typedef uint32_t u32;
typedef uint64_t u64;
typedef int8_t s8;
typedef int16_t s16;
typedef int32_t s32;
typedef int64_t s64;
typedef unsigned long ulong;

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define BIT(n) (1ULL << (n))

/* Exception vectors (SDM vol. 3A table 7-1). */
enum { DE_VECTOR = 0, DB_VECTOR, NMI_VECTOR, BP_VECTOR, OF_VECTOR, BR_VECTOR, UD_VECTOR,
       NM_VECTOR, DF_VECTOR, TS_VECTOR = 10, NP_VECTOR, SS_VECTOR, GP_VECTOR, PF_VECTOR,
       MF_VECTOR = 16, AC_VECTOR, MC_VECTOR, XM_VECTOR };

#define RFLAGS_CF BIT(0)
#define RFLAGS_PF BIT(2)
#define RFLAGS_AF BIT(4)
#define RFLAGS_ZF BIT(6)
#define RFLAGS_SF BIT(7)
#define RFLAGS_TF BIT(8)
#define RFLAGS_IF BIT(9)
#define RFLAGS_DF BIT(10)
#define RFLAGS_OF BIT(11)
#define RFLAGS_IOPL(n) ((u64)(n) << 12)
#define RFLAGS_NT BIT(14)
#define RFLAGS_RF BIT(16)
#define RFLAGS_AC BIT(18)
#define RFLAGS_ID BIT(21)
#define RFLAGS_ARITH (RFLAGS_CF | RFLAGS_PF | RFLAGS_AF | RFLAGS_ZF | RFLAGS_SF | RFLAGS_OF)

#define CR0_MP BIT(1)
#define CR0_EM BIT(2)
#define CR0_TS BIT(3)
#define CR0_ET BIT(4)
#define CR0_NE BIT(5)
#define CR0_WP BIT(16)
#define CR0_AM BIT(18)
#define CR4_PSE BIT(4)
#define CR4_PGE BIT(7)
#define CR4_SMEP BIT(20)
#define CR4_SMAP BIT(21)
#define EFER_SCE BIT(0)
#define EFER_LMA BIT(10)
#define EFER_NXE BIT(11)

#define MSR_IA32_TSC 0x10
#define MSR_IA32_SYSENTER_CS 0x174
#define MSR_IA32_SYSENTER_ESP 0x175
#define MSR_IA32_SYSENTER_EIP 0x176
#define MSR_STAR 0xc0000081
#define MSR_LSTAR 0xc0000082
#define MSR_CSTAR 0xc0000083
#define MSR_FMASK 0xc0000084
#define MSR_FS_BASE 0xc0000100
#define MSR_GS_BASE 0xc0000101
#define MSR_KERNEL_GS_BASE 0xc0000102
#define MSR_TSC_AUX 0xc0000103

/* Page-table entry bits (SDM vol. 3A 4.5). */
#define PTE_P BIT(0)
#define PTE_W BIT(1)
#define PTE_U BIT(2)
#define PTE_A BIT(5)
#define PTE_D BIT(6)
#define PTE_PS BIT(7)
#define PTE_G BIT(8)
#define PTE_NX BIT(63)
/* #PF error code (SDM vol. 3A 5.7). */
#define PFEC_P BIT(0)
#define PFEC_W BIT(1)
#define PFEC_U BIT(2)
#define PFEC_RSVD BIT(3)
#define PFEC_I BIT(4)

/* The interrupt frame as isr_common builds it (64-bit: all GPRs; 32-bit: PUSHA order). */
#ifdef __x86_64__
struct frame {
	u64 r15, r14, r13, r12, r11, r10, r9, r8, rdi, rsi, rbp, rbx, rdx, rcx, rax;
	u64 vector, error, rip, cs, rflags, rsp, ss;
};
#else
struct frame {
	u32 edi, esi, ebp, esp0, ebx, edx, ecx, eax;
	u32 vector, error, rip, cs, rflags, rsp, ss; /* rsp, ss only on a privilege change */
};
#endif

/* What the last exception looked like. */
struct fault_info {
	ulong vector, error, rip, cs, rflags, rsp, ss, cr2;
	ulong frame; /* where the handler's frame was: tells which stack delivery used */
	ulong count;
};
extern volatile struct fault_info last_fault;

typedef void (*trap_handler_t)(struct frame *f);
void set_handler(int vector, trap_handler_t fn);

/*
 * catch_begin() returns 0, and returns vector + 1 if an exception is then raised (anywhere,
 * any ring) before catch_end(); last_fault describes it.  Typical use:
 *	if (!catch_begin()) { insn; catch_end(); }  check(last_fault... )
 * Use the CATCH(...) macro: it evaluates to the vector or -1 when nothing faulted.
 */
int catch_begin(void) __attribute__((returns_twice));
void catch_end(void);
#define CATCH(...)                                                            \
	({                                                                    \
		int __v = catch_begin();                                      \
		if (!__v) {                                                   \
			__VA_ARGS__;                                          \
			catch_end();                                          \
		}                                                             \
		__v - 1;                                                      \
	})

/*
 * MARK_IP as the start of an asm template stores the address of the instruction that follows
 * into expected_ip (survives catch_begin's second return, unlike a local).
 */
extern volatile ulong expected_ip;
#ifdef __x86_64__
#define MARK_IP "movq $1f, expected_ip\n1: "
#else
#define MARK_IP "movl $1f, expected_ip\n1: "
#endif

/* Output and exit. */
void putchar(int c);
void puts(const char *s);
int printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int vsnprintf(char *buf, size_t size, const char *fmt, va_list ap);
int snprintf(char *buf, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void exit(int code) __attribute__((noreturn));

/* Test reporting: one line per check; exit(report()) at the end of main. */
bool check(bool cond, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void skip(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int report(void);
/* "key=N" (decimal) from the multiboot command line (--append), or def. */
u64 cmdline_u64(const char *key, u64 def);
#define check_eq(got, want, name)                                                  \
	({                                                                         \
		u64 __g = (u64)(got), __w = (u64)(want);                           \
		check(__g == __w, "%s (got %#llx, want %#llx)", name,                \
		      (unsigned long long)__g, (unsigned long long)__w);             \
	})

void *memset(void *d, int c, size_t n);
void *memcpy(void *d, const void *s, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
int strcmp(const char *a, const char *b);

/* Multiboot information (spec 3.3). */
struct mb_info {
	u32 flags, mem_lower, mem_upper, boot_device, cmdline, mods_count, mods_addr;
	u32 syms[4];
	u32 mmap_length, mmap_addr;
};
extern ulong mb_magic, mb_info;

static inline void outb(u16 port, u8 v) { asm volatile("outb %0, %1" : : "a"(v), "Nd"(port)); }
static inline void outw(u16 port, u16 v) { asm volatile("outw %0, %1" : : "a"(v), "Nd"(port)); }
static inline void outl(u16 port, u32 v) { asm volatile("outl %0, %1" : : "a"(v), "Nd"(port)); }
static inline u8 inb(u16 port) { u8 v; asm volatile("inb %1, %0" : "=a"(v) : "Nd"(port)); return v; }
static inline u16 inw(u16 port) { u16 v; asm volatile("inw %1, %0" : "=a"(v) : "Nd"(port)); return v; }
static inline u32 inl(u16 port) { u32 v; asm volatile("inl %1, %0" : "=a"(v) : "Nd"(port)); return v; }

struct cpuid { u32 a, b, c, d; };
static inline struct cpuid cpuid(u32 leaf, u32 sub)
{
	struct cpuid r;
	asm volatile("cpuid" : "=a"(r.a), "=b"(r.b), "=c"(r.c), "=d"(r.d) : "a"(leaf), "c"(sub));
	return r;
}
static inline u64 rdmsr(u32 idx)
{
	u32 lo, hi;
	asm volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(idx));
	return lo | (u64)hi << 32;
}
static inline void wrmsr(u32 idx, u64 v)
{
	asm volatile("wrmsr" : : "c"(idx), "a"((u32)v), "d"((u32)(v >> 32)) : "memory");
}
static inline u64 rdtsc(void)
{
	u32 lo, hi;
	asm volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return lo | (u64)hi << 32;
}
#define DEFINE_CR(n)                                                                      \
	static inline ulong read_cr##n(void)                                              \
	{                                                                                 \
		ulong v;                                                                  \
		asm volatile("mov %%cr" #n ", %0" : "=r"(v));                              \
		return v;                                                                 \
	}                                                                                 \
	static inline void write_cr##n(ulong v) { asm volatile("mov %0, %%cr" #n : : "r"(v) : "memory"); }
DEFINE_CR(0)
DEFINE_CR(2)
DEFINE_CR(3)
DEFINE_CR(4)
static inline ulong read_flags(void)
{
	ulong f;
	asm volatile("pushf; pop %0" : "=r"(f));
	return f;
}
static inline void write_flags(ulong f) { asm volatile("push %0; popf" : : "r"(f) : "memory", "cc"); }
static inline void invlpg(const volatile void *p) { asm volatile("invlpg (%0)" : : "r"(p) : "memory"); }

/* CPUID feature tests (SDM vol. 2A CPUID). */
static inline bool has_feature(u32 leaf, int reg, int bit)
{
	struct cpuid r = cpuid(leaf, 0);
	u32 regs[4] = { r.a, r.b, r.c, r.d };
	if (cpuid(leaf & 0x80000000, 0).a < leaf)
		return false;
	return regs[reg] >> bit & 1;
}
enum { REG_EAX, REG_EBX, REG_ECX, REG_EDX };
#define HAS_MONITOR() has_feature(1, REG_ECX, 3)
#define HAS_CX16() has_feature(1, REG_ECX, 13)
#define HAS_MOVBE() has_feature(1, REG_ECX, 22)
#define HAS_POPCNT() has_feature(1, REG_ECX, 23)
#define HAS_PSE() has_feature(1, REG_EDX, 3)
#define HAS_PAE() has_feature(1, REG_EDX, 6)
#define HAS_CX8() has_feature(1, REG_EDX, 8)
#define HAS_SEP() has_feature(1, REG_EDX, 11)
#define HAS_BMI1() has_feature(7, REG_EBX, 3)
#define HAS_SMEP() has_feature(7, REG_EBX, 7)
#define HAS_SMAP() has_feature(7, REG_EBX, 20)
#define HAS_LZCNT() has_feature(0x80000001, REG_ECX, 5)
#define HAS_NX() has_feature(0x80000001, REG_EDX, 20)
#define HAS_1G() has_feature(0x80000001, REG_EDX, 26)
#define HAS_RDTSCP() has_feature(0x80000001, REG_EDX, 27)

#ifdef __x86_64__
/* 64-bit runtime (trap64.c, boot64.S). */
extern u64 gdt[16];
extern u64 pml4[512], pdpt[512], pd[2048];
extern u64 user_rflags, user_rsp;
extern char user_stack_top[], rsp0_stack_top[], ist1_stack_top[], ist2_stack_top[];
struct tss64 {
	u32 reserved0;
	u64 rsp[3];
	u64 ist[8]; /* ist[1..7]; ist[0] is the reserved slot at offset 0x1c */
	u64 reserved2;
	u16 reserved3, iomap_base;
} __attribute__((packed));
extern struct tss64 tss;
u64 user_call(u64 (*fn)(u64), u64 arg);
extern u64 (*syscall_fn)(u64 nr, u64 a, u64 b);
void syscall_entry(void);
extern u64 syscall_entry_rflags; /* RFLAGS on arrival at LSTAR, after FMASK */
void set_idt_entry(int vector, void *handler, int dpl, int ist);
void set_idt_ist(int vector, int ist);
void reset_idt_entry(int vector);
extern u8 isr_stubs[];
/* The identity map's 2 MiB PDE for a physical address below 4 GiB. */
static inline u64 *pde_of(u64 addr) { return &pd[addr >> 21]; }
void flush_tlb(void);
#else
/* 32-bit runtime (trap32.c, boot32.S). */
extern u64 gdt[16];
extern char user_stack_top[], rsp0_stack_top[];
extern u32 user_rflags, user_rsp;
u32 user_call(u32 (*fn)(u32), u32 arg);
void set_idt_entry(int vector, void *handler, int dpl);
#endif
