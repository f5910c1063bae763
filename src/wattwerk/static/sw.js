// wattwerk's service worker: keeps the pages' shell (HTML, CSS, JS, icons) so the installed app opens
// at once and says "offline" when the edge cannot be reached. Data (api/) is never cached: a value
// shown is always the edge's own, or none.
"use strict";
const SHELL = "wattwerk-shell-1";
const FILES = ["./", "history", "sessions", "static/style.css", "static/common.js", "static/app.js",
  "static/history.js", "static/sessions.js", "static/icon.svg", "manifest.webmanifest"];

self.addEventListener("install", (ev) => {
  ev.waitUntil(caches.open(SHELL).then((c) => c.addAll(FILES)).catch(() => null).then(() => self.skipWaiting()));
});
self.addEventListener("activate", (ev) => {
  ev.waitUntil(caches.keys().then((keys) => Promise.all(keys.filter((k) => k !== SHELL).map((k) => caches.delete(k))))
    .then(() => self.clients.claim()));
});
self.addEventListener("fetch", (ev) => {
  const url = new URL(ev.request.url);
  if (ev.request.method !== "GET" || url.origin !== location.origin || url.pathname.includes("/api/")) return;
  // network first (a new version shows at once), the kept shell when the edge is not reachable
  ev.respondWith(fetch(ev.request).then((r) => {
    if (r.ok && r.type === "basic" && !r.redirected) {
      const copy = r.clone();
      caches.open(SHELL).then((c) => c.put(ev.request, copy));
    }
    return r;
  }).catch(() => caches.match(ev.request)));
});
