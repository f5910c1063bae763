// The portal's pages: sign-in/registration, site list, dashboard (built from widgets), the
// owner's access page and the installer's maintenance page. Data from /api/v1; strings from the
// language catalogue the server embedded (#boot). Times are UTC inside, local only on screen.
"use strict";

const BOOT = JSON.parse(document.getElementById("boot").textContent);
const esc = WW.esc;

// Dates and numbers in the page's language with the browser's region where the two agree (en-GB
// writes 06/12/2026 and en-US 12/6/2026; de-AT, fr-CH): else the bare language of the page.
const LOCALE = (() => {
  for (const tag of navigator.languages || [navigator.language || ""]) {
    if (!tag || tag.toLowerCase().split("-")[0] !== BOOT.lang) continue;
    try { return Intl.getCanonicalLocales(tag)[0]; } catch (e) { /* a malformed tag: next one */ }
  }
  return BOOT.lang;
})();
WW.locale = LOCALE;  // common.js's numbers, power and money too

// The site's colours per device role, from the theme's CSS variables (light or dark, portal.css):
// the same colour for a role in every widget; heat pump and heating rod apart.
function themeColors() {
  const css = getComputedStyle(document.documentElement);
  const v = (name, fallback) => (css.getPropertyValue(name) || "").trim() || fallback;
  const c = { grid: v("--grid", "#c0392b"), pv: v("--pv", "#e1a100"), bat: v("--bat", "#2e86c1"),
              house: v("--house", "#4f5d56"), ev: v("--ev", "#8e44ad"), heat: v("--heat", "#d35400"),
              rod: v("--rod", "#c2185b"), gen: v("--gen", "#16a085"), other: v("--other", "#7f8c8d") };
  return { ...c, grid_meter: c.grid, battery: c.bat, submeter: c.house, ev_charger: c.ev, heat_pump: c.heat,
           heating_rod: c.rod, chp: c.gen, fuel_cell: c.gen, electrolyser: v("--h2", "#5d6d7e"), switch: c.other,
           axis: v("--muted", "#69736d"), line: v("--line", "#e4e7e2") };
}

