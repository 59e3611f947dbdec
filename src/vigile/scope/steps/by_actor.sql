-- Step by_actor: each account in scope: its requests (served and refused), what
-- they returned, and the files they exposed.
WITH ev AS (
  SELECT tenant, actor,
         count(*) AS events,
         {{ d.count_if("status BETWEEN 200 AND 299") }} AS served,
         {{ d.count_if("status >= 400") }} AS refused,
         CAST(sum(CASE WHEN status BETWEEN 200 AND 299 THEN records ELSE 0 END) AS BIGINT) AS records_returned,
         count(DISTINCT session) AS sessions,
         count(DISTINCT src_ip) AS sources,
         {{ d.count_if("attributed") }} AS attributed_events,
         min(ts) AS first_event,
         max(ts) AS last_event
  FROM scope_events
  GROUP BY tenant, actor
), ex AS (
  SELECT via_tenant AS tenant, actor,
         count(*) AS exposures,
         count(DISTINCT patient_id) AS patients,
         count(DISTINCT CASE WHEN kind = 'extracted' THEN patient_id END) AS patients_extracted,
         count(DISTINCT tenant) AS practices
  FROM scope_exposures
  GROUP BY via_tenant, actor
)
SELECT ev.*, coalesce(ex.exposures, 0) AS exposures, coalesce(ex.patients, 0) AS patients,
       coalesce(ex.patients_extracted, 0) AS patients_extracted,
       coalesce(ex.practices, 0) AS practices
FROM ev LEFT JOIN ex ON ex.tenant = ev.tenant AND ex.actor = ev.actor
