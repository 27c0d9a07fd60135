"""The ground truth of a generated world, read back from its `truth/` folder, for offline evaluation and simulation.

`preference` is the probability that a user's next journey lands on each item, exactly as the generator draws it
(category taste x price-tier loyalty x brand taste x the item's share of popularity in its cell), leaving out the
season. `respond` simulates what a user does with a recommended list: relevance times a position bias.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from .catalog import BRANDS, CATEGORIES, TIERS
from .world import TIER_LOYALTY


@dataclass(frozen=True)
class Truth:
    user_ids: np.ndarray
    item_ids: np.ndarray
    category_affinity: np.ndarray  # users x categories
    brand_affinity: np.ndarray  # users x brands
    user_tier: np.ndarray
    propensity: np.ndarray
    item_category: np.ndarray
    item_brand: np.ndarray
    item_tier: np.ndarray
    item_popularity: np.ndarray
    complement: np.ndarray  # item id of the cross-sell complement, or -1
    item_price: np.ndarray | None = None

    @classmethod
    def load(cls, folder: Path) -> "Truth":
        """Read a generated world: `folder` holds items.parquet and truth/."""
        folder = Path(folder)
        users = pq.read_table(folder / "truth" / "users.parquet").to_pydict()
        n_users = len(users["user_id"])
        cat = pq.read_table(folder / "truth" / "user_category_affinity.parquet").column("affinity").to_numpy()
        brand = pq.read_table(folder / "truth" / "user_brand_affinity.parquet").column("affinity").to_numpy()
        items = pq.read_table(folder / "items.parquet", columns=["item_id", "category", "brand", "price_tier",
                                                                   "price"])
        item_truth = pq.read_table(folder / "truth" / "items.parquet").to_pydict()
        categories = {c.name: i for i, c in enumerate(CATEGORIES)}
        brands = {b: i for i, (b, _) in enumerate(BRANDS)}
        tiers = {t: i for i, t in enumerate(TIERS)}
        return cls(
            user_ids=np.array(users["user_id"]), item_ids=items.column("item_id").to_numpy(),
            category_affinity=cat.reshape(n_users, len(CATEGORIES)),
            brand_affinity=brand.reshape(n_users, len(BRANDS)),
            user_tier=np.array([tiers[t] for t in users["tier"]]), propensity=np.array(users["propensity"]),
            item_category=np.array([categories[c] for c in items.column("category").to_pylist()]),
            item_brand=np.array([brands[b] for b in items.column("brand").to_pylist()]),
            item_tier=np.array([tiers[t] for t in items.column("price_tier").to_pylist()]),
            item_popularity=np.array(item_truth["popularity"]),
            complement=np.array([-1 if c is None else c for c in item_truth["complement_item_id"]]),
            item_price=items.column("price").to_numpy(),
        )

    def preference(self, user_index: np.ndarray | None = None) -> np.ndarray:
        """users x items: the probability that the user's next journey is about each item (rows sum to ~1)."""
        rows = np.arange(len(self.user_ids)) if user_index is None else np.asarray(user_index)
        other = (1 - TIER_LOYALTY) / (len(TIERS) - 1)
        tier = np.where(self.user_tier[rows][:, None] == self.item_tier[None, :], TIER_LOYALTY, other)
        cell = (self.item_category * len(TIERS) + self.item_tier) * len(BRANDS) + self.item_brand
        cell_total = np.bincount(cell, weights=self.item_popularity)[cell]
        share = self.item_popularity / cell_total
        return (self.category_affinity[rows][:, self.item_category] * tier
                * self.brand_affinity[rows][:, self.item_brand] * share[None, :])

    def respond(self, user_index: np.ndarray, lists: np.ndarray, rng: np.random.Generator):
        """Simulate users seeing ranked lists (users x k item indexes, -1 for an empty slot): returns (clicked,
        purchased) booleans of the same shape.

        P(click) = relevance x 1/log2(rank + 1), where relevance is the preference relative to the user's best item;
        P(purchase | click) = min(1, 0.3 x propensity). The draws are made for every slot, empty or not, so two
        lists shown to the same users with the same generator state meet the same random numbers.
        """
        user_index = np.asarray(user_index)
        shown = lists >= 0
        pref = self.preference(user_index)
        relevance = np.take_along_axis(pref, np.where(shown, lists, 0), axis=1) / pref.max(axis=1, keepdims=True)
        position = 1.0 / np.log2(np.arange(2, lists.shape[1] + 2))
        clicked = (rng.random(lists.shape) < relevance * position[None, :]) & shown
        buy = np.minimum(1.0, 0.3 * self.propensity[user_index])[:, None]
        purchased = clicked & (rng.random(lists.shape) < buy)
        return clicked, purchased
