// Add a device: search the catalogue, enter its connection, test it (live values or the precise
// error), save it into the site file (which is validated like `wattwerk check`).
"use strict";

const $ = (id) => document.getElementById(id);
// a text of this page (static/i18n setup.*) in the page's language, HTML-escaped; English until it is there
const tx = (key, en, vars) => WW.esc(WW.tr("setup." + key, en, vars));
let chosen = null, config = null, timer = null;

function suggestId(role) {
  const used = new Set(((config && config.devices) || []).map((d) => d.id));
  const base = (role || "device").replace(/[^a-z0-9_]/g, "_");
  if (!used.has(base)) return base;
  for (let n = 2; ; n++) if (!used.has(base + n)) return base + n;
}

async function search() {
  const res = await WW.json("api/catalog?q=" + encodeURIComponent($("q").value));
  const list = res.data || [];
  $("results").innerHTML = list.length ? list.map((e, i) =>
    `<li role="option" data-i="${i}" data-key="${WW.esc(e.key)}" class="${e.can_add ? "" : "off"}">` +
    `<b>${WW.esc(e.vendor)}</b> · ${WW.esc(e.models.join(", "))}` +
    `<div class="muted small">${tx("category." + e.category, e.category.replace(/_/g, " "))} · ${WW.esc(e.protocols.join(", "))}` +
    `${e.status === "tested" ? " · " + tx("tested", "tested with an emulator") : ""}${e.can_add ? "" : " · " + tx("not_addable", "not addable here yet")}</div></li>`).join("")
    : `<li class="off">${tx("nothing_found", "Nothing found")}</li>`;
  $("results").onclick = (ev) => {
    const li = ev.target.closest("li[data-i]");
    if (li && !li.classList.contains("off")) choose(list[Number(li.dataset.i)], li);
  };
}

function choose(entry, li) {
  chosen = entry;
  for (const el of $("results").children) el.setAttribute("aria-selected", String(el === li));
  $("connect-card").hidden = false;
  $("chosen").textContent = `${entry.vendor} · ${entry.models.join(", ")}`;
  $("chosen-key").textContent = entry.key;
  const f = $("form");
  f.port.value = entry.port;
  f.unit.value = entry.unit;
  f.id.value = suggestId(entry.role);
  $("extra").innerHTML = entry.fields.map((x) =>
    `<label>${WW.esc(x.hint)} <input name="${WW.esc(x.name)}" type="number" step="any" required data-testid="field-${WW.esc(x.name)}"></label>`).join("");
  for (const id of ["test-result", "problems", "saved"]) $(id).hidden = true;
  f.host.focus();
}

function body() {
  const f = $("form"), out = { catalog: chosen.key, role: chosen.role };
  out.host = f.host.value.trim();
  out.port = Number(f.port.value);
  out.unit = Number(f.unit.value);
  out.id = f.id.value.trim();
  if (f.name.value.trim()) out.name = f.name.value.trim();
  if (f.interval_s.value) out.interval_s = Number(f.interval_s.value);
  for (const x of chosen.fields) if (f[x.name].value !== "") out[x.name] = Number(f[x.name].value);
  return out;
}

async function test() {
  const box = $("test-result");
  $("test").disabled = true;
  box.hidden = false;
  box.innerHTML = `<p class="muted">${tx("connecting", "Connecting to {host} …", { host: $("form").host.value })}</p>`;
  try {
    const res = await WW.json("api/setup/test", body());
    if (!res.ok) { box.innerHTML = `<ul class="problems">${WW.errors(res).map((l) => `<li>${WW.esc(l)}</li>`).join("")}</ul>`; return; }
    const r = res.data;
    if (!r.ok) { box.innerHTML = `<ul class="problems" data-testid="test-error"><li>${WW.esc(r.error)}</li></ul>`; return; }
    const info = Object.entries(r.info || {}).map(([k, v]) => `${WW.esc(k)}: ${WW.esc(v)}`).join(" · ");
    box.innerHTML = `<p class="okmsg">${tx("answers", "It answers.")}${info ? " <span class=\"muted small\">" + info + "</span>" : ""}</p><div class="values">` +
      Object.entries(r.values).map(([k, v]) =>
        `<div data-quantity="${WW.esc(k)}">${WW.esc(k.replace(/_/g, " "))}<b>${WW.quantity(k, v)}</b></div>`).join("") + "</div>";
  } finally { $("test").disabled = false; }
}

async function save(ev) {
  ev.preventDefault();
  $("save").disabled = true;
  $("saved").hidden = true;
  try {
    const res = await WW.json("api/setup/devices", body());
    if (!res.ok) { WW.list($("problems"), WW.errors(res), "problems"); return; }
    $("problems").hidden = true;
    $("saved").hidden = false;
    $("saved").innerHTML = `${tx("saved", "Saved “{device}” to the site file; the edge reads it now.", { device: res.data.device })} ` +
      `<a href="./">${tx("see_live", "See it live")}</a>`;
    config = (await WW.json("api/setup/config")).data;
  } finally { $("save").disabled = false; }
}

async function init() {
  const [res] = await Promise.all([WW.json("api/setup/config"), WW.ready]);  // the texts from the first render on
  if (res.ok) { config = res.data; $("site").textContent = config.site; } else {
    $("off").hidden = false;
    $("off").textContent = WW.errors(res).join(" ");
  }
  $("q").addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(search, 150); });
  $("test").addEventListener("click", test);
  $("form").addEventListener("submit", save);
  search();
}
init();
