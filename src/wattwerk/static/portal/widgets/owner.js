// The owner's controls from the portal (issue 16, portal/owner_commands.py): the edge's current state
// (GET .../owner, asked over the edge's own channel) and, for the owner or an installer grantee, the
// charge mode, departure plan and battery mode (POST .../owner/<device>). A viewer sees the state only.
// While the edge is offline the portal refuses (409): "nothing was sent" is shown as it is.
"use strict";
const OWNER_EV = ["off", "pv", "minpv", "now"];
const OWNER_BAT = ["self_consumption", "hold", "charge", "planner"];

WWP.widget("owner", {
  render(el, ctx) {
    if (el.dataset.started) return !el.closest(".widget").hidden;
    el.dataset.started = "1";
    el.addEventListener("click", (ev) => ownerClick(ev, el, ctx));
    el.addEventListener("submit", (ev) => ownerPlan(ev, el, ctx));
    el.innerHTML = `<p class="muted" data-testid="owner-asking">${WW.esc(ctx.t("owner.asking"))}</p>`;
    ownerLoad(el, ctx);
    return true;
  },
});

async function ownerLoad(el, ctx, note) {
  const r = await ctx.api("GET", `${ctx.base}/owner`);
  if (r.status === 409) { el.innerHTML = ownerMsg(ctx.t("owner.offline"), r.data, "offline"); return; }
  if (!r.ok || !r.data || r.data.state !== "done") {
    el.innerHTML = ownerMsg(ctx.t("owner.no_answer"), r.data && r.data.result, "noanswer");
    return;
  }
  const doc = r.data.result || { devices: [] };
  const may = r.data.may_control;
  el.innerHTML = (note ? `<p class="owner-note" role="status" data-testid="owner-note">${WW.esc(note)}</p>` : "") +
    (doc.devices.length ? doc.devices.map((d) => ownerDevice(ctx, d, may)).join("")
      : `<p class="muted">${WW.esc(ctx.t("owner.none"))}</p>`) +
    (may ? "" : `<p class="muted small" data-testid="owner-viewer">${WW.esc(ctx.t("owner.viewer"))}</p>`) +
    `<p class="err" role="alert" data-testid="owner-err"></p>`;
}

function ownerMsg(text, data, id) {
  const detail = data && (data.detail || data.error);
  return `<p class="err" role="alert" data-testid="owner-${id}">${WW.esc(text)}</p>` +
    (detail ? `<p class="muted small">${WW.esc(typeof detail === "string" ? detail : JSON.stringify(detail))}</p>` : "");
}

function ownerSeg(ctx, key, values, current, may) {
  if (!may) return `<p class="owner-mode"><b data-testid="owner-${key}">${WW.esc(ctx.t(`owner.${key}.${current}`))}</b></p>`;
  return `<div class="seg" role="group">` + values.map((v) =>
    `<button type="button" data-set="${key}" data-value="${v}" data-testid="owner-${key}-${v}" aria-pressed="${current === v}">` +
    `${WW.esc(ctx.t(`owner.${key}.${v}`))}</button>`).join("") + "</div>";
}

function ownerDevice(ctx, d, may) {
  const head = `<h3>${WW.esc(d.id)}</h3>`;
  const why = d.reason ? `<p class="why" data-testid="owner-reason">${WW.esc(d.reason)}</p>` : "";
  let body = "";
  if (d.role === "ev_charger") {
    const plan = d.settings && d.settings.plan;
    body = ownerSeg(ctx, "mode", OWNER_EV, d.mode, may) + why +
      `<p class="muted small">${WW.esc(ctx.t("owner.departure"))}: ` +
      `${WW.esc(d.departure ? WWP.fmtTime(Date.parse(d.departure), true) : "–")}` +
      (plan && plan.energy_kwh ? ` · ${WW.esc(WWP.kwh(plan.energy_kwh * 1000, 0))}` : "") + "</p>" +
      (d.plan ? `<p class="small" data-testid="owner-planned">${WW.esc(ctx.t("owner.planned"))}: ` +
        `${WW.esc(WWP.kwh(d.plan.energy_wh, 1))}, ${WW.esc(WWP.money(d.plan.cost_eur, "EUR"))}, ` +
        `PV ${WW.esc(WWP.pct(d.plan.pv_share_pct / 100))}</p>` : "") +
      (may ? `<form data-plan="${WW.esc(d.id)}" class="owner-plan">
        <label>${WW.esc(ctx.t("owner.energy"))}<input name="energy_kwh" type="number" min="1" max="250" step="1" required></label>
        <label>${WW.esc(ctx.t("owner.by"))}<input name="departure" type="time" required></label>
        <label>${WW.esc(ctx.t("owner.day"))}<select name="day"><option value="today">${WW.esc(ctx.t("owner.today"))}</option>
          <option value="tomorrow" selected>${WW.esc(ctx.t("owner.tomorrow"))}</option></select></label>
        <button type="submit" class="primary">${WW.esc(ctx.t("owner.plan_set"))}</button>
        ${plan ? `<button type="button" data-set="plan" data-value="">${WW.esc(ctx.t("owner.plan_end"))}</button>` : ""}
      </form>` : "");
  } else if (d.role === "battery") {
    body = ownerSeg(ctx, "battery", OWNER_BAT.filter((m) => m !== "planner" || d.planner), d.mode, may) + why +
      `<p class="muted small">${WW.esc(ctx.t("owner.reserve"))}: ${WW.num(d.reserve_soc, 0, "%")}</p>`;
  } else {
    body = why;
  }
  return `<div class="owner-device" data-owner="${WW.esc(d.id)}" data-role="${WW.esc(d.role)}">${head}${body}</div>`;
}

async function ownerSend(el, ctx, device, settings) {
  const r = await ctx.api("POST", `${ctx.base}/owner/${encodeURIComponent(device)}`, settings);
  const err = el.querySelector("[data-testid=owner-err]");
  if (r.status === 409) { el.innerHTML = ownerMsg(ctx.t("owner.offline"), r.data, "offline"); return; }
  if (!r.ok || r.data.state !== "done") {
    const why = r.data && (r.data.detail || (r.data.result && r.data.result.error) || r.data.state);
    if (err) err.textContent = `${ctx.t("owner.failed")}: ${typeof why === "string" ? why : JSON.stringify(why)}`;
    return;
  }
  const stamp = r.data.done_at ? WWP.fmtTime(Date.parse(r.data.done_at), true) : "";
  await ownerLoad(el, ctx, `${ctx.t("owner.confirmed")} ${stamp}`.trim());
}

function ownerClick(ev, el, ctx) {
  const b = ev.target.closest("button[data-set]");
  if (!b) return;
  const device = b.closest("[data-owner]").dataset.owner;
  const key = b.dataset.set === "battery" ? "mode" : b.dataset.set;
  b.disabled = true;
  ownerSend(el, ctx, device, { [key]: b.dataset.value === "" ? null : b.dataset.value });
}

function ownerPlan(ev, el, ctx) {
  const form = ev.target.closest("form[data-plan]");
  if (!form) return;
  ev.preventDefault();
  const f = new FormData(form);
  ownerSend(el, ctx, form.dataset.plan,
    { plan: { energy_kwh: Number(f.get("energy_kwh")), departure: f.get("departure"), day: f.get("day") } });
}
