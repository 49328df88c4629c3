"""Child process of the registry test: runs every malformed case of one group of entries.

``python registry_child.py list`` prints the registry's coverage as JSON.
``python registry_child.py run GROUP START OUT`` runs the group's cases from index START on,
appending JSON lines to OUT: ``{"i", "case", "start": true}`` (flushed) before each case and
``{"i", "verdict", "outcome"}`` after it, so that when a case kills the process the parent
knows which one it was and restarts from the next.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import warnings

import numpy as np
import scipy.sparse as sp

# Far above what the tiny cases need, far below the machine: an allocation sized by a bad
# n_blocks or k fails here (as MemoryError, a reported failure) instead of swapping.
_MEMORY_LIMIT = 6 * 2**30


def _arrays(value, depth=0):
    """The arrays in a result (nested tuples, lists, dicts, sparse matrices, objects)."""
    if depth > 4 or value is None:
        return []
    if isinstance(value, np.ndarray):
        return [value] if value.dtype.kind in "biufc" else []
    if sp.issparse(value):
        return [value.tocsr().data, value.tocsr().indices.astype(np.int64), value.tocsr().indptr.astype(np.int64)]
    if isinstance(value, (float, int, np.number)):
        return [np.asarray(value)]
    if isinstance(value, dict):
        return [a for key in sorted(value, key=str) for a in _arrays(value[key], depth + 1)]
    if isinstance(value, (tuple, list)):
        return [a for part in value for a in _arrays(part, depth + 1)]
    if hasattr(value, "to_numpy"):
        try:
            return [np.asarray(value.to_numpy(dtype=float))]
        except (TypeError, ValueError):
            return []
    return []


def _non_finite(arrays):
    has_nan = any(a.dtype.kind in "fc" and np.isnan(a).any() for a in arrays)
    has_inf = any(a.dtype.kind in "fc" and np.isinf(a).any() for a in arrays)
    return has_nan, has_inf


def _same(a, b):
    if len(a) != len(b):
        return False
    for x, y in zip(a, b):
        if x.shape != y.shape:
            return False
        if not np.allclose(np.asarray(x, dtype=np.complex128), np.asarray(y, dtype=np.complex128), rtol=1e-5,
                           atol=1e-6, equal_nan=True):
            return False
    return True


def _named(message, entry_name, argument, kind=""):
    """The message names the callable or the argument (not a bare numpy/scipy message); for
    an Interactions argument, naming the Interactions' matrix names what was passed."""
    owner = entry_name.split("[")[0].split(".")
    names = {owner[-1], owner[-2]} | set(argument.split("+"))
    if kind == "interactions":
        names.add("Interactions")
    return any(name and name in message for name in names)


def _verdict(entry_name, argument, bad, expect, outcome, baseline, role=""):
    from malformed import ERROR, SAME, SAME_OR_ERROR

    if "unbuilt" in outcome:
        return f"the malformed input could not be built (a test bug): {outcome['unbuilt']}"
    if "raised" in outcome:
        kind, message = outcome["raised"], outcome["message"]
        allowed = outcome["is_type_or_value"] or (bad is not None and bad.key_error and outcome["is_key"])
        if not allowed:
            return f"raised {kind}"
        if not _named(message, entry_name, argument, role):
            return f"{kind} naming neither the callable nor '{argument}'"
        if expect == SAME:
            return f"refused a valid input ({kind})"
        return None
    if expect == ERROR:
        return "accepted (returned without error)"
    nan, inf = outcome["non_finite"]
    base_nan, base_inf = baseline["non_finite"] if baseline else (False, False)
    if nan and not base_nan:
        return "returned NaN silently"
    if inf and not base_inf and not (bad is not None and (bad.non_finite or bad.pads)):
        return "returned inf silently"
    if expect in (SAME, SAME_OR_ERROR) and baseline is not None and not _same(outcome["arrays"], baseline["arrays"]):
        return "returned a different result than the valid call"
    return None


