"""Cython twin of the ALS half-steps (implicit and explicit) and loss; ``reference.py`` is the specification.

Parallel over rows (OpenMP). Each row's algebra runs on one of two paths:

* **SIMD** (float32 on x86-64 CPUs with AVX2 and FMA, built by GCC or Clang): the small C
  kernels of ``_als_simd.h``, compiled for AVX2+FMA on their own and chosen at run time, so that the
  module still runs on any x86-64 CPU. Measured on this project's 2-core AMD EPYC (f = 64,
  float32, one thread), they do the rank-k update of A_u at 72-80 GFLOP/s where OpenBLAS's
  ssyrk gives 31-40 (and costs 0.95 µs against 0.28 µs for a 4-entry row), and factorise
  and solve a 64 x 64 system in under 5 µs where sposv takes 11.6 µs.
* **BLAS/LAPACK** (float64, other CPUs and compilers, or when forced by ``_use_simd(False)``):
  ``syrk``, ``gemv`` and ``posv`` from ``scipy.linalg.cython_blas`` / ``cython_lapack``, which
  run single-threaded inside each OpenMP thread (the public wrapper limits the BLAS pools to
  one thread for the call).

Cholesky, per row u: A = YᵀY + λI (+ λ_u I with a per-row λ), plus Σ (c − 1) y yᵀ over the row's
entries, added a block of
gathered rows at a time (entries with c = 1 add nothing and are skipped); then A is factorised
and A x = b solved. SIMD: A is kept in its upper triangle, padded to a multiple of 16 columns
with an identity block, so that every kernel works on whole 16-column tiles; the blocks hold y
and (c − 1) y. BLAS: the block holds √|c − 1| y, entries with c > 1 from its front (added with
+1), those with c < 1 from its back (−1), one ``syrk`` each when the block is full, then ``posv``.

Conjugate gradient, per row u: A p = (YᵀY + λI) p + λ_u p + Y_uᵀ((c − 1) ⊙ (Y_u p)), never forming A. The
row's rows of Y are gathered once into a per-thread block (Y's rows are scattered in memory;
the block stays in L1/L2 for the 1 + cg_steps products), which each product walks in L2-sized
chunks: SIMD in one fused pass, four rows at a time; BLAS with two ``gemv`` calls. The block
is capped in size; longer rows are gathered again, chunk by chunk, for every product.

Explicit half-step, per row u: the (f + 1)-dimensional weighted-λ ridge system of
``reference.als_explicit_half_step``, built and solved by the same two paths: the gathered rows
are ỹ_j = (y_j, 1) (padded with zeros to fp columns for SIMD), added with +1 only.

Scratch is allocated once per call as one array of n_threads slabs, indexed by threadid(),
every buffer starting on a cache line. Each row runs the same code whichever thread takes
it, so results do not depend on the thread count.
"""

from cython cimport floating
from cython.parallel cimport prange, threadid
from libc.math cimport isfinite, sqrt
from libc.stdint cimport uint8_t
from libc.string cimport memcpy, memset
from scipy.linalg.cython_blas cimport dgemv, dsyrk, sgemv, ssyrk
from scipy.linalg.cython_lapack cimport dposv, sposv

import numpy as np

from fastcf.kernels._fused cimport index_t
from fastcf.kernels._openmp cimport FASTCF_CYTHON_VERSION, FASTCF_OPENMP_VERSION, fastcf_omp_max_threads
from fastcf.kernels.als._status import raise_failed_explicit_rows, raise_failed_rows
from fastcf.kernels.als.reference import CG_TOLERANCE, item_penalty

__all__ = ["als_explicit_half_step", "als_half_step", "als_loss", "als_subspace_half_step"]

OPENMP_VERSION = FASTCF_OPENMP_VERSION
CYTHON_VERSION = FASTCF_CYTHON_VERSION.decode()


def openmp_max_threads():
    """omp_get_max_threads() of the OpenMP runtime this module links (1 without OpenMP)."""
    return fastcf_omp_max_threads()


cdef extern from "_als_simd.h" nogil:
    void fcf_prefetch(const void* p)
    int fcf_als_simd_available()
    void fcf_axpy_f(int n, float alpha, const float* x, float* y)
    float fcf_dot_f(int n, const float* a, const float* b)
    void fcf_copy_f(int n, const float* src, float* dst)
    void fcf_rank_update_f(int m, int k, float alpha, const float* gw, const float* g, int ldg, float* a, int lda)
    int fcf_cholesky_upper_f(int m, float* a, int lda)
    void fcf_cholesky_solve_upper_f(int m, const float* u, int lda, float* b)
    int fcf_add_entry_f(int f, const float* y, float c, float* b, float* g, float* gw)
    void fcf_symv_f(int f, float alpha, const float* gram, const float* v, float* out)
    void fcf_weighted_rank_update_f(int b, int k, const float* w, const float* g, int ldg, float* a)
    void fcf_block_residual_f(int b, int m, int ld, const float* rows, const float* c, const float* w,
                              const float* s, float* out)
    void fcf_block_times_f(int b, int m, int ld, const float* rows, const float* v, float* out)
    void fcf_block_product_f(
        int f, Py_ssize_t n, const float* g, const float* c, const float* v, int residual, float* out)


#: The CPU and the build allow the float32 SIMD kernels.
SIMD_AVAILABLE = bool(fcf_als_simd_available())
cdef bint _simd = SIMD_AVAILABLE


def _use_simd(enabled=None):
    """Whether float32 runs on the SIMD kernels; ``_use_simd(False)`` forces BLAS/LAPACK (tests).

    Returns the previous setting. SIMD cannot be turned on where it is not available.
    """
    global _simd
    previous = bool(_simd)
    if enabled is not None:
        _simd = bool(enabled) and SIMD_AVAILABLE
    return previous


# The status codes of _status.py.
cdef enum:
    SOLVED = 0
    NOT_POSITIVE_DEFINITE = 1
    NOT_FINITE = 2

cdef double _CG_TOLERANCE = CG_TOLERANCE
#: Entries ahead whose row of Y is prefetched while gathering.
cdef Py_ssize_t PREFETCH_AHEAD = 8

#: Rows of Y per chunk: one chunk (about 256 KiB) stays in L2 between passes over it.
CHUNK_BYTES = 256 * 1024
#: Cap of the per-thread block that holds a whole row's Y_u for BLAS CG; longer rows are re-gathered.
CG_BLOCK_BYTES = 64 * 1024 * 1024
#: Scratch buffers start on cache-line boundaries, so threads never share a line.
ALIGN_BYTES = 64
#: SIMD Cholesky pads f to a multiple of this many columns (the kernels' tile width).
SIMD_TILE = 16
cdef enum:
    SIMD_TILE_C = 16


# --- BLAS and LAPACK on row-major arrays ------------------------------------------------------
# A row-major (m, f) block of rows is, to column-major BLAS, an (f, m) matrix with ld = f.

cdef inline void _add_outer(int f, int m, floating alpha, floating* rows, floating* a) noexcept nogil:
    """Lower triangle of a (f, f) += alpha * rowsᵀ rows, rows of shape (m, f)."""
    cdef char uplo = b"U"  # column-major upper = row-major lower
    cdef char trans = b"N"
    cdef floating one = 1
    if m == 0:
        return
    if floating is float:
        ssyrk(&uplo, &trans, &f, &m, &alpha, rows, &f, &one, a, &f)
    else:
        dsyrk(&uplo, &trans, &f, &m, &alpha, rows, &f, &one, a, &f)


