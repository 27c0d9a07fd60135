-- "Customers also bought" and "similar products": for each item, its most similar other items by co-occurrence
-- (source 'cooccurrence': users who had one also had the other) and by content (source 'content': text and
-- attributes), vars.similar_items_k (10) of each, for product pages and e-mail campaigns.
-- grain: one row per (item_id, source, other_item_id)
-- unique: item_id, source, other_item_id
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
ranked AS (
    SELECT *, row_number() OVER (PARTITION BY item_id, source ORDER BY score DESC, other_item_id) AS rank
    FROM both_sources
)
SELECT item_id, other_item_id, score, rank, source FROM ranked
WHERE rank <= {{ var('similar_items_k', 10) | int }}
