// The planner's schedule: plan_<device>.power channels the edge uploaded (the setpoint the planner
// chose for each slot, over the chosen range). Hidden when the edge never uploaded one. The ingest
// refuses readings from the future, so a plan shows as its slots begin.
"use strict";
WWP.widget("schedule", {
  render(el, ctx) {
    const plan = ctx.names.filter((n) => n.startsWith("plan_") && n.endsWith(".power"));
    if (!plan.length) return false;
    if (el.dataset.loading) return true;
    el.dataset.loading = "1";
    const from = ctx.range.from, to = ctx.range.to;
    const q = new URLSearchParams({ channels: plan.join(","), from: new Date(from).toISOString(),
                                    to: new Date(to).toISOString(), resolution: "15m" });
    ctx.api("GET", `${ctx.base}/series?${q}`).then((r) => {
      delete el.dataset.loading;
      if (!r.ok || !r.data.points.length) { el.closest(".widget").hidden = true; return; }
      const by = {};
      for (const p of r.data.points) (by[p[1]] = by[p[1]] || new Map()).set(p[0], p[2]);
      const times = [...new Set(r.data.points.map((p) => p[0]))].sort((a, b) => a - b);
      const box = document.createElement("div");
      box.className = "chart";
      el.innerHTML = "";
      el.appendChild(box);
      WWP.chart(box, {
        scales: { x: { time: true, range: [from / 1000, to / 1000] } },
        axes: [{}, { values: (u, v) => v.map((w) => WW.power(w)), size: 70 }],
        series: [{}, ...plan.map((c) => {
          const dev = c.split(".")[0].slice(5);
          const role = WWP.role(dev + ".power") || "other";
          return { label: dev, stroke: WWP.colors[role], width: 1.5, paths: uPlot.paths.stepped({ align: 1 }), value: (u, v) => WW.power(v) };
        })],
      }, [times.map((t) => t / 1000), ...plan.map((c) => times.map((t) => (by[c] && by[c].has(t) ? by[c].get(t) : null)))]);
    });
    return true;
  },
});