cdef inline void _rows_times(int f, int m, const floating* rows, const floating* v, floating* out) noexcept nogil:
    """out (m,) = rows (m, f) @ v (f,)."""
    cdef char trans = b"T"
    cdef floating one = 1, zero = 0
    cdef int inc = 1
    if floating is float:
        sgemv(&trans, &f, &m, &one, <float*>rows, &f, <float*>v, &inc, &zero, out, &inc)
    else:
        dgemv(&trans, &f, &m, &one, <double*>rows, &f, <double*>v, &inc, &zero, out, &inc)


cdef inline void _rows_t_times(
    int f, int m, floating alpha, const floating* rows, const floating* t, floating beta, floating* out
) noexcept nogil:
    """out (f,) = alpha * rowsᵀ (f, m) @ t (m,) + beta * out; also (f, f) symmetric matrices."""
    cdef char trans = b"N"
    cdef int inc = 1
    if floating is float:
        sgemv(&trans, &f, &m, &alpha, <float*>rows, &f, <float*>t, &inc, &beta, out, &inc)
    else:
        dgemv(&trans, &f, &m, &alpha, <double*>rows, &f, <double*>t, &inc, &beta, out, &inc)


cdef inline int _cholesky_solve(int f, floating* a, floating* b) noexcept nogil:
    """Solve a x = b (x in b) by Cholesky from a's row-major lower triangle; LAPACK's info."""
    cdef char uplo = b"U"
    cdef int nrhs = 1, info = 0
    if floating is float:
        sposv(&uplo, &f, &nrhs, a, &f, b, &f, &info)
    else:
        dposv(&uplo, &f, &nrhs, a, &f, b, &f, &info)
    return info


cdef inline floating _dot(int f, const floating* a, const floating* b) noexcept nogil:
    cdef floating s = 0
    cdef int j
    for j in range(f):
        s += a[j] * b[j]
    return s


cdef inline bint _all_finite(int f, const floating* v) noexcept nogil:
    cdef int j
    for j in range(f):
        if not isfinite(v[j]):
            return False
    return True


cdef inline void _prefetch_row(const floating* row, int f) noexcept nogil:
    """Ask for every cache line of a row of Y: rows are read in no order a CPU could guess."""
    cdef const char* at = <const char*>row
    cdef Py_ssize_t offset
    for offset in range(0, <Py_ssize_t>(f * sizeof(floating)), 64):
        fcf_prefetch(at + offset)


cdef inline void _gather(
    const floating* other, const index_t* items, Py_ssize_t m, int f, floating* block
) noexcept nogil:
    """block (m, f) = the rows of Y listed in items."""
    cdef Py_ssize_t q
    for q in range(m):
        if q + PREFETCH_AHEAD < m:
            _prefetch_row(other + <Py_ssize_t>items[q + PREFETCH_AHEAD] * f, f)
        memcpy(block + q * f, other + <Py_ssize_t>items[q] * f, f * sizeof(floating))


# --- one row: Cholesky -------------------------------------------------------------------

cdef inline void _add_to_diagonal(int f, int lda, floating lam, floating* a) noexcept nogil:
    """a[k, k] += lam for k < f, a row-major with leading dimension lda."""
    cdef int k
    for k in range(f):
        a[<Py_ssize_t>k * lda + k] += lam


cdef uint8_t _row_cholesky_blas(
    const floating* gram,           # IN  (f, f) YᵀY + λI
    const floating* other,          # IN  (n_other, f) Y
    const index_t* items,           # IN  (n_u,)
    const floating* c_u,            # IN  (n_u,)
    Py_ssize_t n_u,
    int f,
    Py_ssize_t chunk,
    bint per_row,
    floating lam,                   # IN  λ_u (if per_row)
    floating* a,                    # SCRATCH (f, f)
    floating* block,                # SCRATCH (chunk, f)
    floating* x,                    # OUT (f,)
) noexcept nogil:
    """Exact solve of one row into x with BLAS/LAPACK; returns a status code."""
    cdef Py_ssize_t q, j, n_pos = 0, n_neg = 0
    cdef const floating* y
    cdef floating* dst
    cdef floating c, scale
    memcpy(a, gram, f * f * sizeof(floating))
    if per_row:
        _add_to_diagonal(f, f, lam, a)
    memset(x, 0, f * sizeof(floating))
    for q in range(n_u):
        y = other + <Py_ssize_t>items[q] * f
        c = c_u[q]
        for j in range(f):
            x[j] += c * y[j]
        # (c − 1) y yᵀ = ±(√|c − 1| y)(√|c − 1| y)ᵀ: positives fill the block from the front,
        # negatives from the back, and both go to syrk when the block is full.
        if c > 1:
            scale = sqrt(c - 1)
            dst = block + n_pos * f
            n_pos += 1
        elif c < 1:
            scale = sqrt(1 - c)
            n_neg += 1
            dst = block + (chunk - n_neg) * f
        else:
            continue
        for j in range(f):
            dst[j] = scale * y[j]
        if n_pos + n_neg == chunk:
            _add_outer(f, <int>n_pos, 1, block, a)
            _add_outer(f, <int>n_neg, -1, block + (chunk - n_neg) * f, a)
            n_pos = 0
            n_neg = 0
    _add_outer(f, <int>n_pos, 1, block, a)
    _add_outer(f, <int>n_neg, -1, block + (chunk - n_neg) * f, a)
    if _cholesky_solve(f, a, x) != 0:
        return NOT_POSITIVE_DEFINITE
    return SOLVED


cdef uint8_t _row_cholesky_simd(
    const float* gram,              # IN  (fp, fp) YᵀY + λI, identity on the padding
    const float* other,             # IN  (n_other, f) Y
    const index_t* items,           # IN  (n_u,)
    const float* c_u,               # IN  (n_u,)
    Py_ssize_t n_u,
    int f,
    int fp,                         # f rounded up to SIMD_TILE
    Py_ssize_t chunk,
    bint per_row,
    float lam,                      # IN  λ_u (if per_row)
    float* a,                       # SCRATCH (fp, fp)
    float* g,                       # SCRATCH (chunk, fp), columns f..fp zero
    float* gw,                      # SCRATCH (chunk, fp), columns f..fp zero
    float* x,                       # OUT (fp,)
) noexcept nogil:
    """Exact solve of one row into x with the SIMD kernels; returns a status code."""
    cdef Py_ssize_t q, n = 0
    memcpy(a, gram, fp * fp * sizeof(float))
    if per_row:
        # Only the f real columns: the padding's identity block keeps its pivots at 1.
        _add_to_diagonal(f, fp, lam, a)
    memset(x, 0, fp * sizeof(float))
    for q in range(n_u):
        if q + PREFETCH_AHEAD < n_u:
            _prefetch_row(other + <Py_ssize_t>items[q + PREFETCH_AHEAD] * f, f)
        n += fcf_add_entry_f(f, other + <Py_ssize_t>items[q] * f, c_u[q], x, g + n * fp, gw + n * fp)
        if n == chunk:
            fcf_rank_update_f(fp, <int>n, 1, gw, g, fp, a, fp)
            n = 0
    fcf_rank_update_f(fp, <int>n, 1, gw, g, fp, a, fp)
    if fcf_cholesky_upper_f(fp, a, fp) != 0:
        return NOT_POSITIVE_DEFINITE
    fcf_cholesky_solve_upper_f(fp, a, fp, x)
    return SOLVED


# --- one row: conjugate gradient ---------------------------------------------------------

