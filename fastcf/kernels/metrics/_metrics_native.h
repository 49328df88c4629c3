/* Native kernels of fastcf/kernels/metrics/_cython.pyx, declared there. */
#ifndef FASTCF_METRICS_METRICS_NATIVE_H
#define FASTCF_METRICS_METRICS_NATIVE_H

#include <math.h>
#include <stddef.h>
#include <string.h>

/* Scores must be the reference's: each product and each sum rounded on its own. Compilers
   may otherwise fuse a * b + c into one FMA where the target has it (GCC does by default,
   clang within an expression), which changes the last bit and, rarely, a ranking. */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif
#include <string.h>

static int fcf_metrics_simd_wanted = 1;

#define FCF_M_GENERIC(NAME, T)                                                          \
static void NAME(int n_rows, int f, const T* u, const T* packed, int n_tiles, int tile, \
                 T* out) {                                                              \
    long ldo = (long)n_tiles * tile;                                                    \
    for (int t = 0; t < n_tiles; t++) {                                                 \
        const T* p = packed + (long)t * f * tile;                                       \
        for (int r = 0; r < n_rows; r++) {                                              \
            T* o = out + r * ldo + (long)t * tile;                                      \
            const T* ur = u + (long)r * f;                                              \
            for (int i = 0; i < tile; i++) o[i] = 0;                                    \
            for (int j = 0; j < f; j++) {                                               \
                T a = ur[j];                                                            \
                const T* v = p + (long)j * tile;                                        \
                for (int i = 0; i < tile; i++) o[i] = o[i] + a * v[i];                  \
            }                                                                           \
        }                                                                               \
    }                                                                                   \
}
FCF_M_GENERIC(fcf_metrics_score_generic_f, float)
FCF_M_GENERIC(fcf_metrics_score_generic_d, double)

#if (defined(__GNUC__) || defined(__clang__)) && defined(__x86_64__) && !defined(FASTCF_NO_SIMD)
#define FCF_M_SIMD 1
/* AVX2 without FMA: a multiply and an add per product, exactly as the plain loops. */
#define FCF_M_AVX2 __attribute__((target("avx2")))
typedef float fcf_m_v8f __attribute__((vector_size(32)));
typedef double fcf_m_v4d __attribute__((vector_size(32)));

static int fcf_metrics_simd_available(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2");
}

static inline FCF_M_AVX2 fcf_m_v8f fcf_m_splat8f(float s) { fcf_m_v8f v = {s, s, s, s, s, s, s, s}; return v; }
static inline FCF_M_AVX2 fcf_m_v4d fcf_m_splat4d(double s) { fcf_m_v4d v = {s, s, s, s}; return v; }
static inline FCF_M_AVX2 fcf_m_v8f fcf_m_load8f(const float* p) { fcf_m_v8f v; memcpy(&v, p, sizeof v); return v; }
static inline FCF_M_AVX2 fcf_m_v4d fcf_m_load4d(const double* p) { fcf_m_v4d v; memcpy(&v, p, sizeof v); return v; }
static inline FCF_M_AVX2 void fcf_m_store8f(float* p, fcf_m_v8f v) { memcpy(p, &v, sizeof v); }
static inline FCF_M_AVX2 void fcf_m_store4d(double* p, fcf_m_v4d v) { memcpy(p, &v, sizeof v); }

/* Four users by two vectors of items per step: each item vector loaded once serves four
   users, and the eight accumulators stay in registers over the f factors. */
