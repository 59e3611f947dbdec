-- Step by_category: exposed files per category of data (a file counts in each
-- category it exposed), and per sensitive-note category.
{%- for cat in categories + ['other'] %}
SELECT 'data' AS kind, '{{ cat }}' AS category, {{ d.count_if("cat_" ~ cat) }} AS patients
FROM exposed_files
UNION ALL
{%- endfor %}
{%- for cat in note_categories %}
SELECT 'note' AS kind, '{{ cat }}' AS category, {{ d.count_if("note_" ~ cat) }} AS patients
FROM file_notes
UNION ALL
{%- endfor %}
SELECT 'note' AS kind, 'any' AS category, {{ d.count_if("sensitive_notes > 0") }} AS patients
FROM file_notes
