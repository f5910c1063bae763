// wattwerk live page: power flows, devices, charge points, battery, heat pump, restrictions and the
// plan, pushed every second over a websocket (polling api/live when the socket is not available);
// today's chart (uPlot) every 30 s. No framework and no CDN: the edge's LAN may have no internet.
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
const MODES = { off: "off", now: "fast", minpv: "min + PV", pv: "PV only" };
const RESTRICTIONS = { feed_in_limit: "Feed-in limit", import_limit: "Import limit", ripple_control: "Ripple control",
  peak_shaving: "Peak shaving", direct_marketer: "Direct marketer", para14a: "§14a dimming" };
const esc = WW.esc, fmtPower = WW.power;
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
  document.getElementById("clock").textContent = live.local_time || "";
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
    `<div class="kv"><span>Mode</span><b>${esc(MODES[c.mode] || c.mode)}</b></div>` +
    `<div class="kv"><span>Current</span><b>${WW.num(c.current_a, 1, "A")} of ${WW.num(c.target_a, 0, "A")}</b></div>` +
    (c.phases ? `<div class="kv"><span>Phases</span><b>${c.phases}</b></div>` : "") +
    (c.vehicle_soc !== null && c.vehicle_soc !== undefined ? `<div class="kv"><span>Vehicle</span><b>${WW.num(c.vehicle_soc, 0, "%")}</b></div>` : "") +
    `</div>`).join("");
}

function renderBattery(b) {
  show("battery-card", !!b);
  if (!b) return;
  const soc = b.soc_pct, dir = b.power_w > 0.5 ? "discharging" : b.power_w < -0.5 ? "charging" : "idle";
  document.getElementById("battery").innerHTML =
    `<div class="soc" role="meter" aria-valuemin="0" aria-valuemax="100" aria-valuenow="${soc ?? 0}" aria-label="state of charge">` +
    `<div class="fill" style="width:${Math.max(0, Math.min(100, soc ?? 0))}%"></div>` +
    `<div class="reserve" style="left:${b.reserve_pct}%" title="reserve"></div></div>` +
    `<div class="kv big"><span>State of charge</span><b data-testid="soc">${WW.num(soc, 0, "%")}</b></div>` +
    `<div class="kv"><span>Power</span><b>${b.power_w === null ? "–" : fmtPower(Math.abs(b.power_w))} ${dir}</b></div>` +
    `<div class="kv"><span>Reserve</span><b>${WW.num(b.reserve_pct, 0, "%")} of ${WW.num(b.capacity_wh / 1000, 1, "kWh")}</b></div>`;
}

function renderHeat(list) {
  show("heat-card", list && list.length);
  if (!list) return;
  document.getElementById("heat").innerHTML = list.map((h) =>
    `<div class="tile" data-heat="${esc(h.id)}"><div class="name">${esc(h.name)}</div><div class="value">${fmtPower(h.power_w)}</div>` +
    `<div class="kv"><span>SG-Ready</span><b>${esc(h.sgready ?? "–")}</b></div>` +
    (h.temperature_c !== null ? `<div class="kv"><span>Temperature</span><b>${WW.num(h.temperature_c, 1, "°C")}</b></div>` : "") +
    `</div>`).join("");
}