#define FCF_M_AVX2_KERNEL(NAME, T, V, W, SPLAT, LOAD, STORE)                                \
static FCF_M_AVX2 void NAME(int n_rows, int f, const T* u, const T* packed, int n_tiles,    \
                            int tile, T* out) {                                              \
    long ldo = (long)n_tiles * tile;                                                         \
    for (int t = 0; t < n_tiles; t++) {                                                      \
        const T* p = packed + (long)t * f * tile;                                            \
        int r = 0;                                                                           \
        for (; r + 4 <= n_rows; r += 4) {                                                    \
            const T* u0 = u + (long)r * f;                                                   \
            const T* u1 = u0 + f;                                                            \
            const T* u2 = u1 + f;                                                            \
            const T* u3 = u2 + f;                                                            \
            T* o = out + r * ldo + (long)t * tile;                                           \
            for (int i = 0; i < tile; i += 2 * W) {                                          \
                V zero = SPLAT(0);                                                           \
                V a00 = zero, a01 = zero, a10 = zero, a11 = zero;                            \
                V a20 = zero, a21 = zero, a30 = zero, a31 = zero;                            \
                const T* v = p + i;                                                          \
                for (int j = 0; j < f; j++, v += tile) {                                     \
                    V v0 = LOAD(v), v1 = LOAD(v + W), s;                                     \
                    s = SPLAT(u0[j]); a00 = a00 + s * v0; a01 = a01 + s * v1;                \
                    s = SPLAT(u1[j]); a10 = a10 + s * v0; a11 = a11 + s * v1;                \
                    s = SPLAT(u2[j]); a20 = a20 + s * v0; a21 = a21 + s * v1;                \
                    s = SPLAT(u3[j]); a30 = a30 + s * v0; a31 = a31 + s * v1;                \
                }                                                                            \
                STORE(o + i, a00); STORE(o + i + W, a01);                                    \
                STORE(o + ldo + i, a10); STORE(o + ldo + i + W, a11);                        \
                STORE(o + 2 * ldo + i, a20); STORE(o + 2 * ldo + i + W, a21);                \
                STORE(o + 3 * ldo + i, a30); STORE(o + 3 * ldo + i + W, a31);                \
            }                                                                                \
        }                                                                                    \
        for (; r < n_rows; r++) {                                                            \
            const T* u0 = u + (long)r * f;                                                   \
            T* o = out + r * ldo + (long)t * tile;                                           \
            for (int i = 0; i < tile; i += 2 * W) {                                          \
                V a0 = SPLAT(0), a1 = SPLAT(0);                                              \
                const T* v = p + i;                                                          \
                for (int j = 0; j < f; j++, v += tile) {                                     \
                    V s = SPLAT(u0[j]);                                                      \
                    a0 = a0 + s * LOAD(v);                                                   \
                    a1 = a1 + s * LOAD(v + W);                                               \
                }                                                                            \
                STORE(o + i, a0); STORE(o + i + W, a1);                                      \
            }                                                                                \
        }                                                                                    \
    }                                                                                        \
}
FCF_M_AVX2_KERNEL(fcf_metrics_score_avx2_f, float, fcf_m_v8f, 8, fcf_m_splat8f, fcf_m_load8f, fcf_m_store8f)
FCF_M_AVX2_KERNEL(fcf_metrics_score_avx2_d, double, fcf_m_v4d, 4, fcf_m_splat4d, fcf_m_load4d, fcf_m_store4d)
#else
#define FCF_M_SIMD 0
static int fcf_metrics_simd_available(void) { return 0; }
#endif

/* First index i in [start, n) whose score does not lose to the heap's root, i.e.
   !(row[i] <= root): a higher score or NaN (which the caller then reports). */
#define FCF_M_NEXT_GENERIC(NAME, T)                                                          \
static long NAME(const T* row, long start, long n, T root) {                                \
    long i = start;                                                                          \
    while (i < n && row[i] <= root) i++;                                                     \
    return i;                                                                                \
}
FCF_M_NEXT_GENERIC(fcf_metrics_next_generic_f, float)
FCF_M_NEXT_GENERIC(fcf_metrics_next_generic_d, double)

#if FCF_M_SIMD
#include <immintrin.h>
static FCF_M_AVX2 long fcf_metrics_next_avx2_f(const float* row, long start, long n, float root) {
    __m256 r = _mm256_set1_ps(root);
    long i = start;
    for (; i + 8 <= n; i += 8) {
        int mask = _mm256_movemask_ps(_mm256_cmp_ps(_mm256_loadu_ps(row + i), r, _CMP_NLE_UQ));
        if (mask) return i + __builtin_ctz(mask);
    }
    while (i < n && row[i] <= root) i++;
    return i;
}
static FCF_M_AVX2 long fcf_metrics_next_avx2_d(const double* row, long start, long n, double root) {
    __m256d r = _mm256_set1_pd(root);
    long i = start;
    for (; i + 4 <= n; i += 4) {
        int mask = _mm256_movemask_pd(_mm256_cmp_pd(_mm256_loadu_pd(row + i), r, _CMP_NLE_UQ));
        if (mask) return i + __builtin_ctz(mask);
    }
    while (i < n && row[i] <= root) i++;
    return i;
}
#endif

