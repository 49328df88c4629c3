"""Fuzz fastcf.read_ratings for longer than the test suite does; prints the inputs tried.

    python scripts/fuzz_readers.py --seconds 180            # atheris (libFuzzer), if installed
    python scripts/fuzz_readers.py --seconds 180 --hypothesis

With atheris (``pip install atheris``; wheels exist for CPython 3.11 on Linux x86-64) the
bytes are mutated coverage-guided, fastcf's own modules instrumented. Without it, or with
--hypothesis, a Hypothesis-driven loop draws from the same strategy as the test suite
(fastcf.data._fuzz.hostile_files). Either way the target is fastcf.data._fuzz.read_bytes and
the only exceptions allowed are the documented ones (DataError); anything else stops the
run with the input that caused it (atheris writes it to crash-<hash>).
"""

import argparse
import os
import sys
import tempfile
import time

tried = 0
started = time.perf_counter()


def _report():
    print(f"fuzz_readers: {tried} inputs tried in {time.perf_counter() - started:.0f} s", flush=True)


def _run_atheris(seconds, folder):
    import atheris

    with atheris.instrument_imports(include=["fastcf"]):
        from fastcf.data._fuzz import DOCUMENTED, read_bytes

    def one_input(data: bytes):
        global tried
        tried += 1
        variant = data[0] if data else 0
        try:
            read_bytes(data[1:], variant, folder)
        except DOCUMENTED:
            pass

    # libFuzzer ends the process itself and reports the count ("Done N runs in S second(s)").
    atheris.Setup([sys.argv[0], f"-max_total_time={seconds}", "-rss_limit_mb=4096"], one_input)
    atheris.Fuzz()


def _run_hypothesis(seconds, folder):
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from fastcf.data._fuzz import DOCUMENTED, hostile_files, read_bytes

    deadline = time.perf_counter() + seconds

    @settings(max_examples=10**9, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(data=st.one_of(hostile_files(), st.binary(max_size=300)), variant=st.integers(0, 23))
    def one_input(data, variant):
        global tried
        if time.perf_counter() > deadline:
            raise _TimeUp
        tried += 1
        try:
            read_bytes(data, variant, folder)
        except DOCUMENTED:
            pass

    try:
        one_input()
    except _TimeUp:
        pass
    _report()


class _TimeUp(Exception):
    pass


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=180)
    parser.add_argument("--hypothesis", action="store_true", help="use the Hypothesis loop even if atheris imports")
    args = parser.parse_args()
    folder = tempfile.mkdtemp(prefix="fastcf-fuzz-")
    try:
        import atheris  # noqa: F401
        have_atheris = True
    except ImportError:
        have_atheris = False
        print("fuzz_readers: atheris is not installed; running the Hypothesis loop instead.", flush=True)
    if have_atheris and not args.hypothesis:
        _run_atheris(args.seconds, folder)
    else:
        _run_hypothesis(args.seconds, folder)
    os.rmdir(folder)


if __name__ == "__main__":
    main()
