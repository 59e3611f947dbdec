-- Keys of a new batch that the store already holds (for exact de-duplication).
-- {parts}: the event parts of the days the batch touches.
SELECT e.event_key
FROM read_parquet({parts}) AS e
SEMI JOIN batch_keys AS b ON e.event_key = b.event_key
