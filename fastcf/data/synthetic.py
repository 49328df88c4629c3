"""Deterministic synthetic ratings with the shapes of MovieLens, for tests, benchmarks and demos.

The generator plants structure that models can find, so tests have known answers:

* every user has a favourite genre and every item a primary genre (popular genres are
  more common); user and item factors lie near their genre's centroid;
* user activity and item popularity follow heavy-tailed (power-law-like) distributions;
* a user picks ``genre_affinity`` of their items from their favourite genre (by popularity
  within it) and the rest from the whole catalogue (by popularity);
* a rating is a planted factor model, mu + b_u + b_i + u.v + noise, cut into stars at
  thresholds that give MovieLens' star distribution;
* demographics (age group, gender, occupation) depend on the favourite genre, and titles,
  years and genres are invented but stable.

One seed gives one dataset on any machine. The "ml20m" preset (138,493 x 26,744, 20M
ratings) builds in about 10-20 s on 2 cores.
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from fastcf._validation import check_allocation

from fastcf._lazy import lazy_module
from fastcf.data.cleaning import CleaningReport
from fastcf.data.id_map import IdMap
from fastcf.data.interactions import Interactions, csr_from_sorted_keys

pd = lazy_module("pandas")  # imported on first use, see fastcf._lazy

__all__ = ["PRESETS", "synthetic"]

#: name: (n_users, n_items, n_ratings, half_stars) with the shapes of the MovieLens releases.
PRESETS = {
    "ml100k": (943, 1_682, 100_000, False),
    "ml1m": (6_040, 3_706, 1_000_209, False),
    "ml10m": (69_878, 10_677, 10_000_054, True),
    "ml20m": (138_493, 26_744, 20_000_263, True),
}
GENRES = (
    "Drama", "Comedy", "Thriller", "Action", "Romance", "Adventure", "Crime", "Sci-Fi", "Horror",
    "Fantasy", "Children's", "Animation", "Mystery", "Documentary", "War", "Musical", "Western",
    "Film-Noir",
)
OCCUPATIONS = (
    "other", "educator", "artist", "administrator", "student", "engineer", "doctor", "executive",
    "homemaker", "lawyer", "programmer", "retired", "salesman", "scientist", "writer", "technician",
)
AGE_GROUPS = (1, 18, 25, 35, 45, 50, 56)
# MovieLens 1M's share of each star, 1..5 (and what half stars split them into).
STAR_SHARES = np.array([0.056, 0.108, 0.261, 0.349, 0.226])
_ADJECTIVES = (
    "Silent", "Crimson", "Last", "Hidden", "Golden", "Broken", "Midnight", "Electric", "Lost",
    "Wild", "Frozen", "Secret", "Distant", "Burning", "Quiet", "Iron", "Paper", "Velvet",
)
_NOUNS = (
    "River", "Empire", "Garden", "Machine", "Harbor", "Letter", "Mountain", "Promise", "Station",
    "Kingdom", "Shadow", "Summer", "Voyage", "Mirror", "Orchard", "Signal", "Frontier", "Lantern",
)


def _power_law_weights(rng, n: int, exponent: float) -> np.ndarray:
    """Weights proportional to rank^-exponent, in random order."""
    weights = np.arange(1, n + 1, dtype=np.float64) ** -exponent
    return rng.permutation(weights / weights.sum())


def _activity(rng, n_users: int, n_items: int, n_ratings: int) -> np.ndarray:
    """Ratings per user: heavy-tailed, at least min(20, n_items) each, summing to n_ratings."""
    floor = min(20, n_items, max(1, n_ratings // max(n_users, 1)))
    raw = rng.lognormal(mean=0.0, sigma=1.1, size=n_users)
    spare = n_ratings - floor * n_users
    if spare < 0:
        raise ValueError(f"synthetic: {n_ratings} ratings cannot give {n_users} users {floor} each.")
    counts = floor + np.floor(raw / raw.sum() * spare).astype(np.int64)
    cap = max(floor, int(0.5 * n_items))
    counts = np.minimum(counts, cap)
    # Deal out what rounding and the cap left over, one rating at a time to users below the cap.
    deficit = n_ratings - counts.sum()
    while deficit > 0:
        room = np.flatnonzero(counts < cap)
        if room.size == 0:
            raise ValueError(f"synthetic: {n_ratings} ratings do not fit {n_users} users x {n_items} items.")
        chosen = rng.choice(room, size=min(deficit, room.size), replace=False)
        counts[chosen] += 1
        deficit = n_ratings - counts.sum()
    return counts


def _sample(rng, cdf: np.ndarray, size: int) -> np.ndarray:
    return np.minimum(np.searchsorted(cdf, rng.random(size) * cdf[-1], side="right"), cdf.shape[0] - 1)


def synthetic(
    preset: Optional[str] = None,
    *,
    n_users: Optional[int] = None,
    n_items: Optional[int] = None,
    n_ratings: Optional[int] = None,
    half_stars: Optional[bool] = None,
    factors: int = 8,
    genre_affinity: float = 0.6,
    seed: int = 0,
    dtype=np.float32,
) -> Interactions:
    """Generate ratings with planted structure (see the module docstring).

    Parameters
    ----------
    preset : {"ml100k", "ml1m", "ml10m", "ml20m"}, optional
        The shape of a MovieLens release; the explicit sizes below override it.
    n_users, n_items, n_ratings : int
        Shape and number of distinct (user, item) ratings.
    half_stars : bool
        Ratings in 0.5 steps from 0.5 (as MovieLens 10M and later) instead of 1..5.
    factors : int
        Rank of the planted factor model.
    genre_affinity : float in [0, 1]
        Share of each user's items drawn from their favourite genre.
    seed : int

    Returns
    -------
    Interactions
        Raw IDs 1..n for users and items; timestamps; ``item_info`` (title, year, genres)
        and ``user_info`` (age, gender, occupation, favourite_genre).
    """
    if preset is not None:
        if preset not in PRESETS:
            raise ValueError(f"synthetic: 'preset' must be one of {sorted(PRESETS)}; got {preset!r}.")
        p_users, p_items, p_ratings, p_half = PRESETS[preset]
        n_users = p_users if n_users is None else n_users
        n_items = p_items if n_items is None else n_items
        n_ratings = p_ratings if n_ratings is None else n_ratings
        half_stars = p_half if half_stars is None else half_stars
    for name, value in (("n_users", n_users), ("n_items", n_items), ("n_ratings", n_ratings), ("factors", factors)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"synthetic: '{name}' must be an int >= 1 (or give a preset); got {value!r}.")
    # Factors of every user and item, float64; ratings as keys, values and timestamps.
    check_allocation((n_users + n_items, factors), 8, "n_users' and 'n_items", "synthetic", "factor matrix")
    check_allocation((n_ratings, 4), 8, "n_ratings", "synthetic", "set of ratings")
    if n_ratings > n_users * n_items:
        raise ValueError(f"synthetic: 'n_ratings' {n_ratings} exceeds n_users * n_items = {n_users * n_items}.")
    if not 0 <= genre_affinity <= 1:
        raise ValueError(f"synthetic: 'genre_affinity' must lie in [0, 1]; got {genre_affinity!r}.")
    rng = np.random.default_rng(seed)
    n_genres = len(GENRES)

    genre_share = _power_law_weights(np.random.default_rng(seed + 1), n_genres, 0.8)
    genre_share = np.sort(genre_share)[::-1]  # Drama most common, as in MovieLens
    centroids = rng.standard_normal((n_genres, factors))
    item_genre = rng.choice(n_genres, size=n_items, p=genre_share)
    user_genre = rng.choice(n_genres, size=n_users, p=genre_share)
    item_factors = centroids[item_genre] + 0.6 * rng.standard_normal((n_items, factors))
    user_factors = centroids[user_genre] + 0.6 * rng.standard_normal((n_users, factors))
    popularity = _power_law_weights(rng, n_items, 1.0)

    counts = _activity(rng, n_users, n_items, n_ratings)
    keys = _draw_distinct_pairs(rng, counts, user_genre, item_genre, popularity, genre_affinity, n_items)
    users = keys // n_items
    items = keys % n_items

    ratings = _planted_ratings(rng, users, items, user_factors, item_factors, half_stars)
    timestamps = _timestamps(rng, users, counts)

    matrix = csr_from_sorted_keys(keys, ratings.astype(dtype), (n_users, n_items))
    report = CleaningReport(source=f"synthetic({preset or 'custom'}, seed={seed})", rows_read=keys.size, rows_kept=keys.size)
    return Interactions(
        matrix,
        IdMap(np.arange(1, n_users + 1), "user"),
        IdMap(np.arange(1, n_items + 1), "item"),
        timestamps=timestamps,
        user_info=_demographics(rng, user_genre, n_users),
        item_info=_catalogue(rng, item_genre, n_items),
        report=report,
    )


def _draw_distinct_pairs(rng, counts, user_genre, item_genre, popularity, affinity, n_items) -> np.ndarray:
    """Sorted distinct keys user * n_items + item, counts[u] of them per user."""
    n_users = counts.shape[0]
    global_cdf = np.cumsum(popularity)
    by_genre = [np.flatnonzero(item_genre == g) for g in range(len(GENRES))]
    genre_cdfs = [np.cumsum(popularity[members]) for members in by_genre]

    keys = np.empty(0, dtype=np.int64)
    needed = counts.copy()
    for attempt in range(6):
        users = np.repeat(np.arange(n_users, dtype=np.int64), needed)
        items = np.empty(users.size, dtype=np.int64)
        in_genre = rng.random(users.size) < affinity
        favourite = user_genre[users]
        for g, members in enumerate(by_genre):
            slots = np.flatnonzero(in_genre & (favourite == g))
            if members.size == 0:
                in_genre[slots] = False
                continue
            items[slots] = members[_sample(rng, genre_cdfs[g], slots.size)]
        rest = np.flatnonzero(~in_genre)
        items[rest] = _sample(rng, global_cdf, rest.size)
        keys = _merge_distinct(keys, users * n_items + items)
        needed = counts - np.bincount(keys // n_items, minlength=n_users)
        if not needed.any():
            return keys
    # The few users left short (heavy ones, who exhausted the popular items) draw the rest
    # uniformly from the items they do not have yet.
    extra = []
    short = np.flatnonzero(needed)
    bounds = np.searchsorted(keys, np.stack([short * n_items, (short + 1) * n_items]))
    for user, low, high in zip(short, bounds[0], bounds[1]):
        have = keys[low:high] - user * n_items
        unseen = np.setdiff1d(np.arange(n_items), have, assume_unique=True)
        extra.append(user * n_items + rng.choice(unseen, size=needed[user], replace=False))
    return _merge_distinct(keys, np.concatenate(extra))


def _merge_distinct(sorted_keys: np.ndarray, new: np.ndarray) -> np.ndarray:
    """Sorted distinct union. A stable (tim)sort exploits the run that is already sorted;
    np.union1d's hashing is several times slower at these sizes."""
    merged = np.sort(np.concatenate([sorted_keys, new]), kind="stable")
    distinct = np.empty(merged.size, dtype=bool)
    distinct[:1] = True
    np.not_equal(merged[1:], merged[:-1], out=distinct[1:])
    return merged[distinct]


