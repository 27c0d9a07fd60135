-- The training split, with the columns of the events input. During `sqlrec evaluate` every training stage reads
-- this instead of the events (source('events') is redirected here), so nothing held out can reach a model.
-- grain: one row per training event
-- inputs: eval_split
SELECT * EXCLUDE (__split, __cutoff) FROM {{ ref('eval_split') }} WHERE __split = 'train'
