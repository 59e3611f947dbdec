-- Every access that carried one patient, in time order. Exposure parts are
-- sorted by patient_id, so Parquet row-group statistics prune all but a few
-- row groups per file.
SELECT patient_id, ts, tenant, actor, action, resource, status, event_key
FROM read_parquet({parts})
WHERE patient_id = $patient_id
ORDER BY ts, event_key
