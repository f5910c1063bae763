// wattwerk live page: power flows, devices, charge points, battery, heat pump, restrictions and the
// plan, pushed every second over a websocket (polling api/live when the socket is not available);
// today's chart (uPlot) every 30 s. No framework and no CDN: the edge's LAN may have no internet.
// Every text in the page's language (static/i18n/<lang>.json): WW.tr(key, the English page's text).
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
const STATES = { ok: "ok", stale: "stale", error: "error", failing: "failing", waiting: "waiting for data" };
const MODES = { off: "off", now: "fast", minpv: "min + PV", pv: "PV only" };  // labels: live.mode.<mode>
// labels: restr.kind.<kind>
const RESTRICTIONS = { feed_in_limit: "Feed-in limit", import_limit: "Import limit", ripple_control: "Ripple control",
  peak_shaving: "Peak shaving", direct_marketer: "Direct marketer", para14a: "§14a dimming" };
const esc = WW.esc, fmtPower = WW.power;
// a fixed English word of the server's (an SG-Ready state, a restriction's source: edge/live.py) in the
// page's language, by its catalogue key prefix + the word as a key ("ripple-control receiver" ->
// restr.source.ripple_control_receiver); a word the catalogue does not know stays as the server said it
const slug = (s) => String(s).toLowerCase().replace(/[^a-z0-9]+/g, "_").replace(/^_+|_+$/g, "");
const word = (prefix, s) => (s === null || s === undefined || s === "" ? "" : WW.tr(prefix + slug(s), String(s)));
// "6.0 A of 16 A", "20 % of 10.0 kWh"
const ofTotal = (value, total) => WW.tr("live.of", "{value} of {total}", { value, total });
let siteTz;  // the site's time zone (IANA name) once api/live said it: times are shown in the site's local time
const hm = (t) => new Date(t * 1000).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", hour12: false, timeZone: siteTz });

function show(id, on) { document.getElementById(id).hidden = !on; }

function renderFlows(live) {
  const box = document.getElementById("flows");
  box.innerHTML = "";
  for (const f of FLOWS) {
    const w = live.flows[f.key];
    if (w === undefined) continue;
    const dir = w === null ? "unknown" : w > 0.5 ? f.pos : w < -0.5 ? f.neg : "";
    const el = document.createElement("div");
    el.className = "flow";
    el.style.setProperty("--c", f.color);
    el.dataset.flow = f.key;
    // the stream moves towards the house when the flow feeds it (import, production, discharge),
    // away from it when it takes (export, charging, loads): the energy flow at a glance
    const moving = w === null || Math.abs(w) <= 0.5 ? "" : (w > 0) === (f.key === "grid" || f.key === "pv" || f.key === "battery") ? "in" : "out";
    el.dataset.moving = moving;
    el.innerHTML = `<div class="name">${esc(WW.tr("flow." + f.key, f.label))}</div><div class="value">${w === null ? "–" : fmtPower(Math.abs(w))}</div>` +
      `<div class="dir">${dir ? esc(WW.tr("flow.dir." + dir, dir)) : ""}</div><div class="stream ${moving}" aria-hidden="true"></div>`;
    box.appendChild(el);
  }
  document.getElementById("site").textContent = live.site || "";
  // the site's local time: the server's English words on the English page, else in the page's language
  document.getElementById("clock").textContent = WW.lang === "en" || !live.ts ? live.local_time || "" :
    new Date(live.ts).toLocaleString(WW.lang, { weekday: "short", day: "numeric", month: "short", year: "numeric",
      hour: "2-digit", minute: "2-digit", hour12: false, timeZone: siteTz });
  const stale = document.getElementById("stale");
  stale.hidden = !live.stale.length;
  stale.textContent = live.stale.length ? WW.tr("flow.stale", "No recent data from: {names}", { names: live.stale.join(", ") }) : "";
}

