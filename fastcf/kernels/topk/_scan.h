/* Candidate scan of top-k selection: the positions in a row of scores whose score is not
   <= a threshold (the worst score a full heap keeps), so NaN passes too and is caught by the
   caller. Most scores of a row fall below the threshold once the heap is full, so the scan
   is the selection's inner loop; with AVX2 it compares 8 float32 scores per instruction.

   Built with the AVX2 variant only by GCC or Clang for x86-64 (a function compiled for AVX2
   on its own, the CPU asked at run time); elsewhere, and with FASTCF_NO_SIMD, the scalar loop
   runs. Both give the same positions in the same (increasing) order. */
#ifndef FASTCF_TOPK_SCAN_H
#define FASTCF_TOPK_SCAN_H

#include <stddef.h>
#include <stdint.h>

#if (defined(__GNUC__) || defined(__clang__)) && defined(__x86_64__) && !defined(FASTCF_NO_SIMD)
#define FCF_SCAN_SIMD 1
#include <immintrin.h>
#else
#define FCF_SCAN_SIMD 0
#endif

static int fcf_scan_simd = -1;  /* -1: not asked yet; set once, before any parallel region */

static int fcf_scan_simd_available(void) {
#if FCF_SCAN_SIMD
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2");
#else
    return 0;
#endif
}

static void fcf_scan_use_simd(int enabled) { fcf_scan_simd = enabled && fcf_scan_simd_available(); }

#define FCF_SCAN_SCALAR(T)                                                                 \
    static ptrdiff_t fcf_scan_scalar_##T(const T* row, ptrdiff_t n, T threshold,           \
                                         int32_t* positions) {                             \
        ptrdiff_t found = 0;                                                               \
        for (ptrdiff_t i = 0; i < n; i++) {                                                \
            if (!(row[i] <= threshold)) positions[found++] = (int32_t)i;                  \
        }                                                                                  \
        return found;                                                                      \
    }
FCF_SCAN_SCALAR(float)
FCF_SCAN_SCALAR(double)

#if FCF_SCAN_SIMD
/* One AVX2 scan per float type: its vector type, intrinsics and lanes per register. */
#define FCF_SCAN_AVX2(T, VEC, SET1, LOAD, CMP, MOVEMASK, LANES)                             \
    __attribute__((target("avx2"))) static ptrdiff_t fcf_scan_avx2_##T(                    \
        const T* row, ptrdiff_t n, T threshold, int32_t* positions) {                      \
        ptrdiff_t found = 0, i = 0;                                                        \
        const VEC bound = SET1(threshold);                                                 \
        for (; i + LANES <= n; i += LANES) {                                               \
            /* not (score <= threshold), unordered: true for NaN */                        \
            unsigned mask = (unsigned)MOVEMASK(CMP(LOAD(row + i), bound, _CMP_NLE_UQ));    \
            while (mask) {                                                                 \
                positions[found++] = (int32_t)(i + __builtin_ctz(mask));                   \
                mask &= mask - 1;                                                          \
            }                                                                              \
        }                                                                                  \
        for (; i < n; i++) {                                                               \
            if (!(row[i] <= threshold)) positions[found++] = (int32_t)i;                  \
        }                                                                                  \
        return found;                                                                      \
    }
FCF_SCAN_AVX2(float, __m256, _mm256_set1_ps, _mm256_loadu_ps, _mm256_cmp_ps, _mm256_movemask_ps, 8)
FCF_SCAN_AVX2(double, __m256d, _mm256_set1_pd, _mm256_loadu_pd, _mm256_cmp_pd, _mm256_movemask_pd, 4)
#endif

/* positions[0:returned] = the i in [0, n) with !(row[i] <= threshold), increasing. */
static inline ptrdiff_t fcf_scan_float(const float* row, ptrdiff_t n, float threshold, int32_t* positions) {
#if FCF_SCAN_SIMD
    if (fcf_scan_simd > 0) return fcf_scan_avx2_float(row, n, threshold, positions);
#endif
    return fcf_scan_scalar_float(row, n, threshold, positions);
}

static inline ptrdiff_t fcf_scan_double(const double* row, ptrdiff_t n, double threshold, int32_t* positions) {
#if FCF_SCAN_SIMD
    if (fcf_scan_simd > 0) return fcf_scan_avx2_double(row, n, threshold, positions);
#endif
    return fcf_scan_scalar_double(row, n, threshold, positions);
}

#endif
