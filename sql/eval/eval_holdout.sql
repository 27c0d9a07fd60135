-- What `sqlrec tune` may learn from: the training part of the [evaluate] split of the events (same split as
-- `sqlrec evaluate`), so the test split never takes part in choosing parameters. tune splits these rows again by
-- [tune] (split, ratio, ...) into a training and a validation part (eval_split reads this stage in tune mode).
-- grain: one row per event outside the evaluation's test split
-- inputs: events
SELECT * EXCLUDE (__split, __cutoff) FROM ({{ split_events(source('events'), holdout) }}) AS labelled
WHERE __split = 'train'
