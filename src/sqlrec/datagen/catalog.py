"""The shop's fixed vocabulary: categories with their planted behaviour, brands with a house style, price tiers.

Every pattern the generator plants is declared here as data, so documentation, generator and tests read one table.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Category:
    name: str
    subcategories: tuple[str, ...]
    nouns: tuple[str, ...]  # words that name the thing in titles
    words: tuple[str, ...]  # words descriptions of this category use
    cross_sell: str | None = None  # the category bought next, e.g. suits -> shirts -> ties
    season_peak_day: int | None = None  # day of year when demand peaks; None = no season
    consumable: bool = False  # bought again (coffee, skincare); durables are bought once


CATEGORIES: tuple[Category, ...] = (
    Category("suits", ("two-piece", "three-piece", "blazer"), ("suit", "blazer", "jacket"),
             ("wool", "lapel", "tailoring"), cross_sell="shirts"),
    Category("shirts", ("oxford", "poplin", "linen"), ("shirt", "button-down"),
             ("cotton", "collar", "cuffs"), cross_sell="ties"),
    Category("ties", ("silk", "knit", "bow"), ("tie", "necktie"), ("knot", "silk", "pattern")),
    Category("dresses", ("midi", "maxi", "wrap"), ("dress", "gown"),
             ("hemline", "flowing", "bodice"), cross_sell="shoes"),
    Category("shoes", ("heels", "loafers", "sneakers"), ("shoes", "pumps", "loafers"),
             ("sole", "leather", "heel"), cross_sell="handbags"),
    Category("handbags", ("tote", "clutch", "crossbody"), ("bag", "handbag"), ("strap", "zip", "compartment")),
    Category("outerwear", ("parka", "wool coat", "puffer"), ("coat", "parka"),
             ("insulated", "hood", "warm"), season_peak_day=15),  # mid-January
    Category("swimwear", ("bikini", "trunks", "one-piece"), ("swimsuit", "trunks"),
             ("quick-dry", "beach", "pool"), season_peak_day=196),  # mid-July
    Category("skincare", ("serum", "moisturiser", "cleanser"), ("serum", "cream"),
             ("hydrating", "skin", "spf"), consumable=True),
    Category("coffee", ("espresso", "filter", "decaf"), ("beans", "roast"),
             ("arabica", "aroma", "brew"), consumable=True),
    Category("home", ("lamp", "throw", "vase"), ("lamp", "throw", "vase"), ("living", "cosy", "interior")),
    Category("electronics", ("headphones", "speaker", "charger"), ("headphones", "speaker"),
             ("wireless", "battery", "bluetooth")),
)
CATEGORY_INDEX = {c.name: i for i, c in enumerate(CATEGORIES)}

# Each brand has a house style; style words go into titles and descriptions, so content similarity has signal.
BRANDS: tuple[tuple[str, str], ...] = (
    ("Northwind", "classic"), ("Aurelia", "minimal"), ("Kestrel", "sporty"), ("Monarch", "classic"),
    ("Tidewater", "coastal"), ("Cobalt", "bold"), ("Juniper", "minimal"), ("Solstice", "bold"),
)
STYLE_WORDS = {
    "classic": ("timeless", "tailored", "heritage"),
    "minimal": ("clean", "understated", "essential"),
    "sporty": ("technical", "breathable", "active"),
    "coastal": ("relaxed", "sun-washed", "breezy"),
    "bold": ("statement", "vivid", "striking"),
}

TIERS = ("budget", "mid", "luxury")
TIER_WORDS = {
    "budget": ("value", "everyday", "affordable"),
    "mid": ("quality", "versatile", "well-made"),
    "luxury": ("premium", "luxurious", "handcrafted"),
}
TIER_PRICE = {"budget": (2.6, 0.3), "mid": (3.6, 0.3), "luxury": (5.0, 0.35)}  # log-normal (mean, sd) of price
TIER_SHARE_OF_USERS = (0.5, 0.35, 0.15)
