// The owner's controls from the portal (issue 16, portal/owner_commands.py): the edge's current state
// (GET .../owner, asked over the edge's own channel) and, for the owner or an installer grantee, what
// the edge page offers: the charge mode, a departure plan (energy, or SoC where the car reports it;
// today, tomorrow or on weekdays), the battery mode and reserve, boost / off for heat pump and rod
// (POST .../owner/<device>). A viewer sees the state only. The control's decision is shown in the
// page's language (WW.reason over reason.* of the catalogue). The card asks again every 12 s while
// the page is visible and redraws only the state, never the forms being filled in. While the edge is
// offline the portal refuses (409): the card says nothing was sent, and since when the edge is gone.
"use strict";
const OWNER_EV = ["off", "pv", "minpv", "now"];
const OWNER_BAT = ["self_consumption", "hold", "charge", "planner"];
const OWNER_DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
const OWNER_REFRESH_MS = 12000;

WWP.widget("owner", {
  render(el, ctx) {
    if (el.dataset.started) return !el.closest(".widget").hidden;
    el.dataset.started = "1";
    el.addEventListener("click", (ev) => ownerClick(ev, el, ctx));
    el.addEventListener("submit", (ev) => ownerSubmit(ev, el, ctx));
    el.innerHTML = `<p class="muted" data-testid="owner-asking">${WW.esc(ctx.t("owner.asking"))}</p>`;
    ownerLoad(el, ctx).finally(() => ownerTick(el, ctx));
    return true;
  },
});

function ownerTick(el, ctx) {  // by itself while the page is on screen; stops when the card is gone
  setTimeout(async () => {
    if (!el.isConnected) return;
    if (document.visibilityState === "visible" && !el.dataset.busy) {
      try { await ownerLoad(el, ctx); } catch (e) { /* the next round asks again */ }
    }
    ownerTick(el, ctx);
  }, OWNER_REFRESH_MS);
}

const ownerDay = (d) => new Intl.DateTimeFormat(BOOT.lang, { weekday: "short" })
  .format(new Date(Date.UTC(2024, 0, 1 + OWNER_DAYS.indexOf(d))));  // 2024-01-01 was a Monday

async function ownerLoad(el, ctx, note) {
  const r = await ctx.api("GET", `${ctx.base}/owner`);
  if (r.status === 409 || !r.ok || !r.data || r.data.state !== "done") {
    el.dataset.shape = "";
    el.innerHTML = r.status === 409 ? ownerOffline(ctx, r.data)
      : ownerMsg(ctx.t("owner.no_answer"), r.data && r.data.result, "noanswer");
    return;
  }
  const devices = (r.data.result || {}).devices || [];
  const may = r.data.may_control;
  const shape = `${may}|` + devices.map((d) => `${d.id}:${d.role}:${d.car_soc != null}:${d.planner}`).join(",");
  if (el.dataset.shape !== shape) {  // first answer, or other devices: draw the whole card
    el.dataset.shape = shape;
    el.innerHTML = `<p class="owner-note" role="status" data-testid="owner-note"></p>` +
      (devices.length ? devices.map((d) => ownerDevice(ctx, d, may)).join("")
        : `<p class="muted">${WW.esc(ctx.t("owner.none"))}</p>`) +
      (may ? "" : `<p class="muted small" data-testid="owner-viewer">${WW.esc(ctx.t("owner.viewer"))}</p>`) +
      `<p class="err" role="alert" data-testid="owner-err"></p>`;
    devices.forEach((d) => ownerFill(el.querySelector(`[data-owner="${CSS.escape(d.id)}"]`), d));
  }
  for (const d of devices) {  // the state only: what changed is replaced, the forms stay as typed
    const live = el.querySelector(`[data-owner="${CSS.escape(d.id)}"] [data-live]`);
    const html = ownerLive(ctx, d, may);
    if (live && live.dataset.html !== html) { live.innerHTML = html; live.dataset.html = html; }
  }
  if (note !== undefined) el.querySelector("[data-testid=owner-note]").textContent = note;
}

function ownerMsg(text, data, id) {
  const detail = data && data.code ? WWP.problems({ data }) : data && (data.detail || data.error);  // in the page's language
  return `<p class="err" role="alert" data-testid="owner-${id}">${WW.esc(text)}</p>` +
    (detail ? `<p class="muted small">${WW.esc(typeof detail === "string" ? detail : JSON.stringify(detail))}</p>` : "");
}

function ownerOffline(ctx, data) {  // the headline says it all; the server's sentence would repeat it
  const since = data && data.code === "owner.offline_since" && Date.parse((data.vars || {}).since);
  const hint = since ? ctx.t("owner.offline_hint_since", { since: WWP.fmtTime(since, true) }) : ctx.t("owner.offline_hint");
  return `<p class="err" role="alert" data-testid="owner-offline">${WW.esc(ctx.t("owner.offline"))}</p>` +
    `<p class="muted small" data-testid="owner-offline-hint">${WW.esc(hint)}</p>`;
}

