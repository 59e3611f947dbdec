-- Step scope_exposures: one row per (served request, patient file it carried).
-- Only 2xx responses expose data. The file's practice (its data controller) is
-- the one holding it in patients.csv: the account's own practice when it holds
-- the id, else the only practice that does, else (no context) the account's.
WITH served AS (
  SELECT event_key, ts, tenant, actor, action, resource, attributed,
         {{ d.explode('patient_ids') }} AS patient_id
  FROM scope_events
  WHERE status BETWEEN 200 AND 299
)
SELECT x.patient_id,
       coalesce(f.tenant, h.tenant, x.tenant) AS tenant,
       x.tenant AS via_tenant,
       x.actor, x.ts, x.event_key, x.action, x.resource,
       coalesce(k.kind, 'other') AS kind,
       coalesce(c.category, 'other') AS category,
       x.attributed
FROM served AS x
LEFT JOIN access_kinds AS k ON k.action = x.action
LEFT JOIN data_categories AS c ON c.resource = x.resource
LEFT JOIN (SELECT DISTINCT patient_id, tenant FROM patients) AS f
  ON f.patient_id = x.patient_id AND f.tenant = x.tenant
LEFT JOIN patient_home AS h ON h.patient_id = x.patient_id