const WWP = {
  boot: BOOT,
  renderers: {},
  locale: LOCALE,
  t(key, vars) {
    return String(BOOT.strings[key] || key).replace(/\{(\w+)\}/g, (m, k) => (vars && k in vars ? vars[k] : m));
  },
  // An error answer in the page's language: the server's message code (portal/messages.py) through
  // the catalogue's "err.<code>", pydantic's field errors (422) through "err.v.<type>" with the
  // field's label; the server's English where the catalogue has no string.
  problems(res) {
    const d = (res && res.data) || {};
    if (d.code && BOOT.strings["err." + d.code]) return WWP.t("err." + d.code, d.vars || {});
    if (Array.isArray(d.detail)) {
      return d.detail.map((e) => {
        const loc = e.loc || [];
        const field = (["body", "query", "path", "header", "cookie"].includes(loc[0]) ? loc.slice(1) : loc).join(".");
        const name = BOOT.strings["field." + field] || field;
        const msg = BOOT.strings["err.v." + e.type] ? WWP.t("err.v." + e.type, e.ctx || {}) : e.msg;
        return name ? `${name}: ${msg}` : msg;
      }).join("; ");
    }
    if (!d.detail && !d.error && BOOT.strings["err.http." + res.status]) return WWP.t("err.http." + res.status);
    return WW.errors(res).join("; ");
  },
  widget(id, renderer) { WWP.renderers[id] = renderer; },
  async api(method, url, body) {
    const headers = {};
    if (BOOT.csrf) headers["X-CSRF-Token"] = BOOT.csrf;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const r = await fetch(url, { method, headers, credentials: "same-origin",
                                 body: body === undefined ? undefined : JSON.stringify(body) });
    let data = null, whole = true;
    try { data = await r.json(); } catch (e) { whole = r.status === 204; }
    // a streamed answer cut off half-way (the server failed after its 200) is not an answer
    return { ok: r.ok && whole, status: r.status, data };
  },
  fmtTime(ms, withDate) {
    const opts = withDate ? { dateStyle: "short", timeStyle: "short" } : { timeStyle: "medium" };
    return new Intl.DateTimeFormat(LOCALE, opts).format(new Date(ms));
  },
  axisTime(ms, incrS) {
    const o = incrS < 86400 ? { hour: "2-digit", minute: "2-digit" }
      : incrS < 28 * 86400 ? { day: "numeric", month: "short" } : { month: "short", year: "numeric" };
    return new Intl.DateTimeFormat(LOCALE, o).format(new Date(ms));
  },
  // A number as the visitor types it: the locale's decimal comma ("0,32") or a point; NaN otherwise.
  number(text) {
    const x = String(text ?? "").trim().replace(/[\s\u00a0\u202f]/g, "").replace(",", ".");
    return /^[-+]?(\d+\.?\d*|\.\d+)$/.test(x) ? Number(x) : NaN;
  },
  // A number for an input field, with the locale's decimal sign and no grouping ("0,3215").
  plain(v) {
    return new Intl.NumberFormat(LOCALE, { maximumFractionDigits: 6, useGrouping: false }).format(v);
  },
  kwh(wh, digits = 2) {
    return wh === null || wh === undefined || !isFinite(wh) ? "–" :
      WW.unsigned0(new Intl.NumberFormat(LOCALE, { minimumFractionDigits: digits, maximumFractionDigits: digits }),
                   wh / 1000) + " kWh";
  },
  pct(x) {
    return x === null || x === undefined || !isFinite(x) ? "–"
      : WW.unsigned0(new Intl.NumberFormat(LOCALE, { maximumFractionDigits: 0 }), x * 100) + " %";
  },
  // An amount in the currency's own decimals; one that rounds to zero is "0,00 €", never "−0,00 €".
  money(v, currency, digits) {
    if (v === null || v === undefined || !isFinite(v)) return "–";
    const opts = digits === undefined ? {} : { minimumFractionDigits: digits, maximumFractionDigits: digits };
    try {
      return WW.unsigned0(new Intl.NumberFormat(LOCALE, { style: "currency", currency, ...opts }), v);
    } catch (e) { return WW.unsigned0(new Intl.NumberFormat(LOCALE, { minimumFractionDigits: 2, maximumFractionDigits: 2 }), v) + " " + currency; }
  },
  // device id -> flow, from the roles the site's edge sent (setRoles); empty for legacy loggers;
  // kinds: device id -> its role in the site file (heat_pump, heating_rod ...); names: the owner's
  // names for devices (the site file's ``name``, sent by the edge); seen: devices of the channels
  devices: {},
  kinds: {},
  names: {},
  seen: [],
  setRoles(info) {
    const short = { battery: "bat" };
    WWP.devices = {};
    WWP.kinds = { ...((info && info.roles) || {}) };
    WWP.names = { ...((info && info.labels) || {}) };
    for (const dev of Object.keys((info && info.roles) || {})) WWP.devices[dev] = "other";
    for (const [flow, devs] of Object.entries((info && info.flows) || {})) {
      for (const dev of devs) WWP.devices[dev] = short[flow] || flow;
    }
  },
  // A channel's role in the flows: its device's role as the edge told the portal; for loggers
  // that send no roles a guess from the device id (grid, pv*, bat*, ev*, heat*/hp*, house/load*).
  role(channel) {
    const dev = channel.split(".")[0];
    if (WWP.devices[dev]) return WWP.devices[dev];
    if (dev === "grid" || dev.startsWith("grid")) return "grid";
    if (dev.startsWith("pv") || dev.startsWith("solar") || dev.startsWith("inverter")) return "pv";
    if (dev.startsWith("bat")) return "bat";
    if (dev.startsWith("ev") || dev.startsWith("wallbox") || dev.startsWith("charger")) return "ev";
    if (dev.startsWith("heat") || dev.startsWith("hp") || dev.startsWith("boiler") || dev.startsWith("rod")) return "heat";
    if (dev.startsWith("house") || dev.startsWith("load") || dev.startsWith("home")) return "house";
    return "other";
  },
  // A device's role in the site file: as its edge sent it, else a guess from the id (legacy loggers).
  kind(dev) {
    if (WWP.kinds[dev]) return WWP.kinds[dev];
    if (/^(heating_?rod|rod|immersion|boiler)/.test(dev)) return "heating_rod";
    if (/^(hp|heat)/.test(dev)) return "heat_pump";
    return { grid: "grid_meter", pv: "pv", bat: "battery", house: "submeter", ev: "ev_charger" }[WWP.role(dev + ".power")] || "other";
  },
  // What the pages call a device, never its raw id: the owner's name for it, else its role
  // ("Heat pump"), numbered when the site has several of that role without a name ("PV 2").
  label(dev) {
    if (WWP.names[dev]) return WWP.names[dev];
    const kind = WWP.kind(dev);
    const text = BOOT.strings["role." + kind] || WWP.t("role.other");
    const all = [...new Set([...Object.keys(WWP.kinds), ...WWP.seen, dev])].sort();
    const same = all.filter((d) => !WWP.names[d] && WWP.kind(d) === kind);
    return same.length > 1 ? `${text} ${same.indexOf(dev) + 1}` : text;
  },
  color(dev) { return WWP.colors[WWP.kind(dev)] || WWP.colors.other; },
  colors: themeColors(),
  direction(role, w) {
    if (w === null || w === undefined || Math.abs(w) < 1) return "";
    const t = WWP.t;
    if (role === "grid") return w > 0 ? t("dir.import") : t("dir.export");
    if (role === "bat") return w > 0 ? t("dir.discharge") : t("dir.charge");
    if (role === "pv") return t("dir.produce");
    return t("dir.consume");
  },
  card(id, title, wide) {
    const el = document.createElement("section");
    el.className = "card widget" + (wide ? " wide" : "");
    el.id = "w-" + id;
    el.dataset.widget = id;
    el.innerHTML = `<h2>${esc(title)}</h2><div class="body"></div>`;
    return el;
  },
  // A uPlot chart sized to its box; redrawn on resize (phone rotation, window changes).
  chart(el, opts, data) {
    el.innerHTML = "";
    const width = () => Math.max(240, el.clientWidth || (el.parentElement && el.parentElement.clientWidth) || 300);
    const height = window.innerWidth < 600 ? 200 : 260;
    // time on the x axis and in the legend in the page's language and the browser's zone
    // axes in the theme's colours (readable on the dark theme too)
    const look = { stroke: WWP.colors.axis, grid: { stroke: WWP.colors.line }, ticks: { stroke: WWP.colors.line } };
    const axes = (opts.axes ? [...opts.axes] : [{}]).map((a) => ({ ...look, ...a }));
    axes[0] = { space: 80, values: (u, splits, ax, space, incr) => splits.map((s) => WWP.axisTime(s * 1000, incr)),
                ...axes[0] };
    const series = opts.series ? [...opts.series] : [{}];
    series[0] = { label: WWP.t("audit.when"), value: (u, v) => (v === null || v === undefined ? "–" : WWP.fmtTime(v * 1000, true)),
                  ...series[0] };
    const plot = new uPlot({ width: width(), height, ...opts, axes, series }, data, el);
    const ro = new ResizeObserver(() => {
      if (!el.isConnected) { ro.disconnect(); plot.destroy(); return; }  // replaced by a newer chart
      plot.setSize({ width: width(), height });
    });
    ro.observe(el);
    return plot;
  },
};
window.WWP = WWP;

