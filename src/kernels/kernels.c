/*
 * pass_kernel.c - the register-blocked kernels of the fused pass, one copy
 * per instruction set (see pass_kernel_tmpl.h), and the run-time choice.
 *
 * On x86-64 with GCC or Clang the library carries AVX-512F, AVX2+FMA and
 * SSE2 copies, each compiled with its own target() attribute, so the
 * library itself needs no -m flags and runs on any x86-64; the model picks
 * the widest one the CPU (and OS) supports when it is created. Elsewhere
 * only the portable scalar copy exists.
 */
#include "kernels/kernels.h"

#include <string.h>

#if defined(__GNUC__) && defined(__x86_64__)
#define NC_X86_KERNELS 1
#include <immintrin.h>
#else
#define NC_X86_KERNELS 0
#endif

#if defined(__GNUC__)
#define NC_INLINE static inline __attribute__((always_inline))
#define NC_ALWAYS_INLINE __attribute__((always_inline))
#else
#define NC_INLINE static inline
#define NC_ALWAYS_INLINE
#endif

/* A hint to bring a line in for writing (it is H or an optimizer buffer). */
#if defined(__GNUC__) && !defined(NC_NO_PREFETCH)
#define NC_PREFETCH(p) __builtin_prefetch((p), 1, 3)
#else
#define NC_PREFETCH(p) ((void)(p))
#endif

/* ---- portable scalar copy ----------------------------------------------- */
NC_INLINE double projg_scalar(double h, double g) { return (h <= 0.0 && g > 0.0) ? 0.0 : g; }
NC_INLINE double clamp0_scalar(double x) { return x < 0.0 ? 0.0 : x; }
NC_INLINE uint64_t asi_scalar(double x)
{
    uint64_t u;
    memcpy(&u, &x, sizeof u);
    return u;
}
NC_INLINE double asd_scalar(uint64_t u)
{
    double x;
    memcpy(&x, &u, sizeof x);
    return x;
}

#define SFX _scalar
#define ATTR
#define VT double
#define VTRANSPOSE(v) ((void)(v))
#define W 1
#define VLD(p) (*(p))
#define VST(p, x) (*(p) = (x))
#define VSET(x) (x)
#define VZERO 0.0
#define VADD(a, b) ((a) + (b))
#define VSUB(a, b) ((a) - (b))
#define VMUL(a, b) ((a) * (b))
#define VDIV(a, b) ((a) / (b))
#define VSQRT(a) sqrt(a)
#define VFMA(a, b, c) ((a) * (b) + (c))
#define VHSUM(x) (x)
#define VHSUM4(a, b, c, d, out) ((out)[0] = (a), (out)[1] = (b), (out)[2] = (c), (out)[3] = (d))
#define VPROJG(h, g) projg_scalar(h, g)
#define VCLAMP0(x) clamp0_scalar(x)
#define VI uint64_t
#define VASI(x) asi_scalar(x)
#define VASD(i) asd_scalar(i)
#define VISET(c) ((uint64_t)(c))
#define VIADD(a, b) ((a) + (b))
#define VIAND(a, b) ((a) & (b))
#define VIOR(a, b) ((a) | (b))
#define VIXOR(a, b) ((a) ^ (b))
#define VISLL(i, s) ((i) << (s))
#define VISRL(i, s) ((i) >> (s))
#define VMIN(a, b) ((a) < (b) ? (a) : (b))
#define VMAX(a, b) ((a) > (b) ? (a) : (b))
#define VSELGE(a, b, x, y) ((a) >= (b) ? (x) : (y))
#define VSELEQ(a, b, x, y) ((a) == (b) ? (x) : (y))
#define VLDI32(p) ((double)*(p))
#define LA_K 4
#define LA_N 2
#define RB_F 4
#define RB_K 4
#define PR_F 4
#define PR_N 2
#include "kernels/kernels_tmpl.h"