function renderDevices(devices) {
  show("devices-card", devices && devices.length);
  if (!devices) return;
  const rows = devices.map((d) => {
    const v = d.values || {};
    const main = v.power !== undefined ? fmtPower(v.power) : v.soc !== undefined ? WW.num(v.soc, 0, "%") : "";
    // the cause in plain words and what to check; the raw error one click away
    const status = d.status || d.state;
    const raw = d.last_error ? `<details class="raw"><summary>${esc(WW.tr("devices.raw", "raw error"))}</summary><code>${esc(d.last_error.kind)}: ${esc(d.last_error.message)}</code>` +
      `<div class="muted small">${esc(Object.entries(d.errors || {}).map(([k, n]) => `${k} ×${n}`).join(", "))}</div></details>` : "";
    const why = status === "ok" || !d.cause ? "" : `<div class="cause" data-testid="device-cause">${esc(statusText(d, "cause"))}</div>` +
      (d.check ? `<div class="check muted small" data-testid="device-check">${esc(statusText(d, "check"))}</div>` : "");
    return `<tr data-device="${esc(d.id)}" data-status="${esc(status)}"><td><b>${esc(d.name)}</b><div class="muted small">${esc(d.role)} · ${esc(d.connection)}</div></td>` +
      `<td><span class="badge ${esc(status)}">${esc(WW.tr("state." + status, STATES[status] || status))}</span></td>` +
      `<td class="num" data-testid="device-value">${esc(main)}</td><td>${why}${raw}</td></tr>`;
  });
  document.getElementById("devices").innerHTML =
    `<thead><tr><th>${esc(WW.tr("devices.device", "Device"))}</th><th>${esc(WW.tr("devices.state", "State"))}</th>` +
    `<th class="num">${esc(WW.tr("devices.now", "Now"))}</th><th>${esc(WW.tr("devices.why", "Why, and what to check"))}</th></tr></thead><tbody>` +
    rows.join("") + "</tbody>";
}

// a row's cause or check in the page's language (edge/status.py: kind and vars; the English text otherwise)
function statusText(d, which) {
  const vars = { ...(d.vars || {}) };
  if ("where" in vars && !vars.where) vars.where = WW.tr("status.the_device", "the device");
  vars.unit_hint = vars.vendor ? ` (${WW.tr("status.unit." + vars.vendor, "")})` : "";
  return d.kind ? WW.tr(`status.${d.kind}.${which}`, d[which], vars) : d[which];
}

function renderChargers(list) {
  show("chargers-card", list && list.length);
  if (!list) return;
  document.getElementById("chargers").innerHTML = list.map((c) =>
    `<div class="tile" data-charger="${esc(c.id)}"><div class="name">${esc(c.name)}</div>` +
    `<div class="value">${fmtPower(c.power_w)}</div>` +
    `<div class="kv"><span>${esc(WW.tr("live.mode", "Mode"))}</span><b>${esc(WW.tr("live.mode." + c.mode, MODES[c.mode] || String(c.mode)))}</b></div>` +
    `<div class="kv"><span>${esc(WW.tr("live.current", "Current"))}</span><b>${esc(ofTotal(WW.num(c.current_a, 1, "A"), WW.num(c.target_a, 0, "A")))}</b></div>` +
    (c.phases ? `<div class="kv"><span>${esc(WW.tr("live.phases", "Phases"))}</span><b>${c.phases}</b></div>` : "") +
    (c.vehicle_soc !== null && c.vehicle_soc !== undefined ?
      `<div class="kv"><span>${esc(WW.tr("live.vehicle", "Vehicle"))}</span><b>${WW.num(c.vehicle_soc, 0, "%")}</b></div>` : "") +
    `</div>`).join("");
}

function renderBattery(b) {
  show("battery-card", !!b);
  if (!b) return;
  const soc = b.soc_pct, dir = b.power_w > 0.5 ? "discharging" : b.power_w < -0.5 ? "charging" : "idle";
  document.getElementById("battery").innerHTML =
    `<div class="soc" role="meter" aria-valuemin="0" aria-valuemax="100" aria-valuenow="${soc ?? 0}" aria-label="${esc(WW.tr("live.soc_meter", "state of charge"))}">` +
    `<div class="fill" style="width:${Math.max(0, Math.min(100, soc ?? 0))}%"></div>` +
    `<div class="reserve" style="left:${b.reserve_pct}%" title="${esc(WW.tr("live.reserve_mark", "reserve"))}"></div></div>` +
    `<div class="kv big"><span>${esc(WW.tr("live.soc", "State of charge"))}</span><b data-testid="soc">${WW.num(soc, 0, "%")}</b></div>` +
    `<div class="kv"><span>${esc(WW.tr("live.power", "Power"))}</span><b>${b.power_w === null ? "–" : fmtPower(Math.abs(b.power_w))} ${esc(WW.tr("flow.dir." + dir, dir))}</b></div>` +
    `<div class="kv"><span>${esc(WW.tr("live.reserve", "Reserve"))}</span><b>${esc(ofTotal(WW.num(b.reserve_pct, 0, "%"), WW.num(b.capacity_wh / 1000, 1, "kWh")))}</b></div>`;
}

