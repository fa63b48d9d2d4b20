/*
 * common/simd.h - loops compiled for the running CPU's vector units.
 *
 * NC_CLONES marks a function whose loops are written to vectorise: with
 * GCC on x86-64 Linux with glibc (ifuncs need it; musl has none) it is
 * compiled for AVX-512 and AVX2 as well as the baseline, and the copy is
 * chosen when the library is loaded (an ifunc).
 * Every copy performs the same IEEE operations in the same order (no fused
 * multiply-add: -ffp-contract=off; sums keep their explicit chains), so the
 * bits never depend on the copy. no-trapping-math lets a select of two
 * computed values (x > 0 ? q : 0) become a vector blend, no-math-errno a
 * square root an instruction: both concern exception flags and errno only,
 * never a value. Elsewhere NC_CLONES is empty and the same C runs; so it
 * is under ThreadSanitizer, whose instrumented ifunc resolver would run
 * before the sanitizer's runtime is initialised and crash the program.
 *
 * NC_FORCE_INLINE: GCC does not inline a plain inline function into one
 * compiled with other optimisation attributes, so the helpers of NC_CLONES
 * functions are forced.
 *
 * NC_VEC4: GCC and Clang's vector extension, 4 doubles, for sums whose
 * chains must stay in registers (through arrays the compiler keeps them in
 * memory, and every addition waits for a store).
 */
#ifndef NC_SIMD_H
#define NC_SIMD_H

#include <stdlib.h> /* __GLIBC__ */

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__) && \
    defined(__GLIBC__) && !defined(__SANITIZE_THREAD__)
#define NC_CLONES                                                                           \
    __attribute__((target_clones("avx512f", "avx2", "default"),                             \
                   optimize("tree-vectorize", "vect-cost-model=dynamic", "no-math-errno",     \
                            "no-trapping-math")))
#else
#define NC_CLONES
#endif

#if defined(__GNUC__)
#define NC_FORCE_INLINE static inline __attribute__((always_inline))
#else
#define NC_FORCE_INLINE static inline
#endif
/* __builtin_convertvector (float lanes to double) needs GCC 9 or Clang. */
#if defined(__clang__) || (defined(__GNUC__) && __GNUC__ >= 9)
#define NC_VEC4 1
typedef double nc__v4d __attribute__((vector_size(32)));
typedef float nc__v4f __attribute__((vector_size(16)));
#else
#define NC_VEC4 0
#endif

#endif /* NC_SIMD_H */