#if NC_X86_KERNELS
/* ---- SSE2 (every x86-64) --------------------------------------------------- */
NC_INLINE double hsum_sse2(__m128d x) { return _mm_cvtsd_f64(_mm_add_sd(x, _mm_unpackhi_pd(x, x))); }
NC_INLINE void hsum4_sse2(__m128d a, __m128d b, __m128d c, __m128d d, double *out)
{
    _mm_storeu_pd(out, _mm_add_pd(_mm_unpacklo_pd(a, b), _mm_unpackhi_pd(a, b)));
    _mm_storeu_pd(out + 2, _mm_add_pd(_mm_unpacklo_pd(c, d), _mm_unpackhi_pd(c, d)));
}
NC_INLINE __m128d projg_sse2(__m128d h, __m128d g)
{
    const __m128d z = _mm_setzero_pd();
    return _mm_andnot_pd(_mm_and_pd(_mm_cmple_pd(h, z), _mm_cmpgt_pd(g, z)), g);
}
NC_INLINE __m128d clamp0_sse2(__m128d x) { return _mm_andnot_pd(_mm_cmplt_pd(x, _mm_setzero_pd()), x); }
NC_INLINE __m128d selge_sse2(__m128d a, __m128d b, __m128d x, __m128d y)
{
    const __m128d m = _mm_cmpge_pd(a, b);
    return _mm_or_pd(_mm_and_pd(m, x), _mm_andnot_pd(m, y));
}
NC_INLINE __m128d seleq_sse2(__m128d a, __m128d b, __m128d x, __m128d y)
{
    const __m128d m = _mm_cmpeq_pd(a, b);
    return _mm_or_pd(_mm_and_pd(m, x), _mm_andnot_pd(m, y));
}

/* v[0..W) <- its transpose, a W x W block held one row per register. */
NC_INLINE void vtranspose_sse2(__m128d *v)
{
    const __m128d t = _mm_unpacklo_pd(v[0], v[1]);
    v[1] = _mm_unpackhi_pd(v[0], v[1]);
    v[0] = t;
}

#define SFX _sse2
#define ATTR
#define VT __m128d
#define VTRANSPOSE(v) vtranspose_sse2(v)
#define W 2
#define VLD(p) _mm_loadu_pd(p)
#define VST(p, x) _mm_storeu_pd(p, x)
#define VSET(x) _mm_set1_pd(x)
#define VZERO _mm_setzero_pd()
#define VADD(a, b) _mm_add_pd(a, b)
#define VSUB(a, b) _mm_sub_pd(a, b)
#define VMUL(a, b) _mm_mul_pd(a, b)
#define VDIV(a, b) _mm_div_pd(a, b)
#define VSQRT(a) _mm_sqrt_pd(a)
#define VFMA(a, b, c) _mm_add_pd(_mm_mul_pd(a, b), c)
#define VHSUM(x) hsum_sse2(x)
#define VHSUM4(a, b, c, d, out) hsum4_sse2(a, b, c, d, out)
#define VPROJG(h, g) projg_sse2(h, g)
#define VCLAMP0(x) clamp0_sse2(x)
#define VI __m128i
#define VASI(x) _mm_castpd_si128(x)
#define VASD(i) _mm_castsi128_pd(i)
#define VISET(c) _mm_set1_epi64x((long long)(c))
#define VIADD(a, b) _mm_add_epi64(a, b)
#define VIAND(a, b) _mm_and_si128(a, b)
#define VIOR(a, b) _mm_or_si128(a, b)
#define VIXOR(a, b) _mm_xor_si128(a, b)
#define VISLL(i, s) _mm_slli_epi64(i, s)
#define VISRL(i, s) _mm_srli_epi64(i, s)
#define VMIN(a, b) _mm_min_pd(a, b)
#define VMAX(a, b) _mm_max_pd(a, b)
#define VSELGE(a, b, x, y) selge_sse2(a, b, x, y)
#define VSELEQ(a, b, x, y) seleq_sse2(a, b, x, y)
#define VLDI32(p) _mm_cvtepi32_pd(_mm_loadl_epi64((const __m128i *)(const void *)(p)))
#define LA_K 4
#define LA_N 2
#define RB_F 2
#define RB_K 4
#define PR_F 2
#define PR_N 4
#include "kernels/kernels_tmpl.h"

