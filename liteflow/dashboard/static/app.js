// LiteFlow dashboard: auto-refresh of the list, and the actions of an instance page (same-origin fetch).
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const table = document.getElementById("instances");
  if (table) {
    const seconds = parseInt(table.dataset.refresh || "0", 10);
    if (seconds > 0) setTimeout(() => window.location.reload(), seconds * 1000);
    const refresh = document.getElementById("refresh");
    if (refresh) refresh.addEventListener("change", () => document.getElementById("filters").submit());
  }
  const actions = document.querySelector(".actions");
  if (!actions) return;
  const id = actions.dataset.workflowId;
  const out = document.getElementById("action-result");
  const post = async (url, body) => {
    const response = await fetch(url, {
      method: "POST", credentials: "same-origin",
      headers: {"Content-Type": "application/json"}, body: JSON.stringify(body || {}),
    });
    const answer = await response.json().catch(() => ({}));
    out.textContent = response.ok ? "done" : (answer.error || response.statusText);
    out.className = response.ok ? "ok" : "failed";
    if (response.ok) setTimeout(() => window.location.reload(), 300);
  };
  for (const button of actions.querySelectorAll("button.action")) {
    button.addEventListener("click", () => {
      const action = button.dataset.action;
      if (action === "terminate" && !window.confirm("Terminate this workflow?")) return;
      post(`/api/workflows/${encodeURIComponent(id)}/${action}`);
    });
  }
  document.getElementById("publish-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const form = new FormData(event.target);
    let data = null;
    const raw = (form.get("data") || "").trim();
    if (raw) {
      try { data = JSON.parse(raw); } catch (e) { out.textContent = "data is not JSON"; out.className = "failed"; return; }
    }
    post("/api/events", {name: form.get("name"), key: form.get("key"), data});
  });
});
