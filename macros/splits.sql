{#
  split_events(events, settings)
  Every row of `events` (a relation) with the split it belongs to, `__split` = train or test, and `__cutoff` (the
  time split's cut-off, else NULL); the underscores keep them apart from the input's own columns (MovieLens files
  carry a `split` column of their own), by settings.split: time, last_n, stratified or kfold (the [evaluate] keys; see
  sql/eval/eval_split.sql for what each does). md5-based, so the same on every rerun, thread count and engine.
  Usage: {{ split_events(source('events'), evaluation) }}
#}
{% macro split_events(events, settings) -%}
WITH events AS (
    SELECT * FROM {{ events }}
),
{% if settings.split == 'time' %}
bounds AS (
{% if settings.cutoff %}
    SELECT CAST({{ settings.cutoff | lit }} AS TIMESTAMPTZ) AS cutoff
{% else %}
    SELECT max(ts) - to_days({{ settings.test_days | int }}) AS cutoff FROM events
{% endif %}
),
labelled AS (
    SELECT e.*, CASE WHEN e.ts < b.cutoff THEN 'train' ELSE 'test' END AS __split, b.cutoff AS __cutoff
    FROM events AS e CROSS JOIN bounds AS b
)
{% elif settings.split == 'last_n' %}
ordered AS (
    SELECT *,
           row_number() OVER (PARTITION BY user_id ORDER BY ts DESC, item_id DESC, event_type DESC) AS __from_last,
           count(*) OVER (PARTITION BY user_id) AS __n_events
    FROM events
),
labelled AS (
    SELECT * EXCLUDE (__from_last, __n_events),
           CASE WHEN __n_events > {{ settings.last_n | int }} AND __from_last <= {{ settings.last_n | int }}
                THEN 'test' ELSE 'train' END AS __split,
           CAST(NULL AS TIMESTAMPTZ) AS __cutoff
    FROM ordered
)
{% elif settings.split == 'stratified' %}
ordered AS (
    SELECT *,
           row_number() OVER (PARTITION BY {{ (settings.stratify_by ~ '_id') | ident }}
                              ORDER BY {{ md5_unit(seeded_key(settings.seed, ['user_id', 'item_id', 'ts', 'event_type'])) }},
                                       user_id, item_id, ts, event_type) AS __position,
           count(*) OVER (PARTITION BY {{ (settings.stratify_by ~ '_id') | ident }}) AS __n_rows
    FROM events
),
labelled AS (
    SELECT * EXCLUDE (__position, __n_rows),
           CASE WHEN __position <= round_even({{ settings.ratio | float }} * __n_rows, 0) THEN 'train' ELSE 'test' END
               AS __split,
           CAST(NULL AS TIMESTAMPTZ) AS __cutoff
    FROM ordered
)
{% else %}
labelled AS (
    SELECT *,
           CASE WHEN floor({{ md5_unit(seeded_key(settings.seed, ['user_id'])) }} * {{ settings.folds | int }})
                     = {{ settings.fold | int }}
                THEN 'test' ELSE 'train' END AS __split,
           CAST(NULL AS TIMESTAMPTZ) AS __cutoff
    FROM events
)
{% endif %}
SELECT * FROM labelled
{%- endmacro %}