static int fcf_metrics_simd_on = -1;  /* fcf_metrics_simd_wanted && the CPU has AVX2 */
static inline int fcf_metrics_simd(void) {
#if FCF_M_SIMD
    if (fcf_metrics_simd_on < 0) fcf_metrics_simd_on = fcf_metrics_simd_available();
    return fcf_metrics_simd_wanted && fcf_metrics_simd_on;
#else
    return 0;
#endif
}

static long fcf_metrics_next_f(const float* row, long start, long n, float root) {
#if FCF_M_SIMD
    if (fcf_metrics_simd()) return fcf_metrics_next_avx2_f(row, start, n, root);
#endif
    return fcf_metrics_next_generic_f(row, start, n, root);
}
static long fcf_metrics_next_d(const double* row, long start, long n, double root) {
#if FCF_M_SIMD
    if (fcf_metrics_simd()) return fcf_metrics_next_avx2_d(row, start, n, root);
#endif
    return fcf_metrics_next_generic_d(row, start, n, root);
}

/* AUC counts of scores against the sorted positives pos[0..P): above += #{pos > s},
   ties += #{pos == s} for every s in row[0..n). Branchless search for #{pos <= s}: the
   searches of neighbouring items are independent, so they overlap in the pipeline
   instead of waiting on mispredicted branches. */
#define FCF_M_AUC_COUNTS(NAME, T)                                                            \
static void NAME(const T* row, long n, const T* pos, long P, long long* above,              \
                 long long* ties) {                                                          \
    long long a = 0, t = 0;                                                                  \
    for (long j = 0; j < n; j++) {                                                           \
        T s = row[j];                                                                        \
        const T* base = pos;                                                                 \
        long m = P;                                                                          \
        while (m > 1) {                                                                      \
            long half = m >> 1;                                                              \
            base = (base[half] <= s) ? base + half : base;                                   \
            m -= half;                                                                       \
        }                                                                                    \
        long le = (long)(base - pos) + (*base <= s);                                         \
        a += P - le;                                                                         \
        if (le > 0 && pos[le - 1] == s) {                                                    \
            long lt = le - 1;                                                                \
            while (lt > 0 && pos[lt - 1] == s) lt--;                                         \
            t += le - lt;                                                                    \
        }                                                                                    \
    }                                                                                        \
    *above += a;                                                                             \
    *ties += t;                                                                              \
}
FCF_M_AUC_COUNTS(fcf_metrics_auc_counts_search_f, float)
FCF_M_AUC_COUNTS(fcf_metrics_auc_counts_search_d, double)

/* Up to this many positives, comparing a vector of items with every positive costs less
   than a search per item (about P/8 compares against 7 log2(P) cycles of latency). */
#define FCF_M_AUC_SIMD_MAX_POSITIVES 256

#if FCF_M_SIMD
/* The same counts with AVX2: two vectors of items against each positive in turn; integer
   lanes count the pairs (a compare gives -1 per true lane, subtracted) and are flushed
   into 64-bit totals before they could overflow. */
