// The owner's controls on the edge page: charge mode, minimum current and phases, a departure plan per
// car with the planner's cost and PV share, the session now; battery mode and reserve; boost / off for
// the heat pump and the heating rod; each with the control's decision and why. Reads GET api/owner
// every 2 s, writes PUT api/owner/<device> (session cookie + X-CSRF-Token, like every write).
"use strict";

const OWNER = {
  modes: [["off", "Off"], ["pv", "PV"], ["minpv", "Min+PV"], ["now", "Now"]],  // labels: owner.mode.<value>
  batteryModes: [["self_consumption", "Self-use"], ["hold", "Hold"], ["charge", "Charge now"], ["planner", "Planner"]],
  shown: "",  // the device ids rendered, so inputs are rebuilt only when the devices change
};

async function ownerPut(device, settings) {
  const r = await fetch("api/owner/" + encodeURIComponent(device), {
    method: "PUT", body: JSON.stringify(settings),
    headers: { "Content-Type": "application/json", "X-CSRF-Token": WW.csrf() },
  });
  if (r.status === 401) location.href = "login?next=" + encodeURIComponent(location.pathname);
  let data = null;
  try { data = await r.json(); } catch (e) { data = null; }
  const box = document.querySelector(`[data-owner="${CSS.escape(device)}"] .err`);
  if (box) box.textContent = r.ok ? "" : WW.errors({ status: r.status, data }).join("; ");
  if (r.ok) ownerRender(await ownerFetch());
  return r.ok;
}

async function ownerFetch() {
  const r = await fetch("api/owner");
  return r.ok ? r.json() : null;
}

function hhmm(iso) {
  return iso ? new Date(iso).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }) : "–";
}

function ranges(slots) {  // contiguous slots as "02:00–04:00"
  const out = [];
  for (const s of slots || []) {
    const start = new Date(s.start), last = out[out.length - 1];
    if (last && last.end.getTime() === start.getTime()) last.end = new Date(start.getTime() + 15 * 60000);
    else out.push({ start, end: new Date(start.getTime() + 15 * 60000) });
  }
  return out.map((r) => hhmm(r.start.toISOString()) + "–" + hhmm(r.end.toISOString())).join(", ");
}

// the page's language for a text of this section (static/i18n owner.*), English until it is there
const tx = (key, en, vars) => WW.esc(WW.tr("owner." + key, en, vars));

function seg(device, key, options, current, prefix) {
  return `<div class="seg" role="group" aria-label="${key === "mode" ? tx("mode_group", "mode") : WW.esc(key)}">` + options.map(([v, label]) =>
    `<button type="button" data-set="${WW.esc(key)}" data-value="${WW.esc(v)}" data-testid="${WW.esc(key)}-${WW.esc(v)}"` +
    ` aria-pressed="${current === v}">${tx(prefix + "." + v, label)}</button>`).join("") + "</div>";
}

function chargerHtml(d) {
  const phases = d.can_switch_phases ? `<label>${tx("phases", "Phases")}<select name="phases"><option value="0">${tx("auto", "auto")}</option>` +
    `<option value="1">1</option><option value="3">3</option></select></label>` : "";
  return `<h3>${WW.esc(d.id)}</h3><div data-field="mode">${seg(d.id, "mode", OWNER.modes, d.mode, "mode")}</div>` +
    `<p class="why" data-testid="ev-reason" data-field="reason"></p>` +
    `<form data-form="current"><label>${tx("min_a", "Minimum A")}<input name="min_current_a" type="number" min="6" max="${d.top_current_a || 32}" step="1"></label>` +
    `<label>${tx("max_a", "Maximum A")}<input name="max_current_a" type="number" min="0" max="${d.top_current_a || 32}" step="1"></label>${phases}` +
    `<button type="submit">${tx("set", "Set")}</button></form>` +
    `<h3>${tx("plan", "Plan")}</h3><form data-form="plan"><label>${tx("energy", "Energy kWh")}<input name="energy_kwh" type="number" min="1" max="250" step="1" data-testid="plan-kwh"></label>` +
    `<label>${tx("soc", "or SoC %")}<input name="target_soc" type="number" min="1" max="100" step="1"></label>` +
    `<label>${tx("car_kwh", "Car kWh")}<input name="battery_kwh" type="number" min="1" max="250" step="1"></label>` +
    `<label>${tx("car", "Car")}<input name="car" maxlength="40" data-testid="plan-car"></label>` +
    `<label>${tx("by", "By")}<input name="departure" type="time" value="07:00" data-testid="plan-time"></label>` +
    `<label>${tx("when", "When")}<select name="when" data-testid="plan-day"><option value="tomorrow">${tx("tomorrow", "tomorrow")}</option>` +
    `<option value="today">${tx("today", "today")}</option>` +
    `<option value="weekdays">${tx("weekdays", "Mon–Fri")}</option><option value="daily">${tx("daily", "every day")}</option></select></label>` +
    `<button type="submit" class="primary" data-testid="plan-save">${tx("save_plan", "Save plan")}</button>` +
    `<button type="button" data-clear="plan">${tx("clear", "Clear")}</button></form>` +
    `<div data-field="plan" data-testid="plan-summary"></div><div data-field="session" data-testid="session"></div>` +
    `<p class="err" role="alert"></p>`;
}

