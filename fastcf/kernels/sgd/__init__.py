"""Biased MF and SVD++ by parallel SGD on a fixed block schedule: entry points and checks.

Twins: ``reference.py`` (the specification, with the schedule and the update rule),
``_numba.py``, ``_cython.pyx``.

Reproducibility. :func:`sgd_schedule` splits users and items into B contiguous blocks each
(cut so that the blocks hold about equal numbers of ratings) and orders the ratings block by
block, shuffled within each block by the seed. :func:`sgd_epoch` then runs B sub-epochs; in
sub-epoch s the B blocks (a, (a + s) mod B) share no user and no item, so threads take them in
any order without touching each other's rows. One seed and one B therefore give one answer,
bit for bit, for ANY thread count; B (not the thread count) bounds the useful parallelism.
"""

from __future__ import annotations

from typing import Optional, Tuple

import numpy as np
from numpy.typing import ArrayLike

from fastcf import _validation
from fastcf.kernels import _backend
from fastcf.kernels._threads import kernel_threads

__all__ = ["sgd_epoch", "sgd_schedule", "svdpp_epoch"]


def sgd_schedule(
    users: ArrayLike,
    items: ArrayLike,
    n_users: int,
    n_items: int,
    n_blocks: int,
    seed: Optional[int] = 0,
) -> Tuple[np.ndarray, np.ndarray]:
    """The block schedule of a set of ratings, for :func:`sgd_epoch`.

    Parameters
    ----------
    users, items : int arrays of shape (nnz,)
        Each rating's user index in [0, n_users) and item index in [0, n_items).
    n_users, n_items : int >= 1
    n_blocks : int >= 1
        B: users and items are each cut into B contiguous ranges holding about nnz / B
        ratings each (a user or item is never split), giving B x B blocks.
    seed : int or None
        Shuffles the ratings within each block; None keeps their given order.

    Returns
    -------
    block_ptr : ndarray of shape (B * B + 1,), int64
        Block (a, b) (user range a, item range b) is ``order[block_ptr[a*B+b]:block_ptr[a*B+b+1]]``.
    order : ndarray of shape (nnz,), int64
        The ratings' positions in visiting order: pass ``users[order]``, ``items[order]`` and
        ``ratings[order]`` to :func:`sgd_epoch`.
    """
    owner = "sgd_schedule"
    n_users = _validation.check_positive_int(n_users, "n_users", owner)
    n_items = _validation.check_positive_int(n_items, "n_items", owner)
    n_blocks = _validation.check_positive_int(n_blocks, "n_blocks", owner)
    _validation.check_allocation((n_users + n_items,), 8, "n_users' and 'n_items", owner, "block boundary table")
    users = _validation.as_index_array(users, "users", owner)
    items = _validation.as_index_array(items, "items", owner)
    if users.shape != items.shape:
        raise ValueError(f"{owner}: 'users' and 'items' must have one length; got {users.shape[0]} and {items.shape[0]}.")
    for arr, name, count in ((users, "users", n_users), (items, "items", n_items)):
        _validation.check_index_range(arr, count, name, owner)
    check_schedule_blocks(n_blocks, users.size, n_users, n_items, owner)
    user_block = _ranges(users, n_users, n_blocks)[users]
    item_block = _ranges(items, n_items, n_blocks)[items]
    block = user_block * n_blocks + item_block
    # A stable sort has one answer whatever its algorithm; NumPy's is a linear radix sort for
    # 16-bit keys (the usual case: n_blocks <= 256) and a merge sort otherwise.
    key = block.astype(np.uint16) if n_blocks * n_blocks <= 1 << 16 else block
    if seed is None:
        order = np.argsort(key, kind="stable")
    else:
        shuffled = np.random.default_rng(seed).permutation(users.size)
        order = shuffled[np.argsort(key[shuffled], kind="stable")]
    block_ptr = np.zeros(n_blocks * n_blocks + 1, dtype=np.int64)
    np.cumsum(np.bincount(block, minlength=n_blocks * n_blocks), out=block_ptr[1:])
    return block_ptr, order.astype(np.int64)


#: Block offsets a schedule may hold beyond what its ratings justify (8 MiB of int64).
_SCHEDULE_SLACK = 1 << 20


def check_schedule_blocks(n_blocks: int, n_ratings: int, n_users: int, n_items: int, owner: str) -> int:
    """Refuse an ``n_blocks`` whose schedule would not fit (ValueError), before allocating.

    The schedule holds n_blocks² block offsets; refused rather than clamped, since another
    block count is another schedule (other bits). Models call this before their factors."""
    most = max_schedule_blocks(n_ratings, n_users, n_items)
    if n_blocks > most:
        raise ValueError(_validation.message(
            owner, "n_blocks", f"at most {most} for {n_ratings} ratings of {n_users} x {n_items} (its "
            f"n_blocks² block offsets would take {8 * n_blocks ** 2 / 2 ** 30:.1f} GiB)", n_blocks))
    return n_blocks


