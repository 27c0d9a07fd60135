"""The latent retail world: a catalogue, users with hidden tastes, and the ground truth that drives their behaviour.

Everything is drawn from one seed with NumPy, so the same size and seed give the same world. The truth is kept:
it is what `simulate.py` samples events from, and what experiments use to simulate how users respond to a list.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

import numpy as np

from .catalog import BRANDS, CATEGORIES, STYLE_WORDS, TIER_PRICE, TIER_SHARE_OF_USERS, TIER_WORDS, TIERS

DAY = 86_400
END = datetime(2026, 10, 31, tzinfo=timezone.utc)  # the last moment of the generated history
N_CLUSTERS = 8
TIER_LOYALTY = 0.85  # share of a user's interest that stays in their own price tier
NEW_ITEM_DAYS = 21  # items launched this close to the end are "new" (cold-start items)
NEW_USER_DAYS = 14  # users who signed up this close to the end are "new" (cold-start users)
NEW_ITEM_SHARE = 0.06
NEW_USER_SHARE = 0.05
HIGH_PROPENSITY_SHARE = 0.10


@dataclass(frozen=True)
class WorldSize:
    users: int = 2_000
    items: int = 300
    events: int = 40_000
    seed: int = 42
    days: int = 365

    @property
    def end(self) -> int:
        return int(END.timestamp())

    @property
    def start(self) -> int:
        return self.end - self.days * DAY


@dataclass(frozen=True)
class Items:
    category: np.ndarray  # index into CATEGORIES
    subcategory: np.ndarray  # index into the category's subcategories
    tier: np.ndarray  # index into TIERS
    brand: np.ndarray  # index into BRANDS
    price: np.ndarray
    popularity: np.ndarray  # long-tail base popularity, sums to 1
    launched_at: np.ndarray  # epoch seconds
    in_stock: np.ndarray
    margin: np.ndarray
    complement: np.ndarray  # the item bought next in the cross-sell chain, or -1
    predecessor: np.ndarray  # for a new item, the older item shown before its launch; else itself

    @property
    def count(self) -> int:
        return len(self.category)


@dataclass(frozen=True)
class Users:
    cluster: np.ndarray
    tier: np.ndarray
    category_affinity: np.ndarray  # users x categories, rows sum to 1
    brand_affinity: np.ndarray  # users x brands, rows sum to 1
    propensity: np.ndarray  # how active and how ready to buy
    high_propensity: np.ndarray
    signup_at: np.ndarray  # epoch seconds

    @property
    def count(self) -> int:
        return len(self.tier)


def build_items(size: WorldSize, rng: np.random.Generator) -> Items:
    n = size.items
    category = rng.permutation(np.arange(n) % len(CATEGORIES))  # every category has items
    subcategory = np.array([rng.integers(len(CATEGORIES[c].subcategories)) for c in category])
    tier = rng.choice(len(TIERS), n, p=[0.45, 0.35, 0.20])
    brand = rng.integers(len(BRANDS), size=n)
    mean = np.array([TIER_PRICE[TIERS[t]][0] for t in tier])
    sd = np.array([TIER_PRICE[TIERS[t]][1] for t in tier])
    price = np.round(np.exp(rng.normal(mean, sd)), 2)
    popularity = 1.0 / np.arange(1, n + 1) ** 1.0  # Zipf: a few hits, a long tail
    popularity = popularity[rng.permutation(n)]
    new = rng.random(n) < NEW_ITEM_SHARE
    launched_at = np.where(new, size.end - rng.integers(1, NEW_ITEM_DAYS * DAY, n),
                           size.start - rng.integers(DAY, 730 * DAY, n))
    popularity = np.where(new, popularity * 3.0, popularity)  # launches get attention
    popularity = popularity / popularity.sum()
    complement = np.full(n, -1)
    predecessor = np.arange(n)
    by_cell: dict[tuple[int, int], np.ndarray] = {}
    for c in range(len(CATEGORIES)):
        for t in range(len(TIERS)):
            by_cell[c, t] = np.flatnonzero((category == c) & (tier == t))
    for i in range(n):
        follow = CATEGORIES[category[i]].cross_sell
        if follow is not None:
            c_next = next(k for k, cat in enumerate(CATEGORIES) if cat.name == follow)
            pool = by_cell[c_next, tier[i]]
            pool = pool if pool.size else np.flatnonzero(category == c_next)
            complement[i] = pool[rng.integers(pool.size)]
        if new[i]:
            pool = [j for j in by_cell[category[i], tier[i]] if not new[j]] or \
                   [j for j in np.flatnonzero(category == category[i]) if not new[j]]
            predecessor[i] = pool[rng.integers(len(pool))] if pool else i
    return Items(category=category, subcategory=subcategory, tier=tier, brand=brand, price=price,
                 popularity=popularity, launched_at=launched_at, in_stock=rng.random(n) < 0.95,
                 margin=np.round(rng.uniform(0.1, 0.6, n), 2), complement=complement, predecessor=predecessor)


def build_users(size: WorldSize, rng: np.random.Generator) -> Users:
    n = size.users
    cluster_categories = rng.dirichlet(np.full(len(CATEGORIES), 0.35), N_CLUSTERS)
    cluster_brands = rng.dirichlet(np.full(len(BRANDS), 0.5), N_CLUSTERS)
    cluster = rng.integers(N_CLUSTERS, size=n)
    category_affinity = _dirichlet_rows(rng, 25.0 * cluster_categories[cluster] + 0.02)
    brand_affinity = _dirichlet_rows(rng, 10.0 * cluster_brands[cluster] + 0.05)
    tier = rng.choice(len(TIERS), n, p=TIER_SHARE_OF_USERS)
    high = rng.random(n) < HIGH_PROPENSITY_SHARE
    propensity = np.round(np.where(high, rng.uniform(3.0, 5.0, n), rng.uniform(0.5, 1.5, n)), 3)
    new = rng.random(n) < NEW_USER_SHARE
    signup_at = np.where(new, size.end - rng.integers(DAY, NEW_USER_DAYS * DAY, n),
                         size.start - rng.integers(DAY, 730 * DAY, n))
    return Users(cluster=cluster, tier=tier, category_affinity=category_affinity, brand_affinity=brand_affinity,
                 propensity=propensity, high_propensity=high, signup_at=signup_at)


def _dirichlet_rows(rng: np.random.Generator, alphas: np.ndarray) -> np.ndarray:
    """One Dirichlet draw per row of `alphas` (vectorised through Gamma draws)."""
    draws = rng.gamma(alphas)
    draws = np.maximum(draws, 1e-12)
    return draws / draws.sum(axis=1, keepdims=True)


def season_factor(timestamps: np.ndarray) -> np.ndarray:
    """len(timestamps) x categories: how much each category's demand is lifted at that time of year."""
    moments = timestamps.astype("datetime64[s]")
    day_of_year = (moments - moments.astype("datetime64[Y]")).astype("timedelta64[D]").astype(np.int64)
    factor = np.ones((len(timestamps), len(CATEGORIES)))
    for c, category in enumerate(CATEGORIES):
        if category.season_peak_day is not None:
            phase = 2 * np.pi * (day_of_year - category.season_peak_day) / 365.0
            factor[:, c] = 1.0 + 0.9 * np.cos(phase)  # 19x more demand at the peak than in the trough
    return factor