/* ---- AVX2 + FMA (16 registers) ---------------------------------------------- */
#define NC_AVX2 __attribute__((target("avx2,fma")))
static inline NC_AVX2 double hsum_avx2(__m256d x)
{
    __m128d lo = _mm_add_pd(_mm256_castpd256_pd128(x), _mm256_extractf128_pd(x, 1));
    return _mm_cvtsd_f64(_mm_add_sd(lo, _mm_unpackhi_pd(lo, lo)));
}
static inline NC_AVX2 void hsum4_avx2(__m256d a, __m256d b, __m256d c, __m256d d, double *out)
{
    const __m256d t0 = _mm256_hadd_pd(a, b), t1 = _mm256_hadd_pd(c, d); /* a01 b01 a23 b23 */
    _mm256_storeu_pd(out, _mm256_add_pd(_mm256_permute2f128_pd(t0, t1, 0x20),
                                        _mm256_permute2f128_pd(t0, t1, 0x31)));
}
static inline NC_AVX2 __m256d projg_avx2(__m256d h, __m256d g)
{
    const __m256d z = _mm256_setzero_pd();
    return _mm256_andnot_pd(_mm256_and_pd(_mm256_cmp_pd(h, z, _CMP_LE_OQ), _mm256_cmp_pd(g, z, _CMP_GT_OQ)), g);
}
static inline NC_AVX2 __m256d clamp0_avx2(__m256d x)
{
    return _mm256_andnot_pd(_mm256_cmp_pd(x, _mm256_setzero_pd(), _CMP_LT_OQ), x);
}
static inline NC_AVX2 __m256d selge_avx2(__m256d a, __m256d b, __m256d x, __m256d y)
{
    return _mm256_blendv_pd(y, x, _mm256_cmp_pd(a, b, _CMP_GE_OQ));
}
static inline NC_AVX2 __m256d seleq_avx2(__m256d a, __m256d b, __m256d x, __m256d y)
{
    return _mm256_blendv_pd(y, x, _mm256_cmp_pd(a, b, _CMP_EQ_OQ));
}

static inline NC_AVX2 void vtranspose_avx2(__m256d *v)
{
    const __m256d t0 = _mm256_unpacklo_pd(v[0], v[1]), t1 = _mm256_unpackhi_pd(v[0], v[1]);
    const __m256d t2 = _mm256_unpacklo_pd(v[2], v[3]), t3 = _mm256_unpackhi_pd(v[2], v[3]);
    v[0] = _mm256_permute2f128_pd(t0, t2, 0x20);
    v[1] = _mm256_permute2f128_pd(t1, t3, 0x20);
    v[2] = _mm256_permute2f128_pd(t0, t2, 0x31);
    v[3] = _mm256_permute2f128_pd(t1, t3, 0x31);
}

#define SFX _avx2
#define ATTR NC_AVX2
#define VT __m256d
#define VTRANSPOSE(v) vtranspose_avx2(v)
#define W 4
#define VLD(p) _mm256_loadu_pd(p)
#define VST(p, x) _mm256_storeu_pd(p, x)
#define VSET(x) _mm256_set1_pd(x)
#define VZERO _mm256_setzero_pd()
#define VADD(a, b) _mm256_add_pd(a, b)
#define VSUB(a, b) _mm256_sub_pd(a, b)
#define VMUL(a, b) _mm256_mul_pd(a, b)
#define VDIV(a, b) _mm256_div_pd(a, b)
#define VSQRT(a) _mm256_sqrt_pd(a)
#define VFMA(a, b, c) _mm256_fmadd_pd(a, b, c)
#define VHSUM(x) hsum_avx2(x)
#define VHSUM4(a, b, c, d, out) hsum4_avx2(a, b, c, d, out)
#define VPROJG(h, g) projg_avx2(h, g)
#define VCLAMP0(x) clamp0_avx2(x)
#define VI __m256i
#define VASI(x) _mm256_castpd_si256(x)
#define VASD(i) _mm256_castsi256_pd(i)
#define VISET(c) _mm256_set1_epi64x((long long)(c))
#define VIADD(a, b) _mm256_add_epi64(a, b)
#define VIAND(a, b) _mm256_and_si256(a, b)
#define VIOR(a, b) _mm256_or_si256(a, b)
#define VIXOR(a, b) _mm256_xor_si256(a, b)
#define VISLL(i, s) _mm256_slli_epi64(i, s)
#define VISRL(i, s) _mm256_srli_epi64(i, s)
#define VMIN(a, b) _mm256_min_pd(a, b)
#define VMAX(a, b) _mm256_max_pd(a, b)
#define VSELGE(a, b, x, y) selge_avx2(a, b, x, y)
#define VSELEQ(a, b, x, y) seleq_avx2(a, b, x, y)
#define VLDI32(p) _mm256_cvtepi32_pd(_mm_loadu_si128((const __m128i *)(const void *)(p)))
#define LA_K 5
#define LA_N 2
#define RB_F 2
#define RB_K 5
#define PR_F 2
#define PR_N 5
#include "kernels/kernels_tmpl.h"

