// The range against the period before it (the day before, the week before, ...).
"use strict";
WWP.widget("compare", {
  render(el, ctx) {
    if (!ctx.series || !ctx.previous) return true;
    const a = WWP.energyFlows(ctx.series), b = WWP.energyFlows(ctx.previous);
    const rows = [["kpi.produced", a.pv, b.pv], ["kpi.consumed", a.consumed, b.consumed],
                  ["kpi.imported", a.imp, b.imp], ["kpi.exported", a.exp, b.exp]];
    const change = (x, y) => (y > 0 ? ((x - y) / y) : null);
    const pct = new Intl.NumberFormat(WWP.locale, { maximumFractionDigits: 0, signDisplay: "exceptZero" });
    const fmt = (r) => r === null ? "–" : WW.unsigned0(pct, r * 100) + " %";
    const before = (y) => (b.any ? WWP.kwh(y) : "–");  // no data then: nothing to compare, not 0 kWh
    el.innerHTML = `<div class="scroll"><table class="devices"><thead><tr><th></th><th class="num">${WW.esc(ctx.t("compare.now"))}</th>
      <th class="num">${WW.esc(ctx.t("compare.before"))}</th><th class="num">${WW.esc(ctx.t("compare.change"))}</th></tr></thead>
      <tbody>${rows.map(([k, x, y]) => `<tr><td>${WW.esc(ctx.t(k))}</td><td class="num">${WW.esc(WWP.kwh(x))}</td>
      <td class="num">${WW.esc(before(y))}</td><td class="num">${WW.esc(fmt(change(x, y)))}</td></tr>`).join("")}</tbody></table></div>`;
    return true;
  },
});
