-- Step by_category: exposed files per category of data (a file counts in each
-- category it exposed), and per sensitive-note category, as one wide row
-- (scoping.py turns it into rows: kind, category, patients).
SELECT *
FROM (
  SELECT
{%- for cat in categories + ['other'] %}
    {{ d.count_if("cat_" ~ cat) }} AS data__{{ cat }},
{%- endfor %}
    count(*) AS data__any
  FROM exposed_files
) AS files
CROSS JOIN (
  SELECT
{%- for cat in note_categories %}
    {{ d.count_if("note_" ~ cat) }} AS note__{{ cat }},
{%- endfor %}
    {{ d.count_if("sensitive_notes > 0") }} AS note__any
  FROM file_notes
) AS notes
