"""Events sampled from the latent world, one chunk of users at a time, so memory stays bounded at any size.

A user's history is a set of journeys. A journey starts at a random time; the user picks a category (their taste,
lifted by the season), a price tier (mostly their own), a brand (their taste) and an item (by popularity, among
items launched by then). It is a view, then maybe a cart, then maybe a purchase (likelier for high-propensity
users). A purchase may lead to the cross-sell complement a few days later (suit -> shirt -> tie), and a consumable
purchase to a repeat purchase about a month later. A durable is never bought twice by the same user.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .catalog import BRANDS, CATEGORIES, TIERS
from .world import DAY, Items, Users, WorldSize, season_factor, tier_preference

VIEW, CART, PURCHASE = 0, 1, 2
EVENT_TYPES = ("view", "cart", "purchase")
CROSS_SELL_PROBABILITY = 0.6  # a purchase with a complement leads to it
REPEAT_PROBABILITY = 0.6  # a consumable purchase is repeated
REPEAT_AFTER_DAYS = (30.0, 6.0)  # mean, sd
STEP_SECONDS = 45  # between the events of one journey


@dataclass
class EventChunk:
    user: np.ndarray  # user index
    item: np.ndarray  # item index
    kind: np.ndarray  # VIEW, CART or PURCHASE
    ts: np.ndarray  # epoch seconds
    quantity: np.ndarray
    session: np.ndarray  # int64 session id

    def __len__(self) -> int:
        return len(self.user)


class ItemSampler:
    """Draw an item of a (category, tier, brand) cell by popularity.

    An empty cell falls back to (category, tier), then to the category.
    """

    def __init__(self, items: Items):
        self.items = items
        n_tiers, n_brands = len(TIERS), len(BRANDS)
        cell = (items.category * n_tiers + items.tier) * n_brands + items.brand
        self.fine = _CellTable(cell, items.popularity, len(CATEGORIES) * n_tiers * n_brands)
        self.medium = _CellTable(items.category * n_tiers + items.tier, items.popularity, len(CATEGORIES) * n_tiers)
        self.coarse = _CellTable(items.category, items.popularity, len(CATEGORIES))

    def draw(self, category, tier, brand, rng: np.random.Generator) -> np.ndarray:
        n_tiers, n_brands = len(TIERS), len(BRANDS)
        u = rng.random(len(category))
        item = self.fine.draw((category * n_tiers + tier) * n_brands + brand, u)
        missing = item < 0
        item[missing] = self.medium.draw(category[missing] * n_tiers + tier[missing], u[missing])
        missing = item < 0
        item[missing] = self.coarse.draw(category[missing], u[missing])
        return item


class _CellTable:
    """Items grouped by cell with cumulative popularity, for vectorised inverse-CDF draws within a cell."""

    def __init__(self, cell: np.ndarray, weight: np.ndarray, n_cells: int):
        order = np.lexsort((np.arange(len(cell)), cell))
        self.items = order
        sorted_cells = cell[order]
        self.counts = np.bincount(sorted_cells, minlength=n_cells)
        self.starts = np.concatenate([[0], np.cumsum(self.counts)[:-1]])
        w = weight[order]
        totals = np.bincount(sorted_cells, weights=w, minlength=n_cells)
        cumulative = np.cumsum(w) - np.repeat(np.cumsum(totals) - totals, self.counts)
        with np.errstate(invalid="ignore", divide="ignore"):
            self.cumulative = cumulative / np.repeat(totals, self.counts) + sorted_cells  # cell + share in (0, 1]

    def draw(self, cells: np.ndarray, u: np.ndarray) -> np.ndarray:
        out = np.full(len(cells), -1)
        ok = self.counts[cells] > 0
        position = np.searchsorted(self.cumulative, cells[ok] + u[ok], side="left")
        position = np.minimum(position, self.starts[cells[ok]] + self.counts[cells[ok]] - 1)
        out[ok] = self.items[position]
        return out


def events_per_user(size: WorldSize, users: Users, rng: np.random.Generator) -> np.ndarray:
    """How many events each user has: heavy-tailed activity scaled by propensity and by time since signup."""
    active_from = np.maximum(users.signup_at, size.start)
    share_of_period = (size.end - active_from) / (size.end - size.start)
    activity = (rng.pareto(1.5, users.count) + 1.0) * users.propensity * np.maximum(share_of_period, 0.02)
    return rng.multinomial(size.events, activity / activity.sum())


def simulate_chunk(size: WorldSize, items: Items, users: Users, sampler: ItemSampler, first: int,
                   budget: np.ndarray, rng: np.random.Generator) -> EventChunk:
    """Events of users first .. first + len(budget) - 1; user u gets exactly budget[u - first] events."""
    local = np.repeat(np.arange(len(budget)), budget)  # one journey per budgeted event: an upper bound
    user = first + local
    order = _rank_within(local)  # journey number within its user
    active_from = np.maximum(users.signup_at[user], size.start)
    start = active_from + (rng.random(len(user)) * (size.end - active_from)).astype(np.int64)

    weights = users.category_affinity[user] * season_factor(start)
    category = _sample_rows(weights, rng)
    tier = _sample_rows(tier_preference(users.tier[user]), rng)
    brand = _sample_rows(users.brand_affinity[user], rng)
    item = sampler.draw(category, tier, brand, rng)
    not_yet = items.launched_at[item] > start
    item[not_yet] = items.predecessor[item[not_yet]]

    propensity = users.propensity[user]
    carts = rng.random(len(user)) < np.minimum(0.9, 0.22 * propensity)
    buys = carts & (rng.random(len(user)) < np.minimum(0.95, 0.35 * propensity))
    length = 1 + carts + buys
    journeys = _Journeys(user=user, item=item, start=start, length=length, key=order * 4.0,
                         session=order.astype(np.int64))

    for generation in (1, 2):  # a suit leads to a shirt, and that shirt to a tie
        bought = journeys.final_kind() == PURCHASE
        complement = items.complement[journeys.item]
        follow = bought & (complement >= 0) & (rng.random(len(journeys)) < CROSS_SELL_PROBABILITY)
        if generation == 2:
            follow &= journeys.generation == 1
        when = journeys.start + (rng.uniform(0.2, 3.0, len(journeys)) * DAY).astype(np.int64)
        follow &= when < size.end
        follow &= items.launched_at[np.maximum(complement, 0)] <= when
        journeys = journeys.extend(follow, complement, when, length=2, generation=generation)

    consumable = np.array([c.consumable for c in CATEGORIES])[items.category[journeys.item]]
    repeat_at = journeys.start + (rng.normal(*REPEAT_AFTER_DAYS, len(journeys)) * DAY).astype(np.int64)
    repeat = (journeys.length >= 2) & consumable & (rng.random(len(journeys)) < REPEAT_PROBABILITY)
    repeat &= (repeat_at < size.end) & (journeys.final_kind() == PURCHASE)
    journeys = journeys.extend(repeat, journeys.item, repeat_at, length=1, generation=3)
    return _expand(journeys, budget, first, items, rng)


@dataclass
class _Journeys:
    user: np.ndarray
    item: np.ndarray
    start: np.ndarray
    length: np.ndarray  # 1 view, 2 view+cart (or view+purchase for follow-ups), 3 view+cart+purchase
    key: np.ndarray  # order within the user's budget: follow-ups sort right after the journey that caused them
    session: np.ndarray
    generation: np.ndarray | None = None
    kinds: np.ndarray | None = None  # per journey, the event kinds, padded to 3

    def __post_init__(self):
        if self.generation is None:
            self.generation = np.zeros(len(self.user), dtype=np.int8)
        if self.kinds is None:
            self.kinds = np.array([[VIEW, CART, PURCHASE]] * len(self.user), dtype=np.int8).reshape(-1, 3)

    def __len__(self) -> int:
        return len(self.user)

    def final_kind(self) -> np.ndarray:
        return self.kinds[np.arange(len(self)), self.length - 1]

    def extend(self, mask, item, start, length: int, generation: int) -> "_Journeys":
        n = int(mask.sum())
        kinds = {2: [VIEW, PURCHASE, PURCHASE], 1: [PURCHASE, PURCHASE, PURCHASE]}[length]
        return _Journeys(
            user=np.concatenate([self.user, self.user[mask]]),
            item=np.concatenate([self.item, item[mask]]),
            start=np.concatenate([self.start, start[mask]]),
            length=np.concatenate([self.length, np.full(n, length)]),
            key=np.concatenate([self.key, self.key[mask] + generation]),
            session=np.concatenate([self.session, self.session[mask] * 8 + generation + 1_000_000]),
            generation=np.concatenate([self.generation, np.full(n, generation, dtype=np.int8)]),
            kinds=np.concatenate([self.kinds, np.array([kinds] * n, dtype=np.int8).reshape(-1, 3)]),
        )


def _expand(journeys: _Journeys, budget: np.ndarray, first: int, items: Items,
            rng: np.random.Generator) -> EventChunk:
    j = np.repeat(np.arange(len(journeys)), journeys.length)
    step = _rank_within(j)
    kind = journeys.kinds[j, step]
    user = journeys.user[j]
    # Keep each user's first `budget` events in journey order, so every user gets exactly their budget.
    order = np.lexsort((step, journeys.key[j], user))
    j, step, kind, user = j[order], step[order], kind[order], user[order]
    keep = _rank_within(user) < budget[user - first]
    j, step, kind, user = j[keep], step[keep], kind[keep], user[keep]
    item = journeys.item[j]
    ts = journeys.start[j] + step * STEP_SECONDS

    # Durables are bought once: a later purchase of the same durable by the same user is only a view.
    consumable = np.array([c.consumable for c in CATEGORIES])[items.category[item]]
    purchase = kind == PURCHASE
    order = np.lexsort((ts, item, user))
    seen_before = np.zeros(len(kind), dtype=bool)
    p_order = order[purchase[order] & ~consumable[order]]
    same = (user[p_order][1:] == user[p_order][:-1]) & (item[p_order][1:] == item[p_order][:-1])
    seen_before[p_order[1:][same]] = True
    kind = np.where(seen_before, VIEW, kind)

    ts = _separate_duplicates(user, item, kind, ts)
    quantity = np.where(kind == PURCHASE, 1 + (consumable * rng.geometric(0.6, len(kind)) - consumable), 0)
    quantity = np.where(kind == CART, 1, quantity)
    session = (user.astype(np.int64) + 1) * 10_000_000 + journeys.session[j]
    final = np.lexsort((kind, item, ts, user))
    return EventChunk(user=user[final], item=item[final], kind=kind[final].astype(np.int8), ts=ts[final],
                      quantity=quantity[final].astype(np.int32), session=session[final])


def _separate_duplicates(user, item, kind, ts) -> np.ndarray:
    """Move an event one second on while another has the same (user, item, time, kind): events stay unique."""
    ts = ts.copy()
    for _ in range(100):
        order = np.lexsort((kind, ts, item, user))
        same = ((user[order][1:] == user[order][:-1]) & (item[order][1:] == item[order][:-1])
                & (ts[order][1:] == ts[order][:-1]) & (kind[order][1:] == kind[order][:-1]))
        if not same.any():
            return ts
        ts[order[1:][same]] += 1
    raise AssertionError("could not make events unique")


def _rank_within(groups: np.ndarray) -> np.ndarray:
    """0, 1, 2, ... within each run of equal values of a sorted (grouped) array."""
    if len(groups) == 0:
        return np.zeros(0, dtype=np.int64)
    starts = np.flatnonzero(np.concatenate([[True], groups[1:] != groups[:-1]]))
    lengths = np.diff(np.concatenate([starts, [len(groups)]]))
    return np.arange(len(groups)) - np.repeat(starts, lengths)


def _sample_rows(probabilities: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One categorical draw per row of a (not necessarily normalised) weight matrix."""
    cumulative = probabilities.cumsum(axis=1)
    draws = rng.random(len(probabilities))[:, None] * cumulative[:, -1:]
    return np.minimum((draws > cumulative).sum(axis=1), probabilities.shape[1] - 1)
