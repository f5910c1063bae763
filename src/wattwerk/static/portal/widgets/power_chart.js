// The range's power flows as lines (uPlot), one series per power channel.
"use strict";
WWP.widget("power_chart", {
  render(el, ctx) {
    const s = ctx.series;
    if (!s) return true;
    const dev = (c) => c.split(".")[0];
    const order = ["pv", "grid", "bat", "house", "ev", "heat", "other"];
    const chans = Object.keys(s.by).filter((c) => c.endsWith(".power") && WWP.role(c))
      .sort((a, b) => order.indexOf(WWP.role(a)) - order.indexOf(WWP.role(b)) || WWP.label(dev(a)).localeCompare(WWP.label(dev(b))));
    const times = [...new Set(chans.flatMap((c) => s.by[c].t))].sort((a, b) => a - b);
    el.dataset.points = String(times.length);
    if (!times.length) {
      el.innerHTML = `<p class="muted empty">${WW.esc(ctx.t("dash.nodata"))}</p>`;
      return true;
    }
    const index = new Map(times.map((t, i) => [t, i]));
    const data = [times.map((t) => t / 1000)];
    for (const c of chans) {
      const col = new Array(times.length).fill(null);
      s.by[c].t.forEach((t, i) => { col[index.get(t)] = s.by[c].v[i]; });
      data.push(col);
    }
    const box = document.createElement("div");
    box.className = "chart";
    el.innerHTML = "";
    el.appendChild(box);
    WWP.chart(box, {
      scales: { x: { time: true, range: [ctx.range.from / 1000, ctx.range.to / 1000] } },
      axes: [{}, { values: (u, v) => v.map((w) => WW.power(w)), size: 70 }],
      series: [{}, ...chans.map((c) => ({
        label: WWP.label(dev(c)), stroke: WWP.color(dev(c)), width: 1.5, value: (u, v) => WW.power(v),
      }))],
    }, data);
    return true;
  },
});