function ownerSeg(ctx, key, values, current, may) {
  if (!may) return `<p class="owner-mode"><b data-testid="owner-${key}">${WW.esc(ctx.t(`owner.${key}.${current}`))}</b></p>`;
  return `<div class="seg" role="group">` + values.map((v) =>
    `<button type="button" data-set="${key}" data-value="${v}" data-testid="owner-${key}-${v}" aria-pressed="${current === v}">` +
    `${WW.esc(ctx.t(`owner.${key}.${v}`))}</button>`).join("") + "</div>";
}

function ownerPlanText(ctx, d) {
  const plan = d.settings && d.settings.plan;
  const target = plan ? (plan.energy_kwh ? WWP.kwh(plan.energy_kwh * 1000, 0) : WW.num(plan.target_soc, 0, "%")) : "";
  const days = plan && plan.days ? " · " + plan.days.map(ownerDay).join(" ") : "";
  let html = `<p class="muted small" data-testid="owner-departure">${WW.esc(ctx.t("owner.departure"))}: ` +
    `${WW.esc(d.departure ? WWP.fmtTime(Date.parse(d.departure), true) : "–")}` +
    (target ? ` · ${WW.esc(ctx.t("owner.target"))} ${WW.esc(target)}` : "") + WW.esc(days) +
    (plan && plan.car ? ` · ${WW.esc(plan.car)}` : "") + "</p>";
  if (d.car_soc !== null && d.car_soc !== undefined) html += `<p class="small">${WW.esc(ctx.t("owner.car_soc"))}: ${WW.num(d.car_soc, 0, "%")}</p>`;
  if (d.plan) {
    html += `<p class="small" data-testid="owner-planned">${WW.esc(ctx.t("owner.planned"))}: ` +
      `${WW.esc(WWP.kwh(d.plan.energy_wh, 1))}, ${WW.esc(WWP.money(d.plan.cost_eur, "EUR"))}, ` +
      `PV ${WW.esc(WWP.pct(d.plan.pv_share_pct / 100))}</p>`;
  }
  const s = d.session;
  if (s) {
    html += `<p class="small" data-testid="owner-session">${WW.esc(ctx.t("owner.session"))}: ${WW.esc(WWP.kwh(s.energy_wh, 2))}` +
      `${s.pv_share_pct !== null ? ", PV " + WW.esc(WWP.pct(s.pv_share_pct / 100)) : ""}, ${WW.esc(WWP.money(s.cost_eur, "EUR"))}</p>`;
  }
  return html;
}

function ownerLive(ctx, d, may) {  // what the edge says now: modes, the decision and why, plan, reserve
  const why = d.why || d.reason ? `<p class="why" data-testid="owner-reason">${WW.esc(WW.reason(d.why || d.reason, BOOT.strings))}</p>` : "";
  if (d.role === "ev_charger") return ownerSeg(ctx, "mode", OWNER_EV, d.mode, may) + why + ownerPlanText(ctx, d);
  if (d.role === "battery") {
    return ownerSeg(ctx, "battery", OWNER_BAT.filter((m) => m !== "planner" || d.planner), d.mode, may) + why +
      `<p class="muted small" data-testid="owner-reserve">${WW.esc(ctx.t("owner.reserve"))}: ${WW.num(d.reserve_soc, 0, "%")}</p>`;
  }
  return why;
}

function ownerForms(ctx, d) {
  const t = (k) => WW.esc(ctx.t(k));
  const num = (name, min, max, step, extra = "") =>
    `<input name="${name}" type="number" min="${min}" max="${max}" step="${step}" data-testid="owner-${name}"${extra}>`;
  if (d.role === "ev_charger") {
    const soc = d.car_soc !== null && d.car_soc !== undefined;
    return `<form data-form="plan" class="owner-plan">
      <label>${t("owner.energy")}${num("energy_kwh", 1, 250, 1)}</label>
      ${soc ? `<label>${t("owner.soc")}${num("target_soc", 1, 100, 1)}</label><label>${t("owner.car_kwh")}${num("battery_kwh", 1, 250, 1)}</label>` : ""}
      <label>${t("owner.car")}<input name="car" maxlength="40" data-testid="owner-car"></label>
      <label>${t("owner.by")}<input name="departure" type="time" required data-testid="owner-departure-time"></label>
      <label>${t("owner.day")}<select name="day" data-testid="owner-day"><option value="today">${t("owner.today")}</option>
        <option value="tomorrow" selected>${t("owner.tomorrow")}</option><option value="days">${t("owner.days")}</option></select></label>
      <fieldset class="owner-days" data-testid="owner-days">${OWNER_DAYS.map((w) =>
        `<label><input type="checkbox" name="days" value="${w}" data-testid="owner-day-${w}">${WW.esc(ownerDay(w))}</label>`).join("")}</fieldset>
      <button type="submit" class="primary" data-testid="owner-plan-set">${t("owner.plan_set")}</button>
      <button type="button" data-set="plan" data-value="">${t("owner.plan_end")}</button>
    </form>`;
  }
  if (d.role === "battery") {
    return `<form data-form="reserve" class="owner-plan"><label>${t("owner.reserve_soc")}${num("reserve_soc", 0, 100, 5)}</label>` +
      `<button type="submit" data-testid="owner-reserve-set">${t("owner.set")}</button></form>`;
  }
  return `<form data-form="boost" class="owner-plan"><label>${t("owner.boost_minutes")}${num("boost_minutes", 5, 720, 5, ' value="30"')}</label>` +
    `<button type="submit" data-testid="owner-boost">${t("owner.boost")}</button></form>` +
    `<form data-form="off" class="owner-plan"><label>${t("owner.off_hours")}${num("off_hours", 0.5, 48, 0.5, ' value="2"')}</label>` +
    `<button type="submit" data-testid="owner-off">${t("owner.off")}</button>` +
    `<button type="button" data-set="cancel" data-value="" data-testid="owner-end">${t("owner.end")}</button></form>`;
}

