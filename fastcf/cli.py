"""The ``fastcf`` command: the whole job from one command, and each of its steps on your data.

``fastcf demo`` reads data, reports what cleaning did, splits, fits implicit ALS, evaluates
it against a most-popular baseline and prints top-10 titles for a few users. The other
subcommands are the same steps on files: ``train`` (to a model file), ``recommend``,
``similar``, ``evaluate`` and ``download``. Run ``fastcf COMMAND --help`` for examples.

User errors (a missing file, a bad argument, a damaged model file) end the command with one
line on stderr naming the file or argument and what was expected, and exit code 2.
"""

from __future__ import annotations

import argparse
import ast
import json
import logging
import os
import re
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

__all__ = ["MODELS", "main"]

logger = logging.getLogger("fastcf")

#: ``--model`` name -> (class in fastcf.models, what it is). A model added to fastcf.models
#: plugs in with one line here; any other fastcf.models class is accepted by its class name.
MODELS: Dict[str, Tuple[str, str]] = {
    "als": ("ImplicitALS", "implicit-feedback ALS (Hu, Koren & Volinsky 2008); ratings become confidences"),
    "biased-mf": ("BiasedMF", "biased matrix factorisation by SGD (Funk; Koren et al. 2009), predicts ratings"),
    "svdpp": ("SVDpp", "SVD++ (Koren 2008): biased MF plus the implicit signal of what was rated"),
    "explicit-als": ("ExplicitALS", "biased MF of ratings by weighted-lambda ALS (Zhou et al. 2008)"),
    "baseline": ("BaselineOnly", "global mean + user and item biases (Koren 2010)"),
    "bpr": ("BPR", "matrix factorisation ranked by BPR (Rendle et al. 2009) on sampled triples"),
    "warp": ("WARP", "matrix factorisation ranked by WARP (Weston et al. 2011)"),
    "hybrid": ("HybridMF", "BPR/WARP on sums of feature embeddings: genres, demographics, identities"),
    "item-knn": ("ItemKNN", "item neighbourhoods: sums of pruned item-item similarities (implicit)"),
    "user-knn": ("UserKNN", "user neighbourhoods: neighbours' interactions weighted by similarity (implicit)"),
    "knn-baseline": ("KNNBaseline", "Surprise-style kNN on baseline residuals, predicts ratings"),
    "ease": ("EASE", "closed-form item-item model (Steck 2019); dense items x items"),
    "popularity": ("Popularity", "most popular items: the baseline to beat"),
}
#: ``fastcf download`` names -> fastcf.data.download_movielens releases.
RELEASES = {
    "movielens-100k": "ml-100k", "movielens-1m": "ml-1m", "movielens-10m": "ml-10m", "movielens-20m": "ml-20m",
    "movielens-25m": "ml-25m", "movielens-32m": "ml-32m", "movielens-latest-small": "ml-latest-small",
    "movielens-latest": "ml-latest",
}
FORMATS = ("auto", "movielens", "movielens-100k", "movielens-1m", "movielens-10m", "movielens-latest", "csv", "tsv",
           "parquet")
_VARIANTS = {"movielens-100k": "100k", "movielens-1m": "1m", "movielens-10m": "10m", "movielens-latest": "latest"}
_RATING_NAMES = ["user", "item", "rating", "timestamp"]


class UsageError(Exception):
    """A mistake in what the user asked for; shown as one line, exit code 2."""

    def __init__(self, message: str, prog: Optional[str] = None):
        super().__init__(message)
        self.prog = prog


# --- data --------------------------------------------------------------------------------------

def _cached_movielens() -> Optional[Path]:
    """MovieLens 100K if ``fastcf download`` has put a verified copy in the cache."""
    from fastcf.data.download import _VERIFIED, default_cache

    folder = default_cache() / "ml-100k"
    return folder if (folder / _VERIFIED).exists() else None