function renderHeat(list) {
  show("heat-card", list && list.length);
  if (!list) return;
  document.getElementById("heat").innerHTML = list.map((h) =>
    `<div class="tile" data-heat="${esc(h.id)}"><div class="name">${esc(h.name)}</div><div class="value">${fmtPower(h.power_w)}</div>` +
    `<div class="kv"><span>${esc(WW.tr("live.sgready", "SG-Ready"))}</span><b>${esc(h.sgready === null || h.sgready === undefined ? "–" : word("live.sgready.", h.sgready))}</b></div>` +
    (h.temperature_c !== null ? `<div class="kv"><span>${esc(WW.tr("live.temperature", "Temperature"))}</span><b>${WW.num(h.temperature_c, 1, "°C")}</b></div>` : "") +
    `</div>`).join("");
}

function renderRestrictions(list) {
  show("restrictions-card", list && list.length);
  if (!list) return;
  document.getElementById("restrictions").innerHTML = list.map((r) =>
    `<li><b>${esc(WW.tr("restr.kind." + r.kind, RESTRICTIONS[r.kind] || String(r.kind)))}</b> ` +
    (r.limit_w !== undefined ? fmtPower(r.limit_w) : WW.num(r.limit_pct, 0, "%")) +
    ` <span class="muted small">(${esc(word("restr.source.", r.source))})</span></li>`).join("");
}

function renderPlan(plan) {
  const slots = (plan && plan.slots) || [];
  show("plan-card", slots.length);
  if (!slots.length) return;
  const box = document.getElementById("plan");
  const W = Math.max(box.clientWidth, 280), H = 160, L = 40, B = 22, T = 8;
  const prices = slots.map((s) => s.price ?? 0);
  const lo = Math.min(0, ...prices), hi = Math.max(...prices, lo + 1e-6);
  const bw = (W - L - 4) / slots.length;
  const y = (v) => T + (H - T - B) * (hi - v) / (hi - lo);
  const currency = plan.currency || "";
  let svg = `<svg viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-label="${esc(WW.tr("live.plan_chart", "prices and plan"))}">`;
  const known = published(plan);  // the slots after it are planned on forecast prices: paler
  slots.forEach((s, i) => {
    const v = s.price ?? 0, x = L + i * bw;
    const cls = (s.battery_w ?? 0) < -1 ? "charge" : (s.battery_w ?? 0) > 1 ? "discharge" : "";
    const what = [`${WW.fmt(v, 3)} ${currency}/kWh` + (i >= known ? ` (${WW.tr("live.slot_forecast", "forecast")})` : "")];
    if (s.battery_w) what.push(WW.tr("live.slot_battery", "battery {power}", { power: fmtPower(s.battery_w) }));
    if (s.ev_w) what.push(WW.tr("live.slot_ev", "EV {power}", { power: fmtPower(s.ev_w) }));
    if (s.curtail_w >= 1) what.push(WW.tr("live.slot_curtailed", "PV curtailed {power}", { power: fmtPower(s.curtail_w) }));
    svg += `<rect class="price ${cls}${i >= known ? " forecast" : ""}"${i >= known ? ' fill-opacity="0.4"' : ""} x="${x.toFixed(1)}" y="${Math.min(y(v), y(0)).toFixed(1)}" width="${Math.max(bw - 1, 1).toFixed(1)}" ` +
      `height="${Math.abs(y(v) - y(0)).toFixed(1)}"><title>${esc(hm(Date.parse(s.start) / 1000))}: ${esc(what.join(", "))}</title></rect>`;
  });
  if (known < slots.length)  // where the published prices end
    svg += `<line class="forecast-from" x1="${(L + known * bw).toFixed(1)}" x2="${(L + known * bw).toFixed(1)}" y1="${T}" y2="${H - B}" stroke="#69736d" stroke-dasharray="3 3"/>`;
  svg += `<text x="${L - 4}" y="${y(hi) + 10}" text-anchor="end" font-size="11" fill="#69736d">${WW.fmt(hi, 2)}</text>` +
    `<text x="${L - 4}" y="${y(lo)}" text-anchor="end" font-size="11" fill="#69736d">${WW.fmt(lo, 2)}</text>`;
  const every = Math.max(1, Math.ceil(slots.length / (W < 500 ? 4 : 8)));
  slots.forEach((s, i) => {
    if (i % every) return;
    svg += `<text x="${L + i * bw}" y="${H - 6}" font-size="11" fill="#69736d">${hm(Date.parse(s.start) / 1000)}</text>`;
  });
  const source = { source: plan.source };
  box.innerHTML = svg + `</svg><div class="legend"><span><i class="price"></i>${esc(WW.tr("live.plan_price", "price {currency}/kWh", { currency }))}</span>` +
    `<span><i class="price charge"></i>${esc(WW.tr("live.plan_charges", "battery charges"))}</span>` +
    `<span><i class="price discharge"></i>${esc(WW.tr("live.plan_discharges", "battery discharges"))}</span>` +
    (known < slots.length ? `<span data-testid="plan-forecast"><i class="price" style="opacity:.4"></i>${esc(WW.tr("live.plan_forecast", "forecast price (not yet published)"))}</span>` : "") + "</div>" +
    (plan.source ? `<p class="muted small" data-testid="plan-prices">${esc(plan.fresh === false ?
      WW.tr("live.plan_prices_cached", "prices: {source} (cached)", source) : WW.tr("live.plan_prices", "prices: {source}", source))}</p>` : "") +
    (plan.curtailed_kwh > 0.0005 ? `<p class="muted small" data-testid="plan-curtailed">${esc(WW.tr("live.plan_curtailed",
      "PV curtailed in the plan: {energy} (feed-in limit or feed-in price)", { energy: WW.num(plan.curtailed_kwh, 1, "kWh") }))}</p>` : "") +
    planOutlook(plan);
}

