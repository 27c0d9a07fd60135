-- What goes with the user's latest visit: items similar (int_item_similarity, co-occurrence) to the items of the
-- user's most recent session (int_latest_session), scored by the sum of similarities; items the user already had
-- are removed. The cold-start cascade's step after the personalised blend: it serves users whose whole history is
-- one short visit. vars.neighbour_scoring: "sparse" (default) ranks the scores of int_session_candidates (a SciPy
-- product, sqlrec/stages/neighbours.py), "sql" scores here; both give the same lists.
-- grain: one row per (user_id, item_id)
-- unique: user_id, item_id
-- columns:
--   user_id: the user
--   item_id: a recommended item
--   score: summed similarity to the items of the latest session
--   rank: 1 = best, in score order, ties broken by item_id
--   source: 'session'
{% set scoring = var('neighbour_scoring', 'sparse') %}
{% if scoring == 'sparse' %}
{{ rank_candidates(ref('int_session_candidates'), ref('int_user_index'), ref('int_item_index'), list_depth(var),
                   'session') }}
{% elif scoring == 'sql' %}
WITH seen AS (
    SELECT DISTINCT user_id, item_id FROM {{ ref('stg_events') }}
),
scores AS (
    SELECT s.user_id, m.other_item_id AS item_id, sum(m.similarity) AS score
    FROM {{ ref('int_latest_session') }} AS s
    JOIN {{ ref('int_item_similarity') }} AS m ON m.item_id = s.item_id
    GROUP BY s.user_id, m.other_item_id
),
ranked AS (
    SELECT c.user_id, c.item_id, c.score, {{ rank_by('user_id', 'score', 'item_id') }} AS rank
    FROM scores AS c
    WHERE c.score <> 0
      AND NOT EXISTS (SELECT 1 FROM seen AS s WHERE s.user_id = c.user_id AND s.item_id = c.item_id)
)
SELECT user_id, item_id, score, rank, 'session' AS source FROM ranked
WHERE rank <= {{ list_depth(var) }}
{% else %}
{{ raise_error("vars.neighbour_scoring must be \"sparse\" (a SciPy product, the default) or \"sql\"") }}
{% endif %}