// ------------------------------------------------------------------ header
document.querySelectorAll("a[data-lang]").forEach((a) => {
  a.addEventListener("click", (ev) => {
    ev.preventDefault();
    document.cookie = `lang=${a.dataset.lang}; path=/; max-age=31536000; samesite=lax`;
    location.reload();
  });
});
const logoutBtn = document.getElementById("logout");
if (logoutBtn) {
  logoutBtn.addEventListener("click", async () => {
    await WWP.api("DELETE", "/api/v1/session");
    location.href = "/login";
  });
}

const main = document.getElementById("main");
const t = WWP.t;

function problems(res) {
  return WWP.problems(res);
}

// ------------------------------------------------------------------ sign-in and registration
function loginPage() {
  main.innerHTML = `
  <section class="card"><h2>${esc(t("login.title"))}</h2>
    <form id="login">
      <label>${esc(t("login.alias"))}<input name="alias" autocomplete="username" required maxlength="64"></label>
      <label>${esc(t("login.password"))}<input name="password" type="password" autocomplete="current-password" required></label>
      <label>${esc(t("login.totp"))}<input name="totp" inputmode="numeric" autocomplete="one-time-code" maxlength="12"></label>
      <div class="buttons"><button class="primary">${esc(t("login.submit"))}</button></div>
      <p class="err" id="login-err" role="alert"></p>
    </form></section>
  <section class="card" id="reset-card"><h2>${esc(t("reset.title"))}</h2>
    ${BOOT.reset ? `<p class="muted small">${esc(t("reset.hint"))}</p>
    <form id="reset">
      <label>${esc(t("login.alias"))}<input name="alias" autocomplete="username" required maxlength="64"></label>
      <div class="buttons"><button>${esc(t("reset.submit"))}</button></div>
      <p class="muted" id="reset-msg" role="status"></p>
    </form>` : `<p class="muted small" id="reset-off">${esc(t("reset.off"))}</p>`}</section>
  <section class="card"><h2>${esc(t("register.title"))}</h2>
    ${BOOT.registration === "closed" ? `<p class="muted small" id="register-closed">${esc(t("register.closed"))}</p>` : `
    <p class="muted small">${esc(t("register.hint"))}</p>
    <form id="register">
      <label>${esc(t("login.alias"))}<input name="alias" autocomplete="username" required maxlength="64"></label>
      <label>${esc(t("login.password"))}<input name="password" type="password" autocomplete="new-password" required></label>
      ${BOOT.registration === "invite" ? `<label>${esc(t("register.invite"))}<input name="invite" required maxlength="100"></label>` : ""}
      <div class="buttons"><button class="primary">${esc(t("register.submit"))}</button></div>
      <p class="err" id="register-err" role="alert"></p>
    </form>`}</section>`;
  const signIn = async (alias, password, totp, errEl) => {
    const r = await WWP.api("POST", "/api/v1/session", { alias, password, totp: totp || null });
    if (!r.ok) { errEl.textContent = t("login.failed") + ": " + problems(r); return; }
    location.href = BOOT.next || "/sites";
  };
  document.getElementById("login").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const f = new FormData(ev.target);
    signIn(f.get("alias"), f.get("password"), f.get("totp"), document.getElementById("login-err"));
  });
  const resetForm = document.getElementById("reset");
  if (resetForm) resetForm.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const r = await WWP.api("POST", "/api/v1/password-reset", { alias: new FormData(ev.target).get("alias") });
    document.getElementById("reset-msg").textContent = r.ok ? t("reset.sent") : problems(r);
  });
  const registerForm = document.getElementById("register");
  if (registerForm) registerForm.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const f = new FormData(ev.target);
    const err = document.getElementById("register-err");
    const body = { alias: f.get("alias"), password: f.get("password") };
    if (f.get("invite")) body.invite = f.get("invite");
    const r = await WWP.api("POST", "/api/v1/accounts", body);
    if (!r.ok) { err.textContent = problems(r); return; }
    signIn(f.get("alias"), f.get("password"), null, err);
  });
}

