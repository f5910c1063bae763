// Energy per flow over the range: PV, grid import/export, battery charge/discharge, each load.
"use strict";
WWP.widget("energy", {
  render(el, ctx) {
    if (!ctx.series) return true;
    const e = WWP.energyFlows(ctx.series);
    if (!e.any) { el.innerHTML = `<p class="muted empty">${WW.esc(ctx.t("dash.nodata"))}</p>`; return true; }
    const c = WWP.colors;  // a row's colour is its device's role's, as in every widget
    const rows = [
      [c.pv, ctx.t("kpi.produced"), e.pv, "pv"],
      [c.grid, ctx.t("kpi.imported"), e.imp, "import"],
      [c.grid, ctx.t("kpi.exported"), e.exp, "export"],
    ];
    if (e.dis || e.chg) {
      rows.push([c.bat, ctx.t("flow.bat") + " – " + ctx.t("dir.discharge"), e.dis, "discharge"]);
      rows.push([c.bat, ctx.t("flow.bat") + " – " + ctx.t("dir.charge"), e.chg, "charge"]);
    }
    const loads = Object.entries(e.loads).sort((a, b) => WWP.label(a[0]).localeCompare(WWP.label(b[0]), WWP.locale));
    for (const [dev, wh] of loads) rows.push([WWP.color(dev), WWP.label(dev), wh, "device:" + dev]);
    if (e.rest) rows.push([c.other, ctx.t("flow.other"), e.rest, "rest"]);  // the loads add up to the total below
    rows.push([c.house, ctx.t("kpi.consumed"), e.consumed, "consumed"]);
    const max = Math.max(1, ...rows.map((r) => r[2]));
    el.innerHTML = `<table class="energy">${rows.map(([color, name, wh, key]) => `<tr data-row="${WW.esc(key)}">
      <td><i class="swatch" style="background:${color}"></i>${WW.esc(name)}</td>
      <td class="bar">${wh > 0.5 ? `<span style="width:${(100 * wh / max).toFixed(1)}%;background:${color}"></span>` : ""}</td>
      <td class="num">${WW.esc(WWP.kwh(wh))}</td></tr>`).join("")}</table>`;
    return true;
  },
});
