// Energy per flow over the range: PV, grid import/export, battery charge/discharge, each load.
"use strict";
WWP.widget("energy", {
  render(el, ctx) {
    if (!ctx.series) return true;
    const e = WWP.energyFlows(ctx.series);
    if (!e.any) { el.innerHTML = `<p class="muted empty">${WW.esc(ctx.t("dash.nodata"))}</p>`; return true; }
    const rows = [
      ["pv", ctx.t("kpi.produced"), e.pv],
      ["grid", ctx.t("kpi.imported"), e.imp],
      ["grid", ctx.t("kpi.exported"), e.exp],
    ];
    if (e.dis || e.chg) {
      rows.push(["bat", ctx.t("flow.bat") + " – " + ctx.t("dir.discharge"), e.dis]);
      rows.push(["bat", ctx.t("flow.bat") + " – " + ctx.t("dir.charge"), e.chg]);
    }
    for (const [dev, wh] of Object.entries(e.loads)) rows.push([WWP.role(dev + ".power"), dev, wh]);
    if (e.rest) rows.push(["other", ctx.t("flow.other"), e.rest]);  // the loads add up to the total below
    rows.push(["house", ctx.t("kpi.consumed"), e.consumed]);
    const max = Math.max(1, ...rows.map((r) => r[2]));
    el.innerHTML = `<table class="energy">${rows.map(([role, name, wh]) => `<tr>
      <td><i class="swatch" style="background:${WWP.colors[role]}"></i>${WW.esc(name)}</td>
      <td class="bar"><span style="width:${(100 * wh / max).toFixed(1)}%;background:${WWP.colors[role]}"></span></td>
      <td class="num">${WW.esc(WWP.kwh(wh))}</td></tr>`).join("")}</table>`;
    return true;
  },
});