#define FCF_M_AUC_AVX2(NAME, T, VT, W, SET1, LOADU, CMP, CAST, SUB, ZERO, LANES_T, NL)        \
static FCF_M_AVX2 void NAME(const T* row, long n, const T* pos, long P, long long* above,   \
                            long long* ties) {                                               \
    long long a = 0, t = 0;                                                                  \
    long j = 0;                                                                              \
    while (j + 2 * W <= n) {                                                                 \
        long stop = j + 2 * W * 4096L;                                                       \
        if (stop > n) stop = n;                                                              \
        __m256i gt0 = ZERO(), gt1 = ZERO(), eq0 = ZERO(), eq1 = ZERO();                      \
        for (; j + 2 * W <= stop; j += 2 * W) {                                              \
            VT s0 = LOADU(row + j), s1 = LOADU(row + j + W);                                 \
            for (long q = 0; q < P; q++) {                                                   \
                VT b = SET1(pos[q]);                                                         \
                gt0 = SUB(gt0, CAST(CMP(b, s0, _CMP_GT_OQ)));                                \
                gt1 = SUB(gt1, CAST(CMP(b, s1, _CMP_GT_OQ)));                                \
                eq0 = SUB(eq0, CAST(CMP(b, s0, _CMP_EQ_OQ)));                                \
                eq1 = SUB(eq1, CAST(CMP(b, s1, _CMP_EQ_OQ)));                                \
            }                                                                                \
        }                                                                                    \
        LANES_T lanes[NL];                                                                   \
        _mm256_storeu_si256((__m256i*)lanes, gt0);                                           \
        for (int l = 0; l < NL; l++) a += lanes[l];                                          \
        _mm256_storeu_si256((__m256i*)lanes, gt1);                                           \
        for (int l = 0; l < NL; l++) a += lanes[l];                                          \
        _mm256_storeu_si256((__m256i*)lanes, eq0);                                           \
        for (int l = 0; l < NL; l++) t += lanes[l];                                          \
        _mm256_storeu_si256((__m256i*)lanes, eq1);                                           \
        for (int l = 0; l < NL; l++) t += lanes[l];                                          \
    }                                                                                        \
    *above += a;                                                                             \
    *ties += t;                                                                              \
    if (j < n) NAME##_tail(row + j, n - j, pos, P, above, ties);                             \
}
#define fcf_metrics_auc_avx2_f_tail fcf_metrics_auc_counts_search_f
#define fcf_metrics_auc_avx2_d_tail fcf_metrics_auc_counts_search_d
FCF_M_AUC_AVX2(fcf_metrics_auc_avx2_f, float, __m256, 8, _mm256_set1_ps, _mm256_loadu_ps, _mm256_cmp_ps,
               _mm256_castps_si256, _mm256_sub_epi32, _mm256_setzero_si256, int, 8)
FCF_M_AUC_AVX2(fcf_metrics_auc_avx2_d, double, __m256d, 4, _mm256_set1_pd, _mm256_loadu_pd, _mm256_cmp_pd,
               _mm256_castpd_si256, _mm256_sub_epi64, _mm256_setzero_si256, long long, 4)
#endif

static void fcf_metrics_auc_counts_f(const float* row, long n, const float* pos, long P, long long* above,
                                     long long* ties) {
#if FCF_M_SIMD
    if (P <= FCF_M_AUC_SIMD_MAX_POSITIVES && fcf_metrics_simd()) {
        fcf_metrics_auc_avx2_f(row, n, pos, P, above, ties);
        return;
    }
#endif
    fcf_metrics_auc_counts_search_f(row, n, pos, P, above, ties);
}
static void fcf_metrics_auc_counts_d(const double* row, long n, const double* pos, long P, long long* above,
                                     long long* ties) {
#if FCF_M_SIMD
    if (P <= FCF_M_AUC_SIMD_MAX_POSITIVES && fcf_metrics_simd()) {
        fcf_metrics_auc_avx2_d(row, n, pos, P, above, ties);
        return;
    }
#endif
    fcf_metrics_auc_counts_search_d(row, n, pos, P, above, ties);
}

/* out (n_rows x n_tiles*tile) = u (n_rows x f) times the packed tiles; tile % 16 == 0. */
static void fcf_metrics_score_f(int n_rows, int f, const float* u, const float* packed, int n_tiles,
                                int tile, float* out) {
#if FCF_M_SIMD
    if (fcf_metrics_simd()) {
        fcf_metrics_score_avx2_f(n_rows, f, u, packed, n_tiles, tile, out);
        return;
    }
#endif
    fcf_metrics_score_generic_f(n_rows, f, u, packed, n_tiles, tile, out);
}

static void fcf_metrics_score_d(int n_rows, int f, const double* u, const double* packed, int n_tiles,
                                int tile, double* out) {
#if FCF_M_SIMD
    if (fcf_metrics_simd()) {
        fcf_metrics_score_avx2_d(n_rows, f, u, packed, n_tiles, tile, out);
        return;
    }
#endif
    fcf_metrics_score_generic_d(n_rows, f, u, packed, n_tiles, tile, out);
}

#endif  /* FASTCF_METRICS_METRICS_NATIVE_H */