function batteryHtml(d) {
  const modes = OWNER.batteryModes.filter(([v]) => v !== "planner" || d.planner);
  return `<h3>${WW.esc(d.id)} (${tx("battery_title", "battery")})</h3><div data-field="mode">${seg(d.id, "mode", modes, d.mode, "battery")}</div>` +
    `<p class="why" data-field="reason" data-testid="battery-reason"></p>` +
    `<form data-form="reserve"><label>${tx("reserve", "Reserve SoC %")}<input name="reserve_soc" type="number" min="0" max="100" step="5"></label>` +
    `<button type="submit">${tx("set", "Set")}</button></form><p class="err" role="alert"></p>`;
}

function heaterHtml(d) {
  const what = d.role === "heat_pump" ? tx("heat_pump", "heat pump") : tx("heating_rod", "heating rod");
  return `<h3>${WW.esc(d.id)} (${what})</h3><p class="why" data-field="reason" data-testid="heat-reason"></p>` +
    `<form data-form="boost"><label>${tx("boost_minutes", "Boost minutes")}<input name="boost_minutes" type="number" min="5" max="720" step="5" value="30"></label>` +
    `<button type="submit" data-testid="boost">${tx("boost", "Boost now")}</button></form>` +
    `<form data-form="off"><label>${tx("off_hours", "Off hours")}<input name="off_hours" type="number" min="0.5" max="48" step="0.5" value="2"></label>` +
    `<button type="submit">${tx("off", "Off now")}</button><button type="button" data-clear="override">${tx("cancel", "Cancel")}</button></form>` +
    `<p class="err" role="alert"></p>`;
}

function planText(d) {
  const set = (d.settings || {}).plan;
  if (!set) return `<span class="muted">${tx("no_plan", "No plan set here (the site file's departures still count).")}</span>`;
  const target = set.energy_kwh ? `${set.energy_kwh} kWh` : `${set.target_soc} %`;
  let html = `<div class="kv"><span>${tx("target", "Target")}</span><b>${tx("target_by", "{target} by {time}", { target, time: hhmm(d.departure) })}` +
    `${d.departure ? " " + new Date(d.departure).toLocaleDateString([], { weekday: "short" }) : ""}</b></div>`;
  const p = d.plan;
  if (p) {
    html += `<div class="kv"><span>${tx("planned", "Planned")}</span><b>${WW.num(p.energy_wh / 1000, 1, "kWh")}, ${WW.num(p.cost_eur, 2, "€")}` +
      `, PV ${WW.num(p.pv_share_pct, 0, "%")}</b></div>` +
      `<div class="slots" data-testid="plan-slots">${tx("charging", "Charging {slots}", { slots: ranges(p.slots) || WW.tr("owner.not_planned", "not planned yet") })}</div>`;
  }
  return html;
}

