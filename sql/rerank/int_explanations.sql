-- Why each recommended item is there: for every row of rec_final, the contributors to its score with their share.
-- Item-based scores are sums (co-occurrence, session, content, EASE: sum over history items of weight x
-- similarity), so each history item's term over the sum of the positive terms is its share (negative terms, which
-- EASE and mutual information can give, lower a score and are left out). A blended row splits first by source
-- (each source's contribution over the blended score, int_blend_parts), then within each source. Other sources
-- name what they rest on: the latent factors (svd), a past purchase (repurchase), the category bought lately
-- (cross_sell), the user's segment, popularity, or a pin. Each row keeps its vars.explain_top (3) largest shares.
-- grain: one row per (user_id, item_id, contributor kind and id)
-- unique: user_id, item_id, kind, contributor
-- columns:
--   user_id: the user
--   item_id: the recommended item
--   source: the source of this part of the score
--   kind: item (a history item), factors, purchase, category, segment, popularity or pin
--   contributor: the history item's id, the category, the segment, ...
--   title: the history item's title, when it has one
--   share: its share of the score (the shares of one recommendation sum to at most 1)
--   position: 1 = the largest share, ties broken by kind and contributor
{% set names = blend_sources(var) %}
{% set cascade = var('cascade', ['session', 'content', 'segment_popularity', 'popularity']) %}
WITH final AS (
    SELECT f.user_id, f.item_id, f.source, coalesce(c.tier, 0) AS tier
    FROM {{ ref('rec_final') }} AS f
    LEFT JOIN {{ ref('int_candidates') }} AS c ON c.user_id = f.user_id AND c.item_id = f.item_id
),
blended AS MATERIALIZED (
    SELECT f.user_id, f.item_id, b.source, b.contribution
    FROM final AS f
    JOIN {{ ref('int_blend_parts') }} AS b ON b.user_id = f.user_id AND b.item_id = f.item_id
    WHERE f.tier = 1 AND b.contribution > 0
),
blended_totals AS (  -- exact sums: the same bits in any row order (a GROUP BY and a join: faster than a window)
    SELECT user_id, item_id, CAST(sum(CAST(contribution AS DECIMAL(38, 15))) AS DOUBLE) AS total
    FROM blended GROUP BY user_id, item_id
),
parts AS (  -- (user, item, source, share of the score): the blend's sources for tier 1, the row's source otherwise
    SELECT b.user_id, b.item_id, b.source, b.contribution / t.total AS source_share
    FROM blended AS b JOIN blended_totals AS t ON t.user_id = b.user_id AND t.item_id = b.item_id
    UNION ALL
    SELECT user_id, item_id, source, 1.0 FROM final WHERE tier <> 1
),
held AS MATERIALIZED (  -- each listed item of an item-based source beside each of the user's history items:
                        -- |final| x history rows, where joining the similarities to the history first makes
                        -- |history| x neighbours. Materialized with its source, so that the similarity is joined
                        -- on the (history item, item) pair last: DuckDB otherwise joins it to the listed items
                        -- first (every listed item x its 50 neighbours' pairs), 4x the rows and 7x the time.
    SELECT p.user_id, p.item_id, p.source, p.source_share, a.item_id AS held_item_id, a.affinity
    FROM parts AS p
    JOIN {{ ref('int_user_affinity') }} AS a ON a.user_id = p.user_id
    WHERE p.source IN ('cooccurrence', 'content')
),
terms AS (  -- (user, item, source, its share of the row, kind, contributor, weight): what each of the row's
            -- sources is made of; joining `parts` first leaves out the terms of sources that are not in the row
    SELECT p.user_id, p.item_id, p.source, p.source_share, 'pin' AS kind, 'pinned' AS contributor, 1.0 AS weight
    FROM final AS f
    JOIN parts AS p ON p.user_id = f.user_id AND p.item_id = f.item_id AND p.source = 'pinned'
    WHERE f.source = 'pinned'
{% for source, similarity in [('cooccurrence', 'int_item_similarity'), ('content', 'int_item_content_similarity')] %}
{% if source in names or source in cascade %}
    UNION ALL  -- affinity x similarity, per history item
    SELECT h.user_id, h.item_id, h.source, h.source_share, 'item', CAST(h.held_item_id AS VARCHAR),
           h.affinity * s.similarity
    FROM held AS h
    JOIN {{ ref(similarity) }} AS s ON s.item_id = h.held_item_id AND s.other_item_id = h.item_id
    WHERE h.source = {{ source | lit }}
{% endif %}
{% endfor %}
{% if 'session' in cascade %}
    UNION ALL
    SELECT f.user_id, f.item_id, p.source, p.source_share, 'item', CAST(l.item_id AS VARCHAR), s.similarity
    FROM final AS f
    JOIN parts AS p ON p.user_id = f.user_id AND p.item_id = f.item_id AND p.source = 'session'
    JOIN {{ ref('int_latest_session') }} AS l ON l.user_id = f.user_id
    JOIN {{ ref('int_item_similarity') }} AS s ON s.item_id = l.item_id AND s.other_item_id = f.item_id
{% endif %}
{% if 'ease' in names %}
    UNION ALL
    SELECT f.user_id, f.item_id, p.source, p.source_share, 'item', CAST(hi.item_id AS VARCHAR), x.value * w.weight
    FROM final AS f
    JOIN parts AS p ON p.user_id = f.user_id AND p.item_id = f.item_id AND p.source = 'ease'
    JOIN {{ ref('int_user_index') }} AS u ON u.user_id = f.user_id
    JOIN {{ ref('int_item_index') }} AS ti ON ti.item_id = f.item_id
    JOIN {{ ref('int_ease_matrix') }} AS x ON x.user_ix = u.user_ix
    JOIN {{ ref('int_ease_weights') }} AS w ON w.item_ix = x.item_ix AND w.other_item_ix = ti.item_ix
    JOIN {{ ref('int_item_index') }} AS hi ON hi.item_ix = x.item_ix
{% endif %}
{% if 'cross_sell' in names %}
    UNION ALL
    SELECT f.user_id, f.item_id, p.source, p.source_share, 'category', t.category, t.lift
    FROM final AS f
    JOIN parts AS p ON p.user_id = f.user_id AND p.item_id = f.item_id AND p.source = 'cross_sell'
    JOIN {{ ref('int_item_attributes') }} AS a ON a.item_id = f.item_id
    JOIN {{ ref('int_category_transitions') }} AS t ON t.next_category = a.category
    JOIN {{ ref('int_user_categories') }} AS c ON c.user_id = f.user_id AND c.category = t.category AND c.recent_purchase
{% endif %}
    UNION ALL  -- sources resting on one thing
    SELECT f.user_id, f.item_id, p.source, p.source_share,
           CASE p.source WHEN 'svd' THEN 'factors' WHEN 'repurchase' THEN 'purchase'
                         WHEN 'segment_popularity' THEN 'segment' ELSE 'popularity' END,
           CASE p.source WHEN 'svd' THEN 'latent factors' WHEN 'repurchase' THEN CAST(f.item_id AS VARCHAR)
                         WHEN 'segment_popularity' THEN coalesce(u.segment, '(none)') ELSE 'all customers' END,
           1.0
    FROM final AS f
    JOIN parts AS p ON p.user_id = f.user_id AND p.item_id = f.item_id
    LEFT JOIN {{ ref('int_user_profile') }} AS u ON u.user_id = f.user_id
    WHERE p.source IN ('svd', 'repurchase', 'segment_popularity', 'popularity')
),
positive_terms AS MATERIALIZED (
    SELECT * FROM terms WHERE weight > 0
),
term_totals AS (
    SELECT user_id, item_id, source, CAST(sum(CAST(weight AS DECIMAL(38, 15))) AS DOUBLE) AS total
    FROM positive_terms GROUP BY user_id, item_id, source
),
shared AS (
    SELECT t.user_id, t.item_id, t.source, t.kind, t.contributor, t.source_share * t.weight / n.total AS share
    FROM positive_terms AS t
    JOIN term_totals AS n ON n.user_id = t.user_id AND n.item_id = t.item_id AND n.source = t.source
),
combined AS (  -- a history item may contribute through several sources
    SELECT user_id, item_id, max(source) AS source, kind, contributor,
           {% call exact_sum() %}share{% endcall %} AS share
    FROM shared
    GROUP BY user_id, item_id, kind, contributor
),
ranked AS (  -- the titles are joined after the cut, to the kept rows only
    SELECT c.*,
           row_number() OVER (PARTITION BY c.user_id, c.item_id ORDER BY c.share DESC, c.kind, c.contributor)
               AS position
    FROM combined AS c
    QUALIFY position <= {{ var('explain_top', 3) | int }}
)
SELECT r.user_id, r.item_id, r.source, r.kind, r.contributor, a.title, r.share, r.position
FROM ranked AS r
LEFT JOIN {{ ref('int_item_attributes') }} AS a ON r.kind = 'item' AND CAST(a.item_id AS VARCHAR) = r.contributor