def max_schedule_blocks(n_ratings: int, n_users: int, n_items: int) -> int:
    """The largest ``n_blocks`` :func:`sgd_schedule` accepts: its n_blocks² offsets stay within
    within a few times the ratings and rows, or 8 MiB."""
    return int((_SCHEDULE_SLACK + 4 * (n_ratings + n_users + n_items)) ** 0.5)


def _ranges(index: np.ndarray, count: int, n_blocks: int) -> np.ndarray:
    """Block of each of ``count`` rows: contiguous ranges with about equal numbers of entries."""
    counts = np.bincount(index, minlength=count).astype(np.float64)
    # A row's block is where the middle of its entries falls among B equal shares.
    middle = np.cumsum(counts) - counts / 2
    total = max(counts.sum(), 1.0)
    return np.minimum((middle * n_blocks / total).astype(np.int64), n_blocks - 1)


def sgd_epoch(
    block_ptr: ArrayLike,
    users: ArrayLike,
    items: ArrayLike,
    ratings: ArrayLike,
    user_factors: np.ndarray,
    item_factors: np.ndarray,
    user_bias: np.ndarray,
    item_bias: np.ndarray,
    *,
    global_mean: float,
    learning_rate: float,
    reg_factors: float,
    reg_bias: float,
    n_threads: Optional[int] = None,
    backend: Optional[str] = None,
) -> float:
    """One epoch of SGD for biased MF over a block schedule, updating the factors in place.

    Every rating r of user u and item i, with e = r - (mu + b_u + b_i + p_u . q_i), takes the
    steps (Koren, Bell & Volinsky 2009)

        b_u += lr (e - reg_bias b_u),          b_i += lr (e - reg_bias b_i),
        p_u += lr (e q_i - reg_factors p_u),   q_i += lr (e p_u - reg_factors q_i),

    in the order of the block schedule (see the module docstring and
    :func:`sgd_schedule`): B sub-epochs, each running the blocks (a, (a + s) mod B) in
    parallel, ratings in stored order within a block. The result does not depend on
    ``n_threads``: the same bits at 1 thread or many.

    Parameters
    ----------
    block_ptr : int array of shape (B * B + 1,)
        Block boundaries in the rating arrays, non-decreasing from 0 to nnz.
    users, items : int arrays of shape (nnz,)
        The ratings' user and item indices, in schedule order. The users of the blocks
        (a, 0..B-1) must form an interval of indices disjoint from every other range's, and
        likewise the items of the blocks (0..B-1, b), as :func:`sgd_schedule` makes them
        (checked: that is what keeps the blocks of a sub-epoch apart).
    ratings : array of shape (nnz,)
        Finite; cast to the factors' dtype.
    user_factors : ndarray of shape (n_users, f), float32 or float64, C-contiguous, writable
    item_factors : ndarray of shape (n_items, f), same dtype, C-contiguous, writable
    user_bias : ndarray of shape (n_users,), same dtype, writable
    item_bias : ndarray of shape (n_items,), same dtype, writable
    global_mean, learning_rate, reg_factors, reg_bias : float
        mu, lr (> 0), reg_factors and reg_bias (>= 0); keyword only.
    n_threads : int >= 1, optional
        Threads for this call; default ``fastcf.get_num_threads()``. Capped at the usable
        cores and at B.
    backend : {"auto", "cython", "numba", "reference"}, optional
        Which twin runs; default ``FASTCF_BACKEND`` or "auto". A named backend is required.

    Returns
    -------
    sse : float
        Sum of the squared errors e², each taken just before its rating's update (float64).

    Raises
    ------
    TypeError, ValueError
        Bad arguments, each error naming the argument.
    """
    owner = "sgd_epoch"
    (block_ptr, users, items, ratings, n_blocks, scalars) = _validate(
        owner, block_ptr, users, items, ratings, user_factors, item_factors, user_bias, item_bias, {},
        global_mean, learning_rate, reg_factors, reg_bias,
    )
    return sgd_epoch_unchecked(block_ptr, users, items, ratings, user_factors, item_factors, user_bias, item_bias,
                               scalars["global_mean"], scalars["learning_rate"], scalars["reg_factors"],
                               scalars["reg_bias"], n_threads, backend)