def read_data(path: str, fmt: str = "auto", args=None, *, what: str = "--data"):
    """Interactions from a MovieLens folder or a ratings file, as ``--format`` says."""
    from fastcf.data import detect_movielens, read_movielens, read_movielens_items, read_ratings

    if path == "synthetic" or path.startswith("synthetic:"):
        return _synthetic_data(path, args, what)
    source = Path(os.path.expanduser(path))
    if not source.exists():
        raise UsageError(f"{what} {path}: no such file or folder.")
    options = dict(on_bad_row=getattr(args, "on_bad_row", "error"))
    if getattr(args, "duplicates", None):
        options["duplicates"] = args.duplicates
    if source.is_dir():
        if fmt not in ("auto", "movielens") and fmt not in _VARIANTS:
            raise UsageError(f"{what} {path}: is a folder; --format {fmt} reads a file.")
        variant = detect_movielens(source)
        if fmt in _VARIANTS and _VARIANTS[fmt] != variant:
            raise UsageError(f"{what} {path}: holds MovieLens {variant}, not {fmt} (--format).")
        return read_movielens(source, **options)
    name = source.name
    if fmt == "auto":
        if name == "u.data" or source.suffix in (".base", ".test"):
            fmt = "movielens-100k"
        elif name == "ratings.dat":
            fmt = "movielens-1m"
        elif source.suffix in (".parquet", ".pq"):
            fmt = "parquet"
        elif source.suffix in (".tsv", ".tab"):
            fmt = "tsv"
        else:
            fmt = "csv"
    if fmt in ("movielens-100k", "movielens-1m", "movielens-10m"):
        scale = (0.5, 5) if fmt == "movielens-10m" else (1, 5)
        sep, encoding = ("\t", "utf-8-sig") if fmt == "movielens-100k" else ("::", "latin-1")
        data = read_ratings(source, names=_RATING_NAMES, sep=sep, timestamp_col="timestamp", rating_scale=scale,
                            encoding=encoding, **options)
        try:  # titles and genres from the release's folder, where they sit beside the file
            data.item_info = read_movielens_items(source.parent)
        except (FileNotFoundError, ValueError):
            pass
        return data
    if fmt in ("movielens", "movielens-latest"):
        raise UsageError(f"{what} {path}: --format {fmt} reads a MovieLens folder; give the folder.")
    rating_col = getattr(args, "rating_col", "rating")
    return read_ratings(
        source,
        user_col=getattr(args, "user_col", "user"), item_col=getattr(args, "item_col", "item"),
        rating_col=None if rating_col in (None, "none") else rating_col,
        timestamp_col=getattr(args, "timestamp_col", None),
        sep=getattr(args, "sep", None) or ("\t" if fmt == "tsv" else None),
        rating_scale=getattr(args, "rating_scale", None), encoding=getattr(args, "encoding", None) or "utf-8-sig",
        **options,
    )


def _synthetic_data(path: str, args, what: str):
    """``synthetic`` or ``synthetic:PRESET``: planted-structure ratings, no file, no network."""
    from fastcf.data import synthetic
    from fastcf.data.synthetic import PRESETS

    preset = path.partition(":")[2] or "ml100k"
    if preset not in PRESETS:
        raise UsageError(f"{what} {path}: unknown synthetic preset {preset!r}; choose one of "
                         f"{', '.join('synthetic:' + p for p in PRESETS)}.")
    return synthetic(preset, seed=getattr(args, "seed", None) or 0)


def _add_data_options(parser, *, required: bool = True) -> None:
    parser.add_argument("--data", required=required, metavar="FILE|DIR|synthetic[:PRESET]",
                        help="a MovieLens folder (100K, 1M, 10M, 20M, latest...), a ratings file, or "
                             "synthetic[:ml100k|ml1m|ml10m|ml20m] (generated ratings, no file; seed from --seed)")
    parser.add_argument("--format", default="auto", choices=FORMATS, metavar="FORMAT",
                        help=f"how to read --data: {', '.join(FORMATS)} (default auto: MovieLens folders, and "
                             f"u.data, *.base, *.test, ratings.dat by name, else by extension)")
    files = parser.add_argument_group("ratings files (--format csv, tsv, parquet)")
    files.add_argument("--user-col", default="user", metavar="NAME", help="column of user IDs (default user)")
    files.add_argument("--item-col", default="item", metavar="NAME", help="column of item IDs (default item)")
    files.add_argument("--rating-col", default="rating", metavar="NAME",
                       help="column of ratings; 'none' for implicit data where every row counts 1 (default rating)")
    files.add_argument("--timestamp-col", default=None, metavar="NAME", help="column of times (optional)")
    files.add_argument("--sep", default=None, help="field separator (default from the extension)")
    files.add_argument("--rating-scale", nargs=2, type=float, default=None, metavar=("LOW", "HIGH"),
                       help="ratings outside it are bad rows")
    files.add_argument("--on-bad-row", default="error", choices=("error", "skip"),
                       help="stop at the first bad row (default), or skip bad rows and count them in the report")
    files.add_argument("--encoding", default="utf-8-sig", metavar="NAME",
                       help="text encoding of the file (default utf-8, with or without a byte-order mark)")
    files.add_argument("--duplicates", default="last", choices=("last", "first", "mean", "sum", "max", "error"),
                       help="what to do with repeated (user, item) pairs (default last: the latest rating wins)")


# --- models ------------------------------------------------------------------------------------

def model_class(name: str):
    """The model class for a ``--model`` name (a table entry, or a fastcf.models class name)."""
    import fastcf.models as models
    from fastcf.models.base import Recommender

    class_name = MODELS[name][0] if name in MODELS else name
    cls = getattr(models, class_name, None)
    if not (isinstance(cls, type) and issubclass(cls, Recommender)) or class_name in ("Recommender", "FactorModel"):
        raise UsageError(f"--model {name}: unknown model; choose one of {', '.join(MODELS)} "
                         f"(or a fastcf.models class name).")
    return cls


