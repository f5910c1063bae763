// Sign in with the admin password; the server answers where to go next (same-origin paths only).
"use strict";

document.getElementById("login").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const next = new URLSearchParams(location.search).get("next") || "/";
  const res = await WW.json("api/auth/login", { password: ev.target.password.value, next });
  if (res.ok) { location.href = res.data.next; return; }
  WW.list(document.getElementById("login-problems"), WW.errors(res), "problems");
});
