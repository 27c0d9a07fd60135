-- Item-item co-occurrence recommender, SAR's algorithm: score(u, j) = sum over the user's items i of
-- affinity(u, i) x similarity(i, j); items the user already had are removed; the k best per user, ties broken by
-- the smaller item id. With vars.cooccurrence_neighbours = 0 (no pruning) and the other defaults (jaccard, 30-day
-- half-life, threshold 1) it is exact SAR.
-- vars.neighbour_scoring: "sparse" (default) computes the scores as a SciPy sparse product
-- (int_cooccurrence_candidates) and ranks them here; "sql" scores in SQL (macros/neighbours.sql), with
-- vars.cooccurrence_score_partitions (1) slices of users. Both give the same lists.
-- grain: one row per (user_id, item_id)
-- unique: user_id, item_id
-- columns:
--   user_id: the user
--   item_id: a recommended item
--   score: affinity-weighted similarity to the user's items
--   rank: 1 = best, in score order, ties broken by item_id
--   source: 'cooccurrence'
{{ item_based_recommendations(ref, var, 'int_item_similarity', 'int_cooccurrence_candidates', 'cooccurrence',
                              'cooccurrence_score_partitions') }}
