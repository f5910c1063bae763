// The owner's access page, one more card: old mySmartGrid/Flukso loggers. Register a logger's
// sensors (one channel each); the answer's keys are shown once. Data from
// /api/v1/sites/{site}/loggers (portal/loggers.py).
"use strict";

function loggersCard() {
  const t = WWP.t, esc = WW.esc;
  const base = `/api/v1/sites/${encodeURIComponent(WWP.boot.site)}/loggers`;
  const card = document.createElement("section");
  card.className = "card";
  card.id = "loggers";
  const sensorRow = () => `<div class="row2 sensor"><label>${esc(t("log.channel"))}<input name="channel" required maxlength="100" placeholder="grid.energy_import"></label>
    <label>${esc(t("log.sensor"))}<input name="sensor" maxlength="40"></label></div>`;
  card.innerHTML = `<h2>${esc(t("log.title"))}</h2><p class="muted small">${esc(t("log.hint"))}</p>
    <ul class="plain" id="logger-list"></ul>
    <form id="logger"><label>${esc(t("log.device"))}<input name="device" maxlength="40"></label>
      <div id="logger-sensors">${sensorRow()}</div>
      <div class="buttons"><button type="button" id="logger-more">${esc(t("log.add_sensor"))}</button>
      <button class="primary">${esc(t("log.register"))}</button></div>
      <p class="err" id="logger-err"></p></form>
    <div id="logger-keys" hidden></div>`;
  document.getElementById("main").appendChild(card);

  const list = async () => {
    const r = await WWP.api("GET", base);
    const ul = document.getElementById("logger-list");
    if (!r.ok) { ul.innerHTML = `<li class="err">${esc(WWP.problems(r))}</li>`; return; }
    ul.innerHTML = r.data.length ? r.data.map((d) => `<li data-device="${esc(d.device)}"><code>${esc(d.device)}</code>
      <button type="button" class="remove" data-device="${esc(d.device)}">${esc(t("log.remove"))}</button>
      <ul class="plain small">${d.sensors.map((s) => `<li><code>${esc(s.sensor)}</code> → ${esc(s.channel)}
        <span class="muted">${esc(t("log.last"))}: ${esc(s.last_upload ? WWP.fmtTime(Date.parse(s.last_upload), true) : "–")}</span></li>`).join("")}</ul></li>`).join("")
      : `<li class="muted">${esc(t("log.none"))}</li>`;
    ul.querySelectorAll("button.remove").forEach((b) => b.addEventListener("click", async () => {
      await WWP.api("DELETE", `${base}/${encodeURIComponent(b.dataset.device)}`);
      list();
    }));
  };
  document.getElementById("logger-more").addEventListener("click", () => {
    document.getElementById("logger-sensors").insertAdjacentHTML("beforeend", sensorRow());
  });
  document.getElementById("logger").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const form = ev.target;
    const sensors = [...form.querySelectorAll(".sensor")].map((row) => ({
      channel: row.querySelector('[name="channel"]').value.trim(),
      sensor: row.querySelector('[name="sensor"]').value.trim() || null,
    }));
    const r = await WWP.api("POST", base, { device: form.elements.device.value.trim() || null, sensors });
    document.getElementById("logger-err").textContent = r.ok ? "" : WWP.problems(r);  // in the page's language
    if (!r.ok) return;
    const keys = document.getElementById("logger-keys");
    keys.hidden = false;
    keys.innerHTML = `<p class="okmsg small">${esc(t("log.once"))}</p>
      <p>${esc(t("log.key"))} <code data-testid="logger-device">${esc(r.data.device)}</code>: <code>${esc(r.data.key)}</code></p>
      <ul class="plain small">${r.data.sensors.map((s) => `<li>${esc(s.channel)}: uuid <code>${esc(s.sensor)}</code>,
        secretKey <code data-testid="logger-secret">${esc(s.secret)}</code></li>`).join("")}</ul>`;
    form.reset();
    list();
  });
  list();
}

{
  const accessBase = PAGES.access;  // the access page as portal.js draws it, then this card
  PAGES.access = async () => {
    const drawn = accessBase();  // it fills #main before its first await
    loggersCard();
    await drawn;
  };
}