def sgd_epoch_unchecked(block_ptr, users, items, ratings, user_factors, item_factors, user_bias, item_bias,
                        global_mean, learning_rate, reg_factors, reg_bias, n_threads=None, backend=None) -> float:
    """:func:`sgd_epoch` without its checks, for a model's later epochs over the arrays that
    its first, checked epoch accepted unchanged: each check is a serial pass over every rating
    (a fifth of an epoch on the 10M shape, with one core idle).

    The arrays must be what the checked call accepts without converting: block_ptr int64,
    users and items of one int dtype with disjoint block ranges, ratings and the factors of
    one float dtype, C-contiguous; anything else reads out of bounds, without an error.
    """
    twin = _backend.twin("sgd", backend)
    with kernel_threads(n_threads, "sgd_epoch", n_tasks=_side_blocks(block_ptr)) as n:
        return float(twin.sgd_epoch(block_ptr, users, items, ratings, user_factors, item_factors, user_bias,
                                    item_bias, global_mean, learning_rate, reg_factors, reg_bias, n))


def _validate(owner, block_ptr, users, items, ratings, user_factors, item_factors, user_bias, item_bias, per_user,
              global_mean, learning_rate, reg_factors, reg_bias):
    """Check every argument once; ``per_user`` maps names to further (n_users, f) arrays."""
    user_factors = _writable(user_factors, "user_factors", 2, None, owner)
    dtype = user_factors.dtype
    item_factors = _writable(item_factors, "item_factors", 2, dtype, owner)
    if item_factors.shape[1] != user_factors.shape[1]:
        raise ValueError(
            f"{owner}: 'user_factors' and 'item_factors' must have the same number of columns; "
            f"got shapes {user_factors.shape} and {item_factors.shape}."
        )
    n_users, n_items = user_factors.shape[0], item_factors.shape[0]
    user_bias = _writable(user_bias, "user_bias", 1, dtype, owner, length=n_users)
    item_bias = _writable(item_bias, "item_bias", 1, dtype, owner, length=n_items)
    for name, arr in per_user.items():
        _writable(arr, name, 2, dtype, owner, length=n_users)
        if arr.shape != user_factors.shape:
            raise ValueError(f"{owner}: '{name}' must have the shape of 'user_factors' {user_factors.shape}; got {arr.shape}.")
    arrays = (user_factors, item_factors, user_bias, item_bias) + tuple(per_user.values())
    names = ("user_factors", "item_factors", "user_bias", "item_bias") + tuple(per_user)
    for a in range(len(arrays)):
        for b in range(a + 1, len(arrays)):
            if np.may_share_memory(arrays[a], arrays[b]):
                raise ValueError(f"{owner}: '{names[a]}' and '{names[b]}' must not share memory; both are written.")
        _validation.check_finite(arrays[a], names[a], owner)
    scalars = {}
    for name, value, low, strict in (("global_mean", global_mean, None, False),
                                     ("learning_rate", learning_rate, 0.0, True),
                                     ("reg_factors", reg_factors, 0.0, False), ("reg_bias", reg_bias, 0.0, False)):
        scalars[name] = _validation.check_number(value, name, owner, low, strict=strict)

    users = _validation.as_index_array(users, "users", owner)
    items = _validation.as_index_array(items, "items", owner)
    nnz = users.shape[0]
    if items.shape[0] != nnz:
        raise ValueError(f"{owner}: 'users' and 'items' must have one length; got {nnz} and {items.shape[0]}.")
    for arr, name, count in ((users, "users", n_users), (items, "items", n_items)):
        if arr.size and (arr.min() < 0 or arr.max() >= count):
            bad = int(np.flatnonzero((arr < 0) | (arr >= count))[0])
            raise ValueError(f"{owner}: '{name}' must lie in [0, {count}); got {arr[bad]} at position {bad}.")
    if users.dtype != items.dtype:
        users, items = users.astype(np.int64), items.astype(np.int64)
    ratings = np.asarray(ratings)
    if ratings.ndim != 1 or ratings.shape[0] != nnz:
        raise ValueError(f"{owner}: 'ratings' must be 1-D with one value per rating ({nnz}); got shape {ratings.shape}.")
    if ratings.dtype.kind not in "biuf":
        raise TypeError(f"{owner}: 'ratings' must hold real numbers; got dtype {ratings.dtype}.")
    ratings = np.ascontiguousarray(ratings, dtype=dtype)
    _validation.check_finite(ratings, "ratings", owner)
    n_blocks = _check_block_ptr(block_ptr, nnz, owner)
    block_ptr = np.ascontiguousarray(block_ptr, dtype=np.int64)
    _check_disjoint(block_ptr, users, items, n_blocks, owner)

    return block_ptr, users, items, ratings, n_blocks, scalars


