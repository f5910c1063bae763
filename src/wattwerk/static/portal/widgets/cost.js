// Cost of the range: import, feed-in credit and net as the portal prices them (GET .../cost,
// portal/cost_api.py): each quarter hour's grid energy at the price of the plan slot the edge
// planned with (a dynamic tariff: a kWh at 02:00 costs other than one at 19:00), energy no stored
// slot covers at the edge's mean tariff, else the owner's. The line under the figures says which.
"use strict";
WWP.widget("cost", {
  render(el, ctx) {
    if (!ctx.range) return false;
    const range = ctx.range;
    if (el._range === range) return true;  // this range is asked for already
    el._range = range;
    // the range's local days in the site's zone, as the series API takes them
    const day = (ms) => new Date(ms).toLocaleDateString("sv", { timeZone: (ctx.info && ctx.info.tz) || "UTC" });
    const q = new URLSearchParams({ period: range.kind, date: day(range.from) });
    if (range.kind === "custom") q.set("until", day(range.to - 1));
    const failed = (text) => { el.innerHTML = `<p class="err">${WW.esc(text)}</p>`; };
    ctx.api("GET", `${ctx.base}/cost?${q}`).then((r) => {
      if (el._range !== range) return;  // a newer range is on its way
      if (r.ok) el.innerHTML = costCard(ctx, r.data); else failed(WWP.problems(r));
    }).catch(() => { if (el._range === range) failed(ctx.t("error.generic")); });
    return true;
  },
});

function costCard(ctx, c) {
  const m = (v) => WW.esc(WWP.money(v, c.currency));
  // a price per kWh as given (0,3215 €), at least the currency's decimals
  const price = (v) => WWP.money(v, c.currency, Math.min(4, Math.max(2, (String(v).split(".")[1] || "").length)));
  const f = c.fallback;
  const note = c.per_slot_share >= 0.995
    ? (c.tariff_name ? ctx.t("cost.per_slot", { name: c.tariff_name }) : ctx.t("cost.per_slot_plan"))
    : ctx.t("cost.partly", { share: WWP.pct(c.per_slot_share), import: price(f.import_per_kwh),
                             export: price(f.export_per_kwh), source: ctx.t("cost.source." + f.source) });
  return `<div class="kv"><span>${WW.esc(ctx.t("cost.import"))}</span><b>${m(c.import_eur)}</b></div>
    <div class="kv"><span>${WW.esc(ctx.t("cost.export"))}</span><b class="credit">${m(-c.export_eur)}</b></div>
    <div class="kv big"><span>${WW.esc(ctx.t("cost.net"))}</span><b class="net">${m(c.net_eur)}</b></div>
    <p class="muted small cost-note" data-share="${WW.esc(String(c.per_slot_share))}">${WW.esc(note)}</p>`;
}
