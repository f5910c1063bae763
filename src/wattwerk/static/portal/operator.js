// The operator's page (/operator, portal administrators): every site's status, last upload and
// what its edge reports (version, backlog, read errors), with search and keyset paging; per-site
// caps; registration open / invite / closed and invitation codes. Data from /api/v1/operator.
"use strict";

async function operatorPage() {
  const t = WWP.t, esc = WW.esc;
  const main = document.getElementById("main");
  const problems = (res) => WWP.problems(res);  // the server's messages in the page's language
  const num = (x) => (x === null || x === undefined ? "–" : new Intl.NumberFormat(WWP.boot.lang).format(x));
  main.innerHTML = `
  <section class="card"><h2>${esc(t("op.registration"))}</h2>
    <form id="reg" class="inline"><label>${esc(t("op.registration"))}<select name="registration">
      ${["open", "invite", "closed"].map((m) => `<option value="${m}">${esc(t("op.reg." + m))}</option>`).join("")}
      </select></label><button class="primary">${esc(t("op.save"))}</button>
      <span class="small" id="reg-msg" role="status"></span></form>
    <div class="buttons"><button type="button" id="invite">${esc(t("op.invite"))}</button></div>
    <p class="small" id="invite-out"></p></section>
  <section class="card wide"><h2>${esc(t("op.sites"))}</h2>
    <form id="find" class="inline" role="search"><label>${esc(t("op.search"))}<input name="q" type="search" maxlength="64"></label>
      <label>${esc(t("op.online"))}?<select name="status"><option value="">${esc(t("op.all"))}</option>
      <option value="online">${esc(t("op.online"))}</option><option value="offline">${esc(t("op.offline"))}</option></select></label>
      <button class="primary">${esc(t("op.search").split(" (")[0])}</button></form>
    <div class="scroll"><table class="devices operator"><thead><tr><th>${esc(t("op.site"))}</th><th>${esc(t("op.owner"))}</th>
      <th>${esc(t("op.last_upload"))}</th><th>${esc(t("op.version"))}</th><th>${esc(t("op.backlog"))}</th>
      <th>${esc(t("op.read_errors"))}</th><th>${esc(t("op.channels"))}</th><th>${esc(t("op.max_channels"))}</th>
      <th>${esc(t("op.rate"))}</th><th></th></tr></thead><tbody id="op-sites"></tbody></table></div>
    <p class="err" id="op-err"></p>
    <div class="buttons"><button type="button" id="more" hidden>${esc(t("op.more"))}</button></div></section>`;

  let next = null, query = {};
  const body = document.getElementById("op-sites");
  const row = (s, defaults) => `<tr data-site="${esc(s.site)}">
    <td><b>${esc(s.label || s.site)}</b><br><span class="muted small">${esc(s.site)}</span></td>
    <td>${esc(s.owner || "–")}</td>
    <td><span class="badge ${s.online ? "ok" : "failing"}">${esc(t(s.online ? "op.online" : "op.offline"))}</span>
      <span class="small">${esc(s.last_upload ? WWP.fmtTime(Date.parse(s.last_upload), true) : t("op.never"))}</span></td>
    <td>${esc(s.edge && s.edge.version ? s.edge.version : "–")}</td>
    <td class="num">${esc(num(s.edge ? s.edge.backlog : null))}</td>
    <td class="num">${esc(num(s.edge ? s.edge.read_errors : null))}</td>
    <td class="num">${esc(num(s.channels))}</td>
    <td><input name="max_channels" type="number" min="1" max="100000" step="1" value="${s.caps.max_channels ?? ""}"
      placeholder="${esc(t("op.default"))} ${esc(num(defaults.max_channels))}"></td>
    <td><input name="rate_per_s" type="number" min="0.1" step="any" value="${s.caps.rate_per_s ?? ""}"
      placeholder="${esc(t("op.default"))} ${esc(defaults.rate_per_s ? num(defaults.rate_per_s) : "∞")}"></td>
    <td><button type="button" class="caps">${esc(t("op.save"))}</button> <span class="small msg"></span></td></tr>`;
  const load = async (more) => {
    const params = new URLSearchParams({ ...query, limit: "50" });
    if (more && next !== null) params.set("after", String(next));
    const r = await WWP.api("GET", "/api/v1/operator/sites?" + params.toString());
    document.getElementById("op-err").textContent = r.ok ? "" : problems(r);
    if (!r.ok) return;
    if (!more) body.innerHTML = "";
    body.insertAdjacentHTML("beforeend", r.data.sites.map((s) => row(s, r.data.defaults)).join(""));
    if (!body.children.length) body.innerHTML = `<tr><td colspan="10" class="muted">${esc(t("op.none"))}</td></tr>`;
    next = r.data.next;
    document.getElementById("more").hidden = next === null;
  };
  body.addEventListener("click", async (ev) => {
    const b = ev.target.closest("button.caps");
    if (!b) return;
    const tr = b.closest("tr");
    const val = (name) => {
      const raw = tr.querySelector(`input[name="${name}"]`).value.trim();
      return raw === "" ? null : Number(raw);
    };
    const r = await WWP.api("PUT", `/api/v1/operator/sites/${encodeURIComponent(tr.dataset.site)}/caps`,
      { max_channels: val("max_channels"), rate_per_s: val("rate_per_s") });
    const msg = tr.querySelector(".msg");
    msg.textContent = r.ok ? t("op.saved") : problems(r);
    msg.className = "small msg " + (r.ok ? "okmsg" : "err");
  });
  document.getElementById("find").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const f = new FormData(ev.target);
    query = {};
    if (f.get("q").trim()) query.q = f.get("q").trim();
    if (f.get("status")) query.status = f.get("status");
    load(false);
  });
  document.getElementById("more").addEventListener("click", () => load(true));

  const reg = document.getElementById("reg");
  const settings = await WWP.api("GET", "/api/v1/operator/settings");
  if (settings.ok) reg.elements.registration.value = settings.data.registration;
  reg.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const r = await WWP.api("PUT", "/api/v1/operator/settings", { registration: reg.elements.registration.value });
    const msg = document.getElementById("reg-msg");
    msg.textContent = r.ok ? t("op.saved") : problems(r);
    msg.className = "small " + (r.ok ? "okmsg" : "err");
  });
  document.getElementById("invite").addEventListener("click", async () => {
    const r = await WWP.api("POST", "/api/v1/admin/invites");
    document.getElementById("invite-out").innerHTML = r.ok
      ? `<code data-testid="invite-code">${esc(r.data.invite)}</code> <span class="muted">${esc(t("op.invite_hint").replace("{days}", r.data.days))}</span>`
      : `<span class="err">${esc(problems(r))}</span>`;
  });
  await load(false);
}

PAGES.operator = operatorPage;  // portal.js runs the page named in #boot once the DOM is there
