/* Native kernels of fastcf/kernels/sgd/_cython.pyx, declared there. */
#ifndef FASTCF_SGD_SGD_SIMD_H
#define FASTCF_SGD_SGD_SIMD_H

#include <math.h>
#include <stddef.h>
#include <string.h>

#if (defined(__GNUC__) || defined(__clang__)) && defined(__x86_64__) && !defined(FASTCF_NO_SIMD)
#include <immintrin.h>
#define FCF_SGD_SIMD 1
static int fcf_sgd_simd_available(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}
/* One rating: e = base - p.y, then p, y <- (1 - lr reg) (p, y) + lr e (y, p). Returns e. */
__attribute__((target("avx2,fma")))
static float fcf_sgd_rating_f32(int f, float* p, float* y, float base, float lr, float reg) {
    int j = 0, end = f - f % 16;
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
    for (; j < end; j += 16) {
        a0 = _mm256_fmadd_ps(_mm256_loadu_ps(p + j), _mm256_loadu_ps(y + j), a0);
        a1 = _mm256_fmadd_ps(_mm256_loadu_ps(p + j + 8), _mm256_loadu_ps(y + j + 8), a1);
    }
    if (f - j >= 8) {
        a0 = _mm256_fmadd_ps(_mm256_loadu_ps(p + j), _mm256_loadu_ps(y + j), a0);
        j += 8;
    }
    a0 = _mm256_add_ps(a0, a1);
    __m128 h = _mm_add_ps(_mm256_castps256_ps128(a0), _mm256_extractf128_ps(a0, 1));
    /* A tail of 4 or more columns (f = 100 has 4) in one 128-bit step rather than the
       scalar loop. (AVX2 masked stores would take the whole tail, but AMD CPUs run
       vmaskmovps stores in microcode: slower than the scalar loop.) */
    int half = f - j >= 4;
    if (half) h = _mm_fmadd_ps(_mm_loadu_ps(p + j), _mm_loadu_ps(y + j), h);
    h = _mm_add_ps(h, _mm_movehl_ps(h, h));
    h = _mm_add_ss(h, _mm_shuffle_ps(h, h, 1));
    float s = _mm_cvtss_f32(h);
    for (j += 4 * half; j < f; j++) s += p[j] * y[j];
    float e = base - s, g = lr * e, keep = 1.0f - lr * reg;
    __m256 vg = _mm256_set1_ps(g), vk = _mm256_set1_ps(keep);
    for (j = 0; j < f - f % 8; j += 8) {
        __m256 pj = _mm256_loadu_ps(p + j), yj = _mm256_loadu_ps(y + j);
        _mm256_storeu_ps(p + j, _mm256_fmadd_ps(vg, yj, _mm256_mul_ps(vk, pj)));
        _mm256_storeu_ps(y + j, _mm256_fmadd_ps(vg, pj, _mm256_mul_ps(vk, yj)));
    }
    if (f - j >= 4) {
        __m128 pj = _mm_loadu_ps(p + j), yj = _mm_loadu_ps(y + j);
        __m128 g4 = _mm256_castps256_ps128(vg), k4 = _mm256_castps256_ps128(vk);
        _mm_storeu_ps(p + j, _mm_fmadd_ps(g4, yj, _mm_mul_ps(k4, pj)));
        _mm_storeu_ps(y + j, _mm_fmadd_ps(g4, pj, _mm_mul_ps(k4, yj)));
        j += 4;
    }
    for (; j < f; j++) {
        float pj = p[j], yj = y[j];
        p[j] = __builtin_fmaf(g, yj, keep * pj);
        y[j] = __builtin_fmaf(g, pj, keep * yj);
    }
    return e;
}
static void fcf_sgd_prefetch(const void* row, int bytes) {
    const char* at = (const char*)row;
    for (int offset = 0; offset < bytes; offset += 64) __builtin_prefetch(at + offset, 1);
}
#else
#define FCF_SGD_SIMD 0
static int fcf_sgd_simd_available(void) { return 0; }
static float fcf_sgd_rating_f32(int f, float* p, float* y, float base, float lr, float reg) { return 0; }
static void fcf_sgd_prefetch(const void* row, int bytes) { (void)row; (void)bytes; }
#endif

/* Point-to-point waits for the wavefront schedule (GCC and Clang atomics); elsewhere
   (MSVC) fcf_sgd_wavefront is 0 and every sub-epoch ends in a barrier instead. */
#if (defined(__GNUC__) || defined(__clang__)) && defined(_OPENMP)
#include <omp.h>
#include <sched.h>
#define FCF_SGD_WAVEFRONT 1
static int fcf_sgd_team_size(void) { return omp_get_num_threads(); }
static void fcf_sgd_publish(long* done, long value) { __atomic_store_n(done, value, __ATOMIC_RELEASE); }
/* Spin briefly, then yield the core: on a machine with more runnable threads than cores,
   a spinning waiter would take the time slice of the very thread it waits for. */
static void fcf_sgd_wait(const long* done, long value) {
    int spins = 0;
    while (__atomic_load_n(done, __ATOMIC_ACQUIRE) < value) {
        if (++spins < 256) {
#if defined(__x86_64__) || defined(__i386__)
            __builtin_ia32_pause();
#endif
        } else {
            sched_yield();
        }
    }
}
#else
#define FCF_SGD_WAVEFRONT 0
static int fcf_sgd_team_size(void) { return 1; }
static void fcf_sgd_publish(long* done, long value) { *done = value; }
static void fcf_sgd_wait(const long* done, long value) { (void)done; (void)value; }
#endif

#endif  /* FASTCF_SGD_SGD_SIMD_H */
