// wattwerk history page: a day, week, month or year from the edge's own store (api/history), as bars
// per sub-period and a table with energy per flow, self-consumption, autarky and cost. Numbers and
// dates in the browser's locale, periods in the site's time zone.
"use strict";

const FLOW_KEYS = [
  ["pv", "PV", "var(--pv)"], ["grid_import", "Grid import", "var(--grid)"], ["grid_export", "Grid export", "var(--export)"],
  ["battery_charge", "Battery charge", "var(--bat)"], ["battery_discharge", "Battery discharge", "var(--bat)"],
  ["house", "House", "var(--house)"], ["ev", "EV", "var(--ev)"], ["heat", "Heat", "var(--heat)"],
];
const H = { period: "day", day: null };

function label(iso, tz) {
  const d = new Date(iso);
  const o = H.period === "day" ? { hour: "2-digit", minute: "2-digit" } : H.period === "year" ? { month: "short" }
    : { weekday: "short", day: "numeric" };
  return d.toLocaleString(undefined, { ...o, timeZone: tz });
}

function shift(step) {
  const d = new Date(H.day + "T12:00:00Z");
  if (H.period === "day") d.setUTCDate(d.getUTCDate() + step);
  else if (H.period === "week") d.setUTCDate(d.getUTCDate() + 7 * step);
  else if (H.period === "month") d.setUTCMonth(d.getUTCMonth() + step, 1);
  else d.setUTCFullYear(d.getUTCFullYear() + step, 0, 1);
  H.day = d.toISOString().slice(0, 10);
  load();
}

function bars(h, keys) {
  const rows = h.rows, W = Math.max(document.getElementById("bars").clientWidth, 280), HT = 180, B = 22, T = 8;
  const hi = Math.max(1e-3, ...rows.map((r) => Math.max(r.energy_kwh.pv || 0, (r.energy_kwh.house || 0) + (r.energy_kwh.ev || 0) + (r.energy_kwh.heat || 0), r.energy_kwh.grid_import || 0)));
  const bw = (W - 4) / rows.length, y = (v) => (HT - B - T) * v / hi;
  let svg = `<svg viewBox="0 0 ${W} ${HT}" width="${W}" height="${HT}" role="img" aria-label="${WW.esc(WW.t("history.bars"))}">`;
  const every = Math.max(1, Math.ceil(rows.length / (W < 500 ? 6 : 12)));
  rows.forEach((r, i) => {
    const x = 2 + i * bw, w = Math.max(bw / 2 - 1, 1);
    const pv = y(r.energy_kwh.pv || 0), imp = y(r.energy_kwh.grid_import || 0);
    svg += `<rect x="${x.toFixed(1)}" y="${(HT - B - pv).toFixed(1)}" width="${w.toFixed(1)}" height="${pv.toFixed(1)}" fill="var(--pv)"><title>${WW.esc(label(r.start, h.tz))}: ${WW.esc(WW.t("history.bar_pv", { energy: WW.kwh(r.energy_kwh.pv) }))}</title></rect>`;
    svg += `<rect x="${(x + w + 1).toFixed(1)}" y="${(HT - B - imp).toFixed(1)}" width="${w.toFixed(1)}" height="${imp.toFixed(1)}" fill="var(--grid)"><title>${WW.esc(label(r.start, h.tz))}: ${WW.esc(WW.t("history.bar_grid", { energy: WW.kwh(r.energy_kwh.grid_import) }))}</title></rect>`;
    if (!(i % every)) svg += `<text x="${x.toFixed(1)}" y="${HT - 6}" font-size="11" fill="currentColor" opacity=".7">${WW.esc(label(r.start, h.tz))}</text>`;
  });
  document.getElementById("bars").innerHTML = svg + `</svg><div class="legend"><span><i style="background:var(--pv)"></i>${WW.esc(WW.t("history.pv"))}</span>` +
    `<span><i style="background:var(--grid)"></i>${WW.esc(WW.t("history.legend_grid"))}</span></div>`;
}

function render(h) {
  const keys = FLOW_KEYS.filter(([k]) => h.rows.some((r) => r.energy_kwh[k] > 0)).map(([k, , c]) => [k, WW.t("history." + k), c]);
  const t = h.total;
  const money = (v) => WW.money(v, h.currency);
  document.getElementById("totals").innerHTML = !t ? "" : keys.map(([k, name]) => `<div data-flow="${k}">${name}<b>${WW.kwh(t.energy_kwh[k])}</b></div>`).join("") +
    `<div>${WW.t("history.self_consumption")}<b data-testid="self-consumption">${WW.pct(t.self_consumption_pct)}</b></div>` +
    `<div>${WW.t("history.autarky")}<b data-testid="autarky">${WW.pct(t.autarky_pct)}</b></div>` +
    `<div>${WW.t("history.cost")}<b data-testid="cost">${money(t.cost)}</b></div>`;
  bars(h, keys);
  const head = `<thead><tr><th></th>${keys.map(([, n]) => `<th class="num">${n} kWh</th>`).join("")}<th class="num">${WW.t("history.self_consumption")} %</th><th class="num">${WW.t("history.autarky")} %</th><th class="num">${WW.t("history.cost")}</th></tr></thead>`;
  const body = h.rows.map((r) => `<tr data-start="${WW.esc(r.start)}"><td>${WW.esc(label(r.start, h.tz))}</td>` +
    keys.map(([k]) => `<td class="num" data-flow="${k}">${WW.fmt(r.energy_kwh[k], 2)}</td>`).join("") +
    `<td class="num">${WW.num(r.self_consumption_pct, 0)}</td><td class="num">${WW.num(r.autarky_pct, 0)}</td><td class="num">${money(r.cost)}</td></tr>`).join("");
  document.getElementById("rows").innerHTML = head + "<tbody>" + body + "</tbody>";
  const p = h.price_eur_per_kwh;
  document.getElementById("history-note").textContent = WW.t("history.note",
    { tz: h.tz, buy: WW.money(p.import, h.currency, 4), sell: WW.money(p.export, h.currency, 4) });
}

async function load() {
  document.querySelectorAll("[data-period]").forEach((b) => b.classList.toggle("primary", b.dataset.period === H.period));
  const q = new URLSearchParams({ period: H.period });
  if (H.day) q.set("date", H.day);
  const res = await WW.json("api/history?" + q);
  const err = document.getElementById("history-err");
  err.hidden = res.ok;
  if (!res.ok) { err.textContent = WW.errors(res).join("; "); return; }
  H.day = res.data.date;
  document.getElementById("day").value = H.day;
  history.replaceState(null, "", "?" + new URLSearchParams({ period: H.period, date: H.day }));
  render(res.data);
}

const params = new URLSearchParams(location.search);
H.period = ["day", "week", "month", "year"].includes(params.get("period")) ? params.get("period") : "day";
H.day = params.get("date");
document.querySelectorAll("[data-period]").forEach((b) => b.addEventListener("click", () => { H.period = b.dataset.period; load(); }));
document.getElementById("prev").addEventListener("click", () => shift(-1));
document.getElementById("next").addEventListener("click", () => shift(1));
document.getElementById("day").addEventListener("change", (ev) => { if (ev.target.value) { H.day = ev.target.value; load(); } });
WW.ready.then(load);
