-- Step file_notes: the notes of exposed files whose notes were served, with
-- their sensitivity (note_labels: one row per note and sensitive category).
SELECT a.patient_id, p.tenant,
       count(DISTINCT a.annotation_id) AS notes,
       count(DISTINCT CASE WHEN l.category IS NOT NULL THEN a.annotation_id END) AS sensitive_notes,
{%- for cat in note_categories %}
       bool_or(coalesce(l.category = '{{ cat }}', FALSE)) AS note_{{ cat }}{{ "," if not loop.last }}
{%- endfor %}
FROM annotations AS a
JOIN exposed_files AS p
  ON p.patient_id = a.patient_id AND (a.tenant IS NULL OR a.tenant = p.tenant)
LEFT JOIN note_labels AS l ON l.annotation_id = a.annotation_id
WHERE p.cat_notes
GROUP BY a.patient_id, p.tenant
