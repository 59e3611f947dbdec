-- Step exposed_files: one row per exposed patient file (patient id, practice):
-- first and last exposure, accesses (served responses carrying it), how it was
-- exposed and which data categories.
SELECT patient_id, tenant,
       min(ts) AS first_exposed,
       max(ts) AS last_exposed,
       count(*) AS accesses,
       {{ d.count_if("kind = 'extracted'") }} AS extractions,
       {{ d.count_if("kind = 'consulted'") }} AS consultations,
       {{ d.count_if("kind = 'modified'") }} AS modifications,
       count(DISTINCT actor) AS actors,
       bool_or(attributed) AS attributed,
{%- for cat in categories %}
       bool_or(category = '{{ cat }}') AS cat_{{ cat }},
{%- endfor %}
       bool_or(category = 'other') AS cat_other
FROM scope_exposures
GROUP BY patient_id, tenant
