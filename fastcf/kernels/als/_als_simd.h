/* Native kernels of fastcf/kernels/als/_cython.pyx, declared there. */
#ifndef FASTCF_ALS_ALS_SIMD_H
#define FASTCF_ALS_ALS_SIMD_H

#include <math.h>
#include <stddef.h>
#include <string.h>

/* float32 kernels for CPUs with AVX2 and FMA. Built only by GCC or Clang for x86-64,
   where a function can be compiled for AVX2+FMA on its own (target attribute) and the
   CPU asked at run time (__builtin_cpu_supports). Elsewhere the stubs below are never
   called: fcf_als_simd_available() says 0 and the BLAS/LAPACK path runs. Defining
   FASTCF_NO_SIMD (CFLAGS=-DFASTCF_NO_SIMD) builds without them anywhere.
   Sums are taken in a fixed order (no alignment-dependent peeling), so that a row's
   result does not depend on which thread's scratch it used. */
#if defined(__GNUC__) || defined(__clang__)
#define fcf_prefetch(p) __builtin_prefetch(p)
#else
#define fcf_prefetch(p) ((void)(p))
#endif

#if (defined(__GNUC__) || defined(__clang__)) && defined(__x86_64__) && !defined(FASTCF_NO_SIMD)
#define FCF_ALS_SIMD 1
#else
#define FCF_ALS_SIMD 0
#endif

#if FCF_ALS_SIMD
#include <immintrin.h>
typedef float fcf_v8 __attribute__((vector_size(32)));
#define FCF_AVX2 __attribute__((target("avx2,fma")))
/* Rows of the rank-k update per pass over the tiles: a 16-column slab of 64 rows stays
   in L1 (with 256-byte rows, more would fall into too few cache sets). */
#define FCF_RANK_BLOCK 64