function sessionText(s) {
  if (!s) return "";
  const min = Math.round(s.duration_s / 60);
  return `<div class="kv"><span>${tx("session", "Session")}</span><b>${WW.num(s.energy_wh / 1000, 2, "kWh")}, PV ${WW.num(s.pv_share_pct, 0, "%")}, ` +
    `${WW.num(s.cost_eur, 2, "€")}, ${Math.floor(min / 60)} h ${min % 60} min</b></div>`;
}

function ownerFill(el, d) {  // inputs from the settings in force (first render and after a save)
  const val = (name, v) => { const i = el.querySelector(`[name="${name}"]`); if (i && v !== undefined && v !== null) i.value = v; };
  val("min_current_a", d.min_current_a); val("max_current_a", d.max_current_a); val("phases", d.phases);
  val("reserve_soc", d.reserve_soc);
}

function ownerRender(state) {
  const devices = (state && state.devices) || [];
  const card = document.getElementById("owner-card");
  card.hidden = !devices.length;
  const root = document.getElementById("owner");
  const ids = devices.map((d) => d.id).join(",");
  if (ids !== OWNER.shown) {
    OWNER.shown = ids;
    root.innerHTML = devices.map((d) => `<div class="dev" data-owner="${WW.esc(d.id)}" data-role="${WW.esc(d.role)}">` +
      (d.role === "ev_charger" ? chargerHtml(d) : d.role === "battery" ? batteryHtml(d) : heaterHtml(d)) + "</div>").join("");
    devices.forEach((d) => ownerFill(root.querySelector(`[data-owner="${CSS.escape(d.id)}"]`), d));
  }
  for (const d of devices) {
    const el = root.querySelector(`[data-owner="${CSS.escape(d.id)}"]`);
    el.querySelectorAll("[data-set=mode]").forEach((b) => b.setAttribute("aria-pressed", String(b.dataset.value === d.mode)));
    const reason = el.querySelector("[data-field=reason]");
    if (reason) reason.textContent = WW.reason(d.why || d.reason, WW.strings);  // the page's language
    if (reason && d.override) reason.title = WW.tr("owner.until", "until {time}", { time: hhmm(d.override.until) });
    const plan = el.querySelector("[data-field=plan]");
    if (plan) plan.innerHTML = planText(d);
    const session = el.querySelector("[data-field=session]");
    if (session) session.innerHTML = sessionText(d.session);
  }
}

function formSettings(form) {
  const out = {};
  for (const i of form.querySelectorAll("input, select")) {
    if (i.value === "" || i.name === "when") continue;
    out[i.name] = i.type === "number" || i.name === "phases" ? Number(i.value) : i.value;
  }
  return out;
}

document.addEventListener("click", (e) => {
  const b = e.target.closest("#owner [data-set], #owner [data-clear]");
  if (!b) return;
  const device = b.closest("[data-owner]").dataset.owner;
  if (b.dataset.set) ownerPut(device, { [b.dataset.set]: b.dataset.value });
  else if (b.dataset.clear === "plan") ownerPut(device, { plan: null });
  else ownerPut(device, { cancel: true });
});

document.addEventListener("submit", async (e) => {
  const form = e.target.closest("#owner form");
  if (!form) return;
  e.preventDefault();
  const device = form.closest("[data-owner]").dataset.owner;
  const s = formSettings(form);
  if (form.dataset.form === "plan") {
    const when = form.querySelector("[name=when]").value;
    const plan = { departure: s.departure };
    if (s.car) plan.car = s.car;
    if (s.energy_kwh) plan.energy_kwh = s.energy_kwh;
    else { plan.target_soc = s.target_soc; plan.battery_kwh = s.battery_kwh; }
    if (when === "today" || when === "tomorrow") plan.day = when;
    else plan.days = when === "weekdays" ? ["mon", "tue", "wed", "thu", "fri"] : ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
    await ownerPut(device, { plan });
  } else {
    const ok = await ownerPut(device, s);
    if (ok && form.dataset.form !== "boost" && form.dataset.form !== "off") OWNER.shown = "";
  }
});

async function ownerLoop() {
  await WW.ready;  // the labels in the page's language from the first render on
  try { ownerRender(await ownerFetch()); } catch (e) { /* the live page shows the connection state */ }
  setTimeout(ownerLoop, 2000);
}
ownerLoop();
