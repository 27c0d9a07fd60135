-- Popularity recommender: every user's k most popular items that they have not interacted with yet, by
-- vars.popularity_score (score, decayed_score, trending_score or smoothed_score; see int_item_popularity).
-- vars.popularity_by: "all" (default) ranks items by their popularity among all users; "segment" by their
-- popularity among users of the user's own segment (int_segment_popularity; needs [inputs.users]).
-- Users of the users input without any event get the k most popular items: the fallback for no history.
-- A user who has seen n items needs at most the top k + n popular items, so candidates are bounded per user.
-- grain: one row per (user_id, item_id)
-- unique: user_id, item_id
-- columns:
--   user_id: the user
--   item_id: a recommended item
--   score: the item's popularity score (among all users, or within the user's segment)
--   rank: 1 = best, in score order, ties broken by item_id
--   source: 'popularity'
{% set kind = var('popularity_score', 'score') %}
{% if kind not in ['score', 'decayed_score', 'trending_score', 'smoothed_score'] %}
{{ raise_error("vars.popularity_score must be score, decayed_score, trending_score or smoothed_score") }}
{% endif %}
{% set by = var('popularity_by', 'all') %}
{% if by not in ['all', 'segment'] %}
{{ raise_error("vars.popularity_by must be \"all\" or \"segment\"") }}
{% elif by == 'segment' and not has_input('users') %}
{{ raise_error("vars.popularity_by = \"segment\" needs a users input: add [inputs.users] with a segment column") }}
{% endif %}
WITH popularity AS (
{% if by == 'segment' %}
    SELECT segment, item_id, {{ kind | ident }} AS score,
           {{ rank_by('segment', kind, 'item_id') }} AS popularity_rank
    FROM {{ ref('int_segment_popularity') }}
{% else %}
    SELECT '(all)' AS segment, item_id, {{ kind | ident }} AS score,
           {{ rank_all_by(kind, 'item_id') }} AS popularity_rank
    FROM {{ ref('int_item_popularity') }}
{% endif %}
),
seen AS (
    SELECT DISTINCT user_id, item_id FROM {{ ref('stg_events') }}
),
all_users AS (
    SELECT user_id FROM seen
{% if has_input('users') %}
    UNION
    SELECT user_id FROM {{ source('users') }}
{% endif %}
),
history AS (
    SELECT u.user_id, count(s.item_id) AS n_seen
    FROM (SELECT DISTINCT user_id FROM all_users) AS u LEFT JOIN seen AS s ON s.user_id = u.user_id
    GROUP BY u.user_id
),
user_segment AS (
{% if by == 'segment' %}
    SELECT h.user_id, h.n_seen, coalesce(CAST(u.segment AS VARCHAR), '(none)') AS segment
    FROM history AS h LEFT JOIN {{ source('users') }} AS u ON u.user_id = h.user_id
{% else %}
    SELECT user_id, n_seen, '(all)' AS segment FROM history
{% endif %}
),
candidates AS (
    SELECT h.user_id, p.item_id, p.score
    FROM user_segment AS h
    JOIN popularity AS p ON p.segment = h.segment AND p.popularity_rank <= {{ var('k', 10) | int }} + h.n_seen
    WHERE NOT EXISTS (SELECT 1 FROM seen AS s WHERE s.user_id = h.user_id AND s.item_id = p.item_id)
),
ranked AS (
    SELECT user_id, item_id, score, {{ rank_by('user_id', 'score', 'item_id') }} AS rank
    FROM candidates
)
SELECT user_id, item_id, score, rank, 'popularity' AS source
FROM ranked
WHERE rank <= {{ var('k', 10) | int }}