static int fcf_als_simd_available(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

FCF_AVX2 static inline fcf_v8 fcf_load(const float* p) { fcf_v8 v; memcpy(&v, p, sizeof v); return v; }
FCF_AVX2 static inline void fcf_store(float* p, fcf_v8 v) { memcpy(p, &v, sizeof v); }

FCF_AVX2 static inline float fcf_hsum(fcf_v8 v) {
    return ((v[0] + v[4]) + (v[2] + v[6])) + ((v[1] + v[5]) + (v[3] + v[7]));
}

FCF_AVX2 static inline float fcf_dot_f(int n, const float* a, const float* b) {
    fcf_v8 acc0 = {0}, acc1 = {0};
    int j = 0;
    for (; j + 16 <= n; j += 16) {
        acc0 += fcf_load(a + j) * fcf_load(b + j);
        acc1 += fcf_load(a + j + 8) * fcf_load(b + j + 8);
    }
    if (j + 8 <= n) {
        acc0 += fcf_load(a + j) * fcf_load(b + j);
        j += 8;
    }
    float s = fcf_hsum(acc0 + acc1);
    for (; j < n; j++) s += a[j] * b[j];
    return s;
}

/* dst = src, n % 8 == 0: a panel row inline, where a call to memcpy costs more than the copy. */
FCF_AVX2 static inline void fcf_copy_f(int n, const float* src, float* dst) {
    for (int j = 0; j < n; j += 8) fcf_store(dst + j, fcf_load(src + j));
}

/* y += alpha x */
FCF_AVX2 static inline void fcf_axpy_f(int n, float alpha, const float* x, float* y) {
    int j = 0;
    for (; j + 8 <= n; j += 8) fcf_store(y + j, fcf_load(y + j) + alpha * fcf_load(x + j));
    for (; j < n; j++) y[j] += alpha * x[j];
}

/* a[i][j] += alpha * sum_q gw[q][i] g[q][j] on the upper triangle's 16-column tiles, for
   k <= FCF_RANK_BLOCK rows q; rows in blocks of 4. m % 16 == 0. Entries below the
   diagonal inside a diagonal tile are updated too; nothing reads them. */
FCF_AVX2 static void fcf_rank_update_block_f(int m, int k, float alpha, const float* gw,
                                             const float* g, int ldg, float* a, int lda) {
    for (int j0 = 0; j0 < m; j0 += 16) {
        for (int i0 = 0; i0 < j0 + 16; i0 += 4) {
            fcf_v8 c00 = {0}, c01 = {0}, c10 = {0}, c11 = {0};
            fcf_v8 c20 = {0}, c21 = {0}, c30 = {0}, c31 = {0};
            const float* gq = g + j0;
            const float* wq = gw + i0;
            for (int q = 0; q < k; q++, gq += ldg, wq += ldg) {
                fcf_v8 y0 = fcf_load(gq), y1 = fcf_load(gq + 8);
                c00 += wq[0] * y0; c01 += wq[0] * y1;
                c10 += wq[1] * y0; c11 += wq[1] * y1;
                c20 += wq[2] * y0; c21 += wq[2] * y1;
                c30 += wq[3] * y0; c31 += wq[3] * y1;
            }
            float* row = a + (long)i0 * lda + j0;
            fcf_store(row, fcf_load(row) + alpha * c00); fcf_store(row + 8, fcf_load(row + 8) + alpha * c01);
            row += lda;
            fcf_store(row, fcf_load(row) + alpha * c10); fcf_store(row + 8, fcf_load(row + 8) + alpha * c11);
            row += lda;
            fcf_store(row, fcf_load(row) + alpha * c20); fcf_store(row + 8, fcf_load(row + 8) + alpha * c21);
            row += lda;
            fcf_store(row, fcf_load(row) + alpha * c30); fcf_store(row + 8, fcf_load(row + 8) + alpha * c31);
        }
    }
}

/* Upper triangle of a (m x m, row-major) += alpha gwᵀ g, for gw, g of shape (k, m). */
FCF_AVX2 static void fcf_rank_update_f(int m, int k, float alpha, const float* gw, const float* g,
                                       int ldg, float* a, int lda) {
    for (int q0 = 0; q0 < k; q0 += FCF_RANK_BLOCK) {
        int kb = k - q0 < FCF_RANK_BLOCK ? k - q0 : FCF_RANK_BLOCK;
        fcf_rank_update_block_f(m, kb, alpha, gw + (long)q0 * ldg, g + (long)q0 * ldg, ldg, a, lda);
    }
}

/* Lanes j0 + l >= start of a vector starting at j0, as a blend mask (all bits set). */
FCF_AVX2 static inline __m256 fcf_from_mask(int j0, int start) {
    return _mm256_castsi256_ps(_mm256_cmpgt_epi32(
        _mm256_add_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), _mm256_set1_epi32(j0)),
        _mm256_set1_epi32(start - 1)));
}

/* The short rows of a small triangle, as whole vectors with no scalar tails: j from
   start to m, m % 8 == 0, the first vector blended so that lanes before start keep their
   value (masked stores are slow on some CPUs; the lanes read before start lie in the
   same row). */

/* y[j] += alpha x[j] for start <= j < m. */
FCF_AVX2 static inline void fcf_axpy_from_f(int start, int m, float alpha, const float* x, float* y) {
    int j = start & ~7;
    __m256 va = _mm256_set1_ps(alpha);
    if (j < start) {
        __m256 yj = _mm256_loadu_ps(y + j);
        _mm256_storeu_ps(y + j, _mm256_blendv_ps(yj, _mm256_fmadd_ps(va, _mm256_loadu_ps(x + j), yj),
                                                 fcf_from_mask(j, start)));
        j += 8;
    }
    for (; j < m; j += 8) _mm256_storeu_ps(y + j, _mm256_fmadd_ps(va, _mm256_loadu_ps(x + j), _mm256_loadu_ps(y + j)));
}