_BOOLEANS = {"true": True, "yes": True, "1": True, "on": True, "false": False, "no": False, "0": False, "off": False}
_BOOLEAN_WORDS = ("true", "false", "yes", "no")  # also taken by parameters whose default is None
PARAM_HELP = ("a model parameter, e.g. -p factors=32 -p regularization=0.1 (repeatable). Values are numbers, "
              "strings, None or Python literals; a yes/no parameter takes true/false, yes/no or 1/0")


def parse_params(pairs: Sequence[str], cls) -> dict:
    """``NAME=VALUE`` pairs as constructor parameters.

    A parameter whose default is a bool takes true/false, yes/no, on/off or 1/0 (any case);
    other values are Python literals (numbers, None, lists), else strings. The model checks
    the values; its TypeError or ValueError is shown as one line by main.
    """
    import inspect

    signature = inspect.signature(cls.__init__).parameters
    accepted = [p for p in signature if p != "self"]
    params = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or not key:
            raise UsageError(f"--param {pair!r}: expected NAME=VALUE, e.g. --param factors=32.")
        if key not in accepted:
            raise UsageError(f"--param {key}: {cls.__name__} has no such parameter; it takes {', '.join(accepted)}.")
        default = signature[key].default
        if isinstance(default, bool) or (default is None and text.strip().lower() in _BOOLEAN_WORDS):
            if text.strip().lower() not in _BOOLEANS:
                raise UsageError(f"-p {key}={text}: {key} is yes/no; give true/false, yes/no or 1/0.")
            params[key] = _BOOLEANS[text.strip().lower()]
            continue
        try:
            params[key] = ast.literal_eval(text)
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            params[key] = text
    return params


def _load_model(path: str, mmap: bool = False):
    from fastcf.persistence import load, read_header

    return load(path, mmap=mmap), read_header(path).get("metadata", {})


# --- output ------------------------------------------------------------------------------------

def _item_table(data_info, ids, scores, *, hits=None, shorten: bool = True) -> "object":
    import pandas as pd

    valid = np.array([i is not None and i != -1 for i in ids], dtype=bool)
    frame = pd.DataFrame({"rank": np.arange(1, int(valid.sum()) + 1), "item": list(np.asarray(ids, dtype=object)[valid]),
                          "score": np.round(np.asarray(scores, dtype=np.float64)[valid], 4)})
    if data_info is not None:
        info = data_info.reindex(frame["item"])
        if "title" in info:
            titles = info["title"].fillna("").astype(str)
            frame["title"] = [t if len(t) <= 50 else t[:47] + "..." for t in titles] if shorten else titles.to_numpy()
        if "genres" in info:
            frame["genres"] = ["|".join(g) if isinstance(g, tuple) else "" for g in info["genres"]]
    if hits is not None:
        frame["held out"] = ["yes" if item in hits else "" for item in frame["item"]]
    return frame


def _titles_for(args, metadata) -> Optional["object"]:
    """Item titles for printing: from --data, else from the data the model was trained on."""
    from fastcf.data import read_movielens_items

    path = getattr(args, "data", None) or metadata.get("data")
    if not path:
        return None
    if path == "synthetic" or path.startswith("synthetic:"):
        return _synthetic_data(path, args, "--data").item_info
    folder = Path(path) if Path(path).is_dir() else Path(path).parent
    try:
        return read_movielens_items(folder)
    except (FileNotFoundError, ValueError, OSError):
        if getattr(args, "data", None):
            raise UsageError(f"--data {path}: no MovieLens movie file (u.item, movies.dat or movies.csv) there.")
        return None


def _parse_ids(texts: Sequence[str], id_map, what: str):
    """Raw IDs typed on the command line, converted to the type of the model's IDs."""
    if id_map is None:
        kind = "i"
    else:
        kind = id_map.raw_ids.dtype.kind
    out = []
    for text in texts:
        try:
            out.append(int(text) if kind in "iu" else float(text) if kind == "f" else text)
        except ValueError:
            raise UsageError(f"--{what} {text}: the model's {what} IDs are {'integers' if kind in 'iu' else 'numbers'}.")
    return out


def _emit(frame, as_json: bool) -> None:
    if as_json:
        print(frame.to_json(orient="records", force_ascii=False))
    else:
        print(frame.to_string(index=False))


# --- the subcommands ---------------------------------------------------------------------------

def _progress(args) -> Optional[bool]:
    """show_progress for the command's fits: none with -q, at once on a terminal, else fastcf's switch."""
    if args.quiet:
        return False
    return True if sys.stderr.isatty() else None


