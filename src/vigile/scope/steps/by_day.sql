-- Step by_day: exposure over time (local calendar days of the practices).
WITH daily AS (
  SELECT {{ d.local_day('ts') }} AS day,
         count(*) AS exposures,
         {{ d.count_if("kind = 'extracted'") }} AS extractions,
         count(DISTINCT patient_id) AS patients
  FROM scope_exposures
  GROUP BY 1
), first_seen AS (
  SELECT {{ d.local_day('first_exposed') }} AS day,
         count(*) AS new_patients,
         {{ d.count_if("exposure = 'extracted'") }} AS new_extracted
  FROM exposed_patients
  GROUP BY 1
)
SELECT daily.day, daily.exposures, daily.extractions, daily.patients,
       coalesce(first_seen.new_patients, 0) AS new_patients,
       coalesce(first_seen.new_extracted, 0) AS new_extracted
FROM daily LEFT JOIN first_seen ON first_seen.day = daily.day