cdef void _sparse_product(
    const floating* other,          # IN  (n_other, f) Y
    const index_t* items,           # IN  (n_u,)
    const floating* c_u,            # IN  (n_u,)
    Py_ssize_t n_u,
    int f,
    bint simd,
    Py_ssize_t chunk,
    bint gathered,                  # block already holds Y_u (else it is a chunk buffer)
    floating* block,                # SCRATCH (n_u or chunk, f)
    floating* t,                    # SCRATCH (chunk,)
    const floating* v,              # IN  (f,)
    bint residual,
    floating* out,                  # IN/OUT (f,)
) noexcept nogil:
    """out += Y_uᵀ h, where h = c − (c − 1) ⊙ (Y_u v) if residual, else (c − 1) ⊙ (Y_u v)."""
    cdef Py_ssize_t start = 0, q, m
    cdef floating* rows
    cdef floating c
    while start < n_u:
        m = min(chunk, n_u - start)
        if gathered:
            rows = block + start * f
        else:
            _gather(other, items + start, m, f, block)
            rows = block
        if floating is float:
            if simd:
                fcf_block_product_f(f, m, rows, c_u + start, v, residual, out)
                start += chunk
                continue
        _rows_times(f, <int>m, rows, v, t)
        for q in range(m):
            c = c_u[start + q]
            if residual:
                t[q] = c - (c - 1) * t[q]
            else:
                t[q] = (c - 1) * t[q]
        _rows_t_times(f, <int>m, 1, rows, t, 1, out)
        start += chunk


cdef inline void _times_a(
    const floating* gram,           # IN  (f, f) YᵀY + λI
    const floating* other,          # IN  (n_other, f) Y
    const index_t* items,           # IN  (n_u,)
    const floating* c_u,            # IN  (n_u,)
    Py_ssize_t n_u,
    int f,
    bint simd,
    Py_ssize_t chunk,
    bint gathered,
    floating* block,                # SCRATCH (BLAS path)
    floating* t,                    # SCRATCH (BLAS path)
    bint per_row,
    floating lam,                   # IN  λ_u (if per_row)
    const floating* v,              # IN  (f,)
    bint residual,
    floating* out,                  # OUT (f,)
) noexcept nogil:
    """out = A v, or b − A v if residual, without forming A."""
    cdef floating sign = -1 if residual else 1
    cdef floating scaled = sign * lam
    cdef int j
    if floating is float:
        if simd:
            fcf_symv_f(f, sign, gram, v, out)
        else:
            _rows_t_times(f, f, sign, gram, v, 0, out)
    else:
        _rows_t_times(f, f, sign, gram, v, 0, out)
    if per_row:
        for j in range(f):
            out[j] += scaled * v[j]
    _sparse_product(other, items, c_u, n_u, f, simd, chunk, gathered, block, t, v, residual, out)


cdef uint8_t _row_cg(
    const floating* gram,           # IN  (f, f) YᵀY + λI
    const floating* other,          # IN  (n_other, f) Y
    const index_t* items,           # IN  (n_u,)
    const floating* c_u,            # IN  (n_u,)
    Py_ssize_t n_u,
    int f,
    int cg_steps,
    bint simd,
    Py_ssize_t chunk,
    Py_ssize_t block_rows,
    floating* block,                # SCRATCH (block_rows, f), BLAS path
    floating* t,                    # SCRATCH (chunk,), BLAS path
    floating* r,                    # SCRATCH (f,)
    floating* p,                    # SCRATCH (f,)
    floating* ap,                   # SCRATCH (f,)
    bint per_row,
    floating lam,                   # IN  λ_u (if per_row)
    floating* x,                    # IN/OUT (f,) warm start, then the result
) noexcept nogil:
    """``cg_steps`` CG steps on one row from x, in the reference's order; returns a status code."""
    cdef bint gathered = n_u <= block_rows
    cdef floating rs, rs_new, pap, alpha, beta
    cdef int step, j
    if gathered:
        _gather(other, items, n_u, f, block)
    # r = b − A x = Y_uᵀ (c − (c − 1) ⊙ (Y_u x)) − (YᵀY + λI) x − λ_u x
    _times_a(gram, other, items, c_u, n_u, f, simd, chunk, gathered, block, t, per_row, lam, x, True, r)
    memcpy(p, r, f * sizeof(floating))
    rs = _dot(f, r, r)
    for step in range(cg_steps):
        if rs < _CG_TOLERANCE:
            break
        _times_a(gram, other, items, c_u, n_u, f, simd, chunk, gathered, block, t, per_row, lam, p, False, ap)
        pap = _dot(f, p, ap)
        if not pap > 0:  # also catches NaN: A is not positive definite along p
            return NOT_POSITIVE_DEFINITE
        alpha = rs / pap
        for j in range(f):
            x[j] += alpha * p[j]
            r[j] -= alpha * ap[j]
        rs_new = _dot(f, r, r)
        beta = rs_new / rs
        for j in range(f):
            p[j] = r[j] + beta * p[j]
        rs = rs_new
    return SOLVED


# --- all rows ----------------------------------------------------------------------------

def _half_step(
    const index_t[::1] indptr,          # IN  (n_rows + 1,)
    const index_t[::1] indices,         # IN  (nnz,)
    const floating[::1] confidence,     # IN  (nnz,)
    const floating[:, ::1] other,       # IN  (n_other, f)
    floating[:, ::1] factors,           # IN/OUT (n_rows, f)
    const floating[:, ::1] gram,        # IN  (f, f) YᵀY + λI; (fp, fp) for SIMD Cholesky
    const floating[::1] row_reg,        # IN  (n_rows,) λ_u, or (0,) for none
    int cg_steps,
    bint simd,
    Py_ssize_t chunk,
    Py_ssize_t block_rows,
    floating[:, ::1] scratch,           # SCRATCH (n_threads, slab), laid out by _scratch_layout
    const Py_ssize_t[::1] at,           # IN  offsets of x, r, p, ap, t, a, g, gw in a slab
    uint8_t[::1] status,                # OUT (n_rows,)
    int n_threads,
):
    cdef Py_ssize_t n_rows = factors.shape[0], u, start, n_u
    cdef int f = <int>factors.shape[1], fp = <int>gram.shape[0]
    cdef Py_ssize_t at_x = at[0], at_r = at[1], at_p = at[2], at_ap = at[3]
    cdef Py_ssize_t at_t = at[4], at_a = at[5], at_g = at[6], at_gw = at[7]
    cdef const floating* other_base = &other[0, 0] if other.shape[0] else NULL
    cdef const index_t* index_base = &indices[0] if indices.shape[0] else NULL
    cdef const floating* c_base = &confidence[0] if confidence.shape[0] else NULL
    cdef bint per_row = row_reg.shape[0] > 0
    cdef floating* slab
    cdef floating lam
    cdef uint8_t code

    # Rows differ in length by orders of magnitude, so threads take them in small batches.
    for u in prange(n_rows, nogil=True, schedule="dynamic", chunksize=8, num_threads=n_threads):
        start = indptr[u]
        n_u = indptr[u + 1] - start
        if n_u == 0:
            memset(&factors[u, 0], 0, f * sizeof(floating))
            continue
        slab = &scratch[threadid(), 0]
        lam = row_reg[u] if per_row else 0
        if cg_steps == 0:
            if floating is float:
                if simd:
                    code = _row_cholesky_simd(
                        &gram[0, 0], other_base, index_base + start, c_base + start, n_u, f, fp,
                        chunk, per_row, lam, slab + at_a, slab + at_g, slab + at_gw, slab + at_x,
                    )
                else:
                    code = _row_cholesky_blas(
                        &gram[0, 0], other_base, index_base + start, c_base + start, n_u, f, chunk,
                        per_row, lam, slab + at_a, slab + at_g, slab + at_x,
                    )
            else:
                code = _row_cholesky_blas(
                    &gram[0, 0], other_base, index_base + start, c_base + start, n_u, f, chunk,
                    per_row, lam, slab + at_a, slab + at_g, slab + at_x,
                )
        else:
            memcpy(slab + at_x, &factors[u, 0], f * sizeof(floating))
            code = _row_cg(
                &gram[0, 0], other_base, index_base + start, c_base + start, n_u, f, cg_steps,
                simd, chunk, block_rows, slab + at_g, slab + at_t, slab + at_r, slab + at_p,
                slab + at_ap, per_row, lam, slab + at_x,
            )
        if code == SOLVED and not _all_finite(f, slab + at_x):
            code = NOT_FINITE
        if code == SOLVED:
            memcpy(&factors[u, 0], slab + at_x, f * sizeof(floating))
        status[u] = code