def _call(entry, mutate=None):
    function, kwargs = entry.build()
    if mutate is not None:
        try:
            kwargs = mutate(kwargs)
        except Exception as exc:  # noqa: BLE001 - a bug of the catalogue, reported as such
            return {"unbuilt": f"{type(exc).__name__}: {exc}"[:300]}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        np.seterr(all="ignore")
        try:
            result = function(**kwargs)
            observed = entry.observe(result) if entry.observe else result
        except BaseException as exc:  # noqa: BLE001 - every failure mode is what is being recorded
            if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                raise
            return {"raised": type(exc).__name__, "message": str(exc)[:400],
                    "is_type_or_value": isinstance(exc, (TypeError, ValueError)), "is_key": isinstance(exc, KeyError)}
    arrays = _arrays(observed)
    return {"arrays": arrays, "non_finite": _non_finite(arrays)}


def _mutator(argument, kind, bad):
    from callable_registry import apply

    def mutate(kwargs):
        names = argument.split("+")
        if len(names) == 1:
            kwargs[argument] = apply(kind, kwargs[argument], bad)
        else:
            for name, value in zip(names, apply(kind, tuple(kwargs[n] for n in names), bad)):
                kwargs[name] = value
        return kwargs
    return mutate


#: Kinds run under the non-default twins too: where the twins' native code differs in what it
#: reads, and so in what a bad index does to the process.
TWIN_KINDS = ("csr_pair", "index")


def group_cases(group):
    """[(entry name, case id, argument, kind, malformation, expectation)], the valid call first.

    With REGISTRY_TWIN_SUBSET set, only the cases of TWIN_KINDS (the full catalogue runs under
    the default twin; the others repeat the index cases, which is what keeps CI fast)."""
    from callable_registry import entries

    subset = bool(os.environ.get("REGISTRY_TWIN_SUBSET"))
    out = []
    for name, entry in entries().items():
        if entry.group == group:
            out.append((name, "valid call", None, None, None, None))
            out.extend((name,) + case for case in entry.cases() if not subset or case[2].startswith(TWIN_KINDS))
    return out


def _json(outcome):
    return {k: v for k, v in outcome.items() if k not in ("arrays", "non_finite")}


def run(group, start, out_path):
    from callable_registry import entries

    resource.setrlimit(resource.RLIMIT_AS, (_MEMORY_LIMIT, _MEMORY_LIMIT))
    registry = entries()
    cases = group_cases(group)
    baselines = {}
    with open(out_path, "a") as out:
        for i, (name, case, argument, kind, bad, expect) in enumerate(cases):
            if i < start:
                continue
            # An entry's first case here computes its valid call, which may compile a Numba
            # twin (also after a restart mid-entry): the parent waits longer for it.
            out.write(json.dumps({"i": i, "callable": name, "case": case, "start": True,
                                  "slow": name not in baselines}) + "\n")
            out.flush()
            entry = registry[name]
            if name not in baselines:
                baselines[name] = _call(entry)
            baseline = baselines[name]
            if argument is None:
                outcome = baseline
                verdict = (f"the valid call failed: {outcome['raised']}: {outcome['message']}" if "raised" in outcome
                           else None)  # its NaN (a user without test entries) may be documented
            else:
                outcome = _call(entry, _mutator(argument, kind, bad))
                verdict = _verdict(name, argument, bad, expect, outcome,
                                   None if "raised" in baseline else baseline, kind)
            out.write(json.dumps({"i": i, "callable": name, "case": case, "verdict": verdict,
                                  "outcome": _json(outcome) or "returned"}, default=str) + "\n")
            out.flush()
    os._exit(0)  # skip interpreter teardown (dask threads): the results are written


def listing():
    import callable_registry as R
    from fastcf.kernels import _backend

    groups = {}
    for name, entry in R.entries().items():
        groups.setdefault(entry.group, {"twins": entry.twins, "n_cases": 0})
        groups[entry.group]["twins"] |= entry.twins
        groups[entry.group]["n_cases"] += 1 + len(entry.cases())
    twins = []
    for backend in _backend.BACKENDS:
        try:
            _backend.twin("topk", backend)
            twins.append(backend)
        except Exception:  # noqa: BLE001 - a twin that does not import is simply not run
            pass
    print(json.dumps({
        "callables": list(R.public_callables()), "missing": R.missing(), "stale": R.stale(),
        "entries": sorted(R.entries()), "excluded": {n: R.exclusion(n) for n in R.public_callables() if R.exclusion(n)},
        "groups": groups, "twins": twins, "n_malformations": __import__("malformed").n_malformations(),
    }))


if __name__ == "__main__":
    if sys.argv[1] == "list":
        listing()
    else:
        run(sys.argv[2], int(sys.argv[3]), sys.argv[4])
