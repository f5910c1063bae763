// Grid restrictions in the chosen range: the restriction episodes the edge uploaded with its readings
// (GET .../restrictions, portal/episodes.py): ripple control, §14a, the direct marketer, limits sent
// over IEC 104 / Modbus / OpenADR, fallbacks; when, the limit and the energy curtailed.
"use strict";
WWP.widget("restrictions", {
  render(el, ctx) {
    if (!ctx.range) return true;
    const key = `${ctx.range.from}:${ctx.range.to}`;
    if (el.dataset.key === key) return true;
    el.dataset.key = key;
    const q = new URLSearchParams({ from_ms: String(ctx.range.from), to_ms: String(ctx.range.to) });
    ctx.api("GET", `${ctx.base}/restrictions?${q}`).then((r) => {
      if (el.dataset.key !== key) return;  // a newer range is on its way
      if (!r.ok) { el.innerHTML = `<p class="err">${WW.esc(ctx.t("error.generic"))}</p>`; return; }
      const eps = r.data.episodes;
      if (!eps.length) { el.innerHTML = `<p class="muted" data-restrictions="0">${WW.esc(ctx.t("restr.none"))}</p>`; return; }
      const when = (ms) => (ms === null ? ctx.t("restr.ongoing") : WWP.fmtTime(ms, true));
      const row = (e) => `<tr data-kind="${WW.esc(e.kind)}"><td>${WW.esc(ctx.t("restr.kind." + e.kind))}
        <span class="muted small">${WW.esc(e.source)}</span></td><td class="nowrap">${WW.esc(when(e.start_ms))}</td>
        <td class="nowrap">${WW.esc(when(e.end_ms))}</td><td>${WW.esc(e.limit)}</td>
        <td class="num">${WW.esc(e.kind === "fallback" ? "–" : WWP.kwh(e.curtailed_wh))}</td></tr>`;
      el.innerHTML = `<p data-restrictions="${eps.length}">${WW.esc(ctx.t("restr.summary", { count: r.data.count, energy: WWP.kwh(r.data.curtailed_wh) }))}</p>
        <div class="scroll"><table class="devices"><thead><tr><th>${WW.esc(ctx.t("restr.kind"))}</th>
        <th>${WW.esc(ctx.t("restr.start"))}</th><th>${WW.esc(ctx.t("restr.end"))}</th><th>${WW.esc(ctx.t("restr.limit"))}</th>
        <th class="num">${WW.esc(ctx.t("restr.curtailed"))}</th></tr></thead><tbody>${eps.map(row).join("")}</tbody></table></div>`;
    });
    return true;
  },
});