def cmd_demo(args) -> int:
    import pandas as pd

    import fastcf
    from fastcf.data import leave_k_out, synthetic
    from fastcf.models import ImplicitALS, Popularity

    started = time.perf_counter()
    if args.data in ("synthetic", "synthetic:ml100k") or (args.data is None and _cached_movielens() is None):
        data = synthetic("ml100k", seed=args.seed)
        source = ("synthetic MovieLens-100K-shaped ratings with invented titles (no network needed; "
                  "`fastcf download movielens-100k` once, and the demo uses the real files)")
    else:
        path = args.data or str(_cached_movielens())
        data = read_data(path, args.format, args)
        source = path
    print(f"fastcf {fastcf.__version__} demo: implicit ALS on {source}\n")
    print(f"1. Data: {data}")
    print("   " + str(data.report).replace("\n", "\n   ") + "\n")

    train, test = leave_k_out(data, k=args.holdout, by="latest" if data.timestamps is not None else "random",
                              seed=args.seed)
    print(f"2. Split: each user's {args.holdout} latest ratings held out: train {train.nnz:,} entries, "
          f"test {test.nnz:,} entries\n")

    model = ImplicitALS(factors=args.factors, iterations=args.iterations, regularization=args.regularization,
                        alpha=args.alpha, random_state=args.seed, show_progress=_progress(args))
    fit_started = time.perf_counter()
    model.fit(train)
    print(f"3. Fit: {_short_repr(model)} in {time.perf_counter() - fit_started:.2f} s on "
          f"{fastcf.get_num_threads()} threads\n")

    k = args.k
    metrics = ["precision", "recall", "ndcg", "hit_rate", "coverage"]
    rows = {name: fastcf.evaluate(m, train, test, k, metrics=metrics)
            for name, m in (("ImplicitALS", model), ("most popular", Popularity().fit(train)))}
    table = pd.DataFrame({name: [result[m] for m in metrics] for name, result in rows.items()},
                         index=[f"{m}@{k}" if m != "coverage" else m for m in metrics]).T
    print(f"4. Evaluation on the held-out ratings ({rows['ImplicitALS']['n_users']:,} users; higher is better)")
    print("   " + table.round(4).to_string().replace("\n", "\n   ") + "\n")

    info = data.item_info
    count = min(args.users, data.n_users)
    picks = np.linspace(0, data.n_users - 1, count).astype(np.int64) if count else np.zeros(0, np.int64)
    print(f"5. Top {k} for {count} user{'s' if count != 1 else ''} (\"held out\": the user did rate it, in the test part)")
    for index in picks:
        user = data.users.raw_ids[index]
        lo, hi = train.matrix.indptr[index], train.matrix.indptr[index + 1]
        liked = train.matrix.indices[lo:hi][np.argsort(-train.matrix.data[lo:hi], kind="stable")[:3]]
        liked_titles = [str(info.loc[i, "title"]) if info is not None and i in info.index else str(i)
                        for i in data.items.raw_ids[liked]]
        favourite = ""
        if data.user_info is not None and "favourite_genre" in data.user_info:
            favourite = f", favourite genre {data.user_info.loc[user, 'favourite_genre']}"
        print(f"\n   User {user} ({hi - lo} ratings{favourite}; rated highly: {'; '.join(liked_titles)})")
        ids, scores = model.recommend(user, k)
        held = set(data.items.raw_ids[test.matrix.indices[test.matrix.indptr[index]:test.matrix.indptr[index + 1]]].tolist())
        frame = _item_table(info, ids, scores, hits=held)
        print("   " + frame.to_string(index=False).replace("\n", "\n   "))
    print(f"\nDone in {time.perf_counter() - started:.1f} s. Next: `fastcf train --help`.")
    return 0


def cmd_train(args) -> int:
    cls = model_class(args.model)
    params = parse_params(args.param, cls)
    accepted = cls().get_params()
    if args.seed is not None and "random_state" in accepted:
        params.setdefault("random_state", args.seed)
    if "show_progress" in accepted:
        params.setdefault("show_progress", _progress(args))
    model = cls(**params)
    if hasattr(model, "_check_params"):  # refuse bad parameters before reading a large file
        model._check_params()
    _check_output("--out", args.out)
    data = read_data(args.data, args.format, args)
    logger.info("%s", data.report)
    started = time.perf_counter()
    model.fit(data)
    seconds = time.perf_counter() - started
    if "show_progress" in accepted and "show_progress" not in parse_params(args.param, cls):
        model.show_progress = accepted["show_progress"]  # how this command showed the fit is not the model's
    where = args.data if args.data.startswith("synthetic") else str(Path(args.data).expanduser().resolve())
    metadata = {"data": where, "format": args.format, "model": args.model,
                "n_users": data.n_users, "n_items": data.n_items, "nnz": data.nnz, "fit_seconds": round(seconds, 3)}
    path = model.save(args.out, metadata=metadata)
    print(f"Trained {_short_repr(model)} on {data.n_users:,} users x {data.n_items:,} items ({data.nnz:,} ratings) in "
          f"{seconds:.2f} s; saved {path} ({path.stat().st_size / 1e6:.1f} MB).")
    return 0


def _short_repr(model) -> str:
    """The model with the parameters that differ from their defaults."""
    defaults = type(model)().get_params()
    changed = ", ".join(f"{key}={value!r}" for key, value in model.get_params().items()
                        if key not in ("show_progress", "n_threads") and value != defaults.get(key))
    return f"{type(model).__name__}({changed})"


def _unknown_id(error: KeyError) -> str:
    """What a model's KeyError says of the ID ("unknown user id(s) [7]; ..."), without the
    Python call it names, which a command-line user did not write."""
    text = error.args[0] if error.args else ""
    return text.split(" holds ", 1)[1] if " holds " in text else text.split(": ", 1)[-1]


