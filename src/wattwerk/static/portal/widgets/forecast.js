// PV forecast (channel forecast_pv.power, uploaded by the edge) against the PV actually produced.
// Hidden when the site has no forecast.
"use strict";
WWP.widget("forecast", {
  render(el, ctx) {
    const s = ctx.series;
    if (!s || !ctx.names.includes("forecast_pv.power")) return false;
    const fc = s.by["forecast_pv.power"];
    if (!fc || !fc.t.length) return false;
    const pv = Object.keys(s.by).filter((c) => c.endsWith(".power") && WWP.role(c) === "pv");
    const times = [...new Set([...fc.t, ...pv.flatMap((c) => s.by[c].t)])].sort((a, b) => a - b);
    const idx = new Map(times.map((t, i) => [t, i]));
    const actual = new Array(times.length).fill(null);
    for (const c of pv) s.by[c].t.forEach((t, i) => { actual[idx.get(t)] = (actual[idx.get(t)] || 0) + s.by[c].v[i]; });
    const fcol = new Array(times.length).fill(null);
    fc.t.forEach((t, i) => { fcol[idx.get(t)] = fc.v[i]; });
    const box = document.createElement("div");
    box.className = "chart";
    el.innerHTML = "";
    el.appendChild(box);
    WWP.chart(box, {
      scales: { x: { time: true, range: [ctx.range.from / 1000, ctx.range.to / 1000] } },
      axes: [{}, { values: (u, v) => v.map((w) => WW.power(w)), size: 70 }],
      series: [{}, { label: ctx.t("forecast.forecast"), stroke: "#7f8c8d", dash: [6, 4], width: 1.5, value: (u, v) => WW.power(v) },
               { label: ctx.t("forecast.actual"), stroke: WWP.colors.pv, width: 1.5, value: (u, v) => WW.power(v) }],
    }, [times.map((t) => t / 1000), fcol, actual]);
    return true;
  },
});