/* y[j] *= alpha for start <= j < m. */
FCF_AVX2 static inline void fcf_scale_from_f(int start, int m, float alpha, float* y) {
    int j = start & ~7;
    __m256 va = _mm256_set1_ps(alpha);
    if (j < start) {
        __m256 yj = _mm256_loadu_ps(y + j);
        _mm256_storeu_ps(y + j, _mm256_blendv_ps(yj, _mm256_mul_ps(va, yj), fcf_from_mask(j, start)));
        j += 8;
    }
    for (; j < m; j += 8) _mm256_storeu_ps(y + j, _mm256_mul_ps(va, _mm256_loadu_ps(y + j)));
}

/* Σ a[j] b[j] over start <= j < m. */
FCF_AVX2 static inline float fcf_dot_from_f(int start, int m, const float* a, const float* b) {
    int j = start & ~7;
    __m256 acc = _mm256_setzero_ps();
    if (j < start) {
        acc = _mm256_blendv_ps(acc, _mm256_mul_ps(_mm256_loadu_ps(a + j), _mm256_loadu_ps(b + j)),
                               fcf_from_mask(j, start));
        j += 8;
    }
    for (; j < m; j += 8) acc = _mm256_fmadd_ps(_mm256_loadu_ps(a + j), _mm256_loadu_ps(b + j), acc);
    return fcf_hsum((fcf_v8)acc);
}

/* A = UᵀU in place in a's upper triangle (m x m, m % 16 == 0), right-looking in panels
   of 16 rows: a panel is factorised row by row, then the trailing matrix takes one
   rank-16 update. Returns 0, or j + 1 if pivot j is not positive (as LAPACK's info). */
FCF_AVX2 static int fcf_cholesky_upper_f(int m, float* a, int lda) {
    for (int k0 = 0; k0 < m; k0 += 16) {
        int k1 = k0 + 16;
        for (int k = k0; k < k1; k++) {
            float* rk = a + (long)k * lda;
            float d = rk[k];
            if (!(d > 0)) return k + 1;
            d = sqrtf(d);
            float inv = 1.0f / d;
            fcf_scale_from_f(k + 1, m, inv, rk);
            rk[k] = d;
            for (int i = k + 1; i < k1; i++) fcf_axpy_from_f(i, m, -rk[i], rk, a + (long)i * lda);
        }
        if (k1 < m) {
            const float* panel = a + (long)k0 * lda + k1;
            fcf_rank_update_f(m - k1, 16, -1.0f, panel, panel, lda, a + (long)k1 * lda + k1, lda);
        }
    }
    return 0;
}

/* b <- A⁻¹ b from A = UᵀU (fcf_cholesky_upper_f): Uᵀ z = b, then U x = z. m % 8 == 0. */
FCF_AVX2 static void fcf_cholesky_solve_upper_f(int m, const float* u, int lda, float* b) {
    for (int k = 0; k < m; k++) {
        const float* rk = u + (long)k * lda;
        float z = b[k] / rk[k];
        b[k] = z;
        fcf_axpy_from_f(k + 1, m, -z, rk, b);
    }
    for (int i = m - 1; i >= 0; i--) {
        const float* ri = u + (long)i * lda;
        b[i] = (b[i] - fcf_dot_from_f(i + 1, m, ri, b)) / ri[i];
    }
}

/* One entry of the Cholesky path: b += c y, and unless c == 1, g = y and gw = (c - 1) y
   (the next rows of the blocks for fcf_rank_update_f). Returns 1 if rows were added. */
FCF_AVX2 static int fcf_add_entry_f(int f, const float* y, float c, float* b, float* g, float* gw) {
    float w = c - 1.0f;
    int j = 0;
    if (w == 0) {
        fcf_axpy_f(f, c, y, b);
        return 0;
    }
    for (; j + 8 <= f; j += 8) {
        fcf_v8 yj = fcf_load(y + j);
        fcf_store(b + j, fcf_load(b + j) + c * yj);
        fcf_store(g + j, yj);
        fcf_store(gw + j, w * yj);
    }
    for (; j < f; j++) {
        b[j] += c * y[j];
        g[j] = y[j];
        gw[j] = w * y[j];
    }
    return 1;
}

