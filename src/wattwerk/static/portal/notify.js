// The owner's access page, one more card: notifications by e-mail (PV under-performance, edge
// offline for N minutes, a device stale, a maintenance window opened/ended) and where they go.
// Data from GET/PUT /api/v1/sites/{site}/notifications (portal/notify_api.py); the address comes
// back masked, never in full.
"use strict";

function notifyCard() {
  const t = WWP.t, esc = WW.esc;
  const base = `/api/v1/sites/${encodeURIComponent(WWP.boot.site)}/notifications`;
  const card = document.createElement("section");
  card.className = "card";
  card.id = "notify";
  const main = document.getElementById("main");
  const before = document.getElementById("tariff");
  main.insertBefore(card, before ? before.closest("section") : null);

  const box = (name, on) => `<label class="notify-kind"><input type="checkbox" name="${name}"${on ? " checked" : ""}>
    ${esc(t("notify." + name))}</label>`;
  const to = (n) => n.email
    ? `${esc(t("notify.to"))} <b data-testid="notify-to">${esc(n.email)}</b>${n.email_from === "account" ? " " + esc(t("notify.from_account")) : ""}`
    : esc(t("notify.none"));
  const draw = (n) => {
    card.innerHTML = `<h2>${esc(t("notify.title"))}</h2>
      ${n.mail ? "" : `<p class="muted small" id="notify-nomail">${esc(t("notify.no_mail"))}</p>`}
      <form id="notify-form" novalidate>
        ${box("pv", n.pv)}
        <label class="notify-kind"><input type="checkbox" name="offline"${n.offline ? " checked" : ""}>
          ${esc(t("notify.offline"))} <input name="offline_min" type="number" inputmode="numeric" min="5" max="10080"
          step="1" value="${Number(n.offline_min)}" class="notify-min" aria-label="${esc(t("notify.minutes"))}"> ${esc(t("notify.minutes"))}</label>
        ${box("device", n.device)}
        ${box("maintenance", n.maintenance)}
        <p class="small" id="notify-to">${to(n)}</p>
        <label>${esc(t("notify.email"))}<input name="email" type="email" maxlength="254" autocomplete="email"></label>
        ${n.email_from === "site" ? box("use_account", false) : ""}
        <div class="buttons"><button class="primary">${esc(t("notify.save"))}</button></div>
        <p class="small" id="notify-msg"></p></form>`;
    card.querySelector("form").addEventListener("submit", save);
  };
  const save = async (ev) => {
    ev.preventDefault();
    const f = ev.target.elements;
    const body = { offline_min: Math.round(Number(f.offline_min.value)) };
    for (const k of ["pv", "offline", "device", "maintenance"]) body[k] = f[k].checked;
    if (f.use_account && f.use_account.checked) body.email = null;
    else if (f.email.value.trim()) body.email = f.email.value.trim();
    const r = await WWP.api("PUT", base, body);
    if (r.ok) draw(r.data);
    const msg = document.getElementById("notify-msg");
    msg.textContent = r.ok ? t("notify.saved") : WWP.problems(r);
    msg.className = "small " + (r.ok ? "okmsg" : "err");
  };
  WWP.api("GET", base).then((r) => {
    if (r.ok) draw(r.data);
    else card.remove();  // only the owner chooses
  });
}

{
  const accessBefore = PAGES.access;  // the access page as drawn so far, then this card
  PAGES.access = async () => {
    const drawn = accessBefore();  // it fills #main before its first await
    notifyCard();
    await drawn;
  };
}