def cmd_recommend(args) -> int:
    model, metadata = _load_model(args.model, args.mmap)
    info = _titles_for(args, metadata)
    users = _parse_ids(args.user, model.users_, "user")
    for user in users:
        try:
            ids, scores = model.recommend(user, args.k, exclude_seen=not args.include_seen)
        except KeyError as exc:
            raise UsageError(f"--user {user}: {_unknown_id(exc)}") from None
        frame = _item_table(info, ids, scores, shorten=not args.json)
        if len(users) > 1 and not args.json:
            print(f"user {user}")
        _emit(frame.assign(user=user) if args.json else frame, args.json)
    return 0


def cmd_similar(args) -> int:
    model, metadata = _load_model(args.model, args.mmap)
    if not hasattr(model, "similar_items"):
        raise UsageError(f"--model {args.model}: a {type(model).__name__} has no item similarity.")
    info = _titles_for(args, metadata)
    for item in _parse_ids(args.item, model.items_, "item"):
        try:
            ids, scores = model.similar_items(item, args.k)
        except KeyError as exc:
            raise UsageError(f"--item {item}: {_unknown_id(exc)}") from None
        if not args.json:
            title = ""
            if info is not None and item in info.index and "title" in info:
                title = f" ({info.loc[item, 'title']})"
            print(f"items like {item}{title}")
        frame = _item_table(info, ids, scores, shorten=not args.json).rename(columns={"score": "similarity"})
        _emit(frame.assign(query=item) if args.json else frame, args.json)
    return 0


def cmd_evaluate(args) -> int:
    import pandas as pd
    import scipy.sparse as sp

    import fastcf
    from fastcf.data import Interactions
    from fastcf.evaluation.metrics import DEFAULT_METRICS

    model, _ = _load_model(args.model)
    if model.users_ is None or model.items_ is None:
        raise UsageError(f"--model {args.model}: was fitted on a bare matrix, without IDs to match --data against.")
    test = read_data(args.data, args.format, args)
    shared_users = int((model.users_.to_index(test.users.raw_ids, missing="ignore") >= 0).sum())
    if shared_users == 0:
        raise UsageError(f"--data {args.data}: none of its {test.n_users:,} users is among the model's "
                         f"{len(model.users_):,} users; evaluate on held-out ratings of the users the model "
                         f"was trained on (see 'fastcf split').")
    rows = model.users_.to_index(test.users.raw_ids, missing="ignore")[np.repeat(np.arange(test.n_users),
                                                                                  np.diff(test.matrix.indptr))]
    cols = model.items_.to_index(test.items.raw_ids, missing="ignore")[test.matrix.indices]
    known = (rows >= 0) & (cols >= 0)
    if not known.any():
        raise UsageError(f"--data {args.data}: {shared_users:,} of its {test.n_users:,} users are the model's, but "
                         f"none of their {rows.size:,} ratings is of one of the model's {len(model.items_):,} items.")
    matrix = sp.csr_matrix((test.matrix.data[known], (rows[known], cols[known])), shape=model.seen_.shape)
    matrix.sum_duplicates()
    seen = model.seen_.multiply(matrix != 0).nnz if matrix.nnz else 0
    train = Interactions(model.seen_, model.users_, model.items_)
    target = Interactions(matrix.tocsr(), model.users_, model.items_)
    metrics = list(args.metrics or DEFAULT_METRICS)
    if args.metrics is None and hasattr(model, "rating_scale_"):
        metrics += ["rmse", "mae"]
    result = fastcf.evaluate(model, train, target, args.k, metrics=metrics)
    print(f"{type(model).__name__} from {args.model} on {args.data}: {int(known.sum()):,} of {known.size:,} "
          f"test ratings have a user and an item the model knows ({result['n_users']:,} users evaluated)")
    if seen:
        print(f"note: {seen:,} test ratings are also in the model's training data and cannot be recommended "
              f"(seen items are excluded).")
    names = [f"{m}@{args.k}" if m in ("precision", "recall", "calibrated_recall", "f1", "map", "ndcg", "ndcg_graded",
                                       "mrr", "hit_rate") else m for m in metrics]
    frame = pd.DataFrame({"metric": names, "value": [round(float(result[m]), 4) for m in metrics]})
    _emit(frame, args.json)
    return 0


def _check_output(option: str, target: str) -> None:
    """Refuse an output path that cannot be written before any work is done."""
    path = Path(target).expanduser()
    if path.is_dir():
        raise UsageError(f"{option} {target}: is a folder; give a file name.")
    if not path.parent.is_dir():
        raise UsageError(f"{option} {target}: the folder {str(path.parent)!r} does not exist.")


SPLITS = ("leave-k-out", "random", "temporal", "user-fraction")