/* iALS++ block kernels on a gathered Y_u. A block's columns of Y_u are a panel of
   rows ld apart (ld = b: the panels of _row_subspace_gathered), b % 16 == 0.
   a (b x b, row-major upper triangle, 16-column tiles as fcf_rank_update_block_f) +=
   sum_q w[q] y_q y_qᵀ over the block's columns: the weights applied on the fly, so that
   no weighted copy of Y_u is written; rows in runs of FCF_RANK_BLOCK, whose panel stays
   in L1 while every tile passes over it. */
FCF_AVX2 static void fcf_weighted_rank_update_f(int b, int k, const float* w, const float* g, int ldg,
                                                float* a) {
    for (int q0 = 0; q0 < k; q0 += FCF_RANK_BLOCK) {
        int kb = k - q0 < FCF_RANK_BLOCK ? k - q0 : FCF_RANK_BLOCK;
        const float* g0 = g + (long)q0 * ldg;
        const float* w0 = w + q0;
        for (int j0 = 0; j0 < b; j0 += 16) {
            for (int i0 = 0; i0 < j0 + 16; i0 += 4) {
                fcf_v8 c00 = {0}, c01 = {0}, c10 = {0}, c11 = {0};
                fcf_v8 c20 = {0}, c21 = {0}, c30 = {0}, c31 = {0};
                const float* gq = g0;
                for (int q = 0; q < kb; q++, gq += ldg) {
                    float wq = w0[q];
                    fcf_v8 y0 = wq * fcf_load(gq + j0), y1 = wq * fcf_load(gq + j0 + 8);
                    float s0 = gq[i0], s1 = gq[i0 + 1], s2 = gq[i0 + 2], s3 = gq[i0 + 3];
                    c00 += s0 * y0; c01 += s0 * y1;
                    c10 += s1 * y0; c11 += s1 * y1;
                    c20 += s2 * y0; c21 += s2 * y1;
                    c30 += s3 * y0; c31 += s3 * y1;
                }
                float* row = a + (long)i0 * b + j0;
                fcf_store(row, fcf_load(row) + c00); fcf_store(row + 8, fcf_load(row + 8) + c01);
                row += b;
                fcf_store(row, fcf_load(row) + c10); fcf_store(row + 8, fcf_load(row + 8) + c11);
                row += b;
                fcf_store(row, fcf_load(row) + c20); fcf_store(row + 8, fcf_load(row + 8) + c21);
                row += b;
                fcf_store(row, fcf_load(row) + c30); fcf_store(row + 8, fcf_load(row + 8) + c31);
            }
        }
    }
}

/* out (b,) += sum_q (c[q] - w[q] s[q]) rows[q][0:b], rows ld apart; b % 8 == 0: one pass
   over the rows for every 32 columns. */
FCF_AVX2 static void fcf_block_residual_f(int b, int m, int ld, const float* rows, const float* c,
                                          const float* w, const float* s, float* out) {
    int j = 0;
    for (; j + 32 <= b; j += 32) {
        fcf_v8 a0 = fcf_load(out + j), a1 = fcf_load(out + j + 8);
        fcf_v8 a2 = fcf_load(out + j + 16), a3 = fcf_load(out + j + 24);
        const float* r = rows + j;
        for (int q = 0; q < m; q++, r += ld) {
            float t = c[q] - w[q] * s[q];
            a0 += t * fcf_load(r); a1 += t * fcf_load(r + 8);
            a2 += t * fcf_load(r + 16); a3 += t * fcf_load(r + 24);
        }
        fcf_store(out + j, a0); fcf_store(out + j + 8, a1);
        fcf_store(out + j + 16, a2); fcf_store(out + j + 24, a3);
    }
    for (; j < b; j += 8) {
        fcf_v8 a0 = fcf_load(out + j);
        const float* r = rows + j;
        for (int q = 0; q < m; q++, r += ld) a0 += (c[q] - w[q] * s[q]) * fcf_load(r);
        fcf_store(out + j, a0);
    }
}

