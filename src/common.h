/* SPDX-License-Identifier: MIT */
/* Fixed-width types and small helpers shared by every layer. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef uint8_t u8;
typedef uint16_t u16;
typedef uint32_t u32;
typedef uint64_t u64;
typedef int8_t s8;
typedef int16_t s16;
typedef int32_t s32;
typedef int64_t s64;
typedef unsigned __int128 u128;
typedef __int128 s128;

#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define BIT(n) (1ull << (n))
/* Bits h..l set (h >= l, both 0..63). */
#define GENMASK(h, l) ((~0ull >> (63 - (h))) & (~0ull << (l)))
#define noreturn _Noreturn
#define always_inline inline __attribute__((always_inline))
#define unused __attribute__((unused))
