-- Every known user (with events, or in the users input) in an arm of the experiment `sqlrec experiment` runs:
-- md5(salt:experiment:user_id) buckets, a holdout, and a weighted md5 race between the variants
-- (macros/experiments.sql, assign_variants). Outside an experiment it is empty.
-- grain: one row per user_id
-- unique: user_id
-- columns:
--   user_id: the user
--   experiment: the experiment's name
--   bucket: 0 .. 9,999 from md5(salt:experiment:user_id); the holdout is the lowest buckets
--   in_holdout: true for held-out users
--   variant: the variant the user is assigned to (NULL when held out)
--   arm: the variant, or 'holdout'
--   shown: the variant whose list the user is shown (held-out users: the control's, or NULL)
{% if experiment is none %}
SELECT user_id, CAST(NULL AS VARCHAR) AS experiment, CAST(NULL AS INTEGER) AS bucket,
       CAST(NULL AS BOOLEAN) AS in_holdout, CAST(NULL AS VARCHAR) AS variant, CAST(NULL AS VARCHAR) AS arm,
       CAST(NULL AS VARCHAR) AS shown
FROM {{ ref('stg_events') }}
WHERE false
{% else %}
SELECT * FROM ({{ assign_variants(ref('int_experiment_users'), experiment) }}) AS a
ORDER BY user_id
{% endif %}
