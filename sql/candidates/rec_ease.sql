-- EASE recommender (Steck 2019): score(u, j) = sum over the user's items i of x(u, i) x B(i, j), with B the
-- closed-form item x item weights of int_ease_weights and x the matrix of int_ease_matrix (vars.ease_weighting);
-- items the user already had are removed; the k best per user, ties broken by the smaller item id.
-- Knobs: vars.ease_lambda (300), ease_weighting (binary), ease_neighbours (0 = every weight: exact EASE),
-- ease_max_items (20,000). vars.neighbour_scoring: "sparse" (default, int_ease_candidates) or "sql".
-- grain: one row per (user_id, item_id)
-- unique: user_id, item_id
-- columns:
--   user_id: the user
--   item_id: a recommended item
--   score: the EASE score
--   rank: 1 = best, in score order, ties broken by item_id
--   source: 'ease'
{{ item_based_recommendations(ref, var, 'int_ease_weights', 'int_ease_candidates', 'ease', none, 'int_ease_matrix',
                              'value', 'weight') }}
