// Helpers shared by the edge's pages (and the portal's): formatting, escaping, JSON requests.
"use strict";

const WW = {
  esc(s) {
    return String(s ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
  },
  power(w) {
    if (w === null || w === undefined) return "–";
    const a = Math.abs(w);
    return a >= 1000 ? (w / 1000).toFixed(2) + " kW" : Math.round(w) + " W";
  },
  num(v, digits = 1, unit = "") {
    return v === null || v === undefined ? "–" : Number(v).toFixed(digits) + (unit ? " " + unit : "");
  },
  async json(url, body) {
    const opts = body === undefined ? {} :
      { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) };
    const r = await fetch(url, opts);
    let data = null;
    try { data = await r.json(); } catch (e) { data = null; }
    return { ok: r.ok, status: r.status, data };
  },
  // FastAPI's own 422 (a malformed request) and our refusals ({errors: [...]}) as lines to show
  errors(res) {
    const d = res.data || {};
    if (Array.isArray(d.errors)) return d.errors;
    if (Array.isArray(d.detail)) return d.detail.map((e) => (e.loc || []).slice(1).join(".") + ": " + e.msg);
    return [d.detail || d.error || "HTTP " + res.status];
  },
  list(el, lines, cls) {
    el.innerHTML = lines.map((l) => `<li>${WW.esc(l)}</li>`).join("");
    el.className = cls || "";
    el.hidden = !lines.length;
  },
};
