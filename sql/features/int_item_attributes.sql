-- What the business rules, re-rankers and reasons need to know about each item: its catalogue attributes (NULL
-- without an items input), the position of its price tier in vars.tier_order, its popularity, and whether it is new
-- (launched within vars.fresh_days (14) of the newest event) or in the popular head (the top vars.head_share (0.2)
-- of items by users).
-- grain: one row per item of int_item_index
-- unique: item_id
-- columns:
--   item_id: the item
--   title: its title (or NULL)
--   category: its category (or NULL)
--   brand: its brand (or NULL)
--   price_tier: its price tier (or NULL)
--   tier_index: position of price_tier in vars.tier_order, 0 = cheapest (NULL when unknown)
--   in_stock: whether it can be sold (NULL = unknown)
--   margin: its margin (or NULL)
--   is_new: launched within vars.fresh_days of the newest event
--   users: users who interacted with it
--   is_head: among the most popular vars.head_share of items
{% set tiers = var('tier_order', ['budget', 'mid', 'premium', 'luxury']) %}
WITH popularity AS (
    SELECT i.item_id, coalesce(p.users, 0) AS users,
           row_number() OVER (ORDER BY coalesce(p.users, 0) DESC, i.item_id) AS popularity_rank,
           count(*) OVER () AS n_items
    FROM {{ ref('int_item_index') }} AS i
    LEFT JOIN {{ ref('int_item_popularity') }} AS p ON p.item_id = i.item_id
),
now AS (
    SELECT max(ts) AS t_now FROM {{ ref('stg_events') }}
)
SELECT p.item_id,
{% if has_input('items') %}
       c.title, c.category, c.brand, c.price_tier,
       CASE lower(c.price_tier)
{% for tier in tiers %}
           WHEN lower({{ tier | lit }}) THEN {{ loop.index0 }}
{% endfor %}
       END AS tier_index,
       c.in_stock, c.margin,
       coalesce(c.launched_at >= n.t_now - to_days({{ var('fresh_days', 14) | int }}), false) AS is_new,
{% else %}
       CAST(NULL AS VARCHAR) AS title, CAST(NULL AS VARCHAR) AS category, CAST(NULL AS VARCHAR) AS brand,
       CAST(NULL AS VARCHAR) AS price_tier, CAST(NULL AS INTEGER) AS tier_index, CAST(NULL AS BOOLEAN) AS in_stock,
       CAST(NULL AS DOUBLE) AS margin, false AS is_new,
{% endif %}
       p.users,
       p.popularity_rank <= greatest(1, ceil({{ var('head_share', 0.2) | float }} * p.n_items)) AS is_head
FROM popularity AS p
CROSS JOIN now AS n
{% if has_input('items') %}
LEFT JOIN {{ source('items') }} AS c ON c.item_id = p.item_id
{% endif %}
