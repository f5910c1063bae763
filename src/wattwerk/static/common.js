// Helpers shared by the edge's pages (and the portal's): formatting, escaping, JSON requests.
"use strict";

const WW = {
  esc(s) {
    return String(s ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
  },
  // numbers in the browser's locale (1.234,5 in German, 1 234,5 in French); the portal sets
  // WW.locale to its page language with the browser's region (en-GB, de-AT). A value that rounds
  // to zero is written without a sign: "0 W", never "-0 W".
  locale: undefined,
  fmt(v, digits) {
    return WW.unsigned0(new Intl.NumberFormat(WW.locale, { minimumFractionDigits: digits, maximumFractionDigits: digits }), v);
  },
  unsigned0(format, v) {
    const s = format.format(v);
    return (v < 0 || Object.is(v, -0)) && s === format.format(-0) ? format.format(0) : s;
  },
  power(w) {
    if (w === null || w === undefined) return "–";
    const a = Math.abs(w);
    return a >= 1000 ? WW.fmt(w / 1000, 2) + " kW" : WW.fmt(Math.round(w), 0) + " W";
  },
  num(v, digits = 1, unit = "") {
    return v === null || v === undefined ? "–" : WW.fmt(v, digits) + (unit ? " " + unit : "");
  },
  kwh(v) { return v === null || v === undefined ? "–" : WW.fmt(v, Math.abs(v) >= 100 ? 0 : 2) + " kWh"; },
  pct(v) { return v === null || v === undefined ? "–" : WW.fmt(v, 0) + " %"; },
  money(v, currency, digits = 2) {
    if (v === null || v === undefined) return "–";
    return WW.unsigned0(new Intl.NumberFormat(WW.locale, { style: "currency", currency: currency || "EUR",
      minimumFractionDigits: digits, maximumFractionDigits: digits }), Number(v));
  },
  // a device's value by its quantity name (W, Wh, %, °C as everywhere in wattwerk)
  quantity(name, v) {
    if (typeof v !== "number") return WW.esc(v);
    if (name.startsWith("power")) return WW.power(v);
    if (name.startsWith("energy")) return (v / 1000).toFixed(v >= 1e6 ? 0 : 2) + " kWh";
    if (name.startsWith("temperature")) return v.toFixed(1) + " °C";
    if (name === "soc" || name.endsWith("_pct")) return v.toFixed(0) + " %";
    if (name.startsWith("current")) return v.toFixed(1) + " A";
    if (name.startsWith("voltage")) return v.toFixed(1) + " V";
    if (name.startsWith("frequency")) return v.toFixed(2) + " Hz";
    return String(v);
  },
  // the edge's CSRF token (cookie ww_csrf, set at sign-in); every write echoes it in X-CSRF-Token
  csrf() {
    const m = document.cookie.match(/(?:^|;\s*)ww_csrf=([^;]*)/);
    return m ? decodeURIComponent(m[1]) : "";
  },
  async json(url, body) {
    const opts = body === undefined ? {} : {
      method: "POST", body: JSON.stringify(body),
      headers: { "Content-Type": "application/json", "X-CSRF-Token": WW.csrf() },
    };
    const r = await fetch(url, opts);
    if (r.status === 401 && !url.startsWith("api/auth")) {  // the session ended: sign in again
      location.href = "login?next=" + encodeURIComponent(location.pathname);
    }
    let data = null;
    try { data = await r.json(); } catch (e) { data = null; }
    return { ok: r.ok, status: r.status, data };
  },
  // FastAPI's own 422 (a malformed request) and our refusals ({errors: [...]}) as lines to show
  errors(res) {
    const d = res.data || {};
    if (d.code && Array.isArray(d.errors)) return [WW.tr("err." + d.code, d.errors.join(" "))];  // known: translated
    if (Array.isArray(d.errors)) return d.errors;
    if (Array.isArray(d.detail)) return d.detail.map((e) => (e.loc || []).slice(1).join(".") + ": " + e.msg);
    return [d.detail || d.error || "HTTP " + res.status];
  },
  list(el, lines, cls) {
    el.innerHTML = lines.map((l) => `<li>${WW.esc(l)}</li>`).join("");
    el.className = cls || "";
    el.hidden = !lines.length;
  },
};

// the edge pages' language (de/en/fr), chosen by the portal's rule (portal/i18n.py negotiate): ?lang=,
// then the lang cookie, then the browser's languages, else English. Strings: static/i18n/<lang>.json;
// elements with data-i18n="key" get their text from it, scripts use WW.t(key, {name: value}).
WW.LANGS = ["de", "en", "fr"];
WW.lang = (() => {
  const asked = new URLSearchParams(location.search).get("lang");
  const cookie = (document.cookie.match(/(?:^|;\s*)lang=([^;]*)/) || [])[1];
  for (const c of [asked, cookie]) if (c && WW.LANGS.includes(c.toLowerCase())) return c.toLowerCase();
  for (const tag of navigator.languages || [navigator.language || ""]) {
    const base = tag.toLowerCase().split("-")[0];
    if (WW.LANGS.includes(base)) return base;
  }
  return "en";
})();
WW.strings = {};
WW.t = (key, vars) => String(WW.strings[key] ?? key).replace(/\{(\w+)\}/g, (m, k) => (vars && k in vars ? vars[k] : m));
// a string the server or the script also has in English: that English text until the catalogue is there
WW.tr = (key, en, vars) => WW.t(key in WW.strings ? key : en, vars);
// the control's decision ({key, vars, text} from control/reasons.py) through a catalogue's
// "reason.<key>": each parameter by its name's suffix (_kw, _a, _pct numbers in the locale of
// `fmt`, _at a local HH:MM), nested reasons translated too; the server's English while a key is missing
WW.reason = (r, strings, fmt = WW.fmt, locale = undefined) => {
  if (!r || typeof r !== "object") return r === null || r === undefined ? "" : String(r);
  const show = (name, v) => {
    if (Array.isArray(v)) return v.map((x) => show(name, x)).join(", ");
    if (v && typeof v === "object") return WW.reason(v, strings, fmt, locale);
    if (typeof v === "number") {
      const unit = name.endsWith("_kw") ? [1, " kW"] : name.endsWith("_a") ? [1, " A"] : name.endsWith("_pct") ? [0, " %"] : null;
      return unit ? fmt(v, unit[0]) + unit[1] : String(v);
    }
    if (name.endsWith("_at") && typeof v === "string") return new Date(v).toLocaleTimeString(locale, { hour: "2-digit", minute: "2-digit" });
    return String(v ?? "");
  };
  const template = strings["reason." + r.key];
  if (!template) return r.text || r.key || "";
  return template.replace(/\{(\w+)\}/g, (m, k) => (r.vars && k in r.vars ? show(k, r.vars[k]) : m));
};
WW.ready = (document.querySelector("[data-i18n]") ? fetch(`static/i18n/${WW.lang}.json`).then((r) => r.json()) : Promise.resolve({}))
  .catch(() => ({})).then((strings) => {
    WW.strings = strings;
    document.documentElement.lang = WW.lang;
    document.querySelectorAll("[data-i18n]").forEach((el) => { if (strings[el.dataset.i18n]) el.textContent = strings[el.dataset.i18n]; });
    document.querySelectorAll("[data-i18n-placeholder]").forEach((el) => {
      if (strings[el.dataset.i18nPlaceholder]) el.placeholder = strings[el.dataset.i18nPlaceholder];
    });
  });

// the installable app: the shell's service worker (served from the root, so it covers every page)
if ("serviceWorker" in navigator && document.querySelector('link[rel="manifest"][href="manifest.webmanifest"]')) {
  navigator.serviceWorker.register("sw.js").catch(() => null);  // plain http on a LAN: not offered, fine
}

// the edge's pages: "Sign out" ends the session (a POST with the CSRF token), then the sign-in page
document.addEventListener("click", async (ev) => {
  const link = ev.target.closest && ev.target.closest("#sign-out");
  if (!link) return;
  ev.preventDefault();
  await WW.json("api/auth/logout", {});
  location.href = "login";
});