def tier_preference(user_tier: np.ndarray) -> np.ndarray:
    """len(user_tier) x tiers: the share of each user's interest in each price tier."""
    pref = np.full((len(user_tier), len(TIERS)), (1 - TIER_LOYALTY) / (len(TIERS) - 1))
    pref[np.arange(len(user_tier)), user_tier] = TIER_LOYALTY
    return pref


def item_title(items: Items, i: int, rng: np.random.Generator) -> tuple[str, str]:
    """A title and description whose words carry the item's category, brand style and price tier."""
    category = CATEGORIES[items.category[i]]
    brand, style = BRANDS[items.brand[i]]
    tier = TIERS[items.tier[i]]
    sub = category.subcategories[items.subcategory[i]]
    noun = category.nouns[rng.integers(len(category.nouns))]
    style_word = STYLE_WORDS[style][rng.integers(3)]
    tier_word = TIER_WORDS[tier][rng.integers(3)]
    title = f"{brand} {style_word} {sub} {noun}".title()
    article = "An" if tier_word[0] in "aeiou" else "A"
    feature = category.words[rng.integers(len(category.words))]
    second_style_word = STYLE_WORDS[style][rng.integers(3)]
    description = (f"{article} {tier_word} {sub} {noun} from {brand}, {style_word} and {second_style_word}. "
                   f"{feature.capitalize()} {category.words[rng.integers(len(category.words))]}, "
                   f"part of our {category.name} range: {TIER_WORDS[tier][rng.integers(3)]} {style} style.")
    return title, description
