-- What each personalised source contributes to each candidate of each user: the source's score normalised per user
-- (vars.blend_normalisation: "rank" (default) or "minmax", macros/blend.sql) times the source's weight for the
-- user. Weights: vars.blend ({ source = weight }, default { cooccurrence = 1.0 }); a segment with a table in
-- vars.blend_by_segment uses that table instead; users of vars.cross_sell_segments also get rec_cross_sell,
-- weighted vars.cross_sell_weight (1.0). A source is the stage rec_<source>.
-- grain: one row per (user_id, item_id, source)
-- unique: user_id, item_id, source
-- columns:
--   user_id: the user
--   item_id: a candidate item
--   source: the personalised source (cooccurrence, content, ease, svd, repurchase, cross_sell, ...)
--   normalised: the source's score for the item, mapped onto [0, 1] for this user
--   weight: the source's weight for this user
--   contribution: weight x normalised, this source's part of the blended score
{% set names = blend_sources(var) %}
{% set blend = var('blend', {'cooccurrence': 1.0}) %}
{% set by_segment = var('blend_by_segment', {}) %}
{% set cross_sell = var('cross_sell_segments', []) %}
{% if not names %}
SELECT CAST(NULL AS BIGINT) AS user_id, CAST(NULL AS BIGINT) AS item_id, CAST(NULL AS VARCHAR) AS source,
       CAST(NULL AS DOUBLE) AS normalised, CAST(NULL AS DOUBLE) AS weight, CAST(NULL AS DOUBLE) AS contribution
WHERE false
{% else %}
WITH weights AS (  -- (table, source, weight): table '*' is vars.blend, else the segment's own
    SELECT * FROM (VALUES
{% for source, weight in blend | dictsort %}
        ('*', {{ source | lit }}, {{ weight | float }}),
{% endfor %}
{% for segment, table in by_segment | dictsort %}
{% for source, weight in table | dictsort %}
        ({{ segment | lit }}, {{ source | lit }}, {{ weight | float }}),
{% endfor %}
{% endfor %}
        ('*', '', 0.0)  -- ends the list; weight 0 is dropped below
    ) AS w(weight_table, source, weight)
),
user_weights AS (
    SELECT p.user_id, w.source, w.weight
    FROM {{ ref('int_user_profile') }} AS p
{% if by_segment %}
    JOIN weights AS w ON w.weight_table = CASE WHEN p.segment IN {{ by_segment | list | lit }} THEN p.segment
                                               ELSE '*' END
{% else %}
    JOIN weights AS w ON w.weight_table = '*'
{% endif %}
{% if cross_sell %}
    UNION ALL
    SELECT user_id, 'cross_sell', {{ var('cross_sell_weight', 1.0) | float }}
    FROM {{ ref('int_user_profile') }}
    WHERE segment IN {{ cross_sell | lit }}
{% endif %}
),
source_rows AS (
{% for name in names %}
    SELECT user_id, item_id, score, rank, {{ name | lit }} AS source FROM {{ ref('rec_' ~ name) }}
{% if not loop.last %}
    UNION ALL
{% endif %}
{% endfor %}
),
normalised AS (
    SELECT user_id, item_id, source, {{ normalised_score(var('blend_normalisation', 'rank')) }} AS normalised
    FROM source_rows
)
SELECT n.user_id, n.item_id, n.source, n.normalised, w.weight, w.weight * n.normalised AS contribution
FROM normalised AS n
JOIN user_weights AS w ON w.user_id = n.user_id AND w.source = n.source
WHERE w.weight > 0
{% endif %}
