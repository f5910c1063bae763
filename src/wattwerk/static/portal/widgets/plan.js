// The edge's plan, uploaded ahead of time (POST /api/v1/plans, portal/plans.py): the PV forecast
// the planner used against the PV actually produced, what each device will do per slot, the
// expected cost, the PV yield forecast for the coming days, and the edge's PV under-performance
// alert when it is raised. Hidden until the edge sent a plan.
"use strict";
WWP.widget("plan", {
  hiddenUntilData: true,
  render(el, ctx) {
    const from = ctx.range.from, now = Date.now();
    const to = ctx.range.to > now ? Math.max(ctx.range.to, now + 2 * 86400000) : ctx.range.to;
    const key = `${from}:${to}:${ctx.series ? ctx.series.from : ""}`;
    if (el.dataset.key === key) return !el.closest(".widget").hidden;
    el.dataset.key = key;
    const q = new URLSearchParams({ from_ms: String(from), to_ms: String(to) });
    ctx.api("GET", `${ctx.base}/plan?${q}`).then((r) => {
      if (el.dataset.key !== key) return;  // a newer range is on its way
      const card = el.closest(".widget");
      const doc = r.ok ? r.data : null;
      if (!doc || !doc.plan) { card.hidden = true; return; }
      card.hidden = false;
      el.innerHTML = "";
      el.appendChild(summary(ctx, doc));
      const alert = doc.plan.pv_alert;
      if (alert && alert.active) el.appendChild(pvAlert(ctx, alert));
      if (doc.slots.length) el.appendChild(chart(ctx, doc, from, Math.min(to, doc.plan.end_ms)));
      el.appendChild(days(ctx, doc));
    });
    return false;  // hidden until the answer shows a plan (no empty card, no card that vanishes)
  },
});

function summary(ctx, doc) {
  const p = doc.plan;
  const ahead = doc.slots.filter((s) => s.ts_ms + s.slot_minutes * 60000 > doc.now_ms);
  const cost = ahead.reduce((a, s) => a + s.cost_eur, 0);
  // the edge prices slots after the published day-ahead prices by a forecast: the range is the
  // published prices', and the summary says from when the plan counts on forecast ones
  const until = p.tariff && typeof p.tariff.published_until_ms === "number" ? p.tariff.published_until_ms : Infinity;
  const published = ahead.filter((s) => s.ts_ms < until);
  const prices = (published.length ? published : ahead).map((s) => s.price);
  const box = document.createElement("p");
  box.className = "plan-summary";
  const parts = [`${ctx.t("plan.made")} ${WWP.fmtTime(p.made_at_ms, true)}`];
  if (ahead.length) {
    parts.push(`${ctx.t("plan.cost")} ${WWP.money(cost, p.currency)}`);
    if (p.co2 && typeof p.co2.kg === "number") parts.push(co2Part(p));
    parts.push(`${ctx.t("plan.price")} ${WWP.money(Math.min(...prices), p.currency)} – ` +
               `${WWP.money(Math.max(...prices), p.currency)} /kWh`);
    if (published.length < ahead.length) parts.push(ctx.t("plan.forecast_from", { time: WWP.fmtTime(until, true) }));
  }
  box.textContent = parts.join(" · ");
  return box;
}

// the plan's expected CO₂ (the edge follows the grid's CO₂ signal, strategy.co2) and what following
// it changed against planning on price alone (kg saved, money more), over the whole plan
function co2Part(p) {
  const c = p.co2;
  let text = `${c.kg.toFixed(1)} kg CO₂`;
  if (c.effect) {
    text += ` (−${c.effect.co2_kg_saved.toFixed(1)} kg CO₂, +${WWP.money(c.effect.cost_eur_more, p.currency)})`;
  }
  return text;
}

