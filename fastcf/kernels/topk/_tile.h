/* The per-tile primitives of top-k of dot products.

   Scores of a few queries (fcf_dot_rows_*): below FCF_DOT_MAX_QUERIES queries a BLAS call costs
   more than the product, and calling BLAS at all means holding its pools at one thread around
   the call (fastcf's threads are the parallelism), which costs more than the product again for
   one user. So a handful of queries is scored here: per item, f products summed in 8 lanes
   (AVX2 + FMA) or in 4 scalar accumulators, then added in a fixed order.

   Candidate scan of top-k selection: the positions in a row of scores whose score is not
   <= a threshold (the worst score a full heap keeps), so NaN passes too and is caught by the
   caller. Most scores of a row fall below the threshold once the heap is full, so the scan
   is the selection's inner loop; with AVX2 it compares 8 float32 scores per instruction.

   Built with the AVX2 variant only by GCC or Clang for x86-64 (a function compiled for AVX2
   on its own, the CPU asked at run time); elsewhere, and with FASTCF_NO_SIMD, the scalar loop
   runs. Both give the same positions in the same (increasing) order. */
#ifndef FASTCF_TOPK_TILE_H
#define FASTCF_TOPK_TILE_H

#include <stddef.h>
#include <stdint.h>

#if (defined(__GNUC__) || defined(__clang__)) && defined(__x86_64__) && !defined(FASTCF_NO_SIMD)
#define FCF_SCAN_SIMD 1
#include <immintrin.h>
#else
#define FCF_SCAN_SIMD 0
#endif

static int fcf_scan_simd = -1;  /* -1: not asked yet; set once, before any parallel region */

#define FCF_DOT_MAX_QUERIES 4

static int fcf_scan_simd_available(void) {
#if FCF_SCAN_SIMD
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
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

#define FCF_DOT_SCALAR(T)                                                                  \
    static void fcf_dot_scalar_##T(const T* queries, ptrdiff_t n_queries, const T* items,  \
                                   ptrdiff_t n_items, int f, T* scores) {                  \
        for (ptrdiff_t q = 0; q < n_queries; q++) {                                        \
            const T* x = queries + q * f;                                                  \
            for (ptrdiff_t i = 0; i < n_items; i++) {                                      \
                const T* y = items + i * f;                                                \
                T s0 = 0, s1 = 0, s2 = 0, s3 = 0;                                          \
                int j = 0;                                                                 \
                for (; j + 4 <= f; j += 4) {                                               \
                    s0 += x[j] * y[j]; s1 += x[j + 1] * y[j + 1];                          \
                    s2 += x[j + 2] * y[j + 2]; s3 += x[j + 3] * y[j + 3];                  \
                }                                                                          \
                for (; j < f; j++) s0 += x[j] * y[j];                                      \
                scores[q * n_items + i] = (s0 + s1) + (s2 + s3);                           \
            }                                                                              \
        }                                                                                  \
    }
FCF_DOT_SCALAR(float)
FCF_DOT_SCALAR(double)

#if FCF_SCAN_SIMD
__attribute__((target("avx2,fma"))) static void fcf_dot_avx2_float(const float* queries, ptrdiff_t n_queries,
                                                                    const float* items, ptrdiff_t n_items, int f,
                                                                    float* scores) {
    for (ptrdiff_t q = 0; q < n_queries; q++) {
        const float* x = queries + q * f;
        for (ptrdiff_t i = 0; i < n_items; i++) {
            const float* y = items + i * f;
            __m256 acc = _mm256_setzero_ps();
            int j = 0;
            for (; j + 8 <= f; j += 8) acc = _mm256_fmadd_ps(_mm256_loadu_ps(x + j), _mm256_loadu_ps(y + j), acc);
            /* the 8 lanes added pairwise, in a fixed order */
            __m128 half = _mm_add_ps(_mm256_castps256_ps128(acc), _mm256_extractf128_ps(acc, 1));
            half = _mm_add_ps(half, _mm_movehl_ps(half, half));
            half = _mm_add_ss(half, _mm_shuffle_ps(half, half, 1));
            float s = _mm_cvtss_f32(half);
            for (; j < f; j++) s += x[j] * y[j];
            scores[q * n_items + i] = s;
        }
    }
}
#endif

/* scores (n_queries x n_items, row-major) = queries (n_queries x f) . items (n_items x f)ᵀ, for
   n_queries <= FCF_DOT_MAX_QUERIES. */
static inline void fcf_dot_rows_float(const float* queries, ptrdiff_t n_queries, const float* items,
                                      ptrdiff_t n_items, int f, float* scores) {
#if FCF_SCAN_SIMD
    if (fcf_scan_simd > 0) { fcf_dot_avx2_float(queries, n_queries, items, n_items, f, scores); return; }
#endif
    fcf_dot_scalar_float(queries, n_queries, items, n_items, f, scores);
}

static inline void fcf_dot_rows_double(const double* queries, ptrdiff_t n_queries, const double* items,
                                       ptrdiff_t n_items, int f, double* scores) {
    fcf_dot_scalar_double(queries, n_queries, items, n_items, f, scores);
}

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
