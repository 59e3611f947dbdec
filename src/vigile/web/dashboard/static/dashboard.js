// vigile dashboard: live overview (server-sent events) and the breach job's progress.
// No framework, no inline script (the Content-Security-Policy forbids them).
"use strict";

function setText(id, value) {
  const el = document.getElementById(id);
  if (el) el.textContent = typeof value === "number" ? value.toLocaleString("fr-FR") : String(value);
}

function renderRecent(list, items) {
  while (list.firstChild) list.removeChild(list.firstChild);
  for (const a of items) {
    const li = document.createElement("li");
    const when = document.createElement("span"); when.className = "when"; when.textContent = a.when;
    const sev = document.createElement("span"); sev.className = "sev sev-" + a.severity; sev.textContent = a.severity;
    const link = document.createElement("a"); link.href = "/ui/alerts/" + encodeURIComponent(a.id); link.textContent = a.detector;
    const acct = document.createElement("span"); acct.className = "acct"; acct.textContent = a.account;
    const reason = document.createElement("span"); reason.className = "reason"; reason.textContent = a.reason;
    li.append(when, " ", sev, " ", link, " ", acct, " ", reason);
    li.dataset.alert = a.id;
    list.appendChild(li);
  }
}

function applySnapshot(s) {
  setText("live-rate", s.rate_now);
  setText("live-open", s.open_incidents);
  setText("live-blocked", s.blocked);
  setText("live-throttled", s.throttled);
  setText("live-alerts", s.alerts);
  setText("live-simulated", s.simulated);
  for (const [sev, n] of Object.entries(s.severity || {})) setText("sev-" + sev, n);
  const latest = document.getElementById("live-latest");
  if (latest && s.latest) { latest.textContent = s.latest; latest.href = "/ui/alerts/" + encodeURIComponent(s.latest); }
  const list = document.getElementById("live-recent");
  if (list && s.recent) renderRecent(list, s.recent);
  document.body.dataset.latestAlert = s.latest || "";
  setText("live-status", "(live, " + new Date().toLocaleTimeString("fr-FR") + ")");
}

function startLive(section) {
  const url = section.dataset.stream;
  if (!url || !window.EventSource) return;
  const source = new EventSource(url);
  source.onmessage = (ev) => { try { applySnapshot(JSON.parse(ev.data)); } catch (e) { /* keep the last figures */ } };
  source.onerror = () => setText("live-status", "(reconnecting…)");
}

function watchScope(section) {
  const state = section.dataset.state;
  if (state !== "queued" && state !== "running") return;
  const tick = async () => {
    try {
      const r = await fetch(section.dataset.status, { credentials: "same-origin" });
      const s = await r.json();
      setText("scope-step", s.step || s.status);
      if (s.status !== "queued" && s.status !== "running") { window.location.reload(); return; }
    } catch (e) { /* try again */ }
    setTimeout(tick, 1000);
  };
  setTimeout(tick, 1000);
}

document.addEventListener("DOMContentLoaded", () => {
  const live = document.getElementById("live");
  if (live) startLive(live);
  const job = document.getElementById("scope-job");
  if (job) watchScope(job);
});
