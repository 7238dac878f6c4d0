import { resolve } from "node:path";
import { defineConfig } from "vite";

// Four pages, each its own entry so the verifier an inspector opens on a phone loads only what it
// needs. Served by the gateway under /app/ (gateway/src/gateway/web.py).
export default defineConfig({
  base: "/app/",
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