def svdpp_epoch(
    block_ptr: ArrayLike,
    users: ArrayLike,
    items: ArrayLike,
    ratings: ArrayLike,
    user_factors: np.ndarray,
    implicit_sums: np.ndarray,
    item_factors: np.ndarray,
    user_bias: np.ndarray,
    item_bias: np.ndarray,
    gradient_sums: np.ndarray,
    *,
    global_mean: float,
    learning_rate: float,
    reg_factors: float,
    reg_bias: float,
    n_threads: Optional[int] = None,
    backend: Optional[str] = None,
) -> float:
    """One SGD epoch of SVD++ (Koren 2008) over a block schedule, with the implicit sums fixed.

    As :func:`sgd_epoch` with the user vector x_u = p_u + z_u, z_u = ``implicit_sums[u]``
    (the caller's |N(u)|^-1/2 Σ_{j ∈ N(u)} y_j, read only). Per rating, with
    e = r - (mu + b_u + b_i + q_i . x_u):

        b_u, b_i as in sgd_epoch,     g_u += e q_i,
        p_u += lr (e q_i - reg_factors p_u),   q_i += lr (e x_u - reg_factors q_i),

    where g_u is ``gradient_sums[u]``, accumulated for the caller's step on the y_j (which
    span all item ranges, so they cannot be written inside the parallel schedule). Same
    schedule and the same guarantee: bit-identical results for any ``n_threads``.

    Parameters
    ----------
    block_ptr, users, items, ratings
        As for :func:`sgd_epoch`.
    user_factors : ndarray of shape (n_users, f), float32 or float64, C-contiguous, writable
        p_u, updated.
    implicit_sums : ndarray of shape (n_users, f), same dtype, C-contiguous
        z_u, read only (it must not share memory with the arrays written).
    item_factors : ndarray of shape (n_items, f), same dtype, writable
        q_i, updated.
    user_bias, item_bias : ndarrays of shape (n_users,) and (n_items,), same dtype, writable
    gradient_sums : ndarray of shape (n_users, f), same dtype, writable
        g_u, added to (zero it first for one epoch's sums).
    global_mean, learning_rate, reg_factors, reg_bias : float
        As for :func:`sgd_epoch`.
    n_threads : int >= 1, optional
    backend : {"auto", "cython", "numba", "reference"}, optional

    Returns
    -------
    sse : float
        Sum of the squared errors, each taken just before its rating's update (float64).
    """
    owner = "svdpp_epoch"
    (block_ptr, users, items, ratings, n_blocks, scalars) = _validate(
        owner, block_ptr, users, items, ratings, user_factors, item_factors, user_bias, item_bias,
        {"gradient_sums": gradient_sums}, global_mean, learning_rate, reg_factors, reg_bias,
    )
    implicit_sums = _validation.native_byte_order(np.asarray(implicit_sums))  # read only: a swapped copy is fine
    if implicit_sums.dtype != user_factors.dtype or implicit_sums.shape != user_factors.shape:
        raise ValueError(
            f"{owner}: 'implicit_sums' must match 'user_factors' in dtype and shape ({user_factors.dtype}, "
            f"{user_factors.shape}); got {implicit_sums.dtype}, {implicit_sums.shape}."
        )
    implicit_sums = np.ascontiguousarray(implicit_sums)
    for name, written in (("user_factors", user_factors), ("item_factors", item_factors), ("gradient_sums", gradient_sums)):
        if np.may_share_memory(implicit_sums, written):
            raise ValueError(f"{owner}: 'implicit_sums' and '{name}' must not share memory; '{name}' is written.")
    _validation.check_finite(implicit_sums, "implicit_sums", owner)
    return svdpp_epoch_unchecked(block_ptr, users, items, ratings, user_factors, implicit_sums, item_factors,
                                 user_bias, item_bias, gradient_sums, scalars["global_mean"], scalars["learning_rate"],
                                 scalars["reg_factors"], scalars["reg_bias"], n_threads, backend)


def svdpp_epoch_unchecked(block_ptr, users, items, ratings, user_factors, implicit_sums, item_factors, user_bias,
                          item_bias, gradient_sums, global_mean, learning_rate, reg_factors, reg_bias, n_threads=None,
                          backend=None) -> float:
    """:func:`svdpp_epoch` without its checks; the arrays as :func:`sgd_epoch_unchecked` needs them,
    ``implicit_sums`` and ``gradient_sums`` like ``user_factors``."""
    twin = _backend.twin("sgd", backend)
    with kernel_threads(n_threads, "svdpp_epoch", n_tasks=_side_blocks(block_ptr)) as n:
        return float(twin.svdpp_epoch(block_ptr, users, items, ratings, user_factors, implicit_sums, item_factors,
                                      user_bias, item_bias, gradient_sums, global_mean, learning_rate, reg_factors,
                                      reg_bias, n))


