-- Step notes_to_classify: the text of every note an exposure served, for the
-- notes analysis (only those: the rest of the notes never left the practice).
SELECT a.annotation_id, a.text
FROM annotations AS a
JOIN exposed_files AS p
  ON p.patient_id = a.patient_id AND (a.tenant IS NULL OR a.tenant = p.tenant)
WHERE p.cat_notes