// what the plan is expected to cost and emit, and what following the grid's CO₂ signal changed
function planOutlook(plan) {
  const parts = [], currency = plan.currency || "EUR";
  if (typeof plan.cost_eur === "number") parts.push(WW.money(plan.cost_eur, currency));
  const c = plan.co2;
  if (c && typeof c.kg === "number") parts.push(`${WW.fmt(c.kg, 1)} kg CO₂`);
  if (!parts.length) return "";
  let note = "";
  if (c && c.effect) {
    const vars = { source: c.source, saved: WW.fmt(c.effect.co2_kg_saved, 1), more: WW.money(c.effect.cost_eur_more, currency) };
    note = " (" + (c.fresh === false
      ? WW.tr("live.co2_effect_cached", "CO₂ signal {source}, cached: {saved} kg CO₂ less for {more} more than on price alone", vars)
      : WW.tr("live.co2_effect", "CO₂ signal {source}: {saved} kg CO₂ less for {more} more than on price alone", vars)) + ")";
  } else if (c && c.message) {
    note = ` (${c.message})`;  // the server's own words
  }
  const slots = plan.slots || [], known = published(plan), vars = { parts: parts.join(" · ") };
  const said = known < slots.length
    ? WW.tr("live.plan_expected_forecast", "expected over the plan, with forecast prices from {time}: {parts}", { ...vars, time: hm(Date.parse(slots[known].start) / 1000) })
    : WW.tr("live.plan_expected", "expected over the plan: {parts}", vars);
  return `<p class="muted small" data-testid="plan-outlook">${esc(said + note)}</p>`;
}

// how many of the plan's slots have published prices (all when the edge does not say)
function published(plan) {
  const n = (plan.slots || []).length;
  return typeof plan.published_slots === "number" ? Math.min(plan.published_slots, n) : n;
}

// the header: green when every device answers, amber when one is stale, red when the grid meter is not ok
function renderHealth(h, devices) {
  const el = document.getElementById("health");
  el.hidden = !h;
  if (!h) return;
  el.dataset.level = h.level;
  const vars = { ...(h.vars || {}) };
  const grid = (devices || []).find((d) => d.id === vars.device);
  if (grid) vars.cause = statusText(grid, "cause");
  const text = h.key && (grid || h.key !== "health.grid") ? WW.tr(h.key, h.text, vars) : h.text;
  el.textContent = (h.level === "ok" ? "● " : "▲ ") + text;
  el.title = text;
}

function renderLive(live) {
  if (live.timezone) siteTz = live.timezone;
  renderHealth(live.health, live.devices);
  renderFlows(live);
  renderDevices(live.devices);
  renderChargers(live.chargers);
  renderBattery(live.battery);
  renderHeat(live.heat_pump);
  renderRestrictions(live.restrictions);
  renderPlan(live.plan);
}

// today's power per flow with uPlot (vendored in static/vendor/uplot, see scripts/vendor_uplot.sh)
let dayChart = null, dayKeys = "";

function chartSize(box) {
  const width = Math.max(box.clientWidth, 260);
  return { width, height: width < 500 ? 220 : 280 };
}

