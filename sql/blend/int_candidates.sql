-- Every user's candidate pool, in the order of the cold-start cascade: tier 1 is the personalised blend
-- (int_blend_parts summed per item), then each step of vars.cascade (default ["session", "content",
-- "segment_popularity", "popularity"]: what goes with the latest visit, content similarity, the user's segment's
-- favourites, everyone's), each step's lists scored by rank as (n - rank + 1) / n. An item offered by several
-- tiers keeps its best (lowest) tier. So a user with history gets personalised items first, a user with one visit
-- gets items like it, and a user with nothing gets what is popular, each row saying where it came from.
-- grain: one row per (user_id, item_id)
-- unique: user_id, item_id
-- columns:
--   user_id: the user
--   item_id: a candidate item
--   tier: 1 = personalised, 2.. = the cascade's steps in order
--   source: the source of the row: in tier 1 the personalised source contributing most (ties by name), else the step
--   score: the blended score in tier 1, the rank-normalised score of the step otherwise (0 to 1)
{% set steps = {'session': 'rec_session', 'content': 'rec_content', 'segment_popularity': 'rec_segment_popularity',
                'popularity': 'rec_popularity'} %}
{% set cascade = var('cascade', ['session', 'content', 'segment_popularity', 'popularity']) %}
{% set blend_names = blend_sources(var) %}
{% for step in cascade %}
{% if step not in steps %}
{{ raise_error("vars.cascade may list session, content, segment_popularity and popularity, in the order to try them") }}
{% endif %}
{% endfor %}
{# tier 1's source: the first by name of the sources whose contribution is the largest, in one aggregation
   (ranking the parts took a window besides) #}
WITH blended AS (  -- tier 1
    SELECT user_id, item_id, 1 AS tier,
{% if blend_names %}
           CASE max(contribution)
{% for name in blend_names %}
               WHEN max(CASE WHEN source = {{ name | lit }} THEN contribution END) THEN {{ name | lit }}
{% endfor %}
           END AS source,
{% else %}
           CAST(NULL AS VARCHAR) AS source,
{% endif %}
           {% call exact_sum() %}contribution{% endcall %} AS score  -- the same bits in any row order
    FROM {{ ref('int_blend_parts') }}
    GROUP BY user_id, item_id
){% if cascade %},
cascade AS (  -- tiers 2..
{% for step in cascade %}
{% if not loop.first %}
    UNION ALL
{% endif %}
    SELECT user_id, item_id, {{ loop.index + 1 }} AS tier, {{ step | lit }} AS source,
           (count(*) OVER (PARTITION BY user_id) - rank + 1) / CAST(count(*) OVER (PARTITION BY user_id) AS DOUBLE)
               AS score
    FROM {{ ref(steps[step]) }}
{% endfor %}
){% endif %}

SELECT user_id, item_id, tier, source, score FROM blended
{% if cascade %}
UNION ALL  -- the best tier of each pair the blend does not hold: an anti-join, then a dedup of the cascade's rows
           -- alone (faster than one dedup of every row)
SELECT c.user_id, c.item_id, c.tier, c.source, c.score
FROM cascade AS c
WHERE NOT EXISTS (SELECT 1 FROM blended AS b WHERE b.user_id = c.user_id AND b.item_id = c.item_id)
QUALIFY row_number() OVER (PARTITION BY c.user_id, c.item_id ORDER BY c.tier) = 1
{% endif %}
