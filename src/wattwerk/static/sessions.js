// wattwerk charging sessions: every session of a month from the edge's store (api/sessions), with
// its CSV (api/sessions.csv). Dates and numbers in the browser's locale.
"use strict";

const fmtWhen = (iso) => (iso ? new Date(iso).toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" }) : WW.t("sessions.now"));

async function load(month) {
  const res = await WW.json("api/sessions" + (month ? "?" + new URLSearchParams({ month }) : ""));
  const err = document.getElementById("sessions-err");
  err.hidden = res.ok;
  if (!res.ok) { err.textContent = WW.errors(res).join("; "); return; }
  document.getElementById("month").value = res.data.month;  // without one asked: the site's month now
  document.getElementById("csv").href = "api/sessions.csv?" + new URLSearchParams({ month: res.data.month });
  const list = res.data.sessions;
  const sum = (k) => list.reduce((a, s) => a + (s[k] || 0), 0);
  const kwh = sum("energy_kwh"), grid = sum("grid_kwh");
  document.getElementById("sum").innerHTML = `<div>${WW.t("sessions.count")}<b data-testid="sessions-count">${list.length}</b></div>` +
    `<div>${WW.t("sessions.energy")}<b>${WW.kwh(kwh)}</b></div><div>${WW.t("sessions.pv_share")}<b>${kwh > 0 ? WW.pct(100 * (kwh - grid) / kwh) : "–"}</b></div>` +
    `<div>${WW.t("sessions.cost")}<b>${WW.money(sum("cost"), "EUR")}</b></div>`;
  document.getElementById("sessions").innerHTML = list.length === 0 ? `<tbody><tr><td class="muted">${WW.t("sessions.none")}</td></tr></tbody>` :
    `<thead><tr><th>${WW.t("sessions.start")}</th><th>${WW.t("sessions.end")}</th><th>${WW.t("sessions.charger")}</th><th>${WW.t("sessions.car")}</th>` +
    `<th class="num">${WW.t("sessions.energy")}</th><th class="num">${WW.t("sessions.pv_share")}</th><th class="num">${WW.t("sessions.cost")}</th><th>${WW.t("sessions.mode")}</th></tr></thead><tbody>` +
    list.map((s) => `<tr data-session="${WW.esc(s.start)}"><td>${WW.esc(fmtWhen(s.start))}</td><td>${WW.esc(fmtWhen(s.end))}</td>` +
      `<td>${WW.esc(s.name)}</td><td data-testid="session-car">${WW.esc(s.car || "–")}</td><td class="num">${WW.kwh(s.energy_kwh)}</td><td class="num">${WW.pct(s.pv_share_pct)}</td>` +
      `<td class="num">${WW.money(s.cost, s.currency)}</td><td>${WW.esc(s.mode ? WW.tr("live.mode." + s.mode, s.mode) : "")}</td></tr>`).join("") + "</tbody>";
}

const input = document.getElementById("month");
const asked = new URLSearchParams(location.search).get("month");
input.addEventListener("change", () => { if (input.value) { history.replaceState(null, "", "?month=" + input.value); load(input.value); } });
WW.ready.then(() => load(asked));