def cmd_split(args) -> int:
    from fastcf.data import splits

    _check_output("--train", args.train)
    _check_output("--test", args.test)
    data = read_data(args.data, args.format, args)
    fraction = args.test_fraction
    if not 0 < fraction < 1:
        raise UsageError(f"--test-fraction {fraction}: expected a number in (0, 1).")
    if args.k < 1:
        raise UsageError(f"-k {args.k}: expected an int >= 1.")
    if args.method in ("temporal",) and data.timestamps is None:
        raise UsageError(f"--method temporal: --data {args.data} has no timestamps (give --timestamp-col).")
    if args.method == "leave-k-out":
        by = "latest" if data.timestamps is not None else "random"
        train, test = splits.leave_k_out(data, k=args.k, by=by, seed=args.seed)
    elif args.method == "random":
        train, test = splits.random_split(data, fraction, seed=args.seed)
    elif args.method == "user-fraction":
        train, test = splits.user_fraction_split(data, fraction, seed=args.seed)
    else:
        train, test = splits.temporal_split(data, fraction)
    outputs = []
    for part, target in ((train, args.train), (test, args.test)):
        path = Path(target).expanduser()
        if path.suffix.lower() in (".parquet", ".pq"):
            part.to_frame().to_parquet(path, index=False)
        else:
            part.to_frame().to_csv(path, index=False, sep="\t" if path.suffix.lower() in (".tsv", ".tab") else ",")
        outputs.append(f"{path} ({part.nnz:,} ratings, {part.n_users:,} users)")
    print(f"Split {data.nnz:,} ratings by {args.method}: train {outputs[0]}; test {outputs[1]}.")
    return 0


def cmd_download(args) -> int:
    from fastcf.data import download_movielens
    from fastcf.data.download import BASE_URL

    release = RELEASES.get(args.release) or RELEASES.get(f"movielens-{args.release}")
    if release is None:
        raise UsageError(f"download {args.release}: unknown release; choose one of {', '.join(RELEASES)}.")
    folder = download_movielens(release, args.dest, md5=args.md5, base_url=args.mirror or BASE_URL, force=args.force)
    print(folder)
    return 0


# --- the parser --------------------------------------------------------------------------------

EXAMPLES = """\
examples:
  fastcf demo                                    the whole job on built-in data, no network (under a minute)
  fastcf download movielens-100k                 fetch MovieLens 100K (checksum-verified, cached)
  fastcf demo --data ~/.cache/fastcf/ml-100k     the demo on the real files
  fastcf train --data ml-100k/u1.base --model als --param factors=64 --out als.npz
  fastcf recommend --model als.npz --user 196 -k 10
  fastcf similar --model als.npz --item 50
  fastcf evaluate --model als.npz --data ml-100k/u1.test

Logging goes to stderr (-v for more, -q for warnings only, no progress bars); results to stdout.
"""


class _Parser(argparse.ArgumentParser):
    """Argument errors as one line naming the argument (argparse prints the usage too)."""

    def error(self, message):
        raise UsageError(f"{message} (see '{self.prog} --help')", self.prog)


def _command(sub, common, name: str, run, summary: str, description: str, examples: Sequence[str], note: str = ""):
    """A subcommand whose --help ends with worked examples."""
    parser = sub.add_parser(name, parents=[common], formatter_class=argparse.RawDescriptionHelpFormatter,
                            help=summary, description=description,
                            epilog="examples:\n" + "\n".join(f"  {e}" for e in examples) + (f"\n\n{note}" if note else ""))
    parser.set_defaults(run=run)
    return parser


