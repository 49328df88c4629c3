/* Native kernels of fastcf/kernels/bpr/_cython.pyx, declared there. */
#ifndef FASTCF_BPR_BPR_NATIVE_H
#define FASTCF_BPR_BPR_NATIVE_H

#include <math.h>
#include <stddef.h>
#include <string.h>

#include <stdint.h>
/* splitmix64 (Steele, Lea & Flood 2014): the streams of reference.py, bit for bit. */
static inline uint64_t fcf_splitmix64(uint64_t* state) {
    uint64_t z = (*state += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}
static inline int64_t fcf_bounded(uint64_t* state, uint64_t n) {
    return (int64_t)(((fcf_splitmix64(state) >> 32) * n) >> 32);
}
static inline void fcf_rank_prefetch(const void* row, int bytes) {
#if defined(__GNUC__) || defined(__clang__)
    const char* at = (const char*)row;
    for (int offset = 0; offset < bytes; offset += 64) __builtin_prefetch(at + offset, 1);
#else
    (void)row; (void)bytes;
#endif
}
#if (defined(__GNUC__) || defined(__clang__)) && defined(__x86_64__) && !defined(FASTCF_NO_SIMD)
#include <immintrin.h>
static int fcf_rank_simd_available(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}
__attribute__((target("avx2,fma")))
static inline float fcf_rank_hsum(__m256 a) {
    __m128 h = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    h = _mm_add_ps(h, _mm_movehl_ps(h, h));
    h = _mm_add_ss(h, _mm_shuffle_ps(h, h, 1));
    return _mm_cvtss_f32(h);
}
__attribute__((target("avx2,fma")))
static float fcf_rank_dot_f32(int f, const float* a, const float* b) {
    int j = 0, end = f - f % 16;
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
    for (; j < end; j += 16) {
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + j), _mm256_loadu_ps(b + j), s0);
        s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + j + 8), _mm256_loadu_ps(b + j + 8), s1);
    }
    if (f - j >= 8) {
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + j), _mm256_loadu_ps(b + j), s0);
        j += 8;
    }
    float s = fcf_rank_hsum(_mm256_add_ps(s0, s1));
    for (; j < f; j++) s += a[j] * b[j];
    return s;
}
/* From the old values: p <- kp p + g (qi - qj); qi <- ki qi + g p; qj <- ki qj - g p.
   With items fixed (fold-in) only p moves. */
__attribute__((target("avx2,fma")))
static void fcf_rank_step_f32(int f, float* p, float* qi, float* qj, float g, float kp, float ki, int items) {
    int j = 0, end = f - f % 8;
    __m256 vg = _mm256_set1_ps(g), vkp = _mm256_set1_ps(kp), vki = _mm256_set1_ps(ki);
    for (; j < end; j += 8) {
        __m256 pj = _mm256_loadu_ps(p + j), a = _mm256_loadu_ps(qi + j), b = _mm256_loadu_ps(qj + j);
        _mm256_storeu_ps(p + j, _mm256_fmadd_ps(vg, _mm256_sub_ps(a, b), _mm256_mul_ps(vkp, pj)));
        if (items) {
            _mm256_storeu_ps(qi + j, _mm256_fmadd_ps(vg, pj, _mm256_mul_ps(vki, a)));
            _mm256_storeu_ps(qj + j, _mm256_fnmadd_ps(vg, pj, _mm256_mul_ps(vki, b)));
        }
    }
    for (; j < f; j++) {
        float pj = p[j], a = qi[j], b = qj[j];
        p[j] = __builtin_fmaf(g, a - b, kp * pj);
        if (items) {
            qi[j] = __builtin_fmaf(g, pj, ki * a);
            qj[j] = __builtin_fmaf(-g, pj, ki * b);
        }
    }
}
/* y <- k y + a x (k = 1 for a plain axpy). */
__attribute__((target("avx2,fma")))
static void fcf_rank_axpby_f32(int f, float a, const float* x, float k, float* y) {
    int j = 0, end = f - f % 8;
    __m256 va = _mm256_set1_ps(a), vk = _mm256_set1_ps(k);
    for (; j < end; j += 8)
        _mm256_storeu_ps(y + j, _mm256_fmadd_ps(va, _mm256_loadu_ps(x + j), _mm256_mul_ps(vk, _mm256_loadu_ps(y + j))));
    for (; j < f; j++) y[j] = __builtin_fmaf(a, x[j], k * y[j]);
}
#else
static void fcf_rank_axpby_f32(int f, float a, const float* x, float k, float* y) {}
static int fcf_rank_simd_available(void) { return 0; }
static float fcf_rank_dot_f32(int f, const float* a, const float* b) { return 0; }
static void fcf_rank_step_f32(int f, float* p, float* qi, float* qj, float g, float kp, float ki, int items) {}
#endif

#endif  /* FASTCF_BPR_BPR_NATIVE_H */
