-- "Customers also bought" and "similar products": for each item, its most similar other items by co-occurrence
-- (source 'cooccurrence': users who had one also had the other) and by content (source 'content': text and
-- attributes), vars.similar_items_k (10) of each, for product pages and e-mail campaigns. The item rules (deny and
-- allow lists, in stock, margin floor) hold for every item shown, and with vars.max_tier_distance its price tier is
-- at most that many steps from the anchor item's: no $50,000 watch beside a $50 t-shirt.
-- grain: one row per (item_id, source, other_item_id)
-- unique: item_id, source, other_item_id
-- order_by: item_id, source, rank
-- not_null: item_id, other_item_id, score, rank, source
-- allow_empty: true
-- columns:
--   item_id: the item on the page
--   other_item_id: an item to show beside it
--   score: the similarity (comparable within a source)
--   rank: 1 = most similar within the source, ties broken by other_item_id
--   source: cooccurrence or content
WITH both_sources AS (
    SELECT item_id, other_item_id, similarity AS score, 'cooccurrence' AS source
    FROM {{ ref('int_item_similarity') }} WHERE item_id <> other_item_id
    UNION ALL
    SELECT item_id, other_item_id, similarity, 'content' FROM {{ ref('int_item_content_similarity') }}
),
allowed AS (  -- the item rules hold for the item shown; its price tier stays near the anchor's
    SELECT b.*
    FROM both_sources AS b
    JOIN {{ ref('int_item_attributes') }} AS o ON o.item_id = b.other_item_id
    JOIN {{ ref('int_item_attributes') }} AS anchor ON anchor.item_id = b.item_id
    WHERE {{ item_rules(var, 'o') }}
{% if var('max_tier_distance', none) is not none %}
      AND coalesce(abs(o.tier_index - anchor.tier_index) <= {{ var('max_tier_distance', none) | int }}, true)
{% endif %}
),
ranked AS (
    SELECT *, row_number() OVER (PARTITION BY item_id, source ORDER BY score DESC, other_item_id) AS rank
    FROM allowed
)
SELECT item_id, other_item_id, score, rank, source FROM ranked
WHERE rank <= {{ var('similar_items_k', 10) | int }}
