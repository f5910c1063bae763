// Self-consumption (share of PV used on site) and autarky (share of consumption not from the grid).
"use strict";
WWP.widget("selfuse", {
  render(el, ctx) {
    if (!ctx.series) return true;
    const e = WWP.energyFlows(ctx.series);
    const ring = (key, x, color) => `<div class="ring" data-kpi="${key}">
      <svg viewBox="0 0 36 36" aria-hidden="true"><circle cx="18" cy="18" r="15.9" class="track"/>
      ${x ? `<circle cx="18" cy="18" r="15.9" class="val" stroke="${color}" stroke-dasharray="${(x * 100).toFixed(1)} 100"/>` : ""}</svg>
      <b>${WW.esc(WWP.pct(x))}</b><span>${WW.esc(ctx.t("kpi." + key))}</span></div>`;
    el.innerHTML = `<div class="rings">${ring("self_consumption", e.selfConsumption, WWP.colors.pv)}${ring("autarky", e.autarky, WWP.colors.bat)}</div>`;
    return true;
  },
});
