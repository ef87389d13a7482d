// The live page: active calls and their alerts, from the live server's /v1/events WebSocket.
// DOM built with textContent only (evidence is what a caller said: never parsed as HTML).
"use strict";
(function () {
  const status = document.getElementById("live-status");
  const url = status.dataset.events;
  const calls = document.querySelector("#live-calls tbody");
  const empty = document.getElementById("live-empty");
  const alerts = document.getElementById("live-alerts");
  const MAX_ALERTS = 200, MAX_ENDED = 50;
  const rows = new Map();
  let retry = 1000;

  function mmss(t) {
    t = Math.max(0, Number(t) || 0);
    const m = Math.floor(t / 60), s = Math.floor(t % 60);
    return String(m).padStart(2, "0") + ":" + String(s).padStart(2, "0");
  }
  function cell(text, cls) {
    const td = document.createElement("td");
    td.textContent = text;
    if (cls) td.className = cls;
    return td;
  }
  function row(id, agent) {
    let tr = rows.get(id);
    if (!tr) {
      tr = document.createElement("tr");
      tr.id = "live-call-" + id;
      tr.dataset.callId = id;
      ["call", "agent", "heard", "lag", "alerts", "latest", "state"].forEach(function (k) {
        tr.appendChild(cell(k === "alerts" ? "0" : "", "c-" + k));
      });
      tr.querySelector(".c-call").textContent = id;
      tr.querySelector(".c-state").textContent = "live";
      tr.classList.add("live-on");
      calls.prepend(tr);
      rows.set(id, tr);
    }
    if (agent) tr.querySelector(".c-agent").textContent = agent;
    return tr;
  }
  function progress(tr, m) {
    if (m.received !== undefined) tr.querySelector(".c-heard").textContent = mmss(m.received);
    if (m.lag !== undefined) tr.querySelector(".c-lag").textContent = Number(m.lag).toFixed(1) + " s";
    if (m.alerts !== undefined) tr.querySelector(".c-alerts").textContent = String(m.alerts);
  }
  function describe(m) {
    let what = m.kind.replace(/_/g, " ");
    if (m.phase === "started") what += " — in progress";
    else if (m.phase === "ended") what += " — over";
    else if (m.phase === "withdrawn") what += " — withdrawn (the call's final words do not hold it)";
    if (m.category) what += " (" + m.category + ")";
    if (m.confirmed === false) what += " · unconfirmed";
    return what;
  }
  function alert(m) {
    const tr = row(m.call_id, m.agent_id);
    const withdrawn = m.phase === "withdrawn";
    const n = Number(tr.querySelector(".c-alerts").textContent) + (withdrawn ? -1 : 1);
    tr.querySelector(".c-alerts").textContent = String(Math.max(0, n));
    if (!withdrawn) tr.querySelector(".c-latest").textContent = mmss(m.start) + " " + describe(m);
    if (!withdrawn && (m.severity === "critical" || m.severity === "warning")) tr.classList.add("flagged");
    const li = document.createElement("li");
    li.className = "sev-" + (m.severity || "info") + " kind-" + m.kind + (withdrawn ? " withdrawn" : "");
    const head = document.createElement("strong");
    head.textContent = m.call_id + " " + mmss(m.start) + " · " + describe(m) + (m.speaker ? " · " + m.speaker : "");
    li.appendChild(head);
    const text = m.evidence || m.message;
    if (text) {
      const q = document.createElement("q");
      q.textContent = text;
      li.appendChild(document.createTextNode(" "));
      li.appendChild(q);
    }
    alerts.prepend(li);
    while (alerts.children.length > MAX_ALERTS) alerts.lastElementChild.remove();
  }
  function ended(m) {
    const tr = row(m.call_id, m.agent_id);
    tr.classList.remove("live-on");
    tr.classList.add("live-ended");
    const state = tr.querySelector(".c-state");
    state.textContent = (m.complete ? "ended" : "ended early") + (m.flagged ? " · flagged " : " ");
    const a = document.createElement("a");
    a.href = "/calls/by-id/" + encodeURIComponent(m.call_id);
    a.textContent = "review";
    state.appendChild(a);
    const done = Array.from(calls.querySelectorAll("tr.live-ended"));
    done.slice(MAX_ENDED).forEach(function (old) { rows.delete(old.dataset.callId); old.remove(); });
  }
  function handle(m) {
    if (m.type === "hello") (m.calls || []).forEach(function (c) { progress(row(c.call_id, c.agent_id), c); });
    else if (m.type === "call_started") row(m.call_id, m.agent_id);
    else if (m.type === "status") progress(row(m.call_id), m);
    else if (m.type === "alert") alert(m);
    else if (m.type === "call_ended") ended(m);
    empty.hidden = rows.size > 0;
  }
  function connect() {
    const ws = new WebSocket(url);
    ws.onopen = function () { retry = 1000; status.textContent = "connected to " + url; status.dataset.state = "open"; };
    ws.onmessage = function (e) { try { handle(JSON.parse(e.data)); } catch (err) { console.warn(err); } };
    ws.onclose = function () {
      status.dataset.state = "closed";
      status.textContent = "not connected to " + url + "; trying again in " + retry / 1000 + " s";
      setTimeout(connect, retry);
      retry = Math.min(retry * 2, 15000);
    };
  }
  connect();
})();
