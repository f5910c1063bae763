// Cost of the range with the site's tariff: import × price − export × feed-in price. The tariff is
// the edge's (sent with its plan: the site file's tariff, its mean prices over the plan) when the
// edge has sent one, else the owner's manual tariff (GET .../tariff, portal/pages.py).
"use strict";
WWP.costOf = (e, tariff) => {
  const imp = e.imp / 1000 * tariff.import_per_kwh;
  const exp = e.exp / 1000 * tariff.export_per_kwh;
  return { imp, exp, net: imp - exp };
};
WWP.widget("cost", {
  render(el, ctx) {
    if (!ctx.series || !ctx.tariff) return false;
    const e = WWP.energyFlows(ctx.series);
    const tariff = ctx.tariff.edge || ctx.tariff;
    const c = WWP.costOf(e, tariff);
    const m = (v) => WW.esc(WWP.money(v, tariff.currency));
    const name = ctx.tariff.edge ? `${WW.esc(ctx.tariff.edge.name)}, ` : "";
    // a price per kWh as given (0,3215 €), at least the currency's decimals
    const price = (v) => WW.esc(WWP.money(v, tariff.currency, Math.min(4, Math.max(2, (String(v).split(".")[1] || "").length))));
    el.innerHTML = `<div class="kv"><span>${WW.esc(ctx.t("cost.import"))}</span><b>${m(c.imp)}</b></div>
      <div class="kv"><span>${WW.esc(ctx.t("cost.export"))}</span><b class="credit">${m(-c.exp)}</b></div>
      <div class="kv big"><span>${WW.esc(ctx.t("cost.net"))}</span><b class="net">${m(c.net)}</b></div>
      <p class="muted small">${WW.esc(ctx.t("cost.tariff"))}: ${name}${price(tariff.import_per_kwh)} / ${price(tariff.export_per_kwh)} kWh</p>`;
    return true;
  },
});