/* ---- AVX-512F (32 registers) -------------------------------------------------- */
#define NC_AVX512 __attribute__((target("avx512f")))
static inline NC_AVX512 double hsum_avx512(__m512d x) { return _mm512_reduce_add_pd(x); }
static inline NC_AVX512 __m256d fold_avx512(__m512d x)
{
    return _mm256_add_pd(_mm512_castpd512_pd256(x), _mm512_extractf64x4_pd(x, 1));
}
static inline NC_AVX512 void hsum4_avx512(__m512d a, __m512d b, __m512d c, __m512d d, double *out)
{
    const __m256d t0 = _mm256_hadd_pd(fold_avx512(a), fold_avx512(b));
    const __m256d t1 = _mm256_hadd_pd(fold_avx512(c), fold_avx512(d));
    _mm256_storeu_pd(out, _mm256_add_pd(_mm256_permute2f128_pd(t0, t1, 0x20),
                                        _mm256_permute2f128_pd(t0, t1, 0x31)));
}
static inline NC_AVX512 __m512d projg_avx512(__m512d h, __m512d g)
{
    const __m512d z = _mm512_setzero_pd();
    const __mmask8 m = _mm512_cmp_pd_mask(h, z, _CMP_LE_OQ) & _mm512_cmp_pd_mask(g, z, _CMP_GT_OQ);
    return _mm512_maskz_mov_pd((__mmask8)~m, g);
}
static inline NC_AVX512 __m512d clamp0_avx512(__m512d x)
{
    const __m512d z = _mm512_setzero_pd();
    return _mm512_mask_mov_pd(x, _mm512_cmp_pd_mask(x, z, _CMP_LT_OQ), z);
}
static inline NC_AVX512 __m512d selge_avx512(__m512d a, __m512d b, __m512d x, __m512d y)
{
    return _mm512_mask_blend_pd(_mm512_cmp_pd_mask(a, b, _CMP_GE_OQ), y, x);
}
static inline NC_AVX512 __m512d seleq_avx512(__m512d a, __m512d b, __m512d x, __m512d y)
{
    return _mm512_mask_blend_pd(_mm512_cmp_pd_mask(a, b, _CMP_EQ_OQ), y, x);
}

/* 8 x 8: pairs of rows interleaved, then 128-bit lanes gathered twice
 * (0x88 takes lanes 0 and 2 of each source, 0xDD lanes 1 and 3). */
static inline NC_AVX512 void vtranspose_avx512(__m512d *v)
{
    const __m512d t0 = _mm512_unpacklo_pd(v[0], v[1]), t1 = _mm512_unpackhi_pd(v[0], v[1]);
    const __m512d t2 = _mm512_unpacklo_pd(v[2], v[3]), t3 = _mm512_unpackhi_pd(v[2], v[3]);
    const __m512d t4 = _mm512_unpacklo_pd(v[4], v[5]), t5 = _mm512_unpackhi_pd(v[4], v[5]);
    const __m512d t6 = _mm512_unpacklo_pd(v[6], v[7]), t7 = _mm512_unpackhi_pd(v[6], v[7]);
    /* u_c: columns c and c + 4 of rows 0-3 (u0..u3) or 4-7 (u4..u7) */
    const __m512d u0 = _mm512_shuffle_f64x2(t0, t2, 0x88), u2 = _mm512_shuffle_f64x2(t0, t2, 0xDD);
    const __m512d u1 = _mm512_shuffle_f64x2(t1, t3, 0x88), u3 = _mm512_shuffle_f64x2(t1, t3, 0xDD);
    const __m512d u4 = _mm512_shuffle_f64x2(t4, t6, 0x88), u6 = _mm512_shuffle_f64x2(t4, t6, 0xDD);
    const __m512d u5 = _mm512_shuffle_f64x2(t5, t7, 0x88), u7 = _mm512_shuffle_f64x2(t5, t7, 0xDD);
    v[0] = _mm512_shuffle_f64x2(u0, u4, 0x88);
    v[4] = _mm512_shuffle_f64x2(u0, u4, 0xDD);
    v[1] = _mm512_shuffle_f64x2(u1, u5, 0x88);
    v[5] = _mm512_shuffle_f64x2(u1, u5, 0xDD);
    v[2] = _mm512_shuffle_f64x2(u2, u6, 0x88);
    v[6] = _mm512_shuffle_f64x2(u2, u6, 0xDD);
    v[3] = _mm512_shuffle_f64x2(u3, u7, 0x88);
    v[7] = _mm512_shuffle_f64x2(u3, u7, 0xDD);
}

