# Fused types shared by the Cython twins: every twin accepts both index widths.
from libc.stdint cimport int32_t, int64_t

ctypedef fused index_t:
    int32_t
    int64_t
