/* Native kernels of fastcf/kernels/similarity/_cython.pyx, declared there. */
#ifndef FASTCF_SIMILARITY_SIMILARITY_NATIVE_H
#define FASTCF_SIMILARITY_SIMILARITY_NATIVE_H

#include <math.h>
#include <stddef.h>
#include <string.h>

#include <stdint.h>
/* acc[rows[q] * stride + m] += w[m] * y_q for m < width, for the entries q of one column
   from q down to the first whose row is below lowest_row; returns where it stopped. A
   multiply and an add per product, as the scalar loops (no FMA), so the bits are theirs;
   lanes whose weight is 0 add 0 and change nothing. Width 32 (a full block) is unrolled. */
#define FCF_SIM_COLUMN(NAME, REAL, INDEX, ATTR)                                            \
static ATTR int64_t NAME(REAL* acc, int64_t stride, int64_t width, const REAL* w,          \
                         const INDEX* rows, const REAL* values, int64_t start, int64_t q,  \
                         int64_t lowest_row) {                                             \
    if (width == 32) {                                                                     \
        for (; q >= start && rows[q] >= lowest_row; q--) {                                 \
            REAL* __restrict p = acc + (int64_t)rows[q] * stride;                          \
            REAL y = values[q];                                                            \
            for (int m = 0; m < 32; m++) p[m] += w[m] * y;                                 \
        }                                                                                  \
        return q;                                                                          \
    }                                                                                      \
    for (; q >= start && rows[q] >= lowest_row; q--) {                                     \
        REAL* __restrict p = acc + (int64_t)rows[q] * stride;                              \
        REAL y = values[q];                                                                \
        for (int64_t m = 0; m < width; m++) p[m] += w[m] * y;                              \
    }                                                                                      \
    return q;                                                                              \
}
FCF_SIM_COLUMN(fcf_sim_column_plain_fi, float, int32_t, )
FCF_SIM_COLUMN(fcf_sim_column_plain_fl, float, int64_t, )
FCF_SIM_COLUMN(fcf_sim_column_plain_di, double, int32_t, )
FCF_SIM_COLUMN(fcf_sim_column_plain_dl, double, int64_t, )
#if (defined(__GNUC__) || defined(__clang__)) && defined(__x86_64__) && !defined(FASTCF_NO_SIMD)
#define FCF_SIM_AVX2 __attribute__((target("avx2")))
FCF_SIM_COLUMN(fcf_sim_column_avx2_fi, float, int32_t, FCF_SIM_AVX2)
FCF_SIM_COLUMN(fcf_sim_column_avx2_fl, float, int64_t, FCF_SIM_AVX2)
FCF_SIM_COLUMN(fcf_sim_column_avx2_di, double, int32_t, FCF_SIM_AVX2)
FCF_SIM_COLUMN(fcf_sim_column_avx2_dl, double, int64_t, FCF_SIM_AVX2)
static int fcf_sim_simd(void) {
    static int known = -1;
    if (known < 0) { __builtin_cpu_init(); known = __builtin_cpu_supports("avx2") ? 1 : 0; }
    return known;
}
#else
#define fcf_sim_column_avx2_fi fcf_sim_column_plain_fi
#define fcf_sim_column_avx2_fl fcf_sim_column_plain_fl
#define fcf_sim_column_avx2_di fcf_sim_column_plain_di
#define fcf_sim_column_avx2_dl fcf_sim_column_plain_dl
static int fcf_sim_simd(void) { return 0; }
#endif
#define FCF_SIM_DISPATCH(SUFFIX, REAL, INDEX)                                                 \
static int64_t fcf_sim_column_##SUFFIX(REAL* acc, int64_t stride, int64_t width, const REAL* w, \
                                       const INDEX* rows, const REAL* values, int64_t start,   \
                                       int64_t q, int64_t lowest_row) {                        \
    if (fcf_sim_simd())                                                                        \
        return fcf_sim_column_avx2_##SUFFIX(acc, stride, width, w, rows, values, start, q, lowest_row); \
    return fcf_sim_column_plain_##SUFFIX(acc, stride, width, w, rows, values, start, q, lowest_row);    \
}
FCF_SIM_DISPATCH(fi, float, int32_t)
FCF_SIM_DISPATCH(fl, float, int64_t)
FCF_SIM_DISPATCH(di, double, int32_t)
FCF_SIM_DISPATCH(dl, double, int64_t)

#endif  /* FASTCF_SIMILARITY_SIMILARITY_NATIVE_H */
