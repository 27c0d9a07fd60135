-- Every event with the split it belongs to, by the method in [evaluate] (split = time | last_n | stratified | kfold).
-- Columns: those of the events input, then `split` (train or test) and `cutoff` (the time split's cut-off, else NULL).
-- time: events at or after the cut-off are test (evaluate.cutoff, or test_days before the newest event).
-- last_n: each user's last_n latest events are test (users with no more events than that stay in train).
-- stratified: within each user (or item), rows ordered by md5(seed:user:item:ts:type); the first
--   round-half-to-even(ratio x rows) train, the rest test, as Microsoft Recommenders' python_stratified_split.
-- kfold: users go to fold floor(md5_unit(seed:user) x folds); the chosen fold is test.
-- grain: one row per input event
-- inputs: events
-- not_null: split
WITH events AS (
    SELECT * FROM {{ source('events') }}
),
{% if evaluation.split == 'time' %}
bounds AS (
{% if evaluation.cutoff %}
    SELECT CAST({{ evaluation.cutoff | lit }} AS TIMESTAMPTZ) AS cutoff
{% else %}
    SELECT max(ts) - to_days({{ evaluation.test_days | int }}) AS cutoff FROM events
{% endif %}
),
labelled AS (
    SELECT e.*, CASE WHEN e.ts < b.cutoff THEN 'train' ELSE 'test' END AS split, b.cutoff
    FROM events AS e CROSS JOIN bounds AS b
)
{% elif evaluation.split == 'last_n' %}
ordered AS (
    SELECT *,
           row_number() OVER (PARTITION BY user_id ORDER BY ts DESC, item_id DESC, event_type DESC) AS __from_last,
           count(*) OVER (PARTITION BY user_id) AS __n_events
    FROM events
),
labelled AS (
    SELECT * EXCLUDE (__from_last, __n_events),
           CASE WHEN __n_events > {{ evaluation.last_n | int }} AND __from_last <= {{ evaluation.last_n | int }}
                THEN 'test' ELSE 'train' END AS split,
           CAST(NULL AS TIMESTAMPTZ) AS cutoff
    FROM ordered
)
{% elif evaluation.split == 'stratified' %}
ordered AS (
    SELECT *,
           row_number() OVER (PARTITION BY {{ (evaluation.stratify_by ~ '_id') | ident }}
                              ORDER BY {{ md5_unit(seeded_key(evaluation.seed, ['user_id', 'item_id', 'ts', 'event_type'])) }},
                                       user_id, item_id, ts, event_type) AS __position,
           count(*) OVER (PARTITION BY {{ (evaluation.stratify_by ~ '_id') | ident }}) AS __n_rows
    FROM events
),
labelled AS (
    SELECT * EXCLUDE (__position, __n_rows),
           CASE WHEN __position <= round_even({{ evaluation.ratio | float }} * __n_rows, 0) THEN 'train' ELSE 'test' END
               AS split,
           CAST(NULL AS TIMESTAMPTZ) AS cutoff
    FROM ordered
)
{% else %}
labelled AS (
    SELECT *,
           CASE WHEN floor({{ md5_unit(seeded_key(evaluation.seed, ['user_id'])) }} * {{ evaluation.folds | int }})
                     = {{ evaluation.fold | int }}
                THEN 'test' ELSE 'train' END AS split,
           CAST(NULL AS TIMESTAMPTZ) AS cutoff
    FROM events
)
{% endif %}
SELECT * FROM labelled
