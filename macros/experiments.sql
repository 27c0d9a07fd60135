{#
  assign_variants(users, experiment)
  Every user of the relation `users` (a column user_id) in an experiment's arm, from md5 alone, so DuckDB, Spark and
  Python (sqlrec.experiments.assignment) give the same arm to the same user:
  - key    = 'salt:experiment:user_id'
  - bucket = floor(md5_unit(key) x 10,000); users with bucket < holdout_buckets are held out
  - others race: each variant v draws u_v = md5_unit(key:v) and finishes at -ln(u_v) / traffic_v; the first wins.
    The finishing times are exponential with rate traffic_v, so v wins with probability traffic_v / sum(traffic)
    exactly (weighted rendezvous hashing). Adding a variant moves users only to it; raising a variant's traffic
    moves users only to it; a user's race against the others never changes.
  Returns user_id, experiment, bucket, in_holdout, variant (NULL when held out), arm (the variant or 'holdout') and
  shown (the variant whose list the user sees: the control for held-out users when holdout_gets = "control", else
  NULL).
  Usage: {{ assign_variants(ref('int_experiment_users'), experiment) }}
#}
{% macro assign_variants(users, experiment) %}
{% if experiment.variants | length < 2 %}
{{ raise_error("assign_variants needs an experiment with at least two variants") }}
{% endif %}
WITH keyed AS (
    SELECT user_id,
           concat_ws(':', {{ experiment.salt | lit }}, {{ experiment.name | lit }}, CAST(user_id AS VARCHAR))
               AS assignment_key
    FROM {{ users }}
),
bucketed AS (
    SELECT user_id, assignment_key, CAST(floor({{ md5_unit(text_key(['assignment_key'])) }} * 10000) AS INTEGER) AS bucket
    FROM keyed
),
arms AS (
    SELECT * FROM (VALUES
{% for name in experiment.variants %}
        ({{ name | lit }}, {{ experiment.traffic[loop.index0] | float }}){% if not loop.last %},{% endif %}
{% endfor %}
    ) AS a(variant, traffic)
),
races AS (  -- 0.5 / 2^32 keeps ln() away from 0
    SELECT b.user_id, a.variant,
           -ln({{ md5_unit(text_key(['assignment_key', 'variant'])) }} + 0.5 / CAST(4294967296 AS DOUBLE)) / a.traffic AS finish
    FROM bucketed AS b CROSS JOIN arms AS a
    WHERE b.bucket >= {{ experiment.holdout_buckets | int }}
),
winners AS (
    SELECT user_id, variant FROM races
    QUALIFY row_number() OVER (PARTITION BY user_id ORDER BY finish, variant) = 1
)
SELECT b.user_id, {{ experiment.name | lit }} AS experiment, b.bucket,
       b.bucket < {{ experiment.holdout_buckets | int }} AS in_holdout,
       w.variant, coalesce(w.variant, 'holdout') AS arm,
       CASE WHEN w.variant IS NOT NULL THEN w.variant
{% if experiment.holdout_gets == 'control' %}
            ELSE {{ experiment.control | lit }}
{% endif %}
       END AS shown
FROM bucketed AS b LEFT JOIN winners AS w ON w.user_id = b.user_id
{% endmacro %}
