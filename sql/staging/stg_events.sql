-- Events ready for modelling: typed, weighted, without rows that lack a user, an item or a time.
-- grain: one row per input event
-- inputs: events
-- columns:
--   user_id: the user who acted
--   item_id: the item acted on
--   ts: when, as a UTC timestamp
--   event_type: the kind of event (view, cart, purchase, ...); 'event' when the input has no type
--   weight: the input's weight if it has one, else the weight of the event type (vars.event_weights)
--   session_id: the visit the event belongs to (NULL when the input has no session ids)
SELECT
    user_id,
    item_id,
    CAST(ts AS TIMESTAMPTZ) AS ts,
    coalesce(CAST(event_type AS VARCHAR), 'event') AS event_type,
    CAST({{ weight_of_event(var) }} AS DOUBLE) AS weight,
    CAST(session_id AS VARCHAR) AS session_id
FROM {{ source('events') }}
WHERE user_id IS NOT NULL
  AND item_id IS NOT NULL
  AND ts IS NOT NULL