def _planted_ratings(rng, users, items, user_factors, item_factors, half_stars) -> np.ndarray:
    factors = user_factors.shape[1]
    user_bias = 0.4 * rng.standard_normal(user_factors.shape[0])
    item_bias = 0.5 * rng.standard_normal(item_factors.shape[0])
    score = np.empty(users.size, dtype=np.float64)
    for start in range(0, users.size, 2_000_000):  # chunks keep the gathered factors small
        chunk = slice(start, start + 2_000_000)
        u, i = users[chunk], items[chunk]
        score[chunk] = np.einsum("ij,ij->i", user_factors[u], item_factors[i]) / np.sqrt(factors)
        score[chunk] += user_bias[u] + item_bias[i]
    score += 0.5 * rng.standard_normal(users.size)
    shares = STAR_SHARES
    if half_stars:  # each star splits into a half below it and the star itself
        shares = np.repeat(shares / 2, 2)
    sample = score[rng.integers(0, score.size, min(score.size, 200_000))]
    thresholds = np.quantile(sample, np.cumsum(shares)[:-1])
    level = np.searchsorted(thresholds, score)
    return (0.5 + 0.5 * level) if half_stars else (1.0 + level)


def _timestamps(rng, users, counts) -> np.ndarray:
    """Per user: a start between 2000 and 2015, then gaps of hours to weeks, in random item order."""
    start = rng.integers(946_684_800, 1_420_070_400, counts.shape[0])
    gaps = rng.exponential(3 * 86_400, users.size).astype(np.int64)
    # Keys are sorted by user, so each user is a run: elapsed time restarts at every run.
    total = np.cumsum(gaps)
    first = np.repeat(np.concatenate([[0], np.cumsum(counts)[:-1]]), counts)
    elapsed = total - total[first] + gaps[first]
    # Hand the growing times to the user's items in random order (not by item index).
    order = np.lexsort((rng.random(users.size), users))
    stamps = np.empty(users.size, dtype=np.int64)
    stamps[order] = start[users] + elapsed
    return stamps