def _scratch_layout(int f, dtype, int cg_steps, bint simd, Py_ssize_t longest, bint weighted=True):
    """Sizes of the per-thread buffers: (fp, chunk, block_rows, offsets, slab size).

    Offsets (in elements) of x, r, p, ap, t, a, g, gw in one thread's slab, each on a cache
    line; a buffer a path does not use has size 0 (gw without ``weighted``: the explicit
    half-step adds its rows with weight 1).
    """
    itemsize = np.dtype(dtype).itemsize
    line = ALIGN_BYTES // itemsize
    fp = _round_up(f, SIMD_TILE) if simd and not cg_steps else f
    chunk = max(16, min(CHUNK_BYTES // (fp * itemsize), longest))
    if cg_steps:
        # A row's rows of Y are gathered once, into a block of up to CG_BLOCK_BYTES.
        block_rows = max(chunk, min(longest, CG_BLOCK_BYTES // (f * itemsize)))
        sizes = [f, f, f, f, chunk, 0, block_rows * f, 0]
    else:
        block_rows = chunk
        sizes = [fp, 0, 0, 0, 0, fp * fp, chunk * fp, chunk * fp if simd and weighted else 0]
    # (No negative indices here: the build sets wraparound=False, for Python objects too.)
    ends = np.cumsum([_round_up(size, line) for size in sizes])
    offsets = np.concatenate([[0], ends[:len(sizes) - 1]]).astype(np.intp)
    return fp, chunk, block_rows, offsets, int(ends[len(sizes) - 1])


def _aligned_zeros(Py_ssize_t n_threads, Py_ssize_t size, dtype):
    """Zeroed (n_threads, stride) scratch whose rows start on cache lines, stride >= size."""
    itemsize = np.dtype(dtype).itemsize
    line = ALIGN_BYTES // itemsize
    stride = _round_up(max(size, 1), line)
    raw = np.zeros(n_threads * stride + line, dtype=dtype)
    offset = (-raw.ctypes.data % ALIGN_BYTES) // itemsize
    return raw[offset:offset + n_threads * stride].reshape(n_threads, stride)


def _round_up(n, multiple):
    return (n + multiple - 1) // multiple * multiple


def als_half_step(indptr, indices, confidence, other_factors, factors, regularization, row_regularization, cg_steps,
                  gram, n_threads):
    """Solve every row's normal equations in place; see ``reference.als_half_step``."""
    dtype = factors.dtype
    n_rows, f = factors.shape
    simd = _simd and dtype == np.float32
    longest = int(np.diff(indptr).max()) if n_rows else 0
    fp, chunk, block_rows, offsets, slab = _scratch_layout(f, dtype, cg_steps, simd, longest)
    # Y is fixed during this half-step, so YᵀY (+ λI) is computed once, as in the reference.
    padded = np.eye(fp, dtype=dtype)  # the identity pads SIMD Cholesky's matrix to fp x fp
    padded[:f, :f] = other_factors.T @ other_factors if gram is None else gram
    padded[:f, :f] += dtype.type(regularization) * np.eye(f, dtype=dtype)
    status = np.zeros(n_rows, dtype=np.uint8)
    _half_step(
        indptr, indices, confidence, other_factors, factors, padded, row_regularization, cg_steps, simd, chunk,
        block_rows, _aligned_zeros(n_threads, slab, dtype), offsets, status, n_threads,
    )
    raise_failed_rows("als_half_step", status, regularization, cg_steps, row_regularization=row_regularization)
    return factors


# --- explicit ratings: one row ---------------------------------------------------------------

cdef inline void _explicit_start(int m, int fp, Py_ssize_t n_u, double reg_factors, double reg_bias,
                                 floating* a, floating* x) noexcept nogil:
    """a = n_u diag(λ_f, …, λ_f, λ_b) on the m x m system (identity on the padding up to fp); x = 0."""
    cdef int k
    memset(a, 0, <Py_ssize_t>fp * fp * sizeof(floating))
    memset(x, 0, fp * sizeof(floating))
    for k in range(m - 1):
        a[<Py_ssize_t>k * fp + k] = <floating>n_u * <floating>reg_factors
    a[<Py_ssize_t>(m - 1) * fp + m - 1] = <floating>n_u * <floating>reg_bias
    for k in range(m, fp):
        a[<Py_ssize_t>k * fp + k] = 1


cdef inline void _explicit_entry(
    const floating* other, const floating* other_bias, index_t item, floating rating, floating global_mean,
    int f, floating* row, floating* x,
) noexcept nogil:
    """row = ỹ_j = (y_j, 1) and x += (r_uj − μ − c_j) ỹ_j (plain loop: the BLAS path)."""
    cdef floating t = rating - global_mean - other_bias[item]
    cdef const floating* y = other + <Py_ssize_t>item * f
    cdef int j
    for j in range(f):
        row[j] = y[j]
        x[j] += t * y[j]
    row[f] = 1
    x[f] += t


cdef uint8_t _row_explicit_blas(
    const floating* other,          # IN  (n_other, f) Y
    const floating* other_bias,     # IN  (n_other,) c
    const index_t* items,           # IN  (n_u,)
    const floating* r_u,            # IN  (n_u,)
    Py_ssize_t n_u,
    int f,
    Py_ssize_t chunk,
    double global_mean,
    double reg_factors,
    double reg_bias,
    floating* a,                    # SCRATCH (f + 1, f + 1)
    floating* block,                # SCRATCH (chunk, f + 1)
    floating* x,                    # OUT (f + 1,) = (x_u, b_u)
) noexcept nogil:
    """Exact solve of one row's ridge system with BLAS/LAPACK; returns a status code."""
    cdef int m = f + 1
    cdef Py_ssize_t q, n = 0
    _explicit_start(m, m, n_u, reg_factors, reg_bias, a, x)
    for q in range(n_u):
        if q + PREFETCH_AHEAD < n_u:
            _prefetch_row(other + <Py_ssize_t>items[q + PREFETCH_AHEAD] * f, f)
        _explicit_entry(other, other_bias, items[q], r_u[q], <floating>global_mean, f, block + n * m, x)
        n += 1
        if n == chunk:
            _add_outer(m, <int>n, 1, block, a)
            n = 0
    _add_outer(m, <int>n, 1, block, a)
    if _cholesky_solve(m, a, x) != 0:
        return NOT_POSITIVE_DEFINITE
    return SOLVED


cdef uint8_t _row_explicit_simd(
    const float* other,             # IN  (n_other, f) Y
    const float* other_bias,        # IN  (n_other,) c
    const index_t* items,           # IN  (n_u,)
    const float* r_u,               # IN  (n_u,)
    Py_ssize_t n_u,
    int f,
    int fp,                         # f + 1 rounded up to SIMD_TILE
    Py_ssize_t chunk,
    double global_mean,
    double reg_factors,
    double reg_bias,
    float* a,                       # SCRATCH (fp, fp)
    float* g,                       # SCRATCH (chunk, fp), columns f + 1..fp zero
    float* x,                       # OUT (fp,) = (x_u, b_u, 0…)
) noexcept nogil:
    """Exact solve of one row's ridge system with the SIMD kernels; returns a status code."""
    cdef Py_ssize_t q, n = 0
    cdef float* row
    cdef float mu = <float>global_mean
    _explicit_start(f + 1, fp, n_u, reg_factors, reg_bias, a, x)
    for q in range(n_u):
        if q + PREFETCH_AHEAD < n_u:
            _prefetch_row(other + <Py_ssize_t>items[q + PREFETCH_AHEAD] * f, f)
        row = g + n * fp
        memcpy(row, other + <Py_ssize_t>items[q] * f, f * sizeof(float))
        row[f] = 1
        fcf_axpy_f(f + 1, r_u[q] - mu - other_bias[items[q]], row, x)
        n += 1
        if n == chunk:
            fcf_rank_update_f(fp, <int>n, 1, g, g, fp, a, fp)
            n = 0
    fcf_rank_update_f(fp, <int>n, 1, g, g, fp, a, fp)
    if fcf_cholesky_upper_f(fp, a, fp) != 0:
        return NOT_POSITIVE_DEFINITE
    fcf_cholesky_solve_upper_f(fp, a, fp, x)
    return SOLVED


# --- explicit ratings: all rows --------------------------------------------------------------

def _explicit_half_step(
    const index_t[::1] indptr,          # IN  (n_rows + 1,)
    const index_t[::1] indices,         # IN  (nnz,)
    const floating[::1] ratings,        # IN  (nnz,)
    const floating[:, ::1] other,       # IN  (n_other, f)
    const floating[::1] other_bias,     # IN  (n_other,)
    floating[:, ::1] factors,           # OUT (n_rows, f)
    floating[::1] bias,                 # OUT (n_rows,)
    double global_mean,
    double reg_factors,
    double reg_bias,
    bint simd,
    int fp,
    Py_ssize_t chunk,
    floating[:, ::1] scratch,           # SCRATCH (n_threads, slab), laid out by _scratch_layout
    const Py_ssize_t[::1] at,           # IN  offsets of x, r, p, ap, t, a, g, gw in a slab
    uint8_t[::1] status,                # OUT (n_rows,)
    int n_threads,
):
    cdef Py_ssize_t n_rows = factors.shape[0], u, start, n_u
    cdef int f = <int>factors.shape[1]
    cdef Py_ssize_t at_x = at[0], at_a = at[5], at_g = at[6]
    cdef const floating* other_base = &other[0, 0] if other.shape[0] else NULL
    cdef const floating* bias_base = &other_bias[0] if other_bias.shape[0] else NULL
    cdef const index_t* index_base = &indices[0] if indices.shape[0] else NULL
    cdef const floating* r_base = &ratings[0] if ratings.shape[0] else NULL
    cdef floating* slab
    cdef uint8_t code

    # Rows differ in length by orders of magnitude, so threads take them in small batches.
    for u in prange(n_rows, nogil=True, schedule="dynamic", chunksize=8, num_threads=n_threads):
        start = indptr[u]
        n_u = indptr[u + 1] - start
        if n_u == 0:
            memset(&factors[u, 0], 0, f * sizeof(floating))
            bias[u] = 0
            continue
        slab = &scratch[threadid(), 0]
        if floating is float and simd:
            code = _row_explicit_simd(
                other_base, bias_base, index_base + start, r_base + start, n_u, f, fp, chunk,
                global_mean, reg_factors, reg_bias, slab + at_a, slab + at_g, slab + at_x,
            )
        else:
            code = _row_explicit_blas(
                other_base, bias_base, index_base + start, r_base + start, n_u, f, chunk,
                global_mean, reg_factors, reg_bias, slab + at_a, slab + at_g, slab + at_x,
            )
        if code == SOLVED and not _all_finite(f + 1, slab + at_x):
            code = NOT_FINITE
        if code == SOLVED:
            memcpy(&factors[u, 0], slab + at_x, f * sizeof(floating))
            bias[u] = slab[at_x + f]
        status[u] = code


def als_explicit_half_step(indptr, indices, ratings, other_factors, other_bias, factors, bias, global_mean,
                           reg_factors, reg_bias, n_threads):
    """Every row's weighted-λ ridge solve, in place; see ``reference.als_explicit_half_step``."""
    dtype = factors.dtype
    n_rows, f = factors.shape
    simd = _simd and dtype == np.float32
    longest = int(np.diff(indptr).max()) if n_rows else 0
    fp, chunk, _, offsets, slab = _scratch_layout(f + 1, dtype, 0, simd, longest, weighted=False)
    status = np.zeros(n_rows, dtype=np.uint8)
    _explicit_half_step(
        indptr, indices, ratings, other_factors, other_bias, factors, bias, global_mean, reg_factors,
        reg_bias, simd, fp, chunk, _aligned_zeros(n_threads, slab, dtype), offsets, status, n_threads,
    )
    raise_failed_explicit_rows(status, reg_factors, reg_bias)
    return factors, bias

# --- loss --------------------------------------------------------------------------------

def _loss_rows(
    const index_t[::1] indptr,          # IN  (n_users + 1,)
    const index_t[::1] indices,         # IN  (nnz,)
    const floating[::1] confidence,     # IN  (nnz,)
    const floating[:, ::1] x,           # IN  (n_users, f)
    const floating[:, ::1] y,           # IN  (n_items, f)
    const double[:, ::1] gram,          # IN  (f, f) YᵀY in float64
    double regularization,
    const double[::1] user_reg,         # IN  (n_users,) λ_u, or (0,) for none
    double[::1] out,                    # OUT (n_users,)
    int n_threads,
):
    cdef Py_ssize_t n_users = x.shape[0], f = x.shape[1], u, q, i, j
    cdef double total, s, xi, score, c, norm
    cdef bint per_row = user_reg.shape[0] > 0
    for u in prange(n_users, nogil=True, schedule="static", num_threads=n_threads):
        # x_uᵀ (YᵀY) x_u + λ‖x_u‖² (+ λ_u‖x_u‖²): every pair as if unstored, plus the row's
        # regularisation.
        total = 0
        norm = 0
        for i in range(f):
            xi = x[u, i]
            s = 0
            for j in range(f):
                s = s + gram[i, j] * x[u, j]
            total = total + xi * s + regularization * xi * xi
            norm = norm + xi * xi
        if per_row:
            total = total + user_reg[u] * norm
        for q in range(indptr[u], indptr[u + 1]):
            score = 0
            for j in range(f):
                score = score + <double>x[u, j] * <double>y[indices[q], j]
            c = confidence[q]
            total = total + c * (1 - score) * (1 - score) - score * score
        out[u] = total


def als_loss(indptr, indices, confidence, user_factors, item_factors, regularization, user_regularization,
             item_regularization, n_threads):
    """The implicit-ALS objective in float64; see ``reference.als_loss``."""
    y = item_factors.astype(np.float64)
    gram = y.T @ y
    rows = np.empty(user_factors.shape[0], dtype=np.float64)
    _loss_rows(indptr, indices, confidence, user_factors, item_factors, gram, regularization, user_regularization,
               rows, n_threads)
    # Per-row sums added in a fixed order: the same total at every thread count.
    return float(np.sum(rows) + regularization * np.trace(gram) + item_penalty(y, item_regularization))


# --- iALS++: block coordinate descent over subspaces -----------------------------------------
# Per row u, from its current factors x: s = Y_u x once, then for every block B of b consecutive
# dimensions (the last one shorter when b does not divide f), in order, ``sweeps`` times:
# A_BB = (YᵀY + λI)_BB + λ_u I + Σ (c − 1) y_B y_Bᵀ (syrk on a gathered block of √|c − 1| y_B,
# as on the Cholesky path), g_B = Σ (c − (c − 1) s) y_B − (YᵀY + λI)_B,: x − λ_u x_B, the step
# δ = A_BB⁻¹ g_B (posv), x_B += δ and s += Y_uB δ. Rows of Y are read a block's slice at a
# time, in place: a row's b-wide slice is one or two cache lines, and no gathered copy of Y_u
# (n_u x f) has to fit in the scratch.

cdef inline void _flush_outer(int m, Py_ssize_t chunk, floating* block, Py_ssize_t* counts, floating* a) noexcept nogil:
    """a += the rows ``_stage_outer`` staged (one syrk per sign); the block is empty after."""
    _add_outer(m, <int>counts[0], 1, block, a)
    _add_outer(m, <int>counts[1], -1, block + (chunk - counts[1]) * m, a)
    counts[0] = 0
    counts[1] = 0


cdef inline void _stage_outer(
    int m, const floating* y, floating c, Py_ssize_t chunk, floating* block, Py_ssize_t* counts, floating* a
) noexcept nogil:
    """Add (c − 1) y yᵀ (y of length m) to a's lower triangle through a block of staged rows.

    (c − 1) y yᵀ = ±(√|c − 1| y)(√|c − 1| y)ᵀ: counts[0] positive rows fill the (chunk, m)
    block from its front, counts[1] negative ones from its back, and both go to syrk when it
    is full (``_flush_outer`` adds what is left). c = 1 adds nothing.
    """
    cdef floating scale
    cdef floating* dst
    cdef int j
    if c > 1:
        scale = sqrt(c - 1)
        dst = block + counts[0] * m
        counts[0] += 1
    elif c < 1:
        scale = sqrt(1 - c)
        counts[1] += 1
        dst = block + (chunk - counts[1]) * m
    else:
        return
    for j in range(m):
        dst[j] = scale * y[j]
    if counts[0] + counts[1] == chunk:
        _flush_outer(m, chunk, block, counts, a)


cdef uint8_t _row_subspace(
    const floating* gram,           # IN  (f, f) YᵀY + λI
    floating penalty,               # λ_u − λ: the row's own regularisation
    const floating* other,          # IN  (n_other, f) Y
    const index_t* items,           # IN  (n_u,)
    const floating* c_u,            # IN  (n_u,)
    Py_ssize_t n_u,
    int f,
    int block_size,
    int sweeps,
    Py_ssize_t chunk,
    floating* a,                    # SCRATCH (b, b)
    floating* g,                    # SCRATCH (b,)
    floating* block,                # SCRATCH (chunk, b)
    floating* s,                    # SCRATCH (n_u,) the predictions x·y_i
    floating* x,                    # IN/OUT (f,) warm start, then the result
) noexcept nogil:
    """``sweeps`` sweeps of exact block steps on one row; returns a status code."""
    cdef Py_ssize_t q
    cdef Py_ssize_t counts[2]
    cdef int sweep, k, b, j
    cdef const floating* y
    cdef floating c, h
    counts[0] = 0
    counts[1] = 0
    for q in range(n_u):
        s[q] = _dot(f, other + <Py_ssize_t>items[q] * f, x)
    for sweep in range(sweeps):
        k = 0
        while k < f:
            b = min(block_size, f - k)
            for j in range(b):
                memcpy(a + <Py_ssize_t>j * b, gram + <Py_ssize_t>(k + j) * f + k, b * sizeof(floating))
                a[<Py_ssize_t>j * b + j] += penalty
            _rows_times(f, b, gram + <Py_ssize_t>k * f, x, g)  # the symmetric G's rows B: (G x)_B
            for j in range(b):
                g[j] = -g[j] - penalty * x[k + j]
            for q in range(n_u):
                if q + PREFETCH_AHEAD < n_u:
                    _prefetch_row(other + <Py_ssize_t>items[q + PREFETCH_AHEAD] * f + k, b)
                y = other + <Py_ssize_t>items[q] * f + k
                c = c_u[q]
                h = c - (c - 1) * s[q]
                for j in range(b):
                    g[j] += h * y[j]
                _stage_outer(b, y, c, chunk, block, counts, a)
            _flush_outer(b, chunk, block, counts, a)
            if _cholesky_solve(b, a, g) != 0:
                return NOT_POSITIVE_DEFINITE
            for j in range(b):
                x[k + j] += g[j]
            for q in range(n_u):
                s[q] += _dot(b, other + <Py_ssize_t>items[q] * f + k, g)
            k += b
    return SOLVED


cdef inline void _block_times(int b, int m, int ld, const floating* rows, const floating* v, floating beta,
                              floating* out) noexcept nogil:
    """out (m,) = rows (m, b), each row ``ld`` apart, @ v (b,) + beta * out."""
    cdef char trans = b"T"
    cdef floating one = 1
    cdef int inc = 1
    if floating is float:
        sgemv(&trans, &b, &m, &one, <float*>rows, &ld, <float*>v, &inc, &beta, out, &inc)
    else:
        dgemv(&trans, &b, &m, &one, <double*>rows, &ld, <double*>v, &inc, &beta, out, &inc)


cdef inline void _block_t_times(int b, int m, int ld, const floating* rows, const floating* t,
                                floating* out) noexcept nogil:
    """out (b,) += rowsᵀ (b, m) @ t (m,), rows (m, b) each ``ld`` apart."""
    cdef char trans = b"N"
    cdef floating one = 1
    cdef int inc = 1
    if floating is float:
        sgemv(&trans, &b, &m, &one, <float*>rows, &ld, <float*>t, &inc, &one, out, &inc)
    else:
        dgemv(&trans, &b, &m, &one, <double*>rows, &ld, <double*>t, &inc, &one, out, &inc)


cdef inline void _add_outer_ld(int b, int m, floating alpha, const floating* rows, int ld, floating* a) noexcept nogil:
    """Lower triangle of a (b, b) += alpha * rowsᵀ rows, rows (m, b) each ``ld`` apart."""
    cdef char uplo = b"U"  # column-major upper = row-major lower
    cdef char trans = b"N"
    cdef floating one = 1
    if m == 0:
        return
    if floating is float:
        ssyrk(&uplo, &trans, &b, &m, &alpha, <float*>rows, &ld, &one, a, &b)
    else:
        dsyrk(&uplo, &trans, &b, &m, &alpha, <double*>rows, &ld, &one, a, &b)


cdef uint8_t _row_subspace_gathered(
    const floating* gram,           # IN  (f, f) YᵀY + λI
    floating penalty,               # λ_u − λ: the row's own regularisation
    const floating* other,          # IN  (n_other, f) Y
    const index_t* items,           # IN  (n_u,)
    const floating* c_u,            # IN  (n_u,)
    Py_ssize_t n_u,
    int f,
    int block_size,
    int sweeps,
    floating* a,                    # SCRATCH (b, b)
    floating* g,                    # SCRATCH (b,)
    floating* s,                    # SCRATCH (n_u,) the predictions x·y_i
    floating* h,                    # SCRATCH (n_u,)
    floating* c,                    # SCRATCH (n_u,) the confidences in the gathered order
    floating* y_u,                  # SCRATCH (n_u, f): the row's rows of Y, gathered once
    floating* z_u,                  # SCRATCH (n_u, f): the rank updates' rows, √|c − 1| y ((c − 1) y with simd)
    floating* x,                    # IN/OUT (f,) warm start, then the result
    bint simd,                      # float32 blocks of a multiple of SIMD_TILE run on the SIMD kernels
) noexcept nogil:
    """_row_subspace's steps on a row whose Y_u fits the scratch.

    Y_u is gathered once, entries with c > 1 first, c = 1 next and c < 1 last. On BLAS, Y_u is
    row-major and beside it Z_u = diag(√|c − 1|) Y_u for the first and last groups; every block
    reads its columns in place, with two syrk on Z_u (one per sign) for Σ (c − 1) y_B y_Bᵀ and
    gemv for the right side and the predictions, instead of fetching n_u scattered rows of Y
    three times per block and taking n_u square roots per block. On the SIMD kernels Y_u is
    gathered block by block: block B's columns are a contiguous (n_u, b) panel, which the
    block's three passes read in order (a 1 KiB row stride, at f = 256, would map a block's
    slice onto a few cache sets and out of L1).
    """
    cdef Py_ssize_t q, pos = 0, neg = 0, one_at
    cdef int sweep, k, b, j, m = <int>n_u, n_pos, n_neg
    cdef floating cq
    cdef floating* panel
    cdef bint simd_block
    # Every block is a multiple of SIMD_TILE wide only if f and block_size are: then all of
    # them run on the SIMD kernels, which take (c − 1) y; else all on BLAS, with √|c − 1| y.
    simd = simd and f % SIMD_TILE_C == 0 and block_size % SIMD_TILE_C == 0
    if floating is double:
        simd = False
    for q in range(n_u):
        if c_u[q] > 1:
            pos += 1
        elif c_u[q] < 1:
            neg += 1
    n_pos, n_neg = <int>pos, <int>neg
    one_at = pos
    pos = 0
    neg = n_u - n_neg
    for q in range(n_u):
        if q + PREFETCH_AHEAD < n_u:
            _prefetch_row(other + <Py_ssize_t>items[q + PREFETCH_AHEAD] * f, f)
        cq = c_u[q]
        if cq > 1:
            j = <int>pos
            pos += 1
        elif cq < 1:
            j = <int>neg
            neg += 1
        else:
            j = <int>one_at
            one_at += 1
        if simd:
            k = 0
            while k < f:  # into the panels: block k's row j at k n_u + j b
                b = min(block_size, f - k)
                if floating is float:
                    fcf_copy_f(b, other + <Py_ssize_t>items[q] * f + k, y_u + <Py_ssize_t>k * n_u + <Py_ssize_t>j * b)
                k += b
        else:
            memcpy(y_u + <Py_ssize_t>j * f, other + <Py_ssize_t>items[q] * f, f * sizeof(floating))
        c[j] = cq
    if simd:
        # The SIMD rank update weighs each row by c − 1 on the fly (z_u is not used).
        for q in range(n_u):
            h[q] = c[q] - 1
        memset(s, 0, n_u * sizeof(floating))
        k = 0
        while k < f:
            b = min(block_size, f - k)
            if floating is float:
                fcf_block_times_f(b, m, b, y_u + <Py_ssize_t>k * n_u, x + k, s)
            k += b
    else:
        for q in range(n_u):
            if c[q] != 1:
                cq = sqrt(c[q] - 1) if c[q] > 1 else sqrt(1 - c[q])
                for j in range(f):
                    z_u[q * f + j] = cq * y_u[q * f + j]
        _rows_times(f, m, y_u, x, s)
    for sweep in range(sweeps):
        k = 0
        while k < f:
            b = min(block_size, f - k)
            simd_block = simd
            for j in range(b):
                memcpy(a + <Py_ssize_t>j * b, gram + <Py_ssize_t>(k + j) * f + k, b * sizeof(floating))
                a[<Py_ssize_t>j * b + j] += penalty
            # (G x)_B from the symmetric G's rows B
            if floating is float:
                if simd_block:
                    memset(g, 0, b * sizeof(float))
                    fcf_block_times_f(f, b, f, gram + <Py_ssize_t>k * f, x, g)
                else:
                    _rows_times(f, b, gram + <Py_ssize_t>k * f, x, g)
            else:
                _rows_times(f, b, gram + <Py_ssize_t>k * f, x, g)
            for j in range(b):
                g[j] = -g[j] - penalty * x[k + j]
            if floating is float:
                if simd_block:
                    # Row-major upper triangle += Σ (c − 1) y_B y_Bᵀ (weights in h), the right side
                    # Σ (c − (c − 1) s) y_B, the SIMD Cholesky solve, then s += Y_uB δ.
                    panel = y_u + <Py_ssize_t>k * n_u
                    fcf_weighted_rank_update_f(b, m, h, panel, b, a)
                    fcf_block_residual_f(b, m, b, panel, c, h, s, g)
                    if fcf_cholesky_upper_f(b, a, b) != 0:
                        return NOT_POSITIVE_DEFINITE
                    fcf_cholesky_solve_upper_f(b, a, b, g)
                    for j in range(b):
                        x[k + j] += g[j]
                    fcf_block_times_f(b, m, b, panel, g, s)
                    k += b
                    continue
            for q in range(n_u):
                h[q] = c[q] - (c[q] - 1) * s[q]
            _block_t_times(b, m, f, y_u + k, h, g)
            if not simd_block:
                _add_outer_ld(b, n_pos, 1, z_u + k, f, a)
                _add_outer_ld(b, n_neg, -1, z_u + (n_u - n_neg) * f + k, f, a)
                if _cholesky_solve(b, a, g) != 0:
                    return NOT_POSITIVE_DEFINITE
            for j in range(b):
                x[k + j] += g[j]
            _block_times(b, m, f, y_u + k, g, 1, s)
            k += b
    return SOLVED


cdef uint8_t _row_subspace_streamed(
    const float* gram,              # IN  (f, f) YᵀY + λI
    float penalty,                  # λ_u − λ: the row's own regularisation
    const float* other,             # IN  (n_other, f) Y
    const index_t* items,           # IN  (n_u,)
    const float* c,                 # IN  (n_u,)
    Py_ssize_t n_u,
    int f,
    int block_size,
    int sweeps,
    Py_ssize_t chunk,
    float* a,                       # SCRATCH (b, b)
    float* g,                       # SCRATCH (b,)
    float* panel,                   # SCRATCH (chunk, b)
    float* s,                       # SCRATCH (n_u,) the predictions x·y_i
    float* w,                       # SCRATCH (n_u,) c − 1
    float* step,                    # SCRATCH (b,) the last block's δ
    float* x,                       # IN/OUT (f,) warm start, then the result
) noexcept nogil:
    """_row_subspace_gathered's SIMD steps on a row too long to gather its Y_u.

    Each block streams the row's rows of Y once, ``chunk`` at a time: it gathers their slice
    of the block into a panel for the rank update and the right side, and on the same pass
    (the same rows, the adjacent columns) adds the last block's step to the predictions,
    s += Y_u,B' δ_B'. One pass per block, and the panels' memory only, where gathering Y_u
    whole would take n_u f floats per thread.
    """
    cdef Py_ssize_t q, q0, kb
    cdef int sweep, k, b, j, last_k = 0, last_b = 0
    cdef const float* row
    for q in range(n_u):
        if q + PREFETCH_AHEAD < n_u:
            _prefetch_row(other + <Py_ssize_t>items[q + PREFETCH_AHEAD] * f, f)
        s[q] = fcf_dot_f(f, other + <Py_ssize_t>items[q] * f, x)
        w[q] = c[q] - 1
    for sweep in range(sweeps):
        k = 0
        while k < f:
            b = min(block_size, f - k)
            for j in range(b):
                memcpy(a + <Py_ssize_t>j * b, gram + <Py_ssize_t>(k + j) * f + k, b * sizeof(float))
                a[<Py_ssize_t>j * b + j] += penalty
            memset(g, 0, b * sizeof(float))
            fcf_block_times_f(f, b, f, gram + <Py_ssize_t>k * f, x, g)
            for j in range(b):
                g[j] = -g[j] - penalty * x[k + j]
            q0 = 0
            while q0 < n_u:
                kb = min(chunk, n_u - q0)
                for q in range(q0, q0 + kb):
                    if q + PREFETCH_AHEAD < n_u:
                        _prefetch_row(other + <Py_ssize_t>items[q + PREFETCH_AHEAD] * f + min(last_k, k),
                                      b + last_b)
                    row = other + <Py_ssize_t>items[q] * f
                    if last_b:
                        s[q] += fcf_dot_f(last_b, row + last_k, step)
                    fcf_copy_f(b, row + k, panel + (q - q0) * b)
                fcf_weighted_rank_update_f(b, <int>kb, w + q0, panel, b, a)
                fcf_block_residual_f(b, <int>kb, b, panel, c + q0, w + q0, s + q0, g)
                q0 += kb
            if fcf_cholesky_upper_f(b, a, b) != 0:
                return NOT_POSITIVE_DEFINITE
            fcf_cholesky_solve_upper_f(b, a, b, g)
            for j in range(b):
                x[k + j] += g[j]
            memcpy(step, g, b * sizeof(float))
            last_k, last_b = k, b
            k += b
        if sweep + 1 < sweeps:  # the next sweep's right sides need the predictions up to date
            for q in range(n_u):
                s[q] += fcf_dot_f(last_b, other + <Py_ssize_t>items[q] * f + last_k, step)
            last_b = 0
    return SOLVED


def _subspace_half_step(
    const index_t[::1] indptr,          # IN  (n_rows + 1,)
    const index_t[::1] indices,         # IN  (nnz,)
    const floating[::1] confidence,     # IN  (nnz,)
    const floating[:, ::1] other,       # IN  (n_other, f)
    floating[:, ::1] factors,           # IN/OUT (n_rows, f)
    const floating[:, ::1] gram,        # IN  (f, f) YᵀY + λI
    const floating[::1] row_regularization,  # IN  (n_rows,) or (0,)
    int block_size,
    int sweeps,
    Py_ssize_t chunk,
    Py_ssize_t gather_rows,             # rows with at most this many entries gather their Y_u
    floating[:, ::1] scratch,           # SCRATCH (n_threads, slab), laid out by _subspace_layout
    const Py_ssize_t[::1] at,           # IN  offsets of x, g, s, a, block, h, c, y_u, z_u in a slab
    uint8_t[::1] status,                # OUT (n_rows,)
    bint simd,
    int n_threads,
):
    cdef Py_ssize_t n_rows = factors.shape[0], u, start, n_u
    cdef int f = <int>factors.shape[1]
    cdef bint per_row = row_regularization.shape[0] > 0
    cdef Py_ssize_t at_x = at[0], at_g = at[1], at_s = at[2], at_a = at[3], at_block = at[4]
    cdef Py_ssize_t at_h = at[5], at_c = at[6], at_y = at[7], at_z = at[8]
    cdef const floating* other_base = &other[0, 0] if other.shape[0] else NULL
    cdef const index_t* index_base = &indices[0] if indices.shape[0] else NULL
    cdef const floating* c_base = &confidence[0] if confidence.shape[0] else NULL
    cdef floating* slab
    cdef floating penalty
    cdef uint8_t code
    # As in _row_subspace_gathered: every block a multiple of SIMD_TILE wide, or none.
    cdef bint simd_blocks = simd and f % SIMD_TILE_C == 0 and block_size % SIMD_TILE_C == 0

    # Rows differ in length by orders of magnitude, so threads take them in small batches.
    for u in prange(n_rows, nogil=True, schedule="dynamic", chunksize=8, num_threads=n_threads):
        start = indptr[u]
        n_u = indptr[u + 1] - start
        if n_u == 0:
            memset(&factors[u, 0], 0, f * sizeof(floating))
            continue
        slab = &scratch[threadid(), 0]
        penalty = row_regularization[u] if per_row else 0
        memcpy(slab + at_x, &factors[u, 0], f * sizeof(floating))
        if n_u <= gather_rows:
            code = _row_subspace_gathered(
                &gram[0, 0], penalty, other_base, index_base + start, c_base + start, n_u, f, block_size, sweeps,
                slab + at_a, slab + at_g, slab + at_s, slab + at_h, slab + at_c, slab + at_y, slab + at_z, slab + at_x,
                simd,
            )
        elif floating is float and simd_blocks:
            code = _row_subspace_streamed(
                &gram[0, 0], penalty, other_base, index_base + start, c_base + start, n_u, f, block_size, sweeps,
                chunk, slab + at_a, slab + at_g, slab + at_block, slab + at_s, slab + at_h, slab + at_c, slab + at_x,
            )
        else:
            code = _row_subspace(
                &gram[0, 0], penalty, other_base, index_base + start, c_base + start, n_u, f, block_size, sweeps,
                chunk, slab + at_a, slab + at_g, slab + at_block, slab + at_s, slab + at_x,
            )
        if code == SOLVED and not _all_finite(f, slab + at_x):
            code = NOT_FINITE
        if code == SOLVED:
            memcpy(&factors[u, 0], slab + at_x, f * sizeof(floating))
        status[u] = code


def _subspace_layout(int f, int b, dtype, Py_ssize_t longest):
    """(chunk, gather_rows, offsets of x, g, s, a, block, h, c, y_u, z_u in one thread's slab, slab
    size), each on a cache line. Rows of up to gather_rows entries gather their Y_u and Z_u (at
    most CG_BLOCK_BYTES together, as CG's block); longer ones read Y in place (c then holds
    the streamed path's last step, b long)."""
    itemsize = np.dtype(dtype).itemsize
    line = ALIGN_BYTES // itemsize
    chunk = max(16, min(CHUNK_BYTES // (b * itemsize), longest))
    gather_rows = min(longest, CG_BLOCK_BYTES // (2 * f * itemsize))
    sizes = [f, b, longest, b * b, chunk * b, longest, max(longest, b), gather_rows * f, gather_rows * f]
    ends = np.cumsum([_round_up(size, line) for size in sizes])
    offsets = np.concatenate([[0], ends[:len(sizes) - 1]]).astype(np.intp)
    return chunk, gather_rows, offsets, int(ends[len(sizes) - 1])


def als_subspace_half_step(indptr, indices, confidence, other_factors, factors, regularization, row_regularization,
                           block_size, sweeps, gram, n_threads):
    """iALS++ block coordinate descent per row, in place; see ``reference.als_subspace_half_step``."""
    dtype = factors.dtype
    n_rows, f = factors.shape
    b = min(block_size, f)
    longest = int(np.diff(indptr).max()) if n_rows else 0
    chunk, gather_rows, offsets, slab = _subspace_layout(f, b, dtype, longest)
    # Y is fixed during this half-step, so YᵀY (+ λI) is computed once, as in the reference.
    full = other_factors.T @ other_factors if gram is None else gram
    full = np.ascontiguousarray(full + dtype.type(regularization) * np.eye(f, dtype=dtype), dtype=dtype)
    status = np.zeros(n_rows, dtype=np.uint8)
    _subspace_half_step(
        indptr, indices, confidence, other_factors, factors, full, row_regularization, b, sweeps, chunk,
        gather_rows, _aligned_zeros(n_threads, slab, dtype), offsets, status, _simd and dtype == np.float32, n_threads,
    )
    raise_failed_rows("als_subspace_half_step", status, regularization, 0, row_regularization=row_regularization)
    return factors