// ------------------------------------------------------------------ site list
async function sitesPage() {
  main.innerHTML = `
  <section class="card wide"><h2>${esc(t("sites.title"))}</h2>
    <p class="muted small">${esc(BOOT.alias)}${BOOT.admin ? ` · <a href="/operator" id="operator-link">${esc(t("op.title"))}</a>` : ""}</p>
    <ul class="plain sitelist" id="sites"></ul></section>
  <section class="card" id="maint-card" hidden><h2>${esc(t("maint.title"))}</h2><ul class="plain" id="maint"></ul></section>
  <section class="card"><h2>${esc(t("sites.add"))}</h2>
    <form id="add"><label>${esc(t("sites.label"))}<input name="label" maxlength="100"></label>
    <div class="buttons"><button class="primary">${esc(t("sites.add"))}</button></div>
    <p class="err" id="add-err"></p></form></section>`;
  const list = async () => {
    const r = await WWP.api("GET", "/api/v1/sites");
    const ul = document.getElementById("sites");
    if (!r.ok) { ul.innerHTML = `<li class="err">${esc(problems(r))}</li>`; return; }
    ul.innerHTML = r.data.length ? r.data.map((s) => `
      <li data-site="${esc(s.site)}"><a href="/sites/${encodeURIComponent(s.site)}"><b>${esc(s.label || s.site)}</b></a>
        <span class="badge">${esc(t("access." + s.role) !== "access." + s.role ? t("access." + s.role) : s.role)}</span>
        <span class="muted small">${esc(s.site)}</span>
        ${s.role === "owner" ? `<span class="actions"><a href="/sites/${encodeURIComponent(s.site)}/access">${esc(t("dash.access"))}</a>
          <button type="button" class="pair" data-site="${esc(s.site)}">${esc(t("sites.pair"))}</button></span>
          <div class="token" hidden></div>` : ""}
      </li>`).join("") : `<li class="muted">${esc(t("sites.none"))}</li>`;
    ul.querySelectorAll("button.pair").forEach((b) => b.addEventListener("click", async () => {
      const res = await WWP.api("POST", `/api/v1/sites/${encodeURIComponent(b.dataset.site)}/pairing-codes`);
      const box = b.closest("li").querySelector(".token");
      box.hidden = false;
      // the QR code is SVG markup rendered by the portal itself (segno): no script, passes the CSP
      box.innerHTML = res.ok ? `<span class="muted small">${esc(t("sites.pair_hint"))}</span>
        <code class="pairing-code" data-testid="pairing-code">${esc(res.data.code)}</code>
        <span class="muted small">${esc(t("sites.pair_until"))} ${esc(WWP.fmtTime(Date.parse(res.data.expires_at), true))}</span>
        <div class="qr" data-testid="pairing-qr">${res.data.qr_svg}</div>`
        : `<span class="err">${esc(problems(res))}</span>`;
    }));
  };
  const maint = async () => {
    const r = await WWP.api("GET", "/api/v1/maintenance");
    if (!r.ok || !r.data.length) return;
    document.getElementById("maint-card").hidden = false;
    document.getElementById("maint").innerHTML = r.data.map((g) => `<li><a href="/sites/${encodeURIComponent(g.site)}/maintain">${esc(g.site)}</a>
      <span class="muted small">${esc(t("maint.until"))} ${esc(WWP.fmtTime(Date.parse(g.expires_at), true))}</span></li>`).join("");
  };
  document.getElementById("add").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const r = await WWP.api("POST", "/api/v1/sites", { label: new FormData(ev.target).get("label") || "" });
    if (!r.ok) { document.getElementById("add-err").textContent = problems(r); return; }
    ev.target.reset();
    await list();
  });
  await Promise.all([list(), maint()]);
}

// ------------------------------------------------------------------ dashboard
const RANGES = ["day", "week", "month", "year", "custom"];

function startOf(kind, d) {
  const x = new Date(d);
  x.setHours(0, 0, 0, 0);
  if (kind === "week") x.setDate(x.getDate() - ((x.getDay() + 6) % 7));
  if (kind === "month") x.setDate(1);
  if (kind === "year") { x.setMonth(0, 1); }
  return x;
}

function shift(kind, d, n) {
  const x = new Date(d);
  if (kind === "day") x.setDate(x.getDate() + n);
  if (kind === "week") x.setDate(x.getDate() + 7 * n);
  if (kind === "month") x.setMonth(x.getMonth() + n);
  if (kind === "year") x.setFullYear(x.getFullYear() + n);
  return x;
}

// Today's calendar day in the site's zone, as a browser-local Date (only its year, month and day
// count): "today" is the site's, also for an owner whose browser is in another zone, or just past
// midnight on one side of it.
function todayIn(tz) {
  try {
    const parts = new Intl.DateTimeFormat("en-CA", { timeZone: tz || "UTC", year: "numeric", month: "2-digit", day: "2-digit" })
      .formatToParts(new Date());
    const p = Object.fromEntries(parts.map((x) => [x.type, Number(x.value)]));
    return new Date(p.year, p.month - 1, p.day);
  } catch (e) {
    return new Date();  // a zone this browser does not know: its own day
  }
}