#define SFX _avx512
#define ATTR NC_AVX512
#define VT __m512d
#define VTRANSPOSE(v) vtranspose_avx512(v)
#define W 8
#define VLD(p) _mm512_loadu_pd(p)
#define VST(p, x) _mm512_storeu_pd(p, x)
#define VSET(x) _mm512_set1_pd(x)
#define VZERO _mm512_setzero_pd()
#define VADD(a, b) _mm512_add_pd(a, b)
#define VSUB(a, b) _mm512_sub_pd(a, b)
#define VMUL(a, b) _mm512_mul_pd(a, b)
#define VDIV(a, b) _mm512_div_pd(a, b)
#define VSQRT(a) _mm512_sqrt_pd(a)
#define VFMA(a, b, c) _mm512_fmadd_pd(a, b, c)
#define VHSUM(x) hsum_avx512(x)
#define VHSUM4(a, b, c, d, out) hsum4_avx512(a, b, c, d, out)
#define VPROJG(h, g) projg_avx512(h, g)
#define VCLAMP0(x) clamp0_avx512(x)
#define VI __m512i
#define VASI(x) _mm512_castpd_si512(x)
#define VASD(i) _mm512_castsi512_pd(i)
#define VISET(c) _mm512_set1_epi64((long long)(c))
#define VIADD(a, b) _mm512_add_epi64(a, b)
#define VIAND(a, b) _mm512_and_si512(a, b)
#define VIOR(a, b) _mm512_or_si512(a, b)
#define VIXOR(a, b) _mm512_xor_si512(a, b)
#define VISLL(i, s) _mm512_slli_epi64(i, s)
#define VISRL(i, s) _mm512_srli_epi64(i, s)
#define VMIN(a, b) _mm512_min_pd(a, b)
#define VMAX(a, b) _mm512_max_pd(a, b)
#define VSELGE(a, b, x, y) selge_avx512(a, b, x, y)
#define VSELEQ(a, b, x, y) seleq_avx512(a, b, x, y)
#define VLDI32(p) _mm512_cvtepi32_pd(_mm256_loadu_si256((const __m256i *)(const void *)(p)))
#define LA_K 5
#define LA_N 4
#define RB_F 4
#define RB_K 5
#define PR_F 2
#define PR_N 8
#include "kernels/kernels_tmpl.h"
#endif /* NC_X86_KERNELS */

int nc__isa_supported(nc__isa isa)
{
    switch (isa) {
    case NC__ISA_SCALAR: return 1;
#if NC_X86_KERNELS
    case NC__ISA_SSE2: return 1;
    case NC__ISA_AVX2:
        __builtin_cpu_init();
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    case NC__ISA_AVX512:
        __builtin_cpu_init();
        /* libgcc / compiler-rt also check that the OS saves the ZMM state. */
        return __builtin_cpu_supports("avx512f");
#endif
    default: return 0;
    }
}

nc__isa nc__isa_detect(void)
{
    if (nc__isa_supported(NC__ISA_AVX512)) return NC__ISA_AVX512;
    if (nc__isa_supported(NC__ISA_AVX2)) return NC__ISA_AVX2;
    if (nc__isa_supported(NC__ISA_SSE2)) return NC__ISA_SSE2;
    return NC__ISA_SCALAR;
}

const nc__kernels *nc__kernels_get(nc__isa isa)
{
    switch (isa) {
#if NC_X86_KERNELS
    case NC__ISA_AVX512: return &kernel_table_avx512;
    case NC__ISA_AVX2: return &kernel_table_avx2;
    case NC__ISA_SSE2: return &kernel_table_sse2;
#endif
    default: return &kernel_table_scalar;
    }
}

const char *nc__isa_name(nc__isa isa)
{
    static const char *const names[] = {"scalar", "sse2", "avx2+fma", "avx512f"};
    return (unsigned)isa < sizeof names / sizeof names[0] ? names[isa] : "unknown";
}
