-- Step exposed_identities: the administrative identity of each exposed file
-- (patients.csv), the input of person linkage and of the notifications.
SELECT f.patient_id, f.tenant,
{%- for col in identity_columns %}
       any_value(p.{{ col }}) AS {{ col }}{{ "," if not loop.last }}
{%- endfor %}
FROM exposed_files AS f
JOIN patients AS p ON p.patient_id = f.patient_id AND p.tenant = f.tenant
GROUP BY f.patient_id, f.tenant
