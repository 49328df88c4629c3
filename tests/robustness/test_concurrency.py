"""Concurrency (issue 11, list 3): many Python threads, two fits at once, fork, and BLAS pools.

The speed claim (BLAS threads set high do not slow a fit) is measured by
scripts/bench_oversubscription.py, not asserted here; this suite checks its mechanism: while
any kernel runs, every BLAS pool is held at one thread.
"""

import os
import subprocess
import sys
import textwrap
import threading

import numpy as np
import pytest


def _in_threads(functions):
    """Run the functions in one thread each, started together; their results in order."""
    results, errors = [None] * len(functions), []
    barrier = threading.Barrier(len(functions))

    def work(position, function):
        try:
            barrier.wait()
            results[position] = function()
        except BaseException as exc:  # reported below, in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(p, f)) for p, f in enumerate(functions)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a thread did not finish within 120 s"
    if errors:
        raise errors[0]
    return results


def test_recommend_from_four_threads_equals_serial(make_model, ratings_matrix):
    model = make_model().fit(ratings_matrix)
    batches = [np.arange(start, ratings_matrix.shape[0], 4) for start in range(4)]
    serial = [model.recommend(users, 6) for users in batches]
    for _ in range(3):
        concurrent = _in_threads([lambda users=users: model.recommend(users, 6) for users in batches])
        for (ids, scores), (serial_ids, serial_scores) in zip(concurrent, serial):
            assert np.array_equal(ids, serial_ids) and np.array_equal(scores, serial_scores)


def test_two_fits_in_two_threads_equal_serial_fits(make_model, ratings_matrix):
    other = ratings_matrix.copy()
    other.data = 6.0 - other.data
    serial = [make_model().fit(m) for m in (ratings_matrix, other)]
    concurrent = _in_threads([lambda m=m: make_model().fit(m) for m in (ratings_matrix, other)])
    users = np.arange(ratings_matrix.shape[0])
    for got, expected in zip(concurrent, serial):
        for a, b in zip(got.recommend(users, 5), expected.recommend(users, 5)):
            assert np.array_equal(a, b)


FORK_SCRIPT = textwrap.dedent("""
    import os, sys
    import numpy as np, scipy.sparse as sp
    from fastcf.models import ImplicitALS
    backend = sys.argv[1]
    matrix = sp.random(300, 200, density=0.05, random_state=0, format="csr")
    model = ImplicitALS(factors=8, iterations=2, random_state=0, n_threads=2, backend=backend).fit(matrix)
    users = np.arange(300)
    before = model.recommend(users, 10)  # the parallel kernels have run: their thread pools exist
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read)
        try:
            ids, scores = model.recommend(users, 10)
            again = ImplicitALS(factors=8, iterations=1, random_state=0, n_threads=2, backend=backend).fit(matrix)
            same = np.array_equal(ids, before[0]) and np.array_equal(scores, before[1])
            answer = "same" if same and np.isfinite(again.user_factors_).all() else "different"
        except RuntimeError as exc:
            answer = "RuntimeError: " + str(exc)
        os.write(write, answer.encode())
        os._exit(0)
    os.close(write)
    answer = os.read(read, 1000)
    os.waitpid(pid, 0)
    print(answer.decode())
""")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="fork start method: tested on Linux")
@pytest.mark.parametrize("backend", ["cython", "reference", "numba"])
def test_fork_after_use_then_recommend_and_fit_in_the_child(backend, tmp_path):
    """The child gets the parent's answer (on one thread: GNU OpenMP's pool does not survive
    fork), or, for Numba's OpenMP layer, which would terminate the process, a RuntimeError
    saying what to do. Run in a subprocess with a timeout: a runtime that is not fork-safe
    hangs rather than fails."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    # cwd outside the checkout: `python -c` puts the working folder first on sys.path, and the
    # checkout's fastcf has no compiled twins where fastcf was installed with pip.
    done = subprocess.run([sys.executable, "-c", FORK_SCRIPT, backend], capture_output=True, text=True,
                          timeout=240, env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    answer = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else done.stderr[-2000:]
    from fastcf.kernels._threads import numba_threading_layer

    if backend == "numba" and numba_threading_layer().startswith("omp"):
        assert answer.startswith("RuntimeError: fastcf: the Numba twins cannot run in a process forked"), answer
    else:
        assert answer == "same", answer


def test_blas_pools_are_held_at_one_thread_while_a_kernel_runs(make_model, ratings_matrix, kernel_spy):
    threadpoolctl = pytest.importorskip("threadpoolctl")
    if not any(p["user_api"] == "blas" for p in threadpoolctl.threadpool_info()):
        pytest.skip("no BLAS pool is loaded")
    with threadpoolctl.threadpool_limits(limits=4, user_api="blas"):
        model = make_model().fit(ratings_matrix)
        model.recommend(np.arange(5), 3)
        after = [p["num_threads"] for p in threadpoolctl.threadpool_info() if p["user_api"] == "blas"]
    assert kernel_spy.calls, "no kernel ran"
    for kernel, function, _, blas_threads in kernel_spy.calls:
        assert blas_threads and set(blas_threads) == {1}, (kernel, function, blas_threads)
    assert min(after) > 1, "the BLAS limit was not restored after the kernels"
