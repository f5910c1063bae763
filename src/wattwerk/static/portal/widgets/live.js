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
    const dev = (v) => v.channel.split(".")[0];
    values.sort((a, b) => order.indexOf(WWP.role(a.channel)) - order.indexOf(WWP.role(b.channel)) ||
      WWP.label(dev(a)).localeCompare(WWP.label(dev(b)), WWP.locale));
    const newest = Math.max(...values.map((v) => v.ts_ms));
    const soc = live.values.find((v) => v.channel.endsWith(".soc"));
    el.innerHTML = `<div class="flows">${values.map((v) => {
      const role = WWP.role(v.channel);
      return `<div class="flow" data-channel="${WW.esc(v.channel)}" style="--c:${WWP.color(dev(v))}">
        <div class="name">${WW.esc(WWP.label(dev(v)))}</div>
        <div class="value">${WW.esc(WW.power(v.value))}</div>
        <div class="dir">${WW.esc(WWP.direction(role, v.value))}</div></div>`;
    }).join("")}</div>
    ${soc ? `<div class="kv"><span>${WW.esc(ctx.t("flow.bat"))} SoC</span><b class="soc-value">${WW.num(soc.value, 0, "%")}</b></div>` : ""}
    <p class="muted small updated">${WW.esc(ctx.t("dash.updated"))} <time data-ms="${newest}">${WW.esc(WWP.fmtTime(newest, true))}</time></p>`;
    return true;
  },
});