def _demographics(rng, user_genre, n_users) -> pd.DataFrame:
    genre_rng = np.random.default_rng(7)  # the genre -> demographics tables are fixed
    n_genres = len(GENRES)
    male_share = genre_rng.uniform(0.45, 0.85, n_genres)
    age_tables = genre_rng.dirichlet(np.ones(len(AGE_GROUPS)) * 2, n_genres)
    occupation_tables = genre_rng.dirichlet(np.ones(len(OCCUPATIONS)), n_genres)
    age = np.empty(n_users, dtype=np.int64)
    occupation = np.empty(n_users, dtype=object)
    for g in range(n_genres):
        members = np.flatnonzero(user_genre == g)
        age[members] = np.asarray(AGE_GROUPS)[rng.choice(len(AGE_GROUPS), members.size, p=age_tables[g])]
        occupation[members] = np.asarray(OCCUPATIONS, dtype=object)[
            rng.choice(len(OCCUPATIONS), members.size, p=occupation_tables[g])
        ]
    gender = np.where(rng.random(n_users) < male_share[user_genre], "M", "F")
    return pd.DataFrame(
        {"age": age, "gender": gender, "occupation": occupation, "favourite_genre": np.asarray(GENRES)[user_genre]},
        index=pd.Index(np.arange(1, n_users + 1), name="user"),
    )


def _catalogue(rng, item_genre, n_items) -> pd.DataFrame:
    second = rng.integers(0, len(GENRES), n_items)
    has_second = (rng.random(n_items) < 0.4) & (second != item_genre)
    genres = [
        (GENRES[g], GENRES[s]) if both else (GENRES[g],)
        for g, s, both in zip(item_genre, second, has_second)
    ]
    years = np.clip(np.round(2015 - rng.exponential(15, n_items)), 1920, 2015).astype(np.int64)
    adjectives = rng.integers(0, len(_ADJECTIVES), n_items)
    nouns = rng.integers(0, len(_NOUNS), n_items)
    titles = [f"The {_ADJECTIVES[a]} {_NOUNS[n]} ({y})" for a, n, y in zip(adjectives, nouns, years)]
    return pd.DataFrame(
        {"title": titles, "year": years, "genres": genres},
        index=pd.Index(np.arange(1, n_items + 1), name="item"),
    )
