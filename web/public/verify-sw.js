/*
 * The verifier's service worker: once /app/verify has been opened with a network, it opens again
 * without one (an inspector in a basement car park or on a rural road). The page itself keeps the
 * issuer's keys and the status lists it fetched (trust.ts); this keeps the page: its HTML and the
 * content-named assets it loads. Pages come from the network when there is one (a release reaches
 * the phone at once) and from the cache when there is not; assets never change under their name.
 * Plain JavaScript served as is (web/public): a service worker is not a module of the bundle.
 */
const CACHE = "lvrong-verify";
const PAGE = "/app/verify/";

async function precache() {
  const cache = await caches.open(CACHE);
  const response = await fetch(PAGE, { cache: "no-cache" });
  if (!response.ok) return;
  const html = await response.clone().text();
  // The page's scripts and styles: every file of /app/assets/ it names.
  const assets = [...html.matchAll(/(?:src|href)="(\/app\/assets\/[^"]+)"/g)].map((m) => m[1]);
  await cache.put(PAGE, response);
  await cache.addAll(assets);
  // What an earlier release cached and this one no longer loads goes.
  const keep = new Set([PAGE, ...assets].map((path) => new URL(path, self.location.origin).href));
  for (const request of await cache.keys()) if (!keep.has(request.url)) await cache.delete(request);
}

self.addEventListener("install", (event) => {
  event.waitUntil(precache().then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  event.waitUntil(self.clients.claim());
});

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET") return;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  if (request.mode === "navigate" && url.pathname.startsWith("/app/verify")) {
    event.respondWith(fetch(request).then((response) => {
      if (response.ok) {
        const copy = response.clone();
        caches.open(CACHE).then((cache) => cache.put(PAGE, copy));
      }
      return response;
    }).catch(async () => (await caches.match(PAGE)) || Response.error()));
    return;
  }
  if (url.pathname.startsWith("/app/assets/")) {
    event.respondWith(caches.match(request).then((hit) => hit || fetch(request).then((response) => {
      if (response.ok) {
        const copy = response.clone();
        caches.open(CACHE).then((cache) => cache.put(request, copy));
      }
      return response;
    })));
  }
});