def build_parser() -> argparse.ArgumentParser:
    from fastcf._version import __version__

    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-v", "--verbose", action="store_true", help="log every iteration (logging level DEBUG)")
    common.add_argument("-q", "--quiet", action="store_true", help="only warnings; no progress bars")
    common.add_argument("--threads", type=int, default=None, metavar="N", help="threads for fastcf's kernels")

    parser = _Parser(prog="fastcf", formatter_class=argparse.RawDescriptionHelpFormatter, epilog=EXAMPLES,
                     description="fastcf: fast collaborative filtering from the command line.\n\n"
                                 "Train recommender models on ratings (MovieLens or your own CSV), save them, "
                                 "and serve\nrecommendations and similar items from the saved file.")
    parser.add_argument("--version", action="version", version=f"fastcf {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    demo = _command(
        sub, common, "demo", cmd_demo, "the whole job on built-in data (start here)",
        "Data -> cleaning report -> split -> fit implicit ALS -> evaluation -> top-10 titles.\n\n"
        "Uses MovieLens 100K if `fastcf download movielens-100k` has cached it (or --data), else\n"
        "deterministic synthetic ratings of the same shape with invented titles and genres.",
        ["fastcf demo", "fastcf demo --data ../shared/data/ml-100k --users 5",
         "fastcf demo --data synthetic --factors 16 --iterations 5"])
    demo.add_argument("--data", default=None, metavar="DIR|synthetic",
                      help="a MovieLens folder, or 'synthetic' (default: the cached download, else synthetic)")
    demo.add_argument("--format", default="auto", choices=FORMATS, help=argparse.SUPPRESS)
    # Defaults chosen on the leave-5-latest split of both the synthetic data and MovieLens 100K
    # (NDCG@10 0.27 and 0.13, against 0.20 and 0.08 for the most-popular baseline).
    demo.add_argument("--factors", type=int, default=32, help="latent factors (default 32)")
    demo.add_argument("--iterations", type=int, default=15, help="ALS iterations (default 15)")
    demo.add_argument("--regularization", type=float, default=10.0, help="default 10.0")
    demo.add_argument("--alpha", type=float, default=0.5, help="confidence slope (default 0.5)")
    demo.add_argument("--holdout", type=int, default=5, help="ratings per user held out for testing (default 5)")
    demo.add_argument("-k", type=int, default=10, help="list length (default 10)")
    demo.add_argument("--users", type=int, default=3, help="users to show recommendations for (default 3)")
    demo.add_argument("--seed", type=int, default=0)
    demo.set_defaults(on_bad_row="error")

    table = "\n".join(f"  {name:<14}{cls}: {text}" for name, (cls, text) in MODELS.items())
    train = _command(
        sub, common, "train", cmd_train, "fit a model on ratings and save it",
        f"Fit a model on --data and save it to --out (.npz arrays + JSON header; no pickle).\n\nmodels:\n{table}",
        ["fastcf train --data ml-100k --model als --out als.npz",
         "fastcf train --data ml-100k/u1.base --model biased-mf -p factors=50 -p epochs=30 --out mf.npz",
         "fastcf train --data clicks.csv --user-col userId --item-col itemId --rating-col none --out clicks.npz"])
    _add_data_options(train)
    train.add_argument("--model", default="als", metavar="NAME", help=f"one of {', '.join(MODELS)} (default als)")
    train.add_argument("--param", "-p", action="append", default=[], metavar="NAME=VALUE",
                       help=PARAM_HELP)
    train.add_argument("--seed", type=int, default=0, help="random_state of the model (default 0)")
    train.add_argument("--out", required=True, metavar="FILE", help="where to write the model")

    titles = "Titles come from --data, else from the data the model was trained on."
    for name, run, what, summary, description, examples in (
        ("recommend", cmd_recommend, "user", "top-k items for users of a saved model",
         "Top-k items for users of a saved model, best first, the items they rated left out.",
         ["fastcf recommend --model als.npz --user 196 -k 10", "fastcf recommend --model als.npz --user 196 --user 7 --json"]),
        ("similar", cmd_similar, "item", "items most like an item",
         "The items most similar to an item (cosine of item factors).", ["fastcf similar --model als.npz --item 50 -k 5"]),
    ):
        command = _command(sub, common, name, run, summary, description, examples, titles)
        command.add_argument("--model", required=True, metavar="FILE", help="a model saved by fastcf train")
        command.add_argument(f"--{what}", required=True, action="append", metavar="ID",
                             help=f"raw {what} ID (repeatable)")
        command.add_argument("-k", type=int, default=10, help="how many (default 10)")
        command.add_argument("--data", default=None, metavar="DIR", help="a MovieLens folder to print titles from")
        command.add_argument("--json", action="store_true", help="JSON records instead of a table")
        command.add_argument("--mmap", action="store_true", help="memory-map the model's arrays instead of reading them")
        if name == "recommend":
            command.add_argument("--include-seen", action="store_true", help="keep items the user rated in training")

    evaluate = _command(
        sub, common, "evaluate", cmd_evaluate, "measure a saved model on held-out ratings",
        "Rank the catalogue for every user in --data (less the model's training items) and measure.\n"
        "Ratings whose user or item the model does not know are counted and left out.",
        ["fastcf train --data ml-100k/u1.base --out als.npz", "fastcf evaluate --model als.npz --data ml-100k/u1.test",
         "fastcf evaluate --model mf.npz --data ml-100k/u1.test --metrics rmse mae ndcg"])
    evaluate.add_argument("--model", required=True, metavar="FILE", help="a model saved by fastcf train")
    _add_data_options(evaluate)
    evaluate.add_argument("-k", type=int, default=10, help="cut-off of the ranking metrics (default 10)")
    evaluate.add_argument("--metrics", nargs="+", default=None, metavar="NAME",
                          help="default: precision recall map ndcg mrr hit_rate coverage (+ rmse mae for rating models)")
    evaluate.add_argument("--json", action="store_true", help="JSON records instead of a table")

    split = _command(
        sub, common, "split", cmd_split, "split ratings into train and test files",
        "Split --data into a train file and a test file (CSV, or TSV/Parquet by extension), with\n"
        "columns user, item, rating (and timestamp), ready for `fastcf train` and `fastcf evaluate`.\n"
        "leave-k-out holds out each user's k latest ratings (random ones without timestamps).",
        ["fastcf split --data ml-100k --train train.csv --test test.csv",
         "fastcf split --data synthetic --method random --test-fraction 0.2 --train tr.csv --test te.csv",
         "fastcf train --data train.csv --out als.npz && fastcf evaluate --model als.npz --data test.csv"])
    _add_data_options(split)
    split.add_argument("--method", default="leave-k-out", choices=SPLITS, help="how to split (default leave-k-out)")
    split.add_argument("-k", type=int, default=5, help="ratings per user held out by leave-k-out (default 5)")
    split.add_argument("--test-fraction", type=float, default=0.2, metavar="F",
                       help="share of ratings (random, temporal) or users (user-fraction) held out (default 0.2)")
    split.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    split.add_argument("--train", required=True, metavar="FILE", help="where to write the training ratings")
    split.add_argument("--test", required=True, metavar="FILE", help="where to write the test ratings")

    download = _command(
        sub, common, "download", cmd_download, "fetch a MovieLens release (verified, cached)",
        "Download a MovieLens release from GroupLens, check its MD5, extract it into the cache\n"
        "($FASTCF_DATA, else ~/.cache/fastcf) and print the folder. A verified copy is reused.",
        ["fastcf download movielens-100k", "fastcf download latest-small --dest ./data"])
    download.add_argument("release", metavar="RELEASE",
                          help=f"one of {', '.join(RELEASES)} (the 'movielens-' prefix may be left out)")
    download.add_argument("--dest", default=None, metavar="DIR", help="cache folder")
    download.add_argument("--force", action="store_true", help="download again even if cached")
    download.add_argument("--mirror", default=None, metavar="URL", help="where the archives are (default GroupLens)")
    download.add_argument("--md5", default=None, metavar="HEX",
                          help="the archive's MD5 to verify against (default: pinned, else GroupLens' published one)")
    return parser


