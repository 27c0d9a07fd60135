-- The final list of every user: the eligible candidates (int_eligible) in cascade order, their scores adjusted,
-- re-ranked for diversity, capped per category and brand, with pinned items in their slots, cut at vars.k. Every
-- step runs before the cut, so a user gets exactly k items whenever k eligible candidates exist.
--   adjusting   x (1 + vars.freshness_boost) for new items; / users^vars.debias_alpha (popularity debiasing);
--               x (1 + vars.longtail_boost) outside the popular head; for users of vars.cross_sell_segments,
--               x vars.cross_sell_same_category (0.5) for categories they are buying now. Tiers keep their order.
--   vars.rerank none (the cascade order), round_robin (each category's best, then each one's second, ...),
--               geometric (relevance x vars.rerank_gamma (0.5)^(n - 1) for the n-th item of a category), mmr
--               (greedy: vars.mmr_lambda (0.7) x relevance - (1 - lambda) x the largest similarity to an item
--               already chosen; vars.mmr_similarity: category (same category = 1) or embedding (cosine of the SVD
--               item factors)), calibration (greedy, Steck 2018: (1 - vars.calibration_lambda (0.5)) x relevance -
--               lambda x the KL divergence the item adds between the user's category mix and the list's).
--               Relevance is the position in cascade order mapped onto (0, 1]: (n - position + 1) / n.
--   caps        at most vars.max_per_category and vars.max_per_brand items of one category or brand: k picks in
--               arranged order, each the first item still under both caps (items without one are not capped)
--   pins        vars.pinned_items = { "<item_id>" = slot }: the item at that slot for every user the rules allow
-- grain: one row per (user_id, item_id)
-- unique: user_id, item_id
-- columns:
--   user_id: the user
--   item_id: a recommended item
--   score: its adjusted score within its tier (NULL for a pinned item)
--   rank: 1 = first, 1..k without gaps
--   source: where it came from (a personalised source, a cascade step, or pinned)
{% set k = var('k', 10) | int %}
{% set method = var('rerank', 'none') %}
{% set pins = var('pinned_items', {}) %}
{% set cross_sell = var('cross_sell_segments', []) %}
{% set category_cap = var('max_per_category', 0) | int %}
{% set brand_cap = var('max_per_brand', 0) | int %}
{% if method not in ['none', 'round_robin', 'geometric', 'mmr', 'calibration'] %}
{{ raise_error("vars.rerank must be none, round_robin, geometric, mmr or calibration") }}
{% endif %}
{% if pins is not mapping %}
{{ raise_error("vars.pinned_items must be a table of item id = slot, e.g. pinned_items = { \"100042\" = 1 }") }}
{% endif %}
WITH pool AS (
    SELECT e.user_id, e.item_id, e.tier, e.source, e.category, e.brand,
           e.score
{% if var('freshness_boost', 0) %}
           * CASE WHEN e.is_new THEN 1.0 + {{ var('freshness_boost', 0) | float }} ELSE 1.0 END
{% endif %}
{% if var('debias_alpha', 0) %}
           / pow(greatest(e.users, 1), {{ var('debias_alpha', 0) | float }})
{% endif %}
{% if var('longtail_boost', 0) %}
           * CASE WHEN e.is_head THEN 1.0 ELSE 1.0 + {{ var('longtail_boost', 0) | float }} END
{% endif %}
{% if cross_sell %}
           * CASE WHEN e.segment IN {{ cross_sell | lit }} AND EXISTS (
                      SELECT 1 FROM {{ ref('int_user_categories') }} AS now_buying
                      WHERE now_buying.user_id = e.user_id AND now_buying.category = e.category
                        AND now_buying.recent_purchase)
                  THEN {{ var('cross_sell_same_category', 0.5) | float }} ELSE 1.0 END
{% endif %}
           AS relevance
    FROM {{ ref('int_eligible') }} AS e
{% if pins %}
    WHERE CAST(e.item_id AS VARCHAR) NOT IN {{ pins | list | lit }}
{% endif %}
),
ordered AS MATERIALIZED (
    SELECT *,
           row_number() OVER (PARTITION BY user_id ORDER BY tier, relevance DESC, item_id) AS position,
           count(*) OVER (PARTITION BY user_id) AS pool_size
    FROM pool
),
{% if method in ['round_robin', 'geometric'] %}
turns AS (
    SELECT *, row_number() OVER (PARTITION BY user_id, category ORDER BY position) AS turn FROM ordered
),
arranged AS (
    SELECT *,
{% if method == 'round_robin' %}
           row_number() OVER (PARTITION BY user_id ORDER BY turn, position) AS arrangement
{% else %}
           row_number() OVER (PARTITION BY user_id
                              ORDER BY (pool_size - position + 1) / CAST(pool_size AS DOUBLE)
                                       * pow({{ var('rerank_gamma', 0.5) | float }}, turn - 1) DESC, position)
               AS arrangement
{% endif %}
    FROM turns
),
{% elif method in ['mmr', 'calibration'] %}
{% if method == 'mmr' and var('mmr_similarity', 'category') == 'embedding' %}
vectors AS (
    SELECT i.item_id, f.factors, sqrt({{ dot_product('f', 'f') }}) AS norm
    FROM {{ ref('int_svd_item_factors') }} AS f JOIN {{ ref('int_item_index') }} AS i ON i.item_ix = f.item_ix
),
{% elif method == 'mmr' and var('mmr_similarity', 'category') != 'category' %}
{{ raise_error("vars.mmr_similarity must be category or embedding") }}
{% endif %}
picked_0 AS MATERIALIZED (
    SELECT user_id, item_id, category, 0 AS pick FROM ordered WHERE false
),
{% for step in range(1, k + 1) %}
{% if method == 'calibration' %}
shift_{{ step }} AS (  -- per history category: how the list's KL divergence moves if one more item of it is added
    SELECT h.user_id, h.category,
           h.share * (ln(h.share / ((1 - 0.01) * (coalesce(c.n, 0) + 1) / {{ step }}.0 + 0.01 * h.share))
                      - ln(h.share / ((1 - 0.01) * coalesce(c.n, 0) / {{ step }}.0 + 0.01 * h.share))) AS delta
    FROM {{ ref('int_user_categories') }} AS h
    LEFT JOIN (SELECT user_id, category, count(*) AS n FROM picked_{{ step - 1 }} GROUP BY user_id, category) AS c
           ON c.user_id = h.user_id AND c.category = h.category
    WHERE h.share > 0
),
{% endif %}
choice_{{ step }} AS MATERIALIZED (
    SELECT o.user_id, o.item_id, o.category, {{ step }} AS pick
    FROM ordered AS o
{% if method == 'calibration' %}
    LEFT JOIN shift_{{ step }} AS d ON d.user_id = o.user_id AND d.category = o.category
{% elif var('mmr_similarity', 'category') == 'embedding' %}
    LEFT JOIN vectors AS v ON v.item_id = o.item_id
    LEFT JOIN (
        SELECT c.user_id, c.item_id,
               max({{ dot_product('cv', 'sv') }} / nullif(cv.norm * sv.norm, 0)) AS similarity
        FROM ordered AS c
        JOIN picked_{{ step - 1 }} AS s ON s.user_id = c.user_id
        JOIN vectors AS cv ON cv.item_id = c.item_id
        JOIN vectors AS sv ON sv.item_id = s.item_id
        GROUP BY c.user_id, c.item_id
    ) AS near ON near.user_id = o.user_id AND near.item_id = o.item_id
{% endif %}
    WHERE NOT EXISTS (SELECT 1 FROM picked_{{ step - 1 }} AS s WHERE s.user_id = o.user_id AND s.item_id = o.item_id)
    QUALIFY row_number() OVER (PARTITION BY o.user_id ORDER BY
{% if method == 'calibration' %}
        (1 - {{ var('calibration_lambda', 0.5) | float }}) * (o.pool_size - o.position + 1) / CAST(o.pool_size AS DOUBLE)
        - {{ var('calibration_lambda', 0.5) | float }} * coalesce(d.delta, 0)
{% elif var('mmr_similarity', 'category') == 'embedding' %}
        {{ var('mmr_lambda', 0.7) | float }} * (o.pool_size - o.position + 1) / CAST(o.pool_size AS DOUBLE)
        - (1 - {{ var('mmr_lambda', 0.7) | float }}) * coalesce(near.similarity, 0)
{% else %}
        {{ var('mmr_lambda', 0.7) | float }} * (o.pool_size - o.position + 1) / CAST(o.pool_size AS DOUBLE)
        - (1 - {{ var('mmr_lambda', 0.7) | float }})
          * CASE WHEN EXISTS (SELECT 1 FROM picked_{{ step - 1 }} AS s
                              WHERE s.user_id = o.user_id AND s.category = o.category) THEN 1 ELSE 0 END
{% endif %}
        DESC, o.position) = 1
),
picked_{{ step }} AS MATERIALIZED (
    SELECT * FROM picked_{{ step - 1 }} UNION ALL SELECT * FROM choice_{{ step }}
),
{% endfor %}
arranged AS (
    SELECT o.*, row_number() OVER (PARTITION BY o.user_id ORDER BY coalesce(p.pick, {{ k + 1 }}), o.position)
               AS arrangement
    FROM ordered AS o LEFT JOIN picked_{{ k }} AS p ON p.user_id = o.user_id AND p.item_id = o.item_id
),
{% else %}
arranged AS (
    SELECT *, position AS arrangement FROM ordered
),
{% endif %}
{% if category_cap > 0 or brand_cap > 0 %}
kept_0 AS MATERIALIZED (  -- the caps: k picks in arranged order, each the first item whose category and brand
    SELECT user_id, item_id, relevance, source, category, brand, arrangement   -- are still under their caps
    FROM arranged WHERE false
),
{% for step in range(1, k + 1) %}
kept_{{ step }} AS MATERIALIZED (
    SELECT * FROM kept_{{ step - 1 }}
    UNION ALL
    SELECT a.user_id, a.item_id, a.relevance, a.source, a.category, a.brand, a.arrangement
    FROM arranged AS a
    WHERE NOT EXISTS (SELECT 1 FROM kept_{{ step - 1 }} AS p WHERE p.user_id = a.user_id AND p.item_id = a.item_id)
{% if category_cap > 0 %}
      AND (a.category IS NULL OR (SELECT count(*) FROM kept_{{ step - 1 }} AS p
                                  WHERE p.user_id = a.user_id AND p.category = a.category) < {{ category_cap }})
{% endif %}
{% if brand_cap > 0 %}
      AND (a.brand IS NULL OR (SELECT count(*) FROM kept_{{ step - 1 }} AS p
                               WHERE p.user_id = a.user_id AND p.brand = a.brand) < {{ brand_cap }})
{% endif %}
    QUALIFY row_number() OVER (PARTITION BY a.user_id ORDER BY a.arrangement) = 1
),
{% endfor %}
listed AS (
    SELECT user_id, item_id, relevance, source,
           row_number() OVER (PARTITION BY user_id ORDER BY arrangement) AS sequence
    FROM kept_{{ k }}
),
{% else %}
listed AS (  -- every arrangement above is already a row_number() per user: 1, 2, 3, ...
    SELECT user_id, item_id, relevance, source, arrangement AS sequence
    FROM arranged
),
{% endif %}
{% if pins %}
pin_list AS (
    SELECT * FROM (VALUES
{% for item, slot in pins | dictsort %}
        ({{ item | lit }}, {{ slot | int }}){% if not loop.last %},{% endif %}

{% endfor %}
    ) AS p(item_key, slot)
),
pinned AS (  -- one allowed item per slot and user, in slot order
    SELECT user_id, item_id, slot, row_number() OVER (PARTITION BY user_id ORDER BY slot) AS nth
    FROM (
        SELECT p.user_id, a.item_id, l.slot
        FROM {{ ref('int_user_profile') }} AS p
        CROSS JOIN pin_list AS l
        JOIN {{ ref('int_item_attributes') }} AS a ON CAST(a.item_id AS VARCHAR) = l.item_key
        WHERE l.slot BETWEEN 1 AND {{ k }}
          AND {{ item_rules(var, 'a') }}
          AND {{ user_item_rules(var, ref, 'p', 'a', 'p') }}
        QUALIFY row_number() OVER (PARTITION BY p.user_id, l.slot ORDER BY a.item_id) = 1
    ) AS allowed
),
placed AS (  -- the n-th listed item goes to the n-th slot no pin holds
    SELECT l.user_id, l.item_id, l.relevance, l.source, l.sequence + count(q.slot) AS slot
    FROM listed AS l
    LEFT JOIN pinned AS q ON q.user_id = l.user_id AND q.slot - q.nth < l.sequence
    GROUP BY l.user_id, l.item_id, l.relevance, l.source, l.sequence
    UNION ALL
    SELECT user_id, item_id, CAST(NULL AS DOUBLE), 'pinned', slot FROM pinned
),
ranked AS (
    SELECT user_id, item_id, relevance AS score, source,
           row_number() OVER (PARTITION BY user_id ORDER BY slot, item_id) AS rank
    FROM placed
)
{% else %}
ranked AS (  -- without pins the slots are the sequence, already 1, 2, 3, ... per user
    SELECT user_id, item_id, relevance AS score, source, sequence AS rank
    FROM listed
)
{% endif %}
SELECT user_id, item_id, score, rank, source FROM ranked
WHERE rank <= {{ k }}
