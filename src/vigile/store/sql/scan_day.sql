-- One day of events in event-time order; {where} narrows by time, actor, tenant.
SELECT *
FROM read_parquet({parts})
WHERE {where}
ORDER BY ts, event_key
