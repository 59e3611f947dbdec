-- Step by_tenant: each practice (data controller) whose files were exposed.
WITH who AS (
  SELECT tenant, count(DISTINCT actor) AS actors,
         count(DISTINCT CASE WHEN via_tenant <> tenant THEN actor END) AS outside_actors
  FROM scope_exposures
  GROUP BY tenant
)
SELECT p.tenant,
       count(*) AS patients_exposed,
       {{ d.count_if("p.exposure = 'extracted'") }} AS patients_extracted,
       {{ d.count_if("p.exposure = 'consulted'") }} AS patients_consulted,
       {{ d.count_if("p.notes > 0" if have_annotations else "p.notes_served") }} AS patients_with_annotations,
       {{ d.count_if("p.sensitive_notes > 0") }} AS patients_with_sensitive_annotations,
       count(DISTINCT p.person_id) AS persons_exposed,
       CAST(sum(p.accesses) AS BIGINT) AS accesses,
       min(p.first_exposed) AS first_exposed,
       max(p.last_exposed) AS last_exposed,
       any_value(w.actors) AS actors,
       any_value(w.outside_actors) AS outside_actors
FROM exposed_patients AS p
JOIN who AS w ON w.tenant = p.tenant
GROUP BY p.tenant