function renderRestrictions(list) {
  show("restrictions-card", list && list.length);
  if (!list) return;
  document.getElementById("restrictions").innerHTML = list.map((r) =>
    `<li><b>${esc(RESTRICTIONS[r.kind] || r.kind)}</b> ` +
    (r.limit_w !== undefined ? fmtPower(r.limit_w) : WW.num(r.limit_pct, 0, "%")) +
    ` <span class="muted small">(${esc(r.source)})</span></li>`).join("");
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
  let svg = `<svg viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-label="prices and plan">`;
  slots.forEach((s, i) => {
    const v = s.price ?? 0, x = L + i * bw;
    const cls = (s.battery_w ?? 0) < -1 ? "charge" : (s.battery_w ?? 0) > 1 ? "discharge" : "";
    svg += `<rect class="price ${cls}" x="${x.toFixed(1)}" y="${Math.min(y(v), y(0)).toFixed(1)}" width="${Math.max(bw - 1, 1).toFixed(1)}" ` +
      `height="${Math.abs(y(v) - y(0)).toFixed(1)}"><title>${esc(hm(Date.parse(s.start) / 1000))}: ` +
      `${v.toFixed(3)} ${esc(plan.currency || "")}/kWh${s.battery_w ? ", battery " + fmtPower(s.battery_w) : ""}${s.ev_w ? ", EV " + fmtPower(s.ev_w) : ""}${s.curtail_w >= 1 ? ", PV curtailed " + fmtPower(s.curtail_w) : ""}</title></rect>`;
  });
  svg += `<text x="${L - 4}" y="${y(hi) + 10}" text-anchor="end" font-size="11" fill="#69736d">${hi.toFixed(2)}</text>` +
    `<text x="${L - 4}" y="${y(lo)}" text-anchor="end" font-size="11" fill="#69736d">${lo.toFixed(2)}</text>`;
  const every = Math.max(1, Math.ceil(slots.length / (W < 500 ? 4 : 8)));
  slots.forEach((s, i) => {
    if (i % every) return;
    svg += `<text x="${L + i * bw}" y="${H - 6}" font-size="11" fill="#69736d">${hm(Date.parse(s.start) / 1000)}</text>`;
  });
  box.innerHTML = svg + `</svg><div class="legend"><span><i class="price"></i>price ${esc(plan.currency || "")}/kWh</span>` +
    `<span><i class="price charge"></i>battery charges</span><span><i class="price discharge"></i>battery discharges</span></div>` +
    (plan.source ? `<p class="muted small" data-testid="plan-prices">prices: ${esc(plan.source)}${plan.fresh === false ? " (cached)" : ""}</p>` : "") +
    (plan.curtailed_kwh > 0.0005 ? `<p class="muted small" data-testid="plan-curtailed">PV curtailed in the plan: ${plan.curtailed_kwh.toFixed(1)} kWh (feed-in limit or feed-in price)</p>` : "") +
    planOutlook(plan);
}

// what the plan is expected to cost and emit, and what following the grid's CO₂ signal changed
function planOutlook(plan) {
  const parts = [];
  if (typeof plan.cost_eur === "number") parts.push(`${plan.cost_eur.toFixed(2)} ${esc(plan.currency || "")}`);
  const c = plan.co2;
  if (c && typeof c.kg === "number") parts.push(`${c.kg.toFixed(1)} kg CO₂`);
  if (!parts.length) return "";
  let note = "";
  if (c && c.effect) {
    note = ` (CO₂ signal ${esc(c.source)}${c.fresh === false ? ", cached" : ""}: ${c.effect.co2_kg_saved.toFixed(1)} kg CO₂ less ` +
      `for ${c.effect.cost_eur_more.toFixed(2)} ${esc(plan.currency || "")} more than on price alone)`;
  } else if (c && c.message) {
    note = ` (${esc(c.message)})`;
  }
  return `<p class="muted small" data-testid="plan-outlook">expected over the plan: ${parts.join(" · ")}${note}</p>`;
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
    box.innerHTML = `<p class="muted empty">No history yet today.</p>`;
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
        { label: "time", value: (u, t) => (t === null ? "–" : hm(t)) },
        ...keys.map((k) => ({ label: k, stroke: COLORS[k] || "#333", width: 1.6,
          value: (u, v) => (v === null || v === undefined ? "–" : v.toFixed(2) + " kW") })),
      ],
      cursor: { points: { size: 6 } },
    }, data, box);
    dayKeys = keys.join() + t0;
  }
  const legend = document.getElementById("legend");
  legend.innerHTML = "";
  legend.hidden = true;
  const rows = Object.entries(day.energy_kwh).map(([k, v]) => `<tr><td>${esc(k.replace("_", " "))}</td><td>${v.toFixed(2)} kWh</td></tr>`);
  document.getElementById("energy").innerHTML = rows.join("");
}

window.addEventListener("resize", () => { if (dayChart) dayChart.setSize(chartSize(document.getElementById("chart"))); });

function setConn(state) {
  const el = document.getElementById("conn");
  el.dataset.state = state;
  el.textContent = state === "live" ? "● live" : state === "polling" ? "● polling" : "● offline";
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

fetch("api/live").then((r) => r.json()).then(renderLive).catch(() => setConn("offline"))
  .finally(() => { connect(); poll("api/today", renderChart, 30000); });
