// wattwerk local page: live power flows (polled every 2 s) and today's chart (every 30 s).
// No framework and no CDN: the edge's LAN may have no internet.
"use strict";

const FLOWS = [
  { key: "grid", label: "Grid", color: "var(--grid)", pos: "import", neg: "export" },
  { key: "pv", label: "PV", color: "var(--pv)", pos: "producing", neg: "" },
  { key: "battery", label: "Battery", color: "var(--bat)", pos: "discharging", neg: "charging" },
  { key: "house", label: "House", color: "var(--house)", pos: "consuming", neg: "" },
  { key: "ev", label: "EV", color: "var(--ev)", pos: "charging", neg: "" },
  { key: "heat", label: "Heat", color: "var(--heat)", pos: "consuming", neg: "" },
];
const COLORS = { grid: "#c0392b", pv: "#e1a100", battery: "#2e86c1", house: "#4f5d56", ev: "#8e44ad", heat: "#d35400" };

function fmtPower(w) {
  const a = Math.abs(w);
  return a >= 1000 ? (w / 1000).toFixed(2) + " kW" : Math.round(w) + " W";
}

function renderFlows(live) {
  const box = document.getElementById("flows");
  box.innerHTML = "";
  for (const f of FLOWS) {
    const w = live.flows[f.key];
    if (w === undefined || w === null) continue;
    const dir = w > 0.5 ? f.pos : w < -0.5 ? f.neg : "";
    const el = document.createElement("div");
    el.className = "flow";
    el.style.setProperty("--c", f.color);
    el.dataset.flow = f.key;
    el.innerHTML = `<div class="name">${f.label}</div><div class="value">${fmtPower(Math.abs(w))}</div>` +
      `<div class="dir">${dir}</div>`;
    box.appendChild(el);
  }
  document.getElementById("site").textContent = live.site || "";
  document.getElementById("clock").textContent = live.local_time || "";
  const stale = document.getElementById("stale");
  stale.hidden = !live.stale.length;
  stale.textContent = live.stale.length ? "No recent data from: " + live.stale.join(", ") : "";
}

function niceStep(range, lines) {
  const raw = range / lines, mag = Math.pow(10, Math.floor(Math.log10(raw)));
  return [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw);
}

function renderChart(day) {
  const box = document.getElementById("chart");
  const W = Math.max(box.clientWidth, 280), H = W < 500 ? 200 : 260, L = 40, B = 22, T = 8;
  const t0 = Date.parse(day.start), t1 = Date.parse(day.end);
  let lo = 0, hi = 1000;
  for (const s of Object.values(day.series)) for (const p of s) { lo = Math.min(lo, p[1]); hi = Math.max(hi, p[1]); }
  const step = niceStep(hi - lo, 5);
  lo = Math.floor(lo / step) * step; hi = Math.ceil(hi / step) * step;
  const x = (t) => L + (W - L - 4) * (t - t0) / (t1 - t0);
  const y = (v) => T + (H - T - B) * (hi - v) / (hi - lo);
  let svg = `<svg viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-label="power today">`;
  for (let v = lo; v <= hi + step / 2; v += step) {
    svg += `<line x1="${L}" x2="${W - 4}" y1="${y(v)}" y2="${y(v)}" stroke="${v === 0 ? "#9aa59e" : "#e4e7e2"}"/>` +
      `<text x="${L - 4}" y="${y(v) + 4}" text-anchor="end" font-size="11" fill="#69736d">${(v / 1000).toFixed(step < 1000 ? 1 : 0)}</text>`;
  }
  const hours = W < 500 ? 6 : 3;
  for (let h = 0; h <= 24; h += hours) {
    const t = t0 + h * (t1 - t0) / 24;
    svg += `<text x="${x(t)}" y="${H - 6}" text-anchor="${h === 24 ? "end" : "middle"}" font-size="11" fill="#69736d">${h}:00</text>`;
  }
  svg += `<text x="4" y="14" font-size="11" fill="#69736d">kW</text>`;
  for (const [key, pts] of Object.entries(day.series)) {
    if (!pts.length) continue;
    const d = pts.map((p, i) => (i ? "L" : "M") + x(Date.parse(p[0])).toFixed(1) + " " + y(p[1]).toFixed(1)).join("");
    svg += `<path d="${d}" fill="none" stroke="${COLORS[key] || "#333"}" stroke-width="1.6" data-series="${key}"/>`;
  }
  box.innerHTML = svg + "</svg>";
  document.getElementById("legend").innerHTML = Object.keys(day.series)
    .map((k) => `<span><i style="background:${COLORS[k] || "#333"}"></i>${k}</span>`).join("");
  const rows = Object.entries(day.energy_kwh).map(([k, v]) => `<tr><td>${k.replace("_", " ")}</td><td>${v.toFixed(2)} kWh</td></tr>`);
  document.getElementById("energy").innerHTML = rows.join("");
}

async function poll(url, render, every) {
  try {
    const r = await fetch(url);
    if (r.ok) render(await r.json());
  } catch (e) { /* the edge restarts or the LAN blips: try again */ }
  setTimeout(() => poll(url, render, every), every);
}

poll("api/live", renderFlows, 2000);
poll("api/today", renderChart, 30000);
