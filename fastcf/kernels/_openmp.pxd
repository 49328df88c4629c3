# Build facts every Cython twin re-exports, so that fastcf.show_versions() can report them.
# FASTCF_CYTHON_VERSION is defined by setup.py; _OPENMP by the compiler when OpenMP is on.

cdef extern from *:
    """
    #ifdef _OPENMP
    #include <omp.h>
    #define FASTCF_OPENMP_VERSION _OPENMP
    #define fastcf_omp_max_threads() omp_get_max_threads()
    #else
    #define FASTCF_OPENMP_VERSION 0
    #define fastcf_omp_max_threads() 1
    #endif
    #ifndef FASTCF_CYTHON_VERSION
    #define FASTCF_CYTHON_VERSION "unknown"
    #endif
    """
    const int FASTCF_OPENMP_VERSION
    const char* FASTCF_CYTHON_VERSION
    int fastcf_omp_max_threads() noexcept nogil
