-- Step exposed_patients: exposed_patients.csv — each exposed file with its person,
-- how it was exposed, the categories of data, and its notes' sensitivity.
SELECT f.patient_id, f.tenant,
       coalesce(p.person_id, concat('F:', f.tenant, ':', f.patient_id)) AS person_id,
       f.first_exposed, f.last_exposed, f.accesses,
       CASE WHEN f.extractions > 0 THEN 'extracted'
            WHEN f.consultations > 0 THEN 'consulted'
            WHEN f.modifications > 0 THEN 'modified'
            ELSE 'other' END AS exposure,
       CASE WHEN f.extractions > 0 AND ({% for cat in clinical %}f.cat_{{ cat }}{{ " OR " if not loop.last }}{% endfor %}) THEN 'dossier_medical'
            WHEN f.extractions > 0 THEN 'dossier'
            ELSE 'liste' END AS letter,
       concat_ws(';'
{%- for cat in categories %}, CASE WHEN f.cat_{{ cat }} THEN '{{ cat }}' END{% endfor %},
                 CASE WHEN f.cat_other THEN 'other' END) AS categories,
       f.extractions, f.consultations, f.modifications, f.actors,
       coalesce(n.notes, {{ 'CAST(NULL AS BIGINT)' if have_annotations else '0' }}) AS notes,
       coalesce(n.sensitive_notes, 0) AS sensitive_notes,
       concat_ws(';'
{%- for cat in note_categories %}, CASE WHEN n.note_{{ cat }} THEN '{{ cat }}' END{% endfor %}) AS sensitive_categories,
       f.cat_notes AS notes_served,
       f.attributed,
       p.match_probability,
       coalesce(p.cluster_size, 1) AS cluster_size
FROM exposed_files AS f
LEFT JOIN file_notes AS n ON n.patient_id = f.patient_id AND n.tenant = f.tenant
LEFT JOIN persons AS p ON p.patient_id = f.patient_id AND p.tenant = f.tenant
