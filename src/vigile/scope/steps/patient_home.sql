-- Step patient_home: the practice (data controller) holding each patient id of
-- the context, for ids that only one practice holds.
SELECT patient_id, min(tenant) AS tenant
FROM patients
GROUP BY patient_id
HAVING count(DISTINCT tenant) = 1
