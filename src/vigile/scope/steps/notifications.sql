-- Step notifications: notifications.csv — one row per exposed person: how to
-- reach them (the most recent exposed file's name; the most recent non-empty
-- e-mail, phone and postal address among their files), which practices hold
-- their files, what was exposed, and whether a sensitive note was involved.
-- Most persons have one exposed file (cluster_size = 1: the seed case's 10.8 M
-- files are 9.2 M persons): their row is that file's, projected with the same
-- rules as the aggregate of the many-file persons (one sort key, no grouping).
WITH f AS (
  SELECT p.person_id, p.patient_id, p.tenant, p.first_exposed, p.last_exposed,
         p.exposure, p.letter, p.sensitive_notes, p.notes_served,
{%- for cat in categories %}
         x.cat_{{ cat }},
{%- endfor %}
{%- for cat in note_categories %}
         coalesce(n.note_{{ cat }}, FALSE) AS note_{{ cat }},
{%- endfor %}
         i.last_name, i.birth_name, i.first_name, i.sex, i.birth_date, i.vip,
         i.email, i.phone, i.address, i.postcode, i.city,
         p.cluster_size
  FROM exposed_patients AS p
  JOIN exposed_files AS x ON x.patient_id = p.patient_id AND x.tenant = p.tenant
  LEFT JOIN file_notes AS n ON n.patient_id = p.patient_id AND n.tenant = p.tenant
  LEFT JOIN exposed_identities AS i ON i.patient_id = p.patient_id AND i.tenant = p.tenant
), many AS (
  SELECT *, concat(CAST(last_exposed AS STRING), tenant, patient_id) AS recency
  FROM f WHERE cluster_size > 1
)
SELECT person_id, last_name, birth_name, first_name, sex, birth_date, email, phone, address,
       CASE WHEN address IS NOT NULL THEN postcode END AS postcode,
       CASE WHEN address IS NOT NULL THEN city END AS city,
       tenant AS practices,
       CAST(1 AS BIGINT) AS files,
       patient_id AS patient_ids,
       CASE WHEN exposure IN ('extracted', 'consulted') THEN exposure ELSE 'modified' END AS exposure,
       CASE WHEN letter IN ('dossier_medical', 'dossier') THEN letter ELSE 'liste' END AS letter,
       concat_ws(';'
{%- for cat in categories %}, CASE WHEN cat_{{ cat }} THEN '{{ cat }}' END{% endfor %}) AS categories,
       CASE WHEN CAST(sensitive_notes AS BIGINT) > 0 THEN 1 ELSE 0 END AS sensitive_note,
       concat_ws(';'
{%- for cat in note_categories %}, CASE WHEN note_{{ cat }} THEN '{{ cat }}' END{% endfor %}) AS sensitive_categories,
       CASE WHEN coalesce(vip, FALSE) THEN 1 ELSE 0 END AS vip,
       first_exposed,
       last_exposed
FROM f
WHERE cluster_size <= 1
UNION ALL
SELECT person_id,
       max_by(last_name, recency) AS last_name,
       max_by(birth_name, CASE WHEN birth_name IS NOT NULL THEN recency END) AS birth_name,
       max_by(first_name, recency) AS first_name,
       max_by(sex, recency) AS sex,
       max_by(birth_date, recency) AS birth_date,
       max_by(email, CASE WHEN email IS NOT NULL THEN recency END) AS email,
       max_by(phone, CASE WHEN phone IS NOT NULL THEN recency END) AS phone,
       max_by(address, CASE WHEN address IS NOT NULL THEN recency END) AS address,
       max_by(postcode, CASE WHEN address IS NOT NULL THEN recency END) AS postcode,
       max_by(city, CASE WHEN address IS NOT NULL THEN recency END) AS city,
       {{ d.set_join('tenant') }} AS practices,
       count(*) AS files,
       {{ d.set_join('patient_id') }} AS patient_ids,
       CASE WHEN bool_or(exposure = 'extracted') THEN 'extracted'
            WHEN bool_or(exposure = 'consulted') THEN 'consulted'
            ELSE 'modified' END AS exposure,
       CASE WHEN bool_or(letter = 'dossier_medical') THEN 'dossier_medical'
            WHEN bool_or(letter = 'dossier') THEN 'dossier'
            ELSE 'liste' END AS letter,
       concat_ws(';'
{%- for cat in categories %}, CASE WHEN bool_or(cat_{{ cat }}) THEN '{{ cat }}' END{% endfor %}) AS categories,
       CASE WHEN CAST(sum(sensitive_notes) AS BIGINT) > 0 THEN 1 ELSE 0 END AS sensitive_note,
       concat_ws(';'
{%- for cat in note_categories %}, CASE WHEN bool_or(note_{{ cat }}) THEN '{{ cat }}' END{% endfor %}) AS sensitive_categories,
       CASE WHEN bool_or(coalesce(vip, FALSE)) THEN 1 ELSE 0 END AS vip,
       min(first_exposed) AS first_exposed,
       max(last_exposed) AS last_exposed
FROM many
GROUP BY person_id