/* The sum of v's lanes in the order of fcf_hsum8's: (0 + 1) + (2 + 3), (4 + 5) + (6 + 7). */
FCF_AVX2 static inline float fcf_hsum_pairs(fcf_v8 v) {
    return ((v[0] + v[1]) + (v[2] + v[3])) + ((v[4] + v[5]) + (v[6] + v[7]));
}

/* The lane sums of eight vectors as one vector (lane i: the sum of a_i), each in the
   order of fcf_hsum_pairs. */
FCF_AVX2 static inline __m256 fcf_hsum8(fcf_v8 a0, fcf_v8 a1, fcf_v8 a2, fcf_v8 a3,
                                        fcf_v8 a4, fcf_v8 a5, fcf_v8 a6, fcf_v8 a7) {
    __m256 s01 = _mm256_hadd_ps((__m256)a0, (__m256)a1), s23 = _mm256_hadd_ps((__m256)a2, (__m256)a3);
    __m256 s45 = _mm256_hadd_ps((__m256)a4, (__m256)a5), s67 = _mm256_hadd_ps((__m256)a6, (__m256)a7);
    __m256 s0123 = _mm256_hadd_ps(s01, s23), s4567 = _mm256_hadd_ps(s45, s67);
    return _mm256_add_ps(_mm256_permute2f128_ps(s0123, s4567, 0x20), _mm256_permute2f128_ps(s0123, s4567, 0x31));
}

/* out[q] += rows[q][0:b] . v for q < m, rows ld apart; b % 8 == 0. Eight rows at a time,
   their eight sums reduced together. */
FCF_AVX2 static void fcf_block_times_f(int b, int m, int ld, const float* rows, const float* v, float* out) {
    int q = 0;
    for (; q + 8 <= m; q += 8) {
        const float* r = rows + (long)q * ld;
        fcf_v8 v0 = fcf_load(v);
        fcf_v8 a0 = fcf_load(r) * v0, a1 = fcf_load(r + ld) * v0;
        fcf_v8 a2 = fcf_load(r + 2L * ld) * v0, a3 = fcf_load(r + 3L * ld) * v0;
        fcf_v8 a4 = fcf_load(r + 4L * ld) * v0, a5 = fcf_load(r + 5L * ld) * v0;
        fcf_v8 a6 = fcf_load(r + 6L * ld) * v0, a7 = fcf_load(r + 7L * ld) * v0;
        for (int j = 8; j < b; j += 8) {
            fcf_v8 vj = fcf_load(v + j);
            a0 += fcf_load(r + j) * vj; a1 += fcf_load(r + ld + j) * vj;
            a2 += fcf_load(r + 2L * ld + j) * vj; a3 += fcf_load(r + 3L * ld + j) * vj;
            a4 += fcf_load(r + 4L * ld + j) * vj; a5 += fcf_load(r + 5L * ld + j) * vj;
            a6 += fcf_load(r + 6L * ld + j) * vj; a7 += fcf_load(r + 7L * ld + j) * vj;
        }
        _mm256_storeu_ps(out + q, _mm256_add_ps(_mm256_loadu_ps(out + q), fcf_hsum8(a0, a1, a2, a3, a4, a5, a6, a7)));
    }
    for (; q < m; q++) {
        const float* r = rows + (long)q * ld;
        fcf_v8 acc = fcf_load(r) * fcf_load(v);
        for (int j = 8; j < b; j += 8) acc += fcf_load(r + j) * fcf_load(v + j);
        out[q] += fcf_hsum_pairs(acc);
    }
}

/* out = alpha gram v, gram symmetric (f x f): a sum of its rows, without reductions. */
FCF_AVX2 static void fcf_symv_f(int f, float alpha, const float* gram, const float* v, float* out) {
    for (int j = 0; j < f; j++) out[j] = 0;
    for (int k = 0; k < f; k++) fcf_axpy_f(f, alpha * v[k], gram + (long)k * f, out);
}

