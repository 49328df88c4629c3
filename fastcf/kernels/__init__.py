"""fastcf's compiled kernels: a low-level API for projects that use fastcf as a backend.

Plain arrays in, plain arrays out. Every kernel lives in a folder of its own,
``fastcf/kernels/<kernel>/``, holding three twins with one signature:

- ``reference.py``: plain NumPy/SciPy, the specification;
- ``_numba.py``: parallel Numba (``prange``);
- ``_cython.pyx``: parallel Cython (OpenMP, ``nogil``).

The functions exported here validate their inputs once and dispatch to a twin chosen by
``backend=``, else ``FASTCF_BACKEND``, else the fastest twin that imports.

Kernels
-------
select_topk
    The k best admissible items of every row of a dense score block.
select_topk_dot
    The same for the scores queries @ items.T, computed block by block inside the kernel
    (recommend-all for factor models).
als_half_step
    One implicit-feedback ALS half-step: every row's factors with the other side's fixed
    (exact Cholesky solve or warm-started conjugate gradient).
als_explicit_half_step
    One explicit-rating ALS half-step (biased, weighted-λ, Zhou et al. 2008): every row's bias
    and factors by an exact ridge solve with the other side's fixed.
als_subspace_half_step
    The same half-step by iALS++'s block coordinate descent (Rendle et al. 2021): exact solves
    over blocks of consecutive dimensions, warm-started from the current factors.
als_loss
    The implicit-feedback ALS objective over all user-item pairs, without the dense matrix.
sgd_epoch
    One epoch of SGD for biased matrix factorisation on a fixed block schedule (DSGD/FPSGD):
    one seed gives one answer for any thread count.
sgd_schedule
    The block schedule (user and item ranges, shuffled order) that sgd_epoch runs.
svdpp_epoch
    One epoch of SGD for SVD++ on the same schedule, the implicit-feedback sums held fixed.
ranking_epoch
    One epoch of SGD on a ranking loss (BPR or WARP) over sampled (user, positive, negative)
    triples, users and items represented as sums of feature embeddings; a fixed block
    schedule with one random stream pair per block (identical samples in every twin).
ranking_rng_state, harmonic_rank_weights
    The per-block random streams of ranking_epoch, and WARP's rank weights.
factor_ranking_metrics
    Ranking metrics at k of a factor model for every user in one pass (score, exclude the
    training items, select the top k, measure), without the users x items matrix.
score_ranking_metrics, list_ranking_metrics
    The same metrics from a block of scores, or from given top-k lists.
similarity_topk
    The k most similar rows of every row of a sparse matrix (cosine, asymmetric cosine,
    BM25 / TF-IDF cosine, adjusted cosine, Pearson, Pearson-baseline, Jaccard; shrinkage and
    minimum support) as a CSR, without the dense rows x rows matrix.
"""

from fastcf.kernels._backend import BACKENDS, KERNELS, BackendFallbackWarning
from fastcf.kernels.als import als_explicit_half_step, als_half_step, als_loss, als_subspace_half_step
from fastcf.kernels.bpr import harmonic_rank_weights, ranking_epoch, ranking_rng_state
from fastcf.kernels.metrics import factor_ranking_metrics, list_ranking_metrics, score_ranking_metrics
from fastcf.kernels.sgd import sgd_epoch, sgd_schedule, svdpp_epoch
from fastcf.kernels.similarity import similarity_topk
from fastcf.kernels.topk import select_topk, select_topk_dot

__all__ = [
    "BACKENDS",
    "BackendFallbackWarning",
    "KERNELS",
    "als_explicit_half_step",
    "als_half_step",
    "als_loss",
    "als_subspace_half_step",
    "factor_ranking_metrics",
    "harmonic_rank_weights",
    "list_ranking_metrics",
    "ranking_epoch",
    "ranking_rng_state",
    "score_ranking_metrics",
    "select_topk",
    "select_topk_dot",
    "sgd_epoch",
    "sgd_schedule",
    "similarity_topk",
    "svdpp_epoch",
]
