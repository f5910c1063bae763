// wattwerk live page: power flows, devices, charge points, battery, heat pump, restrictions and the
// plan, pushed every second over a websocket (polling api/live when the socket is not available);
// today's chart every 30 s. No framework and no CDN: the edge's LAN may have no internet.
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
const STATES = { ok: "ok", stale: "no recent data", failing: "failing", waiting: "waiting for data" };
const MODES = { off: "off", now: "fast", minpv: "min + PV", pv: "PV only" };
const RESTRICTIONS = { feed_in_limit: "Feed-in limit", import_limit: "Import limit", ripple_control: "Ripple control" };
const esc = WW.esc, fmtPower = WW.power;

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
    el.innerHTML = `<div class="name">${f.label}</div><div class="value">${w === null ? "–" : fmtPower(Math.abs(w))}</div>` +
      `<div class="dir">${dir}</div>`;
    box.appendChild(el);
  }
  document.getElementById("site").textContent = live.site || "";
  document.getElementById("clock").textContent = live.local_time || "";
  const stale = document.getElementById("stale");
  stale.hidden = !live.stale.length;
  stale.textContent = live.stale.length ? "No recent data from: " + live.stale.join(", ") : "";
}

function renderDevices(devices) {
  show("devices-card", devices && devices.length);
  if (!devices) return;
  const rows = devices.map((d) => {
    const v = d.values || {};
    const main = v.power !== undefined ? fmtPower(v.power) : v.soc !== undefined ? WW.num(v.soc, 0, "%") : "";
    const err = d.last_error ? `<div class="err">${esc(d.last_error.kind)}: ${esc(d.last_error.message)}</div>` :
      Object.keys(d.errors || {}).length ? `<div class="err">${esc(Object.entries(d.errors).map(([k, n]) => `${k} ×${n}`).join(", "))}</div>` : "";
    return `<tr data-device="${esc(d.id)}"><td><b>${esc(d.name)}</b><div class="muted small">${esc(d.role)} · ${esc(d.connection)}</div></td>` +
      `<td><span class="badge ${esc(d.state)}">${esc(STATES[d.state] || d.state)}</span></td>` +
      `<td class="num" data-testid="device-value">${esc(main)}</td><td>${err}</td></tr>`;
  });
  document.getElementById("devices").innerHTML =
    "<thead><tr><th>Device</th><th>State</th><th class=\"num\">Now</th><th>Last error</th></tr></thead><tbody>" + rows.join("") + "</tbody>";
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
      `height="${Math.abs(y(v) - y(0)).toFixed(1)}"><title>${esc(new Date(s.start).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", hour12: false }))}: ` +
      `${v.toFixed(3)} ${esc(plan.currency || "")}/kWh${s.battery_w ? ", battery " + fmtPower(s.battery_w) : ""}${s.ev_w ? ", EV " + fmtPower(s.ev_w) : ""}</title></rect>`;
  });
  svg += `<text x="${L - 4}" y="${y(hi) + 10}" text-anchor="end" font-size="11" fill="#69736d">${hi.toFixed(2)}</text>` +
    `<text x="${L - 4}" y="${y(lo)}" text-anchor="end" font-size="11" fill="#69736d">${lo.toFixed(2)}</text>`;
  const every = Math.max(1, Math.ceil(slots.length / (W < 500 ? 4 : 8)));
  slots.forEach((s, i) => {
    if (i % every) return;
    svg += `<text x="${L + i * bw}" y="${H - 6}" font-size="11" fill="#69736d">${new Date(s.start).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", hour12: false })}</text>`;
  });
  box.innerHTML = svg + `</svg><div class="legend"><span><i class="price"></i>price ${esc(plan.currency || "")}/kWh</span>` +
    `<span><i class="price charge"></i>battery charges</span><span><i class="price discharge"></i>battery discharges</span></div>`;
}

function renderLive(live) {
  renderFlows(live);
  renderDevices(live.devices);
  renderChargers(live.chargers);
  renderBattery(live.battery);
  renderHeat(live.heat_pump);
  renderRestrictions(live.restrictions);
  renderPlan(live.plan);
}

function niceStep(range, lines) {
  const raw = range / lines, mag = Math.pow(10, Math.floor(Math.log10(raw)));
  return [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw);
}

function renderChart(day) {
  const box = document.getElementById("chart");
  const W = Math.max(box.clientWidth, 280), H = W < 500 ? 200 : 260, L = 40, B = 22, T = 20;
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
      `<text x="${L - 4}" y="${y(v) + 4}" text-anchor="end" font-size="11" fill="#69736d">${(v / 1000).toFixed(step % 1000 ? 1 : 0)}</text>`;
  }
  const hours = W < 500 ? 6 : 3;
  for (let h = 0; h <= 24; h += hours) {
    const t = t0 + h * (t1 - t0) / 24;
    svg += `<text x="${x(t)}" y="${H - 6}" text-anchor="${h === 24 ? "end" : "middle"}" font-size="11" fill="#69736d">${h}:00</text>`;
  }
  svg += `<text x="${L - 4}" y="11" text-anchor="end" font-size="11" fill="#69736d">kW</text>`;
  if (!Object.values(day.series).some((s) => s.length)) {
    svg += `<text x="${(L + W) / 2}" y="${H / 2}" text-anchor="middle" font-size="13" fill="#69736d">no history yet today</text>`;
  }
  for (const [key, pts] of Object.entries(day.series)) {
    if (!pts.length) continue;
    const d = pts.map((p, i) => (i ? "L" : "M") + x(Date.parse(p[0])).toFixed(1) + " " + y(p[1]).toFixed(1)).join("");
    svg += `<path d="${d}" fill="none" stroke="${COLORS[key] || "#333"}" stroke-width="1.6" data-series="${esc(key)}"/>`;
  }
  box.innerHTML = svg + "</svg>";
  document.getElementById("legend").innerHTML = Object.keys(day.series)
    .map((k) => `<span><i style="background:${COLORS[k] || "#333"}"></i>${esc(k)}</span>`).join("");
  const rows = Object.entries(day.energy_kwh).map(([k, v]) => `<tr><td>${esc(k.replace("_", " "))}</td><td>${v.toFixed(2)} kWh</td></tr>`);
  document.getElementById("energy").innerHTML = rows.join("");
}

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

fetch("api/live").then((r) => r.json()).then(renderLive).catch(() => setConn("offline"));
connect();
poll("api/today", renderChart, 30000);
