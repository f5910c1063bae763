// Live power flows: the newest value of every power channel, refreshed every few seconds.
"use strict";
WWP.widget("live", {
  render(el, ctx) {
    const live = ctx.live;
    const values = live ? live.values.filter((v) => v.channel.endsWith(".power") && WWP.role(v.channel)) : [];
    if (!values.length) {
      el.innerHTML = `<p class="muted empty">${WW.esc(ctx.t("dash.nodata"))}</p>`;
      return true;
    }
    const order = ["pv", "grid", "bat", "house", "ev", "heat", "other"];
    values.sort((a, b) => order.indexOf(WWP.role(a.channel)) - order.indexOf(WWP.role(b.channel)) || a.channel.localeCompare(b.channel));
    const newest = Math.max(...values.map((v) => v.ts_ms));
    const soc = live.values.find((v) => v.channel.endsWith(".soc"));
    el.innerHTML = `<div class="flows">${values.map((v) => {
      const role = WWP.role(v.channel);
      const dev = v.channel.split(".")[0];
      return `<div class="flow" data-channel="${WW.esc(v.channel)}" style="--c:${WWP.colors[role]}">
        <div class="name">${WW.esc(ctx.t("flow." + role))} <span class="muted small">${WW.esc(dev)}</span></div>
        <div class="value">${WW.esc(WW.power(v.value))}</div>
        <div class="dir">${WW.esc(WWP.direction(role, v.value))}</div></div>`;
    }).join("")}</div>
    ${soc ? `<div class="kv"><span>${WW.esc(ctx.t("flow.bat"))} SoC</span><b class="soc-value">${WW.num(soc.value, 0, "%")}</b></div>` : ""}
    <p class="muted small updated">${WW.esc(ctx.t("dash.updated"))} <time data-ms="${newest}">${WW.esc(WWP.fmtTime(newest, true))}</time></p>`;
    return true;
  },
});