# --- checks -----------------------------------------------------------------------------

def _writable(arr, name: str, ndim: int, dtype, owner: str, length: Optional[int] = None) -> np.ndarray:
    """An array updated in place: never copied, so everything about it must already be right."""
    if not isinstance(arr, np.ndarray):
        raise TypeError(f"{owner}: '{name}' must be a NumPy array (it is updated in place); got {type(arr).__name__}.")
    if arr.ndim != ndim:
        raise ValueError(f"{owner}: '{name}' must be {ndim}-D; got shape {arr.shape}.")
    if dtype is None:
        if arr.dtype not in _validation.FLOAT_DTYPES or not arr.dtype.isnative:
            raise TypeError(f"{owner}: '{name}' must hold float32 or float64 numbers in native byte order; got dtype {arr.dtype}.")
        if arr.shape[1] == 0:
            raise ValueError(f"{owner}: '{name}' must have at least one column (factor); got shape {arr.shape}.")
    elif arr.dtype != dtype:
        raise TypeError(f"{owner}: '{name}' must have the factors' dtype {dtype}; got {arr.dtype}.")
    if length is not None and arr.shape[0] != length:
        raise ValueError(f"{owner}: '{name}' must have {length} entries (one per factor row); got {arr.shape[0]}.")
    if not arr.flags.c_contiguous:
        raise ValueError(f"{owner}: '{name}' must be C-contiguous, since it is updated in place; got shape {arr.shape}, "
                         f"not contiguous. Pass np.ascontiguousarray({name}) and keep the array returned.")
    if not arr.flags.writeable:
        raise ValueError(f"{owner}: '{name}' must be writable, since it is updated in place; it is read-only.")
    return arr


def _side_blocks(block_ptr) -> int:
    """B of a B x B schedule: at most B blocks run at once."""
    return int(round((block_ptr.shape[0] - 1) ** 0.5))


def _check_block_ptr(block_ptr, nnz: int, owner: str) -> int:
    ptr = _validation.as_index_array(block_ptr, "block_ptr", owner)
    n = int(round((ptr.shape[0] - 1) ** 0.5)) if ptr.shape[0] >= 2 else 0
    if n < 1 or n * n + 1 != ptr.shape[0]:
        raise ValueError(f"{owner}: 'block_ptr' must have B * B + 1 entries for some B >= 1; got {ptr.shape[0]}.")
    if ptr[0] != 0 or ptr[-1] != nnz or (np.diff(ptr) < 0).any():
        raise ValueError(f"{owner}: 'block_ptr' must rise from 0 to the number of ratings ({nnz}); "
                         f"got {ptr[0]} .. {ptr[-1]}{' and a fall' if (np.diff(ptr) < 0).any() else ''}.")
    return n


def _check_disjoint(block_ptr, users, items, n_blocks, owner: str) -> None:
    """The user ranges, and the item ranges, are disjoint intervals, or threads would race.

    Cheap (a few passes of reduceat): block (a, b) is one contiguous slice, so each block's
    smallest and largest user and item are found without sorting; range a's users span
    [min over its blocks, max over its blocks], and those spans must not overlap.
    """
    sizes = np.diff(block_ptr)
    full = np.flatnonzero(sizes > 0)
    if full.size == 0:
        return
    starts = block_ptr[:-1][full]
    for index, side, name in ((users, full // n_blocks, "user"), (items, full % n_blocks, "item")):
        low = np.minimum.reduceat(index, starts)
        high = np.maximum.reduceat(index, starts)
        span_low = np.full(n_blocks, np.iinfo(np.int64).max)
        span_high = np.full(n_blocks, -1)
        np.minimum.at(span_low, side, low)
        np.maximum.at(span_high, side, high)
        used = np.flatnonzero(span_high >= 0)
        order = used[np.argsort(span_low[used], kind="stable")]
        overlap = np.flatnonzero(span_low[order[1:]] <= span_high[order[:-1]])
        if overlap.size:
            a, b = order[overlap[0]], order[overlap[0] + 1]
            raise ValueError(
                f"{owner}: the {name} ranges of the block schedule overlap: range {a} spans {name}s "
                f"{span_low[a]}..{span_high[a]} and range {b} spans {span_low[b]}..{span_high[b]}. Each range "
                f"must be an interval of {name} indices disjoint from the others; build the schedule with sgd_schedule."
            )
