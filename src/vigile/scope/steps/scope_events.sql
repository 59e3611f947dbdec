-- Step scope_events: the requests of the selected accounts inside their windows,
-- whatever their outcome (refused ones are counted, they expose nothing).
-- `attributed`: made in a session, or from an address, that the alerts (or
-- --session/--src-ip) named. `match` narrows the scope to those (selection.py).
SELECT e.event_key, e.ts, e.tenant, e.actor, e.session, e.src_ip, e.action, e.resource,
       e.status, coalesce(e.records, 0) AS records, e.patient_ids,
       coalesce(e.session IN (SELECT session FROM sel_sessions)
                OR e.src_ip IN (SELECT src_ip FROM sel_sources), FALSE) AS attributed
FROM events AS e
JOIN selection AS s
  ON e.actor = s.actor
 AND (s.tenant IS NULL OR e.tenant = s.tenant)
 AND (s.since IS NULL OR e.ts >= s.since)
 AND (s.until IS NULL OR e.ts <= s.until)
WHERE e.actor IN ({{ actors }})
{%- if since %}
  AND e.ts >= {{ d.ts_literal(since) }}
{%- endif %}
{%- if until %}
  AND e.ts <= {{ d.ts_literal(until) }}
{%- endif %}
{%- if match == 'session' %}
  AND e.session IN (SELECT session FROM sel_sessions)
{%- elif match == 'source' %}
  AND (e.session IN (SELECT session FROM sel_sessions) OR e.src_ip IN (SELECT src_ip FROM sel_sources))
{%- endif %}