function ownerDevice(ctx, d, may) {
  // the owner's name for the device, else its role ("Heating rod"), never the raw id
  const what = WWP.names[d.id] ? ` <span class="muted small">${WW.esc(ctx.t("role." + d.role))}</span>` : "";
  return `<div class="owner-device" data-owner="${WW.esc(d.id)}" data-role="${WW.esc(d.role)}"><h3>${WW.esc(WWP.label(d.id))}${what}</h3>` +
    `<div data-live></div>${may ? ownerForms(ctx, d) : ""}</div>`;
}

function ownerFill(box, d) {  // the forms start from the settings in force
  const plan = d.settings && d.settings.plan;
  const set = (name, v) => { const i = box.querySelector(`[name="${name}"]`); if (i && v !== undefined && v !== null) i.value = v; };
  set("reserve_soc", d.reserve_soc);
  if (!plan) return;
  set("energy_kwh", plan.energy_kwh); set("target_soc", plan.target_soc); set("battery_kwh", plan.battery_kwh);
  set("departure", plan.departure); set("car", plan.car);
  if (plan.days) {
    set("day", "days");
    box.querySelectorAll("[name=days]").forEach((c) => { c.checked = plan.days.includes(c.value); });
  }
}

async function ownerSend(el, ctx, device, settings) {
  el.dataset.busy = "1";  // no refresh in between: the answer redraws
  try {
    const r = await ctx.api("POST", `${ctx.base}/owner/${encodeURIComponent(device)}`, settings);
    const err = el.querySelector("[data-testid=owner-err]");
    if (r.status === 409) { el.dataset.shape = ""; el.innerHTML = ownerOffline(ctx, r.data); return; }
    if (!r.ok || r.data.state !== "done") {
      const why = r.data && (r.data.code ? WWP.problems(r) : r.data.detail || (r.data.result && r.data.result.error) || r.data.state);
      if (err) err.textContent = `${ctx.t("owner.failed")}: ${typeof why === "string" ? why : JSON.stringify(why)}`;
      return;
    }
    if (err) err.textContent = "";
    const stamp = r.data.done_at ? WWP.fmtTime(Date.parse(r.data.done_at), true) : "";
    await ownerLoad(el, ctx, `${ctx.t("owner.confirmed")} ${stamp}`.trim());
  } finally {
    delete el.dataset.busy;
  }
}

function ownerClick(ev, el, ctx) {
  const b = ev.target.closest("button[data-set]");
  if (!b) return;
  const device = b.closest("[data-owner]").dataset.owner;
  const key = b.dataset.set;
  const settings = key === "cancel" ? { cancel: true } : key === "plan" ? { plan: null }
    : { mode: b.dataset.value };  // "mode" for a charger, "battery" for a battery: both its mode
  b.disabled = true;
  ownerSend(el, ctx, device, settings).finally(() => { b.disabled = false; });
}

function ownerSubmit(ev, el, ctx) {
  const form = ev.target.closest("form[data-form]");
  if (!form) return;
  ev.preventDefault();
  const device = form.closest("[data-owner]").dataset.owner;
  const f = new FormData(form);
  const n = (k) => (f.get(k) === null || f.get(k) === "" ? null : Number(f.get(k)));
  const err = el.querySelector("[data-testid=owner-err]");
  if (form.dataset.form === "plan") {
    const plan = { departure: f.get("departure") };
    if (f.get("car")) plan.car = f.get("car");
    if (n("energy_kwh")) plan.energy_kwh = n("energy_kwh");
    else if (n("target_soc") && n("battery_kwh")) { plan.target_soc = n("target_soc"); plan.battery_kwh = n("battery_kwh"); }
    else { err.textContent = ctx.t("owner.need_target"); return; }
    if (f.get("day") === "days") {
      plan.days = f.getAll("days");
      if (!plan.days.length) { err.textContent = ctx.t("owner.need_day"); return; }
    } else plan.day = f.get("day");
    ownerSend(el, ctx, device, { plan });
  } else {
    const key = { reserve: "reserve_soc", boost: "boost_minutes", off: "off_hours" }[form.dataset.form];
    ownerSend(el, ctx, device, { [key]: n(key) });
  }
}