def _configure_logging(args) -> logging.Handler:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG if args.verbose else logging.WARNING if args.quiet else logging.INFO)
    return handler


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the fastcf command with ``argv`` (default: sys.argv[1:]); returns the exit code."""
    try:
        return _main(argv)
    except BrokenPipeError:
        # The reader stopped reading (`| head -2`, also of --help): not an error. Point stdout
        # at /dev/null so that the interpreter's final flush does not report the closed pipe.
        _silence_stdout()
        return 0


def _main(argv: Optional[Sequence[str]]) -> int:
    from fastcf.exceptions import DataError, ModelFileError

    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    prog = "fastcf"
    try:
        args = parser.parse_args(argv)
    except UsageError as exc:
        print(f"{exc.prog or prog}: error: {_one_line(exc)}", file=sys.stderr)
        return 2
    except SystemExit as exc:  # --help and --version
        return int(exc.code or 0)
    if args.command is None:
        parser.print_help()
        return 0
    prog = f"fastcf {args.command}"
    handler = _configure_logging(args)
    previous_level = logger.level
    try:
        if args.threads is not None and args.threads < 1:
            raise UsageError(f"--threads {args.threads}: expected an int >= 1.")
        from fastcf.config import set_num_threads

        with set_num_threads(args.threads) if args.threads is not None else _nothing():
            return args.run(args)
    except UsageError as exc:
        print(f"{prog}: error: {_one_line(exc)}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        raise
    except (DataError, ModelFileError, FileNotFoundError, FileExistsError, NotADirectoryError, IsADirectoryError,
            PermissionError, KeyError, ValueError, TypeError, FloatingPointError) as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
        print(f"{prog}: error: {_one_line(command_line_words(message))}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"{prog}: error: {_one_line(exc)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a fastcf bug, not a user error: still one line, with the way to the traceback
        if args.verbose:
            raise
        print(f"{prog}: internal error: {type(exc).__name__}: {_one_line(exc)} (a bug; run with -v for the "
              f"traceback and please report it)", file=sys.stderr)
        return 1
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous_level)


# Library messages name Python keywords; on the command line the same advice names the option.
_OPTION_WORDS = (
    (re.compile(r"""\bon_bad_row=["']?(\w+)["']?"""), r"--on-bad-row \1"),
    (re.compile(r"\bmd5=\.\.\."), "--md5 HEX"),
    (re.compile(r"\bencoding=\.\.\."), "--encoding NAME"),
    (re.compile(r"duplicates='last', 'first', 'mean', 'sum' or 'max'"), "--duplicates last, first, mean, sum or max"),
    (re.compile(r"\bduplicates='(\w+)'"), r"--duplicates \1"),
    (re.compile(r"'on_bad_row'"), "--on-bad-row"),
    (re.compile(r"'rating_scale'"), "--rating-scale"),
    (re.compile(r"'duplicates'"), "--duplicates"),
)


def command_line_words(message: str) -> str:
    """``message`` with each Python keyword advice replaced by the command-line option."""
    for pattern, option in _OPTION_WORDS:
        message = pattern.sub(option, message)
    return message


def _one_line(message) -> str:
    """Errors are one line on stderr: later lines (a cleaning report) are joined with ' | '."""
    lines = [line.strip() for line in str(message).splitlines() if line.strip()]
    text = " | ".join(lines)
    return text if len(text) <= 2000 else text[:2000] + "..."


def _silence_stdout() -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # stdout replaced by an object without a descriptor
        pass


def _nothing():
    import contextlib

    return contextlib.nullcontext()