/* out += sum_q h_q g_q over n gathered rows g_q (row stride f), where d_q = g_q·v and
   h_q = c_q - (c_q - 1) d_q for a residual, else (c_q - 1) d_q. Four rows at a time:
   their four dot products share each load of v, and out is loaded and stored once per
   four rows. */
FCF_AVX2 static void fcf_block_product_f(int f, Py_ssize_t n, const float* g, const float* c,
                                         const float* v, int residual, float* out) {
    Py_ssize_t q = 0;
    for (; q + 4 <= n; q += 4) {
        const float *g0 = g + q * f, *g1 = g0 + f, *g2 = g1 + f, *g3 = g2 + f;
        fcf_v8 a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0};
        int j = 0;
        for (; j + 8 <= f; j += 8) {
            fcf_v8 vj = fcf_load(v + j);
            a0 += fcf_load(g0 + j) * vj;
            a1 += fcf_load(g1 + j) * vj;
            a2 += fcf_load(g2 + j) * vj;
            a3 += fcf_load(g3 + j) * vj;
        }
        float d0 = fcf_hsum(a0), d1 = fcf_hsum(a1), d2 = fcf_hsum(a2), d3 = fcf_hsum(a3);
        for (int t = j; t < f; t++) {
            d0 += g0[t] * v[t]; d1 += g1[t] * v[t]; d2 += g2[t] * v[t]; d3 += g3[t] * v[t];
        }
        float h0 = (c[q] - 1.0f) * d0, h1 = (c[q + 1] - 1.0f) * d1;
        float h2 = (c[q + 2] - 1.0f) * d2, h3 = (c[q + 3] - 1.0f) * d3;
        if (residual) {
            h0 = c[q] - h0; h1 = c[q + 1] - h1; h2 = c[q + 2] - h2; h3 = c[q + 3] - h3;
        }
        for (j = 0; j + 8 <= f; j += 8)
            fcf_store(out + j, fcf_load(out + j) + h0 * fcf_load(g0 + j) + h1 * fcf_load(g1 + j)
                               + h2 * fcf_load(g2 + j) + h3 * fcf_load(g3 + j));
        for (; j < f; j++) out[j] += h0 * g0[j] + h1 * g1[j] + h2 * g2[j] + h3 * g3[j];
    }
    for (; q < n; q++) {
        float h = (c[q] - 1.0f) * fcf_dot_f(f, g + q * f, v);
        fcf_axpy_f(f, residual ? c[q] - h : h, g + q * f, out);
    }
}

#else  /* no SIMD kernels in this build: never called */
static int fcf_als_simd_available(void) { return 0; }
static void fcf_axpy_f(int n, float alpha, const float* x, float* y) {}
static float fcf_dot_f(int n, const float* a, const float* b) { return 0; }
static void fcf_copy_f(int n, const float* src, float* dst) {}
static void fcf_rank_update_f(int m, int k, float alpha, const float* gw, const float* g,
                              int ldg, float* a, int lda) {}
static int fcf_cholesky_upper_f(int m, float* a, int lda) { return -1; }
static void fcf_cholesky_solve_upper_f(int m, const float* u, int lda, float* b) {}
static int fcf_add_entry_f(int f, const float* y, float c, float* b, float* g, float* gw) { return 0; }
static void fcf_symv_f(int f, float alpha, const float* gram, const float* v, float* out) {}
static void fcf_weighted_rank_update_f(int b, int k, const float* w, const float* g, int ldg, float* a) {}
static void fcf_block_residual_f(int b, int m, int ld, const float* rows, const float* c,
                                 const float* w, const float* s, float* out) {}
static void fcf_block_times_f(int b, int m, int ld, const float* rows, const float* v, float* out) {}
static void fcf_block_product_f(int f, Py_ssize_t n, const float* g, const float* c,
                                const float* v, int residual, float* out) {}
#endif

#endif  /* FASTCF_ALS_ALS_SIMD_H */