function renderChart(day) {
  const box = document.getElementById("chart");
  const keys = Object.keys(day.series).filter((k) => day.series[k].length);
  const t0 = Date.parse(day.start) / 1000, t1 = Date.parse(day.end) / 1000;
  const times = [...new Set(keys.flatMap((k) => day.series[k].map((p) => Date.parse(p[0]) / 1000)))].sort((a, b) => a - b);
  const data = [times, ...keys.map((k) => {
    const m = new Map(day.series[k].map((p) => [Date.parse(p[0]) / 1000, p[1] / 1000]));
    return times.map((t) => (m.has(t) ? m.get(t) : null));
  })];
  box.dataset.points = String(times.length);
  if (!times.length) {
    if (dayChart) { dayChart.destroy(); dayChart = null; dayKeys = ""; }
    box.innerHTML = `<p class="muted empty">${esc(WW.tr("live.no_history", "No history yet today."))}</p>`;
  } else if (dayChart && dayKeys === keys.join() + t0) {
    dayChart.setData(data, false);
    dayChart.setScale("x", { min: t0, max: t1 });
  } else {
    if (dayChart) dayChart.destroy();
    box.innerHTML = "";
    dayChart = new uPlot({
      ...chartSize(box),
      scales: { x: { time: true, range: () => [t0, t1] } },
      tzDate: siteTz ? (ts) => uPlot.tzDate(new Date(ts * 1000), siteTz) : (ts) => new Date(ts * 1000),
      axes: [
        { stroke: "#69736d", grid: { stroke: "#e4e7e2" }, ticks: { stroke: "#e4e7e2" }, values: (u, ticks) => ticks.map(hm) },
        { stroke: "#69736d", grid: { stroke: "#e4e7e2" }, ticks: { stroke: "#e4e7e2" }, size: 44, label: "kW", labelSize: 16 },
      ],
      series: [
        { label: WW.tr("today.time", "time"), value: (u, t) => (t === null ? "–" : hm(t)) },
        ...keys.map((k) => ({ label: WW.tr("today." + k, k), stroke: COLORS[k] || "#333", width: 1.6,
          value: (u, v) => (v === null || v === undefined ? "–" : WW.fmt(v, 2) + " kW") })),
      ],
      cursor: { points: { size: 6 } },
    }, data, box);
    dayKeys = keys.join() + t0;
  }
  const legend = document.getElementById("legend");
  legend.innerHTML = "";
  legend.hidden = true;
  // the totals by flow (flows.py ENERGY_COUNTERS: today.grid_import ...), the English page's "grid import"
  const rows = Object.entries(day.energy_kwh).map(([k, v]) =>
    `<tr><td>${esc(WW.tr("today." + k, k.replace("_", " ")))}</td><td>${WW.num(v, 2, "kWh")}</td></tr>`);
  document.getElementById("energy").innerHTML = rows.join("");
}

window.addEventListener("resize", () => { if (dayChart) dayChart.setSize(chartSize(document.getElementById("chart"))); });

function setConn(state) {
  const el = document.getElementById("conn");
  el.dataset.state = state;
  el.title = WW.tr("live.conn", "live connection");
  el.textContent = "● " + (state === "live" ? WW.tr("live.conn_live", "live")
    : state === "polling" ? WW.tr("live.conn_polling", "polling") : WW.tr("live.conn_offline", "offline"));
}

async function poll(url, render, every) {
  try {
    const r = await fetch(url);
    if (r.ok) { render(await r.json()); if (url === "api/live") setConn("polling"); }
  } catch (e) { setConn("offline"); /* the edge restarts or the LAN blips: try again */ }
  return setTimeout(() => poll(url, render, every), every);
}

function connect(retry = 1000) {
  let opened = false;
  let ws;
  try {
    const url = new URL("api/ws", location.href);
    url.protocol = location.protocol === "https:" ? "wss:" : "ws:";
    ws = new WebSocket(url);
  } catch (e) { poll("api/live", renderLive, 2000); return; }
  ws.onopen = () => { opened = true; setConn("live"); };
  ws.onmessage = (ev) => renderLive(JSON.parse(ev.data));
  ws.onclose = () => {
    setConn("offline");
    if (!opened && retry > 8000) { poll("api/live", renderLive, 2000); return; }  // no websockets here: poll
    setTimeout(() => connect(Math.min(retry * 2, 16000)), retry);
  };
}

// the texts in the page's language from the first render on (the chart's legend is made once)
WW.ready.then(() => fetch("api/live")).then((r) => r.json()).then(renderLive).catch(() => setConn("offline"))
  .finally(() => { connect(); poll("api/today", renderChart, 30000); });
