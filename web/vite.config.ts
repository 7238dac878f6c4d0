import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { type Plugin, defineConfig } from "vite";

// What every page's head holds besides its title, written once: the phone viewport, the theme colour
// and the icon, inline (no request for it, online or off — the verifier opens without a network).
const ICON = readFileSync(resolve(import.meta.dirname, "src/shared/icon.svg"), "utf8").trim();
const sharedHead: Plugin = {
  name: "lvrong-shared-head",
  transformIndexHtml: () => [
    { tag: "meta", attrs: { name: "viewport", content: "width=device-width, initial-scale=1" }, injectTo: "head" },
    { tag: "meta", attrs: { name: "theme-color", content: "#1b6b3a" }, injectTo: "head" },
    { tag: "link", attrs: { rel: "icon", type: "image/svg+xml", href: `data:image/svg+xml,${encodeURIComponent(ICON)}` },
      injectTo: "head" },
  ],
};

// Four pages, each its own entry so the verifier an inspector opens on a phone loads only what it
// needs. Served by the gateway under /app/ (gateway/src/gateway/web.py).
export default defineConfig({
  base: "/app/",
  plugins: [sharedHead],
  oxc: { jsx: { runtime: "automatic", importSource: "preact" } },
  build: {
    outDir: "dist",
    emptyOutDir: true,
    target: "es2022",
    // No inline scripts or data-URI modules: the pages' Content-Security-Policy allows 'self' only.
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
    rollupOptions: {
      input: {
        applicant: resolve(import.meta.dirname, "index.html"),
        verify: resolve(import.meta.dirname, "verify/index.html"),
        staff: resolve(import.meta.dirname, "staff/index.html"),
        cockpit: resolve(import.meta.dirname, "cockpit/index.html"),
      },
    },
  },
  server: { proxy: { "^/(v1|auth|\\.well-known|openapi\\.json|app/config\\.json)": "http://127.0.0.1:8000" } },
});