// forecast/monitor.py's verdict, made on the edge: measured yield against the yield expected from
// the weather service's analysed irradiance of the same days (a fault, shading, soiling).
function pvAlert(ctx, alert) {
  const box = document.createElement("p");
  box.className = "pv-alert err";
  box.setAttribute("role", "alert");
  const share = alert.ratio === null ? "" : ` (${WWP.pct(alert.ratio)})`;
  // the figures in the page's language; the edge's own English sentence only when it sent none
  const detail = alert.expected_wh > 0 ? ctx.t("plan.pv_alert_detail",
    { measured: WWP.kwh(alert.measured_wh, 1), expected: WWP.kwh(alert.expected_wh, 1) }) : alert.message;
  box.innerHTML = `<b>${WW.esc(ctx.t("plan.pv_alert"))}${WW.esc(share)}</b>: ${WW.esc(detail)}`;
  return box;
}

function chart(ctx, doc, from, to) {
  const slots = doc.slots;
  const times = slots.map((s) => s.ts_ms);
  const actual = new Array(times.length).fill(null);
  const s = ctx.series;
  if (s) {  // actual PV: each inverter's mean over a slot, summed over the inverters
    const step = slots[0].slot_minutes * 60000, first = times[0];
    for (const [ch, ser] of Object.entries(s.by)) {
      if (!ch.endsWith(".power") || WWP.role(ch) !== "pv") continue;
      const sum = new Array(times.length).fill(0), n = new Array(times.length).fill(0);
      ser.t.forEach((t, i) => {
        const k = Math.floor((t - first) / step);
        if (k >= 0 && k < times.length && times[k] === first + k * step) { sum[k] += ser.v[i]; n[k] += 1; }
      });
      sum.forEach((v, k) => { if (n[k]) actual[k] = (actual[k] || 0) + v / n[k]; });
    }
  }
  const devices = [...new Set(slots.flatMap((x) => Object.keys(x.devices || {})))]
    .filter((d) => slots.some((x) => x.devices[d] && x.devices[d].power_w !== undefined));
  const stepped = uPlot.paths.stepped({ align: 1 });
  const series = [{},
    { label: ctx.t("forecast.forecast"), stroke: WWP.colors.axis, dash: [6, 4], width: 1.5, paths: stepped, value: (u, v) => WW.power(v) },
    { label: ctx.t("forecast.actual"), stroke: WWP.colors.pv, width: 1.5, value: (u, v) => WW.power(v) },
    ...devices.map((d) => ({ label: WWP.label(d), stroke: WWP.color(d), width: 1.5,
                             paths: stepped, value: (u, v) => WW.power(v) }))];
  const data = [times.map((t) => t / 1000), slots.map((x) => x.pv_w), actual,
                ...devices.map((d) => slots.map((x) => (x.devices[d] ? x.devices[d].power_w : null)))];
  const box = document.createElement("div");
  box.className = "chart";
  requestAnimationFrame(() => WWP.chart(box, {
    scales: { x: { time: true, range: [from / 1000, to / 1000] } },
    axes: [{}, { values: (u, v) => v.map((w) => WW.power(w)), size: 70 }],
    series,
  }, data));
  return box;
}

function days(ctx, doc) {
  const today = new Date(doc.now_ms).toLocaleDateString("sv");  // the viewer's local day, YYYY-MM-DD
  const list = document.createElement("ul");
  list.className = "plain pv-days";
  const head = document.createElement("li");
  head.className = "pv-days-title";
  head.textContent = ctx.t("plan.days");
  list.appendChild(head);
  const fmt = new Intl.DateTimeFormat(WWP.locale, { weekday: "short", day: "numeric", month: "short", timeZone: "UTC" });
  for (const d of doc.pv_days.filter((x) => x.day >= today)) {
    const li = document.createElement("li");
    li.className = "pv-day";
    li.dataset.day = d.day;
    li.innerHTML = `<span>${WW.esc(fmt.format(new Date(d.day + "T00:00:00Z")))}</span> <b>${WW.esc(WWP.kwh(d.wh, 1))}</b>`;
    list.appendChild(li);
  }
  if (list.children.length === 1) list.hidden = true;
  return list;
}
