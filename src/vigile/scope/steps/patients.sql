-- Step patients: patients.csv (INTERFACE §2), typed, read by the engine itself (19 M
-- rows at the seed case's scale: never through Python). As the context loader does,
-- values are trimmed and empty ones are NULL; an unreadable birth date is left
-- empty; a row without patient_id or tenant is dropped; a missing column is NULL.
SELECT nullif(trim(patient_id), '') AS patient_id,
       nullif(trim(tenant), '') AS tenant,
{%- for col in text_columns %}
       {% if col in present %}nullif(trim({{ col }}), ''){% else %}CAST(NULL AS STRING){% endif %} AS {{ col }},
{%- endfor %}
       {% if 'birth_date' in present %}TRY_CAST(substr(trim(birth_date), 1, 10) AS DATE){% else %}CAST(NULL AS DATE){% endif %} AS birth_date,
       {% if 'vip' in present %}coalesce(trim(vip) IN ('1', 'true', 'True', 'yes', 'oui'), FALSE){% else %}FALSE{% endif %} AS vip
FROM patients_raw
WHERE nullif(trim(patient_id), '') IS NOT NULL AND nullif(trim(tenant), '') IS NOT NULL