// A date as the API's local calendar day (the site's zone decides where it starts).
function ymd(d) {
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, "0")}-${String(d.getDate()).padStart(2, "0")}`;
}

// The series document, parsed: per channel its bucket times and values, and the summary.
function parseSeries(doc) {
  const out = { resolution: doc.resolution, from: doc.from_ms, to: doc.to_ms, channels: doc.channels,
                summary: doc.summary || {}, by: {} };
  const raw = doc.resolution === "raw";
  for (const p of doc.points || []) {
    const ch = p[1];
    const s = out.by[ch] || (out.by[ch] = { t: [], v: [], last: [] });
    s.t.push(p[0]);
    s.v.push(p[2]);
    s.last.push(raw ? p[2] : p[5]);
  }
  return out;
}

// Energy per flow (Wh) over the range, as the portal summed it from its rollups (store/rollup.py):
// each device's counters where it has them, else the covered-time integral of its power (the part
// above zero: import, production, discharge, consumption; below zero: export, charge). ``rest`` is
// the consumption no device row names, so the rows add up to ``consumed``.
function energyFlows(series) {
  const e = { pv: 0, imp: 0, exp: 0, dis: 0, chg: 0, loads: {}, rest: 0, any: false };
  const sum = series.summary || {};
  const wh = (ch, key) => (sum[ch] && sum[ch].n > 0 && sum[ch][key] != null ? sum[ch][key] : null);
  for (const dev of new Set(Object.keys(sum).map((ch) => ch.split(".")[0]))) {
    const p = dev + ".power";
    const pick = (counter, key) => {
      const c = wh(dev + "." + counter, "energy_wh");
      return c !== null ? c : (wh(p, key) || 0);
    };
    const role = WWP.role(p);
    e.any = e.any || Object.keys(sum).some((ch) => ch.startsWith(dev + ".") && sum[ch] && sum[ch].n > 0);
    if (role === "pv") e.pv += pick("energy", "energy_in_wh");
    else if (role === "grid") { e.imp += pick("energy_import", "energy_in_wh"); e.exp += pick("energy_export", "energy_out_wh"); }
    else if (role === "bat") { e.dis += pick("energy_discharge", "energy_in_wh"); e.chg += pick("energy_charge", "energy_out_wh"); }
    else if (sum[p] || sum[dev + ".energy"]) e.loads[dev] = (e.loads[dev] || 0) + pick("energy", "energy_in_wh");
  }
  e.consumed = Math.max(0, e.pv + e.imp - e.exp + e.dis - e.chg);
  const named = Object.values(e.loads).reduce((a, b) => a + b, 0);
  e.rest = e.consumed - named > 0.5 ? e.consumed - named : 0;
  e.selfConsumption = e.pv > 0 ? Math.max(0, Math.min(1, (e.pv - e.exp) / e.pv)) : null;
  e.autarky = e.consumed > 0 ? Math.max(0, Math.min(1, 1 - e.imp / e.consumed)) : null;
  return e;
}
WWP.energyFlows = energyFlows;

async function dashboardPage() {
  const site = BOOT.site;
  const base = `/api/v1/sites/${encodeURIComponent(site)}`;
  const info = await WWP.api("GET", base);
  if (!info.ok) { main.innerHTML = `<section class="card"><p class="err">${esc(problems(info))}</p></section>`; return; }
  document.getElementById("title").textContent = info.data.label || site;
  WWP.setRoles(info.data);
  const state = { kind: new URLSearchParams(location.search).get("range") || "day", start: null, end: null,
                  current: true };
  if (!RANGES.includes(state.kind)) state.kind = "day";
  // the current period of the site's zone; `current` until the owner steps to another one
  const toCurrent = () => {
    const kind = state.kind === "custom" ? "day" : state.kind;
    state.start = startOf(kind, todayIn(ctx.info.tz));
    state.end = shift(kind, state.start, 1);
    state.current = true;
  };

  main.innerHTML = `
  <section class="card wide rangebar">
    <div class="tabs" role="tablist">${RANGES.map((k) => `<button type="button" role="tab" data-range="${k}">${esc(t("range." + k))}</button>`).join("")}</div>
    <div class="nav"><button type="button" id="prev" aria-label="${esc(t("range.prev"))}">‹</button>
      <span id="range-label"></span><button type="button" id="next" aria-label="${esc(t("range.next"))}">›</button></div>
    <form id="custom" hidden><label>${esc(t("range.from"))}<input type="date" name="from" required></label>
      <label>${esc(t("range.to"))}<input type="date" name="to" required></label>
      <button class="primary">${esc(t("range.apply"))}</button></form>
    ${info.data.role === "owner" ? `<a class="access" href="/sites/${encodeURIComponent(site)}/access">${esc(t("dash.access"))}</a>` : ""}
  </section>
  <div id="widgets" class="widgets"></div>`;

  const holder = document.getElementById("widgets");
  const cards = [];
  for (const w of BOOT.widgets) {
    const el = WWP.card(w.id, w.title, w.wide);
    if (w.html) el.querySelector(".body").innerHTML = w.html;
    el.hidden = Boolean(WWP.renderers[w.id] && WWP.renderers[w.id].hiddenUntilData);  // no empty card that vanishes
    holder.appendChild(el);
    cards.push({ w, el });
  }

  let tariff = null;
  const needs = new Set(BOOT.widgets.flatMap((w) => w.needs));
  if (needs.has("tariff")) {
    const r = await WWP.api("GET", base + "/tariff");
    tariff = r.ok ? r.data : null;
  }
  const chans = await WWP.api("GET", base + "/channels");
  let channels = chans.ok ? chans.data : [];
  let names = channels.map((c) => c.name);
  WWP.seen = [...new Set(names.map((c) => c.split(".")[0]))];  // numbers devices of one role apart

  // a local calendar period of the site's zone (the server finds its start, end and resolution)
  const fetchSeries = async (kind, start, end) => {
    const period = kind === "custom" ? { period: "custom", date: ymd(start), until: ymd(shift("day", end, -1)) }
      : { period: kind, date: ymd(start) };
    if (!names.length) return parseSeries({ points: [], summary: {}, channels: {}, resolution: "1h" });
    const q = new URLSearchParams({ channels: names.join(","), ...period });
    let r = await WWP.api("GET", `${base}/series?${q}`);
    if (!r.ok && (r.status >= 500 || r.status === 200)) r = await WWP.api("GET", `${base}/series?${q}`);  // once more
    return r.ok ? parseSeries(r.data) : null;
  };

  const ctx = { site, base, info: info.data, channels, names, tariff, live: null, series: null, previous: null,
                range: null, t, api: WWP.api };
  toCurrent();

  const renderAll = (which) => {
    for (const { w, el } of cards) {
      if (which && !w.needs.some((n) => which.includes(n))) continue;
      const r = WWP.renderers[w.id];
      if (!r) { if (!w.html) el.hidden = true; continue; }
      let shown = true;
      try { shown = r.render(el.querySelector(".body"), ctx, el) !== false; } catch (e) {
        console.error("widget", w.id, e);
        el.querySelector(".body").innerHTML = `<p class="err">${esc(t("error.generic"))}</p>`;
      }
      el.hidden = !shown;
    }
  };

  const label = () => {
    const f = new Intl.DateTimeFormat(LOCALE, state.kind === "year" ? { year: "numeric" } :
      state.kind === "month" ? { month: "long", year: "numeric" } : { dateStyle: "medium" });
    const last = new Date(state.end.getTime() - 1);
    document.getElementById("range-label").textContent =
      state.kind === "day" || state.kind === "month" || state.kind === "year" ? f.format(state.start)
        : f.format(state.start) + " – " + f.format(last);
    document.querySelectorAll("[data-range]").forEach((b) => b.setAttribute("aria-selected", String(b.dataset.range === state.kind)));
    document.getElementById("custom").hidden = state.kind !== "custom";
    document.getElementById("prev").disabled = document.getElementById("next").disabled = state.kind === "custom";
  };

  let asked = 0;  // the newest range asked for: a slower answer for an older one is dropped
  const load = async () => {
    label();
    const mine = ++asked;
    const from = state.start.getTime(), to = state.end.getTime();
    const days = Math.round((to - from) / 86400000);
    const prevStart = state.kind === "custom" ? shift("day", state.start, -days) : shift(state.kind, state.start, -1);
    const range = { kind: state.kind, from, to, prevFrom: prevStart.getTime(), prevTo: from };
    const [cur, prev] = await Promise.all([fetchSeries(state.kind, state.start, state.end),
      needs.has("previous") ? fetchSeries(state.kind, prevStart, state.start) : null]);
    if (mine !== asked) return;  // the visitor moved on (year, then the year before) meanwhile
    ctx.range = range;
    // the site's local period (a site without channels yet has no series: the page's own range)
    if (cur && cur.from != null) { ctx.range.from = cur.from; ctx.range.to = cur.to; }
    if (prev && prev.from != null) { ctx.range.prevFrom = prev.from; ctx.range.prevTo = prev.to; }
    ctx.series = cur;
    ctx.previous = prev;
    holder.dataset.loaded = String(Date.now());
    renderAll(["series", "previous", "tariff"]);
  };

  document.querySelectorAll("[data-range]").forEach((b) => b.addEventListener("click", () => {
    state.kind = b.dataset.range;
    if (state.kind === "custom") { label(); return; }
    toCurrent();
    load();
  }));
  const step = (n) => {  // the period before or after: no longer the current one
    state.start = shift(state.kind, state.start, n); state.end = shift(state.kind, state.end, n);
    state.current = false; load();
  };
  document.getElementById("prev").addEventListener("click", () => step(-1));
  document.getElementById("next").addEventListener("click", () => step(1));
  document.getElementById("custom").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const f = new FormData(ev.target);
    const a = new Date(f.get("from") + "T00:00"), b = new Date(f.get("to") + "T00:00");
    if (!(a < b) && !(a.getTime() === b.getTime())) return;
    state.start = a;
    state.end = shift("day", b, 1);
    state.current = false;
    load();
  });
  ctx.reload = load;

  const poll = async () => {
    const r = await WWP.api("GET", base + "/live");
    if (r.ok) { ctx.live = r.data; renderAll(["live"]); }
    if (names.length) return;  // a site before its first upload: then its channels, roles and figures
    const c = await WWP.api("GET", base + "/channels");
    if (!c.ok || !c.data.length) return;
    const again = await WWP.api("GET", base);
    if (again.ok) {
      WWP.setRoles(again.data);
      ctx.info = again.data;  // the first upload may bring the edge's zone
      if (state.current && state.kind !== "custom") toCurrent();
    }
    channels = c.data;
    names = channels.map((x) => x.name);
    WWP.seen = [...new Set(names.map((x) => x.split(".")[0]))];
    Object.assign(ctx, { channels, names });
    load();
  };
  // the system switched between light and dark: the charts and swatches in the new theme's colours
  window.matchMedia("(prefers-color-scheme: dark)").addEventListener("change", () => {
    WWP.colors = themeColors();
    renderAll(["live", "series"]);
  });
  // with --live-nats the portal pushes each batch's values (server-sent events, portal/live.py);
  // else, or when the stream fails before its first event, the page polls every 3 s
  let timer = null;
  const stream = () => {
    const es = new EventSource(base + "/live/stream");
    let opened = false;
    es.onmessage = (ev) => {
      const msg = JSON.parse(ev.data);
      const byName = new Map(((opened && ctx.live && ctx.live.values) || []).map((v) => [v.channel, v]));
      for (const v of msg.values) byName.set(v.channel, { ...byName.get(v.channel), ...v });
      opened = true;
      ctx.live = { ...(ctx.live || {}), site: msg.site, now_ms: Date.now(), values: [...byName.values()] };
      renderAll(["live"]);
    };
    es.onerror = () => {
      if (opened && es.readyState !== EventSource.CLOSED) return; // it reconnects by itself
      es.close();
      if (!timer) timer = setInterval(poll, 3000);
    };
  };
  await poll();
  await load();
  if (ctx.live && ctx.live.stream && window.EventSource) stream();
  else timer = setInterval(poll, 3000);
}

// ------------------------------------------------------------------ the owner's access page
async function accessPage() {
  const site = BOOT.site;
  const base = `/api/v1/sites/${encodeURIComponent(site)}`;
  main.innerHTML = `
  <p class="backlink"><a href="/sites/${encodeURIComponent(site)}">← ${esc(t("dash.title"))} · <span id="site-name">${esc(site)}</span></a></p>
  <section class="card"><h2>${esc(t("access.grants"))}</h2>
    <table class="devices"><thead><tr><th>${esc(t("access.alias"))}</th><th>${esc(t("access.role"))}</th><th></th></tr></thead>
    <tbody id="grants"></tbody></table>
    <form id="give" class="inline"><label>${esc(t("access.alias"))}<input name="alias" required maxlength="64"></label>
      <label>${esc(t("access.role"))}<select name="role"><option value="viewer">${esc(t("access.viewer"))}</option>
      <option value="installer">${esc(t("access.installer"))}</option></select></label>
      <button class="primary">${esc(t("access.give"))}</button><p class="err" id="give-err"></p></form></section>
  <section class="card"><h2>${esc(t("maint.title"))}</h2>
    <p id="maint-off" class="muted">${esc(t("maint.off"))}</p><ul class="plain" id="maint-live"></ul>
    <p id="maint-edge" hidden><a id="edge-page" href="/sites/${encodeURIComponent(site)}/edge/">${esc(t("maint.edge_page"))}</a></p>
    <form id="maint" class="inline"><label>${esc(t("maint.installer"))}<input name="installer" required maxlength="64"></label>
      <label>${esc(t("maint.hours"))}<input name="hours" type="number" min="0.1" max="336" step="0.1" value="1" required></label>
      <button class="primary">${esc(t("maint.grant"))}</button><p class="err" id="maint-err"></p></form></section>
  <section class="card"><h2>${esc(t("cost.tariff"))}</h2>
    <form id="tariff" class="inline" novalidate><label>${esc(t("cost.import_price"))}<input name="import_per_kwh" inputmode="decimal" autocomplete="off" required></label>
      <label>${esc(t("cost.export_price"))}<input name="export_per_kwh" inputmode="decimal" autocomplete="off" required></label>
      <label>${esc(t("cost.currency"))}<input name="currency" maxlength="8" required></label>
      <button class="primary">${esc(t("cost.save"))}</button><p class="small" id="tariff-msg"></p></form></section>
  <section class="card wide"><h2>${esc(t("audit.title"))}</h2><div class="scroll">
    <table class="devices audit"><thead><tr><th>${esc(t("audit.when"))}</th><th>${esc(t("audit.who"))}</th><th>${esc(t("audit.what"))}</th><th>${esc(t("audit.detail"))}</th></tr></thead>
    <tbody id="audit"></tbody></table></div></section>`;

  const grants = async () => {
    const r = await WWP.api("GET", base + "/grants");
    const tb = document.getElementById("grants");
    if (!r.ok) { tb.innerHTML = `<tr><td colspan="3" class="err">${esc(problems(r))}</td></tr>`; return; }
    tb.innerHTML = r.data.map((g) => `<tr data-alias="${esc(g.alias)}"><td>${esc(g.alias)}</td><td>${esc(t("access." + g.role) !== "access." + g.role ? t("access." + g.role) : g.role)}</td>
      <td>${g.role === "owner" ? "" : `<button type="button" class="revoke" data-alias="${esc(g.alias)}">${esc(t("access.revoke"))}</button>`}</td></tr>`).join("");
    tb.querySelectorAll("button.revoke").forEach((b) => b.addEventListener("click", async () => {
      await WWP.api("DELETE", `${base}/grants/${encodeURIComponent(b.dataset.alias)}`);
      refresh();
    }));
  };
  const maint = async () => {
    const r = await WWP.api("GET", base + "/maintenance");
    const ul = document.getElementById("maint-live");
    const live = r.ok ? r.data : [];
    document.getElementById("maint-off").hidden = live.length > 0;
    ul.innerHTML = live.map((g) => `<li data-grant="${g.id}"><b>${esc(g.installer)}</b> <span class="muted">${esc(t("maint.until"))}
      ${esc(WWP.fmtTime(Date.parse(g.expires_at), true))}</span> <button type="button" class="end" data-id="${g.id}">${esc(t("maint.end"))}</button></li>`).join("");
    document.getElementById("maint-edge").hidden = live.length === 0;
    ul.querySelectorAll("button.end").forEach((b) => b.addEventListener("click", async () => {
      await WWP.api("DELETE", `${base}/maintenance/${b.dataset.id}`);
      refresh();
    }));
  };
  const describe = (e) => {
    const d = e.detail || {};
    if (e.action === "maintenance.command" && d.kind === "set_config") return "set_config " + JSON.stringify(d.payload || {});
    if (e.action === "maintenance.proxy") return `${d.method} ${d.path} → ${d.status}`;  // the tunnel
    const parts = Object.entries(d).map(([k, v]) => `${k}=${typeof v === "object" ? JSON.stringify(v) : v}`);
    return parts.join(", ");
  };
  const audit = async () => {
    const r = await WWP.api("GET", base + "/audit?limit=200");
    const tb = document.getElementById("audit");
    if (!r.ok) { tb.innerHTML = `<tr><td colspan="4" class="err">${esc(problems(r))}</td></tr>`; return; }
    tb.innerHTML = r.data.map((e) => `<tr data-action="${esc(e.action)}"><td class="nowrap">${esc(WWP.fmtTime(Date.parse(e.at), true))}</td>
      <td>${esc(e.actor)}</td><td><code>${esc(e.action)}</code></td><td class="detail">${esc(describe(e))}</td></tr>`).join("");
  };
  const tariff = async () => {
    const r = await WWP.api("GET", base + "/tariff");
    if (!r.ok) return;
    const f = document.getElementById("tariff");
    for (const k of ["import_per_kwh", "export_per_kwh"]) f.elements[k].value = WWP.plain(r.data[k]);
    f.elements.currency.value = r.data.currency;
  };
  const refresh = () => Promise.all([grants(), maint(), audit()]);
  WWP.api("GET", base).then((r) => {  // the owner's label for the site rather than its id
    if (r.ok && r.data.label) document.getElementById("site-name").textContent = r.data.label;
  });
  document.getElementById("give").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const f = new FormData(ev.target);
    const r = await WWP.api("PUT", `${base}/grants/${encodeURIComponent(f.get("alias"))}`, { role: f.get("role") });
    document.getElementById("give-err").textContent = r.ok ? "" : problems(r);
    if (r.ok) ev.target.reset();
    refresh();
  });
  document.getElementById("maint").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const f = new FormData(ev.target);
    const r = await WWP.api("POST", base + "/maintenance", { installer: f.get("installer"), hours: Number(f.get("hours")) });
    document.getElementById("maint-err").textContent = r.ok ? "" : problems(r);
    refresh();
  });
  document.getElementById("tariff").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const f = new FormData(ev.target);
    const msg = document.getElementById("tariff-msg");
    const prices = {};
    for (const k of ["import_per_kwh", "export_per_kwh"]) {  // "0,32" as well as "0.32"
      prices[k] = WWP.number(f.get(k));
      if (!isFinite(prices[k])) {
        msg.textContent = `${t("field." + k)}: ${t("err.number", { value: f.get(k) })}`;
        msg.className = "small err";
        return;
      }
    }
    const r = await WWP.api("PUT", base + "/tariff", { ...prices, currency: f.get("currency") });
    msg.textContent = r.ok ? t("cost.saved") : problems(r);
    msg.className = "small " + (r.ok ? "okmsg" : "err");
    audit();
  });
  await Promise.all([refresh(), tariff()]);
  setInterval(() => Promise.all([maint(), audit()]), 5000);
}

// ------------------------------------------------------------------ the installer's maintenance page
async function maintainPage() {
  const site = BOOT.site;
  const base = `/api/v1/sites/${encodeURIComponent(site)}`;
  main.innerHTML = `
  <section class="card" id="grant"><h2>${esc(t("maint.title"))} · ${esc(site)}</h2><p id="grant-state"></p></section>
  <section class="card" id="console"><h2>${esc(t("maint.command"))}</h2>
    <form id="cmd"><label>${esc(t("maint.command"))}<select name="kind">
      <option value="status">status</option><option value="logs">logs</option>
      <option value="get_config">get_config</option><option value="set_config">set_config</option>
      <option value="test_device">test_device</option><option value="restart">restart</option></select></label>
      <div class="row2"><label>${esc(t("maint.key"))}<input name="key" maxlength="100"></label>
      <label>${esc(t("maint.value"))}<input name="value" maxlength="500"></label></div>
      <div class="buttons"><button class="primary">${esc(t("maint.send"))}</button></div>
      <p class="err" id="cmd-err"></p></form></section>
  <section class="card wide"><h2>${esc(t("maint.result"))}</h2><ul class="plain" id="results"></ul></section>`;
  WWP.api("GET", base).then((r) => {  // the site's name where the installer may read it, else its id
    if (r.ok && r.data && r.data.label) document.querySelector("#grant h2").textContent = `${t("maint.title")} · ${r.data.label}`;
  });
  const ended = () => {
    document.getElementById("grant-state").innerHTML = `<span class="err ended">${esc(t("maint.ended"))}</span>`;
    document.getElementById("console").hidden = true;
  };
  const grant = async () => {
    const r = await WWP.api("GET", base + "/maintenance");
    if (!r.ok || !r.data.length) { ended(); return false; }
    document.getElementById("grant-state").innerHTML = `<span class="badge ok">${esc(t("access.installer"))}</span>
      ${esc(t("maint.until"))} <b>${esc(WWP.fmtTime(Date.parse(r.data[0].expires_at), true))}</b>
      · <a id="edge-page" href="/sites/${encodeURIComponent(site)}/edge/">${esc(t("maint.edge_page"))}</a>`;
    return true;
  };
  const show = (cmd) => {
    let li = document.querySelector(`#results li[data-id="${cmd.id}"]`);
    if (!li) {
      li = document.createElement("li");
      li.dataset.id = cmd.id;
      document.getElementById("results").prepend(li);
    }
    li.dataset.state = cmd.state;
    li.innerHTML = `<code>${esc(cmd.kind)}</code> ${esc(JSON.stringify(cmd.payload || {}))}
      <span class="badge ${cmd.state === "done" ? "ok" : cmd.state === "failed" || cmd.state === "expired" ? "failing" : "waiting"}">${esc(cmd.state)}</span>
      ${cmd.result !== null && cmd.result !== undefined ? `<pre class="cmds">${esc(JSON.stringify(cmd.result, null, 1))}</pre>` : ""}`;
  };
  const follow = async (id) => {
    for (let i = 0; i < 120; i++) {
      const r = await WWP.api("GET", `${base}/maintenance/commands/${id}`);
      if (!r.ok) { ended(); return; }
      show(r.data);
      if (r.data.state !== "pending" && r.data.state !== "sent") return;
      await new Promise((res) => setTimeout(res, 1000));
    }
  };
  document.getElementById("cmd").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const f = new FormData(ev.target);
    const kind = f.get("kind");
    const payload = {};
    if (kind === "test_device") payload.device = f.get("key");  // the device's id in the Setting field
    if (kind === "set_config" && f.get("key")) {
      const raw = f.get("value");
      const num = Number(raw);
      payload[f.get("key")] = raw !== "" && isFinite(num) ? num : raw;
    }
    const r = await WWP.api("POST", base + "/maintenance/commands", { kind, payload });
    if (!r.ok) {
      if (r.status === 404 || r.status === 403) { ended(); return; }
      document.getElementById("cmd-err").textContent = problems(r);
      return;
    }
    show({ id: r.data.id, kind, payload, state: r.data.state, result: null });
    follow(r.data.id);
  });
  if (await grant()) {
    const timer = setInterval(async () => { if (!(await grant())) clearInterval(timer); }, 3000);
  }
}

const PAGES = { login: loginPage, sites: sitesPage, dashboard: dashboardPage, access: accessPage, maintain: maintainPage };
window.addEventListener("DOMContentLoaded", () => {
  const run = PAGES[BOOT.page];
  if (run) Promise.resolve().then(run).catch((e) => {
    console.error(e);
    main.insertAdjacentHTML("afterbegin", `<p class="card err">${esc(t("error.generic"))}: ${esc(e.message)}</p>`);
  });
});
