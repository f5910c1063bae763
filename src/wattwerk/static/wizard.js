// Installation: network (nmcli commands shown first, applied only when the OS allows and the user
// confirms), pairing with a portal by code, choosing the grid meter.
"use strict";

const $ = (id) => document.getElementById(id);
// a text of this page (static/i18n wizard.*) in the page's language; English until it is there
const tx = (key, en, vars) => WW.tr("wizard." + key, en, vars);
let ifaces = [];

function netBody(confirm) {
  const f = $("net");
  const b = { interface: f.interface.value, mode: f.mode.value, confirm };
  if (b.mode === "static") {
    b.address = f.address.value.trim();
    if (f.gateway.value.trim()) b.gateway = f.gateway.value.trim();
    b.dns = f.dns.value.split(/[\s,]+/).filter(Boolean);
  }
  const w = ifaces.find((i) => i.name === b.interface);
  if (w && w.wireless && f.ssid.value) { b.ssid = f.ssid.value; if (f.psk.value) b.psk = f.psk.value; }
  return b;
}

function toggle() {
  const f = $("net");
  $("static").hidden = f.mode.value !== "static";
  const w = ifaces.find((i) => i.name === f.interface.value);
  $("wlan").hidden = !(w && w.wireless);
}

async function network(confirm) {
  const res = await WW.json("api/wizard/network", netBody(confirm));
  if (!res.ok) { WW.list($("net-problems"), WW.errors(res), "problems"); $("cmds").hidden = true; return; }
  $("net-problems").hidden = true;
  const d = res.data;
  $("cmds").hidden = false;
  $("cmds").textContent = d.commands.join("\n");
  $("net-note").textContent = d.applied ? tx("applied", "Applied.") : netReason(d);
  $("net-apply").hidden = !$("net").dataset.canApply || d.applied;
  if (d.results) $("cmds").textContent += "\n\n" + d.results.map((r) => `$ ${r.command}\n${r.output} (exit ${r.rc})`).join("\n");
}

// why the network is not changed (edge/setup_network.py CANNOT_APPLY), in the page's language
const netReason = (d) => (d.reason_code ? tx("net_" + d.reason_code, d.reason) : d.reason || "");

async function loadNetwork() {
  const res = await WW.json("api/wizard/network");
  if (!res.ok) return;
  ifaces = res.data.interfaces;
  $("ifaces").innerHTML = `<thead><tr><th>${WW.esc(tx("interface", "Interface"))}</th><th>${WW.esc(tx("state", "State"))}</th>` +
    `<th>${WW.esc(tx("addresses", "Addresses"))}</th></tr></thead><tbody>` +
    ifaces.map((i) => `<tr><td>${WW.esc(i.name)}${i.wireless ? " <span class=\"muted small\">WLAN</span>" : ""}</td>` +
      `<td>${WW.esc(i.state || "")}</td><td>${WW.esc(i.addresses.join(", "))}</td></tr>`).join("") + "</tbody>";
  const f = $("net");
  const usable = ifaces.filter((i) => i.name !== "lo");
  const up = usable.find((i) => i.state === "UP" && i.addresses.length);
  f.interface.innerHTML = usable.map((i) => `<option${i === up ? " selected" : ""}>${WW.esc(i.name)}</option>`).join("");
  if (res.data.can_apply) f.dataset.canApply = "1";
  $("net-note").textContent = res.data.can_apply ? "" : netReason(res.data);
  toggle();
}

// the site by the owner's name for it on the portal, never by its id
const paired = (portal, label) => tx("paired", "Uploads to “{label}” on {portal}", { label, portal });

async function loadConfig() {
  const res = await WW.json("api/setup/config");
  if (!res.ok) {
    $("off").hidden = false;
    $("off").textContent = WW.errors(res).join(" ");
    for (const f of [$("pair"), $("meter")]) for (const el of f.elements) el.disabled = true;
    return;
  }
  const c = res.data;
  $("site").textContent = c.site;
  $("meter").device_id.innerHTML = c.devices.map((d) =>
    `<option value="${WW.esc(d.id)}"${d.id === c.grid_meter ? " selected" : ""}>${WW.esc(d.name)} (${WW.esc(d.role)})</option>`).join("");
  if (c.portal) { $("pair-ok").hidden = false; $("pair-ok").textContent = paired(c.portal, c.portal_label); $("pair").portal_url.value = c.portal; }
}

$("net").addEventListener("submit", (ev) => { ev.preventDefault(); network(false); });
$("net").addEventListener("change", toggle);
$("net-apply").addEventListener("click", () => {
  if (confirm(tx("apply_confirm", "Change this box's network now? The page may lose its connection."))) network(true);
});
$("pair").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const f = ev.target;
  const res = await WW.json("api/wizard/pair", { portal_url: f.portal_url.value.trim(), code: f.code.value });
  $("pair-ok").hidden = !res.ok;
  if (!res.ok) { WW.list($("pair-problems"), WW.errors(res), "problems"); return; }
  $("pair-problems").hidden = true;
  f.code.value = "";
  $("pair-ok").textContent = paired(res.data.portal, res.data.label);
});
$("meter").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const res = await WW.json("api/wizard/grid-meter", { device_id: ev.target.device_id.value });
  $("meter-ok").hidden = !res.ok;
  if (!res.ok) {
    $("off").hidden = false;
    $("off").textContent = WW.errors(res).join(" ");
    for (const f of [$("pair"), $("meter")]) for (const el of f.elements) el.disabled = true;
    return;
  }
  $("meter-problems").hidden = true;
  $("meter-ok").textContent = tx("meter_ok", "Grid meter: {id}", { id: res.data.grid_meter });
  loadConfig();
});
$("pw").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const f = ev.target;
  if (f.password.value !== f.again.value) { WW.list($("pw-problems"), [tx("differ", "the two passwords differ")], "problems"); return; }
  const res = await WW.json("api/auth/password", { password: f.password.value });
  if (!res.ok) { WW.list($("pw-problems"), WW.errors(res), "problems"); return; }
  location.reload();
});

$("change").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const f = ev.target;
  $("change-ok").hidden = true;
  if (f.password.value !== f.again.value) { WW.list($("change-problems"), [tx("differ", "the two passwords differ")], "problems"); return; }
  const res = await WW.json("api/account/password", { current: f.current.value, password: f.password.value });
  if (!res.ok) { WW.list($("change-problems"), WW.errors(res), "problems"); return; }
  $("change-problems").hidden = true;
  f.reset();
  $("change-ok").hidden = false;
  $("change-ok").textContent = tx("changed", "Changed. Other browsers are signed out.");
});

// first start: only the password step until the admin password is set
Promise.all([WW.json("api/auth"), WW.ready]).then(([res]) => {  // the texts from the first render on
  const first = res.ok && !res.data.password_set;
  $("pw-card").hidden = !first;
  for (const el of document.querySelectorAll("section.card:not(#pw-card)")) el.hidden = first;
  if (!first) { loadNetwork(); loadConfig(); }
});
